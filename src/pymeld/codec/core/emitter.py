"""The one way pymeld writes core wasm code: an instruction emitter for generated code.

Adapters, resource tables, flag guards, start sequences, region checks and wrapper shims are all
written with `Instrs` (an instruction buffer) or `Body` (one function body: an `Instrs` plus
parameter/local allocation). Generators know their types, so nothing is validated here beyond
encoding; tests validate the results. Memory instructions always take an explicit memory index
(multi-memory `memarg` encoding when it is not 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pymeld.codec.binary import sleb as _sleb
from pymeld.codec.binary import uleb as _uleb
from pymeld.codec.core.model import NumType

if TYPE_CHECKING:
    from typing import Literal, Self, TypeAlias

#: A core number type as generated code (and the canonical ABI's `flatten`) names it: the text
#: format's name of a `NumType` (the ABI never flattens to v128; generated code uses it only in
#: locals). The core codec's model uses `NumType`; the component codec keeps the binary code (it
#: also covers reference types).
CoreValType: TypeAlias = 'Literal["i32", "i64", "f32", "f64", "v128"]'

#: `CoreValType` ↔ the codec's `NumType`, the one translation between the two names.
NUMTYPE: dict[CoreValType, NumType] = {
    "i32": NumType.I32,
    "i64": NumType.I64,
    "f32": NumType.F32,
    "f64": NumType.F64,
    "v128": NumType.V128,
}
#: The number types' names (v128 left out: a signature or local with it is not one the ABI
#: flattens to, and the code that asks treats it as such).
VALTYPE_NAME: dict[NumType, CoreValType] = {n: t for t, n in NUMTYPE.items() if t != "v128"}

VALTYPE_BYTE: dict[str, int] = {t: int(n) for t, n in NUMTYPE.items()}

# 0xFD-prefixed vector instructions without immediates: name -> sub-opcode
SIMD_OPS = {
    "i8x16.swizzle": 0x0E,
    "i8x16.splat": 0x0F,
    "i16x8.eq": 0x2D,
    "v128.and": 0x4E,
    "v128.or": 0x50,
    "v128.xor": 0x51,
    "v128.any_true": 0x53,
    "i8x16.bitmask": 0x64,
    "i8x16.narrow_i16x8_u": 0x66,
    "i8x16.shr_u": 0x6D,
    "i8x16.add": 0x6E,
    "i8x16.sub_sat_u": 0x73,
    "i16x8.extend_low_i8x16_u": 0x89,
    "i16x8.extend_high_i8x16_u": 0x8A,
    "i16x8.min_u": 0x97,
}

# opcode tables: name -> (opcode, natural log2 alignment)
LOADS = {
    "i32.load": (0x28, 2),
    "i64.load": (0x29, 3),
    "f32.load": (0x2A, 2),
    "f64.load": (0x2B, 3),
    "i32.load8_s": (0x2C, 0),
    "i32.load8_u": (0x2D, 0),
    "i32.load16_s": (0x2E, 1),
    "i32.load16_u": (0x2F, 1),
}
STORES = {
    "i32.store": (0x36, 2),
    "i64.store": (0x37, 3),
    "f32.store": (0x38, 2),
    "f64.store": (0x39, 3),
    "i32.store8": (0x3A, 0),
    "i32.store16": (0x3B, 1),
}
OPS = {
    "unreachable": 0x00,
    "else": 0x05,
    "end": 0x0B,
    "return": 0x0F,
    "drop": 0x1A,
    "select": 0x1B,
    "i32.eqz": 0x45,
    "i32.eq": 0x46,
    "i32.ne": 0x47,
    "i32.lt_u": 0x49,
    "i32.gt_u": 0x4B,
    "i32.le_u": 0x4D,
    "i32.ge_u": 0x4F,
    "i64.eqz": 0x50,
    "i64.gt_u": 0x56,
    "i32.ctz": 0x68,
    "i32.popcnt": 0x69,
    "i32.add": 0x6A,
    "i32.sub": 0x6B,
    "i32.mul": 0x6C,
    "i32.div_u": 0x6E,
    "i32.and": 0x71,
    "i32.or": 0x72,
    "i32.xor": 0x73,
    "i32.shl": 0x74,
    "i32.shr_u": 0x76,
    "i64.ctz": 0x7A,
    "i64.add": 0x7C,
    "i64.mul": 0x7E,
    "i64.and": 0x83,
    "i64.or": 0x84,
    "i64.shl": 0x86,
    "i64.shr_u": 0x88,
    "i32.wrap_i64": 0xA7,
    "i64.extend_i32_u": 0xAD,
    "i32.reinterpret_f32": 0xBC,
    "i64.reinterpret_f64": 0xBD,
    "f32.reinterpret_i32": 0xBE,
    "f64.reinterpret_i64": 0xBF,
    "i32.extend8_s": 0xC0,
    "i32.extend16_s": 0xC1,
}


#: A block type for `Instrs.structured`: no values, one number type, or a type index.
BlockType = NumType | int | None
_STRUCTURED = {"block": 0x02, "loop": 0x03, "if": 0x04}


class Instrs:
    """An instruction buffer: one method per instruction kind, chained (``b.get(0).i32(1)``).

    Used alone for code spliced into existing bodies (start sequences, region checks), and as
    the base of `Body` for whole generated functions.
    """

    __slots__ = ("code",)

    def __init__(self) -> None:
        self.code = bytearray()

    # -- raw ------------------------------------------------------------------------------
    def op(self, *names: str) -> Self:
        for n in names:
            self.code.append(OPS[n])
        return self

    def extend(self, other: Instrs | bytes) -> Self:
        """Append already-emitted code (another buffer, or bytes this module produced)."""
        self.code += other.code if isinstance(other, Instrs) else other
        return self

    def unreachable(self) -> Self:
        return self.op("unreachable")

    def get(self, idx: int) -> Self:
        self.code += b"\x20" + _uleb(idx)
        return self

    def set(self, idx: int) -> Self:
        self.code += b"\x21" + _uleb(idx)
        return self

    def tee(self, idx: int) -> Self:
        self.code += b"\x22" + _uleb(idx)
        return self

    def global_get(self, idx: int) -> Self:
        self.code += b"\x23" + _uleb(idx)
        return self

    def global_set(self, idx: int) -> Self:
        self.code += b"\x24" + _uleb(idx)
        return self

    def i32(self, v: int) -> Self:
        if v >= 1 << 31:
            v -= 1 << 32
        self.code += b"\x41" + _sleb(v)
        return self

    def i64(self, v: int) -> Self:
        if v >= 1 << 63:
            v -= 1 << 64
        self.code += b"\x42" + _sleb(v)
        return self

    def zero(self, t: CoreValType) -> Self:
        if t == "i32":
            return self.i32(0)
        if t == "i64":
            return self.i64(0)
        if t == "f32":
            self.code += b"\x43" + bytes(4)
        elif t == "v128":
            self.v128_const(bytes(16))
        else:
            self.code += b"\x44" + bytes(8)
        return self

    # -- vector (0xFD prefix) -------------------------------------------------------------
    def simd(self, *names: str) -> Self:
        for n in names:
            self.code += b"\xfd" + _uleb(SIMD_OPS[n])
        return self

    def v128_const(self, lanes: bytes) -> Self:
        """``v128.const`` of 16 bytes (lane 0 first)."""
        assert len(lanes) == 16
        self.code += b"\xfd\x0c" + lanes
        return self

    def i8x16_shuffle(self, lanes: Sequence[int]) -> Self:
        """``i8x16.shuffle``: lane k of the result is byte ``lanes[k]`` of the two operands
        concatenated (0-15 the first, 16-31 the second)."""
        assert len(lanes) == 16 and all(0 <= x < 32 for x in lanes)
        self.code += b"\xfd\x0d" + bytes(lanes)
        return self

    def v128_load(self, mem: int, offset: int = 0) -> Self:
        """``v128.load`` with alignment hint 1 (any address)."""
        self.code += b"\xfd\x00" + self._memarg(0, mem, offset)
        return self

    def v128_store(self, mem: int, offset: int = 0) -> Self:
        """``v128.store`` with alignment hint 1 (any address)."""
        self.code += b"\xfd\x0b" + self._memarg(0, mem, offset)
        return self

    def call(self, func: int) -> Self:
        self.code += b"\x10" + _uleb(func)
        return self

    def return_call(self, func: int) -> Self:
        self.code += b"\x12" + _uleb(func)
        return self

    def call_indirect(self, type_index: int, table: int = 0) -> Self:
        self.code += b"\x11" + _uleb(type_index) + _uleb(table)
        return self

    @staticmethod
    def _memarg(align: int, mem: int, offset: int) -> bytes:
        if not 0 <= offset < (1 << 32):
            raise OverflowError(f"static offset {offset} does not fit a 32-bit memarg")
        if mem == 0:
            return _uleb(align) + _uleb(offset)
        return _uleb(align | 0x40) + _uleb(mem) + _uleb(offset)

    def load(self, name: str, mem: int, offset: int = 0) -> Self:
        opc, align = LOADS[name]
        self.code += bytes([opc]) + self._memarg(align, mem, offset)
        return self

    def store(self, name: str, mem: int, offset: int = 0) -> Self:
        opc, align = STORES[name]
        self.code += bytes([opc]) + self._memarg(align, mem, offset)
        return self

    def access(self, opcode: bytes, align: int, mem: int, offset: int) -> Self:
        """Any memory access given by its opcode bytes and alignment exponent (e.g. an access
        copied from an input body, keeping its alignment hint); lane immediates follow."""
        self.code += opcode + self._memarg(align, mem, offset)
        return self

    def memory_size(self, mem: int) -> Self:
        self.code += b"\x3f" + _uleb(mem)
        return self

    def memory_grow(self, mem: int) -> Self:
        self.code += b"\x40" + _uleb(mem)
        return self

    def memory_init(self, data: int, mem: int) -> Self:
        self.code += b"\xfc" + _uleb(8) + _uleb(data) + _uleb(mem)
        return self

    def data_drop(self, data: int) -> Self:
        self.code += b"\xfc" + _uleb(9) + _uleb(data)
        return self

    def memory_copy(self, dst_mem: int, src_mem: int) -> Self:
        self.code += b"\xfc" + _uleb(10) + _uleb(dst_mem) + _uleb(src_mem)
        return self

    def memory_fill(self, mem: int) -> Self:
        self.code += b"\xfc" + _uleb(11) + _uleb(mem)
        return self

    def table_init(self, elem: int, table: int) -> Self:
        self.code += b"\xfc" + _uleb(12) + _uleb(elem) + _uleb(table)
        return self

    def elem_drop(self, elem: int) -> Self:
        self.code += b"\xfc" + _uleb(13) + _uleb(elem)
        return self

    # -- control --------------------------------------------------------------------------
    def block(self) -> Self:
        self.code += b"\x02\x40"
        return self

    def loop(self) -> Self:
        self.code += b"\x03\x40"
        return self

    def if_(self, result: CoreValType | None = None) -> Self:
        """``if`` with no result, or one value of type ``result`` on both arms."""
        self.code += b"\x04" + (b"\x40" if result is None else bytes([VALTYPE_BYTE[result]]))
        return self

    def structured(self, opcode: Literal["block", "loop", "if"], bt: BlockType = None) -> Self:
        """``block``/``loop``/``if`` of any block type: None (no values), one value type, or
        a function type index (parameters, several results)."""
        self.code.append(_STRUCTURED[opcode])
        if bt is None:
            self.code.append(0x40)
        elif isinstance(bt, NumType):
            self.code.append(int(bt))
        else:
            self.code += _sleb(bt)
        return self

    def end(self) -> Self:
        return self.op("end")

    def br(self, depth: int) -> Self:
        self.code += b"\x0c" + _uleb(depth)
        return self

    def br_if(self, depth: int) -> Self:
        self.code += b"\x0d" + _uleb(depth)
        return self

    def br_table(self, depths: Sequence[int], default: int) -> Self:
        self.code += b"\x0e" + _uleb(len(depths))
        for d in depths:
            self.code += _uleb(d)
        self.code += _uleb(default)
        return self

    def trap_if(self) -> Self:
        """Pops an i32 condition; traps when it is non-zero."""
        self.code += b"\x04\x40\x00\x0b"
        return self

    def trap_oob(self) -> Self:
        """Trap with "out of bounds memory access" (as the runtime does for a bad address): a
        1-byte load of memory 0 at 2^32 - 1 plus offset 1 is past any 32-bit memory; the
        `unreachable` after it makes the stack polymorphic for whatever follows."""
        return self.i32(-1 & 0xFFFFFFFF).access(b"\x2d", 0, 0, 1).unreachable()


class Body(Instrs):
    """One generated function body: instructions plus parameter and local allocation
    (temporaries are recycled per value type)."""

    __slots__ = ("_free", "locals", "params")

    def __init__(self, params: Sequence[CoreValType]) -> None:
        super().__init__()
        self.params = list(params)
        self.locals: list[CoreValType] = []
        self._free: dict[str, list[int]] = {t: [] for t in NUMTYPE}

    # -- locals ---------------------------------------------------------------------------
    def local(self, t: CoreValType) -> int:
        if self._free[t]:
            return self._free[t].pop()
        return self.fresh_local(t)

    def fresh_local(self, t: CoreValType) -> int:
        """A new local that was never a temporary (kept out of the recycling)."""
        self.locals.append(t)
        return len(self.params) + len(self.locals) - 1

    def free(self, *idx: int) -> None:
        for i in idx:
            if i >= len(self.params):
                t = self.locals[i - len(self.params)]
                assert i not in self._free[t], f"double free of local {i}"
                self._free[t].append(i)

    def type_of(self, idx: int) -> CoreValType:
        n = len(self.params)
        return self.params[idx] if idx < n else self.locals[idx - n]

    def inline_call(
        self,
        code: bytes,
        params: Sequence[CoreValType],
        locals_: Sequence[CoreValType],
        result: CoreValType | None,
    ) -> bool:
        """What ``call f`` does on the arguments on the stack, with f's code inline: ``code``
        (f's instructions, final `end` included) spliced by `codec.core.inline.splice_leaf`,
        the arguments stored into fresh locals for f's parameters and f's other locals zeroed
        first (as at a call's entry; the code may run more than once in this body). False,
        with nothing emitted, when f is not a plain leaf: emit the call instead."""
        from pymeld.codec.core.inline import splice_leaf

        ps = [self.local(t) for t in params]
        others = [self.local(t) for t in locals_]
        spliced = splice_leaf(code, ps + others, None if result is None else VALTYPE_BYTE[result])
        if spliced is not None:
            for p in reversed(ps):
                self.set(p)
            for x, t in zip(others, locals_, strict=True):
                self.zero(t).set(x)
            self.code += spliced
        self.free(*ps, *others)
        return spliced is not None

    def forward_args(self) -> Self:
        """Push every parameter in order (a function forwarding its arguments)."""
        for i in range(len(self.params)):
            self.get(i)
        return self

    # -- output ---------------------------------------------------------------------------
    def encode_locals(self) -> bytes:
        """Run-length encoded local declarations, as the code section wants them."""
        runs: list[tuple[int, CoreValType]] = []
        for t in self.locals:
            if runs and runs[-1][1] == t:
                runs[-1] = (runs[-1][0] + 1, t)
            else:
                runs.append((1, t))
        out = bytearray(_uleb(len(runs)))
        for n, t in runs:
            out += _uleb(n) + bytes([VALTYPE_BYTE[t]])
        return bytes(out)


def const_i32(v: int) -> bytes:
    """The constant expression ``i32.const v; end`` (global initialisers, segment offsets)."""
    return bytes(Instrs().i32(v).end().code)
