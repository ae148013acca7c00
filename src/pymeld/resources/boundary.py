"""Handle translation where the fused module meets the runtime: lowered host calls and lifted
root exports, when several instances hold handles and each has its own in-module table.

A generated function with the same core signature stands in for the host import (or the
exported core function) and rewrites every own/borrow leaf of the arguments and results:
flat ones in locals, ones in linear memory in place. Host-call arguments in memory are the
guest's own bytes, so their original values are pushed on a save stack and written back after
the call; results and export arguments are fresh values nobody else has seen.
"""

from __future__ import annotations

from collections.abc import Callable

from pymeld.abi import types as at
from pymeld.abi.layout import (
    MAX_FLAT_PARAMS,
    despecialize,
    discriminant_type,
    elem_size,
    field_offsets,
    flat_count,
    flatten_async_functype,
    flatten_functype,
    payload_offset,
)
from pymeld.codec.core.emitter import Body
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import ResourceType
from pymeld.plan import FuncCode
from pymeld.resources.tables import BORROW, OWN, InnerTables

Leaf = Callable[[at.Own | at.Borrow], int | None]

_LOAD_DISC = {1: "i32.load8_u", 2: "i32.load16_u", 4: "i32.load"}


class Walk:
    """Visits the handle leaves of values in locals (`flat`) or memory (`mem`).

    mode ``xlate`` replaces each leaf by ``leaf(t)(value)``; ``save`` also pushes the original
    first; ``restore`` writes the saved originals back, reading them from local ``cursor``.
    """

    def __init__(
        self, b: Body, tables: InnerTables, mem: int | None, leaf: Leaf, mode: str = "xlate"
    ) -> None:
        self.b, self.t, self.memory, self.leaf, self.mode = b, tables, mem, leaf, mode
        self.cursor = -1

    @property
    def mem(self) -> int:
        if self.memory is None:
            raise UnsupportedFeature("handles in linear memory without a `memory` option")
        return self.memory

    def flat(self, t: at.ValType, locs: list[int]) -> None:
        if not at.handles(t):
            return
        b = self.b
        match despecialize(t):
            case at.Own() | at.Borrow() as h:
                if self.mode == "restore":
                    return
                f = self.leaf(h)
                if f is None:
                    return
                wide = b.type_of(locs[0]) == "i64"
                b.get(locs[0])
                if wide:
                    b.op("i32.wrap_i64")
                b.call(f)
                if wide:
                    b.op("i64.extend_i32_u")
                b.set(locs[0])
            case at.Record(fields):
                i = 0
                for _, ft in fields:
                    n = flat_count(ft)
                    self.flat(ft, locs[i : i + n])
                    i += n
            case at.Variant(cases):
                for k, (_, ct) in enumerate(cases):
                    if ct is not None and at.handles(ct):
                        b.get(locs[0]).i32(k).op("i32.eq").if_()
                        self.flat(ct, locs[1 : 1 + flat_count(ct)])
                        b.end()
            case at.List(elem, None):
                self.list(elem, locs[0], locs[1])
            case at.List(elem, n):
                k = flat_count(elem)
                for i in range(n or 0):
                    self.flat(elem, locs[i * k : (i + 1) * k])

    def mem_at(self, t: at.ValType, base: int, off: int) -> None:
        if not at.handles(t):
            return
        b = self.b
        match despecialize(t):
            case at.Own() | at.Borrow() as h:
                m = self.mem
                if self.mode == "restore":
                    b.get(base).get(self.cursor).load("i32.load", self.t.save_memory, 0)
                    b.store("i32.store", m, off)
                    b.get(self.cursor).i32(4).op("i32.add").set(self.cursor)
                    return
                f = self.leaf(h)
                if self.mode == "save":
                    b.get(base).load("i32.load", m, off).call(self.t.push().index)
                if f is None:
                    return
                b.get(base).get(base).load("i32.load", m, off).call(f).store("i32.store", m, off)
            case at.Record(fields):
                for (_, ft), o in zip(fields, field_offsets(fields)):
                    self.mem_at(ft, base, off + o)
            case at.Variant(cases):
                disc = self.b.local("i32")
                b.get(base).load(_LOAD_DISC[elem_size(discriminant_type(cases))], self.mem, off)
                b.set(disc)
                po = payload_offset(cases)
                for k, (_, ct) in enumerate(cases):
                    if ct is not None and at.handles(ct):
                        b.get(disc).i32(k).op("i32.eq").if_()
                        self.mem_at(ct, base, off + po)
                        b.end()
                b.free(disc)
            case at.List(elem, None):
                ptr, n = b.local("i32"), b.local("i32")
                b.get(base).load("i32.load", self.mem, off).set(ptr)
                b.get(base).load("i32.load", self.mem, off + 4).set(n)
                self.list(elem, ptr, n)
                b.free(ptr, n)
            case at.List(elem, n):
                for i in range(n or 0):
                    self.mem_at(elem, base, off + i * elem_size(elem))

    def list(self, elem: at.ValType, ptr: int, n: int) -> None:
        b = self.b
        p, i = b.local("i32"), b.local("i32")
        b.get(ptr).set(p).get(n).set(i)
        b.block().loop()
        b.get(i).op("i32.eqz").br_if(1)
        self.mem_at(elem, p, 0)
        b.get(p).i32(elem_size(elem)).op("i32.add").set(p)
        b.get(i).i32(1).op("i32.sub").set(i)
        b.br(0).end().end()
        b.free(p, i)


def leaves(ft: at.FuncType) -> tuple[list[at.Own | at.Borrow], list[at.Own | at.Borrow]]:
    return [h for p in ft.param_types() for h in at.handles(p)], at.handles(ft.result)


def _params(w: Walk, ft: at.FuncType, n_flat: int) -> None:
    pts = ft.param_types()
    if sum(flat_count(t) for t in pts) > MAX_FLAT_PARAMS:
        w.mem_at(at.Tuple(tuple(pts)), 0, 0)
        return
    i = 0
    for t in pts:
        k = flat_count(t)
        w.flat(t, list(range(i, i + k)))
        i += k
    assert i == n_flat


def host_call(
    tables: InnerTables,
    ft: at.FuncType,
    inst: int,
    mem: int | None,
    target: int,
    prologue: Callable[[Body], object] | None = None,
) -> FuncCode:
    """Stand-in for a lowered host import: arguments out of ``inst``'s table, results in
    (after ``prologue``, if any)."""

    out, into = _leaf(tables, "out", inst), _leaf(tables, "in", inst)

    core = flatten_functype(ft, "lower")
    b = Body(core.params)
    if prologue is not None:
        prologue(b)
    n_args = len(core.params) - (1 if _retptr(ft) else 0)
    base = b.local("i32")
    b.global_get(tables.save_sp_global).set(base)
    _params(Walk(b, tables, mem, out, "save"), ft, n_args if not _spilled(ft) else 0)
    b.forward_args().call(target)
    if ft.result is not None and at.handles(ft.result):
        if core.results:
            r = b.local(core.results[0])
            b.set(r)
            Walk(b, tables, mem, into).flat(ft.result, [r])
            b.get(r)
        else:
            Walk(b, tables, mem, into).mem_at(ft.result, len(core.params) - 1, 0)
    restore = Walk(b, tables, mem, out, "restore")
    restore.cursor = b.local("i32")
    b.get(base).set(restore.cursor)
    _params(restore, ft, n_args if not _spilled(ft) else 0)
    b.get(base).global_set(tables.save_sp_global)
    b.end()
    return FuncCode(core.params, core.results, tuple(b.locals), bytes(b.code))


def lifted_export(
    tables: InnerTables, ft: at.FuncType, inst: int, mem: int | None, target: int
) -> FuncCode:
    """Stand-in for an exported core function: arguments into ``inst``'s table, results out,
    inside a borrow scope when arguments lend borrows (each must be dropped before return)."""

    out, into = _leaf(tables, "out", inst), _leaf(tables, "in", inst)

    core = flatten_functype(ft, "lift")
    b = Body(core.params)
    scoped = any(isinstance(h, at.Borrow) for h in leaves(ft)[0])
    saved = b.local("i32")
    if scoped:
        b.global_get(tables.borrow_global).set(saved).i32(0).global_set(tables.borrow_global)
    _params(Walk(b, tables, mem, into), ft, 0 if _spilled(ft) else len(core.params))
    b.forward_args().call(target)
    r = None
    if core.results:
        r = b.local(core.results[0])
        b.set(r)
        if ft.result is not None and at.handles(ft.result):
            if flat_count(ft.result) > 1:
                Walk(b, tables, mem, out).mem_at(ft.result, r, 0)
            else:
                Walk(b, tables, mem, out).flat(ft.result, [r])
    if scoped:
        b.global_get(tables.borrow_global).trap_if()
        b.get(saved).global_set(tables.borrow_global)
    if r is not None:
        b.get(r)
    b.end()
    return FuncCode(core.params, core.results, tuple(b.locals), bytes(b.code))


def async_export_params(
    tables: InnerTables, ft: at.FuncType, inst: int, mem: int | None, target: int, callback: bool
) -> FuncCode:
    """Stand-in for the core function of an `async`-lifted export: its arguments into
    ``inst``'s table; its core result (a callback code, or none) passes unchanged, since its
    results leave through `task.return` (`task_return`)."""
    core = flatten_async_functype(ft, "lift", callback)
    b = Body(core.params)
    if any(isinstance(h, at.Borrow) for h in leaves(ft)[0]):  # the root task's scope: until
        b.i32(0).global_set(tables.borrow_global)  # its `task.return` (`task_return`)
    _params(
        Walk(b, tables, mem, _leaf(tables, "in", inst)), ft, 0 if _spilled(ft) else len(core.params)
    )
    b.forward_args().call(target).end()
    return FuncCode(core.params, core.results, tuple(b.locals), bytes(b.code))


def task_return(
    tables: InnerTables,
    ft: at.FuncType,
    inst: int,
    mem: int | None,
    target: int,
    lent: bool = False,
) -> FuncCode:
    """Stand-in for the runtime's `task.return` of a task the host called: the results'
    handles out of ``inst``'s table (their values in memory rewritten for the call and put
    back after it, as a host call's arguments are). ``lent``: the instance's `async` root
    exports take borrows, which must be dropped by now (the host calls it one at a time: the
    current call's count is the borrow global, `async_export_params`)."""

    def check(b: Body) -> None:
        b.global_get(tables.borrow_global).trap_if()

    as_params = at.FuncType((("result", ft.result),), None) if ft.result is not None else ft
    return host_call(tables, as_params, inst, mem, target, check if lent else None)


def plan(tables: InnerTables, ft: at.FuncType, inst: int, host_call: bool) -> None:
    """Plan every leaf function the translation of ``ft`` will call."""
    args, results = leaves(ft)
    for h, d in [(h, "out" if host_call else "in") for h in args] + [
        (h, "in" if host_call else "out") for h in results
    ]:
        r = _res(h)
        if not host_call and r.host_path is None and isinstance(h, at.Borrow) and d == "out":
            raise UnsupportedFeature("borrow handle in an export result")
        if host_call and r.host_path is None:
            raise UnsupportedFeature(f"resource `{r.name}` of the composition in a host call")
        tables.leaf(d, OWN if isinstance(h, at.Own) else BORROW, r, inst)
    tables.push()


def _leaf(tables: InnerTables, direction: str, inst: int) -> Leaf:
    """The planned translation function of each handle leaf (None: passes unchanged)."""

    def leaf(h: at.Own | at.Borrow) -> int | None:
        kind = OWN if isinstance(h, at.Own) else BORROW
        item = tables.leaf(direction, kind, _res(h), inst)
        return None if item is None else item.index

    return leaf


def _res(h: at.Own | at.Borrow) -> ResourceType:
    r = h.resource
    assert isinstance(r, ResourceType)
    return r


def _spilled(ft: at.FuncType) -> bool:
    return sum(flat_count(t) for t in ft.param_types()) > MAX_FLAT_PARAMS


def _retptr(ft: at.FuncType) -> bool:
    return ft.result is not None and flat_count(ft.result) > 1
