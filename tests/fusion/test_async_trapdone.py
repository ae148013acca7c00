"""Plain (sync) adapters beside waitable sets that wait on ends created inside adapter calls
(issue 11): such a composition takes the in-module path (`merge.asynctask`/`asyncstream`)
instead of stage 1's runtime sets, whose simultaneous events wasmtime orders by internal ids
that only the in-module path mirrors (`merge.asyncids`).

`wast_async_trapdone/`: wasmtime's `trap-if-done.wast` with its ends returned to the host as
handle numbers instead (every done-end trap of `stream/future.read/write` exact), two ends
of one set whose events are taken one at a time, and both ends ready before the wait (by
wasmtime's store-wide handle ids). The corpus file itself is equivalent: every lift of an end
its root exports hand the host traps, in the original as in the fused module, which checks
the end as wasmtime's lift does (test_async_host_ends.py). (The corpus
`big-interleaving-test.wast` is equivalent now: test_async_sync_readers.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import run_fuse_oracle

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_async_trapdone").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_trapdone_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r


def test_corpus_trap_if_done_is_equivalent(
    shared: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    """Its root exports' lifts of ends for the host all trap in the original (the end was
    read, or its reader notified of the writer's drop), and so does the fused lift, which
    makes the same checks (test_async_host_ends.py)."""
    wast = shared / "corpus/wast/component-model/test/async/trap-if-done.wast"
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r
