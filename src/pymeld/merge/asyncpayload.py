"""Async across former component instances, stage 4 (issue 11): stream/future payloads other
than none or numbers, copied by an in-module rendezvous.

wasmtime copies such a payload between two guest instances by *lifting* the values from the
writer's memory with the writer's options and *lowering* them into the reader's buffer with the
reader's options (`futures_and_streams.rs`, `copy`): strings decoded in the writer's encoding
and stored as the host stores a Rust `String` (`func/typed.rs`, `lower_string`: the patterns of
the canonical ABI's store routines *from UTF-8*, whatever the writer's encoding), lists through
the reader's `realloc` (zeroed `context.*` slots around each call, as `LowerContext::realloc`
does, and no may-leave flag), stream/future ends moving from the writer instance's table to the
reader's. Both ends in one original instance trap ("cannot read from and write to
intra-component future/stream with non-numeric payload").

The copy of n elements of T is the element loop of the adapter generator's list<T> copy
(`abi.adapter._Translator._loop`) into the reader's already allocated buffer, one generated
function per (writer slot, reader slot) pair, where a slot is the options of one read or
write built-in. Only strings from a UTF-16 or latin1+UTF-16 writer differ from the generator's
direct transcoding (`_HostStrings`: the UTF-8 length first, then the UTF-8 store patterns).
wasmtime lifts every value before lowering any; the generator validates while it stores, so
a trap may come after some reallocs: a trap ends the instance (wasmtime locks a trapped
component), so nothing can observe the difference.

Own handles in a payload move as wasmtime moves them: lifted from the writer's resource table
(an own, not lent, of the right type: else a trap) and lowered into the reader's, both
in-module tables sharing their instance's index space with its waitables (`merge.asyncres`),
one element at a time and only for the elements copied (a partial copy leaves the rest with the
writer). Refused by name: borrow handles (the validator allows none there), error-context,
and maps.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from pymeld.abi import types as at
from pymeld.abi.adapter import _L, _Side, _Translator
from pymeld.abi.layout import MAX_STRING_BYTE_LENGTH, UTF16_TAG, alignment
from pymeld.codec.core.emitter import Body
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import Builtin, BuiltinRef, CoreRef, FlatGraph, LoweredRef
from pymeld.merge.leave import CallsCache, calls_out
from pymeld.plan import FuncCode, FuncItem, Space

if TYPE_CHECKING:
    from pymeld.merge.asyncstream import StreamRuntime
    from pymeld.merge.asynctask import TaskPlan

GROUP = "async"

_NUMBERS = (at.S8, at.U8, at.S16, at.U16, at.S32, at.U32, at.S64, at.U64, at.F32, at.F64)


def flat_payload(t: at.Stream | at.Future) -> bool:
    """wasmtime copies these flat (`allow_intra_component_read_write`): none or a number."""
    return t.elem is None or isinstance(t.elem, _NUMBERS)


def check_payload(t: at.Stream | at.Future, what: str) -> None:
    """Refuse a payload the rendezvous cannot copy exactly (also inside nested ends)."""

    def walk(v: object) -> None:
        if isinstance(v, at.Borrow):  # the component validator allows none; kept by name
            raise UnsupportedFeature(f"borrow handle {v!r} in the payload of {t!r} {what}")
        if isinstance(v, at.ErrorContext):
            raise UnsupportedFeature(f"error-context in the payload of {t!r} {what}")
        if isinstance(v, at.Map):
            raise UnsupportedFeature(f"map in the payload of {t!r} {what} (not fused yet)")
        for c in at.children(v):
            walk(c)

    if t.elem is not None:
        walk(t.elem)


# shared record: the task whose read is pending (0: the host-called stack); after asyncstream's
# store ids (84..95), which it overwrote when it was 84
READ_TASK = 96


def needs_thread(t: at.Stream | at.Future) -> bool:
    """wasmtime runs the copy on the reading thread (`set_thread(read_caller_thread)`) for a
    non-flat stream payload and for any future value."""
    return not flat_payload(t) or (isinstance(t, at.Future) and t.elem is not None)


def note_reader(sr: StreamRuntime, b: Body, rec: int, inst: int) -> None:
    """Record the task whose read ``inst`` leaves pending in shared record ``rec`` (or the
    synchronous call's thread: `merge.asyncsyncthreads`)."""
    if inst in sr.tp.sync_readers:
        from pymeld.merge import asyncsyncthreads

        asyncsyncthreads.note(sr.rt, b, inst, rec, sr.rt.mem("xfer"), READ_TASK)
        return
    b.get(rec).global_get(sr.glob("cur_task")).store("i32.store", sr.rt.mem("xfer"), READ_TASK)


def check_reader(
    sr: StreamRuntime, b: Body, rec: int, writer: int, t: at.Stream | at.Future
) -> None:
    """Trap when the task whose read is pending has exited: wasmtime's `set_thread` to its gone
    thread fails ("resource not present"), except for a flat value written by the reader's own
    instance (``writer``), copied with no trap (checked against wasmtime 50). (Not seen: a
    task record reused by a new task in between, and a read left pending by a host call that
    has returned.) A read left pending by a synchronous call through an adapter is that
    call's thread's (`merge.asyncsyncthreads`): gone once the call returned."""
    from pymeld.merge import asyncsyncthreads
    from pymeld.merge.asyncstream import _INST, READER
    from pymeld.merge.asynctask import _MODE, _STATUS, EXITED

    task, m, x = b.local("i32"), sr.rt.mem("tasks"), sr.rt.mem("xfer")
    synced = sr.tp.sync_readers
    if flat_payload(t):
        b.get(rec).load("i32.load", x, READER + _INST).i32(writer).op("i32.ne").if_()
    b.get(rec).load("i32.load", x, READ_TASK).tee(task).if_()
    if synced:
        reader = b.local("i32")
        b.get(task).i32(asyncsyncthreads.SYNC_READ).op("i32.and").if_()
        b.get(rec).load("i32.load", x, READER + _INST).set(reader)
        asyncsyncthreads.check(sr.rt, b, rec, x, READ_TASK, reader, synced)
        b.op("else")
    b.get(task).load("i32.load", m, _MODE).i32(EXITED).op("i32.eq")
    b.get(task).load("i32.load", m, _STATUS).op("i32.eqz").op("i32.or").trap_if()  # freed: zeroed
    if synced:
        b.end()
    b.end()
    if flat_payload(t):
        b.end()


def check_sync_readers(g: FlatGraph, tp: TaskPlan) -> None:
    """Find the instances entered through a synchronous lift whose copying reads another
    instance may write into (`TaskPlan.sync_readers`): wasmtime copies into a read left pending
    by a sync call on that call's thread, gone once it returned (a trap), so those calls get
    threads (`merge.asyncsyncthreads`). A flat future value written by the reader's own
    instance is copied without a trap (checked against wasmtime 50: intra-component numbers,
    `allow_intra_component_read_write`), so a read of a flat type whose ends never reach the
    instance from another instance needs none; which calls wasmtime 50 gives threads that
    such a copy needs is not mirrored (a write from a later sync call of the reader's
    instance, through a third instance, does not trap there; one from the reader's caller
    does)."""
    from pymeld.merge.asyncfuse import carried

    reads = {
        bi
        for bi in tp.ends
        if g.builtins[bi].op.endswith(".read") and needs_thread(g.builtins[bi].type)  # type: ignore[arg-type]
    }
    # readable ends of a flat type that may reach each instance from another one: through an
    # adapter (the callee's parameters, the caller's results) or inside a copied payload
    arriving: set[tuple[int, object]] = set()
    for e in tp.edges.values():
        for pt in e.callee.type.param_types():
            arriving |= {(e.callee.owner, v) for v in carried(pt)}
        arriving |= {(e.caller, v) for v in carried(e.callee.type.result)}
    nested: set[object] = set()
    for bi in tp.ends:
        if isinstance(t := g.builtins[bi].type, at.Stream | at.Future):
            nested.update(carried(t.elem))

    def foreign_writer(bi: int) -> bool:
        bt = g.builtins[bi]
        assert isinstance(bt.type, at.Stream | at.Future)
        return not flat_payload(bt.type) or (bt.owner, bt.type) in arriving or bt.type in nested

    reads = {bi for bi in reads if foreign_writer(bi)}
    cache: CallsCache = {}
    for e in sorted(tp.edges.values(), key=lambda e: e.lower):
        if e.task or not reads:
            continue
        own = {bi for bi in reads if g.builtins[bi].owner == e.callee.owner}
        hit = _reaches(g, e.callee.core_func, reads, cache) if own else None
        if hit == -1:  # an indirect call may reach the instance's own reads
            hit = min(own)
        if hit is not None and e.callee.owner not in tp.sync_readers:
            tp.sync_readers.append(e.callee.owner)
    tp.sync_readers.sort()


def _reaches(g: FlatGraph, start: CoreRef, targets: set[int], cache: CallsCache) -> int | None:
    """The built-in of ``targets`` that running ``start`` may call (-1: an indirect call or
    typed reference, which may reach any), else None. Calls into other instances (lowered
    functions) are not followed: code reached back through another adapter is that adapter's
    callee, checked on its own."""
    for ref in calls_out(g, start, cache):
        if isinstance(ref, BuiltinRef):
            if ref.builtin in targets:
                return ref.builtin
        elif not isinstance(ref, LoweredRef):
            return -1
    return None


class _HostStrings(_Translator):
    """The generator's translator with wasmtime's host string store: the writer's string is
    decoded (validated) to a Rust `String` first, then stored as from UTF-8. For a UTF-8 writer
    the generator's own transcoding is that already."""

    def string(self, ptr: int, ln: int) -> tuple[int, int]:
        if self.src.enc == "utf8":
            return super().string(ptr, ln)
        b = self.b
        dptr, dlen = b.local("i32"), b.local("i32")
        if self.src.enc == "utf16":
            self._src_range(ptr, ln, 2, 2)
            self._host_store(dptr, dlen, "utf16", ptr, ln)
        else:
            units = b.local("i32")
            b.get(ln).i32(UTF16_TAG).op("i32.and").if_()
            b.get(ln).i32(UTF16_TAG).op("i32.xor").set(units)
            self._src_range(ptr, units, 2, 2)
            self._host_store(dptr, dlen, "utf16", ptr, units)
            b.op("else")
            self._src_range(ptr, ln, 1, 2)
            self._host_store(dptr, dlen, "latin1", ptr, ln)
            b.end()
            b.free(units)
        return dptr, dlen

    def _host_store(self, dptr: int, dlen: int, simple: str, ptr: int, n: int) -> None:
        b = self.b
        i, cp, size, j = (b.local("i32") for _ in range(4))
        # the UTF-8 length of the string (validating it), as `WasmStr::to_str` gives it
        b.i32(0).set(i).i32(0).set(size)

        def count() -> None:
            b.get(size).i32(1).op("i32.add")
            for lim in (0x80, 0x800, 0x10000):
                b.get(cp).i32(lim).op("i32.ge_u").op("i32.add")
            b.set(size)

        self._each_cp(simple, ptr, i, n, cp, count)
        b.i32(0).set(i).i32(0).set(j)
        match self.dst.enc:
            case "utf8":  # store_string_copy: exact
                b.get(size).i32(MAX_STRING_BYTE_LENGTH).op("i32.gt_u").trap_if()
                self._dst_alloc(dptr, 0, 0, 1, _L(size))
                self._each_cp(simple, ptr, i, n, cp, lambda: self._encode_utf8(dptr, j, cp))
                b.get(size).set(dlen)
            case "utf16":  # store_utf8_to_utf16: 2 * bytes, shrunk
                worst = b.local("i32")
                b.get(size).i32(MAX_STRING_BYTE_LENGTH // 2).op("i32.gt_u").trap_if()
                b.get(size).i32(1).op("i32.shl").set(worst)
                self._dst_alloc(dptr, 0, 0, 2, _L(worst))
                self._each_cp(simple, ptr, i, n, cp, lambda: self._encode_utf16(dptr, j, cp))
                b.get(j).set(dlen)
                b.get(j).i32(1).op("i32.shl").get(worst).op("i32.lt_u").if_()
                b.get(j).i32(1).op("i32.shl").set(j)
                self.realloc_into(self.dst, dptr, _L(worst), 2, _L(j))
                self.check_ptr(self.dst, dptr, 2, _L(j))
                b.end()
                b.free(worst)
            case _:  # store_string_to_latin1_or_utf16 from UTF-8
                self._to_compact(dptr, dlen, simple, ptr, n, size)
        b.free(i, cp, size, j)


class _Ends:
    """`abi.adapter.ResourceOps` of one copy: nested ends and own handles move from the
    writer's table to the reader's."""

    def __init__(self, sr: StreamRuntime, src: int, dst: int) -> None:
        self.sr, self.src, self.dst = sr, src, dst

    def transfer(self, t: at.Own | at.Borrow | at.Stream | at.Future, to_callee: bool) -> int:
        if isinstance(t, at.Own):
            return own_transfer(self.sr, t, self.src, self.dst).index
        assert isinstance(t, at.Stream | at.Future)
        return self.sr.transfer(t, self.src, self.dst).index


def own_transfer(sr: StreamRuntime, t: at.Own, src: int, dst: int) -> FuncItem:
    """The in-module resource tables' own transfer (`resources.tables`, `xfer`): wasmtime's
    `lift_own` from the writer's table (an own, not lent: else a trap) and `lower_own` into
    the reader's, the handle number drawn from the reader's one index space."""
    f = sr.rt.own_transfer
    if f is None:
        raise UnsupportedFeature(
            f"own handle {t!r} in a stream/future payload without handle tables"
        )
    return f(t, src, dst)


class PayloadCopies:
    """The copy functions of non-flat payloads beside a `StreamRuntime`.

    A *slot* is one read/write built-in's owner and options; ``x.pcopy`` of a type dispatches
    (writer slot, reader slot) to that pair's generated copy."""

    def __init__(self, sr: StreamRuntime) -> None:
        self.sr = sr
        self.slots: list[Builtin] = []
        self.writers: dict[int, list[int]] = {}  # type tag → writer slots
        self.readers: dict[int, list[int]] = {}  # type tag → reader slots

    def slot(self, bt: Builtin) -> int:
        key = (bt.owner, bt.opts)
        keys = [(s.owner, s.opts) for s in self.slots]
        if key in keys:
            return keys.index(key)
        self.slots.append(bt)
        return len(self.slots) - 1

    def plan(self, bt: Builtin) -> None:
        """Register read/write built-in ``bt`` (of a non-flat payload type)."""
        from pymeld.merge.asyncfuse import carried

        t = bt.type
        assert isinstance(t, at.Stream | at.Future) and t.elem is not None
        tag, s = self.sr.tag(t), self.slot(bt)
        side = self.writers if bt.op.endswith(".write") else self.readers
        if s not in side.setdefault(tag, []):
            side[tag].append(s)
        p = self.sr.rt.p
        if p.find(Space.FUNC, GROUP, ("x.pcopy", tag)) is None:
            p.add_func(GROUP, ("x.pcopy", tag), partial(self._dispatch, tag))
        for ws in self.writers.get(tag, []):
            for rs in self.readers.get(tag, []):
                wo, ro = self.slots[ws].owner, self.slots[rs].owner
                key = ("x.pcopy", tag, ws, rs)
                if wo == ro or p.find(Space.FUNC, GROUP, key) is not None:
                    continue
                for v in carried(t.elem):
                    assert isinstance(v, at.Stream | at.Future)
                    self.sr.transfer(v, wo, ro)
                for h in at.handles(t.elem):
                    if isinstance(h, at.Own):
                        own_transfer(self.sr, h, wo, ro)
                p.add_func(GROUP, key, partial(self._pair, t, ws, rs))
                realloc = self.slots[rs].opts
                if realloc is not None and realloc.realloc is not None:
                    self._realloc(rs)

    def call(self, b: Body, t: at.Stream | at.Future) -> None:
        """(writer slot, writer address, reader slot, reader address, count) on the stack."""
        b.call(self.sr.fn("x.pcopy", self.sr.tag(t)))

    # -- emission ------------------------------------------------------------------------------
    def _realloc(self, rs: int) -> FuncItem:
        p = self.sr.rt.p
        key = ("x.prealloc", rs)
        item = p.find(Space.FUNC, GROUP, key)
        if isinstance(item, FuncItem):
            return item
        return p.add_func(GROUP, key, partial(self._realloc_code, rs))

    def _realloc_code(self, rs: int) -> FuncCode:
        """The reader's realloc with zeroed context slots (restored after), no may-leave."""
        rt = self.sr.rt
        opts = self.slots[rs].opts
        assert opts is not None and opts.realloc is not None
        return rt.fresh_context_code(("i32",) * 4, ("i32",), rt.func(opts.realloc))

    def _dispatch(self, tag: int) -> FuncCode:
        """(writer slot, writer address, reader slot, reader address, count)."""
        b = Body(["i32"] * 5)
        for ws in self.writers.get(tag, []):
            for rs in self.readers.get(tag, []):
                b.get(0).i32(ws).op("i32.eq").get(2).i32(rs).op("i32.eq").op("i32.and").if_()
                if self.slots[ws].owner == self.slots[rs].owner:
                    b.unreachable()  # both ends in one instance: wasmtime refuses the copy
                else:
                    b.get(1).get(3).get(4).call(self.sr.fn("x.pcopy", tag, ws, rs))
                    b.op("return")
                b.end()
        b.unreachable().end()
        return FuncCode(("i32",) * 5, (), tuple(b.locals), bytes(b.code))

    def _pair(self, t: at.Stream | at.Future, ws: int, rs: int) -> FuncCode:
        """(writer address, reader address, count): wasmtime's alignment checks, then the
        element loop of a list copy from the writer's memory into the reader's buffer."""
        assert t.elem is not None
        w, r = self.slots[ws], self.slots[rs]
        assert w.opts is not None and r.opts is not None
        b = Body(["i32"] * 3)
        align = alignment(t.elem)
        b.get(2).op("i32.eqz").if_().op("return").end()
        if align > 1:
            b.get(0).i32(align - 1).op("i32.and").trap_if()
            b.get(1).i32(align - 1).op("i32.and").trap_if()
        rr = None
        if r.opts.realloc is not None:
            rr = self._realloc(rs).index
        src = _Side(
            "writer",
            at.CanonOptions(w.opts.string_encoding, self.sr.memory(w)),  # type: ignore[arg-type]
        )
        dst = _Side(
            "reader",
            at.CanonOptions(r.opts.string_encoding, self.sr.memory(r), rr),  # type: ignore[arg-type]
        )
        tr = _HostStrings(b, src, dst)
        tr.resources = _Ends(self.sr, w.owner, r.owner)
        tr.simd = self.sr.rt.p.simd
        tr.shared = self.sr.rt.p.shared_func
        tr._loop(t.elem, 0, 1, 2)
        b.end()
        return FuncCode(("i32",) * 3, (), tuple(b.locals), bytes(b.code))
