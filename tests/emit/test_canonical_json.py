"""`pymeld.emit.attestation.canonical_json` writes exactly what ``json.dumps(value,
sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` writes (the attestation's text is
part of the output bytes), without importing `json` for the record's own types."""

from __future__ import annotations

import json
import subprocess
import sys
from enum import IntEnum
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pymeld.emit.attestation import canonical_json


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", '"', "\\", "\n\t\r\b\f", "\x00\x1f\x7f", "é€😀", "\u2028\u2029", "</script>"]
)
_SCALARS = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | _TEXT
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_TEXT, inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_same_text_as_json(value: Any) -> None:
    assert canonical_json(value) == _dumps(value)


class _Kind(IntEnum):
    A = 3


def test_other_values_are_left_to_json() -> None:
    for value in [1.5, {"x": [0.1, -2e300]}, {1: "int key"}, _Kind.A, {"k": _Kind.A}]:
        assert canonical_json(value) == _dumps(value), value


def test_a_fuse_record_is_written_without_json() -> None:
    code = (
        "import sys; from pymeld.emit.attestation import canonical_json; "
        "t = canonical_json({'options': {'opaque_rep': ('a.b',), 'memory': 'multi', "
        "'component': False, 'dwarf': None}, 'adapters': 3, 'inputs': [{'name': 'é'}]}); "
        "print('json' in sys.modules, t)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.split(" ", 1)[0] == "False", p.stdout
