"""Library entry points: bytes in, bytes (or a tree) out. No file I/O, no printing.

The CLI and tests go through here so that a second front end (or a build-system plugin) gets
exactly the same behaviour. Codec imports are local so that ``pymeld --version`` and ``--help``
stay fast and do not depend on every stage being importable.
"""

# No `from __future__ import annotations` and no bare `Any`/`Iterator`: every name a module
# binds shows in `dir()` and `help()`, and this module's names are its API.
from collections.abc import Iterator as _Iterator
from typing import Any as _Any

__all__ = ["COMPONENT_LAYER", "core_module_sections", "decode", "is_component", "roundtrip"]

#: The ``layer`` field of the preamble (bytes 6..8): 0 = core module, 1 = component.
COMPONENT_LAYER = b"\x01\x00"


def is_component(data: bytes) -> bool:
    """True if the preamble says component; anything else is handed to the core decoder.

    Deciding on the layer field alone means a file with a broken magic still gets the precise
    error of the core decoder (file, offset 0, what was expected) instead of a guess here.
    """
    return len(data) >= 8 and data[:4] == b"\0asm" and data[6:8] == COMPONENT_LAYER


def decode(data: bytes, *, file: str | None = None) -> _Any:
    """Parse a core module or a component; malformed input raises ``DecodeError``."""
    if is_component(data):
        from pymeld.codec.component import parse_component

        return parse_component(data, file=file)
    from pymeld.codec.core import parse_module

    return parse_module(data, file=file)


def roundtrip(data: bytes, *, file: str | None = None, deep: bool = True) -> bytes:
    """Decode then encode: the identity transform the oracle checks the codecs with.

    The component codec keeps embedded core modules as raw bytes until someone asks for them;
    ``deep`` (the default) parses every one of them (at any nesting depth) and re-encodes it
    with the core encoder, so the round trip exercises both codecs, as fusion will.
    """
    if is_component(data):
        from pymeld.codec.component import encode_component, parse_component

        component = parse_component(data, file=file)
        if deep:
            for section in core_module_sections(component):
                section.replace(section.module)
        return encode_component(component)
    from pymeld.codec.core import encode_module, parse_module

    return encode_module(parse_module(data, file=file))


def core_module_sections(component: _Any) -> _Iterator[_Any]:
    """Every core-module section of ``component`` and its nested components, in binary order."""
    from pymeld.codec.component import ComponentSection, CoreModuleSection

    for section in component.sections:
        if isinstance(section, CoreModuleSection):
            yield section
        elif isinstance(section, ComponentSection):
            yield from core_module_sections(section.component)
