"""Resource handles beside fused async (issue 11): one handle table per component instance.

In the spec (`ComponentInstance.table`) and in wasmtime (`HandleTable`) each component instance
has *one* table: own/borrow handles of every resource type, waitable sets, subtasks and
stream/future ends take their numbers from the same index space (0 never used, fresh indices in
order, freed ones reused last in first out). Handle numbers are observable, so after fusion
each instance's resources and waitables must still come from one numbering. pymeld keeps
them in different places (`resources.runtime` decides the resource side, `merge.asyncfuse` /
`merge.asynctask` the waitable side): each instance's handles of one kind live either in the
fused component's one *runtime* table or in an *in-module* table of that kind.

That is exact when (`check_tables`):

* no instance holds both resource handles and waitables unless both live in the runtime table
  (two in-module tables, or one of each, would number them independently);
* at most one instance's handles live in the runtime table (it stands for exactly one
  instance), and then nothing else allocates runtime handles behind the in-module tables (the
  *transport* handles of in-module resource tables at the host boundary, of stage-1
  stream/future tables, or of in-module ends handed to the host, `asyncstream._host_lift`),
  since those would take numbers in between.

So an instance that only uses host resources (WASI) beside async in other instances, whose own
waitables (if any) are numbered in-module, fuses exactly. Every other mix is refused by name.

Own handles cross async edges (in-module tasks) as the spec moves them: into the callee's table
when the adapter lowers the parameters (at the task's start), into the caller's when the
callee's `task.return` (or a sync task's return) lifts the result (`ReturnOps`). Root exports
beside in-module tasks take and give handles through the in-module tables' stand-ins: the
async stand-in calls the handle-translating one (`resources.fusion`), and an async root's
`task.return` takes the handles out of its table first (`boundary.task_return`). Borrows lent
to an in-module task (`scoped_edges`) are the task's: counted in its scope until its
`task.return` (which traps if one is left), the caller's handle lent until then, as wasmtime
50 does (it ends the loan at `task.return`, before the caller takes the event: checked);
`resources.tables.InnerTables.task_scopes`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pymeld._dataclass import dataclass
from pymeld.abi import types as at
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import FlatGraph, HostFunc, Lifted
from pymeld.resources.runtime import handle_holders, plan_runtime

if TYPE_CHECKING:
    from pymeld.abi.adapter import ResourceOps
    from pymeld.merge.asynctask import TaskPlan
    from pymeld.plan import FuncItem

Where = Literal["runtime", "in-module"]


def resource_tables(
    g: FlatGraph, used: list[int], lowers: list[int], exported: list[Lifted], inmodule: bool
) -> tuple[dict[int, Where], bool]:
    """Where each instance's resource handles live, and whether in-module resource tables
    allocate transport handles in the runtime table (mirrors `resources.runtime.plan_runtime`,
    ``inmodule`` as it is given there)."""
    rp = plan_runtime(g, used, lowers, inmodule=inmodule)
    holders = handle_holders(g, used, lowers)
    where: dict[int, Where] = {}
    if rp.inmodule:
        for x in holders:
            where[x] = "in-module"
        transport = any(
            isinstance(g.lowers[li].callee, HostFunc) and at.handles(g.lowers[li].callee.type)
            for li in lowers
        ) or any(at.handles(lf.type) for lf in exported)
        return where, transport
    for x in holders:
        host = any(
            g.lowers[li].owner == x
            and isinstance(g.lowers[li].callee, HostFunc)
            and at.handles(g.lowers[li].callee.type)
            for li in lowers
        ) or any(
            g.builtins[bi].owner == x
            and g.builtins[bi].op.startswith("resource.")
            and g.builtins[bi].resource is not None
            and g.builtins[bi].resource.host_path is not None  # type: ignore[union-attr]
            for bi in used
        )
        where[x] = "runtime" if host or x == rp.host_instance else "in-module"
    return where, False


@dataclass(slots=True)
class Tables:
    """The outcome of `check_tables`."""

    resources: dict[int, Where]  # where each instance's resource handles live
    shared: list[int]  # instances whose resource and waitable tables share one index space
    inmodule: bool  # resources forced into in-module tables (`plan_runtime(inmodule=True)`)


def check_tables(
    g: FlatGraph,
    used: list[int],
    lowers: list[int],
    exported: list[tuple[str, Lifted]],
    waitables: dict[int, Where],
    waitable_transport: bool,
    label: Callable[[int], str],
) -> Tables:
    """Refuse (`UnsupportedFeature`) unless every instance's resource handles and waitables
    are numbered from one table as in the original; ``waitables`` says where each instance's
    waitables live. When every waitable is in-module but the resources' own plan would leave
    some in the runtime table, all resource handles move in-module too (the runtime table
    becomes a transport, as it does when several instances hold handles)."""
    lifts = [lf for _, lf in exported]
    resources, transport = resource_tables(g, used, lowers, lifts, False)
    problem = _problem(resources, waitables, transport or waitable_transport, label)
    if problem is None:
        return Tables(resources, _shared(resources, waitables), False)
    if waitables and all(w == "in-module" for w in waitables.values()):
        forced, transport = resource_tables(g, used, lowers, lifts, True)
        if _problem(forced, waitables, transport or waitable_transport, label) is None:
            return Tables(forced, _shared(forced, waitables), True)
    raise UnsupportedFeature(problem)


def _shared(resources: dict[int, Where], waitables: dict[int, Where]) -> list[int]:
    return sorted(
        x for x in set(resources) & set(waitables) if resources[x] == waitables[x] == "in-module"
    )


def _problem(
    resources: dict[int, Where],
    waitables: dict[int, Where],
    transport: bool,
    label: Callable[[int], str],
) -> str | None:
    """Why this placement would number some instance's handles differently, or None."""
    for x in sorted(set(resources) & set(waitables)):
        r, w = resources[x], waitables[x]
        if r != w:
            return (
                f"resource handles ({r} table) and async waitables ({w} table) in one "
                f"component instance {label(x)}: wasmtime numbers them from one table per "
                "instance (needs both kinds in-module: not fused yet, issue 11)"
            )
    observers = sorted(
        {x for x, r in resources.items() if r == "runtime"}
        | {x for x, w in waitables.items() if w == "runtime"}
    )
    if len(observers) > 1:
        return (
            f"resource handles and async waitables of component instances "
            f"{label(observers[0])} and {label(observers[1])} would share the fused "
            "component's one runtime handle table (needs in-module tables for both kinds: "
            "not fused yet, issue 11)"
        )
    if observers and transport:
        return (
            f"handles of component instance {label(observers[0])} are numbered by the "
            "runtime's table, where in-module tables of other instances also allocate handles "
            "beside async (needs in-module tables for both kinds: not fused yet, issue 11)"
        )
    return None


def scoped_edges(tp: TaskPlan) -> list[int]:
    """The edges (lower indices) lending borrows to an in-module task: their scope is the
    callee's task, from its start to its `task.return` (`resources.tables.task_scopes`). An
    async lower of a plain sync lift keeps the adapter call's scope (the call is the task)."""
    return [
        li
        for li, e in sorted(tp.edges.items())
        if e.task and any(isinstance(h, at.Borrow) for h in call_handles(e.callee.type))
    ]


def call_handles(t: object) -> list[at.Own | at.Borrow]:
    """The own/borrow handles a call itself passes: those inside a stream/future payload
    move only when an element is copied (`merge.asyncpayload`), not with the call."""
    if isinstance(t, at.Own | at.Borrow):
        return [t]
    if isinstance(t, at.Stream | at.Future):
        return []
    return [h for c in at.children(t) for h in call_handles(c)]


def check_task_resources(
    g: FlatGraph,
    used: list[int],
    lowers: list[int],
    exported: list[tuple[str, Lifted]],
    tp: TaskPlan,
    label: Callable[[int], str],
) -> Tables:
    """Stage 2 (in-module tasks) beside resources: refuse handles on async edges and in root
    exports that would need a translating stand-in, then check the numbering. Waitables of
    an instance are in-module; only `waitable-set.new`, `stream/future.new`, subtasks of its
    async lowers and ends crossing adapters make any (an instance with a table that never
    gets an entry shares nothing)."""
    makers = {
        g.builtins[bi].owner
        for bi in used
        if g.builtins[bi].op in ("waitable-set.new", "stream.new", "future.new")
    }
    makers |= {e.caller for e in tp.edges.values() if e.lower_async and e.task}
    makers |= {g.lowers[li].owner for li in tp.host_subtasks}  # proxies of host subtasks
    from pymeld.merge.asynchostsync import valued_callers

    makers |= valued_callers(g, tp)
    makers |= tp.end_instances
    from pymeld.merge.asyncreturned import async_root_ends
    from pymeld.merge.asynctask import root_ends

    # an end handed to the host takes runtime handles (`asyncstream._host_lift`): transport
    hosted = bool(tp.host_lowers) or any(
        root_ends(lf) is not None or async_root_ends(lf) is not None for _, lf in exported
    )
    hosted |= any(
        at.async_values(g.lowers[li].callee.type) for li in tp.host_subtasks + tp.host_syncs
    )
    tables = check_tables(
        g, used, lowers, exported, dict.fromkeys(makers, "in-module"), hosted, label
    )
    return tables


class ReturnOps:
    """`abi.adapter.ResourceOps` of an in-module task's results (`task.return`, a sync
    task's return): own handles move from the callee's table into the caller's, as the
    spec's `lift_own`/`lower_own` do when the caller's subtask resolves; stream/future ends
    go to ``ends`` (`merge.asyncstream`). Results hold no borrows (the validator allows none)."""

    def __init__(
        self,
        ends: ResourceOps | None,
        own: Callable[[at.Own, int, int], FuncItem] | None,
        callee: int,
        caller: int,
    ) -> None:
        self.ends, self.own, self.callee, self.caller = ends, own, callee, caller

    def transfer(
        self, t: at.Own | at.Borrow | at.Stream | at.Future, to_callee: bool
    ) -> int | None:
        assert not to_callee and not isinstance(t, at.Borrow)
        if isinstance(t, at.Own):
            assert self.own is not None, "own results need the in-module resource tables"
            return self.own(t, self.callee, self.caller).index
        assert self.ends is not None
        return self.ends.transfer(t, to_callee)


def return_ops(
    ends: ResourceOps | None,
    own: Callable[[at.Own, int, int], FuncItem] | None,
    ft: at.FuncType,
    callee: int,
    caller: int,
) -> ResourceOps | None:
    """The ops `generate_return` needs for ``ft``'s result: ``ends`` alone unless it holds
    own handles."""
    if not at.handles(ft.result):
        return ends
    return ReturnOps(ends, own, callee, caller)
