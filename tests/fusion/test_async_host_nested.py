"""Ends inside the payload of a future shared with the host beside in-module tasks
(`merge.asyncnested`): `future<stream<u8>>` returned by an async root export (callback and
stackful lifts) and written by the guest while the host reads, and one the host passes in and
the guest reads; the stream inside moves between the runtime's table and the in-module ones.

`host_nested/inner.wat`: $D gets a stream from $C through an async call; `consumer.wat`
stands in for the host (wasmtime-py takes no stream or future). The oracle runs a wast of the
consumer around the original composition against the same around the fused one (refused on
main: "stream/future passed by root export ... whose payload holds resource handles or ends").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pymeld.abi import types as at
from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from support import (
    assert_traps_where_original_returns,
    consumer_harness,
    oracle_against,
    parse_wat_file,
    stand_in_wast,
)

HERE = Path(__file__).parent / "host_nested"

#: The consumer's exports and what the original gives.
CASES = {
    # fill COMPLETED | $C's write COMPLETED 1 << 8 | 42 << 16 | the stream's handle 2 << 24
    "open-nested": "(u32.const 0x22a1000)",
    "open-nested-stackful": "(u32.const 0x22a1000)",
    "take-nested": "(u32.const 0x2a1000)",  # the future COMPLETED, the stream COMPLETED 1, 42
    "open-streams": "(u32.const 0x3022020)",  # COMPLETED 2, the read COMPLETED 2; handles 2, 3
}
#: Refused at run time after fusion: the original returns, the fused module traps. The host's
#: reader gone, the write is DROPPED and the stream stays $D's; a read of one of the two
#: streams written: COMPLETED 1, the second stream $D's. Fused, those streams were already
#: made the runtime's.
REFUSED = {"fill-dropped": "(u32.const 0x1)", "open-streams-short": "(u32.const 0x21010)"}


def _harness(wasm_tools: str, inner: bytes, tmp_path: Path, name: str, cases: dict) -> str:
    """The consumer around ``inner`` (a component binary)."""
    return consumer_harness(wasm_tools, HERE, cases, inner, tmp_path, name)


def _fused(wasm_tools: str, tmp_path: Path, keep: bool = False) -> tuple[bytes, bytes]:
    data = parse_wat_file(
        wasm_tools, (HERE / "inner.wat").read_text(), tmp_path, "inner"
    ).read_bytes()
    options = FuseOptions(component=True, keep_async_boundaries=keep)
    return data, fuse_bytes(data, options=options).output


@pytest.mark.parametrize("keep", [False, True], ids=["fused", "kept-boundaries"])
def test_ends_in_payloads_cross_the_host_boundary_as_the_original_does(
    keep: bool, wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    data, fused = _fused(wasm_tools, tmp_path, keep)
    transformed = parse_wat_file(
        wasm_tools, _harness(wasm_tools, fused, tmp_path, "fused", CASES), tmp_path, "fused.h"
    )
    harness = _harness(wasm_tools, data, tmp_path, "original", CASES)
    wast = stand_in_wast(harness, CASES, tmp_path / "nested.wast")
    r = oracle_against(oracle_py, wast, transformed, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r
    assert r["counts"]["compared"] == 1 + 2 * len(CASES), r


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_write_the_host_does_not_take_whole_traps(
    case: str, wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """Refused at run time after fusion; kept boundaries give the original's result."""
    data, fused = _fused(wasm_tools, tmp_path)
    _, kept = _fused(wasm_tools, tmp_path, keep=True)
    cases = {case: REFUSED[case]}
    harness = _harness(wasm_tools, data, tmp_path, "original", cases)
    wast = stand_in_wast(harness, cases, tmp_path / "refused.wast")
    for name, inner in (("fused", fused), ("kept", kept)):
        transformed = parse_wat_file(
            wasm_tools, _harness(wasm_tools, inner, tmp_path, name, cases), tmp_path, name
        )
        r = oracle_against(oracle_py, wast, transformed, tmp_path)
        if name == "fused":
            assert_traps_where_original_returns(r)
        else:
            assert r["status"] == "equivalent", r


def test_payload_ends_are_those_of_an_element() -> None:
    """`payload_ends`: the ends one element of a stream's or future's payload carries, not
    those inside their own payloads; `_proxiable` takes them when they are in turn."""
    from pymeld.merge.asyncnested import payload_ends
    from pymeld.merge.asyncstream import _proxiable

    st, fu = at.Stream(at.U8()), at.Future(at.U32())
    fs = at.Future(st)
    assert payload_ends(fs) == [st]
    assert payload_ends(at.Stream(at.Tuple((at.String(), fu, at.List(st))))) == [fu, st]
    assert payload_ends(at.Future(fs)) == [fs]
    assert payload_ends(st) == [] and payload_ends(at.Future(None)) == []
    assert _proxiable(fs) and _proxiable(at.Future(fs))
    assert not _proxiable(at.Future(at.Own("r")))
    assert not _proxiable(at.Future(at.Future(at.Own("r"))))
    assert not _proxiable(at.Stream(at.List(st, 2)))


def test_resource_handles_in_a_payload_stay_refused(wasm_tools: str, tmp_path: Path) -> None:
    """A `future<own<r>>` handed to the host: the runtime's built-in of such a payload is
    never the fused module's, so it stays refused when fusing."""
    wat = (HERE / "inner.wat").read_text()
    anchor = '    (func (export "write") async (result u32) (canon lift (core func $core "write")))'
    assert anchor in wat
    lift = (
        '    (type $R0 (resource (rep i32)))\n    (export $R "r" (type $R0))\n'
        '    (func (export "v") async (result (future (own $R))) (canon lift (core func $core '
        '"open-nested") async (callback (core func $core "never"))))\n'
    )
    data = parse_wat_file(
        wasm_tools, wat.replace(anchor, lift + anchor), tmp_path, "shape"
    ).read_bytes()
    refusal = "stream/future passed by root export `d/v` beside in-module async tasks whose"
    with pytest.raises(UnsupportedFeature, match=re.escape(refusal)):
        fuse_bytes(data, options=FuseOptions(component=True))
