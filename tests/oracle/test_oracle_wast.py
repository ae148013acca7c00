"""Differential wast oracle: every corpus ``.wast`` run on original vs transformed binaries.

Runs ``<shared>/tools/oracle.py`` once per transform (see ``oracle_transforms.py``) with
``-j 2`` and a JSON report, prints a per-file table plus totals in the run summary, and fails on
any ``diverged`` or ``transform-failed`` file. ``original-failed`` (the original itself is not
runnable under wasmtime-py: unsupported feature, async export, ...) and ``skipped`` (no
components) are reported with their reasons but are not our failures.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import oracle_transforms
import pytest

STATUSES = ("equivalent", "diverged", "transform-failed", "original-failed", "skipped")
JOBS = 2
COMMAND_TIMEOUT_S = 10  # per wast command (epoch deadline inside the oracle)
FILE_TIMEOUT_S = 240  # per .wast file, wall clock: one hung file cannot stall the suite


def render(report: dict, root: Path, elapsed: float) -> str:
    files: dict[str, dict] = report["files"]
    rows = []
    for path in sorted(files):
        r = files[path]
        rel = str(Path(path).resolve().relative_to(root)) if path else path
        counts = r.get("counts") or {}
        n = counts.get("compared", 0)
        reason = " ".join(str(r.get("reason", "")).split())
        if len(reason) > 110:
            reason = reason[:107] + "..."
        rows.append(f"{r['status']:<16} {n:>4}  {rel}  {reason}")
        for key in ("transform_failures",):
            for tf in (r.get(key) or [])[:3]:
                rows.append(f"{'':<22}transform failure: {' '.join(str(tf).split())[:150]}")
    tally = Counter(r["status"] for r in files.values())
    totals = ", ".join(f"{tally.get(s, 0)} {s}" for s in STATUSES)
    head = f"{'status':<16} {'cmp':>4}  file (relative to the wast corpus)  reason"
    return "\n".join([head, *rows, f"TOTAL {len(files)} files: {totals}  [{elapsed:.0f} s]"])


@pytest.mark.parametrize("transform", oracle_transforms.selected())
def test_wast_oracle(
    transform: str, oracle_py: Path, wast_dir: Path, tmp_path: Path, report
) -> None:
    out = tmp_path / "oracle.json"
    cmd = [
        sys.executable,
        str(oracle_py),
        "--transform",
        oracle_transforms.command(transform),
        "-j",
        str(JOBS),
        "--timeout",
        str(COMMAND_TIMEOUT_S),
        "--file-timeout",
        str(FILE_TIMEOUT_S),
        "--json",
        str(out),
        str(wast_dir),
    ]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    assert out.exists(), f"oracle wrote no report (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    data = json.loads(out.read_text())
    table = render(data, wast_dir.resolve(), elapsed)
    report(f"wast oracle, transform {transform!r}: {oracle_transforms.command(transform)}", table)

    def refused(r: dict) -> bool:
        failures = r.get("transform_failures") or [{"error": r.get("reason", "")}]
        return transform in oracle_transforms.MAY_REFUSE and all(
            oracle_transforms.is_named_refusal(str(f.get("error", ""))) for f in failures
        )

    known = oracle_transforms.KNOWN_DIVERGENT.get(transform, {})

    def rel(p: str) -> str:
        return str(Path(p).resolve().relative_to(wast_dir.resolve()))

    bad = {
        p: r
        for p, r in data["files"].items()
        if rel(p) not in known
        and (r["status"] == "diverged" or (r["status"] == "transform-failed" and not refused(r)))
    }
    fixed = [
        rel(p) for p, r in data["files"].items() if rel(p) in known and r["status"] == "equivalent"
    ]
    assert not fixed, f"known divergences now pass, remove them from KNOWN_DIVERGENT: {fixed}"
    assert not bad, f"{len(bad)} file(s) diverged or failed to transform:\n{table}"
    assert data["counts"]["equivalent"] > 0, f"nothing was compared:\n{table}"
    if transform not in oracle_transforms.MAY_REFUSE:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
