"""The transforms the differential oracles check, as shell commands with ``{in}``/``{out}``.

Switching the suite from the codec round-trip to fusion is a one-line change of
:data:`DEFAULT_TRANSFORMS` (or, without editing: ``PYMELD_ORACLE_TRANSFORMS=roundtrip,fuse``).
"""

from __future__ import annotations

import os
import shlex

from support import pymeld_exe

#: Every transform the oracle knows; ``{pymeld}`` is the installed CLI of this venv.
TRANSFORMS: dict[str, str] = {
    "identity": "cp {in} {out}",  # checks the wiring itself: must be all-equivalent
    "roundtrip": "{pymeld} roundtrip {in} -o {out}",
    "fuse": "{pymeld} fuse {in} --component -o {out}",
}

#: What `make test` runs.
DEFAULT_TRANSFORMS: tuple[str, ...] = ("roundtrip", "fuse")


#: Transforms allowed to refuse an input, provided the refusal is a named limitation
#: (``pymeld: error: unsupported: ...``); any other failure is a bug.
MAY_REFUSE: frozenset[str] = frozenset({"fuse"})


#: Files whose divergence under a transform is understood and tracked in an issue; the wast
#: test still prints them and fails if they start passing (so the entry gets removed).
KNOWN_DIVERGENT: dict[str, dict[str, str]] = {
    "fuse": {},
}


def is_named_refusal(stderr_tail: str) -> bool:
    return "pymeld: error: unsupported:" in stderr_tail


def selected() -> list[str]:
    env = os.environ.get("PYMELD_ORACLE_TRANSFORMS")
    names = [n.strip() for n in env.split(",") if n.strip()] if env else list(DEFAULT_TRANSFORMS)
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown oracle transform(s) {unknown}; known: {sorted(TRANSFORMS)}")
    return names


def command(name: str) -> str:
    """The shell command for transform ``name`` (``{in}``/``{out}`` left for the oracle)."""
    exe = " ".join(shlex.quote(part) for part in pymeld_exe())
    return TRANSFORMS[name].replace("{pymeld}", exe)


def argv(name: str, src: str, dst: str) -> list[str]:
    """The same command as an argv list, for running it directly (no shell)."""
    return shlex.split(
        command(name).replace("{in}", shlex.quote(src)).replace("{out}", shlex.quote(dst))
    )
