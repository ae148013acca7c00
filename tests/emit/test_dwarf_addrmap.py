"""Exact code-offset maps (`pymeld.dwarf.addrmap`) and the rewriter's edit list they rest on.

Bodies are built instruction by instruction, so the expected old and new start of every
instruction is known independently of the walker: the map must send one to the other even
when remapped indices change their LEB width (padded 5-byte LEBs from wasm-ld, memargs that
gain a memory index).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pymeld.api import core_module_sections
from pymeld.codec.binary import uleb, uleb_padded
from pymeld.codec.component.parse import parse_component
from pymeld.codec.core import instructions as ins
from pymeld.codec.core.model import Code, Local, NumType
from pymeld.codec.core.parse import parse_module
from pymeld.dwarf.addrmap import (
    CodeLayout,
    FunctionMap,
    InstanceMap,
    _old_sites,
    _site_edits,
    code_layout,
    function_map,
)
from pymeld.fuse import fuse_bytes
from pymeld.merge import bodies

DWARF_BUILD = Path(__file__).parent.parent / "data" / "dwarf" / "composed.wasm"

FUNCS = {0: 0, 1: 300, 2: 2, 5: 70000}  # identity, 1→2 bytes, unchanged, 1→3 bytes
GLOBALS = {0: 1, 1: 0, 3: 200}
MEMS = {0: 2, 1: 1}

# (kind, index, padded): one instruction in old and new encodings
Insn = tuple[str, int, bool]


def encode(insn: Insn, new: bool) -> bytes:
    kind, idx, padded = insn
    leb = uleb_padded(idx, 5) if padded else uleb(idx)
    if kind == "call":
        nv = FUNCS[idx]
        return b"\x10" + (uleb(nv) if new and nv != idx else leb)
    if kind == "global.get":
        nv = GLOBALS[idx]
        return b"\x23" + (uleb(nv) if new and nv != idx else leb)
    if kind == "i32.load":  # memory idx; memory 0 has no index byte in the input
        nv = MEMS[idx]
        if idx == 0:
            flags_mem = b"\x02" if not new or nv == 0 else b"\x42" + uleb(nv)
        else:
            flags_mem = b"\x42" + (uleb(nv) if new and nv != idx else leb)
        return b"\x41\x00\x28" + flags_mem + b"\x04"  # i32.const 0; i32.load offset=4
    if kind == "local.get":
        return b"\x20" + leb
    return b"\x01"  # nop


insn_st = st.one_of(
    st.tuples(st.just("call"), st.sampled_from(sorted(FUNCS)), st.booleans()),
    st.tuples(st.just("global.get"), st.sampled_from(sorted(GLOBALS)), st.booleans()),
    st.tuples(st.just("i32.load"), st.sampled_from(sorted(MEMS)), st.booleans()),
    st.tuples(st.just("local.get"), st.integers(0, 200), st.booleans()),
    st.tuples(st.just("nop"), st.just(0), st.just(False)),
)

MAPS = ins.IndexMaps(func=FUNCS.__getitem__, global_=GLOBALS.__getitem__, memory=MEMS.__getitem__)


def sites(body: bytes) -> list[ins.Patch]:
    found = ins.patch_sites(body)
    assert found is not None
    return found


def starts(insns: list[Insn], new: bool) -> list[int]:
    out, pos = [], 0
    for i in insns:
        out.append(pos)
        pos += len(encode(i, new))
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(insn_st, max_size=30))
def test_every_instruction_start_maps_exactly(insns: list[Insn]) -> None:
    old = b"".join(encode(i, False) for i in insns) + b"\x0b"
    new = b"".join(encode(i, True) for i in insns) + b"\x0b"
    rewritten, edits = ins.rewrite_body_edits(old, MAPS)
    assert rewritten == new == ins.rewrite_body(old, MAPS)
    assert sum(n - o for _, o, n in edits) == len(new) - len(old)
    # the fast path (the two bodies' patch sites paired) finds the walker's own edits, but
    # those that change a width: the others move no address
    assert _site_edits(old, new, sites(old)) == [e for e in edits if e[1] != e[2]]
    # the map is replayed from the emitted body alone, as DWARF remapping does it
    fm = function_map(
        Code([], old),
        Code([], new),
        CodeLayout(0, 0, len(old)),
        CodeLayout(7, 7, 7 + len(new)),
    )
    assert fm is not None
    old_starts = [*starts(insns, False), len(old) - 1]  # the final `end` too
    new_starts = [*starts(insns, True), len(new) - 1]
    assert [fm.map(a) for a in old_starts] == [7 + b for b in new_starts]
    assert fm.map(len(old)) == 7 + len(new)  # a function's end (high_pc)


def test_edits_of_a_padded_call_and_a_memarg_that_gains_an_index() -> None:
    old = b"\x10" + uleb_padded(5, 5) + b"\x41\x00\x28\x02\x04\x1a\x0b"
    new, edits = ins.rewrite_body_edits(old, MAPS)
    assert new == b"\x10\xf0\xa2\x04" + b"\x41\x00\x28\x42\x02\x04\x1a\x0b"
    assert edits == [(1, 5, 3), (9, 1, 2)]
    assert ins.rewrite_body_edits(b"\x01\x0b", MAPS) == (b"\x01\x0b", [])


def test_a_body_that_is_not_the_rewrite_gets_no_map() -> None:
    old = b"\x10\x01\x0b"
    other = b"\x10\xac\x02\x01\x0b"  # call 300; nop: more than an index rewrite
    lay = CodeLayout(0, 0, 3)
    assert function_map(Code([], old), Code([], other), lay, CodeLayout(0, 0, 5)) is None
    assert _site_edits(old, other, sites(old)) is None
    assert _site_edits(old, b"\x10\x02\x0b", sites(old)) == []  # call 1 -> call 2: no move
    assert _site_edits(old, b"\x10\x02\x01\x0b", sites(old)) is None  # a byte more
    assert _site_edits(old, b"\x10\x82", sites(old)) is None  # the new immediate runs off


def test_the_merge_hands_its_scan_of_the_input_bodies_over() -> None:
    """The body rewrite keeps each input body's patch sites (`bodies.SCANNED`) and the maps
    take them from there instead of scanning the inputs again; a body it did not scan is
    scanned here."""
    data = DWARF_BUILD.read_bytes()
    fuse_bytes(data)
    inputs = [
        c.body
        for s in core_module_sections(parse_component(data))
        for c in parse_module(bytes(s.data)).codes
    ]
    assert inputs and all(b in bodies.SCANNED for b in inputs)
    for b in inputs:
        assert bodies.SCANNED[b] == ins.patch_sites(b)
        assert _old_sites(b) is bodies.SCANNED[b]
    unseen = b"\x10\x07\x0b"
    assert unseen not in bodies.SCANNED and _old_sites(unseen) == [(1, 2, ins.K_FUNC, 7)]


def test_layout_and_instance_map_follow_size_lebs_and_locals() -> None:
    big = b"\x01" * 200 + b"\x0b"  # a 2-byte size LEB
    codes = [Code([], b"\x0b"), Code([Local(2, NumType.I32)], big), Code([], b"\x0b", size_width=5)]
    lay = code_layout(codes)
    assert lay[0] == CodeLayout(2, 3, 4)
    assert lay[1] == CodeLayout(6, 9, 210)  # locals: 01 02 7f
    assert lay[2] == CodeLayout(215, 216, 217)
    moved = [CodeLayout(x.body + 10, x.instr + 10, x.end + 10) for x in lay]
    fmaps = [function_map(c, c, a, b) for c, a, b in zip(codes, lay, moved)]
    im = InstanceMap(lay, [fmaps[0], None, fmaps[2]])
    assert im.map(2) == 12 and im.map(4) == 14  # low and high pc of body 0
    assert im.map(9) is None and im.unmapped == 1  # body 1 has no map: uncovered
    assert im.map(216) == 226
    assert im.map(5) is None and im.dead(0xFFFFFFFF) and not im.dead(100)


edit_st = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 6), st.integers(-5, 5)), max_size=8)
body_st = st.tuples(
    st.integers(1, 4),  # size LEB width before the body
    st.integers(1, 4),  # local declarations
    st.integers(1, 4),  # ... in the new body
    st.integers(1, 70),  # instruction bytes
    st.one_of(st.none(), edit_st),  # None: no map; edits as (pos, old_len, new_len)
    st.booleans(),  # keep the edits in walk order (else as drawn: overlapping, unsorted)
)


@settings(max_examples=300, deadline=None)
@given(st.lists(body_st, max_size=6), st.integers(0, 50), st.booleans())
def test_step_map_answers_as_the_function_maps(
    bodies: list[tuple[int, int, int, int, list[tuple[int, int, int]] | None, bool]],
    shift: int,
    shuffled: bool,
) -> None:
    """`InstanceMap.map` (one bisect in a step function) gives `map_slow`'s answer (the
    containing body's `FunctionMap`) at every address, for edits in walk order and for
    edits and bodies in any order (the step function is then sampled)."""
    layouts, functions = [], []
    old = new = 1
    for width, locs, new_locs, size, edits, ordered in bodies:
        o = CodeLayout(old + width, old + width + locs, old + width + locs + size)
        if edits is None:
            fm = None
            new_size = size
        else:
            if ordered:
                walk, at = [], 0
                for pos, length, new_len in sorted(edits):
                    if pos >= at and pos + length <= size:
                        walk.append((pos, length, max(new_len, 1)))
                        at = pos + length
                edits = walk
            acc, out = 0, []
            for pos, length, new_len in edits:
                acc += new_len - length
                out.append((pos, length, acc))
            new_size = max(size + acc, 1)
        n = CodeLayout(new + shift + width, new + shift + width + new_locs, 0)
        n = CodeLayout(n.body, n.instr, n.instr + new_size)
        if edits is not None:
            fm = FunctionMap(o, n, out)
        layouts.append(o)
        functions.append(fm)
        old, new = o.end, n.end
    if shuffled:
        layouts.reverse()
    im = InstanceMap(layouts, functions)
    top = max((lay.end for lay in layouts), default=0) + 5
    addrs = [*range(-2, top), *range(top, -3, -1), *range(-2, top, 7)]  # up, down, jumps
    assert [im.map(a) for a in addrs] == [im.map_slow(a) for a in addrs]
    # dead: outside the code, from the first body's start to the last one's end
    code = (layouts[0].body, layouts[-1].end) if layouts else (1, 0)
    assert [im.dead(a) for a in addrs] == [not code[0] <= a <= code[1] for a in addrs]
    # each address's step holds it, moves it as the map does, and so does every address in it
    for a in addrs:
        lo, hi, delta = im.step(a)
        assert lo <= a < hi
        for b in range(max(int(max(lo, -3)), a - 9), int(min(hi, a + 9))):
            assert im.map_slow(b) == (None if delta is None else b + delta)
