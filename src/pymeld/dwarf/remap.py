"""One set of ``.debug_*`` sections for the fused module, remapped from every input instance's.

Each module instance that carries DWARF contributes its own copy of its compilation units
(two instances of one module give two copies, each pointing at its own code), concatenated in
instance order. Within a copy:

* code addresses (``DW_FORM_addr``/``addrx`` values, ``DW_AT_high_pc`` lengths, range and
  location list entries, ``.debug_aranges`` entries, line rows) go through the instance's exact
  `InstanceMap`; entries that cannot be mapped are dropped (lists are compacted in place, so
  every other offset stays valid) and counted;
* offsets into another section are shifted by where that section's copy starts in the output
  (``DW_FORM_strp``/``line_strp``, ``DW_FORM_ref_addr``, abbreviation offsets, list pointers,
  ``DW_AT_*_base``), and ``DW_AT_stmt_list`` and DWARF 5 list references follow the rebuilt
  line tables and lists.

DWARF 2-5 in the 32-bit format is rewritten (the DWARF 5 tables in `pymeld.dwarf.v5`);
anything else (split or type units, 64-bit DWARF, unknown forms) is dropped for that instance
with the reason in the statistics — never copied with stale addresses. Sections other than
the ones in `SECTIONS` (``.debug_pubnames``, ``.debug_names``, ``.debug_frame``, ...) are
dropped and counted.
"""

from __future__ import annotations

import struct
from dataclasses import field

from pymeld._dataclass import dataclass
from pymeld.dwarf.lines import LineStats, rewrite_lines
from pymeld.dwarf.reader import (
    ADDRX_FORMS,
    AT_RANGES,
    FORM_ADDR,
    FORM_DATA4,
    FORM_LINE_STRP,
    FORM_REF_ADDR,
    FORM_SEC_OFFSET,
    FORM_STRP,
    FORM_UDATA,
    LOC_ATTRS,
    Cur,
    DwarfError,
    Unit,
    read_units,
)
from pymeld.dwarf.tally import Tally

TYPE_CHECKING = False  # not `typing`'s: it stays unrun in a fusion
if TYPE_CHECKING:
    from pymeld.dwarf.lines import AddrMap
    from pymeld.dwarf.v5 import AddrTable, ListContext, Lists

#: Sections only DWARF 5 has: with none of them and no DWARF 5 unit, `pymeld.dwarf.v5` is
#: not loaded (a DWARF 4 build's remap runs none of it).
_V5_SECTIONS = (".debug_addr", ".debug_rnglists", ".debug_loclists", ".debug_str_offsets")

__all__ = ["DwarfInput", "DwarfStats", "Tally", "remap_dwarf"]

#: Rewritten sections, in the order clang/wasm-ld emit them.
SECTIONS = (
    ".debug_info",
    ".debug_loc",
    ".debug_loclists",
    ".debug_ranges",
    ".debug_aranges",
    ".debug_abbrev",
    ".debug_line",
    ".debug_str",
    ".debug_line_str",
    ".debug_str_offsets",
    ".debug_rnglists",
    ".debug_addr",
)

_AT_LOW_PC = 0x11
_AT_HIGH_PC = 0x12
_AT_STMT_LIST = 0x10
_AT_RANGES = AT_RANGES
_AT_STR_OFFSETS_BASE = 0x72
_AT_ADDR_BASE = 0x73
_AT_RNGLISTS_BASE = 0x74
_AT_LOCLISTS_BASE = 0x8C
_LOC_ATTRS = LOC_ATTRS
_TOMBSTONE = 0xFFFFFFFF
_U32 = struct.Struct("<I").unpack_from
_P32 = struct.Struct("<I").pack_into
_U32X2 = struct.Struct("<II").unpack_from
_P32X2 = struct.Struct("<II").pack_into


@dataclass(slots=True)
class DwarfStats:
    """What the remap did, for ``--stats``."""

    instances: int = 0
    line: LineStats = field(default_factory=LineStats)
    pcs: Tally = field(default_factory=Tally)
    ranges: Tally = field(default_factory=Tally)
    locs: Tally = field(default_factory=Tally)
    aranges: Tally = field(default_factory=Tally)
    functions_uncovered: int = 0
    sections_dropped: dict[str, int] = field(default_factory=dict)
    instances_dropped: list[str] = field(default_factory=list)

    def add(self, other: DwarfStats) -> None:
        self.instances += other.instances
        self.functions_uncovered += other.functions_uncovered
        for t in ("pcs", "ranges", "locs", "aranges"):
            getattr(self, t).add(getattr(other, t))
        for name in ("rows", "sequences", "sequences_dropped", "sequences_dead"):
            setattr(self.line, name, getattr(self.line, name) + getattr(other.line, name))


@dataclass(slots=True)
class DwarfInput:
    """One module instance's DWARF: its label, its ``.debug_*`` sections, its address map."""

    label: str
    sections: dict[str, bytes]
    amap: AddrMap
    functions_uncovered: int = 0


def remap_dwarf(inputs: list[DwarfInput], stats: DwarfStats) -> list[tuple[str, bytes]]:
    """The fused module's DWARF sections (name, bytes), in `SECTIONS` order, empty ones left out."""
    acc: dict[str, bytearray] = {name: bytearray() for name in SECTIONS}
    for inp in inputs:
        for name in sorted(inp.sections):
            if name not in SECTIONS:
                stats.sections_dropped[name] = stats.sections_dropped.get(name, 0) + 1
        local = DwarfStats(instances=1, functions_uncovered=inp.functions_uncovered)
        bases = {name: len(acc[name]) for name in SECTIONS}
        try:
            out = _rewrite_instance(inp.sections, inp.amap, bases, local)
        except DwarfError as e:
            stats.instances_dropped.append(f"{inp.label}: {e}")
            continue
        except struct.error as e:  # a value written in place (`_P32`) that does not fit
            stats.instances_dropped.append(f"{inp.label}: {e}")
            continue
        for name, data in out.items():
            acc[name].extend(data)
        stats.add(local)
    return [(name, bytes(acc[name])) for name in SECTIONS if acc[name]]


def _put(buf: bytearray, pos: int, width: int, form: int, value: int) -> None:
    """Overwrite a value in place, keeping its byte width (LEBs are padded to it)."""
    if value < 0:
        raise DwarfError(f"negative value {value} at 0x{pos:x}")
    if form == FORM_UDATA:
        if value >> (7 * width):
            raise DwarfError(f"value 0x{value:x} does not fit its {width}-byte LEB at 0x{pos:x}")
        for i in range(width):
            byte = (value >> (7 * i)) & 0x7F
            buf[pos + i] = byte | (0x80 if i < width - 1 else 0)
        return
    if value >> (8 * width):
        raise DwarfError(f"value 0x{value:x} does not fit {width} bytes at 0x{pos:x}")
    buf[pos : pos + width] = value.to_bytes(width, "little")


#: What a DWARF 2-4 range or location list is relative to: its unit's base address before and
#: after the remap (one tuple per unit, for every list a DIE of it names first).
_ListRef = tuple[int, int]


@dataclass(slots=True)
class _Ctx:
    """Per-instance state of one rewrite: bases, maps and the tables being rewritten."""

    amap: AddrMap
    bases: dict[str, int]
    st: DwarfStats
    addr_data: bytes  # .debug_addr, read through `addr` (`_addr_table`)
    addr: AddrTable | None = None
    line_offsets: dict[int, int] = field(default_factory=dict)
    range_refs: dict[int, _ListRef] = field(default_factory=dict)  # DWARF 2-4
    loc_refs: dict[int, _ListRef] = field(default_factory=dict)
    rnglists: Lists | None = None  # DWARF 5
    loclists: Lists | None = None


def _addr_table(cx: _Ctx) -> AddrTable:
    """The instance's ``.debug_addr`` table, made (and `pymeld.dwarf.v5` loaded) when first
    used: a DWARF 4 build uses none."""
    if cx.addr is None:
        from pymeld.dwarf.v5 import AddrTable

        cx.addr = AddrTable(cx.addr_data)
    return cx.addr


def _unit_facts(unit: Unit, cx: _Ctx) -> tuple[int | None, int]:
    """(DW_AT_addr_base, base address) of a unit, from its unit DIE."""
    die = unit.dies[0] if unit.dies else []
    addr_base = next((a.value for a in die if a.attr == _AT_ADDR_BASE), None)
    low = next((a for a in die if a.attr == _AT_LOW_PC), None)
    if low is None:
        return addr_base, 0
    if low.form in ADDRX_FORMS:
        return addr_base, _addr_table(cx).get(addr_base, low.value)
    return addr_base, low.value


def _rewrite_instance(
    secs: dict[str, bytes], amap: AddrMap, bases: dict[str, int], st: DwarfStats
) -> dict[str, bytes]:
    info = secs.get(".debug_info")
    if not info:
        raise DwarfError("no .debug_info section")
    shifted = tuple(bases[name] != 0 for name in (".debug_str", ".debug_line_str", ".debug_info"))
    units = read_units(info, secs.get(".debug_abbrev", b""), shifted)
    cx = _Ctx(amap, bases, st, secs.get(".debug_addr", b""))
    v5 = any(unit.version >= 5 for unit in units) or any(n in secs for n in _V5_SECTIONS)
    if v5:  # DWARF 5 lists first: their new offsets are patched into .debug_info below
        _rewrite_lists5(secs, units, cx)
    lines, cx.line_offsets = rewrite_lines(
        secs.get(".debug_line", b""),
        amap,
        st.line,
        bases[".debug_str"],
        bases[".debug_line_str"],
    )
    out_info = bytearray(info)
    for unit in units:
        _put(
            out_info,
            unit.abbrev_offset_pos,
            4,
            FORM_DATA4,
            unit.abbrev_offset + bases[".debug_abbrev"],
        )
        _rewrite_unit(unit, out_info, cx)
    out: dict[str, bytes] = {
        ".debug_info": bytes(out_info),
        ".debug_abbrev": secs.get(".debug_abbrev", b""),
        ".debug_str": secs.get(".debug_str", b""),
        ".debug_line_str": secs.get(".debug_line_str", b""),
        ".debug_line": lines,
    }
    if ".debug_ranges" in secs:
        out[".debug_ranges"] = _rewrite_lists(secs[".debug_ranges"], cx.range_refs, amap, st, False)
    if ".debug_loc" in secs:
        out[".debug_loc"] = _rewrite_lists(secs[".debug_loc"], cx.loc_refs, amap, st, True)
    if ".debug_aranges" in secs:
        out[".debug_aranges"] = _rewrite_aranges(secs[".debug_aranges"], amap, bases, st)
    if cx.rnglists is not None:
        out[".debug_rnglists"] = cx.rnglists.data
    if cx.loclists is not None:
        out[".debug_loclists"] = cx.loclists.data
    if ".debug_str_offsets" in secs:
        from pymeld.dwarf.v5 import rewrite_str_offsets

        out[".debug_str_offsets"] = rewrite_str_offsets(
            secs[".debug_str_offsets"], bases[".debug_str"]
        )
    if ".debug_addr" in secs:
        out[".debug_addr"] = _addr_table(cx).rewrite(amap)[0]
    return out


def _rewrite_lists5(secs: dict[str, bytes], units: list[Unit], cx: _Ctx) -> None:
    """``.debug_rnglists`` and ``.debug_loclists`` into ``cx``, each list read with the bases
    of the first DWARF 5 unit naming it."""
    from pymeld.dwarf.v5 import ListContext, rewrite_lists5

    rng_ctx: dict[int, ListContext] = {}
    loc_ctx: dict[int, ListContext] = {}
    for unit in units:
        if unit.version < 5:
            continue
        addr_base, base = _unit_facts(unit, cx)
        lc = ListContext(base, addr_base)
        for die in unit.dies:
            for a in die:
                if a.attr == _AT_RNGLISTS_BASE or (
                    a.attr == _AT_RANGES and a.form == FORM_SEC_OFFSET
                ):
                    rng_ctx.setdefault(a.value, lc)
                elif a.attr == _AT_LOCLISTS_BASE or (
                    a.attr in _LOC_ATTRS and a.form == FORM_SEC_OFFSET
                ):
                    loc_ctx.setdefault(a.value, lc)
    amap, st = cx.amap, cx.st
    if ".debug_rnglists" in secs:
        cx.rnglists = rewrite_lists5(
            secs[".debug_rnglists"], False, rng_ctx, _addr_table(cx), amap, st.ranges
        )
    if ".debug_loclists" in secs:
        cx.loclists = rewrite_lists5(
            secs[".debug_loclists"], True, loc_ctx, _addr_table(cx), amap, st.locs
        )


def _rewrite_unit(unit: Unit, buf: bytearray, cx: _Ctx) -> None:
    amap, st, bases = cx.amap, cx.st, cx.bases
    addr_base, old_base = _unit_facts(unit, cx)
    new_base = old_base if old_base == 0 else amap.map(old_base)
    if new_base is None:
        new_base = old_base
    ref = (old_base, new_base)
    amap_map = amap.map
    for n, die in enumerate(unit.dies):
        low = None
        for a in die:
            if a.attr == _AT_LOW_PC:
                if a.form == FORM_ADDR or a.form in ADDRX_FORMS:
                    low = a
                break
        old_low = new_low = None
        if low is not None:
            old_low = (
                _addr_table(cx).mark_code(addr_base, low.value)
                if low.form in ADDRX_FORMS
                else low.value
            )
            if n == 0 and old_low == 0:
                new_low = 0  # a unit base of 0: its ranges are absolute, nothing to move
            else:
                new_low = amap_map(old_low)
                st.pcs.count(amap, old_low, new_low)
            if low.form == FORM_ADDR:
                _P32(buf, low.pos, _TOMBSTONE if new_low is None else new_low)
        for a in die:
            if a is low:
                continue
            if a.form == FORM_ADDR or a.form in ADDRX_FORMS:
                if a.form in ADDRX_FORMS:
                    old = _addr_table(cx).mark_code(addr_base, a.value)
                else:
                    old = a.value
                v = (
                    None
                    if a.attr == _AT_HIGH_PC and low is not None and new_low is None
                    else amap_map(old)
                )
                st.pcs.count(amap, old, v)
                if a.form == FORM_ADDR:
                    _P32(buf, a.pos, _TOMBSTONE if v is None else v)
            elif a.attr == _AT_HIGH_PC:
                if old_low is None:
                    raise DwarfError("DW_AT_high_pc as a length without DW_AT_low_pc")
                end = None if new_low is None else amap_map(old_low + a.value)
                length = 0 if end is None or new_low is None else end - new_low
                _put(buf, a.pos, a.width, a.form, length)
            elif a.form == FORM_STRP:  # (of an attribute read by name: see `reader._plan`)
                _put(buf, a.pos, 4, a.form, a.value + bases[".debug_str"])
            elif a.form == FORM_LINE_STRP:
                _put(buf, a.pos, 4, a.form, a.value + bases[".debug_line_str"])
            elif a.form == FORM_REF_ADDR:
                _put(buf, a.pos, a.width, a.form, a.value + bases[".debug_info"])
            elif a.form == FORM_SEC_OFFSET or (unit.version < 4 and a.form == FORM_DATA4):
                _section_offset(unit, a.attr, a.pos, a.value, buf, cx, ref)
    _listed_values(unit, buf, cx, ref)
    _shift(buf, unit.strp, bases[".debug_str"])
    _shift(buf, unit.line_strp, bases[".debug_line_str"])
    _shift(buf, unit.ref_addr, bases[".debug_info"])


def _listed_values(unit: Unit, buf: bytearray, cx: _Ctx, ref: _ListRef) -> None:
    """The values `read_units` listed by position (see `Unit`), each kind in one loop: what
    `_rewrite_unit` does to them in their DIEs (`read_units` with ``whole`` keeps them
    there), without going through every attribute of every DIE; addresses go through the
    map's last steps (`InstanceMap.step`): a unit's DIEs mostly come in address order."""
    for positions, refs, name in (
        (unit.locs, cx.loc_refs, ".debug_loc"),
        (unit.ranges, cx.range_refs, ".debug_ranges"),
    ):
        named = refs.setdefault  # the first DIE naming a list gives its bases
        for pos in positions:
            named(_U32(buf, pos)[0], ref)
        _shift(buf, positions, cx.bases[name])
    amap = cx.amap
    step = amap.step
    lo: float = 0
    hi: float = 0
    lo_end: float = 0
    hi_end: float = 0
    delta: int | None = None
    delta_end: int | None = None
    mapped = 0
    lost: list[int] = []  # addresses that map nowhere
    for pos in unit.pcs:
        old = _U32(buf, pos)[0]
        if not lo <= old < hi:
            lo, hi, delta = step(old)
        if delta is None:
            lost.append(old)
            _P32(buf, pos, _TOMBSTONE)
        else:
            mapped += 1
            _P32(buf, pos, old + delta)
    for low, high in zip(unit.lows, unit.highs, strict=True):
        old = _U32(buf, low)[0]
        if not lo <= old < hi:
            lo, hi, delta = step(old)
        if delta is None:
            lost.append(old)
            _P32(buf, low, _TOMBSTONE)
            _P32(buf, high, 0)
            continue
        mapped += 1
        new = old + delta
        _P32(buf, low, new)
        end = old + _U32(buf, high)[0]
        if not lo_end <= end < hi_end:
            lo_end, hi_end, delta_end = step(end)
        length = 0 if delta_end is None else end + delta_end - new
        if length < 0:
            raise DwarfError(f"negative value {length} at 0x{high:x}")
        _P32(buf, high, length)
    cx.st.pcs.lost(amap, mapped, lost)


def _shift(buf: bytearray, positions: list[int], by: int) -> None:
    """Add ``by`` to the 4-byte values at ``positions`` (nothing to do for the first copy)."""
    if not by:
        return
    for pos in positions:
        value = int(_U32(buf, pos)[0]) + by
        if value >> 32:
            raise DwarfError(f"value 0x{value:x} does not fit 4 bytes at 0x{pos:x}")
        _P32(buf, pos, value)


def _moved(lists: Lists | None, table: dict[int, int] | None, value: int, what: str) -> int:
    if lists is None or table is None or value not in table:
        raise DwarfError(f"{what} 0x{value:x} points at no list or list table")
    return table[value]


def _section_offset(
    unit: Unit,
    attr: int,
    pos: int,
    value: int,
    buf: bytearray,
    cx: _Ctx,
    ref: _ListRef,
) -> None:
    bases = cx.bases
    v5 = unit.version >= 5
    if attr in _LOC_ATTRS and not v5:  # first: most of a debug build's section offsets
        if value not in cx.loc_refs:
            cx.loc_refs[value] = ref
        new = value + bases[".debug_loc"]
    elif attr == _AT_STMT_LIST:
        if value not in cx.line_offsets:
            raise DwarfError(f"DW_AT_stmt_list 0x{value:x} is not the start of a line table")
        new = cx.line_offsets[value] + bases[".debug_line"]
    elif attr == _AT_RANGES and v5:
        r = cx.rnglists
        new = _moved(r, r.lists if r else None, value, "DW_AT_ranges") + bases[".debug_rnglists"]
    elif attr == _AT_RNGLISTS_BASE:
        r = cx.rnglists
        new = _moved(r, r.tables if r else None, value, "DW_AT_rnglists_base")
        new += bases[".debug_rnglists"]
    elif attr in _LOC_ATTRS and v5:
        lc = cx.loclists
        new = (
            _moved(lc, lc.lists if lc else None, value, "location list") + bases[".debug_loclists"]
        )
    elif attr == _AT_LOCLISTS_BASE:
        lc = cx.loclists
        new = _moved(lc, lc.tables if lc else None, value, "DW_AT_loclists_base")
        new += bases[".debug_loclists"]
    elif attr == _AT_RANGES:
        if value not in cx.range_refs:
            cx.range_refs[value] = ref
        new = value + bases[".debug_ranges"]
    elif attr == _AT_STR_OFFSETS_BASE:
        new = value + bases[".debug_str_offsets"]
    elif attr == _AT_ADDR_BASE:
        new = value + bases[".debug_addr"]
    elif unit.version >= 4:
        raise DwarfError(f"section offset in attribute 0x{attr:x} is not supported")
    else:
        return  # DWARF 2/3: a data4 of any other attribute is a plain constant
    if new != value:  # (the value read from these 4 bytes: unchanged, nothing to write)
        _put(buf, pos, 4, FORM_DATA4, new)


def _rewrite_lists(
    data: bytes, refs: dict[int, _ListRef], amap: AddrMap, st: DwarfStats, loc: bool
) -> bytes:
    """``.debug_ranges`` / ``.debug_loc`` (DWARF 2-4): each referenced list remapped in place.

    Unmappable entries are removed and the list closed early; the bytes it no longer uses
    become end-of-list entries, so no other list moves. Kept entries are written back at
    ``w``, never past where they were read (entries only go), without building a list's
    bytes apart: a debug build has thousands. Written for speed: the map's last steps for
    a start and for an end (`InstanceMap.step`) answer without a lookup while entries stay
    in them, an expression is copied only once an entry before it went, base addresses are
    mapped once each (a debug build's lists of removed code all name the linker's
    tombstone), and entries that map nowhere are told dead or dropped together at the end."""
    what = ".debug_loc" if loc else ".debug_ranges"
    step = amap.step
    lo_b: float = 0
    hi_b: float = 0
    lo_e: float = 0
    hi_e: float = 0
    d_b: int | None = None
    d_e: int | None = None
    mapped = 0
    lost: list[int] = []  # starts of the entries that map nowhere
    moved_bases: dict[int, int] = {}
    size = len(data)
    buf = bytearray(data)
    for offset in sorted(refs):
        old_base, new_base = refs[offset]
        pos = w = offset
        while True:
            try:
                begin, end = _U32X2(data, pos)
            except struct.error:
                at = pos if pos + 4 > size else pos + 4
                raise DwarfError(f"{what}: unexpected end at offset 0x{at:x}") from None
            pos += 8
            if begin == 0xFFFFFFFF:  # base address selection
                old_base = end
                new_base = moved_bases.get(end, -1)
                if new_base < 0:
                    mapped_base = amap.map(end)
                    new_base = moved_bases[end] = end if mapped_base is None else mapped_base
                _P32X2(buf, w, begin, new_base)
                w += 8
                continue
            if begin == 0 and end == 0:
                break
            tail = pos
            if loc:
                if pos + 2 > size:
                    raise DwarfError(f"{what}: unexpected end at offset 0x{pos:x}")
                pos += 2 + (data[pos] | data[pos + 1] << 8)
                if pos > size:
                    raise DwarfError(f"{what}: unexpected end at offset 0x{tail + 2:x}")
            begin += old_base
            if not lo_b <= begin < hi_b:
                lo_b, hi_b, d_b = step(begin)
            if d_b is not None:
                end += old_base
                if not lo_e <= end < hi_e:
                    lo_e, hi_e, d_e = step(end)
                if d_e is not None and new_base <= begin + d_b <= end + d_e:
                    mapped += 1
                    _P32X2(buf, w, begin + d_b - new_base, end + d_e - new_base)
                    if w == tail - 8:
                        w = pos
                    else:
                        w += 8
                        if loc:
                            buf[w : w + pos - tail] = data[tail:pos]
                            w += pos - tail
                    continue
            lost.append(begin)
        buf[w:pos] = bytes(pos - w)  # the end of the list, then unused bytes
    (st.locs if loc else st.ranges).lost(amap, mapped, lost)
    return bytes(buf)


def _rewrite_aranges(data: bytes, amap: AddrMap, bases: dict[str, int], st: DwarfStats) -> bytes:
    """Rebuilt sets (nothing refers to a set by offset, so they may shrink).

    Aranges also cover data objects (linear-memory addresses): an entry is code only when it
    spans part of one function from its body start, as compilers emit them; other entries
    are kept as they are.
    """
    out = bytearray()
    pos = 0
    while pos < len(data):
        c = Cur(data, pos, what=".debug_aranges")
        end = c.unit_end()
        c.end = end
        version = c.u16()
        info_off = c.u32()
        addr_size, seg_size = c.u8(), c.u8()
        if addr_size != 4 or seg_size != 0:
            raise DwarfError(f".debug_aranges: address size {addr_size}, segment size {seg_size}")
        # tuples start at a multiple of twice the address size from the start of the set
        c.pos = pos + (c.pos - pos + 7) // 8 * 8
        if c.pos > end:
            raise DwarfError(f".debug_aranges: set at 0x{pos:x} is shorter than its header")
        kept = bytearray()
        while True:
            addr, size = c.u32(), c.u32()
            if addr == 0 and size == 0:
                break
            if not amap.spans_code(addr, addr + size):
                kept += struct.pack("<II", addr, size)  # a data object, or not ours to move
                continue
            nb, ne = amap.map(addr), amap.map(addr + size)
            ok = nb is not None and ne is not None and nb <= ne
            st.aranges.count(amap, addr, nb if ok else None)
            if ok and nb is not None and ne is not None:
                kept += struct.pack("<II", nb, ne - nb)
        kept += bytes(8)
        out += struct.pack("<IHIBB", 12 + len(kept), version, info_off + bases[".debug_info"], 4, 0)
        out += bytes(4) + kept  # header padding to 16 bytes
        pos = end
    return bytes(out)
