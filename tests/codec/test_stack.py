"""`codec.core.stack`: the operand stack before every instruction.

Checked against what a valid body implies: the values a call, a `local.set`, a `return` or a
block's `end` takes are of the types they must be, on every corpus function body, and
exactly, on small bodies written for it (block parameters, type-index block types,
unreachable code, SIMD, memory64, tables).
"""

from __future__ import annotations

import pytest

from pymeld.codec.core.model import ExternKind, FuncType, Module, NumType, ValType
from pymeld.codec.core.parse import parse_module
from pymeld.codec.core.stack import BOT, Instr, ModuleTypes, NotTyped, type_body
from support import core_modules, shared_root, wat_to_wasm

I32, I64, F32, F64, V128 = NumType.I32, NumType.I64, NumType.F32, NumType.F64, NumType.V128
COMPONENTS = shared_root() / "corpus" / "components"


def typed(
    module: Module, types: ModuleTypes, k: int
) -> tuple[FuncType, list[ValType], list[Instr]]:
    f = module.num_imported(ExternKind.FUNC) + k
    ft = types.func(f)
    code = module.codes[k]
    locs = [*ft.params, *(loc.type for loc in code.locals for _ in range(loc.count))]
    return ft, locs, type_body(types, ft, locs, code.body)


def _agree(want: list[ValType] | tuple[ValType, ...], have: tuple[object, ...]) -> bool:
    """The stack top ``have`` can be ``want`` (number types exactly; references by kind)."""
    if len(have) != len(want):
        return False
    for w, h in zip(want, have, strict=True):
        if h is BOT:
            continue
        if (isinstance(w, NumType) or isinstance(h, NumType)) and w != h:
            return False
    return True


def check_consistent(module: Module) -> int:
    """Types every body of ``module`` and checks what the instructions take; how many."""
    types = ModuleTypes.of(module)
    n = 0
    for k in range(len(module.codes)):
        try:
            ft, locs, instrs = typed(module, types, k)
        except NotTyped:
            continue
        n += 1
        opened: list[Instr] = []
        for ins in instrs:
            top = ins.frame_stack()
            if ins.op in (0x02, 0x03, 0x04):
                opened.append(ins)
            if not ins.reachable:
                if ins.op == 0x0B and opened:
                    opened.pop()
                continue
            if ins.op == 0x10:
                params = types.func(ins.index).params
                assert _agree(params, top[len(top) - len(params) :]), (k, ins)
            elif ins.op in (0x21, 0x22):
                assert top and _agree([locs[_local(ins, module, k)]], top[-1:]), (k, ins)
            elif ins.op == 0x0F:
                assert _agree(ft.results, top[len(top) - len(ft.results) :]), (k, ins)
            elif ins.op == 0x0B:
                results = opened.pop().sig.results if opened else tuple(ft.results)  # type: ignore[union-attr]
                assert _agree(results, top), (k, ins, results)
    return n


def _local(ins: Instr, module: Module, k: int) -> int:
    from pymeld.codec.core.instructions import read_u

    return read_u(module.codes[k].body, ins.at + 1)[0]


@pytest.mark.skipif(not COMPONENTS.is_dir(), reason="shared corpus not available")
def test_corpus_bodies_are_consistent() -> None:
    n = 0
    for f in sorted(COMPONENTS.rglob("*.wasm")):
        if f.stat().st_size > 4_000_000:  # the 36 MB interpreter: minutes of typing
            continue
        for off, mb in core_modules(f.read_bytes()):
            n += check_consistent(parse_module(mb, file=str(f), base=off))
    assert n > 1000


def _one(wat: str) -> list[Instr]:
    m = parse_module(wat_to_wasm(f"(module (memory 1) (memory i64 1) (table 2 funcref) {wat})"))
    assert check_consistent(m) == len(m.codes)
    return typed(m, ModuleTypes.of(m), len(m.codes) - 1)[2]


def _at(instrs: list[Instr], n: int) -> tuple[object, ...]:
    """The stack before the ``n``-th call (of `$probe`)."""
    return [i for i in instrs if i.op == 0x10][n].stack


def test_block_params_multi_value_and_type_index_blocks() -> None:
    instrs = _one("""
      (type $bt (func (param i32 i64) (result f32 i64 i32)))
      (func $probe)
      (func (param $p f64) (result i32)
        (local.get $p) (i32.const 1) (i64.const 2)
        (block (type $bt) (param i32 i64) (result f32 i64 i32)
          (call $probe) (drop) (drop) (f32.const 0) (i64.const 1) (i32.const 2))
        (call $probe)
        (if (param i64 i32) (result i32) (i32.const 1)
          (then (call $probe) (drop) (drop) (i32.const 3))
          (else (drop) (drop) (i32.const 4)))
        (call $probe)
        (drop) (drop) (drop) (i32.const 0))
    """)
    assert _at(instrs, 0) == (F64, I32, I64)
    assert _at(instrs, 1) == (F64, F32, I64, I32)
    assert _at(instrs, 2) == (F64, F32, I64, I32)
    assert _at(instrs, 3) == (F64, F32, I32)
    block = next(i for i in instrs if i.op == 0x02)
    assert block.sig is not None and block.sig.params == (I32, I64)
    assert instrs[block.end_at].op == 0x0B
    assert next(i for i in instrs if i.op == 0x10).base == 1  # the block's frame: above the f64


def test_unreachable_code_is_polymorphic() -> None:
    instrs = _one("""
      (func $probe)
      (func (result i64)
        (i32.const 1)
        (block (result i64) (unreachable) (call $probe) (i64.add) (call $probe) (br 0))
        (call $probe) (drop) (i64.extend_i32_u))
    """)
    probes = [i for i in instrs if i.op == 0x10]
    assert probes[0].stack == (I32,) and not probes[0].reachable
    assert probes[1].stack == (I32, I64) and not probes[1].reachable  # i64.add of two BOTs
    assert probes[2].stack == (I32, I64) and probes[2].reachable
    select = _one("""(func (result i32) (unreachable) (select) (i32.add))""")
    assert select[1].op == 0x1B and select[2].stack == (BOT,)


def test_simd_memory64_tables_and_refs() -> None:
    instrs = _one("""
      (func $probe)
      (func (param $a i64) (result i32)
        (v128.load 1 (local.get $a))
        (i32x4.extract_lane 2 (v128.const i64x2 1 2))
        (call $probe)
        (i8x16.replace_lane 3)
        (f32x4.relaxed_madd (v128.const i64x2 0 0) (v128.const i64x2 0 0))
        (memory.size 1) (memory.grow 0 (i32.const 0))
        (table.get 0 (i32.const 0)) (ref.is_null)
        (call $probe)
        (i32.add) (drop) (drop) (i64x2.all_true))
    """)
    assert _at(instrs, 0) == (V128, I32)
    assert _at(instrs, 1) == (V128, I64, I32, I32)


def test_not_typed_instructions() -> None:
    m = parse_module(wat_to_wasm("(module (tag $e) (func (throw $e)))"))
    with pytest.raises(NotTyped, match="exception handling"):
        typed(m, ModuleTypes.of(m), 0)
