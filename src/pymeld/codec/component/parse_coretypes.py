"""Reading the core types declared inside a component (`pymeld.codec.component.coretypes`):
``core:type`` sections and the ``core:type`` declarators of component and instance types.

Apart from `pymeld.codec.component.parse`, which loads this module at the first core type it
meets, so that reading a composition that declares none (wit-component's) loads neither these
readers nor the classes they make.
"""

from __future__ import annotations

from pymeld.codec.binary import Reader
from pymeld.codec.component.coretypes import (
    CoreArrayType,
    CoreExportDecl,
    CoreExternType,
    CoreFieldType,
    CoreFuncType,
    CoreImportDecl,
    CoreLimits,
    CoreModuleType,
    CoreOuterAlias,
    CoreRecType,
    CoreStructType,
    CoreSubType,
    CoreTypeDecl,
)
from pymeld.codec.component.model import CoreSort
from pymeld.codec.component.parse import _core_valtype, _flag, _vec

__all__ = ["read_core_type"]


def read_core_type(r: Reader, depth: int = 0) -> CoreRecType | CoreModuleType:
    """One ``core:type``; ``depth`` > 0 inside a module type (which cannot nest another)."""
    return _core_type(r, depth)


def _storage(r: Reader):
    b = r.peek()
    if b in (0x78, 0x77):
        r.pos += 1
        return b
    return _core_valtype(r)


def _field(r: Reader) -> CoreFieldType:
    st = _storage(r)
    return CoreFieldType(st, _flag(r, "field mutability"))


def _comptype(r: Reader):
    at = r.pos
    b = r.byte()
    if b == 0x60:
        params = _vec(r, _core_valtype)
        return CoreFuncType(params, _vec(r, _core_valtype))
    if b == 0x5F:
        return CoreStructType(_vec(r, _field, 2))
    if b == 0x5E:
        return CoreArrayType(_field(r))
    raise r.error(f"unknown core composite type 0x{b:02x}", at)


def _subtype(r: Reader, prefixed: bool = False) -> CoreSubType:
    b = r.peek()
    form = None
    supers: list[int] = []
    if b in (0x50, 0x4F):
        r.pos += 1
        form = b
        supers = _vec(r, Reader.u32)
    shared = False
    if r.peek() == 0x65:
        r.pos += 1
        shared = True
    return CoreSubType(_comptype(r), form, supers, shared, prefixed)


def _core_type(r: Reader, depth: int = 0):
    """``core:type`` in a component: module type, prefixed non-final sub, or a rec type."""
    b = r.peek()
    if b == 0x50:
        r.pos += 1
        if depth > 0:
            raise r.error("module type nested inside a module type")
        return CoreModuleType(_vec(r, lambda rr: _module_decl(rr, depth + 1)))
    if b == 0x00:
        at = r.pos
        r.pos += 1
        if r.peek() != 0x50:
            raise r.error("expected 0x50 (sub) after 0x00 in core type", at + 1)
        return CoreRecType([_subtype(r, prefixed=True)])
    if b == 0x4E:
        r.pos += 1
        return CoreRecType(_vec(r, _subtype), explicit=True)
    return CoreRecType([_subtype(r)])


def _limits(r: Reader) -> CoreLimits:
    at = r.pos
    flags = r.byte()
    if flags & ~0x0F:
        raise r.error(f"unknown limits flags 0x{flags:02x}", at)
    read = r.u64 if flags & 0x04 else r.u32
    lim = CoreLimits(flags, read())
    if flags & 0x01:
        lim.maximum = read()
    if flags & 0x08:
        lim.page_size_log2 = r.u32()
    return lim


def _core_externtype(r: Reader) -> CoreExternType:
    at = r.pos
    k = r.byte()
    if k == 0x00:
        return CoreExternType(CoreSort.FUNC, index=r.u32())
    if k == 0x01:
        vt = _core_valtype(r)
        return CoreExternType(CoreSort.TABLE, valtype=vt, limits=_limits(r))
    if k == 0x02:
        return CoreExternType(CoreSort.MEMORY, limits=_limits(r))
    if k == 0x03:
        vt = _core_valtype(r)
        mat = r.pos
        m = r.byte()
        if m > 3:
            raise r.error(f"unknown global mutability 0x{m:02x}", mat)
        return CoreExternType(CoreSort.GLOBAL, valtype=vt, mutable=m)
    if k == 0x04:
        aat = r.pos
        if r.byte() != 0x00:
            raise r.error("expected 0x00 (exception) tag attribute", aat)
        return CoreExternType(CoreSort.TAG, index=r.u32())
    raise r.error(f"unknown core extern type 0x{k:02x}", at)


def _module_decl(r: Reader, depth: int):
    at = r.pos
    k = r.byte()
    if k == 0x00:
        mod = r.name()
        nm = r.name()
        return CoreImportDecl(mod, nm, _core_externtype(r))
    if k == 0x01:
        return CoreTypeDecl(_core_type(r, depth))
    if k == 0x02:
        sat = r.pos
        if r.byte() != 0x10 or r.byte() != 0x01:
            raise r.error("expected 0x10 0x01 (outer type alias) in module type", sat)
        return CoreOuterAlias(r.u32(), r.u32())
    if k == 0x03:
        nm = r.name()
        return CoreExportDecl(nm, _core_externtype(r))
    raise r.error(f"unknown module type declaration 0x{k:02x}", at)
