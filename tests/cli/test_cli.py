"""The CLI's contract: one-line errors with exit codes, atomic outputs, quiet off a TTY."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pymeld import api, cli
from pymeld.errors import PymeldError
from pymeld.io import read_input, write_atomic
from support import REPO, run_cli

run = run_cli


def assert_one_error_line(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("pymeld: error: "), lines[0]
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# -- basics ------------------------------------------------------------------------------------
def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"pymeld {cli.__version__}"


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "inspect" in out and "roundtrip" in out


@pytest.mark.parametrize(
    "argv",
    [["roundtrip"], ["roundtrip", "x.wasm"], ["nope"], ["inspect", "--bogus", "x"]],
    ids=["no-input", "no-output", "unknown-command", "unknown-option"],
)
def test_usage_errors_exit_2_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert_one_error_line(err, "--help")


# -- file errors -------------------------------------------------------------------------------
def test_missing_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.wasm"
    code, _, err = run(capsys, "roundtrip", str(missing), "-o", str(tmp_path / "out.wasm"))
    assert code == 1
    assert_one_error_line(err, str(missing), "No such file")
    assert leftovers(tmp_path) == []


def test_directory_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "inspect", str(tmp_path))
    assert code == 1
    assert_one_error_line(err, "is a directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
def test_unreadable_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "secret.wasm"
    f.write_bytes(b"\0asm")
    f.chmod(0)
    code, _, err = run(capsys, "inspect", str(f))
    assert code == 1
    assert_one_error_line(err, "Permission denied")


def test_unwritable_output_dir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, example_wasm: Path
) -> None:
    out = tmp_path / "no" / "such" / "dir" / "out.wasm"
    code, _, err = run(capsys, "roundtrip", str(example_wasm), "-o", str(out))
    assert code == 1
    assert_one_error_line(err, str(out))
    assert leftovers(tmp_path) == []


def test_output_is_a_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, example_wasm: Path
) -> None:
    code, _, err = run(capsys, "roundtrip", str(example_wasm), "-o", str(tmp_path))
    assert code in (1, 2)
    assert_one_error_line(err)
    assert leftovers(tmp_path) == []


# (module (func (export "f") (result i32) i32.const 42))
CORE_42 = bytes.fromhex("0061736d010000000105016000017f03020100070501016600000a06010400412a0b")


# -- malformed input: file + offset in one line, no output file ---------------------------------
MALFORMED = {
    "empty": b"",
    "bad-magic": b"\0asx\x01\0\0\0",
    "truncated-core": b"\0asm\x01\0\0\0\x01\x05\x01\x60",
    "truncated-component": b"\0asm\x0d\0\x01\0\x01\xff",
    "bad-leb": b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\xff\x01",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
@pytest.mark.parametrize("command", ["roundtrip", "inspect"])
def test_malformed_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, command: str
) -> None:
    src = tmp_path / f"{name}.wasm"
    src.write_bytes(MALFORMED[name])
    out = tmp_path / "out.wasm"
    argv = [command, str(src)] + (["-o", str(out)] if command == "roundtrip" else [])
    code, stdout, err = run(capsys, *argv)
    assert code == 1, err
    assert_one_error_line(err, str(src), "offset 0x")
    assert stdout == ""
    assert leftovers(tmp_path) == [src.name]


def test_malformed_input_real_process(tmp_path: Path, pymeld: list[str]) -> None:
    """The installed script, not just main(): exit code and stderr as a shell sees them."""
    src = tmp_path / "bad.wasm"
    src.write_bytes(b"\0asm\x0d\0\x01\0\x07\x10\x00")
    out = tmp_path / "out.wasm"
    p = subprocess.run(
        [*pymeld, "roundtrip", str(src), "-o", str(out)], capture_output=True, text=True
    )
    assert p.returncode == 1
    assert_one_error_line(p.stderr, str(src), "offset 0x")
    assert not out.exists() and leftovers(tmp_path) == ["bad.wasm"]


def test_debug_shows_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "bad.wasm"
    src.write_bytes(b"\0asm\x01")
    code, _, err = run(capsys, "--debug", "inspect", str(src))
    assert code == 1
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("pymeld: error: ")


def test_internal_error_is_one_line_exit_70(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: object, **_k: object) -> bytes:
        raise ValueError("kaboom\nsecond line")

    monkeypatch.setattr(api, "roundtrip", boom)  # the CLI imports `api` when a command runs
    src = tmp_path / "in.wasm"
    src.write_bytes(b"\0asm\x01\0\0\0")
    code, _, err = run(capsys, "roundtrip", str(src), "-o", str(tmp_path / "o.wasm"))
    assert code == cli.EXIT_INTERNAL
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "internal error: ValueError: kaboom second line" in lines[0]
    assert leftovers(tmp_path) == ["in.wasm"]


# -- success paths -----------------------------------------------------------------------------
def test_roundtrip_example_is_byte_exact(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, example_wasm: Path
) -> None:
    out = tmp_path / "out.wasm"
    code, stdout, err = run(capsys, "roundtrip", str(example_wasm), "-o", str(out), "--check")
    assert (code, stdout, err) == (0, "", "")
    assert out.read_bytes() == example_wasm.read_bytes()


def test_roundtrip_core_module(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # (module (func (export "f") (result i32) i32.const 42))
    core = bytes.fromhex("0061736d010000000105016000017f03020100070501016600000a06010400412a0b")
    src, out = tmp_path / "m.wasm", tmp_path / "o.wasm"
    src.write_bytes(core)
    code, _, err = run(capsys, "roundtrip", str(src), "-o", str(out), "--check")
    assert code == 0, err
    assert out.read_bytes() == core


def test_inspect_example(capsys: pytest.CaptureFixture[str], example_wasm: Path) -> None:
    code, out, err = run(capsys, "inspect", str(example_wasm))
    assert code == 0, err
    for needle in ("$calc", "$app", "enum { add, sub, mul }", "run: func"):
        assert needle in out, needle
    code, out, err = run(capsys, "inspect", "--json", str(example_wasm))
    assert code == 0, err
    info = json.loads(out)
    assert info["size"] == example_wasm.stat().st_size
    assert [e["name"] for e in info["exports"]] == ["run"]
    assert [c["name"] for c in info["components"]] == ["calc", "app"]


def test_inspect_core_module(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "m.wasm"
    src.write_bytes(CORE_42)
    code, out, err = run(capsys, "inspect", str(src))
    assert code == 0, err
    assert "core module" in out and "export func 'f' = func 0" in out
    code, out, _ = run(capsys, "inspect", "--json", str(src))
    info = json.loads(out)
    assert info["exports"] == [{"name": "f", "kind": "func", "index": 0}]
    assert info["counts"]["functions"] == 1


def test_no_progress_output_off_tty(tmp_path: Path, example_wasm: Path, pymeld: list[str]) -> None:
    p = subprocess.run(
        [*pymeld, "roundtrip", str(example_wasm), "-o", str(tmp_path / "o.wasm")],
        capture_output=True,
    )
    assert p.returncode == 0 and p.stdout == b"" and p.stderr == b"", p.stderr


# -- io helpers --------------------------------------------------------------------------------
def test_write_atomic_replaces_and_follows_umask(tmp_path: Path) -> None:
    target = tmp_path / "out.wasm"
    target.write_bytes(b"old")
    old = os.umask(0o022)
    try:
        write_atomic(target, b"new")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert leftovers(tmp_path) == ["out.wasm"]


def test_write_atomic_failure_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.wasm"
    target.write_bytes(b"old")

    def fail(*_a: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(PymeldError, match="No space left"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == ["out.wasm"]


def test_write_atomic_interrupt_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*_a: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "out.wasm", b"data")
    assert leftovers(tmp_path) == []


def test_read_input_errors(tmp_path: Path) -> None:
    with pytest.raises(PymeldError, match="No such file"):
        read_input(tmp_path / "nope")
    with pytest.raises(PymeldError, match="is a directory"):
        read_input(tmp_path)


@pytest.mark.parametrize(
    "path",
    ["x.wasm", "./x.wasm", "a//b/./c/", "/", "//a/b", "///a", ".", "", "a/../b", "./", "a/."],
)
def test_pathname_is_pathlibs(path: str) -> None:
    from pathlib import PurePosixPath

    from pymeld.io import _pathname

    if os.sep == "/":
        assert _pathname(path) == str(PurePosixPath(path))


def test_mkstemp_is_exclusive_and_private(tmp_path: Path) -> None:
    from pymeld.io import _mkstemp

    fd, tmp = _mkstemp(str(tmp_path), ".out.wasm.", ".tmp")
    os.close(fd)
    name = os.path.basename(tmp)
    assert os.path.isabs(tmp) and name.startswith(".out.wasm.") and name.endswith(".tmp")
    assert len(name) == len(".out.wasm.") + 8 + len(".tmp")
    if os.name == "posix":
        assert stat.S_IMODE(os.stat(tmp).st_mode) == 0o600


def test_module_entry_point() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "pymeld.cli", "--version"], capture_output=True, text=True, cwd=REPO
    )
    assert p.returncode == 0 and p.stdout.startswith("pymeld ")


def _fuse_fails(capsys: pytest.CaptureFixture[str], out: Path, *inputs: str) -> str:
    code, stdout, err = run(capsys, "fuse", *inputs, "-o", str(out))
    assert code == 1 and not stdout
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists(), "no output file on error"
    return err


def test_fuse_refuses_a_core_module(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    core = tmp_path / "core.wasm"
    core.write_bytes(b"\0asm\x01\0\0\0")
    err = _fuse_fails(capsys, tmp_path / "out.wasm", str(core))
    assert "not a component" in err


def test_fuse_unsupported_feature_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, wasm_tools: str
) -> None:
    src = tmp_path / "m.wat"
    src.write_text('(component (import "c" (component)))')
    wasm = tmp_path / "m.wasm"
    subprocess.run([wasm_tools, "parse", str(src), "-o", str(wasm)], check=True)
    err = _fuse_fails(capsys, tmp_path / "out.wasm", str(wasm))
    assert "pymeld: error: unsupported:" in err and "import `c` of sort component" in err


def test_fuse_ambiguous_link_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus_components: Path
) -> None:
    case = corpus_components / "c-compose-text"
    consumer, provider = str(case / "cconsumer.wasm"), str(case / "cprovider.wasm")
    err = _fuse_fails(capsys, tmp_path / "out.wasm", consumer, provider, provider)
    assert "exported by both" in err
