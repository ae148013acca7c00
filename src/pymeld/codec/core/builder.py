"""Thin typed encoder for generated code (adapters, shims): one method per instruction.

No validation beyond block balancing: callers are code generators that know their types, and the
result is meant to be checked by a validator in tests.
"""

from __future__ import annotations

from pymeld.codec.binary import f32_bytes, f64_bytes, sleb, uleb

from .encode import valtype_bytes
from .model import Code, Local, NumType, ValType

BlockType = None | ValType | int  # None = empty, value type, or type index


class InstrWriter:
    """Accumulates instruction bytes; ``finish()`` appends the final ``end``."""

    __slots__ = ("buf", "depth")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.depth = 0

    def raw(self, b: bytes) -> InstrWriter:
        self.buf += b
        return self

    def _op(self, op: int, *imms: int) -> InstrWriter:
        self.buf.append(op)
        for i in imms:
            self.buf += uleb(i)
        return self

    def _prefixed(self, prefix: int, sub: int, *imms: int) -> InstrWriter:
        self.buf.append(prefix)
        self.buf += uleb(sub)
        for i in imms:
            self.buf += uleb(i)
        return self

    def _blocktype(self, bt: BlockType) -> None:
        if bt is None:
            self.buf.append(0x40)
        elif isinstance(bt, int) and not isinstance(bt, NumType):
            self.buf += sleb(bt)
        else:
            self.buf += valtype_bytes(bt)

    # -- control -----------------------------------------------------------------------------------
    def unreachable(self) -> InstrWriter:
        return self._op(0x00)

    def nop(self) -> InstrWriter:
        return self._op(0x01)

    def block(self, bt: BlockType = None) -> InstrWriter:
        self.buf.append(0x02)
        self._blocktype(bt)
        self.depth += 1
        return self

    def loop(self, bt: BlockType = None) -> InstrWriter:
        self.buf.append(0x03)
        self._blocktype(bt)
        self.depth += 1
        return self

    def if_(self, bt: BlockType = None) -> InstrWriter:
        self.buf.append(0x04)
        self._blocktype(bt)
        self.depth += 1
        return self

    def else_(self) -> InstrWriter:
        return self._op(0x05)

    def end(self) -> InstrWriter:
        if self.depth == 0:
            raise ValueError("end without an open block (use finish() for the body end)")
        self.depth -= 1
        return self._op(0x0B)

    def br(self, label: int) -> InstrWriter:
        return self._op(0x0C, label)

    def br_if(self, label: int) -> InstrWriter:
        return self._op(0x0D, label)

    def br_table(self, labels: list[int], default: int) -> InstrWriter:
        return self._op(0x0E, len(labels), *labels, default)

    def return_(self) -> InstrWriter:
        return self._op(0x0F)

    def call(self, func: int) -> InstrWriter:
        return self._op(0x10, func)

    def call_indirect(self, type_index: int, table: int = 0) -> InstrWriter:
        return self._op(0x11, type_index, table)

    def return_call(self, func: int) -> InstrWriter:
        return self._op(0x12, func)

    def drop(self) -> InstrWriter:
        return self._op(0x1A)

    def select(self) -> InstrWriter:
        return self._op(0x1B)

    # -- variables -----------------------------------------------------------------------------------
    def local_get(self, i: int) -> InstrWriter:
        return self._op(0x20, i)

    def local_set(self, i: int) -> InstrWriter:
        return self._op(0x21, i)

    def local_tee(self, i: int) -> InstrWriter:
        return self._op(0x22, i)

    def global_get(self, i: int) -> InstrWriter:
        return self._op(0x23, i)

    def global_set(self, i: int) -> InstrWriter:
        return self._op(0x24, i)

    # -- memory ----------------------------------------------------------------------------------------
    def _memarg(self, op: int, align: int, offset: int, memory: int) -> InstrWriter:
        self.buf.append(op)
        if memory:
            self.buf += uleb(align | 0x40)
            self.buf += uleb(memory)
        else:
            self.buf += uleb(align)
        self.buf += uleb(offset)
        return self

    def i32_load(self, offset: int = 0, align: int = 2, memory: int = 0) -> InstrWriter:
        return self._memarg(0x28, align, offset, memory)

    def i64_load(self, offset: int = 0, align: int = 3, memory: int = 0) -> InstrWriter:
        return self._memarg(0x29, align, offset, memory)

    def f32_load(self, offset: int = 0, align: int = 2, memory: int = 0) -> InstrWriter:
        return self._memarg(0x2A, align, offset, memory)

    def f64_load(self, offset: int = 0, align: int = 3, memory: int = 0) -> InstrWriter:
        return self._memarg(0x2B, align, offset, memory)

    def i32_load8_s(self, offset: int = 0, align: int = 0, memory: int = 0) -> InstrWriter:
        return self._memarg(0x2C, align, offset, memory)

    def i32_load8_u(self, offset: int = 0, align: int = 0, memory: int = 0) -> InstrWriter:
        return self._memarg(0x2D, align, offset, memory)

    def i32_load16_s(self, offset: int = 0, align: int = 1, memory: int = 0) -> InstrWriter:
        return self._memarg(0x2E, align, offset, memory)

    def i32_load16_u(self, offset: int = 0, align: int = 1, memory: int = 0) -> InstrWriter:
        return self._memarg(0x2F, align, offset, memory)

    def i32_store(self, offset: int = 0, align: int = 2, memory: int = 0) -> InstrWriter:
        return self._memarg(0x36, align, offset, memory)

    def i64_store(self, offset: int = 0, align: int = 3, memory: int = 0) -> InstrWriter:
        return self._memarg(0x37, align, offset, memory)

    def f32_store(self, offset: int = 0, align: int = 2, memory: int = 0) -> InstrWriter:
        return self._memarg(0x38, align, offset, memory)

    def f64_store(self, offset: int = 0, align: int = 3, memory: int = 0) -> InstrWriter:
        return self._memarg(0x39, align, offset, memory)

    def i32_store8(self, offset: int = 0, align: int = 0, memory: int = 0) -> InstrWriter:
        return self._memarg(0x3A, align, offset, memory)

    def i32_store16(self, offset: int = 0, align: int = 1, memory: int = 0) -> InstrWriter:
        return self._memarg(0x3B, align, offset, memory)

    def memory_size(self, memory: int = 0) -> InstrWriter:
        return self._op(0x3F, memory)

    def memory_grow(self, memory: int = 0) -> InstrWriter:
        return self._op(0x40, memory)

    def memory_copy(self, dst: int = 0, src: int = 0) -> InstrWriter:
        return self._prefixed(0xFC, 10, dst, src)

    def memory_fill(self, memory: int = 0) -> InstrWriter:
        return self._prefixed(0xFC, 11, memory)

    # -- constants and numerics ------------------------------------------------------------------
    def i32_const(self, v: int) -> InstrWriter:
        if v >= 1 << 31:  # accept unsigned spelling of the bit pattern
            v -= 1 << 32
        self.buf.append(0x41)
        self.buf += sleb(v)
        return self

    def i64_const(self, v: int) -> InstrWriter:
        if v >= 1 << 63:
            v -= 1 << 64
        self.buf.append(0x42)
        self.buf += sleb(v)
        return self

    def f32_const(self, v: float) -> InstrWriter:
        self.buf.append(0x43)
        self.buf += f32_bytes(v)
        return self

    def f64_const(self, v: float) -> InstrWriter:
        self.buf.append(0x44)
        self.buf += f64_bytes(v)
        return self

    def i32_eqz(self) -> InstrWriter:
        return self._op(0x45)

    def i32_eq(self) -> InstrWriter:
        return self._op(0x46)

    def i32_ne(self) -> InstrWriter:
        return self._op(0x47)

    def i32_lt_u(self) -> InstrWriter:
        return self._op(0x49)

    def i32_gt_u(self) -> InstrWriter:
        return self._op(0x4B)

    def i32_le_u(self) -> InstrWriter:
        return self._op(0x4D)

    def i32_ge_u(self) -> InstrWriter:
        return self._op(0x4F)

    def i64_eqz(self) -> InstrWriter:
        return self._op(0x50)

    def i64_eq(self) -> InstrWriter:
        return self._op(0x51)

    def i64_lt_u(self) -> InstrWriter:
        return self._op(0x54)

    def i32_add(self) -> InstrWriter:
        return self._op(0x6A)

    def i32_sub(self) -> InstrWriter:
        return self._op(0x6B)

    def i32_mul(self) -> InstrWriter:
        return self._op(0x6C)

    def i32_div_u(self) -> InstrWriter:
        return self._op(0x6E)

    def i32_rem_u(self) -> InstrWriter:
        return self._op(0x70)

    def i32_and(self) -> InstrWriter:
        return self._op(0x71)

    def i32_or(self) -> InstrWriter:
        return self._op(0x72)

    def i32_xor(self) -> InstrWriter:
        return self._op(0x73)

    def i32_shl(self) -> InstrWriter:
        return self._op(0x74)

    def i32_shr_u(self) -> InstrWriter:
        return self._op(0x76)

    def i64_add(self) -> InstrWriter:
        return self._op(0x7C)

    def i64_sub(self) -> InstrWriter:
        return self._op(0x7D)

    def i64_mul(self) -> InstrWriter:
        return self._op(0x7E)

    def i64_and(self) -> InstrWriter:
        return self._op(0x83)

    def i64_or(self) -> InstrWriter:
        return self._op(0x84)

    def i64_shl(self) -> InstrWriter:
        return self._op(0x86)

    def i64_shr_u(self) -> InstrWriter:
        return self._op(0x88)

    def i32_wrap_i64(self) -> InstrWriter:
        return self._op(0xA7)

    def i64_extend_i32_u(self) -> InstrWriter:
        return self._op(0xAD)

    def i64_extend_i32_s(self) -> InstrWriter:
        return self._op(0xAC)

    def ref_func(self, func: int) -> InstrWriter:
        return self._op(0xD2, func)

    # -- output ----------------------------------------------------------------------------------------
    def finish(self) -> bytes:
        """Bytes including the final ``end`` of a body / const expr."""
        if self.depth:
            raise ValueError(f"{self.depth} block(s) still open")
        return bytes(self.buf) + b"\x0b"


class FuncBuilder(InstrWriter):
    """An `InstrWriter` that also allocates locals after the ``nparams`` parameters."""

    __slots__ = ("locals", "nparams")

    def __init__(self, nparams: int = 0) -> None:
        super().__init__()
        self.nparams = nparams
        self.locals: list[ValType] = []

    def add_local(self, t: ValType) -> int:
        self.locals.append(t)
        return self.nparams + len(self.locals) - 1

    def build(self) -> Code:
        """A `Code` entry; consecutive equal local types are grouped into one declaration."""
        decls: list[Local] = []
        for t in self.locals:
            if decls and decls[-1].type == t:
                decls[-1] = Local(decls[-1].count + 1, t)
            else:
                decls.append(Local(1, t))
        return Code(decls, self.finish())
