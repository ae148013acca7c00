"""Data model of a core WebAssembly module, mirroring the binary format one to one.

The model keeps what fusion needs structured (types, imports, index spaces, segments) and keeps
what it only has to copy or rewrite as bytes (const exprs, function bodies, custom sections).
It also remembers encoding choices that are not implied by the values (short vs explicit forms,
elem/data segment flags, widths of non-canonical size LEBs, presence of empty sections) so that
``encode_module(parse_module(b)) == b``.  Freshly built objects leave those fields at their
defaults and encode canonically.

Const exprs and bodies are stored *including* their terminating ``end`` (0x0B) byte.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld._enum import IntEnum, simple_enum

if TYPE_CHECKING:
    from typing import Any, TypeAlias

    from pymeld.codec.core.gctypes import ArrayType as ArrayType  # (what `__getattr__` gives)
    from pymeld.codec.core.gctypes import FieldType as FieldType
    from pymeld.codec.core.gctypes import StructType as StructType

# -- value types -----------------------------------------------------------------------------


@simple_enum
class NumType(IntEnum):
    """Number and vector types; the value is the binary type code."""

    I32 = 0x7F
    I64 = 0x7E
    F32 = 0x7D
    F64 = 0x7C
    V128 = 0x7B


@simple_enum
class PackedType(IntEnum):
    """Packed storage types (GC struct/array fields only)."""

    I8 = 0x78
    I16 = 0x77


@simple_enum
class AbsHeap(IntEnum):
    """Abstract heap types; the value is the binary code (also the short ref-type code)."""

    EXN = 0x69
    ARRAY = 0x6A
    STRUCT = 0x6B
    I31 = 0x6C
    EQ = 0x6D
    ANY = 0x6E
    EXTERN = 0x6F
    FUNC = 0x70
    NONE = 0x71
    NOEXTERN = 0x72
    NOFUNC = 0x73
    NOEXN = 0x74
    CONT = 0x68
    NOCONT = 0x75


@dataclass(frozen=True, slots=True)
class HeapType:
    """Either an abstract heap type (``index is None``) or a concrete type index.

    ``shared`` is the shared-everything-threads ``0x65`` prefix on an abstract heap type.
    """

    abstract: AbsHeap | None = None
    index: int | None = None
    shared: bool = False

    @property
    def concrete(self) -> bool:
        return self.index is not None


@dataclass(frozen=True, slots=True)
class RefType:
    """``(ref null? heap)``; ``short`` = encoded as the one-byte shorthand (e.g. 0x70 funcref).

    The shorthand is only possible for nullable, abstract, non-shared heap types.
    """

    nullable: bool
    heap: HeapType
    short: bool = False


ValType = NumType | RefType
StorageType = NumType | RefType | PackedType

FUNCREF = RefType(True, HeapType(AbsHeap.FUNC), short=True)
EXTERNREF = RefType(True, HeapType(AbsHeap.EXTERN), short=True)

# -- composite / sub / rec types -----------------------------------------------------------------


@dataclass(slots=True)
class FuncType:
    params: list[ValType] = field(default_factory=list)
    results: list[ValType] = field(default_factory=list)


#: The names `__getattr__` takes from `pymeld.codec.core.gctypes` (GC struct and array types:
#: loaded on first read, as no corpus composition's modules declare one).
GC_TYPE_NAMES = frozenset({"ArrayType", "FieldType", "StructType"})

if not TYPE_CHECKING:  # (for mypy, the names are the star import above and nothing else)

    def __getattr__(name: str) -> Any:
        if name in GC_TYPE_NAMES:
            from pymeld.codec.core import gctypes

            return getattr(gctypes, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CompositeType: TypeAlias = "FuncType | StructType | ArrayType"


@dataclass(slots=True)
class SubType:
    """A (possibly final) subtype; ``explicit`` = written with 0x50/0x4F even when not needed.

    A plain ``functype`` in the binary is ``SubType(FuncType, final=True, supers=[],
    explicit=False)``.  ``shared`` is the 0x65 shared composite prefix.
    """

    composite: CompositeType
    final: bool = True
    supers: list[int] = field(default_factory=list)
    explicit: bool = False
    shared: bool = False


@dataclass(slots=True)
class RecGroup:
    """A recursion group; ``explicit`` = written with the 0x4E prefix (required if >1 type)."""

    types: list[SubType]
    explicit: bool = False


# -- external types ------------------------------------------------------------------------------


@simple_enum
class ExternKind(IntEnum):
    FUNC = 0
    TABLE = 1
    MEMORY = 2
    GLOBAL = 3
    TAG = 4


@dataclass
class Limits:
    """Limits with the raw flags byte.

    Flags: bit0 has-max, bit1 shared (memories), bit2 64-bit index type, bit3 custom page size
    (memories; ``page_size_log2`` is then present).
    """

    min: int
    max: int | None = None
    flags: int | None = None
    page_size_log2: int | None = None

    def encoded_flags(self) -> int:
        if self.flags is not None:
            return self.flags
        return (1 if self.max is not None else 0) | (8 if self.page_size_log2 is not None else 0)

    @property
    def shared(self) -> bool:
        return bool(self.encoded_flags() & 2)

    @property
    def is64(self) -> bool:
        return bool(self.encoded_flags() & 4)


@dataclass
class TableType:
    element: RefType
    limits: Limits


@dataclass
class MemoryType:
    limits: Limits

    @property
    def shared(self) -> bool:
        return self.limits.shared

    @property
    def memory64(self) -> bool:
        return self.limits.is64


@dataclass(slots=True)
class GlobalType:
    content: ValType
    mutable: bool = False


@dataclass(slots=True)
class TagType:
    """Exception tag: attribute byte (always 0 = exception) and a function type index."""

    type_index: int
    attribute: int = 0


@dataclass(slots=True)
class FuncImport:
    type_index: int


ImportDesc = FuncImport | TableType | MemoryType | GlobalType | TagType


@dataclass(slots=True)
class Import:
    module: str
    name: str
    desc: ImportDesc

    @property
    def kind(self) -> ExternKind:
        return _DESC_KIND[type(self.desc)]


_DESC_KIND: dict[type, ExternKind] = {
    FuncImport: ExternKind.FUNC,
    TableType: ExternKind.TABLE,
    MemoryType: ExternKind.MEMORY,
    GlobalType: ExternKind.GLOBAL,
    TagType: ExternKind.TAG,
}


# -- definitions --------------------------------------------------------------------------------


@dataclass
class Table:
    """A defined table; ``init`` is the optional init const expr (0x40 0x00 form)."""

    type: TableType
    init: bytes | None = None


@dataclass(slots=True)
class Global:
    type: GlobalType
    init: bytes  # const expr incl. trailing 0x0B


@dataclass(slots=True)
class Export:
    name: str
    kind: ExternKind
    index: int


@simple_enum
class SegmentMode(IntEnum):
    ACTIVE = 0
    PASSIVE = 1
    DECLARATIVE = 2


@dataclass
class Elem:
    """Element segment.  Exactly one of ``funcs`` (function indices) / ``exprs`` is set.

    ``flags`` is the 0..7 encoding variant seen in the input (None = choose canonically).
    For the index forms, ``type`` is ``funcref`` (elemkind 0x00).
    """

    mode: SegmentMode
    type: RefType = FUNCREF
    funcs: list[int] | None = None
    exprs: list[bytes] | None = None
    table: int = 0
    offset: bytes | None = None  # const expr incl. 0x0B, active only
    flags: int | None = None


@dataclass(slots=True)
class Data:
    """Data segment; ``flags`` is 0/1/2 as seen in the input (None = choose canonically)."""

    mode: SegmentMode
    init: bytes
    memory: int = 0
    offset: bytes | None = None  # const expr incl. 0x0B, active only
    flags: int | None = None


@dataclass(frozen=True, slots=True)
class Local:
    count: int
    type: ValType


@dataclass(slots=True)
class Code:
    """A function body: local declarations and instruction bytes (incl. the final 0x0B).

    ``size_width`` is the byte width of the body-size LEB if the input padded it.
    ``locals_raw`` holds the exact local-declaration bytes if the input encoded them
    non-canonically; clear it (set to None) after editing ``locals``.
    """

    locals: list[Local]
    body: bytes
    size_width: int | None = None
    locals_raw: bytes | None = None


@dataclass
class CustomSection:
    """A custom section; ``after`` = id of the known section it followed (0 = at the start).

    On encode it is placed after every present section whose order is <= that of ``after``.
    """

    name: str
    data: bytes
    after: int = 0
    size_width: int | None = None


@simple_enum
class SectionId(IntEnum):
    CUSTOM = 0
    TYPE = 1
    IMPORT = 2
    FUNCTION = 3
    TABLE = 4
    MEMORY = 5
    GLOBAL = 6
    EXPORT = 7
    START = 8
    ELEMENT = 9
    CODE = 10
    DATA = 11
    DATA_COUNT = 12
    TAG = 13


# Binary order of known sections (tag sits between memory and global; datacount before code).
SECTION_ORDER: tuple[SectionId, ...] = (
    SectionId.TYPE,
    SectionId.IMPORT,
    SectionId.FUNCTION,
    SectionId.TABLE,
    SectionId.MEMORY,
    SectionId.TAG,
    SectionId.GLOBAL,
    SectionId.EXPORT,
    SectionId.START,
    SectionId.ELEMENT,
    SectionId.DATA_COUNT,
    SectionId.CODE,
    SectionId.DATA,
)
SECTION_RANK: dict[int, int] = {int(s): i + 1 for i, s in enumerate(SECTION_ORDER)}
SECTION_RANK[0] = 0


@dataclass
class Module:
    """A core module.  Index spaces = imports of a kind followed by definitions of that kind."""

    types: list[RecGroup] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    funcs: list[int] = field(default_factory=list)  # type index of each defined function
    tables: list[Table] = field(default_factory=list)
    memories: list[MemoryType] = field(default_factory=list)
    tags: list[TagType] = field(default_factory=list)
    globals: list[Global] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    start: int | None = None
    elems: list[Elem] = field(default_factory=list)
    data_count: int | None = None
    codes: list[Code] = field(default_factory=list)
    datas: list[Data] = field(default_factory=list)
    customs: list[CustomSection] = field(default_factory=list)
    # Encoding memory: sections present in the input even if empty, and padded size widths.
    present: set[int] = field(default_factory=set)
    size_widths: dict[int, int] = field(default_factory=dict)

    # -- index-space helpers -------------------------------------------------------------------
    def subtypes(self) -> list[SubType]:
        """The flat type index space (rec groups expanded)."""
        return [t for g in self.types for t in g.types]

    def imports_of(self, kind: ExternKind) -> list[Import]:
        return [i for i in self.imports if i.kind == kind]

    def num_imported(self, kind: ExternKind) -> int:
        return sum(1 for i in self.imports if i.kind == kind)

    def func_type_indices(self) -> list[int]:
        """Type index of every function in the function index space."""
        out = [i.desc.type_index for i in self.imports if isinstance(i.desc, FuncImport)]
        out.extend(self.funcs)
        return out

    def num_funcs(self) -> int:
        return self.num_imported(ExternKind.FUNC) + len(self.funcs)

    def num_tables(self) -> int:
        return self.num_imported(ExternKind.TABLE) + len(self.tables)

    def num_memories(self) -> int:
        return self.num_imported(ExternKind.MEMORY) + len(self.memories)

    def num_globals(self) -> int:
        return self.num_imported(ExternKind.GLOBAL) + len(self.globals)

    def num_tags(self) -> int:
        return self.num_imported(ExternKind.TAG) + len(self.tags)
