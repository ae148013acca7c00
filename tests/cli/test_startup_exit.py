"""Start-up and exit of the ``pymeld`` command (issue 12, small inputs): the process ends with
``os._exit`` after its exit handlers and a flush of stdout/stderr, with the status and output a
normal exit gives; ``--version`` loads neither click nor ``typing``; fusing a small sync-only
composition loads none of the async, DWARF, rich or verify machinery, nor click. Import
checks, not timings (timed tests are flaky on shared machines)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO, shared_root

CALCULATOR = REPO / "examples" / "calculator.composed.wasm"
C_TEXT = shared_root() / "corpus" / "components" / "c-compose-text" / "composed.wasm"


def _pymeld(*argv: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pymeld", *argv] if code is None else [sys.executable, "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, stdin=subprocess.DEVNULL)


def _imported(*argv: str) -> set[str]:
    """The modules ``python -X importtime -m pymeld ARGV`` imported (it must succeed)."""
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pymeld", *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    rows = [line.split("|")[-1].strip() for line in p.stderr.splitlines() if "|" in line]
    mods = {r for r in rows if r and r != "imported package"}
    assert "pymeld" in mods  # the probe sees the command's imports
    return mods


def _under(mods: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in mods if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_version_loads_neither_click_nor_typing() -> None:
    for flag in ("--version", "-V", "version"):
        assert _pymeld(flag).stdout == "pymeld 0.1.0\n"
    mods = _imported("--version")
    assert _under(mods, ("click", "typing", "rich", "pymeld.cli", "pymeld.fuse")) == []


#: Never loaded by fusing a composition of sync components without DWARF to a core module.
SYNC_NEVER = (
    "pymeld.merge.asyncfuse",
    "pymeld.merge.asynctask",
    "pymeld.merge.asyncstream",
    "pymeld.merge.asyncroot",
    "pymeld.merge.asyncres",
    "pymeld.dwarf",
    "pymeld.split",
    "pymeld.verify",
    "pymeld.wrap",
    "pymeld.inspect",
    "pymeld.emit.dot",
    "rich",
    "wasmtime",
    "multiprocessing",
    "click",
    "shutil",  # argparse asks the terminal its width through it: only for help (`pymeld.cli`)
)


@pytest.mark.parametrize("path", [CALCULATOR, C_TEXT], ids=["calculator", "c-compose-text"])
def test_small_sync_fuse_loads_no_async_or_dwarf(path: Path, tmp_path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} not present")
    mods = _imported("fuse", str(path), "-o", str(tmp_path / "out.wasm"))
    assert "pymeld.merge.merger" in mods and "pymeld.codec.core.encode" in mods
    assert _under(mods, SYNC_NEVER) == []
    assert (tmp_path / "out.wasm").read_bytes()[:4] == b"\0asm"


def test_hard_exit_keeps_statuses_and_output(tmp_path: Path) -> None:
    out = tmp_path / "out.wasm"
    p = _pymeld("fuse", str(CALCULATOR), "-o", str(out))
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    ref = tmp_path / "ref.wasm"  # the CLI without the hard exit: the same bytes
    argv = ["fuse", str(CALCULATOR), "-o", str(ref)]
    p = _pymeld(code=f"import sys; from pymeld.cli import main; sys.argv[1:] = {argv!r}; main()")
    assert p.returncode == 0 and out.read_bytes() == ref.read_bytes()
    p = _pymeld("fuse", str(tmp_path / "missing.wasm"), "-o", str(out))
    assert p.returncode == 1 and p.stderr.startswith("pymeld: error: ")
    p = _pymeld("fuse", str(CALCULATOR))  # no -o: a usage error
    assert p.returncode == 2 and "pymeld: error: " in p.stderr
    p = _pymeld("inspect", "--json", str(CALCULATOR))  # all of a large stdout, flushed
    assert p.returncode == 0 and json.loads(p.stdout)["size"] == CALCULATOR.stat().st_size


def test_hard_exit_runs_exit_handlers_and_flushes() -> None:
    code = (
        "import atexit, sys; atexit.register(lambda: print('handler ran'));"
        "sys.stdout.write('buffered, no newline');"
        "from pymeld.__main__ import hard_exit; hard_exit(3)"
    )
    p = _pymeld(code=code)
    assert (p.returncode, p.stdout) == (3, "buffered, no newlinehandler ran\n")
    p = _pymeld(code="from pymeld.__main__ import hard_exit; hard_exit('bye')")
    assert (p.returncode, p.stderr) == (1, "bye\n")
