#!/usr/bin/env bash
# tests/cross/aarch64.sh — the pure-Rust nw0 built for aarch64 Linux (a Raspberry Pi),
# run under qemu-user on one host of a simulated LAN, talking to the x86-64 nw0 (the
# default libzmq build) on another host: discovery, request/reply both ways, news.
#
# Run it inside a private network namespace (it builds a LAN of two namespaces):
#   /work/shared/sealed bash tests/cross/aarch64.sh
# Needs (outside, once): rustup target add aarch64-unknown-linux-gnu;
#   apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user; cargo fetch.
# Builds in target/cross (CARGO_TARGET_DIR) so it does not disturb target/.
# Every step is bounded by `timeout`; only processes started here are stopped, by PID.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/cross}"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-aarch64-linux-gnu-gcc}"
QEMU=(qemu-aarch64 -L /usr/aarch64-linux-gnu)

say() { printf '\033[1maarch64.sh:\033[0m %s\n' "$*" >&2; }
die() { printf '\n\033[1;31maarch64.sh: FAILED: %s\033[0m\n\n' "$*" >&2; exit 1; }

if [ "${NW0_SEALED:-}" != 1 ] && [ "${NW0_TEST_NETNS:-}" != 1 ]; then
  die "run me inside a private network namespace: /work/shared/sealed bash tests/cross/aarch64.sh"
fi
command -v qemu-aarch64 >/dev/null || die "qemu-aarch64 not found (apt-get install qemu-user)"
command -v aarch64-linux-gnu-gcc >/dev/null || die "aarch64-linux-gnu-gcc not found (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)"

# ---- build --------------------------------------------------------------------------
# ARM_NW0=path uses an aarch64 nw0 built elsewhere (tests/cross/libzmq.sh builds the
# libzmq one); by default the pure-Rust one is built here.
if [ -n "${ARM_NW0:-}" ]; then
  ARM="$ARM_NW0"
  KIND="${ARM_KIND:-prebuilt}"
else
  say "building nw0 (pure-rust) for aarch64-unknown-linux-gnu"
  timeout 1800 cargo build --release -p networkzero --bin nw0 --no-default-features \
    --features pure-rust --target aarch64-unknown-linux-gnu
  ARM="$CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/nw0"
  KIND=pure-rust
fi
say "building nw0 (libzmq) for the host"
timeout 1800 cargo build -p networkzero --bin nw0
X86="$CARGO_TARGET_DIR/debug/nw0"
file "$ARM" 2>/dev/null | grep -q aarch64 || say "(cannot check the binary's architecture: no 'file')"
# `nw0 help` prints the usage (to stderr, exit 2): proof that the binary runs.
usage=$(timeout 60 "${QEMU[@]}" "$ARM" help 2>&1 || true)
grep -q '^Usage:' <<<"$usage" || die "the aarch64 nw0 does not run under qemu: $usage"

# ---- a LAN of two hosts: pi (aarch64 under qemu) and pc (x86-64) --------------------
# Private namespaces inside ours: they vanish with it.
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del nw0x-pi 2>/dev/null || true
  ip netns del nw0x-pc 2>/dev/null || true
  ip link del nw0x-br 2>/dev/null || true
}
trap cleanup EXIT

ip link add nw0x-br type bridge
ip addr add 10.200.77.254/24 dev nw0x-br
ip link set nw0x-br up
i=1
for h in pi pc; do
  ip netns add "nw0x-$h"
  ip link add "nw0x-$h-v" type veth peer name eth0 netns "nw0x-$h"
  ip link set "nw0x-$h-v" master nw0x-br up
  ip -n "nw0x-$h" link set lo up
  ip -n "nw0x-$h" addr add "10.200.77.$i/24" dev eth0
  ip -n "nw0x-$h" link set eth0 up
  ip -n "nw0x-$h" route add default via 10.200.77.254
  i=$((i + 1))
done
on() { local h=$1; shift; ip netns exec "nw0x-$h" "$@"; }

# ---- 1. the Pi serves, the PC asks ----------------------------------------------------
say "1. aarch64 'nw0 advertise pi-echo --echo'; x86-64 'nw0 send pi-echo'"
on pi timeout 60 "${QEMU[@]}" "$ARM" advertise pi-echo --echo >/tmp/nw0x-pi.out 2>/tmp/nw0x-pi.err &
PIDS+=($!)
reply=$(on pc timeout 30 "$X86" send pi-echo '{"from": "pc"}' --wait 15) || die "no reply from the Pi: $(cat /tmp/nw0x-pi.err)"
[ "$reply" = '{"from":"pc"}' ] || die "unexpected reply from the Pi: $reply"
say "   reply: $reply"

# ---- 2. the PC serves, the Pi asks ----------------------------------------------------
say "2. x86-64 'nw0 advertise pc-echo --echo'; aarch64 'nw0 send pc-echo'"
on pc timeout 60 "$X86" advertise pc-echo --echo >/tmp/nw0x-pc.out 2>/tmp/nw0x-pc.err &
PIDS+=($!)
reply=$(on pi timeout 30 "${QEMU[@]}" "$ARM" send pc-echo '[1, "two"]' --wait 15) || die "no reply from the PC: $(cat /tmp/nw0x-pc.err)"
[ "$reply" = '[1,"two"]' ] || die "unexpected reply from the PC: $reply"
say "   reply: $reply"

# ---- 3. news from the Pi to the PC -----------------------------------------------------
say "3. aarch64 'nw0 publish pi-news'; x86-64 'nw0 watch pi-news sensor. --count 3'"
on pi timeout 60 "${QEMU[@]}" "$ARM" publish pi-news sensor.temp 21.5 --every 0.2 --count 200 >/dev/null 2>/tmp/nw0x-pub.err &
PIDS+=($!)
news=$(on pc timeout 40 "$X86" watch pi-news sensor. --count 3 --wait 20) || die "no news from the Pi: $(cat /tmp/nw0x-pub.err)"
[ "$(printf '%s\n' "$news" | grep -c $'^sensor.temp\t21.5$')" = 3 ] || die "unexpected news: $news"
say "   news: $(printf '%s' "$news" | tr '\n\t' '| ')"

say "PASSED: aarch64 ($KIND, qemu-user) <-> x86-64 (libzmq) on a simulated LAN"
