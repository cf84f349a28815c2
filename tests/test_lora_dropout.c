// test_lora_dropout.c — kohya's network_dropout and rank_dropout in the LoRA adapter
// (src/nn/linear.c, src/nn/conv.c, masks in nn/lora.h) and their per-step control in the
// network (lora_network_step_begin/end). Checks: p = q = 0 changes nothing (bit for bit); the
// saved h is down(x) with each element either 0 or scaled by 1/(1−p)·1/(1−q); the dropped
// fraction matches p (element-wise) and q (per batch element and rank, the same for all of an
// element's tokens or pixels); finite-difference gradients with the masks on (so backward uses
// the forward's masks); a rank_dropout batch that does not divide the rows aborts; and on the
// tiny UNet (and CLIP) with a LoCon network: nothing drops outside a step, gradients through the
// whole model match finite differences inside one, and a few SGD steps train with finite loss.
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "gradcheck.h"
#include "harness.h"
#include "fixtures.h"
#include "lora/lora_file.h"
#include "lora/network.h"
#include "models/load.h"
#include "nn/conv.h"
#include "nn/linear.h"

// ---- Linear ----
static double lin_loss(void *ctx) {
    LinCase *c = ctx;
    linear_module_forward(&c->m, c->y, c->x, c->M);
    return dot_double(c->y, c->dout, c->M * c->m.out);
}

static void set_dropout(LoraAdapter *a, float p, float q, uint64_t seed, int64_t batch) {
    a->dropout = p, a->rank_dropout = q, a->seed = seed, a->batch = batch;
}

// Forward + backward; copies of y, h, dx, ddown, dup into the caller's buffers.
static void lin_run(LinCase *c, float *y, float *h, float *dx, float *ddown, float *dup) {
    int64_t M = c->M, in = c->m.in, out = c->m.out, r = c->a.rank;
    float *work = alloc_floats((int64_t)linear_module_work_floats(&c->m, M) + 1);
    memset(c->a.ddown, 0, (size_t)(r * in) * sizeof(float));
    memset(c->a.dup, 0, (size_t)(out * r) * sizeof(float));
    linear_module_forward(&c->m, c->y, c->x, M);
    linear_module_backward(&c->m, dx, c->dout, c->x, M, work);
    memcpy(y, c->y, (size_t)(M * out) * sizeof(float));
    memcpy(h, c->a.h, (size_t)(M * r) * sizeof(float));
    memcpy(ddown, c->a.ddown, (size_t)(r * in) * sizeof(float));
    memcpy(dup, c->a.dup, (size_t)(out * r) * sizeof(float));
    free(work);
}

static int same_bits(const float *a, const float *b, int64_t n) { return memcmp(a, b, (size_t)n * sizeof(float)) == 0; }

static void test_off_is_identity(void) {
    LinCase c;
    int64_t M = 12, in = 10, out = 7, r = 4;
    lin_case_init(&c, M, in, out, r, 0.5f);
    float *y0 = alloc_floats(M * out), *h0 = alloc_floats(M * r), *dx0 = alloc_floats(M * in), *dd0 = alloc_floats(r * in),
          *du0 = alloc_floats(out * r);
    float *y1 = alloc_floats(M * out), *h1 = alloc_floats(M * r), *dx1 = alloc_floats(M * in), *dd1 = alloc_floats(r * in),
          *du1 = alloc_floats(out * r);
    lin_run(&c, y0, h0, dx0, dd0, du0);
    set_dropout(&c.a, 0, 0, 12345, 3); // a seed and batch but p = q = 0: off
    lin_run(&c, y1, h1, dx1, dd1, du1);
    CHECK(same_bits(y0, y1, M * out) && same_bits(h0, h1, M * r) && same_bits(dx0, dx1, M * in));
    CHECK(same_bits(dd0, dd1, r * in) && same_bits(du0, du1, out * r));
    // and on: the output does change
    set_dropout(&c.a, 0.5f, 0, 12345, 3);
    lin_run(&c, y1, h1, dx1, dd1, du1);
    CHECK(!same_bits(y0, y1, M * out) && !same_bits(du0, du1, out * r));
    free(y0), free(h0), free(dx0), free(dd0), free(du0), free(y1), free(h1), free(dx1), free(dd1), free(du1);
    lin_case_free(&c);
}

// |fraction − p| within 4.5 standard deviations of a binomial mean over n draws.
static int fraction_ok(int64_t dropped, int64_t n, double p) {
    double f = (double)dropped / (double)n, sd = sqrt(p * (1 - p) / (double)n);
    return fabs(f - p) <= 4.5 * sd;
}

static void test_linear_masks(void) {
    const int64_t B = 48, T = 5, M = B * T, in = 6, out = 5, r = 16;
    LinCase c;
    lin_case_init(&c, M, in, out, r, 1.0f);
    float *h0 = alloc_floats(M * r), *h1 = alloc_floats(M * r);
    linear_module_forward(&c.m, c.y, c.x, M);
    memcpy(h0, c.a.h, (size_t)(M * r) * sizeof(float));
    // network_dropout: element-wise, survivors × 1/(1−p)
    const float p = 0.3f, kp = 1.0f / (1.0f - p);
    set_dropout(&c.a, p, 0, 777, B);
    linear_module_forward(&c.m, c.y, c.x, M);
    int64_t zeros = 0, bad = 0;
    for (int64_t i = 0; i < M * r; i++) {
        if (c.a.h[i] == 0) zeros++;
        else if (c.a.h[i] != h0[i] * kp) bad++;
    }
    CHECKF(bad == 0, "%lld kept values not scaled by 1/(1-p)", (long long)bad);
    CHECKF(fraction_ok(zeros, M * r, p), "%lld of %lld dropped, p = %g", (long long)zeros, (long long)(M * r), (double)p);
    // the output is built from that h: y = base + s · h @ upᵀ
    float *base = alloc_floats(M * out);
    LoraAdapter *keep = c.m.lora;
    c.m.lora = NULL;
    linear_module_forward(&c.m, base, c.x, M);
    c.m.lora = keep;
    linear_module_forward(&c.m, c.y, c.x, M);
    double err = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t o = 0; o < out; o++) {
            double v = base[i * out + o];
            for (int64_t j = 0; j < r; j++) v += (double)c.a.h[i * r + j] * c.a.up[o * r + j];
            err = fmax(err, fabs(v - c.y[i * out + o]));
        }
    CHECKF(err < 1e-4, "y vs base + h @ up^T: %g", err);
    // a fixed seed gives the same mask; another seed another one
    memcpy(h1, c.a.h, (size_t)(M * r) * sizeof(float));
    linear_module_forward(&c.m, c.y, c.x, M);
    CHECK(same_bits(h1, c.a.h, M * r));
    c.a.seed = 778;
    linear_module_forward(&c.m, c.y, c.x, M);
    CHECK(!same_bits(h1, c.a.h, M * r));
    // rank_dropout: per (batch element, rank), the same over the element's T rows; × 1/(1−q)
    const float q = 0.25f, kq = 1.0f / (1.0f - q);
    set_dropout(&c.a, 0, q, 31337, B);
    linear_module_forward(&c.m, c.y, c.x, M);
    int64_t pairs_dropped = 0;
    bad = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < r; j++) {
            int dropped = c.a.h[(b * T) * r + j] == 0;
            pairs_dropped += dropped;
            for (int64_t t = 0; t < T; t++) {
                float v = c.a.h[(b * T + t) * r + j];
                bad += dropped ? v != 0 : v != h0[(b * T + t) * r + j] * kq;
            }
        }
    CHECKF(bad == 0, "%lld values break the per-(b, rank) mask or the 1/(1-q) scale", (long long)bad);
    CHECKF(fraction_ok(pairs_dropped, B * r, q), "%lld of %lld (b, rank) pairs dropped", (long long)pairs_dropped,
           (long long)(B * r));
    // both: a kept value is × 1/(1−p) · 1/(1−q)
    set_dropout(&c.a, p, q, 4242, B);
    linear_module_forward(&c.m, c.y, c.x, M);
    zeros = bad = 0;
    for (int64_t i = 0; i < M * r; i++) {
        if (c.a.h[i] == 0) zeros++;
        else if (c.a.h[i] != h0[i] * (kp * kq)) bad++;
    }
    CHECK(bad == 0);
    CHECKF(fraction_ok(zeros, M * r, 1 - (1 - p) * (1 - q)), "%lld dropped", (long long)zeros);
    free(h0), free(h1), free(base);
    lin_case_free(&c);
}

static void test_linear_gradients(void) {
    const float cfg[3][2] = {{0.4f, 0}, {0, 0.5f}, {0.3f, 0.3f}};
    for (int t = 0; t < 3; t++) {
        const int64_t B = 3, T = 4, M = B * T, in = 7, out = 6, r = 4;
        LinCase c;
        lin_case_init(&c, M, in, out, r, 0.75f);
        set_dropout(&c.a, cfg[t][0], cfg[t][1], 99 + (uint64_t)t, B);
        float *dx = alloc_floats(M * in), *work = alloc_floats((int64_t)linear_module_work_floats(&c.m, M) + 1);
        lin_loss(&c);
        linear_module_backward(&c.m, dx, c.dout, c.x, M, work);
        char what[64];
        snprintf(what, sizeof what, "linear p=%g q=%g dx", (double)cfg[t][0], (double)cfg[t][1]);
        CHECK(gradcheck_coords(what, lin_loss, &c, c.x, dx, M * in, 1e-2f, 1e-3, 1e-3, 1000, 1));
        snprintf(what, sizeof what, "linear p=%g q=%g ddown", (double)cfg[t][0], (double)cfg[t][1]);
        CHECK(gradcheck_coords(what, lin_loss, &c, (float *)c.a.down, c.a.ddown, r * in, 1e-2f, 1e-3, 1e-3, 1000, 2));
        snprintf(what, sizeof what, "linear p=%g q=%g dup", (double)cfg[t][0], (double)cfg[t][1]);
        CHECK(gradcheck_coords(what, lin_loss, &c, (float *)c.a.up, c.a.dup, out * r, 1e-2f, 1e-3, 1e-3, 1000, 3));
        free(dx), free(work);
        lin_case_free(&c);
    }
}

// rank_dropout with a batch that does not divide the rows is a caller bug: it must stop, not
// silently mask the wrong rows. Run in a fresh process (this binary with "bad-batch"): a forked
// copy of a process whose OpenMP threads already ran can hang in its first parallel region.
static int bad_batch_case(void) {
    LinCase c;
    lin_case_init(&c, 10, 4, 3, 2, 1.0f);
    set_dropout(&c.a, 0, 0.5f, 1, 3); // 10 rows, 3 batch elements
    linear_module_forward(&c.m, c.y, c.x, c.M);
    return 0; // not reached
}

static void test_batch_mismatch_aborts(void) {
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(1);
        execl("/proc/self/exe", "test_lora_dropout", "bad-batch", (char *)NULL);
        _exit(0); // exec failed: reported as "returned normally"
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECKF(!(WIFEXITED(status) && WEXITSTATUS(status) == 0), "forward with a bad batch returned normally");
}

// ---- Conv2d ----
typedef struct {
    Conv2d m;
    LoraAdapter a;
    int64_t N, H, W, ohw;
    float *x, *y, *dout, *work;
} ConvCase;

static void conv_case_init(ConvCase *c, int64_t N, int64_t in, int64_t H, int64_t W, int64_t out, int64_t k, int64_t r) {
    memset(c, 0, sizeof *c);
    c->N = N, c->H = H, c->W = W;
    c->m = conv_module(alloc_randn(out * in * k * k, 0.2f, 21), alloc_randn(out, 0.1f, 22), in, out, k, 1, k / 2);
    Conv2dDims d = conv_module_dims(&c->m, N, H, W);
    c->ohw = conv2d_out_h(&d) * conv2d_out_w(&d);
    c->a = (LoraAdapter){.down = alloc_randn(r * in * k * k, 0.3f, 23), .up = alloc_randn(out * r, 0.3f, 24),
                         .ddown = alloc_floats(r * in * k * k), .dup = alloc_floats(out * r), .rank = r,
                         .scale = 0.8f, .h = alloc_floats(N * r * c->ohw)};
    c->m.lora = &c->a;
    c->x = alloc_randn(N * in * H * W, 1.0f, 25);
    c->y = alloc_floats(N * out * c->ohw);
    c->dout = alloc_randn(N * out * c->ohw, 1.0f, 26);
    c->work = alloc_floats((int64_t)conv_module_work_floats(&c->m, N, H, W) + 1);
}

static void conv_case_free(ConvCase *c) {
    free((void *)c->a.down), free((void *)c->a.up), free(c->a.ddown), free(c->a.dup), free(c->a.h);
    free((void *)c->m.w), free((void *)c->m.b), free(c->x), free(c->y), free(c->dout), free(c->work);
}

static double conv_loss(void *ctx) {
    ConvCase *c = ctx;
    conv_module_forward(&c->m, c->y, c->x, c->N, c->H, c->W, c->work);
    return dot_double(c->y, c->dout, c->N * c->m.out * c->ohw);
}

static void test_conv_masks(void) {
    const int64_t N = 32, r = 8;
    ConvCase c;
    conv_case_init(&c, N, 3, 5, 4, 4, 3, r);
    const int64_t nh = N * r * c.ohw;
    float *h0 = alloc_floats(nh);
    conv_loss(&c);
    memcpy(h0, c.a.h, (size_t)nh * sizeof(float));
    const float p = 0.2f, kp = 1.0f / (1.0f - p);
    set_dropout(&c.a, p, 0, 5, 0); // batch unused by convs: N is the batch
    conv_loss(&c);
    int64_t zeros = 0, bad = 0;
    for (int64_t i = 0; i < nh; i++) {
        if (c.a.h[i] == 0) zeros++;
        else if (c.a.h[i] != h0[i] * kp) bad++;
    }
    CHECK(bad == 0);
    CHECKF(fraction_ok(zeros, nh, p), "%lld of %lld dropped", (long long)zeros, (long long)nh);
    // rank masks: a whole (n, rank) plane of pixels at once
    const float q = 0.4f, kq = 1.0f / (1.0f - q);
    set_dropout(&c.a, 0, q, 6, 0);
    conv_loss(&c);
    int64_t planes_dropped = 0;
    bad = 0;
    for (int64_t nj = 0; nj < N * r; nj++) {
        const float *hp = c.a.h + nj * c.ohw, *h0p = h0 + nj * c.ohw;
        int dropped = hp[0] == 0;
        planes_dropped += dropped;
        for (int64_t i = 0; i < c.ohw; i++) bad += dropped ? hp[i] != 0 : hp[i] != h0p[i] * kq;
    }
    CHECK(bad == 0);
    CHECKF(fraction_ok(planes_dropped, N * r, q), "%lld of %lld planes dropped", (long long)planes_dropped, (long long)(N * r));
    free(h0);
    conv_case_free(&c);
}

static void test_conv_gradients(void) {
    const float cfg[2][2] = {{0.4f, 0}, {0, 0.5f}};
    for (int t = 0; t < 2; t++) {
        const int64_t N = 3, in = 3, H = 5, W = 4, k = 3, r = 3;
        ConvCase c;
        conv_case_init(&c, N, in, H, W, 4, k, r);
        set_dropout(&c.a, cfg[t][0], cfg[t][1], 1000 + (uint64_t)t, 0);
        float *dx = alloc_floats(N * in * H * W);
        conv_loss(&c);
        conv_module_backward(&c.m, dx, c.dout, c.x, N, H, W, c.work);
        char what[64];
        snprintf(what, sizeof what, "conv p=%g q=%g dx", (double)cfg[t][0], (double)cfg[t][1]);
        CHECK(gradcheck_coords(what, conv_loss, &c, c.x, dx, N * in * H * W, 1e-2f, 1e-3, 1e-3, 60, 4));
        snprintf(what, sizeof what, "conv p=%g q=%g ddown", (double)cfg[t][0], (double)cfg[t][1]);
        CHECK(gradcheck_coords(what, conv_loss, &c, (float *)c.a.down, c.a.ddown, r * in * k * k, 1e-2f, 1e-3, 1e-3, 60, 5));
        snprintf(what, sizeof what, "conv p=%g q=%g dup", (double)cfg[t][0], (double)cfg[t][1]);
        CHECK(gradcheck_coords(what, conv_loss, &c, (float *)c.a.up, c.a.dup, 4 * r, 1e-2f, 1e-3, 1e-3, 1000, 6));
        free(dx);
        conv_case_free(&c);
    }
}

// ---- the network on the tiny UNet ----
typedef struct {
    Unet u;
    SafeTensors g;
    float *lat, *ts, *ctx, *eps, *deps;
    int64_t n_eps;
} UnetRun;

static void unet_run_init(UnetRun *r) {
    char p[600];
    SDL_ASSERT(unet_load_diffusers(&r->u, golden_path(p, sizeof p, "models/tiny-unet")) == SDL_OK);
    SDL_ASSERT(st_open(&r->g, golden_path(p, sizeof p, "lora/tiny_lora_golden.safetensors")) == SDL_OK);
    r->lat = golden_tensor(&r->g, "latents", NULL); // (2, 4, 16, 12)
    r->ts = golden_tensor(&r->g, "timesteps", NULL);
    r->ctx = golden_tensor(&r->g, "context", NULL);
    r->n_eps = st_find(&r->g, "eps_base")->numel;
    r->eps = alloc_floats(r->n_eps);
    r->deps = alloc_randn(r->n_eps, 1.0f, 99);
}

static void unet_run_free(UnetRun *r) {
    unet_free(&r->u);
    st_close(&r->g);
    free(r->lat), free(r->ts), free(r->ctx), free(r->eps), free(r->deps);
}

static double unet_loss(void *ctx) {
    UnetRun *r = ctx;
    unet_forward(&r->u, r->eps, r->lat, r->ts, r->ctx);
    return dot_double(r->eps, r->deps, r->n_eps);
}

// A LoCon network with the tiny_locon weights (nonzero up, so dropping changes the output).
static void make_network(LoraNetwork *net, UnetRun *r, float p, float q, float module_p) {
    LoraNetworkConfig c = lora_network_config_default();
    c.conv_dim = 2, c.network_alpha = 2, c.dropout = p, c.rank_dropout = q, c.module_dropout = module_p;
    SDL_ASSERT(lora_network_create(net, &c, &r->u, NULL, NULL) == SDL_OK);
    char path[600];
    SDL_ASSERT(lora_load(net, golden_path(path, sizeof path, "lora/tiny_locon.safetensors"), NULL) == SDL_OK);
    lora_network_enable_grads(net);
    lora_network_attach(net);
    unet_unplan(&r->u);
    SDL_ASSERT(unet_plan(&r->u, 2, 16, 12, 77) == SDL_OK);
}

static void test_network_config_errors(void) {
    UnetRun r;
    unet_run_init(&r);
    float bad[] = {1.0f, -0.1f, NAN};
    for (int i = 0; i < 3; i++)
        for (int which = 0; which < 3; which++) {
            LoraNetworkConfig c = lora_network_config_default();
            if (which == 0) c.dropout = bad[i];
            if (which == 1) c.rank_dropout = bad[i];
            if (which == 2) c.module_dropout = bad[i];
            LoraNetwork net;
            CHECK(lora_network_create(&net, &c, &r.u, NULL, NULL) == SDL_ERR_ARG);
        }
    unet_run_free(&r);
}

static void test_network_unet(void) {
    UnetRun r;
    unet_run_init(&r);
    // reference: the same weights with no dropout configured
    LoraNetwork plain;
    make_network(&plain, &r, 0, 0, 0);
    float *ref = alloc_floats(r.n_eps);
    unet_forward(&r.u, ref, r.lat, r.ts, r.ctx);
    Rng rng;
    rng_seed(&rng, 5);
    Rng before = rng;
    lora_network_step_begin(&plain, &rng, 2, 0); // no dropout configured: no draws, nothing changes
    CHECK(memcmp(&before, &rng, sizeof rng) == 0);
    unet_forward(&r.u, r.eps, r.lat, r.ts, r.ctx);
    CHECK(same_bits(r.eps, ref, r.n_eps));
    lora_network_step_end(&plain);
    lora_network_free(&plain);

    LoraNetwork net;
    make_network(&net, &r, 0.3f, 0.25f, 0);
    // outside a step (inference, samples) nothing drops
    unet_forward(&r.u, r.eps, r.lat, r.ts, r.ctx);
    CHECK(same_bits(r.eps, ref, r.n_eps));
    // inside a step the output changes, and the gradients through the whole UNet match finite
    // differences (the masks of forward, the finite-difference forwards and backward agree)
    lora_network_step_begin(&net, &rng, 2, 0);
    unet_forward(&r.u, r.eps, r.lat, r.ts, r.ctx);
    CHECK(max_abs_diff(r.eps, ref, r.n_eps) > 1e-3);
    lora_network_zero_grads(&net);
    unet_backward(&r.u, NULL, NULL, r.deps);
    const char *names[] = {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", // Linear (B, T, ·)
                           "lora_unet_up_blocks_1_attentions_2_transformer_blocks_0_attn2_to_v",   // context rows
                           "lora_unet_down_blocks_0_resnets_0_conv1",                              // 3x3 LoCon
                           "lora_unet_mid_block_resnets_1_time_emb_proj"};                         // (B, ·) rows
    for (int i = 0; i < 4; i++) {
        LoraModule *m = lora_network_find(&net, names[i]);
        CHECK(m != NULL);
        if (!m) continue;
        char what[256];
        // step 3e-2: the masks scale kept values by up to 1/(0.7·0.75) ≈ 1.9, which makes 1e-1
        // (test_lora_network.c's step) too curved; 2% of the value
        snprintf(what, sizeof what, "%s down", names[i]);
        CHECK(gradcheck_coords(what, unet_loss, &r, m->down, m->ddown, m->rank * m->in * m->k * m->k, 3e-2f, 1e-3, 2e-2, 3, 11 + i));
        snprintf(what, sizeof what, "%s up", names[i]);
        CHECK(gradcheck_coords(what, unet_loss, &r, m->up, m->dup, m->out * m->rank, 3e-2f, 1e-3, 2e-2, 3, 21 + i));
    }
    // after the step: back to the undropped output
    lora_network_step_end(&net);
    unet_forward(&r.u, r.eps, r.lat, r.ts, r.ctx);
    CHECK(same_bits(r.eps, ref, r.n_eps));
    lora_network_free(&net);
    free(ref);
    unet_run_free(&r);
}

// A few SGD steps on an MSE loss with all three dropouts on: finite losses and gradients,
// different masks each step.
static void test_network_trains(void) {
    UnetRun r;
    unet_run_init(&r);
    LoraNetwork net;
    make_network(&net, &r, 0.2f, 0.3f, 0.1f);
    float *target = alloc_randn(r.n_eps, 1.0f, 123), *first = alloc_floats(r.n_eps);
    Rng rng;
    rng_seed(&rng, 42);
    double losses[4];
    int finite = 1;
    for (int step = 0; step < 4; step++) {
        lora_network_step_begin(&net, &rng, 2, 0);
        unet_forward(&r.u, r.eps, r.lat, r.ts, r.ctx);
        if (step == 0) memcpy(first, r.eps, (size_t)r.n_eps * sizeof(float));
        double loss = 0;
        for (int64_t i = 0; i < r.n_eps; i++) {
            double d = (double)r.eps[i] - target[i];
            loss += d * d;
            r.deps[i] = (float)(2 * d / (double)r.n_eps);
        }
        losses[step] = loss / (double)r.n_eps;
        lora_network_zero_grads(&net);
        unet_backward(&r.u, NULL, NULL, r.deps);
        for (size_t i = 0; i < net.n_params; i++) {
            finite &= isfinite(net.grads[i]);
            net.params[i] -= 0.5f * net.grads[i];
        }
        lora_network_step_end(&net);
        finite &= isfinite(losses[step]);
    }
    CHECKF(finite, "losses %g %g %g %g", losses[0], losses[1], losses[2], losses[3]);
    CHECK(losses[3] < 10 * losses[0]);
    // the masks of step 1 are not the masks of step 0: same weights, different output
    lora_network_step_begin(&net, &rng, 2, 0);
    unet_forward(&r.u, r.eps, r.lat, r.ts, r.ctx);
    float *a = alloc_floats(r.n_eps);
    memcpy(a, r.eps, (size_t)r.n_eps * sizeof(float));
    lora_network_step_end(&net);
    lora_network_step_begin(&net, &rng, 2, 0);
    unet_forward(&r.u, r.eps, r.lat, r.ts, r.ctx);
    lora_network_step_end(&net);
    CHECK(!same_bits(a, r.eps, r.n_eps));
    free(a), free(target), free(first);
    lora_network_free(&net);
    unet_run_free(&r);
}

// The text encoder's adapters get te_batch (sequences): rank masks per sequence, gradients right.
typedef struct {
    ClipText te;
    int32_t ids[2 * 16];
    float *hid, *dhid;
    int64_t n;
} TeRun;

static double te_loss(void *ctx) {
    TeRun *t = ctx;
    SDL_ASSERT(clip_text_forward(&t->te, t->hid, t->ids, 1) == SDL_OK);
    return dot_double(t->hid, t->dhid, t->n);
}

static void test_network_text_encoder(void) {
    TeRun t;
    char p[600];
    ClipTextConfig cfg;
    SDL_ASSERT(clip_text_config_load(&cfg, golden_path(p, sizeof p, "models/tiny-clip/config.json")) == SDL_OK);
    clip_text_init(&t.te, &cfg);
    SafeTensors f;
    SDL_ASSERT(st_open(&f, golden_path(p, sizeof p, "models/tiny-clip/model.safetensors")) == SDL_OK);
    LoadReport rep;
    SDL_ASSERT(param_table_load(&t.te.params, &f, "", NULL, NULL, "text encoder", &rep) == SDL_OK);
    st_close(&f);
    LoraNetworkConfig c = lora_network_config_default();
    c.network_alpha = 2, c.train_unet = 0, c.dropout = 0.2f, c.rank_dropout = 0.5f;
    LoraNetwork net;
    CHECK(lora_network_create(&net, &c, NULL, &t.te, NULL) == SDL_OK);
    SDL_ASSERT(lora_load(&net, golden_path(p, sizeof p, "lora/tiny_lora.safetensors"), NULL) == SDL_OK);
    lora_network_enable_grads(&net);
    lora_network_attach(&net);
    clip_text_plan(&t.te, 2, 16, true);
    lora_network_plan_te(&net, 2, 16);
    for (int i = 0; i < 32; i++) t.ids[i] = (i * 37 + 5) % (int32_t)cfg.vocab_size;
    t.n = 2 * 16 * cfg.hidden_size;
    t.hid = alloc_floats(t.n), t.dhid = alloc_randn(t.n, 1.0f, 7);
    float *ref = alloc_floats(t.n);
    te_loss(&t);
    memcpy(ref, t.hid, (size_t)t.n * sizeof(float));
    Rng rng;
    rng_seed(&rng, 3);
    lora_network_step_begin(&net, &rng, 0, 2);
    CHECK(net.mods[0].ad.batch == 2 && net.mods[0].ad.rank_dropout == 0.5f);
    te_loss(&t);
    CHECK(max_abs_diff(t.hid, ref, t.n) > 1e-4);
    lora_network_zero_grads(&net);
    clip_text_backward(&t.te, t.dhid);
    LoraModule *m = lora_network_find(&net, "lora_te_text_model_encoder_layers_0_self_attn_q_proj");
    CHECK(m != NULL);
    if (m) {
        CHECK(gradcheck_coords("te q_proj down", te_loss, &t, m->down, m->ddown, m->rank * m->in, 1e-2f, 1e-3, 2e-2, 4, 31));
        CHECK(gradcheck_coords("te q_proj up", te_loss, &t, m->up, m->dup, m->out * m->rank, 1e-2f, 1e-3, 2e-2, 4, 32));
    }
    lora_network_step_end(&net);
    CHECK(net.mods[0].ad.dropout == 0 && net.mods[0].ad.rank_dropout == 0);
    te_loss(&t);
    CHECK(same_bits(t.hid, ref, t.n));
    free(ref), free(t.hid), free(t.dhid);
    lora_network_free(&net);
    clip_text_free(&t.te);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "bad-batch") == 0) return bad_batch_case();
    RUN(test_off_is_identity);
    RUN(test_linear_masks);
    RUN(test_linear_gradients);
    RUN(test_batch_mismatch_aborts);
    RUN(test_conv_masks);
    RUN(test_conv_gradients);
    RUN(test_network_config_errors);
    RUN(test_network_unet);
    RUN(test_network_trains);
    RUN(test_network_text_encoder);
    return test_finish();
}
