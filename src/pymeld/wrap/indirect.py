"""Shim and fixup modules: calling functions that only exist after the fused module does.

A `canon lower` that needs the fused module's memory or realloc, or a resource destructor that
lives in the fused module, must be given to the wrapper before the fused module is instantiated.
As wit-component does: a shim module exports one function per signature that `call_indirect`s
through a table; once the real functions exist, a fixup module fills that table.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymeld.codec.core.emitter import Instrs, const_i32
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

Signature = tuple[Sequence[NumType], Sequence[NumType]]


def shim_module(sigs: list[Signature], table: str) -> Module:
    """Exports ``"0".."n-1"`` forwarding to slot k of the exported table ``table``."""
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


def fixup_module(sigs: list[Signature], table: str) -> Module:
    """Imports the shim's table (as ``"" table``) and the real functions (``"" k``); fills it."""
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


def starter_module() -> Module:
    """Imports one function (``"" "start"``, no params or results) and runs it as its start
    function: how a component calls a core function while it is being instantiated."""
    types = TypeInterner()
    m = Module()
    m.imports.append(Import("", "start", FuncImport(types.func_type([], []))))
    m.start = 0
    m.types = types.groups
    return m
