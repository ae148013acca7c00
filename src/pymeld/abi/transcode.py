"""Transcoding strings between encodings in generated adapters: the canonical ABI's
store_string_into_range where source and destination encodings differ (UTF-8 to UTF-16 and
back, latin1+utf16 compaction, latin1 widening; the spec's `store_utf16_to_utf8`,
`store_utf8_to_utf16`, `store_string_to_latin1_or_utf16`,
`store_probably_utf16_to_latin1_or_utf16`), and UTF-16 validation.

Functions of the adapter's translator (`pymeld.abi.adapter._Translator`, ``tr``), emitting into
its body. A module of their own: most compositions pass UTF-8 strings only, and these
generators were about half of the adapter generator's bytecode (loading it was ~1.5 M
instructions of a small fuse's start-up); the translator loads them at the first string that
needs one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymeld.abi.adapter import _L
from pymeld.abi.ascii_blocks import BLOCK, load_block, store_narrow, store_wide
from pymeld.abi.layout import MAX_STRING_BYTE_LENGTH, UTF16_TAG

if TYPE_CHECKING:
    from collections.abc import Callable

    from pymeld.abi.adapter import _Translator

__all__ = [
    "each_cp",
    "encode_utf8",
    "encode_utf16",
    "probably_utf16_to_compact",
    "to_compact",
    "to_utf8",
    "utf8_to_utf16",
    "widen_latin1_blocks",
]

# UTF-16 units per UTF-8 byte by its high nibble (`_count_utf16_units`), as bit 7 of a lane:
# one for every byte but a continuation (8..B), a second for a 4-byte lead (F).
_UTF16_UNIT_ONE = bytes(0 if 8 <= h <= 0xB else 0x80 for h in range(16))
_UTF16_UNIT_TWO = bytes(0x80 if h == 0xF else 0 for h in range(16))


# -- decoding / encoding one code point ------------------------------------------------------
def _decode(tr: _Translator, simple: str, base: int, i: int, n: int, cp: int) -> None:
    """cp = code point at unit index i of the source (i advances); traps if malformed."""
    b = tr.b
    sm = tr.src.mem
    if simple == "latin1":
        b.get(base).get(i).op("i32.add").load("i32.load8_u", sm).set(cp)
        b.get(i).i32(1).op("i32.add").set(i)
    elif simple == "utf16":
        t = b.local("i32")
        b.get(base).get(i).i32(1).op("i32.shl", "i32.add").load("i32.load16_u", sm).set(cp)
        b.get(i).i32(1).op("i32.add").set(i)
        b.get(cp).i32(0xF800).op("i32.and").i32(0xD800).op("i32.eq").if_()
        b.get(cp).i32(0xDC00).op("i32.ge_u").trap_if()  # unpaired low surrogate
        b.get(i).get(n).op("i32.ge_u").trap_if()  # high surrogate at the end
        b.get(base).get(i).i32(1).op("i32.shl", "i32.add").load("i32.load16_u", sm).tee(t)
        b.i32(0xFC00).op("i32.and").i32(0xDC00).op("i32.ne").trap_if()
        b.get(cp).i32(10).op("i32.shl").get(t).op("i32.add").i32(0x35FDC00).op("i32.sub")
        b.set(cp)
        b.get(i).i32(1).op("i32.add").set(i)
        b.end()
        b.free(t)
    else:
        _decode_utf8(tr, base, i, n, cp)


def _decode_utf8(tr: _Translator, base: int, i: int, n: int, cp: int) -> None:
    """Strict UTF-8 (no overlongs, surrogates or > U+10FFFF), as Python's decoder."""
    b = tr.b
    sm = tr.src.mem
    p, k, lo, hi, t = (b.local("i32") for _ in range(5))
    b.get(base).get(i).op("i32.add").tee(p).load("i32.load8_u", sm).tee(cp)
    b.i32(0x80).op("i32.lt_u").if_()
    b.get(i).i32(1).op("i32.add").set(i)
    b.op("else")
    b.get(cp).i32(0xC2).op("i32.sub").i32(0xF5 - 0xC2).op("i32.ge_u").trap_if()
    b.i32(0x80).set(lo).i32(0xBF).set(hi)
    b.get(cp).i32(0xE0).op("i32.lt_u").if_()
    b.i32(1).set(k).get(cp).i32(0x1F).op("i32.and").set(cp)
    b.op("else")
    b.get(cp).i32(0xF0).op("i32.lt_u").if_()
    b.i32(2).set(k)
    b.get(cp).i32(0xE0).op("i32.eq").if_().i32(0xA0).set(lo).end()
    b.get(cp).i32(0xED).op("i32.eq").if_().i32(0x9F).set(hi).end()
    b.get(cp).i32(0x0F).op("i32.and").set(cp)
    b.op("else")
    b.i32(3).set(k)
    b.get(cp).i32(0xF0).op("i32.eq").if_().i32(0x90).set(lo).end()
    b.get(cp).i32(0xF4).op("i32.eq").if_().i32(0x8F).set(hi).end()
    b.get(cp).i32(0x07).op("i32.and").set(cp)
    b.end().end()
    b.get(i).get(k).op("i32.add").get(n).op("i32.ge_u").trap_if()  # truncated sequence
    b.get(p).load("i32.load8_u", sm, 1).tee(t).get(lo).op("i32.sub")
    b.get(hi).get(lo).op("i32.sub", "i32.gt_u").trap_if()
    _utf8_accumulate(tr, cp, t)
    for extra in (2, 3):
        b.get(k).i32(extra).op("i32.ge_u").if_()
        b.get(p).load("i32.load8_u", sm, extra).tee(t)
        b.i32(0xC0).op("i32.and").i32(0x80).op("i32.ne").trap_if()
        _utf8_accumulate(tr, cp, t)
    b.end().end()
    b.get(i).get(k).op("i32.add").i32(1).op("i32.add").set(i)
    b.end()
    b.free(p, k, lo, hi, t)


def _utf8_accumulate(tr: _Translator, cp: int, t: int) -> None:
    tr.b.get(cp).i32(6).op("i32.shl").get(t).i32(0x3F).op("i32.and", "i32.or").set(cp)


def encode_utf8(tr: _Translator, base: int, j: int, cp: int) -> None:
    """Write cp as UTF-8 at dst base+j (j advances by 1..4)."""
    b = tr.b
    dm = tr.dst.mem
    p = b.local("i32")
    b.get(base).get(j).op("i32.add").set(p)

    def byte(off: int, shift: int, tag: int, mask: int) -> None:
        b.get(p).get(cp)
        if shift:
            b.i32(shift).op("i32.shr_u")
        if mask != 0xFF:
            b.i32(mask).op("i32.and")
        if tag:
            b.i32(tag).op("i32.or")
        b.store("i32.store8", dm, off)

    def advance(k: int) -> None:
        b.get(j).i32(k).op("i32.add").set(j)

    b.get(cp).i32(0x80).op("i32.lt_u").if_()
    byte(0, 0, 0, 0xFF)
    advance(1)
    b.op("else").get(cp).i32(0x800).op("i32.lt_u").if_()
    byte(0, 6, 0xC0, 0xFF)
    byte(1, 0, 0x80, 0x3F)
    advance(2)
    b.op("else").get(cp).i32(0x10000).op("i32.lt_u").if_()
    byte(0, 12, 0xE0, 0xFF)
    byte(1, 6, 0x80, 0x3F)
    byte(2, 0, 0x80, 0x3F)
    advance(3)
    b.op("else")
    byte(0, 18, 0xF0, 0xFF)
    byte(1, 12, 0x80, 0x3F)
    byte(2, 6, 0x80, 0x3F)
    byte(3, 0, 0x80, 0x3F)
    advance(4)
    b.end().end().end()
    b.free(p)


def encode_utf16(tr: _Translator, base: int, j: int, cp: int) -> None:
    """Write cp as UTF-16LE at dst unit index j (j advances by 1 or 2)."""
    b = tr.b
    dm = tr.dst.mem
    p = b.local("i32")
    b.get(base).get(j).i32(1).op("i32.shl", "i32.add").set(p)
    b.get(cp).i32(0x10000).op("i32.lt_u").if_()
    b.get(p).get(cp).store("i32.store16", dm)
    b.get(j).i32(1).op("i32.add").set(j)
    b.op("else")
    b.get(p).get(cp).i32(10).op("i32.shr_u").i32(0xD7C0).op("i32.add")
    b.store("i32.store16", dm)
    b.get(p).get(cp).i32(0x3FF).op("i32.and").i32(0xDC00).op("i32.or")
    b.store("i32.store16", dm, 2)
    b.get(j).i32(2).op("i32.add").set(j)
    b.end()
    b.free(p)


def each_cp(tr: _Translator, simple: str, base: int, i: int, n: int, cp: int, body) -> None:
    """while i < n: decode cp; body()  (i must be initialised by the caller)."""
    b = tr.b
    b.block().loop()
    b.get(i).get(n).op("i32.ge_u").br_if(1)
    _decode(tr, simple, base, i, n, cp)
    body()
    b.br(0).end().end()


# the spec's store_* routines -------------------------------------------------------------
def widen_latin1_blocks(tr: _Translator, dptr: int, ptr: int, n: int, i: int) -> None:
    """latin1 -> UTF-16 from 16 bytes on, 16 per step, every byte a unit (`ascii_blocks`
    with no check); the last block is the one ending at `n` (units written twice get the
    same value again), so `i` = n after it."""
    b = tr.b
    data = b.local("v128")
    b.get(n).i32(BLOCK).op("i32.ge_u").if_()
    b.loop()
    load_block(b, tr.src.mem, 1, ptr, i, data, mask=False)
    store_wide(b, tr.dst.mem, dptr, i, data)
    b.get(i).i32(BLOCK).op("i32.add").tee(i).i32(BLOCK).op("i32.add").get(n).op("i32.le_u")
    b.br_if(0).end()
    b.get(n).i32(BLOCK).op("i32.sub").set(i)
    load_block(b, tr.src.mem, 1, ptr, i, data, mask=False)
    store_wide(b, tr.dst.mem, dptr, i, data)
    b.get(n).set(i)
    b.end()
    b.free(data)


def _ascii_blocks_exact(
    tr: _Translator, unit: int, ptr: int, i: int, n: int, dptr: int, dlen: int, retry: int
) -> None:
    """At the top of a loop writing each ASCII unit as one byte (`br 2` from inside two
    `if`s continues it): while 16 units remain from `i`, an all-ASCII block is stored in
    one step (`ascii_blocks`). Writes only the bytes of the result (the buffer may still
    be moved by a realloc, its old bytes kept), so a block with a non-ASCII unit is left to
    the scalar code, and not loaded again before `retry` (= its end)."""
    b = tr.b
    data = b.local("v128")
    b.get(i).get(retry).op("i32.ge_u")
    b.get(i).i32(BLOCK).op("i32.add").get(n).op("i32.le_u").op("i32.and").if_()
    load_block(b, tr.src.mem, unit, ptr, i, data)
    b.op("i32.eqz").if_()
    store_narrow(b, tr.dst.mem, dptr, dlen, data)
    b.get(i).i32(BLOCK).op("i32.add").set(i)
    b.get(dlen).i32(BLOCK).op("i32.add").set(dlen)
    b.br(2)
    b.end()
    b.get(i).i32(BLOCK).op("i32.add").set(retry)
    b.end()
    b.free(data)


def _ascii_block_after(
    tr: _Translator, cp: int, unit: int, ptr: int, i: int, n: int, dptr: int, dlen: int, wide: bool
) -> None:
    """After an ASCII code point `cp` in a loop that only writes forward into its final
    buffer: while 16 units remain, the next 16 are stored as bytes (UTF-16 units if
    ``wide``) and `i`, `dlen` skip the ASCII ones before the first other (maybe none). The
    units stored past those are overwritten before the loop ends, as long as the rest of
    the string has as many code units: so for every source but UTF-8 (one unit per unit at
    least), and for UTF-8 when (n - i) + 2p >= 48 (see `_utf8_to_utf16_block`)."""
    b = tr.b
    data = b.local("v128")
    m = b.local("i32")
    b.get(cp).i32(0x80).op("i32.lt_u")
    b.get(i).i32(BLOCK).op("i32.add").get(n).op("i32.le_u").op("i32.and").if_()
    load_block(b, tr.src.mem, unit, ptr, i, data)
    b.i32(1 << BLOCK).op("i32.or", "i32.ctz").set(m)
    if unit == 1 and wide:  # UTF-8 source (a latin1 one is never transcoded here)
        b.get(n).get(i).op("i32.sub").get(m).i32(1).op("i32.shl", "i32.add")
        b.i32(3 * BLOCK).op("i32.ge_u").if_()
    (store_wide if wide else store_narrow)(b, tr.dst.mem, dptr, dlen, data)
    b.get(i).get(m).op("i32.add").set(i)
    b.get(dlen).get(m).op("i32.add").set(dlen)
    if unit == 1 and wide:
        b.end()
    b.end()
    b.free(data, m)


def to_utf8(tr: _Translator, dptr: int, dlen: int, simple: str, ptr: int, n: int) -> None:
    """store_utf16_to_utf8 / store_latin1_to_utf8: ASCII fast loop, then grow to worst case."""
    b = tr.b
    i, cp, worst, retry = (b.local("i32") for _ in range(4))
    unit = 2 if simple == "utf16" else 1
    tr._dst_alloc(dptr, 0, 0, 1, _L(n))
    b.i32(0).set(i).i32(0).set(dlen).i32(0).set(retry)
    b.block().block().loop()  # $done $wide $ascii
    b.get(i).get(n).op("i32.ge_u").br_if(2)
    if tr.simd:
        _ascii_blocks_exact(tr, unit, ptr, i, n, dptr, dlen, retry)
    _decode(tr, simple, ptr, i, n, cp)
    b.get(cp).i32(0x80).op("i32.ge_u").br_if(1)
    b.get(dptr).get(dlen).op("i32.add").get(cp).store("i32.store8", tr.dst.mem)
    b.get(dlen).i32(1).op("i32.add").set(dlen)
    b.br(0).end().end()
    # first non-ASCII code point is in cp
    b.get(n).i32(3 if simple == "utf16" else 2).op("i32.mul").set(worst)
    tr.realloc_into(tr.dst, dptr, _L(n), 1, _L(worst))
    tr.check_bounds(tr.dst, dptr, _L(worst))
    b.block().loop()
    encode_utf8(tr, dptr, dlen, cp)
    if tr.simd:
        _ascii_block_after(tr, cp, unit, ptr, i, n, dptr, dlen, wide=False)
    b.get(i).get(n).op("i32.ge_u").br_if(1)
    _decode(tr, simple, ptr, i, n, cp)
    b.br(0).end().end()
    b.get(worst).get(dlen).op("i32.gt_u").if_()
    tr.realloc_into(tr.dst, dptr, _L(worst), 1, _L(dlen))
    tr.check_bounds(tr.dst, dptr, _L(dlen))
    b.end()
    b.end()  # $done
    b.free(i, cp, worst, retry)


def utf8_to_utf16(tr: _Translator, dptr: int, dlen: int, ptr: int, n: int) -> None:
    """store_utf8_to_utf16: allocate 2*bytes, transcode, shrink if shorter.

    While 8 bytes remain: an all-ASCII word is widened to 8 code units with two 64-bit
    stores; otherwise the ASCII bytes before its first high byte are widened one by one and
    the code point there is decoded as usual. Only the code units of the result are
    written (the buffer past them keeps its bytes, as in a unit-by-unit transcoder)."""
    b = tr.b
    sm, dm = tr.src.mem, tr.dst.mem
    i, cp, worst, nbytes, end = (b.local("i32") for _ in range(5))
    w, m = b.local("i64"), b.local("i64")
    fin = b.local("i32")  # the result's length in units once counted, else 0
    b.get(n).i32(1).op("i32.shl").set(worst)
    tr._dst_alloc(dptr, 0, 0, 2, _L(worst))
    b.i32(0).set(i).i32(0).set(dlen)
    if tr.simd:
        b.i32(0).set(fin)
    b.block().loop()  # $done $next
    b.get(i).get(n).op("i32.ge_u").br_if(1)
    nest = 1 if tr.simd else 0  # the block the vector code leaves for the sequence
    if tr.simd:
        b.block()  # $seq
        _utf8_to_utf16_block(tr, dptr, dlen, ptr, n, i, fin)
    b.get(i).i32(8).op("i32.add").get(n).op("i32.le_u").if_()
    b.get(ptr).get(i).op("i32.add").load("i64.load", sm).tee(w)
    b.i64(0x8080808080808080).op("i64.and").tee(m).op("i64.eqz").if_()
    for half in (0, 8):  # 4 bytes -> 4 units: spread each byte to 16 bits
        b.get(dptr).get(dlen).i32(1).op("i32.shl", "i32.add")
        b.get(w)
        if half:
            b.i64(32).op("i64.shr_u")
        else:
            b.i64(0xFFFFFFFF).op("i64.and")
        b.tee(m).get(m).i64(16).op("i64.shl", "i64.or").i64(0x0000FFFF0000FFFF)
        b.op("i64.and").tee(m).get(m).i64(8).op("i64.shl", "i64.or")
        b.i64(0x00FF00FF00FF00FF).op("i64.and").store("i64.store", dm, half)
    b.get(i).i32(8).op("i32.add").set(i)
    b.get(dlen).i32(8).op("i32.add").set(dlen)
    b.br(2 + nest)
    b.end()
    b.get(i).get(m).op("i64.ctz", "i32.wrap_i64").i32(3).op("i32.shr_u", "i32.add").set(end)
    b.block().loop()  # the ASCII prefix (maybe empty)
    b.get(i).get(end).op("i32.ge_u").br_if(1)
    b.get(dptr).get(dlen).i32(1).op("i32.shl", "i32.add")
    b.get(ptr).get(i).op("i32.add").load("i32.load8_u", sm).store("i32.store16", dm)
    b.get(i).i32(1).op("i32.add").set(i)
    b.get(dlen).i32(1).op("i32.add").set(dlen)
    b.br(0).end().end()
    b.end()
    if tr.simd:
        b.end()  # $seq
    b.get(i).i32(4).op("i32.add").get(n).op("i32.le_u").if_()  # a whole sequence loads
    b.get(ptr).get(i).op("i32.add").load("i32.load", sm).set(end)
    b.get(end).i32(0x80).op("i32.and", "i32.eqz").if_()  # ASCII (near the end)
    b.get(dptr).get(dlen).i32(1).op("i32.shl", "i32.add")
    b.get(end).i32(0xFF).op("i32.and").store("i32.store16", dm)
    b.get(i).i32(1).op("i32.add").set(i)
    b.get(dlen).i32(1).op("i32.add").set(dlen)
    b.br(2)
    b.end()

    def take(k: int, inner: int) -> None:
        _store_utf16_seq(tr, dptr, dlen, end, cp, k)
        b.get(i).i32(k).op("i32.add").set(i).br(1 + inner)

    tr._utf8_seq(end, cp, take)
    b.end()
    _decode(tr, "utf8", ptr, i, n, cp)
    encode_utf16(tr, dptr, dlen, cp)
    b.br(0).end().end()
    b.free(w, m, end, fin)
    b.get(dlen).i32(1).op("i32.shl").tee(nbytes).get(worst).op("i32.lt_u").if_()
    tr.realloc_into(tr.dst, dptr, _L(worst), 2, _L(nbytes))
    tr.check_ptr(tr.dst, dptr, 2, _L(nbytes))
    b.end()
    b.free(i, cp, worst, nbytes)


def _store_utf16_seq(tr: _Translator, dptr: int, dlen: int, w: int, cp: int, k: int) -> None:
    """The UTF-16 unit(s) of the checked `k`-byte UTF-8 sequence in the low bytes of `w`
    at unit `dlen` of `dptr` (`dlen` advances; `cp` is scratch)."""
    b = tr.b
    dm = tr.dst.mem
    b.get(dptr).get(dlen).i32(1).op("i32.shl", "i32.add")
    if k == 2:
        b.get(w).i32(0x1F).op("i32.and").i32(6).op("i32.shl")
        b.get(w).i32(8).op("i32.shr_u").i32(0x3F).op("i32.and", "i32.or")
    elif k == 3:
        b.get(w).i32(0xF).op("i32.and").i32(12).op("i32.shl")
        b.get(w).i32(2).op("i32.shr_u").i32(0xFC0).op("i32.and", "i32.or")
        b.get(w).i32(16).op("i32.shr_u").i32(0x3F).op("i32.and", "i32.or")
    else:
        b.get(w).i32(7).op("i32.and").i32(18).op("i32.shl")
        b.get(w).i32(4).op("i32.shl").i32(0x3F000).op("i32.and", "i32.or")
        b.get(w).i32(10).op("i32.shr_u").i32(0xFC0).op("i32.and", "i32.or")
        b.get(w).i32(24).op("i32.shr_u").i32(0x3F).op("i32.and", "i32.or").tee(cp)
        b.i32(10).op("i32.shr_u").i32(0xD7C0).op("i32.add").store("i32.store16", dm)
        b.get(dptr).get(dlen).i32(1).op("i32.shl", "i32.add")
        b.get(cp).i32(0x3FF).op("i32.and").i32(0xDC00).op("i32.or")
        b.store("i32.store16", dm, 2)
        b.get(dlen).i32(2).op("i32.add").set(dlen)
        return
    b.store("i32.store16", dm)
    b.get(dlen).i32(1).op("i32.add").set(dlen)


def _utf8_to_utf16_block(
    tr: _Translator, dptr: int, dlen: int, ptr: int, n: int, i: int, fin: int
) -> None:
    """In the loop of `_utf8_to_utf16`, inside a block ending before its sequence code (`br
    3` from inside two `if`s continues the loop, `br 2` goes to the sequence at `i`): while
    16 bytes remain, an all-ASCII block becomes 16 units in one step (`ascii_blocks`). In
    a block with high bytes the ASCII bytes before the first one are widened with it when
    the units after them are sure to be overwritten before the string ends, and the
    sequence code takes the high byte (else the word-at-a-time code goes on from `i`).
    Sure means `dlen` + 16 <= `fin`, the result's length in units, counted at the first
    mixed block (`_count_utf16_units`; else the buffer past the result would keep bytes
    the spec never writes). The 32 bytes lie in the buffer: `dlen` <= `i`.

    A mixed block is then finished in an inner loop while its 16 bytes and 3 more lie in
    the string: the sequence at `i` is checked and stored (`_utf8_seq`), and the next high
    byte of the block is found in its mask (shift, `ctz`), the ASCII bytes before it
    widened as above; the loop leaves for the outer one when the block has no high byte
    left or the result is too short. So a block is loaded once, and each sequence costs
    none of the outer loop's end, block and word checks."""
    b = tr.b
    data = b.local("v128")
    bi, bm, p, w, cp = (b.local("i32") for _ in range(5))

    def fits() -> None:  # 16 units stored at dlen are all overwritten by the result
        b.get(dlen).i32(BLOCK).op("i32.add").get(fin).op("i32.le_u")

    def widen() -> None:  # the ASCII bytes before the high byte p bytes on
        store_wide(b, tr.dst.mem, dptr, dlen, data)
        b.get(i).get(p).op("i32.add").set(i)
        b.get(dlen).get(p).op("i32.add").set(dlen)

    def take(k: int, inner: int) -> None:
        _store_utf16_seq(tr, dptr, dlen, w, cp, k)
        b.get(i).i32(k).op("i32.add").set(i).br(inner)

    b.get(i).i32(BLOCK).op("i32.add").get(n).op("i32.le_u").if_()  # $a
    load_block(b, tr.src.mem, 1, ptr, i, data)
    b.tee(bm).op("i32.eqz").if_()
    store_wide(b, tr.dst.mem, dptr, dlen, data)
    b.get(i).i32(BLOCK).op("i32.add").set(i)
    b.get(dlen).i32(BLOCK).op("i32.add").set(dlen)
    b.br(3)
    b.end()
    b.get(fin).op("i32.eqz").if_()
    _count_utf16_units(tr, ptr, i, n, dlen, fin)
    b.end()
    fits()
    b.if_()  # $fits
    b.get(i).set(bi)
    b.get(bm).op("i32.ctz").set(p)
    widen()
    b.get(bi).i32(BLOCK + 3).op("i32.add").get(n).op("i32.le_u").if_()  # $room
    b.loop()  # $inner
    b.block()  # $next
    b.get(ptr).get(i).op("i32.add").load("i32.load", tr.src.mem).set(w)
    tr._utf8_seq(w, cp, take)
    b.end()
    # the next high byte of the block, if any: else the outer loop goes on at i
    b.get(bm).get(i).get(bi).op("i32.sub").tee(p).op("i32.shr_u", "i32.ctz").tee(cp)
    b.get(p).op("i32.add").tee(p).i32(BLOCK).op("i32.ge_u").br_if(5)
    fits()
    b.op("i32.eqz").br_if(5)
    b.get(cp).set(p)
    b.get(ptr).get(i).op("i32.add").v128_load(tr.src.mem).set(data)
    widen()
    b.br(0)
    b.end()  # $inner
    b.end()  # $room
    b.br(2)  # the sequence at i
    b.end()  # $fits
    b.end()  # $a
    b.free(data, bi, bm, p, w, cp)


def _count_utf16_units(tr: _Translator, ptr: int, i: int, n: int, dlen: int, fin: int) -> None:
    """`fin` = `dlen` + the UTF-16 units of the UTF-8 bytes [`i`, `n`) (`n` - `i` >= 16),
    16 bytes per step: one per byte that is not a continuation (10xxxxxx) and one more
    per 4-byte lead (>= 0xF0), the last partial block the 16 bytes ending at `n` with the
    lanes already counted masked off. Exact for well-formed UTF-8; a malformed string
    traps later in the transcoder, so its count does not matter. The two bit masks come
    from the high nibbles by table (`i8x16.swizzle`), like the validator's."""
    b = tr.b
    sm = tr.src.mem
    j = b.local("i32")
    v = b.local("v128")

    def count(lanes: Callable[[], None]) -> None:  # `fin` += the lanes' units of `v`
        b.get(v).i32(4).simd("i8x16.shr_u").set(v)  # high nibbles
        b.get(fin)
        b.v128_const(_UTF16_UNIT_ONE).get(v).simd("i8x16.swizzle", "i8x16.bitmask")
        b.v128_const(_UTF16_UNIT_TWO).get(v).simd("i8x16.swizzle", "i8x16.bitmask")
        b.i32(16).op("i32.shl", "i32.or")
        lanes()
        b.op("i32.popcnt", "i32.add").set(fin)

    b.get(dlen).set(fin)
    b.get(i).set(j)
    b.block().loop()
    b.get(j).i32(BLOCK).op("i32.add").get(n).op("i32.gt_u").br_if(1)
    b.get(ptr).get(j).op("i32.add").v128_load(sm).set(v)
    count(lambda: None)
    b.get(j).i32(BLOCK).op("i32.add").set(j)
    b.br(0)
    b.end().end()
    b.get(j).get(n).op("i32.lt_u").if_()
    b.get(ptr).get(n).op("i32.add").i32(BLOCK).op("i32.sub").v128_load(sm).set(v)

    def tail() -> None:  # lanes 16 - (n - j) .. 15 of both halves
        b.i32(0xFFFF).i32(BLOCK).get(n).get(j).op("i32.sub", "i32.sub", "i32.shl")
        b.i32(0xFFFF).op("i32.and").i32(0x10001).op("i32.mul", "i32.and")

    count(tail)
    b.end()
    b.free(j, v)


def to_compact(
    tr: _Translator, dptr: int, dlen: int, simple: str, ptr: int, n: int, size: int | None = None
) -> None:
    """store_string_to_latin1_or_utf16: latin1 while possible, else inflate to UTF-16.
    The buffer starts at ``n`` units, or at ``size`` (a local: the UTF-8 length a host
    stores from) with the host's length check before doubling it."""
    b = tr.b
    dm = tr.dst.mem
    i, cp, worst, j = (b.local("i32") for _ in range(4))
    unit = {"utf16": 2, "utf8": 1}.get(simple, 0)  # latin1 sources copy (`_copy`)
    first = n if size is None else size
    tr._dst_alloc(dptr, 0, 0, 2, _L(first))
    b.i32(0).set(i).i32(0).set(dlen).i32(0).set(j)
    b.block().block().block().loop()  # $end $wide $narrow_done $narrow
    b.get(i).get(n).op("i32.ge_u").br_if(1)
    if tr.simd and unit:
        _ascii_blocks_exact(tr, unit, ptr, i, n, dptr, dlen, j)
    _decode(tr, simple, ptr, i, n, cp)
    b.get(cp).i32(0x100).op("i32.ge_u").br_if(2)
    b.get(dptr).get(dlen).op("i32.add").get(cp).store("i32.store8", dm)
    b.get(dlen).i32(1).op("i32.add").set(dlen)
    b.br(0).end().end()
    # all latin1: shrink if the source had multi-unit code points
    b.get(dlen).get(first).op("i32.lt_u").if_()
    tr.realloc_into(tr.dst, dptr, _L(first), 2, _L(dlen))
    tr.check_ptr(tr.dst, dptr, 2, _L(dlen))
    b.end()
    b.br(1).end()
    # wide: cp >= 256 pending; grow to the worst case and inflate what we have in place
    if size is not None:
        b.get(size).i32(MAX_STRING_BYTE_LENGTH // 2).op("i32.gt_u").trap_if()
    b.get(first).i32(1).op("i32.shl").set(worst)
    tr.realloc_into(tr.dst, dptr, _L(first), 2, _L(worst))
    tr.check_ptr(tr.dst, dptr, 2, _L(worst))
    b.get(dlen).set(j)
    b.block().get(j).op("i32.eqz").br_if(0).loop()
    b.get(j).i32(1).op("i32.sub").set(j)
    b.get(dptr).get(j).i32(1).op("i32.shl", "i32.add")
    b.get(dptr).get(j).op("i32.add").load("i32.load8_u", dm)
    b.store("i32.store16", dm)
    b.get(j).br_if(0).end().end()
    b.block().loop()
    encode_utf16(tr, dptr, dlen, cp)
    if tr.simd and unit:
        _ascii_block_after(tr, cp, unit, ptr, i, n, dptr, dlen, wide=True)
    b.get(i).get(n).op("i32.ge_u").br_if(1)
    _decode(tr, simple, ptr, i, n, cp)
    b.br(0).end().end()
    b.get(dlen).i32(1).op("i32.shl").tee(j).get(worst).op("i32.lt_u").if_()
    tr.realloc_into(tr.dst, dptr, _L(worst), 2, _L(j))
    tr.check_ptr(tr.dst, dptr, 2, _L(j))
    b.end()
    b.get(dlen).i32(UTF16_TAG).op("i32.or").set(dlen)
    b.end()  # $end
    b.free(i, cp, worst, j)


def _utf16_validate_blocks(tr: _Translator, ptr: int, n: int, i: int, cp: int, acc: int) -> None:
    """Validate the UTF-16 string (`_decode`) from `i` = 0, ORing its code points into
    `acc` (only whether acc >= 0x100 counts): 16 units per step while 16 remain and none is
    a surrogate (`i16x8.eq` on unit & 0xF800), ORed into a vector; a block with one is
    decoded unit by unit (not loaded again before its end, `retry`)."""
    b = tr.b
    sm = tr.src.mem
    a, retry = b.local("i32"), b.local("i32")
    v, w, s, accv = (b.local("v128") for _ in range(4))
    high, surrogate = (0xF800).to_bytes(2, "little") * 8, (0xD800).to_bytes(2, "little") * 8
    b.i32(0).set(retry).zero("v128").set(accv)
    b.block().loop()  # $done $next
    b.get(i).get(n).op("i32.ge_u").br_if(1)
    b.get(i).get(retry).op("i32.ge_u")
    b.get(i).i32(BLOCK).op("i32.add").get(n).op("i32.le_u").op("i32.and").if_()
    b.get(ptr).get(i).i32(1).op("i32.shl", "i32.add").tee(a).v128_load(sm).tee(v)
    b.v128_const(high).simd("v128.and").v128_const(surrogate).simd("i16x8.eq").set(s)
    b.get(a).v128_load(sm, BLOCK).tee(w)
    b.v128_const(high).simd("v128.and").v128_const(surrogate).simd("i16x8.eq")
    b.get(s).simd("v128.or", "v128.any_true").op("i32.eqz").if_()
    b.get(accv).get(v).get(w).simd("v128.or", "v128.or").set(accv)
    b.get(i).i32(BLOCK).op("i32.add").set(i)
    b.br(2)
    b.end()
    b.get(i).i32(BLOCK).op("i32.add").set(retry)
    b.end()
    _decode(tr, "utf16", ptr, i, n, cp)
    b.get(acc).get(cp).op("i32.or").set(acc)
    b.br(0).end().end()
    b.get(acc).get(accv).v128_const((0xFF00).to_bytes(2, "little") * 8)
    b.simd("v128.and", "v128.any_true").i32(8).op("i32.shl", "i32.or").set(acc)
    b.free(a, retry, v, w, s, accv)


def _narrow_utf16_blocks_in_place(tr: _Translator, dptr: int, n: int, i: int) -> None:
    """store_probably_utf16_to_latin1_or_utf16's compression of the UTF-16 copy at `dptr`
    (all units < 0x100) from `i` = 0 while 16 units remain: 32 bytes loaded, narrowed
    (`i8x16.narrow_i16x8_u`, exact) and stored at byte `i`, where the scalar loop would
    have put them (the bytes stored were all loaded, by this step or an earlier one)."""
    b = tr.b
    dm = tr.dst.mem
    a = b.local("i32")
    b.block().loop()
    b.get(i).i32(BLOCK).op("i32.add").get(n).op("i32.gt_u").br_if(1)
    b.get(dptr).get(i).op("i32.add")
    b.get(dptr).get(i).i32(1).op("i32.shl", "i32.add").tee(a).v128_load(dm)
    b.get(a).v128_load(dm, BLOCK).simd("i8x16.narrow_i16x8_u").v128_store(dm)
    b.get(i).i32(BLOCK).op("i32.add").set(i)
    b.br(0).end().end()
    b.free(a)


def probably_utf16_to_compact(tr: _Translator, dptr: int, dlen: int, ptr: int, n: int) -> None:
    """store_probably_utf16_to_latin1_or_utf16: copy as UTF-16, compress if all latin1."""
    b = tr.b
    dm = tr.dst.mem
    i, cp, acc, nbytes = (b.local("i32") for _ in range(4))
    b.get(n).i32(1).op("i32.shl").set(nbytes)
    tr._dst_alloc(dptr, 0, 0, 2, _L(nbytes))
    b.i32(0).set(i).i32(0).set(acc)
    if tr.simd:
        _utf16_validate_blocks(tr, ptr, n, i, cp, acc)
    else:
        each_cp(tr, "utf16", ptr, i, n, cp, lambda: b.get(acc).get(cp).op("i32.or").set(acc))
    b.get(dptr).get(ptr).get(nbytes).memory_copy(dm, tr.src.mem)
    b.get(acc).i32(0x100).op("i32.ge_u").if_()
    b.get(n).i32(UTF16_TAG).op("i32.or").set(dlen)
    b.op("else")
    b.i32(0).set(i)
    if tr.simd:
        _narrow_utf16_blocks_in_place(tr, dptr, n, i)
    b.block().loop()
    b.get(i).get(n).op("i32.ge_u").br_if(1)
    b.get(dptr).get(i).op("i32.add")
    b.get(dptr).get(i).i32(1).op("i32.shl", "i32.add").load("i32.load8_u", dm)
    b.store("i32.store8", dm)
    b.get(i).i32(1).op("i32.add").set(i)
    b.br(0).end().end()
    tr.realloc_into(tr.dst, dptr, _L(nbytes), 1, _L(n))
    tr.check_bounds(tr.dst, dptr, _L(n))
    b.get(n).set(dlen)
    b.end()
    b.free(i, cp, acc, nbytes)
