"""File I/O with user-facing errors: reading inputs and writing outputs atomically.

Every failure becomes a one-line :class:`PymeldError` (the CLI prints it without a traceback),
and an output is either fully written or not there at all: a crash, a full disk or Ctrl-C
half-way must never leave a truncated ``.wasm`` that a later build step would pick up.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from pymeld.errors import PymeldError

__all__ = ["read_input", "write_atomic"]


def _why(e: OSError) -> str:
    return e.strerror or e.__class__.__name__


def read_input(path: str | os.PathLike[str]) -> bytes:
    """All bytes of ``path``; a missing/unreadable file or a directory is a PymeldError."""
    p = Path(path)
    try:
        return p.read_bytes()
    except IsADirectoryError:
        raise PymeldError(f"cannot read {p}: is a directory") from None
    except OSError as e:
        raise PymeldError(f"cannot read {p}: {_why(e)}") from None


def _umask() -> int:
    # No portable read-only query: set and restore (single-threaded CLI use; harmless elsewhere).
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``.

    Same directory so the rename is atomic (same filesystem). A ``path`` that is a symlink is
    followed: its target is replaced and the link stays a link. The result keeps the mode of the
    file it replaces, or gets the mode a plain ``open(path, "wb")`` would have given (mkstemp
    makes 0600). On any error, including KeyboardInterrupt, the temp file is removed and the
    previous ``path`` (if any) is untouched.
    """
    p = Path(path)
    if p.is_symlink():
        p = Path(os.path.realpath(p))
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise PymeldError(f"cannot write {p}: is a directory")
    try:
        mode = stat.S_IMODE(p.stat().st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise PymeldError(f"cannot write {p}: {_why(e)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise PymeldError(f"cannot write {p}: {_why(e)}") from None
        raise
