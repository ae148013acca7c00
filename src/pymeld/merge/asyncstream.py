"""Async across former component instances, stage 3 (issue 11): streams and futures inside
in-module tasks.

Once async calls between instances run as in-module tasks (`merge.asynctask`), stream and
future events must reach the in-module waitable sets and callbacks, so streams and futures
whose ends all stay inside the fused module become in-module objects, modelled on wasmtime's
`concurrent/futures_and_streams.rs` (the oracle):

* **Ends** are entries of the per-instance handle tables the waitable sets and subtasks use
  (handle numbers are shared with them, as in wasmtime's per-instance table): kind (readable
  or writable, stream or future), the shared record, the set joined, and the local state
  (`TransmitLocalState`: idle, done — notified that the other end dropped —, busy).
* **The shared record** holds each side's `ReadState`/`WriteState` (open, a guest buffer ready
  with its memory, address and count, dropped), the future's `done`, and each end's pending
  event (code, payload, and whether its delivery ends a copy: `pending`).
* **Copies** rendezvous as wasmtime's do, including its zero-length rules (a zero-length
  read or write only signals readiness), partial copies that leave the rest of a buffer
  pending while the event already counts what was copied, and the merging of a pending
  "completed n" event into "dropped n" when the other end drops. Elements are numbers, laid
  out alike in every memory, so a copy is `memory.copy` between the two instances' memories
  (wasmtime's flat copy), after its bounds and alignment checks.
* **Events** go through `merge.asynctask`'s scheduler as subtask events do: `mark_ready`
  queues the waiter of the end's set at high priority (a callback that returned WAIT, or the
  marker of a stack blocked in `waitable-set.wait`), and a blocking read or write of a
  host-called instance (one host call at a time) blocks its stack as a marker that the end's
  event queues; in a task's core code it is a suspend point (`merge.asynctask`
  `block_or_unwind`): the task's stack unwinds, the end's event queues the task, and the
  rewound built-in takes the event.
* **Ends crossing an adapter** move between instances' tables with wasmtime's transfer checks
  (only readable ends; not busy, not done, not in a set, a future not read).
* **Ends crossing the host boundary** (`merge.asynctask.boundary_ends`): one handed to the
  host (`host_lift`) passes the same checks, then becomes the runtime's: the runtime's
  `stream.new`/`future.new` makes a pair, the host gets its readable end and the record is
  marked `HOST` with its writable handle, through which the in-module writer's writes and
  drop go (the runtime's built-ins of the composition, with the writer's options). One the
  host hands in (`host_lower`) is a record marked `HOSTR` keeping the runtime's readable
  handle, through which the in-module reader's reads and drop go. Their runtime events never
  reach in-module sets: what would wait for them traps.

Refused by name at fusion time: payloads other than none or numbers (an in-module rendezvous
through the adapter generator: stage 4), blocking (not `async`) reads and writes reachable
from elsewhere than a task's entry (a sync lift: no suspended stack to have), streams and
futures crossing the host boundary beside in-module tasks, but for the ends of a root
export's or a sync host import's values that `merge.asynctask.boundary_ends` and
`merge.asyncreturned` place or `merge.asynclists` walks (`host_lift`, `host_lower`: shared
with the runtime; ends in their payloads: `merge.asyncnested`). Refused at run time by a
trap: a shared end's copy left waiting for the host, or in
a set that an in-module wait or poll scans (its events are the runtime's), two
tasks waiting on one set at once (wasmtime picks the waiter by its internal thread id),
several ready waitables in one set (see `TaskRuntime._ready`), and two task stacks of one
instance suspended in blocking reads or writes at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from pymeld.abi import types as at
from pymeld.abi.layout import alignment, elem_size
from pymeld.codec.core.emitter import Body
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import Builtin, FlatGraph
from pymeld.merge.asyncpayload import (
    PayloadCopies,
    check_payload,
    check_reader,
    check_sync_readers,
    flat_payload,
    needs_thread,
    note_reader,
)
from pymeld.plan import FuncCode, FuncItem, Space

if TYPE_CHECKING:
    from pymeld.merge.asynctask import Edge, TaskPlan, TaskRuntime

GROUP = "async"

SET, SUBTASK = 1, 2  # as in asynctask
RS, WS, RF, WF = 3, 4, 5, 6  # end kinds: readable/writable stream, readable/writable future
IDLE, DONE, BUSY = 0, 1, 2  # local state of an end (entry offset 12)
OPEN, READY, GONE = 0, 1, 2  # a side's ReadState/WriteState: Open, GuestReady, Dropped
COMPLETED, DROPPED = 0, 1
STREAM_READ, STREAM_WRITE, FUTURE_READ, FUTURE_WRITE = 2, 3, 4, 5  # event codes
PENDING = 0x100  # an event whose delivery ends the end's copy (wasmtime's `pending: Some`)
BLOCKED = 0xFFFFFFFF
_MAX_COUNT = (1 << 28) - 1
# shared record: type tag, flags (future, done), element size and alignment, two sides, ids;
# at 96 the pending read's task (`merge.asyncpayload` READ_TASK), at 100 its sync call's id
_REC = 104
_TAG, _FLAGS, _SIZE, _ALIGN, _LINK = 0, 4, 8, 12, 80
# the runtime's store-wide ids of the `TransmitState` and its write and read handles
# (merge.asyncids: an end's event is ordered by its handle's)
_SID_STATE, _SID_WRITE, _SID_READ = 84, 88, 92
FUT, XDONE = 1, 2
HOST = 4  # the reader's end went to the host: the writer's copies are the runtime's (`host_lift`)
HOSTR = 8  # the host's end came in (`host_lower`): the reader's copies are the runtime's
READER, WRITER = 16, 48  # side blocks
_ST, _SLOT, _ADDR, _COUNT, _INST, _H, _EV, _PAY = range(0, 32, 4)

_OPS = frozenset(
    {
        "new",
        "read",
        "write",
        "drop-readable",
        "drop-writable",
        "cancel-read",
        "cancel-write",
    }
)


def check_ends(t: object, what: str) -> None:
    """Refuse stream/future/error-context values ``t`` carries that in-module ends cannot be."""
    from pymeld.merge.asyncfuse import carried

    for v in carried(t):
        if isinstance(v, at.ErrorContext):
            raise UnsupportedFeature(f"error-context {what} beside in-module async tasks")
        assert isinstance(v, at.Stream | at.Future)
        check_payload(v, what)  # other payloads: merge.asyncpayload's rendezvous


def plan_builtin(bt: Builtin, what: str, root: bool) -> bool:
    """Refuse stream/future built-in ``bt`` unless this module fuses it; True for a blocking
    read or write outside the host-called instances (``root``: the one stack there blocks as a
    marker): a suspend point of the task whose core code calls it (`TaskPlan.blocking`)."""
    kind, op = bt.op.split(".", 1)
    if kind == "error-context" or op not in _OPS:
        raise UnsupportedFeature(f"`{bt.op}` {what} beside in-module async tasks (not fused yet)")
    assert isinstance(bt.type, at.Stream | at.Future)
    check_ends(bt.type, f"in `{bt.op}`")
    sync = not (bt.opts is not None and bt.opts.is_async)
    return op in ("read", "write") and sync and not root


def _proxiable(t: at.Stream | at.Future) -> bool:
    """Whether the writer of ``t`` can write through the runtime's built-in: its payload holds
    no resource handle (such a built-in is never imported: `merge.asyncfuse`), and the ends it
    holds are proxiable in turn and reachable by `merge.asynclists.EndWalk` (their hand-overs
    at each copy: `merge.asyncnested`)."""
    from pymeld.merge.asynclists import walkable
    from pymeld.merge.asyncnested import payload_ends

    if at.handles(t) or (t.elem is not None and not walkable([t.elem])):
        return False
    return all(_proxiable(v) for v in payload_ends(t))


def _kinds(t: at.Stream | at.Future) -> tuple[int, int]:
    return (RF, WF) if isinstance(t, at.Future) else (RS, WS)


class StreamRuntime:
    """Plans and emits the stage-3 state beside a `TaskRuntime`."""

    def __init__(self, rt: TaskRuntime, g: FlatGraph, tp: TaskPlan) -> None:
        self.rt, self.g, self.tp = rt, g, tp
        self.tags: dict[object, int] = {}
        self.slots: list[Builtin] = []  # a copy built-in of each memory copies use, by slot
        self._builtins: dict[int, FuncItem] = {}
        self.payload = PayloadCopies(self)  # non-flat payloads (stage 4)
        self.hosted: set[int] = set()  # tags of ends root exports hand the host (`host_lift`)

    # -- planning ------------------------------------------------------------------------------
    def plan(self) -> None:
        check_sync_readers(self.g, self.tp)
        from pymeld.merge import asyncsyncthreads

        asyncsyncthreads.plan(self.rt, self.tp.sync_readers)
        p = self.rt.p
        p.add_memory(GROUP, "xfer")
        for key in ("x.free", "x.pay", "root_end", "root_mk"):
            p.add_global(GROUP, key)
        for inst in self.rt.stream_blockers:  # the end a suspended task waits on, and the task
            p.add_global(GROUP, ("blk_end", inst))
            p.add_global(GROUP, ("blk_task", inst))
        p.add_global(GROUP, "x.next", init=1)
        for inst in self.tp.tables:
            for op in ("x.mark", "x.has", "x.take"):
                self._func(op, inst)
        for op in ("x.alloc", "x.free", "x.mark_end", "x.set_ev", "x.update", "x.copy"):
            self._func(op)
        from pymeld.merge.asyncfuse import carried

        for e in self.tp.edges.values():
            if e.task:
                for v in carried(e.callee.type.result):
                    assert isinstance(v, at.Stream | at.Future)
                    self.transfer(v, e.callee.owner, self.g.lowers[e.lower].owner)
        for bi in self.tp.ends:
            bt = self.g.builtins[bi]
            assert isinstance(bt.type, at.Stream | at.Future)
            self.tag(bt.type)
            self._builtins[bi] = self._func("x.builtin", bi)
            if bt.op.endswith((".read", ".write")) and bt.type.elem is not None:
                if flat_payload(bt.type):
                    self.slot(bt)
                else:
                    self.payload.plan(bt)

    def slot(self, bt: Builtin) -> int:
        """The copy slot of ``bt``'s memory (by reference: indices are known when emitting)."""
        assert bt.opts is not None
        refs = [s.opts.memory for s in self.slots if s.opts is not None]
        if bt.opts.memory not in refs:
            self.slots.append(bt)
            return len(self.slots) - 1
        return refs.index(bt.opts.memory)

    def memory(self, bt: Builtin) -> int:
        assert bt.opts is not None and bt.opts.memory is not None
        return self.rt.memory(replace(bt, memory=bt.opts.memory))  # type: ignore[arg-type]

    def tag(self, t: object) -> int:
        return self.tags.setdefault(t, len(self.tags) + 1)

    def transfer(self, t: at.Stream | at.Future, src: int, dst: int) -> FuncItem:
        key = ("x.transfer", self.tag(t), src, dst)
        item = self.rt.p.find(Space.FUNC, GROUP, key)
        if isinstance(item, FuncItem):
            return item
        return self.rt.p.add_func(GROUP, key, partial(self._transfer, t, src, dst))

    def return_ops(self, e: Edge) -> _ReturnEnds | None:
        """Transfers for the ends `task.return` of edge ``e`` hands to the caller."""
        from pymeld.merge.asyncfuse import carried

        if not any(True for _ in carried(e.callee.type.result)):
            return None
        return _ReturnEnds(self, e.callee.owner, self.g.lowers[e.lower].owner)

    def builtin_func(self, bi: int) -> int | None:
        item = self._builtins.get(bi)
        return None if item is None else item.index

    def _func(self, *key: object) -> FuncItem:
        return self.rt.p.add_func(GROUP, key, partial(self._emit, key))

    def fn(self, *key: object) -> int:
        return self.rt.fn(*key)

    def glob(self, key: object) -> int:
        return self.rt.glob(key)

    # -- emission ------------------------------------------------------------------------------
    def _emit(self, key: tuple[object, ...]) -> FuncCode:
        op, *rest = key
        assert isinstance(op, str)
        emit: dict[str, Callable[..., FuncCode]] = {
            "x.mark": self._mark,
            "x.has": self._has,
            "x.take": self._take,
            "x.alloc": self._alloc,
            "x.free": self._free,
            "x.mark_end": self._mark_end,
            "x.set_ev": self._set_ev,
            "x.update": self._update,
            "x.copy": self._copy,
            "x.builtin": self._builtin,
        }
        return emit[op](*rest)

    def _tbl(self, inst: int) -> int:
        return self.rt.mem(("tbl", inst))

    def _xfer(self) -> int:
        return self.rt.mem("xfer")

    def _alloc(self) -> FuncCode:
        """A zeroed shared record (freed ones reused)."""
        from pymeld.merge.asynctask import alloc_record

        return alloc_record(self._xfer(), self.glob("x.next"), self.glob("x.free"), _LINK, _REC)

    def _free(self) -> FuncCode:
        b = Body(["i32"])
        m, free = self._xfer(), self.glob("x.free")
        b.get(0).global_get(free).store("i32.store", m, _LINK)
        b.get(0).global_set(free).end()
        return _gen(b, ("i32",), ())

    def _mark(self, inst: int) -> FuncCode:
        """(entry address): the stack blocked in a sync read/write of this end, else its set's
        waiter, if any, is queued (`TaskRuntime._mark_ready`)."""
        b = Body(["i32"])
        if inst in self.tp.roots:  # the host-called stack (one at a time) waits on this end
            b.global_get(self.glob("root_end")).get(0).op("i32.eq").if_()
            b.i32(0).global_set(self.glob("root_end"))
            b.global_get(self.glob("root_mk")).call(self.fn("push_high")).op("return")
            b.end()
        if inst in self.rt.stream_blockers:  # a task stack suspended in a sync read/write
            b.global_get(self.glob(("blk_end", inst))).get(0).op("i32.eq").if_()
            b.i32(0).global_set(self.glob(("blk_end", inst)))
            b.global_get(self.glob(("blk_task", inst))).call(self.fn("push_high")).op("return")
            b.end()
        b.get(0).i32(4).op("i32.shr_u").call(self.fn("mark_ready", inst)).end()
        return _gen(b, ("i32",), ())

    def _mark_end(self) -> FuncCode:
        """(record, side): mark the end on that side ready in whichever table holds it."""
        b = Body(["i32", "i32"])
        x = self._xfer()
        a, h, i = b.local("i32"), b.local("i32"), b.local("i32")
        b.get(0).get(1).op("i32.add").tee(a).load("i32.load", x, _H).tee(h).op("i32.eqz").if_()
        b.op("return")
        b.end()
        b.get(a).load("i32.load", x, _INST).set(i)
        for inst in self.tp.tables:
            b.get(i).i32(inst).op("i32.eq").if_()
            b.get(h).i32(4).op("i32.shl").call(self.fn("x.mark", inst)).op("return")
            b.end()
        b.unreachable().end()
        return _gen(b, ("i32", "i32"), ())

    def _set_ev(self) -> FuncCode:
        """(record, side, code, payload): the end's event (`set_event`), then `mark_ready`."""
        b = Body(["i32", "i32", "i32", "i32"])
        x = self._xfer()
        a = b.local("i32")
        b.get(0).get(1).op("i32.add").tee(a).get(2).store("i32.store", x, _EV)
        b.get(a).get(3).store("i32.store", x, _PAY)
        b.get(0).get(1).call(self.fn("x.mark_end")).end()
        return _gen(b, ("i32",) * 4, ())

    def _update(self) -> FuncCode:
        """(record, side, code): wasmtime's `update_event` with DROPPED and no count: a pending
        stream event keeps its count (and its `pending`) and becomes DROPPED; a pending future
        event stays as it was."""
        b = Body(["i32", "i32", "i32"])
        x = self._xfer()
        a, old = b.local("i32"), b.local("i32")
        b.get(0).get(1).op("i32.add").tee(a).load("i32.load", x, _EV).tee(old).op("i32.eqz")
        b.if_()
        b.get(0).get(1).get(2).i32(DROPPED).call(self.fn("x.set_ev"))
        b.op("else")
        b.get(old).i32(0xFF).op("i32.and").i32(FUTURE_READ).op("i32.ge_u").if_()
        b.get(0).get(1).get(old).get(a).load("i32.load", x, _PAY).call(self.fn("x.set_ev"))
        b.op("else")
        b.get(0).get(1)
        b.get(2).get(old).i32(PENDING).op("i32.and").op("i32.or")
        b.get(a).load("i32.load", x, _PAY).i32(~0xF & 0xFFFFFFFF).op("i32.and")
        b.i32(DROPPED).op("i32.or")
        b.call(self.fn("x.set_ev"))
        b.end().end().end()
        return _gen(b, ("i32", "i32", "i32"), ())

    def join(self, b: Body, inst: int) -> None:
        """`waitable.join` (handle, set) of any waitable: a subtask or an end; one with a
        pending event wakes the set's waiter (wasmtime's `join`)."""
        tbl = self._tbl(inst)
        addr, s = b.local("i32"), b.local("i32")
        b.get(0).op("i32.eqz").trap_if()
        b.get(0).global_get(self.rt.glob(("tnext", inst))).op("i32.ge_u").trap_if()
        b.get(0).i32(4).op("i32.shl").tee(addr).load("i32.load", tbl, 0).i32(SUBTASK)
        b.op("i32.lt_u").trap_if()
        self.rt._leave_set(b, inst, addr)
        b.get(1).if_()
        b.get(1).i32(SET).call(self.fn("t.get", inst)).set(s)
        b.get(s).get(s).load("i32.load", tbl, 4).i32(1).op("i32.add").store("i32.store", tbl, 4)
        b.end()
        b.get(addr).get(1).store("i32.store", tbl, 8)
        b.get(1).if_()
        b.get(addr).call(self.fn("x.has", inst)).if_()
        b.get(addr).call(self.fn("x.mark", inst))
        b.end().end()
        b.end()

    def _has(self, inst: int) -> FuncCode:
        """(entry address) → whether the waitable there has a pending event."""
        from pymeld.merge.asynctask import _EVENT

        b = Body(["i32"])
        tbl, x = self._tbl(inst), self._xfer()
        k = b.local("i32")
        b.get(0).load("i32.load", tbl, 0).tee(k).i32(SUBTASK).op("i32.eq").if_("i32")
        b.get(0).load("i32.load", tbl, 4).load("i32.load", self.rt.mem("tasks"), _EVENT)
        b.op("else")
        b.get(k).i32(RS).op("i32.ge_u").if_("i32")
        if self.hosted:  # an end shared with the host: its events are the runtime's, which
            b.get(0).load("i32.load", tbl, 4).load("i32.load", x, _FLAGS)  # in-module sets
            b.i32(HOST | HOSTR).op("i32.and").trap_if()  # do not take (refused at run time)
        b.get(0).load("i32.load", tbl, 4)
        b.i32(READER).i32(WRITER).get(k).i32(1).op("i32.and").op("select")
        b.op("i32.add").load("i32.load", x, _EV)
        b.op("else")
        b.i32(0)
        b.end().end().end()
        return _gen(b, ("i32",), ("i32",))

    def _take(self, inst: int) -> FuncCode:
        """(handle) → event code, its payload in `x.pay`: the event is taken (a subtask's as
        stage 2 does; an end's ending its copy when pending: wasmtime's `on_delivery`)."""
        from pymeld.merge.asynctask import _DELIVERED, _EVENT, _STATUS

        b = Body(["i32"])
        tbl, x, tasks = self._tbl(inst), self._xfer(), self.rt.mem("tasks")
        pay = self.glob("x.pay")
        addr, k, t, a, ev = (b.local("i32") for _ in range(5))
        b.get(0).i32(4).op("i32.shl").tee(addr).load("i32.load", tbl, 0).tee(k)
        b.i32(SUBTASK).op("i32.eq").if_()
        b.get(addr).load("i32.load", tbl, 4).set(t)
        b.get(t).i32(0).store("i32.store", tasks, _EVENT)
        b.get(t).i32(1).store("i32.store", tasks, _DELIVERED)
        b.get(t).load("i32.load", tasks, _STATUS).global_set(pay)
        b.i32(1).op("return")  # EventCode.SUBTASK
        b.end()
        b.get(addr).load("i32.load", tbl, 4)
        b.i32(READER).i32(WRITER).get(k).i32(1).op("i32.and").op("select")
        b.op("i32.add").set(a)
        b.get(a).load("i32.load", x, _EV).set(ev)
        b.get(a).load("i32.load", x, _PAY).global_set(pay)
        b.get(a).i32(0).store("i32.store", x, _EV)
        b.get(ev).i32(PENDING).op("i32.and").if_()
        b.get(addr).i32(DONE).i32(IDLE)
        b.global_get(pay).i32(0xF).op("i32.and").i32(DROPPED).op("i32.eq").op("select")
        b.store("i32.store", tbl, 12)
        b.get(k).i32(WS).op("i32.le_u").if_()  # a stream's side is open again
        b.get(a).i32(OPEN).store("i32.store", x, _ST)
        b.end()
        b.end()
        b.get(ev).i32(0xFF).op("i32.and").end()
        return _gen(b, ("i32",), ("i32",))

    def _copy(self) -> FuncCode:
        """(src slot, src address, dst slot, dst address, bytes, alignment): the flat copy
        between two memories, after wasmtime's alignment checks."""
        b = Body(["i32"] * 6)
        b.get(4).if_()
        b.get(1).get(5).i32(1).op("i32.sub").op("i32.and").trap_if()
        b.get(3).get(5).i32(1).op("i32.sub").op("i32.and").trap_if()
        mems = [self.memory(s) for s in self.slots]
        for si, sm in enumerate(mems):
            for di, dm in enumerate(mems):
                b.get(0).i32(si).op("i32.eq").get(2).i32(di).op("i32.eq").op("i32.and").if_()
                b.get(3).get(1).get(4).memory_copy(dm, sm).op("return")
                b.end()
        b.unreachable()
        b.end().end()
        return _gen(b, ("i32",) * 6, ())

    # -- built-ins -----------------------------------------------------------------------------
    def _builtin(self, bi: int) -> FuncCode:
        from pymeld.merge.asyncfuse import _sig

        bt = self.g.builtins[bi]
        params, results = _sig(bt)
        b = Body(params)
        t = bt.type
        assert isinstance(t, at.Stream | at.Future)
        op = bt.op.split(".", 1)[1]
        if op == "new":
            self._new(b, bt, t)
        elif op in ("read", "write"):
            self._rw(b, bi, t, op == "write")
        elif op.startswith("cancel-"):
            self._cancel(b, bt, t, op == "cancel-write")
        elif op == "drop-readable":
            self._drop_readable(b, bi, t)
        else:
            self._drop_writable(b, bi, t)
        return _gen(b, params, results)

    def _end(self, b: Body, bt: Builtin, t: at.Stream | at.Future, kind: int) -> tuple[int, int]:
        """(entry address, record) locals of handle param 0: a ``kind`` end of type ``t``."""
        inst = bt.owner
        addr, rec = b.local("i32"), b.local("i32")
        b.get(0).i32(kind).call(self.fn("t.get", inst)).set(addr)
        b.get(addr).load("i32.load", self._tbl(inst), 4).tee(rec)
        b.load("i32.load", self._xfer(), _TAG).i32(self.tag(t)).op("i32.ne").trap_if()
        return addr, rec

    def _new(self, b: Body, bt: Builtin, t: at.Stream | at.Future) -> None:
        inst, x, tbl = bt.owner, self._xfer(), self._tbl(bt.owner)
        rk, wk = _kinds(t)
        rec, rh, wh = b.local("i32"), b.local("i32"), b.local("i32")
        b.call(self.fn("x.alloc")).set(rec)
        ids = self.rt.ids
        # `new_transmit`: the state, the write handle, the read handle
        ids.force(b)
        for off in (_SID_STATE, _SID_WRITE, _SID_READ):
            b.get(rec)
            ids.alloc(b)
            b.store("i32.store", x, off)
        b.get(rec).i32(self.tag(t)).store("i32.store", x, _TAG)
        b.get(rec).i32(FUT if isinstance(t, at.Future) else 0).store("i32.store", x, _FLAGS)
        size = 0 if t.elem is None else elem_size(t.elem)
        align = 1 if t.elem is None else alignment(t.elem)
        b.get(rec).i32(size).store("i32.store", x, _SIZE)
        b.get(rec).i32(align).store("i32.store", x, _ALIGN)
        for k, side, h in ((rk, READER, rh), (wk, WRITER, wh)):
            b.i32(k).get(rec).i32(0).call(self.fn("t.add", inst)).set(h)
            b.get(h).i32(4).op("i32.shl").i32(IDLE).store("i32.store", tbl, 12)
            b.get(rec).i32(inst).store("i32.store", x, side + _INST)
            b.get(rec).get(h).store("i32.store", x, side + _H)
        b.get(rh).op("i64.extend_i32_u")
        b.get(wh).op("i64.extend_i32_u").i64(32).op("i64.shl").op("i64.or").end()

    def _rw(self, b: Body, bi: int, t: at.Stream | at.Future, write: bool) -> None:
        """stream/future read or write: wasmtime's `guest_read`/`guest_write`. A blocking one
        waits for the end's event: the host-called stack as a marker, a task's core stack by
        unwinding (`TaskRuntime.block_or_unwind`; called again as it is rewound, it takes the
        event)."""
        bt = self.g.builtins[bi]
        x, tbl = self._xfer(), self._tbl(bt.owner)
        future = isinstance(t, at.Future)
        rk, wk = _kinds(t)
        me, other = (WRITER, READER) if write else (READER, WRITER)
        size = 0 if t.elem is None else elem_size(t.elem)
        align = 1 if t.elem is None else alignment(t.elem)
        mem = self.memory(bt) if size else None
        flat = flat_payload(t)
        slot = (self.slot(bt) if flat else self.payload.slot(bt)) if size else 0
        sync = not (bt.opts is not None and bt.opts.is_async)
        result = b.local("i32")
        b.block()  # left with `result` set (the end's local state is updated after)
        if bi in self.tp.blocking:
            b.block()
            self.rt.rewound(b)
            b.get(0).call(self.fn("x.take", bt.owner)).op("drop")
            b.global_get(self.glob("x.pay")).set(result)
            b.br(1)
            b.end()
        if sync:  # `check_blocking`: only a task that may block may call the blocking form
            b.global_get(self.glob("may_block")).op("i32.eqz").trap_if()
        count = b.local("i32")
        if future:
            b.i32(1).set(count)
        else:
            b.get(2).set(count)
            b.get(count).i32(_MAX_COUNT).op("i32.gt_u").trap_if()  # StreamOpTooBig
        if mem is not None:
            # check_bounds: the buffer lies inside the memory
            b.get(count).if_()
            b.get(1).op("i64.extend_i32_u").get(count).op("i64.extend_i32_u").i64(size)
            b.op("i64.mul").op("i64.add")
            b.memory_size(mem).op("i64.extend_i32_u").i64(16).op("i64.shl").op("i64.gt_u")
            b.trap_if()
            b.end()
        addr, rec = self._end(b, bt, t, wk if write else rk)
        if self.tag(t) in self.hosted:
            self._proxied_copy(b, bi, addr, rec, sync, write, count)
        b.get(addr).load("i32.load", tbl, 12).trap_if()  # busy, or done (notified of a drop)
        b.get(addr).i32(BUSY).store("i32.store", tbl, 12)
        if future:  # "cannot write/read future after previous write/read succeeded"
            b.get(rec).load("i32.load", x, _FLAGS).i32(XDONE).op("i32.and").trap_if()
        ost, n, ocount = b.local("i32"), b.local("i32"), b.local("i32")
        b.get(rec).load("i32.load", x, other + _ST).set(ost)
        b.get(rec).i32(GONE).i32(OPEN).get(ost).i32(GONE).op("i32.eq").op("select")
        b.store("i32.store", x, other + _ST)

        def set_done() -> None:
            if future:
                b.get(rec).get(rec).load("i32.load", x, _FLAGS).i32(XDONE).op("i32.or")
                b.store("i32.store", x, _FLAGS)

        def completed(local: int) -> None:
            if future:
                b.i32(COMPLETED)
            else:
                b.get(local).i32(4).op("i32.shl")

        def guest_ready() -> None:
            b.get(rec).i32(READY).store("i32.store", x, me + _ST)
            b.get(rec).i32(slot).store("i32.store", x, me + _SLOT)
            b.get(rec).get(1).store("i32.store", x, me + _ADDR)
            b.get(rec).get(count).store("i32.store", x, me + _COUNT)
            if not write and needs_thread(t):
                note_reader(self, b, rec, bt.owner)

        b.get(ost).i32(READY).op("i32.eq").if_()
        set_done()
        b.get(rec).load("i32.load", x, other + _COUNT).set(ocount)
        b.get(count).get(ocount).get(count).get(ocount).op("i32.lt_u").op("select").set(n)
        # the copy: writer's buffer → reader's buffer
        if write and needs_thread(t):
            check_reader(self, b, rec, bt.owner, t)
        if write:
            b.i32(slot).get(1)
            b.get(rec).load("i32.load", x, other + _SLOT).get(rec).load(
                "i32.load", x, other + _ADDR
            )
        else:
            b.get(rec).load("i32.load", x, other + _SLOT).get(rec).load(
                "i32.load", x, other + _ADDR
            )
            b.i32(slot).get(1)
        if flat:
            b.get(n).i32(size).op("i32.mul").i32(align).call(self.fn("x.copy"))
        else:
            b.get(n)
            self.payload.call(b, t)
        # the other side's event: a write completes a read that wanted items; a read completes
        # a write when it had room or the write was zero-length
        other_done = b.local("i32")
        if write:
            b.get(count).i32(0).op("i32.ne").set(other_done)
        else:
            b.get(ocount).op("i32.eqz").get(count).i32(0).op("i32.ne").op("i32.or").set(other_done)
        ocode = (
            (FUTURE_READ if write else FUTURE_WRITE)
            if future
            else (STREAM_READ if write else STREAM_WRITE)
        )
        b.get(other_done).if_()
        total, old = b.local("i32"), b.local("i32")
        b.get(n).set(total)
        if not future:  # an undelivered "completed k" of the other end adds up
            b.get(rec).load("i32.load", x, other + _EV).tee(old).i32(0xFF).op("i32.and")
            b.i32(ocode).op("i32.eq")
            b.get(rec).load("i32.load", x, other + _PAY).i32(0xF).op("i32.and").op("i32.eqz")
            b.op("i32.and").if_()
            b.get(rec).load("i32.load", x, other + _PAY).i32(4).op("i32.shr_u")
            b.get(total).op("i32.add").set(total)
            b.end()
        b.get(rec).i32(other).i32(ocode | PENDING)
        completed(total)
        b.call(self.fn("x.set_ev"))
        b.end()
        # the rest of the other side's buffer stays ready
        if write:  # read_buffer_remaining || zero-length rendezvous
            b.get(count).get(ocount).op("i32.lt_u")
            b.get(n).op("i32.eqz").get(ocount).op("i32.eqz").op("i32.and").op("i32.or")
        else:
            b.get(count).get(ocount).op("i32.lt_u")
        b.if_()
        b.get(rec).i32(READY).store("i32.store", x, other + _ST)
        b.get(rec).get(rec).load("i32.load", x, other + _ADDR).get(n).i32(size).op("i32.mul")
        b.op("i32.add").store("i32.store", x, other + _ADDR)
        b.get(rec).get(ocount).get(n).op("i32.sub").store("i32.store", x, other + _COUNT)
        b.end()
        # this side: complete, or wait with its buffer ready
        if write:
            b.get(count).op("i32.eqz").get(ocount).i32(0).op("i32.ne").op("i32.or")
        else:
            b.get(ocount).i32(0).op("i32.ne")
        b.if_()
        completed(n)
        b.set(result)
        b.op("else")
        guest_ready()
        b.i32(BLOCKED).set(result)
        b.end()
        b.op("else")
        b.get(ost).i32(OPEN).op("i32.eq").if_()
        guest_ready()
        b.i32(BLOCKED).set(result)
        b.op("else")
        set_done()
        b.i32(DROPPED).set(result)
        b.end()
        b.end()
        if sync:  # the stack waits for this end's event (`wait_for_event`)
            b.get(result).i32(BLOCKED).op("i32.eq").if_()
            b.get(addr).load("i32.load", tbl, 8).trap_if()  # in a set: "sync and async"

            def arm(w: int) -> None:
                if bi in self.tp.blocking:
                    b.global_get(self.glob(("blk_end", bt.owner))).trap_if()  # one at a time
                    b.get(addr).global_set(self.glob(("blk_end", bt.owner)))
                    b.get(w).global_set(self.glob(("blk_task", bt.owner)))
                else:
                    b.get(addr).global_set(self.glob("root_end"))
                    b.get(w).global_set(self.glob("root_mk"))

            self.rt.block_or_unwind(b, bi, arm)
            b.get(0).call(self.fn("x.take", bt.owner)).op("drop")
            b.global_get(self.glob("x.pay")).set(result)
            b.end()
        b.end()
        b.get(result).i32(BLOCKED).op("i32.ne").if_()
        b.get(0).i32(4).op("i32.shl")  # the end's entry address
        if write or not future:
            b.i32(DONE).i32(IDLE).get(result).i32(0xF).op("i32.and").i32(DROPPED).op("i32.eq")
            b.op("select")
        else:
            b.i32(IDLE)
        b.store("i32.store", tbl, 12)
        b.end()
        b.get(result).end()

    def _proxied_copy(
        self, b: Body, bi: int, addr: int, rec: int, sync: bool, write: bool, count: int
    ) -> None:
        """Emit: a write to an end whose reader is the host's (`_host_lift`), or a read of one
        whose writer is (`_host_lower`), is the runtime's (its own built-in, with its options,
        on the runtime's handle of the other side), returned as is; the local state follows
        as wasmtime keeps it (done once a drop was seen, a future once read: the lift checks
        read them). Refused at run time (trap): a blocking copy, and one left in flight
        (BLOCKED: its event would be the runtime's, which in-module waits do not take)."""
        x, tbl = self._xfer(), self._tbl(self.g.builtins[bi].owner)
        bt = self.g.builtins[bi]
        b.get(rec).load("i32.load", x, _FLAGS).i32(HOST if write else HOSTR).op("i32.and").if_()
        assert self.rt.host_builtin is not None
        if sync:
            b.unreachable()
        else:
            from pymeld.merge.asyncnested import after_copy, before_copy

            assert isinstance(bt.type, at.Stream | at.Future)
            code = b.local("i32")
            start = before_copy(self, b, bi, count, write) if bt.type.elem is not None else None
            b.get(rec).load("i32.load", x, (READER if write else WRITER) + _H).get(1)
            if isinstance(bt.type, at.Stream):
                b.get(2)
            b.call(self.rt.host_builtin(bi)).tee(code).i32(BLOCKED).op("i32.eq").trap_if()
            if bt.type.elem is not None:  # the ends copied (`merge.asyncnested`)
                after_copy(self, b, bi, code, count, start)
            b.get(addr).i32(DONE).i32(IDLE)
            b.get(code).i32(0xF).op("i32.and").i32(DROPPED).op("i32.eq").op("select")
            b.store("i32.store", tbl, 12)
            if isinstance(bt.type, at.Future) and not write:  # a value read: done
                b.get(code).op("i32.eqz").if_()
                b.get(rec).get(rec).load("i32.load", x, _FLAGS).i32(XDONE).op("i32.or")
                b.store("i32.store", x, _FLAGS)
                b.end()
            b.get(code).op("return")
        b.end()

    def _cancel(self, b: Body, bt: Builtin, t: at.Stream | at.Future, write: bool) -> None:
        """stream/future cancel-read or cancel-write: wasmtime's `guest_cancel_*` between
        guests, which never blocks: the pending event if there is one (a stream's
        "completed n" reported as "cancelled n"), else "cancelled 0"; the copy ends."""
        x, tbl = self._xfer(), self._tbl(bt.owner)
        rk, wk = _kinds(t)
        me = WRITER if write else READER
        sync = not bt.flag
        if sync:  # a blocking form: the task must be allowed to block
            b.global_get(self.glob("may_block")).op("i32.eqz").trap_if()
        addr, rec = self._end(b, bt, t, wk if write else rk)
        b.get(addr).load("i32.load", tbl, 12).i32(BUSY).op("i32.ne").trap_if()  # none pending
        if sync:  # "waitable sync and async": in a set
            b.get(addr).load("i32.load", tbl, 8).trap_if()
        code, ev, a = b.local("i32"), b.local("i32"), b.local("i32")
        b.get(rec).i32(me).op("i32.add").set(a)
        b.get(a).load("i32.load", x, _EV).tee(ev).if_()
        b.get(a).i32(0).store("i32.store", x, _EV)
        b.get(a).load("i32.load", x, _PAY).set(code)
        b.get(ev).i32(PENDING).op("i32.and").if_()  # on_delivery
        b.get(addr).i32(DONE).i32(IDLE)
        b.get(code).i32(0xF).op("i32.and").i32(DROPPED).op("i32.eq").op("select")
        b.store("i32.store", tbl, 12)
        if not isinstance(t, at.Future):
            b.get(a).i32(OPEN).store("i32.store", x, _ST)
        b.end()
        if not isinstance(t, at.Future):
            b.get(code).i32(0xF).op("i32.and").op("i32.eqz").if_()
            b.get(code).i32(2).op("i32.or").set(code)  # CANCELLED with the count
            b.end()
        b.op("else")
        b.i32(2).set(code)  # CANCELLED, nothing copied
        b.end()
        b.get(a).load("i32.load", x, _ST).i32(READY).op("i32.eq").if_()
        b.get(a).i32(OPEN).store("i32.store", x, _ST)
        b.end()
        b.get(addr).load("i32.load", tbl, 12).i32(BUSY).op("i32.eq").if_()
        b.get(addr).i32(IDLE).store("i32.store", tbl, 12)
        b.end()
        b.get(code).end()

    def end_id(self, b: Body, inst: int, h: int) -> None:
        """Emit: push the store-wide id of end ``h`` of ``inst``'s table (its handle's: the
        read handle's for a readable end, kinds 3 and 5, else the write handle's)."""
        tbl = self._tbl(inst)
        b.get(h).i32(4).op("i32.shl").load("i32.load", tbl, 4)
        b.get(h).i32(4).op("i32.shl").load("i32.load", tbl, 0).i32(1).op("i32.and")
        b.i32(2).op("i32.shl").op("i32.add")
        b.load("i32.load", self._xfer(), _SID_WRITE)

    def _drop_common(
        self, b: Body, bt: Builtin, t: at.Stream | at.Future, kind: int
    ) -> tuple[int, int, int]:
        inst, tbl, x = bt.owner, self._tbl(bt.owner), self._xfer()
        side = READER if kind in (RS, RF) else WRITER
        # the built-in needs the current thread
        self.rt.ids.force(b)
        addr, rec = self._end(b, bt, t, kind)
        ls = b.local("i32")
        b.get(addr).load("i32.load", tbl, 12).tee(ls).i32(BUSY).op("i32.eq").trap_if()
        self.rt._leave_set(b, inst, addr)
        b.get(addr).call(self.fn("t.remove", inst))
        b.get(rec).i32(0).store("i32.store", x, side + _H)
        return addr, rec, ls

    def _gone(self, b: Body, rec: int, side: int, other: int) -> int:
        """Mark ``side`` of shared record ``rec`` gone and return a local with the ``other``
        side's previous state; the other side becomes GONE if it was, else OPEN. Opens an
        if/else: the record is freed when both are gone, the caller's `else` part tells the
        other side (it closes both with `end().end()`)."""
        x, st = self._xfer(), b.local("i32")
        b.get(rec).i32(GONE).store("i32.store", x, side + _ST)
        b.get(rec).load("i32.load", x, other + _ST).set(st)
        b.get(rec).i32(GONE).i32(OPEN).get(st).i32(GONE).op("i32.eq").op("select")
        b.store("i32.store", x, other + _ST)
        b.get(st).i32(GONE).op("i32.eq").if_()
        ids = self.rt.ids
        # `delete_transmit`: the state, the write handle, the read handle
        for off in (_SID_STATE, _SID_WRITE, _SID_READ):
            b.get(rec).load("i32.load", x, off)
            ids.release(b)
        b.get(rec).call(self.fn("x.free"))
        b.op("else")
        return st

    def _drop_readable(self, b: Body, bi: int, t: at.Stream | at.Future) -> None:
        """wasmtime's `host_drop_reader`: the writer learns of it (an event). An end whose
        writer is the host's drops the runtime's readable end (`_host_lower`)."""
        bt = self.g.builtins[bi]
        rk, _ = _kinds(t)
        if self.tag(t) in self.hosted:
            self._drop_proxied(b, bi, t, writer=False)
        _, rec, _ = self._drop_common(b, bt, t, rk)
        code = FUTURE_WRITE if isinstance(t, at.Future) else STREAM_WRITE
        wst = self._gone(b, rec, READER, WRITER)
        b.get(rec).i32(WRITER).i32(code).i32(PENDING).i32(0).get(wst).i32(READY).op("i32.eq")
        b.op("select").op("i32.or").call(self.fn("x.update"))
        b.end().end()

    def _drop_writable(self, b: Body, bi: int, t: at.Stream | at.Future) -> None:
        """wasmtime's `host_drop_writer` (a future must have been written or its reader seen
        dropped); the reader learns of it (an event). An end whose reader is the host's drops
        the runtime's writable end (`_host_lift`: the runtime checks it)."""
        bt = self.g.builtins[bi]
        x = self._xfer()
        _, wk = _kinds(t)
        future = isinstance(t, at.Future)
        if self.tag(t) in self.hosted:
            self._drop_proxied(b, bi, t, writer=True)
        _, rec, ls = self._drop_common(b, bt, t, wk)
        if future:  # "cannot drop future write end without first writing a value"
            b.get(ls).i32(DONE).op("i32.ne")
            b.get(rec).load("i32.load", x, _FLAGS).i32(XDONE).op("i32.and").op("i32.eqz")
            b.op("i32.and").trap_if()
        rst = self._gone(b, rec, WRITER, READER)
        # a pending read: its own kind; an open reader: FUTURE_READ only for a future whose
        # writer was not done (wasmtime's `on_drop_open`), else STREAM_READ
        b.get(rst).i32(READY).op("i32.eq").if_()
        b.get(rec).i32(READER).i32((FUTURE_READ if future else STREAM_READ) | PENDING)
        b.call(self.fn("x.update"))
        b.op("else")
        b.get(rec).i32(READER)
        if future:
            b.i32(FUTURE_READ).i32(STREAM_READ).get(ls).i32(DONE).op("i32.ne").op("select")
        else:
            b.i32(STREAM_READ)
        b.call(self.fn("x.update"))
        b.end().end().end()

    def _lift_checks(self, b: Body, t: at.Stream | at.Future, src: int) -> tuple[int, int]:
        """Emit wasmtime's `lift_index_to_transmit` checks of readable end param 0 of
        ``src``'s table (trap: not a readable end of type ``t``, busy, notified that the
        writer dropped, in a waitable set, a future read); locals (entry address, record)."""
        x, ts = self._xfer(), self._tbl(src)
        rk, _ = _kinds(t)
        addr, rec = b.local("i32"), b.local("i32")
        b.get(0).i32(rk).call(self.fn("t.get", src)).set(addr)
        b.get(addr).load("i32.load", ts, 4).tee(rec)
        b.load("i32.load", x, _TAG).i32(self.tag(t)).op("i32.ne").trap_if()
        b.get(addr).load("i32.load", ts, 12).trap_if()  # busy, or done
        b.get(addr).load("i32.load", ts, 8).trap_if()  # in a waitable set
        if isinstance(t, at.Future):  # "cannot lift future after previous read succeeded"
            b.get(rec).load("i32.load", x, _FLAGS).i32(XDONE).op("i32.and").trap_if()
        return addr, rec

    def host_lift(self, t: at.Stream | at.Future, src: int) -> FuncItem:
        """The lift of readable end ``t`` that ``src`` hands the host (a root export's result,
        a host import's parameter: `merge.asynctask.boundary_ends`); planned before emission
        (`hosted`)."""
        return self._hosted("x.host_lift", t, src, self._host_lift)

    def host_lower(self, t: at.Stream | at.Future, dst: int) -> FuncItem:
        """The lowering of readable end ``t`` the host hands ``dst`` (a root export's
        parameter, a host import's result: `merge.asynctask.boundary_ends`)."""
        return self._hosted("x.host_lower", t, dst, self._host_lower)

    def _hosted(
        self,
        op: str,
        t: at.Stream | at.Future,
        inst: int,
        build: Callable[[at.Stream | at.Future, int], FuncCode],
    ) -> FuncItem:
        """The function ``op`` of end type ``t`` for instance ``inst`` (one per pair), made by
        ``build``; ``t`` is noted as a type whose ends the host shares (`hosted`)."""
        assert _proxiable(t)  # else refused (`plan_tasks`)
        self.hosted.add(self.tag(t))
        key = (op, self.tag(t), inst)
        item = self.rt.p.find(Space.FUNC, GROUP, key)
        if isinstance(item, FuncItem):
            return item
        return self.rt.p.add_func(GROUP, key, partial(build, t, inst))

    def _host_lower(self, t: at.Stream | at.Future, dst: int) -> FuncCode:
        """(the runtime's readable handle) → a handle in ``dst``'s table, as wasmtime's
        `lower_transmit_to_index` numbers it: an in-module reader's end of a record marked
        `HOSTR`, the runtime's handle kept as its writer's, through which its reads and
        drop go (`_proxied_copy`, `_drop_proxied`); it moves between instances and back to
        the host (`_host_lift`) as any readable end. The mirrored store ids stop
        (`StoreIds.lose`): the host's stream took ids this module does not see."""
        b = Body(["i32"])
        x, tbl = self._xfer(), self._tbl(dst)
        rk, _ = _kinds(t)
        rec, h = b.local("i32"), b.local("i32")
        self.rt.ids.lose(b)
        b.call(self.fn("x.alloc")).set(rec)
        b.get(rec).i32(self.tag(t)).store("i32.store", x, _TAG)
        b.get(rec).i32((FUT if isinstance(t, at.Future) else 0) | HOSTR)
        b.store("i32.store", x, _FLAGS)
        b.i32(rk).get(rec).i32(0).call(self.fn("t.add", dst)).set(h)
        b.get(h).i32(4).op("i32.shl").i32(IDLE).store("i32.store", tbl, 12)
        b.get(rec).i32(dst).store("i32.store", x, READER + _INST)
        b.get(rec).get(h).store("i32.store", x, READER + _H)
        b.get(rec).get(0).store("i32.store", x, WRITER + _H)
        b.get(h).end()
        return _gen(b, ("i32",), ("i32",))

    def _runtime(self, op: str, t: at.Stream | at.Future) -> int | None:
        """The runtime's import of a ``op`` built-in of ``t``'s type (the composition's first
        one: the wrapper re-creates each with its options), if there is one."""
        if self.rt.host_builtin is None:
            return None
        for bi in self.tp.ends:
            bt = self.g.builtins[bi]
            same = bt.op.split(".", 1)[1] == op and self.tags.get(bt.type) == self.tag(t)
            if same and not at.handles(bt.type):  # else never imported (asyncfuse)
                return self.rt.host_builtin(bi)
        return None

    def _host_lift(self, t: at.Stream | at.Future, src: int) -> FuncCode:
        """(handle in src) → the runtime's handle for the host. wasmtime hands the host the
        one shared state (`lift_index_to_transmit`; the spec's `lift_async_value` returns
        `e.shared`): the writer's copies must rendezvous with the host's reads. So the end
        becomes the runtime's: after wasmtime's checks (which trap as its lift does), the
        runtime's `stream.new`/`future.new` makes a pair, its readable end goes to the host and
        the in-module writer's end becomes a proxy of its writable one (`HOST`; its writes and
        drop call the runtime's, `_proxied_write`, `_drop_writable`); a writer already gone
        drops it at once. A write in flight, or a waiter on the writer's set (the runtime's
        events would have to reach them), traps: refused at run time. The mirrored store ids
        stop (`StoreIds.lose`): the host's drop is not seen."""
        b = Body(["i32"])
        x = self._xfer()
        addr, rec = self._lift_checks(b, t, src)
        if self.tag(t) in self.hosted:  # the host's own end going back: its runtime handle
            b.get(rec).load("i32.load", x, _FLAGS).i32(HOSTR).op("i32.and").if_()
            b.get(addr).call(self.fn("t.remove", src))
            b.get(rec).load("i32.load", x, WRITER + _H)
            b.get(rec).call(self.fn("x.free")).op("return")
            b.end()
        new, drop = self._runtime("new", t), self._runtime("drop-writable", t)
        if new is None:  # no in-module end of this type is ever made: none to hand over
            b.unreachable().end()
            return _gen(b, ("i32",), ("i32",))
        wst, pair, rw = b.local("i32"), b.local("i64"), b.local("i32")
        b.get(rec).load("i32.load", x, WRITER + _ST).tee(wst).i32(READY).op("i32.eq").trap_if()
        self._no_waiter(b, rec, wst)
        b.call(new).tee(pair).i64(32).op("i64.shr_u").op("i32.wrap_i64").set(rw)
        b.get(addr).call(self.fn("t.remove", src))
        self.rt.ids.lose(b)
        b.get(wst).i32(GONE).op("i32.eq").if_()
        if drop is None:
            b.unreachable()
        else:
            b.get(rw).call(drop)
        b.get(rec).call(self.fn("x.free"))
        b.op("else")
        b.get(rec).get(rec).load("i32.load", x, _FLAGS).i32(HOST).op("i32.or")
        b.store("i32.store", x, _FLAGS)
        b.get(rec).get(rw).store("i32.store", x, READER + _H)
        b.end()
        b.get(pair).op("i32.wrap_i64").end()
        return _gen(b, ("i32",), ("i32",))

    def _drop_proxied(self, b: Body, bi: int, t: at.Stream | at.Future, writer: bool) -> None:
        """Emit: dropping the in-module end of a record shared with the host (`HOST` for the
        writer's, `HOSTR` for the reader's) drops the runtime's handle of it (the runtime's
        checks apply) and frees the record."""
        bt = self.g.builtins[bi]
        inst, tbl, x = bt.owner, self._tbl(bt.owner), self._xfer()
        rk, wk = _kinds(t)
        addr, rec = self._end(b, bt, t, wk if writer else rk)
        b.get(rec).load("i32.load", x, _FLAGS).i32(HOST if writer else HOSTR).op("i32.and")
        b.if_()
        assert self.rt.host_builtin is not None
        # the built-in needs the current thread
        self.rt.ids.force(b)
        b.get(addr).load("i32.load", tbl, 12).i32(BUSY).op("i32.eq").trap_if()
        b.get(rec).load("i32.load", x, (READER if writer else WRITER) + _H)
        b.call(self.rt.host_builtin(bi))
        self.rt._leave_set(b, inst, addr)
        b.get(addr).call(self.fn("t.remove", inst))
        b.get(rec).call(self.fn("x.free"))
        b.op("return")
        b.end()

    def _no_waiter(self, b: Body, rec: int, wst: int) -> None:
        """Emit: trap when the writer's end (of record ``rec``, its side's state ``wst``) is in
        a set something waits on: the runtime's events for it would have to wake that waiter
        (refused at run time; a wait armed later scans the set, `_has`)."""
        x, s, h = self._xfer(), b.local("i32"), b.local("i32")
        b.get(wst).i32(GONE).op("i32.ne").if_()
        b.get(rec).load("i32.load", x, WRITER + _H).set(h)
        for inst in self.tp.tables:
            tbl = self._tbl(inst)
            b.get(rec).load("i32.load", x, WRITER + _INST).i32(inst).op("i32.eq").if_()
            b.get(h).i32(4).op("i32.shl").load("i32.load", tbl, 8).tee(s).if_()
            b.get(s).i32(4).op("i32.shl").load("i32.load", tbl, 8).trap_if()  # its waiter
            b.end().end()
        b.end()

    def _transfer(self, t: at.Stream | at.Future, src: int, dst: int) -> FuncCode:
        """(handle in src) → handle in dst: wasmtime's `lift_index_to_transmit` then
        `lower_transmit_to_index` (only readable ends; not busy, done, in a set or read)."""
        b = Body(["i32"])
        x, td = self._xfer(), self._tbl(dst)
        rk, _ = _kinds(t)
        addr, rec = self._lift_checks(b, t, src)
        h = b.local("i32")
        b.get(addr).call(self.fn("t.remove", src))
        b.i32(rk).get(rec).i32(0).call(self.fn("t.add", dst)).set(h)
        b.get(h).i32(4).op("i32.shl").i32(IDLE).store("i32.store", td, 12)
        b.get(rec).i32(dst).store("i32.store", x, READER + _INST)
        b.get(rec).get(h).store("i32.store", x, READER + _H)
        b.get(h).end()
        return _gen(b, ("i32",), ("i32",))


class _ReturnEnds:
    """`abi.adapter.ResourceOps` of a `task.return`: ends move from callee to caller."""

    def __init__(self, sr: StreamRuntime, callee: int, caller: int) -> None:
        self.sr, self.callee, self.caller = sr, callee, caller

    def transfer(
        self, t: at.Own | at.Borrow | at.Stream | at.Future, to_callee: bool
    ) -> int | None:
        assert isinstance(t, at.Stream | at.Future) and not to_callee
        return self.sr.transfer(t, self.callee, self.caller).index


def _gen(b: Body, params: tuple[str, ...], results: tuple[str, ...]) -> FuncCode:
    return FuncCode(params, results, tuple(b.locals), bytes(b.code))  # type: ignore[arg-type]
