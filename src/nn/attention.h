// attention.h — the multi-head attention module shared by the UNet (attn1 self, attn2 cross),
// the CLIP text encoder (causal self-attention) and the VAE mid-block (one head):
//   q = x Wqᵀ (+bq), k = c Wkᵀ (+bk), v = c Wvᵀ (+bv)   with c = x for self-attention
//   o = softmax(q kᵀ / sqrt(HD)) v   per head (ops/attention.h, tiled, online softmax)
//   out = o Woᵀ + bo
// x (B, Tq, dim), c (B, Tk, ctx_dim), out (B, Tq, dim); inner = heads · head_dim.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "nn/linear.h"

typedef struct {
    Linear q, k, v, out; // q (inner, dim), k/v (inner, ctx_dim), out (dim, inner); LoRA hooks on each
    int64_t heads, head_dim;
    int causal;
} Attention;

// Activations forward saves for backward; the caller plans them (sizes below).
typedef struct {
    float *q, *k, *v; // (B, Tq, inner), (B, Tk, inner), (B, Tk, inner)
    float *o;         // (B, Tq, inner): attention output before the out projection
    float *lse;       // (B, heads, Tq)
} AttentionSaved;

// Floats each saved tensor needs, in the order q, k, v, o, lse.
void attention_module_saved_floats(const Attention *m, int64_t B, int64_t Tq, int64_t Tk, size_t sizes[5]);
size_t attention_module_work_floats(const Attention *m, int64_t B, int64_t Tq, int64_t Tk);
// ctx == NULL means self-attention (Tk = Tq, c = x).
void attention_module_forward(const Attention *m, float *out, AttentionSaved *s, const float *x, const float *ctx,
                              int64_t B, int64_t Tq, int64_t Tk, float *work);
// dx (B, Tq, dim) = (may be NULL). dctx (B, Tk, ctx_dim) += for cross-attention (the context fans
// out to every cross-attention block, so its gradient accumulates); NULL skips it. Parameter
// and LoRA grads +=.
void attention_module_backward(const Attention *m, float *dx, float *dctx, const float *dout, const float *x,
                               const float *ctx, const AttentionSaved *s, int64_t B, int64_t Tq, int64_t Tk,
                               float *work);
