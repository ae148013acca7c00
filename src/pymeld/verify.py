"""``pymeld verify ORIGINAL FUSED``: differential testing of a fused component against its input.

For every exported function of the original component, argument values are generated from its
component-level type (seeded, so a failure reproduces): first the edge cases of every type
(empty and non-ASCII strings, empty and long lists, min/max integers, NaN and signed zeros,
every enum/variant/option/result case, empty and full flags), then random values. Each call
runs in a fresh Store for both components (a trap poisons a wasmtime store), with WASI p2
linked and stdout/stderr captured to files. Results, traps and output are compared; the first
difference per export is reported.

What cannot be checked is listed with the reason instead of being silently skipped: functions
whose types involve resources/futures/streams (no way to make values from the outside), and
calls that reach an import that is neither WASI nor satisfiable (linked as traps; a call that
hits one in the original is not a comparison).

Every call runs under a deadline (wasmtime epoch interruption, ``timeout`` seconds): a call that
runs out of time on the original is not a comparison, so its export is reported `not-checked
(timeout)` and not called again; one that finishes on the original but not on the fused side
is a difference. So verify always ends, in about ``timeout`` seconds per hanging export.

Traps are compared by occurrence only: where the original traps, the fused one must trap too
(and not vice versa); the trap messages may legitimately differ (a fused adapter traps with
`unreachable` where the runtime reports a specific reason), so a differing message is a note.
"""

from __future__ import annotations

import math
import random
import re
import select
import signal
import socket
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import field
from pathlib import Path
from typing import Any

from pymeld._dataclass import dataclass
from pymeld.errors import PymeldError

__all__ = ["ExportReport", "VerifyReport", "require_equivalent", "verify"]

DEFAULT_CALLS = 24
#: Seconds one call may run (original or fused) before it counts as not finishing.
DEFAULT_TIMEOUT = 5.0
#: Epoch tick: the deadline's resolution.
_TICK = 0.02
LONG_LIST = 300
MAX_DEPTH = 4

_INT_RANGES = {
    "S8": (-(1 << 7), (1 << 7) - 1),
    "S16": (-(1 << 15), (1 << 15) - 1),
    "S32": (-(1 << 31), (1 << 31) - 1),
    "S64": (-(1 << 63), (1 << 63) - 1),
    "U8": (0, (1 << 8) - 1),
    "U16": (0, (1 << 16) - 1),
    "U32": (0, (1 << 32) - 1),
    "U64": (0, (1 << 64) - 1),
}
_STRINGS = ["", "hello", "ü日本語🎉", "\0", "a" * 1000, "ÿ" * 33, "\U0010ffff𝄞"]
_CHARS = ["a", "\0", "é", "日", "🎉", "\U0010ffff", "\ud7ff"]
_FLOATS = [0.0, -0.0, math.nan, math.inf, -math.inf, 1.5, -1e-310, 3.4028234663852886e38]


def _no_dtor(_store: Any, _rep: int) -> None:
    return None


class _ImportUnavailable(Exception):
    """Raised by the stand-in for an import verify cannot provide (not WASI)."""


class _Unsupported(Exception):
    """A type pymeld cannot make values of from outside (resources, futures, streams)."""


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0] if math.isfinite(x) else x


def _tname(ty: Any) -> str:
    return type(ty).__name__


def make_value(ty: Any, rng: random.Random, i: int, depth: int = 0) -> Any:
    """Value number ``i`` of type ``ty``: the ``i``-th edge case while there are any, then random."""
    from wasmtime.component import Record, Variant

    name = _tname(ty)
    if name == "Bool":
        return [False, True][i] if i < 2 else rng.random() < 0.5
    if name in _INT_RANGES:
        lo, hi = _INT_RANGES[name]
        edges = [0, 1, hi, lo, hi - 1] + ([-1, lo + 1] if lo else [])
        return edges[i] if i < len(edges) else rng.randint(lo, hi)
    if name in ("F32", "F64"):
        x = _FLOATS[i] if i < len(_FLOATS) else rng.uniform(-1e6, 1e6)
        return _f32(x) if name == "F32" else x
    if name == "Char":
        if i < len(_CHARS):
            return _CHARS[i]
        c = rng.randint(0, 0x10FFFF - 0x800)
        return chr(c + 0x800 if c >= 0xD800 else c)
    if name == "String":
        if i < len(_STRINGS):
            return _STRINGS[i]
        alphabet = "abcxyz 0123ü日🎉\n\t"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
    if name == "ListType":
        elem = ty.element
        n = (
            0
            if depth >= MAX_DEPTH or i == 0
            else 1
            if i == 1
            else LONG_LIST
            if i == 2 and depth == 0
            else rng.randint(0, 5)
        )
        if _tname(elem) == "U8":
            return bytes(rng.randint(0, 255) for _ in range(n))
        return [make_value(elem, rng, (i + k) if depth == 0 else 99, depth + 1) for k in range(n)]
    if name == "RecordType":
        r = Record()
        for fname, fty in ty.fields:
            setattr(r, fname, make_value(fty, rng, i, depth + 1))
        return r
    if name == "TupleType":
        return tuple(make_value(e, rng, i, depth + 1) for e in ty.elements)
    if name == "EnumType":
        names = ty.names
        return names[i] if i < len(names) else rng.choice(names)
    if name == "FlagsType":
        names = ty.names
        flag_sets: list[set[str]] = [set(), set(names), *({n} for n in names)]
        return flag_sets[i] if i < len(flag_sets) else {n for n in names if rng.random() < 0.5}
    if name in ("VariantType", "OptionType", "ResultType"):
        cases = ty._cases()
        k = i if i < len(cases) else rng.randrange(len(cases))
        case, pty = cases[k]
        inner = i // len(cases) if i < len(cases) * 4 else 99
        payload = None if pty is None else make_value(pty, rng, inner, depth + 1)
        return Variant(case, payload) if ty._tagged() else payload
    raise _Unsupported(name.removesuffix("Type").lower())


def _check_makeable(ty: Any, depth: int = 0) -> None:
    """Raise _Unsupported if some nested type cannot be produced or compared from outside."""
    name = _tname(ty)
    if name in ("OwnType", "BorrowType", "FutureType", "StreamType", "ErrorContext"):
        raise _Unsupported(name.removesuffix("Type").lower())
    if depth > 32:
        return
    if name == "ListType":
        _check_makeable(ty.element, depth + 1)
    elif name == "RecordType":
        for _, f in ty.fields:
            _check_makeable(f, depth + 1)
    elif name == "TupleType":
        for e in ty.elements:
            _check_makeable(e, depth + 1)
    elif name in ("VariantType", "OptionType", "ResultType"):
        for _, p in ty._cases():
            if p is not None:
                _check_makeable(p, depth + 1)


def normalize(v: Any) -> Any:
    """A comparable form of a lifted value (NaNs equal each other, -0.0 differs from 0.0)."""
    from wasmtime.component import Record, Variant

    if isinstance(v, float):
        return ("nan",) if math.isnan(v) else ("float", v.hex())
    if isinstance(v, Variant):
        return ("variant", v.tag, normalize(v.payload))
    if isinstance(v, Record):
        return ("record", tuple((k, normalize(x)) for k, x in sorted(vars(v).items())))
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, tuple(normalize(x) for x in v))
    if isinstance(v, (set, frozenset)):
        return ("set", tuple(sorted(v)))
    return v


@dataclass(slots=True)
class ExportReport:
    """Outcome for one exported function: ``status`` is ok, differs or not-checked.

    ``reason`` qualifies a status in one word where scripts need to tell cases apart
    (``timeout``: the original did not finish a call within the deadline).
    """

    name: str
    status: str
    calls: int = 0
    detail: str = ""
    notes: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass(slots=True)
class VerifyReport:
    exports: list[ExportReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(e.status != "differs" for e in self.exports)

    def lines(self) -> list[str]:
        out = []
        for e in self.exports:
            status = f"{e.status} ({e.reason})" if e.reason else e.status
            head = f"{status:<11} {e.name}"
            if e.status == "ok":
                head += f" ({e.calls} calls)"
            out.append(head + (f": {e.detail}" if e.detail else ""))
            out.extend(f"            note: {n}" for n in e.notes)
        return out


def _exports(
    engine: Any, ty: Any, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """``(path, FuncType)`` of every exported function, nested instances included."""
    for name, ext in ty.exports(engine).items():
        item = ext.ty
        if _tname(item) == "FuncType":
            yield (*path, name), item
        elif _tname(item) == "ComponentInstanceType":
            yield from _exports(engine, item, (*path, name))


class _Runner:
    """One component under test: engine-level objects shared by every call."""

    def __init__(self, engine: Any, data: bytes, what: str, tmp: Path, deadline_ticks: int) -> None:
        import wasmtime
        from wasmtime.component import Component, Linker

        self.wasmtime = wasmtime
        try:
            self.component = Component(engine, data)
        except wasmtime.WasmtimeError as e:
            raise PymeldError(f"verify: the {what} component does not load: {_short(e)}") from None
        self.engine = engine
        self.tmp = tmp
        self.what = what
        self.deadline_ticks = deadline_ticks
        self.linker = Linker(engine)
        self.linker.add_wasip2()
        self._stub_imports()
        self.n = 0

    def _stub_imports(self) -> None:
        """Define every non-WASI import function as one raising `_ImportUnavailable`.

        (`define_unknown_imports_as_traps` would also shadow WASI interfaces that
        `add_wasip2` satisfies only by semver, e.g. ``@0.2.1``.) Imported resource types get
        fresh host resource types; their handles can only come from the stubs, which trap.
        """
        from wasmtime.component import ComponentInstanceType, ResourceType

        imports = self.component.type.imports(self.engine)
        foreign = {n: ext.ty for n, ext in imports.items() if not n.startswith("wasi:")}
        if not foreign:
            return

        def stub(name: str) -> Any:
            def f(_store: Any, *_args: Any) -> Any:
                raise _ImportUnavailable(name)

            return f

        resource_ids = iter(range(1 << 20, 1 << 21))
        with self.linker.root() as root:
            for name, ty in foreign.items():
                if _tname(ty) == "FuncType":
                    root.add_func(name, stub(name))
                elif _tname(ty) == "ResourceType":
                    root.add_resource(name, ResourceType.host(next(resource_ids)), _no_dtor)
                elif isinstance(ty, ComponentInstanceType):
                    with root.add_instance(name) as inst:
                        for item, ext in ty.exports(self.engine).items():
                            if _tname(ext.ty) == "FuncType":
                                inst.add_func(item, stub(f"{name}#{item}"))
                            elif _tname(ext.ty) == "ResourceType":
                                rt = ResourceType.host(next(resource_ids))
                                inst.add_resource(item, rt, _no_dtor)

    def func_index(self, path: tuple[str, ...]) -> Any:
        idx = None
        for name in path:
            idx = self.component.get_export_index(name, idx)
            if idx is None:
                return None
        return idx

    def call(self, path: tuple[str, ...], args: list[Any]) -> tuple[str, Any, bytes, bytes]:
        """``(kind, value, stdout, stderr)``; kind is ok, trap, timeout (the deadline passed),
        import (an unavailable import was called) or host (Python-side error before wasm)."""
        wasmtime = self.wasmtime
        self.n += 1
        out = self.tmp / f"{self.what}-{self.n}.out"
        err = self.tmp / f"{self.what}-{self.n}.err"
        store = wasmtime.Store(self.engine)
        store.set_epoch_deadline(self.deadline_ticks)
        wasi = wasmtime.WasiConfig()
        wasi.stdout_file = str(out)
        wasi.stderr_file = str(err)
        store.set_wasi(wasi)
        kind: str
        value: Any
        try:
            inst = self.linker.instantiate(store, self.component)
            func = inst.get_func(store, self.func_index(path))
            if func is None:
                raise PymeldError(f"verify: {self.what} has no exported function {_show(path)}")
            kind, value = "ok", normalize(func(store, *args))
        except _ImportUnavailable as e:
            kind, value = "import", str(e)
        except wasmtime.WasmtimeError as e:
            kind, value = "trap", _trap_reason(e)
            m = re.search(r"unknown import: `([^`]*)`", value)
            if m:
                kind, value = "import", m.group(1)
            elif _is_interrupt(wasmtime, e):
                kind = "timeout"
        except (TypeError, ValueError) as e:
            kind, value = "host", f"{type(e).__name__}: {e}"
        finally:
            del store  # the store holds the capture files open
        stdout = out.read_bytes() if out.exists() else b""
        stderr = err.read_bytes() if err.exists() else b""
        for f in (out, err):  # a long run must not pile up two files per call
            f.unlink(missing_ok=True)
        return kind, value, stdout, stderr


def _is_interrupt(wasmtime: Any, e: BaseException) -> bool:
    """The epoch deadline passed (wasmtime reports it as the `interrupt` trap)."""
    code = getattr(e, "trap_code", None)
    if code is not None:
        return bool(code == wasmtime.TrapCode.INTERRUPT)
    return "interrupt" in str(e)


#: Signals after which a running verify call is cut short (their handlers end the run).
_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


class _Ticker:
    """Advances the engine's epoch every `_TICK` seconds, so each store's deadline is time.

    A thread, because the call it must stop never returns to Python by itself (wasmtime-py
    releases the GIL while wasm runs). Python runs signal handlers only between bytecodes, so a
    Ctrl-C or SIGTERM during a long call would wait for its deadline; the ticker hears of the
    signal through `signal.set_wakeup_fd` (main thread only) and from then on ends every call at
    once, so the handler's exception comes promptly and the temp folder is removed on the way.
    """

    def __init__(self, engine: Any, deadline_ticks: int) -> None:
        self.engine = engine
        self.deadline_ticks = deadline_ticks
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="pymeld-verify-ticker", daemon=True)
        self.wake: tuple[socket.socket, socket.socket] | None = None
        self.old_fd = -1

    def _run(self) -> None:
        signalled = False
        while not self.stop.is_set():
            if self.wake is not None and not signalled:
                if select.select([self.wake[0]], [], [], _TICK)[0]:
                    # the wakeup fd carries signal numbers; others (SIGWINCH...) are no stop
                    got = self.wake[0].recv(64)
                    signalled = any(n in _STOP_SIGNALS for n in got)
            else:
                self.stop.wait(_TICK)
            for _ in range(self.deadline_ticks + 1 if signalled else 1):
                self.engine.increment_epoch()

    def __enter__(self) -> _Ticker:
        if threading.current_thread() is threading.main_thread():
            r, w = socket.socketpair()
            r.setblocking(False)
            w.setblocking(False)
            try:
                self.old_fd = signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
                self.wake = (r, w)
            except (ValueError, OSError):
                r.close()
                w.close()
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()
        if self.wake is not None:
            signal.set_wakeup_fd(self.old_fd)
            for sock in self.wake:
                sock.close()


def _short(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]


def _trap_reason(e: BaseException) -> str:
    """The cause line of a wasmtime error (backtraces name functions that fusion renumbers)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    causes = [ln for ln in lines if "wasm trap:" in ln or "unknown import" in ln]
    return (causes[-1] if causes else lines[-1] if lines else type(e).__name__).lstrip(
        "0123456789: "
    )


def _show(path: tuple[str, ...]) -> str:
    return "#".join(path) if len(path) == 2 else "/".join(path)


def verify(
    original: bytes,
    fused: bytes,
    *,
    seed: int = 0,
    calls: int = DEFAULT_CALLS,
    timeout: float = DEFAULT_TIMEOUT,
    on_progress: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Call every export of ``original`` and ``fused`` side by side; see the module docstring.

    ``timeout``: seconds one call may run; ``on_progress`` gets "export k/N NAME, call i"
    before each call (the CLI's progress line).
    """
    from pymeld.emit.validate import require_wasmtime

    if not timeout > 0:
        raise PymeldError(f"verify: the per-call timeout must be positive, not {timeout}")
    wasmtime = require_wasmtime("verify")
    cfg = wasmtime.Config()
    cfg.wasm_multi_memory = True
    cfg.epoch_interruption = True
    engine = wasmtime.Engine(cfg)
    ticks = max(1, math.ceil(timeout / _TICK))
    report = VerifyReport()
    with (
        tempfile.TemporaryDirectory(prefix="pymeld-verify-") as tmpdir,
        _Ticker(engine, ticks),
    ):
        tmp = Path(tmpdir)
        orig = _Runner(engine, original, "original", tmp, ticks)
        fuse = _Runner(engine, fused, "fused", tmp, ticks)
        fused_exports = {p for p, _ in _exports(engine, fuse.component.type)}
        exports = list(_exports(engine, orig.component.type))
        for k, (path, ft) in enumerate(exports, 1):
            tell = _teller(on_progress, f"export {k}/{len(exports)} {_show(path)}")
            report.exports.append(
                _check_export(orig, fuse, path, ft, fused_exports, seed, calls, timeout, tell)
            )
    return report


def _teller(on_progress: Callable[[str], None] | None, label: str) -> Callable[[int], None] | None:
    if on_progress is None:
        return None
    report = on_progress

    def tell(i: int) -> None:
        report(f"{label}, call {i}")

    return tell


def _check_export(
    orig: _Runner,
    fuse: _Runner,
    path: tuple[str, ...],
    ft: Any,
    fused_exports: set[tuple[str, ...]],
    seed: int,
    calls: int,
    timeout: float = DEFAULT_TIMEOUT,
    tell: Callable[[int], None] | None = None,
) -> ExportReport:
    name = _show(path)
    if path not in fused_exports:
        return ExportReport(name, "differs", detail="missing from the fused component")
    params = [t for _, t in ft.params]
    try:
        for t in [*params, *([ft.result] if ft.result is not None else [])]:
            _check_makeable(t)
    except _Unsupported as e:
        return ExportReport(
            name, "not-checked", detail=f"its type involves `{e}`, which cannot be made outside"
        )
    rng = random.Random(f"{seed}:{name}")
    rep = ExportReport(name, "ok")
    import_traps = 0
    missing: set[str] = set()
    for i in range(calls if params else 1):  # a fresh store per call: no params, one outcome
        args = [make_value(t, rng, i) for t in params]
        if tell is not None:
            tell(i + 1)
        a = orig.call(path, args)
        if a[0] == "host":
            return ExportReport(name, "not-checked", detail=f"cannot pass arguments: {a[1]}")
        if a[0] == "timeout":  # no outcome to compare; more calls would only hang as well
            agreed = f"; {rep.calls} earlier calls agreed" if rep.calls else ""
            return ExportReport(
                name,
                "not-checked",
                calls=rep.calls,
                reason="timeout",
                detail=f"call #{i} with {_args_repr(args)} did not finish within {timeout:g} s "
                f"on the original{agreed}",
                notes=rep.notes,
            )
        if a[0] == "import":
            import_traps += 1
            missing.add(str(a[1]))
            continue
        b = fuse.call(path, args)
        rep.calls += 1
        diff = _difference(a, b)
        if diff is not None:
            rep.status = "differs"
            rep.detail = f"call #{i} with {_args_repr(args)}: {diff}"
            return rep
        if a[0] == "trap" and a[1] != b[1] and len(rep.notes) < 3:
            rep.notes.append(f"call #{i}: both trap; original `{a[1]}`, fused `{b[1]}`")
    unavailable = ", ".join(sorted(missing))
    if rep.calls == 0 and import_traps:
        return ExportReport(
            name, "not-checked", detail=f"calls the unavailable import {unavailable}"
        )
    if import_traps:
        rep.notes.append(f"{import_traps} calls skipped: they call the unavailable {unavailable}")
    return rep


def _difference(a: tuple[str, Any, bytes, bytes], b: tuple[str, Any, bytes, bytes]) -> str | None:
    if a[0] != b[0]:
        return f"original {_outcome(a)}, fused {_outcome(b)}"
    if a[0] == "ok" and a[1] != b[1]:
        return f"original returned {a[1]!r}, fused returned {b[1]!r}"
    if a[2] != b[2]:
        return f"stdout differs: original {a[2][:80]!r}, fused {b[2][:80]!r}"
    if a[3] != b[3]:
        return f"stderr differs: original {a[3][:80]!r}, fused {b[3][:80]!r}"
    return None


def _outcome(r: tuple[str, Any, bytes, bytes]) -> str:
    return {
        "ok": f"returned {r[1]!r}",
        "trap": f"trapped ({r[1]})",
        "timeout": "did not finish within the timeout",
    }.get(r[0], f"failed: {r[1]}")


def _args_repr(args: list[Any]) -> str:
    s = repr([normalize(a) for a in args])
    return s if len(s) <= 160 else s[:157] + "..."


def require_equivalent(
    original: bytes,
    fused: bytes,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """Run `verify` and raise PymeldError on the first difference; returns its statistics."""
    report = verify(original, fused, timeout=timeout, on_progress=on_progress)
    bad = [e for e in report.exports if e.status == "differs"]
    if bad:
        raise PymeldError(f"verify: {bad[0].name} differs after fusion: {bad[0].detail}")
    checked = sum(1 for e in report.exports if e.status == "ok")
    stats: dict[str, object] = {
        "verified_exports": f"{checked} of {len(report.exports)}",
        "verified_calls": sum(e.calls for e in report.exports),
    }
    timed_out = [e.name for e in report.exports if e.reason == "timeout"]
    if timed_out:
        stats["verify_timeouts"] = ", ".join(timed_out)
    return stats
