#!/usr/bin/env bash
# `sdlora train` end to end on the tiny model (init-model) and the generated shapes dataset
# (init-dataset): the loss falls, the LoRA holds exactly the tensors kohya would save for this
# model (tests/golden/train/tiny_keys_*.txt from tools/oracle/make_train_keys_golden.py), its
# metadata is kohya's, step/epoch files are named and retained as kohya does, a resumed run is
# bit-identical to an uninterrupted one, and bad input fails with a clear error, keeping outputs.
# Prints ok/FAIL lines for tests/run.sh.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/sdlora"; cmp="$BUILD/tests/tool_st_compare"; list="$BUILD/tests/tool_st_list"
G=tests/golden/train
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

"$bin" init-model --preset tiny --seed 1 --out "$tmp/model" --format diffusers >/dev/null || fail "init-model"
"$bin" init-dataset --out "$tmp/data" --count 6 --size 64 --repeats 2 >/dev/null || fail "init-dataset"

common=(--pretrained_model_name_or_path "$tmp/model" --train_data_dir "$tmp/data" --caption_extension .txt
        --resolution 64 --seed 7 --threads 2)

# 1. a LoRA (TE + UNet) trained for 12 epochs: loss falls, kohya key set, fp16, metadata, files
if "$bin" train "${common[@]}" --output_dir "$tmp/out" --output_name shapes --network_dim 4 --network_alpha 2 \
      --learning_rate 3e-3 --max_train_epochs 12 --save_every_n_epochs 4 --save_last_n_epochs 1 \
      --save_precision fp16 --lr_scheduler cosine --lr_warmup_steps 0.1 --optimizer_type AdamW \
      >"$tmp/log1" 2>&1; then
    ok "train: 12 epochs finished"
else
    fail "train: 12 epochs"; cat "$tmp/log1"
fi
[ -f "$tmp/out/shapes.safetensors" ] && ok "train: final file named <output_name>.safetensors" || fail "train: no final file"
# epochs 4 and 8 saved; save_last_n_epochs 1 removes epoch 4 when 8 is written; 12 is the final file
if [ -f "$tmp/out/shapes-000008.safetensors" ] && [ ! -f "$tmp/out/shapes-000004.safetensors" ] \
   && [ ! -f "$tmp/out/shapes-000012.safetensors" ]; then ok "train: epoch files and save_last_n_epochs retention"
else fail "train: epoch files"; ls "$tmp/out"; fi
if "$list" "$tmp/out/shapes.safetensors" | sort | diff - "$G/tiny_keys_lora.txt" >"$tmp/diff"; then
    ok "train: LoRA tensors are exactly kohya's key set, shapes and dtypes"
else fail "train: key set differs from kohya's"; head -20 "$tmp/diff"; fi
meta() { "$list" "$1" --meta "$2"; }
if [ "$(meta "$tmp/out/shapes.safetensors" ss_network_dim)" = 4 ] && [ "$(meta "$tmp/out/shapes.safetensors" ss_steps)" = 144 ] \
   && [ "$(meta "$tmp/out/shapes.safetensors" ss_epoch)" = 12 ] && meta "$tmp/out/shapes.safetensors" sshs_model_hash >/dev/null; then
    ok "train: ss_* metadata (network_dim, steps, epoch) and sshs hashes"
else fail "train: metadata"; fi
# the average loss of the last epoch is well below the first's
first=$(grep -o 'epoch 1/12: average loss [0-9.]*' "$tmp/log1" | awk '{print $NF}')
last=$(grep -o 'epoch 12/12: average loss [0-9.]*' "$tmp/log1" | awk '{print $NF}')
if [ -n "$first" ] && [ -n "$last" ] && awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.8 * a) }'; then
    ok "train: loss falls (epoch 1 average $first, epoch 12 average $last)"
else fail "train: loss did not fall (epoch 1: '$first', epoch 12: '$last')"; grep -i "average loss" "$tmp/log1"; fi

# a saved LoRA (fp16) reloads with --network_weights and continues from where it was: its first
# epoch starts near the trained loss, not the fresh one
if "$bin" train "${common[@]}" --output_dir "$tmp/cont" --network_dim 4 --network_alpha 2 --learning_rate 3e-3 \
      --max_train_epochs 1 --network_weights "$tmp/out/shapes.safetensors" >"$tmp/logc" 2>&1; then
    cont=$(grep -o 'epoch 1/1: average loss [0-9.]*' "$tmp/logc" | awk '{print $NF}')
    if [ -n "$cont" ] && [ -n "$first" ] && awk -v a="$first" -v b="$cont" 'BEGIN { exit !(b < 0.9 * a) }'; then
        ok "train: --network_weights continues a saved LoRA (epoch 1 average $cont vs fresh $first)"
    else fail "train: --network_weights did not continue ('$cont' vs fresh '$first')"; fi
else fail "train: --network_weights run"; cat "$tmp/logc"; fi

# 2. LoCon, UNet only, step saves with state; then resume from the step-4 state: bit-identical
locon=(--network_dim 4 --network_alpha 2 --network_args conv_dim=2 conv_alpha=1 --network_train_unet_only
       --learning_rate 1e-3 --max_train_steps 8 --save_every_n_steps 4 --save_state --optimizer_type AdamW)
"$bin" train "${common[@]}" "${locon[@]}" --output_dir "$tmp/a" --output_name l >"$tmp/log2" 2>&1 \
    && ok "train: LoCon run with step saves and states" || { fail "train: LoCon run"; cat "$tmp/log2"; }
if "$list" "$tmp/a/l.safetensors" | sort | diff - "$G/tiny_keys_locon.txt" >"$tmp/diff"; then
    ok "train: LoCon tensors are exactly kohya's key set"
else fail "train: LoCon key set"; head -20 "$tmp/diff"; fi
[ -d "$tmp/a/l-step00000004-state" ] && [ -f "$tmp/a/l-step00000004.safetensors" ] \
    && ok "train: step file and state folder named as kohya" || { fail "train: step names"; ls "$tmp/a"; }
"$bin" train "${common[@]}" "${locon[@]}" --output_dir "$tmp/b" --output_name l --resume "$tmp/a/l-step00000004-state" \
    >"$tmp/log3" 2>&1 || { fail "train: resume run"; cat "$tmp/log3"; }
if "$cmp" "$tmp/b/l.safetensors" "$tmp/a/l.safetensors" 0 0 >"$tmp/cmp" 2>&1; then
    ok "train: resumed run is bit-identical to the uninterrupted one"
else fail "train: resume is not bit-exact"; cat "$tmp/cmp"; fi

# the same run with --gradient_checkpointing: the same LoRA bit for bit (the UNet recomputes
# each block in backward); then with fp16 base weights (--mixed_precision fp16, and again with
# --base_weights_dtype fp16) and --profile: the summary names the dtype, the profile table is
# printed, the two fp16 runs agree bit for bit and differ from the fp32 run (by how much is
# tests/test_unet.c's business: AdamW's first steps magnify tiny gradient changes)
"$bin" train "${common[@]}" "${locon[@]}" --output_dir "$tmp/gc" --output_name l --gradient_checkpointing \
    >"$tmp/log_gc" 2>&1 || { fail "train: --gradient_checkpointing run"; cat "$tmp/log_gc"; }
if "$cmp" "$tmp/gc/l.safetensors" "$tmp/a/l.safetensors" 0 0 >"$tmp/cmp" 2>&1; then
    ok "train: --gradient_checkpointing gives the bit-identical LoRA"
else fail "train: --gradient_checkpointing changed the LoRA"; cat "$tmp/cmp"; fi
if "$bin" train "${common[@]}" "${locon[@]}" --output_dir "$tmp/h" --output_name l --mixed_precision fp16 --profile \
      >"$tmp/log_h" 2>&1 && grep -q "weights in fp16" "$tmp/log_h" && grep -q "^profile: 8 step(s)" "$tmp/log_h" \
      && grep -q "fp16/bf16 widening" "$tmp/log_h" && grep -q "attention core" "$tmp/log_h"; then
    ok "train: --mixed_precision fp16 keeps fp16 base weights; --profile prints the table"
else fail "train: fp16 weights / profile"; cat "$tmp/log_h"; fi
"$bin" train "${common[@]}" "${locon[@]}" --output_dir "$tmp/h2" --output_name l --base_weights_dtype fp16 \
    >"$tmp/log_h2" 2>&1 || { fail "train: --base_weights_dtype fp16 run"; cat "$tmp/log_h2"; }
if "$cmp" "$tmp/h2/l.safetensors" "$tmp/h/l.safetensors" 0 0 >"$tmp/cmp" 2>&1 \
   && ! "$cmp" "$tmp/h/l.safetensors" "$tmp/a/l.safetensors" 0 0 >/dev/null 2>&1; then
    ok "train: fp16 base weights train reproducibly, and not exactly as fp32 weights"
else fail "train: fp16 base weights reproducibility"; cat "$tmp/cmp"; fi

# the same run from a --config_file TOML (tables flattened as kohya) trains the identical LoRA
cat >"$tmp/cfg.toml" <<TOML
[model]
pretrained_model_name_or_path = "$tmp/model"
[dataset]
train_data_dir = "$tmp/data"
caption_extension = ".txt"
resolution = "64"
[network]
network_dim = 4
network_alpha = 2
network_args = ["conv_dim=2", "conv_alpha=1"]
network_train_unet_only = true
[training]
seed = 7
learning_rate = 1e-3
max_train_steps = 8
optimizer_type = "AdamW"
output_dir = "$tmp/t"
output_name = "l"
TOML
if "$bin" train --config_file "$tmp/cfg.toml" --threads 2 >"$tmp/logt" 2>&1 \
   && "$cmp" "$tmp/t/l.safetensors" "$tmp/a/l.safetensors" 0 0 >/dev/null 2>&1; then
    ok "train: --config_file TOML gives the same LoRA as the command line"
else fail "train: --config_file run"; cat "$tmp/logt"; fi
# resuming with another seed is refused, naming the state folder
if "$bin" train "${common[@]}" "${locon[@]}" --seed 8 --output_dir "$tmp/b2" --resume "$tmp/a/l-step00000004-state" >"$tmp/logr" 2>&1; then
    fail "train: resume with another seed accepted"
elif grep -q "l-step00000004-state" "$tmp/logr" && grep -q "seed" "$tmp/logr"; then ok "train: resume with another seed is refused"
else fail "train: resume mismatch message"; cat "$tmp/logr"; fi

# 3. samples during training (kohya prompt file and names) and TensorBoard events
printf '# samples\nshapes, a {red|green} circle --w 64 --h 64 --s 4 --d 5\nshapes, a blue square --w 64 --h 64 --s 3 --l 5 --n blurry --ss euler_a\n' >"$tmp/prompts.txt"
if "$bin" train "${common[@]}" --output_dir "$tmp/s" --output_name s --max_train_epochs 2 --sample_prompts "$tmp/prompts.txt" \
      --sample_every_n_epochs 1 --sample_at_first --logging_dir "$tmp/s/logs" >"$tmp/log6" 2>&1; then
    n=$(ls "$tmp/s/sample" | grep -cE '^s_e00000[012]_0[01]_[0-9]{14}(_5)?\.png$')
    seeded=$(ls "$tmp/s/sample" | grep -cE '^s_e00000[012]_00_[0-9]{14}_5\.png$')
    if [ "$n" = 6 ] && [ "$seeded" = 3 ]; then ok "train: samples at first and every epoch, named as kohya"
    else fail "train: sample files"; ls "$tmp/s/sample"; fi
    f=$(ls "$tmp/s/sample"/s_e000002_01_*.png | head -1)
    if grep -aq "Negative prompt: blurry" "$f" && grep -aq "Steps: 3, Sampler: Euler a, CFG scale: 5" "$f"; then
        ok "train: sample PNGs carry A1111 parameters from the prompt options"
    else fail "train: sample parameters"; fi
    # a dynamic sample prompt with a fixed seed gives the same expansion every time
    if [ "$(grep -aohE 'a (red|green) circle' "$tmp/s/sample"/s_e00000?_00_*.png | sort -u | wc -l)" = 1 ] \
       && ! grep -aq '{red' "$tmp/s/sample"/s_e000000_00_*.png; then
        ok "train: dynamic sample prompts expanded from the sample's seed"
    else fail "train: dynamic sample prompt"; fi
    ev=$(find "$tmp/s/logs" -path '*/network_train/events.out.tfevents.*' | head -1)
    if [ -n "$ev" ] && [ -s "$ev" ] && grep -aq "loss/current" "$ev" && grep -aq "lr/unet" "$ev" && grep -aq "loss/epoch" "$ev"; then
        ok "train: TensorBoard events under <logging_dir>/<time>/network_train with kohya's tags"
    else fail "train: TensorBoard events"; find "$tmp/s/logs"; fi
else fail "train: run with samples"; cat "$tmp/log6"; fi

# 4. NaN/Inf: an absurd learning rate blows the weights up; the run stops naming the step, writes no final file
if "$bin" train "${common[@]}" --output_dir "$tmp/nan" --output_name n --learning_rate 1e6 --max_train_steps 50 \
      --max_grad_norm 0 --optimizer_type SGDNesterov >"$tmp/log7" 2>&1; then fail "train: NaN run succeeded"
elif grep -q "NaN/Inf at step" "$tmp/log7" && [ ! -f "$tmp/nan/n.safetensors" ]; then ok "train: NaN/Inf loss stops the run, names the step, saves nothing"
else fail "train: NaN detection"; tail -5 "$tmp/log7"; fi

# 5. latent cache on disk: the run that builds it and the run that reuses it train identically
cp -r "$tmp/data" "$tmp/cdata"
cached=(--pretrained_model_name_or_path "$tmp/model" --train_data_dir "$tmp/cdata" --caption_extension .txt --resolution 64
        --seed 7 --threads 2 --max_train_epochs 2 --cache_latents_to_disk --flip_aug)
"$bin" train "${cached[@]}" --output_dir "$tmp/c1" >"$tmp/log8" 2>&1 && "$bin" train "${cached[@]}" --output_dir "$tmp/c2" >>"$tmp/log8" 2>&1
if grep -q "6 image(s) encoded, 0 reused" "$tmp/log8" && grep -q "0 image(s) encoded, 6 reused" "$tmp/log8" \
   && "$cmp" "$tmp/c2/last.safetensors" "$tmp/c1/last.safetensors" 0 0 >/dev/null 2>&1; then
    ok "train: --cache_latents_to_disk builds once, reuses, and trains identically"
else fail "train: latent cache"; cat "$tmp/log8"; fi

# 6. errors: unknown option, missing model — non-zero exit, message names the cause, outputs kept
if "$bin" train "${common[@]}" --output_dir "$tmp/out" --network_dimm 4 >"$tmp/log4" 2>&1; then fail "train: unknown option accepted"
elif grep -q "network_dimm" "$tmp/log4"; then ok "train: unknown option is an error naming it"
else fail "train: unknown option message"; cat "$tmp/log4"; fi
if "$bin" train --pretrained_model_name_or_path "$tmp/nope" --train_data_dir "$tmp/data" --caption_extension .txt \
      --resolution 64 --output_dir "$tmp/out" --output_name shapes >"$tmp/log5" 2>&1; then fail "train: missing model accepted"
elif grep -q "$tmp/nope" "$tmp/log5" && [ -f "$tmp/out/shapes.safetensors" ]; then ok "train: missing model names the path; earlier outputs kept"
else fail "train: missing model message"; cat "$tmp/log5"; fi

exit $((fails > 0))
