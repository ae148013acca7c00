"""Synchronous calls of host `async func`s beside in-module tasks (issue 11).

Toolchains with synchronous bindings lower WASI 0.3 `async func` imports without `async`.
wasmtime blocks only the calling thread until the host resolves the call; other tasks run
meanwhile. The fused code makes the call `async` (the wrapper lowers the import `async`) and
keeps the runtime's subtask as a `merge.asynchost` proxy with no in-module handle (its
``_SUB`` is `SYNC_CALLER`: its events wake only the stack waiting for it, ``_WAITER``); then
the calling stack waits for the proxy's terminal event:

* in the core code of an in-module task (an instance whose lifts run as tasks,
  `TaskPlan.host_sync_points`) the stand-in is a suspend point: the task's stack unwinds
  (`merge.unwind`), other tasks run, the host is waited on through the runtime's waitable
  set when nothing in-module can run, and the proxy's event queues the task at high
  priority, as a `waitable-set.wait` of an in-module task; rewound, the stand-in is called
  again and finishes the call (``_WAITS_ON`` of the task record names the proxy meanwhile);
* on any other stack (the host's call of a root export) it blocks in place as a marker
  (`TaskRuntime.block_on`), as wasmtime's fiber does, running queued work meanwhile.

Either way a task that may not block (a function that is not `async`, lifted synchronously)
traps if the host did not return at once, as wasmtime's "cannot block a synchronous task
before returning". The results come through the runtime's async lower: a result passed
through a return pointer goes to the caller's one (the caller's memory and realloc), a flat
result (a scalar, an enum, flags, a handle or end, a record of one of them: `flat_load`) to
the proxy's record (the import is lowered with the task records' memory), read when the call
resolves. More than `MAX_FLAT_PARAMS` flat parameters are in the caller's memory for both
lowers: their pointer is passed on. 5 to 16 plain scalars, passed flat by the synchronous
lower and in memory by the `async` one, are stored in a record of the task records' memory
(`_spills_to_proxy`, beside no result or a flat one), kept until the call resolves.

Resource handles and stream/future ends among the values are handed over as for an `async`
lower of the import (`merge.asynchostvals.HostValues`, the caller's handles and waitables
being in-module): the parameters' when the call is made (borrows lent to the proxy), the
results' when the caller resumes, where its core code sees them (the proxy's loans end
then), rather than when the proxy sees RETURNED.

Refused when fusing: values `HostValues` does not hand over (`host_ends_problem`), 5 to 16
flat parameters that are not all plain scalars or sit beside a result by pointer (they would
have to be stored in the caller's memory, where the fused code has no room of its own), and a
flat result beside parameters in the caller's memory (the `async` lower would need the
caller's memory and the proxy's at once).

Known divergence (`asynchost`'s): the host gets its turn before each low-priority in-module
item, so a call made while a YIELD was queued resolves one in-module turn earlier than in
wasmtime, whose loop queues the host's work behind that YIELD. Queuing one host turn instead
matches these but not two host tasks: the runtime's `thread.yield` advances every host task
at once, where wasmtime interleaves each with the in-module items (tried: the two-task cases
of test_async_host_subtasks.py diverge).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pymeld.abi import types as at
from pymeld.abi.layout import (
    MAX_FLAT_ASYNC_PARAMS,
    MAX_FLAT_PARAMS,
    despecialize,
    discriminant_type,
    elem_size,
    field_offsets,
    flat_count,
    flatten_async_functype,
    flatten_functype,
)
from pymeld.codec.core.emitter import Body
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import HostFunc, Lowered
from pymeld.merge.asynchost import _HNEXT, _HOST
from pymeld.merge.asynctask import (
    _ARGS,
    _EXACT,
    _REC,
    _STASH,
    _STATUS,
    _SUB,
    _WAITER,
    _WAITS_ON,
    RETURNED,
    SYNC_CALLER,
    _gen,
)
from pymeld.plan import FuncCode

if TYPE_CHECKING:
    from pymeld.graph.model import FlatGraph
    from pymeld.merge.asynchost import HostSubtasks
    from pymeld.merge.asynctask import TaskPlan

#: a proxy record's field: the record its parameters are stored in (`_spills_to_proxy`; in the
#: `_ARGS` words after `asynchostvals`' fields)
_HSPILL = _ARGS + 12
assert _HSPILL + 4 <= _EXACT
#: a plain scalar parameter stored for the `async` lower: its store by type (a bool's flat
#: value normalized first: any nonzero i32 is true)
_STORES: dict[type[at.ValType], str] = {
    at.Bool: "i32.store8",
    at.U8: "i32.store8",
    at.S8: "i32.store8",
    at.U16: "i32.store16",
    at.S16: "i32.store16",
    at.U32: "i32.store",
    at.S32: "i32.store",
    at.Char: "i32.store",
    at.U64: "i64.store",
    at.S64: "i64.store",
    at.F32: "f32.store",
    at.F64: "f64.store",
}
#: a flat result the proxy's record holds: its load by type
_LOADS: dict[type[at.ValType], str] = {
    at.Bool: "i32.load8_u",
    at.U8: "i32.load8_u",
    at.S8: "i32.load8_s",
    at.U16: "i32.load16_u",
    at.S16: "i32.load16_s",
    at.U32: "i32.load",
    at.S32: "i32.load",
    at.Char: "i32.load",
    at.U64: "i64.load",
    at.S64: "i64.load",
    at.F32: "f32.load",
    at.F64: "f64.load",
}


def check_host_sync(lw: Lowered, label: Callable[[int], str], host_ends: bool = True) -> bool:
    """Refuse a synchronous lower of a host `async func` the stand-in cannot make `async`;
    True when it hands stream/future ends over (`merge.asynchostvals`, as an `async` lower
    does: with ``host_ends``). Its resource handles are translated there too."""
    from pymeld.merge.asynchostvals import _walked_params, _walked_result, host_ends_problem

    hf = lw.callee
    assert isinstance(hf, HostFunc)
    what = (
        f"synchronous call of host `async func` `{'/'.join(hf.path)}` in component instance "
        f"{label(lw.owner)} beside in-module tasks"
    )
    ft = hf.type
    ends = bool(at.async_values(ft))
    if ends:
        problem = host_ends_problem(ft)
        if problem is None and (_walked_params(ft) or _walked_result(ft)):
            # the `async` lower's walk of lists and spilled parameters, not yet checked here
            problem = "an end in a list or among parameters passed in memory: not fused yet"
        if not host_ends and problem is None:  # the wrapper makes the runtime's built-ins
            problem = "handed over in component output only, without --keep-async-boundaries"
        if problem is not None:
            raise UnsupportedFeature(f"{what} passing stream/future/error-context ({problem})")
    n = sum(flat_count(t) for t in ft.param_types())
    if MAX_FLAT_ASYNC_PARAMS < n <= MAX_FLAT_PARAMS and not _spills_to_proxy(ft):
        raise UnsupportedFeature(
            f"{what} with {n} flat parameters, not all plain scalars or beside a result by "
            f"pointer (an `async` lower passes more than {MAX_FLAT_ASYNC_PARAMS} in memory, a "
            f"synchronous one up to {MAX_FLAT_PARAMS} flat: they would have to be stored in the "
            "caller's memory: not fused yet)"
        )
    if _flat_result(ft) is not None and (
        n > MAX_FLAT_PARAMS or any(_in_memory(t) for t in ft.param_types())
    ):
        raise UnsupportedFeature(
            f"{what} passing values in the caller's memory beside a flat result (the `async` "
            "lower would need the caller's memory and the proxy's at once: not fused yet)"
        )
    return ends


def valued_callers(g: FlatGraph, tp: TaskPlan) -> set[int]:
    """The instances calling host `async func`s synchronously with resource handles or ends
    among the values: their handles and waitables are in-module (`asynchostvals` translates
    them between the caller's table and the runtime's), as an `async` lower's caller's are."""
    out = set()
    for li in tp.host_syncs:
        lw = g.lowers[li]
        assert isinstance(lw.callee, HostFunc)
        if at.handles(lw.callee.type) or at.async_values(lw.callee.type):
            out.add(lw.owner)
    return out


def _in_memory(t: at.ValType) -> bool:
    """Whether a parameter of type ``t`` passes values in the caller's memory."""
    return isinstance(t, at.String | at.List | at.Map) or any(_in_memory(c) for c in at.children(t))


def _flat_result(ft: at.FuncType) -> at.ValType | None:
    """The result a synchronous lower of ``ft`` returns flat (None: none, or by pointer)."""
    core = flatten_functype(ft, "lower")
    return ft.result if core.results else None


def _spills_to_proxy(ft: at.FuncType) -> bool:
    """Whether the `async` lower of ``ft`` takes its parameters in memory where the
    synchronous one passes them flat, and the stand-in stores them in a record of the task
    records' memory: 5 to 16 plain scalars (their stores lose nothing the sync lower's
    `lift_flat` keeps: `_STORES`), with no result or a flat one (in the same memory)."""
    params = ft.param_types()
    n = sum(flat_count(t) for t in params)
    return (
        MAX_FLAT_ASYNC_PARAMS < n <= MAX_FLAT_PARAMS
        and all(type(t) in _STORES for t in params)
        and (ft.result is None or _flat_result(ft) is not None)
    )


def flat_load(t: at.ValType) -> tuple[str, int]:
    """The load (and its offset) of the one flat value of ``t`` (`flat_count` 1) from where
    `store` put it: a scalar's own, a handle's or end's i32, an enum's or a payload-less
    variant's discriminant, flags by their size, a record's, tuple's or one-element list's
    one element at its offset (the sync lower's `lift_flat` reads the same bits)."""
    d = despecialize(t)
    if isinstance(d, at.Record):
        ((_, only),) = d.fields  # every field has a flat value: one field
        op, off = flat_load(only)
        return op, field_offsets(d.fields)[0] + off
    if isinstance(d, at.List):
        assert d.fixed_len == 1
        return flat_load(d.elem)
    if isinstance(d, at.Variant):
        assert all(c is None for _, c in d.cases)
        return _LOADS[type(discriminant_type(d.cases))], 0
    if isinstance(d, at.Flags):
        return _LOADS[{1: at.U8, 2: at.U16, 4: at.U32}[elem_size(d)]], 0
    if isinstance(d, at.Own | at.Borrow | at.Stream | at.Future | at.ErrorContext):
        return "i32.load", 0
    return _LOADS[type(d)], 0


def in_task_memory(ft: at.FuncType) -> bool:
    """Whether the `async` lower of ``ft`` reads and writes the task records' memory (its
    flat result, its parameters stored by the stand-in)."""
    return _flat_result(ft) is not None or _spills_to_proxy(ft)


def host_sync_call(hs: HostSubtasks, li: int) -> FuncCode:
    """The stand-in for synchronous lower ``li`` of a host `async func` (module docstring):
    its synchronous core signature, calling the runtime's `async` lower of it."""
    rt = hs.rt
    lw = rt.g.lowers[li]
    assert isinstance(lw.callee, HostFunc) and rt.host_import is not None
    ft, inst = lw.callee.type, lw.owner
    m = rt.mem("tasks")
    sync = flatten_functype(ft, "lower")
    acore = flatten_async_functype(ft, "lower")
    flat = _flat_result(ft)
    unwinds = li in rt.tp.host_sync_points
    vals = hs.values if hs.values is not None and hs.values.kind(li) else None
    b = Body(list(sync.params))
    t, r = b.local("i32"), b.local("i32")
    if unwinds:  # rewound: the call is the one the task's proxy stands for
        b.block()
        rt.rewound(b)
        cur = rt.glob("cur_task")
        b.global_get(cur).load("i32.load", m, _WAITS_ON).set(t)
        b.global_get(cur).i32(0).store("i32.store", m, _WAITS_ON)
        b.end()
    b.get(t).op("i32.eqz").if_()
    b.call(rt.fn("task.new")).set(t)
    rt.ids.force(b)  # the call needs the current thread, as a built-in does
    n_args = len(acore.params) - (1 if ft.result is not None else 0)
    host_import = rt.host_import

    spill = _spills_to_proxy(ft)
    if spill:  # the parameters in a record of the proxy's, as `store` lays them out
        params = at.Record(tuple((str(k), p) for k, p in enumerate(ft.param_types())))
        assert elem_size(params) <= _REC
        s = b.local("i32")
        b.get(t).call(rt.fn("task.new")).tee(s).store("i32.store", m, _HSPILL)
        for k, (off, p) in enumerate(zip(field_offsets(params.fields), ft.param_types())):
            b.get(s).get(k)
            if isinstance(p, at.Bool):
                b.i32(0).op("i32.ne")
            b.store(_STORES[type(p)], m, off)

    def call() -> None:
        if spill:
            b.get(s)
        for k in range(0 if spill else n_args):
            b.get(k)
        if ft.result is not None:  # the caller's return pointer, or the proxy's record
            if flat is None:
                b.get(len(sync.params) - 1)
            else:
                b.get(t).i32(_STASH).op("i32.add")
        b.call(host_import(li)).set(r)
        rt.ids.lose(b)

    if vals is not None:  # handles out of the caller's table, lent to the proxy; ends given
        vals.call(b, li, r, call, rec=t, at_once=False)
    else:
        call()
    b.get(r).i32(4).op("i32.shr_u").if_()  # a subtask: the proxy of it
    _register(hs, b, t, r)
    b.end()
    b.get(t).get(r).i32(0xF).op("i32.and").store("i32.store", m, _STATUS)
    b.end()
    b.block().loop()  # until the call resolved
    b.get(t).load("i32.load", m, _STATUS).i32(RETURNED).op("i32.ge_u").br_if(1)
    b.global_get(rt.glob("may_block")).op("i32.eqz").trap_if()  # CannotBlockSyncTask
    if unwinds:
        rt.suspend_waiting(b, inst, t, sync.results)
    else:
        rt.block_on(b, lambda mk: b.get(t).get(mk).store("i32.store", m, _WAITER))
    b.br(0).end().end()
    b.get(t).load("i32.load", m, _HOST).if_()  # the runtime's subtask: resolved, dropped
    b.get(t).load("i32.load", m, _HOST).call(hs.runtime("subtask.drop"))
    b.end()
    if vals is not None:  # as the caller resumes: its results' handles and ends in, loans end
        ret = len(sync.params) - 1
        if flat is not None:
            ret = b.local("i32")
            b.get(t).i32(_STASH).op("i32.add").set(ret)
        vals.keep(b, li, t, ret)
        vals.done(b, t)
    if spill:  # (kept until the call resolved: a STARTING call reads them later)
        b.get(t).load("i32.load", m, _HSPILL).call(rt.fn("task.free"))
    if flat is not None:
        op, off = flat_load(flat)
        b.get(t).load(op, m, _STASH + off)
    b.get(t).call(rt.fn("task.free"))
    b.end()
    return _gen(b, sync.params, sync.results)


def _register(hs: HostSubtasks, b: Body, t: int, r: int) -> None:
    """Emit: proxy ``t`` stands for the runtime's subtask of status word ``r``, waiting in
    the runtime's host set for its events, which wake only its ``_WAITER``."""
    rt = hs.rt
    m, hset, head = rt.mem("tasks"), rt.glob("host_set"), rt.glob("host_head")
    b.get(t).get(r).i32(4).op("i32.shr_u").store("i32.store", m, _HOST)
    b.get(t).i32(SYNC_CALLER).store("i32.store", m, _SUB)
    b.global_get(hset).op("i32.eqz").if_()
    b.call(hs.runtime("waitable-set.new")).global_set(hset)
    b.end()
    b.get(r).i32(4).op("i32.shr_u").global_get(hset).call(hs.runtime("waitable.join"))
    b.get(t).global_get(head).store("i32.store", m, _HNEXT)
    b.get(t).global_set(head)
