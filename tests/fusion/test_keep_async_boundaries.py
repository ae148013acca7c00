"""``fuse --keep-async-boundaries`` (pymeld.split): refused calls stay runtime boundaries.

* Hand-built cases in `wast_keepasync/` (each refused without the flag) are equivalent under
  the wast oracle with it, and split into exactly the clusters expected: two clusters with
  strings both ways, a chain A -> B (async) -> C whose sync edge B -> C is fused inside one
  cluster, three clusters in dependency order, a resource type (with a destructor) defined by
  one cluster whose handles the other makes, borrows and drops, records/enums/variants on a
  kept boundary (each cluster names them), a root export type that goes with the cluster whose
  root exports use it, a join refused because it would run two start functions out of order.
* A root export instance holding functions of two clusters is refused by name.
* Without a refusal the flag changes nothing (same bytes); the output is deterministic
  (twice, and across ``PYTHONHASHSEED``); core-module output is refused with it.
* The corpus files refused without the flag: none diverges under it, every failure is a named
  refusal, and a pinned set is equivalent.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pymeld.codec.component.parse import parse_component
from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from pymeld.inspect import kept_boundaries
from support import json_from_wast, oracle_corpus_statuses, run_fuse_oracle

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_keepasync").glob("*.wast"))
FLAGS = ("--component", "--keep-async-boundaries")
KEEP = FuseOptions(component=True, keep_async_boundaries=True)

#: The clusters each case must split into, in instantiation order.
CLUSTERS = {
    "chain-sync-inside.wast": [["root/instance0", "root/instance1"], ["root/instance2"]],
    "named-types-across.wast": [["root/instance0"], ["root/instance1"]],
    "resource-across.wast": [["root/instance0"], ["root/instance1"]],
    "root-export-type.wast": [["root/instance0"], ["root/instance1"]],
    "start-order.wast": [["root/instance0"], ["root/instance1"], ["root/instance2"]],
    # $B's synchronous call of $C's `g`, seen from the cluster of $A and $B, is a host `async
    # func` called synchronously, fused since merge.asynchostsync: two clusters
    "three-clusters.wast": [["root/instance0"], ["root/instance1", "root/instance2"]],
    "two-clusters-strings.wast": [["root/instance0"], ["root/instance1"]],
}


def _components(wasm_tools: str, wast: Path, tmp_path: Path) -> list[bytes]:
    """The components ``wast`` defines, in order."""
    assert json_from_wast(wasm_tools, wast, tmp_path)
    binaries = [p.read_bytes() for p in sorted(tmp_path.glob("*.wasm"))]
    return [b for b in binaries if b[4:8] == b"\x0d\x00\x01\x00"]


def _binary(wasm_tools: str, wast: Path, tmp_path: Path) -> bytes:
    """The one component ``wast`` defines."""
    (binary,) = _components(wasm_tools, wast, tmp_path)
    return binary


def _parse(wasm_tools: str, wat: str, tmp_path: Path) -> bytes:
    src, binary = tmp_path / "c.wat", tmp_path / "c.wasm"
    src.write_text(wat)
    subprocess.run([wasm_tools, "parse", str(src), "-o", str(binary)], check=True)
    return binary.read_bytes()


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_case_is_equivalent(wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path, FLAGS)
    assert r["status"] == "equivalent", r


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_case_clusters(wast: Path, wasm_tools: str, tmp_path: Path) -> None:
    data = _binary(wasm_tools, wast, tmp_path)
    with pytest.raises(UnsupportedFeature):  # the case needs the flag
        fuse_bytes(data, options=FuseOptions(component=True))
    result = fuse_bytes(data, options=KEEP)
    record = kept_boundaries(parse_component(result.output))
    assert record is not None
    assert record["clusters"] == CLUSTERS[wast.name]
    assert result.stats["clusters"] == len(CLUSTERS[wast.name])
    assert record["kept_edges"], "a split keeps at least one call edge"
    for edge in record["kept_edges"]:
        assert edge["calls"] and edge["reason"]
    assert fuse_bytes(data, options=KEEP).output == result.output  # deterministic


def test_chain_keeps_only_the_async_edge(wasm_tools: str, tmp_path: Path) -> None:
    """B -> C (sync) is fused inside B's cluster; only A -> B (into B, whose export the host
    calls too, and which yields) is kept."""
    data = _binary(wasm_tools, HERE / "wast_keepasync" / "chain-sync-inside.wast", tmp_path)
    record = kept_boundaries(parse_component(fuse_bytes(data, options=KEEP).output))
    assert record is not None
    (edge,) = record["kept_edges"]
    assert (edge["caller"], edge["callee"]) == ("root/instance2", "root/instance1")
    assert "`thread.yield` in component instance root/instance1" in edge["reason"]


def test_same_bytes_across_hash_seeds(pymeld: list[str], wasm_tools: str, tmp_path: Path) -> None:
    wast = HERE / "wast_keepasync" / "three-clusters.wast"
    (tmp_path / "in.wasm").write_bytes(_binary(wasm_tools, wast, tmp_path / "bin"))
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"o{seed}.wasm"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        cmd = [*pymeld, "fuse", str(tmp_path / "in.wasm"), "--keep-async-boundaries"]
        subprocess.run([*cmd, "-o", str(out)], check=True, env=env, capture_output=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0][4:8] == b"\x0d\x00\x01\x00"  # the flag implies --component


NO_REFUSAL = sorted((HERE / "wast").glob("*.wast")) + sorted((HERE / "wast_async").glob("*.wast"))


@pytest.mark.parametrize("wast", NO_REFUSAL, ids=[p.name for p in NO_REFUSAL])
def test_no_refusal_same_bytes(wast: Path, wasm_tools: str, tmp_path: Path) -> None:
    components = _components(wasm_tools, wast, tmp_path)
    assert components
    for data in components:
        plain = fuse_bytes(data, options=FuseOptions(component=True)).output
        assert fuse_bytes(data, options=KEEP).output == plain


def test_example_same_bytes(example_wasm: Path) -> None:
    data = example_wasm.read_bytes()
    plain = fuse_bytes(data, options=FuseOptions(component=True))
    kept = fuse_bytes(data, options=KEEP)
    assert kept.output == plain.output
    assert "clusters" not in kept.stats


def test_core_output_is_refused() -> None:
    with pytest.raises(ValueError, match="keep_async_boundaries needs component=True"):
        FuseOptions(keep_async_boundaries=True)


#: A root export instance holding one function of each of two clusters ($A's `thread.yield`, in
#: an instance the host calls, keeps the boundary).
SPLIT_EXPORT = """(component
  (component $A
    (core func $yield (canon thread.yield))
    (core func $tr (canon task.return (result u32)))
    (core module $m
      (import "" "tr" (func $tr (param i32)))
      (import "" "yield" (func $yield (result i32)))
      (func (export "f") (param i32) (result i32) (call $tr (local.get 0)) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32)
        (drop (call $yield)) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "tr" (func $tr)) (export "yield" (func $yield))))))
    (func (export "f") async (param "x" u32) (result u32)
      (canon lift (core func $i "f") async (callback (core func $i "cb")))))
  (component $B
    (import "f" (func $f async (param "x" u32) (result u32)))
    (core func $f (canon lower (func $f)))
    (core module $m
      (import "" "f" (func $f (param i32) (result i32)))
      (func (export "g") (param i32) (result i32) (call $f (local.get 0))))
    (core instance $i (instantiate $m (with "" (instance (export "f" (func $f))))))
    (func (export "g") (param "x" u32) (result u32) (canon lift (core func $i "g"))))
  (instance $a (instantiate $A))
  (instance $b (instantiate $B (with "f" (func $a "f"))))
  (instance $both (export "f" (func $a "f")) (export "g" (func $b "g")))
  (export "both" (instance $both)))"""


def test_export_instance_across_clusters_is_refused(wasm_tools: str, tmp_path: Path) -> None:
    data = _parse(wasm_tools, SPLIT_EXPORT, tmp_path)
    with pytest.raises(
        UnsupportedFeature, match=r"root export `both` holds functions of 2 clusters"
    ):
        fuse_bytes(data, options=KEEP)


#: Corpus files refused without the flag (but big-interleaving-test and passing-resources, fused
#: without it too now) and equivalent with it (pinned: all 24 of them).
EQUIVALENT = {
    "component-model/test/async/big-interleaving-test.wast",
    "component-model/test/async/cross-abi-calls.wast",
    "component-model/test/async/cross-task-future.wast",
    "component-model/test/async/deadlock.wast",
    "component-model/test/async/dont-block-start.wast",
    "component-model/test/async/drop-subtask.wast",
    "component-model/test/async/drop-waitable-set.wast",
    "component-model/test/async/empty-wait.wast",
    "component-model/test/async/passing-resources.wast",
    "component-model/test/async/trap-if-done.wast",
    "component-model/test/async/zero-length.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/cancel-sibling-subtask.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/context-in-compositions.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/drop-waitable-set-stackful.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/future-drop-writable-after-notified-drop.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/many-params-with-retptr.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/partial-stream-copies.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/reenter-during-yield.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/subtask-wait.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/sync-streams.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/wait-forever.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/wait-forever2.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/yield-when-cancelled.wast",
    "wasmtime/tests/misc_testsuite/gc/component-async-suspended-fiber-roots.wast",
}
#: Refused with the flag too, by name: none left (passing-resources, the last, is fused whole:
#: its producer, whose export the host calls, is entered through adapters too, merge.asyncroot).
REFUSED: set[str] = set()


def test_corpus_async_files_under_the_flag(
    oracle_py: Path, wast_dir: Path, pymeld: list[str], tmp_path: Path
) -> None:
    files = [wast_dir / p for p in sorted(EQUIVALENT | REFUSED)]
    equivalent, failed = oracle_corpus_statuses(oracle_py, pymeld, wast_dir, files, tmp_path, FLAGS)
    assert equivalent >= EQUIVALENT, sorted(EQUIVALENT - equivalent)
    assert set(failed) == REFUSED


def _cli_refusal(pymeld: list[str], data: bytes, tmp_path: Path, *flags: str) -> str:
    """``pymeld fuse`` of ``data`` refused: exit 1, one line on stderr, no output file."""
    (tmp_path / "in.wasm").write_bytes(data)
    out = tmp_path / "out.wasm"
    cmd = [*pymeld, "fuse", str(tmp_path / "in.wasm"), "-o", str(out), *flags]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.startswith("pymeld: error: unsupported:") and not out.exists()
    return p.stderr


@pytest.mark.parametrize(
    ("case", "what"),
    [
        ("chain-sync-inside.wast", "2 clusters, a call edge between"),
        ("three-clusters.wast", "2 clusters, 2 call edges between"),
    ],
)
def test_refusal_names_the_flag_that_fuses_it(
    case: str, what: str, pymeld: list[str], wasm_tools: str, tmp_path: Path
) -> None:
    """A refusal the flag would get past says so, with what the flag would keep."""
    data = _binary(wasm_tools, HERE / "wast_keepasync" / case, tmp_path / "bin")
    for flags in [(), ("--component",)]:
        err = _cli_refusal(pymeld, data, tmp_path, *flags)
        assert f"(hint: --keep-async-boundaries fuses it: {what} component instances" in err
        assert err.rstrip().endswith("the output is a component, not fully fused)")


def test_no_hint_when_the_flag_does_not_help(
    pymeld: list[str], wasm_tools: str, tmp_path: Path
) -> None:
    data = _parse(wasm_tools, SPLIT_EXPORT, tmp_path)
    for flags in [(), ("--keep-async-boundaries",)]:
        err = _cli_refusal(pymeld, data, tmp_path, *flags)
        assert "hint" not in err
    err = _cli_refusal(pymeld, data, tmp_path, "--keep-async-boundaries")
    assert "holds functions of 2 clusters" in err
