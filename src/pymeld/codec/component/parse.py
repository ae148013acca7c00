"""Decoder: component binary -> `model.Component`, strictly following Binary.md.

Every malformation raises `DecodeError` carrying file, section and absolute offset. Nested
components are decoded in place over the same buffer (no copies); core modules are kept as
zero-copy ``memoryview`` slices and only parsed on demand by the core codec.
"""

from __future__ import annotations

from collections.abc import Callable

from pymeld.codec.binary import Reader, uleb
from pymeld.codec.component import model as cm
from pymeld.codec.component.model import (
    CANON_BUILTINS,
    CANON_OPT_WITH_INDEX,
    PRIM_BY_CODE,
    Alias,
    AliasCoreExport,
    AliasDeclarator,
    AliasExport,
    AliasOuter,
    AliasSection,
    AttributeKind,
    BorrowType,
    CanonBuiltin,
    CanonLift,
    CanonLower,
    CanonOpt,
    CanonOptKind,
    CanonSection,
    Case,
    Component,
    ComponentSection,
    ComponentSort,
    ComponentType,
    CoreInlineExport,
    CoreInlineExports,
    CoreInstanceSection,
    CoreInstantiate,
    CoreInstantiateArg,
    CoreModuleSection,
    CoreSort,
    CoreTypeSection,
    CustomSection,
    EnumType,
    Export,
    ExportDecl,
    ExportSection,
    ExternDesc,
    ExternName,
    FlagsType,
    FuncType,
    Import,
    ImportDecl,
    ImportSection,
    InlineExport,
    InlineExports,
    InstanceSection,
    InstanceType,
    Instantiate,
    InstantiateArg,
    ListType,
    OptionType,
    OwnType,
    RecordType,
    ResourceType,
    ResultType,
    Section,
    Sort,
    TupleType,
    TypeDeclarator,
    TypeSection,
    ValType,
    VariantType,
    sort_name,
)
from pymeld.errors import DecodeError

MAGIC = b"\x00asm"
COMPONENT_VERSION = 0x0D
CORE_PREAMBLE = MAGIC + b"\x01\x00\x00\x00"
PREAMBLE = MAGIC + bytes([COMPONENT_VERSION, 0x00, 0x01, 0x00])
MAX_DEPTH = 64  # nesting of components / component types; keeps hostile input off the C stack

SECTION_NAMES = {
    0: "custom",
    1: "core module",
    2: "core instance",
    3: "core type",
    4: "component",
    5: "instance",
    6: "alias",
    7: "type",
    8: "canon",
    9: "start",
    10: "import",
    11: "export",
    12: "value",
}

_OUTER_ALIAS_SORTS = frozenset(
    [CoreSort.MODULE, CoreSort.TYPE, ComponentSort.TYPE, ComponentSort.COMPONENT]
)
_CORE_SORTS = {int(s): s for s in CoreSort}
_COMPONENT_SORTS = {int(s): s for s in ComponentSort if s is not ComponentSort.CORE}
# Single-byte core value types: numeric, vector and the abbreviated reference types.
_ABS_HEAP_BYTES = frozenset(
    (0x70, 0x6F, 0x6E, 0x71, 0x72, 0x73, 0x6D, 0x6B, 0x6A, 0x6C, 0x69, 0x74, 0x68, 0x75)
)
_CORE_VALTYPE_BYTES = _ABS_HEAP_BYTES | {0x7F, 0x7E, 0x7D, 0x7C, 0x7B}


def parse_component(data: bytes, *, file: str | None = None, base: int = 0) -> Component:
    """Decode a whole component binary (``data`` must hold exactly one component)."""
    if isinstance(data, memoryview | bytearray):
        data = bytes(data)
    r = Reader(data, base=base, file=file, section="preamble")
    try:
        c = _component(r, 0)
    except RecursionError:  # pragma: no cover - depth is capped; belt and braces
        raise r.error("nesting too deep") from None
    if not r.eof():
        raise r.error("trailing bytes after component")
    return c


def check_preamble(r: Reader) -> int:
    """Validate magic/version/layer; returns the version. Says so clearly for core modules."""
    at = r.pos
    if r.remaining() < 8:
        raise r.error("truncated preamble: expected 8 bytes (magic, version, layer)")
    head = r.bytes(8)
    if head[:4] != MAGIC:
        raise r.error(f"bad magic {head[:4].hex()}, expected 0061736d (\\0asm)", at)
    version = head[4] | head[5] << 8
    layer = head[6] | head[7] << 8
    if layer == 0:
        raise r.error(
            f"this is a core WebAssembly module (version {version}, layer 0), not a component",
            at + 4,
        )
    if layer != 1:
        raise r.error(f"unknown layer {layer}, expected 1 (component)", at + 6)
    if version != COMPONENT_VERSION:
        raise r.error(
            f"unsupported component version 0x{version:x}, expected 0x{COMPONENT_VERSION:x}",
            at + 4,
        )
    return version


def _component(r: Reader, depth: int) -> Component:
    """Decode preamble + sections from ``r`` until its end."""
    if depth > MAX_DEPTH:
        raise r.error("components nested too deeply")
    start = r.offset
    r.section = "preamble"
    version = check_preamble(r)
    sections: list[Section] = []
    size_widths: dict[int, int] = {}
    data = r.data
    while not r.eof():
        r.section = None
        sec_at = r.pos
        sid = r.byte()
        name = SECTION_NAMES.get(sid)
        if name is None:
            raise r.error(f"unknown section id {sid}", sec_at)
        r.section = name
        size_at = r.pos
        size = r.u32()
        if r.pos - size_at != len(uleb(size)):
            size_widths[len(sections)] = r.pos - size_at
        if size > r.remaining():
            raise r.error(
                f"section size {size} exceeds the {r.remaining()} bytes left in the component",
                size_at,
            )
        s = r.sub(size, name)
        if sid == 1:
            if data[s.pos : s.pos + 8] != CORE_PREAMBLE:
                raise s.error("core module section does not start with a core module preamble")
            mv = memoryview(data)[s.pos : s.end]
            sections.append(CoreModuleSection(mv, offset=s.offset, file=r.file))
            s.pos = s.end
        elif sid == 4:
            sections.append(ComponentSection(_component(s, depth + 1)))
        elif sid == 0:
            nm = s.name()
            sections.append(
                CustomSection(nm, memoryview(data)[s.pos : s.end], offset=r.base + sec_at)
            )
            s.pos = s.end
        else:
            sections.append(_SECTION_PARSERS[sid](s))
        s.expect_end(f"{name} section")
    return Component(sections, version, start, r.file, size_widths)


# ---------------------------------------------------------------------------------------------
# Small pieces
# ---------------------------------------------------------------------------------------------


def _vec(r: Reader, item, min_size: int = 1) -> list:
    return [item(r) for _ in range(r.vec_len(min_size))]


def _core_sort(r: Reader) -> CoreSort:
    at = r.pos
    b = r.byte()
    s = _CORE_SORTS.get(b)
    if s is None:
        raise r.error(f"unknown core sort 0x{b:02x}", at)
    return s


def _sort(r: Reader) -> Sort:
    at = r.pos
    b = r.byte()
    if b == 0:
        return _core_sort(r)
    s = _COMPONENT_SORTS.get(b)
    if s is None:
        raise r.error(f"unknown sort 0x{b:02x}", at)
    return s


def _flag(r: Reader, what: str) -> bool:
    at = r.pos
    b = r.byte()
    if b > 1:
        raise r.error(f"expected 0x00 or 0x01 for {what}, found 0x{b:02x}", at)
    return b == 1


def _extern_name(r: Reader) -> ExternName:
    at = r.pos
    tag = r.byte()
    if tag in (0, 1):
        return ExternName(r.name(), tag)
    if tag != 2:
        raise r.error(f"unknown extern name form 0x{tag:02x}", at)
    name = r.name()
    attrs = []
    for _ in range(r.vec_len(2)):
        kat = r.pos
        k = r.byte()
        if k > 2:
            raise r.error(f"unknown name attribute 0x{k:02x}", kat)
        attrs.append(cm.Attribute(AttributeKind(k), r.name()))
    return ExternName(name, 2, attrs)


def _valtype(r: Reader) -> ValType:
    b = r.peek()
    p = PRIM_BY_CODE.get(b)
    if p is not None:
        r.pos += 1
        return p
    at = r.pos
    v = r.s33()
    if v < 0:
        raise r.error(f"unknown value type 0x{b:02x}", at)
    return v


def _opt_valtype(r: Reader):
    return _valtype(r) if _flag(r, "optional value type") else None


# -- core types ---------------------------------------------------------------------------------


def _heap(r: Reader) -> tuple[int, bool]:
    at = r.pos
    b = r.peek()
    if b == 0x65:
        r.pos += 1
        at = r.pos
        b = r.byte()
        if b not in _ABS_HEAP_BYTES:
            raise r.error(f"unknown shared heap type 0x{b:02x}", at)
        return b - 0x80, True
    v = r.s33()
    if v < 0 and (v + 0x80) not in _ABS_HEAP_BYTES:
        raise r.error(f"unknown heap type 0x{b:02x}", at)
    return v, False


def _core_valtype(r: Reader):
    at = r.pos
    b = r.byte()
    if b in _CORE_VALTYPE_BYTES:
        return b
    if b in (0x63, 0x64):
        from pymeld.codec.component.coretypes import CoreRefType

        heap, shared = _heap(r)
        return CoreRefType(b == 0x63, heap, shared)
    raise r.error(f"unknown core value type 0x{b:02x}", at)


def _core_type(r: Reader, depth: int = 0):
    """``core:type`` (`pymeld.codec.component.parse_coretypes`, loaded at the first one)."""
    from pymeld.codec.component.parse_coretypes import read_core_type

    return read_core_type(r, depth)


# -- component types ----------------------------------------------------------------------------


def _label_valtype(r: Reader) -> tuple[str, object]:
    nm = r.name()
    return nm, _valtype(r)


def _case(r: Reader) -> Case:
    nm = r.name()
    t = _opt_valtype(r)
    at = r.pos
    if r.byte() != 0x00:
        raise r.error("expected 0x00 after variant case", at)
    return Case(nm, t)


def _resultlist(r: Reader):
    at = r.pos
    b = r.byte()
    if b == 0x00:
        return _valtype(r)
    if b == 0x01:
        zat = r.pos
        if r.byte() != 0x00:
            raise r.error("expected 0x00 after 0x01 in empty result list", zat)
        return None
    raise r.error(f"unknown result list form 0x{b:02x}", at)


def _extern_desc(r: Reader) -> ExternDesc:
    at = r.pos
    k = r.byte()
    if k == 0x00:
        mat = r.pos
        if r.byte() != 0x11:
            raise r.error("expected 0x11 (core module) in extern type", mat)
        return ExternDesc(CoreSort.MODULE, r.u32())
    if k in (0x01, 0x04, 0x05):
        return ExternDesc(_COMPONENT_SORTS[k], r.u32())
    if k == 0x02:
        bat = r.pos
        b = r.byte()
        if b == 0x00:
            return ExternDesc(ComponentSort.VALUE, r.u32())
        if b == 0x01:
            return ExternDesc(ComponentSort.VALUE, valtype=_valtype(r))
        raise r.error(f"unknown value bound 0x{b:02x}", bat)
    if k == 0x03:
        bat = r.pos
        b = r.byte()
        if b == 0x00:
            return ExternDesc(_TYPE, r.u32())
        if b == 0x01:
            return ExternDesc(_TYPE, None)
        raise r.error(f"unknown type bound 0x{b:02x}", bat)
    raise r.error(f"unknown extern type 0x{k:02x}", at)


def _decl(r: Reader, depth: int, component: bool):
    at = r.pos
    k = r.byte()
    if k == 0x00:
        from pymeld.codec.component.coretypes import CoreTypeDeclarator

        return CoreTypeDeclarator(_core_type(r))
    if k == 0x01:
        return TypeDeclarator(_type(r, depth))
    if k == 0x02:
        return AliasDeclarator(_alias(r))
    if k == 0x04:
        nm = _extern_name(r)
        return ExportDecl(nm, _extern_desc(r))
    if k == 0x03 and component:
        nm = _extern_name(r)
        return ImportDecl(nm, _extern_desc(r))
    what = "component" if component else "instance"
    raise r.error(f"unknown {what} type declaration 0x{k:02x}", at)


def _type(r: Reader, depth: int = 0):
    at = r.pos
    b = r.byte()
    p = PRIM_BY_CODE.get(b)
    if p is not None:
        return p
    match b:
        case 0x72:
            return RecordType(_vec(r, _label_valtype, 2))
        case 0x71:
            return VariantType(_vec(r, _case, 3))
        case 0x70:
            return ListType(_valtype(r))
        case 0x67:
            t = _valtype(r)
            return ListType(t, r.u32())
        case 0x6F:
            return TupleType(_vec(r, _valtype))
        case 0x6E:
            return FlagsType(_vec(r, Reader.name))
        case 0x6D:
            return EnumType(_vec(r, Reader.name))
        case 0x6B:
            return OptionType(_valtype(r))
        case 0x6A:
            ok = _opt_valtype(r)
            return ResultType(ok, _opt_valtype(r))
        case 0x69:
            return OwnType(r.u32())
        case 0x68:
            return BorrowType(r.u32())
        case 0x66:
            return cm.StreamType(_opt_valtype(r))
        case 0x65:
            return cm.FutureType(_opt_valtype(r))
        case 0x63:
            k = _valtype(r)
            return cm.MapType(k, _valtype(r))
        case 0x40 | 0x43:
            params = _vec(r, _label_valtype, 2)
            return FuncType(params, _resultlist(r), b == 0x43)
        case 0x41 | 0x42:
            if depth >= MAX_DEPTH:
                raise r.error("component/instance types nested too deeply", at)
            comp = b == 0x41
            decls = _vec(r, lambda rr: _decl(rr, depth + 1, comp))
            return ComponentType(decls) if comp else InstanceType(decls)
        case 0x3F:
            rep = _core_valtype(r)
            dtor = r.u32() if _flag(r, "optional destructor") else None
            return ResourceType(rep, dtor)
    raise r.error(f"unknown type 0x{b:02x}", at)


# -- other items --------------------------------------------------------------------------------


def _alias(r: Reader) -> Alias:
    start = r.pos
    sort = _sort(r)
    at = r.pos
    k = r.byte()
    if k == 0x00:
        return AliasExport(sort, r.u32(), r.name())
    if k == 0x01:
        if not isinstance(sort, CoreSort):
            raise r.error("core export alias of a non-core sort", at)
        return AliasCoreExport(sort, r.u32(), r.name())
    if k == 0x02:
        if sort not in _OUTER_ALIAS_SORTS:
            raise r.error(
                f"outer alias of sort {sort_name(sort)} (only core module, core type,"
                " type, component)",
                start,
            )
        ct = r.u32()
        return AliasOuter(sort, ct, r.u32())
    raise r.error(f"unknown alias target 0x{k:02x}", at)


def _core_instance(r: Reader):
    at = r.pos
    k = r.byte()
    if k == 0x00:
        m = r.u32()
        args = []
        for _ in range(r.vec_len(3)):
            nm = r.name()
            sat = r.pos
            if r.byte() != 0x12:
                raise r.error("expected 0x12 (instance) in core instantiate argument", sat)
            args.append(CoreInstantiateArg(nm, r.u32()))
        return CoreInstantiate(m, args)
    if k == 0x01:
        exports = []
        for _ in range(r.vec_len(3)):
            nm = r.name()
            s = _core_sort(r)
            exports.append(CoreInlineExport(nm, s, r.u32()))
        return CoreInlineExports(exports)
    raise r.error(f"unknown core instance form 0x{k:02x}", at)


def _instance(r: Reader):
    at = r.pos
    k = r.byte()
    if k == 0x00:
        c = r.u32()
        args = []
        for _ in range(r.vec_len(3)):
            nm = r.name()
            s = _sort(r)
            args.append(InstantiateArg(nm, s, r.u32()))
        return Instantiate(c, args)
    if k == 0x01:
        exports = []
        for _ in range(r.vec_len(4)):
            en = _extern_name(r)
            s = _sort(r)
            exports.append(InlineExport(en, s, r.u32()))
        return InlineExports(exports)
    raise r.error(f"unknown instance form 0x{k:02x}", at)


#: Read per type bound (on Python 3.11 each ``ComponentSort.X`` read goes through
#: ``EnumType.__getattr__``).
_TYPE = ComponentSort.TYPE

#: `CanonOptKind` by its byte (read per option; ``CanonOptKind(b)`` runs `EnumType.__call__`).
_CANON_OPT_KIND = {int(k): k for k in CanonOptKind}


def _opts(r: Reader) -> list[CanonOpt]:
    opts = []
    for _ in range(r.vec_len(1)):
        at = r.pos
        b = r.byte()
        if b > 0x09:
            raise r.error(f"unknown canonical option 0x{b:02x}", at)
        kind = _CANON_OPT_KIND[b]
        if kind in CANON_OPT_WITH_INDEX:
            opts.append(CanonOpt(kind, r.u32()))
        else:
            opts.append(CanonOpt(kind))
    return opts


def _canon(r: Reader):
    at = r.pos
    op = r.byte()
    if op == 0x00 or op == 0x01:
        sat = r.pos
        if r.byte() != 0x00:
            raise r.error("expected 0x00 (func sort) in canon lift/lower", sat)
        f = r.u32()
        opts = _opts(r)
        if op == 0x00:
            return CanonLift(f, opts, r.u32())
        return CanonLower(f, opts)
    spec = CANON_BUILTINS.get(op)
    if spec is None:
        raise r.error(f"unknown canonical function 0x{op:02x}", at)
    name, imms = spec
    c = CanonBuiltin(name)
    for imm in imms:
        if imm == "type":
            c.type = r.u32()
        elif imm == "opts":
            c.options = _opts(r)
        elif imm == "flag" or imm == "flag_first":
            c.flag = _flag(r, name)
        elif imm == "result":
            c.result = _resultlist(r)
        elif imm == "valtype":
            c.valtype = _core_valtype(r)
        elif imm == "index":
            c.index = r.u32()
        elif imm == "memory":
            c.memory = r.u32()
        elif imm == "table":
            c.table = r.u32()
    return c


def _import(r: Reader) -> Import:
    nm = _extern_name(r)
    return Import(nm, _extern_desc(r))


def _export(r: Reader) -> Export:
    nm = _extern_name(r)
    s = _sort(r)
    idx = r.u32()
    desc = _extern_desc(r) if _flag(r, "optional export type") else None
    return Export(nm, s, idx, desc)


def _value(r: Reader) -> cm.Value:
    t = _valtype(r)
    n = r.u32()
    return cm.Value(t, r.bytes(n))


def _start(r: Reader) -> cm.StartSection:
    f = r.u32()
    args = _vec(r, Reader.u32)
    return cm.StartSection(f, args, r.u32())


_SECTION_PARSERS: dict[int, Callable[[Reader], Section]] = {
    2: lambda r: CoreInstanceSection(_vec(r, _core_instance, 2)),
    3: lambda r: CoreTypeSection(_vec(r, _core_type)),
    5: lambda r: InstanceSection(_vec(r, _instance, 2)),
    6: lambda r: AliasSection(_vec(r, _alias, 3)),
    7: lambda r: TypeSection(_vec(r, _type)),
    8: lambda r: CanonSection(_vec(r, _canon, 1)),
    9: _start,
    10: lambda r: ImportSection(_vec(r, _import, 4)),
    11: lambda r: ExportSection(_vec(r, _export, 5)),
    12: lambda r: cm.ValueSection(_vec(r, _value, 2)),
}

__all__ = ["PREAMBLE", "DecodeError", "check_preamble", "parse_component"]
