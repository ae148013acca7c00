"""Destructor trampolines for resource types the wrapper defines.

`(type (resource (rep i32) (dtor $f)))` needs `$f` before the fused module is instantiated (the
fused module imports `canon resource.new` of that very type), but the destructor lives in the
fused module. As wit-component does for its own indirect imports: a shim module exports one
`(func (param i32))` per destructor that `call_indirect`s through a table, and once the fused
instance exists a fixup module fills the table with the fused module's `...#[dtor]T` exports.
A destructor that runs before the fixup traps (uninitialized element) — it cannot be reached
then, since no handle exists before the fused module's start function returns.
"""

from __future__ import annotations

from pymeld.codec.binary import uleb
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
from pymeld.merge.types import TypeInterner

TABLE = "$dtors"


def dtor_shim_module(n: int) -> Module:
    """``n`` functions ``"0".."n-1"`` of type (i32)->() forwarding to slot k of table `$dtors`."""
    types = TypeInterner()
    t = types.func_type([NumType.I32], [])
    m = Module()
    m.tables.append(Table(TableType(FUNCREF, Limits(n, n))))
    for k in range(n):
        m.funcs.append(t)
        m.codes.append(Code([], b"\x20\x00\x41" + _sleb(k) + b"\x11" + uleb(t) + b"\x00\x0b"))
        m.exports.append(Export(str(k), ExternKind.FUNC, k))
    m.exports.append(Export(TABLE, ExternKind.TABLE, 0))
    m.types = types.groups
    return m


def dtor_fixup_module(n: int) -> Module:
    """Imports the `$dtors` table and the ``n`` real destructors, and fills the table."""
    types = TypeInterner()
    t = types.func_type([NumType.I32], [])
    m = Module()
    m.imports.append(Import("", TABLE, TableType(FUNCREF, Limits(n, n))))
    for k in range(n):
        m.imports.append(Import("", str(k), FuncImport(t)))
    m.elems.append(Elem(SegmentMode.ACTIVE, FUNCREF, list(range(n)), None, 0, b"\x41\x00\x0b"))
    m.types = types.groups
    return m


def _sleb(v: int) -> bytes:
    from pymeld.codec.binary import sleb

    return sleb(v)
