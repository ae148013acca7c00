"""Stream/future ends an async-lifted root export returns to the host through `task.return`,
beside in-module tasks (issue 11, WASI 0.3's `func() -> stream<u8>` and
`func() -> tuple<stream<u8>, future<result<_, error-code>>>` shapes).

Once async calls between former instances run as in-module tasks, every end is an in-module
object (`merge.asyncstream`). A root export lifted `async` hands its results to the host by
calling the runtime's `task.return`, which lifts each end from the runtime's table
(`lift_stream`/`lift_future` of the Canonical ABI, wasmtime's `lift_index_to_transmit`). So
the root instance's `task.return` gets a stand-in (`returned_ends_return`) that first lifts
each end among its flat parameters as a sync root export's result is
(`StreamRuntime.host_lift`: wasmtime's checks, which trap as its lift does, then the end
becomes the runtime's with the in-module writer proxying its writable end), then calls the
runtime's `task.return` with the runtime's handles. The stand-in serves only the host's task:
a task of the same instance started by an adapter returns in-module (`_root_return` and
`TaskRuntime._task_return` tell them apart by the current in-module task).

The ends such an export takes from the host are lowered as the call starts
(`asyncroot.export_code`), as a sync root export's are (`StreamRuntime.host_lower`: in-module
proxies of the runtime's ends).

Fused: ends at fixed flat positions of `task.return`'s parameters (the result itself, or
inside tuples and records of it) and of the export's core parameters, their payload one
`host_lift` can proxy. Refused when fusing: ends under a variant, option, result or list
(their place depends on the value), and parameters or a result spilled to memory (more than
16 flat values).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from pymeld.abi import types as at
from pymeld.abi.layout import MAX_FLAT_PARAMS, flat_count
from pymeld.codec.core.emitter import Body
from pymeld.graph.model import Lifted
from pymeld.plan import FuncCode, FuncItem

if TYPE_CHECKING:
    from pymeld.merge.asynctask import TaskRuntime

GROUP = "async"

FlatEnds = list[tuple[int, "at.Stream | at.Future"]]


def flat_ends(types: list[at.ValType]) -> FlatEnds | None:
    """The stream/future ends values of ``types`` carry, flattened one after the other, by
    flat index; None when one sits where its flat index depends on the value (under a variant,
    option, result or list) or is an error-context."""
    from pymeld.merge.asyncfuse import carried

    out: FlatEnds = []
    k = 0

    def walk(t: at.ValType) -> bool:
        nonlocal k
        if isinstance(t, at.Stream | at.Future):
            out.append((k, t))
            k += 1
            return True
        if isinstance(t, at.Record | at.Tuple):
            return all(walk(c) for c in at.children(t))
        if any(True for _ in carried(t)):
            return False
        k += flat_count(t)
        return True

    return out if all(walk(t) for t in types) else None


def returned_ends(lf: Lifted) -> FlatEnds | None:
    """The ends root export ``lf``, lifted `async`, returns through `task.return` (by flat
    index of its parameters), when `async_root_ends` fuses its ends."""
    ends = async_root_ends(lf)
    return None if ends is None else ends[1]


def async_root_ends(lf: Lifted) -> tuple[FlatEnds, FlatEnds] | None:
    """The ends root export ``lf``, lifted `async`, takes (by flat index of its core
    parameters: the host's, lowered as the call starts) and returns (by flat index of its
    `task.return`'s parameters), when it passes any and this module fuses them all: each at
    a fixed flat position, neither the parameters nor the result spilled to memory."""
    from pymeld.merge.asyncfuse import carried

    if not lf.opts.is_async or not any(True for _ in carried(lf.type)):
        return None
    params = lf.type.param_types()
    spilled = sum(flat_count(p) for p in params) > MAX_FLAT_PARAMS  # passed by pointer
    if spilled and any(True for p in params for _ in carried(p)):
        return None
    taken = flat_ends(params)
    r = lf.type.result
    returned: FlatEnds | None = []
    if r is not None and any(True for _ in carried(r)):
        returned = flat_ends([r]) if flat_count(r) <= MAX_FLAT_PARAMS else None
    if taken is None or returned is None:
        return None
    return taken, returned


def plan_returned_ends(rt: TaskRuntime, exported: list[Lifted]) -> dict[int, FuncItem]:
    """Stand-ins for the `task.return` built-ins of root instances whose async-lifted exports
    return ends (`returned_ends`), by built-in; their `host_lift`s planned, and the
    `host_lower`s of the ends such exports take (`asyncroot.export_code`)."""
    assert rt.streams is not None
    for lf in exported:
        both = async_root_ends(lf)
        for _, t in both[0] if both is not None else []:
            rt.streams.host_lower(t, lf.owner)
    insts = {lf.owner for lf in exported if returned_ends(lf)}
    out: dict[int, FuncItem] = {}
    for bi, b in enumerate(rt.g.builtins):
        if b.op != "task.return" or b.owner not in insts or b.result is None:
            continue
        ends = flat_ends([b.result])
        if not ends or flat_count(b.result) > MAX_FLAT_PARAMS:
            continue  # no end to hand over (or a shape no root export of it returns)
        for _, t in ends:
            rt.streams.host_lift(t, b.owner)
        out[bi] = rt.p.add_func(GROUP, ("returned-ends", bi), partial(_emit, rt, bi, ends))
    return out


def _emit(rt: TaskRuntime, bi: int, ends: FlatEnds) -> FuncCode:
    """The runtime's `task.return` with each end among the parameters lifted for the host
    first (`StreamRuntime.host_lift`, in order, as the runtime's lift visits them)."""
    from pymeld.merge.asyncfuse import _sig
    from pymeld.merge.asynctask import _gen

    assert rt.streams is not None and rt.host_builtin is not None
    owner = rt.g.builtins[bi].owner
    params, results = _sig(rt.g.builtins[bi])
    b = Body(list(params))
    for k, t in ends:
        b.get(k).call(rt.streams.host_lift(t, owner).index).set(k)
    b.forward_args().call(rt.host_builtin(bi)).end()
    return _gen(b, params, results)


def check_returned_proxiable(ends: FlatEnds, what: str) -> None:
    """Refuse ends ``what`` returns whose payload the runtime's built-ins could not copy for
    in-module code (`asyncstream._proxiable`)."""
    from pymeld.errors import UnsupportedFeature
    from pymeld.merge.asyncstream import _proxiable

    for _, t in ends:
        if not _proxiable(t):
            raise UnsupportedFeature(
                f"stream/future returned by {what} beside in-module async tasks whose payload "
                "holds resource handles or ends (the runtime's copy of them would not reach "
                "in-module tables)"
            )


MemoryEnds = list[tuple[int, "at.Stream | at.Future"]]


def memory_ends(t: at.ValType, base: int = 0) -> MemoryEnds | None:
    """The stream/future ends a value of ``t`` stored at offset ``base`` carries, by offset;
    None when one sits where its offset depends on the value (under a variant, option,
    result or list) or is an error-context."""
    from pymeld.abi.layout import despecialize, field_offsets
    from pymeld.merge.asyncfuse import carried

    if isinstance(t, at.Stream | at.Future):
        return [(base, t)]
    d = despecialize(t)
    if isinstance(d, at.Record):
        out: MemoryEnds = []
        for off, (_, ft) in zip(field_offsets(d.fields), d.fields, strict=True):
            inner = memory_ends(ft, base + off)
            if inner is None:
                return None
            out += inner
        return out
    return None if any(True for _ in carried(t)) else []


def spilled_ends(ft: at.FuncType) -> MemoryEnds | None:
    """The ends in ``ft``'s result when it is returned through memory (more than one flat
    value: a lift's returned pointer, a lower's result pointer), by offset from that pointer;
    [] when it carries none or is flat, None when one's offset depends on the value."""
    from pymeld.abi.layout import MAX_FLAT_RESULTS
    from pymeld.merge.asyncfuse import carried

    r = ft.result
    if r is None or not any(True for _ in carried(r)):
        return []
    if flat_count(r) <= MAX_FLAT_RESULTS:
        return [] if isinstance(r, at.Stream | at.Future) else None
    return memory_ends(r)
