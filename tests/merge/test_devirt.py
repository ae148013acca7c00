"""`merge.devirt.devirtualize` on hand-made modules: which constant-slot indirect calls become
direct calls (a table only element segments fill), and every reason one must stay an indirect
call (the table exported or imported, named by other code, a slot filled twice, null or by a
segment at a computed offset, filled by start code, a function of another type), with the
output run by wasmtime against the input."""

from __future__ import annotations

import pytest
import wasmtime

from pymeld.codec.core.encode import encode_module
from pymeld.codec.core.instructions import scan_uses
from pymeld.codec.core.model import Module
from pymeld.codec.core.parse import parse_module
from pymeld.merge import devirt
from pymeld.merge.devirt import devirtualize
from pymeld.merge.inline_adapters import CallerInstance

# funcs 0-1: what the table holds; 2..: the "shim" (one instance naming table 0)
WAT = """(module
  (type $u (func (param i32) (result i32)))
  (type $v (func (param i32 i32) (result i32)))
  (type $u2 (func (param i32) (result i32)))
  (type $open (sub (func (param i32) (result i32))))
  TABLE
  (func $a (type $u) (i32.add (local.get 0) (i32.const 100)))
  (func $b (type $v) (i32.sub (local.get 0) (local.get 1)))
  (func (export "ca") (type $u) (call_indirect (type $u) (local.get 0) (i32.const 0)))
  (func (export "cb") (type $v) (call_indirect (type $v) (local.get 0) (local.get 1) (i32.const 1)))
  (func (export "cm") (type $u) (call_indirect (type $u) (local.get 0) (i32.const 1)))
  (func (export "cn") (type $u) (call_indirect (type $u) (local.get 0) (i32.const 2)))
  (func (export "cd") (type $u) (call_indirect (type $u) (local.get 0) (local.get 0)))
  (func (export "c2") (type $u2) (call_indirect (type $u2) (local.get 0) (i32.const 0)))
  (func (export "co") (type $u) (call_indirect (type $u) (local.get 0) (i32.const 3)))
  (func (export "tail") (type $u) (return_call_indirect (type $u) (local.get 0) (i32.const 0)))
  (func $open (type $open) (i32.mul (local.get 0) (i32.const 3)))
  (func $x (type $u) (i32.const 77))
  (elem declare func $x)
  EXTRA
  (elem (table $t) (i32.const 0) func $a $b)
  (elem (table $t) (i32.const 3) func $open))"""
TABLE = "(table $t 4 funcref)"

#: call → whether it becomes a direct call when nothing else stands in the way
DIRECT = {
    "ca": True,
    "cb": True,
    "cm": False,
    "cn": False,
    "cd": False,
    "c2": True,
    "co": False,
    "tail": True,
}


def _module(extra: str = "(func)", table: str = TABLE) -> Module:
    return parse_module(wasmtime.wat2wasm(WAT.replace("TABLE", table).replace("EXTRA", extra)))


def _callers(m: Module, debug: bool = False) -> list[CallerInstance]:
    return [CallerInstance(2, len(m.codes) - 2, {}, debug, (0,))]


def _indirect(m: Module) -> dict[str, bool]:
    """Per exported call, whether its body still has an indirect call."""
    names = {e.index: e.name for e in m.exports if e.name in DIRECT}
    return {names[f]: bool(scan_uses(m.codes[f].body).tables) for f in names}


def _results(m: Module) -> list[object]:
    config = wasmtime.Config()
    config.wasm_tail_call = True
    config.wasm_gc = True
    config.wasm_function_references = True
    store = wasmtime.Store(wasmtime.Engine(config))
    ex = wasmtime.Instance(store, wasmtime.Module(store.engine, encode_module(m)), []).exports(
        store
    )
    out: list[object] = []
    for name in DIRECT:
        f = ex[name]
        args = (7, 2) if name == "cb" else (7,)
        try:
            out.append(f(store, *args))  # type: ignore[operator]
        except wasmtime.Trap as e:
            out.append(e.trap_code)
    return out


def test_constant_slots_become_direct_calls() -> None:
    m = _module()
    want = _results(m)
    callers = _callers(m)
    assert devirtualize(m, callers, set()) == sum(DIRECT.values())
    assert _indirect(m) == {n: not d for n, d in DIRECT.items()}
    assert callers[0].called == {0, 1}
    assert _results(m) == want
    bad, null = wasmtime.TrapCode.BAD_SIGNATURE, wasmtime.TrapCode.INDIRECT_CALL_TO_NULL
    assert want[2] == bad and want[3] == null
    assert want[6] == bad  # a non-final type is another type


@pytest.mark.parametrize(
    "extra",
    [
        '(export "t" (table $t))',
        "(func (table.set $t (i32.const 0) (ref.func $x)))",
        "(func (drop (table.get $t (i32.const 0))))",
        "(func (drop (table.size $t)))",
        "(func (drop (table.grow $t (ref.null func) (i32.const 1))))",
        "(func (table.fill $t (i32.const 0) (ref.null func) (i32.const 1)))",
        "(func (table.copy $t $t (i32.const 0) (i32.const 1) (i32.const 1)))",
        "(elem $p func $x) (func (table.init $t $p (i32.const 0) (i32.const 0) (i32.const 1)))",
        "(global $g i32 (i32.const 2)) (elem (table $t) (global.get $g) func $x) (func)",
    ],
    ids=["exported", "set", "get", "size", "grow", "fill", "copy", "init", "computed-offset"],
)
def test_a_table_that_may_change_keeps_every_indirect_call(extra: str) -> None:
    m = _module(extra)
    assert devirtualize(m, _callers(m), set()) == 0
    assert all(_indirect(m).values())


def test_a_table_another_instance_names_is_scanned_there_too() -> None:
    """The writer is another instance whose table space holds the table."""
    m = _module("(func (table.set $t (i32.const 0) (ref.func $x)))")
    n = len(m.codes) - 3
    callers = [CallerInstance(2, n, {}, False, (0,)), CallerInstance(2 + n, 1, {}, False, (0,))]
    assert devirtualize(m, callers, set()) == 0
    callers = [CallerInstance(2, n, {}, False, (0,)), CallerInstance(2 + n, 1, {}, False, ())]
    assert devirtualize(m, callers, set()) > 0  # (what an instance cannot name, it cannot write)


def test_an_imported_table_keeps_its_calls() -> None:
    m = _module(table='(import "x" "t" (table $t 4 funcref))')
    assert devirtualize(m, _callers(m), set()) == 0


def test_a_table_start_code_fills_keeps_its_calls() -> None:
    """Code may run before the start code fills it: a call then must trap."""
    m = _module()
    assert devirtualize(m, _callers(m), {0}) == 0


def test_a_slot_filled_twice_or_null_keeps_its_call() -> None:
    m = _module("(elem (table $t) (i32.const 0) func $a) (func)")
    assert devirtualize(m, _callers(m), set()) == sum(DIRECT.values()) - 3  # ca, c2, tail
    assert _indirect(m)["ca"] and not _indirect(m)["cb"]
    # (the last function has the call's type: a null taken for function -1 would pass that)
    m = _module(
        "(elem (table $t) (i32.const 2) funcref (ref.null func)) (func (type $u) (i32.const 5))"
    )
    want = _results(m)
    assert devirtualize(m, _callers(m), set()) == sum(DIRECT.values())
    assert _indirect(m)["cn"] and _results(m) == want


def test_a_caller_with_dwarf_or_too_much_code_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    m = _module()
    assert devirtualize(m, _callers(m, debug=True), set()) == 0
    size = sum(len(c.body) for c in m.codes[2:])
    monkeypatch.setattr(devirt, "MAX_USER_CODE", size - 1)
    assert devirtualize(m, _callers(m), set()) == 0
    monkeypatch.setattr(devirt, "MAX_USER_CODE", size)
    assert devirtualize(m, _callers(m), set()) == sum(DIRECT.values())


START = """(func $early (drop (call $a (i32.const 1))))
  (func $init
    (call $early)
    (table.init $t $late (i32.const 0) (i32.const 0) (i32.const 2))
    (elem.drop $late)
    (call $after))
  (func $after (drop (call_indirect (type $u) (i32.const 1) (i32.const 0))))
  (elem $late func $a $b)
  (start $init)"""


def _start_module(indirect: str = "") -> Module:
    """Slots 0 and 1 filled by the start function (as `merge.segments` defers a segment) after
    it called $early, which makes no indirect call; $after calls through slot 0 after it."""
    start = START
    call = "(call_indirect (type $u) (i32.const 1) (i32.const 0))"
    if indirect == "offset":
        start = start.replace("(call $early)", "(call $early) (drop (i32.const 1))").replace(
            "(table.init $t $late (i32.const 0)", "(table.init $t $late (global.get $g0)"
        )
        start += "(global $g0 i32 (i32.const 0))"
    elif indirect == "indirect-in-start":
        start = start.replace("(call $early)", f"(call $early) (drop {call})")
    elif indirect:
        start = start.replace(
            "(call $a (i32.const 1))", "(call_indirect (type $u) (i32.const 1) (i32.const 0))"
        )
    text = WAT.replace("TABLE", TABLE).replace("EXTRA", start)
    text = text.replace("(elem (table $t) (i32.const 0) func $a $b)", "")
    return parse_module(wasmtime.wat2wasm(text))


def _start_callers(m: Module) -> list[CallerInstance]:
    """The functions but the start function (13: generated code in a fused module)."""
    return [CallerInstance(2, 11, {}, False, (0,)), CallerInstance(14, 1, {}, False, (0,))]


def _direct(m: Module, name: str) -> bool:
    (f,) = [e.index for e in m.exports if e.name == name]
    return not scan_uses(m.codes[f].body).tables


def test_slots_the_start_function_fills() -> None:
    m = _start_module()
    want = _results(m)
    assert devirtualize(m, _start_callers(m), set()) == 4 + 1  # ca, cb, c2, tail; $after
    assert _direct(m, "ca") and _direct(m, "cb") and not _direct(m, "cn")
    assert not scan_uses(m.codes[14].body).tables  # $after
    assert _results(m) == want


@pytest.mark.parametrize("case", ["indirect-before", "indirect-in-start", "budget", "offset"])
def test_start_fills_refused_when_what_runs_before_is_unknown(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$early or the start function itself makes an indirect call (it could be through the
    table before it is filled: a trap), or what $early runs is larger than what is looked
    through; or the start function fills it at an offset that is not a constant."""
    if case == "budget":
        monkeypatch.setattr(devirt, "MAX_START_REACH", 8)  # $early and $a: 6 + 8 bytes
        m = _start_module()
    else:
        m = _start_module(indirect=case)
    assert devirtualize(m, _start_callers(m), set()) == 0
    assert not _direct(m, "ca")
