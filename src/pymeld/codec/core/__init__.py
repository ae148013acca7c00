"""Core WebAssembly module codec: model, parser, encoder, instruction scanner/rewriter."""

from pymeld.codec.core.encode import encode_module
from pymeld.codec.core.parse import parse_module

__all__ = ["encode_module", "parse_module"]
