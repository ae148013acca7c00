"""The DWARF 5 tables: ``.debug_addr``, ``.debug_str_offsets``, ``.debug_rnglists`` and
``.debug_loclists``.

``.debug_addr`` holds code and data addresses side by side, so only entries used as code
addresses (``DW_FORM_addrx*`` attributes, ``*x`` list entries) are moved; ``DW_OP_addrx``
operands in location expressions name linear-memory addresses and stay. Range and location
lists are decoded and re-encoded with every range absolute (``start_length``): an
``offset_pair`` relative to a base that no longer lies before it cannot be kept, and the lists
change size anyway, so each contribution is rebuilt and its offset table and every reference
to it follow the new layout.
"""

from __future__ import annotations

import struct
from dataclasses import field

from pymeld._dataclass import dataclass
from pymeld.codec.binary import uleb
from pymeld.dwarf.reader import Cur, DwarfError
from pymeld.dwarf.tally import Tally

TYPE_CHECKING = False  # not `typing`'s: it stays unrun in a fusion
if TYPE_CHECKING:
    from pymeld.dwarf.lines import AddrMap

__all__ = ["AddrTable", "ListContext", "rewrite_lists5", "rewrite_str_offsets"]

TOMBSTONE = 0xFFFFFFFF


class AddrTable:
    """``.debug_addr``: addresses by (``DW_AT_addr_base``, index); code entries remapped."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.code: set[int] = set()  # positions of entries used as code addresses

    def pos(self, base: int | None, index: int) -> int:
        if base is None:
            raise DwarfError("an address index without DW_AT_addr_base")
        at = base + 4 * index
        if at + 4 > len(self.data):
            raise DwarfError(f".debug_addr: index {index} past the section")
        return at

    def get(self, base: int | None, index: int) -> int:
        return int(struct.unpack_from("<I", self.data, self.pos(base, index))[0])

    def mark_code(self, base: int | None, index: int) -> int:
        at = self.pos(base, index)
        self.code.add(at)
        return int(struct.unpack_from("<I", self.data, at)[0])

    def rewrite(self, amap: AddrMap) -> tuple[bytes, int, int]:
        """The section with code entries moved; (bytes, remapped, unmappable)."""
        buf = bytearray(self.data)
        mapped = lost = 0
        for at in sorted(self.code):
            old = int(struct.unpack_from("<I", self.data, at)[0])
            if old == 0:
                continue  # a compilation unit's base of 0: ranges are absolute
            new = amap.map(old)
            if new is None:
                lost += 1
            else:
                mapped += 1
            struct.pack_into("<I", buf, at, TOMBSTONE if new is None else new)
        return bytes(buf), mapped, lost


def rewrite_str_offsets(data: bytes, str_base: int) -> bytes:
    """Every ``.debug_str`` offset moved by where this instance's strings now start."""
    buf = bytearray(data)
    pos = 0
    while pos < len(data):
        c = Cur(data, pos, what=".debug_str_offsets")
        end = c.unit_end()
        if end > len(data) or c.u16() != 5:
            raise DwarfError(f".debug_str_offsets: bad contribution at 0x{pos:x}")
        c.skip(2)
        while c.pos + 4 <= end:
            struct.pack_into("<I", buf, c.pos, c.u32() + str_base)
        pos = end
    return bytes(buf)


@dataclass(slots=True)
class ListContext:
    """What decoding a unit's lists needs: its base address and ``DW_AT_addr_base``."""

    base: int
    addr_base: int | None


@dataclass(slots=True)
class Lists:
    """A rewritten list section and where things moved (offsets relative to the section)."""

    data: bytes
    lists: dict[int, int] = field(default_factory=dict)  # old list start → new
    tables: dict[int, int] = field(default_factory=dict)  # old offset-table start → new


def rewrite_lists5(
    data: bytes,
    loc: bool,
    contexts: dict[int, ListContext],
    addr: AddrTable,
    amap: AddrMap,
    tally: Tally,
) -> Lists:
    """Rebuild ``.debug_rnglists`` (``loc`` False) or ``.debug_loclists``.

    ``contexts`` maps a contribution's offset-table start, or the start of any list in it,
    to its unit's context; contributions no unit refers to are left out.
    """
    what = ".debug_loclists" if loc else ".debug_rnglists"
    out = Lists(b"")
    buf = bytearray()
    pos = 0
    while pos < len(data):
        c = Cur(data, pos, what=what)
        end = c.unit_end()
        if end > len(data):
            raise DwarfError(f"{what}: contribution at 0x{pos:x} runs past the section")
        c.end = end
        version, addr_size, seg_size = c.u16(), c.u8(), c.u8()
        if version != 5 or addr_size != 4 or seg_size != 0:
            raise DwarfError(f"{what}: version {version}, address size {addr_size}")
        count = c.u32()
        table = c.pos
        rel = [c.u32() for _ in range(count)]
        first = c.pos
        ctx = contexts.get(table) or next(
            (v for k, v in contexts.items() if first <= k < end), None
        )
        if ctx is not None:
            starts: dict[int, int] = {}
            body = bytearray()
            while c.pos < end:
                starts[c.pos] = len(body)
                _list(c, loc, ctx, addr, amap, tally, body)
            new_start = len(buf)
            new_table = new_start + 12
            new_first = new_table + 4 * count
            buf += struct.pack("<IHBBI", 8 + 4 * count + len(body), 5, 4, 0, count)
            for r in rel:
                if table + r not in starts:
                    raise DwarfError(f"{what}: offset table entry 0x{r:x} is not a list start")
                buf += struct.pack("<I", starts[table + r] + new_first - new_table)
            buf += body
            out.tables[table] = new_table
            for old, new in starts.items():
                out.lists[old] = new_first + new
        pos = end
    out.data = bytes(buf)
    return out


def _list(
    c: Cur,
    loc: bool,
    ctx: ListContext,
    addr: AddrTable,
    amap: AddrMap,
    tally: Tally,
    out: bytearray,
) -> None:
    """Decode one list at ``c`` and append its re-encoding (absolute ranges) to ``out``."""
    base = ctx.base
    # rnglists and loclists share entry kinds 0-4; loclists insert default_location at 5
    shift = 1 if loc else 0
    while True:
        kind = c.u8()
        if kind == 0:
            out.append(0)
            return
        start: int | None
        if kind == 1:  # base_addressx
            base = addr.get(ctx.addr_base, c.uleb())
            continue
        if loc and kind == 5:  # default_location
            n = c.uleb()
            out.append(5)
            out += uleb(n) + c.data[c.pos : c.pos + n]
            c.skip(n)
            continue
        if kind == 5 + shift:  # base_address
            base = c.u32()
            continue
        if kind == 2:  # startx_endx
            start, stop = addr.get(ctx.addr_base, c.uleb()), addr.get(ctx.addr_base, c.uleb())
        elif kind == 3:  # startx_length
            start = addr.get(ctx.addr_base, c.uleb())
            stop = start + c.uleb()
        elif kind == 4:  # offset_pair
            start = base + c.uleb()
            stop = base + c.uleb()
        elif kind == 6 + shift:  # start_end
            start, stop = c.u32(), c.u32()
        elif kind == 7 + shift:  # start_length
            start = c.u32()
            stop = start + c.uleb()
        else:
            raise DwarfError(f"unknown list entry kind {kind}")
        expr = b""
        if loc:
            n = c.uleb()
            expr = uleb(n) + c.data[c.pos : c.pos + n]
            c.skip(n)
        nb, ne = amap.map(start), amap.map(stop)
        ok = nb is not None and ne is not None and nb <= ne
        tally.count(amap, start, nb if ok else None)
        if ok and nb is not None and ne is not None:
            out.append(7 + shift)  # start_length
            out += struct.pack("<I", nb) + uleb(ne - nb) + expr
