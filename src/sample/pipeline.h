// pipeline.h — text-to-image on already loaded models, the way `sdlora generate` and the
// trainer's sample images run it, plus the prompt-tag and PNG-infotext helpers around it.
//
//   for the prompt and the negative prompt (A1111 semantics, sd_hijack_clip.py):
//     parse attention syntax (x:1.2), [x], BREAK → 75-token chunks (comma back-tracking) →
//     each chunk BOS+75+EOS encoded alone (clip_skip, final LayerNorm) → z *= token weight,
//     then z *= mean(z before) / mean(z after) per chunk ("Original" emphasis) → concatenated
//     (77·n, D); the shorter of cond / uncond gets chunks of the empty prompt's encoding
//     appended until both have the same length (A1111 CFGDenoiser.pad_cond_uncond)
//   noise: image i of the batch draws (1, 4, h, w) from its own torch-compatible generator
//     seeded with seed + i — diffusers' pipeline with a list of CPU generators, A1111's
//     per-image seeds — so image i equals a batch-1 run with seed + i
//   sampler (sample/sampler.h, diffusers' schedulers as kohya configures them), each model
//     call one UNet pass of batch 2B over [uncond × B, cond × B] (as diffusers concatenates)
//     and out = uncond + cfg·(cond − uncond); cfg_scale == 1 runs the cond half only (same
//     result, half the work). ε or v prediction per SamplerConfig.prediction
//   decode: z = latents / scaling_factor → VAE (tiled when asked or when memory is short,
//     sample/vae_tiled.h) → image (B, 3, H, W) in about [-1, 1]
//
// Ancestral samplers (Euler a, DPM2 a, DDIM with eta > 0) draw step noise per image from that
// image's generator, so with batch_size > 1 they run the sampler once per image (the UNet
// batch is then 2); the deterministic samplers run the whole batch at once.
//
// The models are borrowed and may carry attached LoRA adapters (the trainer's network at
// multiplier 1) or merged LoRA weights (lora/lora_apply.h). gen_txt2img plans the UNet, the
// text encoder and the VAE for its shapes and afterwards puts back the plans they had on
// entry (same B/H/W/T, train flag), so a training loop can call it between steps; adapters on
// the text encoder must have `h` for at least 77 rows (windows are encoded one at a time).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "models/clip_text.h"
#include "models/clip_tokenizer.h"
#include "models/unet.h"
#include "models/vae.h"
#include "sample/sampler.h"
#include "sample/vae_tiled.h"

typedef struct {
    Unet *unet;            // borrowed; in_channels must equal the VAE's latent channels
    ClipText *te;
    ClipTokenizer *tok;
    Vae *vae;
} GenModels;

typedef struct {
    const char *prompt;           // A1111 attention syntax and BREAK; <lora:…> tags already removed
    const char *negative_prompt;  // NULL = ""
    int64_t width, height;        // pixels: multiples of VAE factor × UNet multiple (SD: 8 × 8 = 64)
    int64_t steps;                // sampler steps (1..1000; some samplers need more, see sampler.h)
    double cfg_scale;             // classifier-free guidance scale
    uint64_t seed;                // image i of the batch uses seed + i (low 32 bits, as torch.manual_seed)
    int64_t batch_size;           // images per call (1..64)
    SamplerConfig sampler;        // gen_sampler_config / sampler_config_kohya
    int clip_skip;                // A1111/kohya CLIP skip: 1 = last layer
    VaeTiling tiling;             // {0} = AUTO with the defaults
} GenParams;

// 512x512, 30 steps, CFG 7.5, seed 0, batch 1, Euler a (kohya's configuration), clip skip 1.
GenParams gen_params_default(void);

typedef enum { GEN_STAGE_TEXT, GEN_STAGE_SAMPLE, GEN_STAGE_DECODE } GenStage;
// done of total for the stage (SAMPLE counts model calls over the whole batch).
typedef void (*GenProgressFn)(void *ctx, GenStage stage, int64_t done, int64_t total);

// images (B, 3, height, width), the VAE's output (map to pixels with image_from_tensor, which
// clamps and rounds). progress may be NULL. *tiled (may be NULL): whether the decode was tiled.
SdlStatus gen_txt2img(const GenModels *m, const GenParams *p, float *images, GenProgressFn progress, void *ctx,
                      int *tiled);

// The A1111 conditioning of one prompt (see the top of this file, without the uncond padding):
// *hidden (77·n, D), malloc'ed (free()), *n_chunks = n. Plans the text encoder for (1, 77).
SdlStatus gen_encode_prompt(ClipText *te, ClipTokenizer *tok, const char *prompt, int clip_skip, float **hidden,
                            int64_t *n_chunks);

// ---- samplers by name ----
// kohya names (sampler_config_kohya) or A1111's display names, case-insensitive: "DDIM",
// "PLMS" (= pndm), "LMS", "Euler", "Euler a", "Heun", "DPM2", "DPM2 a", "DPM++ 2M",
// "DPM++ 2S" (= dpmsingle), "DPM-Solver 2M" (= dpmsolver); a " Karras" suffix (or "_karras"
// after a kohya name) selects Karras sigmas where the sampler has them (not DDIM, PLMS, Euler a).
// Unknown → SDL_ERR_ARG listing the names.
SdlStatus gen_sampler_config(const char *name, int v_param, SamplerConfig *out);
// A1111's display name of a configuration ("Euler a", "DPM++ 2M"); Karras is reported apart
// (infotext "Schedule type: Karras").
const char *gen_sampler_a1111_name(const SamplerConfig *c);
// True when the sampler draws noise during sampling (per-image generators matter).
int gen_sampler_is_ancestral(const SamplerConfig *c);

// ---- <lora:…> and other extra-network tags (A1111 extra_networks.parse_prompt) ----
typedef struct {
    char *name;          // positional 1: the file stem, looked up in --lora_dir (owned)
    float te, unet;      // positional 2 / te=  (default 1), positional 3 / unet= (default te)
} GenLoraTag;

typedef struct {
    char *prompt;        // the prompt with every <word:…> tag removed (owned)
    GenLoraTag *loras;   // the <lora:…> / <lyco:…> tags in order of appearance
    int n_loras;
    int n_other;         // other tags (<hypernet:…>, …) removed and ignored
} GenPromptTags;

// Tags match A1111's regex <(\w+):([^>]+)>; arguments split on ':'; "key=value" arguments are
// named. A weight that is not a number is SDL_ERR_ARG naming the tag.
SdlStatus gen_parse_prompt_tags(const char *prompt, GenPromptTags *out);
void gen_prompt_tags_free(GenPromptTags *t);

// ---- A1111 infotext (the PNG "parameters" text A1111's PNG Info reads) ----
typedef struct {
    const char *prompt, *negative_prompt;  // negative NULL/"" → no "Negative prompt:" line
    int64_t steps;
    const char *sampler;                   // display name
    const char *schedule_type;             // NULL or "Karras"
    double cfg_scale;
    uint64_t seed;
    int64_t width, height;
    const char *model_hash, *model;        // NULL → left out
    const char *vae_hash, *vae;            // NULL → left out
    int clip_skip;                         // written when > 1
    const char *lora_hashes;               // "name: hash, name2: hash2" or NULL
    const char *version;                   // e.g. "sdlora 0.1.0"
} GenInfo;

// "<prompt>\nNegative prompt: <neg>\nSteps: 30, Sampler: Euler a, CFG scale: 7.5, Seed: 1,
// Size: 512x512, Model hash: …, Model: …, Lora hashes: \"a: …\", Version: …" with A1111's
// quoting (a value holding ',', ':' or a newline is written as a JSON string) and Python's
// float formatting (7.0, 7.5). malloc'ed.
char *gen_infotext(const GenInfo *info);
// Python repr() of a float32 value widened to double as A1111 stores it: the shortest decimal
// that reads back to the same float ("7.5", "7.0", "0.1"). Returns buf.
const char *gen_format_float(char *buf, size_t cap, float v);
