// lora_apply.h — applying kohya LoRA / LoCon files to loaded models by merging them into the
// base weights (inference: `sdlora generate`, `grid`), and undoing that exactly.
//
// Per module of the file (sd-formats.md §7.2, A1111 / kohya merge_to):
//   W (out, in[, k, k]) += w · scale · up (out, r) @ down (r, in·k·k)
//   scale = alpha / r with r = lora_down's first dim; alpha missing → scale 1 (alpha = rank)
// w is the text-encoder multiplier for "lora_te_*" modules and the UNet multiplier for
// "lora_unet_*" (A1111's <lora:name:te:unet>). Linear targets take down (r, in) or (r, in, 1, 1);
// convs take down (r, in, k, k) with the conv's kernel and up (out, r[, 1, 1]) — a 3x3 LoCon
// down with a 1x1 up is a 3x3 ΔW. Tensors may be F32, F16, BF16 or F64; ΔW is computed in fp32
// (sgemm) and added to the fp32 weights, as A1111, ComfyUI and sd.cpp do.
//
// Names: "lora_unet_" + the diffusers UNet parameter path, "lora_te_" + the transformers text
// encoder path, '.' → '_' (every ".weight" of rank >= 2 in the models' parameter tables is a
// possible target, so LoRAs on conv_in, time_embedding, … apply too). A module the models do
// not have (SDXL "lora_te1_", LDM-style names, another architecture's sizes) is skipped with a
// warning that lists the first few; so are LyCORIS-only modules (LoHa hada_*, LoKr lokr_*,
// Tucker lora_mid, DoRA dora_scale) — see LoraApplyReport. A module whose shapes contradict
// its target is an error naming the key and both shapes (nothing of that file is applied).
//
// Undo: the first time a weight is touched its base values are copied (MEM_OTHER), so
// lora_merge_restore puts back the exact base weights however many LoRAs were merged — grid
// switches LoRAs without reloading the model. The copy costs the touched weights' size (SD1.5,
// kohya default targets: 192 UNet + 72 TE weights ≈ 140 M floats at most = 0.5 GiB).
#pragma once
#include <stdint.h>
#include "base/error.h"
#include "io/safetensors.h"
#include "models/clip_text.h"
#include "models/unet.h"

typedef struct {
    float *w;          // the model's weight storage (borrowed)
    float *base;       // its values before any merge (owned)
    int64_t numel;
} LoraTouched;

typedef struct {
    LoraTouched *t;    // every weight modified since the last restore
    int64_t n, cap;
} LoraMerge;           // zero-initialise (LoraMerge m = {0})

typedef struct {
    int64_t te_modules, unet_modules; // modules merged
    int64_t skipped_unknown;          // modules whose target the models lack (warned)
    int64_t skipped_unsupported;      // LyCORIS-only module types (warned)
    int64_t alpha_missing;            // merged modules without .alpha (scale 1)
    int64_t unknown_keys;             // tensors that belong to no module (warned)
} LoraApplyReport;

// Merges the LoRA in st into u and/or te (either may be NULL: its modules are then skipped
// silently — e.g. a UNet-only caller). rep may be NULL.
SdlStatus lora_apply(LoraMerge *m, Unet *u, ClipText *te, const SafeTensors *st, float w_te, float w_unet,
                     LoraApplyReport *rep);
// The same from a file; errors name it (a missing file suggests checking --lora / --lora_dir).
SdlStatus lora_apply_file(LoraMerge *m, Unet *u, ClipText *te, const char *path, float w_te, float w_unet,
                          LoraApplyReport *rep);
// Puts every touched weight back to its base value (bit-exact) and forgets the copies.
void lora_merge_restore(LoraMerge *m);
// Frees the copies without restoring (the models keep the merged weights).
void lora_merge_free(LoraMerge *m);

// A1111's LoRA hash ("addnet" hash, kohya's sshs_model_hash): sha256 of the file's bytes after
// the safetensors header, 64 hex digits. A1111's "Lora hashes" infotext uses the first 12.
SdlStatus lora_file_addnet_hash(const char *path, char hex[65]);
