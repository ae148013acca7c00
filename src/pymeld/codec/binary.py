"""Byte-level reading and writing shared by the core and component codecs.

`Reader` tracks absolute offsets (so nested modules report positions in the outer file) and the
current section name, so every `DecodeError` can say file, section, offset and expectation.
LEB128 decoding enforces the spec's length and unused-bit rules; `Writer` emits canonical LEB128.
"""

from __future__ import annotations

import builtins

from pymeld.errors import DecodeError


class Reader:
    """A cursor over ``data[pos:end]``; offsets in errors are ``base + pos``."""

    __slots__ = ("base", "data", "end", "file", "pos", "section")

    def __init__(
        self,
        data: bytes,
        pos: int = 0,
        end: int | None = None,
        *,
        base: int = 0,
        file: str | None = None,
        section: str | None = None,
    ) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end
        self.base = base
        self.file = file
        self.section = section

    # -- errors -----------------------------------------------------------------------------
    def error(self, message: str, at: int | None = None) -> DecodeError:
        pos = self.pos if at is None else at
        return DecodeError(message, offset=self.base + pos, file=self.file, section=self.section)

    @property
    def offset(self) -> int:
        """Absolute offset of the cursor in the outermost file."""
        return self.base + self.pos

    def eof(self) -> bool:
        return self.pos >= self.end

    def remaining(self) -> int:
        return self.end - self.pos

    def sub(self, size: int, section: str | None = None) -> Reader:
        """A reader over the next ``size`` bytes; the cursor here moves past them."""
        start = self.pos
        if size < 0 or start + size > self.end:
            raise self.error(
                f"expected {size} bytes of {section or self.section or 'content'}, "
                f"only {self.end - start} left"
            )
        self.pos = start + size
        return Reader(
            self.data,
            start,
            start + size,
            base=self.base,
            file=self.file,
            section=section or self.section,
        )

    def expect_end(self, what: str = "section") -> None:
        if self.pos != self.end:
            raise self.error(f"{what} size mismatch: {self.end - self.pos} unread bytes at end")

    # -- fixed-size ---------------------------------------------------------------------------
    def byte(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise self.error("unexpected end of input, expected a byte")
        self.pos = pos + 1
        return self.data[pos]

    def peek(self) -> int:
        if self.pos >= self.end:
            raise self.error("unexpected end of input, expected a byte")
        return self.data[self.pos]

    def bytes(self, n: int) -> bytes:
        pos = self.pos
        if n < 0 or pos + n > self.end:
            raise self.error(f"unexpected end of input, expected {n} bytes")
        self.pos = pos + n
        return bytes(self.data[pos : pos + n])

    # `bytes` below is the method above, not the builtin, inside the class body.
    def f32_bits(self) -> builtins.bytes:
        return self.bytes(4)

    def f64_bits(self) -> builtins.bytes:
        return self.bytes(8)

    # -- LEB128 ------------------------------------------------------------------------------
    def u32(self) -> int:
        pos = self.pos
        if pos < self.end:  # most are one byte: `_uleb`'s first step without its call
            b = self.data[pos]
            if b < 0x80:
                self.pos = pos + 1
                return b
        return self._uleb(32)

    def u64(self) -> int:
        return self._uleb(64)

    def u1(self) -> int:
        b = self.byte()
        if b > 1:
            raise self.error(f"expected 0 or 1, found 0x{b:02x}", self.pos - 1)
        return b

    def s32(self) -> int:
        return self._sleb(32)

    def s33(self) -> int:
        return self._sleb(33)

    def s64(self) -> int:
        return self._sleb(64)

    def _uleb(self, bits: int) -> int:
        data, pos, end = self.data, self.pos, self.end
        start = pos
        if pos < end:
            b = data[pos]
            if b < 0x80:
                self.pos = pos + 1
                return b
        result = 0
        shift = 0
        max_bytes = (bits + 6) // 7
        while True:
            if pos >= end:
                raise self.error(f"unexpected end of input in u{bits} LEB128", start)
            b = data[pos]
            pos += 1
            if pos - start == max_bytes:
                # Last permitted byte: continuation bit clear and unused bits zero.
                if b & 0x80:
                    raise self.error(f"u{bits} LEB128 too long", start)
                if b >> (bits - shift):
                    raise self.error(f"u{bits} LEB128 out of range", start)
                result |= b << shift
                break
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        self.pos = pos
        return result

    def _sleb(self, bits: int) -> int:
        data, pos, end = self.data, self.pos, self.end
        start = pos
        result = 0
        shift = 0
        max_bytes = (bits + 6) // 7
        while True:
            if pos >= end:
                raise self.error(f"unexpected end of input in s{bits} LEB128", start)
            b = data[pos]
            pos += 1
            if pos - start == max_bytes:
                if b & 0x80:
                    raise self.error(f"s{bits} LEB128 too long", start)
                # The unused high bits must all equal the sign bit.
                used = bits - shift  # number of meaningful bits in this byte (1..7)
                rest = b >> (used - 1)  # sign bit and everything above it
                if rest not in (0, (0x7F >> (used - 1))):
                    raise self.error(f"s{bits} LEB128 out of range", start)
                result |= (b & 0x7F) << shift
                shift += 7
                if b & 0x40:
                    result -= 1 << shift
                break
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if b & 0x40:
                    result -= 1 << shift
                break
        self.pos = pos
        return result

    def skip_leb(self) -> None:
        """Skip one LEB128 number without decoding it (bounded to 10 bytes)."""
        data, pos, end = self.data, self.pos, self.end
        start = pos
        while True:
            if pos >= end:
                raise self.error("unexpected end of input in LEB128", start)
            b = data[pos]
            pos += 1
            if not b & 0x80:
                break
            if pos - start >= 10:
                raise self.error("LEB128 too long", start)
        self.pos = pos

    # -- composite ---------------------------------------------------------------------------
    def name(self) -> str:
        n = self.u32()
        at = self.pos
        raw = self.bytes(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise self.error(f"malformed UTF-8 in name: {e.reason}", at) from None

    def vec_len(self, min_elem_size: int = 1) -> int:
        """Read a vector length, rejecting counts that cannot fit in what is left."""
        at = self.pos
        n = self.u32()
        if n * min_elem_size > self.end - self.pos:
            raise self.error(
                f"vector length {n} exceeds the {self.end - self.pos} bytes remaining", at
            )
        return n


class Writer:
    """Accumulates bytes; LEB128 output is always minimal-length (canonical)."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self.buf)

    def byte(self, b: int) -> None:
        self.buf.append(b)

    def raw(self, b: bytes | bytearray | memoryview) -> None:
        self.buf += b

    def u32(self, v: int) -> None:
        self.buf += uleb(v)

    u64 = u32

    def s32(self, v: int) -> None:
        self.buf += sleb(v)

    s33 = s64 = s32

    def name(self, s: str) -> None:
        b = s.encode("utf-8")
        self.buf += uleb(len(b))
        self.buf += b

    def sized(self, payload: bytes | bytearray) -> None:
        """Write ``payload`` prefixed by its u32 length (sections, bodies, nested modules)."""
        self.buf += uleb(len(payload))
        self.buf += payload


_SMALL_ULEB = [bytes([i]) for i in range(128)]


def uleb(v: int) -> bytes:
    """Minimal unsigned LEB128 encoding of ``v`` (``v >= 0``)."""
    if v < 128:
        return _SMALL_ULEB[v]
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def sleb(v: int) -> bytes:
    """Minimal signed LEB128 encoding of ``v``."""
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if (v == 0 and not b & 0x40) or (v == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def uleb_padded(v: int, width: int = 5) -> bytes:
    """Fixed-width unsigned LEB128 (non-canonical), for placeholders patched later."""
    out = bytearray()
    for i in range(width):
        b = v & 0x7F
        v >>= 7
        out.append(b | 0x80 if i < width - 1 else b)
    return bytes(out)
