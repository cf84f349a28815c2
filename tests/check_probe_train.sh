#!/usr/bin/env bash
# `sdlora probe train-step` against one kohya training step re-stated in PyTorch
# (tools/oracle/make_train_step_goldens.py) on the tiny diffusers model, four cases:
#   eps_l2_min_snr         text encoder + UNet LoRA (rank 3), l2, min_snr_gamma 5, loss weights
#   v_huber_skip2_150      v-prediction, huber (snr schedule), clip_skip 2, 150 tokens, weighted
#                          captions, scale_v_pred_loss_like_noise_pred
#   locon_smooth_l1_ztsnr  LoCon (conv_dim) UNet only, smooth_l1 (exponential), zero terminal
#                          SNR with t = 999, debiased_estimation_loss
#   te_only_l1_225         text-encoder LoRA only, l1, clip_skip 2, 225 tokens, v_pred_like_loss
# plus kohya's LoRA init from --seed, and input errors.
# Tolerances: loss 1e-5 relative; each gradient tensor 1e-4 of its own max |value|, with an
# absolute floor of 1e-9 (~1e-7 of the largest gradient in a case): a few tensors of the tiny
# model (self-attention q/k in its last up block, where the attention is nearly uniform) have
# gradients of ~1e-12, below float32's resolution of the sums that produce them.
# Prints ok/FAIL lines for tests/run.sh.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/sdlora"; cmp="$BUILD/tests/tool_st_compare"; expand="$BUILD/tests/tool_train_golden"
G=tests/golden/train_step; M=tests/golden/checkpoints/tiny-diffusers
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok $*"; }
fail() { echo "FAIL $*"; [ -f "$tmp/log" ] && cat "$tmp/log"; fails=$((fails + 1)); }

for case in eps_l2_min_snr v_huber_skip2_150 locon_smooth_l1_ztsnr te_only_l1_225; do
    mkdir -p "$tmp/$case"
    # shellcheck disable=SC2086 # the case's options are words
    if args=$("$expand" "$G/$case.safetensors" "$tmp/$case" 2>"$tmp/log") \
       && "$bin" probe train-step --model "$M" --in "$tmp/$case/in.safetensors" --out "$tmp/$case/got.safetensors" $args >"$tmp/log" 2>&1 \
       && "$cmp" "$tmp/$case/got.safetensors" "$tmp/$case/loss.safetensors" 1e-5 >>"$tmp/log" 2>&1 \
       && "$cmp" "$tmp/$case/got.safetensors" "$tmp/$case/out.safetensors" 1e-4 1e-9 >>"$tmp/log" 2>&1
    then ok "probe train-step $case matches the PyTorch step (loss, pred, every LoRA gradient)"
    else fail "probe train-step $case"; fi
done

# no LoRA weights in the input: kohya's init from --seed (lora_up = 0, so the loss is the base
# model's whatever the seed, while lora_down and hence the lora_up gradients depend on it)
c=$tmp/eps_l2_min_snr; a="--network_dim 3 --network_alpha 2 --min_snr_gamma 5"
seed_run() { # seed, output
    # shellcheck disable=SC2086
    "$bin" probe train-step --model "$M" --in "$c/inputs.safetensors" --out "$2" --seed "$1" $a >>"$tmp/log" 2>&1
}
: >"$tmp/log"
if seed_run 5 "$tmp/s5a.safetensors" && seed_run 5 "$tmp/s5b.safetensors" && seed_run 6 "$tmp/s6.safetensors"; then
    "$cmp" "$tmp/s6.safetensors" "$tmp/s5a.safetensors" 0 >"$tmp/cmp" 2>&1
    rc=$?
    if cmp -s "$tmp/s5a.safetensors" "$tmp/s5b.safetensors" && [ $rc = 1 ] \
       && grep -q '^loss .* max abs diff 0 ' "$tmp/cmp" && grep -q 'lora_up.weight.grad .*MISMATCH' "$tmp/cmp" \
       && ! grep -q 'lora_down.weight.grad .*MISMATCH' "$tmp/cmp"
    then ok "probe train-step --seed: kohya init (up = 0: the same loss and lora_down grads for any seed), reproducible"
    else fail "probe train-step --seed init"; grep -m3 MISMATCH "$tmp/cmp"; fi
else fail "probe train-step --seed runs"; fi

# a network that does not fit the weights in the file: an error naming the file, nothing written
c=$tmp/te_only_l1_225
if "$bin" probe train-step --model "$M" --in "$c/in.safetensors" --out "$tmp/x.safetensors" --network_dim 4 \
        --network_train_text_encoder_only --max_token_length 150 >"$tmp/log" 2>&1; then
    fail "probe train-step accepted input_ids of 3 windows for --max_token_length 150"
elif grep -q "in.safetensors" "$tmp/log" && grep -q "hint:" "$tmp/log" && [ ! -e "$tmp/x.safetensors" ]
then ok "probe train-step: windows vs --max_token_length mismatch is a clear error"
else fail "probe train-step: windows mismatch message"; fi
if "$bin" probe train-step --model "$M" --in "$c/in.safetensors" --out "$tmp/x.safetensors" --network_dim 2 \
        --network_train_text_encoder_only >"$tmp/log" 2>&1; then
    fail "probe train-step loaded rank-4 weights into a rank-2 network"
elif grep -q "lora_down.weight has shape" "$tmp/log" && [ ! -e "$tmp/x.safetensors" ]
then ok "probe train-step: LoRA weights of another rank are an error naming both shapes"
else fail "probe train-step: rank mismatch message"; fi
if "$bin" probe train-step --model "$M" --in "$G/../probe/unet.in.safetensors" --out "$tmp/x.safetensors" >"$tmp/log" 2>&1; then
    fail "probe train-step ran without noise"
elif grep -q "input tensor 'noise' is missing" "$tmp/log"; then ok "probe train-step: a missing input tensor is named"
else fail "probe train-step: missing input message"; fi
exit $((fails > 0))
