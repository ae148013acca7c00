"""`pymeld.inspect` shows the structure users need to reason about a composition."""

from __future__ import annotations

import json
from pathlib import Path

from pymeld.codec.component import parse_component
from pymeld.inspect import inspect_tree, render_inspect


def test_py_compose_rich_has_two_guest_components(corpus_components: Path) -> None:
    path = corpus_components / "py-compose-rich" / "composed.wasm"
    info = render_inspect(path, json=True)
    assert isinstance(info, dict)
    json.dumps(info)  # JSON-able
    guests = info["components"]
    assert len(guests) == 2
    assert [len(g["core_modules"]) for g in guests] == [14, 14]
    assert all(m["size"] > 0 for g in guests for m in g["core_modules"])
    assert info["instances"] and info["exports"]


def test_calculator_enum_export(corpus_components: Path) -> None:
    data = (corpus_components / "repo-prebuilt" / "calculator.composed.wasm").read_bytes()
    info = inspect_tree(parse_component(data))
    calc = next(c for c in info["components"] if c["name"] == "calculator")
    inner = calc["components"][0]
    exports = {e["name"]: e["type"] for e in inner["exports"]}
    assert exports["op"] == "type = enum { add }"
    assert exports["eval-expression"] == "func(op: op, x: u32, y: u32) -> u32"
    imported = {i["name"]: i for i in calc["imports"]}
    assert imported["docs:adder/add@0.1.0"]["members"] == {"add": "func(x: u32, y: u32) -> u32"}
    lifts = [c for c in calc["canons"] if c["canon"] == "lift"]
    assert lifts and lifts[0]["type"] == "func(op: enum { add }, x: u32, y: u32) -> u32"
    assert [c["canon"] for c in calc["canons"]] == ["lower", "lift"]


def test_rendered_tree_text(corpus_components: Path) -> None:
    text = render_inspect(corpus_components / "repo-prebuilt" / "calculator.composed.wasm")
    assert isinstance(text, str)
    assert "component 1 $calculator" in text
    assert "core module 0: 14252 bytes" in text
    assert "instantiate component 1 with {docs:adder/add@0.1.0: instance 1}" in text
