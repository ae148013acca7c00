"""The largest resource composition in the corpus, through its recorded call oracle.

py-compose-rich: two componentize-py components; the consumer constructs the provider's
`counter`, borrows and moves it, and exports `accumulator` (owning an imported resource); both
instances hold WASI handles (streams, pollables), so every instance keeps its own in-module
table and handles are translated at every host call and root export.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_py_compose_rich(
    corpus_components: Path, harness_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    case = corpus_components / "py-compose-rich"
    out = tmp_path / "fused.wasm"
    subprocess.run(
        [*pymeld, "fuse", str(case / "composed.wasm"), "--component", "-o", str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    r = subprocess.run(
        [sys.executable, str(harness_py), "check", str(case / "expected.json"), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0 and " 0 failed" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]
