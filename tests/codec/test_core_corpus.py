"""Corpus-wide checks of the core codec: byte-exact round trip, identity/shifted rewrites.

Core modules are found inside components with a tiny local walker (the component codec is
developed separately) and in the binaries `wasm-tools json-from-wast` produces from the .wast
corpus (conftest's ``wast_binaries``, converted once per session into a temp dir).
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pymeld.codec.core.encode import encode_module
from pymeld.codec.core.instructions import IndexMaps, rewrite_body, scan_body, scan_uses
from pymeld.codec.core.model import ExternKind, FuncImport, Module
from pymeld.codec.core.parse import parse_module
from support import core_modules, shared_root, wast_commands

CORPUS = shared_root() / "corpus"
BIG = CORPUS / "components" / "py-compose-rich" / "composed.wasm"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not available")


@pytest.fixture(scope="session")
def wast_modules(wast_binaries: list[Path]) -> list[Path]:
    """The binaries of the wast corpus's module commands and positive assertions (the
    negative tests' binaries are meant not to decode)."""
    skip = ("assert_malformed", "assert_invalid")
    files = []
    for cmd, path in wast_commands(wast_binaries):
        if cmd.get("module_type") != "binary" or cmd["type"] in skip or not path.exists():
            continue
        if cmd["type"] in ("module", "module_definition") or cmd["type"].startswith("assert_"):
            files.append(path)
    return files


def _corpus_modules(wast_modules: list[Path]) -> Iterator[tuple[str, int, bytes]]:
    for f in sorted(CORPUS.rglob("*.wasm")):
        for off, mb in core_modules(f.read_bytes()):
            yield str(f), off, mb
    for f in wast_modules:
        data = f.read_bytes()
        if len(data) < 8 or data[:4] != b"\0asm":
            continue
        try:
            found = list(core_modules(data))
        except IndexError:
            continue
        for off, mb in found:
            yield str(f), off, mb


@pytest.fixture(scope="session")
def parsed(wast_modules: list[Path]) -> list[tuple[str, int, bytes, Module]]:
    out = []
    for name, off, mb in _corpus_modules(wast_modules):
        out.append((name, off, mb, parse_module(mb, file=name, base=off)))
    return out


def test_roundtrip_byte_exact(parsed: list[tuple[str, int, bytes, Module]]) -> None:
    exact = sum(1 for _, _, mb, m in parsed if encode_module(m) == mb)
    bad = [(n, off) for n, off, mb, m in parsed if encode_module(m) != mb]
    print(f"\ncore modules: {len(parsed)}, byte-exact: {exact}")
    assert len(parsed) > 150
    assert not bad, bad[:10]


def test_bodies_scan_and_identity_rewrite(parsed: list[tuple[str, int, bytes, Module]]) -> None:
    ident = IndexMaps(
        type=lambda i: i,
        func=lambda i: i,
        table=lambda i: i,
        memory=lambda i: i,
        global_=lambda i: i,
        elem=lambda i: i,
        data=lambda i: i,
        tag=lambda i: i,
    )
    n = 0
    seen: set[int] = set()
    for name, _, _, m in parsed:
        if len(m.codes) > 3000:  # the big interpreter modules are covered by the timing test
            continue
        for c in m.codes:
            if id(c.body) in seen:
                continue
            scan_body(c.body, file=name)
            assert rewrite_body(c.body, ident) == c.body
            n += 1
        for g in m.globals:
            assert g.init[-1] == 0x0B
    assert n > 1000


def _shift_funcs(m: Module, k: int) -> Module:
    """Insert ``k`` new imported functions in front; renumber all function references."""
    from pymeld.codec.core.instructions import rewrite_const_expr
    from pymeld.codec.core.model import (
        FuncType,
        Import,
        RecGroup,
        SubType,
    )

    nt = sum(len(g.types) for g in m.types)
    m.types.append(RecGroup([SubType(FuncType([], []))]))
    nimp = m.num_imported(ExternKind.FUNC)
    fmap = IndexMaps(func=lambda i: i + k)
    m.imports[0:0] = [Import("shift", f"f{i}", FuncImport(nt)) for i in range(k)]
    for c in m.codes:
        c.body = rewrite_body(c.body, fmap)
    for g in m.globals:
        g.init = rewrite_const_expr(g.init, fmap)
    for e in m.elems:
        if e.funcs is not None:
            e.funcs = [f + k for f in e.funcs]
        else:
            e.exprs = [rewrite_const_expr(x, fmap) for x in e.exprs or []]
    for ex in m.exports:
        if ex.kind == ExternKind.FUNC:
            ex.index += k
    if m.start is not None:
        m.start += k
    assert nimp >= 0
    return m


def test_shifted_function_map_validates(
    parsed: list[tuple[str, int, bytes, Module]], wasm_tools: str
) -> None:
    wasmtime = pytest.importorskip("wasmtime")
    engine = wasmtime.Engine()
    rng = random.Random(1234)
    candidates = []
    for name, _, mb, _ in parsed:
        if not name.endswith(".wasm") or len(mb) > 400_000:
            continue
        try:
            wasmtime.Module.validate(engine, mb)
        except Exception:
            continue
        candidates.append((name, mb))
    sample = rng.sample(candidates, min(25, len(candidates)))
    assert sample
    for name, mb in sample:
        m = _shift_funcs(parse_module(mb), 3)
        out = encode_module(m)
        wasmtime.Module.validate(engine, out)  # raises on failure
        res = subprocess.run([wasm_tools, "validate", "-"], input=out, capture_output=True)
        assert res.returncode == 0, (name, res.stderr.decode())


def test_big_component_speed() -> None:
    if not BIG.exists():
        pytest.skip("big component not present")
    data = BIG.read_bytes()
    mods = list(core_modules(data))
    t0 = time.perf_counter()
    for off, mb in mods:
        assert encode_module(parse_module(mb, base=off)) == mb
    dt = time.perf_counter() - t0
    parsed = [parse_module(mb, base=off) for off, mb in mods]
    t1 = time.perf_counter()
    grow: set[int] = set()
    total = 0
    for m in parsed:
        for c in m.codes:
            total += len(c.body)
            grow |= scan_uses(c.body).memory_grow
    dt_scan = time.perf_counter() - t1
    print(
        f"\n{BIG.name}: {len(mods)} core modules, parse+encode {dt:.2f}s, "
        f"scan_uses over {total / 1e6:.1f} MB of code {dt_scan:.2f}s"
    )
    assert len(mods) == 28
    assert grow == {0}
    assert dt < 5.0
