"""`scan_instructions`: the walker's look-only entry (analyses that need no rebuilt body)."""

from __future__ import annotations

import pytest

from pymeld.codec.core.instructions import (
    Hook,
    Visit,
    Visits,
    read_s32,
    read_u,
    rewrite_instructions,
    scan_instructions,
)
from pymeld.errors import DecodeError

# i32.const 5; i32.const 0; call_indirect type 1 table 0; drop;
# i32.const -2 (two-byte LEB); block; i32.const 300; drop; end; drop;
# i32.const 0; i32.const 0; i32.const 0; memory.fill 0; call 7; end
BODY = bytes.fromhex("410541001101001a417e024041ac021a0b1a410041004100fc0b0010070b")


def _seen() -> tuple[list[tuple[str, int, int]], Visits]:
    seen: list[tuple[str, int, int]] = []

    def const(data: bytes, at: int, pos: int) -> int:
        value, end = read_s32(data, pos)
        seen.append(("const", at, value))
        return end

    def call_indirect(data: bytes, at: int, pos: int) -> int:
        ty, pos = read_u(data, pos)
        table, pos = read_u(data, pos)
        seen.append(("call_indirect", at, ty * 100 + table))
        return pos

    def fill(data: bytes, at: int, pos: int) -> int:
        mem, end = read_u(data, pos)
        seen.append(("memory.fill", at, mem))
        return end

    return seen, {(-1, 0x41): const, (-1, 0x11): call_indirect, (0xFC, 11): fill}


def test_visits_named_instructions_in_body_order() -> None:
    seen, visits = _seen()
    scan_instructions(BODY, visits)
    assert seen == [
        ("const", 0, 5),
        ("const", 2, 0),
        ("call_indirect", 4, 100),
        ("const", 8, -2),
        ("const", 12, 300),
        ("const", 18, 0),
        ("const", 20, 0),
        ("const", 22, 0),
        ("memory.fill", 24, 0),
    ]


def test_sees_what_rewrite_hooks_see() -> None:
    seen, visits = _seen()
    scan_instructions(BODY, visits)
    scanned = list(seen)
    seen.clear()

    def as_hook(visit: Visit) -> Hook:
        def hook(data: bytes, at: int, pos: int) -> tuple[bytes, int]:
            end = visit(data, at, pos)
            return data[at:end], end

        return hook

    assert rewrite_instructions(BODY, {k: as_hook(v) for k, v in visits.items()}) == BODY
    assert seen == scanned


@pytest.mark.parametrize("cut", [1, 5, 9, len(BODY) - 1])
def test_checks_the_body(cut: int) -> None:
    _, visits = _seen()
    with pytest.raises(DecodeError):
        scan_instructions(BODY[:cut], visits)


def test_rejects_bytes_after_the_final_end() -> None:
    _, visits = _seen()
    with pytest.raises(DecodeError, match="after the final end"):
        scan_instructions(BODY + b"\x01", visits)
