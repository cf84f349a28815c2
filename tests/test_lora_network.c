// test_lora_network.c — the LoRA network (src/lora/network.c) and kohya-format files
// (src/lora/lora_file.c) against goldens from tools/oracle/make_lora_goldens.py: module names
// and counts vs kohya's selection, UNet / text-encoder outputs with a kohya LoRA / LoCon at
// multiplier 0.7 vs diffusers/transformers with the weights merged in float64, save → load
// round trip, fp16/bf16 saves, kohya init (bit-exact draws for the text encoder), a gradient
// check through the UNet, load errors, dim_from_weights, sha256 vectors.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gradcheck.h"
#include "harness.h"
#include "fixtures.h"
#include "base/half.h"
#include "lora/lora_file.h"
#include "lora/network.h"
#include "lora/sha256.h"
#include "models/load.h"


// Checks that the network's module names are exactly the comma list `order` (the oracle's
// kohya selection, in kohya order for the text encoder).
static void check_names(const LoraNetwork *net, int te, const char *order) {
    char *list = strdup(order), *save = NULL;
    int64_t k = 0;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int64_t i = 0; i < net->n; i++)
            if (net->mods[i].is_te == te && strcmp(net->mods[i].name, tok) == 0) found = 1;
        CHECKF(found, "kohya module %s missing", tok);
        if (te && k < net->n) CHECKF(strcmp(net->mods[k].name, tok) == 0, "order: %s vs %s", net->mods[k].name, tok);
        k++;
    }
    CHECKF(k == (te ? net->n_te : net->n_unet), "%lld kohya modules, %lld in the network", (long long)k,
           (long long)(te ? net->n_te : net->n_unet));
    free(list);
}

typedef struct {
    Unet u;
    SafeTensors g;
    float *lat, *ts, *ctx, *eps;
    int64_t n_eps;
} UnetRun;

static void unet_run_init(UnetRun *r) {
    char p[600];
    fixture_load_tiny_unet(&r->u);
    SDL_ASSERT(st_open(&r->g, golden_path(p, sizeof p, "lora/tiny_lora_golden.safetensors")) == SDL_OK);
    r->lat = golden_tensor(&r->g, "latents", NULL);
    r->ts = golden_tensor(&r->g, "timesteps", NULL);
    r->ctx = golden_tensor(&r->g, "context", NULL);
    const StTensor *e = st_find(&r->g, "eps_base");
    r->n_eps = e->numel;
    r->eps = alloc_floats(r->n_eps);
}

static void unet_run_free(UnetRun *r) {
    unet_free(&r->u);
    st_close(&r->g);
    free(r->lat), free(r->ts), free(r->ctx), free(r->eps);
}

// unknown: tensors of the file no UNet module claims (the text-encoder half of tiny_lora).
static void unet_golden_case(const char *file, const char *ref_name, int64_t conv_dim, int64_t expect_mods, int64_t unknown) {
    UnetRun r;
    unet_run_init(&r);
    LoraNetworkConfig c = lora_network_config_default();
    c.network_dim = 4, c.network_alpha = 2, c.conv_dim = conv_dim, c.conv_alpha = 1, c.multiplier = 0.7f;
    LoraNetwork net;
    CHECK(lora_network_create(&net, &c, &r.u, NULL, NULL) == SDL_OK);
    CHECKF(net.n_unet == expect_mods, "%lld modules", (long long)net.n_unet);
    check_names(&net, 0, st_metadata_get(&r.g, conv_dim ? "locon_order" : "unet_order"));
    char p[600];
    LoraLoadReport rep;
    SdlStatus s = lora_load(&net, golden_path(p, sizeof p, file), &rep);
    if (s != SDL_OK) sdl_error_print(stderr);
    CHECK(s == SDL_OK);
    // every key of the file used: 3 per module (down, up, alpha)
    CHECK(rep.modules == expect_mods && rep.tensors_used == 3 * expect_mods && rep.unknown == unknown);
    lora_network_attach(&net);
    unet_unplan(&r.u);
    CHECK(unet_plan(&r.u, 2, 16, 12, 77) == SDL_OK);
    unet_forward(&r.u, r.eps, r.lat, r.ts, r.ctx);
    float *ref = golden_tensor(&r.g, ref_name, NULL), *base = golden_tensor(&r.g, "eps_base", NULL);
    // fp32 unmerged (base + scale·up(down x)) vs float64 merged reference; 1e-4 of max|ref|
    CHECK(check_close(ref_name, r.eps, ref, r.n_eps, 0, 1e-4));
    // the LoRA changes the output far beyond the tolerance (so the comparison means something)
    CHECK(max_abs_diff(ref, base, r.n_eps) > 0.1);
    lora_network_detach(&net);
    unet_unplan(&r.u);
    CHECK(unet_plan(&r.u, 2, 16, 12, 77) == SDL_OK);
    unet_forward(&r.u, r.eps, r.lat, r.ts, r.ctx);
    CHECK(check_close("eps_base (detached)", r.eps, base, r.n_eps, 0, 1e-4));
    free(ref), free(base);
    lora_network_free(&net);
    unet_run_free(&r);
}

static void test_unet_lora_golden(void) { unet_golden_case("lora/tiny_lora.safetensors", "eps_lora", 0, 72, 18 * 3); }
static void test_unet_locon_golden(void) { unet_golden_case("lora/tiny_locon.safetensors", "eps_locon", 2, 117, 0); }

static void test_te_lora_golden(void) {
    ClipText te;
    fixture_load_tiny_te(&te);
    char p[600];
    SafeTensors g;
    SDL_ASSERT(st_open(&g, golden_path(p, sizeof p, "lora/tiny_lora_golden.safetensors")) == SDL_OK);
    int64_t n_ids, n_h;
    float *idf = golden_tensor(&g, "ids", &n_ids), *ref = golden_tensor(&g, "hidden_lora", &n_h);
    int32_t ids[64];
    for (int64_t i = 0; i < n_ids; i++) ids[i] = (int32_t)idf[i];
    LoraNetworkConfig c = lora_network_config_default();
    c.network_dim = 4, c.network_alpha = 2, c.multiplier = 0.7f, c.train_unet = 0;
    LoraNetwork net;
    CHECK(lora_network_create(&net, &c, NULL, &te, NULL) == SDL_OK);
    CHECK(net.n_te == 18 && net.n_unet == 0);
    check_names(&net, 1, st_metadata_get(&g, "te_order"));
    LoraLoadReport rep;
    CHECK(lora_load(&net, golden_path(p, sizeof p, "lora/tiny_lora.safetensors"), &rep) == SDL_OK);
    CHECK(rep.modules == 18 && rep.unknown == 72 * 3); // the UNet half of the file is not this network's
    lora_network_attach(&net);
    clip_text_plan(&te, 2, 16, false);
    lora_network_plan_te(&net, 2, 16);
    float *hid = alloc_floats(n_h);
    CHECK(clip_text_forward(&te, hid, ids, 1) == SDL_OK);
    CHECK(check_close("hidden_lora", hid, ref, n_h, 0, 1e-4));
    float *base = golden_tensor(&g, "hidden_base", NULL);
    CHECK(max_abs_diff(ref, base, n_h) > 0.1);
    free(idf), free(ref), free(hid), free(base);
    lora_network_free(&net);
    clip_text_free(&te);
    st_close(&g);
}

// kohya init: U(-1/√fan_in, 1/√fan_in) for down, zero up; the draws bit-equal to torch's
// LoRAModule.__init__ sequence after torch.manual_seed(1234) (text encoder, kohya's order).
static void test_init(void) {
    ClipText te;
    fixture_load_tiny_te(&te);
    Unet u;
    fixture_load_tiny_unet(&u);
    LoraNetworkConfig c = lora_network_config_default();
    c.train_unet = 0;
    LoraNetwork net;
    CHECK(lora_network_create(&net, &c, NULL, &te, NULL) == SDL_OK);
    Rng rng;
    rng_seed(&rng, 1234);
    lora_network_init_weights(&net, &rng);
    char p[600];
    SafeTensors g;
    SDL_ASSERT(st_open(&g, golden_path(p, sizeof p, "lora/tiny_lora_golden.safetensors")) == SDL_OK);
    int64_t bad = 0;
    for (int64_t i = 0; i < net.n; i++) {
        char key[256];
        snprintf(key, sizeof key, "init.%s.lora_down.weight", net.mods[i].name);
        int64_t n;
        float *ref = golden_tensor(&g, key, &n);
        bad += memcmp(ref, net.mods[i].down, (size_t)n * 4) != 0;
        free(ref);
    }
    CHECKF(bad == 0, "%lld modules' down differ from torch's draws", (long long)bad);
    st_close(&g);
    lora_network_free(&net);

    // statistics with LoCon over the UNet: bounds, spread, up zero
    c = lora_network_config_default();
    c.conv_dim = 3;
    CHECK(lora_network_create(&net, &c, &u, &te, NULL) == SDL_OK);
    CHECK(net.n_te == 18 && net.n_unet == 117);
    lora_network_init_weights(&net, &rng);
    for (int64_t i = 0; i < net.n; i++) {
        LoraModule *m = &net.mods[i];
        int64_t fan = m->in * m->k * m->k, nd = m->rank * fan;
        double bound = 1.0 / sqrt((double)fan), mx = 0, sum2 = 0;
        for (int64_t j = 0; j < nd; j++) mx = fmax(mx, fabs(m->down[j])), sum2 += (double)m->down[j] * m->down[j];
        CHECKF(mx <= bound * (1 + 1e-6) && mx > 0.5 * bound, "%s max %g bound %g", m->name, mx, bound);
        // variance of U(-b, b) is b²/3; nd >= 16 samples: within a factor 2.5
        double var = sum2 / (double)nd;
        CHECKF(var > bound * bound / 3 / 2.5 && var < bound * bound / 3 * 2.5, "%s var %g", m->name, var);
        CHECK(max_abs(m->up, m->out * m->rank) == 0);
        if (m->k == 3) CHECK(m->rank == 3 && m->alpha == 1.0f);
        else CHECK(m->rank == 4 && m->alpha == 1.0f);
    }
    lora_network_free(&net);
    unet_free(&u);
    clip_text_free(&te);
}

// save → load → save gives identical bytes; fp16/bf16 saves hold the rounded values; metadata
// passes through; sshs_model_hash = sha256 of the data section.
static void test_save_load(void) {
    Unet u;
    fixture_load_tiny_unet(&u);
    ClipText te;
    fixture_load_tiny_te(&te);
    LoraNetworkConfig c = lora_network_config_default();
    c.conv_dim = 2, c.conv_alpha = 0.1f;
    LoraNetwork a, b;
    CHECK(lora_network_create(&a, &c, &u, &te, NULL) == SDL_OK);
    Rng rng;
    rng_seed(&rng, 5);
    lora_network_init_weights(&a, &rng);
    for (size_t i = 0; i < a.n_params; i++) a.params[i] += 0.01f * (float)((i * 7919) % 101) - 0.5f; // up non-zero
    const char *keys[] = {"ss_network_dim", "modelspec.title", "ss_network_alpha"};
    const char *vals[] = {"4", "tiny \xc3\xa9", "1.0"};
    const LoraSaveDtype dts[3] = {LORA_SAVE_FLOAT, LORA_SAVE_FP16, LORA_SAVE_BF16};
    for (int d = 0; d < 3; d++) {
        void *f1 = NULL, *f2 = NULL;
        size_t s1 = 0, s2 = 0;
        CHECK(lora_save_to_memory(&a, dts[d], keys, vals, 3, &f1, &s1) == SDL_OK);
        SafeTensors st;
        CHECK(st_open_memory(&st, f1, s1, "saved") == SDL_OK);
        CHECK(st.n_tensors == 3 * a.n);
        CHECK(strcmp(st_metadata_get(&st, "modelspec.title"), "tiny \xc3\xa9") == 0);
        char mh[65], lh[9];
        lora_sshs_hashes(f1, s1, mh, lh);
        CHECK(strcmp(st_metadata_get(&st, "sshs_model_hash"), mh) == 0);
        CHECK(strcmp(st_metadata_get(&st, "sshs_legacy_hash"), "e3b0c442") == 0); // < 1 MiB: empty slice
        const StTensor *al = st_find(&st, "lora_unet_down_blocks_0_resnets_0_conv1.alpha");
        CHECK(al && al->ndim == 0 && al->dtype == (d == 0 ? ST_F32 : d == 1 ? ST_F16 : ST_BF16));
        const StTensor *dn = st_find(&st, "lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight");
        CHECK(dn && dn->ndim == 4 && dn->shape[0] == 2 && dn->shape[2] == 3);
        const StTensor *up = st_find(&st, "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight");
        CHECK(up && up->ndim == 2 && up->shape[0] == 72 && up->shape[1] == 4);
        CHECK(lora_network_create(&b, &c, &u, &te, NULL) == SDL_OK);
        LoraLoadReport rep;
        CHECK(lora_load_st(&b, &st, &rep) == SDL_OK);
        CHECK(rep.modules == a.n && rep.unknown == 0 && rep.alpha_missing == 0);
        // values: exact for float, the fp16/bf16 rounding otherwise
        int64_t bad = 0;
        for (size_t i = 0; i < a.n_params; i++) {
            float want = d == 0 ? a.params[i] : d == 1 ? fp16_to_fp32(fp32_to_fp16(a.params[i])) : bf16_to_fp32(fp32_to_bf16(a.params[i]));
            bad += b.params[i] != want;
        }
        CHECKF(bad == 0, "dtype %d: %lld values differ", d, (long long)bad);
        LoraModule *m = lora_network_find(&b, "lora_unet_down_blocks_0_resnets_0_conv1");
        CHECK(m && m->alpha == (d == 0 ? 0.1f : d == 1 ? fp16_to_fp32(fp32_to_fp16(0.1f)) : bf16_to_fp32(fp32_to_bf16(0.1f))));
        CHECK(lora_save_to_memory(&b, dts[d], keys, vals, 3, &f2, &s2) == SDL_OK);
        CHECK(s1 == s2 && memcmp(f1, f2, s1) == 0);
        lora_network_free(&b);
        st_close(&st);
        free(f1), free(f2);
    }
    // lora_save writes the same bytes to a file
    char path[] = "/tmp/sdlora_test_lora_XXXXXX";
    int fd = mkstemp(path);
    SDL_ASSERT(fd >= 0);
    close(fd);
    char hash[65];
    CHECK(lora_save(&a, path, LORA_SAVE_FP16, keys, vals, 3, hash) == SDL_OK);
    SafeTensors st;
    CHECK(st_open(&st, path) == SDL_OK);
    CHECK(strcmp(st_metadata_get(&st, "sshs_model_hash"), hash) == 0);
    st_close(&st);
    unlink(path);
    lora_network_free(&a);
    unet_free(&u);
    clip_text_free(&te);
}

// --network_weights errors and --dim_from_weights.
static void test_load_errors_and_dims(void) {
    Unet u;
    fixture_load_tiny_unet(&u);
    char p[600];
    SafeTensors f;
    SDL_ASSERT(st_open(&f, golden_path(p, sizeof p, "lora/tiny_locon.safetensors")) == SDL_OK);
    LoraNetworkConfig c = lora_network_config_default();
    c.network_dim = 8, c.conv_dim = 2;
    LoraNetwork net;
    CHECK(lora_network_create(&net, &c, &u, NULL, NULL) == SDL_OK);
    CHECK(lora_load_st(&net, &f, NULL) == SDL_ERR_SHAPE);
    const char *why = sdl_last_error()->reason;
    CHECKF(strstr(why, "lora_down.weight") && strstr(why, "(4, 64)") && strstr(why, "(8, 64)"), "%s", why);
    lora_network_free(&net);
    // the file has no conv modules → missing module error for a LoCon network over tiny_lora
    SafeTensors f2;
    SDL_ASSERT(st_open(&f2, golden_path(p, sizeof p, "lora/tiny_lora.safetensors")) == SDL_OK);
    c.network_dim = 4;
    CHECK(lora_network_create(&net, &c, &u, NULL, NULL) == SDL_OK);
    CHECK(lora_load_st(&net, &f2, NULL) == SDL_ERR_NOT_FOUND);
    CHECKF(strstr(sdl_last_error()->reason, "resnets_0_conv1.lora_down.weight") != NULL, "%s", sdl_last_error()->reason);
    lora_network_free(&net);
    // dim_from_weights: rank and alpha from the file, modules exactly the file's
    c.network_dim = 16, c.conv_dim = 0;
    CHECK(lora_network_create(&net, &c, &u, NULL, &f) == SDL_OK);
    CHECK(net.n_unet == 117);
    LoraModule *m = lora_network_find(&net, "lora_unet_up_blocks_0_resnets_1_conv2");
    CHECK(m && m->rank == 2 && m->alpha == 1.0f);
    m = lora_network_find(&net, "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k");
    CHECK(m && m->rank == 4 && m->alpha == 2.0f && m->in == 24);
    LoraLoadReport rep;
    CHECK(lora_load_st(&net, &f, &rep) == SDL_OK && rep.unknown == 0);
    lora_network_free(&net);
    CHECK(lora_network_create(&net, &c, &u, NULL, &f2) == SDL_OK);
    CHECK(net.n_unet == 72);
    lora_network_free(&net);
    st_close(&f), st_close(&f2);
    unet_free(&u);
}

// Finite differences through the UNet with LoCon adapters: L = sum(deps ⊙ eps).
typedef struct {
    UnetRun *r;
    const float *deps;
} GradCtx;

static double unet_loss(void *ctx) {
    GradCtx *g = ctx;
    unet_forward(&g->r->u, g->r->eps, g->r->lat, g->r->ts, g->r->ctx);
    return dot_double(g->r->eps, g->deps, g->r->n_eps);
}

static void test_gradcheck(void) {
    UnetRun r;
    unet_run_init(&r);
    LoraNetworkConfig c = lora_network_config_default();
    c.conv_dim = 2, c.network_alpha = 2;
    LoraNetwork net;
    CHECK(lora_network_create(&net, &c, &r.u, NULL, NULL) == SDL_OK);
    char p[600];
    CHECK(lora_load(&net, golden_path(p, sizeof p, "lora/tiny_locon.safetensors"), NULL) == SDL_OK);
    lora_network_enable_grads(&net);
    lora_network_attach(&net);
    unet_unplan(&r.u);
    CHECK(unet_plan(&r.u, 2, 16, 12, 77) == SDL_OK);
    float *deps = alloc_randn(r.n_eps, 1.0f, 99);
    unet_forward(&r.u, r.eps, r.lat, r.ts, r.ctx);
    lora_network_zero_grads(&net);
    unet_backward(&r.u, NULL, NULL, deps);
    GradCtx g = {&r, deps};
    const char *names[] = {"lora_unet_down_blocks_0_attentions_0_proj_in", "lora_unet_up_blocks_1_attentions_2_transformer_blocks_0_attn2_to_v",
                           "lora_unet_down_blocks_0_resnets_0_conv1", "lora_unet_up_blocks_0_upsamplers_0_conv",
                           "lora_unet_mid_block_resnets_1_time_emb_proj"};
    for (int i = 0; i < 5; i++) {
        LoraModule *m = lora_network_find(&net, names[i]);
        CHECK(m != NULL);
        if (!m) continue;
        char what[256];
        snprintf(what, sizeof what, "%s down", names[i]);
        // 4-point differences with step 1e-1: the float32 forward's rounding noise (~1e-6 of the
        // loss) swamps smaller steps for adapters with small gradients (time_emb_proj's are ~3e-3:
        // at step 1e-2 the difference is off by 30%, at 1e-1 by 0.4%). Tolerance: 2% of the value.
        CHECK(gradcheck_coords(what, unet_loss, &g, m->down, m->ddown, m->rank * m->in * m->k * m->k, 1e-1f, 1e-3, 2e-2, 3, 11 + i));
        snprintf(what, sizeof what, "%s up", names[i]);
        CHECK(gradcheck_coords(what, unet_loss, &g, m->up, m->dup, m->out * m->rank, 1e-1f, 1e-3, 2e-2, 3, 21 + i));
    }
    free(deps);
    lora_network_free(&net);
    unet_run_free(&r);
}

static void test_sha256(void) {
    char h[65];
    sha256_hex("abc", 3, h);
    CHECK(strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    sha256_hex("", 0, h);
    CHECK(strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    const char *m2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(m2, strlen(m2), h);
    CHECK(strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
    // one million 'a', fed in odd-sized pieces
    Sha256 s;
    sha256_init(&s);
    char a[997];
    memset(a, 'a', sizeof a);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof a ? left : sizeof a;
        sha256_update(&s, a, n);
        left -= n;
    }
    unsigned char d[32];
    sha256_final(&s, d);
    for (int i = 0; i < 32; i++) snprintf(h + 2 * i, 3, "%02x", d[i]);
    CHECK(strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

int main(void) {
    RUN(test_sha256);
    RUN(test_unet_lora_golden);
    RUN(test_unet_locon_golden);
    RUN(test_te_lora_golden);
    RUN(test_init);
    RUN(test_save_load);
    RUN(test_load_errors_and_dims);
    RUN(test_gradcheck);
    return test_finish();
}
