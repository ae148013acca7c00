"""`thread.yield` inside the core code of in-module tasks (merge.asynctask + merge.unwind).

Hand-built cases in `wast_async_yield/` through the differential oracle: a yield in a task's
first call (the caller gets STARTED and calls into the instance meanwhile) and in a later
callback turn, with values of every numeric type and a recursive helper on the suspended stack,
and in a stackful callee;
two tasks of one instance yielding (the one suspended inside its core code keeps the instance
entered: the other's turns wait); a cancel sent while the stack is suspended; waiters on
sets beside the yielding subtask; a yield on the stack of a host call into a stackful or
sync-lifted root (`root-*`: it blocks in place while the turns queued before it run; in a task
that may not block it returns at once); a yield reachable from a synchronous call of a function
that is not `async` (it returns at once there). (Calls into an instance while one of its tasks
is suspended, STARTING: test_async_starting.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import run_fuse_oracle

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_async_yield").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_yield_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
