"""`merge.funcrefs`: a `ref.func` of a function its module declares only by exporting it.

The fused module drops the source modules' exports, so such a function is declared in a
declarative element segment (else the fused module does not validate: "undeclared function
reference"); one declared otherwise (an element segment, a global) or never referenced adds
nothing, so those modules' fused bytes stay as they were.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pymeld.codec.core import instructions as ins
from pymeld.codec.core.model import Module, SegmentMode
from pymeld.codec.core.parse import parse_module
from pymeld.fuse import FuseOptions, fuse_bytes
from pymeld.merge import bodies
from pymeld.merge.funcrefs import export_only
from support import run_fuse_oracle, wat_to_wasm

_MODULE = """(module
  (table (export "t") 2 2 funcref)
  (func $g (export "g") (result i32) (i32.const 7))
  (func $h (export "h") (result i32) (i32.const 8))
  (func $k (result i32) (i32.const 9))
  (elem declare func $k)
  (func (export "f") (result i32)
    (table.set (i32.const 0) (ref.func $g))
    (table.set (i32.const 1) (ref.func $k))
    (call_indirect (result i32) (i32.const 0))))"""

_COMPONENT = """(component
  (core module $m
    (table (export "t") 1 1 funcref)
    (func $g (export "g") (result i32) (i32.const 7))
    (func (export "f") (param i32) (result i32)
      (table.set (i32.const 0) (ref.func $g))
      (i32.add (local.get 0) (call_indirect (result i32) (i32.const 0)))))
  (core instance $i (instantiate $m))
  (core module $n
    (import "" "f" (func $f (param i32) (result i32)))
    (func (export "twice") (param i32) (result i32) (call $f (call $f (local.get 0)))))
  (core instance $j (instantiate $n (with "" (instance (export "f" (func $i "f"))))))
  (func (export "twice") (param "x" u32) (result u32) (canon lift (core func $j "twice")))
)"""


def _referenced(m: Module, work_copies: int = 1) -> list[set[int]]:
    """Per entry, the `ref.func` targets the body rewrite reports for ``m``'s code (given
    ``work_copies`` times, as two instances of one module are)."""
    work: bodies.Work = [([c.body for c in m.codes], ins.IndexMaps(), "m.wasm")] * work_copies
    refs: bodies.Refs = [set() for _ in work]
    out = bodies.rewrite_all(work, refs=refs)
    assert out == [[c.body for c in m.codes]] * work_copies  # (identity maps: same bytes)
    return [r for r in refs if r is not None]


def test_only_the_export_declared_references() -> None:
    m = parse_module(wat_to_wasm(_MODULE))
    assert export_only(m) == {0, 1, 3}  # $g $h f: $k is declared
    (found,) = _referenced(m)
    assert found == {0, 2}  # $g $k
    assert found & export_only(m) == {0}  # $g: $h is never referenced, $k is declared


def test_only_wanted_entries_are_reported() -> None:
    m = parse_module(wat_to_wasm(_MODULE))
    codes = [c.body for c in m.codes]
    refs: bodies.Refs = [None, set()]
    bodies.rewrite_all(
        [(codes, ins.IndexMaps(), "a"), (codes[:1], ins.IndexMaps(), "b")], refs=refs
    )
    assert refs == [None, set()]  # the second entry has only $g's body


def test_padded_index_is_found() -> None:
    """Linkers may leave an index padded to five bytes (a relocation's width)."""
    m = parse_module(wat_to_wasm(_MODULE))
    (f,) = [c for c in m.codes if b"\xd2\x00" in c.body]
    assert f.body.count(b"\xd2\x00") == 1
    f.body = f.body.replace(b"\xd2\x00", b"\xd2\x80\x80\x80\x80\x00")
    assert _referenced(m) == [{0, 2}]


def test_call_is_not_a_reference() -> None:
    """Only `ref.func` opcodes count: every instruction with a function index but `ref.func`
    (`call`, `return_call`) has it right after a one-byte opcode that is not 0xD2, and no
    other instruction the fast scans accept has one (else `funcrefs.body_refs` would have to
    look further back)."""
    with_func = [op for op, imms in enumerate(ins.SINGLE) if imms and ins.K_FUNC in imms]
    assert with_func == [0x10, 0x12, 0xD2]
    assert all(ins.SINGLE[op] == (ins.K_FUNC,) for op in with_func)
    assert not [sub for sub, imms in ins.PREFIXED[0xFC].items() if ins.K_FUNC in imms]


def test_fused_module_declares_them(oracle_py: Path, pymeld: list[str], tmp_path: Path) -> None:
    wast = tmp_path / "refs.wast"
    wast.write_text(
        ";;! reference_types = true\n"
        + _COMPONENT
        + '\n(assert_return (invoke "twice" (u32.const 1)) (u32.const 15))\n'
    )
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r


def test_nothing_added_without_such_references() -> None:
    """The same component with `$g` declared by an element segment: no declarative segment
    is added (the module's own is copied)."""
    declared = _COMPONENT.replace(
        '(func (export "f")', '(elem declare func $g)\n    (func (export "f")'
    )
    out = fuse_bytes(wat_to_wasm(declared), options=FuseOptions(component=False)).output
    m = parse_module(out)
    declarative = [e for e in m.elems if e.mode == SegmentMode.DECLARATIVE]
    assert len(declarative) == 1  # the copied one


_PATHS = ["sites", "walk", "tokens", "workers"]


@pytest.mark.parametrize("path", _PATHS)
def test_every_rewrite_path_reports_the_same(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The patch sites (small inputs), the general walk (a body the sites decline), the
    tokens (large inputs) and forked workers (larger ones) find the same targets, also where
    the opcode's byte and a candidate's LEB128 sit inside an immediate (`i64.const` of 0xD2
    then 0x01: $h's index) beside a `call` of $h (not a `ref.func`); the module twice (two
    instances sharing bodies) gives each entry its targets."""
    filler = "(drop (i32.add (i32.const 1) (i32.const 2)))" * 300
    wat = _MODULE.replace(
        "(call_indirect (result i32) (i32.const 0))))",
        f"(drop (i64.const 0xd2)) (drop (call $h)) {filler} "
        "(call_indirect (result i32) (i32.const 0))))",
    )
    m = parse_module(wat_to_wasm(wat))
    (f,) = [c for c in m.codes if len(c.body) > 1000]
    assert b"\xd2\x01" in f.body  # the decoy: 0xd2 as an immediate, 0x01 = $h
    seen: list[str] = []
    if path == "walk":
        monkeypatch.setattr(ins, "patch_sites", lambda body: None)
    if path in ("tokens", "workers"):
        from pymeld.codec.core import tokens

        real = tokens.tokenize
        monkeypatch.setattr(tokens, "tokenize", lambda b: seen.append("t") or real(b))
        monkeypatch.setattr(bodies, "TOKENS_MIN_BYTES", 0)
    if path == "workers":
        monkeypatch.setattr(bodies, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setenv("PYMELD_JOBS", "2")
        monkeypatch.setattr(bodies.os, "cpu_count", lambda: 2)
        real_parallel = bodies._parallel
        monkeypatch.setattr(bodies, "_parallel", lambda *a: seen.append("p") or real_parallel(*a))
    assert _referenced(m, 2) == [{0, 2}, {0, 2}]
    if path == "tokens":
        assert "t" in seen
    if path == "workers":
        assert "p" in seen
