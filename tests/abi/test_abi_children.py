"""`abi.types.children` (and the walks built on it): the parts of every constructor, none for a
primitive (answered before the constructor cases: `_PRIMITIVES`)."""

from __future__ import annotations

from pymeld.abi import types as at

PRIMITIVES = [
    at.Bool(), at.S8(), at.U8(), at.S16(), at.U16(), at.S32(), at.U32(), at.S64(), at.U64(),
    at.F32(), at.F64(), at.Char(), at.String(),
]  # fmt: skip


def test_primitives_have_no_parts() -> None:
    assert {type(t) for t in PRIMITIVES} == set(at._PRIMITIVES)
    assert all(at.children(t) == () for t in PRIMITIVES)


def test_constructor_parts() -> None:
    own, borrow = at.Own("r"), at.Borrow("r")
    cases = [
        (at.List(at.String()), (at.String(),)),
        (at.Option(own), (own,)),
        (at.Result(at.U8(), None), (at.U8(),)),
        (at.Tuple((at.S32(), borrow)), (at.S32(), borrow)),
        (at.Record((("a", at.Char()), ("b", own))), (at.Char(), own)),
        (at.Variant((("x", None), ("y", at.F32()))), (at.F32(),)),
        (at.Map(at.String(), at.U64()), (at.String(), at.U64())),
        (at.Stream(None), ()),
        (at.Future(at.Bool()), (at.Bool(),)),
        (at.Flags(("a",)), ()),
        (own, ()),
        (at.FuncType((("p", at.List(own)),), at.S8()), (at.List(own), at.S8())),
    ]
    for t, parts in cases:
        assert at.children(t) == parts, t


def test_handles_depth_first() -> None:
    a, b, c = at.Own("a"), at.Borrow("b"), at.Own("c")
    t = at.Record((("x", at.List(at.Tuple((a, at.String())))), ("y", at.Option(b)), ("z", c)))
    assert at.handles(t) == [a, b, c]
    assert at.handles(at.List(at.String())) == []
