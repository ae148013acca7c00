"""Random programs of a callback-lifted (driven) root export beside nested in-module subtasks
and cancellation: the fused component must behave exactly like the original under wasmtime
(merge.asyncroot, issue 11).

Per seed, the leaf C and the middle B of `test_async_nested_property` (callback-lifted tasks
that yield, return, answer TASK_CANCELLED, make async calls of their own and cancel them), and
a root R whose exports are lifted `async` with a callback, so their tasks are driven in-module.
Each R export runs a random program, one op per step of a state machine kept in a per-task
record named by context slot 0: async calls into B's and C's exports (a subtask handle joins a
FIFO of pending ones), `YIELD`s, `WAIT`s for the oldest pending subtask on a set of its own,
`async` cancels of the oldest (kept pending when BLOCKED) and blocking sync calls; then it
WAITs for every subtask left and returns. A third of the programs call `task.return` early and
go on: wasmtime lets the host call return and runs the rest in later calls' event loops (the
fused module keeps such a task in its scheduler); what they do after shows in later results. Ticks of B and C go into every value, so the order
the tasks ran in is part of the results. CI: a few seeds; ``PYMELD_SLOW=1`` runs many more.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from test_async_nested_property import leaf, middle

from support import SLOW, assert_async_program_equivalent

SEEDS = range(60) if SLOW else range(4)
LENGTH = 10
OPS = ("acall", "acall", "acall", "yield", "wait", "wait", "acancel", "scall")


def _op(i: int, op: str, t: int) -> str:
    """Step ``i`` of a root program: go on (`br $top`) or return a callback code."""
    if op == "acall":
        return f"""(local.set $r (call $a{t} (i32.add (i32.load offset=16 (local.get $p))
            (i32.const {i})) (i32.add (local.get $p) (i32.const {32 + 4 * i}))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.ne (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (i32.store offset=64 (i32.add (local.get $p) (i32.shl
              (i32.load offset=12 (local.get $p)) (i32.const 2)))
              (i32.shr_u (local.get $r) (i32.const 4)))
            (i32.store offset=12 (local.get $p) (i32.add (i32.load offset=12 (local.get $p))
              (i32.const 1)))))
          (br $top)"""
    if op == "scall":
        return f"""(call $fold (local.get $p) (call $s{t} (i32.add
            (i32.load offset=16 (local.get $p)) (i32.const {i}))))
          (br $top)"""
    if op == "yield":
        return "(return (i32.const 1))"
    if op == "return":  # return early, folding what the task did after into `$after`
        return """(i32.store offset=28 (local.get $p) (i32.const 1))
          (call $task.return (i32.add (call $final (local.get $p)) (global.get $after)))
          (br $top)"""
    if op == "wait":
        return """(br_if $top (i32.ge_u (i32.load offset=8 (local.get $p))
            (i32.load offset=12 (local.get $p))))
          (return (call $wait_oldest (local.get $p)))"""
    assert op == "acancel"
    return """(br_if $top (i32.ge_u (i32.load offset=8 (local.get $p))
            (i32.load offset=12 (local.get $p))))
          (local.set $h (call $oldest (local.get $p)))
          (local.set $r (call $acancel (local.get $h)))
          (call $fold (local.get $p) (i32.add (local.get $r) (i32.const 11)))
          (if (i32.ne (local.get $r) (i32.const -1)) (then
            (call $drop (local.get $h))
            (i32.store offset=8 (local.get $p) (i32.add (i32.load offset=8 (local.get $p))
              (i32.const 1)))))
          (br $top)"""


def _program(j: int, rng: random.Random, n_targets: int, early: bool) -> str:
    ops = [(rng.choice(OPS), rng.randrange(n_targets)) for _ in range(LENGTH)]
    ret_at = rng.randrange(LENGTH) if early and rng.random() < 0.7 else LENGTH
    if early:
        # Returning early, a task goes on after its host call returned (wasmtime runs the rest
        # in later calls' loops). No blocking sync calls beside such tasks: wasmtime would
        # suspend that stack while the host call returns or other root tasks run, and orders
        # root tasks held meanwhile by thread id; the fused module traps there instead.
        ops = [("acall", t) if op == "scall" else (op, t) for op, t in ops]
    if ret_at < LENGTH:
        ops.insert(ret_at, ("return", 0))
    code = f"""      (func $run{j} (param $p i32) (result i32) (local $r i32) (local $h i32)
        (local $k i32)
        (loop $top
          (local.set $k (i32.load (local.get $p)))
          (i32.store (local.get $p) (i32.add (local.get $k) (i32.const 1)))
          (block $done
"""
    n = len(ops)
    code += "".join(f"          (block $op{i}\n" for i in reversed(range(n)))
    code += f"""          (br_table {" ".join(f"$op{i}" for i in range(n))} $done
            (local.get $k)))
"""
    for i, (op, t) in enumerate(ops):
        code += f"          ;; op {i}: {op} {t}\n          {_op(i, op, t)})\n"
    code += """          ;; done: wait for what is left, then return the folded value
          (if (i32.lt_u (i32.load offset=8 (local.get $p)) (i32.load offset=12 (local.get $p)))
            (then
              (i32.store (local.get $p) (local.get $k))
              (return (call $wait_oldest (local.get $p)))))
          (if (i32.eqz (i32.load offset=28 (local.get $p))) (then
            (call $task.return (call $final (local.get $p)))))
          (global.set $after (i32.add (i32.mul (global.get $after) (i32.const 7))
            (call $final (local.get $p))))
          (return (i32.const 0)))
        (unreachable))"""
    return (
        code
        + f"""
      (func (export "r{j}") (param $n i32) (result i32) (local $p i32)
        (local.set $p (global.get $bump))
        (global.set $bump (i32.add (global.get $bump) (i32.const 128)))
        (i32.store offset=16 (local.get $p) (local.get $n))
        (call $set0 (local.get $p))
        (call $run{j} (local.get $p)))
      (func (export "cb{j}") (param $ev i32) (param $h i32) (param $st i32) (result i32)
        (call $on_event (call $get0) (local.get $ev) (local.get $h) (local.get $st))
        (call $run{j} (call $get0)))"""
    )


def root(rng: random.Random, n_r: int, targets: list[tuple[str, str]]) -> str:
    early = rng.random() < 0.4
    progs = "\n".join(_program(j, rng, len(targets), early) for j in range(n_r))
    lowers = "\n".join(
        f'    (core func $a{t} (canon lower (func $c "e{t}") async '
        f'(memory (core memory $mem "mem"))))\n    (core func $s{t} (canon lower (func $c "e{t}")))'
        for t in range(len(targets))
    )
    imports = "\n".join(
        f'      (import "" "a{t}" (func $a{t} (param i32 i32) (result i32)))\n'
        f'      (import "" "s{t}" (func $s{t} (param i32) (result i32)))'
        for t in range(len(targets))
    )
    withs = " ".join(
        f'(export "a{t}" (func $a{t})) (export "s{t}" (func $s{t}))' for t in range(len(targets))
    )
    ctype = " ".join(
        f'(export "e{t}" (func async (param "n" u32) (result u32)))' for t in range(len(targets))
    )
    lifts = "\n".join(
        f'    (func (export "r{j}") async (param "n" u32) (result u32)\n'
        f'      (canon lift (core func $m "r{j}") async (callback (core func $m "cb{j}"))))'
        for j in range(n_r)
    )
    return f"""(component $R
    (import "c" (instance $c {ctype} (export "ticks" (func (result u32)))))
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
{lowers}
    (core func $ticks (canon lower (func $c "ticks")))
    (core func $task.return (canon task.return (result u32)))
    (core func $new (canon waitable-set.new))
    (core func $wsdrop (canon waitable-set.drop))
    (core func $join (canon waitable.join))
    (core func $drop (canon subtask.drop))
    (core func $acancel (canon subtask.cancel async))
    (core func $get0 (canon context.get i32 0))
    (core func $set0 (canon context.set i32 0))
    (core module $M
      (import "" "mem" (memory 1))
{imports}
      (import "" "ticks" (func $ticks (result i32)))
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "new" (func $new (result i32)))
      (import "" "wsdrop" (func $wsdrop (param i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "drop" (func $drop (param i32)))
      (import "" "acancel" (func $acancel (param i32) (result i32)))
      (import "" "get0" (func $get0 (result i32)))
      (import "" "set0" (func $set0 (param i32)))
      ;; task record: +0 step, +4 acc, +8 head, +12 tail, +16 n, +20 set, +24 waited handle,
      ;; +28 returned, +32.. result slots, +64.. pending subtask handles
      (global $bump (mut i32) (i32.const 256))
      (global $after (mut i32) (i32.const 0))
      (func $fold (param $p i32) (param $v i32)
        (i32.store offset=4 (local.get $p) (i32.add
          (i32.mul (i32.load offset=4 (local.get $p)) (i32.const 3)) (local.get $v))))
      (func $oldest (param $p i32) (result i32)
        (i32.load offset=64 (i32.add (local.get $p)
          (i32.shl (i32.load offset=8 (local.get $p)) (i32.const 2)))))
      (func $wait_oldest (param $p i32) (result i32) (local $ws i32) (local $h i32)
        (local.set $h (call $oldest (local.get $p)))
        (local.set $ws (call $new))
        (call $join (local.get $h) (local.get $ws))
        (i32.store offset=20 (local.get $p) (local.get $ws))
        (i32.store offset=24 (local.get $p) (local.get $h))
        (i32.or (i32.shl (local.get $ws) (i32.const 4)) (i32.const 2)))
      (func $on_event (param $p i32) (param $ev i32) (param $h i32) (param $st i32)
        (if (i32.eqz (local.get $ev)) (then (return)))
        (if (i32.ne (local.get $ev) (i32.const 1)) (then unreachable))
        (if (i32.ne (local.get $h) (i32.load offset=24 (local.get $p))) (then unreachable))
        (call $fold (local.get $p) (i32.add (i32.mul (local.get $h) (i32.const 100))
          (local.get $st)))
        (call $join (local.get $h) (i32.const 0))
        (call $wsdrop (i32.load offset=20 (local.get $p)))
        (call $drop (local.get $h))
        (i32.store offset=8 (local.get $p) (i32.add (i32.load offset=8 (local.get $p))
          (i32.const 1))))
      (func $final (param $p i32) (result i32) (local $i i32) (local $acc i32)
        (local.set $acc (i32.load offset=4 (local.get $p)))
        (block $end (loop $l
          (br_if $end (i32.ge_u (local.get $i) (i32.const {LENGTH})))
          (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 5))
            (i32.load offset=32 (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
        (i32.add (local.get $acc) (i32.mul (call $ticks) (i32.const 13))))
{progs})
    (core instance $m (instantiate $M (with "" (instance
      (export "mem" (memory $mem "mem")) {withs} (export "ticks" (func $ticks))
      (export "task.return" (func $task.return))
      (export "new" (func $new)) (export "wsdrop" (func $wsdrop)) (export "join" (func $join))
      (export "drop" (func $drop)) (export "acancel" (func $acancel))
      (export "get0" (func $get0)) (export "set0" (func $set0))))))
{lifts})"""


def composition(seed: int) -> str:
    rng = random.Random(seed)
    n_c, n_b, n_r = rng.randint(1, 3), rng.randint(1, 2), rng.randint(1, 3)
    c, b = leaf(rng, n_c), middle(rng, n_b, n_c)
    # R calls a random mix of B's and C's exports, seen through R's import "c"
    targets = [("$b", f"b{k}") for k in range(n_b)] + [("$c", f"e{k}") for k in range(n_c)]
    rng.shuffle(targets)
    r = root(rng, n_r, targets)
    into_r = " ".join(
        f'(export "e{t}" (func {inst} "{name}"))' for t, (inst, name) in enumerate(targets)
    )
    actions = [f'(invoke "r{k}" (u32.const {n}))' for n in (1, 5, 9) for k in range(n_r)]
    return (
        f"(component\n  {c}\n  {b}\n  {r}\n"
        "  (instance $c (instantiate $C))\n"
        '  (instance $b (instantiate $B (with "c" (instance $c))))\n'
        f'  (instance $r (instantiate $R (with "c" (instance {into_r} '
        '(export "ticks" (func $c "ticks"))))))\n'
        + "\n".join(f'  (export "r{k}" (func $r "r{k}"))' for k in range(n_r))
        + ")\n"
        + "\n".join(actions)
        + "\n"
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_random_driven_root_programs(
    seed: int, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    assert_async_program_equivalent(
        oracle_py, pymeld, tmp_path, f"driven-{seed}", composition(seed), multi_memory=True
    )
