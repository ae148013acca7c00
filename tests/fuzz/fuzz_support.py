"""Mutators and the decoder contract shared by the fuzz tests.

Contract: on any bytes, a decoder returns a tree or raises ``DecodeError`` (which carries
file/offset); any other exception or a hang is a bug. A tree that decodes must also re-encode,
and re-encoding must be a fixed point (``enc(dec(enc(t))) == enc(t)``): a successful parse that
cannot be written back is a silent-corruption risk for fusion.
"""

from __future__ import annotations

import contextlib
import random
import signal
from collections.abc import Callable, Iterator

from pymeld import api
from pymeld.errors import DecodeError

#: Per-input wall-clock guard: a well-behaved decoder needs milliseconds on these inputs.
INPUT_TIMEOUT_S = 5.0

# LEB128 shapes that break naive decoders: overlong, too-large, unterminated, max u32/u64.
NASTY_LEBS: tuple[bytes, ...] = (
    b"\xff\xff\xff\xff\x0f",  # u32::MAX
    b"\xff\xff\xff\xff\x7f",  # unused bits set in the 5th byte
    b"\x80\x80\x80\x80\x80\x00",  # overlong (6 bytes)
    b"\x80\x80\x80\x80\x00",  # zero, maximally padded (legal for u32)
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # u64::MAX
    b"\x80",  # unterminated
    b"\xff\xff\xff\xff",  # unterminated, 4 bytes
    b"\x7f",
    b"\x00",
)


class Hang(BaseException):
    """Raised by the time guard; BaseException so a decoder's ``except Exception`` can't eat it."""


@contextlib.contextmanager
def time_guard() -> Iterator[Callable[[float], None]]:
    """Install a SIGALRM handler once; yields ``arm(seconds)`` (``arm(0)`` disarms)."""

    def on_alarm(_sig: int, _frame: object) -> None:
        raise Hang(f"decoder ran longer than {INPUT_TIMEOUT_S} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        yield lambda s: signal.setitimer(signal.ITIMER_REAL, s)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check_decoder_contract(data: bytes, arm: Callable[[float], None]) -> bool:
    """Decode ``data`` under the time guard; True if it decoded. Raises on contract violation."""
    arm(INPUT_TIMEOUT_S)
    try:
        try:
            tree = api.decode(data, file="fuzz.wasm")
        except DecodeError as e:
            assert e.offset is not None, f"DecodeError without an offset: {e}"
            assert "fuzz.wasm" in str(e), f"DecodeError does not name the file: {e}"
            return False
        comp = api.is_component(data)
        once = _encode(tree, comp)
        twice = _encode(api.decode(once, file="reencoded.wasm"), comp)
        assert once == twice, "re-encoding a decoded input is not a fixed point"
        return True
    finally:
        arm(0)


def _encode(tree: object, component: bool) -> bytes:
    if component:
        from pymeld.codec.component import encode_component

        return encode_component(tree)  # type: ignore[arg-type]
    from pymeld.codec.core import encode_module

    return encode_module(tree)  # type: ignore[arg-type]


# -- seeded byte mutator ----------------------------------------------------------------------
def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random edits: bit flips, truncation, insert/delete, LEB smashing, splices."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 4))):
        n = len(buf)
        op = rng.randrange(8)
        pos = rng.randrange(n) if n else 0
        if op == 0 and n:  # bit flip
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # random byte
            buf[pos] = rng.randrange(256)
        elif op == 2:  # truncation
            del buf[rng.randrange(n + 1) :]
        elif op == 3:  # insert bytes
            buf[pos:pos] = rng.randbytes(rng.choice((1, 1, 2, 4, 16)))
        elif op == 4 and n:  # delete bytes
            del buf[pos : pos + rng.choice((1, 1, 2, 4, 16))]
        elif op == 5:  # LEB smash: replace a (probable) LEB with a nasty one
            at = rng.randrange(8, n) if n > 8 else 0  # LEBs are everywhere past the preamble
            end = at
            while end < len(buf) and buf[end] & 0x80 and end - at < 10:
                end += 1
            buf[at : end + 1] = rng.choice(NASTY_LEBS)
        elif op == 6 and n > 8:  # duplicate a chunk (repeated sections, doubled counts)
            a = rng.randrange(8, n)
            b = min(n, a + rng.randrange(1, 64))
            buf[b:b] = buf[a:b]
        elif op == 7 and n:  # boundary values
            buf[pos] = rng.choice((0x00, 0x7F, 0x80, 0xFF, 0x0B, 0x40, 0x60))
    return bytes(buf)
