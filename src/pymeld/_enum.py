"""`Enum` and `IntEnum` classes built by the standard library's fast path.

Why: on Python 3.11 a class statement deriving from `enum.Enum` costs about 0.9 M
instructions for eight members (the metaclass vets every name of the body and makes each
member through a descriptor); pymeld's models define a dozen, about 3% of a small fuse's
start-up. ``enum._simple_enum``, with which CPython builds its own enums for the same reason
(``re.RegexFlag``, ``http.HTTPStatus`` ...), makes the same class from a plain class body in
about half of that. ``tests/codec/test_enums.py`` checks each of pymeld's enums with
``enum._test_simple_enum``, CPython's own check that a simple enum is the class a class
statement makes.

Use: derive from `Enum` or `IntEnum` imported from here and decorate the class with
`simple_enum`. A type checker sees `enum`'s classes and an identity decorator; at run time the
class statement makes a plain class, which `simple_enum` turns into the enum. A Python without
``enum._simple_enum`` gets ordinary enum classes.
"""

from __future__ import annotations

import enum

TYPE_CHECKING = False
if TYPE_CHECKING:
    from enum import Enum, IntEnum
    from typing import TypeVar

    T = TypeVar("T", bound=type)

    def simple_enum(cls: T) -> T:
        return cls

elif hasattr(enum, "_simple_enum"):

    class Enum:
        """A plain base: `simple_enum` makes its subclass an `enum.Enum`."""

        _pymeld_enum_type = enum.Enum

    class IntEnum:
        """A plain base: `simple_enum` makes its subclass an `enum.IntEnum`."""

        _pymeld_enum_type = enum.IntEnum

    def simple_enum(cls):
        """The enum class of the plain class ``cls`` (its body: members, methods, docstring).

        Its members become plain class attributes, as a class statement makes them: 3.11 and
        3.12's simple enums reach each through an `enum.property`, whose ``__get__`` made
        reading a member (``ExternKind.FUNC``) 2.5 to 6 times slower, and fusing a large input
        5% slower."""
        made = enum._simple_enum(cls._pymeld_enum_type)(cls)
        for name, member in made._member_map_.items():
            if isinstance(made.__dict__.get(name), enum.property):
                type.__setattr__(made, name, member)  # (the enum's own refuses: a member)
        return made

else:  # pragma: no cover - every Python pymeld supports has it
    from enum import Enum, IntEnum

    def simple_enum(cls):
        return cls


__all__ = ["Enum", "IntEnum", "simple_enum"]
