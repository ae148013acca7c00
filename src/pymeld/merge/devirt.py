"""Calls through a constant slot of a table that provably holds one function made direct.

wit-component does not give a module its lowered imports directly: a *shim* module exports
one function per import, each `call_indirect`ing one constant slot of the shim's table, and a
*fixup* module, instantiated once the imports exist, fills that table with an active element
segment. Fused, the adapter behind such an import is named only by that segment, so every
call pays an indirect call (bounds and signature checks) besides the adapter's own, and
`merge.inline_adapters` finds no call of the adapter to inline.

Here `i32.const k` right before `call_indirect y t` (or `return_call_indirect`) becomes
`call F` (`return_call F`) when, in the fused module, slot ``k`` of table ``t`` holds ``F``
whenever code can run:

* ``t`` is neither imported nor exported, so nothing outside the module reads or writes it;
* no code names ``t`` except in those indirect calls (any `table.set`, `fill`, `copy`, `init`,
  `grow`, `get` or `size` of it leaves the whole table alone). Only an input instance's code
  can name an input table (generated code uses none but the start code), so only the
  instances whose table index space holds ``t`` (`CallerInstance.tables`) are scanned;
* exactly one segment fills slot ``k``, with ``ref.func F`` (not null), and every segment
  into ``t`` has a constant offset: an active segment, applied before any code runs, or one
  the start function applies with `table.init` (a segment after an earlier instance's start
  function: `merge.segments`; wit-component's fixup comes after the instances it links, and
  a language runtime's constructors usually run in one of them). Code may run before the
  latter: the calls the start function made until then, and what they call; when any of
  that code makes an indirect call (it might be a call through ``t`` before it is filled,
  which must trap) or is too large to look through, the table is left (`_start_fills`). A
  part of the start code run after a foreign instance (`merge.foreign`) is not looked into:
  its tables are ``written``;
* ``F``'s type is the call's type: the same index, or two singleton rec groups with equal
  function types naming no concrete type in their parameters or results (so the same type
  once canonicalized). Otherwise the call stays (it traps).

Cost: a table is looked at only when the instances that can name it hold at most
`MAX_USER_CODE` bytes of code (a shim and its fixup hold a few hundred); a language runtime's
function table, called with computed slots from megabytes of code, is skipped without
decoding any of it. Callers with DWARF keep their calls (`dwarf.remap` maps their offsets).
"""

from __future__ import annotations

from collections.abc import Sequence

from pymeld.codec.core import instructions as ins
from pymeld.codec.core.emitter import Instrs
from pymeld.codec.core.model import (
    Code,
    Elem,
    ExternKind,
    FuncType,
    Module,
    RefType,
    SegmentMode,
    SubType,
)
from pymeld.merge.inline_adapters import CallerInstance

__all__ = ["MAX_START_REACH", "MAX_USER_CODE", "devirtualize"]

#: Most bytes of code the instances naming a table may hold for it to be looked at.
MAX_USER_CODE = 64 << 10
#: Most bytes of code looked through for what the start function runs before it fills a table.
MAX_START_REACH = 64 << 10

#: An indirect call through a constant slot: where its `i32.const` starts, where the call
#: ends, table, type, slot, and whether it is a tail call.
_Site = tuple[int, int, int, int, int, bool]

_I32_CONST, _CALL_INDIRECT, _RETURN_CALL_INDIRECT = 0x41, 0x11, 0x13
#: Every instruction with a table immediate other than the two indirect calls.
_TABLE_OPS = [k for k in ins.opcode_keys(ins.K_TABLE) if k not in ((-1, 0x11), (-1, 0x13))]


def devirtualize(
    out: Module,
    callers: Sequence[CallerInstance],
    written: set[int],
    targets: set[int] | None = None,
) -> int:
    """Make the provably constant indirect calls of ``callers``' code direct (see the module
    doc); each caller's ``called`` gets the functions its new calls name. ``written``: tables
    a part of the start code after part 0 fills (run after a foreign instance, so not looked
    into). ``targets``: only tables with a slot holding one of these are looked at (the
    adapters: a shim's table holds them, a program's own function table does not, and its
    code is the costly part to decode); None: any table. Returns how many calls were made
    direct."""
    imported_t = out.num_imported(ExternKind.TABLE)
    closed = set(range(imported_t, imported_t + len(out.tables))) - written
    closed -= {e.index for e in out.exports if e.kind == ExternKind.TABLE}
    users: dict[int, list[int]] = {}
    for i, c in enumerate(callers):
        for t in closed.intersection(c.tables):
            users.setdefault(t, []).append(i)
    if not users:
        return 0
    imported_f = out.num_imported(ExternKind.FUNC)
    small: dict[int, bool] = {}
    for t in sorted(users):
        for i in users[t]:
            if i not in small:
                small[i] = _code_size(out, callers[i], imported_f) <= MAX_USER_CODE
    tables = {t for t, us in users.items() if all(small[i] for i in us)}
    fills = _fills(out, tables)
    _start_fills(out, imported_f, tables, fills)
    tables = {t for t in tables if fills.get(t)}
    if targets is not None:
        tables = {t for t in tables if not targets.isdisjoint(fills[t].values())}
    if not tables:
        return 0
    sites: dict[int, tuple[CallerInstance, list[_Site]]] = {}  # code index → its sites
    for i in sorted({i for t in tables for i in users[t]}):
        c = callers[i]
        for k in _codes(c, imported_f):
            found, touched = _scan(out.codes[k].body, tables)
            tables -= touched
            if found and not c.debug:
                sites[k] = (c, found)
    func_types = out.func_type_indices()
    singles = _singleton_types(out)
    made = 0
    for k in sorted(sites):
        c, found = sites[k]
        edits: list[tuple[int, int, bytes]] = []
        for at, end, table, type_index, slot, tail in found:
            if table not in tables:
                continue
            f = fills[table].get(slot)
            if f is None or f < 0:  # (-1: null)
                continue
            if not _same_type(type_index, func_types[f], singles):
                continue
            call = Instrs().return_call(f) if tail else Instrs().call(f)
            edits.append((at, end, bytes(call.code)))
            c.called = c.called | {f}
        if edits:
            made += len(edits)
            _apply(out, k, edits)
    return made


def _codes(c: CallerInstance, imported_f: int) -> range:
    return range(c.first - imported_f, c.first - imported_f + c.count)


def _code_size(out: Module, c: CallerInstance, imported_f: int) -> int:
    """The bytes of ``c``'s code, counted until it exceeds `MAX_USER_CODE`."""
    size = 0
    for k in _codes(c, imported_f):
        size += len(out.codes[k].body)
        if size > MAX_USER_CODE:
            break
    return size


#: What fills a slot: the function (-1: null; None: unknown or filled twice).
_Fill = int | None


def _fill(slots: dict[int, _Fill], base: int, items: Sequence[int | None]) -> None:
    for j, f in enumerate(items):
        k = (base + j) & 0xFFFFFFFF
        slots[k] = f if k not in slots else None


def _fills(out: Module, tables: set[int]) -> dict[int, dict[int, _Fill]]:
    """Per table of ``tables``: slot → what its active segments fill it with. A table with a
    segment at a computed offset (it may fill any slot) leaves ``tables``."""
    fills: dict[int, dict[int, _Fill]] = {t: {} for t in tables}
    for e in out.elems:
        if e.mode != SegmentMode.ACTIVE or e.table not in fills:
            continue
        base = ins.const_i32_value(e.offset)
        if base is None:
            tables.discard(e.table)
            continue
        _fill(fills[e.table], base, _items(e))
    return fills


def _items(e: Elem) -> list[int | None]:
    return list(e.funcs) if e.funcs is not None else [ins.elem_expr_func(x) for x in e.exprs or ()]


def _start_fills(
    out: Module, imported_f: int, tables: set[int], fills: dict[int, dict[int, _Fill]]
) -> None:
    """Add the slots the start function fills (`i32.const` offset, `i32.const 0`, `i32.const`
    length, `table.init`: a segment deferred behind an earlier start function, see
    `merge.segments`) when no indirect call can run before: the closure of the calls the
    start function made until then (direct calls and `ref.func`) holds no body with an
    indirect call or a type immediate, and at most `MAX_START_REACH` bytes of code (else the
    table leaves ``tables``). A start function naming a table otherwise leaves it too."""
    if out.start is None or out.start < imported_f:
        return
    consts: list[tuple[int, int, int]] = []  # (start, end, value)
    calls: list[int] = []
    inits: list[tuple[int, int, int, int, int, int]] = []  # table, elem, at, from, n, calls
    odd = False

    def i32_const(data: bytes, at: int, pos: int) -> int:
        v, end = ins.read_s32(data, pos)
        consts.append((at, end, v))
        return end

    def call(data: bytes, at: int, pos: int) -> int:
        f, end = ins.read_u(data, pos)
        calls.append(f)
        return end

    def indirect(data: bytes, at: int, pos: int) -> int:
        nonlocal odd
        odd = True  # (the start code makes no such call: leave every table alone)
        return _skip_indices(data, at, pos, set(), set())

    def init(data: bytes, at: int, pos: int) -> int:
        e, pos = ins.read_u(data, pos)
        t, pos = ins.read_u(data, pos)
        c = consts[-3:]
        if len(c) == 3 and c[0][1] == c[1][0] and c[1][1] == c[2][0] and c[2][1] == at:
            inits.append((t, e, c[0][2], c[1][2], c[2][2], len(calls)))
        else:
            tables.discard(t)
        return pos

    def other(data: bytes, at: int, pos: int) -> int:
        touched: set[int] = set()
        pos = _skip_indices(data, at, pos, tables, touched)
        tables.difference_update(touched)
        return pos

    visits: ins.Visits = {k: other for k in _TABLE_OPS}
    visits[(0xFC, 12)] = init
    visits[(-1, _I32_CONST)] = i32_const
    visits[(-1, 0x10)] = call
    for op in (_CALL_INDIRECT, _RETURN_CALL_INDIRECT, 0x12, 0x14, 0x15):
        visits[(-1, op)] = indirect
    ins.scan_instructions(out.codes[out.start - imported_f].body, visits)
    if odd:
        tables.difference_update(t for t, *_ in inits)
        return
    reach: set[int] = set()
    work: list[int] = []
    budget = MAX_START_REACH
    done = 0
    for t, e, base, first, n, before in inits:
        if t not in tables:
            continue
        work += calls[done:before]
        done = before
        while work and budget >= 0:
            f = work.pop()
            if f in reach:
                continue
            reach.add(f)
            if f < imported_f:
                continue  # an import: the host or an earlier instance cannot call back in
            body = out.codes[f - imported_f].body
            uses = ins.scan_uses(body)
            budget -= len(body)
            if uses.tables or uses.types:
                budget = -1  # may reach anything
            work += uses.funcs
        items = _items(out.elems[e]) if e < len(out.elems) else []
        if budget < 0 or first < 0 or n < 0 or first + n > len(items):
            tables.discard(t)
            continue
        _fill(fills[t], base, items[first : first + n])


def _skip_indices(data: bytes, at: int, pos: int, tables: set[int], touched: set[int]) -> int:
    """The end of the index immediates of the instruction at ``at`` (from ``pos``), adding the
    ``tables`` it names to ``touched``."""
    op = data[at]
    imms: tuple[int, ...] | None
    if op == 0xFC:
        sub, _ = ins.read_u(data, at + 1)
        imms = ins.PREFIXED[op][sub]
    else:
        imms = ins.SINGLE[op]
    assert imms is not None
    for kind in imms:
        v, pos = ins.read_u(data, pos)
        if kind == ins.K_TABLE and v in tables:
            touched.add(v)
    return pos


def _scan(body: bytes, tables: set[int]) -> tuple[list[_Site], set[int]]:
    """The indirect calls of ``body`` through a constant slot of one of ``tables`` (start of
    the `i32.const`, end of the call, table, type, slot, tail call), and the ``tables`` it
    names otherwise."""
    found: list[_Site] = []
    touched: set[int] = set()
    const_at, const_end, const = -1, -1, 0

    def i32_const(data: bytes, at: int, pos: int) -> int:
        nonlocal const_at, const_end, const
        const, const_end = ins.read_s32(data, pos)
        const_at = at
        return const_end

    def indirect(data: bytes, at: int, pos: int) -> int:
        type_index, pos = ins.read_u(data, pos)
        table, pos = ins.read_u(data, pos)
        if at == const_end and table in tables:
            slot = const & 0xFFFFFFFF
            found.append(
                (const_at, pos, table, type_index, slot, data[at] == _RETURN_CALL_INDIRECT)
            )
        return pos

    def other(data: bytes, at: int, pos: int) -> int:
        return _skip_indices(data, at, pos, tables, touched)

    visits: ins.Visits = {k: other for k in _TABLE_OPS}
    visits[(-1, _I32_CONST)] = i32_const
    visits[(-1, _CALL_INDIRECT)] = indirect
    visits[(-1, _RETURN_CALL_INDIRECT)] = indirect
    ins.scan_instructions(body, visits)
    return found, touched


def _singleton_types(out: Module) -> dict[int, SubType]:
    """Each type alone in its rec group, by index."""
    singles: dict[int, SubType] = {}
    n = 0
    for g in out.types:
        if len(g.types) == 1:
            singles[n] = g.types[0]
        n += len(g.types)
    return singles


def _same_type(a: int, b: int, singles: dict[int, SubType]) -> bool:
    """Whether type indices ``a`` and ``b`` are provably the same function type at run time."""
    if a == b:
        return True
    x, y = singles.get(a), singles.get(b)
    if x is None or y is None or x != y:
        return False
    ft = x.composite
    return isinstance(ft, FuncType) and not any(
        isinstance(t, RefType) and t.heap.concrete for t in (*ft.params, *ft.results)
    )


def _apply(out: Module, k: int, edits: list[tuple[int, int, bytes]]) -> None:
    code = out.codes[k]
    body = code.body
    parts: list[bytes] = []
    last = 0
    for at, end, new in sorted(edits):
        parts += (body[last:at], new)
        last = end
    parts.append(body[last:])
    out.codes[k] = Code(code.locals, b"".join(parts), None, code.locals_raw)
