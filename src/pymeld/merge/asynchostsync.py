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
scalar result to the proxy's record (the import is lowered with the task records' memory),
read when the call resolves.

Refused when fusing: values the proxy cannot carry (ends, error contexts, handles), more
flat parameters than an `async` lower passes flat, a flat result that is not a scalar, and a
flat result beside parameters that need the caller's memory.

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
    flat_count,
    flatten_async_functype,
    flatten_functype,
)
from pymeld.codec.core.emitter import Body
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import HostFunc, Lowered
from pymeld.merge.asynchost import _HNEXT, _HOST
from pymeld.merge.asynctask import (
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
    from pymeld.merge.asynchost import HostSubtasks

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


def check_host_sync(lw: Lowered, label: Callable[[int], str]) -> None:
    """Refuse a synchronous lower of a host `async func` the stand-in cannot make `async`
    (its own checks: it passes the caller's values on as they are)."""
    hf = lw.callee
    assert isinstance(hf, HostFunc)
    what = (
        f"synchronous call of host `async func` `{'/'.join(hf.path)}` in component instance "
        f"{label(lw.owner)} beside in-module tasks"
    )
    ft = hf.type
    if at.async_values(ft) or at.handles(ft):
        raise UnsupportedFeature(
            f"{what} passing streams, futures, error contexts or resource handles (their ends "
            "and handles would have to be handed over: not fused yet)"
        )
    if sum(flat_count(t) for t in ft.param_types()) > MAX_FLAT_ASYNC_PARAMS:
        raise UnsupportedFeature(
            f"{what} with more than {MAX_FLAT_ASYNC_PARAMS} flat parameters (an `async` "
            "lower passes them in the caller's memory: not fused yet)"
        )
    if _flat_result(ft) is None:
        return
    r = ft.result
    if type(r) not in _LOADS:
        raise UnsupportedFeature(f"{what} whose flat result is not a scalar (not fused yet)")
    if any(_in_memory(t) for t in ft.param_types()):
        raise UnsupportedFeature(
            f"{what} passing values in the caller's memory beside a flat result (the `async` "
            "lower would need the caller's memory and the proxy's at once: not fused yet)"
        )


def _in_memory(t: at.ValType) -> bool:
    """Whether a parameter of type ``t`` passes values in the caller's memory."""
    return isinstance(t, at.String | at.List | at.Map) or any(_in_memory(c) for c in at.children(t))


def _flat_result(ft: at.FuncType) -> at.ValType | None:
    """The result a synchronous lower of ``ft`` returns flat (None: none, or by pointer)."""
    core = flatten_functype(ft, "lower")
    return ft.result if core.results else None


def in_task_memory(ft: at.FuncType) -> bool:
    """Whether the `async` lower of ``ft`` writes its result to the task records' memory."""
    return _flat_result(ft) is not None


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
    if rt.ids is not None:
        rt.ids.force(b)  # the call needs the current thread, as a built-in does
    n_args = len(acore.params) - (1 if ft.result is not None else 0)
    for k in range(n_args):
        b.get(k)
    if ft.result is not None:  # the caller's return pointer, or the proxy's record
        if flat is None:
            b.get(len(sync.params) - 1)
        else:
            b.get(t).i32(_STASH).op("i32.add")
    b.call(rt.host_import(li)).set(r)
    if rt.ids is not None:
        rt.ids.lose(b)
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
    if flat is not None:
        b.get(t).load(_LOADS[type(flat)], m, _STASH)
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
