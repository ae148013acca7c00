"""Random two-component compositions: the fused component must behave exactly like the original.

Hypothesis draws a component value type ``T`` (every constructor) and a value of it; we write,
in component text, a callee exporting ``echo: func(x: T) -> T`` (core wasm that hands back what
the adapter gave it: the flat value, the spilled parameter pointer, or the flat values stored
to memory in the canonical layout) and a caller exporting ``run: func(x: T) -> T`` that forwards
to the imported ``echo`` (lowered with its own memory and bump ``cabi_realloc``), for each of
the 3x3 string-encoding pairs. Original (wasmtime's runtime adapters) and ``fuse --component``
output (pymeld's generated adapter) run under wasmtime; results and traps must agree, and a
valid value must come back unchanged. Hostile callees (bad/misaligned result pointers,
corrupted result bytes or string data, out-of-range flat values) must trap (or not) alike.

The layout code here is written from the spec independently of ``pymeld.abi`` on purpose.
CI: fixed seed, few examples; ``--slow`` / ``PYMELD_SLOW=1`` runs many more (randomised).
"""

from __future__ import annotations

import math
import os
import struct
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
import wasmtime
from hypothesis import HealthCheck, given, reject, seed, settings
from hypothesis import strategies as st
from wasmtime.component import (
    Component,
    Linker,
    ListType,
    OptionType,
    Record,
    ResultType,
    Variant,
    VariantType,
)

from pymeld.fuse import FuseOptions, fuse_bytes
from support import SLOW

SETTINGS: dict[str, Any] = dict(
    deadline=None, suppress_health_check=list(HealthCheck), derandomize=not SLOW
)
ENCS = ["utf8", "utf16", "latin1+utf16"]
STATS: Counter[str] = Counter()
ENGINE = wasmtime.Engine()


def _n(fast: int) -> int:
    return fast * 25 if SLOW else fast


# -- the type model (tuples, so hypothesis can shrink and we can hash) -------------------------
# ("prim", name) | ("list", T) | ("record", ((field, T), ...)) | ("tuple", (T, ...))
# | ("variant", ((case, T|None), ...)) | ("enum", n) | ("option", T) | ("result", T|None, T|None)
# | ("flags", n)
Ty = tuple
INTS = {"u8": (0, 255), "s8": (-128, 127), "u16": (0, 65535), "s16": (-32768, 32767)}
INTS |= {"u32": (0, 2**32 - 1), "s32": (-(2**31), 2**31 - 1)}
INTS |= {"u64": (0, 2**64 - 1), "s64": (-(2**63), 2**63 - 1)}
PRIMS = ["bool", *INTS, "f32", "f64", "char", "string"]


def types(max_leaves: int = 8) -> st.SearchStrategy[Ty]:
    leaf = st.sampled_from(PRIMS).map(lambda p: ("prim", p))
    leaf |= st.integers(1, 32).map(lambda n: ("flags", n)) | st.integers(1, 300).map(
        lambda n: ("enum", n)
    )

    def extend(inner: st.SearchStrategy[Ty]) -> st.SearchStrategy[Ty]:
        fields = st.lists(inner, min_size=1, max_size=4)
        opt = st.none() | inner
        return st.one_of(
            inner.map(lambda t: ("list", t)),
            fields.map(lambda ts: ("record", tuple((f"f{i}", t) for i, t in enumerate(ts)))),
            fields.map(lambda ts: ("tuple", tuple(ts))),
            st.lists(opt, min_size=1, max_size=4).map(
                lambda ts: ("variant", tuple((f"c{i}", t) for i, t in enumerate(ts)))
            ),
            inner.map(lambda t: ("option", t)),
            st.tuples(opt, opt).map(lambda p: ("result", p[0], p[1])),
        )

    return st.recursive(leaf, extend, max_leaves=max_leaves)


def cases_of(t: Ty) -> list[tuple[str, Ty | None]]:
    """Variant view (spec `despecialize`) of variant/enum/option/result."""
    match t:
        case ("variant", cs):
            return list(cs)
        case ("enum", n):
            return [(f"e{i}", None) for i in range(n)]
        case ("option", u):
            return [("none", None), ("some", u)]
        case ("result", ok, err):
            return [("ok", ok), ("err", err)]
    raise AssertionError(t)


def fields_of(t: Ty) -> list[Ty]:
    return [u for _, u in t[1]] if t[0] == "record" else list(t[1])


PRIM_LAYOUT = {"bool": 1, "u8": 1, "s8": 1, "u16": 2, "s16": 2, "u32": 4, "s32": 4, "char": 4}
PRIM_LAYOUT |= {"u64": 8, "s64": 8, "f32": 4, "f64": 8}
PRIM_FLAT = {"u64": "i64", "s64": "i64", "f32": "f32", "f64": "f64"}


def disc_size(n: int) -> int:
    return 1 if n <= 256 else 2 if n <= 65536 else 4


def align_to(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def alignment(t: Ty) -> int:
    match t[0]:
        case "prim":
            return 4 if t[1] == "string" else PRIM_LAYOUT[t[1]]
        case "list":
            return 4
        case "record" | "tuple":
            return max(alignment(u) for u in fields_of(t))
        case "flags":
            return flags_size(t[1]) if t[1] <= 16 else 4
    cs = cases_of(t)
    return max([disc_size(len(cs)), *(alignment(u) for _, u in cs if u is not None)])


def flags_size(n: int) -> int:
    return 1 if n <= 8 else 2 if n <= 16 else 4 * ((n + 31) // 32)


def payload_offset(t: Ty) -> int:
    cs = cases_of(t)
    return align_to(disc_size(len(cs)), max([1, *(alignment(u) for _, u in cs if u)]))


def size(t: Ty) -> int:
    match t[0]:
        case "prim":
            return 8 if t[1] == "string" else PRIM_LAYOUT[t[1]]
        case "list":
            return 8
        case "record" | "tuple":
            s = 0
            for u in fields_of(t):
                s = align_to(s, alignment(u)) + size(u)
            return align_to(s, alignment(t))
        case "flags":
            return flags_size(t[1])
    cs = cases_of(t)
    s = payload_offset(t) + max([0, *(size(u) for _, u in cs if u is not None)])
    return align_to(s, alignment(t))


def join(a: str, b: str) -> str:
    if a == b:
        return a
    if {a, b} == {"i32", "f32"}:
        return "i32"
    return "i64"


def flatten(t: Ty) -> list[str]:
    match t[0]:
        case "prim":
            return ["i32", "i32"] if t[1] == "string" else [PRIM_FLAT.get(t[1], "i32")]
        case "list":
            return ["i32", "i32"]
        case "record" | "tuple":
            return [x for u in fields_of(t) for x in flatten(u)]
        case "flags":
            return ["i32"] * ((t[1] + 31) // 32)
    flat: list[str] = []
    for _, u in cases_of(t):
        if u is not None:
            for i, ft in enumerate(flatten(u)):
                flat[i : i + 1] = [join(flat[i], ft) if i < len(flat) else ft]
    return ["i32", *flat]


# -- component text --------------------------------------------------------------------------


class Names:
    """Nominal types (record/variant/enum/flags) in post-order, each defined then exported."""

    def __init__(self, t: Ty) -> None:
        self.order: list[Ty] = []
        self._walk(t)

    def _walk(self, t: Ty) -> None:
        match t[0]:
            case "prim" | "flags" | "enum":
                pass
            case "list" | "option":
                self._walk(t[1])
            case "record" | "tuple" | "variant":
                for u in t[1]:
                    u = u[1] if isinstance(u[0], str) and t[0] != "tuple" else u
                    if u is not None:
                        self._walk(u)
            case "result":
                for u in t[1:]:
                    if u is not None:
                        self._walk(u)
        if t[0] in ("record", "variant", "enum", "flags") and t not in self.order:
            self.order.append(t)

    def ref(self, t: Ty) -> str:
        match t[0]:
            case "prim":
                return t[1]
            case "list" | "option":
                return f"({t[0]} {self.ref(t[1])})"
            case "tuple":
                return "(tuple " + " ".join(self.ref(u) for u in t[1]) + ")"
            case "result":
                ok = "" if t[1] is None else " " + self.ref(t[1])
                err = "" if t[2] is None else f" (error {self.ref(t[2])})"
                return f"(result{ok}{err})"
        return f"$t{self.order.index(t)}"

    def define(self, t: Ty) -> str:
        match t[0]:
            case "record":
                return "(record " + " ".join(f'(field "{n}" {self.ref(u)})' for n, u in t[1]) + ")"
            case "variant":
                cs = (
                    f'(case "{n}")' if u is None else f'(case "{n}" {self.ref(u)})' for n, u in t[1]
                )
                return "(variant " + " ".join(cs) + ")"
            case "enum":
                return "(enum " + " ".join(f'"e{i}"' for i in range(t[1])) + ")"
            case "flags":
                return "(flags " + " ".join(f'"g{i}"' for i in range(t[1])) + ")"
        raise AssertionError(t)

    def component_defs(self) -> str:
        """In a component body: define and export each (signatures use the exported index)."""
        return "\n".join(
            f'    (type $t{i}d {self.define(t)}) (export $t{i} "t{i}" (type $t{i}d))'
            for i, t in enumerate(self.order)
        )

    def instance_defs(self) -> str:
        return "\n".join(
            f'      (type $t{i}d {self.define(t)}) (export "t{i}" (type $t{i} (eq $t{i}d)))'
            for i, t in enumerate(self.order)
        )


_ST = {1: "i32.store8", 2: "i32.store16", 4: "i32.store"}
_PRIM_ST = {"u64": "i64.store", "s64": "i64.store", "f32": "f32.store", "f64": "f64.store"}


def _coerce(expr: str, have: str, want: str) -> str:
    """A joined flat value back to a case's own flat type (spec `lift_flat_variant`)."""
    if have == want:
        return expr
    if have == "i64" and want == "i32":
        return f"(i32.wrap_i64 {expr})"
    if have == "i32" and want == "f32":
        return f"(f32.reinterpret_i32 {expr})"
    if have == "i64" and want == "f32":
        return f"(f32.reinterpret_i32 (i32.wrap_i64 {expr}))"
    if have == "i64" and want == "f64":
        return f"(f64.reinterpret_i64 {expr})"
    raise AssertionError((have, want))


class FlatStore:
    """WAT storing a type's flat values at ``$p + off`` in the canonical memory layout (what a
    callee returning through memory must do); variant discriminants go through locals."""

    def __init__(self) -> None:
        self.locals: list[str] = []

    def store(self, t: Ty, off: int, vals: list[tuple[str, str]]) -> str:
        """Consumes `t`'s flat values (expr, core type) from the front of `vals`."""
        p = "(local.get $p)"
        match t[0]:
            case "prim" | "list" if t[0] == "list" or t[1] == "string":
                (a, _), (b, _) = vals.pop(0), vals.pop(0)
                return f"(i32.store offset={off} {p} {a})(i32.store offset={off + 4} {p} {b})"
            case "prim":
                op = _PRIM_ST.get(t[1]) or _ST[PRIM_LAYOUT[t[1]]]
                return f"({op} offset={off} {p} {vals.pop(0)[0]})"
            case "flags":
                n = flags_size(t[1])
                if n <= 2:
                    return f"({_ST[n]} offset={off} {p} {vals.pop(0)[0]})"
                return "".join(
                    f"(i32.store offset={off + 4 * k} {p} {vals.pop(0)[0]})" for k in range(n // 4)
                )
            case "record" | "tuple":
                out, o = [], off
                for u in fields_of(t):
                    o = align_to(o, alignment(u))
                    out.append(self.store(u, o, vals))
                    o += size(u)
                return "".join(out)
        cs = cases_of(t)
        disc = vals.pop(0)[0]
        joined = flatten(t)[1:]
        mine, vals[:] = vals[: len(joined)], vals[len(joined) :]
        d = f"$d{len(self.locals)}"
        self.locals.append(d)
        po = off + payload_offset(t)
        n = len(cs)
        # block $c0 innermost; arm k follows block $ck and branches out to the outermost block
        code = f"(br_table {' '.join(map(str, range(n)))} {n - 1} (local.get {d}))"
        for k, (_, u) in enumerate(cs):
            arm = ""
            if u is not None:
                arm = self.store(
                    u, po, [(_coerce(e, h, w), w) for (e, h), w in zip(mine, flatten(u))]
                )
            code = f"(block {code}) {arm}" + (f" (br {n - 1 - k})" if k < n - 1 else "")
        return (
            f"(local.set {d} {disc})({_ST[disc_size(n)]} offset={off} {p} (local.get {d}))"
            f"(block {code})"
        )


REALLOC = """
    (global $bump (mut i32) (i32.const 1024))
    (global $last (mut i32) (i32.const 0))
    (global $last_size (mut i32) (i32.const 0))
    (func $realloc (export "cabi_realloc")
          (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32) (result i32)
      (local $p i32) (local $end i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get $align))))
      (local.set $end (i32.add (local.get $p) (local.get $new_size)))
      (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
        (then (if (i32.lt_s (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end)
                    (i32.shl (memory.size) (i32.const 16))) (i32.const 16)) (i32.const 1)))
                  (i32.const 0)) (then unreachable))))
      (global.set $bump (local.get $end))
      (if (local.get $old)
        (then (memory.copy (local.get $p) (local.get $old)
                (select (local.get $old_size) (local.get $new_size)
                        (i32.lt_u (local.get $old_size) (local.get $new_size))))))
      (global.set $last (local.get $p))
      (global.set $last_size (local.get $new_size))
      (local.get $p))"""


@dataclass(frozen=True)
class Hostile:
    """What the callee does wrong before returning (applied to its result)."""

    kind: str  # "ret" (result pointer := value) | "mem" (byte at result+off) | "data" (byte at
    #            the adapter's last allocation+off) | "flat" (single flat result := value)
    off: int = 0
    value: int = 0


def callee_core(t: Ty, hostile: Hostile | None) -> str:
    flat = flatten(t)
    n = len(flat)
    params = flat if n <= 16 else ["i32"]
    result = flat[0] if n == 1 else "i32"
    ps = " ".join(f"(param $a{i} {ty})" for i, ty in enumerate(params))
    body: list[str] = []
    disc_locals: list[str] = []
    if n == 1:
        ret = "(local.get $a0)"
    elif n > 16:
        body.append("(local.set $p (local.get $a0))")
        ret = "(local.get $p)"
    else:
        body.append(
            f"(local.set $p (call $realloc (i32.const 0) (i32.const 0) (i32.const {alignment(t)}) (i32.const {size(t)})))"
        )
        fs = FlatStore()
        body.append(fs.store(t, 0, [(f"(local.get $a{i})", ty) for i, ty in enumerate(flat)]))
        disc_locals = fs.locals
        ret = "(local.get $p)"
    if hostile is not None:
        h = hostile
        match h.kind:
            case "ret" if n > 1:
                ret = (
                    f"(i32.const {h.value & 0xFFFFFFFF})"
                    if h.off == 0
                    else f"(i32.add {ret} (i32.const {h.off}))"
                )
            case "mem" if n > 1:
                body.append(
                    f"(i32.store8 (i32.add (local.get $p) (i32.const {h.off % size(t)})) (i32.const {h.value & 0xFF}))"
                )
            case "data":
                body.insert(
                    0,
                    f"""(if (i32.gt_u (global.get $last_size) (i32.const {h.off}))
                  (then (i32.store8 (i32.add (global.get $last) (i32.const {h.off})) (i32.const {h.value & 0xFF}))))""",
                )
            case "flat" if n == 1 and flat[0] in ("i32", "i64"):
                ret = f"({flat[0]}.const {h.value})"
    code = "\n      ".join(body)
    locs = " ".join(f"(local {d} i32)" for d in disc_locals)
    return f"""(core module $m
    (memory (export "memory") 1)
    {REALLOC}
    (func (export "echo") {ps} (result {result}) (local $p i32) {locs}
      {code}
      {ret}))"""


def composition(
    t: Ty, caller_enc: str, callee_enc: str, hostile: Hostile | None = None, sink: bool = False
) -> str:
    """The whole composition; `sink`: `run` returns 7 and drops echo's result, so a trap can
    only come from the adapter (not from the host lifting `run`'s result)."""
    names = Names(t)
    ty = names.ref(t)
    flat = flatten(t)
    n = len(flat)
    params = flat if n <= 16 else ["i32"]
    lift_res = "i32" if sink else flat[0] if n == 1 else "i32"
    lower_ps = params + (["i32"] if n > 1 else [])
    lower_res = f"(result {flat[0]})" if n == 1 else ""
    args = " ".join(f"(local.get {i})" for i in range(len(params)))
    if n == 1:
        run_body = f"(drop (call $echo {args})) (i32.const 7)" if sink else f"(call $echo {args})"
    else:
        run_body = f"""(local.set $r (call $realloc (i32.const 0) (i32.const 0) (i32.const {alignment(t)}) (i32.const {size(t)})))
        (call $echo {args} (local.get $r)) {"(i32.const 7)" if sink else "(local.get $r)"}"""
    sig = f'(param "x" {ty}) (result {ty})'
    run_sig = f'(param "x" {ty}) (result {"u32" if sink else ty})'
    return f"""(component
  (component $callee
{names.component_defs()}
    {callee_core(t, hostile)}
    (core instance $i (instantiate $m))
    (alias core export $i "memory" (core memory $mem))
    (alias core export $i "cabi_realloc" (core func $realloc))
    (func (export "echo") {sig}
      (canon lift (core func $i "echo") (memory (core memory $mem)) (realloc (core func $realloc))
        string-encoding={callee_enc})))
  (component $caller
    (import "api" (instance $api
{names.instance_defs()}
      (export "echo" (func {sig}))))
{names.component_defs()}
    (core module $libc
      (memory (export "memory") 1)
      {REALLOC})
    (core instance $libc-i (instantiate $libc))
    (alias core export $libc-i "memory" (core memory $mem))
    (alias core export $libc-i "cabi_realloc" (core func $realloc))
    (core func $echo (canon lower (func $api "echo") (memory (core memory $mem))
      (realloc (core func $realloc)) string-encoding={caller_enc}))
    (core module $m
      (import "libc" "cabi_realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))
      (import "env" "echo" (func $echo (param {" ".join(lower_ps)}) {lower_res}))
      (func (export "run") (param {" ".join(params)}) (result {lift_res}) (local $r i32)
        {run_body}))
    (core instance $i (instantiate $m (with "libc" (instance $libc-i))
      (with "env" (instance (export "echo" (func $echo))))))
    (func (export "run") {run_sig}
      (canon lift (core func $i "run") (memory (core memory $mem)) (realloc (core func $realloc))
        string-encoding={caller_enc})))
{names.component_defs()}
  (instance $callee-i (instantiate $callee))
  (instance $caller-i (instantiate $caller (with "api" (instance $callee-i))))
  (alias export $caller-i "run" (func $run))
  (export "run" (func $run) (func {run_sig})))
"""


# -- values ----------------------------------------------------------------------------------

CHARS = (
    st.sampled_from("aZ~\x00\x7f")
    | st.characters(min_codepoint=0x80, max_codepoint=0xFF)
    | st.characters(min_codepoint=0x100, max_codepoint=0x10FFFF, blacklist_categories=("Cs",))
)


def values(t: Ty) -> st.SearchStrategy[Any]:
    """Values in a tagged form: records dicts, variant-likes (case, payload), flags sets."""
    match t:
        case ("prim", "bool"):
            return st.booleans()
        case ("prim", "f32"):
            return st.floats(width=32)
        case ("prim", "f64"):
            return st.floats()
        case ("prim", "char"):
            return CHARS
        case ("prim", "string"):
            return st.text(CHARS, max_size=12)
        case ("prim", p):
            return st.integers(*INTS[p])
        case ("list", u):
            return st.lists(values(u), max_size=4)
        case ("record", fs):
            return st.fixed_dictionaries({n: values(u) for n, u in fs})
        case ("tuple", us):
            return st.tuples(*(values(u) for u in us))
        case ("flags", n):
            return st.sets(st.integers(0, n - 1))
    cs = cases_of(t)
    return st.integers(0, len(cs) - 1).flatmap(
        lambda k: st.just((k, None)) if cs[k][1] is None else values(cs[k][1]).map(lambda v: (k, v))
    )


def to_py(vt: Any, t: Ty, v: Any) -> Any:
    """Tagged value -> what wasmtime-py takes for the wasmtime type `vt` (tagged or not)."""
    match t[0]:
        case "prim":
            return v
        case "list":
            if isinstance(vt, ListType) and vt.element.__class__.__name__ == "U8":
                return bytes(v)
            return [to_py(vt.element, t[1], x) for x in v]
        case "record":
            r = Record()
            for (name, fvt), (_, u) in zip(vt.fields, t[1]):
                setattr(r, name, to_py(fvt, u, v[name]))
            return r
        case "tuple":
            return tuple(to_py(e, u, x) for e, u, x in zip(vt.elements, t[1], v))
        case "flags":
            return {f"g{i}" for i in v}
        case "enum":
            return f"e{v[0]}"
    k, payload = v
    name, u = cases_of(t)[k]
    if isinstance(vt, OptionType):
        case_vts = [None, vt.payload]
    elif isinstance(vt, ResultType):
        case_vts = [vt.ok, vt.err]
    else:
        assert isinstance(vt, VariantType)
        case_vts = [c for _, c in vt.cases]
    p = None if u is None else to_py(case_vts[k], u, payload)
    if vt._tagged():
        return Variant(name, p)
    # untagged: wasmtime-py picks the first case whose classes match `isinstance`, and bool is
    # an int, so e.g. err(false) of result<u8, bool> would go in as ok(0): not expressible
    for j, cvt in enumerate(case_vts):
        classes: set[type] = set()
        if cvt is not None:
            cvt.add_classes(classes)
        if (p is None and cvt is None) or (cvt is not None and isinstance(p, tuple(classes))):
            reject() if j != k else None
            break
    return p


def norm(x: Any) -> Any:
    """Structural, comparable form of a wasmtime-py value (NaNs equal, -0.0 != 0.0)."""
    if isinstance(x, Record):
        return ("R", tuple(sorted((k, norm(v)) for k, v in vars(x).items())))
    if isinstance(x, Variant):
        return ("V", x.tag, norm(x.payload))
    if isinstance(x, float):
        return ("F", "nan" if math.isnan(x) else struct.pack("<d", x))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, tuple(norm(v) for v in x))
    if isinstance(x, set):
        return ("S", tuple(sorted(x)))
    return (type(x).__name__, x)


# -- running ---------------------------------------------------------------------------------


def wasm_of(wat: str) -> bytes:
    return wasmtime.wat2wasm(wat)


def outcome(data: bytes, t: Ty, v: Any) -> tuple[str, Any]:
    """("ok", normalised result) or ("trap", message); a fresh store per call (traps poison)."""
    store = wasmtime.Store(ENGINE)
    inst = Linker(ENGINE).instantiate(store, Component(ENGINE, data))
    run = inst.get_func(store, "run")
    assert run is not None
    arg = to_py(run.type(store).params[0][1], t, v)
    try:
        return "ok", norm(run(store, arg))
    except wasmtime.WasmtimeError as e:
        return "trap", str(e).strip().splitlines()[-1]


def check(
    t: Ty, v: Any, enc_a: str, enc_b: str, hostile: Hostile | None = None, sink: bool = False
) -> str:
    """Original vs fused; returns "ok" or "trap" (identical by then)."""
    wat = composition(t, enc_a, enc_b, hostile, sink)
    data = wasm_of(wat)
    fused = fuse_bytes(data, file="prop.wasm", options=FuseOptions(component=True)).output
    exp = outcome(data, t, v)
    got = outcome(fused, t, v)
    STATS["examples"] += 1
    nf = len(flatten(t))
    STATS["flat " + ("1" if nf == 1 else "2..16" if nf <= 16 else ">16 (spilled)")] += 1
    STATS[f"enc {enc_a}->{enc_b}"] += 1
    if exp[0] != got[0] or (exp[0] == "ok" and exp != got):
        raise AssertionError(
            f"divergence for T={t} v={v!r} {enc_a}->{enc_b} hostile={hostile}:\n"
            f"  original: {exp}\n  fused:    {got}\n--- WAT ---\n{wat}"
        )
    if hostile is None and not sink:
        store = wasmtime.Store(ENGINE)
        inst = Linker(ENGINE).instantiate(store, Component(ENGINE, data))
        run = inst.get_func(store, "run")
        assert run is not None
        want = norm(to_py(run.type(store).params[0][1], t, v))
        assert exp == ("ok", want), f"echo changed the value: {exp} != {want}\n{wat}"
    elif hostile is not None:
        STATS[f"hostile {hostile.kind} {exp[0]}"] += 1
        if exp[0] == "trap":
            STATS["hostile trapped identically"] += 1
    return exp[0]


# -- tests -----------------------------------------------------------------------------------

ENC = st.sampled_from(ENCS)


@seed(31)
@settings(max_examples=_n(200), **SETTINGS)
@given(st.data())
def test_echo_roundtrip(data: st.DataObject) -> None:
    """Any type, any value, any encoding pair: same value back from original and fused."""
    t = data.draw(types(), label="T")
    v = data.draw(values(t), label="value")
    check(t, v, data.draw(ENC, label="caller enc"), data.draw(ENC, label="callee enc"))


@pytest.mark.parametrize("enc_b", ENCS)
@pytest.mark.parametrize("enc_a", ENCS)
@seed(32)
@settings(max_examples=_n(6), **SETTINGS)
@given(data=st.data())
def test_strings_every_encoding_pair(enc_a: str, enc_b: str, data: st.DataObject) -> None:
    """Each of the 3x3 pairs with string-bearing types (plain, nested, list<string>)."""
    s = ("prim", "string")
    t = data.draw(
        st.sampled_from(
            [s, ("list", s), ("record", (("f0", s), ("f1", ("list", ("list", s))))), ("option", s)]
        )
        | types().map(lambda u: ("tuple", (s, u))),
        label="T",
    )
    check(t, data.draw(values(t), label="value"), enc_a, enc_b)


SINGLE = (
    st.sampled_from([p for p in PRIMS if p != "string"]).map(lambda p: ("prim", p))
    | st.integers(1, 32).map(lambda n: ("flags", n))
    | st.integers(1, 300).map(lambda n: ("enum", n))
)
SPILLED = (
    st.lists(types(4), min_size=9, max_size=14)
    .map(lambda ts: ("record", tuple((f"f{i}", t) for i, t in enumerate(ts))))
    .filter(lambda t: len(flatten(t)) > 16)
)


@seed(34)
@settings(max_examples=_n(40), **SETTINGS)
@given(st.data())
def test_single_flat_and_spilled(data: st.DataObject) -> None:
    """The two shapes random types rarely hit: one flat value (returned directly) and more than
    16 flat params (passed as a pointer to a tuple in memory, echoed back as the pointer)."""
    t = data.draw(SINGLE | SPILLED, label="T")
    v = data.draw(values(t), label="value")
    check(t, v, data.draw(ENC, label="caller enc"), data.draw(ENC, label="callee enc"))


WORD = st.integers(0, 2**32 - 1) | st.sampled_from(
    [0, 1, 2, 3, 0xFF, 0x100, 0xD800, 0xDFFF, 0x10FFFF, 0x110000, 0x7FFFFFFF, 0xFFFFFFFF]
)


@seed(33)
@settings(max_examples=_n(120), **SETTINGS)
@given(st.data())
def test_hostile_callee(data: st.DataObject) -> None:
    """A callee corrupting its result (pointer, bytes, string data, flat value) behaves the same
    (trap or value) in original and fused."""
    t = data.draw(types() | SINGLE | SPILLED, label="T")
    v = data.draw(values(t), label="value")
    kind = data.draw(st.sampled_from(["ret", "mem", "data", "flat"]), label="kind")
    h = Hostile(kind, data.draw(st.integers(0, 64), label="off"), data.draw(WORD, label="value"))
    if kind == "ret":
        h = Hostile("ret", data.draw(st.sampled_from([0, 1, 2, 4])), h.value)
    check(t, v, data.draw(ENC), data.draw(ENC), h, sink=data.draw(st.booleans(), label="sink"))


S = ("prim", "string")
REC = ("record", (("f0", ("prim", "u8")), ("f1", ("prim", "u64")), ("f2", S)))
HOSTILE_CASES = [
    # (name, T, value, caller enc, callee enc, hostile)
    (
        "bad pointer",
        REC,
        {"f0": 1, "f1": 2, "f2": "x"},
        "utf8",
        "utf8",
        Hostile("ret", 0, 0xFFFFFFF0),
    ),
    (
        "pointer past end",
        REC,
        {"f0": 1, "f1": 2, "f2": "x"},
        "utf8",
        "utf8",
        Hostile("ret", 0, 65536 - 8),
    ),
    ("misaligned pointer", REC, {"f0": 1, "f1": 2, "f2": "x"}, "utf8", "utf8", Hostile("ret", 4)),
    ("misaligned pointer +1", ("list", ("prim", "u32")), [1, 2], "utf8", "utf8", Hostile("ret", 1)),
    ("string ptr out of bounds", S, "hello", "utf8", "utf8", Hostile("mem", 3, 0xFF)),
    ("string len out of bounds", S, "hello", "utf8", "utf16", Hostile("mem", 7, 0x7F)),
    (
        "list len out of bounds",
        ("list", ("prim", "u64")),
        [1, 2],
        "utf8",
        "utf8",
        Hostile("mem", 6, 0x10),
    ),
    ("bad utf-8 (utf8->utf8)", S, "héllo", "utf8", "utf8", Hostile("data", 1, 0xFF)),
    ("bad utf-8 (utf8->utf16)", S, "héllo", "utf16", "utf8", Hostile("data", 1, 0xC0)),
    (
        "bad utf-8 (utf8->latin1+utf16)",
        S,
        "héllo",
        "latin1+utf16",
        "utf8",
        Hostile("data", 2, 0x28),
    ),
    ("unpaired surrogate (utf16->utf16)", S, "hello", "utf16", "utf16", Hostile("data", 1, 0xD8)),
    ("unpaired surrogate (utf16->utf8)", S, "hello", "utf8", "utf16", Hostile("data", 3, 0xDC)),
    (
        "unpaired surrogate (latin1+utf16->utf8)",
        S,
        "h€llo",
        "utf8",
        "latin1+utf16",
        Hostile("data", 1, 0xD8),
    ),
    ("char surrogate", ("prim", "char"), "a", "utf8", "utf8", Hostile("flat", 0, 0xD800)),
    ("char > U+10FFFF", ("prim", "char"), "a", "utf8", "utf8", Hostile("flat", 0, 0x110000)),
    ("enum out of range", ("enum", 3), (1, None), "utf8", "utf8", Hostile("flat", 0, 3)),
    ("option discriminant", ("option", S), (1, "x"), "utf8", "utf8", Hostile("mem", 0, 2)),
    (
        "result discriminant",
        ("result", ("prim", "u64"), None),
        (0, 5),
        "utf8",
        "utf8",
        Hostile("mem", 0, 7),
    ),
    (
        "variant discriminant",
        ("variant", (("c0", ("prim", "u32")), ("c1", None))),
        (0, 5),
        "utf8",
        "utf8",
        Hostile("mem", 0, 2),
    ),
    (
        "nested list<string> bad utf-8",
        ("list", S),
        ["ab", "cd"],
        "utf8",
        "utf8",
        Hostile("data", 0, 0xFE),
    ),
    (
        "char in memory surrogate",
        ("tuple", (("prim", "char"), ("prim", "u8"))),
        ("a", 1),
        "utf8",
        "utf8",
        Hostile("mem", 1, 0xD8),
    ),
]


@pytest.mark.parametrize(
    ("t", "v", "enc_a", "enc_b", "h"),
    [c[1:] for c in HOSTILE_CASES],
    ids=[c[0] for c in HOSTILE_CASES],
)
def test_hostile_traps(t: Ty, v: Any, enc_a: str, enc_b: str, h: Hostile) -> None:
    """Each of these is invalid under the spec: both the original and the fused output trap."""
    assert check(t, v, enc_a, enc_b, h, sink=True) == "trap"


# not traps under the spec: lifting a bool is `i != 0`, unknown flag bits are ignored
LENIENT_CASES = [
    ("bool 2", ("prim", "bool"), False, Hostile("flat", 0, 2)),
    ("bool 0x80000000", ("prim", "bool"), False, Hostile("flat", 0, 0x80000000)),
    ("flags unknown bits", ("flags", 3), {1}, Hostile("flat", 0, 0xFF)),
    (
        "flags unknown bits (memory)",
        ("tuple", (("flags", 12), ("prim", "u8"))),
        ({1}, 2),
        Hostile("mem", 1, 0xF0),
    ),
]


@pytest.mark.parametrize(
    ("t", "v", "h"), [c[1:] for c in LENIENT_CASES], ids=[c[0] for c in LENIENT_CASES]
)
def test_hostile_lenient(t: Ty, v: Any, h: Hostile) -> None:
    """Out-of-range bits the spec tolerates: neither traps and both give the same value."""
    assert check(t, v, "utf8", "utf8", h) == "ok"


def teardown_module() -> None:
    if os.environ.get("PYMELD_PROP_STATS"):
        print("\nproperty composition stats:", dict(sorted(STATS.items())))
