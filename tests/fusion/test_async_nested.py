"""Nested in-module subtasks and cancellation (merge.asynctask, issue 11 stage 2).

Hand-built cases in `wast_async_nested/` through the differential oracle: a callee making
async calls of its own (its subtask handles in its own table, WAIT on its set woken by the
high-priority queue while the root waits), `subtask.cancel` (sync and `async`: delivered at
once, BLOCKED, RETURNED after `task.return`, traps in a waitable set and after delivery),
`task.cancel` (trap when not cancelled), and wasmtime's cancel-sibling-subtask test without its
futures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import run_fuse_oracle

CASES = sorted((Path(__file__).parent / "wast_async_nested").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_nested_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
