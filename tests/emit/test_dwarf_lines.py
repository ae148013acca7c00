"""`pymeld.dwarf.lines.rewrite_lines` on generated line programs, checked against a plain
decoder written here: every kept sequence has the input's rows (line, file, column, flags)
at the mapped addresses; a sequence with a row (or address) that cannot be mapped, or that
would move backwards, is dropped whole and counted; damaged programs raise `DwarfError`."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymeld.dwarf import lines
from pymeld.dwarf.lines import LineStats, rewrite_lines
from pymeld.dwarf.reader import DwarfError
from support import RunsMap, read_uleb, sleb, uleb

OPCODE_BASE, LINE_BASE, LINE_RANGE = 13, -5, 14
LENGTHS = [0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1]  # DWARF 4's standard opcode operand counts


def unit(program: bytes) -> bytes:
    """A DWARF 4 line table around ``program`` (no directories, one file)."""
    rest = bytes([1, 1, 1, LINE_BASE & 0xFF, LINE_RANGE, OPCODE_BASE, *LENGTHS])
    rest += b"\0" + b"a.c\0\0\0\0" + b"\0"
    body = struct.pack("<HI", 4, len(rest)) + rest + program
    return struct.pack("<I", len(body)) + body


def header(section: bytes, pos: int) -> tuple[int, int, bytes, int, int, int]:
    """The DWARF 4 line table header at ``pos``: its end, opcode base, standard opcode
    lengths, line base, line range and where its program starts."""
    length, _, header_length = struct.unpack_from("<IHI", section, pos)
    opcode_base = section[pos + 10 + 5]
    lengths = section[pos + 16 : pos + 16 + opcode_base - 1]
    line_base = struct.unpack_from("<b", section, pos + 10 + 3)[0]
    line_range = section[pos + 10 + 4]
    return pos + 4 + length, opcode_base, lengths, line_base, line_range, pos + 10 + header_length


def decode(section: bytes) -> list[list[tuple[int, ...]]]:
    """Sequences of rows (address, line, file, column, is_stmt, kind), the plain way; kind 1
    is the end of the sequence, 2 a DW_LNE_set_address (its address must map too)."""
    seqs: list[list[tuple[int, ...]]] = []
    pos = 0
    while pos < len(section):
        end, opcode_base, lengths, line_base, line_range, p = header(section, pos)
        rows: list[tuple[int, ...]] = []
        addr, line, file, col, stmt = 0, 1, 1, 0, 1

        def leb(signed: bool = False) -> int:
            nonlocal p
            v = shift = 0
            while True:
                b = section[p]
                p += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    return v - (1 << shift) if signed and b & 0x40 else v

        while p < end:
            op = section[p]
            p += 1
            if op >= opcode_base:
                adj = op - opcode_base
                addr += adj // line_range
                line += line_base + adj % line_range
                rows.append((addr, line, file, col, stmt, 0))
            elif op == 0:
                n = leb()
                sub, arg = section[p], section[p + 1 : p + n]
                p += n
                if sub == 1:
                    rows.append((addr, line, file, col, stmt, 1))
                    seqs.append(rows)
                    rows = []
                    addr, line, file, col, stmt = 0, 1, 1, 0, 1
                elif sub == 2:
                    addr = int.from_bytes(arg, "little")
                    rows.append((addr, line, file, col, stmt, 2))
            elif op == 1:
                rows.append((addr, line, file, col, stmt, 0))
            elif op == 2:
                addr += leb()
            elif op == 3:
                line += leb(signed=True)
            elif op == 4:
                file = leb()
            elif op == 5:
                col = leb()
            elif op == 6:
                stmt = 1 - stmt
            elif op == 8:
                addr += (255 - opcode_base) // line_range
            elif op == 9:
                addr += int.from_bytes(section[p : p + 2], "little")
                p += 2
            else:
                for _ in range(lengths[op - 1]):
                    leb()
        pos = end
    return seqs


class Stretch:
    """Addresses [0x10, 0x300) move to 3 * addr + 7 (rows drift apart: special opcodes stop
    fitting); ``holes`` inside are unmapped; 0xFFFFFFF0 and up are dead (tombstones)."""

    def __init__(self, holes: frozenset[int] = frozenset()) -> None:
        self.holes = holes

    def map(self, addr: int) -> int | None:
        if 0x10 <= addr < 0x300 and addr not in self.holes:
            return 3 * addr + 7
        return None

    def step(self, addr: int) -> tuple[float, float, int | None]:
        to = self.map(addr)
        return addr, addr + 1, None if to is None else to - addr

    def dead(self, addr: int) -> bool:
        return addr >= 0xFFFFFFF0

    def spans_code(self, start: int, end: int) -> bool:
        return False


def reencoded(section: bytes, amap: Stretch | RunsMap) -> bytes:
    """The rewrite `rewrite_lines` makes, the plain way: headers as they are; in a sequence,
    opcodes that do not move the address copied, the ones that do left out, each row
    written at its mapped address (a special opcode when it fits, else DW_LNS_advance_pc
    first; a copy or the end after DW_LNS_advance_pc when it moved), a sequence with a row
    that maps nowhere or backwards left out whole, and so is an unterminated last one."""
    out = bytearray()
    pos = 0
    while pos < len(section):
        end, opcode_base, lengths, _, line_range, start = header(section, pos)
        p = start
        body = bytearray()
        seq, addr, new, ok = bytearray(), 0, 0, True

        def leb_end(at: int) -> int:
            while section[at] >= 0x80:
                at += 1
            return at + 1

        def moved(row: int, new: int) -> int | None:
            to = amap.map(row)
            return to if to is not None and to >= new else None

        while p < end:
            op_at, op = p, section[p]
            p += 1
            if op >= opcode_base:
                addr += (op - opcode_base) // line_range
                to = moved(addr, new)
                if ok and to is not None:
                    line_op = (op - opcode_base) % line_range + opcode_base
                    d = to - new
                    if d * line_range + line_op <= 255:
                        seq.append(d * line_range + line_op)
                    else:
                        seq += bytes([2]) + uleb(d) + bytes([line_op])
                    new = to
                else:
                    ok = False
            elif op == 0:
                p = leb_end(p)
                p, sub = p + section[p - 1], section[p]
                if sub == 1:
                    to = moved(addr, new)
                    if ok and to is not None:
                        if to > new:
                            seq += bytes([2]) + uleb(to - new)
                        body += seq + section[op_at:p]
                    seq, addr, new, ok = bytearray(), 0, 0, True
                elif sub == 2:
                    addr = int.from_bytes(section[p - 4 : p], "little")
                    to = moved(addr, new)
                    if ok and to is not None:
                        seq += b"\x00\x05\x02" + struct.pack("<I", to)
                        new = to
                    else:
                        ok = False
                else:
                    seq += section[op_at:p]
            elif op == 1:
                to = moved(addr, new)
                if ok and to is not None:
                    if to > new:
                        seq += bytes([2]) + uleb(to - new)
                        new = to
                    seq.append(1)
                else:
                    ok = False
            elif op == 2:
                addr += read_uleb(section, p)[0]
                p = leb_end(p)
            elif op == 8:
                addr += (255 - opcode_base) // line_range
            elif op == 9:
                addr += int.from_bytes(section[p : p + 2], "little")
                p += 2
            else:
                for _ in range(lengths[op - 1]):
                    p = leb_end(p)
                seq += section[op_at:p]
        out += struct.pack("<I", start - (pos + 4) + len(body))
        out += section[pos + 4 : start] + body
        pos = end
    return bytes(out)


# one opcode of a sequence body (after its DW_LNE_set_address)
op_st = st.one_of(
    st.integers(OPCODE_BASE, 255).map(lambda op: bytes([op])),  # special
    st.just(b"\x01"),  # copy
    st.integers(0, 300).map(lambda n: b"\x02" + uleb(n)),  # advance_pc
    st.integers(-200, 200).map(lambda n: b"\x03" + sleb(n)),  # advance_line
    st.integers(1, 200).map(lambda n: b"\x04" + uleb(n)),  # set_file
    st.integers(0, 300).map(lambda n: b"\x05" + uleb(n)),  # set_column
    st.sampled_from([b"\x06", b"\x07", b"\x08", b"\x0a", b"\x0b"]),
    st.integers(0, 70).map(lambda n: b"\x09" + struct.pack("<H", n)),  # fixed_advance_pc
    st.integers(0, 5).map(lambda n: b"\x0c" + uleb(n)),  # set_isa
    st.integers(0, 9).map(lambda n: b"\x00\x02\x04" + uleb(n)),  # set_discriminator
)
seq_st = st.tuples(
    st.one_of(st.integers(0x8, 0x200), st.just(0xFFFFFFFF)),
    st.lists(op_st, max_size=25),
)


def program(seqs: list[tuple[int, list[bytes]]]) -> bytes:
    return b"".join(
        b"\x00\x05\x02" + struct.pack("<I", a) + b"".join(ops) + b"\x00\x01\x01" for a, ops in seqs
    )


def expected(seqs: list[list[tuple[int, ...]]], amap: Stretch) -> list[list[tuple[int, ...]]]:
    out = []
    for rows in seqs:
        moved = [amap.map(r[0]) for r in rows]
        if any(m is None for m in moved) or moved != sorted(moved):  # type: ignore[type-var]
            continue
        out.append([(m, *r[1:]) for m, r in zip(moved, rows)])
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(seq_st, min_size=1, max_size=6), st.frozensets(st.integers(0x10, 0x300)))
def test_rows_keep_their_lines_at_mapped_addresses(
    seqs: list[tuple[int, list[bytes]]], holes: frozenset[int]
) -> None:
    section = unit(program(seqs))
    amap = Stretch(holes)
    stats = LineStats()
    out, offsets = rewrite_lines(section, amap, stats)
    assert offsets == {0: 0}
    rows = decode(section)
    want = expected(rows, amap)
    assert decode(out) == want
    # every sequence counted once: kept, dropped or dead; rows in the kept ones
    assert stats.sequences == len(rows)
    assert stats.sequences - stats.sequences_dropped - stats.sequences_dead == len(want)
    assert stats.rows == sum(1 for seq in want for r in seq if r[5] != 2)
    # a sequence starting at a tombstone is dead, not dropped
    assert stats.sequences_dead == sum(1 for seq in rows if seq[0][0] == 0xFFFFFFFF)


cut_st = st.tuples(
    st.integers(0, 0x400), st.one_of(st.none(), st.integers(-8, 8), st.integers(-8, 8))
)


@settings(max_examples=300, deadline=None)
@given(st.lists(seq_st, min_size=1, max_size=6), st.lists(cut_st, max_size=12))
def test_steps_of_one_delta_give_the_plain_rewrite(
    seqs: list[tuple[int, list[bytes]]], cuts: list[tuple[int, int | None]]
) -> None:
    """Under a map of runs moved by one delta (rows mostly move as the row before them, and
    keep their opcodes), the rewrite is byte for byte the plain one (`reencoded`); so it
    is under `Stretch`, where no two addresses move alike."""
    section = unit(program(seqs))
    steps = RunsMap(
        [(a, None if d is None else 0x20 * (k % 3) + d) for k, (a, d) in enumerate(cuts)],
        dead_from=0xFFFFFFF0,
    )
    assert rewrite_lines(section, steps, LineStats())[0] == reencoded(section, steps)
    stretch = Stretch(frozenset(a for a, _ in cuts))
    assert rewrite_lines(section, stretch, LineStats())[0] == reencoded(section, stretch)


def test_an_unmappable_end_drops_its_sequence_only() -> None:
    """The address of DW_LNE_end_sequence maps nowhere: that sequence goes, the next stays."""
    first = b"\x00\x05\x02" + struct.pack("<I", 0x20) + b"\x01\x02" + uleb(0x400) + b"\x00\x01\x01"
    second = b"\x00\x05\x02" + struct.pack("<I", 0x40) + b"\x01\x02\x04\x00\x01\x01"
    stats = LineStats()
    out, _ = rewrite_lines(unit(first + second), Stretch(), stats)
    assert decode(out) == [[(0xC7, 1, 1, 0, 1, 2), (0xC7, 1, 1, 0, 1, 0), (0xD3, 1, 1, 0, 1, 1)]]
    assert (stats.sequences, stats.sequences_dropped, stats.sequences_dead, stats.rows) == (
        2,
        1,
        0,
        2,
    )


def test_dead_sequences_are_counted_not_kept() -> None:
    dead = b"\x00\x05\x02" + b"\xff" * 4 + b"\x05\x03\x15\x15\x01\x00\x01\x01"
    live = b"\x00\x05\x02" + struct.pack("<I", 0x20) + b"\x15\x00\x01\x01"
    stats = LineStats()
    out, _ = rewrite_lines(unit(dead + live + dead), Stretch(), stats)
    assert len(decode(out)) == 1
    assert (stats.sequences, stats.sequences_dropped, stats.sequences_dead, stats.rows) == (
        3,
        0,
        2,
        2,
    )


@pytest.mark.parametrize("tail", [b"\x02\x80", b"\x09\x01", b"\x00\x09\x02", b"\x05\x81", b"\x00"])
@pytest.mark.parametrize("start", [0x20, 0xFFFFFFFF])
def test_a_truncated_program_is_an_error(tail: bytes, start: int) -> None:
    """Operands running past the unit's end, in a live sequence and in a dropped one."""
    prog = b"\x00\x05\x02" + struct.pack("<I", start) + b"\x15" + tail
    section = unit(prog) + unit(b"")  # the next unit's bytes follow: never read as operands
    with pytest.raises(DwarfError, match=r"unexpected end|bad extended opcode"):
        rewrite_lines(section, Stretch(), LineStats())


def test_an_unterminated_sequence_is_dropped_and_counted() -> None:
    prog = b"\x00\x05\x02" + struct.pack("<I", 0x20) + b"\x15\x15"
    stats = LineStats()
    out, _ = rewrite_lines(unit(prog), Stretch(), stats)
    assert decode(out) == []
    assert (stats.sequences, stats.sequences_dropped, stats.sequences_dead) == (1, 1, 0)


def test_dropped_sequences_are_passed_over_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rest of a dropped sequence is matched by `_rest_pattern` in one call; one with an
    extended opcode it does not know (DW_LNE_set_discriminator), or cut by the program's
    end, is gone through by `_skip_sequence`; either way the next sequence is found where
    it starts. Operand bytes that look like DW_LNE_end_sequence (00 01 01) end nothing."""
    calls: list[int] = []
    skip = lines._skip_sequence

    def counted(*args: Any) -> tuple[int, bool]:
        calls.append(args[1])
        return skip(*args)

    monkeypatch.setattr(lines, "_skip_sequence", counted)
    # every standard opcode, the lowest and highest special ones, a second set_address, and
    # operands 00 01 01
    body = b"\x05\x00\x01\x01\x0d\x09\x00\x01\x01\x03\x00\x01\x01\xff\x02\x80\x01\x04\x02"
    body += b"\x06\x07\x08\x0a\x0b\x0c\x00\x01\x00\x05\x02\x00\x01\x01\x00\x15"
    dead = b"\x00\x05\x02" + b"\xff" * 4 + body + b"\x00\x01\x01"
    odd = b"\x00\x05\x02" + b"\xff" * 4 + b"\x15\x00\x02\x04\x01" + body + b"\x00\x01\x01"
    live = b"\x00\x05\x02" + struct.pack("<I", 0x20) + b"\x15\x00\x01\x01"
    stats = LineStats()
    section = unit(dead + live + odd + live)
    out, _ = rewrite_lines(section, Stretch(), stats)
    kept = expected(decode(section), Stretch())
    assert decode(out) == kept and len(kept) == 2
    assert (stats.sequences, stats.sequences_dead, stats.rows) == (4, 2, 4)
    assert len(calls) == 1  # the sequence with the discriminator only
    stats = LineStats()
    out, _ = rewrite_lines(unit(dead + live + dead[:-3]), Stretch(), stats)
    assert len(decode(out)) == 1 and len(calls) == 2  # cut: gone through, then dropped
    assert (stats.sequences, stats.sequences_dead, stats.sequences_dropped) == (3, 1, 1)
