"""Synchronously lifted `async func`s run as in-module tasks (merge.asynctask `Edge.sync_task`).

A callee lifted without `async` whose function type is `async` may block (wasmtime's
`may_block`); in an instance with suspend points its adapter calls the core function as a
task entry, so a yield or a wait there unwinds its stack and the async caller gets STARTED.
Its core function's return is the task's return: results lifted for the caller, RETURNED,
then its post-return. Hand-built cases in `wast_async_sync_tasks/` through the differential
oracle; the corpus `component-async-suspended-fiber-roots.wast` is the shape real toolchains
produce (test_fuse_corpus.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import run_fuse_oracle

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_async_sync_tasks").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_sync_task_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
