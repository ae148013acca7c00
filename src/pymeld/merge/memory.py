"""Memory strategies: keep one memory per module-instance memory, or place them in one memory.

``multi`` keeps the merger's output (one memory per defined memory). ``shared`` collapses the
output to one memory. Without address rebasing that is only the identity (at most one memory
exists). With ``address_rebase`` every memory becomes a *region* ``[base, base + size)`` of the
one memory, and every address stays *virtual* (region-relative): pointers held in locals,
globals (``__stack_pointer``, ``__heap_base``) and memory are never moved; instead every access
is translated where it happens. That is what makes rebasing sound without relocation data:

* loads/stores add ``base`` to the memarg's static offset; in every region but the last one
  they also check ``addr + offset + width <= size`` first, so an access that was out of bounds
  in the original still traps with "out of bounds memory access" instead of reading a neighbour;
* ``memory.init``/``memory.copy``/``memory.fill`` spill their operands to scratch locals, check
  ``dst/src + len <= size`` in 64-bit arithmetic and add the region bases;
* ``memory.size`` becomes the region's (fixed) page count;
* active data segments get ``base`` added to their constant offset;
* adapters need no change: they address each side's memory by its original index, so their
  ``memory.copy`` between two regions is rewritten like any other access.

Refused (``UnsupportedFeature`` naming the memory's module instance) where that is unsound:
``memory.grow`` on a memory that would share (regions need fixed sizes), 64-bit, shared
(threads) or custom-page-size memories, memories the host reads or writes through canonical
options (the host would see absolute addresses and no region bounds), non-constant or
out-of-region data segment offsets, and a total beyond 4 GiB. ``auto`` tries ``shared`` and
falls back to ``multi`` with the refusal as its reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pymeld.codec.binary import Reader, sleb, uleb
from pymeld.codec.core import instructions as ins
from pymeld.codec.core.model import (
    Code,
    ExternKind,
    FuncType,
    Limits,
    Local,
    MemoryType,
    NumType,
    SegmentMode,
)
from pymeld.errors import DecodeError, PymeldError, UnsupportedFeature
from pymeld.graph.model import FlatGraph
from pymeld.merge.merger import MergeResult

Strategy = Literal["multi", "shared", "auto"]
STRATEGIES: tuple[Strategy, ...] = ("multi", "shared", "auto")
PAGE = 1 << 16


@dataclass(slots=True)
class Region:
    """Where one output memory (pre-sharing index) lives inside the shared memory."""

    memory: int
    owner: str
    base: int  # bytes
    pages: int
    last: bool = False

    @property
    def size(self) -> int:
        return self.pages * PAGE


@dataclass(slots=True)
class MemoryDecision:
    """The strategy applied and why (reported by ``--stats``)."""

    strategy: str  # "multi" | "shared" | "shared+rebase"
    reason: str
    regions: list[Region] = field(default_factory=list)

    def stats(self) -> dict[str, object]:
        out: dict[str, object] = {
            "memory_strategy": self.strategy,
            "memory_strategy_reason": self.reason,
        }
        if self.regions:
            out["memory_regions"] = ", ".join(
                f"{r.owner}@{r.base:#x}+{r.pages}p" for r in self.regions
            )
        return out


def apply_memory_strategy(
    graph: FlatGraph, merged: MergeResult, strategy: Strategy, address_rebase: bool
) -> MemoryDecision:
    """Apply ``strategy`` to ``merged`` in place; returns what was chosen and why."""
    if strategy not in STRATEGIES:
        raise PymeldError(f"unknown memory strategy `{strategy}` (expected multi, shared or auto)")
    if strategy == "multi":
        if address_rebase:
            raise PymeldError("address rebasing needs the shared (or auto) memory strategy")
        return MemoryDecision("multi", "requested: one memory per module-instance memory")
    n = len(merged.module.memories)
    if n <= 1:
        return MemoryDecision(
            "shared", f"{n} memor{'y' if n == 1 else 'ies'} in total: nothing to move"
        )
    if strategy == "shared" and not address_rebase:
        owners = ", ".join(_owners(graph, merged)[:n])
        raise UnsupportedFeature(
            f"one shared memory without address rebasing: {n} memories ({owners}) would overlap "
            "at the same addresses"
        )
    try:
        regions = plan_regions(graph, merged)
    except UnsupportedFeature as e:
        if strategy == "shared":
            raise
        return MemoryDecision("multi", f"shared memory is unsound here: {e.args[0]}")
    rebase(merged, regions)
    why = "requested" if strategy == "shared" else "sound"
    return MemoryDecision(
        "shared+rebase",
        f"{why}: {n} fixed-size memories placed in disjoint regions of one memory",
        regions,
    )


# -- planning ----------------------------------------------------------------------------------


def _owners(graph: FlatGraph, merged: MergeResult) -> list[str]:
    """Label of the module instance that defines each output memory (generated ones named)."""
    out = ["pymeld resource tables"] * len(merged.module.memories)
    for mi, lay in zip(graph.instances, merged.layouts):
        for k in range(len(mi.module.memories)):
            out[lay.memory + k] = mi.label
    return out


def _func_owner(graph: FlatGraph, merged: MergeResult, func: int) -> str:
    for mi, lay in zip(graph.instances, merged.layouts):
        if lay.func <= func < lay.func + len(mi.module.funcs):
            return mi.label
    return "generated code (adapters, resource tables or start sequence)"


def plan_regions(graph: FlatGraph, merged: MergeResult) -> list[Region]:
    """Regions for every output memory, or UnsupportedFeature naming why sharing is unsound."""
    m = merged.module
    if m.num_imported(ExternKind.MEMORY):
        raise UnsupportedFeature("the fused module imports a memory; it cannot be rebased")
    owners = _owners(graph, merged)
    for i, mt in enumerate(m.memories):
        lim = mt.limits
        if lim.is64:
            raise UnsupportedFeature(f"{owners[i]}: 64-bit memory cannot share a 32-bit memory")
        if lim.shared:
            raise UnsupportedFeature(f"{owners[i]}: shared (threads) memory cannot be rebased")
        if lim.page_size_log2 not in (None, 16):
            raise UnsupportedFeature(f"{owners[i]}: custom page size cannot be rebased")
    host = _host_facing(merged)
    if host:
        mem, where = min(host.items())
        raise UnsupportedFeature(
            f"{owners[mem]}: its memory is read/written by the host through canonical options "
            f"({where}); the host would see region-absolute addresses without region bounds"
        )
    n_imports = len(m.imports)
    for k, code in enumerate(m.codes):
        grown = ins.scan_uses(code.body).memory_grow
        if grown:
            mem = min(grown)
            raise UnsupportedFeature(
                f"{owners[mem]}: its memory is grown by `memory.grow` (in "
                f"{_func_owner(graph, merged, n_imports + k)}); a shared memory needs "
                "fixed-size regions"
            )
    regions: list[Region] = []
    base = 0
    for i, mt in enumerate(m.memories):
        regions.append(Region(i, owners[i], base, mt.limits.min))
        base += mt.limits.min * PAGE
    if base > 1 << 32:
        raise UnsupportedFeature(f"memories total {base // PAGE} pages, more than 4 GiB")
    regions[-1].last = True
    for d in m.datas:
        if d.mode != SegmentMode.ACTIVE:
            continue
        r = regions[d.memory]
        at = _const_i32(d.offset or b"")
        if at is None:
            raise UnsupportedFeature(
                f"{r.owner}: data segment with a non-constant offset cannot be rebased"
            )
        if at + len(d.init) > r.size:
            raise UnsupportedFeature(
                f"{r.owner}: data segment at {at:#x}+{len(d.init)} is out of bounds "
                "(the original fails to instantiate)"
            )
    return regions


def _host_facing(merged: MergeResult) -> dict[int, str]:
    out: dict[int, str] = {}
    for hi in merged.host_imports:
        if hi.opts.memory is not None:
            out.setdefault(hi.opts.memory, f"import `{hi.module}/{hi.name}`")
    for fe in merged.exports:
        if fe.opts.memory is not None:
            out.setdefault(fe.opts.memory, f"export `{'/'.join(fe.path)}`")
    return out


def _const_i32(expr: bytes) -> int | None:
    """The u32 value of ``i32.const k; end``, else None."""
    if len(expr) < 3 or expr[0] != 0x41 or expr[-1] != 0x0B:
        return None
    r = Reader(expr, 1)
    try:
        v = r.s32()
    except DecodeError:
        return None
    return v & 0xFFFFFFFF if r.pos == len(expr) - 1 else None


# -- applying ----------------------------------------------------------------------------------


def rebase(merged: MergeResult, regions: list[Region]) -> None:
    """Rewrite ``merged`` so that memory ``r.memory`` lives at ``r.base`` of one memory 0."""
    m = merged.module
    by_mem = {r.memory: r for r in regions}
    subtypes = m.subtypes()
    ftypes = m.func_type_indices()
    n_imports = len(m.imports)
    for k, code in enumerate(m.codes):
        ft = subtypes[ftypes[n_imports + k]].composite
        assert isinstance(ft, FuncType)
        nlocals = len(ft.params) + sum(lc.count for lc in code.locals)
        scratch = _Scratch(nlocals)
        body = _rewrite_body(code.body, by_mem, scratch)
        if body is not code.body:
            locals_ = list(code.locals) + [Local(1, t) for t in scratch.types]
            m.codes[k] = Code(locals_, body, None, None)
    for d in m.datas:
        if d.mode == SegmentMode.ACTIVE:
            r = by_mem[d.memory]
            at = _const_i32(d.offset or b"")
            assert at is not None  # plan_regions refused non-constant offsets
            d.offset = b"\x41" + sleb(_s32(at + r.base)) + b"\x0b"
            d.memory = 0
            d.flags = None
    total = sum(r.pages for r in regions)
    m.memories = [MemoryType(Limits(total, total))]
    for e in m.exports:
        if e.kind == ExternKind.MEMORY:
            e.index = 0
    names = [name for _, name in sorted(merged.memory_exports.items())]
    merged.memory_exports = {0: names[0]} if names else {}
    for lay in merged.layouts:
        lay.memory = 0


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


class _Scratch:
    """Fresh locals appended to one function, reused per (role, type)."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.types: list[NumType] = []
        self._slots: dict[tuple[str, NumType], int] = {}

    def get(self, role: str, t: NumType) -> bytes:
        idx = self._slots.get((role, t))
        if idx is None:
            idx = self._slots[(role, t)] = self.first + len(self.types)
            self.types.append(t)
        return uleb(idx)


# Memory-access opcodes: (prefix or -1, opcode) → (access width, operand types above the address).
_I32, _I64, _F32, _F64, _V128 = NumType.I32, NumType.I64, NumType.F32, NumType.F64, NumType.V128
_ACCESS: dict[tuple[int, int], tuple[int, tuple[NumType, ...]]] = {}
for _op, _w in zip(range(0x28, 0x36), (4, 8, 4, 8, 1, 1, 2, 2, 1, 1, 2, 2, 4, 4)):
    _ACCESS[(-1, _op)] = (_w, ())
for _op, (_w, _t) in zip(
    range(0x36, 0x3F),
    (
        (4, _I32),
        (8, _I64),
        (4, _F32),
        (8, _F64),
        (1, _I32),
        (2, _I32),
        (1, _I64),
        (2, _I64),
        (4, _I64),
    ),
):
    _ACCESS[(-1, _op)] = (_w, (_t,))
for _op, _w in zip(range(0x00, 0x0B), (16, 8, 8, 8, 8, 8, 8, 1, 2, 4, 8)):
    _ACCESS[(0xFD, _op)] = (_w, ())
_ACCESS[(0xFD, 0x0B)] = (16, (_V128,))
_ACCESS[(0xFD, 0x5C)] = (4, ())
_ACCESS[(0xFD, 0x5D)] = (8, ())
for _op, _w in zip(range(0x54, 0x5C), (1, 2, 4, 8, 1, 2, 4, 8)):
    _ACCESS[(0xFD, _op)] = (_w, (_V128,))  # load/store lane (+ a lane byte)
_ACCESS[(0xFE, 0x00)] = (4, (_I32,))  # memory.atomic.notify
_ACCESS[(0xFE, 0x01)] = (4, (_I32, _I64))  # wait32
_ACCESS[(0xFE, 0x02)] = (8, (_I64, _I64))  # wait64
_ATOMIC_SHAPES = ((4, _I32), (8, _I64), (1, _I32), (2, _I32), (1, _I64), (2, _I64), (4, _I64))
for _k, (_w, _t) in enumerate(_ATOMIC_SHAPES):
    _ACCESS[(0xFE, 0x10 + _k)] = (_w, ())  # atomic loads
    _ACCESS[(0xFE, 0x17 + _k)] = (_w, (_t,))  # atomic stores
    for _g in range(6):  # add sub and or xor xchg
        _ACCESS[(0xFE, 0x1E + 7 * _g + _k)] = (_w, (_t,))
    _ACCESS[(0xFE, 0x48 + _k)] = (_w, (_t, _t))  # cmpxchg

#: Traps with "out of bounds memory access": one byte at 2^32 is past any 32-bit memory.
#: `unreachable` after it makes the stack polymorphic for whatever follows.
_TRAP = b"\x41\x7f\x2d\x00\x01\x00"
_IF = b"\x04\x40"
_END = b"\x0b"


def _check_range(x: bytes, n: bytes, size: int) -> bytes:
    """Trap unless local x + local n <= size (64-bit, no wrap-around)."""
    return (
        b"\x20" + x + b"\xad\x20" + n + b"\xad\x7c\x42" + sleb(size) + b"\x56" + _IF + _TRAP + _END
    )


def _rewrite_body(body: bytes, regions: dict[int, Region], scratch: _Scratch) -> bytes:
    """``body`` with every memory access translated into its region (same object if none)."""
    single, prefixed = ins.SINGLE, ins.PREFIXED
    out: list[bytes] = []
    last = 0
    pos = 0
    end = len(body)
    while pos < end:
        at = pos
        op = body[pos]
        pos += 1
        imms = single[op]
        assert imms is not None, f"opcode 0x{op:02x} passed the merger's scan"
        key = (-1, op)
        if imms and imms[0] == -1:
            sub, pos = ins._read_u(body, pos)
            key = (op, sub)
            imms = prefixed[op][sub]
        access = _ACCESS.get(key)
        if access is not None:
            flags, p = ins._read_u(body, pos)
            mem = 0
            if flags & 0x40:
                mem, p = ins._read_u(body, p)
            offset, p = ins._read_u(body, p, 64)
            trailing = body[p : p + (1 if len(imms) > 1 else 0)]  # lane index
            pos = p + len(trailing)
            opcode = bytes([op]) if key[0] < 0 else bytes([op]) + uleb(key[1])
            new = _access(opcode, flags & ~0x40, offset, access, regions[mem], scratch)
            out += (body[last:at], new + trailing)
            last = pos
            continue
        if key == (-1, 0x3F):  # memory.size
            mem, pos = ins._read_u(body, pos)
            out += (body[last:at], b"\x41" + sleb(regions[mem].pages))
            last = pos
            continue
        if key == (-1, 0x40):
            mem, _ = ins._read_u(body, pos)
            raise UnsupportedFeature(f"{regions[mem].owner}: memory.grow on a shared memory")
        if key in ((0xFC, 8), (0xFC, 10), (0xFC, 11)):
            a, p = ins._read_u(body, pos)
            b = 0
            if key[1] != 11:
                b, p = ins._read_u(body, p)
            pos = p
            out += (body[last:at], _bulk(key[1], a, b, regions, scratch))
            last = pos
            continue
        if ins.MEMARG in imms:  # a memory access this table does not know: never skip it
            raise UnsupportedFeature(f"memory access opcode {key} cannot be rebased")
        pos = _skip(body, pos, imms)
    if not out:
        return body
    out.append(body[last:])
    return b"".join(out)


def _access(
    opcode: bytes,
    flags: int,
    offset: int,
    shape: tuple[int, tuple[NumType, ...]],
    r: Region,
    scratch: _Scratch,
) -> bytes:
    width, extras = shape
    if offset + width > r.size:  # traps whatever the address: keep the trap, drop the access
        return _TRAP + opcode + uleb(flags) + b"\x00"
    memarg = opcode + uleb(flags) + uleb(offset + r.base)
    if r.last:  # the memory's end is the region's end: the access bounds-checks itself
        return memarg
    a = scratch.get("addr", _I32)
    spill = b"".join(
        b"\x21" + scratch.get(f"x{j}", t) for j, t in reversed(list(enumerate(extras)))
    )
    reload = b"".join(b"\x20" + scratch.get(f"x{j}", t) for j, t in enumerate(extras))
    limit = _s32(r.size - offset - width)
    check = b"\x22" + a + b"\x41" + sleb(limit) + b"\x4b" + _IF + _TRAP + _END
    return spill + check + b"\x20" + a + reload + memarg


def _bulk(sub: int, a: int, b: int, regions: dict[int, Region], scratch: _Scratch) -> bytes:
    """memory.init (8: data a, memory b), memory.copy (10: dst a, src b), memory.fill (11: a)."""
    d, s, n = (scratch.get(x, _I32) for x in ("bulk_d", "bulk_s", "bulk_n"))
    code = b"\x21" + n + b"\x21" + s + b"\x21" + d

    def moved(x: bytes, r: Region) -> bytes:
        return b"\x20" + x + (b"\x41" + sleb(_s32(r.base)) + b"\x6a" if r.base else b"")

    if sub == 8:
        r = regions[b]
        code += _check_range(d, n, r.size)
        code += moved(d, r) + b"\x20" + s + b"\x20" + n + b"\xfc\x08" + uleb(a) + b"\x00"
    elif sub == 10:
        rd, rs = regions[a], regions[b]
        code += _check_range(d, n, rd.size) + _check_range(s, n, rs.size)
        code += moved(d, rd) + moved(s, rs) + b"\x20" + n + b"\xfc\x0a\x00\x00"
    else:
        r = regions[a]
        code += _check_range(d, n, r.size)
        code += moved(d, r) + b"\x20" + s + b"\x20" + n + b"\xfc\x0b\x00"
    return code


def _skip(data: bytes, pos: int, imms: Iterable[int]) -> int:
    """Position after the immediates ``imms`` (kinds of `codec.core.instructions`)."""
    skip = ins._skip_leb
    for k in imms:
        if k < 8 or k in (ins.U32, ins.LEB):
            pos = skip(data, pos)
        elif k == ins.MEMARG:
            flags, pos = ins._read_u(data, pos)
            if flags & 0x40:
                pos = skip(data, pos)
            pos = skip(data, pos)
        elif k == ins.BLOCK:
            b = data[pos]
            if b == 0x40 or b in ins._SIMPLE_VALTYPE:
                pos += 1
            elif b in (0x63, 0x64):
                pos = _skip_heap(data, pos + 1)
            else:
                pos = skip(data, pos)
        elif k == ins.B1 or k == ins.ZERO:
            pos += 1
        elif k == ins.B4:
            pos += 4
        elif k == ins.B8:
            pos += 8
        elif k == ins.B16:
            pos += 16
        elif k == ins.BRTABLE:
            n, pos = ins._read_u(data, pos)
            for _ in range(n + 1):
                pos = skip(data, pos)
        elif k == ins.HEAP:
            pos = _skip_heap(data, pos)
        elif k == ins.SELECTT:
            n, pos = ins._read_u(data, pos)
            for _ in range(n):
                b = data[pos]
                pos = _skip_heap(data, pos + 1) if b in (0x63, 0x64) else pos + 1
        elif k == ins.BRCAST:
            pos = skip(data, pos + 1)
            pos = _skip_heap(data, _skip_heap(data, pos))
        elif k == ins.CATCHES:
            n, pos = ins._read_u(data, pos)
            for _ in range(n):
                kind = data[pos]
                pos += 1
                if kind <= 1:
                    pos = skip(data, pos)
                pos = skip(data, pos)
    return pos


def _skip_heap(data: bytes, pos: int) -> int:
    b = data[pos]
    if b in ins._ABSTRACT_HEAP:
        return pos + 1
    if b == 0x65:
        return pos + 2
    return ins._skip_leb(data, pos)


__all__ = [
    "STRATEGIES",
    "MemoryDecision",
    "Region",
    "Strategy",
    "apply_memory_strategy",
    "plan_regions",
    "rebase",
]
