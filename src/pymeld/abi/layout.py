"""Canonical ABI layout: despecialization, alignment, sizes, flattening.

Same names and results as the spec's `definitions.py` (the tests compare against it). Only 32-bit
memories are supported (`ptr_type == 'i32'`); memory64 raises `UnsupportedFeature`.
Python integers never overflow, so sizes are exact; `flat_count` lets callers decide spilling
without materialising the flat list of e.g. a huge fixed-length list.
"""

from __future__ import annotations

from functools import cache

from pymeld._dataclass import dataclass
from pymeld.abi.types import (
    F32,
    F64,
    S8,
    S16,
    S32,
    S64,
    U8,
    U16,
    U32,
    U64,
    Bool,
    Borrow,
    Char,
    CoreValType,
    Enum,
    ErrorContext,
    Flags,
    FuncType,
    Future,
    List,
    Map,
    Option,
    Own,
    Record,
    Result,
    Stream,
    String,
    Tuple,
    ValType,
    Variant,
)
from pymeld.errors import UnsupportedFeature

MAX_FLAT_PARAMS = 16
MAX_FLAT_RESULTS = 1
MAX_STRING_BYTE_LENGTH = (1 << 28) - 1
MAX_LIST_BYTE_LENGTH = (1 << 28) - 1
UTF16_TAG = 1 << 31

Cases = tuple[tuple[str, ValType | None], ...]


def _check_ptr(ptr_type: str) -> None:
    if ptr_type != "i32":
        raise UnsupportedFeature(f"memory64 canonical ABI (ptr type {ptr_type}) is not supported")


@cache
def despecialize(t: ValType) -> ValType:
    """Reduce tuple/enum/option/result to record/variant, as the spec does before every rule."""
    match t:
        case Tuple(ts):
            return Record(tuple((str(i), u) for i, u in enumerate(ts)))
        case Enum(labels):
            return Variant(tuple((label, None) for label in labels))
        case Option(u):
            return Variant((("none", None), ("some", u)))
        case Result(ok, err):
            return Variant((("ok", ok), ("error", err)))
        case Map(k, v):
            return List(Record((("0", k), ("1", v))))
    return t


def discriminant_type(cases: Cases) -> ValType:
    """Smallest unsigned int holding a case index (integer math; the spec's log2 is equivalent)."""
    n = len(cases)
    assert 0 < n < (1 << 32)
    nbytes = -(-(n - 1).bit_length() // 8)
    if nbytes <= 1:
        return U8()
    if nbytes == 2:
        return U16()
    return U32()


@cache
def alignment(t: ValType, ptr_type: str = "i32") -> int:
    _check_ptr(ptr_type)
    match despecialize(t):
        case Bool() | S8() | U8():
            return 1
        case S16() | U16():
            return 2
        case (
            S32() | U32() | F32() | Char() | Own() | Borrow() | Stream() | Future() | ErrorContext()
        ):
            return 4
        case S64() | U64() | F64():
            return 8
        case String():
            return 4
        case List(elem, n):
            return 4 if n is None else alignment(elem)
        case Record(fields):
            return max(alignment(ft) for _, ft in fields)
        case Variant(cases):
            return max(alignment(discriminant_type(cases)), max_case_alignment(cases))
        case Flags(labels):
            return _flags_size(len(labels))
    raise TypeError(f"not a value type: {t!r}")


def max_case_alignment(cases: Cases, ptr_type: str = "i32") -> int:
    return max([1] + [alignment(ct, ptr_type) for _, ct in cases if ct is not None])


def align_to(ptr: int, align: int) -> int:
    return -(-ptr // align) * align


def _flags_size(n: int) -> int:
    assert 0 < n <= 32
    return 1 if n <= 8 else 2 if n <= 16 else 4


@cache
def elem_size(t: ValType, ptr_type: str = "i32") -> int:
    _check_ptr(ptr_type)
    match despecialize(t):
        case Bool() | S8() | U8():
            return 1
        case S16() | U16():
            return 2
        case (
            S32() | U32() | F32() | Char() | Own() | Borrow() | Stream() | Future() | ErrorContext()
        ):
            return 4
        case S64() | U64() | F64():
            return 8
        case String():
            return 8
        case List(elem, n):
            return 8 if n is None else n * elem_size(elem)
        case Record(fields):
            s = 0
            for _, ft in fields:
                s = align_to(s, alignment(ft)) + elem_size(ft)
            return align_to(s, alignment(t))
        case Variant(cases):
            return align_to(
                payload_offset(cases) + max([0] + [elem_size(ct) for _, ct in cases if ct]),
                alignment(t),
            )
        case Flags(labels):
            return _flags_size(len(labels))
    raise TypeError(f"not a value type: {t!r}")


def payload_offset(cases: Cases) -> int:
    """Offset of a variant's payload from its start (discriminant, then case alignment)."""
    return align_to(elem_size(discriminant_type(cases)), max_case_alignment(cases))


def field_offsets(fields: tuple[tuple[str, ValType], ...]) -> list[int]:
    """Offsets of record fields, as `load_record`/`store_record` walk them."""
    out, s = [], 0
    for _, ft in fields:
        s = align_to(s, alignment(ft))
        out.append(s)
        s += elem_size(ft)
    return out


@cache
def flat_count(t: ValType) -> int:
    """len(flatten_type(t)) without building the list."""
    match despecialize(t):
        case String():
            return 2
        case List(elem, n):
            return 2 if n is None else n * flat_count(elem)
        case Record(fields):
            return sum(flat_count(ft) for _, ft in fields)
        case Variant(cases):
            return 1 + max([0] + [flat_count(ct) for _, ct in cases if ct is not None])
    return 1


@cache
def _flatten(t: ValType) -> tuple[CoreValType, ...]:
    match despecialize(t):
        case Bool() | S8() | U8() | S16() | U16() | S32() | U32() | Char() | Flags():
            return ("i32",)
        case Own() | Borrow() | Stream() | Future() | ErrorContext():
            return ("i32",)
        case S64() | U64():
            return ("i64",)
        case F32():
            return ("f32",)
        case F64():
            return ("f64",)
        case String():
            return ("i32", "i32")
        case List(elem, n):
            return ("i32", "i32") if n is None else _flatten(elem) * n
        case Record(fields):
            return tuple(v for _, ft in fields for v in _flatten(ft))
        case Variant(cases):
            return ("i32", *flatten_variant_payload(cases))
    raise TypeError(f"not a value type: {t!r}")


def flatten_type(t: ValType, ptr_type: str = "i32") -> list[CoreValType]:
    _check_ptr(ptr_type)
    return list(_flatten(t))


def flatten_types(ts: list[ValType], ptr_type: str = "i32") -> list[CoreValType]:
    return [v for t in ts for v in flatten_type(t, ptr_type)]


def join(a: CoreValType, b: CoreValType) -> CoreValType:
    if a == b:
        return a
    if {a, b} == {"i32", "f32"}:
        return "i32"
    return "i64"


@cache
def flatten_variant_payload(cases: Cases) -> tuple[CoreValType, ...]:
    """The joined payload slots of a variant (its flat form minus the leading discriminant)."""
    flat: list[CoreValType] = []
    for _, ct in cases:
        if ct is None:
            continue
        for i, v in enumerate(_flatten(ct)):
            if i < len(flat):
                flat[i] = join(flat[i], v)
            else:
                flat.append(v)
    return tuple(flat)


@dataclass(frozen=True)
class CoreFuncType:
    params: tuple[CoreValType, ...]
    results: tuple[CoreValType, ...]


def flatten_functype(ft: FuncType, context: str, ptr_type: str = "i32") -> CoreFuncType:
    """Synchronous core signature of a lifted ('lift') or lowered ('lower') function."""
    _check_ptr(ptr_type)
    if context not in ("lift", "lower"):
        raise ValueError(f"context must be 'lift' or 'lower', got {context!r}")
    pts, rts = ft.param_types(), ft.result_type()
    if sum(flat_count(t) for t in pts) > MAX_FLAT_PARAMS:
        params: list[CoreValType] = [ptr_type]  # type: ignore[list-item]
    else:
        params = flatten_types(pts)
    if sum(flat_count(t) for t in rts) > MAX_FLAT_RESULTS:
        if context == "lift":
            return CoreFuncType(tuple(params), ("i32",))
        return CoreFuncType((*params, "i32"), ())
    return CoreFuncType(tuple(params), tuple(flatten_types(rts)))


MAX_FLAT_ASYNC_PARAMS = 4


def flatten_async_functype(ft: FuncType, context: str, callback: bool = False) -> CoreFuncType:
    """Core signature of an `async` lift or lower (`definitions.py` flatten_functype, async arm).

    A lift returns the callback code (i32) with a callback and nothing without; a lower passes
    spilled params by pointer beyond 4 flat values, the result through an out-pointer, and
    returns the subtask status.
    """
    pts, rts = ft.param_types(), ft.result_type()
    n_params = sum(flat_count(t) for t in pts)
    params: list[CoreValType]
    if context == "lift":
        params = ["i32"] if n_params > MAX_FLAT_PARAMS else flatten_types(pts)
        return CoreFuncType(tuple(params), ("i32",) if callback else ())
    if context != "lower":
        raise ValueError(f"context must be 'lift' or 'lower', got {context!r}")
    params = ["i32"] if n_params > MAX_FLAT_ASYNC_PARAMS else flatten_types(pts)
    if rts:
        params.append("i32")
    return CoreFuncType(tuple(params), ("i32",))
