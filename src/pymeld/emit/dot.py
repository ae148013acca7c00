"""Graphviz DOT views for ``pymeld inspect --graph dot``.

* `composition_dot`: the wiring of a composed component as the flattener sees it — one
  cluster per component instance (nested like the instances), a box per core module instance,
  solid edges for core imports satisfied by another module instance, bold edges for
  `canon lift` → `canon lower` pairs (the calls fusion turns into adapters), edges from host
  imports, and the root exports; instances of imported core modules (kept, not fused) are
  3-D boxes with their import edges.
* `fused_dot`: a fused output — the attestation (with whether its code hash still matches) and,
  from the merged ``name`` section, which functions came from which module instance and which
  pymeld generated.

Output is deterministic (sorted, no ids from hashing) so it can be diffed and golden-tested.
"""

from __future__ import annotations

import json
from collections import defaultdict

from pymeld.codec.core.model import ExternKind, Module
from pymeld.emit.attestation import Attestation
from pymeld.emit.names import names_of
from pymeld.graph.model import (
    BuiltinRef,
    DefRef,
    ExportItem,
    FlatGraph,
    ForeignRef,
    HostFunc,
    InstanceExport,
    Lifted,
    LoweredRef,
)

__all__ = ["composition_dot", "fused_dot"]

_MAX_LABEL_ITEMS = 6


def _q(s: str) -> str:
    """A DOT double-quoted string."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _join(items: list[str]) -> str:
    shown = items[:_MAX_LABEL_ITEMS]
    more = len(items) - len(shown)
    return "\n".join(shown + ([f"(+{more} more)"] if more > 0 else []))


def _export_name(module: Module, index: int) -> str | None:
    return next(
        (e.name for e in module.exports if e.kind == ExternKind.FUNC and e.index == index), None
    )


def _shims(graph: FlatGraph) -> tuple[set[int], dict[tuple[int, str], list[tuple[int, str]]]]:
    """wit-component's indirection pairs, to fold them into the module they serve.

    A *shim* module exports functions ``"0"``, ``"1"``... that `call_indirect` through its
    exported ``$imports`` table; a *fixup* module imports that table plus the lowered functions
    (same names ``"0"``, ``"1"``...) and fills the table, so the main module can be
    instantiated before the lowers exist. Returns (both instances of every pair, and
    ``(fixup, name) → (module instance, import name)`` of each import of the shim's `name`).
    """
    hidden: set[int] = set()
    redirect: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for mi in graph.instances:
        table = next(
            (
                ref
                for imp, ref in zip(mi.module.imports, mi.imports)
                if imp.kind == ExternKind.TABLE and imp.name == "$imports"
            ),
            None,
        )
        if not isinstance(table, DefRef) or mi.module.funcs:
            continue
        shim = table.instance
        hidden |= {mi.index, shim}
        by_index = {
            e.index: e.name
            for e in graph.instances[shim].module.exports
            if e.kind == ExternKind.FUNC
        }
        for user in graph.instances:
            if user.index in (mi.index, shim):
                continue
            for imp, ref in zip(user.module.imports, user.imports):
                if isinstance(ref, DefRef) and ref.instance == shim and ref.index in by_index:
                    redirect.setdefault((mi.index, by_index[ref.index]), []).append(
                        (user.index, f"{imp.module}.{imp.name}")
                    )
    return hidden, redirect


def composition_dot(
    graph: FlatGraph, title: str = "composition", *, components_only: bool = False
) -> str:
    """DOT of component instances, core module instances and their import/lift/lower edges.

    Clusters are titled with readable component names (the interfaces each provides);
    wit-component's shim/fixup modules are folded, so a lift∘lower edge ends at the module that
    calls the function. ``components_only`` draws one node per component instead.
    """
    from pymeld.emit.report import component_names

    names = component_names(graph)
    if components_only:
        return _components_dot(graph, title, names)
    hidden, redirect = _shims(graph)
    lines = [f"digraph {_q(title)} {{", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    children: dict[int | None, list[int]] = defaultdict(list)
    for c in graph.components:
        children[c.parent].append(c.id)
    modules_of: dict[int, list[int]] = defaultdict(list)
    for mi in graph.instances:
        modules_of[mi.owner].append(mi.index)
    foreign_of: dict[int, list[int]] = defaultdict(list)
    for fi in graph.foreign:
        foreign_of[fi.owner].append(fi.index)

    def has_code(cid: int) -> bool:
        return (
            any(i not in hidden for i in modules_of.get(cid, []))
            or bool(foreign_of.get(cid))
            or any(has_code(sub) for sub in children.get(cid, []))
        )

    def cluster(cid: int, indent: str) -> None:
        if not has_code(cid):  # instances of type-only components: nothing to draw
            return
        lines.append(f"{indent}subgraph {_q(f'cluster_c{cid}')} {{")
        label = _q(f"component {names[cid]}")
        lines.append(f"{indent}  label={label}; style=rounded;")
        folded = [i for i in modules_of.get(cid, []) if i in hidden]
        for mi_index in modules_of.get(cid, []):
            if mi_index in hidden:
                continue
            mi = graph.instances[mi_index]
            m = mi.module
            label = f"{mi.label}\n{len(m.funcs)} funcs, {len(m.memories)} mem"
            lines.append(f"{indent}  m{mi_index} [label={_q(label)}];")
        for k in foreign_of.get(cid, []):
            fi = graph.foreign[k]
            label = f"{fi.label}\nimported module {'/'.join(fi.path)}"
            lines.append(f"{indent}  f{k} [label={_q(label)}, shape=box3d];")
        if folded:
            lines.append(f"{indent}  // folded shim/fixup module instances: {folded}")
        for sub in children.get(cid, []):
            cluster(sub, indent + "  ")
        lines.append(f"{indent}}}")

    for top in children.get(None, []):
        cluster(top, "  ")

    edges: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    hosts: dict[str, str] = {}
    builtins: set[int] = set()
    for mi in graph.instances:
        for imp, ref in zip(mi.module.imports, mi.imports):
            if mi.index in hidden:  # what a fixup puts behind the shim goes to the shim's callers
                targets = redirect.get((mi.index, imp.name), [])
            else:
                targets = [(mi.index, f"{imp.module}.{imp.name}")]
            dsts = [f"m{u}" for u, _ in targets]
            if isinstance(ref, DefRef):
                if ref.instance in hidden:
                    continue  # calls into the shim: drawn from what the fixup put behind them
                for u, name in targets:
                    edges[(f"m{ref.instance}", f"m{u}", "import")].append(name)
            elif isinstance(ref, LoweredRef):
                lowered = graph.lowers[ref.lower]
                callee = lowered.callee
                if isinstance(callee, Lifted) and isinstance(callee.core_func, DefRef):
                    src_mi = callee.core_func.instance
                    fn = _export_name(graph.instances[src_mi].module, callee.core_func.index)
                    for u, name in targets:
                        edges[(f"m{src_mi}", f"m{u}", "lift-lower")].append(fn or name)
                elif isinstance(callee, HostFunc):
                    host = "/".join(callee.path[:-1]) or callee.path[0]
                    hosts.setdefault(host, f"h{len(hosts)}")
                    for dst in dsts:
                        edges[(hosts[host], dst, "host")].append(callee.path[-1])
            elif isinstance(ref, BuiltinRef):
                builtins.add(ref.builtin)
                for u, name in targets:
                    edges[(f"b{ref.builtin}", f"m{u}", "builtin")].append(name)
            elif isinstance(ref, ForeignRef):
                for u, name in targets:
                    edges[(f"f{ref.instance}", f"m{u}", "import")].append(name)
    for fi in graph.foreign:
        for imp, ref in zip(fi.sig.imports, fi.imports):
            src = (
                f"m{ref.instance}"
                if isinstance(ref, DefRef) and ref.instance not in hidden
                else f"f{ref.instance}"
                if isinstance(ref, ForeignRef)
                else None
            )
            if src is not None:
                edges[(src, f"f{fi.index}", "import")].append(f"{imp.module}.{imp.name}")
    for host, node in sorted(hosts.items(), key=lambda hn: int(hn[1][1:])):
        label = _q("host import\n" + host)
        lines.append(f"  {node} [label={label}, shape=cds];")
    for b in sorted(builtins):
        bi = graph.builtins[b]
        res = f" {bi.resource.name}" if bi.resource is not None else ""
        label = _q(f"canon {bi.op}{res}")
        lines.append(f"  b{b} [label={label}, shape=diamond];")

    exports: list[tuple[str, str]] = []

    def walk(path: str, item: ExportItem) -> None:
        if isinstance(item, Lifted) and isinstance(item.core_func, DefRef):
            exports.append((path, f"m{item.core_func.instance}"))
        elif isinstance(item, Lifted) and isinstance(item.core_func, ForeignRef):
            exports.append((path, f"f{item.core_func.instance}"))
        elif isinstance(item, InstanceExport):
            for n, sub in item.exports:
                walk(f"{path}#{n}" if "#" not in path else f"{path}/{n}", sub)

    for name, item in graph.exports:
        walk(name, item)
    if exports:
        lines.append(f"  exports [label={_q('root exports')}, shape=note];")
        for path, node in exports:
            edges[(node, "exports", "export")].append(path)
    lines.extend(_edge_lines(edges))
    lines.append("}")
    return "\n".join(lines) + "\n"


_STYLE = {
    "import": "",
    "lift-lower": ", style=bold, color=blue",
    "host": ", style=dashed",
    "builtin": ", style=dotted",
    "export": ", color=darkgreen",
}


def _edge_lines(edges: dict[tuple[str, str, str], list[str]]) -> list[str]:
    out = []
    for (src, dst, kind), labels in sorted(edges.items()):
        prefix = "lift∘lower: " if kind == "lift-lower" else ""
        unique = list(dict.fromkeys(labels))
        out.append(f"  {src} -> {dst} [label={_q(prefix + _join(unique))}{_STYLE[kind]}];")
    return out


def _components_dot(graph: FlatGraph, title: str, names: dict[int, str]) -> str:
    """One node per component instance that has code; calls between them, host, exports."""
    lines = [f"digraph {_q(title)} {{", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    owners = sorted({mi.owner for mi in graph.instances})
    for cid in owners:
        n = sum(1 for mi in graph.instances if mi.owner == cid)
        label = f"{names[cid]}\n{n} core module instance{'s' if n != 1 else ''}"
        lines.append(f"  c{cid} [label={_q(label)}];")
    edges: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    hosts: dict[str, str] = {}
    for lowered in graph.lowers:
        callee = lowered.callee
        if isinstance(callee, Lifted):
            fn = None
            if isinstance(callee.core_func, DefRef):
                ref = callee.core_func
                fn = _export_name(graph.instances[ref.instance].module, ref.index)
            edges[(f"c{callee.owner}", f"c{lowered.owner}", "lift-lower")].append(fn or "?")
        elif isinstance(callee, HostFunc):
            host = "/".join(callee.path[:-1]) or callee.path[0]
            hosts.setdefault(host, f"h{len(hosts)}")
            edges[(hosts[host], f"c{lowered.owner}", "host")].append(callee.path[-1])
    for host, node in sorted(hosts.items(), key=lambda hn: int(hn[1][1:])):
        lines.append(f"  {node} [label={_q('host import' + chr(10) + host)}, shape=cds];")
    tops: list[tuple[str, int]] = []
    for name, item in graph.exports:
        stack: list[ExportItem] = [item]
        while stack:
            it = stack.pop()
            if isinstance(it, Lifted):
                tops.append((name, it.owner))
            elif isinstance(it, InstanceExport):
                stack.extend(sub for _, sub in it.exports)
    if tops:
        lines.append(f"  exports [label={_q('root exports')}, shape=note];")
        for name, owner in tops:
            edges[(f"c{owner}", "exports", "export")].append(name)
    lines.extend(_edge_lines(edges))
    lines.append("}")
    return "\n".join(lines) + "\n"


def fused_dot(module: Module, attestations: list[Attestation], title: str = "fused") -> str:
    """DOT of a fused module: attestation node and function provenance groups."""
    lines = [f"digraph {_q(title)} {{", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    for k, a in enumerate(attestations):
        rec = a.record or {}
        tool = rec.get("tool", {})
        status = "code hash VERIFIED" if a.ok else f"code hash MISMATCH ({a.error or 'edited'})"
        label = [
            f"attestation ({a.where})",
            f"{tool.get('name', '?')} {tool.get('version', '?')}",
            status,
            f"options: {json.dumps(rec.get('options', {}), sort_keys=True)}",
            *[
                f"input {i.get('name')}: {str(i.get('sha256'))[:16]}…"
                for i in rec.get("inputs", [])
            ],
            *[f"component {c}" for c in rec.get("components", [])],
        ]
        lines.append(f"  att{k} [label={_q(_join_all(label))}, shape=note];")
    names = names_of(module)
    n_imported = module.num_imported(ExternKind.FUNC)
    total = module.num_funcs()
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    funcs = names.funcs if names is not None else {}
    for idx in range(total):
        name = funcs.get(idx, f"func{idx}")
        if "::" in name and not name.startswith("import:"):
            origin, short = name.split("::", 1)
        elif idx < n_imported or name.startswith("import:"):
            origin, short = "imports", name.removeprefix("import:")
        elif names is None:
            origin, short = "functions (no name section: fuse with --preserve-names)", name
        else:
            origin, short = "generated by pymeld", name
        groups[origin].append((idx, short))
    for g, (origin, items) in enumerate(sorted(groups.items(), key=lambda kv: kv[1][0][0])):
        first, last = items[0][0], items[-1][0]
        body = [f"{i}: {n}" for i, n in items]
        shown = _join_all(body) if origin == "generated by pymeld" else _join(body)
        group_label = f"{origin}\nfuncs {first}..{last} ({len(items)})\n" + shown
        lines.append(f"  g{g} [label={_q(group_label)}];")
        for k in range(len(attestations)):
            lines.append(f"  att{k} -> g{g} [style=dotted, arrowhead=none];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _join_all(items: list[str]) -> str:
    return "\n".join(items)
