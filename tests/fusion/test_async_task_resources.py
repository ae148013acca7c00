"""Resource handles across in-module async tasks (merge.asyncres, merge.asynctask; issue 11).

The WASI 0.3 HTTP middleware shape: a middleware component calls an app component's
`handle: async func(own<request>) -> own<response>` (the resources defined by a third
component, as wasi:http/types would be). The call is an in-module task, so the own request moves
into the callee's table when the adapter lowers the parameters, and the own response moves
back into the caller's table when the callee's `task.return` (or a sync task's return) lifts
the result. Cases in `wast_async_task_resources/` run through the differential oracle against
wasmtime: the handle numbers, destructor order and every trap (use after move, a returned
handle used by the callee, a dropped handle returned) must be the original's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import pymeld
from support import (
    nested_component_text,
    oracle_against,
    parse_wat_file,
    run_fuse_oracle,
    stand_in_wast,
    wat_to_wasm,
)

CASES = sorted((Path(__file__).parent / "wast_async_task_resources").glob("*.wast"))


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_case_is_equivalent(wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r


# -- root exports taking and returning handles beside in-module tasks --------------------------

LIVE = Path(__file__).parent / "async_task_resources_live"
#: What the host stand-in's `run` gives on the original (checked against the fused output by
#: the oracle too): a value, or wasmtime's trap.
LIVE_CASES = {
    "middleware": "(u32.const 3396495730)",
    "middleware-app-returns-at-once": "(u32.const 1285036449)",
    "trap-returned-response-dropped": "unknown handle index",
    "trap-dropped-response-returned": "unknown handle index",
    # stage 1 (no in-module tasks): a root export taking a stream end and an own handle
    "stage1-drop": "(u32.const 4174217823)",
    "stage1-keep": "(u32.const 4174217816)",
    "stage1-trap-double-drop": "unknown handle index",
    # stage 2: the same beside in-module tasks (the end handed over, then the handle)
    "stage2-drop": "(u32.const 4174217823)",
    "stage2-keep": "(u32.const 4174217816)",
    "stage2-trap-double-drop": "unknown handle index",
    # the host lends a request to the middleware's async root export `peek`
    "peek-middleware": "(u32.const 2105536161)",
    "peek-trap-borrow-kept": "borrow handles still remain",
    "peek-trap-dropped-while-lent": "while borrowed",
}


def _harness(wasm_tools: str, inner: bytes, tmp_path: Path, name: str, case: str) -> str:
    """A component whose `run` drives ``inner`` as the host would (`driver.wat.part`: makes
    requests with the composition's exported `t`, calls its root export `handle`;
    `stage1-`/`stage2-driver.wat.part`: makes a stream and a handle, calls its root export
    `f`; `peek-driver.wat.part`: lends requests to its root export `peek`)."""
    stage = case[: case.index("-") + 1] if case.startswith(("stage1-", "stage2-", "peek-")) else ""
    driver = f"{stage}driver.wat.part"
    func = {"": "handle", "peek-": "peek"}.get(stage, "f")
    return (
        f"(component\n{nested_component_text(wasm_tools, inner, tmp_path, name)}"
        f"{(LIVE / driver).read_text()}"
        "  (instance $inner (instantiate $Inner))\n"
        '  (instance $d (instantiate $D (with "t" (instance $inner "t"))\n'
        f'    (with "{func}" (func $inner "{func}"))))\n'
        '  (export "run" (func $d "run")))\n'
    )


@pytest.mark.parametrize("case", sorted(LIVE_CASES))
def test_root_export_handles_beside_tasks(
    case: str, wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """The middleware's root export `handle(own request) -> own response`, lifted async with
    a callback: the request the host passes enters the middleware's in-module table, the
    response its `task.return` hands back leaves it; the fused composition nested in a host
    stand-in gives what the original does (the root's sync `t` exports too). Stage 1 and 2: a
    root export of an instance whose stream ends and handles are in-module tables, taking
    both (without and beside in-module tasks). A borrow the host lends to an `async` root
    export is the root task's until its `task.return` (which traps if it is still held)."""
    inner = parse_wat_file(wasm_tools, (LIVE / f"{case}.wat").read_text(), tmp_path, "inner")
    fused = pymeld.fuse_bytes(inner.read_bytes(), options=pymeld.FuseOptions(component=True))
    fused_harness = _harness(wasm_tools, fused.output, tmp_path, "fused", case)
    transformed = parse_wat_file(wasm_tools, fused_harness, tmp_path, "fused.harness")
    harness = _harness(wasm_tools, inner.read_bytes(), tmp_path, "original", case)
    wast = stand_in_wast(harness, {"run": LIVE_CASES[case]}, tmp_path / "live.wast")
    result = oracle_against(oracle_py, wast, transformed, tmp_path)
    assert result["status"] == "equivalent", result


_TYPES_THEN_FUNC = """(component
  (component $T
    (type $req (resource (rep i32)))
    (core func $qnew (canon resource.new $req))
    (core module $TM
      (import "" "qnew" (func $qnew (param i32) (result i32)))
      (func (export "mkreq") (param i32) (result i32) (call $qnew (local.get 0))))
    (core instance $tm (instantiate $TM (with "" (instance (export "qnew" (func $qnew))))))
    (export $req' "request" (type $req))
    (func (export "mkreq") (param "v" u32) (result (own $req')) (canon lift (core func $tm "mkreq"))))
  (component $U
    (import "t" (instance $t
      (export "request" (type $req (sub resource)))
      (export "mkreq" (func (param "v" u32) (result (own $req))))))
    (alias export $t "request" (type $req))
    (core func $mkreq (canon lower (func $t "mkreq")))
    (core module $UM
      (import "" "mkreq" (func $mkreq (param i32) (result i32)))
      (func (export "mk") (param i32) (result i32) (call $mkreq (local.get 0))))
    (core instance $um (instantiate $UM (with "" (instance (export "mkreq" (func $mkreq))))))
    (func (export "mk") (param "v" u32) (result (own $req)) (canon lift (core func $um "mk"))))
  (instance $t (instantiate $T))
  (instance $u (instantiate $U (with "t" (instance $t))))
  (export "t" (instance $t))
  (export "mk" (func $u "mk")))"""


def test_function_exported_after_the_instance_exporting_its_resource(tmp_path: Path) -> None:
    """A root function export after an instance export carrying its resource type (the
    middleware's `t` and `handle`): its type names the exported resource, as the validator
    requires (the `own` defined against the wrapper's own resource before is not reused)."""
    import wasmtime
    from wasmtime import component as wc

    out = pymeld.fuse_bytes(
        wat_to_wasm(_TYPES_THEN_FUNC), options=pymeld.FuseOptions(component=True)
    ).output
    wc.Component(wasmtime.Engine(), out)  # raises on an invalid component
