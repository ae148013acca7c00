"""Generated adapters behave exactly like the spec's lift∘lower (definitions.py) in wasmtime."""

from __future__ import annotations

import os

from abi_harness import STATS, Case, check
from abi_oracle import val_types, values
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from pymeld.abi import types as T
from support import SLOW

SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=not SLOW)


def _n(fast: int) -> int:
    return fast * 20 if SLOW else fast


def _case(data, memory: bool, hostile: bool, encs=None) -> Case:
    ps = data.draw(st.lists(val_types(memory=memory), max_size=5), label="params")
    r = data.draw(st.none() | val_types(memory=memory), label="result")
    ft = T.FuncType(tuple((f"p{i}", p) for i, p in enumerate(ps)), r)
    case = Case(ft)
    case.args = [data.draw(values(p), label=f"arg{i}") for i, p in enumerate(ps)]
    case.result = None if r is None else data.draw(values(r), label="result value")
    case.swap = data.draw(st.booleans(), label="swap memories")
    if encs is None:
        enc = st.sampled_from(["utf8", "utf16", "latin1+utf16"])
        case.caller_enc, case.callee_enc = data.draw(enc), data.draw(enc)
    else:
        case.caller_enc, case.callee_enc = encs
    if hostile:
        word = st.integers(0, 2**32 - 1) | st.sampled_from([0, 1, 2, 3, 0x7F, 0x80, 0xFF, 0x100])
        word |= st.sampled_from([0xD800, 0xDFFF, 0x10FFFF, 0x110000, 0x3FFFE, 0x3FFFF, 0x80000000])
        case.flat_mut = data.draw(st.dictionaries(st.integers(0, 40), word, max_size=2))
        byte = st.integers(0, 255)
        case.caller_mem_mut = data.draw(st.dictionaries(st.integers(0, 96), byte, max_size=3))
        case.callee_mem_mut = data.draw(st.dictionaries(st.integers(0, 96), byte, max_size=3))
        case.callee_result_mut = data.draw(st.none() | word)
    return case


@seed(11)
@settings(max_examples=_n(150), **SETTINGS)
@given(st.data())
def test_flat_values_valid(data):
    check(_case(data, memory=False, hostile=False))


@seed(12)
@settings(max_examples=_n(150), **SETTINGS)
@given(st.data())
def test_flat_values_hostile(data):
    check(_case(data, memory=False, hostile=True))


ENCS = ["utf8", "utf16", "latin1+utf16"]


@seed(13)
@settings(max_examples=_n(120), **SETTINGS)
@given(st.data())
def test_memory_values_valid(data):
    check(_case(data, memory=True, hostile=False))


@seed(14)
@settings(max_examples=_n(120), **SETTINGS)
@given(st.data())
def test_memory_values_hostile(data):
    check(_case(data, memory=True, hostile=True))


def teardown_module() -> None:
    if os.environ.get("PYMELD_ABI_STATS"):
        print("\nabi adapter stats:", dict(sorted(STATS.items())))


def test_regression_hostile_pointer_reads_callee_scratch():
    """Found by PYMELD_SLOW: a corrupted list pointer makes a string alias other callee memory."""
    s = T.String()
    rt = T.Record((("r0", T.List(T.Record((("r0", s), ("r1", s))))), ("r1", T.Bool())))
    elem = {"r0": ("", "utf8", 0), "r1": ("", "utf8", 0)}
    check(Case(T.FuncType((), rt), result={"r0": [elem], "r1": False}, callee_mem_mut={0: 0}))


def test_regression_f32_bits_in_joined_slot():
    """An f32 payload slot holding a denormal bit pattern passes through unchanged."""
    rec = T.Record((("a", T.Variant((("c0", T.F32()), ("c1", None)))),))
    case = Case(T.FuncType((("p", T.Option(rec)),)), args=[{"some": {"a": {"c0": 0.0}}}])
    case.flat_mut = {3: 1}
    check(case)


def test_regression_nan_payload_in_memory_passes_through():
    """A non-canonical NaN in a list<f64>/list<f32> element reaches the callee bit-for-bit."""
    ft = T.FuncType((("a", T.List(T.F64())), ("b", T.List(T.F32()))))
    case = Case(ft, args=[[float("nan")], [float("nan")]])
    case.caller_mem_mut = {0: 1, 8: 1}  # f64 payload 0x7ff8...01, f32 0x7fc00001
    check(case)
