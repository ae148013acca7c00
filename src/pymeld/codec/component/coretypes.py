"""Core types declared inside a component: ``core:type`` sections (GC rec groups, module types)
and the ``core:type`` declarators of component and instance types.

Why a module of their own: wit-component's compositions declare none, so fusing or inspecting
one never needs these 15 classes, and building them (the class statements and
`pymeld._dataclass`) was 1-2 M instructions of a small fuse's or inspect's start-up.
`pymeld.codec.component.model` gives their names as its own (loaded on first read: its
``__getattr__``), and `pymeld.codec.component.parse_coretypes` reads them.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.codec.component.model import CoreSort

if TYPE_CHECKING:
    from pymeld.codec.component.model import (
        CoreCompType,
        CoreModuleDecl,
        CoreStorageType,
        CoreType,
        CoreValType,
    )


@dataclass
class CoreRefType:
    """``(ref null? ht)`` in its long form (0x63/0x64). ``heap`` is the s33 heap type: >= 0 a type
    index, < 0 an abstract heap type (e.g. -0x10 = 0x70 func). ``shared`` = 0x65 prefix."""

    nullable: bool
    heap: int
    shared: bool = False


@dataclass
class CoreFuncType:
    params: list[CoreValType]
    results: list[CoreValType]


@dataclass
class CoreFieldType:
    storage: CoreStorageType
    mutable: bool


@dataclass
class CoreStructType:
    fields: list[CoreFieldType]


@dataclass
class CoreArrayType:
    field: CoreFieldType


@dataclass
class CoreSubType:
    """A GC ``subtype``. ``form``: None = bare comptype, 0x50 = ``sub``, 0x4f = ``sub final``.
    ``prefixed`` records the component-level ``0x00 0x50`` disambiguation prefix."""

    comp: CoreCompType
    form: int | None = None
    supertypes: list[int] = field(default_factory=list)
    shared: bool = False
    prefixed: bool = False

    @property
    def is_final(self) -> bool:
        return self.form != 0x50


@dataclass
class CoreRecType:
    """A ``rectype``: ``explicit`` = written as ``0x4e vec(subtype)`` (else a lone subtype)."""

    subtypes: list[CoreSubType]
    explicit: bool = False


@dataclass
class CoreLimits:
    """Table/memory limits; ``flags`` is the raw flags byte (max / shared / 64-bit / page size)."""

    flags: int
    minimum: int
    maximum: int | None = None
    page_size_log2: int | None = None


@dataclass
class CoreExternType:
    """``core:externtype``: kind 0 func(type index) 1 table 2 memory 3 global 4 tag(type index)."""

    kind: CoreSort
    index: int | None = None  # func / tag type index
    valtype: CoreValType | None = None  # table element / global type
    limits: CoreLimits | None = None  # table / memory
    mutable: int | None = None  # global mutability byte (0 const, 1 var; shared bits kept)


@dataclass
class CoreImportDecl:
    module: str
    name: str
    type: CoreExternType


@dataclass
class CoreExportDecl:
    name: str
    type: CoreExternType


@dataclass
class CoreOuterAlias:
    """``core:alias`` inside a module type: ``(alias outer count index (type))``."""

    count: int
    index: int


@dataclass
class CoreTypeDecl:
    type: CoreType


@dataclass
class CoreModuleType:
    decls: list[CoreModuleDecl]


@dataclass
class CoreTypeDeclarator:
    """``instancedecl 0x00 core:type``."""

    type: CoreType


__all__ = [
    "CoreArrayType",
    "CoreExportDecl",
    "CoreExternType",
    "CoreFieldType",
    "CoreFuncType",
    "CoreImportDecl",
    "CoreLimits",
    "CoreModuleType",
    "CoreOuterAlias",
    "CoreRecType",
    "CoreRefType",
    "CoreStructType",
    "CoreSubType",
    "CoreTypeDecl",
    "CoreTypeDeclarator",
]
