"""Resolved component value types, independent of any binary codec.

The adapter generator only needs the *shape* of a type (after the component codec has resolved
type indices and aliases), so these are plain frozen dataclasses: hashable (usable as cache keys for
layouts) and comparable. Names mirror the Canonical ABI's `definitions.py`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.codec.core.emitter import CoreValType as CoreValType  # re-exported

if TYPE_CHECKING:
    from typing import Literal, TypeAlias

StringEncoding: TypeAlias = 'Literal["utf8", "utf16", "latin1+utf16"]'


class ValType:
    """Base of every component value type."""

    __slots__ = ()


@dataclass(frozen=True)
class Bool(ValType):
    pass


@dataclass(frozen=True)
class S8(ValType):
    pass


@dataclass(frozen=True)
class U8(ValType):
    pass


@dataclass(frozen=True)
class S16(ValType):
    pass


@dataclass(frozen=True)
class U16(ValType):
    pass


@dataclass(frozen=True)
class S32(ValType):
    pass


@dataclass(frozen=True)
class U32(ValType):
    pass


@dataclass(frozen=True)
class S64(ValType):
    pass


@dataclass(frozen=True)
class U64(ValType):
    pass


@dataclass(frozen=True)
class F32(ValType):
    pass


@dataclass(frozen=True)
class F64(ValType):
    pass


@dataclass(frozen=True)
class Char(ValType):
    pass


@dataclass(frozen=True)
class String(ValType):
    pass


@dataclass(frozen=True)
class List(ValType):
    """`list<elem>`, or the fixed-length `list<elem, N>` when `fixed_len` is set (N > 0)."""

    elem: ValType
    fixed_len: int | None = None

    def __post_init__(self) -> None:
        if self.fixed_len is not None and self.fixed_len <= 0:
            raise ValueError(f"fixed-length list needs a length > 0, got {self.fixed_len}")


@dataclass(frozen=True)
class Record(ValType):
    fields: tuple[tuple[str, ValType], ...]

    def __post_init__(self) -> None:
        if not self.fields:
            raise ValueError("record must have at least one field")


@dataclass(frozen=True)
class Tuple(ValType):
    types: tuple[ValType, ...]

    def __post_init__(self) -> None:
        if not self.types:
            raise ValueError("tuple must have at least one element")


@dataclass(frozen=True)
class Variant(ValType):
    cases: tuple[tuple[str, ValType | None], ...]

    def __post_init__(self) -> None:
        if not self.cases:
            raise ValueError("variant must have at least one case")


@dataclass(frozen=True)
class Enum(ValType):
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.labels:
            raise ValueError("enum must have at least one label")


@dataclass(frozen=True)
class Option(ValType):
    t: ValType


@dataclass(frozen=True)
class Result(ValType):
    ok: ValType | None = None
    err: ValType | None = None


@dataclass(frozen=True)
class Flags(ValType):
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        # The current Canonical ABI caps flags at 32 labels (one i32).
        if not 0 < len(self.labels) <= 32:
            raise ValueError(f"flags must have 1..32 labels, got {len(self.labels)}")


@dataclass(frozen=True)
class Map(ValType):
    """`map<key, value>`: the canonical ABI treats it as `list<tuple<key, value>>`."""

    key: ValType
    value: ValType


@dataclass(frozen=True)
class Own(ValType):
    """Owned handle; `resource` is an opaque, hashable identity chosen by the resolver."""

    resource: Hashable


@dataclass(frozen=True)
class Borrow(ValType):
    resource: Hashable


@dataclass(frozen=True)
class Stream(ValType):
    """`stream<elem>` (``elem`` None: no payload); a handle in the owning instance's table."""

    elem: ValType | None = None


@dataclass(frozen=True)
class Future(ValType):
    """`future<elem>` (``elem`` None: no payload); a handle like `Stream`."""

    elem: ValType | None = None


@dataclass(frozen=True)
class ErrorContext(ValType):
    """`error-context`: a handle into the instance's error-context table."""


#: Values that are handles into per-instance async tables (flatten to one i32 like own/borrow).
AsyncHandle = Stream | Future | ErrorContext


@dataclass(frozen=True)
class FuncType:
    params: tuple[tuple[str, ValType], ...]
    result: ValType | None = None
    is_async: bool = False  # `async func`: callers may lower it async without blocking

    def param_types(self) -> list[ValType]:
        return [t for _, t in self.params]

    def result_type(self) -> list[ValType]:
        return [] if self.result is None else [self.result]


@dataclass(frozen=True)
class CanonOptions:
    """Canonical options of one side, with indices already resolved in the *fused* module.

    `memory` is a memory index, `realloc` / `post_return` are function indices; all opaque here.
    """

    string_encoding: StringEncoding = "utf8"
    memory: int | None = None
    realloc: int | None = None
    post_return: int | None = None
    is_async: bool = False  # only passed through (pymeld.merge.asyncpass), never adapted
    callback: int | None = None

    def __post_init__(self) -> None:
        if self.string_encoding not in ("utf8", "utf16", "latin1+utf16"):
            raise ValueError(f"unknown string encoding {self.string_encoding!r}")


#: The primitive value types: no parts (`children`).
_PRIMITIVES = frozenset({Bool, S8, U8, S16, U16, S32, U32, S64, U64, F32, F64, Char, String})


def children(t: object) -> tuple[ValType, ...]:
    """The value types directly inside ``t`` (a value type or `FuncType`), in order.

    One place that knows every constructor's parts, for walks such as "every handle inside".
    """
    if t.__class__ in _PRIMITIVES:  # most leaves of a walk: none of the cases below, at once
        return ()
    match t:
        case FuncType():
            return (*t.param_types(), *t.result_type())
        case List(e, _) | Option(e):
            return (e,)
        case Stream(e) | Future(e):
            return () if e is None else (e,)
        case Map(k, v):
            return (k, v)
        case Record(fields):
            return tuple(f for _, f in fields)
        case Tuple(ts):
            return ts
        case Variant(cases):
            return tuple(c for _, c in cases if c is not None)
        case Result(ok, err):
            return tuple(x for x in (ok, err) if x is not None)
    return ()


def async_values(t: object) -> list[ValType]:
    """Every stream/future/error-context inside ``t`` (outermost first)."""
    own = [t] if isinstance(t, Stream | Future | ErrorContext) else []
    return own + [h for c in children(t) for h in async_values(c)]


def handles(t: object) -> list[Own | Borrow]:
    """Every own/borrow inside ``t`` (depth first, in order)."""
    if isinstance(t, Own | Borrow):
        return [t]
    return [h for c in children(t) for h in handles(c)]
