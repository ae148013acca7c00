"""Random stream programs with non-number payloads between in-module tasks: the fused
component must behave exactly like the original (merge.asyncpayload, issue 11 stage 4).

The shape is `test_async_streams_property`'s (the host-called D writes, the callback-lifted C
reads through async calls; writes of 0 to 6 items, partial copies, cancels, waits, drops),
with payloads `stream<string>`, `stream<list<u32>>`, `stream<record {n: u32, s: string}>` or
a `future<string>` beside a stream, and a random string encoding on each side. D's elements
are data segments in its encoding (random strings with latin1, BMP and astral code points;
sometimes one malformed, so the copy that meets it traps in both). C's `realloc` is a bump
allocator that folds every call's arguments into C's checksum, and C folds every element it
received (pointers, lengths, bytes): realloc patterns, transcoding and addresses are all
compared (original vs `fuse --component` under the wast oracle). CI: a few seeds;
``PYMELD_SLOW=1`` runs many more.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from test_async_streams_property import _mix, stream_epilogue, stream_op

from support import SLOW, assert_async_program_equivalent

SEEDS = range(80) if SLOW else range(6)
LENGTH = 14
ENCODINGS = ("utf8", "utf16", "latin1+utf16")
_STRIDE = 0x80  # C: per-stream read buffer


def _encode(s: str, enc: str) -> tuple[bytes, int]:
    """(bytes, canonical-ABI length) of ``s`` in ``enc``."""
    if enc == "utf8":
        data = s.encode("utf-8", "surrogatepass")
        return data, len(data)
    if enc == "latin1+utf16" and all(ord(c) < 256 for c in s):
        return s.encode("latin-1"), len(s)
    data = s.encode("utf-16-le", "surrogatepass")
    return data, len(data) // 2 | (1 << 31 if enc == "latin1+utf16" else 0)


def _random_string(rng: random.Random) -> str:
    pools = ["abcxyz", "é\xffü", "ĀЖ€✓", "\U0001f600\U00010348"]
    weights = rng.choice([[1, 0, 0, 0], [3, 1, 0, 0], [3, 1, 1, 1]])
    return "".join(rng.choice(rng.choices(pools, weights)[0]) for _ in range(rng.randint(0, 7)))


def _wat_bytes(data: bytes) -> str:
    return "".join(f"\\{x:02x}" for x in data)


class Payload:
    """One payload type: its WIT text, element size, D's data, C's fold of one element."""

    def __init__(self, rng: random.Random, kind: str, wenc: str) -> None:
        self.kind = kind
        self.size = {"string": 8, "list": 8, "record": 12}[kind]
        self.wit = {
            "string": "string",
            "list": "(list u32)",
            "record": "(tuple u32 string)",
        }[kind]
        self.segments: list[tuple[int, bytes]] = []
        elems = bytearray()
        heap = 0x400
        bad = rng.randrange(24) if rng.random() < 0.15 else None
        for k in range(24):
            if kind == "list":
                items = [rng.randrange(1 << 32) for _ in range(rng.randint(0, 4))]
                data = b"".join(x.to_bytes(4, "little") for x in items)
                ln = len(items)
            else:
                data, ln = _encode(_random_string(rng), wenc)
                if k == bad:
                    data, ln = {
                        "utf8": (b"a\xffb", 3),
                        "utf16": ("x\ud800".encode("utf-16-le", "surrogatepass"), 2),
                        "latin1+utf16": (
                            "\ud800x".encode("utf-16-le", "surrogatepass"),
                            2 | 1 << 31,
                        ),
                    }[wenc]
            heap = (heap + 3) & ~3
            self.segments.append((heap, data))
            ptr = heap
            heap += len(data)
            if kind == "record":
                elems += rng.randrange(1 << 32).to_bytes(4, "little")
            elems += ptr.to_bytes(4, "little") + ln.to_bytes(4, "little")
        strings = bytearray()  # the future's values
        for _ in range(8):
            data, ln = _encode(_random_string(rng), wenc)
            heap = (heap + 3) & ~3
            self.segments.append((heap, data))
            strings += heap.to_bytes(4, "little") + ln.to_bytes(4, "little")
            heap += len(data)
        assert heap < 0xC00
        self.segments.append((0x100, bytes(elems)))
        self.segments.append((0xC00, bytes(strings)))

    def data(self) -> str:
        return " ".join(
            f'(data (i32.const {addr:#x}) "{_wat_bytes(d)}")' for addr, d in self.segments if d
        )


def fold_funcs(kind: str, renc: str) -> str:
    """C's `$fold (buf, n)`: every element's pointer, length and content into $acc."""
    if kind == "list":
        unit, tagged = 4, False
    else:
        unit = {"utf8": 1, "utf16": 2, "latin1+utf16": 1}[renc]
        tagged = renc == "latin1+utf16"
    nbytes = "(i32.mul (local.get $len) (i32.const " + str(unit) + "))"
    if tagged:
        nbytes = (
            "(if (result i32) (i32.and (local.get $len) (i32.const 0x80000000))"
            " (then (i32.shl (i32.xor (local.get $len) (i32.const 0x80000000)) (i32.const 1)))"
            " (else (local.get $len)))"
        )
    off = 4 if kind == "record" else 0
    size = 12 if kind == "record" else 8
    head = _mix("(i32.load (local.get $e))") if kind == "record" else ""
    return f"""      (func $fold (param $buf i32) (param $n i32)
        (local $e i32) (local $ptr i32) (local $len i32) (local $k i32) (local $end i32)
        (block $done (loop $each
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $e (local.get $buf))
          {head}
          (local.set $ptr (i32.load offset={off} (local.get $e)))
          (local.set $len (i32.load offset={off + 4} (local.get $e)))
          {_mix("(i32.add (local.get $ptr) (i32.mul (local.get $len) (i32.const 7)))")}
          (local.set $end (i32.add (local.get $ptr) {nbytes}))
          (local.set $k (local.get $ptr))
          (block $b (loop $l
            (br_if $b (i32.ge_u (local.get $k) (local.get $end)))
            {_mix("(i32.load8_u (local.get $k))")}
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $l)))
          (local.set $buf (i32.add (local.get $buf) (i32.const {size})))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $each))))
"""


REALLOC = f"""      (func (export "realloc") (param $old i32) (param $osz i32) (param $al i32) (param $sz i32)
        (result i32) (local $p i32)
        {_mix("(i32.add (i32.add (local.get $old) (i32.mul (local.get $osz) (i32.const 3))) (i32.add (i32.mul (local.get $al) (i32.const 5)) (i32.mul (local.get $sz) (i32.const 11))))")}
        (if (i32.gt_u (global.get $bump) (i32.const 0x18000)) (then (global.set $bump (i32.const 0x8000))))
        (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $al) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $al))))
        (global.set $bump (i32.add (local.get $p) (local.get $sz)))
        (if (local.get $old) (then
          (memory.copy (local.get $p) (local.get $old)
            (select (local.get $osz) (local.get $sz) (i32.lt_u (local.get $osz) (local.get $sz))))))
        (local.get $p))
"""


SETTLE = """      ;; after a read of stream entry $e returned $r: WAIT when it blocked, read for real after a
      ;; zero-length read saw the writer ready, note a dropped writer; the callback code
      (func $settle (param $e i32) (param $buf i32) (param $r i32) (result i32)
        (if (i32.eqz (local.get $r)) (then
          (memory.fill (local.get $buf) (i32.const 0) (i32.const {stride}))
          (local.set $r (call $read (i32.load (local.get $e)) (local.get $buf) (i32.const 4)))
          {mix_r}))
        (if (i32.eq (local.get $r) (i32.const -1)) (then
          (i32.store offset=8 (local.get $e) (i32.const 1))
          (call $join (i32.load (local.get $e)) (i32.load offset=4 (local.get $e)))
          (return (i32.or (i32.const 2) (i32.shl (i32.load offset=4 (local.get $e)) (i32.const 4))))))
        (if (i32.eq (i32.and (local.get $r) (i32.const 0xf)) (i32.const 1))
          (then (i32.store offset=12 (local.get $e) (i32.const 1))))
        (i32.const 0))
      (func (export "pump") (param $i i32) (param $c i32) (result i32)
        (local $e i32) (local $r i32) (local $buf i32)
        (local.set $e (i32.add (i32.const 0x1000) (i32.shl (local.get $i) (i32.const 5))))
        (local.set $buf (i32.add (i32.const 0x2000) (i32.mul (local.get $i) (i32.const {stride}))))
        (if (i32.or (i32.load offset=8 (local.get $e)) (i32.load offset=12 (local.get $e)))
          (then (call $ret (i32.const 0xeeee)) (return (i32.const 0))))
        (memory.fill (local.get $buf) (i32.const 0) (i32.const {stride}))
        (local.set $r (call $read (i32.load (local.get $e)) (local.get $buf) (local.get $c)))
        {mix_r}
        (call $ret (local.get $r))
        (call $settle (local.get $e) (local.get $buf) (local.get $r)))
      (func (export "pump_cb") (param $ev i32) (param $h i32) (param $p i32) (result i32)
        (local $i i32) (local $e i32) (local $buf i32)
        (block $found (loop $next
          (local.set $e (i32.add (i32.const 0x1000) (i32.shl (local.get $i) (i32.const 5))))
          (br_if $found (i32.eq (i32.load (local.get $e)) (local.get $h)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $next (i32.lt_u (local.get $i) (global.get $n)))
          unreachable))
        (local.set $buf (i32.add (i32.const 0x2000) (i32.mul (local.get $i) (i32.const {stride}))))
        {mix_ev}
        (i32.store offset=8 (local.get $e) (i32.const 0))
        (call $join (local.get $h) (i32.const 0))
        (call $settle (local.get $e) (local.get $buf) (local.get $p)))
"""


def callee(p: Payload, renc: str, future: bool) -> str:
    """C: `attach` keeps a readable end (and a set for it); `pump i n` reads n items of stream
    i (a blocked read WAITs on the stream's set); `drop i` drops the end; `take` reads the
    future; `total` reports."""
    fold_r = "(call $fold (local.get $buf) (i32.shr_u (local.get $r) (i32.const 4)))"
    mix_r = (
        "(if (i32.ne (local.get $r) (i32.const -1)) (then " + fold_r + "))\n          "
    ) + _mix("(local.get $r)")
    mix_ev = (
        "(call $fold (local.get $buf) (i32.shr_u (local.get $p) (i32.const 4)))\n        "
        + _mix("(i32.add (i32.mul (local.get $ev) (i32.const 1000)) (local.get $p))")
    )
    settle = SETTLE.format(mix_r=mix_r, mix_ev=mix_ev, stride=_STRIDE)
    fut = ""
    fut_funcs = ""
    fut_exports = ""
    fut_lifts = ""
    if future:
        fut = f"""    (type $FT (future string))
    (core func $fread (canon future.read $FT async (memory (core memory $mem "mem"))
      (realloc (core func $cr "realloc")) string-encoding={renc}))
    (core func $fdrop (canon future.drop-readable $FT))"""
        fut_funcs = """      (import "" "fread" (func $fread (param i32 i32) (result i32)))
      (import "" "fdrop" (func $fdrop (param i32)))"""
        fut_exports = '(export "fread" (func $fread)) (export "fdrop" (func $fdrop))'
        fut_lifts = """    (func (export "take") async (param "f" (future string)) (result u32)
      (canon lift (core func $cm "take") async (callback (core func $cm "take_cb"))))"""
    take = ""
    if future:
        take = (
            fold_funcs("string", renc).replace("$fold", "$fold_s")
            + f"""      (global $fr (mut i32) (i32.const 0))
      (global $fs (mut i32) (i32.const 0))
      (func (export "take") (param $f i32) (result i32) (local $r i32)
        (global.set $fr (local.get $f))
        (i64.store (i32.const 0x3000) (i64.const 0))
        (local.set $r (call $fread (local.get $f) (i32.const 0x3000)))
        {_mix("(local.get $r)")}
        (if (i32.eq (local.get $r) (i32.const -1)) (then
          (global.set $fs (call $new))
          (call $join (local.get $f) (global.get $fs))
          (return (i32.or (i32.const 2) (i32.shl (global.get $fs) (i32.const 4))))))
        (call $fold_s (i32.const 0x3000) (i32.const 1))
        (call $fdrop (local.get $f))
        (call $ret (local.get $r))
        (i32.const 0))
      (func (export "take_cb") (param $ev i32) (param $h i32) (param $p i32) (result i32)
        {_mix("(i32.add (i32.mul (local.get $ev) (i32.const 1000)) (local.get $p))")}
        (call $join (local.get $h) (i32.const 0))
        (call $fold_s (i32.const 0x3000) (i32.const 1))
        (call $fdrop (local.get $h))
        (call $ret (local.get $p))
        (i32.const 0))
"""
        )
    return f"""(component $C
    (core module $Mem (memory (export "mem") 2))
    (core instance $mem (instantiate $Mem))
    (type $ST (stream {p.wit}))
    (core module $R
      (import "" "mem" (memory 2))
      (global $acc (export "acc") (mut i32) (i32.const 0))
      (global $bump (export "bump") (mut i32) (i32.const 0x8000))
{REALLOC})
    (core instance $cr (instantiate $R (with "" (instance (export "mem" (memory $mem "mem"))))))
    (core func $ret (canon task.return (result u32)))
    (core func $new (canon waitable-set.new))
    (core func $join (canon waitable.join))
    (core func $read (canon stream.read $ST async (memory (core memory $mem "mem"))
      (realloc (core func $cr "realloc")) string-encoding={renc}))
    (core func $dropr (canon stream.drop-readable $ST))
{fut}
    (core module $CM
      (import "" "mem" (memory 2))
      (import "" "acc" (global $acc (mut i32)))
      (import "" "bump" (global $bump (mut i32)))
      (import "" "ret" (func $ret (param i32)))
      (import "" "new" (func $new (result i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "read" (func $read (param i32 i32 i32) (result i32)))
      (import "" "dropr" (func $dropr (param i32)))
{fut_funcs}
      (global $n (mut i32) (i32.const 0))
{fold_funcs(p.kind, renc)}
      (func (export "attach") (param $rx i32) (result i32)
        (local $e i32)
        (local.set $e (i32.add (i32.const 0x1000) (i32.shl (global.get $n) (i32.const 5))))
        (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (i32.store (local.get $e) (local.get $rx))
        (i32.store offset=4 (local.get $e) (call $new))
        (call $ret (i32.add (local.get $rx) (i32.shl (i32.load offset=4 (local.get $e)) (i32.const 8))))
        (i32.const 0))
{settle}{take}      (func (export "drop") (param $i i32) (result i32)
        (local $e i32)
        (local.set $e (i32.add (i32.const 0x1000) (i32.shl (local.get $i) (i32.const 5))))
        (if (i32.or (i32.load offset=8 (local.get $e)) (i32.load offset=16 (local.get $e)))
          (then (call $ret (i32.const 0xdddd)) (return (i32.const 0))))
        (call $dropr (i32.load (local.get $e)))
        (i32.store offset=16 (local.get $e) (i32.const 1))
        (i32.store offset=12 (local.get $e) (i32.const 1))
        (call $ret (i32.const 1))
        (i32.const 0))
      (func (export "total") (result i32) (i32.add (global.get $acc) (global.get $bump))))
    (core instance $cm (instantiate $CM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "acc" (global $cr "acc"))
      (export "bump" (global $cr "bump")) (export "ret" (func $ret)) (export "new" (func $new))
      (export "join" (func $join)) (export "read" (func $read)) (export "dropr" (func $dropr))
      {fut_exports}))))
    (func (export "attach") async (param "s" (stream {p.wit})) (result u32)
      (canon lift (core func $cm "attach") async (callback (core func $cm "pump_cb"))))
    (func (export "pump") async (param "i" u32) (param "n" u32) (result u32)
      (canon lift (core func $cm "pump") async (callback (core func $cm "pump_cb"))))
    (func (export "drop") async (param "i" u32) (result u32)
      (canon lift (core func $cm "drop") async (callback (core func $cm "pump_cb"))))
{fut_lifts}
    (func (export "total") (result u32) (canon lift (core func $cm "total"))))"""


def program(rng: random.Random, n_streams: int, size: int, future: bool) -> str:
    """D's straight-line operations; state per stream i at 0x1000 + 16*i: tx, busy, done."""
    out = []
    fut_at = rng.randrange(LENGTH) if future else -1
    for step in range(LENGTH):
        if step == fut_at:  # C takes the future, D writes its value before or after
            early = rng.random() < 0.5
            write = (
                "(local.set $r (call $fwrite (global.get $fw) (i32.const "
                f"{0xC00 + 8 * rng.randrange(8)})))\n        {_mix('(local.get $r)')}"
            )
            if early:
                out.append(write)
                out.append("(local.set $k (local.get $r))")
            out.append(
                "(local.set $r (call $take (global.get $frx) (i32.const 0x40)))\n"
                f"        {_mix('(i32.add (local.get $r) (i32.load (i32.const 0x40)))')}"
            )
            if early:  # the read took the value: the write's event
                out.append(
                    "(if (i32.eq (local.get $k) (i32.const -1)) (then\n"
                    f"          {_mix('(call $fcancel (global.get $fw))')}))"
                )
            else:
                out.append(write)
            out.append("(call $fdropw (global.get $fw))")
            continue
        stream_op(rng, n_streams, size, 18, out)
    stream_epilogue(n_streams, out)
    return "\n        ".join(out)


def composition(seed: int) -> str:
    rng = random.Random(seed)
    kind = rng.choice(["string", "string", "list", "record"])
    wenc, renc = rng.choice(ENCODINGS), rng.choice(ENCODINGS)
    p = Payload(rng, kind, wenc)
    future = rng.random() < 0.35
    n_streams = rng.randint(1, 3)
    attach = []
    for i in range(n_streams):
        e = f"(i32.const {0x1000 + 16 * i})"
        attach.append(
            "(local.set $p (call $snew))\n"
            f"        (i32.store {e} (i32.wrap_i64 (i64.shr_u (local.get $p) (i64.const 32))))\n"
            "        (local.set $r (call $attach (i32.wrap_i64 (local.get $p)) (i32.const 0x40)))\n"
            f"        {_mix('(i32.add (local.get $r) (i32.load (i32.const 0x40)))')}\n"
            f"        {_mix('(i32.load ' + e + ')')}"
        )
    if future:
        attach.append(
            "(local.set $p (call $fnew))\n"
            "        (global.set $fw (i32.wrap_i64 (i64.shr_u (local.get $p) (i64.const 32))))\n"
            "        (global.set $frx (i32.wrap_i64 (local.get $p)))\n"
            f"        {_mix('(i32.add (global.get $fw) (global.get $frx))')}"
        )
    enc = f"string-encoding={wenc}"
    fut_types = fut_canon = fut_imports = fut_exports = fut_ifc = ""
    if future:
        fut_ifc = '\n      (export "take" (func async (param "f" (future string)) (result u32)))'
        fut_types = "(type $FT (future string))"
        fut_canon = f"""(core func $fnew (canon future.new $FT))
    (core func $fwrite (canon future.write $FT async (memory (core memory $mem "mem")) {enc}))
    (core func $fdropw (canon future.drop-writable $FT))
    (core func $fcancel (canon future.cancel-write $FT async))
    (core func $take (canon lower (func $c "take") async (memory (core memory $mem "mem"))))"""
        fut_imports = """      (import "" "fnew" (func $fnew (result i64)))
      (import "" "fwrite" (func $fwrite (param i32 i32) (result i32)))
      (import "" "fdropw" (func $fdropw (param i32)))
      (import "" "fcancel" (func $fcancel (param i32) (result i32)))
      (import "" "take" (func $take (param i32 i32) (result i32)))"""
        fut_exports = (
            '(export "fnew" (func $fnew)) (export "fwrite" (func $fwrite))'
            ' (export "fdropw" (func $fdropw)) (export "take" (func $take))'
            ' (export "fcancel" (func $fcancel))'
        )
    d = f"""(component $D
    (import "c" (instance $c
      (export "attach" (func async (param "s" (stream {p.wit})) (result u32)))
      (export "pump" (func async (param "i" u32) (param "n" u32) (result u32)))
      (export "drop" (func async (param "i" u32) (result u32))){fut_ifc}
      (export "total" (func (result u32)))))
    (core module $Mem (memory (export "mem") 1) {p.data()})
    (core instance $mem (instantiate $Mem))
    (type $ST (stream {p.wit}))
    {fut_types}
    (core func $snew (canon stream.new $ST))
    (core func $write (canon stream.write $ST async (memory (core memory $mem "mem")) {enc}))
    (core func $cancel (canon stream.cancel-write $ST async))
    (core func $dropw (canon stream.drop-writable $ST))
    (core func $new (canon waitable-set.new))
    (core func $join (canon waitable.join))
    (core func $wait (canon waitable-set.wait (memory (core memory $mem "mem"))))
    (core func $attach (canon lower (func $c "attach") async (memory (core memory $mem "mem"))))
    (core func $pump (canon lower (func $c "pump") async (memory (core memory $mem "mem"))))
    (core func $cdrop (canon lower (func $c "drop") async (memory (core memory $mem "mem"))))
    (core func $total (canon lower (func $c "total")))
    {fut_canon}
    (core module $DM
      (import "" "mem" (memory 1))
      (import "" "snew" (func $snew (result i64)))
      (import "" "write" (func $write (param i32 i32 i32) (result i32)))
      (import "" "cancel" (func $cancel (param i32) (result i32)))
      (import "" "dropw" (func $dropw (param i32)))
      (import "" "new" (func $new (result i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "wait" (func $wait (param i32 i32) (result i32)))
      (import "" "attach" (func $attach (param i32 i32) (result i32)))
      (import "" "pump" (func $pump (param i32 i32 i32) (result i32)))
      (import "" "cdrop" (func $cdrop (param i32 i32) (result i32)))
      (import "" "total" (func $total (result i32)))
{fut_imports}
      (global $acc (mut i32) (i32.const 0))
      (global $ws (mut i32) (i32.const 0))
      (global $fw (mut i32) (i32.const 0))
      (global $frx (mut i32) (i32.const 0))
      (func (export "run") (result i32) (local $r i32) (local $p i64) (local $k i32)
        (global.set $ws (call $new))
        {chr(10).join("        " + a for a in attach).strip()}
        {program(rng, n_streams, p.size, future)}
        (i32.add (global.get $acc) (i32.mul (call $total) (i32.const 3)))))
    (core instance $dm (instantiate $DM (with "" (instance
      (export "mem" (memory $mem "mem")) (export "snew" (func $snew))
      (export "write" (func $write)) (export "cancel" (func $cancel))
      (export "dropw" (func $dropw)) (export "new" (func $new)) (export "join" (func $join))
      (export "wait" (func $wait)) (export "attach" (func $attach)) (export "pump" (func $pump))
      (export "cdrop" (func $cdrop)) (export "total" (func $total)) {fut_exports}))))
    (func (export "run") async (result u32) (canon lift (core func $dm "run"))))"""
    return (
        "(component\n  "
        + callee(p, renc, future)
        + "\n  "
        + d
        + "\n  (instance $c (instantiate $C))\n"
        + '  (instance $d (instantiate $D (with "c" (instance $c))))\n'
        + '  (export "run" (func $d "run")))\n'
        + '(invoke "run")\n'
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_random_payload_programs(
    seed: int, oracle_py: Path, pymeld: list[str], tmp_path: Path
) -> None:
    assert_async_program_equivalent(
        oracle_py, pymeld, tmp_path, f"payloads-{seed}", composition(seed)
    )
