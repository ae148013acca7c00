"""Async host imports beside in-module tasks (issue 11): the runtime's subtasks in in-module
waitable sets.

An `async` lower of a host import gives its caller a subtask the runtime owns: the host (a
WASI 0.3 host function, or a component the fused one is linked with) completes it when the
runtime's event loop lets it run, and the runtime sets its events. In-module waitable sets
cannot hold it, so the fused code keeps a *proxy*: a task record (`asynctask`'s, never run)
with the runtime's handle in `_HOST`, numbered in the caller's in-module table like any
subtask (`h<<4 | status`, as the runtime returns it), and the runtime's handle joined to one
waitable set of the runtime's own (``host_set``). Its in-module events are the runtime's ones,
taken from that set:

* when nothing in-module can run (where the original would suspend every in-module task and
  wasmtime's loop would run the host), the scheduler blocks in the runtime's
  `waitable-set.wait` on ``host_set`` (`host_wait`): the host makes progress, and the event
  (the subtask's new status) is set on the proxy, which wakes its set's waiter as an in-module
  subtask's event does (`TaskRuntime._notify`). Several host events come in the runtime's own
  order, one per wait;
* before the scheduler takes a low-priority item (an in-module task's turn after a YIELD,
  where wasmtime's loop would run the host too), the host gets a turn (the runtime's
  `thread.yield`) and the events there are polled (`host_poll`): a task polling for a host
  event between YIELDs sees it, as in the original, instead of spinning for ever;
* `subtask.drop` of a proxy (after its terminal event was taken in-module, the checks being
  the in-module ones) drops the runtime's subtask too; `subtask.cancel` is the runtime's
  (`cancel`), the rest of it (BLOCKED, a sync cancel blocking until the event) in-module.

What stays refused, at run time (trap): a host subtask ready in one set beside another ready
subtask (their order is the runtime's store-wide ids, which a host call leaves unmirrored:
`asyncids` lost). When fusing: ends and error contexts among the import's parameters or
results in shapes `asynchostvals` does not hand over. Resource handles among them are
translated between the caller's in-module table and the runtime's when the call is made and
when the proxy sees RETURNED (`merge.asynchostvals`). (A synchronous lower of a host
`async func` is made `async` with a proxy its caller's stack waits for: `merge.asynchostsync`.)

Known divergence: the host runs only at those two points, not between every two in-module
items as wasmtime's loop may interleave it, so a host event can come at another point
relative to in-module work than in the original (deliveries are ordered differently when the
host's speed decides it). A sync cancel of a host subtask waits in-module, running queued
work, as for an in-module callee.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from pymeld.abi import types as at
from pymeld.abi.layout import flatten_async_functype
from pymeld.codec.core.emitter import Body
from pymeld.codec.core.model import ExternKind
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import Builtin, DefRef, HostFunc, Lowered
from pymeld.merge.asynctask import _ARGS, _EXACT, _REC
from pymeld.plan import FuncCode

if TYPE_CHECKING:
    from collections.abc import Callable

    from pymeld.merge.asynchostvals import HostValues
    from pymeld.merge.asynctask import TaskRuntime
    from pymeld.resources.tables import InnerTables

#: task record fields of a proxy: the runtime's subtask handle (0 in an in-module task's
#: record) and the next proxy still waiting for the runtime's events (in the `_ARGS` words,
#: which only a PENDING in-module call uses)
_HOST = _EXACT + 4
_HNEXT = _ARGS
assert _HOST + 4 <= _REC
#: where the runtime's `waitable-set.wait` writes its event (bytes 0..7 of the task records'
#: memory, below the first record)
_EVENT_AT = 0
EVENT_SUBTASK = 1

#: the runtime's built-ins the proxies need, imported beside the composition's
RUNTIME_OPS = (
    "waitable-set.new",
    "waitable.join",
    "waitable-set.wait",
    "waitable-set.poll",
    "subtask.drop",
    "subtask.cancel",
    "thread.yield",
)
_WITH_MEMORY = ("waitable-set.wait", "waitable-set.poll")


def check_host_subtask(lw: Lowered, label: Callable[[int], str], host_ends: bool = True) -> bool:
    """Refuse an `async` lower of a host import whose values the proxy cannot carry; True when
    it hands stream/future ends over (`merge.asynchostvals`, as at a sync host import: with
    ``host_ends``, `asynctask.plan_tasks`). Its resource handles are translated there too."""
    from pymeld.merge.asynchostvals import host_ends_problem

    hf = lw.callee
    assert isinstance(hf, HostFunc)
    if not at.async_values(hf.type):
        return False
    what = f"async host import `{'/'.join(hf.path)}` in component instance {label(lw.owner)}"
    problem = host_ends_problem(hf.type)
    if host_ends is False and problem is None:  # the wrapper makes the runtime's built-ins
        problem = "handed over in component output only, without --keep-async-boundaries"
    if problem is not None:
        raise UnsupportedFeature(
            f"stream/future/error-context passed to {what} beside in-module tasks ({problem})"
        )
    return True


def runtime_builtins() -> list[Builtin]:
    """The built-ins `RUNTIME_OPS`, as the wrapper re-creates them (`waitable-set.wait`'s
    memory is the task records' one: its `memory` here only says it has one)."""
    out = []
    for op in RUNTIME_OPS:
        memory = DefRef(0, ExternKind.MEMORY, 0) if op in _WITH_MEMORY else None
        # not cancellable; `subtask.cancel` is `async`: the fused stack never blocks in it
        flag = {"thread.yield": False, "subtask.cancel": True}.get(op)
        if memory is not None:
            flag = False
        out.append(Builtin(op, 0, memory=memory, flag=flag))
    return out


def _host_type(rt: TaskRuntime, li: int) -> at.FuncType:
    callee = rt.g.lowers[li].callee
    assert isinstance(callee, HostFunc)
    return callee.type


def _unlink(b: Body, m: int, head: int, prev: int, node: int) -> None:
    """Emit: proxy ``node`` leaves the list of proxies waiting for the runtime's events
    (``prev``: the one before it, 0 at the ``head`` global; records in memory ``m``)."""
    b.get(prev).if_()
    b.get(prev).get(node).load("i32.load", m, _HNEXT).store("i32.store", m, _HNEXT)
    b.op("else")
    b.get(node).load("i32.load", m, _HNEXT).global_set(head)
    b.end()


class HostSubtasks:
    """Plans and emits the proxies of the runtime's host subtasks for `TaskRuntime`."""

    def __init__(self, rt: TaskRuntime, runtime: Callable[[str], int]) -> None:
        self.rt = rt
        self.runtime = runtime  # op of `RUNTIME_OPS` → the fused module's import of it
        # the resource handles among the imports' values (`plan_values`)
        self.values: HostValues | None = None

    def plan_values(self, tables: Callable[[], InnerTables]) -> None:
        """Plan the translation of resource handles among the imports' values through the
        in-module resource tables (``tables``: made when first asked), when any has them."""
        tp = self.rt.tp
        if not any(at.handles(_host_type(self.rt, li)) for li in tp.host_subtasks + tp.host_syncs):
            return
        from pymeld.merge.asynchostvals import HostValues

        if self.values is None:
            self.values = HostValues(self.rt)
        self.values.plan_handles(tables())

    def plan(self) -> None:
        from pymeld.merge.asynctask import GROUP

        rt, p = self.rt, self.rt.p
        p.add_global(GROUP, "host_set")
        p.add_global(GROUP, "host_head")
        p.add_func(GROUP, ("host_wait",), partial(self._take, "waitable-set.wait"))
        p.add_func(GROUP, ("host_poll",), partial(self._take, "waitable-set.poll"))
        for li in rt.tp.host_subtasks:
            rt._host_calls[li] = p.add_func(GROUP, ("host-async", li), partial(self._call, li))
        if rt.tp.host_syncs:
            from pymeld.merge.asynchostsync import host_sync_call

            for li in rt.tp.host_syncs:  # made `async`, waited for
                rt._host_calls[li] = p.add_func(
                    GROUP, ("host-sync", li), partial(host_sync_call, self, li)
                )
        if any(
            at.async_values(_host_type(rt, li)) for li in rt.tp.host_subtasks + rt.tp.host_syncs
        ):
            from pymeld.merge.asynchostvals import HostValues

            self.values = HostValues(rt)  # the ends among the values handed over
            self.values.plan_ends()

    def _call(self, li: int) -> FuncCode:
        """The `async` lower of host import ``li``: the runtime's status as it is when no
        subtask is left (returned at once), else a proxy's handle in the caller's table with
        the runtime's status. The runtime's store-wide ids are not mirrored from here on (the
        host's task takes ids the fused module cannot know: `asyncids`)."""
        from pymeld.merge.asynctask import _CALLER, _STATUS, _SUB, SUBTASK, _gen

        rt = self.rt
        lw = rt.g.lowers[li]
        assert isinstance(lw.callee, HostFunc) and rt.host_import is not None
        inst, m = lw.owner, rt.mem("tasks")
        core = flatten_async_functype(lw.callee.type, "lower")
        b = Body(list(core.params))
        r, t, h = b.local("i32"), b.local("i32"), b.local("i32")
        rt.ids.force(b)  # the call needs the current thread, as a built-in does
        host_import = rt.host_import

        def call() -> None:
            b.forward_args().call(host_import(li)).set(r)
            rt.ids.lose(b)

        vals = self.values
        pre = None
        if vals is not None and vals.kind(li):
            pre = vals.call(b, li, r, call)
        else:
            call()
            b.get(r).i32(4).op("i32.shr_u").op("i32.eqz").if_()
            b.get(r).op("return")
            b.end()
        if pre is None:
            b.call(rt.fn("task.new")).set(t)
        else:
            b.get(pre).set(t)
        if vals is not None:
            vals.keep(b, li, t)
        b.get(t).get(r).i32(0xF).op("i32.and").store("i32.store", m, _STATUS)
        b.get(t).get(r).i32(4).op("i32.shr_u").store("i32.store", m, _HOST)
        b.get(t).i32(inst).store("i32.store", m, _CALLER)
        b.i32(SUBTASK).get(t).i32(0).call(rt.fn("t.add", inst)).set(h)
        b.get(t).get(h).store("i32.store", m, _SUB)
        hs = rt.glob("host_set")
        b.global_get(hs).op("i32.eqz").if_()
        b.call(self.runtime("waitable-set.new")).global_set(hs)
        b.end()
        b.get(r).i32(4).op("i32.shr_u").global_get(hs).call(self.runtime("waitable.join"))
        head = rt.glob("host_head")
        b.get(t).global_get(head).store("i32.store", m, _HNEXT)
        b.get(t).global_set(head)
        b.get(h).i32(4).op("i32.shl").get(r).i32(0xF).op("i32.and").op("i32.or").end()
        return _gen(b, core.params, core.results)

    def _take(self, op: str) -> FuncCode:
        """() → 0 when no host subtask waits for an event, else 1 after taking the runtime's
        events from ``host_set``: `waitable-set.wait` blocks until the host set one (so the
        host runs) and takes it; `waitable-set.poll` first lets the runtime run the host for
        a turn (`thread.yield`, as an in-module task's YIELD lets wasmtime's loop run it in
        the original) and takes every event there is (0 when none). Each proxy takes its
        status (a terminal one: it leaves the list) and its event wakes in-module waiters."""
        from pymeld.merge.asynctask import _STATUS, RETURNED, _gen

        rt = self.rt
        m, head = rt.mem("tasks"), rt.glob("host_head")
        poll = op == "waitable-set.poll"
        b = Body([])
        prev, cur, st, took = (b.local("i32") for _ in range(4))
        b.global_get(head).op("i32.eqz").if_()
        b.i32(0).op("return")
        b.end()
        if poll:
            b.call(self.runtime("thread.yield")).op("drop")
        b.block().loop()
        b.global_get(rt.glob("host_set")).i32(_EVENT_AT).call(self.runtime(op))
        if poll:
            b.tee(st).op("i32.eqz").br_if(1)  # no more events
            b.get(st)
        b.i32(EVENT_SUBTASK).op("i32.ne").trap_if()
        b.i32(0).set(prev)
        b.global_get(head).set(cur)
        b.block().loop()
        b.get(cur).op("i32.eqz").trap_if()  # not one of the proxies: a bug
        b.get(cur).load("i32.load", m, _HOST).i32(_EVENT_AT).load("i32.load", m, 0)
        b.op("i32.eq").br_if(1)
        b.get(cur).set(prev)
        b.get(cur).load("i32.load", m, _HNEXT).set(cur)
        b.br(0).end().end()
        b.get(cur).i32(_EVENT_AT).load("i32.load", m, 4).tee(st).store("i32.store", m, _STATUS)
        b.get(st).i32(RETURNED).op("i32.ge_u").if_()  # resolved: no more events
        _unlink(b, m, head, prev, cur)
        if self.values is not None:  # its results' handles in, its loans ended
            self.values.done(b, cur)
        b.end()
        b.get(cur).call(rt.fn("notify"))
        b.i32(1).set(took)
        if poll:
            b.global_get(head).br_if(0)  # more proxies: more events?
        b.end().end()
        b.get(took).end()
        return _gen(b, (), ("i32",))

    def poll_first(self, b: Body) -> None:
        """Emit, in `TaskRuntime._step` before it takes a low-priority item: the host gets a
        turn and its events are taken; when they queued high-priority work, the step ends
        there (1) so that it runs first, as wasmtime's loop runs deliveries before the next
        low-priority item."""
        rt = self.rt
        b.call(rt.fn("host_poll")).if_()
        b.global_get(rt.glob("h_head")).if_()
        b.i32(1).op("return")
        b.end()
        b.end()

    # -- hooks into `TaskRuntime`'s code -------------------------------------------------------
    def drop(self, b: Body, t: int) -> None:
        """Emit, in `subtask.drop` once the in-module checks passed and the handle is gone
        (task record in local ``t``): a proxy drops the runtime's subtask and is freed."""
        m = self.rt.mem("tasks")
        b.get(t).load("i32.load", m, _HOST).if_()
        b.get(t).load("i32.load", m, _HOST).call(self.runtime("subtask.drop"))
        b.get(t).call(self.rt.fn("task.free"))
        b.op("return")
        b.end()

    def cancel(self, b: Body, t: int) -> None:
        """Emit, in `subtask.cancel` once the in-module checks passed (task record in local
        ``t``): a host subtask not resolved in-module is cancelled in the runtime, `async`
        (out of ``host_set`` meanwhile: the runtime traps on a subtask in a set). Resolved
        there (its terminal event taken by the cancel, as in the original), the proxy takes
        the status and its event, and leaves the list; else (BLOCKED) it goes back to the set,
        and `TaskRuntime._subtask_cancel` returns BLOCKED or blocks until the host's event
        comes, as for an in-module callee."""
        from pymeld.merge.asynctask import _EVENT, _STATUS, BLOCKED, RETURNED

        rt = self.rt
        m, head = rt.mem("tasks"), rt.glob("host_head")
        st, prev, cur = b.local("i32"), b.local("i32"), b.local("i32")
        b.get(t).load("i32.load", m, _HOST).i32(0).op("i32.ne")  # (a bool: handles may be even)
        b.get(t).load("i32.load", m, _STATUS).i32(RETURNED).op("i32.lt_u").op("i32.and").if_()
        b.get(t).load("i32.load", m, _HOST).i32(0).call(self.runtime("waitable.join"))
        b.get(t).load("i32.load", m, _HOST).call(self.runtime("subtask.cancel")).set(st)
        b.get(st).i32(BLOCKED).op("i32.eq").if_()
        b.get(t).load("i32.load", m, _HOST).global_get(rt.glob("host_set"))
        b.call(self.runtime("waitable.join"))
        b.op("else")
        b.get(t).get(st).store("i32.store", m, _STATUS)
        b.get(t).i32(1).store("i32.store", m, _EVENT)
        if self.values is not None:
            self.values.done(b, t)
        b.i32(0).set(prev)  # out of the list
        b.global_get(head).set(cur)
        b.block().loop()
        b.get(cur).get(t).op("i32.eq").br_if(1)
        b.get(cur).set(prev)
        b.get(cur).load("i32.load", m, _HNEXT).set(cur)
        b.br(0).end().end()
        _unlink(b, m, head, prev, t)
        b.end()
        b.end()
        b.free(st, prev, cur)
