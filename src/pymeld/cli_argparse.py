"""The CLI's `argparse` parsers: ``pymeld``'s own and each command's, from the commands'
declarations in `pymeld.cli` (``@option``/``@argument``).

Why a module of its own: a command line of plain options and arguments is read by
`pymeld.cli.plain_args` without argparse, which with ``re`` (imported by argparse only) was ~16 M
instructions of a small fuse's ~290 M. Everything else comes here: the help, usage errors,
combined short flags, ``--``, values that look like options, and the options before the command
name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence

from pymeld import __version__, cli

TYPE_CHECKING = False  # (no `typing` at run time: start-up)
if TYPE_CHECKING:
    from typing import Any, NoReturn

__all__ = ["Formatter", "Parser", "command_parser", "parser", "sub_parser"]


class Toggle(argparse.Action):
    """``--name/--no-name``: one flag and its negation, the last one given wins."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        setattr(namespace, self.dest, not str(option_string).startswith("--no-"))


class SideEffect(argparse.Action):
    """A flag that acts when given and leaves nothing in the parsed namespace."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, argparse.SUPPRESS, nargs=0, default=argparse.SUPPRESS,
                         **kwargs)  # fmt: skip


class Verbose(SideEffect):
    """``-v/--verbose``: remembered in the CLI's state, wherever on the command line it is."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        cli._state["verbose"] = True


class Version(SideEffect):
    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        print(f"pymeld {__version__}")
        raise SystemExit(0)


class Formatter(argparse.HelpFormatter):
    """argparse's help layout with ``Usage:`` and the descriptions' paragraphs kept (each is
    re-wrapped to the terminal, as argparse does with one)."""

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "Usage: " if prefix is None else prefix)

    def _format_action(self, action: argparse.Action) -> str:
        text = super()._format_action(action)
        if isinstance(action, argparse._SubParsersAction):  # the commands, without "COMMAND"
            text = text.split("\n", 1)[1]
        return text

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
        return "\n\n".join(
            textwrap.fill(p, width, initial_indent=indent, subsequent_indent=indent)
            for p in paragraphs
            if p
        )


class Parser(argparse.ArgumentParser):
    """Raises :class:`pymeld.cli.UsageError` where argparse would print the usage and exit;
    knows the CLI's own actions by the names the declarations use (`cli.ACTIONS`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(add_help=False, allow_abbrev=False)
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)
        for name, action in _ACTIONS.items():
            self.register("action", name, action)
        self._optionals.title = "Options"
        self._positionals.title = "Arguments"
        self.add_argument("-h", "--help", action="help", help="Show this message and exit.")

    def error(self, message: str) -> NoReturn:
        raise cli.UsageError(message, self.prog)

    def parse_known_intermixed_args(
        self, args: Iterable[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        """argparse (3.11 to 3.13) formats the whole usage before it parses, for the errors
        and the help shown meanwhile (its first pass hides the positionals): ~2.5 M
        instructions of a small fuse, four regular expressions compiled. Errors here are
        `UsageError`s without the usage, so unless an argument may ask for the help (one
        starting with ``-`` holding an ``h``: ``-h``, ``--help``, ``-vh`` ...) nothing shows
        it, and a placeholder stands in."""
        args = None if args is None else list(args)
        if args is None or self.usage is not None or any(map(may_ask_help, args)):
            return super().parse_known_intermixed_args(args, namespace)
        self.usage = UNSHOWN_USAGE
        try:
            return super().parse_known_intermixed_args(args, namespace)
        finally:
            self.usage = None

    #: The help's width; argparse's own formatters ask the terminal (loading `shutil`, with
    #: ``bz2`` and ``lzma``: ~2 ms) at every ``add_argument``, where the width is never used.
    _width = 78

    def _get_formatter(self) -> argparse.HelpFormatter:
        return Formatter(prog=self.prog, width=self._width)

    def format_help(self) -> str:
        import shutil

        self._width = shutil.get_terminal_size().columns - 2  # as argparse's
        return super().format_help()


#: The CLI's actions by the names its declarations give them (``action="toggle"``).
_ACTIONS: dict[str, type[argparse.Action]] = {
    "toggle": Toggle,
    "verbose": Verbose,
    "version": Version,
}

#: `Parser.usage` while a parse that cannot show it runs.
UNSHOWN_USAGE = "(not shown)"


def may_ask_help(arg: str) -> bool:
    """Whether ``arg`` may be ``-h``/``--help``, alone or among combined short flags."""
    return arg[:1] == "-" and "h" in arg


def command_parser(name: str, make: Callable[..., Parser] = Parser) -> Parser:
    """Command ``name``'s parser, made by ``make`` (a sub-parser in ``pymeld --help``'s list)."""
    f = cli._COMMANDS[name]
    doc = f.__doc__ or ""
    summary = " ".join(doc.split("\n\n")[0].split())
    p = make(name, prog=f"pymeld {name}", help=summary, description=doc)
    for names, kwargs in cli._PARAMS[f]:
        p.add_argument(*names, **kwargs)
    return p


def parser() -> tuple[Parser, dict[str, Parser]]:
    """The ``pymeld`` parser (its options, and the commands for its help) and each command's."""
    top = Parser(prog="pymeld", description=DESCRIPTION)
    for names, kwargs in cli.TOP_OPTIONS:
        top.add_argument(*names, **kwargs)
    subs = top.add_subparsers(title="Commands", metavar="COMMAND", parser_class=Parser)
    return top, {name: command_parser(name, subs.add_parser) for name in cli._COMMANDS}


DESCRIPTION = "Static WebAssembly component fusion: a composition in, one core module out."


def sub_parser(name: str, help: str, **kwargs: Any) -> Parser:
    """A command's parser on its own (``help`` is its line in ``pymeld --help``)."""
    return Parser(**kwargs)
