"""A minimal core-wasm instruction emitter for adapter bodies.

Kept inside `abi/` so the adapter generator does not depend on the core codec's internals; it only
produces the bytes of one function body (locals + expression), which the merge stage appends.
Memory instructions always take an explicit memory index (multi-memory `memarg` encoding).
"""

from __future__ import annotations

from collections.abc import Sequence

from pymeld.abi.types import CoreValType
from pymeld.codec.binary import sleb as _sleb
from pymeld.codec.binary import uleb as _uleb

VALTYPE_BYTE: dict[str, int] = {"i32": 0x7F, "i64": 0x7E, "f32": 0x7D, "f64": 0x7C}

# opcode tables: name -> (opcode, natural log2 alignment)
LOADS = {
    "i32.load": (0x28, 2),
    "i64.load": (0x29, 3),
    "f32.load": (0x2A, 2),
    "f64.load": (0x2B, 3),
    "i32.load8_u": (0x2D, 0),
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
    "i64.gt_u": 0x56,
    "i32.add": 0x6A,
    "i32.sub": 0x6B,
    "i32.mul": 0x6C,
    "i32.and": 0x71,
    "i32.or": 0x72,
    "i32.xor": 0x73,
    "i32.shl": 0x74,
    "i32.shr_u": 0x76,
    "i64.add": 0x7C,
    "i64.shl": 0x86,
    "i32.wrap_i64": 0xA7,
    "i64.extend_i32_u": 0xAD,
    "i32.reinterpret_f32": 0xBC,
    "i64.reinterpret_f64": 0xBD,
    "f32.reinterpret_i32": 0xBE,
    "f64.reinterpret_i64": 0xBF,
    "i32.extend8_s": 0xC0,
    "i32.extend16_s": 0xC1,
}


class Body:
    """Instruction buffer plus local allocation (temporaries are recycled per value type)."""

    def __init__(self, params: Sequence[CoreValType]) -> None:
        self.params = list(params)
        self.locals: list[CoreValType] = []
        self.code = bytearray()
        self._free: dict[str, list[int]] = {"i32": [], "i64": [], "f32": [], "f64": []}

    # -- locals ---------------------------------------------------------------------------
    def local(self, t: CoreValType) -> int:
        if self._free[t]:
            return self._free[t].pop()
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

    # -- raw ------------------------------------------------------------------------------
    def op(self, *names: str) -> Body:
        for n in names:
            self.code.append(OPS[n])
        return self

    def get(self, idx: int) -> Body:
        self.code += b"\x20" + _uleb(idx)
        return self

    def set(self, idx: int) -> Body:
        self.code += b"\x21" + _uleb(idx)
        return self

    def tee(self, idx: int) -> Body:
        self.code += b"\x22" + _uleb(idx)
        return self

    def i32(self, v: int) -> Body:
        if v >= 1 << 31:
            v -= 1 << 32
        self.code += b"\x41" + _sleb(v)
        return self

    def i64(self, v: int) -> Body:
        if v >= 1 << 63:
            v -= 1 << 64
        self.code += b"\x42" + _sleb(v)
        return self

    def zero(self, t: CoreValType) -> Body:
        if t == "i32":
            return self.i32(0)
        if t == "i64":
            return self.i64(0)
        if t == "f32":
            self.code += b"\x43" + bytes(4)
        else:
            self.code += b"\x44" + bytes(8)
        return self

    def call(self, func: int) -> Body:
        self.code += b"\x10" + _uleb(func)
        return self

    def _memarg(self, align: int, mem: int, offset: int) -> bytes:
        if not 0 <= offset < (1 << 32):
            raise OverflowError(f"static offset {offset} does not fit a 32-bit memarg")
        if mem == 0:
            return _uleb(align) + _uleb(offset)
        return _uleb(align | 0x40) + _uleb(mem) + _uleb(offset)

    def load(self, name: str, mem: int, offset: int = 0) -> Body:
        opc, align = LOADS[name]
        self.code += bytes([opc]) + self._memarg(align, mem, offset)
        return self

    def store(self, name: str, mem: int, offset: int = 0) -> Body:
        opc, align = STORES[name]
        self.code += bytes([opc]) + self._memarg(align, mem, offset)
        return self

    def memory_size(self, mem: int) -> Body:
        self.code += b"\x3f" + _uleb(mem)
        return self

    def memory_copy(self, dst_mem: int, src_mem: int) -> Body:
        self.code += b"\xfc" + _uleb(10) + _uleb(dst_mem) + _uleb(src_mem)
        return self

    # -- control --------------------------------------------------------------------------
    def block(self) -> Body:
        self.code += b"\x02\x40"
        return self

    def loop(self) -> Body:
        self.code += b"\x03\x40"
        return self

    def if_(self) -> Body:
        self.code += b"\x04\x40"
        return self

    def end(self) -> Body:
        return self.op("end")

    def br(self, depth: int) -> Body:
        self.code += b"\x0c" + _uleb(depth)
        return self

    def br_if(self, depth: int) -> Body:
        self.code += b"\x0d" + _uleb(depth)
        return self

    def br_table(self, depths: Sequence[int], default: int) -> Body:
        self.code += b"\x0e" + _uleb(len(depths))
        for d in depths:
            self.code += _uleb(d)
        self.code += _uleb(default)
        return self

    def trap_if(self) -> Body:
        """Pops an i32 condition; traps when it is non-zero."""
        self.code += b"\x04\x40\x00\x0b"
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
