"""`merge.unwind`: functions that may reach a suspend point unwind and rewind exactly.

Each case runs its entries untransformed (suspend returns at once) and transformed (every
suspend unwinds to the host; suspended entries are resumed in a random order, interleaved with
new ones); the logs per entry must be equal (`unwind_harness`). The outputs validate and the
functions that cannot suspend keep their bytes.
"""

from __future__ import annotations

import struct

import pytest
import wasmtime
from unwind_harness import Machine, Transformed, check, transform, validate

from pymeld.codec.core.encode import encode_module
from pymeld.codec.core.model import ExternKind, Limits, MemoryType
from pymeld.codec.core.parse import parse_module
from pymeld.errors import UnsupportedFeature
from pymeld.merge.unwind import add_state_globals, unwind
from support import core_modules, shared_root, wat_to_wasm

HEAD = """(module
  (import "env" "suspend" (func $suspend (param i32) (result i32)))
  (import "env" "log_i32" (func $log (param i32)))
  (import "env" "log_i64" (func $log64 (param i64)))
  (import "env" "log_f32" (func $logf (param f32)))
  (import "env" "log_f64" (func $logd (param f64)))
  (memory 1)  ;; the frames go to memory 1
  (func $s (param i32) (result i32) (call $suspend (local.get 0)))
"""


def module(body: str) -> str:
    return HEAD + body + ")"


def untouched(*names: str) -> object:
    """An `after` check: the functions exported as ``names`` kept their bytes."""

    def after(t: Transformed) -> None:
        before = parse_module(t.original)
        nimp = before.num_imported(ExternKind.FUNC)
        index = {e.name: e.index for e in before.exports if e.kind == ExternKind.FUNC}
        for name in names:
            k = index[name] - nimp
            assert t.module.codes[k].body == before.codes[k].body, name
            assert index[name] not in t.result.transformed

    return after


def entries(name: str, *argss: list[object]) -> list[tuple[str, list[object]]]:
    return [(name, list(a)) for a in argss]


@pytest.mark.parametrize("seed", range(3))
def test_straight_line_values_below_the_arguments(seed: int) -> None:
    """Values of every number type under a call's arguments, and in locals, survive."""
    wat = module("""
  (func (export "run") (param $a i32) (param $b i64) (result f64)
    (local $f f32) (local $d f64) (local $v v128)
    (local.set $f (f32.const 1.5))
    (local.set $v (v128.const i32x4 1 2 3 4))
    (i32.add (local.get $a) (i32.const 1))
    (i64.mul (local.get $b) (i64.const 3))
    (f32.const -2.25)
    (f64.const 6.5)
    (i32x4.splat (local.get $a))
    (call $s (local.get $a))
    (call $log)
    (local.set $v (i32x4.add (local.get $v)))
    (call $log64 (i64x2.extract_lane 0 (local.get $v)))
    (call $log64 (i64x2.extract_lane 1 (local.get $v)))
    (local.set $d)
    (call $logf)
    (call $log64)
    (call $log)
    (call $logd (f64.add (local.get $d) (f64.promote_f32 (local.get $f))))
    (f64.convert_i32_s (call $s (i32.const 2))))
""")
    check(wat, entries("run", [3, 5], [-1, 1 << 40], [7, 0]), seed=seed)


@pytest.mark.parametrize("seed", range(3))
def test_nested_blocks_loops_and_ifs(seed: int) -> None:
    """Suspends inside blocks, loops and if/else with and without results; the values
    outside the blocks are spilled; br/br_if/br_table leave them around the suspends."""
    wat = module("""
  (func (export "run") (param $n i32) (result i32) (local $i i32) (local $acc i64)
    (i64.const 1000)
    (block $out (result i32)
      (loop $top
        (local.set $acc (i64.add (local.get $acc)
          (i64.extend_i32_u (call $s (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $out (i32.const 77) (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.and (local.get $i) (i32.const 1))
          (then (call $log (call $s (i32.const 40))))
          (else (call $log (i32.const 41))))
        (block $a (block $b (block $c
          (br_table $a $b $c (i32.rem_u (local.get $i) (i32.const 3))))
          (call $log (call $s (i32.const 50))) (br $top))
          (call $log (i32.const 51)) (br $top))
        (call $log (i32.const 52))
        (br $top))
      (unreachable))
    (call $log)
    (call $log64 (local.get $acc))
    (i32.wrap_i64 (i64.add (i64.extend_i32_s (if (result i32) (local.get $n)
      (then (call $s (i32.const 60))) (else (i32.const 61)))))))
""")
    check(wat, entries("run", [0], [1], [5], [9]), seed=seed)


@pytest.mark.parametrize("seed", range(3))
def test_multi_value_and_block_params(seed: int) -> None:
    """Blocks and ifs with parameters and several results around suspends; calls that
    return several values; a function returning several values unwinds with zeros."""
    wat = module("""
  (func $two (param $x i32) (result i32 i64)
    (call $s (local.get $x))
    (i64.extend_i32_u (call $s (i32.add (local.get $x) (i32.const 1)))))
  (func (export "run") (param $n i32) (result i32 i64 f32)
    (f32.const 0.5)
    (local.get $n) (i64.const 9)
    (block (param i32 i64) (result i32 i64)
      (call $two (i32.const 3)) (drop) (drop)
      (i64.add (i64.extend_i32_u (call $s (i32.const 7)))))
    (if (param i64) (result i64 i32) (local.get $n)
      (then (call $log (call $s (i32.const 8))) (i32.const 1))
      (else (i32.const 2)))
    (call $log)
    (call $log64)
    (call $log)
    (i32.const 4) (i64.const 5)
    (if (param i32 i64) (result i32 i64) (local.get $n)
      (then (call $log (call $s (i32.const 9)))))
    (call $log64)
    (call $log)
    (call $logf)
    (call $two (local.get $n))
    (f32.const 2.5))
""")
    check(wat, entries("run", [0], [3]), seed=seed)


@pytest.mark.parametrize("seed", range(2))
def test_block_results_survive_a_rewind_through_the_block(seed: int) -> None:
    """A rewind to a call after a block that contains a suspend passes through the block;
    the block's results (junk then) must not overwrite the call's restored arguments."""
    wat = module("""
  (func (export "run") (param $n i32) (result i32)
    (call $s (block (result i32)
      (drop (br_if 0 (i32.const -10) (local.get $n)))
      (drop (call $s (i32.const 1)))
      (i32.const 7))))
""")
    check(wat, entries("run", [1], [0]), seed=seed)


@pytest.mark.parametrize("seed", range(3))
def test_recursion_and_several_call_sites(seed: int) -> None:
    """A recursive function suspending before and after its recursive call: every level
    saves its own frame, resumed level by level."""
    wat = module("""
  (func $fib (export "fib") (param $n i32) (result i64)
    (drop (call $s (local.get $n)))
    (if (result i64) (i32.lt_u (local.get $n) (i32.const 2))
      (then (i64.extend_i32_u (local.get $n)))
      (else
        (i64.add
          (call $fib (i32.sub (local.get $n) (i32.const 1)))
          (i64.mul (i64.extend_i32_u (call $s (i32.const 100)))
            (call $fib (i32.sub (local.get $n) (i32.const 2))))))))
""")
    check(wat, entries("fib", [0], [4], [6], [3]), seed=seed, min_suspends=10)


@pytest.mark.parametrize("seed", range(3))
def test_dead_code_and_returns(seed: int) -> None:
    """Suspend calls in unreachable code stay as they are; return and br to the function
    label out of guarded code, and a suspend as the last thing of the function."""
    wat = module("""
  (func (export "run") (param $n i32) (result i32)
    (block
      (br_if 0 (i32.eqz (local.get $n)))
      (call $log (call $s (i32.const 1)))
      (if (i32.eq (local.get $n) (i32.const 2)) (then (return (call $s (i32.const 2)))))
      (br 1 (i32.const 33))
      (call $log (call $s (i32.const 3)))
      (block (call $log (call $s (i32.const 4)))))
    (if (i32.eq (local.get $n) (i32.const 0)) (then
      (unreachable) (call $s (i32.const 5)) (drop) (block (drop (call $s (i32.const 6))))))
    (call $s (local.get $n)))
  (func (export "trap") (param $n i32) (result i32)
    (drop (call $s (local.get $n)))
    (if (local.get $n) (then unreachable))
    (local.get $n))
""")
    check(wat, entries("run", [1], [2], [3]), seed=seed)


def test_untouched_functions_keep_their_bytes() -> None:
    """Functions that cannot suspend (even ones calling a suspending function's callees, or
    calling the suspending function from dead code) are copied byte for byte."""
    wat = module("""
  (func $leaf (export "leaf") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
  (func $mid (export "mid") (param i32) (result i32)
    (block (result i32) (call $leaf (local.get 0)) (br 0)))
  (func $dead (export "dead") (param i32) (result i32)
    (return (i32.const 1)) (call $s (local.get 0)))
  (func (export "run") (param $n i32) (result i32)
    (i32.add (call $mid (local.get $n)) (call $s (call $leaf (local.get $n)))))
""")
    t = check(
        wat,
        entries("run", [2]) + entries("leaf", [4]) + entries("dead", [1]),
        after=untouched("leaf", "mid"),
    )
    assert t.result.transformed == [5, 9]  # $s and run ($dead: its call is dead code)


@pytest.mark.parametrize("seed", range(2))
def test_call_indirect_may_suspend(seed: int) -> None:
    """A table holding a function that may suspend makes call_indirect of its type a
    suspending call site; the table index is restored on rewind."""
    wat = module("""
  (type $t (func (param i32) (result i32)))
  (table 3 funcref)
  (elem (i32.const 0) $double $s $other)
  (func $double (param i32) (result i32) (i32.add (local.get 0) (local.get 0)))
  (func $other (param i32) (result i32) (call $s (i32.mul (local.get 0) (i32.const 7))))
  (func $f (param i64) (result i64) (local.get 0))
  (func (export "run") (param $k i32) (result i32)
    (i32.const 5)
    (call_indirect (type $t) (local.get $k) (local.get $k))
    (i32.add))
""")
    check(wat, entries("run", [0], [1], [2]), seed=seed, after=untouched())


def test_frames_overflow_traps() -> None:
    """A recursion deeper than the frame buffer traps instead of writing past it."""
    wat = module("""
  (func $deep (export "deep") (param $n i32) (result i32)
    (if (result i32) (local.get $n)
      (then (call $deep (i32.sub (local.get $n) (i32.const 1))))
      (else (call $s (i32.const 0)))))
""")
    check(wat, entries("deep", [10]))
    with pytest.raises(wasmtime.Trap) as trap:
        check(wat, entries("deep", [1000]))  # 1000 frames of 32 bytes > 16 KiB
    assert "unreachable" in str(trap.value) and "deep" in str(trap.value)


def test_a_header_past_its_end_traps() -> None:
    """``current > end`` in the frame buffer's header is not room for a frame."""
    t = transform(
        wat_to_wasm(module("""(func (export "run") (result i32) (call $s (i32.const 1)))"""))
    )
    m = Machine(t.wasm, transformed=True)
    mem = m.exports["unwind.mem"]
    assert isinstance(mem, wasmtime.Memory)
    mem.write(m.store, struct.pack("<II", 4096, 1024), 0)
    with pytest.raises(wasmtime.Trap, match="unreachable"):
        m.run_alone("run", [])  # its suspend unwinds into the buffer at 0


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (
            """(func (export "r") (param externref) (result i32) (call $s (i32.const 1)))""",
            "reference-typed",
        ),
        (
            """(func (export "r") (result i32) (ref.null extern) (call $s (i32.const 1))
                (drop) (ref.is_null))""",
            "live across",
        ),
        (
            """(func (export "r") (result i32) (i32.const 1)
                (loop (param i32) (result i32) (call $s)))""",
            "loop with parameters",
        ),
        ("""(func (export "r") (result i32) (return_call $s (i32.const 1)))""", "tail-calls"),
        (
            """(type $t (func (param i32) (result i32))) (elem declare func $s)
               (func (export "r") (result i32) (call_ref $t (i32.const 1) (ref.func $s)))""",
            "call_ref that may suspend",
        ),
        (
            """(func (export "r") (result i32)
                (block (result funcref) (drop (call $s (i32.const 1))) (ref.null func))
                (drop (call $s (i32.const 2))) (ref.is_null))""",
            "block result of type",
        ),
        (
            """(tag $e) (func (export "r") (result i32)
                (try_table (catch_all 0) (drop (call $s (i32.const 1)))) (i32.const 0))""",
            "exception handling",
        ),
    ],
)
def test_refused_by_name(body: str, what: str) -> None:
    with pytest.raises(UnsupportedFeature, match=what):
        transform(wat_to_wasm(module(body)))


def test_output_is_deterministic() -> None:
    wasm = wat_to_wasm(
        module("""
  (func (export "run") (param $n i32) (result i32)
    (i32.add (local.get $n) (block (result i32) (call $s (local.get $n))))
    (if (result i32) (local.get $n) (then (call $s (i32.const 1))) (else (i32.const 2)))
    (i32.add))
""")
    )
    assert transform(wasm).wasm == transform(wasm).wasm


COMPONENTS = shared_root() / "corpus" / "components"


@pytest.mark.skipif(not COMPONENTS.is_dir(), reason="shared corpus not available")
def test_compiler_output_rewrites_and_validates() -> None:
    """Every core module of the corpus components (but the 36 MB interpreter), with all its
    imports as suspend points, is rewritten into a valid module (C, Rust and Python
    toolchains' code: the typer and the rewrite on real bodies)."""
    rewritten = 0
    seen: set[bytes] = set()
    for f in sorted(COMPONENTS.rglob("*.wasm")):
        if f.stat().st_size > 4_000_000:
            continue
        for _, mb in core_modules(f.read_bytes()):
            if mb in seen:
                continue
            seen.add(mb)
            m = parse_module(mb)
            nimp = m.num_imported(ExternKind.FUNC)
            mem = m.num_memories()
            m.memories.append(MemoryType(Limits(1)))
            result = unwind(m, range(nimp), add_state_globals(m, mem))
            validate(encode_module(m))
            rewritten += len(result.transformed)
    assert rewritten > 500
