// model_meta.c — see model_meta.h.
#include "models/model_meta.h"
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIFFUSERS_VERSION "0.31.0"      // the version the oracle scripts run; recorded, not checked
#define TRANSFORMERS_VERSION "4.46.3"

// A float as the shortest decimal that reads back as the same float ("1e-05", not the
// 9.99999974737875e-06 its double value prints as), inserted as a raw JSON number.
static void add_float(cJSON *o, const char *key, float v) {
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    cJSON_AddRawToObject(o, key, buf);
}

static void add_int(cJSON *o, const char *key, int64_t v) { cJSON_AddNumberToObject(o, key, (double)v); }

// An int when every level has the same value (as SD1's configs write it), else a list.
static void add_per_level(cJSON *o, const char *key, const int64_t *v, int n) {
    int same = 1;
    for (int i = 1; i < n; i++) same &= v[i] == v[0];
    if (same) { add_int(o, key, v[0]); return; }
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
}

static void add_int_list(cJSON *o, const char *key, const int64_t *v, int n) {
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
}

static char *finish(cJSON *o, int pretty) {
    char *s = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *model_meta_unet_json(const UnetConfig *c, int pretty) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int n = c->n_levels;
    cJSON_AddStringToObject(o, "_class_name", "UNet2DConditionModel");
    cJSON_AddStringToObject(o, "_diffusers_version", DIFFUSERS_VERSION);
    cJSON_AddStringToObject(o, "act_fn", "silu");
    add_per_level(o, "attention_head_dim", c->heads, n); // the legacy name: heads per level
    add_int_list(o, "block_out_channels", c->block_out_channels, n);
    cJSON_AddBoolToObject(o, "center_input_sample", 0);
    add_int(o, "cross_attention_dim", c->cross_attention_dim);
    cJSON *down = cJSON_AddArrayToObject(o, "down_block_types");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(down, cJSON_CreateString(c->down_cross[i] ? "CrossAttnDownBlock2D" : "DownBlock2D"));
    add_int(o, "downsample_padding", 1);
    cJSON_AddBoolToObject(o, "flip_sin_to_cos", c->flip_sin_to_cos);
    add_float(o, "freq_shift", c->freq_shift);
    add_int(o, "in_channels", c->in_channels);
    add_per_level(o, "layers_per_block", c->layers_per_block, n);
    add_int(o, "mid_block_scale_factor", 1);
    cJSON_AddStringToObject(o, "mid_block_type", "UNetMidBlock2DCrossAttn");
    add_float(o, "norm_eps", c->norm_eps);
    add_int(o, "norm_num_groups", c->norm_num_groups);
    add_int(o, "out_channels", c->out_channels);
    add_int(o, "sample_size", c->sample_size);
    // diffusers derives 4 * block_out_channels[0] itself; state the width only when it differs
    if (c->time_embed_dim && c->time_embed_dim != 4 * c->block_out_channels[0]) add_int(o, "time_embedding_dim", c->time_embed_dim);
    else cJSON_AddNullToObject(o, "time_embedding_dim");
    cJSON_AddStringToObject(o, "time_embedding_type", "positional");
    add_per_level(o, "transformer_layers_per_block", c->transformer_layers, n);
    cJSON *up = cJSON_AddArrayToObject(o, "up_block_types");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(up, cJSON_CreateString(c->up_cross[i] ? "CrossAttnUpBlock2D" : "UpBlock2D"));
    cJSON_AddBoolToObject(o, "upcast_attention", c->upcast_attention);
    cJSON_AddBoolToObject(o, "use_linear_projection", c->use_linear_projection);
    return finish(o, pretty);
}

static const char *hf_act_name(ClipAct a) {
    switch (a) {
    case CLIP_ACT_QUICK_GELU: return "quick_gelu";
    case CLIP_ACT_GELU: return "gelu";
    case CLIP_ACT_GELU_TANH: return "gelu_new";
    }
    return "quick_gelu";
}

char *model_meta_text_encoder_json(const ClipTextConfig *c, const char *torch_dtype, int pretty) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("CLIPTextModel"));
    add_float(o, "attention_dropout", 0.0f);
    add_int(o, "bos_token_id", c->bos_token_id);
    add_float(o, "dropout", 0.0f);
    add_int(o, "eos_token_id", c->eos_token_id);
    cJSON_AddStringToObject(o, "hidden_act", hf_act_name(c->hidden_act));
    add_int(o, "hidden_size", c->hidden_size);
    add_float(o, "initializer_factor", 1.0f);
    add_float(o, "initializer_range", 0.02f);
    add_int(o, "intermediate_size", c->intermediate_size);
    add_float(o, "layer_norm_eps", c->layer_norm_eps);
    add_int(o, "max_position_embeddings", c->max_position_embeddings);
    cJSON_AddStringToObject(o, "model_type", "clip_text_model");
    add_int(o, "num_attention_heads", c->num_attention_heads);
    add_int(o, "num_hidden_layers", c->num_hidden_layers);
    add_int(o, "pad_token_id", c->pad_token_id);
    add_int(o, "projection_dim", c->projection_dim);
    cJSON_AddStringToObject(o, "torch_dtype", torch_dtype ? torch_dtype : "float32");
    cJSON_AddStringToObject(o, "transformers_version", TRANSFORMERS_VERSION);
    add_int(o, "vocab_size", c->vocab_size);
    return finish(o, pretty);
}

char *model_meta_vae_json(const VaeConfig *c, int pretty) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int n = (int)c->n_levels;
    cJSON_AddStringToObject(o, "_class_name", "AutoencoderKL");
    cJSON_AddStringToObject(o, "_diffusers_version", DIFFUSERS_VERSION);
    cJSON_AddStringToObject(o, "act_fn", "silu");
    add_int_list(o, "block_out_channels", c->block_out_channels, n);
    cJSON *down = cJSON_AddArrayToObject(o, "down_block_types");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(down, cJSON_CreateString("DownEncoderBlock2D"));
    cJSON_AddBoolToObject(o, "force_upcast", 1);
    add_int(o, "in_channels", c->in_channels);
    add_int(o, "latent_channels", c->latent_channels);
    add_int(o, "layers_per_block", c->layers_per_block);
    cJSON_AddBoolToObject(o, "mid_block_add_attention", c->mid_block_add_attention);
    add_int(o, "norm_num_groups", c->norm_num_groups);
    add_int(o, "out_channels", c->out_channels);
    add_int(o, "sample_size", 512);
    add_float(o, "scaling_factor", c->scaling_factor);
    cJSON *up = cJSON_AddArrayToObject(o, "up_block_types");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(up, cJSON_CreateString("UpDecoderBlock2D"));
    cJSON_AddBoolToObject(o, "use_post_quant_conv", c->use_post_quant_conv);
    cJSON_AddBoolToObject(o, "use_quant_conv", c->use_quant_conv);
    return finish(o, pretty);
}

// The config text for component c: config.json of a diffusers folder, else the single file's
// metadata entry (NULL: use the SD1 preset). *from names the source for error messages.
static const char *config_text(const ModelFiles *mf, ModelComponent c, const char *meta_key, const char **from) {
    if (mf->comp[c].config_json) {
        *from = mf->comp[c].weights_path; // config.json sits beside the weights
        return mf->comp[c].config_json;
    }
    *from = mf->path;
    return mf->form == MODEL_FORM_DIFFUSERS ? NULL : st_metadata_get(&mf->single, meta_key);
}

SdlStatus model_meta_unet_config(const ModelFiles *mf, UnetConfig *cfg) {
    const char *from, *json = config_text(mf, MODEL_UNET, MODEL_META_UNET_KEY, &from);
    *cfg = unet_config_sd15();
    return json ? unet_config_parse(cfg, json, strlen(json), from) : SDL_OK;
}

SdlStatus model_meta_text_encoder_config(const ModelFiles *mf, ClipTextConfig *cfg) {
    const char *from, *json = config_text(mf, MODEL_TEXT_ENCODER, MODEL_META_TEXT_ENCODER_KEY, &from);
    *cfg = clip_text_config_sd15();
    if (json) SDL_TRY(clip_text_config_parse(cfg, json, strlen(json), from));
    return clip_text_config_validate(cfg, from);
}

SdlStatus model_meta_vae_config(const ModelFiles *mf, VaeConfig *cfg) {
    const char *from, *json = config_text(mf, MODEL_VAE, MODEL_META_VAE_KEY, &from);
    *cfg = vae_config_sd();
    return json ? vae_config_parse(cfg, json, strlen(json), from) : SDL_OK;
}
