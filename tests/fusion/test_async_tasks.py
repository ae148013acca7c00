"""In-module tasks and subtasks between former instances (merge.asynctask, issue 11 stage 2).

Hand-built cases in `wast_async_tasks/` through the differential oracle: subtask numbering
beside a waitable set, RETURNED without a handle vs STARTED with one, YIELD loops run while the
caller waits, events through wait and poll, `subtask.drop` before resolution trapping, a sync
lower of an `async func` from a task that may not block trapping, context slots per task.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import run_fuse_oracle

CASES = sorted((Path(__file__).parent / "wast_async_tasks").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_task_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
