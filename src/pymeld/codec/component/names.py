"""The ``component-name`` custom section (Binary.md "Name Section"): names per sort and index.

Lenient by design: the spec says engines must not reject components with a bad name section,
so a malformed subsection just ends decoding and what was read so far is kept.
"""

from __future__ import annotations

from dataclasses import field

from pymeld._dataclass import dataclass
from pymeld.codec.binary import Reader, Writer
from pymeld.codec.component.model import (
    Component,
    ComponentSort,
    CoreSort,
    CustomSection,
    Sort,
)
from pymeld.errors import DecodeError

NAME_SECTION = "component-name"


@dataclass(slots=True)
class ComponentNames:
    """``component`` = the component's own name; ``sorts[sort][index] = name``."""

    component: str | None = None
    sorts: dict[Sort, dict[int, str]] = field(default_factory=dict)

    def get(self, sort: Sort, index: int) -> str | None:
        return self.sorts.get(sort, {}).get(index)


def parse_names(section: CustomSection) -> ComponentNames:
    """Decode a ``component-name`` section (best effort, never raises on bad content)."""
    out = ComponentNames()
    data = bytes(section.data)
    r = Reader(data, section=NAME_SECTION)
    try:
        while not r.eof():
            sid = r.byte()
            sub = r.sub(r.u32())
            if sid == 0:
                out.component = sub.name()
            elif sid == 1:
                b = sub.byte()
                sort: Sort
                if b == 0:
                    sort = CoreSort(sub.byte())
                else:
                    sort = ComponentSort(b)
                names = out.sorts.setdefault(sort, {})
                for _ in range(sub.vec_len(2)):
                    idx = sub.u32()
                    names[idx] = sub.name()
    except (DecodeError, ValueError):
        pass
    return out


def component_names(c: Component) -> ComponentNames:
    """Names from ``c``'s own ``component-name`` section (empty if it has none)."""
    for s in c.iter_sections(CustomSection):
        if s.name == NAME_SECTION:
            return parse_names(s)
    return ComponentNames()


def encode_names(names: ComponentNames) -> CustomSection:
    """Build a ``component-name`` section (sorts in their enum order, indices ascending)."""
    w = Writer()
    if names.component is not None:
        sub = Writer()
        sub.name(names.component)
        w.byte(0)
        w.sized(sub.buf)
    for sort, entries in names.sorts.items():
        if not entries:
            continue
        sub = Writer()
        if isinstance(sort, CoreSort):
            sub.byte(0)
        sub.byte(int(sort))
        sub.u32(len(entries))
        for idx in sorted(entries):
            sub.u32(idx)
            sub.name(entries[idx])
        w.byte(1)
        w.sized(sub.buf)
    return CustomSection(NAME_SECTION, w.getvalue())
