"""Code common to adapters is one shared function of the fused module (`plan.SHARED`): a
UTF-8 to UTF-8 string copy between two sides is one function every adapter copying such a
string calls, and the UTF-8 validator of a source memory one function those call, rather
than inlined in each adapter (issue 12: fused output must compile no slower than the
original); so is a string transcoding between two sides' encodings."""

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
# one adapter, UTF-8 to UTF-16 and back: validated while transcoding, by the transcoder
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


def _calls(result: MergeResult, funcs) -> dict[int, set[int]]:
    m = result.module
    imported = m.num_imported(ExternKind.FUNC)
    return {f: scan_uses(m.codes[f - imported].body).funcs for f in funcs}


@pytest.mark.parametrize("simd", [True, False], ids=["simd", "no-simd"])
def test_one_validator_per_source_memory_one_copy_per_pair_of_sides(simd: bool) -> None:
    result, shared = _merge(TEXT, simd)
    # strings go both ways between the two instances' memories: for each direction one copy
    # function (checks, validation, realloc, memory.copy) and one validator of its source
    copies = {k: f for k, f in shared.items() if k[0] == "copy-utf8"}  # type: ignore[index]
    validators = {k: f for k, f in shared.items() if k[0] == "validate-utf8"}  # type: ignore[index]
    assert len(copies) == len(validators) == 2 == len(shared) // 2
    assert {k[-1] for k in shared} == {simd}  # type: ignore[index]
    for key, f in copies.items():
        src_mem = key[1]  # type: ignore[index]
        assert validators[("validate-utf8", src_mem, simd)] in _calls(result, [f])[f]
    adapter_calls = _calls(result, result.adapters.values())
    for f in copies.values():
        assert sum(f in calls for calls in adapter_calls.values()) >= 3
    # the vector code is in the validators only (and nowhere with --no-simd)
    assert [_has_v128(result, f) for f in validators.values()] == [simd, simd]
    others = [*copies.values(), *result.adapters.values()]
    assert not any(_has_v128(result, f) for f in others)


@pytest.mark.parametrize("simd", [True, False], ids=["simd", "no-simd"])
def test_one_transcoder_per_direction_and_no_validator(simd: bool) -> None:
    """jco-utf8-utf16's one adapter takes a UTF-8 string to UTF-16 and returns one the other
    way: one shared transcoding function per direction, both called by it, with the vector
    code (none with --no-simd); no UTF-8 to UTF-8 copy, so no validator."""
    result, shared = _merge(TRANSCODE, simd)
    (adapter,) = result.adapters.values()
    directions = sorted((k[2], k[4], k[-1]) for k in shared)  # type: ignore[index]
    assert directions == [("utf16", "utf8", simd), ("utf8", "utf16", simd)]
    assert set(shared.values()) <= _calls(result, [adapter])[adapter]
    assert [_has_v128(result, f) for f in shared.values()] == [simd, simd]
    assert not _has_v128(result, adapter)


def test_shared_functions_come_last_in_a_deterministic_order() -> None:
    (first, a), (second, b) = _merge(TEXT, True), _merge(TEXT, True)
    end = first.module.num_imported(ExternKind.FUNC) + len(first.module.funcs)
    assert list(a.items()) == list(b.items())
    assert sorted(a.values()) == list(range(end - 4, end))
    assert [c.body for c in first.module.codes] == [c.body for c in second.module.codes]
