"""Inlining a function body at a call site: leaf reallocs in adapters, adapters in their callers.

Cranelift (wasmtime's default configuration) does not inline calls between wasm functions, so
an adapter pays a full call for a callee's allocator even when that is a few instructions (a
bump allocator). `splice_leaf` turns such a body into code that can stand where the call was:
``block (result ...)`` around the body, its locals renumbered into the caller's, each `return`
a branch out of that block. Executing it is executing the call, step for step, minus the frame.

Only leaf functions of plain instructions qualify: control (no `call`, no exceptions),
locals, globals, memory and numeric instructions. Anything else, or anything malformed, gives
None and the caller keeps the call.

`inline_call` does the same for general bodies (calls, SIMD, bulk memory, tables included):
the code that replaces one `call f`, a ``block`` typed by ``f``'s own function type that takes
the arguments from the stack into fresh locals, zeroes ``f``'s declared locals and runs ``f``'s
body with its locals renumbered and each `return` a branch out of the block. Tail calls and
legacy exception handling (whose `delegate` may name the function's label) give None.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymeld.codec.binary import sleb, uleb

from .encode import heap_bytes
from .instructions import (
    _SIMPLE_VALTYPE,
    B1,
    B4,
    B8,
    B16,
    BLOCK,
    BRTABLE,
    LEB,
    MEMARG,
    PREFIXED,
    SELECTT,
    SINGLE,
    U32,
    ZERO,
    _Bad,
    _read_s33,
    _read_u,
    _skip_leb,
)
from .model import NumType, RefType, ValType

__all__ = ["InlinePlan", "inline_call", "splice_leaf", "zero_value"]

#: Block types a spliced body may use: empty and the four number types (no type indices).
_SIMPLE_BLOCKTYPES = frozenset({0x40, 0x7F, 0x7E, 0x7D, 0x7C})
#: `0xFC` sub-opcodes allowed: the saturating truncations, memory.copy and memory.fill.
_FC_NONE = frozenset(range(8))


def splice_leaf(body: bytes, local_map: Sequence[int], result: int | None) -> bytes | None:
    """``body`` (a function's instructions, final `end` included) as inline code.

    ``local_map[i]`` is the caller's local standing for the callee's local ``i`` (parameters
    first); ``result`` the value type byte of the single result (None: no result). The caller
    stores the arguments into the parameters' locals and zeroes the other locals before the
    returned code runs (a function's locals start at zero); the code leaves the result on
    the stack. None if the body is not a plain leaf (see the module doc) or is malformed.
    """
    try:
        return _splice(body, local_map, result)
    except (_Bad, IndexError):
        return None


def _splice(body: bytes, local_map: Sequence[int], result: int | None) -> bytes | None:
    out = bytearray((0x02, 0x40 if result is None else result))
    n = len(body)
    pos = depth = 0
    while pos < n:
        start = pos
        op = body[pos]
        pos += 1
        if op in (0x02, 0x03, 0x04):  # block loop if
            if body[pos] not in _SIMPLE_BLOCKTYPES:
                return None
            pos += 1
            depth += 1
        elif op == 0x0B:  # end
            if depth == 0:
                out.append(0x0B)  # closes the wrapping block
                return bytes(out) if pos == n else None
            depth -= 1
        elif op == 0x0F:  # return: out of the wrapping block, `depth` labels further out
            out += b"\x0c" + uleb(depth)
            continue
        elif op in (0x20, 0x21, 0x22):  # local.get/set/tee
            idx, pos = _read_u(body, pos)
            if idx >= len(local_map):
                return None
            out.append(op)
            out += uleb(local_map[idx])
            continue
        elif op in (0x0C, 0x0D, 0x23, 0x24, 0x3F, 0x40):  # br br_if global.* memory.size/grow
            pos = _skip_leb(body, pos)
        elif op == 0x0E:  # br_table
            count, pos = _read_u(body, pos)
            for _ in range(count + 1):
                pos = _skip_leb(body, pos)
        elif 0x28 <= op <= 0x3E:  # loads and stores: memarg
            flags, pos = _read_u(body, pos)
            if flags & 0x40:
                _, pos = _read_u(body, pos)
            _, pos = _read_u(body, pos, 64)
        elif op in (0x41, 0x42):  # i32/i64.const
            pos = _skip_leb(body, pos)
        elif op == 0x43:
            pos += 4
        elif op == 0x44:
            pos += 8
        elif op == 0xFC:
            sub, pos = _read_u(body, pos)
            if sub == 10:  # memory.copy dst src
                _, pos = _read_u(body, pos)
                _, pos = _read_u(body, pos)
            elif sub == 11:  # memory.fill
                _, pos = _read_u(body, pos)
            elif sub not in _FC_NONE:
                return None
        elif not (op in (0x00, 0x01, 0x05, 0x1A, 0x1B) or 0x45 <= op <= 0xC4):
            return None  # calls, exceptions, references, typed select, SIMD, ...
        if pos > n:
            return None
        out += body[start:pos]
    return None


#: Opcodes `inline_call` refuses: return_call, return_call_indirect, return_call_ref (the
#: callee's frame would replace the caller's) and legacy exception handling (try, catch,
#: rethrow, delegate, catch_all: `delegate` to the function's label means "to the caller").
_NOT_INLINED = frozenset({0x12, 0x13, 0x15, 0x06, 0x07, 0x09, 0x18, 0x19})
#: Opcodes opening a block that `end` closes (try_table's catches are refused: see `_skip`).
_OPENS = frozenset({0x02, 0x03, 0x04, 0x1F})
_ZERO_NUM = {
    NumType.I32: b"\x41\x00",
    NumType.I64: b"\x42\x00",
    NumType.F32: b"\x43" + bytes(4),
    NumType.F64: b"\x44" + bytes(8),
    NumType.V128: b"\xfd\x0c" + bytes(16),
}


def zero_value(t: ValType) -> bytes | None:
    """The constant a local of type ``t`` starts with (b"" for a non-nullable reference, which
    validation requires to be set before it is read; None: a type without a zero here)."""
    if isinstance(t, NumType):
        return _ZERO_NUM.get(t)
    if isinstance(t, RefType):
        return b"\xd0" + heap_bytes(t.heap) if t.nullable else b""
    return None


def inline_call(
    body: bytes,
    type_index: int,
    params: Sequence[ValType],
    locals_: Sequence[ValType],
    first: int,
) -> bytes | None:
    """The code that replaces `call f` for a function ``f`` of type ``type_index`` with
    parameters ``params``, declared locals ``locals_`` and instructions ``body`` (final `end`
    included), its locals moved to the caller's ``first``, ``first + 1``, ...

    ``block (type type_index)`` takes the arguments and yields the results as the call did;
    inside, the arguments go into the parameters' new locals (last first) and every declared
    local is zeroed (a call site in a loop must not see the previous iteration's values), then
    ``body`` runs, its final `end` closing the block. None when ``body`` is malformed or uses
    what is not inlined (see the module doc).
    """
    plan = InlinePlan.of(body, type_index, params, locals_)
    return None if plan is None else plan.at(first)


class InlinePlan:
    """A body `inline_call` accepts, decoded once: `at` gives its code for any first local.

    Why: a caller asks whether a body can be inlined before it knows where, and then inlines
    it at one or more call sites with different locals; decoding was most of each `at`.
    """

    __slots__ = ("body", "edits", "params", "type_index", "zeros")

    def __init__(
        self,
        body: bytes,
        type_index: int,
        params: Sequence[ValType],
        zeros: list[bytes],
        edits: list[tuple[int, int, int, int]],
    ) -> None:
        self.body = body
        self.type_index = type_index
        self.params = len(params)
        self.zeros = zeros
        #: (start, end, opcode, value) of each local instruction (value: the callee's local)
        #: and `return` (value: its depth), in body order
        self.edits = edits

    @classmethod
    def of(
        cls,
        body: bytes,
        type_index: int,
        params: Sequence[ValType],
        locals_: Sequence[ValType],
    ) -> InlinePlan | None:
        """The plan for ``body`` (see `inline_call`), or None where `inline_call` gives None."""
        try:
            edits = _local_sites(body, len(params) + len(locals_))
        except (_Bad, IndexError):
            return None
        if edits is None:
            return None
        zeros = []
        for t in locals_:
            zero = zero_value(t)
            if zero is None:
                return None
            zeros.append(zero)
        return cls(body, type_index, params, zeros, edits)

    def at(self, first: int) -> bytes:
        """The code replacing the call, the callee's locals moved to ``first``, ...."""
        out = bytearray(b"\x02" + sleb(self.type_index))
        for i in reversed(range(self.params)):
            out += b"\x21" + uleb(first + i)
        for i, zero in enumerate(self.zeros, self.params):
            if zero:
                out += zero + b"\x21" + uleb(first + i)
        body = self.body
        last = 0
        for start, end, op, v in self.edits:
            out += body[last:start]
            if op == 0x0F:  # return: to the body's label, `v` labels out
                out += b"\x0c" + uleb(v)
            else:
                out.append(op)
                out += uleb(first + v)
            last = end
        out += body[last:]
        return bytes(out)


def _local_sites(body: bytes, count: int) -> list[tuple[int, int, int, int]] | None:
    """The edits that move ``body``'s locals and make each `return` a `br` to the label of
    the body itself (the enclosing block's): (start, end, opcode, local or depth) of every
    local instruction and `return`; None for what `inline_call` refuses."""
    edits: list[tuple[int, int, int, int]] = []
    n = len(body)
    pos = depth = 0
    while pos < n:
        start = pos
        op = body[pos]
        pos += 1
        if op in (0x20, 0x21, 0x22):  # local.get/set/tee
            idx, pos = _read_u(body, pos)
            if idx >= count:
                return None
            edits.append((start, pos, op, idx))
            continue
        if op == 0x0F:  # return
            edits.append((start, pos, op, depth))
            continue
        if op == 0x0B:
            if depth == 0:
                return edits if pos == n else None
            depth -= 1
            continue
        if op in _NOT_INLINED:
            return None
        if op in _OPENS:
            depth += 1
        imms = SINGLE[op]
        if imms is None:
            return None
        if imms and imms[0] == -1:  # prefixed: the sub-opcode picks the immediates
            sub, pos = _read_u(body, pos)
            imms = PREFIXED[op].get(sub)
            if imms is None:
                return None
        for k in imms:
            pos = _skip(body, pos, k)
            if pos < 0:
                return None
    return None


def _skip(body: bytes, pos: int, k: int) -> int:
    """The position after an immediate of kind ``k`` at ``pos`` (-1: a kind not handled:
    heap types, casts, catch clauses, typed select of reference types)."""
    if k < 8 or k in (U32, LEB):
        return _skip_leb(body, pos)
    if k == MEMARG:
        flags, pos = _read_u(body, pos)
        if flags & 0x40:
            pos = _skip_leb(body, pos)
        return _skip_leb(body, pos)
    if k == BLOCK:
        b = body[pos]
        if b == 0x40 or b in _SIMPLE_VALTYPE:
            return pos + 1
        v, pos = _read_s33(body, pos)
        return pos if v >= 0 else -1
    if k == BRTABLE:
        count, pos = _read_u(body, pos)
        for _ in range(count + 1):
            pos = _skip_leb(body, pos)
        return pos
    if k == SELECTT:
        count, pos = _read_u(body, pos)
        for _ in range(count):
            if body[pos] not in _SIMPLE_VALTYPE:
                return -1
            pos += 1
        return pos
    width = {B1: 1, B4: 4, B8: 8, B16: 16, ZERO: 1}.get(k)
    return -1 if width is None else pos + width
