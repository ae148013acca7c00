"""Several inputs fused at once: wired by import/export name, then fused like one composition."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pymeld.codec.component import parse_component
from pymeld.compose import compose
from pymeld.errors import LinkError
from pymeld.fuse import FuseOptions, fuse_files


def _component(wasm_tools: str, tmp: Path, wat: str, name: str) -> bytes:
    src, out = tmp / f"{name}.wat", tmp / f"{name}.wasm"
    src.write_text(wat)
    subprocess.run([wasm_tools, "parse", str(src), "-o", str(out)], check=True)
    return out.read_bytes()


PROVIDER = """(component
  (core module $m (func (export "f") (result i32) i32.const 7))
  (core instance $i (instantiate $m))
  (func $f (result u32) (canon lift (core func $i "f")))
  (instance $api (export "get" (func $f)))
  (export "api" (instance $api)))"""

CONSUMER = """(component
  (import "api" (instance $api (export "get" (func (result u32)))))
  (alias export $api "get" (func $get))
  (core func $get (canon lower (func $get)))
  (core module $m
    (import "" "get" (func $get (result i32)))
    (func (export "run") (result i32) call $get i32.const 1 i32.add))
  (core instance $i (instantiate $m (with "" (instance (export "get" (func $get))))))
  (func $run (result u32) (canon lift (core func $i "run")))
  (export "run" (func $run)))"""


def test_real_consumer_and_provider_fuse_like_their_composition(
    corpus_components: Path, harness_py: Path, tmp_path: Path
) -> None:
    case = corpus_components / "c-compose-text"
    inputs = [
        (str(case / n), (case / n).read_bytes()) for n in ("cconsumer.wasm", "cprovider.wasm")
    ]
    out = tmp_path / "fused.wasm"
    out.write_bytes(fuse_files(inputs, options=FuseOptions(component=True)).output)
    check = subprocess.run(
        [sys.executable, str(harness_py), "check", str(case / "expected.json"), str(out)],
        capture_output=True,
        text=True,
    )
    assert check.stdout.strip().endswith("19 passed, 0 failed"), check.stdout + check.stderr


def test_inputs_are_wired_by_name_in_any_order(wasm_tools: str, tmp_path: Path) -> None:
    import wasmtime
    import wasmtime.component as wc

    p = _component(wasm_tools, tmp_path, PROVIDER, "p")
    c = _component(wasm_tools, tmp_path, CONSUMER, "c")
    for inputs in ([("c", c), ("p", p)], [("p", p), ("c", c)]):
        fused = fuse_files(inputs, options=FuseOptions(component=True)).output
        engine = wasmtime.Engine()
        store = wasmtime.Store(engine)
        inst = wc.Linker(engine).instantiate(store, wc.Component(engine, fused))
        run = inst.get_func(store, "run")
        assert run is not None and run(store) == 8


def test_ambiguous_provider_is_an_error(wasm_tools: str, tmp_path: Path) -> None:
    p = parse_component(_component(wasm_tools, tmp_path, PROVIDER, "p"))
    c = parse_component(_component(wasm_tools, tmp_path, CONSUMER, "c"))
    with pytest.raises(LinkError, match="exported by both"):
        compose([("c", c), ("p1", p), ("p2", p)])


def test_cycle_is_an_error(wasm_tools: str, tmp_path: Path) -> None:
    a = """(component
      (import "b" (instance (export "x" (func))))
      (instance $e)
      (export "a" (instance $e)))"""
    b = """(component
      (import "a" (instance))
      (instance $e (export "x" (func $f)))
      (core module $m (func (export "x")))
      (core instance $i (instantiate $m))
      (func $f (canon lift (core func $i "x")))
      (export "b" (instance $e)))"""
    ca = parse_component(_component(wasm_tools, tmp_path, a, "a"))
    cb = parse_component(_component(wasm_tools, tmp_path, b, "b"))
    with pytest.raises(LinkError, match="cycle"):
        compose([("a", ca), ("b", cb)])


def test_invalid_type_is_a_clean_error(wasm_tools: str, tmp_path: Path) -> None:
    """33 flags parse (the binary allows any count) but no validator accepts them."""
    labels = " ".join(f'"g{i}"' for i in range(33))
    wat = f"""(component
      (core module $m (func (export "f") (param i32 i32) (result i32) local.get 0))
      (core instance $i (instantiate $m))
      (type $f (flags {labels}))
      (func (export "f") (param "x" $f) (result u32) (canon lift (core func $i "f"))))"""
    data = _component(wasm_tools, tmp_path, wat, "flags33")
    with pytest.raises(LinkError, match=r"flags must have 1\.\.32 labels"):
        fuse_files([("flags33.wasm", data)])


def test_root_export_attributes_are_kept(wasm_tools: str, tmp_path: Path) -> None:
    """`(export "label" (implements "ns:pkg/iface") ...)` keeps its attribute after fusion."""
    wat = """(component
      (core module $m (func (export "f") (result i32) i32.const 1))
      (core instance $i (instantiate $m))
      (func $f (result u32) (canon lift (core func $i "f")))
      (instance $a (export "f" (func $f)))
      (export "my-label" (implements "ns:pkg/iface") (instance $a)))"""
    data = _component(wasm_tools, tmp_path, wat, "implements")
    provider = _component(wasm_tools, tmp_path, PROVIDER, "p")
    for inputs in ([("x.wasm", data)], [("x.wasm", data), ("p.wasm", provider)]):
        fused = fuse_files(inputs, options=FuseOptions(component=True)).output
        export = next(e for e in parse_component(fused).exports if e.name.name == "my-label")
        assert [a.value for a in export.name.attributes] == ["ns:pkg/iface"]
