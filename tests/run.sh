#!/usr/bin/env bash
# tests/run.sh [CARGO TEST ARGS...]   — THE project test command.
#
# Runs `cargo test --workspace ARGS...` inside a fresh, private network namespace (only
# loopback up, a private tmpfs on /run/netns), so the tests' beacons, servers and
# simulated LANs (10.200.0.0/16, see tests/src/netns.rs) never touch the real network —
# safe to run on a classroom network. Examples:
#   bash tests/run.sh
#   bash tests/run.sh -p nw0-tests --test harness -- --nocapture
#
# Steps:
#  1. setup needing the network, only when not yet done: the Python venv target/py-venv
#     (networkzero==1.0b1 + pyzmq, the interop peer; selenium for the browser tests),
#     Debian's chromium + chromium-driver and dnsmasq-base (when root with apt-get) and
#     `cargo fetch`.
#     Skipped inside a namespace without network (NW0_SEALED=1, e.g. under
#     /work/shared/sealed).
#  2. cargo build --workspace --all-targets (outside the namespace).
#  3. cargo test inside `unshare --net --mount --fork` (+ --user --map-root-user when not
#     root), with NW0_TEST_NETNS=1 exported so the harness knows it is isolated.
#     If unshare is impossible: with CI=true fail; otherwise run only the pure unit tests
#     (cargo test --workspace --lib) and say loudly what was not run.
# With CI=true nothing may be skipped: the tests panic instead of skipping when network
# namespaces, python3 or the Python peer are missing, and so does this script.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${NW0_PY_VENV:-$ROOT/target/py-venv}"   # override only for experiments
SEALED="${NW0_SEALED:-}"
case "${CI:-}" in ""|0|false|FALSE|False|no) IS_CI="" ;; *) IS_CI=1 ;; esac

say()  { printf '\033[1mrun.sh:\033[0m %s\n' "$*" >&2; }
loud() { printf '\n\033[1;31m!!!!!!!! run.sh: %s\033[0m\n\n' "$*" >&2; }
die()  { loud "$*"; exit 1; }

py_ok() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c '
import importlib.metadata as m, networkzero, zmq
assert m.version("networkzero") == "1.0b1", m.version("networkzero")' 2>/dev/null
}

# ---- 1. setup that needs the network ------------------------------------------------
if py_ok; then
  :
elif [ "$SEALED" = 1 ]; then
  msg="no usable Python venv at $VENV and no network here (NW0_SEALED=1) to make one: run tests/run.sh once outside"
  [ -n "$IS_CI" ] && die "$msg"
  loud "$msg; the Python interop tests will SKIP"
elif ! command -v python3 >/dev/null; then
  [ -n "$IS_CI" ] && die "python3 not found: the Python interop tests cannot run"
  loud "python3 not found: the Python interop tests will SKIP"
else
  say "making the Python venv $VENV (networkzero==1.0b1, pyzmq)"
  if { [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"; } &&
     "$VENV/bin/pip" install --quiet --disable-pip-version-check networkzero==1.0b1 pyzmq &&
     py_ok; then
    say "Python venv ready"
  else
    [ -n "$IS_CI" ] && die "could not make the Python venv $VENV"
    loud "could not make the Python venv $VENV: the Python interop tests will SKIP"
  fi
fi

# The dashboard's browser tests (tests/tests/dashboard.rs): Debian's Chromium and
# ChromeDriver, driven by selenium from the venv.
CHROMIUM="${NW0_CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${NW0_CHROMEDRIVER:-/usr/bin/chromedriver}"
browser_ok() { [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ]; }
selenium_ok() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import selenium' 2>/dev/null; }
if [ "$SEALED" != 1 ]; then
  if ! browser_ok && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's chromium and chromium-driver for the dashboard's browser tests"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; } ||
      loud "could not install chromium and chromium-driver"
  fi
  if py_ok && ! selenium_ok; then
    say "adding selenium to $VENV (drives Chromium in the dashboard's browser tests)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'selenium>=4.20,<5' || loud "could not install selenium"
  fi
fi
if ! browser_ok || ! selenium_ok; then
  msg="no $CHROMIUM + $CHROMEDRIVER (apt-get install chromium chromium-driver) or no selenium in $VENV (run tests/run.sh outside a sealed namespace)"
  [ -n "$IS_CI" ] && die "$msg"
  loud "$msg: the dashboard's browser tests (tests/tests/dashboard.rs) will SKIP"
fi

# The embassy-net robot's host test (tests/tests/embassy_robot.rs): a real DHCP server,
# Debian's dnsmasq.
if [ "$SEALED" != 1 ] && ! command -v dnsmasq >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  say "installing Debian's dnsmasq-base (the DHCP server of the embassy-net robot's test)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dnsmasq-base >/dev/null; } ||
    loud "could not install dnsmasq-base"
fi
if ! command -v dnsmasq >/dev/null; then
  msg="no dnsmasq (apt-get install dnsmasq-base, outside a sealed namespace)"
  [ -n "$IS_CI" ] && die "$msg"
  loud "$msg: the embassy-net robot's test (tests/tests/embassy_robot.rs) will SKIP"
fi

if [ "$SEALED" != 1 ]; then
  # only goes to the network when something is missing
  cargo fetch --offline >/dev/null 2>&1 || cargo fetch
fi

# ---- 2. build (outside the namespace; cargo stays offline inside) ----------------------
# Build with the same features the tests will use (e.g. --features networkzero/pure-rust),
# so cargo test inside the namespace does not rebuild.
BUILD_ARGS=(); prev=""
for a in "$@"; do
  [ "$a" = -- ] && break
  case "$prev" in --features|-F) BUILD_ARGS+=(--features "$a") ;; esac
  case "$a" in --features=*|--no-default-features|--all-features|--release) BUILD_ARGS+=("$a") ;; esac
  prev="$a"
done
cargo build --workspace --all-targets "${BUILD_ARGS[@]}"

# ---- 3. test inside a fresh private network namespace ----------------------------------
# `--workspace` unless the caller picks packages (-p/--package) itself.
SCOPE=(--workspace)
for a in "$@"; do
  case "$a" in
    --) break ;;
    -p|--package|-p?*|--package=*) SCOPE=() ;;
  esac
done

NETNS="$ROOT/tests/in-netns.sh"

if ! "$NETNS" --check; then
  why="cannot make a private network namespace (unshare failed: needs root or unprivileged user namespaces)"
  [ -n "$IS_CI" ] && die "$why; CI=true: refusing to skip the network tests"
  loud "$why.
  NOT RUN: every integration test (tests/tests/*.rs: multi-process, simulated-LAN and
  Python interop tests) and the doc tests — they need an isolated network namespace.
  Running ONLY the pure unit tests: cargo test ${SCOPE[*]} --lib $*"
  cargo test "${SCOPE[@]}" --lib "$@"
  loud "only the unit tests ran (no network namespace): the integration tests were NOT run"
  exit 0
fi

say "running cargo test ${SCOPE[*]} $* in a private network namespace"
exec "$NETNS" env NW0_PY_VENV="$VENV" cargo test "${SCOPE[@]}" "$@"
