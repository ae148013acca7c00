"""``pymeld inspect``: a readable structural view of a component (JSON-able dict or rich tree).

Types are rendered WIT-style by resolving indices in the component's own type index space,
built in section order exactly as the binary defines it. Resolution is best effort (no
validation): anything that cannot be resolved statically is shown as ``type[N]``.

API: ``inspect_tree(component) -> dict``, ``rich_tree(info) -> rich.tree.Tree`` (or
``tree_lines(info_tree(info))``, the same tree as plain lines),
``render_inspect(path_or_bytes, json=False) -> str | dict``.
"""

from __future__ import annotations

import io
from dataclasses import field
from pathlib import Path
from typing import Any

from pymeld._dataclass import dataclass
from pymeld.codec.binary import Reader
from pymeld.codec.component import parse_any
from pymeld.codec.component.model import (
    AliasCoreExport,
    AliasDeclarator,
    AliasExport,
    AliasOuter,
    AliasSection,
    BorrowType,
    CanonBuiltin,
    CanonLift,
    CanonLower,
    CanonOpt,
    CanonOptKind,
    CanonSection,
    Component,
    ComponentSection,
    ComponentSort,
    ComponentType,
    CoreInlineExports,
    CoreInstanceSection,
    CoreInstantiate,
    CoreModuleSection,
    CoreSort,
    CoreTypeSection,
    CustomSection,
    EnumType,
    Export,
    ExportDecl,
    ExportSection,
    ExternDesc,
    FlagsType,
    FuncType,
    FutureType,
    Import,
    ImportDecl,
    ImportSection,
    InlineExports,
    InstanceSection,
    InstanceType,
    Instantiate,
    ListType,
    MapType,
    OptionType,
    OwnType,
    Prim,
    RecordType,
    ResourceType,
    ResultType,
    StartSection,
    StreamType,
    TupleType,
    TypeDeclarator,
    TypeSection,
    ValueSection,
    VariantType,
    defined_sorts,
    sort_name,
)
from pymeld.codec.component.names import ComponentNames, component_names
from pymeld.errors import DecodeError

_MAX_DEPTH = 6  # structural rendering depth before falling back to type[N]


@dataclass(slots=True)
class _Entry:
    """One type index: its definition (or None if opaque), defining scope, and a known name."""

    type: Any
    scope: _Scope | None
    name: str | None = None


@dataclass(slots=True)
class _Scope:
    parent: _Scope | None = None
    types: list[_Entry] = field(default_factory=list)

    def add(self, t: Any, name: str | None = None) -> None:
        self.types.append(_Entry(t, self, name))

    def alias(self, idx: int, name: str | None = None) -> None:
        e = self.types[idx] if 0 <= idx < len(self.types) else _Entry(None, None)
        self.types.append(_Entry(e.type, e.scope, name or e.name))

    def outer(self, count: int, idx: int) -> None:
        s: _Scope | None = self
        for _ in range(count):
            s = s.parent if s else None
        if s is not None and 0 <= idx < len(s.types):
            e = s.types[idx]
            self.types.append(_Entry(e.type, e.scope, e.name))
        else:
            self.types.append(_Entry(None, None))


# ---------------------------------------------------------------------------------------------
# Type rendering
# ---------------------------------------------------------------------------------------------


def render_valtype(t: Any, scope: _Scope | None, depth: int = 0) -> str:
    if isinstance(t, Prim):
        return t.value
    if scope is None or not 0 <= t < len(scope.types):
        return f"type[{t}]"
    e = scope.types[t]
    if e.name is not None:
        return e.name
    if e.type is None or depth > _MAX_DEPTH:
        return f"type[{t}]"
    return render_type(e.type, e.scope, depth + 1)


def render_type(t: Any, scope: _Scope | None, depth: int = 0) -> str:
    def v(x: Any) -> str:
        return render_valtype(x, scope, depth)

    match t:
        case Prim():
            return t.value
        case RecordType():
            return "record { " + ", ".join(f"{n}: {v(x)}" for n, x in t.fields) + " }"
        case VariantType():
            cases = (c.name if c.type is None else f"{c.name}({v(c.type)})" for c in t.cases)
            return "variant { " + ", ".join(cases) + " }"
        case ListType():
            return (
                f"list<{v(t.element)}>" if t.length is None else f"list<{v(t.element)}, {t.length}>"
            )
        case TupleType():
            return "tuple<" + ", ".join(v(x) for x in t.types) + ">"
        case FlagsType():
            return "flags { " + ", ".join(t.names) + " }"
        case EnumType():
            return "enum { " + ", ".join(t.names) + " }"
        case OptionType():
            return f"option<{v(t.type)}>"
        case ResultType():
            if t.ok is None and t.err is None:
                return "result"
            ok = "_" if t.ok is None else v(t.ok)
            return f"result<{ok}>" if t.err is None else f"result<{ok}, {v(t.err)}>"
        case OwnType():
            return f"own<{v(t.resource)}>"
        case BorrowType():
            return f"borrow<{v(t.resource)}>"
        case StreamType():
            return "stream" if t.element is None else f"stream<{v(t.element)}>"
        case FutureType():
            return "future" if t.element is None else f"future<{v(t.element)}>"
        case MapType():
            return f"map<{v(t.key)}, {v(t.value)}>"
        case FuncType():
            params = ", ".join(f"{n}: {v(x)}" for n, x in t.params)
            res = "" if t.result is None else f" -> {v(t.result)}"
            return f"{'async ' if t.is_async else ''}func({params}){res}"
        case ResourceType():
            return "resource" + ("" if t.dtor is None else f" (dtor core func {t.dtor})")
        case InstanceType():
            return f"instance {{ {sum(isinstance(d, ExportDecl) for d in t.decls)} exports }}"
        case ComponentType():
            n_imp = sum(isinstance(d, ImportDecl) for d in t.decls)
            n_exp = sum(isinstance(d, ExportDecl) for d in t.decls)
            return f"component {{ {n_imp} imports, {n_exp} exports }}"
    return type(t).__name__


def _decl_scope(decls: list[Any], parent: _Scope | None) -> tuple[_Scope, list[tuple[str, str]]]:
    """Build an instance/component type's own type scope; return it and its exports rendered."""
    scope = _Scope(parent)
    exports: list[tuple[str, str]] = []
    for d in decls:
        if isinstance(d, TypeDeclarator):
            scope.add(d.type)
        elif isinstance(d, AliasDeclarator):
            a = d.alias
            if a.sort is ComponentSort.TYPE:
                if isinstance(a, AliasOuter):
                    scope.outer(a.count, a.index)
                else:
                    scope.add(None, getattr(a, "name", None))
        elif isinstance(d, ImportDecl | ExportDecl):
            if d.desc.sort is ComponentSort.TYPE:
                _bind_type(scope, d.desc, d.name.name)
            if isinstance(d, ExportDecl):
                exports.append((d.name.name, render_desc(d.desc, scope)))
    return scope, exports


def _bind_type(scope: _Scope, desc: ExternDesc, name: str) -> None:
    if desc.index is None:
        scope.add(ResourceType(0x7F, None), name)
    else:
        scope.alias(desc.index, name)


def render_desc(d: ExternDesc, scope: _Scope | None) -> str:
    """An extern descriptor, e.g. ``func(a: u32) -> string`` or ``type = enum { ... }``."""
    s = d.sort
    if s is CoreSort.MODULE:
        return f"core module (type {d.index})"
    if s is ComponentSort.TYPE:
        if d.index is None:
            return "resource"
        return "type = " + _resolve(d.index, scope)
    if s is ComponentSort.VALUE:
        return "value " + (
            render_valtype(d.valtype, scope) if d.valtype is not None else f"(eq {d.index})"
        )
    kind = sort_name(s)
    body = _resolve(d.index, scope)
    if s is ComponentSort.FUNC:
        return body
    return body if body.startswith(kind) else f"{kind} {body}"


def _resolve(idx: int | None, scope: _Scope | None) -> str:
    """Render the *definition* behind a type index (never just its name)."""
    if idx is None or scope is None or not 0 <= idx < len(scope.types):
        return f"type[{idx}]"
    e = scope.types[idx]
    if e.type is None:
        return e.name or f"type[{idx}]"
    return render_type(e.type, e.scope)


def _opts(opts: list[CanonOpt]) -> list[str]:
    out = []
    for o in opts:
        name = {
            CanonOptKind.UTF8: "string-encoding=utf8",
            CanonOptKind.UTF16: "string-encoding=utf16",
            CanonOptKind.LATIN1_UTF16: "string-encoding=latin1+utf16",
        }.get(o.kind, o.kind.name.lower().replace("_", "-"))
        out.append(name if o.index is None else f"({name} {o.index})")
    return out


# ---------------------------------------------------------------------------------------------
# The tree
# ---------------------------------------------------------------------------------------------


def _core_module_counts(data: bytes | bytearray | memoryview) -> dict[str, int]:
    """Import/export counts read from the core module's section headers (cheap, no full parse)."""
    r = Reader(data, 8)  # type: ignore[arg-type]  # memoryview indexes like bytes
    counts = {"imports": 0, "exports": 0, "funcs": 0}
    try:
        while not r.eof():
            sid = r.byte()
            sub = r.sub(r.u32())
            if sid == 2:
                counts["imports"] = sub.u32()
            elif sid == 7:
                counts["exports"] = sub.u32()
            elif sid == 3:
                counts["funcs"] = sub.u32()
    except DecodeError:
        counts["error"] = 1
    return counts


def inspect_tree(c: Component, *, name: str | None = None, _parent: _Scope | None = None) -> dict:
    """A JSON-able description of ``c`` and, recursively, its nested components."""
    names = component_names(c)
    scope = _Scope(_parent)
    counters: dict[Any, int] = {}
    func_labels: dict[int, str] = {}
    info: dict[str, Any] = {
        "kind": "component",
        "name": name or names.component,
        "offset": c.offset,
        "imports": [],
        "exports": [],
        "components": [],
        "core_modules": [],
        "core_instances": [],
        "instances": [],
        "aliases": [],
        "canons": [],
        "types": 0,
        "core_types": 0,
        "custom_sections": [],
    }

    def label(sort: Any, idx: int) -> str:
        n = names.get(sort, idx)
        return f"{sort_name(sort)} {idx}" + (f" ${n}" if n else "")

    for sec in c.sections:
        # Record first-index of each item before counters advance.
        items = list(defined_sorts(sec))
        idx_of: dict[int, int] = {}
        for sort, item in items:
            if id(item) not in idx_of:
                idx_of[id(item)] = counters.get(sort, 0)
            counters[sort] = counters.get(sort, 0) + 1

        match sec:
            case CoreModuleSection():
                i = idx_of[id(sec)]
                entry = {"index": i, "name": names.get(CoreSort.MODULE, i), "offset": sec.offset}
                if sec.data is not None:
                    entry["size"] = len(sec.data)
                    entry.update(_core_module_counts(sec.data))
                info["core_modules"].append(entry)
            case ComponentSection():
                i = idx_of[id(sec)]
                sub = inspect_tree(
                    sec.component, name=names.get(ComponentSort.COMPONENT, i), _parent=scope
                )
                sub["index"] = i
                info["components"].append(sub)
            case CoreInstanceSection():
                for it in sec.items:
                    i = idx_of[id(it)]
                    e: dict[str, Any] = {"index": i, "name": names.get(CoreSort.INSTANCE, i)}
                    if isinstance(it, CoreInstantiate):
                        e["instantiate"] = label(CoreSort.MODULE, it.module)
                        e["with"] = {a.name: label(CoreSort.INSTANCE, a.instance) for a in it.args}
                    else:
                        assert isinstance(it, CoreInlineExports)
                        e["exports"] = {x.name: label(x.sort, x.index) for x in it.exports}
                    info["core_instances"].append(e)
            case InstanceSection():
                for inst in sec.items:
                    i = idx_of[id(inst)]
                    e = {"index": i, "name": names.get(ComponentSort.INSTANCE, i)}
                    if isinstance(inst, Instantiate):
                        e["instantiate"] = label(ComponentSort.COMPONENT, inst.component)
                        e["with"] = {a.name: label(a.sort, a.index) for a in inst.args}
                    else:
                        assert isinstance(inst, InlineExports)
                        e["exports"] = {x.name.name: label(x.sort, x.index) for x in inst.exports}
                    info["instances"].append(e)
            case AliasSection():
                for a in sec.items:
                    i = idx_of[id(a)]
                    if isinstance(a, AliasExport):
                        src = f"export {a.name!r} of {label(ComponentSort.INSTANCE, a.instance)}"
                        if a.sort is ComponentSort.TYPE:
                            scope.add(None, a.name)
                        elif a.sort is ComponentSort.FUNC:
                            func_labels[i] = a.name
                    elif isinstance(a, AliasCoreExport):
                        src = f"core export {a.name!r} of {label(CoreSort.INSTANCE, a.instance)}"
                    else:
                        src = f"outer {a.count} {a.index}"
                        if a.sort is ComponentSort.TYPE:
                            scope.outer(a.count, a.index)
                    info["aliases"].append({"defines": label(a.sort, i), "from": src})
            case TypeSection():
                for t in sec.items:
                    scope.add(t)
                info["types"] += len(sec.items)
            case CoreTypeSection():
                info["core_types"] += len(sec.items)
            case CanonSection():
                for cn in sec.items:
                    i = idx_of[id(cn)]
                    if isinstance(cn, CanonLift):
                        e = {
                            "defines": label(ComponentSort.FUNC, i),
                            "canon": "lift",
                            "core_func": label(CoreSort.FUNC, cn.core_func),
                            "type": _resolve(cn.type, scope),
                            "options": _opts(cn.options),
                        }
                    elif isinstance(cn, CanonLower):
                        fl = func_labels.get(cn.func)
                        e = {
                            "defines": label(CoreSort.FUNC, i),
                            "canon": "lower",
                            "func": label(ComponentSort.FUNC, cn.func) + (f" ({fl})" if fl else ""),
                            "options": _opts(cn.options),
                        }
                    else:
                        assert isinstance(cn, CanonBuiltin)
                        e = {"defines": label(CoreSort.FUNC, i), "canon": cn.op}
                        if cn.type is not None:
                            e["type"] = (
                                _resolve(cn.type, scope) if "thread" not in cn.op else cn.type
                            )
                        if cn.options:
                            e["options"] = _opts(cn.options)
                    info["canons"].append(e)
            case ImportSection():
                for im in sec.items:
                    info["imports"].append(_extern(im, idx_of[id(im)], scope, names))
            case ExportSection():
                for ex in sec.items:
                    info["exports"].append(_extern(ex, idx_of[id(ex)], scope, names))
            case StartSection():
                info["start"] = {"func": sec.func, "args": sec.args, "results": sec.results}
            case ValueSection():
                info["values"] = len(sec.items)
            case _:
                info["custom_sections"].append({"name": sec.name, "size": len(sec.data)})
        if isinstance(sec, ImportSection | ExportSection):
            for ie in sec.items:
                if isinstance(ie, Import) and ie.sort is ComponentSort.FUNC:
                    func_labels[idx_of[id(ie)]] = ie.name.name
                if isinstance(ie, Export) and ie.sort is ComponentSort.FUNC:
                    func_labels[idx_of[id(ie)]] = ie.name.name
    info["index_spaces"] = {sort_name(s): n for s, n in counters.items()}
    return info


def _extern(x: Import | Export, index: int, scope: _Scope, names: ComponentNames) -> dict:
    e: dict[str, Any] = {"name": x.name.name, "sort": sort_name(x.sort), "index": index}
    for a in x.name.attributes:
        e[a.kind.name.lower().replace("_", "-")] = a.value
    if isinstance(x, Import):
        desc: ExternDesc | None = x.desc
    else:
        e["of"] = f"{sort_name(x.sort)} {x.index}"
        desc = x.desc
    if desc is not None:
        e["type"] = render_desc(desc, scope)
        if desc.sort is ComponentSort.INSTANCE and desc.index is not None:
            ent = scope.types[desc.index] if 0 <= desc.index < len(scope.types) else None
            if ent is not None and isinstance(ent.type, InstanceType):
                _, exps = _decl_scope(ent.type.decls, ent.scope)
                e["members"] = {n: t for n, t in exps}
    elif isinstance(x, Export):
        e["type"] = _export_type(x, scope)
    # Exports and imports of types add a named index to the type space.
    if x.sort is ComponentSort.TYPE:
        if isinstance(x, Import):
            _bind_type(scope, x.desc, x.name.name)
        else:
            scope.alias(x.index, x.name.name)
    return e


def _export_type(x: Export, scope: _Scope) -> str:
    if x.sort is ComponentSort.TYPE:
        return "type = " + _resolve(x.index, scope)
    return sort_name(x.sort)


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


#: A run of a tree label: plain text, or (text, rich style) for the terminal.
Run = str | tuple[str, str]


class TreeNode:
    """One line of the `pymeld inspect` tree and the lines under it. Labels are runs of text,
    not rich markup, so the plain rendering (`tree_lines`) needs no markup parser and both
    renderings print the same characters."""

    __slots__ = ("children", "label")

    def __init__(self, *label: Run) -> None:
        self.label = label
        self.children: list[TreeNode] = []

    def add(self, *label: Run) -> TreeNode:
        child = TreeNode(*label)
        self.children.append(child)
        return child

    def text(self) -> str:
        return "".join(r if isinstance(r, str) else r[0] for r in self.label)


def info_tree(info: dict, title: str | None = None) -> TreeNode:
    """The tree of an `inspect_tree` dict."""
    name = info.get("name")
    root = TreeNode((title or f"component{' ' + name if name else ''}", "bold"))
    _fill(root, info)
    return root


def rich_tree(info: dict, title: str | None = None) -> Any:
    """A `rich.tree.Tree` for an `inspect_tree` dict (styled for a terminal)."""
    from rich.text import Text
    from rich.tree import Tree

    def build(node: TreeNode, into: Any) -> None:
        for child in node.children:
            build(child, into.add(Text.assemble(*child.label)))

    root = info_tree(info, title)
    tree = Tree(Text.assemble(*root.label))
    build(root, tree)
    return tree


#: rich's tree guides (space, continue, fork, end), and its `ascii_only` ones.
_GUIDES = ("    ", "│   ", "├── ", "└── ")
_ASCII_GUIDES = ("    ", "|   ", "+-- ", "`-- ")


def tree_lines(
    root: TreeNode, *, width: int = 10_000, ascii_only: bool = False
) -> list[str] | None:
    """The lines rich prints for `rich_tree` into a file or pipe ``width`` columns wide (no
    styles there), without loading rich (~20 ms of `pymeld inspect`). None where rich prints
    something else: a label it wraps (longer than the width left beside its guides; any
    character outside ASCII counted two columns wide) or one that is not printable text."""
    space, cont, fork, end = _ASCII_GUIDES if ascii_only else _GUIDES
    out: list[str] = []

    def fits(text: str, indent: int) -> bool:
        cells = len(text) if text.isascii() else 2 * len(text)
        return text.isprintable() and indent + cells <= width

    def walk(node: TreeNode, prefix: str) -> bool:
        last = len(node.children) - 1
        for i, child in enumerate(node.children):
            text = child.text()
            if not fits(text, len(prefix) + 4):
                return False
            out.append(prefix + (end if i == last else fork) + text)
            if not walk(child, prefix + (space if i == last else cont)):
                return False
        return True

    head = root.text()
    out.append(head)
    return out if fits(head, 0) and walk(root, "") else None


def _fill(node: TreeNode, info: dict) -> None:
    if info["imports"]:
        br = node.add(f"imports ({len(info['imports'])})")
        for im in info["imports"]:
            leaf = br.add((im["name"], "cyan"), f": {im.get('type', im['sort'])}")
            for n, t in (im.get("members") or {}).items():
                leaf.add(f"{n}: {t}")
    for m in info["core_modules"]:
        extra = ""
        if "imports" in m:
            extra = f", {m['imports']} imports, {m['exports']} exports"
        nm = f" ${m['name']}" if m.get("name") else ""
        node.add(f"core module {m['index']}{nm}: {m.get('size', '?')} bytes{extra}")
    for sub in info["components"]:
        nm = f" ${sub['name']}" if sub.get("name") else ""
        child = node.add((f"component {sub['index']}{nm}", "bold"))
        _fill(child, sub)
    if info["core_instances"]:
        br = node.add(f"core instances ({len(info['core_instances'])})")
        for ci in info["core_instances"]:
            br.add(_instance_line("core instance", ci))
    if info["instances"]:
        br = node.add(f"instances ({len(info['instances'])})")
        for ci in info["instances"]:
            br.add(_instance_line("instance", ci))
    if info["aliases"]:
        br = node.add(f"aliases ({len(info['aliases'])})")
        for a in info["aliases"]:
            br.add(f"{a['defines']} = {a['from']}")
    if info["canons"]:
        br = node.add(f"canon ({len(info['canons'])})")
        for cn in info["canons"]:
            parts = [cn["defines"], "=", cn["canon"]]
            for k in ("core_func", "func", "type"):
                if k in cn:
                    parts.append(str(cn[k]))
            parts += cn.get("options", [])
            br.add(" ".join(parts))
    if info["exports"]:
        br = node.add(f"exports ({len(info['exports'])})")
        for ex in info["exports"]:
            br.add(
                (ex["name"], "green"),
                f": {ex.get('type', ex['sort'])} = {ex.get('of', '')}",
            )


def _instance_line(kind: str, e: dict) -> str:
    nm = f" ${e['name']}" if e.get("name") else ""
    if "instantiate" in e:
        args = ", ".join(f"{k}: {v}" for k, v in e["with"].items())
        return f"{kind} {e['index']}{nm} = instantiate {e['instantiate']}" + (
            f" with {{{args}}}" if args else ""
        )
    exps = ", ".join(f"{k}: {v}" for k, v in e["exports"].items())
    return f"{kind} {e['index']}{nm} = {{{exps}}}"


def kept_boundaries(c: Component) -> dict | None:
    """The ``pymeld.clusters`` record of a ``fuse --keep-async-boundaries`` output that kept
    boundaries: its clusters (component instances fused together) and each kept call edge with
    the reason it was not fused; None for any other component."""
    import json

    for sec in c.sections:
        if isinstance(sec, CustomSection) and sec.name == "pymeld.clusters":
            record = json.loads(bytes(sec.data))
            return record if isinstance(record, dict) else None
    return None


def kept_boundaries_lines(record: dict) -> list[str]:
    """``record`` (`kept_boundaries`) as the lines `pymeld inspect` prints."""
    clusters = record.get("clusters", [])
    out = [f"kept async boundaries: {len(clusters)} clusters, each one fused core module"]
    out += [f"  cluster {k}: {', '.join(members)}" for k, members in enumerate(clusters)]
    for e in record.get("kept_edges", []):
        calls = e.get("calls", [])
        out.append(f"  kept: {e['caller']} -> {e['callee']} ({len(calls)} calls): {e['reason']}")
        out += [f"    {c}" for c in calls]
    return out


def render_inspect(source: str | Path | bytes, json: bool = False, width: int = 120) -> str | dict:
    """What ``pymeld inspect`` prints: the dict (``json=True``) or the rendered tree as text."""
    if isinstance(source, bytes | bytearray):
        data, file = bytes(source), None
    else:
        file = str(source)
        data = Path(source).read_bytes()
    c = parse_any(data, file=file)
    if not isinstance(c, Component):
        raise DecodeError("not a component (core module); inspect shows components", file=file)
    info = inspect_tree(c)
    if file:
        info["file"] = file
    info["size"] = len(data)
    if json:
        return info
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=False, color_system=None).print(
        rich_tree(info, title=f"{Path(file).name if file else 'component'} ({len(data)} bytes)")
    )
    return buf.getvalue()
