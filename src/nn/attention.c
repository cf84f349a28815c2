// attention.c — the attention module (see attention.h): projections through nn/linear (so LoRA
// hooks apply to to_q/to_k/to_v/to_out), the core through ops/attention.
#include "nn/attention.h"
#include "ops/attention.h"
#include "ops/tensor.h"
#include <string.h>

static AttnDims dims_of(const Attention *m, int64_t B, int64_t Tq, int64_t Tk) {
    return (AttnDims){.B = B, .Tq = Tq, .Tk = Tk, .NH = m->heads, .HD = m->head_dim, .causal = m->causal};
}

void attention_module_saved_floats(const Attention *m, int64_t B, int64_t Tq, int64_t Tk, size_t sizes[5]) {
    int64_t inner = m->heads * m->head_dim;
    sizes[0] = (size_t)(B * Tq * inner);
    sizes[1] = sizes[2] = (size_t)(B * Tk * inner);
    sizes[3] = (size_t)(B * Tq * inner);
    sizes[4] = (size_t)(B * m->heads * Tq);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

size_t attention_module_work_floats(const Attention *m, int64_t B, int64_t Tq, int64_t Tk) {
    AttnDims d = dims_of(m, B, Tq, Tk);
    int64_t inner = m->heads * m->head_dim;
    size_t core = attention_work_floats(&d);
    // backward: do (B,Tq,inner) + dq (B,Tq,inner) + dk, dv (B,Tk,inner) + one projection input grad
    // of the larger input + the linear modules' own work
    size_t dims = (size_t)(2 * B * Tq * inner + 2 * B * Tk * inner);
    size_t proj_in = max_sz((size_t)(B * Tq * m->q.in), (size_t)(B * Tk * m->k.in));
    size_t lin = max_sz(max_sz(linear_module_work_floats(&m->q, B * Tq), linear_module_work_floats(&m->k, B * Tk)),
                        max_sz(linear_module_work_floats(&m->v, B * Tk), linear_module_work_floats(&m->out, B * Tq)));
    return dims + proj_in + max_sz(core, lin);
}

void attention_module_forward(const Attention *m, float *out, AttentionSaved *s, const float *x, const float *ctx,
                              int64_t B, int64_t Tq, int64_t Tk, float *work) {
    const float *c = ctx ? ctx : x;
    linear_module_forward(&m->q, s->q, x, B * Tq);
    linear_module_forward(&m->k, s->k, c, B * Tk);
    linear_module_forward(&m->v, s->v, c, B * Tk);
    AttnDims d = dims_of(m, B, Tq, Tk);
    attention_forward(s->o, s->lse, s->q, s->k, s->v, &d, work);
    linear_module_forward(&m->out, out, s->o, B * Tq);
}

void attention_module_backward(const Attention *m, float *dx, float *dctx, const float *dout, const float *x,
                               const float *ctx, const AttentionSaved *s, int64_t B, int64_t Tq, int64_t Tk,
                               float *work) {
    int64_t inner = m->heads * m->head_dim;
    const float *c = ctx ? ctx : x;
    float *d_o = work;                        // (B, Tq, inner)
    float *dq = d_o + B * Tq * inner;         // (B, Tq, inner)
    float *dk = dq + B * Tq * inner;          // (B, Tk, inner)
    float *dv = dk + B * Tk * inner;          // (B, Tk, inner)
    float *dproj = dv + B * Tk * inner;       // one projection's input grad
    float *rest = dproj + (B * Tq * m->q.in > B * Tk * m->k.in ? B * Tq * m->q.in : B * Tk * m->k.in);

    linear_module_backward(&m->out, d_o, dout, s->o, B * Tq, rest);
    AttnDims d = dims_of(m, B, Tq, Tk);
    attention_backward(dq, dk, dv, d_o, s->q, s->k, s->v, s->o, s->lse, &d, rest);
    linear_module_backward(&m->q, dx, dq, x, B * Tq, rest);       // dx = dq-path
    // The k and v paths feed c: for self-attention that is x again, for cross-attention the context.
    float *dc = ctx ? dctx : dx;
    int64_t nc = B * Tk * m->k.in;
    linear_module_backward(&m->k, dc ? dproj : NULL, dk, c, B * Tk, rest);
    if (dc) add_into(dc, dproj, nc);
    linear_module_backward(&m->v, dc ? dproj : NULL, dv, c, B * Tk, rest);
    if (dc) add_into(dc, dproj, nc);
}
