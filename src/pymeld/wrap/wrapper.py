"""Re-wrap the fused core module as a single-module component with the original's interface.

Layout of the output component:

1. The original root's import declarations (`pymeld.interface.copy_imports`: imports and the
   types and aliases they rely on, indices remapped), so imports keep their exact names and
   types wherever the root declared them.
2. The fused module, plus — when some host import must be lowered with the fused module's own
   memory or realloc — the classic indirection: a shim module whose functions `call_indirect`
   through a table, so the fused module can be instantiated before those lowers exist, and a
   fixup module that fills the table once they do.
3. One `canon lift` per exported function, with signatures re-emitted from resolved types, and
   exports rebuilt in the original structure (functions, types, and instances of them).
"""

from __future__ import annotations

from pymeld.abi import types as at
from pymeld.codec.component import model as cm
from pymeld.codec.component.builder import ComponentBuilder
from pymeld.codec.core.encode import encode_module
from pymeld.codec.core.model import (
    Module,
    NumType,
)
from pymeld.errors import UnsupportedFeature
from pymeld.graph.flatten import CompInst, Flattener
from pymeld.graph.model import (
    Builtin,
    ExportItem,
    HostFunc,
    InstanceExport,
    Lifted,
    ModuleExport,
    ResourceType,
    TypeExport,
)
from pymeld.interface import copy_imports
from pymeld.merge.merger import FuncExport, HostImport, MergeResult
from pymeld.resources.shim import TABLE
from pymeld.wrap.ascribe import ascribed_instance, name_exported_resources, needs_ascription
from pymeld.wrap.indirect import Signature, fixup_module, shim_module
from pymeld.wrap.typeemit import TypeEmitter

CS = cm.ComponentSort
KS = cm.CoreSort
_PREFIX_SECTIONS = (cm.TypeSection, cm.ImportSection, cm.CoreTypeSection, cm.CustomSection)


def wrap(
    root: cm.Component, flattener: Flattener, merged: MergeResult, core: bytes | None = None
) -> cm.Component:
    """Build the single-module component around ``merged.module`` (``core``: its encoding, when
    the caller already has it — the fused module is the bulk of the output)."""
    b = ComponentBuilder()
    copied = copy_imports(b.add, root, "root")
    root_scope = flattener.root_scope

    def carried(sort: cm.Sort) -> list[tuple[int, object]]:
        """(new index, resolved value) of each root item of ``sort`` the copy re-declared."""
        out = []
        for i, value in enumerate(root_scope.space(sort)):
            new = copied.get(sort, i)
            if new is not None:
                out.append((new, value))
        return out

    # Where the re-declared imports put every host resource, instance and function.
    resource_index: dict[int, int] = {}
    named: list[tuple[int, object]] = []
    for new, value in carried(CS.TYPE):
        if isinstance(value, ResourceType):
            resource_index.setdefault(value.id, new)
        elif new in copied.named_types:
            named.append((new, value))
    instance_index: dict[tuple[str, ...], int] = {}
    for new, value in carried(CS.INSTANCE):
        path = _host_instance_path(value)
        if path is not None:
            instance_index.setdefault(path, new)
    func_index: dict[tuple[str, ...], int] = {}
    for new, value in carried(CS.FUNC):
        if isinstance(value, HostFunc):
            func_index.setdefault(value.path, new)

    def host_func(path: tuple[str, ...]) -> int:
        if path in func_index:
            return func_index[path]
        inst = host_instance(path[:-1])
        idx = b.alias(inst, path[-1], CS.FUNC)
        func_index[path] = idx
        return idx

    def host_instance(path: tuple[str, ...]) -> int:
        if path in instance_index:
            return instance_index[path]
        if len(path) < 2:
            raise UnsupportedFeature(
                f"host instance `{'/'.join(path)}` is not imported at the root"
            )
        idx = b.alias(host_instance(path[:-1]), path[-1], CS.INSTANCE)
        instance_index[path] = idx
        return idx

    def resource(r: ResourceType) -> int:
        if r.id in resource_index:
            return resource_index[r.id]
        if r.host_path is None:
            raise UnsupportedFeature(
                f"exported resource type `{r.name}` defined inside the composition "
                "(resources are not fused yet)"
            )
        idx = b.alias(host_instance(r.host_path[:-1]), r.host_path[-1], CS.TYPE)
        resource_index[r.id] = idx
        return idx

    emitter = TypeEmitter(b.type, resource)

    # -- resource types the composition defines and the runtime keeps (pymeld.resources) -------
    runtime = merged.runtime.resources if merged.runtime is not None else []
    dtors = [rr for rr in runtime if rr.dtor_export is not None]
    dtor_shim = None
    if dtors:
        shim_m = b.one(_module_section(shim_module(_DTOR_SIGS * len(dtors), TABLE)), KS.MODULE)
        dtor_shim = b.one(cm.CoreInstanceSection([cm.CoreInstantiate(shim_m, [])]), KS.INSTANCE)
    for rr in runtime:
        dtor = None
        if rr.dtor_export is not None:
            assert dtor_shim is not None
            dtor = b.alias_core(dtor_shim, str(dtors.index(rr)), KS.FUNC)
        resource_index[rr.resource.id] = b.type(cm.ResourceType(0x7F, dtor))
    for new, value in named:
        emitter.name(value, new)

    # -- the fused module and the imports it needs ------------------------------------------------
    direct = [hi for hi in merged.host_imports if not _needs_memory(hi)]
    indirect = [hi for hi in merged.host_imports if _needs_memory(hi)]
    lowered: dict[int, int] = {}  # host import position → core func index
    for hi in direct:
        if hi.builtin is not None:
            canon: cm.Canon = _async_builtin(hi.builtin, emitter, _plain_opts(hi.builtin), None)
        elif hi.func is None:
            assert hi.resource is not None
            canon = cm.CanonBuiltin(hi.op, type=resource(hi.resource))
        else:
            canon = cm.CanonLower(host_func(hi.func.path), _lower_opts(hi))
        lowered[hi.index] = b.one(cm.CanonSection([canon]), KS.FUNC)
    shim_inst = None
    if indirect:
        shim = shim_module([hi.core_signature() for hi in indirect], "$imports")
        shim_mod = b.one(_module_section(shim), KS.MODULE)
        shim_inst = b.one(cm.CoreInstanceSection([cm.CoreInstantiate(shim_mod, [])]), KS.INSTANCE)
        for k, hi in enumerate(indirect):
            lowered[hi.index] = b.alias_core(shim_inst, str(k), KS.FUNC)

    fused_mod = b.one(
        cm.CoreModuleSection(core) if core is not None else _module_section(merged.module),
        KS.MODULE,
    )
    args: list[cm.CoreInstantiateArg] = []
    by_module: dict[str, list[cm.CoreInlineExport]] = {}
    for hi in merged.host_imports:
        by_module.setdefault(hi.module, []).append(
            cm.CoreInlineExport(hi.name, KS.FUNC, lowered[hi.index])
        )
    for module_name, exports in by_module.items():
        bag = b.one(cm.CoreInstanceSection([cm.CoreInlineExports(exports)]), KS.INSTANCE)
        args.append(cm.CoreInstantiateArg(module_name, bag))
    fused = b.one(cm.CoreInstanceSection([cm.CoreInstantiate(fused_mod, args)]), KS.INSTANCE)

    if dtors:
        assert dtor_shim is not None
        dtor_args = [cm.CoreInlineExport(TABLE, KS.TABLE, b.alias_core(dtor_shim, TABLE, KS.TABLE))]
        for k, rr in enumerate(dtors):
            assert rr.dtor_export is not None
            f = b.alias_core(fused, rr.dtor_export, KS.FUNC)
            dtor_args.append(cm.CoreInlineExport(str(k), KS.FUNC, f))
        bag = b.one(cm.CoreInstanceSection([cm.CoreInlineExports(dtor_args)]), KS.INSTANCE)
        fix_m = b.one(_module_section(fixup_module(_DTOR_SIGS * len(dtors), TABLE)), KS.MODULE)
        b.add(cm.CoreInstanceSection([cm.CoreInstantiate(fix_m, [cm.CoreInstantiateArg("", bag)])]))

    core_mem: dict[int, int] = {}
    core_fn: dict[int, int] = {}

    def mem(index: int) -> int:
        if index not in core_mem:
            core_mem[index] = b.alias_core(fused, merged.memory_exports[index], KS.MEMORY)
        return core_mem[index]

    def fn(index: int) -> int:
        if index not in core_fn:
            core_fn[index] = b.alias_core(fused, merged.func_exports[index], KS.FUNC)
        return core_fn[index]

    def opts_of(o: at.CanonOptions) -> list[cm.CanonOpt]:
        out = [cm.CanonOpt(_ENC[o.string_encoding])]
        if o.memory is not None:
            out.append(cm.CanonOpt(cm.CanonOptKind.MEMORY, mem(o.memory)))
        if o.realloc is not None:
            out.append(cm.CanonOpt(cm.CanonOptKind.REALLOC, fn(o.realloc)))
        if o.post_return is not None:
            out.append(cm.CanonOpt(cm.CanonOptKind.POST_RETURN, fn(o.post_return)))
        if o.is_async:
            out.append(cm.CanonOpt(cm.CanonOptKind.ASYNC))
        if o.callback is not None:
            out.append(cm.CanonOpt(cm.CanonOptKind.CALLBACK, fn(o.callback)))
        return out

    if indirect:
        assert shim_inst is not None
        fix_args: list[cm.CoreInlineExport] = [
            cm.CoreInlineExport("$imports", KS.TABLE, b.alias_core(shim_inst, "$imports", KS.TABLE))
        ]
        for k, hi in enumerate(indirect):
            if hi.builtin is not None:
                bt = hi.builtin
                memory = None if bt.memory is None else mem(_req(hi.opts.memory))
                bopts = None if bt.opts is None else _builtin_opts(bt, opts_of(hi.opts))
                c: cm.Canon = _async_builtin(bt, emitter, bopts, memory)
            else:
                assert hi.func is not None
                lower_opts = opts_of(hi.opts)
                if hi.lower_async and not hi.opts.is_async:
                    lower_opts.append(cm.CanonOpt(cm.CanonOptKind.ASYNC))
                c = cm.CanonLower(host_func(hi.func.path), lower_opts)
            f = b.one(cm.CanonSection([c]), KS.FUNC)
            fix_args.append(cm.CoreInlineExport(str(k), KS.FUNC, f))
        bag = b.one(cm.CoreInstanceSection([cm.CoreInlineExports(fix_args)]), KS.INSTANCE)
        fix_mod = b.one(
            _module_section(fixup_module([hi.core_signature() for hi in indirect], "$imports")),
            KS.MODULE,
        )
        b.add(
            cm.CoreInstanceSection([cm.CoreInstantiate(fix_mod, [cm.CoreInstantiateArg("", bag)])])
        )

    # -- exports ------------------------------------------------------------------------------------
    lifted_by_path = {fe.path: fe for fe in merged.exports}

    def lift(fe: FuncExport) -> int:
        ft = emitter.index(fe.lifted.type)
        core = b.alias_core(fused, fe.core_name, KS.FUNC)
        return b.one(cm.CanonSection([cm.CanonLift(core, opts_of(fe.opts), ft)]), CS.FUNC)

    def build(path: tuple[str, ...], item: ExportItem) -> tuple[cm.Sort, int]:
        if isinstance(item, Lifted):
            return CS.FUNC, lift(lifted_by_path[path])
        if isinstance(item, TypeExport):
            return CS.TYPE, emitter.index(item.type)
        if isinstance(item, InstanceExport) and needs_ascription(item.exports):
            idx = ascribed_instance(
                b,
                emitter,
                item.exports,
                lambda n, _: lift(lifted_by_path[(*path, n)]),
                "/".join(path),
            )
            return CS.INSTANCE, idx
        if isinstance(item, InstanceExport):
            inline: list[cm.InlineExport] = []
            for name, sub in item.exports:
                sort, idx = build((*path, name), sub)
                inline.append(cm.InlineExport(cm.ExternName(name), sort, idx))
            return CS.INSTANCE, b.one(cm.InstanceSection([cm.InlineExports(inline)]), CS.INSTANCE)
        if isinstance(item, HostFunc):
            return CS.FUNC, host_func(item.path)
        if isinstance(item, ModuleExport):
            return KS.MODULE, b.one(cm.CoreModuleSection(item.data), KS.MODULE)
        raise UnsupportedFeature(f"root export `{'/'.join(path)}`")

    for name, item in merged.export_tree:
        sort, idx = build((name,), item)
        ename = flattener.root_export_names.get(name, cm.ExternName(name))
        new = b.one(cm.ExportSection([cm.Export(ename, sort, idx)]), sort)
        if sort is CS.TYPE and isinstance(item, TypeExport):
            emitter.name(item.type, new)
        if sort is CS.INSTANCE and isinstance(item, InstanceExport):
            name_exported_resources(b, emitter, new, item)
    return b.comp


_DTOR_SIGS: list[Signature] = [([NumType.I32], [])]

_ENC = {
    "utf8": cm.CanonOptKind.UTF8,
    "utf16": cm.CanonOptKind.UTF16,
    "latin1+utf16": cm.CanonOptKind.LATIN1_UTF16,
}


def _needs_memory(hi: HostImport) -> bool:
    return hi.opts.memory is not None or hi.opts.realloc is not None


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


def _host_instance_path(value: object) -> tuple[str, ...] | None:
    return value.host_path if isinstance(value, CompInst) else None


def _module_section(m: Module) -> cm.CoreModuleSection:
    return cm.CoreModuleSection(encode_module(m))


__all__ = ["wrap"]
