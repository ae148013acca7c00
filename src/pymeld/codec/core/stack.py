"""Operand stack typing of function bodies: the exact stack (types) before every instruction.

A rewriter that moves operand values into locals and back (``merge.unwind`` spills values live
across a call that may suspend) must know how many values are on the stack at a point and of
which types. These are the rules of the spec's validation algorithm (its appendix), applied to a
body that is already known to be valid: they count and name the values, they do not check them.

Typed: MVP, sign extension, saturating truncation, bulk memory, multi-value (type-index block
types, block parameters), reference types and typed function references (``call_ref``,
``br_on_null``), fixed-width and relaxed SIMD, multi-memory, memory64 and table64 (addresses
are i64 there), wide arithmetic, tail calls. GC, exception handling and threads instructions
raise `NotTyped`: a caller refuses the body rather than guess.

Stack-polymorphic (unreachable) code is typed too: a value popped from the polymorphic bottom
is `BOT` (any type), and `Instr.reachable` says which instructions can run at all.
"""

from __future__ import annotations

from dataclasses import field

from pymeld._dataclass import dataclass
from pymeld.codec.binary import Reader
from pymeld.errors import DecodeError

from .model import (
    AbsHeap,
    ExternKind,
    FuncImport,
    FuncType,
    GlobalType,
    HeapType,
    MemoryType,
    Module,
    NumType,
    RefType,
    TableType,
    ValType,
)

#: A stack slot's type; `BOT` (None) is a value of unknown type in unreachable code.
StackType = ValType | None
BOT: StackType = None

I32, I64, F32, F64, V128 = NumType.I32, NumType.I64, NumType.F32, NumType.F64, NumType.V128


class NotTyped(Exception):
    """An instruction this typer does not type (GC, exception handling, threads)."""

    def __init__(self, what: str, at: int) -> None:
        super().__init__(f"{what} at body offset {at}")
        self.what = what
        self.at = at


@dataclass(frozen=True, slots=True)
class BlockSig:
    """The type of a block, loop or if: what it takes from the stack and what it leaves."""

    params: tuple[ValType, ...] = ()
    results: tuple[ValType, ...] = ()


@dataclass(slots=True)
class Instr:
    """One instruction of a typed body.

    ``stack`` is the whole operand stack before it (bottom first), ``base`` the height where
    the innermost control frame's operands start (``stack[base:]`` is what this frame may pop).
    ``reachable`` is False in stack-polymorphic code of the innermost frame.
    """

    at: int  # offset of the opcode in the body
    end: int  # offset after the immediates
    op: int  # opcode byte (the prefix byte for prefixed instructions)
    sub: int  # sub-opcode of a prefixed instruction, else -1
    stack: tuple[StackType, ...]
    base: int
    reachable: bool
    sig: BlockSig | None = None  # block, loop, if: the block type
    labels: tuple[int, ...] = ()  # branch depths (br, br_if, br_table with its default last)
    index: int = -1  # call: function index; call_indirect/call_ref: type index
    table: int = -1  # call_indirect: table index
    else_at: int = -1  # if: index of its `else` instruction (-1: none)
    end_at: int = -1  # block, loop, if: index of its `end`

    def frame_stack(self) -> tuple[StackType, ...]:
        """The operands of the innermost frame before this instruction."""
        return self.stack[self.base :]


# -- module context -------------------------------------------------------------------------------


@dataclass(slots=True)
class ModuleTypes:
    """What typing a body needs from its module: types and the index spaces' types."""

    functypes: list[FuncType | None]  # per type index (None: not a function type)
    funcs: list[int]  # type index per function
    tables: list[TableType]
    memories: list[MemoryType]
    globals: list[GlobalType]

    @classmethod
    def of(cls, module: Module) -> ModuleTypes:
        fts = [
            st.composite if isinstance(st.composite, FuncType) else None for st in module.subtypes()
        ]
        tables = [i.desc for i in module.imports if isinstance(i.desc, TableType)]
        tables += [t.type for t in module.tables]
        mems = [i.desc for i in module.imports if isinstance(i.desc, MemoryType)]
        mems += module.memories
        globs = [i.desc for i in module.imports if isinstance(i.desc, GlobalType)]
        globs += [g.type for g in module.globals]
        funcs = [i.desc.type_index for i in module.imports if isinstance(i.desc, FuncImport)]
        funcs += module.funcs
        assert all(
            i.kind != ExternKind.FUNC or isinstance(i.desc, FuncImport) for i in module.imports
        )
        return cls(fts, funcs, tables, mems, globs)

    def functype(self, type_index: int) -> FuncType:
        ft = self.functypes[type_index]
        if ft is None:
            raise DecodeError(f"type {type_index} is not a function type")
        return ft

    def func(self, index: int) -> FuncType:
        return self.functype(self.funcs[index])

    def mem_addr(self, index: int) -> NumType:
        return I64 if self.memories[index].memory64 else I32

    def table_addr(self, index: int) -> NumType:
        return I64 if self.tables[index].limits.is64 else I32


# -- instruction signatures ------------------------------------------------------------------------

Sig = tuple[tuple[NumType, ...], tuple[NumType, ...]]


def _numeric() -> dict[int, Sig]:
    """0x45..0xC4: comparisons, arithmetic, conversions (no immediates)."""
    t: dict[int, Sig] = {}

    def put(lo: int, hi: int, sig: Sig) -> None:
        for op in range(lo, hi + 1):
            t[op] = sig

    for base, ty in ((0x45, I32), (0x50, I64)):
        t[base] = ((ty,), (I32,))  # eqz
    put(0x46, 0x4F, ((I32, I32), (I32,)))
    put(0x51, 0x5A, ((I64, I64), (I32,)))
    put(0x5B, 0x60, ((F32, F32), (I32,)))
    put(0x61, 0x66, ((F64, F64), (I32,)))
    put(0x67, 0x69, ((I32,), (I32,)))
    put(0x6A, 0x78, ((I32, I32), (I32,)))
    put(0x79, 0x7B, ((I64,), (I64,)))
    put(0x7C, 0x8A, ((I64, I64), (I64,)))
    put(0x8B, 0x91, ((F32,), (F32,)))
    put(0x92, 0x98, ((F32, F32), (F32,)))
    put(0x99, 0x9F, ((F64,), (F64,)))
    put(0xA0, 0xA6, ((F64, F64), (F64,)))
    conversions = [
        (I64, I32),  # A7 i32.wrap_i64
        (F32, I32),
        (F32, I32),
        (F64, I32),
        (F64, I32),  # A8..AB i32.trunc_f*
        (I32, I64),
        (I32, I64),  # AC, AD i64.extend_i32
        (F32, I64),
        (F32, I64),
        (F64, I64),
        (F64, I64),  # AE..B1 i64.trunc_f*
        (I32, F32),
        (I32, F32),
        (I64, F32),
        (I64, F32),
        (F64, F32),  # B2..B6 f32.convert_*, demote
        (I32, F64),
        (I32, F64),
        (I64, F64),
        (I64, F64),
        (F32, F64),  # B7..BB f64.convert_*, promote
        (F32, I32),
        (F64, I64),
        (I32, F32),
        (I64, F64),  # BC..BF reinterpret
    ]
    for k, (a, r) in enumerate(conversions):
        t[0xA7 + k] = ((a,), (r,))
    put(0xC0, 0xC1, ((I32,), (I32,)))
    put(0xC2, 0xC4, ((I64,), (I64,)))
    return t


#: 0x28..0x3E loads and stores: the value type (the address comes first, per memory).
_LOAD_TYPE = {0x28: I32, 0x29: I64, 0x2A: F32, 0x2B: F64}
_LOAD_TYPE.update({op: I32 for op in range(0x2C, 0x30)})
_LOAD_TYPE.update({op: I64 for op in range(0x30, 0x36)})
_STORE_TYPE = {0x36: I32, 0x37: I64, 0x38: F32, 0x39: F64, 0x3A: I32, 0x3B: I32}
_STORE_TYPE.update({op: I64 for op in range(0x3C, 0x3F)})

#: 0xFC 0..7 saturating truncations.
_TRUNC_SAT = [(F32, I32), (F32, I32), (F64, I32), (F64, I32)]
_TRUNC_SAT += [(F32, I64), (F32, I64), (F64, I64), (F64, I64)]


def _simd() -> dict[int, Sig]:
    """0xFD sub-opcodes without a memory operand (memory ones are in `_SIMD_LOAD/STORE`)."""
    V = V128
    un: Sig = ((V,), (V,))
    bin_: Sig = ((V, V), (V,))
    ter: Sig = ((V, V, V), (V,))
    shift: Sig = ((V, I32), (V,))
    test: Sig = ((V,), (I32,))
    t: dict[int, Sig] = {0x0C: ((), (V,)), 0x0D: bin_, 0x0E: bin_}
    for sub, s in zip(range(0x0F, 0x15), (I32, I32, I32, I64, F32, F64), strict=True):
        t[sub] = ((s,), (V,))  # splat
    lanes = [(0x15, I32), (0x16, I32), (0x18, I32), (0x19, I32), (0x1B, I32), (0x1D, I64)]
    lanes += [(0x1F, F32), (0x21, F64)]
    for sub, s in lanes:
        t[sub] = ((V,), (s,))  # extract_lane
    for sub, s in ((0x17, I32), (0x1A, I32), (0x1C, I32), (0x1E, I64), (0x20, F32), (0x22, F64)):
        t[sub] = ((V, s), (V,))  # replace_lane
    for sub in range(0x23, 0x4D):
        t[sub] = bin_  # comparisons
    t[0x4D] = un
    for sub in range(0x4E, 0x52):
        t[sub] = bin_
    t[0x52] = ter  # bitselect
    t[0x53] = test  # any_true
    t[0x5E] = t[0x5F] = un  # demote, promote
    unary = [0x60, 0x61, 0x62, 0x67, 0x68, 0x69, 0x6A, 0x74, 0x75, 0x7A, 0x7C, 0x7D, 0x7E, 0x7F]
    unary += [0x80, 0x81, 0x87, 0x88, 0x89, 0x8A, 0x94, 0xA0, 0xA1, 0xA7, 0xA8, 0xA9, 0xAA]
    unary += [0xC0, 0xC1, 0xC7, 0xC8, 0xC9, 0xCA, 0xE0, 0xE1, 0xE3, 0xEC, 0xED, 0xEF]
    unary += [*range(0xF8, 0x100), *range(0x101, 0x105)]
    for sub in unary:
        t[sub] = un
    for sub in (0x63, 0x64, 0x83, 0x84, 0xA3, 0xA4, 0xC3, 0xC4):
        t[sub] = test  # all_true, bitmask
    for base in (0x6B, 0x8B, 0xAB, 0xCB):
        for sub in range(base, base + 3):
            t[sub] = shift
    binary = [0x65, 0x66, 0x6E, 0x6F, 0x70, 0x71, 0x72, 0x73, 0x76, 0x77, 0x78, 0x79, 0x7B]
    binary += [0x82, 0x85, 0x86, *range(0x8E, 0x94), *range(0x95, 0x9A), *range(0x9B, 0xA0)]
    binary += [0xAE, 0xB1, *range(0xB5, 0xBB), *range(0xBC, 0xC0), 0xCE, 0xD1]
    binary += [*range(0xD5, 0xE0), *range(0xE4, 0xEC), *range(0xF0, 0xF8)]
    binary += [0x100, *range(0x10D, 0x113)]
    for sub in binary:
        t[sub] = bin_
    for sub in (*range(0x105, 0x10D), 0x113):
        t[sub] = ter  # relaxed madd/nmadd/laneselect, dot_add
    return t


_NUMERIC = _numeric()
_SIMD = _simd()
#: 0xFD memory instructions: v128.load* (address -> v128), v128.store, lane loads and stores.
_SIMD_LOAD = frozenset({*range(0x00, 0x0B), 0x5C, 0x5D})
_SIMD_STORE = 0x0B
_SIMD_LOAD_LANE = frozenset(range(0x54, 0x58))
_SIMD_STORE_LANE = frozenset(range(0x58, 0x5C))
_SIMD_LANE_IMM = frozenset(range(0x15, 0x23))

#: Single-byte opcodes of exception handling (legacy and current): not typed.
_EH = {0x06: "try", 0x07: "catch", 0x08: "throw", 0x09: "rethrow", 0x0A: "throw_ref"}
_EH |= {0x18: "delegate", 0x19: "catch_all", 0x1F: "try_table"}


# -- the typer --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Frame:
    op: int  # 0x02 block, 0x03 loop, 0x04 if, 0x05 else; -1 the function body
    sig: BlockSig
    height: int
    opener: int  # instruction index of the block/loop/if (-1 for the body)
    unreachable: bool = False

    def label(self) -> tuple[ValType, ...]:
        return self.sig.params if self.op == 0x03 else self.sig.results


@dataclass(slots=True)
class _Typer:
    types: ModuleTypes
    locals: list[ValType]
    body: bytes
    vals: list[StackType] = field(default_factory=list)
    ctrl: list[_Frame] = field(default_factory=list)
    out: list[Instr] = field(default_factory=list)

    # -- operand stack ----------------------------------------------------------------------
    def pop(self) -> StackType:
        f = self.ctrl[-1]
        if len(self.vals) == f.height:
            if f.unreachable:
                return BOT
            raise DecodeError("operand stack underflow (invalid body)")
        return self.vals.pop()

    def pop_n(self, n: int) -> None:
        for _ in range(n):
            self.pop()

    def push(self, *ts: StackType) -> None:
        self.vals.extend(ts)

    def unreachable(self) -> None:
        f = self.ctrl[-1]
        del self.vals[f.height :]
        f.unreachable = True

    def label(self, depth: int) -> tuple[ValType, ...]:
        return self.ctrl[-1 - depth].label()

    # -- immediates -------------------------------------------------------------------------
    def blocktype(self, r: Reader) -> BlockSig:
        b = r.peek()
        if b == 0x40:
            r.pos += 1
            return BlockSig()
        if b in _VALTYPE_START:
            return BlockSig((), (self.valtype(r),))
        ft = self.types.functype(r.s33())
        return BlockSig(tuple(ft.params), tuple(ft.results))

    def valtype(self, r: Reader) -> ValType:
        at = r.pos
        b = r.byte()
        if b in _NUM:
            return _NUM[b]
        if b in _ABS:
            return RefType(True, HeapType(_ABS[b]), short=True)
        if b in (0x63, 0x64):
            return RefType(b == 0x63, self.heaptype(r))
        raise DecodeError(f"invalid value type 0x{b:02x}", offset=at)

    def heaptype(self, r: Reader) -> HeapType:
        at = r.pos
        if r.peek() == 0x65:
            raise NotTyped("shared heap type", at)
        v = r.s33()
        if v >= 0:
            return HeapType(index=v)
        return HeapType(_ABS[v + 0x80])

    def memarg(self, r: Reader) -> NumType:
        """Reads a memarg; the address type of its memory."""
        flags = r.u32()
        mem = r.u32() if flags & 0x40 else 0
        r.u64()
        return self.types.mem_addr(mem)

    # -- the walk ---------------------------------------------------------------------------
    def run(self, ft: FuncType) -> list[Instr]:
        self.ctrl.append(_Frame(-1, BlockSig((), tuple(ft.results)), 0, -1))
        r = Reader(self.body)
        while self.ctrl:
            at = r.pos
            op = r.byte()
            sub = r.u32() if op in (0xFB, 0xFC, 0xFD, 0xFE) else -1
            f = self.ctrl[-1]
            ins = Instr(at, at, op, sub, tuple(self.vals), f.height, not f.unreachable)
            self.out.append(ins)
            self.step(ins, r)
            ins.end = r.pos
        if r.pos != len(self.body):
            raise DecodeError("bytes after the final end of the function body", offset=r.pos)
        return self.out

    def step(self, ins: Instr, r: Reader) -> None:
        op = ins.op
        if op in _NUMERIC:
            pops, pushes = _NUMERIC[op]
            self.pop_n(len(pops))
            self.push(*pushes)
        elif op in _LOAD_TYPE:
            self.memarg(r)
            self.pop()
            self.push(_LOAD_TYPE[op])
        elif op in _STORE_TYPE:
            self.memarg(r)
            self.pop_n(2)
        elif op in (0x20, 0x21, 0x22):  # local.get/set/tee
            t = self.locals[r.u32()]
            if op != 0x20:
                self.pop()
            if op != 0x21:
                self.push(t)
        elif op in (0x23, 0x24):
            g = self.types.globals[r.u32()]
            if op == 0x23:
                self.push(g.content)
            else:
                self.pop()
        elif op in (0x41, 0x42):
            r.skip_leb()
            self.push(I32 if op == 0x41 else I64)
        elif op == 0x43:
            r.bytes(4)
            self.push(F32)
        elif op == 0x44:
            r.bytes(8)
            self.push(F64)
        elif op in (0x02, 0x03, 0x04):
            sig = self.blocktype(r)
            ins.sig = sig
            if op == 0x04:
                self.pop()
            self.pop_n(len(sig.params))
            self.ctrl.append(_Frame(op, sig, len(self.vals), len(self.out) - 1))
            self.push(*sig.params)
        elif op == 0x05:  # else
            f = self.ctrl[-1]
            self.pop_n(len(f.sig.results))
            del self.vals[f.height :]
            self.out[f.opener].else_at = len(self.out) - 1
            f.op = 0x05
            f.unreachable = False
            self.push(*f.sig.params)
        elif op == 0x0B:  # end
            f = self.ctrl.pop()
            del self.vals[f.height :]
            if f.opener >= 0:
                self.out[f.opener].end_at = len(self.out) - 1
            self.push(*f.sig.results)
        elif op == 0x0C:  # br
            d = r.u32()
            ins.labels = (d,)
            self.pop_n(len(self.label(d)))
            self.unreachable()
        elif op == 0x0D:  # br_if
            d = r.u32()
            ins.labels = (d,)
            self.pop()
            lt = self.label(d)
            self.pop_n(len(lt))
            self.push(*lt)
        elif op == 0x0E:  # br_table
            n = r.u32()
            ins.labels = tuple(r.u32() for _ in range(n + 1))
            self.pop()
            self.pop_n(len(self.label(ins.labels[-1])))
            self.unreachable()
        elif op == 0x0F:  # return
            self.pop_n(len(self.ctrl[0].sig.results))
            self.unreachable()
        elif op in (0x10, 0x12):  # call, return_call
            ins.index = r.u32()
            self.call(self.types.func(ins.index), tail=op == 0x12)
        elif op in (0x11, 0x13):  # call_indirect, return_call_indirect
            ins.index = r.u32()
            ins.table = r.u32()
            self.pop()
            self.call(self.types.functype(ins.index), tail=op == 0x13)
        elif op in (0x14, 0x15):  # call_ref, return_call_ref
            ins.index = r.u32()
            self.pop()
            self.call(self.types.functype(ins.index), tail=op == 0x15)
        elif op in (0x00, 0x01):
            if op == 0x00:
                self.unreachable()
        elif op == 0x1A:
            self.pop()
        elif op in (0x1B, 0x1C):  # select, typed select
            typed = [self.valtype(r) for _ in range(r.u32())] if op == 0x1C else []
            self.pop()
            a = self.pop()
            b = self.pop()
            self.push(typed[0] if typed else (a if a is not BOT else b))
        elif op in (0x25, 0x26):  # table.get/set
            tab = self.types.tables[r.u32()]
            if op == 0x25:
                self.pop()
                self.push(tab.element)
            else:
                self.pop_n(2)
        elif op in (0x3F, 0x40):  # memory.size/grow
            a = self.types.mem_addr(r.u32())
            if op == 0x40:
                self.pop()
            self.push(a)
        elif op == 0xD0:  # ref.null
            self.push(RefType(True, self.heaptype(r)))
        elif op == 0xD1:  # ref.is_null
            self.pop()
            self.push(I32)
        elif op == 0xD2:  # ref.func
            self.push(RefType(False, HeapType(index=self.types.funcs[r.u32()])))
        elif op == 0xD3:  # ref.eq
            self.pop_n(2)
            self.push(I32)
        elif op == 0xD4:  # ref.as_non_null
            top = self.pop()
            self.push(RefType(False, top.heap) if isinstance(top, RefType) else top)
        elif op in (0xD5, 0xD6):  # br_on_null, br_on_non_null
            d = r.u32()
            ins.labels = (d,)
            top = self.pop()
            lt = self.label(d)
            keep = lt if op == 0xD5 else lt[:-1]
            self.pop_n(len(keep))
            self.push(*keep)
            if op == 0xD5:
                self.push(RefType(False, top.heap) if isinstance(top, RefType) else top)
        elif op == 0xFC:
            self.misc(ins.sub, r, ins.at)
        elif op == 0xFD:
            self.simd(ins.sub, r, ins.at)
        elif op in _EH:
            raise NotTyped(f"exception handling ({_EH[op]})", ins.at)
        elif op == 0xFB:
            raise NotTyped("GC instruction", ins.at)
        elif op == 0xFE:
            raise NotTyped("threads instruction", ins.at)
        else:
            raise DecodeError(f"unknown opcode 0x{op:02x}", offset=ins.at)

    def call(self, ft: FuncType, *, tail: bool) -> None:
        self.pop_n(len(ft.params))
        if tail:
            self.unreachable()
        else:
            self.push(*ft.results)

    def misc(self, sub: int, r: Reader, at: int) -> None:
        """0xFC: saturating truncation, bulk memory and tables, wide arithmetic."""
        ty = self.types
        if sub < 8:
            self.pop()
            self.push(_TRUNC_SAT[sub][1])
        elif sub == 8:  # memory.init
            r.u32()
            r.u32()
            self.pop_n(3)
        elif sub in (9, 13):  # data.drop, elem.drop
            r.u32()
        elif sub in (10, 14):  # memory.copy, table.copy
            r.u32()
            r.u32()
            self.pop_n(3)
        elif sub == 11:  # memory.fill
            r.u32()
            self.pop_n(3)
        elif sub == 12:  # table.init
            r.u32()
            r.u32()
            self.pop_n(3)
        elif sub == 15:  # table.grow
            a = ty.table_addr(r.u32())
            self.pop_n(2)
            self.push(a)
        elif sub == 16:  # table.size
            self.push(ty.table_addr(r.u32()))
        elif sub == 17:  # table.fill
            r.u32()
            self.pop_n(3)
        elif sub in (0x13, 0x14):  # i64.add128, i64.sub128
            self.pop_n(4)
            self.push(I64, I64)
        elif sub in (0x15, 0x16):  # i64.mul_wide_s/u
            self.pop_n(2)
            self.push(I64, I64)
        else:
            raise DecodeError(f"unknown opcode 0xfc 0x{sub:x}", offset=at)

    def simd(self, sub: int, r: Reader, at: int) -> None:
        if sub in _SIMD_LOAD:
            self.memarg(r)
            self.pop()
            self.push(V128)
        elif sub == _SIMD_STORE:
            self.memarg(r)
            self.pop_n(2)
        elif sub in _SIMD_LOAD_LANE or sub in _SIMD_STORE_LANE:
            self.memarg(r)
            r.byte()
            self.pop_n(2)
            if sub in _SIMD_LOAD_LANE:
                self.push(V128)
        elif sub in _SIMD:
            if sub == 0x0C or sub == 0x0D:
                r.bytes(16)
            elif sub in _SIMD_LANE_IMM:
                r.byte()
            pops, pushes = _SIMD[sub]
            self.pop_n(len(pops))
            self.push(*pushes)
        else:
            raise DecodeError(f"unknown opcode 0xfd 0x{sub:x}", offset=at)


_NUM = {int(t): t for t in NumType}
_ABS = {int(h): h for h in AbsHeap}
_VALTYPE_START = frozenset(_NUM) | frozenset(_ABS) | {0x63, 0x64}


def type_body(types: ModuleTypes, ft: FuncType, locals_: list[ValType], body: bytes) -> list[Instr]:
    """Every instruction of ``body`` (a function of type ``ft`` whose locals, parameters
    first, are ``locals_``) with the operand stack before it; the last one is the final `end`.

    Raises `NotTyped` for instructions outside the typed set and `DecodeError` for a body that
    does not decode or is not valid as far as the stack heights show.
    """
    try:
        return _Typer(types, locals_, body).run(ft)
    except IndexError:
        raise DecodeError("unexpected end of function body or index out of range") from None
