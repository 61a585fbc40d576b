#!/usr/bin/env bash
# bench/run.sh [--quick] — the full benchmark in one command: builds, makes the Python
# venv (with matplotlib for the plot), runs nw0-bench in a private network namespace
# (it broadcasts and builds a simulated LAN), and draws bench/results.png.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tests/run.sh --no-run >/dev/null            # builds; makes target/py-venv
PY="$ROOT/target/py-venv/bin/python"
"$PY" -c 'import matplotlib' 2>/dev/null || "$ROOT/target/py-venv/bin/pip" install -q matplotlib
cargo build --release -p nw0-bench
tests/in-netns.sh env NW0_PY_VENV="$ROOT/target/py-venv" target/release/nw0-bench "$@"
[ "${1:-}" = --quick ] || "$PY" bench/plot.py bench/results.md bench/results.png
