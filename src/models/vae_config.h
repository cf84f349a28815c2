// vae_config.h — the VAE (diffusers AutoencoderKL) configuration: presets and a parser for a
// diffusers vae/config.json.
//
// What is supported is the SD1/SD2/SDXL VAE family: every down block DownEncoderBlock2D, every
// up block UpDecoderBlock2D, SiLU, GroupNorm eps 1e-6 (fixed by diffusers' Encoder/Decoder, not
// in the config), one-head attention in the mid blocks only. Anything else (other block types
// or activations, SD3/Flux's shift_factor, latents_mean/std) is SDL_ERR_UNSUPPORTED with a
// hint, never silently mis-run. force_upcast is read and ignored (sdlora computes in fp32).
//
// Geometry: with L = n_levels, the encoder downsamples L-1 times, so an image (3, H, W) maps to
// latents (latent_channels, H/f, W/f) with f = vae_downsample_factor() = 2^(L-1): 8 for the SD
// VAE (4 levels), 2 for the tiny test preset (2 levels).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

#define VAE_MAX_LEVELS 8

typedef struct {
    int64_t in_channels, out_channels;           // image channels (3, 3)
    int64_t latent_channels;                     // 4 (the encoder emits 2x that: mean, logvar)
    int64_t n_levels;                            // len(block_out_channels)
    int64_t block_out_channels[VAE_MAX_LEVELS];  // SD: 128, 256, 512, 512
    int64_t layers_per_block;                    // resnets per encoder level; decoder has +1
    int64_t norm_num_groups;                     // 32
    float norm_eps;                              // 1e-6 (diffusers hard-codes it for the VAE)
    float scaling_factor;                        // SD1/2 0.18215, SDXL 0.13025
    int mid_block_add_attention;                 // default 1
    int use_quant_conv, use_post_quant_conv;     // default 1
} VaeConfig;

VaeConfig vae_config_sd(void);    // SD1.x / SD2.x VAE (scaling 0.18215)
VaeConfig vae_config_sdxl(void);  // same architecture, scaling 0.13025
// Tests: block_out_channels (16, 32), layers_per_block 1, 8 groups, latent 4, factor 2
// (tools/oracle/make_vae_goldens.py writes a diffusers folder with this config).
VaeConfig vae_config_tiny(void);

int64_t vae_downsample_factor(const VaeConfig *c); // 2^(n_levels - 1)

// Parses a diffusers vae/config.json. Absent (or null) keys take diffusers' AutoencoderKL
// __init__ defaults, as diffusers itself would (block_out_channels (64,), layers_per_block 1,
// one block of each type, 32 groups, latent 4, scaling 0.18215); every real SD config states
// them all. The number of down and up block types must equal len(block_out_channels).
// path is used in messages only.
SdlStatus vae_config_parse(VaeConfig *cfg, const char *json, size_t len, const char *path);
SdlStatus vae_config_load(VaeConfig *cfg, const char *path);
// Checks sizes and divisibility (channels % groups); returns SDL_ERR_FORMAT with a hint.
SdlStatus vae_config_validate(const VaeConfig *c, const char *path);
