// linear.h — fully connected layer, as torch.nn.Linear: y = x @ W^T + b.
// Follows the ops.h conventions: backward writes dinp (=) and accumulates dw, db (+=);
// any gradient pointer may be NULL to skip it (frozen base weights pass dw = db = NULL).
// The fast versions go through gemm() (BLAS); the _naive ones are triple loops in double.
#pragma once
#include <stdint.h>

// out (M, OC) = inp (M, IC) @ w^T + b;  w (OC, IC), b (OC) or NULL.
void linear_forward(float *out, const float *inp, const float *w, const float *b,
                    int64_t M, int64_t IC, int64_t OC);
// dinp (M, IC) = dout @ w;  dw (OC, IC) += dout^T @ inp;  db (OC) += sum_rows dout.
// dout (M, OC). inp is needed only for dw, w only for dinp.
void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int64_t M, int64_t IC, int64_t OC);
void linear_forward_naive(float *out, const float *inp, const float *w, const float *b,
                          int64_t M, int64_t IC, int64_t OC);
void linear_backward_naive(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, int64_t M, int64_t IC, int64_t OC);
