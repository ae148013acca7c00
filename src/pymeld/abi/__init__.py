"""Canonical ABI for fusion: value types, layout, and generated cross-component adapters."""

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
