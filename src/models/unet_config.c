// unet_config.c — see unet_config.h.
#include "base/file.h"
#include "models/unet_config.h"
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HINT = "fix or re-export the UNet's config.json (diffusers UNet2DConditionModel)";
static const char *HINT_UNSUP = "sdlora supports SD1.x and SD2.x UNets (diffusers UNet2DConditionModel)";

// UNet2DConditionModel.__init__ defaults (block types, channels, heads as SD1.x; context 1280).
static UnetConfig diffusers_defaults(void) {
    UnetConfig c = {.in_channels = 4, .out_channels = 4, .n_levels = 4,
                    .block_out_channels = {320, 640, 1280, 1280}, .down_cross = {1, 1, 1, 0}, .up_cross = {0, 1, 1, 1},
                    .cross_attention_dim = 1280, .norm_num_groups = 32, .norm_eps = 1e-5f,
                    .use_linear_projection = 0, .flip_sin_to_cos = 1, .freq_shift = 0, .time_embed_dim = 0,
                    .upcast_attention = 0, .sample_size = 0};
    for (int i = 0; i < UNET_MAX_LEVELS; i++) c.layers_per_block[i] = 2, c.heads[i] = 8, c.transformer_layers[i] = 1;
    return c;
}

UnetConfig unet_config_sd15(void) {
    UnetConfig c = diffusers_defaults();
    c.cross_attention_dim = 768;
    c.sample_size = 64;
    c.time_embed_dim = 1280;
    return c;
}

UnetConfig unet_config_sd21(void) {
    UnetConfig c = unet_config_sd15();
    c.cross_attention_dim = 1024;
    c.use_linear_projection = 1;
    c.sample_size = 96;
    const int64_t heads[4] = {5, 10, 20, 20};
    memcpy(c.heads, heads, sizeof heads);
    return c;
}

UnetConfig unet_config_tiny(void) {
    UnetConfig c = diffusers_defaults();
    c.n_levels = 2;
    c.block_out_channels[0] = 16, c.block_out_channels[1] = 32;
    c.down_cross[0] = 1, c.down_cross[1] = 0;
    c.up_cross[0] = 0, c.up_cross[1] = 1;
    c.heads[0] = 2, c.heads[1] = 4;
    c.cross_attention_dim = 24;
    c.norm_num_groups = 8;
    c.time_embed_dim = 64;
    c.sample_size = 16;
    return c;
}

int64_t unet_size_multiple(const UnetConfig *c) { return (int64_t)1 << (c->n_levels - 1); }

// ---- JSON helpers ---------------------------------------------------------------------------

static const cJSON *item(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static int int_value(const cJSON *v, int64_t lo, int64_t hi, int64_t *out) {
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) return 0;
    *out = (int64_t)d;
    return 1;
}

static SdlStatus get_int(const cJSON *o, const char *key, int64_t lo, int64_t hi, int64_t *out, const char *path) {
    const cJSON *v = item(o, key);
    if (v && !int_value(v, lo, hi, out))
        return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: \"%s\" must be an integer in [%lld, %lld]", key,
                        (long long)lo, (long long)hi);
    return SDL_OK;
}

static SdlStatus get_bool(const cJSON *o, const char *key, int *out, const char *path) {
    const cJSON *v = item(o, key);
    if (!v) return SDL_OK;
    if (!cJSON_IsBool(v)) return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: \"%s\" must be true or false", key);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return SDL_OK;
}

static SdlStatus get_number(const cJSON *o, const char *key, double *out, const char *path) {
    const cJSON *v = item(o, key);
    if (!v) return SDL_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: \"%s\" must be a number", key);
    *out = v->valuedouble;
    return SDL_OK;
}

// An int or a list of n_levels ints (diffusers accepts both for the per-level settings).
static SdlStatus get_per_level(const cJSON *o, const char *key, int n, int64_t lo, int64_t hi, int64_t *out,
                               const char *path) {
    const cJSON *v = item(o, key);
    if (!v) return SDL_OK;
    int64_t x;
    if (int_value(v, lo, hi, &x)) {
        for (int i = 0; i < n; i++) out[i] = x;
        return SDL_OK;
    }
    if (!cJSON_IsArray(v))
        return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: \"%s\" must be an integer or a list of integers", key);
    if (cJSON_GetArraySize(v) != n)
        return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: \"%s\" has %d entries for %d levels (block_out_channels)",
                        key, cJSON_GetArraySize(v), n);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (cJSON_IsArray(e))
            return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT_UNSUP,
                            "UNet config: \"%s\"[%d] is a list; per-block lists (asymmetric UNets) are not supported",
                            key, i);
        if (!int_value(e, lo, hi, &out[i]))
            return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: \"%s\"[%d] must be an integer in [%lld, %lld]", key,
                            i, (long long)lo, (long long)hi);
    }
    return SDL_OK;
}

// A list of block types, each one of two names: *is_first[i] = 1 for `first`, 0 for `second`.
static SdlStatus get_block_types(const cJSON *o, const char *key, const char *first, const char *second, int *is_first,
                                 int *n, const char *path) {
    *n = -1;
    const cJSON *v = item(o, key);
    if (!v) return SDL_OK;
    if (!cJSON_IsArray(v)) return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: \"%s\" must be a list", key);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        const char *s = cJSON_GetStringValue(e);
        if (!s) return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: \"%s\"[%d] must be a string", key, i);
        if (i >= UNET_MAX_LEVELS)
            return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT_UNSUP, "UNet config: more than %d entries in \"%s\"",
                            UNET_MAX_LEVELS, key);
        if (strcmp(s, first) == 0) is_first[i] = 1;
        else if (strcmp(s, second) == 0) is_first[i] = 0;
        else
            return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT_UNSUP,
                            "UNet config: %s[%d] is \"%s\"; only \"%s\" and \"%s\" are supported", key, i, s, first,
                            second);
    }
    *n = i;
    return SDL_OK;
}

// Keys that must be absent or null (features sdlora does not implement).
static SdlStatus reject_set(const cJSON *o, const char *key, const char *what, const char *path) {
    const cJSON *v = item(o, key);
    if (v) return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT_UNSUP, "UNet config: \"%s\" is set: %s are not supported", key, what);
    return SDL_OK;
}

// Keys that must be false (or absent); a list of bools (per level) must be all false.
static SdlStatus reject_true(const cJSON *o, const char *key, const char *what, const char *path) {
    const cJSON *v = item(o, key);
    if (!v) return SDL_OK;
    int any = cJSON_IsTrue(v);
    if (cJSON_IsArray(v))
        for (const cJSON *e = v->child; e; e = e->next) any |= cJSON_IsTrue(e);
    else if (!cJSON_IsBool(v))
        return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: \"%s\" must be true or false", key);
    if (any) return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT_UNSUP, "UNet config: \"%s\" is true: %s are not supported", key, what);
    return SDL_OK;
}

// Numbers that must keep their default value.
static SdlStatus require_number(const cJSON *o, const char *key, double want, const char *path) {
    double d = want;
    SDL_TRY(get_number(o, key, &d, path));
    if (d != want)
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT_UNSUP, "UNet config: \"%s\" is %g; only %g is supported", key, d, want);
    return SDL_OK;
}

// Strings that must keep their default value (or be null when want is NULL).
static SdlStatus require_string(const cJSON *o, const char *key, const char *want, const char *path) {
    const cJSON *v = item(o, key);
    if (!v) return SDL_OK;
    const char *s = cJSON_GetStringValue(v);
    if (!s) return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: \"%s\" must be a string", key);
    if (!want || strcmp(s, want) != 0)
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT_UNSUP, "UNet config: \"%s\" is \"%s\"; only %s%s%s is supported", key, s,
                        want ? "\"" : "", want ? want : "null", want ? "\"" : "");
    return SDL_OK;
}

// ---- the parser -----------------------------------------------------------------------------

static SdlStatus parse_rejections(const cJSON *o, const char *path) {
    const cJSON *cls = item(o, "_class_name");
    if (cls && (!cJSON_IsString(cls) || strcmp(cls->valuestring, "UNet2DConditionModel") != 0))
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT_UNSUP, "UNet config: _class_name is \"%s\", not UNet2DConditionModel",
                        cJSON_IsString(cls) ? cls->valuestring : "?");
    const cJSON *add = item(o, "addition_embed_type");
    if (add) {
        const char *s = cJSON_GetStringValue(add);
        if (s && strcmp(s, "text_time") == 0)
            return sdl_fail(SDL_ERR_UNSUPPORTED, path, "use an SD1.x or SD2.x model",
                            "SDXL is not supported yet (UNet config has addition_embed_type \"text_time\")");
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT_UNSUP, "UNet config: addition_embed_type \"%s\" is not supported",
                        s ? s : "?");
    }
    SDL_TRY(reject_set(o, "class_embed_type", "class embeddings", path));
    SDL_TRY(reject_set(o, "num_class_embeds", "class embeddings", path));
    SDL_TRY(reject_set(o, "projection_class_embeddings_input_dim", "class/addition embeddings", path));
    SDL_TRY(reject_set(o, "encoder_hid_dim", "encoder hidden-state projections", path));
    SDL_TRY(reject_set(o, "encoder_hid_dim_type", "encoder hidden-state projections", path));
    SDL_TRY(reject_set(o, "time_cond_proj_dim", "timestep-conditioning projections (LCM)", path));
    SDL_TRY(reject_set(o, "timestep_post_act", "post-activations of the time embedding", path));
    SDL_TRY(reject_set(o, "time_embedding_act_fn", "time-embedding activations", path));
    SDL_TRY(reject_set(o, "cross_attention_norm", "cross-attention norms", path));
    SDL_TRY(reject_set(o, "reverse_transformer_layers_per_block", "asymmetric transformer depths", path));
    SDL_TRY(reject_true(o, "only_cross_attention", "cross-attention-only blocks", path));
    SDL_TRY(reject_true(o, "mid_block_only_cross_attention", "cross-attention-only blocks", path));
    SDL_TRY(reject_true(o, "dual_cross_attention", "dual cross-attention blocks", path));
    SDL_TRY(reject_true(o, "resnet_skip_time_act", "resnets that skip the time activation", path));
    SDL_TRY(reject_true(o, "class_embeddings_concat", "class embeddings", path));
    SDL_TRY(reject_true(o, "center_input_sample", "centred input samples", path));
    SDL_TRY(require_string(o, "time_embedding_type", "positional", path));
    SDL_TRY(require_string(o, "resnet_time_scale_shift", "default", path));
    SDL_TRY(require_string(o, "attention_type", "default", path));
    SDL_TRY(require_number(o, "resnet_out_scale_factor", 1.0, path));
    SDL_TRY(require_number(o, "mid_block_scale_factor", 1.0, path));
    SDL_TRY(require_number(o, "downsample_padding", 1.0, path));
    SDL_TRY(require_number(o, "conv_in_kernel", 3.0, path));
    SDL_TRY(require_number(o, "conv_out_kernel", 3.0, path));
    // Dropout is active in diffusers' training mode: a p > 0 would train differently.
    SDL_TRY(require_number(o, "dropout", 0.0, path));
    const cJSON *mid = cJSON_GetObjectItemCaseSensitive(o, "mid_block_type");
    if (mid && cJSON_IsNull(mid))
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT_UNSUP, "UNet config: mid_block_type is null (a UNet without a mid block)");
    SDL_TRY(require_string(o, "mid_block_type", "UNetMidBlock2DCrossAttn", path));
    const cJSON *act = item(o, "act_fn");
    if (act) {
        const char *a = cJSON_GetStringValue(act);
        if (!a) return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: \"act_fn\" must be a string");
        if (strcmp(a, "silu") != 0 && strcmp(a, "swish") != 0) // diffusers maps both to nn.SiLU
            return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT_UNSUP, "UNet config: act_fn \"%s\" is not supported (only \"silu\")", a);
    }
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(o, "norm_num_groups");
    if (groups && cJSON_IsNull(groups))
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT_UNSUP, "UNet config: norm_num_groups is null (no output norm)");
    return SDL_OK;
}

static SdlStatus parse_object(UnetConfig *c, const cJSON *o, const char *path) {
    const int64_t big = (int64_t)1 << 20;
    SDL_TRY(parse_rejections(o, path));
    SDL_TRY(get_int(o, "in_channels", 1, big, &c->in_channels, path));
    SDL_TRY(get_int(o, "out_channels", 1, big, &c->out_channels, path));
    SDL_TRY(get_int(o, "sample_size", 0, big, &c->sample_size, path));
    SDL_TRY(get_int(o, "norm_num_groups", 1, big, &c->norm_num_groups, path));
    SDL_TRY(get_bool(o, "use_linear_projection", &c->use_linear_projection, path));
    SDL_TRY(get_bool(o, "flip_sin_to_cos", &c->flip_sin_to_cos, path));
    SDL_TRY(get_bool(o, "upcast_attention", &c->upcast_attention, path));
    double d = c->norm_eps;
    SDL_TRY(get_number(o, "norm_eps", &d, path));
    if (!(d > 0)) return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: \"norm_eps\" must be positive");
    c->norm_eps = (float)d;
    d = c->freq_shift;
    SDL_TRY(get_number(o, "freq_shift", &d, path));
    c->freq_shift = (float)d;

    const cJSON *boc = item(o, "block_out_channels");
    if (boc) {
        int n = cJSON_IsArray(boc) ? cJSON_GetArraySize(boc) : -1;
        if (n < 1 || n > UNET_MAX_LEVELS)
            return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: \"block_out_channels\" must be a list of 1 to %d integers",
                            UNET_MAX_LEVELS);
        int i = 0;
        for (const cJSON *e = boc->child; e; e = e->next, i++)
            if (!int_value(e, 1, big, &c->block_out_channels[i]))
                return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: block_out_channels[%d] must be a positive integer", i);
        c->n_levels = n;
    }
    int n_down, n_up;
    SDL_TRY(get_block_types(o, "down_block_types", "CrossAttnDownBlock2D", "DownBlock2D", c->down_cross, &n_down, path));
    SDL_TRY(get_block_types(o, "up_block_types", "CrossAttnUpBlock2D", "UpBlock2D", c->up_cross, &n_up, path));
    if (n_down < 0) n_down = 4; // diffusers' default lists have 4 entries
    if (n_up < 0) n_up = 4;
    if (n_down != c->n_levels || n_up != c->n_levels)
        return sdl_fail(SDL_ERR_FORMAT, path, HINT,
                        "UNet config: %d down and %d up block types for %d block_out_channels (must be equal)", n_down,
                        n_up, c->n_levels);
    int n = c->n_levels;
    SDL_TRY(get_per_level(o, "layers_per_block", n, 1, 64, c->layers_per_block, path));
    SDL_TRY(get_per_level(o, "transformer_layers_per_block", n, 1, 64, c->transformer_layers, path));
    // num_attention_heads wins when set (diffusers: `num_attention_heads or attention_head_dim`).
    const char *heads_key = item(o, "num_attention_heads") ? "num_attention_heads" : "attention_head_dim";
    SDL_TRY(get_per_level(o, heads_key, n, 1, big, c->heads, path));
    const cJSON *ctx = item(o, "cross_attention_dim");
    if (ctx) {
        int64_t per[UNET_MAX_LEVELS];
        SDL_TRY(get_per_level(o, "cross_attention_dim", n, 1, big, per, path));
        for (int i = 1; i < n; i++)
            if (per[i] != per[0])
                return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT_UNSUP,
                                "UNet config: cross_attention_dim differs between levels; one context width is supported");
        c->cross_attention_dim = per[0];
    }
    c->time_embed_dim = 4 * c->block_out_channels[0];
    SDL_TRY(get_int(o, "time_embedding_dim", 1, big, &c->time_embed_dim, path));
    return SDL_OK;
}

SdlStatus unet_config_parse(UnetConfig *cfg, const char *json, size_t len, const char *path) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config is not a JSON object");
    }
    UnetConfig c = diffusers_defaults();
    SdlStatus st = parse_object(&c, root, path);
    cJSON_Delete(root);
    if (st == SDL_OK) st = unet_config_validate(&c, path);
    if (st == SDL_OK) *cfg = c;
    return st;
}

SdlStatus unet_config_load(UnetConfig *cfg, const char *path) {
    char *buf;
    size_t len;
    SDL_TRY(file_read_text(path, (size_t)1 << 24, "this is not a UNet config.json", &buf, &len));
    SdlStatus st = unet_config_parse(cfg, buf, len, path);
    free(buf);
    return st;
}

SdlStatus unet_config_validate(const UnetConfig *c, const char *path) {
    if (c->n_levels < 1 || c->n_levels > UNET_MAX_LEVELS)
        return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: %d levels (must be 1 to %d)", c->n_levels, UNET_MAX_LEVELS);
    if (c->in_channels < 1 || c->out_channels < 1 || c->norm_num_groups < 1 || c->cross_attention_dim < 1 ||
        c->time_embed_dim < 1)
        return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: sizes must be positive");
    if (c->block_out_channels[0] % 2 != 0)
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, HINT, "UNet config: block_out_channels[0] = %lld is odd (timestep embedding width)",
                        (long long)c->block_out_channels[0]);
    for (int i = 0; i < c->n_levels; i++) {
        int64_t ch = c->block_out_channels[i];
        if (ch < 1 || ch % c->norm_num_groups != 0)
            return sdl_fail(SDL_ERR_FORMAT, path, HINT,
                            "UNet config: block_out_channels[%d] = %lld is not a positive multiple of norm_num_groups %lld",
                            i, (long long)ch, (long long)c->norm_num_groups);
        if (c->layers_per_block[i] < 1 || c->transformer_layers[i] < 1 || c->heads[i] < 1)
            return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: level %d has a non-positive layer or head count", i);
        // Level i's heads serve down block i; up block L-1-i uses heads[i] at the same width.
        if (ch < c->heads[i])
            return sdl_fail(SDL_ERR_FORMAT, path, HINT, "UNet config: %lld heads at level %d for %lld channels", (long long)c->heads[i],
                            i, (long long)ch);
    }
    return SDL_OK;
}
