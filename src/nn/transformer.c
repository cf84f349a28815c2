// transformer.c — Transformer2DModel and BasicTransformerBlock forward/backward (see transformer.h).
#include "nn/transformer.h"
#include "base/error.h"
#include "ops/activation.h"
#include "ops/norm.h"
#include "ops/tensor.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *T_CLASS = "Transformer2DModel";

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

// ---- BasicTransformerBlock ----------------------------------------------------------------

static Attention attention_init(int64_t dim, int64_t ctx_dim, int64_t heads, int64_t head_dim) {
    int64_t inner = heads * head_dim;
    return (Attention){.q = {.in = dim, .out = inner}, .k = {.in = ctx_dim, .out = inner},
                       .v = {.in = ctx_dim, .out = inner}, .out = {.in = inner, .out = dim},
                       .heads = heads, .head_dim = head_dim, .causal = 0};
}

void basic_transformer_init(BasicTransformerBlock *m, int64_t dim, int64_t heads, int64_t head_dim, int64_t ctx_dim) {
    memset(m, 0, sizeof *m);
    m->dim = dim, m->ff_inner = 4 * dim, m->ctx_dim = ctx_dim;
    m->norm1 = (NormModule){.C = dim, .groups = 0, .eps = 1e-5f};
    m->norm2 = m->norm1, m->norm3 = m->norm1;
    m->attn1 = attention_init(dim, dim, heads, head_dim);
    m->attn2 = attention_init(dim, ctx_dim, heads, head_dim);
    m->ff_proj = (Linear){.in = dim, .out = 2 * m->ff_inner};
    m->ff_out = (Linear){.in = m->ff_inner, .out = dim};
}

static void visit_attention(BlockVisitor *v, const char *prefix, const char *name, Attention *a) {
    char p[512];
    snprintf(p, sizeof p, "%s.%s", prefix, name);
    block_visit_linear(v, p, "to_q", &a->q, 0, T_CLASS);
    block_visit_linear(v, p, "to_k", &a->k, 0, T_CLASS);
    block_visit_linear(v, p, "to_v", &a->v, 0, T_CLASS);
    block_visit_linear(v, p, "to_out.0", &a->out, 1, T_CLASS); // to_out.1 is Dropout
}

void basic_transformer_visit(BasicTransformerBlock *m, const char *prefix, BlockVisitor *v) {
    block_visit_norm(v, prefix, "norm1", &m->norm1);
    visit_attention(v, prefix, "attn1", &m->attn1);
    block_visit_norm(v, prefix, "norm2", &m->norm2);
    visit_attention(v, prefix, "attn2", &m->attn2);
    block_visit_norm(v, prefix, "norm3", &m->norm3);
    block_visit_linear(v, prefix, "ff.net.0.proj", &m->ff_proj, 1, T_CLASS); // ff.net.1 is Dropout
    block_visit_linear(v, prefix, "ff.net.2", &m->ff_out, 1, T_CLASS);
}

static int attention_wants_grad(const Attention *a) {
    return linear_wants_grad(&a->q) || linear_wants_grad(&a->k) || linear_wants_grad(&a->v) ||
           linear_wants_grad(&a->out);
}

int basic_transformer_wants_grad(const BasicTransformerBlock *m) {
    return norm_wants_grad(&m->norm1) || norm_wants_grad(&m->norm2) || norm_wants_grad(&m->norm3) ||
           attention_wants_grad(&m->attn1) || attention_wants_grad(&m->attn2) || linear_wants_grad(&m->ff_proj) ||
           linear_wants_grad(&m->ff_out);
}

static void plan_attention(Attention *a, AttentionSaved *s, Arena *acts, int64_t N, int64_t Tq, int64_t Tk) {
    size_t sz[5];
    attention_module_saved_floats(a, N, Tq, Tk, sz);
    s->q = arena_floats(acts, sz[0]);
    s->k = arena_floats(acts, sz[1]);
    s->v = arena_floats(acts, sz[2]);
    s->o = arena_floats(acts, sz[3]);
    s->lse = arena_floats(acts, sz[4]);
    linear_plan_lora(&a->q, acts, N * Tq);
    linear_plan_lora(&a->k, acts, N * Tk);
    linear_plan_lora(&a->v, acts, N * Tk);
    linear_plan_lora(&a->out, acts, N * Tq);
}

void basic_transformer_plan(BasicTransformerBlock *m, Arena *acts, int64_t N, int64_t T, int64_t Tctx) {
    BasicTransformerSaved *s = &m->s;
    size_t M = (size_t)(N * T);
    s->mean1 = arena_floats(acts, M), s->rstd1 = arena_floats(acts, M);
    s->mean2 = arena_floats(acts, M), s->rstd2 = arena_floats(acts, M);
    s->mean3 = arena_floats(acts, M), s->rstd3 = arena_floats(acts, M);
    plan_attention(&m->attn1, &s->a1, acts, N, T, T);
    plan_attention(&m->attn2, &s->a2, acts, N, T, Tctx);
    s->x1 = arena_floats(acts, M * (size_t)m->dim);
    s->x2 = arena_floats(acts, M * (size_t)m->dim);
    s->f = arena_floats(acts, M * (size_t)(2 * m->ff_inner));
    linear_plan_lora(&m->ff_proj, acts, N * T);
    linear_plan_lora(&m->ff_out, acts, N * T);
}

// Work layout (floats), M = N·T:
//   n   (M, dim)         LayerNorm output (forward and recomputed in backward)
//   d   (M, dim)         backward: a sub-block's input grad
//   g   (M, 2·ff_inner)  GEGLU output (first half); backward: then the GEGLU input grad
//   dg  (M, ff_inner)    backward: GEGLU output grad
//   mod                  attention / linear module work
size_t basic_transformer_work_floats(const BasicTransformerBlock *m, int64_t N, int64_t T, int64_t Tctx) {
    int64_t M = N * T;
    size_t mod = max_sz(attention_module_work_floats(&m->attn1, N, T, T),
                        attention_module_work_floats(&m->attn2, N, T, Tctx));
    mod = max_sz(mod, max_sz(linear_module_work_floats(&m->ff_proj, M), linear_module_work_floats(&m->ff_out, M)));
    return (size_t)(2 * M * m->dim + 3 * M * m->ff_inner) + mod;
}

void basic_transformer_forward(BasicTransformerBlock *m, float *out, const float *x, const float *ctx, int64_t N,
                               int64_t T, int64_t Tctx, float *work) {
    BasicTransformerSaved *s = &m->s;
    int64_t M = N * T, D = m->dim, F = m->ff_inner;
    float *n = work, *g = n + 2 * M * D, *mod = g + 3 * M * F;
    layernorm_forward(n, s->mean1, s->rstd1, x, m->norm1.w, m->norm1.b, M, D, m->norm1.eps);
    attention_module_forward(&m->attn1, s->x1, &s->a1, n, NULL, N, T, T, mod);
    add_into(s->x1, x, M * D);
    layernorm_forward(n, s->mean2, s->rstd2, s->x1, m->norm2.w, m->norm2.b, M, D, m->norm2.eps);
    attention_module_forward(&m->attn2, s->x2, &s->a2, n, ctx, N, T, Tctx, mod);
    add_into(s->x2, s->x1, M * D);
    layernorm_forward(n, s->mean3, s->rstd3, s->x2, m->norm3.w, m->norm3.b, M, D, m->norm3.eps);
    linear_module_forward(&m->ff_proj, s->f, n, M);
    geglu_forward(g, s->f, M, F);
    linear_module_forward(&m->ff_out, out, g, M);
    add_into(out, s->x2, M * D);
}

void basic_transformer_backward(BasicTransformerBlock *m, float *dt, int need_dx, float *dctx, const float *x,
                                const float *ctx, int64_t N, int64_t T, int64_t Tctx, float *work) {
    BasicTransformerSaved *s = &m->s;
    int64_t M = N * T, D = m->dim, F = m->ff_inner;
    float *n = work, *d = n + M * D, *g = d + M * D, *dg = g + 2 * M * F, *mod = dg + M * F;

    // out = ff_out(geglu(ff_proj(norm3(x2)))) + x2; dt is also dL/dx2's residual part.
    if (linear_needs_input(&m->ff_out)) geglu_forward(g, s->f, M, F);
    linear_module_backward(&m->ff_out, dg, dt, g, M, mod);
    geglu_backward(g, dg, s->f, M, F);                                     // g := d(ff_proj out)
    if (linear_needs_input(&m->ff_proj))
        layernorm_forward(n, NULL, NULL, s->x2, m->norm3.w, m->norm3.b, M, D, m->norm3.eps);
    linear_module_backward(&m->ff_proj, d, g, n, M, mod);
    layernorm_backward(d, m->norm3.dw, m->norm3.db, d, s->x2, m->norm3.w, s->mean3, s->rstd3, M, D);
    add_into(dt, d, M * D);                                                // dt = dL/dx2

    // x2 = attn2(norm2(x1), ctx) + x1
    layernorm_forward(n, NULL, NULL, s->x1, m->norm2.w, m->norm2.b, M, D, m->norm2.eps);
    attention_module_backward(&m->attn2, d, dctx, dt, n, ctx, &s->a2, N, T, Tctx, mod);
    layernorm_backward(d, m->norm2.dw, m->norm2.db, d, s->x1, m->norm2.w, s->mean2, s->rstd2, M, D);
    add_into(dt, d, M * D);                                                // dt = dL/dx1

    // x1 = attn1(norm1(x)) + x
    int need_n = need_dx || norm_wants_grad(&m->norm1);
    if (!need_n && !attention_wants_grad(&m->attn1)) return;
    layernorm_forward(n, NULL, NULL, x, m->norm1.w, m->norm1.b, M, D, m->norm1.eps);
    attention_module_backward(&m->attn1, need_n ? d : NULL, NULL, dt, n, NULL, &s->a1, N, T, T, mod);
    if (!need_n) return;
    layernorm_backward(need_dx ? d : NULL, m->norm1.dw, m->norm1.db, d, x, m->norm1.w, s->mean1, s->rstd1, M, D);
    if (need_dx) add_into(dt, d, M * D);                                   // dt = dL/dx
}

// ---- Transformer2DModel -------------------------------------------------------------------

void transformer2d_init(Transformer2D *m, int64_t C, int64_t heads, int64_t ctx_dim, int depth, int64_t groups,
                        int use_linear) {
    SDL_ASSERT(heads > 0 && C >= heads && depth >= 1 && depth <= TRANSFORMER_MAX_DEPTH && groups > 0 && C % groups == 0);
    memset(m, 0, sizeof *m);
    m->C = C, m->heads = heads, m->head_dim = C / heads, m->inner = heads * (C / heads);
    m->ctx_dim = ctx_dim, m->depth = depth, m->use_linear = use_linear;
    m->norm = (NormModule){.C = C, .groups = groups, .eps = 1e-6f};
    m->proj_in_conv = conv_module(NULL, NULL, C, m->inner, 1, 1, 0);
    m->proj_out_conv = conv_module(NULL, NULL, m->inner, C, 1, 1, 0);
    m->proj_in_lin = (Linear){.in = C, .out = m->inner};
    m->proj_out_lin = (Linear){.in = m->inner, .out = C};
    m->blocks = calloc((size_t)depth, sizeof *m->blocks);
    m->s.t = calloc((size_t)depth + 1, sizeof *m->s.t);
    SDL_ASSERT(m->blocks != NULL && m->s.t != NULL);
    for (int d = 0; d < depth; d++) basic_transformer_init(&m->blocks[d], m->inner, heads, m->head_dim, ctx_dim);
}

void transformer2d_free(Transformer2D *m) {
    free(m->blocks);
    free(m->s.t);
    m->blocks = NULL;
    m->s.t = NULL;
}

void transformer2d_visit(Transformer2D *m, const char *prefix, BlockVisitor *v) {
    block_visit_norm(v, prefix, "norm", &m->norm);
    if (m->use_linear) block_visit_linear(v, prefix, "proj_in", &m->proj_in_lin, 1, T_CLASS);
    else block_visit_conv(v, prefix, "proj_in", &m->proj_in_conv, T_CLASS);
    char p[512];
    for (int d = 0; d < m->depth; d++) {
        snprintf(p, sizeof p, "%s.transformer_blocks.%d", prefix, d);
        basic_transformer_visit(&m->blocks[d], p, v);
    }
    if (m->use_linear) block_visit_linear(v, prefix, "proj_out", &m->proj_out_lin, 1, T_CLASS);
    else block_visit_conv(v, prefix, "proj_out", &m->proj_out_conv, T_CLASS);
}

static int proj_in_wants_grad(const Transformer2D *m) {
    return m->use_linear ? linear_wants_grad(&m->proj_in_lin) : conv_wants_grad(&m->proj_in_conv);
}
static int proj_out_wants_grad(const Transformer2D *m) {
    return m->use_linear ? linear_wants_grad(&m->proj_out_lin) : conv_wants_grad(&m->proj_out_conv);
}

int transformer2d_wants_grad(const Transformer2D *m) {
    if (norm_wants_grad(&m->norm) || proj_in_wants_grad(m) || proj_out_wants_grad(m)) return 1;
    for (int d = 0; d < m->depth; d++)
        if (basic_transformer_wants_grad(&m->blocks[d])) return 1;
    return 0;
}

void transformer2d_plan(Transformer2D *m, Arena *acts, int64_t N, int64_t H, int64_t W, int64_t Tctx) {
    int64_t HW = H * W;
    m->s.mean = arena_floats(acts, (size_t)(N * m->norm.groups));
    m->s.rstd = arena_floats(acts, (size_t)(N * m->norm.groups));
    // (the pointer array is the module's own: an arena region may be shared by several blocks
    // in turn under gradient checkpointing, and would overwrite it)
    for (int d = 0; d <= m->depth; d++) m->s.t[d] = arena_floats(acts, (size_t)(N * HW * m->inner));
    for (int d = 0; d < m->depth; d++) basic_transformer_plan(&m->blocks[d], acts, N, HW, Tctx);
    if (m->use_linear) {
        linear_plan_lora(&m->proj_in_lin, acts, N * HW);
        linear_plan_lora(&m->proj_out_lin, acts, N * HW);
    } else {
        conv_plan_lora(&m->proj_in_conv, acts, N, H, W);
        conv_plan_lora(&m->proj_out_conv, acts, N, H, W);
    }
}

// Work layout (floats): w1, w2, w3 (N, max(C, inner), HW) each, dt (N, HW, inner), then the
// larger of the blocks' work and the projections' work.
size_t transformer2d_work_floats(const Transformer2D *m, int64_t N, int64_t H, int64_t W, int64_t Tctx) {
    int64_t HW = H * W, cm = m->C > m->inner ? m->C : m->inner;
    size_t mod = 0;
    for (int d = 0; d < m->depth; d++) mod = max_sz(mod, basic_transformer_work_floats(&m->blocks[d], N, HW, Tctx));
    if (m->use_linear) {
        mod = max_sz(mod, linear_module_work_floats(&m->proj_in_lin, N * HW));
        mod = max_sz(mod, linear_module_work_floats(&m->proj_out_lin, N * HW));
    } else {
        mod = max_sz(mod, conv_module_work_floats(&m->proj_in_conv, N, H, W));
        mod = max_sz(mod, conv_module_work_floats(&m->proj_out_conv, N, H, W));
    }
    return (size_t)(3 * N * cm * HW + N * HW * m->inner) + mod;
}

void transformer2d_forward(Transformer2D *m, float *out, const float *x, const float *ctx, int64_t N, int64_t H,
                           int64_t W, int64_t Tctx, float *work) {
    int64_t HW = H * W, C = m->C, I = m->inner, cm = C > I ? C : I;
    float *w1 = work, *w2 = w1 + N * cm * HW, *mod = work + 3 * N * cm * HW + N * HW * I;
    float **t = m->s.t;
    groupnorm_forward(w1, m->s.mean, m->s.rstd, x, m->norm.w, m->norm.b, N, C, HW, m->norm.groups, m->norm.eps);
    if (m->use_linear) {
        transpose_nchw_to_nhwc(w2, w1, N, C, HW);
        linear_module_forward(&m->proj_in_lin, t[0], w2, N * HW);
    } else {
        conv_module_forward(&m->proj_in_conv, w2, w1, N, H, W, mod);
        transpose_nchw_to_nhwc(t[0], w2, N, I, HW);
    }
    for (int d = 0; d < m->depth; d++) basic_transformer_forward(&m->blocks[d], t[d + 1], t[d], ctx, N, HW, Tctx, mod);
    if (m->use_linear) {
        linear_module_forward(&m->proj_out_lin, w2, t[m->depth], N * HW);
        transpose_nhwc_to_nchw(out, w2, N, C, HW);
    } else {
        transpose_nhwc_to_nchw(w1, t[m->depth], N, I, HW);
        conv_module_forward(&m->proj_out_conv, out, w1, N, H, W, mod);
    }
    add_into(out, x, N * C * HW);
}

void transformer2d_backward(Transformer2D *m, float *dx, float *dctx, const float *dout, const float *x,
                            const float *ctx, int64_t N, int64_t H, int64_t W, int64_t Tctx, float *work) {
    int64_t HW = H * W, C = m->C, I = m->inner, cm = C > I ? C : I, G = m->norm.groups;
    float *w1 = work, *w2 = w1 + N * cm * HW, *w3 = w2 + N * cm * HW, *dt = w3 + N * cm * HW;
    float *mod = dt + N * HW * I;
    float **t = m->s.t;
    int D = m->depth;

    // below[d]: something under block d (blocks < d, proj_in, norm, dx, or dctx through an
    // earlier block's attn2) needs the gradient of block d's input.
    int need_in = dx || norm_wants_grad(&m->norm) || proj_in_wants_grad(m);
    SDL_ASSERT(D <= TRANSFORMER_MAX_DEPTH);
    int below[TRANSFORMER_MAX_DEPTH + 1];
    below[0] = need_in;
    for (int d = 1; d <= D; d++)
        below[d] = below[d - 1] || basic_transformer_wants_grad(&m->blocks[d - 1]) || dctx != NULL;
    int run[TRANSFORMER_MAX_DEPTH + 1]; // block d (D: proj_out) runs its backward
    for (int d = 0; d < D; d++) run[d] = below[d] || basic_transformer_wants_grad(&m->blocks[d]) || dctx != NULL;
    run[D] = below[D] || proj_out_wants_grad(m);
    if (!run[D]) return;

    // proj_out, then to tokens: dt (N, HW, inner) = dL/dt[D]
    if (m->use_linear) {
        transpose_nchw_to_nhwc(w2, dout, N, C, HW);
        linear_module_backward(&m->proj_out_lin, below[D] ? dt : NULL, w2, t[D], N * HW, mod);
    } else {
        if (conv_needs_input(&m->proj_out_conv)) transpose_nhwc_to_nchw(w1, t[D], N, I, HW);
        conv_module_backward(&m->proj_out_conv, below[D] ? w2 : NULL, dout, w1, N, H, W, mod);
        if (below[D]) transpose_nchw_to_nhwc(dt, w2, N, I, HW);
    }
    for (int d = D - 1; d >= 0; d--) {
        if (!run[d]) return;
        basic_transformer_backward(&m->blocks[d], dt, below[d], dctx, t[d], ctx, N, HW, Tctx, mod);
    }
    if (!need_in) return;

    // proj_in after the GroupNorm: w3 = dL/d(norm output) (N, C, HW)
    int need_g = dx || norm_wants_grad(&m->norm);
    if (m->use_linear) {
        if (linear_needs_input(&m->proj_in_lin)) {
            groupnorm_forward(w1, NULL, NULL, x, m->norm.w, m->norm.b, N, C, HW, G, m->norm.eps);
            transpose_nchw_to_nhwc(w2, w1, N, C, HW);
        }
        linear_module_backward(&m->proj_in_lin, need_g ? w1 : NULL, dt, w2, N * HW, mod);
        if (need_g) transpose_nhwc_to_nchw(w3, w1, N, C, HW);
    } else {
        transpose_nhwc_to_nchw(w2, dt, N, I, HW);
        if (conv_needs_input(&m->proj_in_conv))
            groupnorm_forward(w1, NULL, NULL, x, m->norm.w, m->norm.b, N, C, HW, G, m->norm.eps);
        conv_module_backward(&m->proj_in_conv, need_g ? w3 : NULL, w2, w1, N, H, W, mod);
    }
    if (!need_g) return;
    groupnorm_backward(dx ? w3 : NULL, m->norm.dw, m->norm.db, w3, x, m->norm.w, m->s.mean, m->s.rstd, N, C, HW, G);
    if (dx) add_forward(dx, dout, w3, N * C * HW); // the residual
}
