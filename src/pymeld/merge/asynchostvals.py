"""Resource handles among an async host import's values beside in-module tasks (issue 11).

An `async` lower of a host import whose parameters or results hold own/borrow handles of host
resources, in a composition with in-module tasks (`merge.asynchost` proxies its subtask). The
caller's handles live in an in-module table (`merge.asyncres` makes them in-module beside
in-module waitables), whose entries of a host resource keep the runtime's handle as their rep
(`resources.tables`); the runtime lowers and lifts the values, so each handle is translated
where the runtime would touch the caller's table:

* parameters, when the call is made (the runtime lifts them then: the host starts at once):
  an own leaves the in-module table (`out`: trap if lent, as `lift_own`); a borrow lends the
  caller's handle (own or borrow) until the subtask resolves, counted on its in-module entry
  (``num_lends``: dropping or moving it meanwhile traps, as the spec's `Subtask.add_lender`),
  a loan of the proxy's scope (`InnerTables.task_scopes`, the scope being the proxy's task
  record, taken before the call). Parameters passed in memory are rewritten for the call and
  put back after it, as at a sync host call (`resources.boundary.host_call`);
* results, when the proxy sees RETURNED (`done`, from `HostSubtasks._take` and `cancel`, before
  the caller can observe the event): the runtime stored them at the caller's result pointer
  (kept in the proxy's record), an own there is the runtime's handle, added to the caller's
  in-module table then. The runtime stored it when the host returned, which the fused module
  lets happen only in `host_wait`/`host_poll`, with no in-module work in between, so the
  caller's table is numbered as in the original; results of a call that returns at once are
  translated at once;
* the proxy's loans end when it resolves (RETURNED or cancelled), as wasmtime ends them when
  the host's task returns.

Stream/future ends among the values are handed over as at a sync host import
(`merge.asynctask.boundary_ends`, `StreamRuntime.host_lift`/`host_lower`): an end among the
parameters is lifted for the host when the call is made (wasmtime's checks, which trap alike;
the end becomes the runtime's, the in-module writer's end a proxy of its writable one); an end
among the results, stored at the result pointer, becomes an in-module readable end proxying
the runtime's when the proxy sees RETURNED, as handles do. Ends with no fixed place are
walked as the runtime's lift and lower visit them (`merge.asynclists.EndWalk`): those among
parameters in lists or passed in memory (more than 4 flat values for an async lower) are
lifted in place when the call is made, a list or parameter pointer the runtime's check
rejects left to it, and the guest's handles put back after the call (`UndoLog`: the runtime
read them then, and its lift leaves memory as it was); those in lists of the result are
lowered where the runtime wrote them, when the proxy sees RETURNED. Ends in the payload of an
end shared this way are translated at each copy (`merge.asyncnested`). A copy through such a
proxy that would wait for the host traps (its event is the runtime's: refused at run time, as
at sync host imports). Ends beside resource handles share the caller's index space with
them (`merge.asyncres`): each kind's pass frees (parameters) or takes (results) indices, so
the passes go in the order the runtime moves the entries (`_moves`). Refused when fusing
(`host_ends_problem`): error contexts, ends in fixed-length lists, payloads the runtime's
built-ins could not copy for in-module code, and ends interleaved with resource handles (an
own, an end, an own; a list of both), which no order of the two passes numbers as wasmtime
does.

The synchronous lowers of host `async func`s that `merge.asynchostsync` makes `async` are
translated here too (`_imports`): their stand-in passes its proxy's record for the loans
(`call`'s ``rec``) and takes the results in itself when the caller resumes (`keep`, `done`);
a flat result is in the proxy's record, in the task records' memory (`_memory`).

A call the runtime gives back STARTING (the host's instance cannot start it yet, which a
component standing in for the host can do with backpressure) would lift the parameters later,
from the caller's table as it is then: with handles or ends among them it traps (a run-time
refusal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymeld.abi import types as at
from pymeld.abi.layout import (
    MAX_FLAT_ASYNC_PARAMS,
    despecialize,
    flat_count,
    flatten_async_functype,
)
from pymeld.codec.core.emitter import Body
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import Builtin, DefRef, HostFunc, ResourceType
from pymeld.merge.asynctask import _ARGS, _EXACT
from pymeld.plan import FuncCode
from pymeld.resources.boundary import Walk
from pymeld.resources.tables import OWN, TASK_BORROW

if TYPE_CHECKING:
    from collections.abc import Callable

    from pymeld.merge.asyncreturned import Place
    from pymeld.merge.asynctask import TaskRuntime
    from pymeld.plan import FuncItem
    from pymeld.resources.tables import InnerTables

#: proxy record fields (in the `_ARGS` words a PENDING in-module call alone uses, after
#: `asynchost._HNEXT`): the caller's result pointer, and which import's values (1 + index into
#: `HostValues.lowers`; 0: none to translate)
_HRET = _ARGS + 4
_HKIND = _ARGS + 8
assert _HKIND + 4 <= _EXACT


def _res(h: at.Own | at.Borrow, what: str) -> ResourceType:
    r = h.resource
    assert isinstance(r, ResourceType)
    if r.host_path is None:
        raise UnsupportedFeature(f"resource `{r.name}` of the composition passed to {what}")
    return r


def host_ends_problem(ft: at.FuncType) -> str | None:
    """Why the stream/future ends among async host import ``ft``'s values cannot be handed
    over, or None."""
    from pymeld.merge.asynclists import end_types, walkable
    from pymeld.merge.asyncstream import _proxiable

    if any(isinstance(v, at.ErrorContext) for v in at.async_values(ft)):
        return "error contexts: not fused yet"
    values = [*ft.param_types(), *ft.result_type()]
    if not walkable(values):
        return "an end in a fixed-length list: not fused yet"
    if not all(_proxiable(t) for t in end_types(values)):
        return "a payload holding resource handles or ends in fixed-length lists: not fused yet"
    if at.handles(ft) and not all(len(runs) <= 2 for runs in _moves(ft)):
        return "ends interleaved with resource handles: not fused yet"
    return None


def _moves(ft: at.FuncType) -> tuple[list[str], list[str]]:
    """The kinds of caller's table entries ``ft``'s parameters and result move, in the
    Canonical ABI's order (values, fields and a list's elements in order; a variant's cases
    one after the other), runs of one kind merged: "h" a resource handle (a borrowed
    parameter moves none: it is lent), "e" a stream/future end (its payload moves at each
    copy); a list whose elements move both counts as three runs. Handles and ends share the
    caller's index space (`merge.asyncres`), so the translations must free and take indices
    in that order: with at most two runs, one kind's pass then the other's does."""

    def walk(t: at.ValType, param: bool) -> list[str]:
        if isinstance(t, at.Own | at.Borrow):
            return [] if param and isinstance(t, at.Borrow) else ["h"]
        if isinstance(t, at.Stream | at.Future):
            return ["e"]
        d = despecialize(t)
        runs = _merged([k for c in at.children(d) for k in walk(c, param)])
        if isinstance(d, at.List) and len(runs) > 1:
            return ["h", "e", "h"]  # interleaved, element by element
        return runs

    params = _merged([k for p in ft.param_types() for k in walk(p, True)])
    return params, [] if ft.result is None else walk(ft.result, False)


def _merged(kinds: list[str]) -> list[str]:
    return [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]


def _ends(ft: at.FuncType) -> tuple[list[Place], list[Place]]:
    """The ends among ``ft``'s flat parameters and in its result stored at the result
    pointer, by place (`host_ends_problem` found none it refuses); none for values walked
    instead (`_walked_params`, `_walked_result`)."""
    from pymeld.merge.asyncreturned import end_places, memory_places

    taken = [] if _walked_params(ft) else end_places(ft.param_types())
    given = [] if _walked_result(ft) or ft.result is None else memory_places(ft.result)
    assert taken is not None and given is not None
    return taken, given


def _walked_params(ft: at.FuncType) -> bool:
    """Whether the ends among ``ft``'s parameters are handed over by walking them in place
    (`merge.asynclists.EndWalk`): some sit in lists, or the parameters are passed in memory."""
    from pymeld.merge.asynclists import end_types, listed

    types = ft.param_types()
    return bool(end_types(types)) and (_spilled(ft) or listed(types))


def _walked_result(ft: at.FuncType) -> bool:
    """Whether the ends in ``ft``'s result are taken in by walking it (some sit in lists)."""
    from pymeld.merge.asynclists import listed

    return listed(ft.result_type())


def _spilled(ft: at.FuncType) -> bool:
    return sum(flat_count(t) for t in ft.param_types()) > MAX_FLAT_ASYNC_PARAMS


class HostValues:
    """Plans and emits the handle translations of `HostSubtasks`' host imports."""

    def __init__(self, rt: TaskRuntime) -> None:
        self.rt = rt
        self._tables: InnerTables | None = None  # (`plan_handles`)
        self.lowers: list[int] = []  # host subtask lowers with handles or ends to hand over
        self.done_item: FuncItem | None = None

    @property
    def tables(self) -> InnerTables:
        assert self._tables is not None, "handles among values planned with the tables"
        return self._tables

    def _ft(self, li: int) -> at.FuncType:
        callee = self.rt.g.lowers[li].callee
        assert isinstance(callee, HostFunc)
        return callee.type

    def _what(self, li: int) -> str:
        callee = self.rt.g.lowers[li].callee
        assert isinstance(callee, HostFunc)
        return f"async host import `{'/'.join(callee.path)}`"

    def _add(self, li: int) -> None:
        from pymeld.merge.asynctask import GROUP

        if not isinstance(self.rt.g.lowers[li].opts.memory, DefRef | None):
            raise UnsupportedFeature(f"{self._what(li)} lowered with an imported memory")
        if li in self.lowers:  # (its ends planned, now its handles)
            return
        self.lowers.append(li)
        self.done_item = self.rt.p.add_func(GROUP, ("host_done",), self._done)

    def plan_ends(self) -> None:
        """Plan the hand-overs of the ends among each host subtask import's values."""
        streams = self.rt.streams
        for li in self._imports():
            ft = self._ft(li)
            if not at.async_values(ft):
                continue
            assert streams is not None  # (`plan_tasks`)
            self._add(li)
            inst = self.rt.g.lowers[li].owner
            taken, given = _ends(ft)
            for p in taken:
                streams.host_lift(p.end, inst)
            for p in given:
                streams.host_lower(p.end, inst)
            if _walked_params(ft):  # lifted in place, the guest's handles put back after
                from pymeld.merge.asynclists import UndoLog, end_types

                for t in end_types(ft.param_types()):
                    streams.host_lift(t, inst)
                UndoLog.plan(self.rt)
            if _walked_result(ft):
                from pymeld.merge.asynclists import end_types

                for t in end_types(ft.result_type()):
                    streams.host_lower(t, inst)

    def plan_handles(self, tables: InnerTables) -> None:
        """Plan the translating functions of each host subtask import with handles."""
        self._tables = t = tables
        for li in self._imports():
            ft = self._ft(li)
            if not at.handles(ft):
                continue
            self._add(li)
            inst = self.rt.g.lowers[li].owner
            for p in ft.param_types():
                for h in at.handles(p):
                    if isinstance(h, at.Borrow):
                        t.task_scopes()
                    t.leaf("out", self._out_kind(h), _res(h, self._what(li)), inst)
            for h in at.handles(ft.result):
                t.leaf("in", OWN, _res(h, self._what(li)), inst)
            if _spilled(ft):
                t.push()

    def _imports(self) -> list[int]:
        """The host imports whose values may need translating: `async` lowers, and the
        synchronous lowers of `async func`s made `async` (`merge.asynchostsync`)."""
        return [*self.rt.tp.host_subtasks, *self.rt.tp.host_syncs]

    @staticmethod
    def _out_kind(h: at.Own | at.Borrow) -> int:
        return OWN if isinstance(h, at.Own) else TASK_BORROW

    def _leaf(
        self, direction: str, inst: int, li: int
    ) -> Callable[[at.Own | at.Borrow], int | None]:
        def leaf(h: at.Own | at.Borrow) -> int | None:
            kind = self._out_kind(h) if direction == "out" else OWN
            item = self.tables.leaf(direction, kind, _res(h, self._what(li)), inst)
            return None if item is None else item.index

        return leaf

    def kind(self, li: int) -> int:
        """1 + the index of ``li`` among the imports translated here; 0 when it is not."""
        return self.lowers.index(li) + 1 if li in self.lowers else 0

    def lends(self, li: int) -> bool:
        return any(
            isinstance(h, at.Borrow) for p in self._ft(li).param_types() for h in at.handles(p)
        )

    def _memory(self, li: int) -> int | None:
        from pymeld.merge.asynchostsync import in_task_memory

        lw = self.rt.g.lowers[li]
        if li in self.rt.tp.host_syncs and in_task_memory(self._ft(li)):
            return self.rt.mem("tasks")  # its flat result, in the proxy's record
        if lw.opts.memory is None:
            return None
        assert isinstance(lw.opts.memory, DefRef)  # (`plan`)
        return self.rt.memory(Builtin("lower", lw.owner, memory=lw.opts.memory))

    def _given(self, li: int) -> bool:
        """Whether import ``li``'s result holds handles or ends to take in at RETURNED."""
        r = self._ft(li).result
        return bool(at.handles(r) or at.async_values(r))

    # -- emission --------------------------------------------------------------------------------
    def call(
        self,
        b: Body,
        li: int,
        r: int,
        emit_call: Callable[[], object],
        rec: int | None = None,
        at_once: bool = True,
    ) -> int | None:
        """Emit the host import's call (``emit_call()`` sets its status in local ``r``) with
        the parameters' handles translated out of the caller's table (borrows lent to a record
        made first, or to local ``rec``'s: returned, the proxy's record to be; None when
        nothing is lent) and their ends handed to the host. With ``at_once``, a call returned
        at once has its results taken in and its loans ended, and returns (else the caller
        does that, `keep` and `done`)."""
        from pymeld.merge.asynctask import _REC, STARTING

        rt = self.rt
        ft = self._ft(li)
        core = flatten_async_functype(ft, "lower")
        n_args = len(core.params) - (1 if ft.result is not None else 0)
        pre = None
        if self.lends(li):
            if rec is None:
                pre = b.local("i32")
                b.call(rt.fn("task.new")).tee(pre)
            else:
                pre = rec
                b.get(pre)
            b.i32(_REC).op("i32.div_u").global_set(self.tables.lend_scope_global)
        afters = []
        for kind in self._order(_moves(ft)[0]):  # handles and ends, in the order they move
            if kind == "h" and at.handles(ft):
                afters.append(self._handles_out(b, li, n_args))
            elif kind == "e" and at.async_values(ft):
                afters.append(self._ends_out(b, li, core.params))
        emit_call()
        for after in afters:
            if after is not None:
                after()
        if any(at.handles(p) or at.async_values(p) for p in ft.param_types()):
            # STARTING: the runtime would lift the parameters later (a run-time refusal)
            b.get(r).i32(0xF).op("i32.and").i32(STARTING).op("i32.eq").trap_if()
        if not at_once:
            return pre
        b.get(r).i32(4).op("i32.shr_u").op("i32.eqz").if_()
        if self._given(li):
            self._results(b, li, n_args)
        if pre is not None:
            b.get(pre).i32(_REC).op("i32.div_u").call(self.tables.scope_end)
            b.get(pre).call(rt.fn("task.free"))
        b.get(r).op("return")
        b.end()
        return pre

    def _handles_out(self, b: Body, li: int, n_args: int) -> Callable[[], None] | None:
        """Emit: the parameters' handles out of the caller's table (in locals, or rewritten
        in memory); returns what to emit after the call (the memory put back), if anything."""
        t, inst, ft = self.tables, self.rt.g.lowers[li].owner, self._ft(li)
        mem, out = self._memory(li), self._leaf("out", inst, li)
        params = at.Tuple(tuple(ft.param_types()))
        if not _spilled(ft):
            i, w = 0, Walk(b, t, mem, out)
            for p in ft.param_types():
                k = flat_count(p)
                w.flat(p, list(range(i, i + k)))
                i += k
            assert i == n_args
            return None
        base = b.local("i32")
        b.global_get(t.save_sp_global).set(base)
        Walk(b, t, mem, out, "save").mem_at(params, 0, 0)

        def restore() -> None:
            w = Walk(b, t, mem, out, "restore")
            w.cursor = b.local("i32")
            b.get(base).set(w.cursor)
            w.mem_at(params, 0, 0)
            b.get(base).global_set(t.save_sp_global)

        return restore

    def _ends_out(self, b: Body, li: int, types: tuple[str, ...]) -> Callable[[], None] | None:
        """Emit: each end among the parameters handed to the host (`host_lift`): flat ones in
        their locals; those in lists or passed in memory in place, walked as the runtime's
        lift will read them (`merge.asynclists.EndWalk`; a list or parameter pointer its check
        rejects left to it). Returns what to emit after the call then: the guest's handles the
        call left in memory put back (`UndoLog`), as the runtime's lift leaves memory as it
        was."""
        from pymeld.merge.asyncreturned import emit_flat

        streams, inst, ft = self.rt.streams, self.rt.g.lowers[li].owner, self._ft(li)
        assert streams is not None or not at.async_values(ft)
        if not _walked_params(ft):
            taken, _ = _ends(ft)
            if taken:
                assert streams is not None
                emit_flat(b, taken, lambda e: streams.host_lift(e, inst).index, list(types))  # type: ignore[arg-type]
            return None
        from pymeld.merge.asynclists import EndWalk, UndoLog
        from pymeld.merge.asyncspill import emit_pointer_ok

        assert streams is not None
        mem = self._memory(li)
        assert mem is not None  # (an async lower passing lists or a pointer has a memory)
        undo = UndoLog(self.rt)
        start = undo.mark(b)
        walk = EndWalk(b, lambda e: streams.host_lift(e, inst).index, mem, undo, True)
        params = at.Tuple(tuple(ft.param_types()))
        if _spilled(ft):  # the tuple at the pointer (local 0), checked first
            emit_pointer_ok(b, 0, mem, params)
            b.if_()
            walk.stored(params, 0)
            b.end()
        else:
            walk.flat(ft.param_types(), types)  # type: ignore[arg-type]
        return lambda: undo.restore(b, mem, start)

    @staticmethod
    def _order(runs: list[str]) -> list[str]:
        """Which kind's pass goes first: the one whose entries move first (`_moves`)."""
        return runs + [k for k in ("h", "e") if k not in runs]

    def _results(self, b: Body, li: int, retptr: int) -> None:
        """Emit: the own handles the runtime stored at the result pointer (local ``retptr``)
        into the caller's table and its ends made in-module proxies (`host_lower`), in the
        order the runtime lowered them (`_moves`)."""
        ft = self._ft(li)
        assert ft.result is not None
        for kind in self._order(_moves(ft)[1]):
            if kind == "h" and at.handles(ft.result):
                into = self._leaf("in", self.rt.g.lowers[li].owner, li)
                Walk(b, self.tables, self._memory(li), into).mem_at(ft.result, retptr, 0)
            elif kind == "e" and at.async_values(ft.result):
                self._result_ends(b, li, retptr)

    def _result_ends(self, b: Body, li: int, retptr: int) -> None:
        """Emit: the ends the runtime stored at the result pointer made in-module proxies."""
        ft, inst = self._ft(li), self.rt.g.lowers[li].owner
        assert ft.result is not None
        mem = self._memory(li)
        from pymeld.merge.asyncreturned import emit_stored

        streams = self.rt.streams
        assert streams is not None and mem is not None
        if _walked_result(ft):  # the runtime wrote its lists: walked, each end lowered
            from pymeld.merge.asynclists import EndWalk

            walk = EndWalk(b, lambda e: streams.host_lower(e, inst).index, mem, None, False)
            walk.stored(ft.result, retptr)
            return
        _, given = _ends(ft)
        emit_stored(b, given, lambda e: streams.host_lower(e, inst).index, retptr, mem)

    def keep(self, b: Body, li: int, t: int, ret: int | None = None) -> None:
        """Emit: proxy record ``t`` of import ``li`` keeps what `done` needs (the result
        pointer: local ``ret``, by default the `async` lower's last parameter)."""
        k = self.kind(li)
        if not k:
            return
        m = self.rt.mem("tasks")
        if self._given(li):
            if ret is None:
                ret = len(flatten_async_functype(self._ft(li), "lower").params) - 1
            b.get(t).get(ret).store("i32.store", m, _HRET)
        b.get(t).i32(k).store("i32.store", m, _HKIND)

    def done(self, b: Body, t: int) -> None:
        """Emit, where proxy record ``t`` takes a terminal status: its results taken in
        (RETURNED) and its loans ended."""
        if self.done_item is not None:
            b.get(t).call(self.done_item.index)

    def _done(self) -> FuncCode:
        from pymeld.merge.asynctask import _REC, _STATUS, RETURNED, _gen

        m = self.rt.mem("tasks")
        b = Body(["i32"])
        kind, ret = b.local("i32"), b.local("i32")
        b.get(0).load("i32.load", m, _HKIND).set(kind)
        for k, li in enumerate(self.lowers, 1):
            b.get(kind).i32(k).op("i32.eq").if_()
            if self._given(li):
                b.get(0).load("i32.load", m, _STATUS).i32(RETURNED).op("i32.eq").if_()
                b.get(0).load("i32.load", m, _HRET).set(ret)
                self._results(b, li, ret)
                b.end()
            if self.lends(li):
                b.get(0).i32(_REC).op("i32.div_u").call(self.tables.scope_end)
            b.end()
        b.end()
        return _gen(b, ("i32",), ())
