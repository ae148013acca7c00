"""Stream/future ends inside lists at the host boundary, beside in-module tasks (`list<stream<u8>>`,
`list<tuple<string, future<u32>>>` as a root export's parameter or result, an async root's
`task.return` value, a sync host import's parameter or result).

An end in a list has no fixed place (`merge.asyncreturned.end_places` refuses it): the list is
in linear memory, so the hand-over walks it (`EndWalk`), each element's ends converted in place
as the Canonical ABI visits them (`lift_flat_values`/`lower_flat_values`: values in order,
a list's elements in order, a variant's one case). Those the host hands in (a root export's
parameters, a host import's result) were written by the runtime, which checked them; those
handed to the host (a host import's parameters, a root's `task.return` value or a sync root
export's result) come from the guest: a list the runtime's lift would reject (not aligned,
out of bounds) is left to that check (walked no further), as are bad discriminants. The
guest's handles replaced in a value the runtime only reads are put back after it (`UndoLog`:
a private memory of (address, guest's handle, runtime's handle), restored where the runtime
left the slot as it was), since the runtime's lift leaves guest memory as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pymeld.abi import types as at
from pymeld.abi.layout import (
    despecialize,
    discriminant_type,
    elem_size,
    field_offsets,
    flat_count,
    payload_offset,
)
from pymeld.codec.core.emitter import Body, CoreValType
from pymeld.merge.asyncreturned import _LOADS

if TYPE_CHECKING:
    from pymeld.graph.model import Lifted
    from pymeld.merge.asynctask import TaskRuntime

GROUP = "async"

Convert = Callable[[at.Stream | at.Future], int]


def _carries(t: at.ValType) -> bool:
    from pymeld.merge.asyncfuse import carried

    return any(True for _ in carried(t))


def listed(types: Sequence[at.ValType]) -> bool:
    """Whether an end among values of ``types`` sits inside a list (`EndWalk` hands it over)."""

    def walk(t: at.ValType, in_list: bool) -> bool:
        if isinstance(t, at.Stream | at.Future):
            return in_list
        if not _carries(t):
            return False
        d = despecialize(t)
        if isinstance(d, at.List):
            return walk(d.elem, True)
        return any(walk(c, in_list) for c in at.children(d))

    return any(walk(t, False) for t in types)


def walkable(types: Sequence[at.ValType]) -> bool:
    """Whether `EndWalk` reaches every end values of ``types`` carry: none is an error-context
    or in a fixed-length list."""

    def walk(t: at.ValType) -> bool:
        if isinstance(t, at.ErrorContext):
            return False
        if isinstance(t, at.Stream | at.Future) or not _carries(t):
            return True
        d = despecialize(t)
        if isinstance(d, at.List) and d.fixed_len is not None:
            return False
        return all(walk(c) for c in at.children(d))

    return all(walk(t) for t in types)


def end_types(types: Sequence[at.ValType]) -> list[at.Stream | at.Future]:
    """The types of the ends values of ``types`` carry (their hand-overs are planned ahead)."""
    from pymeld.merge.asyncfuse import carried

    return [v for t in types for v in carried(t) if isinstance(v, at.Stream | at.Future)]


class UndoLog:
    """The guest's handles an in-place lift replaced, put back after the runtime read them:
    (address, guest's handle, replacing handle) records on a stack in a private memory."""

    def __init__(self, rt: TaskRuntime) -> None:
        self.rt = rt

    @staticmethod
    def plan(rt: TaskRuntime) -> None:
        """Plan the log's memory and stack top (once)."""
        from pymeld.plan import Space

        if rt.p.find(Space.MEMORY, GROUP, "undo") is None:
            rt.p.add_memory(GROUP, "undo")
            rt.p.add_global(GROUP, "undo_top")

    def push(self, b: Body, addr: int, old: int, new: int) -> None:
        """Emit: a record of the slot at local ``addr``, which held ``old`` and now ``new``."""
        from pymeld.merge.asynctask import _grow

        m, top = self.rt.mem("undo"), self.rt.glob("undo_top")
        _grow(b, m, lambda: b.global_get(top).i32(12).op("i32.add"))
        b.global_get(top).get(addr).store("i32.store", m, 0)
        b.global_get(top).get(old).store("i32.store", m, 4)
        b.global_get(top).get(new).store("i32.store", m, 8)
        b.global_get(top).i32(12).op("i32.add").global_set(top)

    def mark(self, b: Body) -> int:
        """Emit: the stack's top into a new local (where this hand-over's records start)."""
        start = b.local("i32")
        b.global_get(self.rt.glob("undo_top")).set(start)
        return start

    def restore(self, b: Body, mem: int, start: int) -> None:
        """Emit: each record since ``start``, latest first, put back in memory ``mem`` where
        the slot still holds the replacing handle; the stack back to ``start``."""
        m, top = self.rt.mem("undo"), self.rt.glob("undo_top")
        addr = b.local("i32")
        b.block().loop()
        b.global_get(top).get(start).op("i32.le_u").br_if(1)
        b.global_get(top).i32(12).op("i32.sub").global_set(top)
        b.global_get(top).load("i32.load", m, 0).set(addr)
        b.get(addr).load("i32.load", mem, 0).global_get(top).load("i32.load", m, 8)
        b.op("i32.eq").if_()
        b.get(addr).global_get(top).load("i32.load", m, 4).store("i32.store", mem, 0)
        b.end()
        b.br(0).end().end()


class EndWalk:
    """Emits the hand-over of every end of a value, lists included: each replaced by
    ``convert(end type)``'s result (a function (i32) -> i32), in the Canonical ABI's order.
    ``mem`` is the memory the value's lists (and a stored value) are in; ``undo`` records what
    was replaced in memory; ``guard`` leaves lists the runtime would reject to its check."""

    def __init__(
        self, b: Body, convert: Convert, mem: int, undo: UndoLog | None, guard: bool
    ) -> None:
        self.b, self.convert, self.mem, self.undo, self.guard = b, convert, mem, undo, guard

    def flat(self, types: Sequence[at.ValType], core: Sequence[CoreValType]) -> None:
        """Values of ``types`` flattened in locals 0.. (of core types ``core``)."""
        k = 0
        for t in types:
            self._flat(t, k, core)
            k += flat_count(t)

    def _i32(self, k: int, core: Sequence[CoreValType]) -> None:
        self.b.get(k)
        if core[k] == "i64":
            self.b.op("i32.wrap_i64")

    def _flat(self, t: at.ValType, k: int, core: Sequence[CoreValType]) -> None:
        b = self.b
        if isinstance(t, at.Stream | at.Future):
            self._i32(k, core)
            b.call(self.convert(t))
            if core[k] == "i64":
                b.op("i64.extend_i32_u")
            b.set(k)
            return
        if not _carries(t):
            return
        d = despecialize(t)
        if isinstance(d, at.Record):
            for _, ft in d.fields:
                self._flat(ft, k, core)
                k += flat_count(ft)
        elif isinstance(d, at.Variant):
            for i, (_, ct) in enumerate(d.cases):
                if ct is not None and _carries(ct):
                    self._i32(k, core)
                    b.i32(i).op("i32.eq").if_()
                    self._flat(ct, k + 1, core)
                    b.end()
        else:
            assert isinstance(d, at.List) and d.fixed_len is None
            ptr, n = b.local("i32"), b.local("i32")
            self._i32(k, core)
            b.set(ptr)
            self._i32(k + 1, core)
            b.set(n)
            self.elements(d.elem, ptr, n)

    def stored(self, t: at.ValType, base: int, off: int = 0) -> None:
        """A value of ``t`` stored at local ``base`` plus ``off``."""
        b, mem = self.b, self.mem
        if isinstance(t, at.Stream | at.Future):
            old, new = b.local("i32"), b.local("i32")
            b.get(base).load("i32.load", mem, off).tee(old).call(self.convert(t)).set(new)
            b.get(base).get(new).store("i32.store", mem, off)
            if self.undo is not None:
                addr = b.local("i32")
                b.get(base).i32(off).op("i32.add").set(addr)
                self.undo.push(b, addr, old, new)
            return
        if not _carries(t):
            return
        d = despecialize(t)
        if isinstance(d, at.Record):
            for o, (_, ft) in zip(field_offsets(d.fields), d.fields, strict=True):
                self.stored(ft, base, off + o)
        elif isinstance(d, at.Variant):
            size, pay = elem_size(discriminant_type(d.cases)), payload_offset(d.cases)
            for i, (_, ct) in enumerate(d.cases):
                if ct is not None and _carries(ct):
                    b.get(base).load(_LOADS[size], mem, off).i32(i).op("i32.eq").if_()
                    self.stored(ct, base, off + pay)
                    b.end()
        else:
            assert isinstance(d, at.List) and d.fixed_len is None
            ptr, n = b.local("i32"), b.local("i32")
            b.get(base).load("i32.load", mem, off).set(ptr)
            b.get(base).load("i32.load", mem, off + 4).set(n)
            self.elements(d.elem, ptr, n)

    def elements(self, elem: at.ValType, ptr: int, n: int) -> None:
        """The elements of a list of ``n`` ``elem``s at ``ptr`` (locals), one after the other;
        with ``guard``, not at all where the runtime's lift traps (`load_list_from_valid_range`:
        not aligned, past the memory's end)."""
        b, size = self.b, elem_size(elem)
        end = b.local("i32")
        if self.guard:
            from pymeld.merge.asyncspill import emit_pointer_ok

            emit_pointer_ok(b, ptr, self.mem, elem, n)
            b.if_()
        b.get(ptr).get(n).i32(size).op("i32.mul", "i32.add").set(end)
        b.block().loop()
        b.get(ptr).get(end).op("i32.ge_u").br_if(1)
        self.stored(elem, ptr)
        b.get(ptr).i32(size).op("i32.add").set(ptr)
        b.br(0).end().end()
        if self.guard:
            b.end()


def check_proxiable(types: Sequence[at.ValType], what: str) -> None:
    """Refuse ends among values of ``types`` that ``what`` hands over whose payload the
    runtime's built-ins could not copy for in-module code (`asyncstream._proxiable`)."""
    from pymeld.errors import UnsupportedFeature
    from pymeld.merge.asyncstream import _proxiable

    for t in end_types(types):
        if not _proxiable(t):
            raise UnsupportedFeature(
                f"stream/future passed by {what} beside in-module async tasks whose payload "
                "holds resource handles or ends in fixed-length lists (the runtime's copy of "
                "them would not reach in-module tables)"
            )


def lift_walked(
    rt: TaskRuntime,
    b: Body,
    types: Sequence[at.ValType],
    core: Sequence[CoreValType],
    convert: Convert,
    mem: int,
    call: Callable[[], object],
) -> None:
    """Emit: the ends of values of ``types`` the guest passes (flat in locals 0.., of core
    types ``core``, or stored at the pointer in local 0 when spilled) lifted in place, lists
    walked; ``call()`` (the runtime's built-in reading them); then the guest's handles the
    call left put back (`UndoLog`)."""
    from pymeld.abi.layout import MAX_FLAT_PARAMS
    from pymeld.merge.asyncspill import emit_pointer_ok

    undo = UndoLog(rt)
    start = undo.mark(b)
    walk = EndWalk(b, convert, mem, undo, True)
    if sum(flat_count(t) for t in types) > MAX_FLAT_PARAMS:  # by pointer: checked first
        tup = at.Tuple(tuple(types))
        emit_pointer_ok(b, 0, mem, tup)
        b.if_()
        walk.stored(tup, 0)
        b.end()
    else:
        walk.flat(types, core)
    call()
    undo.restore(b, mem, start)


def lower_walked(rt: TaskRuntime, b: Body, lf: Lifted, core: Sequence[CoreValType]) -> None:
    """Emit, as root export ``lf``'s call starts: the host's ends among its parameters, when
    some are in lists, lowered in place (the runtime wrote them: flat in locals 0.., or at the
    pointer in local 0 when spilled)."""
    from pymeld.graph.model import Builtin
    from pymeld.merge.asyncspill import params_spilled, params_tuple

    types, streams = lf.type.param_types(), rt.streams
    if streams is None or not listed(types):
        return
    mem = rt.memory(Builtin("lift", lf.owner, memory=lf.opts.memory))  # type: ignore[arg-type]
    walk = EndWalk(b, lambda t: streams.host_lower(t, lf.owner).index, mem, None, False)
    if params_spilled(lf.type):
        walk.stored(params_tuple(lf.type), 0)
    else:
        walk.flat(types, core)
