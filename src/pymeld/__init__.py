"""pymeld: static WebAssembly component fusion.

    import pymeld
    out = pymeld.Fuser(pymeld.FuseOptions(component=True)).add("app.wasm", data).fuse().output

`fuse_bytes` / `fuse_files` are the same as functions; the binary formats live in
:mod:`pymeld.codec`. The fusion stages load on first use, so `pymeld --version` stays fast.
"""

from __future__ import annotations

from pymeld.errors import DecodeError, LinkError, PymeldError, UnsupportedFeature

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: `pymeld --version` loads no `typing`
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_LAZY = {"Fuser", "FuseOptions", "FuseResult", "fuse_bytes", "fuse_files"}

__all__ = [
    "DecodeError",
    "FuseOptions",
    "FuseResult",
    "Fuser",
    "LinkError",
    "PymeldError",
    "UnsupportedFeature",
    "__version__",
    "fuse_bytes",
    "fuse_files",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from pymeld import fuse

        return getattr(fuse, name)
    raise AttributeError(f"module 'pymeld' has no attribute {name!r}")
