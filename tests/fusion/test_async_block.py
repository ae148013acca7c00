"""Blocking built-ins inside the core code of in-module tasks (merge.asynctask + merge.unwind).

Hand-built cases in `wast_async_block/` through the differential oracle: `waitable-set.wait`
in a task's first call (the caller gets STARTED and calls into the instance meanwhile) and in
a later callback turn, with values of every numeric type on the suspended stack; three
stackful tasks of three instances, and three of one instance (a suspended stackful task does
not keep its instance to itself), blocked at once and woken in wasmtime's order; a cancel sent
to a task blocked in a (non-cancellable) wait; a blocking sync `subtask.cancel` in a first
call, which wasmtime does not hand back to the async caller (a marker); blocking
`stream.write` and `stream.read` between two in-module tasks, each suspending in turn (and a
future's write and read); a deadlock with a stack blocked in a wait (both trap); a sync call
into an instance whose other task is suspended in a yield, blocked until that stack returns.
A sync call from a task's code to an async task that blocks (`sync-call-*`: callback, stackful
and sync-lifted callers; two calls at once, which wait for a callback caller's instance; a
cancel while blocked there; a callee instance whose gate is closed, where the caller suspends
until the call starts, also with nine core arguments of every numeric type kept meanwhile,
past the five of the task record: merge.asyncargs; a borrow lent for the call, of the
callee's own resource or of a third instance's, also by a call that waits for its gate,
scoped to the callee's task): the caller's
stack unwinds in the adapter, as wasmtime blocks its fiber, so its own async caller gets
STARTED.
Core code shared by a task and code where no task may block (`shared-*`, `*-in-sync-lift`: a
synchronous call of a function that is not `async`, start-up): a wait or a blocking read there
traps, a yield returns at once, as wasmtime's do; refused when fusing: one reachable from a
destructor (`wast_async_block_refused/`). (Async calls into a locked instance:
test_async_starting.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import run_fuse_oracle

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_async_block").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_block_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r


def test_block_reachable_from_a_destructor_is_refused(
    oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    """The one generated caller of task code that is neither an entry nor sets where no task
    may block: `resource.drop`'s call of a destructor (`wast_async_block_refused/`)."""
    wast = HERE / "wast_async_block_refused" / "wait-in-destructor.wast"
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "transform-failed", r
    assert "`waitable-set.wait` in component instance" in r["reason"], r
    assert "not reached from other generated code" in r["reason"], r
