"""The library as a Python user meets it: clear types, documented options, no CLI words."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

import pytest

import pymeld
import pymeld.api
from pymeld.errors import LinkError, PymeldError
from pymeld.fuse import FuseOptions, Fuser, fuse_bytes, fuse_files
from support import miscompile_merge


def test_a_path_where_bytes_belong_is_a_type_error(example_wasm: Path) -> None:
    for call in (
        lambda: fuse_bytes(str(example_wasm)),  # type: ignore[arg-type]
        lambda: fuse_bytes(example_wasm),  # type: ignore[arg-type]
        lambda: fuse_files([("x.wasm", str(example_wasm))]),  # type: ignore[list-item]
        lambda: Fuser().add("x.wasm", str(example_wasm)),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match="takes the component's bytes"):
            call()
    with pytest.raises(TypeError, match=r"read_bytes\(\)"):
        fuse_bytes("x.wasm")  # type: ignore[arg-type]
    # bytes-like objects are fine
    assert fuse_bytes(bytearray(example_wasm.read_bytes())).output[:4] == b"\0asm"


def test_one_opaque_rep_string_is_one_name(corpus_components: Path) -> None:
    assert FuseOptions(opaque_rep="a:b/c.d").opaque_rep == ("a:b/c.d",)
    assert FuseOptions(opaque_rep=["x:y/z.r", "a:b/c.d"]).opaque_rep == ("x:y/z.r", "a:b/c.d")  # type: ignore[arg-type]
    data = (corpus_components / "py-compose-rich" / "provider.wasm").read_bytes()
    with pytest.raises(LinkError, match=r"^opaque rep 'a:b/c\.d': no such resource"):
        fuse_bytes(data, options=FuseOptions(opaque_rep="a:b/c.d"))


def test_option_values_are_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="memory must be"):
        FuseOptions(memory="single")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="address_rebase needs memory='shared'"):
        FuseOptions(address_rebase=True)
    FuseOptions(memory="auto", address_rebase=True)


def test_fuse_options_are_documented_and_typed() -> None:
    doc = inspect.getdoc(FuseOptions) or ""
    for f in FuseOptions.__dataclass_fields__:
        assert f"    {f}:" in doc or f"\n{f}:" in doc or f" {f}: " in doc, f
    hints = typing.get_type_hints(FuseOptions)
    assert typing.get_args(hints["memory"]) == ("multi", "shared", "auto")
    assert "memory" in pydoc_text()


def pydoc_text() -> str:
    import pydoc

    return pydoc.render_doc(FuseOptions, renderer=pydoc.plaintext)


def test_library_errors_do_not_quote_cli_flags(
    corpus_components: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library caller never typed `--verify`; the messages name the thing, not the flag."""
    import pymeld.fuse as fuse_mod

    data = (corpus_components / "repo-prebuilt" / "calculator.composed.wasm").read_bytes()
    messages = []
    real = fuse_mod.merge
    miscompile_merge(monkeypatch)
    pytest.importorskip("wasmtime")
    with pytest.raises(PymeldError) as e:
        fuse_bytes(data, options=FuseOptions(component=True, verify=True))
    messages.append(str(e.value))
    monkeypatch.setattr(fuse_mod, "merge", real)
    with pytest.raises(PymeldError) as e:
        fuse_bytes(data, options=FuseOptions(opaque_rep="nope"))
    messages.append(str(e.value))
    for m in messages:
        assert "--" not in m, m


def test_api_module_exports_only_its_api() -> None:
    public = {n for n in vars(pymeld.api) if not n.startswith("_")}
    assert public == set(pymeld.api.__all__)
    assert not {"Any", "Iterator", "annotations"} & set(vars(pymeld.api))
    assert pymeld.FuseOptions is FuseOptions


def test_reports_made_when_read_are_what_the_result_holds(example_wasm: Path) -> None:
    """`fuse_bytes` makes ``import_map`` and ``explain`` when first read; a result read, copied,
    pickled, printed, compared or replaced before that holds what it would have held."""
    import copy
    import dataclasses
    import pickle

    from pymeld.fuse import FuseResult

    data = example_wasm.read_bytes()
    read = fuse_bytes(data)
    assert "_reports" in vars(read) and "import_map" not in vars(read)  # not made yet
    assert read.explain and read.explain[0].startswith("adapter func")
    assert read.import_map["version"] == 2 and "_reports" not in vars(read)
    eager = FuseResult(read.output, read.stats, read.import_map, read.explain)
    assert read == eager and repr(read) == repr(eager)
    assert type(read) is FuseResult and dataclasses.asdict(read) == dataclasses.asdict(eager)
    for fresh in (
        pickle.loads(pickle.dumps(fuse_bytes(data))),
        copy.copy(fuse_bytes(data)),
        dataclasses.replace(fuse_bytes(data), stats=read.stats),
    ):
        assert "_reports" not in vars(fresh)
        assert fresh.import_map == read.import_map and fresh.explain == read.explain
    printed = fuse_bytes(data)  # (its stats hold its own timings)
    text = repr(printed)
    assert text == repr(FuseResult(printed.output, printed.stats, read.import_map, read.explain))
    compared = fuse_bytes(data)
    assert compared == FuseResult(compared.output, compared.stats, read.import_map, read.explain)
    with pytest.raises(AttributeError, match="'FuseResult' object has no attribute 'nope'"):
        fuse_bytes(data).nope  # type: ignore[attr-defined]  # noqa: B018
