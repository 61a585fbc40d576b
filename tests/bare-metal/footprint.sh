#!/usr/bin/env bash
# tests/bare-metal/footprint.sh — flash and static RAM of the mps2-an385 firmware with
# and without networkzero (feature `networkzero`), release profile (opt-level "s", LTO).
# The baseline (--no-default-features) is the same driver and smoltcp with one UDP and
# one TCP echo socket, so the difference is networkzero's code (core + adapter + app).
# Flash = .vector_table + .text + .rodata + .data (load image); static RAM = .data + .bss.
# The firmware keeps the node and its buffers in main's stack frame (no statics): the
# firmware prints those sizes at boot ("RAM node … B").
# Fails when networkzero's part outgrows its budget (below). The keyed build (feature
# `curve`: CURVE, the class keys and the node's keyed path, 384-byte ZMTP buffers) is
# measured too, into target/baremetal-keyed, with what the key adds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT/examples/mps2-an385"
export CARGO_TARGET_DIR="$ROOT/target/baremetal"
ELF="$CARGO_TARGET_DIR/thumbv7m-none-eabi/release/nw0-mps2-an385"
SIZE="$(command -v llvm-size || command -v arm-none-eabi-size || true)"
[ -n "$SIZE" ] || { echo "footprint.sh: needs llvm-size or arm-none-eabi-size" >&2; exit 1; }

# The budget for networkzero's part, checked on every run so CI fails when a change
# makes it outgrow it: today's size and a margin (2026-11-29: 58 364 B = 57.0 KiB of
# flash, 0 B of static RAM; the node and its buffers are on main's stack, which the
# firmware prints at boot).
BUDGET_FLASH=$((64 * 1024))
BUDGET_RAM=1024

# "FLASH RAM" in bytes.
sizes() {
  "$SIZE" -A "$ELF" | awk '
    /^\.vector_table|^\.text|^\.rodata/ { flash += $2 }
    /^\.data/ { flash += $2; ram += $2 }
    /^\.bss|^\.uninit/ { ram += $2 }
    END { printf "%d %d\n", flash, ram }'
}
show() { awk -v l="$1" -v f="$2" -v r="$3" \
  'BEGIN { printf "%-21s flash %d B (%.1f KiB), static RAM %d B\n", l, f, f/1024, r }'; }

cargo build --release --quiet --no-default-features
read -r base_flash base_ram < <(sizes)
show "without networkzero:" "$base_flash" "$base_ram"
cargo build --release --quiet
read -r flash ram < <(sizes)
show "with networkzero:" "$flash" "$ram"
show "networkzero's part:" $((flash - base_flash)) $((ram - base_ram))
if [ $((flash - base_flash)) -gt "$BUDGET_FLASH" ] || [ $((ram - base_ram)) -gt "$BUDGET_RAM" ]; then
  echo "footprint.sh: OVER BUDGET: networkzero's part of the mps2-an385 firmware must stay within $BUDGET_FLASH B of flash and $BUDGET_RAM B of static RAM" >&2
  exit 1
fi
export CARGO_TARGET_DIR="$ROOT/target/baremetal-keyed"
ELF="$CARGO_TARGET_DIR/thumbv7m-none-eabi/release/nw0-mps2-an385"
NW0_CLASS_KEY="correct horse battery staple" cargo build --release --quiet --features curve
read -r keyed_flash keyed_ram < <(sizes)
show "keyed (CURVE):" "$keyed_flash" "$keyed_ram"
show "the key's part:" $((keyed_flash - flash)) $((keyed_ram - ram))
