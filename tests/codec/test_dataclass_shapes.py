"""`pymeld._dataclass_shapes`: the precompiled ``__init__`` shapes are exactly what compiling
their texts gives, the module is what its generator writes, and a shape missing there still
works (compiled at run time)."""

from __future__ import annotations

import dataclasses
import inspect
import types
from pathlib import Path

from pymeld import _dataclass, _dataclass_shapes
from pymeld._dataclass import dataclass as fast


def _compiled(text: str) -> types.CodeType:
    outer = compile(text, "<string>", "exec", dont_inherit=True)
    return _dataclass._inner(next(c for c in outer.co_consts if isinstance(c, types.CodeType)))


def test_precompiled_shapes_are_what_compiling_gives() -> None:
    assert len(_dataclass_shapes.SHAPES) > 20
    for text, create in _dataclass_shapes.SHAPES:
        code = _dataclass._inner(create.__code__).replace(co_filename="<string>", co_firstlineno=2)
        ref = _compiled(text)
        assert code == ref, text
        assert (code.co_filename, code.co_firstlineno) == (ref.co_filename, ref.co_firstlineno)
        assert list(code.co_positions()) == list(ref.co_positions()), text
        assert code.co_freevars == ref.co_freevars and code.co_varnames == ref.co_varnames


def test_module_is_what_its_generator_writes() -> None:
    """Not edited by hand: regenerate with ``python -m pymeld._dataclass``."""
    texts = [text for text, _ in _dataclass_shapes.SHAPES]
    assert texts == sorted(set(texts))
    source = Path(_dataclass_shapes.__file__).read_text()
    assert source == _dataclass.shapes_module(texts)


def test_shapes_are_loaded_not_compiled() -> None:
    """A class whose shape is in the module gets its ``__init__`` without `compile`."""
    _dataclass._load_shapes()
    text = _dataclass_shapes.SHAPES[0][0]
    assert _dataclass._template(text) is _dataclass._SHAPES[text]


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
