// load.h — filling a model's ParamTable from a tensor file, with the three checks every load
// makes: a tensor the table expects but the file lacks is an error; a tensor whose shape
// differs is an error that prints both shapes; a tensor in the file (under the prefix) that
// the table does not know is a warning (counted, the first few named). fp16, bf16, fp32 and
// fp64 weights are converted to each entry's storage dtype: fp32, or fp16/bf16 (copied as they
// are when the file has that dtype; an fp16 overflow is an error).
//
// One allowance: shapes that differ only by trailing 1s — (o, i, 1, 1) vs (o, i) — are the
// same weights (LDM checkpoints store the VAE attention projections as 1x1 convs, diffusers
// as linears; SD1 proj_in is a 1x1 conv, SD2's a linear). Keys ending in ".position_ids"
// (transformers' CLIP buffer of 0..P-1, implied by the model) are skipped, not counted unknown.
#pragma once
#include <stdint.h>
#include "base/error.h"
#include "io/safetensors.h"
#include "models/params.h"

// Maps a table name to the key in the file; returns 0 if the name has no key in this file
// (then it counts as missing). NULL map: key = prefix + name.
typedef int (*ParamKeyMap)(const char *name, char *key, size_t cap, void *ctx);

typedef struct {
    int64_t loaded;       // table entries filled
    int64_t unknown;      // file tensors under the prefix that no entry claimed
} LoadReport;

// Fills every entry of t (storage must be allocated) from src. prefix selects the part of the
// file that belongs to this model ("" for a file of its own, "model.diffusion_model." etc. for
// single-file checkpoints) and is also what unknown tensors are counted under. what names the
// model in messages ("UNet", "text encoder", "VAE").
SdlStatus param_table_load(ParamTable *t, const SafeTensors *src, const char *prefix, ParamKeyMap map,
                           void *map_ctx, const char *what, LoadReport *report);
