// softmax.h — row softmax over the last dim, numerically stable (max subtracted).
#pragma once
#include <stdint.h>

// out (M, D) = softmax(inp) per row.
void softmax_forward(float *out, const float *inp, int64_t M, int64_t D);
// dinp (M, D) = out * (dout - sum(dout * out)) per row.
void softmax_backward(float *dinp, const float *dout, const float *out, int64_t M, int64_t D);
