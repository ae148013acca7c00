"""Random async programs with nested in-module subtasks and cancellation points: the fused
component must behave exactly like the original under wasmtime (merge.asynctask, issue 11).

Per seed: a leaf component C exports callback-lifted `async func`s that YIELD a random number
of times before `task.return` (some keep yielding after it) and answer TASK_CANCELLED in a
random way (`task.cancel`, `task.return`, or one more YIELD first, so the cancel is BLOCKED);
a middle component B exports callback-lifted `async func`s whose tasks run a random sequence of
async calls into C (each started subtask either WAITed for on a set of B's, or cancelled
`async` and, when BLOCKED, waited for), keeping their state in a per-task record named by a
context slot, and answer their own cancellation by cancelling their pending subtask; the root D
runs straight-line random programs of async calls into B and C, sync calls that block, waits
and polls (one subtask per set), and sync or `async` cancels of its oldest pending subtask.
Ticks of C and B go into every value, so the order the tasks ran in is part of the results.
CI: a few seeds; ``PYMELD_SLOW=1`` runs many more.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from support import SLOW, assert_async_program_equivalent

SEEDS = range(60) if SLOW else range(4)
PROGRAMS, LENGTH = 3, 9


def leaf(rng: random.Random, n: int) -> str:
    """Component C: e0.. callback-lifted. ctx0: bits 0-15 value, 16-22 yields left, 23 cancel
    at the next turn, 31 returned."""
    funcs, lifts = [], []
    for k in range(n):
        yields, after, mult = rng.randint(0, 3), rng.choice([0, 0, 1]), rng.randint(1, 9)
        answer = rng.choice(["cancel", "return", "late"])
        on_cancel = {
            "cancel": "(call $task.cancel) (i32.const 0)",
            "return": "(call $task.return (i32.add (i32.const 70000) (global.get $ticks))) "
            "(i32.const 0)",
            "late": "(call $set0 (i32.const 0x800000)) (i32.const 1)",
        }[answer]
        funcs.append(
            f"""      (func $step{k} (result i32) (local $c i32)
        (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
        (local.set $c (call $get0))
        (if (i32.and (local.get $c) (i32.const 0x800000)) (then
          (call $task.cancel) (return (i32.const 0))))
        (if (i32.and (local.get $c) (i32.const 0x7f0000)) (then
          (call $set0 (i32.sub (local.get $c) (i32.const 0x10000)))
          (return (i32.const 1))))
        (if (i32.eqz (i32.and (local.get $c) (i32.const 0x80000000))) (then
          (call $task.return (i32.add
            (i32.mul (i32.and (local.get $c) (i32.const 0xffff)) (i32.const {mult}))
            (i32.mul (global.get $ticks) (i32.const 1000))))
          (call $set0 (i32.or (local.get $c) (i32.const {0x80000000 | (after << 16)})))
          (return (i32.const {1 if after else 0}))))
        (i32.const 0))
      (func (export "e{k}") (param $n i32) (result i32)
        (call $set0 (i32.or (i32.and (local.get $n) (i32.const 0xffff))
          (i32.const {yields << 16})))
        (call $step{k}))
      (func (export "cb{k}") (param $ev i32) (param i32 i32) (result i32)
        (if (i32.eq (local.get $ev) (i32.const 6)) (then
          (global.set $ticks (i32.add (global.get $ticks) (i32.const 100)))
          (return {on_cancel})))
        (if (local.get $ev) (then unreachable))
        (call $step{k}))"""
        )
        lifts.append(
            f"""    (func (export "e{k}") async (param "n" u32) (result u32)
      (canon lift (core func $m "e{k}") async (callback (core func $m "cb{k}"))))"""
        )
    body = "\n".join(funcs)
    return f"""(component $C
    (core func $task.return (canon task.return (result u32)))
    (core func $task.cancel (canon task.cancel))
    (core func $get0 (canon context.get i32 0))
    (core func $set0 (canon context.set i32 0))
    (core module $M
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "task.cancel" (func $task.cancel))
      (import "" "get0" (func $get0 (result i32)))
      (import "" "set0" (func $set0 (param i32)))
      (global $ticks (mut i32) (i32.const 0))
{body}
      (func (export "ticks") (result i32) (global.get $ticks)))
    (core instance $m (instantiate $M (with "" (instance
      (export "task.return" (func $task.return)) (export "task.cancel" (func $task.cancel))
      (export "get0" (func $get0)) (export "set0" (func $set0))))))
{chr(10).join(lifts)}
    (func (export "ticks") (result u32) (canon lift (core func $m "ticks"))))"""


def middle(rng: random.Random, n: int, leaves: int) -> str:
    """Component B: b0.. callback-lifted; each task runs its op sequence from a record at
    ctx0: +0 step, +4 acc, +8 pending subtask, +12 its set, +16 n, +20 result slot."""
    funcs, lifts = [], []
    for j in range(n):
        ops = [(rng.randrange(leaves), rng.choice(["wait", "wait", "acancel"])) for _ in range(3)]
        cases = []
        for i, (t, action) in enumerate(ops):
            pend = (
                "(call $pend (local.get $p) (local.get $h))"
                if action == "wait"
                else """(local.set $s (call $cancel (local.get $h)))
            (call $fold (local.get $p) (i32.add (local.get $s) (i32.const 11)))
            (if (i32.eq (local.get $s) (i32.const -1))
              (then (call $pend (local.get $p) (local.get $h)))
              (else (call $drop (local.get $h)) (br $next)))"""
            )
            cases.append(
                f"""          ;; op {i}: e{t} then {action}
          (local.set $r (call $e{t} (i32.add (i32.load offset=16 (local.get $p)) (i32.const {i}))
            (i32.add (local.get $p) (i32.const 20))))
          (call $fold (local.get $p) (local.get $r))
          (if (i32.eq (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2)) (then
            (call $fold (local.get $p) (i32.load offset=20 (local.get $p))) (br $next)))
          (local.set $h (i32.shr_u (local.get $r) (i32.const 4)))
          {pend}
          (return (i32.or (i32.shl (i32.load offset=12 (local.get $p)) (i32.const 4))
            (i32.const 2)))"""
            )
        funcs.append(_middle_run(j, cases))
        lifts.append(
            f"""    (func (export "b{j}") async (param "n" u32) (result u32)
      (canon lift (core func $m "b{j}") async (callback (core func $m "cb{j}"))))"""
        )
        funcs.append(
            f"""      (func (export "b{j}") (param $n i32) (result i32) (local $p i32)
        (local.set $p (global.get $bump))
        (global.set $bump (i32.add (global.get $bump) (i32.const 32)))
        (i32.store offset=16 (local.get $p) (local.get $n))
        (call $set0 (local.get $p))
        (call $run{j} (local.get $p)))
      (func (export "cb{j}") (param $ev i32) (param $h i32) (param $st i32) (result i32)
        (call $on_event (call $get0) (local.get $ev) (local.get $h) (local.get $st))
        (if (i32.eq (local.get $ev) (i32.const 6)) (then (return (i32.const 0))))
        (call $run{j} (call $get0)))"""
        )
    lowers = "\n".join(
        f'    (core func $e{t} (canon lower (func $c "e{t}") async '
        '(memory (core memory $mem "mem"))))'
        for t in range(leaves)
    )
    imports = "\n".join(
        f'      (import "" "e{t}" (func $e{t} (param i32 i32) (result i32)))' for t in range(leaves)
    )
    withs = " ".join(f'(export "e{t}" (func $e{t}))' for t in range(leaves))
    ctype = " ".join(
        f'(export "e{t}" (func async (param "n" u32) (result u32)))' for t in range(leaves)
    )
    return f"""(component $B
    (import "c" (instance $c {ctype}))
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
{lowers}
    (core func $task.return (canon task.return (result u32)))
    (core func $task.cancel (canon task.cancel))
    (core func $new (canon waitable-set.new))
    (core func $wsdrop (canon waitable-set.drop))
    (core func $join (canon waitable.join))
    (core func $drop (canon subtask.drop))
    (core func $cancel (canon subtask.cancel async))
    (core func $get0 (canon context.get i32 0))
    (core func $set0 (canon context.set i32 0))
    (core module $M
      (import "" "mem" (memory 1))
{imports}
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "task.cancel" (func $task.cancel))
      (import "" "new" (func $new (result i32)))
      (import "" "wsdrop" (func $wsdrop (param i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "drop" (func $drop (param i32)))
      (import "" "cancel" (func $cancel (param i32) (result i32)))
      (import "" "get0" (func $get0 (result i32)))
      (import "" "set0" (func $set0 (param i32)))
      (global $bump (mut i32) (i32.const 64))
      (global $ticks (mut i32) (i32.const 0))
      (func $fold (param $p i32) (param $v i32)
        (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
        (i32.store offset=4 (local.get $p) (i32.add
          (i32.mul (i32.load offset=4 (local.get $p)) (i32.const 3)) (local.get $v))))
      (func $pend (param $p i32) (param $h i32) (local $ws i32)
        (local.set $ws (call $new))
        (call $join (local.get $h) (local.get $ws))
        (i32.store offset=8 (local.get $p) (local.get $h))
        (i32.store offset=12 (local.get $p) (local.get $ws)))
      ;; an event for the pending subtask, or this task's cancellation
      (func $on_event (param $p i32) (param $ev i32) (param $h i32) (param $st i32)
        (local $s i32)
        (if (i32.eq (local.get $ev) (i32.const 6)) (then
          (local.set $h (i32.load offset=8 (local.get $p)))
          (call $join (local.get $h) (i32.const 0))
          (local.set $s (call $cancel (local.get $h)))
          (if (i32.ne (local.get $s) (i32.const -1)) (then
            (call $drop (local.get $h))
            (call $wsdrop (i32.load offset=12 (local.get $p)))))
          (call $task.cancel)
          (return)))
        (if (i32.ne (local.get $ev) (i32.const 1)) (then unreachable))
        (if (i32.ne (local.get $h) (i32.load offset=8 (local.get $p))) (then unreachable))
        (call $fold (local.get $p) (i32.add (i32.mul (local.get $h) (i32.const 100))
          (local.get $st)))
        (call $fold (local.get $p) (i32.load offset=20 (local.get $p)))
        (i32.store offset=20 (local.get $p) (i32.const 0))
        (call $drop (local.get $h))
        (call $wsdrop (i32.load offset=12 (local.get $p))))
{chr(10).join(funcs)})
    (core instance $m (instantiate $M (with "" (instance
      (export "mem" (memory $mem "mem")) {withs}
      (export "task.return" (func $task.return)) (export "task.cancel" (func $task.cancel))
      (export "new" (func $new)) (export "wsdrop" (func $wsdrop)) (export "join" (func $join))
      (export "drop" (func $drop)) (export "cancel" (func $cancel))
      (export "get0" (func $get0)) (export "set0" (func $set0))))))
{chr(10).join(lifts)})"""


def _middle_run(j: int, cases: list[str]) -> str:
    """B's state machine for export ``j``: op ``step`` (then step+1), each op returning WAIT
    or going on; after the last op, `task.return` of the folded value and EXIT."""
    n = len(cases)
    code = f"""      (func $run{j} (param $p i32) (result i32) (local $r i32) (local $h i32) (local $s i32)
        (local $k i32)
        (loop $top
          (local.set $k (i32.load (local.get $p)))
          (i32.store (local.get $p) (i32.add (local.get $k) (i32.const 1)))
          (block $next
            (block $done
"""
    code += "".join(f"              (block $op{i}\n" for i in reversed(range(n)))
    code += f"""                (br_table {" ".join(f"$op{i}" for i in range(n))} $done
                  (local.get $k)))
"""
    for i, case in enumerate(cases):
        code += f"{case}\n              )\n" if i < n - 1 else f"{case}\n"
    code += """            )
            ;; done: return the folded value
            (call $task.return (i32.load offset=4 (local.get $p)))
            (return (i32.const 0)))
          (br $top))
        (unreachable))"""
    return code


def root(rng: random.Random, b_exports: int, c_exports: int) -> str:
    targets = [("b", k) for k in range(b_exports)] + [("c", k) for k in range(c_exports)]
    funcs, lifts, exports = [], [], []
    for p in range(PROGRAMS):
        out = []
        for i in range(LENGTH):
            op = rng.choice(["acall", "acall", "acall", "scall", "wait", "poll", "cancel"])
            src, k = rng.choice(targets)
            slot = 64 + 4 * i
            if op == "acall":
                out.append(
                    f"""(local.set $r (call $a_{src}{k} (i32.add (local.get $n) (i32.const {i}))
          (i32.const {slot})))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 3)) (local.get $r)))
        (if (i32.eq (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2))
          (then (local.set $acc (i32.add (local.get $acc) (i32.load (i32.const {slot})))))
          (else
            (i32.store (i32.add (i32.const 512) (i32.shl (local.get $tail) (i32.const 2)))
              (i32.shr_u (local.get $r) (i32.const 4)))
            (local.set $tail (i32.add (local.get $tail) (i32.const 1)))))"""
                )
            elif op == "scall":
                out.append(
                    f"""(local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 3))
          (call $s_{src}{k} (i32.add (local.get $n) (i32.const {i})))))"""
                )
            elif op in ("wait", "poll"):
                out.append(
                    f"""(if (i32.lt_u (local.get $head) (local.get $tail)) (then
          (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 7))
            (call $settle (i32.load (i32.add (i32.const 512)
              (i32.shl (local.get $head) (i32.const 2)))) (i32.const {int(op == "wait")}))))
          (if (i32.load (i32.const 8)) (then
            (local.set $head (i32.add (local.get $head) (i32.const 1)))))))"""
                )
            else:
                sync = rng.random() < 0.5
                out.append(
                    f"""(if (i32.lt_u (local.get $head) (local.get $tail)) (then
          (local.set $h (i32.load (i32.add (i32.const 512)
            (i32.shl (local.get $head) (i32.const 2)))))
          (local.set $r (call ${"cancel" if sync else "acancel"} (local.get $h)))
          (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 11)) (local.get $r)))
          (if (i32.ne (local.get $r) (i32.const -1)) (then
            (call $drop (local.get $h))
            (local.set $head (i32.add (local.get $head) (i32.const 1)))))))"""
                )
        out.append(
            """(block $done (loop $drain
          (br_if $done (i32.ge_u (local.get $head) (local.get $tail)))
          (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 7))
            (call $settle (i32.load (i32.add (i32.const 512)
              (i32.shl (local.get $head) (i32.const 2)))) (i32.const 1))))
          (local.set $head (i32.add (local.get $head) (i32.const 1)))
          (br $drain)))"""
        )
        for i in range(LENGTH):
            out.append(
                f"(local.set $acc (i32.add (local.get $acc) (i32.load (i32.const {64 + 4 * i}))))"
            )
            out.append(f"(i32.store (i32.const {64 + 4 * i}) (i32.const 0))")
        out.append(
            "(local.set $acc (i32.add (local.get $acc) (i32.mul (call $ticks) (i32.const 13))))"
        )
        funcs.append(
            f'      (func (export "p{p}") (param $n i32) (result i32) (local $acc i32) '
            f"(local $r i32) (local $h i32) (local $head i32) (local $tail i32)\n        "
            + "\n        ".join(out)
            + "\n        (local.get $acc))"
        )
        lifts.append(
            f'    (func (export "p{p}") async (param "n" u32) (result u32) '
            f'(canon lift (core func $dm "p{p}")))'
        )
        exports.append(f'  (export "p{p}" (func $d "p{p}"))')
    lowers, core_imports, withs = [], [], []
    for src, k in targets:
        inst, name = ("$b", f"b{k}") if src == "b" else ("$c", f"e{k}")
        lowers.append(
            f'    (core func $a_{src}{k} (canon lower (func {inst} "{name}") async '
            '(memory (core memory $mem "mem"))))\n'
            f'    (core func $s_{src}{k} (canon lower (func {inst} "{name}")))'
        )
        core_imports.append(
            f'      (import "" "a_{src}{k}" (func $a_{src}{k} (param i32 i32) (result i32)))\n'
            f'      (import "" "s_{src}{k}" (func $s_{src}{k} (param i32) (result i32)))'
        )
        withs.append(
            f'(export "a_{src}{k}" (func $a_{src}{k})) (export "s_{src}{k}" (func $s_{src}{k}))'
        )
    sig = '(func async (param "n" u32) (result u32))'
    btype = " ".join(f'(export "b{k}" {sig})' for k in range(b_exports))
    ctype = " ".join(f'(export "e{k}" {sig})' for k in range(c_exports))
    return f"""(component $D
    (import "b" (instance $b {btype}))
    (import "c" (instance $c {ctype} (export "ticks" (func (result u32)))))
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
{chr(10).join(lowers)}
    (core func $ticks (canon lower (func $c "ticks")))
    (core func $new (canon waitable-set.new))
    (core func $wsdrop (canon waitable-set.drop))
    (core func $join (canon waitable.join))
    (core func $wait (canon waitable-set.wait (memory (core memory $mem "mem"))))
    (core func $poll (canon waitable-set.poll (memory (core memory $mem "mem"))))
    (core func $drop (canon subtask.drop))
    (core func $cancel (canon subtask.cancel))
    (core func $acancel (canon subtask.cancel async))
    (core module $DM
      (import "" "mem" (memory 1))
      (import "" "ticks" (func $ticks (result i32)))
      (import "" "new" (func $new (result i32)))
      (import "" "wsdrop" (func $wsdrop (param i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "wait" (func $wait (param i32 i32) (result i32)))
      (import "" "poll" (func $poll (param i32 i32) (result i32)))
      (import "" "drop" (func $drop (param i32)))
      (import "" "cancel" (func $cancel (param i32) (result i32)))
      (import "" "acancel" (func $acancel (param i32) (result i32)))
{chr(10).join(core_imports)}
      ;; wait for (or poll) subtask h in a set of its own; mem[8] = 1 when it was settled
      (func $settle (param $h i32) (param $block i32) (result i32) (local $ws i32) (local $e i32)
        (local.set $ws (call $new))
        (call $join (local.get $h) (local.get $ws))
        (local.set $e (if (result i32) (local.get $block)
          (then (call $wait (local.get $ws) (i32.const 0)))
          (else (call $poll (local.get $ws) (i32.const 0)))))
        (call $join (local.get $h) (i32.const 0))
        (call $wsdrop (local.get $ws))
        (i32.store (i32.const 8) (i32.ne (local.get $e) (i32.const 0)))
        (if (local.get $e) (then (call $drop (local.get $h))))
        (i32.add (i32.mul (local.get $e) (i32.const 5))
          (i32.add (i32.load (i32.const 0)) (i32.load (i32.const 4)))))
{chr(10).join(funcs)})
    (core instance $dm (instantiate $DM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "ticks" (func $ticks))
      (export "new" (func $new)) (export "wsdrop" (func $wsdrop)) (export "join" (func $join))
      (export "wait" (func $wait)) (export "poll" (func $poll)) (export "drop" (func $drop))
      (export "cancel" (func $cancel)) (export "acancel" (func $acancel))
      {" ".join(withs)}))))
{chr(10).join(lifts)})"""


def composition(seed: int) -> str:
    rng = random.Random(seed)
    n_c, n_b = rng.randint(1, 3), rng.randint(1, 2)
    c, b, d = leaf(rng, n_c), middle(rng, n_b, n_c), root(rng, n_b, n_c)
    actions = [f'(invoke "p{k}" (u32.const {n}))' for n in (1, 5) for k in range(PROGRAMS)]
    return (
        f"(component\n  {c}\n  {b}\n  {d}\n"
        "  (instance $c (instantiate $C))\n"
        '  (instance $b (instantiate $B (with "c" (instance $c))))\n'
        '  (instance $d (instantiate $D (with "b" (instance $b)) (with "c" (instance $c))))\n'
        + "\n".join(f'  (export "p{k}" (func $d "p{k}"))' for k in range(PROGRAMS))
        + ")\n"
        + "\n".join(actions)
        + "\n"
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_random_nested_async_programs(
    seed: int, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    assert_async_program_equivalent(
        oracle_py, pymeld, tmp_path, f"nested-{seed}", composition(seed), multi_memory=True
    )
