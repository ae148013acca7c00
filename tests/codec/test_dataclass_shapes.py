"""`pymeld._dataclass_shapes`: the precompiled ``__init__`` shapes are exactly what compiling
their texts gives, the module is what its generator writes, and a shape missing there still
works (compiled at run time)."""

from __future__ import annotations

import dataclasses
import inspect
import types
from pathlib import Path

import pytest

from pymeld import _dataclass, _dataclass_shapes
from pymeld._dataclass import dataclass as fast


def _compiled(text: str) -> types.CodeType:
    outer = compile(text, "<string>", "exec", dont_inherit=True)
    return _dataclass._inner(next(c for c in outer.co_consts if isinstance(c, types.CodeType)))


def test_precompiled_shapes_are_what_compiling_gives() -> None:
    assert len(_dataclass_shapes.SHAPES) > 20
    for shape, create in _dataclass_shapes.SHAPES:
        text = _dataclass._shape_text(shape)
        code = _dataclass._inner(create.__code__).replace(co_filename="<string>", co_firstlineno=2)
        ref = _compiled(text)
        assert code == ref, text
        assert (code.co_filename, code.co_firstlineno) == (ref.co_filename, ref.co_firstlineno)
        assert list(code.co_positions()) == list(ref.co_positions()), text
        assert code.co_freevars == ref.co_freevars and code.co_varnames == ref.co_varnames


def test_module_is_what_its_generator_writes() -> None:
    """Not edited by hand: regenerate with ``python -m pymeld._dataclass``."""
    shapes = [shape for shape, _ in _dataclass_shapes.SHAPES]
    texts = [_dataclass._shape_text(shape) for shape in shapes]
    assert texts == sorted(set(texts))
    source = Path(_dataclass_shapes.__file__).read_text()
    assert source == _dataclass.shapes_module(shapes)


def test_module_holds_the_shape_of_every_class() -> None:
    """Up to date: exactly the shapes of pymeld's classes, including those instantiated while
    their module loads (a shape missing there is compiled at run time; the first `compile` of a
    process also builds the `ast` types, ~9 M instructions of a small fuse)."""
    shapes = [shape for shape, _ in _dataclass_shapes.SHAPES]
    assert _dataclass._all_shapes() == shapes
    texts = "".join(map(_dataclass._shape_text, shapes))
    assert "def __init__(self):\n  pass\n" in texts  # `abi.types.Bool()` at import


def test_shapes_are_loaded_not_compiled() -> None:
    """A class whose shape is in the module gets its ``__init__`` without `compile`."""
    _dataclass._load_shapes()
    shape = _dataclass_shapes.SHAPES[0][0]
    assert _dataclass._template(shape) is _dataclass._SHAPES[shape]


def test_a_shape_becomes_a_template_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module's shapes are indexed, each made a template (without `compile`) when a class
    of that shape is first instantiated; templates are made once."""
    monkeypatch.setattr(_dataclass, "_SHAPES", {})
    monkeypatch.setattr(_dataclass, "_PRECOMPILED", None)
    compiled: list[object] = []

    def recording_compile(*args: object, **kwargs: object) -> object:
        compiled.append(args)
        return compile(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(_dataclass, "compile", recording_compile, raising=False)
    shape, create = _dataclass_shapes.SHAPES[-1]
    template = _dataclass._template(shape)
    assert list(_dataclass._SHAPES) == [shape]  # only the shape asked for
    assert template is _dataclass._template(shape)
    assert template.co_filename == "<string>" and template.co_firstlineno == 2
    assert _dataclass._inner(create.__code__).co_code == template.co_code
    assert compiled == []


def _wide_namespace() -> dict[str, object]:
    """23 fields, the last 15 alternating a default factory and a plain default: a shape no
    pymeld class has."""
    ns: dict[str, object] = {"__annotations__": {f"f{i}": "int" for i in range(23)}}
    for i in range(8, 23):
        ns[f"f{i}"] = dataclasses.field(default_factory=tuple) if i % 2 else i
    return ns


def test_missing_shape_is_compiled_and_behaves_as_the_stdlib() -> None:
    ours = fast(frozen=True)(type("Wide", (), _wide_namespace()))
    theirs = dataclasses.dataclass(frozen=True)(type("Wide", (), _wide_namespace()))
    assert str(inspect.signature(ours)) == str(inspect.signature(theirs))
    for args in (list(range(8)), list(range(12)), list(range(23))):
        assert repr(ours(*args)) == repr(theirs(*args))
        assert ours(*args) == ours(*args) and hash(ours(*args)) == hash(theirs(*args))


def _family(make: object, frozen: bool, slots: bool) -> tuple[type, type]:
    """A base dataclass with a default and a subclass adding fields (one re-annotated)."""
    deco = make(frozen=frozen, slots=slots)  # type: ignore[operator]
    base = deco(type("Base", (), {"__annotations__": {"a": "int", "b": "str"}, "b": "x"}))
    ns = {"__annotations__": {"c": "int", "b": "str"}, "c": 3, "b": "y"}
    sub = deco(type("Sub", (base,), ns))
    return base, sub


def test_dataclass_bases_as_the_stdlib() -> None:
    """Subclasses of dataclasses (as `pymeld.plan`'s items) are built here too, the same way."""
    for frozen in (False, True):
        for slots in (False, True):
            ours = _family(fast, frozen, slots)
            theirs = _family(dataclasses.dataclass, frozen, slots)
            for o, t in zip(ours, theirs):
                assert hasattr(o.__dict__["__init__"], "_pymeld_lazy")  # built here, not stdlib
                assert str(inspect.signature(o)) == str(inspect.signature(t))
                assert [f.name for f in dataclasses.fields(o)] == [
                    f.name for f in dataclasses.fields(t)
                ]
                assert o.__doc__ == t.__doc__ and o.__match_args__ == t.__match_args__
                assert getattr(o, "__slots__", None) == getattr(t, "__slots__", None)
            sub, ref = ours[1](1), theirs[1](1)
            assert repr(sub) == repr(ref)
            assert sub == ours[1](1) and sub != ours[1](2)
            assert (sub.a, sub.b, sub.c) == (ref.a, ref.b, ref.c) == (1, "y", 3)
            if frozen:
                assert hash(sub) == hash(ref)
                with pytest.raises(dataclasses.FrozenInstanceError):
                    sub.a = 2  # type: ignore[misc]
    base = fast(frozen=True)(type("B", (), {"__annotations__": {"a": "int"}}))
    with pytest.raises(TypeError, match="non-frozen dataclass from a frozen"):
        fast(type("S", (base,), {"__annotations__": {"b": "int"}}))
    base = fast(type("B", (), {"__annotations__": {"a": "int"}}))
    with pytest.raises(TypeError, match="frozen dataclass from a non-frozen"):
        fast(frozen=True)(type("S", (base,), {"__annotations__": {"b": "int"}}))


def _kinds_namespace() -> dict[str, object]:
    """A field of each kind a shape tells apart: init (plain, default, default factory) and not
    (default factory, default, nothing)."""
    return {
        "__annotations__": {n: "object" for n in "abcdef"},
        "b": 2,
        "c": dataclasses.field(default_factory=list),
        "d": dataclasses.field(default_factory=dict, init=False),
        "e": dataclasses.field(default=7, init=False),
        "f": dataclasses.field(init=False),
    }


@pytest.mark.parametrize("slots", [False, True])
@pytest.mark.parametrize("frozen", [False, True])
def test_every_field_kind_as_the_stdlib(frozen: bool, slots: bool) -> None:
    """Instances as the standard library makes them, and the ``__init__`` code what compiling
    the class's own text gives (its shape's text with the field names put in), but for the
    columns in its line table (names of other lengths)."""
    ours = fast(frozen=frozen, slots=slots)(type("K", (), _kinds_namespace()))
    theirs = dataclasses.dataclass(frozen=frozen, slots=slots)(type("K", (), _kinds_namespace()))
    assert str(inspect.signature(ours)) == str(inspect.signature(theirs))
    for args in [(1,), (1, 3), (1, 3, [4])]:
        o, t = ours(*args), theirs(*args)
        assert [getattr(o, n) for n in "abcde"] == [getattr(t, n) for n in "abcde"]
        assert hasattr(o, "f") == hasattr(t, "f")
        assert o.d is not ours(*args).d  # a new dict each time
    fields = list(ours.__dataclass_fields__.values())
    shape, names, *_ = _dataclass._init_parts(ours, fields, frozen, slots)
    assert shape[3] == ("ppfFdn" if slots else "ppfFnn")
    text = _dataclass._shape_text(shape)
    for i, name in enumerate(names):
        text = text.replace(_dataclass._placeholder(i), name)
    code, ref = ours.__dict__["__init__"].__code__, _compiled(text)
    for part in ("code", "consts", "names", "varnames", "freevars", "argcount", "flags"):
        assert getattr(code, f"co_{part}") == getattr(ref, f"co_{part}"), part
    with pytest.raises(TypeError, match="non-default argument 'z' follows default argument"):
        fast(type("Bad", (), {"__annotations__": {"y": "int", "z": "int"}, "y": 0}))(1)


def test_defaults_found_where_getattr_finds_them() -> None:
    """A default comes from wherever ``getattr(cls, name)`` finds one: the class, a plain base,
    or the metaclass (a field named ``mro``); only a class with no base but `object` skips the
    lookup for names in neither its dict nor `type`'s."""

    class Base:
        b = 5

    def make(deco: object) -> list[type]:
        d = deco(frozen=True)  # type: ignore[operator]
        own = d(type("Own", (), {"__annotations__": {"a": "int", "b": "int"}, "b": 2}))
        based = d(type("Based", (Base,), {"__annotations__": {"a": "int", "b": "int"}}))
        meta = d(type("Meta", (), {"__annotations__": {"a": "int", "mro": "object"}}))
        return [own, based, meta]

    *ours, ours_meta = make(fast)
    *theirs, theirs_meta = make(dataclasses.dataclass)
    for o, t, b in zip(ours, theirs, (2, 5)):
        assert str(inspect.signature(o)) == str(inspect.signature(t))
        assert [f.default for f in dataclasses.fields(o)] == [dataclasses.MISSING, b]
        assert [f.default for f in dataclasses.fields(t)] == [dataclasses.MISSING, b]
        assert repr(o(1)) == repr(t(1))
    # each takes its own class's bound `type.mro` as the default
    assert [f.default for f in dataclasses.fields(ours_meta)][1] == ours_meta.mro
    assert [f.default for f in dataclasses.fields(theirs_meta)][1] == theirs_meta.mro


def test_every_pymeld_dataclass_is_built_by_the_shim() -> None:
    """A module that takes ``dataclasses.dataclass`` pays the standard library's class building
    when it loads (the DWARF modules did: ~8 ms of the first fusion of a debug build)."""
    import gc

    _dataclass._all_shapes()  # imports every pymeld module
    stdlib = [
        f"{obj.__module__}.{obj.__qualname__}"
        for obj in gc.get_objects()
        if isinstance(obj, type)
        and dataclasses.is_dataclass(obj)
        and obj.__module__.startswith("pymeld")
        and _dataclass._options(obj) is None
    ]
    assert stdlib == []
