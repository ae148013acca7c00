"""The flat graph: what a runtime would have after instantiating a composed component.

Every core module instance appears once, in instantiation order, with each of its imports bound
to a concrete definition: an item defined by another module instance, a `canon lower` of some
component function (a lifted export of another component instance, or a host import), or a
canonical built-in. Nothing here refers to the nesting that produced it; that is the point.
"""

from __future__ import annotations

from dataclasses import field

from pymeld._dataclass import dataclass
from pymeld.abi.types import FuncType, ValType
from pymeld.codec.component.model import CoreValType, ExternName
from pymeld.codec.core.model import ExternKind, Import, Module


@dataclass(frozen=True, slots=True)
class DefRef:
    """An item *defined* (not imported) by module instance ``instance``.

    ``index`` is in that module's own index space of ``kind`` (imports included), and always
    names a definition: graph construction chases re-exported imports to their source.
    """

    instance: int
    kind: ExternKind
    index: int


@dataclass(frozen=True)
class LoweredRef:
    """A core function made by ``canon lower``; ``lower`` indexes `FlatGraph.lowers`."""

    lower: int


@dataclass(frozen=True)
class BuiltinRef:
    """A core function made by a canonical built-in; indexes `FlatGraph.builtins`."""

    builtin: int


@dataclass(frozen=True)
class ForeignRef:
    """Export ``name`` (a ``kind``) of foreign instance ``instance`` (`FlatGraph.foreign`): an
    instance of a core module the composition imports, so nothing is known of it but its type."""

    instance: int
    kind: ExternKind
    name: str


CoreRef = DefRef | LoweredRef | BuiltinRef | ForeignRef


@dataclass(frozen=True)
class CanonOpts:
    """Canonical options with every index resolved to a flat-graph definition."""

    string_encoding: str = "utf8"
    memory: DefRef | ForeignRef | None = None
    realloc: CoreRef | None = None
    post_return: CoreRef | None = None
    is_async: bool = False
    callback: CoreRef | None = None


@dataclass(frozen=True)
class ResourceType:
    """A resource type's identity: one object per `(type (resource ...))` evaluation.

    ``owner`` is the component instance that defined it (None for one imported from the host),
    ``rep`` its core representation type code, ``dtor`` the destructor if any.
    """

    id: int
    name: str
    owner: int | None
    dtor: CoreRef | None = None
    host_path: tuple[str, ...] | None = None


@dataclass
class Lifted:
    """A component function made by `canon lift` inside component instance ``owner``."""

    core_func: CoreRef
    type: FuncType
    opts: CanonOpts
    owner: int


@dataclass
class HostFunc:
    """A component function imported from outside the root: it stays an import of the output.

    ``path`` is the root import name followed by the export names leading to the function.
    """

    path: tuple[str, ...]
    type: FuncType


ComponentFunc = Lifted | HostFunc


@dataclass
class Lowered:
    """`canon lower` of ``callee`` inside component instance ``owner`` with options ``opts``."""

    callee: ComponentFunc
    opts: CanonOpts
    owner: int


@dataclass
class Builtin:
    """A canonical built-in core function (resource.new/rep/drop and friends).

    The async built-ins keep their immediates resolved, so the wrapper can re-create the same
    built-in at its level (pymeld.merge.asyncpass): ``type`` the stream/future type, ``result``
    task.return's result type (``has_result`` tells `none` from a result), ``opts`` the canon
    options, ``memory`` waitable-set.wait/poll's memory, ``flag`` the async/cancel byte,
    ``valtype``/``index`` context.get/set's slot.
    """

    op: str
    owner: int
    resource: ResourceType | None = None
    type: ValType | None = None
    result: ValType | None = None
    opts: CanonOpts | None = None
    memory: DefRef | None = None
    flag: bool | None = None
    valtype: CoreValType | None = None  # context.get/set: a core value type code
    index: int | None = None


@dataclass
class ModuleInstance:
    """One `(core instance (instantiate m ...))`, with its imports bound one to one."""

    index: int
    module: Module
    module_id: int
    owner: int
    label: str
    imports: list[CoreRef] = field(default_factory=list)


@dataclass
class ModuleSig:
    """An imported core module's declared type, in core form: ``stub`` is a core module whose
    imports are the declared imports followed by the declared exports (as imports, so their
    types are core import descriptors with type indices into ``stub.types``)."""

    stub: Module
    n_imports: int

    @property
    def imports(self) -> list[Import]:
        return self.stub.imports[: self.n_imports]

    @property
    def exports(self) -> list[Import]:
        return self.stub.imports[self.n_imports :]

    def export(self, name: str) -> Import | None:
        return next((e for e in self.exports if e.name == name), None)


@dataclass
class ForeignInstance:
    """A core instance of a core module the root imports (``path``: the root import name and
    the export names leading to the module): the output component keeps the module import and
    instantiates it itself (`pymeld.wrap`). ``imports`` binds each declared import, in
    declaration order; ``position`` is how many module instances were instantiated before it."""

    index: int
    path: tuple[str, ...]
    sig: ModuleSig
    owner: int
    label: str
    position: int
    imports: list[CoreRef] = field(default_factory=list)


@dataclass
class ComponentInstanceInfo:
    """A component instance in the flattened tree (the root is id 0)."""

    id: int
    parent: int | None
    label: str


@dataclass
class TypeExport:
    """An exported type (``(export "name" (type ...))``)."""

    type: ValType | ResourceType


@dataclass
class ModuleExport:
    """An exported core module: a definition, not state, so it is carried over unchanged."""

    data: bytes


@dataclass
class InstanceExport:
    """An exported instance: its exports in definition order."""

    exports: list[tuple[str, ExportItem]]


@dataclass
class HostModuleExport:
    """A re-exported imported core module (``path`` as in `ForeignInstance`)."""

    path: tuple[str, ...]


ExportItem = Lifted | HostFunc | TypeExport | InstanceExport | ModuleExport | HostModuleExport


@dataclass
class RootSpaces:
    """The root component's own index spaces as flattening resolved them: what the wrapper needs.

    The wrapper re-declares the root's imports (`pymeld.interface.copy_imports`), which says where
    each root index went; this says what each index denotes, so the wrapper can find the host
    resources, instances and functions behind the copies without flattening's scopes.
    ``types[i]`` is root type ``i`` resolved (a `ResourceType` for a resource);
    ``host_instances[i]`` / ``host_funcs[i]`` / ``host_modules[i]`` the host path of root
    instance / function / core module ``i``
    (None where it is not imported from the host); ``export_names`` each root export's full
    name, so `implements` and version attributes survive.
    """

    types: list[object] = field(default_factory=list)
    host_instances: list[tuple[str, ...] | None] = field(default_factory=list)
    host_funcs: list[tuple[str, ...] | None] = field(default_factory=list)
    host_modules: list[tuple[str, ...] | None] = field(default_factory=list)
    export_names: dict[str, ExternName] = field(default_factory=dict)


@dataclass
class FlatGraph:
    """Everything merge needs; all lists are in deterministic (instantiation) order. ``root``
    is what the wrapper needs of the root component's own index spaces."""

    instances: list[ModuleInstance] = field(default_factory=list)
    lowers: list[Lowered] = field(default_factory=list)
    builtins: list[Builtin] = field(default_factory=list)
    components: list[ComponentInstanceInfo] = field(default_factory=list)
    exports: list[tuple[str, ExportItem]] = field(default_factory=list)
    host_funcs: list[HostFunc] = field(default_factory=list)
    foreign: list[ForeignInstance] = field(default_factory=list)
    root: RootSpaces = field(default_factory=RootSpaces)


def reachable_lowers(g: FlatGraph, builtins: set[int] | None = None) -> list[int]:
    """Lowers referenced by anything that survives into the output (module and foreign
    instances' imports, root exports, and what those reach through canon options and lifted
    callees), in index order. Built-ins reached on the way are added to ``builtins``."""
    seen: set[int] = set()
    work: list[CoreRef] = [r for mi in g.instances for r in mi.imports]
    work.extend(r for fi in g.foreign for r in fi.imports)
    for _, item in g.exports:
        work.extend(_export_refs(item))
    while work:
        ref = work.pop()
        if builtins is not None and isinstance(ref, BuiltinRef):
            builtins.add(ref.builtin)
        if isinstance(ref, LoweredRef) and ref.lower not in seen:
            seen.add(ref.lower)
            lowered = g.lowers[ref.lower]
            work.extend(_opts_refs(lowered.opts))
            if isinstance(lowered.callee, Lifted):
                work.append(lowered.callee.core_func)
                work.extend(_opts_refs(lowered.callee.opts))
    return sorted(seen)


def _export_refs(item: ExportItem) -> list[CoreRef]:
    if isinstance(item, Lifted):
        return [item.core_func, *_opts_refs(item.opts)]
    if isinstance(item, InstanceExport):
        return [r for _, sub in item.exports for r in _export_refs(sub)]
    return []


def _opts_refs(opts: CanonOpts) -> list[CoreRef]:
    return [r for r in (opts.realloc, opts.post_return, opts.callback) if r is not None]
