"""Keep refused edges as real component boundaries (``--keep-async-boundaries``, issue 11).

Some calls between former component instances cannot be fused exactly yet (an ``async`` lift or
lower between instances, several async instances in one module, ...: `merge.asyncpass` and
`merge.asyncfuse` refuse them). The component runtime carries such a call exactly as long as
caller and callee stay separate component instances, each with its own tasks, handle tables and
backpressure. So the composition's component instances are partitioned into *clusters*: each
cluster is fused as usual into one core module and wrapped as its own nested component
(`wrap.wrapper.wrap`, with the other clusters' functions as extra imports), and an outer
component (`wrap_outer`) instantiates the clusters in dependency order, passing each the root's
imports and the functions (and the types they need named) it takes from other clusters. Such a function is lifted by the callee's
cluster with the callee's canonical options and lowered by the caller's with the caller's
(async, callback, string encoding, memory/realloc/post-return of that cluster's fused module),
exactly as the original component did. A resource type defined in one cluster and used by
another is exported by its cluster (which keeps its destructor) and imported by the others as a
host resource type, so the runtime owns its handles across clusters as it did across the
original instances; records, variants, enums and flags on a kept boundary are exported by the
callee's cluster and imported (``eq``) by the caller's, since a function's type may only use
named ones. The output is therefore not fully fused.

The partition starts from one cluster per component instance with core code and joins two
clusters across a call edge when their union still fuses (a trial merge under the ordinary
rules, with every call to or from another cluster treated as a host import or root export) and no
call leaving the union can come back into it (so the clusters have an instantiation order, and
no call chain that passed through distinct original instances re-enters one cluster). Edges
without async are tried first, then the others, each in `canon lower` order, until nothing
joins: the result is deterministic, and every edge left between clusters was refused by a trial
(its reason is kept for ``--stats`` and ``inspect``). Trials re-merge the union each time, so
splitting a large composition costs a few merges; it only happens after a refusal.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, cast

from pymeld._dataclass import dataclass
from pymeld.abi import types as at
from pymeld.abi.types import ValType
from pymeld.codec.component import model as cm
from pymeld.codec.component.builder import ComponentBuilder, sort_key
from pymeld.codec.core.model import Module
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import (
    Builtin,
    BuiltinRef,
    ExportItem,
    FlatGraph,
    HostFunc,
    InstanceExport,
    Lifted,
    Lowered,
    LoweredRef,
    ModuleExport,
    ModuleInstance,
    ResourceType,
    TypeExport,
    reachable_lowers,
)
from pymeld.merge.merger import merge

CS = cm.ComponentSort
KS = cm.CoreSort

#: The outer component's custom section saying what was kept (read by `pymeld inspect`).
SECTION = "pymeld.clusters"


@dataclass(slots=True)
class Edge:
    """A reachable `canon lower` (index ``lower``) in component instance ``caller`` of a function
    lifted by another instance ``callee``; ``name`` is the function's import/export name when
    the edge crosses clusters (one per lifted function)."""

    lower: int
    caller: int
    callee: int
    func: Lifted
    name: str
    is_async: bool
    via: str  # the caller's core import bound to the lower, for people


@dataclass(slots=True)
class Cluster:
    """Component instances fused together; ``imports``/``exports``: the functions it takes from
    and gives to other clusters, by `Edge.name`."""

    members: frozenset[int]
    graph: FlatGraph
    imports: list[HostFunc]
    exports: list[str]
    root_exports: list[str]
    #: resource types defined by another cluster, as this one imports them (`resource_name`)
    resource_imports: list[ResourceType]
    #: names of the resource types this cluster defines and exports to others
    resource_exports: list[str]
    #: (name, type) of each nominal value type its imported functions need named (`named_parts`)
    type_imports: list[tuple[str, object]]
    #: names of the nominal value types its exported functions need named, exported for that
    type_exports: list[str]


@dataclass(slots=True)
class Partition:
    """Clusters in instantiation order, and each edge kept between two of them with the reason
    its clusters could not be joined."""

    clusters: list[Cluster]
    kept: list[tuple[Edge, str]]

    def summary(self, g: FlatGraph) -> dict[str, object]:
        """What `--stats` and the ``pymeld.clusters`` section say."""

        def label(c: int) -> str:
            return g.components[c].label

        pairs: dict[tuple[int, int], dict[str, object]] = {}
        for e, why in self.kept:
            pair = pairs.setdefault(
                (e.caller, e.callee),
                {"caller": label(e.caller), "callee": label(e.callee), "calls": [], "reason": why},
            )
            calls = pair["calls"]
            assert isinstance(calls, list)
            calls.append(e.via)
        return {
            "clusters": [[label(c) for c in sorted(cl.members)] for cl in self.clusters],
            "kept_edges": list(pairs.values()),
        }


def call_edges(g: FlatGraph) -> list[Edge]:
    """Every reachable call from one component instance into another, in lower order."""
    names: dict[int, str] = {}  # id(Lifted) → name
    via: dict[int, str] = {}  # lower → the first core import it is bound to
    for mi in g.instances:
        for imp, ref in zip(mi.module.imports, mi.imports):
            if isinstance(ref, LoweredRef):
                via.setdefault(ref.lower, f'{mi.label} import "{imp.module}" "{imp.name}"')
    out: list[Edge] = []
    for li in reachable_lowers(g):
        lw = g.lowers[li]
        f = lw.callee
        if not isinstance(f, Lifted) or f.owner == lw.owner:
            continue
        name = names.setdefault(id(f), f"pymeld-f{len(names)}")
        is_async = (
            lw.opts.is_async
            or f.opts.is_async
            or f.opts.callback is not None
            or f.type.is_async
            or bool(at.async_values(f.type))
        )
        out.append(Edge(li, lw.owner, f.owner, f, name, is_async, via.get(li, f"lower {li}")))
    return out


class Partitioner:
    """Finds the clusters of one flat graph (see the module docstring)."""

    def __init__(self, root: cm.Component, g: FlatGraph) -> None:
        self.root = root
        self.g = g
        self.edges = call_edges(g)
        self.refs = resource_refs(g)
        self.tnames: dict[object, str] = {}  # nominal value type → its name across clusters
        for e in self.edges:
            for t in named_parts(e.func.type):
                self.tnames.setdefault(t, f"pymeld-t{len(self.tnames)}")
        self._tried: dict[frozenset[int], str | None] = {}

    def label(self, c: int) -> str:
        return self.g.components[c].label

    # -- one cluster ----------------------------------------------------------------------------
    def cluster(self, members: frozenset[int], root_exports: list[str]) -> Cluster:
        """The flat graph of ``members`` alone: other instances' module instances are empty
        stand-ins (indices stay valid), calls out become host imports named after the edge,
        calls in become exports of that name (besides ``root_exports``). A resource type
        defined here and used by another cluster is exported (`resource_name`); one defined
        elsewhere and used here becomes an imported (host) resource type of that name."""
        g = self.g
        sub = FlatGraph(components=g.components, host_funcs=list(g.host_funcs), root=g.root)
        for mi in g.instances:
            if mi.owner in members:
                sub.instances.append(mi)
            else:
                label = f"{mi.label} (in another cluster)"
                sub.instances.append(
                    ModuleInstance(mi.index, Module(), -1 - mi.index, mi.owner, label)
                )
        used = {r for c in members for r in self.refs.get(c, ())}
        imported = sorted((r for r in used if r.owner not in members), key=lambda r: r.id)
        given = {
            r for c, rs in self.refs.items() if c not in members for r in rs if r.owner in members
        }
        exported_types = sorted(given, key=lambda r: r.id)
        subst = _Subst({r.id: _imported(r) for r in imported})
        sub.lowers = [subst.lowered(lw) if lw.owner in members else lw for lw in g.lowers]
        sub.builtins = [subst.builtin(b) if b.owner in members else b for b in g.builtins]
        imports: dict[str, HostFunc] = {}
        exports: dict[str, Lifted] = {}
        type_imports: dict[str, object] = {}
        type_exports: dict[str, object] = {}
        for e in self.edges:
            inside = (e.caller in members, e.callee in members)
            if inside == (True, False):
                hf = imports.setdefault(e.name, HostFunc((e.name,), subst.type(e.func.type)))
                sub.lowers[e.lower] = Lowered(hf, g.lowers[e.lower].opts, e.caller)
                for t in named_parts(e.func.type):
                    type_imports.setdefault(self.tnames[t], subst.type(t))
            elif inside == (False, True):
                exports.setdefault(e.name, subst.lifted(e.func))
                for t in named_parts(e.func.type):
                    type_exports.setdefault(self.tnames[t], subst.type(t))
        wanted = set(root_exports)
        sub.exports = [(n, subst.item(item)) for n, item in g.exports if n in wanted]
        sub.exports += [(resource_name(r), TypeExport(r)) for r in exported_types]
        sub.exports += [(n, TypeExport(cast(ValType, t))) for n, t in type_exports.items()]
        sub.exports += list(exports.items())  # edge order: deterministic
        return Cluster(
            members,
            sub,
            list(imports.values()),
            list(exports),
            root_exports,
            [subst.map[r.id] for r in imported],
            [resource_name(r) for r in exported_types],
            list(type_imports.items()),
            list(type_exports),
        )

    def fuses(self, members: frozenset[int]) -> str | None:
        """None if ``members`` fuse as one cluster, else why not (cached)."""
        if members not in self._tried:
            try:
                cl = self.cluster(members, self._root_exports_of(members))
                build_cluster(self.root, cl)  # the wrapper refuses some things too
                self._tried[members] = None
            except UnsupportedFeature as e:
                self._tried[members] = str(e)
        return self._tried[members]

    def _root_exports_of(self, members: frozenset[int]) -> list[str]:
        """Root exports whose functions all belong to ``members`` (at least one)."""
        out = []
        for name, item in self.g.exports:
            owners = _owners(item)
            if owners and owners <= members:
                out.append(name)
        return out

    # -- the partition ---------------------------------------------------------------------------
    def run(self) -> Partition:
        g = self.g
        groups: list[frozenset[int]] = [
            frozenset([c]) for c in sorted({mi.owner for mi in g.instances})
        ]

        def find(c: int) -> int:
            return next(i for i, grp in enumerate(groups) if c in grp)

        reasons: dict[int, str] = {}
        order = sorted(self.edges, key=lambda e: (e.is_async, e.lower))
        changed = True
        while changed:
            changed = False
            for e in order:
                i, j = find(e.caller), find(e.callee)
                if i == j:
                    continue
                union = groups[i] | groups[j]
                rest = [grp for k, grp in enumerate(groups) if k not in (i, j)]
                why = (
                    self._cycle_through(union, rest)
                    or self._order_problem([*rest, union])
                    or self.fuses(union)
                )
                if why is not None:
                    reasons[e.lower] = why
                    continue
                groups = [*rest, union]
                groups.sort(key=min)
                changed = True
        for grp in groups:
            why = self.fuses(grp)
            if why is not None:
                raise UnsupportedFeature(
                    f"component instances {', '.join(self.label(c) for c in sorted(grp))} do not "
                    f"fuse even as their own cluster (kept async boundaries): {why}"
                )
        ordered = self._instantiation_order(groups)
        why = self._start_order(ordered)
        if why is not None:
            raise UnsupportedFeature(f"kept async boundaries: {why}")
        where = {c: k for k, grp in enumerate(ordered) for c in grp}
        assigned = self._assign_root_exports(where, len(ordered))
        clusters = [self.cluster(grp, assigned[k]) for k, grp in enumerate(ordered)]
        kept = [
            (e, reasons.get(e.lower, "not tried"))
            for e in self.edges
            if where[e.caller] != where[e.callee]
        ]
        return Partition(clusters, kept)

    def _succ(self, groups: list[frozenset[int]]) -> list[set[int]]:
        """Caller group → callee groups (and user of a resource type → its definer)."""
        where = {c: k for k, grp in enumerate(groups) for c in grp}
        succ: list[set[int]] = [set() for _ in groups]
        pairs = [(e.caller, e.callee) for e in self.edges]
        pairs += [(c, r.owner) for c, rs in self.refs.items() for r in rs if r.owner is not None]
        for caller, callee in pairs:
            if caller not in where or callee not in where:
                continue
            a, b = where[caller], where[callee]
            if a != b:
                succ[a].add(b)
        return succ

    def _cycle_through(self, union: frozenset[int], rest: list[frozenset[int]]) -> str | None:
        """Why ``union`` may not be a cluster: a call out of it that comes back into it."""
        groups = [union, *rest]
        succ = self._succ(groups)
        seen: set[int] = set()
        work = sorted(succ[0])
        while work:
            k = work.pop()
            if k == 0:
                return (
                    "a call out of the joined cluster would come back into it through "
                    "another cluster (it would re-enter one component instance)"
                )
            if k not in seen:
                seen.add(k)
                work.extend(sorted(succ[k]))
        return None

    def _instantiation_order(self, groups: list[frozenset[int]]) -> list[frozenset[int]]:
        """Callees before callers; ties by the first module instance (original order)."""
        succ = self._succ(groups)
        first = {
            k: min(mi.index for mi in self.g.instances if mi.owner in grp)
            for k, grp in enumerate(groups)
        }
        done: list[int] = []
        left = set(range(len(groups)))
        while left:
            ready = [k for k in left if not (succ[k] & left)]
            if not ready:
                names = sorted(self.label(c) for k in left for c in groups[k])
                raise UnsupportedFeature(
                    f"component instances {', '.join(names)} call each other (or use each "
                    "other's resource types) in a cycle across kept async boundaries"
                )
            k = min(ready, key=lambda k: first[k])
            done.append(k)
            left.remove(k)
        return [groups[k] for k in done]

    def _order_problem(self, groups: list[frozenset[int]]) -> str | None:
        try:
            return self._start_order(self._instantiation_order(groups))
        except UnsupportedFeature:  # a cycle elsewhere: not this join's doing
            return None

    def _start_order(self, ordered: list[frozenset[int]]) -> str | None:
        """Why clusters instantiated in ``ordered`` are not exact: start functions run when their
        cluster is instantiated, and they may call out, so two must not swap."""
        starts = [mi for mi in self.g.instances if mi.module.start is not None]
        now = [mi.index for grp in ordered for mi in starts if mi.owner in grp]
        if now == sorted(now):
            return None
        first = next(i for i, (a, b) in enumerate(zip(now, sorted(now))) if a != b)
        a, b = self.g.instances[sorted(now)[first]], self.g.instances[now[first]]
        return (
            f"the start functions of {a.label} and {b.label} would run in another order "
            "(clusters are instantiated callees first)"
        )

    def _assign_root_exports(self, where: dict[int, int], n: int) -> list[list[str]]:
        """Each root export to the cluster holding its functions; one without functions (a
        type, a host function or a module passed through) goes with the next export that has
        some (else the previous, else the last cluster)."""
        users: dict[object, set[int]] = {}  # nominal type → clusters whose root exports use it
        for _, item in self.g.exports:
            for lf in _lifts(item):
                for t in named_parts(lf.type):
                    users.setdefault(t, set()).add(where[lf.owner])
        homes: list[int | None] = []
        for name, item in self.g.exports:
            ks = sorted({where[c] for c in _owners(item)})
            if isinstance(item, TypeExport) and not isinstance(item.type, ResourceType):
                ks = sorted(users.get(item.type, ()))
                if len(ks) > 1:
                    raise UnsupportedFeature(
                        f"root export type `{name}` is used by root exports of {len(ks)} "
                        "clusters (kept async boundaries): it is re-exported from one of them"
                    )
            if len(ks) > 1:
                raise UnsupportedFeature(
                    f"root export `{name}` holds functions of {len(ks)} clusters (kept async "
                    "boundaries): an instance export is re-exported from one cluster"
                )
            homes.append(ks[0] if ks else None)
        out: list[list[str]] = [[] for _ in range(n)]
        for pos, (name, _) in enumerate(self.g.exports):
            home = homes[pos]
            if home is None:
                later = [h for h in homes[pos:] if h is not None]
                earlier = [h for h in homes[:pos] if h is not None]
                home = later[0] if later else earlier[-1] if earlier else n - 1
            out[home].append(name)
        return out


#: Value types a component must name (import or export) before an exported or imported function
#: may use them (wasmparser: "type not valid to be used as export").
NOMINAL = (at.Record, at.Variant, at.Enum, at.Flags)


def named_parts(t: object) -> list[object]:
    """The nominal value types inside ``t`` (itself included), innermost first, once each."""
    out: list[object] = []

    def walk(x: object) -> None:
        for c in at.children(x):
            walk(c)
        if isinstance(x, NOMINAL) and x not in out:
            out.append(x)

    walk(t)
    return out


def resource_name(r: ResourceType) -> str:
    """The name a resource type crossing clusters is exported and imported under."""
    return f"pymeld-r{r.id}"


def _imported(r: ResourceType) -> ResourceType:
    """``r`` as the clusters that use but do not define it see it: a host resource type."""
    return ResourceType(r.id, r.name, None, None, (resource_name(r),))


def resource_refs(g: FlatGraph) -> dict[int, set[ResourceType]]:
    """Component instance → the composition-defined resource types its reachable lowers,
    lifts, built-ins and root exports name."""
    out: dict[int, set[ResourceType]] = {}

    def add(c: int, t: object) -> None:
        for h in at.handles(t):
            r = h.resource
            if isinstance(r, ResourceType) and r.owner is not None:
                out.setdefault(c, set()).add(r)

    for li in reachable_lowers(g):
        lw = g.lowers[li]
        add(lw.owner, lw.callee.type)
        if isinstance(lw.callee, Lifted):
            add(lw.callee.owner, lw.callee.type)
    used = {ref.builtin for mi in g.instances for ref in mi.imports if isinstance(ref, BuiltinRef)}
    for bi in sorted(used):
        b = g.builtins[bi]
        if b.resource is not None and b.resource.owner is not None:
            out.setdefault(b.owner, set()).add(b.resource)
        add(b.owner, b.type)
        add(b.owner, b.result)

    def walk(item: ExportItem) -> None:
        if isinstance(item, Lifted):
            add(item.owner, item.type)
        elif isinstance(item, InstanceExport):
            for _, sub in item.exports:
                walk(sub)

    for _, item in g.exports:
        walk(item)
    return out


class _Subst:
    """Copies of graph items with resource types replaced by id (``map``); items are copied
    once each, so what one object was to several others it stays in the copy."""

    def __init__(self, mapping: dict[int, ResourceType]) -> None:
        self.map = mapping
        self._done: dict[int, object] = {}

    def type(self, t: Any) -> Any:
        if not self.map:
            return t
        if isinstance(t, ResourceType):
            return self.map.get(t.id, t)
        if isinstance(t, tuple):
            new = tuple(self.type(x) for x in t)
            return t if all(a is b for a, b in zip(new, t)) else new
        if not isinstance(t, at.ValType | at.FuncType):
            return t
        obj: Any = t  # every value type is a frozen dataclass (pymeld.abi.types)
        changes = {}
        for f in dataclasses.fields(obj):
            old = getattr(obj, f.name)
            value = self.type(old)
            if value is not old:
                changes[f.name] = value
        return dataclasses.replace(obj, **changes) if changes else t

    def _once(self, obj: Any, make: Callable[[], Any]) -> Any:
        if not self.map:
            return obj
        if id(obj) not in self._done:
            self._done[id(obj)] = make()
        return self._done[id(obj)]

    def lifted(self, f: Lifted) -> Lifted:
        new: Lifted = self._once(f, lambda: dataclasses.replace(f, type=self.type(f.type)))
        return new

    def func(self, f: Lifted | HostFunc) -> Lifted | HostFunc:
        if isinstance(f, Lifted):
            return self.lifted(f)
        new: HostFunc = self._once(f, lambda: dataclasses.replace(f, type=self.type(f.type)))
        return new

    def lowered(self, lw: Lowered) -> Lowered:
        new: Lowered = self._once(lw, lambda: dataclasses.replace(lw, callee=self.func(lw.callee)))
        return new

    def builtin(self, b: Builtin) -> Builtin:
        def make() -> Builtin:
            return dataclasses.replace(
                b,
                resource=self.type(b.resource),
                type=self.type(b.type),
                result=self.type(b.result),
            )

        new: Builtin = self._once(b, make)
        return new

    def item(self, item: ExportItem) -> ExportItem:
        if isinstance(item, Lifted | HostFunc):
            return self.func(item)
        if isinstance(item, InstanceExport):
            return InstanceExport([(n, self.item(sub)) for n, sub in item.exports])
        if isinstance(item, TypeExport):
            return TypeExport(self.type(item.type))
        return item


def _lifts(item: ExportItem) -> list[Lifted]:
    if isinstance(item, Lifted):
        return [item]
    if isinstance(item, InstanceExport):
        return [lf for _, sub in item.exports for lf in _lifts(sub)]
    return []


def _owners(item: ExportItem) -> set[int]:
    """Component instances whose lifted functions (or resource types) ``item`` holds."""
    if isinstance(item, Lifted):
        return {item.owner}
    if isinstance(item, InstanceExport):
        return {c for _, sub in item.exports for c in _owners(sub)}
    if isinstance(item, TypeExport) and isinstance(item.type, ResourceType):
        return set() if item.type.owner is None else {item.type.owner}
    return set()


def build_cluster(root: cm.Component, cl: Cluster) -> cm.Component:
    """One cluster fused and wrapped plainly (a trial: no memory strategy, names, attestation)."""
    from pymeld.wrap.wrapper import wrap

    merged = merge(cl.graph)
    return wrap(
        root,
        cl.graph.root,
        merged,
        imports=cl.imports,
        resources=cl.resource_imports,
        named=cl.type_imports,
    )


def wrap_outer(
    root: cm.Component, g: FlatGraph, parts: list[tuple[Cluster, cm.Component]], record: object
) -> cm.Component:
    """The output: the root's imports, each cluster's component instantiated in order with the
    root's imports and the functions it imports from earlier clusters, the root's exports
    aliased out of the clusters holding them, and a ``pymeld.clusters`` record."""
    from pymeld.wrap.ascribe import name_exported_resources
    from pymeld.wrap.typeemit import TypeEmitter
    from pymeld.wrap.wrapper import copy_root_imports

    b = ComponentBuilder()
    host = copy_root_imports(b, root, g.root)
    root_imports = _imported_items(b.comp)
    funcs: dict[str, int] = {}
    types: dict[str, int] = {}
    homes: dict[str, int] = {}
    for cl, comp in parts:
        cidx = b.one(cm.ComponentSection(comp), CS.COMPONENT)
        args = [cm.InstantiateArg(name, sort, idx) for name, sort, idx in root_imports]
        args += [
            cm.InstantiateArg(name, CS.TYPE, types[name])
            for name in (_only(r.host_path) for r in cl.resource_imports)
        ]
        args += [cm.InstantiateArg(name, CS.TYPE, types[name]) for name, _ in cl.type_imports]
        args += [cm.InstantiateArg(hf.path[0], CS.FUNC, funcs[hf.path[0]]) for hf in cl.imports]
        inst = b.one(cm.InstanceSection([cm.Instantiate(cidx, args)]), CS.INSTANCE)
        for name in cl.resource_exports:
            types[name] = b.alias(inst, name, CS.TYPE)
        for name in cl.type_exports:
            if name not in types:  # structural: the first cluster exporting it provides it
                types[name] = b.alias(inst, name, CS.TYPE)
        for name in cl.exports:
            funcs[name] = b.alias(inst, name, CS.FUNC)
        for name in cl.root_exports:
            homes[name] = inst
    emitter = TypeEmitter(b.type, host.resource)
    for index, t in host.named_types:
        emitter.name(t, index)
    for name, item in g.exports:
        sort = _export_sort(item)
        ename = g.root.export_names.get(name, cm.ExternName(name))
        desc = None
        if isinstance(item, HostFunc):
            idx = host.func(item.path)
        else:
            idx = b.alias(homes[name], name, sort)
        if isinstance(item, Lifted) and (named_parts(item.type) or at.handles(item.type)):
            # its type names the cluster's types: re-state it with the ones exported here
            desc = cm.ExternDesc(CS.FUNC, emitter.index(item.type))
        new = b.one(cm.ExportSection([cm.Export(ename, sort, idx, desc)]), sort)
        if isinstance(item, TypeExport):
            emitter.name(item.type, new)
        if isinstance(item, InstanceExport):
            name_exported_resources(b, emitter, new, item)
    payload = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    b.add(cm.CustomSection(SECTION, payload))
    return b.comp


def _only(path: tuple[str, ...] | None) -> str:
    assert path is not None and len(path) == 1
    return path[0]


def _imported_items(comp: cm.Component) -> list[tuple[str, cm.Sort, int]]:
    """(name, sort, index) of every import ``comp`` declares so far."""
    counts: dict[tuple[bool, int], int] = {}
    out: list[tuple[str, cm.Sort, int]] = []
    for section in comp.sections:
        for sort, item in cm.defined_sorts(section):
            key = sort_key(sort)
            index = counts.get(key, 0)
            counts[key] = index + 1
            if isinstance(section, cm.ImportSection) and isinstance(item, cm.Import):
                out.append((item.name.name, sort, index))
    return out


def _export_sort(item: ExportItem) -> cm.Sort:
    if isinstance(item, Lifted | HostFunc):
        return CS.FUNC
    if isinstance(item, TypeExport):
        return CS.TYPE
    if isinstance(item, InstanceExport):
        return CS.INSTANCE
    assert isinstance(item, ModuleExport)
    return KS.MODULE


__all__ = ["SECTION", "Cluster", "Partition", "Partitioner", "build_cluster", "wrap_outer"]
