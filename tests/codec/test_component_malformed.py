"""Malformed components must fail with a located `DecodeError`, never another exception or hang.

Why: pymeld's CLI turns `DecodeError` into a one-line message naming file/section/offset; any
other exception escaping the decoder would be a crash report instead of a diagnosis.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymeld.codec.component import encode_component, parse_any, parse_component
from pymeld.codec.component.parse import PREAMBLE
from pymeld.errors import DecodeError
from support import read_uleb, uleb, wast_commands

# A small but varied component (wasm-tools 1.262 from WAT): record + func types, func import,
# core module, core instance, core export alias, canon lift/lower with memory, export, names.
SMALL = bytes.fromhex(
    "0061736d0d0001000710027202016179016273400101787800790a0601000178010101390061736d01000000"
    "01060160017e017f030201000503010001070b0201660000036d656d02000a0601040041000b0009046e616d"
    "650002016d020401000000060701000001000166080601000000000106090100020100036d656d0807010100"
    "000103000b070100016701010000400e636f6d706f6e656e742d6e616d65010b0000020002636601026c7801"
    "0600110100016d01060012010001690108010200017801016701080302000172010166"
)


def _decode(data: bytes) -> None:
    try:
        parse_component(data, file="t.wasm")
    except DecodeError as e:
        assert e.offset is not None
        assert e.file == "t.wasm"


def test_small_component_parses() -> None:
    c = parse_component(SMALL)
    assert encode_component(c) == SMALL
    assert [s.id for s in c.sections] == [7, 10, 1, 2, 6, 8, 6, 8, 11, 0]


def section_ends(data: bytes) -> set[int]:
    """Offsets where a top-level section ends: truncating there leaves a valid component."""
    ends, pos = {8}, 8
    while pos < len(data):
        size, pos = read_uleb(data, pos + 1)
        pos += size
        ends.add(pos)
    return ends


@pytest.mark.parametrize("cut", sorted(set(range(len(SMALL))) - section_ends(SMALL)))
def test_truncation_small(cut: int) -> None:
    data = SMALL[:cut]
    with pytest.raises(DecodeError) as ei:
        parse_component(data, file="t.wasm")
    assert ei.value.offset is not None and ei.value.offset <= len(data)
    assert "t.wasm" in str(ei.value)


def test_truncation_real(corpus_components: Path) -> None:
    data = (corpus_components / "repo-prebuilt" / "calculator.composed.wasm").read_bytes()
    step = max(1, len(data) // 300)
    ends = section_ends(data)
    for cut in range(0, len(data) - 1, step):
        if cut in ends:
            continue
        with pytest.raises(DecodeError):
            parse_component(data[:cut])


def test_bad_section_size() -> None:
    # type section claims 0x3ff bytes, more than the file holds
    bad = SMALL.replace(bytes.fromhex("0710"), bytes.fromhex("07ff07"), 1)
    with pytest.raises(DecodeError, match="section size 1023 exceeds") as ei:
        parse_component(bad)
    assert ei.value.offset == 9 and ei.value.section == "type"
    # size too small: section content does not end at the boundary
    bad = SMALL.replace(bytes.fromhex("0710"), bytes.fromhex("070f"), 1)
    with pytest.raises(DecodeError) as ei:
        parse_component(bad)
    assert ei.value.section in ("type", "import")


def test_unknown_section_id() -> None:
    with pytest.raises(DecodeError, match="unknown section id 13") as ei:
        parse_component(PREAMBLE + b"\x0d\x00")
    assert ei.value.offset == 8


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"\x07\x02\x01\x44", "unknown type 0x44"),
        (b"\x08\x02\x01\x2e", "unknown canonical function 0x2e"),
        (b"\x06\x05\x01\x06\x02\x00\x00", "unknown sort 0x06"),
        (b"\x06\x05\x01\x01\x02\x00\x00", "outer alias of sort func"),
        (b"\x0a\x06\x01\x00\x02\xff\xfe\x01", "malformed UTF-8"),
        (b"\x0b\x06\x01\x00\x01a\x01\x00", "unexpected end"),
        (b"\x02\x03\x01\x02\x00", "unknown core instance form"),
        (b"\x01\x08\x00asm\x0d\x00\x01\x00", "core module preamble"),
    ],
)
def test_malformed_items(payload: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        parse_component(PREAMBLE + payload)


def test_preamble_errors() -> None:
    with pytest.raises(DecodeError, match="core WebAssembly module"):
        parse_component(b"\0asm\x01\0\0\0")
    with pytest.raises(DecodeError, match="version"):
        parse_component(b"\0asm\x0c\0\x01\0")
    with pytest.raises(DecodeError, match="magic"):
        parse_component(b"\0wasm\x0d\0\x01\0")
    with pytest.raises(DecodeError, match="truncated preamble"):
        parse_any(b"\0asm")


def test_deep_nesting_is_rejected_not_crashing() -> None:
    # instance type nested 5000 deep: 0x42 vec(1) 0x01 (type) ...
    depth = 5000
    body = b"\x42\x01\x01" * depth + b"\x42\x00"
    sec = b"\x01" + body
    data = PREAMBLE + b"\x07" + uleb(len(sec)) + sec
    with pytest.raises(DecodeError, match="too deeply"):
        parse_component(data)


def test_wast_assert_malformed(wast_binaries: list[Path], report) -> None:
    """Every assert_malformed component in the wast corpus is rejected by the decoder, except
    malformations inside a nested core module (the core codec's job, parsed lazily)."""
    core_level = {"section out of order"}
    n = rejected = 0
    for cmd, path in wast_commands(wast_binaries):
        if cmd["type"] != "assert_malformed" or cmd.get("module_type") != "binary":
            continue
        data = path.read_bytes()
        if len(data) >= 8 and data[6:8] == b"\0\0":
            continue  # a core module test
        n += 1
        try:
            parse_component(data)
        except DecodeError:
            rejected += 1
        else:
            assert cmd["text"] in core_level, (path, cmd)
    report("component assert_malformed", f"{rejected}/{n} rejected by the component decoder")
    assert n >= 60 and rejected >= n - len(core_level)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_mutations(data: st.DataObject) -> None:
    base = bytearray(SMALL)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        i = data.draw(st.integers(8, len(base) - 1))
        if op == "flip":
            base[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set":
            base[i] = data.draw(st.integers(0, 255))
        elif op == "insert":
            base[i:i] = bytes([data.draw(st.integers(0, 255))])
        elif len(base) > 9:
            del base[i]
    mutated = bytes(base)
    try:
        c = parse_component(mutated, file="t.wasm")
    except DecodeError as e:
        assert e.offset is not None
        return
    # Whatever parses must re-encode to a fixed point.
    out = encode_component(c)
    assert encode_component(parse_component(out)) == out


def test_random_mutations_real(small_corpus_binaries: list[Path], slow: bool) -> None:
    """Byte mutations of real components: only DecodeError or success (seeded, bounded)."""
    import random

    rng = random.Random(1234)
    comps = [p.read_bytes() for p in small_corpus_binaries]
    comps = [d for d in comps if d[:8] == PREAMBLE][:6]
    for data in comps:
        for _ in range(200 if slow else 40):
            b = bytearray(data)
            for _ in range(rng.randint(1, 3)):
                b[rng.randrange(8, len(b))] = rng.randrange(256)
            _decode(bytes(b))
