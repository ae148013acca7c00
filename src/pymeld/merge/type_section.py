"""The output type section: every instance's rec groups, deduplicated after remapping.

Rec groups are interned by their remapped structure, with references *inside* the group made
relative, so two modules declaring the same function type (the common case) share one entry and
GC rec groups that are iso-recursively equal collapse too.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymeld.codec.core.instructions import remap_rec_group
from pymeld.codec.core.model import FuncType, Module, RecGroup, SubType, ValType


class TypeInterner:
    def __init__(self) -> None:
        self.groups: list[RecGroup] = []
        self.count = 0
        self._index: dict[object, int] = {}

    def add_module(self, module: Module) -> list[int]:
        """Intern all of ``module``'s rec groups; returns its type index map (local → output)."""
        tmap: list[int] = []
        for group in module.types:
            local_start = len(tmap)
            n = len(group.types)
            # Provisional placement at the end; refs inside the group point there.
            start = self.count

            def f(i: int, local_start: int = local_start, start: int = start) -> int:
                if i >= local_start:
                    return start + (i - local_start)
                return tmap[i]

            remapped = remap_rec_group(group, f)
            key = _key(remapped, start, n)
            base = self._index.get(key)
            if base is None:
                base = start
                self._index[key] = base
                self.groups.append(remapped)
                self.count += n
            tmap.extend(range(base, base + n))
        return tmap

    def func_type(self, params: Sequence[ValType], results: Sequence[ValType]) -> int:
        """Index of a plain (final, non-recursive) function type, added if new."""
        group = RecGroup([SubType(FuncType(list(params), list(results)))])
        key = _key(group, self.count, 1)
        base = self._index.get(key)
        if base is None:
            base = self.count
            self._index[key] = base
            self.groups.append(group)
            self.count += 1
        return base


def _key(group: RecGroup, start: int, n: int) -> object:
    """A hashable structural key; indices inside [start, start+n) become relative markers."""

    def vt(t: object) -> object:
        heap = getattr(t, "heap", None)
        if heap is not None:
            idx = heap.index
            if idx is not None and start <= idx < start + n:
                return ("rec", idx - start, t.nullable)  # type: ignore[attr-defined]
            return ("ref", t.nullable, heap.abstract, idx, heap.shared)  # type: ignore[attr-defined]
        return int(t)  # type: ignore[call-overload]

    out: list[object] = []
    for st in group.types:
        c = st.composite
        if isinstance(c, FuncType):
            comp: object = ("func", tuple(vt(p) for p in c.params), tuple(vt(r) for r in c.results))
        elif hasattr(c, "fields"):
            comp = ("struct", tuple((vt(f.storage), f.mutable) for f in c.fields))
        else:
            comp = ("array", vt(c.element.storage), c.element.mutable)
        supers = tuple(("rec", s - start) if start <= s < start + n else s for s in st.supers)
        out.append((comp, st.final, supers, st.shared))
    return tuple(out)
