"""Stream/future ends in lists at the host boundary beside in-module tasks (`merge.asynclists`):
`list<stream<u8>>` and `list<tuple<string, future<u32>>>` returned by an async root export
through `task.return` (callback and stackful lifts) or by a sync one through its returned
pointer, taken as a root export's parameter (sync, callback and stackful lifts), handed to a
sync host import and returned by one.

`host_lists/inner.wat`: $D gets streams and futures from $C through async calls;
`consumer.wat` stands in for the host around it (wasmtime-py takes no stream or future),
`maker.wat` for the host's imports. The traps of the runtime's lift of such a list (the
writable end, a dropped end, a list not aligned) are wasmtime's. The oracle runs a wast of the
stand-ins around the original composition against the same around the fused one (refused on
main: "stream/future in root export ... beside in-module async tasks", "stream/future passed
to host import ...").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pymeld.abi import types as at
from pymeld.fuse import FuseOptions, fuse_bytes
from support import (
    assert_root_result_refused,
    consumer_harness,
    oracle_against,
    parse_wat_file,
    stand_in_wast,
)

HERE = Path(__file__).parent / "host_lists"

#: The consumer's exports and what the original gives, or wasmtime's trap.
CASES = {
    # handles 1 + 2 | $C's writes (2 x COMPLETED 1, 2 futures BLOCKED) << 8 | 42 + 43 << 20
    "open-list": "(u32.const 0x571fe03)",
    "open-list-stackful": "(u32.const 0x571fe03)",
    "open-named": "(u32.const 0xfffe0003)",  # the futures: 7 + 8 read
    "open-list-sync": "(u32.const 0x571fe03)",
    "ret-list-writable": "handle is not a readable end of a stream",
    "ret-list-dropped": "unknown handle index 3",
    "ret-list-misaligned": "unaligned pointer",
    "take-list": "(u32.const 0x22055)",  # 2 x COMPLETED 1 << 8 | 42 + 43 | length 2 << 16
    "take-list-async": "(u32.const 0x22055)",
    "take-list-stackful": "(u32.const 0x22055)",
    "give-list": "(u32.const 0x571fffe)",  # the host's reads BLOCKED; $C's writes; 42 + 43
    "give-list-dropped": "unknown handle index 3",
    "give-wide-list": "(u32.const 0x571fffe)",  # the same by pointer (18 flat values)
    "get-list": "(u32.const 0x22055)",  # the host's streams read by $D
}


def _harness(wasm_tools: str, inner: bytes, tmp_path: Path, name: str) -> str:
    """The stand-ins around ``inner`` (a component binary)."""
    return consumer_harness(wasm_tools, HERE, CASES, inner, tmp_path, name, maker=True)


@pytest.mark.parametrize("keep", [False, True], ids=["fused", "kept-boundaries"])
def test_ends_in_lists_cross_the_host_boundary_as_the_original_does(
    keep: bool, wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """Fused whole; with `--keep-async-boundaries` a component boundary is kept there: the
    same results and traps."""
    data = parse_wat_file(
        wasm_tools, (HERE / "inner.wat").read_text(), tmp_path, "inner"
    ).read_bytes()
    fused = fuse_bytes(data, options=FuseOptions(component=True, keep_async_boundaries=keep))
    transformed = parse_wat_file(
        wasm_tools, _harness(wasm_tools, fused.output, tmp_path, "fused"), tmp_path, "fused.h"
    )
    wast = stand_in_wast(
        _harness(wasm_tools, data, tmp_path, "original"), CASES, tmp_path / "lists.wast"
    )
    r = oracle_against(oracle_py, wast, transformed, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r  # the original gave each expected value or trap
    assert r["counts"]["compared"] == 1 + 2 * len(CASES), r


def test_a_list_the_runtime_rejects_is_left_to_its_check(
    wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """The oracle checks only the original's messages, so the fused harness runs as the
    original of a wast of its own: a `task.return` list not aligned traps with the runtime's
    message (nothing lifted first from the bytes there, which are not a handle)."""
    data = parse_wat_file(
        wasm_tools, (HERE / "inner.wat").read_text(), tmp_path, "inner"
    ).read_bytes()
    fused = fuse_bytes(data, options=FuseOptions(component=True)).output
    harness = _harness(wasm_tools, fused, tmp_path, "fused")
    transformed = parse_wat_file(wasm_tools, harness, tmp_path, "fused.h")
    cases = {"ret-list-misaligned": "unaligned pointer"}
    wast = stand_in_wast(harness, cases, tmp_path / "fused.wast")
    r = oracle_against(oracle_py, wast, transformed, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r


def test_listed_ends_are_found_under_records_variants_and_lists() -> None:
    """`listed`: an end inside a list, at any depth; `walkable`: every end reachable (not an
    error-context, not in a fixed-length list)."""
    from pymeld.merge.asynclists import end_types, listed, walkable

    st, fu = at.Stream(at.U8()), at.Future(at.U32())
    named = at.List(at.Tuple((at.String(), fu)))
    assert listed([at.List(st)]) and listed([at.U32(), named])
    assert listed([at.Option(at.Record((("x", at.List(at.Option(st))),)))])
    assert not listed([st, at.Tuple((st, fu)), at.List(at.U8())])
    assert walkable([at.List(st), named, st])
    assert not walkable([at.List(at.ErrorContext())])
    assert not walkable([at.List(st, 2)])
    assert walkable([at.List(at.U8(), 2)])  # carries no end
    assert end_types([named, at.Tuple((st, at.List(st)))]) == [fu, st, st]


@pytest.mark.parametrize(
    ("result", "refusal"),
    [
        ("(list $ST 2)", "stream/future in root export `d/v` beside in-module async tasks"),
        ("(list (stream (list $ST 2)))", "stream/future passed by root export `d/v` beside"),
    ],
    ids=["fixed-length-list", "list-of-streams-of-fixed-length-lists"],
)
def test_other_listed_shapes_stay_refused(
    result: str, refusal: str, wasm_tools: str, tmp_path: Path
) -> None:
    wat = (HERE / "inner.wat").read_text()
    assert_root_result_refused(wasm_tools, wat, result, "open-list", refusal, tmp_path)
