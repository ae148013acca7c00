"""Function references a module declares only by exporting the function.

Core code may `ref.func` a function only if the module declares it: names it in an element
segment, a global's initializer or an export (the spec's C.refs). A fused module drops its
source modules' exports, so a function a source module declared only by exporting it would be
referenced undeclared (wasmtime: "undeclared function reference"); the merger declares those
in one declarative element segment. Modules without such a reference are left as they are
(their fused bytes do not change).

The `ref.func` targets come from the body rewrite (`merge.bodies.rewrite_all`), which decodes
every body anyway: from its tokens (`codec.core.tokens`, each `ref.func` a token of its own)
or its patch sites (`patch_sites`), not from a search of its own. A separate search cost a
36.7 MB composition ~80 ms: most modules export functions, and a `0xD2` byte followed by an
exported function's LEB128 is common in large bodies without being a `ref.func`.
"""

from __future__ import annotations

from collections.abc import Iterable

from pymeld.codec.core.instructions import (
    K_FUNC,
    Patch,
    const_expr_funcs,
    read_u,
    scan_instructions,
)
from pymeld.codec.core.model import ExternKind, Module

REF_FUNC = 0xD2


def export_only(m: Module) -> frozenset[int]:
    """The functions (module indices) that only ``m``'s exports declare: the ones whose
    `ref.func` the fused module must declare (empty: none, nothing to look for)."""
    exported = {e.index for e in m.exports if e.kind == ExternKind.FUNC}
    if not exported:
        return frozenset()
    declared = const_expr_funcs(g.init for g in m.globals)
    for e in m.elems:
        if e.funcs is not None:
            declared.update(e.funcs)
        else:
            declared |= const_expr_funcs(e.exprs or ())
    return frozenset(exported - declared)


def token_refs(tokens: Iterable[bytes]) -> set[int]:
    """The `ref.func` targets among tokens of `codec.core.tokens` (an instruction with index
    immediates is a token starting with its opcode; `ref.func`'s index follows it)."""
    return {read_u(t, 1)[0] for t in tokens if t[0] == REF_FUNC}


def body_refs(body: bytes, sites: list[Patch] | None) -> set[int]:
    """The `ref.func` targets of a well-formed function body, from its `patch_sites` (the
    opcode of a function index there is the byte before it: `call`, `return_call` or
    `ref.func`), or with ``sites`` None (a body they decline) from a walk of the body."""
    if REF_FUNC not in body:  # (a C search: most bodies hold no such byte at all)
        return set()
    if sites is not None:
        return {v for at, _, k, v in sites if k == K_FUNC and body[at - 1] == REF_FUNC}
    refs: set[int] = set()

    def visit(data: bytes, at: int, pos: int) -> int:
        f, end = read_u(data, pos)
        refs.add(f)
        return end

    scan_instructions(body, {(-1, REF_FUNC): visit})
    return refs
