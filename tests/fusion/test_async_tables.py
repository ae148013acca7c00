"""Async across former instances, stage 1 of issue 11 (merge.asyncfuse).

* Hand-built cases in `wast_async_tables/` through the differential oracle: stream handle
  numbers of two instances (fresh and reused indices, a stale handle), readable ends moved
  through adapters and the traps of that move (write end, busy, done, future already read),
  a waitable set polled for an end that went away and came back (the event names the local
  handle and ends the copy), a cancel that finds the writer gone,
  context slots around adapters and their reallocs, an in-module backpressure counter and a
  `task.return` that traps in an instance running only synchronous tasks.
* What stage 1 cannot make exact is refused with a message naming what it needs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from support import run_fuse_oracle

CASES = sorted((Path(__file__).parent / "wast_async_tables").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_case_is_equivalent(wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r


def _pair(c_body: str, c_canon: str, c_exports: str, d_import: str, d_body: str) -> str:
    """Component C (callee) and D (caller, root exports) wired by instance import `c`."""
    return f"""(component
  (component $C
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    {c_canon}
    (core module $CM (import "" "mem" (memory 1)) {c_body})
    {c_exports})
  (component $D
    (import "c" (instance $c {d_import}))
    {d_body})
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "c" (instance $c))))
  (export "run" (func $d "run")))"""


_D_STREAM_CALLER = """
    (type $ST (stream {elem}))
    (core func $new (canon stream.new $ST))
    (core func $f (canon lower (func $c "f")))
    (core module $DM
      (import "" "new" (func $new (result i64)))
      (import "" "f" (func $f (param i32) (result i32)))
      (func (export "run") (result i32) (call $f (i32.wrap_i64 (call $new)))))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "new" (func $new)) (export "f" (func $f))))))
    (func (export "run") (result u32) (canon lift (core func $dm "run")))"""

_C_STREAM_CALLEE = """
    (type $ST (stream {elem}))
    (core func $drop (canon stream.drop-readable $ST))
    {extra_canon}
    (core instance $cm (instantiate $CM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "drop" (func $drop)) {extra_export}))))
    (func (export "f") (param "s" (stream {elem})) (result u32)
      (canon lift (core func $cm "f")))"""


def _stream_pair(
    elem: str, extra_canon: str = "", extra_export: str = "", c_funcs: str = ""
) -> str:
    return _pair(
        f"""(import "" "drop" (func $drop (param i32))) {c_funcs}
        (func (export "f") (param i32) (result i32) (call $drop (local.get 0)) (local.get 0))""",
        "",
        _C_STREAM_CALLEE.format(elem=elem, extra_canon=extra_canon, extra_export=extra_export),
        f'(export "f" (func (param "s" (stream {elem})) (result u32)))',
        _D_STREAM_CALLER.format(elem=elem),
    )


CALLBACK_ROOT = """(component
  (component $C
    (type $ST (stream u8))
    (core func $drop (canon stream.drop-readable $ST))
    (core module $CM
      (import "" "drop" (func $drop (param i32)))
      (func (export "f") (param i32) (result i32) (call $drop (local.get 0)) (local.get 0)))
    (core instance $cm (instantiate $CM (with "" (instance (export "drop" (func $drop))))))
    (func (export "f") (param "s" (stream u8)) (result u32) (canon lift (core func $cm "f"))))
  (component $D
    (import "c" (instance $c (export "f" (func (param "s" (stream u8)) (result u32)))))
    (type $ST (stream u8))
    (core func $new (canon stream.new $ST))
    (core func $f (canon lower (func $c "f")))
    (core func $ret (canon task.return (result u32)))
    (core module $DM
      (import "" "new" (func $new (result i64)))
      (import "" "f" (func $f (param i32) (result i32)))
      (import "" "ret" (func $ret (param i32)))
      (func (export "run") (result i32)
        (call $ret (call $f (i32.wrap_i64 (call $new)))) (i32.const 0))
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "new" (func $new)) (export "f" (func $f)) (export "ret" (func $ret))))))
    (func (export "run") async (result u32)
      (canon lift (core func $dm "run") async (callback (core func $dm "cb")))))
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "c" (instance $c))))
  (export "run" (func $d "run")))"""
BLOCKING_READ = _stream_pair(
    "u8",
    '(core func $rd (canon stream.read $ST (memory (core memory $mem "mem"))))',
    '(export "rd" (func $rd))',
    '(import "" "rd" (func (param i32 i32 i32) (result i32)))',
)
ROOT_STREAM = """(component
  (component $C
    (type $ST (stream u8))
    (core func $new (canon stream.new $ST))
    (core module $CM
      (import "" "new" (func $new (result i64)))
      (func (export "f") (result i32) (i32.wrap_i64 (call $new))))
    (core instance $cm (instantiate $CM (with "" (instance (export "new" (func $new))))))
    (func (export "f") (result (stream u8)) (canon lift (core func $cm "f"))))
  (component $D
    (import "c" (instance $c (export "f" (func (result (stream u8))))))
    (core func $f (canon lower (func $c "f")))
    (core module $DM
      (import "" "f" (func $f (result i32)))
      (func (export "run") (result i32) (call $f))
      (func (export "post") (param i32)))
    (core instance $dm (instantiate $DM (with "" (instance (export "f" (func $f))))))
    (func (export "run") (result (stream u8))
      (canon lift (core func $dm "run") (post-return (core func $dm "post")))))
  (instance $c (instantiate $C))
  (instance $d (instantiate $D (with "c" (instance $c))))
  (export "run" (func $d "run")))"""


@pytest.mark.parametrize(
    ("wat", "message"),
    [
        (
            CALLBACK_ROOT,
            r"callback of root export `run` \(events\) of component instance "
            r"root/instance1, whose stream/future handles are numbered in-module",
        ),
        (
            BLOCKING_READ,
            r"blocking `stream.read` \(no `async`\) in component instance "
            r"root/instance0",
        ),
        (
            ROOT_STREAM,
            r"stream/future/error-context in root export `run` \(other than flat params and "
            r"result without post-return\) of component instance root/instance1",
        ),
    ],
    ids=[
        "callback-root-export",
        "blocking-in-sync-instance",
        "root-export-end",
    ],
)
def test_refusals_name_what_is_needed(
    wat: str, message: str, wasm_tools: str, tmp_path: Path
) -> None:
    src, binary = tmp_path / "c.wat", tmp_path / "c.wasm"
    src.write_text(wat)
    subprocess.run([wasm_tools, "parse", str(src), "-o", str(binary)], check=True)
    with pytest.raises(UnsupportedFeature, match=message):
        fuse_bytes(binary.read_bytes(), options=FuseOptions(component=True))


def test_number_payload_stream_through_adapter_validates(wasm_tools: str, tmp_path: Path) -> None:
    """The same shape as the refusals with a u8 stream: fused (the refusals are specific)."""
    src, binary, fused = tmp_path / "c.wat", tmp_path / "c.wasm", tmp_path / "f.wasm"
    src.write_text(_stream_pair("u8"))
    subprocess.run([wasm_tools, "parse", str(src), "-o", str(binary)], check=True)
    fused.write_bytes(fuse_bytes(binary.read_bytes(), options=FuseOptions(component=True)).output)
    subprocess.run([wasm_tools, "validate", "--features", "all", str(fused)], check=True)
