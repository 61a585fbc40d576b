#!/usr/bin/env bash
# tests/in-netns.sh COMMAND [ARGS...] — runs COMMAND in a fresh private network
# namespace: only loopback, up; a private /run/netns so `ip netns add` works and the
# namespaces made inside vanish with it. Root, or unprivileged user namespaces
# (then as mapped root). Exports NW0_TEST_NETNS=1 so the harness knows.
#   tests/in-netns.sh --check   exits 0 if a namespace can be made here, 1 if not.
# Used by tests/run.sh (the tests) and bench/run.sh (the benchmark): whatever runs
# inside can broadcast and listen without touching a real network.
set -euo pipefail
UNSHARE=(unshare --net --mount --fork)
if [ "$(id -u)" != 0 ]; then
  UNSHARE+=(--user --map-root-user)
fi
if [ "${1:-}" = --check ]; then
  "${UNSHARE[@]}" true 2>/dev/null
  exit
fi
exec "${UNSHARE[@]}" -- env NW0_TEST_NETNS=1 CARGO_NET_OFFLINE=true bash -c '
  set -euo pipefail
  ip link set lo up || { echo "in-netns.sh: cannot bring lo up" >&2; exit 97; }
  if ! mkdir -p /run/netns 2>/dev/null; then
    # unprivileged (user namespace): /run is not ours; a private tmpfs on /run then
    mount -t tmpfs -o size=1m,mode=755 nw0-run /run || { echo "in-netns.sh: cannot mount /run" >&2; exit 97; }
    mkdir -p /run/netns
  fi
  mount -t tmpfs -o size=1m nw0-netns /run/netns || { echo "in-netns.sh: cannot mount /run/netns" >&2; exit 97; }
  exec "$@"' in-netns.sh "$@"
