"""Inlining a small leaf function at a call site of generated code (an adapter's `realloc`).

Cranelift (wasmtime's default configuration) does not inline calls between wasm functions, so
an adapter pays a full call for a callee's allocator even when that is a few instructions (a
bump allocator). `splice_leaf` turns such a body into code that can stand where the call was:
``block (result ...)`` around the body, its locals renumbered into the caller's, each `return`
a branch out of that block. Executing it is executing the call, step for step, minus the frame.

Only leaf functions of plain instructions qualify: control (no `call`, no exceptions),
locals, globals, memory and numeric instructions. Anything else, or anything malformed, gives
None and the caller keeps the call.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymeld.codec.binary import uleb

from .instructions import _Bad, _read_u, _skip_leb

__all__ = ["splice_leaf"]

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
