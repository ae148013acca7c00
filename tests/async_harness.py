#!/usr/bin/env python3
"""Record and replay calls on components whose exports may be ``async func`` (WASI 0.3).

    async_harness.py record CALLS.json COMPONENT.wasm -o EXPECTED.json [--cache DIR]
    async_harness.py check EXPECTED.json [OTHER.wasm] [--cache DIR]

The shared corpus harness (``../shared/corpus/components/harness.py``) calls exports through
wasmtime-py's synchronous ``Func.__call__``, which wasmtime refuses for ``canon lift async``
exports. This one calls every export through the C API's ``wasmtime_component_func_call_async``
and polls the returned future: that drives wasmtime's event loop, so async exports, the tasks
they start, and the streams and futures that cross *between* guest instances all run as
wasmtime runs them. The engine turns on the component-model-async features through the raw
C-API setters (wasmtime-py 50 has no Python property for them), as ``../shared/tools/oracle.py``
does.

The host side cannot create or read streams and futures through wasmtime-py, so an export whose
parameters or result carry ``stream<T>``/``future<T>`` is refused with a named error: the
compositions put their streams and futures between the two guests (where fusion matters) and
give their root exports plain values.

JSON layout and value encoding are those of the shared harness (``calls.json`` with
``sessions`` of ``calls``; each session a fresh Store + instance; a trap ends its session; the
session's WASI stdout is recorded and compared). Values: ints/bools as JSON numbers/bools,
floats with ``"NaN"``/``"inf"``/``"-inf"``, ``list<u8>`` as a list of ints, records as objects,
variants as ``{"tag", "val"}``, enums as strings, options as ``null``/``{"some": v}``, results
as ``{"ok": v}``/``{"err": v}``, flags as sorted lists, tuples as lists.

A component file may be xz-compressed (``X.wasm.xz``): the 43 MB componentize-py composition is
committed that way.

``--cache DIR`` keeps each compiled component (wasmtime's ``serialize``) keyed by the SHA-256
of its bytes and the engine settings: a componentize-py composition takes tens of seconds to
compile and the same bytes are replayed by several tests.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import importlib.metadata
import importlib.util
import json
import lzma
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import wasmtime
import wasmtime.component as C
from wasmtime import _ffi as ffi

WASMTIME_PY = importlib.metadata.version("wasmtime")

#: One epoch tick; a call may run ``CALL_TIMEOUT_S`` before wasmtime interrupts it.
TICK_S = 0.01
CALL_TIMEOUT_S = 60.0

#: Raw C-API setters for the async features (the oracle's ``DEFAULT_ON`` async set).
ASYNC_SETTERS = (
    "wasmtime_config_wasm_component_model_async_set",
    "wasmtime_config_wasm_component_model_async_stackful_set",
    "wasmtime_config_wasm_component_model_more_async_builtins_set",
    "wasmtime_config_concurrency_support_set",
)


class HostStreamError(Exception):
    """An export whose signature would need the host to create or read a stream/future."""


# ---------------------------------------------------------------- engine and compile cache
def make_engine() -> wasmtime.Engine:
    cfg = wasmtime.Config()
    cfg.wasm_component_model = True
    cfg.wasm_multi_memory = True  # pymeld's fused output always has several memories
    cfg.epoch_interruption = True
    for name in ASYNC_SETTERS:
        getattr(ffi, name)(cfg.ptr(), True)
    return wasmtime.Engine(cfg)


def _cache_key(data: bytes) -> str:
    h = hashlib.sha256(data)
    h.update(f"wasmtime-{WASMTIME_PY}|{','.join(ASYNC_SETTERS)}|epoch".encode())
    return h.hexdigest()[:32]


def read_wasm(path: Path) -> bytes:
    """The bytes of ``path``; a ``.xz`` file (a large composition as committed) is unpacked."""
    data = path.read_bytes()
    return lzma.decompress(data) if path.suffix == ".xz" else data


def load_component(engine: wasmtime.Engine, path: Path, cache: Path | None) -> C.Component:
    data = read_wasm(path)
    if cache is None:
        return C.Component(engine, data)
    cached = cache / f"{_cache_key(data)}.cwasm"
    if cached.exists():
        return C.Component.deserialize_file(engine, str(cached))
    comp = C.Component(engine, data)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(comp.serialize())
    tmp.replace(cached)  # atomic: parallel workers never read half a file
    return comp


class _Ticker:
    """Advances the engine's epoch while calls run, so a call that never ends is interrupted."""

    def __init__(self, engine: wasmtime.Engine) -> None:
        self.engine = engine
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(TICK_S):
            self.engine.increment_epoch()

    def __enter__(self) -> _Ticker:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()


# ---------------------------------------------------------------- values
def _shared_harness() -> Any:
    """The shared corpus harness (``$PYMELD_SHARED`` or ``<repo>/../shared``): its JSON value
    encoding is the one this harness records, so its converters are used as they are."""
    env = os.environ.get("PYMELD_SHARED")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    spec = importlib.util.spec_from_file_location(
        "corpus_harness", root / "corpus" / "components" / "harness.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_HARNESS = _shared_harness()


def _no_streams(ty: Any) -> None:
    """Refuse, by name, a type that carries a stream/future/error-context anywhere."""
    if isinstance(ty, (C.StreamType, C.FutureType, C.ErrorContext)):
        raise HostStreamError(
            f"host-side {type(ty).__name__} values are not supported by wasmtime-py: "
            "keep streams and futures between guest components"
        )
    if isinstance(ty, C.ListType):
        inner = [ty.element]
    elif isinstance(ty, C.RecordType):
        inner = [t for _, t in ty.fields]
    elif isinstance(ty, C.TupleType):
        inner = list(ty.elements)
    elif isinstance(ty, C.OptionType):
        inner = [ty.payload]
    elif isinstance(ty, C.ResultType):
        inner = [ty.ok, ty.err]
    elif isinstance(ty, C.VariantType):
        inner = [t for _, t in ty.cases]
    else:
        inner = []
    for t in inner:
        if t is not None:
            _no_streams(t)


def to_py(ty: Any, v: Any) -> Any:
    """JSON value -> wasmtime-py value of component type ``ty`` (the shared harness's)."""
    _no_streams(ty)
    return _HARNESS.to_py(ty, v, _HARNESS.Ctx())


def from_py(ty: Any, v: Any) -> Any:
    """wasmtime-py value -> JSON value of component type ``ty`` (the shared harness's)."""
    _no_streams(ty)
    return _HARNESS.from_py(ty, v, _HARNESS.Ctx())


# ---------------------------------------------------------------- calling
def call_async(store: wasmtime.Store, func: C.Func, args: list[Any]) -> Any:
    """Call ``func`` through ``wasmtime_component_func_call_async`` and poll it to the end."""
    fty = func.type(store)
    rty = fty.result
    params = (ffi.wasmtime_component_val_t * max(1, len(args)))()
    n = 0
    try:
        for (_name, ty), val in zip(fty.params, args, strict=True):
            ty.convert_to_c(store, val, ctypes.pointer(params[n]))
            n += 1
        res = ffi.wasmtime_component_val_t()
        err = ctypes.POINTER(ffi.wasmtime_error_t)()
        fut = ffi.wasmtime_component_func_call_async(
            ctypes.byref(func._func),
            store._context(),
            params,
            n,
            ctypes.byref(res) if rty is not None else None,
            0 if rty is None else 1,
            ctypes.byref(err),
        )
        deadline = time.monotonic() + CALL_TIMEOUT_S
        try:
            while not ffi.wasmtime_call_future_poll(fut):
                if time.monotonic() > deadline:  # pending on the host with no wasm running
                    raise TimeoutError(f"async call still pending after {CALL_TIMEOUT_S} s")
        finally:
            ffi.wasmtime_call_future_delete(fut)
        if err:
            raise wasmtime.WasmtimeError._from_ptr(err)
        return None if rty is None else rty.convert_from_c(res)
    finally:
        for i in range(n):
            ffi.wasmtime_component_val_delete(ctypes.byref(params[i]))


def _lookup(store: wasmtime.Store, inst: C.Instance, path: list[str]) -> C.Func:
    idx = None
    for name in path:
        idx = inst.get_export_index(store, name, idx)
        if idx is None:
            raise KeyError(f"export {'/'.join(path)} not found (at {name!r})")
    func = inst.get_func(store, idx)
    if func is None:
        raise KeyError(f"export {'/'.join(path)} is not a function")
    return func


def _trap_message(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[-1] if lines else type(e).__name__


def run_sessions(spec: dict[str, Any], wasm: Path, cache: Path | None) -> list[dict[str, Any]]:
    """Run every session of ``spec`` against ``wasm``: each call's value or trap, and stdout."""
    engine = make_engine()
    comp = load_component(engine, wasm, cache)
    linker = C.Linker(engine)
    wasi = spec.get("wasi", True)
    if wasi:
        linker.add_wasip2()
    out: list[dict[str, Any]] = []
    with _Ticker(engine):
        for sess in spec["sessions"]:
            with tempfile.TemporaryDirectory(prefix="async-harness") as tmp:
                stdout = Path(tmp) / "stdout"
                store = wasmtime.Store(engine)
                store.set_epoch_deadline(int(CALL_TIMEOUT_S / TICK_S))
                if wasi:
                    cfg = wasmtime.WasiConfig()
                    cfg.stdout_file = str(stdout)
                    cfg.stderr_file = str(Path(tmp) / "stderr")
                    store.set_wasi(cfg)
                inst = linker.instantiate(store, comp)
                calls: list[dict[str, Any]] = []
                for call in sess["calls"]:
                    rec = {k: v for k, v in call.items() if k != "expect"}
                    calls.append(rec)
                    func = _lookup(store, inst, call["func"])
                    fty = func.type(store)
                    if len(call["args"]) != len(fty.params):
                        raise TypeError(f"{call['func']}: {len(call['args'])} args given")
                    args = [
                        to_py(t, a) for (_n, t), a in zip(fty.params, call["args"], strict=True)
                    ]
                    store.set_epoch_deadline(int(CALL_TIMEOUT_S / TICK_S))
                    try:
                        val = call_async(store, func, args)
                    except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
                        rec["expect"] = {"trap": True, "message": _trap_message(e)}
                        break  # the instance may not be entered again after a trap
                    rty = fty.result
                    rec["expect"] = {"value": None if rty is None else from_py(rty, val)}
                out.append(
                    {
                        "name": sess.get("name"),
                        "calls": calls,
                        "stdout": stdout.read_text() if stdout.exists() else "",
                    }
                )
                del inst, store
    return out


def compare(expected: dict[str, Any], got: list[dict[str, Any]]) -> list[str]:
    """Mismatches between a recording and a replay (empty: identical). A trap matches a trap
    whatever its message: the fused module traps at the same call, from other code."""
    bad: list[str] = []
    for es, gs in zip(expected["sessions"], got, strict=True):
        if len(es["calls"]) != len(gs["calls"]):
            bad.append(f"{es['name']}: {len(gs['calls'])} calls ran, {len(es['calls'])} recorded")
        for ec, gc in zip(es["calls"], gs["calls"], strict=False):
            e, g = ec["expect"], gc.get("expect")
            if not ((e.get("trap") and g and g.get("trap")) or e == g):
                bad.append(f"{es['name']} {'/'.join(ec['func'])}: expected {e}, got {g}")
        if es["stdout"] != gs["stdout"]:
            bad.append(f"{es['name']}: stdout {gs['stdout']!r}, recorded {es['stdout']!r}")
    return bad


def check(expected_path: Path, wasm: Path | None, cache: Path | None) -> tuple[int, list[str]]:
    """Replay ``expected_path`` on ``wasm`` (default: the component it names): (calls, bad)."""
    exp = json.loads(expected_path.read_text())
    target = wasm or expected_path.parent / exp["component"]
    got = run_sessions(exp, target, cache)
    return sum(len(s["calls"]) for s in exp["sessions"]), compare(exp, got)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("calls", type=Path)
    r.add_argument("wasm", type=Path)
    r.add_argument("-o", "--output", type=Path, required=True)
    c = sub.add_parser("check")
    c.add_argument("expected", type=Path)
    c.add_argument("wasm", type=Path, nargs="?")
    for p in (r, c):
        p.add_argument("--cache", type=Path, help="directory of compiled components")
    a = ap.parse_args()
    if a.cmd == "record":
        spec = json.loads(a.calls.read_text())
        t0 = time.monotonic()
        sessions = run_sessions(spec, a.wasm, a.cache)
        out = {k: v for k, v in spec.items() if k != "sessions"}
        out["component"] = a.wasm.name
        out["wasmtime_py"] = WASMTIME_PY
        out["sessions"] = sessions
        a.output.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {a.output} ({time.monotonic() - t0:.1f} s)")
        return 0
    total, bad = check(a.expected, a.wasm, a.cache)
    for line in bad:
        print(f"MISMATCH {line}")
    print(f"{total - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
