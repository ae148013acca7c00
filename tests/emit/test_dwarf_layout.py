"""An instance whose DWARF is remapped keeps its code's layout (`pymeld.merge.layout`): its
memory becomes memory 0 of the fused module (its memory accesses keep their memargs), index
immediates padded by the linker keep their width (`IndexMaps.keep_width`) and so do padded
body sizes. Its address map (`pymeld.dwarf.addrmap`) is then one delta per body, the same for
runs of bodies; with ``--dwarf strip``/``passthrough`` nothing of this happens (the fused
bytes of inputs without DWARF are not affected either: `benchmarks/fuse_outputs.py`)."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from pymeld.api import core_module_sections
from pymeld.codec.binary import uleb, uleb_padded
from pymeld.codec.component.encode import encode_component
from pymeld.codec.component.parse import parse_component
from pymeld.codec.core import instructions as ins
from pymeld.codec.core.model import Code, ExternKind, Import, Limits, MemoryType, Module
from pymeld.dwarf import build
from pymeld.dwarf.addrmap import InstanceMap
from pymeld.fuse import FuseOptions, fuse_bytes
from pymeld.graph.flatten import flatten
from pymeld.merge.layout import lay_out, memory_first
from pymeld.merge.merger import merge

DWARF_BUILD = Path(__file__).parent.parent / "data" / "dwarf" / "composed.wasm"


def _module(code_sizes: list[int], memories: int = 1, imports_memory: bool = False) -> Module:
    m = Module()
    m.memories = [MemoryType(Limits(1)) for _ in range(memories)]
    if imports_memory:
        m.imports = [Import("env", "memory", MemoryType(Limits(1)))]
    m.codes = [Code([], b"\x01" * (n - 1) + b"\x0b") for n in code_sizes]
    return m


def test_the_instance_with_the_most_code_gets_memory_0() -> None:
    small, big, bigger = _module([10]), _module([30]), _module([20, 20])
    assert memory_first([small, big, bigger], [True, True, True], 0) == 2
    assert memory_first([small, big, bigger], [True, True, False], 0) == 1  # kept ones only
    assert memory_first([small, big, _module([30])], [True, True, True], 0) == 1  # the first
    assert memory_first([small, big], [True, True], 1) is None  # an imported memory is 0
    assert memory_first([_module([10], memories=0), small], [True, False], 0) is None
    importer = _module([50], imports_memory=True)  # its memory 0 is another instance's
    assert memory_first([small, importer], [True, True], 0) == 0
    assert memory_first([small, big], [False, False], 0) is None


def test_lay_out_moves_one_instances_memories_ahead() -> None:
    a, b, c = _module([4]), _module([4], memories=2), _module([4])
    layouts, totals = lay_out([a, b, c], {ExternKind.MEMORY: 0}, first_memory=2)
    assert [lay.memory for lay in layouts] == [1, 2, 0]
    assert totals["memory"] == 4
    layouts, _ = lay_out([a, b, c], {ExternKind.MEMORY: 0}, first_memory=1)
    assert [lay.memory for lay in layouts] == [2, 0, 3]
    assert [lay.memory for lay in lay_out([a, b, c], {})[0]] == [0, 1, 3]  # in order


def test_a_padded_index_keeps_its_width_when_asked() -> None:
    body = b"\x10" + uleb_padded(5, 5) + b"\x10" + uleb_padded(1, 2) + b"\x10\x02\x0b"
    funcs = {5: 300, 1: 20000, 2: 3}
    kept = ins.rewrite_body(body, ins.IndexMaps(func=funcs.__getitem__, keep_width=True))
    # 300 fits the 5 bytes; 20000 needs 3, more than the 2 it had; 3 was not padded
    assert kept == b"\x10" + uleb_padded(300, 5) + b"\x10" + uleb(20000) + b"\x10\x03\x0b"
    minimal = ins.rewrite_body(body, ins.IndexMaps(func=funcs.__getitem__))
    assert minimal == b"\x10" + uleb(300) + b"\x10" + uleb(20000) + b"\x10\x03\x0b"


def _maps(data: bytes, **options: object) -> list[InstanceMap]:
    """The address maps the DWARF remap of a fusion of ``data`` uses."""
    seen: list[InstanceMap] = []
    real = build.instance_maps

    def spy(*args: object) -> list[InstanceMap]:
        seen.extend(real(*args))  # type: ignore[arg-type]
        return seen

    with mock.patch.object(build, "instance_maps", spy):
        fuse_bytes(data, options=FuseOptions(**options))  # type: ignore[arg-type]
    return seen


def _runs(amap: InstanceMap) -> set[int]:
    """The deltas of the map's runs; each body lies in one run (asserted)."""
    deltas = set()
    for lay in amap.layouts:
        lo, hi, delta = amap.step(lay.body)
        assert delta is not None and lo <= lay.body and lay.end < hi
        deltas.add(delta)
    return deltas


@pytest.mark.parametrize("component", [False, True])
def test_a_debug_build_maps_by_one_delta_per_body(corpus_components: Path, component: bool) -> None:
    """jco-utf8-utf16 (wasm-ld: 1330 memory-0 accesses, 246 padded function and global
    indices, padded body sizes) keeps its layout: no edit inside a body, each body one run,
    and four deltas in all (its largest body is placed first: `merge.layout`)."""
    data = (corpus_components / "repo-prebuilt" / "jco-utf8-utf16.composed.wasm").read_bytes()
    (amap,) = _maps(data, component=component)
    assert all(f is not None and not f.edits for f in amap.functions)
    assert len(_runs(amap)) == 4
    assert len(amap.layouts) == 68


def test_both_instances_of_a_small_build_keep_their_layout() -> None:
    """The test build's two instances with DWARF: the one with more code gets memory 0; the
    other keeps its memargs' memory indices (an index byte each, unmoved) and its padded
    indices: one run each of its bodies (the first with its largest body placed first)."""
    maps = _maps(DWARF_BUILD.read_bytes())
    assert len(maps) == 2
    for amap in maps:
        assert all(f is not None and not f.edits for f in amap.functions)
    assert [len(_runs(amap)) for amap in maps] == [3, 1]


def test_without_a_remap_the_memories_stay_in_instance_order(corpus_components: Path) -> None:
    data = (corpus_components / "repo-prebuilt" / "jco-utf8-utf16.composed.wasm").read_bytes()
    graph = flatten(parse_component(data))
    (k,) = [
        k
        for k, mi in enumerate(graph.instances)
        if any(c.name.startswith(".debug_") for c in mi.module.customs)
    ]
    kept = merge(graph, dwarf_layout=True)
    assert kept.layouts[k].memory == 0
    plain = merge(flatten(parse_component(data)))
    assert plain.layouts[k].memory > 0
    defining = [k for k, mi in enumerate(graph.instances) if mi.module.memories]
    # the same memories, another order
    assert sorted(kept.layouts[k].memory for k in defining) == [
        plain.layouts[k].memory for k in defining
    ]
    assert len(kept.module.memories) == len(plain.module.memories)


def test_padded_body_sizes_stay_padded() -> None:
    """The same build with every body size padded to 5 bytes (as a linker may leave them):
    the fused bodies keep the padding, so each instance still maps by as few deltas."""
    component = parse_component(DWARF_BUILD.read_bytes())
    for section in core_module_sections(component):
        module = section.module
        for code in module.codes:
            code.size_width = 5
        section.replace(module)
    data = bytes(encode_component(component))
    maps = _maps(data)
    assert [len(_runs(amap)) for amap in maps] == [3, 1]
