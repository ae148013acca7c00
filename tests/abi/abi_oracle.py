"""Test support: the spec's `definitions.py` as oracle, type conversion, hypothesis strategies."""

from __future__ import annotations

import importlib.util
import math
import struct
import sys

from hypothesis import strategies as st

from pymeld.abi import types as T
from support import shared_root

DEFS_PATH = shared_root() / "reference/component-model/canonical-abi/definitions.py"


def _load_defs():
    spec = importlib.util.spec_from_file_location("cabi_definitions", DEFS_PATH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["cabi_definitions"] = mod
    spec.loader.exec_module(mod)
    # The spec canonicalises NaNs on lift and lowers them to a *nondeterministic* NaN; passing the
    # payload through unchanged is one allowed outcome (and what the adapter does). Model exactly
    # that choice so float bits are comparable: f32 values remember their bit pattern.
    mod.core_f32_reinterpret_i32 = _f32_from_bits
    mod.core_i32_reinterpret_f32 = f32_bits
    mod.canonicalize_nan32 = mod.canonicalize_nan64 = lambda f: f
    mod.maybe_scramble_nan32 = mod.maybe_scramble_nan64 = lambda f: f
    return mod


class F32Bits(float):
    """A float that came from f32 bits (Python floats cannot hold an f32 sNaN payload)."""

    bits: int


def _f32_from_bits(i: int) -> float:
    v = F32Bits(struct.unpack("<f", struct.pack("<I", i))[0])
    v.bits = i
    return v


def to_spec(t: T.ValType | None):
    """Our type model -> definitions.py's."""
    match t:
        case None:
            return None
        case T.Bool():
            return D.BoolType()
        case T.S8():
            return D.S8Type()
        case T.U8():
            return D.U8Type()
        case T.S16():
            return D.S16Type()
        case T.U16():
            return D.U16Type()
        case T.S32():
            return D.S32Type()
        case T.U32():
            return D.U32Type()
        case T.S64():
            return D.S64Type()
        case T.U64():
            return D.U64Type()
        case T.F32():
            return D.F32Type()
        case T.F64():
            return D.F64Type()
        case T.Char():
            return D.CharType()
        case T.String():
            return D.StringType()
        case T.List(e, n):
            return D.ListType(to_spec(e), n)
        case T.Record(fields):
            return D.RecordType([D.FieldType(n, to_spec(f)) for n, f in fields])
        case T.Tuple(ts):
            return D.TupleType([to_spec(u) for u in ts])
        case T.Variant(cases):
            return D.VariantType([D.CaseType(n, to_spec(c)) for n, c in cases])
        case T.Enum(labels):
            return D.EnumType(list(labels))
        case T.Option(u):
            return D.OptionType(to_spec(u))
        case T.Result(ok, err):
            return D.ResultType(to_spec(ok), to_spec(err))
        case T.Flags(labels):
            return D.FlagsType(list(labels))
    raise TypeError(t)


# -- type strategies --------------------------------------------------------------------------

PRIMS = [
    T.Bool(),
    T.S8(),
    T.U8(),
    T.S16(),
    T.U16(),
    T.S32(),
    T.U32(),
    T.S64(),
    T.U64(),
    T.F32(),
    T.F64(),
    T.Char(),
]


def _labels(n: int, prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(n))


def val_types(*, memory: bool = True, max_leaves: int = 6) -> st.SearchStrategy[T.ValType]:
    """Random value types; `memory=False` keeps to types that never touch linear memory."""
    base = st.sampled_from(PRIMS) | st.builds(
        lambda n: T.Flags(_labels(n, "f")), st.sampled_from([1, 3, 8, 9, 16, 17, 32])
    )
    base |= st.builds(lambda n: T.Enum(_labels(n, "e")), st.sampled_from([1, 2, 5, 256, 257]))
    if memory:
        base |= st.just(T.String())

    def extend(inner):
        opt = st.none() | inner
        out = (
            st.builds(
                lambda ts: T.Record(tuple((f"r{i}", u) for i, u in enumerate(ts))),
                st.lists(inner, min_size=1, max_size=4),
            )
            | st.builds(lambda ts: T.Tuple(tuple(ts)), st.lists(inner, min_size=1, max_size=3))
            | st.builds(
                lambda cs: T.Variant(tuple((f"c{i}", u) for i, u in enumerate(cs))),
                st.lists(opt, min_size=1, max_size=4),
            )
            | st.builds(T.Option, inner)
            | st.builds(T.Result, opt, opt)
            | st.builds(T.List, inner, st.sampled_from([1, 2, 3]))
        )
        if memory:
            out |= st.builds(T.List, inner)
        return out

    return st.recursive(base, extend, max_leaves=max_leaves)


# -- value strategies (definitions.py value representation) -----------------------------------

_CHARS = st.characters(blacklist_categories=("Cs",))  # any scalar value
_STR = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0, max_codepoint=0x7F),
        st.characters(min_codepoint=0x80, max_codepoint=0xFF),
        _CHARS,
    ),
    max_size=12,
)


def _f32():
    return st.floats(width=32, allow_nan=False) | st.just(math.nan)


def values(t: T.ValType, *, max_list: int = 4) -> st.SearchStrategy:
    """Values of `t` in definitions.py's representation (strings as (str, 'utf8', units))."""
    match t:
        case T.Bool():
            return st.booleans()
        case T.S8() | T.U8() | T.S16() | T.U16() | T.S32() | T.U32() | T.S64() | T.U64():
            bits = {"8": 8, "16": 16, "32": 32, "64": 64}[type(t).__name__[1:]]
            if type(t).__name__[0] == "S":
                return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
            return st.integers(0, (1 << bits) - 1)
        case T.F32():
            return _f32()
        case T.F64():
            return st.floats(allow_nan=False) | st.just(math.nan)
        case T.Char():
            return _CHARS
        case T.String():
            return _STR.map(lambda s: (s, "utf8", len(s.encode())))
        case T.List(e, None):
            return st.lists(values(e, max_list=max_list), max_size=max_list)
        case T.List(e, n):
            return st.lists(values(e, max_list=max_list), min_size=n, max_size=n)
        case T.Record(fields):
            return st.fixed_dictionaries({n: values(f, max_list=max_list) for n, f in fields})
        case T.Tuple(ts):
            return st.fixed_dictionaries(
                {str(i): values(u, max_list=max_list) for i, u in enumerate(ts)}
            )
        case T.Variant(cases):
            return st.one_of(
                *[
                    st.builds(lambda v, n=n: {n: v}, st.none() if c is None else values(c))
                    for n, c in cases
                ]
            )
        case T.Enum(labels):
            return st.sampled_from(labels).map(lambda n: {n: None})
        case T.Option(u):
            return values(T.Variant((("none", None), ("some", u))))
        case T.Result(ok, err):
            return values(T.Variant((("ok", ok), ("error", err))))
        case T.Flags(labels):
            return st.fixed_dictionaries({n: st.booleans() for n in labels})
    raise TypeError(t)


def f32_bits(x: float) -> int:
    if isinstance(x, F32Bits):
        return x.bits
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64_bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


D = _load_defs()
