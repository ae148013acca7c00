"""Async across former component instances, stage 2 (issue 11): in-module tasks and subtasks.

The fused component is one runtime instance and wasmtime compiles a lift/lower pair inside one
instance to a trap, so an async call between two former instances becomes an *in-module task*:
the adapter calls the callee's core function directly and interprets its callback code, and
the task's later callbacks run from a scheduler in wasm. What is fused here (`plan_tasks`):

* The instances whose exports the host calls (the *roots*; async-lifted root exports are
  driven by `merge.asyncroot`) make the async calls (other instances call only synchronously,
  as plain adapters); they keep the runtime's task. Their
  waitable sets and subtasks, and those of the callees, live in per-instance handle tables
  numbered as wasmtime numbers them (index 0 unused, fresh indices in order, freed ones reused
  last in first out). Context slots of every instance are in-module globals, saved, zeroed and
  restored at each task boundary (root export, adapter, realloc, callback).
* Callees lifted `async` with a callback: ``EXIT`` after `task.return` is RETURNED with no
  handle, ``YIELD``/``WAIT`` give the caller a subtask handle (``h<<4 | STARTED``); a YIELDing
  task waits in a FIFO queue (wasmtime's low-priority queue). `task.return` lifts the results
  into the caller's memory (or the task record, for a sync caller) and marks the subtask's
  RETURNED event.
* A sync lower whose callee does not return at once, and `waitable-set.wait` of the task
  instance, trap unless the caller's task may block (wasmtime's `CannotBlockSyncTask`: a plain
  `func` may call an `async func` that returns without blocking), then run queued tasks until
  the event is there; when nothing can run the original deadlocks, and so does the fused module
  (trap).

Several subtasks of one waitable set with events at once are delivered by wasmtime in the
order of its store-wide table ids, which depend on every object the runtime allocated and freed
(tasks, threads, their sync-call sets, waitable sets, lazily made tasks of sync calls); that
order is not reproduced, so the fused module traps there rather than guess (a refusal at run
time; one subtask per set, or waits that take each event as it comes, are exact).

A callee lifted `async` without a callback (stackful) runs the same way: it never blocks here
(blocking built-ins in callees are refused), so its return is its exit.

What needs more is refused by name: async calls out of a callee (nested subtasks), a
blocking built-in in a callee ("needs a suspended core stack"),
`subtask.cancel`, backpressure of an instance entered asynchronously, streams/futures beside
tasks (stage 3), backpressure of a root instance beside other root instances (`asyncroot`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from functools import partial

from pymeld._dataclass import dataclass
from pymeld.abi import types as at
from pymeld.abi.layout import flatten_functype
from pymeld.codec.core.emitter import Body, CoreValType
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import Builtin, CoreRef, FlatGraph, HostFunc, Lifted
from pymeld.plan import FuncCode, FuncItem, Plan, Space

GROUP = "async"

SET, SUBTASK = 1, 2  # handle-table entry kinds
STARTED, RETURNED = 1, 2  # Subtask.State
RUNNING, YIELDING, WAITING, EXITED = 0, 1, 2, 3  # task modes
SYNC_CALLER = 0xFFFFFFFF  # the record's subtask field while a sync caller waits for it
_MAX_HANDLE = (1 << 28) - 1
_REC = 64  # bytes per task record; a task is named by its record's address (never 0)
# task record fields (byte offsets)
_STATUS, _CB, _EDGE, _MODE, _WSET, _SUB, _EVENT, _DELIVERED, _RETPTR, _NEXT = range(0, 40, 4)
_CTX = 40  # context slots 0 and 1
_STASH = 56  # a sync caller's one flat result

_IN_TABLE = frozenset(
    {"waitable-set.new", "waitable-set.drop", "waitable-set.poll", "waitable.join", "subtask.drop"}
)


@dataclass(slots=True)
class Edge:
    """An adapter edge from the task instance: ``lower_async`` the caller's lower, ``callback``
    the callee's async lift (index into `TaskPlan.callbacks`, None for a sync lift)."""

    lower: int
    callee: Lifted
    lower_async: bool
    callback: int | None
    stackful: bool = False  # lifted `async` without a callback (never blocks: checked)

    @property
    def task(self) -> bool:
        """The callee runs as an in-module task (its results come through `task.return`)."""
        return self.callback is not None or self.stackful


@dataclass(slots=True)
class TaskPlan:
    task_instance: int  # the first of `roots`
    roots: list[int] = field(default_factory=list)  # instances whose exports the host calls
    edges: dict[int, Edge] = field(default_factory=dict)  # lower index → edge
    tables: list[int] = field(default_factory=list)  # instances with in-module handle tables
    slots: list[int] = field(default_factory=list)  # context slots in use (i32)
    callbacks: list[Lifted] = field(default_factory=list)  # callback lifts, dispatch order
    table_ops: list[int] = field(default_factory=list)  # built-ins acting on the tables
    returns: list[int] = field(default_factory=list)  # task.return built-ins of callees
    contexts: list[int] = field(default_factory=list)  # context.get/set built-ins
    root_returns: list[int] = field(default_factory=list)  # task.return of driven roots

    def task_instances(self) -> set[int]:
        """Instances whose lifts run as in-module tasks."""
        return {e.callee.owner for e in self.edges.values() if e.task}


def plan_tasks(
    g: FlatGraph,
    used: list[int],
    lowers: list[int],
    exported: list[tuple[str, Lifted]],
    cross: list[tuple[int, Lifted, int]],
    label: Callable[[int], str],
) -> TaskPlan:
    """The in-module task plan, or `UnsupportedFeature` naming what it would need."""
    from pymeld.merge.asyncfuse import carried
    from pymeld.merge.asyncroot import check_root_export, plan_roots

    roots = sorted({lf.owner for _, lf in exported} or {caller for caller, _, _ in cross})
    task_inst = roots[0]
    for path, lf in exported:
        check_root_export(path, lf, label)
        if any(True for _ in carried(lf.type)):
            raise UnsupportedFeature(
                f"stream/future in root export `{path}` beside in-module async tasks (needs "
                "stream and future events inside tasks: issue 11 stage 3)"
            )
    tp = TaskPlan(task_inst, roots=roots)
    entered_async: set[int] = set()
    for caller, callee, li in cross:
        lw = g.lowers[li]
        if caller not in roots and (lw.opts.is_async or callee.opts.is_async):
            raise UnsupportedFeature(
                f"async call from component instance {label(caller)} to {label(callee.owner)} "
                "beside in-module tasks (async calls out of a callee: nested in-module "
                "subtasks, issue 11 stage 2)"
            )
        if callee.owner in roots:
            raise UnsupportedFeature(
                f"component instance {label(callee.owner)}, whose exports the host calls, called "
                "through an adapter beside in-module tasks"
            )
        if any(True for _ in carried(callee.type)):
            raise UnsupportedFeature(
                f"stream/future passed from component instance {label(caller)} to "
                f"{label(callee.owner)} beside in-module async tasks (needs stream and future "
                "events inside tasks: issue 11 stage 3)"
            )
        cb: int | None = None
        if callee.opts.is_async:
            if not callee.type.is_async:
                raise UnsupportedFeature(
                    f"callback lift of a function that is not `async` in component instance "
                    f"{label(callee.owner)} (a task that may not block: not fused yet)"
                )
            if callee.opts.callback is not None:
                if callee not in tp.callbacks:
                    tp.callbacks.append(callee)
                cb = tp.callbacks.index(callee)
        if callee.opts.is_async or lw.opts.is_async:
            entered_async.add(callee.owner)
        tp.edges[li] = Edge(
            li, callee, lw.opts.is_async, cb, callee.opts.is_async and callee.opts.callback is None
        )
    for li in lowers:
        lw = g.lowers[li]
        if isinstance(lw.callee, HostFunc) and (
            lw.opts.is_async
            or lw.callee.type.is_async
            or any(True for _ in carried(lw.callee.type))
        ):
            raise UnsupportedFeature(
                f"async host import `{'/'.join(lw.callee.path)}` beside in-module tasks (host "
                "waitables in in-module waitable sets: issue 11 stage 3)"
            )
    callees = {e.callee.owner for e in tp.edges.values()}
    tables: set[int] = set()
    for bi in used:
        b = g.builtins[bi]
        op, inst = b.op, b.owner
        if op.startswith(("stream.", "future.", "error-context.")):
            raise UnsupportedFeature(
                f"`{op}` in component instance {label(inst)} beside in-module tasks (stream and "
                "future events inside tasks: issue 11 stage 3)"
            )
        if op in _IN_TABLE or op == "waitable-set.wait":
            if op == "waitable-set.wait" and inst not in roots:
                raise UnsupportedFeature(
                    f"`waitable-set.wait` in component instance {label(inst)}, entered through "
                    "an in-module task (needs a suspended core stack, which fused code cannot "
                    "have without stack switching)"
                )
            if op in ("waitable-set.wait", "waitable-set.poll") and b.flag:
                raise UnsupportedFeature(f"cancellable `{op}` beside in-module tasks")
            tables.add(inst)
            tp.table_ops.append(bi)
        elif op == "thread.yield":
            raise UnsupportedFeature(
                f"`thread.yield` in component instance {label(inst)} beside in-module tasks "
                "(needs a suspended core stack, which fused code cannot have without stack "
                "switching)"
            )
        elif op == "subtask.cancel":
            raise UnsupportedFeature(
                f"`subtask.cancel` in component instance {label(inst)} (cancelling in-module "
                "subtasks: not fused yet)"
            )
        elif op.startswith("context."):
            if b.valtype != 0x7F:
                raise UnsupportedFeature(f"`{op} i64` beside in-module tasks")
            assert isinstance(b.index, int)
            if b.index not in tp.slots:
                tp.slots.append(b.index)
            tp.contexts.append(bi)
        elif op == "task.return" and inst in callees:
            tp.returns.append(bi)
        elif op in ("task.return", "task.cancel"):
            pass  # traps: no task there ever returns or is cancelled through it (asyncfuse)
        elif op.startswith("backpressure."):
            if inst in entered_async:
                raise UnsupportedFeature(
                    f"`{op}` in component instance {label(inst)}, entered by async calls "
                    "(subtasks that cannot start yet: not fused yet)"
                )
        elif not op.startswith("resource."):
            raise UnsupportedFeature(f"`{op}` beside in-module tasks")
    plan_roots(g, used, tp, exported, label)
    tp.slots.sort()
    callers = {g.lowers[e.lower].owner for e in tp.edges.values()}
    tp.tables = sorted(tables | callers | {task_inst} | tp.task_instances())
    return tp


class _Hooks:
    """`abi.adapter.TaskHooks` of one edge."""

    def __init__(self, rt: TaskRuntime, edge: Edge) -> None:
        self.rt, self.edge = rt, edge
        self.t = self.prev = self.blocked = -1

    def enter(self, b: Body) -> None:
        """The callee's task may block when its function is `async` (the caller's may-block is
        checked only if the call actually blocks: `finish`)."""
        mb = self.rt.glob("may_block")
        self.blocked = b.local("i32")
        b.global_get(mb).set(self.blocked)
        b.i32(1 if self.edge.callee.type.is_async else 0).global_set(mb)

    def leave(self, b: Body) -> None:
        b.get(self.blocked).global_set(self.rt.glob("may_block"))

    def start(self, b: Body, retptr: int | None) -> None:
        rt, e = self.rt, self.edge
        m = rt.mem("tasks")
        self.t, self.prev = b.local("i32"), b.local("i32")
        b.call(rt.fn("task.new")).set(self.t)
        b.get(self.t).i32(STARTED).store("i32.store", m, _STATUS)
        b.get(self.t).i32(e.callback or 0).store("i32.store", m, _CB)
        b.get(self.t).i32(e.lower).store("i32.store", m, _EDGE)
        if retptr is not None:
            b.get(self.t).get(retptr).store("i32.store", m, _RETPTR)
        if not e.lower_async:
            b.get(self.t).i32(SYNC_CALLER).store("i32.store", m, _SUB)
        b.global_get(rt.glob("cur_task")).set(self.prev)
        b.get(self.t).global_set(rt.glob("cur_task"))

    def finish(self, b: Body, code: int) -> None:
        rt, e = self.rt, self.edge
        m, t = rt.mem("tasks"), self.t
        rt.save_ctx(b, t)
        b.get(self.prev).global_set(rt.glob("cur_task"))
        self.leave(b)
        status = b.local("i32")
        b.get(t).load("i32.load", m, _STATUS).set(status)
        b.get(t).get(code).call(rt.fn("handle", e.callee.owner))
        if e.lower_async:
            b.get(status).i32(RETURNED).op("i32.eq").if_("i32")
            b.i32(RETURNED)
            b.op("else")
            h = b.local("i32")
            caller = rt.g.lowers[e.lower].owner
            b.i32(SUBTASK).get(t).i32(0).call(rt.fn("t.add", caller)).set(h)
            b.get(t).get(h).store("i32.store", m, _SUB)
            b.get(h).i32(4).op("i32.shl").i32(STARTED).op("i32.or")
            b.end()
            return
        # A sync caller blocks until the task returned, running queued tasks meanwhile; a
        # caller whose task may not block traps as soon as the callee did not return at once
        # (wasmtime: "cannot block a synchronous task before returning").
        b.get(t).load("i32.load", m, _STATUS).i32(RETURNED).op("i32.lt_u").if_()
        b.global_get(rt.glob("may_block")).op("i32.eqz").trap_if()
        b.end()
        b.block().loop()
        b.get(t).load("i32.load", m, _STATUS).i32(RETURNED).op("i32.ge_u").br_if(1)
        b.call(rt.fn("step")).op("i32.eqz").trap_if()  # deadlock: nothing else can run
        b.br(0).end().end()
        lower = flatten_functype(e.callee.type, "lower")
        if lower.results:
            (vt,) = lower.results
            b.get(t).load(f"{vt}.load", m, _STASH)
        b.get(t).i32(0).store("i32.store", m, _SUB)
        b.get(t).load("i32.load", m, _MODE).i32(EXITED).op("i32.eq").if_()
        b.get(t).call(rt.fn("task.free"))
        b.end()


class TaskRuntime:
    """Plans and emits the stage-2 state: tables, task records, scheduler, stand-ins."""

    def __init__(
        self,
        g: FlatGraph,
        plan: Plan,
        tp: TaskPlan,
        func: Callable[[CoreRef], int],
        memory: Callable[[Builtin], int],
        edge_opts: Callable[[int], tuple[at.CanonOptions, at.CanonOptions]],
        host_builtin: Callable[[int], int] | None = None,
        context_import: Callable[[str, int, int], int] | None = None,
    ) -> None:
        self.g, self.p, self.tp = g, plan, tp
        self.func, self.memory, self.edge_opts = func, memory, edge_opts
        # the runtime's imports of a built-in and of its own context slots (asyncroot)
        self.host_builtin, self.context_import = host_builtin, context_import
        self.callbacks: dict[int, FuncItem] = {}  # generated callbacks of driven root exports
        self.driven: dict[int, int] = {}  # id(lift) → its index among the root exports
        self._builtins: dict[int, FuncItem] = {}
        self._exports: dict[int, FuncItem] = {}

    # -- planning ------------------------------------------------------------------------------
    def plan(self, exported: list[Lifted]) -> None:
        p = self.p
        p.add_memory(GROUP, "tasks")
        for key in ("task_free", "cur_task", "may_block", "q_head", "q_tail"):
            p.add_global(GROUP, key)
        p.add_global(GROUP, "task_next", init=1)
        for slot in self.tp.slots:
            p.add_global(GROUP, ("ctx", slot))
        for inst in self.tp.tables:
            p.add_memory(GROUP, ("tbl", inst))
            p.add_global(GROUP, ("tnext", inst), init=1)
            p.add_global(GROUP, ("tfree", inst))
            for op in ("t.add", "t.get", "t.remove", "ready"):
                self._func(op, inst)
        for op in ("task.new", "task.free", "enqueue", "step", "run"):
            self._func(op)
        for inst in sorted(self.tp.task_instances()):
            self._func("handle", inst)
        for k in range(len(self.tp.callbacks)):
            self._func("run", k)
        for bi in [*self.tp.table_ops, *self.tp.contexts, *self.tp.returns]:
            self._builtins[bi] = self._func("builtin", bi)
        for bi in self.tp.returns:
            for e in self._callback_edges():
                if self._returns_for(bi, e):
                    self.p.add_func(GROUP, ("ret", bi, e.lower), partial(self._ret, e))
        for k, lf in enumerate(exported):
            self._exports[id(lf)] = self.p.add_func(GROUP, ("export", k), partial(self._export, lf))
        if any(lf.opts.callback is not None for lf in exported):
            from pymeld.merge.asyncroot import plan_driven

            self._builtins.update(plan_driven(self, exported))

    def hooks(self, li: int) -> _Hooks | None:
        e = self.tp.edges.get(li)
        return None if e is None else _Hooks(self, e)

    def edge(self, li: int) -> Edge | None:
        return self.tp.edges.get(li)

    def builtin_func(self, bi: int) -> int | None:
        item = self._builtins.get(bi)
        return None if item is None else item.index

    def export_callback(self, lf: Lifted) -> int | None:
        item = self.callbacks.get(id(lf))
        return None if item is None else item.index

    def export_func(self, lf: Lifted) -> int | None:
        item = self._exports.get(id(lf))
        return None if item is None else item.index

    def _func(self, *key: object) -> FuncItem:
        return self.p.add_func(GROUP, key, partial(self._emit, key))

    def fn(self, *key: object) -> int:
        return self.p.index(Space.FUNC, GROUP, tuple(key))

    def glob(self, key: object) -> int:
        return self.p.index(Space.GLOBAL, GROUP, key)

    def mem(self, key: object) -> int:
        return self.p.index(Space.MEMORY, GROUP, key)

    # -- shared code ---------------------------------------------------------------------------
    def save_ctx(self, b: Body, t: int) -> None:
        """Store the current context slots into task ``t``'s record."""
        for slot in self.tp.slots:
            b.get(t).global_get(self.glob(("ctx", slot)))
            b.store("i32.store", self.mem("tasks"), _CTX + 4 * slot)

    def context_globals(self) -> list[int]:
        return [self.glob(("ctx", slot)) for slot in self.tp.slots]

    # -- emission ------------------------------------------------------------------------------
    def _emit(self, key: tuple[object, ...]) -> FuncCode:
        op, *rest = key
        if op == "builtin":
            (bi,) = rest
            assert isinstance(bi, int)
            return self._builtin(bi)
        if op == "run" and rest:
            (k,) = rest
            assert isinstance(k, int)
            return self._run_one(k)
        emit: dict[str, Callable[..., FuncCode]] = {
            "t.add": self._t_add,
            "t.get": self._t_get,
            "t.remove": self._t_remove,
            "ready": self._ready,
            "task.new": self._task_new,
            "task.free": self._task_free,
            "enqueue": self._enqueue,
            "step": self._step,
            "run": self._run,
            "handle": self._handle,
        }
        assert isinstance(op, str)
        return emit[op](*rest)

    def _t_add(self, inst: int) -> FuncCode:
        """(kind, a, b) → handle: wasmtime's `HandleTable::insert` numbering."""
        b = Body(["i32", "i32", "i32"])
        h = b.local("i32")
        m, nxt, free = (
            self.mem(("tbl", inst)),
            self.glob(("tnext", inst)),
            self.glob(("tfree", inst)),
        )
        b.global_get(free).if_()
        b.global_get(free).set(h)
        b.get(h).i32(4).op("i32.shl").load("i32.load", m, 12).global_set(free)
        b.op("else")
        b.global_get(nxt).tee(h).i32(_MAX_HANDLE).op("i32.gt_u").trap_if()
        b.get(h).i32(1).op("i32.add").global_set(nxt)
        _grow(b, m, lambda: b.get(h).i32(1).op("i32.add").i32(4).op("i32.shl"))
        b.end()
        b.get(h).i32(4).op("i32.shl").get(0).store("i32.store", m, 0)
        b.get(h).i32(4).op("i32.shl").get(1).store("i32.store", m, 4)
        b.get(h).i32(4).op("i32.shl").get(2).store("i32.store", m, 8)
        b.get(h).end()
        return _gen(b, ("i32", "i32", "i32"), ("i32",))

    def _t_get(self, inst: int) -> FuncCode:
        """(handle, kind) → entry address; traps on a free handle or one of another kind."""
        b = Body(["i32", "i32"])
        m = self.mem(("tbl", inst))
        b.get(0).op("i32.eqz").trap_if()
        b.get(0).global_get(self.glob(("tnext", inst))).op("i32.ge_u").trap_if()
        b.get(0).i32(4).op("i32.shl").load("i32.load", m, 0).get(1).op("i32.ne").trap_if()
        b.get(0).i32(4).op("i32.shl").end()
        return _gen(b, ("i32", "i32"), ("i32",))

    def _t_remove(self, inst: int) -> FuncCode:
        b = Body(["i32"])
        m, free = self.mem(("tbl", inst)), self.glob(("tfree", inst))
        b.get(0).i32(0).store("i32.store", m, 0)
        b.get(0).global_get(free).store("i32.store", m, 12)
        b.get(0).i32(4).op("i32.shr_u").global_set(free)
        b.end()
        return _gen(b, ("i32",), ())

    def _ready(self, inst: int) -> FuncCode:
        """(set) → the subtask handle in the set with a pending event, or 0.

        When several subtasks of the set have events at once, wasmtime delivers them in the
        order of its store-wide table ids (a `BTreeSet` of ready waitables), which depend on
        every object the runtime allocated and freed; that order is not reproduced here, so
        the fused module traps instead of guessing (refused at run time)."""
        b = Body(["i32"])
        m, tasks = self.mem(("tbl", inst)), self.mem("tasks")
        h, found = b.local("i32"), b.local("i32")
        b.i32(1).set(h)
        b.block().loop()
        b.get(h).global_get(self.glob(("tnext", inst))).op("i32.ge_u").br_if(1)
        b.get(h).i32(4).op("i32.shl").load("i32.load", m, 0).i32(SUBTASK).op("i32.eq")
        b.get(h).i32(4).op("i32.shl").load("i32.load", m, 8).get(0).op("i32.eq").op("i32.and")
        b.if_()
        b.get(h).i32(4).op("i32.shl").load("i32.load", m, 4)
        b.load("i32.load", tasks, _EVENT).if_()
        b.get(found).trap_if()  # a second ready subtask: the order is wasmtime's internal one
        b.get(h).set(found)
        b.end().end()
        b.get(h).i32(1).op("i32.add").set(h)
        b.br(0).end().end()
        b.get(found).end()
        return _gen(b, ("i32",), ("i32",))

    def _task_new(self) -> FuncCode:
        b = Body([])
        m, nxt, free = self.mem("tasks"), self.glob("task_next"), self.glob("task_free")
        t = b.local("i32")
        b.global_get(free).if_()
        b.global_get(free).set(t)
        b.get(t).load("i32.load", m, _NEXT).global_set(free)
        b.op("else")
        b.global_get(nxt).set(t)
        b.get(t).i32(1).op("i32.add").global_set(nxt)
        _grow(b, m, lambda: b.get(t).i32(1).op("i32.add").i32(_REC).op("i32.mul"))
        b.get(t).i32(_REC).op("i32.mul").set(t)
        b.end()
        b.get(t).i32(0).i32(_REC).memory_fill(m)
        b.get(t).end()
        return _gen(b, (), ("i32",))

    def _task_free(self) -> FuncCode:
        b = Body(["i32"])
        m, free = self.mem("tasks"), self.glob("task_free")
        b.get(0).i32(0).i32(_REC).memory_fill(m)
        b.get(0).global_get(free).store("i32.store", m, _NEXT)
        b.get(0).global_set(free)
        b.end()
        return _gen(b, ("i32",), ())

    def _enqueue(self) -> FuncCode:
        b = Body(["i32"])
        m, head, tail = self.mem("tasks"), self.glob("q_head"), self.glob("q_tail")
        b.get(0).i32(0).store("i32.store", m, _NEXT)
        b.global_get(tail).if_()
        b.global_get(tail).get(0).store("i32.store", m, _NEXT)
        b.op("else")
        b.get(0).global_set(head)
        b.end()
        b.get(0).global_set(tail).end()
        return _gen(b, ("i32",), ())

    def _step(self) -> FuncCode:
        """Run the oldest yielding task's callback (event NONE); 0 when none is queued."""
        b = Body([])
        m, head, tail = self.mem("tasks"), self.glob("q_head"), self.glob("q_tail")
        t = b.local("i32")
        if self.tp.root_returns:  # a root task handed to the host would interleave: asyncroot
            b.global_get(self.glob("handed")).trap_if()
        b.global_get(head).tee(t).op("i32.eqz").if_()
        b.i32(0).op("return")
        b.end()
        b.get(t).load("i32.load", m, _NEXT).global_set(head)
        b.global_get(head).op("i32.eqz").if_()
        b.i32(0).global_set(tail)
        b.end()
        b.get(t).i32(RUNNING).store("i32.store", m, _MODE)
        b.get(t).i32(0).i32(0).i32(0).call(self.fn("run"))
        b.i32(1).end()
        return _gen(b, (), ("i32",))

    def _run(self) -> FuncCode:
        """(task, event, p1, p2): its callback, dispatched on the record's callback index."""
        b = Body(["i32", "i32", "i32", "i32"])
        n = len(self.tp.callbacks)
        for _ in range(n + 1):
            b.block()
        b.get(0).load("i32.load", self.mem("tasks"), _CB).br_table(list(range(n)), n)
        for k in range(n):
            b.end()
            b.forward_args().call(self.fn("run", k)).op("return")
        b.end()
        b.unreachable().end()
        return _gen(b, ("i32",) * 4, ())

    def _run_one(self, k: int) -> FuncCode:
        """Call callback ``k`` as task ``t``: its context slots and current task in place."""
        lf = self.tp.callbacks[k]
        assert lf.opts.callback is not None
        b = Body(["i32", "i32", "i32", "i32"])
        m = self.mem("tasks")
        mb = self.glob("may_block")
        saved = [(g, b.local("i32")) for g in [self.glob("cur_task"), mb, *self.context_globals()]]
        for g, s in saved:
            b.global_get(g).set(s)
        b.get(0).global_set(self.glob("cur_task"))
        b.i32(1).global_set(mb)  # the task of an `async func` may block
        for slot in self.tp.slots:
            b.get(0).load("i32.load", m, _CTX + 4 * slot).global_set(self.glob(("ctx", slot)))
        code = b.local("i32")
        b.get(1).get(2).get(3).call(self.func(lf.opts.callback)).set(code)
        self.save_ctx(b, 0)
        for g, s in saved:
            b.get(s).global_set(g)
        b.get(0).get(code).call(self.fn("handle", lf.owner)).end()
        return _gen(b, ("i32",) * 4, ())

    def _handle(self, inst: int) -> FuncCode:
        """(task, callback code): EXIT, YIELD (queued) or WAIT on one of ``inst``'s sets."""
        b = Body(["i32", "i32"])
        m = self.mem("tasks")
        c = b.local("i32")
        b.get(1).i32(0xF).op("i32.and").set(c)
        b.get(c).op("i32.eqz").if_()  # EXIT: only after the task returned
        b.get(0).load("i32.load", m, _STATUS).i32(RETURNED).op("i32.lt_u").trap_if()
        b.get(0).i32(EXITED).store("i32.store", m, _MODE)
        b.get(0).load("i32.load", m, _SUB).op("i32.eqz").if_()
        b.get(0).call(self.fn("task.free"))
        b.end()
        b.op("return")
        b.end()
        b.get(c).i32(1).op("i32.eq").if_()  # YIELD
        b.get(0).i32(YIELDING).store("i32.store", m, _MODE)
        b.get(0).call(self.fn("enqueue")).op("return")
        b.end()
        b.get(c).i32(2).op("i32.ne").trap_if()
        # WAIT: the set must be one of the instance's; it counts the waiter (its drop traps).
        tbl, addr = self.mem(("tbl", inst)), b.local("i32")
        b.get(1).i32(4).op("i32.shr_u").i32(SET).call(self.fn("t.get", inst)).set(addr)
        b.get(addr).get(addr).load("i32.load", tbl, 8).i32(1).op("i32.add")
        b.store("i32.store", tbl, 8)
        b.get(0).i32(WAITING).store("i32.store", m, _MODE)
        b.get(0).get(1).i32(4).op("i32.shr_u").store("i32.store", m, _WSET)
        b.end()
        return _gen(b, ("i32", "i32"), ())

    def _export(self, lf: Lifted) -> FuncCode:
        """A root export of the task instance: a new task (zero context slots) that may block
        when its function is `async`; an async lift's is `merge.asyncroot`'s driver."""
        if lf.opts.is_async:
            from pymeld.merge.asyncroot import export_code

            return export_code(self, lf)
        core = flatten_functype(lf.type, "lift")
        b = Body(core.params)
        for g in self.context_globals():
            b.i32(0).global_set(g)
        b.i32(1 if lf.type.is_async else 0).global_set(self.glob("may_block"))
        b.forward_args().call(self.func(lf.core_func)).end()
        return _gen(b, core.params, core.results)

    def _callback_edges(self) -> list[Edge]:
        return [e for e in self.tp.edges.values() if e.task]

    def _returns_for(self, bi: int, e: Edge) -> bool:
        """Whether `task.return` built-in ``bi`` returns the results of edge ``e``'s task
        (else it traps: wasmtime checks the result type and the lift's options)."""
        bt, lf = self.g.builtins[bi], e.callee
        opts = bt.opts
        return (
            lf.owner == bt.owner
            and bt.result == lf.type.result
            and opts is not None
            and opts.string_encoding == lf.opts.string_encoding
            and (opts.memory is None or opts.memory == lf.opts.memory)  # wasmtime: unset is fine
        )

    def _ret(self, e: Edge) -> FuncCode:
        from pymeld.abi.adapter import generate_return

        lf = e.callee
        caller_opts, callee_opts = self.edge_opts(e.lower)
        lower = flatten_functype(lf.type, "lower")
        to_memory = lf.type.result is not None and (e.lower_async or not lower.results)
        r = generate_return(lf.type, callee_opts, caller_opts, to_memory)
        return FuncCode(r.params, r.results, r.locals, r.body)

    # -- built-ins -----------------------------------------------------------------------------
    def _builtin(self, bi: int) -> FuncCode:
        from pymeld.merge.asyncfuse import _sig

        bt = self.g.builtins[bi]
        params, results = _sig(bt)
        b = Body(params)
        op, inst = bt.op, bt.owner
        if op.startswith("context."):
            assert isinstance(bt.index, int)
            g = self.glob(("ctx", bt.index))
            if op == "context.get":
                b.global_get(g).end()
            else:
                b.get(0).global_set(g).end()
            return _gen(b, params, results)
        if op == "task.return":
            return self._task_return(bi, b, params, results)
        tbl = self.mem(("tbl", inst))
        get = self.fn("t.get", inst)
        addr = b.local("i32")
        if op == "waitable-set.new":
            b.i32(SET).i32(0).i32(0).call(self.fn("t.add", inst)).end()
        elif op == "waitable-set.drop":
            b.get(0).i32(SET).call(get).tee(addr).load("i32.load", tbl, 4).trap_if()
            b.get(addr).load("i32.load", tbl, 8).trap_if()  # a task waits on it
            b.get(addr).call(self.fn("t.remove", inst)).end()
        elif op == "waitable.join":
            b.get(0).i32(SUBTASK).call(get).set(addr)
            self._leave_set(b, inst, addr)
            b.get(1).if_()
            s = b.local("i32")
            b.get(1).i32(SET).call(get).set(s)
            b.get(s).get(s).load("i32.load", tbl, 4).i32(1).op("i32.add").store("i32.store", tbl, 4)
            b.end()
            b.get(addr).get(1).store("i32.store", tbl, 8).end()
        elif op == "subtask.drop":
            t = b.local("i32")
            b.get(0).i32(SUBTASK).call(get).set(addr)
            b.get(addr).load("i32.load", tbl, 4).set(t)
            b.get(t).load("i32.load", self.mem("tasks"), _DELIVERED).op("i32.eqz").trap_if()
            self._leave_set(b, inst, addr)
            b.get(addr).call(self.fn("t.remove", inst))
            b.get(t).i32(0).store("i32.store", self.mem("tasks"), _SUB)
            b.get(t).load("i32.load", self.mem("tasks"), _MODE).i32(EXITED).op("i32.eq").if_()
            b.get(t).call(self.fn("task.free"))
            b.end().end()
        else:  # waitable-set.wait / poll: (set, event ptr) → event code
            self._wait(bt, b, addr)
        return _gen(b, params, results)

    def _leave_set(self, b: Body, inst: int, addr: int) -> None:
        tbl, s = self.mem(("tbl", inst)), b.local("i32")
        b.get(addr).load("i32.load", tbl, 8).tee(s).if_()
        b.get(s).i32(4).op("i32.shl").tee(s).get(s).load("i32.load", tbl, 4).i32(1)
        b.op("i32.sub").store("i32.store", tbl, 4)
        b.end()
        b.get(addr).i32(0).store("i32.store", tbl, 8)
        b.free(s)

    def _wait(self, bt: Builtin, b: Body, addr: int) -> None:
        inst = bt.owner
        tbl, tasks, mem = self.mem(("tbl", inst)), self.mem("tasks"), self.memory(bt)
        h, t = b.local("i32"), b.local("i32")
        if bt.op == "waitable-set.wait":
            b.global_get(self.glob("may_block")).op("i32.eqz").trap_if()
        b.get(0).i32(SET).call(self.fn("t.get", inst)).set(addr)
        if bt.op == "waitable-set.wait":
            b.get(addr).get(addr).load("i32.load", tbl, 8).i32(1).op("i32.add")
            b.store("i32.store", tbl, 8)
            b.block().loop()
            b.get(0).call(self.fn("ready", inst)).tee(h).br_if(1)
            b.call(self.fn("step")).op("i32.eqz").trap_if()  # deadlock: nothing else can run
            b.br(0).end().end()
            b.get(addr).get(addr).load("i32.load", tbl, 8).i32(1).op("i32.sub")
            b.store("i32.store", tbl, 8)
        else:
            b.get(0).call(self.fn("ready", inst)).set(h)
        b.get(1).i32(3).op("i32.and").trap_if()  # the event record is 4-byte aligned
        b.get(h).op("i32.eqz").if_("i32")
        b.get(1).i32(0).store("i32.store", mem, 0)
        b.get(1).i32(0).store("i32.store", mem, 4)
        b.i32(0)
        b.op("else")
        b.get(h).i32(4).op("i32.shl").load("i32.load", tbl, 4).set(t)
        b.get(t).i32(0).store("i32.store", tasks, _EVENT)
        b.get(t).i32(1).store("i32.store", tasks, _DELIVERED)
        b.get(1).get(h).store("i32.store", mem, 0)
        b.get(1).get(t).load("i32.load", tasks, _STATUS).store("i32.store", mem, 4)
        b.i32(1)  # EventCode.SUBTASK
        b.end().end()

    def _task_return(
        self,
        bi: int,
        b: Body,
        params: tuple[CoreValType, ...],
        results: tuple[CoreValType, ...],
    ) -> FuncCode:
        """The current in-module task's results, lifted for the edge that started it; traps
        where the runtime does (no async task, already returned, another type or options)."""
        tasks = self.mem("tasks")
        t = b.local("i32")
        b.global_get(self.glob("cur_task")).tee(t).op("i32.eqz").trap_if()
        b.get(t).load("i32.load", tasks, _STATUS).i32(STARTED).op("i32.ne").trap_if()
        edges = self._callback_edges()
        for _ in range(len(edges) + 1):
            b.block()
        b.get(t).load("i32.load", tasks, _EDGE).set(t)
        # dispatch on the edge's lower index: a chain of compares (edges are few)
        for k, e in enumerate(edges):
            b.get(t).i32(e.lower).op("i32.eq").br_if(k)
        b.unreachable()
        # blocks close innermost first: edge k's code follows the k-th `end`
        body_done = len(edges)
        for k, e in enumerate(edges):
            b.end()
            lf = e.callee
            if not self._returns_for(bi, e):
                b.unreachable()
                continue
            lower = flatten_functype(lf.type, "lower")
            to_memory = lf.type.result is not None and (e.lower_async or not lower.results)
            item = self.p.find(Space.FUNC, GROUP, ("ret", bi, e.lower))
            assert item is not None
            tt = b.local("i32")
            b.global_get(self.glob("cur_task")).set(tt)
            if lf.type.result is not None and to_memory:
                b.forward_args().get(tt).load("i32.load", tasks, _RETPTR).call(item.index)
            elif lf.type.result is not None:
                (vt,) = lower.results
                v = b.local(vt)
                b.forward_args().call(item.index).set(v)
                b.get(tt).get(v).store(f"{vt}.store", tasks, _STASH)
            b.br(body_done - k - 1)
        b.end()
        t2 = b.local("i32")
        b.global_get(self.glob("cur_task")).set(t2)
        b.get(t2).i32(RETURNED).store("i32.store", tasks, _STATUS)
        b.get(t2).load("i32.load", tasks, _SUB).if_()
        b.get(t2).i32(1).store("i32.store", tasks, _EVENT)
        b.end()
        b.get(t2).load("i32.load", tasks, _SUB).op("i32.eqz").if_()
        b.get(t2).i32(1).store("i32.store", tasks, _DELIVERED)
        b.end()
        b.end()
        return _gen(b, params, results)


def _grow(b: Body, m: int, need: Callable[[], object]) -> None:
    """Grow memory ``m`` a page at a time until ``need()`` bytes fit (trap when it cannot)."""
    b.block().loop()
    need()
    b.memory_size(m).i32(16).op("i32.shl").op("i32.le_u").br_if(1)
    b.i32(1).memory_grow(m).i32(-1 & 0xFFFFFFFF).op("i32.eq").trap_if()
    b.br(0).end().end()


def _gen(b: Body, params: tuple[CoreValType, ...], results: tuple[CoreValType, ...]) -> FuncCode:
    return FuncCode(params, results, tuple(b.locals), bytes(b.code))
