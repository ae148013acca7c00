"""Adapters inlined at their call sites (`pymeld.merge.inline_adapters`).

`wast_inline/` compositions run through the differential oracle (original vs fused, both
under wasmtime): loops, several call sites, the adapters' traps, strings with reallocs and a
post-return, an adapter a table holds. The tests below check that inlining did happen there
and on benchmarks/cases/variant-mix.wat (no call of the adapter left, its body dropped), that
what must keep its body keeps it, that callers with DWARF are left alone, and that
``--no-inline-adapters`` turns it all off and is recorded in the attestation.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pymeld.codec.core.instructions import const_expr_funcs, read_u, scan_instructions, scan_uses
from pymeld.codec.core.model import ExternKind, Module
from pymeld.emit.attestation import find_attestations
from pymeld.fuse import FuseOptions, fuse_bytes
from pymeld.merge.inline_adapters import DROPPED
from support import (
    call_bench_run,
    json_from_wast,
    pymeld_exe,
    require_wasm_tools,
    run_fuse_oracle,
    wat_to_wasm,
)

pytest.importorskip("wasmtime")

HERE = Path(__file__).parent
CASES = sorted((HERE / "wast_inline").glob("*.wast"))
VARIANT_MIX = HERE.parents[1] / "benchmarks" / "cases" / "variant-mix.wat"


@pytest.mark.parametrize("wast", CASES, ids=[p.name for p in CASES])
def test_inlined_adapters_agree_with_wasmtime(
    wast: Path, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    r = run_fuse_oracle(oracle_py, pymeld, wast, tmp_path)
    assert r["status"] == "equivalent", r


def _wast_component(tmp_path: Path) -> bytes:
    assert json_from_wast(
        require_wasm_tools(), HERE / "wast_inline" / "inlined-adapters.wast", tmp_path
    )
    (wasm,) = sorted(tmp_path.glob("*.wasm"))
    return wasm.read_bytes()


def _calls(m: Module) -> dict[int, int]:
    """Per function index, how many bodies call it."""
    count: dict[int, int] = {}
    for code in m.codes:
        for f in scan_uses(code.body).funcs:
            count[f] = count.get(f, 0) + 1
    return count


def _merged(data: bytes, inline: bool = True) -> tuple[Module, list[int]]:
    """The fused module (before encoding) and its adapters' function indices."""
    from pymeld.codec.component.parse import parse_component
    from pymeld.graph.flatten import flatten
    from pymeld.merge.merger import merge

    result = merge(flatten(parse_component(data)), inline_adapters=inline)
    return result.module, sorted(result.adapters.values())


def test_every_adapter_of_the_wast_composition_is_inlined(tmp_path: Path) -> None:
    data = _wast_component(tmp_path)
    result = fuse_bytes(data)
    s = result.stats
    # f (3 call sites), g (1, and a table whose constant slot "g-table" calls: `merge.devirt`
    # makes that a second call), s (2), l (2, and a global); `count` needs none
    assert (s["adapters_inlined"], s["adapter_calls_inlined"], s["adapter_bodies_dropped"]) == (
        4,
        9,
        2,
    )
    assert s["indirect_calls_made_direct"] == 1
    m, adapters = _merged(data)
    imported = m.num_imported(ExternKind.FUNC)
    assert len(adapters) == 4
    calls = _calls(m)
    assert not any(a in calls for a in adapters)  # no body calls an adapter any more
    # the adapters a table and a global hold (call_indirect reaches them) keep their bodies
    (tabled,) = [a for a in adapters if any(a in (e.funcs or ()) for e in m.elems)]
    (named,) = [a for a in adapters if any(const_expr_funcs([g.init]) == {a} for g in m.globals)]
    for a in adapters:
        assert (m.codes[a - imported].body == DROPPED) == (a not in (tabled, named))
    # without inlining the same adapters are called where the inputs call them
    plain, same = _merged(data, inline=False)
    assert same == adapters
    assert all(_calls(plain).get(a) for a in adapters)
    assert fuse_bytes(data).output == result.output  # deterministic


def test_both_call_site_searches_find_the_same_sites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small searches use `bytes.find`, large ones a compiled pattern: the same output."""
    from pymeld.merge import inline_adapters as ia

    data = _wast_component(tmp_path)
    found = fuse_bytes(data)
    monkeypatch.setattr(ia, "FIND_BYTES", 0)
    pattern = fuse_bytes(data)
    assert pattern.stats["adapter_calls_inlined"] == found.stats["adapter_calls_inlined"] == 9
    assert pattern.output == found.output


def test_variant_mix_adapter_is_inlined_and_behaves_the_same() -> None:
    original = wat_to_wasm(VARIANT_MIX.read_text())
    result = fuse_bytes(original)
    s = result.stats
    assert (s["adapters_inlined"], s["adapter_calls_inlined"], s["adapter_bodies_dropped"]) == (
        1,
        1,
        1,
    )
    m, (adapter,) = _merged(original)
    assert m.codes[adapter - m.num_imported(ExternKind.FUNC)].body == DROPPED == b"\x00\x0b"
    assert adapter not in _calls(m)
    fused = fuse_bytes(original, options=FuseOptions(component=True)).output
    for n in (0, 1, 2, 3, 10, 1000):
        assert call_bench_run(fused, n) == call_bench_run(original, n)


def test_a_caller_with_dwarf_is_not_inlined_into() -> None:
    """`dwarf.remap` maps the caller's code offsets: inlining would shift them."""
    text = VARIANT_MIX.read_text()
    marker = '(func (export "run") (param $n i32)'
    assert text.count(marker) == 1
    text = text.replace(marker, '(@custom ".debug_str" "run") ' + marker)
    original = wat_to_wasm(text)
    result = fuse_bytes(original)
    assert result.stats["adapters_inlined"] == 0
    m, (adapter,) = _merged(original)
    assert _calls(m).get(adapter) == 1
    assert m.codes[adapter - m.num_imported(ExternKind.FUNC)].body != DROPPED


def test_cli_flag_stats_and_attestation(tmp_path: Path) -> None:
    src = tmp_path / "vm.wasm"
    src.write_bytes(wat_to_wasm(VARIANT_MIX.read_text()))
    outs = {}
    for flag in ("--inline-adapters", "--no-inline-adapters"):
        out = tmp_path / f"{flag}.wasm"
        r = subprocess.run(
            [*pymeld_exe(), "fuse", str(src), "--component", flag, "-o", str(out), "--stats"],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        outs[flag] = (out.read_bytes(), r.stdout + r.stderr)
    (att,) = find_attestations(outs["--no-inline-adapters"][0])
    assert att.record is not None and att.record["options"]["inline_adapters"] is False
    (att,) = find_attestations(outs["--inline-adapters"][0])
    assert att.record is not None and "inline_adapters" not in att.record["options"]
    assert "adapters inlined" in outs["--inline-adapters"][1]
    for n in (0, 5, 300):
        assert call_bench_run(outs["--inline-adapters"][0], n) == call_bench_run(
            outs["--no-inline-adapters"][0], n
        )


SHIM_WAST = HERE / "wast_inline" / "shim-devirt.wast"


def _shim_components(tmp_path: Path) -> list[bytes]:
    """The components of shim-devirt.wast in file order: $Shim, $Swapped, $Twice, $Mismatch,
    $Started, and the one whose start function calls through the shim."""
    assert json_from_wast(require_wasm_tools(), SHIM_WAST, tmp_path)
    files = sorted(tmp_path.glob("*.wasm"), key=lambda p: int(p.stem.rsplit(".", 1)[-1]))
    return [p.read_bytes() for p in files]


def _indirect_calls(m: Module) -> int:
    """How many `call_indirect` instructions ``m``'s code holds."""
    n = 0

    def count(data: bytes, at: int, pos: int) -> int:
        nonlocal n
        n += 1
        return read_u(data, read_u(data, pos)[1])[1]

    for c in m.codes:
        scan_instructions(c.body, {(-1, 0x11): count})
    return n


def test_shim_calls_are_made_direct_and_their_adapters_inlined(tmp_path: Path) -> None:
    """$Shim: all three shim functions call their import directly; `s` (a string: an
    adapter) is inlined into its shim function; `f` and `h` need no adapter at all."""
    shim = _shim_components(tmp_path)[0]
    s = fuse_bytes(shim).stats
    assert s["indirect_calls_made_direct"] == 3
    assert (s["adapters_inlined"], s["adapter_calls_inlined"], s["adapter_bodies_dropped"]) == (
        1,
        1,
        0,  # the fixup's element segment still names it
    )
    m, (adapter,) = _merged(shim)
    assert _indirect_calls(m) == 0 and adapter not in _calls(m)
    plain, _ = _merged(shim, inline=False)  # --no-inline-adapters: the shim as it was
    assert _indirect_calls(plain) == 3
    assert (
        "indirect_calls_made_direct"
        not in fuse_bytes(shim, options=FuseOptions(inline_adapters=False)).stats
    )


def test_shim_calls_that_must_stay_indirect(tmp_path: Path) -> None:
    """$Swapped: code writes the table (all three stay); $Twice: slot 1 is filled twice and
    $Mismatch: slot 1 holds a function of another type (its call stays); $Started: the start
    code fills the table after main's start function, over the shim's placeholders in slots
    0 and 1 (filled twice: those stay); the trapping one: main's start function calls shim
    function 0 before the start code fills the table (that function makes an indirect call,
    so what runs before the fill is unknown: all stay)."""
    _, swapped, twice, mismatch, started, early = _shim_components(tmp_path)
    for data, direct in ((swapped, 0), (twice, 2), (mismatch, 2), (started, 1), (early, 0)):
        assert fuse_bytes(data).stats["indirect_calls_made_direct"] == direct
        m, _ = _merged(data)
        assert _indirect_calls(m) == 3 - direct
