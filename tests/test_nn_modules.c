// test_nn_modules.c — nn/ Linear and Conv2d modules with the LoRA hook.
// Two independent checks: (1) forward with an adapter equals the plain op with kohya's merged
// weight W' = W + scale · up @ down (ΔW[o,i,y,x] = Σ_r up[o,r] · down[r,i,y,x] for convs);
// (2) finite-difference gradients for the input, lora_down and lora_up.
#include "harness.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "ops/conv2d.h"
#include "ops/linear.h"
#include <stdlib.h>
#include <string.h>

// ---- Linear + LoRA ----
static double lin_loss(void *ctx) {
    LinCase *c = ctx;
    linear_module_forward(&c->m, c->y, c->x, c->M);
    return dot_double(c->y, c->dout, c->M * c->m.out);
}

static void test_linear_lora_equals_merged(void) {
    LinCase c;
    int64_t M = 7, in = 12, out = 9, r = 3;
    lin_case_init(&c, M, in, out, r, 0.75f);
    float *merged = alloc_floats(out * in), *ref = alloc_floats(M * out);
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++) {
            double s = c.m.w[o * in + i];
            for (int64_t k = 0; k < r; k++) s += 0.75 * c.a.up[o * r + k] * c.a.down[k * in + i];
            merged[o * in + i] = (float)s;
        }
    linear_module_forward(&c.m, c.y, c.x, M);
    linear_forward_naive(ref, c.x, merged, c.m.b, M, in, out);
    check_close("linear+lora vs merged", c.y, ref, M * out, 1e-5, 1e-5);
    free(merged), free(ref);
    lin_case_free(&c);
}

static void test_linear_lora_gradients(void) {
    LinCase c;
    int64_t M = 6, in = 10, out = 8, r = 4;
    lin_case_init(&c, M, in, out, r, 0.5f);
    float *dx = alloc_floats(M * in), *work = alloc_floats((int64_t)linear_module_work_floats(&c.m, M) + 1);
    lin_loss(&c);
    linear_module_backward(&c.m, dx, c.dout, c.x, M, work);
    gradcheck_coords("linear dx", lin_loss, &c, c.x, dx, M * in, 1e-2f, 1e-3, 1e-3, 1000, 1);
    gradcheck_coords("lora ddown", lin_loss, &c, (float *)c.a.down, c.a.ddown, r * in, 1e-2f, 1e-3, 1e-3, 1000, 2);
    gradcheck_coords("lora dup", lin_loss, &c, (float *)c.a.up, c.a.dup, out * r, 1e-2f, 1e-3, 1e-3, 1000, 3);
    // grads accumulate: a second backward doubles ddown/dup, dx is overwritten
    float *ddown1 = alloc_floats(r * in);
    memcpy(ddown1, c.a.ddown, (size_t)(r * in) * sizeof(float));
    float *dx1 = alloc_floats(M * in);
    memcpy(dx1, dx, (size_t)(M * in) * sizeof(float));
    linear_module_backward(&c.m, dx, c.dout, c.x, M, work);
    for (int64_t i = 0; i < r * in; i++) CHECK(fabsf(c.a.ddown[i] - 2 * ddown1[i]) <= 1e-5f * (1 + fabsf(ddown1[i])));
    CHECK(max_abs_diff(dx, dx1, M * in) == 0);
    // base weights are frozen: the module has no dw/db and nothing else was touched
    CHECK(c.m.dw == NULL && c.m.db == NULL);
    free(ddown1), free(dx1), free(dx), free(work);
    lin_case_free(&c);
}

// ---- Conv2d + LoRA (LoCon) ----
typedef struct {
    Conv2d m;
    LoraAdapter a;
    int64_t N, H, W;
    float *x, *y, *dout, *work;
} ConvCase;

static void conv_case_init(ConvCase *c, int64_t N, int64_t in, int64_t H, int64_t W, int64_t out, int64_t k,
                           int64_t stride, int64_t r, float scale) {
    memset(c, 0, sizeof *c);
    c->N = N, c->H = H, c->W = W;
    c->m = conv_module(alloc_randn(out * in * k * k, 0.2f, 21), alloc_randn(out, 0.1f, 22), in, out, k, stride, k / 2);
    Conv2dDims d = conv_module_dims(&c->m, N, H, W);
    int64_t ohw = conv2d_out_h(&d) * conv2d_out_w(&d);
    c->a = (LoraAdapter){.down = alloc_randn(r * in * k * k, 0.3f, 23), .up = alloc_randn(out * r, 0.3f, 24),
                         .ddown = alloc_floats(r * in * k * k), .dup = alloc_floats(out * r), .rank = r,
                         .scale = scale, .h = alloc_floats(N * r * ohw)};
    c->m.lora = &c->a;
    c->x = alloc_randn(N * in * H * W, 1.0f, 25);
    c->y = alloc_floats(N * out * ohw);
    c->dout = alloc_randn(N * out * ohw, 1.0f, 26);
    c->work = alloc_floats((int64_t)conv_module_work_floats(&c->m, N, H, W) + 1);
}

static void conv_case_free(ConvCase *c) {
    free((void *)c->a.down), free((void *)c->a.up), free(c->a.ddown), free(c->a.dup), free(c->a.h);
    free((void *)c->m.w), free((void *)c->m.b), free(c->x), free(c->y), free(c->dout), free(c->work);
}

static int64_t conv_out_numel(const ConvCase *c) {
    Conv2dDims d = conv_module_dims(&c->m, c->N, c->H, c->W);
    return c->N * c->m.out * conv2d_out_h(&d) * conv2d_out_w(&d);
}

static double conv_loss(void *ctx) {
    ConvCase *c = ctx;
    conv_module_forward(&c->m, c->y, c->x, c->N, c->H, c->W, c->work);
    return dot_double(c->y, c->dout, conv_out_numel(c));
}

static void test_conv_lora_equals_merged(void) {
    int64_t cfg[][3] = {{3, 1, 0}, {3, 2, 0}, {1, 1, 0}}; // k, stride
    for (int t = 0; t < 3; t++) {
        ConvCase c;
        int64_t k = cfg[t][0], s = cfg[t][1], in = 5, out = 6, r = 2;
        conv_case_init(&c, 2, in, 7, 6, out, k, s, r, 1.25f);
        int64_t kk = k * k, nw = out * in * kk;
        float *merged = alloc_floats(nw), *ref = alloc_floats(conv_out_numel(&c));
        for (int64_t o = 0; o < out; o++)
            for (int64_t i = 0; i < in * kk; i++) {
                double v = c.m.w[o * in * kk + i];
                for (int64_t q = 0; q < r; q++) v += 1.25 * c.a.up[o * r + q] * c.a.down[q * in * kk + i];
                merged[o * in * kk + i] = (float)v;
            }
        Conv2dDims d = conv_module_dims(&c.m, c.N, c.H, c.W);
        conv_module_forward(&c.m, c.y, c.x, c.N, c.H, c.W, c.work);
        conv2d_forward_naive(ref, c.x, merged, c.m.b, &d);
        check_close("conv+lora vs merged", c.y, ref, conv_out_numel(&c), 1e-5, 1e-5);
        free(merged), free(ref);
        conv_case_free(&c);
    }
}

static void test_conv_lora_gradients(void) {
    ConvCase c;
    int64_t in = 4, out = 5, k = 3, r = 3, N = 2, H = 6, W = 5;
    conv_case_init(&c, N, in, H, W, out, k, 1, r, 0.8f);
    float *dx = alloc_floats(N * in * H * W);
    conv_loss(&c);
    conv_module_backward(&c.m, dx, c.dout, c.x, N, H, W, c.work);
    gradcheck_coords("conv dx", conv_loss, &c, c.x, dx, N * in * H * W, 1e-2f, 1e-3, 1e-3, 60, 4);
    gradcheck_coords("locon ddown", conv_loss, &c, (float *)c.a.down, c.a.ddown, r * in * k * k, 1e-2f, 1e-3, 1e-3, 60, 5);
    gradcheck_coords("locon dup", conv_loss, &c, (float *)c.a.up, c.a.dup, out * r, 1e-2f, 1e-3, 1e-3, 1000, 6);
    gradcheck_dir("conv dx (dir)", conv_loss, &c, c.x, dx, N * in * H * W, 1e-2f, 1e-3, 3, 7);
    free(dx);
    conv_case_free(&c);
}

int main(void) {
    RUN(test_linear_lora_equals_merged);
    RUN(test_linear_lora_gradients);
    RUN(test_conv_lora_equals_merged);
    RUN(test_conv_lora_gradients);
    return test_finish();
}
