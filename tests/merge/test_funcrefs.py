"""`merge.funcrefs`: a `ref.func` of a function its module declares only by exporting it.

The fused module drops the source modules' exports, so such a function is declared in a
declarative element segment (else the fused module does not validate: "undeclared function
reference"); one declared otherwise (an element segment, a global) or never referenced adds
nothing, so those modules' fused bytes stay as they were.
"""

from __future__ import annotations

from pathlib import Path

from pymeld.codec.core.model import SegmentMode
from pymeld.codec.core.parse import parse_module
from pymeld.fuse import FuseOptions, fuse_bytes
from pymeld.merge.funcrefs import undeclared_refs
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


def test_only_the_export_declared_references() -> None:
    m = parse_module(wat_to_wasm(_MODULE))
    assert undeclared_refs(m) == [0]  # $g: $h is never referenced, $k is declared


def test_padded_index_is_found() -> None:
    """Linkers may leave an index padded to five bytes (a relocation's width)."""
    m = parse_module(wat_to_wasm(_MODULE))
    (f,) = [c for c in m.codes if b"\xd2\x00" in c.body]
    assert f.body.count(b"\xd2\x00") == 1
    f.body = f.body.replace(b"\xd2\x00", b"\xd2\x80\x80\x80\x80\x00")
    assert undeclared_refs(m) == [0]


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


def test_a_large_body_is_cut_by_tokens_with_the_same_answer(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Bodies from `TOKENS_MIN_BODY` on are cut by `codec.core.tokens`: the same answer as the
    walk, also where the opcode's byte and a candidate's LEB128 sit inside an immediate
    (`i64.const` of 0xD2 then 0x01: $h's index), beside a `call` of $h (a token, not a
    `ref.func`), in a body padded out with plain code."""
    from pymeld.merge import funcrefs

    filler = "(drop (i32.add (i32.const 1) (i32.const 2)))" * 3000  # ~21 kB of plain code
    wat = _MODULE.replace(
        "(call_indirect (result i32) (i32.const 0))))",
        f"(drop (i64.const 0xd2)) (drop (call $h)) {filler} "
        "(call_indirect (result i32) (i32.const 0))))",
    )
    m = parse_module(wat_to_wasm(wat))
    (f,) = [c for c in m.codes if len(c.body) >= funcrefs.TOKENS_MIN_BODY]
    assert b"\xd2\x01" in f.body  # the decoy: 0xd2 as an immediate, 0x01 = $h
    cut: list[bytes] = []
    real_tokenize = funcrefs.tokenize
    monkeypatch.setattr(funcrefs, "tokenize", lambda b: cut.append(b) or real_tokenize(b))
    assert undeclared_refs(m) == [0] and cut == [f.body]
    monkeypatch.setattr(funcrefs, "TOKENS_MIN_BODY", 1 << 30)  # the walk only
    assert undeclared_refs(m) == [0]
