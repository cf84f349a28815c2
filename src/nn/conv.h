// conv.h — the Conv2d module: weight references, geometry, optional gradients and LoRA adapter
// (LoCon for 3x3 convs; plain LoRA on the SD1 transformer's 1x1 proj_in/proj_out).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "nn/half_weight.h"
#include "nn/lora.h"
#include "ops/conv2d.h"

typedef struct {
    const float *w;   // (out, in, k, k); NULL when the weight is kept 16-bit (w16)
    const float *b;   // (out) or NULL
    float *dw, *db;   // NULL when frozen
    int64_t in, out, k, stride;
    int64_t pad_top, pad_bottom, pad_left, pad_right;
    LoraAdapter *lora; // NULL: plain conv; else down (r, in, k, k) and up (out, r, 1, 1)
    HalfWeight w16;    // the frozen weight in fp16/bf16, widened on use (half_weight.h); data NULL: use w
} Conv2d;

// A module with symmetric padding.
Conv2d conv_module(const float *w, const float *b, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad);
Conv2dDims conv_module_dims(const Conv2d *m, int64_t N, int64_t H, int64_t W);
// Floats of work memory forward and backward need at input (N, in, H, W).
size_t conv_module_work_floats(const Conv2d *m, int64_t N, int64_t H, int64_t W);
// out (N, out, OH, OW) = conv(inp) + b [+ scale · up(down(inp)), saving down(inp) in lora->h].
void conv_module_forward(const Conv2d *m, float *out, const float *inp, int64_t N, int64_t H, int64_t W, float *work);
// dinp (N, in, H, W) = (may be NULL); dw, db, lora grads +=.
void conv_module_backward(const Conv2d *m, float *dinp, const float *dout, const float *inp,
                          int64_t N, int64_t H, int64_t W, float *work);
