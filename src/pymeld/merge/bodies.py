"""Rewriting every function body with its instance's index maps, on all cores when it pays.

This is fusion's hot loop (the instruction walk in `codec.core.instructions`). Bodies are
independent, so a large input is split into contiguous chunks rewritten by forked worker
processes; results come back in order, so the output is the same bytes as a serial run.
Small inputs, platforms without `fork`, single-core machines and `PYMELD_JOBS=1` (the variable
caps the worker count; set it to 1 when embedding pymeld in a threaded program) run serially.
So do Pyodide and WASI (`sys.platform` emscripten/wasi), whose `multiprocessing` lists `fork`
but cannot start a process, and any platform where the pool cannot be created: the serial
result is the same bytes. `multiprocessing` is imported only when workers are really used.
"""

from __future__ import annotations

import os
import sys

from pymeld.codec.core import instructions as ins

#: Below this much code, starting workers costs more than it saves.
PARALLEL_MIN_BYTES = 4 << 20

# (bodies, maps, file) per job; set before the pool forks so workers inherit it, not pickle it.
_JOBS: list[tuple[list[bytes], ins.IndexMaps, str]] = []


def _rewrite(job: int) -> list[bytes]:
    bodies, maps, file = _JOBS[job]
    return [ins.rewrite_body(b, maps, file=file) for b in bodies]


#: Platforms that report `fork` but cannot run a second process (Pyodide, WASI).
NO_PROCESSES = ("emscripten", "wasi")


def _serial(work: list[tuple[list[bytes], ins.IndexMaps, str]]) -> list[list[bytes]]:
    return [[ins.rewrite_body(b, maps, file=file) for b in bodies] for bodies, maps, file in work]


def rewrite_all(work: list[tuple[list[bytes], ins.IndexMaps, str]]) -> list[list[bytes]]:
    """Rewritten bodies for each (bodies, maps, file) entry of ``work``, in order."""
    total = sum(len(b) for bodies, _, _ in work for b in bodies)
    workers = min(os.cpu_count() or 1, 4, int(os.environ.get("PYMELD_JOBS", "4") or 4))
    if total < PARALLEL_MIN_BYTES or workers < 2 or sys.platform in NO_PROCESSES:
        return _serial(work)
    try:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        if "fork" not in multiprocessing.get_all_start_methods():
            return _serial(work)
        ctx = multiprocessing.get_context("fork")
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    except (ImportError, NotImplementedError, OSError, ValueError):
        return _serial(work)  # no usable process pool here: same bytes, one core
    # Split into chunks of about total/(4*workers) bytes, never across entries.
    target = max(total // (4 * workers), 1)
    chunks: list[tuple[int, list[bytes]]] = []  # (entry, bodies)
    for entry, (bodies, _, _) in enumerate(work):
        current: list[bytes] = []
        size = 0
        for b in bodies:
            current.append(b)
            size += len(b)
            if size >= target:
                chunks.append((entry, current))
                current, size = [], 0
        if current or not bodies:
            chunks.append((entry, current))
    global _JOBS
    _JOBS = [(bodies, work[entry][1], work[entry][2]) for entry, bodies in chunks]
    try:
        try:
            with pool:
                results = list(pool.map(_rewrite, range(len(_JOBS))))
        except (OSError, NotImplementedError, BrokenProcessPool):  # workers would not start
            results = [_rewrite(job) for job in range(len(_JOBS))]
    finally:
        _JOBS = []
    out: list[list[bytes]] = [[] for _ in work]
    for (entry, _), rewritten in zip(chunks, results):
        out[entry].extend(rewritten)
    return out
