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

from pymeld.codec.binary import sleb, uleb
from pymeld.codec.core.model import FuncImport, Import, Module, NumType
from pymeld.merge.type_section import TypeInterner

Signature = tuple[Sequence[NumType], Sequence[NumType]]

#: Name of the shim's table of destructors.
DTOR_TABLE = "$dtors"

#: ``(table funcref)``'s element type byte.
_FUNCREF = b"\x70"


def shim_module(sigs: list[Signature], table: str) -> bytes:
    """A module exporting ``"0".."n-1"``, each forwarding to slot k of the table it exports as
    ``table``, encoded. Written byte by byte, as the core encoder writes the same `Module`
    (types deduplicated in order of first use, then function, table, export and code sections;
    ``tests/fusion/test_wrap_indirect.py`` compares): a wrapper makes one or two of these per
    fusion, and building the module and encoding it was ~1 M instructions of a small one."""
    n = len(sigs)
    indices, types = _func_types(sigs)
    exports = bytearray(uleb(n + 1))
    codes = bytearray(uleb(n))
    for k, (params, _) in enumerate(sigs):
        exports += _name(str(k)) + b"\x00" + uleb(k)
        body = bytearray(b"\x00")  # no locals
        for p in range(len(params)):
            body += b"\x20" + uleb(p)  # local.get p
        body += b"\x41" + sleb(k) + b"\x11" + uleb(indices[k]) + b"\x00\x0b"
        codes += uleb(len(body)) + body
    exports += _name(table) + b"\x01\x00"
    funcs = uleb(n) + b"".join(map(uleb, indices))
    tables = b"\x01" + _FUNCREF + _limits(n)
    return _module([(1, types), (3, funcs), (4, tables), (7, exports), (10, codes)])


def fixup_module(sigs: list[Signature], table: str) -> bytes:
    """A module importing the shim's table (as ``"" table``) and the real functions (``"" k``)
    that fills the table with them, encoded (as `shim_module`, byte by byte)."""
    n = len(sigs)
    indices, types = _func_types(sigs)
    imports = bytearray(uleb(n + 1))
    imports += _name("") + _name(table) + b"\x01" + _FUNCREF + _limits(n)
    for k in range(n):
        imports += _name("") + _name(str(k)) + b"\x00" + uleb(indices[k])
    # one active segment at offset 0 of table 0 (flags 0): function k in slot k
    elems = b"\x01\x00\x41\x00\x0b" + uleb(n) + b"".join(map(uleb, range(n)))
    return _module([(1, types), (2, imports), (9, elems)])


def _func_types(sigs: list[Signature]) -> tuple[list[int], bytes]:
    """Each signature's type index, and the type section's payload: one plain function type
    per distinct signature, in order of first use."""
    index: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
    indices = []
    payload = bytearray()
    for params, results in sigs:
        key = (tuple(params), tuple(results))
        i = index.get(key)
        if i is None:
            i = index[key] = len(index)
            payload += b"\x60" + uleb(len(key[0])) + bytes(key[0])
            payload += uleb(len(key[1])) + bytes(key[1])
        indices.append(i)
    return indices, uleb(len(index)) + payload


def _limits(n: int) -> bytes:
    return b"\x01" + uleb(n) + uleb(n)  # min n, max n


def _name(s: str) -> bytes:
    b = s.encode()
    return uleb(len(b)) + b


def _module(sections: list[tuple[int, bytes | bytearray]]) -> bytes:
    """The module of these sections, in order; one of no items (a lone count 0) is left out,
    as the encoder leaves out an empty list."""
    out = bytearray(b"\0asm\x01\0\0\0")
    for sid, payload in sections:
        if payload != b"\x00":
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
