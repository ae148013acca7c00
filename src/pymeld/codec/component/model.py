"""In-memory model of a component binary, mirroring Binary.md production by production.

Why this shape: fusion needs to rebuild index spaces exactly as a validator would, and index
spaces are built in *section order*, so a `Component` is an ordered list of sections and each
section item can say which sort (index space) it adds an entry to (`item_sort` /
`defined_sorts`). Nothing here is semantic: type indices are plain ints, never resolved.

Conventions
-----------
* A component-level sort is `ComponentSort` (func, value, type, component, instance) or a
  `CoreSort` (the ``0x00 <core:sort>`` form: core func/table/memory/global/tag/type/module/
  instance). The enum member itself is the index-space key.
* A value type (`ValType`) is either an ``int`` (a type index) or a `Prim` member; `Prim` is
  *not* an int so indices and primitives can never compare equal by accident.
* A core value type (`CoreValType`) is an ``int`` opcode byte (0x7f i32 ... 0x7b v128, and the
  one-byte reference shorthands 0x70 funcref, 0x6f externref, ...) or a `CoreRefType`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import field
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld._enum import Enum, IntEnum, simple_enum

if TYPE_CHECKING:
    from typing import Any, TypeAlias

    from pymeld.codec.component.coretypes import *  # noqa: F403 (what `__getattr__` gives)
    from pymeld.codec.component.rareitems import *  # noqa: F403 (ditto)

# ---------------------------------------------------------------------------------------------
# Sorts
# ---------------------------------------------------------------------------------------------


@simple_enum
class CoreSort(IntEnum):
    """``core:sort``; values are the binary opcodes."""

    FUNC = 0x00
    TABLE = 0x01
    MEMORY = 0x02
    GLOBAL = 0x03
    TAG = 0x04
    TYPE = 0x10
    MODULE = 0x11
    INSTANCE = 0x12


@simple_enum
class ComponentSort(IntEnum):
    """``sort`` (component level); CORE (0x00) never appears in the model: a `CoreSort` does."""

    CORE = 0x00
    FUNC = 0x01
    VALUE = 0x02
    TYPE = 0x03
    COMPONENT = 0x04
    INSTANCE = 0x05


Sort: TypeAlias = CoreSort | ComponentSort


def sort_key(sort: Sort) -> tuple[bool, int]:
    """Index-space key that keeps core and component sorts apart: they are distinct IntEnums
    whose values clash (core `table` and component `func` are both 1), so they must never share
    a dict key."""
    return (isinstance(sort, CoreSort), int(sort))


def sort_name(sort: Sort) -> str:
    """Text-format name, e.g. ``core func`` or ``instance``."""
    if isinstance(sort, CoreSort):
        return "core " + sort.name.lower()
    return sort.name.lower()


# ---------------------------------------------------------------------------------------------
# Component value types
# ---------------------------------------------------------------------------------------------


@simple_enum
class Prim(Enum):
    """``primvaltype``; ``.code`` is the binary opcode, ``.value`` the text name."""

    BOOL = "bool"
    S8 = "s8"
    U8 = "u8"
    S16 = "s16"
    U16 = "u16"
    S32 = "s32"
    U32 = "u32"
    S64 = "s64"
    U64 = "u64"
    F32 = "f32"
    F64 = "f64"
    CHAR = "char"
    STRING = "string"
    ERROR_CONTEXT = "error-context"

    @property
    def code(self) -> int:
        return PRIM_CODE[self]


PRIM_CODE: dict[Prim, int] = {
    Prim.BOOL: 0x7F,
    Prim.S8: 0x7E,
    Prim.U8: 0x7D,
    Prim.S16: 0x7C,
    Prim.U16: 0x7B,
    Prim.S32: 0x7A,
    Prim.U32: 0x79,
    Prim.S64: 0x78,
    Prim.U64: 0x77,
    Prim.F32: 0x76,
    Prim.F64: 0x75,
    Prim.CHAR: 0x74,
    Prim.STRING: 0x73,
    Prim.ERROR_CONTEXT: 0x64,
}
PRIM_BY_CODE: dict[int, Prim] = {v: k for k, v in PRIM_CODE.items()}

ValType: TypeAlias = "int | Prim"


@dataclass
class RecordType:
    fields: list[tuple[str, ValType]]


@dataclass
class Case:
    name: str
    type: ValType | None


@dataclass
class VariantType:
    cases: list[Case]


@dataclass
class ListType:
    """``list<T>`` (0x70) or fixed-length ``list<T, N>`` (0x67) when ``length`` is set."""

    element: ValType
    length: int | None = None


@dataclass
class TupleType:
    types: list[ValType]


@dataclass
class FlagsType:
    names: list[str]


@dataclass
class EnumType:
    names: list[str]


@dataclass
class OptionType:
    type: ValType


@dataclass
class ResultType:
    ok: ValType | None
    err: ValType | None


@dataclass
class OwnType:
    resource: int


@dataclass
class BorrowType:
    resource: int


DefValType: TypeAlias = (
    "Prim | RecordType | VariantType | ListType | TupleType | FlagsType | EnumType | OptionType"  # noqa: F405
    " | ResultType | OwnType | BorrowType | StreamType | FutureType | MapType"
)


@dataclass
class FuncType:
    """``functype``: 0x40 (sync) or 0x43 (``async``); ``result`` None means no result."""

    params: list[tuple[str, ValType]]
    result: ValType | None
    is_async: bool = False


@dataclass
class ResourceType:
    """``resourcetype``: ``0x3f rep dtor?`` (``dtor`` is a core func index)."""

    rep: CoreValType
    dtor: int | None


# -- extern descriptors / names -----------------------------------------------------------------


@dataclass
class ExternDesc:
    """``externtype``. ``sort`` is CoreSort.MODULE or a ComponentSort.

    * module/func/component/instance: ``index`` is the (core) type index.
    * type: ``index`` set means ``(eq index)``; ``index is None`` means ``(sub resource)``.
    * value: ``valtype`` set means a value of that type, else ``(eq index)`` of a value.
    """

    sort: Sort
    index: int | None = None
    valtype: ValType | None = None

    @property
    def is_sub_resource(self) -> bool:
        return self.sort is ComponentSort.TYPE and self.index is None


@simple_enum
class AttributeKind(IntEnum):
    IMPLEMENTS = 0x00
    VERSION_SUFFIX = 0x01
    EXTERNAL_ID = 0x02


@dataclass
class ExternName:
    """``nameattributes``: ``tag`` is the leading byte (0x00/0x01 plain, 0x02 with attributes)."""

    name: str
    tag: int = 0x00
    attributes: list[Attribute] = field(default_factory=list)  # noqa: F405

    def attribute(self, kind: AttributeKind) -> str | None:
        for a in self.attributes:
            if a.kind == kind:
                return a.value
        return None

    def __str__(self) -> str:
        return self.name


# ---------------------------------------------------------------------------------------------
# Core types (inside components): the classes are `pymeld.codec.component.coretypes`'s, read
# through this module (`__getattr__`); most compositions declare none, so they load when first
# read, not with this module.
# ---------------------------------------------------------------------------------------------

#: The names `__getattr__` takes from `pymeld.codec.component.coretypes`.
CORE_TYPE_NAMES = frozenset(
    {
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
    }
)

#: The names `__getattr__` takes from `pymeld.codec.component.rareitems` (stream, future and map
#: types, name attributes, values, start sections: no corpus composition has one).
RARE_ITEM_NAMES = frozenset(
    {"Attribute", "FutureType", "MapType", "StartSection", "StreamType", "Value", "ValueSection"}
)

if not TYPE_CHECKING:  # (for mypy, the names are the star imports above and nothing else)

    def __getattr__(name: str) -> Any:
        if name in CORE_TYPE_NAMES:
            from pymeld.codec.component import coretypes

            return getattr(coretypes, name)
        if name in RARE_ITEM_NAMES:
            from pymeld.codec.component import rareitems

            return getattr(rareitems, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _is_core_type_item(item: object) -> bool:
    """Whether ``item`` is a core type or declarator (`item_sort`: each adds a core type index).
    None can exist before `coretypes` is loaded, and asking must not load it."""
    coretypes = sys.modules.get("pymeld.codec.component.coretypes")
    return coretypes is not None and isinstance(
        item, (coretypes.CoreRecType, coretypes.CoreModuleType, coretypes.CoreTypeDeclarator)
    )


CoreValType: TypeAlias = "int | CoreRefType"  # noqa: F405
# Storage types add the packed opcodes 0x78 (i8) / 0x77 (i16) as plain ints.
CoreStorageType: TypeAlias = "int | CoreRefType"  # noqa: F405
CoreCompType: TypeAlias = "CoreFuncType | CoreStructType | CoreArrayType"  # noqa: F405
CoreModuleDecl: TypeAlias = "CoreImportDecl | CoreTypeDecl | CoreOuterAlias | CoreExportDecl"  # noqa: F405
CoreType: TypeAlias = "CoreRecType | CoreModuleType"  # noqa: F405


# ---------------------------------------------------------------------------------------------
# Component / instance types and their declarators
# ---------------------------------------------------------------------------------------------


@dataclass
class TypeDeclarator:
    """``instancedecl 0x01 type``."""

    type: Type


@dataclass
class AliasDeclarator:
    """``instancedecl 0x02 alias``."""

    alias: Alias


@dataclass
class ImportDecl:
    """``componentdecl 0x03 importdecl``."""

    name: ExternName
    desc: ExternDesc


@dataclass
class ExportDecl:
    """``instancedecl 0x04 exportdecl`` (adds an index in ``desc.sort``'s space)."""

    name: ExternName
    desc: ExternDesc


Declarator: TypeAlias = (
    "CoreTypeDeclarator | TypeDeclarator | AliasDeclarator | ImportDecl | ExportDecl"  # noqa: F405
)


@dataclass
class ComponentType:
    decls: list[Declarator]


@dataclass
class InstanceType:
    decls: list[Declarator]


Type: TypeAlias = "DefValType | FuncType | ComponentType | InstanceType | ResourceType"


# ---------------------------------------------------------------------------------------------
# Instances and aliases
# ---------------------------------------------------------------------------------------------


@dataclass
class CoreInstantiateArg:
    name: str
    instance: int  # core instance index (the 0x12 sort is implied)


@dataclass
class CoreInstantiate:
    module: int
    args: list[CoreInstantiateArg]


@dataclass(slots=True)
class CoreInlineExport:
    name: str
    sort: CoreSort
    index: int


@dataclass
class CoreInlineExports:
    exports: list[CoreInlineExport]


CoreInstance: TypeAlias = "CoreInstantiate | CoreInlineExports"


@dataclass
class InstantiateArg:
    name: str
    sort: Sort
    index: int


@dataclass
class Instantiate:
    component: int
    args: list[InstantiateArg]


@dataclass
class InlineExport:
    name: ExternName
    sort: Sort
    index: int


@dataclass
class InlineExports:
    exports: list[InlineExport]


Instance: TypeAlias = "Instantiate | InlineExports"


@dataclass
class AliasExport:
    """``(alias export instance name (sort))`` of a component instance."""

    sort: Sort
    instance: int
    name: str


@dataclass(slots=True)
class AliasCoreExport:
    """``(alias core export instance name (core sort))`` of a core instance."""

    sort: CoreSort
    instance: int
    name: str


@dataclass
class AliasOuter:
    sort: Sort
    count: int
    index: int


Alias: TypeAlias = "AliasExport | AliasCoreExport | AliasOuter"


# ---------------------------------------------------------------------------------------------
# Canonical definitions
# ---------------------------------------------------------------------------------------------


@simple_enum
class CanonOptKind(IntEnum):
    UTF8 = 0x00
    UTF16 = 0x01
    LATIN1_UTF16 = 0x02
    MEMORY = 0x03
    REALLOC = 0x04
    POST_RETURN = 0x05
    ASYNC = 0x06
    CALLBACK = 0x07
    CORE_TYPE = 0x08
    GC = 0x09


CANON_OPT_WITH_INDEX = frozenset(
    {
        CanonOptKind.MEMORY,
        CanonOptKind.REALLOC,
        CanonOptKind.POST_RETURN,
        CanonOptKind.CALLBACK,
        CanonOptKind.CORE_TYPE,
    }
)


@dataclass
class CanonOpt:
    kind: CanonOptKind
    index: int | None = None  # memory / func / core type index for the kinds that carry one


@dataclass
class CanonLift:
    """``canon lift``: defines a component func (ComponentSort.FUNC)."""

    core_func: int
    options: list[CanonOpt]
    type: int


@dataclass
class CanonLower:
    """``canon lower``: defines a core func."""

    func: int
    options: list[CanonOpt]


@dataclass
class CanonBuiltin:
    """Every other canon definition (all define one core func).

    ``op`` is the text name (``resource.new``, ``stream.read``, ``thread.spawn-ref`` ...), see
    `CANON_BUILTINS` for the opcode and which immediates it carries:

    * ``type``: component type index (resource/stream/future) or core type index (thread.*)
    * ``options``: canon options (task.return, stream/future read/write, error-context.*)
    * ``flag``: the ``async?`` / ``cancel?`` / ``shared?`` byte as a bool
    * ``memory`` (waitable-set.wait/poll), ``table`` (thread.*-indirect)
    * ``valtype`` + ``index`` (context.get/set), ``result`` (task.return's resultlist)
    """

    op: str
    type: int | None = None
    options: list[CanonOpt] | None = None
    flag: bool | None = None
    memory: int | None = None
    table: int | None = None
    valtype: CoreValType | None = None
    index: int | None = None
    result: ValType | None = None


# opcode -> (name, immediates). Immediates, in binary order: "type" (u32), "result"
# (resultlist), "opts", "flag" (0x00/0x01 byte), "flag_first" (flag before the type index),
# "valtype" (core valtype), "index" (u32), "memory" (u32), "table" (u32).
CANON_BUILTINS: dict[int, tuple[str, tuple[str, ...]]] = {
    0x02: ("resource.new", ("type",)),
    0x03: ("resource.drop", ("type",)),
    0x07: ("resource.drop async", ("type",)),
    0x04: ("resource.rep", ("type",)),
    0x24: ("backpressure.inc", ()),
    0x25: ("backpressure.dec", ()),
    0x09: ("task.return", ("result", "opts")),
    0x05: ("task.cancel", ()),
    0x0A: ("context.get", ("valtype", "index")),
    0x0B: ("context.set", ("valtype", "index")),
    0x0C: ("thread.yield", ("flag",)),
    0x06: ("subtask.cancel", ("flag",)),
    0x0D: ("subtask.drop", ()),
    0x0E: ("stream.new", ("type",)),
    0x0F: ("stream.read", ("type", "opts")),
    0x10: ("stream.write", ("type", "opts")),
    0x11: ("stream.cancel-read", ("type", "flag")),
    0x12: ("stream.cancel-write", ("type", "flag")),
    0x13: ("stream.drop-readable", ("type",)),
    0x14: ("stream.drop-writable", ("type",)),
    0x15: ("future.new", ("type",)),
    0x16: ("future.read", ("type", "opts")),
    0x17: ("future.write", ("type", "opts")),
    0x18: ("future.cancel-read", ("type", "flag")),
    0x19: ("future.cancel-write", ("type", "flag")),
    0x1A: ("future.drop-readable", ("type",)),
    0x1B: ("future.drop-writable", ("type",)),
    0x1C: ("error-context.new", ("opts",)),
    0x1D: ("error-context.debug-message", ("opts",)),
    0x1E: ("error-context.drop", ()),
    0x1F: ("waitable-set.new", ()),
    0x20: ("waitable-set.wait", ("flag", "memory")),
    0x21: ("waitable-set.poll", ("flag", "memory")),
    0x22: ("waitable-set.drop", ()),
    0x23: ("waitable.join", ()),
    0x26: ("thread.index", ()),
    0x27: ("thread.new-indirect", ("type", "table")),
    0x28: ("thread.resume-later", ()),
    0x29: ("thread.suspend", ("flag",)),
    0x2A: ("thread.suspend-then-resume", ("flag",)),
    0x2B: ("thread.yield-then-resume", ("flag",)),
    0x2C: ("thread.suspend-then-promote", ("flag",)),
    0x2D: ("thread.yield-then-promote", ("flag",)),
    0x40: ("thread.spawn-ref", ("flag_first", "type")),
    0x41: ("thread.spawn-indirect", ("flag_first", "type", "table")),
    0x42: ("thread.available-parallelism", ("flag_first",)),
}
CANON_BUILTIN_CODE: dict[str, int] = {name: code for code, (name, _) in CANON_BUILTINS.items()}

Canon: TypeAlias = "CanonLift | CanonLower | CanonBuiltin"


# ---------------------------------------------------------------------------------------------
# Imports, exports, start, values
# ---------------------------------------------------------------------------------------------


@dataclass
class Import:
    name: ExternName
    desc: ExternDesc

    @property
    def sort(self) -> Sort:
        return self.desc.sort


@dataclass
class Export:
    """An export also adds a new index (aliasing ``sort``/``index``) to ``sort``'s space."""

    name: ExternName
    sort: Sort
    index: int
    desc: ExternDesc | None = None


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


@dataclass
class CustomSection:
    """Section 0, kept verbatim (``data`` is everything after the name)."""

    name: str
    data: bytes | memoryview
    offset: int = 0

    id = 0


@dataclass
class CoreModuleSection:
    """Section 1. ``data`` is the raw module (a zero-copy slice of the input); ``offset`` is its
    absolute offset in the outermost file so core-codec errors point at the right byte.

    The encoder writes ``data`` verbatim; to substitute a rebuilt module call `replace` (with
    bytes, or with a core-codec module object which is encoded on output)."""

    data: bytes | bytearray | memoryview | None
    offset: int = 0
    file: str | None = None
    _module: Any = field(default=None, repr=False)

    id = 1

    @property
    def module(self) -> Any:
        """The parsed core module (``pymeld.codec.core.parse_module``), parsed once on demand."""
        if self._module is None:
            from pymeld.codec.core import parse_module  # another engineer's codec

            assert self.data is not None
            self._module = parse_module(bytes(self.data), file=self.file, base=self.offset)
        return self._module

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else -1

    def replace(self, module: Any) -> None:
        """Replace the module: ``bytes`` are emitted as-is, anything else via the core encoder."""
        if isinstance(module, bytes | bytearray | memoryview):
            self.data, self._module = module, None
        else:
            self.data, self._module = None, module

    def encoded(self) -> bytes | bytearray | memoryview:
        if self.data is not None:
            return self.data
        from pymeld.codec.core import encode_module

        return encode_module(self._module)


@dataclass
class CoreInstanceSection:
    items: list[CoreInstance]
    id = 2


@dataclass
class CoreTypeSection:
    items: list[CoreType]
    id = 3


@dataclass
class ComponentSection:
    """Section 4: a nested component (parsed in place)."""

    component: Component
    id = 4


@dataclass
class InstanceSection:
    items: list[Instance]
    id = 5


@dataclass
class AliasSection:
    items: list[Alias]
    id = 6


@dataclass
class TypeSection:
    items: list[Type]
    id = 7


@dataclass
class CanonSection:
    items: list[Canon]
    id = 8


@dataclass
class ImportSection:
    items: list[Import]
    id = 10


@dataclass
class ExportSection:
    items: list[Export]
    id = 11


Section: TypeAlias = (
    "CustomSection | CoreModuleSection | CoreInstanceSection | CoreTypeSection | ComponentSection"  # noqa: F405
    " | InstanceSection | AliasSection | TypeSection | CanonSection | StartSection"
    " | ImportSection | ExportSection | ValueSection"
)


@dataclass
class Component:
    """A component: preamble version/layer plus its sections in binary order."""

    sections: list[Section] = field(default_factory=list)
    version: int = 0x0D
    offset: int = 0  # absolute offset of the preamble in the outermost file
    file: str | None = None
    # Section position -> byte width of its size LEB128, recorded only when the input used a
    # padded (non-minimal) width, so such hand-made binaries still re-encode byte for byte.
    size_widths: dict[int, int] = field(default_factory=dict)

    def iter_sections(self, kind: type) -> Iterator[Any]:
        return (s for s in self.sections if isinstance(s, kind))

    @property
    def imports(self) -> list[Import]:
        return [i for s in self.iter_sections(ImportSection) for i in s.items]

    @property
    def exports(self) -> list[Export]:
        return [e for s in self.iter_sections(ExportSection) for e in s.items]

    @property
    def core_modules(self) -> list[CoreModuleSection]:
        return list(self.iter_sections(CoreModuleSection))

    @property
    def components(self) -> list[Component]:
        return [s.component for s in self.iter_sections(ComponentSection)]


# ---------------------------------------------------------------------------------------------
# Index-space walking
# ---------------------------------------------------------------------------------------------


def item_sort(item: object) -> Sort:
    """The index space one section item (or declarator) adds an entry to. By the item's class
    where that decides (a dict lookup: the wrapper and `inspect` ask for every item they add or
    show); `_matched_item_sort` for the rest."""
    cls = item.__class__
    sort = _FIXED_SORTS.get(cls)
    if sort is not None:
        return sort
    if cls in _OWN_SORT:
        return item.sort  # type: ignore[attr-defined]
    if cls in _DESC_SORT:
        return item.desc.sort  # type: ignore[attr-defined]
    return _matched_item_sort(item)


def _matched_item_sort(item: object) -> Sort:
    """`item_sort` by matching the item against each kind in turn (subclasses included)."""
    match item:
        case CanonLift():
            return ComponentSort.FUNC
        case CanonLower() | CanonBuiltin():
            return CoreSort.FUNC
        case AliasExport() | AliasCoreExport() | AliasOuter():
            return item.sort
        case Import() | ImportDecl() | ExportDecl():
            return item.desc.sort
        case Export():
            return item.sort
        case CoreInstantiate() | CoreInlineExports():
            return CoreSort.INSTANCE
        case Instantiate() | InlineExports():
            return ComponentSort.INSTANCE
        case CoreModuleSection():
            return CoreSort.MODULE
        case ComponentSection():
            return ComponentSort.COMPONENT
        case AliasDeclarator():
            return item.alias.sort
        case _ if _is_core_type_item(item):
            return CoreSort.TYPE
        case _:
            # Everything left in a type section / TypeDeclarator is a component type.
            return ComponentSort.TYPE


#: `item_sort` of the items whose class alone decides their sort (all component types too).
_FIXED_SORTS: dict[type, Sort] = {
    CanonLift: ComponentSort.FUNC,
    CanonLower: CoreSort.FUNC,
    CanonBuiltin: CoreSort.FUNC,
    CoreInstantiate: CoreSort.INSTANCE,
    CoreInlineExports: CoreSort.INSTANCE,
    Instantiate: ComponentSort.INSTANCE,
    InlineExports: ComponentSort.INSTANCE,
    CoreModuleSection: CoreSort.MODULE,
    ComponentSection: ComponentSort.COMPONENT,
    TypeDeclarator: ComponentSort.TYPE,
    **dict.fromkeys(
        (
            Prim,
            RecordType,
            VariantType,
            ListType,
            TupleType,
            FlagsType,
            EnumType,
            OptionType,
            ResultType,
            OwnType,
            BorrowType,
            FuncType,
            ComponentType,
            InstanceType,
            ResourceType,
        ),
        ComponentSort.TYPE,
    ),
}
#: Items whose ``sort`` field is their sort; those whose ``desc.sort`` is.
_OWN_SORT = frozenset({AliasExport, AliasCoreExport, AliasOuter, Export})
_DESC_SORT = frozenset({Import, ImportDecl, ExportDecl})


#: Sections each of whose items adds one index (`defined_sorts` walks them without matching).
_ONE_INDEX_PER_ITEM = frozenset(
    {
        CoreInstanceSection,
        InstanceSection,
        AliasSection,
        TypeSection,
        CanonSection,
        ImportSection,
        ExportSection,
    }
)


def defined_sorts(section: Section) -> Iterator[tuple[Sort, object]]:
    """Yield ``(sort, item)`` for every index a section adds, in order.

    Note a core rec group adds one core type index *per subtype*; this yields it once per
    subtype (the same `CoreRecType` item repeated). Custom sections add nothing.
    """
    if section.__class__ in _ONE_INDEX_PER_ITEM:
        for it in section.items:  # type: ignore[union-attr]
            yield item_sort(it), it
        return
    match section:
        case CoreModuleSection() | ComponentSection():
            yield item_sort(section), section
        case CustomSection():
            return
        case CoreTypeSection():
            from pymeld.codec.component.coretypes import CoreRecType

            for t in section.items:
                n = len(t.subtypes) if isinstance(t, CoreRecType) else 1
                for _ in range(n):
                    yield CoreSort.TYPE, t
        case _:  # start and value sections (`rareitems`), or a subclass of one above
            from pymeld.codec.component.rareitems import StartSection, ValueSection

            if isinstance(section, StartSection):
                for _ in range(section.results):
                    yield ComponentSort.VALUE, section
            elif isinstance(section, ValueSection):
                for v in section.items:
                    yield ComponentSort.VALUE, v
            else:
                for it in section.items:
                    yield item_sort(it), it
