"""What a fusion left to the host and what it did at each former boundary.

`import_map` (meld's `--emit-import-map`): every import the fused core module still has, tagged
`wasi`, `resource` (a runtime resource built-in), `p3-builtin` (a component-model async built-in
the wrapper re-creates) or `function` (any other host function), with its core signature.
`explain` (meld's `--explain`): one line per generated adapter — caller and callee instance, the
function type, how its values cross (flat, through memory, spilled, return pointer, handles) and
between which memories — plus where every memory went.
"""

from __future__ import annotations

from typing import Any

from pymeld.abi import types as at
from pymeld.abi.layout import MAX_FLAT_PARAMS, flat_count, flatten_functype
from pymeld.codec.core.emitter import VALTYPE_NAME as _VT
from pymeld.codec.core.model import FuncImport, FuncType, Module, RefType
from pymeld.graph.model import FlatGraph, Lifted
from pymeld.merge.merger import MergeResult


def _kind(module: str, name: str) -> str:
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


def import_map(module: Module) -> list[dict[str, Any]]:
    """The remaining imports of a fused core module, in import order."""
    out = []
    for imp in module.imports:
        entry: dict[str, Any] = {"module": imp.module, "name": imp.name}
        entry["kind"] = _kind(imp.module, imp.name)
        if isinstance(imp.desc, FuncImport):
            entry.update(_sig(module, imp.desc.type_index))
        out.append(entry)
    return out


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


def explain(graph: FlatGraph, merged: MergeResult) -> list[str]:
    """Human-readable lines: one per adapter, then the memory placement."""
    lines = []
    for li, func in sorted(merged.adapters.items(), key=lambda kv: kv[1]):
        lowered = graph.lowers[li]
        callee = lowered.callee
        assert isinstance(callee, Lifted)
        caller_label = graph.components[lowered.owner].label
        callee_label = graph.components[callee.owner].label
        enc = lowered.opts.string_encoding, callee.opts.string_encoding
        lines.append(
            f"adapter func {func}: {caller_label} -> {callee_label}: {boundary_class(callee.type)}"
            + (f"; strings {enc[0]} -> {enc[1]}" if enc[0] != enc[1] else "")
        )
    for mi, lay in zip(graph.instances, merged.layouts):
        for k in range(len(mi.module.memories)):
            lines.append(f"memory {lay.memory + k}: {mi.label} memory {k}")
    return lines
