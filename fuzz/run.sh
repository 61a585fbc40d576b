#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time; what CI calls.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS (default 30) is each target's fuzzing time; TARGETs default to all
# of `cargo +nightly fuzz list`. Each target starts from a scratch corpus,
# fuzz/corpus/TARGET (git-ignored), topped up with the committed seeds in
# fuzz/seeds/TARGET. Targets run one after another, one process each.
#
# Exits 0 only if every target ran its time without a crash, leak, timeout
# or OOM; otherwise 1, naming the failed targets and their crash inputs in
# fuzz/artifacts/TARGET. Logs: fuzz/artifacts/logs/TARGET.log.
#
# The targets are pure (no sockets, no clock), so this needs no network
# namespace. Wall time is bounded: each target is killed at
# 2 * SECONDS + 120 s whatever happens.
set -euo pipefail

seconds="${1:-30}"
case "$seconds" in
    '' | *[!0-9]*)
        echo "usage: $0 [SECONDS] [TARGET...]" >&2
        exit 2
        ;;
esac
shift || true

cd "$(dirname "$0")"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "run.sh: needs a nightly toolchain and cargo-fuzz (cargo install cargo-fuzz)" >&2
    exit 2
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "run.sh: no fuzz targets" >&2
    exit 2
fi

# One build for all targets up front; each `fuzz run` below is then a no-op
# build.
cargo +nightly fuzz build

mkdir -p artifacts/logs
hard_limit=$((2 * seconds + 120))
failed=()
summary=()

for target in "${targets[@]}"; do
    corpus="corpus/$target"
    mkdir -p "$corpus" "artifacts/$target"
    if [ -d "seeds/$target" ]; then
        # -n: never overwrite what earlier runs found.
        cp -n "seeds/$target"/* "$corpus"/ 2>/dev/null || true
    fi
    log="artifacts/logs/$target.log"
    echo "== $target: ${seconds}s (log: fuzz/$log)"
    status=0
    timeout --kill-after=10 "$hard_limit" \
        cargo +nightly fuzz run "$target" "$corpus" -- \
        -max_total_time="$seconds" \
        -timeout=10 \
        -rss_limit_mb=2048 \
        -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    line="$target: ${runs:-?} execs, ${rate:-?} exec/s"
    if [ "$status" -ne 0 ]; then
        if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
            line="$line, KILLED after ${hard_limit}s"
        else
            line="$line, FAILED (exit $status)"
        fi
        failed+=("$target")
        # The panic and the input that caused it.
        grep -E "panicked at|^SUMMARY|ERROR: libFuzzer|Test unit written to" "$log" | head -n 8 || true
        grep -A 3 "panicked at" "$log" | head -n 6 || true
    fi
    echo "   $line"
    summary+=("$line")
done

echo
echo "== summary (${seconds}s per target)"
printf '   %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]}; crash inputs in fuzz/artifacts/<target>/" >&2
    echo "reproduce: cd fuzz && cargo +nightly fuzz run <target> artifacts/<target>/<crash-file>" >&2
    exit 1
fi
echo "all ${#targets[@]} targets ran clean"
