"""File I/O with user-facing errors: reading inputs and writing outputs atomically.

Every failure becomes a one-line :class:`PymeldError` (the CLI prints it without a traceback),
and an output is either fully written or not there at all: a crash, a full disk or Ctrl-C
half-way must never leave a truncated ``.wasm`` that a later build step would pick up.

Only ``os`` on the way through: ``pathlib`` and ``tempfile`` cost more to import than fusing a
small input takes, so paths are split with ``os.path`` (as ``Path`` would: trailing slashes
dropped) and ``pathlib`` is loaded only to word an error message.
"""

from __future__ import annotations

import contextlib
import os

from pymeld.errors import PymeldError

__all__ = ["read_input", "write_atomic"]


def _why(e: OSError) -> str:
    return e.strerror or e.__class__.__name__


def _shown(path: str | os.PathLike[str]) -> str:
    """The path as error messages show it (``str(Path(path))``)."""
    from pathlib import Path

    return str(Path(path))


def _plain(path: str | os.PathLike[str]) -> str:
    """``os.fspath(path)`` without trailing slashes, as ``Path`` reads it."""
    s = os.fspath(path)
    stripped = s.rstrip("/")
    return stripped if stripped else s


def read_input(path: str | os.PathLike[str]) -> bytes:
    """All bytes of ``path``; a missing/unreadable file or a directory is a PymeldError."""
    try:
        with open(_plain(path), "rb") as f:
            return f.read()
    except IsADirectoryError:
        raise PymeldError(f"cannot read {_shown(path)}: is a directory") from None
    except OSError as e:
        raise PymeldError(f"cannot read {_shown(path)}: {_why(e)}") from None


def _umask() -> int:
    # No portable read-only query: set and restore (single-threaded CLI use; harmless elsewhere).
    mask = os.umask(0)
    os.umask(mask)
    return mask


_TEMP_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _mkstemp(directory: str, prefix: str) -> tuple[int, str]:
    """``tempfile.mkstemp(prefix=..., suffix=".tmp", dir=directory)``: a new file, mode 0600."""
    for _ in range(100):
        name = os.path.join(directory, f"{prefix}{os.urandom(6).hex()}.tmp")
        try:
            return os.open(name, _TEMP_FLAGS, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory}")


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``.

    Same directory so the rename is atomic (same filesystem). The result gets the mode a plain
    ``open(path, "wb")`` would have given (the temp file is made 0600). On any error, including
    KeyboardInterrupt, the temp file is removed and the previous ``path`` (if any) is untouched.
    """
    p = _plain(path)
    if os.path.isdir(p):
        raise PymeldError(f"cannot write {_shown(path)}: is a directory")
    parent, name = os.path.split(p)
    try:
        fd, tmp = _mkstemp(parent or ".", f".{name}.")
    except OSError as e:
        raise PymeldError(f"cannot write {_shown(path)}: {_why(e)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise PymeldError(f"cannot write {_shown(path)}: {_why(e)}") from None
        raise
