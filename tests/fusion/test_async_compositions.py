"""Real async (WASI 0.3) compositions built here: the original replays its recording, and
pymeld's output replays it too (with `--keep-async-boundaries`, or a refusal by name).

The cases live in ``tests/data/async-compositions/`` (README there: toolchains, sizes, what
crosses between the instances). Each ``expected*.json`` was recorded from the ORIGINAL with
``tests/async_harness.py``, which calls exports through wasmtime's C-API async call (the shared
corpus harness cannot call ``async func`` exports). Compiled components are kept in pytest's
cache directory (the 43 MB componentize-py composition takes 10-20 s to compile, and its compiled
form is 78 MB): only the committed originals are cached, since fused outputs change with pymeld.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime

import async_harness
import pymeld
from support import REPO, pymeld_exe, wasm_tools_exe, wat_to_wasm

DATA = REPO / "tests" / "data" / "async-compositions"


@dataclass(frozen=True)
class Case:
    name: str
    directory: str
    wasm: str  # the composition, as committed
    expected: str
    parts: tuple[str, ...] = ()  # the same composition as separate inputs (root first)

    @property
    def wasm_path(self) -> Path:
        return DATA / self.directory / self.wasm

    @property
    def expected_path(self) -> Path:
        return DATA / self.directory / self.expected


CASES = [
    # componentize-py root -> componentize-py provider: async lower -> async callback lift,
    # stream<u8> both ways, future<u32>, future<string>, a stream passed back to its producer,
    # a readable end dropped early, a trap in the provider's task.
    Case("py-stream-future", "py-stream-future", "composed.wasm.xz", "expected.json"),
    # The same built with --stub-wasi and logging off: no imports at all, async and nothing else.
    Case(
        "py-stream-future-quiet",
        "py-stream-future",
        "composed-quiet.wasm.xz",
        "expected-quiet.json",
    ),
    # componentize-py consumer -> middle -> provider, the provider's instance shared by both:
    # a resource with async methods and sync `name`/constructor calls (into an instance that
    # reads streams: merge.asyncsyncthreads), records, variants, errors through two
    # boundaries, stream<string>/stream<u8> both ways, an end handed on, concurrent calls.
    Case("py-rich-async", "py-rich-async", "composed.wasm.xz", "expected.json"),
    # componentize-py consumer -> provider: stream<record>, future<list<string>>,
    # stream<own<token>> both ways, stream<stream<u8>>, future<stream<u8>>, an early drop,
    # options and tuples of scalars, a cancel, prints, sync exports.
    Case("py-payloads", "py-payloads", "composed.wasm.xz", "expected.json"),
    # C root, sync lifts and sync lowers -> C provider, async callback lifts that yield; printf.
    Case(
        "c-sync-root",
        "c-sync-root",
        "composed.wasm",
        "expected.json",
        ("croot.wasm", "cprovider.wasm"),
    ),
    # The same without WASI: async between the two instances and nothing else.
    Case(
        "c-sync-root-quiet",
        "c-sync-root",
        "composed-quiet.wasm",
        "expected-quiet.json",
        ("croot-quiet.wasm", "cprovider.wasm"),
    ),
]
IDS = [c.name for c in CASES]
KEEP_FLAG = "--keep-async-boundaries"


@pytest.fixture(scope="module")
def cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Compiled components: pytest's cache dir (kept between runs), else a temp dir."""
    store = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    return Path(store.mkdir("async-harness")) if store else tmp_path_factory.mktemp("compiled")


def _replay(case: Case, wasm: Path, cache: Path | None = None) -> tuple[int, list[str]]:
    try:
        return async_harness.check(case.expected_path, wasm, cache)
    except wasmtime.WasmtimeError as e:  # compile or instantiate: not a call's trap
        pytest.fail(f"{wasm.name} does not load under wasmtime: {' '.join(str(e).split())}")


def _recorded_calls(case: Case) -> int:
    spec = json.loads(case.expected_path.read_text())
    return sum(len(s["calls"]) for s in spec["sessions"])


def _assert_named_async_refusal(message: str) -> None:
    """A refusal must say it is a known limitation and name the async feature it needs."""
    assert message.startswith("unsupported: "), message
    assert re.search(r"\basync\b", message), f"refusal does not name async: {message}"
    assert "needs" in message or "not fused yet" in message, f"refusal names no need: {message}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_original_replays_its_recording(case: Case, cache: Path, report) -> None:
    """The recording is valid and the harness reproduces it on the original."""
    total, bad = _replay(case, case.wasm_path, cache)
    assert not bad, "\n".join(bad)
    assert total == _recorded_calls(case) > 0
    report(f"async composition {case.name}", f"original: {total} recorded calls replayed")


def test_replay_detects_a_divergence(cache: Path, tmp_path: Path) -> None:
    """A changed value, a changed trap and changed stdout are each reported (the harness can fail)."""
    case = next(c for c in CASES if c.name == "c-sync-root")
    spec = json.loads(case.expected_path.read_text())
    first = spec["sessions"][0]
    first["calls"][1]["expect"]["value"] += 1
    first["stdout"] += "extra\n"
    trap_session = next(s for s in spec["sessions"] if s["calls"][-1]["expect"].get("trap"))
    trap_session["calls"][-1]["expect"] = {"value": 0}
    bent = tmp_path / "expected.json"
    bent.write_text(json.dumps(spec))
    total, bad = async_harness.check(bent, case.wasm_path, cache)
    assert total == _recorded_calls(case)
    assert len(bad) == 3, bad


def test_harness_refuses_host_streams_by_name(tmp_path: Path) -> None:
    """An export taking a stream would need the host to write it: a named error, no guess."""
    wasm = tmp_path / "s.wasm"
    wasm.write_bytes(
        wat_to_wasm("""(component
          (core module $m (func (export "f") (param i32)))
          (core instance $i (instantiate $m))
          (type $s (stream u8))
          (func (export "f") (param "s" $s) (canon lift (core func $i "f"))))""")
    )
    spec = {"wasi": False, "sessions": [{"name": "s", "calls": [{"func": ["f"], "args": [[1]]}]}]}
    with pytest.raises(async_harness.HostStreamError, match="StreamType"):
        async_harness.run_sessions(spec, wasm, None)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fused_replays_or_refuses_by_name(case: Case, tmp_path: Path, report) -> None:
    """`pymeld fuse --component` of the composition (and of its parts given separately). Every
    case fuses today (issue 11: stages 2-4, driven roots beside streams): a refusal fails."""
    inputs = [[(case.wasm, async_harness.read_wasm(case.wasm_path))]]
    if case.parts:
        inputs.append([(p, (DATA / case.directory / p).read_bytes()) for p in case.parts])
    lines = []
    for i, given in enumerate(inputs):
        label = " + ".join(name for name, _ in given)
        result = pymeld.fuse_files(given, options=pymeld.FuseOptions(component=True))
        fused = tmp_path / f"fused{i}.wasm"
        fused.write_bytes(result.output)
        total, bad = _replay(case, fused)
        assert not bad, f"{label}: fused output diverges:\n" + "\n".join(bad)
        lines.append(f"{label}: fused ({len(result.output)} bytes), {total} calls replayed")
    report(f"async composition {case.name}: pymeld fuse", "\n".join(lines))


def _keep_flag_available() -> bool:
    p = subprocess.run(
        [*pymeld_exe(), "fuse", "--help"], capture_output=True, text=True, timeout=60
    )
    return KEEP_FLAG in p.stdout


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_keep_async_boundaries_replays(case: Case, tmp_path: Path, report) -> None:
    """With `--keep-async-boundaries` (when the CLI has it) the output must replay exactly."""
    if not _keep_flag_available():
        pytest.skip(f"pymeld fuse has no {KEEP_FLAG} yet")
    src = tmp_path / "composed.wasm"
    src.write_bytes(async_harness.read_wasm(case.wasm_path))
    out = tmp_path / "kept.wasm"
    p = subprocess.run(
        [*pymeld_exe(), "fuse", str(src), "--component", KEEP_FLAG, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if p.returncode != 0:
        message = p.stderr.strip().removeprefix("pymeld: error: ")
        print(f"{case.name} {KEEP_FLAG}: {message}")
        assert p.returncode == 1 and "pymeld: error: unsupported:" in p.stderr, p.stderr
        _assert_named_async_refusal(message)
        report(f"async composition {case.name}: {KEEP_FLAG}", f"refused: {message}")
        return
    total, bad = _replay(case, out)
    assert not bad, "\n".join(bad)
    report(
        f"async composition {case.name}: {KEEP_FLAG}",
        f"{out.stat().st_size} bytes, {total} calls replayed",
    )


# -- rebuilding from the pinned sources (skipped where the toolchain is absent) ----------------
def test_c_sync_root_rebuilds_byte_for_byte(tmp_path: Path) -> None:
    """build.sh with the pinned Debian clang-16 + wasm-tools reproduces the committed files."""
    adapter = os.environ.get("WASI_ADAPTER")
    wasm_tools = wasm_tools_exe()
    if not (shutil.which("clang-16") and Path("/usr/bin/wasm-ld-16").exists()):
        pytest.skip("clang-16 / wasm-ld-16 not installed (see c-sync-root/build.sh)")
    if wasm_tools is None or not adapter or not Path(adapter).exists():
        pytest.skip("set WASI_ADAPTER to jco 1.35.0's wasi_snapshot_preview1.reactor.wasm")
    env = {**os.environ, "OUT": str(tmp_path), "WASM_TOOLS": wasm_tools}
    p = subprocess.run(
        ["sh", str(DATA / "c-sync-root" / "build.sh")], env=env, capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    for name in ("cprovider.wasm", "croot.wasm", "croot-quiet.wasm", "composed.wasm"):
        assert (tmp_path / name).read_bytes() == (DATA / "c-sync-root" / name).read_bytes(), name
    quiet = DATA / "c-sync-root" / "composed-quiet.wasm"
    assert (tmp_path / "composed-quiet.wasm").read_bytes() == quiet.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("directory", ["py-stream-future", "py-rich-async", "py-payloads"])
def test_componentize_py_rebuild_replays(directory: str, tmp_path: Path) -> None:
    """componentize-py output differs on every build: a rebuild must replay the recordings."""
    cpy = shutil.which("componentize-py")
    wasm_tools = wasm_tools_exe()
    if cpy is None or wasm_tools is None or shutil.which("xz") is None:
        pytest.skip("componentize-py==0.25.1 / wasm-tools / xz not installed")
    env = {**os.environ, "OUT": str(tmp_path), "WASM_TOOLS": wasm_tools, "COMPONENTIZE_PY": cpy}
    p = subprocess.run(
        ["sh", str(DATA / directory / "build.sh")], env=env, capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    for case in [c for c in CASES if c.directory == directory]:
        total, bad = _replay(case, tmp_path / case.wasm)
        assert not bad, "\n".join(bad)
        assert total == _recorded_calls(case)
