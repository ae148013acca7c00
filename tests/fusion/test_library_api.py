"""`import pymeld`: the library shape (configure, add components, fuse)."""

from __future__ import annotations

from pathlib import Path

import pytest

import pymeld


def test_fuser_adds_and_fuses_named_components(corpus_components: Path) -> None:
    case = corpus_components / "c-compose-text"
    fuser = pymeld.Fuser(pymeld.FuseOptions(component=True))
    for name in ("cconsumer.wasm", "cprovider.wasm"):
        fuser.add(name, (case / name).read_bytes())
    result = fuser.fuse()
    assert result.output[4:8] == b"\x0d\x00\x01\x00"  # a component
    assert result.stats["adapters"] and result.stats["bytes_out"] == len(result.output)
    same = pymeld.fuse_files(fuser.inputs, options=pymeld.FuseOptions(component=True))
    assert same.output == result.output


def test_fuser_needs_an_input() -> None:
    with pytest.raises(pymeld.PymeldError, match="nothing to fuse"):
        pymeld.Fuser().fuse()


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError):
        pymeld.no_such_thing  # noqa: B018
