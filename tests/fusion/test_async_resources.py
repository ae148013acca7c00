"""Resource handles beside fused async (merge.asyncres, resources.space; issue 11).

wasmtime numbers an instance's own/borrow handles, waitable sets, subtasks and stream/future
ends from one table. Hand-built cases in `wast_async_resources/` through the differential
oracle make the numbers observable (a handle of one kind freed and its index reused by the
other kind): in-module tasks with resources and sets in both instances, stream ends through
sync adapters beside resources, host resources of the task instance beside a callee's sets,
host resources with sets and subtasks, or with stream ends, in one instance (its host handles
moved in-module, sharing one index space with its waitables), and a single stream holder
beside another instance's host resources (both moved off the runtime's table). The real
`c-sync-root` composition (WASI resources in the root, async in the provider) must fuse and
replay every recorded call; shapes that cannot be numbered exactly are refused by name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import async_harness
import pymeld
from support import REPO, run_fuse_oracle

CASES = sorted((Path(__file__).parent / "wast_async_resources").glob("*.wast"))
DATA = REPO / "tests" / "data" / "async-compositions" / "c-sync-root"


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_case_is_equivalent(wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r


@pytest.mark.parametrize(
    "inputs", [("composed.wasm",), ("croot.wasm", "cprovider.wasm")], ids=["composed", "parts"]
)
def test_c_sync_root_fuses_and_replays(inputs: tuple[str, ...], tmp_path: Path, report) -> None:
    """WASI output streams (host resources) in the root beside the provider's in-module tasks:
    fused (no refusal), every recorded value, trap and stdout byte reproduced."""
    given = [(name, (DATA / name).read_bytes()) for name in inputs]
    result = pymeld.fuse_files(given, options=pymeld.FuseOptions(component=True))
    fused = tmp_path / "fused.wasm"
    fused.write_bytes(result.output)
    total, bad = async_harness.check(DATA / "expected.json", fused, None)
    assert not bad, "\n".join(bad)
    assert total == 25
    report(
        f"async composition c-sync-root ({' + '.join(inputs)})",
        f"fused ({len(result.output)} bytes), {total} calls replayed",
    )
