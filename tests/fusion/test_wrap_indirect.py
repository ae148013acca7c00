"""The wrapper's shim and fixup modules (`pymeld.wrap.indirect`), written byte by byte, are the
bytes the core encoder makes of the same modules built as `Module` objects (as the wrapper
built them before), for any list of signatures: repeated ones share a type, indices and
constants past one LEB128 byte, any table name. And each is a valid module that does what
it says: the fixup fills the shim's table, and the shim's exports call through it."""

from __future__ import annotations

import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymeld.codec.core.emitter import Instrs, const_i32
from pymeld.codec.core.encode import encode_module
from pymeld.codec.core.model import (
    FUNCREF,
    Code,
    Elem,
    Export,
    ExternKind,
    FuncImport,
    Import,
    Limits,
    Module,
    NumType,
    SegmentMode,
    Table,
    TableType,
)
from pymeld.merge.type_section import TypeInterner
from pymeld.wrap.indirect import Signature, fixup_module, shim_module


def _shim_as_module(sigs: list[Signature], table: str) -> Module:
    types = TypeInterner()
    m = Module()
    n = len(sigs)
    m.tables.append(Table(TableType(FUNCREF, Limits(n, n))))
    for k, (params, results) in enumerate(sigs):
        t = types.func_type(list(params), list(results))
        m.funcs.append(t)
        b = Instrs()
        for p in range(len(params)):
            b.get(p)
        m.codes.append(Code([], bytes(b.i32(k).call_indirect(t, 0).end().code)))
        m.exports.append(Export(str(k), ExternKind.FUNC, k))
    m.exports.append(Export(table, ExternKind.TABLE, 0))
    m.types = types.groups
    return m


def _fixup_as_module(sigs: list[Signature], table: str) -> Module:
    types = TypeInterner()
    m = Module()
    n = len(sigs)
    m.imports.append(Import("", table, TableType(FUNCREF, Limits(n, n))))
    for k, (params, results) in enumerate(sigs):
        m.imports.append(
            Import("", str(k), FuncImport(types.func_type(list(params), list(results))))
        )
    m.elems.append(Elem(SegmentMode.ACTIVE, FUNCREF, list(range(n)), None, 0, const_i32(0)))
    m.types = types.groups
    return m


_NUM = st.sampled_from(list(NumType))
_SIG = st.tuples(st.lists(_NUM, max_size=5), st.lists(_NUM, max_size=2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_SIG, max_size=12).flatmap(
        lambda few: st.lists(st.sampled_from(few), min_size=1, max_size=200) if few else st.just([])
    ),
    st.text(max_size=140),
)
def test_bytes_are_the_encoded_modules(sigs: list[Signature], table: str) -> None:
    assert shim_module(sigs, table) == encode_module(_shim_as_module(sigs, table))
    assert fixup_module(sigs, table) == encode_module(_fixup_as_module(sigs, table))


def test_bytes_past_one_leb128_byte() -> None:
    """200 functions of 70 signatures: slot constants past 63 (two-byte signed LEB128), function
    counts and indices past 127."""
    nums = list(NumType)
    sigs: list[Signature] = [
        ([nums[i % 5]] * (i % 7), [nums[(i // 5) % 5]] * (i % 2)) for i in range(70)
    ]
    sigs = [sigs[(k * 7) % 70] for k in range(200)]
    assert shim_module(sigs, "$imports") == encode_module(_shim_as_module(sigs, "$imports"))
    assert fixup_module(sigs, "$imports") == encode_module(_fixup_as_module(sigs, "$imports"))


def test_the_fixup_fills_the_shim_table() -> None:
    """Both validate, and once the fixup ran, shim export k calls real function k (here the
    signature ``(i32 i32) -> i32``; 130 of them, so slot numbers take two LEB128 bytes)."""
    i32 = NumType.I32
    sigs: list[Signature] = [([i32, i32], [i32])] * 130
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    shim = wasmtime.Module(engine, shim_module(sigs, "$t"))
    shim_inst = wasmtime.Instance(store, shim, [])
    exports = shim_inst.exports(store)
    real = [
        wasmtime.Func(
            store,
            wasmtime.FuncType([wasmtime.ValType.i32()] * 2, [wasmtime.ValType.i32()]),
            lambda a, b, k=k: a * 1000 + b + k,
        )
        for k in range(130)
    ]
    fixup = wasmtime.Module(engine, fixup_module(sigs, "$t"))
    wasmtime.Instance(store, fixup, [exports["$t"], *real])
    for k in (0, 1, 63, 64, 129):
        f = exports[str(k)]
        assert isinstance(f, wasmtime.Func)
        assert f(store, 7, 5) == 7005 + k
