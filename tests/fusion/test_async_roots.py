"""Root exports beside in-module tasks (merge.asyncroot, issue 11 stage 2).

Hand-built cases in `wast_async_roots/` through the differential oracle: a callback-lifted root
export driven in-module (YIELD order against queued subtasks, WAIT on an in-module set, context
slots across callbacks, the traps of a bad set, a deadlock, an unknown code, EXIT before
returning), root exports of two instances of one caller (their own handle tables, calls
alternating between them) and a sync lower under a driven root. The wast expectations are the
original's (the oracle checks them), so each case pins wasmtime's behaviour as well.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from support import run_fuse_oracle, wat_to_wasm

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_async_roots").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_root_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r  # the original matched every expectation, traps included


_BACKPRESSURE_TWO_ROOTS = """
(component
  (component $P
    (core module $m
      (import "" "tr" (func $tr (param i32)))
      (func (export "f") (result i32) (call $tr (i32.const 1)) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core func $tr (canon task.return (result u32)))
    (core instance $i (instantiate $m (with "" (instance (export "tr" (func $tr))))))
    (func (export "f") async (result u32)
      (canon lift (core func $i "f") async (callback (core func $i "cb")))))
  (component $C
    (import "f" (func $f async (result u32)))
    (core module $mem (memory (export "mem") 1))
    (core instance $mem (instantiate $mem))
    (core func $f (canon lower (func $f) async (memory (core memory $mem "mem"))))
    (core func $inc (canon backpressure.inc))
    (core module $m
      (import "" "f" (func $f (param i32) (result i32)))
      (import "" "inc" (func $inc))
      (func (export "go") (result i32) (call $inc) (call $f (i32.const 0))))
    (core instance $i (instantiate $m (with "" (instance
      (export "f" (func $f)) (export "inc" (func $inc))))))
    (func (export "go") async (result u32) (canon lift (core func $i "go"))))
  (instance $p (instantiate $P))
  (instance $c1 (instantiate $C (with "f" (func $p "f"))))
  (instance $c2 (instantiate $C (with "f" (func $p "f"))))
  (export "go1" (func $c1 "go"))
  (export "go2" (func $c2 "go"))
)
"""


def test_backpressure_of_several_root_instances_is_refused() -> None:
    """The fused instance has one backpressure gate for the host's calls; an instance raising
    it would close the other instances' exports too."""
    data = wat_to_wasm(_BACKPRESSURE_TWO_ROOTS)
    with pytest.raises(UnsupportedFeature, match=r"backpressure\.inc.*per-instance gating"):
        fuse_bytes(data, options=FuseOptions(component=True))
