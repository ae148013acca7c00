"""Start-up (issue 12): the ``pymeld`` process defers ``inspect``, ``typing`` and ``copy``
(`pymeld.__main__.defer_module`) and pymeld's CLI (argparse) never calls the first, so a small
fuse runs none of ``inspect``, ``ast`` or ``dis`` and loads no ``click``; ``--help`` neither,
and every option has its help text. The modules of a plain fuse use ``typing``'s names in
annotations only and call nothing of ``copy``, so neither runs either; the attestation's JSON is
written without importing ``json`` (`pymeld.emit.attestation.canonical_json`). argparse's
messages skip `gettext` where no catalog can exist, so ``locale`` is not imported either (nor
does gettext's own module run), and the deferral itself needs no ``importlib.util``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO, shared_root

CALCULATOR = REPO / "examples" / "calculator.composed.wasm"
C_COMPOSE_TEXT = shared_root() / "corpus" / "components" / "c-compose-text" / "composed.wasm"
#: Carries DWARF, which a fuse remaps (`pymeld.dwarf`).
JCO_UTF8_UTF16 = (
    shared_root() / "corpus" / "components" / "repo-prebuilt" / "jco-utf8-utf16.composed.wasm"
)

#: Runs the ``pymeld`` entry point, then says (from an exit handler: the entry point ends the
#: process with `os._exit` after them) whether `inspect` ran and which of its imports loaded,
#: whether `typing` and `copy` ran and whether `json` was imported.
PROBE = """
import atexit, sys
def report():
    kind = type(sys.modules.get("inspect")).__name__
    ran = kind == "module" and "cleandoc" in sys.modules["inspect"].__dict__
    loaded = sorted(m for m in ("ast", "dis", "tokenize", "click", "contextlib") if m in sys.modules)
    typing_ran = "Generic" in getattr(sys.modules.get("typing"), "__dict__", {})
    copy_ran = "deepcopy" in getattr(sys.modules.get("copy"), "__dict__", {})
    json = "json" in sys.modules
    locale = "locale" in sys.modules
    util = "importlib.util" in sys.modules
    gettext_ran = "translation" in getattr(sys.modules.get("gettext"), "__dict__", {})
    print(f"typing-ran={typing_ran} copy-ran={copy_ran} json={json} locale={locale}"
          f" util={util} gettext-ran={gettext_ran}", file=sys.stderr)
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


@pytest.mark.parametrize("component", [False, True], ids=["core", "component"])
@pytest.mark.parametrize("name", ["calculator", "c-compose-text", "jco-utf8-utf16"])
def test_small_fuse_runs_neither_inspect_nor_typing(
    tmp_path: Path, name: str, component: bool
) -> None:
    """Nor does ``--component``: the wrapper's modules name `typing`'s names in annotations only
    and copy import declarations without `copy` (`pymeld.interface`)."""
    path = {"calculator": CALCULATOR, "c-compose-text": C_COMPOSE_TEXT}.get(name, JCO_UTF8_UTF16)
    if not path.exists():
        pytest.skip(f"{path} not present")
    out = tmp_path / "out.wasm"
    p = _probe("fuse", str(path), "-o", str(out), *(["--component"] if component else []))
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines()[-2:] == [
        "typing-ran=False copy-ran=False json=False locale=False util=False gettext-ran=False",
        "inspect-ran=False kind=_Deferred loaded=[]",
    ]
    assert out.read_bytes()[:8] == (b"\0asm\x0d\0\x01\0" if component else b"\0asm\1\0\0\0")


def test_typing_still_resolves_in_the_process() -> None:
    """What needs `typing` loads it: `typing.get_type_hints(FuseOptions)` after a fuse."""
    code = (
        "import sys; from pymeld.__main__ import defer_module; defer_module('typing',"
        " TYPE_CHECKING=False); import typing; from pymeld.fuse import FuseOptions;"
        " assert type(typing).__name__ == '_Deferred';"
        " h = typing.get_type_hints(FuseOptions);"
        " assert typing.get_args(h['memory']) == ('multi', 'shared', 'auto'), h"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("argv", [["--help"], ["fuse", "-h"]], ids=["group", "fuse"])
def test_help_runs_no_inspect(argv: list[str]) -> None:
    p = _probe(*argv)
    assert p.returncode == 0 and "Show this message and exit." in p.stdout
    assert "Usage: pymeld" in p.stdout and "--verbose" in p.stdout
    assert p.stderr.splitlines()[-1] == "inspect-ran=False kind=_Deferred loaded=[]"


def test_deferred_module_behaves_as_imported() -> None:
    code = (
        "import sys; from pymeld.__main__ import defer_module; defer_module('fractions');"
        "import fractions; assert type(fractions).__name__ == '_Deferred';"
        "assert fractions.Fraction(1, 3) * 3 == 1; assert type(fractions) is type(sys);"
        "from fractions import Fraction; assert Fraction is fractions.Fraction;"
        "import fractions as f2; assert f2 is fractions and sys.modules['fractions'] is f2;"
        # attributes known before it runs; `from` imports read them (and ``__path__``) unrun
        "defer_module('colorsys', ONE_THIRD=1.0 / 3.0); from colorsys import ONE_THIRD as t;"
        "assert t == 1 / 3 and type(sys.modules['colorsys']).__name__ == '_Deferred';"
        "import colorsys; assert colorsys.rgb_to_hsv(0, 0, 0) == (0, 0, 0);"
        "assert type(colorsys) is type(sys)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_every_option_has_help() -> None:
    """Every command, and ``pymeld`` itself, has ``-h/--help`` and a help text for each option
    (a help option per parser: argparse's own would be a second one)."""
    import argparse

    from pymeld.cli import parser

    top, commands = parser()
    assert list(commands) == ["version", "inspect", "roundtrip", "fuse", "verify"]
    seen = 0
    for p in [top, *commands.values()]:
        names = [o for a in p._actions for o in a.option_strings]
        assert names.count("--help") == 1 and names.count("-h") == 1, p.prog
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                continue
            assert a.help and a.help != argparse.SUPPRESS, (p.prog, a.dest)
            seen += bool(a.option_strings)
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


def _mo_catalog(entries: dict[str, str]) -> bytes:
    """A GNU ``.mo`` file of ``entries`` (msgid → msgstr), as `gettext.GNUTranslations` reads
    it: magic, revision, count, offsets of the two string tables, no hash table."""
    import struct

    ids = sorted(entries)
    count = len(ids)
    keys_at = 7 * 4
    values_at = keys_at + count * 8
    data_at = values_at + count * 8
    blob, key_table, value_table = b"", [], []
    for table, texts in ((key_table, ids), (value_table, [entries[i] for i in ids])):
        for text in texts:
            raw = text.encode()
            table.append((len(raw), data_at + len(blob)))
            blob += raw + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, count, keys_at, values_at, 0, data_at)
    tables = b"".join(struct.pack("<2I", n, at) for n, at in key_table + value_table)
    return header + tables + blob


#: Builds argparse's "required arguments" error after `untranslated_argparse` in a process
#: whose gettext catalogs are those of the directory given (which may not exist).
TRANSLATED = """
import gettext, os, sys
gettext._default_localedir = sys.argv[1]
os.environ["LANGUAGE"] = "xx"
from pymeld.__main__ import untranslated_argparse
untranslated_argparse()
import argparse
print(argparse._ is gettext.gettext, argparse.ngettext is gettext.ngettext)
p = argparse.ArgumentParser(prog="p")
p.add_argument("x")
p.parse_args([])
"""


def test_argparse_messages_translated_only_where_a_catalog_exists(tmp_path: Path) -> None:
    """With a catalog directory, argparse still translates (here through a catalog of its
    `messages` domain for a language ``xx``); without one, it gets identity functions and
    prints its messages as `gettext` would have returned them, unchanged."""
    catalogs = tmp_path / "locale"
    (catalogs / "xx" / "LC_MESSAGES").mkdir(parents=True)
    mo = _mo_catalog({"the following arguments are required: %s": "il manque : %s"})
    (catalogs / "xx" / "LC_MESSAGES" / "messages.mo").write_bytes(mo)
    for directory, expected in [
        (catalogs, ["True True", "p: error: il manque : x"]),
        (tmp_path / "none", ["False False", "p: error: the following arguments are required: x"]),
    ]:
        p = subprocess.run(
            [sys.executable, "-c", TRANSLATED, str(directory)], capture_output=True, text=True
        )
        assert p.returncode == 2, p.stderr
        assert [p.stdout.strip(), p.stderr.splitlines()[-1]] == expected


#: As `TRANSLATED`, but before gettext is loaded, with the catalogs where gettext looks by
#: default (``sys.base_prefix/share/locale``, the prefix changed first); prints whether gettext
#: was deferred.
TRANSLATED_BY_DEFAULT = """
import os, sys
sys.base_prefix = sys.argv[1]
os.environ["LANGUAGE"] = "xx"
from pymeld.__main__ import untranslated_argparse
untranslated_argparse()
import argparse
print(type(sys.modules["gettext"]).__name__)
p = argparse.ArgumentParser(prog="p")
p.add_argument("x")
p.parse_args([])
"""


def test_gettext_deferred_only_without_its_default_catalogs(tmp_path: Path) -> None:
    """Before gettext is loaded, `untranslated_argparse` defers it where its default catalog
    directory is missing; where it exists, argparse translates through it as before."""
    catalogs = tmp_path / "prefix" / "share" / "locale"
    (catalogs / "xx" / "LC_MESSAGES").mkdir(parents=True)
    mo = _mo_catalog({"the following arguments are required: %s": "il manque : %s"})
    (catalogs / "xx" / "LC_MESSAGES" / "messages.mo").write_bytes(mo)
    for prefix, expected in [
        (tmp_path / "prefix", ["module", "p: error: il manque : x"]),
        (tmp_path / "none", ["_Deferred", "p: error: the following arguments are required: x"]),
    ]:
        p = subprocess.run(
            [sys.executable, "-c", TRANSLATED_BY_DEFAULT, str(prefix)],
            capture_output=True,
            text=True,
        )
        assert p.returncode == 2, p.stderr
        assert [p.stdout.strip(), p.stderr.splitlines()[-1]] == expected
