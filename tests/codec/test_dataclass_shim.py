"""`pymeld._dataclass.dataclass` builds the same classes as `dataclasses.dataclass`.

Each class body below is decorated both ways; instances must agree on construction (defaults,
factories, `__post_init__`), signature, `repr` (incl. recursion), `==`, hashing, frozen
assignment errors, slots, pickling, `fields`/`replace`/`__match_args__` and the generated doc.
Then every dataclass in the model modules is checked against a stdlib-built twin.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pickle
from typing import Any

import pytest

from pymeld._dataclass import dataclass as fast


def bodies(dc: Any) -> list[type]:
    @dc(slots=True)
    class Plain:
        a: int
        b: str = "x"
        c: list[int] = dataclasses.field(default_factory=list)

    @dc(frozen=True, slots=True)
    class Frozen:
        """Has a docstring."""

        a: int
        b: tuple[int, ...] = ()
        hidden: int = dataclasses.field(default=0, repr=False)

    @dc(frozen=True, slots=True)
    class Empty:
        pass

    @dc(slots=True)
    class Post:
        n: int
        doubled: int = 0

        def __post_init__(self) -> None:
            self.doubled = 2 * self.n

    @dc(frozen=True, slots=True)
    class FrozenPost:
        n: int

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError("negative")

    @dc(slots=True)
    class Own:
        a: int

        def __repr__(self) -> str:
            return "own"

        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = object.__hash__

    @dc
    class NoSlots:
        a: int
        rec: list[Any] = dataclasses.field(default_factory=list)

    @dc(slots=True)
    class SelfField:
        self: int

    @dc(eq=False, slots=True)
    class Identity:
        a: int
        b: list[int] = dataclasses.field(default_factory=list)

    @dc(eq=False)
    class IdentityNoSlots:
        a: int

    return [
        Plain,
        Frozen,
        Empty,
        Post,
        FrozenPost,
        Own,
        NoSlots,
        SelfField,
        Identity,
        IdentityNoSlots,
    ]


ARGS: dict[str, tuple[Any, ...]] = {
    "Plain": (1,),
    "Frozen": (1, (2, 3)),
    "Empty": (),
    "Post": (4,),
    "FrozenPost": (5,),
    "Own": (1,),
    "NoSlots": (1,),
    "SelfField": (1,),
    "Identity": (1,),
    "IdentityNoSlots": (2,),
}


def _outcome(f: Any, *args: Any) -> Any:
    try:
        return ("ok", f(*args))
    except Exception as e:
        return (type(e).__name__, str(e))


@pytest.mark.parametrize("i", range(10))
def test_same_behaviour(i: int) -> None:
    ours, std = bodies(fast)[i], bodies(dataclasses.dataclass)[i]
    args = ARGS[std.__name__]
    a, b = ours(*args), std(*args)
    assert ours.__name__ == std.__name__ and ours.__qualname__ == std.__qualname__
    assert str(inspect.signature(ours)) == str(inspect.signature(std))
    assert ours.__doc__ == std.__doc__
    assert repr(a) == repr(b).replace(std.__qualname__, ours.__qualname__)
    assert getattr(ours, "__slots__", None) == getattr(std, "__slots__", None)
    assert ours.__match_args__ == std.__match_args__
    assert [f.name for f in dataclasses.fields(ours)] == [f.name for f in dataclasses.fields(std)]
    assert repr(ours.__dataclass_params__) == repr(std.__dataclass_params__)
    for name in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__"):
        fo, fs = ours.__dict__.get(name), std.__dict__.get(name)
        assert (fo is None) == (fs is None), name
        if fo is not None and fs is not None and hasattr(fs, "__qualname__"):
            assert fo.__qualname__ == fs.__qualname__
    assert (a == ours(*args)) == (b == std(*args))
    assert (a == object()) == (b == object())
    assert _outcome(lambda: hash(a) == hash(ours(*args))) == _outcome(
        lambda: hash(b) == hash(std(*args))
    )
    for attr in ("a", "n", "zz"):
        x, y = ours(*args), std(*args)
        assert _outcome(setattr, x, attr, 9) == _outcome(setattr, y, attr, 9)
        assert _outcome(delattr, x, attr) == _outcome(delattr, y, attr)
    if std.__name__ == "FrozenPost":
        assert _outcome(lambda: ours(-1)) == _outcome(lambda: std(-1))
    if std.__name__ == "NoSlots":
        a.rec.append(a)
        b.rec.append(b)
        assert repr(a) == repr(b).replace(std.__qualname__, ours.__qualname__)
    if dataclasses.fields(std):
        name = dataclasses.fields(std)[0].name
        value = getattr(b, name)
        assert repr(dataclasses.replace(a, **{name: value})) == repr(
            dataclasses.replace(b, **{name: value})
        ).replace(std.__qualname__, ours.__qualname__)


def test_pickle_frozen_slots() -> None:
    globals()["PickleMe"] = fast(frozen=True, slots=True)(
        type("PickleMe", (), {"__annotations__": {"a": "int"}, "__module__": __name__})
    )
    x = globals()["PickleMe"](3)
    assert pickle.loads(pickle.dumps(x)) == x


MODULES = [
    "pymeld.codec.component.model",
    "pymeld.codec.core.model",
    "pymeld.abi.types",
    "pymeld.graph.model",
    "pymeld.graph.flatten",
    "pymeld.graph.type_resolution",
    "pymeld.codec.core.instructions",
    "pymeld.emit",
    "pymeld.emit.names",
    "pymeld.emit.customs",
    "pymeld.emit.attestation",
    "pymeld.merge.layout",
    "pymeld.merge.asyncpass",
    "pymeld.abi.layout",
    "pymeld.codec.component.names",
    "pymeld.fuse",
    "pymeld.abi.adapter",
    "pymeld.resources.fusion",
    "pymeld.resources.runtime",
    "pymeld.resources.tables",
    "pymeld.merge.merger",
    "pymeld.merge.leave",
    "pymeld.merge.memory",
    "pymeld.merge.strategy",
    "pymeld.merge.asyncfuse",
    "pymeld.plan",
]


@pytest.mark.parametrize("module", MODULES)
def test_model_classes_match_stdlib(module: str) -> None:
    """Generated methods have the same source semantics: compare signatures and params."""
    mod = importlib.import_module(module)
    n = 0
    for obj in vars(mod).values():
        if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
            continue
        if obj.__module__ != module:
            continue
        n += 1
        p = obj.__dataclass_params__
        assert p.init and p.repr, obj
        assert "__init__" in obj.__dict__ and "__repr__" in obj.__dict__
        assert ("__eq__" in obj.__dict__) == p.eq, obj
        assert obj.__init__.__qualname__ == f"{obj.__qualname__}.__init__"
        frozen = p.frozen
        assert ("__setattr__" in obj.__dict__) == frozen, obj
        assert (obj.__dict__.get("__hash__") is None) == (not frozen or not p.eq), obj
        if obj.__doc__.startswith(obj.__name__ + "("):  # generated: as inspect renders it
            sig = str(inspect.signature(obj)).replace(" -> None", "")
            assert obj.__doc__ == obj.__name__ + sig
    assert n > 0


def test_init_compiled_on_first_use() -> None:
    """``__init__`` is a stand-in until the class is first instantiated or inspected; the
    signature and the instances are the standard library's either way."""
    made = [
        fast(frozen=frozen)(type("Lazy", (), {"__annotations__": {"a": "int", "b": "str"}}))
        for frozen in (False, True)
    ]
    for cls in made:
        assert getattr(cls.__dict__["__init__"], "_pymeld_lazy", None) is not None
    assert str(inspect.signature(made[0])) == "(a: 'int', b: 'str') -> None"
    assert getattr(made[0].__dict__["__init__"], "_pymeld_lazy", None) is None
    x = made[1](1, "b")
    assert getattr(made[1].__dict__["__init__"], "_pymeld_lazy", None) is None
    assert (x.a, x.b) == (1, "b") and made[1](1, "b") == x
    with pytest.raises(TypeError):
        made[1](1)


def test_abstract_methods_and_generated_docs() -> None:
    """A dataclass deriving from an ABC has its abstract methods updated as the standard
    library's (an abstract ``__repr__`` the dataclass writes no longer blocks instances); a
    class of `type` deriving from `object` alone needs no update, and gets the generated doc."""
    import abc

    class Shown(abc.ABC):
        @abc.abstractmethod
        def __repr__(self) -> str: ...

    made = {}
    for name, dc in (("fast", fast), ("std", dataclasses.dataclass)):
        made[name] = dc(type("Point", (Shown,), {"__annotations__": {"x": "int"}}))
    for cls in made.values():
        assert cls.__abstractmethods__ == frozenset()
        assert repr(cls(1)) == "Point(x=1)"
    plain = fast(type("Plain", (), {"__annotations__": {"x": "int", "y": "list[str]"}}))
    twin = dataclasses.dataclass(
        type("Plain", (), {"__annotations__": {"x": "int", "y": "list[str]"}})
    )
    assert plain.__doc__ == twin.__doc__ == "Plain(x: 'int', y: 'list[str]')"
    assert plain(1, []).__doc__ == plain.__doc__ and inspect.getdoc(plain) == twin.__doc__
    assert not hasattr(plain, "__abstractmethods__")
