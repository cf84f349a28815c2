// clip_text_config.c — see clip_text_config.h.
#include "base/file.h"
#include "models/clip_text_config.h"
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ClipTextConfig hf_defaults(void) {
    return (ClipTextConfig){.vocab_size = 49408, .hidden_size = 512, .intermediate_size = 2048,
                            .num_hidden_layers = 12, .num_attention_heads = 8, .max_position_embeddings = 77,
                            .hidden_act = CLIP_ACT_QUICK_GELU, .layer_norm_eps = 1e-5f, .projection_dim = 512,
                            .bos_token_id = 49406, .eos_token_id = 49407, .pad_token_id = 1};
}

// The SD presets carry the legacy ids their config.json files have (0 / 2 / 1).
static ClipTextConfig sd_preset(int64_t D, int64_t I, int64_t L, int64_t NH, ClipAct act, int64_t proj) {
    ClipTextConfig c = hf_defaults();
    c.hidden_size = D, c.intermediate_size = I, c.num_hidden_layers = L, c.num_attention_heads = NH;
    c.hidden_act = act, c.projection_dim = proj;
    c.bos_token_id = 0, c.eos_token_id = 2, c.pad_token_id = 1;
    return c;
}

ClipTextConfig clip_text_config_sd15(void) { return sd_preset(768, 3072, 12, 12, CLIP_ACT_QUICK_GELU, 768); }
ClipTextConfig clip_text_config_sd2(void) { return sd_preset(1024, 4096, 23, 16, CLIP_ACT_GELU, 512); }
ClipTextConfig clip_text_config_sdxl_g(void) { return sd_preset(1280, 5120, 32, 20, CLIP_ACT_GELU, 1280); }
ClipTextConfig clip_text_config_tiny(void) { return sd_preset(32, 64, 2, 4, CLIP_ACT_QUICK_GELU, 32); }

const char *clip_act_name(ClipAct act) {
    switch (act) {
    case CLIP_ACT_QUICK_GELU: return "quick_gelu";
    case CLIP_ACT_GELU: return "gelu";
    case CLIP_ACT_GELU_TANH: return "gelu_tanh";
    }
    return "?";
}

// An integer field, if present: a JSON number with an integral value in [lo, hi].
static SdlStatus get_int(const cJSON *o, const char *key, int64_t lo, int64_t hi, int64_t *out, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return SDL_OK;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d))
        return sdl_fail(SDL_ERR_FORMAT, path, "fix or re-export the text encoder's config.json",
                        "text encoder config: \"%s\" must be an integer in [%lld, %lld]", key, (long long)lo,
                        (long long)hi);
    *out = (int64_t)d;
    return SDL_OK;
}

SdlStatus clip_text_config_parse(ClipTextConfig *cfg, const char *json, size_t len, const char *path) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sdl_fail(SDL_ERR_FORMAT, path, "the file must be a transformers CLIPTextConfig (JSON object)",
                        "text encoder config is not a JSON object");
    }
    const cJSON *o = root;
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if (cJSON_IsObject(tc)) o = tc; // a full CLIPConfig: the text part
    ClipTextConfig c = hf_defaults();
    const int64_t big = (int64_t)1 << 31;
    SdlStatus st = SDL_OK;
    if (st == SDL_OK) st = get_int(o, "vocab_size", 1, big, &c.vocab_size, path);
    if (st == SDL_OK) st = get_int(o, "hidden_size", 1, big, &c.hidden_size, path);
    if (st == SDL_OK) st = get_int(o, "intermediate_size", 1, big, &c.intermediate_size, path);
    if (st == SDL_OK) st = get_int(o, "num_hidden_layers", 0, 4096, &c.num_hidden_layers, path);
    if (st == SDL_OK) st = get_int(o, "num_attention_heads", 1, big, &c.num_attention_heads, path);
    if (st == SDL_OK) st = get_int(o, "max_position_embeddings", 1, big, &c.max_position_embeddings, path);
    if (st == SDL_OK) st = get_int(o, "projection_dim", 0, big, &c.projection_dim, path);
    if (st == SDL_OK) st = get_int(o, "bos_token_id", -big, big, &c.bos_token_id, path);
    if (st == SDL_OK) st = get_int(o, "eos_token_id", -big, big, &c.eos_token_id, path);
    if (st == SDL_OK) st = get_int(o, "pad_token_id", -big, big, &c.pad_token_id, path);
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(o, "layer_norm_eps");
    if (st == SDL_OK && eps && !cJSON_IsNull(eps)) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble < 1))
            st = sdl_fail(SDL_ERR_FORMAT, path, "fix or re-export the text encoder's config.json",
                          "text encoder config: \"layer_norm_eps\" must be a number in (0, 1)");
        else
            c.layer_norm_eps = (float)eps->valuedouble;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "hidden_act");
    if (st == SDL_OK && act && !cJSON_IsNull(act)) {
        const char *a = cJSON_GetStringValue(act);
        if (!a)
            st = sdl_fail(SDL_ERR_FORMAT, path, "fix or re-export the text encoder's config.json",
                          "text encoder config: \"hidden_act\" must be a string");
        else if (strcmp(a, "quick_gelu") == 0)
            c.hidden_act = CLIP_ACT_QUICK_GELU;
        else if (strcmp(a, "gelu") == 0)
            c.hidden_act = CLIP_ACT_GELU;
        else if (strcmp(a, "gelu_new") == 0 || strcmp(a, "gelu_pytorch_tanh") == 0)
            c.hidden_act = CLIP_ACT_GELU_TANH;
        else
            st = sdl_fail(SDL_ERR_UNSUPPORTED, path,
                          "SD text encoders use \"quick_gelu\" (SD1, SDXL CLIP-L) or \"gelu\" (SD2, SDXL bigG)",
                          "text encoder config: hidden_act \"%s\" is not supported", a);
    }
    cJSON_Delete(root);
    if (st == SDL_OK) st = clip_text_config_validate(&c, path);
    if (st == SDL_OK) *cfg = c;
    return st;
}

SdlStatus clip_text_config_load(ClipTextConfig *cfg, const char *path) {
    char *buf;
    size_t len;
    SDL_TRY(file_read_text(path, (size_t)1 << 24, "this is not a text encoder config.json", &buf, &len));
    SdlStatus st = clip_text_config_parse(cfg, buf, len, path);
    free(buf);
    return st;
}

SdlStatus clip_text_config_validate(const ClipTextConfig *c, const char *path) {
    const char *hint = "fix or re-export the text encoder's config.json";
    if (c->vocab_size < 1 || c->hidden_size < 1 || c->intermediate_size < 1 || c->num_hidden_layers < 0 ||
        c->num_attention_heads < 1 || c->max_position_embeddings < 1)
        return sdl_fail(SDL_ERR_FORMAT, path, hint, "text encoder config: sizes must be positive");
    if (c->hidden_size % c->num_attention_heads != 0)
        return sdl_fail(SDL_ERR_FORMAT, path, hint,
                        "text encoder config: hidden_size %lld is not a multiple of num_attention_heads %lld",
                        (long long)c->hidden_size, (long long)c->num_attention_heads);
    if (!(c->layer_norm_eps > 0))
        return sdl_fail(SDL_ERR_FORMAT, path, hint, "text encoder config: layer_norm_eps must be positive");
    return SDL_OK;
}
