"""Combinations of root exports (merge.asyncroot) with the rest of issue 11 that are not exact
yet and must be refused by name at build time, not fused with a guess: in-module
streams/futures beside root exports of several instances. (A driven root beside streams,
nested subtasks and cancellation fuses: `test_async_driven*.py`, `wast_async_driven/`.)"""

from __future__ import annotations

import pytest

from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from support import wat_to_wasm

# $P: a callback-lifted `async func` returning at once.
_P = """
  (component $P
    (core module $m
      (import "" "tr" (func $tr (param i32)))
      (func (export "f") (result i32) (call $tr (i32.const 1)) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core func $tr (canon task.return (result u32)))
    (core instance $i (instantiate $m (with "" (instance (export "tr" (func $tr))))))
    (func (export "f") async (result u32)
      (canon lift (core func $i "f") async (callback (core func $i "cb")))))
"""


def _caller(name: str, extra_canon: str, extra_import: str, lift: str, export: str = "run") -> str:
    """A component calling its import "f" async from its export ``export`` (lifted ``lift``),
    with one more built-in (``extra_canon`` defining ``$extra``; ``extra_import`` imports it
    into the core module)."""
    extra = '(export "extra" (func $extra))' if extra_canon else ""
    return f"""
  (component ${name}
    (import "f" (func $f async (result u32)))
    (core module $mem (memory (export "mem") 1))
    (core instance $mem (instantiate $mem))
    (core func $f (canon lower (func $f) async (memory (core memory $mem "mem"))))
    (core func $tr (canon task.return (result u32)))
    {extra_canon}
    (core module $m
      (import "" "f" (func $f (param i32) (result i32)))
      (import "" "tr" (func $tr (param i32)))
      {extra_import}
      (func (export "{export}") (result i32)
        (drop (call $f (i32.const 8))) (call $tr (i32.const 2)) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "f" (func $f)) (export "tr" (func $tr)) {extra}))))
    (func (export "{export}") async (result u32) {lift.replace('"run"', f'"{export}"')}))
"""


_DRIVEN = '(canon lift (core func $i "run") async (callback (core func $i "cb")))'
_STREAM = "(type $st (stream u8)) (core func $extra (canon stream.new $st))"
_STREAM_IMPORT = '(import "" "extra" (func $extra (result i64)))'
_CANCEL = "(core func $extra (canon subtask.cancel))"
_CANCEL_IMPORT = '(import "" "extra" (func $extra (param i32) (result i32)))'


def _driven_beside_nested() -> str:
    # $Q's callback-lifted `f` calls $P's `f` async from inside an in-module task
    q = _caller("Q", "", "", _DRIVEN, export="f")
    r = _caller("R", "", "", _DRIVEN)
    return f"""(component {_P} {q} {r}
  (instance $p (instantiate $P))
  (instance $q (instantiate $Q (with "f" (func $p "f"))))
  (instance $r (instantiate $R (with "f" (func $q "f"))))
  (export "run" (func $r "run")))"""


def _one_root(extra: str, imp: str) -> str:
    return f"""(component {_P} {_caller("R", extra, imp, _DRIVEN)}
  (instance $p (instantiate $P))
  (instance $r (instantiate $R (with "f" (func $p "f"))))
  (export "run" (func $r "run")))"""


def _two_roots_with_streams() -> str:
    sync = '(canon lift (core func $i "run"))'
    return f"""(component {_P} {_caller("C", _STREAM, _STREAM_IMPORT, sync)}
  (instance $p (instantiate $P))
  (instance $c1 (instantiate $C (with "f" (func $p "f"))))
  (instance $c2 (instantiate $C (with "f" (func $p "f"))))
  (export "run1" (func $c1 "run"))
  (export "run2" (func $c2 "run")))"""


CASES = {
    "streams-beside-two-roots": (
        _two_roots_with_streams(),
        r"in-module streams/futures beside root exports of several component instances",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_combination_is_refused_by_name(name: str) -> None:
    wat, message = CASES[name]
    data = wat_to_wasm(wat)
    with pytest.raises(UnsupportedFeature, match=message):
        fuse_bytes(data, options=FuseOptions(component=True))


def test_the_same_root_without_the_combination_fuses() -> None:
    """The refusals come from the combination: the driven root alone beside in-module tasks
    fuses."""
    data = wat_to_wasm(_one_root("", ""))
    assert fuse_bytes(data, options=FuseOptions(component=True)).output
