// test_norm.c — GroupNorm (+ fused SiLU) and LayerNorm: fast kernels against the naive double
// references (forward, backward, NULL gamma/beta, NULL gradients, `=` of dinp and `+=` of
// dgamma/dbeta, dinp aliasing dout, thread-count invariance), inputs with a large mean (catches
// E[x^2] - E[x]^2 cancellation), the SiLU exponential over its whole range, finite-difference
// gradient checks, and real SD shapes (skipped under SDLORA_TEST_QUICK=1).
//
// Tolerances are stated per check as atol + rtol * max|ref| (check_close). Measured errors of
// the fast kernels are a few float ulps of the output scale; the bounds leave ~5-10x headroom.
// Set TEST_VERBOSE=1 to print the measured relative errors.
#include "harness.h"
#include "gradcheck.h"
#include "ops/gemm.h"
#include "ops/norm.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool verbose(void) { return getenv("TEST_VERBOSE") != NULL; }

// check_close, plus the measured error relative to max|ref| when TEST_VERBOSE is set.
static int close_to(const char *what, const float *a, const float *ref, int64_t n, double atol, double rtol) {
    if (verbose())
        fprintf(stderr, "    %-40s max|diff| / max|ref| = %.3g\n", what, max_abs_diff(a, ref, n) / fmax(max_abs(ref, n), 1e-300));
    return check_close(what, a, ref, n, atol, rtol);
}

static float *copy_of(const float *x, int64_t n) {
    float *y = alloc_floats(n);
    memcpy(y, x, (size_t)n * sizeof(float));
    return y;
}

static void fill_const(float *x, int64_t n, float v) {
    for (int64_t i = 0; i < n; i++) x[i] = v;
}

// gamma ~ 1 + 0.5 N(0,1), beta ~ 0.5 N(0,1): non-trivial affine parameters.
static float *alloc_gamma(int64_t n, uint64_t seed) {
    float *g = alloc_randn(n, 0.5f, seed);
    for (int64_t i = 0; i < n; i++) g[i] += 1.0f;
    return g;
}

// ============================ GroupNorm ============================

typedef struct {
    int64_t N, C, HW, G;
} GnShape;

// Small shapes: HW odd and below/above the 8-lane width to exercise the vector tails;
// groups of one channel and one group of all channels.
static const GnShape gn_small[] = {
    {2, 8, 35, 4}, {3, 6, 13, 3}, {1, 4, 5, 4}, {2, 12, 64, 1}, {1, 64, 9, 32},
};

static void test_groupnorm_forward_matches_naive(void) {
    for (size_t s = 0; s < sizeof gn_small / sizeof gn_small[0]; s++)
        for (int variant = 0; variant < 4; variant++) // bit 0: gamma, bit 1: beta
            for (int silu = 0; silu < 2; silu++) {
                GnShape sh = gn_small[s];
                int64_t n = sh.N * sh.C * sh.HW, ng = sh.N * sh.G;
                float *x = alloc_randn(n, 2.0f, 10 + s), *gamma = alloc_gamma(sh.C, 20 + s), *beta = alloc_randn(sh.C, 0.5f, 30 + s);
                for (int64_t i = 0; i < n; i++) x[i] += 0.7f;
                const float *g = (variant & 1) ? gamma : NULL, *b = (variant & 2) ? beta : NULL;
                float *out = alloc_floats(n), *mean = alloc_floats(ng), *rstd = alloc_floats(ng);
                float *out_n = alloc_floats(n), *mean_n = alloc_floats(ng), *rstd_n = alloc_floats(ng);
                float eps = silu ? 1e-6f : 1e-5f;
                if (silu) {
                    groupnorm_silu_forward(out, mean, rstd, x, g, b, sh.N, sh.C, sh.HW, sh.G, eps);
                    groupnorm_silu_forward_naive(out_n, mean_n, rstd_n, x, g, b, sh.N, sh.C, sh.HW, sh.G, eps);
                } else {
                    groupnorm_forward(out, mean, rstd, x, g, b, sh.N, sh.C, sh.HW, sh.G, eps);
                    groupnorm_forward_naive(out_n, mean_n, rstd_n, x, g, b, sh.N, sh.C, sh.HW, sh.G, eps);
                }
                char what[96];
                snprintf(what, sizeof what, "gn%s out shape %zu variant %d", silu ? "+silu" : "", s, variant);
                close_to(what, out, out_n, n, 0, 1e-6);
                CHECK(check_close("gn mean", mean, mean_n, ng, 0, 1e-7));
                CHECK(check_close("gn rstd", rstd, rstd_n, ng, 0, 1e-7));
                // mean/rstd may be NULL (inference): same output.
                float *out2 = alloc_floats(n);
                if (silu) groupnorm_silu_forward(out2, NULL, NULL, x, g, b, sh.N, sh.C, sh.HW, sh.G, eps);
                else groupnorm_forward(out2, NULL, NULL, x, g, b, sh.N, sh.C, sh.HW, sh.G, eps);
                CHECK(memcmp(out, out2, (size_t)n * sizeof(float)) == 0);
                free(x), free(gamma), free(beta), free(out), free(mean), free(rstd), free(out_n), free(mean_n), free(rstd_n), free(out2);
            }
}

// Inputs with std 1 and mean 100 / 1e4 / -3e3 / 1e6: E[x^2]-E[x]^2 in float loses most digits
// (at 1e4 all of them), and even in double it is off by ~1e-4 at 1e6, where the shifted,
// chunked double statistics must stay exact to float precision.
static void test_groupnorm_large_mean(void) {
    const float means[] = {100.0f, 1e4f, -3e3f, 1e6f};
    for (int k = 0; k < 4; k++) {
        int64_t N = 2, C = 8, HW = 300, G = 2, n = N * C * HW, ng = N * G;
        float *x = alloc_randn(n, 1.0f, 40 + k), *gamma = alloc_gamma(C, 41), *beta = alloc_randn(C, 0.5f, 42);
        for (int64_t i = 0; i < n; i++) x[i] += means[k];
        float *out = alloc_floats(n), *mean = alloc_floats(ng), *rstd = alloc_floats(ng);
        float *out_n = alloc_floats(n), *mean_n = alloc_floats(ng), *rstd_n = alloc_floats(ng);
        groupnorm_forward(out, mean, rstd, x, gamma, beta, N, C, HW, G, 1e-5f);
        groupnorm_forward_naive(out_n, mean_n, rstd_n, x, gamma, beta, N, C, HW, G, 1e-5f);
        close_to("gn large-mean out", out, out_n, n, 0, 1e-6);
        CHECK(check_close("gn large-mean rstd", rstd, rstd_n, ng, 0, 1e-7));
        CHECK(check_close("gn large-mean mean", mean, mean_n, ng, 0, 1e-7));
        // and the variance really is ~1 (the inputs were drawn with std 1)
        for (int64_t i = 0; i < ng; i++) CHECKF(fabs(rstd[i] - 1.0) < 0.1, "rstd %g", rstd[i]);
        // fused SiLU too
        groupnorm_silu_forward(out, mean, rstd, x, gamma, beta, N, C, HW, G, 1e-5f);
        groupnorm_silu_forward_naive(out_n, mean_n, rstd_n, x, gamma, beta, N, C, HW, G, 1e-5f);
        close_to("gn+silu large-mean out", out, out_n, n, 0, 1e-6);
        free(x), free(gamma), free(beta), free(out), free(mean), free(rstd), free(out_n), free(mean_n), free(rstd_n);
    }
}

// Constant inputs (variance exactly 0): rstd = 1/sqrt(eps), out = beta, never NaN; and a group
// that starts with a huge outlier (the statistics' first shift value).
static void test_norm_degenerate_inputs(void) {
    int64_t N = 1, C = 4, HW = 1000, G = 2, n = N * C * HW;
    float *x = alloc_floats(n), *gamma = alloc_gamma(C, 60), *beta = alloc_randn(C, 0.5f, 61);
    float *out = alloc_floats(n), *ref = alloc_floats(n), *mean = alloc_floats(G), *rstd = alloc_floats(G);
    float *mean_n = alloc_floats(G), *rstd_n = alloc_floats(G);
    fill_const(x, n, 123.25f);
    groupnorm_forward(out, mean, rstd, x, gamma, beta, N, C, HW, G, 1e-5f);
    for (int64_t g = 0; g < G; g++) CHECKF(mean[g] == 123.25f && fabs(rstd[g] / (1.0 / sqrt(1e-5)) - 1) < 1e-6, "%g %g", mean[g], rstd[g]);
    for (int64_t c = 0; c < C; c++) CHECKF(out[c * HW] == beta[c] && out[c * HW + HW - 1] == beta[c], "c %lld", (long long)c);
    layernorm_forward(out, mean, rstd, x, NULL, NULL, 2, 1000, 1e-6f);
    for (int64_t m = 0; m < 2; m++) CHECK(mean[m] == 123.25f && fabs(rstd[m] / (1.0 / sqrt(1e-6)) - 1) < 1e-6);
    CHECK(max_abs(out, 2000) == 0.0);
    // outlier first: x[0] = 1e5, the rest N(0,1) + 3
    fill_randn(x, n, 1.0f, 62);
    for (int64_t i = 0; i < n; i++) x[i] += 3.0f;
    x[0] = 1e5f;
    x[2 * HW] = -4e4f;
    groupnorm_forward(out, mean, rstd, x, gamma, beta, N, C, HW, G, 1e-5f);
    groupnorm_forward_naive(ref, mean_n, rstd_n, x, gamma, beta, N, C, HW, G, 1e-5f);
    close_to("gn outlier-first out", out, ref, n, 0, 1e-6);
    CHECK(check_close("gn outlier-first rstd", rstd, rstd_n, G, 0, 1e-7));
    free(x), free(gamma), free(beta), free(out), free(ref), free(mean), free(rstd), free(mean_n), free(rstd_n);
}

// One backward comparison. which: bit 0 dinp, bit 1 dgamma, bit 2 dbeta wanted.
static void gn_backward_case(GnShape sh, bool has_gamma, bool has_beta, int which, bool silu, bool alias, uint64_t seed) {
    int64_t n = sh.N * sh.C * sh.HW, ng = sh.N * sh.G;
    float *x = alloc_randn(n, 1.5f, seed), *gamma = alloc_gamma(sh.C, seed + 1), *beta = alloc_randn(sh.C, 0.5f, seed + 2);
    float *dout = alloc_randn(n, 1.0f, seed + 3), *out = alloc_floats(n), *mean = alloc_floats(ng), *rstd = alloc_floats(ng);
    for (int64_t i = 0; i < n; i++) x[i] -= 0.3f;
    const float *g = has_gamma ? gamma : NULL, *b = has_beta ? beta : NULL;
    groupnorm_forward(out, mean, rstd, x, g, b, sh.N, sh.C, sh.HW, sh.G, 1e-5f);
    // dinp must be overwritten (NaN prefill would survive `+=`); dgamma/dbeta accumulate onto
    // random prior values.
    float *dinp = alloc_floats(n), *dinp_n = alloc_floats(n);
    fill_const(dinp, n, NAN);
    float *dg = alloc_randn(sh.C, 1.0f, seed + 4), *db = alloc_randn(sh.C, 1.0f, seed + 5);
    float *dg_n = copy_of(dg, sh.C), *db_n = copy_of(db, sh.C);
    float *dg0 = copy_of(dg, sh.C), *db0 = copy_of(db, sh.C);
    float *dinp_arg = (which & 1) ? dinp : NULL, *dg_arg = (which & 2) ? dg : NULL, *db_arg = (which & 4) ? db : NULL;
    const float *dout_arg = dout;
    if (alias && dinp_arg) {
        memcpy(dinp, dout, (size_t)n * sizeof(float));
        dout_arg = dinp;
    }
    if (silu) {
        groupnorm_silu_backward(dinp_arg, dg_arg, db_arg, dout_arg, x, g, b, mean, rstd, sh.N, sh.C, sh.HW, sh.G);
        groupnorm_silu_backward_naive(dinp_n, dg_n, db_n, dout, x, g, b, mean, rstd, sh.N, sh.C, sh.HW, sh.G);
    } else {
        groupnorm_backward(dinp_arg, dg_arg, db_arg, dout_arg, x, g, mean, rstd, sh.N, sh.C, sh.HW, sh.G);
        groupnorm_backward_naive(dinp_n, dg_n, db_n, dout, x, g, mean, rstd, sh.N, sh.C, sh.HW, sh.G);
    }
    char what[128];
    snprintf(what, sizeof what, "gn%s bwd (%lld,%lld,%lld,G%lld) g%d b%d which%d alias%d", silu ? "+silu" : "",
             (long long)sh.N, (long long)sh.C, (long long)sh.HW, (long long)sh.G, has_gamma, has_beta, which, alias);
    if (which & 1) close_to(what, dinp, dinp_n, n, 0, 2e-6);
    else CHECK(isnan(dinp[0]) && isnan(dinp[n - 1])); // untouched
    // dgamma/dbeta: accumulated (compare the increments: prior values are O(1), sums O(sqrt(HW)))
    for (int64_t c = 0; c < sh.C; c++) {
        dg[c] -= dg0[c], dg_n[c] -= dg0[c];
        db[c] -= db0[c], db_n[c] -= db0[c];
    }
    if (which & 2) close_to("  dgamma increment", dg, dg_n, sh.C, 1e-6, 2e-6);
    else for (int64_t c = 0; c < sh.C; c++) CHECK(dg[c] == 0.0f);
    if (which & 4) close_to("  dbeta increment", db, db_n, sh.C, 1e-6, 2e-6);
    else for (int64_t c = 0; c < sh.C; c++) CHECK(db[c] == 0.0f);
    free(x), free(gamma), free(beta), free(dout), free(out), free(mean), free(rstd), free(dinp), free(dinp_n);
    free(dg), free(db), free(dg_n), free(db_n), free(dg0), free(db0);
}

static void test_groupnorm_backward_matches_naive(void) {
    uint64_t seed = 100;
    for (size_t s = 0; s < sizeof gn_small / sizeof gn_small[0]; s++)
        for (int silu = 0; silu < 2; silu++)
            for (int which = 1; which < 8; which++)
                gn_backward_case(gn_small[s], true, true, which, silu, false, seed++);
    // affine off / partly off, and dinp aliasing dout
    for (int silu = 0; silu < 2; silu++) {
        gn_backward_case(gn_small[0], false, false, 7, silu, false, seed++);
        gn_backward_case(gn_small[1], true, false, 7, silu, false, seed++);
        gn_backward_case(gn_small[1], false, true, 7, silu, false, seed++);
        gn_backward_case(gn_small[0], true, true, 7, silu, true, seed++);
        gn_backward_case(gn_small[3], true, true, 1, silu, true, seed++);
    }
}

// ---- finite differences ----

typedef struct {
    float *out, *mean, *rstd;
    const float *dout;
    float *inp, *gamma, *beta;
    int64_t N, C, HW, G;
    float eps;
    bool silu;
} GnCtx;

// L = sum dout * f(inp, gamma, beta), in double
static double gn_loss(void *p) {
    GnCtx *c = p;
    if (c->silu) groupnorm_silu_forward(c->out, c->mean, c->rstd, c->inp, c->gamma, c->beta, c->N, c->C, c->HW, c->G, c->eps);
    else groupnorm_forward(c->out, c->mean, c->rstd, c->inp, c->gamma, c->beta, c->N, c->C, c->HW, c->G, c->eps);
    return dot_double(c->dout, c->out, c->N * c->C * c->HW);
}

// Analytic grads at the current point into dinp, dgamma, dbeta (zeroed first).
static void gn_grads(GnCtx *c, float *dinp, float *dg, float *db) {
    gn_loss(c); // mean/rstd at this point
    memset(dg, 0, (size_t)c->C * sizeof(float));
    memset(db, 0, (size_t)c->C * sizeof(float));
    if (c->silu) groupnorm_silu_backward(dinp, dg, db, c->dout, c->inp, c->gamma, c->beta, c->mean, c->rstd, c->N, c->C, c->HW, c->G);
    else groupnorm_backward(dinp, dg, db, c->dout, c->inp, c->gamma, c->mean, c->rstd, c->N, c->C, c->HW, c->G);
}

static void test_groupnorm_gradcheck(void) {
    for (int silu = 0; silu < 2; silu++) {
        int64_t N = 2, C = 6, HW = 10, G = 3, n = N * C * HW;
        GnCtx c = {alloc_floats(n), alloc_floats(N * G), alloc_floats(N * G), alloc_randn(n, 1.0f, 200),
                   alloc_randn(n, 1.0f, 201), alloc_gamma(C, 202), alloc_randn(C, 0.5f, 203), N, C, HW, G, 1e-5f, silu};
        float *dinp = alloc_floats(n), *dg = alloc_floats(C), *db = alloc_floats(C);
        gn_grads(&c, dinp, dg, db);
        const char *tag = silu ? "gn+silu" : "gn";
        char w[64];
        // The loss is a sum of ~100 float outputs: FD noise ~1e-5 at eps 1e-2, truncation O(eps^4).
        snprintf(w, sizeof w, "%s dinp", tag);
        gradcheck_coords(w, gn_loss, &c, c.inp, dinp, n, 1e-2f, 2e-4, 1e-3, (int)n, 210);
        gradcheck_dir(w, gn_loss, &c, c.inp, dinp, n, 1e-2f, 1e-4, 3, 211);
        snprintf(w, sizeof w, "%s dgamma", tag);
        gradcheck_coords(w, gn_loss, &c, c.gamma, dg, C, 1e-2f, 2e-4, 1e-3, (int)C, 212);
        gradcheck_dir(w, gn_loss, &c, c.gamma, dg, C, 1e-2f, 1e-4, 3, 213);
        snprintf(w, sizeof w, "%s dbeta", tag);
        gradcheck_coords(w, gn_loss, &c, c.beta, db, C, 1e-2f, 2e-4, 1e-3, (int)C, 214);
        gradcheck_dir(w, gn_loss, &c, c.beta, db, C, 1e-2f, 1e-4, 3, 215);
        free(c.out), free(c.mean), free(c.rstd), free((float *)c.dout), free(c.inp), free(c.gamma), free(c.beta);
        free(dinp), free(dg), free(db);
    }
}

// The fused SiLU uses its own vectorisable exp: compare elementwise, relative, against silu in
// double applied to the plain GroupNorm output (the fused kernel computes the same v bit for
// bit), with v spanning about [-350, 350] (results deep in the denormals get an absolute bound).
static void test_silu_exp_accuracy(void) {
    int64_t N = 1, C = 2, HW = 20000, G = 2, n = N * C * HW;
    float *x = alloc_floats(n), *v = alloc_floats(n), *y = alloc_floats(n);
    for (int64_t i = 0; i < HW; i++) {
        x[i] = -1.0f + 2.0f * (float)i / (float)(HW - 1);  // channel 0: uniform ramp, std ~0.577
        x[HW + i] = (i % 2 ? 1.0f : -1.0f) * (float)i;      // channel 1: huge spread
    }
    float gamma[2] = {85.0f * 0.577f, 200.0f}, beta[2] = {0.0f, 0.0f};
    groupnorm_forward(v, NULL, NULL, x, gamma, beta, N, C, HW, G, 1e-6f);
    groupnorm_silu_forward(y, NULL, NULL, x, gamma, beta, N, C, HW, G, 1e-6f);
    int bad = 0, checked = 0;
    double worst = 0; // max |err| / tol
    for (int64_t i = 0; i < n; i++) {
        double vi = v[i], ref = vi / (1.0 + exp(-vi));
        double tol = 5e-7 * fabs(ref) + 1e-42;
        worst = fmax(worst, fabs(y[i] - ref) / tol);
        checked += fabs(vi) > 100.0;
        if (!(fabs(y[i] - ref) <= tol) && bad++ < 5)
            fprintf(stderr, "  silu(%.9g): got %.9g want %.9g\n", vi, y[i], ref);
    }
    if (verbose()) fprintf(stderr, "    silu: max |err| / tolerance = %.3g\n", worst);
    CHECK(bad == 0);
    CHECK(checked > HW / 2);
    // NaN propagates
    x[7] = NAN;
    groupnorm_silu_forward(y, NULL, NULL, x, gamma, beta, N, C, HW, G, 1e-6f);
    CHECK(isnan(y[7]) && isnan(y[0]));
    free(x), free(v), free(y);
}

// Bitwise the same results with 1 and 2 threads (no races, fixed summation order).
static void test_norm_thread_invariance(void) {
    int64_t N = 2, C = 64, HW = 100, G = 32, n = N * C * HW;
    float *x = alloc_randn(n, 1.0f, 300), *gamma = alloc_gamma(C, 301), *beta = alloc_randn(C, 0.5f, 302);
    float *dout = alloc_randn(n, 1.0f, 303), *mean = alloc_floats(N * G), *rstd = alloc_floats(N * G);
    float *out[2], *dinp[2], *dg[2], *db[2];
    int saved = sdl_get_threads();
    for (int t = 0; t < 2; t++) {
        sdl_set_threads(t + 1);
        out[t] = alloc_floats(n), dinp[t] = alloc_floats(n), dg[t] = alloc_floats(C), db[t] = alloc_floats(C);
        groupnorm_silu_forward(out[t], mean, rstd, x, gamma, beta, N, C, HW, G, 1e-5f);
        groupnorm_silu_backward(dinp[t], dg[t], db[t], dout, x, gamma, beta, mean, rstd, N, C, HW, G);
        // LayerNorm over the first 64*64 floats seen as (M=64, D=64); any saved stats will do.
        layernorm_forward(out[t], mean, rstd, x, gamma, beta, 64, 64, 1e-5f);
        layernorm_backward(dinp[t], dg[t], db[t], dout, x, gamma, mean, rstd, 64, 64);
    }
    sdl_set_threads(saved);
    CHECK(memcmp(out[0], out[1], (size_t)n * 4) == 0);
    CHECK(memcmp(dinp[0], dinp[1], (size_t)n * 4) == 0);
    CHECK(memcmp(dg[0], dg[1], (size_t)C * 4) == 0);
    CHECK(memcmp(db[0], db[1], (size_t)C * 4) == 0);
    for (int t = 0; t < 2; t++) free(out[t]), free(dinp[t]), free(dg[t]), free(db[t]);
    free(x), free(gamma), free(beta), free(dout), free(mean), free(rstd);
}

// Real SD shapes: N=1, G=32, 64x64 latents at C=320/640/1280 (UNet eps 1e-5), plain and fused.
static void test_groupnorm_sd_shapes(void) {
    if (test_quick()) return;
    const int64_t Cs[] = {320, 640, 1280};
    for (int k = 0; k < 3; k++)
        for (int silu = 0; silu < 2; silu++) {
            int64_t N = 1, C = Cs[k], HW = 64 * 64, G = 32, n = N * C * HW;
            GnCtx c = {alloc_floats(n), alloc_floats(G), alloc_floats(G), alloc_randn(n, 1.0f, 400 + k),
                       alloc_randn(n, 1.0f, 410 + k), alloc_gamma(C, 420 + k), alloc_randn(C, 0.5f, 430 + k),
                       N, C, HW, G, 1e-5f, silu};
            for (int64_t i = 0; i < n; i++) c.inp[i] = 3.0f * c.inp[i] + 1.0f;
            float *ref = alloc_floats(n), *mean_n = alloc_floats(G), *rstd_n = alloc_floats(G);
            gn_loss(&c);
            if (silu) groupnorm_silu_forward_naive(ref, mean_n, rstd_n, c.inp, c.gamma, c.beta, N, C, HW, G, c.eps);
            else groupnorm_forward_naive(ref, mean_n, rstd_n, c.inp, c.gamma, c.beta, N, C, HW, G, c.eps);
            char w[64];
            snprintf(w, sizeof w, "gn%s C=%lld fwd", silu ? "+silu" : "", (long long)C);
            close_to(w, c.out, ref, n, 0, 1e-6);
            CHECK(check_close("rstd", c.rstd, rstd_n, G, 0, 1e-7));
            float *dinp = alloc_floats(n), *dg = alloc_floats(C), *db = alloc_floats(C);
            float *dinp_n = alloc_floats(n), *dg_n = alloc_floats(C), *db_n = alloc_floats(C);
            gn_grads(&c, dinp, dg, db);
            if (silu) groupnorm_silu_backward_naive(dinp_n, dg_n, db_n, c.dout, c.inp, c.gamma, c.beta, c.mean, c.rstd, N, C, HW, G);
            else groupnorm_backward_naive(dinp_n, dg_n, db_n, c.dout, c.inp, c.gamma, c.mean, c.rstd, N, C, HW, G);
            snprintf(w, sizeof w, "gn%s C=%lld dinp", silu ? "+silu" : "", (long long)C);
            close_to(w, dinp, dinp_n, n, 0, 2e-6);
            close_to("  dgamma", dg, dg_n, C, 0, 2e-6);
            close_to("  dbeta", db, db_n, C, 0, 2e-6);
            // measured rel err <= 6e-5 (float rounding of the 1.3M-5.2M-term loss / eps)
            gradcheck_dir(w, gn_loss, &c, c.inp, dinp, n, 1e-2f, 3e-4, 2, 440 + k);
            free(c.out), free(c.mean), free(c.rstd), free((float *)c.dout), free(c.inp), free(c.gamma), free(c.beta);
            free(ref), free(mean_n), free(rstd_n), free(dinp), free(dg), free(db), free(dinp_n), free(dg_n), free(db_n);
        }
}

// ============================ LayerNorm ============================

static void test_layernorm_forward_matches_naive(void) {
    const int64_t shapes[][2] = {{5, 37}, {3, 8}, {7, 1}, {4, 768}, {2, 1100}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int variant = 0; variant < 4; variant++) {
            int64_t M = shapes[s][0], D = shapes[s][1], n = M * D;
            float *x = alloc_randn(n, 2.0f, 500 + s), *gamma = alloc_gamma(D, 510 + s), *beta = alloc_randn(D, 0.5f, 520 + s);
            for (int64_t i = 0; i < n; i++) x[i] -= 1.3f;
            const float *g = (variant & 1) ? gamma : NULL, *b = (variant & 2) ? beta : NULL;
            float *out = alloc_floats(n), *mean = alloc_floats(M), *rstd = alloc_floats(M);
            float *out_n = alloc_floats(n), *mean_n = alloc_floats(M), *rstd_n = alloc_floats(M);
            layernorm_forward(out, mean, rstd, x, g, b, M, D, 1e-5f);
            layernorm_forward_naive(out_n, mean_n, rstd_n, x, g, b, M, D, 1e-5f);
            char what[64];
            snprintf(what, sizeof what, "ln out (%lld,%lld) variant %d", (long long)M, (long long)D, variant);
            close_to(what, out, out_n, n, 0, 1e-6);
            CHECK(check_close("ln mean", mean, mean_n, M, 0, 1e-7));
            CHECK(check_close("ln rstd", rstd, rstd_n, M, 0, 1e-7));
            float *out2 = alloc_floats(n);
            layernorm_forward(out2, NULL, NULL, x, g, b, M, D, 1e-5f);
            CHECK(memcmp(out, out2, (size_t)n * sizeof(float)) == 0);
            free(x), free(gamma), free(beta), free(out), free(mean), free(rstd), free(out_n), free(mean_n), free(rstd_n), free(out2);
        }
}

static void test_layernorm_large_mean(void) {
    const float means[] = {100.0f, 1e4f, -3e3f, 1e6f};
    for (int k = 0; k < 4; k++) {
        int64_t M = 6, D = 1000, n = M * D;
        float *x = alloc_randn(n, 1.0f, 600 + k), *gamma = alloc_gamma(D, 601), *beta = alloc_randn(D, 0.5f, 602);
        for (int64_t i = 0; i < n; i++) x[i] += means[k];
        float *out = alloc_floats(n), *mean = alloc_floats(M), *rstd = alloc_floats(M);
        float *out_n = alloc_floats(n), *mean_n = alloc_floats(M), *rstd_n = alloc_floats(M);
        layernorm_forward(out, mean, rstd, x, gamma, beta, M, D, 1e-5f);
        layernorm_forward_naive(out_n, mean_n, rstd_n, x, gamma, beta, M, D, 1e-5f);
        close_to("ln large-mean out", out, out_n, n, 0, 1e-6);
        CHECK(check_close("ln large-mean rstd", rstd, rstd_n, M, 0, 1e-7));
        for (int64_t i = 0; i < M; i++) CHECKF(fabs(rstd[i] - 1.0) < 0.1, "rstd %g", rstd[i]);
        free(x), free(gamma), free(beta), free(out), free(mean), free(rstd), free(out_n), free(mean_n), free(rstd_n);
    }
}

static void ln_backward_case(int64_t M, int64_t D, bool has_gamma, int which, bool alias, uint64_t seed) {
    int64_t n = M * D;
    float *x = alloc_randn(n, 1.5f, seed), *gamma = alloc_gamma(D, seed + 1), *beta = alloc_randn(D, 0.5f, seed + 2);
    float *dout = alloc_randn(n, 1.0f, seed + 3), *out = alloc_floats(n), *mean = alloc_floats(M), *rstd = alloc_floats(M);
    for (int64_t i = 0; i < n; i++) x[i] += 0.4f;
    const float *g = has_gamma ? gamma : NULL;
    layernorm_forward(out, mean, rstd, x, g, beta, M, D, 1e-5f);
    float *dinp = alloc_floats(n), *dinp_n = alloc_floats(n);
    fill_const(dinp, n, NAN);
    float *dg = alloc_randn(D, 1.0f, seed + 4), *db = alloc_randn(D, 1.0f, seed + 5);
    float *dg_n = copy_of(dg, D), *db_n = copy_of(db, D), *dg0 = copy_of(dg, D), *db0 = copy_of(db, D);
    float *dinp_arg = (which & 1) ? dinp : NULL, *dg_arg = (which & 2) ? dg : NULL, *db_arg = (which & 4) ? db : NULL;
    const float *dout_arg = dout;
    if (alias && dinp_arg) {
        memcpy(dinp, dout, (size_t)n * sizeof(float));
        dout_arg = dinp;
    }
    layernorm_backward(dinp_arg, dg_arg, db_arg, dout_arg, x, g, mean, rstd, M, D);
    layernorm_backward_naive(dinp_n, dg_n, db_n, dout, x, g, mean, rstd, M, D);
    char what[96];
    snprintf(what, sizeof what, "ln bwd (%lld,%lld) g%d which%d alias%d", (long long)M, (long long)D, has_gamma, which, alias);
    if (which & 1) close_to(what, dinp, dinp_n, n, 0, 2e-6);
    else CHECK(isnan(dinp[0]) && isnan(dinp[n - 1]));
    for (int64_t d = 0; d < D; d++) {
        dg[d] -= dg0[d], dg_n[d] -= dg0[d];
        db[d] -= db0[d], db_n[d] -= db0[d];
    }
    if (which & 2) close_to("  dgamma increment", dg, dg_n, D, 1e-6, 2e-6);
    else for (int64_t d = 0; d < D; d++) CHECK(dg[d] == 0.0f);
    if (which & 4) close_to("  dbeta increment", db, db_n, D, 1e-6, 2e-6);
    else for (int64_t d = 0; d < D; d++) CHECK(db[d] == 0.0f);
    free(x), free(gamma), free(beta), free(dout), free(out), free(mean), free(rstd), free(dinp), free(dinp_n);
    free(dg), free(db), free(dg_n), free(db_n), free(dg0), free(db0);
}

static void test_layernorm_backward_matches_naive(void) {
    const int64_t shapes[][2] = {{5, 37}, {9, 8}, {3, 3}, {6, 768}, {40, 70}};
    uint64_t seed = 700;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int which = 1; which < 8; which++) ln_backward_case(shapes[s][0], shapes[s][1], true, which, false, seed++);
    ln_backward_case(5, 37, false, 7, false, seed++);
    ln_backward_case(40, 70, true, 7, true, seed++);
    ln_backward_case(5, 37, false, 1, true, seed++);
}

typedef struct {
    float *out, *mean, *rstd;
    const float *dout;
    float *inp, *gamma, *beta;
    int64_t M, D;
} LnCtx;

static double ln_loss(void *p) {
    LnCtx *c = p;
    layernorm_forward(c->out, c->mean, c->rstd, c->inp, c->gamma, c->beta, c->M, c->D, 1e-5f);
    return dot_double(c->dout, c->out, c->M * c->D);
}

static void ln_grads(LnCtx *c, float *dinp, float *dg, float *db) {
    ln_loss(c);
    memset(dg, 0, (size_t)c->D * sizeof(float));
    memset(db, 0, (size_t)c->D * sizeof(float));
    layernorm_backward(dinp, dg, db, c->dout, c->inp, c->gamma, c->mean, c->rstd, c->M, c->D);
}

static void test_layernorm_gradcheck(void) {
    int64_t M = 4, D = 19, n = M * D;
    LnCtx c = {alloc_floats(n), alloc_floats(M), alloc_floats(M), alloc_randn(n, 1.0f, 800),
               alloc_randn(n, 1.0f, 801), alloc_gamma(D, 802), alloc_randn(D, 0.5f, 803), M, D};
    float *dinp = alloc_floats(n), *dg = alloc_floats(D), *db = alloc_floats(D);
    ln_grads(&c, dinp, dg, db);
    gradcheck_coords("ln dinp", ln_loss, &c, c.inp, dinp, n, 1e-2f, 2e-4, 1e-3, (int)n, 810);
    gradcheck_dir("ln dinp", ln_loss, &c, c.inp, dinp, n, 1e-2f, 1e-4, 3, 811);
    gradcheck_coords("ln dgamma", ln_loss, &c, c.gamma, dg, D, 1e-2f, 2e-4, 1e-3, (int)D, 812);
    gradcheck_dir("ln dgamma", ln_loss, &c, c.gamma, dg, D, 1e-2f, 1e-4, 3, 813);
    gradcheck_coords("ln dbeta", ln_loss, &c, c.beta, db, D, 1e-2f, 2e-4, 1e-3, (int)D, 814);
    gradcheck_dir("ln dbeta", ln_loss, &c, c.beta, db, D, 1e-2f, 1e-4, 3, 815);
    free(c.out), free(c.mean), free(c.rstd), free((float *)c.dout), free(c.inp), free(c.gamma), free(c.beta);
    free(dinp), free(dg), free(db);
}

// UNet transformer LayerNorm at 64x64 latents: (4096, 320).
static void test_layernorm_sd_shape(void) {
    if (test_quick()) return;
    int64_t M = 4096, D = 320, n = M * D;
    LnCtx c = {alloc_floats(n), alloc_floats(M), alloc_floats(M), alloc_randn(n, 1.0f, 900),
               alloc_randn(n, 2.0f, 901), alloc_gamma(D, 902), alloc_randn(D, 0.5f, 903), M, D};
    float *ref = alloc_floats(n), *mean_n = alloc_floats(M), *rstd_n = alloc_floats(M);
    ln_loss(&c);
    layernorm_forward_naive(ref, mean_n, rstd_n, c.inp, c.gamma, c.beta, M, D, 1e-5f);
    close_to("ln (4096,320) fwd", c.out, ref, n, 0, 1e-6);
    float *dinp = alloc_floats(n), *dg = alloc_floats(D), *db = alloc_floats(D);
    float *dinp_n = alloc_floats(n), *dg_n = alloc_floats(D), *db_n = alloc_floats(D);
    ln_grads(&c, dinp, dg, db);
    layernorm_backward_naive(dinp_n, dg_n, db_n, c.dout, c.inp, c.gamma, c.mean, c.rstd, M, D);
    close_to("ln (4096,320) dinp", dinp, dinp_n, n, 0, 2e-6);
    close_to("  dgamma", dg, dg_n, D, 0, 2e-6);
    close_to("  dbeta", db, db_n, D, 0, 2e-6);
    // measured rel err <= 2e-5
    gradcheck_dir("ln (4096,320) dinp", ln_loss, &c, c.inp, dinp, n, 1e-2f, 2e-4, 2, 910);
    gradcheck_dir("ln (4096,320) dgamma", ln_loss, &c, c.gamma, dg, D, 1e-2f, 2e-4, 2, 911);
    free(c.out), free(c.mean), free(c.rstd), free((float *)c.dout), free(c.inp), free(c.gamma), free(c.beta);
    free(ref), free(mean_n), free(rstd_n), free(dinp), free(dg), free(db), free(dinp_n), free(dg_n), free(db_n);
}

int main(void) {
    RUN(test_groupnorm_forward_matches_naive);
    RUN(test_groupnorm_large_mean);
    RUN(test_norm_degenerate_inputs);
    RUN(test_groupnorm_backward_matches_naive);
    RUN(test_groupnorm_gradcheck);
    RUN(test_silu_exp_accuracy);
    RUN(test_norm_thread_invariance);
    RUN(test_groupnorm_sd_shapes);
    RUN(test_layernorm_forward_matches_naive);
    RUN(test_layernorm_large_mean);
    RUN(test_layernorm_backward_matches_naive);
    RUN(test_layernorm_gradcheck);
    RUN(test_layernorm_sd_shape);
    return test_finish();
}
