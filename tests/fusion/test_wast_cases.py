"""Hand-built compositions in `wast/` through the differential oracle (original vs fused).

`adapter-fast-paths.wast`: the adapters' word-at-a-time UTF-8 validation/transcoding and
unrolled list copies at their edges (alignments, lengths, bad bytes, the end of memory, record
padding the adapter must not write), against wasmtime's own adapters.
`may-leave.wast`: a callee's realloc calling out of its instance traps as in wasmtime (for an
adapter and for a host call into a root export), while a post-return calling out does not
through an adapter, and does (traps) when the host runs a root export's post-return.
`no-core-modules.wast`: compositions without any core module (types, instances of types).
`reentrance.wast`: synchronous re-entrance between instances is allowed as in wasmtime (no
may-enter flags), an instance lowering its own lift traps.
`imported-modules.wast`: instances of core modules the composition imports, kept beside the
fused module (instantiated once and twice, re-exported, made after the fused code).

Corpus files pinned here as well: the ones importing core modules (`CORPUS_CASES`), which
pymeld refused before it kept such instances (tests/fusion/test_imported_modules.py has the
cases the oracle's host cannot express).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import run_fuse_oracle

CASES = sorted((Path(__file__).parent / "wast").glob("*.wast"))
CORPUS_CASES = [
    "component-model/test/validation/core-modules.wast",
    "wasmtime/tests/misc_testsuite/component-model/"
    "alias-region-reexported-entities-to-imported-module.wast",
    "wasmtime/tests/misc_testsuite/component-model/instance.wast",
]


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_wast_case(wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r


@pytest.mark.parametrize("rel", CORPUS_CASES, ids=[Path(p).name for p in CORPUS_CASES])
def test_corpus_case(
    rel: str, wast_dir: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast_dir / rel, tmp_path)
    assert r["status"] == "equivalent", r
