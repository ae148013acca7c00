"""File I/O with user-facing errors: reading inputs and writing outputs atomically.

Every failure becomes a one-line :class:`PymeldError` (the CLI prints it without a traceback),
and an output is either fully written or not there at all: a crash, a full disk or Ctrl-C
half-way must never leave a truncated ``.wasm`` that a later build step would pick up.

Paths are handled with `os.path`, not `pathlib`/`tempfile` (importing those was a tenth of the
start-up of ``pymeld fuse`` on a small input); messages name a path as `pathlib` prints it.
"""

from __future__ import annotations

import errno
import os
import stat

from pymeld.errors import PymeldError

__all__ = ["read_input", "write_atomic"]


def _why(e: OSError) -> str:
    return e.strerror or e.__class__.__name__


def _pathname(path: str | os.PathLike[str]) -> str:
    """``str(pathlib.Path(path))``: empty and ``.`` parts dropped, ``//`` kept as a root."""
    s = os.fspath(path)
    if os.sep != "/" or os.altsep is not None:  # Windows: its rules are pathlib's to apply
        from pathlib import Path

        return str(Path(s))
    root = "//" if s.startswith("//") and not s.startswith("///") else "/" * s.startswith("/")
    return root + "/".join(x for x in s.split("/") if x and x != ".") or "."


#: `tempfile`'s name characters and its number of tries (`tempfile.TMP_MAX`).
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_TMP_MAX = 10000


def _mkstemp(parent: str, prefix: str, suffix: str) -> tuple[int, str]:
    """`tempfile.mkstemp(prefix=, suffix=, dir=parent)`: a new file, mode 0600, opened
    exclusively (never a file or link that was there), with 8 random characters in its name."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
    for extra in ("O_NOFOLLOW", "O_CLOEXEC", "O_BINARY"):
        flags |= getattr(os, extra, 0)
    for _ in range(_TMP_MAX):
        name = "".join(_NAME_CHARS[b % len(_NAME_CHARS)] for b in os.urandom(8))
        tmp = os.path.join(parent, f"{prefix}{name}{suffix}")
        try:
            return os.open(tmp, flags, 0o600), os.path.abspath(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "No usable temporary file name found")


def read_input(path: str | os.PathLike[str]) -> bytes:
    """All bytes of ``path``; a missing/unreadable file or a directory is a PymeldError."""
    p = _pathname(path)
    try:
        with open(p, "rb") as f:
            return f.read()
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
    p = _pathname(path)
    if os.path.islink(p):
        p = _pathname(os.path.realpath(p))
    parent = os.path.dirname(p) or "."
    if os.path.isdir(p):
        raise PymeldError(f"cannot write {p}: is a directory")
    try:
        mode = stat.S_IMODE(os.stat(p).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = _mkstemp(parent, f".{os.path.basename(p)}.", ".tmp")
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
        import contextlib  # (a failed write: not loaded by a run that succeeds)

        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise PymeldError(f"cannot write {p}: {_why(e)}") from None
        raise
