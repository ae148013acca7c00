"""The adapters' fast paths against the spec, at their edges.

UTF-8 sources are validated (utf8 -> utf8; 16 bytes at a time with vector code from 16 bytes
on, see test_abi_utf8_blocks.py) and transcoded (utf8 -> utf16) a 64-bit word at a time while
8 bytes remain, with multi-byte sequences checked from one 4-byte load while 4 remain, then
byte by byte; list elements without pointers are translated 4 (or 2) per loop
iteration, then one at a time. Every case runs the generated adapter in wasmtime next to the
spec's definitions.py (`abi_harness.check`): same trap or no trap, same callee arguments, and
both memories byte for byte (so a fast path writing a byte the spec does not, e.g. padding or
past the code units, fails too).
"""

from __future__ import annotations

import pytest
from abi_harness import MEM_BYTES, PREP_BASE, Case, check

from pymeld.abi import types as T

S = T.String()
FT_STR = T.FuncType((("s", S),), T.U32())
FAST_DSTS = ["utf8", "utf16", "latin1+utf16"]

VALID_SEQS = [
    "é".encode(),  # C3 A9
    "߿".encode(),  # DF BF (largest 2-byte)
    "ࠀ".encode(),  # E0 A0 80 (smallest 3-byte)
    "€".encode(),
    "\ud7ff".encode(),  # ED 9F BF (last before the surrogates)
    "\ue000".encode(),  # EE 80 80 (first after)
    "\uffff".encode(),
    "𐀀".encode(),  # F0 90 80 80 (smallest 4-byte)
    "😀".encode(),
    "\U0010ffff".encode(),  # F4 8F BF BF (largest)
]
BAD_SEQS = [
    b"\x80",
    b"\xbf",
    b"\xc0\x80",  # overlong
    b"\xc1\xbf",
    b"\xc3",  # lead then ASCII / end
    b"\xc3\xc3",
    b"\xe0\x80\x80",  # overlong
    b"\xe0\x9f\xbf",
    b"\xed\xa0\x80",  # surrogate
    b"\xed\xbf\xbf",
    b"\xe2\x82",  # truncated
    b"\xe2\x28\xa1",
    b"\xf0\x8f\xbf\xbf",  # overlong
    b"\xf4\x90\x80\x80",  # > U+10FFFF
    b"\xf5\x80\x80\x80",
    b"\xf8\x88\x80\x80",
    b"\xff",
    b"\xf0\x9f\x98",  # truncated
    b"\xf0\x9f\x28\x80",
]


def _at(raw: bytes, dst: str, ptr_off: int = 0, ptr: int | None = None) -> Case:
    """`raw` as the caller's UTF-8 string at PREP_BASE + ptr_off (or at absolute `ptr`)."""
    addr = PREP_BASE + ptr_off if ptr is None else ptr
    case = Case(FT_STR, "utf8", dst, [("x", "utf8", 1)], 7)
    case.caller_mem_mut = {addr - PREP_BASE + i: b for i, b in enumerate(raw)}
    case.flat_mut = {0: addr, 1: len(raw)}
    return case


def _ascii(n: int, seed: int = 0) -> bytes:
    return bytes(0x20 + (seed + 7 * i) % 0x5F for i in range(n))


@pytest.mark.parametrize("dst", FAST_DSTS)
@pytest.mark.parametrize("ptr_off", range(8))
def test_ascii_runs_every_alignment_and_length(dst, ptr_off):
    for n in range(41):
        got = check(_at(_ascii(n, ptr_off), dst, ptr_off))
        assert got.trap is None


@pytest.mark.parametrize("dst", ["utf8", "utf16"])
@pytest.mark.parametrize("bad", [b"\x80", b"\xff", b"\xc3", b"\xe2\x82", b"\xf0"], ids=bytes.hex)
def test_bad_byte_at_each_position_of_an_ascii_run(dst, bad):
    for pos in range(40):
        raw = bytearray(_ascii(40))
        raw[pos : pos + len(bad)] = bad
        got = check(_at(bytes(raw[:40]), dst, pos % 3))
        assert got.trap == "params", (pos, raw.hex())


@pytest.mark.parametrize("dst", ["utf8", "utf16"])
@pytest.mark.parametrize("seq", VALID_SEQS, ids=bytes.hex)
def test_multibyte_across_word_boundaries_and_the_end(dst, seq):
    """A valid sequence at every position around the 8-byte words and the string's end."""
    for pos in range(13):
        for tail in (0, 1, 3, 9):
            raw = _ascii(pos) + seq + _ascii(tail, 3)
            assert check(_at(raw, dst, tail % 4)).trap is None, (pos, tail)


@pytest.mark.parametrize("dst", ["utf8", "utf16"])
@pytest.mark.parametrize("seq", BAD_SEQS, ids=bytes.hex)
def test_bad_sequence_across_word_boundaries_and_the_end(dst, seq):
    for pos in range(12):
        for tail in (0, 3, 9):
            raw = _ascii(pos) + seq + _ascii(tail, 5)
            assert check(_at(raw, dst)).trap == "params", (pos, tail, raw.hex())


@pytest.mark.parametrize("dst", ["utf8", "utf16"])
def test_mixed_text_after_ascii_prefixes(dst):
    text = "Grüße aus Köln — naïve café, 1€ = 100¢; ½ ∞ Ωmega 😀 ok".encode()
    for k in range(12):
        raw = _ascii(k) + text
        for cut in (len(raw), len(raw) - 1, len(raw) - 3):
            got = check(_at(raw[:cut], dst, k % 8))
            try:
                raw[:cut].decode()
            except UnicodeDecodeError:
                assert got.trap == "params"
            else:
                assert got.trap is None


@pytest.mark.parametrize("dst", ["utf8", "utf16"])
@pytest.mark.parametrize("n", [1, 4, 7, 8, 9, 15, 16, 17, 40])
def test_string_ending_at_the_memory_end(dst, n):
    """Word loads stay inside the string: one ending exactly at the end of memory is fine
    (ASCII, and a 4-byte sequence as its last bytes); one byte further traps (bounds)."""
    for raw in (_ascii(n), _ascii(max(n - 4, 0)) + "😀".encode()):
        assert check(_at(raw, dst, ptr=MEM_BYTES - len(raw))).trap is None
        case = _at(raw, dst, ptr=MEM_BYTES - len(raw))
        case.flat_mut[0] += 1
        assert check(case).trap == "params"


# -- lists ------------------------------------------------------------------------------------

POINT = T.Record((("x", T.U32()), ("y", T.U64()), ("tag", T.U8())))  # size 24, padded
CHARS = T.Record((("c", T.Char()), ("n", T.U16())))  # per-element validation
FLAGGY = T.Record((("b", T.Bool()), ("e", T.Enum(("a", "b", "c"))), ("v", T.U8())))


def _list_case(elem: T.ValType, vals: list) -> Case:
    return Case(T.FuncType((("xs", T.List(elem)),), T.U32()), args=[vals], result=1)


@pytest.mark.parametrize("n", range(10))
def test_unrolled_copy_every_remainder(n):
    """Lengths around the unroll factor: every element copied, padding left as it was."""
    pts = [{"x": i * 77, "y": (i << 40) | i, "tag": 200 + i} for i in range(n)]
    assert check(_list_case(POINT, pts)).trap is None
    cs = [{"c": chr(0x41 + i) if i % 2 else "😀", "n": i * 1000} for i in range(n)]
    assert check(_list_case(CHARS, cs)).trap is None


@pytest.mark.parametrize("bad_at", range(9))
def test_unrolled_copy_traps_on_any_element(bad_at):
    """A bad char / enum discriminant in element k of 9 (both loops) traps like the spec;
    bool bytes other than 0/1 are normalised."""
    cs = [{"c": "a", "n": i} for i in range(9)]
    case = _list_case(CHARS, cs)
    case.caller_mem_mut = {8 * bad_at + k: b for k, b in enumerate((0x00, 0xD8, 0, 0))}
    assert check(case).trap == "params"
    fl = [{"b": True, "e": {"b": None}, "v": i} for i in range(9)]
    case = _list_case(FLAGGY, fl)
    case.caller_mem_mut = {3 * bad_at + 1: 3}
    assert check(case).trap == "params"
    case = _list_case(FLAGGY, fl)
    case.caller_mem_mut = {3 * bad_at: 0x7E}
    assert check(case).trap is None


@pytest.mark.parametrize("n", [1, 4, 5, 8])
def test_list_bounds_at_the_memory_end(n):
    """A list ending exactly at the end of memory is copied; one element-alignment later, or
    misaligned, it traps before any element is read."""
    pts = [{"x": i, "y": i, "tag": i} for i in range(n)]
    end = MEM_BYTES - 24 * n
    case = _list_case(POINT, pts)
    case.caller_mem_mut = {end - PREP_BASE + i: 0x11 for i in range(24 * n)}
    case.flat_mut = {0: end}
    assert check(case).trap is None
    for bad in (end + 8, end + 4):  # past the end / misaligned
        case = _list_case(POINT, pts)
        case.flat_mut = {0: bad}
        assert check(case).trap == "params"


@pytest.mark.parametrize("dst", ["utf8", "utf16"])
@pytest.mark.parametrize("k", range(4))
def test_split_halves_of_long_strings(dst, k):
    """Sequences of every length straddle the middle of strings of 32+ bytes, valid and not
    (continuation runs); the middle was where an earlier validator split them."""
    unit = ("😀€é" * 8).encode()
    for n in range(32, 50):
        raw = (_ascii(k) + unit)[:n]
        while True:  # cut back to a whole sequence
            try:
                raw.decode()
                break
            except UnicodeDecodeError:
                raw = raw[:-1]
        assert check(_at(raw, dst, k)).trap is None, n
        mid = len(raw) // 2
        for bad in (b"\x80\x80\x80\x80", b"\xbf", b"\xf0\x9f\x98"):
            broken = raw[:mid] + bad + raw[mid:]
            assert check(_at(broken, dst)).trap == "params", (n, broken.hex())
