#!/usr/bin/env bash
# examples/pico-w-robot/build.sh — builds the Pico W robot firmware to a .uf2 and
# prints its flash and static RAM, with and without networkzero; fails if networkzero's
# part outgrows its budget (48 KiB flash, 16 KiB static RAM). Then the keyed robots
# (passphrase from NW0_CLASS_KEY or a placeholder): sealed adverts only (feature
# class-key) and CURVE too (feature curve); fails if CURVE's part, the second over the
# first, outgrows its budget (issue #17: 24 KiB flash, 4 KiB static RAM).
#
#   WIFI_SSID=… WIFI_PASSWORD=… CYW43_NVRAM=/path/to/nvram_rp2040.bin \
#     examples/pico-w-robot/build.sh          # a .uf2 to flash (see README.md)
#   examples/pico-w-robot/build.sh --placeholder-blobs
#                                             # CI: empty CYW43 blobs, no Wi-Fi at run time
#
# Without CYW43_NVRAM it builds with placeholder blobs and says so. Installs what
# it needs (the thumbv6m-none-eabi target; llvm-tools if no llvm-size is found).
# Output: target/pico/pico-w-robot.uf2 (and the ELF under target/pico/thumbv6m-none-eabi/release/).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export CARGO_TARGET_DIR="$ROOT/target/pico"
ELF="$CARGO_TARGET_DIR/thumbv6m-none-eabi/release/pico-w-robot"
UF2="$CARGO_TARGET_DIR/pico-w-robot.uf2"
say() { printf 'pico-w-robot/build.sh: %s\n' "$*" >&2; }

blobs=""
if [ "${1:-}" = "--placeholder-blobs" ] || [ -z "${CYW43_NVRAM:-}" ]; then
  blobs="placeholder-blobs"
  say "NOTE: linking EMPTY placeholder CYW43 blobs: this .uf2 boots but cannot bring up Wi-Fi."
  say "      For a working one set CYW43_NVRAM (and WIFI_SSID, WIFI_PASSWORD); see README.md."
elif [ -z "${WIFI_SSID:-}" ]; then
  say "NOTE: WIFI_SSID is not set: the firmware will have no network to join."
fi

rustup target add thumbv6m-none-eabi >/dev/null
SIZE="$(command -v llvm-size || true)"
if [ -z "$SIZE" ]; then
  rustup component add llvm-tools >/dev/null
  SIZE="$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size 2>/dev/null | head -n1 || true)"
fi
[ -n "$SIZE" ] || { say "no llvm-size (rustup component add llvm-tools failed?)"; exit 1; }

# Flash = everything loaded into flash (boot2, vectors, code, constants, .data's
# initial values); static RAM = .data + .bss + .uninit (embassy tasks, whose
# futures hold the node and its buffers, live in .bss). The stack is not counted.
# Prints "FLASH RAM" in bytes.
measure() {
  "$SIZE" -A "$ELF" | awk '
    /^\.boot2|^\.vector_table|^\.text|^\.rodata/ { flash += $2 }
    /^\.data/ { flash += $2; ram += $2 }
    /^\.bss|^\.uninit/ { ram += $2 }
    END { print flash, ram }'
}
show() { awk -v l="$1" -v f="$2" -v r="$3" \
  'BEGIN { printf "%-24s flash %7d B (%6.1f KiB), static RAM %6d B (%5.1f KiB)\n", l, f, f/1024, r, r/1024 }'; }

# Fails the build, saying what outgrew which budget, if FLASH or RAM (bytes)
# is over MAX_FLASH or MAX_RAM (KiB).
budget() { # WHAT FLASH RAM MAX_FLASH MAX_RAM
  if [ "$2" -gt $(($4 * 1024)) ] || [ "$3" -gt $(($5 * 1024)) ]; then
    say "OVER BUDGET: $1 must stay within $4 KiB flash and $5 KiB static RAM"
    exit 1
  fi
  say "$1 is within its budget ($4 KiB flash, $5 KiB static RAM)"
}

cd "$HERE"
start=$SECONDS
cargo build --release --features "baseline $blobs"
read -r base_flash base_ram < <(measure)
# The keyed robots before the unkeyed one, whose ELF the .uf2 is made from; all
# stay cached, so each later build only relinks.
key="${NW0_CLASS_KEY:-footprint placeholder passphrase}"
NW0_CLASS_KEY="$key" cargo build --release --features "class-key $blobs"
read -r sealed_flash sealed_ram < <(measure)
NW0_CLASS_KEY="$key" cargo build --release --features "curve $blobs"
read -r keyed_flash keyed_ram < <(measure)
cargo build --release --features "$blobs"
read -r flash ram < <(measure)
say "built in $((SECONDS - start)) s (blobs: ${blobs:-real})"
show "without networkzero:" "$base_flash" "$base_ram"
show "with networkzero:" "$flash" "$ram"
show "networkzero's part:" $((flash - base_flash)) $((ram - base_ram))
# The budget for networkzero's part (issue #6): 48 KiB flash, 16 KiB static RAM.
# Checked on every build, so CI fails when a change makes the robot outgrow it.
budget "networkzero's part" $((flash - base_flash)) $((ram - base_ram)) 48 16

# The class key's advert part (HMAC-SHA256, HKDF) is reported; CURVE's part, the
# keyed robot over the one with sealed adverts only (the X25519 and
# XSalsa20-Poly1305 code, the node's keyed path, the larger CURVE buffers), has
# issue #17's budget: 24 KiB flash, 4 KiB static RAM.
show "class key, adverts only:" "$sealed_flash" "$sealed_ram"
show "the advert key's part:" $((sealed_flash - flash)) $((sealed_ram - ram))
show "keyed (feature curve):" "$keyed_flash" "$keyed_ram"
show "CURVE's part:" $((keyed_flash - sealed_flash)) $((keyed_ram - sealed_ram))
budget "CURVE's part" $((keyed_flash - sealed_flash)) $((keyed_ram - sealed_ram)) 24 4

python3 "$HERE/uf2.py" "$ELF" "$UF2"
say "done: $UF2 (hold BOOTSEL, plug in, copy it to the RPI-RP2 drive)"
