"""`pymeld inspect` into a file or pipe prints its tree without rich (`pymeld.inspect.tree_lines`,
~20 ms of the command): the same characters rich prints for `rich_tree` there, for every corpus
component and for labels rich might treat specially; where it could differ (a label rich would
wrap, one that is not printable text) the CLI uses rich."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from pymeld.codec.component import parse_component
from pymeld.inspect import TreeNode, info_tree, inspect_tree, rich_tree, tree_lines
from support import REPO, shared_root

COMPONENTS = sorted(
    p
    for root in (shared_root() / "corpus" / "components", REPO / "examples", REPO / "tests")
    for p in root.rglob("*.wasm")
    if p.read_bytes()[4:8] == b"\x0d\x00\x01\x00"  # a component, not a core module
)


def _rich_text(info: dict, title: str, encoding: str = "utf-8") -> str:
    """What `pymeld inspect` printed with rich into a pipe (`cli._console` there)."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="\n")
    Console(file=out, highlight=False, width=10_000).print(rich_tree(info, title=title))
    out.flush()
    return raw.getvalue().decode(encoding, errors="replace")


@pytest.mark.parametrize("path", COMPONENTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_plain_tree_is_what_rich_prints(path: Path) -> None:
    data = path.read_bytes()
    info = inspect_tree(parse_component(data))
    title = f"{path} ({len(data)} bytes)"
    lines = tree_lines(info_tree(info, title))
    text = _rich_text(info, title)
    if lines is None:  # rich wraps a label: more lines than the tree has nodes
        assert text.count("\n") > _count(info_tree(info, title))
        return
    assert "\n".join(lines) + "\n" == text
    ascii_lines = tree_lines(info_tree(info, title), ascii_only=True)
    assert ascii_lines is not None
    assert "\n".join(ascii_lines) + "\n" == _rich_text(info, title, "ascii")


def _count(node: TreeNode) -> int:
    return 1 + sum(_count(c) for c in node.children)


def test_labels_up_to_the_width_are_plain() -> None:
    """A label just fitting beside its guides is one line in rich too; one more column wraps."""
    for extra, fits in ((0, True), (1, False)):
        n = 60 - 12 - len("f: ") + extra  # an import member: three guides deep
        info = _info(**{"sub": "s", "export": "e", "type": "t", "import": "i", "alias": "a"})
        info["imports"][0]["members"] = {"f": "x" * n}
        root = info_tree(info, "t")
        lines = tree_lines(root, width=60)
        assert (lines is not None) == fits
        raw = io.StringIO()
        Console(file=raw, highlight=False, width=60).print(rich_tree(info, title="t"))
        assert (raw.getvalue().count("\n") == _count(root)) == fits
        if lines is not None:
            assert "\n".join(lines) + "\n" == raw.getvalue()


def _info(**names: str) -> dict:
    """A small `inspect_tree`-shaped dict whose names are ``names``."""
    empty: dict = {
        "imports": [],
        "core_modules": [],
        "components": [],
        "core_instances": [],
        "instances": [],
        "aliases": [],
        "canons": [],
        "exports": [],
    }
    sub = {**empty, "index": 0, "name": names["sub"]}
    sub["exports"] = [{"name": names["export"], "sort": "func", "type": names["type"], "of": ""}]
    return {
        **empty,
        "imports": [{"name": names["import"], "sort": "instance", "members": {"f": "func()"}}],
        "components": [sub],
        "aliases": [{"defines": "func 0", "from": names["alias"]}],
    }


@pytest.mark.parametrize(
    "names",
    [
        {
            "sub": "[bold]x[/bold]",
            "export": "[green]",
            "type": "\\[x]",
            "import": "a:b",
            "alias": "z",
        },
        {"sub": "emoji :smile: :+1:", "export": ":cat:", "type": "t", "import": "q", "alias": "z"},
        {"sub": "wide 組件 ✓", "export": "e", "type": "func() ", "import": "i  ", "alias": "  z"},
    ],
    ids=["markup", "emoji-codes", "wide-and-spaces"],
)
def test_labels_rich_would_parse(names: dict[str, str]) -> None:
    info = _info(**names)
    lines = tree_lines(info_tree(info, "t [b]"))
    assert lines is not None and "\n".join(lines) + "\n" == _rich_text(info, "t [b]")
    for name in names.values():  # as written, in both
        assert name.strip() in "\n".join(lines)


def test_labels_rich_could_print_otherwise_fall_back() -> None:
    for odd in ("x" * 10_000, "tab\there", "line\nbreak", "\x1b[31mred", "組" * 5000):
        info = _info(**{"sub": "s", "export": odd, "type": "t", "import": "i", "alias": "a"})
        assert tree_lines(info_tree(info, "t")) is None
    assert tree_lines(TreeNode("x" * 10_001)) is None


def test_cli_prints_the_plain_tree_without_rich(tmp_path: Path) -> None:
    path = REPO / "examples" / "calculator.composed.wasm"
    probe = (
        "import sys; from pymeld.cli import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\n"
        "print('rich' in sys.modules, file=sys.stderr)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", probe, "inspect", str(path)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )
    assert p.returncode == 0 and p.stderr.strip() == "False", p.stderr
    data = path.read_bytes()
    info = inspect_tree(parse_component(data))
    assert p.stdout == _rich_text(info, f"{path} ({len(data)} bytes)")
