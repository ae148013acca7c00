"""What the benchmark scripts share: where the corpus is and which tools they run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def shared_root() -> Path:
    """The shared corpus (``$PYMELD_SHARED``, else ``../shared`` beside the project)."""
    env = os.environ.get("PYMELD_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def tool(name: str) -> str:
    """A command of this venv (pymeld, wasm-tools), else from PATH; exits if it is neither."""
    local = Path(sys.executable).with_name(name)
    exe = str(local) if local.exists() else shutil.which(name)
    if not exe:
        sys.exit(f"{name} not found (make venv-test)")
    return exe


def fuse_component(src: Path, out: Path) -> str | None:
    """``pymeld fuse SRC --component -o OUT``; None on success, else pymeld's last line
    (its named refusal or error)."""
    p = subprocess.run(
        [tool("pymeld"), "-q", "fuse", str(src), "--component", "-o", str(out)],
        capture_output=True,
        text=True,
    )
    if p.returncode == 0:
        return None
    lines = (p.stderr or p.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit {p.returncode}"
