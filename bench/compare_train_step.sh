#!/usr/bin/env bash
# compare_train_step.sh — issue 7's side-by-side benchmark: sdlora's bench programs and the
# PyTorch reference (bench/ref_train_step.py) back to back on the same shapes, one process per
# configuration and side (so each peak RSS is that configuration's own), then a table.
#
#   bench/compare_train_step.sh [options] CONFIG...     e.g.  bench/compare_train_step.sh 32
#   bench/compare_train_step.sh --full                   every configuration of issue 7
#   bench/compare_train_step.sh --targets                the ones the issue's targets are stated on
#
# CONFIG (latent sizes: 32, 48, 64 = 256/384/512 px):
#   N | train:N[:rR][:gc][:fp16|bf16]   LoRA training step, rank R (default 32, alpha = R), fp16/bf16 =
#                           sdlora keeps the frozen base weights 16-bit (the reference stays fp32), gc = gradient
#                           checkpointing        sdlora: bench_train_step   ref: --mode train
#   infer:N[:bB]            UNet forward, batch B (1 or 2)   sdlora: bench_unet  ref: --mode unet_infer
#   vae:N                   VAE encode and decode of one 8N x 8N image (two rows)
#                                                sdlora: bench_vae   ref: --mode vae_encode / vae_decode
# Options:
#   --steps N        timed steps / calls per side after 1 warm-up (default 3)
#   --isa auto|avx2|native   kernels for both sides (default auto: as OPENBLAS_CORETYPE says; see
#                    bench/README.md)
#   --attention sdpa|vanilla  the reference's attention (default sdpa)
#   --threads N      threads for both sides (default 2)
#   --only sdlora|ref        run one side (the other prints n/a; the FLOP count still comes from
#                    the reference's model, counted on the meta device in ~10 s)
# Environment: BUILD (default build; the four bench programs are brought up to date with
# `make BUILD=$BUILD ...` first), REF_PYTHON (default
# tools/oracle/.venv/bin/python). Raw outputs, JSON and the summary go to
# $BUILD/bench/compare-<UTC date>/; the summary is also copied to $BUILD/bench/compare-last.md.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PY=${REF_PYTHON:-tools/oracle/.venv/bin/python}
STEPS=3 ISA=auto ATTN=sdpa THREADS=2 ONLY=
FULL_SET="train:32 train:32:r128 train:32:gc train:32:r128:gc train:48 train:48:r128 train:48:gc train:48:r128:gc
train:64 train:64:r128 train:64:gc train:64:r128:gc infer:64:b1 infer:64:b2 vae:64"
TARGET_SET="train:64 train:64:fp16 train:64:gc:fp16 infer:64:b1 infer:64:b2"

usage() { sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-2}"; }
configs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --full) configs+=($FULL_SET) ;;
        --targets) configs+=($TARGET_SET) ;;
        --steps) STEPS=$2; shift ;;
        --isa) ISA=$2; shift ;;
        --attention) ATTN=$2; shift ;;
        --threads) THREADS=$2; shift ;;
        --only) ONLY=$2; shift ;;
        -h|--help) usage 0 ;;
        -*) echo "unknown option $1" >&2; usage ;;
        *) configs+=("$1") ;;
    esac
    shift
done
[ ${#configs[@]} -gt 0 ] || usage
case "$ISA" in auto|avx2|native) ;; *) echo "--isa: auto, avx2 or native" >&2; exit 2 ;; esac
case "$ONLY" in ""|sdlora|ref) ;; *) echo "--only: sdlora or ref" >&2; exit 2 ;; esac
[ -x "$PY" ] || { echo "no $PY: python3 -m venv tools/oracle/.venv && tools/oracle/.venv/bin/pip install -r tools/oracle/requirements.txt" >&2; exit 1; }

# Both sides get the same threads and the same kernel family (see bench/README.md "Fairness").
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
sd_env=(env)
case "$ISA" in
    avx2) sd_env=(env OPENBLAS_CORETYPE=Haswell) ;;
    native) sd_env=(env -u OPENBLAS_CORETYPE) ;;
esac

B=$BUILD/bench
if [ "$ONLY" != ref ]; then
    # always (make is incremental): the comparison must time the current sources
    make -s BUILD="$BUILD" -j"$THREADS" "$B/bench_sgemm" "$B/bench_train_step" "$B/bench_unet" "$B/bench_vae" >&2
fi
OUT=$B/compare-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
SUMMARY=$OUT/summary.tsv
: >"$SUMMARY"

# "3.5 GiB" -> MiB
to_mib() { awk -v v="$1" -v u="$2" 'BEGIN { f = u == "GiB" ? 1024 : u == "MiB" ? 1 : u == "KiB" ? 1/1024 : u == "TiB" ? 1048576 : 1/1048576; printf "%.1f", v * f }'; }

{
    echo "# $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -n): $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "# steps $STEPS (+1 warm-up), threads $THREADS, isa $ISA (OPENBLAS_CORETYPE for sdlora: $("${sd_env[@]}" sh -c 'echo ${OPENBLAS_CORETYPE:-unset}')), reference attention $ATTN"
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "# load average at start: $load"
    awk -v l="${load%% *}" 'BEGIN { exit !(l > 0.5) }' &&
        echo "# WARNING: the machine is busy (1-minute load ${load%% *}); on 2 cores the numbers will be noisy — rerun when quiet"
} | tee "$OUT/header.txt"

# The sgemm ceiling: bench_sgemm's square 2048 GFLOP/s, measured before the first and after the
# last configuration; the higher of the two is used (a busy machine only lowers it).
CEIL=
sgemm() {
    "${sd_env[@]}" "$B/bench_sgemm" >"$OUT/sgemm-$1.txt" 2>&1 || true
    awk '/square 2048/ {print $NF}' "$OUT/sgemm-$1.txt"
}
if [ "$ONLY" != ref ]; then
    CEIL=$(sgemm before)
    echo "# sgemm ceiling before: $CEIL GFLOP/s (bench_sgemm, square 2048) — $(head -1 "$OUT/sgemm-before.txt" | sed 's/^# sgemm ceiling — //')" | tee -a "$OUT/header.txt"
fi
gc_ok=0 batch_ok=0
grep -aq SDLORA_BENCH_CKPT "$B/bench_train_step" 2>/dev/null && gc_ok=1
grep -aq SDLORA_BENCH_BATCH "$B/bench_unet" 2>/dev/null && batch_ok=1

# run_ref NAME ARGS...: the reference's JSON line into $OUT/NAME.ref.json
run_ref() {
    local name=$1; shift
    local extra=()
    [ "$ONLY" = sdlora ] && extra=(--count_only)
    if ! "$PY" bench/ref_train_step.py --steps "$STEPS" --threads "$THREADS" --isa "$ISA" --attention "$ATTN" "${extra[@]}" "$@" \
        >"$OUT/$name.ref.json" 2>"$OUT/$name.ref.err"; then
        echo "reference failed ($OUT/$name.ref.err):" >&2; tail -5 "$OUT/$name.ref.err" >&2
        echo '{}' >"$OUT/$name.ref.json"
    fi
}

# report NAME TITLE SD_SECONDS SD_RSS_MIB SD_NOTE: one block, one summary row
report() {
    "$PY" - "$OUT/$1.ref.json" "$2" "$3" "$4" "${CEIL:-}" "$5" "$SUMMARY" "$ONLY" <<'PYEOF'
import json, re, sys
path, title, sd_s, sd_rss, ceil, note, summary, only = sys.argv[1:9]
try:
    ref = json.load(open(path))
except ValueError:
    ref = {}
num = lambda s: float(s) if s not in ("", "n/a") else None  # noqa: E731
sd_s, sd_rss, ceil = num(sd_s), num(sd_rss), num(ceil)
gflop = ref.get("gflop", {}).get("total")
timed = "best" if ref.get("mode") == "unet_infer" else "median"
ref_s = None if only == "sdlora" else ref.get("seconds_best" if timed == "best" else "seconds_median")
ref_rss = None if only == "sdlora" else ref.get("peak_rss_mib")
f = lambda v, fmt: "n/a" if v is None else fmt % v  # noqa: E731
ratio = lambda a, b: f(a / b if a is not None and b else None, "%.2fx")  # noqa: E731
gib = lambda m: f(None if m is None else m / 1024, "%.2f GiB")  # noqa: E731
sd_gf = gflop / sd_s if gflop and sd_s else None
ref_gf = gflop / ref_s if gflop and ref_s else None
ref_ceil = ref.get("blas", {}).get("sgemm_2048_gflops")
print("\n== %s" % title)
if gflop:
    fw = ref["gflop"]
    print("   work: %.1f GFLOP (forward %.1f + backward %.1f; counted on the reference's model)" % (gflop, fw["forward"], fw["backward"]))
print("   %-22s %14s %14s %12s" % ("", "sdlora", "reference", "sdlora/ref"))
print("   %-22s %14s %14s %12s" % ("seconds (%s)" % timed, f(sd_s, "%.3f"), f(ref_s, "%.3f"), ratio(sd_s, ref_s)))
print("   %-22s %14s %14s %12s" % ("peak RSS", gib(sd_rss), gib(ref_rss), ratio(sd_rss, ref_rss)))
print("   %-22s %14s %14s" % ("GFLOP/s", f(sd_gf, "%.1f"), f(ref_gf, "%.1f")))
print("   %-22s %14s %14s" % ("of sgemm ceiling", f(sd_gf / ceil * 100 if sd_gf and ceil else None, "%.1f%%"),
                              f(ref_gf / ref_ceil * 100 if ref_gf and ref_ceil else None, "%.1f%%")))
print("   %-22s %14s %14s" % ("  (ceiling GFLOP/s)", f(ceil, "%.1f") + " sgemm", f(ref_ceil, "%.1f") + " torch"))
if ref.get("phases_median_s"):
    print("   reference phases (median s): " + ", ".join("%s %.3f" % kv for kv in ref["phases_median_s"].items()))
if ref.get("blas") and only != "sdlora":
    b = ref["blas"]
    print("   reference: torch %s, BLAS %s (%s), oneDNN %s, kernels %s, %d threads, imports alone %.2f GiB RSS" % (
        b["torch"], b.get("blas_info"), (b.get("mkl_version") or "").split(" Version ")[-1].split("-")[0],
        (re.findall(r"v(\d+\.\d+(?:\.\d+)?)", b.get("onednn_version") or "") or ["?"])[0], b["cpu_capability"],
        b["threads"], ref.get("baseline_rss_mib", 0) / 1024))
if note:
    print("   note: " + note)
with open(summary, "a") as o:
    o.write("\t".join([title, f(sd_s, "%.3f"), f(ref_s, "%.3f"), ratio(sd_s, ref_s), gib(sd_rss), gib(ref_rss),
                       ratio(sd_rss, ref_rss), f(sd_gf, "%.1f"), f(sd_gf / ceil * 100 if sd_gf and ceil else None, "%.1f%%"),
                       f(ref_gf, "%.1f")]) + "\n")
PYEOF
}

for cfg in "${configs[@]}"; do
    t0=$(date +%s)
    IFS=: read -r kind a b c d <<<"$cfg"
    if [[ $kind =~ ^[0-9]+$ ]]; then d=$c c=$b b=$a a=$kind kind=train; fi
    S=$a
    [[ $S =~ ^[0-9]+$ ]] && [ $((S % 8)) -eq 0 ] || { echo "bad config $cfg (latent must be a multiple of 8)" >&2; continue; }
    case "$kind" in
    train)
        rank=32 gc=0 wdt=float
        for o in $b $c $d; do case "$o" in r[0-9]*) rank=${o#r} ;; gc) gc=1 ;; fp16|bf16) wdt=$o ;; *) echo "bad option $o in $cfg" >&2; continue 2 ;; esac; done
        name=train-$S-r$rank$([ $gc = 1 ] && echo -gc || true)$([ $wdt != float ] && echo -$wdt || true)
        title="train ${S}x${S} ($((8 * S)) px), rank $rank, $([ $gc = 1 ] && echo with || echo no) gradient checkpointing$([ $wdt != float ] && echo ", sdlora base weights $wdt (reference fp32)" || true)"
        sd_s=n/a sd_rss=n/a note=
        if [ "$ONLY" != ref ]; then
            if [ $gc = 1 ] && [ $gc_ok = 0 ]; then
                note="sdlora: bench_train_step has no gradient checkpointing switch (SDLORA_BENCH_CKPT) yet"
            else
                "${sd_env[@]}" SDLORA_BENCH_RANK=$rank SDLORA_BENCH_REPS=$STEPS SDLORA_BENCH_CKPT=$gc \
                    SDLORA_BENCH_WEIGHTS=$wdt "$B/bench_train_step" "$S" >"$OUT/$name.sdlora.txt" 2>&1 || echo "sdlora failed: $OUT/$name.sdlora.txt" >&2
                line=$(grep "^${S}x${S} " "$OUT/$name.sdlora.txt" || true)
                if [ -n "$line" ]; then
                    sd_s=$(awk '{print $3}' <<<"$line")
                    sd_rss=$(to_mib $(awk '{print $(NF-1), $NF}' <<<"$line"))
                fi
                mods=$(sed -n 's/.* on \([0-9]*\) modules (\([0-9]*\) parameters).*/\1 modules, \2 parameters/p' "$OUT/$name.sdlora.txt")
            fi
        fi
        args=(--mode train --latent "$S" --rank "$rank")
        [ $gc = 1 ] && args+=(--gradient_checkpointing)
        run_ref "$name" "${args[@]}"
        rmods=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%s modules, %s parameters" % (d["lora_modules"], d["lora_params"]) if "lora_modules" in d else "")' "$OUT/$name.ref.json")
        if [ -n "${mods:-}" ] && [ -n "$rmods" ] && [ "$mods" != "$rmods" ]; then
            note="${note:+$note; }the LoRA networks differ: sdlora $mods, reference $rmods"
        fi
        unset mods
        report "$name" "$title" "$sd_s" "$sd_rss" "$note"
        ;;
    infer)
        batch=1
        case "${b:-}" in "") ;; b[0-9]*) batch=${b#b} ;; *) echo "bad option $b in $cfg" >&2; continue ;; esac
        name=infer-$S-b$batch
        title="UNet inference ${S}x${S} ($((8 * S)) px), batch $batch"
        sd_s=n/a sd_rss=n/a note="times are the best of the timed calls (bench_unet prints the best); sdlora's peak RSS includes its backward (bench_unet also runs forward+backward)"
        if [ "$ONLY" != ref ]; then
            if [ "$batch" != 1 ] && [ $batch_ok = 0 ]; then
                note="sdlora: bench_unet plans batch 1 only (no SDLORA_BENCH_BATCH yet)"
            else
                "${sd_env[@]}" SDLORA_BENCH_REPS=$STEPS SDLORA_BENCH_BATCH=$batch "$B/bench_unet" "$S" >"$OUT/$name.sdlora.txt" 2>&1 ||
                    echo "sdlora failed: $OUT/$name.sdlora.txt" >&2
                line=$(grep "^${S}x${S} " "$OUT/$name.sdlora.txt" || true)
                if [ -n "$line" ]; then
                    sd_s=$(awk '{print $2}' <<<"$line")
                    sd_rss=$(to_mib $(awk '{print $(NF-1), $NF}' <<<"$line"))
                fi
            fi
        fi
        run_ref "$name" --mode unet_infer --latent "$S" --batch "$batch"
        report "$name" "$title" "$sd_s" "$sd_rss" "$note"
        ;;
    vae)
        P=$((8 * S))
        sd_enc=n/a sd_dec=n/a sd_rss=n/a
        if [ "$ONLY" != ref ]; then
            "${sd_env[@]}" "$B/bench_vae" "$P" >"$OUT/vae-$S.sdlora.txt" 2>&1 || echo "sdlora failed: $OUT/vae-$S.sdlora.txt" >&2
            sd_enc=$(awk -v l="${P}x${P}" '$1 == l && $2 == "encode" {print $3}' "$OUT/vae-$S.sdlora.txt")
            sd_dec=$(awk -v l="${P}x${P}" '$1 == l && $2 == "decode" {print $3}' "$OUT/vae-$S.sdlora.txt")
            r=$(sed -n 's/^process peak RSS //p' "$OUT/vae-$S.sdlora.txt")
            [ -n "$r" ] && sd_rss=$(to_mib $r)
            : "${sd_enc:=n/a}" "${sd_dec:=n/a}"
        fi
        note="sdlora: one timed call after touching the arena (bench_vae), encode and decode in one process (one peak RSS); reference: median"
        run_ref vae-encode-$S --mode vae_encode --latent "$S"
        report vae-encode-$S "VAE encode ${P}x${P}" "$sd_enc" "$sd_rss" "$note"
        run_ref vae-decode-$S --mode vae_decode --latent "$S"
        report vae-decode-$S "VAE decode ${P}x${P} (from a ${S}x${S} latent)" "$sd_dec" "$sd_rss" "$note"
        ;;
    *) echo "bad config $cfg" >&2; continue ;;
    esac
    echo "   ($cfg: $(($(date +%s) - t0)) s wall for both sides)"
done

if [ "$ONLY" != ref ]; then
    after=$(sgemm after)
    echo "# sgemm ceiling after: $after GFLOP/s (load average at end: $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$OUT/header.txt"
    if [ -n "$after" ] && awk -v a="$after" -v b="${CEIL:-0}" 'BEGIN { exit !(a > b) }'; then
        echo "# (the ceiling used above was the lower 'before' value; the summary below uses $after)"
        awk -F'\t' -v OFS='\t' -v old="$CEIL" -v new="$after" '{ if ($8 != "n/a") $9 = sprintf("%.1f%%", $8 / new * 100) } 1' \
            "$SUMMARY" >"$SUMMARY.tmp" && mv "$SUMMARY.tmp" "$SUMMARY"
        CEIL=$after
    fi
    echo "# sgemm ceiling used: $CEIL GFLOP/s" >>"$OUT/header.txt"
fi

{
    echo
    cat "$OUT/header.txt"
    echo
    echo "| configuration | sdlora s | reference s | time ratio | sdlora peak RSS | reference peak RSS | RSS ratio | sdlora GFLOP/s | of sgemm ceiling | reference GFLOP/s |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    awk -F'\t' '{ printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; printf "\n" }' "$SUMMARY"
} | tee "$OUT/summary.md"
cp "$OUT/summary.md" "$B/compare-last.md"
echo "raw outputs: $OUT" >&2
