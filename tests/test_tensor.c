// test_tensor.c — the plumbing ops of ops/tensor.h: elementwise add/add_into/scale (in place
// too), per-channel bias broadcast and its backward, channel concat/split, nearest 2x upsample
// and its backward, NCHW <-> NHWC transposes. Copies and adds are exact in float, so most
// checks are bit-for-bit against plain index loops; backward passes are checked against finite
// differences and (for the linear maps) the adjoint identity <A x, y> = <x, A^T y>.
// Real SD shapes with timings are skipped by test_quick().
#include "harness.h"
#include "gradcheck.h"
#include "ops/tensor.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int same_bits(const float *a, const float *b, int64_t n) { return memcmp(a, b, (size_t)n * sizeof(float)) == 0; }

// ---- elementwise ----

static void test_add_scale(void) {
    const int64_t sizes[3] = {1, 1001, 200003}; // serial, serial with a SIMD tail, parallel
    for (int k = 0; k < 3; k++) {
        int64_t n = sizes[k];
        float *a = alloc_randn(n, 1.0f, 1), *b = alloc_randn(n, 3.0f, 2), *o = alloc_floats(n), *ref = alloc_floats(n);
        for (int64_t i = 0; i < n; i++) ref[i] = a[i] + b[i];
        add_forward(o, a, b, n);
        CHECKF(same_bits(o, ref, n), "add n=%lld", (long long)n);
        memcpy(o, a, (size_t)n * sizeof(float));
        add_forward(o, o, b, n); // out == a
        CHECKF(same_bits(o, ref, n), "add in place (a) n=%lld", (long long)n);
        memcpy(o, b, (size_t)n * sizeof(float));
        add_forward(o, a, o, n); // out == b
        CHECKF(same_bits(o, ref, n), "add in place (b) n=%lld", (long long)n);
        memcpy(o, a, (size_t)n * sizeof(float));
        add_into(o, b, n);
        CHECKF(same_bits(o, ref, n), "add_into n=%lld", (long long)n);
        for (int64_t i = 0; i < n; i++) ref[i] = a[i] * -0.37f;
        memcpy(o, a, (size_t)n * sizeof(float));
        scale_inplace(o, -0.37f, n);
        CHECKF(same_bits(o, ref, n), "scale n=%lld", (long long)n);
        free(a); free(b); free(o); free(ref);
    }
    // n = 0 touches nothing
    float z = 5.0f;
    add_forward(&z, &z, &z, 0); add_into(&z, &z, 0); scale_inplace(&z, 2.0f, 0);
    CHECK(z == 5.0f);
}

// ---- per-channel bias ----

typedef struct {
    const float *x0, *dout;
    float *bias, *x;
    int64_t N, C, HW;
    int which; // 0 bias broadcast, 1 concat, 2 upsample
    float *a, *b;
} FdCtx;

static double fd_loss(void *p) {
    FdCtx *c = p;
    int64_t n;
    if (c->which == 0) {
        n = c->N * c->C * c->HW;
        memcpy(c->x, c->x0, (size_t)n * sizeof(float));
        add_channel_bias_forward(c->x, c->bias, c->N, c->C, c->HW);
    } else if (c->which == 1) {
        n = c->N * c->C * c->HW; // C = C1 + C2 here
        concat_channels_forward(c->x, c->a, c->b, c->N, 3, c->C - 3, c->HW);
    } else {
        n = c->N * c->C * 4 * c->HW; // (NC, 2H, 2W) with HW = H*W, N*C = NC
        upsample_nearest2x_forward(c->x, c->a, c->N * c->C, 5, c->HW / 5);
    }
    return dot_double(c->dout, c->x, n);
}

static void test_channel_bias(void) {
    const int64_t shapes[3][3] = {{2, 3, 5}, {1, 320, 4096}, {3, 7, 1}};
    for (int s = 0; s < 3; s++) {
        int64_t N = shapes[s][0], C = shapes[s][1], HW = shapes[s][2], n = N * C * HW;
        float *x0 = alloc_randn(n, 1.0f, 10), *bias = alloc_randn(N * C, 1.0f, 11), *x = alloc_floats(n), *ref = alloc_floats(n);
        for (int64_t i = 0; i < n; i++) ref[i] = x0[i] + bias[i / HW];
        memcpy(x, x0, (size_t)n * sizeof(float));
        add_channel_bias_forward(x, bias, N, C, HW);
        CHECKF(same_bits(x, ref, n), "bias forward (%lld,%lld,%lld)", (long long)N, (long long)C, (long long)HW);
        // backward accumulates: dbias starts non-zero
        float *dout = alloc_randn(n, 1.0f, 12), *db = alloc_randn(N * C, 1.0f, 13), *db0 = alloc_floats(N * C), *dref = alloc_floats(N * C);
        memcpy(db0, db, (size_t)(N * C) * sizeof(float));
        for (int64_t r = 0; r < N * C; r++) {
            double sum = 0;
            for (int64_t i = 0; i < HW; i++) sum += dout[r * HW + i];
            dref[r] = (float)((double)db0[r] + (float)sum);
        }
        add_channel_bias_backward(db, dout, N, C, HW);
        // the HW-sum in double differs from this serial double sum only by double rounding
        check_close("bias backward", db, dref, N * C, 1e-6, 1e-6);
        free(x0); free(bias); free(x); free(ref); free(dout); free(db); free(db0); free(dref);
    }
    // finite differences on the bias
    int64_t N = 2, C = 4, HW = 9, n = N * C * HW;
    float *x0 = alloc_randn(n, 1.0f, 20), *x = alloc_floats(n), *bias = alloc_randn(N * C, 1.0f, 21), *dout = alloc_randn(n, 1.0f, 22);
    float *db = alloc_floats(N * C);
    add_channel_bias_backward(db, dout, N, C, HW);
    FdCtx c = {.x0 = x0, .x = x, .bias = bias, .dout = dout, .N = N, .C = C, .HW = HW, .which = 0};
    gradcheck_coords("bias coords", fd_loss, &c, bias, db, N * C, 1e-2f, 1e-5, 1e-5, (int)(N * C), 1);
    gradcheck_dir("bias dir", fd_loss, &c, bias, db, N * C, 1e-2f, 1e-5, 2, 2);
    free(x0); free(x); free(bias); free(dout); free(db);
}

// ---- concat ----

static void concat_naive(float *out, const float *a, const float *b, int64_t N, int64_t C1, int64_t C2, int64_t HW) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C1 + C2; c++)
            for (int64_t p = 0; p < HW; p++)
                out[(n * (C1 + C2) + c) * HW + p] = c < C1 ? a[(n * C1 + c) * HW + p] : b[(n * C2 + c - C1) * HW + p];
}

static void test_concat(void) {
    const int64_t shapes[4][4] = {{2, 3, 5, 7}, {1, 1, 1, 1}, {3, 17, 9, 1001}, {2, 64, 32, 1024}};
    for (int s = 0; s < 4; s++) {
        int64_t N = shapes[s][0], C1 = shapes[s][1], C2 = shapes[s][2], HW = shapes[s][3], n = N * (C1 + C2) * HW;
        float *a = alloc_randn(N * C1 * HW, 1.0f, 30), *b = alloc_randn(N * C2 * HW, 1.0f, 31);
        float *o = alloc_floats(n), *ref = alloc_floats(n);
        concat_channels_forward(o, a, b, N, C1, C2, HW);
        concat_naive(ref, a, b, N, C1, C2, HW);
        CHECKF(same_bits(o, ref, n), "concat (%lld,%lld+%lld,%lld)", (long long)N, (long long)C1, (long long)C2, (long long)HW);
        float *da = alloc_floats(N * C1 * HW), *db = alloc_floats(N * C2 * HW);
        concat_channels_backward(da, db, o, N, C1, C2, HW);
        CHECK(same_bits(da, a, N * C1 * HW) && same_bits(db, b, N * C2 * HW));
        memset(da, 0, (size_t)(N * C1 * HW) * sizeof(float));
        concat_channels_backward(da, NULL, o, N, C1, C2, HW);
        CHECK(same_bits(da, a, N * C1 * HW));
        memset(db, 0, (size_t)(N * C2 * HW) * sizeof(float));
        concat_channels_backward(NULL, db, o, N, C1, C2, HW);
        CHECK(same_bits(db, b, N * C2 * HW));
        free(a); free(b); free(o); free(ref); free(da); free(db);
    }
    // finite differences through the forward (L linear in a, b: exact up to rounding)
    int64_t N = 2, C1 = 3, C2 = 4, HW = 5, n = N * (C1 + C2) * HW;
    float *a = alloc_randn(N * C1 * HW, 1.0f, 40), *b = alloc_randn(N * C2 * HW, 1.0f, 41), *o = alloc_floats(n);
    float *dout = alloc_randn(n, 1.0f, 42), *da = alloc_floats(N * C1 * HW), *db = alloc_floats(N * C2 * HW);
    concat_channels_backward(da, db, dout, N, C1, C2, HW);
    FdCtx c = {.x = o, .a = a, .b = b, .dout = dout, .N = N, .C = C1 + C2, .HW = HW, .which = 1};
    gradcheck_coords("concat da", fd_loss, &c, a, da, N * C1 * HW, 1e-2f, 1e-5, 1e-5, 1000, 3);
    gradcheck_coords("concat db", fd_loss, &c, b, db, N * C2 * HW, 1e-2f, 1e-5, 1e-5, 1000, 4);
    gradcheck_dir("concat da dir", fd_loss, &c, a, da, N * C1 * HW, 1e-2f, 1e-5, 2, 5);
    gradcheck_dir("concat db dir", fd_loss, &c, b, db, N * C2 * HW, 1e-2f, 1e-5, 2, 6);
    free(a); free(b); free(o); free(dout); free(da); free(db);
}

// ---- upsample ----

static void test_upsample(void) {
    const int64_t shapes[4][3] = {{1, 1, 1}, {3, 5, 7}, {6, 4, 33}, {2, 16, 16}};
    for (int s = 0; s < 4; s++) {
        int64_t NC = shapes[s][0], H = shapes[s][1], W = shapes[s][2], n = NC * H * W;
        float *x = alloc_randn(n, 1.0f, 50), *o = alloc_floats(4 * n), *ref = alloc_floats(4 * n);
        upsample_nearest2x_forward(o, x, NC, H, W);
        upsample_nearest2x_forward_naive(ref, x, NC, H, W);
        CHECKF(same_bits(o, ref, 4 * n), "upsample forward (%lld,%lld,%lld)", (long long)NC, (long long)H, (long long)W);
        // each output is its source pixel (direct index check, independent of the naive loop)
        CHECK(o[0] == x[0] && o[4 * n - 1] == x[n - 1]);
        float *dout = alloc_randn(4 * n, 1.0f, 51), *d = alloc_floats(n), *dref = alloc_floats(n);
        upsample_nearest2x_backward(d, dout, NC, H, W);
        upsample_nearest2x_backward_naive(dref, dout, NC, H, W);
        CHECKF(same_bits(d, dref, n), "upsample backward (%lld,%lld,%lld)", (long long)NC, (long long)H, (long long)W);
        // adjoint: <up(x), dout> = <x, up^T(dout)>
        double lhs = dot_double(o, dout, 4 * n), rhs = dot_double(x, d, n);
        CHECKF(fabs(lhs - rhs) <= 1e-5 * (1 + fabs(lhs)), "adjoint %.9g vs %.9g", lhs, rhs);
        free(x); free(o); free(ref); free(dout); free(d); free(dref);
    }
    int64_t NC = 2, H = 5, W = 3, n = NC * H * W;
    float *x = alloc_randn(n, 1.0f, 60), *o = alloc_floats(4 * n), *dout = alloc_randn(4 * n, 1.0f, 61), *d = alloc_floats(n);
    upsample_nearest2x_backward(d, dout, NC, H, W);
    FdCtx c = {.x = o, .a = x, .dout = dout, .N = NC, .C = 1, .HW = H * W, .which = 2};
    gradcheck_coords("upsample coords", fd_loss, &c, x, d, n, 1e-2f, 1e-5, 1e-5, (int)n, 5);
    gradcheck_dir("upsample dir", fd_loss, &c, x, d, n, 1e-2f, 1e-5, 2, 6);
    free(x); free(o); free(dout); free(d);
}

// ---- transposes ----

static void test_transpose(void) {
    const int64_t shapes[6][3] = {{1, 1, 1}, {2, 13, 37}, {1, 8, 16}, {3, 130, 129}, {1, 320, 64}, {2, 257, 300}};
    for (int s = 0; s < 6; s++) {
        int64_t N = shapes[s][0], C = shapes[s][1], HW = shapes[s][2], n = N * C * HW;
        float *x = alloc_randn(n, 1.0f, 70), *t = alloc_floats(n), *ref = alloc_floats(n), *back = alloc_floats(n);
        transpose_nchw_to_nhwc(t, x, N, C, HW);
        transpose_nchw_to_nhwc_naive(ref, x, N, C, HW);
        CHECKF(same_bits(t, ref, n), "nchw->nhwc (%lld,%lld,%lld)", (long long)N, (long long)C, (long long)HW);
        // direct index spot check, independent of the naive loop: out[n][p][c] = in[n][c][p]
        int64_t nn = N - 1, c = C / 2, p = HW - 1;
        CHECK(t[(nn * HW + p) * C + c] == x[(nn * C + c) * HW + p]);
        transpose_nhwc_to_nchw(back, t, N, C, HW);
        CHECKF(same_bits(back, x, n), "nhwc->nchw round trip (%lld,%lld,%lld)", (long long)N, (long long)C, (long long)HW);
        transpose_nhwc_to_nchw_naive(ref, t, N, C, HW);
        CHECK(same_bits(ref, x, n));
        // the two are each other's adjoint (the backward of one is the other)
        float *y = alloc_randn(n, 1.0f, 71), *ty = alloc_floats(n);
        transpose_nhwc_to_nchw(ty, y, N, C, HW);
        double lhs = dot_double(t, y, n), rhs = dot_double(x, ty, n);
        CHECKF(fabs(lhs - rhs) <= 1e-9 * (1 + fabs(lhs)), "adjoint %.12g vs %.12g", lhs, rhs);
        free(x); free(t); free(ref); free(back); free(y); free(ty);
    }
}

// ---- real shapes, timed ----

typedef void (*TimedFn)(void *);
static double best_ms(TimedFn fn, void *ctx, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = now_s();
        fn(ctx);
        t = now_s() - t;
        if (t < best) best = t;
    }
    return best * 1e3;
}

typedef struct { float *o, *i, *j; int64_t a, b, c, d; } Args;
static void run_t_fwd(void *p) { Args *q = p; transpose_nchw_to_nhwc(q->o, q->i, q->a, q->b, q->c); }
static void run_t_bwd(void *p) { Args *q = p; transpose_nhwc_to_nchw(q->o, q->i, q->a, q->b, q->c); }
static void run_t_naive(void *p) { Args *q = p; transpose_nchw_to_nhwc_naive(q->o, q->i, q->a, q->b, q->c); }
static void run_up_fwd(void *p) { Args *q = p; upsample_nearest2x_forward(q->o, q->i, q->a, q->b, q->c); }
static void run_up_bwd(void *p) { Args *q = p; upsample_nearest2x_backward(q->o, q->i, q->a, q->b, q->c); }
static void run_up_naive(void *p) { Args *q = p; upsample_nearest2x_forward_naive(q->o, q->i, q->a, q->b, q->c); }
static void run_cat_fwd(void *p) { Args *q = p; concat_channels_forward(q->o, q->i, q->j, q->a, q->b, q->c, q->d); }
static void run_cat_bwd(void *p) { Args *q = p; concat_channels_backward(q->i, q->j, q->o, q->a, q->b, q->c, q->d); }
static void run_memcpy(void *p) { Args *q = p; memcpy(q->o, q->i, (size_t)q->a * sizeof(float)); }

static void test_real_shapes(void) {
    if (test_quick()) return;
    // transposes at the first UNet level: (1, 320, 64·64)
    {
        int64_t N = 1, C = 320, HW = 4096, n = N * C * HW;
        float *x = alloc_randn(n, 1.0f, 80), *t = alloc_floats(n), *ref = alloc_floats(n), *back = alloc_floats(n), *scratch = alloc_floats(n);
        Args a = {t, x, NULL, N, C, HW, 0}, b = {back, t, NULL, N, C, HW, 0}, nv = {ref, x, NULL, N, C, HW, 0}, mc = {scratch, x, NULL, n, 0, 0, 0};
        double tf = best_ms(run_t_fwd, &a, 5), tb = best_ms(run_t_bwd, &b, 5), tn = best_ms(run_t_naive, &nv, 2), tm = best_ms(run_memcpy, &mc, 5);
        CHECK(same_bits(t, ref, n));
        CHECK(same_bits(back, x, n));
        double gb = 2.0 * (double)n * 4 / 1e9;
        printf("  perf transpose (1,320,4096): nchw->nhwc %.3f ms (%.1f GB/s), nhwc->nchw %.3f ms (%.1f GB/s), naive %.3f ms, memcpy %.3f ms\n",
               tf, gb / tf * 1e3, tb, gb / tb * 1e3, tn, tm);
        free(x); free(t); free(ref); free(back); free(scratch);
    }
    // upsample at the last UNet upsampler: (1, 1280, 32, 32) -> (1, 1280, 64, 64)
    {
        int64_t NC = 1280, H = 32, W = 32, n = NC * H * W;
        float *x = alloc_randn(n, 1.0f, 81), *o = alloc_floats(4 * n), *ref = alloc_floats(4 * n), *d = alloc_floats(n), *dref = alloc_floats(n);
        Args f = {o, x, NULL, NC, H, W, 0}, nv = {ref, x, NULL, NC, H, W, 0}, bw = {d, o, NULL, NC, H, W, 0};
        double tf = best_ms(run_up_fwd, &f, 5), tn = best_ms(run_up_naive, &nv, 2), tb = best_ms(run_up_bwd, &bw, 5);
        CHECK(same_bits(o, ref, 4 * n));
        upsample_nearest2x_backward_naive(dref, o, NC, H, W);
        CHECK(same_bits(d, dref, n));
        printf("  perf upsample (1,1280,32,32): forward %.3f ms (%.1f GB/s), naive %.3f ms; backward %.3f ms (%.1f GB/s)\n",
               tf, 5.0 * n * 4 / 1e6 / tf, tn, tb, 5.0 * n * 4 / 1e6 / tb);
        free(x); free(o); free(ref); free(d); free(dref);
    }
    // skip concat at the 32x32 level: (1, 1280 + 640, 1024)
    {
        int64_t N = 1, C1 = 1280, C2 = 640, HW = 1024, n = N * (C1 + C2) * HW;
        float *a = alloc_randn(N * C1 * HW, 1.0f, 82), *b = alloc_randn(N * C2 * HW, 1.0f, 83), *o = alloc_floats(n), *ref = alloc_floats(n);
        float *da = alloc_floats(N * C1 * HW), *db = alloc_floats(N * C2 * HW);
        float *scratch = alloc_floats(n);
        Args f = {o, a, b, N, C1, C2, HW}, bw = {o, da, db, N, C1, C2, HW}, mc = {scratch, o, NULL, n, 0, 0, 0};
        double tf = best_ms(run_cat_fwd, &f, 5), tb = best_ms(run_cat_bwd, &bw, 5), tm = best_ms(run_memcpy, &mc, 5);
        concat_naive(ref, a, b, N, C1, C2, HW);
        CHECK(same_bits(o, ref, n));
        CHECK(same_bits(da, a, N * C1 * HW) && same_bits(db, b, N * C2 * HW));
        printf("  perf concat (1,1280+640,1024): forward %.3f ms (%.1f GB/s), split %.3f ms, memcpy of the output %.3f ms\n",
               tf, 2.0 * n * 4 / 1e6 / tf, tb, tm);
        free(a); free(b); free(o); free(ref); free(da); free(db); free(scratch);
    }
}

int main(void) {
    RUN(test_add_scale);
    RUN(test_channel_bias);
    RUN(test_concat);
    RUN(test_upsample);
    RUN(test_transpose);
    RUN(test_real_shapes);
    return test_finish();
}
