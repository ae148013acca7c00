"""`--no-simd`: the output has no vector instruction (an engine without SIMD accepts it) and
behaves as the default output, which does use vector code for UTF-8 validation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pymeld.emit.attestation import find_attestations
from pymeld.fuse import FuseOptions, fuse_bytes
from support import call_bench_run, pymeld_exe, require_wasm_tools, shared_root

pytest.importorskip("wasmtime")

BENCH = shared_root() / "corpus" / "bench" / "string-utf8.wasm"


def _valid_without_simd(path: Path) -> bool:
    r = subprocess.run(
        [require_wasm_tools(), "validate", "--features=-simd", str(path)],
        capture_output=True,
        text=True,
    )
    return r.returncode == 0


def test_no_simd_output_has_no_vector_code_and_behaves_the_same(tmp_path: Path) -> None:
    original = BENCH.read_bytes()
    default = fuse_bytes(original, options=FuseOptions(component=True)).output
    plain = fuse_bytes(original, options=FuseOptions(component=True, simd=False)).output
    (tmp_path / "default.wasm").write_bytes(default)
    (tmp_path / "plain.wasm").write_bytes(plain)
    # The default output does use SIMD here (so the check below can fail) ...
    assert not _valid_without_simd(tmp_path / "default.wasm")
    # ... --no-simd's does not.
    assert _valid_without_simd(tmp_path / "plain.wasm")
    for n in (0, 1, 7, 300):
        assert call_bench_run(plain, n) == call_bench_run(original, n) == call_bench_run(default, n)


def test_cli_flag_and_attestation(tmp_path: Path) -> None:
    out = tmp_path / "out.wasm"
    r = subprocess.run(
        [*pymeld_exe(), "fuse", str(BENCH), "--component", "--no-simd", "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert _valid_without_simd(out)
    (att,) = find_attestations(out.read_bytes())
    assert att.record is not None and att.record["options"]["simd"] is False
    default = fuse_bytes(BENCH.read_bytes(), options=FuseOptions(component=True)).output
    (att,) = find_attestations(default)
    assert att.record is not None and "simd" not in att.record["options"]
