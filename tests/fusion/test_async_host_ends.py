"""Stream/future ends a root export hands the host beside in-module async tasks.

Once async calls between former instances run as in-module tasks, every stream/future end is
an in-module object (`merge.asyncstream`); the runtime's table of the fused instance holds
none. A sync-lifted root export whose result is such an end (the corpus `trap-if-done.wast`)
is fused: wasmtime's lift of the result traps for an end that is busy, in a waitable set,
notified that its writer dropped, a future already read, or no readable end of that type
(`lift_index_to_transmit`), and the fused export traps at that lift whatever the end's state:
a live end needs ends shared with the runtime's table (refused at run time, pinned below).
With `--keep-async-boundaries` the shape stays refused when fusing, so that a component
boundary is kept there and the runtime hands the host its end.

* `wast_async_host_ends/`: the lift's traps, each with wasmtime's message (the oracle checks
  the original's), fused equivalently.
* The live case, observed through a consumer component standing in for the host (wasmtime-py
  cannot take a stream): the original and the `--keep-async-boundaries` output give the
  consumer the byte the producer wrote; the fully fused one traps (`unreachable`) at the lift.
* Other shapes stay refused when fusing: an end among the parameters, nested in the result, or
  returned by an async lift (through `task.return`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pymeld.abi import types as at
from pymeld.codec.component.parse import parse_component
from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from pymeld.inspect import kept_boundaries
from support import run_fuse_oracle

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_async_host_ends").glob("*.wast"))
INNER = HERE / "host_ends_live" / "inner.wat"
KEEP = FuseOptions(component=True, keep_async_boundaries=True)
REFUSAL = "stream/future in root export `{}` beside in-module async tasks"

#: The consumer's result in the original: the writer's code (COMPLETED, 1 element: 0x10), the
#: consumer's read event payload (0x10) << 8 and the byte read (42) << 16.
LIVE_RESULT = 0x10 | 0x10 << 8 | 42 << 16

CONSUMER = """  (component $Consumer
    (import "live" (func $live async (result (stream u8))))
    (import "write" (func $write async (result u32)))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core module $M
      (import "" "mem" (memory 1))
      (import "" "live" (func $live (result i32)))
      (import "" "write" (func $write (result i32)))
      (import "" "stream.read" (func $stream.read (param i32 i32 i32) (result i32)))
      (import "" "waitable-set.new" (func $waitable-set.new (result i32)))
      (import "" "waitable.join" (func $waitable.join (param i32 i32)))
      (import "" "waitable-set.wait" (func $waitable-set.wait (param i32 i32) (result i32)))
      (func (export "run") (result i32)
        (local $sr i32) (local $ws i32) (local $w i32)
        (local.set $sr (call $live))
        (if (i32.ne (i32.const -1 (; BLOCKED ;))
                    (call $stream.read (local.get $sr) (i32.const 16) (i32.const 4)))
          (then unreachable))
        (local.set $w (call $write))
        (local.set $ws (call $waitable-set.new))
        (call $waitable.join (local.get $sr) (local.get $ws))
        (if (i32.ne (i32.const 2 (; STREAM_READ ;))
                    (call $waitable-set.wait (local.get $ws) (i32.const 0)))
          (then unreachable))
        (i32.or (i32.or (local.get $w) (i32.shl (i32.load (i32.const 4)) (i32.const 8)))
                (i32.shl (i32.load8_u (i32.const 16)) (i32.const 16))))
    )
    (type $ST (stream u8))
    (canon lower (func $live) (core func $live'))
    (canon lower (func $write) (core func $write'))
    (canon stream.read $ST async (memory (core memory $memory "mem")) (core func $stream.read))
    (canon waitable-set.new (core func $waitable-set.new))
    (canon waitable.join (core func $waitable.join))
    (canon waitable-set.wait (memory (core memory $memory "mem")) (core func $waitable-set.wait))
    (core instance $m (instantiate $M (with "" (instance
      (export "mem" (memory $memory "mem"))
      (export "live" (func $live'))
      (export "write" (func $write'))
      (export "stream.read" (func $stream.read))
      (export "waitable-set.new" (func $waitable-set.new))
      (export "waitable.join" (func $waitable.join))
      (export "waitable-set.wait" (func $waitable-set.wait))
    ))))
    (func (export "run") async (result u32) (canon lift (core func $m "run")))
  )
"""


def _parse(wasm_tools: str, wat: str, tmp_path: Path, name: str) -> Path:
    src, out = tmp_path / f"{name}.wat", tmp_path / f"{name}.wasm"
    src.write_text(wat)
    subprocess.run([wasm_tools, "parse", str(src), "-o", str(out)], check=True)
    return out


def _harness(wasm_tools: str, inner: bytes, tmp_path: Path, name: str, expect: str) -> Path:
    """A wast whose component runs the consumer against ``inner`` (a component binary, nested
    as its printed text) and expects ``expect`` of its `run`."""
    (tmp_path / f"{name}.wasm").write_bytes(inner)
    text = subprocess.run(
        [wasm_tools, "print", str(tmp_path / f"{name}.wasm")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert text.startswith("(component")
    wast = tmp_path / f"{name}.wast"
    wast.write_text(
        ";;! component_model_async = true\n;;! multi_memory = true\n(component\n"
        f"(component $Inner{text[len('(component') :]}\n{CONSUMER}"
        "  (instance $inner (instantiate $Inner))\n"
        '  (instance $consumer (instantiate $Consumer (with "live" (func $inner "live"))\n'
        '    (with "write" (func $inner "write"))))\n'
        '  (func (export "run") (alias export $consumer "run"))\n)\n'
        f"{expect}\n"
    )
    return wast


def _oracle_as_is(oracle_py: Path, wast: Path, tmp_path: Path) -> dict:
    """The oracle on ``wast`` with an identity transform: its commands against the wast's own
    expectations (an unmet one makes it original-failed)."""
    report = tmp_path / "report.json"
    cmd = [sys.executable, str(oracle_py), "--transform", "cp {in} {out}", "--json", str(report)]
    subprocess.run([*cmd, str(wast)], capture_output=True, text=True, timeout=600)
    (result,) = json.loads(report.read_text())["files"].values()
    return result


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_lift_trap_case_is_equivalent(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r  # the original trapped with each expected message


def test_lift_trap_cases_fuse_whole_and_keep_a_boundary_with_the_flag(
    wasm_tools: str, tmp_path: Path
) -> None:
    (case,) = (p for p in CASES if p.name == "lift-checks.wast")
    subprocess.run(
        [
            wasm_tools,
            "json-from-wast",
            str(case),
            "-o",
            str(tmp_path / "c.json"),
            "--wasm-dir",
            str(tmp_path),
        ],
        check=True,
    )
    (binary,) = [p.read_bytes() for p in tmp_path.glob("*.wasm")]
    fused = fuse_bytes(binary, options=FuseOptions(component=True)).output
    assert kept_boundaries(parse_component(fused)) is None
    record = kept_boundaries(parse_component(fuse_bytes(binary, options=KEEP).output))
    assert record is not None
    assert record["clusters"] == [["root/instance0"], ["root/instance1"]]
    (edge,) = record["kept_edges"]
    assert REFUSAL.format("busy") in edge["reason"]


def test_live_end_traps_where_the_original_hands_it_over(
    wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """The run-time refusal, pinned through a consumer component (the oracle with an identity
    transform checks each harness against its own expectation)."""
    original = _parse(wasm_tools, INNER.read_text(), tmp_path, "inner").read_bytes()
    returns = f'(assert_return (invoke "run") (u32.const {LIVE_RESULT}))'
    traps = '(assert_trap (invoke "run") "unreachable")'
    cases = {
        "original": (original, returns),
        "kept": (fuse_bytes(original, options=KEEP).output, returns),
        "fused": (fuse_bytes(original, options=FuseOptions(component=True)).output, traps),
    }
    for name, (inner, expect) in cases.items():
        wast = _harness(wasm_tools, inner, tmp_path, name, expect)
        r = _oracle_as_is(oracle_py, wast, tmp_path)
        assert r["status"] == "equivalent", (name, r)
        assert not r.get("warnings"), (name, r)  # a trap of the fused module's own


@pytest.mark.parametrize(
    "lift",
    [
        '(func (export "v") async (param "s" $ST) (result $ST) (canon lift (core func $core "echo")))',
        '(func (export "v") async (result (option $ST)) (canon lift (core func $core "live") '
        '(memory (core memory $memory "mem"))))',
    ],
    ids=["param", "nested-result"],
)
def test_other_shapes_stay_refused(lift: str, wasm_tools: str, tmp_path: Path) -> None:
    wat = INNER.read_text()
    anchor = (
        '    (func (export "write") async (result u32) (canon lift (core func $core "write")))\n'
    )
    root = '  (func (export "write") (alias export $d "write"))\n'
    assert anchor in wat and root in wat
    wat = wat.replace(anchor, f"{anchor}    {lift}\n").replace(
        root, f'{root}  (func (export "v") (alias export $d "v"))\n'
    )
    data = _parse(wasm_tools, wat, tmp_path, "shape").read_bytes()
    with pytest.raises(UnsupportedFeature, match=REFUSAL.format("v")):
        fuse_bytes(data, options=FuseOptions(component=True))


def test_only_a_sync_lifts_direct_end_result_is_lifted_for_the_host() -> None:
    """`host_end_result`, which `plan_tasks` fuses and `TaskRuntime._export` makes trap (an
    async lift's results go through `task.return`: refused; reached only beside async calls,
    so tested here directly)."""
    from pymeld.codec.core.model import ExternKind
    from pymeld.graph.model import CanonOpts, DefRef, Lifted
    from pymeld.merge.asynctask import host_end_result

    st, fu = at.Stream(at.U8()), at.Future(None)

    def lift(ft: at.FuncType, **opts: object) -> Lifted:
        return Lifted(DefRef(0, ExternKind.FUNC, 0), ft, CanonOpts(**opts), 0)  # type: ignore[arg-type]

    assert host_end_result(lift(at.FuncType((), st, True))) == st
    assert host_end_result(lift(at.FuncType((("b", at.Bool()),), fu))) == fu
    assert host_end_result(lift(at.FuncType((), st, True), is_async=True)) is None
    assert host_end_result(lift(at.FuncType((), at.Option(st)))) is None
    assert host_end_result(lift(at.FuncType((("s", st),), st))) is None
    assert host_end_result(lift(at.FuncType((), at.U32()))) is None
    assert host_end_result(lift(at.FuncType(()))) is None
