"""Cross-component call speed: fused component vs the original under wasmtime, same process.

Every case is a composition exporting ``run: func(n: u32) -> u64`` that makes ``n`` calls across
one component boundary and returns a checksum (``/work/shared/corpus/bench/*.wasm`` plus
``benchmarks/cases/*.wat``, built with ``wasm-tools parse`` here). In the original, wasmtime's
own runtime adapters (FACT trampolines) carry each call; in the fused output, pymeld's
generated canonical-ABI adapter does. Both are instantiated in one process, must return the
same checksum, and ``run(--calls)`` is timed ``--runs`` times each, interleaved (alternating
which goes first), so drift on shared machines hits both alike. Reported: median fused/original
with the goal beside it (<= 0.8x, stretch <= 0.5x: a fused call is a direct call, so it should
clearly beat wasmtime's adapters), wasmtime compile time and byte size of each. A case pymeld
refuses is listed with its named refusal (and counts as a miss).

    python benchmarks/call_speed.py [--runs 7] [--calls 1000000] [--json out.json] [FILE ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import wasmtime
from wasmtime.component import Component, Linker

from bench_support import fuse_component, shared_root, tool

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TARGET = 0.8  # fused / original, per case (the goal of the speed issue)
STRETCH = 0.5


@dataclass
class Row:
    case: str
    checksum: int | None = None
    orig_ms: float | None = None
    fused_ms: float | None = None
    ratio: float | None = None
    orig_compile_ms: float | None = None
    fused_compile_ms: float | None = None
    orig_bytes: int = 0
    fused_bytes: int | None = None
    refusal: str | None = None


def build_cases(files: list[Path], tmp: Path) -> list[tuple[str, Path]]:
    """`.wasm` as is; `.wat` through `wasm-tools parse` (the committed source is the truth)."""
    out = []
    for f in files:
        if f.suffix == ".wat":
            wasm = tmp / (f.stem + ".wasm")
            subprocess.run([tool("wasm-tools"), "parse", str(f), "-o", str(wasm)], check=True)
            out.append((f.stem, wasm))
        else:
            out.append((f.stem, f))
    return out


def compile_ms(engine: wasmtime.Engine, data: bytes, runs: int = 3) -> tuple[Component, float]:
    """Median wall time of `Component(engine, bytes)` (Cranelift compile, no cache)."""
    times, comp = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        comp = Component(engine, data)
        times.append(time.perf_counter() - t0)
    assert comp is not None
    return comp, statistics.median(times) * 1e3


def bench(name: str, wasm: Path, tmp: Path, runs: int, calls: int) -> Row:
    data = wasm.read_bytes()
    row = Row(name, orig_bytes=len(data))
    fused = tmp / f"{name}.fused.wasm"
    row.refusal = fuse_component(wasm, fused)
    if row.refusal is not None:
        return row
    fdata = fused.read_bytes()
    row.fused_bytes = len(fdata)
    engine = wasmtime.Engine()
    comp_o, row.orig_compile_ms = compile_ms(engine, data)
    comp_f, row.fused_compile_ms = compile_ms(engine, fdata)
    linker = Linker(engine)
    store = wasmtime.Store(engine)
    run_o = linker.instantiate(store, comp_o).get_func(store, "run")
    run_f = linker.instantiate(store, comp_f).get_func(store, "run")
    assert run_o is not None and run_f is not None, "no `run` export"
    for n in (0, 1, 7, 1000):
        a, b = run_o(store, n), run_f(store, n)
        if a != b:
            raise AssertionError(f"{name}: run({n}) original {a} != fused {b}")
    to, tf = [], []
    for r in range(runs):
        order = [(run_o, to), (run_f, tf)] if r % 2 == 0 else [(run_f, tf), (run_o, to)]
        results = []
        for fn, acc in order:
            t0 = time.perf_counter()
            results.append(fn(store, calls))
            acc.append(time.perf_counter() - t0)
        if results[0] != results[1]:
            raise AssertionError(f"{name}: run({calls}) checksums differ: {results}")
        row.checksum = results[0]
    row.orig_ms, row.fused_ms = statistics.median(to) * 1e3, statistics.median(tf) * 1e3
    row.ratio = row.fused_ms / row.orig_ms
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=7)
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--target", type=float, default=TARGET)
    ap.add_argument("--json", type=Path)
    ap.add_argument("files", nargs="*", type=Path)
    args = ap.parse_args()
    files = args.files or [
        *sorted((shared_root() / "corpus" / "bench").glob("*.wasm")),
        *sorted((HERE / "cases").glob("*.wat")),
    ]
    if not files:
        sys.exit(f"no cases (looked in {shared_root() / 'corpus' / 'bench'} and {HERE / 'cases'})")
    rows: list[Row] = []
    print(
        f"{'case':<18} {'orig ms':>8} {'fused ms':>9} {'fused/orig':>10} {'goal':>20} "
        f"{'compile o/f ms':>15} {'bytes o/f':>12}  checksum"
    )
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for name, wasm in build_cases(files, tmp):
            row = bench(name, wasm, tmp, args.runs, args.calls)
            rows.append(row)
            if row.refusal:
                print(f"{name:<18} {'-':>8} {'-':>9} {'-':>10}  not fused: {row.refusal}")
                continue
            assert row.ratio is not None
            flag = "" if row.ratio <= args.target else "  over goal"
            goal = f"<={args.target:.2f}x (stretch {STRETCH:.1f}x)"
            print(
                f"{name:<18} {row.orig_ms:>8.1f} {row.fused_ms:>9.1f} {row.ratio:>9.2f}x {goal:>20} "
                f"{row.orig_compile_ms:>7.1f}/{row.fused_compile_ms:<7.1f} "
                f"{row.orig_bytes:>5}/{row.fused_bytes:<6}  {row.checksum}{flag}",
                flush=True,
            )
    misses = [r for r in rows if r.refusal or (r.ratio or 0) > args.target]
    worst = max((r.ratio for r in rows if r.ratio is not None), default=float("nan"))
    print(
        f"worst fused/original: {worst:.2f}x (goal <= {args.target:.2f}x, stretch <= "
        f"{STRETCH:.1f}x; {args.calls} calls)"
    )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
