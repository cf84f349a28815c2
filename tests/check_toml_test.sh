#!/usr/bin/env bash
# check_toml_test.sh — runs the toml-test conformance cases for TOML 1.0.0
# (tests/toml-test/files-toml-1.0.0) against $BUILD/tools/toml-decode:
#   valid/*.toml   must decode (exit 0) to JSON equal to the .json beside it, as judged by
#                  $BUILD/tests/tool_toml_json_compare;
#   invalid/*.toml must be rejected with exit status exactly 1 (not a crash or a signal).
# Prints "ok toml-test valid (N cases)" / "ok toml-test invalid (N cases)" when a category
# passes, else one "FAIL toml-test <case>" line per failing case. Exit status 0 iff all pass.
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
decode=$BUILD/tools/toml-decode
compare=$BUILD/tests/tool_toml_json_compare
dir=tests/toml-test
list=$dir/files-toml-1.0.0
for f in "$decode" "$compare" "$list"; do
    if [ ! -e "$f" ]; then
        echo "FAIL toml-test setup: $f is missing (run make tests)"
        exit 1
    fi
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

failed=0; n_valid=0; n_invalid=0; bad_valid=0; bad_invalid=0
while IFS= read -r case || [ -n "$case" ]; do
    case $case in
    valid/*.toml)
        n_valid=$((n_valid + 1))
        want=$dir/${case%.toml}.json
        if [ ! -f "$want" ]; then
            echo "FAIL toml-test $case (no expected $want)"; bad_valid=$((bad_valid + 1)); continue
        fi
        "$decode" <"$dir/$case" >"$tmp/out.json" 2>"$tmp/err"
        rc=$?
        if [ "$rc" -ne 0 ]; then
            echo "FAIL toml-test $case (rejected valid TOML, exit status $rc)"
            sed 's/^/    /' "$tmp/err" | head -5
            bad_valid=$((bad_valid + 1))
        elif ! "$compare" "$want" "$tmp/out.json" 2>"$tmp/err"; then
            echo "FAIL toml-test $case (decoded value differs)"
            sed 's/^/    /' "$tmp/err" | head -10
            bad_valid=$((bad_valid + 1))
        fi
        ;;
    invalid/*.toml)
        n_invalid=$((n_invalid + 1))
        "$decode" <"$dir/$case" >/dev/null 2>"$tmp/err"
        rc=$?
        if [ "$rc" -ne 1 ]; then
            if [ "$rc" -eq 0 ]; then why="accepted invalid TOML"; else why="exit status $rc, expected 1"; fi
            echo "FAIL toml-test $case ($why)"
            bad_invalid=$((bad_invalid + 1))
        elif [ ! -s "$tmp/err" ]; then
            echo "FAIL toml-test $case (rejected without an error message)"
            bad_invalid=$((bad_invalid + 1))
        fi
        ;;
    esac
done <"$list"

# Guard against a truncated or emptied list passing vacuously.
if [ "$n_valid" -lt 200 ] || [ "$n_invalid" -lt 450 ]; then
    echo "FAIL toml-test list $list holds only $n_valid valid and $n_invalid invalid cases"
    exit 1
fi
[ "$bad_valid" -eq 0 ] && echo "ok toml-test valid ($n_valid cases)"
[ "$bad_invalid" -eq 0 ] && echo "ok toml-test invalid ($n_invalid cases)"
[ "$bad_valid" -eq 0 ] && [ "$bad_invalid" -eq 0 ]
