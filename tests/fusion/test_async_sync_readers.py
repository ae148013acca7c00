"""Copying reads (future values, non-flat stream payloads) left pending where the reading
thread may be gone by the copy (merge.asyncpayload `check_sync_readers`, `check_reader`).

`wast_async_sync_readers/same-instance-writer.wast` through the differential oracle: future<u8>
reads of synchronously lifted functions and of a callback task that exits, all written by
their own instance, which wasmtime 50 copies without the reading thread (fused: not refused,
no trap). `refused/`: a read a sync lift leaves pending that another instance writes (wasmtime
traps on the gone thread; fused sync calls keep none to check): refused by name. The corpus
`big-interleaving-test.wast`, whose testee reads its own futures in sync lifts, is equivalent.
"""

from __future__ import annotations

from pathlib import Path

from support import run_fuse_oracle

HERE = Path(__file__).parent / "wast_async_sync_readers"


def test_reads_written_by_their_own_instance_are_equivalent(
    oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, HERE / "same-instance-writer.wast", tmp_path)
    assert r["status"] == "equivalent", r
    assert r["counts"]["compared"] >= 9, r
    assert not r.get("warnings"), r


def test_read_another_instance_writes_is_refused_by_name(
    oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(
        oracle_py, pymeld, HERE / "refused" / "other-instance-writer.wast", tmp_path
    )
    assert r["status"] == "transform-failed", r
    assert "`future.read` of Future(elem=U32())" in r["reason"], r
    assert "entered through a synchronous lift, whose ends another instance may" in r["reason"]


def test_corpus_big_interleaving_is_equivalent(
    shared: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    """Its `await-*` exports wait inside tasks entered by async calls (suspend points:
    merge.asynctask), its mock's backpressure gates calls (STARTING subtasks: test_async_starting.py),
    and its testee's sync-lifted future reads are of futures it writes itself."""
    wast = shared / "corpus/wast/component-model/test/async/big-interleaving-test.wast"
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
    assert r["counts"]["compared"] >= 50, r
