#!/usr/bin/env bash
# End-to-end checks of the `sdlora` program: exit statuses, error messages with hints, the
# self-check, and the probe door writing a well-formed file. Prints ok/FAIL lines for run.sh.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/sdlora"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0

check() { # name, expected status, command... (stderr+stdout captured in $tmp/out)
    local name=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>&1
    local rc=$?
    if [ "$rc" -eq "$want" ]; then echo "ok $name"; else echo "FAIL $name (exit $rc, expected $want)"; cat "$tmp/out"; fails=$((fails+1)); fi
}
expect_text() { # name, text that must appear in the last output
    if grep -qF -- "$2" "$tmp/out"; then echo "ok $1"; else echo "FAIL $1: '$2' not in output:"; cat "$tmp/out"; fails=$((fails+1)); fi
}

check "cli: --help" 0 "$bin" --help
expect_text "cli: help lists selfcheck" "selfcheck"
check "cli: version" 0 "$bin" version
expect_text "cli: version names the BLAS" "OpenBLAS"
check "cli: no command" 1 "$bin"
check "cli: unknown command" 1 "$bin" frobnicate
expect_text "cli: unknown command hint" "hint:"
check "cli: bad --threads" 1 "$bin" --threads zero version
check "cli: selfcheck passes" 0 "$bin" --threads 2 selfcheck
expect_text "cli: selfcheck summary" "self-check passed"
check "cli: selfcheck rejects options" 1 "$bin" selfcheck --fast

check "probe: tokenize" 0 "$bin" probe tokenize --prompt "a (photo:1.2) of a cat" --out "$tmp/t.safetensors"
if head -c 400 "$tmp/t.safetensors" | grep -q '"input_ids":{"dtype":"I32","shape":\[1,77\]' \
   && head -c 400 "$tmp/t.safetensors" | grep -q '"weights":{"dtype":"F32","shape":\[1,77\]'; then
    echo "ok probe: tokenize writes input_ids and weights"
else echo "FAIL probe: tokenize output header"; head -c 400 "$tmp/t.safetensors"; echo; fails=$((fails+1)); fi
check "probe: tokenize 225" 0 "$bin" probe tokenize --prompt "long prompt" --max_token_length 225 --out "$tmp/t3.safetensors"
head -c 400 "$tmp/t3.safetensors" | grep -q '"shape":\[3,77\]' && echo "ok probe: 225 gives 3 windows" || { echo "FAIL probe: 225 windows"; fails=$((fails+1)); }
check "probe: bad max tokens" 1 "$bin" probe tokenize --prompt x --max-tokens 100 --out "$tmp/x.safetensors"
expect_text "probe: bad value hint" "use one of 75|150|225"
check "probe: missing --out" 1 "$bin" probe tokenize --prompt x
check "probe: unwritable output" 1 "$bin" probe tokenize --prompt x --out "$tmp/no/such/dir/t.safetensors"
expect_text "probe: unwritable output names the file" "$tmp/no/such/dir/t.safetensors"
check "probe: unknown component" 1 "$bin" probe nothing
exit $((fails > 0))
