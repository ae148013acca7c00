"""Building a component section by section while keeping count of its index spaces.

Index spaces grow in section order, so whoever appends definitions needs the index each one
got, kept per `sort_key` (the model's).
"""

from __future__ import annotations

from pymeld.codec.component import model as cm

CS = cm.ComponentSort
KS = cm.CoreSort
sort_key = cm.sort_key  # (where its users found it first)
item_sort = cm.item_sort
_ONE_INDEX_PER_ITEM = cm._ONE_INDEX_PER_ITEM


class ComponentBuilder:
    """Appends definitions to ``comp`` while counting its index spaces.

    A plain class: the wrapper builds one (two with an ascribed instance) per fusion, and
    making it a dataclass cost more than all its uses (~0.2 M instructions)."""

    __slots__ = ("comp", "counts")

    def __init__(self, comp: cm.Component | None = None) -> None:
        self.comp = cm.Component() if comp is None else comp
        self.counts: dict[tuple[bool, int], int] = {}

    def count(self, sort: cm.Sort) -> int:
        return self.counts.get(sort_key(sort), 0)

    def add(self, section: cm.Section) -> list[int]:
        """Append ``section``; returns the indices it defined, in item order."""
        self.comp.sections.append(section)
        counts = self.counts
        out = []
        if section.__class__ in _ONE_INDEX_PER_ITEM:  # (no generator: most sections are)
            sorts = [item_sort(it) for it in section.items]  # type: ignore[union-attr]
        else:
            sorts = [sort for sort, _ in cm.defined_sorts(section)]
        for sort in sorts:
            key = (sort.__class__ is KS, sort)  # `sort_key`, in line
            n = counts.get(key, 0)
            out.append(n)
            counts[key] = n + 1
        return out

    def one(self, section: cm.Section, sort: cm.Sort) -> int:
        """Add a section that defines one index, in ``sort``, and return that index.

        The caller says which sort: no walk of the section (`add`) for the ~100 sections a
        small fusion's wrapper adds this way (``tests/fusion/test_wrap_builder.py`` checks
        every wrapper's sections against what they define)."""
        key = (sort.__class__ is KS, sort)  # `sort_key`, in line
        counts = self.counts
        n = counts.get(key, 0)
        self.comp.sections.append(section)
        counts[key] = n + 1
        return n

    def type(self, t: cm.Type) -> int:
        return self.one(cm.TypeSection([t]), CS.TYPE)

    def alias_core(self, inst: int, name: str, sort: cm.CoreSort) -> int:
        return self.one(cm.AliasSection([cm.AliasCoreExport(sort, inst, name)]), sort)

    def alias(self, inst: int, name: str, sort: cm.Sort) -> int:
        return self.one(cm.AliasSection([cm.AliasExport(sort, inst, name)]), sort)
