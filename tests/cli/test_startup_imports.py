"""Start-up: `pymeld fuse` loads only what the composition needs (issue 12: small inputs in tens
of milliseconds are mostly imports). Each case runs the CLI in a fresh interpreter, stderr not a
terminal, and lists the modules that running it added to ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO, shared_root

CALCULATOR = REPO / "examples" / "calculator.composed.wasm"
#: One component, no cross-component call: fused without an adapter.
NO_ADAPTERS = shared_root() / "corpus" / "components" / "c-compose-text" / "cprovider.wasm"
C_COMPOSE_TEXT = NO_ADAPTERS.with_name("composed.wasm")

PROBE = """
import json, sys
before = set(sys.modules)
from pymeld.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "new": sorted(set(sys.modules) - before)}))
"""

#: Never on a plain `fuse X -o Y` of a composition without DWARF, resources or async.
NEVER = (
    "rich",
    "pymeld.dwarf",
    "pymeld.resources.boundary",
    "pymeld.merge.asyncfuse",
    "pymeld.merge.asynctask",
    "pymeld.split",
    "pymeld.wrap",
    "pymeld.verify",
    "pymeld.emit.dot",
    "pymeld.emit.validate",
    "pymeld.emit.report",
    "pymeld.emit.names",
    "pymeld.merge.memory",
    "pymeld.inspect",
    "pymeld.compose",
    "pymeld.codec.component.encode",
    "wasmtime",
    "multiprocessing",
    "tempfile",
    "pathlib",
    "traceback",
    "hashlib",
    "concurrent",
    "pymeld.interface",
    "pymeld.resources.opaque",
    "pymeld.resources.tables",  # in-module handle tables: made when a handle first needs one
    "pymeld.resources.space",
    "pymeld.codec.component.coretypes",  # core types inside a component: wit-component has none
    "pymeld.codec.component.parse_coretypes",
    "pymeld.codec.component.builder",  # building components: the wrapper's, not the parser's
    "pymeld.codec.component.rareitems",  # stream/future/map types, values, start sections
    "pymeld.codec.core.gctypes",  # GC struct/array types: no corpus module declares one
    "struct",
)


def _new_modules(*argv: str) -> list[str]:
    p = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.splitlines()[-1])
    assert out["code"] == 0, p.stderr
    return list(out["new"])


def _loaded(mods: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in mods if any(m == p or m.startswith(p + ".") for p in prefixes)]


def test_fuse_loads_only_what_it_uses(tmp_path: Path) -> None:
    mods = _new_modules("fuse", str(CALCULATOR), "-o", str(tmp_path / "out.wasm"))
    assert _loaded(mods, NEVER) == []
    assert "pymeld.abi.adapter" in mods  # the calculator has cross-component calls
    assert "pymeld.merge.merger" in mods  # the probe does see the fuse path


#: Where a composition's strings are all UTF-8, nothing transcodes them.
TRANSCODING = ("pymeld.abi.transcode", "pymeld.abi.ascii_blocks")
UTF8_UTF16 = NO_ADAPTERS.parents[1] / "repo-prebuilt" / "jco-utf8-utf16.composed.wasm"


@pytest.mark.parametrize(
    ("path", "transcodes"),
    [(CALCULATOR, False), (C_COMPOSE_TEXT, False), (UTF8_UTF16, True)],
    ids=["calculator", "c-compose-text", "jco-utf8-utf16"],
)
def test_transcoding_loads_only_where_strings_change_encoding(
    tmp_path: Path, path: Path, transcodes: bool
) -> None:
    """The adapter generator loads `pymeld.abi.transcode` at the first string stored in
    another encoding (jco-utf8-utf16 passes UTF-8 strings to UTF-16 and back)."""
    if not path.exists():
        pytest.skip(f"{path} not present")
    mods = _new_modules("fuse", str(path), "-o", str(tmp_path / "out.wasm"))
    assert "pymeld.abi.adapter" in mods
    assert sorted(_loaded(mods, TRANSCODING)) == (sorted(TRANSCODING) if transcodes else [])


def test_inspect_loads_no_core_type_classes() -> None:
    """`inspect` walks every section's items (`item_sort`) without loading the core type
    classes a composition without core types never makes."""
    mods = _new_modules("inspect", str(CALCULATOR))
    assert _loaded(mods, ("pymeld.codec.component.coretypes",)) == []
    assert "pymeld.inspect" in mods


def test_core_types_load_where_a_component_declares_them() -> None:
    """A component with a core type section reads it (the readers and classes load then), and
    its core types count in the core type index space."""
    from pymeld.codec.component import model as cm
    from pymeld.codec.component import parse_component

    # (component (core type (func (param i32))) (core type (module (export "f" (func)))))
    data = bytes.fromhex("0061736d0d000100030c0260017f0050010301660000")
    comp = parse_component(data)
    (section,) = comp.sections
    assert isinstance(section, cm.CoreTypeSection)
    rec, module_type = section.items
    assert isinstance(rec, cm.CoreRecType) and isinstance(module_type, cm.CoreModuleType)
    assert rec.subtypes[0].comp == cm.CoreFuncType([0x7F], [])
    assert [s for s, _ in cm.defined_sorts(section)] == [cm.CoreSort.TYPE] * 2
    assert cm.item_sort(module_type) is cm.CoreSort.TYPE
    assert cm.item_sort(cm.CoreTypeDeclarator(rec)) is cm.CoreSort.TYPE


def test_the_model_lends_exactly_the_core_type_classes() -> None:
    """`model.CORE_TYPE_NAMES` (what the model hands out without loading `coretypes`) is the
    list `coretypes` exports: a class added to one and not the other would not be found."""
    from pymeld.codec.component import coretypes
    from pymeld.codec.component import model as cm

    assert set(coretypes.__all__) == cm.CORE_TYPE_NAMES
    for name in coretypes.__all__:
        assert getattr(cm, name) is getattr(coretypes, name)


def test_the_model_lends_exactly_the_rare_items() -> None:
    """`model.RARE_ITEM_NAMES` is the list `rareitems` exports, each importable from the model
    and the package as before the classes moved."""
    from pymeld.codec import component
    from pymeld.codec.component import model as cm
    from pymeld.codec.component import rareitems

    assert set(rareitems.__all__) == cm.RARE_ITEM_NAMES
    for name in rareitems.__all__:
        assert getattr(cm, name) is getattr(component, name) is getattr(rareitems, name)
    assert cm.RARE_ITEM_NAMES.isdisjoint(cm.CORE_TYPE_NAMES)


def test_rare_items_load_where_a_component_has_them() -> None:
    """A component with a map type, a stream type, a name attribute, a start and a value section
    reads them (their module loads then), counts their indices and encodes them back."""
    from pymeld.codec.component import encode_component, parse_component
    from pymeld.codec.component import model as cm

    # A type section (map<u32, string>, stream<u8>, future), an import named "a:b/c" with the
    # attribute implements="x:y/z", a start section (func 0, no arguments, one result) and a
    # value section (u32 42): decoded production by production, not validated.
    body = bytes.fromhex("0363797366017d6500")  # map<u32,string>, stream<u8>, future
    types = bytes([7, len(body)]) + body
    imp = b"\x01\x02\x05a:b/c\x01\x00\x05x:y/z\x01\x00"  # attribute `implements`, func type 0
    imports = bytes([10, len(imp)]) + imp
    start = bytes([9, 3, 0, 0, 1])  # func 0, no args, one result
    value = bytes([12, 4, 1, 0x79, 1, 0x2A])  # one u32 value 42
    data = bytes.fromhex("0061736d0d000100") + types + imports + start + value
    comp = parse_component(data)
    ts, im, st, vs = comp.sections
    assert ts.items == [
        cm.MapType(cm.Prim.U32, cm.Prim.STRING),
        cm.StreamType(cm.Prim.U8),
        cm.FutureType(None),
    ]
    assert im.items[0].name.attributes == [cm.Attribute(cm.AttributeKind.IMPLEMENTS, "x:y/z")]
    assert st == cm.StartSection(0, [], 1)
    assert vs == cm.ValueSection([cm.Value(cm.Prim.U32, b"\x2a")])
    assert [s for s, _ in cm.defined_sorts(ts)] == [cm.ComponentSort.TYPE] * 3
    assert [s for s, _ in cm.defined_sorts(st)] == [cm.ComponentSort.VALUE]
    assert [s for s, _ in cm.defined_sorts(vs)] == [cm.ComponentSort.VALUE]
    assert encode_component(comp) == data


def test_the_core_model_lends_exactly_the_gc_types() -> None:
    from pymeld.codec.core import gctypes
    from pymeld.codec.core import model as km

    assert set(gctypes.__all__) == km.GC_TYPE_NAMES
    for name in gctypes.__all__:
        assert getattr(km, name) is getattr(gctypes, name)


def test_gc_types_load_where_a_module_declares_them() -> None:
    """A core module with a struct and an array type reads them (their module loads then),
    encodes them back and remaps their type indices."""
    from pymeld.codec.core import encode_module, parse_module
    from pymeld.codec.core import model as km
    from pymeld.codec.core.instructions import remap_rec_group

    # type section: (struct (field (mut i32))) (array (field i8)), then a struct of a ref to 0
    data = bytes.fromhex("0061736d01000000010d035f017f015e78005f01630000")
    module = parse_module(data)
    struct, array, _ = (g.types[0].composite for g in module.types)
    assert struct == km.StructType([km.FieldType(km.NumType.I32, True)])
    assert array == km.ArrayType(km.FieldType(km.PackedType.I8, False))
    assert encode_module(module) == data
    (moved,) = remap_rec_group(module.types[2], lambda i: i + 5).types
    assert isinstance(moved.composite, km.StructType)
    assert moved.composite.fields[0].storage.heap.index == 5
    assert remap_rec_group(module.types[1], lambda i: i + 5).types[0].composite == array


def test_fuse_without_adapters_skips_the_adapter_generator(tmp_path: Path) -> None:
    if not NO_ADAPTERS.exists():
        pytest.skip(f"{NO_ADAPTERS} not present")
    mods = _new_modules("fuse", str(NO_ADAPTERS), "-o", str(tmp_path / "out.wasm"))
    assert _loaded(mods, (*NEVER, "pymeld.abi.adapter")) == []


@pytest.mark.parametrize("path", [CALCULATOR, C_COMPOSE_TEXT], ids=lambda p: p.parent.name)
def test_component_output_loads_the_encoder_and_wrapper(tmp_path: Path, path: Path) -> None:
    """The lazy imports are where they are used: --component still finds them. Copying the
    root's import declarations (c-compose-text imports instances of declared types) and
    encoding the wrapper touch no core type classes (a composition without core types has
    none); instances that export no types need no ascription."""
    if not path.exists():
        pytest.skip(f"{path} not present")
    out = tmp_path / "out.wasm"
    mods = _new_modules("fuse", str(path), "--component", "-o", str(out))
    assert "pymeld.wrap.wrapper" in mods and "pymeld.codec.component.encode" in mods
    assert out.read_bytes()[4:8] == b"\x0d\x00\x01\x00"
    never = ("pymeld.codec.component.coretypes", "pymeld.codec.component.parse_coretypes")
    never += ("pymeld.codec.component.rareitems",)  # copying flags/enum types asks for none
    never += ("pymeld.wrap.ascribe",)  # neither exports a type
    assert _loaded(mods, never) == []


def test_component_output_copies_types_without_rare_items(tmp_path: Path) -> None:
    """cprovider's root declares types the interface copy passes through unchanged (neither
    stream, future nor map): asking whether one is must not load their classes."""
    if not NO_ADAPTERS.exists():
        pytest.skip(f"{NO_ADAPTERS} not present")
    mods = _new_modules("fuse", str(NO_ADAPTERS), "--component", "-o", str(tmp_path / "o.wasm"))
    assert "pymeld.interface" in mods
    assert _loaded(mods, ("pymeld.codec.component.rareitems",)) == []


def test_help_loads_neither_typing_nor_signal() -> None:
    """The CLI module itself needs no `typing` (annotations only) and takes SIGTERM through
    `_signal` (the `signal` module adds only enum classes); `pymeld.api` loads with a command."""
    mods = _new_modules("--help")
    assert _loaded(mods, ("typing", "signal", "pymeld.api", "pymeld.fuse")) == []


def test_version_loads_no_fusion_stage() -> None:
    mods = _new_modules("--version")
    assert _loaded(mods, ("pymeld.fuse", "pymeld.merge", "pymeld.graph", "pymeld.codec")) == []


@pytest.mark.parametrize("size", [0, 1, 1000, (1 << 20) - 1, 1 << 20, (1 << 20) + 7])
def test_attestation_sha256_either_way(size: int) -> None:
    """Small data is hashed without `hashlib` (no OpenSSL load); the digests are the same."""
    import hashlib
    import os

    from pymeld.emit.attestation import _sha256

    data = os.urandom(size)
    assert _sha256(size)(data).hexdigest() == hashlib.sha256(data).hexdigest()
    h = _sha256(size)()
    h.update(data[:3])
    h.update(memoryview(data)[3:])
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()


def test_attestation_sha256_is_found_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in constructor is looked up once per process: a fusion hashes its input and
    its output, and a failed import of the other Python version's module name searched every
    path entry each time."""
    import importlib

    from pymeld.emit import attestation

    first = attestation._sha256(10)
    calls: list[str] = []
    real = importlib.import_module

    def counting(name: str, package: str | None = None) -> object:
        calls.append(name)
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", counting)
    assert attestation._sha256(10) is first
    assert attestation.code_sha256(b"\0asm\1\0\0\0") == attestation.code_sha256([b"\0asm\1\0\0\0"])
    assert calls == []


def test_console_entry_tunes_the_collector_then_runs_the_cli() -> None:
    """``pymeld`` enters through `pymeld.__main__`: the cyclic collector's thresholds are raised
    before the CLI loads (a library import of `pymeld` leaves them alone)."""
    code = (
        "import gc; d = gc.get_threshold(); import pymeld, pymeld.cli; assert gc.get_threshold()"
        " == d; import pymeld.__main__ as m; print(gc.get_threshold())"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.split() == ["(500000,", "30,", "30)"]
    p = subprocess.run(
        [sys.executable, "-m", "pymeld", "--version"], capture_output=True, text=True, cwd=REPO
    )
    assert (p.returncode, p.stdout.strip()) == (0, "pymeld 0.1.0")
