"""Root instances also called through adapters beside in-module tasks (merge.asyncroot's
`check_called_roots`, `_Hooks._enter_called_root`).

Hand-built cases in `wast_async_called_roots/` through the differential oracle: calls both ways
(an instance whose exports the host calls is entered by async and sync lowers, of a stackful
lift the host calls too, while it calls another instance), owned and borrowed handles of its
resource across that edge beside the host's own handles, a host call into it while one of its
in-module tasks waits (the delivery held until the host's call returns), a deferred call
running inside a host call that is blocked, and a callback-lifted export called by the host
(driven in-module) and through adapters, one `task.return` serving both, its task going on
in-module after its return beside a callee task of the same instance (both woken in one host
call, in wasmtime's order). The wast expectations are the original's (the
oracle checks them), so each case pins wasmtime's behaviour as well. What stays refused:
a call into it while a stack of its code (the host's or an adapter's) is blocked (a run-time
trap, pinned), and at fuse time its backpressure, suspend points and blocking reads and
writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from support import assert_traps_where_original_returns, run_fuse_oracle, wat_to_wasm

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_async_called_roots").glob("*.wast"))
REFUSED = sorted((HERE / "wast_async_called_roots_refused").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_called_root_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r  # the original matched every expectation, traps included


@pytest.mark.parametrize("wast", REFUSED, ids=[p.name for p in REFUSED])
def test_call_into_entered_root_traps(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    """wasmtime makes the caller wait for the host-called stack below it; the fused module
    traps there rather than run the call inside that stack."""
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert_traps_where_original_returns(r)


def test_cases_cover_the_edge_both_ways() -> None:
    names = {p.name for p in CASES}
    assert {
        "calls-both-ways.wast",
        "resources-across.wast",
        "host-call-beside-task.wast",
        "deferred-call-inside-host-call.wast",
        "driven-root-also-called.wast",
        "adopted-beside-callee-tasks.wast",
    } <= names


# $R (root: `peek` is exported) is called by $C's callback-lifted root export through an async
# lower; BODY adds to $R's core module, BUILTINS to its canon definitions and imports.
_SHAPE = """
(component
  (component $R
    (core module $mem (memory (export "mem") 1))
    (core instance $mem (instantiate $mem))
    (core func $tr (canon task.return (result u32)))
    BUILTINS
    (core module $m
      (import "" "mem" (memory 1))
      (import "" "tr" (func $tr (param i32)))
      IMPORTS
      (func (export "work") (param i32) (result i32) (call $tr (local.get 0)) (i32.const 0))
      (func (export "work-cb") (param i32 i32 i32) (result i32) unreachable)
      (func (export "peek") (result i32) (i32.const 1))
      BODY)
    (core instance $i (instantiate $m (with "" (instance
      (export "mem" (memory $mem "mem")) (export "tr" (func $tr)) INSTANCE))))
    (func (export "work") async (param "x" u32) (result u32)
      (canon lift (core func $i "work") async (callback (core func $i "work-cb"))))
    (func (export "peek") PEEK))
  (component $C
    (import "work" (func $work async (param "x" u32) (result u32)))
    (core module $mem (memory (export "mem") 1))
    (core instance $mem (instantiate $mem))
    (core func $work (canon lower (func $work) async (memory (core memory $mem "mem"))))
    (core func $tr (canon task.return (result u32)))
    (core module $m
      (import "" "work" (func $work (param i32 i32) (result i32)))
      (import "" "tr" (func $tr (param i32)))
      (func (export "run") (param i32) (result i32)
        (drop (call $work (local.get 0) (i32.const 8))) (call $tr (i32.const 0)) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "work" (func $work)) (export "tr" (func $tr))))))
    (func (export "run") async (param "x" u32) (result u32)
      (canon lift (core func $i "run") async (callback (core func $i "cb")))))
  (instance $r (instantiate $R))
  (instance $c (instantiate $C (with "work" (func $r "work"))))
  (export "run" (func $c "run"))
  (export "peek" (func $r "peek"))
)
"""
_SYNC_PEEK = '(result u32) (canon lift (core func $i "peek"))'


def _fuse(builtins: str = "", imports: str = "", instance: str = "", body: str = "") -> None:
    text = (
        _SHAPE.replace("BUILTINS", builtins)
        .replace("IMPORTS", imports)
        .replace("INSTANCE", instance)
        .replace("BODY", body)
        .replace("PEEK", _SYNC_PEEK)
    )
    fuse_bytes(wat_to_wasm(text), options=FuseOptions(component=True))


def test_the_shape_fuses() -> None:
    _fuse()  # the refusals below are each one addition to it


def test_backpressure_of_a_called_root_is_refused() -> None:
    """Its gate would have to stop the host's calls into it as well as the in-module ones;
    its caller is a root too, so `plan_roots` refuses it (one gate of the fused instance)."""
    with pytest.raises(UnsupportedFeature, match=r"`backpressure\.inc` .* per-instance gating"):
        _fuse(
            "(core func $inc (canon backpressure.inc))",
            '(import "" "inc" (func $inc))',
            '(export "inc" (func $inc))',
            '(func (export "raise") (call $inc))',
        )


def test_suspend_point_of_a_called_root_is_refused() -> None:
    """A wait in an instance entered by an async call unwinds its stack, which keeps the
    instance entered when the host calls it next."""
    with pytest.raises(
        UnsupportedFeature,
        match=r"`waitable-set\.wait` in component instance .*also called through an adapter",
    ):
        _fuse(
            '(core func $wait (canon waitable-set.wait (memory (core memory $mem "mem"))))',
            '(import "" "wait" (func $wait (param i32 i32) (result i32)))',
            '(export "wait" (func $wait))',
            '(func (export "w") (result i32) (call $wait (i32.const 1) (i32.const 0)))',
        )


def test_blocking_stream_read_of_a_called_root_is_refused() -> None:
    """One host-called stack at a time blocks on a root instance's ends (merge.asyncstream):
    an in-module task of the same instance could block there too."""
    with pytest.raises(
        UnsupportedFeature,
        match=r"`stream\.read` in component instance .*also called through an adapter",
    ):
        _fuse(
            '(type $S (stream u8)) (core func $read (canon stream.read $S (memory (core memory $mem "mem"))))',
            '(import "" "read" (func $read (param i32 i32 i32) (result i32)))',
            '(export "read" (func $read))',
            '(func (export "rd") (result i32) (call $read (i32.const 1) (i32.const 0) (i32.const 1)))',
        )
