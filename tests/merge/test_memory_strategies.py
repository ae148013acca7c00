"""`--memory multi|shared|auto` and `--address-rebase` (pymeld.merge.memory).

Each flag has a test that fails if it did nothing: ``shared --address-rebase`` must produce one
memory and keep two components that use the *same* addresses isolated (values, bounds traps,
``memory.size``, bulk operations, strings copied between regions by an adapter); ``shared``
alone must refuse two memories; ``auto`` must pick shared+rebase when sound and fall back to
multi (saying why) when a memory is grown. The wast oracle and the component harness run under
every strategy: no divergence, named refusals counted (the full wast run needs --slow).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pymeld.api import core_module_sections
from pymeld.codec.component import parse_component
from pymeld.errors import UnsupportedFeature
from pymeld.fuse import FuseOptions, fuse_bytes
from support import REPO, SLOW, pymeld_exe, shared_root, wat_to_wasm

wasmtime = pytest.importorskip("wasmtime")

# Two components, each with its own memory, both using address 1024. B is instantiated first, so
# its region is the first one (bounds checked in code); A's is last (the memory end checks it).
ISOLATION_WAT = r"""
(component
  (component $B
    (core module $m
      (memory (export "mem") 1)
      (global $bump (mut i32) (i32.const 2048))
      (func (export "put") (param i32) (result i32)
        (i32.store (i32.const 1024) (local.get 0)) (i32.load (i32.const 1024)))
      (func (export "get") (result i32) (i32.load (i32.const 1024)))
      (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0)))
      (func (export "peek64") (param i32) (result i64) (i64.load offset=8 (local.get 0)))
      (func (export "poke") (param i32 i64) (i64.store16 offset=2 (local.get 0) (local.get 1)))
      (func (export "far") (result i32) (i32.load offset=65535 (i32.const 0)))
      (func (export "pages") (result i32) (memory.size))
      (func (export "fill") (param i32 i32) (memory.fill (local.get 0) (i32.const 7) (local.get 1)))
      (func (export "sum") (param i32 i32) (result i32) (local $acc i32)
        (block $done (loop $l
          (br_if $done (i32.eqz (local.get 1)))
          (local.set $acc (i32.add (local.get $acc) (i32.load8_u (local.get 0))))
          (local.set 0 (i32.add (local.get 0) (i32.const 1)))
          (local.set 1 (i32.sub (local.get 1) (i32.const 1)))
          (br $l)))
        (i32.store (i32.const 1024) (local.get $acc))
        (local.get $acc))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32) (local $p i32)
        (local.set $p (global.get $bump))
        (global.set $bump (i32.add (global.get $bump) (local.get 3)))
        (local.get $p))
      (func (export "grow") (result i32) (GROW))
      (data $d "xyz")
      (func (export "cas") (param i32 i64 i64) (result i64)
        (i64.atomic.rmw.cmpxchg (local.get 0) (local.get 1) (local.get 2)))
      (func (export "lane") (param i32) (result i32)
        (i8x16.extract_lane_u 3 (v128.load8_lane 3 (local.get 0) (v128.const i64x2 0 0))))
      (func (export "vst") (param i32) (v128.store offset=16 (local.get 0) (v128.const i32x4 1 2 3 4)))
      (func (export "init") (param i32) (memory.init $d (local.get 0) (i32.const 0) (i32.const 3)))
    )
    (core instance $i (instantiate $m))
    (func (export "put") (param "x" u32) (result u32) (canon lift (core func $i "put")))
    (func (export "get") (result u32) (canon lift (core func $i "get")))
    (func (export "peek") (param "a" u32) (result u32) (canon lift (core func $i "peek")))
    (func (export "peek64") (param "a" u32) (result u64) (canon lift (core func $i "peek64")))
    (func (export "poke") (param "a" u32) (param "v" u64) (canon lift (core func $i "poke")))
    (func (export "far") (result u32) (canon lift (core func $i "far")))
    (func (export "pages") (result u32) (canon lift (core func $i "pages")))
    (func (export "fill") (param "a" u32) (param "n" u32) (canon lift (core func $i "fill")))
    (func (export "grow") (result s32) (canon lift (core func $i "grow")))
    (func (export "init") (param "a" u32) (canon lift (core func $i "init")))
    (func (export "cas") (param "a" u32) (param "e" u64) (param "r" u64) (result u64)
      (canon lift (core func $i "cas")))
    (func (export "lane") (param "a" u32) (result u32) (canon lift (core func $i "lane")))
    (func (export "vst") (param "a" u32) (canon lift (core func $i "vst")))
    (func (export "sum") (param "s" string) (result u32)
      (canon lift (core func $i "sum") (memory (core memory $i "mem"))
        (realloc (core func $i "realloc"))))
  )
  (component $A
    (import "put" (func $put (param "x" u32) (result u32)))
    (import "get" (func $get (result u32)))
    (import "sum" (func $sum (param "s" string) (result u32)))
    (core module $mem (memory (export "mem") 1))
    (core instance $mi (instantiate $mem))
    (core func $put_l (canon lower (func $put)))
    (core func $get_l (canon lower (func $get)))
    (core func $sum_l (canon lower (func $sum) (memory (core memory $mi "mem"))))
    (core module $m
      (import "b" "put" (func $put (param i32) (result i32)))
      (import "b" "get" (func $get (result i32)))
      (import "b" "sum" (func $sum (param i32 i32) (result i32)))
      (import "env" "mem" (memory 1))
      (data (i32.const 1024) "hello")
      (func (export "run") (param i32) (result i32)
        (drop (call $put (local.get 0)))
        (i32.add (i32.mul (i32.load8_u (i32.const 1024)) (i32.const 100000)) (call $get)))
      (func (export "run-sum") (result i32)
        (i32.add (i32.mul (call $sum (i32.const 1024) (i32.const 5)) (i32.const 1000))
                 (i32.load8_u offset=4 (i32.const 1024))))
      (func (export "peek") (param i32) (result i32) (i32.load (local.get 0)))
      (func (export "copy") (param i32 i32 i32)
        (memory.copy (local.get 0) (local.get 1) (local.get 2)))
    )
    (core instance $i (instantiate $m
      (with "b" (instance (export "put" (func $put_l)) (export "get" (func $get_l))
                          (export "sum" (func $sum_l))))
      (with "env" (instance $mi))))
    (func (export "run") (param "x" u32) (result u32) (canon lift (core func $i "run")))
    (func (export "run-sum") (result u32) (canon lift (core func $i "run-sum")))
    (func (export "peek") (param "a" u32) (result u32) (canon lift (core func $i "peek")))
    (func (export "copy") (param "d" u32) (param "s" u32) (param "n" u32)
      (canon lift (core func $i "copy")))
  )
  (instance $b (instantiate $B))
  (instance $a (instantiate $A (with "put" (func $b "put")) (with "get" (func $b "get"))
                               (with "sum" (func $b "sum"))))
  (export "run" (func $a "run"))
  (export "run-sum" (func $a "run-sum"))
  (export "peek-a" (func $a "peek"))
  (export "copy-a" (func $a "copy"))
  (export "peek-b" (func $b "peek"))
  (export "peek64-b" (func $b "peek64"))
  (export "poke-b" (func $b "poke"))
  (export "far-b" (func $b "far"))
  (export "pages-b" (func $b "pages"))
  (export "fill-b" (func $b "fill"))
  (export "get-b" (func $b "get"))
  (export "grow-b" (func $b "grow"))
  (export "init-b" (func $b "init"))
  (export "cas-b" (func $b "cas"))
  (export "lane-b" (func $b "lane"))
  (export "vst-b" (func $b "vst"))
)
"""

#: Sessions (fresh instance each; a trap ends the session): call sequences whose results must
#: be the same on the original and the fused component.
SESSIONS: list[list[tuple[str, tuple[Any, ...]]]] = [
    [("run", (5,)), ("get-b", ()), ("peek-a", (1024,)), ("peek-b", (1024,))],
    [("run-sum", ()), ("get-b", ()), ("peek-a", (1024,)), ("peek-b", (2048,))],
    [("peek-b", (65535,)), ("peek-b", (65536,))],  # first region: explicit bounds check
    [("peek-b", (0xFFFFFFFF,))],
    [("peek64-b", (65520,)), ("peek64-b", (65521,))],
    [("poke-b", (65532, 0x1234)), ("peek-b", (65534,)), ("poke-b", (65533, 1))],
    [("far-b", ())],  # static offset past the region: always traps
    [("peek-a", (65532,)), ("peek-a", (65533,))],  # last region: the memory's end
    [("pages-b", ()), ("grow-b", ())],
    [("fill-b", (65530, 6)), ("peek-b", (65535,)), ("fill-b", (65530, 7))],
    [("fill-b", (0xFFFFFFFF, 2))],
    [("copy-a", (100, 1024, 5)), ("peek-a", (100,)), ("peek-b", (100,))],
    [("copy-a", (65535, 0, 2))],
    [("copy-a", (0, 65535, 2))],
    [("copy-a", (0xFFFFFFF0, 0, 0x20))],
    [("init-b", (65533,)), ("peek-b", (65535,)), ("init-b", (65534,))],
    [("vst-b", (65504,)), ("peek-b", (65532,)), ("lane-b", (65532,)), ("vst-b", (65505,))],
    [("run", (7,)), ("cas-b", (1024, 7, 9)), ("cas-b", (1024, 7, 1)), ("get-b", ())],
    [("cas-b", (65528, 0, 5)), ("cas-b", (65528, 5, 6)), ("cas-b", (65521, 0, 0))],
    [("cas-b", (65536, 0, 0))],
    [("lane-b", (65535,)), ("lane-b", (65536,))],
]


@pytest.fixture(scope="module")
def iso() -> bytes:
    return wat_to_wasm(ISOLATION_WAT.replace("(GROW)", "i32.const 0"))


@pytest.fixture(scope="module")
def grows() -> bytes:
    return wat_to_wasm(ISOLATION_WAT.replace("(GROW)", "(memory.grow (i32.const 1))"))


def run_sessions(data: bytes) -> list[list[tuple[str, object]]]:
    from wasmtime.component import Component, Linker

    engine = wasmtime.Engine()
    comp = Component(engine, data)
    linker = Linker(engine)
    out: list[list[tuple[str, object]]] = []
    for session in SESSIONS:
        store = wasmtime.Store(engine)
        inst = linker.instantiate(store, comp)
        got: list[tuple[str, object]] = []
        for name, args in session:
            func = inst.get_func(store, comp.get_export_index(name))
            try:
                got.append(("ok", func(store, *args)))
            except wasmtime.WasmtimeError as e:
                msg = str(e).strip().splitlines()[-1].strip()
                kind = "oob" if "out of bounds memory access" in msg else msg
                got.append(("trap", kind))
                break
        out.append(got)
    return out


def fused(data: bytes, **opts: Any) -> tuple[bytes, dict[str, object]]:
    r = fuse_bytes(data, file="in.wasm", options=FuseOptions(component=True, **opts))
    return r.output, r.stats


def memories(component: bytes) -> int:
    mods = [s.module for s in core_module_sections(parse_component(component))]
    return max(len(m.memories) for m in mods)


# -- the isolation composition ---------------------------------------------------------------


def test_shared_rebase_isolates_components_using_the_same_addresses(iso: bytes) -> None:
    expected = run_sessions(iso)
    assert expected[0] == [("ok", 104 * 100000 + 5), ("ok", 5), ("ok", 0x6C6C6568), ("ok", 5)]
    assert expected[2][1] == ("trap", "oob") and expected[6] == [("trap", "oob")]
    out, stats = fused(iso, memory="shared", address_rebase=True)
    assert stats["memory_strategy"] == "shared+rebase"
    assert memories(out) == 1  # the flag did something: multi keeps two
    assert memories(fused(iso)[0]) == 2
    assert run_sessions(out) == expected


def test_shared_without_rebase_refuses_two_memories(iso: bytes) -> None:
    with pytest.raises(UnsupportedFeature, match="without address rebasing: 2 memories"):
        fused(iso, memory="shared")


def test_shared_without_rebase_accepts_one_memory() -> None:
    one = wat_to_wasm(
        '(component (core module $m (memory 1) (func (export "f") (result i32)'
        " (i32.store (i32.const 8) (i32.const 42)) (i32.load (i32.const 8))))"
        " (core instance $i (instantiate $m))"
        ' (func (export "f") (result u32) (canon lift (core func $i "f"))))'
    )
    out, stats = fused(one, memory="shared")
    assert stats["memory_strategy"] == "shared" and memories(out) == 1


def test_grow_refused_under_shared_and_auto_falls_back_to_multi(grows: bytes) -> None:
    with pytest.raises(UnsupportedFeature, match=r"memory\.grow"):
        fused(grows, memory="shared", address_rebase=True)
    out, stats = fused(grows, memory="auto")
    assert stats["memory_strategy"] == "multi"
    assert "memory.grow" in str(stats["memory_strategy_reason"])
    assert memories(out) == 2
    assert run_sessions(out) == run_sessions(grows)


def test_auto_chooses_shared_rebase_when_sound(iso: bytes) -> None:
    out, stats = fused(iso, memory="auto")
    assert stats["memory_strategy"] == "shared+rebase"
    assert memories(out) == 1
    assert run_sessions(out) == run_sessions(iso)


def test_host_facing_memory_is_refused() -> None:
    """Host canon options would read absolute addresses without region bounds."""
    wat = ISOLATION_WAT.replace("(GROW)", "i32.const 0").replace(
        '(export "get-b" (func $b "get"))', '(export "sum-b" (func $b "sum"))'
    )
    with pytest.raises(UnsupportedFeature, match="read/written by the host"):
        fused(wat_to_wasm(wat), memory="shared", address_rebase=True)


def test_cli_flags_and_stats_json(iso: bytes, tmp_path: Path) -> None:
    src = tmp_path / "iso.wasm"
    src.write_bytes(iso)
    base = [*pymeld_exe(), "fuse", str(src), "--component", "-o", str(tmp_path / "o.wasm")]
    p = subprocess.run([*base, "--memory", "auto", "--stats-json", "-"], capture_output=True)
    assert p.returncode == 0, p.stderr
    stats = json.loads(p.stdout)
    assert stats["memory_strategy"] == "shared+rebase" and "memory_regions" in stats
    p = subprocess.run([*base, "--memory", "shared"], capture_output=True, text=True)
    assert p.returncode == 1 and "pymeld: error: unsupported:" in p.stderr
    p = subprocess.run([*base, "--address-rebase"], capture_output=True, text=True)
    assert p.returncode == 2 and "--address-rebase needs --memory shared" in p.stderr


def test_multi_with_rebase_is_an_error(iso: bytes) -> None:
    """An impossible option combination is the caller's error, found before any work."""
    with pytest.raises(ValueError, match="address_rebase needs memory='shared'"):
        fused(iso, memory="multi", address_rebase=True)


# -- oracles under every strategy --------------------------------------------------------------

STRATEGY_FLAGS = {
    "multi": "--memory multi",
    "shared": "--memory shared",
    "shared+rebase": "--memory shared --address-rebase",
    "auto": "--memory auto",
}

#: The full corpus runs with --slow.
FAST_WASTS = (  # the corpus files where `auto` picks shared+rebase for some component
    "component-model/test/values/alignment.wast",
    "component-model/test/linking/shared-everything-dynamic-linking.wast",
    "wasmtime/tests/misc_testsuite/component-model/alias-region-known-imported-adapter-memory.wast",
    "wasmtime/tests/misc_testsuite/component-model/string-transcode-invalid.wast",
    "wasmtime/tests/misc_testsuite/component-model/exceptions.wast",
)


def _command(flags: str) -> str:
    exe = " ".join(pymeld_exe())
    return f"{exe} fuse {{in}} --component {flags} -o {{out}}"


@pytest.mark.parametrize("strategy", list(STRATEGY_FLAGS))
def test_wast_oracle_per_strategy(strategy: str, tmp_path: Path, report: Any) -> None:
    root = shared_root() / "corpus" / "wast"
    oracle = shared_root() / "tools" / "oracle.py"
    if not oracle.exists():
        pytest.skip(f"oracle not found at {oracle}")
    targets = [str(root)] if SLOW else [str(root / f) for f in FAST_WASTS]
    targets = [t for t in targets if Path(t).exists()]
    out = tmp_path / "o.json"
    cmd = [sys.executable, str(oracle), "--transform", _command(STRATEGY_FLAGS[strategy])]
    cmd += ["-j", "2", "--timeout", "10", "--file-timeout", "240", "--json", str(out), *targets]
    subprocess.run(cmd, capture_output=True, text=True)
    files = json.loads(out.read_text())["files"]
    tally: Counter[str] = Counter()
    bad = []
    for path, r in sorted(files.items()):
        status = r["status"]
        failures = r.get("transform_failures") or []
        refused = any("pymeld: error: unsupported:" in str(f) for f in failures)
        if status == "transform-failed" and all(
            "pymeld: error: unsupported:" in str(f) for f in failures
        ):
            status = "refused"
        elif status == "equivalent" and refused:
            tally["partly refused"] += 1
        tally[status] += 1
        if status in ("diverged", "transform-failed") and not _known(path, strategy):
            bad.append(f"{status}: {path}: {' '.join(str(r.get('reason', '')).split())[:300]}")
    report(
        f"wast oracle, --memory {strategy}", ", ".join(f"{v} {k}" for k, v in sorted(tally.items()))
    )
    assert not bad, "\n".join(bad)


def _known(path: str, strategy: str) -> bool:
    sys.path.insert(0, str(REPO / "tests" / "oracle"))
    import oracle_transforms

    return any(path.endswith(k) for k in oracle_transforms.KNOWN_DIVERGENT.get("fuse", {}))


HARNESS_FAST = ("repo-prebuilt/expected_calculator.json", "c-compose-text/expected.json")


@pytest.mark.parametrize("strategy", list(STRATEGY_FLAGS))
def test_component_harness_per_strategy(strategy: str, tmp_path: Path, report: Any) -> None:
    comps = shared_root() / "corpus" / "components"
    harness = comps / "harness.py"
    if not harness.exists():
        pytest.skip(f"harness not found at {harness}")
    expected = (
        sorted(comps.rglob("expected*.json"))
        if SLOW
        else [comps / e for e in HARNESS_FAST if (comps / e).exists()]
    )
    tally: Counter[str] = Counter()
    bad = []
    for exp in expected:
        src = exp.parent / json.loads(exp.read_text())["component"]
        dst = tmp_path / f"{exp.parent.name}-{exp.stem}.wasm"
        cmd = (
            _command(STRATEGY_FLAGS[strategy]).replace("{in}", str(src)).replace("{out}", str(dst))
        )
        p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=900)
        if p.returncode != 0:
            if "pymeld: error: unsupported:" in p.stderr:
                tally["refused"] += 1
                continue
            bad.append(f"{exp}: fuse failed: {p.stderr[-300:]}")
            continue
        c = subprocess.run(
            [sys.executable, str(harness), "check", str(exp), str(dst)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if c.returncode == 0:
            tally["passed"] += 1
        else:
            bad.append(f"{exp}: {c.stdout[-500:]}")
    report(
        f"component harness, --memory {strategy}", ", ".join(f"{v} {k}" for k, v in tally.items())
    )
    assert not bad, "\n".join(bad)
