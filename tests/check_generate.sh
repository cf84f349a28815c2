#!/usr/bin/env bash
# `sdlora generate` end to end on the tiny init-model model:
#   - the pipeline against diffusers' StableDiffusionPipeline (tests/golden/generate, from
#     tools/oracle/make_generate_goldens.py): samplers, batches, v-prediction, Karras, clip skip,
#     A1111 weights + BREAK, a kohya LoRA/LoCon at 0.7 and at te 0.3 / unet 0.9 — PSNR >= 40 dB
#     each (tests/tool_generate_oracle.c)
#   - the trainer path: the same LoRA attached as adapters to models holding training plans
#   - the CLI: PNG written and numbered as A1111 does, its "parameters" chunk read back and
#     compared in full (model hash and LoRA hash recomputed here with sha256sum), <lora:…> tags
#     vs --lora FILE:W (same pixels), the PNG against the diffusers golden, the hash cache,
#     --vae_tiling, and errors that name the file/option with a hint.
# Prints ok/FAIL lines for tests/run.sh.
set -u
BUILD=${BUILD:-build}
bin=${SDLORA:-$BUILD/sdlora}; tool="$BUILD/tests/tool_generate_oracle"
G=tests/golden/generate
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"
fails=0
ok() { echo "ok $*"; }
fail() { echo "FAIL $*"; [ -f "$tmp/log" ] && cat "$tmp/log"; fails=$((fails + 1)); }

"$bin" init-model --preset tiny --seed 1 --out "$tmp/tiny" >/dev/null 2>&1 &&
"$bin" init-model --preset tiny --seed 1 --out "$tmp/tiny.safetensors" >/dev/null 2>&1 || { echo "FAIL init-model"; exit 1; }

# ---- the pipeline against diffusers (one ok/FAIL line per case) ----
"$tool" oracle "$tmp/tiny" 2>"$tmp/log" || { echo "FAIL generate oracle (exit status)"; cat "$tmp/log"; fails=$((fails + 1)); }

# ---- the CLI ----
gen() { "$bin" generate --model "$tmp/tiny.safetensors" --width 48 --height 32 --steps 6 --sampler euler "$@"; }
out="$tmp/out"
mhash=$(sha256sum "$tmp/tiny.safetensors" | cut -c1-10)
lora="$G/tiny_gen_lora.safetensors"
n=$(od -An -t u8 -N8 "$lora" | tr -d ' ')
lhash=$(tail -c +$((n + 9)) "$lora" | sha256sum | cut -c1-12)
expected=$(printf 'a photo of a cat <lora:tiny_gen_lora:0.7>\nNegative prompt: blurry\nSteps: 6, Sampler: Euler, CFG scale: 7.5, Seed: 12, Size: 48x32, Model hash: %s, Model: tiny, Lora hashes: "tiny_gen_lora: %s", Version: sdlora 0.1.0' "$mhash" "$lhash")

if gen --prompt "a photo of a cat <lora:tiny_gen_lora:0.7>" --negative_prompt blurry --lora_dir "$G" --seed 12 --out "$out" >"$tmp/log" 2>&1 \
   && [ -f "$out/00000-12.png" ]
then ok "generate: <lora:…> from --lora_dir, PNG written as 00000-12.png"; else fail "generate with a <lora:> tag"; fi
if [ "$("$tool" png-text "$out/00000-12.png" 2>&1)" = "$expected" ]
then ok "generate: the parameters chunk is A1111's layout (model hash, Lora hashes)"
else fail "generate: parameters chunk"; echo "got:"; "$tool" png-text "$out/00000-12.png"; echo; echo "expected:"; echo "$expected"; fi
# same settings as the golden's "lora" case: 8-bit PNG vs diffusers' float image
if "$tool" png-psnr "$out/00000-12.png" lora 40 >"$tmp/log" 2>&1
then ok "generate: the PNG matches diffusers with the LoRA at 0.7 ($(cat "$tmp/log"))"; else fail "generate: PNG vs diffusers"; fi
if grep -q "$mhash" "$XDG_CACHE_HOME/sdlora/model_hashes.tsv" 2>/dev/null; then ok "generate: model hash cached"; else fail "generate: hash cache"; fi

# --lora FILE:W: the same merge, the tag added to the recorded prompt; numbering continues
if gen --prompt "a photo of a cat" --lora "$lora:0.7" --negative_prompt blurry --seed 12 --out "$out" >"$tmp/log" 2>&1 \
   && [ -f "$out/00001-12.png" ] && ! grep -q "hashing" "$tmp/log" \
   && "$tool" png-same "$out/00000-12.png" "$out/00001-12.png" \
   && [ "$("$tool" png-text "$out/00001-12.png")" = "$expected" ]
then ok "generate: --lora FILE:0.7 = <lora:name:0.7> (pixels and metadata), next number, cached hash"
else fail "generate --lora FILE:W"; fi

# batch 2 × 2 iterations: seeds 5..8, numbers 2..5; A1111 weights and BREAK in the prompt
if gen --prompt "a (red:1.2) cat BREAK [dog]" --batch_size 2 --n_iter 2 --seed 5 --cfg_scale 5 --clip_skip 2 --out "$out" >"$tmp/log" 2>&1 \
   && [ -f "$out/00002-5.png" ] && [ -f "$out/00003-6.png" ] && [ -f "$out/00004-7.png" ] && [ -f "$out/00005-8.png" ] \
   && "$tool" png-text "$out/00004-7.png" | grep -q "^Steps: 6, Sampler: Euler, CFG scale: 5.0, Seed: 7, Size: 48x32, Model hash: $mhash, Model: tiny, Clip skip: 2, Version: sdlora 0.1.0$" \
   && ! "$tool" png-text "$out/00004-7.png" | grep -q "Negative prompt"
then ok "generate: --batch_size 2 --n_iter 2 gives seeds 5..8 numbered 00002..00005"
else fail "generate batch/n_iter"; fi

# image k of a batch = a batch-1 run with seed + k (per-image generators), ancestral sampler too
if gen --prompt "two birds" --sampler "Euler a" --batch_size 2 --seed 40 --out "$tmp/b" >"$tmp/log" 2>&1 \
   && gen --prompt "two birds" --sampler "Euler a" --seed 41 --out "$tmp/c" >>"$tmp/log" 2>&1 \
   && "$tool" png-same "$tmp/b/00001-41.png" "$tmp/c/00000-41.png" \
   && "$tool" png-text "$tmp/c/00000-41.png" | grep -q "Sampler: Euler a,"
then ok "generate: image 2 of a batch = seed + 1 alone (Euler a)"; else fail "generate: batch seeds"; fi

if "$bin" --log_level debug generate --model "$tmp/tiny" --prompt "a big picture" --width 160 --height 144 --steps 2 --vae_tiling \
      --sampler "DPM++ 2M Karras" --seed 3 --out "$tmp/t" >"$tmp/log" 2>&1 \
   && grep -q "in tiles of\|tiles of" "$tmp/log" && [ -f "$tmp/t/00000-3.png" ] \
   && "$tool" png-text "$tmp/t/00000-3.png" | grep -q "Sampler: DPM++ 2M, Schedule type: Karras," \
   && ! "$tool" png-text "$tmp/t/00000-3.png" | grep -q "Model hash"
then ok "generate: --vae_tiling decodes in tiles; diffusers folder (no file hash); Karras in the metadata"
else fail "generate --vae_tiling"; fi

# ---- errors name the file or option and give a hint; nothing is written ----
err() { # name, text that must appear, args...
    local name=$1 text=$2; shift 2
    if "$bin" generate --model "$tmp/tiny.safetensors" --out "$tmp/e" "$@" >"$tmp/log" 2>&1; then fail "$name: succeeded"
    elif grep -qF -- "$text" "$tmp/log" && grep -q "hint:" "$tmp/log" && [ ! -e "$tmp/e/00000-1.png" ]; then ok "$name"
    else fail "$name: message"; fi
}
err "generate: a missing --lora file is named" "$tmp/nope.safetensors" --prompt x --seed 1 --lora "$tmp/nope.safetensors:0.5"
err "generate: an unknown <lora:name> names the file looked for" "$G/nope.safetensors" --prompt "x <lora:nope:1>" --seed 1 --lora_dir "$G"
err "generate: <lora:…> without --lora_dir" "--lora_dir" --prompt "x <lora:tiny_gen_lora:1>" --seed 1
err "generate: a bad LoRA weight" "lora:tiny_gen_lora:abc" --prompt "x <lora:tiny_gen_lora:abc>" --seed 1 --lora_dir "$G"
err "generate: an unknown sampler" "unknown sampler 'unipc'" --prompt x --seed 1 --sampler unipc
err "generate: a size that is not a multiple" "multiples of 4 px" --prompt x --seed 1 --width 50
err "generate: a bad seed" "not a seed" --prompt x --seed abc
err "generate: a missing model" "$tmp/missing.safetensors" --prompt x --seed 1 --model "$tmp/missing.safetensors"
err "generate: a model given as --lora" "lora" --prompt x --seed 1 --lora "$tmp/tiny.safetensors"
err "generate: a missing wildcard file is named" "$tmp/wc/nope.txt" --prompt "a __nope__" --seed 1 --wildcard_dir "$tmp/wc"

# dynamic prompts: {a|b} and __wildcard__ expanded per batch from its seed; the infotext holds the choice
mkdir -p "$tmp/wc" && printf 'red\nblue\n# a comment\ngreen\n' >"$tmp/wc/color.txt"
if "$bin" generate --model "$tmp/tiny.safetensors" --out "$tmp/dyn" --prompt "a {circle|square} in __color__" \
      --wildcard_dir "$tmp/wc" --width 64 --height 64 --steps 1 --seed 3 --n_iter 6 >"$tmp/log" 2>&1; then
    got=$(for f in "$tmp/dyn"/*.png; do grep -aoE "a (circle|square) in (red|blue|green)" "$f" | head -1; done | sort -u | wc -l)
    raw=$(grep -al "__color__\|{circle" "$tmp/dyn"/*.png | wc -l)
    if [ "$got" -ge 2 ] && [ "$raw" -eq 0 ]; then ok "generate: dynamic prompts and wildcards expand per seed ($got distinct prompts)"
    else fail "generate: dynamic prompts (distinct $got, unexpanded $raw)"; fi
    "$bin" generate --model "$tmp/tiny.safetensors" --out "$tmp/dyn2" --prompt "a {circle|square} in __color__" \
      --wildcard_dir "$tmp/wc" --width 64 --height 64 --steps 1 --seed 5 >"$tmp/log" 2>&1
    if [ "$(grep -aoE 'a [a-z]+ in [a-z]+' "$tmp/dyn2"/00000-5.png | head -1)" = "$(grep -aoE 'a [a-z]+ in [a-z]+' "$tmp/dyn"/00002-5.png | head -1)" ]; then
        ok "generate: a seed reproduces its dynamic prompt"
    else fail "generate: dynamic prompt not reproducible from the seed"; fi
else fail "generate: dynamic prompt run"; fi

[ "$fails" -eq 0 ]
