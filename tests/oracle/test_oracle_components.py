"""Real-toolchain components: replay recorded calls on the transformed component.

For every ``expected*.json`` (the corpus' and ``examples/``'s), transform the component it names
(``harness.py`` finds the original as ``<dir of expected.json>/<"component">``) and run
``harness.py check expected.json TRANSFORMED.wasm``: same values, same traps, same stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import oracle_transforms
import pytest

from conftest import REPO, shared_root

TRANSFORM_TIMEOUT_S = 600  # the 36.7 MB python composition is the slow one
CHECK_TIMEOUT_S = 300


def expected_files() -> list[Path]:
    comps = shared_root() / "corpus" / "components"
    return sorted(comps.rglob("expected*.json")) + sorted(
        (REPO / "examples").glob("*.expected.json")
    )


def case_id(p: Path) -> str:
    return f"{p.parent.name}/{p.name}"


@pytest.mark.parametrize("transform", oracle_transforms.selected())
@pytest.mark.parametrize("expected", expected_files(), ids=case_id)
def test_component_harness(
    transform: str, expected: Path, harness_py: Path, tmp_path: Path, report
) -> None:
    spec = json.loads(expected.read_text())
    original = expected.parent / spec["component"]
    transformed = tmp_path / f"{transform}.wasm"

    t0 = time.monotonic()
    argv = oracle_transforms.argv(transform, str(original), str(transformed))
    xf = subprocess.run(argv, capture_output=True, text=True, timeout=TRANSFORM_TIMEOUT_S)
    t_xf = time.monotonic() - t0
    assert xf.returncode == 0 and transformed.exists(), (
        f"transform failed (exit {xf.returncode}): {xf.stderr.strip()[-2000:]}"
    )

    t0 = time.monotonic()
    check = subprocess.run(
        [sys.executable, str(harness_py), "check", str(expected), str(transformed)],
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_S,
    )
    t_check = time.monotonic() - t0
    lines = check.stdout.strip().splitlines()
    summary = lines[-1] if lines else f"no output; stderr: {check.stderr.strip()[-300:]}"
    report(
        f"harness {transform} {case_id(expected)}",
        f"{summary}  [{original.stat().st_size / 1e6:.2f} MB, transform {t_xf:.1f} s, "
        f"check {t_check:.1f} s]",
    )
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    assert summary.endswith(" 0 failed"), summary
