"""A callback-lifted (driven) root export beside in-module streams/futures, nested subtasks and
cancellation (merge.asyncroot, issue 11).

Cases in `wast_async_driven/` through the differential oracle (their expectations are the
original's, so each pins wasmtime's behaviour too): a future<u32> a callee resolves after
returning it, read by the root's driver WAIT or dropped unread; seeds of
`test_async_driven_property.py` (nested subtasks, cancels, sync calls under the root's
callbacks) and `test_async_driven_streams_property.py` (stream writes WAITed for by the
driver, a deadlock); a callee's `task.return` of payload-carrying variants stored per case at
the root's result pointer; two futures of one set ready at once (delivered in wasmtime's
store-wide handle-id order, `merge.asyncids`); two subtasks ready at once after a root task
went on past its `task.return` (its ids stay taken until its EXIT in a later call).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import run_fuse_oracle

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_async_driven").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_driven_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r
