"""Component-model items none of the corpus compositions holds: ``stream``, ``future`` and
``map`` value types, extern-name attributes, component values and start sections (🪙).

Why a module of their own: a fusion of a wit-component composition without async or maps never
makes one of these 7 classes, and building each (its class statement and `pymeld._dataclass`)
is a few hundred thousand instructions of a small fuse's start-up. As with
`pymeld.codec.component.coretypes`, `pymeld.codec.component.model` gives their names as its own
(loaded on first read: its ``__getattr__``, `model.RARE_ITEM_NAMES`); code on the fuse path
names them only where such an item is being read or written (a match case after the common
ones, a parser branch), never at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.codec.component import model

if TYPE_CHECKING:
    from pymeld.codec.component.model import AttributeKind, ValType

__all__ = [
    "Attribute",
    "FutureType",
    "MapType",
    "StartSection",
    "StreamType",
    "Value",
    "ValueSection",
]


@dataclass
class StreamType:
    element: ValType | None


@dataclass
class FutureType:
    element: ValType | None


@dataclass
class MapType:
    key: ValType
    value: ValType


@dataclass
class Attribute:
    kind: AttributeKind
    value: str


@dataclass
class Value:
    """🪙 ``value``: type plus the raw ``val(t)`` bytes (decoding them needs type resolution)."""

    type: ValType
    data: bytes


@dataclass
class StartSection:
    """🪙 Section 9: ``func`` applied to value ``args``; appends ``results`` values."""

    func: int
    args: list[int]
    results: int
    id = 9


@dataclass
class ValueSection:
    items: list[Value]
    id = 12


# The value types are component types: `model.item_sort` answers them by class from now on.
model._FIXED_SORTS.update(
    dict.fromkeys((StreamType, FutureType, MapType), model.ComponentSort.TYPE)
)
