"""Build twice.wasm: one component instantiating the provider core module twice.

Used by build.sh. Component text cannot embed a module's binary, and printing and re-parsing
the module would re-encode its code (DWARF would no longer match), so the component is written
around a stand-in (the module with its custom sections stripped, same interface) and the core
module section is then replaced by the original bytes.
"""

import subprocess
import sys
from pathlib import Path

wt, core, out = sys.argv[1:4]


def uleb(v: int) -> bytes:
    b = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        b.append(byte | (0x80 if v else 0))
        if not v:
            return bytes(b)


def read_uleb(data: bytes, pos: int) -> tuple[int, int]:
    v = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        v |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return v, pos


stand_in = subprocess.run(
    [wt, "strip", "--all", core, "-t"], capture_output=True, text=True, check=True
).stdout
iface = "test:dwarf/calc@0.1.0#"
funcs = {
    "fib": '(param "n" u32) (result u64)',
    "checked-div": '(param "a" s32) (param "b" s32) (result s32)',
    "digest": '(param "seed" u32) (param "rounds" u32) (result u32)',
}
parts = [f"(component\n(core module $m {stand_in.strip()[len('(module') :]}"]
parts += ["(core instance $a (instantiate $m))", "(core instance $b (instantiate $m))"]
for inst in "ab":
    for name, sig in funcs.items():
        parts.append(
            f'(func ${name}-{inst} {sig} (canon lift (core func ${inst} "{iface}{name}")))'
            f'\n(export "{name}-{inst}" (func ${name}-{inst}))'
        )
parts.append(")")
wasm = subprocess.run(
    [wt, "parse", "-", "-o", "/dev/stdout"],
    input="\n".join(parts).encode(),
    capture_output=True,
    check=True,
).stdout
original = Path(core).read_bytes()
pos = 8
while pos < len(wasm):
    sid = wasm[pos]
    size, start = read_uleb(wasm, pos + 1)
    if sid == 1:  # the core module section: its payload is the whole module
        wasm = wasm[: pos + 1] + uleb(len(original)) + original + wasm[start + size :]
        break
    pos = start + size
else:
    sys.exit("no core module section")
subprocess.run([wt, "validate", "-"], input=wasm, check=True)
Path(out).write_bytes(wasm)
