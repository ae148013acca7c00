"""`--emit-import-map` writes meld's schema: compared with meld 0.65.1's own output.

meld's maps for four corpus inputs are kept in tests/data/meld-0.65.1 (and re-made here when
meld 0.65.1 is installed, so the files are known to be meld's). For every import both tools
leave, the fields meld defines must agree: kind, string encoding, which memory (by index) and
whether a realloc is passed, the resource object, and which imports belong to one component.
What may differ: import order (`index`), meld's component numbers and each tool's own export
names for memories and reallocs. The maps compared are those of fusions without a DWARF remap:
a remap gives the memory of the instance with DWARF index 0 (`pymeld.merge.layout`), which
renumbers the memories of jco-utf8-utf16 against meld's (instance order) — the last test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from pymeld.fuse import FuseOptions, fuse_bytes
from support import run_cli

DATA = Path(__file__).parent.parent / "data" / "meld-0.65.1"
INPUTS = {
    "c-compose-text.composed": "c-compose-text/composed.wasm",
    "jco-utf8-utf16.composed": "repo-prebuilt/jco-utf8-utf16.composed.wasm",
    "jco-resources.component": "repo-prebuilt/jco-resources.component.wasm",
    "jco-strings.component": "repo-prebuilt/jco-strings.component.wasm",
}
MELD_KEYS = {"index", "kind", "module", "name", "component", "memory", "realloc", "encoding"}
RESOURCE_KEYS = ("interface", "resource", "operation", "definer", "dtor_export")


def _groups(entries: list[dict[str, object]]) -> set[frozenset[tuple[object, object]]]:
    by: dict[object, set[tuple[object, object]]] = defaultdict(set)
    for e in entries:
        by[e["component"]].add((e["module"], e["name"]))
    return {frozenset(v) for v in by.values()}


@pytest.mark.parametrize("case", sorted(INPUTS))
def test_import_map_agrees_with_meld(case: str, corpus_components: Path, tmp_path: Path) -> None:
    meld = json.loads((DATA / f"{case}.import-map.json").read_text())
    data = (corpus_components / INPUTS[case]).read_bytes()
    ours = fuse_bytes(data, options=FuseOptions(dwarf="strip")).import_map
    assert ours["version"] == meld["version"] == 2
    entries: list[dict[str, object]] = ours["imports"]  # type: ignore[assignment]
    assert all(set(e) >= MELD_KEYS for e in entries)
    assert [e["index"] for e in entries] == list(range(len(entries)))
    m = {(e["module"], e["name"]): e for e in meld["imports"]}
    o = {(e["module"], e["name"]): e for e in entries}
    assert set(o) == set(m)
    for key, want in m.items():
        got = o[key]
        assert got["kind"] == want["kind"], key
        assert got["encoding"] == want["encoding"], key
        assert (got["memory"] or {}).get("index") == (want["memory"] or {}).get("index"), key  # type: ignore[union-attr]
        assert (got["realloc"] is None) == (want["realloc"] is None), key
        if "resource" in want:
            mine = got["resource"]
            assert isinstance(mine, dict)
            assert {k: mine[k] for k in RESOURCE_KEYS} == {
                k: want["resource"][k] for k in RESOURCE_KEYS
            }, key
        else:
            assert "resource" not in got, key
    assert _groups(entries) == _groups(meld["imports"])


def test_cli_writes_the_same_map(
    capsys: pytest.CaptureFixture[str], corpus_components: Path, tmp_path: Path
) -> None:
    src = corpus_components / INPUTS["jco-strings.component"]
    imap = tmp_path / "map.json"
    code, _, err = run_cli(
        capsys, "fuse", str(src), "-o", str(tmp_path / "o.wasm"), "--emit-import-map", str(imap)
    )
    assert code == 0, err
    assert json.loads(imap.read_text()) == fuse_bytes(src.read_bytes()).import_map


def _meld_0_65_1() -> str | None:
    exe = shutil.which("meld")
    if exe is None:
        venv = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "meld"
        exe = str(venv) if venv.exists() else None
    if exe is None:
        return None
    p = subprocess.run([exe, "--version"], capture_output=True, text=True)
    return exe if p.returncode == 0 and p.stdout.split()[-1] == "0.65.1" else None


@pytest.mark.parametrize("case", sorted(INPUTS))
def test_reference_files_are_melds_output(
    case: str, corpus_components: Path, tmp_path: Path
) -> None:
    exe = _meld_0_65_1()
    if exe is None:
        pytest.skip("meld 0.65.1 not installed (pip install meld-cli==0.65.1, the bench extra)")
    imap = tmp_path / "map.json"
    p = subprocess.run(
        [exe, "fuse", str(corpus_components / INPUTS[case]), "-o", str(tmp_path / "m.wasm"),
         "--emit-import-map", str(imap)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-1000:]
    assert json.loads(imap.read_text()) == json.loads(
        (DATA / f"{case}.import-map.json").read_text()
    )


def test_a_dwarf_remap_renumbers_only_the_memories(corpus_components: Path) -> None:
    """jco-utf8-utf16 with its DWARF remapped (the default): the same imports, each with
    what meld's map says but the memory index, which is 0 for the instance with DWARF's
    memory (meld's 1) and one more for the memories that were before it."""
    meld = json.loads((DATA / "jco-utf8-utf16.composed.import-map.json").read_text())
    data = (corpus_components / INPUTS["jco-utf8-utf16.composed"]).read_bytes()
    ours = fuse_bytes(data).import_map
    m = {(e["module"], e["name"]): e for e in meld["imports"]}
    o = {(e["module"], e["name"]): e for e in ours["imports"]}  # type: ignore[attr-defined]
    assert set(o) == set(m)
    renumbered = {0: 1, 1: 0}  # meld's index -> ours
    moved = 0
    for key, want in m.items():
        got = o[key]
        assert (got["kind"], got["encoding"]) == (want["kind"], want["encoding"]), key
        if want["memory"] is None:
            assert got["memory"] is None, key
            continue
        index = want["memory"]["index"]
        assert got["memory"]["index"] == renumbered.get(index, index), key
        moved += index in renumbered
    assert moved
