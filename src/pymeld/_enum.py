"""`Enum` and `IntEnum` without the standard library's `enum` module.

Why: on Python 3.11 importing ``enum`` runs ~8 M instructions (its own classes and enums are
made by its metaclass) and each of pymeld's dozen enums cost ~0.45 M more through
``enum._simple_enum``: with nothing else on a fusion's path needing ``enum``, ~13 M of a small
fuse's ~275 M. pymeld's enums are plain sets of named constants, so this module makes them
with a small metaclass: the class statement makes the class once, and each member becomes an
instance of it stored as a plain class attribute (so reading ``ExternKind.FUNC`` is a class
attribute read).

What they do is what the standard library's do for the same class statement, for everything
pymeld and a user of its model would ask: members in definition order by iteration, ``len``,
``in``, ``E(value)`` (ValueError otherwise), ``E[name]``, ``__members__``; ``name`` and
``value``; ``repr`` ``<E.NAME: value>``; an `IntEnum` member is its int (equality, hash,
ordering, ``str``, ``format``, JSON), an `Enum` member equal only to itself, hashed by its name,
``str`` ``E.NAME``; members survive pickling, ``copy`` and ``deepcopy`` as themselves; a member
cannot be reassigned. ``tests/codec/test_enums.py`` compares each of pymeld's enums with the
standard library's class of the same body. Not provided (pymeld uses none): aliases, `auto`,
``_missing_``, flags, functional creation.

A type checker sees `enum`'s classes (the names are imported from it under ``TYPE_CHECKING``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from enum import Enum, IntEnum
    from typing import Any
else:
    from types import MappingProxyType

    class _EnumType(type):
        """The class of pymeld's enums: makes the members of a class statement's body and
        answers for the class as `enum.EnumType` does."""

        def __new__(mcs, name: str, bases: tuple[type, ...], body: dict[str, Any]) -> type:
            cls = super().__new__(mcs, name, bases, body)
            members: dict[str, Any] = {}
            by_value: dict[Any, Any] = {}
            make = cls._make_member_ if bases else None
            for key, value in body.items():
                if make is None or key[:1] == "_" or hasattr(value, "__get__"):
                    continue  # (dunders, private names, methods and properties)
                if value in by_value:
                    raise TypeError(f"{name}.{key}: aliases are not supported")
                member = make(value)
                member._name_ = key
                member._value_ = value
                members[key] = by_value[value] = member
                type.__setattr__(cls, key, member)
            cls._member_map_ = members
            cls._member_names_ = list(members)
            cls._value2member_map_ = by_value
            return cls

        def __call__(cls, value: Any) -> Any:
            try:
                return cls._value2member_map_[value]
            except (KeyError, TypeError):
                pass
            raise ValueError(f"{value!r} is not a valid {cls.__qualname__}")

        def __getitem__(cls, name: str) -> Any:
            return cls._member_map_[name]

        def __iter__(cls) -> Any:
            return iter(cls._member_map_.values())

        def __reversed__(cls) -> Any:
            return reversed(cls._member_map_.values())

        def __len__(cls) -> int:
            return len(cls._member_map_)

        def __contains__(cls, member: object) -> bool:
            if not isinstance(member, cls.__mro__[-2]):  # (the enum base: Enum)
                raise TypeError(
                    f"unsupported operand type(s) for 'in': '{type(member).__qualname__}' "
                    f"and '{cls.__class__.__qualname__}'"
                )
            return isinstance(member, cls) and member._name_ in cls._member_map_

        def __bool__(cls) -> bool:
            return True

        @property
        def __members__(cls) -> MappingProxyType[str, Any]:
            return MappingProxyType(cls._member_map_)

        def __repr__(cls) -> str:
            return f"<enum {cls.__name__!r}>"

        def __setattr__(cls, name: str, value: Any) -> None:
            if name in cls.__dict__.get("_member_map_", ()):
                raise AttributeError(f"cannot reassign member {name!r}")
            super().__setattr__(name, value)

        def __delattr__(cls, name: str) -> None:
            if name in cls.__dict__.get("_member_map_", ()):
                raise AttributeError(f"cannot delete member {name!r}")
            super().__delattr__(name)

    class Enum(metaclass=_EnumType):
        """Named constants, each equal only to itself (`enum.Enum`'s behaviour)."""

        _name_: str
        _value_: Any

        @classmethod
        def _make_member_(cls, value: Any) -> Any:
            return object.__new__(cls)

        @property
        def name(self) -> str:
            return self._name_

        @property
        def value(self) -> Any:
            return self._value_

        def __repr__(self) -> str:
            return f"<{self.__class__.__name__}.{self._name_}: {self._value_!r}>"

        def __str__(self) -> str:
            return f"{self.__class__.__name__}.{self._name_}"

        def __format__(self, spec: str) -> str:
            return str.__format__(str(self), spec)

        def __hash__(self) -> int:
            return hash(self._name_)

        def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
            return self.__class__, (self._value_,)

        def __copy__(self) -> Any:
            return self

        def __deepcopy__(self, memo: Any) -> Any:
            return self

    class IntEnum(int, Enum):
        """Named int constants: each member is its int (`enum.IntEnum`'s behaviour)."""

        @classmethod
        def _make_member_(cls, value: Any) -> Any:
            return int.__new__(cls, value)

        __repr__ = Enum.__repr__
        __str__ = int.__repr__
        __format__ = int.__format__
        __hash__ = int.__hash__
        __reduce_ex__ = Enum.__reduce_ex__


__all__ = ["Enum", "IntEnum"]
