#!/usr/bin/env bash
# `sdlora probe …` against reference outputs from diffusers/transformers
# (tools/oracle/make_probe_goldens.py) on the tiny diffusers model in tests/golden/checkpoints.
# Prints ok/FAIL lines for tests/run.sh.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/sdlora"; cmp="$BUILD/tests/tool_st_compare"
G=tests/golden/probe; M=tests/golden/checkpoints/tiny-diffusers
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0

# name, rtol, probe args… : runs the probe with --in G/name.in --out tmp, compares with G/name.out
probe_vs_golden() {
    local name=$1 rtol=$2; shift 2
    if "$bin" probe "$name" "$@" --in "$G/$name.in.safetensors" --out "$tmp/$name.safetensors" >"$tmp/log" 2>&1 \
       && "$cmp" "$tmp/$name.safetensors" "$G/$name.out.safetensors" "$rtol" >>"$tmp/log" 2>&1; then
        echo "ok probe $name matches the reference"
    else
        echo "FAIL probe $name"; cat "$tmp/log"; fails=$((fails + 1))
    fi
}

# fp32 end to end; the references ran in float64
probe_vae_vs=1e-5
probe_vs_golden vae-encode "$probe_vae_vs" --model "$M"
probe_vs_golden vae-decode "$probe_vae_vs" --model "$M"

# tokenize: kohya's 150-token windows of transformers' CLIPTokenizer (ids exact). The prompt is
# TOKENIZE_PROMPT of tools/oracle/make_probe_goldens.py (also in the golden's metadata).
prompt="masterpiece, best quality, 1girl, solo, long hair, looking at viewer, smile, (red dress:1.2), standing in a field of sunflowers at golden hour, wind in her hair, detailed eyes, soft lighting, bokeh, depth of field, 35mm photograph, film grain, kodak portra 400, shot by a professional photographer, highly detailed, sharp focus, 8k uhd, dslr, high quality, intricate details, vibrant colors, summer afternoon, gentle breeze, flowing fabric, natural beauty, serene expression, cinematic composition"
if grep -qaF "$prompt" "$G/tokenize-150.out.safetensors" \
   && "$bin" probe tokenize --plain --max-tokens 150 --prompt "$prompt" --out "$tmp/tok.safetensors" >"$tmp/log" 2>&1 \
   && "$cmp" "$tmp/tok.safetensors" "$G/tokenize-150.out.safetensors" 0 >>"$tmp/log" 2>&1; then
    echo "ok probe tokenize matches transformers + kohya's 150-token windows"
else echo "FAIL probe tokenize"; cat "$tmp/log"; fails=$((fails + 1)); fi

# a single-file checkpoint uses the SD1 configuration: the tiny one must fail with both shapes named
if "$bin" probe vae-encode --model tests/golden/checkpoints/tiny-ldm.safetensors --in "$G/vae-encode.in.safetensors" \
        --out "$tmp/x.safetensors" >"$tmp/log" 2>&1; then
    echo "FAIL probe: tiny single file loaded with the SD1 VAE config"; fails=$((fails + 1))
elif grep -q 'has shape (.*), expected (.*)' "$tmp/log" && grep -q 'tiny-ldm.safetensors' "$tmp/log" && [ ! -e "$tmp/x.safetensors" ]; then
    echo "ok probe: shape mismatch names the file and both shapes, writes nothing"
else echo "FAIL probe: shape mismatch message"; cat "$tmp/log"; fails=$((fails + 1)); fi

# a missing input tensor
if "$bin" probe vae-decode --model "$M" --in "$G/vae-encode.in.safetensors" --out "$tmp/y.safetensors" >"$tmp/log" 2>&1; then
    echo "FAIL probe: missing input tensor accepted"; fails=$((fails + 1))
elif grep -q "input tensor 'latents' is missing" "$tmp/log"; then echo "ok probe: missing input tensor is named"
else echo "FAIL probe: missing input message"; cat "$tmp/log"; fails=$((fails + 1)); fi
exit $((fails > 0))
