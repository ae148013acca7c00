"""Stream/future ends an async-lifted root export returns through `task.return` beside
in-module tasks (`merge.asyncreturned`; WASI 0.3's `func() -> tuple<stream<u8>,
future<...>>`).

`host_ends_returned/inner.wat`: $D's async-lifted root exports get a stream and a future from
$C through an async call and return them through their own `task.return` (the pair, the
stream alone, a record holding both; callback and stackful lifts). A consumer component
stands in for the host (wasmtime-py cannot take a stream or future): it reads both ends
before $C writes them, and the writes reach its reads through the runtime. The traps of
that `task.return`'s lift (the writable end, a busy end, an end in a set, a dropped end, a
future already read, one end twice) are wasmtime's. The oracle runs a wast of the consumer
around the original composition against the same around the fused one (refused on main:
"stream/future in root export ... beside in-module async tasks"). The same file has
sync-lifted exports returning the pair and a record through memory and one taking a stream
inside a tuple; `importer.wat` a host import returning them through memory (refused on main:
"stream/future passed to host import").

`wast_async_returned/`: the same shapes between former instances, which main fused already.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pymeld.abi import types as at
from pymeld.fuse import FuseOptions, fuse_bytes
from support import (
    assert_root_result_refused,
    consumer_harness,
    nested_component_text,
    oracle_against,
    parse_wat_file,
    run_fuse_oracle,
    stand_in_wast,
)

HERE = Path(__file__).parent / "host_ends_returned"

#: The consumer's exports and what the original gives (`consumer.wat` packs the handles, the
#: write codes and the values read), or wasmtime's trap.
CASES = {
    "open": "(u32.const 0x9a100021)",  # handles 1, 2; writes COMPLETED 1 / COMPLETED; 42, 7
    "open-stackful": "(u32.const 0x9a100021)",
    "open-stream": "(u32.const 0x2a10ff01)",  # the stream alone: 42 read, the future BLOCKED
    "open-record": "(u32.const 0x9a100012)",  # the future lowered first: handle 1
    "open-sync": "(u32.const 0x9a100021)",  # a sync lift's pair through its pointer
    "open-sync-record": "(u32.const 0x9a100012)",
    "take": "(u32.const 0x9102a)",  # a tuple parameter's stream: COMPLETED 1, 42; 9 beside
    "take-async": "(u32.const 0x9102a)",  # the same, lifted `async`
    "relay": "(u32.const 0x2a0001)",  # the future (handle 1) written COMPLETED with 42
    "open-result": "(u32.const 0x9a100021)",  # result<tuple<..>, u32>: ok
    "open-error": "(u32.const 0x4d01)",  # error(77): no end
    "open-option": "(u32.const 0x2a10ff01)",  # option<stream>: some
    "open-sync-option": "(u32.const 0x2a10ff01)",  # the same, sync lift through memory
    "take-opt": "(u32.const 0xd09102a)",  # none (0xd), then some(stream)
    "take-opt-sync": "(u32.const 0xd09102a)",  # the same, lifted synchronously
    "ret-opt-writable": "handle is not a readable end of a stream",
    "ret-writable": "handle is not a readable end of a stream",
    "ret-busy": "cannot remove busy stream",
    "ret-in-set": "cannot lift future while it's in a waitable set",
    "ret-dropped": "unknown handle index 1",
    "ret-read-future": "cannot lift future after previous read succeeded",
    "ret-twice": "called more than once",  # fused: the lift of the moved end traps
}


def _harness(wasm_tools: str, inner: bytes, tmp_path: Path, name: str) -> str:
    """The consumer around ``inner`` (a component binary)."""
    return consumer_harness(wasm_tools, HERE, CASES, inner, tmp_path, name)


def _stackful(wat: str) -> str:
    """``wat`` with every callback lift of $D made stackful (its `-sf` entry): no export of
    $D is driven, so its `task.return`s are the runtime's through the stand-in alone."""
    out = re.sub(
        r'\(core func \$core "([a-z-]+)"\) async \(callback \(core func \$core "never"\)\)',
        r'(core func $core "\1-sf") async',
        wat,
    )
    assert "callback (core func $core" not in out and out.count('-sf") async') == 17
    return out


@pytest.mark.parametrize("variant", ["callback", "stackful"])
@pytest.mark.parametrize("keep", [False, True], ids=["fused", "kept-boundaries"])
def test_returned_ends_reach_the_host_as_the_original_does(
    variant: str, keep: bool, wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """Fused whole; with `--keep-async-boundaries` these shapes are refused when fusing the
    in-module way, so a component boundary is kept there instead: the same results."""
    wat = (HERE / "inner.wat").read_text()
    wat = _stackful(wat) if variant == "stackful" else wat
    original = parse_wat_file(wasm_tools, wat, tmp_path, "inner").read_bytes()
    options = FuseOptions(component=True, keep_async_boundaries=keep)
    fused = fuse_bytes(original, options=options).output
    transformed = parse_wat_file(
        wasm_tools, _harness(wasm_tools, fused, tmp_path, "fused"), tmp_path, "fused.harness"
    )
    wast = stand_in_wast(
        _harness(wasm_tools, original, tmp_path, "original"), CASES, tmp_path / "ret.wast"
    )
    r = oracle_against(oracle_py, wast, transformed, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r  # the original trapped with each expected message
    assert r["counts"]["compared"] == 1 + 2 * len(CASES), r


#: importer.wat's exports and what the original gives: the handles (stream 1, future 2, or
#: the record's order), $C's read (COMPLETED 1, handle 1 in $C, 42), the future's read
#: (COMPLETED) and value 7.
IMPORTER_CASES = {
    "run": "(u32.const 0x8102a21)",
    "run-record": "(u32.const 0x8102a12)",
    "run-result": "(u32.const 0x8102a21)",
    "run-none": "(u32.const 0x8102a21)",  # none took no handle
    "run-sink": "(u32.const 0x2a10ff0d)",  # none; some: BLOCKED read, the write COMPLETED 1, 42
}


def test_host_import_results_through_memory_cross_as_the_original_does(
    wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """A host import whose result, returned through memory, holds a stream and a future (a
    tuple, a record): the runtime's handles it stores are lowered as in-module proxies; the
    host's writes reach the reads of $D and of $C (through an adapter)."""
    original = parse_wat_file(wasm_tools, (HERE / "importer.wat").read_text(), tmp_path, "importer")

    def harness(inner: bytes, name: str) -> str:
        return (
            f"(component\n{(HERE / 'maker.wat').read_text()}"
            "  (instance $maker (instantiate $Maker))\n"
            f"{nested_component_text(wasm_tools, inner, tmp_path, name)}"
            '  (instance $inner (instantiate $Inner (with "maker" (instance $maker))))\n'
            + "".join(
                f'  (func (export "{n}") (alias export $inner "{n}"))\n' for n in IMPORTER_CASES
            )
            + ")\n"
        )

    data = original.read_bytes()
    fused = fuse_bytes(data, options=FuseOptions(component=True)).output
    transformed = parse_wat_file(wasm_tools, harness(fused, "fused"), tmp_path, "fused.harness")
    wast = stand_in_wast(harness(data, "original"), IMPORTER_CASES, tmp_path / "importer.wast")
    r = oracle_against(oracle_py, wast, transformed, tmp_path)
    assert r["status"] == "equivalent", r
    assert r["counts"]["compared"] == 1 + 2 * len(IMPORTER_CASES), r


BETWEEN = sorted((Path(__file__).parent / "wast_async_returned").glob("*.wast"))


@pytest.mark.parametrize("wast", BETWEEN, ids=[p.name for p in BETWEEN])
def test_ends_returned_between_instances_are_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    """`wast_async_returned/`: ends returned through `task.return` from one former instance
    to another (fused on main already; pinned here beside the host's case): the stream, a
    tuple of a stream and a future, a record, an option; callback and stackful callees, async
    and sync callers; `func(s: stream<u8>) -> future<u32>`; and wasmtime's traps of that
    lift (each original with the expected message)."""
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r


def test_flat_ends_are_at_fixed_positions_or_none() -> None:
    """`flat_ends`: ends in tuples and records by flat index; under a variant or list their
    place depends on the value: None."""
    from pymeld.merge.asyncreturned import Place, end_places, flat_ends

    st, fu = at.Stream(at.U8()), at.Future(at.U32())
    rec = at.Record((("done", fu), ("n", at.U64()), ("s", at.String()), ("body", st)))
    assert flat_ends([st]) == [(0, st)]
    assert flat_ends([at.Tuple((st, fu))]) == [(0, st), (1, fu)]
    assert flat_ends([at.U32(), rec]) == [(1, fu), (5, st)]
    assert flat_ends([at.U32()]) == []
    assert flat_ends([at.Option(st)]) is None
    assert flat_ends([at.Result(st, at.U32())]) is None
    assert flat_ends([at.List(st)]) is None
    assert flat_ends([at.ErrorContext()]) is None
    # `end_places`: also under variants, with the cases (discriminant's flat index, 0, case)
    assert end_places([at.U32(), at.Option(st)]) == [Place(2, st, ((1, 0, 1),))]
    assert end_places([at.Result(at.Tuple((st, fu)), at.U64())]) == [
        Place(1, st, ((0, 0, 0),)),
        Place(2, fu, ((0, 0, 0),)),
    ]
    assert end_places([at.List(st)]) is None


def test_returned_ends_are_those_of_an_async_lift_s_result() -> None:
    from pymeld.codec.core.model import ExternKind
    from pymeld.graph.model import CanonOpts, DefRef, Lifted
    from pymeld.merge.asyncreturned import Place, returned_ends

    st, fu = at.Stream(at.U8()), at.Future(None)

    def lift(ft: at.FuncType, is_async: bool = True) -> Lifted:
        return Lifted(DefRef(0, ExternKind.FUNC, 0), ft, CanonOpts(is_async=is_async), 0)

    pair = at.Tuple((st, fu))
    assert returned_ends(lift(at.FuncType((), st, True))) == [Place(0, st)]
    assert returned_ends(lift(at.FuncType((), pair, True))) == [Place(0, st), Place(1, fu)]
    assert returned_ends(lift(at.FuncType((), st, True), is_async=False)) is None  # root_ends'
    assert returned_ends(lift(at.FuncType((("s", st),), fu, True))) == [Place(0, fu)]
    assert returned_ends(lift(at.FuncType((("s", st),), at.U32(), True))) == []
    assert returned_ends(lift(at.FuncType((), at.Option(st), True))) == [Place(1, st, ((0, 0, 1),))]
    assert returned_ends(lift(at.FuncType((), at.List(st), True))) == []  # walked: asynclists
    # spilled to memory (17 flat values): by offset from `task.return`'s pointer (asyncspill)
    wide = at.Tuple((at.U32(),) * 16 + (st,))
    assert returned_ends(lift(at.FuncType((), wide, True))) == [Place(64, st)]
    assert returned_ends(lift(at.FuncType((), at.U32(), True))) is None


@pytest.mark.parametrize(
    ("result", "refusal"),
    [
        ("(stream (list $ST 2))", "stream/future passed by root export `d/v` beside in-module"),
    ],
    # lists: test_async_host_lists.py; a stream<stream<u8>>: test_async_host_nested.py
    ids=["stream-of-fixed-length-lists"],
)
def test_other_returned_shapes_stay_refused(
    result: str, refusal: str, wasm_tools: str, tmp_path: Path
) -> None:
    wat = (HERE / "inner.wat").read_text()
    assert_root_result_refused(wasm_tools, wat, result, "open", refusal, tmp_path)


def test_boundary_ends_take_tuples_records_and_results_through_memory() -> None:
    """`boundary_ends` now fuses ends in tuple and record parameters (by flat index) and in a
    result returned through memory at fixed offsets (`spilled_ends`), under variants with
    their cases; in a list they have no place (walked: `merge.asynclists`)."""
    from pymeld.merge.asyncreturned import Place, memory_places, spilled_ends
    from pymeld.merge.asynctask import boundary_ends

    st, fu = at.Stream(at.U8()), at.Future(at.U32())

    def ft(*params: at.ValType, result: at.ValType | None = None) -> at.FuncType:
        return at.FuncType(tuple((f"p{k}", t) for k, t in enumerate(params)), result)

    pair = at.Tuple((st, fu))
    rec = at.Record((("done", fu), ("n", at.U8()), ("big", at.U64()), ("body", st)))
    assert boundary_ends(ft(at.Tuple((at.U32(), st)))) == ([Place(1, st)], None)
    assert boundary_ends(ft(at.U64(), rec)) == ([Place(1, fu), Place(4, st)], None)
    assert boundary_ends(ft(result=pair)) == ([], None)
    assert spilled_ends(ft(result=pair)) == [Place(0, st), Place(4, fu)]
    assert spilled_ends(ft(result=rec)) == [Place(0, fu), Place(16, st)]
    assert spilled_ends(ft(result=st)) == []  # flat: the result itself (`boundary_ends`)
    assert spilled_ends(ft(result=at.String())) == []
    assert memory_places(at.Tuple((at.U8(), pair)), 8) == [Place(12, st), Place(16, fu)]
    # under variants: each end with the cases it is in (discriminant offset, size, case)
    opt = at.Tuple((at.U32(), at.Option(fu)))
    assert spilled_ends(ft(result=opt)) == [Place(8, fu, ((4, 1, 1),))]
    res = at.Result(pair, at.Option(st))
    assert spilled_ends(ft(result=res)) == [
        Place(4, st, ((0, 1, 0),)),
        Place(8, fu, ((0, 1, 0),)),
        Place(8, st, ((0, 1, 1), (4, 1, 1))),
    ]
    assert boundary_ends(ft(at.U32(), opt)) == ([Place(3, fu, ((2, 0, 1),))], None)
    assert boundary_ends(ft(at.List(st))) == ([], None)  # walked: asynclists
    assert boundary_ends(ft(result=opt)) == ([], None)
    assert boundary_ends(ft(result=at.Tuple((at.List(st), at.U32())))) == ([], None)
    assert spilled_ends(ft(result=at.Option(st))) == [Place(4, st, ((0, 1, 1),))]
    assert spilled_ends(ft(result=at.Tuple((at.List(st), at.U32())))) is None
