"""Loading cost in wasmtime: compile and instantiation time of fused vs original, and size.

For every real composition in ``../shared/corpus/components/`` (``composed.wasm`` and
``*.composed.wasm``), ``pymeld fuse X --component`` is run once, then in one process:

* compile: ``Component(engine, bytes)`` (Cranelift, no cache), ``--runs`` rounds
  (``--large-runs`` for inputs over 4 MB: py-compose-rich takes tens of seconds per compile);
  the goal is judged on wall time, as the median over rounds of fused/original of the round's
  two compiles (medians of each are printed beside it); the CPU of all compiler threads is
  printed too (steadier on a loaded machine);
* instantiate: a fresh ``Store`` with a WASI p2 context, ``Linker.add_wasip2()``, then
  ``linker.instantiate`` of the already compiled component, median of ``--inst-runs``;
* size: output bytes / input bytes (the fused size includes the ~0.4 kB attestation).

Original and fused are measured alternately, so drift on a shared machine hits both alike.
Every ratio is fused / original; the goal is that fusing is not worse: each ratio <= 1.0x.
A composition that needs imports WASI does not provide gets compile time and size only.
Exit status 1 if any ratio is over its goal or an input is not fused.

    python benchmarks/wasmtime_load.py [--runs 5] [--large-runs 1] [--inst-runs 20] [FILE ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import wasmtime
from wasmtime import Engine, Store, WasiConfig
from wasmtime.component import Component, Linker

from bench_support import fuse_component, shared_root

REPO = Path(__file__).resolve().parent.parent
GOAL = 1.0  # fused / original, for compile time, instantiation time and size
LARGE = 4 << 20


def compositions() -> list[Path]:
    root = shared_root() / "corpus" / "components"
    files = sorted(root.rglob("composed.wasm")) + sorted(root.rglob("*.composed.wasm"))
    if not files:
        sys.exit(f"no compositions under {root} (set PYMELD_SHARED)")
    return files


def instantiate(engine: Engine, comp: Component, tmp: Path) -> float:
    """Seconds for one instantiation with WASI p2 (store and linker set up outside the timing)."""
    store = Store(engine)
    cfg = WasiConfig()
    cfg.stdout_file = str(tmp / "stdout")
    cfg.stderr_file = str(tmp / "stderr")
    store.set_wasi(cfg)
    linker = Linker(engine)
    linker.add_wasip2()
    t0 = time.perf_counter()
    linker.instantiate(store, comp)
    return time.perf_counter() - t0


def measure(
    orig: bytes, fused: bytes, runs: int, inst_runs: int, tmp: Path
) -> tuple[
    list[tuple[float, float]], list[tuple[float, float]], list[float], list[float], str | None
]:
    engine = Engine()
    co: list[tuple[float, float]] = []  # (wall, CPU of all compiler threads) per compile
    cf: list[tuple[float, float]] = []
    comps: dict[str, Component] = {}
    for r in range(runs):
        order = [("o", orig, co), ("f", fused, cf)]
        for key, data, acc in order if r % 2 == 0 else order[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            comps[key] = Component(engine, data)
            acc.append((time.perf_counter() - t0, time.process_time() - c0))
    io: list[float] = []
    inf: list[float] = []
    try:
        for r in range(inst_runs):
            order = [(comps["o"], io), (comps["f"], inf)]
            for comp, acc in order if r % 2 == 0 else order[::-1]:
                acc.append(instantiate(engine, comp, tmp))
    except wasmtime.WasmtimeError as e:
        return co, cf, [], [], " ".join(str(e).split())[:90]
    return co, cf, io, inf, None


def ratio_cell(r: float | None) -> str:
    if r is None:
        return f"{'-':>7} {'':>8}"
    mark = "" if r <= GOAL else " !"
    return f"{r:>6.2f}x{mark:<2} (<={GOAL:.1f}x)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=5, help="compiles of each small input")
    ap.add_argument("--large-runs", type=int, default=1, help="compiles of each input > 4 MB")
    ap.add_argument("--inst-runs", type=int, default=20, help="instantiations of each")
    ap.add_argument("files", nargs="*", type=Path)
    args = ap.parse_args()
    files = args.files or compositions()
    root = shared_root() / "corpus" / "components"
    misses = 0
    print(
        f"{'composition':<38} {'compile ms o/f':>17} {'compile f/o':>19} "
        f"{'inst us o/f':>15} {'inst f/o':>19} {'KB o/f':>15} {'size f/o':>19}"
    )
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for f in files:
            f = f.resolve()
            name = (
                str(f.relative_to(root.resolve())) if f.is_relative_to(root.resolve()) else str(f)
            )
            out = tmp / "fused.wasm"
            refusal = fuse_component(f, out)
            if refusal is not None:
                print(f"{name:<38} not fused: {refusal}")
                misses += 1
                continue
            orig, fused = f.read_bytes(), out.read_bytes()
            runs = args.large_runs if len(orig) > LARGE else args.runs
            inst_runs = max(1, args.inst_runs // 5) if len(orig) > LARGE else args.inst_runs
            co, cf, io, inf, why = measure(orig, fused, runs, inst_runs, tmp)
            c_o, c_f = (statistics.median(w for w, _ in c) * 1e3 for c in (co, cf))
            cpu_ratio = statistics.median(c for _, c in cf) / statistics.median(c for _, c in co)
            # the two compiles of a round ran back to back: their ratio cancels the machine's
            # drift, which the ratio of two medians does not (a parallel compile's wall time on
            # a 2-core machine is bimodal)
            compile_ratio = statistics.median(f[0] / o[0] for o, f in zip(co, cf))
            ratios = [compile_ratio, len(fused) / len(orig)]
            inst = f"{'n/a':>15}"
            inst_ratio: float | None = None
            if not why:
                i_o, i_f = statistics.median(io) * 1e6, statistics.median(inf) * 1e6
                inst = f"{i_o:>7.1f}/{i_f:<7.1f}"
                inst_ratio = i_f / i_o
                ratios.append(inst_ratio)
            misses += sum(r > GOAL for r in ratios)
            print(
                f"{name:<38} {c_o:>8.1f}/{c_f:<8.1f} {ratio_cell(compile_ratio)} "
                f"{inst} {ratio_cell(inst_ratio)} "
                f"{len(orig) / 1e3:>7.1f}/{len(fused) / 1e3:<7.1f} "
                f"{ratio_cell(len(fused) / len(orig))}"
                + f"  compile CPU f/o {cpu_ratio:.2f}x"
                + (f"  (not instantiable with WASI p2: {why})" if why else ""),
                flush=True,
            )
    print(f"ratios over the goal (fused/original <= {GOAL:.1f}x): {misses}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
