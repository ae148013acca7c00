"""Type resolution: component type indices → resolved types (`pymeld.abi.types`).

Value types are resolved eagerly when defined, so a later reference is a lookup. Component and
instance types are closures (declarators + defining scope) evaluated on demand, because an
instance type's exports are only needed when a root import of that type is materialised; each
evaluation of a `(sub resource)` export there creates a fresh abstract resource, which is how
the spec makes imported resource types distinct.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from pymeld._dataclass import dataclass
from pymeld.abi import types as at
from pymeld.codec.component import model as cm
from pymeld.errors import LinkError, UnsupportedFeature
from pymeld.graph.model import ModuleSig, ResourceType

if TYPE_CHECKING:
    from typing import Any

    from pymeld.graph.flatten import Flattener, Scope

CS = cm.ComponentSort
#: Read per type lookup (on Python 3.11 each ``ComponentSort.X`` read goes through
#: ``EnumType.__getattr__``).
_TYPE = CS.TYPE
_INSTANCE = CS.INSTANCE
_FUNC = CS.FUNC
KS = cm.CoreSort

_PRIMS: dict[cm.Prim, Any] = {
    cm.Prim.BOOL: at.Bool(),
    cm.Prim.S8: at.S8(),
    cm.Prim.U8: at.U8(),
    cm.Prim.S16: at.S16(),
    cm.Prim.U16: at.U16(),
    cm.Prim.S32: at.S32(),
    cm.Prim.U32: at.U32(),
    cm.Prim.S64: at.S64(),
    cm.Prim.U64: at.U64(),
    cm.Prim.F32: at.F32(),
    cm.Prim.F64: at.F64(),
    cm.Prim.CHAR: at.Char(),
    cm.Prim.STRING: at.String(),
    cm.Prim.ERROR_CONTEXT: at.ErrorContext(),
}


@dataclass
class TypeClosure:
    """A component or instance type, kept with the scope its outer aliases refer to."""

    type: cm.ComponentType | cm.InstanceType
    scope: Scope


@dataclass
class _DeclScope:
    """The local type index space of an instance/component type being evaluated."""

    parent: Any  # Scope or _DeclScope
    types: list[Any]
    instances: list[Any]
    core_types: list[Any] = field(default_factory=list)

    def get(self, sort: cm.Sort, index: int) -> Any:
        space = (
            self.types
            if sort is _TYPE
            else self.instances
            if sort is _INSTANCE
            else self.core_types
            if sort is KS.TYPE
            else None
        )
        if space is None or index >= len(space):
            raise LinkError(f"type declarator index {index} of {cm.sort_name(sort)} out of range")
        return space[index]


class TypeResolver:
    def __init__(self, flattener: Flattener) -> None:
        self.flattener = flattener

    # -- definitions ------------------------------------------------------------------------------
    def define(self, t: cm.Type, scope: Any) -> Any:
        """Resolve a type-section item in ``scope`` (a Scope or _DeclScope)."""
        if isinstance(t, cm.ResourceType):
            from pymeld.graph.flatten import Scope

            if not isinstance(scope, Scope):
                raise LinkError("resource type definitions are not allowed in type declarators")
            dtor = scope.get(KS.FUNC, t.dtor) if t.dtor is not None else None
            n = len(scope.space(CS.TYPE))
            return self.flattener.new_resource(
                f"{scope.label}/type{n}", scope.instance_id, dtor, None
            )
        if isinstance(t, cm.FuncType):
            return at.FuncType(
                tuple((n, self.valtype(v, scope)) for n, v in t.params),
                None if t.result is None else self.valtype(t.result, scope),
                t.is_async,
            )
        if isinstance(t, cm.ComponentType | cm.InstanceType):
            return TypeClosure(t, scope)
        try:
            return self.defvaltype(t, scope)
        except ValueError as e:  # a shape the binary format allows but validation rejects
            raise LinkError(f"invalid component type: {e}") from None

    def valtype(self, v: cm.ValType, scope: Any) -> Any:
        if isinstance(v, cm.Prim):
            return self._prim(v)
        return _lookup_type(scope, v)

    def _prim(self, p: cm.Prim) -> Any:
        t = _PRIMS.get(p)
        if t is None:
            raise UnsupportedFeature(f"value type {p.value}")
        return t

    def defvaltype(self, t: Any, scope: Any) -> Any:
        vt = self.valtype
        match t:
            case cm.Prim():
                return self._prim(t)
            case cm.RecordType():
                return at.Record(tuple((n, vt(f, scope)) for n, f in t.fields))
            case cm.VariantType():
                return at.Variant(
                    tuple((c.name, None if c.type is None else vt(c.type, scope)) for c in t.cases)
                )
            case cm.ListType():
                return at.List(vt(t.element, scope), t.length)
            case cm.TupleType():
                return at.Tuple(tuple(vt(x, scope) for x in t.types))
            case cm.FlagsType():
                return at.Flags(tuple(t.names))
            case cm.EnumType():
                return at.Enum(tuple(t.names))
            case cm.OptionType():
                return at.Option(vt(t.type, scope))
            case cm.ResultType():
                return at.Result(
                    None if t.ok is None else vt(t.ok, scope),
                    None if t.err is None else vt(t.err, scope),
                )
            case cm.OwnType():
                return at.Own(self._resource(scope, t.resource))
            case cm.BorrowType():
                return at.Borrow(self._resource(scope, t.resource))
            case cm.MapType():  # (`rareitems`: loaded when a type is none of the above)
                return at.Map(vt(t.key, scope), vt(t.value, scope))
            case cm.StreamType():
                return at.Stream(None if t.element is None else vt(t.element, scope))
            case cm.FutureType():
                return at.Future(None if t.element is None else vt(t.element, scope))
            case _:
                raise UnsupportedFeature(f"value type {type(t).__name__}")

    def _resource(self, scope: Any, index: int) -> ResourceType:
        r = _lookup_type(scope, index)
        if not isinstance(r, ResourceType):
            raise LinkError(f"own/borrow of type index {index}, which is not a resource")
        return r

    def func_type(self, value: Any, scope: Any) -> at.FuncType:
        if not isinstance(value, at.FuncType):
            raise LinkError(f"expected a function type, found {type(value).__name__}")
        return value

    def name_resource(self, r: ResourceType, name: str) -> ResourceType:
        return r

    # -- instance types -------------------------------------------------------------------------
    def instance_exports(self, closure: Any, path: tuple[str, ...]) -> dict[str, tuple[Any, Any]]:
        """Evaluate an instance type's declarators into its exports: name → (sort, value).

        Functions come back as `at.FuncType`, nested instances as `TypeClosure`, types as
        resolved types (fresh host resources for `(sub resource)`).
        """
        if not isinstance(closure, TypeClosure) or not isinstance(closure.type, cm.InstanceType):
            raise LinkError(f"import `{'/'.join(path)}` is not typed by an instance type")
        local = _DeclScope(closure.scope, [], [])
        exports: dict[str, tuple[Any, Any]] = {}
        for decl in closure.type.decls:
            match decl:  # (core types last: reading `cm.CoreTypeDeclarator` loads them)
                case cm.TypeDeclarator():
                    local.types.append(self.define(decl.type, local))
                case cm.AliasDeclarator():
                    local_alias(self, local, decl.alias)
                case cm.ExportDecl():
                    name = decl.name.name
                    value = self._extern(decl.desc, local, (*path, name))
                    sort = decl.desc.sort
                    if sort is _TYPE:
                        local.types.append(value)
                    elif sort is _INSTANCE:
                        local.instances.append(value)
                    exports[name] = (sort, value)
                case cm.ImportDecl():
                    raise LinkError("import declarator inside an instance type")
                case cm.CoreTypeDeclarator():
                    t = decl.type
                    n = len(t.subtypes) if isinstance(t, cm.CoreRecType) else 1
                    local.core_types.extend([t] * n)
        return exports

    def _extern(self, desc: cm.ExternDesc, local: _DeclScope, path: tuple[str, ...]) -> Any:
        sort = desc.sort
        if sort is _FUNC:
            return self.func_type(local.get(_TYPE, _idx(desc)), local)
        if sort is _TYPE:
            if desc.index is None:
                return self.flattener.new_resource(path[-1], None, None, path)
            return local.get(_TYPE, desc.index)
        if sort is _INSTANCE:
            return local.get(_TYPE, _idx(desc))
        if sort is KS.MODULE:
            mt = local.get(KS.TYPE, _idx(desc))
            return module_sig(mt, local.core_types, "/".join(path))
        raise UnsupportedFeature(f"imported {cm.sort_name(sort)} `{'/'.join(path)}`")


def local_alias(resolver: TypeResolver, local: _DeclScope, alias: cm.Alias) -> None:
    """Apply an alias declarator inside an instance type."""
    if isinstance(alias, cm.AliasOuter):
        scope: Any = local
        for _ in range(alias.count):
            scope = scope.parent if scope is not None else None
        if scope is None:
            raise LinkError(f"outer alias count {alias.count} exceeds the type's nesting depth")
        value = _lookup(scope, alias.sort, alias.index)
    elif isinstance(alias, cm.AliasExport):
        raise UnsupportedFeature("export alias inside an instance type")
    else:
        raise UnsupportedFeature("core export alias inside an instance type")
    if alias.sort is CS.TYPE:
        local.types.append(value)
    elif alias.sort is CS.INSTANCE:
        local.instances.append(value)
    elif alias.sort is KS.TYPE:
        local.core_types.append(value)


def module_sig(mt: Any, outer: list[Any], where: str) -> ModuleSig:
    """A core module type in core form (`ModuleSig`); ``outer`` is the enclosing core type
    index space (rec types repeated once per subtype), which outer aliases refer to."""
    from pymeld.codec.component.encode import module_type_stub
    from pymeld.codec.core import parse_module

    if not isinstance(mt, cm.CoreModuleType):
        raise LinkError(f"`{where}`: core module of a type that is not a module type")
    types: list[cm.CoreRecType] = []
    imports: list[tuple[str, str, cm.CoreExternType]] = []
    exports: list[tuple[str, str, cm.CoreExternType]] = []
    for d in mt.decls:
        if isinstance(d, cm.CoreTypeDecl):
            if not isinstance(d.type, cm.CoreRecType):
                raise LinkError(f"`{where}`: module type inside a module type")
            types.append(d.type)
        elif isinstance(d, cm.CoreOuterAlias):
            t = outer[d.index] if d.count == 1 and d.index < len(outer) else None
            if not (isinstance(t, cm.CoreRecType) and len(t.subtypes) == 1 and _closed(t)):
                # another index space's numbering would be needed to read it here
                raise UnsupportedFeature(
                    f"imported core module `{where}`: its type aliases an outer type that is not "
                    "a self-contained function type"
                )
            types.append(t)
        elif isinstance(d, cm.CoreImportDecl):
            imports.append((d.module, d.name, d.type))
        else:
            exports.append(("", d.name, d.type))
    stub = parse_module(module_type_stub(types, imports + exports), file=f"module type of {where}")
    return ModuleSig(stub, len(imports))


def _closed(t: cm.CoreRecType) -> bool:
    """A function type naming no other type (no concrete reference types)."""
    comp = t.subtypes[0].comp
    if not isinstance(comp, cm.CoreFuncType) or t.subtypes[0].supertypes:
        return False
    return not any(
        isinstance(v, cm.CoreRefType) and v.heap >= 0 for v in (*comp.params, *comp.results)
    )


def _lookup(scope: Any, sort: cm.Sort, index: int) -> Any:
    return scope.get(sort, index)


def _lookup_type(scope: Any, index: int) -> Any:
    return scope.get(_TYPE, index)


def _idx(desc: cm.ExternDesc) -> int:
    if desc.index is None:
        raise LinkError("extern descriptor without a type index")
    return desc.index
