"""The small constant-expression readers `merge.leave` resolves table slots with."""

from __future__ import annotations

import pytest

from pymeld.codec.binary import sleb, uleb
from pymeld.codec.core.instructions import const_i32_value, elem_expr_func, read_s32
from pymeld.errors import DecodeError

END = bytes([0x0B])


@pytest.mark.parametrize("v", [0, 1, -1, 63, 64, -64, -65, 2**31 - 1, -(2**31), 624485])
def test_read_s32(v: int) -> None:
    enc = sleb(v)
    assert read_s32(enc + b"tail", 0) == (v, len(enc))


def test_read_s32_range() -> None:
    with pytest.raises(DecodeError):
        read_s32(sleb(2**31), 0)


def test_const_i32_value() -> None:
    assert const_i32_value(bytes([0x41]) + sleb(-7) + END) == -7
    assert const_i32_value(bytes([0x41]) + sleb(5)) is None  # no end
    assert const_i32_value(bytes([0x23, 0]) + END) is None  # global.get
    assert const_i32_value(None) is None


def test_elem_expr_func() -> None:
    assert elem_expr_func(bytes([0xD2]) + uleb(300) + END) == 300
    assert elem_expr_func(bytes([0xD0, 0x70]) + END) == -1
    assert elem_expr_func(bytes([0x23, 0]) + END) is None
