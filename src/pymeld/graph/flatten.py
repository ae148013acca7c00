"""Symbolic instantiation: walk a component the way a runtime instantiates it.

Each component definition is evaluated section by section, building the index spaces a
validator builds. Values in those spaces are symbolic: a core function is a `CoreRef`, a
component function is `Lifted` or `HostFunc`, an instance is a name → item map. Instantiating
a nested component evaluates its body in a fresh scope whose imports are the `with` arguments,
so the same component instantiated twice yields two sets of module instances (own state each).
What remains unresolved at the root (its imports) becomes `HostFunc`s: imports of the output.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.codec.component import model as cm
from pymeld.codec.component.model import sort_key
from pymeld.codec.core.model import ExternKind, Import, Module
from pymeld.errors import LinkError, UnsupportedFeature
from pymeld.graph import type_resolution as gt
from pymeld.graph.model import (
    Builtin,
    BuiltinRef,
    CanonOpts,
    ComponentInstanceInfo,
    CoreRef,
    DefRef,
    ExportItem,
    FlatGraph,
    ForeignInstance,
    ForeignRef,
    HostFunc,
    HostModuleExport,
    InstanceExport,
    Lifted,
    Lowered,
    LoweredRef,
    ModuleExport,
    ModuleInstance,
    ModuleSig,
    ResourceType,
    TypeExport,
)

if TYPE_CHECKING:
    from typing import Any

CS = cm.ComponentSort
KS = cm.CoreSort

#: Sorts read per item (`_alias`, `_canon`, imports): on Python 3.11 each ``ComponentSort.X``
#: read goes through ``EnumType.__getattr__``.
_C_FUNC, _C_TYPE, _C_INSTANCE = CS.FUNC, CS.TYPE, CS.INSTANCE
_K_FUNC, _K_INSTANCE, _K_MEMORY, _K_MODULE = KS.FUNC, KS.INSTANCE, KS.MEMORY, KS.MODULE
_OPT_MEMORY, _OPT_REALLOC = cm.CanonOptKind.MEMORY, cm.CanonOptKind.REALLOC

#: The string encoding each option names (looked up once per option: on Python 3.11 each
#: ``CanonOptKind.X`` read goes through ``EnumType.__getattr__``).
_ENCODING = {
    cm.CanonOptKind.UTF8: "utf8",
    cm.CanonOptKind.UTF16: "utf16",
    cm.CanonOptKind.LATIN1_UTF16: "latin1+utf16",
}
_CORE_KIND: dict[cm.CoreSort, ExternKind] = {
    KS.FUNC: ExternKind.FUNC,
    KS.TABLE: ExternKind.TABLE,
    KS.MEMORY: ExternKind.MEMORY,
    KS.GLOBAL: ExternKind.GLOBAL,
    KS.TAG: ExternKind.TAG,
}


# -- symbolic values ------------------------------------------------------------------------------


@dataclass
class ModuleDef:
    """A core module definition (shared by all its instantiations)."""

    id: int
    section: cm.CoreModuleSection
    label: str

    @property
    def module(self) -> Module:
        return self.section.module


@dataclass
class HostModule:
    """A core module imported from outside the root (``path`` as in `ForeignInstance`): only
    its type is known, so each instantiation becomes a `ForeignInstance`."""

    path: tuple[str, ...]
    sig: ModuleSig


@dataclass
class CoreModuleInst:
    """A core instance made by instantiating a module: index into `FlatGraph.instances`."""

    index: int


@dataclass
class CoreForeignInst:
    """A core instance of an imported module: index into `FlatGraph.foreign`."""

    index: int


@dataclass
class CoreBag:
    """A core instance made from inline exports."""

    exports: dict[str, tuple[ExternKind, CoreRef]]


CoreInst = CoreModuleInst | CoreBag | CoreForeignInst


@dataclass
class CompInst:
    """A component instance: its exports by name as (sort, value).

    ``host_path`` is set for an instance imported from the host (root import name + export
    names), so the wrapper can alias into the same import (`FlatGraph.root`).
    """

    exports: dict[str, tuple[cm.Sort, Any]]
    host_path: tuple[str, ...] | None = None


@dataclass
class ComponentDef:
    """A component definition closed over the scope it was defined in (for outer aliases)."""

    component: cm.Component
    scope: Scope
    label: str


@dataclass
class Scope:
    """The index spaces of one component being instantiated."""

    parent: Scope | None
    instance_id: int
    label: str
    spaces: dict[tuple[bool, int], list[Any]] = field(default_factory=dict)
    exports: dict[str, tuple[cm.Sort, Any]] = field(default_factory=dict)

    def space(self, sort: cm.Sort) -> list[Any]:
        key = sort_key(sort)
        s = self.spaces.get(key)
        if s is None:
            s = self.spaces[key] = []
        return s

    def get(self, sort: cm.Sort, index: int) -> Any:
        s = self.spaces.get(sort_key(sort), [])
        if index >= len(s):
            raise LinkError(
                f"{self.label}: {cm.sort_name(sort)} index {index} out of range ({len(s)} defined)"
            )
        return s[index]

    def outer(self, count: int) -> Scope:
        scope: Scope | None = self
        for _ in range(count):
            scope = scope.parent if scope else None
        if scope is None:
            raise LinkError(f"{self.label}: outer alias count {count} exceeds the nesting depth")
        return scope


# -- the instantiator ------------------------------------------------------------------------------


class Flattener:
    """Builds a `FlatGraph` by instantiating the root component symbolically."""

    def __init__(self, root: cm.Component, name: str = "root") -> None:
        self.root = root
        self.name = name
        self.graph = FlatGraph()
        self.module_ids: dict[int, int] = {}
        # module instance → its import bindings per kind (exports are resolved through them)
        self._imports_by_kind: dict[int, dict[ExternKind, list[CoreRef]]] = {}
        # per module instance: export name -> (kind, index), the first export of each name
        self._exports_by_name: dict[int, dict[str, tuple[ExternKind, int]]] = {}
        self._modules_by_size: dict[int, list[tuple[bytes | memoryview | bytearray, Module]]] = {}
        self.resource_count = 0
        self.types = gt.TypeResolver(self)

    # -- entry point -------------------------------------------------------------------------
    def run(self) -> FlatGraph:
        scope = self._new_scope(None, self.name, parent_instance=None)
        self._evaluate(self.root, scope, args=None)
        for name, (sort, value) in scope.exports.items():
            self.graph.exports.append((name, self._export_item(sort, value, name)))
        root = self.graph.root
        root.types = scope.space(CS.TYPE)
        root.host_instances = [
            v.host_path if isinstance(v, CompInst) else None for v in scope.space(CS.INSTANCE)
        ]
        root.host_funcs = [
            v.path if isinstance(v, HostFunc) else None for v in scope.space(CS.FUNC)
        ]
        root.host_modules = [
            v.path if isinstance(v, HostModule) else None for v in scope.space(KS.MODULE)
        ]
        return self.graph

    def _new_scope(self, parent: Scope | None, label: str, parent_instance: int | None) -> Scope:
        iid = len(self.graph.components)
        self.graph.components.append(ComponentInstanceInfo(iid, parent_instance, label))
        return Scope(parent, iid, label)

    def new_resource(
        self, name: str, owner: int | None, dtor: CoreRef | None, host_path: tuple[str, ...] | None
    ) -> ResourceType:
        self.resource_count += 1
        return ResourceType(self.resource_count, name, owner, dtor, host_path)

    # -- evaluating a component body ----------------------------------------------------------
    def _evaluate(
        self, comp: cm.Component, scope: Scope, args: dict[str, tuple[cm.Sort, Any]] | None
    ) -> None:
        for section in comp.sections:
            match section:
                case cm.CustomSection():
                    continue
                case cm.CoreModuleSection():
                    mid = self.module_ids.setdefault(id(section), len(self.module_ids))
                    n = len(scope.space(KS.MODULE))
                    scope.space(KS.MODULE).append(
                        ModuleDef(mid, section, f"{scope.label}/module{n}")
                    )
                case cm.ComponentSection():
                    n = len(scope.space(CS.COMPONENT))
                    scope.space(CS.COMPONENT).append(
                        ComponentDef(section.component, scope, f"{scope.label}/component{n}")
                    )
                case cm.CoreInstanceSection():
                    core_instances = scope.space(_K_INSTANCE)
                    for item in section.items:
                        core_instances.append(self._core_instance(item, scope))
                case cm.CoreTypeSection():
                    for t in section.items:
                        n = len(t.subtypes) if isinstance(t, cm.CoreRecType) else 1
                        scope.space(KS.TYPE).extend([t] * n)
                case cm.InstanceSection():
                    instances = scope.space(_C_INSTANCE)
                    for inst in section.items:
                        instances.append(self._instance(inst, scope))
                case cm.AliasSection():
                    for alias in section.items:
                        scope.space(alias.sort).append(self._alias(alias, scope))
                case cm.TypeSection():
                    types = scope.space(_C_TYPE)
                    for deftype in section.items:
                        types.append(self.types.define(deftype, scope))
                case cm.CanonSection():
                    for canon in section.items:
                        self._canon(canon, scope)
                case cm.ImportSection():
                    for imp in section.items:
                        value = self._import(imp, scope, args)
                        scope.space(imp.desc.sort).append(value)
                case cm.ExportSection():
                    for exp in section.items:
                        value = scope.get(exp.sort, exp.index)
                        if exp.desc is not None and exp.sort is _C_FUNC:
                            value = self._ascribe_func(value, exp.desc, scope)
                        if exp.sort is _C_TYPE and isinstance(value, ResourceType):
                            value = self.types.name_resource(value, exp.name.name)
                        scope.space(exp.sort).append(value)
                        scope.exports[exp.name.name] = (exp.sort, value)
                        if scope.parent is None:  # keep `implements`/version attributes
                            self.graph.root.export_names[exp.name.name] = exp.name
                case cm.StartSection():
                    raise UnsupportedFeature(f"{scope.label}: component start functions (values)")
                case cm.ValueSection():
                    raise UnsupportedFeature(f"{scope.label}: component value definitions")
                case _:
                    raise UnsupportedFeature(f"{scope.label}: section {type(section).__name__}")

    # -- imports --------------------------------------------------------------------------------
    def _import(
        self, imp: cm.Import, scope: Scope, args: dict[str, tuple[cm.Sort, Any]] | None
    ) -> Any:
        name = imp.name.name
        sort = imp.desc.sort
        if args is not None:
            if name not in args:
                raise LinkError(f"{scope.label}: import `{name}` not supplied by instantiation")
            arg_sort, value = args[name]
            if arg_sort != sort:
                raise LinkError(
                    f"{scope.label}: import `{name}` is a {cm.sort_name(sort)} "
                    f"but a {cm.sort_name(arg_sort)} was supplied"
                )
            if sort is _C_TYPE and imp.desc.index is not None:
                # (eq T): the supplied type must be the declared one; it is, by validation.
                return value
            return value
        # Root import: stays an import of the output.
        path = (name,)
        if sort is _C_FUNC:
            ft = self.types.func_type(scope.get(_C_TYPE, _req(imp.desc.index)), scope)
            return self._host_func(path, ft)
        if sort is _C_INSTANCE:
            itype = scope.get(_C_TYPE, _req(imp.desc.index))
            return self._host_instance(path, itype)
        if sort is CS.TYPE:
            if imp.desc.index is None:
                return self.new_resource(name, None, None, path)
            return scope.get(CS.TYPE, imp.desc.index)
        if sort is KS.MODULE:
            mt = scope.get(KS.TYPE, _req(imp.desc.index))
            return HostModule(path, gt.module_sig(mt, scope.space(KS.TYPE), name))
        raise UnsupportedFeature(
            f"{scope.label}: root import `{name}` of sort {cm.sort_name(sort)} "
            "(only functions, instances, types and core modules can stay imports)"
        )

    def _host_func(self, path: tuple[str, ...], ft: Any) -> HostFunc:
        hf = HostFunc(path, ft)
        self.graph.host_funcs.append(hf)
        return hf

    def _host_instance(self, path: tuple[str, ...], itype: Any) -> CompInst:
        """Materialise an imported instance's exports from its instance type."""
        exports: dict[str, tuple[cm.Sort, Any]] = {}
        for name, (sort, value) in self.types.instance_exports(itype, path).items():
            if sort is _C_FUNC:
                value = self._host_func((*path, name), value)
            elif sort is _C_INSTANCE:
                value = self._host_instance((*path, name), value)
            elif sort is _K_MODULE:
                value = HostModule((*path, name), value)
            exports[name] = (sort, value)
        return CompInst(exports, path)

    def _ascribe_func(self, value: Any, desc: cm.ExternDesc, scope: Scope) -> Any:
        """An export with an explicit type keeps the function; only the visible type changes."""
        ft = self.types.func_type(scope.get(CS.TYPE, _req(desc.index)), scope)
        if isinstance(value, Lifted):
            return Lifted(value.core_func, ft, value.opts, value.owner)
        if isinstance(value, HostFunc):
            return HostFunc(value.path, ft)
        return value

    # -- core instances -----------------------------------------------------------------------
    def _core_instance(self, item: cm.CoreInstance, scope: Scope) -> CoreInst:
        if isinstance(item, cm.CoreInlineExports):
            bag: dict[str, tuple[ExternKind, CoreRef]] = {}
            for e in item.exports:
                kind = _CORE_KIND.get(e.sort)
                if kind is None:
                    raise UnsupportedFeature(
                        f"{scope.label}: core instance export of sort {cm.sort_name(e.sort)}"
                    )
                bag[e.name] = (kind, scope.get(e.sort, e.index))
            return CoreBag(bag)
        mdef: ModuleDef | HostModule = scope.get(_K_MODULE, item.module)
        args: dict[str, CoreInst] = {a.name: scope.get(_K_INSTANCE, a.instance) for a in item.args}
        label = f"{scope.label}/core{len(scope.space(_K_INSTANCE))}"
        if isinstance(mdef, HostModule):
            return self._foreign_instance(mdef, args, scope, label)
        module = self._parsed(mdef)
        index = len(self.graph.instances)
        mi = ModuleInstance(index, module, mdef.id, scope.instance_id, label)
        mi.imports.extend(self._bind_imports(module.imports, args, label))
        self.graph.instances.append(mi)
        return CoreModuleInst(index)

    def _foreign_instance(
        self, hm: HostModule, args: dict[str, CoreInst], scope: Scope, label: str
    ) -> CoreForeignInst:
        """An instance of an imported module: its declared imports bound like a module's."""
        index = len(self.graph.foreign)
        fi = ForeignInstance(
            index, hm.path, hm.sig, scope.instance_id, label, len(self.graph.instances)
        )
        fi.imports.extend(self._bind_imports(hm.sig.imports, args, label))
        self.graph.foreign.append(fi)
        return CoreForeignInst(index)

    def _bind_imports(
        self, imports: list[Import], args: dict[str, CoreInst], label: str
    ) -> list[CoreRef]:
        """What each core import of a new instance is bound to, from its instance arguments."""
        refs: list[CoreRef] = []
        for imp in imports:
            src = args.get(imp.module)
            if src is None:
                raise LinkError(
                    f"{label}: module import `{imp.module}` `{imp.name}` has no instance argument"
                )
            kind, ref = self._core_export(src, imp.name, label)
            if kind != imp.kind:
                raise LinkError(
                    f"{label}: import `{imp.module}` `{imp.name}` expects a {imp.kind.name.lower()},"
                    f" found a {kind.name.lower()}"
                )
            refs.append(ref)
        return refs

    def _parsed(self, mdef: ModuleDef) -> Module:
        """The parsed module; sections with the same bytes share one parse (modules are read,
        never changed, after parsing): components built by one toolchain embed the same runtime
        modules, e.g. each Python component carries its own copy of the interpreter. Sections
        are compared only with sections of the same size (the rest are never copied)."""
        data = mdef.section.data
        if data is None:
            return mdef.module
        bucket = self._modules_by_size.setdefault(len(data), [])
        mine: bytes | memoryview | bytearray = data
        if bucket:
            mine = bytes(data)
            for i, (other, module) in enumerate(bucket):
                if not isinstance(other, bytes):
                    other = bytes(other)
                    bucket[i] = (other, module)
                if other == mine:
                    return module
        module = mdef.module
        bucket.append((mine, module))
        return module

    def _core_export(self, inst: CoreInst, name: str, where: str) -> tuple[ExternKind, CoreRef]:
        if isinstance(inst, CoreBag):
            if name not in inst.exports:
                raise LinkError(f"{where}: core instance has no export `{name}`")
            return inst.exports[name]
        if isinstance(inst, CoreForeignInst):
            fi = self.graph.foreign[inst.index]
            exp = fi.sig.export(name)
            if exp is None:
                raise LinkError(f"{where}: core instance {fi.label} has no export `{name}`")
            return exp.kind, ForeignRef(fi.index, exp.kind, name)
        mi = self.graph.instances[inst.index]
        by_name = self._exports_by_name.get(mi.index)
        if by_name is None:  # a dict, not a scan per name: runtimes export thousands of names
            by_name = self._exports_by_name[mi.index] = {}
            for e in mi.module.exports:
                by_name.setdefault(e.name, (e.kind, e.index))
        found = by_name.get(name)
        if found is not None:
            return found[0], self._resolve_index(mi, found[0], found[1])
        raise LinkError(f"{where}: core instance {mi.label} has no export `{name}`")

    def _resolve_index(self, mi: ModuleInstance, kind: ExternKind, index: int) -> CoreRef:
        """Chase an index of ``mi`` through its imports to the definition it denotes."""
        by_kind = self._imports_by_kind.get(mi.index)
        if by_kind is None:
            by_kind = self._imports_by_kind[mi.index] = {}
            for imp, ref in zip(mi.module.imports, mi.imports):
                by_kind.setdefault(imp.kind, []).append(ref)
        refs = by_kind.get(kind, ())
        return refs[index] if index < len(refs) else DefRef(mi.index, kind, index)

    # -- component instances ------------------------------------------------------------------
    def _instance(self, item: cm.Instance, scope: Scope) -> CompInst:
        if isinstance(item, cm.InlineExports):
            return CompInst(
                {e.name.name: (e.sort, scope.get(e.sort, e.index)) for e in item.exports}
            )
        cdef: ComponentDef = scope.get(CS.COMPONENT, item.component)
        args = {a.name: (a.sort, scope.get(a.sort, a.index)) for a in item.args}
        n = len(scope.space(CS.INSTANCE))
        child = self._new_scope(cdef.scope, f"{scope.label}/instance{n}", scope.instance_id)
        self._evaluate(cdef.component, child, args)
        return CompInst(dict(child.exports))

    def _alias(self, alias: cm.Alias, scope: Scope) -> Any:
        if isinstance(alias, cm.AliasExport):
            inst: CompInst = scope.get(_C_INSTANCE, alias.instance)
            if alias.name not in inst.exports:
                raise LinkError(f"{scope.label}: instance has no export `{alias.name}`")
            sort, value = inst.exports[alias.name]
            if sort != alias.sort:
                raise LinkError(
                    f"{scope.label}: export `{alias.name}` is a {cm.sort_name(sort)}, "
                    f"not a {cm.sort_name(alias.sort)}"
                )
            return value
        if isinstance(alias, cm.AliasCoreExport):
            cinst: CoreInst = scope.get(_K_INSTANCE, alias.instance)
            kind, ref = self._core_export(cinst, alias.name, scope.label)
            if _CORE_KIND.get(alias.sort) != kind:
                raise LinkError(
                    f"{scope.label}: core export `{alias.name}` is a {kind.name.lower()}, "
                    f"not a {cm.sort_name(alias.sort)}"
                )
            return ref
        return scope.outer(alias.count).get(alias.sort, alias.index)

    # -- canonical definitions ------------------------------------------------------------------
    def _canon(self, canon: cm.Canon, scope: Scope) -> None:
        if isinstance(canon, cm.CanonLift):
            opts = self._opts(canon.options, scope)
            ft = self.types.func_type(scope.get(_C_TYPE, canon.type), scope)
            core = scope.get(_K_FUNC, canon.core_func)
            scope.space(_C_FUNC).append(Lifted(core, ft, opts, scope.instance_id))
        elif isinstance(canon, cm.CanonLower):
            callee = scope.get(_C_FUNC, canon.func)
            opts = self._opts(canon.options, scope)
            self.graph.lowers.append(Lowered(callee, opts, scope.instance_id))
            scope.space(_K_FUNC).append(LoweredRef(len(self.graph.lowers) - 1))
        else:
            resource = None
            if canon.op.startswith("resource.") and canon.type is not None:
                resource = scope.get(CS.TYPE, canon.type)
                if not isinstance(resource, ResourceType):
                    raise LinkError(f"{scope.label}: {canon.op} of a non-resource type")
            builtin = Builtin(canon.op, scope.instance_id, resource)
            if not canon.op.startswith("resource."):
                self._async_immediates(canon, builtin, scope)
            self.graph.builtins.append(builtin)
            scope.space(KS.FUNC).append(BuiltinRef(len(self.graph.builtins) - 1))

    def _async_immediates(self, canon: cm.CanonBuiltin, b: Builtin, scope: Scope) -> None:
        """Resolve an async built-in's immediates (thread.* core types and tables stay unread)."""
        if canon.op.startswith("thread.") and canon.op != "thread.yield":
            return
        if canon.type is not None:
            b.type = scope.get(CS.TYPE, canon.type)
        if canon.result is not None:
            b.result = self.types.valtype(canon.result, scope)
        if canon.options is not None:
            b.opts = self._opts(canon.options, scope)
        if canon.memory is not None:
            mem = scope.get(KS.MEMORY, canon.memory)
            if not isinstance(mem, DefRef):
                raise UnsupportedFeature(f"{scope.label}: {canon.op} memory is not a core memory")
            b.memory = mem
        b.flag, b.valtype, b.index = canon.flag, canon.valtype, canon.index

    def _opts(self, options: list[cm.CanonOpt], scope: Scope) -> CanonOpts:
        enc = "utf8"
        memory: DefRef | ForeignRef | None = None
        realloc = post_return = callback = None
        is_async = False
        for o in options:
            k = o.kind
            if k in _ENCODING:
                enc = _ENCODING[k]
            elif k is _OPT_MEMORY:
                ref = scope.get(_K_MEMORY, _req(o.index))
                if not isinstance(ref, DefRef | ForeignRef):
                    raise UnsupportedFeature(f"{scope.label}: memory option is not a core memory")
                memory = ref
            elif k is _OPT_REALLOC:
                realloc = scope.get(_K_FUNC, _req(o.index))
            elif k is cm.CanonOptKind.POST_RETURN:
                post_return = scope.get(KS.FUNC, _req(o.index))
            elif k is cm.CanonOptKind.ASYNC:
                is_async = True
            elif k is cm.CanonOptKind.CALLBACK:
                callback = scope.get(KS.FUNC, _req(o.index))
            else:
                raise UnsupportedFeature(f"{scope.label}: canonical option {k.name.lower()}")
        return CanonOpts(enc, memory, realloc, post_return, is_async, callback)

    # -- root exports -----------------------------------------------------------------------------
    def _export_item(self, sort: cm.Sort, value: Any, name: str) -> ExportItem:
        if sort is CS.FUNC:
            return value
        if sort is CS.TYPE:
            return TypeExport(value)
        if sort is CS.INSTANCE:
            return InstanceExport(
                [(n, self._export_item(s, v, f"{name}/{n}")) for n, (s, v) in value.exports.items()]
            )
        if sort is KS.MODULE and isinstance(value, ModuleDef) and value.section.data is not None:
            return ModuleExport(bytes(value.section.data))
        if sort is KS.MODULE and isinstance(value, HostModule):
            return HostModuleExport(value.path)
        raise UnsupportedFeature(f"root export `{name}` of sort {cm.sort_name(sort)}")


def _req(index: int | None) -> int:
    if index is None:
        raise LinkError("missing type index in extern descriptor")
    return index


def flatten(component: cm.Component, name: str = "root") -> FlatGraph:
    """Instantiate ``component`` symbolically and return its flat graph."""
    return Flattener(component, name).run()
