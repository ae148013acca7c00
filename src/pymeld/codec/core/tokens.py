"""Index rewriting of function bodies with the instruction walk done by the `re` engine.

`instructions.patch_sites` walks a body in Python, one loop turn per instruction; on large
inputs (millions of instructions) that loop is most of fusion. Here one compiled regular
expression, generated from the same opcode tables, cuts a body into runs of instructions
without index immediates and *tokens*: each instruction that has one (with all its immediates),
each block opener and each `end`. `re.split` does the whole walk in C; a token is decoded once
per distinct token (`Rewriter.decoded`) and rewritten once per index map (`TokenMap`), so
rewriting a body is a C-level `map` over its tokens and one `join`.

Exactness: the expression accepts only the plain subset `patch_sites` handles (single-byte
sub-opcodes, LEBs no longer than `_walk` reads them, `br_table` with under 128 targets, no
typed references, GC, SIMD, threads or legacy exceptions). Everything else becomes a one-byte
*bad* token, and a body with one, with a bad nesting of blocks, or whose token does not
decode or map, gives None: the caller takes the general path (`instructions.rewrite_body`),
which gives the exact result or error. On the bodies accepted the output is the same bytes:
an index that does not change keeps its original encoding, a changed one is minimal LEB128.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import accumulate
from operator import itemgetter

from pymeld.codec.binary import sleb, uleb

from .instructions import (
    B4,
    B8,
    BLOCK,
    BRTABLE,
    K_FUNC,
    K_GLOBAL,
    K_MEM,
    K_TABLE,
    K_TYPE,
    LEB,
    MEMARG,
    PREFIXED,
    SINGLE,
    U32,
    IndexMaps,
    _read_s33,
    _read_u,
)

__all__ = ["Rewriter", "TokenMap", "tokenize"]

_FC = 0xFC
_END = 0x0B
#: block, loop, if: the openers whose block type may be a type index (legacy `try` and
#: `try_table` are not in the subset: they need catch clauses).
_OPENERS = (0x02, 0x03, 0x04)
_SIMPLE_BLOCKTYPES = (0x40, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F, *range(0x68, 0x76))
#: A decoded token: the bytes before its first index immediate, then per immediate its key
#: (``kind | value << 4``), its original bytes and the bytes after it. The kind is an index
#: kind (0..7), `_MEM0` (a memarg without a memory index: the value is its flags) or
#: `_BLOCKTYPE` (a block type index, signed LEB).
_MEM0 = 8
_BLOCKTYPE = 9
Decoded = tuple[bytes, list[tuple[int, bytes, bytes]]]
#: A token's kind by its first byte (`_kinds`): what it does to the block depth.
_CLOSES, _KEEPS, _OPENS, _BAD = b"\x00", b"\x01", b"\x02", b"\x03"
#: Passes of `_nests` that take out innermost blocks; deeper nesting is summed up instead.
NEST_PASSES = 32


def _cls(ops: list[int]) -> bytes:
    return b"[" + b"".join(b"\\x%02x" % op for op in sorted(ops)) + b"]"


#: The index immediates of the most frequent index instructions, most frequent first:
#: `global.get`/`set`, `call` (and `return_call`, `ref.func`), `call_indirect`.
_INDEX_ORDER: tuple[tuple[int, ...], ...] = ((K_GLOBAL,), (K_FUNC,), (K_TYPE, K_TABLE))


def _pattern() -> re.Pattern[bytes]:
    """``(run)(token)``, repeated: `re.split` gives ``[b'', run, token, b'', run, ...]``.

    A run is possessive (no backtracking) and a token always matches (a bad byte, or the empty
    end of the body), so matches are contiguous: the split covers the body in order.

    The engine tries alternatives in order, so the frequent ones come first (in compiled
    code: a one-byte LEB128 after a local or constant opcode; memory accesses, `end`, blocks,
    `global.get`/`set`, calls); reordering them changes no match, as no two alternatives can
    match at the same place (their first bytes, or a first byte and the next, differ) except
    the bad byte and the end of the body, which stay last (9% fewer instructions in the split
    of a 36.7 MB composition's code).
    """
    leb10 = rb"[\x80-\xff]{0,9}[\x00-\x7f]"  # `_skip_leb`: at most 10 bytes
    leb5 = rb"[\x80-\xff]{0,4}[\x00-\x7f]"  # `_read_u` (range checked when decoded)
    none, leb, b4, b8, memarg = [], [], [], [], []
    index: dict[tuple[int, ...], list[int]] = {}
    for op, imms in enumerate(SINGLE):
        if imms is None or op in _OPENERS or op == _END:
            continue
        if imms == ():
            none.append(op)
        elif imms in ((U32,), (LEB,)) and op != 0x18:  # delegate closes a legacy try
            leb.append(op)
        elif imms == (B4,):
            b4.append(op)
        elif imms == (B8,):
            b8.append(op)
        elif imms == (MEMARG,):
            memarg.append(op)
        elif imms and all(0 <= k < 8 for k in imms):
            index.setdefault(imms, []).append(op)
    fc_none = [sub for sub, imms in PREFIXED[_FC].items() if imms == () and sub < 0x80]
    fc_index: dict[int, list[int]] = {}
    for sub, imms in PREFIXED[_FC].items():
        if imms and sub < 0x80:
            assert all(0 <= k < 8 for k in imms), (sub, imms)
            fc_index.setdefault(len(imms), []).append(sub)
    (brtable,) = [op for op, imms in enumerate(SINGLE) if imms == (BRTABLE,)]
    targets = b"|".join(b"\\x%02x(?:%s){%d}" % (n, leb10, n + 1) for n in range(0x80))
    run = [  # most frequent first: locals, constants, branches; then numeric instructions
        _cls(leb) + rb"[\x00-\x7f]",
        _cls(leb) + rb"[\x80-\xff]{1,9}[\x00-\x7f]",
        _cls(none),
        _cls(b4) + b"[\\x00-\\xff]{4}",
        _cls(b8) + b"[\\x00-\\xff]{8}",
        b"\\x%02x" % _FC + _cls(fc_none),
        b"\\x%02x(?:%s)" % (brtable, targets),
    ]
    frequent = {imms: _INDEX_ORDER.index(imms) for imms in _INDEX_ORDER}
    token = [
        _cls(memarg) + rb"(?:[\x00-\x3f]|[\x40-\x7f]" + leb5 + b")" + leb10,
        b"\\x%02x" % _END,
        _cls(list(_OPENERS)) + _cls(list(_SIMPLE_BLOCKTYPES)),
        *(
            _cls(ops) + leb5 * len(imms)
            for imms, ops in sorted(index.items(), key=lambda kv: (frequent.get(kv[0], 9), kv))
        ),
        _cls(list(_OPENERS)) + rb"[\x80-\xff]{0,4}[\x00-\x3f]",  # a type index (s33 >= 0)
        *(b"\\x%02x" % _FC + _cls(subs) + leb5 * n for n, subs in sorted(fc_index.items())),
        rb"[\x00-\xff]",  # bad: not in the subset, or malformed
        rb"\Z",
    ]
    return re.compile(b"((?:" + b"|".join(run) + b")*+)(" + b"|".join(token) + b")")


def _kinds() -> bytes:
    """A token's kind by its first byte, as a `bytes.translate` table: an opener, `end`, a
    token that keeps the depth, or `_BAD` (a byte no token starts with)."""
    d = bytearray(_BAD * 256)
    for op, imms in enumerate(SINGLE):
        if imms is None or imms == () or op == 0x18:
            continue
        if imms == (MEMARG,) or all(0 <= k < 8 for k in imms):
            d[op] = _KEEPS[0]
    for op in _OPENERS:
        d[op] = _OPENS[0]
    d[_END] = _CLOSES[0]
    d[_FC] = _KEEPS[0]
    return bytes(d)


def _nests(kinds: bytes) -> bool:
    """Whether tokens of these kinds (the last one an `end`) close the body at the last token
    and not before: without the tokens that keep the depth, what precedes the final `end`
    must be balanced. Taking out innermost blocks (an opener just before an `end`) keeps a
    sequence balanced or unbalanced, and a few passes of `bytes.replace` empty it for most
    code; what deeper nesting leaves is checked by its prefix sums (all >= 0, the last 0).
    Bytes-wide work: a prefix sum per token was a fifth of cutting a body into tokens."""
    inner = kinds.translate(None, _KEEPS)[:-1]
    for _ in range(NEST_PASSES):
        fewer = inner.replace(_OPENS + _CLOSES, b"")
        if len(fewer) == len(inner):  # not empty: no innermost block, so an `end` comes first
            return not inner  # or an opener last
        inner = fewer
    if not inner:
        return True
    depth = list(accumulate(map(_STEP.__getitem__, inner)))
    return depth[-1] == 0 and min(depth) >= 0


_SPLIT: Callable[[bytes], list[bytes]] | None = None  # compiled when first used (~7 ms)
_KIND = _kinds()
_STEP = {_OPENS[0]: 1, _CLOSES[0]: -1}
_FIRST = itemgetter(0)
#: How a well-formed body's split ends: its final `end`, the empty match at the end of the
#: body (between, run, token) and the text after it.
_TAIL = [bytes([_END]), b"", b"", b"", b""]


def tokenize(body: bytes) -> list[bytes] | None:
    """``[run, token, run, token, ...]`` of a function body (final `end` included): joined
    back it is ``body``; the tokens are ``[1::2]``. None: not in the subset or malformed, or
    its blocks do not nest (an `end` at depth 0 before the last byte)."""
    global _SPLIT
    if _SPLIT is None:
        _SPLIT = _pattern().split
    parts = _SPLIT(body)
    if parts[-5:] != _TAIL:
        return None
    del parts[-4:]
    del parts[::3]  # the empty text between two matches
    kinds = bytes(map(_FIRST, parts[1::2])).translate(_KIND)
    if _BAD in kinds or not _nests(kinds):  # (the last token is the final `end`: `_TAIL`)
        return None
    return parts


def decode(token: bytes) -> Decoded | None:
    """A token's index immediates (None: a bad token, or an immediate out of range)."""
    try:
        return _decode(token)
    except Exception:
        return None


def _decode(token: bytes) -> Decoded | None:
    op = token[0]
    pos = 1
    if op == _FC:
        sub, pos = _read_u(token, 1)
        imms = PREFIXED[_FC].get(sub)
    else:
        imms = SINGLE[op]
    if imms is None:
        return None
    head = token[:pos]
    if imms == (MEMARG,):
        flags, p = _read_u(token, pos)
        if flags & 0x40:
            mem, q = _read_u(token, p)  # the offset after it: checked by the expression
            return token[:p], [(K_MEM | mem << 4, token[p:q], token[q:])]
        return head, [(_MEM0 | flags << 4, token[pos:p], token[p:])]
    if imms == (BLOCK,):
        if len(token) == 2 and token[1] in _SIMPLE_BLOCKTYPES:
            return token, []
        v, p = _read_s33(token, pos)
        if v < 0 or p != len(token):
            return None
        return head, [(_BLOCKTYPE | v << 4, token[pos:], b"")]
    if op == _END:
        return (token, []) if len(token) == 1 else None
    out = []
    for k in imms:
        if not 0 <= k < 8:
            return None
        v, p = _read_u(token, pos)
        out.append((k | v << 4, token[pos:p], b""))
        pos = p
    return (head, out) if pos == len(token) and out else None


class _Unmapped(Exception):
    """A token that does not decode or whose index has no mapping: take the general path."""


class Rewriter:
    """Caches shared by the rewrites of one fusion: each distinct token decoded once."""

    __slots__ = ("decoded",)

    def __init__(self) -> None:
        self.decoded: dict[bytes, Decoded | None] = {}

    def table(self, maps: IndexMaps) -> TokenMap:
        return TokenMap(self, maps)


class TokenMap(dict[bytes, bytes]):
    """Token -> rewritten token under one `IndexMaps`, filled as tokens are first seen."""

    __slots__ = ("maps", "new", "rewriter")

    def __init__(self, rewriter: Rewriter, maps: IndexMaps) -> None:
        super().__init__()
        self.rewriter = rewriter
        self.maps = maps.as_list()
        #: immediate key -> its new encoding, or None when the index does not change
        self.new: dict[int, bytes | None] = {}

    def __missing__(self, token: bytes) -> bytes:
        decoded = self.rewriter.decoded
        d = decoded[token] if token in decoded else decoded.setdefault(token, decode(token))
        if d is None:
            raise _Unmapped
        out, imms = d
        new = self.new
        for key, orig, after in imms:
            if key in new:
                e = new[key]
            else:
                e = new[key] = self._encode(key)
            out += (orig if e is None else e) + after
        self[token] = out
        return out

    def _encode(self, key: int) -> bytes | None:
        """The new encoding of the immediate ``key`` (None: unchanged, keep its bytes)."""
        k, v = key & 15, key >> 4
        maps = self.maps
        try:
            if k < 8:
                m = maps[k]
                nv = v if m is None else m(v)
                return None if nv == v else uleb(nv)
            if k == _MEM0:
                m = maps[K_MEM]
                nv = 0 if m is None else m(0)
                return None if nv == 0 else uleb(v | 0x40) + uleb(nv)
            m = maps[K_TYPE]
            nv = v if m is None else m(v)
            return None if nv == v else sleb(nv)
        except (IndexError, KeyError):
            raise _Unmapped from None


def rewrite(parts: list[bytes], table: TokenMap, *, reuse: bool = False) -> bytes | None:
    """The body `tokenize` cut into ``parts``, with every token rewritten by ``table`` (None:
    a token does not decode or map; the general path gives the error). ``reuse``: ``parts``
    is not needed again and may be overwritten."""
    out = parts if reuse else parts.copy()
    try:
        out[1::2] = map(table.__getitem__, parts[1::2])
    except _Unmapped:
        return None
    return b"".join(out)
