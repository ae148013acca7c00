"""Command line: ``pymeld inspect``, ``roundtrip``, ``fuse`` and ``verify``.

Error policy lives in one place, :func:`main`, so every command gets it for free:

* :class:`PymeldError` (bad input, unsupported feature, I/O problem) → one line
  ``pymeld: error: <message>`` on stderr, exit 1;
* usage errors (:class:`UsageError`, and whatever the parser rejects) → one line, exit 2;
* anything else is a pymeld bug → one line ``pymeld: internal error: ...``, exit 70;
* ``--debug`` (or ``PYMELD_DEBUG=1``) re-raises instead, with the full traceback.

The parser is the standard library's `argparse`: ``click`` cost ~11 ms of a small fuse's start-up
(issue 12; it loads ``uuid``, ``platform``, ``datetime`` and more), argparse ~2 ms, most of which
pymeld loads anyway.

Adding a command: decorate a function with ``@command`` and its parameters with ``@option`` /
``@argument`` (`argparse.ArgumentParser.add_argument`'s arguments; the function gets each by its
``dest``), take inputs with ``@input_argument()`` / outputs with ``@output_option``, read with
:func:`read_input`, do the work inside ``with progress("...")`` and write with
:func:`write_atomic`. Raise PymeldError for anything the user can fix, UsageError for a misused
command line; never print tracebacks or call ``sys.exit`` in a command.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from pymeld import __version__
from pymeld.errors import PymeldError, UnsupportedFeature
from pymeld.io import read_input, write_atomic

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: the CLI itself loads no `typing` (start-up)
if TYPE_CHECKING:
    import signal as _signal
    from contextlib import AbstractContextManager
    from typing import Any, NoReturn, TypeVar

    from pymeld.fuse import DwarfPolicy, FuseOptions, MemoryStrategy

    F = TypeVar("F", bound=Callable[..., Any])
else:  # `signal` is `_signal` and enum classes for its constants (~0.5 ms of start-up)
    import _signal

__all__ = [
    "UsageError",
    "argument",
    "command",
    "input_argument",
    "main",
    "option",
    "output_option",
    "parser",
    "progress",
]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in pymeld, not in the input
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM

_state: dict[str, Any] = {"debug": bool(os.environ.get("PYMELD_DEBUG"))}


class _Terminated(BaseException):
    """SIGTERM as an exception, so `finally` and context managers (temp files) run."""


class UsageError(Exception):
    """The command line is wrong (exit 2); ``prog`` is the command whose ``--help`` to see."""

    def __init__(self, message: str, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


def _err(line: str) -> None:
    print(f"pymeld: {line}", file=sys.stderr)


# -- shared building blocks for commands -------------------------------------------------------
#: Each command's function by name, in the order the commands are listed.
_COMMANDS: dict[str, Callable[..., None]] = {}
#: Each command function's parameters: ``add_argument``'s (names, keywords), in source order.
_PARAMS: dict[Callable[..., None], list[tuple[tuple[str, ...], dict[str, Any]]]] = {}


def command(f: F) -> F:
    """Make ``f`` the command named like it (``_`` → ``-``); its docstring is its help, the
    first paragraph also its line in ``pymeld --help``."""
    _COMMANDS[f.__name__.replace("_", "-")] = f
    _PARAMS.setdefault(f, [])
    return f


def option(*names: str, show_default: bool | str = False, **kwargs: Any) -> Callable[[F], F]:
    """An ``add_argument(*names, **kwargs)`` of the decorated command; ``show_default`` appends
    ``[default: ...]`` to the help (the default value, or the text given)."""
    if show_default:
        shown = kwargs["default"] if show_default is True else show_default
        kwargs["help"] = f"{kwargs['help']} [default: {shown}]"
    if "help" in kwargs and kwargs["help"] is not argparse.SUPPRESS:
        kwargs["help"] = kwargs["help"].replace("%", "%%")  # argparse formats help with `%`

    def decorate(f: F) -> F:
        _PARAMS.setdefault(f, []).insert(0, (names, kwargs))  # decorators apply bottom-up
        return f

    return decorate


argument = option


def input_argument(
    name: str = "input", *, nargs: str | None = None, help: str = "Input file."
) -> Callable[[F], F]:
    """A path argument; existence is checked by :func:`read_input` (one-line error, exit 1)."""
    return argument(name, metavar=name.upper(), nargs=nargs, help=help)


def output_option(f: F) -> F:
    """``-o/--output PATH`` (required), written atomically by the command."""
    return option(
        "-o",
        "--output",
        required=True,
        metavar="PATH",
        help="Output file (written atomically: complete or not at all).",
    )(f)


class _Toggle(argparse.Action):
    """``--name/--no-name``: one flag and its negation, the last one given wins."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        setattr(namespace, self.dest, not str(option_string).startswith("--no-"))


class _SideEffect(argparse.Action):
    """A flag that acts when given and leaves nothing in the parsed namespace."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, argparse.SUPPRESS, nargs=0, default=argparse.SUPPRESS,
                         **kwargs)  # fmt: skip


class _Verbose(_SideEffect):
    """``-v/--verbose``: remembered in `_state`, wherever on the command line it is."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        _state["verbose"] = True


class _Version(_SideEffect):
    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        print(f"pymeld {__version__}")
        raise SystemExit(0)


def _verbose_option(f: F) -> F:
    """``-v/--verbose`` (meld's spelling), accepted before or after the command name."""
    return option(
        "-v",
        "--verbose",
        action=_Verbose,
        help=_VERBOSE_HELP,
    )(f)


_VERBOSE_HELP = "Log each stage on stderr as it starts, with the elapsed time."


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not in the range x>0")
    return value


class _Formatter(argparse.HelpFormatter):
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


class _Parser(argparse.ArgumentParser):
    """Raises :class:`UsageError` where argparse would print the usage and exit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(add_help=False, allow_abbrev=False)
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self._optionals.title = "Options"
        self._positionals.title = "Arguments"
        self.add_argument("-h", "--help", action="help", help="Show this message and exit.")

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)

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
        if args is None or self.usage is not None or any(map(_may_ask_help, args)):
            return super().parse_known_intermixed_args(args, namespace)
        self.usage = _UNSHOWN_USAGE
        try:
            return super().parse_known_intermixed_args(args, namespace)
        finally:
            self.usage = None

    #: The help's width; argparse's own formatters ask the terminal (loading `shutil`, with
    #: ``bz2`` and ``lzma``: ~2 ms) at every ``add_argument``, where the width is never used.
    _width = 78

    def _get_formatter(self) -> argparse.HelpFormatter:
        return _Formatter(prog=self.prog, width=self._width)

    def format_help(self) -> str:
        import shutil

        self._width = shutil.get_terminal_size().columns - 2  # as argparse's
        return super().format_help()


#: `_Parser.usage` while a parse that cannot show it runs.
_UNSHOWN_USAGE = "(not shown)"


def _may_ask_help(arg: str) -> bool:
    """Whether ``arg`` may be ``-h``/``--help``, alone or among combined short flags."""
    return arg[:1] == "-" and "h" in arg


def _command_parser(name: str, make: Callable[..., _Parser] = _Parser) -> _Parser:
    """Command ``name``'s parser, made by ``make`` (a sub-parser in ``pymeld --help``'s list)."""
    f = _COMMANDS[name]
    doc = f.__doc__ or ""
    summary = " ".join(doc.split("\n\n")[0].split())
    p = make(name, prog=f"pymeld {name}", help=summary, description=doc)
    for names, kwargs in _PARAMS[f]:
        p.add_argument(*names, **kwargs)
    return p


def parser() -> tuple[_Parser, dict[str, _Parser]]:
    """The ``pymeld`` parser (its options, and the commands for its help) and each command's."""
    top = _Parser(prog="pymeld", description=_DESCRIPTION)
    top.add_argument("-V", "--version", action=_Version, help="Show the version and exit.")
    top.add_argument("--debug", action="store_true", help="Show full tracebacks on errors.")
    top.add_argument(
        "-q", "--quiet", action="store_true", help="No progress display and no summary line."
    )
    top.add_argument("-v", "--verbose", action=_Verbose, help=_VERBOSE_HELP)
    subs = top.add_subparsers(title="Commands", metavar="COMMAND", parser_class=_Parser)
    return top, {name: _command_parser(name, subs.add_parser) for name in _COMMANDS}


_DESCRIPTION = "Static WebAssembly component fusion: a composition in, one core module out."


def progress(label: str) -> AbstractContextManager[Callable[[str], None]]:
    """Show ``label``, the current stage and the elapsed time on an interactive stderr; ``with``
    gives ``update(stage)``.

    Only on a TTY: in CI logs, pipes and tests the output stays byte-for-byte quiet. With
    ``-v`` each new stage is also logged as a line (any stderr), with the time it started.
    Off a TTY nothing but that log is needed (`_Quiet`): `contextlib`, with which the display
    is made, stays unloaded (~2.9 M instructions of a small fuse).
    """
    t0 = time.monotonic()
    last = [""]

    def log(stage: str) -> None:
        head = stage.split(":", 1)[0]  # "verify: export 1/3 ..." logs once, as "verify"
        if _state.get("verbose") and head != last[0]:
            last[0] = head
            _err(f"{label}: {head} (at {time.monotonic() - t0:.2f} s)")

    if not sys.stderr.isatty() or _state.get("quiet"):
        return _Quiet(log)
    return _live_progress(label, t0, log)


class _Quiet:
    """`progress` off a TTY: ``with`` gives the stage logger and does nothing else."""

    __slots__ = ("log",)

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log

    def __enter__(self) -> Callable[[str], None]:
        return self.log

    def __exit__(self, *exc: object) -> None:
        return None


def _live_progress(
    label: str, t0: float, log: Callable[[str], None]
) -> AbstractContextManager[Callable[[str], None]]:
    """`progress` on a TTY: a rich live line (spinner, elapsed time, label and stage)."""
    import contextlib

    from rich.console import Console
    from rich.live import Live
    from rich.spinner import Spinner
    from rich.text import Text

    current = [""]

    spinner = Spinner("dots", style="status.spinner")

    class _Line:
        """Re-rendered at every refresh, so the spinner turns and the elapsed time moves."""

        def __rich__(self) -> Text:
            now = time.monotonic()
            stage = f": {current[0]}" if current[0] else ""
            frame = spinner.render(now)
            assert isinstance(frame, Text)
            # time first: a narrow terminal crops the end of the line, not the clock
            return Text.assemble(frame, f" {now - t0:.1f} s  {label}{stage}…", no_wrap=True)

    @contextlib.contextmanager
    def live_line() -> Iterator[Callable[[str], None]]:
        with Live(_Line(), console=Console(stderr=True), transient=True) as live:

            def update(stage: str) -> None:
                new_stage = stage.split(", call ")[0] != current[0].split(", call ")[0]
                log(stage)
                current[0] = stage
                if new_stage:  # a stage or export shows at once, however short; calls at refreshes
                    live.refresh()

            yield update

    return live_line()


def _console(*, stderr: bool = False) -> Any:
    """A rich console that wraps at the terminal's width, and not at all into a pipe or file."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else _PIPE_WIDTH)


#: The width rich output has in a pipe or file: wide enough not to wrap lines there.
_PIPE_WIDTH = 10_000


# -- the commands ------------------------------------------------------------------------------
@command
def version() -> None:
    """Print the version (meld's `meld version`; same as `pymeld --version`)."""
    print(f"pymeld {__version__}")


@command
@input_argument()
@option(
    "--json", dest="as_json", action="store_true", help="Machine-readable JSON instead of a tree."
)
@option(
    "--graph",
    choices=["dot"],
    help="Print a Graphviz graph instead: composition wiring, or provenance of a fused output.",
)
@option(
    "--collapse",
    action="store_true",
    help="With --graph dot on a composition: one node per component, not per core module.",
)
@option("--interfaces", action="store_true", help="Only list the import and export names.")
@option(
    "--types",
    dest="counts",
    action="store_true",
    help="Only print per-core-module counts (types, funcs...).",
)
def inspect(
    input: str,
    as_json: bool,
    graph: str | None,
    collapse: bool,
    interfaces: bool,
    counts: bool,
) -> None:
    """Show the structure of a component (nesting, instances, imports/exports) or core module.

    A fused output's ``pymeld.attestation`` is shown and verified: its recorded code hash is
    recomputed from the file. A mismatch exits with status 1.
    """
    import json

    from pymeld import api
    from pymeld.emit.attestation import find_attestations

    chosen = [
        flag
        for flag, on in (
            ("--json", as_json),
            ("--graph", graph is not None),
            ("--interfaces/--types", interfaces or counts),
        )
        if on
    ]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)} choose different outputs; use one")
    if collapse and graph is None:
        raise UsageError("--collapse needs --graph dot")
    data = read_input(input)
    with progress(f"parsing {input}"):
        tree = api.decode(data, file=input)
        attestations = find_attestations(data, file=input)
        if api.is_component(data):
            from pymeld.inspect import inspect_tree, kept_boundaries

            info = inspect_tree(tree)
            kept = kept_boundaries(tree)
            if kept is not None:
                info["kept_async_boundaries"] = kept
        else:
            info = _core_module_info(tree)
        info.update(file=input, size=len(data))
    if interfaces or counts:
        for line in (_interfaces(tree) if interfaces else []) + (_counts(tree) if counts else []):
            print(line)
    elif graph == "dot":
        print(_graph_dot(tree, data, attestations, input, collapse), end="")
    elif as_json:
        info["attestations"] = [
            {
                "where": a.where,
                "verified": a.ok,
                "actual_code_sha256": a.actual,
                "error": a.error,
                "record": a.record,
            }
            for a in attestations
        ]
        print(json.dumps(info, indent=2, default=str, ensure_ascii=False))
    else:
        if api.is_component(data):
            from pymeld.inspect import info_tree, kept_boundaries_lines, rich_tree, tree_lines

            title = f"{input} ({len(data)} bytes)"
            lines = None
            if not sys.stdout.isatty():  # what rich prints there, without loading rich
                encoding = (getattr(sys.stdout, "encoding", None) or "utf-8").lower()
                lines = tree_lines(
                    info_tree(info, title), ascii_only=not encoding.startswith("utf")
                )
            if lines is not None:
                print("\n".join(lines))
            else:
                _console().print(rich_tree(info, title=title))
            if "kept_async_boundaries" in info:
                for line in kept_boundaries_lines(info["kept_async_boundaries"]):
                    print(line)
        else:
            _print_core_module(info)
        for a in attestations:
            _print_attestation(a)
    bad = [a for a in attestations if not a.ok]
    if bad:
        raise PymeldError(
            f"{input}: attestation does not match ({bad[0].where}): "
            f"{bad[0].error or f'recorded {bad[0].recorded}, actual {bad[0].actual}'}"
        )


def _core_module_info(m: Any) -> dict[str, Any]:
    """The few facts about a core module a user checks first: its interface and its size."""
    return {
        "kind": "core module",
        "imports": [
            {"module": i.module, "name": i.name, "kind": i.kind.name.lower()} for i in m.imports
        ],
        "exports": [
            {"name": e.name, "kind": e.kind.name.lower(), "index": e.index} for e in m.exports
        ],
        "counts": {
            "types": sum(len(g.types) for g in m.types),
            "functions": m.num_funcs(),
            "tables": m.num_tables(),
            "memories": m.num_memories(),
            "globals": m.num_globals(),
            "tags": m.num_tags(),
            "elem segments": len(m.elems),
            "data segments": len(m.datas),
            "custom sections": len(m.customs),
            "code bytes": sum(len(c.body) for c in m.codes),
        },
        "start": m.start,
    }


def _print_core_module(info: dict[str, Any]) -> None:
    print(f"{info['file']} ({info['size']} bytes): core module")
    print("  " + ", ".join(f"{v} {k}" for k, v in info["counts"].items()))
    for i in info["imports"]:
        print(f"  import {i['kind']} {i['module']!r} {i['name']!r}")
    for e in info["exports"]:
        print(f"  export {e['kind']} {e['name']!r} = {e['kind']} {e['index']}")
    if info["start"] is not None:
        print(f"  start func {info['start']}")


def _print_attestation(a: Any) -> None:
    import json

    status = "VERIFIED" if a.ok else "MISMATCH"
    print(f"pymeld.attestation in the {a.where}: code hash {status}")
    if a.error:
        print(f"  error: {a.error}")
    rec = a.record or {}
    tool = rec.get("tool", {})
    print(f"  tool: {tool.get('name')} {tool.get('version')}")
    print(f"  options: {json.dumps(rec.get('options', {}), sort_keys=True)}")
    for i in rec.get("inputs", []):
        print(f"  input: {i.get('name')} ({i.get('size')} bytes) sha256 {i.get('sha256')}")
    print(f"  components fused: {', '.join(rec.get('components', []))}")
    print(f"  module instances: {', '.join(rec.get('module_instances', []))}")
    print(f"  adapters: {rec.get('adapters')}")
    print(f"  code sha256 recorded: {a.recorded}")
    print(f"  code sha256 actual:   {a.actual}")


def _graph_dot(
    tree: Any, data: bytes, attestations: list[Any], file: str, collapse: bool = False
) -> str:
    from pathlib import Path

    from pymeld import api
    from pymeld.emit.dot import composition_dot, fused_dot

    title = Path(file).name
    if attestations or not api.is_component(data):
        if collapse:
            raise PymeldError(
                f"{file}: --collapse draws a composition's components; this is a fused output"
            )
        module = tree
        if api.is_component(data):  # the fused core module inside a --component output
            from pymeld.emit.attestation import SECTION

            module = next(
                s.module
                for s in api.core_module_sections(tree)
                if any(c.name == SECTION for c in s.module.customs)
            )
        return fused_dot(module, attestations, title)
    from pymeld.graph.flatten import flatten

    return composition_dot(flatten(tree), title, components_only=collapse)


@command
@input_argument(help="A component or a core module.")
@output_option
@option(
    "--check", action="store_true", help="Fail unless the output is byte-identical to the input."
)
@option("--force", action="store_true", help="Allow -o to name the input (replacing it).")
def roundtrip(input: str, output: str, check: bool, force: bool) -> None:
    """Decode and re-encode INPUT (developer tool: the identity transform for the oracle)."""
    from pymeld import api

    _refuse_overwriting_input(output, (input,), force)
    data = read_input(input)
    with progress(f"round-tripping {input}"):
        out = api.roundtrip(data, file=input)
    if check and out != data:
        at = next(
            (i for i, (a, b) in enumerate(zip(data, out)) if a != b), min(len(data), len(out))
        )
        raise PymeldError(
            f"{input}: re-encoding is not byte-identical "
            f"({len(data)} -> {len(out)} bytes, first difference at offset 0x{at:x})"
        )
    write_atomic(output, out)


def _refuse_overwriting_input(output: str, inputs: tuple[str, ...], force: bool) -> None:
    """`-o` naming an input would silently destroy it: a usage error unless ``--force``."""
    if force or not os.path.exists(output):
        return
    for path in inputs:
        try:
            same = os.path.samefile(output, path)
        except OSError:
            continue
        if same:
            raise UsageError(f"-o {output} is also an input; pass --force to replace it")


@command
@input_argument(
    "inputs", nargs="+", help="Composed component(s); several are composed by name first."
)
@output_option
@option(
    "--component",
    dest="as_component",
    action="store_true",
    help="Wrap the fused core module as a single-module component with the original interface.",
)
@option(
    "--preserve-names",
    action="store_true",
    help="Emit a merged `name` section: every function named `<module instance>::<name>`.",
)
@option(
    "--dwarf",
    choices=["remap", "strip", "passthrough"],
    help="DWARF of the inputs: remap its code addresses onto the fused code (default), strip "
    "it, or pass it through verbatim (addresses NOT remapped).",
)
@option("--keep-dwarf", action="store_true", help="Alias of --dwarf passthrough.")
@option(
    "--no-attestation",
    action="store_true",
    help="Leave out the `pymeld.attestation` custom section.",
)
@option(
    "--validate",
    "--no-validate",
    action=_Toggle,
    default=False,
    help="Validate the output with wasmtime before writing (--no-validate, meld's spelling, "
    "is the default).",
)
@option(
    "--verify",
    dest="run_verify",
    action="store_true",
    help="Run every export of the input and the output side by side before writing (wasmtime).",
)
@option(
    "--timeout",
    type=_positive_seconds,
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="With --verify: how long one call may run (longer on the input: not checked).",
)
@option(
    "--memory",
    choices=["multi", "shared", "auto"],
    default="multi",
    show_default=True,
    help="multi: one memory per module-instance memory; shared: one memory; auto: shared "
    "when provably sound, else multi (--stats says why).",
)
@option(
    "--address-rebase",
    action="store_true",
    help="With --memory shared: each memory gets its own region; every access is translated.",
)
@option(
    "--opaque-rep",
    action="append",
    default=[],
    metavar="IFACE.RESOURCE",
    help="Resource whose rep is an opaque integer (repeatable). pymeld never reads reps; the "
    "name is checked against the composition and recorded in the attestation.",
)
@option(
    "--keep-async-boundaries",
    action="store_true",
    help="Where a call between component instances cannot be fused (async), keep it as a real "
    "component boundary: one fused core module per cluster, nested components (implies "
    "--component; not fully fused). Changes nothing when everything fuses.",
)
@option(
    "--simd",
    "--no-simd",
    action=_Toggle,
    default=True,
    show_default="--simd",
    help="Let generated adapters use WebAssembly's 128-bit vector instructions (UTF-8 "
    "validation of strings); --no-simd keeps them out for engines without SIMD.",
)
@option(
    "--inline-adapters",
    "--no-inline-adapters",
    action=_Toggle,
    default=True,
    show_default="--inline-adapters",
    help="Put small generated adapters (and those called from one place) in place of their "
    "calls (faster cross-component calls); --no-inline-adapters keeps every adapter a function.",
)
@option(
    "--emit-import-map",
    metavar="PATH",
    help="Write the imports the output still has as JSON, in meld's schema (version 2).",
)
@option(
    "--explain",
    action="store_true",
    help="Print each adapter's boundary and where each memory went.",
)
@option(
    "--reproducible",
    action="store_true",
    help="Accepted for meld compatibility and ignored: pymeld's output is always "
    "byte-reproducible (no timestamps, no random ids).",
)
@option("--force", action="store_true", help="Allow -o to name an input (replacing it).")
@option("--stats", action="store_true", help="Print counts, sizes and time per stage.")
@option(
    "--stats-json",
    metavar="PATH",
    help="Write the statistics as JSON to PATH ('-' = stdout).",
)
@_verbose_option
def fuse(
    inputs: list[str],
    output: str,
    as_component: bool,
    preserve_names: bool,
    dwarf: DwarfPolicy | None,
    keep_dwarf: bool,
    no_attestation: bool,
    validate: bool,
    run_verify: bool,
    timeout: float,
    memory: MemoryStrategy,
    address_rebase: bool,
    opaque_rep: list[str],
    keep_async_boundaries: bool,
    simd: bool,
    inline_adapters: bool,
    emit_import_map: str | None,
    explain: bool,
    reproducible: bool,
    force: bool,
    stats: bool,
    stats_json: str | None,
) -> None:
    """Fuse a composed component into one core module (or, with --component, a component).

    Several INPUTS are first composed by name; the output keeps the first input's exports.
    """
    from pymeld.fuse import FuseOptions, fuse_files

    if address_rebase and memory == "multi":
        raise UsageError("--address-rebase needs --memory shared or auto")
    if keep_dwarf and dwarf not in (None, "passthrough"):
        raise UsageError(f"--keep-dwarf is --dwarf passthrough; it contradicts --dwarf {dwarf}")
    _refuse_overwriting_input(output, tuple(inputs), force)
    options = FuseOptions(
        component=as_component or keep_async_boundaries,
        preserve_names=preserve_names,
        dwarf=dwarf or ("passthrough" if keep_dwarf else "remap"),
        attestation=not no_attestation,
        validate=validate,
        verify=run_verify,
        verify_timeout=timeout,
        memory=memory,
        address_rebase=address_rebase,
        opaque_rep=tuple(opaque_rep),
        keep_async_boundaries=keep_async_boundaries,
        simd=simd,
        inline_adapters=inline_adapters,
    )
    files = [(path, read_input(path)) for path in inputs]
    with progress(f"fusing {', '.join(inputs)}") as update:
        try:
            result = fuse_files(files, options=options, on_stage=update)
        except UnsupportedFeature as e:
            if keep_async_boundaries:
                raise
            hint = _keep_boundaries_hint(files, options, update)
            if hint is None:
                raise
            raise UnsupportedFeature(f"{e.args[0]} (hint: {hint})") from None
    write_atomic(output, result.output)
    _warn_host_handovers(result.stats)
    if emit_import_map is not None or stats_json is not None:
        import json  # here: a plain fuse writes no JSON file (start-up, issue 12)
    if emit_import_map is not None:
        text = json.dumps(result.import_map, indent=2, sort_keys=True) + "\n"
        write_atomic(emit_import_map, text.encode())
    if explain:
        for line in result.explain:
            print(line, file=sys.stderr)
    if stats:
        _print_stats(result.stats)
    elif (validate or run_verify) and not _state.get("quiet"):
        _err(_summary(output, result.stats, validate, run_verify))
    if stats_json is not None:
        text = json.dumps(result.stats, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        if stats_json == "-":
            print(text, end="")
        else:
            write_atomic(stats_json, text.encode())


def _keep_boundaries_hint(
    files: list[tuple[str, bytes]], options: FuseOptions, update: Callable[[str], None]
) -> str | None:
    """What ``--keep-async-boundaries`` would do with a refused composition, if it fuses then.

    A refusal is most often an async call between component instances that fusion cannot
    carry yet; the user should learn from the error that the flag would give a working (not
    fully fused) output, and at what cost. Tried only on this error path, without checks.
    """
    from dataclasses import replace

    from pymeld.fuse import fuse_files

    update("refused; trying --keep-async-boundaries")
    trial = replace(
        options, component=True, keep_async_boundaries=True, validate=False, verify=False
    )
    from pymeld.codec.component.parse import parse_component
    from pymeld.inspect import kept_boundaries

    try:
        output = fuse_files(files, options=trial, on_stage=update).output
    except PymeldError:
        return None
    # the output's own record (`pymeld.clusters`): the `kept_boundaries` line of the stats
    # joins the edges with "; ", which a refusal's reason may hold too
    record = kept_boundaries(parse_component(output))
    if record is None:
        return None
    edges = len(record["kept_edges"])
    what = "a call edge" if edges == 1 else f"{edges} call edges"
    return (
        f"--keep-async-boundaries fuses it: {len(record['clusters'])} clusters, {what} between "
        "component instances kept as component boundaries; the output is a component, not "
        "fully fused"
    )


def _warn_host_handovers(stats: dict[str, Any]) -> None:
    """Say at build time where the output may refuse at run time what the original does: a
    stream/future end handed to or taken from the host beside in-module tasks is shared with
    the runtime, and a copy through it left waiting for the host traps (README, async)."""
    from pymeld.merge.merger import HOST_HANDOVERS  # loaded by the fusion already

    where = stats.get(HOST_HANDOVERS)
    if where:  # not a progress display or a summary line: ``-q`` keeps it
        _err(
            f"warning: stream/future ends cross the host boundary at {', '.join(where)}: "
            "a copy there left waiting for the host traps (refused at run time); "
            "--keep-async-boundaries keeps a component boundary there instead"
        )


def _summary(output: str, stats: dict[str, Any], validated: bool, verified: bool) -> str:
    """The one line that says a requested check ran and passed (silence would not say so)."""
    parts = [f"wrote {output} ({stats.get('bytes_out')} bytes)"]
    if validated:
        parts.append("valid (wasmtime)")
    if verified:
        line = (
            f"verified: {stats.get('verified_exports')} exports agree "
            f"over {stats.get('verified_calls')} calls"
        )
        if stats.get("verify_timeouts"):
            line += f"; not checked (timeout): {stats['verify_timeouts']}"
        parts.append(line)
    return "; ".join(parts)


@command
@input_argument("original", help="The component as composed.")
@input_argument("fused", help="pymeld's output from it (a component or a core module).")
@option("--seed", type=int, default=0, show_default=True, help="Argument generator seed.")
@option("--calls", type=int, default=24, show_default=True, help="Calls per export.")
@option(
    "--timeout",
    type=_positive_seconds,
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="How long one call may run; longer on ORIGINAL: not checked (timeout), longer on "
    "FUSED only: a difference.",
)
def verify(original: str, fused: str, seed: int, calls: int, timeout: float) -> None:
    """Differential test: call every export of ORIGINAL and FUSED with generated arguments.

    Exits 1 if any export behaves differently (result, trap, stdout/stderr); exports that
    cannot be exercised from outside (resources, missing imports, a call that does not finish
    within --timeout on ORIGINAL) are listed as not checked. A core-module FUSED is wrapped
    as `fuse --component` would wrap it.
    """
    from pymeld import api
    from pymeld.verify import verify as run

    a, b = read_input(original), read_input(fused)
    with progress(f"verifying {fused}") as update:
        if not api.is_component(b) and b[:4] == b"\0asm":
            from pymeld.fuse import wrap_fused_core

            update("wrapping the core module as a component")
            b = wrap_fused_core(a, b, file=original)
        report = run(a, b, seed=seed, calls=calls, timeout=timeout, on_progress=lambda s: update(s))
    for line in report.lines():
        print(line)
    if not report.ok:
        raise PymeldError(f"{fused} does not behave like {original}")


def _interfaces(tree: Any) -> list[str]:
    """`import`/`export` lines: sort and name (component) or kind, module and name (core)."""
    from pymeld.codec.component import model as cm

    if isinstance(tree, cm.Component):
        return [f"import {cm.sort_name(i.desc.sort)} {i.name.name}" for i in tree.imports] + [
            f"export {cm.sort_name(e.sort)} {e.name.name}" for e in tree.exports
        ]
    return [f"import {i.kind.name.lower()} {i.module} {i.name}" for i in tree.imports] + [
        f"export {e.kind.name.lower()} {e.name}" for e in tree.exports
    ]


def _counts(tree: Any) -> list[str]:
    """One line per core module (nested ones in binary order) with its index-space sizes."""
    from pymeld import api
    from pymeld.codec.component import model as cm

    modules = (
        [s.module for s in api.core_module_sections(tree)]
        if isinstance(tree, cm.Component)
        else [tree]
    )
    return [
        f"core module {k}: {len(m.subtypes())} types, {len(m.imports)} imports, "
        f"{m.num_funcs()} funcs, {m.num_tables()} tables, {m.num_memories()} memories, "
        f"{m.num_globals()} globals, {len(m.exports)} exports, {len(m.codes)} bodies"
        for k, m in enumerate(modules)
    ]


def _print_stats(stats: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="pymeld fuse", show_header=False)
    for key, value in stats.items():
        if key == "times":
            for stage, secs in value.items():
                table.add_row(f"time: {stage}", f"{secs * 1000:.1f} ms")
        elif isinstance(value, list):
            table.add_row(key.replace("_", " "), ", ".join(map(str, value)))
        else:
            table.add_row(key.replace("_", " "), str(value))
    _console(stderr=True).print(table)


# -- entry point -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry: run the command and map every failure to one line + exit code."""
    args = sys.argv[1:] if argv is None else argv
    if "--debug" in args:  # before parsing, so even usage-level failures can be debugged
        _state["debug"] = True
    _state["verbose"] = False
    code = 0
    previous = _on_sigterm()
    try:
        _run(args)
    except SystemExit as e:  # --help, --version
        code = e.code if isinstance(e.code, int) else 0
    except UsageError as e:
        hint = f" (see '{e.prog} --help')" if e.prog else ""
        _err(f"error: {_one_line(str(e))}{hint}")
        code = EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted")
        code = EXIT_INTERRUPTED
    except _Terminated:
        _err("terminated")
        code = EXIT_TERMINATED
    except PymeldError as e:
        if _state["debug"]:
            import traceback

            traceback.print_exc()
        _err(f"error: {_one_line(str(e))}")
        code = EXIT_ERROR
    except BrokenPipeError:  # `pymeld inspect x | head`
        import contextlib  # (an error path: not loaded by a run that succeeds)

        with contextlib.suppress(OSError):
            sys.stderr.close()
        code = EXIT_ERROR
    except Exception as e:  # a bug: say so in one line; --debug shows where
        if _state["debug"]:
            import traceback

            traceback.print_exc()
        _err(
            f"internal error: {type(e).__name__}: {_one_line(str(e))}"
            " (this is a pymeld bug; rerun with --debug for a traceback)"
        )
        code = EXIT_INTERNAL
    finally:
        if previous is not None:
            _signal.signal(_signal.SIGTERM, previous)
    sys.exit(code)


def _run(args: list[str]) -> None:
    """Parse ``pymeld [OPTIONS] COMMAND [ARGS]...`` and run the command.

    The options before the command name go to ``pymeld``'s parser, the rest to the command's,
    which takes options and arguments in any order (`parse_intermixed_args`: ``fuse a.wasm -o
    out.wasm b.wasm``), as click did; argparse's own sub-commands would not.
    """
    if not args:  # plain `pymeld`: the help, as asked for, not a usage error
        parser()[0].print_help()
        return
    at = next((i for i, a in enumerate(args) if not a.startswith("-") or a == "-"), len(args))
    _state["quiet"] = False
    if at:  # only then is ``pymeld``'s parser made: the usual run makes just its command's
        opts = parser()[0].parse_args(args[:at])
        _state["debug"] = _state["debug"] or opts.debug
        _state["quiet"] = opts.quiet
    if at == len(args):
        raise UsageError("missing command", "pymeld")
    name = args[at]
    if name not in _COMMANDS:
        raise UsageError(f"no such command {name!r} (choose from {', '.join(_COMMANDS)})", "pymeld")
    ns = _command_parser(name, _sub_parser).parse_intermixed_args(args[at + 1 :])
    _COMMANDS[name](**vars(ns))


def _sub_parser(name: str, help: str, **kwargs: Any) -> _Parser:
    """A command's parser on its own (``help`` is its line in ``pymeld --help``)."""
    return _Parser(**kwargs)


def _on_sigterm() -> Any:
    """Turn SIGTERM into :class:`_Terminated` (main thread only), so temp files go with us."""

    def terminated(_signum: int, _frame: object) -> None:
        raise _Terminated

    try:
        return _signal.signal(_signal.SIGTERM, terminated)
    except (ValueError, OSError, AttributeError):  # not the main thread, or no signals here
        return None


def _one_line(msg: str) -> str:
    return " ".join(msg.split()) or "(no message)"


if __name__ == "__main__":
    main()
