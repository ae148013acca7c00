"""Copying reads (future values, non-flat stream payloads) left pending where the reading
thread may be gone by the copy (merge.asyncpayload `check_sync_readers`, `check_reader`;
merge.asyncsyncthreads for synchronous calls through adapters).

Through the differential oracle: `same-instance-writer.wast` (future<u8> reads of synchronously
lifted functions and of a callback task that exits, all written by their own instance, which
wasmtime 50 copies without the reading thread: no trap); `sync-threads-live.wast` (a read a
sync call through an adapter leaves pending, written by a third instance while that call is
still on the stack: copied); `other-instance-writer.wast` (written by the reader's caller after
the reading call returned: wasmtime traps on the gone thread, and so does the fused module).
`pinned/`: run-time refusals. A writer's own synchronous call takes the freed table slots of
the reading thread and task, so wasmtime 50's `set_thread` finds a thread there and copies;
the fused module traps (it checks the reading call or task, not the slots). The corpus
`big-interleaving-test.wast`, whose testee reads its own futures in sync lifts, is equivalent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import assert_traps_where_original_returns, run_fuse_oracle

HERE = Path(__file__).parent / "wast_async_sync_readers"
PINNED = sorted((HERE / "pinned").glob("*.wast"))


def test_reads_written_by_their_own_instance_are_equivalent(
    oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, HERE / "same-instance-writer.wast", tmp_path)
    assert r["status"] == "equivalent", r
    assert r["counts"]["compared"] >= 9, r
    assert not r.get("warnings"), r


def test_read_written_while_its_sync_call_runs_is_copied(
    oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, HERE / "sync-threads-live.wast", tmp_path)
    assert r["status"] == "equivalent", r
    assert r["counts"]["compared"] >= 2, r


def test_read_written_by_the_caller_after_its_sync_call_traps(
    oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, HERE / "other-instance-writer.wast", tmp_path)
    assert r["status"] == "equivalent", r
    assert r["counts"]["compared"] >= 1, r


@pytest.mark.parametrize("wast", PINNED, ids=[p.stem for p in PINNED])
def test_slots_taken_again_are_pinned_run_time_refusals(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    assert_traps_where_original_returns(run_fuse_oracle(oracle_py, pymeld, wast, tmp_path))


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
