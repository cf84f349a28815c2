// test_nn_blocks.c — the UNet/VAE blocks of nn/ (ResnetBlock2D, Transformer2DModel with its
// BasicTransformerBlocks, Downsample2D, Upsample2D): finite-difference checks of every input
// gradient, a sample of parameter gradients (norms, convs, linears, attention projections) and
// LoRA adapter gradients; backward with the input gradient off must give the same parameter
// gradients; the parameter names and shapes the visitor lists; the ResnetBlock2D forward
// against a composition of the naive ops. (The blocks against diffusers: tests/test_unet.c.)
//
// Tolerances: the loss is L = sum(dout * f(x)) in double on float32 forwards; finite
// differences use step 1e-2 and the 4-point stencil. Directional checks pass at 2e-3 of
// ||grad|| and coordinate checks at 2e-3 absolute + 3e-3 relative — float32 rounding in the
// forward (~1e-7 relative per value, summed over a few hundred outputs, divided by the step)
// stays an order of magnitude below that; a wrong term in any gradient is far above.
#include "harness.h"
#include "gradcheck.h"
#include "base/error.h"
#include "nn/resblock.h"
#include "nn/transformer.h"
#include "nn/updown.h"
#include "ops/conv2d.h"
#include "ops/gemm.h"
#include "ops/norm.h"
#include "ops/tensor.h"
#include <stdlib.h>
#include <string.h>

// ---- parameters: allocated by a visitor --------------------------------------------------------

#define MAX_BUFS 512

typedef struct {
    float *bufs[MAX_BUFS];
    int n;
    uint64_t seed;
    int grads;                 // allocate a gradient for every parameter
    char names[MAX_BUFS][128]; // visited names, in order
    int64_t numel[MAX_BUFS];
    int n_names;
} Params;

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void alloc_param(BlockVisitor *v, const char *name, int ndim, const int64_t *shape, const float **w, float **grad) {
    Params *p = v->ctx;
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= shape[d];
    SDL_ASSERT(p->n + 2 <= MAX_BUFS && p->n_names < MAX_BUFS);
    snprintf(p->names[p->n_names], sizeof p->names[0], "%s", name);
    p->numel[p->n_names++] = numel;
    float *x;
    if (ndim == 1 && strstr(name, "norm") && ends_with(name, ".weight")) {
        x = alloc_randn(numel, 0.2f, p->seed++);
        for (int64_t i = 0; i < numel; i++) x[i] += 1.0f;
    } else if (ndim == 1) {
        x = alloc_randn(numel, 0.1f, p->seed++);
    } else {
        x = alloc_randn(numel, 1.0f / sqrtf((float)(numel / shape[0])), p->seed++);
    }
    p->bufs[p->n++] = x;
    *w = x;
    if (p->grads) {
        *grad = alloc_floats(numel);
        p->bufs[p->n++] = *grad;
    }
}

static void unset_grad(BlockVisitor *v, const char *name, int ndim, const int64_t *shape, const float **w, float **grad) {
    *grad = NULL;
}

static void params_free(Params *p) {
    for (int i = 0; i < p->n; i++) free(p->bufs[i]);
    free(p);
}

static Params *params_new(uint64_t seed, int grads) {
    Params *p = calloc(1, sizeof *p);
    SDL_ASSERT(p != NULL);
    p->seed = seed, p->grads = grads;
    return p;
}

static LoraAdapter *lora_new(int64_t down_n, int64_t up_n, int64_t rank, uint64_t seed) {
    LoraAdapter *a = calloc(1, sizeof *a);
    a->down = alloc_randn(down_n, 0.3f, seed);
    a->up = alloc_randn(up_n, 0.3f, seed + 1);
    a->ddown = alloc_floats(down_n), a->dup = alloc_floats(up_n);
    a->rank = rank, a->scale = 0.75f;
    return a;
}

static void lora_free(LoraAdapter *a) {
    free((void *)a->down), free((void *)a->up), free(a->ddown), free(a->dup), free(a);
}

// Saved activations through the arena's measuring pass, as the models plan them.
typedef void (*PlanFn)(void *ctx, Arena *a);
static Arena plan_arena(PlanFn fn, void *ctx) {
    Arena a;
    arena_init_measure(&a, MEM_ACTIVATIONS);
    fn(ctx, &a);
    size_t used = a.used;
    arena_init(&a, MEM_ACTIVATIONS, used);
    fn(ctx, &a);
    return a;
}

// ---- ResnetBlock2D -------------------------------------------------------------------------------

typedef struct {
    ResBlock m;
    Params *p;
    LoraAdapter *lora, *lora_t; // LoCon on conv1; LoRA on time_emb_proj
    int64_t N, H, W;
    float *x, *temb, *y, *dout, *work;
    Arena acts;
} ResCase;

static void res_plan(void *ctx, Arena *a) {
    ResCase *c = ctx;
    resblock_plan(&c->m, a, c->N, c->H, c->W);
}

static void res_init(ResCase *c, int64_t in, int64_t out, int64_t temb_dim, int with_lora) {
    memset(c, 0, sizeof *c);
    c->N = 2, c->H = 5, c->W = 6;
    resblock_init(&c->m, in, out, temb_dim, 4, temb_dim ? 1e-5f : 1e-6f);
    c->p = params_new(100, 1);
    BlockVisitor v = {.param = alloc_param, .ctx = c->p};
    resblock_visit(&c->m, "blk", &v);
    if (with_lora) { // LoCon on conv1: down (r, in, 3, 3), up (out, r)
        c->lora = lora_new(2 * in * 9, out * 2, 2, 300);
        c->m.conv1.lora = c->lora;
        if (temb_dim) { // down (r, temb_dim), up (out, r)
            c->lora_t = lora_new(2 * temb_dim, out * 2, 2, 310);
            c->m.time_emb_proj.lora = c->lora_t;
        }
    }
    c->acts = plan_arena(res_plan, c);
    int64_t nx = c->N * in * c->H * c->W, ny = c->N * out * c->H * c->W;
    c->x = alloc_randn(nx, 1.0f, 1);
    for (int64_t i = 0; i < nx; i++) c->x[i] += 0.5f; // a non-zero mean, as real activations have
    c->temb = temb_dim ? alloc_randn(c->N * temb_dim, 1.0f, 2) : NULL;
    c->y = alloc_floats(ny);
    c->dout = alloc_randn(ny, 1.0f, 3);
    c->work = alloc_floats((int64_t)resblock_work_floats(&c->m, c->N, c->H, c->W));
}

static void res_free(ResCase *c) {
    params_free(c->p);
    if (c->lora) lora_free(c->lora);
    if (c->lora_t) lora_free(c->lora_t);
    arena_free(&c->acts);
    free(c->x), free(c->temb), free(c->y), free(c->dout), free(c->work);
}

static double res_loss(void *ctx) {
    ResCase *c = ctx;
    resblock_forward(&c->m, c->y, c->x, c->temb, c->N, c->H, c->W, c->work);
    return dot_double(c->y, c->dout, c->N * c->m.out * c->H * c->W);
}

static void res_backward(ResCase *c, float *dx, float *dtemb) {
    res_loss(c);
    resblock_backward(&c->m, dx, dtemb, c->dout, c->x, c->temb, c->N, c->H, c->W, c->work);
}

static void check_resblock(int64_t in, int64_t out, int64_t temb_dim, int with_lora) {
    ResCase c;
    res_init(&c, in, out, temb_dim, with_lora);
    int64_t nx = c.N * in * c.H * c.W, nt = c.N * temb_dim;
    float *dx = alloc_floats(nx), *dtemb = nt ? alloc_floats(nt) : NULL;
    if (dtemb) for (int64_t i = 0; i < nt; i++) dtemb[i] = 0.5f; // accumulated into, not overwritten
    res_backward(&c, dx, dtemb);
    gradcheck_dir("resblock dx", res_loss, &c, c.x, dx, nx, 1e-2f, 2e-3, 3, 11);
    gradcheck_coords("resblock dx", res_loss, &c, c.x, dx, nx, 1e-2f, 2e-3, 3e-3, 20, 12);
    if (dtemb) {
        for (int64_t i = 0; i < nt; i++) dtemb[i] -= 0.5f;
        gradcheck_coords("resblock dtemb", res_loss, &c, c.temb, dtemb, nt, 1e-2f, 2e-3, 3e-3, 100, 13);
        gradcheck_coords("time_emb_proj.w", res_loss, &c, (float *)c.m.time_emb_proj.w, c.m.time_emb_proj.dw,
                         out * temb_dim, 1e-2f, 2e-3, 3e-3, 20, 14);
    }
    gradcheck_coords("norm1.w", res_loss, &c, (float *)c.m.norm1.w, c.m.norm1.dw, in, 1e-2f, 2e-3, 3e-3, 100, 15);
    gradcheck_coords("norm1.b", res_loss, &c, (float *)c.m.norm1.b, c.m.norm1.db, in, 1e-2f, 2e-3, 3e-3, 100, 16);
    gradcheck_coords("conv1.w", res_loss, &c, (float *)c.m.conv1.w, c.m.conv1.dw, out * in * 9, 1e-2f, 2e-3, 3e-3, 20, 17);
    gradcheck_coords("norm2.w", res_loss, &c, (float *)c.m.norm2.w, c.m.norm2.dw, out, 1e-2f, 2e-3, 3e-3, 100, 18);
    gradcheck_coords("conv2.b", res_loss, &c, (float *)c.m.conv2.b, c.m.conv2.db, out, 1e-2f, 2e-3, 3e-3, 100, 19);
    if (c.m.has_shortcut)
        gradcheck_coords("conv_shortcut.w", res_loss, &c, (float *)c.m.conv_shortcut.w, c.m.conv_shortcut.dw, out * in,
                         1e-2f, 2e-3, 3e-3, 20, 20);
    if (c.lora) {
        gradcheck_coords("conv1 lora down", res_loss, &c, (float *)c.lora->down, c.lora->ddown, 2 * in * 9, 1e-2f, 2e-3,
                         3e-3, 20, 21);
        gradcheck_coords("conv1 lora up", res_loss, &c, (float *)c.lora->up, c.lora->dup, out * 2, 1e-2f, 2e-3, 3e-3, 24, 22);
    }
    if (c.lora_t) {
        // as the UNet calls it for a block whose input needs no gradient: only the adapters'
        memset(c.lora_t->ddown, 0, (size_t)(2 * temb_dim) * sizeof(float));
        memset(c.lora_t->dup, 0, (size_t)(out * 2) * sizeof(float));
        memset(c.lora->ddown, 0, (size_t)(2 * in * 9) * sizeof(float));
        memset(c.lora->dup, 0, (size_t)(out * 2) * sizeof(float));
        res_loss(&c);
        resblock_backward(&c.m, NULL, NULL, c.dout, c.x, c.temb, c.N, c.H, c.W, c.work);
        gradcheck_coords("time_emb_proj lora down", res_loss, &c, (float *)c.lora_t->down, c.lora_t->ddown, 2 * temb_dim,
                         1e-2f, 2e-3, 3e-3, 100, 23);
        gradcheck_coords("time_emb_proj lora up", res_loss, &c, (float *)c.lora_t->up, c.lora_t->dup, out * 2, 1e-2f, 2e-3,
                         3e-3, 100, 24);
    }
    free(dx), free(dtemb);
    res_free(&c);
}

static void test_resblock_shortcut_temb_grads(void) { check_resblock(8, 12, 7, 0); }
static void test_resblock_identity_lora_grads(void) { check_resblock(8, 8, 5, 1); }
static void test_resblock_vae_no_temb_grads(void) { check_resblock(12, 8, 0, 0); }

// dx = NULL (nothing below needs it) must leave every parameter gradient as with dx.
static void test_resblock_skips_unneeded_dx(void) {
    ResCase c;
    res_init(&c, 8, 12, 7, 1);
    int n = c.p->n;
    float *dx = alloc_floats(c.N * 8 * c.H * c.W), *dtemb = alloc_floats(c.N * 7);
    res_backward(&c, dx, dtemb);
    float **full = calloc((size_t)n, sizeof *full);
    for (int i = 1; i < n; i += 2) { // gradients sit after their weights
        int64_t numel = c.p->numel[i / 2];
        full[i] = malloc((size_t)numel * sizeof(float));
        memcpy(full[i], c.p->bufs[i], (size_t)numel * sizeof(float));
        memset(c.p->bufs[i], 0, (size_t)numel * sizeof(float));
    }
    float *ddown = malloc((size_t)(2 * 8 * 9) * sizeof(float));
    memcpy(ddown, c.lora->ddown, (size_t)(2 * 8 * 9) * sizeof(float));
    memset(c.lora->ddown, 0, (size_t)(2 * 8 * 9) * sizeof(float));
    res_backward(&c, NULL, NULL);
    for (int i = 1; i < n; i += 2)
        CHECKF(memcmp(full[i], c.p->bufs[i], (size_t)c.p->numel[i / 2] * sizeof(float)) == 0, "%s grad differs without dx",
               c.p->names[i / 2]);
    CHECK(memcmp(ddown, c.lora->ddown, (size_t)(2 * 8 * 9) * sizeof(float)) == 0);
    for (int i = 0; i < n; i++) free(full[i]);
    free(full), free(ddown), free(dx), free(dtemb);
    res_free(&c);
}

// The forward against the definition composed of the naive ops.
static void test_resblock_forward_naive(void) {
    ResCase c;
    res_init(&c, 8, 12, 7, 0);
    ResBlock *m = &c.m;
    int64_t N = c.N, HW = c.H * c.W, in = 8, out = 12;
    float *a = alloc_floats(N * in * HW), *h = alloc_floats(N * out * HW), *t = alloc_floats(N * 7);
    float *tp = alloc_floats(N * out), *b = alloc_floats(N * out * HW), *ref = alloc_floats(N * out * HW);
    float *sc = alloc_floats(N * out * HW);
    groupnorm_silu_forward_naive(a, NULL, NULL, c.x, m->norm1.w, m->norm1.b, N, in, HW, 4, 1e-5f);
    Conv2dDims d1 = conv2d_dims(N, in, c.H, c.W, out, 3, 1, 1), d2 = conv2d_dims(N, out, c.H, c.W, out, 3, 1, 1);
    Conv2dDims ds = conv2d_dims(N, in, c.H, c.W, out, 1, 1, 0);
    conv2d_forward_naive(h, a, m->conv1.w, m->conv1.b, &d1);
    for (int64_t i = 0; i < N * 7; i++) t[i] = c.temb[i];
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < out; o++) {
            double s = m->time_emb_proj.b[o];
            for (int64_t k = 0; k < 7; k++) s += (double)m->time_emb_proj.w[o * 7 + k] * t[n * 7 + k];
            tp[n * out + o] = (float)s;
        }
    add_channel_bias_forward(h, tp, N, out, HW);
    groupnorm_silu_forward_naive(b, NULL, NULL, h, m->norm2.w, m->norm2.b, N, out, HW, 4, 1e-5f);
    conv2d_forward_naive(ref, b, m->conv2.w, m->conv2.b, &d2);
    conv2d_forward_naive(sc, c.x, m->conv_shortcut.w, m->conv_shortcut.b, &ds);
    add_into(ref, sc, N * out * HW);
    res_loss(&c);
    check_close("resblock forward vs naive", c.y, ref, N * out * HW, 0, 1e-5);
    free(a), free(h), free(t), free(tp), free(b), free(ref), free(sc);
    res_free(&c);
}

static void test_resblock_names(void) {
    ResBlock m;
    resblock_init(&m, 8, 12, 7, 4, 1e-5f);
    Params *p = params_new(1, 0);
    BlockVisitor v = {.param = alloc_param, .ctx = p};
    resblock_visit(&m, "down_blocks.1.resnets.0", &v);
    const char *want[] = {"norm1.weight", "norm1.bias", "conv1.weight", "conv1.bias", "time_emb_proj.weight",
                          "time_emb_proj.bias", "norm2.weight", "norm2.bias", "conv2.weight", "conv2.bias",
                          "conv_shortcut.weight", "conv_shortcut.bias"};
    const int64_t numel[] = {8, 8, 12 * 8 * 9, 12, 12 * 7, 12, 12, 12, 12 * 12 * 9, 12, 12 * 8, 12};
    CHECK(p->n_names == 12);
    for (int i = 0; i < 12 && i < p->n_names; i++) {
        char full[128];
        snprintf(full, sizeof full, "down_blocks.1.resnets.0.%s", want[i]);
        CHECKF(strcmp(p->names[i], full) == 0, "%s vs %s", p->names[i], full);
        CHECK(p->numel[i] == numel[i]);
    }
    params_free(p);
}

// ---- Transformer2DModel -------------------------------------------------------------------------

typedef struct {
    Transformer2D m;
    Params *p;
    LoraAdapter *lora_q, *lora_in;
    int64_t N, H, W, T;
    float *x, *ctx, *y, *dout, *work;
    Arena acts;
} TCase;

static void t_plan(void *ctx, Arena *a) {
    TCase *c = ctx;
    transformer2d_plan(&c->m, a, c->N, c->H, c->W, c->T);
}

static void t_init(TCase *c, int use_linear, int depth, int with_lora) {
    memset(c, 0, sizeof *c);
    c->N = 2, c->H = 4, c->W = 3, c->T = 5;
    int64_t C = 8, ctx_dim = 6;
    transformer2d_init(&c->m, C, 2, ctx_dim, depth, 4, use_linear);
    c->p = params_new(200, 1);
    BlockVisitor v = {.param = alloc_param, .ctx = c->p};
    transformer2d_visit(&c->m, "attn", &v);
    if (with_lora) { // on the last block's attn2.to_q (inner 8 x dim 8) and on proj_in
        c->lora_q = lora_new(3 * C, C * 3, 3, 400);
        c->m.blocks[depth - 1].attn2.q.lora = c->lora_q;
        c->lora_in = lora_new(2 * C, C * 2, 2, 500);
        if (use_linear) c->m.proj_in_lin.lora = c->lora_in;
        else c->m.proj_in_conv.lora = c->lora_in;
    }
    c->acts = plan_arena(t_plan, c);
    int64_t nx = c->N * C * c->H * c->W;
    c->x = alloc_randn(nx, 1.0f, 31);
    c->ctx = alloc_randn(c->N * c->T * ctx_dim, 1.0f, 32);
    c->y = alloc_floats(nx);
    c->dout = alloc_randn(nx, 1.0f, 33);
    c->work = alloc_floats((int64_t)transformer2d_work_floats(&c->m, c->N, c->H, c->W, c->T));
}

static void t_free(TCase *c) {
    params_free(c->p);
    if (c->lora_q) lora_free(c->lora_q), lora_free(c->lora_in);
    arena_free(&c->acts);
    transformer2d_free(&c->m);
    free(c->x), free(c->ctx), free(c->y), free(c->dout), free(c->work);
}

static double t_loss(void *ctx) {
    TCase *c = ctx;
    transformer2d_forward(&c->m, c->y, c->x, c->ctx, c->N, c->H, c->W, c->T, c->work);
    return dot_double(c->y, c->dout, c->N * c->m.C * c->H * c->W);
}

static void t_backward(TCase *c, float *dx, float *dctx) {
    t_loss(c);
    transformer2d_backward(&c->m, dx, dctx, c->dout, c->x, c->ctx, c->N, c->H, c->W, c->T, c->work);
}

static void check_transformer(int use_linear, int depth, int with_lora) {
    TCase c;
    t_init(&c, use_linear, depth, with_lora);
    int64_t C = c.m.C, nx = c.N * C * c.H * c.W, nc = c.N * c.T * c.m.ctx_dim;
    float *dx = alloc_floats(nx), *dctx = alloc_floats(nc);
    t_backward(&c, dx, dctx);
    gradcheck_dir("transformer dx", t_loss, &c, c.x, dx, nx, 1e-2f, 2e-3, 3, 41);
    gradcheck_coords("transformer dx", t_loss, &c, c.x, dx, nx, 1e-2f, 2e-3, 3e-3, 20, 42);
    gradcheck_dir("transformer dctx", t_loss, &c, c.ctx, dctx, nc, 1e-2f, 2e-3, 3, 43);
    gradcheck_coords("transformer dctx", t_loss, &c, c.ctx, dctx, nc, 1e-2f, 2e-3, 3e-3, 20, 44);
    BasicTransformerBlock *b0 = &c.m.blocks[0], *bl = &c.m.blocks[depth - 1];
    gradcheck_coords("norm.w", t_loss, &c, (float *)c.m.norm.w, c.m.norm.dw, C, 1e-2f, 2e-3, 3e-3, 100, 45);
    if (use_linear)
        gradcheck_coords("proj_in.w (linear)", t_loss, &c, (float *)c.m.proj_in_lin.w, c.m.proj_in_lin.dw, C * C, 1e-2f,
                         2e-3, 3e-3, 20, 46);
    else
        gradcheck_coords("proj_in.w (conv)", t_loss, &c, (float *)c.m.proj_in_conv.w, c.m.proj_in_conv.dw, C * C, 1e-2f,
                         2e-3, 3e-3, 20, 46);
    if (use_linear)
        gradcheck_coords("proj_out.b", t_loss, &c, (float *)c.m.proj_out_lin.b, c.m.proj_out_lin.db, C, 1e-2f, 2e-3,
                         3e-3, 100, 47);
    else
        gradcheck_coords("proj_out.w", t_loss, &c, (float *)c.m.proj_out_conv.w, c.m.proj_out_conv.dw, C * C, 1e-2f,
                         2e-3, 3e-3, 20, 47);
    gradcheck_coords("norm1.b", t_loss, &c, (float *)b0->norm1.b, b0->norm1.db, C, 1e-2f, 2e-3, 3e-3, 100, 48);
    gradcheck_coords("attn1.to_k", t_loss, &c, (float *)b0->attn1.k.w, b0->attn1.k.dw, C * C, 1e-2f, 2e-3, 3e-3, 20, 49);
    gradcheck_coords("attn2.to_v", t_loss, &c, (float *)bl->attn2.v.w, bl->attn2.v.dw, C * 6, 1e-2f, 2e-3, 3e-3, 20, 50);
    gradcheck_coords("attn2.to_out.b", t_loss, &c, (float *)bl->attn2.out.b, bl->attn2.out.db, C, 1e-2f, 2e-3, 3e-3, 100, 51);
    gradcheck_coords("norm3.w", t_loss, &c, (float *)bl->norm3.w, bl->norm3.dw, C, 1e-2f, 2e-3, 3e-3, 100, 52);
    gradcheck_coords("ff.net.0.proj.w", t_loss, &c, (float *)b0->ff_proj.w, b0->ff_proj.dw, 8 * C * C, 1e-2f, 2e-3, 3e-3,
                     20, 53);
    gradcheck_coords("ff.net.2.b", t_loss, &c, (float *)bl->ff_out.b, bl->ff_out.db, C, 1e-2f, 2e-3, 3e-3, 100, 54);
    if (with_lora) {
        gradcheck_coords("attn2.to_q lora down", t_loss, &c, (float *)c.lora_q->down, c.lora_q->ddown, 3 * C, 1e-2f, 2e-3,
                         3e-3, 100, 55);
        gradcheck_coords("attn2.to_q lora up", t_loss, &c, (float *)c.lora_q->up, c.lora_q->dup, 3 * C, 1e-2f, 2e-3, 3e-3,
                         100, 56);
        gradcheck_coords("proj_in lora down", t_loss, &c, (float *)c.lora_in->down, c.lora_in->ddown, 2 * C, 1e-2f, 2e-3,
                         3e-3, 100, 57);
    }
    free(dx), free(dctx);
    t_free(&c);
}

static void test_transformer_conv_proj_grads(void) { check_transformer(0, 1, 1); }
static void test_transformer_linear_depth2_grads(void) { check_transformer(1, 2, 1); }

// LoRA training: every base weight frozen, one trainable adapter (the last block's attn2.to_q),
// a frozen one (proj_in). Backward with neither dx nor dctx must give exactly the adapter
// gradients of a backward that computes everything.
static void test_transformer_lora_only_backward(void) {
    TCase c;
    t_init(&c, 0, 2, 1);
    int64_t C = c.m.C, nx = c.N * C * c.H * c.W, nc = c.N * c.T * c.m.ctx_dim;
    c.m.norm.dw = c.m.norm.db = NULL;
    c.m.proj_in_conv.dw = c.m.proj_in_conv.db = NULL, c.m.proj_out_conv.dw = c.m.proj_out_conv.db = NULL;
    float *in_ddown = c.lora_in->ddown, *in_dup = c.lora_in->dup;
    c.lora_in->ddown = c.lora_in->dup = NULL; // frozen adapter: still applied in forward
    for (int d = 0; d < c.m.depth; d++) {
        BasicTransformerBlock *b = &c.m.blocks[d];
        NormModule *norms[] = {&b->norm1, &b->norm2, &b->norm3};
        for (int k = 0; k < 3; k++) norms[k]->dw = norms[k]->db = NULL;
        Linear *lin[] = {&b->attn1.q, &b->attn1.k, &b->attn1.v, &b->attn1.out, &b->attn2.q, &b->attn2.k,
                         &b->attn2.v, &b->attn2.out, &b->ff_proj, &b->ff_out};
        for (int k = 0; k < 10; k++) lin[k]->dw = lin[k]->db = NULL;
    }
    CHECK(transformer2d_wants_grad(&c.m));
    float *dx = alloc_floats(nx), *dctx = alloc_floats(nc);
    t_backward(&c, dx, dctx);
    float *ref_down = alloc_floats(3 * C), *ref_up = alloc_floats(3 * C);
    memcpy(ref_down, c.lora_q->ddown, (size_t)(3 * C) * sizeof(float));
    memcpy(ref_up, c.lora_q->dup, (size_t)(3 * C) * sizeof(float));
    memset(c.lora_q->ddown, 0, (size_t)(3 * C) * sizeof(float));
    memset(c.lora_q->dup, 0, (size_t)(3 * C) * sizeof(float));
    t_backward(&c, NULL, NULL);
    CHECK(memcmp(ref_down, c.lora_q->ddown, (size_t)(3 * C) * sizeof(float)) == 0);
    CHECK(memcmp(ref_up, c.lora_q->dup, (size_t)(3 * C) * sizeof(float)) == 0);
    CHECK(max_abs(ref_up, 3 * C) > 0 && max_abs(ref_down, 3 * C) > 0);
    // and the adapter gradients are right in this configuration too
    gradcheck_coords("attn2.to_q lora down (frozen base)", t_loss, &c, (float *)c.lora_q->down, ref_down, 3 * C, 1e-2f,
                     2e-3, 3e-3, 100, 58);
    free(ref_down), free(ref_up), free(dx), free(dctx);
    c.lora_in->ddown = in_ddown, c.lora_in->dup = in_dup;
    t_free(&c);
}

// Only dctx requested (frozen weights, no dx): the blocks must still run for the context's
// gradient, and give exactly what a backward computing everything gives.
static void test_transformer_dctx_only_backward(void) {
    TCase c;
    t_init(&c, 1, 2, 0);
    int64_t nx = c.N * c.m.C * c.H * c.W, nc = c.N * c.T * c.m.ctx_dim;
    float *dx = alloc_floats(nx), *full = alloc_floats(nc), *only = alloc_floats(nc);
    t_backward(&c, dx, full);
    // freeze everything: clear every gradient pointer the visitor set
    BlockVisitor v = {.param = unset_grad};
    transformer2d_visit(&c.m, "attn", &v);
    CHECK(!transformer2d_wants_grad(&c.m));
    t_backward(&c, NULL, only);
    CHECK(memcmp(full, only, (size_t)nc * sizeof(float)) == 0);
    CHECK(max_abs(only, nc) > 0);
    free(dx), free(full), free(only);
    t_free(&c);
}

static void test_transformer_names(void) {
    Transformer2D m;
    transformer2d_init(&m, 8, 2, 6, 1, 4, 0);
    Params *p = params_new(1, 0);
    BlockVisitor v = {.param = alloc_param, .ctx = p};
    transformer2d_visit(&m, "mid_block.attentions.0", &v);
    const char *want[] = {
        "norm.weight", "norm.bias", "proj_in.weight", "proj_in.bias",
        "transformer_blocks.0.norm1.weight", "transformer_blocks.0.norm1.bias",
        "transformer_blocks.0.attn1.to_q.weight", "transformer_blocks.0.attn1.to_k.weight",
        "transformer_blocks.0.attn1.to_v.weight", "transformer_blocks.0.attn1.to_out.0.weight",
        "transformer_blocks.0.attn1.to_out.0.bias", "transformer_blocks.0.norm2.weight",
        "transformer_blocks.0.norm2.bias", "transformer_blocks.0.attn2.to_q.weight",
        "transformer_blocks.0.attn2.to_k.weight", "transformer_blocks.0.attn2.to_v.weight",
        "transformer_blocks.0.attn2.to_out.0.weight", "transformer_blocks.0.attn2.to_out.0.bias",
        "transformer_blocks.0.norm3.weight", "transformer_blocks.0.norm3.bias",
        "transformer_blocks.0.ff.net.0.proj.weight", "transformer_blocks.0.ff.net.0.proj.bias",
        "transformer_blocks.0.ff.net.2.weight", "transformer_blocks.0.ff.net.2.bias",
        "proj_out.weight", "proj_out.bias"};
    const int64_t numel[] = {8, 8, 64, 8, 8, 8, 64, 64, 64, 64, 8, 8, 8, 64, 48, 48, 64, 8, 8, 8, 512, 64, 256, 8, 64, 8};
    int n = (int)(sizeof want / sizeof want[0]);
    CHECKF(p->n_names == n, "%d names", p->n_names);
    for (int i = 0; i < n && i < p->n_names; i++) {
        char full[128];
        snprintf(full, sizeof full, "mid_block.attentions.0.%s", want[i]);
        CHECKF(strcmp(p->names[i], full) == 0, "%s vs %s", p->names[i], full);
        CHECKF(p->numel[i] == numel[i], "%s: %lld", full, (long long)p->numel[i]);
    }
    params_free(p);
    transformer2d_free(&m);
}

// ---- Downsample2D / Upsample2D ------------------------------------------------------------------

typedef struct {
    Downsample2D d;
    Upsample2D u;
    int up;
    Params *p;
    LoraAdapter *lora;
    int64_t N, C, H, W, OH, OW;
    float *x, *y, *dout, *work;
    Arena acts;
} RsCase;

static void rs_plan(void *ctx, Arena *a) {
    RsCase *c = ctx;
    if (c->up) upsample_plan(&c->u, a, c->N, c->H, c->W);
    else downsample_plan(&c->d, a, c->N, c->H, c->W);
}

static double rs_loss(void *ctx) {
    RsCase *c = ctx;
    if (c->up) upsample_forward(&c->u, c->y, c->x, c->N, c->H, c->W, c->work);
    else downsample_forward(&c->d, c->y, c->x, c->N, c->H, c->W, c->work);
    return dot_double(c->y, c->dout, c->N * c->C * c->OH * c->OW);
}

static void check_resample(int up, int vae_pad, int with_lora) {
    RsCase c;
    memset(&c, 0, sizeof c);
    c.up = up, c.N = 2, c.C = 5, c.H = up ? 3 : 7, c.W = up ? 4 : 6;
    c.p = params_new(600, 1);
    BlockVisitor v = {.param = alloc_param, .ctx = c.p};
    Conv2d *conv;
    if (up) {
        upsample_init(&c.u, c.C, c.C);
        upsample_visit(&c.u, "up", &v);
        c.OH = 2 * c.H, c.OW = 2 * c.W;
        conv = &c.u.conv;
    } else {
        downsample_init(&c.d, c.C, c.C, vae_pad);
        downsample_visit(&c.d, "down", &v);
        c.OH = downsample_out_h(&c.d, c.H), c.OW = downsample_out_w(&c.d, c.W);
        conv = &c.d.conv;
        // torch: floor((H + pads - 3) / 2) + 1 → 7 -> 4 (pad 1+1) or 3 (pad 0+1); 6 -> 3 either way
        CHECK(c.OH == (vae_pad ? 3 : 4) && c.OW == 3);
    }
    if (with_lora) {
        c.lora = lora_new(2 * c.C * 9, c.C * 2, 2, 700);
        conv->lora = c.lora;
    }
    c.acts = plan_arena(rs_plan, &c);
    int64_t nx = c.N * c.C * c.H * c.W, ny = c.N * c.C * c.OH * c.OW;
    c.x = alloc_randn(nx, 1.0f, 61);
    c.y = alloc_floats(ny);
    c.dout = alloc_randn(ny, 1.0f, 62);
    c.work = alloc_floats((int64_t)(up ? upsample_work_floats(&c.u, c.N, c.H, c.W) : downsample_work_floats(&c.d, c.N, c.H, c.W)));
    // forward against the definition: naive (upsample, then) conv with explicit padding
    float *ref = alloc_floats(ny), *u = up ? alloc_floats(4 * nx) : NULL;
    Conv2dDims d = {.N = c.N, .IC = c.C, .H = up ? 2 * c.H : c.H, .W = up ? 2 * c.W : c.W, .OC = c.C, .KH = 3, .KW = 3,
                    .stride = up ? 1 : 2, .pad_top = up || !vae_pad, .pad_bottom = 1, .pad_left = up || !vae_pad,
                    .pad_right = 1};
    if (up) upsample_nearest2x_forward_naive(u, c.x, c.N * c.C, c.H, c.W);
    conv2d_forward_naive(ref, up ? u : c.x, conv->w, conv->b, &d);
    if (with_lora) { // + scale · up(down(x)): down with the base geometry, up a 1x1
        Conv2dDims dd = d;
        dd.OC = 2;
        float *h = alloc_floats(c.N * 2 * c.OH * c.OW);
        conv2d_forward_naive(h, up ? u : c.x, c.lora->down, NULL, &dd);
        for (int64_t n = 0; n < c.N; n++)
            for (int64_t o = 0; o < c.C; o++)
                for (int64_t i = 0; i < c.OH * c.OW; i++) {
                    double acc = 0;
                    for (int r = 0; r < 2; r++) acc += (double)c.lora->up[o * 2 + r] * h[(n * 2 + r) * c.OH * c.OW + i];
                    ref[(n * c.C + o) * c.OH * c.OW + i] += (float)(c.lora->scale * acc);
                }
        free(h);
    }
    rs_loss(&c);
    check_close(up ? "upsample forward vs naive" : "downsample forward vs naive", c.y, ref, ny, 0, 1e-5);
    free(ref), free(u);
    float *dx = alloc_floats(nx);
    rs_loss(&c);
    if (up) upsample_backward(&c.u, dx, c.dout, c.x, c.N, c.H, c.W, c.work);
    else downsample_backward(&c.d, dx, c.dout, c.x, c.N, c.H, c.W, c.work);
    gradcheck_dir("resample dx", rs_loss, &c, c.x, dx, nx, 1e-2f, 2e-3, 3, 63);
    gradcheck_coords("resample dx", rs_loss, &c, c.x, dx, nx, 1e-2f, 2e-3, 3e-3, 30, 64);
    gradcheck_coords("resample conv.w", rs_loss, &c, (float *)conv->w, conv->dw, c.C * c.C * 9, 1e-2f, 2e-3, 3e-3, 30, 65);
    gradcheck_coords("resample conv.b", rs_loss, &c, (float *)conv->b, conv->db, c.C, 1e-2f, 2e-3, 3e-3, 30, 66);
    if (c.lora)
        gradcheck_coords("resample lora down", rs_loss, &c, (float *)c.lora->down, c.lora->ddown, 2 * c.C * 9, 1e-2f, 2e-3,
                         3e-3, 30, 67);
    CHECK(strcmp(c.p->names[0], up ? "up.conv.weight" : "down.conv.weight") == 0);
    free(dx);
    params_free(c.p);
    if (c.lora) lora_free(c.lora);
    arena_free(&c.acts);
    free(c.x), free(c.y), free(c.dout), free(c.work);
}

static void test_downsample_unet_grads(void) { check_resample(0, 0, 1); }
static void test_downsample_vae_pad_grads(void) { check_resample(0, 1, 0); }
static void test_upsample_grads(void) { check_resample(1, 0, 1); }

int main(void) {
    sdl_set_threads(1); // tiny blocks: threads only add overhead on busy shared cores
    RUN(test_resblock_names);
    RUN(test_resblock_forward_naive);
    RUN(test_resblock_shortcut_temb_grads);
    RUN(test_resblock_identity_lora_grads);
    RUN(test_resblock_vae_no_temb_grads);
    RUN(test_resblock_skips_unneeded_dx);
    RUN(test_transformer_names);
    RUN(test_transformer_conv_proj_grads);
    RUN(test_transformer_linear_depth2_grads);
    RUN(test_transformer_lora_only_backward);
    RUN(test_transformer_dctx_only_backward);
    RUN(test_downsample_unet_grads);
    RUN(test_downsample_vae_pad_grads);
    RUN(test_upsample_grads);
    return test_finish();
}
