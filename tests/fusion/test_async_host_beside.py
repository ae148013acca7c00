"""Stream/future ends beside resource handles among the values of an `async` host import
lowered `async` beside in-module tasks (`merge.asynchostvals`): the wasi:http shapes, where an
own handle goes in and ends come back beside handles (`take-both: async func(own<r>,
stream<u8>) -> u32`, `give-both: async func(u32) -> tuple<own<r>, stream<u8>>`, and each with
the end first). The caller's handles and ends share one index space (`merge.asyncres`): the
translations free and take its indices in the order the runtime's lift and lower move them,
which the handle a new own takes next shows; with the parameters passed by pointer (more than
4 flat values) both kinds are put back in the guest's memory after the call; a borrow lent
beside an end stays lent until the call RETURNED (dropping its own meanwhile traps).

`host_beside/inner.wat`'s $D calls the host's functions (`maker.wat`, a component standing in
for the host: wasmtime-py supplies no resource or stream) through async lowers, returning at
once and, `-later`, STARTED then RETURNED. The oracle runs a wast of the stand-ins around the
original composition against the same around the fused one (refused on main: "ends beside
resource handles: not fused yet"). Handles and ends interleaved (an own, an end, an own) stay
refused: test_async_host_values.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import (
    assert_stand_ins_equivalent,
)

HERE = Path(__file__).parent / "host_beside"

#: $D's exports (inner.wat) and what the original gives, or wasmtime's trap.
CASES = {
    # the rep 7 | the host's own 1 << 8, its stream 2 << 12 | its read BLOCKED << 16 | a new
    # own then takes index 1, the stream's, freed last (<< 24); + $C's writes * 3 + 42 * 5
    "take-both": "(u32.const 0x1ff54d3)",
    "take-rev": "(u32.const 0x5ff45d3)",  # the own's index 5 freed last; the host's 2 and 1
    "take-both-later": "(u32.const 0x11ff54d3)",  # subtask 1: the stream's index, freed last
    "take-both-dropped": "unknown handle index 1",
    "take-wide": "(u32.const 0x25f54d3)",  # as take-both + (1 + 2 + 3) << 20, by pointer
    # the rep 11 | the host's stream 1 << 8 | its read BLOCKED << 16 | subtask 1 << 28, + 11
    # dropped + $C's writes * 3 + 42 * 5
    "peek-both": "(u32.const 0x10ff34e2)",
    "peek-both-drop": "cannot remove owned resource while borrowed",
    # the own 5 | the stream 6 << 4 | a new own 7 << 8 | rep 9 << 12 | COMPLETED 1 << 16 | 9
    # << 24, + 9 dropped
    "give-both": "(u32.const 0x910976e)",
    "give-rev": "(u32.const 0x910975f)",  # the stream lowered first: 5, the own 6
    # subtask 5, set 6: the own 7, the stream 8, a new own 5 (the dropped subtask's)
    "give-both-later": "(u32.const 0x59109590)",
}


@pytest.mark.parametrize("keep", [False, True], ids=["fused", "kept-boundaries"])
def test_ends_beside_handles_of_async_host_imports_cross_as_the_original_does(
    keep: bool, wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """Fused whole; with `--keep-async-boundaries` a component boundary is kept there: the
    same results and traps."""
    assert_stand_ins_equivalent(wasm_tools, oracle_py, HERE, CASES, keep, tmp_path)


def test_the_order_handles_and_ends_move_in_is_found() -> None:
    """`_moves`: the runs of handles ("h") and ends ("e") a call moves, in the Canonical ABI's
    order; a borrowed parameter moves nothing; a list moving both counts as interleaved."""
    from pymeld.abi import types as at
    from pymeld.graph.model import ResourceType
    from pymeld.merge.asynchostvals import _moves

    r = ResourceType(0, "r", None, host_path=("r",))
    own, borrow, st = at.Own(r), at.Borrow(r), at.Stream(at.U8())

    def ft(params: list[at.ValType], result: at.ValType | None = None) -> at.FuncType:
        return at.FuncType(tuple((f"p{k}", t) for k, t in enumerate(params)), result)

    assert _moves(ft([own, st])) == (["h", "e"], [])
    assert _moves(ft([st, at.U32(), own, own])) == (["e", "h"], [])
    assert _moves(ft([st, borrow, st])) == (["e"], [])
    assert _moves(ft([own, st, own]))[0] == ["h", "e", "h"]
    assert _moves(ft([], at.Tuple((st, at.Option(own))))) == ([], ["e", "h"])
    assert _moves(ft([at.List(at.Tuple((own, st)))]))[0] == ["h", "e", "h"]
    assert _moves(ft([at.List(st), own])) == (["e", "h"], [])
