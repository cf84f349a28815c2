// lora_file.h — kohya-format LoRA .safetensors: save (LoRANetwork.save_weights) and load
// (--network_weights to continue training; files sdlora did not write: kohya LoRA and LoCon).
//
// Per module: "<name>.lora_down.weight" Linear (r, in) / Conv (r, in, k, k), "<name>.lora_up.weight"
// Linear (out, r) / Conv (out, r, 1, 1), "<name>.alpha" 0-dim. Every tensor, alpha included, is
// stored in the save precision (kohya --save_precision float | fp16 | bf16).
//
// Hashes as kohya's precalculate_safetensors_hashes: the file is serialised once with only the
// caller's "ss_*" metadata; sshs_model_hash = sha256 (hex) of its data section (the bytes after
// the header; independent of metadata), sshs_legacy_hash = the first 8 hex digits of the sha256
// of bytes [0x100000, 0x110000) of that serialisation ("e3b0c442" for files under 1 MiB). Both
// are then added to the metadata of the file actually written (atomically).
#pragma once
#include <stdint.h>
#include "base/error.h"
#include "io/safetensors.h"
#include "lora/network.h"

typedef enum { LORA_SAVE_FLOAT = 0, LORA_SAVE_FP16, LORA_SAVE_BF16 } LoraSaveDtype;

// meta_keys/meta_values: n_meta caller metadata strings, passed through (may be 0/NULL).
// hash_out (may be NULL) receives sshs_model_hash.
SdlStatus lora_save(const LoraNetwork *net, const char *path, LoraSaveDtype dtype, const char *const *meta_keys,
                    const char *const *meta_values, int64_t n_meta, char hash_out[65]);
// The bytes lora_save would write, malloc'ed (free() it).
SdlStatus lora_save_to_memory(const LoraNetwork *net, LoraSaveDtype dtype, const char *const *meta_keys,
                              const char *const *meta_values, int64_t n_meta, void **out, size_t *size);

typedef struct {
    int64_t modules;      // network modules filled
    int64_t tensors_used; // file tensors consumed
    int64_t unknown;      // file tensors no module claimed (warned, first few named)
    int64_t alpha_missing; // modules without .alpha in the file (alpha := rank)
} LoraLoadReport;

// Fills every module's down/up/alpha from the file (any float dtype). A module the file lacks
// is an error (SDL_ERR_NOT_FOUND); a shape that differs is SDL_ERR_SHAPE naming the key and both
// shapes (trailing 1s ignored: a (r, in, 1, 1) down loads into a Linear and back); unknown keys
// are warned about; LyCORIS-only keys (lora_mid, hada_*, lokr_*, dora_scale) are
// SDL_ERR_UNSUPPORTED. alpha comes from the file (missing → rank) and the scales are updated
// (kohya keeps the CLI scale here, a known FIXME in train_network.py; sdlora uses the file's
// alpha and warns when it differs from the network's).
SdlStatus lora_load(LoraNetwork *net, const char *path, LoraLoadReport *rep);
SdlStatus lora_load_st(LoraNetwork *net, const SafeTensors *st, LoraLoadReport *rep);

// sshs hashes of an already serialised file (data section and legacy slice).
void lora_sshs_hashes(const void *file, size_t size, char model_hash[65], char legacy_hash[9]);
