"""Calls that cannot start yet: STARTING subtasks and blocked sync callers (merge.asynctask).

Hand-built cases in `wast_async_starting/` through the differential oracle (wasmtime 50):
`backpressure.wast` plays sixteen scenarios of calls into an instance whose backpressure is
raised (by the caller, or by a running task of the callee): STARTING subtasks queued and
started in task-id order when the counter drops to 0, their arguments read from the caller's
memory at the start, STARTED/RETURNED events, a released call that finds the gate closed
again, `subtask.cancel` (async and sync) of a STARTING or released subtask, the traps of
dropping or cancelling one wrongly, a sync caller blocked until the call can start, and the
fast path (a call into an open instance starts at once, before released ones).
`several-callers.wast`: two relay tasks of another instance and the root task queued on one
instance, started in task-id order (not the order of the calls); `sync-callers-only.wast`: an
instance entered only by sync calls, one of an `async func`, gated too, and
`sync-callers-only-stage1.wast` the same without any async call between instances (planned
on the in-module path for that gate: stage 1 ran the call, where wasmtime deadlocks). The
`*-into-yielded-instance` cases make async calls (of a callback task, of a stackful one)
into an instance a suspended callback stack keeps entered: STARTING until that stack's code
returns; `two-calls-into-locked-instance.wast` two of them, started in task-id order (the
ids mirrored past the yield; a run-time refusal before). `wast_async_starting_refused/`: what
traps at run time instead (two calls pending on an instance locked by a stack suspended in a
wait, past which the ids are not mirrored).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import assert_traps_where_original_returns, run_fuse_oracle

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_async_starting").glob("*.wast"))
REFUSED = HERE / "wast_async_starting_refused"


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_starting_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
    assert r["counts"]["compared"] >= 2, r
    assert not r.get("warnings"), r


def test_two_calls_pending_past_a_wait_trap(
    oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    """Their order is wasmtime's task ids, taken after the mirror was lost (a stack suspended
    in `waitable-set.wait`): the fused module traps at the second instead of guessing (a
    refusal at run time; both records' `_EXACT` are 0)."""
    wast = REFUSED / "two-calls-past-a-wait.wast"
    assert_traps_where_original_returns(run_fuse_oracle(oracle_py, pymeld, wast, tmp_path))
