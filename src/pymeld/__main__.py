"""The ``pymeld`` command (console script and ``python -m pymeld``): the CLI in a process of
its own, so it may tune the process before loading anything and end it without tearing the
interpreter down.

The cyclic collector's default thresholds run it hundreds of times in one fusion, which
allocates millions of objects and frees few cycles: ~10% of fusing a large input and several
ms of a small one's start-up. A one-shot process can collect cycles less often (mypy sets
200 000 for the same reason; fusing py-compose-rich keeps ~300 000 containers alive, and the
one young-generation collection that 200 000 still caused there took ~35 ms, 3% of the run);
a library user's process is left alone.

At the end, the process exits with ``os._exit`` once the exit handlers ran and stdout/stderr
are flushed (mypy's ``hard_exit`` does the same): a normal exit frees every object and module
one by one, which took ~17 ms after a small fuse, a fifth of the whole process. Output files
are complete by then (written atomically and closed inside the command).

``inspect`` is deferred (`defer_module`): ``dataclasses`` imports it but uses it only for
signatures, and with ``ast`` and ``dis`` it was ~4 ms of a small fuse. So is ``typing`` (~3% of a
small fuse, 11.7 M instructions): the modules a fusion runs use its names in annotations only
(under ``TYPE_CHECKING``, which the deferred module answers without running); `pymeld.fuse`
binds the module so that ``typing.get_type_hints(FuseOptions)`` still resolves. And ``copy``
(with ``weakref``, 3.2 M instructions), which ``dataclasses`` imports for ``asdict`` and
``astuple``: a fusion calls neither. argparse's messages skip `gettext` where it would return
them unchanged (`untranslated_argparse`): its first lookup imports ``locale`` (~4 M); there,
gettext's own module does not run either (~4 M more).
"""

from __future__ import annotations

import gc

gc.set_threshold(500_000, 30, 30)

import atexit  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

TYPE_CHECKING = False  # `typing` is not loaded for `--version`
if TYPE_CHECKING:
    from typing import Any, NoReturn

__all__ = ["main"]

#: CPython's exit status when flushing stdout fails at exit (e.g. a closed pipe).
_EXIT_FLUSH_FAILED = 120


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI (:func:`pymeld.cli.main`), then end the process at once with its status."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"], ["version"]):  # nothing to load but the version
        print(version_line())
        code: object = 0
    else:
        defer_unused_modules()
        untranslated_argparse()
        from pymeld.cli import main as cli_main

        try:
            cli_main(args)
        except SystemExit as e:
            code = e.code
    hard_exit(code)


def defer_unused_modules() -> None:
    """Defer the standard library's modules that pymeld's imports load but a fusion does not
    use (see the module's docstring)."""
    defer_module("inspect")
    defer_module("typing", TYPE_CHECKING=False)
    defer_module("copy")


def defer_module(name: str, **known: object) -> None:
    """Put module ``name`` in `sys.modules` unrun: its code runs when one of its attributes is
    first read, so ``import name`` alone costs nothing. Unlike `importlib.util.LazyLoader`,
    whose module runs when ``import`` reads its ``__spec__`` (Python 3.11), only attributes
    the module does not have yet (``__getattr__``) start it. ``known``: attributes it has
    before it runs, with the values its code gives them (read without running it)."""
    if name in sys.modules:
        return
    # `_find_spec` is what `importlib.util.find_spec` calls for a top-level name not imported
    # yet; that module (with `importlib._abc`) is ~1.1 M instructions a fuse otherwise skips
    from importlib._bootstrap import _find_spec, module_from_spec  # type: ignore[attr-defined]
    from types import ModuleType  # here: `--version` loads no `types`

    class _Deferred(ModuleType):
        """A module whose code has not run yet."""

        def __getattr__(self, attr: str) -> Any:
            spec = self.__spec__
            assert spec is not None
            if attr == "__path__" and spec.submodule_search_locations is None:
                # every ``from name import x`` asks; a plain module has none, run or not
                raise AttributeError(attr)
            self.__class__ = ModuleType  # type: ignore[assignment]  # ordinary from now on
            assert spec.loader is not None
            try:
                spec.loader.exec_module(self)
            except BaseException:
                sys.modules.pop(spec.name, None)  # as a failed import leaves it
                raise
            return getattr(self, attr)

    spec = _find_spec(name, None)
    if spec is None or spec.loader is None:
        return
    module = module_from_spec(spec)
    module.__dict__.update(known)
    module.__class__ = _Deferred
    sys.modules[name] = module


def untranslated_argparse() -> None:
    """Give argparse identity functions for `gettext.gettext`/`ngettext` when no catalog of
    their domain can exist (its directory is missing, as in most Python installs and Pyodide):
    every lookup then returns the message unchanged (`gettext.translation` falls back to
    `NullTranslations`), but only after normalizing the language names of the environment,
    which imports ``locale`` on the first message (~4 M instructions of a small fuse). With a
    catalog directory, or an argparse that binds them otherwise, nothing changes.

    Before either module is loaded, gettext's defaults decide (domain ``messages``, catalogs in
    ``sys.base_prefix/share/locale``): without that directory, gettext is deferred
    (`defer_module`) with the identity functions as the two names argparse imports from it,
    so its module, which compiles a regular expression, never runs in a fusion (~4 M
    instructions); anything else read from it runs it, and from then on it is the real one."""
    unloaded = "argparse" not in sys.modules and "gettext" not in sys.modules
    if unloaded and not os.path.isdir(os.path.join(sys.base_prefix, "share", "locale")):
        defer_module("gettext", gettext=_untranslated, ngettext=_untranslated_plural)
        import argparse  # binds them

        return
    import argparse
    import gettext

    domain = gettext._current_domain  # type: ignore[attr-defined]
    catalogs = gettext._localedirs.get(domain, gettext._default_localedir)  # type: ignore[attr-defined]
    bound = vars(argparse)
    if bound.get("_") is not gettext.gettext or bound.get("ngettext") is not gettext.ngettext:
        return
    if os.path.isdir(catalogs):
        return
    bound["_"] = _untranslated
    bound["ngettext"] = _untranslated_plural


def _untranslated(message: str) -> str:
    return message


def _untranslated_plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def version_line() -> str:
    """What ``pymeld --version`` prints (`pymeld.cli` prints the same)."""
    from pymeld import __version__

    return f"pymeld {__version__}"


def hard_exit(code: object) -> NoReturn:
    """``sys.exit(code)`` without the interpreter's teardown: exit handlers run, stdout and
    stderr are flushed, then ``os._exit`` ends the process with the status ``sys.exit`` would
    have given (``None`` 0, an int itself, anything else printed to stderr and 1)."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not stream.closed:
                stream.flush()
        except (OSError, ValueError):
            if stream is sys.stdout and status == 0:
                status = _EXIT_FLUSH_FAILED
    os._exit(status)


if __name__ == "__main__":
    main()
