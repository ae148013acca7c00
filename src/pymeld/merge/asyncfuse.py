"""Async across former component instances, stage 1 (issue 11): what needs no in-module tasks.

The fused component is one instance, so the runtime keeps *one* handle table, task lock,
backpressure counter and set of context slots where the original had one per instance. When
the composition's cross-instance calls are all synchronous adapters (`merge.asyncpass` passes
through the rest only when one instance owns all async), this module restores the per-instance
state that is observable:

* **Handle tables.** Handle numbers are observable, so every instance that holds stream/future
  ends (`virtual`) gets its own table with wasmtime's numbering (`HandleTable`: index 0 never
  used, fresh indices in order, freed ones reused last-in first-out). Entry ``i`` of an
  instance's table lives at ``16*i`` of its own memory: the runtime's handle (every end still
  lives in the runtime's one table), a type tag (0 = free), the local state, a free-list link.
  Each of the instance's stream/future built-ins becomes a generated function translating its
  handle and calling the runtime's built-in; the local state mirrors wasmtime's
  `TransmitLocalState` (busy after BLOCKED until a cancel finishes; done once the other end was
  seen dropped; a future whose value was read) because the transfer checks need it.
* **Passing ends through sync adapters.** A readable end crossing an adapter moves from the
  source instance's table to the destination's (wasmtime's `stream_transfer`: trap unless a
  readable end of that type that is not busy, not done, not read), keeping the runtime handle.
  The runtime allows both ends of one stream/future in one instance only for payloads of none
  or numbers, so ends of other payload types never cross here: such a composition takes the
  in-module path of stage 2 and later (`merge.asyncpayload`'s rendezvous).
* **`context.*` around sync adapters.** Each adapter call is a new task in the original, and so
  is each `realloc` an adapter runs: the caller's slots are saved, the slots are zero for the
  callee (its post-return sees what it set), and restored when the call returns.
* **Backpressure counter.** Instances other than the one whose exports the runtime enters
  (`task_instance`) keep `backpressure.inc/dec` as an in-module u16 counter (overflow and
  underflow trap as in wasmtime); nothing enters them asynchronously, so the gate never closes.
  A sync call of an `async func` is gated too (wasmtime's `start_call`): a composition making
  one into an instance with backpressure takes the in-module path, whose gates close.
* `task.return`/`task.cancel` of an instance that only ever runs synchronous tasks trap, as
  they do in the original.

* Resource handles of the same instances (`merge.asyncres`): numbered with the waitables from
  one index space per instance (`resources.space`), as wasmtime's one table does.

Waits beside ends or sets created inside adapter calls take the in-module path of stage 2
(`_plan_with_tasks`): the runtime's sets would order their simultaneous events by ids that
fused calls do not reproduce. So do shapes whose per-instance task state the runtime's one
task would hide: async root exports beside root exports of other instances (one task lock
and backpressure would gate them all), an `async func` called through an adapter by a task
that may not block or under an async-lifted root (its may-block state), `thread.yield`
outside the instance the host enters (a suspended stack). Every other shape is refused by
name (`UnsupportedFeature`) in `plan_fused`: waitable sets and subtasks beside fused tables,
stream/future ends crossing the host boundary from a fused table, resource/waitable mixes
`merge.asyncres` cannot number exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import field
from functools import partial
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.abi import types as at
from pymeld.codec.core.emitter import Body, CoreValType
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import Builtin, FlatGraph, HostFunc, Lifted
from pymeld.merge.asyncpayload import flat_payload
from pymeld.plan import FuncCode, FuncItem, GlobalItem, Plan, Space
from pymeld.resources.space import shared_space

if TYPE_CHECKING:
    from pymeld.abi.adapter import ResourceOps
    from pymeld.merge.asyncres import Tables
    from pymeld.merge.asynctask import TaskPlan, TaskRuntime

GROUP = "async"

# Local state bits of a stream/future entry (wasmtime `TransmitLocalState`, plus the future's
# "value taken" that wasmtime keeps in the shared state but only the read end can observe).
WRITE, BUSY, DONE, TAKEN, JOINED = 1, 2, 4, 8, 16
_SET = "waitable-set"  # the tag key of waitable-set entries
_WAITABLE_OPS = frozenset(
    {
        "waitable-set.new",
        "waitable-set.drop",
        "waitable-set.wait",
        "waitable-set.poll",
        "waitable.join",
    }
)
BLOCKED = 0xFFFFFFFF
_BACKPRESSURE_MAX = 0xFFFF  # wasmtime's counter is a u16


def count_backpressure(b: Body, g: int, inc: bool) -> None:
    """`backpressure.inc`/`dec` on the counter global ``g``: wasmtime's counter is a u16, and
    leaving its range traps."""
    if inc:
        b.global_get(g).i32(_BACKPRESSURE_MAX).op("i32.eq").trap_if()
        b.global_get(g).i32(1).op("i32.add").global_set(g)
    else:
        b.global_get(g).op("i32.eqz").trap_if()
        b.global_get(g).i32(1).op("i32.sub").global_set(g)


#: Built-ins that may block the calling task (without `async`): the runtime checks the *current*
#: task, so in the fused module they are only exact where that task is the original's.
_BLOCKING = frozenset(
    {
        "waitable-set.wait",
        "thread.yield",
        "stream.read",
        "stream.write",
        "future.read",
        "future.write",
        "stream.cancel-read",
        "stream.cancel-write",
        "future.cancel-read",
        "future.cancel-write",
        "subtask.cancel",
    }
)
_COPY_OPS = frozenset(
    {
        "stream.new",
        "stream.read",
        "stream.write",
        "stream.cancel-read",
        "stream.cancel-write",
        "stream.drop-readable",
        "stream.drop-writable",
        "future.new",
        "future.read",
        "future.write",
        "future.cancel-read",
        "future.cancel-write",
        "future.drop-readable",
        "future.drop-writable",
    }
)
_TASK_OPS = frozenset({"task.return", "task.cancel"})
_CREATE_OPS = frozenset({"stream.new", "future.new", "waitable-set.new"})


def blocks(b: Builtin) -> bool:
    """Whether ``b`` may suspend the calling task (its form without `async`)."""
    if b.op in ("waitable-set.wait", "thread.yield"):
        return True  # the flag byte of these is `cancellable`, not `async`
    if "cancel" in b.op:
        return b.op in _BLOCKING and not b.flag
    return b.op in _BLOCKING and not (b.opts is not None and b.opts.is_async)


def carried(t: object) -> Iterator[at.ValType]:
    """The stream/future/error-context handles a value of type ``t`` carries (not the ones
    inside a stream's or future's payload: those move only when the payload is copied)."""
    if isinstance(t, at.Stream | at.Future | at.ErrorContext):
        yield t
        return
    for c in at.children(t):
        yield from carried(c)


def _payload_crosses(callee: Lifted) -> bool:
    """Whether a stream/future end of another payload than none or numbers crosses a call to
    ``callee``: its copies need the in-module rendezvous (`merge.asyncpayload`)."""
    return any(
        isinstance(v, at.Stream | at.Future) and not flat_payload(v) for v in carried(callee.type)
    )


@dataclass(slots=True)
class FusedAsync:
    """Stage-1 plan: which instances get tables, counters and trapping stand-ins."""

    task_instance: int | None  # the instance whose exports the runtime enters (None: several)
    virtual: list[int] = field(default_factory=list)  # instances with in-module handle tables
    counters: list[int] = field(default_factory=list)  # in-module backpressure counters
    context: list[tuple[int, int]] = field(default_factory=list)  # (valtype, slot) saved
    traps: list[int] = field(default_factory=list)  # built-ins that always trap here
    builtins: list[int] = field(default_factory=list)  # built-ins the runtime still provides
    tasks: TaskPlan | None = None  # in-module tasks (merge.asynctask), stage 2
    shared: list[int] = field(default_factory=list)  # one index space for resources + waitables
    inmodule_resources: bool = False  # every resource handle in-module (merge.asyncres)


def plan_fused(
    g: FlatGraph,
    used: list[int],
    lowers: list[int],
    exported: list[tuple[str, Lifted]],
    cross: list[tuple[int, Lifted, int]],
    host_ends: bool = False,
) -> FusedAsync:
    """Stage-1 fusion of ``g``'s async, or `UnsupportedFeature` naming what it would need.

    ``cross`` lists the adapter edges (caller instance, callee, lower index) between distinct
    instances; ``exported`` the root export lifts by path; ``host_ends``: see
    `merge.asynctask.plan_tasks`.
    """

    def label(c: int) -> str:
        return g.components[c].label

    builtins = [g.builtins[bi] for bi in used if not g.builtins[bi].op.startswith("resource.")]
    roots = {lf.owner for _, lf in exported}
    async_roots = [
        (p, lf)
        for p, lf in exported
        if lf.opts.is_async or lf.opts.callback is not None or lf.type.is_async
    ]
    if any(
        g.lowers[li].opts.is_async
        or callee.opts.is_async
        or callee.opts.callback is not None
        or _payload_crosses(callee)  # the runtime copies no such payload in one instance
        for _, callee, li in cross
    ):  # per-instance gating of the root exports: merge.asyncroot
        return _plan_with_tasks(g, used, lowers, exported, cross, label, host_ends)
    gated = {b.owner for b in builtins if b.op.startswith("backpressure.")}
    if any(callee.type.is_async and callee.owner in gated for _, callee, _ in cross):
        # wasmtime's `start_call` gates a sync call of an `async func` too: while the callee
        # instance's backpressure is raised the caller blocks (or deadlocks). Stage 1's
        # counters never close a gate; the in-module scheduler's do (`merge.asynctask`).
        return _plan_with_tasks(g, used, lowers, exported, cross, label, host_ends)
    if len(roots) == 1 and any(
        g.lowers[li].opts.is_async
        and isinstance(g.lowers[li].callee, HostFunc)
        and g.lowers[li].owner not in roots
        for li in lowers
    ):  # a host subtask outside the instance the host calls: in-module tables (asynchost)
        return _plan_with_tasks(g, used, lowers, exported, cross, label, host_ends)
    if async_roots and any(callee.owner in roots for _, callee, _ in cross):
        # a root also entered through adapters: a task per call there, beside the host's
        # (`merge.asyncroot.check_called_roots`)
        return _plan_with_tasks(g, used, lowers, exported, cross, label, host_ends)
    if len(roots) > 1 and async_roots:
        # the host enters several instances, one of them asynchronously: in one fused instance
        # the runtime's one task lock and backpressure would hold every instance's exports up;
        # the in-module path drives async root tasks itself (`merge.asyncroot`), so none keeps
        # the runtime's instance entered (and refuses a root instance's backpressure there)
        return _plan_with_tasks(g, used, lowers, exported, cross, label, host_ends)
    for b in builtins:  # own handles move between in-module tables only (merge.asyncpayload)
        if isinstance(b.type, at.Stream | at.Future) and at.handles(b.type):
            raise UnsupportedFeature(
                f"resource handles in the payload of `{b.op}` without in-module tasks (the "
                "runtime's copy would keep them in the fused instance's one table: not fused yet)"
            )
    task_inst = next(iter(roots)) if len(roots) == 1 else None
    fa = FusedAsync(task_inst)
    # -- cross-instance calls: synchronous adapters only ---------------------------------------
    async_entries: set[int] = set()  # instances entered through an `async func` adapter
    sync_entries: set[int] = set()
    holders: set[int] = set()  # instances that hold stream/future/waitable handles
    for caller, callee, li in cross:
        lw = g.lowers[li]
        if lw.opts.is_async or callee.opts.is_async or callee.opts.callback is not None:
            which = "async lower" if lw.opts.is_async else "async lift"
            raise UnsupportedFeature(
                f"{which} of a call from component instance {label(caller)} to "
                f"{label(callee.owner)} (needs in-module tasks and subtasks: issue 11 stage 2)"
            )
        (async_entries if callee.type.is_async else sync_entries).add(callee.owner)
        for v in carried(callee.type):
            if isinstance(v, at.ErrorContext):
                raise UnsupportedFeature(
                    f"error-context passed from component instance {label(caller)} to "
                    f"{label(callee.owner)} (error-context tables are not fused)"
                )
            assert isinstance(v, at.Stream | at.Future)
            assert flat_payload(v)  # the others take the in-module path (_payload_crosses)
            holders.update((caller, callee.owner))
    if task_inst is not None and task_inst in async_entries | sync_entries:
        raise UnsupportedFeature(
            f"component instance {label(task_inst)}, whose exports the host calls, is also "
            "called through a fused adapter (one task per call there: needs in-module tasks, "
            "issue 11 stage 2)"
        )
    for caller, callee, _ in cross:
        if callee.type.is_async and caller in sync_entries:
            # wasmtime's sync→sync adapter traps (CannotBlockSyncTask) when the caller's task
            # may not block; an instance entered synchronously runs such tasks, whose may-block
            # state the in-module path keeps
            return _plan_with_tasks(g, used, lowers, exported, cross, label, host_ends)
    if async_entries and (not async_roots or len(async_roots) != len(exported)):
        return _plan_with_tasks(g, used, lowers, exported, cross, label, host_ends)
    if any(lf.opts.is_async or lf.opts.callback is not None for _, lf in async_roots) and (
        async_entries
    ):
        return _plan_with_tasks(g, used, lowers, exported, cross, label, host_ends)
    # -- host boundary -------------------------------------------------------------------------
    for li in lowers:
        lw = g.lowers[li]
        hf = lw.callee
        if not isinstance(hf, HostFunc):
            continue
        path = "/".join(hf.path)
        if lw.opts.is_async:
            holders.add(lw.owner)
            if lw.owner != task_inst:
                raise UnsupportedFeature(
                    f"async lower of host import `{path}` in component instance "
                    f"{label(lw.owner)} beside async in other instances (needs in-module "
                    "subtasks: issue 11 stage 2)"
                )
        elif hf.type.is_async and lw.owner != task_inst:
            raise UnsupportedFeature(
                f"blocking call of host `async func` `{path}` in component instance "
                f"{label(lw.owner)}, which runs only synchronous tasks after fusion"
            )
        if any(True for _ in carried(hf.type)):
            holders.add(lw.owner)
    for _, lf in exported:
        if any(True for _ in carried(lf.type)):
            holders.add(lf.owner)
    # -- built-ins -----------------------------------------------------------------------------
    for b in builtins:
        if b.op.startswith("error-context."):
            raise UnsupportedFeature(f"`{b.op}` beside async in several component instances")
        if b.op in _COPY_OPS or b.op.startswith("waitable") or b.op.startswith("subtask."):
            holders.add(b.owner)
    # wasmtime hands out simultaneous events of one waitable set in the order of its internal
    # table ids; the tasks of adapter calls take ids the fused calls do not, so waitables
    # created inside an adapter call can be ordered differently after fusion.
    callees = {callee.owner for _, callee, _ in cross}
    makers = sorted(
        {b.owner for b in builtins if b.owner in callees and b.op in _CREATE_OPS},
    )
    waits = [b.op for b in builtins if b.op in ("waitable-set.wait", "waitable-set.poll")] + [
        f"callback of `{p}`" for p, lf in exported if lf.opts.callback is not None
    ]
    if makers and waits:
        # In-module sets (stage 2 and 3) order events themselves, trapping where wasmtime's
        # order is not reproduced; the plain adapters become sync edges there.
        return _plan_with_tasks(g, used, lowers, exported, cross, label, host_ends)
    # One holder keeps the runtime's numbering; two or more need a table each. So does a single
    # holder whose runtime numbers would be shifted by another instance's resource handles.
    virtual = sorted(holders) if len(holders) > 1 else []
    try:
        tables = _check_resources(g, used, lowers, exported, virtual, sorted(holders), label)
    except UnsupportedFeature:
        if virtual or not holders:
            raise
        virtual = sorted(holders)
        tables = _check_resources(g, used, lowers, exported, virtual, virtual, label)
    fa.virtual = virtual
    _check_runtime_boundary(g, lowers, exported, builtins, set(virtual), label)
    fa.shared, fa.inmodule_resources = tables.shared, tables.inmodule
    for bi in used:
        b = g.builtins[bi]
        if b.op.startswith("resource."):
            continue
        inst = b.owner
        if b.owner in virtual:
            if b.op.startswith("subtask."):
                raise UnsupportedFeature(
                    f"`{b.op}` in component instance {label(inst)} beside stream/future ends "
                    "of other instances (subtask tables: issue 11 stage 2)"
                )
            if (
                b.op not in _COPY_OPS
                and b.op not in _WAITABLE_OPS
                and b.op not in _TASK_OPS
                and not b.op.startswith(("context.", "backpressure."))
            ):
                raise UnsupportedFeature(
                    f"`{b.op}` in component instance {label(inst)} with an in-module handle "
                    "table (issue 11 stage 2)"
                )
        if inst != task_inst:
            if b.op in _TASK_OPS:
                fa.traps.append(bi)  # no async-lifted task ever runs there: the runtime traps
                continue
            if b.op.startswith("backpressure."):
                fa.counters.append(bi)
                continue
            if blocks(b) and (inst in sync_entries or inst not in async_entries):
                raise UnsupportedFeature(
                    f"blocking `{b.op}` (no `async`) in component instance {label(inst)}, "
                    "which runs synchronous tasks whose blocking the runtime could not see "
                    "after fusion (issue 11 stage 2)"
                )
            if b.op == "thread.yield":  # a suspended stack: the in-module path's (or refusal)
                return _plan_with_tasks(g, used, lowers, exported, cross, label, host_ends)
        if b.op.startswith("context."):
            assert isinstance(b.valtype, int) and isinstance(b.index, int)
            if (b.valtype, b.index) not in fa.context:
                fa.context.append((b.valtype, b.index))
        fa.builtins.append(bi)
    # Only adapters save and restore slots; without them the runtime's per-task slots are exact.
    fa.context = sorted(fa.context) if cross else []
    return fa


def _plan_with_tasks(
    g: FlatGraph,
    used: list[int],
    lowers: list[int],
    exported: list[tuple[str, Lifted]],
    cross: list[tuple[int, Lifted, int]],
    label: Callable[[int], str],
    host_ends: bool,
) -> FusedAsync:
    """Stage 2: async calls between instances as in-module tasks (`merge.asynctask`)."""
    from pymeld.merge.asynctask import plan_tasks

    tp = plan_tasks(g, used, lowers, exported, cross, label, host_ends)
    from pymeld.merge.asyncres import check_task_resources

    tables = check_task_resources(g, used, lowers, exported, tp, label)
    fa = FusedAsync(tp.task_instance, tasks=tp, shared=tables.shared)
    fa.inmodule_resources = tables.inmodule
    handled = {*tp.table_ops, *tp.contexts, *tp.returns, *tp.cancels, *tp.backpressure}
    # in-module ends (asyncstream) never call the runtime's built-in; one whose payload
    # carries handles of a composition-defined resource could not even be declared there
    handled |= {bi for bi in tp.ends if at.handles(g.builtins[bi].type)}
    # beside their stand-ins, the runtime's `task.return` for a host-called task's return
    fa.builtins += [*tp.host_returns, *(bi for bi in tp.root_returns if bi in tp.returns)]
    for bi in used:
        b = g.builtins[bi]
        if bi in handled or b.op.startswith("resource."):
            continue
        if b.op in _TASK_OPS and b.owner not in tp.roots:
            fa.traps.append(bi)  # no task there returns or is cancelled through it
        elif b.op.startswith("backpressure.") and b.owner not in tp.roots:
            fa.counters.append(bi)  # nothing enters it asynchronously: the gate never closes
        else:
            fa.builtins.append(bi)  # the task instance's backpressure: the runtime's
    fa.context = [(0x7F, slot) for slot in tp.slots]  # in-module globals (asynctask)
    if tp.root_returns and (0x7F, 0) not in fa.context:  # a driven root task's record
        fa.context.insert(0, (0x7F, 0))
    return fa


def _check_resources(
    g: FlatGraph,
    used: list[int],
    lowers: list[int],
    exported: list[tuple[str, Lifted]],
    virtual: list[int],
    holders: list[int],
    label: Callable[[int], str],
) -> Tables:
    """Stage 1 beside resources: one numbering per instance (`merge.asyncres`), and no root
    export needing both a stream/future and a resource-handle stand-in."""
    from pymeld.merge.asyncres import Where, check_tables

    where: Where = "in-module" if virtual else "runtime"
    tables = check_tables(
        g, used, lowers, exported, dict.fromkeys(holders, where), bool(virtual), label
    )
    for path, lf in exported:
        if (
            lf.owner in virtual
            and tables.resources.get(lf.owner) == "in-module"
            and at.handles(lf.type)
            and any(True for _ in carried(lf.type))
        ):
            raise UnsupportedFeature(
                f"root export `{path}` carries resource handles and stream/future ends of "
                "in-module tables beside async (needs one stand-in translating both: not "
                "fused yet, issue 11)"
            )
    return tables


def _check_runtime_boundary(
    g: FlatGraph,
    lowers: list[int],
    exported: list[tuple[str, Lifted]],
    builtins: list[Builtin],
    virtual: set[int],
    label: Callable[[int], str],
) -> None:
    """Handles the runtime hands to or takes from an instance with an in-module table would
    be the runtime's numbers, not the instance's: refuse until they are translated."""

    def refuse(what: str, inst: int) -> UnsupportedFeature:
        return UnsupportedFeature(
            f"{what} of component instance {label(inst)}, whose stream/future handles are "
            "numbered in-module (translation at the runtime boundary: issue 11 stage 2)"
        )

    for li in lowers:
        lw = g.lowers[li]
        if isinstance(lw.callee, HostFunc) and lw.owner in virtual:
            path = "/".join(lw.callee.path)
            if lw.opts.is_async:
                raise refuse(f"async lower of host import `{path}` (a subtask handle)", lw.owner)
            if any(True for _ in carried(lw.callee.type)):
                raise refuse(f"stream/future/error-context in host import `{path}`", lw.owner)
    for path, lf in exported:
        if lf.owner not in virtual:
            continue
        if lf.opts.callback is not None:
            raise refuse(f"callback of root export `{path}` (events)", lf.owner)
        if any(True for _ in carried(lf.type)) and not _flat_ends(lf):
            raise refuse(
                f"stream/future/error-context in root export `{path}` (other than flat "
                "params and result without post-return)",
                lf.owner,
            )
    for b in builtins:
        if b.owner not in virtual:
            continue
        if any(True for _ in carried(b.result)):
            raise refuse(f"stream/future result of `{b.op}`", b.owner)
        elem = b.type.elem if isinstance(b.type, at.Stream | at.Future) else None
        if any(True for _ in carried(elem)):
            raise refuse(f"stream/future/error-context payload of `{b.op}`", b.owner)


def _flat_ends(lf: Lifted) -> bool:
    """The export's ends are all flat parameters or its flat result (translatable one by one
    at the boundary), with no post-return that would see the translated result."""
    from pymeld.abi.layout import MAX_FLAT_PARAMS, flat_count

    ft = lf.type
    if lf.opts.is_async or lf.opts.post_return is not None:
        return False
    if sum(flat_count(t) for t in ft.param_types()) > MAX_FLAT_PARAMS:
        return False
    for t in [*ft.param_types(), *ft.result_type()]:
        ends = list(carried(t))
        if ends and not (len(ends) == 1 and ends[0] is t and isinstance(t, at.Stream | at.Future)):
            return False
    return True


# -- generated code -----------------------------------------------------------------------------


@dataclass(slots=True)
class AsyncLookups:
    """Output indices `AsyncFusion` needs from the merger (read only while emitting)."""

    host_builtin: Callable[[int], int]  # the runtime's built-in import for graph built-in bi
    context_import: Callable[[str, int, int], int]  # (op, valtype, slot) → import
    memory: Callable[[Builtin], int]  # the memory of waitable-set.wait/poll (output index)
    core_func: Callable[[Lifted], int]  # a root export's core function
    func: Callable[[object], int] | None = None  # any core function reference (stage 2)
    # lower index → (caller, callee) canonical options as the edge's adapter uses them
    edge_opts: Callable[[int], tuple[at.CanonOptions, at.CanonOptions]] | None = None
    # (own type, from instance, to instance) → the in-module resource tables' own transfer
    own_transfer: Callable[[at.Own, int, int], FuncItem] | None = None
    host_import: Callable[[int], int] | None = None  # lower index → its host import
    # op → the runtime's built-in imported for host subtasks (`merge.asynchost.RUNTIME_OPS`)
    host_runtime: Callable[[str], int] | None = None


class _Ops:
    """The stream/future part of `abi.adapter.ResourceOps` for one adapter edge."""

    def __init__(self, fusion: AsyncFusion, caller: int, callee: int) -> None:
        self.fusion, self.caller, self.callee = fusion, caller, callee

    def transfer(self, t: at.Stream | at.Future, to_callee: bool) -> int:
        src, dst = (self.caller, self.callee) if to_callee else (self.callee, self.caller)
        return self.fusion.transfer(t, src, dst).index


class EdgeOps:
    """`abi.adapter.ResourceOps` of an adapter edge: resource handles to ``resources`` (None:
    they pass unchanged), stream/future ends to ``ends``."""

    def __init__(self, resources: ResourceOps | None, ends: _Ops) -> None:
        self.resources, self.ends = resources, ends

    def transfer(
        self, t: at.Own | at.Borrow | at.Stream | at.Future, to_callee: bool
    ) -> int | None:
        if isinstance(t, at.Stream | at.Future):
            return self.ends.transfer(t, to_callee)
        return None if self.resources is None else self.resources.transfer(t, to_callee)


class AsyncFusion:
    """Plans and emits the stage-1 state: tables, built-in stand-ins, transfers, context."""

    def __init__(self, g: FlatGraph, plan: Plan, fa: FusedAsync, lookups: AsyncLookups) -> None:
        self.g, self.p, self.fa, self.look = g, plan, fa, lookups
        self.tags: dict[object, int] = {_SET: 1}
        self._builtins: dict[int, FuncItem] = {}
        self._counters: dict[int, GlobalItem] = {}
        self._exports: list[tuple[Lifted, FuncItem]] = []
        self.tasks: TaskRuntime | None = None

    # -- planning ------------------------------------------------------------------------------
    def plan(self, exported: list[Lifted]) -> None:
        if self.fa.tasks is not None:
            from pymeld.merge.asynctask import TaskRuntime

            assert self.look.func is not None and self.look.edge_opts is not None
            self.tasks = TaskRuntime(
                self.g,
                self.p,
                self.fa.tasks,
                self.look.func,
                self.look.memory,
                self.look.edge_opts,
                self.look.host_builtin,
                self.look.context_import,
                self.look.own_transfer,
                self.look.host_import,
                self.look.host_runtime,
            )
            self.tasks.plan(exported)
        if self.fa.virtual:
            self.p.add_memory(GROUP, "rev")  # runtime handle → local index (events)
        for inst in self.fa.virtual:
            for op in ("add", "get", "remove"):
                self._func(op, inst)
            self.p.add_global(GROUP, ("next", inst), init=1)
            self.p.add_global(GROUP, ("free", inst))
            self.p.add_memory(GROUP, inst)
        for bi in self.fa.traps:
            self._builtins[bi] = self._func("trap", bi)
        for bi in self.fa.counters:
            inst = self.g.builtins[bi].owner
            if inst not in self._counters:
                self._counters[inst] = self.p.add_global(GROUP, ("backpressure", inst))
            self._builtins[bi] = self._func("backpressure", bi)
        for bi in self.fa.builtins:
            b = self.g.builtins[bi]
            if b.owner in self.fa.virtual and b.op in _COPY_OPS:
                assert isinstance(b.type, at.Stream | at.Future)
                self.tag(b.type)
                self._builtins[bi] = self._func("builtin", bi)
            elif b.owner in self.fa.virtual and b.op in _WAITABLE_OPS:
                self._builtins[bi] = self._func("waitable", bi)
        for lf in exported:
            if lf.owner in self.fa.virtual and any(True for _ in carried(lf.type)):
                for t in [*lf.type.param_types(), *lf.type.result_type()]:
                    if isinstance(t, at.Stream | at.Future):
                        self.tag(t)
                key = ("export", len(self._exports))
                self._exports.append((lf, self.p.add_func(GROUP, key, partial(self._export, lf))))

    def export_callback(self, lf: Lifted) -> int | None:
        """The callback of root export ``lf``'s lift when it is generated (a driven root)."""
        return None if self.tasks is None else self.tasks.export_callback(lf)

    def host_call(self, li: int) -> int | None:
        """Stand-in for host import ``li`` (the ends it takes handed over), if any."""
        return None if self.tasks is None else self.tasks.host_call(li)

    def export_func(self, lf: Lifted) -> int | None:
        """Stand-in for root export ``lf``'s core function (its ends translated), if any."""
        if self.tasks is not None:
            return self.tasks.export_func(lf)
        for x, item in self._exports:
            if x is lf:
                return item.index
        return None

    def tag(self, t: object) -> int:
        return self.tags.setdefault(t, len(self.tags) + 1)

    def ops(self, caller: int, callee: int) -> _Ops:
        return _Ops(self, caller, callee)

    def transfer(self, t: at.Stream | at.Future, src: int, dst: int) -> FuncItem:
        if self.tasks is not None and self.tasks.streams is not None:
            return self.tasks.streams.transfer(t, src, dst)  # in-module ends (stage 3)
        key = ("transfer", self.tag(t), src, dst)
        item = self.p.find(Space.FUNC, GROUP, key)
        return item if isinstance(item, FuncItem) else self._func(*key)

    def plan_edge(self, ft: at.FuncType, caller: int, callee: int) -> None:
        """Register the transfers an adapter for ``ft`` will ask for."""
        for _, p in ft.params:
            for v in carried(p):
                assert isinstance(v, at.Stream | at.Future)
                self.transfer(v, caller, callee)
        for v in carried(ft.result):
            assert isinstance(v, at.Stream | at.Future)
            self.transfer(v, callee, caller)

    def fresh_context(
        self,
        key: object,
        params: tuple[CoreValType, ...],
        results: tuple[CoreValType, ...],
        target: Callable[[], int],
    ) -> FuncItem:
        """A function calling ``target`` as a new task would: context slots zero for the call,
        the caller's restored after it (an adapter's callee, a realloc the adapter runs)."""
        return self.p.add_func(
            GROUP, ("context", key), partial(self._context_code, params, results, target)
        )

    def builtin_func(self, bi: int) -> int | None:
        if self.tasks is not None and (f := self.tasks.builtin_func(bi)) is not None:
            return f
        item = self._builtins.get(bi)
        return None if item is None else item.index

    def _func(self, *key: object) -> FuncItem:
        return self.p.add_func(GROUP, key, partial(self._emit, key))

    def _fn(self, *key: object) -> int:
        return self.p.index(Space.FUNC, GROUP, key)

    def _glob(self, *key: object) -> int:
        return self.p.index(Space.GLOBAL, GROUP, key)

    def _mem(self, inst: int) -> int:
        return self.p.index(Space.MEMORY, GROUP, inst)

    # -- emission ------------------------------------------------------------------------------
    def _emit(self, key: tuple[object, ...]) -> FuncCode:
        op = key[0]
        if op in ("add", "get", "remove"):
            inst = key[1]
            assert isinstance(inst, int)
            return {"add": self._add, "get": self._get, "remove": self._remove}[op](inst)
        if op == "trap":
            bi = key[1]
            assert isinstance(bi, int)
            params, results = _sig(self.g.builtins[bi])
            b = Body(params)
            b.unreachable().end()
            return _gen(b, params, results)
        if op == "backpressure":
            bi = key[1]
            assert isinstance(bi, int)
            return self._backpressure(self.g.builtins[bi])
        if op == "builtin":
            bi = key[1]
            assert isinstance(bi, int)
            return self._builtin(bi)
        if op == "waitable":
            bi = key[1]
            assert isinstance(bi, int)
            return self._waitable(bi)
        assert op == "transfer"
        tag, src, dst = key[1:]
        assert isinstance(tag, int) and isinstance(src, int) and isinstance(dst, int)
        return self._transfer(tag, src, dst)

    def _add(self, inst: int) -> FuncCode:
        """(tag, runtime handle, state) → local index: wasmtime's `HandleTable::insert`."""
        b = Body(["i32", "i32", "i32"])
        idx = b.local("i32")
        m, nxt, free = self._mem(inst), self._glob("next", inst), self._glob("free", inst)
        from pymeld.merge.asynctask import take_entry

        take_entry(b, idx, m, nxt, free, shared_space(self.p, inst))
        # rev[runtime handle] = local index, growing a page at a time
        rev = self._rev()
        b.block().loop()
        b.get(1).i32(1).op("i32.add").i32(2).op("i32.shl")
        b.memory_size(rev).i32(16).op("i32.shl").op("i32.le_u").br_if(1)
        b.i32(1).memory_grow(rev).i32(-1 & 0xFFFFFFFF).op("i32.eq").trap_if()
        b.br(0).end().end()
        b.get(1).i32(2).op("i32.shl").get(idx).store("i32.store", rev, 0)
        b.get(idx).i32(4).op("i32.shl").set(idx)
        b.get(idx).get(1).store("i32.store", m, 0)
        b.get(idx).get(0).store("i32.store", m, 4)
        b.get(idx).get(2).store("i32.store", m, 8)
        b.get(idx).i32(4).op("i32.shr_u").end()
        return _gen(b, ("i32", "i32", "i32"), ("i32",))

    def _rev(self) -> int:
        item = self.p.find(Space.MEMORY, GROUP, "rev")
        assert item is not None
        return item.index

    def _get(self, inst: int) -> FuncCode:
        """(local index) → entry address; traps on a free or unknown index."""
        b = Body(["i32"])
        m = self._mem(inst)
        b.get(0).op("i32.eqz").trap_if()
        b.get(0).global_get(self._glob("next", inst)).op("i32.ge_u").trap_if()
        b.get(0).i32(4).op("i32.shl").load("i32.load", m, 4).op("i32.eqz").trap_if()
        b.get(0).i32(4).op("i32.shl").end()
        return _gen(b, ("i32",), ("i32",))

    def _remove(self, inst: int) -> FuncCode:
        """(entry address): free it, last in first out."""
        b = Body(["i32"])
        m, free = self._mem(inst), self._glob("free", inst)
        from pymeld.merge.asynctask import release_entry

        b.get(0).i32(0).store("i32.store", m, 4)
        release_entry(b, m, free, shared_space(self.p, inst))
        return _gen(b, ("i32",), ())

    def _backpressure(self, bt: Builtin) -> FuncCode:
        b = Body([])
        count_backpressure(b, self._counters[bt.owner].index, bt.op == "backpressure.inc")
        b.end()
        return _gen(b, (), ())

    def _builtin(self, bi: int) -> FuncCode:
        """A stream/future built-in of a fused-table instance: local handle → runtime handle."""
        bt = self.g.builtins[bi]
        inst, op = bt.owner, bt.op
        assert isinstance(bt.type, at.Stream | at.Future)
        tag = self.tag(bt.type)
        m = self._mem(inst)
        host = self.look.host_builtin(bi)
        add, get, remove = self._fn("add", inst), self._fn("get", inst), self._fn("remove", inst)
        params, results = _sig(bt)
        b = Body(params)
        kind, what = op.split(".", 1)
        if what == "new":
            pair, r = b.local("i64"), b.local("i32")
            b.call(host).set(pair)
            b.i32(tag).get(pair).op("i32.wrap_i64").i32(0).call(add).set(r)
            b.get(r).op("i64.extend_i32_u")
            b.i32(tag).get(pair).i64(32).op("i64.shr_u").op("i32.wrap_i64").i32(WRITE).call(add)
            b.op("i64.extend_i32_u").i64(32).op("i64.shl").op("i64.or").end()
            return _gen(b, params, results)
        addr = b.local("i32")
        b.get(0).call(get).set(addr)
        # The runtime checks type and end on its own handle (the same as the original's).
        b.get(addr).load("i32.load", m, 4).i32(tag).op("i32.ne").trap_if()
        if what.startswith("drop-"):
            b.get(addr).load("i32.load", m, 0).call(host)
            b.get(addr).call(remove).end()
            return _gen(b, params, results)
        code, state = b.local("i32"), b.local("i32")
        b.get(addr).load("i32.load", m, 0)
        for k in range(1, len(params)):
            b.get(k)
        b.call(host).set(code)
        b.get(addr).load("i32.load", m, 8).set(state)
        if what.startswith("cancel-"):
            # A finished cancel ends the copy; the pending event it consumes is delivered
            # first (wasmtime: Busy → Read/Write{done: DROPPED}; a future read that completed
            # took the value), else Busy → Read/Write{done: false}.
            b.get(code).i32(BLOCKED).op("i32.ne").if_()
            b.get(state).i32(~BUSY & 0xFFFFFFFF).op("i32.and").set(state)
            b.get(code).i32(0xF).op("i32.and").i32(1).op("i32.eq").if_()
            b.get(state).i32(DONE).op("i32.or").set(state)
            b.end()
            if op == "future.cancel-read":
                b.get(code).i32(0xF).op("i32.and").op("i32.eqz").if_()
                b.get(state).i32(TAKEN).op("i32.or").set(state)
                b.end()
            b.end()
        else:
            b.get(code).i32(BLOCKED).op("i32.eq").if_()
            b.get(state).i32(BUSY).op("i32.or").set(state)
            b.op("else")
            b.get(state).i32(~BUSY & 0xFFFFFFFF).op("i32.and").set(state)
            # DROPPED (1): the other end is gone (a stream read, any write).
            if kind == "stream" or what == "write":
                b.get(code).i32(0xF).op("i32.and").i32(1).op("i32.eq").if_()
                b.get(state).i32(DONE).op("i32.or").set(state)
                b.end()
            if kind == "future" and what == "read":  # COMPLETED: the value was taken
                b.get(code).i32(0xF).op("i32.and").op("i32.eqz").if_()
                b.get(state).i32(TAKEN).op("i32.or").set(state)
                b.end()
            b.end()
        b.get(addr).get(state).store("i32.store", m, 8)
        b.get(code).end()
        return _gen(b, params, results)

    def _waitable(self, bi: int) -> FuncCode:
        """waitable-set.new/drop/wait/poll and waitable.join of a fused-table instance. Events
        name the runtime's handle: wait/poll rewrite it to the local one and end the copy it
        reports (wasmtime: Busy → Read/Write{done: DROPPED}; a future read that completed has
        taken the value)."""
        bt = self.g.builtins[bi]
        inst, op = bt.owner, bt.op
        m = self._mem(inst)
        host = self.look.host_builtin(bi)
        add, get, remove = self._fn("add", inst), self._fn("get", inst), self._fn("remove", inst)
        params, results = _sig(bt)
        b = Body(params)
        if op == "waitable-set.new":
            b.i32(self.tags[_SET]).call(host).i32(0).call(add).end()
            return _gen(b, params, results)
        addr = b.local("i32")
        b.get(0).call(get).set(addr)
        if op == "waitable-set.drop":
            b.get(addr).load("i32.load", m, 0).call(host)
            b.get(addr).call(remove).end()
            return _gen(b, params, results)
        if op == "waitable.join":
            st = b.local("i32")
            b.get(addr).load("i32.load", m, 8).set(st)
            b.get(1).op("i32.eqz").if_()
            b.get(addr).load("i32.load", m, 0).i32(0).call(host)
            b.get(st).i32(~JOINED & 0xFFFFFFFF).op("i32.and").set(st)
            b.op("else")
            b.get(addr).load("i32.load", m, 0)
            b.get(1).call(get).load("i32.load", m, 0).call(host)
            b.get(st).i32(JOINED).op("i32.or").set(st)
            b.end()
            b.get(addr).get(st).store("i32.store", m, 8).end()
            return _gen(b, params, results)
        # waitable-set.wait / poll: (set, event ptr) → event code
        mem, rev = self.look.memory(bt), self._rev()
        code, entry, st, pay = b.local("i32"), b.local("i32"), b.local("i32"), b.local("i32")
        b.get(addr).load("i32.load", m, 0).get(1).call(host).set(code)
        b.get(code).i32(2).op("i32.sub").i32(3).op("i32.le_u").if_()  # a stream/future event
        b.get(1).get(1).load("i32.load", mem, 0).i32(2).op("i32.shl").load("i32.load", rev, 0)
        b.tee(entry).store("i32.store", mem, 0)
        b.get(entry).i32(4).op("i32.shl").set(entry)
        b.get(1).load("i32.load", mem, 4).i32(0xF).op("i32.and").set(pay)
        b.get(entry).load("i32.load", m, 8).i32(~BUSY & 0xFFFFFFFF).op("i32.and").set(st)
        b.get(pay).i32(1).op("i32.eq").if_()
        b.get(st).i32(DONE).op("i32.or").set(st)
        b.end()
        b.get(code).i32(4).op("i32.eq").get(pay).op("i32.eqz").op("i32.and").if_()
        b.get(st).i32(TAKEN).op("i32.or").set(st)
        b.end()
        b.get(entry).get(st).store("i32.store", m, 8)
        b.end()
        b.get(code).end()
        return _gen(b, params, results)

    def _export(self, lf: Lifted) -> FuncCode:
        """A root export of a fused-table instance: readable ends the runtime passes in join
        the instance's table, an end returned leaves it (the checks of a transfer)."""
        from pymeld.abi.layout import flat_count, flatten_functype

        inst = lf.owner
        core = flatten_functype(lf.type, "lift")
        b = Body(core.params)
        k = 0
        for t in lf.type.param_types():
            n = flat_count(t)
            if isinstance(t, at.Stream | at.Future):
                b.i32(self.tag(t)).get(k).i32(0).call(self._fn("add", inst))
            else:
                for j in range(n):
                    b.get(k + j)
            k += n
        b.call(self.look.core_func(lf))
        rt = lf.type.result
        if isinstance(rt, at.Stream | at.Future):
            m = self._mem(inst)
            addr, host = b.local("i32"), b.local("i32")
            b.call(self._fn("get", inst)).set(addr)
            b.get(addr).load("i32.load", m, 4).i32(self.tag(rt)).op("i32.ne").trap_if()
            b.get(addr).load("i32.load", m, 8).trap_if()
            b.get(addr).load("i32.load", m, 0).set(host)
            b.get(addr).call(self._fn("remove", inst))
            b.get(host)
        b.end()
        return _gen(b, core.params, core.results)

    def _transfer(self, tag: int, src: int, dst: int) -> FuncCode:
        """(local index in src) → local index in dst: wasmtime's `lift_index_to_transmit` then
        `lower_transmit_to_index` (only readable ends move; busy, done or read ones trap)."""
        b = Body(["i32"])
        m = self._mem(src)
        addr, host = b.local("i32"), b.local("i32")
        b.get(0).call(self._fn("get", src)).set(addr)
        b.get(addr).load("i32.load", m, 4).i32(tag).op("i32.ne").trap_if()
        b.get(addr).load("i32.load", m, 8).trap_if()  # write end, busy, done or value taken
        b.get(addr).load("i32.load", m, 0).set(host)
        b.get(addr).call(self._fn("remove", src))
        b.i32(tag).get(host).i32(0).call(self._fn("add", dst)).end()
        return _gen(b, ("i32",), ("i32",))

    def _context_code(
        self,
        params: tuple[CoreValType, ...],
        results: tuple[CoreValType, ...],
        target: Callable[[], int],
    ) -> FuncCode:
        if self.tasks is not None:  # in-module slots (stage 2): globals, not the runtime's
            return self.tasks.fresh_context_code(params, results, target())
        b = Body(params)
        saved = []
        for vt, slot in self.fa.context:
            t: CoreValType = "i64" if vt == 0x7E else "i32"
            s = b.local(t)
            b.call(self.look.context_import("context.get", vt, slot)).set(s)
            b.zero(t).call(self.look.context_import("context.set", vt, slot))
            saved.append((vt, slot, s))
        b.forward_args().call(target())
        outs = [b.local(t) for t in results]
        for o in reversed(outs):
            b.set(o)
        for vt, slot, s in saved:
            b.get(s).call(self.look.context_import("context.set", vt, slot))
        for o in outs:
            b.get(o)
        b.end()
        return _gen(b, params, results)


def _sig(bt: Builtin) -> tuple[tuple[CoreValType, ...], tuple[CoreValType, ...]]:
    from pymeld.codec.core.emitter import VALTYPE_NAME
    from pymeld.merge.asyncpass import builtin_signature

    ps, rs = builtin_signature(bt)
    return tuple(VALTYPE_NAME[p] for p in ps), tuple(VALTYPE_NAME[r] for r in rs)


def _gen(b: Body, params: tuple[CoreValType, ...], results: tuple[CoreValType, ...]) -> FuncCode:
    return FuncCode(params, results, tuple(b.locals), bytes(b.code))
