// test_conv2d.c — conv2d: the im2col/GEMM kernels against the naive definition at small shapes
// (1x1, 3x3, stride 1/2, symmetric and asymmetric padding, non-square, odd sizes, N=2, several
// row tiles, both input-gradient routes), the gradient rules (dinp overwritten, dw/db
// accumulated, NULL skips), finite-difference gradient checks, and real SD shapes (320->320
// at 64x64 stride 1 and 2, the VAE downsampler, a decoder 640->320 conv, a LoCon down
// projection) through sampled direct sums plus directional gradient checks.
#include "harness.h"
#include "gradcheck.h"
#include "ops/conv2d.h"
#include <stdlib.h>
#include <string.h>

// Tolerances, relative to the largest reference magnitude. The naive reference accumulates in
// double; the fast path is an fp32 sgemm over K = IC*KH*KW (or N*OH*OW for dw) terms, whose
// error grows like sqrt(K)*2^-24. Observed (OpenBLAS, Zen): small shapes <= 5.5e-7, real shapes
// (sampled) <= 4e-7; the bounds below leave about a 10x margin.
#define SMALL_RTOL 5e-6
#define REAL_RTOL 4e-6
// Finite differences: the loss is linear in each argument, so the error is fp32 rounding of
// the forward seen through the difference quotient. Observed relative errors of the directional
// check: <= 2.1e-5 small, <= 1.6e-5 at real shapes.
#define GRAD_RTOL 1e-4
#define GRAD_RTOL_REAL 2e-4

typedef struct {
    const char *name;
    int64_t N, IC, OC, H, W, KH, KW, stride, pt, pb, pl, pr;
    int bias;
} Case;

static const Case small_cases[] = {
    {"1x1 s1",            2, 5, 4, 6, 7, 1, 1, 1, 0, 0, 0, 0, 1},
    {"1x1 s1 no bias",    1, 3, 6, 5, 5, 1, 1, 1, 0, 0, 0, 0, 0},
    {"1x1 s2",            1, 3, 4, 7, 5, 1, 1, 2, 0, 0, 0, 0, 1},
    {"1x1 s1 pad1",       1, 2, 3, 4, 5, 1, 1, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 p1",         2, 4, 6, 9, 7, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 p1 no bias", 1, 3, 5, 8, 8, 3, 3, 1, 1, 1, 1, 1, 0},
    {"3x3 s1 p0",         1, 3, 2, 5, 6, 3, 3, 1, 0, 0, 0, 0, 1},
    {"3x3 s2 p1 odd",     1, 3, 5, 9, 7, 3, 3, 2, 1, 1, 1, 1, 1},
    {"3x3 s2 p1 even",    2, 4, 3, 8, 10, 3, 3, 2, 1, 1, 1, 1, 0},
    {"3x3 s2 (0,1,0,1)",  2, 4, 3, 8, 8, 3, 3, 2, 0, 1, 0, 1, 1},
    {"3x3 s2 (0,1,0,1) odd", 1, 3, 4, 7, 9, 3, 3, 2, 0, 1, 0, 1, 0},
    {"3x5 kernel, pads (1,0,2,1)", 2, 3, 4, 6, 9, 3, 5, 1, 1, 0, 2, 1, 1},
    {"2x2 s2 p0",         1, 3, 3, 6, 7, 2, 2, 2, 0, 0, 0, 0, 1},
    {"3x3 s1 p1 two tiles", 1, 2, 3, 40, 48, 3, 3, 1, 1, 1, 1, 1, 1},    // 1920 output pixels
    {"3x3 s2 p1 two tiles", 1, 2, 3, 80, 77, 3, 3, 2, 1, 1, 1, 1, 0},    // 40x39 outputs
    {"3x3 s1 p1 wide row",  1, 2, 2, 3, 1500, 3, 3, 1, 1, 1, 1, 1, 1},   // one row per tile
    // OC < IC at stride 1: dinp is computed as a convolution of dout with the flipped kernel.
    {"3x3 s1 p1 OC<IC",     2, 6, 3, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1},
    {"3x5 pads (1,0,2,1) OC<IC", 1, 5, 2, 6, 8, 3, 5, 1, 1, 0, 2, 1, 0},
    {"3x3 s1 p2 OC<IC",     1, 4, 3, 5, 6, 3, 3, 1, 2, 2, 2, 2, 1},       // pad = K-1: no flipped pad
    {"3x3 s1 p3 OC<IC",     1, 4, 3, 5, 6, 3, 3, 1, 3, 3, 3, 3, 1},       // pad > K-1: col2im route
    {"1x1 s1 pad1 OC<IC",   1, 3, 2, 4, 5, 1, 1, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 p1 OC<IC two tiles", 1, 4, 2, 40, 48, 3, 3, 1, 1, 1, 1, 1, 0},
};
#define N_SMALL ((int)(sizeof small_cases / sizeof small_cases[0]))

static Conv2dDims case_dims(const Case *c) {
    Conv2dDims d = {.N = c->N, .IC = c->IC, .H = c->H, .W = c->W, .OC = c->OC, .KH = c->KH, .KW = c->KW,
                    .stride = c->stride, .pad_top = c->pt, .pad_bottom = c->pb, .pad_left = c->pl, .pad_right = c->pr};
    return d;
}

typedef struct {
    Conv2dDims d;
    int64_t n_inp, n_w, n_out;
    float *inp, *w, *b, *out, *dout, *work;
} Problem;

static float *alloc_nan(int64_t n) {
    float *p = alloc_floats(n);
    for (int64_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

static Problem problem_make(Conv2dDims d, int bias, float wscale, uint64_t seed) {
    Problem p = {.d = d};
    p.n_inp = d.N * d.IC * d.H * d.W;
    p.n_w = d.OC * d.IC * d.KH * d.KW;
    p.n_out = d.N * d.OC * conv2d_out_h(&d) * conv2d_out_w(&d);
    p.inp = alloc_randn(p.n_inp, 1.0f, seed);
    p.w = alloc_randn(p.n_w, wscale, seed + 1);
    p.b = bias ? alloc_randn(d.OC, 0.5f, seed + 2) : NULL;
    p.out = alloc_floats(p.n_out);
    p.dout = alloc_randn(p.n_out, 1.0f, seed + 3);
    // NaN work memory: any read of work before the kernel writes it shows up in the results.
    p.work = alloc_nan((int64_t)conv2d_work_floats(&d) + 1);
    return p;
}

static void problem_free(Problem *p) {
    free(p->inp); free(p->w); free(p->b); free(p->out); free(p->dout); free(p->work);
}

// L = sum(dout ⊙ conv(inp, w, b)) in double, through the fast forward.
static double conv_loss(void *ctx) {
    Problem *p = ctx;
    conv2d_forward(p->out, p->inp, p->w, p->b, &p->d, p->work);
    return dot_double(p->out, p->dout, p->n_out);
}

static void test_dims(void) {
    Conv2dDims d = conv2d_dims(2, 320, 64, 64, 640, 3, 2, 1);
    CHECK(d.KH == 3 && d.KW == 3 && d.pad_top == 1 && d.pad_right == 1 && d.stride == 2);
    CHECK(conv2d_out_h(&d) == 32 && conv2d_out_w(&d) == 32);
    Conv2dDims v = conv2d_dims(1, 128, 512, 512, 128, 3, 2, 0);
    v.pad_bottom = v.pad_right = 1; // VAE downsampler: 513 padded -> 256
    CHECK(conv2d_out_h(&v) == 256 && conv2d_out_w(&v) == 256);
    Conv2dDims e = conv2d_dims(1, 3, 7, 9, 4, 3, 2, 0);
    e.pad_bottom = e.pad_right = 1;
    CHECK(conv2d_out_h(&e) == 3 && conv2d_out_w(&e) == 4);
    Conv2dDims one = conv2d_dims(1, 320, 64, 64, 320, 1, 1, 0);
    CHECK(conv2d_work_floats(&one) == 0);
    // Work memory stays bounded at full VAE resolution (not proportional to H*W*IC*9).
    Conv2dDims vae = conv2d_dims(1, 128, 512, 512, 128, 3, 1, 1);
    CHECK(conv2d_work_floats(&vae) * sizeof(float) <= ((size_t)32 << 20));
    Conv2dDims vae2 = conv2d_dims(1, 512, 512, 512, 512, 3, 1, 1);
    CHECK(conv2d_work_floats(&vae2) * sizeof(float) <= ((size_t)32 << 20));
    Conv2dDims unet = conv2d_dims(1, 320, 64, 64, 320, 3, 1, 1);
    CHECK(conv2d_work_floats(&unet) >= (size_t)(320 * 9 * 64)); // at least one output row
}

static void test_forward_vs_naive(void) {
    for (int ci = 0; ci < N_SMALL; ci++) {
        const Case *c = &small_cases[ci];
        Problem p = problem_make(case_dims(c), c->bias, 1.0f, 100 + (uint64_t)ci);
        float *ref = alloc_floats(p.n_out);
        conv2d_forward_naive(ref, p.inp, p.w, p.b, &p.d);
        for (int64_t i = 0; i < p.n_out; i++) p.out[i] = NAN; // the forward must overwrite every output
        conv2d_forward(p.out, p.inp, p.w, p.b, &p.d, p.work);
        char what[128];
        snprintf(what, sizeof what, "forward %s", c->name);
        check_close(what, p.out, ref, p.n_out, 0.0, SMALL_RTOL);
        free(ref);
        problem_free(&p);
    }
}

// Naive forward at one spot for a hand-made case: a 2x2 input, 2x2 kernel, stride 1, pad 0
// gives one output = sum of products, plus bias. Guards against a reference and a kernel that
// agree on a wrong definition.
static void test_naive_by_hand(void) {
    Conv2dDims d = conv2d_dims(1, 1, 3, 3, 1, 2, 1, 0);
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 10, 100, 1000}, b[1] = {0.5f}, out[4];
    conv2d_forward_naive(out, x, w, b, &d);
    CHECK(out[0] == 1 + 20 + 400 + 5000 + 0.5f);       // x[0,0], x[0,1], x[1,0], x[1,1]
    CHECK(out[3] == 5 + 60 + 800 + 9000 + 0.5f);
    // Asymmetric pad (0,1,0,1), stride 2 on the 3x3 input: output (2, 2); the bottom-right
    // output sees only x[2,2] at tap (0,0).
    Conv2dDims e = conv2d_dims(1, 1, 3, 3, 1, 2, 2, 0);
    e.pad_bottom = e.pad_right = 1;
    CHECK(conv2d_out_h(&e) == 2 && conv2d_out_w(&e) == 2);
    float work[64];
    conv2d_forward(out, x, w, NULL, &e, work);
    CHECK(out[0] == 1 + 20 + 400 + 5000);
    CHECK(out[1] == 3 + 0 + 600 + 0);
    CHECK(out[3] == 9);
}

static void test_backward_vs_naive(void) {
    for (int ci = 0; ci < N_SMALL; ci++) {
        const Case *c = &small_cases[ci];
        Problem p = problem_make(case_dims(c), c->bias, 1.0f, 200 + (uint64_t)ci);
        const Conv2dDims *d = &p.d;
        // Reference gradients from zero, and the accumulation targets' initial values.
        float *g_inp = alloc_floats(p.n_inp), *g_w = alloc_floats(p.n_w), *g_b = alloc_floats(d->OC);
        conv2d_backward_naive(g_inp, g_w, g_b, p.dout, p.inp, p.w, d);
        float *w0 = alloc_randn(p.n_w, 1.0f, 300 + (uint64_t)ci), *b0 = alloc_randn(d->OC, 1.0f, 400 + (uint64_t)ci);
        float *want_w = alloc_floats(p.n_w), *want_b = alloc_floats(d->OC);
        for (int64_t i = 0; i < p.n_w; i++) want_w[i] = w0[i] + g_w[i];
        for (int64_t i = 0; i < d->OC; i++) want_b[i] = b0[i] + g_b[i];
        double gw_mag = max_abs(g_w, p.n_w), gb_mag = max_abs(g_b, d->OC);

        float *dinp = alloc_floats(p.n_inp), *dw = alloc_floats(p.n_w), *db = alloc_floats(d->OC);
        // All 8 NULL patterns: dinp must be overwritten (it starts as NaN), dw/db accumulate.
        for (int mask = 0; mask < 8; mask++) {
            int want_dinp = mask & 1, want_dw = mask & 2, want_db = mask & 4;
            for (int64_t i = 0; i < p.n_inp; i++) dinp[i] = NAN;
            memcpy(dw, w0, (size_t)p.n_w * sizeof(float));
            memcpy(db, b0, (size_t)d->OC * sizeof(float));
            for (int64_t i = 0; i < (int64_t)conv2d_work_floats(d); i++) p.work[i] = NAN;
            conv2d_backward(want_dinp ? dinp : NULL, want_dw ? dw : NULL, want_db ? db : NULL,
                            p.dout, p.inp, p.w, d, p.work);
            char what[160];
            if (want_dinp) {
                snprintf(what, sizeof what, "dinp %s (mask %d)", c->name, mask);
                check_close(what, dinp, g_inp, p.n_inp, 0.0, SMALL_RTOL);
            } else {
                int untouched = 1;
                for (int64_t i = 0; i < p.n_inp; i++) untouched &= isnan(dinp[i]);
                CHECKF(untouched, "%s: dinp written although NULL was passed for it", c->name);
            }
            snprintf(what, sizeof what, "dw %s (mask %d)", c->name, mask);
            // The tolerance is relative to the gradient's scale, not to the accumulated total.
            check_close(what, dw, want_dw ? want_w : w0, p.n_w, SMALL_RTOL * gw_mag, 1e-7);
            snprintf(what, sizeof what, "db %s (mask %d)", c->name, mask);
            check_close(what, db, want_db ? want_b : b0, d->OC, SMALL_RTOL * gb_mag, 1e-7);
        }
        free(g_inp); free(g_w); free(g_b); free(w0); free(b0); free(want_w); free(want_b);
        free(dinp); free(dw); free(db);
        problem_free(&p);
    }
}

// The naive backward against finite differences of the naive forward (exact for a linear op
// up to rounding), so the reference itself is checked independently of the fast kernels.
static double naive_loss(void *ctx) {
    Problem *p = ctx;
    conv2d_forward_naive(p->out, p->inp, p->w, p->b, &p->d);
    return dot_double(p->out, p->dout, p->n_out);
}

static void gradcheck_case(const Case *c, uint64_t seed, int naive) {
    Problem p = problem_make(case_dims(c), 1, 1.0f, seed);
    const Conv2dDims *d = &p.d;
    float *dinp = alloc_floats(p.n_inp), *dw = alloc_floats(p.n_w), *db = alloc_floats(d->OC);
    if (naive) conv2d_backward_naive(dinp, dw, db, p.dout, p.inp, p.w, d);
    else conv2d_backward(dinp, dw, db, p.dout, p.inp, p.w, d, p.work);
    GradLossFn L = naive ? naive_loss : conv_loss;
    char what[160];
    // The loss is linear in each argument, so the 4-point difference has no truncation error;
    // a large step keeps fp32 rounding of the forward small against the signal.
    const float eps = 0.05f;
    snprintf(what, sizeof what, "%s inp %s", naive ? "naive" : "fast", c->name);
    gradcheck_dir(what, L, &p, p.inp, dinp, p.n_inp, eps, GRAD_RTOL, 3, seed + 10);
    gradcheck_coords(what, L, &p, p.inp, dinp, p.n_inp, eps, GRAD_RTOL, GRAD_RTOL, 40, seed + 11);
    snprintf(what, sizeof what, "%s w %s", naive ? "naive" : "fast", c->name);
    gradcheck_dir(what, L, &p, p.w, dw, p.n_w, eps, GRAD_RTOL, 3, seed + 12);
    gradcheck_coords(what, L, &p, p.w, dw, p.n_w, eps, GRAD_RTOL, GRAD_RTOL, 40, seed + 13);
    snprintf(what, sizeof what, "%s b %s", naive ? "naive" : "fast", c->name);
    gradcheck_dir(what, L, &p, p.b, db, d->OC, eps, GRAD_RTOL, 3, seed + 14);
    gradcheck_coords(what, L, &p, p.b, db, d->OC, eps, GRAD_RTOL, GRAD_RTOL, (int)d->OC, seed + 15);
    free(dinp); free(dw); free(db);
    problem_free(&p);
}

static void test_gradcheck_small(void) {
    static const int picks[] = {0, 2, 4, 7, 9, 11, 12, 16, 17, 18, 19};
    for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++)
        gradcheck_case(&small_cases[picks[i]], 500 + 20 * (uint64_t)i, 0);
}

static void test_gradcheck_naive(void) {
    static const int picks[] = {4, 9, 11};
    for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++)
        gradcheck_case(&small_cases[picks[i]], 700 + 20 * (uint64_t)i, 1);
}

// ---- real SD shapes: sampled direct sums (double) and directional gradient checks ----

static double point_out(const Problem *p, int64_t n, int64_t oc, int64_t oh, int64_t ow) {
    const Conv2dDims *d = &p->d;
    double acc = p->b ? p->b[oc] : 0.0;
    for (int64_t ic = 0; ic < d->IC; ic++)
        for (int64_t kh = 0; kh < d->KH; kh++)
            for (int64_t kw = 0; kw < d->KW; kw++) {
                int64_t ih = oh * d->stride - d->pad_top + kh, iw = ow * d->stride - d->pad_left + kw;
                if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W) continue;
                acc += (double)p->inp[((n * d->IC + ic) * d->H + ih) * d->W + iw] *
                       p->w[((oc * d->IC + ic) * d->KH + kh) * d->KW + kw];
            }
    return acc;
}

static double point_dw(const Problem *p, int64_t oc, int64_t ic, int64_t kh, int64_t kw) {
    const Conv2dDims *d = &p->d;
    const int64_t OH = conv2d_out_h(d), OW = conv2d_out_w(d);
    double acc = 0;
    for (int64_t n = 0; n < d->N; n++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t ih = oh * d->stride - d->pad_top + kh, iw = ow * d->stride - d->pad_left + kw;
                if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W) continue;
                acc += (double)p->dout[((n * d->OC + oc) * OH + oh) * OW + ow] *
                       p->inp[((n * d->IC + ic) * d->H + ih) * d->W + iw];
            }
    return acc;
}

static double point_dinp(const Problem *p, int64_t n, int64_t ic, int64_t ih, int64_t iw) {
    const Conv2dDims *d = &p->d;
    const int64_t OH = conv2d_out_h(d), OW = conv2d_out_w(d), s = d->stride;
    double acc = 0;
    for (int64_t oc = 0; oc < d->OC; oc++)
        for (int64_t kh = 0; kh < d->KH; kh++)
            for (int64_t kw = 0; kw < d->KW; kw++) {
                int64_t th = ih + d->pad_top - kh, tw = iw + d->pad_left - kw;
                if (th < 0 || tw < 0 || th % s || tw % s || th / s >= OH || tw / s >= OW) continue;
                acc += (double)p->dout[((n * d->OC + oc) * OH + th / s) * OW + tw / s] *
                       p->w[((oc * d->IC + ic) * d->KH + kh) * d->KW + kw];
            }
    return acc;
}

// Sampled |fast - direct| <= rtol * (max |fast| over the whole tensor).
static void check_samples(const char *what, const double *got, const double *want, int count, double scale, double rtol) {
    double worst = 0;
    for (int i = 0; i < count; i++) {
        double e = fabs(got[i] - want[i]);
        if (!(e <= worst)) worst = e;
    }
    CHECKF(worst <= rtol * scale, "%s: sampled max abs diff %.3g > %.3g (scale %.3g)", what, worst, rtol * scale, scale);
}

static void real_shape(const char *name, Conv2dDims d, int gradcheck, uint64_t seed) {
    const int64_t K = d.IC * d.KH * d.KW, OH = conv2d_out_h(&d), OW = conv2d_out_w(&d);
    // Weights scaled like a trained conv (output variance about 1).
    Problem p = problem_make(d, 1, (float)(1.0 / sqrt((double)K)), seed);
    Rng r;
    rng_seed(&r, seed + 99);
    enum { S = 48 };
    double got[S], want[S];
    char what[160];

    conv2d_forward(p.out, p.inp, p.w, p.b, &p.d, p.work);
    for (int i = 0; i < S; i++) {
        // Half the samples on the border rows/columns, where padding matters.
        int64_t n = (int64_t)(rng_u64(&r) % (uint64_t)d.N), oc = (int64_t)(rng_u64(&r) % (uint64_t)d.OC);
        int64_t oh = (int64_t)(rng_u64(&r) % (uint64_t)OH), ow = (int64_t)(rng_u64(&r) % (uint64_t)OW);
        if (i % 2) { oh = (i % 4 == 1) ? 0 : OH - 1; ow = (i % 8 < 4) ? 0 : OW - 1; }
        got[i] = p.out[((n * d.OC + oc) * OH + oh) * OW + ow];
        want[i] = point_out(&p, n, oc, oh, ow);
    }
    snprintf(what, sizeof what, "forward %s", name);
    check_samples(what, got, want, S, max_abs(p.out, p.n_out), REAL_RTOL);

    float *dinp = alloc_floats(p.n_inp), *dw = alloc_floats(p.n_w), *db = alloc_floats(d.OC);
    conv2d_backward(dinp, dw, db, p.dout, p.inp, p.w, &p.d, p.work);
    for (int i = 0; i < S; i++) {
        int64_t oc = (int64_t)(rng_u64(&r) % (uint64_t)d.OC), ic = (int64_t)(rng_u64(&r) % (uint64_t)d.IC);
        int64_t kh = (int64_t)(rng_u64(&r) % (uint64_t)d.KH), kw = (int64_t)(rng_u64(&r) % (uint64_t)d.KW);
        got[i] = dw[((oc * d.IC + ic) * d.KH + kh) * d.KW + kw];
        want[i] = point_dw(&p, oc, ic, kh, kw);
    }
    snprintf(what, sizeof what, "dw %s", name);
    check_samples(what, got, want, S, max_abs(dw, p.n_w), REAL_RTOL);
    for (int i = 0; i < S; i++) {
        int64_t n = (int64_t)(rng_u64(&r) % (uint64_t)d.N), ic = (int64_t)(rng_u64(&r) % (uint64_t)d.IC);
        int64_t ih = (int64_t)(rng_u64(&r) % (uint64_t)d.H), iw = (int64_t)(rng_u64(&r) % (uint64_t)d.W);
        if (i % 2) { ih = (i % 4 == 1) ? 0 : d.H - 1; iw = (i % 8 < 4) ? 0 : d.W - 1; }
        got[i] = dinp[((n * d.IC + ic) * d.H + ih) * d.W + iw];
        want[i] = point_dinp(&p, n, ic, ih, iw);
    }
    snprintf(what, sizeof what, "dinp %s", name);
    check_samples(what, got, want, S, max_abs(dinp, p.n_inp), REAL_RTOL);
    for (int i = 0; i < S && i < d.OC; i++) {
        double s = 0;
        for (int64_t n = 0; n < d.N; n++)
            for (int64_t j = 0; j < OH * OW; j++) s += p.dout[(n * d.OC + i) * OH * OW + j];
        got[i] = db[i];
        want[i] = s;
    }
    snprintf(what, sizeof what, "db %s", name);
    check_samples(what, got, want, S < d.OC ? S : (int)d.OC, max_abs(db, d.OC), 1e-6);

    if (gradcheck) {
        snprintf(what, sizeof what, "inp %s", name);
        gradcheck_dir(what, conv_loss, &p, p.inp, dinp, p.n_inp, 0.05f, GRAD_RTOL_REAL, 2, seed + 7);
        snprintf(what, sizeof what, "w %s", name);
        gradcheck_dir(what, conv_loss, &p, p.w, dw, p.n_w, 0.05f / (float)sqrt((double)K), GRAD_RTOL_REAL, 2, seed + 8);
    }
    free(dinp); free(dw); free(db);
    problem_free(&p);
}

static void test_real_unet_3x3_s1(void) {
    if (test_quick()) return;
    real_shape("3x3 320->320 64x64 s1", conv2d_dims(1, 320, 64, 64, 320, 3, 1, 1), 1, 900);
}

static void test_real_unet_3x3_s2(void) {
    if (test_quick()) return;
    real_shape("3x3 320->320 64x64 s2", conv2d_dims(1, 320, 64, 64, 320, 3, 2, 1), 1, 910);
}

static void test_real_vae_downsample(void) {
    if (test_quick()) return;
    Conv2dDims d = conv2d_dims(1, 128, 256, 256, 128, 3, 2, 0);
    d.pad_bottom = d.pad_right = 1;
    real_shape("VAE down 128ch 256x256 s2 (0,1,0,1)", d, 0, 920);
}

static void test_real_decoder_640_to_320(void) {
    if (test_quick()) return;
    real_shape("3x3 640->320 32x32 s1", conv2d_dims(1, 640, 32, 32, 320, 3, 1, 1), 1, 940);
}

static void test_real_locon_down(void) {
    if (test_quick()) return;
    real_shape("LoCon down 3x3 320->16 64x64", conv2d_dims(1, 320, 64, 64, 16, 3, 1, 1), 1, 950);
}

static void test_real_1x1_batch2(void) {
    if (test_quick()) return;
    real_shape("1x1 640->320 32x32 N=2", conv2d_dims(2, 640, 32, 32, 320, 1, 1, 0), 0, 930);
}

int main(void) {
    RUN(test_dims);
    RUN(test_naive_by_hand);
    RUN(test_forward_vs_naive);
    RUN(test_backward_vs_naive);
    RUN(test_gradcheck_naive);
    RUN(test_gradcheck_small);
    RUN(test_real_unet_3x3_s1);
    RUN(test_real_unet_3x3_s2);
    RUN(test_real_vae_downsample);
    RUN(test_real_decoder_640_to_320);
    RUN(test_real_locon_down);
    RUN(test_real_1x1_batch2);
    return test_finish();
}
