"""Pytest hooks and fixtures: the ``--slow`` switch, the shared corpus, tools, run summaries.

The corpus is never copied into the repo: it is found at ``<repo>/../shared`` or wherever
``PYMELD_SHARED`` points. Tests that need it skip (with the path they looked at) when absent.
Long fuzz/property runs are marked ``slow`` and run only with ``--slow`` or ``PYMELD_SLOW=1``.
The plain helpers these build on, which test modules import too, are in ``support.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import support
from support import REPO, convert_wasts, pymeld_exe, require_wasm_tools, shared_root


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="run long fuzz/property runs (also: PYMELD_SLOW=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    support.SLOW = support.SLOW or bool(config.getoption("--slow"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if support.SLOW:
        return
    skip = pytest.mark.skip(reason="slow: run with --slow or PYMELD_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def slow() -> bool:
    """True in long-run mode; tests scale their iteration counts with it."""
    return support.SLOW


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
    return require_wasm_tools()


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
    return convert_wasts(wasm_tools, sorted(wast_dir.rglob("*.wast")), out)


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
