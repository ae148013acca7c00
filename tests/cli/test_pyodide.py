"""pymeld under Pyodide (CPython compiled to WebAssembly) in Node: same bytes as CPython.

Everything comes from local files: the npm `pyodide` package (pinned; it carries the
interpreter and the standard library, so no CDN is needed), pymeld's wheel built from this
checkout, and its dependencies' wheels at the versions this venv runs. They are cached in
``.venv/pyodide`` (``$PYMELD_PYODIDE_CACHE`` overrides), which the npm registry and PyPI fill on
first use. Skipped only when Node.js is absent.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import REPO

#: The npm `pyodide` release the test (and the README recipe) pins.
PYODIDE_VERSION = "314.0.8"
#: pymeld's runtime dependencies and theirs, all pure Python.
DEPENDENCIES = ("rich", "markdown-it-py", "mdurl", "pygments")
RUNNER = Path(__file__).parent.parent / "pyodide" / "run_pymeld.mjs"


def _cache() -> Path:
    env = os.environ.get("PYMELD_PYODIDE_CACHE")
    return Path(env) if env else REPO / ".venv" / "pyodide"


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if p.returncode != 0:
        pytest.fail(f"{' '.join(cmd[:4])}... failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def pyodide_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(pyodide package dir, wheel dir), installed into the cache if missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js (node and npm) not installed: Pyodide cannot run here")
    cache = _cache()
    pkg = cache / "node_modules" / "pyodide"
    meta = pkg / "package.json"
    if not meta.exists() or json.loads(meta.read_text())["version"] != PYODIDE_VERSION:
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "package.json").write_text('{"private": true}\n')
        _run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--save-exact",
                f"pyodide@{PYODIDE_VERSION}",
            ],
            cwd=cache,
        )
    deps = cache / "wheels"
    pins = [f"{d}=={importlib.metadata.version(d)}" for d in DEPENDENCIES]
    have = {p.name.split("-")[0].lower().replace("_", "-") for p in deps.glob("*.whl")}
    if not all(d in have for d in DEPENDENCIES) or any(
        not list(deps.glob(f"{d.replace('-', '_')}-{importlib.metadata.version(d)}-*.whl"))
        for d in DEPENDENCIES
    ):
        shutil.rmtree(deps, ignore_errors=True)
        _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
              "-d", str(deps), *pins])  # fmt: skip
    # pymeld itself: a wheel of this checkout, so the test runs the code under test.
    wheels = tmp_path_factory.mktemp("wheels")
    for w in deps.glob("*.whl"):
        shutil.copy(w, wheels)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)])
    assert list(wheels.glob("pymeld-*.whl"))
    return pkg, wheels


def _in_pyodide(
    env: tuple[Path, Path], work: Path, *args: str, cpus: int = 0
) -> tuple[subprocess.CompletedProcess[str], float]:
    pkg, wheels = env
    sim = ["--simulate-cpus", str(cpus)] if cpus else []
    cmd = ["node", str(RUNNER), str(pkg), str(wheels), str(work), *sim, "--", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    secs = next(
        (float(line.split()[1]) for line in p.stderr.splitlines() if line.startswith("pyodide-")),
        0.0,
    )
    return p, secs


CASES = {
    "calculator": ("examples/calculator.composed.wasm", ()),
    "calculator-component": ("examples/calculator.composed.wasm", ("--component",)),
    "c-compose-text": ("c-compose-text/composed.wasm", ("--preserve-names",)),
    "c-compose-text-component": ("c-compose-text/composed.wasm", ("--component",)),
    # 18 MB, over 4 MiB of code: the size where CPython rewrites bodies in worker processes
    "py-compose-rich-provider": ("py-compose-rich/provider.wasm", ()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_pyodide_output_is_cpython_output(
    case: str, pyodide_env: tuple[Path, Path], corpus_components: Path, tmp_path: Path
) -> None:
    """Fusing in Pyodide gives CPython's bytes; with several reported cores and the parallel
    threshold at 0, it still works (serially: Pyodide cannot start processes)."""
    rel, flags = CASES[case]
    src = REPO / rel if rel.startswith("examples/") else corpus_components / rel
    shutil.copy(src, tmp_path / "in.wasm")
    t = time.perf_counter()
    cpy = subprocess.run(
        [sys.executable, "-m", "pymeld.cli", "fuse", "in.wasm", "-o", "cpython.wasm", *flags],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    cpython_secs = time.perf_counter() - t
    assert cpy.returncode == 0, cpy.stderr
    p, pyodide_secs = _in_pyodide(
        pyodide_env, tmp_path, "fuse", "in.wasm", "-o", "pyodide.wasm", *flags, cpus=4
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / "pyodide.wasm").read_bytes() == (tmp_path / "cpython.wasm").read_bytes()
    print(f"{case}: CPython process {cpython_secs:.2f} s, inside Pyodide {pyodide_secs:.2f} s")


def test_pyodide_errors_are_one_line(pyodide_env: tuple[Path, Path], tmp_path: Path) -> None:
    """The CLI's error contract holds in Pyodide too (no traceback, exit 1, no output)."""
    (tmp_path / "text.wasm").write_text("not wasm\n")
    p, _ = _in_pyodide(pyodide_env, tmp_path, "fuse", "text.wasm", "-o", "out.wasm")
    assert p.returncode == 1
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("pymeld:")]
    assert errors == ["pymeld: error: text.wasm, section preamble, offset 0x0: bad magic: "
                      "expected \\0asm (not a WebAssembly binary)"]  # fmt: skip
    assert "Traceback" not in p.stderr and not (tmp_path / "out.wasm").exists()
