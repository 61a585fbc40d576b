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
#     (networkzero==1.0b1 + pyzmq, the interop peer; selenium for the browser tests)
#     and `cargo fetch`. Skipped inside a namespace without network (NW0_SEALED=1, e.g.
#     under /work/shared/sealed).
#     Also, when they are missing and this script may install (not inside a namespace;
#     root, or sudo without a password): python3 and python3-venv (apt), Debian's
#     chromium + chromium-driver for the dashboard's browser tests, dnsmasq-base for the
#     embassy-net robot's test, the QEMU bare-metal test's qemu-system-arm, Rust targets
#     and firmware (tests/bare-metal/setup.sh), Wine and the Windows programs
#     (tests/windows/setup.sh), and nftables for the packet-loss tests
#     (tests/reliability/setup.sh).
#  2. cargo build --workspace --all-targets (outside the namespace).
#  3. cargo test inside `unshare --net --mount --fork` (+ --user --map-root-user when not
#     root), with NW0_TEST_NETNS=1 exported so the harness knows it is isolated.
#     If unshare is impossible: with CI=true fail; otherwise run only the pure unit tests
#     (cargo test --workspace --lib) and say loudly what was not run.
#  4. a summary, in red, of every test that skipped (or partly skipped) for a missing
#     prerequisite and the one command that fixes it. Tests record their skips in
#     target/nw0-skipped.txt (NW0_SKIP_LOG), where cargo's output capture cannot hide them.
# With CI=true nothing may be skipped: the tests panic instead of skipping when network
# namespaces, python3 or the Python peer are missing, and so does this script.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${NW0_PY_VENV:-$ROOT/target/py-venv}"   # override only for experiments
SEALED="${NW0_SEALED:-}"
case "${CI:-}" in ""|0|false|FALSE|False|no) IS_CI="" ;; *) IS_CI=1 ;; esac
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export NW0_SKIP_LOG="$TARGET_DIR/nw0-skipped.txt"   # tests/src/env.rs appends skips here
mkdir -p "$TARGET_DIR"
: > "$NW0_SKIP_LOG"

say()  { printf '\033[1mrun.sh:\033[0m %s\n' "$*" >&2; }
loud() { printf '\n\033[1;31m!!!!!!!! run.sh: %s\033[0m\n\n' "$*" >&2; }
die()  { loud "$*"; exit 1; }
# A skip of a whole group of tests decided here, in the tests' own format.
record_skip() { printf 'tests/run.sh\t%s\t%s\t%s\n' "$1" "$2" "$3" >> "$NW0_SKIP_LOG"; }

# Installing system packages: outside any namespace (they need a registry), as root or
# with sudo that asks no password.
SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo -n)
may_install() {
  [ "$SEALED" != 1 ] && command -v apt-get >/dev/null && "${SUDO[@]}" true 2>/dev/null
}
apt_install() {
  "${SUDO[@]}" apt-get update -qq &&
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# Step 4: every skip recorded in $NW0_SKIP_LOG, loudly, grouped by the command that fixes
# it; under CI=true any skip fails the run.
summary() {
  if [ ! -s "$NW0_SKIP_LOG" ]; then
    say "nothing was skipped"
    return
  fi
  local n
  n=$(cut -f1,2 "$NW0_SKIP_LOG" | sort -u | wc -l)
  {
    printf '\n\033[1;31m!!!!!!!! run.sh: %s test(s) SKIPPED (or ran without a part) for a missing prerequisite\033[0m\n' "$n"
    # grouped by the command that fixes them, in the order first seen
    awk -F'\t' '
      !($4 in seen) { seen[$4] = 1; order[++k] = $4 }
      !(($4, $1, $2) in listed) {
        listed[$4, $1, $2] = 1
        why = length($3) > 160 ? substr($3, 1, 157) "..." : $3
        tests[$4] = tests[$4] sprintf("\n    %s::%s: %s", $1, $2, why)
      }
      END {
        for (i = 1; i <= k; i++)
          printf "\033[1;31m  to run these, run: %s\033[0m%s\n", order[i], tests[order[i]]
      }' "$NW0_SKIP_LOG"
    printf '\033[1;31m!!!!!!!! run.sh: the list is in %s\033[0m\n\n' "$NW0_SKIP_LOG"
  } >&2
  [ -n "$IS_CI" ] && die "CI=true: no test may be skipped"
  return 0
}

py_ok() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c '
import importlib.metadata as m, networkzero, zmq
assert m.version("networkzero") == "1.0b1", m.version("networkzero")' 2>/dev/null
}
make_venv() {
  { [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"; } &&
    "$VENV/bin/pip" install --quiet --disable-pip-version-check networkzero==1.0b1 pyzmq &&
    py_ok
}

# ---- 1. setup that needs the network ------------------------------------------------
if py_ok; then
  :
elif [ "$SEALED" = 1 ]; then
  msg="no usable Python venv at $VENV and no network here (NW0_SEALED=1) to make one: run tests/run.sh once outside"
  [ -n "$IS_CI" ] && die "$msg"
  loud "$msg; the Python interop tests will SKIP"
else
  if ! command -v python3 >/dev/null && may_install; then
    say "installing python3 and python3-venv"
    apt_install python3 python3-venv || true
  fi
  if ! command -v python3 >/dev/null; then
    [ -n "$IS_CI" ] && die "python3 not found: the Python interop tests cannot run"
    loud "python3 not found: the Python interop tests will SKIP"
  else
    say "making the Python venv $VENV (networkzero==1.0b1, pyzmq)"
    # Debian's python3 makes no venv without python3-venv (ensurepip)
    if make_venv ||
       { may_install && say "installing python3-venv" && apt_install python3-venv && make_venv; }; then
      say "Python venv ready"
    else
      [ -n "$IS_CI" ] && die "could not make the Python venv $VENV"
      loud "could not make the Python venv $VENV: the Python interop tests will SKIP"
    fi
  fi
fi

# The dashboard's browser tests (tests/tests/dashboard.rs): Debian's Chromium and
# ChromeDriver, driven by selenium from the venv.
CHROMIUM="${NW0_CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${NW0_CHROMEDRIVER:-/usr/bin/chromedriver}"
browser_ok() { [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ]; }
selenium_ok() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import selenium' 2>/dev/null; }
if [ "$SEALED" != 1 ]; then
  if ! browser_ok && may_install; then
    say "installing Debian's chromium and chromium-driver for the dashboard's browser tests"
    apt_install chromium chromium-driver >/dev/null || loud "could not install chromium and chromium-driver"
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
if [ "$SEALED" != 1 ] && ! command -v dnsmasq >/dev/null && may_install; then
  say "installing Debian's dnsmasq-base (the DHCP server of the embassy-net robot's test)"
  apt_install dnsmasq-base >/dev/null || loud "could not install dnsmasq-base"
fi
if ! command -v dnsmasq >/dev/null; then
  msg="no dnsmasq (apt-get install dnsmasq-base, outside a sealed namespace)"
  [ -n "$IS_CI" ] && die "$msg"
  loud "$msg: the embassy-net robot's test (tests/tests/embassy_robot.rs) will SKIP"
fi

if [ "$SEALED" != 1 ]; then
  # only goes to the network when something is missing
  cargo fetch --offline >/dev/null 2>&1 || cargo fetch

  # The QEMU bare-metal test: qemu-system-arm (apt), the thumb targets and the firmware.
  firmware="$ROOT/target/baremetal/thumbv7m-none-eabi/release/nw0-mps2-an385"
  if ! command -v qemu-system-arm >/dev/null && ! may_install; then
    loud "qemu-system-arm is missing and this script cannot install it (needs root or sudo): the QEMU bare-metal test will SKIP"
  elif ! command -v qemu-system-arm >/dev/null ||
       ! rustup target list --installed 2>/dev/null | grep -qx thumbv7m-none-eabi ||
       [ ! -f "$firmware" ]; then
    say "setting up the QEMU bare-metal test (tests/bare-metal/setup.sh)"
    bash tests/bare-metal/setup.sh ||
      loud "tests/bare-metal/setup.sh failed: the QEMU bare-metal test will SKIP"
  fi

  # The Windows tests under Wine: wine64 and mingw-w64 (apt), nw0.exe and the examples,
  # the Wine prefixes (idempotent, cheap once done).
  if ! command -v wineboot >/dev/null && ! may_install; then
    loud "Wine is missing and this script cannot install it (needs root or sudo): the Windows tests will SKIP"
  else
    bash tests/windows/setup.sh || loud "tests/windows/setup.sh failed: the Windows tests will SKIP"
  fi

  # The packet-loss tests: nftables (apt).
  if ! command -v nft >/dev/null && [ ! -x /usr/sbin/nft ]; then
    if may_install; then
      bash tests/reliability/setup.sh ||
        loud "tests/reliability/setup.sh failed: the packet-loss tests will SKIP"
    else
      loud "nft (nftables) is missing and this script cannot install it (needs root or sudo): the packet-loss tests will SKIP"
    fi
  fi
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
  record_skip "every integration test and doc test" "$why" \
    "sudo bash tests/run.sh (or allow unprivileged user namespaces: sudo sysctl -w kernel.unprivileged_userns_clone=1)"
  status=0
  cargo test "${SCOPE[@]}" --lib "$@" || status=$?
  summary
  exit "$status"
fi

say "running cargo test ${SCOPE[*]} $* in a private network namespace"
status=0
"$NETNS" env NW0_PY_VENV="$VENV" cargo test "${SCOPE[@]}" "$@" || status=$?
summary
exit "$status"
