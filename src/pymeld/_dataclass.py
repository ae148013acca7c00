"""`dataclass` as the standard library makes it, with one compile per class instead of six.

Why: on Python 3.11 ``dataclasses.dataclass`` compiles every generated method from source, and
the model modules define about 150 dataclasses, so building them was about 40% of the start-up
of ``pymeld fuse`` on a small input (compiling is what costs, not the number of calls). Here the
standard library still collects and checks the fields (with ``init``, ``repr`` and ``eq`` off),
``__init__`` is generated from the same source text as the standard library's, and ``__repr__``,
``__eq__``, ``__hash__`` and the frozen ``__setattr__``/``__delattr__`` are closures that compute
the same results (tuples of the fields, compared and hashed as the generated code does), so they
need no compiling. Only the options pymeld uses exist (``frozen``, ``slots``); a class with
dataclass bases, ``ClassVar``, ``InitVar`` or keyword-only fields goes to the standard library.
``tests/test_dataclass_shim.py`` compares the results with the standard library's.

``__init__`` is compiled when the class is first instantiated (or its signature is asked for),
not when it is defined: one run of ``pymeld fuse`` on a small input instantiates about half of
the model classes, and the compiles were most of the cost of building them.
"""

from __future__ import annotations

import _thread
import abc
import dataclasses
import sys
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["dataclass"]

T = TypeVar("T", bound=type)

_MISSING = dataclasses.MISSING
_FIELD = dataclasses._FIELD  # type: ignore[attr-defined]
_HAS_DEFAULT_FACTORY = dataclasses._HAS_DEFAULT_FACTORY  # type: ignore[attr-defined]
_FrozenInstanceError = dataclasses.FrozenInstanceError


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(dataclasses.fields(self), state):
        object.__setattr__(self, f.name, value)


def _plain(cls: type) -> bool:
    """No dataclass bases, ClassVar, InitVar, KW_ONLY or kw_only fields (else: the stdlib)."""
    if any("__dataclass_fields__" in b.__dict__ for b in cls.__mro__[1:]):
        return False
    for name, ann in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063 (as stdlib)
        text = ann if isinstance(ann, str) else repr(ann)
        if "ClassVar" in text or "InitVar" in text or "KW_ONLY" in text:
            return False
        default = cls.__dict__.get(name)
        if isinstance(default, dataclasses.Field) and default.kw_only is True:
            return False
    return True


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


def _process(cls: type, frozen: bool, slots: bool) -> type:
    if not _plain(cls):
        return dataclasses.dataclass(cls, frozen=frozen, slots=slots)
    own = set(cls.__dict__)
    for name in ("__setattr__", "__delattr__"):
        if frozen and name in own:
            raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    body_doc = cls.__dict__.get("__doc__")
    if not body_doc:
        cls.__doc__ = "-"  # the standard library's doc would describe a class without __init__
    cls = dataclasses.dataclass(cls, init=False, repr=False, eq=False, match_args=True)
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    values = {n: getattr(params, n) for n in params.__slots__}
    values.update(init=True, repr=True, eq=True, frozen=frozen)
    cls.__dataclass_params__ = type(params)(**values)  # type: ignore[attr-defined]
    fields = [
        f
        for f in cls.__dataclass_fields__.values()  # type: ignore[attr-defined]
        if f._field_type is _FIELD
    ]
    methods: dict[str, Any] = {}
    owner: list[type] = [cls]  # the final class (`_add_slots` makes a new one)
    if "__init__" not in own:
        methods["__init__"] = _lazy_init(owner, fields, frozen, slots)
        if "__signature__" not in own:
            methods["__signature__"] = _Signature(owner)
    if "__repr__" not in own:
        methods["__repr__"] = _make_repr(tuple(f.name for f in fields if f.repr))
    if "__eq__" not in own:
        methods["__eq__"] = _make_eq(tuple(f.name for f in fields if f.compare))
    if frozen:
        names = tuple(f.name for f in fields)
        methods["__setattr__"], methods["__delattr__"] = _make_frozen(cls, names)
    class_hash = cls.__dict__.get("__hash__", _MISSING)
    explicit_hash = not (class_hash is _MISSING or (class_hash is None and "__eq__" in own))
    if frozen and not explicit_hash:
        hashed = [f for f in fields if (f.compare if f.hash is None else f.hash)]
        methods["__hash__"] = _make_hash(tuple(f.name for f in hashed))
    elif not explicit_hash:
        cls.__hash__ = None  # type: ignore[assignment]
    for name, fn in methods.items():
        if name != "__signature__":
            fn.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, fn)
    if not body_doc:
        text_sig = _text_signature(fields)
        if text_sig is None:
            import inspect

            try:
                text_sig = str(inspect.signature(cls)).replace(" -> None", "")
            except (TypeError, ValueError):
                text_sig = ""
        cls.__doc__ = cls.__name__ + text_sig
    if slots:
        cls = _add_slots(cls, frozen)
    owner[0] = cls
    abc.update_abstractmethods(cls)
    return cls


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


def _init_fn(
    cls: type, fields: list[dataclasses.Field[Any]], frozen: bool, slots: bool
) -> Callable[..., None]:
    """``__init__`` from the standard library's source text (``dataclasses._init_fn``)."""
    self_name = "__dataclass_self__" if "self" in cls.__dataclass_fields__ else "self"  # type: ignore[attr-defined]
    env: dict[str, Any] = {
        "MISSING": _MISSING,
        "_HAS_DEFAULT_FACTORY": _HAS_DEFAULT_FACTORY,
        "__dataclass_builtins_object__": object,
    }
    params, lines, seen_default = [self_name], [], False
    for f in fields:
        env[f"_type_{f.name}"] = f.type
        has_default = f.default is not _MISSING or f.default_factory is not _MISSING
        if f.init:
            if has_default:
                seen_default = True
            elif seen_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
        if f.default_factory is not _MISSING:
            env[f"_dflt_{f.name}"] = f.default_factory
            value = (
                f"_dflt_{f.name}() if {f.name} is _HAS_DEFAULT_FACTORY else {f.name}"
                if f.init
                else f"_dflt_{f.name}()"
            )
        elif f.init:
            if f.default is not _MISSING:
                env[f"_dflt_{f.name}"] = f.default
            value = f.name
        elif slots and f.default is not _MISSING:
            env[f"_dflt_{f.name}"] = f.default
            value = f"_dflt_{f.name}"
        else:
            value = ""
        if value and frozen:
            lines.append(
                f"__dataclass_builtins_object__.__setattr__({self_name},{f.name!r},{value})"
            )
        elif value:
            lines.append(f"{self_name}.{f.name}={value}")
        if f.init:
            default = (
                f"=_dflt_{f.name}"
                if f.default is not _MISSING
                else "=_HAS_DEFAULT_FACTORY"
                if f.default_factory is not _MISSING
                else ""
            )
            params.append(f"{f.name}:_type_{f.name}{default}")
    if hasattr(cls, "__post_init__"):
        lines.append(f"{self_name}.__post_init__()")
    env["_return_type"] = None
    body = "\n".join(f"  {line}" for line in lines or ["pass"])
    text = (
        f"def __create_fn__({', '.join(env)}):\n"
        f" def __init__({','.join(params)})->_return_type:\n{body}\n"
        " return __init__"
    )
    module = sys.modules.get(cls.__module__)
    ns: dict[str, Any] = {}
    # dont_inherit: this module's `from __future__ import annotations` must not apply
    code = compile(text, "<string>", "exec", dont_inherit=True)
    exec(code, module.__dict__ if module is not None else {}, ns)
    return ns["__create_fn__"](**env)


def _tuple(obj: str, fields: list[dataclasses.Field[Any]]) -> str:
    if not fields:
        return "()"
    return f"({','.join(f'{obj}.{f.name}' for f in fields)},)"


def _add_slots(cls: type, frozen: bool) -> type:
    """The ``__slots__`` copy of ``cls`` (``dataclasses._add_slots``, without weakref_slot)."""
    if "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__} already specifies __slots__")
    cls_dict = dict(cls.__dict__)
    field_names = tuple(f.name for f in dataclasses.fields(cls))
    inherited: set[str] = set()
    for base in cls.__mro__[1:-1]:
        s = base.__dict__.get("__slots__")
        if s is None:
            continue
        inherited.update((s,) if isinstance(s, str) else s)
    cls_dict["__slots__"] = tuple(n for n in field_names if n not in inherited)
    for name in field_names:
        cls_dict.pop(name, None)
    cls_dict.pop("__dict__", None)
    cls_dict.pop("__weakref__", None)
    qualname = getattr(cls, "__qualname__", None)
    new = type(cls)(cls.__name__, cls.__bases__, cls_dict)
    if qualname is not None:
        new.__qualname__ = qualname
    if frozen:
        if "__getstate__" not in cls_dict:
            setattr(new, "__getstate__", _getstate)  # noqa: B010
        if "__setstate__" not in cls_dict:
            setattr(new, "__setstate__", _setstate)  # noqa: B010
    return new


@overload
def dataclass(cls: T, /) -> T: ...
@overload
def dataclass(*, frozen: bool = False, slots: bool = False) -> Callable[[T], T]: ...
@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def dataclass(
    cls: T | None = None, /, *, frozen: bool = False, slots: bool = False
) -> T | Callable[[T], T]:
    """``dataclasses.dataclass(cls, frozen=..., slots=...)``, faster to build on Python 3.11/3.12."""

    def wrap(c: T) -> T:
        return _process(c, frozen, slots)  # type: ignore[return-value]

    return wrap if cls is None else wrap(cls)


if sys.version_info >= (3, 13):  # the standard library compiles once per class already
    dataclass = dataclasses.dataclass  # type: ignore[assignment]
