"""In-module handle tables: `resource.new/rep/drop` and own/borrow transfer inside the fused module.

Every component instance that holds handles of composition-defined resources, other than the
host-facing one (see `runtime`), gets one table, as in the spec (`ComponentInstance.table`): one
index space shared by all resource types of that instance, index 0 reserved, fresh indices
allocated sequentially, freed ones reused LIFO (observable, so reproduced exactly).

State: one dedicated memory per table (entry ``i`` at ``16*i``: rep, resource tag (0 = free),
kind (1 own, 2 borrow), free-list link) grown a page at a time, two globals per table (next fresh
index, free-list head), and one global counting the borrow handles lent out by the current call
(`num_borrows` of the spec's borrow scope). Generated functions, per table: `add`, `get` (checks
the index and the resource tag), `remove`; per (table, resource): `new`, `rep`, `drop` (runs the
destructor after removal when an own is dropped; a borrow drop ends the loan); per crossing
(resource, own|borrow, from-instance, to-instance): one transfer function used by adapters.

Lends: lending an own as a borrow bumps its `num_lends` and pushes it on a lend stack (its own
memory, one stack pointer global); the adapter's borrow scope pops back to its entry depth on
return. Dropping or moving out a lent own traps, as in the spec.

Task scopes (`task_scopes`, only when an adapter lends borrows to an in-module async task):
the callee's borrow entry names its task (kind ``BORROW | scope << 4``, the scope being the
task record's number) and counts in that scope (``scope-borrows`` memory); the lender's
``num_lends`` (own or borrow) is kept in a ``task-lends`` list; `scope_end`, at the task's
`task.return`, traps if a borrow is left and ends its loans. Dropping a borrow lent on to a
task traps as dropping a lent own does.

Runtime boundary (when several instances hold handles, see `runtime`): an entry of a host
resource keeps the *runtime* handle as its rep; kind 3 marks a borrow the runtime lent us (its
runtime handle is dropped with it). `out`/`in` functions translate one handle at the boundary
(local → runtime value and back; `out` of kind `TASK_BORROW` also lends the handle to the
scope in ``lend_scope``: a borrow passed to an async host call, `merge.asynchostvals`); for a wrapper-defined type the runtime value is a handle of it
(`resource.new` out; `resource.rep` + a `resource.drop` whose destructor is suppressed by a
flag, in). A save stack (own memory) keeps the guest's values of handles rewritten in place in
host-call argument memory, to restore them after the call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field

from pymeld._dataclass import dataclass
from pymeld.codec.core.emitter import Body, CoreValType
from pymeld.graph.model import CoreRef, ResourceType
from pymeld.plan import FuncCode, FuncItem, Plan, Space
from pymeld.resources.space import claim, shared_space

OWN, BORROW, RT_BORROW = 1, 2, 3
#: transfer kind of a borrow lent to an in-module async task (`task_scopes`): its scope is the
#: task, named in the callee's entry as ``BORROW | scope << SCOPE_SHIFT``
TASK_BORROW = 4
SCOPE_SHIFT = 4
_LEND = 12  # bytes per task loan: lender's table, lender's entry address, the task's scope
_MAX = (1 << 28) - 1  # Table.MAX_LENGTH
_GROUP = "resource"


@dataclass
class InnerTables:
    """Plans the tables' functions, globals and memories in ``plan``, then builds the code.

    ``func_index`` resolves a core reference of the graph (a destructor) to its output index;
    ``runtime_func`` a runtime import key to its import index. Both are read only while the
    plan is emitted.
    """

    plan: Plan
    func_index: Callable[[CoreRef], int]
    runtime_func: Callable[[object], int]
    tables: list[int] = field(default_factory=list)  # component instance per table
    resources: dict[int, ResourceType] = field(default_factory=dict)
    runtime_names: dict[int, tuple[str, str]] = field(default_factory=dict)  # rid → module, name

    # -- planning ----------------------------------------------------------------------------
    def table(self, inst: int) -> int:
        p = self.plan
        if not self.tables:
            self._func("lend")
            self._func("unlend")
            for name in ("num_borrows", "lend_sp", "dtor_suppressed", "save_sp"):
                p.add_global("resource-state", name)
            p.add_memory("resource-state", "lend")
            p.add_memory("resource-state", "save")
        if inst not in self.tables:
            self.tables.append(inst)
            for op in ("add", "get", "remove"):
                self._func(op, inst)
            p.add_global("handle-table", ("next", inst), init=1)
            p.add_global("handle-table", ("free", inst))
            p.add_memory("handle-table", inst)
        return self.tables.index(inst)

    def _func(self, *key: object) -> FuncItem:
        return self.plan.add_func(_GROUP, key, lambda: self._emit(key))

    def task_scopes(self) -> None:
        """Plan borrows lent to in-module async tasks (the spec's `Task.num_borrows` and
        `Subtask.lenders`, per task): a task's borrows count in the ``scope-borrows`` memory
        (an i32 per scope, a scope being the task record's number), its loans in the
        ``task-lends`` memory until `scope_end` at its `task.return`."""
        p = self.plan
        if self.scoped:
            return
        p.add_global("resource-state", "lend_scope")
        p.add_global("resource-state", "task_lends_n")
        p.add_memory("resource-state", "task-lends")
        p.add_memory("resource-state", "scope-borrows")
        self._func("task_lend")
        self._func("scope_end")

    @property
    def scoped(self) -> bool:
        """Whether borrows are lent to in-module tasks (`task_scopes`)."""
        return self.plan.find(Space.GLOBAL, "resource-state", "lend_scope") is not None

    @property
    def lend_scope_global(self) -> int:
        """The scope (task record number) the borrows lowered now are lent to."""
        return self._global("lend_scope")

    @property
    def scope_end(self) -> int:
        """(scope): trap unless the task dropped every borrow it was lent (the spec's
        `trap_if(self.num_borrows > 0)` of `Task.return_`), then end its loans."""
        return self._fn("scope_end")

    def builtin(self, op: str, inst: int, r: ResourceType) -> FuncItem:
        """Function for `canon resource.{new,rep,drop}` of ``r`` in instance ``inst``."""
        self.table(inst)
        self.resources[r.id] = r
        return self._func(op.removeprefix("resource."), inst, r.id)

    def transfer(self, r: ResourceType, kind: int, src: int, dst: int) -> FuncItem:
        """i32 → i32 function moving a handle of ``r`` from ``src``'s table into ``dst``'s (for a
        borrow into the instance defining ``r``: checking the handle and returning its rep)."""
        self.table(src)
        if not (kind in (BORROW, TASK_BORROW) and r.owner == dst):
            self.table(dst)
        self.resources[r.id] = r
        return self._func("xfer", kind, r.id, src, dst)

    def _global(self, name: str) -> int:
        item = self.plan.find(Space.GLOBAL, "resource-state", name)
        assert item is not None, "no handle table planned"
        return item.index

    @property
    def borrow_global(self) -> int:
        """`num_borrows` of the current call's borrow scope."""
        return self._global("num_borrows")

    @property
    def lend_sp_global(self) -> int:
        return self._global("lend_sp")

    @property
    def suppress_global(self) -> int:
        return self._global("dtor_suppressed")

    @property
    def save_sp_global(self) -> int:
        return self._global("save_sp")

    @property
    def lend_memory(self) -> int:
        return self._memory("resource-state", "lend")

    @property
    def save_memory(self) -> int:
        return self._memory("resource-state", "save")

    def _memory(self, group: str, key: object) -> int:
        item = self.plan.find(Space.MEMORY, group, key)
        assert item is not None, "no handle table planned"
        return item.index

    def leaf(self, direction: str, kind: int, r: ResourceType, inst: int) -> FuncItem | None:
        """i32 → i32 function for one handle of ``inst`` crossing the runtime boundary:
        ``out`` (local handle → runtime value) or ``in`` (runtime value → local handle); None
        when the value passes unchanged (a borrow lowered into the resource's definer is its rep).
        """
        self.table(inst)
        self.resources[r.id] = r
        if direction == "in" and kind == BORROW and r.host_path is None and r.owner == inst:
            return None
        return self._func(direction, kind, r.id, inst)

    @property
    def unlend(self) -> int:
        """(saved sp): end the loans made since ``saved`` (an adapter's borrow scope exit)."""
        return self._fn("unlend")

    def push(self) -> FuncItem:
        """(value): push one i32 on the save stack."""
        return self._func("push")

    def _rt(self, op: str, r: ResourceType) -> int:
        if r.host_path is not None:
            return self.runtime_func(("resource.drop", r.id))
        module, name = self.runtime_names[r.id]
        return self.runtime_func(("builtin", module, f"[resource-{op}]{name}"))

    # -- emission ----------------------------------------------------------------------------
    def _mem(self, t: int) -> int:
        return self._memory("handle-table", self.tables[t])

    def _next(self, t: int) -> int:
        return self._table_global("next", t)

    def _free(self, t: int) -> int:
        return self._table_global("free", t)

    def _table_global(self, name: str, t: int) -> int:
        item = self.plan.find(Space.GLOBAL, "handle-table", (name, self.tables[t]))
        assert item is not None
        return item.index

    def _fn(self, *key: object) -> int:
        item = self.plan.find(Space.FUNC, _GROUP, key)
        assert item is not None, f"table function {key} was not planned"
        return item.index

    def _emit(self, key: tuple[object, ...]) -> FuncCode:
        func_index = self.func_index
        op = key[0]
        if op == "add":  # (tag, rep, kind) -> idx
            t = self.tables.index(key[1])  # type: ignore[arg-type]
            return self._add(t)
        if op == "get":  # (tag, idx) -> addr
            return self._get(self.tables.index(key[1]))  # type: ignore[arg-type]
        if op == "remove":  # (addr) -> ()
            return self._remove(self.tables.index(key[1]))  # type: ignore[arg-type]
        if op in ("new", "rep", "drop"):
            inst, rid = key[1], key[2]
            assert isinstance(inst, int) and isinstance(rid, int)
            return self._builtin(op, inst, self.resources[rid], func_index)
        if op == "lend":
            return self._lend()
        if op == "unlend":
            return self._unlend()
        if op in ("in", "out"):
            kind, rid, inst = key[1:]
            assert isinstance(kind, int) and isinstance(rid, int) and isinstance(inst, int)
            return self._boundary(op, kind, self.resources[rid], inst)
        if op == "push":
            return self._push()
        if op == "task_lend":
            return self._task_lend()
        if op == "scope_end":
            return self._scope_end()
        assert op == "xfer"
        kind, rid, src, dst = key[1:]
        assert isinstance(kind, int) and isinstance(rid, int)
        assert isinstance(src, int) and isinstance(dst, int)
        if kind == TASK_BORROW:
            return self._xfer_task(self.resources[rid], src, dst)
        return self._xfer(kind, self.resources[rid], src, dst)

    def dtor_guard(self, r: ResourceType) -> FuncItem:
        """Destructor the runtime calls for a wrapper-defined type: skipped while an own is only
        being moved out of the runtime table into ours."""
        return self.plan.add_func(_GROUP, ("dtor", r.id), lambda: self._dtor_guard(r))

    def _add(self, t: int) -> FuncCode:
        b = Body(["i32", "i32", "i32"])
        idx, addr = b.local("i32"), b.local("i32")
        m = self._mem(t)
        space = shared_space(self.plan, self.tables[t])
        if space is not None:  # numbered with the instance's waitables (resources.space)
            claim(b, space, idx, m, self._next(t))
        else:
            self._fresh(b, t, idx, m)
        b.get(idx).i32(4).op("i32.shl").set(addr)
        b.get(addr).get(1).store("i32.store", m, 0)
        b.get(addr).get(0).store("i32.store", m, 4)
        b.get(addr).get(2).store("i32.store", m, 8)
        b.get(addr).i32(0).store("i32.store", m, 12)
        b.get(idx).end()
        return _gen(b, ("i32", "i32", "i32"), ("i32",))

    def _fresh(self, b: Body, t: int, idx: int, m: int) -> None:
        """idx = free head, or a fresh index (growing the memory a page when needed)."""
        b.global_get(self._free(t))
        b.if_()
        b.global_get(self._free(t))
        b.set(idx)
        b.get(idx).i32(4).op("i32.shl").load("i32.load", m, 12)
        b.global_set(self._free(t))
        b.op("else")
        b.global_get(self._next(t))
        b.tee(idx).i32(_MAX).op("i32.gt_u").trap_if()
        b.get(idx).i32(1).op("i32.add")
        b.global_set(self._next(t))
        b.get(idx).i32(1).op("i32.add").i32(4).op("i32.shl")
        b.memory_size(m).i32(16).op("i32.shl").op("i32.gt_u")
        b.if_()
        b.i32(1)
        b.memory_grow(m)
        b.i32(-1 & 0xFFFFFFFF).op("i32.eq").trap_if()
        b.end()
        b.end()

    def _get(self, t: int) -> FuncCode:
        b = Body(["i32", "i32"])
        m = self._mem(t)
        b.get(1).op("i32.eqz").trap_if()
        b.get(1)
        b.global_get(self._next(t))
        b.op("i32.ge_u").trap_if()
        b.get(1).i32(4).op("i32.shl").load("i32.load", m, 4).get(0).op("i32.ne").trap_if()
        b.get(1).i32(4).op("i32.shl").end()
        return _gen(b, ("i32", "i32"), ("i32",))

    def _remove(self, t: int) -> FuncCode:
        b = Body(["i32"])
        m = self._mem(t)
        b.get(0).i32(0).store("i32.store", m, 4)
        space = shared_space(self.plan, self.tables[t])
        if space is not None:
            b.get(0).i32(4).op("i32.shr_u").call(space.release).end()
            return _gen(b, ("i32",), ())
        b.get(0)
        b.global_get(self._free(t))
        b.store("i32.store", m, 12)
        b.get(0).i32(4).op("i32.shr_u")
        b.global_set(self._free(t))
        b.end()
        return _gen(b, ("i32",), ())

    def _builtin(
        self, op: str, inst: int, r: ResourceType, func_index: Callable[[CoreRef], int]
    ) -> FuncCode:
        t = self.tables.index(inst)
        m = self._mem(t)
        b = Body(["i32"])
        if op == "new":
            b.i32(r.id).get(0).i32(OWN).call(self._fn("add", inst)).end()
            return _gen(b, ("i32",), ("i32",))
        if op == "rep":
            b.i32(r.id).get(0).call(self._fn("get", inst)).load("i32.load", m, 0).end()
            return _gen(b, ("i32",), ("i32",))
        addr, rep = b.local("i32"), b.local("i32")
        b.i32(r.id).get(0).call(self._fn("get", inst)).tee(addr).load("i32.load", m, 0).set(rep)
        b.get(addr).load("i32.load", m, 8).i32(OWN).op("i32.eq").if_()
        b.get(addr).load("i32.load", m, 12).trap_if()  # dropping a lent own
        b.get(addr).call(self._fn("remove", inst))
        if r.host_path is not None:  # the runtime handle goes with it
            b.get(rep).call(self._rt("drop", r))
        elif r.dtor is not None:
            b.get(rep).call(func_index(r.dtor))
        b.op("else")
        if r.host_path is not None:  # a borrow the runtime lent: end it there too
            b.get(addr).load("i32.load", m, 8).i32(RT_BORROW).op("i32.eq").if_()
            b.get(rep).call(self._rt("drop", r))
            b.end()
        if self.scoped:  # a borrow lent on to a task that has not returned, or a task's
            b.get(addr).load("i32.load", m, 12).trap_if()
            b.get(addr).load("i32.load", m, 8).i32(SCOPE_SHIFT).op("i32.shr_u").set(rep)
        b.get(addr).call(self._fn("remove", inst))
        if self.scoped:  # a task's borrow: that task's count (`task_scopes`)
            sm = self._memory("resource-state", "scope-borrows")
            b.get(rep).if_()
            b.get(rep).i32(2).op("i32.shl").get(rep).i32(2).op("i32.shl")
            b.load("i32.load", sm, 0).i32(1).op("i32.sub").store("i32.store", sm, 0)
            b.op("else")
        b.global_get(self.borrow_global)
        b.i32(1).op("i32.sub")
        b.global_set(self.borrow_global)
        if self.scoped:
            b.end()
        b.end().end()
        return _gen(b, ("i32",), ())

    def _xfer(self, kind: int, r: ResourceType, src: int, dst: int) -> FuncCode:
        m = self._mem(self.tables.index(src))
        b = Body(["i32"])
        addr = b.local("i32")
        b.i32(r.id).get(0).call(self._fn("get", src)).set(addr)
        if kind == OWN:  # lift_own: an own, not lent out; removed from the source table
            b.get(addr).load("i32.load", m, 8).i32(OWN).op("i32.ne").trap_if()
            b.get(addr).load("i32.load", m, 12).trap_if()
            b.i32(r.id).get(addr).load("i32.load", m, 0).i32(OWN).call(self._fn("add", dst))
            b.get(addr).call(self._fn("remove", src))
        else:  # lift_borrow: the rep; lower_borrow: the rep itself for the definer, else a loan
            # An own lent for the call: num_lends += 1 until the scope ends (`unlend`).
            b.get(addr).load("i32.load", m, 8).i32(OWN).op("i32.eq").if_()
            b.get(addr).get(addr).load("i32.load", m, 12).i32(1).op("i32.add")
            b.store("i32.store", m, 12)
            b.i32(self.tables.index(src)).get(addr).call(self._fn("lend"))
            b.end()
            b.get(addr).load("i32.load", m, 0)
            if r.owner != dst:
                b.set(addr)
                b.i32(r.id).get(addr).i32(BORROW).call(self._fn("add", dst))
                b.global_get(self.borrow_global)
                b.i32(1).op("i32.add")
                b.global_set(self.borrow_global)
        b.end()
        return _gen(b, ("i32",), ("i32",))

    def _xfer_task(self, r: ResourceType, src: int, dst: int) -> FuncCode:
        """A borrow lent to an in-module task: `lift_borrow` lends the caller's handle (own or
        borrow) until the task returns (`scope_end`; wasmtime ends the loan at `task.return`,
        not when the caller sees it); `lower_borrow` gives the definer the rep, else a borrow
        in the callee's table scoped to the task, counted in its scope."""
        m = self._mem(self.tables.index(src))
        b = Body(["i32"])
        addr, rep = b.local("i32"), b.local("i32")
        b.i32(r.id).get(0).call(self._fn("get", src)).set(addr)
        b.get(addr).get(addr).load("i32.load", m, 12).i32(1).op("i32.add")
        b.store("i32.store", m, 12)
        b.i32(self.tables.index(src)).get(addr).global_get(self.lend_scope_global)
        b.call(self._fn("task_lend"))
        b.get(addr).load("i32.load", m, 0)
        if r.owner != dst:
            sm = self._memory("resource-state", "scope-borrows")
            b.set(rep)
            b.i32(r.id).get(rep)
            b.global_get(self.lend_scope_global).i32(SCOPE_SHIFT).op("i32.shl")
            b.i32(BORROW).op("i32.or").call(self._fn("add", dst))
            b.global_get(self.lend_scope_global).i32(2).op("i32.shl").set(addr)
            _ensure(b, sm, lambda: b.get(addr).i32(4).op("i32.add"))
            b.get(addr).get(addr).load("i32.load", sm, 0).i32(1).op("i32.add")
            b.store("i32.store", sm, 0)
        b.end()
        return _gen(b, ("i32",), ("i32",))

    def _task_lend(self) -> FuncCode:
        """(table, lender's entry address, scope): keep one task loan (`_LEND` bytes)."""
        b = Body(["i32", "i32", "i32"])
        m, at_ = self._memory("resource-state", "task-lends"), b.local("i32")
        n = self._global("task_lends_n")
        b.global_get(n).i32(_LEND).op("i32.mul").set(at_)
        _ensure(b, m, lambda: b.get(at_).i32(_LEND).op("i32.add"))
        for k in range(3):
            b.get(at_).get(k).store("i32.store", m, 4 * k)
        b.global_get(n).i32(1).op("i32.add").global_set(n)
        b.end()
        return _gen(b, ("i32", "i32", "i32"), ())

    def _scope_end(self) -> FuncCode:
        """(scope): trap if the task still holds a borrow; end its loans (num_lends -= 1 on
        each lender, the loan replaced by the last one)."""
        b = Body(["i32"])
        sm = self._memory("resource-state", "scope-borrows")
        m, n = self._memory("resource-state", "task-lends"), self._global("task_lends_n")
        i, at_, t, addr = b.local("i32"), b.local("i32"), b.local("i32"), b.local("i32")
        b.get(0).i32(2).op("i32.shl").i32(4).op("i32.add")
        b.memory_size(sm).i32(16).op("i32.shl").op("i32.le_u").if_()
        b.get(0).i32(2).op("i32.shl").load("i32.load", sm, 0).trap_if()
        b.end()
        b.block().loop()
        b.get(i).global_get(n).op("i32.ge_u").br_if(1)
        b.get(i).i32(_LEND).op("i32.mul").tee(at_).load("i32.load", m, 8).get(0).op("i32.ne")
        b.if_()
        b.get(i).i32(1).op("i32.add").set(i)
        b.br(1)
        b.end()
        b.get(at_).load("i32.load", m, 0).set(t)
        b.get(at_).load("i32.load", m, 4).set(addr)
        self._end_loan(b, t, addr)
        b.global_get(n).i32(1).op("i32.sub").global_set(n)
        b.get(at_).global_get(n).i32(_LEND).op("i32.mul").i32(_LEND).memory_copy(m, m)
        b.br(0).end().end()
        b.end()
        return _gen(b, ("i32",), ())

    def _boundary(self, op: str, kind: int, r: ResourceType, inst: int) -> FuncCode:
        m = self._mem(self.tables.index(inst))
        host = r.host_path is not None
        b = Body(["i32"])
        addr, rep = b.local("i32"), b.local("i32")
        if op == "out":  # lift from our table for the runtime (host call argument, export result)
            b.i32(r.id).get(0).call(self._fn("get", inst)).tee(addr).load("i32.load", m, 0)
            b.set(rep)
            if kind == OWN:
                b.get(addr).load("i32.load", m, 8).i32(OWN).op("i32.ne").trap_if()
                b.get(addr).load("i32.load", m, 12).trap_if()
                b.get(addr).call(self._fn("remove", inst))
                b.get(rep)
                if not host:
                    b.call(self._rt("new", r))
            elif kind == TASK_BORROW:  # lent to an async host call until its subtask resolves
                b.get(addr).get(addr).load("i32.load", m, 12).i32(1).op("i32.add")
                b.store("i32.store", m, 12)
                b.i32(self.tables.index(inst)).get(addr).global_get(self.lend_scope_global)
                b.call(self._fn("task_lend"))
                b.get(rep)
            else:
                b.get(rep)
        elif kind == OWN:  # an own the runtime handed us (host call result, export argument)
            if host:
                b.get(0).set(rep)
            else:  # take it out of the runtime table without running the destructor
                b.get(0).call(self._rt("rep", r)).set(rep)
                b.i32(1)
                b.global_set(self.suppress_global)
                b.get(0).call(self._rt("drop", r))
                b.i32(0)
                b.global_set(self.suppress_global)
            b.i32(r.id).get(rep).i32(OWN).call(self._fn("add", inst))
        else:  # a borrow for the call: a loan in our table (a host one ends in the runtime too)
            b.i32(r.id).get(0).i32(RT_BORROW if host else BORROW).call(self._fn("add", inst))
            b.global_get(self.borrow_global)
            b.i32(1).op("i32.add")
            b.global_set(self.borrow_global)
        b.end()
        return _gen(b, ("i32",), ("i32",))

    def _dtor_guard(self, r: ResourceType) -> FuncCode:
        assert r.dtor is not None
        b = Body(["i32"])
        b.global_get(self.suppress_global)
        b.if_().op("return").end()
        b.get(0).call(self.func_index(r.dtor)).end()
        return _gen(b, ("i32",), ())

    def _push(self) -> FuncCode:
        """(value): push one i32 on the save stack."""
        b = Body(["i32"])
        m, sp = self.save_memory, b.local("i32")
        b.global_get(self.save_sp_global)
        b.tee(sp).i32(4).op("i32.add").memory_size(m).i32(16).op("i32.shl").op("i32.gt_u").if_()
        b.i32(1)
        b.memory_grow(m)
        b.i32(-1 & 0xFFFFFFFF).op("i32.eq").trap_if()
        b.end()
        b.get(sp).get(0).store("i32.store", m, 0)
        b.get(sp).i32(4).op("i32.add")
        b.global_set(self.save_sp_global)
        b.end()
        return _gen(b, ("i32",), ())

    def _lend(self) -> FuncCode:
        """(table, addr): push a lent own onto the lend stack (8 bytes per entry)."""
        b = Body(["i32", "i32"])
        m, sp = self.lend_memory, b.local("i32")
        b.global_get(self.lend_sp_global)
        b.tee(sp).i32(8).op("i32.add").memory_size(m).i32(16).op("i32.shl").op("i32.gt_u").if_()
        b.i32(1)
        b.memory_grow(m)
        b.i32(-1 & 0xFFFFFFFF).op("i32.eq").trap_if()
        b.end()
        b.get(sp).get(0).store("i32.store", m, 0)
        b.get(sp).get(1).store("i32.store", m, 4)
        b.get(sp).i32(8).op("i32.add")
        b.global_set(self.lend_sp_global)
        b.end()
        return _gen(b, ("i32", "i32"), ())

    def _end_loan(self, b: Body, t: int, addr: int) -> None:
        """Emit: num_lends -= 1 on the lender at ``addr`` of table ``t`` (locals)."""
        for k in range(len(self.tables)):
            tm = self._mem(k)
            b.get(t).i32(k).op("i32.eq").if_()
            b.get(addr).get(addr).load("i32.load", tm, 12).i32(1).op("i32.sub")
            b.store("i32.store", tm, 12)
            b.end()

    def _unlend(self) -> FuncCode:
        """(saved sp): end the loans made since ``saved``: num_lends -= 1 on each lender."""
        b = Body(["i32"])
        m, sp, t, addr = self.lend_memory, b.local("i32"), b.local("i32"), b.local("i32")
        b.global_get(self.lend_sp_global)
        b.set(sp)
        b.block().loop()
        b.get(sp).get(0).op("i32.le_u").br_if(1)
        b.get(sp).i32(8).op("i32.sub").tee(sp).load("i32.load", m, 0).set(t)
        b.get(sp).load("i32.load", m, 4).set(addr)
        self._end_loan(b, t, addr)
        b.br(0).end().end()
        b.get(0)
        b.global_set(self.lend_sp_global)
        b.end()
        return _gen(b, ("i32",), ())


def _ensure(b: Body, m: int, end: Callable[[], object]) -> None:
    """Emit: grow memory ``m`` a page at a time until it holds ``end()`` bytes."""
    b.block().loop()
    end()
    b.memory_size(m).i32(16).op("i32.shl").op("i32.le_u").br_if(1)
    b.i32(1)
    b.memory_grow(m)
    b.i32(-1 & 0xFFFFFFFF).op("i32.eq").trap_if()
    b.br(0).end().end()


def _gen(b: Body, params: tuple[CoreValType, ...], results: tuple[CoreValType, ...]) -> FuncCode:
    return FuncCode(params, results, tuple(b.locals), bytes(b.code))
