"""Emit resolved types (`pymeld.abi.types`) back into a component's type index space.

The wrapper rebuilds export signatures in the new root component. Types are emitted on demand
and cached by structure; a type that is exported under a name is re-pointed at the index the
export created, so later function types refer to the *named* type, as validators require of
exported signatures. Resources map to the root type index the copied import prefix gave them.
"""

from __future__ import annotations

from collections.abc import Callable

from pymeld.abi import types as at
from pymeld.codec.component import model as cm
from pymeld.errors import UnsupportedFeature
from pymeld.graph.model import ResourceType
from pymeld.graph.type_resolution import TypeClosure

_PRIM: dict[type, cm.Prim] = {
    at.Bool: cm.Prim.BOOL,
    at.S8: cm.Prim.S8,
    at.U8: cm.Prim.U8,
    at.S16: cm.Prim.S16,
    at.U16: cm.Prim.U16,
    at.S32: cm.Prim.S32,
    at.U32: cm.Prim.U32,
    at.S64: cm.Prim.S64,
    at.U64: cm.Prim.U64,
    at.F32: cm.Prim.F32,
    at.F64: cm.Prim.F64,
    at.Char: cm.Prim.CHAR,
    at.String: cm.Prim.STRING,
    at.ErrorContext: cm.Prim.ERROR_CONTEXT,
}


class TypeEmitter:
    """Allocates component type indices; ``define`` appends one type-section item."""

    def __init__(
        self,
        define: Callable[[cm.Type], int],
        resource_index: Callable[[ResourceType], int],
    ) -> None:
        self._define = define
        self._resource_index = resource_index
        self._cache: dict[object, int] = {}

    def name(self, t: object, index: int) -> None:
        """Future references to ``t`` use ``index`` (the index an export of it created). For a
        resource, types already defined against its previous index (an `own` of it, a
        signature taking one) are defined again when next used: an exported function's type
        may only name the exported resource."""
        if isinstance(t, ResourceType):
            stale = [k for k in self._cache if _mentions(k, t)]
            for k in stale:
                del self._cache[k]
        self._cache[_key(t)] = index

    def valtype(self, t: at.ValType) -> cm.ValType:
        prim = _PRIM.get(type(t))
        if prim is not None:
            return prim
        return self.index(t)

    def index(self, t: object) -> int:
        """The type index of ``t``, defining it (and its parts) first if needed."""
        key = _key(t)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if isinstance(t, ResourceType):
            idx = self._resource_index(t)
        else:
            idx = self._define(self._build(t))
        self._cache[key] = idx
        return idx

    def _build(self, t: object) -> cm.Type:
        v = self.valtype
        match t:
            case at.Record():
                return cm.RecordType([(n, v(f)) for n, f in t.fields])
            case at.Variant():
                return cm.VariantType([cm.Case(n, None if c is None else v(c)) for n, c in t.cases])
            case at.List():
                return cm.ListType(v(t.elem), t.fixed_len)
            case at.Tuple():
                return cm.TupleType([v(x) for x in t.types])
            case at.Flags():
                return cm.FlagsType(list(t.labels))
            case at.Enum():
                return cm.EnumType(list(t.labels))
            case at.Option():
                return cm.OptionType(v(t.t))
            case at.Result():
                return cm.ResultType(
                    None if t.ok is None else v(t.ok), None if t.err is None else v(t.err)
                )
            case at.Map():
                return cm.MapType(v(t.key), v(t.value))
            case at.Stream():
                return cm.StreamType(None if t.elem is None else v(t.elem))
            case at.Future():
                return cm.FutureType(None if t.elem is None else v(t.elem))
            case at.Own():
                return cm.OwnType(self.index(t.resource))
            case at.Borrow():
                return cm.BorrowType(self.index(t.resource))
            case at.FuncType():
                return cm.FuncType(
                    [(n, v(p)) for n, p in t.params],
                    None if t.result is None else v(t.result),
                    t.is_async,
                )
            case _ if type(t) in _PRIM:
                return _PRIM[type(t)]
            case TypeClosure() if _self_contained(t.type):
                return t.type
            case _:
                raise UnsupportedFeature(f"cannot re-emit type {t!r}")


def _mentions(key: object, r: ResourceType) -> bool:
    """Whether cached type ``key`` (a value or function type) holds a handle of ``r``."""
    if isinstance(key, at.FuncType):
        return any(_mentions(t, r) for t in [*key.param_types(), *key.result_type()])
    if isinstance(key, tuple):  # a resource or a closure
        return False
    return any(
        isinstance(h.resource, ResourceType) and h.resource.id == r.id for h in at.handles(key)
    )


def _key(t: object) -> object:
    if isinstance(t, ResourceType):
        return ("resource", t.id)
    if isinstance(t, TypeClosure):
        return ("closure", id(t))
    return t


def _self_contained(t: cm.ComponentType | cm.InstanceType) -> bool:
    """A component/instance type with no outer aliases means the same anywhere: copy it."""
    for d in t.decls:
        if isinstance(d, cm.AliasDeclarator) and isinstance(d.alias, cm.AliasOuter):
            return False
        if (
            isinstance(d, cm.TypeDeclarator)
            and isinstance(d.type, cm.ComponentType | cm.InstanceType)
            and not _self_contained(d.type)
        ):
            return False
    return True
