"""`merge.unwind` barriers: functions that stop unwinds themselves (a scheduler's entries).

A barrier is not rewritten and does not make its callers suspendable; `barrier_leaks` names
the places an unwind could start that no barrier stops (a barrier calling another function that
may suspend, directly or through a table; an export or the start function that may suspend).
"""

from __future__ import annotations

from pymeld.codec.core.model import ExternKind, Module
from pymeld.codec.core.parse import parse_module
from pymeld.merge.unwind import add_state_globals, barrier_leaks, may_suspend, unwind
from support import wat_to_wasm

WAT = """(module
  (import "env" "suspend" (func $suspend (result i32)))
  (memory 1)
  (table 1 funcref)
  (elem (i32.const 0) $task)
  (type $t (func (result i32)))
  (func $task (result i32) (i32.add (call $suspend) (i32.const 1)))  ;; 1
  (func $entry (result i32) (call $task))                           ;; 2: stops its unwinds
  (func $outer (result i32) (call $entry))                          ;; 3: calls only the barrier
  (func $other (result i32) (call $task))                           ;; 4: a second barrier
  (func $indirect (result i32) (call_indirect (type $t) (i32.const 0)))  ;; 5
  (func (export "run") (result i32) (call $outer))                  ;; 6
)"""


def _module() -> Module:
    return parse_module(wat_to_wasm(WAT))


def test_barriers_are_not_rewritten_nor_make_callers_suspendable() -> None:
    m = _module()
    assert may_suspend(m, [0]) == {0, 1, 2, 3, 4, 5, 6}
    assert may_suspend(m, [0], barriers=[2, 4, 5]) == {0, 1}
    before = [c.body for c in m.codes]
    g = add_state_globals(m, 0)
    result = unwind(m, [0], g, barriers=[2, 4, 5])
    assert result.transformed == [1]
    nimp = m.num_imported(ExternKind.FUNC)
    assert [c.body for k, c in enumerate(m.codes) if k + nimp != 1] == [
        b for k, b in enumerate(before) if k + nimp != 1
    ]


def test_barrier_leaks_name_unstopped_unwinds() -> None:
    m = _module()
    # every barrier stops what it calls; the indirect call's table may reach $task: a leak
    assert barrier_leaks(m, [0], {2: {1}, 4: {1}, 5: set()}) == [5]
    assert barrier_leaks(m, [0], {2: {1}, 4: {1}, 5: {1}}) == [5]  # a table is never allowed
    # a barrier calling a suspendable function it does not stop
    assert barrier_leaks(m, [0], {2: {1}, 4: set(), 5: set()}) == [4, 5]
    # no barrier on the exported path: the export itself may suspend ($indirect is rewritten)
    assert barrier_leaks(m, [0], {4: {1}}) == [6]
