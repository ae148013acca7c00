"""Canonical ABI for fusion: value types, layout, and generated cross-component adapters.

The names below load their module on first use: importing `pymeld.abi.types` (which runs this
file) must not load the adapter generator, which fusion needs only when a composition has
cross-component calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from pymeld.abi.adapter import Adapter, generate_adapter
    from pymeld.abi.layout import CoreFuncType, flatten_functype
    from pymeld.abi.types import CanonOptions, FuncType

__all__ = [
    "Adapter",
    "CanonOptions",
    "CoreFuncType",
    "FuncType",
    "flatten_functype",
    "generate_adapter",
]

_WHERE = {
    "Adapter": "adapter",
    "generate_adapter": "adapter",
    "CoreFuncType": "layout",
    "flatten_functype": "layout",
    "CanonOptions": "types",
    "FuncType": "types",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'pymeld.abi' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"pymeld.abi.{where}"), name)
