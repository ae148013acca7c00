"""Where each input function's code went: exact code-offset maps from input to fused module.

WebAssembly DWARF addresses are offsets from the start of the Code section's payload (the
function-count LEB is at offset 0). A function's ``DW_AT_low_pc`` is its body start (just after
the body-size LEB, where the local declarations begin) and its ``high_pc`` the body's end.
Fusion keeps each body's instructions but may re-encode remapped index immediates with other
LEB widths, so the map inside a body comes from the edits that turn the input body into the
body actually emitted: its index immediates (the patch sites the merge's body rewrite found,
`merge.bodies.SCANNED`) read where they land in the output, checked by joining the bodies
back (`_site_edits`), else the rewriter's own edit list replayed (`rewrite_body_edits`); a
body that is not exactly the rewrite of its input (e.g. instrumented by ``--address-rebase``)
gets no map, and its addresses are left uncovered.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import field

from pymeld._dataclass import dataclass
from pymeld.codec.binary import uleb
from pymeld.codec.core import instructions as ins
from pymeld.codec.core.encode import encode_locals
from pymeld.codec.core.model import Code, ExternKind, Module
from pymeld.errors import DecodeError
from pymeld.merge.bodies import SCANNED

_INF = float("inf")  # (not `math.inf`: `math` is not loaded otherwise)
_bisect_right = bisect.bisect_right

__all__ = [
    "CodeLayout",
    "FunctionMap",
    "InstanceMap",
    "code_indices",
    "code_layout",
    "function_map",
    "instance_maps",
]


@dataclass(frozen=True, slots=True)
class CodeLayout:
    """One function body in a code section: payload-relative ``[body, end)``, ``instr`` where
    its instructions start (after the local declarations)."""

    body: int
    instr: int
    end: int


def code_layout(codes: list[Code]) -> list[CodeLayout]:
    """Payload-relative layout of ``codes`` as `encode_module` writes them (byte-exact)."""
    out: list[CodeLayout] = []
    pos = len(uleb(len(codes)))
    for c in codes:
        locals_ = c.locals_raw if c.locals_raw is not None else encode_locals(c.locals)
        size = len(locals_) + len(c.body)
        width = max(c.size_width or 0, len(uleb(size)))  # as `encode` writes it
        body = pos + width
        out.append(CodeLayout(body, body + len(locals_), body + size))
        pos = body + size
    return out


def _replay_maps(new_body: bytes) -> ins.IndexMaps | None:
    """Index maps that answer, in walk order, the immediates found in ``new_body``."""
    seen: list[tuple[int, int]] = []

    def recorder(kind: int) -> Callable[[int], int]:
        def rec(v: int) -> int:
            seen.append((kind, v))
            return v

        return rec

    try:
        ins.walk_body(new_body, _maps([recorder(k) for k in range(8)]))
    except DecodeError:
        return None
    it = iter(seen)

    def player(kind: int) -> Callable[[int], int]:
        def play(_: int) -> int:
            k, v = next(it, (-1, 0))
            if k != kind:
                raise KeyError(kind)
            return v

        return play

    return _maps([player(k) for k in range(8)])


def _maps(fs: list[Callable[[int], int]]) -> ins.IndexMaps:
    return ins.IndexMaps(fs[0], fs[1], fs[2], fs[3], fs[4], fs[5], fs[6], fs[7])


@dataclass(slots=True)
class FunctionMap:
    """Old → new offsets inside one body (old and new layouts, sorted edits)."""

    old: CodeLayout
    new: CodeLayout
    #: (old_pos, old_len, delta_after) relative to the instruction start, sorted by old_pos
    edits: list[tuple[int, int, int]] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._starts = [e[0] for e in self.edits]

    def map(self, addr: int) -> int | None:
        """New offset of old ``addr`` (an instruction start, the body start or its end)."""
        o, n = self.old, self.new
        if addr == o.end:
            return n.end
        if addr < o.instr:
            # Inside the local declarations: no instruction is there, but some producers'
            # rows point there; while the declarations kept their length, keep the offset.
            if addr == o.body or o.instr - o.body == n.instr - n.body:
                return n.body + addr - o.body
            return None
        rel = addr - o.instr
        k = bisect.bisect_right(self._starts, rel) - 1
        delta = 0
        if k >= 0:
            pos, length, after = self.edits[k]
            if rel < pos + length:
                if rel != pos:
                    return None  # inside a rewritten immediate: not an instruction boundary
                delta = self.edits[k - 1][2] if k > 0 else 0
            else:
                delta = after
        return n.instr + rel + delta


def _site_edits(
    old: bytes, new: bytes, sites: list[ins.Patch]
) -> list[tuple[int, int, int]] | None:
    """The edits turning ``old`` into ``new`` when ``new`` is ``old`` with the index immediates
    at ``sites`` (``old``'s `patch_sites`) re-encoded, as the merge's rewrite leaves most
    bodies: each immediate's new extent is read where it now starts (a LEB128, a memarg of
    memory 0 followed by the index it gained), and the bodies joined back must give ``new``.
    None otherwise. Only the edits that change a width are listed: one that keeps it (a
    padded index kept padded, `IndexMaps.keep_width`) moves no address, and a map without
    it is a single delta per body."""
    edits: list[tuple[int, int, int]] = []
    parts: list[bytes] = []
    prev = shift = 0
    p_mem0 = ins.P_MEM0
    try:
        for at, end, kind, _ in sites:
            n_at = n_end = at + shift
            while new[n_end] >= 0x80:
                n_end += 1
            n_end += 1
            if kind == p_mem0 and new[n_at] & 0x40:  # flags | 0x40, then the memory index
                while new[n_end] >= 0x80:
                    n_end += 1
                n_end += 1
            imm = new[n_at:n_end]
            if old[at:end] != imm:
                if n_end - n_at != end - at:  # (one of the same width moves no address)
                    edits.append((at, end - at, n_end - n_at))
                parts += (old[prev:at], imm)
                prev = end
                shift += n_end - n_at - (end - at)
    except IndexError:
        return None
    parts.append(old[prev:])
    return edits if b"".join(parts) == new else None


def _old_sites(body: bytes) -> list[ins.Patch] | None:
    """`patch_sites` of an input body: the merge's own scan when it made one."""
    sites = SCANNED.get(body, _NOT_SCANNED)
    return ins.patch_sites(body) if sites is _NOT_SCANNED else sites  # type: ignore[return-value]


_NOT_SCANNED = object()


def function_map(
    old: Code, new: Code, old_lay: CodeLayout, new_lay: CodeLayout
) -> FunctionMap | None:
    """The exact map for one body, or None when ``new`` is not the index rewrite of ``old``."""
    if new.body is old.body:
        return FunctionMap(old_lay, new_lay)
    sites = _old_sites(old.body)
    edits = None if sites is None else _site_edits(old.body, new.body, sites)
    if edits is None:
        maps = _replay_maps(new.body)
        if maps is None:
            return None
        try:
            rewritten, edits = ins.rewrite_body_edits(old.body, maps)
        except (DecodeError, KeyError, StopIteration):
            return None
        if rewritten != new.body:
            return None
    acc = 0
    out: list[tuple[int, int, int]] = []
    for pos, old_len, new_len in edits:
        if new_len != old_len:  # (an immediate that kept its width moves no address)
            acc += new_len - old_len
            out.append((pos, old_len, acc))
    return FunctionMap(old_lay, new_lay, out)


@dataclass(slots=True)
class InstanceMap:
    """Old code offset → fused code offset for one module instance's functions.

    `map` answers from a step function of the whole instance (`_steps`): its functions'
    maps are ``addr + delta`` on runs of addresses, so one bisect finds the answer. A DWARF
    remap asks it once per line row, range and location entry (20 000 times for a debug build
    of a small component)."""

    layouts: list[CodeLayout]
    functions: list[FunctionMap | None]
    _bodies: list[int] = field(default_factory=list)
    #: the last start at or below an address gives its delta (None: not mapped)
    _starts: list[int] = field(default_factory=list)
    _deltas: list[int | None] = field(default_factory=list)
    #: the step `map` found last: [_lo, _hi) maps by _delta
    _lo: int = field(default=0, compare=False, repr=False)
    _hi: float = field(default=0, compare=False, repr=False)
    _delta: int | None = field(default=None, compare=False, repr=False)
    #: `step`'s answers, made once: ``_runs[k]`` for an address with ``k`` starts at or
    #: below it (a remap asks thousands of times; one bisect and one index answer)
    _runs: list[tuple[float, float, int | None]] = field(
        default_factory=list, compare=False, repr=False
    )
    #: the input's code, ``[_code_lo, _code_hi]``: `dead` outside it
    _code_lo: int = field(default=1, compare=False, repr=False)
    _code_hi: int = field(default=0, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._bodies = [lay.body for lay in self.layouts]
        starts, deltas = self._starts, self._deltas = _steps(self.layouts, self.functions)
        ends: list[float] = [*starts[1:], _INF]
        self._runs = [(-_INF, starts[0] if starts else _INF, None), *zip(starts, ends, deltas)]
        if self.layouts:
            self._code_lo, self._code_hi = self.layouts[0].body, self.layouts[-1].end

    @property
    def unmapped(self) -> int:
        """Bodies without an exact map (their addresses are left uncovered)."""
        return sum(1 for f in self.functions if f is None)

    def dead(self, addr: int) -> bool:
        """Outside the input's code: a linker tombstone for code it removed (or garbage)."""
        return not self._code_lo <= addr <= self._code_hi

    def spans_code(self, start: int, end: int) -> bool:
        """``[start, end)`` is part of one function from its body start (a code range as
        compilers describe one, as opposed to a data object's)."""
        k = bisect.bisect_right(self._bodies, start) - 1
        return k >= 0 and self.layouts[k].body == start and start <= end <= self.layouts[k].end

    def map(self, addr: int) -> int | None:
        """What `map_slow` answers (the functions' own maps), from the step function. The
        step found last is tried first: callers mostly walk addresses in order."""
        if self._lo <= addr < self._hi:
            d = self._delta
        else:
            starts = self._starts
            k = bisect.bisect_right(starts, addr)
            if k == 0:
                return None
            self._lo = starts[k - 1]
            self._hi = starts[k] if k < len(starts) else _INF
            d = self._delta = self._deltas[k - 1]
        return None if d is None else addr + d

    def step(self, addr: int) -> tuple[float, float, int | None]:
        """``(lo, hi, delta)``: `map` moves every address of ``[lo, hi)``, ``addr``'s run, by
        ``delta`` (None: maps none of them). Callers that walk addresses in order keep it and
        look again only when they leave it."""
        return self._runs[_bisect_right(self._starts, addr)]

    def map_slow(self, addr: int) -> int | None:
        """The definition: the containing body's `FunctionMap` (an end address is smaller
        than the next body's start: its size LEB lies between)."""
        k = bisect.bisect_right(self._bodies, addr) - 1
        if k < 0 or addr > self.layouts[k].end:
            return None
        f = self.functions[k]
        return f.map(addr) if f is not None else None


def _steps(
    layouts: list[CodeLayout], functions: list[FunctionMap | None]
) -> tuple[list[int], list[int | None]]:
    """`InstanceMap.map_slow` as a step function: sorted starts, each with the delta that
    holds from it to the next start (None: unmapped there); a later entry at the same start
    overrides. Within a body `FunctionMap.map` changes only at the body and instruction
    starts, at the byte after each edit's start and at its end (an edit's start keeps the
    delta before it), and at the body's end; a step that would keep the delta of the one
    before is left out."""
    starts: list[int] = []
    deltas: list[int | None] = []
    for lay, f in zip(layouts, functions):
        if f is None:
            starts.append(lay.body)
            deltas.append(None)
            continue
        o, n = f.old, f.new
        if o != lay:
            return _steps_sampled(layouts, functions)
        starts.append(o.body)
        deltas.append(n.body - o.body)
        if o.instr - o.body != n.instr - n.body:  # only the body start itself maps
            starts.append(o.body + 1)
            deltas.append(None)
        base = n.instr - o.instr
        if base != deltas[-1]:
            starts.append(o.instr)
            deltas.append(base)
        done, size = 0, o.end - o.instr  # where the last edit ended, the instructions' size
        for pos, length, after in f.edits:
            if pos < done or pos + length > size:  # not in walk order, or not in the body
                return _steps_sampled(layouts, functions)
            at = o.instr + pos
            if length > 1:
                starts.append(at + 1)  # inside a rewritten immediate
                deltas.append(None)
            if base + after != deltas[-1]:
                starts.append(at + length)
                deltas.append(base + after)
            done = pos + length
        if n.end - o.end != deltas[-1]:
            starts.append(o.end)
            deltas.append(n.end - o.end)
        starts.append(o.end + 1)
        deltas.append(None)
    if starts != sorted(starts):
        # not in order: bodies not laid out by `code_layout`
        return _steps_sampled(layouts, functions)
    return starts, deltas


def _steps_sampled(
    layouts: list[CodeLayout], functions: list[FunctionMap | None]
) -> tuple[list[int], list[int | None]]:
    """`_steps` for maps it cannot walk in order (bodies out of order, overlapping edits):
    `InstanceMap.map_slow` sampled at every place where it may change."""
    im = InstanceMap.__new__(InstanceMap)
    im.layouts, im.functions = layouts, functions
    im._bodies = [lay.body for lay in layouts]
    points: set[int] = set()
    for lay, f in zip(layouts, functions):
        points.update((lay.body, lay.end + 1))
        if f is None:
            continue
        o = f.old
        points.update((o.body, o.body + 1, o.instr, o.end, o.end + 1))
        for pos, length, _ in f.edits:
            at = o.instr + pos
            points.update((at, at + 1, at + length))
    starts = sorted(points)
    deltas: list[int | None] = []
    for at in starts:
        to = im.map_slow(at)
        deltas.append(None if to is None else to - at)
    return starts, deltas


def instance_maps(instances: list[tuple[Module, list[int]]], out: Module) -> list[InstanceMap]:
    """One map per ``(input module, output code index of each of its bodies)``."""
    new_layout = code_layout(out.codes)
    result: list[InstanceMap] = []
    for module, placed in instances:
        old_layout = code_layout(module.codes)
        funcs: list[FunctionMap | None] = []
        for code, lay, j in zip(module.codes, old_layout, placed):
            fm = (
                function_map(code, out.codes[j], lay, new_layout[j])
                if 0 <= j < len(out.codes)
                else None
            )
            funcs.append(fm)
        result.append(InstanceMap(old_layout, funcs))
    return result


def code_indices(out: Module, funcs: list[int]) -> list[int]:
    """Output code indices of the defined functions ``funcs`` (function indices)."""
    imported = out.num_imported(ExternKind.FUNC)
    return [f - imported for f in funcs]
