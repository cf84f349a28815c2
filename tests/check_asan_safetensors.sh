#!/usr/bin/env bash
# check_asan_safetensors.sh — builds tests/test_safetensors.c with AddressSanitizer and UBSan
# (-O1) into ${BUILD:-build}/asan/ and runs it with SDLORA_TEST_QUICK=1, so every malformed-file
# case and the random mutations run under the sanitizers on each `make test` (the parser reads
# untrusted files). Prints the program's ok/FAIL lines for tests/run.sh; exits non-zero on any
# failure or sanitizer report.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
out="$BUILD/asan"
mkdir -p "$out"
CC=${CC:-cc}
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
if ! $CC -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Wno-unused-parameter $san -Isrc -Itests \
        $(pkg-config --cflags libcjson) -o "$out/test_safetensors" \
        tests/test_safetensors.c tests/harness.c src/base/*.c src/io/safetensors.c src/io/json.c \
        $(pkg-config --libs libcjson) -lm -lpthread >"$out/build.log" 2>&1; then
    cat "$out/build.log"
    echo "FAIL check_asan_safetensors (build)"
    exit 1
fi
SDLORA_TEST_QUICK=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    "$out/test_safetensors"
