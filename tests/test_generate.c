// test_generate.c — the pieces of `sdlora generate` that need no full model:
//   - lora/lora_apply: kohya LoRA and LoCon files (tests/golden/lora, written by
//     tools/oracle/make_lora_goldens.py, not by sdlora) merged at 0.7 into the tiny UNet and
//     CLIP give the float64 merged reference outputs; restore gives back the exact base
//     weights; fp16 tensors, missing alpha (scale 1), unknown / LyCORIS-only modules (skipped),
//     shape mismatches (error, nothing changed), te/unet multipliers; the addnet hash
//   - sample/vae_tiled: tiled decode of the tiny VAE against the whole decode (PSNR bound),
//     the AUTO decision, the memory estimate
//   - sample/pipeline: <lora:…> tag parsing, A1111 infotext layout and quoting, sampler names
// The full pipeline against diffusers is tests/check_generate.sh (it needs `sdlora init-model`).
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "fixtures.h"
#include "base/half.h"
#include "base/log.h"
#include "lora/lora_apply.h"
#include "lora/sha256.h"
#include "models/load.h"
#include "sample/pipeline.h"
#include "sample/vae_tiled.h"


// eps (2, 4, 16, 12) of the tiny UNet on the golden inputs.
static void run_unet(Unet *u, const SafeTensors *g, float *eps) {
    float *lat = golden_tensor(g, "latents", NULL), *ts = golden_tensor(g, "timesteps", NULL),
          *ctx = golden_tensor(g, "context", NULL);
    SDL_ASSERT(unet_plan(u, 2, 16, 12, 77) == SDL_OK);
    unet_forward(u, eps, lat, ts, ctx);
    free(lat), free(ts), free(ctx);
}

// ---- lora_apply -------------------------------------------------------------------------------

static void test_lora_merge_matches_reference(void) {
    char p[600];
    Unet u;
    ClipText te;
    fixture_load_tiny_unet(&u);
    fixture_load_tiny_te(&te);
    SafeTensors g;
    SDL_ASSERT(st_open(&g, golden_path(p, sizeof p, "lora/tiny_lora_golden.safetensors")) == SDL_OK);
    int64_t n_eps, n_h, n_ids;
    float *eps_lora = golden_tensor(&g, "eps_lora", &n_eps), *eps_locon = golden_tensor(&g, "eps_locon", NULL);
    float *eps_base = golden_tensor(&g, "eps_base", NULL), *h_lora = golden_tensor(&g, "hidden_lora", &n_h);
    float *h_base = golden_tensor(&g, "hidden_base", NULL), *idf = golden_tensor(&g, "ids", &n_ids);
    int32_t ids[64];
    for (int64_t i = 0; i < n_ids; i++) ids[i] = (int32_t)idf[i];
    float *eps = alloc_floats(n_eps), *hid = alloc_floats(n_h);
    // a copy of every base weight, to check that restore is exact
    float *ub = alloc_floats((int64_t)u.params.total_floats), *tb = alloc_floats((int64_t)te.params.total_floats);
    memcpy(ub, u.params.storage, u.params.total_floats * sizeof(float));
    memcpy(tb, te.params.storage, te.params.total_floats * sizeof(float));

    LoraMerge m = {0};
    LoraApplyReport rep;
    SdlStatus s = lora_apply_file(&m, &u, &te, golden_path(p, sizeof p, "lora/tiny_lora.safetensors"), 0.7f, 0.7f, &rep);
    CHECK(s == SDL_OK);
    CHECKF(rep.te_modules == 18 && rep.unet_modules == 72 && rep.skipped_unknown == 0 && rep.alpha_missing == 0,
           "te %lld unet %lld unknown %lld", (long long)rep.te_modules, (long long)rep.unet_modules, (long long)rep.skipped_unknown);
    run_unet(&u, &g, eps);
    // merged in fp32 vs merged in float64: the same 1e-4 of max|ref| test_lora_network uses
    CHECK(check_close("eps_lora (merged)", eps, eps_lora, n_eps, 0, 1e-4));
    CHECK(max_abs_diff(eps_lora, eps_base, n_eps) > 0.1);
    clip_text_plan(&te, 2, 16, false);
    CHECK(clip_text_forward(&te, hid, ids, 1) == SDL_OK);
    CHECK(check_close("hidden_lora (merged)", hid, h_lora, n_h, 0, 1e-4));

    // restore: bit-exact base weights and outputs
    lora_merge_restore(&m);
    CHECK(memcmp(ub, u.params.storage, u.params.total_floats * sizeof(float)) == 0);
    CHECK(memcmp(tb, te.params.storage, te.params.total_floats * sizeof(float)) == 0);
    CHECK(clip_text_forward(&te, hid, ids, 1) == SDL_OK);
    CHECK(check_close("hidden_base (restored)", hid, h_base, n_h, 0, 1e-4));

    // LoCon (3x3 convs of the resnets, 1x1 shortcut, time_emb_proj), UNet only: te = NULL
    s = lora_apply_file(&m, &u, NULL, golden_path(p, sizeof p, "lora/tiny_locon.safetensors"), 0.0f, 0.7f, &rep);
    CHECK(s == SDL_OK && rep.unet_modules == 117 && rep.te_modules == 0);
    run_unet(&u, &g, eps);
    CHECK(check_close("eps_locon (merged)", eps, eps_locon, n_eps, 0, 1e-4));
    lora_merge_restore(&m);
    run_unet(&u, &g, eps);
    CHECK(check_close("eps_base (restored)", eps, eps_base, n_eps, 0, 1e-4));
    CHECK(memcmp(ub, u.params.storage, u.params.total_floats * sizeof(float)) == 0);

    // two LoRAs on the same weights, then one restore: still exact
    CHECK(lora_apply_file(&m, &u, &te, golden_path(p, sizeof p, "lora/tiny_lora.safetensors"), 0.3f, -0.5f, NULL) == SDL_OK);
    CHECK(lora_apply_file(&m, &u, &te, golden_path(p, sizeof p, "lora/tiny_locon.safetensors"), 1.0f, 1.0f, NULL) == SDL_OK);
    CHECK(memcmp(ub, u.params.storage, u.params.total_floats * sizeof(float)) != 0);
    lora_merge_restore(&m);
    CHECK(memcmp(ub, u.params.storage, u.params.total_floats * sizeof(float)) == 0);
    CHECK(memcmp(tb, te.params.storage, te.params.total_floats * sizeof(float)) == 0);

    lora_merge_free(&m);
    free(eps_lora), free(eps_locon), free(eps_base), free(h_lora), free(h_base), free(idf), free(eps), free(hid), free(ub), free(tb);
    st_close(&g);
    unet_free(&u);
    clip_text_free(&te);
}

// A LoRA written here in memory: fp16 down/up, one module with alpha, one without, an unknown
// module, a LoHa module, a stray key.
static void test_lora_dtypes_alpha_and_skips(void) {
    ClipText te;
    fixture_load_tiny_te(&te);
    const char *q = "text_model.encoder.layers.0.self_attn.q_proj.weight", *fc = "text_model.encoder.layers.1.mlp.fc1.weight";
    const ParamEntry *eq = param_find(&te.params, q), *ef = param_find(&te.params, fc);
    SDL_ASSERT(eq && ef);
    const int64_t r = 3, D = eq->shape[1], I = ef->shape[0];
    float *w_q = te.params.storage + eq->offset, *w_fc = te.params.storage + ef->offset;
    float *q0 = alloc_floats(eq->numel), *fc0 = alloc_floats(ef->numel);
    memcpy(q0, w_q, (size_t)eq->numel * sizeof(float));
    memcpy(fc0, w_fc, (size_t)ef->numel * sizeof(float));

    // q: down (r, D), up (D, r), alpha 1.5 (bf16); fc1: down (r, D), up (I, r), no alpha
    float *dq = alloc_randn(r * D, 0.3f, 1), *uq = alloc_randn(D * r, 0.3f, 2), *df = alloc_randn(r * D, 0.3f, 3),
          *uf = alloc_randn(I * r, 0.3f, 4);
    uint16_t *hdq = malloc((size_t)(r * D) * 2), *huq = malloc((size_t)(D * r) * 2), *hdf = malloc((size_t)(r * D) * 2),
             *huf = malloc((size_t)(I * r) * 2), alpha_bf = fp32_to_bf16(1.5f);
    fp32_to_fp16_array(hdq, dq, (size_t)(r * D)), fp32_to_fp16_array(huq, uq, (size_t)(D * r));
    fp32_to_fp16_array(hdf, df, (size_t)(r * D)), fp32_to_fp16_array(huf, uf, (size_t)(I * r));
    fp16_to_fp32_array(dq, hdq, (size_t)(r * D)), fp16_to_fp32_array(uq, huq, (size_t)(D * r)); // the values the file holds
    fp16_to_fp32_array(df, hdf, (size_t)(r * D)), fp16_to_fp32_array(uf, huf, (size_t)(I * r));
    StWriter *w = st_writer_new();
    int64_t s_d[2] = {r, D}, s_uq[2] = {D, r}, s_uf[2] = {I, r}, s_k[4] = {r, D, 1, 1}, s_1[1] = {1};
    st_writer_add(w, "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", ST_F16, 2, s_d, hdq);
    st_writer_add(w, "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight", ST_F16, 2, s_uq, huq);
    st_writer_add(w, "lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha", ST_BF16, 0, NULL, &alpha_bf);
    // fc1's down as a (r, in, 1, 1) conv-shaped tensor: the same weights (trailing 1s)
    st_writer_add(w, "lora_te_text_model_encoder_layers_1_mlp_fc1.lora_down.weight", ST_F16, 4, s_k, hdf);
    st_writer_add(w, "lora_te_text_model_encoder_layers_1_mlp_fc1.lora_up.weight", ST_F16, 2, s_uf, huf);
    st_writer_add(w, "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", ST_F16, 2, s_d, hdf);
    st_writer_add(w, "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", ST_F16, 2, s_uf, huf);
    st_writer_add(w, "lora_te_text_model_encoder_layers_0_mlp_fc2.hada_w1_a", ST_F16, 2, s_d, hdf);
    float one = 1;
    st_writer_add(w, "some_stray_key", ST_F32, 1, s_1, &one);
    void *buf;
    size_t size;
    SDL_ASSERT(st_writer_to_memory(w, &buf, &size) == SDL_OK);
    st_writer_free(w);
    SafeTensors st;
    SDL_ASSERT(st_open_memory(&st, buf, size, "mem.safetensors") == SDL_OK);

    LoraMerge m = {0};
    LoraApplyReport rep;
    LogLevel lv = log_get_level();
    log_set_level(LOG_ERROR); // the warnings are expected
    SdlStatus s = lora_apply(&m, NULL, &te, &st, 0.8f, 5.0f, &rep);
    log_set_level(lv);
    CHECK(s == SDL_OK);
    CHECKF(rep.te_modules == 2 && rep.unet_modules == 0 && rep.skipped_unknown == 1 && rep.skipped_unsupported == 1 &&
               rep.alpha_missing == 1 && rep.unknown_keys == 1,
           "te %lld unknown %lld unsupported %lld alpha_missing %lld stray %lld", (long long)rep.te_modules,
           (long long)rep.skipped_unknown, (long long)rep.skipped_unsupported, (long long)rep.alpha_missing,
           (long long)rep.unknown_keys);
    // expected: W0 + 0.8 · (1.5/3) · up@down for q, W0 + 0.8 · 1 · up@down for fc1 (te multiplier)
    double err_q = 0, err_f = 0, dmax = 0;
    for (int64_t o = 0; o < D; o++)
        for (int64_t i = 0; i < D; i++) {
            double d = 0;
            for (int64_t k = 0; k < r; k++) d += (double)uq[o * r + k] * dq[k * D + i];
            double want = q0[o * D + i] + 0.8 * 0.5 * d;
            err_q = fmax(err_q, fabs(w_q[o * D + i] - want));
            dmax = fmax(dmax, fabs(0.4 * d));
        }
    for (int64_t o = 0; o < I; o++)
        for (int64_t i = 0; i < D; i++) {
            double d = 0;
            for (int64_t k = 0; k < r; k++) d += (double)uf[o * r + k] * df[k * D + i];
            err_f = fmax(err_f, fabs(w_fc[o * D + i] - (fc0[o * D + i] + 0.8 * d)));
        }
    CHECKF(err_q < 1e-6 && err_f < 1e-6 && dmax > 0.01, "q err %g, fc1 err %g, |dW| %g", err_q, err_f, dmax);
    lora_merge_restore(&m);
    CHECK(memcmp(w_q, q0, (size_t)eq->numel * sizeof(float)) == 0);

    // a module whose shapes contradict the model: an error naming the key, no weight changed
    StWriter *w2 = st_writer_new();
    int64_t s_bad[2] = {r, D + 1};
    float *bad = alloc_floats(r * (D + 1));
    st_writer_add_f32(w2, "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", 2, s_d, dq);
    st_writer_add_f32(w2, "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight", 2, s_uq, uq);
    st_writer_add_f32(w2, "lora_te_text_model_encoder_layers_0_self_attn_v_proj.lora_down.weight", 2, s_bad, bad);
    st_writer_add_f32(w2, "lora_te_text_model_encoder_layers_0_self_attn_v_proj.lora_up.weight", 2, s_uq, uq);
    void *buf2;
    size_t size2;
    SDL_ASSERT(st_writer_to_memory(w2, &buf2, &size2) == SDL_OK);
    st_writer_free(w2);
    SafeTensors st2;
    SDL_ASSERT(st_open_memory(&st2, buf2, size2, "bad.safetensors") == SDL_OK);
    s = lora_apply(&m, NULL, &te, &st2, 1.0f, 1.0f, NULL);
    CHECK(s == SDL_ERR_SHAPE);
    CHECK(strstr(sdl_last_error()->reason, "v_proj") != NULL && strcmp(sdl_last_error()->file, "bad.safetensors") == 0);
    CHECK(memcmp(w_q, q0, (size_t)eq->numel * sizeof(float)) == 0 && m.n == 0);

    // a missing file names the path and the options
    s = lora_apply_file(&m, NULL, &te, "/nonexistent/x.safetensors", 1, 1, NULL);
    CHECK(s == SDL_ERR_IO && strstr(sdl_last_error()->hint, "--lora") != NULL);

    lora_merge_free(&m);
    st_close(&st), st_close(&st2);
    free(buf), free(buf2), free(bad);
    free(q0), free(fc0), free(dq), free(uq), free(df), free(uf), free(hdq), free(huq), free(hdf), free(huf);
    clip_text_free(&te);
}

static void test_addnet_hash(void) {
    // sha256 of the bytes after the header, computed here from the file the long way
    char p[600], hex[65], want[65];
    golden_path(p, sizeof p, "lora/tiny_lora.safetensors");
    CHECK(lora_file_addnet_hash(p, hex) == SDL_OK);
    FILE *f = fopen(p, "rb");
    SDL_ASSERT(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    SDL_ASSERT(fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)b[i] << (8 * i);
    sha256_hex(b + 8 + hl, (size_t)n - 8 - hl, want);
    CHECK(strcmp(hex, want) == 0);
    // and the value Python's hashlib gives (tools/oracle/make_generate_goldens.py)
    SafeTensors g;
    if (st_open(&g, golden_path(p, sizeof p, "generate/generate_golden.safetensors")) == SDL_OK) {
        const char *py = st_metadata_get(&g, "addnet_hash.tiny_lora");
        CHECKF(py && strcmp(py, hex) == 0, "%s vs python %s", hex, py ? py : "(missing)");
        st_close(&g);
    } else {
        CHECKF(0, "generate/generate_golden.safetensors missing");
    }
    free(b);
}

// ---- tiled VAE --------------------------------------------------------------------------------

static int load_tiny_vae(Vae *v) {
    char p[700], d[600];
    golden_path(d, sizeof d, "models/tiny-vae");
    VaeConfig c;
    snprintf(p, sizeof p, "%s/config.json", d);
    if (vae_config_load(&c, p) != SDL_OK) return 0;
    SDL_ASSERT(vae_init(v, &c) == SDL_OK);
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", d);
    SafeTensors st;
    SDL_ASSERT(st_open(&st, p) == SDL_OK);
    SdlStatus s = param_table_load(&v->params, &st, "", NULL, NULL, "VAE", NULL);
    st_close(&st);
    return s == SDL_OK;
}

// PSNR of two images in [-1, 1] after mapping to [0, 1] and clamping, as pixels are compared.
static double psnr01(const float *a, const float *b, int64_t n) {
    double se = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = fmin(fmax((a[i] + 1) / 2, 0), 1), y = fmin(fmax((b[i] + 1) / 2, 0), 1);
        se += (x - y) * (x - y);
    }
    return se == 0 ? INFINITY : 10 * log10((double)n / se);
}

static void test_vae_tiled(void) {
    Vae v;
    if (!load_tiny_vae(&v)) { CHECKF(0, "tests/golden/models/tiny-vae unreadable"); return; }
    // latents (1, 4, 48, 40) ~ N(0, 1); image 96 x 80 px. (Content that varies on scales larger
    // than a tile shifts the per-tile GroupNorm statistics more: see sample/vae_tiled.h.)
    const int64_t h = 48, w = 40, L = 4, f = 2, N = 3 * h * f * w * f;
    float *z = alloc_randn(L * h * w, 1.0f, 11);
    float *whole = alloc_floats(N), *tiled = alloc_floats(N), *rough = alloc_floats(N);
    VaeTiling off = {VAE_TILING_OFF, 0, 0, 0};
    int used = -1;
    CHECK(vae_decode_images(&v, whole, z, 1, h, w, &off, &used) == SDL_OK && used == 0);
    // 24-latent tiles overlapping by 8: 3 x 2 tiles, the last of each axis moved back
    VaeTiling on = {VAE_TILING_ON, 24, 8, 0};
    CHECK(vae_decode_images(&v, tiled, z, 1, h, w, &on, &used) == SDL_OK && used == 1);
    double p_tiled = psnr01(tiled, whole, N);
    // without overlap the seams show: the blend must do better than that
    CHECK(vae_decode_tiled(&v, rough, z, h, w, 24, 0) == SDL_OK);
    double p_rough = psnr01(rough, whole, N);
    fprintf(stderr, "  tiled VAE (tiny, 96x80 px, tiles 48 px, overlap 16 px): PSNR %.1f dB vs whole (no overlap: %.1f dB)\n",
            p_tiled, p_rough);
    // measured 34.0 dB (no overlap: 24.7 dB) with the tiny random VAE
    CHECKF(p_tiled >= 28.0, "tiled PSNR %.1f dB", p_tiled);
    CHECKF(p_tiled > p_rough + 3.0, "blending (%.1f dB) no better than hard seams (%.1f dB)", p_tiled, p_rough);
    // a tile covering the whole image is the whole decode, bit for bit
    CHECK(vae_decode_tiled(&v, rough, z, h, w, 64, 16) == SDL_OK);
    CHECK(memcmp(rough, whole, (size_t)N * sizeof(float)) == 0);

    // AUTO: tiles only when the whole decode would exceed the budget
    size_t need = vae_decode_bytes_estimate(&v, h * f, w * f);
    CHECK(vae_plan(&v, 1, h * f, w * f, VAE_DECODE) == SDL_OK);
    size_t real = vae_planned_bytes(&v);
    CHECKF(fabs((double)need - (double)real) <= 0.05 * (double)real, "estimate %zu vs plan %zu", need, real);
    VaeTiling a1 = {VAE_TILING_AUTO, 24, 8, real / 2}, a2 = {VAE_TILING_AUTO, 24, 8, real * 2};
    CHECK(vae_decode_images(&v, tiled, z, 1, h, w, &a1, &used) == SDL_OK && used == 1);
    CHECK(vae_decode_images(&v, rough, z, 1, h, w, &a2, &used) == SDL_OK && used == 0);
    CHECK(memcmp(rough, whole, (size_t)N * sizeof(float)) == 0);
    CHECK(vae_decode_tiled(&v, tiled, z, h, w, 8, 8) == SDL_ERR_ARG);
    free(z), free(whole), free(tiled), free(rough);
    vae_free(&v);
}

// ---- prompt tags, infotext, sampler names -------------------------------------------------------

static void test_prompt_tags(void) {
    GenPromptTags t;
    CHECK(gen_parse_prompt_tags("a <lora:foo:0.5> cat, <lora:my style v2:0.7:0.3> <hypernet:x:1><lora:q:te=0.2:unet=0.9> "
                                "<lora:plain> (x:1.2) <notatag> <:x> <lora:>",
                                &t) == SDL_OK);
    CHECKF(strcmp(t.prompt, "a  cat,    (x:1.2) <notatag> <:x> <lora:>") == 0, "'%s'", t.prompt);
    CHECK(t.n_loras == 4 && t.n_other == 1);
    if (t.n_loras == 4) {
        CHECK(strcmp(t.loras[0].name, "foo") == 0 && t.loras[0].te == 0.5f && t.loras[0].unet == 0.5f);
        CHECK(strcmp(t.loras[1].name, "my style v2") == 0 && t.loras[1].te == 0.7f && t.loras[1].unet == 0.3f);
        CHECK(strcmp(t.loras[2].name, "q") == 0 && t.loras[2].te == 0.2f && t.loras[2].unet == 0.9f);
        CHECK(strcmp(t.loras[3].name, "plain") == 0 && t.loras[3].te == 1.0f && t.loras[3].unet == 1.0f);
    }
    gen_prompt_tags_free(&t);
    CHECK(gen_parse_prompt_tags("x <lora:foo:abc> y", &t) == SDL_ERR_ARG);
    CHECK(strstr(sdl_last_error()->reason, "lora:foo:abc") != NULL);
    CHECK(gen_parse_prompt_tags("", &t) == SDL_OK && t.prompt[0] == 0 && t.n_loras == 0);
    gen_prompt_tags_free(&t);
}

static void test_infotext(void) {
    GenInfo in = {"a cat, (red:1.2) <lora:foo:0.7>", "blurry", 30, "Euler a", NULL, 7.5, 1, 512, 512,
                  "0123456789", "my model", NULL, NULL, 1, "foo: 0123456789ab", "sdlora 0.1.0"};
    char *s = gen_infotext(&in);
    const char *want = "a cat, (red:1.2) <lora:foo:0.7>\nNegative prompt: blurry\n"
                       "Steps: 30, Sampler: Euler a, CFG scale: 7.5, Seed: 1, Size: 512x512, Model hash: 0123456789, "
                       "Model: my model, Lora hashes: \"foo: 0123456789ab\", Version: sdlora 0.1.0";
    CHECKF(strcmp(s, want) == 0, "\n%s", s);
    free(s);
    // no negative prompt → no line; Karras; clip skip; CFG 7 → "7.0"; a model name with a comma is quoted
    GenInfo in2 = {"x", "", 20, "DPM++ 2M", "Karras", 7.0, 4294967295ull, 640, 512, NULL, "a,b \"c\"", "abcdef0123",
                   "vae.safetensors", 2, NULL, "sdlora 0.1.0"};
    s = gen_infotext(&in2);
    want = "x\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, Seed: 4294967295, Size: 640x512, "
           "Model: \"a,b \\\"c\\\"\", VAE hash: abcdef0123, VAE: vae.safetensors, Clip skip: 2, Version: sdlora 0.1.0";
    CHECKF(strcmp(s, want) == 0, "\n%s", s);
    free(s);
    char b[40];
    CHECK(strcmp(gen_format_float(b, sizeof b, 7.3f), "7.3") == 0);
    CHECK(strcmp(gen_format_float(b, sizeof b, 12.0f), "12.0") == 0);
    CHECK(strcmp(gen_format_float(b, sizeof b, 0.1f), "0.1") == 0);
}

static void test_sampler_names(void) {
    SamplerConfig c;
    CHECK(gen_sampler_config("Euler a", 0, &c) == SDL_OK && c.kind == SAMPLER_EULER_A && !c.use_karras_sigmas);
    CHECK(strcmp(gen_sampler_a1111_name(&c), "Euler a") == 0 && gen_sampler_is_ancestral(&c));
    CHECK(gen_sampler_config("dpm++ 2m karras", 0, &c) == SDL_OK && c.kind == SAMPLER_DPM_MULTI && c.use_karras_sigmas);
    CHECK(strcmp(gen_sampler_a1111_name(&c), "DPM++ 2M") == 0 && !gen_sampler_is_ancestral(&c));
    CHECK(gen_sampler_config("k_euler_a", 1, &c) == SDL_OK && c.kind == SAMPLER_EULER_A && c.prediction == PRED_V);
    CHECK(gen_sampler_config("dpmsolver++_karras", 0, &c) == SDL_OK && c.use_karras_sigmas);
    CHECK(gen_sampler_config("ddim", 0, &c) == SDL_OK && strcmp(gen_sampler_a1111_name(&c), "DDIM") == 0);
    CHECK(gen_sampler_config("pndm", 0, &c) == SDL_OK && strcmp(gen_sampler_a1111_name(&c), "PLMS") == 0);
    CHECK(gen_sampler_config("dpmsolver", 0, &c) == SDL_OK && strcmp(gen_sampler_a1111_name(&c), "DPM-Solver 2M") == 0);
    CHECK(gen_sampler_config("Euler a Karras", 0, &c) == SDL_ERR_ARG);
    CHECK(gen_sampler_config("unipc", 0, &c) == SDL_ERR_ARG && strstr(sdl_last_error()->hint, "euler_a"));
}

int main(void) {
    RUN(test_lora_merge_matches_reference);
    RUN(test_lora_dtypes_alpha_and_skips);
    RUN(test_addnet_hash);
    RUN(test_vae_tiled);
    RUN(test_prompt_tags);
    RUN(test_infotext);
    RUN(test_sampler_names);
    return test_finish();
}
