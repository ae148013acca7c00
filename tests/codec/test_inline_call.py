"""Inlining a general function body at its call sites (`codec.core.inline.inline_call`).

Executing the inlined code must be executing the call: the same results (several of them),
the same effects on memory and globals, the same traps, whatever `return` leaves the body from
how deep (inside nested blocks, loops, `br_table` targets), with calls, `local.tee` and vector
locals, at two call sites sharing one set of fresh locals, one of them in a loop (the locals
start at zero on every pass, as a call's do). What is not inlined (tail calls, legacy
exception handling, malformed bodies) is refused: the caller keeps the call.
"""

from __future__ import annotations

import pytest
import wasmtime

from pymeld.codec.core.encode import encode_module
from pymeld.codec.core.inline import inline_call, zero_value
from pymeld.codec.core.instructions import scan_instructions, scan_uses
from pymeld.codec.core.model import (
    FUNCREF,
    AbsHeap,
    Code,
    FuncType,
    HeapType,
    Local,
    Module,
    NumType,
    RefType,
)
from pymeld.codec.core.parse import parse_module

# Each body: $f (param i32 i64) (result i32 i64); $g (func 0) adds to global 0 and returns 3x.
BODIES = {
    "returns from nested blocks, a loop and br_table targets; local.tee": """
      (local $t i32) (local $w i64)
      (if (i32.eqz (local.get 0)) (then (return (i32.const 7) (i64.const 70))))
      (block $a (block $b (block $c
        (br_table $a $b $c (i32.and (local.tee $t (local.get 0)) (i32.const 3))))
        (return (i32.add (local.get $t) (i32.const 100)) (local.get 1)))
        (if (i32.gt_u (local.get 0) (i32.const 50))
          (then (loop (return (local.get $t) (i64.const -1))))))
      (local.set $w (i64.add (local.get $w) (local.get 1)))
      (i32.add (local.get $t) (i32.const 1)) (local.get $w)""",
    "accumulating locals start at zero on every call": """
      (local $acc i32) (local $n i64) (local $x f64) (local $y f32)
      (local.set $acc (i32.add (local.get $acc) (local.get 0)))
      (local.set $n (i64.add (local.get $n) (local.get 1)))
      (local.set $x (f64.add (local.get $x) (f64.const 1.5)))
      (local.set $y (f32.add (local.get $y) (f32.const 2.5)))
      (i32.add (local.get $acc) (i32.trunc_f64_u (local.get $x)))
      (i64.add (local.get $n) (i64.trunc_f32_u (local.get $y)))""",
    "calls, memory and global effects, a branch to the body's own label": """
      (local $p i32)
      (local.set $p (call $g (local.get 0)))
      (i32.store (i32.and (local.get $p) (i32.const 0xffc)) (local.get $p))
      (if (i32.gt_u (local.get $p) (i32.const 200))
        (then (return (call $g (local.get $p)) (i64.const 9))))
      (block
        i32.const 5 i64.const 5 (i32.eq (local.get $p) (i32.const 12)) br_if 1 drop drop)
      (local.get $p) (i64.extend_i32_u (global.get 0))""",
    "v128 locals": """
      (local $v v128) (local $u v128)
      (local.set $v (i32x4.add (local.get $v) (i32x4.splat (local.get 0))))
      (local.set $u (i64x2.add (local.get $u) (i64x2.splat (local.get 1))))
      (i32x4.extract_lane 0 (local.get $v))
      (i64.add (i64x2.extract_lane 1 (local.get $u))
               (i64.extend_i32_u (i32x4.extract_lane 3 (local.get $v))))""",
    "traps (unreachable, out of bounds, division by zero) as the call does": """
      (if (i32.eq (local.get 0) (i32.const 5)) (then unreachable))
      (drop (i32.div_u (i32.const 1) (i32.sub (local.get 0) (i32.const 9))))
      (i32.load (i32.mul (local.get 0) (i32.const 0x1000000))) (local.get 1)""",
}

ARGS = [(0, 0), (1, 1), (2, 9), (3, 3), (5, 2), (7, 7), (9, 1), (15, 4), (64, 64), (101, 9)]


def _module(body: str) -> str:
    # func 0 $g, func 1 $f, func 2 $mix, func 3 "called", func 4 "inlined", func 5 "g"
    return f"""(module
  (memory 1) (global (mut i32) (i32.const 1024))
  (func $g (param i32) (result i32)
    (global.set 0 (i32.add (global.get 0) (local.get 0))) (i32.mul (local.get 0) (i32.const 3)))
  (func $f (param i32 i64) (result i32 i64) {body})
  (func $mix (param i32 i64) (result i64) (i64.add (i64.extend_i32_u (local.get 0)) (local.get 1)))
  (func (export "called") (param i32 i32) (result i64)
    (local $i i32) (local $acc i64)
    (loop $l
      (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31))
        (call $mix (call $f (i32.add (local.get 0) (local.get $i))
                            (i64.extend_i32_u (local.get 1))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 3))))
    (i64.add (local.get $acc) (call $mix (call $f (local.get 1) (i64.const 5)))))
  (func (export "inlined") (param i32 i32) (result i64) unreachable)
  (func (export "g") (result i32) (global.get 0))
  (export "mem" (memory 0)))"""


def _inline_f(module: Module) -> Code:
    """The body of "called" with both `call $f` replaced by `inline_call` code that shares one
    set of fresh locals (as `merge.inline_adapters` does for one adapter in one caller)."""
    callee, caller = module.codes[1], module.codes[3]
    ft = module.types[module.funcs[1]].types[0].composite
    assert isinstance(ft, FuncType)
    locals_ = [loc.type for loc in callee.locals for _ in range(loc.count)]
    first = 2 + sum(loc.count for loc in caller.locals)  # after "called"'s params and locals
    code = inline_call(callee.body, module.funcs[1], ft.params, locals_, first)
    assert code is not None
    sites: list[tuple[int, int]] = []

    def call(body: bytes, at: int, pos: int) -> int:
        if body[pos] == 1:
            sites.append((at, pos + 1))
        return pos + 1

    scan_instructions(caller.body, {(-1, 0x10): call})
    assert len(sites) == 2
    parts, last = [], 0
    for at, end in sites:
        parts += [caller.body[last:at], code]
        last = end
    parts.append(caller.body[last:])
    new_locals = list(caller.locals) + [Local(1, t) for t in (*ft.params, *locals_)]
    return Code(new_locals, b"".join(parts))


def _run(wasm: bytes, name: str, args: tuple[int, int]) -> tuple[object, int, bytes]:
    config = wasmtime.Config()
    config.wasm_simd = True
    store = wasmtime.Store(wasmtime.Engine(config))
    inst = wasmtime.Instance(store, wasmtime.Module(store.engine, wasm), [])
    ex = inst.exports(store)
    try:
        result: object = ex[name](store, *args)  # type: ignore[operator]
    except wasmtime.Trap as e:
        result = ("trap", e.trap_code)
    mem = ex["mem"]
    return result, ex["g"](store), bytes(mem.read(store, 0, 4096))  # type: ignore[operator, union-attr]


@pytest.mark.parametrize("name", list(BODIES))
def test_inlined_body_behaves_as_the_call(name: str) -> None:
    module = parse_module(wasmtime.wat2wasm(_module(BODIES[name])))
    module.codes[4] = _inline_f(module)
    wasm = encode_module(module)
    assert 1 not in scan_uses(module.codes[4].body).funcs  # no call of $f left
    for args in ARGS:
        assert _run(wasm, "inlined", args) == _run(wasm, "called", args), args


def test_locals_renumbered_zeroed_and_returns_become_branches() -> None:
    # (param i32 i32) (local i64): local.get 1; if; local.get 0; return; end;
    # block; local.tee 2; br_table 0 1 (the body's label); end; local.get 2; end
    body = bytes.fromhex("2001 0440 2000 0f 0b 0240 2202 0e01 0001 0b 2002 0b")
    got = inline_call(body, 3, [NumType.I32, NumType.I32], [NumType.I64], 300)
    # block (type 3); local.set 301; local.set 300; i64.const 0; local.set 302;
    # local.get 301; if; local.get 300; br 1; end; block; local.tee 302; br_table 0 1; end;
    # local.get 302; end
    want = "0203 21ad02 21ac02 4200 21ae02 20ad02 0440 20ac02 0c01 0b 0240 22ae02 0e01 0001 0b"
    assert got == bytes.fromhex(want + "20ae02 0b")


def test_a_type_index_from_64_on_is_a_multi_byte_s33() -> None:
    got = inline_call(b"\x0b", 64, [], [], 0)  # s33 64 needs two bytes (0x40 is negative)
    assert got == bytes.fromhex("02c000 0b")


def test_zero_values() -> None:
    assert zero_value(NumType.V128) == b"\xfd\x0c" + bytes(16)
    assert zero_value(NumType.F32) == b"\x43" + bytes(4)
    assert zero_value(FUNCREF) == b"\xd0\x70"
    assert zero_value(RefType(True, HeapType(index=5))) == b"\xd0\x05"
    assert zero_value(RefType(False, HeapType(AbsHeap.FUNC))) == b""  # set before it is read


def test_reference_locals_are_zeroed_with_ref_null() -> None:
    got = inline_call(b"\x0b", 0, [], [FUNCREF], 4)
    assert got == bytes.fromhex("0200 d070 2104 0b")


REFUSED = {
    "return_call": "1200 0b",
    "return_call_indirect": "4100 130000 0b",
    "return_call_ref": "2000 1500 0b",
    "legacy try": "0640 0b 0b",
    "try_table with a catch": "1f40 01 0200 00 0b 0b",
    "ref.null (heap type immediate)": "d070 1a 0b",
    "trailing bytes after the final end": "4100 0b 01",
    "truncated body": "0240 4100",
    "unknown opcode": "ff 0b",
    "local beyond the function's": "2003 1a 0b",
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_what_is_not_inlined_is_refused(name: str) -> None:
    assert inline_call(bytes.fromhex(REFUSED[name]), 0, [NumType.I32], [NumType.I64] * 2, 9) is None


def test_calls_and_bulk_memory_are_kept_verbatim() -> None:
    # call 5; call_indirect 2 0; memory.copy 0 1; i32.const -1; drop; end
    body = bytes.fromhex("1005 110200 fc0a0001 417f 1a 0b")
    got = inline_call(body, 1, [], [], 0)
    assert got == b"\x02\x01" + body
