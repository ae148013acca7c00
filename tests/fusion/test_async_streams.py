"""In-module streams and futures inside in-module tasks (merge.asyncstream, issue 11 stage 3).

Hand-built cases in `wast_async_streams/` through the differential oracle: a stream<u32>
end crossing an async lower, partial copies (a pending read taking part of a write, the rest
written again), "completed n" merged into "dropped n", the host-called stack woken by a
callee's callback, handle numbers shared with sets and subtasks (freed ones reused); a
future's value crossing memories; wasmtime's traps (write after the reader's drop was seen,
an end in a set passed on, dropping a busy end, an unwritten future's writer, reading a
future twice). Blocking reads and writes in callees: `test_async_block`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import run_fuse_oracle

CASES = sorted((Path(__file__).parent / "wast_async_streams").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_stream_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r


@pytest.mark.parametrize(
    "name",
    [
        "cross-task-future.wast",
        "empty-wait.wast",
        "zero-length.wast",
        "future-drop-writable-after-notified-drop.wast",
        "partial-stream-copies.wast",
        # blocking reads and writes in callees (merge.asynctask `block_or_unwind`), a sync
        # call waiting for an instance a suspended stack keeps entered
        "sync-streams.wast",
    ],
)
def test_corpus_stream_case_is_equivalent(
    name: str, wast_dir: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    found = sorted(wast_dir.rglob(name))
    if not found:
        pytest.skip(f"{name} not in the shared corpus")
    r = run_fuse_oracle(oracle_py, pymeld, found[0], tmp_path)
    assert r["status"] == "equivalent", r
