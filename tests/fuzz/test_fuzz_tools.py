"""Valid-but-random core modules from ``wasm-tools smith`` and ``wasm-tools mutate``.

Valid input must decode, and must round-trip byte-exactly; failing that (every 4th smith module
is generated with padded 5-byte LEBs, which the codec may canonicalize), re-encoding must be a
fixed point and ``wasm-tools print`` must show the same module. Features: WebAssembly 3.0 plus
threads (what wasmtime runs); pre-standard proposals smith knows (compact imports, custom
descriptors/page sizes, shared-everything threads, wide arithmetic) are off. Inputs are generated in
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

#: WebAssembly 3.0 + threads; everything else smith can generate is switched off.
SMITH_FEATURES = [
    "--compact-imports-enabled=false",
    "--custom-descriptors-enabled=false",
    "--custom-page-sizes-enabled=false",
    "--shared-everything-threads-enabled=false",
    "--wide-arithmetic-enabled=false",
]
#: wasm-mutate cannot parse GC or exception-handling modules: its bases are generated without.
MUTATE_BASE_FEATURES = [*SMITH_FEATURES, "--gc-enabled=false", "--exceptions-enabled=false"]
MUTATE_BASES = 60

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
        padded = ["--min-uleb-size=5"] if i % 4 == 3 else []
        dst = out / f"smith-{i:05d}.wasm"
        cmds.append(([wasm_tools, "smith", *SMITH_FEATURES, *padded, "-o", str(dst)], seed))
    _run_all(cmds)  # exit 2 = "could not build a module from this seed": rare, skipped
    files = sorted(out.glob("*.wasm"))
    assert len(files) >= n * 0.9, f"wasm-tools smith produced only {len(files)}/{n} modules"
    return files


@pytest.fixture(scope="module")
def mutated_modules(
    wasm_tools: str,
    tmp_path_factory: pytest.TempPathFactory,
    slow: bool,
) -> list[Path]:
    out = tmp_path_factory.mktemp("mutate")
    rng = random.Random(7)
    cmds = []
    for i in range(MUTATE_BASES):
        dst = out / f"base-{i:03d}.wasm"
        cmds.append(
            ([wasm_tools, "smith", *MUTATE_BASE_FEATURES, "-o", str(dst)], rng.randbytes(4000))
        )
    _run_all(cmds)
    bases = sorted(out.glob("base-*.wasm"))
    n = MUTATE_N * (SLOW_FACTOR if slow else 1)
    cmds = []
    for i in range(n):
        src = bases[rng.randrange(len(bases))]
        dst = out / f"mut-{i:05d}.wasm"
        cmds.append(([wasm_tools, "mutate", str(src), "--seed", str(i), "-o", str(dst)], None))
    _run_all(cmds)  # exit 3: no mutation found for this seed (about 1 in 4)
    files = sorted(out.glob("mut-*.wasm"))
    assert len(files) >= n // 2, f"wasm-tools mutate produced only {len(files)}/{n} outputs"
    return files


def _check_roundtrip(files: list[Path], wasm_tools: str) -> tuple[int, int]:
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
                again = encode_module(parse_module(out, file=f"{path.name} (re-encoded)"))
                assert again == out, f"{path}: re-encoding is not a fixed point"
                assert _printed(wasm_tools, data) == _printed(wasm_tools, out), (
                    f"{path}: re-encoding ({len(data)} -> {len(out)} bytes) changes the module"
                )
                equal += 1
            except BaseException as e:
                e.add_note(f"input: {path} (valid per its generator; kept until the session ends)")
                raise
            finally:
                arm(0)
    return exact, equal


def _printed(wasm_tools: str, data: bytes) -> str:
    p = subprocess.run([wasm_tools, "print", "-"], input=data, capture_output=True, check=True)
    return p.stdout.decode()


def test_smith_roundtrip(smith_modules: list[Path], wasm_tools: str, report) -> None:
    exact, equal = _check_roundtrip(smith_modules, wasm_tools)
    report(
        "wasm-tools smith",
        f"{len(smith_modules)} modules: {exact} byte-exact, {equal} same meaning",
    )


def test_mutate_roundtrip(mutated_modules: list[Path], wasm_tools: str, report) -> None:
    exact, equal = _check_roundtrip(mutated_modules, wasm_tools)
    report(
        "wasm-tools mutate", f"{len(mutated_modules)} modules: {exact} byte-exact, {equal} equal"
    )
