"""Fused adapters: one core function doing `lower` (caller side) ∘ `lift` (callee side).

What a component runtime does at a cross-component call (wasmtime's FACT compiles the same thing),
but emitted once, statically, into the fused module. The adapter has the caller's lowered core
signature, translates parameters from the caller's flat values / linear memory into the callee's
(calling the callee's `realloc` for strings, lists and spilled parameters), calls the callee's
lifted core function, translates the results back (calling the caller's `realloc`), then calls the
callee's `post-return` with the callee's raw results.

Every validation the spec's `lift_*`/`load_*` performs becomes an explicit check that executes
`unreachable`: bool normalisation, integer narrowing, char ranges, discriminants, flags masking,
pointer alignment, `ptr + len*size <= memory.size * 65536` (computed in i64, so it cannot wrap),
the 2^28-1 byte caps on strings/lists, UTF-8/UTF-16 well-formedness while transcoding.

Floats pass through bit-for-bit: the spec canonicalises NaNs on lift but then lowers them to a
*nondeterministic* NaN, so any NaN is conforming; wasmtime passes them through too (unless NaN
canonicalisation is configured), which is also the cheapest.

Caller and callee layouts differ only in string encoding (both memories are 32-bit), so a type has
the same flat shape and memory layout on both sides; translation is flat→flat or memory→memory.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.abi.layout import (
    MAX_FLAT_ASYNC_PARAMS,
    MAX_FLAT_PARAMS,
    MAX_LIST_BYTE_LENGTH,
    MAX_STRING_BYTE_LENGTH,
    UTF16_TAG,
    CoreFuncType,
    alignment,
    despecialize,
    discriminant_type,
    elem_size,
    field_offsets,
    flat_count,
    flatten_async_functype,
    flatten_functype,
    flatten_type,
    flatten_types,
    flatten_variant_payload,
    payload_offset,
)
from pymeld.abi.types import (
    F32,
    F64,
    S8,
    S16,
    S32,
    S64,
    U8,
    U16,
    U32,
    U64,
    Bool,
    Borrow,
    CanonOptions,
    Char,
    CoreValType,
    Flags,
    FuncType,
    Future,
    List,
    Own,
    Record,
    Stream,
    String,
    Tuple,
    ValType,
    Variant,
    handles,
)
from pymeld.codec.core.emitter import Body
from pymeld.errors import LinkError, UnsupportedFeature

if TYPE_CHECKING:
    from typing import Protocol

__all__ = [
    "Adapter",
    "BorrowScope",
    "CallGuards",
    "LeafFunc",
    "ResourceOps",
    "SharedFuncs",
    "generate_adapter",
    "passes_through",
]

# UTF-8 validation tables (Keiser and Lemire's lookup algorithm, `_validate_utf8_simd`): one bit
# per error kind; a byte pair is invalid iff the three lookups share a bit.
_TOO_SHORT, _TOO_LONG, _OVERLONG_3, _TOO_LARGE = 1, 2, 4, 8
_SURROGATE, _OVERLONG_2, _TOO_LARGE_1000, _TWO_CONTS = 16, 32, 64, 128
_OVERLONG_4 = 64  # shares the bit with _TOO_LARGE_1000: told apart by the first byte's low nibble
_CARRY = _TOO_SHORT | _TOO_LONG | _TWO_CONTS  # kinds decided by the high nibbles alone
_UTF8_BYTE1_HIGH = bytes(  # by the high nibble of the first byte
    [_TOO_LONG] * 8
    + [_TWO_CONTS] * 4
    + [
        _TOO_SHORT | _OVERLONG_2,
        _TOO_SHORT,
        _TOO_SHORT | _OVERLONG_3 | _SURROGATE,
        _TOO_SHORT | _TOO_LARGE | _TOO_LARGE_1000 | _OVERLONG_4,
    ]
)
_UTF8_BYTE1_LOW = bytes(  # by the low nibble of the first byte
    [
        _CARRY | _OVERLONG_3 | _OVERLONG_2 | _OVERLONG_4,
        _CARRY | _OVERLONG_2,
        _CARRY,
        _CARRY,
        _CARRY | _TOO_LARGE,
    ]
    + [_CARRY | _TOO_LARGE | _TOO_LARGE_1000] * 8
    + [_CARRY | _TOO_LARGE | _TOO_LARGE_1000 | _SURROGATE]
    + [_CARRY | _TOO_LARGE | _TOO_LARGE_1000] * 2
)
_UTF8_BYTE2_HIGH = bytes(  # by the high nibble of the second byte
    [_TOO_SHORT] * 8
    + [
        _TOO_LONG | _OVERLONG_2 | _TWO_CONTS | _OVERLONG_3 | _TOO_LARGE_1000 | _OVERLONG_4,
        _TOO_LONG | _OVERLONG_2 | _TWO_CONTS | _OVERLONG_3 | _TOO_LARGE,
    ]
    + [_TOO_LONG | _OVERLONG_2 | _TWO_CONTS | _SURROGATE | _TOO_LARGE] * 2
    + [_TOO_SHORT] * 4
)
# A lead in the last three bytes of a block (4-, 3-, 2-byte leads) wants the next block.
_UTF8_INCOMPLETE = bytes([0xFF] * 13 + [0xF0 - 1, 0xE0 - 1, 0xC0 - 1])

# Fixed-length lists / records with at most this many leaves are unrolled, larger ones loop.
_UNROLL_LEAVES = 16
# Plain (pointer-free, padding-free, validation-free) values this large are copied with memory.copy.
_MEMCPY_MIN = 16


@dataclass(frozen=True)
class Adapter:
    """One generated core function, ready to append to the fused module.

    `params`/`results` are its core signature (the caller's lowered signature). `locals` are the
    declared locals *after* the params. `body` is the instruction sequence including the final
    `end`. The body references only indices that were passed in: the callee function, the memories,
    realloc and post-return functions of `CanonOptions`, and the globals and functions of
    `CallGuards`, and the shared functions it asked `SharedFuncs` for (the rest of the
    translation is emitted inline).
    """

    params: tuple[CoreValType, ...]
    results: tuple[CoreValType, ...]
    locals: tuple[CoreValType, ...]
    body: bytes
    locals_encoding: bytes

    @property
    def core_type(self) -> CoreFuncType:
        return CoreFuncType(self.params, self.results)

    def code_entry(self) -> bytes:
        """Locals declarations + expression: a code-section entry minus its size prefix."""
        return self.locals_encoding + self.body


@dataclass(frozen=True)
class LeafFunc:
    """A function of the fused module an adapter may inline instead of calling (a callee's
    small leaf `realloc`, such as a bump allocator): its signature, declared locals and code
    (final `end` included), indices already those of the fused module. See
    `codec.core.inline`: a call costs more than such a body, and the engine does not inline."""

    params: tuple[CoreValType, ...]
    locals: tuple[CoreValType, ...]
    result: CoreValType | None
    body: bytes


#: ``leaf(func)``: the `LeafFunc` for function index ``func``, or None (call it).
LeafLookup = Callable[[int], LeafFunc | None]

#: ``shared(key, build)``: the index of the fused module's function ``key``, whose code
#: ``build()`` gives (called once, maybe later; the function has no name in the fused module).
#: Code many adapters would otherwise each hold a copy of (one memory's UTF-8 validator): one
#: function is compiled once, where copies in every adapter were each compiled again. Without
#: it (None) that code is emitted inline.
SharedFuncs = Callable[[object, Callable[[], "Adapter"]], int]


@dataclass(frozen=True)
class BorrowScope:
    """The callee's borrow scope (spec: `Task.num_borrows` must be 0 when it returns): the
    global counting borrows handed to the current call, the lend-stack pointer global, and the
    function ending the loans of owns lent since a saved stack depth."""

    num_borrows: int
    lend_sp: int
    unlend: int


@dataclass(frozen=True)
class CallGuards:
    """What the runtime checks around a cross-instance call, as fused state (global indices).

    * ``same_instance``: the lower and the lift belong to one component instance; wasmtime
      compiles that adapter to a trap (it cannot enter the instance it is leaving).
    * ``may_leave``: the caller's flag, cleared while its `realloc` runs: trap unless set.
    * ``borrow_scope``: when parameters lend borrows, each must be dropped before return.
    """

    same_instance: bool = False
    may_leave: int | None = None
    borrow_scope: BorrowScope | None = None


if TYPE_CHECKING:  # a structural type for the checker (no `typing` in a fusion)

    class TaskHooks(Protocol):
        """In-module task code around an adapter whose lower or lift is `async` (merge.asynctask).

        ``enter`` runs first (the runtime's checks before a call starts); for a callback-lifted
        callee, ``start`` runs after the parameters were lowered into the callee and before its
        core function is called (``retptr``: the caller's result pointer local, if any), and
        ``finish`` after it returned (``code``: the local holding its callback code) and must leave
        the lower's core results on the stack; for other callees ``leave`` runs last (the results
        on the stack)."""

        def enter(self, b: Body) -> None: ...

        def start(self, b: Body, retptr: int | None) -> None: ...

        def finish(self, b: Body, code: int) -> None: ...

        def leave(self, b: Body) -> None:
            """Runs last in an adapter to a callee lifted without a callback."""

        def returned(self, b: Body) -> None:
            """Takes a task-run sync lift's core results from the stack, leaves its code."""


def generate_adapter(
    ft: FuncType,
    caller: CanonOptions,
    callee: CanonOptions,
    callee_func: int,
    callee_type: CoreFuncType | None = None,
    resources: ResourceOps | None = None,
    guards: CallGuards = CallGuards(),  # noqa: B008 (frozen: shared safely)
    lower_async: bool = False,
    lift_callback: bool = False,
    lift_stackful: bool = False,
    lift_sync_task: bool = False,
    task: TaskHooks | None = None,
    leaf: LeafLookup | None = None,
    simd: bool = True,
    shared: SharedFuncs | None = None,
) -> Adapter:
    """Build the adapter for a call from `caller` (lowered import) to `callee` (lifted export).

    `callee_type` (the callee core function's signature) is checked against the spec's lift-side
    flattening when given; a mismatch is a `LinkError`. `guards` adds the runtime's checks
    around the call (see `CallGuards`), as wasmtime's FACT compiler does in its trampolines.

    ``lower_async``: the caller lowered the import `async` (params by pointer beyond 4 flat
    values, results through its out-pointer, the subtask status returned: RETURNED here unless
    ``task`` decides). ``lift_callback``: the callee is lifted `async` with a callback; its
    results arrive through `task.return` (`generate_return`), and ``task`` handles the code.
    ``lift_stackful``: lifted `async` without a callback (one that never blocks: its return is
    the task's exit, handed to ``task`` as the code EXIT). ``lift_sync_task``: lifted
    synchronously but run as an in-module task that may suspend (``task.returned`` takes the
    core results and leaves the code). ``leaf`` names the reallocs that
    are inlined rather than called (`LeafFunc`). ``simd``: the code may use 128-bit vector
    instructions (`_Translator.simd`). ``shared``: where code common to many adapters goes
    (`SharedFuncs`).
    """
    for t in [*ft.param_types(), *ft.result_type()]:
        _reject_unsupported(t, resources is not None)
    lower = flatten_async_functype(ft, "lower") if lower_async else flatten_functype(ft, "lower")
    lift = (
        flatten_async_functype(ft, "lift", callback=True)
        if lift_callback
        else flatten_functype(ft, "lift")
    )
    n_flat = sum(flat_count(t) for t in ft.param_types())
    spilled = lower_async and MAX_FLAT_ASYNC_PARAMS < n_flat <= MAX_FLAT_PARAMS
    if callee_type is not None and (
        tuple(callee_type.params) != lift.params or tuple(callee_type.results) != lift.results
    ):
        raise LinkError(
            f"callee core signature {callee_type.params}->{callee_type.results} does not match "
            f"the canonical lift signature {lift.params}->{lift.results}"
        )
    b = Body(lower.params)
    if guards.same_instance:
        b.unreachable().end()
        return _finish(b, lower)
    if task is not None:
        task.enter(b)
    caller_side = _Side("caller", caller)
    callee_side = _Side("callee", callee)
    fwd = _Translator(b, src=caller_side, dst=callee_side)
    back = _Translator(b, src=callee_side, dst=caller_side)
    fwd.resources = back.resources = resources
    fwd.leaf = back.leaf = leaf
    fwd.simd = back.simd = simd
    fwd.shared = back.shared = shared

    # -- parameters ---------------------------------------------------------------------------
    pts = ft.param_types()
    if sum(flat_count(t) for t in pts) > MAX_FLAT_PARAMS:
        tup = Tuple(tuple(pts))
        size, align = elem_size(tup), alignment(tup)
        fwd.check_ptr(caller_side, 0, align, size)
        buf = fwd.alloc(callee_side, 0, 0, align, size)
        fwd.check_ptr(callee_side, buf, align, size)
        fwd.mem(tup, (0, 0), (buf, 0))
        b.get(buf)
    elif spilled:  # the async lower passed them by pointer; the lift takes them flat
        _load_flat(b, fwd, caller_side, pts, n_flat)
    else:
        src = _FlatSrc(b, [(i, t) for i, t in enumerate(lower.params)])
        for t in pts:
            fwd.flat(t, src, _STACK)

    has_retptr = ft.result is not None and (lower_async or not lower.results)
    if lift_callback or lift_stackful or lift_sync_task:
        assert task is not None
        task.start(b, len(lower.params) - 1 if has_retptr else None)
        b.call(callee_func)
        code = b.local("i32")
        if lift_stackful:
            b.i32(0)  # CallbackCode.EXIT
        elif lift_sync_task:
            task.returned(b)
        b.set(code)
        task.finish(b, code)
        _guard(b, guards, ft)
        return _finish(b, lower)
    b.call(callee_func)

    # -- results ------------------------------------------------------------------------------
    raw: list[int] = []
    if ft.result is not None and lower_async:
        rt = ft.result
        r = b.local(lift.results[0])
        b.set(r)
        raw = [r]
        retptr = len(lower.params) - 1
        size, align = elem_size(rt), alignment(rt)
        back.check_ptr(caller_side, retptr, align, size)
        if lift.results == tuple(flatten_type(rt)):  # flat, stored at the caller's pointer
            back.flat_to_mem(rt, _FlatSrc(b, [(r, lift.results[0])]), caller_side, retptr, 0)
        else:
            back.check_ptr(callee_side, r, align, size)
            back.mem(rt, (r, 0), (retptr, 0))
    elif ft.result is not None:
        rt = ft.result
        r = b.local(lift.results[0])
        b.set(r)
        raw = [r]
        if lower.results:  # one flat value
            back.flat(rt, _FlatSrc(b, [(r, lift.results[0])]), _STACK)
            if callee.post_return is not None:
                out = b.local(lower.results[0])
                b.set(out)
        else:  # returned through memory: callee's pointer -> caller's retptr
            size, align = elem_size(rt), alignment(rt)
            retptr = len(lower.params) - 1
            back.check_ptr(callee_side, r, align, size)
            back.check_ptr(caller_side, retptr, align, size)
            back.mem(rt, (r, 0), (retptr, 0))
    if callee.post_return is not None:
        for r in raw:
            b.get(r)
        b.call(callee.post_return)
        if lower.results and not lower_async:
            b.get(out)
    if lower_async:
        b.i32(2)  # Subtask.State.RETURNED: a sync lift never blocks here
    if task is not None:
        task.leave(b)
    _guard(b, guards, ft)
    return _finish(b, lower)


def passes_through(ft: FuncType) -> bool:
    """The adapter for ``ft`` would only forward its arguments and its result unchanged:
    every flat value is a 32/64-bit integer or float (records and fixed lists of them) and
    nothing spills to memory. Without guards, handle tables or a post-return, the caller may
    then call the callee directly (one call instead of two)."""
    lower = flatten_functype(ft, "lower")
    pts = ft.param_types()
    return (
        sum(flat_count(t) for t in pts) <= MAX_FLAT_PARAMS
        and len(lower.results) == len(ft.result_type())
        and all(_identity(t) for t in [*pts, *ft.result_type()])
    )


@cache
def _identity(t: ValType) -> bool:
    """Lifting then lowering the flat values of ``t`` leaves them bit for bit unchanged."""
    match despecialize(t):
        case S32() | U32() | S64() | U64() | F32() | F64():
            return True
        case Record(fields):
            return all(_identity(f) for _, f in fields)
        case List(e, n):
            return n is not None and _identity(e)
    return False


def generate_return(
    ft: FuncType,
    callee: CanonOptions,
    caller: CanonOptions,
    to_memory: bool,
    resources: ResourceOps | None = None,
    simd: bool = True,
    shared: SharedFuncs | None = None,
    flat_limit: int = MAX_FLAT_PARAMS,
) -> Adapter:
    """`task.return` of a callback-lifted callee, translated for one caller: params are the
    `task.return` core params (the result flattened up to ``flat_limit`` values, else a
    pointer into the callee's memory; a sync lift's core results have a limit of 1) plus,
    with ``to_memory``, the caller's result pointer; without it the (at most one) flat result
    is returned."""
    rt = ft.result
    params: list[CoreValType] = []
    if rt is not None:
        params = ["i32"] if flat_count(rt) > flat_limit else list(flatten_type(rt))
    if to_memory:
        params.append("i32")
    b = Body(params)
    callee_side, caller_side = _Side("callee", callee), _Side("caller", caller)
    back = _Translator(b, src=callee_side, dst=caller_side)
    back.resources = resources
    back.simd = simd
    back.shared = shared
    results: tuple[CoreValType, ...] = ()
    if rt is not None:
        _reject_unsupported(rt, resources is not None)
        size, align = elem_size(rt), alignment(rt)
        flat = flat_count(rt) <= flat_limit
        if to_memory:
            dst = len(params) - 1
            back.check_ptr(caller_side, dst, align, size)
            if flat:
                src = _FlatSrc(b, [(i, t) for i, t in enumerate(params[:-1])])
                back.flat_to_mem(rt, src, caller_side, dst, 0)
            else:
                back.check_ptr(callee_side, 0, align, size)
                back.mem(rt, (0, 0), (dst, 0))
        else:
            assert flat and flat_count(rt) == 1
            back.flat(rt, _FlatSrc(b, [(0, params[0])]), _STACK)
            results = tuple(flatten_type(rt))
    b.end()
    return Adapter(tuple(params), results, tuple(b.locals), bytes(b.code), b.encode_locals())


def _guard(b: Body, guards: CallGuards, ft: FuncType) -> None:
    """Wrap the translation in ``b`` in the call's checks and close the body."""
    core = bytes(b.code)
    b.code.clear()
    scope = guards.borrow_scope
    if scope is not None and any(
        isinstance(h, Borrow) for t in ft.param_types() for h in handles(t)
    ):
        saved_borrows, saved_sp = b.fresh_local("i32"), b.fresh_local("i32")
        b.global_get(scope.num_borrows).set(saved_borrows).i32(0).global_set(scope.num_borrows)
        b.global_get(scope.lend_sp).set(saved_sp)
    else:
        scope = None
    if guards.may_leave is not None:
        b.global_get(guards.may_leave).op("i32.eqz").trap_if()
    b.extend(core)
    if scope is not None:
        b.global_get(scope.num_borrows).trap_if()
        b.get(saved_borrows).global_set(scope.num_borrows)
        b.get(saved_sp).call(scope.unlend)
    b.end()


def _finish(b: Body, lower: CoreFuncType) -> Adapter:
    return Adapter(
        params=lower.params,
        results=lower.results,
        locals=tuple(b.locals),
        body=bytes(b.code),
        locals_encoding=b.encode_locals(),
    )


def _reject_unsupported(t: ValType, handles: bool = False) -> None:
    match despecialize(t):
        case Own() | Borrow() if not handles:
            raise UnsupportedFeature(f"resource handle type {t!r} in an adapted function")
        case List(e, _):
            _reject_unsupported(e, handles)
        case Record(fields):
            for _, f in fields:
                _reject_unsupported(f, handles)
        case Variant(cases):
            for _, c in cases:
                if c is not None:
                    _reject_unsupported(c, handles)
    if elem_size(t) >= 1 << 32:
        raise UnsupportedFeature(f"type {t!r} is larger than a 32-bit memory")


class _Side:
    """Options of one side, with errors that say which side lacked a needed option."""

    def __init__(self, name: str, opts: CanonOptions) -> None:
        self.name = name
        self.opts = opts
        self.enc = opts.string_encoding

    @property
    def mem(self) -> int:
        if self.opts.memory is None:
            raise LinkError(f"{self.name} has no `memory` canonical option but the type needs one")
        return self.opts.memory

    @property
    def realloc(self) -> int:
        if self.opts.realloc is None:
            raise LinkError(f"{self.name} has no `realloc` canonical option but the type needs one")
        return self.opts.realloc


# -- flat sources and sinks -------------------------------------------------------------------

_COERCE_IN = {  # slot type -> natural type (lift_flat_variant's CoerceValueIter)
    ("i32", "f32"): ("f32.reinterpret_i32",),
    ("i64", "i32"): ("i32.wrap_i64",),
    ("i64", "f32"): ("i32.wrap_i64", "f32.reinterpret_i32"),
    ("i64", "f64"): ("f64.reinterpret_i64",),
}
_COERCE_OUT = {  # natural type -> slot type (lower_flat_variant)
    ("f32", "i32"): ("i32.reinterpret_f32",),
    ("i32", "i64"): ("i64.extend_i32_u",),
    ("f32", "i64"): ("i32.reinterpret_f32", "i64.extend_i32_u"),
    ("f64", "i64"): ("i64.reinterpret_f64",),
}


class _FlatSrc:
    """Flat values held in locals, with the slot type each is stored as (joined in variants)."""

    def __init__(self, b: Body, slots: list[tuple[int, CoreValType]]) -> None:
        self.b = b
        self.slots = slots
        self.i = 0

    def take(self, n: int) -> _FlatSrc:
        sub = _FlatSrc(self.b, self.slots[self.i : self.i + n])
        self.i += n
        return sub

    def push(self, want: CoreValType) -> None:
        idx, have = self.slots[self.i]
        self.i += 1
        self.b.get(idx)
        if have != want:
            self.b.op(*_COERCE_IN[(have, want)])

    def local(self, want: CoreValType) -> tuple[int, bool]:
        """A local holding the next value as `want`; the flag says whether the caller owns it."""
        idx, have = self.slots[self.i]
        if have == want:
            self.i += 1
            return idx, False
        self.push(want)
        t = self.b.local(want)
        self.b.set(t)
        return t, True


class _Sink:
    def push(self, t: CoreValType) -> None:
        """A value of natural type `t` is on the stack; consume it."""


_STACK = _Sink()  # leave values on the operand stack (they become the callee's/caller's args)


class _SlotSink(_Sink):
    def __init__(self, b: Body, slots: list[tuple[int, CoreValType]]) -> None:
        self.b = b
        self.slots = slots
        self.i = 0

    def push(self, t: CoreValType) -> None:
        idx, want = self.slots[self.i]
        self.i += 1
        if t != want:
            self.b.op(*_COERCE_OUT[(t, want)])
        self.b.set(idx)


class _MemSink(_Sink):
    """Store translated flat values at ``ptr`` in ``side``'s memory, in ``t``'s layout (flat
    order is memory order for every type without a payload-carrying variant)."""

    def __init__(self, b: Body, side: _Side, ptr: int, t: ValType, off: int = 0) -> None:
        self.b, self.mem, self.ptr = b, side.mem, ptr
        self.stores: list[tuple[int, str]] = []
        _flat_stores(t, off, self.stores)
        self.i = 0

    def push(self, t: CoreValType) -> None:
        off, op = self.stores[self.i]
        self.i += 1
        v = self.b.local(t)
        self.b.set(v).get(self.ptr).get(v).store(op, self.mem, off)
        self.b.free(v)


_STORE_BY_SIZE = {1: "i32.store8", 2: "i32.store16", 4: "i32.store", 8: "i64.store"}


def _flat_stores(t: ValType, off: int, out: list[tuple[int, str]]) -> None:
    match despecialize(t):
        case F32():
            out.append((off, "f32.store"))
        case F64():
            out.append((off, "f64.store"))
        case Bool() | S8() | U8() | S16() | U16() | S32() | U32() | S64() | U64() | Char():
            out.append((off, _STORE_BY_SIZE[elem_size(t)]))
        case Own() | Borrow() | Stream() | Future():
            out.append((off, "i32.store"))
        case Flags(labels) if len(labels) <= 32:
            out.append((off, _STORE_BY_SIZE[elem_size(t)]))
        case Record(fields):
            for (_, f), fo in zip(fields, field_offsets(fields)):
                _flat_stores(f, off + fo, out)
        case List(e, n) if n is not None:
            for i in range(n):
                _flat_stores(e, off + i * elem_size(e), out)
        case String() | List():
            out.extend(((off, "i32.store"), (off + 4, "i32.store")))
        case Variant(cases) if all(c is None for _, c in cases):
            out.append((off, _STORE_BY_SIZE[elem_size(discriminant_type(cases))]))
        case _:
            raise UnsupportedFeature(
                f"storing flat values of type {t!r} at an async result pointer (not fused yet)"
            )


_LOAD_FOR_STORE = {
    "i32.store8": "i32.load8_u",
    "i32.store16": "i32.load16_u",
    "i32.store": "i32.load",
    "i64.store": "i64.load",
    "f32.store": "f32.load",
    "f64.store": "f64.load",
}


def _load_flat(b: Body, fwd: _Translator, side: _Side, pts: list[ValType], n_flat: int) -> None:
    """Parameters an async lower spilled to ``side``'s memory (param 0 points at their tuple),
    pushed as the lift's flat values: the spec's `load` of the tuple then `lower_flat`, with
    the same pointer checks and value validation (flat order is memory order here)."""
    tup = Tuple(tuple(pts))
    size, align = elem_size(tup), alignment(tup)
    leaves: list[tuple[int, str]] = []
    try:
        _flat_stores(tup, 0, leaves)
    except UnsupportedFeature:
        raise UnsupportedFeature(
            f"async lower of {n_flat} flat parameters with a variant payload to a lift taking "
            "them flat (loading such flat values from the caller's memory is not fused yet)"
        ) from None
    fwd.check_ptr(side, 0, align, size)
    slots: list[tuple[int, CoreValType]] = []
    for (off, op), ct in zip(leaves, flatten_types(list(pts)), strict=True):
        v = b.local(ct)
        b.get(0).load(_LOAD_FOR_STORE[op], side.mem, off).set(v)
        slots.append((v, ct))
    src = _FlatSrc(b, slots)
    for t in pts:
        fwd.flat(t, src, _STACK)


# -- type predicates ----------------------------------------------------------------------------

_INT_COPY = {1: ("i32.load8_u", "i32.store8"), 2: ("i32.load16_u", "i32.store16")}
_INT_COPY |= {4: ("i32.load", "i32.store"), 8: ("i64.load", "i64.store")}


@cache
def _is_plain(t: ValType) -> bool:
    """Bytes can be copied verbatim: no validation, no pointers, no padding holes."""
    match despecialize(t):
        case S8() | U8() | S16() | U16() | S32() | U32() | S64() | U64() | F32() | F64():
            return True
        case List(e, n):
            return n is not None and _is_plain(e)
        case Record(fields):
            return all(_is_plain(f) for _, f in fields) and elem_size(t) == sum(
                elem_size(f) for _, f in fields
            )
    return False


@cache
def _unroll(t: ValType) -> int:
    """Elements per iteration of a list-copy loop: small pointer- and handle-free elements
    are unrolled (4 up to 4 leaves, 2 up to 8); others (which call realloc) are not."""
    if _has_pointers(t):
        return 1
    n = _leaves(t)
    return 4 if n <= 4 else 2 if n <= 8 else 1


@cache
def _has_pointers(t: ValType) -> bool:
    match despecialize(t):
        case String() | Own() | Borrow() | Stream() | Future():
            return True
        case List(e, n):
            return n is None or _has_pointers(e)
        case Record(fields):
            return any(_has_pointers(f) for _, f in fields)
        case Variant(cases):
            return any(c is not None and _has_pointers(c) for _, c in cases)
    return False


@cache
def _leaves(t: ValType) -> int:
    match despecialize(t):
        case List(e, n) if n is not None:
            return n * _leaves(e)
        case Record(fields):
            return sum(_leaves(f) for _, f in fields)
        case Variant(cases):
            return 1 + sum(_leaves(c) for _, c in cases if c is not None)
    return 1


Loc = tuple[int, int]  # (local holding a base address, static offset)
Operand = int | tuple[str, int]  # an i32 constant, or ("local", idx)


def _L(idx: int) -> tuple[str, int]:
    return ("local", idx)


if TYPE_CHECKING:  # a structural type for the checker (no `typing` in a fusion)

    class ResourceOps(Protocol):
        """Handle leaves: own/borrow (implemented by `pymeld.resources`) and stream/future ends
        (`pymeld.merge.asyncfuse`). ``transfer`` gives an (i32)->(i32) function moving a handle
        from the caller's table to the callee's (``to_callee``) or back, or None when the value
        passes unchanged."""

        def transfer(self, t: Own | Borrow | Stream | Future, to_callee: bool) -> int | None: ...


class _Translator:
    """Emits the translation of values from `src`'s conventions to `dst`'s."""

    resources: ResourceOps | None = None
    leaf: LeafLookup | None = None
    #: may use WebAssembly's 128-bit vector instructions (UTF-8 validation); off for engines
    #: without SIMD (`FuseOptions.simd`)
    simd: bool = True
    shared: SharedFuncs | None = None

    def handle(self, t: Own | Borrow | Stream | Future) -> None:
        if self.resources is None and isinstance(t, Stream | Future):
            raise UnsupportedFeature(f"cannot adapt values of type {t!r} without handle tables")
        f = (
            None
            if self.resources is None
            else self.resources.transfer(t, self.src.name == "caller")
        )
        if f is not None:
            self.b.call(f)

    def __init__(self, b: Body, src: _Side, dst: _Side) -> None:
        self.b = b
        self.src = src
        self.dst = dst

    # -- shared checks ------------------------------------------------------------------------
    def operand(self, v: Operand) -> None:
        if isinstance(v, tuple):
            self.b.get(v[1])
        else:
            self.b.i32(v)

    def check_align(self, ptr: int, align: int) -> None:
        if align > 1:
            self.b.get(ptr).i32(align - 1).op("i32.and").trap_if()

    def check_bounds(self, side: _Side, ptr: int, size: Operand) -> None:
        """Trap unless ptr + size <= memory.size * 65536, computed without 32-bit wrap-around."""
        b = self.b
        b.get(ptr).op("i64.extend_i32_u")
        if isinstance(size, tuple):
            b.get(size[1]).op("i64.extend_i32_u")
        else:
            b.i64(size)
        b.op("i64.add").memory_size(side.mem).op("i64.extend_i32_u").i64(16).op("i64.shl")
        b.op("i64.gt_u").trap_if()

    def check_ptr(self, side: _Side, ptr: int, align: int, size: Operand) -> None:
        self.check_align(ptr, align)
        self.check_bounds(side, ptr, size)

    def call_realloc(self, side: _Side) -> None:
        """`side`'s realloc on the four arguments on the stack: its code inline when it is a
        small leaf (`LeafFunc`: the arguments stored into its parameters' locals, its other
        locals zeroed as at a call's entry), else a call.

        Used for list and spilled-parameter buffers only. Strings call: their adapters run a
        validation or transcoding loop after the allocation, and an inlined allocator's
        `memory.copy` branch (a runtime call in Cranelift, even where never taken) made the
        register allocator spill in that loop (string-transcode 9% slower; list-record 5%
        faster)."""
        f = side.realloc
        leaf = None if self.leaf is None else self.leaf(f)
        if leaf is None or not self.b.inline_call(leaf.body, leaf.params, leaf.locals, leaf.result):
            self.b.call(f)

    def alloc(self, side: _Side, old: Operand, old_size: Operand, align: int, size: Operand) -> int:
        """Call `side`'s realloc(old, old_size, align, size); returns a fresh local."""
        for v in (old, old_size, align, size):
            self.operand(v)
        self.call_realloc(side)
        r = self.b.local("i32")
        self.b.set(r)
        return r

    def realloc_into(
        self, side: _Side, ptr: int, old_size: Operand, align: int, size: Operand
    ) -> None:
        """ptr = realloc(ptr, old_size, align, size) (a shrink or grow of our own buffer)."""
        self.operand(_L(ptr))
        for v in (old_size, align, size):
            self.operand(v)
        self.b.call(side.realloc).set(ptr)

    # -- flat -> flat -----------------------------------------------------------------------
    def flat(self, t: ValType, src: _FlatSrc, sink: _Sink) -> None:
        b = self.b
        match despecialize(t):
            case Bool():
                src.push("i32")
                b.i32(0).op("i32.ne")
                sink.push("i32")
            case U8() | U16():
                src.push("i32")
                b.i32(0xFF if isinstance(t, U8) else 0xFFFF).op("i32.and")
                sink.push("i32")
            case S8():
                src.push("i32")
                b.op("i32.extend8_s")
                sink.push("i32")
            case S16():
                src.push("i32")
                b.op("i32.extend16_s")
                sink.push("i32")
            case S32() | U32() | S64() | U64() | F32() | F64():
                ct = flatten_type(t)[0]
                src.push(ct)
                sink.push(ct)
            case Char():
                c, owned = src.local("i32")
                self._check_char(c)
                b.get(c)
                sink.push("i32")
                if owned:
                    b.free(c)
            case Flags(labels):
                src.push("i32")
                if len(labels) < 32:
                    b.i32((1 << len(labels)) - 1).op("i32.and")
                sink.push("i32")
            case Record(fields):
                for _, f in fields:
                    self.flat(f, src, sink)
            case List(e, n) if n is not None:
                for _ in range(n):
                    self.flat(e, src, sink)
            case Variant(cases):
                self._flat_variant(cases, src, sink)
            case String() | List():
                ptr, own_p = src.local("i32")
                ln, own_l = src.local("i32")
                if isinstance(t, String):
                    dptr, dlen = self.string(ptr, ln)
                else:
                    dptr, dlen = self.list(despecialize(t).elem, ptr, ln), ln  # type: ignore[attr-defined]
                b.get(dptr)
                sink.push("i32")
                b.get(dlen)
                sink.push("i32")
                b.free(*[x for x, o in ((ptr, own_p), (ln, own_l)) if o])
                b.free(dptr)
                if dlen != ln:
                    b.free(dlen)
            case Own() | Borrow() | Stream() | Future() as h:
                src.push("i32")
                self.handle(h)
                sink.push("i32")
            case _:
                raise UnsupportedFeature(f"cannot adapt values of type {t!r}")

    def flat_to_mem(self, t: ValType, src: _FlatSrc, side: _Side, ptr: int, off: int) -> None:
        """Flat values of ``t`` stored at ``ptr + off`` in ``side``'s memory: the spec's
        `lift_flat` then `store`. A variant with payloads stores its discriminant and then only
        its case's payload (from the joined slots, coerced back), as `store_variant` does."""
        try:
            sink = _MemSink(self.b, side, ptr, t, off)
        except UnsupportedFeature:
            sink = None
        if sink is not None:
            self.flat(t, src, sink)
            return
        b = self.b
        match despecialize(t):
            case Record(fields):
                for (_, f), fo in zip(fields, field_offsets(fields)):
                    self.flat_to_mem(f, src, side, ptr, off + fo)
            case List(e, n) if n is not None:
                for i in range(n):
                    self.flat_to_mem(e, src, side, ptr, off + i * elem_size(e))
            case Variant(cases):
                width = elem_size(discriminant_type(cases))
                d, own_d = src.local("i32")
                self._check_disc(d, len(cases), 4)
                b.get(ptr).get(d).store(_STORE_BY_SIZE[width], side.mem, off)
                payload = src.take(len(flatten_variant_payload(cases)))
                po = off + payload_offset(cases)

                def case(i: int, c: ValType | None) -> None:
                    payload.i = 0
                    if c is not None:
                        self.flat_to_mem(c, payload, side, ptr, po)

                self._switch(d, cases, case)
                if own_d:
                    b.free(d)
            case _:
                raise UnsupportedFeature(
                    f"storing flat values of type {t!r} at an async result pointer (not fused yet)"
                )

    def _check_char(self, c: int) -> None:
        # trap if c >= 0x110000 or 0xD800 <= c <= 0xDFFF (convert_i32_to_char)
        self.b.get(c).i32(0x110000).op("i32.ge_u")
        self.b.get(c).i32(0xD800).op("i32.sub").i32(0x800).op("i32.lt_u", "i32.or").trap_if()

    def _check_disc(self, d: int, n: int, width: int) -> None:
        if n < (1 << (8 * width)):
            self.b.get(d).i32(n).op("i32.ge_u").trap_if()

    def _flat_variant(self, cases, src: _FlatSrc, sink: _Sink) -> None:
        b = self.b
        slot_types = flatten_variant_payload(cases)
        d, own_d = src.local("i32")
        self._check_disc(d, len(cases), 4)
        payload = src.take(len(slot_types))
        if slot_types:
            outs = [(b.local(st), st) for st in slot_types]
            self._switch(d, cases, lambda i, c: self._flat_case(c, payload, outs))
        b.get(d)
        sink.push("i32")
        if slot_types:
            for idx, st in outs:
                b.get(idx)
                sink.push(st)
            b.free(*[idx for idx, _ in outs])
        if own_d:
            b.free(d)

    def _flat_case(self, c, payload: _FlatSrc, outs) -> None:
        payload.i = 0
        out = _SlotSink(self.b, outs)
        if c is not None:
            self.flat(c, payload, out)
        for idx, st in outs[out.i :]:  # lower_flat_variant zero-fills unused slots
            self.b.zero(st).set(idx)

    def _switch(self, d: int, cases, emit: Callable[[int, ValType | None], None]) -> None:
        """Branch on case index `d` (already validated); `emit(i, case_type)` per case."""
        b = self.b
        n = len(cases)
        if n == 1:
            emit(0, cases[0][1])
            return
        if n == 2:
            b.get(d).if_()
            emit(1, cases[1][1])
            b.op("else")
            emit(0, cases[0][1])
            b.end()
            return
        b.block()
        for _ in range(n):
            b.block()
        b.get(d).br_table(list(range(n)), n - 1)
        for i, (_, c) in enumerate(cases):
            b.end()
            emit(i, c)
            if i < n - 1:
                b.br(n - 1 - i)
        b.end()

    # -- memory -> memory ---------------------------------------------------------------------
    def mem(self, t: ValType, s: Loc, d: Loc) -> None:
        b = self.b
        sm, dm = self.src.mem, self.dst.mem
        (sa, so), (da, do) = s, d
        dt = despecialize(t)
        size = elem_size(t)
        if _is_plain(dt) and size >= _MEMCPY_MIN:
            b.get(da)
            if do:
                b.i32(do).op("i32.add")
            b.get(sa)
            if so:
                b.i32(so).op("i32.add")
            b.i32(size).memory_copy(dm, sm)
            return
        match dt:
            case S8() | U8() | S16() | U16() | S32() | U32() | S64() | U64() | F32() | F64():
                ld, stn = _INT_COPY[size]
                b.get(da).get(sa).load(ld, sm, so).store(stn, dm, do)
            case Bool():
                b.get(da).get(sa).load("i32.load8_u", sm, so).i32(0).op("i32.ne")
                b.store("i32.store8", dm, do)
            case Char():
                c = b.local("i32")
                b.get(sa).load("i32.load", sm, so).set(c)
                self._check_char(c)
                b.get(da).get(c).store("i32.store", dm, do)
                b.free(c)
            case Flags(labels):
                ld, stn = _INT_COPY[size]
                b.get(da).get(sa).load(ld, sm, so)
                if len(labels) < 8 * size:
                    b.i32((1 << len(labels)) - 1).op("i32.and")
                b.store(stn, dm, do)
            case Record(fields):
                for (_, f), off in zip(fields, field_offsets(fields)):
                    self.mem(f, (sa, so + off), (da, do + off))
            case List(e, n) if n is not None:
                es = elem_size(e)
                if n * _leaves(e) <= _UNROLL_LEAVES:
                    for i in range(n):
                        self.mem(e, (sa, so + i * es), (da, do + i * es))
                else:
                    sc, dc, cnt = b.local("i32"), b.local("i32"), b.local("i32")
                    b.get(sa).i32(so).op("i32.add").set(sc)
                    b.get(da).i32(do).op("i32.add").set(dc)
                    b.i32(n).set(cnt)
                    self._loop(e, sc, dc, cnt)
                    b.free(sc, dc, cnt)
            case Variant(cases):
                self._mem_variant(cases, s, d)
            case String() | List():
                ptr, ln = b.local("i32"), b.local("i32")
                b.get(sa).load("i32.load", sm, so).set(ptr)
                b.get(sa).load("i32.load", sm, so + 4).set(ln)
                if isinstance(dt, String):
                    dptr, dlen = self.string(ptr, ln)
                else:
                    dptr, dlen = self.list(dt.elem, ptr, ln), ln
                b.get(da).get(dptr).store("i32.store", dm, do)
                b.get(da).get(dlen).store("i32.store", dm, do + 4)
                b.free(ptr, ln, dptr)
                if dlen != ln:
                    b.free(dlen)
            case Own() | Borrow() | Stream() | Future() as h:
                b.get(da).get(sa).load("i32.load", sm, so)
                self.handle(h)
                b.store("i32.store", dm, do)
            case _:
                raise UnsupportedFeature(f"cannot adapt values of type {t!r}")

    def _mem_variant(self, cases, s: Loc, d: Loc) -> None:
        b = self.b
        sm, dm = self.src.mem, self.dst.mem
        (sa, so), (da, do) = s, d
        width = elem_size(discriminant_type(cases))
        ld, stn = _INT_COPY[width]
        disc = b.local("i32")
        b.get(sa).load(ld, sm, so).set(disc)
        self._check_disc(disc, len(cases), width)
        b.get(da).get(disc).store(stn, dm, do)
        po = payload_offset(cases)
        if any(c is not None for _, c in cases):

            def case(i: int, c: ValType | None) -> None:
                if c is not None:
                    self.mem(c, (sa, so + po), (da, do + po))

            with_payload = [i for i, (_, c) in enumerate(cases) if c is not None]
            if len(with_payload) == 1 and len(cases) > 2:
                (k,) = with_payload
                b.get(disc).i32(k).op("i32.eq").if_()
                case(k, cases[k][1])
                b.end()
            else:
                self._switch(disc, cases, case)
        b.free(disc)

    def _loop(self, elem: ValType, sc: int, dc: int, cnt: int) -> None:
        """Translate `cnt` (> 0 not required) elements from sc.. to dc.. advancing both cursors.

        Elements without pointers or handles go `_unroll(elem)` at a time (static offsets from
        the cursors), then one at a time for the rest: the per-element loop bookkeeping, not
        the loads and stores, dominates a copy of small records (measured: list-record).
        Elements are still translated one by one, in order, so padding stays untouched and
        every check traps where it did."""
        b = self.b
        es = elem_size(elem)
        u = _unroll(elem)
        if u > 1:  # tested once before and then at the bottom: one branch per iteration
            b.block().get(cnt).i32(u).op("i32.lt_u").br_if(0).loop()
            for k in range(u):
                self.mem(elem, (sc, k * es), (dc, k * es))
            b.get(sc).i32(u * es).op("i32.add").set(sc)
            b.get(dc).i32(u * es).op("i32.add").set(dc)
            b.get(cnt).i32(u).op("i32.sub").tee(cnt).i32(u).op("i32.ge_u").br_if(0)
            b.end().end()
        b.block().get(cnt).op("i32.eqz").br_if(0).loop()
        self.mem(elem, (sc, 0), (dc, 0))
        b.get(sc).i32(es).op("i32.add").set(sc)
        b.get(dc).i32(es).op("i32.add").set(dc)
        b.get(cnt).i32(1).op("i32.sub").tee(cnt).br_if(0)
        b.end().end()

    # -- lists ------------------------------------------------------------------------------
    def list(self, elem: ValType, ptr: int, ln: int) -> int:
        """load_list_from_range on src + store_list_into_range on dst; returns the dst pointer."""
        b = self.b
        es, align = elem_size(elem), alignment(elem)
        b.get(ln).i32(MAX_LIST_BYTE_LENGTH // es).op("i32.gt_u").trap_if()
        nbytes = b.local("i32")
        b.get(ln)
        if es != 1:
            b.i32(es).op("i32.mul")
        b.set(nbytes)
        self.check_ptr(self.src, ptr, align, _L(nbytes))
        dptr = self.alloc(self.dst, 0, 0, align, _L(nbytes))
        self.check_ptr(self.dst, dptr, align, _L(nbytes))
        if _is_plain(elem):
            b.get(dptr).get(ptr).get(nbytes).memory_copy(self.dst.mem, self.src.mem)
        else:
            sc, dc, cnt = b.local("i32"), b.local("i32"), b.local("i32")
            b.get(ptr).set(sc).get(dptr).set(dc).get(ln).set(cnt)
            self._loop(elem, sc, dc, cnt)
            b.free(sc, dc, cnt)
        b.free(nbytes)
        return dptr

    # -- strings ----------------------------------------------------------------------------
    def string(self, ptr: int, ln: int) -> tuple[int, int]:
        """load_string_from_range on src + store_string_into_range on dst.

        Returns fresh locals (dst pointer, dst tagged length). Source validation happens while
        transcoding, so a malformed string may trap after a destination realloc; since a trap
        aborts the whole call this is indistinguishable from the spec's validate-first order.
        With a ``shared`` function space this is a call: a UTF-8 to UTF-8 copy to the shared
        function doing it for these two sides (`_utf8_copier`), anything else to the one
        transcoding between these two sides' encodings (`_transcoder`): the checks, realloc
        calls and loops (with their vector code) were most of every adapter's code, and the
        call costs no measurable time next to them (string-transcode's fastest runs 4% faster
        and 3% slower in two A/B runs against the same code inline; 12% slower when the loops
        were scalar and smaller).
        """
        b = self.b
        dptr, dlen = b.local("i32"), b.local("i32")
        if self.shared is not None:
            src, dst, simd, shared = self.src, self.dst, self.simd, self.shared
            if src.enc == dst.enc == "utf8":
                key: tuple[object, ...] = ("copy-utf8", src.mem, dst.mem, dst.realloc, simd)
                f = shared(key, lambda: _utf8_copier(src.opts, dst.opts, simd, shared))
                b.get(ptr).get(ln).call(f).set(dptr).get(ln).set(dlen)
                return dptr, dlen
            key = ("transcode", src.mem, src.enc, dst.mem, dst.enc, dst.realloc, simd)
            f = shared(key, lambda: _transcoder(src.opts, dst.opts, simd, shared))
            b.get(ptr).get(ln).call(f).set(dlen).set(dptr)
            return dptr, dlen
        self._transcode(ptr, ln, dptr, dlen)
        return dptr, dlen

    def _transcode(self, ptr: int, ln: int, dptr: int, dlen: int) -> None:
        """The string's checks and its store into the destination, `dptr` and `dlen` set."""
        b = self.b
        match self.src.enc:
            case "utf8":
                self._src_range(ptr, ln, 1, 1)
                self._store(dptr, dlen, "utf8", ptr, ln, compact=False)
            case "utf16":
                self._src_range(ptr, ln, 2, 2)
                self._store(dptr, dlen, "utf16", ptr, ln, compact=False)
            case "latin1+utf16":
                units = b.local("i32")
                b.get(ln).i32(UTF16_TAG).op("i32.and").if_()
                b.get(ln).i32(UTF16_TAG).op("i32.xor").set(units)
                self._src_range(ptr, units, 2, 2)
                self._store(dptr, dlen, "utf16", ptr, units, compact=True)
                b.op("else")
                self._src_range(ptr, ln, 1, 2)
                self._store(dptr, dlen, "latin1", ptr, ln, compact=True)
                b.end()
                b.free(units)

    def _src_range(self, ptr: int, units: int, unit: int, align: int) -> None:
        """The byte-length cap, alignment and bounds checks of load_string_from_range."""
        b = self.b
        b.get(units).i32(MAX_STRING_BYTE_LENGTH // unit).op("i32.gt_u").trap_if()
        self.check_align(ptr, align)
        if unit == 1:
            self.check_bounds(self.src, ptr, _L(units))
        else:
            nbytes = b.local("i32")
            b.get(units).i32(1).op("i32.shl").set(nbytes)
            self.check_bounds(self.src, ptr, _L(nbytes))
            b.free(nbytes)

    def _store(self, dptr: int, dlen: int, simple: str, ptr: int, n: int, compact: bool) -> None:
        """store_string_into_range's dispatch, for a source of `simple` encoding and n units.
        Transcoding between encodings is generated by `pymeld.abi.transcode`, loaded by the
        first string that needs it (a composition whose strings are all UTF-8 never does)."""
        if self.dst.enc == simple == "utf8":
            self._validate(simple, ptr, n)
            self._copy(dptr, dlen, ptr, n, 1, 1)
            return
        from pymeld.abi import transcode

        match self.dst.enc, simple:
            case "utf8", _:
                transcode.to_utf8(self, dptr, dlen, simple, ptr, n)
            case "utf16", "utf8":
                transcode.utf8_to_utf16(self, dptr, dlen, ptr, n)
            case "utf16", "utf16":
                self._validate(simple, ptr, n)
                self._copy(dptr, dlen, ptr, n, 2, 2)
            case "utf16", "latin1":
                self._copy(dptr, dlen, ptr, n, 2, 2, inflate=True)
            case "latin1+utf16", "latin1":
                self._copy(dptr, dlen, ptr, n, 1, 2)
            case "latin1+utf16", "utf16" if compact:
                transcode.probably_utf16_to_compact(self, dptr, dlen, ptr, n)
            case "latin1+utf16", _:
                transcode.to_compact(self, dptr, dlen, simple, ptr, n)
            case _:
                raise AssertionError((self.dst.enc, simple))

    def _validate(self, simple: str, ptr: int, n: int) -> None:
        if simple == "latin1":
            return
        if simple == "utf8":
            self._validate_utf8(ptr, n)
            return
        b = self.b
        i, cp = b.local("i32"), b.local("i32")
        b.i32(0).set(i)
        from pymeld.abi import transcode

        transcode.each_cp(self, simple, ptr, i, n, cp, lambda: None)
        b.free(i, cp)

    def _validate_utf8(self, ptr: int, n: int) -> None:
        """Trap unless the `n` bytes at `ptr` are well-formed UTF-8: a call to the source
        memory's validator (`_utf8_validator`) when there is a ``shared`` function space, else
        its code inline."""
        if self.shared is None:
            self._validate_utf8_code(ptr, n)
            return
        mem, simd = self.src.mem, self.simd
        f = self.shared(("validate-utf8", mem, simd), lambda: _utf8_validator(mem, simd))
        self.b.get(ptr).get(n).call(f)

    def _validate_utf8_code(self, ptr: int, n: int) -> None:
        """The checks of `_decode_utf8` without building code points (utf8 -> utf8 copies are
        validated, then copied with `memory.copy`): 16 bytes at a time with vector code from
        16 bytes on (`_validate_utf8_simd`, unless ``simd`` is off), else word at a time
        (`_utf8_word_step`), the last bytes byte by byte (`_validate_utf8_tail`)."""
        b = self.b
        if self.simd:
            b.get(n).i32(16).op("i32.ge_u").if_()
            self._validate_utf8_simd(ptr, n)
            b.op("else")
        i, w, v = (b.local("i32") for _ in range(3))
        m = b.local("i64")
        b.i32(0).set(i)
        b.block().loop()  # $tail $steps
        self._utf8_word_step(ptr, i, n, w, v, m)
        b.get(i).i32(8).op("i32.add").get(n).op("i32.le_u").br_if(0)
        b.end().end()
        b.free(w, v, m)
        self._validate_utf8_tail(ptr, n, i)
        b.free(i)
        if self.simd:
            b.end()

    def _validate_utf8_simd(self, ptr: int, n: int) -> None:
        """UTF-8 validation of `n` >= 16 bytes, 16 per step: Keiser and Lemire's lookup
        algorithm ("Validating UTF-8 in less than one instruction per byte", 2021; simdjson's
        `utf8_lookup4`). Three 16-entry tables, indexed (`i8x16.swizzle`) by the high and low
        nibble of each byte's predecessor and the high nibble of the byte, flag every invalid
        two-byte pattern (too short, too long, overlong, surrogate, > U+10FFFF, two
        continuations); a byte two or three after a 3- or 4-byte lead must be a continuation
        (saturating subtractions); a block ending inside a sequence is an error unless the next
        block completes it. A block without high bits only carries that last check. The last,
        partial block is the 16 bytes ending at `n` shifted down (swizzle indices past 15 give
        0), so the bytes past the string read as ASCII and a sequence cut by the end fails.
        Accepts exactly the well-formed strings (those `str.decode` accepts), so the adapter
        traps exactly where the spec does."""
        b = self.b
        sm = self.src.mem
        off = b.local("i32")
        cur, prev, p1, inc, err = (b.local("v128") for _ in range(5))
        b.i32(0).set(off)
        for x in (prev, inc, err):
            b.zero("v128").set(x)
        b.block().loop()  # $done $blocks
        b.get(off).get(n).op("i32.ge_u").br_if(1)
        b.get(off).i32(16).op("i32.add").get(n).op("i32.le_u").if_("v128")
        b.get(ptr).get(off).op("i32.add").v128_load(sm)
        b.op("else")
        b.get(ptr).get(n).op("i32.add").i32(16).op("i32.sub").v128_load(sm)
        b.v128_const(bytes(range(16))).i32(16).get(n).op("i32.sub").get(off).op("i32.add")
        b.simd("i8x16.splat", "i8x16.add", "i8x16.swizzle")
        b.end().set(cur)
        b.get(off).i32(16).op("i32.add").set(off)
        b.get(cur).v128_const(bytes([0x80] * 16)).simd("v128.and", "v128.any_true").if_()
        b.get(prev).get(cur).i8x16_shuffle(range(15, 31)).set(p1)
        b.get(err)
        b.v128_const(_UTF8_BYTE1_HIGH).get(p1).i32(4).simd("i8x16.shr_u", "i8x16.swizzle")
        b.v128_const(_UTF8_BYTE1_LOW).get(p1).v128_const(bytes([0x0F] * 16))
        b.simd("v128.and", "i8x16.swizzle", "v128.and")
        b.v128_const(_UTF8_BYTE2_HIGH).get(cur).i32(4).simd("i8x16.shr_u", "i8x16.swizzle")
        b.simd("v128.and")
        b.get(prev).get(cur).i8x16_shuffle(range(14, 30))  # 3rd byte of a 3- or 4-byte lead
        b.v128_const(bytes([0xE0 - 0x80] * 16)).simd("i8x16.sub_sat_u")
        b.get(prev).get(cur).i8x16_shuffle(range(13, 29))  # 4th byte of a 4-byte lead
        b.v128_const(bytes([0xF0 - 0x80] * 16)).simd("i8x16.sub_sat_u", "v128.or")
        b.v128_const(bytes([0x80] * 16)).simd("v128.and", "v128.xor", "v128.or").set(err)
        b.get(cur).v128_const(_UTF8_INCOMPLETE).simd("i8x16.sub_sat_u").set(inc)
        b.op("else")
        b.get(err).get(inc).simd("v128.or").set(err)
        b.zero("v128").set(inc)
        b.end()
        b.get(cur).set(prev)
        b.br(0)
        b.end().end()
        b.get(err).get(inc).simd("v128.or", "v128.any_true").trap_if()
        b.free(off, cur, prev, p1, inc, err)

    def _utf8_word_step(self, ptr: int, i: int, end: int, w: int, v: int, m: int) -> None:
        """One step of a cursor `i` (< `end`) while 8 bytes remain (else nothing): an
        all-ASCII word is skipped whole; otherwise the ASCII bytes before its first high byte
        are (`i64.ctz`), and the sequence there is checked from one 4-byte load (all inside
        [i, end)): its lead and continuation bit patterns by one mask compare per length, and
        the code point bits that decide overlongs, surrogates and > U+10FFFF (cp >> 11 for 3
        bytes, cp >> 16 for 4) branch-free. Accepts exactly well-formed sequences."""
        b = self.b
        sm = self.src.mem

        def advance(k: int, depth: int) -> None:
            b.get(i).i32(k).op("i32.add").set(i).br(depth)

        b.block()  # $step
        b.get(i).i32(8).op("i32.add").get(end).op("i32.gt_u").br_if(0)
        b.get(ptr).get(i).op("i32.add").load("i64.load", sm)
        b.i64(0x8080808080808080).op("i64.and").tee(m).op("i64.eqz").if_()
        advance(8, 1)
        b.end()
        b.get(i).get(m).op("i64.ctz", "i32.wrap_i64").i32(3).op("i32.shr_u", "i32.add").tee(i)
        b.i32(4).op("i32.add").get(end).op("i32.gt_u").br_if(0)
        b.get(ptr).get(i).op("i32.add").load("i32.load", sm).set(w)
        self._utf8_seq(w, v, lambda k, inner: advance(k, inner))
        b.end()

    def _utf8_seq(self, w: int, v: int, take: Callable[[int, int], None]) -> None:
        """Check the UTF-8 sequence in the low bytes of `w` (4 bytes loaded, all inside the
        string; its first byte is not ASCII) and emit ``take(k, inner)`` for its length k
        (2 and 3 inside one more `if`, which ``take`` must branch out of; 4 last, where
        ``inner`` is 0). Lead and continuation bit patterns take one mask compare per length;
        the code point bits that decide overlongs, surrogates and > U+10FFFF (cp >> 11 for 3
        bytes, cp >> 16 for 4) are checked branch-free; anything else traps. Accepts exactly
        the well-formed sequences."""
        b = self.b
        # 110xxxxx 10xxxxxx, lead >= C2
        b.get(w).i32(0xC0E0).op("i32.and").i32(0x80C0).op("i32.eq").if_()
        b.get(w).i32(0x1E).op("i32.and", "i32.eqz").trap_if()
        take(2, 1)
        b.end()
        # 1110xxxx 10xxxxxx 10xxxxxx, cp >> 11 not 0 (overlong) nor 0x1B (surrogate)
        b.get(w).i32(0xC0C0F0).op("i32.and").i32(0x8080E0).op("i32.eq").if_()
        b.get(w).i32(0xF).op("i32.and").i32(1).op("i32.shl")
        b.get(w).i32(13).op("i32.shr_u").i32(1).op("i32.and", "i32.or").tee(v)
        b.op("i32.eqz").get(v).i32(0x1B).op("i32.eq", "i32.or").trap_if()
        take(3, 1)
        b.end()
        # 11110xxx 10xxxxxx 10xxxxxx 10xxxxxx, 1 <= cp >> 16 <= 0x10
        b.get(w).i32(0xC0C0C0F8).op("i32.and").i32(0x808080F0).op("i32.ne")
        b.get(w).i32(7).op("i32.and").i32(2).op("i32.shl")
        b.get(w).i32(12).op("i32.shr_u").i32(3).op("i32.and", "i32.or")
        b.i32(1).op("i32.sub").i32(0x10).op("i32.ge_u", "i32.or").trap_if()
        take(4, 0)

    def _validate_utf8_tail(self, ptr: int, n: int, i: int) -> None:
        """Byte-wise validation from index `i` to the end: ASCII bytes take one compare and a
        branch back; the second byte's range (no overlongs, surrogates or > U+10FFFF) is
        computed branch-free from the lead byte."""
        b = self.b
        sm = self.src.mem
        p, c, lo = (b.local("i32") for _ in range(3))

        def need(extra: int) -> None:  # the sequence must fit in the string
            b.get(i).i32(extra).op("i32.add").get(n).op("i32.ge_u").trap_if()

        def cont(off: int) -> None:  # a continuation byte: 10xxxxxx
            b.get(p).load("i32.load8_u", sm, off).i32(0xC0).op("i32.and")
            b.i32(0x80).op("i32.ne").trap_if()

        def second() -> None:  # lo..hi: E0 A0.., ED ..9F, F0 90.., F4 ..8F, else 80..BF
            b.i32(0x80).get(c).i32(0xE0).op("i32.eq").i32(5).op("i32.shl", "i32.add")
            b.get(c).i32(0xF0).op("i32.eq").i32(4).op("i32.shl", "i32.add").set(lo)
            b.get(p).load("i32.load8_u", sm, 1).get(lo).op("i32.sub")
            b.i32(0xBF).get(c).i32(0xED).op("i32.eq").i32(5).op("i32.shl", "i32.sub")
            b.get(c).i32(0xF4).op("i32.eq").i32(0x30).op("i32.mul", "i32.sub")
            b.get(lo).op("i32.sub", "i32.gt_u").trap_if()

        def advance(k: int, depth: int) -> None:
            b.get(i).i32(k).op("i32.add").set(i).br(depth)

        b.block().loop()
        b.get(i).get(n).op("i32.ge_u").br_if(1)
        b.get(ptr).get(i).op("i32.add").tee(p).load("i32.load8_u", sm).tee(c)
        b.i32(0x80).op("i32.lt_u").if_()
        advance(1, 1)
        b.end()
        b.get(c).i32(0xC2).op("i32.sub").i32(0xF5 - 0xC2).op("i32.ge_u").trap_if()
        b.get(c).i32(0xE0).op("i32.lt_u").if_()
        need(1)
        cont(1)
        advance(2, 1)
        b.end()
        b.get(c).i32(0xF0).op("i32.lt_u").if_()
        need(2)
        second()
        cont(2)
        advance(3, 1)
        b.end()
        need(3)
        second()
        cont(2)
        cont(3)
        advance(4, 0)
        b.end().end()
        b.free(p, c, lo)

    # -- transcoding, for subclasses storing strings their own way (`pymeld.abi.transcode`)
    def _each_cp(
        self, simple: str, base: int, i: int, n: int, cp: int, body: Callable[[], None]
    ) -> None:
        from pymeld.abi import transcode

        transcode.each_cp(self, simple, base, i, n, cp, body)

    def _encode_utf8(self, base: int, j: int, cp: int) -> None:
        from pymeld.abi import transcode

        transcode.encode_utf8(self, base, j, cp)

    def _encode_utf16(self, base: int, j: int, cp: int) -> None:
        from pymeld.abi import transcode

        transcode.encode_utf16(self, base, j, cp)

    def _to_compact(
        self, dptr: int, dlen: int, simple: str, ptr: int, n: int, size: int | None = None
    ) -> None:
        from pymeld.abi import transcode

        transcode.to_compact(self, dptr, dlen, simple, ptr, n, size)

    def _dst_alloc(self, dptr: int, old: Operand, old_size: Operand, align: int, size: Operand):
        """dptr = realloc(...); then the spec's alignment and bounds checks on the result."""
        self.operand(old)
        for v in (old_size, align, size):
            self.operand(v)
        self.b.call(self.dst.realloc).set(dptr)  # strings: no inlining (`call_realloc`)
        self.check_ptr(self.dst, dptr, align, size)

    def _copy(self, dptr, dlen, ptr, n, dst_unit, align, inflate: bool = False) -> None:
        """store_string_copy: same code units, byte copy (or latin1 -> utf16 widening)."""
        b = self.b
        nbytes = b.local("i32")
        b.get(n)
        if dst_unit == 2:
            b.i32(1).op("i32.shl")
        b.set(nbytes)
        self._dst_alloc(dptr, 0, 0, align, _L(nbytes))
        if inflate:
            i = b.local("i32")
            b.i32(0).set(i)
            if self.simd:
                from pymeld.abi.transcode import widen_latin1_blocks

                widen_latin1_blocks(self, dptr, ptr, n, i)
            b.block().loop()
            b.get(i).get(n).op("i32.ge_u").br_if(1)
            b.get(dptr).get(i).i32(1).op("i32.shl", "i32.add")
            b.get(ptr).get(i).op("i32.add").load("i32.load8_u", self.src.mem)
            b.store("i32.store16", self.dst.mem)
            b.get(i).i32(1).op("i32.add").set(i)
            b.br(0).end().end()
            b.free(i)
        else:
            b.get(dptr).get(ptr).get(nbytes).memory_copy(self.dst.mem, self.src.mem)
        b.get(n).set(dlen)
        b.free(nbytes)


def _shared_string_func(
    src: CanonOptions, dst: CanonOptions, simd: bool, shared: SharedFuncs | None
) -> tuple[Body, _Translator]:
    """The body of a shared string function over (ptr, n) (locals 0 and 1), and a translator
    from ``src`` into ``dst`` emitting into it."""
    b = Body(("i32", "i32"))
    t = _Translator(b, _Side("source", src), _Side("destination", dst))
    t.simd = simd
    t.shared = shared
    return b, t


def _shared_func(b: Body, results: tuple[CoreValType, ...]) -> Adapter:
    """The finished (ptr, n) -> ``results`` function of ``b`` (`_shared_string_func`)."""
    b.end()
    return Adapter(("i32", "i32"), results, tuple(b.locals), bytes(b.code), b.encode_locals())


def _utf8_copier(src: CanonOptions, dst: CanonOptions, simd: bool, shared: SharedFuncs) -> Adapter:
    """(ptr, n) -> dst ptr: load_string_from_range in ``src`` and store_string_into_range in
    ``dst`` of n bytes of UTF-8 (`_Translator.string`, the validation a call to the shared
    validator of ``src``'s memory); the shared function UTF-8 to UTF-8 copies call."""
    b, t = _shared_string_func(src, dst, simd, shared)
    dptr, dlen = b.local("i32"), b.local("i32")
    t._src_range(0, 1, 1, 1)
    t._store(dptr, dlen, "utf8", 0, 1, compact=False)
    b.get(dptr)
    return _shared_func(b, ("i32",))


def _transcoder(src: CanonOptions, dst: CanonOptions, simd: bool, shared: SharedFuncs) -> Adapter:
    """(ptr, n) -> (dst ptr, dst n): a string of ``src``'s encoding into ``dst``
    (`_Translator._transcode`); the shared function transcoding strings call."""
    b, t = _shared_string_func(src, dst, simd, shared)
    dptr, dlen = b.local("i32"), b.local("i32")
    t._transcode(0, 1, dptr, dlen)
    b.get(dptr).get(dlen)
    return _shared_func(b, ("i32", "i32"))


def _utf8_validator(mem: int, simd: bool) -> Adapter:
    """(ptr, n) -> (): trap unless the n bytes at ptr in memory ``mem`` are well-formed UTF-8
    (`_Translator._validate_utf8_code`); the shared function `_validate_utf8` calls."""
    opts = CanonOptions("utf8", memory=mem)
    b, t = _shared_string_func(opts, opts, simd, None)
    t._validate_utf8_code(0, 1)
    return _shared_func(b, ())
