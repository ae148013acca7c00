"""Errors a user can act on: each names what went wrong and where."""

from __future__ import annotations


class PymeldError(Exception):
    """Base of every error pymeld raises on purpose (the CLI prints these in one line)."""


class DecodeError(PymeldError):
    """Malformed binary input: which file, which section, which byte offset, what was expected."""

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        file: str | None = None,
        section: str | None = None,
    ) -> None:
        self.message = message
        self.offset = offset
        self.file = file
        self.section = section
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.section:
            where.append(f"section {self.section}")
        if self.offset is not None:
            where.append(f"offset 0x{self.offset:x}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class UnsupportedFeature(PymeldError):
    """Input is valid but uses something pymeld cannot (yet) fuse; never a silent wrong output.

    The message starts with ``unsupported:`` so scripts (and our oracle tests) can tell a known
    limitation from a bug or a bad input.
    """

    def __str__(self) -> str:
        return f"unsupported: {super().__str__()}"


class LinkError(PymeldError):
    """Imports and exports cannot be wired unambiguously (missing, ambiguous or mistyped)."""
