"""Just enough DWARF (versions 2-5, 32-bit format) decoding to find every code address and
every cross-section offset: abbreviation tables, DIE attribute walking, LEB128 helpers.

Values are located, not interpreted: the rewriter needs each attribute's position, width and
form so it can patch it in place.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import field
from operator import itemgetter
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass

if TYPE_CHECKING:  # `typing` stays unrun in a fusion
    from typing import Any

__all__ = [
    "ADDRX_FORMS",
    "Abbrev",
    "Attr",
    "Cur",
    "DwarfError",
    "Unit",
    "leb_at",
    "parse_abbrevs",
    "read_units",
]


class DwarfError(Exception):
    """DWARF this remapper cannot rewrite exactly (the message becomes the drop reason)."""


_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from


class Cur:
    """A little-endian cursor that raises `DwarfError` instead of IndexError.

    Each read checks its own bounds inline (no helper call): these reads are most of what a
    remap of a debug build costs."""

    __slots__ = ("data", "end", "pos", "what")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None, what: str = "") -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end
        self.what = what

    def _short(self) -> DwarfError:
        return DwarfError(f"{self.what}: unexpected end at offset 0x{self.pos:x}")

    def _need(self, n: int) -> int:
        p = self.pos
        if p + n > self.end or p + n > len(self.data):
            raise self._short()
        self.pos = p + n
        return p

    def u8(self) -> int:
        p = self.pos
        if p >= self.end or p >= len(self.data):
            raise self._short()
        self.pos = p + 1
        return self.data[p]

    def unit_end(self) -> int:
        """Read a unit's initial length; the offset where the unit ends (32-bit DWARF only)."""
        length = self.u32()
        if length >= 0xFFFFFFF0:
            raise DwarfError(f"{self.what}: 64-bit DWARF is not supported")
        return self.pos + length

    def u16(self) -> int:
        p = self.pos
        if p + 2 > self.end or p + 2 > len(self.data):
            raise self._short()
        self.pos = p + 2
        return int(_U16(self.data, p)[0])

    def u32(self) -> int:
        p = self.pos
        if p + 4 > self.end or p + 4 > len(self.data):
            raise self._short()
        self.pos = p + 4
        return int(_U32(self.data, p)[0])

    def uint(self, n: int) -> int:
        p = self._need(n)
        return int.from_bytes(self.data[p : p + n], "little")

    def s8(self) -> int:
        v = self.u8()
        return v - 256 if v >= 128 else v

    def _leb(self) -> tuple[int, int, int]:
        """(value, shift, last byte) of a LEB128 at the cursor."""
        data, p = self.data, self.pos
        limit = min(self.end, len(data))
        result = shift = 0
        while True:
            if p >= limit:
                raise self._short()
            b = data[p]
            p += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                self.pos = p
                return result, shift, b

    def uleb(self) -> int:
        return self._leb()[0]

    def sleb(self) -> int:
        result, shift, last = self._leb()
        return result - (1 << shift) if last & 0x40 else result

    def cstr(self) -> bytes:
        end = self.data.find(b"\0", self.pos, self.end)
        if end < 0:
            raise DwarfError(f"{self.what}: unterminated string at offset 0x{self.pos:x}")
        s = self.data[self.pos : end]
        self.pos = end + 1
        return bytes(s)

    def skip(self, n: int) -> None:
        self._need(n)


# -- forms ---------------------------------------------------------------------------------------
FORM_ADDR = 0x01
FORM_DATA2 = 0x05
FORM_DATA4 = 0x06
FORM_DATA8 = 0x07
FORM_DATA1 = 0x0B
FORM_UDATA = 0x0F
FORM_STRP = 0x0E
FORM_REF_ADDR = 0x10
FORM_INDIRECT = 0x16
FORM_SEC_OFFSET = 0x17
FORM_IMPLICIT_CONST = 0x21
FORM_LINE_STRP = 0x1F

_FIXED = {
    0x01: -1,  # addr: address size
    0x05: 2,
    0x06: 4,
    0x07: 8,
    0x0B: 1,
    0x0C: 1,  # flag
    0x0E: 4,  # strp
    0x11: 1,  # ref1
    0x12: 2,
    0x13: 4,
    0x14: 8,
    0x17: 4,  # sec_offset
    0x19: 0,  # flag_present
    0x20: 8,  # ref_sig8
    0x21: 0,  # implicit_const (value in the abbreviation)
    0x1E: 16,  # data16
    0x1F: 4,  # line_strp
    0x25: 1,  # strx1 .. strx4
    0x26: 2,
    0x27: 3,
    0x28: 4,
    0x29: 1,  # addrx1 .. addrx4
    0x2A: 2,
    0x2B: 3,
    0x2C: 4,
}
_LEB = {
    0x0D,
    0x0F,
    0x15,
    0x1A,
    0x1B,
    0x22,
    0x23,
}  # sdata udata ref_udata strx addrx loclistx rnglistx
#: forms whose value indexes .debug_addr
ADDRX_FORMS = frozenset({0x1B, 0x29, 0x2A, 0x2B, 0x2C})
FORM_LOCLISTX = 0x22
FORM_RNGLISTX = 0x23
_UNSUPPORTED = {0x1C: "ref_sup4", 0x1D: "strp_sup", 0x24: "ref_sup8"}
_BLOCK = {0x09: 0, 0x0A: 1, 0x03: 2, 0x04: 4, 0x18: 0}  # block(uleb) block1 block2 block4 exprloc


@dataclass(frozen=True, slots=True)
class Abbrev:
    tag: int
    children: bool
    attrs: tuple[tuple[int, int, int], ...]  # (attribute, form, implicit_const)


def parse_abbrevs(data: bytes, offset: int) -> dict[int, Abbrev]:
    """The abbreviation table at ``offset`` of ``.debug_abbrev``."""
    c = Cur(data, offset, what=".debug_abbrev")
    out: dict[int, Abbrev] = {}
    while True:
        code = c.uleb()
        if code == 0:
            return out
        tag = c.uleb()
        children = c.u8() != 0
        attrs: list[tuple[int, int, int]] = []
        while True:
            at, form = c.uleb(), c.uleb()
            if at == 0 and form == 0:
                break
            attrs.append((at, form, c.sleb() if form == FORM_IMPLICIT_CONST else 0))
        out[code] = Abbrev(tag, children, tuple(attrs))


class Attr(tuple[int, int, int, int, int]):
    """One attribute value in ``.debug_info``: ``(attr, form, pos, width, value)``, its
    position, byte width and decoded value.

    A tuple (made in `_read_dies` with ``tuple.__new__``) with its fields named by hand: a
    `typing.NamedTuple` compiles source when its module loads."""

    __slots__ = ()

    def __new__(cls, attr: int, form: int, pos: int, width: int, value: int) -> Attr:
        return tuple.__new__(cls, (attr, form, pos, width, value))

    attr = property(itemgetter(0), doc="the attribute (``DW_AT_*``)")
    form = property(itemgetter(1), doc="its form (``DW_FORM_*``)")
    pos = property(itemgetter(2), doc="where its value is in the section")
    width = property(itemgetter(3), doc="the value's size in bytes")
    value = property(itemgetter(4), doc="the value")


_new_attr = tuple.__new__


@dataclass(slots=True)
class Unit:
    """A compilation unit: header facts; per DIE, the attributes that hold numbers the
    remapper moves; and, by position (4 bytes each, in no DIE's list), the values it moves
    without looking at the rest of their DIE: the ones that only shift with their section
    (``DW_FORM_strp``, ``DW_FORM_line_strp``, ``DW_FORM_ref_addr``), DWARF 2-4 location and
    range list offsets, ``DW_AT_low_pc`` addresses of DIEs without a ``DW_AT_high_pc``
    (``pcs``), and ``DW_AT_low_pc`` addresses with their ``DW_AT_high_pc`` lengths in data4
    (``lows``, ``highs``: one of each per DIE). Most DIEs of a debug build are one of these."""

    offset: int
    end: int
    version: int
    addr_size: int
    abbrev_offset_pos: int
    abbrev_offset: int
    dies: list[list[Attr]] = field(default_factory=list)
    strp: list[int] = field(default_factory=list)
    line_strp: list[int] = field(default_factory=list)
    ref_addr: list[int] = field(default_factory=list)
    locs: list[int] = field(default_factory=list)
    ranges: list[int] = field(default_factory=list)
    pcs: list[int] = field(default_factory=list)
    lows: list[int] = field(default_factory=list)
    highs: list[int] = field(default_factory=list)

    def positions(self) -> tuple[list[int], ...]:
        """The position lists, in the order `_LISTED` numbers them."""
        return (
            self.strp,
            self.line_strp,
            self.ref_addr,
            self.locs,
            self.ranges,
            self.pcs,
            self.lows,
            self.highs,
        )


def _read_value(c: Cur, form: int, unit: Unit) -> tuple[int, int, int, int] | None:
    """(form, pos, width, value) of a numeric value; None for strings, blocks and flags."""
    if form == FORM_INDIRECT:
        return _read_value(c, c.uleb(), unit)
    size = _FIXED.get(form)
    if size is not None:
        if size == -1 or (form == FORM_REF_ADDR and unit.version <= 2):
            size = unit.addr_size
        pos = c.pos
        if size in (1, 2, 3, 4, 8):
            return form, pos, size, c.uint(size)
        c.skip(size)
        return None
    if form == FORM_REF_ADDR:
        pos = c.pos
        size = unit.addr_size if unit.version <= 2 else 4
        return form, pos, size, c.uint(size)
    if form in _LEB:
        pos = c.pos
        v = c.sleb() if form == 0x0D else c.uleb()
        return form, pos, c.pos - pos, v
    if form in _BLOCK:
        n = _BLOCK[form]
        c.skip(c.uleb() if n == 0 else c.uint(n))
        return None
    if form == 0x08:  # string
        c.cstr()
        return None
    name = _UNSUPPORTED.get(form, f"0x{form:x}")
    raise DwarfError(f"attribute form {name} is not supported")


#: Forms whose values are code addresses or offsets into another section: the values the
#: remapper moves. (DWARF 2/3 also write section offsets as data4: see `_kept`.)
_MOVED_FORMS = frozenset({0x01, 0x0E, 0x10, 0x17, 0x1F}) | ADDRX_FORMS
_AT_LOW_PC, _AT_HIGH_PC = 0x11, 0x12

#: Forms that only shift with their section, recorded by position (`Unit.strp`...), in the
#: order of the unit's lists.
_SHIFTED = {0x0E: 0, 0x1F: 1, 0x10: 2}
#: The other position lists of a unit (`Unit.positions`), after the three of `_SHIFTED`.
_LOCS, _RANGES, _PCS, _LOWS, _HIGHS = range(3, 8)
#: A value recorded in its DIE's list (`_KEEP`) or not at all (`_SKIP`: an offset into a
#: section that is not shifted).
_KEEP, _SKIP = -1, -2
#: Attributes the remapper looks up by name whatever their form (low/high pc, the DWARF 5
#: bases): always recorded in their DIE.
_BY_NAME = frozenset({_AT_LOW_PC, _AT_HIGH_PC, 0x73, 0x74, 0x8C})
AT_RANGES = 0x55
#: attributes whose section-offset value points into .debug_loc (DWARF 2-4)
LOC_ATTRS = frozenset({0x02, 0x19, 0x2A, 0x2E, 0x38, 0x40, 0x48, 0x4A, 0x4D})


def _kept(attr: int, form: int, version: int) -> bool:
    """Whether the remapper needs this value: an address, another section's offset, or the
    unit's `DW_AT_low_pc`/`DW_AT_high_pc` (a high_pc may be a length in any data form)."""
    return (
        form in _MOVED_FORMS
        or attr in (_AT_LOW_PC, _AT_HIGH_PC)
        or (version < 4 and form == FORM_DATA4)
    )


def _listed(
    attr: int, form: int, width: int, version: int, pcs: int | None, shifted: tuple[bool, ...]
) -> int:
    """Where a kept fixed-size value goes: a position list of its unit (`Unit.positions`),
    its DIE's list (`_KEEP`) or nowhere (`_SKIP`). ``pcs``: the list of the DIE's low_pc
    (`_PCS`, `_LOWS` or `_KEEP`), None when the DIE is recorded whole (a unit's first DIE,
    a DIE with a form in the data)."""
    if form in _SHIFTED and width == 4 and attr not in _BY_NAME:
        return _SHIFTED[form] if shifted[_SHIFTED[form]] else _SKIP
    if pcs is None:
        return _KEEP
    if version < 5 and (form == FORM_SEC_OFFSET or (version < 4 and form == FORM_DATA4)):
        if attr in LOC_ATTRS:
            return _LOCS
        if attr == AT_RANGES:
            return _RANGES
    if attr == _AT_LOW_PC and form == FORM_ADDR:
        return pcs
    if attr == _AT_HIGH_PC and pcs == _LOWS:
        return _HIGHS
    return _KEEP


def _pcs_list(attrs: Sequence[tuple[int, int, int]], whole: bool) -> int | None:
    """The position list of a DIE's ``DW_AT_low_pc`` (see `_listed`)."""
    if whole:
        return None
    lows: list[int] = []
    highs: list[int] = []
    for attr, form, _ in attrs:
        if form == FORM_INDIRECT:
            return None
        if attr == _AT_LOW_PC:
            lows.append(form)
        elif attr == _AT_HIGH_PC:
            highs.append(form)
    if lows != [FORM_ADDR]:
        return _KEEP
    if not highs:
        return _PCS
    return _LOWS if highs == [FORM_DATA4] else _KEEP


# A compiled abbreviation (`_plan`) is a tuple of segments ``(size, keeps, shifts, var)``:
# a run of ``size`` bytes of fixed-size values, with the ones to record as attributes at
# ``keeps`` ((offset, attr, form, width) each) and the ones recorded by position at
# ``shifts`` ((offset, list) each, the list an index into `Unit.positions`), then ``var``, the
# variable-size value that ends the run, or None after the last attribute:
#   (_VAR_LEB, attr, form, keep)    a ULEB128 value (SLEB128 for sdata), recorded if keep
#   (_VAR_BLOCK, width)             a block, its length a ULEB128 (width 0) or a number
#   (_VAR_STRING,)                  a NUL-terminated string
#   (_VAR_INDIRECT, attr)           the form is in the data, before the value
_VAR_LEB, _VAR_BLOCK, _VAR_STRING, _VAR_INDIRECT = range(4)
_Segment = tuple[int, tuple[tuple[int, int, int, int], ...], tuple[tuple[int, int], ...], "Any"]


def _plan(
    attrs: Sequence[tuple[int, int, int]],
    version: int,
    addr_size: int,
    shifted: tuple[bool, ...] = (True, True, True),
    whole: bool = False,
) -> int | tuple[_Segment, ...]:
    """One abbreviation's attribute specifications as segments: a DIE costs a step per
    variable-size value (most have none), not one per attribute; or the DIE's size when it
    holds nothing to record (never for a DIE recorded ``whole``). Offsets of the kinds not
    ``shifted`` (in `_SHIFTED`'s order) are not recorded; values are recorded by position
    where `_listed` says so."""
    pcs = _pcs_list(attrs, whole)
    segments: list[_Segment] = []
    size = 0
    keeps: list[tuple[int, int, int, int]] = []
    shifts: list[tuple[int, int]] = []
    for attr, form, _ in attrs:
        if attr == _AT_HIGH_PC and form == FORM_IMPLICIT_CONST:
            raise DwarfError("DW_AT_high_pc as an implicit constant cannot be remapped")
        width = _FIXED.get(form)
        if form == FORM_REF_ADDR:
            width = addr_size if version <= 2 else 4
        elif width == -1:
            width = addr_size
        if width is not None:
            if width in (1, 2, 3, 4, 8) and _kept(attr, form, version):
                which = _listed(attr, form, width, version, pcs, shifted)
                if which >= 0:
                    shifts.append((size, which))
                elif which == _KEEP:
                    keeps.append((size, attr, form, width))
            size += width
            continue
        if form in _LEB:
            var: Any = (_VAR_LEB, attr, form, _kept(attr, form, version))
        elif form in _BLOCK:
            var = (_VAR_BLOCK, _BLOCK[form])
        elif form == 0x08:  # string
            var = (_VAR_STRING,)
        elif form == FORM_INDIRECT:
            var = (_VAR_INDIRECT, attr)
        else:
            name = _UNSUPPORTED.get(form, f"0x{form:x}")
            raise DwarfError(f"attribute form {name} is not supported")
        segments.append((size, tuple(keeps), tuple(shifts), var))
        size, keeps, shifts = 0, [], []
    if not segments and not keeps and not shifts and not whole:
        return size
    segments.append((size, tuple(keeps), tuple(shifts), None))
    return tuple(segments)


def _declarations(data: bytes, offset: int) -> dict[int, bytes]:
    """The abbreviation table at ``offset``: code → its declaration's bytes (tag, children
    flag, attribute specifications), compiled later only for the codes DIEs use, once per
    distinct declaration (the units of one program repeat most of them)."""
    out: dict[int, bytes] = {}
    pos = offset
    try:
        while True:
            code = data[pos]
            pos += 1
            if code >= 0x80:
                code, pos = leb_at(data, pos - 1)
            if code == 0:
                return out
            start = pos
            while data[pos] >= 0x80:  # tag
                pos += 1
            pos += 2  # its last byte, the children flag
            while True:
                attr = data[pos]
                pos += 1
                if attr >= 0x80:
                    attr, pos = leb_at(data, pos - 1)
                form = data[pos]
                pos += 1
                if form >= 0x80:
                    form, pos = leb_at(data, pos - 1)
                if attr == 0 and form == 0:
                    break
                if form == FORM_IMPLICIT_CONST:
                    while data[pos] >= 0x80:
                        pos += 1
                    pos += 1
            out[code] = data[start:pos]
    except IndexError:
        parse_abbrevs(data, offset)  # raises the error with the place it stopped
        raise DwarfError(f".debug_abbrev: unexpected end in the table at 0x{offset:x}") from None


def _compile(
    decl: bytes, version: int, addr_size: int, shifted: tuple[bool, ...], whole: bool
) -> int | tuple[_Segment, ...]:
    """The plan of one declaration (bytes from `_declarations`, so complete)."""
    pos = 0
    while decl[pos] >= 0x80:  # the tag
        pos += 1
    pos += 2  # its last byte, the children flag
    attrs: list[tuple[int, int, int]] = []
    while True:
        at = decl[pos]
        if at < 0x80:
            pos += 1
        else:
            at, pos = leb_at(decl, pos)
        form = decl[pos]
        if form < 0x80:
            pos += 1
        else:
            form, pos = leb_at(decl, pos)
        if at == 0 and form == 0:
            break
        const = 0
        if form == FORM_IMPLICIT_CONST:
            const, pos = leb_at(decl, pos, signed=True)
        attrs.append((at, form, const))
    return _plan(attrs, version, addr_size, shifted, whole)


def leb_at(data: Sequence[int], pos: int, signed: bool = False) -> tuple[int, int]:
    """(value, end) of the LEB128 at ``pos``. The hot loops read a one-byte LEB128 inline and
    call this (from the byte they read) for longer ones."""
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if signed and b & 0x40:
                value -= 1 << shift
            return value, pos


def read_units(
    info: bytes,
    abbrev: bytes,
    shifted: tuple[bool, ...] = (True, True, True),
    whole: bool = False,
) -> list[Unit]:
    """Every unit of ``.debug_info`` with, per DIE, the values the remapper moves (see
    `_kept`); the unit's first DIE is always recorded (``dies[0]``, maybe empty), other DIEs
    only when they hold such a value. Values it moves without their DIE are listed by
    position per unit instead (`Unit.strp`...), of the kinds that only shift with their
    section the ones in ``shifted`` only (a copy of the units placed where the string
    sections start needs none of them: most DIEs then hold nothing to record). ``whole``:
    every DIE recorded in its own list as the first one is, nothing by position but the
    shifted offsets (what the position lists stand for)."""
    units: list[Unit] = []
    pos = 0
    tables: dict[int, dict[int, bytes]] = {}
    plans: dict[tuple[int, int, bool], _Codes] = {}
    compiled: dict[tuple[bytes, int, bool], int | tuple[_Segment, ...]] = {}
    while pos < len(info):
        c = Cur(info, pos, what=".debug_info")
        end = c.unit_end()
        if end > len(info):
            raise DwarfError(f".debug_info: unit at 0x{pos:x} runs past the section")
        c.end = end
        version = c.u16()
        if not 2 <= version <= 5:
            raise DwarfError(f"DWARF version {version} is not supported (2-5 are)")
        if version == 5:
            unit_type = c.u8()
            if unit_type not in (1, 3):  # DW_UT_compile, DW_UT_partial
                raise DwarfError(f"unit type {unit_type} (split or type units) is not supported")
            addr_size = c.u8()
            ab_pos = c.pos
            ab_off = c.u32()
        else:
            ab_pos = c.pos
            ab_off = c.u32()
            addr_size = c.u8()
        if addr_size != 4:
            raise DwarfError(f"address size {addr_size} (wasm32 DWARF uses 4)")
        unit = Unit(pos, end, version, addr_size, ab_pos, ab_off)
        if ab_off not in tables:
            tables[ab_off] = _declarations(abbrev, ab_off)
        first = _codes(plans, ab_off, version, True)
        rest = first if whole else _codes(plans, ab_off, version, False)
        _read_dies(info, c.pos, unit, tables[ab_off], first, rest, compiled, shifted)
        units.append(unit)
        pos = end
    return units


#: What a DIE of each abbreviation code is, for one table, version and way of recording:
#: by its first byte, the size of a DIE that records nothing, code included (`_FIXED_DIE`:
#: of fixed size, its values listed by position; -1: neither, not compiled yet, or a byte of
#: a longer code); plans by one-byte code; for a `_FIXED_DIE`, its size and the positions
#: to list (code included); plans or sizes (code excluded) by longer code; whether DIEs are
#: recorded whole.
_Codes = tuple[
    list[int],
    list[tuple[_Segment, ...] | None],
    list[tuple[int, tuple[tuple[int, int], ...]] | None],
    dict[int, "Any"],
    bool,
]
_FIXED_DIE = -2


def _codes(
    cache: dict[tuple[int, int, bool], _Codes], ab_off: int, version: int, whole: bool
) -> _Codes:
    key = (ab_off, version, whole)
    found = cache.get(key)
    if found is None:
        sizes = [-1] * 256
        sizes[0] = 1  # a null entry: the end of a list of siblings
        found = cache[key] = (sizes, [None] * 128, [None] * 128, {}, whole)
    return found


def _read_dies(
    data: bytes,
    pos: int,
    unit: Unit,
    table: dict[int, bytes],
    first: _Codes,
    rest: _Codes,
    compiled: dict[tuple[bytes, int, bool], int | tuple[_Segment, ...]],
    wanted: tuple[bool, ...],
) -> None:
    """The DIEs of ``unit`` from ``pos`` (after its header) into ``unit.dies`` and its
    position lists: the first DIE by the codes of ``first`` (recorded whole), the others by
    those of ``rest``.

    A DIE that records nothing costs one lookup by its first byte (`_Codes`). Bounds are
    checked once per DIE: a value read past the unit's end moves ``pos`` past it (a slice
    past the data is short, a byte index raises), and the DIE is then rejected."""
    end = unit.end
    dies = unit.dies
    listed = tuple(positions.append for positions in unit.positions())
    sizes, plans, fixed, longer, whole = first
    at_first = True
    try:
        while pos < end:
            die_at = pos
            size = sizes[data[pos]]
            if size >= 0:  # nothing to record (past the end: see below the loop)
                pos += size
                continue
            if size == _FIXED_DIE:  # (the same)
                size, shifts = fixed[data[pos]]  # type: ignore[misc]
                for off, which in shifts:
                    listed[which](pos + off)
                pos += size
                continue
            code = data[pos]
            pos += 1
            plan: int | tuple[_Segment, ...] | None
            if code < 0x80:
                plan = plans[code]
            else:  # a longer abbreviation code (ULEB128)
                code, pos = leb_at(data, pos - 1)
                plan = longer.get(code)
            if plan is None or code >= 0x80:
                if plan is None:
                    decl = table.get(code)
                    if decl is None:
                        raise DwarfError(f".debug_info: unknown abbreviation {code} at 0x{pos:x}")
                    ck = (decl, unit.version, whole)
                    plan = compiled.get(ck)
                    if plan is None:
                        plan = compiled[ck] = _compile(
                            decl, unit.version, unit.addr_size, wanted, whole
                        )
                    if code >= 0x80:
                        longer[code] = plan
                    elif isinstance(plan, int):
                        sizes[code] = plan + 1
                    elif len(plan) == 1 and not plan[0][1] and not whole:
                        sizes[code] = _FIXED_DIE
                        fixed[code] = (plan[0][0] + 1, tuple((o + 1, w) for o, w in plan[0][2]))
                        plans[code] = plan
                    else:
                        plans[code] = plan
                if isinstance(plan, int):
                    pos += plan
                    continue
            die: list[Attr] | None = None
            for size, keeps, shifts, var in plan:
                if keeps:
                    if die is None:
                        die = []
                    for off, attr, form, width in keeps:
                        at = pos + off
                        value = int.from_bytes(data[at : at + width], "little")
                        die.append(_new_attr(Attr, (attr, form, at, width, value)))
                for off, which in shifts:
                    listed[which](pos + off)
                pos += size
                if var is None:
                    break
                op = var[0]
                if op == _VAR_LEB:
                    at = pos
                    v = data[pos]
                    if v < 0x40:  # one byte, the same value signed or not
                        pos += 1
                    else:
                        v, pos = leb_at(data, pos, var[2] == 0x0D)  # sdata is signed
                    if var[3]:
                        if die is None:
                            die = []
                        die.append(_new_attr(Attr, (var[1], var[2], at, pos - at, v)))
                elif op == _VAR_BLOCK:
                    width = var[1]
                    if width:
                        n = int.from_bytes(data[pos : pos + width], "little")
                        pos += width
                    else:
                        n = data[pos]
                        pos += 1
                        if n >= 0x80:
                            n, pos = leb_at(data, pos - 1)
                    pos += n
                elif op == _VAR_STRING:
                    nul = data.find(b"\0", pos, end)
                    if nul < 0:
                        raise DwarfError(f".debug_info: unterminated string at offset 0x{pos:x}")
                    pos = nul + 1
                else:  # _VAR_INDIRECT: decode this one value the general way
                    c = Cur(data, pos, end, ".debug_info")
                    found_value = _read_value(c, c.uleb(), unit)
                    pos = c.pos
                    if found_value is not None and _kept(var[1], found_value[0], unit.version):
                        form = found_value[0]
                        if form in _SHIFTED and found_value[2] == 4 and var[1] not in _BY_NAME:
                            if wanted[_SHIFTED[form]]:
                                listed[_SHIFTED[form]](found_value[1])
                        else:
                            if die is None:
                                die = []
                            die.append(Attr(var[1], *found_value))
            if pos > end:
                raise DwarfError(f".debug_info: unexpected end in the DIE at offset 0x{die_at:x}")
            if at_first:  # the unit's own DIE: always recorded, then the codes of the rest
                dies.append(die or [])
                at_first = False
                sizes, plans, fixed, longer, whole = rest
            elif die is not None:
                dies.append(die)
        if pos > end:  # the last DIE ran past the unit (one that records nothing)
            raise DwarfError(f".debug_info: unexpected end in the DIE at offset 0x{die_at:x}")
    except IndexError:
        raise DwarfError(f".debug_info: unexpected end at offset 0x{min(pos, end):x}") from None
