"""Random stream programs of a callback-lifted (driven) root export: the fused component must
behave exactly like the original under wasmtime (merge.asyncroot beside merge.asyncstream,
issue 11).

The callee C of `test_async_streams_property` (it keeps readable ends, reads them on request
through its own callbacks, drops them), and a root D whose export is lifted `async` with a
callback, so its task is driven in-module. D makes one to three streams of u8 or u32, hands
each readable end to C, then runs a random program, one op per step of a state machine:
writes of 0 to 6 items, cancels of a blocked write, async calls making C read or drop, `YIELD`s
(queued callee work runs first) and `WAIT`s for a blocked write's event on a set of D's (the
driver's wait takes the stream end's event, and C's waiting callbacks run meanwhile). Every
return code, event, handle and copied byte is folded into the result. CI: a few seeds;
Odd seeds instantiate D twice: in-module streams beside root exports of two instances.
``PYMELD_SLOW=1`` runs many more.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from test_async_streams_property import _mix, callee

from support import SLOW, assert_async_program_equivalent

SEEDS = range(60) if SLOW else range(4)
LENGTH = 14


def _step(rng: random.Random, n_streams: int, size: int) -> str:
    i = rng.randrange(n_streams)
    e = f"(i32.const {0x1000 + 16 * i})"
    op = rng.choices(["write", "pump", "wait", "cancel", "drop", "yield"], [5, 5, 3, 2, 1, 2])[0]
    n = rng.randint(0, 6)
    if op == "write":
        off = rng.randrange(0, 24) * size
        return (
            f"(if (i32.eqz (i32.or (i32.load offset=4 {e}) (i32.load offset=8 {e}))) (then\n"
            f"          (local.set $r (call $write (i32.load {e}) (i32.const {0x100 + off}) "
            f"(i32.const {n})))\n          {_mix('(local.get $r)')}\n"
            "          (if (i32.eq (local.get $r) (i32.const -1))\n"
            f"            (then (i32.store offset=4 {e} (i32.const 1))))\n"
            "          (if (i32.eq (i32.and (local.get $r) (i32.const 0xf)) (i32.const 1))\n"
            f"            (then (i32.store offset=8 {e} (i32.const 1))))))"
        )
    if op in ("pump", "drop"):
        call = (
            f"(call $pump (i32.const {i}) (i32.const {n}) (i32.const 0x40))"
            if op == "pump"
            else f"(call $cdrop (i32.const {i}) (i32.const 0x40))"
        )
        return (
            f"(local.set $r {call})\n"
            f"        {_mix('(i32.add (local.get $r) (i32.load (i32.const 0x40)))')}"
        )
    if op == "cancel":
        return (
            f"(if (i32.load offset=4 {e}) (then\n"
            f"          (local.set $r (call $cancel (i32.load {e})))\n"
            f"          {_mix('(local.get $r)')}\n"
            f"          (i32.store offset=4 {e} (i32.const 0))\n"
            "          (if (i32.eq (i32.and (local.get $r) (i32.const 0xf)) (i32.const 1))\n"
            f"            (then (i32.store offset=8 {e} (i32.const 1))))))"
        )
    if op == "yield":
        return "(return (i32.const 1 (; YIELD ;)))"
    # WAIT for the blocked write's event (deadlocks, in both, if nothing reads)
    pump = ""
    if rng.random() < 0.9:  # usually some read of C's is on its way
        pump = (
            f"(drop (call $pump (i32.const {i}) (i32.const {rng.randint(1, 4)}) "
            "(i32.const 0x40)))\n        "
        )
    return (
        f"{pump}(if (i32.load offset=4 {e}) (then\n"
        f"          (call $join (i32.load {e}) (global.get $ws))\n"
        f"          (global.set $waiting {e})\n"
        "          (return (i32.or (i32.const 2) (i32.shl (global.get $ws) (i32.const 4))))))"
    )


def program(rng: random.Random, n_streams: int, size: int) -> str:
    """D's `$run`: the op at step `$step` (then the next), until an op returns a code; after
    the last op every copy is ended, every writable end dropped, and the task returns."""
    steps = [_step(rng, n_streams, size) for _ in range(LENGTH)]
    code = """(func $run (result i32) (local $r i32) (local $k i32)
        (loop $top
          (local.set $k (global.get $step))
          (global.set $step (i32.add (local.get $k) (i32.const 1)))
          (block $done
"""
    code += "".join(f"          (block $op{i}\n" for i in reversed(range(LENGTH)))
    code += f"""          (br_table {" ".join(f"$op{i}" for i in range(LENGTH))} $done
            (local.get $k)))
"""
    for s in steps:
        code += f"          {s}\n          (br $top))\n"
    code += "          ;; done\n"
    for i in range(n_streams):
        e = f"(i32.const {0x1000 + 16 * i})"
        code += (
            f"          (if (i32.load offset=4 {e}) (then "
            f"{_mix('(call $cancel (i32.load ' + e + '))')}))\n"
            f"          (call $dropw (i32.load {e}))\n"
        )
    code += """          (call $ret (i32.add (global.get $acc) (i32.mul (call $total) (i32.const 3))))
          (return (i32.const 0)))
        (unreachable))"""
    return code


def composition(seed: int) -> str:
    rng = random.Random(seed)
    elem, size = rng.choice([("u8", 1), ("u32", 4)])
    n_streams = rng.randint(1, 3)
    attach = []
    for i in range(n_streams):
        e = f"(i32.const {0x1000 + 16 * i})"
        attach.append(
            "(local.set $p (call $snew))\n"
            f"        (i32.store {e} (i32.wrap_i64 (i64.shr_u (local.get $p) (i64.const 32))))\n"
            f"        (i32.store offset=4 {e} (i32.const 0)) (i32.store offset=8 {e} (i32.const 0))\n"
            "        (local.set $r (call $attach (i32.wrap_i64 (local.get $p)) (i32.const 0x40)))\n"
            f"        {_mix('(i32.add (local.get $r) (i32.load (i32.const 0x40)))')}\n"
            f"        {_mix('(i32.load ' + e + ')')}"
        )
    d = f"""(component $D
    (import "c" (instance $c
      (export "attach" (func async (param "s" (stream {elem})) (result u32)))
      (export "pump" (func async (param "i" u32) (param "n" u32) (result u32)))
      (export "drop" (func async (param "i" u32) (result u32)))
      (export "total" (func (result u32)))))
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (type $ST (stream {elem}))
    (core func $snew (canon stream.new $ST))
    (core func $write (canon stream.write $ST async (memory (core memory $mem "mem"))))
    (core func $cancel (canon stream.cancel-write $ST async))
    (core func $dropw (canon stream.drop-writable $ST))
    (core func $new (canon waitable-set.new))
    (core func $join (canon waitable.join))
    (core func $ret (canon task.return (result u32)))
    (core func $attach (canon lower (func $c "attach") async (memory (core memory $mem "mem"))))
    (core func $pump (canon lower (func $c "pump") async (memory (core memory $mem "mem"))))
    (core func $cdrop (canon lower (func $c "drop") async (memory (core memory $mem "mem"))))
    (core func $total (canon lower (func $c "total")))
    (core module $DM
      (import "" "mem" (memory 1))
      (import "" "snew" (func $snew (result i64)))
      (import "" "write" (func $write (param i32 i32 i32) (result i32)))
      (import "" "cancel" (func $cancel (param i32) (result i32)))
      (import "" "dropw" (func $dropw (param i32)))
      (import "" "new" (func $new (result i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "ret" (func $ret (param i32)))
      (import "" "attach" (func $attach (param i32 i32) (result i32)))
      (import "" "pump" (func $pump (param i32 i32 i32) (result i32)))
      (import "" "cdrop" (func $cdrop (param i32 i32) (result i32)))
      (import "" "total" (func $total (result i32)))
      (global $acc (mut i32) (i32.const 0))
      (global $ws (mut i32) (i32.const 0))
      (global $step (mut i32) (i32.const 0))
      (global $waiting (mut i32) (i32.const 0))
      {program(rng, n_streams, size)}
      (func (export "run") (param $seed i32) (result i32) (local $r i32) (local $p i64)
        (local $k i32)
        (block $done (loop $fill
          (i32.store8 (i32.add (i32.const 0x100) (local.get $k))
            (i32.add (i32.mul (local.get $k) (i32.const 7)) (local.get $seed)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $fill (i32.lt_u (local.get $k) (i32.const 128)))))
        (global.set $step (i32.const 0))
        (if (i32.eqz (global.get $ws)) (then (global.set $ws (call $new))))
        {chr(10).join("        " + a for a in attach).strip()}
        (call $run))
      ;; NONE after a YIELD, or the event of the blocked write D WAITs for
      (func (export "cb") (param $ev i32) (param $h i32) (param $p i32) (result i32)
        (local $e i32)
        (if (local.get $ev) (then
          (if (i32.ne (local.get $ev) (i32.const 3 (; STREAM_WRITE ;))) (then unreachable))
          (local.set $e (global.get $waiting))
          (if (i32.ne (local.get $h) (i32.load (local.get $e))) (then unreachable))
          (call $join (local.get $h) (i32.const 0))
          {_mix("(i32.add (i32.mul (local.get $ev) (i32.const 100)) (i32.add (local.get $h) (local.get $p)))")}
          (i32.store offset=4 (local.get $e) (i32.const 0))
          (if (i32.eq (i32.and (local.get $p) (i32.const 0xf)) (i32.const 1))
            (then (i32.store offset=8 (local.get $e) (i32.const 1))))))
        (call $run)))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "snew" (func $snew))
      (export "write" (func $write)) (export "cancel" (func $cancel))
      (export "dropw" (func $dropw)) (export "new" (func $new)) (export "join" (func $join))
      (export "ret" (func $ret)) (export "attach" (func $attach)) (export "pump" (func $pump))
      (export "cdrop" (func $cdrop)) (export "total" (func $total))))))
    (func (export "run") async (param "seed" u32) (result u32)
      (canon lift (core func $dm "run") async (callback (core func $dm "cb")))))"""
    # odd seeds: D instantiated twice (root exports of two instances, each with its own table)
    roots = ["d", "d2"] if seed % 2 else ["d"]
    return (
        "(component\n  "
        + callee(elem, size)
        + "\n  "
        + d
        + "\n  (instance $c (instantiate $C))\n"
        + "".join(f'  (instance ${r} (instantiate $D (with "c" (instance $c))))\n' for r in roots)
        + "".join(f'  (export "run-{r}" (func ${r} "run"))' for r in roots)
        + ")\n"
        + "".join(
            f'(invoke "run-{r}" (u32.const {v}))\n'
            for v in (seed % 200 + 1, seed % 50 + 3)
            for r in roots
        )
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_random_driven_stream_programs(
    seed: int, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    assert_async_program_equivalent(
        oracle_py, pymeld, tmp_path, f"driven-streams-{seed}", composition(seed)
    )
