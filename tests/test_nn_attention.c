// test_nn_attention.c — the nn/ attention module (projections + tiled core): finite-difference
// gradients for the input, the context (cross-attention, accumulated +=), the projection
// weights and a LoRA adapter on to_q; and the forward against a direct evaluation.
#include "harness.h"
#include "gradcheck.h"
#include "nn/attention.h"
#include "ops/attention.h"
#include "ops/linear.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    Attention m;
    LoraAdapter lq;
    AttentionSaved s;
    int64_t B, Tq, Tk, dim, cdim;
    float *x, *ctx, *y, *dout, *work;
    int cross;
} Case;

static float *lin_w(int64_t out, int64_t in, uint64_t seed) { return alloc_randn(out * in, 1.0f / sqrtf((float)in), seed); }

static void case_init(Case *c, int cross, int causal) {
    memset(c, 0, sizeof *c);
    c->B = 2, c->Tq = 9, c->Tk = cross ? 5 : 9, c->dim = 12, c->cdim = cross ? 7 : 12, c->cross = cross;
    int64_t heads = 3, hd = 4, inner = heads * hd;
    c->m.heads = heads, c->m.head_dim = hd, c->m.causal = causal;
    c->m.q = (Linear){.w = lin_w(inner, c->dim, 1), .dw = alloc_floats(inner * c->dim), .in = c->dim, .out = inner};
    c->m.k = (Linear){.w = lin_w(inner, c->cdim, 2), .dw = alloc_floats(inner * c->cdim), .in = c->cdim, .out = inner};
    c->m.v = (Linear){.w = lin_w(inner, c->cdim, 3), .b = alloc_randn(inner, 0.1f, 4), .in = c->cdim, .out = inner};
    c->m.out = (Linear){.w = lin_w(c->dim, inner, 5), .b = alloc_randn(c->dim, 0.1f, 6), .db = alloc_floats(c->dim),
                        .in = inner, .out = c->dim};
    c->lq = (LoraAdapter){.down = alloc_randn(2 * c->dim, 0.3f, 7), .up = alloc_randn(inner * 2, 0.3f, 8),
                          .ddown = alloc_floats(2 * c->dim), .dup = alloc_floats(inner * 2), .rank = 2, .scale = 0.5f,
                          .h = alloc_floats(c->B * c->Tq * 2)};
    c->m.q.lora = &c->lq;
    size_t sz[5];
    attention_module_saved_floats(&c->m, c->B, c->Tq, c->Tk, sz);
    c->s = (AttentionSaved){alloc_floats((int64_t)sz[0]), alloc_floats((int64_t)sz[1]), alloc_floats((int64_t)sz[2]),
                            alloc_floats((int64_t)sz[3]), alloc_floats((int64_t)sz[4])};
    c->x = alloc_randn(c->B * c->Tq * c->dim, 1.0f, 9);
    c->ctx = cross ? alloc_randn(c->B * c->Tk * c->cdim, 1.0f, 10) : NULL;
    c->y = alloc_floats(c->B * c->Tq * c->dim);
    c->dout = alloc_randn(c->B * c->Tq * c->dim, 1.0f, 11);
    c->work = alloc_floats((int64_t)attention_module_work_floats(&c->m, c->B, c->Tq, c->Tk) + 1);
}

static void case_free(Case *c) {
    free((void *)c->m.q.w), free(c->m.q.dw), free((void *)c->m.k.w), free(c->m.k.dw);
    free((void *)c->m.v.w), free((void *)c->m.v.b), free((void *)c->m.out.w), free((void *)c->m.out.b), free(c->m.out.db);
    free((void *)c->lq.down), free((void *)c->lq.up), free(c->lq.ddown), free(c->lq.dup), free(c->lq.h);
    free(c->s.q), free(c->s.k), free(c->s.v), free(c->s.o), free(c->s.lse);
    free(c->x), free(c->ctx), free(c->y), free(c->dout), free(c->work);
}

static double loss(void *ctx) {
    Case *c = ctx;
    attention_module_forward(&c->m, c->y, &c->s, c->x, c->ctx, c->B, c->Tq, c->Tk, c->work);
    return dot_double(c->y, c->dout, c->B * c->Tq * c->dim);
}

static void check_case(int cross, int causal) {
    Case c;
    case_init(&c, cross, causal);
    int64_t nx = c.B * c.Tq * c.dim, nc = cross ? c.B * c.Tk * c.cdim : 0;
    float *dx = alloc_floats(nx), *dctx = cross ? alloc_floats(nc) : NULL;
    if (cross) for (int64_t i = 0; i < nc; i++) dctx[i] = 0.25f; // must be accumulated into, not overwritten
    loss(&c);
    attention_module_backward(&c.m, dx, dctx, c.dout, c.x, c.ctx, &c.s, c.B, c.Tq, c.Tk, c.work);
    gradcheck_coords("dx", loss, &c, c.x, dx, nx, 1e-2f, 1e-3, 2e-3, 40, 1);
    gradcheck_dir("dx (dir)", loss, &c, c.x, dx, nx, 1e-2f, 2e-3, 2, 2);
    if (cross) {
        for (int64_t i = 0; i < nc; i++) dctx[i] -= 0.25f;
        gradcheck_coords("dctx", loss, &c, c.ctx, dctx, nc, 1e-2f, 1e-3, 2e-3, 40, 3);
    }
    gradcheck_coords("d to_q.w", loss, &c, (float *)c.m.q.w, c.m.q.dw, c.m.q.out * c.m.q.in, 1e-2f, 1e-3, 2e-3, 30, 4);
    gradcheck_coords("d to_k.w", loss, &c, (float *)c.m.k.w, c.m.k.dw, c.m.k.out * c.m.k.in, 1e-2f, 1e-3, 2e-3, 30, 5);
    gradcheck_coords("d to_out.b", loss, &c, (float *)c.m.out.b, c.m.out.db, c.dim, 1e-2f, 1e-3, 2e-3, 100, 6);
    gradcheck_coords("d lora_down(q)", loss, &c, (float *)c.lq.down, c.lq.ddown, 2 * c.dim, 1e-2f, 1e-3, 2e-3, 100, 7);
    gradcheck_coords("d lora_up(q)", loss, &c, (float *)c.lq.up, c.lq.dup, 2 * 12, 1e-2f, 1e-3, 2e-3, 100, 8);
    free(dx), free(dctx);
    case_free(&c);
}

static void test_self_attention_grads(void) { check_case(0, 0); }
static void test_causal_self_attention_grads(void) { check_case(0, 1); }
static void test_cross_attention_grads(void) { check_case(1, 0); }

// Forward against a direct evaluation: projections by the naive linear, core by the naive attention.
static void test_forward_direct(void) {
    Case c;
    case_init(&c, 1, 0);
    c.m.q.lora = NULL;
    int64_t inner = c.m.heads * c.m.head_dim;
    float *q = alloc_floats(c.B * c.Tq * inner), *k = alloc_floats(c.B * c.Tk * inner), *v = alloc_floats(c.B * c.Tk * inner);
    float *o = alloc_floats(c.B * c.Tq * inner), *lse = alloc_floats(c.B * c.m.heads * c.Tq), *ref = alloc_floats(c.B * c.Tq * c.dim);
    linear_forward_naive(q, c.x, c.m.q.w, NULL, c.B * c.Tq, c.dim, inner);
    linear_forward_naive(k, c.ctx, c.m.k.w, NULL, c.B * c.Tk, c.cdim, inner);
    linear_forward_naive(v, c.ctx, c.m.v.w, c.m.v.b, c.B * c.Tk, c.cdim, inner);
    AttnDims d = {.B = c.B, .Tq = c.Tq, .Tk = c.Tk, .NH = c.m.heads, .HD = c.m.head_dim};
    attention_forward_naive(o, lse, q, k, v, &d);
    linear_forward_naive(ref, o, c.m.out.w, c.m.out.b, c.B * c.Tq, inner, c.dim);
    loss(&c);
    check_close("attention module forward", c.y, ref, c.B * c.Tq * c.dim, 1e-6, 1e-5);
    free(q), free(k), free(v), free(o), free(lse), free(ref);
    case_free(&c);
}

int main(void) {
    RUN(test_forward_direct);
    RUN(test_self_attention_grads);
    RUN(test_causal_self_attention_grads);
    RUN(test_cross_attention_grads);
    return test_finish();
}
