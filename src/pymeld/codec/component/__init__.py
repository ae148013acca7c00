"""Component binary codec: model (`model`), decoder (`parse`), encoder (`encode`).

`parse_any` is the entry point for "a .wasm file": it dispatches on the preamble's layer field
so callers get a `Component`, or a core module from the core codec, or a clear `DecodeError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymeld.codec.binary import Reader
from pymeld.codec.component import model
from pymeld.codec.component.model import *  # noqa: F403
from pymeld.codec.component.model import Component
from pymeld.codec.component.parse import CORE_PREAMBLE, MAGIC, PREAMBLE
from pymeld.codec.component.parse import parse_component as parse_component

if TYPE_CHECKING:
    from typing import Any

    from pymeld.codec.component.encode import encode_component as encode_component


def __getattr__(name: str) -> Any:
    """`encode_component` loads the encoder on first use (fusing to a core module needs none);
    the core type classes and the rare items are the model's (`model.CORE_TYPE_NAMES`,
    `model.RARE_ITEM_NAMES`, which the star import above does not take: they load on first
    read)."""
    if name == "encode_component":
        from pymeld.codec.component.encode import encode_component

        return encode_component
    if name in model.CORE_TYPE_NAMES or name in model.RARE_ITEM_NAMES:
        return getattr(model, name)
    raise AttributeError(f"module 'pymeld.codec.component' has no attribute {name!r}")


def parse_any(data: bytes, file: str | None = None) -> Component | Any:
    """Decode a component, or (layer 0) a core module via ``pymeld.codec.core.parse_module``."""
    if data[:8] == CORE_PREAMBLE:
        from pymeld.codec.core import parse_module

        return parse_module(data, file=file)
    if data[:4] == MAGIC and data[:8] != PREAMBLE and len(data) >= 8 and data[6:8] == b"\0\0":
        raise Reader(data, file=file, section="preamble").error(
            f"core module with unsupported version {data[4] | data[5] << 8}", 4
        )
    return parse_component(data, file=file)
