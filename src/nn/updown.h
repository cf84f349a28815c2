// updown.h — the UNet's (and VAE's) resampling blocks, diffusers Downsample2D / Upsample2D with
// use_conv=True:
//   Downsample2D: conv 3x3 stride 2 — padding 1 on every side (UNet, downsample_padding=1), or
//                 the VAE's asymmetric pad (0, 1, 0, 1: right and bottom) with padding 0.
//   Upsample2D:   nearest-neighbour x2, then conv 3x3 pad 1.
// Keys: "<prefix>.conv.weight" / ".bias" for both. Neither saves activations of its own (only
// a LoRA adapter's); Upsample2D recomputes the upsampled input in backward. The caller keeps x
// alive and unchanged from forward to backward.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "nn/resblock.h" // BlockVisitor, LoRA planning helpers

typedef struct {
    Conv2d conv; // (out, in, 3, 3), stride 2
} Downsample2D;

typedef struct {
    Conv2d conv; // (out, in, 3, 3), pad 1, on the 2x input
} Upsample2D;

// vae_pad 0: padding 1 all round (UNet); 1: pad right and bottom by 1 only (VAE encoder).
void downsample_init(Downsample2D *m, int64_t in, int64_t out, int vae_pad);
void downsample_visit(Downsample2D *m, const char *prefix, BlockVisitor *v);
int downsample_wants_grad(const Downsample2D *m);
// Output size for input H x W.
int64_t downsample_out_h(const Downsample2D *m, int64_t H);
int64_t downsample_out_w(const Downsample2D *m, int64_t W);
void downsample_plan(Downsample2D *m, Arena *acts, int64_t N, int64_t H, int64_t W);
size_t downsample_work_floats(const Downsample2D *m, int64_t N, int64_t H, int64_t W);
// out (N, out, OH, OW) from x (N, in, H, W).
void downsample_forward(Downsample2D *m, float *out, const float *x, int64_t N, int64_t H, int64_t W, float *work);
// dx (N, in, H, W) = (may be NULL); conv grads +=.
void downsample_backward(Downsample2D *m, float *dx, const float *dout, const float *x, int64_t N, int64_t H,
                         int64_t W, float *work);

void upsample_init(Upsample2D *m, int64_t in, int64_t out);
void upsample_visit(Upsample2D *m, const char *prefix, BlockVisitor *v);
int upsample_wants_grad(const Upsample2D *m);
void upsample_plan(Upsample2D *m, Arena *acts, int64_t N, int64_t H, int64_t W);
size_t upsample_work_floats(const Upsample2D *m, int64_t N, int64_t H, int64_t W);
// out (N, out, 2H, 2W) from x (N, in, H, W).
void upsample_forward(Upsample2D *m, float *out, const float *x, int64_t N, int64_t H, int64_t W, float *work);
// dx (N, in, H, W) = (may be NULL); conv grads +=.
void upsample_backward(Upsample2D *m, float *dx, const float *dout, const float *x, int64_t N, int64_t H,
                       int64_t W, float *work);
