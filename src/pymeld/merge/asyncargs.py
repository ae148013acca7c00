"""Where a PENDING call keeps its adapter's arguments (`asynctask._Hooks._pending_record`).

A call that cannot start yet keeps the adapter's core arguments until the scheduler calls the
adapter again with them (`TaskRuntime._begin`). The task record has room for five
(`asynctask._ARGS`): an async lower passes at most four flat parameters and a return pointer.
A synchronous lower from task code (`TaskPlan.sync_blocks`) passes up to `MAX_FLAT_PARAMS`
(a string or a list is two); the ones past the fifth go to a memory of their own, one block
per task record (records are numbered by their address), planned only when such a call exists,
so nothing else changes in the fused module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymeld.abi.layout import MAX_FLAT_PARAMS
from pymeld.codec.core.emitter import Body, CoreValType
from pymeld.plan import Space

if TYPE_CHECKING:
    from pymeld.merge.asynctask import TaskRuntime

GROUP = "async"
IN_RECORD = 5  # arguments kept in the task record itself
_BLOCK = 8 * (MAX_FLAT_PARAMS - IN_RECORD)  # bytes per record for the others
_KEY = ("pending", "args")


def needed(counts: list[int]) -> bool:
    """Whether any deferrable call passes more arguments than its record keeps (``counts``:
    each one's number of core arguments)."""
    return any(n > IN_RECORD for n in counts)


def plan(rt: TaskRuntime) -> None:
    """The memory of the arguments past the fifth."""
    rt.p.add_memory(GROUP, _KEY)


def _mem(rt: TaskRuntime) -> int:
    return rt.p.index(Space.MEMORY, GROUP, _KEY)


def _block(rt: TaskRuntime, b: Body, t: int) -> None:
    """Emit: the address of record ``t``'s block (its index times the block size)."""
    from pymeld.merge.asynctask import _REC

    b.get(t).i32(_REC).op("i32.div_u").i32(_BLOCK).op("i32.mul")


def store(rt: TaskRuntime, b: Body, t: int, params: list[CoreValType], offset: int) -> None:
    """Emit: the adapter's arguments (its params) into PENDING record ``t``: the first five at
    ``offset`` in the record (8 bytes each), the others in its block, grown as needed."""
    from pymeld.merge.asynctask import _grow

    tasks = rt.mem("tasks")
    for k, vt in enumerate(params[:IN_RECORD]):
        b.get(t).get(k).store(f"{vt}.store", tasks, offset + 8 * k)
    if len(params) <= IN_RECORD:
        return
    m = _mem(rt)

    def need() -> None:
        _block(rt, b, t)
        b.i32(_BLOCK).op("i32.add")

    _grow(b, m, need)
    for k, vt in enumerate(params[IN_RECORD:], IN_RECORD):
        _block(rt, b, t)
        b.get(k).store(f"{vt}.store", m, 8 * (k - IN_RECORD))


def load(rt: TaskRuntime, b: Body, t: int, params: list[CoreValType], offset: int) -> None:
    """Emit: push the arguments `store` kept for record ``t``, in order."""
    tasks = rt.mem("tasks")
    for k, vt in enumerate(params):
        if k < IN_RECORD:
            b.get(t).load(f"{vt}.load", tasks, offset + 8 * k)
        else:
            _block(rt, b, t)
            b.load(f"{vt}.load", _mem(rt), 8 * (k - IN_RECORD))
