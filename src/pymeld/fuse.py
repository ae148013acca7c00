"""The fusion pipeline: parse → flatten → merge (with adapters) → encode or wrap."""

from __future__ import annotations

import os
import time
from dataclasses import field, fields

from pymeld._dataclass import dataclass
from pymeld.codec.component import model as cm
from pymeld.codec.component.parse import parse_component
from pymeld.errors import PymeldError
from pymeld.graph.flatten import Flattener
from pymeld.merge.merger import merge


@dataclass(slots=True)
class FuseOptions:
    component: bool = False
    preserve_names: bool = False  # merged, remapped `name` section with provenance prefixes
    keep_dwarf: bool = False  # copy `.debug_*` verbatim (offsets are not remapped)
    attestation: bool = True  # `pymeld.attestation` custom section
    validate: bool = False  # check the output with wasmtime before returning it
    verify: bool = False  # differential run of original vs fused (needs wasmtime)
    memory: str = "multi"  # multi | shared | auto (pymeld.merge.memory)
    address_rebase: bool = False  # shared: each memory in its own region of the one memory
    opaque_rep: tuple[str, ...] = ()  # IFACE.RESOURCE names (checked; reps are never read)


#: Options that check the output but do not change its bytes: not recorded in the attestation.
CHECK_ONLY = frozenset({"validate", "verify"})


def attested_options(options: FuseOptions) -> dict[str, object]:
    return {f.name: getattr(options, f.name) for f in fields(options) if f.name not in CHECK_ONLY}


@dataclass(slots=True)
class FuseResult:
    output: bytes
    stats: dict[str, object] = field(default_factory=dict)
    #: imports the fused core module still has, tagged (`--emit-import-map`)
    import_map: list[dict[str, object]] = field(default_factory=list)
    #: one line per adapter and memory (`--explain`)
    explain: list[str] = field(default_factory=list)


class Fuser:
    """meld's library shape: configure, add components (optionally named), fuse.

    >>> result = Fuser(FuseOptions(component=True)).add("app.wasm", app).add("lib.wasm", lib).fuse()
    """

    def __init__(self, options: FuseOptions | None = None) -> None:
        self.options = options or FuseOptions()
        self.inputs: list[tuple[str, bytes]] = []

    def add(self, name: str, data: bytes) -> Fuser:
        self.inputs.append((name, bytes(data)))
        return self

    def fuse(self) -> FuseResult:
        if not self.inputs:
            raise PymeldError("nothing to fuse: add at least one component")
        return fuse_files(self.inputs, options=self.options)


def fuse_files(
    inputs: list[tuple[str, bytes]], *, options: FuseOptions | None = None
) -> FuseResult:
    """Fuse one composed component, or several components wired together by name first."""
    if len(inputs) == 1:
        name, data = inputs[0]
        return fuse_bytes(data, file=name, options=options)
    from pymeld.codec.component.encode import encode_component
    from pymeld.compose import compose

    parts = []
    for name, data in inputs:
        if data[4:8] != b"\x0d\x00\x01\x00":
            raise PymeldError(f"{name}: not a component (fusion needs components)")
        parts.append((name, parse_component(data, file=name)))
    composed = encode_component(compose(parts))
    label = "composition of " + ", ".join(os.path.basename(n) for n, _ in inputs)
    return fuse_bytes(composed, file=label, options=options, attest_inputs=inputs)


def fuse_bytes(
    data: bytes,
    *,
    file: str | None = None,
    options: FuseOptions | None = None,
    attest_inputs: list[tuple[str, bytes]] | None = None,
) -> FuseResult:
    """Fuse one composed component given as bytes."""
    options = options or FuseOptions()
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    if data[4:8] != b"\x0d\x00\x01\x00":
        raise PymeldError(f"{file or '<input>'}: not a component (fusion needs a component)")
    root = parse_component(data, file=file)
    times["parse"] = time.perf_counter() - t0
    t = time.perf_counter()
    flattener = Flattener(root)
    graph = flattener.run()
    if options.opaque_rep:
        from pymeld.resources.opaque import check_opaque_reps

        check_opaque_reps(graph, options.opaque_rep)
    times["flatten"] = time.perf_counter() - t
    t = time.perf_counter()
    merged = merge(graph)
    from pymeld.merge.memory import apply_memory_strategy

    memory = apply_memory_strategy(graph, merged, options.memory, options.address_rebase)  # type: ignore[arg-type]
    times["merge"] = time.perf_counter() - t
    t = time.perf_counter()
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
        keep_dwarf=options.keep_dwarf,
        attest=options.attestation,
    )
    if options.component or options.verify:  # the wrapper is only loaded when it is used
        from pymeld.codec.component.encode import encode_component
        from pymeld.wrap.wrapper import wrap
    if options.component:
        out = encode_component(wrap(root, flattener, merged, finished.core))
    else:
        out = finished.core
    times["encode"] = time.perf_counter() - t
    if options.validate:
        from pymeld.emit.validate import validate

        t = time.perf_counter()
        validate(out, component=options.component)
        times["validate"] = time.perf_counter() - t
    verified: dict[str, object] = {}
    if options.verify:
        from pymeld.verify import require_equivalent

        t = time.perf_counter()
        fused = (
            out
            if options.component
            else encode_component(wrap(root, flattener, merged, finished.core))
        )
        verified = require_equivalent(data, fused)
        times["verify"] = time.perf_counter() - t
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
    from pymeld.emit.report import explain, import_map

    return FuseResult(out, stats, import_map(merged.module), explain(graph, merged))


__all__ = ["FuseOptions", "FuseResult", "attested_options", "cm", "fuse_bytes"]
