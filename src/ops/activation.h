// activation.h — elementwise activations over n floats, and GEGLU.
// Elementwise ops may run in place (out == inp, dinp == dout).
#pragma once
#include <stdint.h>

typedef enum { GELU_ERF = 0, GELU_TANH = 1 } GeluKind; // exact (erf) and tanh approximation

void silu_forward(float *out, const float *inp, int64_t n);           // x * sigmoid(x)
void silu_backward(float *dinp, const float *dout, const float *inp, int64_t n);
void gelu_forward(float *out, const float *inp, int64_t n, GeluKind kind);
void gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n, GeluKind kind);
void quick_gelu_forward(float *out, const float *inp, int64_t n);     // x * sigmoid(1.702 x) (CLIP)
void quick_gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n);

// GEGLU as diffusers: proj output inp (M, 2D) splits along the last dim into
// a = inp[:, :D] and gate = inp[:, D:];  out (M, D) = a * gelu_erf(gate).
void geglu_forward(float *out, const float *inp, int64_t M, int64_t D);
void geglu_backward(float *dinp, const float *dout, const float *inp, int64_t M, int64_t D);
