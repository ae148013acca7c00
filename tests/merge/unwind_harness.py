"""Runs a core module before and after `merge.unwind` in wasmtime, with suspensions.

Test modules import ``env.suspend (param i32) (result i32)`` (the suspend point: it answers
``3 * x + 1``) and ``env.log_i32/i64/f32/f64`` (one value each). Untransformed, a suspend
returns at once. Transformed, every suspend unwinds to the host, which keeps each suspended
entry with its own frame buffer and resumes them in a random order, interleaving new entries;
the rewind's suspend call must see the same argument. Each entry's log (values, suspends,
result) must be the same both ways.
"""

from __future__ import annotations

import math
import random
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

import wasmtime

from pymeld.codec.core.encode import encode_module
from pymeld.codec.core.model import (
    Export,
    ExternKind,
    FuncImport,
    Limits,
    MemoryType,
    Module,
)
from pymeld.codec.core.parse import parse_module
from pymeld.merge.unwind import (
    HEADER_SIZE,
    REWINDING,
    UNWINDING,
    UnwindResult,
    add_control_exports,
    add_state_globals,
    unwind,
)
from support import require_wasm_tools, wat_to_wasm

BUFFER = 1 << 14  # bytes per suspended entry (header included)
SLOTS = 4  # frame buffers in the one-page frame memory
FUEL = 50_000_000  # instructions per machine
MAX_ROUNDS = 2_000  # calls and resumes per run_interleaved (the programs make < 300)


@dataclass
class Transformed:
    original: bytes
    wasm: bytes
    module: Module
    result: UnwindResult


def transform(wasm: bytes, *, suspend: str = "suspend") -> Transformed:
    """``wasm`` with a fresh frame memory (exported as ``unwind.mem``), the state globals and
    the control functions, rewritten for the suspend point ``env.<suspend>``; checks that the
    output validates and that the functions not rewritten kept their bytes."""
    module = parse_module(wasm)
    points = [
        k
        for k, imp in enumerate(i for i in module.imports if isinstance(i.desc, FuncImport))
        if imp.name == suspend
    ]
    mem = module.num_memories()
    module.memories.append(MemoryType(Limits(1)))
    module.exports.append(Export("unwind.mem", ExternKind.MEMORY, mem))
    g = add_state_globals(module, mem)
    result = unwind(module, points, g)
    add_control_exports(module, g)
    out = encode_module(module)
    validate(out)
    before = parse_module(wasm)
    nimp = before.num_imported(ExternKind.FUNC)
    for k, code in enumerate(before.codes):
        if nimp + k not in result.transformed:
            assert module.codes[k].body == code.body, f"function {nimp + k} changed"
    return Transformed(wasm, out, module, result)


def validate(wasm: bytes) -> None:
    p = subprocess.run(
        [require_wasm_tools(), "validate", "-"], input=wasm, capture_output=True, check=False
    )
    assert p.returncode == 0, p.stderr.decode()


def _norm(v: object) -> object:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else struct.pack("<d", v).hex()
    return v


@dataclass
class _Task:
    name: str
    slot: int
    log: list[object] = field(default_factory=list)
    pending: int | None = None  # the suspend argument to see again on rewind


class Machine:
    """One instance of a (transformed or not) module and its host."""

    def __init__(self, wasm: bytes, *, transformed: bool) -> None:
        self.transformed = transformed
        config = wasmtime.Config()
        config.consume_fuel = True  # a broken transform may loop: make it trap instead
        self.engine = wasmtime.Engine(config)
        self.store = wasmtime.Store(self.engine)
        self.store.set_fuel(FUEL)
        self.module = wasmtime.Module(self.engine, wasm)
        self.current: _Task | None = None
        imports = []
        for imp in self.module.imports:
            assert imp.module == "env", imp.module
            ty = imp.type
            assert isinstance(ty, wasmtime.FuncType)
            imports.append(self._host(imp.name or "", ty))
        self.instance = wasmtime.Instance(self.store, self.module, imports)
        self.exports = self.instance.exports(self.store)

    def _host(self, name: str, ty: wasmtime.FuncType) -> wasmtime.Func:
        if name == "suspend":
            return wasmtime.Func(self.store, ty, self._suspend, access_caller=True)
        assert name.startswith("log_"), name

        def log(x: object) -> None:
            assert self.current is not None
            self.current.log.append(_norm(x))

        return wasmtime.Func(self.store, ty, log)

    def _call(self, caller: wasmtime.Caller, name: str, *args: int) -> object:
        f = caller.get("unwind." + name)
        assert isinstance(f, wasmtime.Func)
        return f(caller, *args)

    def _suspend(self, caller: wasmtime.Caller, x: int) -> int:
        task = self.current
        assert task is not None
        if not self.transformed:
            task.log += [("suspend", x), "resumed"]
            return 3 * x + 1
        if self._call(caller, "state") == REWINDING:
            assert task.pending == x, (task.pending, x)
            task.pending = None
            self._call(caller, "stop_rewind")
            task.log.append("resumed")
            return 3 * x + 1
        task.log.append(("suspend", x))
        task.pending = x
        self._call(caller, "start_unwind", task.slot * BUFFER)
        return -12345  # ignored: the callers unwind

    def _run(self, task: _Task, args: list[object]) -> bool:
        """Calls (or resumes) ``task``'s export; True when it returned for good."""
        self.current = task
        f = self.exports[task.name]
        assert isinstance(f, wasmtime.Func)
        result = f(self.store, *args)
        if self.transformed and self.exports["unwind.state"](self.store) == UNWINDING:
            self.exports["unwind.stop_unwind"](self.store)
            return False
        if isinstance(result, list):
            task.log.append(("result", *map(_norm, result)))
        else:
            task.log.append(("result", _norm(result)))
        return True

    def run_alone(self, name: str, args: list[object]) -> list[object]:
        task = _Task(name, 0)
        assert self._run(task, args)
        return task.log

    def run_interleaved(
        self, entries: list[tuple[str, list[object]]], rng: random.Random
    ) -> list[list[object]]:
        """Every entry started in order, suspended ones resumed in a random order, new
        entries started in between; each entry's log."""
        mem = self.exports["unwind.mem"]
        assert isinstance(mem, wasmtime.Memory)
        free = list(range(SLOTS))
        todo = list(enumerate(entries))
        suspended: list[tuple[int, _Task, list[object]]] = []
        logs: list[list[object]] = [[] for _ in entries]
        rounds = 0
        while todo or suspended:
            rounds += 1
            assert rounds < MAX_ROUNDS, "an entry keeps suspending"
            if todo and free and (not suspended or rng.random() < 0.4):
                k, (name, args) = todo.pop(0)
                task = _Task(name, free.pop(0))
                base = task.slot * BUFFER
                header = struct.pack("<II", base + HEADER_SIZE, base + BUFFER)
                mem.write(self.store, header, base)
                call_args = args
            else:
                k, task, call_args = suspended.pop(rng.randrange(len(suspended)))
                self.exports["unwind.start_rewind"](self.store, task.slot * BUFFER)
            if self._run(task, call_args):
                logs[k] = task.log
                cur = struct.unpack(
                    "<I", mem.read(self.store, task.slot * BUFFER, task.slot * BUFFER + 4)
                )[0]
                assert cur == task.slot * BUFFER + HEADER_SIZE, "frames left in the buffer"
                free.append(task.slot)
            else:
                dummy = [_dummy(a) for a in call_args]
                suspended.append((k, task, dummy))
        return logs


def _dummy(a: object) -> object:
    """A different argument of the same type (a rewind must ignore its arguments)."""
    return a + 1 if isinstance(a, int) else -1.5


def check(
    wat: str,
    entries: list[tuple[str, list[object]]],
    *,
    seed: int = 0,
    min_suspends: int = 1,
    after: Callable[[Transformed], None] | None = None,
) -> Transformed:
    """``entries`` (export name, arguments) behave the same before and after the transform."""
    wasm = wat_to_wasm(wat)
    t = transform(wasm)
    plain = Machine(wasm, transformed=False)
    expected = [plain.run_alone(name, args) for name, args in entries]
    got = Machine(t.wasm, transformed=True).run_interleaved(entries, random.Random(seed))
    for (name, args), want, have in zip(entries, expected, got, strict=True):
        assert have == want, f"{name}{args}:\n  want {want}\n  have {have}"
    assert sum(str(log).count("'suspend'") for log in expected) >= min_suspends
    if after is not None:
        after(t)
    return t
