"""What a fusion left to the host and what it did at each former boundary.

`import_map` (meld's `--emit-import-map`, schema version 2): every import the fused core module
still has, as meld writes it — `index`, `kind`, `module`, `name`, the owning `component`, the
`memory` its pointers index and the `realloc` it allocates with (each `{index|func, export}` or
null), the string `encoding` (null for resource built-ins) and, for resource built-ins, a
`resource` object — plus pymeld's own `component_name` and core signature (`params`,
`results`). `kind` is `wasi`, `resource` (a runtime resource built-in), `p3-builtin` (a
component-model async built-in the wrapper re-creates) or `function` (any other host function).
`component` is pymeld's flat component index (its numbering of nested components may differ from
meld's); the rest is the same for the same input (tests/test_meld_compat.py).
`explain` (meld's `--explain`): one line per generated adapter — caller and callee instance, the
function type, how its values cross (flat, through memory, spilled, return pointer, handles) and
between which memories — plus where every memory went.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymeld.abi import types as at
from pymeld.abi.layout import MAX_FLAT_PARAMS, flat_count, flatten_functype
from pymeld.codec.core.emitter import VALTYPE_NAME as _VT
from pymeld.codec.core.model import FuncImport, FuncType, Module, RefType
from pymeld.graph.model import FlatGraph, HostFunc, InstanceExport, Lifted
from pymeld.merge.merger import HostImport, MergeResult

if TYPE_CHECKING:
    from typing import Any

#: The ``version`` of the import-map schema written (meld's, since meld 0.5x: version 2).
IMPORT_MAP_VERSION = 2


def _kind(module: str, name: str) -> str:
    if module.startswith("[core-instance]"):  # an imported module's instance (merge.foreign)
        return "core-instance"
    if module == "[async]":
        return "p3-builtin"
    if name.startswith(("[resource-drop]", "[resource-new]", "[resource-rep]")):
        return "resource"
    if module.startswith("[export]"):
        return "resource"
    if module.startswith("wasi:"):
        return "wasi"
    return "function"


def _sig(module: Module, type_index: int) -> dict[str, list[str]]:
    ft = module.subtypes()[type_index].composite
    assert isinstance(ft, FuncType)

    def name(t: object) -> str:
        return _VT.get(t, "ref") if not isinstance(t, RefType) else "ref"  # type: ignore[call-overload]

    return {"params": [name(p) for p in ft.params], "results": [name(r) for r in ft.results]}


def _owners(graph: FlatGraph) -> dict[object, int]:
    """Host-import key → the component instance whose `canon lower` made it (first one)."""
    owners: dict[object, int] = {}
    for lowered in graph.lowers:
        hf = lowered.callee
        if isinstance(hf, HostFunc):
            owners.setdefault((hf.path, hf.type, lowered.opts), lowered.owner)
    return owners


def _resource(hi: HostImport, merged: MergeResult) -> dict[str, Any] | None:
    """meld's `resource` object for a resource built-in that stays an import."""
    res = hi.resource
    if res is None or hi.func is not None:
        return None
    definer = hi.module.startswith("[export]")
    runtime = merged.runtime.resources if merged.runtime is not None else []
    rr = next((r for r in runtime if r.resource.id == res.id), None)
    path = res.host_path or ()
    return {
        "interface": "/".join(path[:-1]) if path else hi.module.removeprefix("[export]"),
        "resource": hi.name.split("]", 1)[1] if hi.name.startswith("[") else res.name,
        "operation": hi.op.removeprefix("resource."),
        "definer": definer,
        "dtor_export": rr.dtor_export if rr is not None else None,
    }


def _builtin_owners(graph: FlatGraph) -> dict[int, int]:
    """Resource type id → the first component instance that uses a built-in of it."""
    owners: dict[int, int] = {}
    for b in graph.builtins:
        if b.resource is not None:
            owners.setdefault(b.resource.id, b.owner)
    return owners


def import_map(
    module: Module, graph: FlatGraph | None = None, merged: MergeResult | None = None
) -> dict[str, Any]:
    """The remaining imports of a fused core module, in import order, in meld's schema."""
    by_name = {(hi.module, hi.name): hi for hi in merged.host_imports} if merged else {}
    owners = _owners(graph) if graph is not None else {}
    by_resource = _builtin_owners(graph) if graph is not None else {}
    out = []
    for index, imp in enumerate(module.imports):
        entry: dict[str, Any] = {"index": index, "module": imp.module, "name": imp.name}
        entry["kind"] = _kind(imp.module, imp.name)
        hi = by_name.get((imp.module, imp.name))
        if merged is not None and graph is not None:
            entry.update(_meld_fields(hi, graph, merged, owners, by_resource))
        if isinstance(imp.desc, FuncImport):
            entry.update(_sig(module, imp.desc.type_index))
        out.append(entry)
    return {"version": IMPORT_MAP_VERSION, "imports": out}


def _meld_fields(
    hi: HostImport | None,
    graph: FlatGraph,
    merged: MergeResult,
    owners: dict[object, int],
    by_resource: dict[int, int],
) -> dict[str, Any]:
    """meld's per-import fields: owner, memory, realloc, encoding, resource."""
    if hi is None:
        return {"component": None, "memory": None, "realloc": None, "encoding": None}
    owner: int | None = owners.get(hi.key)
    if owner is None and hi.builtin is not None:
        owner = hi.builtin.owner
    if owner is None and hi.resource is not None:
        owner = by_resource.get(hi.resource.id, hi.resource.owner)
    opts = hi.opts
    mem = opts.memory
    realloc = opts.realloc
    fields: dict[str, Any] = {
        "component": owner,
        "component_name": graph.components[owner].label if owner is not None else None,
        "memory": None if mem is None else {"index": mem, "export": merged.memory_exports.get(mem)},
        "realloc": None
        if realloc is None
        else {"func": realloc, "export": merged.func_exports.get(realloc)},
        "encoding": opts.string_encoding if hi.func is not None else None,
    }
    resource = _resource(hi, merged)
    if resource is not None:
        fields["resource"] = resource
    return fields


def _has(t: object, kinds: tuple[type, ...]) -> bool:
    return isinstance(t, kinds) or any(_has(c, kinds) for c in at.children(t))


def boundary_class(ft: at.FuncType) -> str:
    """How a call of type ``ft`` crosses: the canonical ABI's flattening decides."""
    parts = []
    if sum(flat_count(t) for t in ft.param_types()) > MAX_FLAT_PARAMS:
        parts.append("params spilled to memory")
    if ft.result is not None and not flatten_functype(ft, "lower").results:
        parts.append("result through a return pointer")
    if any(_has(t, (at.String, at.List, at.Map)) for t in at.children(ft)):
        parts.append("strings/lists copied between memories")
    if any(_has(t, (at.Own, at.Borrow)) for t in at.children(ft)):
        parts.append("resource handles translated")
    return ", ".join(parts) if parts else "flat values only"


def component_names(graph: FlatGraph) -> dict[int, str]:
    """A readable name per component instance: its flat label plus the interfaces it provides.

    Compositions rarely name their instances (no `component-name` entries in the corpus), but
    what a component exports says what it is: ``root/instance13 (corpus:cmini/text@0.1.0)``.
    """
    from pymeld.emit.names import _callee_name

    provides: dict[int, set[str]] = {}
    for lowered in graph.lowers:
        callee = lowered.callee
        if isinstance(callee, Lifted):
            name = _callee_name(graph, callee)
            if name and "#" in name:
                provides.setdefault(callee.owner, set()).add(name.split("#", 1)[0])

    def walk(top: str, item: object) -> None:
        if isinstance(item, Lifted):
            provides.setdefault(item.owner, set()).add(top)
        elif isinstance(item, InstanceExport):
            for _, sub in item.exports:
                walk(top, sub)

    for name, item in graph.exports:
        if isinstance(item, InstanceExport):
            walk(name, item)
    out = {}
    for c in graph.components:
        ifaces = sorted(provides.get(c.id, ()))
        more = f" +{len(ifaces) - 1}" if len(ifaces) > 1 else ""
        out[c.id] = f"{c.label} ({ifaces[0]}{more})" if ifaces else c.label
    return out


def explain(graph: FlatGraph, merged: MergeResult) -> list[str]:
    """Human-readable lines: one per adapter (the function it carries first), one per call
    that needs none (its values pass through: the caller calls the callee), then memories."""
    from pymeld.emit.names import _callee_name

    names = component_names(graph)
    lines = []
    for li, func in sorted(merged.adapters.items(), key=lambda kv: kv[1]):
        lowered = graph.lowers[li]
        callee = lowered.callee
        assert isinstance(callee, Lifted)
        target = _callee_name(graph, callee) or f"lower{li}"
        enc = lowered.opts.string_encoding, callee.opts.string_encoding
        lines.append(
            f"adapter func {func} {target}: {names[lowered.owner]} -> {names[callee.owner]}: "
            f"{boundary_class(callee.type)}"
            + (f"; strings {enc[0]} -> {enc[1]}" if enc[0] != enc[1] else "")
        )
    for li, func in sorted(merged.direct.items()):
        lowered = graph.lowers[li]
        callee = lowered.callee
        assert isinstance(callee, Lifted)
        target = _callee_name(graph, callee) or f"lower{li}"
        lines.append(
            f"direct call to func {func} {target}: {names[lowered.owner]} -> "
            f"{names[callee.owner]}: flat values pass through unchanged (no adapter)"
        )
    for mi, lay in zip(graph.instances, merged.layouts):
        for k in range(len(mi.module.memories)):
            lines.append(f"memory {lay.memory + k}: {mi.label} memory {k}")
    return lines
