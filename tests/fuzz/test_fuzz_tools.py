"""Valid-but-random core modules from ``wasm-tools smith`` and ``wasm-tools mutate``.

Valid input must decode, and must round-trip byte-exactly (both tools emit canonical
encodings); failing that, it must at least re-parse to an equal tree. Inputs are generated in
one batch per module (seeded, so a failure names a reproducible seed) and then checked
in-process under the per-input time guard. Default: 300 + 300 inputs; ``--slow``: 10x.
"""

from __future__ import annotations

import random
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fuzz_support import INPUT_TIMEOUT_S, time_guard

from pymeld.api import is_component

SMITH_N = 300
MUTATE_N = 300
SLOW_FACTOR = 10


def _run_all(cmds: list[tuple[list[str], bytes | None]]) -> list[int]:
    """Run the commands two at a time (the suite's budget is 2 cores); return exit codes."""

    def one(c: tuple[list[str], bytes | None]) -> int:
        return subprocess.run(c[0], input=c[1], capture_output=True).returncode

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(one, cmds))


@pytest.fixture(scope="module")
def smith_modules(
    wasm_tools: str, tmp_path_factory: pytest.TempPathFactory, slow: bool
) -> list[Path]:
    out = tmp_path_factory.mktemp("smith")
    n = SMITH_N * (SLOW_FACTOR if slow else 1)
    rng = random.Random(20240601)
    cmds = []
    for i in range(n):
        seed = rng.randbytes(rng.choice((200, 1000, 4000, 16000)))
        cmds.append(([wasm_tools, "smith", "-o", str(out / f"smith-{i:05d}.wasm")], seed))
    _run_all(cmds)  # exit 2 = "could not build a module from this seed": rare, skipped
    files = sorted(out.glob("*.wasm"))
    assert len(files) >= n * 0.9, f"wasm-tools smith produced only {len(files)}/{n} modules"
    return files


@pytest.fixture(scope="module")
def mutated_modules(
    wasm_tools: str,
    smith_modules: list[Path],
    wast_binaries: list[Path],
    tmp_path_factory: pytest.TempPathFactory,
    slow: bool,
) -> list[Path]:
    out = tmp_path_factory.mktemp("mutate")
    core = [p for p in wast_binaries if not is_component(p.read_bytes()[:8])]
    bases = [p for p in [*smith_modules[:60], *core] if p.stat().st_size > 8]
    n = MUTATE_N * (SLOW_FACTOR if slow else 1)
    rng = random.Random(7)
    cmds = []
    for i in range(n):
        src = bases[rng.randrange(len(bases))]
        dst = out / f"mut-{i:05d}.wasm"
        cmds.append(([wasm_tools, "mutate", str(src), "--seed", str(i), "-o", str(dst)], None))
    _run_all(cmds)  # non-zero: input invalid (negative wast tests) or no mutation found
    files = sorted(out.glob("*.wasm"))
    assert len(files) >= n // 3, f"wasm-tools mutate produced only {len(files)}/{n} outputs"
    return files


def _check_roundtrip(files: list[Path]) -> tuple[int, int]:
    from pymeld.codec.core import encode_module, parse_module

    exact = equal = 0
    with time_guard() as arm:
        for path in files:
            data = path.read_bytes()
            arm(INPUT_TIMEOUT_S)
            try:
                module = parse_module(data, file=path.name)
                out = encode_module(module)
                if out == data:
                    exact += 1
                    continue
                again = parse_module(out, file=f"{path.name} (re-encoded)")
                assert again == module, (
                    f"{path}: re-encoding differs ({len(data)} -> {len(out)} bytes) "
                    "and does not re-parse to an equal module"
                )
                equal += 1
            except BaseException as e:
                e.add_note(f"input: {path} (valid per its generator; kept until the session ends)")
                raise
            finally:
                arm(0)
    return exact, equal


def test_smith_roundtrip(smith_modules: list[Path], report) -> None:
    exact, equal = _check_roundtrip(smith_modules)
    report("wasm-tools smith", f"{len(smith_modules)} modules: {exact} byte-exact, {equal} equal")


def test_mutate_roundtrip(mutated_modules: list[Path], report) -> None:
    exact, equal = _check_roundtrip(mutated_modules)
    report(
        "wasm-tools mutate", f"{len(mutated_modules)} modules: {exact} byte-exact, {equal} equal"
    )
