"""The "may leave" flag: no calls out of an instance while its realloc runs.

wasmtime clears an instance's `may_leave` while it runs that instance's `cabi_realloc` for a
cross-component or host call, and every `canon lower`d call traps while it is clear ("cannot
leave component instance"). After fusion those calls are plain calls, so the fused module
carries the flag itself: a mutable global per instance whose realloc is called on its behalf,
guard functions that clear it around the call (adapters, root exports and host imports get the
guard's index instead of the realloc's), and a check at the start of every adapter and host
import reached from such an instance. (wasmtime's adapters run post-return with the flag set,
so post-return is left alone: the oracle in tests/fusion/wast/may-leave.wast pins both.)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pymeld.abi import types as at
from pymeld.codec.binary import uleb
from pymeld.graph.model import CanonOpts, CoreRef

REALLOC_SIG = (["i32", "i32", "i32", "i32"], ["i32"])


@dataclass(slots=True)
class Guard:
    """A generated function calling ``target`` with the owner's flag cleared (``clear``), or
    checking the owner's flag first (``not clear``). ``target`` is resolved at emission."""

    index: int
    target: CoreRef
    flag: int
    params: list[str]
    results: list[str]
    clear: bool


@dataclass(slots=True)
class LeaveGuards:
    """Plans flags and guards before any index is handed out, so adapters can call them."""

    first_global: int
    flags: dict[int, int] = field(default_factory=dict)  # component instance → global
    guards: list[Guard] = field(default_factory=list)
    first_func: int = 0
    _by_key: dict[tuple[CoreRef, bool, int], Guard] = field(default_factory=dict)

    def flag(self, owner: int) -> int:
        if owner not in self.flags:
            self.flags[owner] = self.first_global + len(self.flags)
        return self.flags[owner]

    def _guard(
        self, target: CoreRef, owner: int, sig: tuple[list[str], list[str]], clear: bool
    ) -> None:
        key = (target, clear, owner)
        if key not in self._by_key:
            g = Guard(len(self.guards), target, self.flag(owner), *sig, clear)
            self.guards.append(g)
            self._by_key[key] = g

    # -- planning (symbolic) ---------------------------------------------------------------------
    def plan_realloc(self, realloc: CoreRef, owner: int) -> None:
        """Guard a realloc that runs on behalf of ``owner``."""
        self._guard(realloc, owner, REALLOC_SIG, True)

    def plan_call(self, target: CoreRef, owner: int, sig: tuple[list[str], list[str]]) -> None:
        """Check ``owner``'s flag before it calls the import ``target`` (if it has a flag)."""
        if owner in self.flags:
            self._guard(target, owner, sig, False)

    # -- after planning: indices -------------------------------------------------------------------
    def index(self, target: CoreRef | None, owner: int, clear: bool) -> int | None:
        g = None if target is None else self._by_key.get((target, clear, owner))
        return None if g is None else self.first_func + g.index

    def options(self, resolved: at.CanonOptions, opts: CanonOpts, owner: int) -> at.CanonOptions:
        """``resolved`` with its realloc replaced by the guard, where one was planned."""
        realloc = self.index(opts.realloc, owner, True)
        if realloc is None:
            return resolved
        return replace(resolved, realloc=realloc)  # keeps every other option (async, callback)

    def check(self, owner: int) -> bytes:
        """Code trapping unless ``owner`` may leave (nothing if it never has to)."""
        flag = self.flags.get(owner)
        if flag is None:
            return b""
        return b"\x23" + uleb(flag) + b"\x45\x04\x40\x00\x0b"


def guard_body(g: Guard, target: int) -> bytes:
    """Body of a guard: clear/restore or check the flag around the forwarded call."""
    flag = uleb(g.flag)
    args = b"".join(b"\x20" + uleb(i) for i in range(len(g.params)))
    call = b"\x10" + uleb(target)
    if g.clear:
        return b"\x41\x00\x24" + flag + args + call + b"\x41\x01\x24" + flag + b"\x0b"
    return b"\x23" + flag + b"\x45\x04\x40\x00\x0b" + args + call + b"\x0b"
