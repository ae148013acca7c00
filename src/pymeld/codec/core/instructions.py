"""Table-driven instruction scanner and index rewriter for function bodies and const exprs.

Fusion renumbers every index space, so each call/global.get/memarg/... immediate must be
remapped while everything else is copied verbatim.  One walker (`_walk`) knows the shape of the
immediates of every WebAssembly 3.0 opcode (plus legacy exception handling and threads) and is
used three ways: validity scan, index rewrite (slice-copying unchanged runs), and usage report.
It is written as one flat loop because it runs over tens of megabytes of code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import field
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.codec.binary import sleb, uleb
from pymeld.errors import DecodeError

from . import model as _model
from .model import (
    FuncType,
    HeapType,
    RecGroup,
    RefType,
    StorageType,
    SubType,
    ValType,
)

if TYPE_CHECKING:
    from typing import overload

    from .model import CompositeType

# -- immediate kinds -----------------------------------------------------------------------------
# 0..7 are remappable index kinds, in `IndexMaps` field order.
K_TYPE, K_FUNC, K_TABLE, K_MEM, K_GLOBAL, K_ELEM, K_DATA, K_TAG = range(8)
INDEX_KIND_NAMES = ("type", "func", "table", "memory", "global", "elem", "data", "tag")
U32 = 8  # an unmapped u32 (local, label, field, count)
LEB = 9  # any signed/unsigned LEB constant
B1 = 10  # one raw byte (lane index)
B4 = 11
B8 = 12
B16 = 13
BLOCK = 14  # block type (s33)
BRTABLE = 15
MEMARG = 16
SELECTT = 17  # vec(valtype)
HEAP = 18  # heap type (s33)
BRCAST = 19  # castflags label heaptype heaptype
CATCHES = 20  # vec(catch) of try_table
ZERO = 21  # a reserved 0x00 byte

_NONE: tuple[int, ...] = ()
_ABSTRACT_HEAP = frozenset(range(0x68, 0x76))
_SIMPLE_VALTYPE = frozenset({0x7F, 0x7E, 0x7D, 0x7C, 0x7B}) | _ABSTRACT_HEAP


def _single_table() -> list[tuple[int, ...] | None]:
    t: list[tuple[int, ...] | None] = [None] * 256
    for op in (0x00, 0x01, 0x05, 0x0A, 0x0B, 0x0F, 0x19, 0x1A, 0x1B, 0xD1, 0xD3, 0xD4):
        t[op] = _NONE
    for op in range(0x45, 0xC5):
        t[op] = _NONE
    for op in (0x02, 0x03, 0x04, 0x06):  # block loop if try
        t[op] = (BLOCK,)
    t[0x07] = (K_TAG,)  # catch
    t[0x08] = (K_TAG,)  # throw
    t[0x18] = (LEB,)  # delegate (label; not on the fast path: it closes a block)
    for op in (0x09, 0x0C, 0x0D, 0x20, 0x21, 0x22, 0xD5, 0xD6):
        t[op] = (U32,)  # rethrow br br_if delegate local.* br_on_null br_on_non_null
    t[0x0E] = (BRTABLE,)
    t[0x10] = t[0x12] = (K_FUNC,)  # call return_call
    t[0x11] = t[0x13] = (K_TYPE, K_TABLE)  # call_indirect return_call_indirect
    t[0x14] = t[0x15] = (K_TYPE,)  # call_ref return_call_ref
    t[0x1C] = (SELECTT,)
    t[0x1F] = (BLOCK, CATCHES)  # try_table
    t[0x23] = t[0x24] = (K_GLOBAL,)
    t[0x25] = t[0x26] = (K_TABLE,)
    for op in range(0x28, 0x3F):
        t[op] = (MEMARG,)
    t[0x3F] = t[0x40] = (K_MEM,)  # memory.size memory.grow
    t[0x41] = t[0x42] = (LEB,)
    t[0x43] = (B4,)
    t[0x44] = (B8,)
    t[0xD0] = (HEAP,)  # ref.null
    t[0xD2] = (K_FUNC,)  # ref.func
    return t


def _fc_table() -> dict[int, tuple[int, ...]]:
    t: dict[int, tuple[int, ...]] = {i: _NONE for i in range(8)}  # trunc_sat
    t.update(
        {
            8: (K_DATA, K_MEM),  # memory.init
            9: (K_DATA,),  # data.drop
            10: (K_MEM, K_MEM),  # memory.copy
            11: (K_MEM,),  # memory.fill
            12: (K_ELEM, K_TABLE),  # table.init
            13: (K_ELEM,),  # elem.drop
            14: (K_TABLE, K_TABLE),  # table.copy
            15: (K_TABLE,),  # table.grow
            16: (K_TABLE,),  # table.size
            17: (K_TABLE,),  # table.fill
        }
    )
    for i in range(0x13, 0x17):  # wide arithmetic
        t[i] = _NONE
    return t


def _fd_table() -> dict[int, tuple[int, ...]]:
    valid = set(range(0x00, 0x9A)) | set(range(0x9B, 0xA2)) | {0xA3, 0xA4}
    valid |= set(range(0xA7, 0xAF)) | {0xB1} | set(range(0xB5, 0xBB)) | set(range(0xBC, 0xC2))
    valid |= {0xC3, 0xC4} | set(range(0xC7, 0xCF)) | {0xD1} | set(range(0xD5, 0xE2))
    valid |= set(range(0xE3, 0xEE)) | set(range(0xEF, 0x114))
    t: dict[int, tuple[int, ...]] = {i: _NONE for i in valid}
    for i in (*range(0x00, 0x0C), 0x5C, 0x5D):
        t[i] = (MEMARG,)
    t[0x0C] = t[0x0D] = (B16,)  # v128.const i8x16.shuffle
    for i in range(0x15, 0x23):
        t[i] = (B1,)  # extract/replace lane
    for i in range(0x54, 0x5C):
        t[i] = (MEMARG, B1)  # load/store lane
    return t


def _fe_table() -> dict[int, tuple[int, ...]]:
    t: dict[int, tuple[int, ...]] = {0: (MEMARG,), 1: (MEMARG,), 2: (MEMARG,), 3: (ZERO,)}
    for i in range(0x10, 0x4F):
        t[i] = (MEMARG,)
    return t


def _fb_table() -> dict[int, tuple[int, ...]]:
    T = (K_TYPE,)
    t: dict[int, tuple[int, ...]] = {
        0: T,  # struct.new
        1: T,  # struct.new_default
        2: (K_TYPE, U32),
        3: (K_TYPE, U32),
        4: (K_TYPE, U32),
        5: (K_TYPE, U32),  # struct.get/_s/_u/set
        6: T,  # array.new
        7: T,
        8: (K_TYPE, U32),  # array.new_fixed
        9: (K_TYPE, K_DATA),  # array.new_data
        10: (K_TYPE, K_ELEM),  # array.new_elem
        11: T,
        12: T,
        13: T,
        14: T,  # array.get/_s/_u/set
        15: _NONE,  # array.len
        16: T,  # array.fill
        17: (K_TYPE, K_TYPE),  # array.copy
        18: (K_TYPE, K_DATA),  # array.init_data
        19: (K_TYPE, K_ELEM),  # array.init_elem
        20: (HEAP,),
        21: (HEAP,),  # ref.test
        22: (HEAP,),
        23: (HEAP,),  # ref.cast
        24: (BRCAST,),
        25: (BRCAST,),  # br_on_cast(_fail)
    }
    for i in range(26, 31):
        t[i] = _NONE  # conversions, i31
    return t


SINGLE = _single_table()
PREFIXED: dict[int, dict[int, tuple[int, ...]]] = {
    0xFB: _fb_table(),
    0xFC: _fc_table(),
    0xFD: _fd_table(),
    0xFE: _fe_table(),
}
for _p in PREFIXED:
    SINGLE[_p] = (-1,)  # marker: prefixed

# Opcodes that open a block (matched by `end`).
_OPENERS = frozenset({0x02, 0x03, 0x04, 0x06, 0x1F})

# -- public maps / usage ---------------------------------------------------------------------------

IndexMap = Sequence[int] | Callable[[int], int] | None


@dataclass
class IndexMaps:
    """Optional remap per index kind (list: ``new = m[old]``; callable: ``new = m(old)``)."""

    type: IndexMap = None
    func: IndexMap = None
    table: IndexMap = None
    memory: IndexMap = None
    global_: IndexMap = None
    elem: IndexMap = None
    data: IndexMap = None
    tag: IndexMap = None
    #: an index immediate encoded wider than it needs (a padded LEB128, as the linkers of
    #: debug builds leave them for relocation) keeps its width when the new index fits it, so
    #: the code keeps its layout (`merge.layout`: DWARF remapped by one delta); only
    #: `apply_patches` does this, the general walk writes minimal LEB128s
    keep_width: bool = False
    _callables: list[Callable[[int], int] | None] | None = field(
        default=None, repr=False, compare=False
    )

    def as_list(self) -> list[Callable[[int], int] | None]:
        """The maps as callables in kind order; computed once (rewrites call it per body)."""
        if self._callables is not None:
            return self._callables
        out: list[Callable[[int], int] | None] = []
        for m in (
            self.type,
            self.func,
            self.table,
            self.memory,
            self.global_,
            self.elem,
            self.data,
            self.tag,
        ):
            if m is None or callable(m):
                out.append(m)
            else:
                out.append(m.__getitem__)
        self._callables = out
        return out


@dataclass
class Uses:
    """Indices referenced by a body, per kind, plus memories hit by memory.size/grow."""

    indices: list[set[int]] = field(default_factory=lambda: [set() for _ in range(8)])
    memory_grow: set[int] = field(default_factory=set)
    memory_size: set[int] = field(default_factory=set)

    @property
    def types(self) -> set[int]:
        return self.indices[K_TYPE]

    @property
    def funcs(self) -> set[int]:
        return self.indices[K_FUNC]

    @property
    def tables(self) -> set[int]:
        return self.indices[K_TABLE]

    @property
    def memories(self) -> set[int]:
        return self.indices[K_MEM]

    @property
    def globals(self) -> set[int]:
        return self.indices[K_GLOBAL]

    @property
    def elems(self) -> set[int]:
        return self.indices[K_ELEM]

    @property
    def datas(self) -> set[int]:
        return self.indices[K_DATA]

    @property
    def tags(self) -> set[int]:
        return self.indices[K_TAG]


class _Bad(Exception):
    """Internal: malformed code at a body-relative position (converted to DecodeError)."""

    def __init__(self, msg: str, pos: int) -> None:
        self.msg = msg
        self.pos = pos


def _read_u(data: Sequence[int], pos: int, bits: int = 32) -> tuple[int, int]:
    """Decode an unsigned LEB at ``pos``; returns (value, new_pos)."""
    result = 0
    shift = 0
    start = pos
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift >= (bits + 6) // 7 * 7:
            raise _Bad("LEB128 too long", start)
    if result >> bits:
        raise _Bad(f"u{bits} LEB128 out of range", start)
    return result, pos


def _read_s33(data: Sequence[int], pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    start = pos
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
        if shift >= 35:
            raise _Bad("s33 LEB128 too long", start)
    if b & 0x40:
        result -= 1 << shift
    return result, pos


def _skip_leb(data: Sequence[int], pos: int) -> int:
    start = pos
    while data[pos] & 0x80:
        pos += 1
        if pos - start >= 10:
            raise _Bad("LEB128 too long", start)
    return pos + 1


def _walk(
    data: bytes,
    pos: int,
    end: int,
    maps: list[Callable[[int], int] | None] | None,
    uses: Uses | None,
    expr: bool,
    hooks: Hooks | Visits | None = None,
    visit: bool = False,
) -> tuple[int, list[bytes] | None, int]:
    """Walk instructions from ``pos``; stop after the ``end`` closing the outermost block.

    Returns (position after the final end, output chunks or None if unchanged, last copied pos).
    ``hooks`` replace the instructions whose opcode key they name (see `rewrite_instructions`),
    or with ``visit`` only see them (`scan_instructions`: each returns the instruction's end).
    """
    single = SINGLE
    prefixed = PREFIXED
    out: list[bytes] | None = None
    last = pos
    depth = 0
    need = [False] * 8
    if maps is not None:
        need = [m is not None for m in maps]
    if uses is not None:
        need = [True] * 8
    coll = uses.indices if uses is not None else None
    while True:
        if pos >= end:
            raise _Bad("unexpected end of code, expected an instruction", pos)
        op_at = pos
        op = data[pos]
        pos += 1
        imms = single[op]
        if imms is None:
            raise _Bad(f"unknown opcode 0x{op:02x}", op_at)
        if expr and op not in _CONST_OPS:
            raise _Bad(f"opcode 0x{op:02x} not allowed in a constant expression", op_at)
        if not imms:
            if op == 0x0B:
                if depth == 0:
                    return pos, out, last
                depth -= 1
            continue
        if op in _OPENERS:
            depth += 1
        k0 = imms[0]
        if k0 == U32:  # fast path: local.* / br / br_if
            if data[pos] & 0x80:
                pos = _skip_leb(data, pos)
            else:
                pos += 1
            continue
        if k0 == -1:
            sub, pos = _read_u(data, pos)
            imms = prefixed[op].get(sub)
            if imms is None:
                raise _Bad(f"unknown opcode 0x{op:02x} 0x{sub:x}", op_at)
        if (
            hooks is not None
            and (hook := hooks.get((op, sub) if k0 == -1 else (-1, op))) is not None
        ):
            if visit:
                pos = hook(data, op_at, pos)  # type: ignore[assignment]
                continue
            new, pos = hook(data, op_at, pos)  # type: ignore[misc]
            out = [] if out is None else out
            out += (data[last:op_at], new)
            last = pos
            continue
        if op == 0x18:  # delegate closes a legacy try block (a prefix is never 0x18)
            if depth == 0:
                raise _Bad("delegate outside of a try block", op_at)
            depth -= 1
        for k in imms:
            if k < 8:
                if not need[k]:
                    if data[pos] & 0x80:
                        pos = _skip_leb(data, pos)
                    else:
                        pos += 1
                    continue
                at = pos
                v, pos = _read_u(data, pos)
                if coll is not None:
                    coll[k].add(v)
                    if op == 0x40:
                        uses.memory_grow.add(v)  # type: ignore[union-attr]
                    elif op == 0x3F:
                        uses.memory_size.add(v)  # type: ignore[union-attr]
                if maps is not None and (m := maps[k]) is not None:
                    try:
                        nv = m(v)
                    except (IndexError, KeyError):
                        raise _Bad(f"{INDEX_KIND_NAMES[k]} index {v} has no mapping", at) from None
                    if nv != v:
                        if out is None:
                            out = []
                        out.append(data[last:at])
                        out.append(uleb(nv))
                        last = pos
                continue
            if k == LEB:
                pos = _skip_leb(data, pos)
            elif k == MEMARG:
                at = pos
                flags, pos = _read_u(data, pos)
                if flags & 0x40:
                    mat = pos
                    mem, pos = _read_u(data, pos)
                else:
                    mat = -1
                    mem = 0
                pos = _skip_leb(data, pos)  # offset (u64)
                if coll is not None:
                    coll[K_MEM].add(mem)
                if maps is not None and (m := maps[K_MEM]) is not None:
                    try:
                        nm = m(mem)
                    except (IndexError, KeyError):
                        raise _Bad(f"memory index {mem} has no mapping", at) from None
                    if nm != mem:
                        if out is None:
                            out = []
                        if mat >= 0:
                            out.append(data[last:mat])
                            out.append(uleb(nm))
                            last = _skip_leb(data, mat)
                        else:
                            out.append(data[last:at])
                            out.append(uleb(flags | 0x40))
                            out.append(uleb(nm))
                            last = _skip_leb(data, at)
            elif k == BLOCK:
                b = data[pos]
                if b == 0x40 or b in _SIMPLE_VALTYPE:
                    pos += 1
                elif b == 0x63 or b == 0x64:
                    pos, out, last = _heap(data, pos + 1, maps, coll, out, last)
                else:
                    pos, out, last = _typeidx_s33(data, pos, maps, coll, out, last)
            elif k == U32:
                pos = _skip_leb(data, pos)
            elif k == B1:
                pos += 1
            elif k == B4:
                pos += 4
            elif k == B8:
                pos += 8
            elif k == B16:
                pos += 16
            elif k == BRTABLE:
                n, pos = _read_u(data, pos)
                if n > end - pos:
                    raise _Bad(f"br_table length {n} exceeds the code size", pos)
                for _ in range(n + 1):
                    pos = _skip_leb(data, pos)
            elif k == HEAP:
                pos, out, last = _heap(data, pos, maps, coll, out, last)
            elif k == SELECTT:
                n, pos = _read_u(data, pos)
                if n > end - pos:
                    raise _Bad(f"select type count {n} exceeds the code size", pos)
                for _ in range(n):
                    pos, out, last = _valtype(data, pos, maps, coll, out, last)
            elif k == BRCAST:
                pos += 1  # cast flags
                pos = _skip_leb(data, pos)  # label
                pos, out, last = _heap(data, pos, maps, coll, out, last)
                pos, out, last = _heap(data, pos, maps, coll, out, last)
            elif k == CATCHES:
                n, pos = _read_u(data, pos)
                if n > end - pos:
                    raise _Bad(f"catch count {n} exceeds the code size", pos)
                for _ in range(n):
                    ck = data[pos]
                    pos += 1
                    if ck <= 1:
                        pos, out, last = _index(data, pos, K_TAG, maps, coll, out, last)
                    elif ck > 3:
                        raise _Bad(f"unknown catch kind 0x{ck:02x}", pos - 1)
                    pos = _skip_leb(data, pos)
            elif k == ZERO:
                if data[pos] != 0:
                    raise _Bad("expected a zero byte", pos)
                pos += 1


_CONST_OPS = frozenset({0x23, 0x41, 0x42, 0x43, 0x44, 0xD0, 0xD2, 0xFB, 0xFD, 0x6A, 0x6B, 0x6C})
_CONST_OPS = _CONST_OPS | {0x7C, 0x7D, 0x7E, 0x0B}


def _index(data, pos, k, maps, coll, out, last):
    at = pos
    v, pos = _read_u(data, pos)
    if coll is not None:
        coll[k].add(v)
    if maps is not None and (m := maps[k]) is not None:
        try:
            nv = m(v)
        except (IndexError, KeyError):
            raise _Bad(f"{INDEX_KIND_NAMES[k]} index {v} has no mapping", at) from None
        if nv != v:
            if out is None:
                out = []
            out.append(data[last:at])
            out.append(uleb(nv))
            last = pos
    return pos, out, last


def _typeidx_s33(data, pos, maps, coll, out, last):
    at = pos
    v, pos = _read_s33(data, pos)
    if v < 0:
        raise _Bad(f"invalid block type {v}", at)
    if coll is not None:
        coll[K_TYPE].add(v)
    if maps is not None and (m := maps[K_TYPE]) is not None:
        try:
            nv = m(v)
        except (IndexError, KeyError):
            raise _Bad(f"type index {v} has no mapping", at) from None
        if nv != v:
            if out is None:
                out = []
            out.append(data[last:at])
            out.append(sleb(nv))
            last = pos
    return pos, out, last


def _heap(data, pos, maps, coll, out, last):
    b = data[pos]
    if b in _ABSTRACT_HEAP:
        return pos + 1, out, last
    if b == 0x65:  # shared
        if data[pos + 1] not in _ABSTRACT_HEAP:
            raise _Bad("expected an abstract heap type after 0x65", pos + 1)
        return pos + 2, out, last
    return _typeidx_s33(data, pos, maps, coll, out, last)


def _valtype(data, pos, maps, coll, out, last):
    b = data[pos]
    if b in _SIMPLE_VALTYPE:
        return pos + 1, out, last
    if b == 0x63 or b == 0x64:
        return _heap(data, pos + 1, maps, coll, out, last)
    raise _Bad(f"invalid value type 0x{b:02x}", pos)


# -- fast rewrite ------------------------------------------------------------------------------
# `rewrite_body` runs over every function body of the input (tens of megabytes), so the common
# opcodes get a specialised loop: one small-int class per opcode, single-byte LEBs read inline,
# no per-immediate table walk. It only finds the index immediates; mapping them is a second,
# short loop. Anything it does not handle, and anything malformed, goes to `_walk`, which gives
# the exact result or error, so the fast loop only has to be exact on the bodies it finishes.
(_F_OTHER, _F_NONE, _F_END, _F_LEB, _F_MEMARG, _F_FUNC, _F_GLOBAL, _F_BLOCK, _F_B4, _F_B8) = range(
    10
)
(_F_CALL_INDIRECT, _F_BR_TABLE, _F_FC, _F_INDEX) = range(10, 14)


def _fast_classes() -> list[int]:
    t = [_F_OTHER] * 256
    for op in range(256):
        imms = SINGLE[op]
        if imms is None:
            continue
        if imms == _NONE:
            t[op] = _F_NONE
        elif imms in ((U32,), (LEB,)) and op != 0x18:
            t[op] = _F_LEB
        elif imms == (MEMARG,):
            t[op] = _F_MEMARG
        elif imms == (K_FUNC,):
            t[op] = _F_FUNC
        elif imms == (K_GLOBAL,):
            t[op] = _F_GLOBAL
        elif len(imms) == 1 and 0 <= imms[0] < 8:  # (-1: a prefix, not an index)
            t[op] = _F_INDEX
    t[0x0B] = _F_END
    for op in (0x02, 0x03, 0x04):  # block loop if (legacy try: `_walk`)
        t[op] = _F_BLOCK
    t[0x43] = _F_B4
    t[0x44] = _F_B8
    t[0x11] = t[0x13] = _F_CALL_INDIRECT
    t[0x0E] = _F_BR_TABLE
    t[0xFC] = _F_FC
    return t


_FAST = _fast_classes()


# A patch site: (start, end, kind, value) of one index immediate, in body order. Kinds 0..7 are
# the index kinds (a ULEB); _P_MEM0 is a memarg without a memory index (value: its flags; the
# memory is 0 and becomes `flags | 0x40, index` when remapped); _P_BLOCKTYPE a block type index.
_P_MEM0 = 8
_P_BLOCKTYPE = 9
P_MEM0 = _P_MEM0  # (for readers pairing two bodies' sites: `dwarf.addrmap`)
Patch = tuple[int, int, int, int]


def patch_sites(data: bytes) -> list[Patch] | None:
    """Every index immediate of the function body ``data`` (None: let the general walk decide).

    Independent of any index map, so a body that occurs in several instances (two components
    built with the same toolchain carry the same runtime) is decoded once and patched per map.
    None for malformed bodies and rare opcodes (legacy exceptions, GC, SIMD, typed references).
    """
    try:
        return _sites(data)
    except Exception:
        return None


def _sites(body: bytes) -> list[Patch] | None:
    # the bytes as a list: the interpreter indexes a list with a specialized instruction, bytes
    # through the generic protocol (~10% of the walk)
    data = list(body)
    cls = _FAST
    # classes as locals: compared once or more per instruction
    f_leb, f_none, f_memarg, f_end = _F_LEB, _F_NONE, _F_MEMARG, _F_END
    f_global, f_func, f_block, f_b4, f_b8 = _F_GLOBAL, _F_FUNC, _F_BLOCK, _F_B4, _F_B8
    f_call_indirect, f_br_table, f_fc, f_index = _F_CALL_INDIRECT, _F_BR_TABLE, _F_FC, _F_INDEX
    k_mem, k_global, k_func, k_type, k_table = K_MEM, K_GLOBAL, K_FUNC, K_TYPE, K_TABLE
    p_mem0, p_blocktype = _P_MEM0, _P_BLOCKTYPE
    simple_bt = _SIMPLE_VALTYPE
    fc = PREFIXED[0xFC]
    read_u = _read_u
    skip_leb = _skip_leb
    sites: list[Patch] = []
    add = sites.append
    pos = depth = 0
    while True:
        c = cls[data[pos]]  # (the opcode itself: `data[pos - 1]`, in the rare branches)
        pos += 1
        if c == f_leb:  # locals, br, br_if, i32/i64.const: about half of all instructions
            if data[pos] < 0x80:
                pos += 1
            else:
                pos = skip_leb(data, pos)
        elif c == f_none:
            continue
        elif c == f_memarg:
            at = pos
            flags = data[pos]
            if flags < 0x80:
                pos += 1
            else:
                flags, pos = read_u(data, pos)
            if flags & 0x40:
                mat = pos
                mem, pos = read_u(data, pos)
                add((mat, pos, k_mem, mem))
            else:
                add((at, pos, p_mem0, flags))
            if data[pos] < 0x80:
                pos += 1
            else:
                pos = skip_leb(data, pos)
        elif c == f_end:
            if depth == 0:
                return sites if pos == len(data) else None
            depth -= 1
        elif c == f_global:
            at = pos
            v = data[pos]
            if v < 0x80:
                pos += 1
            else:
                v, pos = read_u(data, pos)
            add((at, pos, k_global, v))
        elif c == f_func:
            at = pos
            v = data[pos]
            if v < 0x80:
                pos += 1
            else:
                v, pos = read_u(data, pos)
            add((at, pos, k_func, v))
        elif c == f_block:
            depth += 1
            b = data[pos]
            if b == 0x40 or b in simple_bt:
                pos += 1
            elif b == 0x63 or b == 0x64:
                return None
            else:
                at = pos
                v, pos = _read_s33(data, pos)
                if v < 0:
                    return None
                add((at, pos, p_blocktype, v))
        elif c == f_b4:
            pos += 4
        elif c == f_b8:
            pos += 8
        elif c == f_call_indirect:
            at = pos
            v, pos = read_u(data, pos)
            add((at, pos, k_type, v))
            at = pos
            v, pos = read_u(data, pos)
            add((at, pos, k_table, v))
        elif c == f_br_table:
            n, pos = read_u(data, pos)
            if n > len(data) - pos:
                return None
            for _ in range(n + 1):
                pos = skip_leb(data, pos)
        else:
            if c == f_fc:
                sub, pos = read_u(data, pos)
                imms = fc.get(sub)
            elif c == f_index:
                imms = SINGLE[data[pos - 1]]
            else:
                return None
            if imms is None:
                return None
            for k in imms:
                at = pos
                v, pos = read_u(data, pos)
                add((at, pos, k, v))


_UNSET = object()


class PatchTable:
    """What each index immediate becomes under one `IndexMaps`, encoded once and reused.

    Per kind, a list indexed by the old index: the new index's LEB128, None when it does not
    change, `_UNSET` until first needed (or a dict for a map given as a callable). Nearly every
    index changes in fusion, and mapping plus encoding was most of the patching cost.
    """

    __slots__ = ("enc", "keep_width", "maps", "mem0")

    def __init__(self, maps: IndexMaps) -> None:
        self.maps = maps.as_list()
        self.keep_width = maps.keep_width
        fields = [maps.type, maps.func, maps.table, maps.memory, maps.global_, maps.elem]
        fields += [maps.data, maps.tag]
        self.enc: list[list[object] | dict[int, bytes | None] | None] = [
            None if m is None else {} if callable(m) else [_UNSET] * len(m) for m in fields
        ]
        self.mem0: dict[int, bytes] = {}  # memarg flags -> flags | 0x40 and the new memory


def apply_patches(data: bytes, sites: list[Patch], table: PatchTable) -> bytes | None:
    """``data`` with ``sites`` remapped, as `rewrite_body` would give (None: a missing mapping)."""
    out: list[bytes] = []
    add = out.append
    last = 0
    enc = table.enc
    maps = table.maps
    unset = _UNSET
    # read once, not per site: most sites of a C program are memargs (`_P_MEM0`)
    p_mem0 = _P_MEM0
    mem_map = maps[K_MEM]
    mem0 = table.mem0
    keep = table.keep_width
    try:
        for at, nxt, k, v in sites:
            if k == p_mem0:
                if mem_map is None:
                    continue
                moved = mem0.get(v)
                if moved is None:
                    nv = mem_map(0)
                    moved = mem0[v] = uleb(v | 0x40) + uleb(nv) if nv != 0 else b""
                if moved:
                    add(data[last:at])
                    add(moved)
                    last = nxt
            elif k < 8:
                t = enc[k]
                if t is None:
                    continue
                if type(t) is list:
                    e = t[v]
                    if e is unset:
                        nv = maps[k](v)  # type: ignore[misc]
                        e = t[v] = None if nv == v else uleb(nv)
                else:
                    e = t.get(v, unset)  # type: ignore[union-attr]
                    if e is unset:
                        nv = maps[k](v)  # type: ignore[misc]
                        e = t[v] = None if nv == v else uleb(nv)
                if e is not None:
                    add(data[last:at])
                    if keep and nxt - at > len(e):  # type: ignore[arg-type]
                        e = _padded(e, nxt - at)  # type: ignore[arg-type]
                    add(e)  # type: ignore[arg-type]
                    last = nxt
            else:
                tmap = maps[K_TYPE]
                if tmap is None:
                    continue
                nv = tmap(v)
                if nv != v:
                    add(data[last:at])
                    add(sleb(nv))
                    last = nxt
    except (IndexError, KeyError):
        return None
    if not out:
        return data
    add(data[last:])
    return b"".join(out)


def _padded(leb: bytes, width: int) -> bytes:
    """The unsigned LEB128 ``leb`` (minimal) written in ``width`` > len(leb) bytes."""
    return bytes([*(b | 0x80 for b in leb), *[0x80] * (width - len(leb) - 1), 0])


def _run(
    body: bytes,
    maps: list[Callable[[int], int] | None] | None,
    uses: Uses | None,
    expr: bool,
    file: str | None,
    base: int,
    section: str | None,
    hooks: Hooks | Visits | None = None,
    visit: bool = False,
) -> bytes:
    what = "constant expression" if expr else "function body"
    try:
        pos, out, last = _walk(body, 0, len(body), maps, uses, expr, hooks, visit)
    except _Bad as e:
        raise DecodeError(e.msg, offset=base + e.pos, file=file, section=section) from None
    except IndexError:
        raise DecodeError(
            f"unexpected end of {what}", offset=base + len(body), file=file, section=section
        ) from None
    if pos > len(body):
        raise DecodeError(
            f"unexpected end of {what}", offset=base + len(body), file=file, section=section
        )
    if pos != len(body):
        raise DecodeError(
            f"{len(body) - pos} bytes after the final end of the {what}",
            offset=base + pos,
            file=file,
            section=section,
        )
    if out is None:
        return body
    out.append(body[last:])
    return b"".join(out)


def scan_body(
    body: bytes, *, file: str | None = None, base: int = 0, section: str | None = "code"
) -> None:
    """Check that ``body`` (instructions incl. final end) decodes; raise DecodeError otherwise.

    ``base`` is the absolute offset of ``body[0]`` so errors point into the outer file.
    """
    _run(body, None, None, False, file, base, section)


def rewrite_body(
    body: bytes,
    maps: IndexMaps,
    *,
    file: str | None = None,
    base: int = 0,
    section: str | None = "code",
) -> bytes:
    """Return ``body`` with every index immediate remapped; unchanged runs are sliced verbatim.

    Returns the very same object when nothing changes.  Labels and locals are never touched.
    """
    sites = patch_sites(body)
    if sites is not None:
        out = apply_patches(body, sites, PatchTable(maps))
        if out is not None:
            return out
    return _run(body, maps.as_list(), None, False, file, base, section)


def walk_body(body: bytes, maps: IndexMaps, *, file: str | None = None) -> bytes:
    """`rewrite_body` through the general walk only: each map is called once per immediate,
    in body order, so a map may be stateful (a recorder or a replay). `rewrite_body` may call a
    map once per distinct index instead (its patch tables cache the encodings)."""
    return _run(body, maps.as_list(), None, False, file, 0, "code")


#: An opcode key: ``(-1, opcode)`` for a one-byte opcode, ``(prefix, sub-opcode)`` otherwise.
OpKey = tuple[int, int]
#: ``hook(body, at, pos) -> (replacement, end)``: called for an instruction starting at ``at``
#: whose opcode (and sub-opcode) end at ``pos``; the instruction's bytes up to ``end`` (after
#: its immediates, which the hook decodes with `read_u`/`read_memarg`) become ``replacement``.
Hook = Callable[[bytes, int, int], tuple[bytes, int]]
Hooks = dict[OpKey, Hook]
#: ``visit(body, at, pos) -> end``: a `Hook` that only looks (`scan_instructions`).
Visit = Callable[[bytes, int, int], int]
Visits = dict[OpKey, Visit]


def rewrite_instructions(
    body: bytes, hooks: Hooks, *, file: str | None = None, base: int = 0
) -> bytes:
    """``body`` with every instruction named in ``hooks`` replaced by what its hook returns.

    The same walk as `rewrite_body` (one decoder of instructions and immediates): block
    structure, every immediate and the final `end` are checked; bytes outside the hooked
    instructions are copied verbatim. Returns the very same object when no hook fired.
    """
    return _run(body, None, None, False, file, base, "code", hooks)


def scan_instructions(
    body: bytes, visits: Visits, *, file: str | None = None, base: int = 0
) -> None:
    """Call the visit of every instruction named in ``visits``, in body order, checking the
    body as `rewrite_instructions` does; for analyses, which need no copy of the body."""
    _run(body, None, None, False, file, base, "code", visits, visit=True)


def opcode_keys(immediate: int) -> list[OpKey]:
    """Every opcode whose immediates include the kind ``immediate`` (e.g. `MEMARG`)."""
    keys = [(-1, op) for op, imms in enumerate(SINGLE) if imms and immediate in imms]
    for prefix, table in PREFIXED.items():
        keys += [(prefix, sub) for sub, imms in table.items() if immediate in imms]
    return sorted(keys)


def read_u(data: bytes, pos: int, bits: int = 32) -> tuple[int, int]:
    """An unsigned LEB128 at ``pos``: (value, position after it)."""
    try:
        return _read_u(data, pos, bits)
    except _Bad as e:
        raise DecodeError(e.msg, offset=e.pos) from None


def read_s32(data: bytes, pos: int) -> tuple[int, int]:
    """A signed 32-bit LEB128 at ``pos`` (`i32.const`'s): (value, position after it)."""
    try:
        v, end = _read_s33(data, pos)  # an s32 is at most as long as an s33
    except _Bad as e:
        raise DecodeError(e.msg, offset=e.pos) from None
    if not -(1 << 31) <= v < 1 << 31:
        raise DecodeError("s32 LEB128 out of range", offset=pos)
    return v, end


def const_i32_value(expr: bytes | None) -> int | None:
    """The value of a constant expression that is one `i32.const` (else None)."""
    if not expr or expr[0] != 0x41:
        return None
    v, end = read_s32(expr, 1)
    return v if expr[end:] == b"\x0b" else None


def elem_expr_func(expr: bytes) -> int | None:
    """An element expression's function: -1 for `ref.null`, ``f`` for `ref.func f`, None for
    any other expression."""
    if expr[:1] == b"\xd0":
        return -1
    if expr[:1] == b"\xd2":
        f, end = read_u(expr, 1)
        return f if expr[end:] == b"\x0b" else None
    return None


def read_memarg(data: bytes, pos: int) -> tuple[int, int, int, int]:
    """A memarg at ``pos``: (alignment exponent, memory index, offset, position after it)."""
    flags, pos = read_u(data, pos)
    mem = 0
    if flags & 0x40:
        mem, pos = read_u(data, pos)
    offset, pos = read_u(data, pos, 64)
    return flags & ~0x40, mem, offset, pos


def rewrite_body_edits(
    body: bytes, maps: IndexMaps, *, file: str | None = None
) -> tuple[bytes, list[tuple[int, int, int]]]:
    """`rewrite_body`, plus the exact edits made: ``(old_pos, old_len, new_len)`` in order.

    DWARF remapping needs the old→new offset of every instruction, and a remapped index can
    change its LEB width. The walker copies unchanged runs as slices of its input and emits
    each replaced immediate as new ``bytes``; walking a memoryview makes the two tell apart
    (slices stay memoryviews), and each run of new chunks replaces exactly one LEB of the input.
    """
    view = memoryview(body)
    try:
        pos, out, last = _walk(view, 0, len(body), maps.as_list(), None, False)  # type: ignore[arg-type]
    except (_Bad, IndexError):
        rewrite_body(body, maps, file=file)  # raises the DecodeError with its position
        raise
    if pos != len(body):
        rewrite_body(body, maps, file=file)
    if out is None:
        return body, []
    out.append(view[last:])  # type: ignore[arg-type]
    edits: list[tuple[int, int, int]] = []
    old = 0
    i = 0
    while i < len(out):
        chunk = out[i]
        if isinstance(chunk, memoryview):
            old += len(chunk)
            i += 1
            continue
        new_len = 0
        while i < len(out) and not isinstance(out[i], memoryview):
            new_len += len(out[i])
            i += 1
        old_len = _skip_leb(body, old) - old
        edits.append((old, old_len, new_len))
        old += old_len
    if old != len(body):
        raise AssertionError("rewrite_body_edits: walker output does not cover the body")
    return b"".join(out), edits


def rewrite_const_expr(
    expr: bytes,
    maps: IndexMaps,
    *,
    file: str | None = None,
    base: int = 0,
    section: str | None = None,
) -> bytes:
    """Like `rewrite_body` for a const expr (global init, segment offset, elem item)."""
    return _run(expr, maps.as_list(), None, True, file, base, section)


def scan_const_expr(
    expr: bytes, *, file: str | None = None, base: int = 0, section: str | None = None
) -> None:
    _run(expr, None, None, True, file, base, section)


def const_expr_funcs(exprs: Iterable[bytes]) -> set[int]:
    """The functions the constant expressions ``exprs`` reference (`ref.func`); only those
    holding its opcode byte are decoded (most are one `i32.const`)."""
    uses = Uses()
    for expr in exprs:
        if 0xD2 in expr:
            _run(expr, None, uses, True, None, 0, None)
    return uses.funcs


def scan_uses(body: bytes, *, file: str | None = None, base: int = 0) -> Uses:
    """Indices of every kind referenced by ``body`` and memories grown/sized by it."""
    uses = Uses()
    _run(body, None, uses, False, file, base, "code")
    return uses


def expr_end(
    data: bytes, pos: int, end: int, *, file: str | None, base: int, section: str | None
) -> int:
    """Position just after the const expr starting at ``data[pos]`` (used by the parser)."""
    try:
        npos, _, _ = _walk(data, pos, end, None, None, True)
    except _Bad as e:
        raise DecodeError(e.msg, offset=base + e.pos, file=file, section=section) from None
    except IndexError:
        raise DecodeError(
            "unexpected end of constant expression", offset=base + end, file=file, section=section
        ) from None
    if npos > end:
        raise DecodeError(
            "unexpected end of constant expression", offset=base + end, file=file, section=section
        )
    return npos


# -- type-level remapping --------------------------------------------------------------------------


def remap_heap(h: HeapType, tmap: Callable[[int], int]) -> HeapType:
    if h.index is None:
        return h
    return HeapType(index=tmap(h.index))


if TYPE_CHECKING:

    @overload
    def remap_valtype(t: RefType, tmap: Callable[[int], int]) -> RefType: ...
    @overload
    def remap_valtype(t: ValType, tmap: Callable[[int], int]) -> ValType: ...
    @overload
    def remap_valtype(t: StorageType, tmap: Callable[[int], int]) -> StorageType: ...


def remap_valtype(t: StorageType, tmap: Callable[[int], int]) -> StorageType:
    """Remap the concrete type index inside a value/storage type (others returned as is)."""
    if isinstance(t, RefType) and t.heap.index is not None:
        return RefType(t.nullable, HeapType(index=tmap(t.heap.index)), short=False)
    return t


def remap_subtype(st: SubType, tmap: Callable[[int], int]) -> SubType:
    c = st.composite
    nc: CompositeType
    if isinstance(c, FuncType):
        nc = FuncType(
            [remap_valtype(p, tmap) for p in c.params],
            [remap_valtype(r, tmap) for r in c.results],
        )
    elif isinstance(c, _model.StructType):  # (`gctypes`: loaded when not a function type)
        fields = [_model.FieldType(remap_valtype(f.storage, tmap), f.mutable) for f in c.fields]
        nc = _model.StructType(fields)
    else:
        e = c.element
        nc = _model.ArrayType(_model.FieldType(remap_valtype(e.storage, tmap), e.mutable))
    return SubType(nc, st.final, [tmap(s) for s in st.supers], st.explicit, st.shared)


def remap_rec_group(g: RecGroup, tmap: IndexMap) -> RecGroup:
    """Copy of ``g`` with every type index (supertypes, concrete heap types) remapped."""
    if tmap is None:
        return g
    f = tmap if callable(tmap) else tmap.__getitem__
    return RecGroup([remap_subtype(st, f) for st in g.types], g.explicit)


def remap_valtypes(ts: Sequence[ValType], tmap: Callable[[int], int]) -> list[ValType]:
    return [remap_valtype(t, tmap) for t in ts]


def direct_call_candidates(
    bodies: Sequence[bytes], funcs: Sequence[int], find_bytes: int
) -> dict[int, set[int]]:
    """Per body (by position), the ``funcs`` a `call` or `return_call` of which may occur in
    it, found by a bytes search for the opcode and the function's minimal LEB128 (candidates
    only: an immediate or a padded LEB may hold the same bytes, so decode to confirm; a
    padded `call` immediate is not found). Up to ``find_bytes`` searched (code size times
    functions), by `bytes.find` per needle; beyond, by one compiled pattern, which costs
    more to compile than small searches take."""
    import re
    from bisect import bisect_right

    starts = []
    pos = 0
    for b in bodies:
        starts.append(pos)
        pos += len(b)
    code = b"".join(bodies)
    hit: dict[int, set[int]] = {}
    ops = bytes((0x10, 0x12))  # call, return_call
    if len(code) * len(funcs) > find_bytes:
        alts = b"|".join(re.escape(uleb(f)) for f in sorted(funcs))
        # a lookahead, so overlapping candidates are all found; group 1 is the immediate
        pattern = re.compile(b"(?=[" + re.escape(ops) + b"](" + alts + b"))")
        for m in pattern.finditer(code):
            i = bisect_right(starts, m.start()) - 1
            hit.setdefault(i, set()).add(read_u(m.group(1), 0)[0])
        return hit
    for f in funcs:
        imm = uleb(f)
        for op in ops:
            needle = bytes((op,)) + imm
            at = code.find(needle)
            while at >= 0:
                hit.setdefault(bisect_right(starts, at) - 1, set()).add(f)
                at = code.find(needle, at + 1)
    return hit
