"""`pymeld.interface.copy_imports` re-declares a component's imports with every kind of type,
remapped where the root's index spaces shrink, without `copy` (new objects only where
something changes) and without touching the input: compared with the deep-copying remap it
replaced, on a root whose copy drops a definition (so indices shift) and whose instance types
nest outer aliases at both depths."""

from __future__ import annotations

import copy
from collections.abc import Callable

from pymeld.codec.component import model as cm
from pymeld.codec.component.builder import ComponentBuilder
from pymeld.codec.component.encode import encode_component
from pymeld.interface import copy_imports

CS = cm.ComponentSort
P = cm.Prim


def _name(n: str) -> cm.ExternName:
    return cm.ExternName(n)


def _root() -> cm.Component:
    """Type 0 is a resource *definition* (dropped by the copy: every later type index moves
    down by one); type 1 an imported resource; then one type of each kind referring to
    earlier ones, an instance type with outer aliases, and imports of them."""
    types: list[cm.Type] = [
        cm.OwnType(1),  # 2
        cm.RecordType([("x", P.U32), ("o", 2)]),  # 3
        cm.VariantType([cm.Case("a", 3), cm.Case("b", None), cm.Case("c", P.STRING)]),  # 4
        cm.ListType(3),  # 5
        cm.ListType(3, 4),  # 6
        cm.TupleType([3, P.S8]),  # 7
        cm.OptionType(4),  # 8
        cm.ResultType(3, None),  # 9
        cm.ResultType(None, 4),  # 10
        cm.BorrowType(1),  # 11
        cm.FuncType([("p", 3), ("q", P.BOOL)], 9),  # 12
        cm.FuncType([], None, is_async=True),  # 13
        cm.MapType(P.STRING, 3),  # 14
        cm.StreamType(3),  # 15
        cm.FutureType(None),  # 16
        cm.FlagsType(["f", "g"]),  # 17
        cm.EnumType(["e"]),  # 18
    ]
    nested = cm.InstanceType(
        [
            cm.AliasDeclarator(cm.AliasOuter(CS.TYPE, 2, 12)),  # reaches the root: remapped
            cm.AliasDeclarator(cm.AliasOuter(CS.TYPE, 1, 0)),  # the enclosing type's own
            cm.ExportDecl(_name("h"), cm.ExternDesc(CS.FUNC, 0)),
        ]
    )
    instance = cm.InstanceType(
        [
            cm.AliasDeclarator(cm.AliasOuter(CS.TYPE, 1, 4)),  # reaches the root: remapped
            cm.AliasDeclarator(cm.AliasOuter(CS.TYPE, 1, 1)),
            cm.TypeDeclarator(cm.RecordType([("y", 0)])),  # its own index 0: kept
            cm.TypeDeclarator(nested),
            cm.ExportDecl(_name("v"), cm.ExternDesc(CS.TYPE, 0)),
            cm.ExportDecl(_name("n"), cm.ExternDesc(CS.INSTANCE, 3)),
        ]
    )
    return cm.Component(
        [
            cm.TypeSection([cm.ResourceType(0x7F, None)]),  # 0: a definition, dropped
            cm.ImportSection([cm.Import(_name("r"), cm.ExternDesc(CS.TYPE))]),  # 1
            *(cm.TypeSection([t]) for t in types),
            cm.TypeSection([instance]),  # 19
            cm.ImportSection([cm.Import(_name("i"), cm.ExternDesc(CS.INSTANCE, 19))]),
            cm.ImportSection([cm.Import(_name("f"), cm.ExternDesc(CS.FUNC, 12))]),
            cm.ImportSection([cm.Import(_name("t"), cm.ExternDesc(CS.TYPE, 4))]),
            cm.ImportSection([cm.Import(_name("x"), cm.ExternDesc(CS.VALUE, valtype=3))]),
            cm.AliasSection([cm.AliasExport(CS.TYPE, 0, "v")]),
        ]
    )


# -- the remap `copy_imports` had before: deep copies, then fields changed in place ------------
def _deep_remap_type(t: object, idx: Callable[[cm.Sort, int], int], depth: int) -> object:
    def vt(v: cm.ValType) -> cm.ValType:
        return v if depth or isinstance(v, cm.Prim) else idx(CS.TYPE, v)

    t = copy.deepcopy(t)
    match t:
        case cm.RecordType():
            t.fields = [(n, vt(f)) for n, f in t.fields]
        case cm.VariantType():
            for c in t.cases:
                c.type = None if c.type is None else vt(c.type)
        case cm.ListType():
            t.element = vt(t.element)
        case cm.TupleType():
            t.types = [vt(x) for x in t.types]
        case cm.OptionType():
            t.type = vt(t.type)
        case cm.ResultType():
            t.ok = None if t.ok is None else vt(t.ok)
            t.err = None if t.err is None else vt(t.err)
        case cm.OwnType() | cm.BorrowType():
            t.resource = idx(CS.TYPE, t.resource) if depth == 0 else t.resource
        case cm.FuncType():
            t.params = [(n, vt(p)) for n, p in t.params]
            t.result = None if t.result is None else vt(t.result)
        case cm.ComponentType() | cm.InstanceType():
            for d in t.decls:
                _deep_remap_decl(d, idx, depth + 1)
        case cm.MapType():
            t.key, t.value = vt(t.key), vt(t.value)
        case cm.StreamType() | cm.FutureType():
            t.element = None if t.element is None else vt(t.element)
    return t


def _deep_remap_decl(d: object, idx: Callable[[cm.Sort, int], int], depth: int) -> None:
    if isinstance(d, cm.AliasDeclarator) and isinstance(d.alias, cm.AliasOuter):
        if d.alias.count == depth:
            d.alias.index = idx(d.alias.sort, d.alias.index)
    elif isinstance(d, cm.TypeDeclarator) and isinstance(
        d.type, cm.ComponentType | cm.InstanceType
    ):
        for sub in d.type.decls:
            _deep_remap_decl(sub, idx, depth + 1)


def _expected(root: cm.Component) -> cm.Component:
    """The copy as the deep-copying remap made it (type indices above 0 move down by one)."""

    def idx(sort: cm.Sort, i: int) -> int:
        assert sort is CS.TYPE and i > 0, (sort, i)
        return i - 1

    out = []
    for s in root.sections[1:]:
        if isinstance(s, cm.TypeSection):
            out.append(cm.TypeSection([_deep_remap_type(s.items[0], idx, 0)]))  # type: ignore[list-item]
        elif isinstance(s, cm.ImportSection):
            (imp,) = s.items
            d = copy.copy(imp.desc)
            if d.index is not None:  # a type index, whatever the sort
                d.index -= 1
            if isinstance(d.valtype, int):
                d.valtype -= 1
            out.append(cm.ImportSection([cm.Import(imp.name, d)]))
        else:
            out.append(s)
    return cm.Component(out)


def test_copy_matches_the_deep_copying_remap_and_leaves_the_input_alone() -> None:
    root = _root()
    before = encode_component(root)
    b = ComponentBuilder()
    copied = copy_imports(b.add, root, "root")
    assert encode_component(root) == before  # nothing changed in place
    assert encode_component(b.comp) == encode_component(_expected(_root()))
    assert b.comp == _expected(_root())
    assert copied.get(CS.TYPE, 0) is None and copied.get(CS.TYPE, 1) == 0
    assert copied.get(CS.TYPE, 19) == 18 and copied.get(CS.INSTANCE, 0) == 0
    # a remapped type is a new object; what nothing in it changed may be shared
    new_types = [s.items[0] for s in b.comp.sections if isinstance(s, cm.TypeSection)]
    old_types = [s.items[0] for s in root.sections[2:] if isinstance(s, cm.TypeSection)]
    for old, new in zip(old_types, new_types, strict=True):
        if old != new:
            assert old is not new
    flags = old_types[15]
    assert isinstance(flags, cm.FlagsType) and flags in new_types


def test_copy_of_a_later_import_shares_an_earlier_declaration() -> None:
    """Declared into one target twice (two inputs of a composition): the second import of a
    name is the first's index, not a new declaration."""
    b = ComponentBuilder()
    external: dict[str, tuple[cm.Sort, int]] = {}
    copy_imports(b.add, _root(), "a", external=external)
    n = len(b.comp.sections)
    second = copy_imports(b.add, _root(), "b", external=external)
    added = b.comp.sections[n:]
    assert not any(isinstance(s, cm.ImportSection) for s in added)
    assert second.get(CS.FUNC, 0) == external["f"][1]
