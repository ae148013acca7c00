"""`Module` -> binary core module.

Reproduces recorded encoding choices (padded size LEBs, segment flags, explicit sub/rec forms,
shorthand ref types, empty-but-present sections) so that parse -> encode is byte-exact, and
falls back to canonical encodings for anything built from scratch.
"""

from __future__ import annotations

from pymeld.codec.binary import sleb, uleb, uleb_padded

from . import model as _model
from .model import (
    FUNCREF,
    SECTION_ORDER,
    SECTION_RANK,
    Code,
    Data,
    Elem,
    FuncImport,
    FuncType,
    GlobalType,
    HeapType,
    Limits,
    Local,
    MemoryType,
    Module,
    NumType,
    PackedType,
    SegmentMode,
    StorageType,
    SubType,
    TableType,
    TagType,
)


def _sized_parts(
    parts: list[bytes | bytearray], payload: bytes | bytearray | list[bytes], width: int | None
) -> None:
    """`_sized` into a list of parts (the payload is not copied; a list is its parts)."""
    if isinstance(payload, list):
        n = sum(map(len, payload))
    else:
        n = len(payload)
        payload = [payload]  # type: ignore[list-item]
    parts.append(uleb_padded(n, width) if width is not None and width > len(uleb(n)) else uleb(n))
    parts += payload


def heap_bytes(h: HeapType) -> bytes:
    if h.index is not None:
        return sleb(h.index)
    assert h.abstract is not None
    return bytes((0x65, h.abstract)) if h.shared else bytes((h.abstract,))


def valtype_bytes(t: StorageType) -> bytes:
    if isinstance(t, NumType | PackedType):
        return bytes((t,))
    if t.short and t.nullable and t.heap.index is None and not t.heap.shared:
        return bytes((t.heap.abstract,))  # type: ignore[arg-type]
    return (b"\x63" if t.nullable else b"\x64") + heap_bytes(t.heap)


def _vec(items: list[bytes]) -> bytes:
    return uleb(len(items)) + b"".join(items)


def _field(f: _model.FieldType) -> bytes:
    return valtype_bytes(f.storage) + (b"\x01" if f.mutable else b"\x00")


def subtype_bytes(st: SubType) -> bytes:
    c = st.composite
    if isinstance(c, FuncType):
        comp = (
            b"\x60"
            + _vec([valtype_bytes(p) for p in c.params])
            + _vec([valtype_bytes(p) for p in c.results])
        )
    elif isinstance(c, _model.StructType):  # (`gctypes`: loaded when not a function type)
        comp = b"\x5f" + _vec([_field(f) for f in c.fields])
    elif isinstance(c, _model.ArrayType):
        comp = b"\x5e" + _field(c.element)
    else:  # pragma: no cover - typing guard
        raise TypeError(f"unknown composite type {c!r}")
    if st.shared:
        comp = b"\x65" + comp
    if st.explicit or st.supers or not st.final:
        head = b"\x4f" if st.final else b"\x50"
        return head + _vec([uleb(s) for s in st.supers]) + comp
    return comp


def limits_bytes(lim: Limits) -> bytes:
    flags = lim.encoded_flags()
    out = bytearray((flags,))
    out += uleb(lim.min)
    if flags & 1:
        out += uleb(lim.max or 0)
    if flags & 8:
        out += uleb(lim.page_size_log2 or 0)
    return bytes(out)


def tabletype_bytes(t: TableType) -> bytes:
    return valtype_bytes(t.element) + limits_bytes(t.limits)


def globaltype_bytes(g: GlobalType) -> bytes:
    return valtype_bytes(g.content) + (b"\x01" if g.mutable else b"\x00")


def _name(s: str) -> bytes:
    b = s.encode("utf-8")
    return uleb(len(b)) + b


def encode_locals(locs: list[Local]) -> bytes:
    out = bytearray(uleb(len(locs)))
    for loc in locs:
        out += uleb(loc.count)
        out += valtype_bytes(loc.type)
    return bytes(out)


def _elem_flags(e: Elem) -> int:
    """The recorded flags if still consistent with the segment, else the canonical choice."""
    is_funcs = e.funcs is not None
    f = e.flags
    if f is not None and bool(f & 4) != is_funcs:
        mode = (
            SegmentMode.ACTIVE
            if not f & 1
            else (SegmentMode.DECLARATIVE if f & 2 else SegmentMode.PASSIVE)
        )
        if mode == e.mode and (e.table == 0 or f & 3 == 2):
            return f
    if e.mode == SegmentMode.ACTIVE:
        plain = e.table == 0 and (is_funcs or e.type == FUNCREF)
        flags = 0 if plain else 2
    else:
        flags = 1 if e.mode == SegmentMode.PASSIVE else 3
    return flags if is_funcs else flags | 4


def _elem(e: Elem) -> bytes:
    flags = _elem_flags(e)
    is_funcs = e.funcs is not None
    out = bytearray(uleb(flags))
    if not flags & 1:
        if flags & 2:
            out += uleb(e.table)
        out += e.offset or b"\x41\x00\x0b"
    if flags & 3:
        out += valtype_bytes(e.type) if flags & 4 else b"\x00"
    if is_funcs:
        assert e.funcs is not None
        out += uleb(len(e.funcs))
        for f in e.funcs:
            out += uleb(f)
    else:
        assert e.exprs is not None
        out += uleb(len(e.exprs))
        for x in e.exprs:
            out += x
    return bytes(out)


def _data_head(d: Data) -> bytes:
    """A data segment up to its bytes (which are appended as they are, not copied here)."""
    flags = d.flags
    if flags is None:
        flags = 1 if d.mode == SegmentMode.PASSIVE else (0 if d.memory == 0 else 2)
    out = bytearray(uleb(flags))
    if flags != 1:
        if flags == 2:
            out += uleb(d.memory)
        out += d.offset or b"\x41\x00\x0b"
    out += uleb(len(d.init))
    return bytes(out)


def _code_section(codes: list[Code]) -> list[bytes]:
    out = [uleb(len(codes))]  # parts, joined with the module: tens of megabytes for big inputs
    # keyed by the Local objects' ids (all alive in `codes` until the join): parsing shares one
    # Local per declaration shape, and hashing ids is C work where a tuple of Locals is not
    cache: dict[tuple[int, ...], bytes] = {}
    for c in codes:
        raw = c.locals_raw
        if raw is None:
            key = tuple(map(id, c.locals))
            raw = cache.get(key)
            if raw is None:
                raw = cache[key] = encode_locals(c.locals)
        n = len(raw) + len(c.body)
        w = c.size_width
        if w is not None and w > len(uleb(n)):
            out.append(uleb_padded(n, w))
        else:
            out.append(uleb(n))
        out.append(raw)
        out.append(c.body)
    return out


def _section_payload(m: Module, sid: int) -> bytes | bytearray | list[bytes] | None:
    """Payload of known section ``sid`` (the code and data sections as a list of parts) or None
    if it should be omitted."""
    present = sid in m.present
    if sid == 1:
        if not m.types and not present:
            return None
        out = bytearray(uleb(len(m.types)))
        for g in m.types:
            if g.explicit or len(g.types) != 1:
                out += b"\x4e" + uleb(len(g.types))
            for st in g.types:
                out += subtype_bytes(st)
        return out
    if sid == 2:
        if not m.imports and not present:
            return None
        out = bytearray(uleb(len(m.imports)))
        for imp in m.imports:
            out += _name(imp.module) + _name(imp.name)
            d = imp.desc
            if isinstance(d, FuncImport):
                out += b"\x00" + uleb(d.type_index)
            elif isinstance(d, TableType):
                out += b"\x01" + tabletype_bytes(d)
            elif isinstance(d, MemoryType):
                out += b"\x02" + limits_bytes(d.limits)
            elif isinstance(d, GlobalType):
                out += b"\x03" + globaltype_bytes(d)
            elif isinstance(d, TagType):
                out += b"\x04" + bytes((d.attribute,)) + uleb(d.type_index)
        return out
    if sid == 3:
        if not m.funcs and not present:
            return None
        return uleb(len(m.funcs)) + b"".join(uleb(t) for t in m.funcs)
    if sid == 4:
        if not m.tables and not present:
            return None
        out = bytearray(uleb(len(m.tables)))
        for t in m.tables:
            if t.init is not None:
                out += b"\x40\x00" + tabletype_bytes(t.type) + t.init
            else:
                out += tabletype_bytes(t.type)
        return out
    if sid == 5:
        if not m.memories and not present:
            return None
        return uleb(len(m.memories)) + b"".join(limits_bytes(x.limits) for x in m.memories)
    if sid == 13:
        if not m.tags and not present:
            return None
        return uleb(len(m.tags)) + b"".join(
            bytes((t.attribute,)) + uleb(t.type_index) for t in m.tags
        )
    if sid == 6:
        if not m.globals and not present:
            return None
        return uleb(len(m.globals)) + b"".join(globaltype_bytes(g.type) + g.init for g in m.globals)
    if sid == 7:
        if not m.exports and not present:
            return None
        return uleb(len(m.exports)) + b"".join(
            _name(e.name) + bytes((e.kind,)) + uleb(e.index) for e in m.exports
        )
    if sid == 8:
        return None if m.start is None else uleb(m.start)
    if sid == 9:
        if not m.elems and not present:
            return None
        return uleb(len(m.elems)) + b"".join(_elem(e) for e in m.elems)
    if sid == 12:
        return None if m.data_count is None else uleb(m.data_count)
    if sid == 10:
        if not m.codes and not present:
            return None
        return _code_section(m.codes)
    if sid == 11:
        if not m.datas and not present:
            return None
        parts = [uleb(len(m.datas))]
        for seg in m.datas:
            parts += (_data_head(seg), seg.init)
        return parts
    raise ValueError(f"unknown section id {sid}")


def encode_module(m: Module) -> bytes:
    """Encode ``m``; custom sections go after the known section they followed in the input."""
    return b"".join(encode_module_parts(m))


def encode_module_parts(m: Module) -> list[bytes | bytearray]:
    """`encode_module` as the parts its bytes are joined from, in order.

    Sections are collected and joined once (no growing buffer): a fused module is tens of
    megabytes, and every copy of it costs about as much as encoding a small section (most of
    it the page faults of a fresh buffer). A caller that adds to the module (an attestation)
    or embeds it (a component) joins the parts with its own.
    """
    buf: list[bytes | bytearray] = [b"\0asm\x01\x00\x00\x00"]
    customs = sorted(enumerate(m.customs), key=lambda ic: (SECTION_RANK.get(ic[1].after, 0), ic[0]))
    ci = 0

    def flush_customs(upto_rank: int) -> None:
        nonlocal ci
        while ci < len(customs) and SECTION_RANK.get(customs[ci][1].after, 0) <= upto_rank:
            c = customs[ci][1]
            buf.append(b"\x00")
            _sized_parts(buf, _name(c.name) + c.data, c.size_width)
            ci += 1

    flush_customs(0)
    for sid in SECTION_ORDER:
        payload = _section_payload(m, sid)
        if payload is not None:
            buf.append(bytes((sid,)))
            _sized_parts(buf, payload, m.size_widths.get(sid))
        flush_customs(SECTION_RANK[sid])
    flush_customs(1 << 30)
    return buf


__all__ = [
    "encode_locals",
    "encode_module",
    "encode_module_parts",
    "globaltype_bytes",
    "heap_bytes",
    "limits_bytes",
    "subtype_bytes",
    "tabletype_bytes",
    "valtype_bytes",
]
