"""The "may leave" flag: no calls out of an instance while its realloc runs.

wasmtime clears an instance's `may_leave` while it runs that instance's `cabi_realloc` for a
cross-component or host call, and every `canon lower`d call traps while it is clear ("cannot
leave component instance"). After fusion those calls are plain calls, so the fused module
carries the flag itself: a mutable global per instance whose realloc is called on its behalf,
guard functions that clear it around the call (adapters, root exports and host imports get the
guard's index instead of the realloc's), and a check at the start of every adapter and host
import reached from such an instance. (wasmtime's adapters run post-return with the flag set,
so post-return is left alone: the oracle in tests/fusion/wast/may-leave.wast pins both.)

The flag is clear only while a guarded realloc runs, so only the calls out that realloc can
reach (`calls_out`) can ever meet a clear flag: those get a check, the instance's other imports
and adapters none. A realloc that cannot reach any gets no guard, and an instance with no
guarded realloc no flag and no checks. Where the reach is unknown (an indirect call that may go
anywhere, a foreign instance's code) every call out of the instance is checked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import field, replace

from pymeld._dataclass import dataclass
from pymeld.abi import types as at
from pymeld.codec.core.emitter import Body, CoreValType
from pymeld.codec.core.instructions import (
    _P_BLOCKTYPE,
    K_FUNC,
    K_TABLE,
    K_TYPE,
    Patch,
    const_i32_value,
    elem_expr_func,
    patch_sites,
    read_s32,
    read_u,
    scan_instructions,
    scan_uses,
)
from pymeld.codec.core.model import ExternKind, FuncImport, Module, SegmentMode, TableType
from pymeld.graph.model import CanonOpts, CoreRef, DefRef, FlatGraph, ForeignRef
from pymeld.plan import FuncCode, FuncItem, GlobalItem, Plan

#: A guarded function's core parameters and results.
Signature = tuple[list[CoreValType], list[CoreValType]]
REALLOC_SIG: Signature = (["i32", "i32", "i32", "i32"], ["i32"])


@dataclass
class LeaveGuards:
    """Plans flags (group ``may-leave``) and guards (group ``may-leave-guard``) in ``plan``;
    ``func_index`` resolves a guard's target when the plan is emitted."""

    plan: Plan
    func_index: Callable[[CoreRef], int]
    flags: dict[int, GlobalItem] = field(default_factory=dict)  # component instance → flag
    _by_key: dict[tuple[CoreRef, bool, int], FuncItem] = field(default_factory=dict)
    # component instance → the calls out its guarded reallocs may reach (None: any)
    _reach: dict[int, set[CoreRef] | None] = field(default_factory=dict)

    def flag(self, owner: int) -> GlobalItem:
        if owner not in self.flags:
            self.flags[owner] = self.plan.add_global("may-leave", owner, init=1)
        return self.flags[owner]

    def _guard(
        self,
        target: CoreRef,
        owner: int,
        sig: Signature,
        clear: bool,
    ) -> None:
        key = (target, clear, owner)
        if key not in self._by_key:
            flag = self.flag(owner)
            self._by_key[key] = self.plan.add_func(
                "may-leave-guard", key, lambda: self._guard_code(target, flag, sig, clear)
            )

    # -- planning (symbolic) ---------------------------------------------------------------------
    def plan_cleared(
        self, target: CoreRef, owner: int, sig: Signature, reach: set[CoreRef] | None
    ) -> None:
        """Guard ``target`` (a realloc, or a root export's post-return: `post_return`), which
        runs on behalf of ``owner`` with its flag clear and may call out to ``reach`` (None:
        anywhere)."""
        self._guard(target, owner, sig, True)
        known = self._reach.get(owner, set())
        self._reach[owner] = None if reach is None or known is None else known | reach

    def checks(self, owner: int, target: CoreRef) -> bool:
        """Whether ``owner``'s call of ``target`` may meet a clear flag (so must check it)."""
        if owner not in self.flags:
            return False
        reach = self._reach[owner]
        return reach is None or target in reach

    def plan_call(self, target: CoreRef, owner: int, sig: Signature) -> None:
        """Check ``owner``'s flag before it calls the import ``target``, where a guarded
        realloc may reach that call."""
        if self.checks(owner, target):
            self._guard(target, owner, sig, False)

    # -- after planning: indices -------------------------------------------------------------------
    def index(self, target: CoreRef | None, owner: int, clear: bool) -> int | None:
        g = None if target is None else self._by_key.get((target, clear, owner))
        return None if g is None else g.index

    def options(self, resolved: at.CanonOptions, opts: CanonOpts, owner: int) -> at.CanonOptions:
        """``resolved`` with its realloc replaced by the guard, where one was planned."""
        realloc = self.index(opts.realloc, owner, True)
        if realloc is None:
            return resolved
        return replace(resolved, realloc=realloc)  # keeps every other option (async, callback)

    def post_return(
        self, resolved: at.CanonOptions, opts: CanonOpts, owner: int
    ) -> at.CanonOptions:
        """A root export's ``resolved`` options with its post-return replaced by the guard,
        where one was planned (`plan_cleared`)."""
        post = self.index(opts.post_return, owner, True)
        return resolved if post is None else replace(resolved, post_return=post)

    def flag_index(self, owner: int, target: CoreRef) -> int | None:
        """``owner``'s flag global, when its call of ``target`` has to check it."""
        return self.flags[owner].index if self.checks(owner, target) else None

    def _guard_code(
        self,
        target: CoreRef,
        flag: GlobalItem,
        sig: Signature,
        clear: bool,
    ) -> FuncCode:
        """Clear/restore (``clear``) or check the flag around the forwarded call."""
        b = Body(sig[0])
        if clear:
            b.i32(0).global_set(flag.index)
        else:
            b.global_get(flag.index).op("i32.eqz").trap_if()
        b.forward_args().call(self.func_index(target))
        if clear:
            b.i32(1).global_set(flag.index)
        b.end()
        return FuncCode(tuple(sig[0]), tuple(sig[1]), (), bytes(b.code))


@dataclass(frozen=True)
class BodyCalls:
    """What one body may call: ``funcs`` (direct calls and `ref.func`), ``slots`` (indirect
    calls through a constant slot of a table: (table, slot)), ``unknown`` (an indirect call
    whose slot is computed, or a `call_ref`: it may reach anything), and ``tables``, the
    tables it uses otherwise (their slots may change)."""

    funcs: tuple[int, ...]
    slots: tuple[tuple[int, int], ...] = ()
    unknown: bool = False
    tables: frozenset[int] = frozenset()


#: Per body scanned here, its `patch_sites`: the body rewrite (`merge.bodies.rewrite_all`) takes
#: them instead of scanning the body again (half the code of a small composition whose realloc
#: reaches its allocator).
SitesSeen = dict[bytes, list[Patch] | None]

_CALL_INDIRECT, _RETURN_CALL_INDIRECT, _CALL_REF, _RETURN_CALL_REF = 0x11, 0x13, 0x14, 0x15


def body_calls(body: bytes, seen: SitesSeen | None = None) -> BodyCalls:
    """What `calls_out` needs of one body: from the fast index scan (`patch_sites`, the same
    index immediates the body rewrite patches, kept in ``seen``), with a second walk
    (`_indirect_calls`) only for a body using a table or a type index; the general walk when
    the fast scan declines."""
    sites = patch_sites(body)
    if seen is not None:
        seen[body] = sites
    if sites is None:
        uses = scan_uses(body)
        if not (uses.tables or uses.types):
            return BodyCalls(tuple(sorted(uses.funcs)))
        # `scan_uses` gives the set of tables, not one entry per use: every one may change
        return _indirect_calls(body, uses.funcs, None, uses.tables)
    funcs: set[int] = set()
    tables: list[int] = []
    typed = False
    for _, _, k, v in sites:
        if k == K_FUNC:
            funcs.add(v)
        elif k == K_TABLE:
            tables.append(v)
        elif k in (K_TYPE, _P_BLOCKTYPE):
            typed = True
    if not (tables or typed):
        return BodyCalls(tuple(sorted(funcs)))
    return _indirect_calls(body, funcs, tables)


def _indirect_calls(
    body: bytes,
    funcs: set[int],
    table_uses: list[int] | None,
    tables: Iterable[int] = (),
) -> BodyCalls:
    """`BodyCalls` of a body with table or type uses: each `call_indirect` right after an
    `i32.const` goes to that slot, any other indirect call or `call_ref` to anything; a table
    used other than by those calls (`table_uses`: one entry per use) may change. Without a
    count of uses (None), every table of ``tables`` may change."""
    slots: list[tuple[int, int]] = []
    unknown = False
    const_end, const = -1, 0
    indirect_tables: list[int] = []

    def i32_const(data: bytes, at: int, pos: int) -> int:
        nonlocal const_end, const
        const, const_end = read_s32(data, pos)
        return const_end

    def call_indirect(data: bytes, at: int, pos: int) -> int:
        nonlocal unknown
        _, pos = read_u(data, pos)
        table, pos = read_u(data, pos)
        indirect_tables.append(table)
        if at == const_end:
            slots.append((table, const & 0xFFFFFFFF))
        else:
            unknown = True
        return pos

    def call_ref(data: bytes, at: int, pos: int) -> int:
        nonlocal unknown
        unknown = True
        return read_u(data, pos)[1]

    scan_instructions(
        body,
        {
            (-1, 0x41): i32_const,
            (-1, _CALL_INDIRECT): call_indirect,
            (-1, _RETURN_CALL_INDIRECT): call_indirect,
            (-1, _CALL_REF): call_ref,
            (-1, _RETURN_CALL_REF): call_ref,
        },
    )
    if table_uses is None:
        changed = frozenset(tables)
    else:
        others = Counter(table_uses)
        others.subtract(indirect_tables)
        changed = frozenset(t for t, n in others.items() if n > 0)
    return BodyCalls(tuple(sorted(funcs)), tuple(slots), unknown, changed)


#: Each body's `BodyCalls`, by its bytes (identical bodies are scanned once).
CallsCache = dict[bytes, BodyCalls]


def _calls_of(
    m: Module, f: int, n_imported: int, cache: CallsCache | None, sites: SitesSeen | None = None
) -> BodyCalls:
    body = m.codes[f - n_imported].body
    calls = None if cache is None else cache.get(body)
    if calls is None:
        calls = body_calls(body, sites)
        if cache is not None:
            cache[body] = calls
    return calls


def _imported(m: Module, desc: type) -> list[int]:
    """The import index of each of ``m``'s imports of ``desc`` (`FuncImport`, `TableType`),
    in that index space's order."""
    return [k for k, imp in enumerate(m.imports) if isinstance(imp.desc, desc)]


class _Tables:
    """The function in each slot of a core table whose slots only active element segments
    fill: a wit-component shim's table, which its fixup instance fills once (the shim's
    functions each `call_indirect` one constant slot). A table any code can change (a
    `table.set`/`grow`/`fill`/`copy`/`init`, or a read that may be stored elsewhere), that a
    foreign instance imports, or whose segment offsets are not constants, is unknown (None);
    a slot two segments fill is unknown too, a slot none fills is null (a call traps)."""

    def __init__(self, graph: FlatGraph, cache: CallsCache | None, sites: SitesSeen | None) -> None:
        self.g, self.cache, self.sites = graph, cache, sites
        self._slots: dict[tuple[int, int], dict[int, tuple[int, int] | None] | None] = {}

    def target(self, inst: int, table: int, slot: int) -> tuple[int, int] | bool | None:
        """The (instance, function) in ``slot`` of ``inst``'s ``table``: None when unknown,
        False when the slot is null."""
        home = self._home(inst, table)
        if home is None:
            return None
        if home not in self._slots:
            self._slots[home] = self._fill(home)
        slots = self._slots[home]
        if slots is None:
            return None
        return slots.get(slot, False)

    def _home(self, inst: int, table: int) -> tuple[int, int] | None:
        mi = self.g.instances[inst]
        imported = _imported(mi.module, TableType)
        if table >= len(imported):
            return inst, table
        ref = mi.imports[imported[table]]
        return (ref.instance, ref.index) if isinstance(ref, DefRef) else None

    def _fill(self, home: tuple[int, int]) -> dict[int, tuple[int, int] | None] | None:
        users: list[tuple[int, set[int]]] = []
        for inst, mi in enumerate(self.g.instances):
            tables = _imported(mi.module, TableType)
            local = {t for t, k in enumerate(tables) if self._is(mi.imports[k], home)}
            if inst == home[0]:
                local.add(home[1])
            if local:
                users.append((inst, local))
        for fi in self.g.foreign:
            if any(self._is(ref, home) for ref in fi.imports):
                return None
        slots: dict[int, tuple[int, int] | None] = {}
        written: set[int] = set()
        for inst, local in users:
            m = self.g.instances[inst].module
            n_imported = m.num_imported(ExternKind.FUNC)
            for f in range(n_imported, n_imported + len(m.codes)):
                if _calls_of(m, f, n_imported, self.cache, self.sites).tables & local:
                    return None
            for e in m.elems:
                if e.mode != SegmentMode.ACTIVE or e.table not in local:
                    continue
                base = const_i32_value(e.offset)
                if base is None:
                    return None
                items: list[int | None] = (
                    list(e.funcs)
                    if e.funcs is not None
                    else [elem_expr_func(x) for x in e.exprs or []]
                )
                for j, item in enumerate(items):
                    if item is None:
                        return None
                    k = (base + j) & 0xFFFFFFFF
                    if k in written:
                        slots[k] = None
                    elif item != -1:
                        slots[k] = (inst, item)
                    written.add(k)
        return slots

    @staticmethod
    def _is(ref: CoreRef, home: tuple[int, int]) -> bool:
        return (
            isinstance(ref, DefRef)
            and ref.kind == ExternKind.TABLE
            and (ref.instance, ref.index) == home
        )


def calls_out(
    graph: FlatGraph,
    start: CoreRef,
    cache: CallsCache | None = None,
    sites: SitesSeen | None = None,
) -> Iterator[CoreRef | None]:
    """What running ``start`` may call outside core code: each import reached that is not a
    core function of a module instance (a lowered function, a canonical built-in, ...), and
    None for what may reach anything (an indirect call `_Tables` cannot resolve, a start that
    is not a core definition); the caller stops when it has seen enough.

    Follows direct calls, `ref.func`, and indirect calls through constant slots of tables only
    element segments fill, through the module instance's bodies and into other module
    instances its imports are bound to; ``sites`` keeps each body's scan (`body_calls`)."""
    if not isinstance(start, DefRef):
        yield None
        return
    seen: set[tuple[int, int]] = set()
    func_imports: dict[int, list[int]] = {}  # instance → positions of its function imports
    tables: _Tables | None = None
    work = [(start.instance, start.index)]
    while work:
        inst, f = work.pop()
        if (inst, f) in seen:
            continue
        seen.add((inst, f))
        mi = graph.instances[inst]
        m = mi.module
        imported = func_imports.get(inst)
        if imported is None:
            imported = func_imports[inst] = _imported(m, FuncImport)
        if f < len(imported):
            ref = mi.imports[imported[f]]
            if isinstance(ref, DefRef) and ref.kind == ExternKind.FUNC:
                work.append((ref.instance, ref.index))
            else:
                yield ref
            continue
        calls = _calls_of(m, f, len(imported), cache, sites)
        if calls.unknown:
            yield None
        work.extend((inst, g) for g in calls.funcs)
        for table, slot in calls.slots:
            tables = tables or _Tables(graph, cache, sites)
            target = tables.target(inst, table, slot)
            if target is None:
                yield None
            elif target is not False:
                work.append(target)  # type: ignore[arg-type]


def reach(
    graph: FlatGraph,
    start: CoreRef,
    cache: CallsCache | None = None,
    sites: SitesSeen | None = None,
) -> set[CoreRef] | None:
    """Every call out ``start`` may reach (`calls_out`), or None when it may reach anything
    (an unknown indirect call, or code of a foreign instance, which may call any import)."""
    out: set[CoreRef] = set()
    for ref in calls_out(graph, start, cache, sites):
        if ref is None or isinstance(ref, ForeignRef):
            return None
        out.add(ref)
    return out


def may_call_out(
    graph: FlatGraph,
    start: CoreRef,
    cache: CallsCache | None = None,
    sites: SitesSeen | None = None,
) -> bool:
    """Whether running ``start`` can reach a call out of its component instance: a lowered
    function or a canonical built-in, the calls a cleared may-leave flag traps. Conservative:
    an indirect call that may reach anything counts."""
    return next(calls_out(graph, start, cache, sites), False) is not False
