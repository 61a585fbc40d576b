#!/usr/bin/env bash
# examples/curve-footprint/footprint.sh — the flash and static RAM that CURVE adds to
# RP2040 firmware with the Pico W robot's three server connections (see src/main.rs):
# the same image built with NULL, with the class key (`--features class-key`: the
# advert key, HMAC-SHA256, which every keyed robot carries) and with CURVE
# (`--features curve`), release profile (opt-level "s", LTO). Fails if CURVE's part
# (over the class key) exceeds its budget (issue 17): 24 KiB flash, 4 KiB static RAM.
# Flash = .vector_table + .text + .rodata + .data (load image); static RAM = .data +
# .bss + .uninit. The stack is not counted. About a minute.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export CARGO_TARGET_DIR="$ROOT/target/curve-footprint"
ELF="$CARGO_TARGET_DIR/thumbv6m-none-eabi/release/curve-footprint"

rustup target add thumbv6m-none-eabi >/dev/null
SIZE="$(command -v llvm-size || true)"
if [ -z "$SIZE" ]; then
  rustup component add llvm-tools >/dev/null
  SIZE="$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size 2>/dev/null | head -n1 || true)"
fi
[ -n "$SIZE" ] || { echo "footprint.sh: no llvm-size" >&2; exit 1; }

measure() {
  "$SIZE" -A "$ELF" | awk '
    /^\.vector_table|^\.text|^\.rodata/ { flash += $2 }
    /^\.data/ { flash += $2; ram += $2 }
    /^\.bss|^\.uninit/ { ram += $2 }
    END { print flash, ram }'
}
show() { awk -v l="$1" -v f="$2" -v r="$3" \
  'BEGIN { printf "%-26s flash %7d B (%5.1f KiB), static RAM %6d B (%4.1f KiB)\n", l, f, f/1024, r, r/1024 }'; }

cd "$HERE"
cargo build --release --quiet
read -r null_flash null_ram < <(measure)
cargo build --release --quiet --features class-key
read -r key_flash key_ram < <(measure)
cargo build --release --quiet --features curve
read -r curve_flash curve_ram < <(measure)
show "3 connections, NULL:" "$null_flash" "$null_ram"
show "+ class key (adverts):" "$key_flash" "$key_ram"
show "+ CURVE:" "$curve_flash" "$curve_ram"
show "the class key's part:" $((key_flash - null_flash)) $((key_ram - null_ram))
show "CURVE's part:" $((curve_flash - key_flash)) $((curve_ram - key_ram))
show "both:" $((curve_flash - null_flash)) $((curve_ram - null_ram))
if [ $((curve_flash - key_flash)) -gt $((24 * 1024)) ] || [ $((curve_ram - key_ram)) -gt $((4 * 1024)) ]; then
  echo "footprint.sh: OVER BUDGET: CURVE must add at most 24 KiB flash and 4 KiB static RAM" >&2
  exit 1
fi
