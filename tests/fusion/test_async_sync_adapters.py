"""`async func`s lifted synchronously, called through plain (synchronous) adapters, in shapes
stage 1 (merge.asyncfuse) used to refuse and the in-module task path now fuses.

Stage 1 keeps the runtime's one task per host call; where an instance's may-block state or a
suspended stack matters, `plan_fused` hands the composition to the in-module path instead
(`_plan_with_tasks`). Hand-built cases in `wast_async_sync_adapters/` through the differential
oracle, one file per caller shape: a root export that may not block (neither `async` nor
async-lifted), a stackful async-lifted root, a synchronously lifted `async func` root, and a plain
function between such a root and the callee (a synchronous task that may not block). In each,
the callee keeps a context slot and a waitable set of its own and, in three instances of the
composition, polls it (returns), yields (returns, or traps where the caller's task may not
block) and waits on it empty (traps: wasmtime's deadlock, or its "cannot block a synchronous
task"). The wast expectations are the original's (the oracle checks them), trap messages
included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import run_fuse_oracle

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_async_sync_adapters").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_sync_adapter_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r  # the original matched every expectation, traps included
