"""Stream/future ends in values passed through memory at the host boundary, beside in-module
tasks: parameters spilled to memory (more than `MAX_FLAT_PARAMS` flat values: a root export's
core function and a sync host import's lower take one pointer) and an async-lifted root
export's `task.return` value spilled the same way (WASI 0.3 exports with many parameters).

The Canonical ABI (`lift_flat_values`, `lower_flat_values`) stores such values as one tuple
of the parameter types at the pointer, so each end sits at a fixed offset from it, under the
variant cases it is in (`merge.asyncreturned.memory_places`). The host's ends a root export
takes are lowered in place there before its core code runs (the runtime wrote them; the
guest must see in-module handles). The ends a host import's parameters or a `task.return`
value hand the host are lifted in place before the runtime's built-in reads them, and the
guest's own handles are put back after it (the runtime's lift leaves guest memory as it was):
only where the runtime left them, since a host import may write its result over its
parameters. The runtime checks the pointer's alignment and bounds first and traps there, so
a bad pointer is handed on untouched (`emit_lifted_in_place`).
"""

from __future__ import annotations

from collections.abc import Callable

from pymeld.abi import types as at
from pymeld.abi.layout import MAX_FLAT_PARAMS, alignment, elem_size, flat_count
from pymeld.codec.core.emitter import Body
from pymeld.merge.asyncreturned import _LOADS, Place, memory_places

Convert = Callable[[at.Stream | at.Future], int]


def params_spilled(ft: at.FuncType) -> bool:
    """Whether ``ft``'s parameters are passed by one pointer (by a sync or async lift, or a
    sync lower: `flatten_functype`)."""
    return sum(flat_count(t) for t in ft.param_types()) > MAX_FLAT_PARAMS


def params_tuple(ft: at.FuncType) -> at.Tuple:
    """The tuple the Canonical ABI stores spilled parameters as (`lower_flat_values`)."""
    return at.Tuple(tuple(ft.param_types()))


def spilled_params(ft: at.FuncType) -> list[Place] | None:
    """The ends among ``ft``'s parameters when they are passed by pointer, by offset from it;
    [] when they are passed flat (`merge.asyncreturned.end_places` places those) or carry
    none; None when one is where its place depends on the value (a list)."""
    from pymeld.merge.asyncfuse import carried

    if not params_spilled(ft) or not any(True for t in ft.param_types() for _ in carried(t)):
        return []
    return memory_places(params_tuple(ft))


def emit_pointer_ok(b: Body, ptr: int, mem: int, t: at.ValType, count: int | None = None) -> None:
    """Emit: whether a value of ``t`` (``count``: a local holding how many, one after the
    other) at local ``ptr`` of memory ``mem`` passes the runtime's checks of its pointer
    (aligned, within the memory: `lift_flat_values`, `load_list_from_valid_range`), as an
    i32."""
    b.get(ptr).i32(alignment(t) - 1).op("i32.and").op("i32.eqz")
    b.get(ptr).op("i64.extend_i32_u")
    if count is None:
        b.i64(elem_size(t))
    else:
        b.get(count).op("i64.extend_i32_u").i64(elem_size(t)).op("i64.mul")
    b.op("i64.add")
    b.memory_size(mem).op("i64.extend_i32_u").i64(16).op("i64.shl").op("i64.gt_u")
    b.op("i32.eqz", "i32.and")


def emit_lifted_in_place(
    b: Body,
    places: list[Place],
    convert: Convert,
    ptr: int,
    mem: int,
    t: at.ValType,
    call: Callable[[], object],
) -> None:
    """Emit: each end of a value of ``t`` the guest stored at local ``ptr`` of memory
    ``mem`` replaced in place by ``convert(end type)``'s result (under the variant cases it
    is in), then ``call()`` (the runtime's built-in reading the value), then each replaced
    handle the call left as it was put back. A pointer the runtime's check rejects (not
    aligned, out of bounds) is left to it: nothing replaced."""
    ok = b.local("i32")
    emit_pointer_ok(b, ptr, mem, t)
    b.set(ok)
    kept = [(b.local("i32"), b.local("i32")) for _ in places]  # the guest's, what replaced it
    b.get(ok).if_()
    for p, (old, new) in zip(places, kept, strict=True):
        b.get(ptr).load("i32.load", mem, p.pos).tee(old).set(new)
    for p, (_, new) in zip(places, kept, strict=True):
        for off, size, case in p.when:
            b.get(ptr).load(_LOADS[size], mem, off).i32(case).op("i32.eq").if_()
        b.get(ptr).get(ptr).load("i32.load", mem, p.pos).call(convert(p.end)).tee(new)
        b.store("i32.store", mem, p.pos)
        for _ in p.when:
            b.end()
    b.end()
    call()
    b.get(ok).if_()
    for p, (old, new) in zip(places, kept, strict=True):
        b.get(ptr).load("i32.load", mem, p.pos).get(new).op("i32.eq").if_()
        b.get(ptr).get(old).store("i32.store", mem, p.pos)
        b.end()
    b.end()
