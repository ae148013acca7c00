"""The plan of generated items: every function, global and memory fusion adds to the output.

A stage between `graph` and emission: `resources`, `abi` callers and `merge` register what they
will generate here, and `merge` emits it.

The fused module holds the input modules' definitions (placed by `layout`) followed by what
fusion generates: may-leave guards, adapters, handle-table functions, flag globals, table
memories, the start function. Code refers to generated items before they are
emitted (an adapter calls a table function planned after it), so indices must be fixed first.

`Plan` is the one allocator for them. Planning registers items under a *group*; the order of
groups in each index space is fixed below, and items keep their registration order within a
group. `freeze()` assigns every index at once; reading an index before that, or registering a
new item after it, is an error rather than a wrong number. Emission walks the same plan in
index order, so "where does this item go" and "what is emitted there" cannot disagree.

Adding a generated global is one `plan.add_global(group, key, init)` call (plus a group name
in `GROUPS` if it belongs to none of the existing ones).

One group is open after freeze: `SHARED` functions (code many generated functions call, such as
one memory's UTF-8 validator) are found only while those functions are built, during emission.
They come last, so each takes the next free index when registered and the emission walk, which
reaches that group last, emits it too: no index moves, and an output that never needs one has
none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import field
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld._enum import Enum, simple_enum
from pymeld.codec.core.emitter import CoreValType

if TYPE_CHECKING:
    from typing import Protocol


@simple_enum
class Space(Enum):
    FUNC = "func"
    GLOBAL = "global"
    MEMORY = "memory"


#: The function group that takes items after freeze (see the module docstring); last in `GROUPS`.
SHARED = "shared"

#: Group order per index space: the output layout of generated items, first to last.
GROUPS: dict[Space, tuple[str, ...]] = {
    Space.FUNC: ("may-leave-guard", "adapter", "resource", "start", "async", SHARED),
    Space.GLOBAL: ("may-leave", "handle-table", "resource-state", "async"),
    Space.MEMORY: ("handle-table", "resource-state", "async"),
}


@dataclass(slots=True)
class FuncCode:
    """A generated function's signature and code (``body`` ends with `end`)."""

    params: tuple[CoreValType, ...]
    results: tuple[CoreValType, ...]
    locals: tuple[CoreValType, ...]
    body: bytes


if TYPE_CHECKING:  # a structural type for the checker (no `typing` in a fusion)

    class Code(Protocol):
        """What a shared function's ``build`` returns: `FuncCode`'s fields (as `abi.adapter.Adapter`
        has them, so `abi` needs no plan type)."""

        @property
        def params(self) -> tuple[CoreValType, ...]: ...
        @property
        def results(self) -> tuple[CoreValType, ...]: ...
        @property
        def locals(self) -> tuple[CoreValType, ...]: ...
        @property
        def body(self) -> bytes: ...


@dataclass(eq=False)
class Item:
    """One planned item; ``index`` is its index in the output space once the plan is frozen."""

    space: Space
    group: str
    key: object
    _index: int = -1

    @property
    def index(self) -> int:
        if self._index < 0:
            raise RuntimeError(f"{self.space.value} {self.group}:{self.key!r}: plan not frozen")
        return self._index


@dataclass(eq=False, slots=True)
class FuncItem(Item):
    """A generated function; ``build`` writes its code when the plan is emitted (every index
    it refers to is final by then)."""

    build: Callable[[], FuncCode] | None = None


@dataclass(eq=False)
class GlobalItem(Item):
    """A mutable i32 global with initial value ``init`` (every generated global is one)."""

    init: int = 0


@dataclass(eq=False)
class MemoryItem(Item):
    """A private memory, empty at start (grown a page at a time by its owner's code)."""


@dataclass
class Plan:
    """The allocator. ``bases`` is the first free index of each space after the inputs'
    definitions (and, for functions, the output's imports). ``simd``: generated code may use
    128-bit vector instructions (`FuseOptions.simd`)."""

    bases: dict[Space, int]
    frozen: bool = False
    simd: bool = True
    _items: dict[Space, dict[str, dict[object, Item]]] = field(default_factory=dict)
    _next: int = -1  # after freeze: the index the next `SHARED` function takes

    def __post_init__(self) -> None:
        self._items = {s: {g: {} for g in GROUPS[s]} for s in Space}

    # -- planning -------------------------------------------------------------------------------
    def _add(self, item: Item) -> Item:
        group = self._items[item.space].get(item.group)
        if group is None:
            raise KeyError(f"no {item.space.value} group {item.group!r} in plan.GROUPS")
        found = group.get(item.key)
        if found is not None:
            return found
        if self.frozen:
            if item.group != SHARED:
                raise RuntimeError(f"{item.space.value} {item.group}:{item.key!r} planned too late")
            item._index = self._next
            self._next += 1
        group[item.key] = item
        return item

    def add_func(
        self, group: str, key: object, build: Callable[[], FuncCode] | None = None
    ) -> FuncItem:
        """The function ``key`` of ``group`` (registered on first use). ``build`` may be set
        later, but before emission."""
        item = self._add(FuncItem(Space.FUNC, group, key, build=build))
        assert isinstance(item, FuncItem)
        if build is not None:
            item.build = build
        return item

    def shared_func(self, key: object, build: Callable[[], Code]) -> int:
        """The index of the `SHARED` function ``key`` (registered on first use); ``build``
        gives its code at emission. Asked while code is built, after freeze: the ``shared``
        callable of `abi.adapter.generate_adapter`."""
        if not self.frozen:
            raise RuntimeError(f"shared function {key!r}: asked before the plan is frozen")

        def code() -> FuncCode:
            c = build()
            return FuncCode(c.params, c.results, c.locals, c.body)

        item = self.find(Space.FUNC, SHARED, key)
        if item is None:
            item = self.add_func(SHARED, key, code)
        return item.index

    def add_global(self, group: str, key: object, init: int = 0) -> GlobalItem:
        item = self._add(GlobalItem(Space.GLOBAL, group, key, init=init))
        assert isinstance(item, GlobalItem)
        return item

    def add_memory(self, group: str, key: object) -> MemoryItem:
        item = self._add(MemoryItem(Space.MEMORY, group, key))
        assert isinstance(item, MemoryItem)
        return item

    def find(self, space: Space, group: str, key: object) -> Item | None:
        return self._items[space][group].get(key)

    def index(self, space: Space, group: str, key: object) -> int:
        """The index of a planned item; a key never planned is a bug in the planner."""
        item = self.find(space, group, key)
        assert item is not None, f"{space.name.lower()} {group} {key!r} was not planned"
        return item.index

    def freeze(self) -> None:
        """Give every item its index: space base + groups in `GROUPS` order + registration
        order. The only index arithmetic on generated items."""
        for space, groups in self._items.items():
            n = self.bases[space]
            for group in GROUPS[space]:
                for item in groups[group].values():
                    item._index = n
                    n += 1
            if space is Space.FUNC:
                self._next = n
        self.frozen = True

    # -- emission ---------------------------------------------------------------------------------
    def items(self, space: Space) -> Iterator[Item]:
        """Every item of ``space`` in index order, including `SHARED` functions registered
        while earlier items are built during the walk."""
        for group in GROUPS[space]:
            items = self._items[space][group]
            done = 0
            while done < len(items):  # a snapshot: building an item may add to the group
                batch = list(items.values())[done:]
                done += len(batch)
                yield from batch

    def funcs(self) -> Iterator[FuncItem]:
        for item in self.items(Space.FUNC):
            assert isinstance(item, FuncItem)
            yield item

    def globals(self) -> Iterator[GlobalItem]:
        for item in self.items(Space.GLOBAL):
            assert isinstance(item, GlobalItem)
            yield item

    def memories(self) -> Iterator[MemoryItem]:
        for item in self.items(Space.MEMORY):
            assert isinstance(item, MemoryItem)
            yield item

    def count(self, space: Space, group: str | None = None) -> int:
        groups = self._items[space]
        return sum(len(groups[g]) for g in ([group] if group else GROUPS[space]))
