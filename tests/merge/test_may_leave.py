"""Which reallocs need a may-leave guard: only those that can reach a call out of their
instance (`merge.leave.may_call_out`); the others cost nothing at each call."""

from __future__ import annotations

from pathlib import Path

import pytest

from pymeld.codec.component.parse import parse_component
from pymeld.graph.flatten import flatten
from pymeld.graph.model import DefRef, Lifted
from pymeld.merge.leave import may_call_out
from support import wat_to_wasm

_CALLEE = """
(component
  (import "ping" (func $ping))
  (core func $ping (canon lower (func $ping)))
  (core module $helper
    (import "" "ping" (func $ping))
    (func (export "via") (call $ping)))
  (core instance $h (instantiate $helper (with "" (instance (export "ping" (func $ping))))))
  (core module $m
    (import "" "ping" (func $ping))
    (import "" "via" (func $via))
    (memory (export "mem") 1)
    (table 1 funcref)
    (type $t (func))
    (global $top (mut i32) (i32.const 64))
    (func $bump (result i32) (global.get $top))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (call $bump))
    (func (export "realloc-ping") (param i32 i32 i32 i32) (result i32) (call $ping) (i32.const 8))
    (func $deep (call $ping))
    (func (export "realloc-deep") (param i32 i32 i32 i32) (result i32) (call $deep) (i32.const 8))
    (func (export "realloc-via") (param i32 i32 i32 i32) (result i32) (call $via) (i32.const 8))
    (func (export "realloc-indirect") (param i32 i32 i32 i32) (result i32)
      (call_indirect (type $t) (i32.const 0)) (i32.const 8))
    (func (export "take") (param i32 i32) (result i32) (local.get 1)))
  (core instance $i (instantiate $m
    (with "" (instance (export "ping" (func $ping)) (export "via" (func $h "via"))))))
  (func (export "bump") (param "s" string) (result u32)
    (canon lift (core func $i "take") (memory (core memory $i "mem")) (realloc (core func $i "realloc"))))
  (func (export "ping") (param "s" string) (result u32)
    (canon lift (core func $i "take") (memory (core memory $i "mem")) (realloc (core func $i "realloc-ping"))))
  (func (export "deep") (param "s" string) (result u32)
    (canon lift (core func $i "take") (memory (core memory $i "mem")) (realloc (core func $i "realloc-deep"))))
  (func (export "via") (param "s" string) (result u32)
    (canon lift (core func $i "take") (memory (core memory $i "mem")) (realloc (core func $i "realloc-via"))))
  (func (export "indirect") (param "s" string) (result u32)
    (canon lift (core func $i "take") (memory (core memory $i "mem")) (realloc (core func $i "realloc-indirect")))))
"""


@pytest.mark.parametrize(
    ("export", "calls_out"),
    [("bump", False), ("ping", True), ("deep", True), ("via", True), ("indirect", True)],
)
def test_may_call_out(export: str, calls_out: bool) -> None:
    graph = flatten(parse_component(wat_to_wasm(_CALLEE)))
    lifted = dict(graph.exports)[export]
    assert isinstance(lifted, Lifted) and isinstance(lifted.opts.realloc, DefRef)
    assert may_call_out(graph, lifted.opts.realloc) is calls_out


def test_rewrite_reuses_the_analysis_scans(
    corpus_components: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bodies the may-leave analysis scanned (c-compose-text: its reallocs reach the
    allocator, half of the code) are not scanned again by the body rewrite: one `patch_sites`
    per distinct body in the whole merge, and the same output as scanning twice."""
    from pymeld.codec.core import instructions as ins
    from pymeld.merge import leave
    from pymeld.merge.merger import merge

    path = corpus_components / "c-compose-text" / "composed.wasm"
    if not path.exists():
        pytest.skip(f"{path} not present")
    graph = flatten(parse_component(path.read_bytes()))
    once = merge(graph).module
    scanned: list[bytes] = []
    real = ins.patch_sites

    def counting(body: bytes) -> list[ins.Patch] | None:
        scanned.append(body)
        return real(body)

    monkeypatch.setattr(ins, "patch_sites", counting)
    monkeypatch.setattr(leave, "patch_sites", counting)
    again = merge(flatten(parse_component(path.read_bytes()))).module
    assert scanned and len(scanned) == len(set(scanned))
    assert [c.body for c in again.codes] == [c.body for c in once.codes]
