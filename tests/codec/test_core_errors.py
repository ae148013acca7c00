"""Malformed input must always become a DecodeError with an offset, never another exception."""

from __future__ import annotations

import contextlib
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymeld.codec.core.emitter import Body, const_i32
from pymeld.codec.core.encode import encode_module
from pymeld.codec.core.instructions import (
    IndexMaps,
    rewrite_body,
    rewrite_const_expr,
    scan_body,
    scan_uses,
)
from pymeld.codec.core.model import (
    FUNCREF,
    Code,
    Data,
    Elem,
    Export,
    ExternKind,
    FuncType,
    Global,
    GlobalType,
    Limits,
    Local,
    MemoryType,
    Module,
    NumType,
    RecGroup,
    SegmentMode,
    SubType,
    Table,
    TableType,
)
from pymeld.codec.core.parse import parse_module
from pymeld.errors import DecodeError
from support import require_wasm_tools, wat_to_wasm

WAT = r"""
(module
  (type $t (func (param i32) (result i32)))
  (import "env" "f" (func $f (type $t)))
  (import "env" "m" (memory 1))
  (memory $m2 1 2)
  (table 2 funcref)
  (global $g (mut i32) (i32.const 7))
  (global i64 (i64.add (i64.const 1) (i64.const 2)))
  (tag $e (param i32))
  (elem (i32.const 0) func $f $h)
  (elem declare func $h)
  (data (i32.const 8) "hi")
  (data $d "passive")
  (func $h (type $t)
    (local i64 f32)
    local.get 0
    call $f
    i32.load offset=4
    i32.load $m2 offset=8
    memory.grow $m2
    drop
    (block (result i32)
      (try_table (result i32) (catch $e 0) (throw $e (i32.const 1))))
    drop
    (memory.copy $m2 0 (i32.const 0) (i32.const 0) (i32.const 0))
    (call_indirect (type $t) (i32.const 3) (i32.const 0))
    global.get $g
    i32.add
    memory.size 0
    i32.add)
  (func (export "v") (result v128)
    v128.const i32x4 1 2 3 4
    i32x4.extract_lane 3
    i32x4.splat)
  (func $s)
  (start $s)
  (export "h" (func $h)))
"""


@pytest.fixture(scope="module")
def small() -> bytes:
    wasm = wat_to_wasm(WAT)
    val = subprocess.run([require_wasm_tools(), "validate", "-"], input=wasm, capture_output=True)
    assert val.returncode == 0, val.stderr.decode()
    return wasm


def test_roundtrip_and_uses(small: bytes) -> None:
    m = parse_module(small)
    assert encode_module(m) == small
    assert len(m.codes) == 3 and m.num_funcs() == 4 and m.num_memories() == 2
    uses = scan_uses(m.codes[0].body)
    assert uses.memory_grow == {1} and uses.memory_size == {0}
    assert uses.funcs == {0} and uses.tags == {0} and uses.memories == {0, 1}


def test_memory_remap_adds_explicit_memidx(small: bytes) -> None:
    wasmtime = pytest.importorskip("wasmtime")
    m = parse_module(small)
    body = m.codes[0].body
    swapped = rewrite_body(body, IndexMaps(memory=[1, 0]))
    assert swapped != body
    assert scan_uses(swapped).memory_grow == {0}
    assert rewrite_body(swapped, IndexMaps(memory=[1, 0])) != body  # explicit memidx now
    m.codes[0].body = swapped
    wasmtime.Module.validate(wasmtime.Engine(), encode_module(m))


def test_truncation_at_every_byte(small: bytes) -> None:
    ok = 0
    for cut in range(len(small)):
        try:
            m = parse_module(small[:cut], file="t.wasm", base=100)
        except DecodeError as e:
            assert e.file == "t.wasm"
            assert e.offset is None or 100 <= e.offset <= 100 + cut
            assert e.offset is not None or e.section is not None
            continue
        # Cutting at a section boundary can leave a well-formed prefix.
        assert encode_module(m) == small[:cut]
        ok += 1
    assert ok < 15


def test_body_truncation_and_unknown_opcode(small: bytes) -> None:
    body = parse_module(small).codes[0].body
    for cut in range(len(body)):
        with pytest.raises(DecodeError):
            scan_body(body[:cut])
    with pytest.raises(DecodeError, match="unknown opcode 0xff"):
        scan_body(b"\x41\x00\xff\x0b", base=10)
    with pytest.raises(DecodeError, match="unknown opcode 0xfc 0x63") as ei:
        scan_body(b"\xfc\x63\x0b", base=10)
    assert ei.value.offset == 10
    with pytest.raises(DecodeError, match="after the final end"):
        scan_body(b"\x0b\x01")
    with pytest.raises(DecodeError, match="constant expression"):
        rewrite_const_expr(b"\x10\x00\x0b", IndexMaps())


def test_header_errors(small: bytes) -> None:
    with pytest.raises(DecodeError, match="component, not a core module"):
        parse_module(b"\0asm\x0d\x00\x01\x00")
    with pytest.raises(DecodeError, match="bad magic"):
        parse_module(b"\0wasm\x01\x00\x00")
    with pytest.raises(DecodeError, match="version"):
        parse_module(b"\0asm\x02\x00\x00\x00")
    with pytest.raises(DecodeError, match="unknown section id 14") as ei:
        parse_module(b"\0asm\x01\x00\x00\x00\x0e\x00")
    assert ei.value.offset == 8
    with pytest.raises(DecodeError, match="LEB128"):
        parse_module(b"\0asm\x01\x00\x00\x00\x01\x80\x80\x80\x80\x80\x00")
    with pytest.raises(DecodeError, match="out of order"):
        parse_module(b"\0asm\x01\x00\x00\x00\x03\x01\x00\x01\x01\x00")
    with pytest.raises(DecodeError, match="size mismatch"):
        parse_module(b"\0asm\x01\x00\x00\x00\x01\x02\x00\x00")
    with pytest.raises(DecodeError, match="function and code"):
        parse_module(b"\0asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x01\x00")


def test_padded_sizes_are_preserved() -> None:
    # type section with a 5-byte padded size; code body size padded too.
    mod = (
        b"\0asm\x01\x00\x00\x00"
        + b"\x01\x84\x80\x80\x80\x00\x01\x60\x00\x00"
        + b"\x03\x02\x01\x00"
        + b"\x0a\x88\x80\x80\x80\x00\x01\x82\x80\x80\x80\x00\x00\x0b"
    )
    m = parse_module(mod)
    assert m.size_widths == {1: 5, 10: 5} and m.codes[0].size_width == 5
    assert encode_module(m) == mod


def test_emitter_module_validates() -> None:
    """Every kind of instruction the emitter writes, in a module wasmtime accepts."""
    wasmtime = pytest.importorskip("wasmtime")
    b = Body(["i32"])
    tmp = b.local("i32")
    b.get(0).i32(4).op("i32.add").set(tmp)
    b.block().get(tmp).op("i32.eqz").br_if(0).i32(0).get(tmp).store("i32.store", 1).end()
    b.i32(0).i32(0).i32(1).memory_copy(1, 0)
    b.i32(0).i32(7).i32(1).memory_fill(1)
    b.i32(0).i32(0).i32(1).memory_init(0, 1).data_drop(0)
    b.i32(0).i32(0).i32(0).table_init(0, 0).elem_drop(0)
    b.i32(1).memory_grow(1).op("drop")
    b.global_get(0).i32(1).op("i32.add").global_set(0)
    b.get(0).op("i32.eqz").if_().trap_oob().end()
    b.get(tmp).i32(0).call_indirect(1).op("drop")
    b.get(tmp).load("i32.load", 1, 8).end()
    assert b.type_of(tmp) == "i32" and b.encode_locals() == b"\x01\x01\x7f"
    m = Module(
        types=[
            RecGroup([SubType(FuncType([NumType.I32], [NumType.I32]))]),
            RecGroup([SubType(FuncType([NumType.I32], [NumType.I32]))]),
        ],
        funcs=[0],
        tables=[Table(TableType(FUNCREF, Limits(1)))],
        memories=[MemoryType(Limits(1)), MemoryType(Limits(1, 2))],
        globals=[Global(GlobalType(NumType.I32, True), const_i32(0))],
        exports=[Export("run", ExternKind.FUNC, 0)],
        elems=[Elem(SegmentMode.PASSIVE, FUNCREF, [0])],
        datas=[Data(SegmentMode.PASSIVE, b"x")],
        data_count=1,
        codes=[Code([Local(1, NumType.I32)], bytes(b.code))],
    )
    out = encode_module(m)
    wasmtime.Module.validate(wasmtime.Engine(), out)
    assert encode_module(parse_module(out)) == out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64))
def test_random_bytes(data: bytes) -> None:
    for blob in (data, b"\0asm\x01\x00\x00\x00" + data):
        with contextlib.suppress(DecodeError):
            parse_module(blob)
    for f in (scan_body, lambda b: rewrite_body(b, IndexMaps(func=lambda i: i + 1))):
        with contextlib.suppress(DecodeError):
            f(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutations_of_valid_module(small: bytes, data: st.DataObject) -> None:
    buf = bytearray(small)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(buf) - 1))
        action = data.draw(st.sampled_from(["set", "del", "ins"]))
        if action == "set":
            buf[i] = data.draw(st.integers(0, 255))
        elif action == "del":
            del buf[i]
        else:
            buf.insert(i, data.draw(st.integers(0, 255)))
    try:
        m = parse_module(bytes(buf))
    except DecodeError:
        return
    encode_module(m)
    for c in m.codes:
        with contextlib.suppress(DecodeError):
            rewrite_body(c.body, IndexMaps(func=lambda i: i + 1, memory=lambda i: i))
