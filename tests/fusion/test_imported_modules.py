"""Compositions that instantiate core modules they import (pymeld.merge.foreign).

The wast oracle's host has one module (`host/simple-module`, see `wast/imported-modules.wast`);
here wasmtime runs original and fused against host modules that share memories, tables and
globals with the composition and log, from their start functions, the order they run in:
the host's log and every export's result must be the same. Then what cannot be exact is
refused by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pymeld
from pymeld.errors import UnsupportedFeature
from support import run_cli, wat_to_wasm

wasmtime = pytest.importorskip("wasmtime")
component = pytest.importorskip("wasmtime.component")

#: A host module sharing its memory (one page, "m" at 0), table and a mutable global, reading
#: from what it imports; its start function logs its memory's first byte and the imported one.
HOST_MODULES = {
    "owner": """(module
        (import "env" "log" (func $log (param i32)))
        (memory (export "mem") 1)
        (table (export "tbl") 2 funcref)
        (global (export "g") (mut i32) (i32.const 40))
        (data (i32.const 0) "m")
        (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0)))
        (func (export "bump") (result i32)
          (i32.store8 (i32.const 0) (i32.add (i32.load8_u (i32.const 0)) (i32.const 1)))
          (i32.load8_u (i32.const 0)))
        (func $start (call $log (i32.const 100)))
        (start $start)
        (func (export "realloc") (param i32 i32 i32 i32) (result i32)
          (call $log (i32.const 7)) (i32.const 16))
        (func (export "takes") (param i32 i32) (result i32) (local.get 1)))""",
    "borrower": """(module
        (import "" "mem" (memory 1))
        (import "" "tbl" (table 1 funcref))
        (import "" "log" (func $log (param i32)))
        (type $t (func (result i32)))
        (func $start
          (call $log (i32.add (i32.const 200) (i32.load8_u (i32.const 0))))
          (i32.store8 (i32.const 1) (i32.const 9))
          (call $log (call_indirect (type $t) (i32.const 0))))
        (start $start)
        (func (export "second") (result i32) (i32.load8_u (i32.const 1))))""",
    "lender": """(module
        (import "" "double" (func $d (param i32) (result i32)))
        (memory (export "mem") 1)
        (func (export "quad") (param i32) (result i32) (call $d (call $d (local.get 0)))))""",
}

HOST_TYPES = """
  (import "host" (instance $host
    (export "log" (func (param "v" u32)))
    (export "owner" (core module
      (import "env" "log" (func (param i32)))
      (export "mem" (memory 1))
      (export "tbl" (table 2 funcref))
      (export "g" (global (mut i32)))
      (export "peek" (func (param i32) (result i32)))
      (export "bump" (func (result i32)))
      (export "realloc" (func (param i32 i32 i32 i32) (result i32)))
      (export "takes" (func (param i32 i32) (result i32)))))
    (export "borrower" (core module
      (import "" "mem" (memory 1))
      (import "" "tbl" (table 1 funcref))
      (import "" "log" (func (param i32)))
      (export "second" (func (result i32)))))
    (export "lender" (core module
      (import "" "double" (func (param i32) (result i32)))
      (export "mem" (memory 1))
      (export "quad" (func (param i32) (result i32)))))))
  (core func $log (canon lower (func $host "log")))
  (core instance $env (export "log" (func $log)))
"""


def run(data: bytes, exports: list[str], *args: Any) -> tuple[list[Any], list[int]]:
    """Instantiate ``data`` against the host modules, call ``exports`` in order (with
    ``args``): the results (or the trap's first line) and the host log."""
    cfg = wasmtime.Config()
    cfg.wasm_component_model = True
    cfg.wasm_multi_memory = True
    engine = wasmtime.Engine(cfg)
    log: list[int] = []
    linker = component.Linker(engine)
    with linker.root() as root, root.add_instance("host") as host:
        host.add_func("log", lambda _s, v: log.append(v))
        for name, wat in HOST_MODULES.items():
            host.add_module(name, wasmtime.Module(engine, wat))
    store = wasmtime.Store(engine)
    results: list[Any] = []
    try:
        inst = linker.instantiate(store, component.Component(engine, data))
    except wasmtime.WasmtimeError as e:
        return [f"trap: {str(e).splitlines()[0]}"], log
    for name in exports:
        f = inst.get_func(store, name)
        try:
            results.append(f(store, *args))
        except wasmtime.WasmtimeError as e:
            results.append(f"trap: {str(e).splitlines()[0]}")
    return results, log


def fuse(wat: str) -> tuple[bytes, bytes]:
    data = wat_to_wasm(wat)
    return data, pymeld.fuse_bytes(data, options=pymeld.FuseOptions(component=True)).output


def assert_same(wat: str, exports: list[str]) -> tuple[list[Any], list[int]]:
    original, fused = fuse(wat)
    expected = run(original, exports)
    assert run(fused, exports) == expected
    assert b"owner" in fused  # the module stays an import: nothing was guessed about it
    return expected


def test_memory_table_global_of_two_instances_used_by_fused_code() -> None:
    """The fused code imports each instance's memory, table and global: two instances, two
    sets; the host module's start runs before the fused code's (it is instantiated first)."""
    wat = f"""(component {HOST_TYPES}
      (core instance $o1 (instantiate (module $host "owner") (with "env" (instance $env))))
      (core instance $o2 (instantiate (module $host "owner") (with "env" (instance $env))))
      (core module $use
        (import "a" "mem" (memory $a 1))
        (import "b" "mem" (memory $b 1))
        (import "a" "tbl" (table $ta 2 funcref))
        (import "a" "g" (global $ga (mut i32)))
        (import "b" "bump" (func $bump (result i32)))
        (import "env" "log" (func $log (param i32)))
        (type $t (func (param i32) (result i32)))
        (import "a" "peek" (func $peek (type $t)))
        (elem (table $ta) (i32.const 1) func $peek)
        (func $start (call $log (i32.load8_u $a (i32.const 0))))
        (start $start)
        (func (export "run") (result i32)
          (i32.store8 $a (i32.const 0) (i32.const 65))
          (global.set $ga (i32.add (global.get $ga) (i32.const 2)))
          (i32.add
            (i32.add (call $bump) (i32.load8_u $b (i32.const 0)))
            (i32.add (global.get $ga)
              (call_indirect $ta (type $t) (i32.const 0) (i32.const 1))))))
      (core instance $u (instantiate $use
        (with "a" (instance $o1)) (with "b" (instance $o2)) (with "env" (instance $env))))
      (func (export "run") (result u32) (canon lift (core func $u "run")))
      (func (export "peek") (result u32) (canon lift (core func $o2 "bump"))))"""
    results, log = assert_same(wat, ["run", "run", "peek"])
    assert log == [100, 100, ord("m")]
    assert results[0] == 110 + 110 + 42 + 65


def test_fused_memory_and_table_lent_to_an_imported_module() -> None:
    """The imported module instance imports the fused code's memory, table and a lowered host
    function: it is instantiated after the fused module, and the start functions after it in
    the original run after it (their segments too), in the original order."""
    wat = f"""(component {HOST_TYPES}
      (core module $a
        (import "env" "log" (func $log (param i32)))
        (memory (export "mem") 1)
        (table (export "tbl") 1 funcref)
        (func $seven (result i32) (i32.const 7))
        (elem (i32.const 0) func $seven)
        (data (i32.const 0) "\\05")
        (func $start (call $log (i32.const 1)))
        (start $start))
      (core instance $a (instantiate $a (with "env" (instance $env))))
      (core instance $b (instantiate (module $host "borrower")
        (with "" (instance (export "mem" (memory $a "mem")) (export "tbl" (table $a "tbl"))
                           (export "log" (func $log))))))
      (core module $c
        (import "env" "log" (func $log (param i32)))
        (import "a" "mem" (memory 1))
        (data (i32.const 0) "\\06")
        (func $start (call $log (i32.add (i32.const 300) (i32.load8_u (i32.const 1)))))
        (start $start)
        (func (export "first") (result i32) (i32.load8_u (i32.const 0))))
      (core instance $c (instantiate $c (with "env" (instance $env)) (with "a" (instance $a))))
      (func (export "first") (result u32) (canon lift (core func $c "first")))
      (func (export "second") (result u32) (canon lift (core func $b "second"))))"""
    results, log = assert_same(wat, ["first", "second"])
    assert log == [1, 205, 7, 309]
    assert results == [6, 9]


def test_function_cycle_through_a_shim() -> None:
    """The imported module's instance imports a fused function and the fused code calls its
    function (also from a start function after it): the fused module calls it through a shim
    filled right after the instance is made."""
    wat = f"""(component {HOST_TYPES}
      (core module $a
        (import "env" "log" (func $log (param i32)))
        (func (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
        (func $start (call $log (i32.const 1)))
        (start $start))
      (core instance $a (instantiate $a (with "env" (instance $env))))
      (core instance $l (instantiate (module $host "lender") (with "" (instance $a))))
      (core module $c
        (import "env" "log" (func $log (param i32)))
        (import "l" "quad" (func $quad (param i32) (result i32)))
        (func $start (call $log (call $quad (i32.const 3))))
        (start $start)
        (func (export "run") (result i32) (call $quad (i32.const 5))))
      (core instance $c (instantiate $c (with "env" (instance $env)) (with "l" (instance $l))))
      (func (export "run") (result u32) (canon lift (core func $c "run"))))"""
    results, log = assert_same(wat, ["run"])
    assert (results, log) == ([20], [1, 12])


def test_cycle_refused_by_name() -> None:
    """An imported module's instance that needs the fused code while the fused code imports
    its memory cannot be instantiated before nor after the fused module."""
    wat = f"""(component {HOST_TYPES}
      (core module $a (func (export "double") (param i32) (result i32) (local.get 0)))
      (core instance $a (instantiate $a))
      (core instance $l (instantiate (module $host "lender") (with "" (instance $a))))
      (core module $c (import "l" "mem" (memory 1)))
      (core instance $c (instantiate $c (with "l" (instance $l)))))"""
    with pytest.raises(UnsupportedFeature) as e:
        fuse(wat)
    msg = str(e.value)
    assert "imported core module instance root/core2" in msg and "need each other" in msg
    assert "root/core3 uses its export `mem`" in msg
    assert "`` `double` is a func of root/core1" in msg


def test_start_before_an_early_instance_refused_by_name() -> None:
    """The fused code imports from an instance made after a start function ran: moving that
    instance before the fused module would reorder the start's host call and its start."""
    wat = f"""(component {HOST_TYPES}
      (core module $a
        (import "env" "log" (func $log (param i32)))
        (func $start (call $log (i32.const 1)))
        (start $start))
      (core instance $a (instantiate $a (with "env" (instance $env))))
      (core instance $o (instantiate (module $host "owner") (with "env" (instance $env))))
      (core module $c (import "o" "bump" (func (result i32))))
      (core instance $c (instantiate $c (with "o" (instance $o)))))"""
    with pytest.raises(UnsupportedFeature, match=r"root/core1 has a start function.*root/core3"):
        fuse(wat)


def test_early_instance_after_silent_instances() -> None:
    """Module instances whose instantiation does nothing observable (segments provably in
    bounds, no start) may be instantiated after an instance the fused code imports from."""
    wat = f"""(component {HOST_TYPES}
      (core module $a
        (memory (export "mem") 1)
        (table 2 funcref)
        (func $z (result i32) (i32.const 0))
        (elem (i32.const 1) func $z)
        (data (i32.const 65535) "z")
        (func (export "last") (result i32) (i32.load8_u (i32.const 65535))))
      (core instance $a (instantiate $a))
      (core instance $o (instantiate (module $host "owner") (with "env" (instance $env))))
      (core module $c
        (import "o" "bump" (func $bump (result i32)))
        (import "env" "log" (func $log (param i32)))
        (func $start (call $log (call $bump)))
        (start $start))
      (core instance $c (instantiate $c (with "o" (instance $o)) (with "env" (instance $env))))
      (func (export "last") (result u32) (canon lift (core func $a "last"))))"""
    results, log = assert_same(wat, ["last"])
    assert (results, log) == ([ord("z")], [100, ord("m") + 1])


@pytest.mark.parametrize(
    ("segment", "why"),
    [
        ('(data (i32.const 65535) "zz")', "active data segment 0, which may be out of bounds"),
        ("(elem (i32.const 2) func $z)", "active element segment 0, which may be out of bounds"),
    ],
)
def test_early_instance_after_a_segment_that_may_trap_refused(segment: str, why: str) -> None:
    wat = f"""(component {HOST_TYPES}
      (core module $a (memory 1) (table 2 funcref) (func $z) {segment})
      (core instance $a (instantiate $a))
      (core instance $o (instantiate (module $host "owner") (with "env" (instance $env))))
      (core module $c (import "o" "bump" (func (result i32))))
      (core instance $c (instantiate $c (with "o" (instance $o)))))"""
    with pytest.raises(UnsupportedFeature, match=rf"root/core1 has {why}.*root/core2"):
        fuse(wat)


def test_late_instance_before_an_early_one_refused() -> None:
    """An instance that imports fused code comes after the fused module; one the fused code
    imports from comes before it: the original made them the other way round."""
    wat = f"""(component {HOST_TYPES}
      (core module $a (memory (export "mem") 1) (table (export "tbl") 1 funcref))
      (core instance $a (instantiate $a))
      (core instance $b (instantiate (module $host "borrower")
        (with "" (instance (export "mem" (memory $a "mem")) (export "tbl" (table $a "tbl"))
                           (export "log" (func $log))))))
      (core instance $o (instantiate (module $host "owner") (with "env" (instance $env))))
      (core module $c (import "o" "bump" (func (result i32))))
      (core instance $c (instantiate $c (with "o" (instance $o)))))"""
    with pytest.raises(
        UnsupportedFeature,
        match=r"root/core3 imports a memory of root/core1.*"
        r"precedes root/core4",
    ):
        fuse(wat)


def test_realloc_of_an_imported_module_calling_out_refused() -> None:
    """wasmtime traps when a realloc calls out of its component instance; an imported module's
    realloc calling a host function lowered for it directly would not: refused by name."""
    wat = f"""(component {HOST_TYPES}
      (core instance $o (instantiate (module $host "owner") (with "env" (instance $env))))
      (func (export "len") (param "s" string) (result u32)
        (canon lift (core func $o "takes") (memory (core memory $o "mem"))
          (realloc (core func $o "realloc")))))"""
    data = wat_to_wasm(wat)
    results, log = run(data, ["len"], "abc")
    assert results[0].startswith("trap:") and log == [100]  # the original traps
    with pytest.raises(UnsupportedFeature, match=r"root/core1 calls host function `env` `log`"):
        pymeld.fuse_bytes(data, options=pymeld.FuseOptions(component=True))


def test_cli_inspect_and_stats(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`inspect` (text, JSON, DOT) reads such a composition and its fused output; `--stats`
    counts the module instances that were fused, not the imported module's instances."""
    wat = f"""(component {HOST_TYPES}
      (core instance $o (instantiate (module $host "owner") (with "env" (instance $env))))
      (core module $m (import "o" "bump" (func (result i32))) (memory (export "mem") 1))
      (core instance $m (instantiate $m (with "o" (instance $o))))
      (core instance (instantiate (module $host "borrower")
        (with "" (instance (export "mem" (memory $m "mem")) (export "tbl" (table $o "tbl"))
                           (export "log" (func $log)))))))"""
    src, out = tmp_path / "in.wasm", tmp_path / "out.wasm"
    src.write_bytes(wat_to_wasm(wat))
    for args in ([], ["--json"], ["--graph", "dot"], ["--graph", "dot", "--collapse"]):
        code, text, err = run_cli(capsys, "inspect", str(src), *args)
        assert code == 0 and text and not err
        if args == ["--graph", "dot"]:  # both instances drawn, with what they import
            assert text.count("shape=box3d") == 2
            assert "f0 -> m0" in text and "m0 -> f1" in text and "f0 -> f1" in text
    code, text, err = run_cli(
        capsys, "fuse", str(src), "--component", "--stats-json", "-", "-o", str(out)
    )
    assert code == 0, err
    stats = json.loads(text)
    assert stats["module_instances"] == 1 and stats["host_imports"] == 1
    code, text, err = run_cli(capsys, "inspect", str(out))
    assert code == 0 and "attestation" in text
    code, _, err = run_cli(capsys, "fuse", str(src), "-o", str(tmp_path / "core.wasm"))
    assert code == 1 and "--component" in err and "host/owner" in err


def test_core_output_refused() -> None:
    data = wat_to_wasm(
        f"""(component {HOST_TYPES}
          (core instance (instantiate (module $host "owner") (with "env" (instance $env)))))"""
    )
    with pytest.raises(UnsupportedFeature, match=r"--component"):
        pymeld.fuse_bytes(data)
    assert pymeld.fuse_bytes(data, options=pymeld.FuseOptions(component=True)).output
