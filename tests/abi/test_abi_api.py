"""Adapter API contract: signatures, errors, encoding of the output."""

from __future__ import annotations

import pytest
import wasmtime

from pymeld.abi import layout as L
from pymeld.abi import types as T
from pymeld.abi.adapter import Adapter, generate_adapter
from pymeld.errors import LinkError, UnsupportedFeature

MEM = T.CanonOptions("utf8", memory=0, realloc=0)


def test_signature_is_lower_side_of_caller():
    ft = T.FuncType(tuple((f"p{i}", T.U32()) for i in range(17)), T.String())
    a = generate_adapter(ft, MEM, T.CanonOptions("utf16", 1, 1, 3), 2)
    assert isinstance(a, Adapter)
    assert a.params == ("i32", "i32") and a.results == ()
    assert a.core_type == L.flatten_functype(ft, "lower")
    assert a.body.endswith(b"\x0b")
    assert a.code_entry().endswith(a.body)


def test_flat_scalars_are_straight_line():
    ft = T.FuncType((("a", T.U32()), ("b", T.F64()), ("c", T.S64())), T.U32())
    a = generate_adapter(ft, T.CanonOptions(), T.CanonOptions(), 7)
    # local.get 0; local.get 1; local.get 2; call 7; local.set 3; local.get 3; end
    assert a.body == bytes.fromhex("200020012002100721032003") + b"\x0b"


@pytest.mark.parametrize("t", [T.Own("r"), T.Borrow("r"), T.List(T.Option(T.Own("r")))])
def test_resources_unsupported(t):
    with pytest.raises(UnsupportedFeature, match="resource"):
        generate_adapter(T.FuncType((("x", t),)), MEM, MEM, 0)


def test_missing_options_are_link_errors():
    ft = T.FuncType((("s", T.String()),))
    with pytest.raises(LinkError, match="callee has no `realloc`"):
        generate_adapter(ft, MEM, T.CanonOptions(memory=1), 0)
    with pytest.raises(LinkError, match="caller has no `memory`"):
        generate_adapter(ft, T.CanonOptions(), MEM, 0)


def test_callee_signature_checked():
    ft = T.FuncType((("x", T.U64()),), None)
    with pytest.raises(LinkError, match="does not match"):
        generate_adapter(ft, MEM, MEM, 0, L.CoreFuncType(("i32",), ()))


def test_output_validates_in_a_module():
    """The body encodes to a valid function for a deep type (checked by wasmtime's validator)."""
    inner = T.Variant((("a", T.List(T.String())), ("b", T.F32()), ("c", None)))
    ft = T.FuncType((("x", T.Record((("v", inner), ("w", T.List(inner, 3))))),), T.Option(inner))
    a = generate_adapter(ft, MEM, T.CanonOptions("latin1+utf16", 1, 1, 3), 2)
    ps, rs = " ".join(a.params), " ".join(a.results)
    wat = f"""(module (memory 1) (memory 1)
      (func (param i32 i32 i32 i32) (result i32) unreachable)
      (func (param i32 i32 i32 i32) (result i32) unreachable)
      (func (param {" ".join(L.flatten_functype(ft, "lift").params)}) (result i32) unreachable)
      (func (param i32) unreachable)
      (func (param {ps}) {f"(result {rs})" if rs else ""} unreachable))"""
    from abi_harness import _patch_code

    wasm = _patch_code(wasmtime.wat2wasm(wat), 4, a.code_entry())
    wasmtime.Module.validate(wasmtime.Engine(), wasm)
