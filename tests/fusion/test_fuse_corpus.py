"""Fuse every valid corpus component; every output must validate, every refusal must be named.

For each component (the real toolchain ones and every valid `module`/`module_definition`
component of the corpus `.wast` files) this fuses to a core module and to a component and
checks, with wasmtime itself, that the core module validates with multi-memory on and that the
component compiles. An input pymeld cannot fuse must fail with `UnsupportedFeature` (a named
limitation); any other exception is a bug. The table of outcomes is printed in the summary.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import wasmtime
import wasmtime.component

from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from support import WAST_JSON, wast_commands


def _engine() -> wasmtime.Engine:
    cfg = wasmtime.Config()
    cfg.wasm_multi_memory = True
    cfg.wasm_component_model_map = True
    return wasmtime.Engine(cfg)


def valid_wast_components(wast_binaries: list[Path]) -> list[Path]:
    """Binaries of `module`/`module_definition` commands that are components."""
    out: list[Path] = []
    for cmd, p in wast_commands(wast_binaries):
        if cmd.get("type") not in ("module", "module_definition") or not p.exists():
            continue
        if p.read_bytes()[4:8] == b"\x0d\x00\x01\x00":
            out.append(p)
    return out


def _wast_name(p: Path) -> str:
    """`<wast file>:<binary>` for a json-from-wast output (its json names the source)."""
    js = p.parent / WAST_JSON
    src = json.loads(js.read_text()).get("source_filename", "?") if js.exists() else "?"
    return f"{Path(src).name}:{p.name}"


def _outcome(engine: wasmtime.Engine, data: bytes, name: str) -> str:
    try:
        core = fuse_bytes(data, file=name).output
    except UnsupportedFeature as e:
        return "unsupported: " + str(e).removeprefix("unsupported: ").split(" (")[0][:60]
    wasmtime.Module.validate(engine, core)  # raises on an invalid fused module
    try:
        comp = fuse_bytes(data, file=name, options=FuseOptions(component=True)).output
    except UnsupportedFeature as e:
        return "core only; wrap unsupported: " + str(e).removeprefix("unsupported: ")[:50]
    try:
        wasmtime.component.Component(engine, comp)
    except wasmtime.WasmtimeError as e:
        original_ok = True
        try:
            wasmtime.component.Component(engine, data)
        except wasmtime.WasmtimeError:
            original_ok = False
        if original_ok:
            raise AssertionError(f"{name}: wrapped output does not compile: {e}") from None
        return "fused (original itself does not compile in wasmtime-py)"
    return "fused"


def test_fuse_every_corpus_component(
    corpus_components: Path, wast_binaries: list[Path], shared: Path, report
) -> None:
    engine = _engine()
    inputs = [p for p in sorted(corpus_components.rglob("*.wasm"))]
    inputs += valid_wast_components(wast_binaries)
    tally: Counter[str] = Counter()
    failures: list[str] = []
    for p in inputs:
        data = p.read_bytes()
        if data[4:8] != b"\x0d\x00\x01\x00":
            continue
        name = str(p.relative_to(shared)) if p.is_relative_to(shared) else _wast_name(p)
        try:
            tally[_outcome(engine, data, name)] += 1
        except Exception as e:  # any other error is a bug: collect them all, then fail
            failures.append(f"{name}: {type(e).__name__}: {str(e)[:300]}")
    fused = sum(n for k, n in tally.items() if k.startswith("fused"))
    lines = [f"{n:>4}  {k}" for k, n in tally.most_common()]
    report(
        "fusion over the corpus (core output validated by wasmtime, component compiled)",
        "\n".join([*lines, f"{fused} fused of {sum(tally.values())} components"]),
    )
    assert not failures, "\n".join(failures[:30])
    assert fused >= 285, f"only {fused} components fused (289 when this was written)"


@pytest.mark.parametrize("flag", [False, True])
def test_fusion_is_deterministic(corpus_components: Path, flag: bool) -> None:
    data = (corpus_components / "c-compose-text" / "composed.wasm").read_bytes()
    a = fuse_bytes(data, options=FuseOptions(component=flag)).output
    b = fuse_bytes(data, options=FuseOptions(component=flag)).output
    assert a == b


def test_parallel_rewrite_gives_the_serial_bytes(
    corpus_components: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Body rewriting fans out to worker processes on big inputs; the output must not change."""
    from pymeld.merge import bodies

    data = (corpus_components / "c-compose-text" / "composed.wasm").read_bytes()
    monkeypatch.setattr(bodies, "PARALLEL_MIN_BYTES", 1 << 40)
    serial = fuse_bytes(data, options=FuseOptions(component=True)).output
    monkeypatch.setattr(bodies, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(bodies.os, "cpu_count", lambda: 2)
    parallel = fuse_bytes(data, options=FuseOptions(component=True)).output
    assert parallel == serial
