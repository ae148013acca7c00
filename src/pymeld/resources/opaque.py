"""`--opaque-rep IFACE.RESOURCE`: name resources whose rep is an opaque integer.

In meld the flag stops its handle tables from treating a rep as a pointer. pymeld's tables never
interpret a rep (they store it and hand it back, whatever its value, 0 and 0xffffffff included;
tests/resources/wast/boundary.wast), so every resource is already opaque. The flag is kept for
compatibility: each name is checked against the resources the composition really has, so a typo
is an error rather than a silent no-op, and the accepted names are recorded in the attestation.
"""

from __future__ import annotations

from pymeld.errors import LinkError
from pymeld.graph.model import ExportItem, FlatGraph, InstanceExport, ResourceType, TypeExport


def resource_names(graph: FlatGraph) -> set[tuple[str, str]]:
    """(interface, resource) of every resource the composition exports or imports."""
    names: set[tuple[str, str]] = set()

    def walk(path: tuple[str, ...], item: ExportItem) -> None:
        if isinstance(item, TypeExport) and isinstance(item.type, ResourceType):
            names.add(("/".join(path[:-1]), path[-1]))
        elif isinstance(item, InstanceExport):
            for n, sub in item.exports:
                walk((*path, n), sub)

    for name, item in graph.exports:
        walk((name,), item)
    for hf in graph.host_funcs:
        for h in _handles(hf.type):
            r = h.resource
            if isinstance(r, ResourceType) and r.host_path is not None:
                names.add(("/".join(r.host_path[:-1]), r.host_path[-1]))
    return names


def check_opaque_reps(graph: FlatGraph, specs: tuple[str, ...]) -> list[str]:
    """Validate ``IFACE.RESOURCE`` specs (split on the last dot; `@version` optional)."""
    known = resource_names(graph)
    accepted = []
    for spec in specs:
        iface, dot, res = spec.rpartition(".")
        if not dot or not iface or not res:
            raise LinkError(f"opaque rep {spec!r}: expected IFACE.RESOURCE")
        matches = [
            (i, r) for i, r in known if r == res and (i == iface or i.split("@")[0] == iface)
        ]
        if not matches:
            listing = ", ".join(sorted(f"{i}.{r}" for i, r in known)) or "none"
            raise LinkError(
                f"opaque rep {spec!r}: no such resource (the composition has: {listing})"
            )
        accepted.append(spec)
    return accepted


def _handles(t: object) -> list:
    from pymeld.abi import types as at

    return at.handles(t)
