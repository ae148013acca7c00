"""Layout functions agree with the spec's definitions.py on random types."""

from __future__ import annotations

import pytest
from abi_oracle import D, to_spec, val_types
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from pymeld.abi import layout as L
from pymeld.abi import types as T
from pymeld.errors import UnsupportedFeature
from support import SLOW

N = 2000 if SLOW else 300


class _Opts:
    """Just enough of definitions' CanonicalOptions for flatten_*."""

    class memory:
        @staticmethod
        def ptr_type():
            return "i32"

    async_ = False


@seed(1)
@settings(max_examples=N, deadline=None)
@given(val_types())
def test_layout_matches_spec(t):
    s = to_spec(t)
    assert L.alignment(t) == D.alignment(s, "i32")
    assert L.elem_size(t) == D.elem_size(s, "i32")
    assert L.flatten_type(t) == D.flatten_type(s, _Opts)
    assert L.flat_count(t) == len(D.flatten_type(s, _Opts))
    assert type(L.despecialize(t)).__name__ == type(D.despecialize(s)).__name__.replace("Type", "")


@seed(2)
@settings(max_examples=N, deadline=None)
@given(st.lists(val_types(max_leaves=4), max_size=6), st.none() | val_types(max_leaves=4))
def test_flatten_functype_matches_spec(ps, r):
    ft = T.FuncType(tuple((f"p{i}", p) for i, p in enumerate(ps)), r)
    sft = D.FuncType(
        [(f"p{i}", to_spec(p)) for i, p in enumerate(ps)], [] if r is None else [to_spec(r)]
    )
    for ctx in ("lift", "lower"):
        ours = L.flatten_functype(ft, ctx)
        theirs = D.flatten_functype(_Opts, sft, ctx)
        assert list(ours.params) == theirs.params and list(ours.results) == theirs.results


@pytest.mark.parametrize("n", [1, 2, 255, 256, 257, 65536, 65537])
def test_discriminant_type(n):
    cases = tuple((str(i), None) for i in range(n))
    ours = type(L.discriminant_type(cases)).__name__
    assert ours == {1: "U8", 2: "U8", 255: "U8", 256: "U8"}.get(n, "U16" if n <= 65536 else "U32")
    if n < (1 << 24):
        assert ours + "Type" == type(D.discriminant_type([None] * n)).__name__


def test_huge_fixed_list_counts_without_materialising():
    t = T.List(T.U8(), 1 << 40)
    assert L.flat_count(t) == 1 << 40 and L.elem_size(t) == 1 << 40
    ft = T.FuncType((("x", t),), t)
    assert L.flatten_functype(ft, "lift") == L.CoreFuncType(("i32",), ("i32",))


def test_memory64_rejected():
    with pytest.raises(UnsupportedFeature):
        L.alignment(T.String(), "i64")
