"""`merge.inline_adapters.inline_adapters` on hand-made modules: which call sites it takes,
which adapter bodies it drops, and where it leaves the call (the limit on locals, tail calls,
an immediate the body rewrite did not re-encode, the duplication budget), with the output
checked by wasmtime against the input."""

from __future__ import annotations

import pytest
import wasmtime

from pymeld.codec.core.encode import encode_module
from pymeld.codec.core.instructions import scan_uses
from pymeld.codec.core.model import Local, Module, NumType
from pymeld.codec.core.parse import parse_module
from pymeld.merge.inline_adapters import (
    DROPPED,
    DUP_BYTES,
    MAX_LOCALS,
    CallerInstance,
    inline_adapters,
)

# func 0: the "adapter"; funcs 1-2: callers (an input instance); func 3: "generated" code.
WAT = """(module
  (memory 1)
  (func $a (param i32) (result i32) (local $t i32) (local $u i64)
    (local.set $t (i32.add (local.get $t) (local.get 0)))
    (if (i32.gt_u (local.get 0) (i32.const 100)) (then (return (i32.const -1))))
    (i32.store (i32.const 8) (local.get $t))
    (i32.mul (local.get $t) (i32.const 3)))
  (func (export "one") (param i32) (result i32)
    (i32.add (call $a (local.get 0)) (call $a (i32.const 7))))
  (func (export "two") (param i32) (result i32) (CALL2 $a (local.get 0)))
  (func (export "gen") (result i32) (i32.const 0))
  (export "mem" (memory 0)))"""


def _module(call2: str = "call") -> Module:
    return parse_module(wasmtime.wat2wasm(WAT.replace("CALL2", call2)))


def _caller(adapters: dict[int, int] | None = None) -> list[CallerInstance]:
    return [CallerInstance(1, 2, {7: 0} if adapters is None else adapters)]


def _results(m: Module) -> list[object]:
    config = wasmtime.Config()
    config.wasm_tail_call = True
    store = wasmtime.Store(wasmtime.Engine(config))
    ex = wasmtime.Instance(store, wasmtime.Module(store.engine, encode_module(m)), []).exports(
        store
    )
    out: list[object] = []
    for name in ("one", "two"):
        for x in (0, 5, 101, 300):
            out.append(ex[name](store, x))  # type: ignore[operator]
    out.append(bytes(ex["mem"].read(store, 0, 16)))  # type: ignore[union-attr]
    return out


def _calls_of_a(m: Module) -> int:
    return sum(0 in scan_uses(c.body).funcs for c in m.codes[1:])


def test_every_call_inlined_and_the_body_dropped() -> None:
    m = _module()
    want = _results(m)
    stats = inline_adapters(m, [0], _caller(), 3)
    assert stats == {"adapters_inlined": 1, "adapter_calls_inlined": 3, "adapter_bodies_dropped": 1}
    assert m.codes[0].body == DROPPED and _calls_of_a(m) == 0
    assert _results(m) == want


def test_a_tail_call_keeps_the_body() -> None:
    m = _module("return_call")
    want = _results(m)
    stats = inline_adapters(m, [0], _caller(), 3)
    assert stats["adapter_calls_inlined"] == 2 and stats["adapter_bodies_dropped"] == 0
    assert m.codes[0].body != DROPPED and _results(m) == want


def test_a_call_from_generated_code_keeps_the_body() -> None:
    m = _module()
    gen = parse_module(wasmtime.wat2wasm(WAT.replace("CALL2", "call"))).codes[1]
    m.codes[3] = gen  # "gen" now calls the adapter too (twice; the search must see it)
    stats = inline_adapters(m, [0], _caller(), 3)
    assert stats["adapter_calls_inlined"] == 3 and stats["adapter_bodies_dropped"] == 0


def test_an_import_at_the_adapters_own_index_keeps_the_body() -> None:
    """The body rewrite kept such an immediate as the input had it (maybe padded)."""
    m = _module()
    stats = inline_adapters(m, [0], _caller({0: 0}), 3)
    assert stats["adapter_calls_inlined"] == 3 and stats["adapter_bodies_dropped"] == 0


def test_an_exported_adapter_keeps_its_body() -> None:
    m = _module()
    m.exports[0].index = 0  # "one" now names the adapter
    stats = inline_adapters(m, [0], _caller(), 3)
    assert stats["adapter_bodies_dropped"] == 0 and m.codes[0].body != DROPPED


@pytest.mark.parametrize("extra", [0, 1])
def test_wasmtime_locals_limit(extra: int) -> None:
    """ "one" gets the adapter's 3 locals (its parameter, $t, $u) beside its own."""
    m = _module()
    m.codes[1].locals = [Local(MAX_LOCALS - 1 - 3 + extra, NumType.I32)]
    m.codes[1].locals_raw = None
    want = _results(m) if not extra else None
    stats = inline_adapters(m, [0], _caller(), 3)
    if extra:  # one local too many: "one" keeps its calls, so the adapter keeps its body
        assert stats["adapter_calls_inlined"] == 1 and stats["adapter_bodies_dropped"] == 0
        assert 0 in scan_uses(m.codes[1].body).funcs
    else:
        assert stats["adapter_calls_inlined"] == 3 and _results(m) == want
        assert sum(loc.count for loc in m.codes[1].locals) + 1 == MAX_LOCALS


def test_duplication_budget() -> None:
    """Copies beyond the one that replaces a dropped body may add at most DUP_BYTES."""
    m = _module()
    size = len(m.codes[0].body)
    sites = DUP_BYTES // size + 2  # one more copy than the budget allows
    body = m.codes[2].body
    call = bytes.fromhex("2000 1000 1a")  # local.get 0; call 0; drop
    m.codes[2].body = call * (sites - 3) + body  # with "one"'s two calls and "two"'s one
    stats = inline_adapters(m, [0], _caller(), 3)
    assert stats["adapters_inlined"] == 0 and m.codes[0].body != DROPPED
    m = _module()
    m.codes[2].body = call * (sites - 4) + body
    stats = inline_adapters(m, [0], _caller(), 3)
    assert stats["adapter_calls_inlined"] == sites - 1


def test_each_adapter_body_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checking that the adapter can be inlined and copying it into its two callers ("one"
    and "two", three sites) decode its body once (`codec.core.inline.InlinePlan`)."""
    from pymeld.codec.core import inline

    decoded: list[bytes] = []
    real = inline._local_sites

    def counted(body: bytes, count: int) -> object:
        decoded.append(body)
        return real(body, count)

    monkeypatch.setattr(inline, "_local_sites", counted)
    m = _module()
    adapter = m.codes[0].body
    want = _results(m)
    stats = inline_adapters(m, [0], _caller(), 3)
    assert stats["adapter_calls_inlined"] == 3 and _results(m) == want
    assert decoded == [adapter]
