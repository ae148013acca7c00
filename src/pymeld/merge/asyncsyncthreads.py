"""The threads of synchronous calls into instances whose copying reads another instance may
write into (`asyncpayload.check_sync_readers` finds them).

wasmtime copies a non-flat stream payload or a future value into a read left pending on the
*reading thread* (`set_thread(read_caller_thread)`), and a synchronously lifted call's thread
is gone once that call returned: a copy into a read it left pending traps then ("resource not
present"); while the call is still on the stack (below a call out of its instance) the copy is
made. A read by an in-module task points at the task's record (`asyncpayload.note_reader`,
checked by `check_reader`); a synchronous call through an adapter has no record, so it gets
a thread here: a fresh id from a counter, the instance's current one while the call runs. A
read it leaves pending records that id; the copy checks that it is still the instance's.

Calls through adapters follow the instantiation order, so two of them into one instance never
nest (a third one's code below would have to import both ways); the id of the call below is
still restored on return (a nested call would hide the outer one's thread while it runs).
Interpreted guests (componentize-py's CPython) reach every built-in from every export through
indirect calls, so every synchronous call into them pays this: a counter and two globals.

Not mirrored (a run-time refusal, `tests/fusion/wast_async_sync_readers/pinned/`): wasmtime 50
looks the thread up by its table slot, so when a later call took the freed slots again (a third
instance's synchronous write, the common case) it copies where the fused module traps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymeld.codec.core.emitter import Body

if TYPE_CHECKING:
    from pymeld.merge.asynctask import TaskRuntime

GROUP = "async"

#: READ_TASK of a read made by such a call (task records are below it); its id is beside it
SYNC_READ = 0x80000000


def plan(rt: TaskRuntime, instances: list[int]) -> None:
    """The id counter and each instance's current call: its id and the task whose code made
    it (reads with another task current are that task's)."""
    p = rt.p
    if instances:
        p.add_global(GROUP, "sthr_ctr")
    for inst in instances:
        p.add_global(GROUP, ("sthr_id", inst))
        p.add_global(GROUP, ("sthr_task", inst))


def enter(rt: TaskRuntime, b: Body, inst: int) -> tuple[int, int]:
    """Emit, as a synchronous call into ``inst`` starts: its thread. Returns the locals keeping
    the id and task of the call below (restored by `leave`)."""
    saved = (b.local("i32"), b.local("i32"))
    ident, task, ctr = rt.glob(("sthr_id", inst)), rt.glob(("sthr_task", inst)), rt.glob("sthr_ctr")
    b.global_get(ident).set(saved[0])
    b.global_get(task).set(saved[1])
    b.global_get(ctr).i32(1).op("i32.add").global_set(ctr)
    b.global_get(ctr).global_set(ident)
    b.global_get(rt.glob("cur_task")).global_set(task)
    return saved


def leave(rt: TaskRuntime, b: Body, inst: int, saved: tuple[int, int]) -> None:
    """Emit, as the call returns: its thread is gone."""
    b.get(saved[0]).global_set(rt.glob(("sthr_id", inst)))
    b.get(saved[1]).global_set(rt.glob(("sthr_task", inst)))


def note(rt: TaskRuntime, b: Body, inst: int, rec: int, mem: int, at: int) -> None:
    """Emit: the reader of shared record ``rec`` (in memory ``mem``; the task field at ``at``,
    the id after it) is ``inst``'s current synchronous call when that call's code runs (no
    task switched in since it started), else the current task as before."""
    ident, cur = rt.glob(("sthr_id", inst)), rt.glob("cur_task")
    mine = b.local("i32")
    b.global_get(ident).if_("i32")
    b.global_get(cur).global_get(rt.glob(("sthr_task", inst))).op("i32.eq")
    b.op("else").i32(0).end().set(mine)
    b.get(mine).if_()
    b.get(rec).i32(SYNC_READ).store("i32.store", mem, at)
    b.get(rec).global_get(ident).store("i32.store", mem, at + 4)
    b.op("else")
    b.get(rec).global_get(cur).store("i32.store", mem, at)
    b.end()


def check(
    rt: TaskRuntime, b: Body, rec: int, mem: int, at: int, reader: int, insts: list[int]
) -> None:
    """Emit, for a read whose task field is `SYNC_READ`: trap unless the synchronous call that
    made it is still its instance's current one (``reader``: the local holding the reading
    instance, one of ``insts``)."""
    ok = b.local("i32")
    b.i32(0).set(ok)
    for inst in insts:
        b.get(reader).i32(inst).op("i32.eq").if_()
        b.global_get(rt.glob(("sthr_id", inst))).get(rec).load("i32.load", mem, at + 4)
        b.op("i32.eq").set(ok)
        b.end()
    b.get(ok).op("i32.eqz").trap_if()
