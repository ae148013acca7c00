"""The fused module's remapped DWARF, from the flattened graph and the merge result."""

from __future__ import annotations

from pymeld.codec.core.model import CustomSection, ExternKind, SectionId
from pymeld.dwarf.addrmap import code_indices, instance_maps
from pymeld.dwarf.remap import DwarfInput, DwarfStats, remap_dwarf
from pymeld.graph.model import FlatGraph, ModuleInstance
from pymeld.merge.merger import MergeResult

__all__ = ["DWARF_PREFIX", "fused_dwarf", "has_dwarf", "summary"]

DWARF_PREFIX = ".debug_"


def has_dwarf(graph: FlatGraph) -> bool:
    return any(c.name.startswith(DWARF_PREFIX) for mi in graph.instances for c in mi.module.customs)


def fused_dwarf(graph: FlatGraph, merged: MergeResult) -> tuple[list[CustomSection], DwarfStats]:
    """One remapped copy of each DWARF-carrying instance's units (see `pymeld.dwarf.remap`).

    Must run on the final code (after any memory strategy rewrote bodies): the maps are taken
    from the bodies that will be encoded.
    """
    out = merged.module
    stats = DwarfStats()
    chosen: list[tuple[ModuleInstance, dict[str, bytes], list[int]]] = []
    for mi, lay in zip(graph.instances, merged.layouts):
        secs: dict[str, bytes] = {}
        for c in mi.module.customs:
            if c.name.startswith(DWARF_PREFIX):
                if c.name in secs:
                    stats.instances_dropped.append(f"{mi.label}: two {c.name} sections")
                    secs = {}
                    break
                secs[c.name] = bytes(c.data)
        if secs:
            placed = lay.definitions(ExternKind.FUNC, len(mi.module.funcs))
            chosen.append((mi, secs, code_indices(out, placed)))
    maps = instance_maps([(mi.module, placed) for mi, _, placed in chosen], out)
    inputs = [
        DwarfInput(mi.label, secs, amap, amap.unmapped) for (mi, secs, _), amap in zip(chosen, maps)
    ]
    sections = remap_dwarf(inputs, stats)
    return [CustomSection(name, data, after=SectionId.DATA) for name, data in sections], stats


def summary(stats: DwarfStats) -> dict[str, object]:
    """``--stats`` entries: the policy and what was remapped, dropped or already dead.

    "dropped": the input described that code but it has no exact map in the fused module;
    "dead": the input's linker had already tombstoned it (code it removed). Line rows are
    counted in the sequences kept; the others are counted as sequences (`LineStats`).
    """
    ln = stats.line
    kept = ln.sequences - ln.sequences_dropped - ln.sequences_dead
    out: dict[str, object] = {
        "dwarf": f"remap: {stats.instances} module instance(s), one copy of their units each",
        "dwarf_line_rows": f"{ln.rows} remapped in {kept} kept sequences of {ln.sequences} "
        f"({ln.sequences_dropped} dropped, {ln.sequences_dead} dead)",
        "dwarf_pcs": str(stats.pcs),
        "dwarf_ranges": str(stats.ranges),
        "dwarf_locations": str(stats.locs),
    }
    if stats.aranges.mapped or stats.aranges.dropped or stats.aranges.dead:
        out["dwarf_aranges"] = str(stats.aranges)
    if stats.functions_uncovered:
        out["dwarf_functions_uncovered"] = stats.functions_uncovered
    if stats.sections_dropped:
        out["dwarf_sections_dropped"] = ", ".join(
            f"{n} ({c})" for n, c in sorted(stats.sections_dropped.items())
        )
    if stats.instances_dropped:
        out["dwarf_instances_dropped"] = "; ".join(stats.instances_dropped)
    return out
