"""Start-up (issue 12): parsing a command line formats no usage text unless the help may be
shown (`pymeld.cli._Parser.parse_known_intermixed_args`); the help shown in the middle of an
intermixed parse still has the whole usage, positionals included."""

from __future__ import annotations

import pytest

from pymeld import cli


def _fuse_parser() -> cli._Parser:
    return cli._command_parser("fuse", cli._sub_parser)


def test_a_fuse_command_line_formats_no_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_usage(self: object) -> str:
        raise AssertionError("usage formatted")

    monkeypatch.setattr(cli._Parser, "format_usage", no_usage)
    p = _fuse_parser()
    ns = p.parse_intermixed_args(["a.wasm", "-o", "out.wasm", "b.wasm", "--component"])
    assert (ns.inputs, ns.output, ns.as_component) == (["a.wasm", "b.wasm"], "out.wasm", True)
    assert p.usage is None
    with pytest.raises(cli.UsageError, match="unrecognized arguments: --bogus"):
        p.parse_intermixed_args(["a.wasm", "-o", "out.wasm", "--bogus"])
    assert p.usage is None


@pytest.mark.parametrize("argv", [["-o", "x", "--help"], ["a.wasm", "-vh"], ["-h"]])
def test_help_in_an_intermixed_parse_shows_the_whole_usage(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["fuse", *argv])
    assert e.value.code == 0
    out = capsys.readouterr().out
    usage = out.split("\n\n")[0]
    assert usage.startswith("Usage: pymeld fuse [-h] -o PATH") and "INPUTS [INPUTS ...]" in usage
    assert cli._UNSHOWN_USAGE not in out


@pytest.mark.parametrize(
    ("arg", "may"),
    [("-h", True), ("--help", True), ("-vh", True), ("-o", False), ("--component", False),
     ("here.wasm", False), ("-", False)],
)  # fmt: skip
def test_may_ask_help(arg: str, may: bool) -> None:
    assert cli._may_ask_help(arg) is may
