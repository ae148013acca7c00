"""Start-up (issue 12): the ``pymeld`` process defers ``inspect`` (`pymeld.__main__.defer_module`)
and pymeld's CLI never calls it while parsing, so a small fuse runs none of ``inspect``, ``ast``
or ``dis``; ``--help`` still loads it and prints what click's own classes print."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import click
import pytest

from support import REPO

CALCULATOR = REPO / "examples" / "calculator.composed.wasm"

#: Runs the ``pymeld`` entry point, then says (from an exit handler: the entry point ends the
#: process with `os._exit` after them) whether `inspect` ran and which of its imports loaded.
PROBE = """
import atexit, sys
def report():
    kind = type(sys.modules.get("inspect")).__name__
    ran = kind == "module" and "cleandoc" in sys.modules["inspect"].__dict__
    loaded = sorted(m for m in ("ast", "dis", "tokenize") if m in sys.modules)
    print(f"inspect-ran={ran} kind={kind} loaded={loaded}", file=sys.stderr)
atexit.register(report)
from pymeld.__main__ import main
main(sys.argv[1:])
"""


def _probe(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )


def test_small_fuse_runs_no_inspect(tmp_path: Path) -> None:
    out = tmp_path / "out.wasm"
    p = _probe("fuse", str(CALCULATOR), "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines()[-1] == "inspect-ran=False kind=_Deferred loaded=[]"
    assert out.read_bytes()[:4] == b"\0asm"


@pytest.mark.parametrize("argv", [["--help"], ["fuse", "-h"]], ids=["group", "fuse"])
def test_help_runs_the_deferred_module(argv: list[str]) -> None:
    p = _probe(*argv)
    assert p.returncode == 0 and "Show this message and exit." in p.stdout
    assert "inspect-ran=True kind=module" in p.stderr.splitlines()[-1]


def test_deferred_module_behaves_as_imported() -> None:
    code = (
        "import sys; from pymeld.__main__ import defer_module; defer_module('fractions');"
        "import fractions; assert type(fractions).__name__ == '_Deferred';"
        "assert fractions.Fraction(1, 3) * 3 == 1; assert type(fractions) is type(sys);"
        "from fractions import Fraction; assert Fraction is fractions.Fraction;"
        "import fractions as f2; assert f2 is fractions and sys.modules['fractions'] is f2"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def _walk(cmd: click.Command) -> list[click.Command]:
    subs = list(cmd.commands.values()) if isinstance(cmd, click.Group) else []
    return [cmd, *(c for s in subs for c in _walk(s))]


def test_help_texts_are_kept_as_click_would_clean_them() -> None:
    """`pymeld.cli._Option` keeps help as written; click would `inspect.cleandoc` it: the same
    text for every option, the help options included (a command's own ``-h/--help``)."""
    from pymeld.cli import _Option, cli

    seen = 0
    for cmd in _walk(cli):
        names = [o for p in cmd.params for o in p.opts]
        assert names.count("--help") == 1 and "-h" in names, cmd.name
        for p in cmd.params:
            if isinstance(p, click.Option):
                assert isinstance(p, _Option), (cmd.name, p.name)
                assert p.help is not None and p.help == inspect.cleandoc(p.help), p.name
                seen += 1
    assert seen > 30


def test_version_defers_nothing() -> None:
    """``--version`` answers before any deferral: it loads neither `types` nor `importlib.util`
    (neither is loaded by a bare interpreter either)."""
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", PROBE, "--version"],
        capture_output=True,
        text=True,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )
    assert p.returncode == 0 and p.stdout == "pymeld 0.1.0\n"
    mods = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if "|" in line}
    assert "pymeld" in mods
    assert not mods & {"types", "importlib.util", "inspect", "click"}
    assert "kind=NoneType" in p.stderr.splitlines()[-1]  # `inspect` not even deferred
