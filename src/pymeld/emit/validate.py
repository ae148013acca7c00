"""``--validate``: check the output with wasmtime before it is written.

wasmtime is an optional dependency (``pip install 'pymeld[verify]'``): fusion itself is pure
Python, and a missing validator must be a clear one-line error, not an ImportError traceback.
"""

from __future__ import annotations

from types import ModuleType

from pymeld.errors import PymeldError

__all__ = ["require_wasmtime", "validate"]


def require_wasmtime(flag: str) -> ModuleType:
    """The wasmtime module, or a PymeldError saying how to get it."""
    try:
        import wasmtime
    except ImportError:
        raise PymeldError(
            f"{flag} needs wasmtime, which is not installed (pip install 'pymeld[verify]')"
        ) from None
    return wasmtime


def validate(data: bytes, *, component: bool) -> None:
    """Raise PymeldError if wasmtime rejects ``data`` (a core module or a component)."""
    wasmtime = require_wasmtime("validation")
    cfg = wasmtime.Config()
    cfg.wasm_multi_memory = True
    engine = wasmtime.Engine(cfg)
    try:
        if component:
            from wasmtime.component import Component

            Component(engine, data)
        else:
            wasmtime.Module.validate(engine, data)
    except wasmtime.WasmtimeError as e:
        what = "component" if component else "core module"
        msg = " ".join(str(e).split())
        raise PymeldError(f"validation: the fused {what} is invalid: {msg}") from None
