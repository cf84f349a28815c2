// vae.h — the SD VAE (diffusers AutoencoderKL): encoder, latent distribution, decoder.
// Forward only: LoRA training never backpropagates through the VAE (it encodes images to
// latents once, and decodes sample images), so activations are not kept for backward.
//
//   encode:  image (B, 3, H, W) in [-1, 1]
//            → encoder → quant_conv → moments (B, 2L, h, w), h = H/f, w = W/f, L = latent_channels
//            → mean = moments[:, :L], logvar = clamp(moments[:, L:], -30, 20)
//   sample:  latents = (mean + exp(0.5·logvar)·eps) · scaling, eps = torch.randn(mean.shape)
//   decode:  z (B, L, h, w) = latents / scaling  →  post_quant_conv → decoder → image (B, 3, H, W)
//
// WHO SCALES: vae_sample_latents multiplies by the scaling factor (kohya: latents =
// latent_dist.sample() * 0.18215, what the UNet trains on); vae_decode takes the UNSCALED z —
// the caller divides first (vae_unscale_latents, a division as diffusers pipelines do:
// `latents / vae.config.scaling_factor`). vae_encode itself returns the unscaled distribution.
//
// Parameters are named by their diffusers keys (encoder.down_blocks.0.resnets.0.conv1.weight,
// decoder.mid_block.attentions.0.to_q.weight, quant_conv.weight, …) in vae->params; load them
// with param_table_load (LDM single-file checkpoints through a key map, the attention 1x1 conv
// shapes (c, c, 1, 1) are accepted for diffusers' (c, c) linears).
//
// Memory: vae_plan(B, H, W) sizes one arena (MEM_ACTIVATIONS) by a dry run of the forward
// passes: three rotating full-resolution buffers (the block input, one temporary, the block
// output — only the live tensors, never every activation), a few small buffers for the
// mid-block attention at the lowest resolution, and the conv/attention work memory. No
// allocation happens in vae_encode / vae_decode. Planned arena for the SD VAE at B = 1
// (bench/bench_vae.c): 512x512 encode 431.8 MiB (3 × 128 MiB + attention and conv work),
// decode 687.8 MiB (256 + 256 + 128 MiB: the last level's first resnet reads 256 channels at
// full resolution; + work); 256x256 encode 119.8 MiB, decode 183.8 MiB. Weights: 319 MiB fp32.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "base/mem.h"
#include "base/rng.h"
#include "models/params.h"
#include "models/vae_config.h"

#define VAE_MAX_LAYERS 8 // resnets per encoder level (decoder: + 1); SD uses 2

typedef struct { float *w, *b; } VaeNorm;          // GroupNorm gamma, beta (C)
typedef struct { float *w, *b; int64_t in, out, k; } VaeConv; // w (out, in, k, k), b (out)
typedef struct { float *w, *b; } VaeLinear;        // w (C, C), b (C)

// diffusers ResnetBlock2D without time embedding:
//   out = x' + conv2(silu(norm2(conv1(silu(norm1(x)))))),  x' = conv_shortcut(x) if in != out else x
typedef struct {
    VaeNorm norm1, norm2;
    VaeConv conv1, conv2;   // 3x3 pad 1
    VaeConv shortcut;       // 1x1, only when in != out (w == NULL otherwise)
    int64_t in, out;
} VaeResnet;

// One-head self-attention over the H·W positions (diffusers Attention, heads = 1, head_dim = C):
//   out = x + to_out(attn(to_q(n), to_k(n), to_v(n))),  n = group_norm(x)
typedef struct {
    VaeNorm norm;
    VaeLinear q, k, v, o;
    int64_t ch;
} VaeAttn;

typedef struct {
    VaeResnet res[2];
    VaeAttn attn;
    int has_attn;
} VaeMid;

typedef struct {
    VaeResnet res[VAE_MAX_LAYERS + 1];
    int64_t n_res;
    VaeConv sampler;       // encoder: downsamplers.0.conv (pad (0,1,0,1), stride 2, pad 0);
                           // decoder: upsamplers.0.conv (after nearest x2; 3x3 pad 1)
    int has_sampler;
} VaeLevel;

#define VAE_N_SLOTS 8

typedef struct {
    VaeConfig cfg;
    ParamTable params;     // diffusers keys; storage in MEM_BASE_WEIGHTS after vae_init

    VaeConv enc_conv_in;               // (C0, 3, 3, 3)
    VaeLevel enc_down[VAE_MAX_LEVELS]; // index = level, highest resolution first
    VaeMid enc_mid;
    VaeNorm enc_norm_out;
    VaeConv enc_conv_out;              // (2L, C_last, 3, 3)
    VaeConv quant_conv;                // (2L, 2L, 1, 1), w NULL when unused
    VaeConv post_quant_conv;           // (L, L, 1, 1), w NULL when unused
    VaeConv dec_conv_in;               // (C_last, L, 3, 3)
    VaeMid dec_mid;
    VaeLevel dec_up[VAE_MAX_LEVELS];   // index 0 = lowest resolution (diffusers order)
    VaeNorm dec_norm_out;
    VaeConv dec_conv_out;              // (3, C0, 3, 3)

    // ---- plan (vae_plan) ----
    int64_t B, H, W;                   // planned image batch and size; 0 before planning
    unsigned modes;                    // VAE_ENCODE | VAE_DECODE
    Arena arena;                       // MEM_ACTIVATIONS: the slots and the work memory
    float *slot[VAE_N_SLOTS];
    size_t slot_floats[VAE_N_SLOTS];
    float *work;
    size_t work_floats;
    double flops[2];                   // FLOPs of one encode / decode at the plan (convs, attention)
    int measuring;                     // internal: 1 during vae_plan's dry run
    double *counting;                  // internal: the flops[] entry the dry run adds to
} Vae;

enum { VAE_ENCODE = 1u, VAE_DECODE = 2u };

// Builds the parameter table for cfg (which must pass vae_config_validate) and allocates its
// storage (MEM_BASE_WEIGHTS, uninitialised); fill it with param_table_load(&vae->params, …).
SdlStatus vae_init(Vae *vae, const VaeConfig *cfg);
void vae_free(Vae *vae);

// Plans for B images of H x W (H, W divisible by vae_downsample_factor(), else SDL_ERR_ARG
// with a message naming the factor) for the given modes (VAE_ENCODE, VAE_DECODE or both;
// decoding alone needs twice the memory of encoding alone at the same image size). Replaces
// any earlier plan.
SdlStatus vae_plan(Vae *vae, int64_t B, int64_t H, int64_t W, unsigned modes);
// Bytes the plan holds (the activation arena), for reporting.
size_t vae_planned_bytes(const Vae *vae);

// mean, logvar (B, L, H/f, W/f) from image (B, in_channels, H, W) in [-1, 1], at the planned
// shape. logvar is clamped to [-30, 20] as diffusers' DiagonalGaussianDistribution does.
void vae_encode(Vae *vae, float *mean, float *logvar, const float *image);
// latents[i] = (mean[i] + exp(0.5·logvar[i])·eps[i]) · scaling with eps = torch.randn(n) drawn
// from rng in one call — the same values diffusers' latent_dist.sample() gives after
// torch.manual_seed(seed) on the same moments (float32, CPU). latents must not alias mean/logvar.
void vae_sample_latents(float *latents, const float *mean, const float *logvar, int64_t n, Rng *rng, float scaling);
// z[i] = latents[i] / scaling (z may alias latents): the decoder's input.
void vae_unscale_latents(float *z, const float *latents, int64_t n, float scaling);
// image (B, out_channels, H, W) from z (B, L, H/f, W/f) (UNSCALED latents), at the planned shape.
// The output is not clamped; map to pixels with clamp((x + 1) / 2, 0, 1).
void vae_decode(Vae *vae, float *image, const float *z);
