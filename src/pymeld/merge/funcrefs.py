"""Function references a module declares only by exporting the function.

Core code may `ref.func` a function only if the module declares it: names it in an element
segment, a global's initializer or an export (the spec's C.refs). A fused module drops its
source modules' exports, so a function a source module declared only by exporting it would be
referenced undeclared (wasmtime: "undeclared function reference"); the merger declares those
in one declarative element segment (`undeclared_refs`). Modules without such a reference are
left as they are (their fused bytes do not change).
"""

from __future__ import annotations

from pymeld.codec.core.instructions import const_expr_funcs, read_u, scan_instructions
from pymeld.codec.core.model import ExternKind, Module


def undeclared_refs(m: Module) -> list[int]:
    """The functions (module indices) that ``m``'s code references with `ref.func` and that
    only its exports declare, ascending."""
    exported = {e.index for e in m.exports if e.kind == ExternKind.FUNC}
    if not exported:
        return []
    declared = const_expr_funcs(g.init for g in m.globals)
    for e in m.elems:
        if e.funcs is not None:
            declared.update(e.funcs)
        else:
            declared |= const_expr_funcs(e.exprs or ())
    only_exported = exported - declared
    if not only_exported:
        return []
    refs: set[int] = set()

    def visit(data: bytes, at: int, pos: int) -> int:
        f, end = read_u(data, pos)
        refs.add(f)
        return end

    for code in m.codes:
        if 0xD2 in code.body:  # the opcode's byte: most bodies need no decoding
            scan_instructions(code.body, {(-1, 0xD2): visit})
    return sorted(refs & only_exported)
