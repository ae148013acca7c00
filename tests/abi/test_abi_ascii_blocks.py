"""Transcoding with vector ASCII blocks (`abi.ascii_blocks`), against the spec at their edges.

Every transcoder takes 16 ASCII code units per step where 16 remain: UTF-8 -> UTF-16 (also the
ASCII bytes before the first high one of a mixed block, when the rest of the string is sure to
overwrite the units stored past them), latin1 -> UTF-16 (every byte, the last block the one
ending at the string's end), UTF-16 / latin1 -> UTF-8 and UTF-8 / UTF-16 -> latin1+utf16 (whole
ASCII blocks while the result may still move, then also mixed blocks after an ASCII code point),
and the UTF-16 form of latin1+utf16 -> latin1+utf16 (16 units validated per step when none is
a surrogate, and, all latin1, compressed in place 16 per step).
What can go wrong is at the block edges and the string's end: a unit counted or skipped twice, a
read or write past the string or the result, a non-ASCII unit taken for ASCII, units written
past the result that the spec never writes. So a non-ASCII character goes at every position
around the first three block boundaries (alone, and followed by another), strings of every
length 0..64 end in every kind of unit, and seeded random strings (ASCII runs, every width of
code point, surrogates and invalid UTF-8) are compared with the spec. Each case runs the
generated adapter in wasmtime, with and without vector code, next to definitions.py
(`abi_harness.check`: same trap or none, same callee arguments and realloc calls, both memories
byte for byte).
"""

from __future__ import annotations

import random

import pytest
from abi_harness import BUMP_BASE, PREP_BASE, Case, check

from pymeld.abi import types as T
from pymeld.abi.layout import UTF16_TAG

FT_STR = T.FuncType((("s", T.String()),), T.U32())

#: (caller encoding, callee encoding, the caller's form of the string)
PATHS = [
    ("utf8", "utf16", "utf8"),
    ("utf8", "latin1+utf16", "utf8"),
    ("utf16", "utf8", "utf16"),
    ("utf16", "latin1+utf16", "utf16"),
    ("latin1+utf16", "utf8", "latin1"),
    ("latin1+utf16", "utf16", "latin1"),
    ("latin1+utf16", "latin1+utf16", "utf16"),
]
IDS = [f"{a}-{b}" for a, _, b in PATHS]
#: per source form: a latin1 one, one wider (below/above U+FFFF), one more of the same kind
OTHERS = {
    "utf8": ["é", "€", "😀", "ÿ"],
    "utf16": ["é", "€", "😀", "\U0010ffff"],
    "latin1": ["é", "\x80", "\xff", "\xa0"],
}


def _ascii(n: int, seed: int = 0) -> str:
    return "".join(chr(0x20 + (seed + 7 * i) % 0x5F) for i in range(n))


def _case(caller: str, callee: str, form: str, raw: bytes, units: int, off: int) -> Case:
    """The caller's string: bytes `raw` of `units` code units at PREP_BASE + off (2-aligned
    for UTF-16 and compact sources), between bytes of every kind, so that a unit read past
    either end changes the result; the callee's free memory holds such bytes too."""
    if form != "utf8":
        off &= ~1
    case = Case(FT_STR, caller, callee, [("x", "utf8", 1)], 7)
    around = bytes((0xA5 ^ 7 * i) & 0xFF for i in range(64))  # not the string's: never read
    case.caller_mem_mut = {off + i - 32: b for i, b in enumerate(around)}
    case.caller_mem_mut.update({off + i: b for i, b in enumerate(raw)})
    case.caller_mem_mut.update({off + len(raw) + i: b for i, b in enumerate(around)})
    # where the callee's realloc allocates: a byte stored or loaded past the result shows too
    case.callee_mem_mut = {BUMP_BASE - PREP_BASE + i: around[i % 64] for i in range(2048)}
    tag = UTF16_TAG if caller == "latin1+utf16" and form == "utf16" else 0
    case.flat_mut = {0: PREP_BASE + off, 1: units | tag}
    return case


def _encode(s: str, form: str) -> tuple[bytes, int]:
    if form == "utf8":
        raw = s.encode("utf-8", "surrogatepass")
        return raw, len(raw)
    if form == "utf16":
        raw = s.encode("utf-16-le", "surrogatepass")
        return raw, len(raw) // 2
    return s.encode("latin1"), len(s)


def _check_text(path: tuple[str, str, str], s: str, off: int = 0) -> str | None:
    raw, units = _encode(s, path[2])
    return check(_case(*path, raw, units, off)).trap


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_non_ascii_at_every_offset_around_the_blocks(path):
    others = OTHERS[path[2]]
    for pos in range(50):
        c, d = others[pos % 4], others[(pos + 1) % 4]
        for s in (
            _ascii(pos) + c + _ascii((pos * 7) % 19, 1),
            _ascii(pos) + c + _ascii(pos % 5, 2) + d + _ascii(20 + pos % 9, 3),
        ):
            assert _check_text(path, s, pos % 4) is None, (pos, s)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_every_length_and_last_unit(path):
    """Lengths 0..64, all ASCII or ending in (or starting with) a character of every width."""
    for n in range(65):
        assert _check_text(path, _ascii(n, n), n % 8) is None, n
        for c in OTHERS[path[2]][:3]:
            assert _check_text(path, _ascii(n, n) + c, n % 3) is None, (n, c)
            assert _check_text(path, c + _ascii(n, n), n % 5) is None, (n, c)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_runs_of_wide_characters_near_the_end(path):
    """A mixed block near the end followed by only 3-byte UTF-8 characters (the fewest code
    units per byte): the units stored past the ASCII prefix would not all be overwritten."""
    wide = "€" if path[2] != "latin1" else "é"
    for lead in range(40):
        for k in range(1, 12):
            s = _ascii(lead, k) + "é" + _ascii(k % 6, 5) + wide * k
            assert _check_text(path, s, lead % 4) is None, (lead, k)


def _random_text(rng: random.Random, form: str) -> str:
    parts = []
    for _ in range(rng.randrange(1, 12)):
        r = rng.random()
        if r < 0.5:
            parts.append(_ascii(rng.randrange(0, 40), rng.randrange(90)))
        elif form == "latin1":
            parts.append(chr(rng.randrange(0x80, 0x100)) * rng.randrange(1, 4))
        elif r < 0.9:
            lo, hi = rng.choice(
                [(0x80, 0x100), (0x100, 0xD800), (0xE000, 0x10000), (0x10000, 0x110000)]
            )
            parts.append("".join(chr(rng.randrange(lo, hi)) for _ in range(rng.randrange(1, 6))))
        else:  # a lone surrogate: invalid in UTF-8 and UTF-16 sources alike
            parts.append(chr(rng.randrange(0xD800, 0xE000)))
    return "".join(parts)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_random_strings_against_the_spec(path, seed):
    rng = random.Random(seed * 100 + PATHS.index(path))
    outcomes = set()
    for _ in range(30):
        s = _random_text(rng, path[2])
        raw, units = _encode(s, path[2])
        if path[2] == "utf8" and rng.random() < 0.3:  # one byte changed: maybe invalid
            b = bytearray(raw or b"a")
            b[rng.randrange(len(b))] = rng.randrange(256)
            raw, units = bytes(b), len(b)
        got = check(_case(*path, raw, units, rng.randrange(8))).trap
        outcomes.add(got)
    if path[2] == "latin1":
        assert outcomes == {None}
    else:
        assert outcomes == {None, "params"}  # both kinds were tried


def test_utf16_units_above_0xff_are_not_ascii():
    """A UTF-16 unit is clamped to a byte for the ASCII check: units whose low byte is ASCII
    (U+0141, U+FF41, U+7F7F) or whose signed 16-bit value is negative (U+8000, U+FFFF) must
    not pass as ASCII."""
    for c in ("\u0100", "\u0141", "\uff41", "\uffff", "\u8000", "\u7f7f"):
        for pos in (0, 5, 15, 16, 17, 31):
            s = _ascii(pos) + c + _ascii(40 - pos)
            for path in [p for p in PATHS if p[2] == "utf16"]:
                assert _check_text(path, s) is None, (path, c, pos)
