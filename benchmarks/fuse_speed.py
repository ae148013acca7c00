"""Fusion speed: `pymeld fuse` beside `wasm-tools validate` (and `meld fuse`) on the same input.

Each command runs as a whole process, alternately, several times; the table gives medians and
the ratio pymeld/validate measured in this run (absolute times on shared machines drift), with
the goal beside each figure:

* inputs over 1 MB (py-compose-rich, 36.7 MB, 28 core modules): pymeld/validate <= 10x;
* small inputs (calculator, c-compose-text, ...): the whole `pymeld fuse X -o OUT` process
  <= 60 ms, start-up and imports included (`python -X importtime` says where start-up goes).
  Large inputs are fused with `--component`, small ones to a core module (as `meld fuse`).

Wall time includes waiting for a core on a loaded machine; the CPU column (user + sys of the
process and its workers) is steadier there, and the goal column also gives the ratio of CPU
times (`wasm-tools validate` checks function bodies on all cores: its CPU includes every thread).

``--baseline TREE`` also times the pymeld sources of another tree (``TREE/src``, e.g. ``git
worktree add /tmp/base main``) in the same rounds, both run as ``python -m pymeld``: before and
after from one run, each with its ratio to validate.

pymeld runs as an installed wheel would: with compiled bytecode. ``PYTHONDONTWRITEBYTECODE`` is
removed from its environment and each input gets one untimed warm-up run, so an editable
install does not recompile every module at each start. The floor of a small input, the
interpreter starting and importing argparse (its command-line parser), is measured in the same
run and printed last.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared"
BIN = Path(sys.executable).parent
CASES = [
    "corpus/components/py-compose-rich/composed.wasm",
    "corpus/components/py-compose-rich/provider.wasm",
    "corpus/components/c-compose-text/composed.wasm",
    "corpus/components/repo-prebuilt/jco-utf8-utf16.composed.wasm",
    "corpus/components/repo-prebuilt/calculator.composed.wasm",
]
TARGET = 10.0  # pymeld / validate, inputs over SMALL bytes
SMALL = 1_000_000
SMALL_GOAL_S = 0.060  # whole process, small inputs


#: As an installed wheel runs: bytecode written once and then read (see the module doc).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _time(argv: list[str]) -> tuple[float, int, str, float]:
    """(wall s, exit code, message tail, CPU s of the child and its workers)."""
    before = os.times()
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, p.returncode, (p.stderr or p.stdout).strip()[-200:], cpu


def _tool(name: str) -> str | None:
    local = BIN / name
    return str(local) if local.exists() else shutil.which(name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", "--runs", type=int, default=5)
    ap.add_argument("--baseline", type=Path, metavar="TREE", help="also time TREE/src's pymeld")
    ap.add_argument("files", nargs="*", type=Path)
    args = ap.parse_args()
    files = args.files or [SHARED / c for c in CASES]
    pymeld, validate, meld = _tool("pymeld"), _tool("wasm-tools"), _tool("meld")
    if pymeld is None or validate is None:
        print("needs pymeld and wasm-tools on PATH (make venv-test)")
        return 2
    base: list[str] | None = None
    if args.baseline is not None:  # both trees started the same way
        pymeld_argv = [str(BIN / "python"), "-m", "pymeld"]
        base = ["env", f"PYTHONPATH={args.baseline.resolve() / 'src'}", *pymeld_argv]
    else:
        pymeld_argv = [pymeld]
    misses = 0
    print(
        f"{'input':<42} {'MB in':>7} {'MB out':>7} {'pymeld s':>9} {'cpu s':>7} "
        f"{'validate s':>10} {'ratio':>7} {'meld s':>8}  goal"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wasm"
        for f in files:
            ours, cpus, theirs, their_cpus, melds = [], [], [], [], []
            note = ""
            # small inputs as the start-up goal was stated (`pymeld fuse X`, like `meld fuse`)
            wrap = ["--component"] if f.stat().st_size > SMALL else []
            argv = ["-q", "fuse", str(f), *wrap, "-o", str(out)]
            bases: list[tuple[float, float]] = []
            _time([*pymeld_argv, *argv])  # warm-up: bytecode
            if base is not None:
                _time([*base, *argv])
            for _ in range(args.runs):
                t, rc, err, cpu = _time([*pymeld_argv, *argv])
                if rc != 0:
                    note = err.splitlines()[-1] if err else f"exit {rc}"
                    break
                ours.append(t)
                cpus.append(cpu)
                if base is not None:
                    bt, brc, _, bcpu = _time([*base, *argv])
                    bases.append((bt, bcpu) if brc == 0 else (float("nan"), float("nan")))
                vt, _, _, vcpu = _time([validate, "validate", str(f)])
                theirs.append(vt)
                their_cpus.append(vcpu)
                if meld:
                    mt, mrc, _, _ = _time([meld, "fuse", str(f), "-o", str(Path(tmp) / "m.wasm")])
                    melds.append(mt if mrc == 0 else float("nan"))
            f = f.resolve()
            name = str(f.relative_to(SHARED)) if f.is_relative_to(SHARED) else str(f)
            name = name.replace("corpus/components/", "")
            size = f.stat().st_size
            if note:
                print(
                    f"{name:<42} {size / 1e6:>7.2f} {'-':>7} {'-':>9} {'-':>7} {'-':>10} "
                    f"{'-':>7} {'-':>8}  not fused: {note[:100]}"
                )
                misses += 1
                continue
            o, c, v = statistics.median(ours), statistics.median(cpus), statistics.median(theirs)
            vc = statistics.median(their_cpus)
            m = statistics.median(melds) if melds else float("nan")
            ratio = o / v
            if size > SMALL:
                ok = ratio <= TARGET
                goal = f"ratio <= {TARGET:.0f}x (cpu {c / vc if vc else float('nan'):.1f}x)"
            else:
                ok = o <= SMALL_GOAL_S
                goal = f"pymeld <= {SMALL_GOAL_S * 1e3:.0f} ms (cpu {c * 1e3:.0f} ms)"
            misses += not ok
            meld_s = "refused" if melds and m != m else (f"{m:.2f}" if melds else "n/a")
            print(
                f"{name:<42} {size / 1e6:>7.2f} {out.stat().st_size / 1e6:>7.2f} {o:>9.3f} "
                f"{c:>7.3f} {v:>10.3f} {ratio:>6.1f}x {meld_s:>8}  {goal}"
                + ("" if ok else "  over goal"),
                flush=True,
            )
            if bases:
                bo = statistics.median(b[0] for b in bases)
                bc = statistics.median(b[1] for b in bases)
                print(
                    f"{'  baseline':<42} {'':>7} {'':>7} {bo:>9.3f} {bc:>7.3f} {'':>10} "
                    f"{bo / v:>6.1f}x {'':>8}  (cpu {bc / vc if vc else float('nan'):.1f}x); "
                    f"after/before: wall {o / bo:.2f}x, cpu {c / bc:.2f}x",
                    flush=True,
                )
    python = BIN / "python"
    for what, code in (("python", "pass"), ("python + import argparse", "import argparse")):
        runs = [_time([str(python), "-c", code]) for _ in range(args.runs + 1)][1:]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[3] for r in runs)
        print(f"start-up floor ({what}, not counted): {wall * 1e3:.0f} ms (cpu {cpu * 1e3:.0f} ms)")
    print(f"over goal: {misses}")
    return 0 if misses == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
