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


def _two_roots(a_module: str, a_canon: str, a_lift: str) -> str:
    """Root exports of two instances, no calls between them: ``$A``'s async export (its core
    module, built-ins and lift given) beside ``$B``'s sync one."""
    return f"""
(component
  (component $A
    (core module $m {a_module})
    {a_canon}
    (func (export "run") async (result u32) {a_lift}))
  (component $B
    (core module $m (func (export "get") (result i32) (i32.const 7)))
    (core instance $i (instantiate $m))
    (func (export "get") (result u32) (canon lift (core func $i "get"))))
  (instance $a (instantiate $A))
  (instance $b (instantiate $B))
  (export "run" (func $a "run"))
  (export "get" (func $b "get"))
)
"""


_ROOT_SHAPES_REFUSED = {
    # the gate of $A's host calls would close $B's exports too
    "backpressure": (
        _two_roots(
            """(import "" "tr" (func $tr (param i32))) (import "" "inc" (func $inc))
            (func (export "f") (result i32) (call $inc) (call $tr (i32.const 1)) (i32.const 0))
            (func (export "cb") (param i32 i32 i32) (result i32) unreachable)""",
            """(core func $tr (canon task.return (result u32)))
            (core func $inc (canon backpressure.inc))
            (core instance $i (instantiate $m (with "" (instance
              (export "tr" (func $tr)) (export "inc" (func $inc))))))""",
            """(canon lift (core func $i "f") async (callback (core func $i "cb")))""",
        ),
        r"backpressure\.inc.*per-instance gating",
    ),
    # a callback-lifted root keeps its instance to itself while it yields: its stack would
    # have to suspend (a stackful root's yield blocks in place: wast_async_yield/root-*)
    "callback-yield": (
        _two_roots(
            """(import "" "tr" (func $tr (param i32))) (import "" "y" (func $y (result i32)))
            (func (export "f") (result i32) (drop (call $y)) (call $tr (i32.const 1)) (i32.const 0))
            (func (export "cb") (param i32 i32 i32) (result i32) unreachable)""",
            """(core func $tr (canon task.return (result u32)))
            (core func $y (canon thread.yield))
            (core instance $i (instantiate $m (with "" (instance
              (export "tr" (func $tr)) (export "y" (func $y))))))""",
            """(canon lift (core func $i "f") async (callback (core func $i "cb")))""",
        ),
        r"thread\.yield.*suspended core stack",
    ),
}


@pytest.mark.parametrize("shape", sorted(_ROOT_SHAPES_REFUSED))
def test_async_root_beside_other_roots_refuses_what_the_task_path_cannot_fuse(
    shape: str,
) -> None:
    """An async root export beside another instance's exports takes the in-module path (the
    `wast_async_roots/*-root*` cases); what that path cannot make exact stays refused by name."""
    text, message = _ROOT_SHAPES_REFUSED[shape]
    with pytest.raises(UnsupportedFeature, match=message):
        fuse_bytes(wat_to_wasm(text), options=FuseOptions(component=True))
