"""In-module tasks and subtasks between former instances (merge.asynctask, issue 11 stage 2).

Hand-built cases in `wast_async_tasks/` through the differential oracle: subtask numbering
beside a waitable set, RETURNED without a handle vs STARTED with one, YIELD loops run while the
caller waits, events through wait and poll, `subtask.drop` before resolution trapping, a sync
lower of an `async func` from a task that may not block trapping, context slots per task, a
stackful callee that never blocks, several subtasks of one set ready at once (wasmtime's
store-wide id order, `merge.asyncids`, also after a cancellation); and the run-time refusal where
those ids are not mirrored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import assert_traps_where_original_returns, run_fuse_oracle

CASES = sorted((Path(__file__).parent / "wast_async_tasks").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_task_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r


REFUSED = sorted((Path(__file__).parent / "wast_async_tasks_refused").glob("*.wast"))


@pytest.mark.parametrize("wast", REFUSED, ids=[p.name for p in REFUSED])
def test_ambiguous_event_order_traps(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    """Several subtasks of one waitable set with events at once where wasmtime's store-wide
    ids are not mirrored (`merge.asyncids`: after a callee exited under a held handle that
    had its RETURNED taken): the fused module traps there
    instead of returning a guess (a refusal at run time)."""
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert_traps_where_original_returns(r)
