"""``.debug_line`` with its addresses moved: every line program re-encoded row by row.

Headers are copied verbatim; in the opcode stream everything that does not move the address
is copied as it was, and each row's address is re-expressed against the fused code (a special
opcode when it still fits, else ``DW_LNS_advance_pc`` first). A sequence any of whose rows
lands outside the mapped code (dead-code tombstones, bodies without an exact map) is dropped
whole, so no row ever points at an instruction it did not describe.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.codec.binary import uleb
from pymeld.dwarf.reader import Cur, DwarfError, leb_at

__all__ = ["LineStats", "rewrite_lines"]


if TYPE_CHECKING:  # a protocol for annotations: `typing` stays unrun in a fusion
    from typing import Protocol

    class AddrMap(Protocol):
        """Old code address → new one (None: not mapped); ``step``: the run ``[lo, hi)`` of
        addresses around one that ``map`` moves by the same ``delta`` (None: not mapped);
        ``dead``: it described no code; ``spans_code``: ``[start, end)`` is part of one
        function, from its body start."""

        def map(self, addr: int) -> int | None: ...

        def step(self, addr: int) -> tuple[float, float, int | None]: ...

        def dead(self, addr: int) -> bool: ...

        def spans_code(self, start: int, end: int) -> bool: ...


_U32 = struct.Struct("<I").unpack_from
_P32 = struct.Struct("<I").pack
_LNS_COPY = 1
_LNS_ADVANCE_PC = 2
_LNS_ADVANCE_LINE = 3
_LNS_CONST_ADD_PC = 8
_LNS_FIXED_ADVANCE_PC = 9
_LNE_END_SEQUENCE = 1
_LNE_SET_ADDRESS = 2


@dataclass(slots=True)
class LineStats:
    """Rows are counted in the sequences kept only: the others are passed over whole, not
    decoded row by row (most of a debug build's are dead code)."""

    rows: int = 0
    sequences: int = 0
    sequences_dropped: int = 0  # with code that has no exact map in the fused module
    sequences_dead: int = 0  # the linker had already tombstoned their code (removed it)


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
    body = _program(data[program:end], program, amap, stats, opcode_base, line_range, lengths)
    out.extend(struct.pack("<I", program - (start + 4) + len(body)))
    header = bytearray(data[start + 4 : program])
    for pos, form in patches:
        at = pos - (start + 4)
        value = int(struct.unpack_from("<I", header, at)[0]) + bases[form]
        struct.pack_into("<I", header, at, value)
    out.extend(header)
    out.extend(body)
    return end


def _extended(prog: Sequence[int], pos: int, end: int, where: int) -> tuple[int, int, int]:
    """(sub-opcode, length, its position) of the extended opcode whose 0 byte is before
    ``pos`` (``where``: that byte's section offset, for the error)."""
    n = prog[pos]
    pos += 1
    if n >= 0x80:
        n, pos = leb_at(prog, pos - 1)
    if n == 0 or pos + n > end:
        raise DwarfError(f".debug_line: bad extended opcode at 0x{where:x}")
    return prog[pos], n, pos


#: `_program`'s ``shift`` once an opcode moved the address after the last row: no delta
#: equals it.
_MOVED = object()


def _program(
    prog: bytes,
    offset: int,
    amap: AddrMap,
    stats: LineStats,
    opcode_base: int,
    line_range: int,
    lengths: list[int],
) -> bytearray:
    """One unit's line program (``prog``, at ``offset`` in the section), re-encoded.

    Written for speed (a debug build has thousands of rows): one pass over the bytes with the
    decoder state in locals; opcodes that do not move the address are copied in runs (from
    ``copied`` up to the next opcode that does), and so is a row the map moves by as much
    as the row before it (``shift``, when no opcode moved the address in between), found
    within the map's last step (``[lo, hi)`` by ``delta``) without a lookup: its opcode
    re-encoded would be itself. A sequence is abandoned at its first row that cannot be
    mapped, the rest of it passed over (`_rest_pattern`, else `_skip_sequence`)."""
    step = amap.step
    end = len(prog)
    body = bytearray()
    seq = bytearray()
    # rows so far in the sequence, decoder address, encoder address (the last emitted)
    rows = addr = new = 0
    abandoned = False  # the last sequence was, and it has no DW_LNE_end_sequence
    # new - addr while no opcode moved the address since the last row kept (`new` is then
    # stale), else _MOVED (`new` is current)
    shift: object = 0
    lo: float = 0
    hi: float = 0
    delta: int | None = None
    const_add_pc = (255 - opcode_base) // line_range
    advance = [0] * opcode_base + [
        (op - opcode_base) // line_range for op in range(opcode_base, 256)
    ]
    # per standard opcode: how many LEB128 operands it has when it is copied as it is, or -1
    # for the ones handled one by one (they move the address, or are rows)
    copied_operands = [-1, *lengths]
    for op in (_LNS_COPY, _LNS_ADVANCE_PC, _LNS_CONST_ADD_PC, _LNS_FIXED_ADVANCE_PC):
        if op < opcode_base:
            copied_operands[op] = -1
    if opcode_base > _LNS_ADVANCE_LINE:
        copied_operands[_LNS_ADVANCE_LINE] = 1
    rest_of_sequence: re.Pattern[bytes] | None = None  # made at the first drop
    data = list(prog)  # (indexing a list is a specialized instruction, bytes are not)
    pos = copied = at = 0
    try:
        while pos < end:
            op = data[pos]
            pos += 1
            if op >= opcode_base:  # a special opcode: a row
                addr += advance[op]
                rows += 1
                if lo <= addr < hi:
                    if delta == shift:
                        continue  # the opcode as it is: left in the copied run
                else:
                    lo, hi, delta = step(addr)
                    if delta == shift:
                        continue
                op_at = pos - 1
                if shift is not _MOVED:
                    new = addr - advance[op] + shift  # type: ignore[operator]
                if delta is not None and addr + delta >= new:
                    if copied < op_at:
                        seq += prog[copied:op_at]
                    line_op = (op - opcode_base) % line_range + opcode_base
                    d = addr + delta - new
                    if d * line_range + line_op <= 255:
                        seq.append(d * line_range + line_op)
                    else:
                        seq.append(_LNS_ADVANCE_PC)
                        seq += uleb(d)
                        seq.append(line_op)
                    new = addr + delta
                    shift = delta
                    copied = pos
                    continue
                closed = False
            elif (k := copied_operands[op]) >= 0:  # copied as it is: skip its LEB128 operands
                while k:
                    at = pos
                    while data[pos] >= 0x80:
                        pos += 1
                    pos += 1
                    k -= 1
                continue
            elif op == 0:  # an extended opcode
                op_at = pos - 1
                at = pos
                sub, n, ext = _extended(prog, pos, end, offset + op_at)
                pos = ext + n
                if sub == _LNE_END_SEQUENCE:
                    rows += 1
                    if not lo <= addr < hi:
                        lo, hi, delta = step(addr)
                    if shift is not _MOVED:
                        new = addr + shift  # type: ignore[operator]
                    if delta is not None and addr + delta >= new:
                        if copied < op_at:
                            seq += prog[copied:op_at]
                        if addr + delta > new:
                            seq.append(_LNS_ADVANCE_PC)
                            seq += uleb(addr + delta - new)
                        seq += prog[op_at:pos]
                        body += seq
                        seq.clear()
                        stats.rows += rows
                        stats.sequences += 1
                        rows = addr = new = shift = 0
                        copied = pos
                        continue
                    closed = True
                elif sub == _LNE_SET_ADDRESS:
                    if n != 5:
                        raise DwarfError(f".debug_line: set_address of {n - 1} bytes")
                    if shift is not _MOVED:
                        new = addr + shift  # type: ignore[operator]
                    addr = int(_U32(prog, ext + 1)[0])
                    if not lo <= addr < hi:
                        lo, hi, delta = step(addr)
                    if delta is not None and addr + delta >= new:
                        if copied < op_at:
                            seq += prog[copied:op_at]
                        seq += b"\x00\x05\x02" + _P32(addr + delta)
                        new = addr + delta
                        shift = delta
                        copied = pos
                        continue
                    closed = False
                else:
                    continue  # copied as it is
            elif op in (_LNS_ADVANCE_PC, _LNS_CONST_ADD_PC, _LNS_FIXED_ADVANCE_PC):
                op_at = pos - 1
                if shift is not _MOVED:
                    new = addr + shift  # type: ignore[operator]
                    shift = _MOVED
                if copied < op_at:
                    seq += prog[copied:op_at]
                at = pos
                if op == _LNS_ADVANCE_PC:
                    n = data[pos]
                    pos += 1
                    if n >= 0x80:
                        n, pos = leb_at(prog, pos - 1)
                    addr += n
                elif op == _LNS_CONST_ADD_PC:
                    addr += const_add_pc
                else:
                    addr += data[pos] | data[pos + 1] << 8
                    pos += 2
                copied = pos
                continue
            elif op == _LNS_COPY:
                op_at = pos - 1
                rows += 1
                if not lo <= addr < hi:
                    lo, hi, delta = step(addr)
                if delta == shift:
                    continue  # where the row before was: the copy as it is
                if shift is not _MOVED:
                    new = addr + shift  # type: ignore[operator]
                if delta is not None and addr + delta >= new:
                    if addr + delta > new:
                        if copied < op_at:
                            seq += prog[copied:op_at]
                        seq.append(_LNS_ADVANCE_PC)
                        seq += uleb(addr + delta - new)
                        new = addr + delta
                        copied = op_at  # the copy itself follows
                    shift = delta
                    continue
                closed = False
            # the row at `addr` maps nowhere, or behind the previous one: drop its sequence
            if not closed:
                if rest_of_sequence is None:
                    rest_of_sequence = _rest_pattern(opcode_base, lengths)
                rest = rest_of_sequence.match(prog, pos)
                if rest is not None:
                    pos, closed = rest.end(), True
                else:  # another extended opcode, or the program ends first
                    skipped = _skipped_operands(opcode_base, lengths)
                    pos, closed = _skip_sequence(data, pos, offset, opcode_base, skipped)
            if closed:
                stats.sequences += 1
                if amap.dead(addr):
                    stats.sequences_dead += 1
                else:
                    stats.sequences_dropped += 1
            else:
                abandoned = True
            rows = 0
            seq.clear()
            addr = new = shift = 0
            copied = pos
    except IndexError:
        raise DwarfError(f".debug_line: unexpected end at offset 0x{offset + at:x}") from None
    if rows or abandoned:  # a last sequence without DW_LNE_end_sequence is dropped
        stats.sequences += 1
        stats.sequences_dropped += 1
    return body


#: `_rest_pattern`'s answers by opcode base and operand counts (units repeat their header).
_REST_PATTERNS: dict[tuple[int, tuple[int, ...]], re.Pattern[bytes]] = {}
_LEB128 = rb"[\x80-\xff]*[\x00-\x7f]"


def _rest_pattern(opcode_base: int, lengths: list[int]) -> re.Pattern[bytes]:
    """The rest of a sequence up to and with its ``DW_LNE_end_sequence``, as a regular
    expression: its opcodes are passed in one call, not one Python step each (`re` runs
    through a line program ~4 times as fast as `_skip_sequence`). It knows the standard
    and special opcodes, and of the extended ones ``DW_LNE_set_address`` only: where it
    stops short (another extended opcode, an operand past the end), `_skip_sequence` goes
    through the sequence instead."""
    key = (opcode_base, tuple(lengths))
    found = _REST_PATTERNS.get(key)
    if found is not None:
        return found
    by_count: dict[int, list[int]] = {}  # standard opcodes by their count of LEB128 operands
    alternatives = [b"[\\x%02x-\\xff]" % opcode_base, rb"\x00\x05\x02[\x00-\xff]{4}"]
    for op, k in enumerate(_skipped_operands(opcode_base, lengths)):
        if k >= 0:
            by_count.setdefault(k, []).append(op)
        elif k == -1:
            alternatives.append(rb"\x09[\x00-\xff]{2}")
    for k, ops in sorted(by_count.items()):
        alternatives.append(b"[%s]" % b"".join(b"\\x%02x" % op for op in ops) + _LEB128 * k)
    found = _REST_PATTERNS[key] = re.compile(b"(?:%s)*+\\x00\\x01\\x01" % b"|".join(alternatives))
    return found


def _skipped_operands(opcode_base: int, lengths: list[int]) -> list[int]:
    """Per opcode below ``opcode_base``: how many LEB128 operands `_skip_sequence` (and
    `_rest_pattern`) pass over, -1 for ``DW_LNS_fixed_advance_pc`` (a 2-byte operand), -2 for
    an extended opcode."""
    table = [-2, *lengths]
    for op, n in (
        (_LNS_COPY, 0),
        (_LNS_ADVANCE_PC, 1),
        (_LNS_ADVANCE_LINE, 1),
        (_LNS_CONST_ADD_PC, 0),
        (_LNS_FIXED_ADVANCE_PC, -1),
    ):
        if op < opcode_base:
            table[op] = n
    return table


def _skip_sequence(
    prog: Sequence[int], pos: int, offset: int, opcode_base: int, operands: list[int]
) -> tuple[int, bool]:
    """Past the rest of a dropped sequence, where `_rest_pattern` stops short: (position after
    its ``DW_LNE_end_sequence``, True), or (the end, False) when the program ends first;
    `DwarfError` where it is damaged. Opcodes are only decoded far enough to find the end;
    ``operands`` is `_skipped_operands`."""
    end = len(prog)
    at = 0
    try:
        while pos < end:
            op = prog[pos]
            pos += 1
            if op >= opcode_base:
                continue
            k = operands[op]
            if k > 0:
                while k:
                    at = pos
                    while prog[pos] >= 0x80:
                        pos += 1
                    pos += 1
                    k -= 1
            elif k == -1:
                at = pos
                pos += 2
                if pos > end:
                    raise IndexError
            elif k < -1:
                op_at = pos - 1
                at = pos
                sub, n, ext = _extended(prog, pos, end, offset + op_at)
                pos = ext + n
                if sub == _LNE_END_SEQUENCE:
                    return pos, True
                if sub == _LNE_SET_ADDRESS and n != 5:
                    raise DwarfError(f".debug_line: set_address of {n - 1} bytes")
    except IndexError:
        raise DwarfError(f".debug_line: unexpected end at offset 0x{offset + at:x}") from None
    return pos, False
