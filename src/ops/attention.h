// attention.h — multi-head scaled-dot-product attention, as
// torch.nn.functional.scaled_dot_product_attention with scale 1/sqrt(HD), computed in tiles
// with an online softmax: the (Tq, Tk) score matrix is never stored. Forward saves only the
// per-row log-sum-exp; backward recomputes the scores tile by tile.
//
// Layouts are the ones the linear projections produce, heads interleaved in the channels:
//   q (B, Tq, NH*HD), k and v (B, Tk, NH*HD), out (B, Tq, NH*HD); head h uses channels
//   [h*HD, (h+1)*HD). lse (B, NH, Tq). Self-attention: Tk == Tq; cross-attention: k, v come
//   from the text context (Tk = 77·chunks). causal: query i sees keys j <= i (CLIP).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t B, Tq, Tk, NH, HD;
    int causal;
} AttnDims;

// Floats of work memory for forward and backward with the current thread count:
// O(threads × tile × (Tk-tile + HD)) — never O(Tq × Tk).
size_t attention_work_floats(const AttnDims *d);
void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       const AttnDims *d, float *work);
// dq =, dk =, dv = (each may be NULL when that input needs no gradient).
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                        const float *k, const float *v, const float *out, const float *lse,
                        const AttnDims *d, float *work);
// Reference: materialises the full score matrix per (batch, head). Tests only.
void attention_forward_naive(float *out, float *lse, const float *q, const float *k, const float *v,
                             const AttnDims *d);
void attention_backward_naive(float *dq, float *dk, float *dv, const float *dout, const float *q,
                              const float *k, const float *v, const AttnDims *d);
