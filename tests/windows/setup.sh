#!/usr/bin/env bash
# tests/windows/setup.sh — what the Windows end-to-end tests (tests/tests/windows.rs)
# need, run OUTSIDE the network namespace (apt and rustup need the network):
#   - Wine from Debian (`wine wine64`, --no-install-recommends: 64-bit Wine 8.0) and
#     mingw-w64 (gcc-mingw-w64-x86-64) for the x86_64-pc-windows-gnu Rust target;
#   - the Windows programs: nw0.exe and the examples, pure-Rust transport (libzmq does
#     not cross-compile to Windows here: zeromq-src picks epoll from the Linux host),
#     built into target/cross/x86_64-pc-windows-gnu/debug (the test rebuilds them
#     offline when stale);
#   - bcryptprimitives.dll (tests/windows/bcryptprimitives.c): Wine 8.0 lacks it and
#     Rust's std imports ProcessPrng from it; hold-port.exe (tests/windows/hold-port.c),
#     a Windows program holding a UDP port unshared; both into target/wine;
#   - the Wine prefixes target/wine/prefixes/pc1, pc2 (one per simulated Windows PC
#     that can run at once), made once: `wineboot -i` (~15 s) runs inside a private
#     network namespace (../shared/sealed or tests/in-netns.sh) because wineserver
#     opens sockets, then
#     the prefix is copied (hard links: 600 MB of Wine's DLLs are never written).
# Idempotent; cheap when everything is there already. CI=true: any failure is fatal.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
say() { printf '\033[1mwindows/setup.sh:\033[0m %s\n' "$*" >&2; }
die() { printf '\n\033[1;31mwindows/setup.sh: %s\033[0m\n\n' "$*" >&2; exit 1; }
TARGET=x86_64-pc-windows-gnu
WINE_DIR="$ROOT/target/wine"
PREFIXES="$WINE_DIR/prefixes"
COUNT=2

# ---- 1. install (needs the network) ------------------------------------------------
missing=()
[ -x /usr/lib/wine/wine64 ] && command -v wineboot >/dev/null || missing+=(wine wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-x86-64)
if [ ${#missing[@]} -gt 0 ]; then
  [ "${NW0_SEALED:-}" = 1 ] && die "missing ${missing[*]} and no network here (NW0_SEALED=1): run me outside the namespace"
  SUDO=()
  [ "$(id -u)" = 0 ] || SUDO=(sudo)
  say "installing ${missing[*]}"
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
cargo fetch >/dev/null 2>&1 || cargo fetch   # every target's crates, for offline builds

# ---- 2. the Windows programs -----------------------------------------------------------
say "building nw0.exe and the examples for $TARGET (pure-Rust transport)"
bash tests/windows/build.sh

# ---- 3. the C helpers, bcryptprimitives.dll and the prefixes ------------------------------
mkdir -p "$WINE_DIR"
x86_64-w64-mingw32-gcc -O2 -s -o "$WINE_DIR/hold-port.exe" tests/windows/hold-port.c -lws2_32
x86_64-w64-mingw32-gcc -O2 -shared -s -o "$WINE_DIR/bcryptprimitives.dll.new" \
  tests/windows/bcryptprimitives.c -ladvapi32
if cmp -s "$WINE_DIR/bcryptprimitives.dll.new" "$WINE_DIR/bcryptprimitives.dll"; then
  rm "$WINE_DIR/bcryptprimitives.dll.new"
else
  mv "$WINE_DIR/bcryptprimitives.dll.new" "$WINE_DIR/bcryptprimitives.dll"
fi

ready() { # ready PREFIX: made, and holding the current shim
  [ -f "$1/.nw0-ready" ] && cmp -s "$WINE_DIR/bcryptprimitives.dll" "$1/drive_c/windows/system32/bcryptprimitives.dll"
}
all_ready=1
for i in $(seq 1 "$COUNT"); do ready "$PREFIXES/pc$i" || all_ready=""; done
if [ -n "$all_ready" ]; then
  say "Wine prefixes ready: $PREFIXES/pc1..pc$COUNT"
  exit 0
fi

# Wine's services open sockets: wineboot runs only inside a private network namespace
# (../shared/sealed where it exists, as .ci/run's tests; else tests/in-netns.sh, as
# tests/run.sh's), never in the machine's own.
IN_NETNS=()
if [ "${NW0_SEALED:-}" != 1 ] && [ "${NW0_TEST_NETNS:-}" != 1 ]; then
  if [ -x "$ROOT/../shared/sealed" ]; then
    IN_NETNS=("$ROOT/../shared/sealed")
  else
    IN_NETNS=("$ROOT/tests/in-netns.sh")
    "$ROOT/tests/in-netns.sh" --check || die "cannot make a private network namespace to run wineboot in"
  fi
fi
TEMPLATE="$PREFIXES/template"
rm -rf "$PREFIXES"
mkdir -p "$PREFIXES"
say "making the Wine prefix (wineboot -i, inside a private network namespace)"
start=$SECONDS
"${IN_NETNS[@]}" env WINEPREFIX="$TEMPLATE" WINEDEBUG=-all \
  WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d" bash -c '
    set -e
    timeout 600 /usr/lib/wine/wine64 wineboot -i
    timeout 120 /usr/lib/wine/wineserver64 -w' </dev/null
cp "$WINE_DIR/bcryptprimitives.dll" "$TEMPLATE/drive_c/windows/system32/bcryptprimitives.dll"
say "wineboot took $((SECONDS - start)) s"
for i in $(seq 1 "$COUNT"); do
  # Hard links for the files (Wine rewrites its registry by renaming a new file over
  # the old one, which breaks the link), real copies for the registry to be sure.
  cp -al "$TEMPLATE" "$PREFIXES/pc$i"
  for reg in "$TEMPLATE"/*.reg; do cp --remove-destination "$reg" "$PREFIXES/pc$i/"; done
  # Debian's Wine keeps the name of its /tmp directory here; each prefix makes its own.
  rm -f "$PREFIXES/pc$i/wineserver"
  touch "$PREFIXES/pc$i/.nw0-ready"
done
say "Wine prefixes ready: $PREFIXES/pc1..pc$COUNT"
