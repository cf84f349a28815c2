// updown.c — Downsample2D / Upsample2D forward/backward (see updown.h).
#include "nn/updown.h"
#include "ops/tensor.h"

// ---- Downsample2D -------------------------------------------------------------------------

void downsample_init(Downsample2D *m, int64_t in, int64_t out, int vae_pad) {
    m->conv = conv_module(NULL, NULL, in, out, 3, 2, vae_pad ? 0 : 1);
    if (vae_pad) m->conv.pad_bottom = m->conv.pad_right = 1;
}

void downsample_visit(Downsample2D *m, const char *prefix, BlockVisitor *v) {
    block_visit_conv(v, prefix, "conv", &m->conv, "Downsample2D");
}

int downsample_wants_grad(const Downsample2D *m) { return conv_wants_grad(&m->conv); }

int64_t downsample_out_h(const Downsample2D *m, int64_t H) {
    Conv2dDims d = conv_module_dims(&m->conv, 1, H, 1);
    return conv2d_out_h(&d);
}

int64_t downsample_out_w(const Downsample2D *m, int64_t W) {
    Conv2dDims d = conv_module_dims(&m->conv, 1, 1, W);
    return conv2d_out_w(&d);
}

void downsample_plan(Downsample2D *m, Arena *acts, int64_t N, int64_t H, int64_t W) {
    conv_plan_lora(&m->conv, acts, N, H, W);
}

size_t downsample_work_floats(const Downsample2D *m, int64_t N, int64_t H, int64_t W) {
    return conv_module_work_floats(&m->conv, N, H, W);
}

void downsample_forward(Downsample2D *m, float *out, const float *x, int64_t N, int64_t H, int64_t W, float *work) {
    conv_module_forward(&m->conv, out, x, N, H, W, work);
}

void downsample_backward(Downsample2D *m, float *dx, const float *dout, const float *x, int64_t N, int64_t H,
                         int64_t W, float *work) {
    if (dx || conv_wants_grad(&m->conv)) conv_module_backward(&m->conv, dx, dout, x, N, H, W, work);
}

// ---- Upsample2D ---------------------------------------------------------------------------

void upsample_init(Upsample2D *m, int64_t in, int64_t out) { m->conv = conv_module(NULL, NULL, in, out, 3, 1, 1); }

void upsample_visit(Upsample2D *m, const char *prefix, BlockVisitor *v) {
    block_visit_conv(v, prefix, "conv", &m->conv, "Upsample2D");
}

int upsample_wants_grad(const Upsample2D *m) { return conv_wants_grad(&m->conv); }

void upsample_plan(Upsample2D *m, Arena *acts, int64_t N, int64_t H, int64_t W) {
    conv_plan_lora(&m->conv, acts, N, 2 * H, 2 * W);
}

// Work: u, du (N, in, 2H, 2W) — the upsampled input (recomputed in backward) and its grad —
// then the conv's work.
size_t upsample_work_floats(const Upsample2D *m, int64_t N, int64_t H, int64_t W) {
    return (size_t)(2 * N * m->conv.in * 4 * H * W) + conv_module_work_floats(&m->conv, N, 2 * H, 2 * W);
}

void upsample_forward(Upsample2D *m, float *out, const float *x, int64_t N, int64_t H, int64_t W, float *work) {
    float *u = work, *mod = u + 2 * N * m->conv.in * 4 * H * W;
    upsample_nearest2x_forward(u, x, N * m->conv.in, H, W);
    conv_module_forward(&m->conv, out, u, N, 2 * H, 2 * W, mod);
}

void upsample_backward(Upsample2D *m, float *dx, const float *dout, const float *x, int64_t N, int64_t H,
                       int64_t W, float *work) {
    int64_t n_up = N * m->conv.in * 4 * H * W;
    float *u = work, *du = u + n_up, *mod = du + n_up;
    if (!dx && !conv_wants_grad(&m->conv)) return;
    if (conv_needs_input(&m->conv)) upsample_nearest2x_forward(u, x, N * m->conv.in, H, W);
    conv_module_backward(&m->conv, dx ? du : NULL, dout, u, N, 2 * H, 2 * W, mod);
    if (dx) upsample_nearest2x_backward(dx, du, N * m->conv.in, H, W);
}
