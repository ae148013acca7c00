"""Copy a component's import declarations into another component, remapping indices.

Both multi-input composition and the fusion wrapper must re-declare imports exactly as an input
declared them: same names, same types. Import declarations refer to earlier type definitions,
aliases of imported instances and (inside instance types) outer aliases, all by index; this walks
a component's root sections, copies what declares the imports and drops everything else (and
whatever depends on a dropped item), returning where each original index went.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from pymeld.codec.component import model as cm
from pymeld.codec.component.builder import sort_key
from pymeld.errors import LinkError, UnsupportedFeature

CS = cm.ComponentSort
KS = cm.CoreSort
_DECL = (cm.TypeSection, cm.ImportSection, cm.AliasSection, cm.CoreTypeSection)

#: index-space key → original index → new index (None: not copied)
Maps = dict[tuple[bool, int], list[int | None]]


class Copied:
    """Result of `copy_imports`: index maps and which new type indices are *named* (imported)."""

    def __init__(self) -> None:
        self.maps: Maps = {}
        self.named_types: set[int] = set()

    def space(self, sort: cm.Sort) -> list[int | None]:
        return self.maps.setdefault((sort.__class__ is KS, sort), [])  # `sort_key`, in line

    def get(self, sort: cm.Sort, i: int) -> int | None:
        m = self.maps.get((sort.__class__ is KS, sort))  # `sort_key`, in line
        return m[i] if m is not None and i < len(m) else None


def copy_imports(
    add: Callable[[cm.Section], list[int]],
    component: cm.Component,
    label: str,
    *,
    internal: frozenset[str] | set[str] = frozenset(),
    external: dict[str, tuple[cm.Sort, int]] | None = None,
) -> Copied:
    """Re-declare ``component``'s root imports through ``add`` (which appends a section to the
    target and returns the indices it defined).

    Imports named in ``internal`` are dropped (another input provides them); one already in
    ``external`` (declared earlier into the same target) is shared, not declared twice.
    """
    external = {} if external is None else external
    out = Copied()

    def idx(sort: cm.Sort, i: int) -> int:
        new = out.get(sort, i)
        if new is None:
            raise _Dropped
        return new

    for section in component.sections:
        if isinstance(section, cm.CustomSection):
            continue
        if not isinstance(section, _DECL):
            for sort, _ in cm.defined_sorts(section):
                out.space(sort).append(None)
            continue
        if isinstance(section, cm.ImportSection):
            for imp in section.items:
                name, sort = imp.name.name, imp.desc.sort
                if name in internal:
                    out.space(sort).append(None)
                    continue
                if name in external:
                    prev_sort, prev = external[name]
                    if sort_key(prev_sort) != sort_key(sort):
                        raise LinkError(f"import `{name}` is declared with different kinds")
                    out.space(sort).append(prev)
                    continue
                try:
                    desc = _remap_desc(imp.desc, idx)
                except _Dropped:
                    raise UnsupportedFeature(
                        f"{label}: import `{name}` depends on a definition that is not an import"
                    ) from None
                (new,) = add(cm.ImportSection([cm.Import(imp.name, desc)]))
                external[name] = (sort, new)
                out.space(sort).append(new)
                if sort is CS.TYPE:
                    out.named_types.add(new)
            continue
        core = isinstance(section, cm.CoreTypeSection)  # only then are core types loaded
        for item in section.items:
            sort = cm.item_sort(item)
            n = len(item.subtypes) if core and isinstance(item, cm.CoreRecType) else 1
            try:
                new_item = _remap_core_type(item, idx) if core else _remap_item(item, idx)
            except _Dropped:
                out.space(sort).extend([None] * n)
                continue
            # _remap_item keeps the item's kind, so it fits type(section); mypy cannot relate them.
            added = add(type(section)([new_item]))  # type: ignore[list-item]
            out.space(sort).extend(added)
            if isinstance(item, cm.AliasExport) and sort is CS.TYPE:
                out.named_types.update(added)
    return out


class _Dropped(Exception):
    """Internal: an item refers to something that is not copied to the root."""


Idx = Callable[[cm.Sort, int], int]


def _remap_desc(d: cm.ExternDesc, idx: Idx) -> cm.ExternDesc:
    index, valtype = d.index, d.valtype
    if index is not None:
        index = idx(KS.TYPE if d.sort is KS.MODULE else CS.TYPE, index)
    if valtype is not None:
        valtype = _vt(valtype, idx)
    return cm.ExternDesc(d.sort, index, valtype)


def _vt(v: cm.ValType, idx: Idx) -> cm.ValType:
    return v if isinstance(v, cm.Prim) else idx(CS.TYPE, v)


def _remap_item(item: object, idx: Idx) -> object:
    """A component-level type or alias item of a declaring section, remapped."""
    if isinstance(item, cm.ResourceType):
        raise _Dropped  # a definition, not a declaration: the caller re-creates what it needs
    if isinstance(item, cm.AliasExport):
        return cm.AliasExport(item.sort, idx(CS.INSTANCE, item.instance), item.name)
    if isinstance(item, cm.AliasCoreExport | cm.AliasOuter):
        raise _Dropped
    return _remap_type(item, idx, 0)


def _remap_core_type(item: object, idx: Idx) -> object:
    """An item of a core type section: a module type's outer aliases name the root's core types;
    a rec group refers only to its own index spaces here."""
    if isinstance(item, cm.CoreModuleType):
        decls = [
            cm.CoreOuterAlias(1, idx(KS.TYPE, d.index))
            if isinstance(d, cm.CoreOuterAlias) and d.count == 1
            else d
            for d in item.decls
        ]
        return cm.CoreModuleType(decls)
    return item


def _remap_type(t: object, idx: Idx, depth: int) -> object:
    """A component type with root-level type references remapped: a new object wherever
    something changes, the original's parts shared where nothing does (a parsed model's types
    are never changed in place; `copy.deepcopy` of every type was ~half of wrapping a small
    composition). Inside component/instance types (``depth`` > 0) only `outer` aliases reaching
    the root change."""
    if isinstance(t, cm.ComponentType | cm.InstanceType):
        return _remap_decls(t, idx, depth)
    if depth:
        return t

    def vt(v: cm.ValType) -> cm.ValType:
        return v if isinstance(v, cm.Prim) else idx(CS.TYPE, v)

    def opt(v: cm.ValType | None) -> cm.ValType | None:
        return None if v is None else vt(v)

    match t:  # (each kind's constructor takes all its fields)
        case cm.FuncType():
            return cm.FuncType([(n, vt(p)) for n, p in t.params], opt(t.result), t.is_async)
        case cm.RecordType():
            return cm.RecordType([(n, vt(f)) for n, f in t.fields])
        case cm.VariantType():
            return cm.VariantType([cm.Case(c.name, opt(c.type)) for c in t.cases])
        case cm.ListType():
            return cm.ListType(vt(t.element), t.length)
        case cm.TupleType():
            return cm.TupleType([vt(x) for x in t.types])
        case cm.OptionType():
            return cm.OptionType(vt(t.type))
        case cm.ResultType():
            return cm.ResultType(opt(t.ok), opt(t.err))
        case cm.OwnType() | cm.BorrowType():
            return type(t)(idx(CS.TYPE, t.resource))
        case _ if "pymeld.codec.component.rareitems" not in sys.modules:
            pass  # no stream, future or map type exists before its class loads: none to ask
        case cm.MapType():
            return cm.MapType(vt(t.key), vt(t.value))
        case cm.StreamType() | cm.FutureType():
            return type(t)(opt(t.element))
    return t  # nothing in it refers to a type index (flags, enum, ...)


def _remap_decls(
    t: cm.ComponentType | cm.InstanceType, idx: Idx, depth: int
) -> cm.ComponentType | cm.InstanceType:
    return type(t)([_remap_decl(d, idx, depth + 1) for d in t.decls])


def _remap_decl(d: cm.Declarator, idx: Idx, depth: int) -> cm.Declarator:
    if d.__class__ is cm.ExportDecl:  # the most frequent: nothing in it reaches out
        return d
    if isinstance(d, cm.AliasDeclarator):
        a = d.alias
        if isinstance(a, cm.AliasOuter) and a.count == depth:
            return cm.AliasDeclarator(cm.AliasOuter(a.sort, a.count, idx(a.sort, a.index)))
    elif isinstance(d, cm.TypeDeclarator):
        t = d.type
        if isinstance(t, cm.ComponentType | cm.InstanceType):
            return cm.TypeDeclarator(_remap_decls(t, idx, depth))
    return d
