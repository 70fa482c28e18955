#!/usr/bin/env bash
# Usage: fuzz/run-all.sh [SECONDS [TARGET...]]
# Runs each fuzz target (all by default) for SECONDS (600 by default), one
# after the other, on its kept corpus (fuzz/corpus/<target>), and prints one
# line per target: runs, seconds, and "ok" or the crash it found (the input
# is kept in fuzz/artifacts/<target>/).
set -uo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(line_protocol avro_decode influxql query_params write_request node_wire)
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/fuzz-target}"
for t in "${targets[@]}"; do
    features=()
    # Only this target needs the query engine (and so RocksDB).
    [ "$t" = node_wire ] && features=(--features node_wire)
    extra=()
    [ "$t" = influxql ] && extra=(-max_len=400)
    mkdir -p "corpus/$t"
    cargo fuzz build "$t" --sanitizer none "${features[@]}" || exit 1
    log="$(mktemp)"
    start=$(date +%s)
    cargo fuzz run "$t" --sanitizer none "${features[@]}" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 "${extra[@]}" >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    if [ $rc -eq 0 ]; then verdict=ok; else verdict="CRASH (exit $rc): $(grep -m1 -E 'panicked|ERROR' "$log")"; fi
    echo "$t: ${runs:-?} runs in ${took}s: $verdict"
    [ $rc -eq 0 ] || tail -40 "$log" >&2
    rm -f "$log"
done
