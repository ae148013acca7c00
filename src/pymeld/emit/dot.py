"""Graphviz DOT views for ``pymeld inspect --graph dot``.

* `composition_dot`: the wiring of a composed component as the flattener sees it — one
  cluster per component instance (nested like the instances), a box per core module instance,
  solid edges for core imports satisfied by another module instance, bold edges for
  `canon lift` → `canon lower` pairs (the calls fusion turns into adapters), edges from host
  imports, and the root exports.
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


def composition_dot(graph: FlatGraph, title: str = "composition") -> str:
    """DOT of component instances, core module instances and their import/lift/lower edges."""
    lines = [f"digraph {_q(title)} {{", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    children: dict[int | None, list[int]] = defaultdict(list)
    for c in graph.components:
        children[c.parent].append(c.id)
    modules_of: dict[int, list[int]] = defaultdict(list)
    for mi in graph.instances:
        modules_of[mi.owner].append(mi.index)

    def cluster(cid: int, indent: str) -> None:
        c = graph.components[cid]
        lines.append(f"{indent}subgraph {_q(f'cluster_c{cid}')} {{")
        label = _q(f"component {c.label}")
        lines.append(f"{indent}  label={label}; style=rounded;")
        for mi_index in modules_of.get(cid, []):
            mi = graph.instances[mi_index]
            m = mi.module
            label = f"{mi.label}\n{len(m.funcs)} funcs, {len(m.memories)} mem"
            lines.append(f"{indent}  m{mi_index} [label={_q(label)}];")
        for sub in children.get(cid, []):
            cluster(sub, indent + "  ")
        lines.append(f"{indent}}}")

    for top in children.get(None, []):
        cluster(top, "  ")

    edges: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    hosts: dict[str, str] = {}
    builtins: set[int] = set()
    for mi in graph.instances:
        dst = f"m{mi.index}"
        for imp, ref in zip(mi.module.imports, mi.imports):
            name = f"{imp.module}.{imp.name}"
            if isinstance(ref, DefRef):
                edges[(f"m{ref.instance}", dst, "import")].append(name)
            elif isinstance(ref, LoweredRef):
                lowered = graph.lowers[ref.lower]
                callee = lowered.callee
                if isinstance(callee, Lifted) and isinstance(callee.core_func, DefRef):
                    src_mi = callee.core_func.instance
                    fn = _export_name(graph.instances[src_mi].module, callee.core_func.index)
                    edges[(f"m{src_mi}", dst, "lift-lower")].append(fn or name)
                elif isinstance(callee, HostFunc):
                    host = "/".join(callee.path[:-1]) or callee.path[0]
                    hosts.setdefault(host, f"h{len(hosts)}")
                    edges[(hosts[host], dst, "host")].append(callee.path[-1])
            elif isinstance(ref, BuiltinRef):
                builtins.add(ref.builtin)
                edges[(f"b{ref.builtin}", dst, "builtin")].append(name)
    for host, node in sorted(hosts.items(), key=lambda hn: hn[1]):
        label = _q("host import\n" + host)
        lines.append(f"  {node} [label={label}, shape=cds];")
    for b in sorted(builtins):
        bi = graph.builtins[b]
        res = f" {bi.resource.name}" if bi.resource is not None else ""
        label = _q(f"canon {bi.op}{res}")
        lines.append(f"  b{b} [label={label}, shape=diamond];")

    exports: list[tuple[str, int]] = []

    def walk(path: str, item: ExportItem) -> None:
        if isinstance(item, Lifted) and isinstance(item.core_func, DefRef):
            exports.append((path, item.core_func.instance))
        elif isinstance(item, InstanceExport):
            for n, sub in item.exports:
                walk(f"{path}#{n}" if "#" not in path else f"{path}/{n}", sub)

    for name, item in graph.exports:
        walk(name, item)
    if exports:
        lines.append(f"  exports [label={_q('root exports')}, shape=note];")
        for path, inst in exports:
            edges[(f"m{inst}", "exports", "export")].append(path)

    style = {
        "import": "",
        "lift-lower": ", style=bold, color=blue",
        "host": ", style=dashed",
        "builtin": ", style=dotted",
        "export": ", color=darkgreen",
    }
    for (src, dst, kind), labels in sorted(edges.items()):
        prefix = "lift∘lower: " if kind == "lift-lower" else ""
        lines.append(f"  {src} -> {dst} [label={_q(prefix + _join(labels))}{style[kind]}];")
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
        group_label = f"{origin}\nfuncs {first}..{last} ({len(items)})\n" + _join(body)
        lines.append(f"  g{g} [label={_q(group_label)}];")
        for k in range(len(attestations)):
            lines.append(f"  att{k} -> g{g} [style=dotted, arrowhead=none];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _join_all(items: list[str]) -> str:
    return "\n".join(items)
