"""Random stream programs across two instances: the fused component must behave exactly like
the original (merge.asyncfuse, issue 11 stage 1).

Per seed, a caller component D runs straight-line programs of random stream operations: new
streams on either side, readable ends moved to the callee C and back through synchronous
adapters, async reads, writes and cancels on both sides, drops. Handles come from slots that may
be stale, moved or busy, so programs also hit the runtime's traps. Each program folds every
handle number, copy result and byte read into one u64; original and ``fuse --component``
output run under wasmtime in a fresh store per program, and the value (or the fact of a trap)
must agree. CI: fixed seeds; ``PYMELD_SLOW=1`` runs many more.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import pytest
import wasmtime
from wasmtime.component import Component, Linker

from pymeld.fuse import FuseOptions, fuse_bytes

SLOW = os.environ.get("PYMELD_SLOW", "") not in ("", "0")
SEEDS = range(200) if SLOW else range(8)
PROGRAMS, LENGTH = 6, 18


def _engine() -> wasmtime.Engine:
    """Async cancel (`stream.cancel-read async`) needs wasmtime's more-async-builtins switch,
    which wasmtime-py exposes only through its C API."""
    from wasmtime import _ffi as ffi

    cfg = wasmtime.Config()
    cfg.wasm_multi_memory = True
    ffi.wasmtime_config_wasm_component_model_more_async_builtins_set(cfg.ptr(), True)
    return wasmtime.Engine(cfg)


ENGINE = _engine()


def c_component(makes: bool) -> str:
    """The callee: keeps and gives back readable ends; with ``makes``, it also creates streams
    (and writes to / drops their writable ends) inside the calls."""
    canon = (
        """(core func $new (canon stream.new $ST))
    (core func $write (canon stream.write $ST async (memory (core memory $mem "mem"))))
    (core func $dropw (canon stream.drop-writable $ST))"""
        if makes
        else ""
    )
    imports = (
        """(import "" "new" (func $new (result i64)))
      (import "" "write" (func $write (param i32 i32 i32) (result i32)))
      (import "" "dropw" (func $dropw (param i32)))"""
        if makes
        else ""
    )
    funcs = (
        """(func $w (param $j i32) (result i32)
        (i32.load (i32.add (i32.const 1024) (i32.shl (local.get $j) (i32.const 2)))))
      (func (export "make") (result i32) (local $p i64)
        (local.set $p (call $new))
        (i32.store (i32.add (i32.const 1024) (i32.shl (global.get $nw) (i32.const 2)))
          (i32.wrap_i64 (i64.shr_u (local.get $p) (i64.const 32))))
        (global.set $nw (i32.add (global.get $nw) (i32.const 1)))
        (i32.wrap_i64 (local.get $p)))
      (func (export "cwrite") (param $j i32) (result i32)
        (i32.store8 (i32.const 8) (i32.add (local.get $j) (i32.const 0x40)))
        (call $write (call $w (local.get $j)) (i32.const 8) (i32.const 1)))
      (func (export "cdropw") (param $j i32) (call $dropw (call $w (local.get $j))))"""
        if makes
        else ""
    )
    with_ = (
        """(export "new" (func $new))
      (export "write" (func $write)) (export "dropw" (func $dropw))"""
        if makes
        else ""
    )
    lifts = (
        """(func (export "make") (result (stream u8)) (canon lift (core func $cm "make")))
    (func (export "cwrite") (param "j" u32) (result u32) (canon lift (core func $cm "cwrite")))
    (func (export "cdropw") (param "j" u32) (canon lift (core func $cm "cdropw")))"""
        if makes
        else ""
    )
    return f"""(component $C
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (type $ST (stream u8))
    {canon}
    (core module $CM
      (import "" "mem" (memory 1))
      {imports}
      (global $nw (mut i32) (i32.const 0))
      (global $nr (mut i32) (i32.const 0))
      (func (export "keep") (param i32) (result i32)
        (i32.store (i32.add (i32.const 2048) (i32.shl (global.get $nr) (i32.const 2)))
          (local.get 0))
        (global.set $nr (i32.add (global.get $nr) (i32.const 1)))
        (local.get 0))
      (func (export "back") (result i32)
        (global.set $nr (i32.sub (global.get $nr) (i32.const 1)))
        (i32.load (i32.add (i32.const 2048) (i32.shl (global.get $nr) (i32.const 2)))))
      {funcs})
    (core instance $cm (instantiate $CM (with "" (instance
      (export "mem" (memory $mem "mem")) {with_}))))
    (func (export "keep") (param "s" (stream u8)) (result u32) (canon lift (core func $cm "keep")))
    (func (export "back") (result (stream u8)) (canon lift (core func $cm "back")))
    {lifts})"""


D_HEAD = """(component $D
    (import "c" (instance $c
      (export "make" (func (result (stream u8))))
      (export "keep" (func (param "s" (stream u8)) (result u32)))
      (export "back" (func (result (stream u8))))
      (export "cwrite" (func (param "j" u32) (result u32)))
      (export "cdropw" (func (param "j" u32)))
    ))
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (type $ST (stream u8))
    (core func $new (canon stream.new $ST))
    (core func $read (canon stream.read $ST async (memory (core memory $mem "mem"))))
    (core func $write (canon stream.write $ST async (memory (core memory $mem "mem"))))
    (core func $cread (canon stream.cancel-read $ST async))
    (core func $cwrite (canon stream.cancel-write $ST async))
    (core func $dropr (canon stream.drop-readable $ST))
    (core func $dropw (canon stream.drop-writable $ST))
    (core func $wsnew (canon waitable-set.new))
    (core func $join (canon waitable.join))
    (core func $poll (canon waitable-set.poll (memory (core memory $mem "mem"))))
    (core func $make (canon lower (func $c "make")))
    (core func $keep (canon lower (func $c "keep")))
    (core func $back (canon lower (func $c "back")))
    (core func $c.write (canon lower (func $c "cwrite")))
    (core func $c.dropw (canon lower (func $c "cdropw")))
    (core module $DM
      (import "" "mem" (memory 1))
      (import "" "new" (func $new (result i64)))
      (import "" "read" (func $read (param i32 i32 i32) (result i32)))
      (import "" "write" (func $write (param i32 i32 i32) (result i32)))
      (import "" "cancel-r" (func $cread (param i32) (result i32)))
      (import "" "cancel-w" (func $cwrite (param i32) (result i32)))
      (import "" "dropr" (func $dropr (param i32)))
      (import "" "dropw" (func $dropw (param i32)))
      (import "" "wsnew" (func $wsnew (result i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "poll" (func $poll (param i32 i32) (result i32)))
      (import "" "make" (func $make (result i32)))
      (import "" "keep" (func $keep (param i32) (result i32)))
      (import "" "back" (func $back (result i32)))
      (import "" "c.write" (func $c.write (param i32) (result i32)))
      (import "" "c.dropw" (func $c.dropw (param i32)))
"""

D_TAIL = """    )
    (core instance $dm (instantiate $DM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "new" (func $new))
      (export "read" (func $read)) (export "write" (func $write))
      (export "cancel-r" (func $cread)) (export "cancel-w" (func $cwrite))
      (export "dropr" (func $dropr)) (export "dropw" (func $dropw))
      (export "wsnew" (func $wsnew))
      (export "join" (func $join))
      (export "poll" (func $poll))
      (export "make" (func $make))
      (export "keep" (func $keep)) (export "back" (func $back))
      (export "c.write" (func $c.write))
      (export "c.dropw" (func $c.dropw))
    ))))
{lifts})"""

#: Lines of D that only one variant has (the callee making streams, or D polling events).
_MAKER_ONLY = ("make", "c.write", "c.dropw", '"cwrite"', '"cdropw"')
_EVENTS_ONLY = ("wsnew", "join", "poll")


def _only(text: str, makes: bool) -> str:
    drop = _EVENTS_ONLY if makes else _MAKER_ONLY
    return "\n".join(line for line in text.split("\n") if not any(w in line for w in drop))


MIX = (
    "(local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 1000003)) "
    "(i64.extend_i32_u (local.get $v))))"
)


def _slot(base: int, k: int) -> str:
    return f"(i32.const {base + 4 * k})"


@dataclass
class _Stream:
    """The generator's model of one stream (so most operations are valid ones)."""

    r: str | None = "D"  # where the readable end is: "D", "C" (kept), None (dropped)
    r_slot: int = 0
    w: str | None = "D"  # the writable end: "D", "C" (C's j-th), None
    w_slot: int = 0
    joined: bool = False
    r_busy: bool = False
    w_busy: bool = False
    r_done: bool = False
    w_done: bool = False


def program(rng: random.Random, makes: bool) -> str:
    """One D export body: random operations, every observable folded into $acc. A model keeps
    most operations valid; a last, unchecked operation (sometimes) probes a trap."""
    streams: list[_Stream] = []
    kept: list[_Stream] = []  # C's stack of readable ends
    r_slots = w_slots = made = 0
    out = (
        [] if makes else ["(local.set $ws (call $wsnew))", f"(local.set $v (local.get $ws)) {MIX}"]
    )

    def new_r(x: _Stream, value: str) -> None:
        nonlocal r_slots
        x.r, x.r_slot = "D", r_slots
        out.append(
            f"(local.set $v {value}) (i32.store {_slot(1024, r_slots)} (local.get $v)) {MIX}"
        )
        r_slots += 1

    def r(x: _Stream) -> str:
        return f"(i32.load {_slot(1024, x.r_slot)})"

    def w(x: _Stream) -> str:
        return f"(i32.load {_slot(2048, x.w_slot)})"

    def write(x: _Stream, code: str) -> None:
        out.append(f"(local.set $v {code}) {MIX}")
        if x.r is None:
            x.w_done = True
        elif not x.r_busy:
            x.w_busy = True

    def step(x: _Stream | None, op: str) -> None:
        nonlocal w_slots, made
        if op == "dn":
            x = _Stream()
            streams.append(x)
            out.append("(local.set $p (call $new))")
            new_r(x, "(i32.wrap_i64 (local.get $p))")
            x.w_slot = w_slots
            out.append(
                f"(local.set $v (i32.wrap_i64 (i64.shr_u (local.get $p) (i64.const 32)))) "
                f"(i32.store {_slot(2048, w_slots)} (local.get $v)) {MIX}"
            )
            w_slots += 1
            return
        if op == "cn":
            x = _Stream(w="C", w_slot=made)
            streams.append(x)
            new_r(x, "(call $make)")
            made += 1
            return
        if op == "back":
            new_r(kept.pop(), "(call $back)")
            return
        if op == "poll":  # an event names the end by D's number and ends its copy
            out.append(
                f"(local.set $v (call $poll (local.get $ws) (i32.const 32))) {MIX} "
                f"(local.set $v (i32.load (i32.const 32))) {MIX} "
                f"(local.set $v (i32.load (i32.const 36))) {MIX}"
            )
            for y in streams:
                if y.joined:
                    y.r_busy = y.w_busy = False  # maybe: a wrong guess only adds a trap
            return
        assert x is not None
        if op in ("join", "unjoin"):
            end = r(x) if x.r == "D" else w(x)
            out.append(
                f"(call $join {end} {'(local.get $ws)' if op == 'join' else '(i32.const 0)'})"
            )
            x.joined = op == "join"
        elif op == "give":
            out.append(f"(local.set $v (call $keep {r(x)})) {MIX}")
            x.r = "C"
            kept.append(x)
        elif op == "dr":
            out.append(f"(call $dropr {r(x)})")
            x.r = None
        elif op == "dw":
            out.append(f"(call $dropw {w(x)})")
            x.w = None
        elif op == "cdw":
            out.append(f"(call $c.dropw (i32.const {x.w_slot}))")
            x.w = None
        elif op == "rd":
            out.append(
                f"(local.set $v (call $read {r(x)} (i32.const 16) (i32.const 1))) {MIX} "
                f"(local.set $v (i32.load8_u (i32.const 16))) {MIX}"
            )
            if x.w is None:
                x.r_done = True
            elif not x.w_busy:
                x.r_busy = True
        elif op == "wr":
            out.append(f"(i32.store8 (i32.const 8) (i32.const {rng.randrange(256)}))")
            write(x, f"(call $write {w(x)} (i32.const 8) (i32.const 1))")
        elif op == "cw":
            write(x, f"(call $c.write (i32.const {x.w_slot}))")
        elif op == "crd":
            out.append(f"(local.set $v (call $cread {r(x)})) {MIX}")
            x.r_busy = False
        else:  # cwr
            out.append(f"(local.set $v (call $cwrite {w(x)})) {MIX}")
            x.w_busy = False

    def valid(op: str, x: _Stream) -> bool:
        idle_r = x.r == "D" and not x.r_busy
        match op:
            case "give":
                return idle_r and not x.r_done and not x.joined
            case "rd":
                return idle_r and not x.r_done
            case "join":
                return (x.r == "D" or x.w == "D") and not x.joined
            case "unjoin":
                return x.joined and (x.r == "D" or x.w == "D")
            case "dr":
                return idle_r
            case "crd":
                return x.r == "D" and x.r_busy
            case "dw" | "wr":
                return x.w == "D" and not x.w_busy and (op == "dw" or not x.w_done)
            case "cw" | "cdw":
                return x.w == "C" and not x.w_busy and (op == "cdw" or not x.w_done)
            case "cwr":
                return x.w == "D" and x.w_busy
        return False

    ops = ["dn", "cn", "back", "give", "give", "dr", "dw", "cdw", "rd", "rd", "wr", "wr", "cw"]
    ops += ["cw", "crd", "cwr", "join", "join", "unjoin", "poll", "poll"]
    ops = [
        o for o in ops if o not in (("join", "unjoin", "poll") if makes else ("cn", "cw", "cdw"))
    ]
    if not makes and rng.random() < 0.7:
        # A read completed while its end is joined, then polled: the event must name D's
        # handle, which differs from the runtime's once an end went to C and came back.
        step(None, "dn")
        step(streams[-1], "give")
        step(None, "dn")
        step(None, "back")
        x = streams[0]
        for op in ("rd", "join", "wr", "poll"):
            step(x, op)
    for _ in range(LENGTH):
        op = rng.choice(ops)
        if op in ("dn", "cn", "poll") or (op == "back" and kept):
            step(None, op)
            continue
        choices = [x for x in streams if valid(op, x)]
        if choices:
            step(rng.choice(choices), op)
    if streams and rng.random() < 0.5:  # probe: any operation on any stream
        op = rng.choice([o for o in ops if o not in ("dn", "cn", "back", "poll")])
        step(rng.choice(streams), op)  # stale, moved or busy handles trap alike
    return "\n        ".join(out)


def composition(seed: int) -> str:
    """Odd seeds: C creates streams in its calls; even seeds: D polls a waitable set (the two
    together are refused: see `merge.asyncfuse`)."""
    rng = random.Random(seed)
    makes = seed % 2 == 1
    funcs, lifts, exports = [], [], []
    for k in range(PROGRAMS):
        funcs.append(
            f'      (func (export "p{k}") (result i64) (local $acc i64) (local $p i64) '
            f"(local $v i32) (local $ws i32)\n        {program(rng, makes)}\n        (local.get $acc))"
        )
        lifts.append(f'    (func (export "p{k}") (result u64) (canon lift (core func $dm "p{k}")))')
        exports.append(f'  (export "p{k}" (func $d "p{k}"))')
    d = _only(D_HEAD, makes) + "\n".join(funcs) + "\n"
    d += _only(D_TAIL.format(lifts="\n".join(lifts)), makes)
    return (
        f"(component\n  {c_component(makes)}\n  {d}\n  (instance $c (instantiate $C))\n"
        f'  (instance $d (instantiate $D (with "c" (instance $c))))\n' + "\n".join(exports) + ")"
    )


def outcome(data: bytes, name: str) -> tuple[str, int | None]:
    store = wasmtime.Store(ENGINE)
    inst = Linker(ENGINE).instantiate(store, Component(ENGINE, data))
    f = inst.get_func(store, name)
    assert f is not None
    try:
        return "ok", f(store)
    except wasmtime.WasmtimeError:
        return "trap", None


@pytest.mark.parametrize("seed", SEEDS)
def test_random_stream_programs(seed: int) -> None:
    original = wasmtime.wat2wasm(composition(seed))
    fused = fuse_bytes(original, options=FuseOptions(component=True)).output
    for k in range(PROGRAMS):
        want, got = outcome(original, f"p{k}"), outcome(fused, f"p{k}")
        assert got == want, f"seed {seed} program p{k}: original {want}, fused {got}"
