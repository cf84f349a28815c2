// test_vae.c — the VAE (src/models/vae.{h,c}, vae_config.{h,c}) against diffusers 0.31.
//
// Goldens (tools/oracle/make_vae_goldens.py): a tiny AutoencoderKL saved as a diffusers folder
// (tests/golden/models/tiny-vae: config.json + diffusion_pytorch_model.safetensors) and its
// outputs in tests/golden/models/tiny-vae-golden.safetensors, computed in float64 on the
// float32 weights and inputs. The golden directory is tests/golden (run from the repo root)
// or $SDLORA_GOLDEN_DIR. The real SD VAE config (4 levels, 2 resnets per level, 32 groups)
// is checked too, on weights both sides regenerate from torch.randn (not stored).
//
// Tolerances:
//   * encode mean/logvar and decoded image: max|got - ref| <= 1e-5 · max|ref|. Each output is
//     ~10 float32 conv / GroupNorm / attention layers deep, each a sum of <= 288 products.
//     The first choice, 1e-4, was too loose to see the VAE's one subtle pitfall: GroupNorm
//     eps 1e-5 instead of 1e-6 moves these outputs by only ~5e-5 · max|ref|. Measured float32
//     error: ~1.1e-6 (decoded), ~8e-7 (mean, logvar), so 1e-5 has ~9x margin and catches eps.
//   * the real SD VAE config with torch.randn-regenerated weights (test_sd_config_vs_diffusers,
//     skipped under SDLORA_TEST_QUICK): 3e-5 · max|ref| (deeper, longer sums); measured ~1.4e-6.
//   * sampling: eps bit-exact with torch.randn; latents within 1e-6 · max|ref| (std = exp(...)
//     may differ from torch's vectorised exp by an ulp; then two float roundings).
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "harness.h"
#include "io/safetensors.h"
#include "models/load.h"
#include "models/vae.h"

static char gdir[600];

static long long meta_int(const SafeTensors *st, const char *key) {
    const char *s = st_metadata_get(st, key);
    CHECKF(s != NULL, "golden metadata %s missing", key);
    return s ? atoll(s) : -1;
}

// ---- config ----

static const char *SD15_CONFIG = // runwayml/stable-diffusion-v1-5 vae/config.json
    "{\"_class_name\": \"AutoencoderKL\", \"_diffusers_version\": \"0.6.0\", \"act_fn\": \"silu\","
    " \"block_out_channels\": [128, 256, 512, 512],"
    " \"down_block_types\": [\"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"DownEncoderBlock2D\"],"
    " \"in_channels\": 3, \"latent_channels\": 4, \"layers_per_block\": 2, \"norm_num_groups\": 32,"
    " \"out_channels\": 3, \"sample_size\": 512,"
    " \"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]}";

static int config_eq(const VaeConfig *a, const VaeConfig *b) {
    if (a->n_levels != b->n_levels) return 0;
    for (int64_t i = 0; i < a->n_levels; i++)
        if (a->block_out_channels[i] != b->block_out_channels[i]) return 0;
    return a->in_channels == b->in_channels && a->out_channels == b->out_channels &&
           a->latent_channels == b->latent_channels && a->layers_per_block == b->layers_per_block &&
           a->norm_num_groups == b->norm_num_groups && a->norm_eps == b->norm_eps &&
           a->scaling_factor == b->scaling_factor && a->mid_block_add_attention == b->mid_block_add_attention &&
           a->use_quant_conv == b->use_quant_conv && a->use_post_quant_conv == b->use_post_quant_conv;
}

static SdlStatus parse(VaeConfig *c, const char *text) { return vae_config_parse(c, text, strlen(text), "config.json"); }

// SD15_CONFIG with `from` replaced by `to` (one occurrence), parsed.
static SdlStatus parse_edit(VaeConfig *c, const char *from, const char *to) {
    static char buf[4096];
    const char *p = strstr(SD15_CONFIG, from);
    SDL_ASSERT(p != NULL);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - SD15_CONFIG), SD15_CONFIG, to, p + strlen(from));
    return parse(c, buf);
}

// Encodes image and decodes latents at the current plan, comparing with the references at rtol
// (of max|ref|); outputs land in mean, logvar, out.
static void encode_decode_vs_golden(Vae *v, const char *label, const float *image, const float *latents,
                                    const float *mean_ref, const float *logvar_ref, const float *decoded_ref,
                                    float *mean, float *logvar, float *out, int64_t n_lat, int64_t n_img, double rtol) {
    char what[64];
    vae_encode(v, mean, logvar, image);
    snprintf(what, sizeof what, "%sencode mean", label);
    CHECK(check_close(what, mean, mean_ref, n_lat, 0, rtol));
    snprintf(what, sizeof what, "%sencode logvar", label);
    CHECK(check_close(what, logvar, logvar_ref, n_lat, 0, rtol));
    vae_decode(v, out, latents);
    snprintf(what, sizeof what, "%sdecode", label);
    CHECK(check_close(what, out, decoded_ref, n_img, 0, rtol));
    if (getenv("SDLORA_GOLDEN_VERBOSE"))
        fprintf(stderr, "  %smax err / max|ref|: mean %.3g logvar %.3g decoded %.3g\n", label,
                max_abs_diff(mean, mean_ref, n_lat) / max_abs(mean_ref, n_lat),
                max_abs_diff(logvar, logvar_ref, n_lat) / max_abs(logvar_ref, n_lat),
                max_abs_diff(out, decoded_ref, n_img) / max_abs(decoded_ref, n_img));
}

static void test_config_sd(void) {
    VaeConfig c, sd = vae_config_sd(), xl = vae_config_sdxl();
    CHECK(parse(&c, SD15_CONFIG) == SDL_OK);
    CHECK(config_eq(&c, &sd));
    CHECK(c.scaling_factor == 0.18215f && c.norm_eps == 1e-6f && vae_downsample_factor(&c) == 8);
    // SDXL's file states its scaling factor (and force_upcast, which is ignored).
    CHECK(parse_edit(&c, "\"sample_size\": 512", "\"sample_size\": 1024, \"scaling_factor\": 0.13025, \"force_upcast\": true") == SDL_OK);
    CHECK(config_eq(&c, &xl));
    CHECK(parse_edit(&c, "\"act_fn\": \"silu\"", "\"mid_block_add_attention\": false, \"use_quant_conv\": false") == SDL_OK);
    CHECK(c.mid_block_add_attention == 0 && c.use_quant_conv == 0 && c.use_post_quant_conv == 1);
    // Absent keys take diffusers' defaults: one level of 64 channels.
    CHECK(parse(&c, "{}") == SDL_OK);
    CHECK(c.n_levels == 1 && c.block_out_channels[0] == 64 && c.layers_per_block == 1 && c.norm_num_groups == 32);
}

static void test_config_errors(void) {
    VaeConfig c = vae_config_tiny(), keep = c;
    CHECK(parse_edit(&c, "\"DownEncoderBlock2D\", \"DownEncoderBlock2D\"]", "\"DownEncoderBlock2D\", \"AttnDownEncoderBlock2D\"]") ==
          SDL_ERR_UNSUPPORTED);
    CHECK(strstr(sdl_last_error()->reason, "AttnDownEncoderBlock2D") != NULL);
    CHECK(strcmp(sdl_last_error()->file, "config.json") == 0);
    CHECK(parse_edit(&c, "\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]", "\"UpDecoderBlock2D\", \"AttnUpDecoderBlock2D\"]") ==
          SDL_ERR_UNSUPPORTED);
    CHECK(parse_edit(&c, "\"silu\"", "\"relu\"") == SDL_ERR_UNSUPPORTED);
    CHECK(parse_edit(&c, "\"sample_size\": 512", "\"shift_factor\": 0.1159") == SDL_ERR_UNSUPPORTED);
    CHECK(parse_edit(&c, "[128, 256, 512, 512]", "[128, 256, 512]") == SDL_ERR_FORMAT);   // 3 levels, 4 block types
    CHECK(parse_edit(&c, "[128, 256, 512, 512]", "[128, 256, 500, 512]") == SDL_ERR_FORMAT); // 500 % 32
    CHECK(strstr(sdl_last_error()->reason, "norm_num_groups") != NULL);
    CHECK(parse_edit(&c, "\"layers_per_block\": 2", "\"layers_per_block\": 2.5") == SDL_ERR_FORMAT);
    CHECK(parse(&c, "[1, 2]") == SDL_ERR_FORMAT);
    CHECK(parse(&c, "{\"in_channels\": 3,") == SDL_ERR_FORMAT);
    CHECK(config_eq(&c, &keep)); // failures leave *cfg untouched
    CHECK(vae_config_load(&c, "/nonexistent/vae/config.json") == SDL_ERR_IO);
    sdl_error_clear();
}

// The real SD VAE's table: 248 tensors and 83,653,863 parameters, as diffusers builds it.
static void test_sd_table(void) {
    char p[600];
    SafeTensors g;
    if (st_open(&g, golden_path(p, sizeof p, "models/tiny-vae-golden.safetensors")) != SDL_OK) {
        CHECKF(0, "golden %s missing (run from the repo root or set SDLORA_GOLDEN_DIR)", p);
        return;
    }
    Vae v;
    VaeConfig c = vae_config_sd();
    CHECK(vae_init(&v, &c) == SDL_OK);
    int64_t numel = 0;
    for (int64_t i = 0; i < v.params.n; i++) numel += v.params.entries[i].numel;
    CHECKF(v.params.n == meta_int(&g, "sd_n_tensors"), "%lld tensors", (long long)v.params.n);
    CHECKF(numel == meta_int(&g, "sd_n_params"), "%lld params", (long long)numel);
    CHECK(param_find(&v.params, "decoder.up_blocks.3.resnets.0.conv_shortcut.weight") != NULL);
    CHECK(param_find(&v.params, "encoder.down_blocks.3.downsamplers.0.conv.weight") == NULL);
    CHECK(param_find(&v.params, "decoder.up_blocks.2.upsamplers.0.conv.bias") != NULL);
    CHECK(param_find(&v.params, "encoder.mid_block.attentions.0.to_out.0.weight")->shape[0] == 512);
    // Image sizes must be multiples of 8 for the SD VAE.
    CHECK(vae_plan(&v, 1, 504, 500, VAE_ENCODE) == SDL_ERR_ARG);
    CHECK(strstr(sdl_last_error()->reason, "factor 8") != NULL);
    CHECK(vae_plan(&v, 0, 512, 512, VAE_DECODE) == SDL_ERR_ARG);
    sdl_error_clear();
    vae_free(&v);
    st_close(&g);
}

// ---- tiny model against diffusers ----

static int load_tiny(Vae *v) {
    char p[700];
    VaeConfig c, tiny = vae_config_tiny();
    golden_path(gdir, sizeof gdir, "models/tiny-vae");
    snprintf(p, sizeof p, "%s/config.json", gdir);
    if (vae_config_load(&c, p) != SDL_OK) {
        CHECKF(0, "%s unreadable (run from the repo root or set SDLORA_GOLDEN_DIR)", p);
        return 0;
    }
    CHECK(config_eq(&c, &tiny));
    CHECK(vae_downsample_factor(&c) == 2);
    CHECK(vae_init(v, &c) == SDL_OK);
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", gdir);
    SafeTensors st;
    CHECK(st_open(&st, p) == SDL_OK);
    LoadReport rep;
    SdlStatus s = param_table_load(&v->params, &st, "", NULL, NULL, "VAE", &rep);
    CHECK(s == SDL_OK);
    CHECK(rep.loaded == v->params.n && rep.unknown == 0 && st.n_tensors == v->params.n);
    st_close(&st);
    return s == SDL_OK;
}

static void test_tiny_vs_diffusers(void) {
    char p[600];
    SafeTensors g;
    if (st_open(&g, golden_path(p, sizeof p, "models/tiny-vae-golden.safetensors")) != SDL_OK) {
        CHECKF(0, "golden %s missing", p);
        return;
    }
    Vae v;
    if (!load_tiny(&v)) {
        st_close(&g);
        return;
    }
    int64_t n_img, n_lat;
    float *image = golden_tensor(&g, "image", &n_img), *mean_ref = golden_tensor(&g, "mean", &n_lat);
    float *logvar_ref = golden_tensor(&g, "logvar", NULL), *latents = golden_tensor(&g, "latents", NULL);
    float *decoded_ref = golden_tensor(&g, "decoded", NULL);
    CHECK(n_img == 2 * 3 * 32 * 24 && n_lat == 2 * 4 * 16 * 12);
    float *mean = alloc_floats(n_lat), *logvar = alloc_floats(n_lat), *out = alloc_floats(n_img);

    CHECK(vae_plan(&v, 2, 32, 24, VAE_ENCODE | VAE_DECODE) == SDL_OK);
    CHECK(vae_plan(&v, 2, 31, 24, VAE_ENCODE) == SDL_ERR_ARG); // 31 is odd: factor 2
    CHECK(strstr(sdl_last_error()->reason, "factor 2") != NULL);
    sdl_error_clear();
    CHECK(vae_plan(&v, 2, 32, 24, VAE_ENCODE | VAE_DECODE) == SDL_OK);
    encode_decode_vs_golden(&v, "", image, latents, mean_ref, logvar_ref, decoded_ref, mean, logvar, out, n_lat, n_img, 1e-5);

    // A plan for one image gives the first image's results (batch indexing, no stale state).
    // Batch size changes BLAS blocking and reduction order, so float32 results differ at the
    // 1e-6 level (measured 9e-7 with OpenMP, 1.0e-6 without); an indexing error is O(1). Bound: 1e-5.
    const double batch_rtol = 1e-5;
    CHECK(vae_plan(&v, 1, 32, 24, VAE_DECODE) == SDL_OK);
    float *out1 = alloc_floats(n_img / 2);
    vae_decode(&v, out1, latents);
    CHECK(max_abs_diff(out1, out, n_img / 2) <= batch_rtol * max_abs(out, n_img / 2));
    CHECK(vae_plan(&v, 1, 32, 24, VAE_ENCODE) == SDL_OK);
    float *m1 = alloc_floats(n_lat / 2), *l1 = alloc_floats(n_lat / 2);
    vae_encode(&v, m1, l1, image);
    CHECK(max_abs_diff(m1, mean, n_lat / 2) <= batch_rtol * max_abs(mean, n_lat / 2));
    CHECK(max_abs_diff(l1, logvar, n_lat / 2) <= batch_rtol * max_abs(logvar, n_lat / 2));

    free(m1), free(l1), free(out1);
    free(image), free(mean_ref), free(logvar_ref), free(latents), free(decoded_ref);
    free(mean), free(logvar), free(out);
    vae_free(&v);
    st_close(&g);
}

// Fills the SD VAE's weights as tools/oracle/make_vae_goldens.py sd_random_weights does:
// tensor i in name order gets torch.manual_seed(i), torch.randn(numel), then GroupNorm weights
// 1 + 0.1·x, biases 0.1·x, other weights x · (1/sqrt(fan_in)), in float32 like torch.
static int cmp_entry_name(const void *a, const void *b) {
    return strcmp((*(const ParamEntry *const *)a)->name, (*(const ParamEntry *const *)b)->name);
}

static void fill_sd_random(Vae *v) {
    const ParamEntry **e = malloc((size_t)v->params.n * sizeof *e);
    SDL_ASSERT(e != NULL);
    for (int64_t i = 0; i < v->params.n; i++) e[i] = &v->params.entries[i];
    qsort(e, (size_t)v->params.n, sizeof *e, cmp_entry_name);
    Rng r;
    for (int64_t i = 0; i < v->params.n; i++) {
        float *w = *e[i]->dst;
        const int64_t n = e[i]->numel;
        size_t len = strlen(e[i]->name);
        int is_bias = len > 5 && strcmp(e[i]->name + len - 5, ".bias") == 0;
        int is_norm_w = !is_bias && strstr(e[i]->name, "norm") != NULL;
        rng_seed(&r, (uint64_t)i);
        rng_randn_fill(&r, w, (size_t)n);
        const float s = is_norm_w || is_bias ? 0.1f : (float)(1.0 / sqrt((double)(n / e[i]->shape[0])));
        for (int64_t k = 0; k < n; k++) w[k] = is_norm_w ? w[k] * s + 1.0f : w[k] * s;
    }
    free(e);
}

// The real SD VAE config (4 levels, layers_per_block 2, 32 groups, 512-channel attention) on
// a (1, 3, 64, 48) image, against diffusers in float64. Tolerance 3e-5 · max|ref|, set before
// measuring: sums of up to 4608 products (vs 288 in the tiny model) over ~3x the depth.
static void test_sd_config_vs_diffusers(void) {
    if (test_quick()) return; // 335 MB of weights and ~40 GFLOP: skipped under SDLORA_TEST_QUICK
    char p[600];
    SafeTensors g;
    if (st_open(&g, golden_path(p, sizeof p, "models/tiny-vae-golden.safetensors")) != SDL_OK) {
        CHECKF(0, "golden %s missing", p);
        return;
    }
    Vae v;
    VaeConfig c = vae_config_sd();
    CHECK(vae_init(&v, &c) == SDL_OK);
    fill_sd_random(&v);
    int64_t n_img, n_lat;
    float *image = golden_tensor(&g, "sd_image", &n_img), *mean_ref = golden_tensor(&g, "sd_mean", &n_lat);
    float *logvar_ref = golden_tensor(&g, "sd_logvar", NULL), *latents = golden_tensor(&g, "sd_latents", NULL);
    float *decoded_ref = golden_tensor(&g, "sd_decoded", NULL);
    CHECK(n_img == 3 * 64 * 48 && n_lat == 4 * 8 * 6);
    float *mean = alloc_floats(n_lat), *logvar = alloc_floats(n_lat), *out = alloc_floats(n_img);
    CHECK(vae_plan(&v, 1, 64, 48, VAE_ENCODE | VAE_DECODE) == SDL_OK);
    encode_decode_vs_golden(&v, "SD ", image, latents, mean_ref, logvar_ref, decoded_ref, mean, logvar, out, n_lat, n_img, 3e-5);
    free(image), free(mean_ref), free(logvar_ref), free(latents), free(decoded_ref);
    free(mean), free(logvar), free(out);
    vae_free(&v);
    st_close(&g);
}

// logvar is clamped to [-30, 20]: push the quant_conv bias of the logvar channels far out.
static void test_logvar_clamp(void) {
    Vae v;
    if (!load_tiny(&v)) return;
    const int64_t L = v.cfg.latent_channels, n_img = 1 * 3 * 8 * 6, n_lat = L * 4 * 3;
    float *image = alloc_randn(n_img, 0.5f, 3), *mean = alloc_floats(n_lat), *logvar = alloc_floats(n_lat);
    CHECK(vae_plan(&v, 1, 8, 6, VAE_ENCODE) == SDL_OK);
    for (int sign = -1; sign <= 1; sign += 2) {
        for (int64_t c = 0; c < L; c++) v.quant_conv.b[L + c] = (float)sign * 1000.0f;
        vae_encode(&v, mean, logvar, image);
        int ok = 1;
        for (int64_t i = 0; i < n_lat; i++) ok &= logvar[i] == (sign > 0 ? 20.0f : -30.0f) && isfinite(mean[i]);
        CHECKF(ok, "logvar not clamped to %s", sign > 0 ? "20" : "-30");
    }
    free(image), free(mean), free(logvar);
    vae_free(&v);
}

static void test_sampling(void) {
    char p[600];
    SafeTensors g;
    if (st_open(&g, golden_path(p, sizeof p, "models/tiny-vae-golden.safetensors")) != SDL_OK) {
        CHECKF(0, "golden %s missing", p);
        return;
    }
    int64_t n;
    float *mean = golden_tensor(&g, "mean", &n), *logvar = golden_tensor(&g, "logvar", NULL);
    float *eps_ref = golden_tensor(&g, "sample_eps", NULL), *sample_ref = golden_tensor(&g, "sample", NULL);
    float *scaled_ref = golden_tensor(&g, "sample_scaled", NULL);
    uint64_t seed = (uint64_t)meta_int(&g, "sample_seed");
    const float scaling = (float)atof(st_metadata_get(&g, "scaling_factor"));
    CHECK(scaling == vae_config_tiny().scaling_factor);
    float *x = alloc_floats(n);
    Rng r;
    rng_seed(&r, seed);
    rng_randn_fill(&r, x, (size_t)n);
    CHECK(memcmp(x, eps_ref, (size_t)n * sizeof(float)) == 0); // the noise diffusers drew, bit for bit
    rng_seed(&r, seed);
    vae_sample_latents(x, mean, logvar, n, &r, 1.0f);
    CHECK(check_close("sample", x, sample_ref, n, 0, 1e-6));
    rng_seed(&r, seed);
    vae_sample_latents(x, mean, logvar, n, &r, scaling);
    CHECK(check_close("sample * scaling", x, scaled_ref, n, 0, 1e-6));
    // Unscaling for the decoder undoes it (to rounding).
    vae_unscale_latents(x, x, n, scaling);
    CHECK(check_close("unscaled", x, sample_ref, n, 0, 1e-6));
    // The clamp: logvar outside [-30, 20] is clamped by vae_encode, so a huge logvar never
    // reaches exp here; a NaN-free draw for the clamped extremes.
    float m0[2] = {0, 0}, lv[2] = {20.0f, -30.0f}, y[2];
    rng_seed(&r, 1);
    vae_sample_latents(y, m0, lv, 2, &r, 1.0f);
    CHECK(isfinite(y[0]) && isfinite(y[1]));
    free(mean), free(logvar), free(eps_ref), free(sample_ref), free(scaled_ref), free(x);
    st_close(&g);
}

int main(void) {
    log_set_level(LOG_WARN);
    RUN(test_config_sd);
    RUN(test_config_errors);
    RUN(test_sd_table);
    RUN(test_tiny_vs_diffusers);
    RUN(test_logvar_clamp);
    RUN(test_sd_config_vs_diffusers);
    RUN(test_sampling);
    return test_finish();
}
