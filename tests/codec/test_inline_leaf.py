"""Inlining small leaf functions (`codec.core.inline.splice_leaf`, `merge.inline.LeafFuncs`).

Executing the spliced code must be executing the call: the same results, the same effects on
memory and globals, whatever `return`/`br` leaves the body from how deep, also when the code
runs twice in one function (its locals start at zero each time, as a call's do). Anything that
is not a plain leaf is refused (the caller keeps the call).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime
from wasmtime.component import Component, Linker

from pymeld.codec.core.emitter import VALTYPE_BYTE, VALTYPE_NAME, Body
from pymeld.codec.core.encode import encode_module
from pymeld.codec.core.inline import splice_leaf
from pymeld.codec.core.instructions import scan_uses
from pymeld.codec.core.model import Code, Local, NumType
from pymeld.codec.core.parse import parse_module
from support import wat_to_wasm

# Each leaf: (i32 i32) -> i32, touching global 0 and memory 0 so effects are compared too.
LEAVES = {
    "early returns at depths 0, 1 and 3": """
      (if (i32.eqz (local.get 0)) (then (return (i32.const 7))))
      (block (block (loop
        (if (i32.gt_u (local.get 0) (i32.const 100)) (then (return (local.get 1))))
        (br_if 2 (i32.eq (local.get 0) (local.get 1)))
        (br 1))))
      (i32.add (local.get 0) (i32.const 1000))""",
    "accumulator in a zero-initialised local, loop": """
      (local $i i32) (local $acc i32) (local $w i64)
      (block (loop
        (br_if 1 (i32.ge_u (local.get $i) (i32.and (local.get 0) (i32.const 15))))
        (local.set $acc (i32.add (local.get $acc) (local.get $i)))
        (local.set $w (i64.add (local.get $w) (i64.const 3)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br 0)))
      (i32.add (local.get $acc) (i32.wrap_i64 (local.get $w)))""",
    "bump allocator with memory and global effects": """
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get 0) (i32.const 7)) (i32.const -8)))
      (global.set 0 (i32.add (local.get $p) (local.get 1)))
      (i32.store offset=4 (local.get $p) (local.get 0))
      (memory.fill (i32.add (local.get $p) (i32.const 8)) (i32.const 0xab) (i32.const 3))
      (memory.copy (i32.const 64) (local.get $p) (i32.const 8))
      (select (local.get $p) (i32.const 0) (local.get 0))""",
    "br_table and br to the function's own label": """
      (block (block (block
        (br_table 0 1 2 (i32.and (local.get 0) (i32.const 3))))
        (return (i32.const 11)))
        (br 1 (i32.const 22)))
      (i32.add (i32.const 1) (block (result i32)
        (br_table 0 1 (i32.mul (local.get 1) (i32.const 3)) (i32.and (local.get 1) (i32.const 1)))))""",
    "traps (unreachable, out of bounds) as the call does": """
      (if (i32.eq (local.get 0) (i32.const 5)) (then unreachable))
      (i32.load (i32.mul (local.get 0) (i32.const 0x1000000)))""",
}

ARGS = [(0, 0), (1, 1), (2, 9), (3, 3), (5, 2), (7, 7), (15, 4), (101, 9), (200, 1), (64, 64)]


def _module(leaf: str) -> str:
    return f"""(module
  (memory 1) (global (mut i32) (i32.const 1024))
  (func $leaf (param i32 i32) (result i32) {leaf})
  (func (export "called") (param i32 i32) (result i32)
    (i32.add (call $leaf (local.get 0) (local.get 1))
             (i32.mul (call $leaf (local.get 1) (local.get 0)) (i32.const 31))))
  (func (export "inlined") (param i32 i32) (result i32) unreachable)
  (func (export "g") (result i32) (global.get 0))
  (export "mem" (memory 0)))"""


def _inlined(leaf: Code) -> Code:
    """The body of "called" with both calls replaced by the leaf's code (`Body.inline_call`,
    as adapters inline reallocs)."""
    types = [VALTYPE_NAME[loc.type] for loc in leaf.locals for _ in range(loc.count)]  # type: ignore[index]
    b = Body(["i32", "i32"])

    def inline() -> None:
        assert b.inline_call(leaf.body, ["i32", "i32"], types, "i32")

    b.get(0).get(1)
    inline()
    b.get(1).get(0)
    inline()
    b.i32(31).op("i32.mul", "i32.add").end()
    runs: list[Local] = []
    for t in b.locals:
        nt = NumType(VALTYPE_BYTE[t])
        if runs and runs[-1].type == nt:
            runs[-1] = Local(runs[-1].count + 1, nt)
        else:
            runs.append(Local(1, nt))
    return Code(runs, bytes(b.code))


def _run(wasm: bytes, name: str, args: tuple[int, int]) -> tuple[object, int, bytes]:
    store = wasmtime.Store()
    inst = wasmtime.Instance(store, wasmtime.Module(store.engine, wasm), [])
    ex = inst.exports(store)
    try:
        result: object = ex[name](store, *args)
    except wasmtime.Trap as e:
        result = ("trap", e.trap_code)
    mem = ex["mem"]
    return result, ex["g"](store), bytes(mem.read(store, 0, 4096))


@pytest.mark.parametrize("name", list(LEAVES))
def test_spliced_leaf_behaves_as_the_call(name: str) -> None:
    module = parse_module(wasmtime.wat2wasm(_module(LEAVES[name])))
    leaf = module.codes[0]
    module.codes[2] = _inlined(leaf)
    wasm = encode_module(module)
    assert 0 not in scan_uses(module.codes[2].body).indices[1]  # no call left to the leaf
    for args in ARGS:
        assert _run(wasm, "inlined", args) == _run(wasm, "called", args), args


REFUSED = {
    "call": "1000 0b",
    "call_indirect": "4100 110000 0b",
    "return_call": "1200 0b",
    "typed select": "4100 4100 4100 1c017f 0b",
    "block with a type index": "0200 0b 0b",
    "simd": "4100 fd0000 1a 0b",
    "ref.func": "d200 1a 0b",
    "legacy try": "0640 0b 0b",
    "trailing bytes after the final end": "4100 0b 01",
    "truncated body": "0240 4100",
    "local beyond the map": "2005 0b",
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_not_a_plain_leaf_is_refused(name: str) -> None:
    assert splice_leaf(bytes.fromhex(REFUSED[name]), [10, 11, 12], None) is None


def test_locals_renumbered_and_returns_become_branches() -> None:
    # local.get 1; if; local.get 0; return; end; local.get 2; end  (locals 0,1,2 -> 300,5,200)
    body = bytes.fromhex("2001 0440 2000 0f 0b 2002 0b")
    got = splice_leaf(body, [300, 5, 200], 0x7F)
    # block i32; local.get 5; if; local.get 300 (2-byte LEB); br 1; end; local.get 200; end
    assert got == bytes.fromhex("027f 2005 0440 20ac02 0c01 0b 20c801 0b")


def test_fused_list_adapter_inlines_the_bump_realloc() -> None:
    """benchmarks/cases/list-record.wat: the callee's bump `cabi_realloc` is inlined into the
    adapter (no call to it is left), and the fused component computes what the original does."""
    from pymeld.fuse import FuseOptions, fuse_bytes

    case = Path(__file__).parents[2] / "benchmarks" / "cases" / "list-record.wat"
    original = wat_to_wasm(case.read_text())
    fused = fuse_bytes(original, options=FuseOptions(component=True)).output
    # (the adapter itself would be inlined into its one caller: `merge.inline_adapters`)
    core = fuse_bytes(original, options=FuseOptions(inline_adapters=False)).output
    adapter = parse_module(core).codes[-1]  # the one generated function
    assert len(scan_uses(adapter.body).indices[1]) == 1  # it calls the callee's `f`, nothing else
    engine = wasmtime.Engine()
    results = []
    for data in (original, fused):
        store = wasmtime.Store(engine)
        func = Linker(engine).instantiate(store, Component(engine, data)).get_func(store, "run")
        assert func is not None
        results.append([func(store, n) for n in (0, 1, 17, 300)])
    assert results[0] == results[1]
