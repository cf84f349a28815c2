// test_activation.c — SiLU, GELU (erf, tanh), quick-GELU, GEGLU and row softmax:
// the act_* float math against double-precision libm over dense sweeps; every op against the
// exact formula evaluated in double and against its libm *_naive sibling; known values;
// in-place use; huge, infinite and NaN inputs; finite-difference gradient checks
// (per coordinate and directional); real SD shapes with timings (skipped by test_quick()).
#include "harness.h"
#include "gradcheck.h"
#include "ops/activation.h"
#include "ops/softmax.h"
#include <float.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Unit in the last place of the float nearest to v (the subnormal spacing near 0).
static double ulp_of(double v) {
    float f = fabsf((float)v);
    if (f < FLT_MIN) return 0x1p-149;
    return (double)nextafterf(f, INFINITY) - (double)f;
}

// ---- exact references in double ----
typedef enum { OP_SILU, OP_GELU_ERF, OP_GELU_TANH, OP_QUICK } OpKind;
static const char *op_name[] = {"silu", "gelu_erf", "gelu_tanh", "quick_gelu"};

static double sigmoid_d(double x) { return 1.0 / (1.0 + exp(-x)); }
static double gelu_tanh_u(double x) { return sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x); }

static double exact_val(OpKind op, double x) {
    switch (op) {
    case OP_SILU: return x * sigmoid_d(x);
    case OP_GELU_ERF: return x * 0.5 * erfc(-x / sqrt(2.0));
    case OP_GELU_TANH: return 0.5 * x * (1.0 + tanh(gelu_tanh_u(x)));
    case OP_QUICK: return x * sigmoid_d(1.702 * x);
    }
    return NAN;
}

static double exact_grad(OpKind op, double x) {
    switch (op) {
    case OP_SILU: { double s = sigmoid_d(x); return s * (1.0 + x * (1.0 - s)); }
    case OP_GELU_ERF: return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
    case OP_GELU_TANH: {
        double th = tanh(gelu_tanh_u(x));
        return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * sqrt(2.0 / M_PI) * (1.0 + 3.0 * 0.044715 * x * x);
    }
    case OP_QUICK: { double s = sigmoid_d(1.702 * x); return s + 1.702 * x * s * (1.0 - s); }
    }
    return NAN;
}

static void op_fwd(OpKind op, float *out, const float *inp, int64_t n, int naive) {
    switch (op) {
    case OP_SILU: (naive ? silu_forward_naive : silu_forward)(out, inp, n); break;
    case OP_GELU_ERF: (naive ? gelu_forward_naive : gelu_forward)(out, inp, n, GELU_ERF); break;
    case OP_GELU_TANH: (naive ? gelu_forward_naive : gelu_forward)(out, inp, n, GELU_TANH); break;
    case OP_QUICK: (naive ? quick_gelu_forward_naive : quick_gelu_forward)(out, inp, n); break;
    }
}

static void op_bwd(OpKind op, float *dinp, const float *dout, const float *inp, int64_t n, int naive) {
    switch (op) {
    case OP_SILU: (naive ? silu_backward_naive : silu_backward)(dinp, dout, inp, n); break;
    case OP_GELU_ERF: (naive ? gelu_backward_naive : gelu_backward)(dinp, dout, inp, n, GELU_ERF); break;
    case OP_GELU_TANH: (naive ? gelu_backward_naive : gelu_backward)(dinp, dout, inp, n, GELU_TANH); break;
    case OP_QUICK: (naive ? quick_gelu_backward_naive : quick_gelu_backward)(dinp, dout, inp, n); break;
    }
}

// Per-element tolerance for op at x (value or slope ref, scaled by |dout| for slopes):
//   * 4 ulp relative for the float evaluation itself;
//   * where the op scales its argument before the exponential (1.702x, 2u), torch and we both
//     round that argument (u = c(x + kx³) up to ~3 times): relative error <= 3·|arg|·2^-24;
//   * GELU erf: Φ is good to 1e-7 absolute, so x·Φ to 1e-7·|x|; the torch-formula naive
//     versions (1 + erf, 1 + tanh) get the same absolute allowance for their cancellation.
//   * slopes cross zero (silu' at -1.278, gelu' at -0.75), where 1 + x(1-s) or Φ + xφ cancels:
//     absolute allowance of a few ulp of 1 times |dout|.
static double op_tol(OpKind op, int naive, int slope, double x, double ref, double dscale) {
    double tol = 4.8e-7 * fabs(ref) + 1e-38;
    double arg = op == OP_QUICK ? 1.702 * x : op == OP_GELU_TANH ? 2.0 * gelu_tanh_u(x) : 0.0;
    tol += 0x1p-24 * 3.0 * fabs(arg) * fabs(ref);
    if (op == OP_GELU_ERF || op == OP_GELU_TANH || naive) tol += 1e-7 * fabs(x) * dscale;
    if (slope) tol += 4.8e-7 * dscale;
    return tol;
}

// Per element |got - ref| <= op_tol(...). Reports the count and the worst element.
static int check_vs_exact(const char *what, OpKind op, int naive, int slope, const float *got, const double *ref,
                          const float *x, const float *dout, int64_t n) {
    int64_t bad = 0, worst = -1;
    double worst_ratio = 0;
    for (int64_t i = 0; i < n; i++) {
        double tol = op_tol(op, naive, slope, x[i], ref[i], dout ? fabs(dout[i]) : 1.0);
        double err = fabs((double)got[i] - ref[i]);
        double ratio = err / tol;
        if (!(ratio <= worst_ratio)) { worst_ratio = ratio; worst = i; }
        if (!(err <= tol)) bad++;
    }
    if (bad) {
        test_current_failures++;
        fprintf(stderr, "  %s: %lld of %lld elements out of tolerance; worst x=%.9g got %.9g want %.9g (err/tol %.3g)\n",
                what, (long long)bad, (long long)n, x[worst], got[worst], ref[worst], worst_ratio);
    } else {
        printf("  %-26s worst err/tol %.2f (x = %.6g)\n", what, worst_ratio, x[worst]);
    }
    return bad == 0;
}

// x values: a dense grid over [-20, 20] (covering every piece boundary of the polynomials)
// plus N(0, 3²) samples. Returns n.
static int64_t make_sweep(float **px) {
    int64_t ngrid = 400001, nr = 100000, n = ngrid + nr;
    float *x = alloc_floats(n);
    for (int64_t i = 0; i < ngrid; i++) x[i] = (float)(-20.0 + 40.0 * (double)i / (double)(ngrid - 1));
    fill_randn(x + ngrid, nr, 3.0f, 11);
    *px = x;
    return n;
}

// ---- the vectorisable math itself ----

static void test_act_expf_accuracy(void) {
    // every 257th float in [-104, 89] by bit pattern (about 8M values: all exponents, and
    // mantissas spread evenly), walking down the negatives and up the positives
    int64_t bad = 0;
    double worst_ulp = 0;
    for (int side = 0; side < 2; side++) {
        float lim = side ? 89.0f : -104.0f;
        ActBits lb = {.f = lim};
        for (uint32_t u = 0; u <= (lb.u & 0x7fffffffu); u += 257) {
            ActBits b = {.u = u | (side ? 0u : 0x80000000u)};
            float xf = b.f;
            double ref = exp((double)xf);
            float got = act_expf(xf);
            int ok;
            if (ref >= (double)FLT_MAX * (1.0 + 0x1p-25)) ok = isinf(got) && got > 0;   // rounds to +Inf
            else if (ref < FLT_MIN) ok = fabs((double)got - ref) <= 0x1p-149;           // subnormal: 1 spacing
            else {
                double ulps = fabs((double)got - ref) / ulp_of(ref);
                if (ulps > worst_ulp) worst_ulp = ulps;
                ok = ulps <= 2.0;
            }
            if (!ok && bad++ < 5) fprintf(stderr, "  act_expf(%.9g) = %.9g, want %.9g\n", xf, got, ref);
        }
    }
    CHECK(bad == 0);
    CHECKF(worst_ulp <= 2.0, "worst %.3f ulp", worst_ulp);
    CHECK(act_expf(0.0f) == 1.0f);
    CHECK(isinf(act_expf(89.0f)) && isinf(act_expf(1e30f)) && isinf(act_expf(INFINITY)));
    CHECK(act_expf(-104.0f) == 0.0f && act_expf(-1e30f) == 0.0f && act_expf(-INFINITY) == 0.0f);
    CHECK(act_expf(-100.0f) > 0.0f); // subnormal, not flushed
    CHECK(isnan(act_expf(NAN)));
    printf("  act_expf: worst %.2f ulp over [-104, 89]\n", worst_ulp);
}

static void test_act_sigmoid_and_cdf_accuracy(void) {
    double worst_sig = 0, worst_cdf = 0, worst_tail = 0, worst_gauss = 0;
    int64_t bad = 0;
    for (double x = -120.0; x <= 120.0; x += 7.3e-5) {
        float xf = (float)x;
        double s_ref = sigmoid_d(xf);
        float s = act_sigmoidf(xf);
        if (s_ref >= FLT_MIN) {
            double u = fabs(s - s_ref) / ulp_of(s_ref);
            if (u > worst_sig) worst_sig = u;
            if (!(u <= 3.0) && bad++ < 5) fprintf(stderr, "  sigmoid(%.9g) = %.9g want %.9g\n", xf, s, s_ref);
        }
        float e;
        double c_ref = 0.5 * erfc(-(double)xf / sqrt(2.0));
        float c = act_normal_cdf(xf, &e);
        double err = fabs(c - c_ref);
        if (err > worst_cdf) worst_cdf = err;
        if (!(err <= 1e-7) && bad++ < 5) fprintf(stderr, "  normal_cdf(%.9g) = %.9g want %.9g\n", xf, c, c_ref);
        // left tail keeps relative accuracy while Φ is a normal float (x >= -13)
        if (xf < 0 && c_ref > 1e-36) {
            double rel = err / c_ref;
            if (rel > worst_tail) worst_tail = rel;
            // ~4 ulp, plus the rounding of x²/2 carried through the exponential: x²·2^-24
            if (!(rel <= 4.8e-7 + 6e-8 * xf * xf) && bad++ < 5) fprintf(stderr, "  tail normal_cdf(%.9g) rel err %.3g\n", xf, rel);
        }
        double g_ref = exp(-0.5 * (double)xf * xf);
        if (g_ref > 1e-36) {
            double rel = fabs(e - g_ref) / g_ref;
            if (rel > worst_gauss) worst_gauss = rel;
            if (!(rel <= 3e-7 + 6e-8 * xf * xf) && bad++ < 5) fprintf(stderr, "  gauss(%.9g) rel err %.3g\n", xf, rel);
        }
    }
    CHECK(bad == 0);
    CHECK(act_sigmoidf(INFINITY) == 1.0f && act_sigmoidf(-INFINITY) == 0.0f && act_sigmoidf(0.0f) == 0.5f);
    CHECK(act_sigmoidf(-200.0f) == 0.0f && act_sigmoidf(200.0f) == 1.0f);
    CHECK(act_normal_cdf(INFINITY, NULL) == 1.0f && act_normal_cdf(-INFINITY, NULL) == 0.0f);
    CHECK(act_normal_cdf(0.0f, NULL) == 0.5f);
    CHECK(isnan(act_normal_cdf(NAN, NULL)) && isnan(act_sigmoidf(NAN)));
    printf("  act_sigmoidf worst %.2f ulp; act_normal_cdf worst abs %.3g, left-tail rel %.3g, e^{-x²/2} rel %.3g\n",
           worst_sig, worst_cdf, worst_tail, worst_gauss);
}

// ---- elementwise ops ----

static void test_known_values(void) {
    float x[6] = {1.0f, -1.0f, 0.0f, 2.0f, -3.0f, 0.5f}, y[6], yn[6];
    gelu_forward(y, x, 6, GELU_ERF);
    gelu_forward_naive(yn, x, 6, GELU_ERF);
    CHECKF(fabs(y[0] - 0.8413447460685429) <= 1e-7, "gelu(1) = %.9g", y[0]);
    CHECKF(fabs(yn[0] - 0.8413447460685429) <= 1e-7, "gelu_naive(1) = %.9g", yn[0]);
    CHECKF(fabs(y[1] + 0.15865525393145707) <= 1e-7, "gelu(-1) = %.9g", y[1]);
    CHECK(y[2] == 0.0f);
    CHECKF(fabs(y[4] + 0.004049694095839) <= 1e-9, "gelu(-3) = %.9g", y[4]);
    silu_forward(y, x, 6);
    silu_forward_naive(yn, x, 6);
    CHECKF(fabs(y[1] + 0.2689414213699951) <= 5e-8, "silu(-1) = %.9g", y[1]);
    CHECKF(fabs(yn[1] + 0.2689414213699951) <= 5e-8, "silu_naive(-1) = %.9g", yn[1]);
    CHECKF(fabs(y[0] - 0.7310585786300049) <= 1e-7, "silu(1) = %.9g", y[0]);
    quick_gelu_forward(y, x, 6);
    double q1 = 1.0 / (1.0 + exp(-1.702)); // 0.8457957...
    CHECKF(fabs(y[0] - q1) <= 1e-7, "quick_gelu(1) = %.9g want %.9g", y[0], q1);
    CHECKF(fabs(y[3] - 2.0 / (1.0 + exp(-3.404))) <= 2e-7, "quick_gelu(2) = %.9g", y[3]);
    gelu_forward(y, x, 6, GELU_TANH);
    // 0.5 (1 + tanh(sqrt(2/pi) * 1.044715))
    CHECKF(fabs(y[0] - 0.8411919906082768) <= 1e-7, "gelu_tanh(1) = %.9g", y[0]);
    float g[6], ones[6] = {1, 1, 1, 1, 1, 1};
    silu_backward(g, ones, x, 6);
    CHECKF(fabs(g[2] - 0.5) <= 1e-7, "silu'(0) = %.9g", g[2]);
    gelu_backward(g, ones, x, 6, GELU_ERF);
    CHECKF(fabs(g[2] - 0.5) <= 1e-7 && fabs(g[0] - 1.0833154705876864) <= 2e-7, "gelu'(0) = %.9g gelu'(1) = %.9g", g[2], g[0]);
}

static void test_forward_vs_exact(void) {
    float *x;
    int64_t n = make_sweep(&x);
    float *y = alloc_floats(n);
    double *ref = malloc((size_t)n * sizeof(double));
    for (int op = 0; op < 4; op++) {
        for (int64_t i = 0; i < n; i++) ref[i] = exact_val((OpKind)op, x[i]);
        for (int naive = 0; naive < 2; naive++) {
            op_fwd((OpKind)op, y, x, n, naive);
            char what[64];
            snprintf(what, sizeof what, "%s%s forward", op_name[op], naive ? "_naive" : "");
            check_vs_exact(what, (OpKind)op, naive, 0, y, ref, x, NULL, n);
        }
    }
    free(x); free(y); free(ref);
}

static void test_backward_vs_exact(void) {
    float *x;
    int64_t n = make_sweep(&x);
    float *g = alloc_floats(n), *dout = alloc_floats(n);
    double *ref = malloc((size_t)n * sizeof(double));
    fill_uniform(dout, n, -2.0f, 2.0f, 5);
    for (int op = 0; op < 4; op++) {
        for (int64_t i = 0; i < n; i++) ref[i] = (double)dout[i] * exact_grad((OpKind)op, x[i]);
        for (int naive = 0; naive < 2; naive++) {
            op_bwd((OpKind)op, g, dout, x, n, naive);
            char what[64];
            snprintf(what, sizeof what, "%s%s backward", op_name[op], naive ? "_naive" : "");
            check_vs_exact(what, (OpKind)op, naive, 1, g, ref, x, dout, n);
        }
    }
    free(x); free(g); free(dout); free(ref);
}

static void test_fast_matches_naive_randn(void) {
    // The two implementations side by side on N(0,1) activations (what the UNet sees).
    int64_t n = 300007; // above the parallel threshold, odd tail
    float *x = alloc_randn(n, 1.0f, 3), *a = alloc_floats(n), *b = alloc_floats(n), *dout = alloc_randn(n, 1.0f, 4);
    for (int op = 0; op < 4; op++) {
        char what[64];
        op_fwd((OpKind)op, a, x, n, 0);
        op_fwd((OpKind)op, b, x, n, 1);
        snprintf(what, sizeof what, "%s fast vs naive forward", op_name[op]);
        check_close(what, a, b, n, 2e-7, 2e-7);
        CHECKF(nmse(a, b, n) < 1e-13, "%s nmse %.3g", what, nmse(a, b, n));
        op_bwd((OpKind)op, a, dout, x, n, 0);
        op_bwd((OpKind)op, b, dout, x, n, 1);
        snprintf(what, sizeof what, "%s fast vs naive backward", op_name[op]);
        check_close(what, a, b, n, 4e-7, 2e-7);
        CHECKF(nmse(a, b, n) < 1e-13, "%s nmse %.3g", what, nmse(a, b, n));
    }
    free(x); free(a); free(b); free(dout);
}

static void test_inplace(void) {
    for (int pass = 0; pass < 2; pass++) {
        int64_t n = pass ? 70001 : 37; // serial and parallel paths
        float *x = alloc_randn(n, 2.0f, 21), *dout = alloc_randn(n, 1.0f, 22);
        float *ref = alloc_floats(n), *buf = alloc_floats(n);
        for (int op = 0; op < 4; op++) {
            op_fwd((OpKind)op, ref, x, n, 0);
            memcpy(buf, x, (size_t)n * sizeof(float));
            op_fwd((OpKind)op, buf, buf, n, 0);
            CHECKF(memcmp(buf, ref, (size_t)n * sizeof(float)) == 0, "%s forward in place (n=%lld)", op_name[op], (long long)n);
            op_bwd((OpKind)op, ref, dout, x, n, 0);
            memcpy(buf, dout, (size_t)n * sizeof(float));
            op_bwd((OpKind)op, buf, buf, x, n, 0);
            CHECKF(memcmp(buf, ref, (size_t)n * sizeof(float)) == 0, "%s backward in place (n=%lld)", op_name[op], (long long)n);
        }
        free(x); free(dout); free(ref); free(buf);
    }
}

static void test_extreme_inputs(void) {
    enum { K = 14 };
    float x[K] = {100.0f, -100.0f, 20.0f, -20.0f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY,
                  1e-30f, -1e-30f, 60.0f, -60.0f};
    float y[K], g[K], ones[K];
    for (int i = 0; i < K; i++) ones[i] = 1.0f;
    for (int op = 0; op < 4; op++) {
        op_fwd((OpKind)op, y, x, K, 0);
        op_bwd((OpKind)op, g, ones, x, K, 0);
        for (int i = 0; i < K; i++) {
            if (isinf(x[i])) continue;
            // finite in, finite out, and as accurate as anywhere else
            double ref = exact_val((OpKind)op, x[i]), gref = exact_grad((OpKind)op, x[i]);
            if (fabs(x[i]) > 1e3) { ref = x[i] > 0 ? x[i] : 0.0; gref = x[i] > 0 ? 1.0 : 0.0; } // x³ overflows double's tanh path
            CHECKF(isfinite(y[i]) && fabs(y[i] - ref) <= op_tol((OpKind)op, 0, 0, x[i], ref, 1.0), "%s(%g) = %g want %g", op_name[op], x[i], y[i], ref);
            CHECKF(isfinite(g[i]) && fabs(g[i] - gref) <= op_tol((OpKind)op, 0, 1, fmin(fabs(x[i]), 1e3), gref, 1.0),
                   "%s'(%g) = %g want %g", op_name[op], x[i], g[i], gref);
        }
        CHECKF(y[8] == INFINITY && g[8] == 1.0f, "%s(+inf) = %g, slope %g", op_name[op], y[8], g[8]);
        CHECKF(g[9] == 0.0f, "%s'(-inf) = %g", op_name[op], g[9]);
        float nan_in = NAN, nan_out, nan_g;
        op_fwd((OpKind)op, &nan_out, &nan_in, 1, 0);
        op_bwd((OpKind)op, &nan_g, ones, &nan_in, 1, 0);
        CHECKF(isnan(nan_out) && isnan(nan_g), "%s(NaN) = %g, slope %g", op_name[op], nan_out, nan_g);
    }
    // the values the brief names explicitly
    float v[3] = {100.0f, -100.0f, -20.0f}, o[3];
    silu_forward(o, v, 3);
    CHECK(o[0] == 100.0f && fabsf(o[1]) < 1e-30f);
    gelu_forward(o, v, 3, GELU_ERF);
    CHECK(!isnan(o[2]) && fabsf(o[2]) < 1e-30f);
}

// ---- finite-difference gradient checks ----

typedef struct {
    OpKind op;
    int geglu, softmax;
    int64_t n, M, D;
    float *x, *y, *dout;
} FdCtx;

static double fd_loss(void *p) {
    FdCtx *c = p;
    if (c->geglu) geglu_forward(c->y, c->x, c->M, c->D);
    else if (c->softmax) softmax_forward(c->y, c->x, c->M, c->D);
    else op_fwd(c->op, c->y, c->x, c->n, 0);
    int64_t ny = c->geglu ? c->M * c->D : c->softmax ? c->M * c->D : c->n;
    return dot_double(c->dout, c->y, ny);
}

static void test_gradcheck_elementwise(void) {
    // 4-point stencil. Per coordinate (eps 1e-2): truncation ~eps^4·|f^(5)|/30 < 1e-8, rounding
    // of the one changed f ~ (18/12)·6e-8·|f|/eps ~ 1e-5. Along a direction every element moves,
    // so the rounding noise of L grows ~sqrt(n)·6e-8 (~1e-5 relative at eps 1e-2), while the
    // truncation grows as eps^4: eps 2e-2 keeps both under ~7e-6 relative.
    for (int op = 0; op < 4; op++) {
        int64_t n = 203;
        FdCtx c = {.op = (OpKind)op, .n = n};
        c.x = alloc_randn(n, 2.0f, 100 + (uint64_t)op);
        c.y = alloc_floats(n);
        c.dout = alloc_randn(n, 1.0f, 200 + (uint64_t)op);
        float *g = alloc_floats(n);
        op_bwd((OpKind)op, g, c.dout, c.x, n, 0);
        char what[64];
        snprintf(what, sizeof what, "%s coords", op_name[op]);
        gradcheck_coords(what, fd_loss, &c, c.x, g, n, 1e-2f, 3e-5, 1e-4, (int)n, 7);
        snprintf(what, sizeof what, "%s dir", op_name[op]);
        gradcheck_dir(what, fd_loss, &c, c.x, g, n, 2e-2f, 3e-5, 3, 9);
        free(c.x); free(c.y); free(c.dout); free(g);
    }
}

// ---- GEGLU ----

static void test_geglu_small(void) {
    int64_t M = 7, D = 13;
    float *x = alloc_randn(M * 2 * D, 2.0f, 31), *y = alloc_floats(M * D), *yn = alloc_floats(M * D);
    float *dout = alloc_randn(M * D, 1.0f, 32), *g = alloc_floats(M * 2 * D), *gn = alloc_floats(M * 2 * D);
    geglu_forward(y, x, M, D);
    geglu_forward_naive(yn, x, M, D);
    // direct formula in double: a * gelu(gate)
    float *yd = alloc_floats(M * D);
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < D; j++)
            yd[m * D + j] = (float)((double)x[m * 2 * D + j] * exact_val(OP_GELU_ERF, x[m * 2 * D + D + j]));
    check_close("geglu vs exact", y, yd, M * D, 4e-7, 4e-7);
    check_close("geglu_naive vs exact", yn, yd, M * D, 1e-6, 4e-7);
    geglu_backward(g, dout, x, M, D);
    geglu_backward_naive(gn, dout, x, M, D);
    check_close("geglu backward vs naive", g, gn, M * 2 * D, 1e-6, 1e-6);
    // the a-half of the gradient is dout·gelu(gate), the gate half dout·a·gelu'(gate)
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < D; j++) {
            double gate = x[m * 2 * D + D + j], a = x[m * 2 * D + j], d = dout[m * D + j];
            double da = d * exact_val(OP_GELU_ERF, gate), dg = d * a * exact_grad(OP_GELU_ERF, gate);
            CHECKF(fabs(g[m * 2 * D + j] - da) <= 1e-6 && fabs(g[m * 2 * D + D + j] - dg) <= 2e-6,
                   "geglu grad (%lld,%lld): %g %g want %g %g", (long long)m, (long long)j, g[m * 2 * D + j], g[m * 2 * D + D + j], da, dg);
        }
    FdCtx c = {.geglu = 1, .M = M, .D = D, .x = x, .y = y, .dout = dout};
    gradcheck_coords("geglu coords", fd_loss, &c, x, g, M * 2 * D, 1e-2f, 5e-5, 1e-4, (int)(M * 2 * D), 3);
    gradcheck_dir("geglu dir", fd_loss, &c, x, g, M * 2 * D, 2e-2f, 3e-5, 3, 4);
    free(x); free(y); free(yn); free(yd); free(dout); free(g); free(gn);
}

static void test_geglu_real_shape(void) {
    if (test_quick()) return;
    // SD1.x transformer feed-forward at 64x64 latents: tokens 4096, inner dim 4·320 = 1280
    int64_t M = 4096, D = 1280;
    float *x = alloc_randn(M * 2 * D, 1.0f, 41), *y = alloc_floats(M * D), *yn = alloc_floats(M * D);
    float *dout = alloc_randn(M * D, 1.0f, 42), *g = alloc_floats(M * 2 * D), *gn = alloc_floats(M * 2 * D);
    double tf = 1e9, tb = 1e9, tfn, tbn, t;
    for (int r = 0; r < 3; r++) {
        t = now_s(); geglu_forward(y, x, M, D); t = now_s() - t; if (t < tf) tf = t;
        t = now_s(); geglu_backward(g, dout, x, M, D); t = now_s() - t; if (t < tb) tb = t;
    }
    t = now_s(); geglu_forward_naive(yn, x, M, D); tfn = now_s() - t;
    t = now_s(); geglu_backward_naive(gn, dout, x, M, D); tbn = now_s() - t;
    check_close("geglu real forward vs naive", y, yn, M * D, 2e-7, 2e-7);
    check_close("geglu real backward vs naive", g, gn, M * 2 * D, 4e-7, 2e-7);
    CHECK(nmse(y, yn, M * D) < 1e-13 && nmse(g, gn, M * 2 * D) < 1e-13);
    // bytes moved: forward reads 2MD, writes MD; backward reads 3MD, writes 2MD
    double mb = (double)M * D * 4 / 1e6;
    printf("  perf geglu (4096, 2x1280): forward %.2f ms (%.1f GB/s), naive %.2f ms; backward %.2f ms (%.1f GB/s), naive %.2f ms\n",
           tf * 1e3, 3 * mb / tf / 1e3, tfn * 1e3, tb * 1e3, 5 * mb / tb / 1e3, tbn * 1e3);
    // the elementwise ops at the size of a (1, 320, 64, 64) activation map
    int64_t n = 320 * 4096;
    for (int op = 0; op < 4; op++) {
        double best = 1e9, bestn = 1e9, bestb = 1e9;
        for (int r = 0; r < 3; r++) {
            t = now_s(); op_fwd((OpKind)op, y, x, n, 0); t = now_s() - t; if (t < best) best = t;
            t = now_s(); op_bwd((OpKind)op, g, dout, x, n, 0); t = now_s() - t; if (t < bestb) bestb = t;
        }
        t = now_s(); op_fwd((OpKind)op, yn, x, n, 1); t = now_s() - t; if (t < bestn) bestn = t;
        printf("  perf %-10s n=%lld: forward %.3f ms (naive %.3f ms), backward %.3f ms\n", op_name[op], (long long)n,
               best * 1e3, bestn * 1e3, bestb * 1e3);
    }
    free(x); free(y); free(yn); free(dout); free(g); free(gn);
}

// ---- softmax ----

static void test_softmax_known(void) {
    float x[3] = {1.0f, 2.0f, 3.0f}, y[3];
    softmax_forward(y, x, 1, 3);
    const double want[3] = {0.09003057317038046, 0.24472847105479764, 0.6652409557748218};
    for (int i = 0; i < 3; i++) CHECKF(fabs(y[i] - want[i]) <= 2e-7 * want[i] + 1e-9, "softmax[%d] = %.9g", i, y[i]);
    // huge logits: only differences matter
    float big[4] = {1e4f, 1e4f - 1.0f, 0.0f, -1e4f}, yb[4];
    softmax_forward(yb, big, 1, 4);
    CHECKF(fabs(yb[0] - 0.7310585786300049) <= 2e-7 && fabs(yb[1] - 0.2689414213699951) <= 2e-7 && yb[2] == 0.0f && yb[3] == 0.0f,
           "softmax(1e4 logits) = %g %g %g %g", yb[0], yb[1], yb[2], yb[3]);
    // masked entries
    float mk[5] = {0.0f, -INFINITY, 0.0f, -INFINITY, logf(2.0f)}, ym[5];
    softmax_forward(ym, mk, 1, 5);
    CHECKF(fabsf(ym[0] - 0.25f) <= 1e-7f && ym[1] == 0.0f && fabsf(ym[2] - 0.25f) <= 1e-7f && ym[3] == 0.0f && fabsf(ym[4] - 0.5f) <= 1e-7f,
           "masked softmax = %g %g %g %g %g", ym[0], ym[1], ym[2], ym[3], ym[4]);
    float dm[5] = {1, 2, 3, 4, 5}, gm[5];
    softmax_backward(gm, dm, ym, 1, 5);
    int finite = 1;
    for (int i = 0; i < 5; i++) finite &= isfinite(gm[i]);
    CHECK(finite && gm[1] == 0.0f && gm[3] == 0.0f);
    // fully masked row -> NaN, as torch
    float all[3] = {-INFINITY, -INFINITY, -INFINITY}, ya[3];
    softmax_forward(ya, all, 1, 3);
    CHECK(isnan(ya[0]) && isnan(ya[1]) && isnan(ya[2]));
    // one row's NaN stays in its row
    float two[4] = {0.0f, NAN, 1.0f, 1.0f}, yt[4];
    softmax_forward(yt, two, 2, 2);
    CHECK(isnan(yt[0]) && isnan(yt[1]) && yt[2] == 0.5f && yt[3] == 0.5f);
}

static void test_softmax_vs_naive(void) {
    const int64_t shapes[][2] = {{1, 1}, {5, 7}, {37, 77}, {64, 4096}, {300, 300}};
    for (int s = 0; s < 5; s++) {
        int64_t M = shapes[s][0], D = shapes[s][1], n = M * D;
        float *x = alloc_randn(n, 4.0f, 50 + (uint64_t)s), *y = alloc_floats(n), *yn = alloc_floats(n);
        float *dout = alloc_randn(n, 1.0f, 60 + (uint64_t)s), *g = alloc_floats(n), *gn = alloc_floats(n);
        softmax_forward(y, x, M, D);
        softmax_forward_naive(yn, x, M, D);
        // each probability to 4 ulp (exp <= 2 ulp, the scale by 1/sum <= 1.5 ulp), plus the
        // float rounding of x - max that torch does too: relative error up to |x - max|·2^-24.
        int64_t bad = 0;
        for (int64_t m = 0; m < M; m++) {
            float mx = -INFINITY;
            for (int64_t j = 0; j < D; j++) mx = fmaxf(mx, x[m * D + j]);
            for (int64_t j = 0; j < D; j++) {
                int64_t i = m * D + j;
                double tol = 4.0 * ulp_of(yn[i]) + fabs(yn[i]) * fabs((double)x[i] - mx) * 0x1p-24;
                if (!(fabs(y[i] - yn[i]) <= tol)) bad++;
            }
        }
        CHECKF(bad == 0, "softmax (%lld, %lld): %lld probabilities off by > 4 ulp", (long long)M, (long long)D, (long long)bad);
        for (int64_t m = 0; m < M; m++) {
            double sum = 0;
            for (int64_t j = 0; j < D; j++) sum += y[m * D + j];
            CHECKF(fabs(sum - 1.0) <= 1e-6, "row %lld sums to %.9g", (long long)m, sum);
        }
        softmax_backward(g, dout, y, M, D);
        softmax_backward_naive(gn, dout, y, M, D);
        check_close("softmax backward vs naive", g, gn, n, 1e-7, 1e-6);
        // in place
        float *buf = alloc_floats(n);
        memcpy(buf, x, (size_t)n * sizeof(float));
        softmax_forward(buf, buf, M, D);
        CHECK(memcmp(buf, y, (size_t)n * sizeof(float)) == 0);
        memcpy(buf, dout, (size_t)n * sizeof(float));
        softmax_backward(buf, buf, y, M, D);
        CHECK(memcmp(buf, g, (size_t)n * sizeof(float)) == 0);
        free(x); free(y); free(yn); free(dout); free(g); free(gn); free(buf);
    }
}

static void test_softmax_gradcheck(void) {
    int64_t M = 6, D = 11;
    float *x = alloc_randn(M * D, 2.0f, 70), *y = alloc_floats(M * D), *dout = alloc_randn(M * D, 1.0f, 71);
    float *g = alloc_floats(M * D);
    softmax_forward(y, x, M, D);
    softmax_backward(g, dout, y, M, D);
    FdCtx c = {.softmax = 1, .M = M, .D = D, .x = x, .y = y, .dout = dout};
    gradcheck_coords("softmax coords", fd_loss, &c, x, g, M * D, 1e-2f, 2e-5, 1e-4, (int)(M * D), 5);
    gradcheck_dir("softmax dir", fd_loss, &c, x, g, M * D, 2e-2f, 3e-5, 3, 6);
    free(x); free(y); free(dout); free(g);
}

static void test_softmax_real_shape(void) {
    if (test_quick()) return;
    // an attention score block: 4096 queries x 4096 keys would be 64 MB; time 1024 rows
    int64_t M = 1024, D = 4096, n = M * D;
    float *x = alloc_randn(n, 3.0f, 80), *y = alloc_floats(n), *yn = alloc_floats(n), *g = alloc_floats(n);
    double best = 1e9, bestb = 1e9, t;
    for (int r = 0; r < 3; r++) {
        t = now_s(); softmax_forward(y, x, M, D); t = now_s() - t; if (t < best) best = t;
        t = now_s(); softmax_backward(g, x, y, M, D); t = now_s() - t; if (t < bestb) bestb = t;
    }
    t = now_s(); softmax_forward_naive(yn, x, M, D); t = now_s() - t;
    CHECK(nmse(y, yn, n) < 1e-13);
    printf("  perf softmax (1024, 4096): forward %.2f ms (naive %.2f ms), backward %.2f ms\n", best * 1e3, t * 1e3, bestb * 1e3);
    free(x); free(y); free(yn); free(g);
}

int main(void) {
    RUN(test_act_expf_accuracy);
    RUN(test_act_sigmoid_and_cdf_accuracy);
    RUN(test_known_values);
    RUN(test_forward_vs_exact);
    RUN(test_backward_vs_exact);
    RUN(test_fast_matches_naive_randn);
    RUN(test_inplace);
    RUN(test_extreme_inputs);
    RUN(test_gradcheck_elementwise);
    RUN(test_geglu_small);
    RUN(test_geglu_real_shape);
    RUN(test_softmax_known);
    RUN(test_softmax_vs_naive);
    RUN(test_softmax_gradcheck);
    RUN(test_softmax_real_shape);
    return test_finish();
}
