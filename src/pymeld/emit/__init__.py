"""Output finishing: custom sections (names, producers, features, DWARF policy), attestation,
and reports about the output (validation, Graphviz wiring).

Runs after merge and before encode/wrap; it only adds custom sections, so the code pymeld
produced is untouched by whatever options are chosen here.
"""

from __future__ import annotations

import time
from dataclasses import field
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.codec.core.encode import encode_module_parts
from pymeld.emit.attestation import SECTION, attestation_section, make_record, section_bytes
from pymeld.emit.customs import DWARF_PREFIX, plan_customs

if TYPE_CHECKING:  # annotations only: `pymeld inspect` loads emit.attestation, not the merger
    from typing import Any

    from pymeld.codec.component import model as cm
    from pymeld.graph.model import FlatGraph
    from pymeld.merge.merger import MergeResult

__all__ = ["Finished", "finish_module"]


@dataclass
class Finished:
    """The encoded fused core module (customs and attestation included) and stats to report."""

    core: bytes
    stats: dict[str, Any] = field(default_factory=dict)


def finish_module(
    root: cm.Component,
    graph: FlatGraph,
    merged: MergeResult,
    *,
    inputs: list[tuple[str, bytes]],
    options: dict[str, Any],
    preserve_names: bool,
    dwarf: str,
    attest: bool,
) -> Finished:
    """Set ``merged.module.customs`` and return the module's final encoding.

    ``dwarf`` is the DWARF policy (remap | strip | passthrough); it is recorded in the
    attestation only when an input carries DWARF, since otherwise it changes nothing.
    """
    names = None
    if preserve_names:
        from pymeld.emit.names import build_name_section

        names = build_name_section(graph, merged)
    stats: dict[str, Any] = {}
    remapped = None
    # `pymeld.dwarf` is loaded only for inputs that carry DWARF (as `dwarf.build.has_dwarf`)
    if any(c.name.startswith(DWARF_PREFIX) for mi in graph.instances for c in mi.module.customs):
        options = {**options, "dwarf": dwarf}
        if dwarf == "remap":
            from pymeld.dwarf.build import fused_dwarf, summary

            t = time.perf_counter()
            remapped, dstats = fused_dwarf(graph, merged)
            stats.update(summary(dstats))
            stats["dwarf_remap_ms"] = round((time.perf_counter() - t) * 1000, 1)
    plan = plan_customs(
        graph, root, name_section=names, dwarf_policy=dwarf, remapped_dwarf=remapped
    )
    merged.module.customs = list(plan.sections)
    parts = encode_module_parts(merged.module)  # joined once, with the attestation
    if plan.dropped:
        stats["custom_sections_dropped"] = ", ".join(f"{n} ({c})" for n, c in plan.dropped.items())
    if plan.dwarf == "dropped":
        stats["dwarf"] = "strip: dropped (--dwarf remap keeps it with remapped code offsets)"
    elif plan.dwarf == "kept":
        stats["dwarf"] = "passthrough: kept verbatim, code offsets are NOT remapped"
    if attest:
        # A negative module id is a stand-in for another cluster's instance (pymeld.split).
        elsewhere = {mi.owner for mi in graph.instances if mi.module_id < 0}
        record = make_record(
            inputs=inputs,
            options=options,
            components=[c.label for c in graph.components if c.id not in elsewhere],
            module_instances=[mi.label for mi in graph.instances if mi.module_id >= 0],
            adapters=len(merged.adapters),
        )
        # the plan keeps no input's attestation, so the parts are the module to hash
        assert not any(c.name == SECTION for c in merged.module.customs)
        section = attestation_section(record, parts)
        merged.module.customs.append(section)
        parts.append(section_bytes(section))
    return Finished(b"".join(parts), stats)
