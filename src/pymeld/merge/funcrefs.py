"""Function references a module declares only by exporting the function.

Core code may `ref.func` a function only if the module declares it: names it in an element
segment, a global's initializer or an export (the spec's C.refs). A fused module drops its
source modules' exports, so a function a source module declared only by exporting it would be
referenced undeclared (wasmtime: "undeclared function reference"); the merger declares those
in one declarative element segment (`undeclared_refs`). Modules without such a reference are
left as they are (their fused bytes do not change). Most modules export functions, so a body
is decoded only if its bytes may hold such a `ref.func` (the opcode's byte, then the LEB128 of
a candidate, padded or not), and a large one is cut by `codec.core.tokens` (a 36.7 MB
composition had 33 such bodies, a Python walk of them ~80 ms).
"""

from __future__ import annotations

import re

from pymeld.codec.core.instructions import const_expr_funcs, read_u, scan_instructions
from pymeld.codec.core.model import ExternKind, Module
from pymeld.codec.core.tokens import tokenize


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

    for code in m.codes:  # only a body holding the opcode's byte and a candidate is decoded
        body = code.body
        if any(_value(x[1]) in only_exported for x in _MAYBE_REF.finditer(body)):
            parts = tokenize(body) if len(body) >= TOKENS_MIN_BODY else None
            if parts is None:
                scan_instructions(body, {(-1, 0xD2): visit})
            else:  # each `ref.func` is a token of its own, its index right after the opcode
                refs.update(read_u(t, 1)[0] for t in parts[1::2] if t[0] == 0xD2)
    return sorted(refs & only_exported)


#: From this size on a candidate body is cut by `codec.core.tokens` (the walk in C; compiling
#: its expression once costs what walking ~100 kB in Python does) rather than walked.
TOKENS_MIN_BODY = 16 << 10


#: The opcode's byte and what may be its index (an LEB128 of up to 5 bytes, padded or not).
_MAYBE_REF = re.compile(rb"\xd2([\x80-\xff]{0,4}[\x00-\x7f])")


def _value(leb: bytes) -> int:
    v = 0
    for k, byte in enumerate(leb):
        v |= (byte & 0x7F) << (7 * k)
    return v
