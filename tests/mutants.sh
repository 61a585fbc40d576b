#!/usr/bin/env bash
# tests/mutants.sh — mutation testing with cargo-mutants (https://mutants.rs;
# `cargo install cargo-mutants --locked`, outside any namespace). A mutant is our code
# with one small change; a suite that still passes has missed it. Which mutants are not
# worth a test, and why: .cargo/mutants.toml. Results: target/mutants-*/mutants.out/
# (missed.txt, caught.txt, timeout.txt, unviable.txt, outcomes.json).
#
#   bash tests/mutants.sh core [CARGO-MUTANTS ARGS...]
#       networkzero-core (class key, CURVE, alloc) against its unit tests, netsim and golden:
#       no sockets, runs anywhere. The full run has ~2300 mutants (hours; add `--iterate` to
#       resume a stopped run where it left off); `--file core/src/time.rs`
#       or `--re NAME` picks a few, `--list` only lists them.
#   bash tests/mutants.sh core-units [CARGO-MUTANTS ARGS...]
#       the mutants of core/src/{zmtp,socket,node} (about two thirds of them) against the
#       unit tests only, which are all that exercise that code; then `core --iterate`.
#       With `--file PATH` only that file (e.g. to run a part ahead of the full run),
#       into target/mutants-core-files.
#   bash tests/mutants.sh diff [CAP_MINUTES]
#       what CI runs: the core mutants in lines changed since the previous main (BASE below),
#       stopped after CAP_MINUTES (default 15). Fails on a missed mutant; mutants left
#       untested by the cap are listed, loudly, and do not fail the run.
#       BASE: $NW0_MUTANTS_BASE, else the merge-base with main when HEAD is not main, else
#       main@{1} (main before its last merge), else HEAD~1.
#   bash tests/mutants.sh std FILE [TEST...] [-- CARGO-MUTANTS ARGS...]
#       one file of the std crate or the CLI (adapters/std/src/…, bin/nw0.rs) against the
#       crate's unit tests and the namespace suites TEST... of tests/tests/ (default:
#       discovery messaging cli), inside a private network namespace (it makes one, or
#       uses /work/shared/sealed's). The suites must pass unmutated first (checked here:
#       cargo-mutants' own baseline would run only the crate's tests). `nw0` is rebuilt for
#       each mutant (NW0_BUILD_BINS=1). Slow: the first mutant rebuilds our crates and
#       some dependencies (4.5 min here), then each takes about a minute (median 48 s
#       with the discovery and messaging suites: rebuild, nw0, the suites; an unviable one
#       a second); adapters/std/src/discovery.rs has ~145 mutants. Narrow it with
#       `-- --re NAME`; more files: `-- --file PATH`. Suites with Python peers (cli)
#       need the venv tests/run.sh makes (or NW0_PY_VENV=DIR, another tree's, read-only).
#       For the pure-Rust transport:
#       `-- --features networkzero/pure-rust`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p target   # cargo-mutants makes its output folder only inside an existing target/
say()  { printf '\033[1mmutants.sh:\033[0m %s\n' "$*" >&2; }
loud() { printf '\n\033[1;31m!!!!!!!! mutants.sh: %s\033[0m\n\n' "$*" >&2; }

command -v cargo-mutants >/dev/null ||
  { loud "cargo-mutants is missing: cargo install cargo-mutants --locked (outside any namespace)"; exit 1; }

# networkzero-core against its unit tests, netsim and golden (doc tests are examples),
# with every feature that compiles code of its own (class-key, curve, alloc): a mutant in
# code the build leaves out is never compiled, so no test could catch it.
CORE=(cargo mutants -p networkzero-core --features class-key,curve,alloc
      --cargo-test-arg=--lib --cargo-test-arg=--tests)

mode="${1:-}"
shift || true
case "$mode" in
core)
  exec "${CORE[@]}" -o target/mutants-core "$@"
  ;;

core-units)
  # The ZMTP engine, the sockets and the firmware node only against the unit tests:
  # netsim and golden exercise discovery alone (beacon, table, adverts, the class key),
  # so they cannot catch a mutant here, and skipping them makes each mutant ~40 % quicker.
  # Same output folder as `core`: run this first, then `core --iterate` tests the rest
  # (and again, against everything, any mutant this missed). A `--file` of your own
  # narrows the run to it (cargo-mutants would add it to ours), into its own folder so
  # that the full run's results stay as they are.
  files=(--file 'core/src/zmtp/**' --file 'core/src/socket/**' --file 'core/src/node/**')
  out=target/mutants-core
  for arg in "$@"; do
    case "$arg" in --file|--file=*) files=(); out=target/mutants-core-files ;; esac
  done
  exec cargo mutants -p networkzero-core --features class-key,curve,alloc \
    --cargo-test-arg=--lib -o "$out" "${files[@]}" "$@"
  ;;

diff)
  cap="${1:-15}"
  base="${NW0_MUTANTS_BASE:-}"
  if [ -z "$base" ]; then
    if [ "$(git rev-parse HEAD)" != "$(git rev-parse main 2>/dev/null || true)" ] &&
       git rev-parse -q --verify main >/dev/null; then
      base=$(git merge-base HEAD main)
    else
      base=$(git rev-parse -q --verify 'main@{1}' || git rev-parse HEAD~1)
    fi
  fi
  out=target/mutants-diff
  mkdir -p "$out"
  git diff --no-ext-diff "$base" -- core/src > "$out/core.diff"
  if [ ! -s "$out/core.diff" ]; then
    say "no change in core/src since $(git rev-parse --short "$base"): no mutants to test"
    exit 0
  fi
  say "core mutants in the lines changed since $(git rev-parse --short "$base") ($(grep -c '^+[^+]' "$out/core.diff" || true) lines added), at most ${cap} min"
  start=$SECONDS
  rc=0
  result="$out/mutants.out"
  # A change with no mutable line (tests, comments) makes no new results: the last
  # run's must not be reported, or counted, as this one's.
  rm -rf "$result" "$out/mutants.out.old"
  timeout --signal=INT --kill-after=60 "${cap}m" "${CORE[@]}" --in-diff "$out/core.diff" -o "$out" || rc=$?
  if [ "$rc" = 0 ] && [ ! -s "$result/mutants.json" -o "$(cat "$result/mutants.json" 2>/dev/null)" = "[]" ]; then
    say "no mutants in the changed lines (only tests, comments or declarations changed)"
    exit 0
  fi
  count() { local n; n=$(grep -c . "$result/$1" 2>/dev/null) || true; echo "${n:-0}"; }
  total=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$result/mutants.json" 2>/dev/null || echo "?")
  missed=$(count missed.txt); caught=$(count caught.txt)
  timeouts=$(count timeout.txt); unviable=$(count unviable.txt)
  tested=$((missed + caught + timeouts + unviable))
  say "$total mutants: $caught caught, $missed missed, $timeouts timed out, $unviable unviable, in $((SECONDS - start)) s"
  if [ "$missed" -gt 0 ]; then
    loud "mutants in core that no test catches (add a test, or accept them in .cargo/mutants.toml with a reason):"
    cat "$result/missed.txt" >&2
    exit 1
  fi
  case "$rc" in
    0|3) ;;                       # 3: some mutants made a test hang, and were stopped: caught
    124|130|137)
      loud "the ${cap}-minute cap stopped the run: $tested of $total mutants were tested; not tested (run them with: bash tests/mutants.sh core --in-diff $out/core.diff):"
      python3 - "$result" >&2 <<'PY' || true
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
done = set()
for name in ("caught.txt", "missed.txt", "timeout.txt", "unviable.txt"):
    if (out / name).exists():
        done.update((out / name).read_text().splitlines())
for m in json.loads((out / "mutants.json").read_text()):
    if m["name"] not in done:
        print("  " + m["name"])
PY
      ;;
    *) loud "cargo mutants failed (exit $rc): see $result/debug.log"; exit "$rc" ;;
  esac
  ;;

std)
  file="${1:?usage: tests/mutants.sh std FILE [TEST...] [-- CARGO-MUTANTS ARGS...]}"
  shift
  tests=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do tests+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  [ ${#tests[@]} -gt 0 ] || tests=(discovery messaging cli)
  cargo_test_args=(--lib --bins)
  for t in "${tests[@]}"; do cargo_test_args+=(--test "$t"); done
  features=""
  prev=""
  for a in "$@"; do
    case "$prev" in --features) features="$a" ;; esac
    case "$a" in --features=*) features="${a#--features=}" ;; esac
    prev="$a"
  done
  feature_args=()
  [ -z "$features" ] || feature_args=(--features "$features")
  # sockets only in a private network namespace: ours, or one made here
  in_ns() {
    if [ "${NW0_SEALED:-}" = 1 ] || [ "${NW0_TEST_NETNS:-}" = 1 ]; then "$@"; else tests/in-netns.sh "$@"; fi
  }
  # cargo-mutants' own baseline runs only the mutated package's tests, not the suites
  # of nw0-tests, so it is skipped (--baseline skip) and done here, in this tree
  # It is built with the profile cargo-mutants builds with, and that target/ is copied
  # to cargo-mutants' scratch tree (--copy-target): the first mutant then rebuilds only
  # our crates, not every dependency (~15 min here).
  # the Python peers' venv: $NW0_PY_VENV (e.g. another tree's, used read-only), else ours
  venv="${NW0_PY_VENV:-$ROOT/target/py-venv}"
  say "the unmutated tree first: cargo test --profile mutants -p networkzero -p nw0-tests ${cargo_test_args[*]} ${feature_args[*]}"
  cargo build --profile mutants --workspace --bins "${feature_args[@]}"
  in_ns env NW0_PY_VENV="$venv" \
    cargo test --profile mutants -p networkzero -p nw0-tests "${feature_args[@]}" "${cargo_test_args[@]}" ||
    { loud "the suites fail without any mutant: fix that first"; exit 1; }
  mutants_test_args=()
  for a in "${cargo_test_args[@]}"; do mutants_test_args+=("--cargo-test-arg=$a"); done
  # --timeout: a test run includes the rebuild of nw0 by the first test (NW0_BUILD_BINS)
  in_ns env NW0_BUILD_BINS=1 NW0_BUILD_FEATURES="$features" NW0_PY_VENV="$venv" \
    cargo mutants -p networkzero --test-package networkzero --test-package nw0-tests \
      --baseline skip --timeout 1200 --copy-target=true --file "$file" "${mutants_test_args[@]}" \
      -o target/mutants-std "$@"
  ;;

*)
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
