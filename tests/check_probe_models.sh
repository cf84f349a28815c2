#!/usr/bin/env bash
# `sdlora probe unet` / `probe text-encoder` against diffusers/transformers
# (tools/oracle/make_probe_model_goldens.py, on tests/golden/checkpoints/tiny-diffusers), and
# `sdlora init-model`: the tiny model in both formats loads back with no unknown or missing
# tensor and runs; same seed -> byte-identical files, another seed -> different; a missing
# parent folder is a clear error; an existing output is replaced whole.
# Prints ok/FAIL lines for tests/run.sh. SDLORA overrides the binary.
set -u
BUILD=${BUILD:-build}
bin=${SDLORA:-$BUILD/sdlora}; cmp="${ST_COMPARE:-$BUILD/tests/tool_st_compare}"
G=tests/golden/probe; M=tests/golden/checkpoints/tiny-diffusers
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok $*"; }
fail() { echo "FAIL $*"; [ -f "$tmp/log" ] && cat "$tmp/log"; fails=$((fails + 1)); }

# fp32 end to end against float64 references: observed ~3e-7 of the largest value
rtol=5e-6
if "$bin" probe unet --model "$M" --in "$G/unet.in.safetensors" --out "$tmp/unet.safetensors" >"$tmp/log" 2>&1 \
   && "$cmp" "$tmp/unet.safetensors" "$G/unet.out.safetensors" "$rtol" >>"$tmp/log" 2>&1
then ok "probe unet matches diffusers"; else fail "probe unet"; fi
for skip in 1 2; do
    ref="$G/text-encoder.out.safetensors"; [ "$skip" = 2 ] && ref="$G/text-encoder-skip2.out.safetensors"
    if "$bin" probe text-encoder --model "$M" --in "$G/text-encoder.in.safetensors" --clip-skip "$skip" \
            --out "$tmp/te$skip.safetensors" >"$tmp/log" 2>&1 \
       && "$cmp" "$tmp/te$skip.safetensors" "$ref" "$rtol" >>"$tmp/log" 2>&1
    then ok "probe text-encoder --clip-skip $skip matches transformers"; else fail "probe text-encoder --clip-skip $skip"; fi
done
# the tiny reference encoder has 100 tokens: a real prompt's ids (BOS 49406) must be refused, naming the model
if "$bin" probe text-encoder --model "$M" --prompt "a cat" --out "$tmp/x.safetensors" >"$tmp/log" 2>&1; then
    fail "probe text-encoder accepted ids beyond the vocabulary"
elif grep -q "tiny-diffusers" "$tmp/log" && [ ! -e "$tmp/x.safetensors" ]; then ok "probe text-encoder: out-of-vocabulary ids are an error naming the model"
else fail "probe text-encoder: out-of-vocabulary message"; fi

# ---- init-model ----
for form in diffusers single; do
    out="$tmp/tiny-$form"; [ $form = single ] && out="$out.safetensors"
    if "$bin" init-model --preset tiny --seed 1 --out "$out" --check >"$tmp/log" 2>&1 \
       && [ "$(grep -c ' 0 unknown' "$tmp/log")" = 3 ]
    then ok "init-model tiny $form: every component loads back, no unknown or missing tensor"
    else fail "init-model tiny $form"; fi
    if "$bin" probe unet --model "$out" --in "$G/unet.tiny-init.in.safetensors" --out "$tmp/eps-$form.safetensors" >"$tmp/log" 2>&1 \
       && "$bin" probe text-encoder --model "$out" --prompt "a photo of a cat, (masterpiece:1.2)" --max-tokens 150 \
            --clip-skip 2 --out "$tmp/te-$form.safetensors" >>"$tmp/log" 2>&1
    then ok "probe unet and text-encoder run on the tiny $form model"; else fail "probes on the tiny $form model"; fi
done
# the same weights in both formats: bit-identical outputs (rtol 0); finite (a NaN never compares equal)
if "$cmp" "$tmp/eps-single.safetensors" "$tmp/eps-diffusers.safetensors" 0 >"$tmp/log" 2>&1 \
   && "$cmp" "$tmp/te-single.safetensors" "$tmp/te-diffusers.safetensors" 0 >>"$tmp/log" 2>&1
then ok "init-model: single-file and diffusers hold the same weights (identical, finite outputs)"
else fail "init-model: the two formats differ"; fi
# kohya joins 2 windows into 75*2+2 = 152 states of width 32
if grep -q '"hidden_states":{"dtype":"F32","shape":\[1,152,32\]' "$tmp/te-single.safetensors"
then ok "probe text-encoder --max-tokens 150: (1, 152, 32) states"; else fail "probe text-encoder: joined shape"; fi

"$bin" init-model --preset tiny --seed 1 --out "$tmp/again" >/dev/null 2>&1
"$bin" init-model --preset tiny --seed 1 --out "$tmp/again.safetensors" >/dev/null 2>&1
"$bin" init-model --preset tiny --seed 2 --out "$tmp/seed2.safetensors" >/dev/null 2>&1
if cmp -s "$tmp/again.safetensors" "$tmp/tiny-single.safetensors" && diff -r -q "$tmp/again" "$tmp/tiny-diffusers" >/dev/null
then ok "init-model: the same seed gives byte-identical files (both formats)"; else fail "init-model: not reproducible"; fi
if [ -s "$tmp/seed2.safetensors" ] && ! cmp -s "$tmp/seed2.safetensors" "$tmp/tiny-single.safetensors"
then ok "init-model: another seed gives other weights"; else fail "init-model: seed ignored"; fi

if "$bin" init-model --preset tiny --seed 1 --out "$tmp/no/such/dir/m.safetensors" >"$tmp/log" 2>&1; then
    fail "init-model wrote into a missing folder"
elif grep -q "parent folder '.*no/such/dir' does not exist" "$tmp/log" && grep -q "hint:" "$tmp/log" && [ ! -e "$tmp/no" ]
then ok "init-model: a missing parent folder is a clear error, nothing created"
else fail "init-model: missing parent message"; fi

# replacing: seed 2 over the seed-1 outputs gives exactly the fresh seed-2 files, no temporaries left
"$bin" init-model --preset tiny --seed 2 --out "$tmp/again.safetensors" >/dev/null 2>&1
"$bin" init-model --preset tiny --seed 2 --out "$tmp/again" >/dev/null 2>&1
"$bin" init-model --preset tiny --seed 2 --out "$tmp/seed2" >/dev/null 2>&1
if cmp -s "$tmp/again.safetensors" "$tmp/seed2.safetensors" && diff -r -q "$tmp/again" "$tmp/seed2" >/dev/null \
   && [ -z "$(find "$tmp" -name '*.tmp-*')" ]
then ok "init-model: an existing output is replaced whole, no temporary files left"; else fail "init-model: replacing an output"; fi
exit $((fails > 0))
