"""Fingerprints of fusion outputs: sha256 of `fuse` on every corpus component with several flag
sets, to check that a speed change leaves every output byte-identical.

    python benchmarks/fuse_outputs.py -o before.json          # on the old tree's venv
    python benchmarks/fuse_outputs.py -o after.json           # on the new one
    python benchmarks/fuse_outputs.py --compare before.json after.json

Inputs: every component under ``../shared/corpus/components`` and ``../shared/corpus/bench``,
and every component binary of the corpus ``.wast`` files (extracted once with
``wasm-tools json-from-wast`` into ``--cache``, so both runs read the same bytes). Each is fused
in this process through :func:`pymeld.fuse.fuse_files` under a name relative to the corpus (the
attestation records it); a refusal or error is fingerprinted by its message instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
CORPUS = SHARED / "corpus"

FLAG_SETS: dict[str, dict[str, object]] = {
    "core": {},
    "component": {"component": True},
    "shared-rebase": {"memory": "shared", "address_rebase": True},
    "component-names": {"component": True, "preserve_names": True},
    "auto": {"memory": "auto", "component": True},
}


def _wasm_tools() -> str:
    local = Path(sys.executable).parent / "wasm-tools"
    found = str(local) if local.exists() else shutil.which("wasm-tools")
    if found is None:
        sys.exit("needs wasm-tools (make venv-test)")
    return found


def _is_component(data: bytes) -> bool:
    return data[:4] == b"\0asm" and data[4:8] == b"\x0d\x00\x01\x00"


def inputs(cache: Path) -> list[tuple[str, bytes]]:
    """(name relative to the corpus, bytes) of every component input, in a fixed order."""
    found: dict[str, bytes] = {}
    for sub in ("components", "bench"):
        for p in sorted((CORPUS / sub).rglob("*.wasm")):
            data = p.read_bytes()
            if _is_component(data):
                found[str(p.relative_to(CORPUS))] = data
    tool = None
    for wast in sorted((CORPUS / "wast").rglob("*.wast")):
        rel = wast.relative_to(CORPUS)
        out = cache / rel.with_suffix("")
        if not (out / "done").exists():
            tool = tool or _wasm_tools()
            out.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [tool, "json-from-wast", str(wast), "-o", str(out / "x.json"), "--wasm-dir", out],
                capture_output=True,
                check=False,
            )
            (out / "done").write_text("")
        for p in sorted(out.glob("*.wasm"), key=lambda q: (len(q.name), q.name)):
            data = p.read_bytes()
            if _is_component(data):
                found[f"{rel}/{p.name}"] = data
    return sorted(found.items())


def fingerprint(name: str, data: bytes, flags: dict[str, object]) -> str:
    from pymeld.errors import PymeldError
    from pymeld.fuse import FuseOptions, fuse_files

    try:
        out = fuse_files([(name, data)], options=FuseOptions(**flags)).output  # type: ignore[arg-type]
    except PymeldError as e:
        return "error: " + " ".join(str(e).split())[:300]
    except Exception as e:  # a bug: fingerprinted too, so before and after must agree
        return f"internal: {type(e).__name__}: " + " ".join(str(e).split())[:300]
    return hashlib.sha256(out).hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-o", "--output", type=Path, help="write the fingerprints here (JSON)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/pymeld-fuse-outputs"))
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    ap.add_argument("--max-bytes", type=int, default=0, help="skip inputs larger than this")
    args = ap.parse_args()
    if args.compare:
        a, b = (json.loads(p.read_text()) for p in args.compare)
        diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        for k in diff:
            print(f"DIFFERENT {k}: {a.get(k)} -> {b.get(k)}")
        print(f"{len(a)} / {len(b)} fingerprints, {len(diff)} different")
        return 1 if diff else 0
    t0 = time.monotonic()
    result: dict[str, str] = {}
    files = inputs(args.cache)
    for name, data in files:
        if args.max_bytes and len(data) > args.max_bytes:
            continue
        for label, flags in FLAG_SETS.items():
            result[f"{name} [{label}]"] = fingerprint(name, data, flags)
    errors = sum(v.startswith("error") for v in result.values())
    print(
        f"{len(files)} inputs, {len(result)} fusions ({errors} refused or failed) "
        f"in {time.monotonic() - t0:.1f} s"
    )
    if args.output:
        args.output.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
