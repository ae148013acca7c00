"""Code common to adapters is one shared function of the fused module (`plan.SHARED`): the
UTF-8 validator of a source memory is emitted once and called by every adapter copying a
UTF-8 string out of that memory, rather than inlined in each (issue 12: fused output must
compile no slower than the original). Outputs that validate no UTF-8 have none."""

from __future__ import annotations

from pathlib import Path

import pytest

from pymeld.codec.component.parse import parse_component
from pymeld.codec.core.emitter import NumType
from pymeld.codec.core.instructions import scan_uses
from pymeld.codec.core.model import ExternKind
from pymeld.graph.flatten import flatten
from pymeld.merge.merger import Merger, MergeResult
from pymeld.plan import SHARED
from support import shared_root

COMPONENTS = shared_root() / "corpus" / "components"
TEXT = COMPONENTS / "c-compose-text" / "composed.wasm"  # 8 adapters, most with UTF-8 strings
# one adapter, UTF-8 to UTF-16: validated while transcoding, by its own code
TRANSCODE = COMPONENTS / "repo-prebuilt" / "jco-utf8-utf16.composed.wasm"


def _merge(path: Path, simd: bool) -> tuple[MergeResult, dict[object, int]]:
    if not path.exists():
        pytest.skip(f"{path} not in the corpus")
    m = Merger(flatten(parse_component(path.read_bytes())), simd)
    result = m.run()
    result.adapters = {li: item.index for li, item in m.adapters.items()}  # as `merge` does
    shared = {f.key: f.index for f in m.plan.funcs() if f.group == SHARED}
    return result, shared


def _has_v128(result: MergeResult, func: int) -> bool:
    m = result.module
    code = m.codes[func - m.num_imported(ExternKind.FUNC)]
    return any(lc.type == NumType.V128 for lc in code.locals)


@pytest.mark.parametrize("simd", [True, False], ids=["simd", "no-simd"])
def test_one_validator_per_source_memory_called_by_every_string_adapter(simd: bool) -> None:
    result, shared = _merge(TEXT, simd)
    m = result.module
    imported = m.num_imported(ExternKind.FUNC)
    # strings go both ways between the two instances' memories: one validator for each
    keys: list = list(shared)
    assert [(k[0], k[2]) for k in keys] == [("validate-utf8", simd)] * 2
    assert keys[0][1] != keys[1][1]
    callers = {
        v: [a for a in result.adapters.values() if v in scan_uses(m.codes[a - imported].body).funcs]
        for v in shared.values()
    }
    assert all(len(c) >= 3 for c in callers.values()), callers
    # the vector code is in the validators only (and nowhere with --no-simd)
    assert [_has_v128(result, v) for v in shared.values()] == [simd, simd]
    assert not any(_has_v128(result, a) for a in result.adapters.values())


def test_no_validator_without_utf8_to_utf8_strings() -> None:
    result, shared = _merge(TRANSCODE, True)
    assert len(result.adapters) == 1 and not shared


def test_shared_functions_come_last_in_a_deterministic_order() -> None:
    (first, a), (second, b) = _merge(TEXT, True), _merge(TEXT, True)
    end = first.module.num_imported(ExternKind.FUNC) + len(first.module.funcs)
    assert list(a.items()) == list(b.items())
    assert sorted(a.values()) == [end - 2, end - 1]
    assert [c.body for c in first.module.codes] == [c.body for c in second.module.codes]
