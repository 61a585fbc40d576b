#!/usr/bin/env bash
# tests/reliability/setup.sh — what the fault-injection suite (tests/tests/reliability.rs)
# needs, installed OUTSIDE the network namespace (apt needs the network):
#   - nft (nftables, --no-install-recommends): the packet-loss tests put
#     `numgen random mod 10 < 3 drop` rules in the simulated hosts' own namespaces.
#     (These kernels have no sch_netem, so `tc netem` is no option.)
# Idempotent; does nothing when nft is there. Without nft the loss tests SKIP, or fail
# under CI=true.
set -euo pipefail
say() { printf '\033[1mreliability/setup.sh:\033[0m %s\n' "$*" >&2; }

if command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ]; then
  exit 0
fi
if [ "${NW0_SEALED:-}" = 1 ]; then
  say "nft is missing and there is no network here (NW0_SEALED=1): run me outside the namespace"
  exit 1
fi
say "installing nftables"
SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nftables
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || { say "nft still missing after install"; exit 1; }
say "nft ready: $(nft --version 2>/dev/null || /usr/sbin/nft --version)"
