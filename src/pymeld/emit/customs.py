"""Custom sections of the fused module: which input sections survive, and how they are merged.

The rule (also in README, "Custom sections"):

* ``name`` — dropped, or merged and remapped with ``--preserve-names`` (see `names`).
* ``producers`` — merged field by field from every input module and component, duplicates
  removed, ``processed-by: pymeld <version>`` added. Always emitted.
* ``target_features`` — union of all inputs, sorted by feature name.
* ``.debug_*`` (DWARF) — by policy (``--dwarf``): ``remap`` (default) replaces them with one
  set whose code addresses point into the fused code (`pymeld.dwarf`); ``strip`` drops them;
  ``passthrough`` (alias ``--keep-dwarf``) copies every module's sections verbatim (one copy
  per module, addresses NOT remapped), for tools that only read type information.
* everything else (``linking``, ``reloc.*``, ``dylink.0``, ``component-type:*``, toolchain
  metadata, ...) — dropped: its contents refer to the input module's own indices and offsets,
  which no longer exist in the fused module, and pymeld cannot know how to remap an unknown
  format. The dropped names are reported in the fuse statistics.

Output order follows the convention ``name`` < ``producers`` < ``target_features``, all after
the data section; the attestation (see `attestation`) is appended after them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import field
from typing import TYPE_CHECKING

from pymeld import __version__
from pymeld._dataclass import dataclass
from pymeld.codec.binary import Reader, Writer
from pymeld.codec.component import model as cm
from pymeld.codec.core.model import CustomSection, SectionId
from pymeld.errors import DecodeError

if TYPE_CHECKING:
    from pymeld.graph.model import FlatGraph

__all__ = [
    "CustomPlan",
    "decode_producers",
    "decode_target_features",
    "encode_producers",
    "encode_target_features",
    "plan_customs",
]

PRODUCERS = "producers"
TARGET_FEATURES = "target_features"
DWARF_PREFIX = ".debug_"
_FIELD_ORDER = {"language": 0, "processed-by": 1, "sdk": 2}

Producers = dict[str, list[tuple[str, str]]]


def decode_producers(data: bytes) -> Producers:
    """``field -> [(name, version)]``; a malformed section yields what decoded before the error."""
    out: Producers = {}
    r = Reader(bytes(data), section="producers")
    try:
        for _ in range(r.u32()):
            fname = r.name()
            values = out.setdefault(fname, [])
            for _ in range(r.u32()):
                values.append((r.name(), r.name()))
    except DecodeError:
        pass
    return out


def encode_producers(p: Producers) -> bytes:
    w = Writer()
    fields = sorted(p, key=lambda f: (_FIELD_ORDER.get(f, 3), f))
    w.u32(len(fields))
    for f in fields:
        w.name(f)
        w.u32(len(p[f]))
        for name, version in p[f]:
            w.name(name)
            w.name(version)
    return w.getvalue()


def merge_producers(sections: Iterable[bytes]) -> Producers:
    """Union by name in first-seen order, the last version seen winning (as wasm-metadata
    merges); pymeld is appended to ``processed-by``.

    Names stay unique within a field: LLVM's object reader (llvm-dwarfdump, lldb) rejects a
    producers section that repeats one, which made fused DWARF unreadable to them.
    """
    merged: dict[str, dict[str, str]] = {}
    for data in sections:
        for f, values in decode_producers(data).items():
            dst = merged.setdefault(f, {})
            for name, version in values:
                dst[name] = version
    merged.setdefault("processed-by", {})["pymeld"] = __version__
    return {f: list(values.items()) for f, values in merged.items()}


def decode_target_features(data: bytes) -> list[tuple[str, str]]:
    """``[(prefix, feature)]`` with prefix one of ``+ - =``."""
    out: list[tuple[str, str]] = []
    r = Reader(bytes(data), section="target_features")
    try:
        for _ in range(r.u32()):
            prefix = chr(r.byte())
            out.append((prefix, r.name()))
    except DecodeError:
        pass
    return out


def encode_target_features(features: list[tuple[str, str]]) -> bytes:
    w = Writer()
    w.u32(len(features))
    for prefix, name in features:
        w.byte(ord(prefix))
        w.name(name)
    return w.getvalue()


def merge_target_features(sections: Iterable[bytes]) -> list[tuple[str, str]]:
    """Union by feature name: ``+`` if any input uses it (``+``/``=``), else ``-``."""
    seen: dict[str, str] = {}
    for data in sections:
        for prefix, name in decode_target_features(data):
            if prefix in "+=" or name not in seen:
                seen[name] = "+" if prefix in "+=" else prefix
    return sorted(((p, n) for n, p in seen.items()), key=lambda pn: pn[1])


@dataclass
class CustomPlan:
    """The custom sections to emit (in order) and what was dropped, for ``--stats``."""

    sections: list[CustomSection] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    dwarf: str = "none"  # none | dropped | kept | remapped


def _component_customs(c: cm.Component) -> Iterable[cm.CustomSection]:
    for s in c.sections:
        if isinstance(s, cm.CustomSection):
            yield s
        elif isinstance(s, cm.ComponentSection):
            yield from _component_customs(s.component)


def plan_customs(
    graph: FlatGraph,
    root: cm.Component | None,
    *,
    name_section: CustomSection | None,
    dwarf_policy: str,
    remapped_dwarf: list[CustomSection] | None = None,
) -> CustomPlan:
    """Decide the fused module's custom sections from every distinct input module's.

    ``dwarf_policy`` is ``remap`` (``remapped_dwarf`` replaces the inputs' sections), ``strip``
    or ``passthrough``.
    """
    plan = CustomPlan()
    producers: list[bytes] = []
    features: list[bytes] = []
    dwarf: list[CustomSection] = []
    if root is not None:
        for cs in _component_customs(root):
            if cs.name == PRODUCERS:
                producers.append(bytes(cs.data))
    seen_modules: set[int] = set()
    for mi in graph.instances:
        if mi.module_id in seen_modules:
            continue
        seen_modules.add(mi.module_id)
        for c in mi.module.customs:
            if c.name == PRODUCERS:
                producers.append(bytes(c.data))
            elif c.name == TARGET_FEATURES:
                features.append(bytes(c.data))
            elif c.name.startswith(DWARF_PREFIX):
                if dwarf_policy == "passthrough":
                    dwarf.append(CustomSection(c.name, bytes(c.data), after=SectionId.DATA))
                elif dwarf_policy == "strip":
                    plan.dropped[c.name] = plan.dropped.get(c.name, 0) + 1
            elif c.name != "name":
                plan.dropped[c.name] = plan.dropped.get(c.name, 0) + 1
            elif name_section is None:
                plan.dropped["name"] = plan.dropped.get("name", 0) + 1
    plan.dropped = dict(sorted(plan.dropped.items()))
    if any(n.startswith(DWARF_PREFIX) for n in plan.dropped):
        plan.dwarf = "dropped"
    elif dwarf:
        plan.dwarf = "kept"
    elif remapped_dwarf is not None:
        plan.dwarf = "remapped"
        dwarf = list(remapped_dwarf)
    plan.sections.extend(dwarf)
    if name_section is not None:
        plan.sections.append(name_section)
    plan.sections.append(
        CustomSection(PRODUCERS, encode_producers(merge_producers(producers)), SectionId.DATA)
    )
    if features:
        plan.sections.append(
            CustomSection(
                TARGET_FEATURES,
                encode_target_features(merge_target_features(features)),
                SectionId.DATA,
            )
        )
    return plan
