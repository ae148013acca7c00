"""Strings across all 3x3 encoding pairs: valid transcoding and every spec trap."""

from __future__ import annotations

import pytest
from abi_harness import PREP_BASE, STATS, Case, check
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from pymeld.abi import types as T
from support import SLOW

SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=not SLOW)
ENCS = ["utf8", "utf16", "latin1+utf16"]
PAIRS = [(a, b) for a in ENCS for b in ENCS]

S = T.String()
FT_STR = T.FuncType((("s", S),), S)
FT_MANY = T.FuncType(
    (("a", S), ("b", T.List(S)), ("c", T.Record((("x", T.U8()), ("y", S))))),
    T.Tuple((S, T.Option(S), T.List(T.Char()))),
)

TEXT = st.text(
    alphabet=st.sampled_from("aZ~\x00\x7f")
    | st.characters(min_codepoint=0x80, max_codepoint=0xFF)
    | st.characters(min_codepoint=0x100, max_codepoint=0xFFFF, blacklist_categories=("Cs",))
    | st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
    max_size=40,
)


def sv(s: str):
    return (s, "utf8", len(s.encode()))


def _n(k: int) -> int:
    return k * 20 if SLOW else k


@pytest.mark.parametrize(("src", "dst"), PAIRS)
@seed(21)
@settings(max_examples=_n(25), **SETTINGS)
@given(TEXT, TEXT, st.booleans())
def test_string_roundtrip(src, dst, s, r, swap):
    check(Case(FT_STR, src, dst, [sv(s)], sv(r), swap=swap))


@pytest.mark.parametrize(("src", "dst"), PAIRS)
@seed(22)
@settings(max_examples=_n(12), **SETTINGS)
@given(st.data())
def test_nested_strings(src, dst, data):
    a = data.draw(TEXT)
    b = data.draw(st.lists(TEXT, max_size=4))
    c = {"x": data.draw(st.integers(0, 255)), "y": sv(data.draw(TEXT))}
    res = {
        "0": sv(data.draw(TEXT)),
        "1": data.draw(st.sampled_from([{"none": None}, {"some": sv("ß→😀")}])),
        "2": data.draw(st.lists(st.characters(blacklist_categories=("Cs",)), max_size=3)),
    }
    check(Case(FT_MANY, src, dst, [sv(a), [sv(x) for x in b], c], res))


# -- hostile ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("src", "dst"), PAIRS)
@seed(23)
@settings(max_examples=_n(40), **SETTINGS)
@given(st.data())
def test_string_hostile_bytes(src, dst, data):
    """Random byte corruption of the argument/result string data and lengths."""
    s = data.draw(TEXT.filter(lambda x: len(x) > 0))
    nbytes = len(s.encode("utf-16-le" if src != "utf8" else "utf-8"))
    byte = st.integers(0, 255) | st.sampled_from([0x80, 0xBF, 0xC0, 0xC2, 0xE0, 0xED, 0xF0, 0xF4])
    hi = st.sampled_from([0xD8, 0xDB, 0xDC, 0xDF])
    pos = st.integers(0, nbytes - 1)
    case = Case(FT_STR, src, dst, [sv(s)], sv(data.draw(TEXT)))
    case.caller_mem_mut = data.draw(st.dictionaries(pos, byte | hi, min_size=1, max_size=3))
    case.callee_mem_mut = data.draw(st.dictionaries(st.integers(0, 8), byte | hi, max_size=2))
    if data.draw(st.booleans()):
        delta = data.draw(st.sampled_from([1, -1, 2, 1 << 31, 1 << 27, 1 << 28, 0x3FFFF]))
        case.flat_mut = {1: (nbytes_units(s, src) + delta) % (1 << 32)}
    if data.draw(st.booleans()):
        case.flat_mut[0] = PREP_BASE + data.draw(st.sampled_from([1, 3, 0x3C000, 0x3BFFF]))
    check(case)


def nbytes_units(s: str, enc: str) -> int:
    if enc == "utf8":
        return len(s.encode())
    if enc == "utf16" or any(ord(c) > 0xFF for c in s):
        n = len(s.encode("utf-16-le")) // 2
        return n | (1 << 31) if enc == "latin1+utf16" else n
    return len(s)


UTF8_BAD = [
    b"\x80",
    b"\xc0\x80",  # overlong NUL
    b"\xc1\xbf",
    b"\xe0\x80\x80",  # overlong
    b"\xe0\x9f\xbf",
    b"\xed\xa0\x80",  # encoded surrogate
    b"\xed\xbf\xbf",
    b"\xf0\x8f\xbf\xbf",  # overlong 4-byte
    b"\xf4\x90\x80\x80",  # > U+10FFFF
    b"\xf5\x80\x80\x80",
    b"\xff",
    b"a\xc3",  # truncated
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xc3\x28",  # bad continuation
    b"\xe2\x28\xa1",
    b"\xf0\x9f\x28\x80",
]
UTF16_BAD = [
    b"\x00\xd8",  # lone high at end
    b"\x00\xdc",  # lone low
    b"\x00\xd8\x41\x00",  # high + non-low
    b"\x41\x00\xff\xdf",
    b"\x00\xd8\x00\xd8\x00\xdc",
    b"\x00\xdc\x00\xdc",  # low + low (must not pair up)
    b"\x00\xdc\x00\xd8\x00\xdc",
]


def _raw_case(src: str, dst: str, raw: bytes, units: int) -> Case:
    """A string argument whose bytes are `raw` (placed where the prepared string lives)."""
    filler = "a" * (len(raw) if src == "utf8" else len(raw) // 2)
    case = Case(FT_STR, src, dst, [sv(filler)], sv("ok"))
    case.caller_mem_mut = {i: b for i, b in enumerate(raw)}
    case.flat_mut = {1: units}
    return case


@pytest.mark.parametrize("dst", ENCS)
@pytest.mark.parametrize("raw", UTF8_BAD, ids=lambda b: b.hex())
def test_bad_utf8_traps(dst, raw):
    got = check(_raw_case("utf8", dst, raw, len(raw)))
    assert got.trap == "params"
    STATS["hostile-trapped"] += 1


@pytest.mark.parametrize("dst", ENCS)
@pytest.mark.parametrize("src", ["utf16", "latin1+utf16"])
@pytest.mark.parametrize("raw", UTF16_BAD, ids=lambda b: b.hex())
def test_bad_utf16_traps(src, dst, raw):
    units = len(raw) // 2 | (1 << 31 if src == "latin1+utf16" else 0)
    got = check(_raw_case(src, dst, raw, units))
    assert got.trap == "params"
    STATS["hostile-trapped"] += 1


@pytest.mark.parametrize(("src", "dst"), PAIRS)
@pytest.mark.parametrize(
    ("ptr_off", "units"),
    [(1, 2), (0, 0x3C001), (0, (1 << 28)), (0, (1 << 31) | (1 << 27)), (0x3BFFE, 4)],
)
def test_bad_string_ranges(src, dst, ptr_off, units):
    """Misaligned pointers, out-of-bounds ranges and over-long strings trap like the spec."""
    case = Case(FT_STR, src, dst, [sv("héllo")], sv("x"))
    case.flat_mut = {0: PREP_BASE + ptr_off, 1: units}
    got = check(case)
    if got.trap:
        STATS["hostile-trapped"] += 1


@pytest.mark.parametrize(("src", "dst"), PAIRS)
@pytest.mark.parametrize(("skew", "s"), [(1, "abc"), (1, "é€"), (0x3FFF0, "x"), (1, "")])
def test_hostile_realloc(src, dst, skew, s):
    """A realloc returning misaligned / out-of-bounds memory traps where the spec checks."""
    case = Case(FT_STR, src, dst, [sv(s)], sv(s + "😀"))
    case.skew_callee = skew
    check(case)
    case = Case(FT_STR, src, dst, [sv(s)], sv(s + "😀"))
    case.skew_caller = skew
    check(case)
