#!/usr/bin/env bash
# Runs every test program under $BUILD/tests and every tests/*.sh check, then prints
# "N passed, N failed" over all of them. A program that crashes or exits non-zero
# without printing a FAIL line still counts as one failure. Exit status: 0 iff none failed.
set -u
BUILD=${BUILD:-build}
# Shared or busy machines (CI): spinning OpenMP barriers can slow runs several times over.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
cd "$(dirname "$0")/.."
passed=0; failed=0; failed_names=()
log=$(mktemp); trap 'rm -f "$log"' EXIT

run_one() { # name, command...
    local name=$1; shift
    local start=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    local p f
    p=$(grep -c '^ok ' "$log"); f=$(grep -c '^FAIL ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1; echo "FAIL $name (exit status $rc)" >>"$log"
    fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -gt 0 ]; then
        failed_names+=("$name"); cat "$log"
    fi
    printf '%-32s %3d passed %3d failed  %3ds\n' "$name" "$p" "$f" $((SECONDS - start))
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for s in tests/check_*.sh; do
    [ -f "$s" ] || continue
    run_one "$(basename "$s")" env BUILD="$BUILD" bash "$s"
done

[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
