"""The whole fusion pipeline under mutated components: a result or a PymeldError, nothing else.

A mutated component that still decodes reaches flatten, merge and wrap with shapes no toolchain
makes; any other exception (an internal error at the CLI) or a hang is a bug. Default run: 400
seeded inputs; ``--slow`` / ``PYMELD_SLOW=1``: 20x.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from fuzz_support import time_guard

from pymeld.errors import PymeldError
from pymeld.fuse import FuseOptions, fuse_bytes

PER_SHARD = 200
SLOW_FACTOR = 20


@pytest.fixture(scope="module")
def components(small_corpus_binaries: list[Path], wast_binaries: list[Path]) -> list[bytes]:
    blobs = {p.read_bytes() for p in [*small_corpus_binaries, *wast_binaries]}
    comps = (b for b in blobs if b[4:8] == b"\x0d\x00\x01\x00" and len(b) > 8)
    return sorted(comps, key=lambda b: (len(b), b))


@pytest.mark.parametrize("shard", range(2))
def test_mutated_components_fuse_or_fail_cleanly(
    shard: int, components: list[bytes], slow: bool, report
) -> None:
    rng = random.Random(0x5EED + shard)
    n = PER_SHARD * (SLOW_FACTOR if slow else 1)
    fused = refused = 0
    with time_guard() as arm:
        for _ in range(n):
            data = bytearray(rng.choice(components))
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(8, len(data))] = rng.randrange(256)
            options = FuseOptions(component=rng.random() < 0.5, attestation=False)
            arm(10.0)
            try:
                fuse_bytes(bytes(data), options=options)
                fused += 1
            except PymeldError:
                refused += 1
            except Exception as e:  # pragma: no cover - the failure report
                pytest.fail(
                    f"{type(e).__name__}: {e} (seed shard {shard}, input {bytes(data)!r:.200})"
                )
            finally:
                arm(0)
    report(
        f"fusion fuzz shard {shard}", f"{n} mutated components: {fused} fused, {refused} refused"
    )
