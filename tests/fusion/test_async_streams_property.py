"""Random stream programs between in-module tasks: the fused component must behave exactly like
the original (merge.asyncstream, issue 11 stage 3).

Per seed, the caller D (the instance the host calls) makes one to three streams of u8 or u32,
hands each readable end to the callee C through an async call (C keeps it and a waitable set
of its own per stream), then runs a random straight-line program: writes of 0 to 6 items,
cancels of a blocked write, waits for a blocked write's event (the host-called stack blocks
and C's waiting callbacks run), async calls making C read 0 to 6 items (a read that blocks
leaves C's task waiting on its set; its callback folds the event and the bytes it got in),
and calls making C drop a readable end. Both sides branch at run time on what the operations
returned (a busy end is not used again until its copy ended; an end whose other side was seen
dropped is not written), so programs exercise partial and zero-length copies, merged events,
drops and cancels rather than trapping early; a program that deadlocks traps in both. Every
return code, event, handle and copied byte is folded into the results, which the wast oracle
compares (original vs `fuse --component`). CI: a few seeds; ``PYMELD_SLOW=1`` runs many more.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from support import SLOW, assert_async_program_equivalent

SEEDS = range(60) if SLOW else range(4)
LENGTH = 14


def _mix(expr: str) -> str:
    return f"(global.set $acc (i32.add (i32.mul (global.get $acc) (i32.const 31)) {expr}))"


SETTLE = """      ;; after a read of stream entry $e returned $r: WAIT when it blocked, read for real after a
      ;; zero-length read saw the writer ready, note a dropped writer; the callback code
      (func $settle (param $e i32) (param $buf i32) (param $r i32) (result i32)
        (if (i32.eqz (local.get $r)) (then
          (memory.fill (local.get $buf) (i32.const 0) (i32.const 32))
          (local.set $r (call $read (i32.load (local.get $e)) (local.get $buf) (i32.const 4)))
          {mix_r}))
        (if (i32.eq (local.get $r) (i32.const -1)) (then
          (i32.store offset=8 (local.get $e) (i32.const 1))
          (call $join (i32.load (local.get $e)) (i32.load offset=4 (local.get $e)))
          (return (i32.or (i32.const 2) (i32.shl (i32.load offset=4 (local.get $e)) (i32.const 4))))))
        (if (i32.eq (i32.and (local.get $r) (i32.const 0xf)) (i32.const 1))
          (then (i32.store offset=12 (local.get $e) (i32.const 1))))
        (i32.const 0))
      (func (export "pump") (param $i i32) (param $c i32) (result i32)
        (local $e i32) (local $r i32) (local $buf i32)
        (local.set $e (i32.add (i32.const 0x1000) (i32.shl (local.get $i) (i32.const 5))))
        (local.set $buf (i32.add (i32.const 0x2000) (i32.shl (local.get $i) (i32.const 6))))
        (if (i32.or (i32.load offset=8 (local.get $e)) (i32.load offset=12 (local.get $e)))
          (then (call $ret (i32.const 0xeeee)) (return (i32.const 0))))
        (memory.fill (local.get $buf) (i32.const 0) (i32.const 32))
        (local.set $r (call $read (i32.load (local.get $e)) (local.get $buf) (local.get $c)))
        {mix_r}
        (call $ret (local.get $r))
        (call $settle (local.get $e) (local.get $buf) (local.get $r)))
      (func (export "pump_cb") (param $ev i32) (param $h i32) (param $p i32) (result i32)
        (local $i i32) (local $e i32) (local $buf i32)
        (block $found (loop $next
          (local.set $e (i32.add (i32.const 0x1000) (i32.shl (local.get $i) (i32.const 5))))
          (br_if $found (i32.eq (i32.load (local.get $e)) (local.get $h)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $next (i32.lt_u (local.get $i) (global.get $n)))
          unreachable))
        (local.set $buf (i32.add (i32.const 0x2000) (i32.shl (local.get $i) (i32.const 6))))
        {mix_ev}
        (i32.store offset=8 (local.get $e) (i32.const 0))
        (call $join (local.get $h) (i32.const 0))
        (call $settle (local.get $e) (local.get $buf) (local.get $p)))
"""


def callee(elem: str, size: int) -> str:
    """C: `attach` keeps a readable end (and a set for it); `pump i n` reads n items of stream
    i (a blocked read WAITs on the stream's set); `drop i` drops the end; `total` reports."""
    checksum = "(call $sum (local.get $buf))"
    mix_r = _mix("(i32.add (local.get $r) " + checksum + ")")
    mix_ev = _mix(
        "(i32.add (i32.add (i32.mul (local.get $ev) (i32.const 1000)) (local.get $p)) "
        + checksum
        + ")"
    )
    settle = SETTLE.format(mix_r=mix_r, mix_ev=mix_ev)
    return f"""(component $C
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (type $ST (stream {elem}))
    (core func $ret (canon task.return (result u32)))
    (core func $new (canon waitable-set.new))
    (core func $join (canon waitable.join))
    (core func $read (canon stream.read $ST async (memory (core memory $mem "mem"))))
    (core func $dropr (canon stream.drop-readable $ST))
    (core module $CM
      (import "" "mem" (memory 1))
      (import "" "ret" (func $ret (param i32)))
      (import "" "new" (func $new (result i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "read" (func $read (param i32 i32 i32) (result i32)))
      (import "" "dropr" (func $dropr (param i32)))
      (global $acc (mut i32) (i32.const 0))
      (global $n (mut i32) (i32.const 0))
      ;; per stream i at 0x1000 + 32*i: reader, set, busy, no more reads, dropped
      (func $sum (param $p i32) (result i32)
        (i32.add (i32.add (i32.load (local.get $p)) (i32.mul (i32.load offset=4 (local.get $p))
          (i32.const 3))) (i32.add (i32.mul (i32.load offset=8 (local.get $p)) (i32.const 5))
          (i32.mul (i32.load offset=12 (local.get $p)) (i32.const 7)))))
      (func (export "attach") (param $rx i32) (result i32)
        (local $e i32)
        (local.set $e (i32.add (i32.const 0x1000) (i32.shl (global.get $n) (i32.const 5))))
        (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (i32.store (local.get $e) (local.get $rx))
        (i32.store offset=4 (local.get $e) (call $new))
        (call $ret (i32.add (local.get $rx) (i32.shl (i32.load offset=4 (local.get $e)) (i32.const 8))))
        (i32.const 0))
{settle}      (func (export "drop") (param $i i32) (result i32)
        (local $e i32)
        (local.set $e (i32.add (i32.const 0x1000) (i32.shl (local.get $i) (i32.const 5))))
        (if (i32.or (i32.load offset=8 (local.get $e)) (i32.load offset=16 (local.get $e)))
          (then (call $ret (i32.const 0xdddd)) (return (i32.const 0))))
        (call $dropr (i32.load (local.get $e)))
        (i32.store offset=16 (local.get $e) (i32.const 1))
        (i32.store offset=12 (local.get $e) (i32.const 1))
        (call $ret (i32.const 1))
        (i32.const 0))
      (func (export "total") (result i32) (global.get $acc)))
    (core instance $cm (instantiate $CM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "ret" (func $ret)) (export "new" (func $new))
      (export "join" (func $join)) (export "read" (func $read)) (export "dropr" (func $dropr))))))
    (func (export "attach") async (param "s" (stream {elem})) (result u32)
      (canon lift (core func $cm "attach") async (callback (core func $cm "pump_cb"))))
    (func (export "pump") async (param "i" u32) (param "n" u32) (result u32)
      (canon lift (core func $cm "pump") async (callback (core func $cm "pump_cb"))))
    (func (export "drop") async (param "i" u32) (result u32)
      (canon lift (core func $cm "drop") async (callback (core func $cm "pump_cb"))))
    (func (export "total") (result u32) (canon lift (core func $cm "total"))))"""


def stream_op(rng: random.Random, n_streams: int, size: int, slots: int, out: list[str]) -> None:
    """One random operation of D on one of its streams (write from one of ``slots`` buffer
    offsets, pump, wait, cancel, drop), appended to ``out``; state per stream i at
    0x1000 + 16*i: tx, busy, done."""
    i = rng.randrange(n_streams)
    e = f"(i32.const {0x1000 + 16 * i})"
    op = rng.choices(["write", "pump", "wait", "cancel", "drop"], [5, 5, 2, 2, 1])[0]
    n = rng.randint(0, 6)
    if op == "write":
        off = rng.randrange(0, slots) * size
        out.append(
            f"(if (i32.eqz (i32.or (i32.load offset=4 {e}) (i32.load offset=8 {e}))) (then\n"
            f"          (local.set $r (call $write (i32.load {e}) (i32.const {0x100 + off}) "
            f"(i32.const {n})))\n          {_mix('(local.get $r)')}\n"
            "          (if (i32.eq (local.get $r) (i32.const -1))\n"
            f"            (then (i32.store offset=4 {e} (i32.const 1))))\n"
            "          (if (i32.eq (i32.and (local.get $r) (i32.const 0xf)) (i32.const 1))\n"
            f"            (then (i32.store offset=8 {e} (i32.const 1))))))"
        )
    elif op == "pump":
        out.append(
            f"(local.set $r (call $pump (i32.const {i}) (i32.const {n}) (i32.const 0x40)))\n"
            f"        {_mix('(i32.add (local.get $r) (i32.load (i32.const 0x40)))')}"
        )
    elif op == "drop":
        out.append(
            f"(local.set $r (call $cdrop (i32.const {i}) (i32.const 0x40)))\n"
            f"        {_mix('(i32.add (local.get $r) (i32.load (i32.const 0x40)))')}"
        )
    elif op == "cancel":
        out.append(
            f"(if (i32.load offset=4 {e}) (then\n"
            f"          (local.set $r (call $cancel (i32.load {e})))\n"
            f"          {_mix('(local.get $r)')}\n"
            f"          (i32.store offset=4 {e} (i32.const 0))\n"
            "          (if (i32.eq (i32.and (local.get $r) (i32.const 0xf)) (i32.const 1))\n"
            f"            (then (i32.store offset=8 {e} (i32.const 1))))))"
        )
    else:  # wait for the blocked write's event (deadlocks, in both, if nothing reads)
        if rng.random() < 0.9:  # usually some read of C's is on its way
            out.append(
                f"(drop (call $pump (i32.const {i}) (i32.const {rng.randint(1, 4)}) "
                "(i32.const 0x40)))"
            )
        out.append(
            f"(if (i32.load offset=4 {e}) (then\n"
            f"          (call $join (i32.load {e}) (global.get $ws))\n"
            "          (local.set $r (call $wait (global.get $ws) (i32.const 0x48)))\n"
            f"          (call $join (i32.load {e}) (i32.const 0))\n"
            f"          {_mix('(i32.add (i32.mul (local.get $r) (i32.const 100)) (i32.add (i32.load (i32.const 0x48)) (i32.load (i32.const 0x4c))))')}\n"
            f"          (i32.store offset=4 {e} (i32.const 0))\n"
            "          (if (i32.eq (i32.and (i32.load (i32.const 0x4c)) (i32.const 0xf)) "
            "(i32.const 1))\n"
            f"            (then (i32.store offset=8 {e} (i32.const 1))))))"
        )


def stream_epilogue(n_streams: int, out: list[str]) -> None:
    """End of D: every copy ended, every writable end dropped."""
    for i in range(n_streams):
        e = f"(i32.const {0x1000 + 16 * i})"
        out.append(
            f"(if (i32.load offset=4 {e}) (then {_mix('(call $cancel (i32.load ' + e + '))')}))\n"
            f"        (call $dropw (i32.load {e}))"
        )


def program(rng: random.Random, n_streams: int, size: int) -> str:
    """D's straight-line operations; state per stream i at 0x1000 + 16*i: tx, busy, done."""
    out = []
    for _ in range(LENGTH):
        stream_op(rng, n_streams, size, 24, out)
    stream_epilogue(n_streams, out)
    return "\n        ".join(out)


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
    (core func $wait (canon waitable-set.wait (memory (core memory $mem "mem"))))
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
      (import "" "wait" (func $wait (param i32 i32) (result i32)))
      (import "" "attach" (func $attach (param i32 i32) (result i32)))
      (import "" "pump" (func $pump (param i32 i32 i32) (result i32)))
      (import "" "cdrop" (func $cdrop (param i32 i32) (result i32)))
      (import "" "total" (func $total (result i32)))
      (global $acc (mut i32) (i32.const 0))
      (global $ws (mut i32) (i32.const 0))
      (func (export "run") (result i32) (local $r i32) (local $p i64) (local $k i32)
        (block $done (loop $fill
          (i32.store8 (i32.add (i32.const 0x100) (local.get $k))
            (i32.add (i32.mul (local.get $k) (i32.const 7)) (i32.const {seed % 200 + 1})))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $fill (i32.lt_u (local.get $k) (i32.const 128)))))
        (global.set $ws (call $new))
        {chr(10).join("        " + a for a in attach).strip()}
        {program(rng, n_streams, size)}
        (i32.add (global.get $acc) (i32.mul (call $total) (i32.const 3)))))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "snew" (func $snew))
      (export "write" (func $write)) (export "cancel" (func $cancel))
      (export "dropw" (func $dropw)) (export "new" (func $new)) (export "join" (func $join))
      (export "wait" (func $wait)) (export "attach" (func $attach)) (export "pump" (func $pump))
      (export "cdrop" (func $cdrop)) (export "total" (func $total))))))
    (func (export "run") async (result u32) (canon lift (core func $dm "run"))))"""
    return (
        "(component\n  "
        + callee(elem, size)
        + "\n  "
        + d
        + "\n  (instance $c (instantiate $C))\n"
        + '  (instance $d (instantiate $D (with "c" (instance $c))))\n'
        + '  (export "run" (func $d "run")))\n'
        + '(invoke "run")\n'
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_random_stream_programs(
    seed: int, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    assert_async_program_equivalent(
        oracle_py, pymeld, tmp_path, f"streams-{seed}", composition(seed)
    )
