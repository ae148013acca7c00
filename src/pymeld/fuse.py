"""The fusion pipeline: parse → flatten → merge (with adapters) → encode or wrap."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pymeld.codec.component import model as cm
from pymeld.codec.component.encode import encode_component
from pymeld.codec.component.parse import parse_component
from pymeld.codec.core.encode import encode_module
from pymeld.errors import PymeldError
from pymeld.graph.flatten import Flattener
from pymeld.merge.merger import merge
from pymeld.wrap.wrapper import wrap


@dataclass(slots=True)
class FuseOptions:
    component: bool = False


@dataclass(slots=True)
class FuseResult:
    output: bytes
    stats: dict[str, object] = field(default_factory=dict)


def fuse_bytes(
    data: bytes, *, file: str | None = None, options: FuseOptions | None = None
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
    times["flatten"] = time.perf_counter() - t
    t = time.perf_counter()
    merged = merge(graph)
    times["merge"] = time.perf_counter() - t
    t = time.perf_counter()
    if options.component:
        out = encode_component(wrap(root, flattener, merged))
    else:
        out = encode_module(merged.module)
    times["encode"] = time.perf_counter() - t
    stats: dict[str, object] = {
        "components": len(graph.components),
        "modules": len({mi.module_id for mi in graph.instances}),
        **merged.stats,
        "bytes_in": len(data),
        "bytes_out": len(out),
        "times": times,
    }
    return FuseResult(out, stats)


__all__ = ["FuseOptions", "FuseResult", "cm", "fuse_bytes"]
