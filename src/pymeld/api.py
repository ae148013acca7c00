"""Library entry points: bytes in, bytes (or a tree) out. No file I/O, no printing.

The CLI and tests go through here so that a second front end (or a build-system plugin) gets
exactly the same behaviour. Codec imports are local so that ``pymeld --version`` and ``--help``
stay fast and do not depend on every stage being importable.
"""

from __future__ import annotations

from typing import Any

__all__ = ["COMPONENT_LAYER", "decode", "is_component", "roundtrip"]

#: The ``layer`` field of the preamble (bytes 6..8): 0 = core module, 1 = component.
COMPONENT_LAYER = b"\x01\x00"


def is_component(data: bytes) -> bool:
    """True if the preamble says component; anything else is handed to the core decoder.

    Deciding on the layer field alone means a file with a broken magic still gets the precise
    error of the core decoder (file, offset 0, what was expected) instead of a guess here.
    """
    return len(data) >= 8 and data[:4] == b"\0asm" and data[6:8] == COMPONENT_LAYER


def decode(data: bytes, *, file: str | None = None) -> Any:
    """Parse a core module or a component; malformed input raises ``DecodeError``."""
    if is_component(data):
        from pymeld.codec.component import parse_component

        return parse_component(data, file=file)
    from pymeld.codec.core import parse_module

    return parse_module(data, file=file)


def roundtrip(data: bytes, *, file: str | None = None) -> bytes:
    """Decode then encode: the identity transform the oracle checks the codec with."""
    if is_component(data):
        from pymeld.codec.component import encode_component, parse_component

        return encode_component(parse_component(data, file=file))
    from pymeld.codec.core import encode_module, parse_module

    return encode_module(parse_module(data, file=file))
