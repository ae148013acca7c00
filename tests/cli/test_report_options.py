"""`fuse --emit-import-map PATH` and `fuse --explain` (meld's reporting flags)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from support import run_cli

C_COMPOSE = "c-compose-text/composed.wasm"


def test_import_map_lists_what_the_host_must_provide(
    capsys: pytest.CaptureFixture[str], corpus_components: Path, tmp_path: Path
) -> None:
    out, imap = tmp_path / "out.wasm", tmp_path / "imports.json"
    code, _, err = run_cli(
        capsys, "fuse", str(corpus_components / C_COMPOSE), "-o", str(out),
        "--emit-import-map", str(imap),
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(imap.read_text())
    assert doc["version"] == 2
    entries = doc["imports"]
    assert [e["index"] for e in entries] == list(range(len(entries)))
    kinds = {e["kind"] for e in entries}
    assert kinds == {"wasi", "resource"}
    stdout = next(e for e in entries if e["name"] == "get-stdout")
    assert stdout["module"].startswith("wasi:cli/stdout@") and stdout["results"] == ["i32"]
    assert all(e["name"].startswith("[resource-drop]") for e in entries if e["kind"] == "resource")


def test_import_map_of_a_self_contained_composition_is_empty(
    capsys: pytest.CaptureFixture[str], example_wasm: Path, tmp_path: Path
) -> None:
    imap = tmp_path / "imports.json"
    code, _, err = run_cli(
        capsys, "fuse", str(example_wasm), "-o", str(tmp_path / "o.wasm"),
        "--emit-import-map", str(imap),
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(imap.read_text()) == {"version": 2, "imports": []}


def test_explain_names_each_boundary_and_memory(
    capsys: pytest.CaptureFixture[str], corpus_components: Path, tmp_path: Path
) -> None:
    src = str(corpus_components / C_COMPOSE)
    code, _, err = run_cli(capsys, "fuse", src, "-o", str(tmp_path / "o.wasm"), "--explain")
    assert code == 0
    adapters = [line for line in err.splitlines() if line.startswith("adapter func")]
    assert len(adapters) == 8
    assert all("strings/lists copied between memories" in line for line in adapters)
    assert sum("return pointer" in line for line in adapters) == 5
    assert "memory 1: root/instance15/core3 memory 0" in err
    code, _, quiet = run_cli(capsys, "fuse", src, "-o", str(tmp_path / "o.wasm"))
    assert code == 0 and "adapter func" not in quiet


def test_inspect_interfaces_and_types(
    capsys: pytest.CaptureFixture[str], corpus_components: Path
) -> None:
    src = str(corpus_components / C_COMPOSE)
    code, out, _ = run_cli(capsys, "inspect", src, "--interfaces")
    assert code == 0
    lines = out.splitlines()
    assert "export instance corpus:cmini/report@0.1.0" in lines
    assert any(line.startswith("import instance wasi:cli/stdout@") for line in lines)
    assert not any(line.startswith("core module") for line in lines)
    code, out, _ = run_cli(capsys, "inspect", src, "--types")
    assert code == 0
    counts = out.splitlines()
    assert len(counts) == 6 and all(line.startswith("core module ") for line in counts)


def test_explain_names_the_function_and_the_components(
    capsys: pytest.CaptureFixture[str], corpus_components: Path, tmp_path: Path
) -> None:
    """As meld does: the function each adapter carries, and components by what they provide."""
    src = str(corpus_components / C_COMPOSE)
    code, _, err = run_cli(capsys, "fuse", src, "-o", str(tmp_path / "o.wasm"), "--explain")
    assert code == 0
    first = err.splitlines()[0]
    assert re.match(r"adapter func \d+ corpus:cmini/text@0\.1\.0#analyze: ", first), first
    assert (
        "root/instance15 (corpus:cmini/report@0.1.0) -> root/instance13 (corpus:cmini/text@0.1.0)"
        in first
    )
