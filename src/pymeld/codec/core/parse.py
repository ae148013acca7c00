"""Binary core module -> `Module`, with precise errors and byte-exact re-encode information.

Function bodies are only sliced, not decoded (call `instructions.scan_body` to validate them):
parsing a 30 MB module must stay well under a second.
"""

from __future__ import annotations

from pymeld.codec.binary import Reader, uleb
from pymeld.errors import DecodeError

from . import model as _model
from .instructions import expr_end
from .model import (
    _DESC_KIND,
    FUNCREF,
    SECTION_RANK,
    AbsHeap,
    Code,
    CompositeType,
    CustomSection,
    Data,
    Elem,
    Export,
    ExternKind,
    FuncImport,
    FuncType,
    Global,
    GlobalType,
    HeapType,
    Import,
    ImportDesc,
    Limits,
    Local,
    MemoryType,
    Module,
    NumType,
    PackedType,
    RecGroup,
    RefType,
    SectionId,
    SegmentMode,
    StorageType,
    SubType,
    Table,
    TableType,
    TagType,
    ValType,
)

_NUM = {int(t): t for t in NumType}
_KIND = tuple(ExternKind)  # by value, 0 (func) to 4 (tag); iterated once (EnumType.__iter__)
_ABS = {int(h): h for h in AbsHeap}
_SHORT_REF = {code: RefType(True, HeapType(h), short=True) for code, h in _ABS.items()}
_PACKED = {int(t): t for t in PackedType}
_SECTION_NAMES = {int(s): s.name.lower().replace("_", " ") for s in SectionId}

COMPONENT_VERSION = b"\x0d\x00\x01\x00"
CORE_VERSION = b"\x01\x00\x00\x00"


def _uleb_width_ok(value: int, width: int) -> bool:
    return len(uleb(value)) == width


class _Parser:
    __slots__ = ("m", "r")

    def __init__(self, r: Reader) -> None:
        self.r = r
        self.m = Module()

    # -- types -----------------------------------------------------------------------------------
    def heap(self, r: Reader) -> HeapType:
        b = r.peek()
        if b in _ABS:
            r.pos += 1
            return HeapType(_ABS[b])
        if b == 0x65:
            r.pos += 1
            at = r.pos
            b = r.byte()
            if b not in _ABS:
                raise r.error(f"expected an abstract heap type after 0x65, found 0x{b:02x}", at)
            return HeapType(_ABS[b], shared=True)
        at = r.pos
        v = r.s33()
        if v < 0:
            raise r.error(f"invalid heap type {v}", at)
        return HeapType(index=v)

    def valtype(self, r: Reader) -> ValType:
        at = r.pos
        b = r.byte()
        t = _NUM.get(b)
        if t is not None:
            return t
        ref = _SHORT_REF.get(b)
        if ref is not None:
            return ref
        if b == 0x63 or b == 0x64:
            return RefType(b == 0x63, self.heap(r))
        raise r.error(f"invalid value type 0x{b:02x}", at)

    def reftype(self, r: Reader) -> RefType:
        at = r.pos
        t = self.valtype(r)
        if not isinstance(t, RefType):
            raise r.error("expected a reference type", at)
        return t

    def storage(self, r: Reader) -> StorageType:
        b = r.peek()
        if b in _PACKED:
            r.pos += 1
            return _PACKED[b]
        return self.valtype(r)

    def fieldtype(self, r: Reader) -> _model.FieldType:
        st = self.storage(r)
        return _model.FieldType(st, bool(r.u1()))

    def composite(self, r: Reader) -> tuple[CompositeType, bool]:
        at = r.pos
        b = r.byte()
        shared = False
        if b == 0x65:
            shared = True
            at = r.pos
            b = r.byte()
        if b == 0x60:
            params = [self.valtype(r) for _ in range(r.vec_len())]
            results = [self.valtype(r) for _ in range(r.vec_len())]
            return FuncType(params, results), shared
        if b == 0x5F:
            return _model.StructType([self.fieldtype(r) for _ in range(r.vec_len(2))]), shared
        if b == 0x5E:
            return _model.ArrayType(self.fieldtype(r)), shared
        raise r.error(f"expected a composite type (0x60/0x5F/0x5E), found 0x{b:02x}", at)

    def subtype(self, r: Reader) -> SubType:
        b = r.peek()
        if b == 0x50 or b == 0x4F:
            r.pos += 1
            supers = [r.u32() for _ in range(r.vec_len())]
            comp, shared = self.composite(r)
            return SubType(comp, b == 0x4F, supers, True, shared)
        comp, shared = self.composite(r)
        return SubType(comp, True, [], False, shared)

    def limits(self, r: Reader, memory: bool) -> Limits:
        at = r.pos
        flags = r.byte()
        allowed = 0x0F if memory else 0x05
        if flags & ~allowed:
            raise r.error(f"invalid limits flags 0x{flags:02x}", at)
        read = r.u64 if flags & 4 else r.u32
        mn = read()
        mx = read() if flags & 1 else None
        page = r.u32() if flags & 8 else None
        return Limits(mn, mx, flags, page)

    def tabletype(self, r: Reader) -> TableType:
        rt = self.reftype(r)
        return TableType(rt, self.limits(r, False))

    def globaltype(self, r: Reader) -> GlobalType:
        t = self.valtype(r)
        return GlobalType(t, bool(r.u1()))

    def tagtype(self, r: Reader) -> TagType:
        at = r.pos
        attr = r.byte()
        if attr != 0:
            raise r.error(f"tag attribute must be 0, found 0x{attr:02x}", at)
        return TagType(r.u32(), attr)

    def expr(self, r: Reader) -> bytes:
        start = r.pos
        end = expr_end(r.data, start, r.end, file=r.file, base=r.base, section=r.section)
        r.pos = end
        return bytes(r.data[start:end])

    # -- sections --------------------------------------------------------------------------------
    def section(self, sid: int, r: Reader) -> None:
        m = self.m
        if sid == 1:
            for _ in range(r.vec_len()):
                if r.peek() == 0x4E:
                    r.pos += 1
                    m.types.append(RecGroup([self.subtype(r) for _ in range(r.vec_len())], True))
                else:
                    m.types.append(RecGroup([self.subtype(r)]))
        elif sid == 2:
            for _ in range(r.vec_len(3)):
                mod = r.name()
                nm = r.name()
                at = r.pos
                kind = r.byte()
                desc: ImportDesc
                if kind == 0:
                    desc = FuncImport(r.u32())
                elif kind == 1:
                    desc = self.tabletype(r)
                elif kind == 2:
                    desc = MemoryType(self.limits(r, True))
                elif kind == 3:
                    desc = self.globaltype(r)
                elif kind == 4:
                    desc = self.tagtype(r)
                else:
                    raise r.error(f"invalid import kind 0x{kind:02x}", at)
                m.imports.append(Import(mod, nm, desc))
        elif sid == 3:
            m.funcs = [r.u32() for _ in range(r.vec_len())]
        elif sid == 4:
            for _ in range(r.vec_len()):
                if r.peek() == 0x40:
                    r.pos += 1
                    at = r.pos
                    if r.byte() != 0:
                        raise r.error("expected 0x00 after 0x40 in table definition", at)
                    tt = self.tabletype(r)
                    m.tables.append(Table(tt, self.expr(r)))
                else:
                    m.tables.append(Table(self.tabletype(r)))
        elif sid == 5:
            m.memories = [MemoryType(self.limits(r, True)) for _ in range(r.vec_len())]
        elif sid == 13:
            m.tags = [self.tagtype(r) for _ in range(r.vec_len(2))]
        elif sid == 6:
            for _ in range(r.vec_len(2)):
                gt = self.globaltype(r)
                m.globals.append(Global(gt, self.expr(r)))
        elif sid == 7:
            for _ in range(r.vec_len(3)):
                nm = r.name()
                at = r.pos
                kind = r.byte()
                if kind > 4:
                    raise r.error(f"invalid export kind 0x{kind:02x}", at)
                m.exports.append(Export(nm, _KIND[kind], r.u32()))
        elif sid == 8:
            m.start = r.u32()
        elif sid == 9:
            m.elems = [self.elem(r) for _ in range(r.vec_len())]
        elif sid == 12:
            m.data_count = r.u32()
        elif sid == 10:
            self.code(r)
        elif sid == 11:
            m.datas = [self.data(r) for _ in range(r.vec_len())]

    def elem(self, r: Reader) -> Elem:
        at = r.pos
        flags = r.u32()
        if flags > 7:
            raise r.error(f"invalid element segment flags {flags}", at)
        mode = (
            SegmentMode.ACTIVE
            if not flags & 1
            else (SegmentMode.DECLARATIVE if flags & 2 else SegmentMode.PASSIVE)
        )
        table = 0
        offset = None
        if mode == SegmentMode.ACTIVE:
            if flags & 2:
                table = r.u32()
            offset = self.expr(r)
        rt = FUNCREF
        if flags & 4:
            if flags & 3:
                rt = self.reftype(r)
            exprs = [self.expr(r) for _ in range(r.vec_len())]
            return Elem(mode, rt, None, exprs, table, offset, flags)
        if flags & 3:
            at = r.pos
            kind = r.byte()
            if kind != 0:
                raise r.error(f"invalid element kind 0x{kind:02x}", at)
        funcs = [r.u32() for _ in range(r.vec_len())]
        return Elem(mode, rt, funcs, None, table, offset, flags)

    def data(self, r: Reader) -> Data:
        at = r.pos
        flags = r.u32()
        if flags > 2:
            raise r.error(f"invalid data segment flags {flags}", at)
        if flags == 1:
            return Data(SegmentMode.PASSIVE, r.bytes(r.u32()), flags=1)
        mem = r.u32() if flags == 2 else 0
        off = self.expr(r)
        return Data(SegmentMode.ACTIVE, r.bytes(r.u32()), mem, off, flags)

    def code(self, r: Reader) -> None:
        data = r.data
        codes = self.m.codes
        cache: dict[bytes, tuple[list[Local], bool]] = {}
        for _ in range(r.vec_len()):
            at = r.pos
            size = r.u32()
            width = r.pos - at
            body_r = r.sub(size, "code")
            start = body_r.pos
            end = body_r.end
            # Find the end of the local declarations cheaply, then decode them once per shape.
            n = body_r.u32()
            for _ in range(n):
                body_r.u32()
                b = body_r.byte()
                if b == 0x63 or b == 0x64 or b == 0x65:
                    body_r.pos -= 1
                    self.valtype(body_r)
            lend = body_r.pos
            raw = data[start:lend]
            hit = cache.get(raw)
            if hit is None:
                lr = Reader(data, start, lend, base=r.base, file=r.file, section="code")
                locs = []
                total = 0
                for _ in range(lr.u32()):
                    cnt = lr.u32()
                    total += cnt
                    locs.append(Local(cnt, self.valtype(lr)))
                if total >= 1 << 32:
                    raise r.error("too many locals", start)
                canonical = _encode_locals(locs) == raw
                hit = (locs, canonical)
                cache[raw] = hit
            if lend >= end or data[end - 1] != 0x0B:
                raise r.error("function body does not end with 0x0b (end)", end)
            codes.append(
                Code(
                    list(hit[0]),
                    data[lend:end],
                    None if _uleb_width_ok(size, width) else width,
                    None if hit[1] else raw,
                )
            )


def _encode_locals(locs: list[Local]) -> bytes:
    from .encode import encode_locals

    return encode_locals(locs)


def parse_module(data: bytes, *, file: str | None = None, base: int = 0) -> Module:
    """Decode a core module; ``base`` = offset of ``data[0]`` in the outer file (for errors)."""
    if not isinstance(data, bytes):
        data = bytes(data)
    r = Reader(data, base=base, file=file, section="preamble")
    if len(data) < 8 or data[:4] != b"\0asm":
        raise r.error("bad magic: expected \\0asm (not a WebAssembly binary)")
    version = data[4:8]
    if version == COMPONENT_VERSION:
        raise r.error("this is a component, not a core module", 4)
    if version != CORE_VERSION:
        raise r.error(f"unsupported core module version {version.hex(' ')}", 4)
    r.pos = 8
    p = _Parser(r)
    m = p.m
    last_rank = 0
    last_id = 0
    func_count: int | None = None
    while r.pos < r.end:
        r.section = None
        at = r.pos
        sid = r.byte()
        name = _SECTION_NAMES.get(sid)
        if name is None:
            raise r.error(f"unknown section id {sid}", at)
        r.section = name
        size_at = r.pos
        size = r.u32()
        width = r.pos - size_at
        sr = r.sub(size, name)
        if sid == 0:
            cname = sr.name()
            m.customs.append(
                CustomSection(
                    cname,
                    sr.bytes(sr.remaining()),
                    last_id,
                    None if _uleb_width_ok(size, width) else width,
                )
            )
            continue
        rank = SECTION_RANK[sid]
        if rank <= last_rank:
            raise r.error(f"{name} section out of order or duplicated", at)
        last_rank = rank
        last_id = sid
        m.present.add(sid)
        if not _uleb_width_ok(size, width):
            m.size_widths[sid] = width
        p.section(sid, sr)
        sr.expect_end(f"{name} section")
        if sid == 3:
            func_count = len(m.funcs)
        elif sid == 10 and len(m.codes) != len(m.funcs):
            raise r.error(
                f"function and code section counts differ ({len(m.funcs)} vs {len(m.codes)})", at
            )
        elif sid == 11 and m.data_count is not None and m.data_count != len(m.datas):
            raise r.error(
                f"data count section says {m.data_count}, data section has {len(m.datas)}", at
            )
    r.section = None
    if func_count and 10 not in m.present:
        raise r.error("function section has entries but the code section is missing")
    if m.data_count and 11 not in m.present:
        raise r.error("data count section is non-zero but the data section is missing")
    _check_indices(m, r)
    return m


def _check_indices(m: Module, r: Reader) -> None:
    """Cheap index-range checks; everything else is left to a validator."""
    ntypes = sum(len(g.types) for g in m.types)
    counts = dict.fromkeys(_KIND, 0)
    for imp in m.imports:
        k = _DESC_KIND[type(imp.desc)]
        counts[k] += 1
        if isinstance(imp.desc, FuncImport | TagType) and imp.desc.type_index >= ntypes:
            raise DecodeError(
                f"import {imp.module}/{imp.name}: type index {imp.desc.type_index} out of range",
                file=r.file,
                section="import",
            )
    for i, t in enumerate(m.funcs):
        if t >= ntypes:
            raise DecodeError(
                f"function {i}: type index {t} out of range ({ntypes} types)",
                file=r.file,
                section="function",
            )
    counts[ExternKind.FUNC] += len(m.funcs)
    counts[ExternKind.TABLE] += len(m.tables)
    counts[ExternKind.MEMORY] += len(m.memories)
    counts[ExternKind.GLOBAL] += len(m.globals)
    counts[ExternKind.TAG] += len(m.tags)
    for e in m.exports:
        if e.index >= counts[e.kind]:
            raise DecodeError(
                f"export {e.name!r}: {e.kind.name.lower()} index {e.index} out of range",
                file=r.file,
                section="export",
            )
    if m.start is not None and m.start >= counts[ExternKind.FUNC]:
        raise DecodeError(f"start function {m.start} out of range", file=r.file, section="start")
