"""Function placement in the fused code (`pymeld.merge.layout`): a module instance's largest
body is placed first in its block when it lies in the block's second half, and everything that
names a function still reaches the same one.

`wast_placement/` runs through the differential oracle (calls, an export, element segments,
`ref.func`, the start function, a module instantiated twice, an imported function before the
definitions). The tests below check the placement itself, through the fused module's names,
and the layout's index arithmetic on its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pymeld.codec.core.model import Code, ExternKind, FuncImport, Import, Module
from pymeld.codec.core.parse import parse_module
from pymeld.emit.names import NAME_SECTION, decode_names
from pymeld.fuse import FuseOptions, fuse_bytes
from pymeld.merge.layout import lay_out
from support import json_from_wast, require_wasm_tools, run_fuse_oracle

pytest.importorskip("wasmtime")

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_placement").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_placement_agrees_with_wasmtime(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r


def test_largest_body_is_first_in_its_instance(tmp_path: Path) -> None:
    assert json_from_wast(
        require_wasm_tools(), HERE / "wast_placement" / "largest-first.wast", tmp_path
    )
    (wasm,) = sorted(tmp_path.glob("*.wasm"))
    fused = parse_module(
        fuse_bytes(wasm.read_bytes(), options=FuseOptions(preserve_names=True)).output
    )
    (names,) = [decode_names(c.data) for c in fused.customs if c.name == NAME_SECTION]
    imported = fused.num_imported(ExternKind.FUNC)
    blocks: dict[str, list[int]] = {}
    for index, name in names.funcs.items():
        if "::" in name and index >= imported:
            blocks.setdefault(name.rsplit("::", 1)[0], []).append(index)
    seen = 0
    for label, indices in blocks.items():
        indices.sort()
        assert indices == list(range(indices[0], indices[0] + len(indices))), label  # one block
        sizes = [len(fused.codes[i - imported].body) for i in indices]
        assert sizes[0] == max(sizes), (label, sizes)
        if len(indices) == 5:  # an instance of the callee's module $m: $big went first
            assert names.funcs[indices[0]] == f"{label}::big"
            assert names.funcs[indices[-1]] == f"{label}::first"  # in $big's place
            seen += 1
    assert seen == 2


def _module(sizes: list[int], imports: int = 0) -> Module:
    m = Module()
    m.imports = [Import("env", f"f{i}", FuncImport(0)) for i in range(imports)]
    m.funcs = [0] * len(sizes)
    m.codes = [Code([], bytes(n)) for n in sizes]
    return m


def test_layout_places_a_late_largest_body_first() -> None:
    a = _module([3, 5, 9, 9], imports=2)  # the first of two largest, in the second half
    b = _module([7, 1])  # already first
    c = _module([3, 9, 5, 4])  # largest in the first half: compiled early enough, stays
    layouts, totals = lay_out([a, b, c, a], {ExternKind.FUNC: 4})
    assert totals["func"] == 4 + 4 + 2 + 4 + 4
    assert [lay.lead for lay in layouts] == [2, 0, 0, 2]
    for lay, m in zip(layouts, (a, b, c, a)):
        n_imp = len(m.imports)
        listed = lay.definitions(ExternKind.FUNC, len(m.funcs))
        assert listed == [lay.defined(ExternKind.FUNC, n_imp + i) for i in range(len(m.funcs))]
        assert sorted(listed) == list(range(lay.func, lay.func + len(m.funcs)))
        placed = lay.placed(list(range(len(m.funcs))))  # input positions in output order
        assert [listed[i] for i in placed] == sorted(listed)
    assert layouts[2].definitions(ExternKind.FUNC, 4) == [10, 11, 12, 13]  # c: input order
    last = layouts[3]
    assert last.definitions(ExternKind.FUNC, 4) == [16, 15, 14, 17]
    assert last.defined(ExternKind.GLOBAL, 0) == last.global_  # other kinds stay in order
