"""`merge.bodies` picks serial rewriting where processes cannot run (Pyodide, WASI, no pool)."""

from __future__ import annotations

import sys
import types

import pytest

from pymeld.codec.core import instructions as ins
from pymeld.merge import bodies

# `i32.const 1; drop; end` twice: enough to split into chunks once the threshold is 0.
WORK = [([b"\x00\x41\x01\x1a\x0b", b"\x00\x41\x02\x1a\x0b"], ins.IndexMaps(), "t.wasm")]


def _serial(work: bodies.Work) -> list[list[bytes]]:
    return [[ins.rewrite_body(b, maps, file=file) for b in bs] for bs, maps, file in work]


@pytest.fixture
def parallel_wanted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several cores and no size threshold: only the platform can keep it serial."""
    monkeypatch.setattr(bodies, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(bodies.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(bodies.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.delenv("PYMELD_JOBS", raising=False)


def _no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """multiprocessing as Pyodide has it: `fork` listed, but nothing can be started."""

    def refuse(*_a: object, **_k: object) -> None:
        raise NotImplementedError("This Python build lacks multiprocessing.synchronize")

    fake = types.ModuleType("multiprocessing")
    fake.get_all_start_methods = lambda: ["forkserver", "fork", "spawn"]  # type: ignore[attr-defined]
    fake.get_context = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "multiprocessing", fake)
    if hasattr(bodies, "multiprocessing"):  # a module-level import would bypass sys.modules
        monkeypatch.setattr(bodies, "multiprocessing", fake)


@pytest.mark.parametrize("platform", ["emscripten", "wasi"])
def test_serial_on_platforms_without_processes(
    platform: str, parallel_wanted: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _serial(WORK)
    monkeypatch.setattr(bodies.sys, "platform", platform)
    _no_processes(monkeypatch)
    assert bodies.rewrite_all(WORK) == expected


def test_serial_when_the_pool_cannot_be_created(
    parallel_wanted: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _serial(WORK)
    monkeypatch.setattr(bodies.sys, "platform", "linux")
    _no_processes(monkeypatch)
    assert bodies.rewrite_all(WORK) == expected


def test_multiprocessing_not_imported_for_serial_work() -> None:
    """Importing and using the module on a small input must not load multiprocessing."""
    import subprocess

    code = (
        "import sys; from pymeld.merge import bodies; from pymeld.codec.core import "
        "instructions as ins; bodies.rewrite_all([([b'\\x00\\x0b'], ins.IndexMaps(), 'x')]); "
        "print('multiprocessing' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("cores", "load", "jobs", "expected"),
    [
        (2, 0.1, None, 2),  # idle machine: one worker per core
        (2, 1.0, None, 2),  # the load is this process: the other core is idle
        (2, 2.0, None, 1),  # another process has a core: serial
        (2, 6.0, None, 1),
        (8, 3.0, None, 4),  # at most 4
        (2, 6.0, "2", 2),  # PYMELD_JOBS decides when set
        (4, 0.0, "1", 1),
    ],
)
def test_workers_follow_idle_cores(
    cores: int, load: float, jobs: str | None, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bodies.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(bodies.os, "getloadavg", lambda: (load, load, load))
    if jobs is None:
        monkeypatch.delenv("PYMELD_JOBS", raising=False)
    else:
        monkeypatch.setenv("PYMELD_JOBS", jobs)
    assert bodies._workers() == expected
