#!/usr/bin/env bash
# tests/golden/capture.sh — golden captures of Python networkzero 1.0b1 on the wire.
#
# Writes core/tests/data/python-adverts/NN-<label>.bin: the exact bytes of the UDP advert
# datagrams a real Python networkzero 1.0b1 beacon broadcasts (cases in capture.py), plus
# MANIFEST.tsv, and rpc/: the beacon RPC (ZeroMQ REQ/REP on tcp 127.0.0.1:9998) of a
# second networkzero process, as message bodies (*.req.bin) and raw TCP streams
# (*.c2s.bin client->beacon, *.s2c.bin beacon->client).
#
# Everything runs in private network namespaces (re-executes itself under
# /work/shared/sealed or `unshare --net --mount --fork` if not inside one yet):
#   switch ns: bridge br0 10.200.250.254/24
#   host A 10.200.250.1: networkzero advertises every case   (default route via .254)
#   host B 10.200.250.2: plain socket on 0.0.0.0:9999 records the broadcasts
#   host C (loopback only): networkzero client -> recording relay -> fake beacon REP
# Needs the venv target/py-venv (made by tests/run.sh, or NW0_PY_VENV=DIR).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/core/tests/data/python-adverts"
PY="${NW0_PY_VENV:-$ROOT/target/py-venv}/bin/python"

if [ "${NW0_SEALED:-}" != 1 ]; then
  if [ -x /work/shared/sealed ]; then
    exec /work/shared/sealed bash "$0" "$@"
  fi
  U=(unshare --net --mount --fork); [ "$(id -u)" = 0 ] || U+=(--user --map-root-user)
  exec "${U[@]}" -- env NW0_SEALED=1 bash -c '
    set -e; ip link set lo up
    mkdir -p /run/netns 2>/dev/null || { mount -t tmpfs nw0-run /run; mkdir -p /run/netns; }
    mount -t tmpfs -o size=1m nw0-netns /run/netns
    exec bash "$0"' "$0"
fi

"$PY" -c '
import importlib.metadata as m, networkzero, zmq
assert m.version("networkzero") == "1.0b1", m.version("networkzero")' ||
  { echo "capture.sh: no venv python with networkzero 1.0b1 at $PY (bash tests/run.sh --no-run makes it)" >&2; exit 1; }

# ---- the simulated LAN -------------------------------------------------------------------
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for n in cap-a cap-b cap-c cap-sw; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT

ip netns add cap-sw
ip -n cap-sw link set lo up
ip -n cap-sw link add br0 type bridge
ip -n cap-sw addr add 10.200.250.254/24 broadcast 10.200.250.255 dev br0
ip -n cap-sw link set br0 up
i=0
for h in cap-a cap-b; do
  ip netns add "$h"
  ip -n "$h" link set lo up
  ip link add eth0 netns "$h" type veth peer name "p$i" netns cap-sw
  ip -n cap-sw link set "p$i" master br0 up
  ip -n "$h" addr add "10.200.250.$((i + 1))/24" broadcast 10.200.250.255 dev eth0
  ip -n "$h" link set eth0 up
  ip -n "$h" route add default via 10.200.250.254
  i=$((i + 1))
done
ip netns add cap-c
ip -n cap-c link set lo up

WORK="$(mktemp -d /tmp/nw0-capture.XXXXXX)"
wait_for() {  # wait_for FILE PATTERN SECONDS
  local n=0
  until grep -q "$2" "$1" 2>/dev/null; do
    n=$((n + 1)); [ "$n" -le $(($3 * 10)) ] || { echo "capture.sh: timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1; }
    sleep 0.1
  done
}

# ---- 1. advert datagrams ---------------------------------------------------------------
rm -f "$OUT"/[0-9][0-9]-*.bin "$OUT"/MANIFEST.tsv
rm -rf "$OUT/rpc"
mkdir -p "$OUT/rpc"
ip netns exec cap-b timeout 60 "$PY" -u "$HERE/capture.py" listen "$OUT" > "$WORK/listen.log" 2>&1 &
LISTENER=$!; PIDS+=("$LISTENER")
wait_for "$WORK/listen.log" READY 10
ip netns exec cap-a timeout 90 "$PY" -u "$HERE/capture.py" advertise > "$WORK/advertise.log" 2>&1 &
PIDS+=("$!")
rc=0; wait "$LISTENER" || rc=$?
cat "$WORK/listen.log"
echo "--- advertiser (host A) ---"; cat "$WORK/advertise.log"
[ "$rc" = 0 ] || { echo "capture.sh: listener failed ($rc)" >&2; exit 1; }

# ---- 2. beacon RPC of a second process ---------------------------------------------------
ip netns exec cap-c timeout 60 "$PY" -u "$HERE/capture.py" rpc-server "$OUT/rpc" > "$WORK/rpc-server.log" 2>&1 &
SERVER=$!; PIDS+=("$SERVER")
wait_for "$WORK/rpc-server.log" READY 10
ip netns exec cap-c timeout 30 "$PY" -u "$HERE/capture.py" rpc-client > "$WORK/rpc-client.log" 2>&1 || { cat "$WORK/rpc-client.log"; exit 1; }
touch "$OUT/rpc/.client-done"
rc=0; wait "$SERVER" || rc=$?
echo "--- rpc client (host C) ---"; cat "$WORK/rpc-client.log"
echo "--- rpc server ---"; cat "$WORK/rpc-server.log"
[ "$rc" = 0 ] || { echo "capture.sh: rpc server failed ($rc)" >&2; exit 1; }

{
  echo "python: $("$PY" -c 'import sys; print(sys.version.split()[0])')"
  "$PY" -c 'import importlib.metadata as m, zmq; print("networkzero:", m.version("networkzero")); print("pyzmq:", zmq.__version__); print("libzmq:", zmq.zmq_version())'
  echo "kernel: $(uname -r)"
  echo "captured: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$OUT/VERSIONS.txt"
cat "$OUT/VERSIONS.txt"
rm -rf "$WORK"
echo "capture.sh: done -> $OUT"
