#!/usr/bin/env bash
# tests/bare-metal/setup.sh — what the bare-metal end-to-end test (tests/tests/bare_metal.rs)
# needs, installed and built OUTSIDE the network namespace (it needs the network):
#   - qemu-system-arm (apt, --no-install-recommends) for the mps2-an385 board;
#   - the thumbv7m-none-eabi (QEMU firmware) and thumbv6m-none-eabi (RP2040 build check)
#     Rust targets;
#   - the firmware's crates (`cargo fetch`) and the firmware itself, built into
#     target/baremetal, where the test looks for it (it rebuilds offline if stale).
# Idempotent; cheap when everything is there already.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
say() { printf '\033[1mbare-metal/setup.sh:\033[0m %s\n' "$*" >&2; }

if ! command -v qemu-system-arm >/dev/null; then
  if [ "${NW0_SEALED:-}" = 1 ]; then
    say "qemu-system-arm is missing and there is no network here (NW0_SEALED=1): run me outside the namespace"
    exit 1
  fi
  say "installing qemu-system-arm"
  SUDO=()
  [ "$(id -u)" = 0 ] || SUDO=(sudo)
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-arm
fi
rustup target add thumbv7m-none-eabi thumbv6m-none-eabi >/dev/null

cd "$ROOT/examples/mps2-an385"      # its .cargo/config.toml picks the target and linker script
cargo fetch
CARGO_TARGET_DIR="$ROOT/target/baremetal" cargo build --release
say "firmware: $ROOT/target/baremetal/thumbv7m-none-eabi/release/nw0-mps2-an385"
# The keyed build, with the passphrase tests/tests/bare_metal.rs gives it.
NW0_CLASS_KEY="correct horse battery staple" CARGO_TARGET_DIR="$ROOT/target/baremetal-keyed" \
  cargo build --release --features curve
say "keyed firmware: $ROOT/target/baremetal-keyed/thumbv7m-none-eabi/release/nw0-mps2-an385"
