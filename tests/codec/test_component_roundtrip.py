"""Byte-exact parse -> encode round trip over every real component and every wast component.

Why byte-exact: the fusion stage re-emits untouched parts of components, so the encoder must
be a faithful inverse of the decoder, and exact bytes are the strictest cheap oracle for that.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pymeld.codec.component import (
    Component,
    ComponentSection,
    CoreModuleSection,
    encode_component,
    parse_component,
)
from pymeld.codec.component.parse import PREAMBLE
from support import wast_commands


def wast_components(wast_binaries: list[Path]) -> list[Path]:
    """Components defined by ``module``/``module_definition`` commands (not negative tests)."""
    out: list[Path] = []
    for cmd, p in wast_commands(wast_binaries):
        if cmd["type"] not in ("module", "module_definition"):
            continue
        if cmd.get("module_type") != "binary":
            continue
        if p.exists() and p.read_bytes()[:8] == PREAMBLE:
            out.append(p)
    return out


def _roundtrip(path: Path) -> str | None:
    data = path.read_bytes()
    out = encode_component(parse_component(data, file=str(path)))
    if out == data:
        return None
    diff = next((i for i, (a, b) in enumerate(zip(out, data, strict=False)) if a != b), None)
    return f"{path}: first difference at {diff}, sizes {len(out)} vs {len(data)}"


def test_corpus_components_roundtrip(corpus_components: Path, report) -> None:
    files = sorted(p for p in corpus_components.rglob("*.wasm"))
    comps = [p for p in files if p.read_bytes()[:8] == PREAMBLE]
    assert len(comps) >= 20
    failures = [m for p in comps if (m := _roundtrip(p))]
    report("component round trip (corpus)", f"{len(comps) - len(failures)}/{len(comps)} exact")
    assert not failures, failures


def test_wast_components_roundtrip(wast_binaries: list[Path], report) -> None:
    comps = wast_components(wast_binaries)
    assert len(comps) >= 300, len(comps)
    failures = [m for p in comps if (m := _roundtrip(p))]
    report("component round trip (wast)", f"{len(comps) - len(failures)}/{len(comps)} exact")
    assert not failures, failures[:10]


def test_big_component_is_fast(corpus_components: Path, report) -> None:
    path = corpus_components / "py-compose-rich" / "composed.wasm"
    if not path.exists():
        pytest.skip(f"{path} missing")
    data = path.read_bytes()
    t0 = time.perf_counter()
    c = parse_component(data, file=str(path))
    t1 = time.perf_counter()
    out = encode_component(c)
    t2 = time.perf_counter()
    assert out == data

    def count(comp: Component) -> int:
        n = len(comp.core_modules)
        return n + sum(count(s.component) for s in comp.iter_sections(ComponentSection))

    assert count(c) == 28
    report(
        "py-compose-rich/composed.wasm",
        f"{len(data) / 1e6:.1f} MB: parse {t1 - t0:.3f}s, encode {t2 - t1:.3f}s, 28 core modules",
    )
    assert t1 - t0 < 2.0


def test_core_modules_are_zero_copy_slices(corpus_components: Path) -> None:
    path = corpus_components / "repo-prebuilt" / "calculator.composed.wasm"
    data = path.read_bytes()
    c = parse_component(data)
    mods = [m for comp in [c, *c.components] for m in comp.core_modules]
    assert mods
    for m in mods:
        assert isinstance(m.data, memoryview)
        start = m.offset
        assert bytes(m.data) == data[start : start + len(m.data)]
        assert bytes(m.data[:8]) == b"\0asm\x01\0\0\0"


def test_replaced_module_is_emitted(corpus_components: Path) -> None:
    data = (corpus_components / "repo-prebuilt" / "calculator.composed.wasm").read_bytes()
    c = parse_component(data)
    nested = c.components[0]
    sec = next(s for s in nested.sections if isinstance(s, CoreModuleSection))
    new = b"\0asm\x01\0\0\0"
    sec.replace(new)
    again = parse_component(encode_component(c))
    assert bytes(again.components[0].core_modules[0].data) == new


def test_padded_section_size_is_preserved() -> None:
    # custom section "" with a 5-byte size LEB (as in component-model binary.wast)
    data = PREAMBLE + b"\x00\x81\x80\x80\x80\x00\x00"
    c = parse_component(data)
    assert c.size_widths == {0: 5}
    assert encode_component(c) == data
