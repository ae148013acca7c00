"""Building a component section by section while keeping count of its index spaces.

Index spaces grow in section order, so whoever appends definitions needs the index each one
got, kept per `sort_key` (the model's).
"""

from __future__ import annotations

from dataclasses import field

from pymeld._dataclass import dataclass
from pymeld.codec.component import model as cm

CS = cm.ComponentSort
sort_key = cm.sort_key  # (where its users found it first)


@dataclass
class ComponentBuilder:
    """Appends definitions to ``comp`` while counting its index spaces."""

    comp: cm.Component = field(default_factory=cm.Component)
    counts: dict[tuple[bool, int], int] = field(default_factory=dict)

    def count(self, sort: cm.Sort) -> int:
        return self.counts.get(sort_key(sort), 0)

    def add(self, section: cm.Section) -> list[int]:
        """Append ``section``; returns the indices it defined, in item order."""
        self.comp.sections.append(section)
        out = []
        for sort, _ in cm.defined_sorts(section):
            key = sort_key(sort)
            out.append(self.counts.get(key, 0))
            self.counts[key] = out[-1] + 1
        return out

    def one(self, section: cm.Section, sort: cm.Sort) -> int:
        """Add a one-item section and return the index it defined in ``sort``."""
        idx = self.count(sort)
        self.add(section)
        return idx

    def type(self, t: cm.Type) -> int:
        return self.one(cm.TypeSection([t]), CS.TYPE)

    def alias_core(self, inst: int, name: str, sort: cm.CoreSort) -> int:
        return self.one(cm.AliasSection([cm.AliasCoreExport(sort, inst, name)]), sort)

    def alias(self, inst: int, name: str, sort: cm.Sort) -> int:
        return self.one(cm.AliasSection([cm.AliasExport(sort, inst, name)]), sort)
