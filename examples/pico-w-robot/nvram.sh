#!/usr/bin/env bash
# examples/pico-w-robot/nvram.sh — writes the Pico W's CYW43439 NVRAM to
# target/pico/nvram_rp2040.bin and prints that path (for CYW43_NVRAM).
#
# The NVRAM is not in this repository (see README.md, "The CYW43439 blobs": its
# upstream licence is not ours to relicense). The `cyw43` crate 0.6.0 on crates.io
# (MIT OR Apache-2.0, from the Embassy project) carries it as a byte string in
# src/nvram.rs; cargo fetches that crate, this script turns the string into the file
# and checks it is byte for byte Embassy's cyw43-firmware/nvram_rp2040.bin (SHA-256
# below), so a changed or different source fails here. Needs the network the first
# time (cargo's registry), python3, and nothing else.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT_DIR="$ROOT/target/pico"
OUT="$OUT_DIR/nvram_rp2040.bin"
# sha256 of Embassy's cyw43-firmware/nvram_rp2040.bin (742 bytes).
WANT=4904bdbb0c937bd0ac2eb2a1d62f2da4dd90e32082384e02874e8d671b0f330d
say() { printf 'pico-w-robot/nvram.sh: %s\n' "$*" >&2; }

if [ -f "$OUT" ] && [ "$(sha256sum "$OUT" | cut -d' ' -f1)" = "$WANT" ]; then
  echo "$OUT"
  exit 0
fi

# A throwaway manifest that depends on cyw43 0.6.0 only, so cargo fetches its source.
FETCH="$OUT_DIR/nvram-fetch"
mkdir -p "$FETCH/src"
cat > "$FETCH/Cargo.toml" <<'TOML'
[workspace]
[package]
name = "nvram-fetch"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
cyw43 = "=0.6.0"
TOML
: > "$FETCH/src/lib.rs"
cargo fetch --quiet --manifest-path "$FETCH/Cargo.toml"
SRC="$(cargo metadata --quiet --format-version 1 --manifest-path "$FETCH/Cargo.toml" |
  python3 -c 'import json, sys
pkgs = json.load(sys.stdin)["packages"]
print(next(p["manifest_path"] for p in pkgs if p["name"] == "cyw43" and p["version"] == "0.6.0"))')"
SRC="$(dirname "$SRC")/src/nvram.rs"

python3 - "$SRC" "$OUT" <<'PY'
import ast, re, sys
src = open(sys.argv[1]).read()
# pub static NVRAM: &'static [u8] = b"<lines ending in backslash-newline>";
body = src[src.index('b"') + 2 : src.rindex('";')]
body = re.sub(r"\\\n\s*", "", body)  # Rust: backslash-newline skips the next line's indent
data = ast.literal_eval('b"""' + body + '"""').lstrip(b"\n ")
# Embassy's file is the same entries, NUL-padded by one more byte.
open(sys.argv[2], "wb").write(data + b"\0")
PY
GOT="$(sha256sum "$OUT" | cut -d' ' -f1)"
if [ "$GOT" != "$WANT" ]; then
  rm -f "$OUT"
  say "the NVRAM from cyw43 0.6.0 is not Embassy's nvram_rp2040.bin (sha256 $GOT): not using it"
  exit 1
fi
say "wrote $OUT (742 bytes, sha256 checked)"
echo "$OUT"
