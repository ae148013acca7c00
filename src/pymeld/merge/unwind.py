"""Suspendable core functions: an asyncify-style transform of a core module (phase 1).

Fused code is one core module run without stack switching, so a core stack that must stay
suspended while its caller goes on (a callee entered by an async call that blocks inside its
core code, see `merge.asynctask`) has to be taken apart: every function that may be on such a
stack learns to *unwind* (save its frame to linear memory and return) and to *rewind* (be
called again and run straight to where it stopped), as Binaryen's Asyncify does. This module is
the transform; `merge.asynctask` drives it for `thread.yield` (its suspend points are the
yield stand-ins, its barriers every generated function: the task entries stop the unwinds).

Protocol (the globals and buffers are the caller's, `UnwindGlobals`):

* ``state`` (mutable i32 global): `NORMAL` 0, `UNWINDING` 1, `REWINDING` 2.
* ``data`` (mutable i32 global): address, in ``memory``, of the active frame buffer's header
  ``{current: i32, end: i32}``; frames are pushed at ``current`` (which moves up) and popped
  back down. One header and buffer per suspended stack (per task): switching stacks is setting
  ``data``. Pushing past ``end`` traps (as does a header with ``current > end``).
* A *suspend point* is a function (an import, or a generated function standing for a blocking
  built-in) whose call may start an unwind; it is not rewritten. Called in `NORMAL` state, it
  may suspend: set ``data`` and ``state = UNWINDING`` (``start_unwind``) and return any value;
  every rewritten caller then saves its frame and returns, up to whoever called in (the
  scheduler or host), which sets ``state = NORMAL`` (``stop_unwind``). To resume, it sets
  ``data`` and ``state = REWINDING`` (``start_rewind``) and calls the same outermost function
  again (arguments are ignored: each frame restores its locals); the calls re-enter down to
  the suspend point, called again in `REWINDING` state, which sets ``state = NORMAL``
  (``stop_rewind``) and returns the real result. `control_functions` generates these four.
* A suspend must not cross a host frame or a function that is not rewritten (e.g. through an
  import calling back into an export): nothing could save that frame.

A rewritten function (`unwind`) starts with: if rewinding, pop its frame (every local,
parameters included, and the call-site number). Its code is cut at the *items* of each block
body: calls that may suspend, and blocks/loops/ifs containing one. The plain runs of code
between them are wrapped in ``if state != REWINDING`` (so a rewind skips them) and leave the
operand stack in fresh locals; an item takes its operands from those locals, so the values
below a call's arguments, and the values outside a block containing a suspend point, are
spilled. A call item runs when not rewinding or when it is the saved call site; after it, if
unwinding, it records its number and branches to the function's epilogue, which pushes the
frame and returns zeros. An `if` item takes its condition from a local (restored on rewind).
A block item's results go to their locals only when not rewinding (a rewind passing through a
block leaves junk there).
Functions and code paths that cannot suspend keep their instructions (only the branch depths
of a run change: the guard is one more label).

Refused by name (`UnsupportedFeature`), because no exact rewrite exists here: reference-typed
parameters, locals, results or values live across a suspending call (they cannot be stored in
linear memory), GC, exception handling or threads instructions in a function that may suspend
(not typed by `codec.core.stack`), a loop with parameters containing a suspend point, tail calls
(``return_call*``) and ``call_ref`` that may reach a suspend point, ``br_on_null`` and
``br_on_non_null`` leaving a guarded run, a 64-bit frame memory.

Indirect calls: a ``call_indirect`` may suspend when a function that may suspend is
*address-taken* (in an element segment, a ``ref.func``, or exported while a table is imported
or exported) and has the call's function type (any type, when the call's type is not final).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import field
from typing import NoReturn

from pymeld._dataclass import dataclass
from pymeld.codec.core.emitter import NUMTYPE, BlockType, Body, CoreValType, Instrs, const_i32
from pymeld.codec.core.instructions import Visit, read_u, scan_instructions, scan_uses
from pymeld.codec.core.model import (
    Code,
    Export,
    ExternKind,
    FuncType,
    Global,
    GlobalType,
    Local,
    Module,
    NumType,
    RecGroup,
    SubType,
    ValType,
)
from pymeld.codec.core.stack import Instr, ModuleTypes, NotTyped, type_body
from pymeld.errors import UnsupportedFeature
from pymeld.plan import FuncCode

NORMAL, UNWINDING, REWINDING = 0, 1, 2

_NAME: dict[NumType, CoreValType] = {
    NumType.I32: "i32",
    NumType.I64: "i64",
    NumType.F32: "f32",
    NumType.F64: "f64",
    NumType.V128: "v128",
}
_SIZE = {NumType.I32: 4, NumType.F32: 4, NumType.I64: 8, NumType.F64: 8, NumType.V128: 16}
_BLOCKS = {0x02: "block", 0x03: "loop", 0x04: "if"}
_OPENERS = frozenset(_BLOCKS)
HEADER_SIZE = 8  # {current: i32, end: i32}


@dataclass(frozen=True, slots=True)
class UnwindGlobals:
    """Where the transform's state lives: two mutable i32 globals and the frame memory."""

    state: int
    data: int
    memory: int


@dataclass(slots=True)
class UnwindResult:
    """What `unwind` did: the functions rewritten, the bytes one frame of each takes, and
    the number of call sites that may suspend in each (a scheduler sizes buffers from these;
    recursion makes the depth unbounded, hence the trap on overflow)."""

    may_suspend: list[int] = field(default_factory=list)
    transformed: list[int] = field(default_factory=list)
    frame_sizes: dict[int, int] = field(default_factory=dict)
    call_sites: dict[int, int] = field(default_factory=dict)


# -- which functions may suspend ----------------------------------------------------------------


@dataclass(slots=True)
class _Calls:
    """The calls and function references of one body."""

    direct: set[int] = field(default_factory=set)
    tail: set[int] = field(default_factory=set)
    indirect: set[int] = field(default_factory=set)  # type indices (call_indirect, call_ref)
    refs: set[int] = field(default_factory=set)  # ref.func


def _scan_calls(body: bytes) -> _Calls:
    calls = _Calls()

    def record(into: set[int]) -> Visit:
        def visit(data: bytes, at: int, pos: int) -> int:
            v, end = read_u(data, pos)
            into.add(v)
            return end

        return visit

    visits = {
        (-1, 0x10): record(calls.direct),
        (-1, 0x12): record(calls.tail),
        (-1, 0x11): record(calls.indirect),
        (-1, 0x13): record(calls.indirect),
        (-1, 0x14): record(calls.indirect),
        (-1, 0x15): record(calls.indirect),
        (-1, 0xD2): record(calls.refs),
    }
    scan_instructions(body, visits)
    return calls


def _functype_key(ft: FuncType) -> tuple[tuple[ValType, ...], tuple[ValType, ...]]:
    return tuple(ft.params), tuple(ft.results)


class _Reach:
    """The call graph's answer to "may a call of this reach a suspend point?"."""

    def __init__(
        self,
        module: Module,
        types: ModuleTypes,
        suspend_points: Iterable[int],
        barriers: Iterable[int] = (),
    ):
        self.types = types
        self.barriers = frozenset(barriers)
        subtypes = module.subtypes()
        self.open_types = {i for i, st in enumerate(subtypes) if not st.final}
        nimp = module.num_imported(ExternKind.FUNC)
        self.calls = {nimp + k: _scan_calls(c.body) for k, c in enumerate(module.codes)}
        taken: set[int] = set()
        for calls in self.calls.values():
            taken |= calls.refs
        for e in module.elems:
            taken |= set(e.funcs or ())
            for expr in e.exprs or ():
                taken |= scan_uses(expr).funcs
        for g in module.globals:
            taken |= scan_uses(g.init).funcs
        if module.num_imported(ExternKind.TABLE) or any(
            e.kind == ExternKind.TABLE for e in module.exports
        ):
            taken |= {e.index for e in module.exports if e.kind == ExternKind.FUNC}
        self.taken = taken
        self.may = set(suspend_points)
        self._fixpoint()

    def _fixpoint(self) -> None:
        changed = True
        while changed:
            changed = False
            for f, calls in self.calls.items():
                if f in self.may or f in self.barriers:
                    continue
                if (calls.direct | calls.tail) & self.may or any(
                    self.indirect_may_suspend(t) for t in calls.indirect
                ):
                    self.may.add(f)
                    changed = True

    def indirect_may_suspend(self, type_index: int) -> bool:
        """Whether a call through a reference or table of this type may suspend."""
        targets = self.taken & self.may
        if not targets:
            return False
        if type_index in self.open_types:
            return True
        key = _functype_key(self.types.functype(type_index))
        return any(_functype_key(self.types.func(f)) == key for f in targets)


def may_suspend(
    module: Module, suspend_points: Iterable[int], barriers: Iterable[int] = ()
) -> set[int]:
    """Every function whose call may reach one of ``suspend_points`` (included), not looking
    through ``barriers`` (see `unwind`)."""
    return set(_Reach(module, ModuleTypes.of(module), suspend_points, barriers).may)


def barrier_leaks(
    module: Module, suspend_points: Iterable[int], barriers: Mapping[int, Collection[int]]
) -> list[int]:
    """The functions that could start an unwind nothing stops: barriers (keys) calling a
    function that may suspend other than the ones they stop the unwinds of (their values),
    directly or through a table; exported functions that may suspend, and the start
    function. Empty when every unwind ends in a barrier."""
    reach = _Reach(module, ModuleTypes.of(module), suspend_points, barriers)
    out = set()
    for f, stops in barriers.items():
        calls = reach.calls.get(f)
        if calls is None:
            continue
        if ((calls.direct | calls.tail) & reach.may) - set(stops) or any(
            reach.indirect_may_suspend(t) for t in calls.indirect
        ):
            out.add(f)
    out |= {e.index for e in module.exports if e.kind == ExternKind.FUNC} & reach.may
    if module.start is not None and module.start in reach.may:
        out.add(module.start)
    return sorted(out)


# -- block types ----------------------------------------------------------------------------------


class _TypePool:
    """Function types for block types, found in the module or appended to it (appending a
    rec group renumbers nothing)."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.known: dict[tuple[tuple[ValType, ...], tuple[ValType, ...]], int] = {}
        for i, st in enumerate(module.subtypes()):
            if isinstance(st.composite, FuncType):
                self.known.setdefault(_functype_key(st.composite), i)

    def index(self, params: tuple[ValType, ...], results: tuple[ValType, ...]) -> int:
        key = (params, results)
        if key not in self.known:
            self.known[key] = len(self.module.subtypes())
            ft = FuncType(list(params), list(results))
            self.module.types.append(RecGroup([SubType(ft)]))
        return self.known[key]

    def blocktype(self, results: tuple[ValType, ...]) -> BlockType:
        """The block type ``[] -> results``."""
        if not results:
            return None
        if len(results) == 1 and isinstance(results[0], NumType):
            return results[0]
        return self.index((), results)


# -- the rewrite of one function ---------------------------------------------------------------


class _Function:
    """Rewrites one function that may suspend (see the module docstring for the shape)."""

    def __init__(
        self,
        module: Module,
        types: ModuleTypes,
        reach: _Reach,
        pool: _TypePool,
        g: UnwindGlobals,
        index: int,
    ) -> None:
        self.reach = reach
        self.pool = pool
        self.g = g
        self.index = index
        self.ft = types.func(index)
        self.code = module.codes[index - module.num_imported(ExternKind.FUNC)]
        declared = [loc.type for loc in self.code.locals for _ in range(loc.count)]
        self.locals: list[ValType] = [*self.ft.params, *declared]
        for t in (*self.locals, *self.ft.results):
            if not isinstance(t, NumType):
                self.refuse("has a reference-typed parameter, local or result")
        try:
            self.instrs = type_body(types, self.ft, self.locals, self.code.body)
        except NotTyped as e:
            self.refuse(f"uses {e.what} (body offset {e.at})")
        self.body = self.code.body
        self.n_orig = len(self.locals)
        self.resume = self.local(NumType.I32)
        self.fp = self.local(NumType.I32)
        self.sites = 0
        self.out = Instrs()
        self._suspends: dict[int, bool] = {}

    def refuse(self, why: str) -> NoReturn:
        raise UnsupportedFeature(f"suspendable function {self.index} {why}")

    def local(self, t: ValType) -> int:
        self.locals.append(t)
        return len(self.locals) - 1

    # -- which instructions are items ----------------------------------------------------------
    def suspending_call(self, ins: Instr) -> bool:
        op = ins.op
        if op == 0x10:
            return ins.index in self.reach.may
        if op == 0x11:
            return self.reach.indirect_may_suspend(ins.index)
        if op == 0x12 and ins.index in self.reach.may:
            self.refuse(f"tail-calls function {ins.index}, which may suspend")
        if op in (0x13, 0x14, 0x15) and self.reach.indirect_may_suspend(ins.index):
            name = {0x13: "return_call_indirect", 0x14: "call_ref", 0x15: "return_call_ref"}
            self.refuse(f"has a {name[op]} that may suspend (body offset {ins.at})")
        return False

    def items(self, s: int, e: int) -> list[int]:
        """The items of the block body ``instrs[s:e]``, in its reachable prefix."""
        out = []
        i = s
        while i < e:
            ins = self.instrs[i]
            if not ins.reachable:
                break
            if ins.op in _OPENERS:
                if self.block_suspends(i):
                    out.append(i)
                i = ins.end_at + 1
                continue
            if self.suspending_call(ins):
                out.append(i)
            i += 1
        return out

    def arms(self, i: int) -> list[tuple[int, int]]:
        ins = self.instrs[i]
        if ins.else_at >= 0:
            return [(i + 1, ins.else_at), (ins.else_at + 1, ins.end_at)]
        return [(i + 1, ins.end_at)]

    def block_suspends(self, i: int) -> bool:
        if i not in self._suspends:
            found = any(self.items(s, e) for s, e in self.arms(i))
            ins = self.instrs[i]
            assert ins.sig is not None
            if found and ins.op == 0x03 and ins.sig.params:
                self.refuse(f"has a loop with parameters around a suspend point (offset {ins.at})")
            self._suspends[i] = found
        return self._suspends[i]

    def n_inputs(self, ins: Instr) -> int:
        if ins.op in _OPENERS:
            assert ins.sig is not None
            return len(ins.sig.params) + (ins.op == 0x04)
        ft = self.reach.types.func(ins.index) if ins.op == 0x10 else None
        if ft is None:
            ft = self.reach.types.functype(ins.index)
        return len(ft.params) + (ins.op == 0x11)

    # -- emission ---------------------------------------------------------------------------
    def spill(self, types: Iterable[object], what: str) -> list[int]:
        """Fresh locals for values of ``types``; pops them (top first) into them."""
        locs = []
        for t in types:
            if not isinstance(t, NumType):
                self.refuse(f"has a {what} of type {t} live across a suspending call")
            locs.append(self.local(t))
        for x in reversed(locs):
            self.out.set(x)
        return locs

    def reload(self, locs: list[int]) -> None:
        for x in locs:
            self.out.get(x)

    def guard(self) -> None:
        """Opens ``if state != REWINDING``."""
        self.out.global_get(self.g.state).i32(REWINDING).op("i32.ne").if_()

    def copy_run(self, a: int, b: int) -> None:
        """Instructions ``a..b-1`` verbatim, but branches leaving the run one label deeper."""
        m = 0
        last = self.instrs[a].at
        for ins in self.instrs[a:b]:
            if ins.op in _OPENERS:
                m += 1
            elif ins.op == 0x0B:
                m -= 1
            elif ins.labels and max(ins.labels) >= m:
                if ins.op in (0xD5, 0xD6):
                    self.refuse(f"branches out of a guarded run with br_on_null (offset {ins.at})")
                self.out.extend(self.body[last : ins.at])
                labels = [d + 1 if d >= m else d for d in ins.labels]
                if ins.op == 0x0C:
                    self.out.br(labels[0])
                elif ins.op == 0x0D:
                    self.out.br_if(labels[0])
                else:
                    self.out.br_table(labels[:-1], labels[-1])
                last = ins.end
        self.out.extend(self.body[last : self.instrs[b].at])

    def run(
        self, pending: list[int], a: int, b: int, types: Iterable[object], what: str
    ) -> list[int]:
        """The guarded run ``a..b-1`` starting from ``pending``; locals holding what it leaves."""
        if a == b:
            return pending
        self.guard()
        self.reload(pending)
        self.copy_run(a, b)
        locs = self.spill(types, what)
        self.out.end()
        return locs

    def frame(
        self, s: int, e: int, pending: list[int], results: tuple[ValType, ...], lvl: int
    ) -> None:
        """The block body ``instrs[s:e]`` whose operands start in ``pending``; leaves
        ``results`` on the stack. ``br lvl`` reaches the epilogue from here."""
        pos = s
        for it in self.items(s, e):
            ins = self.instrs[it]
            held = self.run(pending, pos, it, ins.frame_stack(), "value")
            n = len(held) - self.n_inputs(ins)
            pending = held[:n] + self.item(it, held[n:], lvl)
            pos = ins.end_at + 1 if ins.op in _OPENERS else it + 1
        self.reload(self.run(pending, pos, e, results, "block result"))

    def item(self, i: int, inputs: list[int], lvl: int) -> list[int]:
        """Emits item ``i`` taking ``inputs``; locals holding its results."""
        ins = self.instrs[i]
        if ins.op not in _OPENERS:
            return self.call_site(ins, inputs, lvl)
        sig = ins.sig
        assert sig is not None
        bt = self.pool.blocktype(sig.results)
        params = inputs[: len(sig.params)]
        if ins.op == 0x04:
            self.out.get(inputs[-1])
        self.out.structured(_BLOCKS[ins.op], bt)  # type: ignore[arg-type]
        arms = self.arms(i)
        self.frame(*arms[0], params, sig.results, lvl + 1)
        if ins.op == 0x04 and (len(arms) == 2 or sig.results):
            self.out.op("else")
            s, e = arms[1] if len(arms) == 2 else (ins.end_at, ins.end_at)
            self.frame(s, e, params, sig.results, lvl + 1)
        self.out.end()
        return self.keep(sig.results)

    def keep(self, results: tuple[ValType, ...]) -> list[int]:
        """Moves a block item's results into fresh locals, except when rewinding: a rewind
        passing through the block (to a call site after it) leaves junk results, and the
        locals may hold restored values the call site needs."""
        if not results:
            return []
        for t in results:
            if not isinstance(t, NumType):
                self.refuse(f"has a block result of type {t} live across a suspending call")
        locs = [self.local(t) for t in results]
        o = self.out
        o.global_get(self.g.state).i32(REWINDING).op("i32.ne")
        o.structured("if", self.pool.index(results, ()))
        for x in reversed(locs):
            o.set(x)
        o.op("else")
        for _ in results:
            o.op("drop")
        o.end()
        return locs

    def call_site(self, ins: Instr, args: list[int], lvl: int) -> list[int]:
        k = self.sites
        self.sites += 1
        ft = self.reach.types.func(ins.index) if ins.op == 0x10 else None
        if ft is None:
            ft = self.reach.types.functype(ins.index)
        o = self.out
        o.global_get(self.g.state).i32(REWINDING).op("i32.ne")
        o.get(self.resume).i32(k).op("i32.eq", "i32.or").if_()
        self.reload(args)
        o.extend(self.body[ins.at : ins.end])
        o.global_get(self.g.state).i32(UNWINDING).op("i32.eq").if_()
        o.i32(k).set(self.resume).br(lvl + 2).end()
        results = self.spill(ft.results, "call result")
        o.end()
        return results

    # -- the whole function -------------------------------------------------------------------
    def layout(self) -> tuple[list[tuple[int, NumType, int]], int]:
        """Frame slots ``(local, type, offset)``, largest first (natural alignment from a
        16-aligned frame), and the frame size (a multiple of 16)."""
        slots = [(x, t) for x, t in enumerate(self.locals) if x != self.fp]
        slots.sort(key=lambda s: -_SIZE[s[1]])  # type: ignore[index]
        out = []
        off = 0
        for x, t in slots:
            assert isinstance(t, NumType)
            out.append((x, t, off))
            off += _SIZE[t]
        return out, (off + 15) // 16 * 16

    def rewrite(self) -> tuple[Code, int] | None:
        """The new code and frame size; None when no suspending call is reachable (the
        call graph is syntactic: e.g. the call may be dead code)."""
        if not self.items(0, len(self.instrs) - 1):
            return None
        self.frame(0, len(self.instrs) - 1, [], tuple(self.ft.results), 1)
        inner = self.out
        slots, size = self.layout()
        mem = self.g.memory
        o = Instrs()
        # prologue: pop the frame when rewinding
        o.global_get(self.g.state).i32(REWINDING).op("i32.eq").if_()
        o.global_get(self.g.data).global_get(self.g.data).load("i32.load", mem)
        o.i32(size).op("i32.sub").tee(self.fp).store("i32.store", mem)
        for x, t, off in slots:
            o.get(self.fp)
            if t == NumType.V128:
                o.v128_load(mem, off)
            else:
                o.load(f"{_NAME[t]}.load", mem, off)
            o.set(x)
        o.end()
        o.block().structured("block", self.pool.blocktype(tuple(self.ft.results)))
        o.extend(inner).end().op("return").end()
        # epilogue: reached when unwinding; push the frame (trap when it does not fit)
        o.global_get(self.g.data).load("i32.load", mem).set(self.fp)
        o.global_get(self.g.data).load("i32.load", mem, 4).get(self.fp).op("i32.sub")
        o.i32(size).op("i32.lt_u")  # no room for the frame
        o.global_get(self.g.data).load("i32.load", mem, 4).get(self.fp).op(
            "i32.lt_u"
        )  # end < current
        o.op("i32.or").trap_if()
        for x, t, off in slots:
            o.get(self.fp).get(x)
            if t == NumType.V128:
                o.v128_store(mem, off)
            else:
                o.store(f"{_NAME[t]}.store", mem, off)
        o.global_get(self.g.data).get(self.fp).i32(size).op("i32.add").store("i32.store", mem)
        for r in self.ft.results:
            assert isinstance(r, NumType)
            o.zero(_NAME[r])
        o.end()
        decls = list(self.code.locals)
        for n in self.locals[self.n_orig :]:
            if decls and decls[-1].type == n:
                decls[-1] = Local(decls[-1].count + 1, n)
            else:
                decls.append(Local(1, n))
        return Code(decls, bytes(o.code)), size


def unwind(
    module: Module,
    suspend_points: Iterable[int],
    g: UnwindGlobals,
    barriers: Iterable[int] = (),
) -> UnwindResult:
    """Rewrites, in place, every defined function of ``module`` that may reach one of
    ``suspend_points`` (function indices) so that it can unwind and rewind (module docstring).

    ``barriers`` are functions that stop every unwind themselves (a scheduler calling a
    task's entry checks ``state`` after the call): they are neither rewritten nor make their
    callers suspendable; a barrier that does not stop an unwind is its caller's bug.

    Other functions keep their bodies byte for byte; function types may be appended (block
    types). Raises `UnsupportedFeature` naming the function and the construct that cannot be
    rewritten exactly.
    """
    points = sorted(set(suspend_points))
    mems = ModuleTypes.of(module).memories
    if not 0 <= g.memory < len(mems) or mems[g.memory].memory64:
        raise UnsupportedFeature(f"frame memory {g.memory} must be a 32-bit memory of the module")
    types = ModuleTypes.of(module)
    reach = _Reach(module, types, points, barriers)
    pool = _TypePool(module)
    nimp = module.num_imported(ExternKind.FUNC)
    result = UnwindResult(may_suspend=sorted(reach.may))
    for f in sorted(reach.may):
        if f < nimp or f in points:
            continue
        fn = _Function(module, types, reach, pool, g, f)
        rewritten = fn.rewrite()
        if rewritten is None:
            continue
        code, size = rewritten
        module.codes[f - nimp] = code
        result.transformed.append(f)
        result.frame_sizes[f] = size
        result.call_sites[f] = fn.sites
    return result


# -- state and control -------------------------------------------------------------------------------


def add_state_globals(module: Module, memory: int) -> UnwindGlobals:
    """Appends the two state globals to ``module`` (a standalone use; a fusion plans its own)."""
    base = module.num_globals()
    for _ in range(2):
        module.globals.append(Global(GlobalType(NumType.I32, mutable=True), const_i32(0)))
    return UnwindGlobals(base, base + 1, memory)


def control_functions(g: UnwindGlobals) -> list[tuple[str, FuncCode]]:
    """The protocol's four state changes and a state query, as generated functions:
    ``start_unwind(data)``, ``stop_unwind()``, ``start_rewind(data)``, ``stop_rewind()``,
    ``state() -> i32``."""
    out: list[tuple[str, FuncCode]] = []
    for name, data, state in (
        ("start_unwind", True, UNWINDING),
        ("stop_unwind", False, NORMAL),
        ("start_rewind", True, REWINDING),
        ("stop_rewind", False, NORMAL),
    ):
        b = Body(["i32"] if data else [])
        if data:
            b.get(0).global_set(g.data)
        b.i32(state).global_set(g.state).end()
        out.append((name, FuncCode(tuple(b.params), (), (), bytes(b.code))))
    b = Body([])
    b.global_get(g.state).end()
    out.append(("state", FuncCode((), ("i32",), (), bytes(b.code))))
    return out


def add_control_exports(module: Module, g: UnwindGlobals, prefix: str = "unwind.") -> None:
    """Appends `control_functions` to ``module``, exported as ``prefix + name``."""
    pool = _TypePool(module)
    for name, fc in control_functions(g):
        params = tuple(NUMTYPE[t] for t in fc.params)
        results = tuple(NUMTYPE[t] for t in fc.results)
        index = module.num_funcs()
        module.funcs.append(pool.index(params, results))
        module.codes.append(Code([], fc.body))
        module.exports.append(Export(prefix + name, ExternKind.FUNC, index))
