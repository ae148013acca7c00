"""Fusion speed: `pymeld fuse` beside `wasm-tools validate` (and `meld fuse`) on the same input.

Each command runs as a whole process, alternately, several times; the table gives medians and
the ratio pymeld/validate measured in this run (absolute times on shared machines drift). The
target for the largest real composition (py-compose-rich, 36.7 MB, 28 core modules) is <= 20x.
"""

from __future__ import annotations

import argparse
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
TARGET = 20.0


def _time(argv: list[str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True)
    return time.perf_counter() - t0, p.returncode, (p.stderr or p.stdout).strip()[-200:]


def _tool(name: str) -> str | None:
    local = BIN / name
    return str(local) if local.exists() else shutil.which(name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", "--runs", type=int, default=3)
    ap.add_argument("files", nargs="*", type=Path)
    args = ap.parse_args()
    files = args.files or [SHARED / c for c in CASES]
    pymeld, validate, meld = _tool("pymeld"), _tool("wasm-tools"), _tool("meld")
    if pymeld is None or validate is None:
        print("needs pymeld and wasm-tools on PATH (make venv-test)")
        return 2
    worst = 0.0
    print(
        f"{'input':<42} {'MB in':>7} {'MB out':>7} {'pymeld s':>9} {'validate s':>10} "
        f"{'ratio':>6} {'meld s':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wasm"
        for f in files:
            ours, theirs, melds = [], [], []
            note = ""
            for _ in range(args.runs):
                t, rc, err = _time([pymeld, "-q", "fuse", str(f), "--component", "-o", str(out)])
                if rc != 0:
                    note = err.splitlines()[-1] if err else f"exit {rc}"
                    break
                ours.append(t)
                theirs.append(_time([validate, "validate", str(f)])[0])
                if meld:
                    mt, mrc, _ = _time([meld, "fuse", str(f), "-o", str(Path(tmp) / "m.wasm")])
                    melds.append(mt if mrc == 0 else float("nan"))
            name = str(f.relative_to(SHARED)) if f.is_relative_to(SHARED) else str(f)
            name = name.replace("corpus/components/", "")
            mb_in = f.stat().st_size / 1e6
            if note:
                print(
                    f"{name:<42} {mb_in:>7.2f} {'-':>7} {'-':>9} {'-':>10} {'-':>6} {'-':>8}  "
                    f"not fused: {note[:100]}"
                )
                continue
            o, v = statistics.median(ours), statistics.median(theirs)
            m = statistics.median(melds) if melds else float("nan")
            ratio = o / v
            worst = max(worst, ratio)
            meld_s = "refused" if melds and m != m else (f"{m:.2f}" if melds else "n/a")
            print(
                f"{name:<42} {mb_in:>7.2f} {out.stat().st_size / 1e6:>7.2f} {o:>9.2f} "
                f"{v:>10.2f} {ratio:>5.1f}x {meld_s:>8}"
            )
    print(f"worst pymeld/validate ratio: {worst:.1f}x (target <= {TARGET:.0f}x)")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
