"""Stream/future payloads other than none or numbers between former instances
(merge.asyncpayload, issue 11 stage 4).

Hand-built cases in `wast_async_payloads/` through the differential oracle, one per value
kind (strings in all nine encoding pairs, lists, nested lists of strings, a named record, a
tuple with padding and a non-canonical bool, a named variant, enum and flags, option, result,
char, futures, nested stream ends) with the copy running in the writer's write or in the
reader's read, and one per trap wasmtime has there (bounds, alignment of either buffer or of a
string/list, char, discriminants, UTF-8/UTF-16, a realloc result, a bad nested handle, both
ends in one instance), and copies through sync adapters only (`sync-adapters-*`: one into a
read its sync call left pending and has returned from, a trap). C's result hashes its read
buffer, every byte its realloc handed out and the realloc calls' arguments, so transcoding
patterns are compared too.
"""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest

from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from support import run_fuse_oracle

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_async_payloads").glob("*.wast"))
COMPOSITION = HERE.parent / "data" / "async-compositions" / "py-stream-future" / "composed.wasm.xz"


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_payload_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r


def test_py_stream_future_gets_past_its_future_string() -> None:
    """The componentize-py composition was refused where its `future<string>` crosses."""
    wasm = lzma.decompress(COMPOSITION.read_bytes())
    try:
        fuse_bytes(wasm, options=FuseOptions(component=True))
    except UnsupportedFeature as e:
        assert "payload" not in str(e) and "rendezvous" not in str(e), str(e)
