"""Re-wrap the fused core module as a single-module component with the original's interface.

The output component is built in four steps, each a function here, in this order:

1. `copy_root_imports`: the original root's import declarations (`pymeld.interface`: imports
   and the types and aliases they rely on, indices remapped), so imports keep their exact names
   and types wherever the root declared them; `HostIndices` then finds every host item,
   imported core modules included.
2. `define_kept_resources`: resource types the composition defines and the component runtime
   keeps (`pymeld.resources`).
3. `lower_host_imports` and `instantiate_fused`: the fused module and the imports it needs. A
   destructor, or a host import lowered with the fused module's own memory or realloc, exists
   only once the fused module does: the classic indirection (`Shim`) gives the fused module a
   shim function that `call_indirect`s through a table, filled by a fixup module afterwards
   (`Shim.fill`, with `lower_late_import` for the imports). Instances of imported core modules
   (`pymeld.merge.foreign`) are made around it by `instantiate_foreign`: the early ones before,
   the late ones after, each followed by the part of the start sequence that comes after it in
   the original (`run_at_instantiation`).
4. `export_root`: one `canon lift` per exported function (`lift_export`), signatures re-emitted
   from resolved types, and exports rebuilt in the original structure (functions, types, and
   instances of them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from pymeld.abi import types as at
from pymeld.codec.component import model as cm
from pymeld.codec.component.builder import ComponentBuilder
from pymeld.codec.core.encode import encode_module
from pymeld.codec.core.model import (
    ExternKind,
    Module,
    NumType,
)
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import (
    Builtin,
    ExportItem,
    ForeignRef,
    HostFunc,
    HostModuleExport,
    InstanceExport,
    Lifted,
    ModuleExport,
    ResourceType,
    RootSpaces,
    TypeExport,
)
from pymeld.interface import Copied, copy_imports
from pymeld.merge.foreign import module_name as foreign_module_name
from pymeld.merge.merger import FuncExport, HostImport, MergeResult
from pymeld.resources.runtime import RuntimeResource
from pymeld.wrap.indirect import (
    DTOR_TABLE,
    Signature,
    fixup_module,
    shim_module,
    starter_module,
)
from pymeld.wrap.typeemit import TypeEmitter

if TYPE_CHECKING:  # a name for annotations: `typing` stays unrun (`pymeld.__main__`)
    from typing import TypeVar

    T = TypeVar("T")

CS = cm.ComponentSort
KS = cm.CoreSort


def wrap(
    root: cm.Component,
    spaces: RootSpaces,
    merged: MergeResult,
    core: bytes | None = None,
    *,
    imports: Sequence[HostFunc] = (),
    resources: Sequence[ResourceType] = (),
    named: Sequence[tuple[str, object]] = (),
) -> cm.Component:
    """Build the single-module component around ``merged.module`` (``core``: its encoding, when
    the caller already has it — the fused module is the bulk of the output). ``spaces`` is
    `FlatGraph.root` of the graph ``merged`` came from. ``imports`` are functions imported
    beside the root's, each by its one-element path (`pymeld.split`: another cluster's export);
    ``resources`` resource types imported the same way, before them, and ``named`` value types
    (records, variants, ...) those functions need named, each imported as ``(eq ...)``.
    """
    b = ComponentBuilder()
    host = copy_root_imports(b, root, spaces)
    types = TypeEmitter(b.type, host.resource)
    for index, t in host.named_types:
        types.name(t, index)
    for r in resources:
        assert r.host_path is not None
        (name,) = r.host_path
        decl = cm.ImportSection([cm.Import(cm.ExternName(name), cm.ExternDesc(CS.TYPE))])
        host.resources[r.id] = b.one(decl, CS.TYPE)
    for name, t in named:
        desc = cm.ExternDesc(CS.TYPE, types.index(t))
        types.name(t, b.one(cm.ImportSection([cm.Import(cm.ExternName(name), desc)]), CS.TYPE))
    for hf in imports:
        (name,) = hf.path
        desc = cm.ExternDesc(CS.FUNC, types.index(hf.type))
        host.funcs[hf.path] = b.one(
            cm.ImportSection([cm.Import(cm.ExternName(name), desc)]), CS.FUNC
        )
    dtor_shim = define_kept_resources(b, host, merged)
    lowered, import_shim = lower_host_imports(b, host, types, merged.host_imports)
    foreign: dict[int, int] = {}
    for k in merged.foreign.early:
        foreign[k] = instantiate_foreign(b, host, merged, k, foreign, None, lowered)
    fused = instantiate_fused(b, merged, core, lowered, foreign)
    if dtor_shim is not None:
        dtors = _dtor_exports(merged)
        dtor_shim.fill(b, lambda k: b.alias_core(fused.instance, dtors[k], KS.FUNC))
    if import_shim is not None:
        late = _late_imports(merged.host_imports)
        import_shim.fill(b, lambda k: lower_late_import(b, host, types, fused, late[k]))
    for k in merged.foreign.late:
        foreign[k] = instantiate_foreign(b, host, merged, k, foreign, fused, lowered)
        if k in fused.shims:
            fused.shims[k].fill(b, partial(_alias_indirect, b, foreign[k], merged, k))
        if k in merged.foreign.resume:
            run_at_instantiation(b, b.alias_core(fused.instance, merged.foreign.resume[k], KS.FUNC))
    export_root(b, host, types, fused, merged, spaces.export_names)
    return b.comp


# -- step 1: the root's imports, and where they put each host item ------------------------------
class HostIndices:
    """Where the output component has each host resource, instance and function.

    Starts with what the copied import declarations define; an item not there yet is aliased out
    of the nearest imported instance on first use. Resource types the wrapper itself defines
    (`define_kept_resources`) are added to ``resources`` too.

    This and the wrapper's other classes are plain ones: each is made once or twice a fusion,
    and as dataclasses building them was ~0.5 M instructions of ``--component``.
    """

    __slots__ = ("b", "funcs", "instances", "modules", "named_types", "resources")

    def __init__(self, b: ComponentBuilder) -> None:
        self.b = b
        self.resources: dict[int, int] = {}  # ResourceType.id → type index
        self.instances: dict[tuple[str, ...], int] = {}
        self.funcs: dict[tuple[str, ...], int] = {}
        self.modules: dict[tuple[str, ...], int] = {}
        #: (type index, resolved type) of each copied type an import declaration names
        self.named_types: list[tuple[int, object]] = []

    def func(self, path: tuple[str, ...]) -> int:
        if path not in self.funcs:
            self.funcs[path] = self.b.alias(self.instance(path[:-1]), path[-1], CS.FUNC)
        return self.funcs[path]

    def module(self, path: tuple[str, ...]) -> int:
        if path not in self.modules:
            self.modules[path] = self.b.alias(self.instance(path[:-1]), path[-1], KS.MODULE)
        return self.modules[path]

    def instance(self, path: tuple[str, ...]) -> int:
        if path in self.instances:
            return self.instances[path]
        if len(path) < 2:
            raise UnsupportedFeature(
                f"host instance `{'/'.join(path)}` is not imported at the root"
            )
        idx = self.b.alias(self.instance(path[:-1]), path[-1], CS.INSTANCE)
        self.instances[path] = idx
        return idx

    def resource(self, r: ResourceType) -> int:
        if r.id in self.resources:
            return self.resources[r.id]
        if r.host_path is None:
            raise UnsupportedFeature(
                f"exported resource type `{r.name}` defined inside the composition "
                "(resources are not fused yet)"
            )
        idx = self.b.alias(self.instance(r.host_path[:-1]), r.host_path[-1], CS.TYPE)
        self.resources[r.id] = idx
        return idx


def copy_root_imports(b: ComponentBuilder, root: cm.Component, spaces: RootSpaces) -> HostIndices:
    """Re-declare the root's imports (exact names and types) and index what they define."""
    copied = copy_imports(b.add, root, "root")
    host = HostIndices(b)
    for new, value in _carried(copied, CS.TYPE, spaces.types):
        if isinstance(value, ResourceType):
            host.resources.setdefault(value.id, new)
        elif new in copied.named_types:
            host.named_types.append((new, value))
    for new, path in _carried(copied, CS.INSTANCE, spaces.host_instances):
        if path is not None:
            host.instances.setdefault(path, new)
    for new, path in _carried(copied, CS.FUNC, spaces.host_funcs):
        if path is not None:
            host.funcs.setdefault(path, new)
    for new, path in _carried(copied, KS.MODULE, spaces.host_modules):
        if path is not None:
            host.modules.setdefault(path, new)
    return host


def _carried(copied: Copied, sort: cm.Sort, values: Sequence[T]) -> list[tuple[int, T]]:
    """(new index, value) of each root item of ``sort`` the copy re-declared."""
    space = copied.maps.get(cm.sort_key(sort), [])
    return [(new, v) for new, v in zip(space, values) if new is not None]


# -- the shim/fixup pair: functions that exist only after the fused module does ----------------
class Shim:
    """An instantiated shim module (`wrap.indirect`): exports ``"0"``, ``"1"``, … call through
    ``table``, which a fixup module fills once the real functions exist (`fill`)."""

    __slots__ = ("instance", "sigs", "table")

    def __init__(self, instance: int, sigs: list[Signature], table: str) -> None:
        self.instance = instance
        self.sigs = sigs
        self.table = table

    @staticmethod
    def add(b: ComponentBuilder, sigs: list[Signature], table: str) -> Shim:
        module = b.one(cm.CoreModuleSection(shim_module(sigs, table)), KS.MODULE)
        instance = b.one(cm.CoreInstanceSection([cm.CoreInstantiate(module, [])]), KS.INSTANCE)
        return Shim(instance, sigs, table)

    def func(self, b: ComponentBuilder, k: int) -> int:
        return b.alias_core(self.instance, str(k), KS.FUNC)

    def fill(self, b: ComponentBuilder, real: Callable[[int], int]) -> None:
        """Instantiate the fixup module with ``real(k)`` for each shim function ``k``; ``real``
        may add sections itself, and is called in order after the table's alias."""
        table = b.alias_core(self.instance, self.table, KS.TABLE)
        args = [cm.CoreInlineExport(self.table, KS.TABLE, table)]
        args += [cm.CoreInlineExport(str(k), KS.FUNC, real(k)) for k in range(len(self.sigs))]
        bag = b.one(cm.CoreInstanceSection([cm.CoreInlineExports(args)]), KS.INSTANCE)
        fixup = b.one(cm.CoreModuleSection(fixup_module(self.sigs, self.table)), KS.MODULE)
        b.add(cm.CoreInstanceSection([cm.CoreInstantiate(fixup, [cm.CoreInstantiateArg("", bag)])]))


# -- step 2: resource types the composition defines and the runtime keeps (pymeld.resources) ----
def define_kept_resources(
    b: ComponentBuilder, host: HostIndices, merged: MergeResult
) -> Shim | None:
    """Define each kept resource type; destructors go through a shim, as they live in the
    fused module that imports these very types. Returns that shim, to fill once it exists."""
    n_dtors = len(_dtor_exports(merged))
    shim = Shim.add(b, _DTOR_SIGS * n_dtors, DTOR_TABLE) if n_dtors else None
    k = 0
    for rr in _kept_resources(merged):
        dtor = None
        if rr.dtor_export is not None:
            assert shim is not None
            dtor = shim.func(b, k)
            k += 1
        host.resources[rr.resource.id] = b.type(cm.ResourceType(0x7F, dtor))
    return shim


# -- step 3: the fused module's imports, then the fused instance --------------------------------
def lower_host_imports(
    b: ComponentBuilder, host: HostIndices, types: TypeEmitter, imports: list[HostImport]
) -> tuple[dict[int, int], Shim | None]:
    """Core functions for the fused module's imports, by host import position: lowered now, or
    (when the lower needs the fused module's own memory or realloc) a shim function to be
    filled by `lower_late_import`. Returns those and the shim, if any."""
    lowered: dict[int, int] = {}
    for hi in imports:
        if _needs_memory(hi):
            continue  # lowered late, through the shim
        if hi.builtin is not None:
            canon: cm.Canon = _async_builtin(hi.builtin, types, _plain_opts(hi.builtin), None)
        elif hi.func is None:
            assert hi.resource is not None
            canon = cm.CanonBuiltin(hi.op, type=host.resource(hi.resource))
        else:
            canon = cm.CanonLower(host.func(hi.func.path), _lower_opts(hi))
        lowered[hi.index] = b.one(cm.CanonSection([canon]), KS.FUNC)
    late = _late_imports(imports)
    if not late:
        return lowered, None
    shim = Shim.add(b, [hi.core_signature() for hi in late], "$imports")
    for k, hi in enumerate(late):
        lowered[hi.index] = shim.func(b, k)
    return lowered, shim


class FusedInstance:
    """The instantiated fused module; its memories and functions are aliased on first use."""

    __slots__ = ("b", "foreign", "funcs", "instance", "memories", "merged", "shims")

    def __init__(
        self,
        b: ComponentBuilder,
        instance: int,
        merged: MergeResult,
        foreign: dict[int, int],
        shims: dict[int, Shim],
    ) -> None:
        self.b = b
        self.instance = instance
        self.merged = merged
        self.memories: dict[int, int] = {}
        self.funcs: dict[int, int] = {}
        self.foreign = foreign  # foreign index → its core instance
        self.shims = shims  # foreign index → its functions' shim

    def memory(self, index: int) -> int:
        if index not in self.memories:
            name = self.merged.memory_exports[index]
            self.memories[index] = self.b.alias_core(self.instance, name, KS.MEMORY)
        return self.memories[index]

    def func(self, index: int) -> int:
        if index not in self.funcs:
            name = self.merged.func_exports[index]
            self.funcs[index] = self.b.alias_core(self.instance, name, KS.FUNC)
        return self.funcs[index]

    def options(self, o: at.CanonOptions) -> list[cm.CanonOpt]:
        """``o`` (indices into the fused module) as canonical options of the wrapper."""
        out = [cm.CanonOpt(_ENC[o.string_encoding])]
        if o.memory is not None:
            out.append(cm.CanonOpt(cm.CanonOptKind.MEMORY, self.memory(o.memory)))
        if o.realloc is not None:
            out.append(cm.CanonOpt(cm.CanonOptKind.REALLOC, self.func(o.realloc)))
        if o.post_return is not None:
            out.append(cm.CanonOpt(cm.CanonOptKind.POST_RETURN, self.func(o.post_return)))
        if o.is_async:
            out.append(cm.CanonOpt(cm.CanonOptKind.ASYNC))
        if o.callback is not None:
            out.append(cm.CanonOpt(cm.CanonOptKind.CALLBACK, self.func(o.callback)))
        return out


def instantiate_fused(
    b: ComponentBuilder,
    merged: MergeResult,
    core: bytes | None,
    lowered: dict[int, int],
    foreign: dict[int, int],
) -> FusedInstance:
    """Embed the fused module and instantiate it with one instance of imports per module name
    (the foreign instances it imports from, ``foreign``, are passed as they are)."""
    section = cm.CoreModuleSection(core) if core is not None else _module_section(merged.module)
    module = b.one(section, KS.MODULE)
    by_module: dict[str, list[cm.CoreInlineExport]] = {}
    for hi in merged.host_imports:
        by_module.setdefault(hi.module, []).append(
            cm.CoreInlineExport(hi.name, KS.FUNC, lowered[hi.index])
        )
    args: list[cm.CoreInstantiateArg] = []
    for module_name, exports in by_module.items():
        bag = b.one(cm.CoreInstanceSection([cm.CoreInlineExports(exports)]), KS.INSTANCE)
        args.append(cm.CoreInstantiateArg(module_name, bag))
    shims: dict[int, Shim] = {}
    for k in sorted({ref.instance for ref in merged.foreign.imports}):
        if k in merged.foreign.indirect:  # made after the fused module: called through a shim
            funcs = merged.foreign.indirect[k]
            shim = shims[k] = Shim.add(b, [(p, r) for _, p, r in funcs], "$functions")
            inline = [
                cm.CoreInlineExport(name, KS.FUNC, shim.func(b, j))
                for j, (name, _, _) in enumerate(funcs)
            ]
            bag = b.one(cm.CoreInstanceSection([cm.CoreInlineExports(inline)]), KS.INSTANCE)
            args.append(cm.CoreInstantiateArg(foreign_module_name(k), bag))
        else:
            args.append(cm.CoreInstantiateArg(foreign_module_name(k), foreign[k]))
    instance = b.one(cm.CoreInstanceSection([cm.CoreInstantiate(module, args)]), KS.INSTANCE)
    return FusedInstance(b, instance, merged, foreign, shims)


def instantiate_foreign(
    b: ComponentBuilder,
    host: HostIndices,
    merged: MergeResult,
    k: int,
    foreign: dict[int, int],
    fused: FusedInstance | None,
    lowered: dict[int, int],
) -> int:
    """Instantiate imported module instance ``k`` (`pymeld.merge.foreign`) with what the original
    bound to its declared imports: exports of foreign instances made before it (``foreign``),
    host functions lowered here (``lowered``, by host import), or exports of the fused module
    (``fused``; None for an early instance, which imports none)."""
    fi = merged.foreign.instances[k]
    by_module: dict[str, list[cm.CoreInlineExport]] = {}
    for i, (imp, ref) in enumerate(zip(fi.sig.imports, fi.imports)):
        sort = _CORE_SORT[imp.kind]
        if isinstance(ref, ForeignRef):
            index = b.alias_core(foreign[ref.instance], ref.name, sort)
        elif (k, i) in merged.foreign.host:
            index = lowered[merged.foreign.host[(k, i)]]
        else:
            assert fused is not None, f"early foreign instance {fi.label} imports fused code"
            index = b.alias_core(fused.instance, merged.foreign.provided[(k, i)], sort)
        by_module.setdefault(imp.module, []).append(cm.CoreInlineExport(imp.name, sort, index))
    args: list[cm.CoreInstantiateArg] = []
    for module_name, exports in by_module.items():
        bag = b.one(cm.CoreInstanceSection([cm.CoreInlineExports(exports)]), KS.INSTANCE)
        args.append(cm.CoreInstantiateArg(module_name, bag))
    module = host.module(fi.path)
    return b.one(cm.CoreInstanceSection([cm.CoreInstantiate(module, args)]), KS.INSTANCE)


def _alias_indirect(b: ComponentBuilder, instance: int, merged: MergeResult, k: int, j: int) -> int:
    """Function ``j`` of late foreign instance ``k`` that the fused code calls through a shim."""
    return b.alias_core(instance, merged.foreign.indirect[k][j][0], KS.FUNC)


def run_at_instantiation(b: ComponentBuilder, func: int) -> None:
    """Call core function ``func`` (no params, no results) now, as a start function does."""
    module = b.one(_module_section(starter_module()), KS.MODULE)
    bag = b.one(
        cm.CoreInstanceSection(
            [cm.CoreInlineExports([cm.CoreInlineExport("start", KS.FUNC, func)])]
        ),
        KS.INSTANCE,
    )
    b.add(cm.CoreInstanceSection([cm.CoreInstantiate(module, [cm.CoreInstantiateArg("", bag)])]))


def lower_late_import(
    b: ComponentBuilder, host: HostIndices, types: TypeEmitter, fused: FusedInstance, hi: HostImport
) -> int:
    """The core function for a host import whose lower needs the fused module's memory or
    realloc: the shim's table is filled with it."""
    if hi.builtin is not None:
        bt = hi.builtin
        memory = None if bt.memory is None else fused.memory(_req(hi.opts.memory))
        bopts = None if bt.opts is None else _builtin_opts(bt, fused.options(hi.opts))
        canon: cm.Canon = _async_builtin(bt, types, bopts, memory)
    else:
        assert hi.func is not None
        lower_opts = fused.options(hi.opts)
        if hi.lower_async and not hi.opts.is_async:
            lower_opts.append(cm.CanonOpt(cm.CanonOptKind.ASYNC))
        canon = cm.CanonLower(host.func(hi.func.path), lower_opts)
    return b.one(cm.CanonSection([canon]), KS.FUNC)


# -- step 4: exports, lifted and rebuilt in the root's structure --------------------------------
def lift_export(
    b: ComponentBuilder, types: TypeEmitter, fused: FusedInstance, fe: FuncExport
) -> int:
    """`canon lift` of one exported function, its signature re-emitted from resolved types."""
    ft = types.index(fe.lifted.type)
    source = fused.instance if fe.foreign is None else fused.foreign[fe.foreign.instance]
    core = b.alias_core(source, fe.core_name, KS.FUNC)
    return b.one(cm.CanonSection([cm.CanonLift(core, fused.options(fe.opts), ft)]), CS.FUNC)


def export_root(
    b: ComponentBuilder,
    host: HostIndices,
    types: TypeEmitter,
    fused: FusedInstance,
    merged: MergeResult,
    names: dict[str, cm.ExternName],
) -> None:
    """Export what the root exported, in its structure: functions, types, instances of them,
    host functions passed through and core modules; ``names`` keeps each export's full name."""
    lifted_by_path = {fe.path: fe for fe in merged.exports}

    def lift(path: tuple[str, ...]) -> int:
        return lift_export(b, types, fused, lifted_by_path[path])

    def build(path: tuple[str, ...], item: ExportItem) -> tuple[cm.Sort, int]:
        if isinstance(item, Lifted):
            return CS.FUNC, lift(path)
        if isinstance(item, TypeExport):
            return CS.TYPE, types.index(item.type)
        if isinstance(item, InstanceExport) and _exports_types(item, deep=False):
            from pymeld.wrap.ascribe import ascribed_instance

            where = "/".join(path)
            idx = ascribed_instance(b, types, item.exports, lambda n, _: lift((*path, n)), where)
            return CS.INSTANCE, idx
        if isinstance(item, InstanceExport):
            inline: list[cm.InlineExport] = []
            for name, sub in item.exports:
                sort, idx = build((*path, name), sub)
                inline.append(cm.InlineExport(cm.ExternName(name), sort, idx))
            return CS.INSTANCE, b.one(cm.InstanceSection([cm.InlineExports(inline)]), CS.INSTANCE)
        if isinstance(item, HostFunc):
            return CS.FUNC, host.func(item.path)
        if isinstance(item, ModuleExport):
            return KS.MODULE, b.one(cm.CoreModuleSection(item.data), KS.MODULE)
        if isinstance(item, HostModuleExport):
            return KS.MODULE, host.module(item.path)
        raise UnsupportedFeature(f"root export `{'/'.join(path)}`")

    for name, item in merged.export_tree:
        sort, idx = build((name,), item)
        ename = names.get(name, cm.ExternName(name))
        new = b.one(cm.ExportSection([cm.Export(ename, sort, idx)]), sort)
        if sort is CS.TYPE and isinstance(item, TypeExport):
            types.name(item.type, new)
        if sort is CS.INSTANCE and isinstance(item, InstanceExport) and _exports_types(item):
            from pymeld.wrap.ascribe import name_exported_resources

            name_exported_resources(b, types, new, item)


def _exports_types(item: InstanceExport, deep: bool = True) -> bool:
    """Whether the instance exports a type (``deep``: or an instance it exports does, at any
    depth). Only then do its functions need an ascribed instance (`wrap.ascribe`, loaded
    then: most compositions export functions only) or its types a name outside it."""
    return any(
        isinstance(sub, TypeExport)
        or (deep and isinstance(sub, InstanceExport) and _exports_types(sub))
        for _, sub in item.exports
    )


_DTOR_SIGS: list[Signature] = [([NumType.I32], [])]

_CORE_SORT = {
    ExternKind.FUNC: KS.FUNC,
    ExternKind.TABLE: KS.TABLE,
    ExternKind.MEMORY: KS.MEMORY,
    ExternKind.GLOBAL: KS.GLOBAL,
    ExternKind.TAG: KS.TAG,
}

_ENC = {
    "utf8": cm.CanonOptKind.UTF8,
    "utf16": cm.CanonOptKind.UTF16,
    "latin1+utf16": cm.CanonOptKind.LATIN1_UTF16,
}


def _needs_memory(hi: HostImport) -> bool:
    return hi.opts.memory is not None or hi.opts.realloc is not None


def _late_imports(imports: list[HostImport]) -> list[HostImport]:
    """The host imports lowered only once the fused module exists (through a shim)."""
    return [hi for hi in imports if _needs_memory(hi)]


def _kept_resources(merged: MergeResult) -> list[RuntimeResource]:
    return merged.runtime.resources if merged.runtime is not None else []


def _dtor_exports(merged: MergeResult) -> list[str]:
    """The fused module's destructor exports, in kept-resource order (the dtor shim's order)."""
    return [rr.dtor_export for rr in _kept_resources(merged) if rr.dtor_export is not None]


def _lower_opts(hi: HostImport) -> list[cm.CanonOpt]:
    out = [cm.CanonOpt(_ENC[hi.opts.string_encoding])]
    if hi.lower_async:
        out.append(cm.CanonOpt(cm.CanonOptKind.ASYNC))
    return out


def _req(index: int | None) -> int:
    assert index is not None
    return index


def _plain_opts(b: Builtin) -> list[cm.CanonOpt] | None:
    """Options of a built-in that needs neither memory nor realloc (encoding, `async`)."""
    if b.opts is None:
        return None
    out = [] if b.opts.string_encoding == "utf8" else [cm.CanonOpt(_ENC[b.opts.string_encoding])]
    if b.opts.is_async:
        out.append(cm.CanonOpt(cm.CanonOptKind.ASYNC))
    return out


def _builtin_opts(b: Builtin, mapped: list[cm.CanonOpt]) -> list[cm.CanonOpt]:
    """``mapped`` (memory/realloc re-targeted) with the built-in's own `async` flag kept."""
    assert b.opts is not None
    kinds = {o.kind for o in mapped}
    if b.opts.is_async and cm.CanonOptKind.ASYNC not in kinds:
        mapped.append(cm.CanonOpt(cm.CanonOptKind.ASYNC))
    return mapped


def _async_builtin(
    b: Builtin, emitter: TypeEmitter, options: list[cm.CanonOpt] | None, memory: int | None
) -> cm.CanonBuiltin:
    """The wrapper-level ``canon <op>`` equal to the original built-in (merge.asyncpass)."""
    return cm.CanonBuiltin(
        b.op,
        type=None if b.type is None else emitter.index(b.type),
        options=options,
        flag=b.flag,
        memory=memory,
        valtype=b.valtype,
        index=b.index,
        result=None if b.result is None else emitter.valtype(b.result),
    )


def _module_section(m: Module) -> cm.CoreModuleSection:
    return cm.CoreModuleSection(encode_module(m))


__all__ = ["wrap"]
