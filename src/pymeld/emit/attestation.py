"""The ``pymeld.attestation`` custom section: what was fused, by which tool, with which options.

The record is compact JSON with sorted keys and no timestamp or random id, so the same inputs
and options give the same bytes (a build can be checked by rebuilding it). It binds itself to
the code it describes through ``output.code_sha256``:

    SHA-256 of the fused core module's bytes with every ``pymeld.attestation`` custom section
    removed (section id byte, size, name and payload).

pymeld appends the section last, so that is exactly the module as encoded before attesting.
For a ``--component`` output the hash is of the embedded fused core module; the wrapper
around it is derived from the inputs' interface and carries no code of its own.
Verification (``pymeld inspect``) recomputes the hash from the file, so any edit to the code,
data, imports or exports after fusion is detected. It is an integrity record, not a signature.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from pymeld import __version__
from pymeld._dataclass import dataclass
from pymeld.codec.binary import Reader, uleb
from pymeld.codec.core.model import CustomSection, SectionId
from pymeld.errors import DecodeError

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "SECTION",
    "Attestation",
    "attestation_section",
    "code_sha256",
    "find_attestations",
    "make_record",
]

SECTION = "pymeld.attestation"
FORMAT = "pymeld.attestation/1"
HASH_DEFINITION = (
    "sha256 of the fused core module bytes with the pymeld.attestation custom section removed"
)


def _sections(module: bytes) -> list[tuple[str | None, int, int]]:
    """``(custom name or None, start, end)`` of each section of a core module, by bytes alone."""
    r = Reader(module, 8, section="module")
    out: list[tuple[str | None, int, int]] = []
    while not r.eof():
        start = r.pos
        sid = r.byte()
        body = r.sub(r.u32())
        out.append((body.name() if sid == 0 else None, start, r.pos))
    return out


#: Below this many bytes, CPython's built-in SHA-256 (`_sha2`/`_sha256`) is used: importing
#: `hashlib` loads OpenSSL, which costs more than its faster hashing saves on small inputs.
BUILTIN_SHA256_BELOW = 1 << 20


def _sha256(size: int) -> Any:
    """A SHA-256 constructor for ``size`` bytes of data (every choice gives the same digest)."""
    if size < BUILTIN_SHA256_BELOW:
        builtin = _builtin_sha256()
        if builtin is not None:
            return builtin
    import hashlib

    return hashlib.sha256


def _builtin_sha256() -> Any:
    """CPython's own SHA-256 constructor, or None without one; found once: a fusion hashes
    its input and its output, and each failed import of the other version's module name
    searched every ``sys.path`` entry (~1 M instructions of a small fuse)."""
    global _BUILTIN_SHA256
    if _BUILTIN_SHA256 is _UNSEARCHED:
        from importlib import import_module

        _BUILTIN_SHA256 = None
        # the module's name in this version first (3.12 merged `_sha256` into `_sha2`)
        names = ("_sha2", "_sha256") if sys.version_info >= (3, 12) else ("_sha256", "_sha2")
        for name in names:
            try:
                _BUILTIN_SHA256 = import_module(name).sha256
                break
            except (ImportError, AttributeError):
                continue
    return _BUILTIN_SHA256


_UNSEARCHED: Any = object()
_BUILTIN_SHA256: Any = _UNSEARCHED


def code_sha256(module: bytes | list[bytes | bytearray]) -> str:
    """The attested hash of a core module (see the module docstring for the definition).

    ``module`` may be the parts its encoding is joined from, when it has no attestation
    section: hashing them is hashing the module, without a copy of it."""
    if isinstance(module, list):
        h = _sha256(sum(map(len, module)))()
        for part in module:
            h.update(part)
        return h.hexdigest()
    h = _sha256(len(module))()
    pos = 0
    view = memoryview(module)  # slices of a view are not copies (the module can be 40 MB)
    for name, start, end in _sections(module):
        if name == SECTION:
            h.update(view[pos:start])
            pos = end
    h.update(view[pos:])
    return h.hexdigest()


def make_record(
    *,
    inputs: list[tuple[str, bytes]],
    options: dict[str, Any],
    components: list[str],
    module_instances: list[str],
    adapters: int,
) -> dict[str, Any]:
    """The attestation record minus ``output`` (filled in by `attestation_section`)."""
    return {
        "format": FORMAT,
        "tool": {"name": "pymeld", "version": __version__},
        "transformation": "fusion",
        "options": dict(sorted(options.items())),
        "inputs": [
            {"name": name, "sha256": _sha256(len(data))(data).hexdigest(), "size": len(data)}
            for name, data in inputs
        ],
        "components": components,
        "module_instances": module_instances,
        "adapters": adapters,
    }


def _encode(record: dict[str, Any]) -> bytes:
    return canonical_json(record).encode()


def canonical_json(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.

    Written out for the record's own types (dicts with string keys, lists and tuples, strings,
    ints, bools, None), with strings escaped by the `json` package's own C escaper: importing
    `json` compiles regular expressions its encoder and decoder need, 1.6 % of a small
    fusion's instructions. Any other value is left to `json` itself, so the text is always its
    text.
    """
    try:
        from _json import encode_basestring as escape
    except ImportError:  # a Python without the accelerator: json's own answer
        return _json_dumps(value)
    out: list[str] = []
    add = out.append

    def put(v: Any) -> None:
        if isinstance(v, str):
            add(escape(v))
        elif v is None:
            add("null")
        elif v is True:
            add("true")
        elif v is False:
            add("false")
        elif type(v) is int:
            add(int.__repr__(v))
        elif type(v) is dict and all(type(k) is str for k in v):
            add("{")
            for i, k in enumerate(sorted(v)):
                if i:
                    add(",")
                add(escape(k))
                add(":")
                put(v[k])
            add("}")
        elif type(v) is list or type(v) is tuple:  # json writes a tuple as an array
            add("[")
            for i, item in enumerate(v):
                if i:
                    add(",")
                put(item)
            add("]")
        else:
            add(_json_dumps(v))

    put(value)
    return "".join(out)


def _json_dumps(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def attestation_section(
    record: dict[str, Any], module: bytes | list[bytes | bytearray]
) -> CustomSection:
    """The section attesting ``module`` (the fused core module encoded without it, or the
    parts of that encoding: see `code_sha256`)."""
    full = {
        **record,
        "output": {
            "code_sha256": code_sha256(module),
            "code_size": sum(map(len, module)) if isinstance(module, list) else len(module),
            "hash_of": HASH_DEFINITION,
        },
    }
    return CustomSection(SECTION, _encode(full), after=SectionId.DATA)


def section_bytes(section: CustomSection) -> bytes:
    """The encoded custom section (id, size, name, payload): what the encoder appends."""
    name = section.name.encode()
    payload = uleb(len(name)) + name + bytes(section.data)
    return b"\x00" + uleb(len(payload)) + payload


@dataclass
class Attestation:
    """An attestation found in a file, with the result of recomputing the code hash."""

    where: str  # "core module" or "core module #k of the component"
    record: dict[str, Any] | None
    recorded: str | None
    actual: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.recorded == self.actual


def _from_module(module: bytes, where: str) -> list[Attestation]:
    found: list[Attestation] = []
    for name, start, end in _sections(module):
        if name != SECTION:
            continue
        r = Reader(module, start + 1)
        r.u32()
        r.name()
        payload = module[r.pos : end]
        actual = code_sha256(module)
        import json

        try:
            record = json.loads(payload)
            recorded = record["output"]["code_sha256"]
        except (ValueError, KeyError, TypeError) as e:
            found.append(Attestation(where, None, None, actual, f"unreadable record: {e}"))
            continue
        found.append(Attestation(where, record, recorded, actual))
    return found


def find_attestations(data: bytes, *, file: str | None = None) -> list[Attestation]:
    """Every attestation in a core module, or in any core module nested in a component."""
    from pymeld.api import core_module_sections, is_component

    try:
        if not is_component(data):
            return _from_module(data, "core module")
        from pymeld.codec.component import parse_component

        found: list[Attestation] = []
        for k, section in enumerate(core_module_sections(parse_component(data, file=file))):
            found.extend(_from_module(bytes(section.data), f"core module #{k} of the component"))
        return found
    except DecodeError:
        return []
