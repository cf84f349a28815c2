// attention.h — multi-head scaled-dot-product attention, as
// torch.nn.functional.scaled_dot_product_attention with scale 1/sqrt(HD), computed in tiles
// with an online softmax: the (Tq, Tk) score matrix is never stored. Forward saves only the
// per-row log-sum-exp; backward recomputes the scores tile by tile.
//
// Layouts are the ones the linear projections produce, heads interleaved in the channels:
//   q (B, Tq, NH*HD), k and v (B, Tk, NH*HD), out (B, Tq, NH*HD); head h uses channels
//   [h*HD, (h+1)*HD). lse (B, NH, Tq) = log(sum_j exp(scale * q_i·k_j)) over the keys query i
//   sees. Self-attention: Tk == Tq; cross-attention: k, v come from the text context
//   (Tk = 77·chunks). causal: query i sees keys j <= i (top-left aligned, CLIP); Tk >= 1.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t B, Tq, Tk, NH, HD;
    int causal;
} AttnDims;

// Floats of work memory for forward and backward with the current thread count
// (sdl_get_threads()): O(threads × (tile × tile + Tk × HD)) — never O(Tq × Tk).
// Call it again after changing the thread count.
size_t attention_work_floats(const AttnDims *d);
// out (B, Tq, NH*HD), lse (B, NH, Tq) from q (B, Tq, NH*HD), k, v (B, Tk, NH*HD).
// lse may be NULL when no backward follows (sampling).
void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       const AttnDims *d, float *work);
// dq =, dk =, dv = (each may be NULL when that input needs no gradient). out and lse are the
// ones forward saved; dout (B, Tq, NH*HD).
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                        const float *k, const float *v, const float *out, const float *lse,
                        const AttnDims *d, float *work);
// Reference: materialises the full score matrix per (batch, head), in double. Tests only.
// lse may be NULL.
void attention_forward_naive(float *out, float *lse, const float *q, const float *k, const float *v,
                             const AttnDims *d);
void attention_backward_naive(float *dq, float *dk, float *dv, const float *dout, const float *q,
                              const float *k, const float *v, const AttnDims *d);

// The softmax exponential, exposed for its accuracy test: y[i] = e^x[i] within 2 ulp of the
// correctly rounded value for results >= 2^-126; smaller results may flush to 0 (absolute
// error < 2^-126); -inf -> 0, +inf and x > 88.73 -> +inf, NaN -> NaN. y may alias x.
void attention_expf_vec(float *y, const float *x, int64_t n);
