"""Async across former component instances, stage 2 (issue 11): in-module tasks and subtasks.

The fused component is one runtime instance and wasmtime compiles a lift/lower pair inside one
instance to a trap, so an async call between two former instances becomes an *in-module task*:
the adapter calls the callee's core function directly and interprets its callback code, and
the task's later callbacks run from a scheduler in wasm. What is fused here (`plan_tasks`):

* The instances whose exports the host calls (the *roots*; callback-lifted root exports are
  driven by `merge.asyncroot`) keep the runtime's task; any instance may make async calls
  into others (nested subtasks), roots included (`TaskPlan.called_roots`: the adapters'
  calls into a root are in-module tasks beside the host's, `asyncroot.check_called_roots`). Waitable sets and subtasks live in per-instance handle tables (a
  subtask's handle in its *caller's* table) numbered as wasmtime numbers them (index 0 unused,
  fresh indices in order, freed ones reused last in first out). Context slots of every
  instance are in-module globals, saved, zeroed and restored at each task boundary (root
  export, adapter, realloc, callback).
* Callees lifted `async` with a callback: ``EXIT`` after `task.return` is RETURNED with no
  handle, ``YIELD``/``WAIT`` give the caller a subtask handle (``h<<4 | STARTED``).
  `task.return` lifts the results into the caller's memory (or the task record, for a sync
  caller) and sets the subtask's RETURNED event.
* The scheduler has wasmtime's two work queues: YIELD queues the task's next turn (event NONE)
  at low priority; an event for a subtask in a set that a task WAITs on queues that task's
  delivery at high priority (`mark_ready`), as does a WAIT whose set already has one. High
  items run first, in batches as wasmtime takes them; a root export that returns runs the rest
  of the batch it resumed in, as wasmtime does before the call returns, and high-priority work
  left then runs before the next root call's code. A blocked core stack
  (a sync lower whose callee did not return at once, `waitable-set.wait`, sync
  `subtask.cancel`) is a *marker* record queued where wasmtime queues the fiber's resumption;
  the stack runs queued work until its marker's turn. The marker of a stack below the running
  one cannot resume before it (fused code has one stack): that traps. When nothing can run,
  the original deadlocks and so does the fused module (trap). Blocking traps unless the task
  may block (wasmtime's `CannotBlockSyncTask`).
* `subtask.cancel` as wasmtime 50 does it (checked against it, not the spec's text): a
  subtask in a waitable set traps even with `async`; an unresolved task gets TASK_CANCELLED
  at once (its pending turn or wait is taken back and its callback runs), then `async` gives
  BLOCKED or sync blocks until it resolves; the terminal event is taken. `task.cancel` only
  after a cancel was sent and before a return: RETURNED_CANCELLED.

Several subtasks of one waitable set with events at once are delivered by wasmtime in the
order of its store-wide table ids, which depend on every object the runtime allocated and freed;
`merge.asyncids` mirrors them (each task record keeps its three ids) and `_ready` delivers the
lowest first. Where they are not mirrored the fused module traps there rather than guess (a
refusal at run time). Callback tasks waiting on one set are woken lowest task id first, as
wasmtime's `WaitableSet::waiting` (a `BTreeMap<QualifiedThreadId, _>`) does, while the ids are
mirrored; a blocked stack (a sync wait, a driven root) waiting beside another still traps.

A callee lifted `async` without a callback (stackful) runs the same way; its return is its
exit (it blocks while its caller goes on only by suspending its stack: below).

A callee lifted synchronously whose function is `async`, in an instance with suspend points,
is a task too (`Edge.sync_task`, wasmtime's `may_block` being the function's `async`): its
entry is its core function, and that function's return (first call or rewind) is the task's
return, `_sync_return`: the results are lifted for the caller, the subtask RETURNED, then
the post-return runs (the spec's sync `canon_lift`). Its suspended stack keeps the instance
entered, as a sync lift's code does; `task.return` in it traps.

`thread.yield` (not cancellable) in the core code of an in-module task, in its first call or a
later callback turn, suspends that stack for real: `merge.unwind` rewrites the core functions
that may reach the yield stand-in, which unwinds the stack into the task's frame buffer (its
own page of the ``frames`` memory) and queues the task at low priority; the adapter (the caller
gets STARTED) or the scheduler (`_run_one`) stops the unwind, and at the task's turn `_resume`
rewinds it through the entry it came in by, with its current task, may-block and context slots
in place. Generated functions are barriers: a yield reachable from anything but such an entry
or code where no task may block (`_no_block_entries`: there it returns at once) is refused
when fusing (`suspend`). As wasmtime's
`do_not_enter`, the instance stays entered while a callback task's stack is suspended: a
delivery to another of its tasks is held in the instance's pending list, beside the calls
waiting to start there (below), as wasmtime's `InstanceState::pending` keeps both by task id,
and queued at high priority in that order when the resumed code returns. A cancel sent
meanwhile waits for that code to return, as in wasmtime; the runtime ids stay mirrored past
a yield (it takes none), not past other suspensions (`lost`). On the stack of a host call
into a root instance whose exports are all lifted without a callback (stackful, or sync as an
`async func`), a yield needs no unwinding: that stack blocks in place as a marker queued at
low priority (`_stack_yield`), the turns queued before it run, then it goes on.

`waitable-set.wait` (not cancellable) in an instance entered by an async call is a suspend
point the same way (`TaskPlan.blocking`, `block_or_unwind`): with no event in its set, the
current task is armed as the set's waiter (mode SUSPENDED), its stack unwinds (the async
caller gets STARTED, or the turn returns to the scheduler), `mark_ready` queues it at high
priority where wasmtime queues the fiber's resumption, and at its turn `_resume` rewinds it:
the wait is called again and returns the event. A cancel sent meanwhile is delivered at the
task's next cancellable point, as for a yield. A blocking stream/future read or write in any
task instance is one too (`merge.asyncstream`): the task is armed as its instance's blocked
end (``blk_end``/``blk_task``), which the end's event queues. A sync lower's call of a task of
an instance with suspend points is an entry as well: the task's stack unwinds to the adapter,
and the sync caller goes on if the task returned (wasmtime's caller does), else blocks as a
marker until it does (a caller that may not block traps: `CannotBlockSyncTask`). A sync
`subtask.cancel` stays a marker (`block_on`): wasmtime does not hand a first call's async
caller its subtask while it blocks (checked against it).

A callback task's suspended stack keeps its instance entered (``ylock``); a stackful task's
does not. Calls that cannot start yet (wasmtime's `GuestCall::is_ready` for a new task): into
an instance so locked, or whose backpressure counter (``bp``: `backpressure.inc/dec` of an
instance entered by async calls) is raised (`gate_closed`). Checked against wasmtime 50:
* An async call (of a callback, stackful or sync lift; even a stackful one into a locked
  instance, which the spec would start) gets a STARTING subtask (``h<<4 | 0``): a PENDING
  record keeps the adapter's arguments (`_Hooks._defer`), and the call joins the instance's
  pending list, ordered by task id as wasmtime's `InstanceState::pending` (a `BTreeMap`; the
  mirrored `_SID`). When the counter drops to 0 or the locking stack's code returns,
  `_release` queues the list at high priority (`partition_pending`); at its turn a call whose
  gate closed again goes back (`_run_pending`), else `_begin` calls its adapter again with the
  kept arguments and the record: the caller's memory is read then, as wasmtime lowers the
  parameters at the start; the caller's STARTED event is set before the callee runs, then
  RETURNED etc. as for any subtask (a sync lift's results go to the caller's memory then).
  A call into an open instance starts at once, even with released calls still queued
  (wasmtime's fast path: checked); the caller of a call that cannot start goes on at once.
* `subtask.cancel` (sync or not) of a STARTING subtask, pending or released: START_CANCELLED
  at once, no event; it never runs (wasmtime 50 cancels a released one too; its sources before
  50 trapped). Dropping a subtask traps until its terminal event is taken (a STARTED one is
  not).
* A sync caller (not of a deferred sync-to-sync call of a function that is not `async`, which
  the gate does not stop: checked) blocks as a marker in the pending list until the gate
  opens (`wait_startable`), or traps where it may not block (`CannotBlockSyncTask`; its own
  backpressure: the runtime's deadlock). Its saved switch item's id is freed as it blocks
  (wasmtime resumes it with the STARTING event, merge.asyncids); once it starts, the call
  runs from the event loop in wasmtime, and the caller resumes at the turn its STARTED event
  queued (`_Hooks.rejoin`), taking RETURNED then or waiting on.

What needs more is refused by name: a sync call to a task in an instance entered by an async
call (its first call would have to return STARTED with its stack suspended: "needs a suspended
core stack"), a cancellable wait there, a suspend point reachable from elsewhere than a task
entry or code where no task may block (an export, a destructor), borrowed handles passed by an async call of a sync
lift that may have to start later (a task's are scoped to its record: `_check_deferred`), and
the combinations `merge.asyncroot` refuses. At run time these trap:
a sync call of a stackful function into a locked instance, a second call or held delivery
pending on an instance when either task's id was taken after the store ids stopped being
mirrored (`_EXACT`; their order is wasmtime's task ids), and two stacks of an instance
blocked on ends at once. Streams and futures inside tasks are `merge.asyncstream`'s
(stage 3): their ends share the tables, and their events wake waiters through this scheduler
(`mark_ready`, markers, suspended tasks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import field
from functools import partial
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.abi import types as at
from pymeld.abi.layout import flatten_async_functype, flatten_functype
from pymeld.codec.core.emitter import Body, CoreValType
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import Builtin, CoreRef, FlatGraph, HostFunc, Lifted
from pymeld.merge import asyncargs
from pymeld.plan import FuncCode, FuncItem, Plan, Space
from pymeld.resources.space import SharedSpace, claim, shared_space

if TYPE_CHECKING:
    from pymeld.codec.core.model import Module
    from pymeld.merge.asynchost import HostSubtasks
    from pymeld.merge.asyncreturned import Place
    from pymeld.merge.asyncstream import StreamRuntime
    from pymeld.resources.tables import InnerTables

GROUP = "async"

SET, SUBTASK = 1, 2  # handle-table entry kinds
STARTING, STARTED, RETURNED, START_CANCELLED, RETURNED_CANCELLED = 0, 1, 2, 3, 4  # Subtask.State
# task modes; MARKER: a record standing for a blocked core stack (a scheduler loop) in a queue
# SUSPENDED: a task whose core stack unwound in a blocking built-in, armed to be woken
# PENDING: a call that cannot start yet (STARTING), its arguments kept (`_ARGS`) until it does
RUNNING, YIELDING, WAITING, EXITED, QUEUED, MARKER, SUSPENDED, PENDING = range(8)
SYNC_CALLER = 0xFFFFFFFF  # the record's subtask field while a sync caller waits for it
TASK_CANCELLED = 6  # EventCode
BLOCKED = 0xFFFFFFFF
_MAX_HANDLE = (1 << 28) - 1
_REC = 160  # bytes per task record; a task is named by its record's address (never 0)
# task record fields (byte offsets)
_STATUS, _CB, _EDGE, _MODE, _WSET, _SUB, _EVENT, _DELIVERED, _RETPTR, _NEXT = range(0, 40, 4)
_CTX = 40  # context slots 0 and 1
_STASH = 56  # a sync caller's one flat result
# _TEVENT: the task's own pending event (1 NONE after YIELD, 2 TASK_CANCELLED); _CANCEL_SENT;
# _WAITER: the marker of a stack blocked on this subtask (sync caller, sync `subtask.cancel`);
# _CALLER/_OWNER: the caller's and the callee's component instance
_TEVENT, _CANCEL_SENT, _WAITER, _CALLER, _OWNER = range(64, 84, 4)
# the runtime's store-wide ids of the task, its thread's sync-call set and its thread
# (merge.asyncids); _FIRST: an async lower's first call of the task is running
_SID, _SSET, _STHR, _FIRST = range(84, 100, 4)
# _WNEXT: the next callback task waiting on the same set (wasmtime's `WaitableSet::waiting`)
_WNEXT = 100
# _STACK: the frame buffer of the task's core stack, unwound in `thread.yield` (0: none);
# _ENTRY: which entry (1 + index into `TaskRuntime.entries`) its running core code came in by
_STACK, _ENTRY = 104, 108
# _ARGS: a PENDING call's adapter arguments, 8 bytes each (an async lower has at most 5; a sync
# lower's others are kept beside the record: merge.asyncargs)
_ARGS = 112
# _WAITS_ON: while the task is suspended until another record resolves (`suspend_waiting`: a
# sync call's callee task, a sync host call's proxy), that record (a running task's `_ARGS`
# are free; the first word is a host proxy's `_HNEXT`)
_WAITS_ON = _ARGS + 4
# _EXACT: 1 when `_SID` was taken while the ids were mirrored (not `lost`), so it orders the
# task among others as the runtime's does (the ids taken before the mirror is lost stay right)
_EXACT = 152
#: the record fields `_Hooks.record_ids` fills: the task's three store-wide ids and `_EXACT`
_ID_FIELDS = (_SID, _SSET, _STHR, _EXACT)
_FRAME_PAGES = 1  # 64 KiB of frames per suspended task (more traps: merge.unwind)

_IN_TABLE = frozenset(
    {
        "waitable-set.new",
        "waitable-set.drop",
        "waitable-set.poll",
        "waitable.join",
        "subtask.drop",
        "subtask.cancel",
    }
)


@dataclass(slots=True)
class Edge:
    """An adapter edge between instances beside in-module tasks: ``lower_async`` the caller's
    lower, ``callback`` the callee's async lift (index into `TaskPlan.callbacks`, None for a
    sync lift)."""

    lower: int
    callee: Lifted
    lower_async: bool
    callback: int | None
    stackful: bool = False  # lifted `async` without a callback (never blocks: checked)
    caller: int = 0  # the lowering component instance (its table holds the subtask handle)
    # lifted synchronously, its function `async`, in an instance with suspend points: a task
    # whose core function returns its results (`TaskRuntime._sync_return`), which may block
    sync_task: bool = False

    @property
    def task(self) -> bool:
        """The callee runs as an in-module task (its results come through `task.return`, or
        through its core function's return for a `sync_task`)."""
        return self.callback is not None or self.stackful or self.sync_task


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
    cancels: list[int] = field(default_factory=list)  # task.cancel built-ins of callees
    contexts: list[int] = field(default_factory=list)  # context.get/set built-ins
    ends: list[int] = field(default_factory=list)  # stream/future built-ins (asyncstream)
    streams: bool = False  # in-module streams/futures (merge.asyncstream, stage 3)
    end_instances: set[int] = field(default_factory=set)  # instances ends cross adapters to
    root_returns: list[int] = field(default_factory=list)  # task.return of driven roots
    # roots also called through adapters (their in-module tasks beside the host's: asyncroot)
    called_roots: list[int] = field(default_factory=list)
    # `task.return` of those with stackful root exports: the host-called task's is the runtime's
    host_returns: list[int] = field(default_factory=list)
    yields: dict[int, str] = field(default_factory=dict)  # thread.yield built-ins → instance
    # thread.yield built-ins of root instances, reached on the host-called task's stack, which
    # blocks in place (a marker) instead of unwinding → instance
    stack_yields: dict[int, str] = field(default_factory=dict)
    # `waitable-set.wait` built-ins of instances entered by an async call, and blocking stream
    # and future reads and writes of any task instance: suspend points like the yields (their
    # stack unwinds) → instance. (A sync `subtask.cancel` blocks the caller's stack too in
    # wasmtime: it is a marker, `block_on`.)
    blocking: dict[int, str] = field(default_factory=dict)
    # backpressure built-ins of instances entered by async calls: calls into such an instance
    # wait while its counter is raised (STARTING subtasks, blocked sync callers)
    backpressure: dict[int, int] = field(default_factory=dict)  # built-in → instance
    # host imports whose call passes stream/future ends (`boundary_ends`)
    host_lowers: list[int] = field(default_factory=list)
    # host imports lowered `async`: their subtasks are the runtime's, proxied in the caller's
    # in-module table (`merge.asynchost`)
    host_subtasks: list[int] = field(default_factory=list)
    # synchronous lowers of host `async func`s, made `async` with a proxy the calling stack
    # waits for (`merge.asynchostsync`); those of instances whose lifts run as in-module tasks
    # are suspend points (their task's stack unwinds) → instance
    host_syncs: list[int] = field(default_factory=list)
    host_sync_points: dict[int, str] = field(default_factory=dict)
    # where ends cross the host boundary (root exports, host imports), for `--stats` and the
    # CLI's warning: a copy there left waiting for the host traps (refused at run time)
    host_handovers: list[str] = field(default_factory=list)
    # sync lowers, in the core code of in-module tasks, of async tasks that may block: suspend
    # points too (the caller's stack unwinds in the adapter until the callee returned) →
    # the caller's instance
    sync_blocks: dict[int, str] = field(default_factory=dict)
    # instances whose copying reads another instance may write, entered by synchronous calls
    # through adapters: those calls get threads (`merge.asyncsyncthreads`)
    sync_readers: list[int] = field(default_factory=list)

    @property
    def suspends(self) -> dict[int, str]:
        """Every built-in whose call may unwind the task's core stack (`merge.unwind`)."""
        return {**self.yields, **self.blocking}

    def suspending(self, g: FlatGraph) -> set[int]:
        """The instances with suspend points: built-ins' (`suspends`), callers' (`sync_blocks`,
        `host_sync_points`: synchronous calls of host `async func`s)."""
        out = {g.builtins[bi].owner for bi in self.suspends}
        out |= {g.lowers[li].owner for li in self.host_sync_points}
        return out | {self.edges[li].caller for li in self.sync_blocks}

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
    host_ends: bool = False,
) -> TaskPlan:
    """The in-module task plan, or `UnsupportedFeature` naming what it would need.

    ``host_ends``: a root export lifted synchronously, or a host import called synchronously,
    whose stream/future ends are flat parameters or the result (`boundary_ends`) is fused.
    An end handed to the host is lifted as wasmtime does (`StreamRuntime._host_lift`: its
    checks trap alike, so the corpus `trap-if-done.wast` fuses; a live end becomes the
    runtime's, the in-module writer's end a proxy), one taken from the host becomes an
    in-module proxy of the runtime's (`_host_lower`); what needs the runtime's events in
    in-module waits traps.
    Without it (`--keep-async-boundaries`) such an export is refused here, so that a
    component boundary is kept there instead."""
    from pymeld.merge.asyncfuse import blocks, carried
    from pymeld.merge.asyncreturned import async_root_ends, check_returned_proxiable
    from pymeld.merge.asyncroot import check_called_roots, check_root_export, plan_roots

    roots = sorted({lf.owner for _, lf in exported} or {caller for caller, _, _ in cross})
    task_inst = roots[0]
    root_hand_overs: list[str] = []
    for path, lf in exported:
        check_root_export(path, lf, label)
        if not any(True for _ in carried(lf.type)):
            continue
        if host_ends and root_ends(lf) is not None:
            _check_proxiable(lf.type, f"root export `{path}`")
            root_hand_overs.append(f"root export `{path}`")
            continue  # lowered and lifted by `TaskRuntime._export`
        if host_ends and (ends := async_root_ends(lf)) is not None:
            from pymeld.merge.asynclists import check_proxiable

            check_returned_proxiable(ends[0] + ends[1], f"root export `{path}`")
            check_proxiable(
                [*lf.type.param_types(), *lf.type.result_type()], f"root export `{path}`"
            )
            root_hand_overs.append(f"root export `{path}`")
            continue  # lifted by its `task.return` (`merge.asyncreturned`)
        raise UnsupportedFeature(
            f"stream/future in root export `{path}` beside in-module async tasks: its "
            "ends are in-module objects, which are not handed to or taken from the host "
            "(needs ends shared with the runtime's table)"
        )
    tp = TaskPlan(
        task_inst, roots=roots, streams=bool(root_hand_overs), host_handovers=root_hand_overs
    )
    gateable: set[int] = set()  # instances entered by calls other than sync-to-sync ones
    for caller, callee, li in cross:
        lw = g.lowers[li]
        if callee.owner in roots and callee.owner not in tp.called_roots:
            tp.called_roots.append(callee.owner)  # its host calls and in-module ones: asyncroot
        if any(True for _ in carried(callee.type)):
            from pymeld.merge.asyncstream import check_ends

            check_ends(callee.type, f"passed from {label(caller)} to {label(callee.owner)}")
            tp.streams = True
            tp.end_instances |= {caller, callee.owner}
        cb: int | None = None
        if callee.opts.is_async:
            if not callee.type.is_async:
                raise UnsupportedFeature(
                    f"callback lift of a function that is not `async` in component instance "
                    f"{label(callee.owner)} (a task that may not block: not fused; wasmtime 50 "
                    "and wasm-tools reject it, the `async` option requiring an `async` "
                    "function type, so there is no behaviour to check it against)"
                )
            if callee.opts.callback is not None:
                if callee not in tp.callbacks:
                    tp.callbacks.append(callee)
                cb = tp.callbacks.index(callee)
        if callee.opts.is_async or lw.opts.is_async or callee.type.is_async:
            gateable.add(callee.owner)  # wasmtime's `start_call` checks its backpressure
        tp.edges[li] = Edge(
            li,
            callee,
            lw.opts.is_async,
            cb,
            callee.opts.is_async and callee.opts.callback is None,
            caller,
        )
    no_block = _entered_by_async_lower(tp)
    may_be_tasks = {  # instances whose lifts run as tasks, or may (`_plan_sync_tasks`)
        e.callee.owner
        for e in tp.edges.values()
        if e.task or (not e.callee.opts.is_async and e.callee.type.is_async)
    }
    for li in lowers:
        lw = g.lowers[li]
        if not isinstance(lw.callee, HostFunc):
            continue
        if lw.opts.is_async:  # its subtask: a proxy in the caller's table (asynchost)
            from pymeld.merge.asynchost import check_host_subtask

            if check_host_subtask(lw, label, host_ends):  # its ends handed over
                tp.host_handovers.append(f"async host import `{'/'.join(lw.callee.path)}`")
                tp.streams = True
            tp.host_subtasks.append(li)
            continue
        if lw.callee.type.is_async:  # made `async`, waited for (asynchostsync)
            from pymeld.merge.asynchostsync import check_host_sync

            if check_host_sync(lw, label, host_ends):  # its ends handed over
                tp.host_handovers.append(f"host `async func` `{'/'.join(lw.callee.path)}`")
                tp.streams = True
            tp.host_syncs.append(li)
            if lw.owner in may_be_tasks and lw.owner not in roots:
                tp.host_sync_points[li] = label(lw.owner)
            continue
        if any(True for _ in carried(lw.callee.type)):
            what = f"host import `{'/'.join(lw.callee.path)}`"
            if not host_ends or boundary_ends(lw.callee.type) is None:
                raise UnsupportedFeature(
                    f"stream/future passed to {what} beside in-module async tasks: its ends "
                    "are in-module objects (only ends that are flat parameters or the result "
                    "of a synchronous call are handed over)"
                )
            _check_proxiable(lw.callee.type, what)
            tp.host_lowers.append(li)
            tp.host_handovers.append(what)
            tp.streams = True
    callees = {e.callee.owner for e in tp.edges.values()}
    tables: set[int] = set()
    for bi in used:
        b = g.builtins[bi]
        op, inst = b.op, b.owner
        if op.startswith(("stream.", "future.", "error-context.")):
            from pymeld.merge.asyncstream import plan_builtin

            if plan_builtin(b, f"in component instance {label(inst)}", inst in roots):
                tp.blocking[bi] = label(inst)  # its stack unwinds (`TaskRuntime.suspend`)
            tp.ends.append(bi)
            tp.streams = True
            tables.add(inst)
        elif op in _IN_TABLE or op == "waitable-set.wait":
            if blocks(b) and inst in no_block and op == "waitable-set.wait":
                if b.flag:  # a cancellable wait: woken by a cancel while suspended
                    raise UnsupportedFeature(
                        f"`{op} cancellable` in component instance {label(inst)}, entered "
                        "by an async call from an in-module task (a suspended stack woken "
                        "by a cancel: not fused yet)"
                    )
                tp.blocking[bi] = label(inst)  # its stack unwinds (`TaskRuntime.suspend`)
            tables.add(inst)
            tp.table_ops.append(bi)
        elif op == "thread.yield":
            if b.flag:
                raise UnsupportedFeature(_yield_refused(b, label(inst)))
            (tp.stack_yields if inst in roots else tp.yields)[bi] = label(inst)
        elif op.startswith("context."):
            if b.valtype != 0x7F:
                raise UnsupportedFeature(f"`{op} i64` beside in-module tasks")
            assert isinstance(b.index, int)
            if b.index not in tp.slots:
                tp.slots.append(b.index)
            tp.contexts.append(bi)
        elif op == "task.return" and inst in callees:
            tp.returns.append(bi)
        elif op == "task.cancel" and inst in callees:
            tp.cancels.append(bi)
        elif op in ("task.return", "task.cancel"):
            pass  # traps: no task there ever returns or is cancelled through it (asyncfuse)
        elif op.startswith("backpressure."):
            if inst in gateable and inst not in roots:  # gates calls into it (STARTING)
                tp.backpressure[bi] = inst
        elif not op.startswith("resource."):
            raise UnsupportedFeature(f"`{op}` beside in-module tasks")
    grown = True
    while grown:  # a sync block makes its caller's instance suspend, and so its callees tasks
        _plan_sync_tasks(g, tp, label)
        grown = False
        for li, e in tp.edges.items():
            if e.caller in no_block and e.task and not e.lower_async and li not in tp.sync_blocks:
                tp.sync_blocks[li] = label(e.caller)
                grown = True
    _check_sync_blocks(g, tp, label)
    plan_roots(g, used, tp, exported, label)
    check_called_roots(g, used, tp, exported, label)
    _check_stack_yields(g, tp, exported)
    _check_deferred(g, tp, label)
    for bi, where in tp.suspends.items():
        if g.builtins[bi].owner not in tp.task_instances():
            raise UnsupportedFeature(
                f"`{g.builtins[bi].op}` in component instance {where} beside in-module tasks "
                "(needs a suspended core stack: fused code has one only in the core code of an "
                "in-module task)"
            )
    tp.slots.sort()
    callers = {e.caller for e in tp.edges.values() if e.lower_async}
    callers |= {g.lowers[li].owner for li in tp.host_subtasks}
    from pymeld.merge.asynchostsync import valued_callers

    callers |= valued_callers(g, tp)
    tp.tables = sorted(tables | set(roots) | tp.task_instances() | callers | tp.end_instances)
    return tp


BoundaryEnds = tuple[list["Place"], "at.Stream | at.Future | None"]
SpilledEnds = list["Place"]


def _spilled(ft: at.FuncType) -> SpilledEnds:
    """`merge.asyncreturned.spilled_ends` of a call `boundary_ends` fuses ([] when they are in
    lists: walked, `merge.asynclists`)."""
    from pymeld.merge.asynclists import listed
    from pymeld.merge.asyncreturned import spilled_ends

    out = [] if listed(ft.result_type()) else spilled_ends(ft)
    assert out is not None
    return out


def _stored(ft: at.FuncType) -> SpilledEnds:
    """`merge.asyncspill.spilled_params` of a call `boundary_ends` fuses ([] when they are in
    lists: walked, `merge.asynclists`)."""
    from pymeld.merge.asynclists import listed
    from pymeld.merge.asyncspill import spilled_params

    out = [] if listed(ft.param_types()) else spilled_params(ft)
    assert out is not None
    return out


def _yield_refused(b: Builtin, where: str) -> str:
    return (
        f"`thread.yield{' cancellable' if b.flag else ''}` in component instance {where} "
        "beside in-module tasks (needs a suspended core stack: fused code has one only for a "
        "non-cancellable yield in a task entered by an async call, or on the stack of a "
        "host call into a root instance whose exports are all lifted without a callback)"
    )


def _check_stack_yields(g: FlatGraph, tp: TaskPlan, exported: list[tuple[str, Lifted]]) -> None:
    """Refuse a root instance's `thread.yield` that another stack than a host call's may
    reach: its stand-in blocks the stack it runs on in place (`TaskRuntime._stack_yield`),
    which is wasmtime's only while that stack is a host-called stackful or sync-lifted task's
    (a callback-lifted task keeps its instance to itself; an in-module task of a root
    called through adapters would have to hand its caller the subtask meanwhile)."""
    callback_owners = {lf.owner for lf in tp.callbacks}
    callback_owners |= {lf.owner for _, lf in exported if lf.opts.callback is not None}
    tasks = tp.task_instances()
    for bi, where in tp.stack_yields.items():
        inst = g.builtins[bi].owner
        if inst in tp.called_roots or inst in tasks or inst in callback_owners:
            raise UnsupportedFeature(_yield_refused(g.builtins[bi], where))


def boundary_ends(ft: at.FuncType, beside_handles: bool = False) -> BoundaryEnds | None:
    """The stream/future ends a synchronous call of ``ft`` across the host boundary passes:
    where each end among its parameters sits (`merge.asyncreturned.Place`: a flat index, in
    tuples, records and variant cases), and the result when it is one; None unless those and
    the ends of parameters or a result passed through memory (`merge.asyncspill.spilled_params`,
    `merge.asyncreturned.spilled_ends`) and in lists (`merge.asynclists`, walked: then no
    place is given) are all its ends and no resource handle goes beside them
    (``beside_handles``: a root export's may, translated by the resource tables' stand-in it
    calls: `TaskRuntime.root_target`)."""
    from pymeld.merge.asynclists import listed, walkable
    from pymeld.merge.asyncreturned import end_places
    from pymeld.merge.asyncspill import params_spilled

    types = ft.param_types()
    if (at.handles(ft) and not beside_handles) or not walkable([*types, *ft.result_type()]):
        return None
    params = [] if params_spilled(ft) or listed(types) else end_places(types)
    if params is None:
        return None
    r = ft.result
    return params, r if isinstance(r, at.Stream | at.Future) else None


def root_ends(lf: Lifted) -> BoundaryEnds | None:
    """`boundary_ends` of a root export lifted synchronously (an async lift's results go
    through `task.return`: `merge.asyncreturned`), when it passes any."""
    from pymeld.merge.asynclists import listed
    from pymeld.merge.asyncreturned import spilled_ends
    from pymeld.merge.asyncspill import spilled_params

    ends = None if lf.opts.is_async else boundary_ends(lf.type, beside_handles=True)
    if ends is None or not (
        ends[0]
        or ends[1] is not None
        or spilled_ends(lf.type)
        or spilled_params(lf.type)
        or listed([*lf.type.param_types(), *lf.type.result_type()])
    ):
        return None
    return ends


def _check_proxiable(ft: at.FuncType, what: str) -> None:
    """Refuse an end ``what`` hands over or takes whose payload the runtime's built-ins could
    not copy for in-module code (`asyncstream._proxiable`)."""
    from pymeld.merge.asynclists import check_proxiable

    assert boundary_ends(ft, beside_handles=True) is not None  # so these are all its ends
    check_proxiable([*ft.param_types(), *ft.result_type()], what)


def _plan_sync_tasks(g: FlatGraph, tp: TaskPlan, label: Callable[[int], str]) -> None:
    """Make the edges to synchronously lifted `async func`s of instances with suspend points
    in-module tasks (`Edge.sync_task`): such a callee may block (wasmtime's `may_block` is
    the function's `async`), so a suspend point in its core code needs the task's entry to
    stop the unwind, and its async caller gets STARTED when it does. Its results are its core
    function's, lifted when it returns (then its post-return), not `task.return`'s."""
    suspending = tp.suspending(g)
    for e in tp.edges.values():
        lf = e.callee
        if not lf.opts.is_async and lf.type.is_async and lf.owner in suspending:
            if lf.owner in tp.roots:
                raise UnsupportedFeature(
                    f"synchronously lifted `async func` of root instance {label(lf.owner)} "
                    "with suspend points, called through an adapter (an in-module task beside "
                    "the host's: not fused yet)"
                )
            e.sync_task = True


def _check_sync_blocks(g: FlatGraph, tp: TaskPlan, label: Callable[[int], str]) -> None:
    """Refuse the sync calls from task code to async tasks (`TaskPlan.sync_blocks`) whose
    blocking the adapter cannot suspend: a caller in a root instance (the host's stack is
    below), or a callee in a root instance. (Borrows lent for the call are scoped to the
    callee's task record, `merge.asyncres.scoped_edges`, as an async caller's, so they outlive
    the adapter's unwind; a call that may have to start later keeps all its arguments, past
    the record's five too: merge.asyncargs.)"""
    for li in tp.sync_blocks:
        e = tp.edges[li]
        why = None
        if e.caller in tp.roots:
            why = "its caller is a root instance, whose stack the host called"
        elif e.caller not in tp.task_instances():
            why = "its caller is not the core code of an in-module task"
        elif e.callee.owner in tp.roots:
            why = "its callee is a root instance"
        if why is not None:
            raise UnsupportedFeature(
                f"synchronous call from component instance {label(e.caller)}, entered by an "
                f"async call, to the async task of {label(e.callee.owner)} ({why}: blocking "
                "there is not fused yet)"
            )


def _check_deferred(g: FlatGraph, tp: TaskPlan, label: Callable[[int], str]) -> None:
    """Refuse a call of a sync lift that may have to start later (its callee's instance has
    backpressure or may be locked by a suspended stack) lending borrowed handles: the adapter's
    borrow scope would have to outlive a call that returned STARTING (not fused). A task's
    borrows are scoped to its record (`merge.asyncres.scoped_edges`), lent when it starts."""
    gated = {*tp.backpressure.values(), *tp.suspending(g)}
    for e in tp.edges.values():
        if e.callee.owner not in gated or not e.lower_async or e.task:
            continue
        if any(
            isinstance(h, at.Borrow) for t in e.callee.type.param_types() for h in at.handles(t)
        ):
            raise UnsupportedFeature(
                f"borrowed handles passed by an async call to component instance "
                f"{label(e.callee.owner)}, which may start it later (STARTING: not fused)"
            )


def _entered_by_async_lower(tp: TaskPlan) -> set[int]:
    """Instances whose code may run inside the first call of an async-lowered task (the
    callees of async lowers and what they call synchronously): blocking there would have to
    hand the caller its subtask while the callee's stack stays suspended."""
    out = {e.callee.owner for e in tp.edges.values() if e.lower_async}
    grown = True
    while grown:
        grown = False
        for e in tp.edges.values():
            if e.caller in out and not e.lower_async and e.callee.owner not in out:
                out.add(e.callee.owner)
                grown = True
    return out


class _Hooks:
    """`abi.adapter.TaskHooks` of one edge."""

    def __init__(self, rt: TaskRuntime, edge: Edge) -> None:
        self.rt, self.edge = rt, edge
        self.t = self.prev = self.blocked = -1
        self.pre = -1  # local: the task's record, made before a scoped call's lowering
        self.sids: tuple[int, ...] = ()
        self.exact = -1  # local: the ids in ``sids`` are the runtime's (`_EXACT`)
        self.resumed: int | None = None  # local: the PENDING record this call starts, or 0
        # local: a sync call that waited for its gate (`wait_startable`); with ``late_mk``,
        # the marker its caller resumes by (`rejoin`)
        self.late: int | None = None
        self.late_mk = -1
        # locals: the thread of the sync call below (`merge.asyncsyncthreads`)
        self.thread: tuple[int, int] | None = None

    @property
    def record_ids(self) -> tuple[int, ...]:
        """The locals a task record keeps in `_ID_FIELDS`: the three ids of ``sids`` (the
        fourth, the switch item's id, is not recorded) and ``exact``."""
        return (*self.sids[:3], self.exact)

    def enter(self, b: Body) -> None:
        """The callee's task may block when its function is `async` (the caller's may-block is
        checked only if the call actually blocks: `finish`). The runtime's ids of the call's
        task (merge.asyncids): a sync-to-sync call defers them; any other takes them now. Then
        a call into a gated instance (`gate`) that cannot start yet waits (`_gate`)."""
        e, rt = self.edge, self.rt
        if self.suspends:  # rewound into after its callee returned: on to the results
            self.t = b.local("i32")
            b.block().block()  # (the outer one ends in `finish`, where the results are taken)
            rt.rewound(b)
            b.global_get(rt.glob("cur_task")).load("i32.load", rt.mem("tasks"), _WAITS_ON)
            b.set(self.t)
            b.br(1)
            b.end()
        mb = rt.glob("may_block")
        self.blocked = b.local("i32")
        b.global_get(mb).set(self.blocked)
        b.i32(1 if e.callee.type.is_async else 0).global_set(mb)
        gated = e.callee.owner in rt.gates and not self.deferred
        if gated and e.lower in rt.deferrable:
            # the scheduler starting a PENDING call calls this adapter again (`_begin`)
            self.resumed = b.local("i32")
            b.global_get(rt.glob("starting")).tee(self.resumed).if_()
            b.i32(0).global_set(rt.glob("starting"))
            b.end()
        ids = rt.ids
        if self.deferred:
            b.call(ids.fn("push"))
        else:
            self.sids = tuple(b.local("i32") for _ in range(4))
            self.exact = b.local("i32")
            if self.resumed is not None:  # taken when the call was made: in its record
                b.get(self.resumed).if_()
                for s_, off in zip(self.record_ids, _ID_FIELDS, strict=True):
                    b.get(self.resumed).load("i32.load", rt.mem("tasks"), off).set(s_)
                b.op("else")
            ids.force(b)
            for s_ in self.sids:
                ids.alloc(b)
                b.set(s_)
            b.global_get(ids.glob("lost")).op("i32.eqz").set(self.exact)
            if self.resumed is not None:
                b.end()
        if gated and self.suspends:
            assert self.resumed is not None
            b.get(self.resumed).op("i32.eqz")
            rt.gate_closed(b, e.callee.owner)
            b.op("i32.and").if_()
            self._defer_sync(b)
            b.end()
        elif gated:
            self._gate(b)
        if self.marks_root_entered is not None:
            self._enter_called_root(b)
        if e.lower in rt.scoped:  # the task's record first: its borrows are lowered into it
            assert rt.borrow_scopes is not None
            self.pre = b.local("i32")
            if self.resumed is not None:  # a PENDING call starting: its record
                b.get(self.resumed).tee(self.pre).op("i32.eqz").if_()
                b.call(rt.fn("task.new")).set(self.pre)
                b.end()
            else:
                b.call(rt.fn("task.new")).set(self.pre)
            b.get(self.pre).i32(_REC).op("i32.div_u")
            b.global_set(rt.borrow_scopes.lend_scope_global)
        if not e.task and e.callee.owner in rt.tp.sync_readers:
            from pymeld.merge import asyncsyncthreads

            self.thread = asyncsyncthreads.enter(rt, b, e.callee.owner)

    @property
    def suspends(self) -> bool:
        """A sync call from task code to an async task: its blocking unwinds the caller's
        stack (`TaskRuntime.suspend_in_call`)."""
        return self.edge.lower in self.rt.tp.sync_blocks

    @property
    def marks_root_entered(self) -> bool | None:
        """For a call into a root instance also called through adapters (not a deferred one,
        which wasmtime runs inside it: checked): whether the callee's code keeps the instance
        entered (a sync or callback lift, as wasmtime's `do_not_enter`; a stackful one does
        not); None for any other call."""
        e = self.edge
        if e.callee.owner not in self.rt.tp.called_roots or self.deferred:
            return None
        return not e.stackful

    def _enter_called_root(self, b: Body) -> None:
        """Emit: a call into a root instance also called through adapters while a stack of
        its code is below (a host call or an in-module one, blocked in a sync call) traps: in
        wasmtime 50 it waits until that stack returns (an async caller gets STARTING, a sync
        one blocks: checked), which the one fused stack cannot do above it (a run-time
        refusal). A sync lift's code keeps the instance entered until `leave`."""
        from pymeld.merge.asyncroot import enter

        inst = self.edge.callee.owner
        b.global_get(self.rt.glob(("root_in", inst))).trap_if()
        if not self.edge.task:
            enter(self.rt, b, inst)

    def _gate(self, b: Body) -> None:
        """Emit: a call into an instance whose backpressure is raised or which a suspended
        callback stack keeps entered (`TaskRuntime.gate_closed`) does not start now, as in
        wasmtime 50 (checked against it; a gate open starts the call at once, even with
        released calls still queued ahead: wasmtime's fast path). An async caller gets a
        STARTING subtask (`_defer`), of a synchronously lifted function too (its results are
        written to the caller's memory when it runs, then RETURNED); a sync caller blocks until
        the gate opens (a marker in the instance's pending list: `wait_startable`); a sync call
        of a stackful function into a locked instance is not fused (trap)."""
        e, rt = self.edge, self.rt
        inst = e.callee.owner
        if self.resumed is not None:
            b.get(self.resumed).op("i32.eqz")
            rt.gate_closed(b, inst)
            b.op("i32.and").if_()
            self._defer(b)
            b.end()
            if not e.task:  # a sync lift started late: STARTED before it runs (a task's is
                m = rt.mem("tasks")  # set by `start`)
                b.get(self.resumed).if_()
                b.get(self.resumed).i32(STARTED).store("i32.store", m, _STATUS)
                b.get(self.resumed).i32(RUNNING).store("i32.store", m, _MODE)
                b.get(self.resumed).call(rt.fn("notify"))
                b.end()
        else:
            if e.stackful and inst in rt.yielding:
                b.global_get(rt.glob(("ylock", inst))).trap_if()
            self.late = b.local("i32")
            rt.wait_startable(
                b,
                inst,
                (self.sids[0], self.exact) if self.sids else None,
                self.late,
                self.sids[3] if self.sids else None,
            )
            # it starts from wasmtime's event loop: its STARTED event queues the caller's
            # turn now (taking RETURNED then if it has returned by that turn: `rejoin`)
            self.late_mk = b.local("i32")
            b.get(self.late).if_()
            b.call(rt.fn("marker")).tee(self.late_mk).call(rt.fn("push_high"))
            b.end()

    def _pending_record(self, b: Body) -> int:
        """Emit: a local holding a new PENDING record of this call, with the adapter's
        arguments and the call's ids (its adapter is called again with them: `_begin`)."""
        e, rt = self.edge, self.rt
        m = rt.mem("tasks")
        t = b.local("i32")
        b.call(rt.fn("task.new")).set(t)
        b.get(t).i32(PENDING).store("i32.store", m, _MODE)
        b.get(t).i32(e.callback or 0).store("i32.store", m, _CB)
        b.get(t).i32(e.lower).store("i32.store", m, _EDGE)
        b.get(t).i32(e.caller).store("i32.store", m, _CALLER)
        b.get(t).i32(e.callee.owner).store("i32.store", m, _OWNER)
        asyncargs.store(rt, b, t, list(b.params), _ARGS)
        if self.sids:
            for s_, off in zip(self.record_ids, _ID_FIELDS, strict=True):
                b.get(t).get(s_).store("i32.store", m, off)
        return t

    def _defer(self, b: Body) -> None:
        """Emit: the async call cannot start yet: a PENDING record keeps the adapter's
        arguments (the caller's memory is read only when it starts, as wasmtime lowers the
        parameters then), the caller gets a subtask handle with STARTING and goes on."""
        e, rt = self.edge, self.rt
        m = rt.mem("tasks")
        t = self._pending_record(b)
        h = b.local("i32")
        b.i32(SUBTASK).get(t).i32(0).call(rt.fn("t.add", e.caller)).set(h)
        b.get(t).get(h).store("i32.store", m, _SUB)
        self.first_call_done(b)  # the caller resumes (its STARTING event)
        b.get(t).call(rt.fn("pend_insert", e.callee.owner))
        b.get(self.blocked).global_set(rt.glob("may_block"))
        b.get(h).i32(4).op("i32.shl").i32(STARTING).op("i32.or").op("return")
        b.free(t, h)

    def _defer_sync(self, b: Body) -> None:
        """Emit: a sync call from task code (`suspends`) that cannot start yet: a PENDING
        record keeps the adapter's arguments, as for an async caller (`_defer`), joins the
        instance's pending list, and the caller's task suspends armed as its waiter, as
        wasmtime's blocks its fiber until the call starts. The scheduler starts it (`_begin`
        calls this adapter again), its STARTED event queues the caller (wasmtime resumes the
        fiber then), and the caller, rewound into this adapter, takes the results or waits
        again (`finish`)."""
        e, rt = self.edge, self.rt
        m = rt.mem("tasks")
        b.get(self.blocked).op("i32.eqz").trap_if()  # the caller's `may_block` (`enter`)
        t = self._pending_record(b)
        b.get(t).i32(SYNC_CALLER).store("i32.store", m, _SUB)
        b.get(t).call(rt.fn("pend_insert", e.callee.owner))
        b.get(self.blocked).global_set(rt.glob("may_block"))
        if self.sids:  # its saved switch item's id is freed as it blocks (`wait_startable`)
            b.get(self.sids[3])
            rt.ids.release(b)
        # the ids stay mirrored: a sync wait takes none (as in `suspend_in_call`); so two
        # calls pending at once start in wasmtime's order (200 of 200 random programs of
        # `test_async_tasks_property`'s gated variants)
        results = flatten_functype(e.callee.type, "lower").results
        rt.suspend_waiting(b, e.caller, t, results, keeps_ids=True)
        b.free(t)

    def leave(self, b: Body) -> None:
        b.get(self.blocked).global_set(self.rt.glob("may_block"))
        ids = self.rt.ids
        if self.edge.task:
            return
        if self.thread is not None:
            from pymeld.merge import asyncsyncthreads

            asyncsyncthreads.leave(self.rt, b, self.edge.callee.owner, self.thread)
        if self.marks_root_entered:
            from pymeld.merge.asyncroot import leave

            leave(self.rt, b, self.edge.callee.owner)
        if self.resumed is not None:  # a sync lift started late: its subtask has returned
            m = self.rt.mem("tasks")
            b.get(self.resumed).if_()
            b.get(self.resumed).i32(RETURNED).store("i32.store", m, _STATUS)
            b.get(self.resumed).i32(EXITED).store("i32.store", m, _MODE)
            b.get(self.resumed).call(self.rt.fn("notify"))
            # its thread exits; the task is freed at `subtask.drop`
            for s in (self.sids[2], self.sids[1]):
                b.get(s)
                ids.release(b)
            b.op("else")
        if self.deferred:
            b.call(ids.fn("pop"))
        else:
            # a sync lift called through `prepare_call`: its thread exits (thread, set, then
            # the first call's id); a sync caller takes the result (the task), an async
            # caller's RETURNED comes after the exit, so its task's id is never freed. A call
            # that waited for its gate (``late``) freed the first call's id then, and its
            # caller takes the result only when it resumes (`rejoin`)
            task, sset, sthr, call = self.sids
            for s in (sthr, sset, call, *([] if self.edge.lower_async else [task])):
                if s in (call, task) and self.late is not None:
                    b.get(self.late).op("i32.eqz").if_()
                b.get(s)
                ids.release(b)
                if s in (call, task) and self.late is not None:
                    b.end()
        if self.resumed is not None:
            b.end()
        self.rejoin(b, taken=None if self.edge.lower_async or not self.sids else self.sids[0])

    def rejoin(self, b: Body, taken: int | None = None) -> None:
        """Emit, after the first call of a sync call that waited for its gate (`_gate`): the
        caller resumes only at the turn its STARTED event queued (wasmtime's resumption of
        its fiber; then it takes RETURNED, or waits again). ``taken``: the local of the id of
        a returned callee's task, freed as the caller takes its result then (`start_call`
        deletes an exited task whose result was taken)."""
        if self.late is not None:
            b.get(self.late).if_()
            self.rt.await_marker(b, self.late_mk)
            if taken is not None:
                b.get(taken)
                self.rt.ids.release(b)
            b.end()

    @property
    def deferred(self) -> bool:
        """A sync-to-sync call of a function that is not `async`: wasmtime's adapter defers
        its task (a `VMDeferredThread`); any other call goes through `prepare_call`."""
        e = self.edge
        return not e.lower_async and not e.task and not e.callee.type.is_async

    def first_call_done(self, b: Body) -> None:
        """Emit, as the callee's first call returned: the caller resumes, freeing the id of
        its saved switch item (`YieldingToSubtask`, merge.asyncids)."""
        if self.sids:
            if self.resumed is not None:  # a PENDING call's caller resumed when it was made
                b.get(self.resumed).op("i32.eqz").if_()
            if self.late is not None:  # or when it found the call could not start
                b.get(self.late).op("i32.eqz").if_()
            b.get(self.sids[3])
            self.rt.ids.release(b)
            if self.late is not None:
                b.end()
            if self.resumed is not None:
                b.end()

    def start(self, b: Body, retptr: int | None) -> None:
        rt, e = self.rt, self.edge
        m = rt.mem("tasks")
        if not self.suspends:  # (made by `enter`)
            self.t = b.local("i32")
        self.prev = b.local("i32")
        if self.pre >= 0:  # made before the lowering (`enter`), or the PENDING record
            b.get(self.pre).set(self.t)
            if self.resumed is not None:
                b.get(self.t).i32(RUNNING).store("i32.store", m, _MODE)
        elif self.resumed is not None:
            b.get(self.resumed).tee(self.t).op("i32.eqz").if_()
            b.call(rt.fn("task.new")).set(self.t)
            b.end()
            b.get(self.t).i32(RUNNING).store("i32.store", m, _MODE)
        else:
            b.call(rt.fn("task.new")).set(self.t)
        b.get(self.t).i32(STARTED).store("i32.store", m, _STATUS)
        b.get(self.t).i32(e.callback or 0).store("i32.store", m, _CB)
        b.get(self.t).i32(e.lower).store("i32.store", m, _EDGE)
        if retptr is not None:
            b.get(self.t).get(retptr).store("i32.store", m, _RETPTR)
        if not e.lower_async:
            b.get(self.t).i32(SYNC_CALLER).store("i32.store", m, _SUB)
        b.get(self.t).i32(e.caller).store("i32.store", m, _CALLER)
        b.get(self.t).i32(e.callee.owner).store("i32.store", m, _OWNER)
        entry = rt.entry_id(("first", e.lower))
        if entry:
            b.get(self.t).i32(entry).store("i32.store", m, _ENTRY)
        if self.sids:
            for s, off in zip(self.record_ids, _ID_FIELDS, strict=True):
                b.get(self.t).get(s).store("i32.store", m, off)
            if e.lower_async:
                b.get(self.t).i32(1).store("i32.store", m, _FIRST)
        b.global_get(rt.glob("cur_task")).set(self.prev)
        b.get(self.t).global_set(rt.glob("cur_task"))
        if self.resumed is not None:  # its caller's STARTED event (wasmtime sets it as the
            b.get(self.resumed).if_()  # parameters are lowered, before the callee runs)
            b.get(self.t).call(rt.fn("notify"))
            b.end()
        if self.marks_root_entered and e.callback is not None:  # its callback code runs
            from pymeld.merge.asyncroot import enter

            enter(rt, b, e.callee.owner)

    def returned(self, b: Body) -> None:
        """Emit, after the first call of a `sync_task` edge's core function: its results
        (`TaskRuntime.sync_returned`), then the code EXIT."""
        self.rt.sync_returned(b, self.edge)

    def finish(self, b: Body, code: int) -> None:
        rt, e = self.rt, self.edge
        m, t = rt.mem("tasks"), self.t
        if self.marks_root_entered and e.callback is not None:
            from pymeld.merge.asyncroot import leave

            leave(rt, b, e.callee.owner)
        rt.save_ctx(b, t)
        b.get(self.prev).global_set(rt.glob("cur_task"))
        self.leave(b)
        status = b.local("i32")
        b.get(t).load("i32.load", m, _STATUS).set(status)
        if rt.entry_id(("first", e.lower)):  # the callee's core stack unwound in a yield:
            rt.if_unwound(b)  # it is queued to resume, the caller gets STARTED
            b.op("else")
            b.get(t).get(code).call(rt.fn("handle", e.callee.owner))
            b.end()
        else:
            b.get(t).get(code).call(rt.fn("handle", e.callee.owner))
        self.first_call_done(b)
        if e.lower_async:
            if self.sids:  # the record may be free already: zero is what it holds then
                b.get(t).i32(0).store("i32.store", m, _FIRST)
            if self.resumed is not None:  # started by the scheduler: its handle is given
                b.get(self.resumed).if_("i32")
                b.i32(STARTED)  # (dropped by `_begin`)
                b.op("else")
            b.get(status).i32(RETURNED).op("i32.eq").if_("i32")
            b.i32(RETURNED)
            b.op("else")
            h = b.local("i32")
            b.i32(SUBTASK).get(t).i32(0).call(rt.fn("t.add", e.caller)).set(h)
            b.get(t).get(h).store("i32.store", m, _SUB)
            b.get(h).i32(4).op("i32.shl").i32(STARTED).op("i32.or")
            b.end()
            if self.resumed is not None:
                b.end()
            return
        # A sync caller blocks until the task returned, running queued tasks meanwhile; a
        # caller whose task may not block traps as soon as the callee did not return at once
        # (wasmtime: "cannot block a synchronous task before returning").
        self.rejoin(b)
        if self.suspends:
            if self.resumed is not None:  # started by the scheduler: its caller is queued
                b.get(self.resumed).if_()  # (its STARTED event) and takes the results
                for vt in flatten_functype(e.callee.type, "lower").results:
                    b.zero(vt)
                b.op("return")
                b.end()
            b.end()  # (opened by `enter`: a rewind goes on here, and waits again if need be)
        b.get(t).load("i32.load", m, _STATUS).i32(RETURNED).op("i32.lt_u").if_()
        b.global_get(rt.glob("may_block")).op("i32.eqz").trap_if()
        if self.suspends:
            rt.suspend_in_call(b, e, t)
        else:
            rt.block_on(b, lambda mk: b.get(t).get(mk).store("i32.store", m, _WAITER))
        b.end()
        lower = flatten_functype(e.callee.type, "lower")
        if lower.results:
            (vt,) = lower.results
            b.get(t).load(f"{vt}.load", m, _STASH)
        b.get(t).i32(0).store("i32.store", m, _SUB)
        b.get(t).load("i32.load", m, _MODE).i32(EXITED).op("i32.eq").if_()
        # the sync caller took the result of an exited task
        b.get(t).load("i32.load", m, _SID)
        rt.ids.release(b)
        b.get(t).call(rt.fn("task.free"))
        b.end()


def _link_by_id(b: Body, m: int, rec: int, nxt: int, prev: int, cur: int) -> None:
    """Link task record ``rec`` (a local) into the list starting at ``cur`` (a local; ``nxt``:
    the records' link field) before the first record with a higher mirrored task id
    (`_SID`), as wasmtime's `BTreeMap<QualifiedThreadId, _>` orders them. Leaves an
    `if prev ... else` open: the caller makes ``rec`` the head in the `else` and ends it."""
    b.block().loop()
    b.get(cur).op("i32.eqz").br_if(1)
    b.get(cur).load("i32.load", m, _SID).get(rec).load("i32.load", m, _SID)
    b.op("i32.gt_u").br_if(1)
    b.get(cur).set(prev)
    b.get(cur).load("i32.load", m, nxt).set(cur)
    b.br(0).end().end()
    b.get(rec).get(cur).store("i32.store", m, nxt)
    b.get(prev).if_()
    b.get(prev).get(rec).store("i32.store", m, nxt)
    b.op("else")


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
        own_transfer: Callable[[at.Own, int, int], FuncItem] | None = None,
        host_import: Callable[[int], int] | None = None,
        host_runtime: Callable[[str], int] | None = None,
    ) -> None:
        self.g, self.p, self.tp = g, plan, tp
        self.host_import = host_import  # lower index of a host import → its core import
        self._host_calls: dict[int, FuncItem] = {}
        # (own type, from instance, to instance) → the in-module tables' own transfer
        self.own_transfer = own_transfer
        self.func, self.memory, self.edge_opts = func, memory, edge_opts
        # what a root export's stand-in calls: its core function, or the in-module resource
        # tables' stand-in translating its handles first (`resources.fusion`)
        self.root_target: Callable[[Lifted], int] = lambda lf: func(lf.core_func)
        # the in-module resource tables when edges lend borrows to tasks (`scoped`): a task's
        # borrows and loans end at its return (`InnerTables.task_scopes`)
        self.borrow_scopes: InnerTables | None = None
        self.scoped: frozenset[int] = frozenset()  # lower indices of those edges
        # the runtime's imports of a built-in and of its own context slots (asyncroot)
        self.host_builtin, self.context_import = host_builtin, context_import
        self.callbacks: dict[int, FuncItem] = {}  # generated callbacks of driven root exports
        self.driven: dict[int, int] = {}  # id(lift) → its index among the root exports
        self._builtins: dict[int, FuncItem] = {}
        self._exports: dict[int, FuncItem] = {}
        # root `task.return`s lifting ends for the host first (`merge.asyncreturned`)
        self._returned: dict[int, FuncItem] = {}
        self.streams: StreamRuntime | None = None
        from pymeld.merge.asyncids import StoreIds

        self.ids = StoreIds(self.p)  # the runtime's store-wide ids (merge.asyncids)
        # the ways into the core code of a task that may unwind in a suspend point (a yield or
        # a blocking built-in): a callback ("cb", k) or the first call of an edge ("first",
        # lower index), async or sync lowered
        self.yielding = yielding = sorted(tp.suspending(g))
        self.entries: list[tuple[str, int]] = [
            ("cb", k) for k, lf in enumerate(tp.callbacks) if lf.owner in yielding
        ]
        # instances whose tasks may suspend in a blocking stream/future read or write (armed
        # on the end: `StreamRuntime._mark`)
        self.stream_blockers = sorted(
            {
                g.builtins[bi].owner
                for bi in tp.blocking
                if g.builtins[bi].op.startswith(("stream.", "future."))
            }
        )
        self.entries += [
            ("first", li)
            for li, e in sorted(tp.edges.items())
            if e.task and e.callee.owner in yielding
        ]
        # instances calls into which may have to wait: backpressure, or a suspended callback
        # stack keeping the instance entered (`gate_closed`); async calls of tasks there may
        # return STARTING (their adapter is called again when they start: `_begin`)
        self.gates = sorted({*yielding, *tp.backpressure.values()})
        self.deferrable = [
            li
            for li, e in sorted(tp.edges.items())
            if (e.lower_async or li in tp.sync_blocks) and e.callee.owner in self.gates
        ]
        if tp.streams:
            from pymeld.merge.asyncstream import StreamRuntime

            self.streams = StreamRuntime(self, g, tp)
        self.host: HostSubtasks | None = None  # the runtime's subtasks of host imports
        if tp.host_subtasks or tp.host_syncs:
            from pymeld.merge.asynchost import HostSubtasks

            assert host_runtime is not None
            self.host = HostSubtasks(self, host_runtime)

    # -- planning ------------------------------------------------------------------------------
    def plan(self, exported: list[Lifted]) -> None:
        p = self.p
        self.ids.plan()
        p.add_memory(GROUP, "tasks")
        for key in ("task_free", "cur_task", "may_block", "q_head", "q_tail", "h_head"):
            p.add_global(GROUP, key)
        p.add_global(GROUP, "task_next", init=1)
        for key in ("h_tail", "batch_end"):
            p.add_global(GROUP, key)
        for slot in self.tp.slots:
            p.add_global(GROUP, ("ctx", slot))
        for inst in self.tp.tables:
            p.add_memory(GROUP, ("tbl", inst))
            p.add_global(GROUP, ("tnext", inst), init=1)
            p.add_global(GROUP, ("tfree", inst))
            for op in ("t.add", "t.get", "t.remove", "ready", "mark_ready", "wait_join"):
                self._func(op, inst)
            self._func("wait_leave", inst)
        for op in ("task.new", "task.free", "enqueue", "push_high", "step", "run", "notify"):
            self._func(op)
        self._func("marker")
        self._func("unlink", "q_head", "q_tail")
        self._func("unlink", "h_head", "h_tail")
        for inst in sorted(self.tp.task_instances() | {lf.owner for lf in self.tp.callbacks}):
            self._func("handle", inst)
        for k in range(len(self.tp.callbacks)):
            self._func("run", k)
        tp = self.tp
        for bi in [*tp.table_ops, *tp.contexts, *tp.returns, *tp.cancels, *tp.stack_yields]:
            self._builtins[bi] = self._func("builtin", bi)
        if self.tp.suspends or self.tp.sync_blocks or self.tp.host_sync_points:
            p.add_memory(GROUP, "frames")
            p.add_global(GROUP, ("unwind", "state"))
            p.add_global(GROUP, ("unwind", "data"))
            for bi in self.tp.yields:
                self._builtins[bi] = self._func("builtin", bi)
            for inst in self.yielding:
                p.add_global(GROUP, ("ylock", inst))
            self._func("resume")
        if self.gates:
            p.add_global(GROUP, "starting")
        for inst in self.gates:
            p.add_global(GROUP, ("pend", inst))
            self._func("pend_insert", inst)
            self._func("release", inst)
        for inst in sorted(set(self.tp.backpressure.values())):
            p.add_global(GROUP, ("bp", inst))
        for bi in self.tp.backpressure:
            self._builtins[bi] = self._func("builtin", bi)
        for li in self.deferrable:
            self._func("begin", li)
        if asyncargs.needed([len(self._pending_params(li)) for li in self.deferrable]):
            asyncargs.plan(self)
        for bi in self.tp.returns:
            for e in self._callback_edges():
                if self._returns_for(bi, e):
                    self.p.add_func(GROUP, ("ret", bi, e.lower), partial(self._ret, e))
        for li, e in sorted(self.tp.edges.items()):
            if e.sync_task:
                p.add_func(GROUP, ("sync_lift", li), partial(self._sync_lift, e))
                p.add_func(GROUP, ("sync_ret", li), partial(self._sync_return, e))
        for inst in self.tp.called_roots:  # entered by host calls and in-module ones
            p.add_global(GROUP, ("root_in", inst))
            p.add_global(GROUP, ("root_pending", inst))
        for inst in sorted({self.g.builtins[bi].owner for bi in self.tp.host_returns}):
            p.add_global(GROUP, ("root_task", inst))  # its stackful host-called code runs
        for k, lf in enumerate(exported):
            self._exports[id(lf)] = self.p.add_func(GROUP, ("export", k), partial(self._export, lf))
        if self.streams is not None:
            self.streams.plan()
            for lf in exported:  # ends root exports take and hand the host (`plan_tasks`)
                if (ends := root_ends(lf)) is not None:
                    stored = _stored(lf.type)
                    spilled = _spilled(lf.type)
                    self._plan_ends(ends, stored, spilled, lf.owner, True, lf.type)
            for li in self.tp.host_lowers:  # and ends host imports take and give
                lw = self.g.lowers[li]
                assert isinstance(lw.callee, HostFunc)
                ends = boundary_ends(lw.callee.type)
                assert ends is not None
                stored, spilled = _stored(lw.callee.type), _spilled(lw.callee.type)
                self._plan_ends(ends, stored, spilled, lw.owner, False, lw.callee.type)
                self._host_calls[li] = p.add_func(
                    GROUP, ("host-call", li), partial(self._host_call, li)
                )
            from pymeld.merge.asyncreturned import plan_returned_ends

            self._returned = plan_returned_ends(self, exported)
            for bi, item in self._returned.items():  # the runtime's, the host's task only
                if bi not in self._builtins and bi not in self.tp.root_returns:
                    self._builtins[bi] = item
            from pymeld.merge.asyncnested import plan_payload_ends

            plan_payload_ends(self.streams)  # ends in the payloads of ends shared with the host
        if self.host is not None:
            self.host.plan()
            if self.streams is not None and self.host.values is not None:
                from pymeld.merge.asyncnested import plan_payload_ends

                plan_payload_ends(self.streams)  # and of ends async host imports pass
        if any(lf.opts.callback is not None for lf in exported):
            from pymeld.merge.asyncroot import plan_driven

            self._builtins.update(plan_driven(self, exported))

    def hooks(self, li: int) -> _Hooks | None:
        e = self.tp.edges.get(li)
        return None if e is None else _Hooks(self, e)

    def edge(self, li: int) -> Edge | None:
        return self.tp.edges.get(li)

    def builtin_func(self, bi: int) -> int | None:
        if self.streams is not None and (f := self.streams.builtin_func(bi)) is not None:
            return f
        item = self._builtins.get(bi)
        return None if item is None else item.index

    def export_callback(self, lf: Lifted) -> int | None:
        item = self.callbacks.get(id(lf))
        return None if item is None else item.index

    def export_func(self, lf: Lifted) -> int | None:
        item = self._exports.get(id(lf))
        return None if item is None else item.index

    def _plan_ends(
        self,
        ends: BoundaryEnds,
        stored: SpilledEnds,
        spilled: SpilledEnds,
        inst: int,
        lift_result: bool,
        in_lists: at.FuncType | None = None,
    ) -> None:
        """Plan the hand-overs of a call's ends between ``inst`` and the host: a root export
        lowers its parameters (``stored``: those passed through memory) and lifts its result
        (``spilled``: the ends of one returned through memory), a host import the other way
        round; ``in_lists``: the call's type, whose ends in lists are walked."""
        assert self.streams is not None
        params, result = ends
        for p in params + stored:
            (self.streams.host_lower if lift_result else self.streams.host_lift)(p.end, inst)
        for t in [result] if result is not None else [p.end for p in spilled]:
            (self.streams.host_lift if lift_result else self.streams.host_lower)(t, inst)
        if in_lists is not None:  # walked (`merge.asynclists`): every end of those values
            from pymeld.merge.asynclists import UndoLog, end_types, listed

            ps, rs = in_lists.param_types(), in_lists.result_type()
            for t in end_types(ps) if listed(ps) else []:
                (self.streams.host_lower if lift_result else self.streams.host_lift)(t, inst)
            for t in end_types(rs) if listed(rs) else []:
                (self.streams.host_lift if lift_result else self.streams.host_lower)(t, inst)
            if listed(ps) and not lift_result:  # a host import's: lifted, then put back
                UndoLog.plan(self)

    def host_return(self, bi: int) -> int:
        """What the host's task calls for root `task.return` ``bi``: the runtime's, through
        the stand-in lifting the ends it returns for the host (`merge.asyncreturned`)."""
        assert self.host_builtin is not None
        item = self._returned.get(bi)
        return self.host_builtin(bi) if item is None else item.index

    def host_call(self, li: int) -> int | None:
        """Stand-in for host import ``li`` when it takes stream/future ends (`_host_call`)."""
        item = self._host_calls.get(li)
        return None if item is None else item.index

    def _host_call(self, li: int) -> FuncCode:
        """The host import's call with each end among its parameters lifted for the host as
        a root export's result is (`StreamRuntime.host_lift`: made the runtime's), and the
        end it returns lowered as a root export's parameter is (`host_lower`)."""
        lw = self.g.lowers[li]
        assert isinstance(lw.callee, HostFunc)
        assert self.streams is not None and self.host_import is not None
        host_import = self.host_import
        core = flatten_functype(lw.callee.type, "lower")
        ends = boundary_ends(lw.callee.type)
        assert ends is not None
        from pymeld.merge.asynclists import listed
        from pymeld.merge.asyncreturned import emit_flat

        b, streams = Body(list(core.params)), self.streams
        emit_flat(b, ends[0], lambda t: streams.host_lift(t, lw.owner).index, list(core.params))
        stored, spilled = _stored(lw.callee.type), _spilled(lw.callee.type)
        ft = lw.callee.type
        in_lists = listed(ft.param_types()), listed(ft.result_type())
        mem = 0
        if stored or spilled or any(in_lists):
            mem = self.memory(Builtin("lower", lw.owner, memory=lw.opts.memory))  # type: ignore[arg-type]
        if in_lists[0]:  # walked, lifted in place, the guest's handles put back after
            from pymeld.merge.asynclists import lift_walked

            lift_walked(
                self,
                b,
                ft.param_types(),
                list(core.params),
                lambda t: streams.host_lift(t, lw.owner).index,
                mem,
                lambda: b.forward_args().call(host_import(li)),
            )
        elif stored:  # lifted in place at the parameters' pointer (the first param)
            from pymeld.merge.asyncspill import emit_lifted_in_place, params_tuple

            emit_lifted_in_place(
                b,
                stored,
                lambda t: streams.host_lift(t, lw.owner).index,
                0,
                mem,
                params_tuple(lw.callee.type),
                lambda: b.forward_args().call(host_import(li)),
            )
        else:
            b.forward_args().call(self.host_import(li))
        if ends[1] is not None:
            b.call(self.streams.host_lower(ends[1], lw.owner).index)
        if spilled:  # the runtime's handles it stored at the result pointer (the last param)
            from pymeld.merge.asyncreturned import emit_stored

            emit_stored(
                b,
                spilled,
                lambda t: streams.host_lower(t, lw.owner).index,
                len(core.params) - 1,
                mem,
            )
        if in_lists[1]:  # the same, walking its lists
            from pymeld.merge.asynclists import EndWalk

            assert ft.result is not None
            walk = EndWalk(b, lambda t: streams.host_lower(t, lw.owner).index, mem, None, False)
            walk.stored(ft.result, len(core.params) - 1)
        b.end()
        return _gen(b, core.params, core.results)

    def _func(self, *key: object) -> FuncItem:
        return self.p.add_func(GROUP, key, partial(self._emit, key))

    def fn(self, *key: object) -> int:
        return self.p.index(Space.FUNC, GROUP, tuple(key))

    def glob(self, key: object) -> int:
        return self.p.index(Space.GLOBAL, GROUP, key)

    def mem(self, key: object) -> int:
        return self.p.index(Space.MEMORY, GROUP, key)

    # -- suspended core stacks (merge.unwind) --------------------------------------------------
    def stackful_entries(self) -> list[int]:
        """The ids (`entry_id`) of the entries into stackful tasks' first calls."""
        return [
            k
            for k, (kind, x) in enumerate(self.entries, 1)
            if kind == "first" and self.tp.edges[x].stackful
        ]

    def entry_id(self, entry: tuple[str, int]) -> int:
        """1 + the index of ``entry`` among `entries` (0: its core code never unwinds)."""
        return self.entries.index(entry) + 1 if entry in self.entries else 0

    def if_unwound(self, b: Body) -> None:
        """Emit, after calling an entry: ``if`` the core stack unwound (stop the unwind)."""
        from pymeld.merge.unwind import NORMAL, UNWINDING

        state = self.glob(("unwind", "state"))
        b.global_get(state).i32(UNWINDING).op("i32.eq").if_()
        b.i32(NORMAL).global_set(state)

    def gate_closed(self, b: Body, inst: int) -> None:
        """Emit: i32, nonzero while a call into ``inst`` cannot start (wasmtime's
        `GuestCall::is_ready` for a new task: the instance's backpressure counter is raised, or
        it is entered: here, by a callback task's suspended stack, ``ylock``)."""
        parts = []
        if inst in self.yielding:
            parts.append(self.glob(("ylock", inst)))
        if inst in self.tp.backpressure.values():
            parts.append(self.glob(("bp", inst)))
        assert parts
        b.global_get(parts[0])
        for g in parts[1:]:
            b.global_get(g).op("i32.or")
        b.i32(0).op("i32.ne")  # 0 or 1 (``ylock`` holds a task's address)

    def wait_startable(
        self,
        b: Body,
        inst: int,
        sid: tuple[int, int] | None,
        late: int | None = None,
        switch: int | None = None,
    ) -> None:
        """Emit, before a sync call into ``inst`` that cannot start while the gate is closed
        (`gate_closed`): this stack blocks (a marker in the instance's pending list, ordered
        by the call's task id as wasmtime's `InstanceState::pending`: ``sid``, the locals of
        that id and of its `_EXACT`; queued by `_release` when the gate opens) and checks
        again at its turn, as wasmtime starts the call only then. Local ``late`` is set when
        it blocked: wasmtime then runs the call from its event loop, and the caller resumes
        only at its own turn after the return (`_Hooks.start`, `_Hooks.leave`)."""
        tasks = self.mem("tasks")
        if late is not None:
            b.i32(0).set(late)
        b.block().loop()
        self.gate_closed(b, inst)
        b.op("i32.eqz").br_if(1)
        b.global_get(self.glob("may_block")).op("i32.eqz").trap_if()

        def arm(mk: int) -> None:
            if sid is not None:
                for local, off in zip(sid, (_SID, _EXACT), strict=True):
                    b.get(mk).get(local).store("i32.store", tasks, off)
            b.get(mk).call(self.fn("pend_insert", inst))
            if late is not None:
                if switch is not None:
                    b.get(late).op("i32.eqz").if_()
                    b.get(switch)
                    self.ids.release(b)
                    b.end()
                b.i32(1).set(late)

        self.block_on(b, arm)
        b.br(0).end().end()

    def _pend_insert(self, inst: int) -> FuncCode:
        """(record): a call into ``inst`` that cannot start yet (a PENDING task, a blocked sync
        caller's marker) or a delivery held while a suspended stack keeps ``inst`` entered
        (`_run`) joins the instance's pending list. wasmtime keeps both kinds in one
        `BTreeMap<QualifiedThreadId, _>`: ordered by task id, so by the mirrored store-wide
        ids (`_SID`); a second one traps (not reproduced) unless both its id and the head's
        were taken while the ids were mirrored (`_EXACT`: a list of two or more holds only
        such records)."""
        b = Body(["i32"])
        m, head = self.mem("tasks"), self.glob(("pend", inst))
        prev, cur = b.local("i32"), b.local("i32")
        b.global_get(head).tee(cur).if_()
        b.get(0).load("i32.load", m, _EXACT).get(cur).load("i32.load", m, _EXACT)
        b.op("i32.and").op("i32.eqz").trap_if()
        b.end()
        _link_by_id(b, m, 0, _NEXT, prev, cur)
        b.get(0).global_set(head)
        b.end()
        b.end()
        return _gen(b, ("i32",), ())

    def _release(self, inst: int) -> FuncCode:
        """(): the pending list of ``inst`` (backpressure back to 0, the instance left) is
        partitioned as wasmtime's `partition_pending` does, in its order: what is ready now
        is queued at high priority (a held delivery once the instance is not entered, a call
        once the gate is open: `GuestCall::is_ready`), the rest stays; a call that finds the
        gate closed again at its turn goes back (`_run`)."""
        b = Body([])
        m, head = self.mem("tasks"), self.glob(("pend", inst))
        t, keep, tail, mode = b.local("i32"), b.local("i32"), b.local("i32"), b.local("i32")
        if inst in self.yielding:  # entered: nothing is ready
            b.global_get(self.glob(("ylock", inst))).if_()
            b.op("return")
            b.end()
        b.global_get(head).set(t)
        b.i32(0).global_set(head)
        b.block().loop()
        b.get(t).op("i32.eqz").br_if(1)
        b.get(t).load("i32.load", m, _NEXT).set(keep)
        self.gate_closed(b, inst)
        b.get(t).load("i32.load", m, _MODE).tee(mode).i32(PENDING).op("i32.eq")
        b.get(mode).i32(MARKER).op("i32.eq").op("i32.or").op("i32.and")
        b.if_()  # a call that cannot start yet: stays, in order
        b.get(t).i32(0).store("i32.store", m, _NEXT)
        b.get(tail).if_()
        b.get(tail).get(t).store("i32.store", m, _NEXT)
        b.op("else")
        b.get(t).global_set(head)
        b.end()
        b.get(t).set(tail)
        b.op("else")
        b.get(t).call(self.fn("push_high"))
        b.end()
        b.get(keep).set(t)
        b.br(0).end().end()
        b.end()
        return _gen(b, (), ())

    def _pending_params(self, li: int) -> Sequence[CoreValType]:
        """The core arguments of deferrable edge ``li``'s adapter (kept while it is PENDING)."""
        e = self.tp.edges[li]
        flat = flatten_async_functype if e.lower_async else flatten_functype
        return flat(e.callee.type, "lower").params

    def _begin(self, li: int) -> FuncCode:
        """(task): a PENDING call of edge ``li`` starts: its adapter is called again with the
        kept arguments (it reads the caller's memory now) and the record to reuse."""
        e = self.tp.edges[li]
        b = Body(["i32"])
        b.get(0).global_set(self.glob("starting"))
        flat = flatten_async_functype if e.lower_async else flatten_functype
        lower = flat(e.callee.type, "lower")
        asyncargs.load(self, b, 0, list(self._pending_params(li)), _ARGS)
        item = self.p.find(Space.FUNC, GROUP, ("context", ("adapter", li)))
        b.call(self.p.index(Space.FUNC, "adapter", li) if item is None else item.index)
        for _ in lower.results:  # (a sync caller takes its results when it is rewound)
            b.op("drop")
        b.end()
        return _gen(b, ("i32",), ())

    def _unpend(self, b: Body, t: int) -> None:
        """Emit: PENDING task ``t`` leaves its instance's pending list, or the high-priority
        queue when it was released to start there (wasmtime 50 cancels it then too: checked;
        its sources before 50 trapped)."""
        m = self.mem("tasks")
        prev, cur = b.local("i32"), b.local("i32")
        for inst in self.gates:
            head = self.glob(("pend", inst))
            b.get(t).load("i32.load", m, _OWNER).i32(inst).op("i32.eq").if_()
            b.i32(0).set(prev)
            b.global_get(head).set(cur)
            b.block().loop()
            b.get(cur).op("i32.eqz").if_()  # released: queued to start
            b.get(t).call(self.fn("unlink", "h_head", "h_tail"))
            b.br(2)
            b.end()
            b.get(cur).get(t).op("i32.ne").if_()
            b.get(cur).set(prev)
            b.get(cur).load("i32.load", m, _NEXT).set(cur)
            b.br(1)
            b.end()
            b.get(prev).if_()
            b.get(prev).get(t).load("i32.load", m, _NEXT).store("i32.store", m, _NEXT)
            b.op("else")
            b.get(t).load("i32.load", m, _NEXT).global_set(head)
            b.end()
            b.end().end()
            b.end()
        b.free(prev, cur)

    def sync_returned(self, b: Body, e: Edge) -> None:
        """Emit, after the first call of `sync_task` edge ``e``'s core function (its rewinds:
        `_resume_sync_task`): unless its stack unwound, its core results are the task's return
        (`_sync_return`); leaves the code EXIT either way (`handle` or the unwind's caller
        tells them apart)."""
        from pymeld.merge.unwind import UNWINDING

        rs = [b.local(vt) for vt in flatten_functype(e.callee.type, "lift").results]
        for r in reversed(rs):
            b.set(r)
        b.global_get(self.glob(("unwind", "state"))).i32(UNWINDING).op("i32.ne").if_()
        for r in rs:
            b.get(r)
        b.call(self.fn("sync_ret", e.lower))
        b.end()
        b.i32(0)  # CallbackCode.EXIT

    def _sync_return(self, e: Edge) -> FuncCode:
        """(core results of `sync_task` edge ``e``): as the spec's sync `canon_lift`, the
        results are lifted for the caller (into its memory, or the task record for a sync
        caller) and the subtask RETURNED, then the callee's post-return runs."""
        lf = e.callee
        params = flatten_functype(lf.type, "lift").results
        b = Body(list(params))
        m, t = self.mem("tasks"), b.local("i32")
        b.global_get(self.glob("cur_task")).tee(t).op("i32.eqz").trap_if()
        b.get(t).load("i32.load", m, _STATUS).i32(STARTED).op("i32.ne").trap_if()
        self.end_borrow_scope(b, t)
        if lf.type.result is not None:
            lower = flatten_functype(lf.type, "lower")
            item = self.p.find(Space.FUNC, GROUP, ("sync_lift", e.lower))
            assert item is not None
            b.forward_args()
            if e.lower_async or not lower.results:
                b.get(t).load("i32.load", m, _RETPTR).call(item.index)
            else:
                (vt,) = lower.results
                v = b.local(vt)
                b.call(item.index).set(v)
                b.get(t).get(v).store(f"{vt}.store", m, _STASH)
        b.get(t).i32(RETURNED).store("i32.store", m, _STATUS)
        b.get(t).call(self.fn("notify"))
        post = self.edge_opts(e.lower)[1].post_return
        if post is not None:
            b.forward_args().call(post)
        b.end()
        return _gen(b, params, ())

    def _sync_lift(self, e: Edge) -> FuncCode:
        """`sync_task` edge ``e``'s core results lifted for its caller, as `_ret` lifts a
        `task.return`'s (a result of more than one flat value is a pointer, as a sync lift
        returns it)."""
        return self._ret(e, flat_limit=1)

    def _call_entry(self, b: Body, entry: tuple[str, int]) -> None:
        """Emit a call of ``entry``'s core function (a rewind ignores its arguments: zeros),
        leaving its callback code (EXIT for a stackful lift)."""
        kind, x = entry
        if kind == "cb":
            cb = self.tp.callbacks[x].opts.callback
            assert cb is not None
            b.i32(0).i32(0).i32(0).call(self.func(cb))
            return
        lf = self.tp.edges[x].callee
        for vt in flatten_functype(lf.type, "lift").params:
            b.zero(vt)
        b.call(self.func(lf.core_func))
        if self.tp.edges[x].stackful:
            b.i32(0)  # CallbackCode.EXIT

    def _resume(self) -> FuncCode:
        """(task): its turn after a `thread.yield` unwound its core stack: rewind it (the
        entry it came in by is called again) with its current task, may-block and context
        slots in place, as for a callback; then its callback code is handled, unless it
        unwound again (queued again by the yield)."""
        from pymeld.merge.unwind import REWINDING

        b = Body(["i32"])
        m, state = self.mem("tasks"), self.glob(("unwind", "state"))
        b.get(0).i32(RUNNING).store("i32.store", m, _MODE)
        saved = self.switch_in(b, 0)
        b.get(0).load("i32.load", m, _STACK).global_set(self.glob(("unwind", "data")))
        b.i32(REWINDING).global_set(state)
        code, entry = b.local("i32"), b.local("i32")
        b.get(0).load("i32.load", m, _ENTRY).set(entry)
        for k, (kind, x) in enumerate(self.entries, 1):
            b.get(entry).i32(k).op("i32.eq").if_()
            owner = self.tp.callbacks[x].owner if kind == "cb" else self.tp.edges[x].callee.owner
            if kind == "first" and self.tp.edges[x].sync_task:
                self._resume_sync_task(b, self.tp.edges[x], saved)
                b.end()
                continue
            self._call_entry(b, (kind, x))
            b.set(code)
            self.switch_out(b, 0, saved)
            self.if_unwound(b)
            b.op("return")
            b.end()
            if kind == "first" and self.tp.edges[x].stackful:  # it never held the instance
                b.get(0).get(code).call(self.fn("handle", owner)).op("return")
                b.end()
                continue
            self._unlock(b, owner)
            b.get(0).get(code).call(self.fn("handle", owner)).op("return")
            b.end()
        b.unreachable().end()
        return _gen(b, ("i32",), ())

    def _unlock(self, b: Body, owner: int) -> None:
        """Emit: the code of a suspended stack that kept ``owner`` entered returned, so the
        instance is left (wasmtime's `exit_instance`): the deliveries held meanwhile and the
        calls waiting to start there are queued in their one order (`_release`)."""
        b.i32(0).global_set(self.glob(("ylock", owner)))
        b.call(self.fn("release", owner))

    def _resume_sync_task(self, b: Body, e: Edge, saved: list[tuple[int, int]]) -> None:
        """Emit, in `_resume` (task: param 0): rewind `sync_task` edge ``e``'s core function;
        once it returns, the instance is left first (`_unlock`), then the results are lifted,
        the subtask RETURNED and the post-return run (`_sync_return`), as wasmtime 50 does it
        for a sync lift (`exit_instance`, then the lift, post-return and the waiters' wake-up:
        a delivery held meanwhile is queued before the caller's resumption)."""
        from pymeld.merge.unwind import NORMAL, UNWINDING

        lf, state = e.callee, self.glob(("unwind", "state"))
        for vt in flatten_functype(lf.type, "lift").params:
            b.zero(vt)
        b.call(self.func(lf.core_func))
        rs = [b.local(vt) for vt in flatten_functype(lf.type, "lift").results]
        for r in reversed(rs):
            b.set(r)
        b.global_get(state).i32(UNWINDING).op("i32.eq").if_()
        self.switch_out(b, 0, saved)
        b.i32(NORMAL).global_set(state)
        b.op("return")
        b.end()
        self._unlock(b, lf.owner)
        for r in rs:
            b.get(r)
        b.call(self.fn("sync_ret", e.lower))
        self.switch_out(b, 0, saved)
        b.get(0).i32(0).call(self.fn("handle", lf.owner)).op("return")  # EXIT

    def _yield(self, bt: Builtin, b: Body) -> None:
        """thread.yield (not cancellable) in the core code of an in-module task: NOT_CANCELLED
        after the task's stack unwound to its entry (`_resume`) and its turn came again
        (queued at low priority, as wasmtime queues a yielding thread)."""
        m = self.mem("tasks")
        b.block()
        self.rewound(b)
        b.i32(0).op("return")
        b.end()
        b.global_get(self.glob("may_block")).op("i32.eqz").if_()  # a task that may not block
        b.i32(0).op("return")
        b.end()
        t = self.suspending_task(b, bt.owner)
        b.get(t).i32(YIELDING).store("i32.store", m, _MODE)
        b.get(t).call(self.fn("enqueue"))
        self.start_unwind(b, bt.owner, t, keeps_ids=True)
        b.i32(0).end()

    def _stack_yield(self, b: Body) -> None:
        """thread.yield (not cancellable) on the stack of a host call into a root instance,
        which cannot unwind (the host is below it) and need not: the stack blocks in place as
        a marker queued at low priority, where wasmtime queues the yielding thread's
        resumption, and the queued work before it runs meanwhile; then NOT_CANCELLED. In a
        task that may not block it returns at once, as the spec's and wasmtime's do."""
        b.global_get(self.glob("may_block")).if_()
        self.block_on(b, lambda mk: b.get(mk).call(self.fn("enqueue")))
        b.end()
        b.i32(0).end()

    def rewound(self, b: Body) -> None:
        """Emit, first in a suspend point's stand-in: when its stack is being rewound, the
        rewind stops here (the current task's stack is no longer suspended) and the code
        after this goes on (the caller wraps this in a ``block`` and says what that is);
        else a branch out of that block."""
        from pymeld.merge.unwind import NORMAL, REWINDING

        state = self.glob(("unwind", "state"))
        b.global_get(state).i32(REWINDING).op("i32.ne").br_if(0)
        b.i32(NORMAL).global_set(state)
        b.global_get(self.glob("cur_task")).i32(0).store("i32.store", self.mem("tasks"), _STACK)

    def suspending_task(self, b: Body, inst: int) -> int:
        """Emit: a local holding the current task, which is about to suspend in a suspend point
        of ``inst``. Only the core code of a task of ``inst``, entered by an entry that stops
        the unwind, gets here (`suspend` checks the call graph); anything else is a bug: trap."""
        m, t = self.mem("tasks"), b.local("i32")
        b.global_get(self.glob("cur_task")).tee(t).op("i32.eqz").trap_if()
        b.get(t).load("i32.load", m, _OWNER).i32(inst).op("i32.ne").trap_if()
        b.get(t).load("i32.load", m, _ENTRY).op("i32.eqz").trap_if()
        return t

    def start_unwind(self, b: Body, inst: int, t: int, keeps_ids: bool = False) -> None:
        """Emit: task ``t``'s core stack unwinds into its frame buffer (its own page of the
        frame memory, by record index: nothing to free), keeping its instance ``inst`` entered
        (`ylock`: other deliveries wait, `_run`). Whoever wakes it has been armed already.
        ``keeps_ids``: a `thread.yield` takes and frees no store-wide id (wasmtime queues the
        thread's `ResumeThread` at low priority), so the mirror holds past it (checked
        against the oracle: every seed of the yielding sync-lift property programs); other
        suspensions still stop the mirror (`lost`: not checked)."""
        from pymeld.merge.unwind import HEADER_SIZE, UNWINDING

        m, frames = self.mem("tasks"), self.mem("frames")
        base = b.local("i32")
        if not keeps_ids:  # ids around it: not mirrored
            self.ids.lose(b)
        b.get(t).i32(_REC).op("i32.div_u").i32(16 * _FRAME_PAGES).op("i32.shl").set(base)
        _grow(b, frames, lambda: b.get(base).i32(_FRAME_PAGES << 16).op("i32.add"))
        b.get(base).get(base).i32(HEADER_SIZE).op("i32.add").store("i32.store", frames, 0)
        b.get(base).get(base).i32(_FRAME_PAGES << 16).op("i32.add").store("i32.store", frames, 4)
        b.get(t).get(base).store("i32.store", m, _STACK)
        stackful = self.stackful_entries()
        if stackful:  # a stackful task does not keep the instance to itself (the spec's
            b.i32(0)  # `needs_exclusive`): others of it run meanwhile
            for k in stackful:
                b.get(t).load("i32.load", m, _ENTRY).i32(k).op("i32.eq").op("i32.or")
            b.op("i32.eqz").if_()
        b.get(t).global_set(self.glob(("ylock", inst)))
        if stackful:
            b.end()
        b.get(base).global_set(self.glob(("unwind", "data")))
        b.i32(UNWINDING).global_set(self.glob(("unwind", "state")))

    def suspend_in_call(self, b: Body, e: Edge, t: int) -> None:
        """Emit, in the adapter of a sync call from task code to an async task that has not
        returned (`TaskPlan.sync_blocks`): the caller's task suspends until the callee ``t``
        returns (`suspend_waiting`; its own async caller gets STARTED, as wasmtime's does
        while the caller's fiber blocks), and `_resume` rewinds it into this adapter again,
        which then takes the results (`_Hooks.enter`). The store-wide ids stay mirrored:
        blocking there takes none (the adapter took the call's), checked by the oracle on 100
        seeds of `test_async_tasks_property`'s sync calls between tasks (32 trapped where two
        pending calls met with the mirror lost)."""
        results = flatten_functype(e.callee.type, "lower").results
        self.suspend_waiting(b, e.caller, t, results, keeps_ids=True)

    def suspend_waiting(
        self,
        b: Body,
        inst: int,
        t: int,
        results: Sequence[CoreValType],
        keeps_ids: bool = False,
    ) -> None:
        """Emit, in a stand-in called by the core code of a task of ``inst``: that task
        suspends until record ``t`` resolves, as in a wait: armed as ``t``'s waiter (`_notify`
        queues it), ``t`` kept in its `_WAITS_ON` for the stand-in it is rewound into; its
        stack unwinds (``keeps_ids``: `start_unwind`) and dummy ``results`` are returned."""
        m = self.mem("tasks")
        c = self.suspending_task(b, inst)
        b.get(c).i32(SUSPENDED).store("i32.store", m, _MODE)
        b.get(t).get(c).store("i32.store", m, _WAITER)
        b.get(c).get(t).store("i32.store", m, _WAITS_ON)
        self.start_unwind(b, inst, c, keeps_ids)
        for vt in results:
            b.zero(vt)
        b.op("return")

    def block_or_unwind(self, b: Body, bi: int, arm: Callable[[int], object]) -> None:
        """Emit, where ``bt`` blocks: a suspend point (`TaskPlan.blocking`) unwinds the
        current task's stack, ``arm(task)`` registering the task where its wake-up queues it
        (it is then queued as a blocked stack's marker is, and `_resume` rewinds it), and
        returns a dummy 0 (the caller's result type: i32); any other blocks on the one stack
        (`block_on`)."""
        if bi not in self.tp.blocking:
            self.block_on(b, arm)
            return
        bt = self.g.builtins[bi]
        t = self.suspending_task(b, bt.owner)
        b.get(t).i32(SUSPENDED).store("i32.store", self.mem("tasks"), _MODE)
        arm(t)
        self.start_unwind(b, bt.owner, t)
        b.i32(0).op("return")

    def suspend(self, out: Module) -> None:
        """Make the core code that may reach a `thread.yield` stand-in suspendable
        (`merge.unwind`), once every function is emitted. Generated functions are barriers:
        the entries (`entries`) stop the unwind of the core function they call; those where
        no task may block (`_no_block_entries`) never start one; any other generated function
        or an export reaching a suspend point would need a suspended stack no entry stops:
        refused."""
        if not (self.tp.suspends or self.tp.sync_blocks or self.tp.host_sync_points):
            return
        from pymeld.merge.unwind import UnwindGlobals, barrier_leaks, unwind

        points = []
        for bi in self.tp.suspends:
            f = self.builtin_func(bi)
            assert f is not None
            points.append(f)
        points += [self._host_calls[li].index for li in self.tp.host_sync_points]
        allowed: dict[int, set[int]] = {f.index: set() for f in self.p.funcs()}
        for li in self.tp.sync_blocks:
            adapter = self.p.index(Space.FUNC, "adapter", li)
            points.append(adapter)
            fresh = self.p.find(Space.FUNC, GROUP, ("context", ("adapter", li)))
            if fresh is not None:  # its caller calls it: it passes the unwind (and rewind) on
                points.append(fresh.index)
                allowed[fresh.index].add(adapter)
            if li in self.deferrable:  # started by the scheduler, it returns at once there
                allowed[self.fn("begin", li)].add(adapter if fresh is None else fresh.index)
        for kind, x in self.entries:
            if kind == "cb":
                cb = self.tp.callbacks[x].opts.callback
                assert cb is not None
                target, via = self.func(cb), self.fn("run", x)
            else:
                target = self.func(self.tp.edges[x].callee.core_func)
                via = self.p.index(Space.FUNC, "adapter", x)
            allowed[via].add(target)
            allowed[self.fn("resume")].add(target)
        leaks = set(barrier_leaks(out, points, allowed)) - self._no_block_entries(out)
        if leaks:
            where = ", ".join(
                sorted(
                    {
                        *self.tp.suspends.values(),
                        *self.tp.sync_blocks.values(),
                        *self.tp.host_sync_points.values(),
                    }
                )
            )
            ops = ", ".join(
                sorted(
                    {f"`{self.g.builtins[bi].op}`" for bi in self.tp.suspends}
                    | ({"a blocking sync call"} if self.tp.sync_blocks else set())
                    | (
                        {"synchronous calls of host `async func`s"}
                        if self.tp.host_sync_points
                        else set()
                    )
                )
            )
            raise UnsupportedFeature(
                f"{ops} in component instance {where} beside in-module tasks (needs a "
                "suspended core stack: fused code has one only in the core code of a task, "
                "entered through its adapter, or where no task may block, not reached from "
                "other generated code or an export)"
            )
        g = UnwindGlobals(
            self.glob(("unwind", "state")), self.glob(("unwind", "data")), self.mem("frames")
        )
        unwind(out, points, g, barriers=allowed)

    def _no_block_entries(self, module: Module) -> set[int]:
        """The functions that run core code where no task may block: the adapters of functions
        that are not `async`, lifted synchronously (they set ``may_block`` to 0 until they
        return), and the start function (before any host call ``may_block`` is 0). (A root
        export cannot reach a task's suspend point: `asyncroot.check_called_roots` refuses a
        root instance with suspend points called through adapters.) A suspend point reached
        through one never unwinds: `waitable-set.wait` and the blocking stream/future forms
        trap first (wasmtime's `CannotBlockSyncTask`), `thread.yield` returns at once
        (`_yield`). So they need not stop an unwind, and the core code they share with tasks
        is fused."""
        out = set() if module.start is None else {module.start}
        for li, e in self.tp.edges.items():
            if not (e.callee.type.is_async or e.callee.opts.is_async):
                out.add(self.p.index(Space.FUNC, "adapter", li))
        return out

    # -- shared code ---------------------------------------------------------------------------
    def switch_in(self, b: Body, t: int) -> list[tuple[int, int]]:
        """Emit, before task ``t``'s code runs: it is the current task, may block (the task of
        an `async func`) and has its context slots in place; returns the (global, local) pairs
        holding what was there, which `switch_out` puts back."""
        m, mb = self.mem("tasks"), self.glob("may_block")
        saved = [(g, b.local("i32")) for g in [self.glob("cur_task"), mb, *self.context_globals()]]
        for g, s_ in saved:
            b.global_get(g).set(s_)
        b.get(t).global_set(self.glob("cur_task"))
        b.i32(1).global_set(mb)
        for slot in self.tp.slots:
            b.get(t).load("i32.load", m, _CTX + 4 * slot).global_set(self.glob(("ctx", slot)))
        return saved

    def switch_out(self, b: Body, t: int, saved: list[tuple[int, int]]) -> None:
        """Emit, after task ``t``'s code returned: its context slots back into its record and
        what `switch_in` saved back in place."""
        self.save_ctx(b, t)
        for g, s_ in saved:
            b.get(s_).global_set(g)

    def save_ctx(self, b: Body, t: int) -> None:
        """Store the current context slots into task ``t``'s record."""
        for slot in self.tp.slots:
            b.get(t).global_get(self.glob(("ctx", slot)))
            b.store("i32.store", self.mem("tasks"), _CTX + 4 * slot)

    def context_globals(self) -> list[int]:
        return [self.glob(("ctx", slot)) for slot in self.tp.slots]

    def fresh_context_code(
        self, params: tuple[CoreValType, ...], results: tuple[CoreValType, ...], target: int
    ) -> FuncCode:
        """Call function ``target`` with its arguments and zeroed `context.*` slots, restoring
        the caller's after: the runtime gives each adapter call and each realloc it runs
        fresh slots."""
        b = Body(list(params))
        kept = []
        for g in self.context_globals():
            s = b.local("i32")
            b.global_get(g).set(s).i32(0).global_set(g)
            kept.append((g, s))
        b.forward_args().call(target)
        outs = [b.local(t) for t in results]
        for o in reversed(outs):
            b.set(o)
        for g, s in kept:
            b.get(s).global_set(g)
        for o in outs:
            b.get(o)
        b.end()
        return FuncCode(params, results, tuple(b.locals), bytes(b.code))

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
            "enqueue": partial(self._enqueue, "q_head", "q_tail"),
            "push_high": partial(self._enqueue, "h_head", "h_tail"),
            "mark_ready": self._mark_ready,
            "wait_join": self._wait_join,
            "wait_leave": self._wait_leave,
            "notify": self._notify,
            "marker": self._marker,
            "unlink": self._unlink,
            "step": self._step,
            "run": self._run,
            "handle": self._handle,
            "resume": self._resume,
            "pend_insert": self._pend_insert,
            "release": self._release,
            "begin": self._begin,
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
        take_entry(b, h, m, nxt, free, shared_space(self.p, inst))
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
        release_entry(b, m, free, shared_space(self.p, inst))
        return _gen(b, ("i32",), ())

    def _keep_lowest(
        self, b: Body, best: int, h: int, store_id: Callable[[Body, int], None]
    ) -> None:
        """``best`` (a handle, 0: none yet) := ``h`` unless ``best``'s mirrored store-wide id
        (`store_id` pushes it) is lower; traps once the mirror is lost (merge.asyncids)."""
        b.get(best).if_()
        b.global_get(self.ids.glob("lost")).trap_if()
        store_id(b, h)
        store_id(b, best)
        b.op("i32.lt_u").if_()
        b.get(h).set(best)
        b.end()
        b.op("else")
        b.get(h).set(best)
        b.end()

    def _ready(self, inst: int) -> FuncCode:
        """(set) → the handle of the waitable of the set whose event wasmtime delivers next,
        or 0 when none has one.

        wasmtime keeps a set's ready waitables in a `BTreeSet<Waitable>`: ordered by kind first
        (host tasks, then guest tasks — subtasks —, then stream/future ends), then by
        store-wide table id. So a ready subtask goes before any ready end, exactly. Two of the
        first ready kind go by the ids `merge.asyncids` mirrors; once they are lost the fused
        module traps instead of guessing (refused at run time)."""
        b = Body(["i32"])
        m, tasks = self.mem(("tbl", inst)), self.mem("tasks")
        h, sub, end, k = b.local("i32"), b.local("i32"), b.local("i32"), b.local("i32")
        # waitables are subtasks and, with in-module streams, the stream/future ends after them
        b.i32(1).set(h)
        b.block().loop()
        b.get(h).global_get(self.glob(("tnext", inst))).op("i32.ge_u").br_if(1)
        b.get(h).i32(4).op("i32.shl").load("i32.load", m, 0).tee(k).i32(SUBTASK)
        b.op("i32.eq" if self.streams is None else "i32.ge_u")
        b.get(h).i32(4).op("i32.shl").load("i32.load", m, 8).get(0).op("i32.eq").op("i32.and")
        b.if_()
        if self.streams is None:
            b.get(h).i32(4).op("i32.shl").load("i32.load", m, 4)
            b.load("i32.load", tasks, _EVENT)
        else:
            b.get(h).i32(4).op("i32.shl").call(self.fn("x.has", inst))
        b.if_()
        b.get(k).i32(SUBTASK).op("i32.eq").if_()

        # the lowest store-wide task id first, while the ids are mirrored
        def task_id(b: Body, x: int) -> None:
            b.get(x).i32(4).op("i32.shl").load("i32.load", m, 4).load("i32.load", tasks, _SID)

        self._keep_lowest(b, sub, h, task_id)
        b.op("else")
        if self.streams is None:
            b.get(end).set(k)  # a second ready end: wasmtime's id order, unless a subtask is
            b.get(h).set(end)  # first (not mirrored)
            b.get(k).if_()
            b.i32(-1 & 0xFFFFFFFF).set(end)
            b.end()
        else:  # the lowest store-wide handle id first (merge.asyncids)
            streams = self.streams
            self._keep_lowest(b, end, h, lambda b, x: streams.end_id(b, inst, x))
        b.end()
        b.end().end()
        b.get(h).i32(1).op("i32.add").set(h)
        b.br(0).end().end()
        b.get(sub).if_()
        b.get(sub).op("return")
        b.end()
        b.get(end).i32(-1 & 0xFFFFFFFF).op("i32.eq").trap_if()
        b.get(end).end()
        return _gen(b, ("i32",), ("i32",))

    def _task_new(self) -> FuncCode:
        return alloc_record(
            self.mem("tasks"), self.glob("task_next"), self.glob("task_free"), _NEXT, _REC
        )

    def _task_free(self) -> FuncCode:
        b = Body(["i32"])
        m, free = self.mem("tasks"), self.glob("task_free")
        b.get(0).i32(0).i32(_REC).memory_fill(m)
        b.get(0).global_get(free).store("i32.store", m, _NEXT)
        b.get(0).global_set(free)
        b.end()
        return _gen(b, ("i32",), ())

    def _enqueue(self, head_key: str, tail_key: str) -> FuncCode:
        """Append a record to a FIFO: the low-priority queue (``q_*``: YIELDed tasks, a
        canceller's yield) or the high-priority one (``h_*``: event deliveries, woken stacks),
        as wasmtime's two work queues."""
        b = Body(["i32"])
        m, head, tail = self.mem("tasks"), self.glob(head_key), self.glob(tail_key)
        b.get(0).i32(0).store("i32.store", m, _NEXT)
        b.global_get(tail).if_()
        b.global_get(tail).get(0).store("i32.store", m, _NEXT)
        b.op("else")
        b.get(0).global_set(head)
        b.end()
        b.get(0).global_set(tail).end()
        return _gen(b, ("i32",), ())

    def _marker(self) -> FuncCode:
        """A fresh record standing for a blocked core stack in the queues."""
        b = Body([])
        t = b.local("i32")
        b.call(self.fn("task.new")).tee(t).i32(MARKER).store("i32.store", self.mem("tasks"), _MODE)
        b.get(t).end()
        return _gen(b, (), ("i32",))

    def block_on(self, b: Body, arm: Callable[[int], object]) -> None:
        """Block the current core stack as wasmtime suspends its fiber: a marker record is
        made, ``arm(marker)`` registers it where its wake-up will queue it, and queued work
        runs until the marker's turn (`step` 2); nothing left to run is the runtime's deadlock
        (trap)."""
        mk, r = b.local("i32"), b.local("i32")
        self._check_may_suspend(b)
        b.call(self.fn("marker")).set(mk)
        arm(mk)
        self.await_marker(b, mk)
        b.free(mk, r)

    def _check_may_suspend(self, b: Body) -> None:
        """Emit the run-time refusals of blocking a stack where wasmtime would hand it over."""
        if self.tp.root_returns:
            # After the host-called task's `task.return`, wasmtime lets the host call return
            # as soon as a stack blocks, and resumes it in a later call's loop: a suspended
            # stack fused code cannot have (refused at run time: trap).
            b.global_get(self.glob("root_returned")).trap_if()
            # Nor may a root task going on after its return block (its callback runs from the
            # scheduler, over stacks wasmtime would resume while it is suspended).
            cur, tasks = self.glob("cur_task"), self.mem("tasks")
            driven = {self.g.builtins[bi].owner for bi in self.tp.root_returns}
            for inst in self.tp.roots:
                if inst in self.tp.called_roots and inst not in driven:
                    continue  # its in-module tasks are its callers' subtasks: they may block
                b.global_get(cur).if_()
                b.global_get(cur).load("i32.load", tasks, _OWNER).i32(inst).op("i32.eq")
                b.trap_if()
                b.end()

    def await_marker(self, b: Body, mk: int) -> None:
        """Emit: queued work runs until marker ``mk``'s turn (armed already), then it is
        freed; nothing left to run is the runtime's deadlock (trap)."""
        r = b.local("i32")
        b.block().loop()
        if self.host is None:
            b.get(mk).call(self.fn("step")).tee(r).op("i32.eqz").trap_if()  # deadlock
        else:  # nothing in-module to run: the host's next event, if it has subtasks
            b.get(mk).call(self.fn("step")).tee(r).op("i32.eqz").if_()
            b.call(self.fn("host_wait")).op("i32.eqz").trap_if()  # deadlock
            b.br(1)
            b.end()
        b.get(r).i32(2).op("i32.eq").br_if(1)
        b.br(0).end().end()
        b.get(mk).call(self.fn("task.free"))
        b.free(r)

    def _step(self) -> FuncCode:
        """(marker) → 0 when nothing is queued, 2 when it was ``marker``'s turn, else 1 after
        running one queued item: high-priority items first, taken in batches as wasmtime takes
        them (``batch_end``: the batch's last item, which a returning export drains), then one
        low-priority item. Another stack's marker cannot resume under this one: trap."""
        b = Body(["i32"])
        m = self.mem("tasks")
        hh, ht, be = self.glob("h_head"), self.glob("h_tail"), self.glob("batch_end")
        lh, lt = self.glob("q_head"), self.glob("q_tail")
        t = b.local("i32")
        b.global_get(hh).if_()
        b.global_get(be).op("i32.eqz").if_()
        b.global_get(ht).global_set(be)
        b.end()
        b.global_get(hh).tee(t).load("i32.load", m, _NEXT).global_set(hh)
        b.global_get(hh).op("i32.eqz").if_()
        b.i32(0).global_set(ht)
        b.end()
        b.get(t).global_get(be).op("i32.eq").if_()
        b.i32(0).global_set(be)
        b.end()
        b.op("else")
        if self.host is not None:
            self.host.poll_first(b)
        b.global_get(lh).tee(t).op("i32.eqz").if_()
        b.i32(0).op("return")
        b.end()
        b.get(t).load("i32.load", m, _NEXT).global_set(lh)
        b.global_get(lh).op("i32.eqz").if_()
        b.i32(0).global_set(lt)
        b.end()
        b.end()
        b.get(t).load("i32.load", m, _MODE).i32(MARKER).op("i32.eq").if_()
        b.get(t).get(0).op("i32.ne").trap_if()  # an outer stack's turn: not reproducible
        b.i32(2).op("return")
        b.end()
        b.get(t).call(self.fn("run"))
        b.i32(1).end()
        return _gen(b, ("i32",), ("i32",))

    def _run(self) -> FuncCode:
        """(task): its callback with its next event, dispatched on the callback index."""
        b = Body(["i32"])
        if self.deferrable:  # a call that could not start: started now, if its gate is open
            self._run_pending(b)
        if self.entries:  # a core stack unwound in a yield: rewound instead
            b.get(0).load("i32.load", self.mem("tasks"), _STACK).if_()
            b.get(0).call(self.fn("resume")).op("return")
            b.end()
        for inst in self.yielding:  # held while another task's stack of it is suspended: in the
            lock = self.glob(("ylock", inst))  # pending list, as wasmtime's `handle_work_item`
            b.get(0).load("i32.load", self.mem("tasks"), _OWNER).i32(inst).op("i32.eq")
            b.global_get(lock).i32(0).op("i32.ne").op("i32.and")
            b.global_get(lock).get(0).op("i32.ne").op("i32.and").if_()
            b.get(0).call(self.fn("pend_insert", inst))
            b.op("return")
            b.end()
        n = len(self.tp.callbacks)
        for _ in range(n + 1):
            b.block()
        b.get(0).load("i32.load", self.mem("tasks"), _CB).br_table(list(range(n)), n)
        for k in range(n):
            b.end()
            b.get(0).call(self.fn("run", k)).op("return")
        b.end()
        b.unreachable().end()
        return _gen(b, ("i32",), ())

    def _run_pending(self, b: Body) -> None:
        """Emit, first in `_run` (task param 0): a PENDING call starts (`_begin`), unless its
        instance's gate closed again: then it goes back to the pending list (wasmtime's event
        loop puts a call that is not ready back into `InstanceState::pending`)."""
        m = self.mem("tasks")
        b.get(0).load("i32.load", m, _MODE).i32(PENDING).op("i32.eq").if_()
        for inst in self.gates:
            b.get(0).load("i32.load", m, _OWNER).i32(inst).op("i32.eq")
            self.gate_closed(b, inst)
            b.op("i32.and").if_()
            b.get(0).call(self.fn("pend_insert", inst)).op("return")
            b.end()
        for li in self.deferrable:
            b.get(0).load("i32.load", m, _EDGE).i32(li).op("i32.eq").if_()
            b.get(0).call(self.fn("begin", li)).op("return")
            b.end()
        b.unreachable()
        b.end()

    def _run_one(self, k: int) -> FuncCode:
        """Run task ``t``'s callback ``k`` with its next event (wasmtime's `get_event`): its
        own pending event first (TASK_CANCELLED, or NONE after a YIELD), else the subtask
        event of the set it WAITs on; its context slots and current task in place."""
        lf = self.tp.callbacks[k]
        assert lf.opts.callback is not None
        inst = lf.owner
        b = Body(["i32"])
        m, tbl = self.mem("tasks"), self.mem(("tbl", inst))
        if inst in self.tp.roots and self.p.find(Space.GLOBAL, GROUP, ("root_in", inst)):
            from pymeld.merge.asyncroot import defer

            defer(self, b, inst)  # held while a stack of the instance's code is below
        ev, p1, p2, mode, u = (b.local("i32") for _ in range(5))
        b.get(0).load("i32.load", m, _MODE).set(mode)
        b.get(0).i32(RUNNING).store("i32.store", m, _MODE)
        b.get(0).load("i32.load", m, _TEVENT).i32(2).op("i32.eq").if_()
        b.i32(TASK_CANCELLED).set(ev)
        b.op("else")
        b.get(mode).i32(QUEUED).op("i32.eq").if_()  # woken from WAIT: the set's event
        b.get(0).load("i32.load", m, _WSET).call(self.fn("ready", inst)).tee(p1)
        b.op("i32.eqz").trap_if()
        if self.streams is not None:  # a subtask's or an end's event (merge.asyncstream)
            b.get(p1).call(self.fn("x.take", inst)).set(ev)
            b.global_get(self.glob("x.pay")).set(p2)
        else:
            b.get(p1).i32(4).op("i32.shl").load("i32.load", tbl, 4).set(u)
            b.get(u).i32(0).store("i32.store", m, _EVENT)
            b.get(u).i32(1).store("i32.store", m, _DELIVERED)
            b.get(u).load("i32.load", m, _STATUS).set(p2)
            b.i32(1).set(ev)  # EventCode.SUBTASK
        b.end()
        b.end()
        b.get(0).i32(0).store("i32.store", m, _TEVENT)
        saved = self.switch_in(b, 0)
        code = b.local("i32")
        cb = self.func(lf.opts.callback)
        if inst in self.tp.roots and self.p.find(Space.GLOBAL, GROUP, ("root_in", inst)) is None:
            b.unreachable()  # a root task that never returns in-module never runs from here
        elif inst in self.tp.roots:  # a root task going on after its return (merge.asyncroot)
            from pymeld.merge.asyncroot import entered

            entered(self, b, inst, lambda: b.get(ev).get(p1).get(p2).call(cb).set(code))
        else:
            if entry := self.entry_id(("cb", k)):
                b.get(0).i32(entry).store("i32.store", m, _ENTRY)
            b.get(ev).get(p1).get(p2).call(cb).set(code)
        self.switch_out(b, 0, saved)
        if self.entry_id(("cb", k)):  # unwound in a yield: queued to resume by it
            self.if_unwound(b)
            b.op("return")
            b.end()
        b.get(0).get(code).call(self.fn("handle", inst)).end()
        return _gen(b, ("i32",), ())

    def _handle(self, inst: int) -> FuncCode:
        """(task, callback code): EXIT, YIELD (low-priority queue) or WAIT on one of
        ``inst``'s sets: queued at once when an event is there, else the set's waiter."""
        b = Body(["i32", "i32"])
        m = self.mem("tasks")
        c = b.local("i32")
        b.get(1).i32(0xF).op("i32.and").set(c)
        b.get(c).op("i32.eqz").if_()  # EXIT: only after the task returned
        b.get(0).load("i32.load", m, _STATUS).i32(RETURNED).op("i32.lt_u").trap_if()
        self._exit_ids(b)
        b.get(0).i32(EXITED).store("i32.store", m, _MODE)
        b.get(0).load("i32.load", m, _SUB).op("i32.eqz").if_()
        b.get(0).call(self.fn("task.free"))
        b.end()
        b.op("return")
        b.end()
        b.get(c).i32(1).op("i32.eq").if_()  # YIELD: event NONE unless a cancel is pending
        b.get(0).load("i32.load", m, _TEVENT).op("i32.eqz").if_()
        b.get(0).i32(1).store("i32.store", m, _TEVENT)
        b.end()
        b.get(0).i32(YIELDING).store("i32.store", m, _MODE)
        b.get(0).call(self.fn("enqueue")).op("return")
        b.end()
        b.get(c).i32(2).op("i32.ne").trap_if()
        addr = b.local("i32")
        b.get(1).i32(4).op("i32.shr_u").i32(SET).call(self.fn("t.get", inst)).set(addr)
        b.get(0).get(1).i32(4).op("i32.shr_u").store("i32.store", m, _WSET)
        b.get(0).load("i32.load", m, _TEVENT).i32(2).op("i32.eq")
        b.get(1).i32(4).op("i32.shr_u").call(self.fn("ready", inst)).op("i32.or").if_()
        b.get(0).i32(QUEUED).store("i32.store", m, _MODE)
        b.get(0).call(self.fn("push_high"))
        b.op("else")
        b.get(addr).get(0).call(self.fn("wait_join", inst))
        b.get(0).i32(WAITING).store("i32.store", m, _MODE)
        b.end()
        b.end()
        return _gen(b, ("i32", "i32"), ())

    def _wait_join(self, inst: int) -> FuncCode:
        """(set entry address, task): the callback task waits on the set. wasmtime keeps a
        set's waiters in a `BTreeMap<QualifiedThreadId, _>` and wakes the first: ordered by
        task id (one thread per task here), so by the mirrored store-wide ids (`_SID`). A
        blocked stack (a marker) among them, or ids not mirrored, traps (not reproduced)."""
        b = Body(["i32", "i32"])
        m, tbl = self.mem("tasks"), self.mem(("tbl", inst))
        prev, cur = b.local("i32"), b.local("i32")
        b.get(0).load("i32.load", tbl, 8).tee(cur).op("i32.eqz").if_()
        b.get(0).get(1).store("i32.store", tbl, 8)
        b.op("return")
        b.end()
        b.global_get(self.ids.glob("lost")).trap_if()
        b.get(cur).load("i32.load", m, _MODE).i32(WAITING).op("i32.ne").trap_if()
        _link_by_id(b, m, 1, _WNEXT, prev, cur)
        b.get(0).get(1).store("i32.store", tbl, 8)
        b.end()
        b.end()
        return _gen(b, ("i32", "i32"), ())

    def _wait_leave(self, inst: int) -> FuncCode:
        """(set entry address, task): a cancelled callback task stops waiting on the set."""
        b = Body(["i32", "i32"])
        m, tbl = self.mem("tasks"), self.mem(("tbl", inst))
        prev, cur = b.local("i32"), b.local("i32")
        b.get(0).load("i32.load", tbl, 8).set(cur)
        b.block().loop()
        b.get(cur).op("i32.eqz").br_if(1)
        b.get(cur).get(1).op("i32.eq").if_()
        b.get(prev).if_()
        b.get(prev).get(1).load("i32.load", m, _WNEXT).store("i32.store", m, _WNEXT)
        b.op("else")
        b.get(0).get(1).load("i32.load", m, _WNEXT).store("i32.store", tbl, 8)
        b.end()
        b.get(1).i32(0).store("i32.store", m, _WNEXT)
        b.op("return")
        b.end()
        b.get(cur).set(prev)
        b.get(cur).load("i32.load", m, _WNEXT).set(cur)
        b.br(0).end().end()
        b.end()
        return _gen(b, ("i32", "i32"), ())

    def _exit_ids(self, b: Body) -> None:
        """Emit, at task param 0's EXIT: the runtime's `cleanup_thread` frees its thread and
        sync-call set, then the task when it is ready to delete: no subtask handle and the
        result taken (an async caller takes RETURNED after the first call: exiting in it keeps
        the id taken for good; a sync caller's task is freed when the caller takes it). A
        callee exiting after its caller was told it returned, the handle still held, has its
        task deleted by wasmtime under the handle: not mirrored (`lost`)."""
        ids = self.ids
        m = self.mem("tasks")
        sub = b.local("i32")
        for off in (_STHR, _SSET):
            b.get(0).load("i32.load", m, off)
            ids.release(b)
        b.get(0).load("i32.load", m, _SUB).tee(sub).op("i32.eqz").if_()
        b.get(0).load("i32.load", m, _FIRST).op("i32.eqz").if_()
        b.get(0).load("i32.load", m, _SID)
        ids.release(b)
        b.end()
        b.op("else")
        b.get(sub).i32(SYNC_CALLER).op("i32.ne")
        b.get(0).load("i32.load", m, _EVENT).op("i32.eqz").op("i32.and").if_()
        ids.lose(b)
        b.end()
        b.end()
        b.free(sub)

    def _mark_ready(self, inst: int) -> FuncCode:
        """(subtask handle): its event is pending; the waiter of its set, if any, is queued
        (high priority) and leaves the set, as wasmtime's `mark_ready`."""
        b = Body(["i32"])
        m, tbl = self.mem("tasks"), self.mem(("tbl", inst))
        s, w = b.local("i32"), b.local("i32")
        b.get(0).i32(4).op("i32.shl").load("i32.load", tbl, 8).tee(s).if_()
        b.get(s).i32(4).op("i32.shl").load("i32.load", tbl, 8).tee(w).if_()
        b.get(s).i32(4).op("i32.shl").get(w).load("i32.load", m, _WNEXT)
        b.store("i32.store", tbl, 8)  # the next waiter (`_wait_join`) stays
        b.get(w).i32(0).store("i32.store", m, _WNEXT)
        b.get(w).load("i32.load", m, _MODE).i32(WAITING).op("i32.eq").if_()
        b.get(w).i32(QUEUED).store("i32.store", m, _MODE)
        b.end()
        b.get(w).call(self.fn("push_high"))
        b.end().end().end()
        return _gen(b, ("i32",), ())

    def _notify(self) -> FuncCode:
        """(task): it returned or was cancelled; its caller's subtask event is set (a caller
        with no handle yet takes the result at once) and whoever waits for it is woken."""
        b = Body(["i32"])
        m = self.mem("tasks")
        w = b.local("i32")
        b.get(0).load("i32.load", m, _SUB).op("i32.eqz").if_()
        b.get(0).i32(1).store("i32.store", m, _DELIVERED)
        b.op("return")
        b.end()
        b.get(0).i32(1).store("i32.store", m, _EVENT)
        b.get(0).load("i32.load", m, _WAITER).tee(w).if_()
        b.get(0).i32(0).store("i32.store", m, _WAITER)
        b.get(w).call(self.fn("push_high")).op("return")
        b.end()
        b.get(0).load("i32.load", m, _SUB).i32(SYNC_CALLER).op("i32.eq").if_()
        b.op("return")
        b.end()
        for inst in self.tp.tables:
            b.get(0).load("i32.load", m, _CALLER).i32(inst).op("i32.eq").if_()
            b.get(0).load("i32.load", m, _SUB).call(self.fn("mark_ready", inst))
            b.end()
        b.end()
        return _gen(b, ("i32",), ())

    def _export(self, lf: Lifted) -> FuncCode:
        """A root export of the task instance: a new task (zero context slots) that may block
        when its function is `async` (an async lift's is `merge.asyncroot`'s). High-priority
        work left queued when the last root call returned runs first, as one batch (wasmtime
        queues the host's call behind it; what that work queues waits)."""
        if lf.opts.is_async:
            from pymeld.merge.asyncroot import export_code

            return export_code(self, lf)
        core = flatten_functype(lf.type, "lift")
        b = Body(core.params)
        sids = self.root_ids(b)
        if self.tp.root_returns:  # no driven task of this host call has returned
            b.i32(0).global_set(self.glob("root_returned"))
        self.leftover_batch(b)
        for g in self.context_globals():
            b.i32(0).global_set(g)
        b.i32(1 if lf.type.is_async else 0).global_set(self.glob("may_block"))
        from pymeld.merge.asynclists import listed
        from pymeld.merge.asyncroot import entered

        ends = root_ends(lf)
        if ends is not None and self.streams is not None:  # the host's: lowered as it starts
            from pymeld.merge.asyncreturned import emit_flat, emit_stored

            streams = self.streams
            emit_flat(b, ends[0], lambda t: streams.host_lower(t, lf.owner).index, core.params)
            if stored := _stored(lf.type):  # in place at the parameters' pointer
                mem = self.memory(Builtin("lift", lf.owner, memory=lf.opts.memory))  # type: ignore[arg-type]
                emit_stored(b, stored, lambda t: streams.host_lower(t, lf.owner).index, 0, mem)
            from pymeld.merge.asynclists import lower_walked

            lower_walked(self, b, lf, list(core.params))
        entered(self, b, lf.owner, lambda: b.forward_args().call(self.root_target(lf)))
        if ends is not None and ends[1] is not None:  # lifted as the core function returns
            if self.streams is None:
                b.unreachable()  # no end exists: wasmtime's lift traps
            else:
                b.call(self.streams.host_lift(ends[1], lf.owner).index)
        elif ends is not None and (spilled := _spilled(lf.type)):  # at the returned pointer
            if self.streams is None:
                b.unreachable()
            else:
                mem = self.memory(Builtin("lift", lf.owner, memory=lf.opts.memory))  # type: ignore[arg-type]
                from pymeld.merge.asyncreturned import emit_stored

                ptr, streams = b.local("i32"), self.streams
                b.tee(ptr)
                emit_stored(b, spilled, lambda t: streams.host_lift(t, lf.owner).index, ptr, mem)
        elif ends is not None and lf.type.result is not None and listed([lf.type.result]):
            if self.streams is None:
                b.unreachable()
            else:  # at the returned pointer, walking its lists
                from pymeld.merge.asynclists import EndWalk

                mem = self.memory(Builtin("lift", lf.owner, memory=lf.opts.memory))  # type: ignore[arg-type]
                ptr, streams = b.local("i32"), self.streams
                b.tee(ptr)
                walk = EndWalk(b, lambda t: streams.host_lift(t, lf.owner).index, mem, None, True)
                walk.stored(lf.type.result, ptr)
        res = [b.local(vt) for vt in core.results]
        for r in reversed(res):
            b.set(r)
        self.root_exit_ids(b, sids)
        self.finish_batch(b)
        for r in res:
            b.get(r)
        b.end()
        return _gen(b, core.params, core.results)

    def root_ids(self, b: Body) -> tuple[int, ...]:
        """Emit, first in a root call: the runtime's ids of its task, sync-call set and thread
        (`GuestTask::new` as the host's call is prepared); the locals holding them."""
        sids = tuple(b.local("i32") for _ in range(3))
        for s in sids:
            self.ids.alloc(b)
            b.set(s)
        return sids

    def root_exit_ids(self, b: Body, sids: tuple[int, ...]) -> None:
        """Emit, when the root task's code exits: `cleanup_thread` frees its thread, its
        sync-call set and the task (the host's dynamic `Func::call_async` keeps no future on
        it: `host_future_present` is false, so it is ready to delete at once)."""
        if sids:
            for s in reversed(sids):
                b.get(s)
                self.ids.release(b)

    def leftover_batch(self, b: Body) -> None:
        """Emit, at a root call's start: high-priority work left queued when the last root
        call returned runs first, as one batch (wasmtime queues the host's call behind it)."""
        b.global_get(self.glob("h_head")).if_()
        b.block().loop()
        b.i32(0).call(self.fn("step")).op("drop")
        b.global_get(self.glob("batch_end")).br_if(0)
        b.end().end()
        b.end()

    def finish_batch(self, b: Body) -> None:
        """Emit, before a root call returns: the rest of the batch of high-priority work it
        was resumed in runs first, as wasmtime does before the call returns."""
        b.block().loop()
        b.global_get(self.glob("batch_end")).op("i32.eqz").br_if(1)
        b.i32(0).call(self.fn("step")).op("drop")
        b.br(0).end().end()

    def _callback_edges(self) -> list[Edge]:
        return [e for e in self.tp.edges.values() if e.task]

    def _returns_for(self, bi: int, e: Edge) -> bool:
        """Whether `task.return` built-in ``bi`` returns the results of edge ``e``'s task
        (else it traps: wasmtime checks the result type and the lift's options)."""
        bt, lf = self.g.builtins[bi], e.callee
        opts = bt.opts
        return (
            not e.sync_task  # its results are its core function's: `task.return` traps
            and lf.owner == bt.owner
            and bt.result == lf.type.result
            and opts is not None
            and opts.string_encoding == lf.opts.string_encoding
            and (opts.memory is None or opts.memory == lf.opts.memory)  # none: not checked
        )

    def _ret(self, e: Edge, flat_limit: int | None = None) -> FuncCode:
        """Edge ``e``'s results lifted into its caller's memory or flat results: a
        `task.return`'s parameters (flattened up to `MAX_FLAT_PARAMS` values), or with
        ``flat_limit`` 1 a sync lift's core results."""
        from pymeld.abi.adapter import generate_return
        from pymeld.abi.layout import MAX_FLAT_PARAMS

        lf = e.callee
        caller_opts, callee_opts = self.edge_opts(e.lower)
        lower = flatten_functype(lf.type, "lower")
        to_memory = lf.type.result is not None and (e.lower_async or not lower.results)
        from pymeld.merge.asyncres import return_ops

        ends = None if self.streams is None else self.streams.return_ops(e)
        ops = return_ops(ends, self.own_transfer, lf.type, lf.owner, self.g.lowers[e.lower].owner)
        r = generate_return(
            lf.type,
            callee_opts,
            caller_opts,
            to_memory,
            ops,
            self.p.simd,
            self.p.shared_func,
            flat_limit=MAX_FLAT_PARAMS if flat_limit is None else flat_limit,
        )
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
        if op == "task.cancel":
            self._task_cancel(b, inst)
            return _gen(b, params, results)
        if op == "thread.yield":
            if bi in self.tp.stack_yields:
                self._stack_yield(b)
            else:
                self._yield(bt, b)
            return _gen(b, params, results)
        if op.startswith("backpressure."):
            self._backpressure(bt, b)
            return _gen(b, params, results)
        tbl = self.mem(("tbl", inst))
        get = self.fn("t.get", inst)
        addr = b.local("i32")
        ids = self.ids
        if op in ("waitable-set.new", "waitable-set.drop", "subtask.drop"):
            ids.force(b)
        if op == "waitable-set.new":
            b.i32(SET).i32(0).i32(0).call(self.fn("t.add", inst))
            # its store-wide id in the entry's last word
            b.tee(addr).i32(4).op("i32.shl")
            ids.alloc(b)
            b.store("i32.store", tbl, 12)
            b.get(addr)
            b.end()
        elif op == "waitable-set.drop":
            b.get(0).i32(SET).call(get).tee(addr).load("i32.load", tbl, 4).trap_if()
            b.get(addr).load("i32.load", tbl, 8).trap_if()  # a task waits on it
            b.get(addr).load("i32.load", tbl, 12)
            ids.release(b)
            b.get(addr).call(self.fn("t.remove", inst)).end()
        elif op == "waitable.join" and self.streams is not None:
            self.streams.join(b, inst)
        elif op == "waitable.join":
            b.get(0).i32(SUBTASK).call(get).set(addr)
            self._leave_set(b, inst, addr)
            b.get(1).if_()
            s = b.local("i32")
            b.get(1).i32(SET).call(get).set(s)
            b.get(s).get(s).load("i32.load", tbl, 4).i32(1).op("i32.add").store("i32.store", tbl, 4)
            b.end()
            b.get(addr).get(1).store("i32.store", tbl, 8)
            b.get(1).get(addr).load("i32.load", tbl, 4).load("i32.load", self.mem("tasks"), _EVENT)
            b.op("i32.and").if_()  # joined with its event pending: wake the set's waiter
            b.get(0).call(self.fn("mark_ready", inst))
            b.end().end()
        elif op == "subtask.drop":
            t = b.local("i32")
            b.get(0).i32(SUBTASK).call(get).set(addr)
            b.get(addr).load("i32.load", tbl, 4).set(t)
            b.get(t).load("i32.load", self.mem("tasks"), _DELIVERED).op("i32.eqz").trap_if()
            # a STARTED event taken is not the terminal one (wasmtime: not resolved, or an
            # event still pending)
            b.get(t).load("i32.load", self.mem("tasks"), _STATUS).i32(RETURNED).op("i32.lt_u")
            b.get(t).load("i32.load", self.mem("tasks"), _EVENT).op("i32.or").trap_if()
            self._leave_set(b, inst, addr)
            b.get(addr).call(self.fn("t.remove", inst))
            b.get(t).i32(0).store("i32.store", self.mem("tasks"), _SUB)
            if self.host is not None:
                self.host.drop(b, t)
            b.get(t).load("i32.load", self.mem("tasks"), _MODE).i32(EXITED).op("i32.eq").if_()
            b.get(t).load("i32.load", self.mem("tasks"), _SID)
            ids.release(b)
            b.get(t).call(self.fn("task.free"))
            b.end().end()
        elif op == "subtask.cancel":
            self._subtask_cancel(bt, b, addr)
        else:  # waitable-set.wait / poll: (set, event ptr) → event code
            self._wait(bi, b, addr)
        return _gen(b, params, results)

    def _backpressure(self, bt: Builtin, b: Body) -> None:
        """backpressure.inc/dec of an instance entered by async calls: wasmtime's u16 counter
        (leaving its range traps); back to 0, the calls pending there are queued to start
        (`_release`)."""
        from pymeld.merge.asyncfuse import count_backpressure

        g = self.glob(("bp", bt.owner))
        count_backpressure(b, g, bt.op == "backpressure.inc")
        if bt.op == "backpressure.dec":
            b.global_get(g).op("i32.eqz").if_()
            b.call(self.fn("release", bt.owner))
            b.end()
        b.end()

    def _leave_set(self, b: Body, inst: int, addr: int) -> None:
        tbl, s = self.mem(("tbl", inst)), b.local("i32")
        b.get(addr).load("i32.load", tbl, 8).tee(s).if_()
        b.get(s).i32(4).op("i32.shl").tee(s).get(s).load("i32.load", tbl, 4).i32(1)
        b.op("i32.sub").store("i32.store", tbl, 4)
        b.end()
        b.get(addr).i32(0).store("i32.store", tbl, 8)
        b.free(s)

    def _wait(self, bi: int, b: Body, addr: int) -> None:
        """waitable-set.wait/poll (set, event ptr) → event code. A cancellable one of an
        in-module task of this instance first takes its pending TASK_CANCELLED; a wait with
        no event blocks this core stack as the set's waiter (`block_or_unwind`: a suspend
        point unwinds it, and is called again when it is rewound, the event there)."""
        bt = self.g.builtins[bi]
        inst = bt.owner
        tbl, tasks, mem = self.mem(("tbl", inst)), self.mem("tasks"), self.memory(bt)
        h, t, ev = b.local("i32"), b.local("i32"), b.local("i32")
        wait = bt.op == "waitable-set.wait"
        rewound = b.local("i32")
        if bi in self.tp.blocking:
            b.block()
            self.rewound(b)
            b.i32(1).set(rewound)
            b.end()
        if wait:
            b.global_get(self.glob("may_block")).op("i32.eqz").trap_if()
        b.get(0).i32(SET).call(self.fn("t.get", inst)).set(addr)
        b.get(1).i32(3).op("i32.and").trap_if()  # the event record is 4-byte aligned
        if bt.flag:  # cancellable
            cur = self.glob("cur_task")
            b.global_get(cur).if_()
            b.global_get(cur).load("i32.load", tasks, _OWNER).i32(inst).op("i32.eq")
            b.global_get(cur).load("i32.load", tasks, _TEVENT).i32(2).op("i32.eq")
            b.op("i32.and").if_()
            b.global_get(cur).i32(0).store("i32.store", tasks, _TEVENT)
            b.get(1).i32(0).store("i32.store", mem, 0)
            b.get(1).i32(0).store("i32.store", mem, 4)
            b.i32(TASK_CANCELLED).op("return")
            b.end().end()
        b.get(0).call(self.fn("ready", inst)).set(h)
        if wait:
            b.get(h).op("i32.eqz").if_()
            b.get(rewound).trap_if()  # woken with no event to take: a bug
            b.get(addr).load("i32.load", tbl, 8).trap_if()  # a second waiter: wasmtime's order
            self.block_or_unwind(b, bi, lambda w: b.get(addr).get(w).store("i32.store", tbl, 8))
            b.get(0).call(self.fn("ready", inst)).tee(h).op("i32.eqz").trap_if()
            b.end()
        b.get(h).op("i32.eqz").if_("i32")
        b.get(1).i32(0).store("i32.store", mem, 0)
        b.get(1).i32(0).store("i32.store", mem, 4)
        b.i32(0)
        b.op("else")
        if self.streams is not None:  # a subtask's or an end's event (merge.asyncstream)
            b.get(h).call(self.fn("x.take", inst)).set(ev)
            b.get(1).get(h).store("i32.store", mem, 0)
            b.get(1).global_get(self.glob("x.pay")).store("i32.store", mem, 4)
            b.get(ev)
        else:
            b.get(h).i32(4).op("i32.shl").load("i32.load", tbl, 4).set(t)
            b.get(t).i32(0).store("i32.store", tasks, _EVENT)
            b.get(t).i32(1).store("i32.store", tasks, _DELIVERED)
            b.get(1).get(h).store("i32.store", mem, 0)
            b.get(1).get(t).load("i32.load", tasks, _STATUS).store("i32.store", mem, 4)
            b.i32(1)  # EventCode.SUBTASK
        b.end().end()
        b.free(ev)

    def _subtask_cancel(self, bt: Builtin, b: Body, addr: int) -> None:
        """subtask.cancel (handle) → status, as wasmtime 50 does it (checked against it): a
        subtask in a waitable set traps (with or without `async`); a task that has not
        returned is sent TASK_CANCELLED, delivered at once when its callback is not running
        (taken out of its queue or set); then, unless it has returned or cancelled, `async`
        gives BLOCKED and sync blocks until it has. The terminal event is taken (cancelling
        after it was delivered traps). Delivering at once, the canceller suspends
        (`YieldingToSubtask`): one store-wide id while the callee runs (merge.asyncids). A sync
        cancel blocks as a marker (`block_on`) even in a task's first call: wasmtime does not
        hand that call's async caller its subtask meanwhile (checked against it)."""
        inst = bt.owner
        tbl, m = self.mem(("tbl", inst)), self.mem("tasks")
        t, mode = b.local("i32"), b.local("i32")
        ids = self.ids
        if not bt.flag:
            # `check_blocking` needs the current thread
            ids.force(b)
            b.global_get(self.glob("may_block")).op("i32.eqz").trap_if()
        b.get(0).i32(SUBTASK).call(self.fn("t.get", inst)).tee(addr)
        b.load("i32.load", tbl, 4).set(t)
        b.get(addr).load("i32.load", tbl, 8).trap_if()  # in a waitable set
        if self.host is not None:
            self.host.cancel(b, t)  # a host subtask: the runtime's cancel (asynchost)
        if self.deferrable:
            self._cancel_pending(b, t)
        b.get(t).load("i32.load", m, _STATUS).i32(RETURNED).op("i32.lt_u").if_()
        b.get(t).i32(1).store("i32.store", m, _CANCEL_SENT)
        b.get(t).i32(2).store("i32.store", m, _TEVENT)
        b.get(t).load("i32.load", m, _MODE).set(mode)
        if self.entries:  # a stack suspended in a (non-cancellable) yield takes it later
            b.get(t).load("i32.load", m, _STACK).if_()
            b.i32(RUNNING).set(mode)
            b.end()
        b.get(mode).i32(YIELDING).op("i32.eq").if_()
        b.get(t).call(self.fn("unlink", "q_head", "q_tail"))
        b.end()
        b.get(mode).i32(QUEUED).op("i32.eq").if_()
        b.get(t).call(self.fn("unlink", "h_head", "h_tail"))
        b.end()
        b.get(mode).i32(WAITING).op("i32.eq").if_()  # leaves the set it waits on
        for owner in sorted(self.tp.task_instances()):
            b.get(t).load("i32.load", m, _OWNER).i32(owner).op("i32.eq").if_()
            b.get(t).load("i32.load", m, _WSET).i32(4).op("i32.shl").get(t)
            b.call(self.fn("wait_leave", owner))
            b.end()
        b.end()
        b.get(mode).i32(YIELDING).op("i32.eq").get(mode).i32(QUEUED).op("i32.eq").op("i32.or")
        b.get(mode).i32(WAITING).op("i32.eq").op("i32.or").if_()
        # the canceller suspends (`YieldingToSubtask`): merge.asyncids
        saved = b.local("i32")
        ids.force(b)
        ids.alloc(b)
        b.set(saved)
        b.get(t).call(self.fn("run"))
        b.get(saved)
        ids.release(b)
        for owner in sorted(self.tp.roots):  # held, not run: when the canceller resumes
            held = self.p.find(Space.GLOBAL, GROUP, ("root_pending", owner))
            if held is not None:  # is not mirrored
                b.global_get(held.index).get(t).op("i32.eq").if_()
                ids.lose(b)
                b.end()
        b.end()
        b.get(t).load("i32.load", m, _STATUS).i32(RETURNED).op("i32.lt_u").if_()
        if bt.flag:
            b.i32(BLOCKED).op("return")
        else:
            self.block_on(b, lambda mk: b.get(t).get(mk).store("i32.store", m, _WAITER))
        b.end()
        b.end()
        b.get(t).load("i32.load", m, _EVENT).op("i32.eqz").trap_if()  # already delivered
        b.get(t).i32(0).store("i32.store", m, _EVENT)
        b.get(t).i32(1).store("i32.store", m, _DELIVERED)
        b.get(t).load("i32.load", m, _STATUS).end()

    def _cancel_pending(self, b: Body, t: int) -> None:
        """Emit, in `subtask.cancel` of task ``t``: a PENDING (STARTING) one never starts: it
        leaves the pending list and resolves START_CANCELLED at once, no event, sync or not
        (wasmtime's `cancel_guest_subtask_without_lowered_parameters`: its thread and
        sync-call set are freed now, the task at `subtask.drop`)."""
        m = self.mem("tasks")
        b.get(t).load("i32.load", m, _MODE).i32(PENDING).op("i32.eq").if_()
        self._unpend(b, t)
        for off in (_STHR, _SSET):
            b.get(t).load("i32.load", m, off)
            self.ids.release(b)
        b.get(t).i32(START_CANCELLED).store("i32.store", m, _STATUS)
        b.get(t).i32(EXITED).store("i32.store", m, _MODE)
        b.get(t).i32(1).store("i32.store", m, _DELIVERED)
        b.i32(START_CANCELLED).op("return")
        b.end()

    def _unlink(self, head_key: str, tail_key: str) -> FuncCode:
        """(record): take it out of a FIFO (a cancelled task's pending turn); the batch being
        run ends at its predecessor when it was the batch's last item."""
        b = Body(["i32"])
        m, head, tail = self.mem("tasks"), self.glob(head_key), self.glob(tail_key)
        prev, cur = b.local("i32"), b.local("i32")
        b.global_get(head).set(cur)
        b.block().loop()
        b.get(cur).op("i32.eqz").br_if(1)
        b.get(cur).get(0).op("i32.eq").if_()
        b.get(prev).if_()
        b.get(prev).get(0).load("i32.load", m, _NEXT).store("i32.store", m, _NEXT)
        b.op("else")
        b.get(0).load("i32.load", m, _NEXT).global_set(head)
        b.end()
        b.global_get(tail).get(0).op("i32.eq").if_()
        b.get(prev).global_set(tail)
        b.end()
        if head_key == "h_head":
            b.global_get(self.glob("batch_end")).get(0).op("i32.eq").if_()
            b.get(prev).global_set(self.glob("batch_end"))
            b.end()
        b.get(0).i32(0).store("i32.store", m, _NEXT)
        b.br(2)
        b.end()
        b.get(cur).set(prev)
        b.get(cur).load("i32.load", m, _NEXT).set(cur)
        b.br(0).end().end()
        b.end()
        return _gen(b, ("i32",), ())

    def end_borrow_scope(self, b: Body, t: int) -> None:
        """Emit, as task record ``t`` resolves (`task.return`, `task.cancel`, a sync task's
        return) when edges lend borrows to tasks: trap unless it dropped every borrow it was
        lent, then end its caller's loans (wasmtime ends them there, not when the caller
        takes the event: checked)."""
        if self.borrow_scopes is not None:
            b.get(t).i32(_REC).op("i32.div_u").call(self.borrow_scopes.scope_end)

    def _task_cancel(self, b: Body, inst: int) -> None:
        """task.cancel: only by an in-module task of this instance that was sent a cancel and
        has not returned; its subtask resolves RETURNED_CANCELLED."""
        m, t = self.mem("tasks"), b.local("i32")
        b.global_get(self.glob("cur_task")).tee(t).op("i32.eqz").trap_if()
        b.get(t).load("i32.load", m, _OWNER).i32(inst).op("i32.ne").trap_if()
        b.get(t).load("i32.load", m, _CANCEL_SENT).op("i32.eqz").trap_if()
        b.get(t).load("i32.load", m, _STATUS).i32(STARTED).op("i32.ne").trap_if()
        self.end_borrow_scope(b, t)
        b.get(t).i32(RETURNED_CANCELLED).store("i32.store", m, _STATUS)
        b.get(t).call(self.fn("notify")).end()

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
        if bi in self.tp.host_returns:  # no in-module task: the host-called stackful one's
            assert self.host_builtin is not None
            b.global_get(self.glob("cur_task")).op("i32.eqz").if_()
            owner = self.g.builtins[bi].owner
            b.global_get(self.glob(("root_task", owner))).op("i32.eqz").trap_if()
            b.forward_args().call(self.host_return(bi)).op("return")
            b.end()
        b.global_get(self.glob("cur_task")).tee(t).op("i32.eqz").trap_if()
        b.get(t).load("i32.load", tasks, _STATUS).i32(STARTED).op("i32.ne").trap_if()
        self.end_borrow_scope(b, t)
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
        b.get(t2).call(self.fn("notify")).end()
        return _gen(b, params, results)


def alloc_record(m: int, nxt: int, free: int, link: int, size: int) -> FuncCode:
    """() → the address of a zeroed ``size``-byte record of memory ``m`` (never 0): the last one
    freed (its ``link`` field chains the free list headed by global ``free``), else the next
    fresh one (global ``nxt`` counts records, starting at 1)."""
    b = Body([])
    r = b.local("i32")
    b.global_get(free).if_()
    b.global_get(free).set(r)
    b.get(r).load("i32.load", m, link).global_set(free)
    b.op("else")
    b.global_get(nxt).set(r)
    b.get(r).i32(1).op("i32.add").global_set(nxt)
    _grow(b, m, lambda: b.get(r).i32(1).op("i32.add").i32(size).op("i32.mul"))
    b.get(r).i32(size).op("i32.mul").set(r)
    b.end()
    b.get(r).i32(0).i32(size).memory_fill(m)
    b.get(r).end()
    return _gen(b, (), ("i32",))


def take_entry(b: Body, h: int, m: int, nxt: int, free: int, space: SharedSpace | None) -> None:
    """Set local ``h`` to a fresh index of a 16-byte-entry handle table in memory ``m``, as
    wasmtime's `HandleTable::insert` numbers: the last freed (its entry's word 3 links the free
    list headed by global ``free``), else the next (global ``nxt``; past 2^28-1 it traps). With
    a shared index space the index is claimed there, numbered with the instance's resources."""
    if space is not None:
        claim(b, space, h, m, nxt)
        return
    b.global_get(free).if_()
    b.global_get(free).set(h)
    b.get(h).i32(4).op("i32.shl").load("i32.load", m, 12).global_set(free)
    b.op("else")
    b.global_get(nxt).tee(h).i32(_MAX_HANDLE).op("i32.gt_u").trap_if()
    b.get(h).i32(1).op("i32.add").global_set(nxt)
    _grow(b, m, lambda: b.get(h).i32(1).op("i32.add").i32(4).op("i32.shl"))
    b.end()


def release_entry(b: Body, m: int, free: int, space: SharedSpace | None) -> None:
    """Free the 16-byte entry whose address is param 0 (its tag already cleared): it heads the
    table's free list (`take_entry` reuses it first), or goes back to the shared index space."""
    if space is not None:
        b.get(0).i32(4).op("i32.shr_u").call(space.release).end()
        return
    b.get(0).global_get(free).store("i32.store", m, 12)
    b.get(0).i32(4).op("i32.shr_u").global_set(free)
    b.end()


def _grow(b: Body, m: int, need: Callable[[], object]) -> None:
    """Grow memory ``m`` a page at a time until ``need()`` bytes fit (trap when it cannot)."""
    b.block().loop()
    need()
    b.memory_size(m).i32(16).op("i32.shl").op("i32.le_u").br_if(1)
    b.i32(1).memory_grow(m).i32(-1 & 0xFFFFFFFF).op("i32.eq").trap_if()
    b.br(0).end().end()


def _gen(b: Body, params: tuple[CoreValType, ...], results: tuple[CoreValType, ...]) -> FuncCode:
    return FuncCode(params, results, tuple(b.locals), bytes(b.code))
