"""Which resource built-ins the component runtime keeps doing after fusion (the host-facing table).

A fused component is one component instance, so the runtime gives it exactly one handle table.
That table can stand for exactly one original component instance, the *host-facing* one: the
instance whose lifted exports hand `own`/`borrow` handles to the host (or, when no export carries
a handle, the single instance that uses resource built-ins). Its `resource.new/rep/drop` become
imports of the fused core module, named as wit-component names them, so that the wrapper can
satisfy them with `canon resource.*` of resource types it defines itself:

* `[export]<iface>` / `[resource-new|rep|drop]<name>` for a type the composition defines and
  exports as `<iface>/<name>` (`$root` for a top-level export); the destructor is exported from
  the core module as `<iface>#[dtor]<name>` (`[dtor]<name>` at top level).

Drops of host-imported resource types stay imports too (planned by the merger, any owner: the host
lowers such handles into the one runtime table).

That is exact only while one instance holds handles. When several do (host resources used by two
components, handles crossing between the exporting instance and another, ...), the runtime
table would mix their numbering, so *every* instance gets an in-module table (`inmodule`) and
the runtime table is only a transport: handles are translated at lowered host calls, lifted root
exports and host-resource drops (`boundary`, `tables`), and each exported type's `new/rep/drop`
become imports for that (`extra`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

from pymeld._dataclass import dataclass
from pymeld.abi import types as at
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import (
    Builtin,
    ExportItem,
    FlatGraph,
    InstanceExport,
    Lifted,
    ResourceType,
    TypeExport,
)

_OPS = {
    "resource.new": "resource-new",
    "resource.rep": "resource-rep",
    "resource.drop": "resource-drop",
}


@dataclass(frozen=True)
class RuntimeResource:
    """A composition-defined resource type the wrapper must define (`(type (resource ...))`)."""

    resource: ResourceType
    module: str  # core import module of its built-ins, `[export]<iface>`
    name: str  # the name it is exported under (or a synthetic one when not exported)
    dtor_export: str | None  # core export name of its destructor in the fused module
    exported: bool


@dataclass(frozen=True)
class BuiltinImport:
    """A resource built-in that stays an import of the fused core module."""

    module: str
    name: str
    op: str
    resource: ResourceType


@dataclass
class RuntimePlan:
    host_instance: int | None
    resources: list[RuntimeResource] = field(default_factory=list)
    imports: dict[int, BuiltinImport] = field(default_factory=dict)  # builtin index → import
    inmodule: bool = False  # every instance has an in-module table (see module doc)
    extra: list[BuiltinImport] = field(default_factory=list)  # boundary `new/rep/drop` imports

    def runtime_resource(self, r: ResourceType) -> RuntimeResource | None:
        for rr in self.resources:
            if rr.resource.id == r.id:
                return rr
        return None


def exported_resources(graph: FlatGraph) -> dict[int, tuple[str, ...]]:
    """Resource id → first root export path naming it."""
    out: dict[int, tuple[str, ...]] = {}

    def walk(path: tuple[str, ...], item: ExportItem) -> None:
        if isinstance(item, TypeExport) and isinstance(item.type, ResourceType):
            out.setdefault(item.type.id, path)
        elif isinstance(item, InstanceExport):
            for n, sub in item.exports:
                walk((*path, n), sub)

    for name, item in graph.exports:
        walk((name,), item)
    return out


def handle_resources(t: object) -> list[ResourceType]:
    """Resource types of every own/borrow inside a (function or value) type, in order."""
    return [h.resource for h in at.handles(t) if isinstance(h.resource, ResourceType)]


def _exported_lifts(graph: FlatGraph) -> list[Lifted]:
    out: list[Lifted] = []

    def walk(item: ExportItem) -> None:
        if isinstance(item, Lifted):
            out.append(item)
        elif isinstance(item, InstanceExport):
            for _, sub in item.exports:
                walk(sub)

    for _, item in graph.exports:
        walk(item)
    return out


def host_facing_instance(graph: FlatGraph, used: list[int]) -> int | None:
    """The component instance whose handle table becomes the runtime's table (see module doc)."""
    owners = sorted(
        {
            lf.owner
            for lf in _exported_lifts(graph)
            if any(r.host_path is None for r in handle_resources(lf.type))
        }
    )
    if len(owners) > 1:
        labels = ", ".join(graph.components[o].label for o in owners)
        raise UnsupportedFeature(
            f"resource handles reach the host from several component instances ({labels}); "
            "the fused component has one handle table"
        )
    return owners[0] if owners else None


def handle_holders(graph: FlatGraph, used: list[int], lowers: list[int]) -> set[int]:
    """Component instances whose handle table would hold any handle."""
    out = {
        graph.builtins[bi].owner
        for bi in used
        if (graph.builtins[bi].op in _OPS and graph.builtins[bi].resource is not None)
        # a stream/future end whose payload carries handles: copies move them in and out
        or (
            graph.builtins[bi].op.startswith(("stream.", "future."))
            and at.handles(graph.builtins[bi].type)
        )
    }
    for li in lowers:
        lowered = graph.lowers[li]
        if at.handles(lowered.callee.type):
            out.add(lowered.owner)
            if isinstance(lowered.callee, Lifted):
                out.add(lowered.callee.owner)
    out |= {lf.owner for lf in _exported_lifts(graph) if at.handles(lf.type)}
    return out


def _mixes(graph: FlatGraph, used: list[int], lowers: list[int]) -> bool:
    """Whether handles of host resources and of composition-defined ones would share a table
    (without an exporting instance those would be split between runtime and in-module)."""
    kinds = {
        graph.builtins[bi].resource.host_path is None  # type: ignore[union-attr]
        for bi in used
        if graph.builtins[bi].op in _OPS and graph.builtins[bi].resource is not None
    }
    for li in lowers:
        kinds |= {r.host_path is None for r in handle_resources(graph.lowers[li].callee.type)}
    return len(kinds) > 1


def plan_runtime(
    graph: FlatGraph, used: list[int], lowers: Sequence[int] = (), *, inmodule: bool = False
) -> RuntimePlan:
    """Decide which used built-ins (indices into `graph.builtins`) stay core imports.
    ``inmodule``: every holder gets an in-module table even when one alone holds handles
    (async fusion asks for it when that instance's waitables are numbered in-module)."""
    holders = handle_holders(graph, used, list(lowers))
    paths = exported_resources(graph)
    h = host_facing_instance(graph, used) if len(holders) <= 1 else None
    if (
        len(holders) > 1
        or (holders and inmodule)
        or (holders and h is None and _mixes(graph, used, list(lowers)))
    ):
        plan = RuntimePlan(None, inmodule=True)
        for rid, path in sorted(paths.items(), key=lambda kv: kv[1]):
            r = _find_resource(graph, rid)
            if r is not None and r.host_path is None:
                rr = _add_resource(plan, r, path)
                for op, tag in _OPS.items():
                    plan.extra.append(BuiltinImport(rr.module, f"[{tag}]{rr.name}", op, r))
        return plan
    plan = RuntimePlan(h)
    for bi in sorted(used):
        b = graph.builtins[bi]
        r = b.resource
        # Host resources are the merger's (their drops stay imports); other instances' built-ins
        # need in-module tables.
        if b.op not in _OPS or r is None or r.host_path is not None or b.owner != h:
            continue
        rr = plan.runtime_resource(r) or _add_resource(plan, r, paths.get(r.id))
        plan.imports[bi] = BuiltinImport(rr.module, f"[{_OPS[b.op]}]{rr.name}", b.op, r)
    # Exported types no handle ever reaches still need a definition in the wrapper.
    for rid, path in sorted(paths.items(), key=lambda kv: kv[1]):
        r = _find_resource(graph, rid)
        if r is not None and r.host_path is None and plan.runtime_resource(r) is None:
            _add_resource(plan, r, path)
    return plan


def _find_resource(graph: FlatGraph, rid: int) -> ResourceType | None:
    def walk(item: ExportItem) -> ResourceType | None:
        if isinstance(item, TypeExport) and isinstance(item.type, ResourceType):
            return item.type if item.type.id == rid else None
        if isinstance(item, InstanceExport):
            for _, sub in item.exports:
                if (hit := walk(sub)) is not None:
                    return hit
        return None

    for _, item in graph.exports:
        if (hit := walk(item)) is not None:
            return hit
    return None


def _add_resource(
    plan: RuntimePlan, r: ResourceType, path: tuple[str, ...] | None
) -> RuntimeResource:
    if path is None:
        iface, name = "$root", f"$resource{r.id}"
    else:
        iface, name = ("/".join(path[:-1]) or "$root"), path[-1]
    taken = {(x.module, x.name) for x in plan.resources}
    base, n = name, 2
    while (f"[export]{iface}", name) in taken:
        name, n = f"{base}#{n}", n + 1
    dtor = None
    if r.dtor is not None:
        dtor = f"[dtor]{name}" if iface == "$root" else f"{iface}#[dtor]{name}"
    rr = RuntimeResource(r, f"[export]{iface}", name, dtor, path is not None)
    plan.resources.append(rr)
    return rr


def _internal_message(graph: FlatGraph, b: Builtin) -> str:
    return (
        f"`{b.op}` in component instance {graph.components[b.owner].label}, which is not the "
        "host-facing instance (in-module handle tables are not implemented yet)"
    )
