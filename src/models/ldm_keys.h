// ldm_keys.h — the SD1.x single-file (LDM / A1111) ↔ diffusers tensor-name mapping, as
// ParamKeyMap callbacks (models/load.h): a model's ParamTable is named with diffusers names,
// and these give the key the same tensor has in a single-file .safetensors/.ckpt.
// Facts: sd-formats.md §6.a (checked against diffusers' convert_ldm_*_checkpoint by
// tools/oracle/make_checkpoint_fixtures.py and tests/test_checkpoint.c).
//
// UNet (prefix "model.diffusion_model."), with L levels and n = layers_per_block:
//   conv_in ↔ input_blocks.0.0            time_embedding.linear_{1,2} ↔ time_embed.{0,2}
//   conv_norm_out ↔ out.0                 conv_out ↔ out.2
//   down_blocks.i.resnets.j ↔ input_blocks.(1 + i(n+1) + j).0
//   down_blocks.i.attentions.j ↔ input_blocks.(1 + i(n+1) + j).1
//   down_blocks.i.downsamplers.0.conv ↔ input_blocks.((i+1)(n+1)).0.op      (i < L-1)
//   mid_block.resnets.{0,1} ↔ middle_block.{0,2}, mid_block.attentions.0 ↔ middle_block.1
//   up_blocks.i.resnets.j ↔ output_blocks.(i(n+1) + j).0                    (j ≤ n)
//   up_blocks.i.attentions.j ↔ output_blocks.(i(n+1) + j).1
//   up_blocks.i.upsamplers.0.conv ↔ output_blocks.(i(n+1) + n).{1|2}.conv   (2 when the level
//                                  has attention, whose block takes slot 1; i < L-1)
//   inside resnets: norm1 ↔ in_layers.0, conv1 ↔ in_layers.2, time_emb_proj ↔ emb_layers.1,
//   norm2 ↔ out_layers.0, conv2 ↔ out_layers.3, conv_shortcut ↔ skip_connection; inside
//   attentions the names are the same in both (so the transformer depth does not matter).
// VAE (prefix "first_stage_model."), L levels: encoder.down_blocks.i.resnets.j ↔
//   encoder.down.i.block.j; encoder.down_blocks.i.downsamplers.0.conv ↔ encoder.down.i.downsample.conv;
//   decoder.up_blocks.i ↔ decoder.up.(L-1-i) (LDM stores decoder levels in encoder order),
//   upsamplers.0.conv ↔ upsample.conv; mid_block.resnets.{0,1} ↔ mid.block_{1,2};
//   mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out.0} ↔ mid.attn_1.{norm,q,k,v,proj_out};
//   conv_shortcut ↔ nin_shortcut; conv_norm_out ↔ norm_out; conv_in/conv_out/quant_conv/
//   post_quant_conv unchanged. (The LDM attention weights are 1x1 convs; param_table_load
//   accepts them for the diffusers linears.)
// Text encoder (SD1 CLIP, HF layout): text_model.* ↔ cond_stage_model.transformer.text_model.*,
//   or cond_stage_model.transformer.* in old checkpoints that lack "text_model.".
#pragma once
#include <stddef.h>
#include "base/error.h"
#include "io/safetensors.h"

#define LDM_UNET_PREFIX "model.diffusion_model."
#define LDM_VAE_PREFIX "first_stage_model."
#define LDM_CLIP_PREFIX "cond_stage_model.transformer."
#define LDM_MAX_LEVELS 8

typedef struct {
    int n_levels;            // L (SD1: 4)
    int layers_per_block;    // n (SD1: 2)
    int attn[LDM_MAX_LEVELS]; // 1 if down level i has attentions (SD1: 1 1 1 0); up level i
                              // mirrors down level L-1-i
} LdmUnetLayout;

typedef struct {
    int n_levels;            // SD1: 4
} LdmVaeLayout;

typedef struct {
    int no_text_model;       // old checkpoints: cond_stage_model.transformer.embeddings.* etc.
} LdmClipLayout;

void ldm_unet_layout_sd1(LdmUnetLayout *l);
void ldm_vae_layout_sd1(LdmVaeLayout *l);
// The layout read off a single-file checkpoint's own keys (works for any size, tiny test
// models included). SDL_ERR_FORMAT naming `file` if the keys do not form an LDM UNet/VAE.
SdlStatus ldm_unet_layout_from_tensors(LdmUnetLayout *l, const SafeTensors *st, const char *file);
SdlStatus ldm_vae_layout_from_tensors(LdmVaeLayout *l, const SafeTensors *st, const char *file);
void ldm_clip_layout_from_tensors(LdmClipLayout *l, const SafeTensors *st);

// ParamKeyMap callbacks: ctx is the matching layout (const). They write the full key (prefix
// included) and return 1, or return 0 for a name with no LDM counterpart (or too long for cap).
int ldm_unet_key(const char *name, char *key, size_t cap, void *ctx);
int ldm_vae_key(const char *name, char *key, size_t cap, void *ctx);
int ldm_clip_key(const char *name, char *key, size_t cap, void *ctx);
