"""Synchronous calls of host `async func`s passing resource handles, beside in-module tasks
(`merge.asynchostsync` with `merge.asynchostvals`' translations).

The composition (`host_sync_values/resources.wat`) calls the host's `async func`s of
`host_values_live/res-host.wat` (a component standing in for the host: each YIELDs n times
before it returns) through plain `canon lower`s, as wasi:http's `handle(own<request>) ->
result<own<response>, error-code>` is called from synchronous bindings: from a callback-lifted
task of $C, beside $C's `churn` (a new own each turn, in the same table) and $E's tick. Every
task logs to the host's `log` (`host_subtasks_live/log.wat`) and `run` returns the log: the
order the tasks ran in and the handle numbers each got are compared with the original's, then
the call's result (`last`) and the reps the host's destructor saw (`dropped`). Every value is
first checked to be one the original returns (`_original_values`: none traps).

`host_sync_values/shapes.wat` calls the `async func`s of `shapes-host.wat` likewise: flat
results that are not plain scalars (enums, flags, a record of an s16, a payload-less result, a
tuple of a u64: the `async` lower stores them in the proxy's record, the stand-in loads the
flat value as the sync lower's `lift_flat` would) and 17 u32 parameters (more than 16: in the
caller's memory for both lowers), in a task beside a tick and on the host's stack.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest

from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from support import (
    SLOW,
    assert_traps_where_original_returns,
    nested_component_text,
    oracle_of_harnesses,
    parse_wat_file,
)

HERE = Path(__file__).parent
LIVE = HERE / "host_sync_values"
LOG = HERE / "host_subtasks_live" / "log.wat"


class Setup(NamedTuple):
    """A composition, the host stand-in around it and what it takes from it."""

    inner: str  # file in LIVE
    host: Path  # the host stand-in component (`$Host` or `$Shapes`, instantiated as $host)
    types: tuple[str, ...]  # the host's types the composition imports
    funcs: tuple[str, ...]  # the host's functions it imports
    exports: tuple[str, ...]  # its exports the harness re-exports
    host_exports: tuple[str, ...] = ()  # the host's exports the harness re-exports


RESOURCES = Setup(
    "resources.wat",
    HERE / "host_values_live" / "res-host.wat",
    ("r",),
    ("make", "rep", "give", "take", "peek", "give-result", "swap"),
    ("run", "plain", "direct", "last"),
    ("dropped",),
)
SHAPES = Setup(
    "shapes.wat",
    LIVE / "shapes-host.wat",
    ("pick-t", "wide-t", "mask-t", "small-t"),
    ("pick", "wide", "mask", "small", "check", "long", "big", "many"),
    ("run", "direct", "last"),
)
ENDS = Setup(
    "ends.wat", HERE / "host_values_live" / "ends-host.wat", (), ("open",), ("run", "last")
)
ONE = Setup("one.wat", LIVE / "stream-host.wat", (), ("one",), ("run", "last"))
CONSUME = Setup(
    "consume.wat", HERE / "host_values_live" / "ends-host.wat", (), ("consume",), ("run", "last")
)


def _harness(wasm_tools: str, inner: bytes, tmp_path: Path, name: str, c: Setup = RESOURCES) -> str:
    """The host stand-ins (``c.host``, the log) and ``inner`` nested, with the exports."""
    host = c.host.read_text()
    host_name = host[host.index("(component $") + len("(component ") :].split()[0]
    withs = [f'(with "{t}" (type $host "{t}"))' for t in c.types]
    withs += [f'(with "{f}" (func $host "{f}"))' for f in c.funcs]
    withs += ['(with "log" (func $log "log"))', '(with "dump" (func $log "dump"))']
    return (
        "(component\n"
        + host
        + LOG.read_text()
        + nested_component_text(wasm_tools, inner, tmp_path, name)
        + f"  (instance $host (instantiate {host_name}))\n"
        + "  (instance $log (instantiate $Log))\n"
        + f"  (instance $inner (instantiate $Inner {' '.join(withs)}))\n"
        + "".join(f'  (export "{n}" (func $inner "{n}"))\n' for n in c.exports)
        + "".join(f'  (export "{n}" (func $host "{n}"))\n' for n in c.host_exports)
        + ")\n"
    )


Calls = list[tuple[str, tuple[int, ...]]]


def _original_values(wasm_tools: str, harness: str, sessions: list[Calls], tmp: Path) -> list:
    """What the original ``harness`` returns for each session's calls (export, u32
    arguments), each session in a fresh instance: none may trap."""
    from wasmtime import Store
    from wasmtime import component as C

    from async_harness import _Ticker, call_async, make_engine

    engine = make_engine()
    comp = C.Component(engine, parse_wat_file(wasm_tools, harness, tmp, "values").read_bytes())
    out = []
    with _Ticker(engine):
        for calls in sessions:
            store = Store(engine)
            store.set_epoch_deadline(1000)
            inst = C.Linker(engine).instantiate(store, comp)
            got = []
            for name, args in calls:
                func = inst.get_func(store, name)
                assert func is not None
                got.append(call_async(store, func, list(args)))
            out.append(got)
    return out


@pytest.fixture(scope="module")
def inner(wasm_tools: str, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("sync-values")
    text = (LIVE / "resources.wat").read_text()
    return parse_wat_file(wasm_tools, text, tmp, "inner").read_bytes()


@pytest.fixture(scope="module")
def fused(inner: bytes) -> bytes:
    return fuse_bytes(inner, options=FuseOptions(component=True)).output


def _command(name: str, args: tuple[int, ...]) -> str:
    return f'(invoke "{name}" {" ".join(f"(u32.const {a})" for a in args)})'


def _oracle(
    wasm_tools: str,
    oracle_py: Path,
    inner: bytes,
    fused: bytes,
    body: list[str],
    tmp: Path,
    c: Setup = RESOURCES,
) -> dict:
    original = _harness(wasm_tools, inner, tmp, "original", c)
    transformed = _harness(wasm_tools, fused, tmp, "fused", c)
    return oracle_of_harnesses(
        wasm_tools, oracle_py, original, transformed, body, tmp, "sync-values"
    )


def _asserted_sessions(
    wasm_tools: str, inner: bytes, sessions: list[Calls], tmp: Path, c: Setup = RESOURCES
) -> list[str]:
    """Each session in a fresh instance, its calls as assert_returns of the original's
    values (u64 for the logs `run`, `plain` and `direct` return, else u32)."""
    harness = _harness(wasm_tools, inner, tmp, "v", c)
    values = _original_values(wasm_tools, harness, sessions, tmp)
    body = []
    for k, (calls, got) in enumerate(zip(sessions, values, strict=True)):
        body.append(f"(component instance $i{k} $H)")
        for (name, args), v in zip(calls, got, strict=True):
            width = "u64" if name in ("run", "plain", "direct") else "u32"
            body.append(f"(assert_return {_command(name, args)} ({width}.const {v}))")
    return body


def _session(op: int, n: int, k: int, t: int) -> Calls:
    return [("run", (op, n, k, t)), ("last", ()), ("dropped", ())]


TOP = 4 if SLOW else 3
#: (n, k, t): the host's YIELDs, churn's turns, the tick's YIELDs
SWEEP = [(n, k, t) for n in range(TOP) for k in range(TOP) for t in (0, 2)]
OPS = {"give": 0, "take": 1, "peek": 2, "give-result": 3, "swap": 4}
NAP = 16  # `run`'s op + NAP: the call made by $C's stackful `nap`


@pytest.mark.parametrize("op", list(OPS.values()), ids=list(OPS))
def test_a_callback_task_s_sync_host_call_with_handles_fuses_equivalently(
    op: int, wasm_tools: str, oracle_py: Path, inner: bytes, fused: bytes, tmp_path: Path
) -> None:
    """$C's callback task blocked in the call keeps its instance: churn starts after it (as
    the original's log shows), the tick runs meanwhile."""
    sessions = [_session(op, n, k, t) for n, k, t in SWEEP]
    body = _asserted_sessions(wasm_tools, inner, sessions, tmp_path)
    r = _oracle(wasm_tools, oracle_py, inner, fused, body, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r
    assert r["counts"]["compared"] == 4 * len(sessions) + 1, r


@pytest.mark.parametrize("op", list(OPS.values()), ids=list(OPS))
def test_a_stackful_task_s_sync_host_call_interleaves_its_handles_as_the_original(
    op: int, wasm_tools: str, oracle_py: Path, inner: bytes, fused: bytes, tmp_path: Path
) -> None:
    """$C's stackful `nap` blocked in the call lets churn run in the same instance: the own
    it moved to the host frees its index for churn's, the own it gets back is numbered
    after churn's, as in the original (no tick YIELDing: `test_..._known_divergence`)."""
    sessions = [_session(op + NAP, n, k, 0) for n in range(TOP + 1) for k in range(TOP + 1)]
    body = _asserted_sessions(wasm_tools, inner, sessions, tmp_path)
    r = _oracle(wasm_tools, oracle_py, inner, fused, body, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r
    assert r["counts"]["compared"] == 4 * len(sessions) + 1, r


def test_handles_of_a_sync_host_call_on_the_host_s_stack_fuse_equivalently(
    wasm_tools: str, oracle_py: Path, inner: bytes, fused: bytes, tmp_path: Path
) -> None:
    """$D's own code (not a task: it blocks in place) gets an own from `give` and swaps
    another for one, beside a tick that does not YIELD (with a YIELD queued before the call
    the host's turn comes earlier: the known divergence)."""
    sessions = [[("direct", (n, 0)), ("last", ()), ("dropped", ())] for n in range(TOP + 2)]
    body = _asserted_sessions(wasm_tools, inner, sessions, tmp_path)
    r = _oracle(wasm_tools, oracle_py, inner, fused, body, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r
    assert r["counts"]["compared"] == 4 * len(sessions) + 1, r


def test_the_host_s_turn_behind_a_queued_yield_is_the_known_divergence(
    wasm_tools: str, oracle_py: Path, inner: bytes, fused: bytes, tmp_path: Path
) -> None:
    """Pinned (`merge.asynchostsync`'s known divergence): with the tick's YIELD queued when
    `nap` blocks, the fused host's result comes one in-module turn earlier; the same
    results, another log. A fix of the host's turns turns this red, to be flipped."""
    body = ["(component instance $i $H)", _command("run", (OPS["swap"] + NAP, 2, 2, 2))]
    r = _oracle(wasm_tools, oracle_py, inner, fused, body, tmp_path)
    assert r["status"] == "diverged", r
    assert r["reason"].endswith("results differ"), r


#: (export, arguments) → wasmtime's trap: the own moved to the host dropped after the call;
#: the own lent to the host dropped by churn while `nap` waits; a function that is not `async`
#: blocking in the call
TRAPS = {
    ("run", (5, 0, 0, 0)): "unknown handle index 1",
    ("run", (5, 2, 1, 2)): "unknown handle index 1",
    ("run", (5 + NAP, 1, 0, 0)): "unknown handle index 1",
    ("run", (6 + NAP, 1, 1, 0)): "cannot remove owned resource while borrowed",
    ("run", (6 + NAP, 3, 2, 2)): "cannot remove owned resource while borrowed",
    ("plain", (0, 1, 0)): "cannot block a synchronous task before returning",
    ("plain", (4, 2, 2)): "cannot block a synchronous task before returning",
}


def test_misused_handles_and_blocking_trap_where_the_original_does(
    wasm_tools: str, oracle_py: Path, inner: bytes, fused: bytes, tmp_path: Path
) -> None:
    body = []
    for k, ((name, args), message) in enumerate(TRAPS.items()):
        body += [
            f"(component instance $i{k} $H)",
            f'(assert_trap {_command(name, args)} "{message}")',
        ]
    # returned at once, a function that is not `async` does not block
    sessions = [
        [("plain", (op, 0, t)), ("last", ()), ("dropped", ())] for op in (0, 4) for t in (0, 2)
    ]
    body += [
        cmd.replace("$i", "$j") for cmd in _asserted_sessions(wasm_tools, inner, sessions, tmp_path)
    ]
    r = _oracle(wasm_tools, oracle_py, inner, fused, body, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r
    assert r["counts"]["compared"] == 2 * len(TRAPS) + 4 * len(sessions) + 1, r


def test_output_lowers_the_host_s_functions_async_and_is_deterministic(
    wasm_tools: str, inner: bytes, fused: bytes, tmp_path: Path
) -> None:
    """The synchronous lowers of the host's `async func`s call imports lowered `async`: a
    flat result (give, take, peek) with the task records' memory (one import for $C's and
    $D's `give`), one by return pointer (give-result, swap) with the caller's (one `swap` for
    $C's memory, one for $D's); the sync `make` and `rep` stay synchronous. Core output is
    valid; fusing twice gives the same bytes."""
    (tmp_path / "fused.wasm").write_bytes(fused)
    text = subprocess.run(
        [wasm_tools, "print", str(tmp_path / "fused.wasm")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lowers = [ln.strip() for ln in text.splitlines() if "(canon lower (func " in ln]
    asyncs = [ln for ln in lowers if ln.endswith(" async))")]
    assert len(asyncs) == 6, lowers
    assert len([ln for ln in asyncs if "(memory 0)" in ln]) == 3, asyncs
    assert fuse_bytes(inner, options=FuseOptions(component=True)).output == fused
    core = tmp_path / "core.wasm"
    core.write_bytes(fuse_bytes(inner, options=FuseOptions()).output)
    subprocess.run([wasm_tools, "validate", str(core)], check=True)


# -- flat results that are not plain scalars, more than 16 flat parameters ----------------------

#: shapes.wat's ops: a flat result of an enum (a 1- and a 2-byte discriminant), flags, a record
#: of an s16, a payload-less result, a tuple of a u64; 17 u32s and n in the caller's memory;
#: 8 flat scalars the stand-in stores in a record of the proxy's for the `async` lower
SHAPE_OPS = {
    **{"pick": 0, "wide": 1, "mask": 2, "small": 3, "check": 4, "long": 5},
    **{"big": 6, "many": 7},
}


@pytest.fixture(scope="module")
def shapes(wasm_tools: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    tmp = tmp_path_factory.mktemp("shapes")
    text = (LIVE / SHAPES.inner).read_text()
    binary = parse_wat_file(wasm_tools, text, tmp, "shapes").read_bytes()
    return binary, fuse_bytes(binary, options=FuseOptions(component=True)).output


@pytest.mark.parametrize("op", list(SHAPE_OPS.values()), ids=list(SHAPE_OPS))
def test_flat_results_and_spilled_parameters_of_a_sync_host_call_fuse_equivalently(
    op: int, wasm_tools: str, oracle_py: Path, shapes: tuple[bytes, bytes], tmp_path: Path
) -> None:
    """In a callback task beside a tick (`run`), and on the host's stack through $C's
    synchronous `sync` (`direct`): values of n up to 300 (the wide enum's every byte)."""
    ns = [0, 1, 2, 3, 5, 131, 299] if op < SHAPE_OPS["big"] else [0, 1, 3, 700]
    sessions = [[("run", (op, n, t)), ("last", ())] for n in ns for t in (0, 2)]
    sessions += [[("direct", (op, n, 0)), ("last", ())] for n in ns[:3]]
    body = _asserted_sessions(wasm_tools, shapes[0], sessions, tmp_path, SHAPES)
    r = _oracle(wasm_tools, oracle_py, *shapes, body, tmp_path, SHAPES)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r
    assert r["counts"]["compared"] == 3 * len(sessions) + 1, r


def test_shapes_output_is_valid_core_and_deterministic(
    wasm_tools: str, shapes: tuple[bytes, bytes], tmp_path: Path
) -> None:
    """Each synchronous lower of the shapes' host functions calls an import lowered `async`
    (`big` with the caller's memory, the flat results with the task records'); core output is
    a valid module; fusing twice gives the same bytes."""
    binary, fused = shapes
    (tmp_path / "fused.wasm").write_bytes(fused)
    text = subprocess.run(
        [wasm_tools, "print", str(tmp_path / "fused.wasm")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lowers = [ln.strip() for ln in text.splitlines() if "(canon lower (func " in ln]
    assert len([ln for ln in lowers if ln.endswith(" async))")]) == len(SHAPE_OPS), lowers
    assert fuse_bytes(binary, options=FuseOptions(component=True)).output == fused
    core = tmp_path / "core.wasm"
    core.write_bytes(fuse_bytes(binary, options=FuseOptions()).output)
    subprocess.run([wasm_tools, "validate", str(core)], check=True)


# -- stream/future ends --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ends(wasm_tools: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    tmp = tmp_path_factory.mktemp("ends")
    binary = parse_wat_file(wasm_tools, (LIVE / ENDS.inner).read_text(), tmp, "ends").read_bytes()
    return binary, fuse_bytes(binary, options=FuseOptions(component=True)).output


@pytest.mark.parametrize("nap", [0, NAP], ids=["callback", "stackful"])
@pytest.mark.parametrize("c", [ENDS, ONE], ids=["by-pointer", "flat"])
def test_ends_a_sync_host_call_returns_are_the_caller_s_as_the_original(
    c: Setup, nap: int, wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """`open`'s stream and future (stored at the caller's return pointer), `one`'s stream
    (the flat result, stored in the proxy's record) become in-module ends of the caller's
    table, read at once after the call."""
    binary = parse_wat_file(wasm_tools, (LIVE / c.inner).read_text(), tmp_path, "in").read_bytes()
    fused = fuse_bytes(binary, options=FuseOptions(component=True)).output
    sessions = [[("run", (nap, n, 0, t)), ("last", ())] for n in range(TOP + 1) for t in (0, 2)]
    body = _asserted_sessions(wasm_tools, binary, sessions, tmp_path, c)
    r = _oracle(wasm_tools, oracle_py, binary, fused, body, tmp_path, c)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r
    assert r["counts"]["compared"] == 3 * len(sessions) + 1, r


def test_an_end_passed_to_a_sync_host_call_is_handed_over_as_the_original(
    wasm_tools: str, oracle_py: Path, tmp_path: Path
) -> None:
    """`consume(s: stream<u8>, n)` (wasi:filesystem's `write-via-stream` shape) takes the
    readable end of a stream `feed` writes while `nap` blocks in the call: with n = 0 the host
    reads at once, `feed`'s write completes at once (the same log and values as the original);
    with n = 1 the write would wait for the host, whose event no in-module wait takes: refused
    at run time (the fused module traps where the original returns), as for an `async`
    lower (test_async_host_values.py's `END_REFUSED`)."""
    text = (LIVE / CONSUME.inner).read_text()
    binary = parse_wat_file(wasm_tools, text, tmp_path, "in").read_bytes()
    fused = fuse_bytes(binary, options=FuseOptions(component=True)).output
    sessions = [[("run", (0, t)), ("last", ())] for t in range(4)]
    body = _asserted_sessions(wasm_tools, binary, sessions, tmp_path, CONSUME)
    r = _oracle(wasm_tools, oracle_py, binary, fused, body, tmp_path, CONSUME)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r
    assert r["counts"]["compared"] == 3 * len(sessions) + 1, r
    body = _asserted_sessions(wasm_tools, binary, [[("run", (1, 0))]], tmp_path, CONSUME)
    r = _oracle(wasm_tools, oracle_py, binary, fused, body, tmp_path, CONSUME)
    assert_traps_where_original_returns(r)


def test_ends_are_handed_over_in_component_output_only(ends: tuple[bytes, bytes]) -> None:
    """Core output has no runtime stream/future built-ins for the hand-over: refused, saying
    so; component output is deterministic."""
    with pytest.raises(UnsupportedFeature, match=r"`open`.*in component output only"):
        fuse_bytes(ends[0], options=FuseOptions())
    assert fuse_bytes(ends[0], options=FuseOptions(component=True)).output == ends[1]
