"""pymeld: static WebAssembly component fusion.

Library entry points live in :mod:`pymeld.api`; the binary formats in :mod:`pymeld.codec`.
"""

from pymeld.errors import DecodeError, PymeldError, UnsupportedFeature

__version__ = "0.1.0"

__all__ = ["DecodeError", "PymeldError", "UnsupportedFeature", "__version__"]
