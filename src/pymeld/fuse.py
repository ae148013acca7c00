"""The fusion pipeline: parse → flatten → merge (with adapters) → encode or wrap."""

from __future__ import annotations

import os
import time
import typing
from collections.abc import Callable
from dataclasses import field, fields

from pymeld._dataclass import dataclass
from pymeld.codec.component import model as cm
from pymeld.codec.component.parse import parse_component
from pymeld.errors import PymeldError, UnsupportedFeature
from pymeld.graph.flatten import flatten
from pymeld.graph.model import FlatGraph
from pymeld.merge.merger import merge

if typing.TYPE_CHECKING:
    from typing import TypeAlias

# The aliases are quoted: the `pymeld` process defers `typing` (`pymeld.__main__`), and
# ``typing.get_type_hints(FuseOptions)`` loads it when it resolves them.
#: How memories are laid out in the fused module (see :mod:`pymeld.merge.memory`).
MemoryStrategy: TypeAlias = 'typing.Literal["multi", "shared", "auto"]'
DwarfPolicy: TypeAlias = 'typing.Literal["remap", "strip", "passthrough"]'
DWARF_POLICIES: tuple[DwarfPolicy, ...] = ("remap", "strip", "passthrough")

#: Stages of one fusion, in order, as reported to ``on_stage``.
STAGES = ("parse", "flatten", "merge", "encode", "validate", "verify")


@dataclass(slots=True)  # (few instances, but a misspelt option set on one must fail)
class FuseOptions:
    """How to fuse; every field has a CLI flag of the same name (``_`` → ``-``).

    Attributes:
        component: wrap the fused core module as a single-module component with the
            original's imports and exports (otherwise the output is a core module).
        preserve_names: emit a merged, remapped ``name`` section whose names say which
            module instance each function came from.
        keep_dwarf: alias of ``dwarf="passthrough"``.
        dwarf: DWARF of the inputs: ``"remap"`` its code addresses onto the fused code (the
            default; nothing changes without DWARF), ``"strip"`` it, or ``"passthrough"``
            (copied verbatim, addresses not remapped).
        attestation: add the ``pymeld.attestation`` custom section (inputs' hashes, options,
            the fused code's hash).
        validate: check the output with wasmtime before returning it (needs wasmtime).
        verify: run every export of the input and the output side by side before returning
            (needs wasmtime); a difference raises :class:`~pymeld.errors.PymeldError`.
        verify_timeout: seconds one verify call may run; longer on the input is
            ``not-checked (timeout)``, on the output only a difference.
        memory: ``"multi"`` keeps one memory per module-instance memory; ``"shared"`` puts all
            in one; ``"auto"`` shares only where that is provably sound.
        address_rebase: with ``memory="shared"``/``"auto"``, give each memory its own region
            of the one memory and translate every access.
        opaque_rep: ``IFACE.RESOURCE`` names (one string or several) accepted for meld
            compatibility: checked against the composition and recorded; reps are never read.
        keep_async_boundaries: where fusion refuses a call between component instances (async,
            mostly), keep it as a real component boundary: each cluster of instances that does
            fuse becomes one core module in its own nested component (`pymeld.split`); the
            output is then not fully fused. Needs ``component``. Without a refusal the output
            is the same as without it.
        simd: generated adapters may use WebAssembly's 128-bit vector instructions (UTF-8
            validation of strings of 16 bytes or more, ~1.4x faster string calls); ``False``
            keeps them out for engines without SIMD (the inputs' own code is kept as is).
        inline_adapters: put each small generated adapter (or one whose every reference is a
            call) in place of its calls in the inputs' functions (`pymeld.merge.inline_adapters`;
            wasmtime does not inline calls, and the adapter's call was up to half of a
            cross-component call). First, the constant-slot `call_indirect`s of wit-component's
            shims whose slot provably holds one function become direct calls
            (`pymeld.merge.devirt`), so the adapters behind them are inlined too. ``False``
            keeps every adapter a function of its own and every indirect call.
    """

    component: bool = False
    preserve_names: bool = False
    keep_dwarf: bool = False
    dwarf: DwarfPolicy = "remap"
    attestation: bool = True
    validate: bool = False
    verify: bool = False
    verify_timeout: float = 5.0
    memory: MemoryStrategy = "multi"
    address_rebase: bool = False
    opaque_rep: tuple[str, ...] = ()
    keep_async_boundaries: bool = False
    simd: bool = True
    inline_adapters: bool = True

    def __post_init__(self) -> None:
        # A single name is one resource, not a sequence of one-character names.
        if isinstance(self.opaque_rep, str):
            self.opaque_rep = (self.opaque_rep,)
        else:
            self.opaque_rep = tuple(self.opaque_rep)
        if self.memory not in ("multi", "shared", "auto"):
            raise ValueError(f"memory must be 'multi', 'shared' or 'auto', not {self.memory!r}")
        if self.address_rebase and self.memory == "multi":
            raise ValueError("address_rebase needs memory='shared' or 'auto'")
        if self.keep_async_boundaries and not self.component:
            raise ValueError(
                "keep_async_boundaries needs component=True: kept boundaries are nested "
                "components, which a core module cannot hold"
            )


#: Options that check the output but do not change its bytes: not recorded in the attestation.
CHECK_ONLY = frozenset({"validate", "verify", "verify_timeout"})
#: Recorded only when they change the output (`finish_module` adds ``dwarf`` for DWARF inputs,
#: `_fuse_clusters` ``keep_async_boundaries`` when it kept one).
RECORDED_WHEN_USED = frozenset({"dwarf", "keep_async_boundaries"})


def attested_options(options: FuseOptions) -> dict[str, object]:
    """The options the attestation records (``simd`` and ``inline_adapters`` only when
    switched off, so default outputs read as before)."""
    return {
        f.name: getattr(options, f.name)
        for f in fields(options)
        if f.name not in CHECK_ONLY
        and f.name not in RECORDED_WHEN_USED
        and (f.name not in ("simd", "inline_adapters") or not getattr(options, f.name))
    }


def dwarf_policy(options: FuseOptions) -> str:
    """The effective DWARF policy; ``keep_dwarf`` is an alias of ``passthrough``."""
    if options.dwarf not in DWARF_POLICIES:
        raise PymeldError(
            f"unknown DWARF policy {options.dwarf!r} (one of {', '.join(DWARF_POLICIES)})"
        )
    if options.keep_dwarf:
        if options.dwarf not in ("remap", "passthrough"):
            raise PymeldError(f"--keep-dwarf (passthrough) contradicts --dwarf {options.dwarf}")
        return "passthrough"
    return options.dwarf


def _keeps_dwarf_layout(options: FuseOptions) -> bool:
    """The code of instances with DWARF keeps its layout (`merge.merge`'s ``dwarf_layout``):
    only for a remap, and not when rebasing, which rewrites every memory access anyway."""
    return dwarf_policy(options) == "remap" and not options.address_rebase


@dataclass
class FuseResult:
    """What a fusion gives. `fuse_bytes` makes ``import_map`` and ``explain`` when one of them
    is first read (`_reported_later`): ``pymeld fuse`` reads them only for
    ``--emit-import-map``/``--explain``, and making them (with the modules that do) was ~4 M
    instructions of a small fuse. Reading, comparing, printing, copying or pickling a result
    gives what it would hold had they been made at once."""

    output: bytes
    stats: dict[str, object] = field(default_factory=dict)
    #: imports the fused core module still has, in meld's schema (`--emit-import-map`)
    import_map: dict[str, object] = field(default_factory=dict)
    #: one line per adapter and memory (`--explain`)
    explain: list[str] = field(default_factory=list)

    @classmethod
    def _reported_later(
        cls,
        output: bytes,
        stats: dict[str, object],
        reports: Callable[[], tuple[dict[str, object], list[str]]],
    ) -> FuseResult:
        """A result whose ``import_map`` and ``explain`` are ``reports()``, made when first
        read (until then the instance has neither attribute: `__getattr__` makes both)."""
        result = cls(output, stats)
        del result.import_map, result.explain
        vars(result)["_reports"] = reports
        return result

    def __getstate__(self) -> dict[str, object]:
        """Copies and pickles hold the reports, made if still pending."""
        self.import_map  # noqa: B018 (makes them)
        return dict(vars(self))

    if not typing.TYPE_CHECKING:  # (for mypy, the class has its fields and nothing else)

        def __getattr__(self, name: str) -> object:
            reports = vars(self).get("_reports")
            if reports is None or name not in ("import_map", "explain"):
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            self.import_map, self.explain = reports()
            del vars(self)["_reports"]
            return vars(self)[name]


class Fuser:
    """meld's library shape: configure, add components (optionally named), fuse.

    >>> result = Fuser(FuseOptions(component=True)).add("app.wasm", app).add("lib.wasm", lib).fuse()
    """

    def __init__(self, options: FuseOptions | None = None) -> None:
        self.options = options or FuseOptions()
        self.inputs: list[tuple[str, bytes]] = []

    def add(self, name: str, data: bytes) -> Fuser:
        _require_bytes(data, "Fuser.add")
        self.inputs.append((name, bytes(data)))
        return self

    def fuse(self) -> FuseResult:
        if not self.inputs:
            raise PymeldError("nothing to fuse: add at least one component")
        return fuse_files(self.inputs, options=self.options)


def _require_bytes(data: object, where: str) -> None:
    """A path where bytes belong is a caller's mistake: say so instead of "bad magic"."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"{where} takes the component's bytes, not {type(data).__name__}"
            + (" (read the file first, e.g. Path(p).read_bytes())" if isinstance(data, str) else "")
        )


def _require_component(data: bytes, file: str | None) -> None:
    """Fusion needs a component: a core module or a non-wasm file is a one-line error."""
    name = file or "<input>"
    if data[:4] != b"\0asm":  # the core decoder's words, so `inspect` and `fuse` agree
        from pymeld.codec.core import parse_module

        parse_module(data, file=name)
    if data[4:8] != b"\x0d\x00\x01\x00":
        raise PymeldError(f"{name}: not a component (fusion needs a component, not a core module)")


def fuse_files(
    inputs: list[tuple[str, bytes]],
    *,
    options: FuseOptions | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> FuseResult:
    """Fuse one composed component, or several components wired together by name first."""
    for _name, data in inputs:
        _require_bytes(data, "fuse_files")
    if len(inputs) == 1:
        name, data = inputs[0]
        return fuse_bytes(data, file=name, options=options, on_stage=on_stage)
    from pymeld.codec.component.encode import encode_component
    from pymeld.compose import compose

    parts = []
    for name, data in inputs:
        _require_component(data, name)
        parts.append((name, parse_component(data, file=name)))
    composed = encode_component(compose(parts))
    label = "composition of " + ", ".join(os.path.basename(n) for n, _ in inputs)
    return fuse_bytes(
        composed, file=label, options=options, attest_inputs=inputs, on_stage=on_stage
    )


def fuse_bytes(
    data: bytes,
    *,
    file: str | None = None,
    options: FuseOptions | None = None,
    attest_inputs: list[tuple[str, bytes]] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> FuseResult:
    """Fuse one composed component given as bytes.

    ``on_stage`` is called with each stage name of :data:`STAGES` as it starts (and, during
    verify, with the export and call being run), so a front end can say what is happening.
    """
    _require_bytes(data, "fuse_bytes")
    data = bytes(data)
    options = options or FuseOptions()
    stage = on_stage or (lambda _name: None)
    policy = dwarf_policy(options)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    _require_component(data, file)
    stage("parse")
    root = parse_component(data, file=file)
    times["parse"] = time.perf_counter() - t0
    t = time.perf_counter()
    stage("flatten")
    graph = flatten(root)
    if graph.foreign and not options.component:
        fi = graph.foreign[0]
        raise UnsupportedFeature(
            f"{fi.label} instantiates the imported core module `{'/'.join(fi.path)}`, which a "
            "core module cannot import: fuse it as a component (--component)"
        )
    if options.opaque_rep:
        from pymeld.resources.opaque import check_opaque_reps

        check_opaque_reps(graph, options.opaque_rep)
    times["flatten"] = time.perf_counter() - t
    t = time.perf_counter()
    stage("merge")
    try:
        merged = merge(
            graph,
            simd=options.simd,
            inline_adapters=options.inline_adapters,
            # a root export's end for the host becomes the runtime's at its lift (a component
            # only: the lift is the wrapper's); with kept boundaries it is refused when
            # fusing, so a boundary is kept there instead
            host_ends=options.component and not options.keep_async_boundaries,
            dwarf_layout=_keeps_dwarf_layout(options),
        )
    except UnsupportedFeature:
        if not options.keep_async_boundaries:
            raise
        return _fuse_clusters(data, file, options, attest_inputs, stage, root, graph, times)
    from pymeld.merge.strategy import apply_memory_strategy

    memory = apply_memory_strategy(graph, merged, options.memory, options.address_rebase)
    times["merge"] = time.perf_counter() - t
    t = time.perf_counter()
    stage("encode")
    from pymeld.emit import finish_module

    finished = finish_module(
        root,
        graph,
        merged,
        inputs=[(os.path.basename(n), d) for n, d in attest_inputs]
        if attest_inputs
        else [(os.path.basename(file or "<input>"), data)],
        options=attested_options(options),
        preserve_names=options.preserve_names,
        dwarf=policy,
        attest=options.attestation,
    )
    if options.component or options.verify:  # the wrapper is only loaded when it is used
        from pymeld.codec.component.encode import encode_component
        from pymeld.wrap.wrapper import wrap
    if options.component:
        out = encode_component(wrap(root, graph.root, merged, finished.core))
    else:
        out = finished.core
    times["encode"] = time.perf_counter() - t
    fused = out
    if options.verify and not options.component:
        fused = encode_component(wrap(root, graph.root, merged, finished.core))
    verified = _check(data, out, fused, options, stage, times)
    stats: dict[str, object] = {
        "components": len(graph.components),
        "modules": len({mi.module_id for mi in graph.instances}),
        **merged.stats,
        **memory.stats(),
        **finished.stats,
        **verified,
        "bytes_in": len(data),
        "bytes_out": len(out),
        "times": times,
    }

    def reports() -> tuple[dict[str, object], list[str]]:
        from pymeld.emit.report import explain, import_map

        return import_map(merged.module, graph, merged), explain(graph, merged)

    return FuseResult._reported_later(out, stats, reports)


def _check(
    data: bytes,
    out: bytes,
    fused: bytes,
    options: FuseOptions,
    stage: Callable[[str], None],
    times: dict[str, float],
) -> dict[str, object]:
    """``--validate`` the output and ``--verify`` its component form ``fused`` against ``data``."""
    if options.validate:
        from pymeld.emit.validate import validate

        t = time.perf_counter()
        stage("validate")
        validate(out, component=options.component)
        times["validate"] = time.perf_counter() - t
    verified: dict[str, object] = {}
    if options.verify:
        from pymeld.verify import require_equivalent

        t = time.perf_counter()
        stage("verify")
        verified = require_equivalent(
            data,
            fused,
            timeout=options.verify_timeout,
            on_progress=lambda what: stage(f"verify: {what}"),
        )
        times["verify"] = time.perf_counter() - t
    return verified


def _fuse_clusters(
    data: bytes,
    file: str | None,
    options: FuseOptions,
    attest_inputs: list[tuple[str, bytes]] | None,
    stage: Callable[[str], None],
    root: cm.Component,
    graph: FlatGraph,
    times: dict[str, float],
) -> FuseResult:
    """``keep_async_boundaries`` after a refusal: fuse each cluster on its own (`pymeld.split`)."""
    from pymeld.codec.component.encode import encode_component
    from pymeld.emit import finish_module
    from pymeld.emit.report import explain, import_map
    from pymeld.merge.strategy import apply_memory_strategy
    from pymeld.split import Partitioner, wrap_outer
    from pymeld.wrap.wrapper import wrap

    t = time.perf_counter()
    partition = Partitioner(root, graph).run()
    record = partition.summary(graph)
    attested = {**attested_options(options), "keep_async_boundaries": True}
    inputs = (
        [(os.path.basename(n), d) for n, d in attest_inputs]
        if attest_inputs
        else [(os.path.basename(file or "<input>"), data)]
    )
    stats: dict[str, object] = {}
    maps: list[dict[str, object]] = []
    lines: list[str] = []
    parts = []
    for k, cl in enumerate(partition.clusters):
        merged = merge(
            cl.graph,
            simd=options.simd,
            inline_adapters=options.inline_adapters,
            dwarf_layout=_keeps_dwarf_layout(options),
        )
        memory = apply_memory_strategy(cl.graph, merged, options.memory, options.address_rebase)
        finished = finish_module(
            root,
            cl.graph,
            merged,
            inputs=inputs,
            options=attested,
            preserve_names=options.preserve_names,
            dwarf=dwarf_policy(options),
            attest=options.attestation,
        )
        maps.append(import_map(merged.module, cl.graph, merged))
        lines.extend(f"cluster {k}: {line}" for line in explain(cl.graph, merged))
        comp = wrap(
            root,
            cl.graph.root,
            merged,
            finished.core,
            imports=cl.imports,
            resources=cl.resource_imports,
            named=cl.type_imports,
        )
        parts.append((cl, comp))
        for key, value in {**merged.stats, **memory.stats(), **finished.stats}.items():
            prev = stats.get(key)
            if isinstance(value, int) and isinstance(prev, int):
                stats[key] = prev + value
            else:
                stats.setdefault(key, value)
    out = encode_component(wrap_outer(root, graph, parts, record))
    times["merge"] = time.perf_counter() - t
    verified = _check(data, out, out, options, stage, times)
    kept = record["kept_edges"]
    assert isinstance(kept, list)
    all_stats: dict[str, object] = {
        "components": len(graph.components),
        "modules": len({mi.module_id for mi in graph.instances}),
        **stats,
        "module_instances": len(graph.instances),  # each once, not once per cluster's stand-ins
        "clusters": len(partition.clusters),
        "kept_boundaries": "; ".join(
            f"{e['caller']} -> {e['callee']} ({len(e['calls'])} calls): {e['reason']}" for e in kept
        ),
        **verified,
        "bytes_in": len(data),
        "bytes_out": len(out),
        "times": times,
    }
    return FuseResult(out, all_stats, {"version": 2, "clusters": maps}, lines)


def wrap_fused_core(original: bytes, core: bytes, *, file: str | None = None) -> bytes:
    """``core`` (a fused core module of ``original``) wrapped as ``fuse --component`` does.

    The wrapper is rebuilt by fusing ``original`` again with the options the core's
    attestation records (defaults without one), then the fused module inside it is swapped for
    ``core``. A core fused with other options, or edited, may then not fit its wrapper: the
    component fails to load, which is the answer verify needs.
    """
    from pymeld.codec.component.encode import encode_component
    from pymeld.emit.attestation import find_attestations

    recorded: dict[str, object] = {}
    for a in find_attestations(core, file=file):
        if isinstance(a.record, dict):
            recorded = dict(a.record.get("options") or {})
    known = {f.name for f in fields(FuseOptions)} - CHECK_ONLY - {"component"}
    kwargs = {k: v for k, v in recorded.items() if k in known}
    if "opaque_rep" in kwargs and isinstance(kwargs["opaque_rep"], list):
        kwargs["opaque_rep"] = tuple(kwargs["opaque_rep"])
    wrapper = parse_component(
        fuse_bytes(original, file=file, options=FuseOptions(component=True, **kwargs)).output  # type: ignore[arg-type]
    )
    for section in wrapper.sections:
        if (
            isinstance(section, cm.CoreModuleSection)
            and section.data is not None
            and b"pymeld.attestation" in bytes(section.data)
        ):
            section.replace(core)
            return encode_component(wrapper)
    raise PymeldError("verify: cannot find the fused module in its wrapper (fuse --component)")


__all__ = [
    "STAGES",
    "FuseOptions",
    "FuseResult",
    "MemoryStrategy",
    "attested_options",
    "cm",
    "fuse_bytes",
    "wrap_fused_core",
]
