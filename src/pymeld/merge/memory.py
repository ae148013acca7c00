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

from functools import cache

from pymeld._dataclass import dataclass
from pymeld.codec.binary import Reader, uleb
from pymeld.codec.core import instructions as ins
from pymeld.codec.core.emitter import Instrs, const_i32
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
from pymeld.errors import DecodeError, UnsupportedFeature
from pymeld.graph.model import FlatGraph
from pymeld.merge.merger import MergeResult
from pymeld.merge.strategy import STRATEGIES, MemoryDecision, Strategy, apply_memory_strategy

PAGE = 1 << 16


@dataclass
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


def share_memories(
    graph: FlatGraph, merged: MergeResult, strategy: Strategy, address_rebase: bool
) -> MemoryDecision:
    """`apply_memory_strategy` for ``shared`` and ``auto``: one memory where that is sound."""
    n = len(merged.module.memories)
    imported = merged.module.num_imported(ExternKind.MEMORY)
    if imported:
        why = (
            f"the fused module imports {imported} memor{'y' if imported == 1 else 'ies'} of "
            "imported core module instances, which cannot move into one memory"
        )
        if strategy == "shared":
            raise UnsupportedFeature(f"one shared memory: {why}")
        return MemoryDecision("multi", f"shared memory is unsound here: {why}")
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
    out = ["pymeld handle tables (resources, async)"] * len(merged.module.memories)
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
    foreign = _foreign_facing(merged)
    if foreign:
        mem, where = min(foreign.items())
        raise UnsupportedFeature(
            f"{owners[mem]}: its memory is imported by {where}, which would see region-absolute "
            "addresses without region bounds"
        )
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


def _foreign_facing(merged: MergeResult) -> dict[int, str]:
    """Memories the fused module exports to imported core modules' instances."""
    plan = merged.foreign
    users = {name: plan.instances[k].label for (k, _), name in plan.provided.items()}
    out: dict[int, str] = {}
    for e in merged.module.exports:
        if e.kind == ExternKind.MEMORY and e.name in users:
            out.setdefault(e.index, f"imported core module instance {users[e.name]}")
    return out


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
            d.offset = const_i32(_s32(at + r.base))
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

    def get(self, role: str, t: NumType) -> int:
        idx = self._slots.get((role, t))
        if idx is None:
            idx = self._slots[(role, t)] = self.first + len(self.types)
            self.types.append(t)
        return idx


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
_LANE = frozenset((0xFD, op) for op in range(0x54, 0x5C))  # a lane byte follows the memarg


@cache
def _memarg_opcodes() -> list[ins.OpKey]:
    """Every opcode with a memarg: found when a memory is first rebased (walking the opcode
    tables was half of loading this module, which the default strategy only asks `multi`)."""
    return ins.opcode_keys(ins.MEMARG)


def _check_range(c: Instrs, x: int, n: int, size: int) -> None:
    """Trap unless local x + local n <= size (64-bit, no wrap-around)."""
    c.get(x).op("i64.extend_i32_u").get(n).op("i64.extend_i32_u", "i64.add")
    c.i64(size).op("i64.gt_u").if_().trap_oob().end()


def _hooks(regions: dict[int, Region], scratch: _Scratch) -> ins.Hooks:
    """What `rewrite_instructions` replaces: every memory access (moved into its region),
    `memory.size`, the bulk-memory operations; `memory.grow` and accesses this module does not
    know are refused rather than skipped."""

    def access(key: ins.OpKey) -> ins.Hook:
        shape = _ACCESS[key]
        opcode = bytes([key[1]]) if key[0] < 0 else bytes([key[0]]) + uleb(key[1])
        lane = key in _LANE

        def hook(body: bytes, at: int, pos: int) -> tuple[bytes, int]:
            align, mem, offset, pos = ins.read_memarg(body, pos)
            new = _access(opcode, align, offset, shape, regions[mem], scratch)
            if lane:
                new, pos = new + body[pos : pos + 1], pos + 1
            return new, pos

        return hook

    def size(body: bytes, at: int, pos: int) -> tuple[bytes, int]:
        mem, pos = ins.read_u(body, pos)
        return bytes(Instrs().i32(regions[mem].pages).code), pos

    def grow(body: bytes, at: int, pos: int) -> tuple[bytes, int]:
        mem, _ = ins.read_u(body, pos)
        raise UnsupportedFeature(f"{regions[mem].owner}: memory.grow on a shared memory")

    def bulk(sub: int) -> ins.Hook:
        def hook(body: bytes, at: int, pos: int) -> tuple[bytes, int]:
            a, pos = ins.read_u(body, pos)
            b = 0
            if sub != 11:
                b, pos = ins.read_u(body, pos)
            return _bulk(sub, a, b, regions, scratch), pos

        return hook

    def unknown(key: ins.OpKey) -> ins.Hook:
        def hook(body: bytes, at: int, pos: int) -> tuple[bytes, int]:
            raise UnsupportedFeature(f"memory access opcode {key} cannot be rebased")

        return hook

    hooks: ins.Hooks = {
        key: access(key) if key in _ACCESS else unknown(key) for key in _memarg_opcodes()
    }
    hooks[(-1, 0x3F)] = size
    hooks[(-1, 0x40)] = grow
    for sub in (8, 10, 11):
        hooks[(0xFC, sub)] = bulk(sub)
    return hooks


def _rewrite_body(body: bytes, regions: dict[int, Region], scratch: _Scratch) -> bytes:
    """``body`` with every memory access translated into its region (same object if none)."""
    return ins.rewrite_instructions(body, _hooks(regions, scratch))


def _access(
    opcode: bytes,
    align: int,
    offset: int,
    shape: tuple[int, tuple[NumType, ...]],
    r: Region,
    scratch: _Scratch,
) -> bytes:
    width, extras = shape
    c = Instrs()
    if offset + width > r.size:  # traps whatever the address: keep the trap, drop the access
        return bytes(c.trap_oob().access(opcode, align, 0, 0).code)
    if not r.last:  # the region ends before the memory does: check the access first
        a = scratch.get("addr", _I32)
        for j, t in reversed(list(enumerate(extras))):
            c.set(scratch.get(f"x{j}", t))
        c.tee(a).i32(_s32(r.size - offset - width)).op("i32.gt_u").if_().trap_oob().end()
        c.get(a)
        for j, t in enumerate(extras):
            c.get(scratch.get(f"x{j}", t))
    return bytes(c.access(opcode, align, 0, offset + r.base).code)


def _bulk(sub: int, a: int, b: int, regions: dict[int, Region], scratch: _Scratch) -> bytes:
    """memory.init (8: data a, memory b), memory.copy (10: dst a, src b), memory.fill (11: a)."""
    d, s, n = (scratch.get(x, _I32) for x in ("bulk_d", "bulk_s", "bulk_n"))
    c = Instrs().set(n).set(s).set(d)

    def moved(x: int, r: Region) -> None:
        c.get(x)
        if r.base:
            c.i32(_s32(r.base)).op("i32.add")

    if sub == 8:
        r = regions[b]
        _check_range(c, d, n, r.size)
        moved(d, r)
        c.get(s).get(n).memory_init(a, 0)
    elif sub == 10:
        rd, rs = regions[a], regions[b]
        _check_range(c, d, n, rd.size)
        _check_range(c, s, n, rs.size)
        moved(d, rd)
        moved(s, rs)
        c.get(n).memory_copy(0, 0)
    else:
        r = regions[a]
        _check_range(c, d, n, r.size)
        moved(d, r)
        c.get(s).get(n).memory_fill(0)
    return bytes(c.code)


__all__ = [
    "STRATEGIES",
    "MemoryDecision",
    "Region",
    "Strategy",
    "apply_memory_strategy",
    "plan_regions",
    "rebase",
    "share_memories",
]
