"""The ``pymeld`` command (console script and ``python -m pymeld``): the CLI in a process of
its own, so it may tune the process before loading anything.

The cyclic collector's default thresholds run it hundreds of times in one fusion, which
allocates millions of objects and frees few cycles: ~10% of fusing a large input and several
ms of a small one's start-up. A one-shot process can collect cycles less often (mypy sets the
same thresholds for the same reason); a library user's process is left alone.
"""

import gc

gc.set_threshold(200_000, 30, 30)

from pymeld.cli import main  # noqa: E402 (after the thresholds: the imports are most of a small run)

__all__ = ["main"]

if __name__ == "__main__":
    main()
