"""Stream/future ends crossing the host boundary beside in-module async tasks (root export
results and parameters, host import parameters and results).

Once async calls between former instances run as in-module tasks, every stream/future end is
an in-module object (`merge.asyncstream`). A sync-lifted root export or a sync host import
call whose ends are flat parameters or the result (`merge.asynctask.boundary_ends`; the corpus
`trap-if-done.wast`, wasi:cli stdout's shape) is fused: an end handed to the host passes
wasmtime's lift checks, which trap as the original's lift does, and becomes the runtime's
(`StreamRuntime._host_lift`), one the host hands in an in-module proxy of the runtime's
(`_host_lower`). With `--keep-async-boundaries` these shapes stay refused when fusing, so that
a component boundary is kept there instead.

* `wast_async_host_ends/`: the lift's traps, each with wasmtime's message (the oracle checks
  the original's), fused equivalently.
* Live ends, observed through a consumer component standing in for the host (wasmtime-py
  cannot take a stream or future): the oracle runs a wast of the consumer with the original
  composition nested, against the same with the fused one (and the kept-boundaries one)
  nested: a read waiting when the producer writes (a stream, a future, a stream of strings
  copied with each side's options by the runtime), the writer dropped before or after the
  hand-off, the reader dropped (the writer's next write sees it, the one after traps as
  wasmtime's does); ends the consumer passes in, read by the root instance, handed on to
  another instance through an adapter and read or dropped there, given back, and the lift
  traps after a read saw the writer's drop. Refused at run time, pinned: a copy left waiting
  for the host (a write after the hand-off or before it, a read of an end nothing was written
  to), a poll of a set holding the writer's end, and a callback task waiting on that set at
  the hand-off (they need the runtime's events in in-module waits).
* Host imports (a reader component stands in for the host): one taking a live end among its
  parameters (wasi:cli's stdout shape), the producer's write reaching the host's waiting read,
  and one returning an end the host wrote to, read in-module.
* The runtime handles a hand-off takes number no instance's resources: an instance whose host
  resource handles the runtime's table would number gets an in-module table, its numbers the
  original's after a hand-off.
* Other shapes stay refused when fusing: ends in a list, an error-context. (Ends in tuples,
  records and variants, and those an async lift returns through `task.return`:
  test_async_returned_ends.)
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pymeld.abi import types as at
from pymeld.codec.component.parse import parse_component
from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from pymeld.inspect import kept_boundaries
from support import (
    REPO,
    assert_traps_where_original_returns,
    nested_component_text,
    oracle_against,
    parse_wat_file,
    run_cli,
    run_fuse_oracle,
    stand_in_wast,
)

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_async_host_ends").glob("*.wast"))
LIVE = HERE / "host_ends_live"
KEEP = FuseOptions(component=True, keep_async_boundaries=True)
REFUSAL = "stream/future in root export `{}` beside in-module async tasks"

#: The consumer's exports (consumer.wat) and what the original gives: results packed as the
#: consumer packs them (a write's code << 16 + the read's event code | payload << 8 | the byte
#: read << 24; a read's code), or wasmtime's trap.
LIVE_CASES = {
    "stream-read-first": "(u32.const 0x2a101002)",  # COMPLETED 1 both ways, 42 read
    "future-read-first": "(u32.const 0x2a000004)",  # COMPLETED, FUTURE_READ, 42 read
    "strings-read-first": "(u32.const 0x6810056f)",  # COMPLETED 1, "hello" (5 bytes) read
    "writer-gone-before": "(u32.const 1)",  # DROPPED, nothing read
    "writer-gone-after": "(u32.const 1)",
    "reader-gone": "(u32.const 1)",  # the write: DROPPED
    "reader-gone-write-twice": "cannot write to stream after being notified that the readable end dropped",
    "give-written": "(u32.const 0x2a101003)",  # COMPLETED 1 and 42 read; STREAM_WRITE
    "give-passed": "(u32.const 0x2a101003)",  # the same, read by $C
    "give-echoed": "(u32.const 0x2a101002)",  # the write: COMPLETED 1; STREAM_READ, 42
    "give-discarded": "(u32.const 1)",  # the write: DROPPED
    "give-dropped-echoed": "cannot lift stream after being notified that the writable end dropped",
    "give-dropped-passed": "cannot lift stream after being notified that the writable end dropped",
}
#: Refused at run time after fusion: the original returns, the fused module traps.
LIVE_REFUSED = {
    "stream-write-first": "(u32.const 0xffff0010)",  # BLOCKED, then the read takes the byte
    "reader-gone-writer-polls": "(u32.const 0x103)",  # STREAM_WRITE, DROPPED
    "written-before": "(u32.const 0x2a000010)",  # COMPLETED 1, 42 read
    "watched": "(u32.const 0x103)",  # the waiting task saw STREAM_WRITE, DROPPED
    "give-unwritten": "(u32.const 0xffffffff)",  # BLOCKED
}


def _harness(wasm_tools: str, inner: bytes, tmp_path: Path, name: str) -> str:
    """The text of a component running the consumer against ``inner`` (a component binary,
    nested as its printed text), re-exporting the consumer's functions."""
    exports = "".join(
        f'  (func (export "{n}") (alias export $consumer "{n}"))\n'
        for n in [*LIVE_CASES, *LIVE_REFUSED]
    )
    return (
        f"(component\n{nested_component_text(wasm_tools, inner, tmp_path, name)}"
        f"{(LIVE / 'consumer.wat').read_text()}"
        "  (instance $inner (instantiate $Inner))\n"
        '  (instance $consumer (instantiate $Consumer (with "d" (instance $inner "d"))))\n'
        f"{exports})\n"
    )


def _assert_fused_equivalent(
    wasm_tools: str,
    oracle_py: Path,
    original: bytes,
    harness: Callable[[bytes, str], str],
    cases: dict[str, str],
    tmp_path: Path,
) -> None:
    """The oracle runs ``cases`` on ``harness`` around ``original`` and around its fused
    output: equivalent, with no warning."""
    fused = fuse_bytes(original, options=FuseOptions(component=True)).output
    transformed = parse_wat_file(wasm_tools, harness(fused, "fused"), tmp_path, "fused.harness")
    wast = stand_in_wast(harness(original, "original"), cases, tmp_path / "live.wast")
    r = oracle_against(oracle_py, wast, transformed, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r


@pytest.fixture(scope="module")
def live(wasm_tools: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The harness around the original composition, and the binaries of the harnesses around
    its fused and kept-boundaries outputs."""
    tmp = tmp_path_factory.mktemp("live")
    original = parse_wat_file(
        wasm_tools, (LIVE / "inner.wat").read_text(), tmp, "inner"
    ).read_bytes()
    out: dict[str, object] = {"harness": _harness(wasm_tools, original, tmp, "original")}
    for name, options in (("fused", FuseOptions(component=True)), ("kept", KEEP)):
        text = _harness(wasm_tools, fuse_bytes(original, options=options).output, tmp, name)
        out[name] = parse_wat_file(wasm_tools, text, tmp, f"{name}.harness")
    return out


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


@pytest.mark.parametrize("variant", ["fused", "kept"])
def test_live_ends_are_handed_over_as_the_original_does(
    variant: str, live: dict[str, object], oracle_py: Path, tmp_path: Path
) -> None:
    harness = live["harness"]
    assert isinstance(harness, str)
    wast = stand_in_wast(harness, LIVE_CASES, tmp_path / "live.wast")
    transformed = live[variant]
    assert isinstance(transformed, Path)
    r = oracle_against(oracle_py, wast, transformed, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r  # the original met every expectation, traps included


@pytest.mark.parametrize("case", sorted(LIVE_REFUSED))
def test_live_end_waiting_on_the_host_traps(
    case: str, live: dict[str, object], oracle_py: Path, tmp_path: Path
) -> None:
    """Refused at run time after fusion; kept boundaries give the original's result."""
    harness = live["harness"]
    assert isinstance(harness, str)
    wast = stand_in_wast(harness, {case: LIVE_REFUSED[case]}, tmp_path / f"{case}.wast")
    fused, kept = live["fused"], live["kept"]
    assert isinstance(fused, Path) and isinstance(kept, Path)
    assert_traps_where_original_returns(oracle_against(oracle_py, wast, fused, tmp_path))
    assert oracle_against(oracle_py, wast, kept, tmp_path)["status"] == "equivalent"


#: The host's resource type and constructor, as the oracle's linker has them.
HOST = """(instance $host (export "resource1" (type $r (sub resource)))
    (export "[constructor]resource1" (func (param "r" u32) (result (own $r)))))"""

#: Beside the composition: $E, whose handles of the host's resource the runtime would number
#: (`merge.asyncres`), and what it returns (the handle); a consumer making two after the hand-off.
OBSERVER = f"""  (import "host" {HOST})
  (component $E
    (import "host" {HOST})
    (core func $ctor (canon lower (func $host "[constructor]resource1")))
    (core module $M
      (import "" "ctor" (func $ctor (param i32) (result i32)))
      (func (export "make") (result i32) (call $ctor (i32.const 7))))
    (core instance $m (instantiate $M (with "" (instance (export "ctor" (func $ctor))))))
    (func (export "make") (result u32) (canon lift (core func $m "make"))))
  (instance $e (instantiate $E (with "host" (instance $host))))
  (export "make" (func $e "make"))
"""
OBSERVER_CONSUMER = """  (component $Consumer
    (import "live-stream" (func $live-stream async (result (stream u8))))
    (import "make" (func $make (result u32)))
    (core func $live-stream (canon lower (func $live-stream)))
    (core func $make (canon lower (func $make)))
    (core module $M
      (import "" "live-stream" (func $live-stream (result i32)))
      (import "" "make" (func $make (result i32)))
      (func (export "run") (result i32)
        (drop (call $live-stream))
        (i32.or (i32.shl (call $make) (i32.const 8)) (call $make))))
    (core instance $m (instantiate $M (with "" (instance
      (export "live-stream" (func $live-stream)) (export "make" (func $make))))))
    (func (export "run") async (result u32) (canon lift (core func $m "run"))))
"""


def test_runtime_handles_of_a_hand_off_number_no_instance_s_resources(
    wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """The hand-off takes runtime handles, so an instance whose resource handles the runtime's
    table would number gets an in-module table (`merge.asyncres`: transport): its handle
    numbers after a hand-off are the original's (1 and 2, not 1 and 3)."""
    text = (LIVE / "inner.wat").read_text()
    top = text.index("(component\n")
    text = text[: top + len("(component\n")] + OBSERVER + text[top + len("(component\n") :]
    original = parse_wat_file(wasm_tools, text, tmp_path, "observer").read_bytes()

    def harness(inner: bytes, name: str) -> str:
        return (
            f'(component\n  (import "host" {HOST})\n'
            f"{nested_component_text(wasm_tools, inner, tmp_path, name)}{OBSERVER_CONSUMER}"
            '  (instance $inner (instantiate $Inner (with "host" (instance $host))))\n'
            "  (instance $consumer (instantiate $Consumer\n"
            '    (with "live-stream" (func $inner "d" "live-stream"))\n'
            '    (with "make" (func $inner "make"))))\n'
            '  (func (export "run") (alias export $consumer "run")))\n'
        )

    cases = {"run": "(u32.const 0x102)"}
    _assert_fused_equivalent(wasm_tools, oracle_py, original, harness, cases, tmp_path)


#: Beside the composition: $G, which hands a host import the live readable end $C made.
IMPORTER = """  (import "take" (func $take (param "s" (stream u8)) (result u32)))
  (import "make" (func $make (result (stream u8))))
  (component $G
    (import "c" (instance $c (export "start-stream" (func async (result (stream u8))))))
    (import "take" (func $take (param "s" (stream u8)) (result u32)))
    (import "make" (func $make (result (stream u8))))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (type $ST (stream u8))
    (core func $start-stream (canon lower (func $c "start-stream")))
    (core func $take (canon lower (func $take)))
    (core func $make (canon lower (func $make)))
    (core func $stream.read (canon stream.read $ST async (memory (core memory $memory "mem"))))
    (core module $M
      (import "" "mem" (memory 1))
      (import "" "start-stream" (func $start-stream (result i32)))
      (import "" "take" (func $take (param i32) (result i32)))
      (import "" "make" (func $make (result i32)))
      (import "" "stream.read" (func $stream.read (param i32 i32 i32) (result i32)))
      (func (export "give") (result i32) (call $take (call $start-stream)))
      ;; read the end the host makes (its write waits): the code | the byte read << 8
      (func (export "fetch") (result i32)
        (i32.or (call $stream.read (call $make) (i32.const 16) (i32.const 4))
                (i32.shl (i32.load8_u (i32.const 16)) (i32.const 8)))))
    (core instance $m (instantiate $M (with "" (instance
      (export "mem" (memory $memory "mem"))
      (export "start-stream" (func $start-stream)) (export "take" (func $take))
      (export "make" (func $make)) (export "stream.read" (func $stream.read))))))
    (func (export "give") async (result u32) (canon lift (core func $m "give")))
    (func (export "fetch") async (result u32) (canon lift (core func $m "fetch"))))
"""
#: Stands in for the host's import: `take` starts a read of the end it is given, `result`
#: waits for it (the event's code | payload << 8 | the byte read << 24).
READER = """  (component $Reader
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core module $M
      (import "" "mem" (memory 1))
      (import "" "stream.read" (func $stream.read (param i32 i32 i32) (result i32)))
      (import "" "waitable-set.new" (func $waitable-set.new (result i32)))
      (import "" "waitable.join" (func $waitable.join (param i32 i32)))
      (import "" "waitable-set.wait" (func $waitable-set.wait (param i32 i32) (result i32)))
      (import "" "stream.new" (func $stream.new (result i64)))
      (import "" "stream.write" (func $stream.write (param i32 i32 i32) (result i32)))
      (global $sr (mut i32) (i32.const 0))
      ;; a stream whose write of 42 waits for the reader: the readable end
      (func (export "make") (result i32)
        (local $ret64 i64)
        (local.set $ret64 (call $stream.new))
        (i32.store8 (i32.const 40) (i32.const 42))
        (if (i32.ne (i32.const -1 (; BLOCKED ;))
                    (call $stream.write (i32.wrap_i64 (i64.shr_u (local.get $ret64) (i64.const 32)))
                                        (i32.const 40) (i32.const 1)))
          (then unreachable))
        (i32.wrap_i64 (local.get $ret64)))
      (func (export "take") (param $sr i32) (result i32)
        (global.set $sr (local.get $sr))
        (call $stream.read (local.get $sr) (i32.const 16) (i32.const 4)))
      (func (export "result") (result i32)
        (local $ws i32) (local $code i32)
        (local.set $ws (call $waitable-set.new))
        (call $waitable.join (global.get $sr) (local.get $ws))
        (local.set $code (call $waitable-set.wait (local.get $ws) (i32.const 0)))
        (i32.or (i32.or (local.get $code) (i32.shl (i32.load (i32.const 4)) (i32.const 8)))
                (i32.shl (i32.load8_u (i32.const 16)) (i32.const 24)))))
    (type $ST (stream u8))
    (core func $stream.read (canon stream.read $ST async (memory (core memory $memory "mem"))))
    (core func $waitable-set.new (canon waitable-set.new))
    (core func $waitable.join (canon waitable.join))
    (core func $waitable-set.wait (canon waitable-set.wait (memory (core memory $memory "mem"))))
    (core func $stream.new (canon stream.new $ST))
    (core func $stream.write (canon stream.write $ST async (memory (core memory $memory "mem"))))
    (core instance $m (instantiate $M (with "" (instance
      (export "mem" (memory $memory "mem"))
      (export "stream.new" (func $stream.new))
      (export "stream.write" (func $stream.write))
      (export "stream.read" (func $stream.read))
      (export "waitable-set.new" (func $waitable-set.new))
      (export "waitable.join" (func $waitable.join))
      (export "waitable-set.wait" (func $waitable-set.wait))))))
    (func (export "take") (param "s" $ST) (result u32) (canon lift (core func $m "take")))
    (func (export "result") async (result u32) (canon lift (core func $m "result")))
    (func (export "make") (result $ST) (canon lift (core func $m "make"))))
"""
#: Runs it: $G hands the reader the end, $C writes 42 into the waiting read: the write's
#: code << 16 + the reader's result; then $G reads the end the reader makes: its result.
DRIVER = """  (component $Driver
    (import "give" (func $give async (result u32)))
    (import "write" (func $write async (result u32)))
    (import "result" (func $result async (result u32)))
    (import "fetch" (func $fetch async (result u32)))
    (core func $give (canon lower (func $give)))
    (core func $write (canon lower (func $write)))
    (core func $result (canon lower (func $result)))
    (core func $fetch (canon lower (func $fetch)))
    (core module $M
      (import "" "give" (func $give (result i32)))
      (import "" "write" (func $write (result i32)))
      (import "" "result" (func $result (result i32)))
      (import "" "fetch" (func $fetch (result i32)))
      (func (export "run") (result i32)
        (if (i32.ne (i32.const -1 (; BLOCKED ;)) (call $give)) (then unreachable))
        (i32.add (i32.shl (call $write) (i32.const 16)) (call $result)))
      (func (export "fetch") (result i32) (call $fetch)))
    (core instance $m (instantiate $M (with "" (instance
      (export "give" (func $give)) (export "write" (func $write))
      (export "result" (func $result)) (export "fetch" (func $fetch))))))
    (func (export "run") async (result u32) (canon lift (core func $m "run")))
    (func (export "fetch") async (result u32) (canon lift (core func $m "fetch"))))
"""


def test_host_import_ends_cross_as_the_original_does(
    wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """A host import whose parameter is a stream end (wasi:cli's stdout shape): the end is
    handed over as a root export's result is, and the producer's write reaches the host's
    waiting read through the runtime; one whose result is an end the host writes: read
    through the runtime (a reader component stands in for the host)."""
    text = (LIVE / "inner.wat").read_text()
    top = text.index("(component\n") + len("(component\n")
    end = text.rindex(")")
    text = (
        text[:top]
        + IMPORTER
        + text[top:end]
        + '  (instance $g (instantiate $G (with "c" (instance $c)) (with "take" (func $take))\n'
        + '    (with "make" (func $make))))\n'
        + '  (export "g" (instance $g))\n)\n'
    )
    original = parse_wat_file(wasm_tools, text, tmp_path, "importer").read_bytes()

    def harness(inner: bytes, name: str) -> str:
        return (
            f"(component\n{READER}  (instance $reader (instantiate $Reader))\n"
            f"{nested_component_text(wasm_tools, inner, tmp_path, name)}"
            '  (instance $inner (instantiate $Inner (with "take" (func $reader "take"))\n'
            '    (with "make" (func $reader "make"))))\n'
            f"{DRIVER}  (instance $driver (instantiate $Driver\n"
            '    (with "give" (func $inner "g" "give"))\n'
            '    (with "write" (func $inner "d" "stream-write"))\n'
            '    (with "result" (func $reader "result"))\n'
            '    (with "fetch" (func $inner "g" "fetch"))))\n'
            '  (func (export "run") (alias export $driver "run"))\n'
            '  (func (export "fetch") (alias export $driver "fetch")))\n'
        )

    cases = {
        "run": "(u32.const 0x2a101002)",  # COMPLETED 1 both ways, 42 read
        "fetch": "(u32.const 0x2a10)",  # COMPLETED 1, 42 read
    }
    _assert_fused_equivalent(wasm_tools, oracle_py, original, harness, cases, tmp_path)


@pytest.mark.parametrize(
    "lift",
    [
        '(func (export "v") async (param "s" error-context) (result u32) '
        '(canon lift (core func $core "consume")))',
        '(func (export "v") async (result (list $ST 2)) (canon lift (core func $core '
        '"live-stream") (memory (core memory $memory "mem"))))',
    ],
    ids=["param", "fixed-length-list-result"],  # lists: test_async_host_lists.py
)
def test_other_shapes_stay_refused(lift: str, wasm_tools: str, tmp_path: Path) -> None:
    wat = (LIVE / "inner.wat").read_text()
    anchor = '    (func (export "live-stream") async (result $ST)'
    assert anchor in wat
    wat = wat.replace(anchor, f"    {lift}\n{anchor}")  # the host reaches it as `d/v`
    data = parse_wat_file(wasm_tools, wat, tmp_path, "shape").read_bytes()
    with pytest.raises(UnsupportedFeature, match=REFUSAL.format("d/v")):
        fuse_bytes(data, options=FuseOptions(component=True))


def test_root_ends_are_those_of_a_sync_lift() -> None:
    """`root_ends`: a root export's ends `plan_tasks` fuses and `TaskRuntime._export` hands
    over (an async lift's go through `task.return`: `merge.asyncreturned`; a result returned
    through memory: its `spilled_ends`, the second item None; reached only beside async
    calls, so tested here directly)."""
    from pymeld.codec.core.model import ExternKind
    from pymeld.graph.model import CanonOpts, DefRef, Lifted
    from pymeld.merge.asyncreturned import Place
    from pymeld.merge.asynctask import root_ends

    st, fu = at.Stream(at.U8()), at.Future(None)

    def lift(ft: at.FuncType, **opts: object) -> Lifted:
        return Lifted(DefRef(0, ExternKind.FUNC, 0), ft, CanonOpts(**opts), 0)  # type: ignore[arg-type]

    assert root_ends(lift(at.FuncType((), st, True))) == ([], st)
    assert root_ends(lift(at.FuncType((("b", at.Bool()),), fu))) == ([], fu)
    assert root_ends(lift(at.FuncType((("s", st),), st))) == ([Place(0, st)], st)
    assert root_ends(lift(at.FuncType((), st, True), is_async=True)) is None
    assert root_ends(lift(at.FuncType((), at.Option(st)))) == ([], None)
    assert root_ends(lift(at.FuncType((), at.List(st)))) == ([], None)  # walked: asynclists
    assert root_ends(lift(at.FuncType((), at.List(at.ErrorContext())))) is None
    assert root_ends(lift(at.FuncType((), at.U32()))) is None
    assert root_ends(lift(at.FuncType(()))) is None


def test_only_ends_without_handles_in_their_payload_are_proxied() -> None:
    """`_proxiable`: the writer's built-in of a payload with resource handles is never the
    runtime's; such an end crossing the host boundary is refused when fusing (`plan_tasks`).
    Nested ends are translated at each copy (`merge.asyncnested`) unless one is in a
    fixed-length list (`merge.asynclists.walkable`) or holds resource handles in turn."""
    from pymeld.merge.asyncstream import _proxiable

    assert _proxiable(at.Stream(at.U8())) and _proxiable(at.Future(None))
    assert _proxiable(at.Stream(at.String())) and _proxiable(at.Stream(at.List(at.U32())))
    assert _proxiable(at.Stream(at.Stream(at.U8())))
    assert _proxiable(at.Future(at.List(at.Future(None))))
    assert not _proxiable(at.Future(at.List(at.Future(None), 2)))
    assert not _proxiable(at.Stream(at.Own("r")))
    assert not _proxiable(at.Stream(at.Future(at.Own("r"))))


def test_boundary_ends_are_flat_direct_params_and_the_result() -> None:
    """`boundary_ends`: the ends a call across the host boundary hands over, by their place
    (flat index, variant cases), and its result's; other shapes (in lists, beside resource
    handles, error-context) are refused when fusing (`plan_tasks`)."""
    from pymeld.merge.asyncreturned import Place
    from pymeld.merge.asynctask import boundary_ends

    st, fu = at.Stream(at.U8()), at.Future(None)

    def ft(*params: at.ValType, result: at.ValType | None = None) -> at.FuncType:
        return at.FuncType(tuple((f"p{k}", t) for k, t in enumerate(params)), result)

    assert boundary_ends(ft(st)) == ([Place(0, st)], None)
    assert boundary_ends(ft(at.U64(), at.String(), fu, st, result=at.U32())) == (
        [Place(3, fu), Place(4, st)],
        None,
    )
    assert boundary_ends(ft(st, result=fu)) == ([Place(0, st)], fu)
    assert boundary_ends(ft(at.Option(st))) == ([Place(1, st, ((0, 0, 1),))], None)
    # in lists: no place (walked: `merge.asynclists`); error-context: refused
    assert boundary_ends(ft(at.List(st))) == ([], None)
    assert boundary_ends(ft(st, at.List(st))) == ([], None)
    assert boundary_ends(ft(result=at.List(fu))) == ([], None)
    assert boundary_ends(ft(at.List(at.ErrorContext()))) is None
    assert boundary_ends(ft(st, at.Own("r"))) is None
    # spilled parameters: none flat, theirs by offset from the pointer (asyncspill)
    assert boundary_ends(ft(*[at.U32()] * 16, st)) == ([], None)
    assert boundary_ends(ft(*[at.U32()] * 16, at.List(st))) == ([], None)


def test_the_cli_warns_where_ends_cross_the_host_boundary(
    wasm_tools: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fusion that shares ends with the host still succeeds, but says at build time where a
    copy may be refused at run time (and names the flag that keeps a boundary there); the
    statistics list the same places. One with no hand-over says nothing of it."""
    inner = parse_wat_file(wasm_tools, (LIVE / "inner.wat").read_text(), tmp_path, "inner")
    out, stats = tmp_path / "out.wasm", tmp_path / "stats.json"
    code, _, err = run_cli(
        capsys, "fuse", str(inner), "--component", "-o", str(out), "--stats-json", str(stats)
    )
    assert code == 0, err
    places = json.loads(stats.read_text())["ends_shared_with_host"]
    assert places and all(p.startswith("root export `") for p in places), places
    warning = [line for line in err.splitlines() if line.startswith("pymeld: warning:")]
    assert len(warning) == 1, err
    assert all(p in warning[0] for p in places)
    assert "refused at run time" in warning[0] and "--keep-async-boundaries" in warning[0]
    code, _, err = run_cli(capsys, "fuse", str(inner), "--component", "-o", str(out), "--stats")
    row = next(line for line in err.splitlines() if "ends shared with host" in line)
    assert all(p in row for p in places) and "['" not in row, row
    code, _, err = run_cli(capsys, "-q", "fuse", str(inner), "--component", "-o", str(out))
    assert code == 0 and err.count("pymeld: warning:") == 1, err  # ``-q``: no summary, still this
    code, _, err = run_cli(
        capsys, "fuse", str(inner), "--keep-async-boundaries", "-o", str(out), "--stats-json", "-"
    )
    assert code == 0 and "warning" not in err, err
    plain = REPO / "examples" / "calculator.composed.wasm"
    code, out_text, err = run_cli(capsys, "fuse", str(plain), "-o", str(out), "--stats-json", "-")
    assert code == 0 and "warning" not in err, err
    assert "ends_shared_with_host" not in json.loads(out_text)
