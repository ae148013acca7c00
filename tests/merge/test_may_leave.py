"""Which reallocs need a may-leave guard: only those that can reach a call out of their
instance (`merge.leave.may_call_out`); the others cost nothing at each call."""

from __future__ import annotations

from pathlib import Path

import pytest

from pymeld.codec.component.parse import parse_component
from pymeld.graph.flatten import flatten
from pymeld.graph.model import DefRef, Lifted
from pymeld.merge.leave import may_call_out
from pymeld.merge.merger import Merger
from support import wat_to_wasm


def _lifts(inst: str, exports: dict[str, str]) -> str:
    """Exports taking a string, each lowered into ``inst``'s memory by the realloc named."""
    return "\n".join(
        f'  (func (export "{name}") (param "s" string) (result u32)\n'
        f'    (canon lift (core func ${inst} "take") (memory (core memory ${inst} "mem"))'
        f' (realloc (core func ${inst} "{realloc}"))))'
        for name, realloc in exports.items()
    )


_CALLEE = (
    """
(component
  (import "ping" (func $ping))
  (core func $ping (canon lower (func $ping)))
  (core module $helper
    (import "" "ping" (func $ping))
    (func (export "via") (call $ping)))
  (core instance $h (instantiate $helper (with "" (instance (export "ping" (func $ping))))))
  (core module $m
    (import "" "ping" (func $ping))
    (import "" "via" (func $via))
    (memory (export "mem") 1)
    (table 1 funcref)
    (type $t (func))
    (global $top (mut i32) (i32.const 64))
    (func $bump (result i32) (global.get $top))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (call $bump))
    (func (export "realloc-ping") (param i32 i32 i32 i32) (result i32) (call $ping) (i32.const 8))
    (func $deep (call $ping))
    (func (export "realloc-deep") (param i32 i32 i32 i32) (result i32) (call $deep) (i32.const 8))
    (func (export "realloc-via") (param i32 i32 i32 i32) (result i32) (call $via) (i32.const 8))
    (func (export "realloc-indirect") (param i32 i32 i32 i32) (result i32)
      (call_indirect (type $t) (i32.const 0)) (i32.const 8))
    (func (export "take") (param i32 i32) (result i32) (local.get 1)))
  (core module $shim
    (table (export "t") 3 funcref)
    (type $t (func))
    (func (export "slot1") (call_indirect (type $t) (i32.const 1)))
    (func (export "slot2") (call_indirect (type $t) (i32.const 2)))
    (func (export "computed") (param i32) (call_indirect (type $t) (local.get 0))))
  (core instance $s (instantiate $shim))
  (core module $fixup
    (import "" "t" (table 3 funcref))
    (import "" "ping" (func $ping))
    (func $quiet)
    (elem (i32.const 0) func $quiet $ping))
  (core instance (instantiate $fixup
    (with "" (instance (export "t" (table $s "t")) (export "ping" (func $ping))))))
  (core module $changer
    (import "" "t" (table 3 funcref))
    (func (export "set") (table.set (i32.const 2) (ref.func $f)))
    (func $f)
    (elem declare func $f))
  ;; CHANGER
  (core module $user
    (import "" "slot1" (func $slot1))
    (import "" "slot2" (func $slot2))
    (import "" "computed" (func $computed (param i32)))
    (memory (export "mem") 1)
    (table 1 funcref)
    (type $t (func))
    (func (export "realloc-slot") (param i32 i32 i32 i32) (result i32) (call $slot1) (i32.const 8))
    (func (export "realloc-null") (param i32 i32 i32 i32) (result i32) (call $slot2) (i32.const 8))
    (func (export "realloc-computed") (param i32 i32 i32 i32) (result i32)
      (call $computed (i32.const 0)) (i32.const 8))
    (func (export "realloc-own-null") (param i32 i32 i32 i32) (result i32)
      (call_indirect (type $t) (i32.const 0)) (i32.const 8))
    (func (export "take") (param i32 i32) (result i32) (local.get 1)))
  (core instance $u (instantiate $user
    (with "" (instance (export "slot1" (func $s "slot1")) (export "slot2" (func $s "slot2"))
      (export "computed" (func $s "computed"))))))
"""
    + _lifts(
        "u",
        {
            "slot": "realloc-slot",
            "null": "realloc-null",
            "computed": "realloc-computed",
            "own-null": "realloc-own-null",
        },
    )
    + """
  (core instance $i (instantiate $m
    (with "" (instance (export "ping" (func $ping)) (export "via" (func $h "via"))))))
"""
    + _lifts(
        "i",
        {
            "bump": "realloc",
            "ping": "realloc-ping",
            "deep": "realloc-deep",
            "via": "realloc-via",
            "indirect": "realloc-indirect",
        },
    )
    + ")\n"
)


@pytest.mark.parametrize(
    ("export", "calls_out"),
    [
        ("bump", False),
        ("ping", True),
        ("deep", True),
        ("via", True),
        ("indirect", False),  # its table's slot 0 is null: the call traps
        ("slot", True),  # a shim's constant slot, filled with $ping by another instance
        ("null", False),  # a slot no segment fills
        ("computed", True),  # a computed slot may be any
        ("own-null", False),
    ],
)
def test_may_call_out(export: str, calls_out: bool) -> None:
    graph = flatten(parse_component(wat_to_wasm(_CALLEE)))
    lifted = dict(graph.exports)[export]
    assert isinstance(lifted, Lifted) and isinstance(lifted.opts.realloc, DefRef)
    assert may_call_out(graph, lifted.opts.realloc) is calls_out


def test_a_changed_table_is_unknown() -> None:
    """A `table.set` on the shim's table, in any instance that imports it, makes every slot
    unknown, whatever the element segments put there."""
    src = _CALLEE.replace(
        ";; CHANGER",
        '(core instance (instantiate $changer (with "" (instance (export "t" (table $s "t"))))))',
    )
    graph = flatten(parse_component(wat_to_wasm(src)))
    lifted = dict(graph.exports)["null"]
    assert isinstance(lifted, Lifted) and isinstance(lifted.opts.realloc, DefRef)
    assert may_call_out(graph, lifted.opts.realloc) is True


@pytest.mark.parametrize(
    ("name", "checks"),
    [
        # each one's WASI adapter (`cabi_import_realloc`) reaches stderr through the shim's
        # table and two resource drops: only those are checked (was every host import)
        ("repo-prebuilt/jco-utf8-utf16.composed.wasm", 4),  # was 33
        ("repo-prebuilt/jco-env-allow.composed.wasm", 4),  # was 17
        ("c-compose-text/composed.wasm", 4),  # was 24
        ("repo-prebuilt/jco-stdio.composed.wasm", 0),  # was 1: its realloc calls an adapter
    ],
)
def test_only_reached_calls_are_checked(corpus_components: Path, name: str, checks: int) -> None:
    """A guarded realloc's reach decides which calls out check the flag; every checked call
    is one the realloc may reach."""
    graph = flatten(parse_component((corpus_components / name).read_bytes()))
    merger = Merger(graph, True)
    merger.run()
    guards = [key for key in merger.leave._by_key if not key[1]]
    assert len(guards) == checks
    for target, _, owner in guards:
        assert merger.leave.checks(owner, target)


def test_rewrite_reuses_the_analysis_scans(
    corpus_components: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bodies the may-leave analysis scanned (c-compose-text: its reallocs reach the
    allocator, half of the code) are not scanned again by the body rewrite: one `patch_sites`
    per distinct body in the whole merge, and the same output as scanning twice."""
    from pymeld.codec.core import instructions as ins
    from pymeld.merge import leave
    from pymeld.merge.merger import merge

    path = corpus_components / "c-compose-text" / "composed.wasm"
    if not path.exists():
        pytest.skip(f"{path} not present")
    graph = flatten(parse_component(path.read_bytes()))
    once = merge(graph).module
    scanned: list[bytes] = []
    real = ins.patch_sites

    def counting(body: bytes) -> list[ins.Patch] | None:
        scanned.append(body)
        return real(body)

    monkeypatch.setattr(ins, "patch_sites", counting)
    monkeypatch.setattr(leave, "patch_sites", counting)
    again = merge(flatten(parse_component(path.read_bytes()))).module
    assert scanned and len(scanned) == len(set(scanned))
    assert [c.body for c in again.codes] == [c.body for c in once.codes]


# A body the fast index scan (`patch_sites`) declines (it holds a SIMD instruction) goes
# through `scan_uses`, which gives the set of tables, not a count of uses.
_SIMD = bytes([0xFD, 0x0C]) + bytes(16) + b"\x1a"  # v128.const 0, drop
_CALL_SLOT_0 = b"\x41\x00\x11\x00\x00"  # i32.const 0, call_indirect (type 0) (table 0)
_TABLE_SET = b"\x41\x00\x41\x00\x25\x00\x26\x00"  # slot 0 := table.get 0 (slot 0)


@pytest.mark.parametrize("simd", [False, True], ids=["fast-scan", "general-walk"])
def test_a_table_written_beside_a_constant_slot_call_may_change(simd: bool) -> None:
    from pymeld.codec.core.instructions import patch_sites
    from pymeld.merge.leave import body_calls

    prefix = _SIMD if simd else b""
    body = prefix + _CALL_SLOT_0 + _TABLE_SET + b"\x0b"
    assert (patch_sites(body) is None) == simd
    calls = body_calls(body)
    assert calls.slots == ((0, 0),)
    assert calls.tables == frozenset({0})  # the slot the call reads may be rewritten
    if not simd:  # counted uses: a table only called through does not change
        assert body_calls(_CALL_SLOT_0 + b"\x0b").tables == frozenset()
