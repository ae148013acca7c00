"""Rewriting every function body with its instance's index maps, on all cores when it pays.

This is fusion's hot loop. A body that occurs more than once (the same module instantiated
twice, or two components carrying the same language runtime) is decoded once, then patched with
each instance's maps. Large inputs are cut by the regular expression of `codec.core.tokens`
(the walk in C; a body it declines takes the path below); small ones skip compiling it: their
index immediates are found by `patch_sites` (`codec.core.instructions`, a Python loop), with
`rewrite_body` for what that declines. Every path gives the same bytes. Bodies are independent, so a large input is split into contiguous
chunks rewritten by forked worker processes; results come back in order, so the output is the
same bytes as a serial run. Small inputs, platforms without `fork`, single-core machines, busy
machines (no idle core: see `_workers`) and `PYMELD_JOBS=1` (the variable caps the worker
count; set it to 1 when embedding pymeld in a threaded program) run serially. So do Pyodide and
WASI (`sys.platform` emscripten/wasi), whose `multiprocessing` lists `fork` but cannot start a
process, and any platform where the pool cannot be created: the serial result is the same
bytes. `multiprocessing` is imported only when
workers are really used.
"""

from __future__ import annotations

import os
import sys

from pymeld.codec.core import instructions as ins
from pymeld.errors import PymeldError
from pymeld.merge.funcrefs import body_refs, token_refs

#: Below this much (distinct) code, starting workers costs more than it saves.
PARALLEL_MIN_BYTES = 4 << 20
#: From this much (distinct) code on, bodies are cut by the regular expression of
#: `codec.core.tokens` (compiling it costs what walking ~100 kB in Python does).
TOKENS_MIN_BYTES = 256 << 10
#: Platforms that report `fork` but cannot run a second process (Pyodide, WASI).
NO_PROCESSES = ("emscripten", "wasi")

Work = list[tuple[list[bytes], ins.IndexMaps, str]]
#: Per entry of `Work`, a set that receives the functions its bodies `ref.func` (None: not
#: wanted), found by the rewrite's own decoding (`merge.funcrefs`).
Refs = list[set[int] | None]
#: One distinct body and where it occurs: (entry, position in that entry's bodies).
Unit = tuple[bytes, list[tuple[int, int]]]

# (units, work, refs wanted) per job; set before the pool forks so workers inherit it, not
# pickle it.
_JOBS: list[tuple[list[Unit], Work, list[bool]]] = []

#: `patch_sites` of each body the last `rewrite_all` scanned itself or was given (not the ones
#: cut by `codec.core.tokens` or in workers): the DWARF remap pairs input and output bodies
#: through them (`dwarf.addrmap`) instead of scanning its inputs again. Sites depend on a
#: body's bytes alone, so an entry is right for any body equal to its key.
SCANNED: dict[bytes, list[ins.Patch] | None] = {}


def _rewrite_units(
    units: list[Unit],
    work: Work,
    tokens: bool = False,
    known: dict[bytes, list[ins.Patch] | None] | None = None,
    refs: Refs | None = None,
) -> list[list[bytes | PymeldError]]:
    """Per unit, the rewritten body for each occurrence (or the error it raises, raised later
    in input order so the first error reported is the one a plain serial walk would report).
    ``tokens``: cut bodies with `codec.core.tokens` first (the same bytes, faster in bulk);
    ``known``: bodies already scanned (`patch_sites`), by an earlier pass over the same code;
    ``refs``: see `Refs` (from each entry's token map, which holds every token its rewritten
    bodies have, and from the patch sites of the bodies the tokens decline)."""
    known = known or {}
    refs = refs or [None] * len(work)
    results: list[list[bytes | PymeldError]] = []
    tables: list[ins.PatchTable | None] = [None] * len(work)  # per entry, made when first used
    if tokens:
        from pymeld.codec.core import tokens as tok

        rewriter = tok.Rewriter()
        tokmaps: list[tok.TokenMap | None] = [None] * len(work)
    for body, where in units:
        outs: list[bytes | PymeldError] = []
        parts = tok.tokenize(body) if tokens else None
        if parts is not None:  # the general path below when a token does not map
            last = len(where) - 1
            for n, (entry, _) in enumerate(where):
                if work[entry][1].keep_width:  # the tokens write minimal LEB128s
                    break
                tm = tokmaps[entry]
                if tm is None:
                    tm = tokmaps[entry] = rewriter.table(work[entry][1])
                out = tok.rewrite(parts, tm, reuse=n == last)
                if out is None:
                    break
                outs.append(out)
            else:
                results.append(outs)
                continue
            outs = []
        sites = known[body] if body in known else ins.patch_sites(body)
        SCANNED[body] = sites
        for entry, _ in where:
            _, maps, file = work[entry]
            out = None
            if sites is not None:
                table = tables[entry]
                if table is None:
                    table = tables[entry] = ins.PatchTable(maps)
                out = ins.apply_patches(body, sites, table)
            if out is None:
                try:
                    out = ins.rewrite_body(body, maps, file=file)
                except PymeldError as e:
                    outs.append(e)
                    continue
            outs.append(out)
        if any(refs[entry] is not None for entry, _ in where) and not any(
            isinstance(o, PymeldError) for o in outs
        ):
            found = body_refs(body, sites)
            for entry, _ in where:
                r = refs[entry]
                if r is not None:
                    r |= found
        results.append(outs)
    if tokens:
        for r, tm in zip(refs, tokmaps):
            if r is not None and tm is not None:
                r |= token_refs(tm)
    return results


def _rewrite_job(job: int) -> tuple[list[list[bytes | PymeldError]], Refs]:
    units, work, wanted = _JOBS[job]
    refs: Refs = [set() if w else None for w in wanted]
    return _rewrite_units(units, work, tokens=True, refs=refs), refs


def rewrite_all(
    work: Work,
    known: dict[bytes, list[ins.Patch] | None] | None = None,
    refs: Refs | None = None,
) -> list[list[bytes]]:
    """Rewritten bodies for each (bodies, maps, file) entry of ``work``, in order (``known``:
    `patch_sites` of bodies already scanned, e.g. by `merge.leave`; ``refs``: see `Refs`)."""
    SCANNED.clear()
    index: dict[bytes, int] = {}
    units: list[Unit] = []
    for entry, (bodies, _, _) in enumerate(work):
        for i, b in enumerate(bodies):
            u = index.get(b)
            if u is None:
                index[b] = len(units)
                units.append((b, [(entry, i)]))
            else:
                units[u][1].append((entry, i))
    total = sum(len(b) for b, _ in units)
    workers = _workers()
    results = None
    if total >= PARALLEL_MIN_BYTES and workers >= 2 and sys.platform not in NO_PROCESSES:
        results = _parallel(units, work, total, workers, refs)
    if results is None:
        results = _rewrite_units(units, work, total >= TOKENS_MIN_BYTES, known, refs)
    placed: list[list[bytes | PymeldError]] = [[b""] * len(bodies) for bodies, _, _ in work]
    for (_, where), outs in zip(units, results):
        for (entry, i), o in zip(where, outs):
            placed[entry][i] = o
    out: list[list[bytes]] = []
    for row in placed:  # the first error in input order, as a serial walk would raise it
        for o in row:
            if isinstance(o, PymeldError):
                raise o
        out.append(row)  # type: ignore[arg-type]
    return out


def _workers() -> int:
    """Worker processes for a large input: one per core, at most 4, at most ``PYMELD_JOBS``.

    Without ``PYMELD_JOBS``, only the cores other processes leave idle (the 1-minute load
    average, less this process's own share): on a busy machine the workers would wait for a
    core, and forking them and copying their results back cost more CPU (about 10% of fusing
    py-compose-rich) than the parallel walk gives back. The output is the same either way.
    """
    cores = os.cpu_count() or 1
    jobs = os.environ.get("PYMELD_JOBS")
    if jobs:
        return min(cores, 4, int(jobs))
    try:
        others = os.getloadavg()[0] - 1.0  # the load average counts this process too
    except (AttributeError, OSError):  # no load average on this platform: assume idle
        others = 0.0
    return max(1, min(cores - max(0, int(others + 0.5)), 4))


def _parallel(
    units: list[Unit], work: Work, total: int, workers: int, refs: Refs | None = None
) -> list[list[bytes | PymeldError]] | None:
    """Contiguous chunks of about total/(4*workers) bytes, rewritten in forked workers (None:
    no usable process pool here, rewrite serially: same bytes, one core); each worker's
    `Refs` are added to ``refs``."""
    try:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        if "fork" not in multiprocessing.get_all_start_methods():
            return None
        ctx = multiprocessing.get_context("fork")
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    except (ImportError, NotImplementedError, OSError, ValueError):
        return None

    target = max(total // (4 * workers), 1)
    chunks: list[list[Unit]] = []
    current: list[Unit] = []
    size = 0
    for unit in units:
        current.append(unit)
        size += len(unit[0])
        if size >= target:
            chunks.append(current)
            current, size = [], 0
    if current:
        chunks.append(current)
    global _JOBS
    wanted = [r is not None for r in refs or ()] or [False] * len(work)
    _JOBS = [(chunk, work, wanted) for chunk in chunks]
    try:
        with pool:
            parts = list(pool.map(_rewrite_job, range(len(_JOBS))))
    except (OSError, NotImplementedError, BrokenProcessPool):  # workers would not start
        parts = [_rewrite_job(job) for job in range(len(_JOBS))]
    finally:
        _JOBS = []
    for _, found in parts:
        for r, f in zip(refs or (), found):
            if r is not None and f is not None:
                r |= f
    return [r for part, _ in parts for r in part]
