"""`pymeld.dwarf.remap` on damaged and unusual DWARF: never an exception or a half-written
section, only the instance's DWARF dropped with a reason."""

from __future__ import annotations

import struct
import subprocess
import sys
from functools import cache, partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymeld.api import core_module_sections
from pymeld.codec.component.parse import parse_component
from pymeld.codec.core.parse import parse_module
from pymeld.dwarf import remap
from pymeld.dwarf.reader import DwarfError, read_units
from pymeld.dwarf.remap import DwarfInput, DwarfStats, _rewrite_lists, remap_dwarf
from pymeld.dwarf.tally import Tally
from pymeld.fuse import fuse_bytes
from support import RunsMap

DATA = Path(__file__).parent.parent / "data" / "dwarf"


class Shift:
    """A stand-in address map: every address in [3, 0x400) moves by 0x10."""

    def map(self, addr: int) -> int | None:
        return addr + 0x10 if 3 <= addr < 0x400 else None

    def step(self, addr: int) -> tuple[float, float, int | None]:
        to = self.map(addr)
        return addr, addr + 1, None if to is None else to - addr

    def dead(self, addr: int) -> bool:
        return addr >= 0x400

    def spans_code(self, start: int, end: int) -> bool:
        return 3 <= start <= end < 0x400


@cache
def sections(name: str) -> dict[str, bytes]:
    comp = parse_component((DATA / name).read_bytes())
    for s in core_module_sections(comp):
        m = parse_module(bytes(s.data))
        secs = {c.name: bytes(c.data) for c in m.customs if c.name.startswith(".debug_")}
        if secs:
            return secs
    raise AssertionError("no DWARF")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["composed.wasm", "composed-dwarf5.wasm"]),
    st.data(),
)
def test_damaged_dwarf_is_dropped_or_rewritten(name: str, data: st.DataObject) -> None:
    secs = dict(sections(name))
    target = data.draw(st.sampled_from(sorted(secs)))
    raw = bytearray(secs[target])
    how = data.draw(st.sampled_from(["truncate", "flip", "zero"]))
    at = data.draw(st.integers(0, len(raw) - 1))
    if how == "truncate":
        del raw[at:]
    elif how == "flip":
        raw[at] ^= data.draw(st.integers(1, 255))
    else:
        raw[at : at + 4] = bytes(len(raw[at : at + 4]))
    secs[target] = bytes(raw)
    stats = DwarfStats()
    out = remap_dwarf([DwarfInput("m", secs, Shift())], stats)
    if stats.instances_dropped:
        assert out == [] and stats.instances == 0
    else:
        assert stats.instances == 1 and dict(out)[".debug_info"]


def _both_ways(
    monkeypatch: pytest.MonkeyPatch, secs: dict[str, bytes]
) -> list[tuple[list[tuple[str, bytes]], DwarfStats]]:
    """`remap_dwarf` with values listed by position (the default), then with every DIE
    recorded whole (`read_units(whole=True)`, what the position lists stand for)."""
    out = []
    for whole in (False, True):
        with monkeypatch.context() as m:
            m.setattr(remap, "read_units", partial(read_units, whole=whole))
            stats = DwarfStats()
            out.append((remap_dwarf([DwarfInput("m", secs, Shift())], stats), stats))
    return out


@pytest.mark.parametrize("name", ["composed.wasm", "composed-dwarf5.wasm", "twice.wasm"])
def test_listed_values_are_rewritten_as_in_their_dies(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (listed, listed_stats), (whole, whole_stats) = _both_ways(monkeypatch, sections(name))
    assert listed == whole and listed
    assert listed_stats == whole_stats and not listed_stats.instances_dropped


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_damaged_listed_values_are_dropped_or_rewritten_as_in_their_dies(
    data: st.DataObject,
) -> None:
    """On damaged DWARF both ways drop the instance or both give the same sections (the
    reason may differ when it has several faults: they are met in another order)."""
    secs = dict(sections("composed.wasm"))
    raw = bytearray(secs[".debug_info"])
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    secs[".debug_info"] = bytes(raw)
    with pytest.MonkeyPatch.context() as monkeypatch:
        (listed, listed_stats), (whole, whole_stats) = _both_ways(monkeypatch, secs)
    assert bool(listed_stats.instances_dropped) == bool(whole_stats.instances_dropped)
    assert listed == whole


def test_a_real_build_fuses_to_the_same_bytes_either_way(
    corpus_components: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """jco-utf8-utf16 (39 units of clang and rustc DWARF 4): whole module, --stats too."""
    data = (corpus_components / "repo-prebuilt" / "jco-utf8-utf16.composed.wasm").read_bytes()
    listed = fuse_bytes(data)
    monkeypatch.setattr(remap, "read_units", partial(read_units, whole=True))
    whole = fuse_bytes(data)
    assert listed.output == whole.output
    assert {k: v for k, v in listed.stats.items() if k.startswith("dwarf_") and "ms" not in k} == {
        k: v for k, v in whole.stats.items() if k.startswith("dwarf_") and "ms" not in k
    }


def test_intact_dwarf_moves_and_counts() -> None:
    for name in ("composed.wasm", "composed-dwarf5.wasm"):
        stats = DwarfStats()
        out = dict(remap_dwarf([DwarfInput("m", sections(name), Shift())], stats))
        assert not stats.instances_dropped and stats.line.rows > 50
        assert stats.pcs.mapped > 0 and stats.pcs.dropped == 0
        assert out[".debug_info"] != sections(name)[".debug_info"]


def test_two_copies_concatenate_with_shifted_offsets() -> None:
    secs = sections("composed.wasm")
    stats = DwarfStats()
    out = dict(remap_dwarf([DwarfInput("a", secs, Shift()), DwarfInput("b", secs, Shift())], stats))
    assert stats.instances == 2
    for name in (".debug_abbrev", ".debug_str"):
        assert out[name] == secs[name] * 2
    info = out[".debug_info"]
    half = len(info) // 2
    # the second unit's abbreviation offset points at the second copy of the table
    assert int.from_bytes(info[half + 6 : half + 10], "little") == len(secs[".debug_abbrev"])
    # and its string offsets point at the second copy of .debug_str
    units = read_units(info, out[".debug_abbrev"])
    first, second = units[: len(units) // 2], units[len(units) // 2 :]
    assert sum(len(u.strp) for u in first) > 20
    for a, b in zip(first, second, strict=True):
        assert [p + half for p in a.strp] == b.strp
        for p in a.strp:
            old = int.from_bytes(info[p : p + 4], "little")
            assert int.from_bytes(info[p + half : p + half + 4], "little") == old + len(
                secs[".debug_str"]
            )


def test_unsupported_dwarf_says_why() -> None:
    secs = dict(sections("composed.wasm"))
    info = bytearray(secs[".debug_info"])
    info[4:6] = (6).to_bytes(2, "little")  # a future DWARF version
    secs[".debug_info"] = bytes(info)
    stats = DwarfStats()
    assert remap_dwarf([DwarfInput("m", secs, Shift())], stats) == []
    assert stats.instances_dropped == ["m: DWARF version 6 is not supported (2-5 are)"]


def test_location_lists_lose_unmappable_entries_in_place() -> None:
    """An entry that cannot be mapped goes, the kept ones close up and the list ends early;
    the bytes it freed are zero (end-of-list), and the next list stays where it was."""

    def entry(begin: int, end: int, expr: bytes) -> bytes:
        return struct.pack("<IIH", begin, end, len(expr)) + expr

    first = (
        entry(0x10, 0x20, b"\x91\x08")
        + entry(0x500, 0x510, b"\x50")  # past the mapped code: dead
        + struct.pack("<II", 0xFFFFFFFF, 0x100)  # base address 0x100
        + entry(0x4, 0x8, b"\x52\x9f")
        + bytes(8)
    )
    second = entry(0x30, 0x3F, b"\x53") + bytes(8)
    data = first + second
    refs = {0: (0, 0), len(first): (0, 0)}
    stats = DwarfStats()
    out = _rewrite_lists(data, refs, Shift(), stats, True)
    kept = (
        entry(0x20, 0x30, b"\x91\x08")
        + struct.pack("<II", 0xFFFFFFFF, 0x110)
        + entry(0x4, 0x8, b"\x52\x9f")
    )
    assert out == kept + bytes(len(first) - len(kept)) + entry(0x40, 0x4F, b"\x53") + bytes(8)
    assert (stats.locs.mapped, stats.locs.dead) == (3, 1)
    with pytest.raises(DwarfError, match="unexpected end"):
        _rewrite_lists(data[:-3], refs, Shift(), DwarfStats(), True)


entry_st = st.one_of(
    st.tuples(st.integers(1, 0x420), st.integers(0, 0x40), st.binary(max_size=3)),
    st.tuples(st.just(-1), st.integers(0x20, 0x300), st.just(b"")),  # a base address
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(entry_st, max_size=6), min_size=1, max_size=5),
    st.lists(st.tuples(st.integers(0, 0x400), st.one_of(st.none(), st.integers(-8, 40)))),
    st.booleans(),
)
def test_lists_keep_the_entries_the_map_moves(
    lists: list[list[tuple[int, int, bytes]]],
    cuts: list[tuple[int, int | None]],
    loc: bool,
) -> None:
    """Range and location lists under a map of many runs: each kept entry is the input's
    moved (relative to the moved base), in order, the others gone; every list stays where
    it was and ends with zeros."""
    amap = RunsMap(cuts, dead_from=0x400)
    data, refs, want = b"", {}, b""
    for entries in lists:
        start = len(data)
        moved = amap.map(0x10)
        refs[start] = (0x10, 0x10 if moved is None else moved)
        old_base, new_base = refs[start]
        body, kept = b"", b""
        for begin, size, expr in entries:
            tail = struct.pack("<H", len(expr)) + expr if loc else b""
            if begin < 0:
                body += struct.pack("<II", 0xFFFFFFFF, size)
                moved = amap.map(size)
                old_base, new_base = size, size if moved is None else moved
                kept += struct.pack("<II", 0xFFFFFFFF, new_base)
                continue
            body += struct.pack("<II", begin, begin + size) + tail
            nb, ne = amap.map(old_base + begin), amap.map(old_base + begin + size)
            if nb is not None and ne is not None and new_base <= nb <= ne:
                kept += struct.pack("<II", nb - new_base, ne - new_base) + tail
        body += bytes(8)
        data += body
        want += kept + bytes(len(body) - len(kept))
    stats = DwarfStats()
    assert _rewrite_lists(data, refs, amap, stats, loc) == want
    tally = stats.locs if loc else stats.ranges
    assert (
        tally.mapped
        == sum(1 for es in lists for b, _, _ in es if b >= 0) - tally.dropped - tally.dead
    )


@pytest.mark.parametrize(
    ("name", "loaded"), [("composed.wasm", False), ("composed-dwarf5.wasm", True)]
)
def test_dwarf4_remap_leaves_the_dwarf5_tables_unloaded(name: str, loaded: bool) -> None:
    """`pymeld.dwarf.v5` is loaded for an input with DWARF 5 units or tables only (the
    DWARF 4 build's remap has no use for it), and the remap of either is the same with it
    loaded beforehand."""
    code = (
        "import sys; from pathlib import Path; from pymeld.fuse import fuse_bytes\n"
        f"out = fuse_bytes(Path({str(DATA / name)!r}).read_bytes())\n"
        "print('pymeld.dwarf.v5' in sys.modules, out.stats['dwarf_line_rows'])\n"
        "import pymeld.dwarf.v5\n"
        "again = fuse_bytes(Path(sys.argv[1]).read_bytes())\n"
        "print(again.output == out.output)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, str(DATA / name)], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    first, same = p.stdout.splitlines()
    assert first.startswith(f"{loaded} ") and "remapped in 8 kept sequences" in first
    assert same == "True"


@given(st.integers(0, 5), st.lists(st.integers(0, 0x800)))
def test_tally_of_lost_addresses_is_per_address_counting(mapped: int, lost: list[int]) -> None:
    """`Tally.lost` (a loop's addresses that map nowhere, told dead or dropped at once)
    counts as `Tally.count` called for each."""
    one, bulk = Tally(), Tally()
    for _ in range(mapped):
        one.count(Shift(), 0x10, 0x20)
    for addr in lost:
        one.count(Shift(), addr, None)
    bulk.lost(Shift(), mapped, lost)
    assert (bulk.mapped, bulk.dropped, bulk.dead) == (one.mapped, one.dropped, one.dead)
