"""wasmtime's store-wide table ids, mirrored in-module to order simultaneous events.

wasmtime 50 keeps every task, thread, waitable set, host task and stream/future state of a
`Store` in one `ResourceTable` (`ConcurrentState::table`, `component/concurrent.rs`), whose
ids a set's ready waitables are ordered by (`WaitableSet::ready: BTreeSet<Waitable>`: host
subtasks, then guest subtasks, then ends, each by id). `ResourceTable::push_` takes the head of
a last-in-first-out free list, else the next fresh index; `free_entry` puts the freed index at
the head (`component/resource_table.rs`). What allocates and frees, in the order mirrored here:

* `GuestTask::new`: the task, its thread's `sync_call_set`, the thread (3 ids), for every call
  into a guest. A host call of a root export (the dynamic `Func::call_async` keeps no host
  future on it) frees all three when its code exits. A call from another instance through
  `prepare_call` (an async lower, or a callee whose function is `async`, even lifted and
  lowered sync) forces the deferred frames below and takes the three. Any other sync-to-sync
  call is *deferred*: the adapter
  only pushes a `VMDeferredThread`, replayed outermost-first by
  `force_deferred_current_thread` when anything first needs the current thread (a built-in,
  a call) and freed as thread, set, task when the call returns (`exit_guest_sync_call`).
* A caller suspending for a callee to run (`SuspendReason::YieldingToSubtask`: after a call
  through `prepare_call` started the callee, and in `subtask.cancel` delivering
  TASK_CANCELLED to a callee at once) saves the next switch item in the table: one id, freed
  when the caller resumes (after the callee's first call, or its turn with the cancel, and
  the exit frees in it). wasmtime 50 does this (its traces: `nested-cancel.wast`'s 107
  threads, every async wast case; the mirrored sources predate it); a sync wait
  (`SuspendReason::Waiting`) takes none.
* A callback-lifted root task going on after its `task.return` (merge.asyncroot `_adopt`)
  keeps its three ids until its EXIT, whenever a later call's event loop runs it.
* `cleanup_thread` (a callback's EXIT, a stackful or sync lift's return): the thread, its set,
  then the task if `ready_to_delete` (its terminal event taken, a sync caller's result taken);
  otherwise `subtask.drop` or the sync caller's `start_call` frees it later. An async lower
  whose callee exited before its caller took the RETURNED event (the callee returned and
  exited in its first call, or a sync lift) never frees the task: its id stays taken.
* `stream.new`/`future.new` (`new_transmit`): the `TransmitState`, the write handle, the read
  handle; `delete_transmit` frees them in that order when the second end is dropped. An end's
  event is ordered by its handle's id; ends moving between instances keep it.
* `waitable-set.new`/`drop`: one id. Host calls push and delete a `HostTask` at once: no
  effect on later ids (a nested push/delete pair leaves a LIFO list as it was), as do deferred
  frames that nothing forced while they were live.

So the ids follow from what the fused module sees happen: this module keeps the same free list
in memory (``("ids", "free")``) and a stack of deferred frames (``("ids", "frames")``, 12
bytes each: task, set, thread, forced frames below unforced ones), and `asynctask` stores each
task's three ids in its record and each set's id in its table entry. A root export's
post-return takes none: it may not call out (wasmtime's `call_post_return` clears may-leave, as
the spec's `canon_lift` does, so a call out traps in both). At run time, a case not mirrored sets ``("ids", "lost")`` and simultaneous events
trap again: a callee exiting after its terminal event was delivered while its caller still holds the subtask (wasmtime deletes the task then), a
cancelled callee whose turn is held (its instance entered below), a stack suspended other than
by `thread.yield` (a wait, a blocking stream or future op: not checked; a yield takes no id
and the suspended-stack programs of `test_async_tasks_property` stay equivalent past it, as
they do past a task's sync call waiting for its callee to start or return: neither takes
one). Ids
taken before stay right: a task record says whether its ids were taken while mirrored
(`asynctask._EXACT`). What the
host does in the same store (other instances, host streams) cannot be seen: the fused
component orders as the original does in a store of its own.
"""

from __future__ import annotations

from functools import partial

from pymeld.codec.core.emitter import Body
from pymeld.plan import FuncCode, Plan, Space

GROUP = "async"
_FRAME = 12  # bytes per deferred frame: task, set, thread ids


class StoreIds:
    """The mirrored free list and deferred frames: globals, memories and functions."""

    def __init__(self, p: Plan) -> None:
        self.p = p

    def plan(self) -> None:
        p = self.p
        for key in ("free", "frames"):
            p.add_memory(GROUP, ("ids", key))
        for key in ("next", "top", "ftop", "forced", "lost"):
            p.add_global(GROUP, ("ids", key))
        for op in ("alloc", "release", "force", "push", "pop"):
            p.add_func(GROUP, ("ids", op), partial(self._emit, op))

    def fn(self, op: str) -> int:
        return self.p.index(Space.FUNC, GROUP, ("ids", op))

    def glob(self, key: str) -> int:
        return self.p.index(Space.GLOBAL, GROUP, ("ids", key))

    def mem(self, key: str) -> int:
        return self.p.index(Space.MEMORY, GROUP, ("ids", key))

    # -- emit helpers for asynctask/asyncroot --------------------------------------------------
    def force(self, b: Body) -> None:
        """Emit: the deferred frames of sync adapter calls get their ids (a built-in or an
        async call needs the current thread)."""
        b.call(self.fn("force"))

    def alloc(self, b: Body) -> None:
        """Emit: push the next id."""
        b.call(self.fn("alloc"))

    def release(self, b: Body) -> None:
        """Emit: free the id on the stack."""
        b.call(self.fn("release"))

    def lose(self, b: Body) -> None:
        """Emit: the ids stop being mirrored (simultaneous events trap from now on)."""
        b.i32(1).global_set(self.glob("lost"))

    # -- functions -----------------------------------------------------------------------------
    def _emit(self, op: str) -> FuncCode:
        return {
            "alloc": self._alloc,
            "release": self._release,
            "force": self._force,
            "push": self._push,
            "pop": self._pop,
        }[op]()

    def _alloc(self) -> FuncCode:
        """() → id: the last freed, else the next fresh one (`ResourceTable::push_`)."""
        from pymeld.merge.asynctask import _gen

        b = Body([])
        m, top, nxt = self.mem("free"), self.glob("top"), self.glob("next")
        b.global_get(top).if_("i32")
        b.global_get(top).i32(1).op("i32.sub").global_set(top)
        b.global_get(top).i32(2).op("i32.shl").load("i32.load", m, 0)
        b.op("else")
        b.global_get(nxt).global_get(nxt).i32(1).op("i32.add").global_set(nxt)
        b.end().end()
        return _gen(b, (), ("i32",))

    def _release(self) -> FuncCode:
        """(id): it heads the free list (`ResourceTable::free_entry`)."""
        from pymeld.merge.asynctask import _gen, _grow

        b = Body(["i32"])
        m, top = self.mem("free"), self.glob("top")
        _grow(b, m, lambda: b.global_get(top).i32(1).op("i32.add").i32(2).op("i32.shl"))
        b.global_get(top).i32(2).op("i32.shl").get(0).store("i32.store", m, 0)
        b.global_get(top).i32(1).op("i32.add").global_set(top).end()
        return _gen(b, ("i32",), ())

    def _force(self) -> FuncCode:
        """(): every unforced deferred frame, outermost first, gets task, set and thread ids
        (`force_deferred_current_thread` replaying `enter_guest_sync_call`)."""
        from pymeld.merge.asynctask import _gen

        b = Body([])
        m, ftop, forced = self.mem("frames"), self.glob("ftop"), self.glob("forced")
        a = b.local("i32")
        b.block().loop()
        b.global_get(forced).global_get(ftop).op("i32.ge_u").br_if(1)
        b.global_get(forced).i32(_FRAME).op("i32.mul").set(a)
        for off in (0, 4, 8):
            b.get(a).call(self.fn("alloc")).store("i32.store", m, off)
        b.global_get(forced).i32(1).op("i32.add").global_set(forced)
        b.br(0).end().end()
        b.end()
        return _gen(b, (), ())

    def _push(self) -> FuncCode:
        """(): a sync-to-sync adapter call starts: a deferred frame, unforced."""
        from pymeld.merge.asynctask import _gen, _grow

        b = Body([])
        m, ftop = self.mem("frames"), self.glob("ftop")
        _grow(b, m, lambda: b.global_get(ftop).i32(1).op("i32.add").i32(_FRAME).op("i32.mul"))
        b.global_get(ftop).i32(1).op("i32.add").global_set(ftop).end()
        return _gen(b, (), ())

    def _pop(self) -> FuncCode:
        """(): a sync-to-sync adapter call returns: a forced frame frees its thread, set and
        task (`exit_guest_sync_call` → `cleanup_thread`)."""
        from pymeld.merge.asynctask import _gen

        b = Body([])
        m, ftop, forced = self.mem("frames"), self.glob("ftop"), self.glob("forced")
        a = b.local("i32")
        b.global_get(ftop).i32(1).op("i32.sub").global_set(ftop)
        b.global_get(forced).global_get(ftop).op("i32.gt_u").if_()
        b.global_get(ftop).global_set(forced)
        b.global_get(ftop).i32(_FRAME).op("i32.mul").set(a)
        for off in (8, 4, 0):
            b.get(a).load("i32.load", m, off).call(self.fn("release"))
        b.end().end()
        return _gen(b, (), ())
