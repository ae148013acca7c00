"""Exported instances that carry resource types, built the way wit-component builds them.

An inline-exports instance cannot export `[constructor]T` / `[method]T.m` functions: validators
require the resource a function mentions to have a *name* in the context that ascribes the
function's type, and inline exports give none. So such an instance is made by instantiating a
small nested component that imports each resource (`(sub resource)`) and function, exports the
resource, and exports each function with a type written against the exported resource.
"""

from __future__ import annotations

from collections.abc import Callable

from pymeld.codec.component import model as cm
from pymeld.codec.component.builder import ComponentBuilder
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import ExportItem, Lifted, ResourceType, TypeExport
from pymeld.wrap.typeemit import TypeEmitter

CS = cm.ComponentSort


def needs_ascription(items: list[tuple[str, ExportItem]]) -> bool:
    """True when the instance exports types: its functions' signatures must name them."""
    return any(isinstance(item, TypeExport) for _, item in items)


def ascribed_instance(
    b: ComponentBuilder,
    outer: TypeEmitter,
    items: list[tuple[str, ExportItem]],
    func_index: Callable[[str, Lifted], int],
    where: str,
) -> int:
    """Instantiate a type-ascribing component over ``items``; returns the outer instance index."""
    inner = ComponentBuilder()
    imported: dict[int, int] = {}  # resource id -> import index (for the import signatures)
    exported: dict[int, int] = {}  # resource id -> export index (for the ascribed exports)

    def lookup(table: dict[int, int]) -> Callable[[ResourceType], int]:
        def get(r: ResourceType) -> int:
            if r.id not in table:
                raise UnsupportedFeature(
                    f"instance export `{where}` uses resource `{r.name}` it does not export"
                )
            return table[r.id]

        return get

    imp_types = TypeEmitter(inner.type, lookup(imported))
    exp_types = TypeEmitter(inner.type, lookup(exported))
    args: list[cm.InstantiateArg] = []
    # Resources imported and exported first, other types re-emitted and exported, then each
    # function imported against the imported resources and exported against the exported ones.
    for name, item in items:
        if not isinstance(item, TypeExport):
            continue
        t = item.type
        imp = f"import-type-{_kebab(name)}"
        if isinstance(t, ResourceType):
            desc = cm.ExternDesc(CS.TYPE)
        else:
            # Value types are imported `(eq <same structure>)`, as wit-component does, so the
            # imported functions' signatures name them.
            desc = cm.ExternDesc(CS.TYPE, imp_types.index(t))
        idx = inner.one(cm.ImportSection([cm.Import(cm.ExternName(imp), desc)]), CS.TYPE)
        args.append(cm.InstantiateArg(imp, CS.TYPE, outer.index(t)))
        if isinstance(t, ResourceType):
            imported[t.id] = idx
        else:
            imp_types.name(t, idx)
            # The export is written against the exported names, so it names nothing imported.
            idx = exp_types.index(t)
        new = inner.one(cm.ExportSection([cm.Export(cm.ExternName(name), CS.TYPE, idx)]), CS.TYPE)
        if isinstance(t, ResourceType):
            exported[t.id] = new
        else:
            exp_types.name(t, new)
    for name, item in items:
        if isinstance(item, TypeExport):
            continue
        if not isinstance(item, Lifted):
            raise UnsupportedFeature(
                f"instance export `{where}/{name}` next to exported resources "
                f"({type(item).__name__})"
            )
        imp = f"import-func-{_kebab(name)}"
        desc = cm.ExternDesc(CS.FUNC, imp_types.index(item.type))
        f = inner.one(cm.ImportSection([cm.Import(cm.ExternName(imp), desc)]), CS.FUNC)
        args.append(cm.InstantiateArg(imp, CS.FUNC, func_index(name, item)))
        ascribed = cm.ExternDesc(CS.FUNC, exp_types.index(item.type))
        inner.add(cm.ExportSection([cm.Export(cm.ExternName(name), CS.FUNC, f, ascribed)]))
    comp = b.one(cm.ComponentSection(inner.comp), CS.COMPONENT)
    return b.one(cm.InstanceSection([cm.Instantiate(comp, args)]), CS.INSTANCE)


def _kebab(name: str) -> str:
    """`[method]x.get-a` → `method-x-get-a` (wit-component's import names for these)."""
    out = name.replace("[", "").replace("]", "-").replace(".", "-")
    return "-".join(w for w in out.split("-") if w)


def name_exported_resources(
    b: ComponentBuilder, emitter: TypeEmitter, inst: int, item: object
) -> None:
    """Point later signatures at the types (resources and value types) of the exported instance
    ``inst`` through aliases, which is what gives them a name outside it."""
    from pymeld.graph.model import InstanceExport

    assert isinstance(item, InstanceExport)
    for n, sub in item.exports:
        if isinstance(sub, TypeExport):
            emitter.name(sub.type, b.alias(inst, n, CS.TYPE))
        elif isinstance(sub, InstanceExport) and _has_resource(sub):
            name_exported_resources(b, emitter, b.alias(inst, n, CS.INSTANCE), sub)


def _has_resource(item: object) -> bool:
    from pymeld.graph.model import InstanceExport

    if isinstance(item, TypeExport):
        return True
    return isinstance(item, InstanceExport) and any(_has_resource(s) for _, s in item.exports)
