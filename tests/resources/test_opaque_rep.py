"""`--opaque-rep IFACE.RESOURCE`: checked against the composition, recorded in the attestation.

The behaviour it asks for (reps never interpreted) holds for every resource: `wast/boundary.wast`
passes reps 0 and 0xffffffff across tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pymeld.emit.attestation import find_attestations
from pymeld.errors import LinkError
from pymeld.fuse import FuseOptions, fuse_bytes


def _provider(corpus_components: Path) -> bytes:
    return (corpus_components / "py-compose-rich" / "provider.wasm").read_bytes()


@pytest.mark.parametrize(
    "spec", ["corpus:rich/lib@0.1.0.counter", "corpus:rich/lib.counter", "wasi:io/poll.pollable"]
)
def test_known_resource_is_accepted_and_recorded(corpus_components: Path, spec: str) -> None:
    out = fuse_bytes(_provider(corpus_components), options=FuseOptions(opaque_rep=(spec,))).output
    (found,) = find_attestations(out)
    assert found.ok and found.record is not None
    assert found.record["options"]["opaque_rep"] == [spec]


@pytest.mark.parametrize("spec", ["corpus:rich/lib.nope", "counter", "other:pkg/x.counter"])
def test_unknown_resource_is_an_error(corpus_components: Path, spec: str) -> None:
    with pytest.raises(LinkError, match=r"^opaque rep "):
        fuse_bytes(_provider(corpus_components), options=FuseOptions(opaque_rep=(spec,)))
