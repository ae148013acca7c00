"""Stream/future ends in values passed through memory at the host boundary beside in-module
tasks (`merge.asyncspill`): parameters spilled to memory (more than 16 flat values) of a root
export (sync, callback and stackful lifts) and of a sync host import, and an async root
export's `task.return` value spilled the same way (WASI 0.3 exports with many parameters).

`host_spill/inner.wat`: $D gets a stream and a future from $C through an async call;
`consumer.wat` stands in for the host around it (wasmtime-py takes no stream or future),
`maker.wat` for the host's import `sink-wide`. The runtime's checks of such a value's pointer
(alignment) and of its ends (the writable end, a dropped end) trap as wasmtime's do. The
oracle runs a wast of the stand-ins around the original composition against the same around
the fused one (refused on main: "stream/future in root export ... beside in-module async
tasks", "stream/future passed to host import ...").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pymeld.abi import types as at
from pymeld.fuse import FuseOptions, fuse_bytes
from support import (
    consumer_harness,
    oracle_against,
    parse_wat_file,
    stand_in_wast,
)

HERE = Path(__file__).parent / "host_spill"

#: The consumer's exports and what the original gives, or wasmtime's trap.
CASES = {
    "open-wide": "(u32.const 0x9a100021)",  # handles 1, 2; writes COMPLETED 1 / BLOCKED; 42, 7
    "open-wide-stackful": "(u32.const 0x9a100021)",
    "ret-wide-writable": "handle is not a readable end of a stream",
    "ret-wide-dropped": "unknown handle index 1",
    "ret-wide-misaligned": "unaligned pointer",
    "take-wide": "(u32.const 0x5a102a)",  # COMPLETED 1, 42, the last u32 0x5a
    "take-wide-async": "(u32.const 0x5a102a)",
    "take-wide-stackful": "(u32.const 0x5a102a)",
    "give-wide": "(u32.const 0x2a1010ff)",  # the host's read BLOCKED, 0x10; $C's write COMPLETED 1; 42
    "give-wide-dropped": "unknown handle index 1",
    "give-wide-misaligned": "unaligned pointer",
}


def _harness(wasm_tools: str, inner: bytes, tmp_path: Path, name: str) -> str:
    """The stand-ins around ``inner`` (a component binary)."""
    return consumer_harness(wasm_tools, HERE, CASES, inner, tmp_path, name, maker=True)


@pytest.mark.parametrize("keep", [False, True], ids=["fused", "kept-boundaries"])
def test_spilled_ends_cross_the_host_boundary_as_the_original_does(
    keep: bool, wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """Fused whole; with `--keep-async-boundaries` a component boundary is kept there: the
    same results and traps."""
    original = parse_wat_file(wasm_tools, (HERE / "inner.wat").read_text(), tmp_path, "inner")
    data = original.read_bytes()
    fused = fuse_bytes(data, options=FuseOptions(component=True, keep_async_boundaries=keep))
    transformed = parse_wat_file(
        wasm_tools,
        _harness(wasm_tools, fused.output, tmp_path, "fused"),
        tmp_path,
        "fused.harness",
    )
    wast = stand_in_wast(
        _harness(wasm_tools, data, tmp_path, "original"), CASES, tmp_path / "spill.wast"
    )
    r = oracle_against(oracle_py, wast, transformed, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r  # the original gave each expected value or trap
    assert r["counts"]["compared"] == 1 + 2 * len(CASES), r


#: Where the fused side's trap is the runtime's own check, which the in-place lift leaves to
#: it (a pointer not aligned: nothing lifted first, so not the lift's trap of the bytes there).
FUSED_TRAPS = {
    "ret-wide-misaligned": "unaligned pointer",
    "give-wide-misaligned": "unaligned pointer",
}


def test_a_bad_pointer_is_left_to_the_runtime_s_check(
    wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """The oracle checks only the original's messages, so the fused harness runs as the
    original of a wast of its own, with the runtime's messages expected."""
    data = parse_wat_file(
        wasm_tools, (HERE / "inner.wat").read_text(), tmp_path, "inner"
    ).read_bytes()
    fused = fuse_bytes(data, options=FuseOptions(component=True)).output
    harness = _harness(wasm_tools, fused, tmp_path, "fused")
    transformed = parse_wat_file(wasm_tools, harness, tmp_path, "fused.harness")
    wast = stand_in_wast(harness, FUSED_TRAPS, tmp_path / "fused.wast")
    r = oracle_against(oracle_py, wast, transformed, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r


def test_spilled_params_are_placed_by_offset_from_their_pointer() -> None:
    """`spilled_params`: the ends of parameters passed by pointer (more than 16 flat values),
    at their offsets in the tuple the Canonical ABI stores; [] when passed flat."""
    from pymeld.merge.asyncreturned import Place
    from pymeld.merge.asyncspill import spilled_params

    st, fu = at.Stream(at.U8()), at.Future(at.U32())

    def ft(*params: at.ValType) -> at.FuncType:
        return at.FuncType(tuple((f"p{k}", t) for k, t in enumerate(params)), None)

    pad = at.Tuple((at.U32(),) * 16)
    assert spilled_params(ft(pad, st)) == [Place(64, st)]
    assert spilled_params(ft(at.U8(), at.U64(), pad, fu)) == [Place(80, fu)]
    assert spilled_params(ft(pad, at.Option(st))) == [Place(68, st, ((64, 1, 1),))]
    assert spilled_params(ft(st, at.U32())) == []  # flat: `end_places`
    assert spilled_params(ft(pad, at.U32())) == []
    assert spilled_params(ft(pad, at.List(st))) is None
