// unet_config.h — the UNet (diffusers UNet2DConditionModel) configuration: presets and a parser
// for a diffusers unet/config.json.
//
// Supported: the SD1.x / SD2.x family — down blocks CrossAttnDownBlock2D / DownBlock2D, up blocks
// CrossAttnUpBlock2D / UpBlock2D, mid block UNetMidBlock2DCrossAttn, positional (sinusoidal)
// timestep embedding, SiLU, GroupNorm everywhere, plain ("default") time-embedding add, 1x1-conv
// (SD1) or linear (SD2) transformer projections, any in/out channel count (inpainting 9,
// instruct-pix2pix 8). Anything else — SDXL's addition_embed_type "text_time", class
// embeddings, other block or embedding types — is SDL_ERR_UNSUPPORTED naming the key, never
// silently mis-run. upcast_attention is read and ignored (sdlora computes attention in fp32).
//
// Heads: diffusers' "attention_head_dim" is, for these models, the NUMBER OF HEADS (the legacy
// name): 8 for SD1, [5, 10, 20, 20] for SD2. As diffusers does, num_attention_heads (when set)
// overrides it; per level, head_dim = channels / heads. Down level i uses heads[i], the mid block
// heads[last], up block i heads[L-1-i]; likewise transformer_layers_per_block (mid: the last).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

#define UNET_MAX_LEVELS 8

typedef struct {
    int64_t in_channels, out_channels;              // latent channels in and out (4, 4)
    int n_levels;                                   // len(block_out_channels)
    int64_t block_out_channels[UNET_MAX_LEVELS];    // SD1: 320, 640, 1280, 1280
    int64_t layers_per_block[UNET_MAX_LEVELS];      // resnets per down level (up levels have +1)
    int down_cross[UNET_MAX_LEVELS];                // down_blocks.i is CrossAttnDownBlock2D (1) / DownBlock2D (0)
    int up_cross[UNET_MAX_LEVELS];                  // up_blocks.i (up order) is CrossAttnUpBlock2D / UpBlock2D
    int64_t heads[UNET_MAX_LEVELS];                 // attention heads per level (down order)
    int64_t transformer_layers[UNET_MAX_LEVELS];    // BasicTransformerBlocks per Transformer2D, per level
    int64_t cross_attention_dim;                    // context width: SD1 768, SD2 1024
    int64_t norm_num_groups;                        // 32
    float norm_eps;                                 // ResnetBlock2D / conv_norm_out GroupNorm eps: 1e-5
    int use_linear_projection;                      // SD2: 1
    int flip_sin_to_cos;                            // 1
    float freq_shift;                               // 0
    int64_t time_embed_dim;                         // 4 * block_out_channels[0] unless time_embedding_dim
    int upcast_attention;                           // read, ignored (fp32)
    int64_t sample_size;                            // latent size trained at (64 SD1, 96 SD2-768); informational
} UnetConfig;

UnetConfig unet_config_sd15(void);  // SD1.x (runwayml/stable-diffusion-v1-5 unet/config.json)
UnetConfig unet_config_sd21(void);  // SD2.x (linear projections, heads 5/10/20/20, context 1024)
// Tests: block_out_channels (16, 32), layers_per_block 2, CrossAttnDownBlock2D + DownBlock2D,
// UpBlock2D + CrossAttnUpBlock2D, 8 groups, heads (2, 4) per level, context 24, time embedding
// 64 (tools/oracle/make_unet_goldens.py writes a diffusers folder with exactly this config).
UnetConfig unet_config_tiny(void);

// Parses a diffusers unet/config.json. Absent (or null) keys take UNet2DConditionModel.__init__'s
// defaults, as diffusers would. path is used in messages only.
SdlStatus unet_config_parse(UnetConfig *cfg, const char *json, size_t len, const char *path);
SdlStatus unet_config_load(UnetConfig *cfg, const char *path);
// Checks sizes and divisibility (channels % groups, channels % heads); SDL_ERR_FORMAT with a hint.
SdlStatus unet_config_validate(const UnetConfig *c, const char *path);
// Latent H and W must be multiples of this (2^(levels-1); 8 for SD): sdlora upsamples by exactly
// 2x, as diffusers does whenever the size divides.
int64_t unet_size_multiple(const UnetConfig *c);
