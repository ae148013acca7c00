"""UTF-8 validation of strings of 16 bytes or more, 16 bytes per step with vector code
(`abi.adapter._validate_utf8_simd`), against the spec at the edges of that code.

Each step checks every byte against its three predecessors, the previous block's bytes
included, and a block ending inside a sequence must be completed by the next one; the last,
partial block is the 16 bytes ending at the string's end shifted down. So what can go wrong is
at block boundaries: every valid and invalid sequence is put at every offset around the first
two boundaries with every remainder of the last block, and seeded random strings (valid, cut,
or with one byte changed) are compared with the spec's decoder. Each case runs the generated
adapter in wasmtime next to definitions.py (`abi_harness.check`).
"""

from __future__ import annotations

import random

import pytest
from abi_harness import check
from test_abi_fast_paths import BAD_SEQS, VALID_SEQS, _ascii, _at


@pytest.mark.parametrize("seq", VALID_SEQS, ids=bytes.hex)
def test_valid_sequence_at_every_offset_around_the_blocks(seq):
    for pos in range(10, 36):
        raw = _ascii(pos) + seq + _ascii((pos * 7) % 17, 2)
        assert check(_at(raw, "utf8", pos % 4)).trap is None, (pos, raw.hex())


@pytest.mark.parametrize("seq", BAD_SEQS, ids=bytes.hex)
def test_bad_sequence_at_every_offset_around_the_blocks(seq):
    for pos in range(10, 36):
        raw = _ascii(pos) + seq + _ascii((pos * 5) % 17, 4)
        assert check(_at(raw, "utf8", pos % 4)).trap == "params", (pos, raw.hex())


@pytest.mark.parametrize("tail", range(16))
def test_every_remainder_of_the_last_block(tail):
    """Non-ASCII whole blocks, then `tail` more bytes: a sequence cut by the end, one ending
    exactly there, and a lone continuation as the very last byte."""
    body = ("é€😀a" * 8).encode()[:32]  # 32 bytes, whole sequences
    for raw in (
        body + ("ü" * 8).encode()[:tail],  # may cut a 2-byte sequence
        body + _ascii(max(tail - 4, 0)) + "😀".encode()[: min(tail, 4)],
        body + _ascii(tail)[:-1] + b"\x80" if tail else body,
    ):
        want = _expected_trap(raw)
        assert check(_at(raw, "utf8", tail % 4)).trap == want, raw.hex()


def _expected_trap(raw: bytes) -> str | None:
    """What the spec does with ``raw`` as a UTF-8 parameter: trap on invalid UTF-8."""
    try:
        raw.decode()
    except UnicodeDecodeError:
        return "params"
    return None


def _random_string(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randrange(4, 40)):
        r = rng.random()
        if r < 0.4:
            parts.append(_ascii(rng.randrange(1, 12), rng.randrange(90)))
        elif r < 0.8:
            cp = rng.choice([0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF])
            cp = rng.choice([cp, rng.randrange(0x80, 0xD800), rng.randrange(0xE000, 0x110000)])
            parts.append(chr(cp).encode())
        else:
            parts.append(rng.choice(VALID_SEQS + BAD_SEQS))
    raw = bytearray(b"".join(parts))
    if rng.random() < 0.3:
        raw[rng.randrange(len(raw))] = rng.randrange(256)
    if rng.random() < 0.3:
        del raw[rng.randrange(16, max(len(raw), 17)) :]
    return bytes(raw.ljust(16, b"a"))


@pytest.mark.parametrize("seed", range(6))
def test_random_strings_against_the_spec(seed):
    rng = random.Random(seed)
    outcomes = set()
    for _ in range(40):
        raw = _random_string(rng)
        want = _expected_trap(raw)
        outcomes.add(want)
        assert check(_at(raw, "utf8", rng.randrange(8))).trap == want, raw.hex()
    assert outcomes == {None, "params"}  # both kinds were tried
