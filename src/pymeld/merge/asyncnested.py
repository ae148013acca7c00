"""Ends inside the payload of a stream or future shared with the host, beside in-module tasks
(`future<stream<u8>>`, `stream<future<u32>>`): the runtime copies such elements itself, so each
copied end must be translated between the runtime's table and the in-module tables.

An end shared with the host has its copies done by the runtime's own built-in on the guest's
buffer (`asyncstream._proxied_copy`). A write of in-module ends to the host's reader: each end
in the buffer is lifted for the host first (`StreamRuntime.host_lift`: wasmtime's checks, then
made the runtime's) and the guest's handles put back after the write (`asynclists.UndoLog`:
the runtime's lift leaves guest memory as it was). A read of the host's ends: each end the
runtime lowered into the buffer becomes an in-module proxy of it (`host_lower`). Refused at
run time (trap), beside the copies left waiting that trap already: a write whose elements the
host did not all take (a future's reader gone, a shorter read), since the ends not taken were
already made the runtime's. Payloads with resource handles stay refused when fusing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymeld.abi import types as at
from pymeld.codec.core.emitter import Body

if TYPE_CHECKING:
    from pymeld.merge.asyncstream import StreamRuntime


def payload_ends(t: at.Stream | at.Future) -> list[at.Stream | at.Future]:
    """The ends an element of ``t``'s payload carries (not those inside theirs)."""
    from pymeld.merge.asynclists import end_types

    return [] if t.elem is None else end_types([t.elem])


def plan_payload_ends(sr: StreamRuntime) -> None:
    """Plan, for each end type shared with the host whose payload carries ends, the hand-overs
    of those ends by each instance writing (`host_lift`) or reading (`host_lower`) it, and the
    undo log of the writes; again for the types this shares, until none is new."""
    from pymeld.merge.asynclists import UndoLog

    done: set[int] = set()
    while todo := sorted(sr.hosted - done):
        for bi in sr.tp.ends:
            bt = sr.g.builtins[bi]
            assert isinstance(bt.type, at.Stream | at.Future)
            if sr.tags.get(bt.type) not in todo or not bt.op.endswith((".read", ".write")):
                continue
            write = bt.op.endswith(".write")
            for v in payload_ends(bt.type):
                (sr.host_lift if write else sr.host_lower)(v, bt.owner)
            if write and payload_ends(bt.type):
                UndoLog.plan(sr.rt)
        done.update(todo)


def before_copy(sr: StreamRuntime, b: Body, bi: int, count: int, write: bool) -> int | None:
    """Emit, before the runtime's copy of built-in ``bi`` (buffer at param 1, ``count``
    elements in a local): a write's ends lifted for the host in place. The undo log's mark
    (a local) for `after_copy`, or None when the payload carries no end or it is a read."""
    from pymeld.merge.asynclists import EndWalk, UndoLog

    bt = sr.g.builtins[bi]
    assert isinstance(bt.type, at.Stream | at.Future) and bt.type.elem is not None
    if not write or not payload_ends(bt.type):
        return None
    undo = UndoLog(sr.rt)
    start = undo.mark(b)
    ptr, n = b.local("i32"), b.local("i32")
    b.get(1).set(ptr)
    b.get(count).set(n)
    walk = EndWalk(b, lambda v: sr.host_lift(v, bt.owner).index, sr.memory(bt), undo, False)
    walk.elements(bt.type.elem, ptr, n)
    return start


def after_copy(
    sr: StreamRuntime, b: Body, bi: int, code: int, count: int, start: int | None
) -> None:
    """Emit, after the runtime's copy of built-in ``bi`` returned ``code`` (not BLOCKED): a
    write not taken whole traps (refused at run time), then the guest's handles are put back;
    a read's copied elements have their ends lowered as in-module proxies."""
    from pymeld.merge.asynclists import EndWalk, UndoLog

    bt = sr.g.builtins[bi]
    assert isinstance(bt.type, at.Stream | at.Future) and bt.type.elem is not None
    if not payload_ends(bt.type):
        return
    mem, future = sr.memory(bt), isinstance(bt.type, at.Future)
    if start is not None:  # a write: every element taken, or a trap
        if future:
            b.get(code)  # COMPLETED is 0
        else:
            b.get(code).i32(4).op("i32.shr_u").get(count).op("i32.ne")
        b.trap_if()
        UndoLog(sr.rt).restore(b, mem, start)
        return
    ptr, n = b.local("i32"), b.local("i32")
    b.get(1).set(ptr)
    if future:
        b.get(code).op("i32.eqz").set(n)  # COMPLETED: the value was read
    else:
        b.get(code).i32(4).op("i32.shr_u").set(n)
    walk = EndWalk(b, lambda v: sr.host_lower(v, bt.owner).index, mem, None, False)
    walk.elements(bt.type.elem, ptr, n)
