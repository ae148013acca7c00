"""Counting what happened to each kind of code address, for ``--stats``."""

from __future__ import annotations

from pymeld._dataclass import dataclass

TYPE_CHECKING = False  # not `typing`'s: it stays unrun in a fusion
if TYPE_CHECKING:
    from pymeld.dwarf.lines import AddrMap

__all__ = ["Tally"]


@dataclass(slots=True)
class Tally:
    """Addresses of one kind: moved onto fused code, dropped (their code has no exact map in
    the fused module), or dead (outside the input's code already: linker tombstones)."""

    mapped: int = 0
    dropped: int = 0
    dead: int = 0

    def count(self, amap: AddrMap, old: int, new: int | None) -> None:
        if new is not None:
            self.mapped += 1
        elif amap.dead(old):
            self.dead += 1
        else:
            self.dropped += 1

    def lost(self, amap: AddrMap, mapped: int, lost: list[int]) -> None:
        """`count` of ``mapped`` addresses moved and of the addresses ``lost`` (that map
        nowhere), in one call: a remap's loops collect them rather than call per address."""
        self.mapped += mapped
        dead = sum(map(amap.dead, lost))
        self.dead += dead
        self.dropped += len(lost) - dead

    def add(self, other: Tally) -> None:
        self.mapped += other.mapped
        self.dropped += other.dropped
        self.dead += other.dead

    def __str__(self) -> str:
        return f"{self.mapped} remapped, {self.dropped} dropped, {self.dead} dead"
