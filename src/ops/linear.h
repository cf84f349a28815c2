// linear.h — fully connected layer, as torch.nn.Linear.
#pragma once
#include <stdint.h>

// out (M, OC) = inp (M, IC) @ w^T + b;  w (OC, IC), b (OC) or NULL.
void linear_forward(float *out, const float *inp, const float *w, const float *b,
                    int64_t M, int64_t IC, int64_t OC);
// dinp (M, IC) = dout @ w;  dw (OC, IC) += dout^T @ inp;  db (OC) += sum_rows dout.
void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int64_t M, int64_t IC, int64_t OC);
void linear_forward_naive(float *out, const float *inp, const float *w, const float *b,
                          int64_t M, int64_t IC, int64_t OC);
void linear_backward_naive(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, int64_t M, int64_t IC, int64_t OC);
