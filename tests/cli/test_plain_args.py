"""`pymeld.cli.plain_args` reads a command line as argparse does, or leaves it to argparse: for
every command and ``pymeld``'s own options, on command lines made of each declaration's option
strings, good and bad values and arguments, what it answers equals argparse's namespace (and
the ``-v`` it saw), and it answers the usual lines without loading argparse."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymeld import cli, cli_argparse
from support import REPO

#: Values and arguments: plain words, numbers good and bad for each option's type, choices,
#: and what argparse reads its own way (``-``, ``--``, negative numbers, ``-h``, combined flags).
WORDS = ["a.wasm", "b.wasm", "out", "-", "", "0", "2", "-1", "1.5", "x", "0x10", "nan", "inf"]
SPECIAL = ["--", "-h", "--help", "-vq", "-oout", "-o=out", "--bogus", "-q", "--debug", "-V"]


def _tokens(params: list[tuple[tuple[str, ...], dict[str, object]]]) -> list[str]:
    tokens = list(WORDS + SPECIAL)
    for names, kwargs in params:
        for name in names:
            if name.startswith("-"):
                tokens.append(name)
                for choice in kwargs.get("choices") or ():  # type: ignore[attr-defined]
                    tokens += [str(choice), f"{name}={choice}"]
                tokens += [f"{name}=x", f"{name}=3"]
    return tokens


def _argparse(params_name: str, argv: list[str]) -> tuple[object, bool]:
    cli._state["verbose"] = False
    try:
        if params_name == "pymeld":
            ns = cli_argparse.parser()[0].parse_args(argv)
        else:
            p = cli_argparse.command_parser(params_name, cli_argparse.sub_parser)
            ns = p.parse_intermixed_args(argv)
    except (cli.UsageError, SystemExit):
        return "refused", bool(cli._state["verbose"])
    return vars(ns), bool(cli._state["verbose"])


def _plain(params_name: str, argv: list[str]) -> tuple[object, bool]:
    cli._state["verbose"] = False
    params = cli.TOP_OPTIONS if params_name == "pymeld" else cli._PARAMS[cli._COMMANDS[params_name]]
    return cli.plain_args(params, argv), bool(cli._state["verbose"])


NAMES = ["pymeld", *cli._COMMANDS]


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[str, list[str]]:
    name = draw(st.sampled_from(NAMES))
    params = cli.TOP_OPTIONS if name == "pymeld" else cli._PARAMS[cli._COMMANDS[name]]
    return name, draw(st.lists(st.sampled_from(_tokens(params)), max_size=8))


@settings(max_examples=3000, deadline=None)
@given(command_lines())
def test_plain_args_answers_as_argparse_or_not_at_all(line: tuple[str, list[str]]) -> None:
    name, argv = line
    plain, plain_verbose = _plain(name, argv)
    if plain is None:
        return
    assert _argparse(name, argv) == (plain, plain_verbose)


#: Usual command lines: each read without argparse, as argparse reads it.
USUAL = [
    ("fuse", ["a.wasm", "-o", "out"]),
    ("fuse", ["a.wasm", "-o", "out", "b.wasm", "--component", "--stats"]),
    ("fuse", ["--output=out", "a.wasm", "-v", "--no-simd", "--simd", "--no-inline-adapters"]),
    ("fuse", ["a.wasm", "-o", "o", "--memory", "auto", "--address-rebase", "--dwarf=strip"]),
    ("fuse", ["a.wasm", "-o", "o", "--opaque-rep", "a:b/c.r", "--opaque-rep", "d", "--verify"]),
    ("fuse", ["a.wasm", "-o", "o", "--timeout", "0.5", "--stats-json", "-", "--validate"]),
    ("fuse", ["a.wasm", "-o", "o", "--keep-dwarf", "--no-attestation", "--preserve-names"]),
    ("fuse", ["a.wasm", "-o", "-", "--emit-import-map", "m.json", "--explain", "--force"]),
    ("inspect", ["a.wasm", "--json"]),
    ("inspect", ["--graph", "dot", "--collapse", "a.wasm"]),
    ("roundtrip", ["a.wasm", "-o", "b.wasm", "--check"]),
    ("verify", ["a.wasm", "b.wasm", "--seed", "3", "--calls", "5", "--timeout", "2"]),
    ("version", []),
    ("pymeld", ["-q", "--debug", "-v"]),
]


@pytest.mark.parametrize(("name", "argv"), USUAL)
def test_usual_lines_read_without_argparse(name: str, argv: list[str]) -> None:
    plain = _plain(name, argv)
    assert plain[0] is not None
    assert _argparse(name, argv) == plain


def test_append_leaves_its_default_alone() -> None:
    """As argparse's, an appending option makes a new list: the declared default stays empty."""
    params = cli._PARAMS[cli._COMMANDS["fuse"]]
    default = next(k["default"] for n, k in params if "--opaque-rep" in n)
    first = cli.plain_args(params, ["a", "-o", "o", "--opaque-rep", "r"])
    assert first is not None and first["opaque_rep"] == ["r"] and default == []
    second = cli.plain_args(params, ["a", "-o", "o"])
    assert second is not None and second["opaque_rep"] is default  # (as argparse gives it)


PROBE = """
import json, sys
from pymeld.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "argparse": "argparse" in sys.modules}))
"""


@pytest.mark.parametrize(
    ("argv", "code", "loaded"),
    [
        (["-q", "version"], 0, False),
        (["version", "--bogus"], 2, True),  # argparse says what is wrong
        (["version", "-h"], 0, True),
        (["-qv", "version"], 0, True),
    ],
)
def test_argparse_loads_only_where_needed(argv: list[str], code: int, loaded: bool) -> None:
    p = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=REPO
    )
    out = p.stdout.splitlines()[-1]
    assert out == f'{{"code": {code}, "argparse": {str(loaded).lower()}}}', p.stderr
