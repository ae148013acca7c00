"""Index-space layout of the fused module: where each instance's definitions land.

The output's function index space is: host imports, then the imported exports of foreign
instances (`pymeld.merge.foreign`), then each module instance's defined functions in
instantiation order, then generated functions (`pymeld.plan`, which starts where this layout
ends). Tables, memories, globals and tags are imported only from foreign instances, so each is
those imports, then the instances' definitions concatenated (then, for globals and memories,
generated ones). Computing all bases first lets every body be rewritten
in one pass with final indices.

One exception to "in order": when an instance's largest body lies in the second half of its
block, it swaps places with the first one. Wasmtime compiles a module's functions in parallel
in code order (rayon splits the list in halves, each worker runs a range from its start), and
a large body met late can be compiled alone at the end while the other worker idles. The rule
was chosen by measurement (`benchmarks/README.md`, `wasmtime_load.py`): on the five corpus
compositions, compile wall fused/original with every largest body first was up to 1.05x
(calculator: its two large bodies already early), in input order up to 1.06x
(jco-utf8-utf16: its largest body at 87% of its block), with this rule 0.88-0.97x.
Nothing observable depends on the order.

A second exception: `lay_out`'s ``first_memory`` puts one instance's memories ahead of the
other instances' (`memory_first` chooses it). An instance whose DWARF will be remapped keeps
its code's layout only if its memory stays memory 0: every load and store of memory 0 is a
memarg without a memory index, and moving the memory gives each of them an index byte, which
shifts every address after it (`pymeld.dwarf.addrmap`). Nothing observable depends on which
memory has which index either: canonical options, exports and data segments name memories by
the index this layout gives.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.codec.core.model import ExternKind, Module

if TYPE_CHECKING:
    from typing import Literal, TypeVar

    _T = TypeVar("_T")

_FUNC = ExternKind.FUNC


#: The `InstanceLayout` field holding the base of each kind (a mapping made once: on Python
#: 3.11 each ``ExternKind.X`` read goes through ``EnumType.__getattr__``, and `base` is called
#: per item).
_BASE_FIELD = {
    ExternKind.FUNC: "func",
    ExternKind.TABLE: "table",
    ExternKind.MEMORY: "memory",
    ExternKind.GLOBAL: "global_",
    ExternKind.TAG: "tag",
}


@dataclass
class InstanceLayout:
    """Bases of one module instance's *defined* items in the output index spaces."""

    func: int = 0
    table: int = 0
    memory: int = 0
    global_: int = 0
    tag: int = 0
    elem: int = 0
    data: int = 0
    imported: dict[ExternKind, int] = field(default_factory=dict)
    #: the defined function placed first in the block (it and the first one swap places)
    lead: int = 0

    def base(self, kind: ExternKind) -> int:
        return getattr(self, _BASE_FIELD[kind])

    def defined(self, kind: ExternKind, index: int) -> int:
        """Output index of local index ``index`` (which must be a definition)."""
        d = index - self.imported.get(kind, 0)
        if self.lead and kind == _FUNC and (d == 0 or d == self.lead):
            d = self.lead - d
        return self.base(kind) + d

    def definitions(self, kind: ExternKind, n: int) -> list[int]:
        """Output indices of the instance's ``n`` definitions of ``kind``, in order."""
        base = self.base(kind)
        out = list(range(base, base + n))
        if self.lead and kind == _FUNC:
            out[0], out[self.lead] = out[self.lead], out[0]
        return out

    def placed(self, items: list[_T]) -> list[_T]:
        """The instance's defined functions' ``items`` (types, bodies) in output order."""
        if not self.lead:
            return items
        out = list(items)
        out[0], out[self.lead] = out[self.lead], out[0]
        return out

    def segments(self, kind: Literal["elem", "data"], n: int) -> list[int]:
        """Output indices of the instance's ``n`` element or data segments."""
        base = self.elem if kind == "elem" else self.data
        return list(range(base, base + n))


def lead_body(module: Module) -> int:
    """Position of the module's first largest function body when it lies in the second half
    of the module's code (compiled late), else 0: the body to place first."""
    codes = module.codes
    best, size = 0, -1
    for i, c in enumerate(codes):
        if len(c.body) > size:
            best, size = i, len(c.body)
    return best if best >= len(codes) // 2 else 0


def count_imports(module: Module) -> dict[ExternKind, int]:
    counts: dict[ExternKind, int] = {}
    for imp in module.imports:
        counts[imp.kind] = counts.get(imp.kind, 0) + 1
    return counts


def memory_first(modules: list[Module], keep: list[bool], imported: int) -> int | None:
    """The instance whose memory becomes memory 0 of the fused module, among those that
    ``keep`` their code layout (their DWARF will be remapped), or None.

    Only when the fused module imports no memory (``imported``: an imported memory is memory 0
    whatever the order) and only an instance that defines its own memory 0 (one that imports it
    uses another instance's). Of several, the one with the most code (its memory accesses are
    most of the index edits that moving its memory would make; the first in instantiation
    order on a tie), so the choice depends on the input alone.
    """
    if imported:
        return None
    best, size = None, -1
    for k, (m, kept) in enumerate(zip(modules, keep)):
        if kept and m.memories and not any(i.kind == ExternKind.MEMORY for i in m.imports):
            n = sum(len(c.body) for c in m.codes)
            if n > size:
                best, size = k, n
    return best


def lay_out(
    modules: list[Module], imported: dict[ExternKind, int], first_memory: int | None = None
) -> tuple[list[InstanceLayout], dict[str, int]]:
    """Assign bases for each instance after the output's ``imported`` items of each kind
    (``first_memory``: the instance whose memories come first, see the module docstring);
    returns the layouts and the totals per kind."""
    layouts: list[InstanceLayout] = []
    n = {k: imported.get(k, 0) for k in ExternKind}
    func, table, memory = n[ExternKind.FUNC], n[ExternKind.TABLE], n[ExternKind.MEMORY]
    global_, tag, elem, data = n[ExternKind.GLOBAL], n[ExternKind.TAG], 0, 0
    leads: dict[int, int] = {}  # per module object: a module instantiated twice is measured once
    for m in modules:
        lead = leads.get(id(m))
        if lead is None:
            lead = leads[id(m)] = lead_body(m)
        lay = InstanceLayout(func, table, memory, global_, tag, elem, data, count_imports(m), lead)
        layouts.append(lay)
        func += len(m.funcs)
        table += len(m.tables)
        memory += len(m.memories)
        global_ += len(m.globals)
        tag += len(m.tags)
        elem += len(m.elems)
        data += len(m.datas)
    if first_memory is not None:
        lead_mems = len(modules[first_memory].memories)
        for k, lay in enumerate(layouts):
            if k == first_memory:
                lay.memory = n[ExternKind.MEMORY]
            elif k < first_memory:
                lay.memory += lead_mems
    totals = {
        "func": func,
        "table": table,
        "memory": memory,
        "global": global_,
        "tag": tag,
        "elem": elem,
        "data": data,
    }
    return layouts, totals
