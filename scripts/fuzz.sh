#!/usr/bin/env bash
# Builds and runs each fuzz target of fuzz/ for a bounded time on this machine's stable
# toolchain (RUSTC_BOOTSTRAP=1 lets stable rustc take cargo-fuzz's -Z flags).
#
#   scripts/fuzz.sh [SECONDS]          # every target, SECONDS each (default 60)
#   FUZZ_TARGETS="ops" scripts/fuzz.sh 600
#   FUZZ_SANITIZER=address scripts/fuzz.sh 60   # default: none (the crate's only unsafe code is two small, property-tested blocks)
#   FUZZ_CMIN=1 scripts/fuzz.sh 0      # only minimise fuzz/corpus/* (cargo fuzz cmin)
#
# New inputs go to fuzz/corpus/<target>/ (replayed by `cargo test --test fuzz_replay`, so keep
# the corpus small: minimise it before committing). fuzz/seeds/<target>/ holds hand-written
# starting inputs. A crash lands in fuzz/artifacts/<target>/: reproduce it with
# `cargo fuzz run -s none <target> <file>`, fix it, and copy the file to
# fuzz/regressions/<target>/ so that the replay test keeps it fixed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
targets="${FUZZ_TARGETS:-ops journal decode json http}"
sanitizer="${FUZZ_SANITIZER:-none}"
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

root="$(pwd)/fuzz"
cargo fuzz build -s "$sanitizer"

if [ -n "${FUZZ_CMIN:-}" ]; then
    for target in $targets; do
        mkdir -p "$root/corpus/$target"
        # Keep one input per covered edge (not per hit count): a small corpus that the
        # replay test runs quickly, with the same edge coverage.
        cargo fuzz cmin -s "$sanitizer" "$target" "$root/corpus/$target" -- -use_counters=0
    done
    [ "$seconds" = 0 ] && exit 0
fi

status=0
summary=""
for target in $targets; do
    mkdir -p "$root/corpus/$target" "$root/seeds/$target" "$root/artifacts/$target" "$root/target"
    log="$root/target/fuzz-$target.log"
    echo "=== $target: ${seconds}s" >&2
    set +e
    cargo fuzz run -s "$sanitizer" "$target" "$root/corpus/$target" "$root/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=30 -print_final_stats=1 >"$log" 2>&1
    code=$?
    set -e
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    corpus=$(find "$root/corpus/$target" -type f | wc -l)
    line="$target: ${runs:-?} executions in ${seconds}s (${rate:-?}/s), corpus $corpus inputs"
    if [ "$code" -ne 0 ]; then
        status=1
        line="$line, FAILED (exit $code): see $log and fuzz/artifacts/$target/"
        grep -m 5 -E 'panicked at|SUMMARY|Test unit written' "$log" >&2 || true
    fi
    echo "$line" >&2
    summary="$summary$line"$'\n'
done
printf '\n%s' "$summary"
exit "$status"
