#!/usr/bin/env bash
# tests/bare-metal/footprint.sh — flash and static RAM of the mps2-an385 firmware with
# and without networkzero (feature `networkzero`), release profile (opt-level "s", LTO).
# The baseline (--no-default-features) is the same driver and smoltcp with one UDP and
# one TCP echo socket, so the difference is networkzero's code (core + adapter + app).
# Flash = .vector_table + .text + .rodata + .data (load image); static RAM = .data + .bss.
# The firmware keeps the node and its buffers in main's stack frame (no statics): the
# firmware prints those sizes at boot ("RAM node … B").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT/examples/mps2-an385"
export CARGO_TARGET_DIR="$ROOT/target/baremetal"
ELF="$CARGO_TARGET_DIR/thumbv7m-none-eabi/release/nw0-mps2-an385"
SIZE="$(command -v llvm-size || command -v arm-none-eabi-size || true)"
[ -n "$SIZE" ] || { echo "footprint.sh: needs llvm-size or arm-none-eabi-size" >&2; exit 1; }

measure() {
  "$SIZE" -A "$ELF" | awk '
    /^\.vector_table|^\.text|^\.rodata/ { flash += $2 }
    /^\.data/ { flash += $2; ram += $2 }
    /^\.bss|^\.uninit/ { ram += $2 }
    END { printf "flash %d B (%.1f KiB), static RAM %d B\n", flash, flash/1024, ram }'
}

cargo build --release --quiet --no-default-features
printf 'without networkzero: '; measure
cargo build --release --quiet
printf 'with networkzero:    '; measure
