"""`dataclass` as the standard library makes it, built in a fraction of the time.

Why: on Python 3.11/3.12 ``dataclasses.dataclass`` compiles every generated method from source,
checks each string annotation against ``ClassVar``/``InitVar`` with regular expressions, sets the
methods on the class one by one and, for ``slots``, builds the class a second time; pymeld's
model modules define about 180 dataclasses, so this was much of the start-up of ``pymeld fuse``
on a small input. Here the fields are collected as ``dataclasses._get_field`` collects them for a
plain field; ``__init__`` is the standard library's generated source, compiled once per *shape*
(the source with the field names replaced by placeholders; `CodeType.replace` puts the names
back) and only when the class is first instantiated; ``__repr__``, ``__eq__``, ``__hash__`` and
the frozen ``__setattr__``/``__delattr__`` are closures computing the same results (tuples of
the fields, compared and hashed as the generated code does); the slots class is made once from
one dict. Only the options pymeld uses exist (``frozen``, ``slots``, ``eq``); a class with
dataclass bases, ``ClassVar``, ``InitVar`` or keyword-only fields goes to the standard library.
``tests/codec/test_dataclass_shim.py`` compares the results with the standard library's.

``slots=True`` makes the class a second time (a class statement cannot know it will be given
slots), ~55 k instructions more per class than without, about a third of building it; its gain
is memory, ~40 bytes an instance. pymeld's classes take it where instances are many: per
function, type, import or export of a core module, or 1 000 and more in a corpus fusion.
"""

from __future__ import annotations

import _thread
import abc
import dataclasses
import sys
import types
from collections.abc import Callable
from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for annotations: `typing` stays unloaded in a fusion (`pymeld.__main__`)
    from typing import Any, TypeVar, dataclass_transform, overload

    T = TypeVar("T", bound=type)
    #: An ``__init__`` shape (`_init_parts`): self's name, frozen, ``__post_init__``, and one
    #: letter per field.
    Shape = tuple[str, bool, bool, str]

__all__ = ["dataclass"]

_MISSING = dataclasses.MISSING
_FIELD = dataclasses._FIELD  # type: ignore[attr-defined]
_HAS_DEFAULT_FACTORY = dataclasses._HAS_DEFAULT_FACTORY  # type: ignore[attr-defined]
_FrozenInstanceError = dataclasses.FrozenInstanceError
_DataclassParams = dataclasses._DataclassParams  # type: ignore[attr-defined]
_Field = dataclasses.Field


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(dataclasses.fields(self), state):
        object.__setattr__(self, f.name, value)


def _fields_tuple(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """``lambda o: (o.a, o.b,)`` without compiling (what the generated methods compare)."""
    if not names:
        return lambda _o: ()
    if len(names) == 1:
        get = attrgetter(names[0])
        return lambda o: (get(o),)
    return attrgetter(*names)


def _make_repr(names: tuple[str, ...]) -> Callable[[Any], str]:
    running: set[tuple[int, int]] = set()
    get_ident = _thread.get_ident

    def __repr__(self: Any) -> str:
        key = id(self), get_ident()
        if key in running:
            return "..."
        running.add(key)
        try:
            shown = ", ".join([f"{n}={getattr(self, n)!r}" for n in names])
            return f"{self.__class__.__qualname__}({shown})"
        finally:
            running.discard(key)

    return __repr__


def _make_eq(names: tuple[str, ...]) -> Callable[[Any, Any], Any]:
    values = _fields_tuple(names)

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented

    return __eq__


def _make_hash(names: tuple[str, ...]) -> Callable[[Any], int]:
    values = _fields_tuple(names)

    def __hash__(self: Any) -> int:
        return hash(values(self))

    return __hash__


def _make_frozen(owner: type, names: tuple[str, ...]) -> tuple[Callable[..., None], ...]:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is owner or name in names:
            raise _FrozenInstanceError(f"cannot assign to field {name!r}")
        super(owner, self).__setattr__(name, value)  # type: ignore[arg-type]

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is owner or name in names:
            raise _FrozenInstanceError(f"cannot delete field {name!r}")
        super(owner, self).__delattr__(name)  # type: ignore[arg-type]

    return __setattr__, __delattr__


def _text_signature(fields: list[dataclasses.Field[Any]]) -> str | None:
    """``str(inspect.signature(cls))`` for string annotations (None: let inspect do it)."""
    parts = []
    for f in fields:
        if not f.init:
            continue
        if not isinstance(f.type, str):
            return None
        if f.default is not _MISSING:
            parts.append(f"{f.name}: {f.type!r} = {f.default!r}")
        elif f.default_factory is not _MISSING:
            parts.append(f"{f.name}: {f.type!r} = {_HAS_DEFAULT_FACTORY!r}")
        else:
            parts.append(f"{f.name}: {f.type!r}")
    return f"({', '.join(parts)})"


def _process(cls: type, frozen: bool, slots: bool, eq: bool = True) -> type:
    """The class ``dataclasses.dataclass(cls, frozen=frozen, slots=slots)`` makes. With slots,
    the final class is made once from a dict holding everything (setting dunder methods on a
    class one by one, then copying it, was most of the cost). A ClassVar, InitVar, KW_ONLY or
    kw_only field, here or in a dataclass base, goes to the standard library."""
    own = cls.__dict__
    annotations = own.get("__annotations__", {})
    table: dict[str, dataclasses.Field[Any]] = {}
    frozen_bases = []  # as `dataclasses._process_class`: base fields first, by reverse MRO
    for b in cls.__mro__[-1:0:-1]:
        base_fields = b.__dict__.get("__dataclass_fields__")
        if base_fields is not None:
            for f in base_fields.values():
                if f._field_type is not _FIELD or f.kw_only is not False:
                    return _stdlib(cls, frozen, slots, eq)
            table.update(base_fields)
            frozen_bases.append(b.__dict__["__dataclass_params__"].frozen)
    try:  # all of them at once (annotations are strings here)
        text = "\n".join(annotations.values())
    except TypeError:
        text = "\n".join(a if isinstance(a, str) else repr(a) for a in annotations.values())
    if "ClassVar" in text or "InitVar" in text or "KW_ONLY" in text:
        return _stdlib(cls, frozen, slots, eq)
    # `field(...)` values in the class (most classes have none: one C-level pass to know)
    has_fields = any(map(isinstance, own.values(), repeat(_Field)))
    if has_fields:
        for name in annotations:
            default = own.get(name)
            if isinstance(default, _Field) and default.kw_only is True:
                return _stdlib(cls, frozen, slots, eq)
    if frozen and ("__setattr__" in own or "__delattr__" in own):
        name = "__setattr__" if "__setattr__" in own else "__delattr__"
        raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    if frozen_bases and any(frozen_bases) and not frozen:
        raise TypeError("cannot inherit non-frozen dataclass from a frozen one")
    if frozen_bases and not all(frozen_bases) and frozen:
        raise TypeError("cannot inherit frozen dataclass from a non-frozen one")
    attrs: dict[str, Any] = {}  # what the class gets
    deleted: list[str] = []  # and what it loses
    # a class of metaclass `type` with no base but `object` finds a default in its own dict or
    # among `type`'s and `object`'s attributes only: no `getattr` for the other names (which
    # raises and catches an AttributeError inside, ~2.7 k instructions a field)
    own_only = type(cls) is type and len(cls.__mro__) == 2
    for name, ann in annotations.items():
        if own_only and name not in own and name not in _TYPE_ATTRS:
            default = _MISSING
        else:
            default = getattr(cls, name, _MISSING)
        table[name] = _field(name, ann, default, attrs, deleted)
    if has_fields:
        for name, value in own.items():
            if isinstance(value, _Field) and name not in annotations:
                raise TypeError(f"{name!r} is a field but has no type annotation")
    attrs["__dataclass_fields__"] = table
    attrs["__dataclass_params__"] = _PARAMS[frozen, slots, eq]
    fields = list(table.values())
    names = tuple(table)
    # the fields each method covers; all of them unless a field opts out (`field(repr=False)`)
    shown = compared = hashed = initialized = names
    for f in fields:
        if not (f.repr and f.compare and f.init) or f.hash is not None:
            shown = tuple(f.name for f in fields if f.repr)
            compared = tuple(f.name for f in fields if f.compare)
            hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
            initialized = tuple(f.name for f in fields if f.init)
            break
    qualname = cls.__qualname__
    methods: dict[str, Any] = {}
    owner: list[type] = [cls]  # the final class (with slots, a new one)
    if "__init__" not in own:
        methods["__init__"] = _lazy_init(owner, fields, frozen, slots)
    if "__repr__" not in own:
        methods["__repr__"] = _make_repr(shown)
    if eq and "__eq__" not in own:
        methods["__eq__"] = _make_eq(compared)
    if frozen:
        methods["__setattr__"], methods["__delattr__"] = _make_frozen(cls, names)
    class_hash = own.get("__hash__", _MISSING)
    explicit_hash = not (class_hash is _MISSING or (class_hash is None and "__eq__" in own))
    if eq and frozen and not explicit_hash:
        methods["__hash__"] = _make_hash(hashed)
    elif eq and not explicit_hash:
        attrs["__hash__"] = None  # (without eq the class keeps the hash it has)
    for name, fn in methods.items():
        fn.__qualname__ = f"{qualname}.{name}"
    attrs.update(methods)
    if "__init__" in methods and "__signature__" not in own:
        attrs["__signature__"] = _Signature(owner)
    if not own.get("__doc__"):
        attrs["__doc__"] = _Doc(owner, fields)
    if "__match_args__" not in own:
        attrs["__match_args__"] = initialized
    if slots:
        cls = _with_slots(cls, attrs, names, frozen)
    else:
        for name in deleted:
            delattr(cls, name)
        for name, value in attrs.items():
            setattr(cls, name, value)
    owner[0] = cls
    if not own_only:  # (a class of `type` deriving from `object` alone has none)
        abc.update_abstractmethods(cls)
    return cls


def _stdlib(cls: type, frozen: bool, slots: bool, eq: bool) -> type:
    return dataclasses.dataclass(cls, frozen=frozen, slots=slots, eq=eq)


#: What ``getattr(cls, name)`` finds through the metaclass `type` (and `object`).
_TYPE_ATTRS = frozenset(type.__dict__) | frozenset(object.__dict__)


def _field(
    name: str, ann: Any, default: Any, attrs: dict[str, Any], deleted: list[str]
) -> dataclasses.Field[Any]:
    """The `Field` of one annotation, as ``dataclasses._get_field`` makes it for a plain field
    (ClassVar, InitVar and KW_ONLY went to the standard library: see `_process`); ``default``:
    ``getattr(cls, name, MISSING)``."""
    if isinstance(default, _Field):
        f = default
        # the class attribute goes, or becomes the default
        if f.default is _MISSING:
            deleted.append(name)
        else:
            attrs[name] = f.default
    else:
        if isinstance(default, types.MemberDescriptorType):  # a __slots__ entry: no default
            default = _MISSING
        # what `dataclasses.field(default=default)` makes, without its checks of the arguments
        f = _Field(default, _MISSING, True, True, None, True, None, False)  # type: ignore[arg-type]
    f.name = name
    f.type = ann
    f._field_type = _FIELD  # type: ignore[attr-defined]
    if f.kw_only is _MISSING:
        f.kw_only = False
    if f.default.__class__.__hash__ is None:
        raise ValueError(
            f"mutable default {type(f.default)} for field {name} is not allowed: "
            "use default_factory"
        )
    return f


def _params(frozen: bool, slots: bool, eq: bool) -> dict[str, bool]:
    """``__dataclass_params__`` arguments, as the standard library records them."""
    values = {
        "init": True,
        "repr": True,
        "eq": eq,
        "order": False,
        "unsafe_hash": False,
        "frozen": frozen,
        "match_args": True,
        "kw_only": False,
        "slots": slots,
        "weakref_slot": False,
    }
    return {n: values[n] for n in _DataclassParams.__slots__}


#: One ``__dataclass_params__`` per option set, shared by its classes (nothing changes them).
_PARAMS = {
    (f, s, e): _DataclassParams(**_params(f, s, e))
    for f in (False, True)
    for s in (False, True)
    for e in (False, True)
}


def _lazy_init(
    owner: list[type], fields: list[dataclasses.Field[Any]], frozen: bool, slots: bool
) -> Callable[..., None]:
    """A stand-in ``__init__`` that compiles the real one (`_init_fn`) when the class is first
    instantiated, and puts it in its place: most model classes are never instantiated by one
    run, and compiling was most of building them."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        _materialize(owner, fields, frozen, slots)(self, *args, **kwargs)

    __init__._pymeld_lazy = (owner, fields, frozen, slots)  # type: ignore[attr-defined]
    return __init__


def _materialize(
    owner: list[type], fields: list[dataclasses.Field[Any]], frozen: bool, slots: bool
) -> Callable[..., None]:
    cls = owner[0]
    init = cls.__dict__["__init__"]
    if getattr(init, "_pymeld_lazy", None) is None:
        return init
    init = _init_fn(cls, fields, frozen, slots)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    type.__setattr__(cls, "__init__", init)
    return init


class _Doc:
    """``cls.__doc__`` of a dataclass without a docstring: ``Name(field: 'type', ...)`` as the
    standard library writes it, made when first read (`type` reads a descriptor there; most
    docs never are, and writing each at import was ~13 k instructions a class)."""

    __slots__ = ("fields", "owner", "text")

    def __init__(self, owner: list[type], fields: list[dataclasses.Field[Any]]) -> None:
        self.owner = owner
        self.fields = fields
        self.text: str | None = None

    def __get__(self, obj: object, objtype: type | None = None) -> str:
        if self.text is None:
            cls = self.owner[0]
            signature = _text_signature(self.fields)
            if signature is None:  # annotations that are not strings: as the standard library
                import inspect

                try:
                    signature = str(inspect.signature(cls)).replace(" -> None", "")
                except (TypeError, ValueError):
                    signature = ""
            self.text = cls.__name__ + signature
        return self.text


class _Signature:
    """``cls.__signature__`` until the real ``__init__`` exists: compiles it and answers None,
    so `inspect.signature(cls)` goes on to read the real ``__init__`` as for the stdlib's."""

    __slots__ = ("owner",)

    def __init__(self, owner: list[type]) -> None:
        self.owner = owner

    def __get__(self, obj: object, objtype: type | None = None) -> None:
        init = self.owner[0].__dict__.get("__init__")
        lazy = getattr(init, "_pymeld_lazy", None)
        if lazy is not None:
            _materialize(*lazy)
        return None


#: Compiled ``__init__`` code per shape: the generated source with each field name replaced by
#: a placeholder (`_shape_text`), keyed by the shape, which decides that text. Classes of one
#: shape (most have a few plainly assigned fields) share one compile; their code objects differ
#: only in the names, which `CodeType.replace` puts in. Taken on first use from
#: `pymeld._dataclass_shapes` (the shapes of pymeld's own classes, compiled to bytecode with that
#: module, so a run unmarshals them instead of compiling ~40 at ~0.1 ms each); a shape missing
#: there is compiled here.
_SHAPES: dict[Shape, types.CodeType] = {}
#: `pymeld._dataclass_shapes` by shape (None until `_load_shapes`): each function's code becomes
#: a template when its shape is first used (a small fusion uses about half of them).
_PRECOMPILED: dict[Shape, Callable[..., Any]] | None = None


def _inner(create: types.CodeType) -> types.CodeType:
    """The ``__init__`` code inside a shape's ``__create_fn__`` code."""
    return next(c for c in create.co_consts if isinstance(c, types.CodeType))


def _load_shapes() -> None:
    global _PRECOMPILED
    _PRECOMPILED = {}
    try:
        from pymeld._dataclass_shapes import SHAPES
    except ImportError:  # pragma: no cover - the module is part of the package
        return
    _PRECOMPILED.update(SHAPES)


def _template(shape: Shape) -> types.CodeType:
    """The ``__init__`` code of one shape (see `_init_fn`)."""
    template = _SHAPES.get(shape)
    if template is not None:
        return template
    if _PRECOMPILED is None:
        _load_shapes()
        assert _PRECOMPILED is not None
    create = _PRECOMPILED.get(shape)
    if create is not None:
        # as `compile(text, "<string>", ...)` makes it: the same file name and line numbers
        template = _inner(create.__code__).replace(co_filename="<string>", co_firstlineno=2)
    else:
        # dont_inherit: this module's `from __future__ import annotations` must not apply
        outer = compile(_shape_text(shape), "<string>", "exec", dont_inherit=True)
        template = _inner(next(c for c in outer.co_consts if isinstance(c, types.CodeType)))
    _SHAPES[shape] = template
    return template


def shapes_module(shapes: list[Shape]) -> str:
    """The source of `pymeld._dataclass_shapes` holding ``shapes``: each one's text
    (`_shape_text`) verbatim but for its function's name, so its code is what compiling the
    text gives, in the order of the texts."""
    lines = [
        '"""Generated by ``python -m pymeld._dataclass``: the ``__init__`` shapes of pymeld\'s',
        "dataclasses (see `pymeld._dataclass._SHAPES`), precompiled as this module's bytecode.",
        'Regenerate after adding dataclasses; a shape missing here is compiled at run time."""',
        "",
        "# fmt: off",
        "# ruff: noqa",
    ]
    names = []
    for i, shape in enumerate(sorted(set(shapes), key=_shape_text)):
        name = f"__create_fn_{i}__"
        text = _shape_text(shape)
        assert text.startswith("def __create_fn__(")
        lines += ["", "", text.replace("__create_fn__", name, 1)]
        names.append((shape, name))
    lines += ["", "", "SHAPES = ("]
    lines += [f"    ({shape!r}, {name})," for shape, name in names]
    lines += [")", ""]
    return "\n".join(lines)


def _all_shapes() -> list[Shape]:
    """The shapes of every dataclass this module built in pymeld's modules (all of them
    imported first), in the order of their texts. Classes whose ``__init__`` already exists
    (instantiated while their module loaded) count as well as lazy ones: each shape comes from
    the class's fields, not from what was compiled so far."""
    import gc
    import importlib
    import pkgutil

    import pymeld

    for info in pkgutil.walk_packages(pymeld.__path__, "pymeld."):
        if info.name not in ("pymeld.__main__", "pymeld._dataclass_shapes"):
            importlib.import_module(info.name)
    shapes = set()
    for obj in gc.get_objects():
        options = _options(obj) if isinstance(obj, type) else None
        if options is not None and obj.__module__.startswith("pymeld"):
            frozen, slots, _eq = options
            fields = list(obj.__dataclass_fields__.values())
            shapes.add(_init_parts(obj, fields, frozen, slots)[0])
    return sorted(shapes, key=_shape_text)


def _options(cls: type) -> tuple[bool, bool, bool] | None:
    """``(frozen, slots, eq)`` if `dataclass` (not the standard library) built ``cls``: only
    its classes have one of the `_PARAMS` objects."""
    params = cls.__dict__.get("__dataclass_params__")
    return next((key for key, p in _PARAMS.items() if p is params), None)


def _placeholder(i: int) -> str:
    return f"__pymeld_f{i}__"


#: Shape letters, one per field, for what the field adds to ``__init__`` (`_init_parts`): an
#: init parameter assigned as given (``p``) or, with a default factory, the factory's value when
#: it is left out (``f``); no parameter, the default factory's value (``F``), the default (``d``,
#: slots classes, where no class attribute holds it) or nothing (``n``).
_TAKES_CELL = frozenset("fFd")


def _init_parts(
    cls: type, fields: list[dataclasses.Field[Any]], frozen: bool, slots: bool
) -> tuple[Shape, list[str], dict[str, Any], list[Any], dict[str, Any]]:
    """What `_init_fn` makes ``cls.__init__`` of, in one pass over the fields: the shape (the
    source text's key: `_shape_text`), the field names, the closure cells of the shape's
    ``_dflt_`` names, the parameter defaults and the annotations."""
    kinds: list[str] = []
    names: list[str] = []
    cells: dict[str, Any] = {}  # "_dflt_<placeholder>" -> default factory or default
    defaults: list[Any] = []
    annotations: dict[str, Any] = {}
    for f in fields:
        name = f.name
        factory = f.default_factory
        if f.init:
            annotations[name] = f.type
            if f.default is not _MISSING:
                defaults.append(f.default)
            elif factory is not _MISSING:
                defaults.append(_HAS_DEFAULT_FACTORY)
            elif defaults:
                raise TypeError(f"non-default argument {name!r} follows default argument")
            kind = "p" if factory is _MISSING else "f"
        elif factory is not _MISSING:
            kind = "F"
        elif slots and f.default is not _MISSING:
            kind = "d"
        else:
            kind = "n"
        if kind in _TAKES_CELL:
            cells[f"_dflt_{_placeholder(len(names))}"] = (
                f.default if factory is _MISSING else factory
            )
        kinds.append(kind)
        names.append(name)
    annotations["return"] = None
    self_name = "__dataclass_self__" if "self" in cls.__dataclass_fields__ else "self"  # type: ignore[attr-defined]
    shape = (self_name, frozen, hasattr(cls, "__post_init__"), "".join(kinds))
    return shape, names, cells, defaults, annotations


def _shape_text(shape: Shape) -> str:
    """The standard library's ``__init__`` source text (``dataclasses._init_fn``) of a class
    of this shape, its field names replaced by placeholders."""
    self_name, frozen, post_init, kinds = shape
    cells = ["_HAS_DEFAULT_FACTORY", "__dataclass_builtins_object__"]
    params, lines = [self_name], []
    for i, kind in enumerate(kinds):
        p = _placeholder(i)
        if kind in _TAKES_CELL:
            cells.append(f"_dflt_{p}")
        value = {
            "p": p,
            "f": f"_dflt_{p}() if {p} is _HAS_DEFAULT_FACTORY else {p}",
            "F": f"_dflt_{p}()",
            "d": f"_dflt_{p}",
            "n": "",
        }[kind]
        if value and frozen:
            lines.append(f"__dataclass_builtins_object__.__setattr__({self_name},{p!r},{value})")
        elif value:
            lines.append(f"{self_name}.{p}={value}")
        if kind in "pf":
            params.append(p)
    if post_init:
        lines.append(f"{self_name}.__post_init__()")
    body = "\n".join(f"  {line}" for line in lines or ["pass"])
    return f"def __create_fn__({', '.join(cells)}):\n def __init__({','.join(params)}):\n{body}\n return __init__"


#: Placeholders of the first fields, made once (`_init_fn` renames them to field names).
_PLACEHOLDERS: list[str] = [_placeholder(i) for i in range(16)]

#: The closure cells every shape has.
_FIXED_CELLS = {
    "_HAS_DEFAULT_FACTORY": _HAS_DEFAULT_FACTORY,
    "__dataclass_builtins_object__": object,
}


def _init_fn(
    cls: type, fields: list[dataclasses.Field[Any]], frozen: bool, slots: bool
) -> Callable[..., None]:
    """``__init__`` as the standard library's source text (``dataclasses._init_fn``) compiles
    it: the same code, defaults, annotations and closure, from the code of its shape."""
    shape, names, cells, defaults, annotations = _init_parts(cls, fields, frozen, slots)
    template = _template(shape)
    while len(_PLACEHOLDERS) < len(names):
        _PLACEHOLDERS.append(_placeholder(len(_PLACEHOLDERS)))
    renames = dict(zip(_PLACEHOLDERS, names))
    if cells:  # the shape's `_dflt_` names too, as the standard library names them
        renames.update((k, f"_dflt_{renames[k[6:]]}") for k in cells)
        cells.update(_FIXED_CELLS)
    else:
        cells = _FIXED_CELLS
    rename = renames.get  # (as ``rename(n, n)``: mapped over each tuple in C, no Python loop)
    varnames, consts, freevars = template.co_varnames, template.co_consts, template.co_freevars
    code = template.replace(
        co_varnames=tuple(map(rename, varnames, varnames)),
        co_names=tuple(map(rename, template.co_names, template.co_names)),
        co_consts=tuple(map(rename, consts, consts)),  # (None and the frozen form's names)
        co_freevars=tuple(map(rename, freevars, freevars)),
        co_qualname=f"{cls.__qualname__}.__init__",
    )
    closure = tuple(map(types.CellType, map(cells.__getitem__, freevars)))
    module = sys.modules.get(cls.__module__)
    fn = types.FunctionType(
        code,
        module.__dict__ if module is not None else {},
        "__init__",
        tuple(defaults) or None,
        closure or None,
    )
    fn.__annotations__ = annotations
    return fn


def _tuple(obj: str, fields: list[dataclasses.Field[Any]]) -> str:
    if not fields:
        return "()"
    return f"({','.join(f'{obj}.{f.name}' for f in fields)},)"


def _with_slots(
    cls: type, attrs: dict[str, Any], field_names: tuple[str, ...], frozen: bool
) -> type:
    """The ``__slots__`` class ``dataclasses._add_slots`` makes of ``cls`` with ``attrs`` set."""
    own = cls.__dict__
    if "__slots__" in own:
        raise TypeError(f"{cls.__name__} already specifies __slots__")
    cls_dict = dict(own)
    cls_dict.update(attrs)  # (a field's class attribute goes below, default or not)
    inherited: set[str] = set()
    for base in cls.__mro__[1:-1]:
        s = base.__dict__.get("__slots__")
        if s is None:
            continue
        inherited.update((s,) if isinstance(s, str) else s)
    own_slots = tuple(n for n in field_names if n not in inherited) if inherited else field_names
    cls_dict["__slots__"] = own_slots
    for name in field_names:
        cls_dict.pop(name, None)
    cls_dict.pop("__dict__", None)
    cls_dict.pop("__weakref__", None)
    cls_dict["__qualname__"] = cls.__qualname__
    if frozen:
        cls_dict.setdefault("__getstate__", _getstate)
        cls_dict.setdefault("__setstate__", _setstate)
    return type(cls)(cls.__name__, cls.__bases__, cls_dict)


if TYPE_CHECKING:

    @overload
    @dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
    def dataclass(cls: T, /) -> T: ...
    @overload
    def dataclass(
        *, frozen: bool = False, slots: bool = False, eq: bool = True
    ) -> Callable[[T], T]: ...


def dataclass(
    cls: T | None = None, /, *, frozen: bool = False, slots: bool = False, eq: bool = True
) -> T | Callable[[T], T]:
    """``dataclasses.dataclass(cls, frozen=..., slots=..., eq=...)``, faster to build on Python
    3.11/3.12."""

    def wrap(c: T) -> T:
        return _process(c, frozen, slots, eq)  # type: ignore[return-value]

    return wrap if cls is None else wrap(cls)


if sys.version_info >= (3, 13):  # the standard library compiles once per class already
    dataclass = dataclasses.dataclass  # type: ignore[assignment]


if __name__ == "__main__":  # writes pymeld/_dataclass_shapes.py
    import pathlib

    from pymeld import _dataclass  # the module pymeld's classes use (this `__main__` is a copy)

    shapes = _dataclass._all_shapes()
    target = pathlib.Path(__file__).with_name("_dataclass_shapes.py")
    target.write_text(shapes_module(shapes))
    print(f"{target}: {len(shapes)} shapes")
