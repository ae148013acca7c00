"""Component-model async passed through fusion when one instance owns it (merge.asyncpass).

* Hand-built cases in `wast_async/` through the differential oracle: an async export with a
  callback (task.return with memory, context slots, a fused adapter to a sync helper) and a
  stream round trip inside one instance (waitable sets, drops).
* Host `async func` imports lowered async and sync: the output validates and keeps the WIT.
* An async call across instances whose callee yields under a sync caller that may not block
  traps as wasmtime does; context slots in two instances, and an adapter into the async
  instance, are fused now (merge.asyncfuse; their equivalence is in test_async_tables).
* The corpus async wast files: none may diverge, every transform failure is a named refusal,
  and the files fused today stay equivalent.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pymeld.fuse import FuseOptions, fuse_bytes
from support import oracle_corpus_statuses, run_fuse_oracle

CASES = sorted((Path(__file__).parent / "wast_async").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_async_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r


def _user(name: str, builtin: str, sig: str, body: str, export: str) -> str:
    """A nested component whose one export calls one context built-in."""
    return f"""(component ${name}
    (core func $b (canon {builtin}))
    (core module $m
      (import "" "b" (func $b {sig}))
      (func (export "f") (result i32) {body}))
    (core instance $i (instantiate $m (with "" (instance (export "b" (func $b))))))
    (func (export "{export}") (result u32) (canon lift (core func $i "f"))))"""


TWO_ASYNC = f"""(component
  {_user("A", "context.set i32 0", "(param i32)", "(call $b (i32.const 1)) (i32.const 1)", "a")}
  {_user("B", "context.get i32 0", "(result i32)", "(call $b)", "b")}
  (instance $a (instantiate $A))
  (instance $b (instantiate $B))
  (export "a" (func $a "a"))
  (export "b" (func $b "b")))"""

ASYNC_EDGE = """(component
  (component $A
    (core func $tr (canon task.return (result u32)))
    (core func $y (canon thread.yield))
    (core module $m
      (import "" "tr" (func $tr (param i32)))
      (import "" "y" (func $y (result i32)))
      (func (export "f") (drop (call $y)) (call $tr (i32.const 5))))
    (core instance $i (instantiate $m (with "" (instance
      (export "tr" (func $tr)) (export "y" (func $y))))))
    (func (export "f") async (result u32)
      (canon lift (core func $i "f") async)))
  (component $B
    (import "f" (func $f async (result u32)))
    (core func $f (canon lower (func $f)))
    (core module $m
      (import "" "f" (func $f (result i32)))
      (func (export "g") (result i32) (call $f)))
    (core instance $i (instantiate $m (with "" (instance (export "f" (func $f))))))
    (func (export "g") (result u32) (canon lift (core func $i "g"))))
  (instance $a (instantiate $A))
  (instance $b (instantiate $B (with "f" (func $a "f"))))
  (export "g" (func $b "g")))"""

INTO_ASYNC = f"""(component
  {_user("A", "context.get i32 0", "(result i32)", "(call $b)", "a")}
  (component $B
    (import "a" (func $a (result u32)))
    (core func $a (canon lower (func $a)))
    (core module $m
      (import "" "a" (func $a (result i32)))
      (func (export "g") (result i32) (call $a)))
    (core instance $i (instantiate $m (with "" (instance (export "a" (func $a))))))
    (func (export "g") (result u32) (canon lift (core func $i "g"))))
  (instance $a (instantiate $A))
  (instance $b (instantiate $B (with "a" (func $a "a"))))
  (export "g" (func $b "g")))"""


def test_async_edge_yield_under_a_sync_caller_traps(
    oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    """The stackful callee yields under a sync-lifted caller that may not block: fused now (a
    sync lower's call of a task is an entry, merge.asynctask), it traps as wasmtime does
    (`CannotBlockSyncTask`) instead of returning."""
    wast = tmp_path / "edge.wast"
    wast.write_text(ASYNC_EDGE + '\n(assert_trap (invoke "g") "cannot block a synchronous task")\n')
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r


@pytest.mark.parametrize("wat", [TWO_ASYNC, INTO_ASYNC], ids=["two-instances", "into-async"])
def test_context_in_two_instances_is_fused(wat: str, wasm_tools: str, tmp_path: Path) -> None:
    """Context slots in two instances (no longer refused: merge.asyncfuse gives each adapter
    call a fresh task's slots); equivalence is checked in test_async_tables."""
    src, binary, fused = tmp_path / "c.wat", tmp_path / "c.wasm", tmp_path / "f.wasm"
    src.write_text(wat)
    subprocess.run([wasm_tools, "parse", str(src), "-o", str(binary)], check=True)
    fused.write_bytes(fuse_bytes(binary.read_bytes(), options=FuseOptions(component=True)).output)
    subprocess.run([wasm_tools, "validate", "--features", "all", str(fused)], check=True)


#: Host `async func`s lowered async (spilled params, result out-pointer, realloc: shim path),
#: and sync; wasmtime-py has no concurrent host functions, so this one is checked statically.
HOST_ASYNC = """(component
  (import "h" (instance $h
    (export "f" (func async (param "x" u32) (result string)))
    (export "g" (func async (param "a" u32) (param "b" u32) (param "c" u32) (param "d" u32) (param "e" u32)))))
  (alias export $h "f" (func $f))
  (alias export $h "g" (func $g))
  (component $A
    (import "f" (func $f async (param "x" u32) (result string)))
    (import "g" (func $g async (param "a" u32) (param "b" u32) (param "c" u32) (param "d" u32) (param "e" u32)))
    (core module $libc
      (memory (export "memory") 1)
      (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 64)))
    (core instance $libc (instantiate $libc))
    (core func $f-async (canon lower (func $f) async (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
    (core func $f-sync (canon lower (func $f) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
    (core func $g-async (canon lower (func $g) async (memory (core memory $libc "memory"))))
    (core func $g-async-nomem (canon lower (func $f) async (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
    (core func $ws.new (canon waitable-set.new))
    (core func $drop (canon subtask.drop))
    (core module $m
      (import "" "f" (func (param i32 i32) (result i32)))
      (import "" "fs" (func (param i32 i32)))
      (import "" "g" (func (param i32) (result i32)))
      (import "" "ws" (func (result i32)))
      (import "" "drop" (func (param i32)))
      (func (export "run") (param i32) (result i32) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) (i32.const 0)))
    (core instance $i (instantiate $m (with "" (instance
      (export "f" (func $f-async)) (export "fs" (func $f-sync)) (export "g" (func $g-async))
      (export "ws" (func $ws.new)) (export "drop" (func $drop))))))
    (func (export "run") async (param "x" u32) (result u32)
      (canon lift (core func $i "run") async (callback (core func $i "cb")))))
  (instance $a (instantiate $A (with "f" (func $f)) (with "g" (func $g))))
  (export "run" (func $a "run")))"""


def test_async_host_lowers_validate_with_the_same_interface(
    wasm_tools: str, tmp_path: Path
) -> None:
    src, original, fused = tmp_path / "c.wat", tmp_path / "c.wasm", tmp_path / "f.wasm"
    src.write_text(HOST_ASYNC)
    subprocess.run([wasm_tools, "parse", str(src), "-o", str(original)], check=True)
    out = fuse_bytes(original.read_bytes(), options=FuseOptions(component=True)).output
    fused.write_bytes(out)
    subprocess.run([wasm_tools, "validate", "--features", "all", str(fused)], check=True)

    def wit(p: Path) -> str:
        r = subprocess.run([wasm_tools, "component", "wit", str(p)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert wit(fused) == wit(original)


#: Corpus async files fused equivalently (pinned: a regression shows up as a missing name).
EQUIVALENT = {
    "component-model/test/async/builtin-trap-poisons-instance.wast",
    "component-model/test/async/cancel-stream.wast",
    "component-model/test/async/deadlock.wast",
    "component-model/test/async/dont-block-start.wast",
    "component-model/test/async/drop-waitable-set.wast",
    "component-model/test/async/drop-stream.wast",
    "component-model/test/async/futures-must-write.wast",
    "component-model/test/async/same-component-stream-future.wast",
    "component-model/test/async/wait-during-callback.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/async-builtins.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/backpressure-overflow.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/context-in-compositions.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/drop-deadlock.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/future-cancel-read-dropped.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/future-cancel-write-completed.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/future-cancel-write-dropped.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/futures.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/intra-futures.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/intra-streams.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/lift.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/many-params-with-retptr.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/stream-big-read-and-writes.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/streams.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/subtask-wait.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/trap-if-transfer-in-waitable-set.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/wait-forever.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/wait-forever2.wast",
    "wasmtime/tests/misc_testsuite/component-model/async/waitable-set-stale-entry.wast",
}


def test_corpus_async_files(
    oracle_py: Path, wast_dir: Path, pymeld: list[str], tmp_path: Path
) -> None:
    files = sorted(p for p in wast_dir.rglob("*.wast") if "async" in p.parent.name)
    assert files, "no async wast files in the corpus"
    equivalent, _ = oracle_corpus_statuses(oracle_py, pymeld, wast_dir, files, tmp_path)
    assert equivalent >= EQUIVALENT, sorted(EQUIVALENT - equivalent)
