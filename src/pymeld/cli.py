"""Command line: ``pymeld inspect``, ``roundtrip``, ``fuse`` and ``verify``.

Error policy lives in one place, :func:`main`, so every command gets it for free:

* :class:`PymeldError` (bad input, unsupported feature, I/O problem) → one line
  ``pymeld: error: <message>`` on stderr, exit 1;
* usage errors → one line, exit 2;
* anything else is a pymeld bug → one line ``pymeld: internal error: ...``, exit 70;
* ``--debug`` (or ``PYMELD_DEBUG=1``) re-raises instead, with the full traceback.

Adding a command: decorate a function with ``@cli.command()``, take inputs with
``@input_argument`` / outputs with ``@output_option``, read with :func:`read_input`, do the work
inside ``with progress("...")`` and write with :func:`write_atomic`. Raise PymeldError for
anything the user can fix; never print tracebacks or call ``sys.exit`` in a command.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar, cast

import click

from pymeld import __version__, api
from pymeld.errors import PymeldError
from pymeld.io import read_input, write_atomic

__all__ = ["cli", "input_argument", "main", "output_option", "progress"]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in pymeld, not in the input
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM

_state = {"debug": bool(os.environ.get("PYMELD_DEBUG"))}


class _Terminated(BaseException):
    """SIGTERM as an exception, so `finally` and context managers (temp files) run."""


def _err(line: str) -> None:
    click.echo(f"pymeld: {line}", err=True)


# -- shared building blocks for commands -------------------------------------------------------
class _Option(click.Option):
    """``click.Option`` keeping its help text as written: click's own dedents it with
    `inspect.cleandoc` as the option is made, which loads `inspect` (with `ast` and `dis`, ~4 ms)
    in every run; ``pymeld.__main__`` defers that module until something reads it (``--help``
    does). The help texts here are dedented already (`tests/cli/test_startup_exit.py`)."""

    def __init__(self, *args: Any, help: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = help


def option(*param_decls: str, **attrs: Any) -> Callable[[F], F]:
    """``click.option`` making an `_Option`."""
    return click.option(*param_decls, cls=_Option, **attrs)


class _Command(click.Command):
    """A command whose ``-h/--help`` is an `_Option` (click makes its own with
    ``click.Option``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["add_help_option"] = False
        super().__init__(*args, **kwargs)
        click.help_option("-h", "--help", cls=_Option)(self)


class _Group(_Command, click.Group):
    command_class = _Command


def input_argument(name: str = "input", *, nargs: int = 1) -> Callable[[F], F]:
    """A path argument; existence is checked by :func:`read_input` (one-line error, exit 1)."""
    return click.argument(name, nargs=nargs, required=True, type=click.Path())


def output_option(f: F) -> F:
    """``-o/--output PATH`` (required), written atomically by the command."""
    return option(
        "-o",
        "--output",
        required=True,
        type=click.Path(),
        help="Output file (written atomically: complete or not at all).",
    )(f)


@contextlib.contextmanager
def progress(label: str) -> Iterator[Callable[[str], None]]:
    """Show ``label``, the current stage and the elapsed time on an interactive stderr; yields
    ``update(stage)``.

    Only on a TTY: in CI logs, pipes and tests the output stays byte-for-byte quiet. With
    ``-v`` each new stage is also logged as a line (any stderr), with the time it started.
    """
    t0 = time.monotonic()
    last = [""]

    def log(stage: str) -> None:
        head = stage.split(":", 1)[0]  # "verify: export 1/3 ..." logs once, as "verify"
        if _state.get("verbose") and head != last[0]:
            last[0] = head
            _err(f"{label}: {head} (at {time.monotonic() - t0:.2f} s)")

    if not sys.stderr.isatty() or _state.get("quiet"):
        yield log
        return
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

    with Live(_Line(), console=Console(stderr=True), transient=True) as live:

        def update(stage: str) -> None:
            new_stage = stage.split(", call ")[0] != current[0].split(", call ")[0]
            log(stage)
            current[0] = stage
            if new_stage:  # a stage or export shows at once, however short; calls at refreshes
                live.refresh()

        yield update


def _console(*, stderr: bool = False) -> Any:
    """A rich console that wraps at the terminal's width, and not at all into a pipe or file."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else _PIPE_WIDTH)


#: The width rich output has in a pipe or file: wide enough not to wrap lines there.
_PIPE_WIDTH = 10_000


# -- the command group -------------------------------------------------------------------------
def _verbose_option(f: F) -> F:
    """``-v/--verbose`` (meld's spelling), accepted before or after the command name."""

    def remember(_ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            _state["verbose"] = True
        return value

    return option(
        "-v",
        "--verbose",
        is_flag=True,
        expose_value=False,
        callback=remember,
        help="Log each stage on stderr as it starts, with the elapsed time.",
    )(f)


@click.group(cls=_Group)
@click.version_option(
    __version__,
    "-V",
    "--version",
    prog_name="pymeld",
    message="%(prog)s %(version)s",
    cls=_Option,
)
@option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@option("-q", "--quiet", is_flag=True, help="No progress display and no summary line.")
@_verbose_option
def cli(debug: bool, quiet: bool) -> None:
    """Static WebAssembly component fusion: a composition in, one core module out."""
    _state["debug"] = _state["debug"] or debug
    _state["quiet"] = quiet


@cli.command()
def version() -> None:
    """Print the version (meld's `meld version`; same as `pymeld --version`)."""
    click.echo(f"pymeld {__version__}")


@cli.command()
@input_argument()
@option("--json", "as_json", is_flag=True, help="Machine-readable JSON instead of a tree.")
@option(
    "--graph",
    type=click.Choice(["dot"]),
    help="Print a Graphviz graph instead: composition wiring, or provenance of a fused output.",
)
@option(
    "--collapse",
    is_flag=True,
    help="With --graph dot on a composition: one node per component, not per core module.",
)
@option("--interfaces", is_flag=True, help="Only list the import and export names.")
@option(
    "--types", "counts", is_flag=True, help="Only print per-core-module counts (types, funcs...)."
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
        raise click.UsageError(
            f"{' and '.join(chosen)} choose different outputs; use one",
            ctx=click.get_current_context(),
        )
    if collapse and graph is None:
        raise click.UsageError("--collapse needs --graph dot", ctx=click.get_current_context())
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
            click.echo(line)
    elif graph == "dot":
        click.echo(_graph_dot(tree, data, attestations, input, collapse), nl=False)
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
        click.echo(json.dumps(info, indent=2, default=str, ensure_ascii=False))
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
                click.echo("\n".join(lines))
            else:
                _console().print(rich_tree(info, title=title))
            if "kept_async_boundaries" in info:
                for line in kept_boundaries_lines(info["kept_async_boundaries"]):
                    click.echo(line)
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
    click.echo(f"{info['file']} ({info['size']} bytes): core module")
    click.echo("  " + ", ".join(f"{v} {k}" for k, v in info["counts"].items()))
    for i in info["imports"]:
        click.echo(f"  import {i['kind']} {i['module']!r} {i['name']!r}")
    for e in info["exports"]:
        click.echo(f"  export {e['kind']} {e['name']!r} = {e['kind']} {e['index']}")
    if info["start"] is not None:
        click.echo(f"  start func {info['start']}")


def _print_attestation(a: Any) -> None:
    import json

    status = "VERIFIED" if a.ok else "MISMATCH"
    click.echo(f"pymeld.attestation in the {a.where}: code hash {status}")
    if a.error:
        click.echo(f"  error: {a.error}")
    rec = a.record or {}
    tool = rec.get("tool", {})
    click.echo(f"  tool: {tool.get('name')} {tool.get('version')}")
    click.echo(f"  options: {json.dumps(rec.get('options', {}), sort_keys=True)}")
    for i in rec.get("inputs", []):
        click.echo(f"  input: {i.get('name')} ({i.get('size')} bytes) sha256 {i.get('sha256')}")
    click.echo(f"  components fused: {', '.join(rec.get('components', []))}")
    click.echo(f"  module instances: {', '.join(rec.get('module_instances', []))}")
    click.echo(f"  adapters: {rec.get('adapters')}")
    click.echo(f"  code sha256 recorded: {a.recorded}")
    click.echo(f"  code sha256 actual:   {a.actual}")


def _graph_dot(
    tree: Any, data: bytes, attestations: list[Any], file: str, collapse: bool = False
) -> str:
    from pathlib import Path

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


@cli.command()
@input_argument()
@output_option
@option("--check", is_flag=True, help="Fail unless the output is byte-identical to the input.")
@option("--force", is_flag=True, help="Allow -o to name the input (replacing it).")
def roundtrip(input: str, output: str, check: bool, force: bool) -> None:
    """Decode and re-encode INPUT (developer tool: the identity transform for the oracle)."""
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
        with contextlib.suppress(OSError):
            if os.path.samefile(output, path):
                raise click.UsageError(
                    f"-o {output} is also an input; pass --force to replace it",
                    ctx=click.get_current_context(),
                )


@cli.command()
@input_argument("inputs", nargs=-1)
@output_option
@option(
    "--component",
    "as_component",
    is_flag=True,
    help="Wrap the fused core module as a single-module component with the original interface.",
)
@option(
    "--preserve-names",
    is_flag=True,
    help="Emit a merged `name` section: every function named `<module instance>::<name>`.",
)
@option(
    "--dwarf",
    "dwarf",
    type=click.Choice(["remap", "strip", "passthrough"]),
    default=None,
    help="DWARF of the inputs: remap its code addresses onto the fused code (default), strip "
    "it, or pass it through verbatim (addresses NOT remapped).",
)
@option("--keep-dwarf", is_flag=True, help="Alias of --dwarf passthrough.")
@option("--no-attestation", is_flag=True, help="Leave out the `pymeld.attestation` custom section.")
@option(
    "--validate/--no-validate",
    default=False,
    help="Validate the output with wasmtime before writing (--no-validate, meld's spelling, "
    "is the default).",
)
@option(
    "--verify",
    "run_verify",
    is_flag=True,
    help="Run every export of the input and the output side by side before writing (wasmtime).",
)
@option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="With --verify: how long one call may run (longer on the input: not checked).",
)
@option(
    "--memory",
    type=click.Choice(["multi", "shared", "auto"]),
    default="multi",
    show_default=True,
    help="multi: one memory per module-instance memory; shared: one memory; auto: shared "
    "when provably sound, else multi (--stats says why).",
)
@option(
    "--address-rebase",
    is_flag=True,
    help="With --memory shared: each memory gets its own region; every access is translated.",
)
@option(
    "--opaque-rep",
    multiple=True,
    metavar="IFACE.RESOURCE",
    help="Resource whose rep is an opaque integer (repeatable). pymeld never reads reps; the "
    "name is checked against the composition and recorded in the attestation.",
)
@option(
    "--keep-async-boundaries",
    is_flag=True,
    help="Where a call between component instances cannot be fused (async), keep it as a real "
    "component boundary: one fused core module per cluster, nested components (implies "
    "--component; not fully fused). Changes nothing when everything fuses.",
)
@option(
    "--simd/--no-simd",
    default=True,
    show_default=True,
    help="Let generated adapters use WebAssembly's 128-bit vector instructions (UTF-8 "
    "validation of strings); --no-simd keeps them out for engines without SIMD.",
)
@option(
    "--emit-import-map",
    type=click.Path(),
    help="Write the imports the output still has as JSON, in meld's schema (version 2).",
)
@option("--explain", is_flag=True, help="Print each adapter's boundary and where each memory went.")
@option(
    "--reproducible",
    is_flag=True,
    help="Accepted for meld compatibility and ignored: pymeld's output is always "
    "byte-reproducible (no timestamps, no random ids).",
)
@option("--force", is_flag=True, help="Allow -o to name an input (replacing it).")
@option("--stats", is_flag=True, help="Print counts, sizes and time per stage.")
@option(
    "--stats-json",
    type=click.Path(allow_dash=True),
    help="Write the statistics as JSON to PATH ('-' = stdout).",
)
@_verbose_option
def fuse(
    inputs: tuple[str, ...],
    output: str,
    as_component: bool,
    preserve_names: bool,
    dwarf: str | None,
    keep_dwarf: bool,
    no_attestation: bool,
    validate: bool,
    run_verify: bool,
    timeout: float,
    memory: str,
    address_rebase: bool,
    opaque_rep: tuple[str, ...],
    keep_async_boundaries: bool,
    simd: bool,
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
    import json

    from pymeld.fuse import DwarfPolicy, FuseOptions, MemoryStrategy, fuse_files

    ctx = click.get_current_context()
    if address_rebase and memory == "multi":
        raise click.UsageError("--address-rebase needs --memory shared or auto", ctx=ctx)
    if keep_dwarf and dwarf not in (None, "passthrough"):
        raise click.UsageError(
            f"--keep-dwarf is --dwarf passthrough; it contradicts --dwarf {dwarf}", ctx=ctx
        )
    _refuse_overwriting_input(output, inputs, force)
    options = FuseOptions(
        component=as_component or keep_async_boundaries,
        preserve_names=preserve_names,
        dwarf=cast(DwarfPolicy, dwarf or ("passthrough" if keep_dwarf else "remap")),
        attestation=not no_attestation,
        validate=validate,
        verify=run_verify,
        verify_timeout=timeout,
        memory=cast(MemoryStrategy, memory),
        address_rebase=address_rebase,
        opaque_rep=opaque_rep,
        keep_async_boundaries=keep_async_boundaries,
        simd=simd,
    )
    files = [(path, read_input(path)) for path in inputs]
    with progress(f"fusing {', '.join(inputs)}") as update:
        result = fuse_files(files, options=options, on_stage=update)
    write_atomic(output, result.output)
    if emit_import_map is not None:
        text = json.dumps(result.import_map, indent=2, sort_keys=True) + "\n"
        write_atomic(emit_import_map, text.encode())
    if explain:
        for line in result.explain:
            click.echo(line, err=True)
    if stats:
        _print_stats(result.stats)
    elif (validate or run_verify) and not _state.get("quiet"):
        _err(_summary(output, result.stats, validate, run_verify))
    if stats_json is not None:
        text = json.dumps(result.stats, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        if stats_json == "-":
            click.echo(text, nl=False)
        else:
            write_atomic(stats_json, text.encode())


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


@cli.command()
@click.argument("original", type=click.Path())
@click.argument("fused", type=click.Path())
@option("--seed", type=int, default=0, show_default=True, help="Argument generator seed.")
@option("--calls", type=int, default=24, show_default=True, help="Calls per export.")
@option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
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
    from pymeld.verify import verify as run

    a, b = read_input(original), read_input(fused)
    with progress(f"verifying {fused}") as update:
        if not api.is_component(b) and b[:4] == b"\0asm":
            from pymeld.fuse import wrap_fused_core

            update("wrapping the core module as a component")
            b = wrap_fused_core(a, b, file=original)
        report = run(a, b, seed=seed, calls=calls, timeout=timeout, on_progress=lambda s: update(s))
    for line in report.lines():
        click.echo(line)
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
        else:
            table.add_row(key.replace("_", " "), str(value))
    _console(stderr=True).print(table)


# -- entry point -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry: run :data:`cli` and map every failure to one line + exit code."""
    args = sys.argv[1:] if argv is None else argv
    if "--debug" in args:  # before parsing, so even usage-level failures can be debugged
        _state["debug"] = True
    _state["verbose"] = False
    if not args:  # plain `pymeld`: the help, as asked for, not a usage error
        with click.Context(cli, info_name="pymeld") as ctx:
            click.echo(cli.get_help(ctx))
        sys.exit(0)
    code = 0
    previous = _on_sigterm()
    try:
        rv = cli.main(args=args, prog_name="pymeld", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        _err(f"error: {e.format_message()}{hint}")
        code = EXIT_USAGE
    except click.ClickException as e:
        _err(f"error: {e.format_message()}")
        code = e.exit_code
    except (KeyboardInterrupt, click.Abort):
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
            signal.signal(signal.SIGTERM, previous)
    sys.exit(code)


def _on_sigterm() -> Any:
    """Turn SIGTERM into :class:`_Terminated` (main thread only), so temp files go with us."""

    def terminated(_signum: int, _frame: object) -> None:
        raise _Terminated

    try:
        return signal.signal(signal.SIGTERM, terminated)
    except (ValueError, OSError, AttributeError):  # not the main thread, or no signals here
        return None


def _one_line(msg: str) -> str:
    return " ".join(msg.split()) or "(no message)"


if __name__ == "__main__":
    main()
