"""The plan of generated items: one allocator, indices fixed at freeze, emission in index order;
and the tree-wide rules it exists for (no raw opcodes outside the emitter)."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import pytest

from pymeld.codec.core.emitter import Body
from pymeld.plan import GROUPS, SHARED, FuncCode, Plan, Space

SRC = Path(__file__).resolve().parents[2] / "src" / "pymeld"


def _plan() -> Plan:
    return Plan({Space.FUNC: 10, Space.GLOBAL: 3, Space.MEMORY: 1})


def test_indices_follow_group_order_not_registration_order() -> None:
    p = _plan()
    table_fn = p.add_func("resource", ("add", 0))
    adapter = p.add_func("adapter", 7)
    guard = p.add_func("may-leave-guard", "g")
    state = p.add_global("resource-state", "num_borrows")
    leave = p.add_global("may-leave", 1, init=1)
    mem = p.add_memory("resource-state", "lend")
    tmem = p.add_memory("handle-table", 0)
    p.freeze()
    assert (guard.index, adapter.index, table_fn.index) == (10, 11, 12)
    assert (leave.index, state.index) == (3, 4)
    assert (tmem.index, mem.index) == (1, 2)
    assert [i.key for i in p.funcs()] == ["g", 7, ("add", 0)]
    assert [g.init for g in p.globals()] == [1, 0]


def test_registration_is_idempotent_per_key() -> None:
    p = _plan()
    a = p.add_func("adapter", 1)
    assert p.add_func("adapter", 1) is a
    assert p.count(Space.FUNC) == 1 and p.count(Space.FUNC, "adapter") == 1


def test_index_before_freeze_and_late_items_are_errors() -> None:
    p = _plan()
    a = p.add_func("adapter", 1)
    with pytest.raises(RuntimeError, match="not frozen"):
        _ = a.index
    p.freeze()
    assert p.add_func("adapter", 1) is a  # looking up a planned item stays fine
    with pytest.raises(RuntimeError, match="planned too late"):
        p.add_global("may-leave", 9)
    with pytest.raises(KeyError, match="no func group"):
        _plan().add_func("nonsense", 0)


def test_every_group_is_in_one_space_order() -> None:
    for space in Space:
        assert len(set(GROUPS[space])) == len(GROUPS[space])


def test_build_runs_at_emission_with_final_indices() -> None:
    p = _plan()
    callee = p.add_func("resource", "callee", lambda: FuncCode((), (), (), b"\x0b"))

    def caller() -> FuncCode:
        b = Body([])
        b.call(callee.index).end()
        return FuncCode((), (), (), bytes(b.code))

    first = p.add_func("adapter", "caller", caller)  # refers forward to a later item
    p.freeze()
    codes = [f.build() for f in p.funcs() if f.build is not None]
    assert first.index == 10 and callee.index == 11
    assert codes[0].body == b"\x10\x0b\x0b"


def _code(body: bytes = b"\x0b") -> FuncCode:
    return FuncCode((), (), (), body)


def test_shared_functions_found_while_building_take_the_next_indices() -> None:
    """`SHARED` is open after freeze: a function found while an adapter is built gets the
    next index at once and is emitted by the same walk, after everything frozen."""
    p = _plan()
    with pytest.raises(RuntimeError, match="before the plan is frozen"):
        p.shared_func("early", _code)  # its index is wanted at once
    users: list[int] = []

    def adapter(k: int) -> FuncCode:
        users.append(p.shared_func("validator", _code))  # both adapters: one function
        users.append(p.shared_func(("only", k), _code))
        return _code()

    p.add_func("adapter", 0, partial(adapter, 0))
    p.add_func("adapter", 1, partial(adapter, 1))
    p.add_func("start", "start", _code)
    p.freeze()
    walked = []
    for item in p.funcs():  # as merge emits: building an item may register shared ones
        assert item.build is not None
        item.build()
        walked.append((item.index, item.key))
    assert walked == [
        (10, 0),
        (11, 1),
        (12, "start"),
        (13, "validator"),
        (14, ("only", 0)),
        (15, ("only", 1)),
    ]
    assert users == [13, 14, 13, 15]
    with pytest.raises(RuntimeError, match="planned too late"):
        p.add_func("adapter", 2)  # other groups stay closed


def test_no_shared_function_unless_asked() -> None:
    p = _plan()
    p.add_func("adapter", 0, _code)
    p.freeze()
    assert [f.key for f in p.funcs()] == [0] and p.count(Space.FUNC, SHARED) == 0


#: Byte literals outside the codec that are binary-format framing, not instructions.
_ALLOWED = {
    ("api.py", 'b"\\x01\\x00"'),  # component layer field
    ("fuse.py", 'b"\\x0d\\x00\\x01\\x00"'),  # component version + layer
    ("emit/attestation.py", 'b"\\x00"'),  # custom section id
}


def test_no_raw_instruction_bytes_outside_the_codec() -> None:
    """Generated code is written with `codec.core.emitter` only (issue: one emitter)."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(("codec/", "dwarf/")):  # binary formats: wasm's, DWARF's line programs
            continue
        for m in re.finditer(r'b"(?:\\x[0-9a-fA-F]{2})+"', path.read_text()):
            if (rel, m.group(0)) not in _ALLOWED:
                found.append(f"{rel}: {m.group(0)}")
    assert not found, found
