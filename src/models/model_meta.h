// model_meta.h — a model component's configuration as diffusers config.json text, and where a
// component's configuration comes from when a model is opened.
//
// Convention for single-file checkpoints (sdlora's own; other tools ignore it): a single
// .safetensors may carry each component's diffusers config.json, compact, in its __metadata__
// under MODEL_META_UNET_KEY / MODEL_META_TEXT_ENCODER_KEY / MODEL_META_VAE_KEY. `sdlora
// init-model --format single-file` writes them, because a single file otherwise says nothing
// about head counts or the time-embedding width, and anything but SD1's sizes (the tiny test
// model) could not be run from it. Resolution order for each component:
//   1. a diffusers folder's <component>/config.json;
//   2. a single file's metadata key above (parsed by the same parser, same errors);
//   3. the SD1 preset (unet_config_sd15, clip_text_config_sd15, vae_config_sd) — real SD1
//      single files; a model of another size then fails to load with both shapes named.
#pragma once
#include "base/error.h"
#include "models/checkpoint.h"
#include "models/clip_text_config.h"
#include "models/unet_config.h"
#include "models/vae_config.h"

#define MODEL_META_UNET_KEY "sdlora.unet_config"
#define MODEL_META_TEXT_ENCODER_KEY "sdlora.text_encoder_config"
#define MODEL_META_VAE_KEY "sdlora.vae_config"

// diffusers / transformers config.json text for a configuration (malloc'd, NUL-terminated;
// NULL when out of memory). pretty = 1 indents as diffusers' save_pretrained does; 0 gives one
// compact line (for metadata). The text parses back to the same configuration, and diffusers
// 0.31 / transformers 4.46 load it (UNet2DConditionModel, CLIPTextModel, AutoencoderKL).
char *model_meta_unet_json(const UnetConfig *c, int pretty);
char *model_meta_text_encoder_json(const ClipTextConfig *c, const char *torch_dtype, int pretty);
char *model_meta_vae_json(const VaeConfig *c, int pretty);

// The component's configuration for an opened model, in the order above. Errors name the
// config.json or the model file.
SdlStatus model_meta_unet_config(const ModelFiles *mf, UnetConfig *cfg);
SdlStatus model_meta_text_encoder_config(const ModelFiles *mf, ClipTextConfig *cfg);
SdlStatus model_meta_vae_config(const ModelFiles *mf, VaeConfig *cfg);
