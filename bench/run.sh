#!/usr/bin/env bash
# Runs every benchmark under $BUILD/bench (sgemm ceiling first) and keeps a copy of the output
# in $BUILD/bench/last-run.txt. Record notable results by hand in bench/RESULTS.md with the
# date, machine and command.
set -eu
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
out="$BUILD/bench/last-run.txt"
{
    echo "# $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -n): $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
    "$BUILD/bench/bench_sgemm"
    for b in "$BUILD"/bench/bench_*; do
        [ -x "$b" ] && [ "$(basename "$b")" != bench_sgemm ] || continue
        echo; "$b"
    done
} 2>&1 | tee "$out"
