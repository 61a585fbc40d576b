#!/usr/bin/env bash
# tests/cross/libzmq.sh — cross-builds the networkzero crate and the nw0 CLI with the
# DEFAULT transport (the zmq crate's vendored libzmq, built from C++ source) for
# Raspberry Pi OS 64-bit (aarch64-unknown-linux-gnu) and 32-bit
# (armv7-unknown-linux-gnueabihf), with Debian's cross compilers. Needs (outside a
# namespace, with network): apt-get install g++-aarch64-linux-gnu
# g++-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross; rustup target
# add both; cargo fetch. Builds in target/cross. tests/cross/aarch64.sh then runs the
# aarch64 nw0 (pure-Rust) under qemu-user against an x86-64 node; this one proves the
# libzmq build for both Pi kinds links (`file` shows the architecture).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/cross}"
build() {
  local target=$1 prefix=$2
  local upper=${target//-/_}
  env "CC_${upper}=${prefix}-gcc" "CXX_${upper}=${prefix}-g++" \
    "CARGO_TARGET_${upper^^}_LINKER=${prefix}-gcc" \
    timeout 1800 cargo build -p networkzero --bin nw0 --target "$target"
  local bin="$CARGO_TARGET_DIR/$target/debug/nw0"
  test -x "$bin"
  if command -v file >/dev/null; then file "$bin"; fi
}
build aarch64-unknown-linux-gnu aarch64-linux-gnu
build armv7-unknown-linux-gnueabihf arm-linux-gnueabihf
echo "PASSED: nw0 with vendored libzmq for aarch64 and armv7"
