"""Encoder: `model.Component` -> component binary (inverse of `parse`).

Output uses canonical (minimal) LEB128 everywhere; core modules and custom sections are written
verbatim from their stored bytes, so parse -> encode reproduces toolchain output byte for byte.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymeld.codec.binary import _SMALL_ULEB, Writer, sleb, uleb, uleb_padded
from pymeld.codec.component import model as cm
from pymeld.codec.component.model import (
    CANON_BUILTIN_CODE,
    CANON_BUILTINS,
    CANON_OPT_WITH_INDEX,
    AliasCoreExport,
    AliasDeclarator,
    AliasExport,
    AliasOuter,
    AliasSection,
    BorrowType,
    CanonBuiltin,
    CanonLift,
    CanonLower,
    CanonOpt,
    CanonSection,
    Component,
    ComponentSection,
    ComponentSort,
    ComponentType,
    CoreInlineExports,
    CoreInstanceSection,
    CoreInstantiate,
    CoreModuleSection,
    CoreSort,
    CoreTypeSection,
    CustomSection,
    EnumType,
    ExportDecl,
    ExportSection,
    ExternDesc,
    ExternName,
    FlagsType,
    FuncType,
    ImportDecl,
    ImportSection,
    InlineExports,
    InstanceSection,
    InstanceType,
    Instantiate,
    ListType,
    OptionType,
    OwnType,
    Prim,
    RecordType,
    ResourceType,
    ResultType,
    TupleType,
    TypeDeclarator,
    TypeSection,
    VariantType,
)
from pymeld.codec.component.parse import MAGIC

if TYPE_CHECKING:
    from pymeld.codec.component.coretypes import (
        CoreExternType,
        CoreFieldType,
        CoreRecType,
        CoreSubType,
    )


def encode_component(c: Component) -> bytes:
    """Encode ``c`` (including nested components and core modules) to bytes.

    Sections are collected as parts and joined once: embedded core modules (tens of megabytes
    for a fused runtime) are not copied into a growing buffer and then copied out again.
    """
    parts: list[bytes | bytearray | memoryview] = []
    _component(parts, c)
    return b"".join(parts)


def _component(out: list[bytes | bytearray | memoryview], c: Component) -> int:
    """Append the encoding of ``c`` to ``out``; returns its length in bytes.

    A component the wrapper builds has one section per item (~140 for a small composition), so
    the loop is lean: sections of items first (one dict lookup), each item written into the
    section's buffer, the header made without a `Writer` of its own."""
    head = MAGIC + bytes([c.version & 0xFF, c.version >> 8, 0x01, 0x00])
    out.append(head)
    total = len(head)
    widths = c.size_widths
    p = Writer()  # each section's items written into a fresh buffer of this one
    for pos, s in enumerate(c.sections):
        body: bytes | bytearray | memoryview
        enc = _ITEM_ENCODERS.get(s.__class__)
        if enc is not None:
            items = s.items  # type: ignore[union-attr]
            body = p.buf = bytearray(uleb(len(items)))
            for it in items:
                enc(p, it)
        elif isinstance(s, ComponentSection):
            nested: list[bytes | bytearray | memoryview] = []
            n = _component(nested, s.component)
            head = _section_head(s.id, n, widths.get(pos))
            out.append(head)
            out.extend(nested)
            total += len(head) + n
            continue
        elif isinstance(s, CoreModuleSection):
            body = s.encoded()
        else:
            p = Writer()
            if isinstance(s, CustomSection):
                p.name(s.name)
                p.raw(s.data)
            elif isinstance(s, cm.StartSection):  # (`rareitems`: custom sections come first)
                p.u32(s.func)
                p.u32(len(s.args))
                for a in s.args:
                    p.u32(a)
                p.u32(s.results)
            elif isinstance(s, cm.ValueSection):
                p.u32(len(s.items))
                for v in s.items:
                    _value(p, v)
            else:
                raise TypeError(f"not a component section: {s!r}")
            body = p.buf
        n = len(body)
        if widths and pos in widths:
            head = _section_head(s.id, n, widths[pos])
        else:
            head = _SECTION_IDS[s.id] + uleb(n)
        out.append(head)
        out.append(body)
        total += len(head) + n
    return total


#: A section id's byte.
_SECTION_IDS = [bytes((i,)) for i in range(13)]


def _section_head(sid: int, n: int, width: int | None) -> bytes:
    """Section id and size; a recorded padded width is honoured when ``n`` still fits in it."""
    if width is not None and n < 1 << (7 * width):
        return bytes((sid,)) + uleb_padded(n, width)
    return bytes((sid,)) + uleb(n)


def _present(v: int | None, what: str) -> int:
    """An index the sort/kind/opcode requires; a model without it cannot be encoded."""
    if v is None:
        raise ValueError(f"cannot encode: {what} is missing")
    return v


# ---------------------------------------------------------------------------------------------


def _sort(w: Writer, s) -> None:
    if isinstance(s, CoreSort):
        w.buf += bytes((0, s))
    else:
        w.buf.append(s)


def _valtype(w: Writer, t) -> None:
    if isinstance(t, Prim):
        w.buf.append(t.code)
    else:  # a type index, as an s33 (one byte below 64)
        w.buf += _SMALL_ULEB[t] if 0 <= t < 64 else sleb(t)


def _opt_valtype(w: Writer, t) -> None:
    if t is None:
        w.byte(0)
    else:
        w.byte(1)
        _valtype(w, t)


def _extern_name(w: Writer, n: ExternName) -> None:
    tag = n.tag
    name = n.name.encode()
    w.buf += bytes((tag,)) + uleb(len(name)) + name
    if tag == 2:
        w.u32(len(n.attributes))
        for a in n.attributes:
            w.byte(int(a.kind))
            w.name(a.value)


def _extern_desc(w: Writer, d: ExternDesc) -> None:
    s = d.sort
    if s is CoreSort.MODULE:
        w.byte(0x00)
        w.byte(0x11)
        w.u32(_present(d.index, "core module type index"))
    elif s is ComponentSort.VALUE:
        w.byte(0x02)
        if d.valtype is not None:
            w.byte(0x01)
            _valtype(w, d.valtype)
        else:
            w.byte(0x00)
            w.u32(_present(d.index, "value index"))
    elif s is ComponentSort.TYPE:
        w.buf += b"\x03\x01" if d.index is None else b"\x03\x00" + uleb(d.index)
    else:
        w.buf += bytes((s,)) + uleb(_present(d.index, "extern type index"))


# -- core types ---------------------------------------------------------------------------------


def _core_valtype(w: Writer, t) -> None:
    """An opcode byte, or a `CoreRefType` (a resource type's rep is a byte: asking whether it
    is a `CoreRefType` would load the core type classes, `coretypes`)."""
    if isinstance(t, int):
        w.byte(t)
    else:
        w.byte(0x63 if t.nullable else 0x64)
        if t.shared:
            w.byte(0x65)
        w.raw(sleb(t.heap))


def _field(w: Writer, f: CoreFieldType) -> None:
    _core_valtype(w, f.storage)
    w.byte(1 if f.mutable else 0)


def _subtype(w: Writer, s: CoreSubType) -> None:
    if s.prefixed:
        w.byte(0x00)
    if s.form is not None:
        w.byte(s.form)
        w.u32(len(s.supertypes))
        for i in s.supertypes:
            w.u32(i)
    if s.shared:
        w.byte(0x65)
    ct = s.comp
    if isinstance(ct, cm.CoreFuncType):
        w.byte(0x60)
        for vec in (ct.params, ct.results):
            w.u32(len(vec))
            for t in vec:
                _core_valtype(w, t)
    elif isinstance(ct, cm.CoreStructType):
        w.byte(0x5F)
        w.u32(len(ct.fields))
        for f in ct.fields:
            _field(w, f)
    elif isinstance(ct, cm.CoreArrayType):
        w.byte(0x5E)
        _field(w, ct.field)
    else:
        raise TypeError(f"not a core composite type: {ct!r}")


def _core_type(w: Writer, t) -> None:
    if isinstance(t, cm.CoreModuleType):
        w.byte(0x50)
        w.u32(len(t.decls))
        for d in t.decls:
            _module_decl(w, d)
    elif t.explicit:
        w.byte(0x4E)
        w.u32(len(t.subtypes))
        for s in t.subtypes:
            _subtype(w, s)
    else:
        (s,) = t.subtypes
        _subtype(w, s)


def _limits(w: Writer, lim) -> None:
    w.byte(lim.flags)
    w.u32(lim.minimum)
    if lim.maximum is not None:
        w.u32(lim.maximum)
    if lim.page_size_log2 is not None:
        w.u32(lim.page_size_log2)


def _core_externtype(w: Writer, t: CoreExternType) -> None:
    k = t.kind
    if k is CoreSort.FUNC:
        w.byte(0x00)
        w.u32(_present(t.index, "core func type index"))
    elif k is CoreSort.TABLE:
        w.byte(0x01)
        _core_valtype(w, t.valtype)
        _limits(w, t.limits)
    elif k is CoreSort.MEMORY:
        w.byte(0x02)
        _limits(w, t.limits)
    elif k is CoreSort.GLOBAL:
        w.byte(0x03)
        _core_valtype(w, t.valtype)
        w.byte(t.mutable or 0)
    elif k is CoreSort.TAG:
        w.byte(0x04)
        w.byte(0x00)
        w.u32(_present(t.index, "core tag type index"))
    else:
        raise TypeError(f"not a core extern type kind: {k!r}")


def _module_decl(w: Writer, d) -> None:
    if isinstance(d, cm.CoreImportDecl):
        w.byte(0x00)
        w.name(d.module)
        w.name(d.name)
        _core_externtype(w, d.type)
    elif isinstance(d, cm.CoreTypeDecl):
        w.byte(0x01)
        _core_type(w, d.type)
    elif isinstance(d, cm.CoreOuterAlias):
        w.raw(b"\x02\x10\x01")
        w.u32(d.count)
        w.u32(d.index)
    elif isinstance(d, cm.CoreExportDecl):
        w.byte(0x03)
        w.name(d.name)
        _core_externtype(w, d.type)
    else:
        raise TypeError(f"not a module type declaration: {d!r}")


# -- component types ----------------------------------------------------------------------------


def _labelled(w: Writer, items) -> None:
    buf = w.buf
    buf += uleb(len(items))
    for name, t in items:
        b = name.encode()
        buf += uleb(len(b)) + b
        _valtype(w, t)


def _names(w: Writer, names) -> None:
    w.u32(len(names))
    for n in names:
        w.name(n)


def _resultlist(w: Writer, t) -> None:
    if t is None:
        w.raw(b"\x01\x00")
    else:
        w.byte(0x00)
        _valtype(w, t)


def _decl(w: Writer, d) -> None:
    """One declarator; a core type's last, as asking for it loads `coretypes`."""
    cls = d.__class__
    if cls is ExportDecl or cls is ImportDecl:  # the most frequent, by class first
        w.buf.append(0x04 if cls is ExportDecl else 0x03)
        _extern_name(w, d.name)
        _extern_desc(w, d.desc)
    elif isinstance(d, TypeDeclarator):
        w.buf.append(0x01)
        _type(w, d.type)
    elif isinstance(d, AliasDeclarator):
        w.buf.append(0x02)
        _alias(w, d.alias)
    elif isinstance(d, ImportDecl | ExportDecl):
        w.byte(0x03 if isinstance(d, ImportDecl) else 0x04)
        _extern_name(w, d.name)
        _extern_desc(w, d.desc)
    elif isinstance(d, cm.CoreTypeDeclarator):
        w.byte(0x00)
        _core_type(w, d.type)
    else:
        raise TypeError(f"not a declarator: {d!r}")


def _type(w: Writer, t) -> None:
    match t:  # (the kinds are disjoint: the most frequent first)
        case FuncType():
            w.buf.append(0x43 if t.is_async else 0x40)
            _labelled(w, t.params)
            _resultlist(w, t.result)
        case ComponentType() | InstanceType():
            w.buf += bytes((0x41 if isinstance(t, ComponentType) else 0x42,)) + uleb(len(t.decls))
            for d in t.decls:
                _decl(w, d)
        case Prim():
            w.byte(t.code)
        case RecordType():
            w.byte(0x72)
            _labelled(w, t.fields)
        case VariantType():
            w.byte(0x71)
            w.u32(len(t.cases))
            for c in t.cases:
                w.name(c.name)
                _opt_valtype(w, c.type)
                w.byte(0x00)
        case ListType():
            if t.length is None:
                w.byte(0x70)
                _valtype(w, t.element)
            else:
                w.byte(0x67)
                _valtype(w, t.element)
                w.u32(t.length)
        case TupleType():
            w.byte(0x6F)
            w.u32(len(t.types))
            for x in t.types:
                _valtype(w, x)
        case FlagsType():
            w.byte(0x6E)
            _names(w, t.names)
        case EnumType():
            w.byte(0x6D)
            _names(w, t.names)
        case OptionType():
            w.byte(0x6B)
            _valtype(w, t.type)
        case ResultType():
            w.byte(0x6A)
            _opt_valtype(w, t.ok)
            _opt_valtype(w, t.err)
        case OwnType():
            w.byte(0x69)
            w.u32(t.resource)
        case BorrowType():
            w.byte(0x68)
            w.u32(t.resource)
        case ResourceType():
            w.byte(0x3F)
            _core_valtype(w, t.rep)
            if t.dtor is None:
                w.byte(0x00)
            else:
                w.byte(0x01)
                w.u32(t.dtor)
        case cm.StreamType():  # (`rareitems`: loaded when a type is none of the above)
            w.byte(0x66)
            _opt_valtype(w, t.element)
        case cm.FutureType():
            w.byte(0x65)
            _opt_valtype(w, t.element)
        case cm.MapType():
            w.byte(0x63)
            _valtype(w, t.key)
            _valtype(w, t.value)
        case _:
            raise TypeError(f"not a component type: {t!r}")


# -- other items --------------------------------------------------------------------------------


def _alias(w: Writer, a) -> None:
    _sort(w, a.sort)
    if isinstance(a, AliasExport | AliasCoreExport):
        name = a.name.encode()
        w.buf += (
            (b"\x00" if isinstance(a, AliasExport) else b"\x01")
            + uleb(a.instance)
            + uleb(len(name))
            + name
        )
    elif isinstance(a, AliasOuter):
        w.byte(0x02)
        w.u32(a.count)
        w.u32(a.index)
    else:
        raise TypeError(f"not an alias: {a!r}")


def _core_instance(w: Writer, i) -> None:
    buf = w.buf
    if isinstance(i, CoreInstantiate):
        buf += b"\x00" + uleb(i.module) + uleb(len(i.args))
        for a in i.args:
            w.name(a.name)
            buf += b"\x12" + uleb(a.instance)
    elif isinstance(i, CoreInlineExports):
        buf += b"\x01" + uleb(len(i.exports))
        for e in i.exports:
            w.name(e.name)
            buf.append(e.sort)
            buf += uleb(e.index)
    else:
        raise TypeError(f"not a core instance: {i!r}")


def _instance(w: Writer, i) -> None:
    if isinstance(i, Instantiate):
        w.byte(0x00)
        w.u32(i.component)
        w.u32(len(i.args))
        for a in i.args:
            w.name(a.name)
            _sort(w, a.sort)
            w.u32(a.index)
    elif isinstance(i, InlineExports):
        w.byte(0x01)
        w.u32(len(i.exports))
        for e in i.exports:
            _extern_name(w, e.name)
            _sort(w, e.sort)
            w.u32(e.index)
    else:
        raise TypeError(f"not an instance: {i!r}")


def _opts(w: Writer, opts: list[CanonOpt]) -> None:
    buf = w.buf
    buf += uleb(len(opts))
    for o in opts:
        kind = o.kind
        buf.append(kind)
        if kind in CANON_OPT_WITH_INDEX:
            buf += uleb(_present(o.index, "canon option index"))


def _canon(w: Writer, c) -> None:
    if isinstance(c, CanonLift):
        w.buf += b"\x00\x00" + uleb(c.core_func)
        _opts(w, c.options)
        w.buf += uleb(c.type)
        return
    if isinstance(c, CanonLower):
        w.buf += b"\x01\x00" + uleb(c.func)
        _opts(w, c.options)
        return
    if not isinstance(c, CanonBuiltin):
        raise TypeError(f"not a canonical definition: {c!r}")
    op = CANON_BUILTIN_CODE[c.op]
    w.byte(op)
    for imm in CANON_BUILTINS[op][1]:
        if imm == "type":
            w.u32(_present(c.type, "canon built-in type index"))
        elif imm == "opts":
            _opts(w, c.options or [])
        elif imm == "flag" or imm == "flag_first":
            w.byte(1 if c.flag else 0)
        elif imm == "result":
            _resultlist(w, c.result)
        elif imm == "valtype":
            _core_valtype(w, c.valtype)
        elif imm == "index":
            w.u32(_present(c.index, "canon built-in index"))
        elif imm == "memory":
            w.u32(_present(c.memory, "canon built-in memory index"))
        elif imm == "table":
            w.u32(_present(c.table, "canon built-in table index"))


def _import(w: Writer, i) -> None:
    _extern_name(w, i.name)
    _extern_desc(w, i.desc)


def _export(w: Writer, e) -> None:
    _extern_name(w, e.name)
    _sort(w, e.sort)
    w.u32(e.index)
    if e.desc is None:
        w.byte(0x00)
    else:
        w.byte(0x01)
        _extern_desc(w, e.desc)


def _value(w: Writer, v) -> None:
    _valtype(w, v.type)
    w.sized(v.data)


_ITEM_ENCODERS = {
    CoreInstanceSection: _core_instance,
    CoreTypeSection: _core_type,
    InstanceSection: _instance,
    AliasSection: _alias,
    TypeSection: _type,
    CanonSection: _canon,
    ImportSection: _import,
    ExportSection: _export,
}


def module_type_stub(
    types: list[CoreRecType], externs: list[tuple[str, str, CoreExternType]]
) -> bytes:
    """A core module with type section ``types`` and imports ``externs``: a core module type's
    declarations in the core binary form, so the core decoder can read them (exports go in as
    imports too: only an import has a type without a definition)."""
    from dataclasses import replace

    ts = Writer()
    ts.u32(len(types))
    for t in types:  # the component-level 0x00 0x50 prefix does not exist in a core module
        _core_type(ts, replace(t, subtypes=[replace(s, prefixed=False) for s in t.subtypes]))
    im = Writer()
    im.u32(len(externs))
    for module, name, et in externs:
        im.name(module)
        im.name(name)
        _core_externtype(im, et)
    out = Writer()
    out.raw(b"\0asm\x01\0\0\0")
    for sid, w in ((1, ts), (2, im)):
        out.byte(sid)
        out.sized(w.buf)
    return out.getvalue()
