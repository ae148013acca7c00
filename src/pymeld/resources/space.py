"""One index space for the in-module tables of one component instance.

The spec (`ComponentInstance.table`) and wasmtime (`HandleTable`) give each component instance
one table: resource handles, waitable sets, subtasks and stream/future ends all take their
numbers from it (0 never used, fresh indices in order, freed ones reused last in first out,
over all kinds at once). pymeld keeps the kinds in separate in-module tables
(`resources.tables`, `merge.asyncfuse`, `merge.asynctask`), each with entries at ``16*i`` of its
own memory. For an instance with more than one of them, the *numbers* come from one shared
allocator planned here instead of each table's own free list:

* ``alloc`` → index: pop the shared free list, else the next fresh index (trap past
  `Table.MAX_LENGTH`); ``release(index)`` pushes it (links in the space's own memory);
* each table keeps its own entries and its own ``next`` as a high-water mark (`claim`: raised
  to cover an index it is given, its memory grown to hold the entry), so its `get` bounds and
  tag checks are unchanged: an index another table holds is free (tag 0) in this one.
"""

from __future__ import annotations

from functools import partial

from pymeld._dataclass import dataclass
from pymeld.codec.core.emitter import Body
from pymeld.plan import FuncCode, Plan, Space

_FUNCS, _STATE = "resource", "handle-table"
_MAX = (1 << 28) - 1  # Table.MAX_LENGTH


def plan_spaces(plan: Plan, instances: list[int]) -> None:
    """Plan a shared index space for each of ``instances``."""
    for inst in instances:
        plan.add_global(_STATE, ("space-next", inst), init=1)
        plan.add_global(_STATE, ("space-free", inst))
        plan.add_memory(_STATE, ("space", inst))
        plan.add_func(_FUNCS, ("space-alloc", inst), partial(_alloc, plan, inst))
        plan.add_func(_FUNCS, ("space-release", inst), partial(_release, plan, inst))


@dataclass(frozen=True)
class SharedSpace:
    alloc: int  # () → index
    release: int  # (index) → ()


def shared_space(plan: Plan, inst: int) -> SharedSpace | None:
    """The shared allocator of ``inst`` (None: its table numbers itself)."""
    item = plan.find(Space.FUNC, _FUNCS, ("space-alloc", inst))
    if item is None:
        return None
    return SharedSpace(item.index, plan.index(Space.FUNC, _FUNCS, ("space-release", inst)))


def claim(b: Body, space: SharedSpace, idx: int, mem: int, high: int) -> None:
    """Emit: ``idx`` = a new index from ``space``; raise the table's high-water global
    ``high`` past it and grow its memory ``mem`` until entry ``idx`` fits."""
    b.call(space.alloc).set(idx)
    b.get(idx).global_get(high).op("i32.ge_u").if_()
    b.get(idx).i32(1).op("i32.add").global_set(high)
    b.end()
    b.block().loop()
    b.get(idx).i32(1).op("i32.add").i32(4).op("i32.shl")
    b.memory_size(mem).i32(16).op("i32.shl").op("i32.le_u").br_if(1)
    b.i32(1).memory_grow(mem).i32(-1 & 0xFFFFFFFF).op("i32.eq").trap_if()
    b.br(0).end().end()


def _alloc(plan: Plan, inst: int) -> FuncCode:
    b = Body([])
    idx = b.local("i32")
    m = plan.index(Space.MEMORY, _STATE, ("space", inst))
    nxt = plan.index(Space.GLOBAL, _STATE, ("space-next", inst))
    free = plan.index(Space.GLOBAL, _STATE, ("space-free", inst))
    b.global_get(free).if_()
    b.global_get(free).set(idx)
    b.get(idx).i32(2).op("i32.shl").load("i32.load", m, 0).global_set(free)
    b.op("else")
    b.global_get(nxt).tee(idx).i32(_MAX).op("i32.gt_u").trap_if()
    b.get(idx).i32(1).op("i32.add").global_set(nxt)
    b.block().loop()
    b.get(idx).i32(1).op("i32.add").i32(2).op("i32.shl")
    b.memory_size(m).i32(16).op("i32.shl").op("i32.le_u").br_if(1)
    b.i32(1).memory_grow(m).i32(-1 & 0xFFFFFFFF).op("i32.eq").trap_if()
    b.br(0).end().end()
    b.end()
    b.get(idx).end()
    return FuncCode((), ("i32",), tuple(b.locals), bytes(b.code))


def _release(plan: Plan, inst: int) -> FuncCode:
    b = Body(["i32"])
    m = plan.index(Space.MEMORY, _STATE, ("space", inst))
    free = plan.index(Space.GLOBAL, _STATE, ("space-free", inst))
    b.get(0).i32(2).op("i32.shl").global_get(free).store("i32.store", m, 0)
    b.get(0).global_set(free)
    b.end()
    return FuncCode(("i32",), (), tuple(b.locals), bytes(b.code))
