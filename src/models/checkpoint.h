// checkpoint.h — opening a base model in any of the three forms users have, and telling which
// model family it is:
//   - a single-file .safetensors (LDM / A1111 key layout, sd-formats.md §6.a);
//   - a single-file .ckpt / .pt / .pth / .bin (PyTorch zip, read by io/ckpt.h without running
//     code) with the same layout;
//   - a diffusers folder (model_index.json and/or unet/; each of unet/, text_encoder/, vae/
//     holds config.json and diffusion_pytorch_model[.fp16].safetensors — model[.fp16].safetensors
//     for the text encoder — or the older .bin files).
// For each component (UNet, text encoder, VAE) ModelFiles gives what param_table_load needs:
// the tensor source, the key prefix and a ParamKeyMap from diffusers parameter names to the
// file's keys (NULL map for diffusers folders, whose names already are the diffusers ones), and
// the component's config.json text when the folder has one (NULL for single files: the caller
// uses its SD1 presets, or the layout detected from the keys, ModelFiles.unet_layout).
//
// Only SD1.x (incl. its inpainting variant) is accepted for now. Detection, in this order:
// a LoRA file (lora_unet_*/lora_te_* or *.lora_down.* keys) → SDL_ERR_ARG; SDXL
// (conditioner.embedders.*, label_emb, text_encoder_2/, 2048-wide context) and SD2.x
// (cond_stage_model.model.* OpenCLIP, 1024-wide attn2.to_k or cross_attention_dim) →
// SDL_ERR_UNSUPPORTED naming the telltale tensor and its shape; no UNet keys → SDL_ERR_FORMAT
// saying what the file looks like instead (a diffusers component file, a standalone VAE, …).
// v-prediction: SD1 files rarely say; a "v_pred" key, safetensors metadata
// modelspec.prediction_type, or scheduler/scheduler_config.json prediction_type set
// ModelFiles.prediction, else it stays MODEL_PRED_UNKNOWN (the caller's default: epsilon).
#pragma once
#include "base/error.h"
#include "io/safetensors.h"
#include "models/ldm_keys.h"
#include "models/load.h"
#include "models/params.h"

typedef enum { MODEL_FORM_SAFETENSORS, MODEL_FORM_CKPT, MODEL_FORM_DIFFUSERS } ModelForm;
typedef enum { MODEL_UNET, MODEL_TEXT_ENCODER, MODEL_VAE, MODEL_N_COMPONENTS } ModelComponent;
typedef enum { MODEL_PRED_UNKNOWN, MODEL_PRED_EPSILON, MODEL_PRED_V } ModelPrediction;

typedef struct {
    const SafeTensors *src;   // borrowed from the ModelFiles
    const char *prefix;       // "" (diffusers) or LDM_UNET_PREFIX / LDM_CLIP_PREFIX / LDM_VAE_PREFIX
    ParamKeyMap map;          // NULL: key = prefix + name
    void *map_ctx;            // points into the ModelFiles
    char *config_json;        // owned; NULL for single files
    char *weights_path;       // owned: the file the tensors come from
} ModelComponentFiles;

typedef struct {
    char *path;               // owned copy of what was opened
    ModelForm form;
    int in_channels;          // UNet conv_in input channels: 4, or 9 for inpainting models
    int context_dim;          // width of the text conditioning (768 for SD1), 0 if unknown
    int is_inpaint;
    ModelPrediction prediction;
    SafeTensors single;       // single-file forms
    SafeTensors parts[MODEL_N_COMPONENTS]; // diffusers form
    LdmUnetLayout unet_layout; // single-file forms: read off the keys
    LdmVaeLayout vae_layout;
    LdmClipLayout clip_layout;
    ModelComponentFiles comp[MODEL_N_COMPONENTS];
} ModelFiles;

const char *model_component_name(ModelComponent c); // "UNet", "text encoder", "VAE"
const char *model_form_name(ModelForm f);

// Opens `path` (any of the three forms) and detects the family; on failure records an error
// naming the file, the reason and a hint, and leaves *mf empty (safe to close).
// SDL_ERR_IO: the path does not exist / cannot be read; SDL_ERR_ARG: a LoRA file, or a file
// with an unknown extension; SDL_ERR_UNSUPPORTED: SD2.x / SDXL / sharded weights; SDL_ERR_FORMAT:
// not a Stable Diffusion model, or a damaged file.
SdlStatus model_files_open(ModelFiles *mf, const char *path);
void model_files_close(ModelFiles *mf);
// param_table_load of component c into t (whose storage is allocated).
SdlStatus model_files_load(const ModelFiles *mf, ModelComponent c, ParamTable *t, LoadReport *report);
