"""The merger's single entry point into `pymeld.resources` (keeps merge-stage edits small)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymeld.abi import types as at
from pymeld.codec.core.model import Global, GlobalType, Limits, MemoryType, NumType
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import CoreRef, FlatGraph, HostFunc, Lifted, Lowered, ResourceType
from pymeld.resources import boundary
from pymeld.resources.runtime import RuntimePlan, _exported_lifts, handle_resources
from pymeld.resources.tables import BORROW, OWN, Generated, InnerTables


class _Ops:
    """`abi.adapter.ResourceOps` for one (lower, lift) pair."""

    def __init__(self, tables: InnerTables, caller: int, callee: int) -> None:
        self.tables, self.caller, self.callee = tables, caller, callee

    def transfer(self, t: at.Own | at.Borrow, to_callee: bool) -> int | None:
        r = t.resource
        assert isinstance(r, ResourceType)
        src, dst = (self.caller, self.callee) if to_callee else (self.callee, self.caller)
        kind = OWN if isinstance(t, at.Own) else BORROW
        return self.tables.transfer(r, kind, src, dst)


class ResourceFusion:
    def __init__(
        self, graph: FlatGraph, runtime: RuntimePlan | None = None, merger: Any = None
    ) -> None:
        self.g = graph
        self.runtime = runtime or RuntimePlan(None)
        self.tables = InnerTables()
        self._builtins: dict[int, int] = {}
        self.merger = merger  # `Merger`: host import indices and canonical options
        self._host_calls: dict[int, int] = {}  # lower index → stand-in function
        self._lifts: list[Lifted] = []  # root exports translated at the boundary
        self._dtors: dict[int, int] = {}  # resource id → guarded destructor

    def plan(
        self,
        used: list[int],
        cross: list[int],
        first_func: int,
        first_memory: int,
        first_global: int,
        host_lowers: list[int] = [],  # noqa: B006
    ) -> None:
        """Fix every generated function's index before any code referring to it is emitted."""
        t = self.tables
        t.first_func, t.first_memory, t.first_global = first_func, first_memory, first_global
        h = self.runtime.host_instance
        inmodule = self.runtime.inmodule
        for bi in sorted(used):
            b = self.g.builtins[bi]
            r = b.resource
            if (
                bi in self.runtime.imports
                or r is None
                or (r.host_path is not None and not inmodule)
            ):
                continue
            if b.op in ("resource.new", "resource.rep", "resource.drop") and b.owner != h:
                self._builtins[bi] = t.builtin(b.op, b.owner, r)
        for li in cross:
            lowered: Lowered = self.g.lowers[li]
            callee = lowered.callee
            assert isinstance(callee, Lifted)
            if lowered.owner == callee.owner:
                continue
            ops = _Ops(t, lowered.owner, callee.owner)
            rs = handle_resources(callee.type)
            if not rs:
                continue
            for r in rs:
                if r.host_path is not None and not inmodule:
                    raise UnsupportedFeature(
                        f"host resource `{'/'.join(r.host_path)}` passed between components"
                    )
            if h in (lowered.owner, callee.owner):
                raise UnsupportedFeature(
                    "resource handles crossing between the host-facing instance "
                    f"{self.g.components[h].label} and another component instance"
                )
            _walk(callee.type, ops)
        if inmodule:
            self._plan_boundary(host_lowers)

    def _plan_boundary(self, host_lowers: list[int]) -> None:
        t = self.tables
        for rr in self.runtime.resources:
            t.runtime_names[rr.resource.id] = (rr.module, rr.name)
            t.resources[rr.resource.id] = rr.resource
        for li in host_lowers:
            lowered = self.g.lowers[li]
            if isinstance(lowered.callee, HostFunc) and handle_resources(lowered.callee.type):
                boundary.plan(t, lowered.callee.type, lowered.owner, True)
                self._host_calls[li] = t.extra("hostcall", li)
        for lf in _exported_lifts(self.g):
            if handle_resources(lf.type):
                boundary.plan(t, lf.type, lf.owner, False)
                t.extra("lift", len(self._lifts))
                self._lifts.append(lf)
        for rr in self.runtime.resources:
            if rr.resource.dtor is not None:
                self._dtors[rr.resource.id] = t.extra("dtor", rr.resource.id)
        t.emit_extra = self._emit_extra

    def _emit_extra(
        self, key: tuple[object, ...], func_index: Callable[[CoreRef], int]
    ) -> Generated:
        m = self.merger
        if key[0] == "hostcall":
            li = key[1]
            assert isinstance(li, int)
            lowered = self.g.lowers[li]
            assert isinstance(lowered.callee, HostFunc)
            mem = m.canon_options(lowered.opts).memory
            target = m._host_index(li)
            return boundary.host_call(self.tables, lowered.callee.type, lowered.owner, mem, target)
        k = key[1]
        assert isinstance(k, int)
        lf = self._lifts[k]
        mem = m.canon_options(lf.opts).memory
        return boundary.lifted_export(self.tables, lf.type, lf.owner, mem, func_index(lf.core_func))

    def host_call(self, li: int) -> int | None:
        """Stand-in for the lowered host import ``li`` (handles translated), if any."""
        return self._host_calls.get(li)

    def export_func(self, lf: Lifted) -> int | None:
        """Stand-in for the core function of the root export ``lf``, if any."""
        for k, x in enumerate(self._lifts):
            if x is lf:
                return self.tables._fn("lift", k)
        return None

    def runtime_dtor(self, r: ResourceType, func_index: Callable[[CoreRef], int]) -> int:
        """What the wrapper-defined type's destructor export points at."""
        if r.id in self._dtors:
            return self._dtors[r.id]
        assert r.dtor is not None
        return func_index(r.dtor)

    def builtin_func(self, bi: int) -> int | None:
        return self._builtins.get(bi)

    def ops_for(self, lowered: Lowered) -> _Ops | None:
        callee = lowered.callee
        assert isinstance(callee, Lifted)
        if not handle_resources(callee.type):
            return None
        return _Ops(self.tables, lowered.owner, callee.owner)

    def scope(
        self, ft: at.FuncType, params: tuple[str, ...], locals_: tuple[str, ...], body: bytes
    ) -> tuple[tuple[str, ...], bytes]:
        """Wrap an adapter body in a borrow scope when its parameters lend borrows: every
        borrow handle the callee received must be dropped before it returns (else trap)."""
        if not any(isinstance(x, at.Borrow) for _, p in ft.params for x in _leaves(p)):
            return locals_, body
        if not self.tables.tables:
            return locals_, body
        g, sp = self.tables.borrow_global, self.tables.lend_sp_global
        save = len(params) + len(locals_)
        saved_sp = save + 1
        unlend = self.tables.first_func + self.tables.keys.index(("unlend",))
        enter = b"\x23" + _u(g) + b"\x21" + _u(save) + b"\x41\x00\x24" + _u(g)
        enter += b"\x23" + _u(sp) + b"\x21" + _u(saved_sp)
        leave = b"\x23" + _u(g) + b"\x04\x40\x00\x0b" + b"\x20" + _u(save) + b"\x24" + _u(g)
        leave += b"\x20" + _u(saved_sp) + b"\x10" + _u(unlend)
        return (*locals_, "i32", "i32"), enter + body[:-1] + leave + b"\x0b"

    def emit(self, func_index: Callable[[CoreRef], int]) -> list[Generated]:
        if self.merger is not None:
            m = self.merger
            self.tables.runtime_func = lambda key: m.host_imports[m._host_by_key[key]].index
        return self.tables.emit(func_index)

    def memories(self) -> list[MemoryType]:
        n = len(self.tables.tables)
        return [MemoryType(Limits(0)) for _ in range(n + 2 if n else 0)]  # tables, lend, save

    def globals(self) -> list[Global]:
        out: list[Global] = []
        for _ in self.tables.tables:
            out.append(Global(GlobalType(NumType.I32, True), b"\x41\x01\x0b"))  # next index
            out.append(Global(GlobalType(NumType.I32, True), b"\x41\x00\x0b"))  # free head
        if self.tables.tables:
            out.append(Global(GlobalType(NumType.I32, True), b"\x41\x00\x0b"))  # num_borrows
            out.append(Global(GlobalType(NumType.I32, True), b"\x41\x00\x0b"))  # lend sp
            out.append(Global(GlobalType(NumType.I32, True), b"\x41\x00\x0b"))  # dtor suppressed
            out.append(Global(GlobalType(NumType.I32, True), b"\x41\x00\x0b"))  # save sp
        return out


def _walk(ft: at.FuncType, ops: _Ops) -> None:
    """Plan the transfer functions an adapter for ``ft`` will ask for."""
    for _, p in ft.params:
        for x in _leaves(p):
            ops.transfer(x, True)
    if ft.result is not None:
        for x in _leaves(ft.result):
            ops.transfer(x, False)


def _leaves(t: object) -> list[at.Own | at.Borrow]:
    return at.handles(t)


def _u(v: int) -> bytes:
    from pymeld.codec.binary import uleb

    return uleb(v)
