"""Root exports beside in-module tasks (issue 11 stage 2): async lifts and several root instances.

The host enters the fused instance only through root exports, one call at a time, and every
async call between former instances runs in-module (`merge.asynctask`). What the runtime keeps
per instance, and the fused module must keep per former instance:

* **Async-lifted root exports (the driver).** A root export lifted `async` with a callback stays
  an async callback lift; its core function is a generated driver that calls the original entry
  and interprets each callback code in-module, as wasmtime's event loop would while the host
  call waits for its result (everything that can make progress then is in-module), through
  `asynctask`'s one scheduler: the root task is a stack *marker* there. ``YIELD`` queues it at
  the back of the low-priority FIFO (high-priority work and the low items before it run
  first), then the callback gets ``NONE``. ``WAIT`` on one of the instance's in-module sets
  queues it at high priority when the set has an event, else makes it the set's waiter, as a
  callback's ``WAIT`` does; when nothing can run the original deadlocks and wasmtime fails the
  call ("deadlock detected"), so the driver traps. ``EXIT`` goes to the host (which traps if
  `task.return` was not called) after the rest of the high-priority batch, as a sync root
  export's return does. A stackful root lift needs no driver: its waits are `asynctask`'s
  blocked stacks.
* **After `task.return`** wasmtime lets the host call return (the result is in) and runs the
  task's next callbacks when its event loop gets to them, among every other task's, in later
  calls. The driver makes the task an in-module task of the one scheduler (a record holding its
  context slots; its callback is among the scheduler's), queued as its code says, and tells the
  host EXIT. As wasmtime's `do_not_enter`, a delivery to such a task while a stack of its
  instance's code is below (a root callback or sync export blocked in a sync call) is held and
  queued at high priority when the instance is left (`entered`, `defer`). **Refused at run time
  (trap):** two such deliveries held at once (wasmtime orders them by thread id), and a stack
  blocking after the host-called task returned (wasmtime lets the host call return with that
  stack suspended) or while such a task's callback is below.
* **Per-instance gating of host calls.** The host's calls are sequential, so the one task lock
  of the fused instance is never contended; what stays observable per former instance is the
  handle table (in-module, `asynctask`), context slots (in-module, fresh per root call) and
  backpressure, which gates the start of host calls into the instance that raised it. Several
  root instances with backpressure built-ins are refused (`plan_roots`): the fused instance has
  one gate, and an in-module one would need the host call to wait in-module.

* **Roots also called through adapters** (`check_called_roots`). The host's calls keep the
  runtime's task and the adapters' calls are in-module tasks of the same instance; its
  `task.return` serves both. As wasmtime 50 (checked), a blocked sync-lifted or callback
  stack of its code, the host's or an adapter's (`enter`/`leave`), keeps it entered: a call
  into it then waits there, which the one fused stack cannot do above the stack it waits for
  (**refused at run time**: trap, `_Hooks._enter_called_root`); a deferred sync call of a
  plain func runs inside it, as in wasmtime. Nothing in-module may keep it entered when the
  host calls it: its suspend points and blocking reads/writes are refused by name.

A driven root's waits take whatever event its set has, a subtask's or an in-module
stream/future end's (`merge.asyncstream`'s `x.take`), so it may sit beside in-module streams,
nested subtasks and cancellation (all in the one scheduler; checked against wasmtime by
`test_async_driven*.py`). In-module streams may sit beside root exports of several
instances too: the host's calls come one at a time, so one host-called stack at a time blocks
in a sync read or write of its instance's ends (`merge.asyncstream`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from pymeld.abi.layout import flatten_async_functype
from pymeld.codec.core.emitter import Body
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import Builtin, FlatGraph, Lifted
from pymeld.plan import FuncCode, FuncItem, Space

if TYPE_CHECKING:
    from pymeld.merge.asynctask import TaskPlan, TaskRuntime

GROUP = "async"

EXIT, YIELD, WAIT = 0, 1, 2  # callback codes
EVENT_SUBTASK = 1


def check_root_export(path: str, lf: Lifted, label: Callable[[int], str]) -> None:
    """Refuse root export shapes the driver does not make exact."""
    if lf.opts.is_async and not lf.type.is_async:
        raise UnsupportedFeature(
            f"async lift of root export `{path}`, whose function is not `async` (a task that "
            "may not block) beside in-module tasks"
        )


def plan_roots(
    g: FlatGraph,
    used: list[int],
    tp: TaskPlan,
    exported: list[tuple[str, Lifted]],
    label: Callable[[int], str],
) -> None:
    """Refuse backpressure of a root instance beside other root instances; note the
    `task.return` built-ins of instances with driven exports (the driver must know whether
    its task returned)."""
    driven = {lf.owner for _, lf in exported if lf.opts.callback is not None}
    for bi in used:
        b = g.builtins[bi]
        if b.op.startswith("backpressure.") and b.owner in tp.roots and len(tp.roots) > 1:
            raise UnsupportedFeature(
                f"`{b.op}` in component instance {label(b.owner)}, whose exports the host "
                "calls, beside root exports of other instances (its gate would close the "
                "other instances' exports too: needs per-instance gating of host calls)"
            )
        if b.op == "task.return" and b.owner in driven:
            tp.root_returns.append(bi)
    for _, lf in exported:  # a task going on after `task.return` runs from the scheduler
        if lf.opts.callback is not None and lf not in tp.callbacks:
            tp.callbacks.append(lf)


def check_called_roots(
    g: FlatGraph,
    used: list[int],
    tp: TaskPlan,
    exported: list[tuple[str, Lifted]],
    label: Callable[[int], str],
) -> None:
    """Refuse what a root instance also called through adapters (`TaskPlan.called_roots`)
    cannot have: the host's calls into it start at once in the fused module, so nothing of
    its in-module tasks may keep it entered (a suspended stack; its backpressure is refused
    by `plan_roots`: its caller is a root too), and one host-called stack at a time may block
    on its ends. Its `task.return` serves both: the runtime's for a host-called stackful task
    (`TaskPlan.host_returns`) or driven one (`_root_return`), else the in-module task's.

    wasmtime 50 (checked): a host-called sync-lifted stack of the instance that blocks keeps
    it entered, an in-module call into it then waits (`_Hooks.enter` traps there instead: the
    waiting caller's stack would be above the one it waits for); a sync call of a function
    that is not `async` is deferred and runs inside it."""
    from pymeld.merge.asyncfuse import blocks

    tp.called_roots.sort()
    called = set(tp.called_roots)
    if not called:
        return
    stackful = {lf.owner for _, lf in exported if lf.opts.is_async and lf.opts.callback is None}
    tp.host_returns = [bi for bi in tp.returns if g.builtins[bi].owner in stackful]
    for bi in used:
        b = g.builtins[bi]
        if b.owner not in called:
            continue
        op = b.op
        why = None
        if bi in tp.suspends:
            why = "a suspended stack would keep it entered when the host calls it"
        elif op.split(".")[-1] in ("read", "write") and blocks(b):
            why = "one host-called stack at a time blocks on its ends"
        if why is not None:
            raise UnsupportedFeature(
                f"`{op}` in component instance {label(b.owner)}, whose exports the host calls "
                f"and which is also called through an adapter beside in-module tasks ({why}: "
                "not fused)"
            )


def plan_driven(rt: TaskRuntime, exported: list[Lifted]) -> dict[int, FuncItem]:
    """The driver functions of each callback-lifted root export (its core function's loop, and
    the lift's callback, which the host never calls: the driver never returns YIELD or WAIT)
    and stand-ins for the driven instances' `task.return` (the runtime's, then a flag)."""
    p = rt.p
    if rt.tp.root_returns:
        p.add_global(GROUP, "root_returned")
        for inst in sorted({lf.owner for lf in exported if lf.opts.callback is not None}):
            p.add_global(GROUP, ("root_in", inst))
            p.add_global(GROUP, ("root_pending", inst))
        # the driven root call's ids, and whether its task was adopted
        for key in ("root_task", "root_set", "root_thread", "adopted"):
            p.add_global(GROUP, ("ids", key))
    for k, lf in enumerate(exported):
        if lf.opts.callback is None:
            continue
        p.add_func(GROUP, ("root-drive", k), partial(_drive, rt, lf))
        rt.callbacks[id(lf)] = p.add_func(GROUP, ("root-cb", k), _never)
        rt.driven[id(lf)] = k
    return {
        bi: p.add_func(GROUP, ("root-return", bi), partial(_root_return, rt, bi))
        for bi in rt.tp.root_returns
    }


def _never() -> FuncCode:
    from pymeld.merge.asynctask import _gen

    b = Body(["i32", "i32", "i32"])
    b.unreachable().end()
    return _gen(b, ("i32", "i32", "i32"), ("i32",))


def _root_return(rt: TaskRuntime, bi: int) -> FuncCode:
    """The runtime's `task.return`, then the flag; a root task going on in-module after its
    return (the current in-module task) has returned already: trap, as wasmtime does."""
    from pymeld.merge.asyncfuse import _sig
    from pymeld.merge.asynctask import _gen

    assert rt.host_builtin is not None
    params, results = _sig(rt.g.builtins[bi])
    b = Body(list(params))
    if bi in rt.tp.returns:  # of an instance also called through adapters: an in-module
        b.global_get(rt.glob("cur_task")).if_()  # task's return (which traps for a root
        b.forward_args().call(rt.fn("builtin", bi)).op("return")  # task that returned)
        b.end()
    else:
        b.global_get(rt.glob("cur_task")).trap_if()
    b.forward_args().call(rt.host_return(bi))
    b.i32(1).global_set(rt.glob("root_returned")).end()
    return _gen(b, params, results)


def entered(rt: TaskRuntime, b: Body, inst: int, call: Callable[[], object]) -> None:
    """Emit ``call()`` with root instance ``inst`` marked entered, when it has tasks going on
    in-module: as wasmtime's `do_not_enter`, a delivery to another of its tasks that comes up
    meanwhile is held (`defer`) and queued at high priority when the instance is left."""
    if rt.p.find(Space.GLOBAL, GROUP, ("root_in", inst)) is None:
        call()
        return
    enter(rt, b, inst)
    call()
    leave(rt, b, inst)


def enter(rt: TaskRuntime, b: Body, inst: int) -> None:
    """Emit: root instance ``inst`` (with in-module tasks) is entered (`entered`)."""
    b.i32(1).global_set(rt.glob(("root_in", inst)))


def leave(rt: TaskRuntime, b: Body, inst: int) -> None:
    """Emit: root instance ``inst`` is left; a delivery held meanwhile is queued (`entered`)."""
    held = rt.glob(("root_pending", inst))
    b.i32(0).global_set(rt.glob(("root_in", inst)))
    b.global_get(held).if_()
    b.global_get(held).call(rt.fn("push_high"))
    b.i32(0).global_set(held)
    b.end()


def defer(rt: TaskRuntime, b: Body, inst: int) -> None:
    """Emit, at the start of running task param 0 of root instance ``inst``: while the
    instance is entered, hold it and return (`entered` queues it on leaving). wasmtime keeps
    held calls by thread id; two held at once would be ordered so: trap (not reproduced)."""
    held = rt.glob(("root_pending", inst))
    b.global_get(rt.glob(("root_in", inst))).if_()
    b.global_get(held).trap_if()
    b.get(0).global_set(held)
    b.op("return")
    b.end()


def export_code(rt: TaskRuntime, lf: Lifted) -> FuncCode:
    """The core function of an async-lifted root export: fresh context slots, the task's
    may-block state, the ends the host passes lowered (`merge.asyncreturned`), and for a
    callback lift the driver loop on its first code."""
    from pymeld.merge.asyncreturned import async_root_ends, emit_flat, emit_stored
    from pymeld.merge.asyncspill import params_spilled
    from pymeld.merge.asynctask import _gen

    callback = lf.opts.callback
    core = flatten_async_functype(lf.type, "lift", callback is not None)
    b = Body(list(core.params))
    sids = rt.root_ids(b)
    if rt.tp.root_returns:  # no driven task of this host call has returned
        b.i32(0).global_set(rt.glob("root_returned"))
    rt.leftover_batch(b)  # wasmtime queues the host's call behind high-priority work left
    for g in rt.context_globals():
        b.i32(0).global_set(g)
    b.i32(1).global_set(rt.glob("may_block"))  # an `async func` (check_root_export)
    adopting = callback is not None and bool(sids) and bool(rt.tp.root_returns)
    if adopting:  # `_adopt` hands them to the task's record
        for s, key in zip(sids, ("root_task", "root_set", "root_thread"), strict=True):
            b.get(s).global_set(rt.glob(("ids", key)))
        b.i32(0).global_set(rt.glob(("ids", "adopted")))
    both = None if rt.streams is None else async_root_ends(lf)
    if both is not None and rt.streams is not None:  # the host's ends: lowered as it starts
        streams = rt.streams
        lower = lambda t: streams.host_lower(t, lf.owner).index  # noqa: E731
        if params_spilled(lf.type):  # in place at the parameters' pointer
            mem = rt.memory(Builtin("lift", lf.owner, memory=lf.opts.memory))  # type: ignore[arg-type]
            emit_stored(b, both[0], lower, 0, mem)
        else:
            emit_flat(b, both[0], lower, list(core.params))
        from pymeld.merge.asynclists import lower_walked

        lower_walked(rt, b, lf, list(core.params))  # those in lists
    if callback is not None:
        entered(rt, b, lf.owner, lambda: b.forward_args().call(rt.root_target(lf)))
        b.call(rt.fn("root-drive", rt.driven[id(lf)]))
    elif rt.p.find(Space.GLOBAL, GROUP, ("root_task", lf.owner)) is not None:
        # stackful, of an instance also called through adapters: its `task.return` (no
        # in-module task current) is the runtime's while this code runs
        b.i32(1).global_set(rt.glob(("root_task", lf.owner)))
        b.forward_args().call(rt.root_target(lf))
        b.i32(0).global_set(rt.glob(("root_task", lf.owner)))
    else:  # stackful: wasmtime does not mark the instance entered
        b.forward_args().call(rt.root_target(lf))
    res = [b.local(vt) for vt in core.results]
    for r in reversed(res):
        b.set(r)
    if adopting:  # its code exited, unless it goes on after its return (`_adopt`)
        b.global_get(rt.glob(("ids", "adopted"))).op("i32.eqz").if_()
        rt.root_exit_ids(b, sids)
        b.end()
    else:
        rt.root_exit_ids(b, sids)  # its code exited
    rt.finish_batch(b)  # wasmtime runs the rest of the batch before the call returns
    for r in res:
        b.get(r)
    b.end()
    return _gen(b, core.params, core.results)


def _drive(rt: TaskRuntime, lf: Lifted) -> FuncCode:
    """(callback code) → EXIT for the host.

    Before `task.return`, YIELD and WAIT run in-module (everything that can make progress is
    in-module). After it, the host call has its result and wasmtime lets it return, running
    the task's next callbacks when its event loop gets to them, in its queues among every
    other task's: the task becomes an in-module task of the scheduler (a record with its
    context slots; its callback is one of the scheduler's), queued as its code says, and the
    host is told EXIT (the task's result is in; what it does next is in-module)."""
    from pymeld.merge.asynctask import SET, _gen

    inst = lf.owner
    assert lf.opts.callback is not None
    cb = rt.func(lf.opts.callback)
    b = Body(["i32"])
    code = 0
    t, h = b.local("i32"), b.local("i32")

    def callback(*args: int) -> None:
        def go() -> None:
            for a in args:
                b.get(a) if a >= 0 else b.i32(0)
            b.call(cb)

        entered(rt, b, inst, go)

    b.loop()
    # EXIT: to the host (which traps if the task did not return)
    b.get(code).i32(0xF).op("i32.and").op("i32.eqz").if_()
    b.i32(EXIT).op("return")
    b.end()
    if rt.tp.root_returns:  # after task.return: an in-module task from now on
        b.global_get(rt.glob("root_returned")).if_()
        _adopt(rt, b, lf, code, t)
        b.i32(EXIT).op("return")
        b.end()
    # YIELD: the root task's next turn at low priority (a marker in the FIFO: high-priority
    # work and the low items queued before it run first), then NONE
    b.get(code).i32(0xF).op("i32.and").i32(YIELD).op("i32.eq").if_()
    rt.block_on(b, lambda mk: b.get(mk).call(rt.fn("enqueue")))
    callback(-1, -1, -1)
    b.set(code)
    b.br(1)  # the `if` is depth 0, the driver loop depth 1
    b.end()
    # anything but WAIT traps (wasmtime: unpack_callback_result)
    b.get(code).i32(0xF).op("i32.and").i32(WAIT).op("i32.ne").trap_if()
    if inst not in rt.tp.tables:  # the instance has no waitable sets: no handle is a set
        b.unreachable().end()
        b.unreachable().end()
        return _gen(b, ("i32",), ("i32",))
    tbl, addr, s = rt.mem(("tbl", inst)), b.local("i32"), b.local("i32")
    b.get(code).i32(4).op("i32.shr_u").tee(s).i32(SET).call(rt.fn("t.get", inst)).set(addr)

    def arm(mk: int) -> None:
        # as `TaskRuntime._handle`: an event already there queues the delivery at high
        # priority, else the driver is the set's waiter (`mark_ready` queues it)
        b.get(s).call(rt.fn("ready", inst)).if_()
        b.get(mk).call(rt.fn("push_high"))
        b.op("else")
        b.get(addr).load("i32.load", tbl, 8).trap_if()  # a second waiter: wasmtime's order
        b.get(addr).get(mk).store("i32.store", tbl, 8)
        b.end()

    rt.block_on(b, arm)
    b.get(s).call(rt.fn("ready", inst)).tee(h).op("i32.eqz").trap_if()
    entered(rt, b, inst, lambda: _deliver(rt, b, inst, h, t, cb))
    b.set(code)
    b.br(0)
    b.end()
    b.unreachable().end()
    return _gen(b, ("i32",), ("i32",))


def _adopt(rt: TaskRuntime, b: Body, lf: Lifted, code: int, t: int) -> None:
    """Make the returned root task an in-module task: a record (RETURNED, its callback, its
    context slots, the root call's store-wide ids: its EXIT frees thread, set and task, as
    `cleanup_thread` does; until then they stay taken) handed to `TaskRuntime._handle` with
    its code (YIELD: low priority; WAIT: queued or the set's waiter; anything else traps)."""
    from pymeld.merge.asynctask import _CB, _OWNER, _SID, _SSET, _STATUS, _STHR, RETURNED

    tasks = rt.mem("tasks")
    b.call(rt.fn("task.new")).set(t)
    for off, key in ((_SID, "root_task"), (_SSET, "root_set"), (_STHR, "root_thread")):
        b.get(t).global_get(rt.glob(("ids", key))).store("i32.store", tasks, off)
    b.i32(1).global_set(rt.glob(("ids", "adopted")))
    b.get(t).i32(RETURNED).store("i32.store", tasks, _STATUS)
    b.get(t).i32(rt.tp.callbacks.index(lf)).store("i32.store", tasks, _CB)
    b.get(t).i32(lf.owner).store("i32.store", tasks, _OWNER)
    rt.save_ctx(b, t)
    b.get(t).get(code).call(rt.fn("handle", lf.owner))


def _deliver(rt: TaskRuntime, b: Body, inst: int, h: int, t: int, cb: int) -> None:
    """Call the callback with waitable ``h``'s event (it has one), leaving the code; ``t`` is
    a scratch local."""
    from pymeld.merge.asynctask import _DELIVERED, _EVENT, _STATUS

    if rt.streams is not None:  # a subtask's or a stream/future end's (merge.asyncstream)
        b.get(h).call(rt.fn("x.take", inst)).set(t)
        b.get(t).get(h).global_get(rt.glob("x.pay")).call(cb)
        return
    tasks, tbl = rt.mem("tasks"), rt.mem(("tbl", inst))
    b.get(h).i32(4).op("i32.shl").load("i32.load", tbl, 4).set(t)
    b.get(t).i32(0).store("i32.store", tasks, _EVENT)
    b.get(t).i32(1).store("i32.store", tasks, _DELIVERED)
    b.i32(EVENT_SUBTASK).get(h).get(t).load("i32.load", tasks, _STATUS).call(cb)
