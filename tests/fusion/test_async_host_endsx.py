"""Stream/future ends of an `async` host import lowered `async` beside in-module tasks, where
`merge.asynchostvals` walks them (`merge.asynclists.EndWalk`) rather than placing them: in
lists (`list<stream<u8>>` as a parameter and as the result), in parameters passed in memory
(more than 4 flat values for an async lower: `func(a, b, c, d: u32, s: stream<u8>)`, and a
list after 16 u32s), and nested in the payload of an end the host returns
(`future<stream<u8>>`, each copy translated by `merge.asyncnested`). WASI 0.3's shapes:
`wasi:sockets`' `stream<own<tcp-socket>>`-like payloads, functions with many parameters.

`host_endsx/inner.wat`'s $D calls the host's `async func`s (`maker.wat`, a component standing
in for the host: wasmtime-py supplies none) through async lowers, both returning at once and,
`-later`, STARTED then RETURNED (the results taken in when the proxy sees it). The runtime's
traps of such a lift (a dropped end, a pointer not aligned) are wasmtime's. The oracle runs a
wast of the stand-ins around the original composition against the same around the fused one
(refused on main: "stream/future/error-context passed to async host import ... (an end in a
list: not fused yet)", "(parameters passed in memory: not fused yet)").
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pymeld.fuse import FuseOptions, fuse_bytes
from support import (
    assert_stand_ins_equivalent,
    consumer_harness,
    oracle_against,
    parse_wat_file,
    stand_in_wast,
)

HERE = Path(__file__).parent / "host_endsx"

#: $D's exports (inner.wat) and what the original gives, or wasmtime's trap.
CASES = {
    # the host's reads BLOCKED (0xff each) | length 2 << 12; $C's writes << 8; 42 + 43 << 20
    "give-list": "(u32.const 0x571fffe)",
    "give-list-later": "(u32.const 0x1571fffe)",  # the same; subtask 1 (a freed index)
    "give-list-dropped": "unknown handle index 3",
    "give-list-oob": "list content out-of-bounds",
    "give-wide": "(u32.const 0x2bafeff)",  # one read | 1 + 2 + 3 + 4 << 16, 42 << 20
    "give-wide-dropped": "unknown handle index 1",
    "give-wide-misaligned": "unaligned pointer",
    "give-wide-list": "(u32.const 0x571fffe)",
    # the host's streams (handles 1 + 2 << 20) read: COMPLETED 1 each << 8, 42 + 43, 2 << 16
    "get-list": "(u32.const 0x322055)",
    "get-list-later": "(u32.const 0x10722055)",  # subtask 1, set 2: the streams 3 + 4
    "get-nested": "(u32.const 0x102102c)",  # the future 1, its stream 2, COMPLETED 1, 44
    "get-both": "(u32.const 0x1278000d)",
    "give-nested": "(u32.const 0x3dff0303)",  # future COMPLETED, the host's read 45, subtask 1
}


def _harness(wasm_tools: str, inner: bytes, tmp_path: Path, name: str) -> str:
    """The stand-ins around ``inner`` (a component binary)."""
    return consumer_harness(wasm_tools, HERE, CASES, inner, tmp_path, name, maker=True)


def _inner(wasm_tools: str, tmp_path: Path) -> bytes:
    return parse_wat_file(
        wasm_tools, (HERE / "inner.wat").read_text(), tmp_path, "inner"
    ).read_bytes()


@pytest.mark.parametrize("keep", [False, True], ids=["fused", "kept-boundaries"])
def test_walked_ends_of_async_host_imports_cross_as_the_original_does(
    keep: bool, wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """Fused whole; with `--keep-async-boundaries` a component boundary is kept there: the
    same results and traps."""
    assert_stand_ins_equivalent(wasm_tools, oracle_py, HERE, CASES, keep, tmp_path)


def test_a_bad_parameter_pointer_is_left_to_the_runtime_s_check(
    wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """The oracle checks only the original's messages, so the fused harness runs as the
    original of a wast of its own: parameters passed by a pointer not aligned and a list past
    the memory's end trap with the runtime's messages (nothing lifted first from the bytes
    there, which are not handles)."""
    fused = fuse_bytes(_inner(wasm_tools, tmp_path), options=FuseOptions(component=True))
    harness = _harness(wasm_tools, fused.output, tmp_path, "fused")
    transformed = parse_wat_file(wasm_tools, harness, tmp_path, "fused.h")
    cases = {
        "give-wide-misaligned": "unaligned pointer",
        "give-list-oob": "list content out-of-bounds",
    }
    r = oracle_against(
        oracle_py, stand_in_wast(harness, cases, tmp_path / "f.wast"), transformed, tmp_path
    )
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r


def test_nested_ends_of_an_async_host_import_alone_are_planned(
    wasm_tools: str, tmp_path: Path
) -> None:
    """The payload hand-overs of an end only an async host import shares (nothing else
    planned the undo log its writes use) are planned too: the output validates."""
    data = parse_wat_file(
        wasm_tools, (HERE / "nested-only.wat").read_text(), tmp_path, "nested"
    ).read_bytes()
    out = tmp_path / "fused.wasm"
    out.write_bytes(fuse_bytes(data, options=FuseOptions(component=True)).output)
    subprocess.run([wasm_tools, "validate", "--features", "all", str(out)], check=True)
