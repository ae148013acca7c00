"""Which functions of the fused module an adapter inlines: small leaf reallocs (`LeafFunc`).

An adapter calls the callee's `realloc` for every string and list it copies in; when that is a
bump allocator of a few instructions the call (frame, saved registers, the engine's stack check)
costs about as much as the allocation (measured on benchmarks/cases/list-record.wat: ~4% of
the whole cross-component call). Only functions defined by the inputs qualify (not imports, not
generated code such as may-leave guards), with number-typed signature and locals, a body of at
most `MAX_BODY` bytes and `MAX_LOCALS` locals that `codec.core.inline.splice_leaf` accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pymeld.codec.core.emitter import VALTYPE_BYTE, VALTYPE_NAME, CoreValType
from pymeld.codec.core.inline import splice_leaf
from pymeld.codec.core.model import (
    ExternKind,
    FuncType,
    Module,
    NumType,
    RecGroup,
    SubType,
    ValType,
)

if TYPE_CHECKING:  # loaded when an adapter asks (compositions with cross-component calls)
    from pymeld.abi.adapter import LeafFunc

__all__ = ["LeafFuncs"]

#: Largest body (bytes of instructions) inlined: a bump allocator is ~60-100 bytes.
MAX_BODY = 160
#: Most declared locals of an inlined function.
MAX_LOCALS = 8


class LeafFuncs:
    """``leafs(func)``: the `LeafFunc` of fused function ``func`` if it is inlined, else None.

    ``first_generated``: the first function index fusion generates (those are never inlined);
    ``types``: the output's rec groups (the type section is written after the code). Bodies
    are read from ``out`` when first asked, after every input body was rewritten.
    """

    def __init__(self, out: Module, first_generated: int, types: Sequence[RecGroup]) -> None:
        self.out = out
        self.first_generated = first_generated
        self.groups = types
        self._found: dict[int, LeafFunc | None] = {}
        self._types: list[SubType] | None = None

    def __call__(self, func: int) -> LeafFunc | None:
        if func not in self._found:
            self._found[func] = self._leaf(func)
        return self._found[func]

    def _leaf(self, func: int) -> LeafFunc | None:
        out = self.out
        k = func - out.num_imported(ExternKind.FUNC)
        if not 0 <= k < len(out.codes) or func >= self.first_generated:
            return None
        code = out.codes[k]
        if len(code.body) > MAX_BODY or sum(loc.count for loc in code.locals) > MAX_LOCALS:
            return None
        if self._types is None:
            self._types = [t for g in self.groups for t in g.types]
        ft = self._types[out.funcs[k]].composite
        if not isinstance(ft, FuncType) or len(ft.results) > 1:
            return None
        params = _names(ft.params)
        results = _names(ft.results)
        local_types = _names([loc.type for loc in code.locals for _ in range(loc.count)])
        if params is None or results is None or local_types is None:
            return None
        result = results[0] if results else None
        n = len(params) + len(local_types)
        byte = None if result is None else VALTYPE_BYTE[result]
        if splice_leaf(code.body, range(n), byte) is None:
            return None  # not a plain leaf: keep the call
        from pymeld.abi.adapter import LeafFunc

        return LeafFunc(params, local_types, result, code.body)


def _names(ts: list[ValType]) -> tuple[CoreValType, ...] | None:
    """The number types' names, or None if any is not a number type (v128, references)."""
    out = []
    for t in ts:
        if not isinstance(t, NumType) or t not in VALTYPE_NAME:
            return None
        out.append(VALTYPE_NAME[t])
    return tuple(out)
