"""`ComponentBuilder.one` takes the caller's word for the one index a section defines (no walk
of the section): every section the wrapper adds that way, for every small corpus input (resources,
ascribed instances, shims, imported modules among them), defines exactly that index.

And `HostImport.core_signature` is made once: the wrapper's shim reads the signature the
merger declared the fused module's import with."""

from __future__ import annotations

from pathlib import Path

import pytest

from pymeld.codec.component import model as cm
from pymeld.codec.component.builder import ComponentBuilder
from pymeld.errors import PymeldError
from pymeld.fuse import FuseOptions, fuse_bytes
from pymeld.merge.merger import HostImport
from support import shared_root

COMPONENTS = shared_root() / "corpus" / "components"
SMALL = sorted(
    p
    for p in COMPONENTS.rglob("*.wasm")
    if p.stat().st_size < 1 << 20 and p.read_bytes()[4:8] == b"\x0d\x00\x01\x00"
)


@pytest.mark.parametrize("path", SMALL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_one_section_defines_the_index_its_caller_says(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ComponentBuilder.one
    seen: list[cm.Sort] = []

    def checked(self: ComponentBuilder, section: cm.Section, sort: cm.Sort) -> int:
        defined = [cm.sort_key(s) for s, _ in cm.defined_sorts(section)]
        assert defined == [cm.sort_key(sort)], (section, sort)
        seen.append(sort)
        return real(self, section, sort)

    monkeypatch.setattr(ComponentBuilder, "one", checked)
    try:
        fuse_bytes(path.read_bytes(), file=path.name, options=FuseOptions(component=True))
    except PymeldError as e:  # a refused input adds nothing to check
        pytest.skip(f"{path.name}: {e}")
    assert seen


def test_the_builder_counts_what_it_adds() -> None:
    """`one` and `add` count the same index spaces, core and component ones apart."""
    b = ComponentBuilder()
    assert (
        b.one(cm.AliasSection([cm.AliasCoreExport(cm.CoreSort.TABLE, 0, "t")]), cm.CoreSort.TABLE)
        == 0
    )
    assert b.alias(0, "f", cm.ComponentSort.FUNC) == 0  # component func (1) apart from table (1)
    assert b.add(cm.AliasSection([cm.AliasCoreExport(cm.CoreSort.TABLE, 0, "u")] * 2)) == [1, 2]
    assert b.count(cm.CoreSort.TABLE) == 3 and b.count(cm.ComponentSort.FUNC) == 1
    assert b.type(cm.ListType(cm.Prim.U8)) == 0 and len(b.comp.sections) == 4


def test_core_signature_is_made_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[HostImport] = []
    real = HostImport._signature

    def counted(self: HostImport) -> tuple[list[object], list[object]]:
        calls.append(self)
        return real(self)  # type: ignore[return-value]

    monkeypatch.setattr(HostImport, "_signature", counted)
    path = COMPONENTS / "c-compose-text" / "composed.wasm"
    fuse_bytes(path.read_bytes(), file=path.name, options=FuseOptions(component=True))
    assert calls and len(calls) == len({id(hi) for hi in calls})
