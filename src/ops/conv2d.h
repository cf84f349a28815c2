// conv2d.h — 2-D convolution, as torch.nn.functional.conv2d (dilation 1, groups 1).
// Padding is given per side so the VAE downsampler's asymmetric pad (0,1,0,1: right and
// bottom only, then a stride-2 3x3 conv with padding 0) is one call.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t N, IC, H, W;       // input (N, IC, H, W)
    int64_t OC, KH, KW;        // weight (OC, IC, KH, KW)
    int64_t stride;            // same in both directions
    int64_t pad_top, pad_bottom, pad_left, pad_right;
} Conv2dDims;

// The usual symmetric case: padding p on all sides.
Conv2dDims conv2d_dims(int64_t N, int64_t IC, int64_t H, int64_t W, int64_t OC, int64_t K,
                       int64_t stride, int64_t pad);
int64_t conv2d_out_h(const Conv2dDims *d);
int64_t conv2d_out_w(const Conv2dDims *d);
// Floats of work memory forward and backward need: one im2col tile of IC*KH*KW rows by a
// band of output rows (about 1024 output pixels, capped at 16 MiB, but never less than one
// output row), so it stays bounded at any image size; stride-1 convs with OC < IC add a
// rearranged copy of w (at most 16 MiB) for the backward. 0 for 1x1 stride-1 unpadded convs.
size_t conv2d_work_floats(const Conv2dDims *d);

// out (N, OC, OH, OW) = conv(inp, w) + b;  b (OC) or NULL.
void conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                    const Conv2dDims *d, float *work);
// dinp (N, IC, H, W) =;  dw (OC, IC, KH, KW) +=;  db (OC) +=.  Each may be NULL.
// work: conv2d_work_floats(d) floats (contents need not be initialised; clobbered).
void conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, const Conv2dDims *d, float *work);
// References: the definition as loops, double accumulation, no work memory.
void conv2d_forward_naive(float *out, const float *inp, const float *w, const float *b, const Conv2dDims *d);
void conv2d_backward_naive(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, const Conv2dDims *d);
