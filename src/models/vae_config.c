// vae_config.c — see vae_config.h.
#include "base/file.h"
#include "models/vae_config.h"
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HINT = "fix or re-export the VAE's config.json (diffusers AutoencoderKL)";

// diffusers AutoencoderKL.__init__ defaults (plus the VAE's fixed GroupNorm eps).
static VaeConfig diffusers_defaults(void) {
    return (VaeConfig){.in_channels = 3, .out_channels = 3, .latent_channels = 4, .n_levels = 1,
                       .block_out_channels = {64}, .layers_per_block = 1, .norm_num_groups = 32,
                       .norm_eps = 1e-6f, .scaling_factor = 0.18215f, .mid_block_add_attention = 1,
                       .use_quant_conv = 1, .use_post_quant_conv = 1};
}

VaeConfig vae_config_sd(void) {
    VaeConfig c = diffusers_defaults();
    c.n_levels = 4;
    const int64_t ch[4] = {128, 256, 512, 512};
    memcpy(c.block_out_channels, ch, sizeof ch);
    c.layers_per_block = 2;
    return c;
}

VaeConfig vae_config_sdxl(void) {
    VaeConfig c = vae_config_sd();
    c.scaling_factor = 0.13025f;
    return c;
}

VaeConfig vae_config_tiny(void) {
    VaeConfig c = diffusers_defaults();
    c.n_levels = 2;
    c.block_out_channels[0] = 16;
    c.block_out_channels[1] = 32;
    c.layers_per_block = 1;
    c.norm_num_groups = 8;
    return c;
}

int64_t vae_downsample_factor(const VaeConfig *c) { return (int64_t)1 << (c->n_levels - 1); }

static SdlStatus get_int(const cJSON *o, const char *key, int64_t lo, int64_t hi, int64_t *out, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return SDL_OK;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d))
        return sdl_fail(SDL_ERR_FORMAT, path, HINT, "VAE config: \"%s\" must be an integer in [%lld, %lld]", key,
                        (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return SDL_OK;
}

static SdlStatus get_bool(const cJSON *o, const char *key, int *out, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return SDL_OK;
    if (!cJSON_IsBool(v)) return sdl_fail(SDL_ERR_FORMAT, path, HINT, "VAE config: \"%s\" must be true or false", key);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return SDL_OK;
}

// A list of block types: all must equal `want`; its length is returned in *n (-1 if absent).
static SdlStatus get_block_types(const cJSON *o, const char *key, const char *want, int64_t *n, const char *path) {
    *n = -1;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return SDL_OK;
    if (!cJSON_IsArray(v)) return sdl_fail(SDL_ERR_FORMAT, path, HINT, "VAE config: \"%s\" must be a list", key);
    int64_t i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        const char *s = cJSON_GetStringValue(e);
        if (!s) return sdl_fail(SDL_ERR_FORMAT, path, HINT, "VAE config: \"%s\"[%lld] must be a string", key, (long long)i);
        if (strcmp(s, want) != 0)
            return sdl_fail(SDL_ERR_UNSUPPORTED, path,
                            "sdlora supports the SD1/SD2/SDXL VAE (DownEncoderBlock2D / UpDecoderBlock2D blocks)",
                            "VAE config: %s[%lld] is \"%s\"; only \"%s\" is supported", key, (long long)i, s, want);
    }
    *n = i;
    return SDL_OK;
}

static SdlStatus parse_object(VaeConfig *c, const cJSON *o, const char *path) {
    const int64_t big = (int64_t)1 << 20;
    SDL_TRY(get_int(o, "in_channels", 1, big, &c->in_channels, path));
    SDL_TRY(get_int(o, "out_channels", 1, big, &c->out_channels, path));
    SDL_TRY(get_int(o, "latent_channels", 1, big, &c->latent_channels, path));
    SDL_TRY(get_int(o, "layers_per_block", 1, 64, &c->layers_per_block, path));
    SDL_TRY(get_int(o, "norm_num_groups", 1, big, &c->norm_num_groups, path));
    SDL_TRY(get_bool(o, "mid_block_add_attention", &c->mid_block_add_attention, path));
    SDL_TRY(get_bool(o, "use_quant_conv", &c->use_quant_conv, path));
    SDL_TRY(get_bool(o, "use_post_quant_conv", &c->use_post_quant_conv, path));

    const cJSON *boc = cJSON_GetObjectItemCaseSensitive(o, "block_out_channels");
    if (boc && !cJSON_IsNull(boc)) {
        int64_t n = cJSON_IsArray(boc) ? cJSON_GetArraySize(boc) : -1;
        if (n < 1 || n > VAE_MAX_LEVELS)
            return sdl_fail(SDL_ERR_FORMAT, path, HINT, "VAE config: \"block_out_channels\" must be a list of 1 to %d integers",
                            VAE_MAX_LEVELS);
        int64_t i = 0;
        for (const cJSON *e = boc->child; e; e = e->next, i++) {
            double d = cJSON_IsNumber(e) ? e->valuedouble : NAN;
            if (!(d >= 1 && d <= (double)big) || d != floor(d))
                return sdl_fail(SDL_ERR_FORMAT, path, HINT, "VAE config: block_out_channels[%lld] must be a positive integer",
                                (long long)i);
            c->block_out_channels[i] = (int64_t)d;
        }
        c->n_levels = n;
    }
    int64_t n_down, n_up;
    SDL_TRY(get_block_types(o, "down_block_types", "DownEncoderBlock2D", &n_down, path));
    SDL_TRY(get_block_types(o, "up_block_types", "UpDecoderBlock2D", &n_up, path));
    if (n_down < 0) n_down = 1; // diffusers defaults: one block of each type
    if (n_up < 0) n_up = 1;
    if (n_down != c->n_levels || n_up != c->n_levels)
        return sdl_fail(SDL_ERR_FORMAT, path, HINT,
                        "VAE config: %lld down and %lld up block types for %lld block_out_channels (must be equal)",
                        (long long)n_down, (long long)n_up, (long long)c->n_levels);

    const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "act_fn");
    if (act && !cJSON_IsNull(act)) {
        const char *a = cJSON_GetStringValue(act);
        if (!a) return sdl_fail(SDL_ERR_FORMAT, path, HINT, "VAE config: \"act_fn\" must be a string");
        if (strcmp(a, "silu") != 0 && strcmp(a, "swish") != 0) // diffusers maps both to nn.SiLU
            return sdl_fail(SDL_ERR_UNSUPPORTED, path, "the SD VAEs use act_fn \"silu\"",
                            "VAE config: act_fn \"%s\" is not supported", a);
    }
    const cJSON *sf = cJSON_GetObjectItemCaseSensitive(o, "scaling_factor");
    if (sf && !cJSON_IsNull(sf)) {
        if (!cJSON_IsNumber(sf) || !(sf->valuedouble > 0 && isfinite(sf->valuedouble)))
            return sdl_fail(SDL_ERR_FORMAT, path, HINT, "VAE config: \"scaling_factor\" must be a positive number");
        c->scaling_factor = (float)sf->valuedouble;
    }
    // SD3 / Flux VAEs shift latents (and some models normalise per channel): a different latent
    // convention that the SD training path would get silently wrong.
    const char *unsup[] = {"shift_factor", "latents_mean", "latents_std"};
    for (size_t i = 0; i < sizeof unsup / sizeof unsup[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, unsup[i]);
        if (v && !cJSON_IsNull(v))
            return sdl_fail(SDL_ERR_UNSUPPORTED, path, "sdlora supports the SD1/SD2/SDXL VAEs (no latent shift)",
                            "VAE config: \"%s\" is set; latent shifting/normalisation is not supported", unsup[i]);
    }
    // force_upcast: ignored (sdlora always computes the VAE in fp32).
    return SDL_OK;
}

SdlStatus vae_config_parse(VaeConfig *cfg, const char *json, size_t len, const char *path) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sdl_fail(SDL_ERR_FORMAT, path, HINT, "VAE config is not a JSON object");
    }
    VaeConfig c = diffusers_defaults();
    SdlStatus st = parse_object(&c, root, path);
    cJSON_Delete(root);
    if (st == SDL_OK) st = vae_config_validate(&c, path);
    if (st == SDL_OK) *cfg = c;
    return st;
}

SdlStatus vae_config_load(VaeConfig *cfg, const char *path) {
    char *buf;
    size_t len;
    SDL_TRY(file_read_text(path, (size_t)1 << 24, "this is not a VAE config.json", &buf, &len));
    SdlStatus st = vae_config_parse(cfg, buf, len, path);
    free(buf);
    return st;
}

SdlStatus vae_config_validate(const VaeConfig *c, const char *path) {
    if (c->n_levels < 1 || c->n_levels > VAE_MAX_LEVELS)
        return sdl_fail(SDL_ERR_FORMAT, path, HINT, "VAE config: %lld levels (must be 1 to %d)", (long long)c->n_levels,
                        VAE_MAX_LEVELS);
    if (c->in_channels < 1 || c->out_channels < 1 || c->latent_channels < 1 || c->layers_per_block < 1 ||
        c->norm_num_groups < 1)
        return sdl_fail(SDL_ERR_FORMAT, path, HINT, "VAE config: sizes must be positive");
    for (int64_t i = 0; i < c->n_levels; i++)
        if (c->block_out_channels[i] < 1 || c->block_out_channels[i] % c->norm_num_groups != 0)
            return sdl_fail(SDL_ERR_FORMAT, path, HINT,
                            "VAE config: block_out_channels[%lld] = %lld is not a positive multiple of norm_num_groups %lld",
                            (long long)i, (long long)c->block_out_channels[i], (long long)c->norm_num_groups);
    if (!(c->norm_eps > 0) || !(c->scaling_factor > 0))
        return sdl_fail(SDL_ERR_FORMAT, path, HINT, "VAE config: norm eps and scaling_factor must be positive");
    return SDL_OK;
}
