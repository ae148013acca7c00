"""The memory strategy of a fusion (`apply_memory_strategy`), apart from the rebasing of
`pymeld.merge.memory`: ``multi``, the default, keeps the merger's memories and needs none of
it, so a plain fuse does not load it (~1.6 M instructions of a small fuse's start-up)."""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.errors import PymeldError

if TYPE_CHECKING:
    from typing import Literal, TypeAlias

    from pymeld.graph.model import FlatGraph
    from pymeld.merge.memory import Region
    from pymeld.merge.merger import MergeResult

Strategy: TypeAlias = 'Literal["multi", "shared", "auto"]'
STRATEGIES: tuple[Strategy, ...] = ("multi", "shared", "auto")


@dataclass
class MemoryDecision:
    """The strategy applied and why (reported by ``--stats``)."""

    strategy: str  # "multi" | "shared" | "shared+rebase"
    reason: str
    regions: list[Region] = field(default_factory=list)

    def stats(self) -> dict[str, object]:
        out: dict[str, object] = {
            "memory_strategy": self.strategy,
            "memory_strategy_reason": self.reason,
        }
        if self.regions:
            out["memory_regions"] = ", ".join(
                f"{r.owner}@{r.base:#x}+{r.pages}p" for r in self.regions
            )
        return out


def apply_memory_strategy(
    graph: FlatGraph, merged: MergeResult, strategy: Strategy, address_rebase: bool
) -> MemoryDecision:
    """Apply ``strategy`` to ``merged`` in place; returns what was chosen and why."""
    if strategy not in STRATEGIES:
        raise PymeldError(f"unknown memory strategy `{strategy}` (expected multi, shared or auto)")
    if strategy == "multi":
        if address_rebase:
            raise PymeldError("address rebasing needs the shared (or auto) memory strategy")
        return MemoryDecision("multi", "requested: one memory per module-instance memory")
    from pymeld.merge.memory import share_memories

    return share_memories(graph, merged, strategy, address_rebase)


__all__ = ["STRATEGIES", "MemoryDecision", "Strategy", "apply_memory_strategy"]
