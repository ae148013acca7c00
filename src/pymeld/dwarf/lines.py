"""``.debug_line`` with its addresses moved: every line program re-encoded row by row.

Headers are copied verbatim; in the opcode stream everything that does not move the address
is copied as it was, and each row's address is re-expressed against the fused code (a special
opcode when it still fits, else ``DW_LNS_advance_pc`` first). A sequence any of whose rows
lands outside the mapped code (dead-code tombstones, bodies without an exact map) is dropped
whole, so no row ever points at an instruction it did not describe.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

from pymeld.codec.binary import uleb
from pymeld.dwarf.reader import Cur, DwarfError

__all__ = ["LineStats", "rewrite_lines"]


class AddrMap(Protocol):
    """Old code address → new one (None: not mapped); ``dead``: it described no code;
    ``spans_code``: ``[start, end)`` is part of one function, from its body start."""

    def map(self, addr: int) -> int | None: ...

    def dead(self, addr: int) -> bool: ...

    def spans_code(self, start: int, end: int) -> bool: ...


_LNS_COPY = 1
_LNS_ADVANCE_PC = 2
_LNS_ADVANCE_LINE = 3
_LNS_CONST_ADD_PC = 8
_LNS_FIXED_ADVANCE_PC = 9
_LNE_END_SEQUENCE = 1
_LNE_SET_ADDRESS = 2


@dataclass(slots=True)
class LineStats:
    rows: int = 0
    rows_dropped: int = 0  # in code that has no exact map in the fused module
    rows_dead: int = 0  # in sequences the linker had already tombstoned (removed code)
    sequences: int = 0
    sequences_dropped: int = 0


class _Drop(Exception):
    """This sequence cannot be mapped (rows are counted as dropped or dead)."""

    def __init__(self, addr: int) -> None:
        self.addr = addr


def rewrite_lines(
    data: bytes, amap: AddrMap, stats: LineStats, str_base: int = 0, line_str_base: int = 0
) -> tuple[bytes, dict[int, int]]:
    """The re-encoded section and the map old unit offset → new unit offset.

    DWARF 5 headers name files through ``.debug_str``/``.debug_line_str`` offsets, which move
    by ``str_base``/``line_str_base`` when the string sections are concatenated.
    """
    out = bytearray()
    offsets: dict[int, int] = {}
    pos = 0
    bases = {_FORM_STRP: str_base, _FORM_LINE_STRP: line_str_base}
    while pos < len(data):
        offsets[pos] = len(out)
        pos = _unit(data, pos, amap, out, stats, bases)
    return bytes(out), offsets


_FORM_STRP = 0x0E
_FORM_LINE_STRP = 0x1F
_ENTRY_FIXED = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x1E: 16, 0x0E: 4, 0x1F: 4}


def _entries(c: Cur, patches: list[tuple[int, int]]) -> None:
    """Skip a DWARF 5 directory or file-name table, noting string offsets to move."""
    formats = [(c.uleb(), c.uleb()) for _ in range(c.u8())]
    for _ in range(c.uleb()):
        for _, form in formats:
            if form in (_FORM_STRP, _FORM_LINE_STRP):
                patches.append((c.pos, form))
            if form in _ENTRY_FIXED:
                c.skip(_ENTRY_FIXED[form])
            elif form == 0x08:
                c.cstr()
            elif form == 0x0F:
                c.uleb()
            elif form == 0x09:
                c.skip(c.uleb())
            else:
                raise DwarfError(f".debug_line: entry form 0x{form:x} is not supported")


def _unit(
    data: bytes,
    start: int,
    amap: AddrMap,
    out: bytearray,
    stats: LineStats,
    bases: dict[int, int],
) -> int:
    c = Cur(data, start, what=".debug_line")
    end = c.unit_end()
    if end > len(data):
        raise DwarfError(f".debug_line: unit at 0x{start:x} runs past the section")
    c.end = end
    version = c.u16()
    if not 2 <= version <= 5:
        raise DwarfError(f"line table version {version} is not supported (2-5 are)")
    if version == 5:
        addr_size, seg_size = c.u8(), c.u8()
        if addr_size != 4 or seg_size != 0:
            raise DwarfError(f".debug_line: address size {addr_size}, segment size {seg_size}")
    header_length = c.u32()
    program = c.pos + header_length
    min_inst = c.u8()
    if version >= 4:
        c.u8()  # maximum_operations_per_instruction (1: no VLIW)
    c.u8()  # default_is_stmt
    c.s8()  # line_base: line deltas are copied inside the opcodes, never re-derived
    line_range = c.u8()
    opcode_base = c.u8()
    if min_inst != 1 or line_range == 0 or opcode_base == 0:
        raise DwarfError(
            f".debug_line unit at 0x{start:x}: minimum_instruction_length {min_inst}, "
            f"line_range {line_range}, opcode_base {opcode_base} (wasm uses 1, >0, >0)"
        )
    lengths = [c.u8() for _ in range(opcode_base - 1)]
    if program > end:
        raise DwarfError(f".debug_line unit at 0x{start:x}: header runs past the unit")
    patches: list[tuple[int, int]] = []
    if version == 5:
        c.end = program
        _entries(c, patches)  # directories
        _entries(c, patches)  # file names
        c.end = end
    body = bytearray()
    c.pos = program
    seq = bytearray()
    rows = 0
    addr = 0  # decoder state: old address
    new = 0  # encoder state: new address of the last emitted address change
    dropping = False
    dead = False

    def advance(old: int) -> None:
        nonlocal new
        to = amap.map(old)
        if to is None or to < new:
            raise _Drop(old)
        if to > new:
            seq.append(_LNS_ADVANCE_PC)
            seq.extend(uleb(to - new))
            new = to

    while c.pos < end:
        op_at = c.pos
        op = c.u8()
        try:
            if op >= opcode_base:
                adj = op - opcode_base
                addr += adj // line_range
                rows += 1
                if dropping:
                    continue
                target = amap.map(addr)
                if target is None or target < new:
                    raise _Drop(addr)
                line_adv = adj % line_range  # (line delta - line_base)
                d = target - new
                if d * line_range + line_adv + opcode_base <= 255:
                    seq.append(d * line_range + line_adv + opcode_base)
                else:
                    advance(addr)
                    seq.append(line_adv + opcode_base)
                new = target
            elif op == 0:
                n = c.uleb()
                ext_at = c.pos
                if n == 0 or ext_at + n > end:
                    raise DwarfError(f".debug_line: bad extended opcode at 0x{op_at:x}")
                sub = data[ext_at]
                c.pos = ext_at + n
                if sub == _LNE_END_SEQUENCE:
                    rows += 1
                    stats.sequences += 1
                    if not dropping:
                        advance(addr)
                        seq.extend(data[op_at : c.pos])
                        body.extend(seq)
                        stats.rows += rows
                    else:
                        if dead:
                            stats.rows_dead += rows
                        else:
                            stats.rows_dropped += rows
                        stats.sequences_dropped += 1
                    seq.clear()
                    rows = addr = new = 0
                    dropping = dead = False
                elif sub == _LNE_SET_ADDRESS:
                    if n != 5:
                        raise DwarfError(f".debug_line: set_address of {n - 1} bytes")
                    addr = int(struct.unpack_from("<I", data, ext_at + 1)[0])
                    if dropping:
                        continue
                    target = amap.map(addr)
                    if target is None or target < new:
                        raise _Drop(addr)
                    seq.extend(b"\x00\x05\x02" + struct.pack("<I", target))
                    new = target
                elif not dropping:
                    seq.extend(data[op_at : c.pos])
            elif op == _LNS_ADVANCE_PC:
                addr += c.uleb()
            elif op == _LNS_CONST_ADD_PC:
                addr += (255 - opcode_base) // line_range
            elif op == _LNS_FIXED_ADVANCE_PC:
                addr += c.u16()
            else:
                if op == _LNS_COPY:
                    rows += 1
                    if not dropping:
                        advance(addr)
                elif op == _LNS_ADVANCE_LINE:
                    c.sleb()
                else:
                    for _ in range(lengths[op - 1]):
                        c.uleb()
                if not dropping:
                    seq.extend(data[op_at : c.pos])
        except _Drop as e:
            dropping = True
            dead = amap.dead(e.addr)
            seq.clear()
    if rows:  # a last sequence without DW_LNE_end_sequence is dropped
        stats.rows_dropped += rows
        stats.sequences_dropped += 1
    out.extend(struct.pack("<I", program - (start + 4) + len(body)))
    header = bytearray(data[start + 4 : program])
    for pos, form in patches:
        at = pos - (start + 4)
        value = int(struct.unpack_from("<I", header, at)[0]) + bases[form]
        struct.pack_into("<I", header, at, value)
    out.extend(header)
    out.extend(body)
    return end
