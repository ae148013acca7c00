"""Shim and fixup modules: calling functions that only exist after the fused module does.

A `canon lower` that needs the fused module's memory or realloc, or a resource destructor that
lives in the fused module, must be given to the wrapper before the fused module is instantiated.
As wit-component does: a shim module exports one function per signature that `call_indirect`s
through a table; once the real functions exist, a fixup module fills that table.

Destructors of the resource types the wrapper defines go this way too (the shim's table is
`DTOR_TABLE`): ``(type (resource (rep i32) (dtor $f)))`` needs ``$f`` before the fused module
is instantiated (the fused module imports ``canon resource.new`` of that very type), but the
destructor lives in the fused module; the fixup fills the table with its ``...#[dtor]T``
exports. A destructor that runs before the fixup would trap (uninitialized element); it cannot
be reached then, since no handle exists before the fused module's start function returns.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymeld.codec.binary import uleb
from pymeld.codec.component.parse import CORE_PREAMBLE
from pymeld.codec.core.emitter import Instrs, const_i32
from pymeld.codec.core.encode import encode_locals, subtype_bytes, tabletype_bytes
from pymeld.codec.core.model import (
    FUNCREF,
    ExternKind,
    FuncImport,
    FuncType,
    Import,
    Limits,
    Module,
    NumType,
    SubType,
    TableType,
)
from pymeld.merge.type_section import TypeInterner

Signature = tuple[Sequence[NumType], Sequence[NumType]]

#: Name of the shim's table of destructors.
DTOR_TABLE = "$dtors"

_FUNC = bytes((ExternKind.FUNC,))
_TABLE = bytes((ExternKind.TABLE,))
#: Section ids, in the order a module has them.
_TYPES, _IMPORTS, _FUNCS, _TABLES, _EXPORTS, _ELEMS, _CODES = 1, 2, 3, 4, 7, 9, 10


def shim_module(sigs: list[Signature], table: str) -> bytes:
    """A module exporting ``"0".."n-1"``, each forwarding to slot k of the table it exports as
    ``table``, encoded: the bytes the core encoder makes of the same `Module` (types
    deduplicated in order of first use, then function, table, export and code sections;
    ``tests/fusion/test_wrap_indirect.py`` compares), written section by section (bodies with
    the emitter, types and the table with the encoder's own functions). A wrapper makes one or
    two of these per fusion, and building the `Module` and encoding it was ~1 M instructions
    of a small one."""
    n = len(sigs)
    indices, types = _func_types(sigs)
    exports = bytearray()
    codes = bytearray()
    no_locals = encode_locals([])
    for k, (params, _) in enumerate(sigs):
        exports += _name(str(k)) + _FUNC + uleb(k)
        body = Instrs()
        for p in range(len(params)):
            body.get(p)
        body.i32(k).call_indirect(indices[k], 0).end()
        code = no_locals + body.code
        codes += uleb(len(code)) + code
    exports += _name(table) + _TABLE + uleb(0)
    funcs = b"".join(map(uleb, indices))
    tables = tabletype_bytes(TableType(FUNCREF, Limits(n, n)))
    return _module(
        [
            (_TYPES, len(types), b"".join(types)),
            (_FUNCS, n, funcs),
            (_TABLES, 1, tables),
            (_EXPORTS, n + 1, exports),
            (_CODES, n, codes),
        ]
    )


def fixup_module(sigs: list[Signature], table: str) -> bytes:
    """A module importing the shim's table (as ``"" table``) and the real functions (``"" k``)
    that fills the table with them, encoded (as `shim_module`)."""
    n = len(sigs)
    indices, types = _func_types(sigs)
    imports = bytearray(_name("") + _name(table) + _TABLE)
    imports += tabletype_bytes(TableType(FUNCREF, Limits(n, n)))
    for k in range(n):
        imports += _name("") + _name(str(k)) + _FUNC + uleb(indices[k])
    # one active segment of functions at offset 0 of table 0 (flags 0): function k in slot k
    elems = uleb(0) + const_i32(0) + uleb(n) + b"".join(map(uleb, range(n)))
    return _module(
        [(_TYPES, len(types), b"".join(types)), (_IMPORTS, n + 1, imports), (_ELEMS, 1, elems)]
    )


def _func_types(sigs: list[Signature]) -> tuple[list[int], list[bytes]]:
    """Each signature's type index, and the types: one plain function type per distinct
    signature, in order of first use."""
    index: dict[tuple[tuple[NumType, ...], tuple[NumType, ...]], int] = {}
    indices = []
    types: list[bytes] = []
    for params, results in sigs:
        key = (tuple(params), tuple(results))
        i = index.get(key)
        if i is None:
            i = index[key] = len(types)
            types.append(subtype_bytes(SubType(FuncType(list(params), list(results)))))
        indices.append(i)
    return indices, types


def _name(s: str) -> bytes:
    b = s.encode()
    return uleb(len(b)) + b


def _module(sections: list[tuple[int, int, bytes | bytearray]]) -> bytes:
    """The module of these sections (id, item count, items), in order; one of no items is left
    out, as the encoder leaves out an empty list."""
    out = bytearray(CORE_PREAMBLE)
    for sid, count, items in sections:
        if count:
            payload = uleb(count) + items
            out += bytes((sid,)) + uleb(len(payload)) + payload
    return bytes(out)


def starter_module() -> Module:
    """Imports one function (``"" "start"``, no params or results) and runs it as its start
    function: how a component calls a core function while it is being instantiated."""
    types = TypeInterner()
    m = Module()
    m.imports.append(Import("", "start", FuncImport(types.func_type([], []))))
    m.start = 0
    m.types = types.groups
    return m
