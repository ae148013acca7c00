"""The merger's single entry point into `pymeld.resources`: plans every handle-table item in the
shared `Plan` and answers which generated function stands in for a built-in, a host call or an
export. What it needs from the merger comes in as `Lookups`, read only while the plan is emitted.

The in-module tables (`pymeld.resources.tables`, with `pymeld.resources.space`) are made when a
handle first needs one: a composition without resources (most small ones) never loads them,
~1.5 M instructions of a small fuse's start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.abi import types as at
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import (
    CanonOpts,
    CoreRef,
    FlatGraph,
    HostFunc,
    Lifted,
    Lowered,
    ResourceType,
)
from pymeld.plan import FuncCode, FuncItem, Plan
from pymeld.resources.runtime import RuntimePlan, _exported_lifts, handle_resources

if TYPE_CHECKING:
    from pymeld.abi.adapter import BorrowScope
    from pymeld.resources.tables import InnerTables


@dataclass(frozen=True)
class Lookups:
    """Output indices the merger resolves (valid once the plan is frozen)."""

    func_index: Callable[[CoreRef], int]  # a core function of the graph
    runtime_import: Callable[[object], int]  # a kept resource built-in, by its import key
    host_import: Callable[[int], int]  # the output import a host lower `li` calls
    memory: Callable[[CanonOpts], int | None]  # the memory of canonical options
    # the import of the runtime's `task.return` built-in bi (an async root task's return)
    runtime_task_return: Callable[[int], int] | None = None


class _Ops:
    """`abi.adapter.ResourceOps` for one (lower, lift) pair."""

    def __init__(self, tables: InnerTables, caller: int, callee: int, task: bool = False) -> None:
        self.tables, self.caller, self.callee = tables, caller, callee
        self.task = task  # the callee runs as an in-module task: borrows are the task's

    def transfer(
        self, t: at.Own | at.Borrow | at.Stream | at.Future, to_callee: bool
    ) -> int | None:
        assert isinstance(t, at.Own | at.Borrow), "stream/future ends are merge.asyncfuse's"
        return self.item(t, to_callee).index

    def item(self, t: at.Own | at.Borrow, to_callee: bool) -> FuncItem:
        from pymeld.resources.tables import BORROW, OWN, TASK_BORROW

        r = t.resource
        assert isinstance(r, ResourceType)
        src, dst = (self.caller, self.callee) if to_callee else (self.callee, self.caller)
        kind = OWN if isinstance(t, at.Own) else TASK_BORROW if self.task else BORROW
        return self.tables.transfer(r, kind, src, dst)


class ResourceFusion:
    def __init__(
        self, graph: FlatGraph, runtime: RuntimePlan, plan: Plan, lookups: Lookups
    ) -> None:
        self.g = graph
        self.runtime = runtime
        self.lookups = lookups
        self._plan = plan
        self._tables: InnerTables | None = None  # made on first use (`tables`)
        self._builtins: dict[int, FuncItem] = {}
        self._host_calls: dict[int, FuncItem] = {}  # lower index → stand-in function
        self._lifts: list[tuple[Lifted, FuncItem]] = []  # root exports translated at the boundary
        self._dtors: dict[int, FuncItem] = {}  # resource id → guarded destructor
        self._returns: dict[int, FuncItem] = {}  # task.return built-in → stand-in

    @property
    def tables(self) -> InnerTables:
        """The in-module handle tables (and their generated functions), made when first asked."""
        if self._tables is None:
            from pymeld.resources.tables import InnerTables

            lookups = self.lookups
            self._tables = InnerTables(self._plan, lookups.func_index, lookups.runtime_import)
        return self._tables

    def plan(self, used: list[int], cross: list[int], host_lowers: list[int]) -> None:
        """Register every generated item before any code referring to it is emitted."""
        h = self.runtime.host_instance
        inmodule = self.runtime.inmodule
        for bi in sorted(used):
            b = self.g.builtins[bi]
            r = b.resource
            if (
                bi in self.runtime.imports
                or r is None
                or (r.host_path is not None and not inmodule)
            ):
                continue
            if b.op in ("resource.new", "resource.rep", "resource.drop") and b.owner != h:
                self._builtins[bi] = self.tables.builtin(b.op, b.owner, r)
        for li in cross:
            lowered: Lowered = self.g.lowers[li]
            callee = lowered.callee
            assert isinstance(callee, Lifted)
            if lowered.owner == callee.owner:
                continue
            rs = handle_resources(callee.type)
            if not rs:
                continue
            ops = _Ops(self.tables, lowered.owner, callee.owner)
            for r in rs:
                if r.host_path is not None and not inmodule:
                    raise UnsupportedFeature(
                        f"host resource `{'/'.join(r.host_path)}` passed between components"
                    )
            if h in (lowered.owner, callee.owner):
                raise UnsupportedFeature(
                    "resource handles crossing between the host-facing instance "
                    f"{self.g.components[h].label} and another component instance"
                )
            _walk(callee.type, ops)
        if inmodule:
            self._plan_boundary(host_lowers)

    def _plan_boundary(self, host_lowers: list[int]) -> None:
        from pymeld.resources import boundary  # handles translated at the host boundary

        t = self.tables
        for rr in self.runtime.resources:
            t.runtime_names[rr.resource.id] = (rr.module, rr.name)
            t.resources[rr.resource.id] = rr.resource
        for li in host_lowers:
            lowered = self.g.lowers[li]
            if isinstance(lowered.callee, HostFunc) and handle_resources(lowered.callee.type):
                if lowered.opts.is_async:
                    continue  # its subtask's proxy translates them (`merge.asynchostvals`)
                boundary.plan(t, lowered.callee.type, lowered.owner, True)
                self._host_calls[li] = t.plan.add_func(
                    "resource", ("hostcall", li), partial(self._host_call, li)
                )
        for lf in _exported_lifts(self.g):
            if handle_resources(lf.type):
                boundary.plan(t, lf.type, lf.owner, False)
                k = len(self._lifts)
                item = t.plan.add_func("resource", ("lift", k), partial(self._lift, lf))
                self._lifts.append((lf, item))
        for rr in self.runtime.resources:
            if rr.resource.dtor is not None:
                self._dtors[rr.resource.id] = t.dtor_guard(rr.resource)

    def plan_task_returns(self, used: list[int]) -> None:
        """Stand-ins for the runtime's `task.return` built-ins of instances whose `async`
        exports the host calls, when their result holds handles of in-module tables: the
        handles leave the instance's table as an export's results do
        (`boundary.task_return`)."""
        if not self.runtime.inmodule:
            return
        lifts = [lf for lf in _exported_lifts(self.g) if lf.opts.is_async]
        roots = {lf.owner for lf in lifts}
        t = self.tables
        for bi in used:
            b = self.g.builtins[bi]
            ft = at.FuncType((), b.result)
            lent = b.owner in self._lenders(lifts)
            if b.op != "task.return" or b.owner not in roots:
                continue
            if not handle_resources(ft) and not lent:
                continue
            boundary_plan(t, ft, b.owner)
            self._returns[bi] = t.plan.add_func(
                "resource", ("task-return", bi), partial(self._task_return, bi)
            )

    def _task_return(self, bi: int) -> FuncCode:
        from pymeld.resources import boundary

        b = self.g.builtins[bi]
        assert b.opts is not None
        mem = self.lookups.memory(b.opts)
        assert self.lookups.runtime_task_return is not None
        target = self.lookups.runtime_task_return(bi)
        lifts = [lf for lf in _exported_lifts(self.g) if lf.opts.is_async]
        ft = at.FuncType((), b.result)
        lent = b.owner in self._lenders(lifts)
        return boundary.task_return(self.tables, ft, b.owner, mem, target, lent)

    @staticmethod
    def _lenders(lifts: list[Lifted]) -> set[int]:
        """Instances whose `async` root exports take borrows (checked at `task.return`)."""
        return {
            lf.owner
            for lf in lifts
            if any(isinstance(h, at.Borrow) for p in lf.type.param_types() for h in at.handles(p))
        }

    def task_return(self, bi: int) -> int | None:
        """The stand-in for the runtime's `task.return` ``bi`` (handles translated), if any."""
        item = self._returns.get(bi)
        return None if item is None else item.index

    def _host_call(self, li: int) -> FuncCode:
        lowered = self.g.lowers[li]
        assert isinstance(lowered.callee, HostFunc)
        mem = self.lookups.memory(lowered.opts)
        target = self.lookups.host_import(li)
        from pymeld.resources import boundary

        return boundary.host_call(self.tables, lowered.callee.type, lowered.owner, mem, target)

    def _lift(self, lf: Lifted) -> FuncCode:
        mem = self.lookups.memory(lf.opts)
        target = self.lookups.func_index(lf.core_func)
        from pymeld.resources import boundary

        if lf.opts.is_async:  # its results leave through `task.return` (`task_return`)
            callback = lf.opts.callback is not None
            return boundary.async_export_params(
                self.tables, lf.type, lf.owner, mem, target, callback
            )
        return boundary.lifted_export(self.tables, lf.type, lf.owner, mem, target)

    # -- answers (after the plan is frozen) --------------------------------------------------------
    def host_call(self, li: int) -> int | None:
        """Stand-in for the lowered host import ``li`` (handles translated), if any."""
        item = self._host_calls.get(li)
        return None if item is None else item.index

    def export_func(self, lf: Lifted) -> int | None:
        """Stand-in for the core function of the root export ``lf``, if any."""
        for x, item in self._lifts:
            if x is lf:
                return item.index
        return None

    def runtime_dtor(self, r: ResourceType) -> int:
        """What the wrapper-defined type's destructor export points at."""
        if r.id in self._dtors:
            return self._dtors[r.id].index
        assert r.dtor is not None
        return self.lookups.func_index(r.dtor)

    def builtin_func(self, bi: int) -> int | None:
        item = self._builtins.get(bi)
        return None if item is None else item.index

    def ops_for(self, lowered: Lowered, task: bool = False) -> _Ops | None:
        """The handle transfers of ``lowered``'s adapter (``task``: its callee runs as an
        in-module task, which its borrows are lent to: `plan_task_borrows`)."""
        callee = lowered.callee
        assert isinstance(callee, Lifted)
        if not handle_resources(callee.type):
            return None
        return _Ops(self.tables, lowered.owner, callee.owner, task)

    def plan_task_borrows(self, lowers: list[int]) -> None:
        """Borrows passed by ``lowers`` to in-module async tasks: scoped to the task
        (`InnerTables.task_scopes`), not to the adapter call."""
        for li in lowers:
            lowered = self.g.lowers[li]
            ops = self.ops_for(lowered, task=True)
            assert ops is not None
            self.tables.task_scopes()
            for p in lowered.callee.type.param_types():
                for x in at.handles(p):
                    if isinstance(x, at.Borrow):
                        ops.item(x, True)

    def borrow_scope(self) -> BorrowScope | None:
        """The state an adapter's borrow scope uses (None when there are no in-module tables)."""
        t = self._tables
        if t is None or not t.tables:
            return None
        from pymeld.abi.adapter import BorrowScope

        return BorrowScope(t.borrow_global, t.lend_sp_global, t.unlend)


def boundary_plan(t: InnerTables, ft: at.FuncType, inst: int) -> None:
    """Plan the leaf functions a `task.return` stand-in of ``ft``'s result calls (out of
    ``inst``'s table, as an export's results)."""
    from pymeld.resources import boundary

    boundary.plan(t, at.FuncType((), None, False), inst, False)  # the save stack
    for h in at.handles(ft.result):
        r = h.resource
        assert isinstance(r, ResourceType)
        if isinstance(h, at.Borrow) and r.host_path is None:
            raise UnsupportedFeature("borrow handle in an export result")
        t.leaf("out", boundary.OWN if isinstance(h, at.Own) else boundary.BORROW, r, inst)


def _walk(ft: at.FuncType, ops: _Ops) -> None:
    """Plan the transfer functions an adapter for ``ft`` will ask for."""
    for _, p in ft.params:
        for x in at.handles(p):
            ops.item(x, True)
    if ft.result is not None:
        for x in at.handles(ft.result):
            ops.item(x, False)
