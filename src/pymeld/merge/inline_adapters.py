"""Inlining generated adapters into the input functions that call them.

Cranelift (wasmtime's default compiler) does not inline calls between wasm functions, so a
fused cross-component call pays a full call for its adapter: the frame, the saved registers,
the engine's stack check, and the arguments and results moved through the calling convention.
On benchmarks/cases/variant-mix.wat that call was about half of the time of a whole
cross-component call. This pass runs once every body of the fused module is final and replaces
each verified `call A` of an adapter ``A`` in an input function by ``A``'s body
(`codec.core.inline.inline_call`, each body decoded once: `InlinePlan`).

Call sites are found cheaply: only the bodies of the instances whose imports became ``A`` can
call it (or, after `merge.devirt`, a wit-component shim whose `call_indirect` it made a
`call A`: `CallerInstance.called`), and in those the call's immediate was re-encoded by the
body rewrite, so it is the canonical LEB128 of ``A`` (unless the import had ``A``'s index
already: see `CallerInstance`): one regular-expression search over the instance's code finds
every candidate, and only the bodies with a candidate are decoded to confirm it is an
instruction. The element segment that fills the shim's table still names ``A``, so ``A``
keeps its body there.
The merger does not run this pass beside in-module async state (`merge.unwind` rewrites
callers afterwards, and the async task code names adapters as unwind barriers).

``A`` is inlined when the copies add at most `DUP_BYTES` of code: one copy per call site,
less the body itself when that can then be dropped (replaced by `unreachable`: every reference
to ``A`` was an inlined call). Duplicated code costs compile time in wasmtime, linearly: about
0.6 us of Cranelift CPU per byte per copy (200 call sites of a 33/129/513-byte adapter-like
body: 17.4 ms of compile CPU called, 23.8/38.2/85.7 ms inlined), so `DUP_BYTES` bounds the
extra compile time at about 0.6 ms per adapter, while an adapter called from one place, the
common case and the one a hot loop has, is always moved into its caller. Kept as they are:
tail calls of ``A`` (`return_call`), callers with DWARF (`dwarf.remap` maps their code
offsets), bodies larger than `MAX_CALLER_BODY` (not decoded: too slow in Python), callers
that would exceed wasmtime's 50 000 locals, and bodies `inline_call` declines.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymeld._dataclass import dataclass
from pymeld.codec.core import instructions as ins
from pymeld.codec.core.emitter import Instrs
from pymeld.codec.core.inline import InlinePlan
from pymeld.codec.core.model import Code, ExternKind, FuncType, Local, Module, SubType, ValType

__all__ = ["CallerInstance", "inline_adapters"]

#: Most bytes of code the copies of one adapter may add (see the module doc).
DUP_BYTES = 1024
#: Caller bodies larger than this are not decoded (Python walks ~10 MB/s); their calls stay.
MAX_CALLER_BODY = 1 << 20
#: wasmtime's limit on a function's locals (parameters included).
MAX_LOCALS = 50_000
#: Up to this many bytes searched in all (code size times adapters), needles are found by
#: `bytes.find`; beyond, by one compiled regular expression.
FIND_BYTES = 4 << 20
#: What a dropped adapter body becomes: `unreachable` (nothing calls it any more).
DROPPED = bytes(Instrs().op("unreachable").end().code)


@dataclass
class CallerInstance:
    """One module instance's functions in the fused module.

    ``first``: output index of its first defined function; ``count``: how many it defines;
    ``adapters``: import position → the adapter that import became; ``debug``: it carries
    DWARF (never inlined into). When an import's position equals its adapter's index the
    body rewrite kept the call's immediate as the input encoded it (maybe padded): such an
    adapter is inlined only where the search finds it, and its body is kept. ``tables``: the
    output tables its code can name (its table index space: `merge.devirt` scans only these
    instances for a table's uses); ``called``: functions its code now calls that are not its
    imports (indirect calls `merge.devirt` made direct: a wit-component shim's), searched
    like the adapters its imports became.
    """

    first: int
    count: int
    adapters: dict[int, int]
    debug: bool = False
    tables: tuple[int, ...] = ()
    called: frozenset[int] = frozenset()


@dataclass
class _Adapter:
    type_index: int
    params: list[ValType]
    locals: list[ValType]
    body: bytes


def inline_adapters(
    out: Module, adapters: Sequence[int], callers: Sequence[CallerInstance], first_generated: int
) -> dict[str, int]:
    """Inline the ``adapters`` (function indices) of ``out`` into the functions of ``callers``
    (see the module doc); returns the counts ``--stats`` shows."""
    imported = out.num_imported(ExternKind.FUNC)
    subtypes = [t for g in out.types for t in g.types]
    cands: dict[int, _Adapter] = {}
    for a in sorted(set(adapters)):
        code = out.codes[a - imported]
        ft = subtypes[out.funcs[a - imported]].composite
        if not isinstance(ft, FuncType):
            continue
        locs = [loc.type for loc in code.locals for _ in range(loc.count)]
        cands[a] = _Adapter(out.funcs[a - imported], list(ft.params), locs, code.body)
    stats = {"adapters_inlined": 0, "adapter_calls_inlined": 0, "adapter_bodies_dropped": 0}
    if not cands:
        return stats
    kept = _referenced_outside_code(out, cands)  # bodies that must stay
    generated = [c.body for c in out.codes[first_generated - imported :]]
    for i, funcs in sorted(_hit_bodies(generated, list(cands)).items()):
        if len(generated[i]) > MAX_CALLER_BODY:
            kept |= funcs
            continue
        found, tail = _calls(generated[i], funcs)
        kept |= {f for _, _, f in found} | (tail & funcs)
    sites: dict[int, list[tuple[int, int, int]]] = {a: [] for a in cands}  # code, at, end
    for c in callers:
        wanted = {a for a in c.adapters.values() if a in cands} | (c.called & cands.keys())
        if not wanted:
            continue
        if c.debug:
            kept |= wanted
            continue
        kept |= {a for j, a in c.adapters.items() if j == a}
        _find_sites(out, c.first - imported, c.count, wanted, sites, kept)
    chosen: dict[int, list[tuple[int, int, int]]] = {}
    plans: dict[int, InlinePlan] = {}  # each chosen body decoded once, copied per site
    for a, found in sites.items():
        ad = cands[a]
        copies = len(found) - (a not in kept)  # the body itself goes where it is dropped
        if not found or copies * len(ad.body) > DUP_BYTES:
            continue
        plan = InlinePlan.of(ad.body, ad.type_index, ad.params, ad.locals)
        if plan is not None:  # (the body qualifies: see `codec.core.inline.inline_call`)
            chosen[a] = found
            plans[a] = plan
    by_caller: dict[int, list[tuple[int, int, int]]] = {}
    for a, found in chosen.items():
        for k, at, end in found:
            by_caller.setdefault(k, []).append((at, end, a))
    for k in sorted(by_caller):
        done = _inline_into(out, k, sorted(by_caller[k]), cands, plans, subtypes)
        if not done:
            kept |= {a for _, _, a in by_caller[k]}
            for _, _, a in by_caller[k]:
                chosen[a] = [s for s in chosen[a] if s[0] != k]
    for a in sorted(chosen):
        if not chosen[a]:
            continue
        stats["adapters_inlined"] += 1
        stats["adapter_calls_inlined"] += len(chosen[a])
        if a not in kept:
            out.codes[a - imported] = Code([], DROPPED)
            stats["adapter_bodies_dropped"] += 1
    return stats


def _hit_bodies(bodies: Sequence[bytes], funcs: Sequence[int]) -> dict[int, set[int]]:
    """Per body (by position), the ``funcs`` whose call or tail call may occur in it."""
    return ins.direct_call_candidates(bodies, funcs, FIND_BYTES)


def _calls(body: bytes, funcs: set[int]) -> tuple[list[tuple[int, int, int]], set[int]]:
    """The `call f` (start, end, f) of ``body`` for ``f`` in ``funcs``, and every function it
    tail-calls (the body is decoded: these are instructions)."""
    found: list[tuple[int, int, int]] = []
    tail: set[int] = set()

    def call(data: bytes, at: int, p: int) -> int:
        f, end = ins.read_u(data, p)
        if f in funcs:
            found.append((at, end, f))
        return end

    def tail_call(data: bytes, at: int, p: int) -> int:
        f, end = ins.read_u(data, p)
        tail.add(f)
        return end

    ins.scan_instructions(body, {(-1, 0x10): call, (-1, 0x12): tail_call})
    return found, tail


def _referenced_outside_code(out: Module, cands: dict[int, _Adapter]) -> set[int]:
    """Adapters referenced by an export, element segment, global, table initializer or the
    start function. (A `ref.func` in a body needs one of those too: validation's C.refs.)"""
    refs: set[int] = {e.index for e in out.exports if e.kind == ExternKind.FUNC}
    if out.start is not None:
        refs.add(out.start)
    exprs: list[bytes] = [g.init for g in out.globals]
    exprs += [t.init for t in out.tables if t.init is not None]
    for e in out.elems:
        refs.update(e.funcs or ())
        for x in e.exprs or ():
            f = ins.elem_expr_func(x)  # `ref.func f` / `ref.null`: most elements
            if f is None:
                exprs.append(x)
            else:
                refs.add(f)
    refs |= ins.const_expr_funcs(exprs)
    return {a for a in cands if a in refs}


def _find_sites(
    out: Module,
    k0: int,
    count: int,
    wanted: set[int],
    sites: dict[int, list[tuple[int, int, int]]],
    kept: set[int],
) -> None:
    """Add the confirmed `call a` sites (code index, start, end) of ``a`` in ``wanted`` in
    codes ``k0 .. k0 + count``; adapters with a site that cannot be inlined go to ``kept``."""
    bodies = [c.body for c in out.codes[k0 : k0 + count]]
    for i, funcs in sorted(_hit_bodies(bodies, sorted(wanted)).items()):
        if len(bodies[i]) > MAX_CALLER_BODY:
            kept |= funcs
            continue
        found, tail = _calls(bodies[i], wanted)
        kept |= tail & wanted
        for at, end, f in found:
            sites[f].append((k0 + i, at, end))


def _inline_into(
    out: Module,
    k: int,
    calls: list[tuple[int, int, int]],
    cands: dict[int, _Adapter],
    plans: dict[int, InlinePlan],
    subtypes: list[SubType],
) -> bool:
    """Replace the ``calls`` (start, end, adapter; in body order) in code ``k`` by the
    adapters' ``plans``; each adapter gets one set of fresh locals shared by its sites (each
    site sets and zeroes them first). False (nothing changed) when the locals would exceed
    `MAX_LOCALS`."""
    code = out.codes[k]
    ft = subtypes[out.funcs[k]].composite
    assert isinstance(ft, FuncType)
    n = len(ft.params) + sum(loc.count for loc in code.locals)
    new_locals = list(code.locals)
    inline: dict[int, bytes] = {}
    for a in sorted({a for _, _, a in calls}):
        ad = cands[a]
        inline[a] = plans[a].at(n)
        for t in (*ad.params, *ad.locals):
            if new_locals and new_locals[-1].type == t:
                new_locals[-1] = Local(new_locals[-1].count + 1, t)
            else:
                new_locals.append(Local(1, t))
        n += len(ad.params) + len(ad.locals)
    if n > MAX_LOCALS:
        return False
    parts: list[bytes] = []
    last = 0
    for at, end, a in calls:
        parts += (code.body[last:at], inline[a])
        last = end
    parts.append(code.body[last:])
    out.codes[k] = Code(new_locals, b"".join(parts))
    return True
