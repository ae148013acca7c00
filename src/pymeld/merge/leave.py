"""The "may leave" flag: no calls out of an instance while its realloc runs.

wasmtime clears an instance's `may_leave` while it runs that instance's `cabi_realloc` for a
cross-component or host call, and every `canon lower`d call traps while it is clear ("cannot
leave component instance"). After fusion those calls are plain calls, so the fused module
carries the flag itself: a mutable global per instance whose realloc is called on its behalf,
guard functions that clear it around the call (adapters, root exports and host imports get the
guard's index instead of the realloc's), and a check at the start of every adapter and host
import reached from such an instance. (wasmtime's adapters run post-return with the flag set,
so post-return is left alone: the oracle in tests/fusion/wast/may-leave.wast pins both.)

A realloc that cannot reach a call out of its instance can never meet a check, so it gets no
guard, and an instance with no guarded realloc no flag and no checks (`may_call_out`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
    patch_sites,
    scan_uses,
)
from pymeld.codec.core.model import ExternKind, FuncImport
from pymeld.graph.model import CanonOpts, CoreRef, DefRef, FlatGraph
from pymeld.plan import FuncCode, FuncItem, GlobalItem, Plan

REALLOC_SIG: tuple[list[CoreValType], list[CoreValType]] = (["i32", "i32", "i32", "i32"], ["i32"])


@dataclass(slots=True)
class LeaveGuards:
    """Plans flags (group ``may-leave``) and guards (group ``may-leave-guard``) in ``plan``;
    ``func_index`` resolves a guard's target when the plan is emitted."""

    plan: Plan
    func_index: Callable[[CoreRef], int]
    flags: dict[int, GlobalItem] = field(default_factory=dict)  # component instance → flag
    _by_key: dict[tuple[CoreRef, bool, int], FuncItem] = field(default_factory=dict)

    def flag(self, owner: int) -> GlobalItem:
        if owner not in self.flags:
            self.flags[owner] = self.plan.add_global("may-leave", owner, init=1)
        return self.flags[owner]

    def _guard(
        self,
        target: CoreRef,
        owner: int,
        sig: tuple[list[CoreValType], list[CoreValType]],
        clear: bool,
    ) -> None:
        key = (target, clear, owner)
        if key not in self._by_key:
            flag = self.flag(owner)
            self._by_key[key] = self.plan.add_func(
                "may-leave-guard", key, lambda: self._guard_code(target, flag, sig, clear)
            )

    # -- planning (symbolic) ---------------------------------------------------------------------
    def plan_realloc(self, realloc: CoreRef, owner: int) -> None:
        """Guard a realloc that runs on behalf of ``owner``."""
        self._guard(realloc, owner, REALLOC_SIG, True)

    def plan_call(
        self, target: CoreRef, owner: int, sig: tuple[list[CoreValType], list[CoreValType]]
    ) -> None:
        """Check ``owner``'s flag before it calls the import ``target`` (if it has a flag)."""
        if owner in self.flags:
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

    def flag_index(self, owner: int) -> int | None:
        """``owner``'s flag global, when it ever has to be checked."""
        flag = self.flags.get(owner)
        return None if flag is None else flag.index

    def _guard_code(
        self,
        target: CoreRef,
        flag: GlobalItem,
        sig: tuple[list[CoreValType], list[CoreValType]],
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


#: Per function body: the functions it calls or references, and whether it uses a table or a
#: type index (an indirect call, a typed reference or a block type: conservatively a call out).
BodyCalls = tuple[list[int], bool]
#: Per body scanned here, its `patch_sites`: the body rewrite (`merge.bodies.rewrite_all`) takes
#: them instead of scanning the body again (half the code of a small composition whose realloc
#: reaches its allocator).
SitesSeen = dict[bytes, list[Patch] | None]


def body_calls(body: bytes, seen: SitesSeen | None = None) -> BodyCalls:
    """What `may_call_out` needs of one body: from the fast index scan (`patch_sites`, the
    same index immediates the body rewrite patches, kept in ``seen``), or the general walk when
    that declines."""
    sites = patch_sites(body)
    if seen is not None:
        seen[body] = sites
    if sites is None:
        uses = scan_uses(body)
        return sorted(uses.funcs), bool(uses.tables or uses.types)
    funcs: set[int] = set()
    out = False
    for _, _, k, v in sites:
        if k == K_FUNC:
            funcs.add(v)
        elif k in (K_TABLE, K_TYPE, _P_BLOCKTYPE):
            out = True
    return sorted(funcs), out


def calls_out(
    graph: FlatGraph,
    start: CoreRef,
    cache: dict[bytes, BodyCalls] | None = None,
    sites: SitesSeen | None = None,
) -> Iterator[CoreRef | None]:
    """What running ``start`` may call outside core code: each import reached that is not a
    core function of a module instance (a lowered function, a canonical built-in, ...), and
    None for what may reach anything (a table or typed-reference use, a start that is not a
    core definition); the caller stops when it has seen enough.

    Follows direct calls and `ref.func` through the module instance's bodies and into other
    module instances its imports are bound to; ``sites`` keeps each body's scan (`body_calls`)."""
    if not isinstance(start, DefRef):
        yield None
        return
    seen: set[tuple[int, int]] = set()
    func_imports: dict[int, list[int]] = {}  # instance → positions of its function imports
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
            imported = func_imports[inst] = [
                k for k, imp in enumerate(m.imports) if isinstance(imp.desc, FuncImport)
            ]
        if f < len(imported):
            ref = mi.imports[imported[f]]
            if isinstance(ref, DefRef) and ref.kind == ExternKind.FUNC:
                work.append((ref.instance, ref.index))
            else:
                yield ref
            continue
        body = m.codes[f - len(imported)].body
        calls = None if cache is None else cache.get(body)
        if calls is None:
            calls = body_calls(body, sites)
            if cache is not None:
                cache[body] = calls
        funcs, out = calls
        if out:
            yield None
        work.extend((inst, g) for g in funcs)


def may_call_out(
    graph: FlatGraph,
    start: CoreRef,
    cache: dict[bytes, BodyCalls] | None = None,
    sites: SitesSeen | None = None,
) -> bool:
    """Whether running ``start`` can reach a call out of its component instance: a lowered
    function or a canonical built-in, the calls a cleared may-leave flag traps. Conservative:
    any table or typed-reference use (an indirect call may reach anything) counts."""
    return next(calls_out(graph, start, cache, sites), False) is not False
