// resblock.c — ResnetBlock2D forward/backward (see resblock.h) and the shared block helpers.
#include "nn/resblock.h"
#include "base/error.h"
#include "ops/norm.h"
#include "ops/tensor.h"
#include <stdio.h>
#include <string.h>

// ---- shared helpers ---------------------------------------------------------------------

static void visit_param(BlockVisitor *v, const char *prefix, const char *name, const char *suffix, int ndim,
                        const int64_t *shape, const float **w, float **grad) {
    if (!v->param) return;
    char full[512];
    int n = snprintf(full, sizeof full, "%s%s%s.%s", prefix, *prefix ? "." : "", name, suffix);
    SDL_ASSERT(n > 0 && (size_t)n < sizeof full);
    v->param(v, full, ndim, shape, w, grad);
}

static void visit_module(BlockVisitor *v, const char *prefix, const char *name, BlockModuleKind kind, void *m,
                         const char *block_class) {
    if (!v->module) return;
    char path[512];
    int n = snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name);
    SDL_ASSERT(n > 0 && (size_t)n < sizeof path);
    v->module(v, path, kind, m, block_class);
}

void block_visit_linear(BlockVisitor *v, const char *prefix, const char *name, Linear *m, int has_bias,
                        const char *block_class) {
    visit_param(v, prefix, name, "weight", 2, (int64_t[]){m->out, m->in}, &m->w, &m->dw);
    if (has_bias) visit_param(v, prefix, name, "bias", 1, (int64_t[]){m->out}, &m->b, &m->db);
    visit_module(v, prefix, name, BLOCK_MODULE_LINEAR, m, block_class);
}

void block_visit_conv(BlockVisitor *v, const char *prefix, const char *name, Conv2d *m, const char *block_class) {
    visit_param(v, prefix, name, "weight", 4, (int64_t[]){m->out, m->in, m->k, m->k}, &m->w, &m->dw);
    visit_param(v, prefix, name, "bias", 1, (int64_t[]){m->out}, &m->b, &m->db);
    visit_module(v, prefix, name, BLOCK_MODULE_CONV2D, m, block_class);
}

void block_visit_norm(BlockVisitor *v, const char *prefix, const char *name, NormModule *m) {
    visit_param(v, prefix, name, "weight", 1, (int64_t[]){m->C}, &m->w, &m->dw);
    visit_param(v, prefix, name, "bias", 1, (int64_t[]){m->C}, &m->b, &m->db);
}

static int lora_wants_grad(const LoraAdapter *a) { return a && (a->ddown || a->dup); }
int linear_wants_grad(const Linear *m) { return m->dw || m->db || lora_wants_grad(m->lora); }
int conv_wants_grad(const Conv2d *m) { return m->dw || m->db || lora_wants_grad(m->lora); }
int norm_wants_grad(const NormModule *m) { return m->dw || m->db; }

void linear_plan_lora(Linear *m, Arena *acts, int64_t M) {
    if (m->lora) m->lora->h = arena_floats(acts, (size_t)(M * m->lora->rank));
}

void conv_plan_lora(Conv2d *m, Arena *acts, int64_t N, int64_t H, int64_t W) {
    if (!m->lora) return;
    Conv2dDims d = conv_module_dims(m, N, H, W);
    m->lora->h = arena_floats(acts, (size_t)(N * m->lora->rank * conv2d_out_h(&d) * conv2d_out_w(&d)));
}

int linear_needs_input(const Linear *m) { return m->dw || lora_wants_grad(m->lora); }
int conv_needs_input(const Conv2d *m) { return m->dw || lora_wants_grad(m->lora); }

// ---- ResnetBlock2D ------------------------------------------------------------------------

static const char *RES_CLASS = "ResnetBlock2D";

void resblock_init(ResBlock *m, int64_t in, int64_t out, int64_t temb_dim, int64_t groups, float eps) {
    SDL_ASSERT(groups > 0 && in % groups == 0 && out % groups == 0);
    memset(m, 0, sizeof *m);
    m->in = in, m->out = out, m->temb_dim = temb_dim;
    m->norm1 = (NormModule){.C = in, .groups = groups, .eps = eps};
    m->conv1 = conv_module(NULL, NULL, in, out, 3, 1, 1);
    m->time_emb_proj = (Linear){.in = temb_dim, .out = out};
    m->norm2 = (NormModule){.C = out, .groups = groups, .eps = eps};
    m->conv2 = conv_module(NULL, NULL, out, out, 3, 1, 1);
    m->has_shortcut = in != out;
    m->conv_shortcut = conv_module(NULL, NULL, in, out, 1, 1, 0);
}

void resblock_visit(ResBlock *m, const char *prefix, BlockVisitor *v) {
    block_visit_norm(v, prefix, "norm1", &m->norm1);
    block_visit_conv(v, prefix, "conv1", &m->conv1, RES_CLASS);
    if (m->temb_dim > 0) block_visit_linear(v, prefix, "time_emb_proj", &m->time_emb_proj, 1, RES_CLASS);
    block_visit_norm(v, prefix, "norm2", &m->norm2);
    block_visit_conv(v, prefix, "conv2", &m->conv2, RES_CLASS);
    if (m->has_shortcut) block_visit_conv(v, prefix, "conv_shortcut", &m->conv_shortcut, RES_CLASS);
}

int resblock_wants_grad(const ResBlock *m) {
    return norm_wants_grad(&m->norm1) || conv_wants_grad(&m->conv1) || norm_wants_grad(&m->norm2) ||
           conv_wants_grad(&m->conv2) || (m->temb_dim > 0 && linear_wants_grad(&m->time_emb_proj)) ||
           (m->has_shortcut && conv_wants_grad(&m->conv_shortcut));
}

void resblock_plan(ResBlock *m, Arena *acts, int64_t N, int64_t H, int64_t W) {
    int64_t G = m->norm1.groups;
    m->s.mean1 = arena_floats(acts, (size_t)(N * G));
    m->s.rstd1 = arena_floats(acts, (size_t)(N * G));
    m->s.h = arena_floats(acts, (size_t)(N * m->out * H * W));
    m->s.mean2 = arena_floats(acts, (size_t)(N * G));
    m->s.rstd2 = arena_floats(acts, (size_t)(N * G));
    conv_plan_lora(&m->conv1, acts, N, H, W);
    conv_plan_lora(&m->conv2, acts, N, H, W);
    if (m->temb_dim > 0) linear_plan_lora(&m->time_emb_proj, acts, N);
    if (m->has_shortcut) conv_plan_lora(&m->conv_shortcut, acts, N, H, W);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

// Module work (shared by all the block's convs and the time projection).
static size_t module_work(const ResBlock *m, int64_t N, int64_t H, int64_t W) {
    size_t w = max_sz(conv_module_work_floats(&m->conv1, N, H, W), conv_module_work_floats(&m->conv2, N, H, W));
    if (m->has_shortcut) w = max_sz(w, conv_module_work_floats(&m->conv_shortcut, N, H, W));
    if (m->temb_dim > 0) w = max_sz(w, linear_module_work_floats(&m->time_emb_proj, N));
    return w;
}

// Work layout (floats):
//   a   (N, max(in, out), HW)  silu(norm(.)) outputs, recomputed; shortcut output in forward
//   b   (N, out, HW)           backward: dh (conv2's input grad, then norm2's)
//   c   (N, in, HW)            backward: conv1's input grad, then norm1's
//   t   (N, out)               time projection (forward) / its grad (backward)
//   te  (N, temb_dim)          backward: time projection's input grad
//   mod                        module work
size_t resblock_work_floats(const ResBlock *m, int64_t N, int64_t H, int64_t W) {
    int64_t HW = H * W, cmax = m->in > m->out ? m->in : m->out;
    return (size_t)(N * cmax * HW + N * m->out * HW + N * m->in * HW + N * m->out + N * m->temb_dim) +
           module_work(m, N, H, W);
}

void resblock_forward(ResBlock *m, float *out, const float *x, const float *temb_act, int64_t N, int64_t H,
                      int64_t W, float *work) {
    int64_t HW = H * W, G = m->norm1.groups, cmax = m->in > m->out ? m->in : m->out;
    float *a = work, *t = a + N * cmax * HW + N * m->out * HW + N * m->in * HW;
    float *mod = t + N * m->out + N * m->temb_dim;
    groupnorm_silu_forward(a, m->s.mean1, m->s.rstd1, x, m->norm1.w, m->norm1.b, N, m->in, HW, G, m->norm1.eps);
    conv_module_forward(&m->conv1, m->s.h, a, N, H, W, mod);
    if (m->temb_dim > 0) {
        SDL_ASSERT(temb_act != NULL);
        linear_module_forward(&m->time_emb_proj, t, temb_act, N);
        add_channel_bias_forward(m->s.h, t, N, m->out, HW);
    }
    groupnorm_silu_forward(a, m->s.mean2, m->s.rstd2, m->s.h, m->norm2.w, m->norm2.b, N, m->out, HW, G, m->norm2.eps);
    conv_module_forward(&m->conv2, out, a, N, H, W, mod);
    if (m->has_shortcut) {
        conv_module_forward(&m->conv_shortcut, a, x, N, H, W, mod);
        add_into(out, a, N * m->out * HW);
    } else {
        add_into(out, x, N * m->out * HW);
    }
}

void resblock_backward(ResBlock *m, float *dx, float *dtemb_act, const float *dout, const float *x,
                       const float *temb_act, int64_t N, int64_t H, int64_t W, float *work) {
    int64_t HW = H * W, G = m->norm1.groups, cmax = m->in > m->out ? m->in : m->out;
    float *a = work, *b = a + N * cmax * HW, *c = b + N * m->out * HW, *t = c + N * m->in * HW;
    float *te = t + N * m->out, *mod = te + N * m->temb_dim;
    int has_temb = m->temb_dim > 0;
    if (!has_temb) dtemb_act = NULL;

    // Residual branch: dx = dout (identity) or conv_shortcut's input grad.
    if (m->has_shortcut) {
        if (dx || conv_wants_grad(&m->conv_shortcut))
            conv_module_backward(&m->conv_shortcut, dx, dout, x, N, H, W, mod);
    } else if (dx) {
        memcpy(dx, dout, (size_t)(N * m->out * HW) * sizeof(float));
    }

    // What the main branch must deliver below each point.
    int need_c = dx || norm_wants_grad(&m->norm1);                  // conv1's input grad
    int need_b = need_c || conv_wants_grad(&m->conv1) || norm_wants_grad(&m->norm2) || dtemb_act ||
                 (has_temb && linear_wants_grad(&m->time_emb_proj)); // dh
    if (!need_b && !conv_wants_grad(&m->conv2)) return;

    // y = conv2(silu(norm2(h)))
    if (conv_needs_input(&m->conv2))
        groupnorm_silu_forward(a, NULL, NULL, m->s.h, m->norm2.w, m->norm2.b, N, m->out, HW, G, m->norm2.eps);
    conv_module_backward(&m->conv2, need_b ? b : NULL, dout, a, N, H, W, mod);
    if (!need_b) return;
    groupnorm_silu_backward(b, m->norm2.dw, m->norm2.db, b, m->s.h, m->norm2.w, m->norm2.b, m->s.mean2, m->s.rstd2,
                            N, m->out, HW, G);

    // h = conv1(silu(norm1(x))) + time_emb_proj(temb_act)
    if (has_temb && (dtemb_act || linear_wants_grad(&m->time_emb_proj))) {
        memset(t, 0, (size_t)(N * m->out) * sizeof(float));
        add_channel_bias_backward(t, b, N, m->out, HW);
        linear_module_backward(&m->time_emb_proj, dtemb_act ? te : NULL, t, temb_act, N, mod);
        if (dtemb_act) add_into(dtemb_act, te, N * m->temb_dim);
    }
    if (!need_c && !conv_wants_grad(&m->conv1)) return;
    if (conv_needs_input(&m->conv1))
        groupnorm_silu_forward(a, NULL, NULL, x, m->norm1.w, m->norm1.b, N, m->in, HW, G, m->norm1.eps);
    conv_module_backward(&m->conv1, need_c ? c : NULL, b, a, N, H, W, mod);
    if (!need_c) return;
    groupnorm_silu_backward(dx ? c : NULL, m->norm1.dw, m->norm1.db, c, x, m->norm1.w, m->norm1.b, m->s.mean1,
                            m->s.rstd1, N, m->in, HW, G);
    if (dx) add_into(dx, c, N * m->in * HW);
}
