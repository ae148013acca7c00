"""The fast body patcher (`patch_sites` + `apply_patches`) gives what the general walk gives.

`rewrite_body` takes the fast path and falls back to the general walk (`walk_body`) only when
`patch_sites` declines; both must agree byte for byte on every body the fast path finishes.
"""

from __future__ import annotations

import pytest

from pymeld.codec.core.instructions import (
    IndexMaps,
    PatchTable,
    apply_patches,
    patch_sites,
    rewrite_body,
    walk_body,
)
from pymeld.errors import DecodeError

MAPS = IndexMaps(
    type=[5, 6, 7],
    func=[200, 1, 2, 3],
    table=[0, 3],
    memory=[2, 0],
    global_=[130, 1],
    data=[4],
    elem=[1],
)

BODIES = {
    "calls and globals": bytes.fromhex("2300 2401 1000 1003 0b"),
    "padded LEBs stay padded when unchanged": bytes.fromhex("2381808080 00 1a 1081808080 00 0b"),
    "memarg without and with a memory index": bytes.fromhex("4100 2802 00 1a 4100 284201 04 1a 0b"),
    "call_indirect, blocks and a typed block": bytes.fromhex("0240 4100 110001 0b 0201 0b 0b"),
    "bulk memory": bytes.fromhex("4100 4100 4100 fc0a0100 4100 4100 4100 fc0b01 0b"),
    "br_table": bytes.fromhex("0240 4100 0e020000 00 0b 0b"),
    # prefixed opcodes the fast path does not know: 0xFD (SIMD), 0xFB (GC), 0xFE (atomics)
    "simd load (0xfd: the general walk)": bytes.fromhex("4100 fd000000 1a 0b"),
    "gc ref.i31 then table.set": bytes.fromhex("4100 fb1c 2601 0b"),
    "atomic load": bytes.fromhex("4100 fe100200 1a 0b"),
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_fast_path_matches_general_walk(name: str) -> None:
    body = BODIES[name]
    assert rewrite_body(body, MAPS) == walk_body(body, MAPS)


def test_prefixed_opcodes_are_declined() -> None:
    """A prefix byte is not an index: main took 0xFD/0xFB/0xFE for a one-index opcode and then
    decoded their immediates as instructions (a SIMD load's memory was not remapped)."""
    for name in ("simd load (0xfd: the general walk)", "gc ref.i31 then table.set", "atomic load"):
        assert patch_sites(BODIES[name]) is None, name
    out = rewrite_body(BODIES["simd load (0xfd: the general walk)"], MAPS)
    assert out == bytes.fromhex("4100 fd004002 00 1a 0b")  # memory 0 -> 2 (main: unchanged)


def test_one_table_serves_many_bodies() -> None:
    table = PatchTable(MAPS)
    for name, body in sorted(BODIES.items()):
        sites = patch_sites(body)
        if sites is not None:
            assert apply_patches(body, sites, table) == walk_body(body, MAPS), name


def test_missing_mapping_is_the_walks_error() -> None:
    body = bytes.fromhex("1009 0b")  # call 9: the func map has 4 entries
    sites = patch_sites(body)
    assert sites is not None and apply_patches(body, sites, PatchTable(MAPS)) is None
    with pytest.raises(DecodeError, match="func index 9 has no mapping"):
        rewrite_body(body, MAPS)


def test_unchanged_body_keeps_its_bytes() -> None:
    for body in (bytes.fromhex("2001 1a 0b"), bytes.fromhex("2381808080 00 2401 0b")):
        sites = patch_sites(body)
        assert sites is not None and apply_patches(body, sites, PatchTable(MAPS)) == body


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 1 << 20, (1 << 32) - 1])
def test_padded_immediates_round_trip(value: int) -> None:
    """An unchanged immediate is written from its value and length: every LEB length the
    decoder accepts for the value comes back byte for byte."""
    from pymeld.codec.binary import uleb

    minimal = len(uleb(value))
    for n in range(minimal, 6):
        leb = bytes(((value >> 7 * i) & 0x7F) | (0x80 if i < n - 1 else 0) for i in range(n))
        body = b"\x23" + leb + b"\x1a\x0b"  # global.get (global 1 maps to itself)
        maps = IndexMaps(global_={value: value}.__getitem__)
        assert rewrite_body(body, maps) == body == walk_body(body, maps)


@pytest.mark.parametrize("memory", [[0, 1], [1, 0], [2, 0], [0, 0]])
def test_memargs_under_memory_maps(memory: list[int]) -> None:
    """Memory 0 that stays 0 keeps each memarg's bytes; moved, a memarg without an index gets
    ``flags | 0x40`` and the index; one with an index gets its index remapped. One table
    serves the loads and stores of several alignments (its per-flags cache)."""
    maps = IndexMaps(memory=memory)
    table = PatchTable(maps)
    bodies = [
        bytes.fromhex("4100 2802 00 1a 4100 2802 08 1a 4100 2d00 00 1a 0b"),
        bytes.fromhex("4100 4100 3602 04 4100 284201 00 1a 4100 284200 00 1a 0b"),
    ]
    for body in bodies:
        sites = patch_sites(body)
        assert sites is not None
        assert apply_patches(body, sites, table) == walk_body(body, maps)
    if memory[0] == 0:
        assert apply_patches(bodies[0], patch_sites(bodies[0]) or [], table) == bodies[0]
