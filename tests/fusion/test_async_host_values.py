"""Resource handles among an async host import's values beside in-module tasks
(`merge.asynchostvals`, the proxies of `merge.asynchost`).

The WASI 0.3 shapes: an app calling the host's `handle: async func(own<request>) ->
result<own<response>, error-code>` and the like from an in-module task. wasmtime-py cannot
supply an async host function or a resource, so a component stands in for the host
(`host_values_live/res-host.wat`: a resource `r` whose destructor sums the reps it drops, and
`async func`s YIELDing n times before they return). The oracle runs a harness instantiating it
beside the composition (`host_values_live/resources.wat`: $C's `call(op, n)`, an in-module task
after fusion, makes one async call of the host and packs the handle numbers of its table with
what it got) against the same harness around the fused composition, where the host's functions
and its resource type stay imports of the one fused instance:

* an own the host returns (`give`, `give-result`'s ok case: a variant at the result pointer),
  lifted into the caller's table when the proxy sees RETURNED (or at once), then lent back to
  the host's sync `rep` and dropped (the host's destructor runs: `dropped`);
* an own moved to the host (`take`), which drops it, and both at once (`swap(own) ->
  result<own, u32>`, the wasi:http client's `handle`);
* a borrow lent to the host (`peek`) until the subtask returns;
* an async call cancelled at once (the host answers with `task.cancel`): the loan ends;
* trapping where wasmtime traps: the moved own dropped after the call, the lent own dropped or
  moved (to the host, or to another instance: $E's `sink`) while the host holds the borrow;
* refused at run time (the fused module traps where the original returns): an own passed to
  a call the host's backpressure makes STARTING (the runtime would lift it later).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest

from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from support import (
    assert_traps_where_original_returns,
    nested_component_text,
    oracle_of_harnesses,
    parse_wat_file,
)

LIVE = Path(__file__).parent / "host_values_live"


class Composition(NamedTuple):
    """An inner composition, its host stand-in, and what the harness passes and exports."""

    inner: str
    host: str
    types: tuple[str, ...]  # the host's resource types the inner one imports
    funcs: tuple[str, ...]  # the host's functions it imports
    exports: tuple[tuple[str, str], ...]  # (instance, name) re-exported by the harness


RESOURCES = Composition(
    "resources.wat",
    "res-host.wat",
    ("r",),
    ("make", "rep", "give", "take", "peek", "give-result", "swap", "hold", "release"),
    (("inner", "run"), ("host", "dropped")),
)
ENDS = Composition("ends.wat", "ends-host.wat", (), ("consume", "open"), (("inner", "run"),))


def _harness(wasm_tools: str, c: Composition, inner: bytes, tmp_path: Path, name: str) -> str:
    """A component instantiating the host stand-in and ``inner`` (a component binary) with the
    host's resource types and functions, re-exporting ``c.exports``."""
    withs = [f'(with "{n}" (type $host "{n}"))' for n in c.types]
    withs += [f'(with "{n}" (func $host "{n}"))' for n in c.funcs]
    return (
        f"(component\n{(LIVE / c.host).read_text()}"
        f"{nested_component_text(wasm_tools, inner, tmp_path, name)}"
        "  (instance $host (instantiate $Host))\n"
        f"  (instance $inner (instantiate $Inner {' '.join(withs)}))\n"
        + "".join(f'  (export "{n}" (func ${i} "{n}"))\n' for i, n in c.exports)
        + ")\n"
    )


def _binary(wasm_tools: str, c: Composition, tmp: Path) -> bytes:
    return parse_wat_file(wasm_tools, (LIVE / c.inner).read_text(), tmp, "inner").read_bytes()


@pytest.fixture(scope="module")
def inner(wasm_tools: str, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _binary(wasm_tools, RESOURCES, tmp_path_factory.mktemp("inner"))


@pytest.fixture(scope="module")
def fused(inner: bytes) -> bytes:
    return fuse_bytes(inner, options=FuseOptions(component=True)).output


def _oracle(
    wasm_tools: str,
    oracle_py: Path,
    inner: bytes,
    fused: bytes,
    tmp_path: Path,
    body: list[str],
    c: Composition = RESOURCES,
) -> dict:
    """The oracle on ``body`` (wast commands after the harness' definition) of the harness
    around the original, the harness around ``fused`` as the transformed binary."""
    original = _harness(wasm_tools, c, inner, tmp_path, "original")
    transformed = _harness(wasm_tools, c, fused, tmp_path, "fused")
    return oracle_of_harnesses(wasm_tools, oracle_py, original, transformed, body, tmp_path)


def _run(op: int, n: int) -> str:
    return f'"run" (u32.const {op}) (u32.const {n})'


#: (op, n) → the original's result: its own handle << 20 | the subtask's << 16 | a value
#: (resources.wat); `dropped` after it: the reps the host's destructor saw
RESULTS = {
    (0, 0): (1 << 20 | 100, 100),  # returned at once: the own is handle 1
    (0, 1): (3 << 20 | 1 << 16 | 101, 101),  # subtask 1, set 2, the own 3
    (0, 3): (3 << 20 | 1 << 16 | 103, 103),
    (1, 0): (1 << 20 | 1050, 50),  # take: the rep + 1000, dropped by the host
    (1, 2): (1 << 20 | 1 << 16 | 1052, 52),  # the subtask takes the moved own's index
    (2, 0): (1 << 20 | 2070, 70),  # peek: the borrowed rep + 2000, dropped by the caller
    (2, 3): (1 << 20 | 2 << 16 | 2073, 73),
    (3, 0): (1 << 30 | 1 << 20 | 200, 200),  # ok(own) at the result pointer
    (3, 2): (1 << 30 | 3 << 20 | 1 << 16 | 202, 202),
    (3, 1): (1 << 16 | 1, 0),  # err(1)
    (5, 0): (1 << 20 | 2070, 70),  # the own lent to a call returned at once: dropped after
    (6, 0): (1 << 20 | 2070 + 1070, 70),  # ... or moved
    (7, 1): ((3 << 20 | 101) * 3 + (1 << 20 | 3 << 16 | 102), 101 + 102),
    (7, 2): ((3 << 20 | 102) * 3 + (1 << 20 | 3 << 16 | 103), 102 + 103),
    # cancelled at once (the own, the status, the subtask << 8): the loan ends with it
    (9, 0): (1 << 20 | 2 << 16, 70),
    (9, 1): (1 << 20 | 4 << 16 | 2 << 8, 71),
    (9, 3): (1 << 20 | 4 << 16 | 2 << 8, 73),
    (10, 0): (2 << 16, 0),  # the own it returned at once stays in the table
    (10, 2): (4 << 16 | 1 << 8, 0),
    (11, 0): (1 << 20 | 1 << 12 | 2070, 0),  # the own lent at once, then moved to $E
    # the wasi:http client's shape: an own in, result<own, _> out
    (12, 0): (1 << 30 | 1 << 20 | 350, 50 + 350),
    (12, 1): (1 << 16 | 51, 51),
    (12, 2): (1 << 30 | 3 << 20 | 1 << 16 | 352, 52 + 352),
}
#: (op, n) → the original's result, where the fused module traps (refused at run time): the
#: host's backpressure makes the call STARTING, the runtime lifts the own when it starts (in
#: the original the own keeps index 1 meanwhile: the subtask is 2)
RUN_TIME_REFUSED = {(13, 0): 1 << 20 | 2 << 16 | 1050}
#: calls in one instance: handles left in the caller's table shift the numbers of the next
SEQUENCE = [(10, 0), (0, 1), (3, 2), (1, 2), (2, 3), (10, 1), (7, 1), (9, 2), (12, 2), (0, 0)]
#: (op, n) → wasmtime's trap: the moved own dropped (its index gone; then the subtask's),
#: the own lent to the host's subtask dropped or moved while it runs
TRAPS = {
    (4, 0): "unknown handle index 1",
    (4, 2): "index 1 is not a resource",
    (5, 1): "cannot remove owned resource while borrowed",
    (5, 3): "cannot remove owned resource while borrowed",
    (6, 2): "cannot remove owned resource while borrowed",
    (11, 1): "cannot remove owned resource while borrowed",  # moved to $E while lent
    (11, 3): "cannot remove owned resource while borrowed",
}


def test_handles_among_async_host_import_values_fuse_equivalently(
    wasm_tools: str, oracle_py: Path, inner: bytes, fused: bytes, tmp_path: Path
) -> None:
    body = []
    for k, ((op, n), (want, dropped)) in enumerate(RESULTS.items()):
        body += [
            f"(component instance $i{k} $H)",
            f"(assert_return (invoke {_run(op, n)}) (u32.const {want}))",
            f'(assert_return (invoke "dropped") (u32.const {dropped}))',
        ]
    r = _oracle(wasm_tools, oracle_py, inner, fused, tmp_path, body)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r  # the original gave every expected result


def test_misused_handles_of_async_host_import_values_trap_as_the_original(
    wasm_tools: str, oracle_py: Path, inner: bytes, fused: bytes, tmp_path: Path
) -> None:
    body = []
    for k, ((op, n), message) in enumerate(TRAPS.items()):
        body += [
            f"(component instance $i{k} $H)",
            f'(assert_trap (invoke {_run(op, n)}) "{message}")',
        ]
    r = _oracle(wasm_tools, oracle_py, inner, fused, tmp_path, body)
    assert r["status"] == "equivalent", r
    assert r["counts"]["compared"] == 2 * len(TRAPS) + 1, r


def test_handles_left_in_the_caller_s_table_number_later_calls_as_the_original(
    wasm_tools: str, oracle_py: Path, inner: bytes, fused: bytes, tmp_path: Path
) -> None:
    body = ["(component instance $i $H)"]
    body += [f"(invoke {_run(op, n)})" for op, n in SEQUENCE] + ['(invoke "dropped")']
    r = _oracle(wasm_tools, oracle_py, inner, fused, tmp_path, body)
    assert r["status"] == "equivalent", r
    assert r["counts"]["compared"] == len(SEQUENCE) + 3, r


@pytest.mark.parametrize("c", [RESOURCES, ENDS], ids=["resources", "ends"])
def test_fused_output_keeps_the_host_s_imports_and_is_deterministic(
    c: Composition, wasm_tools: str, tmp_path: Path
) -> None:
    """The host's functions stay imports of the one fused instance; fusing twice gives the
    same bytes; core output is a valid module (ends are handed over in component output
    only: the wrapper makes the runtime's stream/future built-ins)."""
    inner = _binary(wasm_tools, c, tmp_path)
    fused = fuse_bytes(inner, options=FuseOptions(component=True)).output
    (tmp_path / "fused.wasm").write_bytes(fused)
    text = subprocess.run(
        [wasm_tools, "print", str(tmp_path / "fused.wasm")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert text.count("(component") == 1  # no nested component: one fused instance
    for name in c.funcs:
        assert f'(import "{name}" (func' in text, name
    assert fuse_bytes(inner, options=FuseOptions(component=True)).output == fused
    if c is ENDS:
        with pytest.raises(UnsupportedFeature, match="in component output only"):
            fuse_bytes(inner, options=FuseOptions())
        return
    core = tmp_path / "core.wasm"
    core.write_bytes(fuse_bytes(inner, options=FuseOptions()).output)
    subprocess.run([wasm_tools, "validate", str(core)], check=True)


# -- stream/future ends ------------------------------------------------------------------------

#: (op, n) → the original's result (ends.wat)
END_RESULTS = {
    # the readable end (1) handed to the host, the writable end 2, the subtask 1 (the moved
    # end's index): 1000 * 5 + the sum of "hello"
    (0, 0): 1 << 24 | 2 << 20 | 1 << 16 | 5532,
    # the stream and future the host returns (proxies of the runtime's ends), read at once
    (1, 0): 1 << 28 | 2 << 24 | 4827,  # returned at once
    (1, 1): 3 << 28 | 4 << 24 | 1 << 16 | 4827,  # subtask 1, set 2
    (1, 3): 3 << 28 | 4 << 24 | 1 << 16 | 4827,
}
#: the host reads only after n YIELDs: the app's write waits for the host (the runtime's
#: event, which no in-module wait takes): refused at run time (the fused module traps)
END_REFUSED = {(0, 1): 1 << 24 | 2 << 20 | 1 << 16 | 5532}


@pytest.fixture(scope="module")
def ends(wasm_tools: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    binary = _binary(wasm_tools, ENDS, tmp_path_factory.mktemp("ends"))
    return binary, fuse_bytes(binary, options=FuseOptions(component=True)).output


def test_ends_among_async_host_import_values_fuse_equivalently(
    wasm_tools: str, oracle_py: Path, ends: tuple[bytes, bytes], tmp_path: Path
) -> None:
    body = []
    for k, ((op, n), want) in enumerate(END_RESULTS.items()):
        body += [
            f"(component instance $i{k} $H)",
            f"(assert_return (invoke {_run(op, n)}) (u32.const {want}))",
        ]
    body += ["(component instance $seq $H)"]
    body += [f"(invoke {_run(op, n)})" for op, n in [(1, 2), (0, 0), (1, 0), (0, 0)]]
    r = _oracle(wasm_tools, oracle_py, *ends, tmp_path, body, ENDS)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r


@pytest.mark.parametrize("case", sorted(END_REFUSED))
def test_a_write_waiting_for_the_host_is_refused_at_run_time(
    case: tuple[int, int],
    wasm_tools: str,
    oracle_py: Path,
    ends: tuple[bytes, bytes],
    tmp_path: Path,
) -> None:
    body = [
        "(component instance $i $H)",
        f"(assert_return (invoke {_run(*case)}) (u32.const {END_REFUSED[case]}))",
    ]
    r = _oracle(wasm_tools, oracle_py, *ends, tmp_path, body, ENDS)
    assert_traps_where_original_returns(r)


# -- what stays refused ------------------------------------------------------------------------


def _one_call(params: str, n_core: int) -> str:
    """A composition whose $C, an in-module task after fusion, lowers the host's `async func`
    `h` taking ``params`` (``n_core`` core parameters) `async`; the host lends the resource
    type `r`."""
    sig = f"(func $h async {params})"
    args = " ".join("(i32.const 0)" for _ in range(n_core))
    return f"""(component
  (import "r" (type $r (sub resource)))
  (import "h" {sig})
  (component $C
    (import "r" (type $r (sub resource)))
    (import "h" {sig})
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (core func $h' (canon lower (func $h) async (memory (core memory $memory "mem"))))
    (core module $CM
      (import "" "h" (func $h (param {"i32 " * n_core}) (result i32)))
      (func (export "f") (result i32) (drop (call $h {args})) (i32.const 0)))
    (core instance $cm (instantiate $CM (with "" (instance (export "h" (func $h'))))))
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
  (instance $c (instantiate $C (with "r" (type $r)) (with "h" (func $h))))
  (instance $d (instantiate $D (with "f" (func $c "f"))))
  (export "run" (func $d "run")))
"""


STILL_REFUSED = {
    "error-context": ('(param "e" error-context)', 1, "error contexts"),
    "end-between-handles": (
        '(param "h" (own $r)) (param "s" (stream u8)) (param "g" (own $r))',
        3,
        "ends interleaved with resource handles",
    ),
    "end-in-fixed-length-list": (
        '(param "l" (list (stream u8) 2))',
        2,
        "an end in a fixed-length list",
    ),
    "handles-in-payload": ('(param "s" (stream (own $r)))', 1, "payload holding resource"),
}


@pytest.mark.parametrize("case", sorted(STILL_REFUSED))
def test_values_an_async_host_import_cannot_hand_over_stay_refused(
    case: str, wasm_tools: str, tmp_path: Path
) -> None:
    params, n_core, reason = STILL_REFUSED[case]
    binary = parse_wat_file(wasm_tools, _one_call(params, n_core), tmp_path, case).read_bytes()
    with pytest.raises(UnsupportedFeature, match=f"async host import `h`.*{reason}"):
        fuse_bytes(binary, options=FuseOptions(component=True))


@pytest.mark.parametrize("case", sorted(RUN_TIME_REFUSED))
def test_handles_passed_to_a_starting_host_call_are_refused_at_run_time(
    case: tuple[int, int],
    wasm_tools: str,
    oracle_py: Path,
    inner: bytes,
    fused: bytes,
    tmp_path: Path,
) -> None:
    body = [
        "(component instance $i $H)",
        f"(assert_return (invoke {_run(*case)}) (u32.const {RUN_TIME_REFUSED[case]}))",
    ]
    assert_traps_where_original_returns(
        _oracle(wasm_tools, oracle_py, inner, fused, tmp_path, body)
    )
