"""Cross-component call speed: fused component vs the original under wasmtime, same process.

Every case is a composition exporting ``run: func(n: u32) -> u64`` that makes ``n`` calls across
one component boundary and returns a checksum (``/work/shared/corpus/bench/*.wasm`` plus
``benchmarks/cases/*.wat``, built with ``wasm-tools parse`` here). In the original, wasmtime's
own runtime adapters (FACT trampolines) carry each call; in the fused output, pymeld's
generated canonical-ABI adapter does. Both are instantiated in one process, must return the
same checksum, and ``run(--calls)`` is timed ``--runs`` times each, interleaved (rotating
which goes first), so drift on shared machines hits both alike; fast cases get more rounds
(about `ROUND_SECONDS` of the original's calls, at most ten times ``--runs``). Reported: median fused/original
with the goal beside it (<= 0.8x, stretch <= 0.5x: a fused call is a direct call, so it should
clearly beat wasmtime's adapters), wasmtime compile time and byte size of each. A case pymeld
refuses is listed as ``refused: <pymeld's reason>`` (and counts as a miss).

Cases whose calls go through the runtime's async machinery run fewer calls (`CASES`: the
`--calls` divisor), so every case takes a similar time; the row says how many. Cases marked
`concurrent` need wasmtime's event loop (an `async` lower into an `async` lift): both sides
are called through the C API's async call on an engine with component-model async and
concurrency support. Besides the ratio of medians, the ratio of the fastest runs is shown (on
a loaded machine the minimum is the steadier number); both are checked against the goal.
``--baseline TREE`` adds a contender, the output of the pymeld sources in ``TREE/src``, timed in
the same rounds.

A case with a hand-written *floor* (``benchmarks/floors/CASE.wat``: the same caller and callee
in one core module, the call made directly with no checks at all, moving only the bytes the
callee must receive) times that too, in the same rounds and with the same checksum: the callee's
own work and the data movement are a floor no adapter can go under, so the row shows the floor's
ratio to the original and how many ns per call the fused adapter adds above it.

    python benchmarks/call_speed.py [--runs 11] [--calls 1000000] [--baseline TREE]
        [--json out.json] [FILE ...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import wasmtime
from wasmtime.component import Component, Func, Linker

from bench_support import fuse_component, shared_root, tool

HERE = Path(__file__).resolve().parent
FLOORS = HERE / "floors"
REPO = HERE.parent
TARGET = 0.8  # fused / original, per case (the goal of the speed issue)
STRETCH = 0.5
# Fast cases get more rounds (up to 10x --runs): about this many seconds of the original's calls,
# so medians and minimums of a 3 ms case are as steady as those of a 150 ms one.
ROUND_SECONDS = 1.0


@dataclass(frozen=True)
class CaseOpts:
    calls_div: int = 1  # run --calls // calls_div calls (runtime-heavy cases)
    concurrent: bool = False  # needs wasmtime's event loop (async lower -> async lift)


CASES = {
    "stream-u8": CaseOpts(calls_div=10),
    "async-call": CaseOpts(calls_div=100, concurrent=True),
}


@dataclass
class Row:
    case: str
    checksum: int | None = None
    calls: int = 0
    rounds: int = 0
    orig_ms: float | None = None
    fused_ms: float | None = None
    ratio: float | None = None  # of the medians
    orig_min_ms: float | None = None
    fused_min_ms: float | None = None
    min_ratio: float | None = None  # of the fastest runs
    base_ms: float | None = None  # --baseline: the same with that tree's pymeld
    base_ratio: float | None = None
    base_min_ratio: float | None = None
    base_refusal: str | None = None
    floor_ms: float | None = None  # the hand-written direct call (benchmarks/floors/)
    floor_ratio: float | None = None  # floor / original, medians
    above_floor_ns: float | None = None  # (fused - floor) per call, medians
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
            out.append((f.stem, parse_wat(f, tmp / (f.stem + ".wasm"))))
        else:
            out.append((f.stem, f))
    return out


def parse_wat(wat: Path, wasm: Path) -> Path:
    subprocess.run([tool("wasm-tools"), "parse", str(wat), "-o", str(wasm)], check=True)
    return wasm


def compile_ms(engine: wasmtime.Engine, data: bytes, runs: int = 3) -> tuple[Component, float]:
    """Median wall time of `Component(engine, bytes)` (Cranelift compile, no cache)."""
    times, comp = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        comp = Component(engine, data)
        times.append(time.perf_counter() - t0)
    assert comp is not None
    return comp, statistics.median(times) * 1e3


def concurrent_engine() -> wasmtime.Engine:
    """An engine that can run `async` lowers into `async` lifts (its event loop)."""
    from wasmtime import _ffi as ffi

    cfg = wasmtime.Config()
    ffi.wasmtime_config_wasm_component_model_async_set(cfg.ptr(), True)
    ffi.wasmtime_config_concurrency_support_set(cfg.ptr(), True)
    return wasmtime.Engine(cfg)


def call_concurrent(func: Func, store: wasmtime.Store, n: int) -> int:
    """``func(n) -> u64`` through the C API's async call, polled to completion: it drives
    wasmtime's event loop, which wasmtime-py's synchronous ``Func.__call__`` does not."""
    import ctypes

    from wasmtime import WasmtimeError
    from wasmtime import _ffi as ffi

    fty = func.type(store)
    assert fty.result is not None
    params = (ffi.wasmtime_component_val_t * 1)()
    fty.params[0][1].convert_to_c(store, n, ctypes.pointer(params[0]))
    res = ffi.wasmtime_component_val_t()
    err = ctypes.POINTER(ffi.wasmtime_error_t)()
    try:
        fut = ffi.wasmtime_component_func_call_async(
            ctypes.byref(func._func),
            store._context(),
            params,
            1,
            ctypes.byref(res),
            1,
            ctypes.byref(err),
        )
        try:
            while not ffi.wasmtime_call_future_poll(fut):
                pass
        finally:
            ffi.wasmtime_call_future_delete(fut)
        if err:
            raise WasmtimeError._from_ptr(err)
        return fty.result.convert_from_c(res)
    finally:
        ffi.wasmtime_component_val_delete(ctypes.byref(params[0]))


def fuse_with(src: Path, wasm: Path, out: Path) -> str | None:
    """Like `fuse_component`, but with the pymeld sources under ``src/`` of another tree (a
    baseline checkout), run by this interpreter."""
    code = "import sys; from pymeld.cli import main; sys.exit(main())"
    p = subprocess.run(
        [sys.executable, "-c", code, "-q", "fuse", str(wasm), "--component", "-o", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(src / "src")},
    )
    if p.returncode == 0:
        return None
    lines = (p.stderr or p.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit {p.returncode}"


def bench(
    name: str, wasm: Path, tmp: Path, runs: int, calls: int, baseline: Path | None = None
) -> Row:
    data = wasm.read_bytes()
    opts = CASES.get(name, CaseOpts())
    calls = max(1, calls // opts.calls_div)
    row = Row(name, calls=calls, orig_bytes=len(data))
    fused = tmp / f"{name}.fused.wasm"
    row.refusal = fuse_component(wasm, fused)
    if row.refusal is not None:
        return row
    fdata = fused.read_bytes()
    row.fused_bytes = len(fdata)
    variants = [("orig", data), ("fused", fdata)]
    if baseline is not None:
        based = tmp / f"{name}.base.wasm"
        row.base_refusal = fuse_with(baseline, wasm, based)
        if row.base_refusal is None:
            variants.append(("base", based.read_bytes()))
    floor = FLOORS / f"{name}.wat"
    if floor.exists():
        variants.append(("floor", parse_wat(floor, tmp / f"{name}.floor.wasm").read_bytes()))
    engine = concurrent_engine() if opts.concurrent else wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = Linker(engine)
    runners = {}
    for label, blob in variants:
        comp, ms = compile_ms(engine, blob)
        if label == "orig":
            row.orig_compile_ms = ms
        elif label == "fused":
            row.fused_compile_ms = ms
        func = linker.instantiate(store, comp).get_func(store, "run")
        assert func is not None, "no `run` export"
        runners[label] = _runner(func, opts.concurrent)
    for n in (0, 1, 7, 1000):
        got = {label: run(store, n) for label, run in runners.items()}
        if len(set(got.values())) != 1:
            raise AssertionError(f"{name}: run({n}) differs: {got}")
    times: dict[str, list[float]] = {label: [] for label in runners}
    order = list(runners)
    for label in order[1:]:  # warm-up (every contender: a case's state may count the calls)
        runners[label](store, calls)
    t0 = time.perf_counter()
    runners["orig"](store, calls)  # and how long a round takes
    row.rounds = rounds = min(
        runs * 10, max(runs, math.ceil(ROUND_SECONDS / (time.perf_counter() - t0)))
    )
    for r in range(rounds):
        results = []
        for label in order[r % len(order) :] + order[: r % len(order)]:  # rotate who goes first
            t0 = time.perf_counter()
            results.append(runners[label](store, calls))
            times[label].append(time.perf_counter() - t0)
        if len(set(results)) != 1:
            raise AssertionError(f"{name}: run({calls}) checksums differ: {results}")
        row.checksum = results[0]
    to, tf = times["orig"], times["fused"]
    row.orig_ms, row.fused_ms = statistics.median(to) * 1e3, statistics.median(tf) * 1e3
    row.ratio = row.fused_ms / row.orig_ms
    row.orig_min_ms, row.fused_min_ms = min(to) * 1e3, min(tf) * 1e3
    row.min_ratio = row.fused_min_ms / row.orig_min_ms
    if "base" in times:
        row.base_ms = statistics.median(times["base"]) * 1e3
        row.base_ratio = row.base_ms / row.orig_ms
        row.base_min_ratio = min(times["base"]) * 1e3 / row.orig_min_ms
    if "floor" in times:
        row.floor_ms = statistics.median(times["floor"]) * 1e3
        row.floor_ratio = row.floor_ms / row.orig_ms
        row.above_floor_ns = (row.fused_ms - row.floor_ms) * 1e6 / calls
    return row


def verdict(median: float, fastest: float, target: float) -> str:
    """``stretch`` / ``ok`` when both ratios meet that goal, ``over`` when the median misses
    the goal, ``over-min`` when only the fastest run's ratio does."""
    if max(median, fastest) <= STRETCH:
        return "stretch"
    if max(median, fastest) <= target:
        return "ok"
    return "over" if median > target else "over-min"


def _runner(func: Func, concurrent: bool) -> Callable[[wasmtime.Store, int], int]:
    if not concurrent:
        return func  # type: ignore[return-value]
    return lambda store, n: call_concurrent(func, store, n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=11)
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--target", type=float, default=TARGET)
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--baseline",
        type=Path,
        metavar="TREE",
        help="also time the output of the pymeld sources in TREE/src (e.g. a `git worktree` "
        "of main), interleaved in the same runs: before/after from one run",
    )
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
        f"goal: fused/orig <= {args.target:.2f}x (stretch <= {STRETCH:.1f}x), checked on the median "
        f"and on the fastest run (min); floor: benchmarks/floors/CASE.wat, no checks at all"
    )
    print(
        f"{'case':<18} {'calls':>7} {'rounds':>6} {'orig ms':>8} {'fused ms':>9} {'fused/orig':>10} "
        f"{'(min)':>6} {'goal':>7} {'floor/orig':>10} {'+ns/call':>8} {'compile o/f ms':>15} "
        f"{'bytes o/f':>12}  checksum"
    )
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for name, wasm in build_cases(files, tmp):
            row = bench(name, wasm, tmp, args.runs, args.calls, args.baseline)
            rows.append(row)
            if row.refusal:
                reason = row.refusal.removeprefix("pymeld: error: ")
                print(f"{name:<18} {row.calls:>7}  refused: {reason}", flush=True)
                continue
            assert row.ratio is not None and row.min_ratio is not None
            floor = "-" if row.floor_ratio is None else f"{row.floor_ratio:.2f}x"
            above = "-" if row.above_floor_ns is None else f"{row.above_floor_ns:.1f}"
            print(
                f"{name:<18} {row.calls:>7} {row.rounds:>6} {row.orig_ms:>8.1f} {row.fused_ms:>9.1f} "
                f"{row.ratio:>9.2f}x {row.min_ratio:>5.2f}x "
                f"{verdict(row.ratio, row.min_ratio, args.target):>7} {floor:>10} {above:>8} "
                f"{row.orig_compile_ms:>7.1f}/{row.fused_compile_ms:<7.1f} "
                f"{row.orig_bytes:>5}/{row.fused_bytes:<6}  {row.checksum}",
                flush=True,
            )
            if row.base_ratio is not None:
                assert row.base_ms is not None and row.base_min_ratio is not None
                print(
                    f"{'  baseline':<18} {'':>7} {'':>6} {'':>8} {row.base_ms:>9.1f} "
                    f"{row.base_ratio:>9.2f}x {row.base_min_ratio:>5.2f}x "
                    f"{verdict(row.base_ratio, row.base_min_ratio, args.target):>7}",
                    flush=True,
                )
            elif row.base_refusal is not None:
                print(f"{'  baseline':<18} refused: {row.base_refusal}", flush=True)
    misses = [r for r in rows if r.refusal or (r.ratio or 0) > args.target]
    worst = max((r.ratio for r in rows if r.ratio is not None), default=float("nan"))
    worst_min = max((r.min_ratio for r in rows if r.min_ratio is not None), default=float("nan"))
    print(
        f"worst fused/original: {worst:.2f}x median, {worst_min:.2f}x min (goal <= "
        f"{args.target:.2f}x, stretch <= {STRETCH:.1f}x; {args.calls} calls, {args.runs} rounds)"
    )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
