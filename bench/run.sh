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
        case "$(basename "$b")" in bench_sgemm|bench_load|*.d|*.o) continue ;; esac
        [ -x "$b" ] && { echo; "$b"; }
    done
    # Opening a full-size SD1.5 checkpoint: generated here (fp16 single file, ~2 GB, ~30 s),
    # or pass one in with SDLORA_BENCH_MODEL=path.
    model=${SDLORA_BENCH_MODEL:-}
    if [ -z "$model" ]; then
        model=$(mktemp -d)/sd15-fp16.safetensors
        "$BUILD/sdlora" init-model --preset sd15 --seed 1 --format single-file --dtype fp16 --out "$model" >/dev/null
        generated=$model
    fi
    echo; "$BUILD/bench/bench_load" "$model"
    [ -n "${generated:-}" ] && rm -rf "$(dirname "$generated")"
} 2>&1 | tee "$out"
