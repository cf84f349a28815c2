// tensor.h — data-movement and elementwise plumbing: residual adds, gradient fan-in,
// per-channel bias broadcast, channel concat/split, nearest 2x upsample, layout transposes.
// All memory-bound: OpenMP over large sizes, SIMD inner loops, no temporaries.
// Unless noted, outputs must not overlap inputs except exactly (out == a etc. where stated).
#pragma once
#include <stdint.h>

void add_forward(float *out, const float *a, const float *b, int64_t n);  // out = a + b (out may be a or b)
void add_into(float *acc, const float *x, int64_t n);                     // acc += x
void scale_inplace(float *x, float s, int64_t n);                         // x *= s

// x (N, C, HW) += bias (N, C) broadcast over HW (the timestep embedding in a ResBlock).
void add_channel_bias_forward(float *x, const float *bias, int64_t N, int64_t C, int64_t HW);
// dbias (N, C) += sum over HW of dout (N, C, HW); each sum accumulated in double.
void add_channel_bias_backward(float *dbias, const float *dout, int64_t N, int64_t C, int64_t HW);

// out (N, C1+C2, HW) = [a (N, C1, HW), b (N, C2, HW)] (UNet skip connections).
void concat_channels_forward(float *out, const float *a, const float *b, int64_t N, int64_t C1, int64_t C2, int64_t HW);
// The backward of concat is the split: da (N, C1, HW) =, db (N, C2, HW) = (either may be NULL).
void concat_channels_backward(float *da, float *db, const float *dout, int64_t N, int64_t C1, int64_t C2, int64_t HW);

// out (NC, 2H, 2W): each input pixel repeated 2x2 (torch "nearest", scale 2).
void upsample_nearest2x_forward(float *out, const float *inp, int64_t NC, int64_t H, int64_t W);
// dinp (NC, H, W) = sum of the 2x2 block of dout (NC, 2H, 2W), added in torch's order
// ((top-left + top-right) + bottom-left) + bottom-right.
void upsample_nearest2x_backward(float *dinp, const float *dout, int64_t NC, int64_t H, int64_t W);

// (N, C, HW) <-> (N, HW, C): into and out of the transformer blocks' token layout.
// Cache-blocked tile transposes; out must not overlap inp.
void transpose_nchw_to_nhwc(float *out, const float *inp, int64_t N, int64_t C, int64_t HW);
void transpose_nhwc_to_nchw(float *out, const float *inp, int64_t N, int64_t C, int64_t HW);

// References for the blocked kernels: the plain index loops (tests).
void transpose_nchw_to_nhwc_naive(float *out, const float *inp, int64_t N, int64_t C, int64_t HW);
void transpose_nhwc_to_nchw_naive(float *out, const float *inp, int64_t N, int64_t C, int64_t HW);
void upsample_nearest2x_forward_naive(float *out, const float *inp, int64_t NC, int64_t H, int64_t W);
void upsample_nearest2x_backward_naive(float *dinp, const float *dout, int64_t NC, int64_t H, int64_t W);
