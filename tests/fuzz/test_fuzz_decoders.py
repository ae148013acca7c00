"""Decoders under mutated input: only success or DecodeError, never a crash or a hang.

Default run: 10 shards x 1,000 seeded mutations (10,000 inputs) + 2 x 300 hypothesis examples.
``--slow`` / ``PYMELD_SLOW=1``: 20x the seeded inputs and 5,000 hypothesis examples each.
Seeds are the corpus' binaries below 300 KB plus every binary the corpus .wast files define.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from fuzz_support import NASTY_LEBS, check_decoder_contract, mutate, time_guard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SHARDS = 10
PER_SHARD = 1_000
SLOW_FACTOR = 20


@pytest.fixture(scope="module")
def seeds(small_corpus_binaries: list[Path], wast_binaries: list[Path]) -> list[bytes]:
    blobs = {p.read_bytes() for p in [*small_corpus_binaries, *wast_binaries]}
    return sorted(blobs, key=lambda b: (len(b), b))


@pytest.mark.parametrize("shard", range(SHARDS))
def test_seeded_mutations(shard: int, seeds: list[bytes], slow: bool, report) -> None:
    rng = random.Random(0x9E3779B9 + shard)
    n = PER_SHARD * (SLOW_FACTOR if slow else 1)
    decoded = 0
    with time_guard() as arm:
        for i in range(n):
            seed = seeds[rng.randrange(len(seeds))]
            data = mutate(seed, rng)
            try:
                decoded += check_decoder_contract(data, arm)
            except BaseException as e:
                e.add_note(f"shard {shard}, input #{i}, {len(data)} bytes: {data[:64].hex()}...")
                raise
    report(
        f"fuzz shard {shard}",
        f"{n} mutated inputs from {len(seeds)} seeds: {decoded} decoded, {n - decoded} rejected",
    )


# -- hypothesis: structured edits, shrinkable to a minimal failing edit list ------------------
edit = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(0, 7)),
    st.tuples(st.just("set"), st.integers(0, 1 << 20), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 20)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 20), st.integers(1, 16)),
    st.tuples(st.just("leb"), st.integers(0, 1 << 20), st.sampled_from(NASTY_LEBS)),
)


def apply_edits(data: bytes, edits: list[tuple]) -> bytes:
    buf = bytearray(data)
    for kind, raw_pos, *rest in edits:
        pos = raw_pos % (len(buf) + 1)
        if kind == "flip" and pos < len(buf):
            buf[pos] ^= 1 << rest[0]
        elif kind == "set" and pos < len(buf):
            buf[pos] = rest[0]
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = rest[0]
        elif kind == "delete":
            del buf[pos : pos + rest[0]]
        elif kind == "leb":
            buf[pos : pos + 1] = rest[0]
    return bytes(buf)


def _hypothesis_run(seeds: list[bytes], pick_component: bool, examples: int) -> None:
    from pymeld.api import is_component

    pool = [s for s in seeds if is_component(s) == pick_component]
    assert pool, "no seeds of this kind"

    @settings(
        max_examples=examples,
        deadline=None,  # our own SIGALRM guard bounds each input
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.integers(0, len(pool) - 1), st.lists(edit, min_size=1, max_size=6))
    def run(index: int, edits: list[tuple]) -> None:
        with time_guard() as arm:
            check_decoder_contract(apply_edits(pool[index], edits), arm)

    run()


@pytest.mark.parametrize("kind", ["core", "component"])
def test_hypothesis_mutations(kind: str, seeds: list[bytes], slow: bool) -> None:
    _hypothesis_run(seeds, kind == "component", 5_000 if slow else 300)


@pytest.mark.parametrize("data", [b"", b"\0asm", b"\0asm\x01\0\0", b"\0asm\x0d\0\x01\0\x00"])
def test_tiny_inputs_are_decode_errors(data: bytes) -> None:
    with time_guard() as arm:
        assert not check_decoder_contract(data, arm)
