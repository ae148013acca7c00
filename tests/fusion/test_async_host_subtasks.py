"""Async host imports beside in-module tasks (`merge.asynchost`): the runtime's subtasks in
in-module waitable sets.

wasmtime-py cannot supply an async host function, so a component stands in for the host
(`host_subtasks_live/host.wat`: `sleep(n)` YIELDs n times before it returns, so the host
completes the subtask n turns of wasmtime's event loop later). The oracle runs a harness
instantiating it beside the composition (`host_subtasks_live/inner.wat`), which imports
`sleep` and lowers it `async` in two instances, against the same harness around the fused
composition, where `sleep` stays a host import of the one fused instance:

* an in-module task sleeping on the host and waiting for it in a set of its own (`one`);
* the root instance's own host subtask (`direct`), two in-module tasks each with a host
  subtask (`two`), a host subtask and an in-module one in one set (`mixed`), in both orders;
* callback-lifted roots (driven after fusion) waiting on a host subtask or an in-module task
  sleeping on the host (`driven`, `driven-direct`);
* a stackful in-module task (lifted `async` without a callback) blocking in
  `waitable-set.wait` for its host subtask (its stack unwinds, `merge.unwind`), alone and
  beside another task (`nap`);
* an in-module task YIELDing until a `waitable-set.poll` sees the host's event (`spin`: the
  fused scheduler gives the host a turn before each low-priority item, else it spins for ever);
* `n = 0`: the host returns at once (no subtask);
* `host_subtasks_live/sync-callee.wat`: a callee entered by synchronous adapters only, which
  lowers the host import `async` and blocks in `waitable-set.wait` (no async call between the
  instances: the host subtask alone takes the composition to in-module tables);
* `host_subtasks_live/strings.wat`: a string result the runtime writes through the caller's
  realloc when the host completes, while the fused stack waits on the runtime.

* `subtask.cancel` of a host subtask, sync and `async` (the runtime's, `async`: BLOCKED, then
  the host's event), answered by the host with `task.cancel` or a return.

Tasks left waiting on the host when the root call returned (`fire`), seen by later calls
(`peek`), in one instance: compared command by command (the oracle's actions).

A sweep over the sleeps of `two`, `mixed` and `nap` (0..3 each, 0..5 with ``PYMELD_SLOW=1``)
compares every result with the original's (no expected values: the oracle's actions).

Refused at run time, pinned (the original returns, the fused module traps): a host subtask
ready in one set beside another ready subtask (wasmtime orders them by store-wide ids a host
call leaves unmirrored); in the sweep, two tasks whose equal sleeps of 1 end in one turn. Refused when fusing:
streams in a list passed to an async host import (its handles and other ends:
test_async_host_values.py). (A synchronous lower of a host `async func` beside in-module
tasks: test_async_sync_host_calls.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from support import (
    SLOW,
    assert_traps_where_original_returns,
    harness_head,
    nested_component_text,
    oracle_of_harnesses,
    parse_wat_file,
)

LIVE = Path(__file__).parent / "host_subtasks_live"
EXPORTS = [
    *("one", "direct", "two", "mixed", "driven", "driven-direct", "spin", "nap"),
    *("cancel-host", "cancel-host-async", "both-ready", "fire", "fire-sync", "peek"),
]
#: sync-callee.wat's `run(n)`: nap(n) + nap(n + 1), each the host's result + 1000
SYNC_CALLEE = [('"run" (u32.const 2)', 1027 + 1037), ('"run" (u32.const 0)', 1007 + 1017)]
#: strings.wat's `one(n)`: "hello, host!" (n = 0: "hello") as length << 16 | first << 8 | last
STRINGS = [
    ('"one" (u32.const 3)', 12 << 16 | ord("h") << 8 | ord("!")),
    ('"one" (u32.const 0)', 5 << 16 | ord("h") << 8 | ord("o")),
]

#: (invocation, the original's result): results as inner.wat packs them (the host's result
#: for sleep(n) is 10n + 7, `work` adds 1000; which subtask came first * 1000000)
CASES = [
    ('"one" (u32.const 3)', 1037),
    ('"one" (u32.const 0)', 1007),
    ('"direct" (u32.const 2)', 0x10000 | 27),  # its handle (1) << 16 | the result
    ('"direct" (u32.const 0)', 7),
    ('"two" (u32.const 2) (u32.const 4)', 1_000_000 + 1027_000 + 1047),
    ('"two" (u32.const 4) (u32.const 2)', 2_000_000 + 1047_000 + 1027),
    ('"two" (u32.const 3) (u32.const 3)', 1_000_000 + 1037_000 + 1037),
    ('"mixed" (u32.const 3) (u32.const 0)', 2_000_000 + 37_000 + 5),  # quick first
    ('"mixed" (u32.const 1) (u32.const 4)', 1_000_000 + 17_000 + 1047),  # the host's first
    ('"mixed" (u32.const 4) (u32.const 1)', 2_000_000 + 47_000 + 1017),
    ('"driven" (u32.const 3)', (1 << 16) + 1037),  # the subtask's handle << 16 + the result
    ('"driven" (u32.const 0)', 1007),
    ('"driven-direct" (u32.const 2)', (1 << 16) + 27),
    ('"driven-direct" (u32.const 0)', 7),
    ('"spin" (u32.const 3)', 2037),  # polled between YIELDs: `spin` adds 2000
    ('"spin" (u32.const 1)', 2017),
    # a stackful task (`nap` adds 3000) blocked in `waitable-set.wait`, alone or beside `work`
    ('"nap" (u32.const 3) (u32.const 0)', 1_000_000 + 3037_000),
    ('"nap" (u32.const 0) (u32.const 0)', 3007_000),  # returned at once: no subtask
    ('"nap" (u32.const 2) (u32.const 4)', 1_000_000 + 3027_000 + 1047),
    ('"nap" (u32.const 4) (u32.const 2)', 2_000_000 + 3047_000 + 1027),
    # cancelled: the status << 16 (| 0x8000 after BLOCKED) | the result; an odd n answers
    # with task.cancel (RETURNED_CANCELLED), an even one returns (RETURNED)
    ('"cancel-host" (u32.const 2)', 2 << 16 | 27),
    ('"cancel-host" (u32.const 3)', 4 << 16),
    ('"cancel-host-async" (u32.const 2)', 2 << 16 | 0x8000 | 27),
    ('"cancel-host-async" (u32.const 3)', 4 << 16),  # at once: the host's callback ran
]
#: Refused at run time after fusion: the original returns this, the fused module traps.
REFUSED = [('"both-ready"', 1_000_000 + 17_000 + 5)]


def _harness(
    wasm_tools: str,
    inner: bytes,
    tmp_path: Path,
    name: str,
    exports: list[str] = EXPORTS,
    host: str = "host.wat",
) -> str:
    """A component instantiating the host stand-in and ``inner`` (a component binary, nested
    as its printed text) with the host's `sleep`, re-exporting ``inner``'s functions."""
    return (
        f"(component\n{(LIVE / host).read_text()}"
        f"{nested_component_text(wasm_tools, inner, tmp_path, name)}"
        "  (instance $host (instantiate $Host))\n"
        '  (instance $inner (instantiate $Inner (with "sleep" (func $host "sleep"))))\n'
        + "".join(f'  (export "{n}" (func $inner "{n}"))\n' for n in exports)
        + ")\n"
    )


def _oracle_files(
    wasm_tools: str, oracle_py: Path, commands: list[str], fused: bytes, tmp_path: Path
) -> dict[str, dict]:
    """The oracle on each of ``commands`` in a fresh instance of the harness around the
    original composition (a wast file each), the harness around ``fused`` as the
    transformed binary: the results by command."""
    original = parse_wat_file(wasm_tools, (LIVE / "inner.wat").read_text(), tmp_path, "inner")
    harness = _harness(wasm_tools, original.read_bytes(), tmp_path, "original")
    head = harness_head(harness)
    (tmp_path / "wasts").mkdir()
    for k, command in enumerate(commands):
        wast = tmp_path / "wasts" / f"c{k:03d}.wast"
        wast.write_text("\n".join([*head, "(component instance $i $H)", command]) + "\n")
    transformed = parse_wat_file(
        wasm_tools, _harness(wasm_tools, fused, tmp_path, "fused"), tmp_path, "t"
    )
    report = tmp_path / "report.json"
    cmd = [sys.executable, str(oracle_py), "--transform", f"cp {transformed} {{out}}", "-j", "2"]
    subprocess.run(
        [*cmd, "--json", str(report), str(tmp_path / "wasts")], capture_output=True, timeout=1800
    )
    files = json.loads(report.read_text())["files"]
    return {commands[int(Path(f).stem[1:])]: r for f, r in files.items()}


def _oracle(
    wasm_tools: str,
    oracle_py: Path,
    cases: list[tuple[str, int]],
    fused: bytes,
    tmp_path: Path,
    inner: str = "inner.wat",
    exports: list[str] = EXPORTS,
    host: str = "host.wat",
) -> dict:
    """The oracle on ``cases`` (each in a fresh instance) of the harness around the original
    composition ``inner``, the harness around ``fused`` as the transformed binary."""
    original = parse_wat_file(wasm_tools, (LIVE / inner).read_text(), tmp_path, "inner")
    harness = _harness(wasm_tools, original.read_bytes(), tmp_path, "original", exports, host)
    fused_harness = _harness(wasm_tools, fused, tmp_path, "fused", exports, host)
    commands = []
    for k, (call, want) in enumerate(cases):
        commands += [
            f"(component instance $i{k} $H)",
            f"(assert_return (invoke {call}) (u32.const {want}))",
        ]
    return oracle_of_harnesses(wasm_tools, oracle_py, harness, fused_harness, commands, tmp_path)


@pytest.fixture(scope="module")
def inner(wasm_tools: str, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("inner")
    return parse_wat_file(wasm_tools, (LIVE / "inner.wat").read_text(), tmp, "inner").read_bytes()


@pytest.fixture(scope="module")
def fused(inner: bytes) -> bytes:
    return fuse_bytes(inner, options=FuseOptions(component=True)).output


def test_host_subtasks_beside_in_module_tasks_fuse_equivalently(
    wasm_tools: str, oracle_py: Path, fused: bytes, tmp_path: Path
) -> None:
    r = _oracle(wasm_tools, oracle_py, CASES, fused, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r  # the original gave every expected result


@pytest.mark.parametrize(
    ("inner", "exports", "host", "cases"),
    [
        ("sync-callee.wat", ["run"], "host.wat", SYNC_CALLEE),
        ("strings.wat", ["one"], "strings-host.wat", STRINGS),
    ],
    ids=["sync-callee", "strings"],
)
def test_other_host_subtask_compositions_fuse_equivalently(
    inner: str,
    exports: list[str],
    host: str,
    cases: list[tuple[str, int]],
    wasm_tools: str,
    oracle_py: Path,
    tmp_path: Path,
) -> None:
    binary = parse_wat_file(wasm_tools, (LIVE / inner).read_text(), tmp_path, "other")
    fused = fuse_bytes(binary.read_bytes(), options=FuseOptions(component=True)).output
    r = _oracle(wasm_tools, oracle_py, cases, fused, tmp_path, inner, exports, host)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r


@pytest.mark.parametrize("case", REFUSED, ids=[c.split('"')[1] for c, _ in REFUSED])
def test_host_subtask_run_time_refusals_trap(
    case: tuple[str, int], wasm_tools: str, oracle_py: Path, fused: bytes, tmp_path: Path
) -> None:
    assert_traps_where_original_returns(_oracle(wasm_tools, oracle_py, [case], fused, tmp_path))


def test_fused_output_lowers_the_host_s_sleep_async_and_is_deterministic(
    wasm_tools: str, inner: bytes, fused: bytes, tmp_path: Path
) -> None:
    """The host's `sleep` stays an import of the one fused instance, lowered `async` with
    each caller's memory, beside the runtime's built-ins the proxies use (the wait's event
    goes to a memory of the fused module's own), and fusing twice gives the same bytes."""
    (tmp_path / "fused.wasm").write_bytes(fused)
    text = subprocess.run(
        [wasm_tools, "print", str(tmp_path / "fused.wasm")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lowers = [ln for ln in text.splitlines() if "(canon lower (func 0)" in ln]
    assert '(import "sleep" (func (;0;)' in text
    assert len(lowers) == 2 and all(ln.rstrip().endswith("async))") for ln in lowers)
    for op in ("waitable-set.new", "waitable.join", "subtask.drop", "waitable-set.wait (memory"):
        assert text.count(f"(canon {op}") == 1, op
    assert fuse_bytes(inner, options=FuseOptions(component=True)).output == fused


STREAMED = """(component
  (import "send" (func $send async (param "s" (list (stream u8) 2))))
  (component $C
    (import "send" (func $send async (param "s" (list (stream u8) 2))))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core func $send' (canon lower (func $send) async (memory (core memory $memory "mem"))))
    (core module $CM
      (import "" "send" (func $send (param i32 i32) (result i32)))
      (func (export "f") (result i32) (drop (call $send (i32.const 0) (i32.const 0))) (i32.const 0)))
    (core instance $cm (instantiate $CM (with "" (instance (export "send" (func $send'))))))
    (func (export "f") async (canon lift (core func $cm "f") async)))
  (component $D
    (import "f" (func $f async))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core func $f' (canon lower (func $f) async (memory (core memory $memory "mem"))))
    (core module $DM
      (import "" "f" (func $f (result i32)))
      (func (export "run") (drop (call $f))))
    (core instance $dm (instantiate $DM (with "" (instance (export "f" (func $f'))))))
    (func (export "run") async (canon lift (core func $dm "run"))))
  (instance $c (instantiate $C (with "send" (func $send))))
  (instance $d (instantiate $D (with "f" (func $c "f"))))
  (export "run" (func $d "run")))
"""


def test_streams_in_a_fixed_length_list_passed_to_an_async_host_import_stay_refused(
    wasm_tools: str, tmp_path: Path
) -> None:
    """(Ends among an async host import's values are handed over: test_async_host_values.py,
    in lists too: test_async_host_endsx.py; not in a fixed-length list, which `EndWalk` does
    not walk.)"""
    binary = parse_wat_file(wasm_tools, STREAMED, tmp_path, "streamed").read_bytes()
    with pytest.raises(
        UnsupportedFeature,
        match=r"stream/future/error-context passed to async host.*in a fixed-length list",
    ):
        fuse_bytes(binary, options=FuseOptions(component=True))


def test_sleep_sweep_gives_the_original_s_results_or_the_run_time_refusal(
    wasm_tools: str, oracle_py: Path, fused: bytes, tmp_path: Path
) -> None:
    top = 6 if SLOW else 4
    commands = [
        f'(invoke "{f}" (u32.const {a}) (u32.const {b}))'
        for f in ("two", "mixed", "nap")
        for a in range(top)
        for b in range(top)
        if a or f != "mixed"
    ]
    results = _oracle_files(wasm_tools, oracle_py, commands, fused, tmp_path)
    assert len(results) == len(commands)
    refused = [c for c, r in results.items() if r["status"] != "equivalent"]
    for c in refused:
        assert_traps_where_original_returns(results[c])
    # the ones seen: two and nap with sleeps (1, 1), whose tasks return in one turn
    assert len(refused) <= 2, refused


def test_tasks_left_waiting_on_the_host_after_a_call_go_on_as_the_original_s(
    wasm_tools: str, oracle_py: Path, fused: bytes, tmp_path: Path
) -> None:
    calls = ['"fire" (u32.const 2)', '"peek"', '"peek"', '"one" (u32.const 1)', '"peek"']
    calls += ['"fire-sync" (u32.const 3)', '"peek"', '"fire" (u32.const 0)', '"peek"', '"peek"']
    commands = ["\n".join(f"(invoke {c})" for c in calls)]
    (result,) = _oracle_files(wasm_tools, oracle_py, commands, fused, tmp_path).values()
    assert result["status"] == "equivalent", result
    assert result["counts"]["compared"] == len(calls) + 2, result  # and definition, instance


def test_core_output_imports_the_runtime_s_built_ins_the_proxies_use(
    wasm_tools: str, inner: bytes, tmp_path: Path
) -> None:
    """Core output (no wrapper) is a valid module importing the host's `sleep` per caller
    memory and the runtime's built-ins (`merge.asynchost.RUNTIME_OPS`) as the wrapper's
    imports; only a component runtime can give them, so the oracle runs `--component`."""
    from pymeld.merge.asynchost import RUNTIME_OPS

    core = tmp_path / "core.wasm"
    core.write_bytes(fuse_bytes(inner, options=FuseOptions()).output)
    subprocess.run([wasm_tools, "validate", str(core)], check=True)
    text = subprocess.run(
        [wasm_tools, "print", str(core)], capture_output=True, text=True, check=True
    ).stdout
    imports = [ln.split('"')[1:4:2] for ln in text.splitlines() if ln.startswith("  (import ")]
    assert [n for m, n in imports if m == "$root"] == ["sleep", "sleep#2"]
    assert set(RUNTIME_OPS) <= {n for m, n in imports if m == "[async]"}
