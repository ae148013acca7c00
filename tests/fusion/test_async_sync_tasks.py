"""Synchronously lifted `async func`s run as in-module tasks (merge.asynctask `Edge.sync_task`).

A callee lifted without `async` whose function type is `async` may block (wasmtime's
`may_block`); in an instance with suspend points its adapter calls the core function as a
task entry, so a yield or a wait there unwinds its stack and the async caller gets STARTED.
Its core function's return is the task's return: results lifted for the caller, RETURNED,
then its post-return. Hand-built cases in `wast_async_sync_tasks/` through the differential
oracle: returning at once (RETURNED) or after yields (STARTED, then the RETURNED event), a
string result through the callee's pointer and a post-return; blocking in `waitable-set.wait`
on its own subtask; called by a callback-lifted root, a stackful one, a sync lower of an
`async` root (it blocks) and of one that is not `async` (trap); a trap while suspended and in
the post-return after a suspension; a cancel while suspended (BLOCKED, then RETURNED); a
delivery held while it was suspended, run before its sync caller goes on; a function that is
not `async` blocking (trap). Plus
the corpus `component-async-suspended-fiber-roots.wast`, the shape toolchains that lift
`async func`s synchronously produce. `adapter-*`: shapes stage 1 (merge.asyncfuse) refused and
now hands to the in-module path, with no async call between instances: the callee reached
through a plain adapter from a root that may not block, a stackful root, a sync-lifted `async`
root, and a plain function between (a task that may not block), each with a callee that polls
a set of its own, yields, or waits on it empty (traps). `not-async-yields`: a function that is
not `async` reaching the same yield (it returns at once there, as wasmtime's does).
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


def test_corpus_suspended_fiber_roots_is_equivalent(
    shared: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    """The driver's `drive` (an `async func` lifted synchronously, called by an async lower)
    yields: its stack unwinds, the holder gets STARTED and waits with its GC struct in a local
    (the holder's stack blocks in place, a scheduler loop, so the reference stays a wasm local;
    the unwound driver stack holds none), then the driver runs its collections and returns."""
    wast = (
        shared
        / "corpus/wast/wasmtime/tests/misc_testsuite/gc/component-async-suspended-fiber-roots.wast"
    )
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
