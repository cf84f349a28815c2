#!/usr/bin/env bash
# `sdlora grid` end to end on the tiny model (init-model): the PNG has the size the layout
# predicts and the A1111 X/Y/Z infotext, the same command gives the same bytes, a LoRA at
# weight 0 gives the base model's image exactly (merge + restore), at weight 1 another, a LoRA
# axis runs, and bad axes fail before the model loads with hints. Prints ok/FAIL lines.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/sdlora"
lora=tests/golden/generate/tiny_gen_lora.safetensors   # a kohya LoRA for the tiny model (tools/oracle)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
# PNG width and height from the IHDR chunk
png_size() { local b; b=($(od -An -tu1 -j16 -N8 "$1")); echo "$(( (b[0]<<24)|(b[1]<<16)|(b[2]<<8)|b[3] ))x$(( (b[4]<<24)|(b[5]<<16)|(b[6]<<8)|b[7] ))"; }

"$bin" init-model --preset tiny --seed 1 --out "$tmp/model" >/dev/null 2>&1 || fail "grid: init-model"
common=(--threads 2 grid --model "$tmp/model" --prompt "a {red|blue} cat" --width 64 --height 64 --steps 3 --seed 5)

# 3 seeds × 2 CFG values at 64 px: font scale 1, column band 12 + 2·4 = 20 px, row band
# "CFG: 7.5" (8 chars · 6 − 1 = 47) + 8 = 55 px → 55 + 3·64 = 247 by 20 + 2·64 = 148
if "$bin" "${common[@]}" --x_type seed --x_values 1-3 --y_type cfg --y_values "1, 7.5" --out "$tmp/a.png" >"$tmp/log" 2>&1; then
    ok "grid: seed × cfg runs"
else fail "grid: seed × cfg"; cat "$tmp/log"; fi
[ "$(png_size "$tmp/a.png")" = 247x148 ] && ok "grid: PNG is 247x148 as the layout says" || fail "grid: PNG size $(png_size "$tmp/a.png")"
if grep -aq 'X Type: Seed, X Values: 1-3, Y Type: CFG Scale, Y Values: "1, 7.5"' "$tmp/a.png" && grep -aq 'Script: X/Y/Z plot' "$tmp/a.png" \
   && grep -aq 'Steps: 3, Sampler: Euler a, CFG scale: 1.0, Seed: 1, Size: 64x64' "$tmp/a.png"; then
    ok "grid: parameters chunk holds the first cell's infotext and the axes"
else fail "grid: parameters chunk"; strings "$tmp/a.png" | head -5; fi
"$bin" "${common[@]}" --x_type seed --x_values 1-3 --y_type cfg --y_values "1, 7.5" --out "$tmp/b.png" >/dev/null 2>&1
cmp -s "$tmp/a.png" "$tmp/b.png" && ok "grid: same command, same bytes" || fail "grid: not reproducible"

# one row (no y axis): no row band; a LoRA at weight 0 is the base model, at 1 it is not
"$bin" "${common[@]}" --x_type steps --x_values 2,3 --out "$tmp/base.png" >"$tmp/log" 2>&1 || { fail "grid: x only"; cat "$tmp/log"; }
[ "$(png_size "$tmp/base.png")" = 128x84 ] && ok "grid: one row, no row band (128x84)" || fail "grid: one-row size $(png_size "$tmp/base.png")"
"$bin" "${common[@]}" --x_type steps --x_values 2,3 --lora "$lora:0" --out "$tmp/w0.png" >/dev/null 2>&1
"$bin" "${common[@]}" --x_type steps --x_values 2,3 --lora "$lora:1" --out "$tmp/w1.png" >/dev/null 2>&1
cmp -s "$tmp/base.png" "$tmp/w0.png" && ok "grid: LoRA at weight 0 gives the base images" || fail "grid: weight 0 changed the images"
[ -f "$tmp/w1.png" ] && ! cmp -s "$tmp/base.png" "$tmp/w1.png" && ok "grid: LoRA at weight 1 changes them" || fail "grid: LoRA had no effect"

# a LoRA axis (with "none") against a weight axis; samplers; prompt S/R
if "$bin" "${common[@]}" --x_type lora --x_values "none,$lora" --y_type lora_weight --y_values "0.5-1 [2]" \
      --out "$tmp/l.png" >"$tmp/log" 2>&1 && [ -f "$tmp/l.png" ]; then ok "grid: lora × lora_weight"
else fail "grid: lora axis"; cat "$tmp/log"; fi
if "$bin" "${common[@]}" --x_type sampler --x_values "euler,DPM++ 2M Karras" --y_type prompt_sr --y_values "cat,dog" \
      --title "samplers" --out "$tmp/s.png" >"$tmp/log" 2>&1 && [ -f "$tmp/s.png" ]; then ok "grid: sampler × prompt S/R with a title"
else fail "grid: sampler × prompt_sr"; cat "$tmp/log"; fi

# errors: before loading anything, with the option named and a hint
bad() { # name, text expected, args...
    local name=$1 want=$2; shift 2
    if "$bin" "${common[@]}" "$@" --out "$tmp/bad.png" >"$tmp/log" 2>&1; then fail "grid: $name accepted"
    elif grep -qF -- "$want" "$tmp/log" && grep -q "hint:" "$tmp/log" && [ ! -f "$tmp/bad.png" ]; then ok "grid: $name rejected"
    else fail "grid: $name message"; cat "$tmp/log"; fi
}
bad "unknown axis" "unknown axis type 'colour'" --x_type colour --x_values 1
bad "bad seed" "not a seed: 'x'" --x_type seed --x_values 1,x
bad "bad range" "bad range" --x_type steps --x_values "5-1"
bad "same axis twice" "both axes" --x_type seed --x_values 1 --y_type seed --y_values 2
bad "y without values" "--y_values" --x_type seed --x_values 1 --y_type cfg
bad "prompt S/R not found" "did not find 'dog'" --x_type prompt_sr --x_values dog,cow
bad "missing LoRA file" "no such LoRA file" --x_type lora --x_values "$tmp/none.safetensors"
bad "weight axis without LoRA" "lora_weight axis without a LoRA" --x_type lora_weight --x_values 1,0.5
bad "wildcard without folder" "__animal__" --x_type seed --x_values 1 --prompt "a __animal__"
exit $((fails > 0))
