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

from dataclasses import field

from pymeld._dataclass import dataclass
from pymeld.codec.component import model as cm
from pymeld.codec.component.builder import ComponentBuilder
from pymeld.errors import LinkError
from pymeld.interface import copy_imports


@dataclass(slots=True)
class _Input:
    name: str
    component: cm.Component
    imports: dict[str, cm.Import] = field(default_factory=dict)
    exports: dict[str, cm.Export] = field(default_factory=dict)


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

    root = ComponentBuilder()
    external: dict[str, tuple[cm.Sort, int]] = {}
    for i in order:
        internal = {n for (k, n) in provider if k == i}
        copy_imports(root.add, ins[i].component, ins[i].name, internal=internal, external=external)

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
            root.add(cm.ExportSection([cm.Export(exp.name, exp.sort, idx)]))
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
