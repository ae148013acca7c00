"""Component-model async, passed through when one component instance owns all of it.

Fusing async *between* components would mean re-implementing the async runtime (tasks,
waitables, stream rendezvous, backpressure) in wasm. But the fused component is one instance,
and the runtime keeps exactly that state per instance. So when every piece of async machinery
of the composition — async built-ins, `async` lifts/lowers, stream/future/error-context values
crossing the host boundary — belongs to a single component instance (the *async instance*), the
wrapper re-creates those built-ins with the same immediates and the runtime does the rest:

* each used async built-in becomes an import of the fused module, module ``[async]``, named
  after the op (``[async] stream.read``, ``stream.read#2`` for the next one, ...), with the core
  signature of `CanonicalABI.md`; the wrapper satisfies it with ``canon <op>`` (through the
  shim/fixup indirection when the built-in needs the fused module's memory or realloc);
* `async` (+ `callback`) lifts of root exports and `async` lowers of host imports are emitted
  the same way by the wrapper.

That is exact only if the async instance's tasks are the wrapper's tasks, one for one. Hence the
refusals (`UnsupportedFeature`, naming the reason): async machinery in two or more instances; a
fused adapter edge that is async (either side, or an `async func` type) or carries a
stream/future/error-context; an adapter edge *into* the async instance (its built-ins would act
on the caller's task) or one whose caller-side realloc is the async instance's (the runtime runs
it in a fresh task); a root export lifted by another instance (after fusion it would share the
async instance's backpressure and task lock); resource handles in async signatures or payloads
(handle tables may be fused in-module); threading built-ins.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.abi import types as at
from pymeld.abi.layout import MAX_FLAT_PARAMS, flat_count, flatten_async_functype, flatten_types
from pymeld.codec.core.emitter import NUMTYPE as _VT
from pymeld.codec.core.model import NumType
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import Builtin, ExportItem, FlatGraph, HostFunc, InstanceExport, Lifted

if TYPE_CHECKING:
    from pymeld.merge.asyncfuse import FusedAsync

MODULE = "[async]"

I32, I64 = NumType.I32, NumType.I64

#: Core signatures of the fixed-shape async built-ins (`definitions.py`, canon_* functions).
_SIGS: dict[str, tuple[list[NumType], list[NumType]]] = {
    "backpressure.inc": ([], []),
    "backpressure.dec": ([], []),
    "task.cancel": ([], []),
    "thread.yield": ([], [I32]),
    "subtask.cancel": ([I32], [I32]),
    "subtask.drop": ([I32], []),
    "stream.new": ([], [I64]),
    "stream.read": ([I32, I32, I32], [I32]),
    "stream.write": ([I32, I32, I32], [I32]),
    "stream.cancel-read": ([I32], [I32]),
    "stream.cancel-write": ([I32], [I32]),
    "stream.drop-readable": ([I32], []),
    "stream.drop-writable": ([I32], []),
    "future.new": ([], [I64]),
    "future.read": ([I32, I32], [I32]),
    "future.write": ([I32, I32], [I32]),
    "future.cancel-read": ([I32], [I32]),
    "future.cancel-write": ([I32], [I32]),
    "future.drop-readable": ([I32], []),
    "future.drop-writable": ([I32], []),
    "error-context.new": ([I32, I32], [I32]),
    "error-context.debug-message": ([I32, I32], []),
    "error-context.drop": ([I32], []),
    "waitable-set.new": ([], [I32]),
    "waitable-set.wait": ([I32, I32], [I32]),
    "waitable-set.poll": ([I32, I32], [I32]),
    "waitable-set.drop": ([I32], []),
    "waitable.join": ([I32, I32], []),
}
_CONTEXT_VT = {0x7F: NumType.I32, 0x7E: NumType.I64}


def is_async_builtin(b: Builtin) -> bool:
    return not b.op.startswith("resource.")


def builtin_signature(b: Builtin) -> tuple[list[NumType], list[NumType]]:
    """The core function type of async built-in ``b``."""
    if b.op == "task.return":
        rts = [] if b.result is None else [b.result]
        if sum(flat_count(t) for t in rts) > MAX_FLAT_PARAMS:
            return [I32], []
        return [_VT[v] for v in flatten_types(rts)], []
    if b.op in ("context.get", "context.set"):
        vt = _CONTEXT_VT.get(b.valtype) if isinstance(b.valtype, int) else None
        if vt is None:
            raise UnsupportedFeature(f"`{b.op}` of core value type {b.valtype!r}")
        return ([], [vt]) if b.op == "context.get" else ([vt], [])
    sig = _SIGS.get(b.op)
    if sig is None:
        raise UnsupportedFeature(f"canonical built-in `{b.op}` (threading is not passed through)")
    return list(sig[0]), list(sig[1])


def async_lower_signature(ft: at.FuncType) -> tuple[list[NumType], list[NumType]]:
    core = flatten_async_functype(ft, "lower")
    return [_VT[p] for p in core.params], [_VT[r] for r in core.results]


def _is_async_type(ft: at.FuncType) -> bool:
    return ft.is_async or bool(at.async_values(ft))


@dataclass
class AsyncPlan:
    """The async instance (None: no async at all) and the async built-ins the output imports;
    ``fused`` when async spans instances and `merge.asyncfuse` restores their separate state."""

    owner: int | None = None
    builtins: list[int] = field(default_factory=list)
    fused: FusedAsync | None = None


def plan_async(
    g: FlatGraph, used: list[int], lowers: list[int], host_ends: bool = False
) -> AsyncPlan:
    """Pass async through when one instance owns it; else fuse it (stage 1 of issue 11) or
    refuse, naming what exact fusion would need (``host_ends``: see
    `merge.asynctask.plan_tasks`)."""
    try:
        return _plan_passthrough(g, used, lowers)
    except UnsupportedFeature:
        cross = [
            (g.lowers[li].owner, callee, li)
            for li in lowers
            if isinstance(callee := g.lowers[li].callee, Lifted)
            and callee.owner != g.lowers[li].owner
        ]
        for bi in used:
            b = g.builtins[bi]
            if is_async_builtin(b):
                builtin_signature(b)  # refuses threading built-ins
                # own handles in a stream/future payload move in merge.asyncpayload's copy
                # (the validator allows no borrow there); those in `task.return`'s result
                # move into the caller's table (`merge.asyncres`)
                if (at.handles(b.result) and b.op != "task.return") or any(
                    isinstance(h, at.Borrow) for h in at.handles(b.type)
                ):
                    raise UnsupportedFeature(
                        f"resource handles in the payload of `{b.op}` (a copy would move them "
                        "between the instances' resource tables inside the in-module "
                        "rendezvous: not fused yet)"
                    ) from None
        from pymeld.merge.asyncfuse import plan_fused  # loaded only to fuse async

        fused = plan_fused(g, used, lowers, _exported_lifts(g.exports), cross, host_ends)
        return AsyncPlan(None, list(fused.builtins), fused)


def _plan_passthrough(g: FlatGraph, used: list[int], lowers: list[int]) -> AsyncPlan:
    """Find the one async instance, or refuse what cannot be passed through exactly."""
    owners: dict[int, str] = {}  # instance → first reason it counts as async
    plan = AsyncPlan()

    def label(c: int) -> str:
        return g.components[c].label

    def no_handles(t: object, what: str) -> None:
        if at.handles(t):
            raise UnsupportedFeature(f"resource handles in {what} (async is passed through only)")

    for bi in used:
        b = g.builtins[bi]
        if not is_async_builtin(b):
            continue
        builtin_signature(b)  # refuses threading built-ins
        if b.type is not None and not isinstance(b.type, at.Stream | at.Future):
            raise UnsupportedFeature(f"`{b.op}` of a non-stream/future type")
        no_handles(b.type, f"the payload of `{b.op}`")
        if b.result is not None:
            no_handles(b.result, "a `task.return` result")
        owners.setdefault(b.owner, f"built-in `{b.op}`")
        plan.builtins.append(bi)
    cross: list[tuple[int, Lifted, bool]] = []  # caller, callee, caller has a realloc
    for li in lowers:
        lw = g.lowers[li]
        callee = lw.callee
        if isinstance(callee, HostFunc):
            if lw.opts.is_async or _is_async_type(callee.type):
                no_handles(callee.type, f"async host import `{'/'.join(callee.path)}`")
                owners.setdefault(lw.owner, f"async lower of `{'/'.join(callee.path)}`")
            continue
        if lw.opts.is_async or callee.opts.is_async or _is_async_type(callee.type):
            raise UnsupportedFeature(
                f"async call from component instance {label(lw.owner)} to {label(callee.owner)} "
                "(async lift/lower, `async func` or stream/future/error-context across "
                "instances would need the async runtime inside the fused module)"
            )
        cross.append((lw.owner, callee, lw.opts.realloc is not None))
    exported = _exported_lifts(g.exports)
    for path, lf in exported:
        if lf.opts.is_async or lf.opts.callback is not None or _is_async_type(lf.type):
            if lf.opts.is_async:
                no_handles(lf.type, f"async export `{path}`")
            owners.setdefault(lf.owner, f"async export `{path}`")
    if len(owners) > 1:
        which = "; ".join(f"{label(c)} ({why})" for c, why in sorted(owners.items()))
        raise UnsupportedFeature(
            f"async machinery in {len(owners)} component instances: {which}; each keeps its "
            "own tasks, waitables and streams, which one fused instance cannot"
        )
    if not owners:
        return plan
    (owner,) = owners
    plan.owner = owner
    for caller, callee, realloc in cross:
        if caller == callee.owner:
            continue  # an instance calling its own export: the adapter traps, as wasmtime does
        if callee.owner == owner:
            raise UnsupportedFeature(
                f"component instance {label(caller)} calls the async instance {label(owner)} "
                "through a fused adapter (its built-ins would act on the caller's task)"
            )
        if caller == owner and realloc:
            raise UnsupportedFeature(
                f"the async instance {label(owner)} lowers a call to {label(callee.owner)} with "
                "its realloc, which the runtime runs in a fresh task (context slots differ)"
            )
    for path, lf in exported:
        if lf.owner != owner:
            raise UnsupportedFeature(
                f"root export `{path}` of component instance {label(lf.owner)} would share the "
                f"async instance {label(owner)}'s backpressure and task lock after fusion"
            )
    return plan


def _exported_lifts(exports: list[tuple[str, ExportItem]]) -> list[tuple[str, Lifted]]:
    out: list[tuple[str, Lifted]] = []

    def walk(path: str, item: ExportItem) -> None:
        if isinstance(item, Lifted):
            out.append((path, item))
        elif isinstance(item, InstanceExport):
            for n, sub in item.exports:
                walk(f"{path}/{n}", sub)

    for name, item in exports:
        walk(name, item)
    return out
