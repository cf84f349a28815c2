// softmax.h — row softmax over the last dim, numerically stable (row max subtracted), as
// torch.softmax(x, dim=-1) in float32: exponentials summed in double, then scaled.
// -INFINITY entries (masks) get probability 0; a row that is entirely -INFINITY (or holds
// NaN or +INFINITY) comes out NaN, as in torch. May run in place (out == inp, dinp == dout).
#pragma once
#include <stdint.h>

// out (M, D) = softmax(inp) per row.
void softmax_forward(float *out, const float *inp, int64_t M, int64_t D);
// dinp (M, D) = out * (dout - sum(dout * out)) per row (the dot product in double).
void softmax_backward(float *dinp, const float *dout, const float *out, int64_t M, int64_t D);

// References: libm exp in double per element (tests).
void softmax_forward_naive(float *out, const float *inp, int64_t M, int64_t D);
void softmax_backward_naive(float *dinp, const float *dout, const float *out, int64_t M, int64_t D);
