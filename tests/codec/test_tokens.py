"""The regex tokenizer's rewrite (`codec.core.tokens`) gives what the general walk gives.

Fusion rewrites a body with `tokenize` + `rewrite` and takes `rewrite_body` (the general walk,
exact results and errors) when either declines with None. So wherever the tokens give bytes,
they must be `walk_body`'s bytes, and the walk must not raise there: checked on hand-written
edge cases, on corpus and `wasm-tools smith` bodies under several index maps, and on mutated
(mostly malformed) bodies. The tokenizer must also decline little real code, so these tests
cannot pass by declining everything.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pymeld.codec.core import tokens
from pymeld.codec.core.instructions import IndexMaps, walk_body
from pymeld.codec.core.parse import parse_module
from pymeld.errors import DecodeError
from support import read_uleb, shared_root

CORPUS = shared_root() / "corpus"

#: Every index moves, most to wider LEBs; memory 0 becomes 2 (a memarg gains a memory index).
SHIFTED = IndexMaps(
    type=[i * 3 + 100 for i in range(4096)],
    func=[i * 7 + 300 for i in range(1 << 16)],
    table=[i + 1 for i in range(64)],
    memory=[2, 0, *range(3, 64)],
    global_=[i + 130 for i in range(4096)],
    elem=[i + 128 for i in range(1024)],
    data=[i + 1 for i in range(1024)],
    tag=[i + 5 for i in range(64)],
)
#: Some kinds unmapped, some unchanged (original bytes kept, padded LEBs stay padded).
PARTIAL = IndexMaps(func=lambda i: i if i % 2 else i + 1, memory=lambda i: i, global_=None)
#: Everything unchanged: the body comes back as it is.
IDENTITY = IndexMaps(*(lambda i: i for _ in range(8)))
#: Pre-standard proposals smith knows and the codec does not (as in the fuzz tests).
SMITH_OFF = ("compact-imports", "custom-descriptors", "custom-page-sizes")
SMITH_OFF += ("shared-everything-threads", "wide-arithmetic")
MAPS = {"shifted": SHIFTED, "partial": PARTIAL, "identity": IDENTITY}


def _tokens(body: bytes, maps: IndexMaps) -> bytes | None:
    parts = tokens.tokenize(body)
    if parts is None:
        return None
    assert b"".join(parts) == body
    return tokens.rewrite(parts, tokens.Rewriter().table(maps))


def _walk(body: bytes, maps: IndexMaps) -> bytes | None:
    try:
        return walk_body(body, maps)
    except DecodeError:
        return None


def _agrees(body: bytes, maps: IndexMaps) -> bool:
    """Checks the contract on one body; True if the tokens (not the fallback) rewrote it."""
    out = _tokens(body, maps)
    if out is not None:
        assert out == _walk(body, maps), body.hex()
    return out is not None


BODIES = {
    "calls and globals": "2300 2401 1000 1003 0b",
    "padded LEBs": "2381808080 00 1a 1081808080 00 0b",
    "memargs": "4100 2802 00 1a 4100 284201 04 1a 4100 28 02 ffffffff0f 1a 0b",
    "call_indirect and blocks": "0240 4100 110001 0b 0201 0b 037f 4100 0b 1a 0b",
    "if else": "4100 0440 4100 1a 05 4101 1a 0b 0b",
    "bulk memory and tables": "4100 4100 4100 fc0a0100 4100 4100 4100 fc0b01 fc0d00 fc0f00 1a 0b",
    "memory.size and grow": "3f00 4000 1a 3f01 1a 0b",
    "br_table": "0240 4100 0e020000 00 0b 0b",
    "constants": "4180808080 78 1a 42ffffffffffffffff7f 1a 4300000000 1a 44 0000000000000000 1a 0b",
    "ref.func and return_call": "d20a 1a 1205 0b",
    # declined: the general walk decides
    "br_table of 128 targets": "0240 4100 0e8001" + "00" * 129 + " 0b 0b",
    "block of a reference type": "02 63 70 d0 70 0b 1a 0b",
    "simd": "4100 fd000000 1a 0b",
    "legacy try": "06 40 0b 0b",
    "select t": "4100 4100 4100 1c 01 7f 1a 0b",
    # malformed: the general walk raises, the tokens decline
    "end at depth 0 before the last byte": "0b 01 0b",
    "one end too many": "0240 0b 0b 0b",
    "no final end": "0240 0b",
    "unterminated LEB": "1080",
    "index out of u32 range": "10ffffffff7f 0b",
    "LEB too long": "10808080808000 0b",
    "call out of the map": "10ffff0f 0b",
    "negative block type": "0250 0b 0b",
    "empty": "",
    "unknown opcode": "c5 0b",
}


@pytest.mark.parametrize("maps", sorted(MAPS))
@pytest.mark.parametrize("name", sorted(BODIES))
def test_edge_cases(name: str, maps: str) -> None:
    body = bytes.fromhex(BODIES[name].replace(" ", ""))
    _agrees(body, MAPS[maps])


def test_accepted_and_declined() -> None:
    """The subset: what the tokens rewrite and what they leave to the walk."""
    accepted = {n for n, b in BODIES.items() if _tokens(bytes.fromhex(b), SHIFTED) is not None}
    assert accepted == {
        "calls and globals",
        "padded LEBs",
        "memargs",
        "call_indirect and blocks",
        "if else",
        "bulk memory and tables",
        "memory.size and grow",
        "br_table",
        "constants",
        "ref.func and return_call",
    }
    body = bytes.fromhex("2381808080 00 1a 1081808080 00 0b")
    assert _tokens(body, IDENTITY) == body  # unchanged indices keep their padding
    assert _tokens(body, SHIFTED) == bytes.fromhex("238301 1a 10b302 0b")


def _nested(depth: int, ends: int, after: str = "") -> bytes:
    """``depth`` blocks (each holding a `global.get`), ``ends`` ends, then ``after``."""
    return bytes.fromhex("0240 2300" * depth + "0b" * ends + after)


@pytest.mark.parametrize("passes", [1, 2, tokens.NEST_PASSES])
@pytest.mark.parametrize("depth", [0, 1, 2, 3, 31, 32, 33, 200])
def test_nesting_checked_at_any_depth(
    depth: int, passes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nesting check takes out innermost blocks for `NEST_PASSES` passes, then sums up what
    is left: on both sides of that line, well-nested bodies are taken and the others are left
    to the walk (an `end` closing the function early, ends missing or left over)."""
    monkeypatch.setattr(tokens, "NEST_PASSES", passes)
    good = [
        _nested(depth, depth + 1),
        _nested(depth, depth, "0240 0b 0b"),  # then a block beside the outermost ones
        _nested(depth, depth, _nested(depth, depth + 1).hex()),  # twice as many
    ]
    bad = [
        _nested(depth, depth + 2, "0240 0b 0b"),  # the function ends, then more code
        _nested(depth, depth + 1, "0b"),
        _nested(depth, depth + 1, "0240" + _nested(depth, depth + 1).hex()),  # balanced after
        _nested(depth + 1, depth + 1, "0240 0b"),  # an opener closed by the final end
        _nested(depth, max(depth - 1, 0)),  # ends missing
        b"\xfd" + _nested(depth, depth + 1),  # a SIMD prefix: not in the subset
    ]
    for body in good:
        assert _agrees(body, SHIFTED), body.hex()
    for body in bad:
        assert tokens.tokenize(body) is None, body.hex()
        _agrees(body, SHIFTED)


def test_a_table_serves_many_bodies() -> None:
    table = tokens.Rewriter().table(SHIFTED)
    for body in BODIES.values():
        b = bytes.fromhex(body.replace(" ", ""))
        parts = tokens.tokenize(b)
        if parts is not None and (out := tokens.rewrite(parts, table)) is not None:
            assert out == walk_body(b, SHIFTED)
            again = tokens.rewrite(parts, table, reuse=True)
            assert again == out


def _core_modules(data: bytes) -> Iterator[bytes]:
    """Every core module in a core module or component binary."""
    if data[4:8] == b"\x01\x00\x00\x00":
        yield data
        return
    p = 8
    while p < len(data):
        sid = data[p]
        n, p2 = read_uleb(data, p + 1)
        if sid == 1:
            yield data[p2 : p2 + n]
        elif sid == 4:
            yield from _core_modules(data[p2 : p2 + n])
        p = p2 + n


def _check_bodies(bodies: list[bytes], min_accepted: float) -> None:
    accepted = 0
    for body in bodies:
        for maps in MAPS.values():
            accepted += _agrees(body, maps)
    assert accepted >= min_accepted * len(bodies) * len(MAPS), (accepted, len(bodies))


def _corpus_bodies(per_module: int, seed: int) -> list[bytes]:
    """Distinct bodies of every corpus component, a sample of each core module's."""
    rng = random.Random(seed)
    bodies: list[bytes] = []
    for f in sorted((CORPUS / "components").rglob("*.wasm")):
        for mb in _core_modules(f.read_bytes()):
            codes = [c.body for c in parse_module(mb).codes]
            bodies += rng.sample(codes, min(len(codes), per_module))
    return list(dict.fromkeys(bodies))


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not available")
def test_corpus_bodies(slow: bool) -> None:
    """Bodies of every corpus component, three maps each."""
    bodies = _corpus_bodies(2000 if slow else 150, 12)
    assert len(bodies) > 2000
    _check_bodies(bodies, 0.97)


def test_smith_bodies(wasm_tools: str, tmp_path: Path, slow: bool) -> None:
    """Bodies of random valid modules (no SIMD, GC, exceptions, typed references or threads,
    which the tokens leave to the walk; padded LEBs in every other one)."""
    rng = random.Random(34)
    bodies: list[bytes] = []
    for i in range(200 if slow else 24):
        flags = ["--simd-enabled=false", "--gc-enabled=false", "--exceptions-enabled=false"]
        flags += ["--reference-types-enabled=false", "--threads-enabled=false"]
        flags += [f"--{f}-enabled=false" for f in SMITH_OFF]
        flags += ["--min-funcs=8", "--max-memories=3", "--max-tables=3"]
        flags += ["--min-uleb-size=5"] if i % 2 else []
        out = tmp_path / f"s{i}.wasm"
        run = subprocess.run(
            [wasm_tools, "smith", *flags, "-o", str(out)], input=rng.randbytes(4000), check=False
        )
        if run.returncode == 0:
            bodies += [c.body for c in parse_module(out.read_bytes()).codes]
    assert len(bodies) > 100
    _check_bodies(bodies, 0.9)


def _mutants(body: bytes, rng: random.Random) -> Iterator[bytes]:
    n = len(body)
    for _ in range(6):
        b = bytearray(body)
        what = rng.randrange(4)
        at = rng.randrange(n)
        if what == 0:
            b[at] = rng.randrange(256)
        elif what == 1:
            b.insert(at, rng.choice((0x0B, 0x02, 0x80, 0x10, 0x28, 0x0E)))
        elif what == 2:
            del b[at]
        else:
            b[at:] = b[at : at + rng.randrange(1, 4)]
        yield bytes(b)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not available")
def test_mutated_bodies(slow: bool) -> None:
    """Mutated bodies: the tokens give the walk's bytes or decline; never a different result,
    never bytes for a body the walk rejects."""
    rng = random.Random(56)
    bodies = _corpus_bodies(100 if slow else 10, 78)
    accepted = rejected = 0
    for body in bodies:
        for mutant in _mutants(body, rng):
            accepted += _agrees(mutant, SHIFTED)
            rejected += _walk(mutant, SHIFTED) is None
    assert accepted > len(bodies) and rejected > len(bodies), (accepted, rejected, len(bodies))
