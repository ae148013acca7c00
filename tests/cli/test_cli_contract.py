"""The CLI says what it does, accepts meld's spellings, and never surprises a new user."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from pymeld import __version__
from support import REPO, run_cli

C_COMPOSE = "c-compose-text/composed.wasm"


def fuse_args(src: Path, out: Path, *flags: str) -> list[str]:
    return ["fuse", str(src), "-o", str(out), *flags]


# -- help, version, verbose --------------------------------------------------------------------
def test_no_arguments_prints_help_not_an_error() -> None:
    p = subprocess.run([sys.executable, "-m", "pymeld.cli"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "" and "error:" not in p.stdout
    assert p.stdout.startswith("Usage: pymeld") and "fuse" in p.stdout


def test_version_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "version")[:2] == (0, f"pymeld {__version__}\n")


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_logs_each_stage(
    where: str, capsys: pytest.CaptureFixture[str], example_wasm: Path, tmp_path: Path
) -> None:
    argv = fuse_args(example_wasm, tmp_path / "o.wasm", "--validate")
    argv = ["-v", *argv] if where == "before" else [*argv, "--verbose"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    stages = [ln.split(": ")[-1].split(" (at ")[0] for ln in err.splitlines() if "(at " in ln]
    assert stages == ["parse", "flatten", "merge", "encode", "validate"]
    code, _, quiet = run_cli(capsys, *fuse_args(example_wasm, tmp_path / "o.wasm"))
    assert code == 0 and quiet == ""  # -v does not stick to the next run


def test_progress_on_a_terminal_shows_stage_and_elapsed_time(
    corpus_components: Path, tmp_path: Path
) -> None:
    """On a TTY stderr the progress line names each stage and the seconds so far."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    shutil.copy(corpus_components / C_COMPOSE, tmp_path / "in.wasm")
    cmd = [sys.executable, "-m", "pymeld.cli",
           *fuse_args(Path("in.wasm"), Path("o.wasm"), "--component", "--validate", "--verify")]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}  # rich asks stdout (devnull here) for the width
    p = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=slave,
    )  # fmt: skip
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif p.poll() is not None:
            break
    p.wait(timeout=60)
    os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    assert p.returncode == 0, screen[-2000:]
    for stage in ("parse", "flatten", "merge", "encode", "validate", "verify: export 1/6"):
        assert re.search(rf"\d+\.\d s  fusing in\.wasm: {stage}", screen), (stage, screen)
    assert re.search(r"\d+\.\d s  fusing in\.wasm: verify: export \d/6 \S+, call \d+…", screen)


# -- meld's spellings --------------------------------------------------------------------------
def test_reproducible_is_accepted_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], example_wasm: Path, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.wasm", tmp_path / "b.wasm"
    assert run_cli(capsys, *fuse_args(example_wasm, a))[0] == 0
    assert run_cli(capsys, *fuse_args(example_wasm, b, "--reproducible"))[0] == 0
    assert a.read_bytes() == b.read_bytes()
    code, out, _ = run_cli(capsys, "fuse", "--help")
    assert code == 0 and "always byte-reproducible" in " ".join(out.split())


def test_no_validate_overrides_validate(
    capsys: pytest.CaptureFixture[str], example_wasm: Path, tmp_path: Path
) -> None:
    code, _, err = run_cli(
        capsys, *fuse_args(example_wasm, tmp_path / "o.wasm", "--validate", "--no-validate")
    )
    assert code == 0 and err == ""  # no validation ran: no summary line


def test_dwarf_spellings(
    capsys: pytest.CaptureFixture[str], corpus_components: Path, tmp_path: Path
) -> None:
    src = corpus_components / "repo-prebuilt" / "jco-variants.component.wasm"  # has DWARF
    outs = {}
    for name, flags in {
        "default": [], "remap": ["--dwarf", "remap"], "strip": ["--dwarf", "strip"],
        "keep": ["--keep-dwarf"], "passthrough": ["--dwarf", "passthrough"],
    }.items():  # fmt: skip
        outs[name] = tmp_path / f"{name}.wasm"
        code, _, err = run_cli(capsys, *fuse_args(src, outs[name], *flags))
        assert code == 0, err
    data = {k: v.read_bytes() for k, v in outs.items()}
    assert data["remap"] == data["default"] and data["passthrough"] == data["keep"]
    assert data["keep"] != data["default"] and b".debug_info" in data["keep"]
    assert data["strip"] != data["default"] and b".debug_info" not in data["strip"]
    code, _, err = run_cli(
        capsys, *fuse_args(src, tmp_path / "c.wasm", "--dwarf", "strip", "--keep-dwarf")
    )
    assert code == 2 and "contradict" in err


# -- usage errors and consistency --------------------------------------------------------------
def test_address_rebase_without_shared_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], example_wasm: Path, tmp_path: Path
) -> None:
    code, _, err = run_cli(
        capsys, *fuse_args(example_wasm, tmp_path / "o.wasm", "--address-rebase")
    )
    assert code == 2 and "--address-rebase needs --memory shared" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "flags", [["--json", "--graph", "dot"], ["--json", "--interfaces"], ["--json", "--types"],
              ["--graph", "dot", "--interfaces"]],
)  # fmt: skip
def test_inspect_output_choices_do_not_mix(
    flags: list[str], capsys: pytest.CaptureFixture[str], example_wasm: Path
) -> None:
    code, out, err = run_cli(capsys, "inspect", str(example_wasm), *flags)
    assert code == 2 and out == "" and "use one" in err


def test_fuse_and_inspect_agree_on_a_text_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    _, _, inspect_err = run_cli(capsys, "inspect", str(text))
    for argv in (fuse_args(text, tmp_path / "o.wasm"), ["fuse", str(text), str(text), "-o", "x"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 1 and err == inspect_err
    assert "bad magic" in inspect_err


def test_stats_into_a_pipe_are_not_cut(
    capsys: pytest.CaptureFixture[str], corpus_components: Path, tmp_path: Path
) -> None:
    code, _, err = run_cli(
        capsys,
        *fuse_args(
            corpus_components / C_COMPOSE, tmp_path / "o.wasm", "--stats", "--memory", "auto"
        ),
    )
    assert code == 0
    reason = next(ln for ln in err.splitlines() if "memory strategy reason" in ln)
    assert "the host would see region-absolute addresses without region bounds" in reason


def test_validate_prints_one_summary_line(
    capsys: pytest.CaptureFixture[str], example_wasm: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.wasm"
    code, stdout, err = run_cli(capsys, *fuse_args(example_wasm, out, "--validate"))
    assert code == 0 and stdout == ""
    assert err == f"pymeld: wrote {out} ({out.stat().st_size} bytes); valid (wasmtime)\n"
    assert run_cli(capsys, "-q", *fuse_args(example_wasm, out, "--validate"))[2] == ""


# -- outputs -----------------------------------------------------------------------------------
def test_output_equal_to_an_input_needs_force(
    capsys: pytest.CaptureFixture[str], example_wasm: Path, tmp_path: Path
) -> None:
    src = tmp_path / "in.wasm"
    src.write_bytes(example_wasm.read_bytes())
    before = src.read_bytes()
    link = tmp_path / "alias.wasm"
    link.symlink_to(src)
    for out in (src, link):
        code, _, err = run_cli(capsys, "fuse", str(src), "-o", str(out))
        assert code == 2 and "is also an input; pass --force" in err
        assert src.read_bytes() == before
    code, _, err = run_cli(capsys, "roundtrip", str(src), "-o", str(src))
    assert code == 2 and "--force" in err
    code, _, err = run_cli(capsys, "fuse", str(src), "-o", str(src), "--force")
    assert code == 0 and src.read_bytes() != before


def test_replacing_keeps_symlinks_and_mode(
    capsys: pytest.CaptureFixture[str], example_wasm: Path, tmp_path: Path
) -> None:
    target = tmp_path / "real" / "out.wasm"
    target.parent.mkdir()
    target.write_bytes(b"old")
    target.chmod(0o640)
    link = tmp_path / "out.wasm"
    link.symlink_to(target)
    code, _, err = run_cli(capsys, *fuse_args(example_wasm, link))
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert target.read_bytes()[:4] == b"\0asm"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.wasm"]


# -- packaging ---------------------------------------------------------------------------------
def test_pyproject_license_is_an_spdx_string() -> None:
    """setuptools ≥ 77 warns (three times per `make demo`) about the `license` table form."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert any(r.startswith("setuptools>=77") for r in project["build-system"]["requires"])


def test_demo_footer_counts_components_as_stats_do(
    capsys: pytest.CaptureFixture[str], example_wasm: Path, tmp_path: Path
) -> None:
    makefile = (REPO / "Makefile").read_text()
    footer = next(ln for ln in makefile.splitlines() if "demo:" in ln and "echo" in ln)
    stats = tmp_path / "s.json"
    code, _, _ = run_cli(capsys, *fuse_args(example_wasm, tmp_path / "o.wasm"),
                         "--stats-json", str(stats))  # fmt: skip
    assert code == 0
    n = json.loads(stats.read_text())["components"]
    assert f"({n} components" in footer


def test_several_inputs_keep_the_exports_the_readme_says(
    capsys: pytest.CaptureFixture[str], corpus_components: Path, tmp_path: Path
) -> None:
    """Root's exports, plus other inputs' exports nobody consumes (README, compose.py)."""
    c = corpus_components / "c-compose-text"
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "each export of another input that no input consumes" in readme
    got = {}
    for order in (("cprovider", "cconsumer"), ("cconsumer", "cprovider")):
        out = tmp_path / f"{order[0]}.wasm"
        argv = ["fuse", *(str(c / f"{n}.wasm") for n in order), "-o", str(out), "--component"]
        assert run_cli(capsys, *argv)[0] == 0
        code, text, _ = run_cli(capsys, "inspect", "--interfaces", str(out))
        assert code == 0
        got[order[0]] = {ln.split()[-1] for ln in text.splitlines() if ln.startswith("export ")}
    assert got["cprovider"] == {"corpus:cmini/text@0.1.0", "corpus:cmini/report@0.1.0"}
    assert got["cconsumer"] == {"corpus:cmini/report@0.1.0"}
