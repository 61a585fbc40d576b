#!/usr/bin/env bash
# bench/run.sh [--quick] — the full benchmark in one command: builds, makes the Python
# venv (with matplotlib for the plot), runs nw0-bench in a private network namespace
# (it broadcasts and builds a simulated LAN), and draws bench/results.png.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tests/run.sh --no-run >/dev/null            # builds; makes target/py-venv
PY="$ROOT/target/py-venv/bin/python"
# matplotlib only for the full run's plot (--quick draws none, so it runs in
# ../shared/sealed, where pip cannot reach a registry).
if [ "${1:-}" != --quick ]; then
  "$PY" -c 'import matplotlib' 2>/dev/null || "$ROOT/target/py-venv/bin/pip" install -q matplotlib
fi
# Both transports in one run: the pure-Rust build goes beside the default one
# as nw0-bench-pure, which the default build runs for the pure-Rust rows.
cargo build --release -p nw0-bench --features pure-rust
cp target/release/nw0-bench target/release/nw0-bench-pure
cargo build --release -p nw0-bench
tests/in-netns.sh env NW0_PY_VENV="$ROOT/target/py-venv" target/release/nw0-bench "$@"
[ "${1:-}" = --quick ] || "$PY" bench/plot.py bench/results.md bench/results.png
