"""DWARF remapping (`--dwarf remap`): a real clang ``-g`` build still maps each instruction to
the same file:line after fusion.

Inputs: tests/data/dwarf (two C components, ``build.sh`` pins how they were built). The oracle
is independent of pymeld's own maps: instructions are paired by position in the function as
``wasm-tools print --print-offsets`` lists them in the original and the fused module (functions
paired by name through ``--preserve-names``), and each side's address is looked up in its own
DWARF, with pyelftools (pure Python, runs everywhere) and with ``llvm-addr2line`` /
``llvm-dwarfdump --verify`` where Debian's llvm package is installed.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pymeld.api import core_module_sections
from pymeld.codec.component.parse import parse_component
from pymeld.codec.core.parse import parse_module
from pymeld.fuse import FuseOptions, fuse_bytes
from support import read_uleb

DATA = Path(__file__).parent.parent / "data" / "dwarf"
COMPOSED = DATA / "composed.wasm"

elftools = pytest.importorskip("elftools", reason="pyelftools (test extra) reads DWARF")
from elftools.dwarf.dwarfinfo import (  # noqa: E402
    DebugSectionDescriptor,
    DwarfConfig,
    DWARFInfo,
)


# -- helpers: wasm sections, DWARF line lookup, instruction offsets ---------------------------------
def sections(wasm: bytes) -> Iterator[tuple[int, str, int, int]]:
    """(id, custom name or "", payload start, payload end) of each section."""
    pos = 8
    while pos < len(wasm):
        sid = wasm[pos]
        size, start = read_uleb(wasm, pos + 1)
        end = start + size
        name = ""
        if sid == 0:
            n, p = read_uleb(wasm, start)
            name = wasm[p : p + n].decode()
            start = p + n
        yield sid, name, start, end
        pos = end


def code_start(wasm: bytes) -> int:
    return next(start for sid, _, start, _ in sections(wasm) if sid == 10)


def dwarf_sections(wasm: bytes) -> dict[str, bytes]:
    return {n: wasm[s:e] for sid, n, s, e in sections(wasm) if n.startswith(".debug_")}


class Lines:
    """Address → (file, line) from the line tables, as a debugger reads them (pyelftools)."""

    def __init__(self, wasm: bytes) -> None:
        secs = dwarf_sections(wasm)

        def desc(name: str) -> DebugSectionDescriptor | None:
            data = secs.get(name)
            if data is None:
                return None
            return DebugSectionDescriptor(io.BytesIO(data), name, None, len(data), 0)

        names = [  # DWARFInfo's section parameters, in order
            *("info", "aranges", "abbrev", "frame", "eh_frame", "str", "loc", "ranges", "line"),
            *("pubtypes", "pubnames", "addr", "str_offsets", "line_str", "loclists"),
            *("rnglists", "sup", "gnu_debugaltlink", "types"),
        ]
        args = [desc(".debug_" + n) for n in names]
        dw = DWARFInfo(DwarfConfig(True, "wasm", 4), *args)
        self.seqs: list[tuple[int, int, list[tuple[int, str, int]]]] = []
        for cu in dw.iter_CUs():
            lp = dw.line_program_for_CU(cu)
            if lp is None:
                continue
            files = lp.header["file_entry"]
            first = 0 if lp.header["version"] >= 5 else 1  # DWARF 5 numbers files from 0
            rows: list[tuple[int, str, int]] = []
            for entry in lp.get_entries():
                s = entry.state
                if s is None:
                    continue
                if s.end_sequence:
                    if rows:
                        self.seqs.append((rows[0][0], s.address, rows))
                    rows = []
                    continue
                fname = files[s.file - first].name.decode()
                rows.append((s.address, fname, s.line))
        self.seqs.sort(key=lambda t: t[0])

    def rows(self) -> int:
        return sum(len(r) for _, _, r in self.seqs)

    def lookup(self, addr: int) -> tuple[str, int] | None:
        for lo, hi, rows in self.seqs:
            if lo <= addr < hi:
                best = None
                for a, f, line in rows:
                    if a <= addr:
                        best = (f, line)
                    else:
                        break
                return best
        return None


_FUNC = re.compile(r'^\(;@([0-9a-f]+)\s*;\)\s+\(func \$("(?:[^"\\]|\\.)*"|\S+)')
_NAME_ANNOTATION = re.compile(r'^[^"]*(?:"[^"]*")?\s*\(@name "((?:[^"\\]|\\.)*)"\)')
_INSN = re.compile(r"^\(;@([0-9a-f]+)\s*;\)\s+(?!\(local|\(param|\(result)(\S+)")


def functions(wasm_tools: str, wasm: bytes, tmp: Path) -> dict[str, list[tuple[int, str]]]:
    """Function name → [(code-relative offset, mnemonic)] of its instructions (wasm-tools)."""
    path = tmp / "m.wasm"
    path.write_bytes(wasm)
    text = subprocess.run(
        [wasm_tools, "print", "--print-offsets", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    base = code_start(wasm)
    out: dict[str, list[tuple[int, str]]] = {}
    current: list[tuple[int, str]] | None = None
    for line in text.splitlines():
        if m := _FUNC.match(line):
            name = m.group(2).strip('"')
            if a := _NAME_ANNOTATION.search(line):  # a repeated name, printed as "#funcN name"
                name = a.group(1)
            while name in out:  # repeated names pair up in order
                name += "'"
            current = out[name] = []
            continue
        if line.startswith(("(;@", "  ")) and current is not None and (m := _INSN.match(line)):
            if m.group(2).startswith("("):
                current = None  # the next module field
                continue
            current.append((int(m.group(1), 16) - base, m.group(2)))
    return out


@dataclass
class Case:
    path: Path
    originals: list[bytes]  # the DWARF-carrying core modules of the composition
    fused: bytes
    stats: dict[str, object]


def load_case(path: Path) -> Case:
    composed = path.read_bytes()
    originals = [
        bytes(s.data)
        for s in core_module_sections(parse_component(composed))
        if any(c.name == ".debug_info" for c in parse_module(bytes(s.data)).customs)
    ]
    res = fuse_bytes(composed, options=FuseOptions(preserve_names=True))
    return Case(path, originals, res.output, res.stats)


@pytest.fixture(scope="module", params=["composed.wasm", "composed-dwarf5.wasm", "twice.wasm"])
def case(request: pytest.FixtureRequest) -> Case:
    """clang's default DWARF 4 for wasm, DWARF 5 (address/string-offset tables, rnglists,
    loclists) of the same sources, and one module instantiated twice (two copies of its
    units, each describing its own code)."""
    return load_case(DATA / request.param)


def _pairs(
    case: Case, wasm_tools: str, tmp: Path
) -> Iterator[tuple[bytes, str, list[tuple[int, int]]]]:
    """Per instance of an original module: (module bytes, instance label,
    [(old address, fused address)])."""
    fused = functions(wasm_tools, case.fused, tmp)
    labels = sorted({name.split("::")[0] for name in fused if "::" in name})
    for orig in case.originals:
        funcs = functions(wasm_tools, orig, tmp)
        for label in [lb for lb in labels if all(f"{lb}::{n}" in fused for n in funcs)]:
            pairs: list[tuple[int, int]] = []
            for name, insns in funcs.items():
                new = fused[f"{label}::{name}"]
                assert [m for _, m in new] == [m for _, m in insns], name  # same instructions
                pairs.extend((a, b) for (a, _), (b, _) in zip(insns, new))
            yield orig, label, pairs


# -- tests -----------------------------------------------------------------------------------------
def test_every_sampled_instruction_keeps_its_line(
    case: Case, wasm_tools: str, tmp_path: Path
) -> None:
    new_lines = Lines(case.fused)
    per_input = []
    instances = list(_pairs(case, wasm_tools, tmp_path))
    for orig, label, pairs in instances:
        old_lines = Lines(orig)
        covered = [(a, b) for a, b in pairs if old_lines.lookup(a) is not None]
        assert len(covered) >= 100, (label, len(covered))
        mismatched = [
            (hex(a), hex(b), old_lines.lookup(a), new_lines.lookup(b))
            for a, b in covered
            if old_lines.lookup(a) != new_lines.lookup(b)
        ]
        assert not mismatched, mismatched[:5]
        per_input.append((label, len(covered)))
    print("sampled and matched per instance:", per_input)
    assert len(per_input) == 2  # two instances with DWARF in each composition
    assert new_lines.rows() == sum(Lines(orig).rows() for orig, _, _ in instances)


def test_wasi_sdk_and_rust_build_keeps_its_lines(
    corpus_components: Path, wasm_tools: str, tmp_path: Path
) -> None:
    """A second toolchain: the jco fixture's Rust + wasi-sdk clang 18 module (39 units, code
    that wasm-ld removed tombstoned). No sampled instruction gets a different line or loses
    its line: even the rows the input itself put inside an immediate (stale DWARF) keep their
    place, as the code keeps its layout (`merge.layout`)."""
    case = load_case(corpus_components / "repo-prebuilt" / "jco-utf8-utf16.composed.wasm")
    new_lines = Lines(case.fused)
    ((orig, _, pairs),) = list(_pairs(case, wasm_tools, tmp_path))
    old_lines = Lines(orig)
    looked = [(old_lines.lookup(a), new_lines.lookup(b)) for a, b in pairs]
    covered = [(o, n) for o, n in looked if o is not None]
    wrong = [(o, n) for o, n in covered if n is not None and n != o]
    uncovered = [o for o, n in covered if n is None]
    assert len(covered) > 10_000 and not wrong
    assert not uncovered, uncovered
    # the stale sequence is kept: its immediates keep their (padded) width and its rows
    # their place (`merge.layout`), so no row of it falls inside a re-encoded immediate
    assert re.match(
        r"\d+ remapped in 62 kept sequences of 342 \(0 dropped, 280 dead\)$",
        str(case.stats["dwarf_line_rows"]),
    )
    if shutil.which("llvm-dwarfdump"):
        path = tmp_path / "fused.wasm"
        path.write_bytes(case.fused)
        res = subprocess.run(["llvm-dwarfdump", "--verify", str(path)], capture_output=True)
        assert res.returncode == 0, res.stdout[-2000:]


def test_fused_addresses_moved(case: Case, wasm_tools: str, tmp_path: Path) -> None:
    """The consumer's calls are re-encoded (other indices, other LEB widths) and each
    instance's largest body is placed first (`merge.layout`): code moved by varying amounts,
    some of it backwards, so an unchanged line table could not pass the test above."""
    deltas = {b - a for _, _, pairs in _pairs(case, wasm_tools, tmp_path) for a, b in pairs}
    assert len(deltas) > 2
    if case.path.name == "twice.wasm":  # no imports: only the placement moves the first copy
        assert min(deltas) < 0


def _llvm(tool: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(f"{tool} not installed (Debian package llvm)")
    return exe


def test_llvm_dwarfdump_verify(case: Case, tmp_path: Path) -> None:
    exe = _llvm("llvm-dwarfdump")
    path = tmp_path / "fused.wasm"
    path.write_bytes(case.fused)
    res = subprocess.run([exe, "--verify", str(path)], capture_output=True, text=True)
    assert res.returncode == 0 and "No errors." in res.stdout, res.stdout + res.stderr


def test_llvm_addr2line_agrees(case: Case, wasm_tools: str, tmp_path: Path) -> None:
    exe = _llvm("llvm-addr2line")

    def resolve(wasm: bytes, addrs: list[int], name: str) -> list[str]:
        path = tmp_path / name
        path.write_bytes(wasm)
        res = subprocess.run(
            [exe, "-f", "-e", str(path)],
            input="".join(f"0x{a:x}\n" for a in addrs),
            capture_output=True,
            text=True,
            check=True,
        )
        lines = res.stdout.splitlines()
        return [f"{lines[i]} {lines[i + 1]}" for i in range(0, len(lines), 2)]

    for orig, label, pairs in _pairs(case, wasm_tools, tmp_path):
        old = resolve(orig, [a for a, _ in pairs], "orig.wasm")
        new = resolve(case.fused, [b for _, b in pairs], "fused.wasm")
        known = [(o, n) for o, n in zip(old, new) if "??" not in o]
        assert len(known) >= 100, label
        assert [o for o, _ in known] == [n for _, n in known]


def test_stats_report_policy_and_counts(case: Case) -> None:
    assert str(case.stats["dwarf"]).startswith("remap: 2 module instance")
    assert re.match(
        r"\d+ remapped in (\d+) kept sequences of \1 \(0 dropped, 0 dead\)$",
        str(case.stats["dwarf_line_rows"]),
    )
    assert "dwarf_instances_dropped" not in case.stats
    if any(".debug_aranges" in dwarf_sections(o) for o in case.originals):
        assert re.match(r"[1-9]\d* remapped, 0 dropped", str(case.stats["dwarf_aranges"]))


def test_remap_is_deterministic(case: Case) -> None:
    again = fuse_bytes(case.path.read_bytes(), options=FuseOptions(preserve_names=True))
    assert again.output == case.fused


def test_strip_and_passthrough(case: Case) -> None:
    composed = case.path.read_bytes()
    stripped = fuse_bytes(composed, options=FuseOptions(dwarf="strip")).output
    assert not dwarf_sections(stripped)
    opts = {"attestation": False}  # the attestation records which spelling was used
    passed = fuse_bytes(composed, options=FuseOptions(dwarf="passthrough", **opts)).output
    alias = fuse_bytes(composed, options=FuseOptions(keep_dwarf=True, **opts)).output
    assert passed == alias

    def listed(wasm: bytes) -> list[tuple[str, bytes]]:
        return [(n, wasm[s:e]) for _, n, s, e in sections(wasm) if n.startswith(".debug_")]

    assert sorted(listed(passed)) == sorted(p for o in case.originals for p in listed(o))


_FRAME = re.compile(r"^\s+\d+:\s+0x[0-9a-f]+ - (.+)\n\s+at (\S+)$", re.M)


def _source_frames(message: str) -> list[tuple[str, str]]:
    """(function, file:line:column) of each backtrace frame that has source information."""
    return _FRAME.findall(message)


def test_trap_backtrace_names_same_source(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wasmtime = pytest.importorskip("wasmtime")
    from wasmtime import component as wc

    monkeypatch.setenv("WASMTIME_BACKTRACE_DETAILS", "1")
    cfg = wasmtime.Config()
    cfg.debug_info = True
    cfg.wasm_multi_memory = True
    engine = wasmtime.Engine(cfg)

    twice = case.path.name == "twice.wasm"  # the second instance's copy of the module traps
    store = wasmtime.Store(engine)
    comp = wc.Component(engine, case.path.read_bytes())
    inst = wc.Linker(engine).instantiate(store, comp)
    if twice:
        divide = inst.get_func(store, "checked-div-b")
    else:
        iface = inst.get_export_index(store, "test:dwarf/app@0.1.0")
        divide = inst.get_func(store, inst.get_export_index(store, "divide", iface))
    with pytest.raises((wasmtime.Trap, wasmtime.WasmtimeError)) as orig:
        divide(store, 1, 0)

    def fused_trap(wasm: bytes) -> str:
        store = wasmtime.Store(engine)
        module = wasmtime.Instance(store, wasmtime.Module(engine, wasm), [])
        export = "checked-div-b" if twice else "test:dwarf/app@0.1.0#divide"
        with pytest.raises(wasmtime.Trap) as trap:
            module.exports(store)[export](store, 1, 0)
        return str(trap.value.message)

    want = _source_frames(str(orig.value))
    expected = ["calc_checked_div"] if twice else ["calc_checked_div", "app_divide"]
    assert [f for f, _ in want] == expected, str(orig.value)
    assert want[0][1].startswith("./src/provider.c:45:")
    assert _source_frames(fused_trap(case.fused)) == want
    # the same check fails on the verbatim copy, whose consumer addresses are stale
    passthrough = fuse_bytes(case.path.read_bytes(), options=FuseOptions(dwarf="passthrough"))
    assert _source_frames(fused_trap(passthrough.output)) != want


def test_cli_dwarf_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from support import run_cli

    out = tmp_path / "o.wasm"
    code, stdout, _ = run_cli(
        capsys, "fuse", str(COMPOSED), "-o", str(out), "--dwarf", "strip", "--stats-json", "-"
    )
    assert code == 0 and '"dwarf": "strip: dropped' in stdout
    assert not dwarf_sections(out.read_bytes())
    code, stdout, _ = run_cli(capsys, "fuse", str(COMPOSED), "-o", str(out), "--stats-json", "-")
    assert code == 0 and '"dwarf": "remap: 2 module instance' in stdout
    code, _, err = run_cli(
        capsys, "fuse", str(COMPOSED), "-o", str(out), "--keep-dwarf", "--dwarf", "remap"
    )
    assert code == 2 and "contradicts --dwarf remap" in err  # a usage error
