"""Random programs whose waitable sets get several subtask events at once: the fused module
must deliver them in wasmtime's order, its store-wide table ids (merge.asyncids).

Per seed, callee components (`test_async_tasks_property.callee`: callback-lifted `async func`s
that YIELD a random number of times before and after `task.return`, and a sync-lifted `s`)
and, for half the seeds, a helper E the callees call synchronously at every step, which makes
and drops waitable sets inside those calls (ids taken under deferred sync-call frames). The
caller D runs random straight-line programs in several host calls: groups of two to four async
calls joined to one new set (a sync call may follow, during which the callees go on, so
several return in the same round), then waits on the set until every subtask's event came,
folding each event's handle and status in; sets made and dropped in random order between
(which reorders the runtime's free list); single sync calls (a sync lift: a deferred frame; an
async lift: a task) and async calls of the sync-lifted `s` (a task whose id is never freed);
and, for half the seeds, async calls of a yielding callee K cancelled later (`subtask.cancel`
async, maybe after other ops ran: K answers TASK_CANCELLED with `task.cancel` and EXIT, with
`task.cancel` and a later EXIT, with `task.return`, or by yielding first so that the cancel is
BLOCKED and its event awaited; the canceller's suspension takes an id of its own).
Run under the wast oracle (original vs `fuse --component`). CI: a few seeds; ``PYMELD_SLOW=1``
runs many more. Reversing the order `_ready` picks makes most seeds diverge.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from test_async_tasks_property import (
    SET_IMPORTS,
    SET_LOWERS,
    SET_WITHS,
    Callees,
    component_text,
)

from support import SLOW, assert_async_program_equivalent

SEEDS = range(60) if SLOW else range(4)
PROGRAMS, LENGTH = 2, 8

HELPER = """(component $E
    (core func $new (canon waitable-set.new))
    (core func $wsdrop (canon waitable-set.drop))
    (core module $M
      (import "" "new" (func $new (result i32)))
      (import "" "wsdrop" (func $wsdrop (param i32)))
      (global $n (mut i32) (i32.const 0))
      (global $keep (mut i32) (i32.const 0))
      (func (export "h") (param $x i32) (result i32)
        (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (if (i32.and (global.get $n) (i32.const 1)) (then
          (if (global.get $keep) (then (call $wsdrop (global.get $keep))))
          (global.set $keep (call $new))))
        (i32.add (i32.mul (global.get $n) (i32.const 2)) (i32.and (local.get $x) (i32.const 1)))))
    (core instance $m (instantiate $M (with "" (instance
      (export "new" (func $new)) (export "wsdrop" (func $wsdrop))))))
    (func (export "h") (param "x" u32) (result u32) (canon lift (core func $m "h"))))"""

CANCELLEE = """(component $K
    (core func $task.return (canon task.return (result u32)))
    (core func $task.cancel (canon task.cancel))
    (core func $get0 (canon context.get i32 0))
    (core func $set0 (canon context.set i32 0))
    (core module $M
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "task.cancel" (func $task.cancel))
      (import "" "get0" (func $get0 (result i32)))
      (import "" "set0" (func $set0 (param i32)))
      (func (export "y") (param $n i32) (result i32)
        (call $set0 (i32.and (local.get $n) (i32.const 3))) (i32.const 1))
      (func (export "y-cb") (param $ev i32) (param i32 i32) (result i32) (local $c i32)
        (local.set $c (call $get0))
        (if (i32.eq (local.get $ev) (i32.const 6)) (then
          (if (i32.eqz (local.get $c)) (then (call $task.cancel) (return (i32.const 0))))
          (if (i32.eq (local.get $c) (i32.const 1)) (then
            (call $task.cancel) (call $set0 (i32.const 8)) (return (i32.const 1))))
          (if (i32.eq (local.get $c) (i32.const 2)) (then
            (call $task.return (i32.const 42)) (return (i32.const 0))))
          (call $set0 (i32.const 9)) (return (i32.const 1))))
        (if (local.get $ev) (then unreachable))
        (if (i32.eq (local.get $c) (i32.const 8)) (then (return (i32.const 0))))
        (if (i32.eq (local.get $c) (i32.const 9)) (then
          (call $task.cancel) (return (i32.const 0))))
        (i32.const 1)))
    (core instance $m (instantiate $M (with "" (instance
      (export "task.return" (func $task.return)) (export "task.cancel" (func $task.cancel))
      (export "get0" (func $get0)) (export "set0" (func $set0))))))
    (func (export "y") async (param "n" u32) (result u32)
      (canon lift (core func $m "y") async (callback (core func $m "y-cb")))))"""


def kstart(rng: random.Random, out: list[str]) -> None:
    """An async call of K (it YIELDs: STARTED, a handle kept in $kh) in mode 0..3."""
    out.append(
        f"""(local.set $kh (i32.shr_u (call $ky (i32.const {rng.randint(0, 3)}) (i32.const 8))
          (i32.const 4)))"""
    )


def kcancel(out: list[str]) -> None:
    """Cancel K's pending subtask: its status folded in; BLOCKED: wait for its event on a set
    of its own; then the handle dropped."""
    out.append(
        """(local.set $r (call $cancel (local.get $kh)))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 13)) (local.get $r)))
        (if (i32.eq (local.get $r) (i32.const -1)) (then
          (local.set $ws (call $new))
          (call $join (local.get $kh) (local.get $ws))
          """
        + FOLD.format(code="(call $wait (local.get $ws) (i32.const 0))")
        + """
          (call $wsdrop (local.get $ws)))
        (else (call $drop (local.get $kh))))
        (local.set $kh (i32.const 0))"""
    )


FOLD = """(local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 7)) {code}))
          (local.set $acc (i32.add (local.get $acc)
            (i32.add (i32.mul (i32.load (i32.const 0)) (i32.const 5)) (i32.load (i32.const 4)))))
          (call $drop (i32.load (i32.const 0)))"""


def ends_op(rng: random.Random, out: list[str]) -> None:
    """Streams whose writable ends join one new set with a write pending, then their readable
    ends dropped in random order: every writer has its DROPPED event at once, taken in
    wasmtime's handle-id order; each writable end is dropped as its event comes."""
    n = rng.randint(2, 4)
    out.append("(local.set $ws (call $new))")
    for j in range(n):
        out.append(
            f"""(local.set $s (call $snew))
        (i32.store (i32.const {2048 + 4 * j}) (i32.wrap_i64 (local.get $s)))
        (local.set $r (i32.wrap_i64 (i64.shr_u (local.get $s) (i64.const 32))))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 3))
          (call $swrite (local.get $r) (i32.const 0) (i32.const 1))))
        (call $join (local.get $r) (local.get $ws))"""
        )
        if rng.random() < 0.3:  # a set made between reorders the free list
            out.append(CHURN_NEW)
    for j in rng.sample(range(n), n):
        out.append(f"(call $sdr (i32.load (i32.const {2048 + 4 * j})))")
    out.append(
        f"""(local.set $cnt (i32.const {n}))
        (block $done (loop $all
          (br_if $done (i32.eqz (local.get $cnt)))
          (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 7))
            (call $wait (local.get $ws) (i32.const 0))))
          (local.set $acc (i32.add (local.get $acc)
            (i32.add (i32.mul (i32.load (i32.const 0)) (i32.const 5)) (i32.load (i32.const 4)))))
          (call $sdw (i32.load (i32.const 0)))
          (local.set $cnt (i32.sub (local.get $cnt) (i32.const 1)))
          (br $all)))
        (call $wsdrop (local.get $ws))"""
    )


CHURN_NEW = """(i32.store (i32.add (i32.const 1024) (i32.shl (global.get $kc) (i32.const 2)))
          (call $new))
        (global.set $kc (i32.add (global.get $kc) (i32.const 1)))"""


def program(
    rng: random.Random, targets: list[str], slots: list[int], ends: bool, cancels: bool
) -> str:
    out: list[str] = []
    pending = False  # a K subtask started, not cancelled yet

    def slot() -> int:
        s = 64 + 4 * len(slots)
        slots.append(s)
        return s

    for i in range(LENGTH):
        op = rng.choice(["group", "group", "group", "churn", "scall", "acall_s", "ends", "ends"])
        if op == "ends" and not ends:
            op = "group"
        if cancels and rng.random() < 0.35:
            if pending:
                kcancel(out)
            else:
                kstart(rng, out)
                if rng.random() < 0.5:  # cancelled at once, else after the next ops
                    kcancel(out)
                else:
                    pending = True
                    continue
            pending = False
        if op == "ends":
            ends_op(rng, out)
        elif op == "group":
            out.append("(local.set $ws (call $new)) (local.set $cnt (i32.const 0))")
            for _ in range(rng.randint(2, 4)):
                s = slot()
                t = rng.choice(targets)
                out.append(
                    f"""(local.set $r (call $a_{t} (i32.add (local.get $n) (i32.const {i}))
          (i32.const {s})))
        (if (i32.eq (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2))
          (then (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 3))
            (i32.load (i32.const {s})))))
          (else
            (call $join (i32.shr_u (local.get $r) (i32.const 4)) (local.get $ws))
            (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
            (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 3)) (local.get $r)))))"""
                )
            if rng.random() < 0.7:
                t = rng.choice(targets)
                out.append(
                    f"""(local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 3))
          (call $s_{t} (i32.add (local.get $n) (i32.const {i})))))"""
                )
            wait = "(call $wait (local.get $ws) (i32.const 0))"
            if rng.random() < 0.3:  # poll first: several ready ones go by id there too
                out.append(
                    """(if (local.get $cnt) (then
          (local.set $r (call $poll (local.get $ws) (i32.const 0)))
          (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 11)) (local.get $r)))
          (if (local.get $r) (then
          """
                    + FOLD.format(code="(i32.const 0)")
                    + """
          (local.set $cnt (i32.sub (local.get $cnt) (i32.const 1)))))))"""
                )
            out.append(
                """(block $done (loop $all
          (br_if $done (i32.eqz (local.get $cnt)))
          """
                + FOLD.format(code=wait)
                + """
          (local.set $cnt (i32.sub (local.get $cnt) (i32.const 1)))
          (br $all)))
        (call $wsdrop (local.get $ws))"""
            )
        elif op == "churn":  # make sets and drop kept ones in random order
            for _ in range(rng.randint(1, 3)):
                if rng.random() < 0.6:
                    out.append(CHURN_NEW)
                else:
                    k = rng.randint(0, 7)
                    out.append(
                        f"""(if (global.get $kc) (then
          (local.set $r (i32.add (i32.const 1024) (i32.shl
            (i32.rem_u (i32.const {k}) (global.get $kc)) (i32.const 2))))
          (call $wsdrop (i32.load (local.get $r)))
          (global.set $kc (i32.sub (global.get $kc) (i32.const 1)))
          (i32.store (local.get $r) (i32.load (i32.add (i32.const 1024)
            (i32.shl (global.get $kc) (i32.const 2)))))))"""
                    )
        elif op == "scall":
            t = rng.choice(targets)
            out.append(
                f"""(local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 3))
          (call $s_{t} (i32.add (local.get $n) (i32.const {i})))))"""
            )
        else:  # an async call of a sync lift: RETURNED at once
            s = slot()
            t = rng.choice([t for t in targets if t.endswith("_s")])
            out.append(
                f"""(drop (call $a_{t} (i32.add (local.get $n) (i32.const {i})) (i32.const {s})))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 3))
          (i32.load (i32.const {s}))))"""
            )
    if pending:
        kcancel(out)
    return "\n        ".join(out)


STREAMS = """    (type $st (stream u8))
    (core func $snew (canon stream.new $st))
    (core func $swrite (canon stream.write $st async (memory (core memory $mem "mem"))))
    (core func $sdr (canon stream.drop-readable $st))
    (core func $sdw (canon stream.drop-writable $st))"""
STREAM_IMPORTS = """      (import "" "snew" (func $snew (result i64)))
      (import "" "swrite" (func $swrite (param i32 i32 i32) (result i32)))
      (import "" "sdr" (func $sdr (param i32)))
      (import "" "sdw" (func $sdw (param i32)))"""
K_IMPORT = '    (import "k" (func $ky async (param "n" u32) (result u32)))'
K_LOWER = """    (core func $ky (canon lower (func $ky) async (memory (core memory $mem "mem"))))
    (core func $cancel (canon subtask.cancel async))"""
K_CORE_IMPORTS = """      (import "" "ky" (func $ky (param i32 i32) (result i32)))
      (import "" "cancel" (func $cancel (param i32) (result i32)))"""
K_WITHS = '(export "ky" (func $ky)) (export "cancel" (func $cancel))'
STREAM_WITHS = """(export "snew" (func $snew)) (export "swrite" (func $swrite))
      (export "sdr" (func $sdr)) (export "sdw" (func $sdw))"""


def composition(seed: int) -> str:
    rng = random.Random(seed)
    n_callees = rng.choice([1, 2])
    helper = rng.random() < 0.5
    ends = rng.random() < 0.5
    cancels = rng.random() < 0.5
    w = Callees(rng, n_callees, helper)
    callees, targets = w.callees, w.targets
    imports, lowers, core_imports, withs = w.imports, w.lowers, w.core_imports, w.withs
    funcs, lifts, exports = [], [], []
    for k in range(PROGRAMS):
        slots: list[int] = []
        body = program(rng, targets, slots, ends, cancels)
        tail = "\n        ".join(
            f"(local.set $acc (i32.add (local.get $acc) (i32.load (i32.const {s}))))"
            f" (i32.store (i32.const {s}) (i32.const 0))"
            for s in slots
        )
        funcs.append(
            f'      (func (export "p{k}") (param $n i32) (result i32) (local $acc i32) '
            f"(local $r i32) (local $ws i32) (local $cnt i32) (local $s i64) (local $kh i32)"
            "\n        "
            f"{body}\n        {tail}\n        (local.get $acc))"
        )
        lifts.append(
            f'    (func (export "p{k}") async (param "n" u32) (result u32) '
            f'(canon lift (core func $dm "p{k}")))'
        )
        exports.append(f'  (export "p{k}" (func $d "p{k}"))')
    d = f"""(component $D
{chr(10).join(imports)}
{K_IMPORT if cancels else ""}
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
{chr(10).join(lowers)}
{SET_LOWERS}
{STREAMS if ends else ""}
{K_LOWER if cancels else ""}
    (core module $DM
{SET_IMPORTS}
{STREAM_IMPORTS if ends else ""}
{K_CORE_IMPORTS if cancels else ""}
{chr(10).join(core_imports)}
      (global $kc (mut i32) (i32.const 0))
{chr(10).join(funcs)})
    (core instance $dm (instantiate $DM (with "" (instance
{SET_WITHS}
      {STREAM_WITHS if ends else ""}
      {K_WITHS if cancels else ""}
      {" ".join(withs)}))))
{chr(10).join(lifts)})"""
    parts = ([HELPER] if helper else []) + ([CANCELLEE] if cancels else [])
    parts += [text for _, text, _ in callees]
    with_e = ' (with "h" (func $e "h"))' if helper else ""
    insts = (["  (instance $e (instantiate $E))"] if helper else []) + (
        ["  (instance $k (instantiate $K))"] if cancels else []
    )
    insts += [f"  (instance $c{c} (instantiate $C{c}{with_e}))" for c in range(n_callees)]
    with_d = " ".join(f'(with "c{c}" (instance $c{c}))' for c in range(n_callees))
    if cancels:
        with_d += ' (with "k" (func $k "y"))'
    actions = [f'(invoke "p{k}" (u32.const {n}))' for n in (1, 5, 9) for k in range(PROGRAMS)]
    return component_text(parts, d, insts, with_d, exports, actions)


@pytest.mark.parametrize("seed", SEEDS)
def test_simultaneous_events_in_wasmtime_order(
    seed: int, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    assert_async_program_equivalent(
        oracle_py, pymeld, tmp_path, f"ready-{seed}", composition(seed), multi_memory=True
    )
