#!/usr/bin/env bash
# tests/windows/build.sh — builds the Windows programs the Wine tests run: nw0.exe and
# the examples, for x86_64-pc-windows-gnu with the pure-Rust transport, into
# target/cross/x86_64-pc-windows-gnu/debug. Offline when the crates are fetched
# (tests/windows/setup.sh fetches them). Needs mingw-w64 and the Rust target.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="$ROOT/target/cross"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
# One invocation, one feature set: networkzero without libzmq for both packages.
exec cargo build --target x86_64-pc-windows-gnu -p networkzero -p nw0-examples \
  --no-default-features --features networkzero/pure-rust,nw0-examples/pure-rust \
  --bin nw0 --bin hello --bin turntable --bin detector --bin controller "$@"
