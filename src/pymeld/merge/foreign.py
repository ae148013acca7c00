"""Instances of imported core modules: where the output instantiates them, and what crosses.

A core module the composition imports is unknown until run time, so it cannot be merged: the
output component keeps the import and instantiates the module itself (`pymeld.wrap`), beside
the fused module. What each side uses of the other crosses as core imports and exports: the
fused module imports a foreign instance's exports (module name `module_name`), and a foreign
instance's imports bound to fused code are exports of the fused module.

Instantiation order is kept exactly. A foreign instance the fused code imports from is *early*:
it must exist before the fused module, so it cannot import fused code (host functions lowered
without memory are lowered for it by the wrapper), and
every module instance the original instantiated before it must be invisible to it at that
point (no start function, no active segment that can trap: `silent`). Every other foreign
instance is *late*: it is instantiated after the fused module, at its place in the original
order, because the fused module's start sequence is split there: the part before runs as the
fused module's start function, each part after a late instance as a fused export the wrapper
calls (through a one-line start module) right after instantiating it. Segments after a split
point are initialised by their part, not at instantiation. An instance that imports fused code
while the fused code imports from it (a cycle) is late when the fused code only calls its
functions: the fused module imports them from a shim (`pymeld.wrap.indirect`) whose table is
filled right after the instance is made, before any code instantiated after it runs; sharing a
memory, table or global both ways is refused by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field

from pymeld._dataclass import dataclass
from pymeld.codec.core.model import (
    Data,
    Elem,
    ExternKind,
    FuncImport,
    FuncType,
    MemoryType,
    Module,
    NumType,
    SegmentMode,
    TableType,
)
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import CoreRef, DefRef, FlatGraph, ForeignInstance, ForeignRef

PAGE_LOG2 = 16


def module_name(index: int) -> str:
    """The fused module's import module name for foreign instance ``index``'s exports (no
    component import name starts with ``[``, so no host import can clash)."""
    return f"[core-instance]{index}"


@dataclass
class ForeignPlan:
    """What the merger and the wrapper need of the foreign instances.

    ``early``/``late``: foreign indices instantiated before/after the fused module, each in
    original order. ``imports``: the foreign exports the fused module imports, in import
    order. ``provided[(k, i)]``: the fused export bound to late instance ``k``'s ``i``-th
    import. ``host[(k, i)]``: the host import (`HostImport.index`) early instance ``k``'s
    ``i``-th import is, lowered by the wrapper itself. ``indirect[k]``: the functions (name,
    params, results) the fused code imports from late instance ``k`` through a shim, filled
    once ``k`` exists (its other imports would close a cycle). ``resume[k]``: the fused export running
    the start sequence's part after late instance ``k`` (absent when that part is empty).
    """

    instances: list[ForeignInstance] = field(default_factory=list)
    early: list[int] = field(default_factory=list)
    late: list[int] = field(default_factory=list)
    imports: list[ForeignRef] = field(default_factory=list)
    provided: dict[tuple[int, int], str] = field(default_factory=dict)
    host: dict[tuple[int, int], int] = field(default_factory=dict)
    indirect: dict[int, list[tuple[str, list[NumType], list[NumType]]]] = field(
        default_factory=dict
    )
    resume: dict[int, str] = field(default_factory=dict)

    def chunk_of(self, instance: int) -> int:
        """The part of the start sequence module instance ``instance`` runs in: how many late
        foreign instances the original instantiated before it."""
        return sum(1 for k in self.late if self.instances[k].position <= instance)


def plan_foreign(
    graph: FlatGraph, needed: dict[ForeignRef, str], host: Callable[[CoreRef], int | None]
) -> ForeignPlan:
    """Split the foreign instances into early and late; ``needed`` maps each foreign export the
    fused code uses to a description of the use (for messages); ``host(ref)`` is the host
    import a bound function is when the wrapper can lower it before the fused module exists
    (else None). Refuses, naming the instances, what cannot be instantiated in the original
    order."""
    plan = ForeignPlan(graph.foreign)
    if not graph.foreign:
        return plan
    # instances that need the fused module to exist: the first import that says so
    blocked: dict[int, tuple[int, CoreRef]] = {}
    for fi in graph.foreign:
        for i, ref in enumerate(fi.imports):
            if isinstance(ref, ForeignRef) and ref.instance not in blocked:
                continue
            if isinstance(ref, ForeignRef) or host(ref) is None:
                blocked[fi.index] = (i, ref)
                break
    why: dict[int, str] = {}
    uses: dict[int, list[ForeignRef]] = {}
    for ref, use in sorted(needed.items(), key=lambda kv: (kv[0].instance, kv[0].name)):
        why.setdefault(ref.instance, f"{use} uses its export `{ref.name}`")
        uses.setdefault(ref.instance, []).append(ref)
    early: set[int] = set()
    for k in sorted(why):
        fi = graph.foreign[k]
        if k not in blocked:
            _make_early(graph, plan, k, early, host)
            continue
        sigs = [_plain_sig(fi, ref) for ref in uses[k]]
        if all(sig is not None for sig in sigs):  # functions only: called through a shim
            plan.indirect[k] = [(ref.name, *sig) for ref, sig in zip(uses[k], sigs) if sig]
            continue
        i, bound = blocked[k]
        imp = fi.sig.imports[i]
        raise UnsupportedFeature(
            f"imported core module instance {fi.label} (of `{'/'.join(fi.path)}`) and the "
            f"fused code need each other: {why[k]}, and its import `{imp.module}` "
            f"`{imp.name}` is {_describe(graph, bound)}; one instantiation order cannot "
            "satisfy both (only functions of such an instance can be called from fused code)"
        )
    if early:
        last = max(early)
        for k in range(last):
            if k in early:
                continue
            fi = graph.foreign[k]
            if k in blocked:
                raise UnsupportedFeature(
                    f"imported core module instance {fi.label} imports "
                    f"{_describe(graph, blocked[k][1])}, so it is instantiated after the fused "
                    f"code, but it precedes {graph.foreign[last].label}, which is instantiated "
                    f"before the fused code ({why[last]})"
                )
            _make_early(graph, plan, k, early, host)
        first = graph.foreign[last]
        for mi in graph.instances[: first.position]:
            noise = _noise(graph, mi.index)
            if noise is not None:
                raise UnsupportedFeature(
                    f"{mi.label} has {noise}, which runs at instantiation before imported core "
                    f"module instance {first.label}; that instance must be instantiated before "
                    f"the fused code ({why[last]}), which would change the order"
                )
    plan.early = sorted(early)
    plan.late = [k for k in range(len(graph.foreign)) if k not in early]
    plan.imports = sorted(needed, key=lambda r: (r.instance, _export_pos(graph, r)))
    return plan


def _make_early(
    graph: FlatGraph,
    plan: ForeignPlan,
    k: int,
    early: set[int],
    host: Callable[[CoreRef], int | None],
) -> None:
    """Instantiate ``k`` (which needs no fused code) and what it imports from before the fused
    module; the host functions it imports are lowered by the wrapper."""
    if k in early:
        return
    early.add(k)
    for i, ref in enumerate(graph.foreign[k].imports):
        if isinstance(ref, ForeignRef):
            _make_early(graph, plan, ref.instance, early, host)
        else:
            index = host(ref)
            assert index is not None
            plan.host[(k, i)] = index


def _plain_sig(fi: ForeignInstance, ref: ForeignRef) -> tuple[list[NumType], list[NumType]] | None:
    """A function export's signature when it has only number types (what a shim forwards)."""
    exp = fi.sig.export(ref.name)
    if exp is None or not isinstance(exp.desc, FuncImport):
        return None
    ft = fi.sig.stub.subtypes()[exp.desc.type_index].composite
    if not isinstance(ft, FuncType):
        return None
    params = [t for t in ft.params if isinstance(t, NumType)]
    results = [t for t in ft.results if isinstance(t, NumType)]
    if len(params) != len(ft.params) or len(results) != len(ft.results):
        return None
    return params, results


def _export_pos(graph: FlatGraph, ref: ForeignRef) -> int:
    sig = graph.foreign[ref.instance].sig
    return next(i for i, e in enumerate(sig.exports) if e.name == ref.name)


def _describe(graph: FlatGraph, ref: CoreRef) -> str:
    if isinstance(ref, DefRef):
        return f"a {ref.kind.name.lower()} of {graph.instances[ref.instance].label}"
    if isinstance(ref, ForeignRef):
        return f"export `{ref.name}` of {graph.foreign[ref.instance].label}"
    return (
        "a function only the fused code can provide (a built-in, an adapter, or a host "
        "function lowered with memory, handles or `async`)"
    )


# -- silent instantiation ----------------------------------------------------------------------


def _noise(graph: FlatGraph, inst: int) -> str | None:
    """What module instance ``inst`` does observably at instantiation (None: nothing): a start
    function, or an active segment that is not provably in bounds (it could trap)."""
    mi = graph.instances[inst]
    m = mi.module
    if m.start is not None:
        return "a start function"
    for i, d in enumerate(m.datas):
        if d.mode == SegmentMode.ACTIVE and not _data_fits(graph, inst, d):
            return f"active data segment {i}, which may be out of bounds"
    for i, e in enumerate(m.elems):
        if e.mode == SegmentMode.ACTIVE and not _elem_fits(graph, inst, e):
            return f"active element segment {i}, which may be out of bounds"
    return None


def _const_offset(expr: bytes | None) -> int | None:
    """``i32.const k; end`` → k (unsigned), else None."""
    from pymeld.codec.binary import Reader

    if not expr or expr[0] != 0x41 or expr[-1] != 0x0B:
        return None
    r = Reader(expr, 1)
    try:
        v = r.s32()
    except Exception:
        return None
    return v & 0xFFFFFFFF if r.pos == len(expr) - 1 else None


def _min_size(graph: FlatGraph, inst: int, kind: ExternKind, index: int) -> int | None:
    """The initial size (bytes for a memory, elements for a table) ``inst``'s memory/table
    ``index`` has at least, following imports to the definition."""
    m: Module = graph.instances[inst].module
    n_imp = m.num_imported(kind)
    t: MemoryType | TableType | None
    if index >= n_imp:
        local = index - n_imp
        t = m.memories[local] if kind == ExternKind.MEMORY else m.tables[local].type
    else:
        pos = [i for i, imp in enumerate(m.imports) if imp.kind == kind][index]
        ref = graph.instances[inst].imports[pos]
        if isinstance(ref, DefRef):
            return _min_size(graph, ref.instance, kind, ref.index)
        if not isinstance(ref, ForeignRef):
            return None
        exp = graph.foreign[ref.instance].sig.export(ref.name)
        desc = None if exp is None else exp.desc
        t = desc if isinstance(desc, MemoryType | TableType) else None
    if t is None:
        return None
    if isinstance(t, MemoryType):
        return t.limits.min << (t.limits.page_size_log2 or PAGE_LOG2)
    return t.limits.min


def _data_fits(graph: FlatGraph, inst: int, d: Data) -> bool:
    at = _const_offset(d.offset)
    size = _min_size(graph, inst, ExternKind.MEMORY, d.memory)
    return at is not None and size is not None and at + len(d.init) <= size


def _elem_fits(graph: FlatGraph, inst: int, e: Elem) -> bool:
    at = _const_offset(e.offset)
    size = _min_size(graph, inst, ExternKind.TABLE, e.table)
    n = len(e.funcs) if e.funcs is not None else len(e.exprs or [])
    return at is not None and size is not None and at + n <= size
