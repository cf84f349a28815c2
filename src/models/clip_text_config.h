// clip_text_config.h — the CLIP text encoder's configuration: transformers' CLIPTextConfig
// (a diffusers folder's text_encoder/config.json) and presets for the SD text encoders.
//
// Fields SD uses (sd-formats.md §2.2, §6.b). A key missing from config.json takes the
// CLIPTextConfig default, as transformers does: vocab 49408, hidden 512, intermediate 2048,
// 12 layers, 8 heads, 77 positions, quick_gelu, eps 1e-5, projection 512, bos 49406,
// eos 49407, pad 1. A full CLIPConfig (keys under "text_config") is read from that object.
// hidden_act: "quick_gelu" (SD1 / SDXL CLIP-L, OpenAI CLIP), "gelu" (SD2 OpenCLIP ViT-H, SDXL
// bigG: exact erf GELU), "gelu_new" / "gelu_pytorch_tanh" (tanh GELU); anything else is an error.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

typedef enum { CLIP_ACT_QUICK_GELU = 0, CLIP_ACT_GELU, CLIP_ACT_GELU_TANH } ClipAct;

typedef struct {
    int64_t vocab_size;              // V: 49408 for every SD text encoder
    int64_t hidden_size;             // D
    int64_t intermediate_size;       // I: MLP width
    int64_t num_hidden_layers;       // L
    int64_t num_attention_heads;     // NH; D % NH == 0
    int64_t max_position_embeddings; // P: 77
    ClipAct hidden_act;
    float layer_norm_eps;
    int64_t projection_dim;          // read but unused (CLIPTextModel has no projection)
    // Token ids the config names. SD configs carry the legacy 0 / 2 / 1; transformers then
    // pools at argmax(input_ids) (eos_token_id == 2), else at the first eos_token_id.
    int64_t bos_token_id, eos_token_id, pad_token_id;
} ClipTextConfig;

// SD1.x / SDXL text encoder 1: CLIP ViT-L/14 (768, 3072, 12 layers, 12 heads, quick_gelu).
ClipTextConfig clip_text_config_sd15(void);
// SD2.x: OpenCLIP ViT-H/14 as diffusers stores it: 1024, 4096, 23 layers (the 24th block is
// dropped: SD2 uses the penultimate layer), 16 heads, gelu.
ClipTextConfig clip_text_config_sd2(void);
// SDXL text encoder 2: OpenCLIP ViT-bigG/14: 1280, 5120, 32 layers, 20 heads, gelu.
ClipTextConfig clip_text_config_sdxl_g(void);
// The tiny text encoder `sdlora init-model` builds for end-to-end tests: the real 49408-token
// vocabulary (the tokenizer emits ids up to 49407), hidden 32, 2 layers, 4 heads (head dim 8),
// MLP 64, quick_gelu. The token embedding is 49408 × 32 floats = 6.3 MB in fp32 (3.2 MB fp16
// on disk); a smaller hidden would only shrink the head dim below 8.
ClipTextConfig clip_text_config_tiny(void);

// Parses config.json text (len bytes); `path` names the file in error messages.
// SDL_ERR_FORMAT: not JSON / a field of the wrong type or out of range;
// SDL_ERR_UNSUPPORTED: an unknown hidden_act.
SdlStatus clip_text_config_parse(ClipTextConfig *cfg, const char *json, size_t len, const char *path);
// Reads and parses a config.json file.
SdlStatus clip_text_config_load(ClipTextConfig *cfg, const char *path);
// Checks the invariants the model relies on (positive sizes, D % NH == 0).
SdlStatus clip_text_config_validate(const ClipTextConfig *cfg, const char *path);

const char *clip_act_name(ClipAct act); // "quick_gelu", "gelu", "gelu_tanh"
