"""Real-toolchain components: replay recorded calls on the transformed component.

For every ``expected*.json`` (the corpus' and ``examples/``'s), transform the component it names
(``harness.py`` finds the original as ``<dir of expected.json>/<"component">``) and run
``harness.py check expected.json TRANSFORMED.wasm``: same values, same traps, same stdout.
One test per transform, cases two at a time, one table with totals in the run summary.
A case whose *original* no longer replays (wasmtime-py drift, missing host) is reported as
``original-failed`` with the reason and does not fail the test; anything else must pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import oracle_transforms
import pytest

from support import REPO, shared_root

TRANSFORM_TIMEOUT_S = 600  # the 36.7 MB python composition is the slow one
CHECK_TIMEOUT_S = 300


def expected_files() -> list[Path]:
    comps = shared_root() / "corpus" / "components"
    return sorted(comps.rglob("expected*.json")) + sorted(
        (REPO / "examples").glob("*.expected.json")
    )


@dataclass
class Case:
    expected: Path
    status: str = "?"
    summary: str = ""
    reason: str = ""
    size: int = 0
    t_transform: float = 0.0
    t_check: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.expected.parent.name}/{self.expected.name}"


def _check(harness: Path, expected: Path, wasm: Path | None) -> tuple[bool, str, str]:
    argv = [sys.executable, str(harness), "check", str(expected)] + ([str(wasm)] if wasm else [])
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, "timeout", f"harness check exceeded {CHECK_TIMEOUT_S} s"
    lines = p.stdout.strip().splitlines()
    summary = lines[-1] if lines and lines[-1].endswith(" failed") else "no summary"
    ok = p.returncode == 0 and summary.endswith(" 0 failed")
    detail = " | ".join(ln for ln in lines if ln.startswith("MISMATCH"))[:400]
    return ok, summary, detail or " ".join(p.stderr.split()[-40:])


def run_case(case: Case, transform: str, harness: Path, workdir: Path) -> Case:
    spec = json.loads(case.expected.read_text())
    original = case.expected.parent / spec["component"]
    case.size = original.stat().st_size
    out = workdir / f"{case.expected.parent.name}-{case.expected.stem}.{transform}.wasm"
    t0 = time.monotonic()
    try:
        xf = subprocess.run(
            oracle_transforms.argv(transform, str(original), str(out)),
            capture_output=True,
            text=True,
            timeout=TRANSFORM_TIMEOUT_S,
        )
        failed = xf.returncode != 0 or not out.exists()
        why = " ".join(xf.stderr.split())[-300:] or f"exit {xf.returncode}, no output"
    except subprocess.TimeoutExpired:
        failed, why = True, f"timeout after {TRANSFORM_TIMEOUT_S} s"
    case.t_transform = time.monotonic() - t0
    if failed:
        refused = transform in oracle_transforms.MAY_REFUSE and oracle_transforms.is_named_refusal(
            xf.stderr if "xf" in locals() else ""
        )
        case.status, case.reason = ("unsupported" if refused else "transform-failed"), why
        return case
    t0 = time.monotonic()
    ok, case.summary, detail = _check(harness, case.expected, out)
    case.t_check = time.monotonic() - t0
    if ok:
        case.status = "passed"
        return case
    orig_ok, orig_summary, orig_detail = _check(harness, case.expected, None)
    if orig_ok:
        case.status, case.reason = "diverged", detail
    else:
        case.status = "original-failed"
        case.reason = f"the original itself no longer replays: {orig_summary}; {orig_detail}"
    return case


def render(cases: list[Case]) -> str:
    rows = [f"{'status':<16} {'MB':>6} {'transform':>9} {'check':>6}  {'case':<42} result / reason"]
    for c in cases:
        rows.append(
            f"{c.status:<16} {c.size / 1e6:>6.2f} {c.t_transform:>8.1f}s {c.t_check:>5.1f}s  "
            f"{c.name:<42} {c.summary}{'  ' + c.reason if c.reason else ''}"
        )
    tally = Counter(c.status for c in cases)
    statuses = ("passed", "diverged", "transform-failed", "unsupported", "original-failed")
    rows.append(f"TOTAL {len(cases)} cases: " + ", ".join(f"{tally[s]} {s}" for s in statuses))
    return "\n".join(rows)


@pytest.mark.parametrize("transform", oracle_transforms.selected())
def test_component_harness(transform: str, harness_py: Path, tmp_path: Path, report) -> None:
    cases = [Case(e) for e in expected_files()]
    assert cases, "no expected*.json found"
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda c: run_case(c, transform, harness_py, tmp_path), cases))
    table = render(done)
    report(f"component harness, transform {transform!r}", table)
    bad = [c for c in done if c.status in ("diverged", "transform-failed")]
    assert not bad, f"{len(bad)} case(s) failed:\n{table}"
    assert any(c.status == "passed" for c in done), table
