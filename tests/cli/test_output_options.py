"""`pymeld fuse` output options: each test fails if its flag did nothing.

--preserve-names, producers/target_features merging, the DWARF and unknown-custom-section
policy (--keep-dwarf), the attestation (--no-attestation, `inspect` verification), --validate,
--stats-json, and byte-for-byte determinism across runs and hash seeds.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pymeld import __version__
from pymeld.api import core_module_sections
from pymeld.codec.component import encode_component, parse_component
from pymeld.codec.core import parse_module
from pymeld.codec.core.model import CustomSection, Module
from pymeld.emit.attestation import SECTION, code_sha256, find_attestations, section_bytes
from pymeld.emit.customs import (
    decode_producers,
    decode_target_features,
    encode_producers,
    merge_producers,
)
from pymeld.emit.names import decode_names
from pymeld.errors import PymeldError
from pymeld.fuse import FuseOptions, fuse_bytes
from support import run_cli

CALC = "repo-prebuilt/calculator.composed.wasm"


run = run_cli


@pytest.fixture(scope="module")
def calc(corpus_components: Path) -> bytes:
    return (corpus_components / CALC).read_bytes()


def fused_core(data: bytes, **opts: bool) -> Module:
    return parse_module(fuse_bytes(data, file="in.wasm", options=FuseOptions(**opts)).output)


def customs(m: Module, name: str) -> list[CustomSection]:
    return [c for c in m.customs if c.name == name]


def input_customs(data: bytes, name: str) -> list[bytes]:
    return [
        bytes(c.data)
        for s in core_module_sections(parse_component(data))
        for c in s.module.customs
        if c.name == name
    ]


def with_extra_customs(data: bytes, extra: list[tuple[str, bytes]]) -> bytes:
    """``data`` with custom sections added to its first core module."""
    c = parse_component(data)
    section = next(core_module_sections(c))
    m = section.module
    m.customs.extend(CustomSection(n, d, after=11) for n, d in extra)
    section.replace(m)
    return encode_component(c)


# -- names ---------------------------------------------------------------------------------------
def test_preserve_names_merges_and_remaps(calc: bytes) -> None:
    m = fused_core(calc, preserve_names=True)
    (sec,) = customs(m, "name")
    names = decode_names(bytes(sec.data))
    funcs = names.funcs
    assert sorted(funcs) == list(range(m.num_funcs()))  # every function named, once
    add = [i for i, n in funcs.items() if n == "root/instance0/core0::docs:adder/add@0.1.0#add"]
    assert len(add) == 1
    # the remapped index is right: `add(u32, u32) -> u32` needs no adapter, so the
    # calculator's code calls it directly (call = 0x10 <idx>)
    assert not [n for n in funcs.values() if n.startswith("adapter:")]
    calc_funcs = [i for i, n in funcs.items() if n.startswith("root/instance2/core1::")]
    bodies = [m.codes[i - m.num_imported(0)].body for i in calc_funcs]
    assert any(bytes([0x10, add[0]]) in body for body in bodies)
    # both instances' copies of the same symbol are kept apart by provenance
    assert "root/instance0/core0::malloc" in funcs.values()
    assert "root/instance2/core1::malloc" in funcs.values()
    src = decode_names(input_customs(calc, "name")[0])
    assert any(funcs[i].endswith("::" + n) for i in funcs for n in src.funcs.values())


def test_no_name_section_without_flag(calc: bytes) -> None:
    m = fused_core(calc)
    assert customs(m, "name") == []
    stats = fuse_bytes(calc).stats
    assert "name" in str(stats["custom_sections_dropped"])


def test_named_output_is_valid_for_wasm_tools(calc: bytes, tmp_path: Path, wasm_tools: str) -> None:
    out = tmp_path / "named.wasm"
    out.write_bytes(fuse_bytes(calc, options=FuseOptions(preserve_names=True)).output)
    text = subprocess.run(
        [wasm_tools, "print", str(out)], check=True, capture_output=True, text=True
    ).stdout
    assert "$root/instance2/core1::docs:calculator/calculate@0.1.0#eval-expression" in text


# -- producers, target_features, DWARF, other sections ---------------------------------------------
def test_producers_merged_with_pymeld(calc: bytes) -> None:
    (sec,) = customs(fused_core(calc), "producers")
    merged = decode_producers(bytes(sec.data))
    assert ("pymeld", __version__) in merged["processed-by"]
    for data in input_customs(calc, "producers"):
        for field_name, values in decode_producers(data).items():
            assert {n for n, _ in values} <= {n for n, _ in merged[field_name]}
    for values in merged.values():
        assert len(values) == len({n for n, _ in values})  # one version per name


def test_producers_one_version_per_name() -> None:
    """LLVM's readers reject a repeated producer name: the last version seen wins."""
    a = encode_producers({"processed-by": [("wit-component", "0.1"), ("clang", "18")]})
    b = encode_producers({"processed-by": [("wit-component", "0.2")], "language": [("C11", "")]})
    assert merge_producers([a, b]) == {
        "processed-by": [("wit-component", "0.2"), ("clang", "18"), ("pymeld", __version__)],
        "language": [("C11", "")],
    }


def test_target_features_union(calc: bytes) -> None:
    (sec,) = customs(fused_core(calc), "target_features")
    merged = {n for _, n in decode_target_features(bytes(sec.data))}
    inputs = {
        n for d in input_customs(calc, "target_features") for _, n in decode_target_features(d)
    }
    assert merged == inputs and merged


def test_dwarf_policies(example_wasm: Path) -> None:
    """Malformed DWARF: remap (default) drops it and says why, strip drops it, --keep-dwarf
    (passthrough) copies it verbatim. Real DWARF is remapped in tests/test_dwarf.py."""
    data = with_extra_customs(
        example_wasm.read_bytes(), [(".debug_info", b"\x01\x02"), (".debug_line", b"\x03")]
    )
    for options in (FuseOptions(), FuseOptions(dwarf="strip")):
        result = fuse_bytes(data, options=options)
        assert not [c for c in parse_module(result.output).customs if c.name.startswith(".debug")]
    remapped = fuse_bytes(data).stats
    assert "unexpected end" in str(remapped["dwarf_instances_dropped"])
    assert str(remapped["dwarf"]).startswith("remap: 0 module instance")
    assert "strip" in str(fuse_bytes(data, options=FuseOptions(dwarf="strip")).stats["dwarf"])
    kept = parse_module(fuse_bytes(data, options=FuseOptions(keep_dwarf=True)).output)
    assert [(c.name, bytes(c.data)) for c in kept.customs if c.name.startswith(".debug")] == [
        (".debug_info", b"\x01\x02"),
        (".debug_line", b"\x03"),
    ]


def test_dwarf_policy_changes_nothing_without_dwarf(calc: bytes) -> None:
    """No DWARF in the inputs: every policy gives the same bytes, and none is recorded."""
    outs = {
        fuse_bytes(calc, options=FuseOptions(dwarf=p)).output
        for p in ("remap", "strip", "passthrough")
    }
    assert len(outs) == 1
    (att,) = find_attestations(outs.pop())
    assert att.record is not None and "dwarf" not in att.record["options"]


def test_unknown_custom_sections_dropped_and_reported(example_wasm: Path) -> None:
    data = with_extra_customs(example_wasm.read_bytes(), [("linking", b"\x02"), ("acme", b"x")])
    result = fuse_bytes(data)
    names = [c.name for c in parse_module(result.output).customs]
    assert "linking" not in names and "acme" not in names
    assert "acme (1)" in str(result.stats["custom_sections_dropped"])


# -- attestation ----------------------------------------------------------------------------------
def test_attestation_record(calc: bytes) -> None:
    out = fuse_bytes(calc, file="/some/dir/calc.wasm").output
    (att,) = find_attestations(out)
    assert att.ok and att.record is not None
    rec = att.record
    assert rec["tool"] == {"name": "pymeld", "version": __version__}
    assert rec["inputs"] == [
        {"name": "calc.wasm", "sha256": hashlib.sha256(calc).hexdigest(), "size": len(calc)}
    ]
    assert rec["options"]["preserve_names"] is False and rec["options"]["component"] is False
    assert "root/instance2" in rec["components"]
    assert "timestamp" not in json.dumps(rec)
    # the hash is of the module without the attestation section, which pymeld appends last
    m = parse_module(out)
    assert m.customs[-1].name == SECTION
    tail = section_bytes(m.customs[-1])
    assert out.endswith(tail)
    assert rec["output"]["code_sha256"] == hashlib.sha256(out[: -len(tail)]).hexdigest()
    assert code_sha256(out) == rec["output"]["code_sha256"]


def test_no_attestation(calc: bytes) -> None:
    assert customs(fused_core(calc, attestation=False), SECTION) == []
    assert find_attestations(fuse_bytes(calc, options=FuseOptions(attestation=False)).output) == []


def test_component_attestation_in_embedded_module(calc: bytes) -> None:
    out = fuse_bytes(calc, options=FuseOptions(component=True)).output
    (att,) = find_attestations(out)
    assert att.ok and "component" in att.where
    assert att.record is not None and att.record["options"]["component"] is True


def test_inspect_verifies_attestation(
    calc: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for component in (False, True):
        f = tmp_path / f"fused{component}.wasm"
        f.write_bytes(fuse_bytes(calc, options=FuseOptions(component=component)).output)
        code, out, err = run(capsys, "inspect", str(f))
        assert code == 0, err
        assert "code hash VERIFIED" in out and hashlib.sha256(calc).hexdigest() in out
        # tamper with the code: flip one byte of the first function body
        data = bytearray(f.read_bytes())
        pos = data.find(b"\x20\x01\x20\x00\x6a")  # local.get 1; local.get 0; i32.add
        assert pos > 0
        data[pos + 4] = 0x6B  # i32.sub
        f.write_bytes(bytes(data))
        code, out, err = run(capsys, "inspect", str(f))
        assert code == 1 and "MISMATCH" in out and "attestation does not match" in err


# -- validate ---------------------------------------------------------------------------------------
def _corrupting_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make merge emit an invalid module: a function whose result is missing."""
    import pymeld.fuse as fuse_mod

    real = fuse_mod.merge

    def bad(graph, **kw):  # type: ignore[no-untyped-def]
        result = real(graph, **kw)
        for code in result.module.codes:
            code.body = b"\x0b"
        return result

    monkeypatch.setattr(fuse_mod, "merge", bad)


def test_validate_rejects_invalid_output(calc: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wasmtime")
    _corrupting_merge(monkeypatch)
    fuse_bytes(calc)  # without --validate the broken module goes through
    for component in (False, True):
        with pytest.raises(PymeldError, match=r"^validation: the fused .* is invalid"):
            fuse_bytes(calc, options=FuseOptions(validate=True, component=component))


def test_validate_accepts_good_output(
    calc: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("wasmtime")
    code, _, err = run(
        capsys,
        "fuse",
        str(_write(tmp_path, calc)),
        "-o",
        str(tmp_path / "o.wasm"),
        "--validate",
        "--stats",
    )
    assert code == 0 and "validate" in err


def test_validate_without_wasmtime(calc: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wasmtime", None)  # import wasmtime -> ImportError
    with pytest.raises(PymeldError, match=r"needs wasmtime.*pymeld\[verify\]"):
        fuse_bytes(calc, options=FuseOptions(validate=True))


def _write(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / "in.wasm"
    p.write_bytes(data)
    return p


# -- stats json -----------------------------------------------------------------------------------
def test_stats_json_file_and_stdout(
    calc: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(tmp_path, calc)
    code, out, _ = run(
        capsys,
        "fuse",
        str(src),
        "-o",
        str(tmp_path / "a.wasm"),
        "--stats-json",
        str(tmp_path / "s.json"),
    )
    assert code == 0 and out == ""
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["adapters"] == 1 and stats["bytes_in"] == len(calc)
    assert stats["bytes_out"] == (tmp_path / "a.wasm").stat().st_size
    assert set(stats["times"]) >= {"parse", "flatten", "merge", "encode"}
    code, out, _ = run(
        capsys, "fuse", str(src), "-o", str(tmp_path / "b.wasm"), "--stats-json", "-"
    )
    assert code == 0 and json.loads(out)["components"] == stats["components"]


# -- determinism ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "flags", [[], ["--component", "--preserve-names"]], ids=["core", "component-names"]
)
def test_deterministic_across_runs_and_hash_seeds(
    corpus_components: Path, tmp_path: Path, pymeld: list[str], flags: list[str]
) -> None:
    outputs = []
    for seed in ("0", "1", "12345"):
        out = tmp_path / f"out{seed}.wasm"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [*pymeld, "fuse", str(corpus_components / CALC), "-o", str(out), *flags],
            check=True,
            env=env,
            cwd=tmp_path,
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
