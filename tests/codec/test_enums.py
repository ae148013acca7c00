"""pymeld's enums (`pymeld._enum`, made without the standard library's `enum` module) behave as
the standard library's classes of the same class statements: each is compared, member by member,
with `enum.Enum`/`enum.IntEnum` made from its body."""

from __future__ import annotations

import copy
import enum
import json
import pickle
import subprocess
import sys
from typing import Any

import pytest

from pymeld import _enum, plan
from pymeld.codec.component import model as cm
from pymeld.codec.core import model as core
from support import REPO

BASE: Any = _enum.Enum  # (a type checker sees `enum.Enum` there)
ENUMS: list[Any] = [
    v
    for m in (core, cm, plan)
    for v in vars(m).values()
    if isinstance(v, type) and issubclass(v, BASE) and v.__module__ == m.__name__
]


def _class_statement(e: Any) -> Any:
    """What ``class E(enum.IntEnum or enum.Enum): <members, docstring, properties>`` makes of
    ``e``'s body."""
    base = enum.IntEnum if issubclass(e, int) else enum.Enum
    ns = type(base).__prepare__(e.__name__, (base,))
    ns["__module__"] = e.__module__
    ns["__qualname__"] = e.__qualname__
    if e.__dict__.get("__doc__") is not None:
        ns["__doc__"] = e.__dict__["__doc__"]
    for name, value in e.__dict__.items():
        if isinstance(value, property):
            ns[name] = value
    for m in e:
        ns[m.name] = m.value
    return type(base)(e.__name__, (base,), ns)


def test_all_enums_found() -> None:
    names = {e.__name__ for e in ENUMS}
    assert {"NumType", "ExternKind", "SectionId", "CoreSort", "Prim", "Space"} <= names
    assert len(ENUMS) == 12


@pytest.mark.parametrize("e", ENUMS, ids=lambda e: e.__name__)
def test_same_as_the_standard_librarys(e: Any) -> None:
    s = _class_statement(e)
    assert [(m.name, m.value) for m in e] == [(m.name, m.value) for m in s]
    assert list(e.__members__) == list(s.__members__) and len(e) == len(s)
    assert [m.name for m in reversed(e)] == [m.name for m in reversed(s)]
    assert repr(e) == repr(s) and e.__doc__ == s.__doc__ and bool(e)
    specs = ["", ">20", "<3"] + (["x", "04d"] if issubclass(e, int) else [])
    for a, b in zip(e, s, strict=True):
        assert (repr(a), str(a), [format(a, f) for f in specs]) == (
            repr(b),
            str(b),
            [format(b, f) for f in specs],
        )
        assert (a.name, a.value, hash(a)) == (b.name, b.value, hash(b))
        assert e(a.value) is a and e[a.name] is a and getattr(e, a.name) is a
        assert a in e and e.__dict__[a.name] is a  # a plain class attribute
        assert isinstance(a, int) == isinstance(b, int)
        assert (a == a.value) == (b == b.value) and a == a and a != object()
        for other in e:
            assert (a == other) == (b == s[other.name])
        assert pickle.loads(pickle.dumps(a)) is a
        assert copy.copy(a) is a and copy.deepcopy([a])[0] is a
        assert bool(a) == bool(b)
        if isinstance(a, int):
            assert int(a) == int(b) and json.dumps([a]) == json.dumps([b])
            assert a + 1 == b + 1 and (a < 1000) == (b < 1000)
    for missing in (-1, "nope", None, 1.5):
        with pytest.raises(ValueError) as ours:
            e(missing)
        with pytest.raises(ValueError) as theirs:
            s(missing)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(KeyError):
        e["nope"]
    with pytest.raises(AttributeError, match="cannot reassign member"):
        setattr(e, next(iter(e)).name, 0)
    assert (sorted(e) == list(e)) == (sorted(s) == list(s)) if issubclass(e, int) else True


@pytest.mark.parametrize("e", ENUMS, ids=lambda e: e.__name__)
def test_membership_of_other_things(e: Any) -> None:
    """A member of another enum is not in it; a value is refused, as Python 3.11's enums do."""
    other = next(x for x in ENUMS if x is not e)
    assert next(iter(other)) not in e
    with pytest.raises(TypeError):
        _ = "nope" in e


def test_members_and_methods() -> None:
    assert core.NumType(0x7F) is core.NumType.I32 and core.NumType.I32 == 0x7F
    assert cm.Prim.STRING.code == 0x73 and cm.Prim("u8") is cm.Prim.U8
    assert "code" not in cm.Prim.__members__
    assert cm.CoreSort.TYPE.name == "TYPE" and cm.sort_name(cm.CoreSort.TYPE) == "core type"
    assert {core.ExternKind.FUNC: 1}[core.ExternKind(0)] == 1
    assert plan.Space.FUNC.value == "func" and [*plan.Space][:2] == [
        plan.Space.FUNC,
        plan.Space.GLOBAL,
    ]
    match core.ExternKind(2):
        case core.ExternKind.MEMORY:
            matched = True
        case _:
            matched = False
    assert matched


def test_aliases_refused() -> None:
    with pytest.raises(TypeError, match="aliases"):

        class Twice(_enum.IntEnum):  # type: ignore[misc]
            A = 1
            B = 1


def test_enum_module_not_loaded() -> None:
    """The model modules define their enums without importing `enum` (~8 M instructions; in
    the ``pymeld`` process nothing else on a fusion's path does: what would, ``dataclasses``'s
    imports, is deferred there)."""
    code = (
        "import sys\n"
        "from pymeld.__main__ import defer_unused_modules\n"
        "defer_unused_modules()\n"
        "import pymeld.codec.core.model, pymeld.codec.component.model, pymeld.plan\n"
        "print('enum' in sys.modules)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"
