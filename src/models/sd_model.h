// sd_model.h — a Stable Diffusion 1.x model loaded for work: the opened files, and whichever
// of UNet, CLIP text encoder and VAE the caller asks for, each built from its configuration
// (models/model_meta.h) and filled from the checkpoint; optionally the VAE from another file
// (kohya's --vae). What `sdlora train`, `generate` and `grid` load.
#pragma once
#include <stdbool.h>
#include "base/error.h"
#include "models/checkpoint.h"
#include "models/clip_text.h"
#include "models/clip_tokenizer.h"
#include "models/unet.h"
#include "models/vae.h"

enum { SD_LOAD_UNET = 1u, SD_LOAD_TEXT_ENCODER = 2u, SD_LOAD_VAE = 4u, SD_LOAD_ALL = 7u };

typedef struct {
    ModelFiles files;           // the base model (kept open: mapped, cheap)
    ModelFiles vae_files;       // --vae, when given
    unsigned loaded;            // SD_LOAD_* bits of the components below
    Unet unet;
    ClipText te;
    Vae vae;
    ClipTokenizer *tokenizer;   // loaded with the text encoder
    bool v_prediction;          // from the model's metadata (callers may override)
    ParamDtype weights;         // storage of the UNet's and text encoder's Linear/Conv weights
} SdModel;

// Loads the components in `which` from `path` (single file .safetensors/.ckpt or a diffusers
// folder); vae_path (may be NULL) replaces the model's VAE (a diffusers VAE folder, a VAE
// .safetensors, or a full checkpoint whose VAE is used). Logs what was loaded and how long it
// took. On error nothing stays allocated.
SdlStatus sd_model_load(SdModel *m, const char *path, const char *vae_path, unsigned which);
// The same with the UNet's and text encoder's Linear/Conv2d weights stored as `weights`
// (PARAM_F16 / PARAM_BF16: frozen, half the memory, widened to fp32 on use — training only;
// the VAE, norms, biases and embeddings stay fp32).
SdlStatus sd_model_load_dtype(SdModel *m, const char *path, const char *vae_path, unsigned which, ParamDtype weights);
void sd_model_free(SdModel *m);
