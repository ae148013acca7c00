"""Stream/future ends crossing the host boundary inside values, beside in-module tasks: those
an async-lifted root export returns through `task.return` or takes, and those in a sync
call's result returned through memory (issue 11; WASI 0.3's `func() -> stream<u8>`,
`read-via-stream: func() -> tuple<stream<u8>, future<result<_, error-code>>>`,
`func(s: stream<u8>) -> future<u32>`).

Once async calls between former instances run as in-module tasks, every end is an in-module
object (`merge.asyncstream`). A root export lifted `async` hands its results to the host by
calling the runtime's `task.return`, which lifts each end from the runtime's table
(`lift_stream`/`lift_future` of the Canonical ABI, wasmtime's `lift_index_to_transmit`). So
the root instance's `task.return` gets a stand-in (`plan_returned_ends`) that first lifts
each end among its flat parameters as a sync root export's result is
(`StreamRuntime.host_lift`: wasmtime's checks, which trap as its lift does, then the end
becomes the runtime's with the in-module writer proxying its writable end), then calls the
runtime's `task.return` with the runtime's handles. The stand-in serves only the host's task:
a task of the same instance started by an adapter returns in-module (`_root_return` and
`TaskRuntime._task_return` tell them apart by the current in-module task). The ends such an
export takes from the host are lowered as the call starts (`asyncroot.export_code`), as a
sync root export's are (`StreamRuntime.host_lower`: in-module proxies of the runtime's ends).
A sync call's result returned through memory (`spilled_ends`) has its ends handed over in
place: a sync root export's at the pointer its core function returns, a sync host import's
at the result pointer its lower passes (`merge.asynctask`).

Where an end sits is a `Place`: a flat index or byte offset, and the variant cases it is
under (an option's `some`, a result's `ok`), so only the case the value holds is handed over
(`emit_flat`, `emit_stored`); a bad discriminant is left to the runtime's lift, which traps.
Parameters and `task.return` values spilled to memory (more than 16 flat values) have theirs
handed over in place at their pointer (`merge.asyncspill`). Ends in lists have no place (their
number depends on the value): the value is walked instead (`merge.asynclists`). Refused when
fusing: payloads the runtime's built-ins could not copy for in-module code
(`check_returned_proxiable`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from pymeld.abi import types as at
from pymeld.abi.layout import MAX_FLAT_PARAMS, elem_size, flat_count
from pymeld.codec.core.emitter import Body, CoreValType
from pymeld.graph.model import Lifted
from pymeld.plan import FuncCode, FuncItem

if TYPE_CHECKING:
    from pymeld.graph.model import Builtin
    from pymeld.merge.asynctask import TaskRuntime

GROUP = "async"

FlatEnds = list[tuple[int, "at.Stream | at.Future"]]
_LOADS = {1: "i32.load8_u", 2: "i32.load16_u", 4: "i32.load"}


class Place(NamedTuple):
    """Where an end sits: its flat index in a flattened value, or its byte offset from where
    a value is stored; ``when`` the variant cases it is under, outermost first: (the
    discriminant's flat index or offset, its byte size (0 for a flat value), the case)."""

    pos: int
    end: at.Stream | at.Future
    when: tuple[tuple[int, int, int], ...] = ()


def end_places(types: list[at.ValType]) -> list[Place] | None:
    """The stream/future ends values of ``types`` carry, flattened one after the other (in
    tuples, records, and the cases of variants, options and results); None when one is in
    a list (its place depends on the value) or an error-context is."""
    from pymeld.abi.layout import despecialize
    from pymeld.merge.asyncfuse import carried

    out: list[Place] = []

    def walk(t: at.ValType, k: int, when: tuple[tuple[int, int, int], ...]) -> bool:
        if isinstance(t, at.Stream | at.Future):
            out.append(Place(k, t, when))
            return True
        if not any(True for _ in carried(t)):
            return True
        d = despecialize(t)
        if isinstance(d, at.Record):
            for _, ft in d.fields:
                if not walk(ft, k, when):
                    return False
                k += flat_count(ft)
            return True
        if isinstance(d, at.Variant):  # each case's payload flattened after the discriminant
            return all(
                ct is None or walk(ct, k + 1, (*when, (k, 0, i)))
                for i, (_, ct) in enumerate(d.cases)
            )
        return False

    k = 0
    for t in types:
        if not walk(t, k, ()):
            return None
        k += flat_count(t)
    return out


def flat_ends(types: list[at.ValType]) -> FlatEnds | None:
    """`end_places` of ends at fixed flat positions (none under a variant), by flat index;
    None for any other."""
    places = end_places(types)
    if places is None or any(p.when for p in places):
        return None
    return [(p.pos, p.end) for p in places]


def memory_places(t: at.ValType, base: int = 0) -> list[Place] | None:
    """The stream/future ends a value of ``t`` stored at offset ``base`` carries, by offset
    (in tuples, records, and the cases of variants, options and results); None when one is
    in a list or an error-context is."""
    from pymeld.abi.layout import despecialize, discriminant_type, field_offsets, payload_offset
    from pymeld.merge.asyncfuse import carried

    def walk(t: at.ValType, off: int, when: tuple[tuple[int, int, int], ...]) -> list[Place] | None:
        if isinstance(t, at.Stream | at.Future):
            return [Place(off, t, when)]
        if not any(True for _ in carried(t)):
            return []
        d = despecialize(t)
        parts: list[list[Place] | None] = []
        if isinstance(d, at.Record):
            offsets = field_offsets(d.fields)
            parts = [walk(ft, off + o, when) for o, (_, ft) in zip(offsets, d.fields, strict=True)]
        elif isinstance(d, at.Variant):
            size, pay = elem_size(discriminant_type(d.cases)), payload_offset(d.cases)
            parts = [
                walk(ct, off + pay, (*when, (off, size, i)))
                for i, (_, ct) in enumerate(d.cases)
                if ct is not None
            ]
        else:
            return None
        out: list[Place] = []
        for part in parts:
            if part is None:
                return None
            out += part
        return out

    return walk(t, base, ())


def spilled_ends(ft: at.FuncType) -> list[Place] | None:
    """The ends in ``ft``'s result when it is returned through memory (more than one flat
    value: a lift's returned pointer, a lower's result pointer), by offset from that pointer;
    [] when it carries none or is one end (flat), None when it cannot be handed over."""
    from pymeld.abi.layout import MAX_FLAT_RESULTS
    from pymeld.merge.asyncfuse import carried

    r = ft.result
    if r is None or not any(True for _ in carried(r)):
        return []
    if flat_count(r) <= MAX_FLAT_RESULTS:
        return [] if isinstance(r, at.Stream | at.Future) else None
    return memory_places(r)


def _flat_i32(b: Body, k: int, types: Sequence[CoreValType]) -> None:
    """Emit: flat value ``k`` (of core type ``types[k]``, i32 or a variant's joined i64) as
    an i32."""
    b.get(k)
    if types[k] == "i64":
        b.op("i32.wrap_i64")


def emit_flat(
    b: Body,
    places: list[Place],
    convert: Callable[[at.Stream | at.Future], int],
    types: Sequence[CoreValType],
) -> None:
    """Emit, for each end among flat values ``types`` (locals 0..), under the variant cases
    it is in: the local replaced by ``convert(end type)``'s result for it."""
    for p in places:
        for k, _, case in p.when:
            _flat_i32(b, k, types)
            b.i32(case).op("i32.eq").if_()
        _flat_i32(b, p.pos, types)
        b.call(convert(p.end))
        if types[p.pos] == "i64":
            b.op("i64.extend_i32_u")
        b.set(p.pos)
        for _ in p.when:
            b.end()


def emit_stored(
    b: Body,
    places: list[Place],
    convert: Callable[[at.Stream | at.Future], int],
    ptr: int,
    mem: int,
) -> None:
    """Emit, for each end of a value stored at local ``ptr`` of memory ``mem``, under the
    variant cases it is in: the stored handle replaced by ``convert(end type)``'s result."""
    for p in places:
        for off, size, case in p.when:
            b.get(ptr).load(_LOADS[size], mem, off).i32(case).op("i32.eq").if_()
        b.get(ptr).get(ptr).load("i32.load", mem, p.pos).call(convert(p.end))
        b.store("i32.store", mem, p.pos)
        for _ in p.when:
            b.end()


def returned_ends(lf: Lifted) -> list[Place] | None:
    """The ends root export ``lf``, lifted `async`, returns through `task.return` (by flat
    index of its parameters), when `async_root_ends` fuses its ends."""
    ends = async_root_ends(lf)
    return None if ends is None else ends[1]


def async_root_ends(lf: Lifted) -> tuple[list[Place], list[Place]] | None:
    """The ends root export ``lf``, lifted `async`, takes (by flat index of its core
    parameters, or by offset from their pointer when they are passed through memory:
    `merge.asyncspill`; the host's, lowered as the call starts) and returns (by flat index of
    its `task.return`'s parameters, or by offset from its pointer), when it passes any and
    this module fuses them all. Those in lists have no place: walked (`merge.asynclists`),
    the parameters' by `lower_walked`, the result's by `task.return`'s stand-in."""
    from pymeld.merge.asyncfuse import carried
    from pymeld.merge.asynclists import listed, walkable
    from pymeld.merge.asyncspill import params_spilled, spilled_params

    if not lf.opts.is_async or not any(True for _ in carried(lf.type)):
        return None
    params = lf.type.param_types()
    if not walkable([*params, *lf.type.result_type()]):
        return None
    taken: list[Place] | None = []
    if not listed(params):
        taken = spilled_params(lf.type) if params_spilled(lf.type) else end_places(params)
    r = lf.type.result
    returned: list[Place] | None = []
    if r is not None and any(True for _ in carried(r)) and not listed([r]):
        returned = end_places([r]) if flat_count(r) <= MAX_FLAT_PARAMS else memory_places(r)
    if taken is None or returned is None:
        return None
    return taken, returned


def plan_returned_ends(rt: TaskRuntime, exported: list[Lifted]) -> dict[int, FuncItem]:
    """Stand-ins for the `task.return` built-ins of root instances whose async-lifted exports
    return ends (`returned_ends`), by built-in; their `host_lift`s planned, and the
    `host_lower`s of the ends such exports take (`asyncroot.export_code`)."""
    from pymeld.merge.asynclists import UndoLog, end_types, listed

    assert rt.streams is not None
    insts: set[int] = set()
    for lf in exported:
        both = async_root_ends(lf)
        if both is None:
            continue
        params = lf.type.param_types()
        for t in end_types(params) if listed(params) else [p.end for p in both[0]]:
            rt.streams.host_lower(t, lf.owner)
        if both[1] or listed(lf.type.result_type()):
            insts.add(lf.owner)
    out: dict[int, FuncItem] = {}
    for bi, b in enumerate(rt.g.builtins):
        if b.op != "task.return" or b.owner not in insts or b.result is None:
            continue
        if listed([b.result]):  # walked, lifted in place, put back after (`merge.asynclists`)
            for t in end_types([b.result]):
                rt.streams.host_lift(t, b.owner)
            UndoLog.plan(rt)
            out[bi] = rt.p.add_func(GROUP, ("returned-ends", bi), partial(_emit_walked, rt, bi))
            continue
        stored = flat_count(b.result) > MAX_FLAT_PARAMS  # passed by pointer
        places = memory_places(b.result) if stored else end_places([b.result])
        if not places:
            continue  # no end to hand over (or a shape no root export of it returns)
        for p in places:
            rt.streams.host_lift(p.end, b.owner)
        emit = _emit_stored if stored else _emit
        out[bi] = rt.p.add_func(GROUP, ("returned-ends", bi), partial(emit, rt, bi, places))
    return out


def _emit(rt: TaskRuntime, bi: int, places: list[Place]) -> FuncCode:
    """The runtime's `task.return` with each end among the parameters lifted for the host
    first (`StreamRuntime.host_lift`, in order, as the runtime's lift visits them)."""
    from pymeld.merge.asyncfuse import _sig
    from pymeld.merge.asynctask import _gen

    streams, host = rt.streams, rt.host_builtin
    assert streams is not None and host is not None
    owner = rt.g.builtins[bi].owner
    params, results = _sig(rt.g.builtins[bi])
    b = Body(list(params))
    emit_flat(b, places, lambda t: streams.host_lift(t, owner).index, list(params))
    b.forward_args().call(host(bi)).end()
    return _gen(b, params, results)


def _emit_stored(rt: TaskRuntime, bi: int, places: list[Place]) -> FuncCode:
    """The runtime's `task.return` of a value passed through memory, with each end in it
    lifted for the host in place first, the guest's handles put back after
    (`merge.asyncspill.emit_lifted_in_place`)."""
    from pymeld.merge.asyncspill import emit_lifted_in_place

    def emit(b: Body, bt: Builtin, params: list[CoreValType], mem: int, lift, call) -> None:
        assert bt.result is not None
        emit_lifted_in_place(b, places, lift, 0, mem, bt.result, call)

    return _lifting_return(rt, bi, emit)


def _emit_walked(rt: TaskRuntime, bi: int) -> FuncCode:
    """The runtime's `task.return` of a value with ends in lists, each lifted for the host in
    place first, the guest's handles put back after (`merge.asynclists.lift_walked`)."""
    from pymeld.merge.asynclists import lift_walked

    def emit(b: Body, bt: Builtin, params: list[CoreValType], mem: int, lift, call) -> None:
        assert bt.result is not None
        lift_walked(rt, b, [bt.result], params, lift, mem, call)

    return _lifting_return(rt, bi, emit)


def _lifting_return(rt: TaskRuntime, bi: int, emit: Callable[..., None]) -> FuncCode:
    """The stand-in of the runtime's `task.return` ``bi`` whose value ``emit`` lifts for the
    host in the guest's memory around the runtime's call (``emit(body, built-in, params,
    memory, lift, call)``: ``lift`` gives an end's stand-in, ``call`` emits the call)."""
    from pymeld.graph.model import Builtin
    from pymeld.merge.asyncfuse import _sig
    from pymeld.merge.asynctask import _gen

    streams, host = rt.streams, rt.host_builtin
    bt = rt.g.builtins[bi]
    assert streams is not None and host is not None and bt.result is not None
    assert bt.opts is not None
    mem = rt.memory(Builtin("lift", bt.owner, memory=bt.opts.memory))  # type: ignore[arg-type]
    params, results = _sig(bt)
    b = Body(list(params))
    emit(
        b,
        bt,
        list(params),
        mem,
        lambda t: streams.host_lift(t, bt.owner).index,
        lambda: b.forward_args().call(host(bi)),
    )
    b.end()
    return _gen(b, params, results)


def check_returned_proxiable(places: list[Place], what: str) -> None:
    """Refuse ends ``what`` passes whose payload the runtime's built-ins could not copy for
    in-module code (`asyncstream._proxiable`)."""
    from pymeld.errors import UnsupportedFeature
    from pymeld.merge.asyncstream import _proxiable

    for p in places:
        if not _proxiable(p.end):
            raise UnsupportedFeature(
                f"stream/future passed by {what} beside in-module async tasks whose payload "
                "holds resource handles or ends in fixed-length lists (the runtime's copy of "
                "them would not reach in-module tables)"
            )
