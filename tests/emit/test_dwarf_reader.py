"""`pymeld.dwarf.reader.read_units` on hand-built units: which values it records (the ones the
remapper moves), where, and how it fails on truncated input."""

from __future__ import annotations

import pytest

from pymeld.dwarf.reader import DwarfError, read_units
from support import uleb

# attribute and form numbers (DWARF 4)
AT_NAME, AT_LANGUAGE, AT_LOW_PC, AT_HIGH_PC, AT_STMT_LIST = 0x03, 0x13, 0x11, 0x12, 0x10
AT_DECL_LINE, AT_TYPE, AT_LOCATION = 0x3B, 0x49, 0x02
ADDR, DATA2, DATA4, STRP, UDATA, SDATA, REF4 = 0x01, 0x05, 0x06, 0x0E, 0x0F, 0x0D, 0x13
SEC_OFFSET, EXPRLOC, STRING, INDIRECT, FLAG_PRESENT = 0x17, 0x18, 0x08, 0x16, 0x19
TAG_CU, TAG_SUBPROGRAM, TAG_VARIABLE = 0x11, 0x2E, 0x34


def _abbrevs(table: dict[int, tuple[int, bool, list[tuple[int, int]]]]) -> bytes:
    out = bytearray()
    for code, (tag, children, attrs) in table.items():
        out += uleb(code) + uleb(tag) + bytes([children])
        for at, form in attrs:
            out += uleb(at) + uleb(form)
        out += bytes(2)
    return bytes(out + bytes(1))


def _unit(dies: bytes, version: int = 4) -> bytes:
    body = version.to_bytes(2, "little") + bytes(4) + bytes([4]) + dies  # abbrev offset 0
    return len(body).to_bytes(4, "little") + body


ABBREV = _abbrevs(
    {
        1: (TAG_CU, True, [(AT_LANGUAGE, DATA2), (AT_NAME, STRING)]),
        2: (
            TAG_SUBPROGRAM,
            True,
            [(AT_LOW_PC, ADDR), (AT_HIGH_PC, DATA4), (AT_NAME, STRP), (AT_DECL_LINE, UDATA)],
        ),
        3: (TAG_VARIABLE, False, [(AT_DECL_LINE, SDATA), (AT_TYPE, REF4), (AT_LOCATION, EXPRLOC)]),
        4: (TAG_VARIABLE, False, [(AT_LOCATION, SEC_OFFSET), (0x3F, FLAG_PRESENT)]),
        5: (TAG_VARIABLE, False, [(AT_LOW_PC, INDIRECT), (AT_TYPE, INDIRECT)]),
    }
)

DIES = (
    b"\x01"
    + (12).to_bytes(2, "little")
    + b"a.c\0"  # unit DIE: nothing the remap moves
    + b"\x02"
    + (0x120).to_bytes(4, "little")
    + (0x30).to_bytes(4, "little")
    + (7).to_bytes(4, "little")
    + uleb(300)
    + b"\x03"
    + b"\x7f"
    + (0x2A).to_bytes(4, "little")
    + b"\x03\x91\x00\x06"  # exprloc, 3 bytes
    + b"\x04"
    + (0x44).to_bytes(4, "little")
    + b"\x05"
    + uleb(ADDR)
    + (0x150).to_bytes(4, "little")
    + uleb(REF4)
    + (9).to_bytes(4, "little")
    + b"\x00\x00"
)


def test_records_the_values_the_remap_moves_and_where() -> None:
    (whole,) = read_units(_unit(DIES), ABBREV, whole=True)
    got = [[(a.attr, a.form, a.pos, a.width, a.value) for a in die] for die in whole.dies]
    dies_at = 11  # initial length, version, abbreviation offset, address size
    sub = dies_at + 1 + 2 + 4  # after the unit DIE
    die4 = sub + 15 + 10  # after the subprogram (15 bytes) and variable (10 bytes) DIEs
    assert got == [
        [],  # the unit DIE is always recorded, even with nothing to move
        [
            (AT_LOW_PC, ADDR, sub + 1, 4, 0x120),
            (AT_HIGH_PC, DATA4, sub + 5, 4, 0x30),  # a length, in a data form
        ],  # the udata line number is not recorded
        # DIE 3 (sdata, ref4, exprloc) holds nothing to move: not recorded
        [(AT_LOCATION, SEC_OFFSET, die4 + 1, 4, 0x44)],
        [(AT_LOW_PC, ADDR, die4 + 5 + 1 + 1, 4, 0x150)],  # indirect: form in the data
    ]
    # a string offset only shifts with .debug_str: listed by position, not per DIE
    assert whole.strp == [sub + 9] and whole.line_strp == whole.ref_addr == []
    assert whole.locs == whole.pcs == whole.lows == whole.highs == []
    # by default, the low/high pc pair and the location list offset are listed by position
    (unit,) = read_units(_unit(DIES), ABBREV)
    assert [[(a.attr, a.pos) for a in die] for die in unit.dies] == [
        [],
        [(AT_LOW_PC, die4 + 5 + 1 + 1)],  # a form in the data: its DIE is recorded whole
    ]
    assert (unit.lows, unit.highs, unit.locs) == ([sub + 1], [sub + 5], [die4 + 1])
    assert unit.strp == whole.strp and unit.pcs == unit.ranges == []


def test_the_unit_die_is_recorded_whole_and_other_shapes_stay_in_their_die() -> None:
    """The unit's own DIE keeps its low_pc and list offsets in ``dies[0]`` (its low_pc is
    the unit's base); a lone low_pc is listed in ``pcs``, a DWARF 2-4 range list offset in
    ``ranges``; a high_pc that is an address, or a length in another data form than data4,
    keeps its DIE recorded."""
    at_ranges = 0x55
    abbrev = _abbrevs(
        {
            1: (TAG_CU, True, [(AT_LOW_PC, ADDR), (at_ranges, SEC_OFFSET)]),
            2: (0x4109, False, [(AT_LOW_PC, ADDR)]),  # a call site
            3: (0x0B, True, [(at_ranges, SEC_OFFSET)]),  # a lexical block
            4: (TAG_SUBPROGRAM, True, [(AT_LOW_PC, ADDR), (AT_HIGH_PC, ADDR)]),
            5: (TAG_SUBPROGRAM, True, [(AT_HIGH_PC, DATA2), (AT_LOW_PC, ADDR)]),
        }
    )
    dies = (
        b"\x01" + (0).to_bytes(4, "little") + (0x20).to_bytes(4, "little")  # at 11
        + b"\x02" + (0x30).to_bytes(4, "little")  # at 20
        + b"\x03" + (0x40).to_bytes(4, "little")  # at 25
        + b"\x04" + (0x50).to_bytes(4, "little") + (0x58).to_bytes(4, "little")  # at 30
        + b"\x05" + (0x8).to_bytes(2, "little") + (0x60).to_bytes(4, "little")  # at 39
        + b"\x00"
    )  # fmt: skip
    (unit,) = read_units(_unit(dies), abbrev)
    assert [[(a.attr, a.pos) for a in die] for die in unit.dies] == [
        [(AT_LOW_PC, 12), (at_ranges, 16)],
        [(AT_LOW_PC, 31), (AT_HIGH_PC, 35)],
        [(AT_HIGH_PC, 40), (AT_LOW_PC, 42)],
    ]
    assert (unit.pcs, unit.ranges, unit.lows, unit.locs) == ([21], [26], [], [])


def test_offsets_that_only_shift_are_listed_by_position_whatever_their_layout() -> None:
    """strp / line_strp / ref_addr after a variable-size value, through DW_FORM_indirect, and
    in a DIE with nothing else to record; a low_pc in such a form stays in its DIE (the
    remapper looks it up by name)."""
    line_strp, ref_addr = 0x1F, 0x10
    abbrev = _abbrevs(
        {
            1: (TAG_CU, True, [(AT_NAME, STRP), (AT_LANGUAGE, DATA2)]),
            2: (TAG_VARIABLE, False, [(AT_DECL_LINE, UDATA), (AT_NAME, line_strp)]),
            3: (TAG_VARIABLE, False, [(AT_TYPE, INDIRECT), (AT_NAME, INDIRECT)]),
            4: (TAG_VARIABLE, False, [(AT_LOCATION, EXPRLOC), (AT_TYPE, ref_addr)]),
            5: (TAG_VARIABLE, False, [(AT_LOW_PC, STRP)]),
        }
    )
    dies = (
        b"\x01" + (5).to_bytes(4, "little") + bytes(2)  # at 11
        + b"\x02" + uleb(300) + (6).to_bytes(4, "little")  # at 18: the offset at 21
        + b"\x03" + uleb(ref_addr) + (8).to_bytes(4, "little")  # at 25: type at 27
        + uleb(STRP) + (9).to_bytes(4, "little")  # name at 32
        + b"\x04" + b"\x02\x91\x00" + (10).to_bytes(4, "little")  # at 36: type at 40
        + b"\x05" + (11).to_bytes(4, "little")  # at 44: low_pc at 45
        + b"\x00"
    )  # fmt: skip
    (unit,) = read_units(_unit(dies), abbrev)
    assert unit.strp == [12, 32] and unit.line_strp == [21] and unit.ref_addr == [27, 40]
    assert [[(a.attr, a.form, a.pos, a.value) for a in die] for die in unit.dies] == [
        [],
        [(AT_LOW_PC, STRP, 45, 11)],
    ]


def test_dwarf_2_and_3_section_offsets_in_data4_are_recorded() -> None:
    abbrev = _abbrevs({1: (TAG_CU, False, [(AT_STMT_LIST, DATA4), (AT_LANGUAGE, DATA2)])})
    for version, want in ((3, [[(AT_STMT_LIST, 0x40)]]), (4, [[]])):
        (unit,) = read_units(
            _unit(b"\x01" + (0x40).to_bytes(4, "little") + bytes(2), version), abbrev
        )
        assert [[(a.attr, a.value) for a in die] for die in unit.dies] == want


@pytest.mark.parametrize("cut", range(1, len(DIES) - 2))
def test_a_truncated_unit_is_an_error_not_a_wrong_read(cut: int) -> None:
    """The unit's length says where it ends; a DIE running past it is rejected (here each
    prefix of the DIEs, closed by a unit length that ends inside a value)."""
    info = _unit(DIES[:cut])
    try:
        (unit,) = read_units(info, ABBREV)
    except DwarfError as e:
        assert (".debug_info" in str(e) and "unexpected end" in str(e)) or "string" in str(e)
        return
    # it ended on a DIE boundary: what it read is the prefix of the full read
    (full,) = read_units(_unit(DIES), ABBREV)
    assert len(unit.dies) <= len(full.dies)
    for d, f in zip(unit.dies, full.dies):
        assert [(a.attr, a.pos, a.value) for a in d] == [(a.attr, a.pos, a.value) for a in f]


def test_a_value_past_the_section_end_is_an_error() -> None:
    info = _unit(DIES)
    body = bytearray(info)
    body[0:4] = (len(info) + 40).to_bytes(4, "little")  # claims more than there is
    with pytest.raises(DwarfError, match="runs past the section"):
        read_units(bytes(body), ABBREV)


@pytest.mark.parametrize("cut", range(1, 7))
def test_a_truncated_die_that_records_nothing_is_an_error(cut: int) -> None:
    """A DIE of fixed-size values nobody moves is skipped in one step; one cut by the unit's
    end is still rejected (checked once, after the last DIE)."""
    abbrev = _abbrevs(
        {
            1: (TAG_CU, True, [(AT_LANGUAGE, DATA2)]),
            2: (TAG_VARIABLE, False, [(AT_DECL_LINE, DATA2), (AT_TYPE, REF4)]),
        }
    )
    die = b"\x02" + (7).to_bytes(2, "little") + (0x2A).to_bytes(4, "little")
    (unit,) = read_units(_unit(b"\x01" + bytes(2) + die), abbrev)
    assert unit.dies == [[]]
    with pytest.raises(DwarfError, match="unexpected end in the DIE at offset 0xe"):
        read_units(_unit(b"\x01" + bytes(2) + die[:cut]), abbrev)


@pytest.mark.parametrize("cut", range(1, 12))
def test_a_truncated_abbreviation_table_says_where(cut: int) -> None:
    with pytest.raises(DwarfError, match=r"\.debug_abbrev: unexpected end at offset 0x"):
        read_units(_unit(DIES), ABBREV[:cut])


def test_codes_and_attributes_past_127_take_several_bytes() -> None:
    """Abbreviation code 300, attribute 0x88 (DW_AT_alignment) and form udata as a padded
    LEB128 in the table; the DIE names its abbreviation with a 2-byte code."""
    table = uleb(300) + uleb(TAG_SUBPROGRAM) + b"\x00"
    table += uleb(0x88) + b"\x8f\x00"  # udata, padded to two bytes
    table += uleb(AT_LOW_PC) + uleb(ADDR) + bytes(2) + bytes(1)
    abbrev = _abbrevs({1: (TAG_CU, True, [(AT_LANGUAGE, DATA2)])})[:-1] + table
    die = uleb(300) + uleb(8) + (0x120).to_bytes(4, "little")
    (unit,) = read_units(_unit(b"\x01" + bytes(2) + die + b"\x00"), abbrev, whole=True)
    assert [[(a.attr, a.pos, a.value) for a in d] for d in unit.dies] == [
        [],
        [(AT_LOW_PC, 11 + 3 + 2 + 1, 0x120)],
    ]
    (unit,) = read_units(_unit(b"\x01" + bytes(2) + die + b"\x00"), abbrev)
    assert unit.dies == [[]] and unit.pcs == [11 + 3 + 2 + 1]
