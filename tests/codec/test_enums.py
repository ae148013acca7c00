"""pymeld's enums are made by the standard library's fast path (`pymeld._enum.simple_enum`,
``enum._simple_enum``) and are the classes their class statements would make: checked with
``enum._test_simple_enum``, CPython's own check of its simple enums."""

from __future__ import annotations

import enum
import subprocess
import sys

import pytest

from pymeld import plan
from pymeld.codec.component import model as cm
from pymeld.codec.core import model as core
from support import REPO

ENUMS = [
    v
    for m in (core, cm, plan)
    for v in vars(m).values()
    if isinstance(v, type) and issubclass(v, enum.Enum) and v.__module__ == m.__name__
]


def _class_statement(e: type[enum.Enum]) -> type[enum.Enum]:
    """What ``class E(IntEnum or Enum): <members, docstring, properties>`` makes of ``e``'s."""
    base = enum.IntEnum if issubclass(e, int) else enum.Enum
    ns = type(base).__prepare__(e.__name__, (base,))
    ns["__module__"] = e.__module__
    ns["__qualname__"] = e.__qualname__
    doc = e.__dict__.get("__doc__")
    if doc != "An enumeration.":
        ns["__doc__"] = doc
    for name, value in e.__dict__.items():
        if isinstance(value, property) and name not in e.__members__:
            ns[name] = value
    for m in e:
        ns[m.name] = m.value
    return type(base)(e.__name__, (base,), ns)  # type: ignore[return-value]


def test_all_enums_found() -> None:
    names = {e.__name__ for e in ENUMS}
    assert {"NumType", "ExternKind", "SectionId", "CoreSort", "Prim", "Space"} <= names
    assert len(ENUMS) == 12


@pytest.mark.parametrize("e", ENUMS, ids=lambda e: e.__name__)
def test_same_as_the_class_statement(e: type[enum.Enum]) -> None:
    enum._test_simple_enum(_class_statement(e), e)  # type: ignore[attr-defined]
    assert [m.name for m in e] == list(e.__members__)
    first = next(iter(e))
    assert e(first.value) is first and e[first.name] is first
    assert repr(first) == f"<{e.__name__}.{first.name}: {first.value!r}>"
    assert isinstance(first, int) == issubclass(e, enum.IntEnum)


@pytest.mark.parametrize("e", ENUMS, ids=lambda e: e.__name__)
def test_members_are_plain_class_attributes(e: type[enum.Enum]) -> None:
    """As a class statement makes them (no `enum.property` to go through: read per item)."""
    assert all(e.__dict__[m.name] is m for m in e)
    with pytest.raises(AttributeError, match="cannot reassign member"):
        setattr(e, next(iter(e)).name, 0)


def test_members_and_methods() -> None:
    assert core.NumType(0x7F) is core.NumType.I32 and core.NumType.I32 == 0x7F
    assert cm.Prim.STRING.code == 0x73 and cm.Prim("u8") is cm.Prim.U8
    assert cm.CoreSort.TYPE.name == "TYPE" and cm.sort_name(cm.CoreSort.TYPE) == "core type"
    assert {core.ExternKind.FUNC: 1}[core.ExternKind(0)] == 1
    assert plan.Space.FUNC.value == "func" and [*plan.Space][:2] == [
        plan.Space.FUNC,
        plan.Space.GLOBAL,
    ]


def test_no_enum_made_by_a_class_statement() -> None:
    """A class statement deriving from an enum asks its metaclass to ``__prepare__`` the body;
    `simple_enum` makes the class without: none of pymeld's modules may ask."""
    code = (
        "import enum, sys\n"
        "asked = []\n"
        "real = enum.EnumType.__prepare__\n"
        "def prepare(name, bases, **kw):\n"
        "    asked.append(sys._getframe(1).f_globals.get('__name__'))\n"
        "    return real(name, bases, **kw)\n"
        "enum.EnumType.__prepare__ = prepare\n"
        "import pymeld.codec.core.model, pymeld.codec.component.model, pymeld.plan\n"
        "print([m for m in asked if m.startswith('pymeld')])\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"
