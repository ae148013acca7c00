"""Vector code for runs of ASCII in the adapters' transcoders: 16 code units per step.

Text is mostly ASCII runs, and an ASCII character is the same number in every encoding, so
where a transcoder would decode and encode it unit by unit, 16 units at once can be checked
(one `i8x16.bitmask`) and written with one or two 16-byte stores: narrowed to bytes (latin1 and
UTF-8 destinations) or widened to 16-bit units (`i16x8.extend_*_i8x16_u`, UTF-16). The
transcoders (`abi.adapter._Translator`) decide where a block may be read and written; these
functions only emit the block's load and stores.

A UTF-16 block is two 16-byte loads, each unit clamped to 0xFF (`i16x8.min_u`) and packed to a
byte (`i8x16.narrow_i16x8_u`, exact on 0..0xFF): a unit is ASCII iff its byte is, so both
sources give the same 16 bytes and the same mask.
"""

from __future__ import annotations

from pymeld.codec.core.emitter import Body

__all__ = ["BLOCK", "load_block", "store_narrow", "store_wide"]

#: code units per vector step
BLOCK = 16

_UNIT_MAX = (0xFF).to_bytes(2, "little") * 8  # i16x8 lanes of 0x00FF


def load_block(
    b: Body, mem: int, unit: int, ptr: int, i: int, data: int, mask: bool = True
) -> None:
    """``data`` = the 16 code units of ``unit`` bytes (1 or 2) at index ``i`` of the string at
    ``ptr`` in ``mem``, as 16 bytes (the ASCII ones exact), and push the `i8x16.bitmask` of
    the units that are not ASCII (bit k: unit i + k >= 0x80; 0: all ASCII), unless not
    ``mask``. All 16 * ``unit`` bytes must lie inside the string."""
    b.get(ptr).get(i)
    if unit == 1:
        b.op("i32.add").v128_load(mem)
    else:
        a = b.local("i32")
        b.i32(1).op("i32.shl", "i32.add").tee(a).v128_load(mem)
        b.v128_const(_UNIT_MAX).simd("i16x8.min_u")
        b.get(a).v128_load(mem, BLOCK).v128_const(_UNIT_MAX).simd("i16x8.min_u")
        b.simd("i8x16.narrow_i16x8_u")
        b.free(a)
    if mask:
        b.tee(data).simd("i8x16.bitmask")
    else:
        b.set(data)


def store_narrow(b: Body, mem: int, base: int, j: int, data: int) -> None:
    """The 16 bytes of ``data`` at byte index ``j`` of ``base`` in ``mem``."""
    b.get(base).get(j).op("i32.add").get(data).v128_store(mem)


def store_wide(b: Body, mem: int, base: int, j: int, data: int) -> None:
    """The 16 bytes of ``data`` as 16 UTF-16 units at unit index ``j`` of ``base`` in ``mem``
    (32 bytes)."""
    a = b.local("i32")
    b.get(base).get(j).i32(1).op("i32.shl", "i32.add").tee(a)
    b.get(data).simd("i16x8.extend_low_i8x16_u").v128_store(mem)
    b.get(a).get(data).simd("i16x8.extend_high_i8x16_u").v128_store(mem, BLOCK)
    b.free(a)
