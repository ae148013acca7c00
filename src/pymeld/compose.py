"""Compose several input components by name into one composition, ready to fuse.

`pymeld fuse a.wasm b.wasm` wires an import of one input to the export of the same name of
another (two providers for one name is an error, and so is a cycle). The result is the component
`wasm-tools compose` would build: each input nested verbatim and instantiated in dependency
order, the imports nobody provides declared once at the root (their declarations copied from the
inputs with indices remapped, identical names merged). The first input is the root, as in
`wasm-tools compose ROOT -d DEP...`: all its exports are exported; another input's export is
exported too when no input consumes it and the root has no export of that name (two other inputs
exporting one name is an error).
Fusion then treats it like any other composition.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from pymeld.codec.component import model as cm
from pymeld.errors import LinkError, UnsupportedFeature

CS = cm.ComponentSort
KS = cm.CoreSort
_PREFIX = (cm.TypeSection, cm.ImportSection, cm.AliasSection, cm.CoreTypeSection, cm.CustomSection)


@dataclass(slots=True)
class _Input:
    name: str
    component: cm.Component
    imports: dict[str, cm.Import] = field(default_factory=dict)
    exports: dict[str, cm.Export] = field(default_factory=dict)


def _key(sort: cm.Sort) -> tuple[bool, int]:
    return (isinstance(sort, cm.CoreSort), int(sort))


class _Root:
    """The composition being built, with its index-space counters."""

    def __init__(self) -> None:
        self.comp = cm.Component()
        self.counts: dict[tuple[bool, int], int] = {}

    def add(self, section: cm.Section) -> list[int]:
        """Append a section; returns the indices it defined, in item order."""
        self.comp.sections.append(section)
        out = []
        for sort, _ in cm.defined_sorts(section):
            k = _key(sort)
            out.append(self.counts.get(k, 0))
            self.counts[k] = out[-1] + 1
        return out


def compose(inputs: list[tuple[str, cm.Component]]) -> cm.Component:
    """Wire ``inputs`` (name, component) together by import/export names."""
    ins = [_Input(n, c) for n, c in inputs]
    for inp in ins:
        for imp in inp.component.imports:
            inp.imports[imp.name.name] = imp
        for exp in inp.component.exports:
            inp.exports[exp.name.name] = exp
    provider: dict[tuple[int, str], int] = {}
    for i, inp in enumerate(ins):
        for name in inp.imports:
            found = [j for j, other in enumerate(ins) if j != i and name in other.exports]
            if len(found) > 1:
                names = " and ".join(ins[j].name for j in found)
                raise LinkError(f"import `{name}` of {inp.name} is exported by both {names}")
            if found:
                provider[(i, name)] = found[0]
    order = _topological(ins, provider)
    consumed = {(j, name) for (_, name), j in provider.items()}

    root = _Root()
    external: dict[str, tuple[cm.Sort, int]] = {}
    for i in order:
        _copy_prefix(root, ins[i], {n for (k, n) in provider if k == i}, external)

    instances: dict[int, int] = {}
    for i in order:
        inp = ins[i]
        (comp,) = root.add(cm.ComponentSection(inp.component))
        args: list[cm.InstantiateArg] = []
        for name, imp in inp.imports.items():
            sort = imp.desc.sort
            if (i, name) in provider:
                src = instances[provider[(i, name)]]
                (idx,) = root.add(cm.AliasSection([cm.AliasExport(sort, src, name)]))
            else:
                idx = external[name][1]
            args.append(cm.InstantiateArg(name, sort, idx))
        (instances[i],) = root.add(cm.InstanceSection([cm.Instantiate(comp, args)]))

    seen: dict[str, str] = {}
    for i in [0, *[k for k in order if k != 0]]:
        inp = ins[i]
        for name, exp in inp.exports.items():
            if (i, name) in consumed and i != 0:
                continue
            if name in seen:
                if seen[name] == ins[0].name:
                    continue  # the first input is the root: its exports win over plugs'
                raise LinkError(f"export `{name}` is provided by both {seen[name]} and {inp.name}")
            seen[name] = inp.name
            (idx,) = root.add(cm.AliasSection([cm.AliasExport(exp.sort, instances[i], name)]))
            root.add(cm.ExportSection([cm.Export(cm.ExternName(name), exp.sort, idx)]))
    return root.comp


def _topological(ins: list[_Input], provider: dict[tuple[int, str], int]) -> list[int]:
    deps = {i: sorted({j for (k, _), j in provider.items() if k == i}) for i in range(len(ins))}
    order: list[int] = []
    state: dict[int, int] = {}

    def visit(i: int, path: list[int]) -> None:
        if state.get(i) == 2:
            return
        if state.get(i) == 1:
            cycle = " -> ".join(ins[k].name for k in [*path, i])
            raise LinkError(f"the inputs import each other in a cycle: {cycle}")
        state[i] = 1
        for j in deps[i]:
            visit(j, [*path, i])
        state[i] = 2
        order.append(i)

    for i in range(len(ins)):
        visit(i, [])
    return order


def _copy_prefix(
    root: _Root, inp: _Input, internal: set[str], external: dict[str, tuple[cm.Sort, int]]
) -> None:
    """Copy ``inp``'s leading type/import/alias sections into the root, remapping indices.

    Imports another input provides are dropped; one already declared by an earlier input is
    shared. Anything that depends on a dropped item is dropped too, unless an external import
    needs it, which is refused: the root could not declare that import.
    """
    maps: dict[tuple[bool, int], list[int | None]] = {}

    def space(sort: cm.Sort) -> list[int | None]:
        return maps.setdefault(_key(sort), [])

    def idx(sort: cm.Sort, i: int) -> int:
        m = space(sort)
        if i >= len(m) or m[i] is None:
            raise _Dropped
        return m[i]  # type: ignore[return-value]

    body = [s for s in inp.component.sections]
    for pos, section in enumerate(body):
        if not isinstance(section, _PREFIX):
            rest = body[pos:]
            if any(isinstance(s, cm.ImportSection) for s in rest):
                raise UnsupportedFeature(
                    f"{inp.name}: imports after other definitions cannot be composed yet"
                )
            break
        if isinstance(section, cm.CustomSection):
            continue
        if isinstance(section, cm.ImportSection):
            for imp in section.items:
                name, sort = imp.name.name, imp.desc.sort
                if name in internal:
                    space(sort).append(None)
                    continue
                if name in external:
                    prev_sort, prev = external[name]
                    if _key(prev_sort) != _key(sort):
                        raise LinkError(f"import `{name}` is declared with different kinds")
                    space(sort).append(prev)
                    continue
                try:
                    desc = _remap_desc(imp.desc, idx)
                except _Dropped:
                    raise UnsupportedFeature(
                        f"{inp.name}: import `{name}` depends on an import another input provides"
                    ) from None
                (new,) = root.add(cm.ImportSection([cm.Import(imp.name, desc)]))
                external[name] = (sort, new)
                space(sort).append(new)
            continue
        for item in section.items:
            sort = cm.item_sort(item)
            n = len(item.subtypes) if isinstance(item, cm.CoreRecType) else 1
            try:
                new_item = _remap_item(item, idx)
            except _Dropped:
                space(sort).extend([None] * n)
                continue
            new = root.add(type(section)([new_item]))
            space(sort).extend(new)


class _Dropped(Exception):
    """Internal: an item refers to something that is not copied to the root."""


Idx = Callable[[cm.Sort, int], int]


def _remap_desc(d: cm.ExternDesc, idx: Idx) -> cm.ExternDesc:
    d = copy.copy(d)
    if d.index is not None:
        d.index = idx(KS.TYPE if d.sort is KS.MODULE else CS.TYPE, d.index)
    if d.valtype is not None:
        d.valtype = _vt(d.valtype, idx)
    return d


def _vt(v: cm.ValType, idx: Idx) -> cm.ValType:
    return v if isinstance(v, cm.Prim) else idx(CS.TYPE, v)


def _remap_item(item: object, idx: Idx) -> object:
    if isinstance(item, cm.AliasExport):
        return cm.AliasExport(item.sort, idx(CS.INSTANCE, item.instance), item.name)
    if isinstance(item, cm.AliasCoreExport | cm.AliasOuter):
        raise UnsupportedFeature("core or outer alias in a root import prefix")
    if isinstance(item, cm.CoreRecType | cm.CoreModuleType):
        return item  # core types only refer to their own index spaces here
    return _remap_type(item, idx, 0)


def _remap_type(t: object, idx: Idx, depth: int) -> object:
    """Copy of a component type with root-level type references remapped.

    Inside component/instance types only `outer` aliases reaching the root change.
    """
    vt = (lambda v: _vt(v, idx)) if depth == 0 else (lambda v: v)
    t = copy.deepcopy(t)
    match t:
        case cm.RecordType():
            t.fields = [(n, vt(f)) for n, f in t.fields]
        case cm.VariantType():
            for c in t.cases:
                c.type = None if c.type is None else vt(c.type)
        case cm.ListType():
            t.element = vt(t.element)
        case cm.TupleType():
            t.types = [vt(x) for x in t.types]
        case cm.OptionType():
            t.type = vt(t.type)
        case cm.ResultType():
            t.ok = None if t.ok is None else vt(t.ok)
            t.err = None if t.err is None else vt(t.err)
        case cm.OwnType() | cm.BorrowType():
            t.resource = idx(CS.TYPE, t.resource) if depth == 0 else t.resource
        case cm.FuncType():
            t.params = [(n, vt(p)) for n, p in t.params]
            t.result = None if t.result is None else vt(t.result)
        case cm.ComponentType() | cm.InstanceType():
            for d in t.decls:
                _remap_decl(d, idx, depth + 1)
        case cm.StreamType() | cm.FutureType() | cm.MapType():
            raise UnsupportedFeature(f"{type(t).__name__} in a root import")
    return t


def _remap_decl(d: object, idx: Idx, depth: int) -> None:
    if isinstance(d, cm.AliasDeclarator) and isinstance(d.alias, cm.AliasOuter):
        if d.alias.count == depth:
            d.alias.index = idx(d.alias.sort, d.alias.index)
    elif isinstance(d, cm.TypeDeclarator):
        t = d.type
        if isinstance(t, cm.ComponentType | cm.InstanceType):
            for sub in t.decls:
                _remap_decl(sub, idx, depth + 1)
