"""Merge every module instance of a flat graph into one core module.

Each instance's definitions are appended to the output index spaces (see `layout`), each import
is replaced by the definition it was bound to, and every body is rewritten once with the final
index maps. Cross-component lowers become generated adapter functions; host lowers become the
output's imports. Instantiation order is kept exactly: active segments stay active only up to the
first start function, after which segments become passive and are initialised by a synthesized
start sequence, interleaved with the original start calls.
"""

from __future__ import annotations

from dataclasses import field, replace
from functools import partial
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.abi import types as at
from pymeld.codec.core import instructions as ins
from pymeld.codec.core.emitter import NUMTYPE as _VT
from pymeld.codec.core.emitter import VALTYPE_NAME as _VT_NAME
from pymeld.codec.core.emitter import Body, CoreValType, Instrs, const_i32
from pymeld.codec.core.model import (
    Code,
    Elem,
    Export,
    ExternKind,
    FuncImport,
    Global,
    GlobalType,
    Import,
    ImportDesc,
    Limits,
    Local,
    MemoryType,
    Module,
    NumType,
    RefType,
    SegmentMode,
    Table,
    TableType,
    TagType,
    ValType,
)
from pymeld.errors import LinkError, UnsupportedFeature
from pymeld.graph.model import (
    Builtin,
    BuiltinRef,
    CanonOpts,
    CoreRef,
    DefRef,
    ExportItem,
    FlatGraph,
    ForeignRef,
    HostFunc,
    HostModuleExport,
    InstanceExport,
    Lifted,
    Lowered,
    LoweredRef,
    ModuleExport,
    ResourceType,
    TypeExport,
    reachable_lowers,
)
from pymeld.merge.asyncpass import MODULE as ASYNC_MODULE
from pymeld.merge.asyncpass import AsyncPlan, async_lower_signature, builtin_signature, plan_async
from pymeld.merge.bodies import rewrite_all
from pymeld.merge.foreign import ForeignPlan, module_name, plan_foreign
from pymeld.merge.funcrefs import export_only
from pymeld.merge.inline_adapters import CallerInstance
from pymeld.merge.layout import InstanceLayout, lay_out, memory_first
from pymeld.merge.leave import REALLOC_SIG, CallsCache, LeaveGuards, Signature, SitesSeen, reach
from pymeld.merge.segments import copy_data, copy_elem
from pymeld.merge.type_section import TypeInterner
from pymeld.plan import FuncCode, FuncItem, Plan, Space
from pymeld.resources.fusion import Lookups, ResourceFusion
from pymeld.resources.runtime import RuntimePlan, plan_runtime

if TYPE_CHECKING:  # loaded when used: adapters, async fusion
    from typing import overload

    from pymeld.abi.adapter import ResourceOps
    from pymeld.merge.asyncfuse import AsyncFusion
    from pymeld.merge.asynctask import TaskPlan
    from pymeld.merge.inline import LeafFuncs

#: Kinds read per reference (`Merger.func_index`): on Python 3.11 each ``ExternKind.X`` read
#: goes through ``EnumType.__getattr__``.
_FUNC = ExternKind.FUNC
_MEMORY = ExternKind.MEMORY
_KINDS = tuple(ExternKind)  # (iterating the class runs `EnumType.__iter__` and `__getattr__`)
#: The statistic naming where stream/future ends cross the host boundary beside in-module tasks
#: (`merge.asynctask.TaskPlan.host_handovers`): there a copy left waiting for the host traps
#: (refused at run time), so `pymeld fuse` warns of it.
HOST_HANDOVERS = "ends_shared_with_host"


@dataclass
class HostImport:
    """An output import: a host function lowered with ``opts`` (indices in the output), or
    (``func`` None) the `resource.drop` of a host resource type ``resource``."""

    func: HostFunc | None
    opts: at.CanonOptions
    module: str
    name: str
    index: int
    resource: ResourceType | None = None
    key: object = None
    op: str = "resource.drop"
    builtin: Builtin | None = None  # an async built-in the wrapper re-creates (merge.asyncpass)
    lower_async: bool = False  # the host function is lowered `async`

    def core_signature(self) -> tuple[list[NumType], list[NumType]]:
        """The core function type the fused module imports this as. Made once (kept beside
        the fields, not one of them): the merger asks when it declares the import, the wrapper
        again for its shim, and flattening a function type hashes and compares its whole
        structure (~40 k instructions). Every field it depends on is settled by then."""
        sig = self.__dict__.get("_core_signature")
        if sig is None:
            sig = self.__dict__["_core_signature"] = self._signature()
        return sig

    def _signature(self) -> tuple[list[NumType], list[NumType]]:
        if self.builtin is not None:
            return builtin_signature(self.builtin)
        if self.func is None:
            return [NumType.I32], ([] if self.op == "resource.drop" else [NumType.I32])
        if self.lower_async:
            return async_lower_signature(self.func.type)
        return _lower_signature(self.func.type)


@dataclass
class FuncExport:
    """A root export function: its core export name and lift options in output indices."""

    path: tuple[str, ...]
    lifted: Lifted
    core_name: str
    func_index: int
    opts: at.CanonOptions
    #: set when the export lifts a function of an imported module's instance directly: the
    #: wrapper lifts ``core_name`` of that instance (``func_index`` is then -1)
    foreign: ForeignRef | None = None


@dataclass
class MergeResult:
    module: Module
    host_imports: list[HostImport]
    exports: list[FuncExport]
    export_tree: list[tuple[str, ExportItem]]
    memory_exports: dict[int, str] = field(default_factory=dict)
    func_exports: dict[int, str] = field(default_factory=dict)
    stats: dict[str, object] = field(default_factory=dict)
    # Provenance for emit/names: per-instance output bases, and lower index → adapter function.
    layouts: list[InstanceLayout] = field(default_factory=list)
    adapters: dict[int, int] = field(default_factory=dict)
    direct: dict[int, int] = field(default_factory=dict)  # lower index → callee (no adapter)
    runtime: RuntimePlan | None = None  # resource built-ins left to the component runtime
    foreign: ForeignPlan = field(default_factory=ForeignPlan)  # imported modules' instances


class Merger:
    def __init__(
        self,
        graph: FlatGraph,
        simd: bool = True,
        inline: bool = True,
        host_ends: bool = False,
        dwarf_layout: bool = False,
    ) -> None:
        self.g = graph
        #: per instance: its code keeps its layout (`merge.layout`), for its DWARF's remap
        self._keep_layout = [
            dwarf_layout and any(c.name.startswith(".debug_") for c in mi.module.customs)
            for mi in graph.instances
        ]
        self.simd = simd
        self.inline = inline
        self.host_ends = host_ends
        self._callers: list[CallerInstance] = []  # what `merge.inline_adapters` may inline into
        self._builtins_used = set()
        self.types = TypeInterner()
        self.host_imports: list[HostImport] = []
        self._host_by_key: dict[tuple[object, ...], int] = {}
        self.adapters: dict[int, FuncItem] = {}  # lower index → adapter
        self._start: FuncItem | None = None
        self._start_seqs: list[Instrs] = []
        self.layouts: list[InstanceLayout] = []
        self._builtin_keys: dict[int, tuple[object, ...]] = {}
        self.runtime = RuntimePlan(None)
        self.async_plan = AsyncPlan()
        self.asyncf: AsyncFusion | None = None
        self._fresh_tasks: dict[object, FuncItem] = {}  # adapter/realloc → context wrapper
        self._forward: dict[int, CoreRef] = {}  # lower index → callee core function (no adapter)
        self.foreign = ForeignPlan()
        self._foreign_index: dict[ForeignRef, int] = {}  # fused import index per foreign export
        self._chunks: dict[int, FuncItem] = {}  # late foreign index → start part after it
        self.leafs: LeafFuncs | None = None  # set when generated code is emitted
        self._sites: SitesSeen = {}  # bodies the may-leave analysis scanned, for the rewrite
        self._start_tables: set[int] = set()  # tables a start part after part 0 fills

    # -- references → output indices -------------------------------------------------------------
    def func_index(self, ref: CoreRef) -> int:
        if isinstance(ref, DefRef):
            if ref.kind != _FUNC:
                raise LinkError(f"expected a function, found a {ref.kind.name.lower()}")
            return self.layouts[ref.instance].defined(_FUNC, ref.index)
        if isinstance(ref, LoweredRef):
            lowered = self.g.lowers[ref.lower]
            if isinstance(lowered.callee, HostFunc):
                stand_in = self.res.host_call(ref.lower)  # handles translated (resources)
                if stand_in is None and self.asyncf is not None:
                    stand_in = self.asyncf.host_call(ref.lower)  # ends handed over (asynctask)
                return self._host_index(ref.lower) if stand_in is None else stand_in
            forward = self._forward.get(ref.lower)
            if forward is not None:
                return self.func_index(forward)
            adapter = self._fresh_tasks.get(("adapter", ref.lower)) or self.adapters.get(ref.lower)
            if adapter is None:
                raise LinkError(f"internal: adapter for lower {ref.lower} was not planned")
            return adapter.index
        if isinstance(ref, ForeignRef):
            return self._foreign(ref)
        inner = self.res.builtin_func(ref.builtin)  # in-module handle table (pymeld.resources)
        if inner is None and self.asyncf is not None:
            inner = self.asyncf.builtin_func(ref.builtin)  # in-module async state (asyncfuse)
        if inner is not None:
            return inner
        return self.res.task_return(ref.builtin) or self._runtime_builtin(ref.builtin)

    def _runtime_builtin(self, bi: int) -> int:
        """The import of the runtime's built-in ``bi``, re-created by the wrapper."""
        builtin = self.g.builtins[bi]
        key = self._builtin_keys.get(bi) or _builtin_key(builtin)
        if key is not None and key in self._host_by_key:
            return self.host_imports[self._host_by_key[key]].index
        raise UnsupportedFeature(
            f"canonical built-in `{builtin.op}` (component instance "
            f"{self.g.components[builtin.owner].label}) is not supported yet"
        )

    def item_index(self, ref: CoreRef, kind: ExternKind) -> int:
        if kind == _FUNC:
            return self.func_index(ref)
        if isinstance(ref, ForeignRef) and ref.kind == kind:
            return self._foreign(ref)
        if not isinstance(ref, DefRef) or ref.kind != kind:
            raise LinkError(f"expected a core {kind.name.lower()} definition")
        return self.layouts[ref.instance].defined(kind, ref.index)

    def _foreign(self, ref: ForeignRef) -> int:
        """The fused module's import of a foreign instance's export."""
        index = self._foreign_index.get(ref)
        if index is None:
            fi = self.g.foreign[ref.instance]
            raise UnsupportedFeature(
                f"export `{ref.name}` of imported core module instance {fi.label} is needed by "
                "generated code (a handle or async stand-in) that cannot import it"
            )
        return index

    def canon_options(self, opts: CanonOpts) -> at.CanonOptions:
        if isinstance(opts.memory, ForeignRef):
            fi = self.g.foreign[opts.memory.instance]
            exp = fi.sig.export(opts.memory.name)
            if exp is not None and isinstance(exp.desc, MemoryType) and exp.desc.memory64:
                raise UnsupportedFeature(f"{fi.label}: 64-bit memory in canonical options (cm64)")
        elif opts.memory is not None:
            mi = self.g.instances[opts.memory.instance]
            local = opts.memory.index - mi.module.num_imported(_MEMORY)
            if mi.module.memories[local].memory64:
                raise UnsupportedFeature(f"{mi.label}: 64-bit memory in canonical options (cm64)")
        return at.CanonOptions(
            opts.string_encoding,  # type: ignore[arg-type]
            None if opts.memory is None else self.item_index(opts.memory, _MEMORY),
            None if opts.realloc is None else self.func_index(opts.realloc),
            None if opts.post_return is None else self.func_index(opts.post_return),
            opts.is_async,  # passed through only: merge.asyncpass refuses async adapters
            None if opts.callback is None else self.func_index(opts.callback),
        )

    def _runtime_import(self, key: object) -> int:
        """The output import of a resource built-in the runtime keeps (by its import key)."""
        assert isinstance(key, tuple)
        return self.host_imports[self._host_by_key[key]].index

    def _host_index(self, lower: int) -> int:
        lowered = self.g.lowers[lower]
        assert isinstance(lowered.callee, HostFunc)
        key = self._host_import_key(lower)
        assert key is not None
        return self.host_imports[self._host_by_key[key]].index

    @property
    def _task_plan(self) -> TaskPlan | None:
        """The plan of in-module tasks (merge.asynctask), once async is planned and has them."""
        fused = self.async_plan.fused
        return None if fused is None else fused.tasks

    @property
    def _host_syncs(self) -> list[int]:
        """Synchronous lowers of host `async func`s made `async` (merge.asynchostsync)."""
        tp = self._task_plan
        return [] if tp is None else tp.host_syncs

    def _host_import_key(self, lower: int) -> tuple[object, ...] | None:
        """The key of the output import host lower ``lower`` calls (None: not a host one)."""
        lowered = self.g.lowers[lower]
        if not isinstance(lowered.callee, HostFunc):
            return None
        if lower in self._host_syncs:
            return _host_sync_key(lowered)  # made `async` (merge.asynchostsync)
        return (lowered.callee.path, lowered.callee.type, lowered.opts)

    # -- planning -------------------------------------------------------------------------------------
    def _reachable_lowers(self) -> list[int]:
        """Lowers referenced by anything that survives into the output, in index order.

        Built-ins reached on the way are recorded in ``self._builtins_used``.
        """
        return reachable_lowers(self.g, self._builtins_used)

    _builtins_used: set[int]

    def _plan_host_imports(self, lowers: list[int]) -> None:
        names: set[tuple[str, str]] = set()
        self._host_opts: list[CanonOpts | None] = []

        def add(key: tuple[object, ...], hi: HostImport, opts: CanonOpts | None) -> None:
            base, n = hi.name, 2
            while (hi.module, hi.name) in names:
                hi.name, n = f"{base}#{n}", n + 1
            names.add((hi.module, hi.name))
            self._host_by_key[key] = len(self.host_imports)
            self.host_imports.append(hi)  # opts are mapped once indices are final
            self._host_opts.append(opts)

        for li in lowers:
            lowered = self.g.lowers[li]
            hf = lowered.callee
            if not isinstance(hf, HostFunc):
                continue
            key = (hf.path, hf.type, lowered.opts)
            if key in self._host_by_key:
                continue
            module, name = _core_import_name(hf.path)
            hi = HostImport(hf, at.CanonOptions(), module, name, 0, None, key)
            hi.lower_async = lowered.opts.is_async
            add(key, hi, lowered.opts)
        # Async first: fusing it may move every resource handle in-module (merge.asyncres).
        self.async_plan = plan_async(self.g, sorted(self._builtins_used), lowers, self.host_ends)
        fused = self.async_plan.fused
        if self._host_syncs:
            # the synchronous imports only calls made `async` used (asynchostsync): unused
            syncs = set(self._host_syncs)
            used = {self._host_import_key(li) for li in lowers if li not in syncs}
            keys = sorted(self._host_by_key, key=self._host_by_key.__getitem__)
            for k in range(len(keys) - 1, -1, -1):
                hi = self.host_imports[k]
                if keys[k] not in used and hi.func is not None:
                    del self.host_imports[k], self._host_opts[k], keys[k]
                    names.discard((hi.module, hi.name))
            self._host_by_key = {key: k for k, key in enumerate(keys)}
        # Resource built-ins the runtime keeps doing (pymeld.resources.runtime).
        self.runtime = plan_runtime(
            self.g,
            sorted(self._builtins_used),
            lowers,
            inmodule=fused is not None and fused.inmodule_resources,
        )
        for bi in sorted(self._builtins_used):
            builtin = self.g.builtins[bi]
            bkey = _builtin_key(builtin)
            if bkey is None and bi in self.runtime.imports:
                bimp = self.runtime.imports[bi]
                self._builtin_keys[bi] = bkey = ("builtin", bimp.module, bimp.name)
                if bkey not in self._host_by_key:
                    hi = HostImport(
                        None, at.CanonOptions(), bimp.module, bimp.name, 0, bimp.resource
                    )
                    hi.key, hi.op = bkey, bimp.op
                    add(bkey, hi, None)
                continue
            if bkey is None or bkey in self._host_by_key:
                continue
            res = builtin.resource
            assert res is not None and res.host_path is not None
            module, name = _core_import_name(res.host_path)
            drop = HostImport(
                None, at.CanonOptions(), module, f"[resource-drop]{name}", 0, res, bkey
            )
            add(bkey, drop, None)
        # Async built-ins (of the one async instance, or kept by merge.asyncfuse): imports the
        # wrapper re-creates.
        for bi in self.async_plan.builtins:
            builtin = self.g.builtins[bi]
            self._builtin_keys[bi] = bkey = ("async", bi)
            hi = HostImport(None, at.CanonOptions(), ASYNC_MODULE, builtin.op, 0, None, bkey)
            hi.op, hi.builtin = builtin.op, builtin
            mem = CanonOpts(memory=builtin.memory) if builtin.memory is not None else None
            add(bkey, hi, builtin.opts or mem)
        fused = self.async_plan.fused
        if fused is not None:  # the context slots adapters save, zero and restore
            for vt, slot in fused.context:
                for op in ("context.get", "context.set"):
                    ctx = Builtin(op, 0, valtype=vt, index=slot)
                    bkey = ("async-context", op, vt, slot)
                    hi = HostImport(None, at.CanonOptions(), ASYNC_MODULE, op, 0, None, bkey)
                    hi.op, hi.builtin = op, ctx
                    add(bkey, hi, None)
        tasks = self._task_plan
        for li in self._host_syncs:  # lowered `async` (asynchostsync)
            lowered = self.g.lowers[li]
            assert isinstance(lowered.callee, HostFunc)
            skey = _host_sync_key(lowered)
            if skey in self._host_by_key:
                continue
            module, name = _core_import_name(lowered.callee.path)
            hi = HostImport(lowered.callee, at.CanonOptions(), module, name, 0, None, skey)
            hi.lower_async = True
            add(skey, hi, None if _in_task_memory(hi) else lowered.opts)
        if tasks is not None and (tasks.host_subtasks or tasks.host_syncs):
            from pymeld.merge.asynchost import runtime_builtins

            for rb in runtime_builtins():  # the runtime's, for host subtasks (asynchost)
                bkey = ("async-host", rb.op)
                hi = HostImport(None, at.CanonOptions(), ASYNC_MODULE, rb.op, 0, None, bkey)
                hi.op, hi.builtin = rb.op, rb
                add(bkey, hi, None)
        for bimp in self.runtime.extra:  # runtime-boundary `new/rep/drop` (pymeld.resources)
            bkey = ("builtin", bimp.module, bimp.name)
            if bkey not in self._host_by_key:
                hi = HostImport(None, at.CanonOptions(), bimp.module, bimp.name, 0, bimp.resource)
                hi.key, hi.op = bkey, bimp.op
                add(bkey, hi, None)
        for i, hi in enumerate(self.host_imports):
            hi.index = i

    # -- main ---------------------------------------------------------------------------------------
    def run(self) -> MergeResult:
        g = self.g
        lowers = self._reachable_lowers()
        self._plan_host_imports(lowers)
        self.foreign = plan_foreign(g, self._foreign_needs(lowers), self._lowered_by_wrapper)
        imported = {k: 0 for k in ExternKind}
        imported[ExternKind.FUNC] = len(self.host_imports)
        for ref in self.foreign.imports:
            self._foreign_index[ref] = imported[ref.kind]
            imported[ref.kind] += 1
        modules = [mi.module for mi in g.instances]
        first = memory_first(modules, self._keep_layout, imported[ExternKind.MEMORY])
        self.layouts, totals = lay_out(modules, imported, first)
        plan = self.plan = Plan(
            {
                Space.FUNC: totals["func"],
                Space.GLOBAL: totals["global"],
                Space.MEMORY: totals["memory"],
            },
            simd=self.simd,
        )
        if self.async_plan.fused is not None:  # resources and waitables numbered together
            from pymeld.resources.space import plan_spaces

            plan_spaces(plan, self.async_plan.fused.shared)
        cross = [li for li in lowers if isinstance(g.lowers[li].callee, Lifted)]
        # No "may enter" flags: wasmtime (the oracle) checks no re-entrance on synchronous
        # calls between instances, only that an instance does not lower its own lift (the
        # same-instance trap below). tests/fusion/wast/reentrance.wast pins both.
        self.leave = self._plan_leave(cross, lowers)
        self._check_early_calls()
        for li in cross:
            if self._forwards(li):
                self._forward[li] = g.lowers[li].callee.core_func  # type: ignore[union-attr]
            else:
                self.adapters[li] = plan.add_func("adapter", li, partial(self._adapter, li))
        self.res = ResourceFusion(
            g,
            self.runtime,
            plan,
            Lookups(
                self.func_index,
                self._runtime_import,
                self._host_index,
                lambda opts: self.canon_options(opts).memory,
                self._runtime_builtin,
            ),
        )
        syncs = set(self._host_syncs)
        # (host `async func`s lowered synchronously made `async`: `merge.asynchostvals`)
        self.res.plan(sorted(self._builtins_used), cross, [li for li in lowers if li not in syncs])
        self.res.plan_task_returns(sorted(self._builtins_used))
        if self.async_plan.fused is not None:
            self._plan_async(cross)
        parts = self._start_parts()
        if 0 in parts:
            self._start = plan.add_func("start", "start", partial(self._start_code, 0))
        for c, k in enumerate(self.foreign.late, 1):
            if c in parts:
                self._chunks[k] = plan.add_func("start", ("after", k), partial(self._start_code, c))
        plan.freeze()

        out = Module()
        # types: each distinct module once
        type_maps: dict[int, list[int]] = {}
        for mi in g.instances:
            if mi.module_id not in type_maps:
                type_maps[mi.module_id] = self.types.add_module(mi.module)

        # host imports (types interned from their lowered core signature)
        for hi, opts in zip(self.host_imports, self._host_opts):
            if opts is not None:
                hi.opts = self._guarded(self.canon_options(opts), opts)
            elif _host_subtask_wait(hi) or _in_task_memory(hi):  # in the task records' memory
                assert self.asyncf is not None and self.asyncf.tasks is not None
                hi.opts = at.CanonOptions(memory=self.asyncf.tasks.mem("tasks"))
            params, results = hi.core_signature()
            tidx = self.types.func_type(params, results)
            out.imports.append(Import(hi.module, hi.name, FuncImport(tidx)))
        self._foreign_imports(out)

        self._start_seqs = self._copy_instances(out, type_maps)
        self._emit_plan(out)
        exports = self._emit_exports(out)
        self._emit_foreign_exports(out)
        for rr in self.runtime.resources:
            if rr.dtor_export is not None and rr.resource.dtor is not None:
                dtor = self.res.runtime_dtor(rr.resource)
                out.exports.append(Export(rr.dtor_export, ExternKind.FUNC, dtor))
        out.types = self.types.groups
        if self.asyncf is not None and self.asyncf.tasks is not None:
            self.asyncf.tasks.suspend(out)  # stacks that unwind in `thread.yield`
        inlined: dict[str, int] = {}
        if self.inline and self.asyncf is None:
            # Not beside in-module async state: `merge.unwind` rewrites callers and
            # `asynctask` names the adapters as unwind barriers.
            from pymeld.merge.devirt import devirtualize
            from pymeld.merge.inline_adapters import inline_adapters

            adapters = [item.index for item in self.adapters.values()]
            direct = devirtualize(out, self._callers, self._start_tables, set(adapters))
            inlined = inline_adapters(out, adapters, self._callers, plan.bases[Space.FUNC])
            inlined["indirect_calls_made_direct"] = direct
        if any(d.mode == SegmentMode.PASSIVE for d in out.datas):
            out.data_count = len(out.datas)
        result = MergeResult(out, self.host_imports, exports, list(g.exports))
        result.runtime = self.runtime
        result.foreign = self.foreign
        result.stats = {
            "module_instances": len(g.instances),
            "functions": len(out.funcs) + out.num_imported(ExternKind.FUNC),
            "adapters": len(cross),
            "host_imports": len(self.host_imports),
            **inlined,
        }
        tp = self._task_plan
        if tp is not None and tp.host_handovers:
            result.stats[HOST_HANDOVERS] = list(tp.host_handovers)
        return result

    # -- imported modules' instances (pymeld.merge.foreign) ------------------------------------------
    def _foreign_needs(self, lowers: list[int]) -> dict[ForeignRef, str]:
        """Every foreign export the fused code uses, with the first use (for messages). A root
        export lifting a foreign function is lifted by the wrapper from the foreign instance
        itself, unless its handles need a stand-in in the fused module."""
        g = self.g
        needed: dict[ForeignRef, str] = {}

        def need(ref: CoreRef | None, use: str) -> None:
            if isinstance(ref, ForeignRef):
                needed.setdefault(ref, use)

        def opts(o: CanonOpts, use: str) -> None:
            for ref in (o.memory, o.realloc, o.post_return, o.callback):
                need(ref, use)

        for mi in g.instances:
            for ref in mi.imports:
                need(ref, mi.label)
        for li in lowers:
            lowered = g.lowers[li]
            use = f"a canon lower in {g.components[lowered.owner].label}"
            opts(lowered.opts, use)
            if isinstance(lowered.callee, Lifted):
                need(lowered.callee.core_func, use)
                opts(lowered.callee.opts, use)
        for bi in sorted(self._builtins_used):
            b = g.builtins[bi]
            use = f"canon {b.op} in {g.components[b.owner].label}"
            if b.resource is not None:
                need(b.resource.dtor, use)
            if b.opts is not None:
                opts(b.opts, use)
        for lf in _exported_lifts(g.exports):
            opts(lf.opts, "a root export")
            if _has_handles(lf.type):
                need(lf.core_func, "a root export with resource handles")
        return needed

    def _lowered_by_wrapper(self, ref: CoreRef) -> int | None:
        """The host import ``ref`` is, when the wrapper can lower it before the fused module
        exists (no memory, realloc, handles or `async`), else None."""
        if not isinstance(ref, LoweredRef):
            return None
        lowered = self.g.lowers[ref.lower]
        o = lowered.opts
        if not isinstance(lowered.callee, HostFunc) or _has_handles(lowered.callee.type):
            return None
        if o.memory or o.realloc or o.post_return or o.callback or o.is_async:
            return None
        return self._host_index(ref.lower)

    def _check_early_calls(self) -> None:
        """A host function the wrapper lowers for an early foreign instance is called without
        the may-leave check the fused code would make: refuse where that check exists."""
        for (k, i), _ in sorted(self.foreign.host.items()):
            fi = self.g.foreign[k]
            if self.leave.checks(fi.owner, fi.imports[i]):  # a guarded realloc may reach it
                imp = fi.sig.imports[i]
                raise UnsupportedFeature(
                    f"imported core module instance {fi.label} calls host function "
                    f"`{imp.module}` `{imp.name}`, which its component instance may not call "
                    "while its realloc runs; the check lives in the fused code, which is "
                    "instantiated after it"
                )

    def _check_direct_lift(self, path: tuple[str, ...], item: Lifted, ref: ForeignRef) -> None:
        """A root export the wrapper lifts straight from a foreign instance gets no stand-in:
        refuse where the fused code would have put one (handles, async ends) or async options
        that would tie the foreign function to fused-code callbacks."""
        stand_in = self.res.export_func(item) is not None or (
            self.asyncf is not None and self.asyncf.export_func(item) is not None
        )
        if stand_in or item.opts.is_async:
            fi = self.g.foreign[ref.instance]
            raise UnsupportedFeature(
                f"root export `{'/'.join(path)}` lifts `{ref.name}` of imported core module "
                f"instance {fi.label} {'with `async`' if item.opts.is_async else 'with handles'}"
                ", which the fused code would have to translate"
            )

    def _foreign_imports(self, out: Module) -> None:
        """The fused module's imports of foreign exports (after the host imports)."""
        tmaps: dict[int, list[int]] = {}
        for ref in self.foreign.imports:
            sig = self.g.foreign[ref.instance].sig
            tmap = tmaps.get(ref.instance)
            if tmap is None:
                tmap = tmaps[ref.instance] = self.types.add_module(sig.stub)
            exp = sig.export(ref.name)
            assert exp is not None
            out.imports.append(
                Import(module_name(ref.instance), ref.name, _remap_desc(exp.desc, tmap))
            )

    def _emit_foreign_exports(self, out: Module) -> None:
        """What late foreign instances import from the fused code, and the start parts the
        wrapper runs after them, as exports of the fused module."""
        for k in self.foreign.late:
            fi = self.g.foreign[k]
            for i, (imp, ref) in enumerate(zip(fi.sig.imports, fi.imports)):
                if isinstance(ref, ForeignRef):
                    continue  # the wrapper passes it from that instance directly
                guarded = self.leave.index(ref, fi.owner, False)
                index = guarded if guarded is not None else self.item_index(ref, imp.kind)
                name = f"{module_name(k)}/{i}"
                out.exports.append(Export(name, imp.kind, index))
                self.foreign.provided[(k, i)] = name
            chunk = self._chunks.get(k)
            if chunk is not None:
                name = f"[start-after]{module_name(k)}"
                out.exports.append(Export(name, ExternKind.FUNC, chunk.index))
                self.foreign.resume[k] = name

    def _start_parts(self) -> set[int]:
        """The parts of the start sequence that will hold code (`_copy_instances` order)."""
        parts: set[int] = set()
        ran = False
        for mi in self.g.instances:
            c = self.foreign.chunk_of(mi.index)
            m = mi.module
            active = any(d.mode == SegmentMode.ACTIVE for d in m.datas) or any(
                e.mode == SegmentMode.ACTIVE for e in m.elems
            )
            if (ran or c > 0) and active:
                parts.add(c)
            if m.start is not None:
                parts.add(c)
                ran = True
        return parts

    def _emit_plan(self, out: Module) -> None:
        """Append every planned global, memory and function, in index order."""
        plan = self.plan
        from pymeld.merge.inline import LeafFuncs

        # adapters inline small leaf reallocs
        self.leafs = LeafFuncs(out, plan.bases[Space.FUNC], self.types.groups)
        for gi in plan.globals():
            out.globals.append(Global(GlobalType(NumType.I32, True), const_i32(gi.init)))
        for _ in plan.memories():
            out.memories.append(MemoryType(Limits(0)))
        imported = out.num_imported(ExternKind.FUNC)  # (a scan of the imports: not per function)
        for fi in plan.funcs():
            assert fi.build is not None, f"generated function {fi.group}:{fi.key!r} has no code"
            code = fi.build()
            out.funcs.append(self.types.func_type(_nums(code.params), _nums(code.results)))
            out.codes.append(Code(_local_runs(code.locals), code.body))
            assert imported + len(out.funcs) - 1 == fi.index
        assert out.num_imported(ExternKind.FUNC) == imported
        if self._start is not None:
            out.start = self._start.index

    def _own_transfer(self, t: at.Own, src: int, dst: int) -> FuncItem:
        """An own handle moving in a stream/future copy: both tables must be in-module."""
        r = t.resource
        h = self.runtime.host_instance
        if (
            not isinstance(r, ResourceType)
            or h in (src, dst)
            or (r.host_path is not None and not self.runtime.inmodule)
        ):
            raise UnsupportedFeature(
                f"own handle {t!r} in a stream/future payload moving between the runtime's "
                "handle table and an in-module one (not fused)"
            )
        from pymeld.resources.tables import OWN

        return self.res.tables.transfer(r, OWN, src, dst)

    def _plan_async(self, cross: list[int]) -> None:
        """Stage-1 async state (merge.asyncfuse): tables, stand-ins, transfers, and a fresh
        task's context slots around every adapter and every realloc it runs."""
        fused = self.async_plan.fused
        assert fused is not None
        from pymeld.merge.asyncfuse import AsyncFusion, AsyncLookups

        self.asyncf = af = AsyncFusion(
            self.g,
            self.plan,
            fused,
            AsyncLookups(
                lambda bi: (
                    self.res.task_return(bi)
                    or self.host_imports[self._host_by_key[("async", bi)]].index
                ),
                lambda op, vt, slot: (
                    self.host_imports[self._host_by_key[("async-context", op, vt, slot)]].index
                ),
                self._builtin_memory,
                lambda lf: self.res.export_func(lf) or self.func_index(lf.core_func),
                self.func_index,  # type: ignore[arg-type]
                self._edge_opts,
                self._own_transfer,
                self._host_index,
                lambda op: self.host_imports[self._host_by_key[("async-host", op)]].index,
            ),
        )
        af.plan(_exported_lifts(self.g.exports))
        if af.tasks is not None:
            from pymeld.merge.asyncres import scoped_edges

            scoped = scoped_edges(af.tasks.tp)
            if scoped:  # borrows lent to in-module tasks: scoped to the task
                self.res.plan_task_borrows(scoped)
                af.tasks.borrow_scopes = self.res.tables
                af.tasks.scoped = frozenset(scoped)
            if af.tasks.host is not None:  # handles among async host imports' values
                af.tasks.host.plan_values(lambda: self.res.tables)
        from pymeld.abi.layout import flatten_async_functype, flatten_functype

        for li in cross:
            lowered = self.g.lowers[li]
            callee = lowered.callee
            assert isinstance(callee, Lifted)
            if lowered.owner == callee.owner:
                continue
            af.plan_edge(callee.type, lowered.owner, callee.owner)
            if not fused.context:
                continue
            core = (
                flatten_async_functype(callee.type, "lower")
                if lowered.opts.is_async
                else flatten_functype(callee.type, "lower")
            )
            self._fresh_tasks[("adapter", li)] = af.fresh_context(
                ("adapter", li), core.params, core.results, partial(self._adapter_index, li)
            )
            for side, opts in (("caller", lowered.opts), ("callee", callee.opts)):
                if opts.realloc is None:
                    continue
                self._fresh_tasks[("realloc", li, side)] = af.fresh_context(
                    ("realloc", li, side),
                    ("i32", "i32", "i32", "i32"),
                    ("i32",),
                    partial(self._realloc_index, opts),
                )

    def _builtin_memory(self, b: Builtin) -> int:
        assert b.memory is not None
        return self.item_index(b.memory, ExternKind.MEMORY)

    def _export_target(self, item: Lifted) -> int:
        """The core function a root export calls: a stand-in translating handles, if any."""
        if self.asyncf is not None:
            f = self.asyncf.export_func(item)
            if f is not None:
                return f
        return self.res.export_func(item) or self.func_index(item.core_func)

    def _adapter_index(self, li: int) -> int:
        return self.adapters[li].index

    def _realloc_index(self, opts: CanonOpts) -> int:
        realloc = self._guarded(self.canon_options(opts), opts).realloc
        assert realloc is not None
        return realloc

    # -- adapters -----------------------------------------------------------------------------------
    def _owner_of(self, ref: CoreRef) -> int | None:
        """Component instance whose code ``ref`` is (None if not a plain definition or an
        imported module's function)."""
        if isinstance(ref, ForeignRef):
            return self.g.foreign[ref.instance].owner
        return self.g.instances[ref.instance].owner if isinstance(ref, DefRef) else None

    def _plan_leave(self, cross: list[int], lowers: list[int]) -> LeaveGuards:
        """Flags and guards for every realloc/post-return run on an instance's behalf."""
        from pymeld.abi.layout import flatten_functype

        leave = LeaveGuards(self.plan, self.func_index)
        calls: CallsCache = {}  # each body scanned once, whatever reaches it
        reached: dict[CoreRef, set[CoreRef] | None] = {}  # each function followed once

        def plan(target: CoreRef | None, sig: Signature = REALLOC_SIG) -> None:
            """``target`` runs with its instance's flag clear: guard it if it may call out."""
            owner = None if target is None else self._owner_of(target)
            if owner is None:
                return
            assert target is not None
            if target in reached:
                calls_out = reached[target]
            else:
                calls_out = reached[target] = reach(self.g, target, calls, self._sites)
            if calls_out is None or calls_out:
                leave.plan_cleared(target, owner, sig, calls_out)

        for li in lowers:
            lowered = self.g.lowers[li]
            plan(lowered.opts.realloc)
            if isinstance(lowered.callee, Lifted) and li in cross:
                plan(lowered.callee.opts.realloc)
        for lf in _exported_lifts(self.g.exports):
            plan(lf.opts.realloc)
            # the host runs a root export's post-return with the flag clear (wasmtime's
            # `call_post_return`, the spec's `canon_lift`): its calls out trap; an adapter runs
            # the callee's post-return with it set, so only root exports get this guard
            if lf.opts.post_return is not None:
                plan(lf.opts.post_return, (list(flatten_functype(lf.type, "lift").results), []))
        users = [(mi.owner, mi.imports) for mi in self.g.instances]
        users += [(fi.owner, fi.imports) for fi in self.g.foreign]
        for owner, refs in users:
            for ref in refs:
                if isinstance(ref, LoweredRef) and isinstance(
                    self.g.lowers[ref.lower].callee, HostFunc
                ):
                    hf = self.g.lowers[ref.lower].callee
                    sign = (
                        async_lower_signature
                        if self.g.lowers[ref.lower].opts.is_async
                        else _lower_signature
                    )
                    core = sign(hf.type)
                    sig = ([_VT_NAME[t] for t in core[0]], [_VT_NAME[t] for t in core[1]])
                    leave.plan_call(ref, owner, sig)
                elif isinstance(ref, BuiltinRef) and _builtin_key(self.g.builtins[ref.builtin]):
                    leave.plan_call(ref, owner, (["i32"], []))
        return leave

    def _guarded(self, resolved: at.CanonOptions, opts: CanonOpts) -> at.CanonOptions:
        """Canonical options whose realloc clears its instance's may-leave flag."""
        owner = None if opts.realloc is None else self._owner_of(opts.realloc)
        return resolved if owner is None else self.leave.options(resolved, opts, owner)

    def _forwards(self, li: int) -> bool:
        """The call needs no adapter: `passes_through` values, no guard or post-return, no
        async task state. (wasmtime's adapter for it does nothing observable either.)"""
        from pymeld.abi.adapter import passes_through

        lowered: Lowered = self.g.lowers[li]
        callee = lowered.callee
        assert isinstance(callee, Lifted)
        return (
            lowered.owner != callee.owner
            and not self.leave.checks(lowered.owner, LoweredRef(li))
            and callee.opts.post_return is None
            and not lowered.opts.is_async
            and not callee.opts.is_async
            and self.async_plan.fused is None
            and passes_through(callee.type)
        )

    def _adapter(self, li: int) -> FuncCode:
        from pymeld.abi.adapter import CallGuards, generate_adapter

        lowered: Lowered = self.g.lowers[li]
        callee = lowered.callee
        assert isinstance(callee, Lifted)
        same = lowered.owner == callee.owner
        # borrows lent to an in-module task are the task's (`plan_task_borrows`), not the call's
        scoped = (
            self.asyncf is not None
            and self.asyncf.tasks is not None
            and (li in self.asyncf.tasks.scoped)
        )
        guards = CallGuards(
            same_instance=same,
            may_leave=None if same else self.leave.flag_index(lowered.owner, LoweredRef(li)),
            borrow_scope=None if same or scoped else self.res.borrow_scope(),
        )
        caller_opts = self._guarded(self.canon_options(lowered.opts), lowered.opts)
        callee_opts = self._guarded(self.canon_options(callee.opts), callee.opts)
        ops: ResourceOps | None = None if same else self.res.ops_for(lowered, task=scoped)
        if not same and self.asyncf is not None:
            caller_opts, callee_opts = self._edge_opts(li)
            from pymeld.merge.asyncfuse import EdgeOps

            ops = EdgeOps(ops, self.asyncf.ops(lowered.owner, callee.owner))
        tasks = None if same or self.asyncf is None else self.asyncf.tasks
        edge = None if tasks is None else tasks.edge(li)
        adapter = generate_adapter(
            callee.type,
            caller_opts,
            callee_opts,
            self.func_index(callee.core_func),
            resources=ops,
            guards=guards,
            lower_async=edge is not None and edge.lower_async,
            lift_callback=edge is not None and edge.callback is not None,
            lift_stackful=edge is not None and edge.stackful,
            lift_sync_task=edge is not None and edge.sync_task,
            task=None if tasks is None else tasks.hooks(li),
            leaf=self.leafs,
            simd=self.simd,
            shared=self.plan.shared_func,
        )
        return FuncCode(adapter.params, adapter.results, adapter.locals, adapter.body)

    def _edge_opts(self, li: int) -> tuple[at.CanonOptions, at.CanonOptions]:
        """Caller and callee options of cross edge ``li`` as its adapter uses them: reallocs
        guarded (may-leave) and run as fresh tasks (context slots)."""
        lowered = self.g.lowers[li]
        callee = lowered.callee
        assert isinstance(callee, Lifted)
        caller_opts = self._guarded(self.canon_options(lowered.opts), lowered.opts)
        callee_opts = self._guarded(self.canon_options(callee.opts), callee.opts)
        return (
            self._fresh_realloc(caller_opts, ("realloc", li, "caller")),
            self._fresh_realloc(callee_opts, ("realloc", li, "callee")),
        )

    def _fresh_realloc(self, opts: at.CanonOptions, key: object) -> at.CanonOptions:
        item = self._fresh_tasks.get(key)
        return opts if item is None else replace(opts, realloc=item.index)

    # -- copying instances --------------------------------------------------------------------------
    def _copy_instances(self, out: Module, type_maps: dict[int, list[int]]) -> list[Instrs]:
        """Append every instance's definitions with bodies rewritten; returns start sequences."""
        start_seqs: list[Instrs] = []
        typed: dict[int, bool] = {}  # per module: does a local have a concrete reference type
        deferred = False  # once some code has run at instantiation, segments must be ordered
        all_maps = [
            self._index_maps(mi.index, lay, type_maps[mi.module_id])
            for mi, lay in zip(self.g.instances, self.layouts)
        ]
        only_exported: dict[int, frozenset[int]] = {}  # per module (merge.funcrefs)
        for mi in self.g.instances:
            if mi.module_id not in only_exported:
                only_exported[mi.module_id] = export_only(mi.module)
        refs: list[set[int] | None] = [
            set() if only_exported[mi.module_id] else None for mi in self.g.instances
        ]  # per instance: the functions its code `ref.func`s (found by the body rewrite)
        rewritten = rewrite_all(
            [
                ([c.body for c in mi.module.codes], maps, mi.label)
                for mi, maps in zip(self.g.instances, all_maps)
            ],
            self._sites,
            refs,
        )
        adapters = {item.index for item in self.adapters.values()}
        undeclared: set[int] = set()
        memories: list[tuple[int, list[MemoryType]]] = []  # (base, memories) per instance
        for mi, lay, maps, bodies, found in zip(
            self.g.instances, self.layouts, all_maps, rewritten, refs
        ):
            m = mi.module
            funcs, tables = maps.func, maps.table
            assert isinstance(funcs, list) and isinstance(tables, list)
            self._callers.append(
                CallerInstance(
                    lay.func,
                    len(m.funcs),
                    {
                        j: f
                        for j, f in enumerate(funcs[: m.num_imported(ExternKind.FUNC)])
                        if f in adapters
                    },
                    any(c.name.startswith(".debug_") for c in m.customs),
                    tuple(tables),
                )
            )
            tmap = type_maps[mi.module_id]
            seq = Instrs()
            # after a late foreign instance, segments wait for their part of the start sequence
            deferred = deferred or self.foreign.chunk_of(mi.index) > 0
            file = mi.label
            out.funcs.extend(tmap[t] for t in lay.placed(m.funcs))
            for t in m.tables:
                tt = _remap_table(t, maps)
                out.tables.append(tt)
            memories.append((lay.memory, m.memories))
            for tag in m.tags:
                out.tags.append(type(tag)(tmap[tag.type_index], tag.attribute))
            for gl in m.globals:
                out.globals.append(
                    type(gl)(
                        type(gl.type)(
                            ins.remap_valtype(gl.type.content, tmap.__getitem__),
                            gl.type.mutable,
                        ),
                        ins.rewrite_const_expr(gl.init, maps, file=file),
                    )
                )
            typed_locals = typed.get(mi.module_id)
            if typed_locals is None:
                typed_locals = typed[mi.module_id] = _has_typed_locals(m)
            keep = self._keep_layout[mi.index]
            for code, body in zip(lay.placed(m.codes), lay.placed(bodies)):
                # a kept layout keeps a padded body size too (`encode` widens it if it must)
                width = code.size_width if keep else None
                if not typed_locals:  # nothing to remap (the usual case): the same locals
                    out.codes.append(Code(list(code.locals), body, width, code.locals_raw))
                    continue
                locals_ = [Local(lc.count, _remap_vt(lc.type, tmap)) for lc in code.locals]
                raw = code.locals_raw if locals_ == code.locals else None
                out.codes.append(Code(locals_, body, width, raw))
            elems, datas = lay.segments("elem", len(m.elems)), lay.segments("data", len(m.datas))
            for i, e in enumerate(m.elems):
                if deferred and e.mode == SegmentMode.ACTIVE and self.foreign.chunk_of(mi.index):
                    self._start_tables.add(tables[e.table])  # filled after a foreign instance
                out.elems.append(copy_elem(e, maps, elems[i], deferred, seq, file))
            for i, d in enumerate(m.datas):
                out.datas.append(copy_data(d, maps, datas[i], deferred, seq, file))
            if m.start is not None:
                seq.call(
                    lay.defined(ExternKind.FUNC, m.start)
                    if m.start >= lay.imported.get(ExternKind.FUNC, 0)
                    else self.func_index(mi.imports[_import_pos(m, ExternKind.FUNC, m.start)])
                )
                deferred = True
            start_seqs.append(seq)
            if found:  # those only its exports declare: the fused module drops them
                undeclared.update(funcs[f] for f in found & only_exported[mi.module_id])
        for _, mems in sorted(memories, key=lambda bm: bm[0]):  # in index order (`lay_out`)
            out.memories.extend(mems)
        if undeclared:  # declared only by exports the fused module drops (merge.funcrefs)
            out.elems.append(Elem(SegmentMode.DECLARATIVE, funcs=sorted(undeclared)))
        return start_seqs

    def _index_maps(self, inst: int, lay: InstanceLayout, tmap: list[int]) -> ins.IndexMaps:
        mi = self.g.instances[inst]
        imported: dict[ExternKind, list[int]] = {k: [] for k in _KINDS}
        for imp, ref in zip(mi.module.imports, mi.imports):
            guarded = self.leave.index(ref, mi.owner, False)
            imported[imp.kind].append(
                guarded if guarded is not None else self.item_index(ref, imp.kind)
            )
        m = mi.module
        return ins.IndexMaps(
            type=tmap,
            func=imported[ExternKind.FUNC] + lay.definitions(ExternKind.FUNC, len(m.funcs)),
            table=imported[ExternKind.TABLE] + lay.definitions(ExternKind.TABLE, len(m.tables)),
            memory=imported[ExternKind.MEMORY]
            + lay.definitions(ExternKind.MEMORY, len(m.memories)),
            global_=imported[ExternKind.GLOBAL]
            + lay.definitions(ExternKind.GLOBAL, len(m.globals)),
            elem=lay.segments("elem", len(m.elems)),
            data=lay.segments("data", len(m.datas)),
            tag=imported[ExternKind.TAG] + lay.definitions(ExternKind.TAG, len(m.tags)),
            keep_width=self._keep_layout[inst],
        )

    # -- start, exports ----------------------------------------------------------------------
    def _start_code(self, part: int) -> FuncCode:
        """Part ``part`` of the start sequence: the start sequences of the instances between two
        late foreign instances (`pymeld.merge.foreign`), in instantiation order. Part 0 is the
        start function; without foreign instances it is all there is."""
        b = Body([])
        for mi, seq in zip(self.g.instances, self._start_seqs):
            if self.foreign.chunk_of(mi.index) == part:
                b.extend(seq)
        b.end()
        return FuncCode((), (), (), bytes(b.code))

    def _emit_exports(self, out: Module) -> list[FuncExport]:
        exports: list[FuncExport] = []
        used: set[str] = set()
        mem_names: dict[int, str] = {}
        func_names: dict[int, str] = {}

        def walk(path: tuple[str, ...], item: ExportItem) -> None:
            if isinstance(item, Lifted):
                opts = self._guarded(self.canon_options(item.opts), item.opts)
                post_owner = (
                    None if item.opts.post_return is None else self._owner_of(item.opts.post_return)
                )
                if post_owner is not None:
                    opts = self.leave.post_return(opts, item.opts, post_owner)
                if self.asyncf is not None and (cb := self.asyncf.export_callback(item)):
                    opts = replace(opts, callback=cb)  # a driven root (asyncroot)
                ref = item.core_func
                if isinstance(ref, ForeignRef) and ref not in self._foreign_index:
                    self._check_direct_lift(path, item, ref)
                    exports.append(FuncExport(path, item, ref.name, -1, opts, ref))
                    return
                idx = self._export_target(item)
                name = path[0] if len(path) == 1 else f"{'/'.join(path[:-1])}#{path[-1]}"
                used.add(name)
                out.exports.append(Export(name, ExternKind.FUNC, idx))
                exports.append(FuncExport(path, item, name, idx, opts))
            elif isinstance(item, InstanceExport):
                for n, sub in item.exports:
                    walk((*path, n), sub)
            elif isinstance(item, TypeExport | ModuleExport | HostModuleExport | HostFunc):
                # Types, modules and re-exported host functions involve no fused code: the
                # wrapper exports them directly; a core module has no form for them.
                return

        for name, item in self.g.exports:
            walk((name,), item)
        # Memories and helpers the wrapper's canon lift needs (and a core-level caller too).
        for fe in exports:
            o = fe.opts
            if o.memory is not None and o.memory not in mem_names:
                mem_names[o.memory] = "memory" if not mem_names else f"memory{len(mem_names)}"
            if o.realloc is not None and o.realloc not in func_names:
                func_names[o.realloc] = _unique("cabi_realloc", used)
            if o.post_return is not None and o.post_return not in func_names:
                func_names[o.post_return] = _unique(f"cabi_post_{fe.core_name}", used)
            if o.callback is not None and o.callback not in func_names:
                func_names[o.callback] = _unique(f"cabi_callback_{fe.core_name}", used)
        for hi in self.host_imports:
            o = hi.opts
            if o.memory is not None and o.memory not in mem_names:
                mem_names[o.memory] = "memory" if not mem_names else f"memory{len(mem_names)}"
            if o.realloc is not None and o.realloc not in func_names:
                func_names[o.realloc] = _unique("cabi_realloc", used)
        for idx, name in sorted(mem_names.items()):
            out.exports.append(Export(name, ExternKind.MEMORY, idx))
        for idx, name in sorted(func_names.items()):
            out.exports.append(Export(name, ExternKind.FUNC, idx))
        self._mem_names = mem_names
        self._func_names = func_names
        return exports


def merge(
    graph: FlatGraph,
    *,
    simd: bool = True,
    inline_adapters: bool = True,
    host_ends: bool = False,
    dwarf_layout: bool = False,
) -> MergeResult:
    """Merge ``graph``'s module instances into one module; ``simd`` and ``inline_adapters``:
    see `FuseOptions`; ``host_ends``: see `merge.asynctask.plan_tasks` (off, a root
    export handing the host an end beside in-module tasks is refused, which is what
    `--keep-async-boundaries` splits at); ``dwarf_layout``: the code of instances with DWARF
    keeps its layout where it can (`merge.layout`), for a remap of their DWARF."""
    m = Merger(graph, simd, inline_adapters, host_ends, dwarf_layout)
    result = m.run()
    result.memory_exports = m._mem_names
    result.func_exports = m._func_names
    result.layouts = m.layouts
    result.adapters = {li: item.index for li, item in m.adapters.items()}
    result.direct = {li: m.func_index(ref) for li, ref in m._forward.items()}
    return result


# -- helpers ------------------------------------------------------------------------------------------


def _host_sync_key(lowered: Lowered) -> tuple[object, ...]:
    """The import key of a synchronous lower of a host `async func` made `async`: shared by
    the lowers whose result goes to the task records' memory, else by equal options."""
    from pymeld.merge.asynchostsync import in_task_memory

    hf = lowered.callee
    assert isinstance(hf, HostFunc)
    return ("host-sync", hf.path, hf.type, None if in_task_memory(hf.type) else lowered.opts)


def _in_task_memory(hi: HostImport) -> bool:
    """Whether ``hi`` is a synchronously lowered host `async func` made `async` whose flat
    result goes to its proxy's record (`merge.asynchostsync`)."""
    key = hi.key
    if not (isinstance(key, tuple) and key[:1] == ("host-sync",) and hi.func is not None):
        return False
    from pymeld.merge.asynchostsync import in_task_memory

    return in_task_memory(hi.func.type)


def _host_subtask_wait(hi: HostImport) -> bool:
    """Whether ``hi`` is the runtime's `waitable-set.wait/poll` for host subtasks
    (`asynchost`)."""
    return (
        isinstance(hi.key, tuple)
        and hi.key[:1] == ("async-host",)
        and hi.op in ("waitable-set.wait", "waitable-set.poll")
    )


def _has_handles(ft: at.FuncType) -> bool:
    def has(t: object) -> bool:
        return isinstance(t, at.Own | at.Borrow) or any(has(c) for c in at.children(t))

    return any(has(t) for t in at.children(ft))


def _remap_desc(desc: ImportDesc, tmap: list[int]) -> ImportDesc:
    """A foreign export's type (`ModuleSig`) with type indices moved to the output."""
    if isinstance(desc, FuncImport):
        return FuncImport(tmap[desc.type_index])
    if isinstance(desc, TagType):
        return TagType(tmap[desc.type_index], desc.attribute)
    if isinstance(desc, TableType):
        return TableType(_remap_vt(desc.element, tmap), desc.limits)
    if isinstance(desc, GlobalType):
        return GlobalType(_remap_vt(desc.content, tmap), desc.mutable)
    return desc


def _exported_lifts(items: list[tuple[str, ExportItem]]) -> list[Lifted]:
    out: list[Lifted] = []
    for _, item in items:
        if isinstance(item, Lifted):
            out.append(item)
        elif isinstance(item, InstanceExport):
            out.extend(_exported_lifts(item.exports))
    return out


def _core_import_name(path: tuple[str, ...]) -> tuple[str, str]:
    """Core import (module, name) for a host item, as wit-component names them."""
    if len(path) == 1:
        return "$root", path[0]
    return path[0], "/".join(path[1:])


def _builtin_key(builtin: Builtin) -> tuple[object, ...] | None:
    """Host-resource drops stay imports of the output; other built-ins are fused."""
    res = builtin.resource
    if builtin.op == "resource.drop" and res is not None and res.host_path is not None:
        return ("resource.drop", res.id)
    return None


def _unique(name: str, used: set[str]) -> str:
    base, n = name, 1
    while name in used:
        n += 1
        name = f"{base}{n}"
    used.add(name)
    return name


def _lower_signature(ft: at.FuncType) -> tuple[list[NumType], list[NumType]]:
    from pymeld.abi.layout import flatten_functype

    core = flatten_functype(ft, "lower")
    return [_VT[p] for p in core.params], [_VT[r] for r in core.results]


def _import_pos(m: Module, kind: ExternKind, index: int) -> int:
    """Position in ``m.imports`` of the ``index``-th import of ``kind``."""
    n = 0
    for pos, imp in enumerate(m.imports):
        if imp.kind == kind:
            if n == index:
                return pos
            n += 1
    raise LinkError(f"import index {index} out of range")


def _nums(ts: tuple[CoreValType, ...]) -> list[NumType]:
    return [_VT[t] for t in ts]


def _local_runs(ts: tuple[CoreValType, ...]) -> list[Local]:
    """Local declarations: runs of one type."""
    runs: list[Local] = []
    for t in ts:
        if runs and runs[-1].type == _VT[t]:
            runs[-1] = Local(runs[-1].count + 1, _VT[t])
        else:
            runs.append(Local(1, _VT[t]))
    return runs


def _has_typed_locals(m: Module) -> bool:
    """Whether some local of ``m`` has a type index to remap (typed function references, GC)."""
    return any(
        isinstance(lc.type, RefType) and lc.type.heap.index is not None
        for code in m.codes
        for lc in code.locals
    )


if TYPE_CHECKING:

    @overload
    def _remap_vt(t: RefType, tmap: list[int]) -> RefType: ...
    @overload
    def _remap_vt(t: ValType, tmap: list[int]) -> ValType: ...


def _remap_vt(t: ValType, tmap: list[int]) -> ValType:
    """A value/ref type with its concrete type index (if any) moved to the output space."""
    return ins.remap_valtype(t, tmap.__getitem__)


def _remap_table(tbl: Table, maps: ins.IndexMaps) -> Table:
    tt = tbl.type
    assert isinstance(maps.type, list)
    elem = ins.remap_valtype(tt.element, maps.type.__getitem__)
    init = None if tbl.init is None else ins.rewrite_const_expr(tbl.init, maps)
    return type(tbl)(type(tt)(elem, tt.limits), init)
