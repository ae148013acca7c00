"""GC composite types of core modules: ``struct`` and ``array`` (and their field types).

Why a module of their own: no corpus composition's core modules declare one, so a fusion never
makes these 3 classes, and building each (slotted: its class is made twice) was a few hundred
thousand instructions of a small fuse's start-up. `pymeld.codec.core.model` gives their names as
its own (loaded on first read: its ``__getattr__``, `model.GC_TYPE_NAMES`); the parser, encoder
and type remapping name them only after a composite type turned out not to be a function type.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass

if TYPE_CHECKING:
    from pymeld.codec.core.model import StorageType

__all__ = ["ArrayType", "FieldType", "StructType"]


@dataclass(slots=True)
class FieldType:
    storage: StorageType
    mutable: bool = False


@dataclass(slots=True)
class StructType:
    fields: list[FieldType] = field(default_factory=list)


@dataclass(slots=True)
class ArrayType:
    element: FieldType
