"""UTF-8 -> UTF-16 inside mixed blocks (`abi.transcode._utf8_to_utf16_block`), against the spec.

A block of 16 bytes with high bytes is loaded once: its mask then finds every further high
byte while the cursor is inside it (several sequences per block, adjacent or apart, one
crossing into the next block), and its ASCII runs are widened 16 units at a time when the
result, counted once at the first mixed block (`_count_utf16_units`), is long enough to
overwrite the units stored past them. What can go wrong: a high byte skipped or found twice
(wrong units, or a malformed sequence not trapping), a stale mask used for the next block, a
count too large (units left past the result that the spec never writes: the harness compares
both memories byte for byte) or cut wrongly at the string's last partial block. So sequences
of every width go at every offset of the first blocks in twos and threes, malformed ones after
a valid one in the same block, and strings end in runs of 1-, 3- and 4-byte characters of
every length. Each case runs the generated adapter in wasmtime, with and without vector code,
next to definitions.py (`abi_harness.check`).
"""

from __future__ import annotations

import random

import pytest
from abi_harness import MEM_BYTES, check
from test_abi_ascii_blocks import _case
from test_abi_fast_paths import BAD_SEQS, VALID_SEQS, _ascii, _at

PATH = ("utf8", "utf16", "utf8")


def _run(raw: bytes, off: int = 0) -> str | None:
    return check(_case(*PATH, raw, len(raw), off)).trap


@pytest.mark.parametrize("gap", range(4))
def test_sequences_in_one_block_at_every_offset(gap):
    """Three sequences `gap` ASCII bytes apart (0: adjacent) starting at every offset of the
    first two blocks, with tails short and long (the count decides the block stores)."""
    for pos in range(34):
        a, c, d = (VALID_SEQS[(pos + k * 3) % len(VALID_SEQS)] for k in range(3))
        mid = a + _ascii(gap, 1) + c + _ascii(gap, 2) + d
        for tail in (_ascii(pos % 7, 3), _ascii(20 + pos % 5, 4), "€".encode() * (pos % 9)):
            raw = _ascii(pos) + mid + tail
            assert _run(raw, pos % 4) is None, (pos, raw.hex())


@pytest.mark.parametrize("bad", BAD_SEQS, ids=bytes.hex)
def test_malformed_after_a_sequence_in_the_same_block(bad):
    """A valid sequence first, so the mask of its block finds the malformed one at every
    later lane (and past the block's end)."""
    for lead in (0, 3, 9):
        for gap in range(0, 20 - lead):
            raw = _ascii(lead) + "é".encode() + _ascii(gap, 1) + bad + _ascii(30, 2)
            assert _run(raw, gap % 4) == "params", (lead, gap, raw.hex())


@pytest.mark.parametrize("wide", ["é", "€", "😀", "a"])
def test_result_length_around_the_block_stores(wide):
    """A mixed block, then ASCII and `k` characters of one width: the result's length moves
    across dlen + 16 for every k, for 2-, 3- and 4-byte characters (4: two units each)."""
    for lead in range(0, 34, 3):
        for k in range(0, 24):
            s = _ascii(lead, k) + "ß".encode() + _ascii(k % 7, 5) + wide.encode() * k
            assert _run(s, lead % 4) is None, (lead, k)


@pytest.mark.parametrize("seed", range(6))
def test_random_mixed_text(seed):
    """Seeded text of short ASCII runs and characters of every width, some strings cut
    inside a sequence or with one byte changed (those must trap exactly where the spec does)."""
    rng = random.Random(seed)
    pool = ["é", "ß", "€", "—", "😀", "\U0010ffff", "\ud7ff", "\ue000", "߿", "ࠀ"]
    for _ in range(40):
        parts = []
        while sum(map(len, parts)) < rng.randrange(16, 120):
            parts.append(_ascii(rng.randrange(0, 9), rng.randrange(9)))
            parts.append(rng.choice(pool).encode())
        raw = bytearray(b"".join(parts))
        mode = rng.randrange(4)
        if mode == 1:
            raw = raw[: rng.randrange(len(raw) + 1)]
        elif mode == 2:
            raw[rng.randrange(len(raw))] = rng.choice([0x80, 0xBF, 0xC0, 0xE0, 0xED, 0xF4, 0xFF])
        trap = _run(bytes(raw), rng.randrange(4))
        try:
            bytes(raw).decode("utf-8")
            assert trap is None, raw.hex()
        except UnicodeDecodeError:
            assert trap == "params", raw.hex()


@pytest.mark.parametrize("n", range(19, 52))
def test_mixed_text_ending_at_the_memory_end(n):
    """Loads inside a mixed block stay inside the string: a long string ending exactly at
    the end of memory, with high bytes in its last blocks, is transcoded, not a bounds trap."""
    for seed in range(3):
        raw = (_ascii(40, seed) + "é€ßa—b😀c".encode() * 4)[-n:]
        while raw and 0x80 <= raw[0] < 0xC0:  # start on a whole character
            raw = raw[1:]
        case = _at(raw, "utf16", ptr=MEM_BYTES - len(raw))
        assert check(case).trap is None, raw.hex()
