"""The merged ``name`` custom section of a fused module (``--preserve-names``).

Each input module's name section is decoded (module, function, local, table, memory, global,
elem, data and tag names), its indices are moved to the output index spaces with the merger's
layouts, and every name gets a provenance prefix (``root/instance2/core1::orig``) because the
same module may be instantiated twice and two components may use the same symbol names.
Functions pymeld generates (adapters, the start sequence) and host imports get descriptive
names so a debugger or profiler backtrace says which one it is in.

Decoding is lenient, as the spec asks for name sections: a malformed subsection ends decoding of
that module's names and what was read so far is kept.
"""

from __future__ import annotations

from dataclasses import field

from pymeld._dataclass import dataclass
from pymeld.codec.binary import Reader, Writer
from pymeld.codec.core.model import CustomSection, ExternKind, Module, SectionId
from pymeld.errors import DecodeError
from pymeld.graph.model import DefRef, FlatGraph, Lifted
from pymeld.merge.merger import MergeResult

__all__ = [
    "ModuleNames",
    "build_name_section",
    "decode_names",
    "encode_names",
    "function_names",
    "names_of",
]

NAME_SECTION = "name"

# Subsection ids (core spec + extended-name-section proposal).
_MODULE, _FUNC, _LOCAL = 0, 1, 2
_TABLE, _MEMORY, _GLOBAL, _ELEM, _DATA, _TAG = 5, 6, 7, 8, 9, 11
_KIND_OF = {
    _TABLE: ExternKind.TABLE,
    _MEMORY: ExternKind.MEMORY,
    _GLOBAL: ExternKind.GLOBAL,
    _TAG: ExternKind.TAG,
}


@dataclass
class ModuleNames:
    """Names of one module; ``maps[subsection id][index] = name`` (not the local map)."""

    module: str | None = None
    maps: dict[int, dict[int, str]] = field(default_factory=dict)
    locals: dict[int, dict[int, str]] = field(default_factory=dict)

    @property
    def funcs(self) -> dict[int, str]:
        return self.maps.setdefault(_FUNC, {})


def _name_map(r: Reader) -> dict[int, str]:
    out: dict[int, str] = {}
    for _ in range(r.u32()):
        idx = r.u32()
        out[idx] = r.name()
    return out


def decode_names(data: bytes) -> ModuleNames:
    """Decode a ``name`` section payload; unknown subsections are skipped."""
    names = ModuleNames()
    r = Reader(data, section="name")
    try:
        while not r.eof():
            sid = r.byte()
            sub = r.sub(r.u32())
            if sid == _MODULE:
                names.module = sub.name()
            elif sid == _LOCAL:
                for _ in range(sub.u32()):
                    func = sub.u32()
                    names.locals[func] = _name_map(sub)
            elif sid == _FUNC or sid in _KIND_OF or sid in (_ELEM, _DATA):
                names.maps[sid] = _name_map(sub)
    except DecodeError:
        pass  # lenient: keep what decoded
    return names


def encode_names(names: ModuleNames) -> bytes:
    """Encode in subsection-id order with each map sorted by index, as the spec requires."""
    w = Writer()

    def sub(sid: int, payload: bytes) -> None:
        w.byte(sid)
        w.sized(payload)

    def name_map(m: dict[int, str]) -> bytes:
        s = Writer()
        s.u32(len(m))
        for idx in sorted(m):
            s.u32(idx)
            s.name(m[idx])
        return s.getvalue()

    if names.module is not None:
        s = Writer()
        s.name(names.module)
        sub(_MODULE, s.getvalue())
    if names.maps.get(_FUNC):
        sub(_FUNC, name_map(names.maps[_FUNC]))
    if names.locals:
        s = Writer()
        s.u32(len(names.locals))
        for func in sorted(names.locals):
            s.u32(func)
            s.raw(name_map(names.locals[func]))
        sub(_LOCAL, s.getvalue())
    for sid in sorted(names.maps):
        if sid != _FUNC and names.maps[sid]:
            sub(sid, name_map(names.maps[sid]))
    return w.getvalue()


def _callee_name(graph: FlatGraph, lifted: Lifted) -> str | None:
    """The core export name the callee's ``canon lift`` used (e.g. ``pkg/iface#func``)."""
    ref = lifted.core_func
    if not isinstance(ref, DefRef):
        return None
    m = graph.instances[ref.instance].module
    func = ExternKind.FUNC  # (read once: per export, a 3.11 enum read is an `__getattr__` call)
    return next((e.name for e in m.exports if e.kind == func and e.index == ref.index), None)


def function_names(graph: FlatGraph, merged: MergeResult) -> ModuleNames:
    """All names of the fused module, indices in the output index spaces."""
    out = ModuleNames(module="pymeld-fused")
    funcs = out.funcs
    module = merged.module
    for imp_index, hi in enumerate(merged.host_imports):
        funcs[imp_index] = f"import:{hi.module}::{hi.name}"
    fn_imports = [i for i in module.imports if i.kind == ExternKind.FUNC]
    for imp_index in range(len(merged.host_imports), len(fn_imports)):  # foreign instances'
        imp = fn_imports[imp_index]
        funcs[imp_index] = f"import:{imp.module}::{imp.name}"
    for mi, lay in zip(graph.instances, merged.layouts):
        src = ModuleNames()
        for c in mi.module.customs:
            if c.name == NAME_SECTION:
                src = decode_names(c.data)
                break
        prefix = f"{mi.label}::"
        n_imp = lay.imported.get(ExternKind.FUNC, 0)
        n_def = len(mi.module.funcs)
        for local in range(n_imp, n_imp + n_def):
            out_idx = lay.defined(ExternKind.FUNC, local)
            funcs[out_idx] = prefix + src.funcs.get(local, f"func{local}")
            if local in src.locals:
                out.locals[out_idx] = dict(src.locals[local])
        for sid, kind in _KIND_OF.items():
            n_imp_k = lay.imported.get(kind, 0)
            for idx, name in src.maps.get(sid, {}).items():
                if idx >= n_imp_k:
                    out.maps.setdefault(sid, {})[lay.defined(kind, idx)] = prefix + name
        for sid, base in ((_ELEM, lay.elem), (_DATA, lay.data)):
            for idx, name in src.maps.get(sid, {}).items():
                out.maps.setdefault(sid, {})[base + idx] = prefix + name
    for lower, idx in sorted(merged.adapters.items()):
        lowered = graph.lowers[lower]
        callee = lowered.callee
        target = _callee_name(graph, callee) if isinstance(callee, Lifted) else None
        caller = graph.components[lowered.owner].label
        funcs[idx] = f"adapter:{target or f'lower{lower}'} (from {caller})"
    if module.start is not None and module.start not in funcs:
        funcs[module.start] = "pymeld:start"
    total = module.num_funcs()
    for idx in range(total):
        funcs.setdefault(idx, f"pymeld:generated{idx}")
    return out


def build_name_section(graph: FlatGraph, merged: MergeResult) -> CustomSection:
    """The merged ``name`` section, placed after the data section as the spec recommends."""
    data = encode_names(function_names(graph, merged))
    return CustomSection(NAME_SECTION, data, after=SectionId.DATA)


def names_of(module: Module) -> ModuleNames | None:
    """Decoded name section of ``module`` (None if it has none)."""
    for c in module.customs:
        if c.name == NAME_SECTION:
            return decode_names(bytes(c.data))
    return None
