"""`model.item_sort` answers by the item's class where the class decides (a dict lookup, for the
wrapper's builder and `inspect`); it must give what matching the item kind by kind gives, for
every class it knows that way and for the rest (subclasses, core types)."""

from __future__ import annotations

import pytest

from pymeld.codec.component import model as cm

CS, KS = cm.ComponentSort, cm.CoreSort


def _instance(cls: type, **attrs: object) -> object:
    """An instance of model class ``cls`` with only ``attrs`` set (all `item_sort` reads)."""
    if cls is cm.Prim:
        return cm.Prim.U8
    obj = object.__new__(cls)
    for name, value in attrs.items():
        object.__setattr__(obj, name, value)
    return obj


def _by_name(classes: frozenset[type]) -> list[type]:
    """In a fixed order (a set's depends on the process: test ids must not)."""
    return sorted(classes, key=lambda c: c.__name__)


def _by_class() -> list[object]:
    import pymeld.codec.component.rareitems  # noqa: F401 (its types join `_FIXED_SORTS`)

    items = [_instance(cls) for cls in cm._FIXED_SORTS]
    for sort in (CS.TYPE, CS.INSTANCE, KS.FUNC, KS.MODULE):
        items += [_instance(cls, sort=sort) for cls in _by_name(cm._OWN_SORT)]
        items += [_instance(cls, desc=cm.ExternDesc(sort)) for cls in _by_name(cm._DESC_SORT)]
    return items


@pytest.mark.parametrize("item", _by_class(), ids=lambda i: type(i).__name__)
def test_sort_by_class_is_the_matched_sort(item: object) -> None:
    assert cm.item_sort(item) is cm._matched_item_sort(item)


def test_every_component_type_adds_a_type() -> None:
    """All kinds of `model.Type` are looked up, not matched: a type section's items are the
    most frequent ones the wrapper adds (stream, future and map types from when their module,
    `rareitems`, loads)."""
    import pymeld.codec.component.rareitems  # noqa: F401

    kinds = {"RecordType", "VariantType", "ListType", "TupleType", "FlagsType", "EnumType"}
    kinds |= {"OptionType", "ResultType", "OwnType", "BorrowType", "StreamType", "FutureType"}
    kinds |= {"MapType", "FuncType", "ComponentType", "InstanceType", "ResourceType", "Prim"}
    fixed = {c.__name__: s for c, s in cm._FIXED_SORTS.items()}
    assert {k: fixed.get(k) for k in kinds} == dict.fromkeys(kinds, CS.TYPE)


def test_items_the_classes_do_not_decide_are_matched() -> None:
    """A subclass, an alias declarator and a core type (loaded on demand) go to the match."""

    class Lift(cm.CanonLift):
        pass

    assert cm.item_sort(_instance(Lift)) is CS.FUNC
    decl = cm.AliasDeclarator(cm.AliasOuter(CS.INSTANCE, 1, 0))
    assert cm.item_sort(decl) is CS.INSTANCE
    assert cm.item_sort(cm.CoreRecType([])) is KS.TYPE
    section = cm.AliasSection([cm.AliasExport(CS.FUNC, 0, "f"), cm.AliasOuter(CS.TYPE, 1, 2)])
    assert [s for s, _ in cm.defined_sorts(section)] == [CS.FUNC, CS.TYPE]
