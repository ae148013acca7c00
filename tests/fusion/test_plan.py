"""The plan of generated items: one allocator, indices fixed at freeze, emission in index order;
and the tree-wide rules it exists for (no raw opcodes outside the emitter)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pymeld.codec.core.emitter import Body
from pymeld.plan import GROUPS, FuncCode, Plan, Space

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
