"""Run every benchmark in this directory, one after the other; exit non-zero if any misses.

Benchmarks are not part of the test suite (timing on shared 2-core machines is noisy); run
them with ``make bench`` and read the ratios, which are taken within one run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "codec_roundtrip.py",
    "fuse_speed.py",
    "startup.py",
    "call_speed.py",
    "wasmtime_load.py",
]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(HERE / name), *sys.argv[1:]]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"benchmarks over target: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
