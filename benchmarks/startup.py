"""Start-up: the whole `pymeld` process on small inputs beside `python -c pass` and `wasm-tools
validate` of the same file, measured in the same run (issue 12: small inputs <= 60 ms).

```
.venv/bin/python benchmarks/startup.py [--runs 15] [--baseline TREE] [FILE ...]
```

Rows: `pymeld fuse FILE -o OUT` for each small input (the calculator, c-compose-text,
jco-utf8-utf16, whose 238 kB of DWARF are remapped, and jco-stdio, by default), each also with `--component`
(the output wrapped as a component), then `pymeld inspect FILE`,
`pymeld --help` and `pymeld --version`, and the references. The commands run in rounds, each
round every command once in turn (A B C ... A B C ...), so a drifting machine slows all of
them alike; medians of wall time and of CPU time (user + sys of the process). `--baseline
TREE` also runs every pymeld command with the sources in `TREE/src` (e.g. `git worktree add
--detach /tmp/base main`) in the same rounds: before/after
from one run, with after/before per row. The 60 ms goal is for `fuse` rows (wall; CPU beside it,
steadier on a loaded machine, which makes waiting for a core part of wall time).

pymeld runs as an installed wheel runs: with compiled bytecode (`PYTHONDONTWRITEBYTECODE` removed
from its environment, one untimed warm-up run of each command). Its sources are put first on
`PYTHONPATH`, so the rows are this tree's (or TREE's) whichever editable install the venv holds.
The output file is written atomically with `fsync`, which on a slow disk adds wall time and no
CPU. Where a run's time goes: `python -X importtime -m pymeld fuse FILE -o OUT` (imports) and
`python -m cProfile -m pymeld ...` (the rest).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_support import REPO, shared_root, tool

GOAL_S = 0.060
FILES = [
    "corpus/components/repo-prebuilt/calculator.composed.wasm",
    "corpus/components/c-compose-text/composed.wasm",
    # a small input carrying DWARF (a debug build): `--dwarf remap`, the default, rewrites it
    "corpus/components/repo-prebuilt/jco-utf8-utf16.composed.wasm",
    # the largest small input without DWARF (148 kB, 17 components, 528 functions)
    "corpus/components/repo-prebuilt/jco-stdio.composed.wasm",
]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of one whole process; CPU from its own resource usage (`wait4`), which
    counts microseconds where `os.times` counts clock ticks."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{' '.join(argv)}: exit {p.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=15)
    ap.add_argument("--baseline", type=Path, help="a tree whose src/ is the 'before' pymeld")
    ap.add_argument("files", nargs="*", type=Path)
    args = ap.parse_args()
    files = args.files or [shared_root() / f for f in FILES]
    pymeld, validate = tool("pymeld"), tool("wasm-tools")
    python = sys.executable
    trees = {"after": REPO} | ({"before": args.baseline.resolve()} if args.baseline else {})
    envs = {k: ENV | {"PYTHONPATH": str(t / "src")} for k, t in trees.items()}
    with tempfile.TemporaryDirectory() as tmp:
        # (row label, argv, is a fuse row); pymeld rows run once per tree
        rows: list[tuple[str, list[str], bool]] = []
        for f in files:
            out = str(Path(tmp) / f"{f.parent.name}-{f.stem}.wasm")
            fuse = [pymeld, "fuse", str(f), "-o", out]
            rows.append((f"fuse {f.parent.name}/{f.name}", fuse, True))
            # the same fusion wrapped as a component (most outputs a user keeps are)
            rows.append(
                (f"fuse {f.parent.name}/{f.name} --component", [*fuse, "--component"], True)
            )
        rows.append((f"inspect {files[0].name}", [pymeld, "inspect", str(files[0])], False))
        rows.append(("--help", [pymeld, "--help"], False))
        rows.append(("--version", [pymeld, "--version"], False))
        refs = [("python -c pass", [python, "-c", "pass"])]
        refs += [(f"wasm-tools validate {f.name}", [validate, "validate", str(f)]) for f in files]
        jobs = [(label, tree, argv, envs[tree]) for label, argv, _ in rows for tree in trees]
        jobs += [(label, "", argv, ENV) for label, argv in refs]
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _label, _tree, argv, env in jobs:  # warm-up: bytecode written, caches filled
            _run(argv, env)
        for _ in range(args.runs):
            for label, tree, argv, env in jobs:
                wall, cpu = _run(argv, env)
                times.setdefault((label, tree), []).append((wall, cpu))

    def med(label: str, tree: str) -> tuple[float, float]:
        runs = times[label, tree]
        return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)

    print(f"whole processes, {args.runs} rounds, medians, ms (wall / cpu); goal: fuse <= 60 ms")
    width = max(
        len(x) for x in [f"pymeld {r[0]}" for r in rows] + [f"{r[0]} (reference)" for r in refs]
    )
    head = f"{'command':<{width}} {'after':>13}"
    if args.baseline:
        head += f" {'before':>13} {'after/before':>13}"
    print(head + "  goal")
    over = 0
    for label, _, is_fuse in rows:
        w, c = med(label, "after")
        line = f"{'pymeld ' + label:<{width}} {w * 1e3:>6.1f}/{c * 1e3:<6.1f}"
        if args.baseline:
            bw, bc = med(label, "before")
            line += f" {bw * 1e3:>6.1f}/{bc * 1e3:<6.1f} {w / bw:>6.2f}/{c / bc:<6.2f}"
        if is_fuse:
            ok = w <= GOAL_S
            over += not ok
            line += f"  <= {GOAL_S * 1e3:.0f} ms: {'met' if ok else 'over'}"
            line += f" (cpu {'met' if c <= GOAL_S else 'over'})"
        print(line)
    for label, _ in refs:
        w, c = med(label, "")
        print(f"{label + ' (reference)':<{width}} {w * 1e3:>6.1f}/{c * 1e3:<6.1f}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
