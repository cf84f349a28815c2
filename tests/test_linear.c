// test_linear.c — linear layer (torch.nn.Linear): gemm-based forward/backward against the naive
// double triple loops (with and without bias, NULL gradients, `=` of dinp and `+=` of dw/db,
// inputs that a gradient does not need passed as NULL), finite-difference gradient checks on
// inp, w and b, and the SD shapes (4096,320)->320 and CLIP-context (77,768)->320
// (skipped under SDLORA_TEST_QUICK=1).
//
// Tolerances: atol + rtol * max|ref| (check_close). BLAS sums in float; its error grows like
// sqrt(K) ulps of the typical product sum, a few 1e-7 relative at these K; bounds leave ~10x.
// TEST_VERBOSE=1 prints the measured relative errors.
#include "harness.h"
#include "gradcheck.h"
#include "ops/linear.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int close_to(const char *what, const float *a, const float *ref, int64_t n, double atol, double rtol) {
    if (getenv("TEST_VERBOSE"))
        fprintf(stderr, "    %-44s max|diff| / max|ref| = %.3g\n", what, max_abs_diff(a, ref, n) / fmax(max_abs(ref, n), 1e-300));
    return check_close(what, a, ref, n, atol, rtol);
}

static float *copy_of(const float *x, int64_t n) {
    float *y = alloc_floats(n);
    memcpy(y, x, (size_t)n * sizeof(float));
    return y;
}

typedef struct {
    int64_t M, IC, OC;
} LinShape;

static const LinShape small[] = {{5, 7, 3}, {1, 1, 1}, {17, 33, 9}, {64, 70, 130}, {3, 200, 2}};

static void test_linear_forward_matches_naive(void) {
    for (size_t s = 0; s < sizeof small / sizeof small[0]; s++)
        for (int bias = 0; bias < 2; bias++) {
            LinShape sh = small[s];
            int64_t no = sh.M * sh.OC;
            float *x = alloc_randn(sh.M * sh.IC, 1.0f, 10 + s), *w = alloc_randn(sh.OC * sh.IC, 0.2f, 20 + s);
            float *b = alloc_randn(sh.OC, 1.0f, 30 + s);
            float *out = alloc_floats(no), *ref = alloc_floats(no);
            for (int64_t i = 0; i < no; i++) out[i] = NAN; // must be overwritten
            linear_forward(out, x, w, bias ? b : NULL, sh.M, sh.IC, sh.OC);
            linear_forward_naive(ref, x, w, bias ? b : NULL, sh.M, sh.IC, sh.OC);
            char what[80];
            snprintf(what, sizeof what, "linear fwd (%lld,%lld)->%lld bias %d", (long long)sh.M, (long long)sh.IC,
                     (long long)sh.OC, bias);
            close_to(what, out, ref, no, 0, 2e-6);
            free(x), free(w), free(b), free(out), free(ref);
        }
}

// which: bit 0 dinp, bit 1 dw, bit 2 db. Inputs a wanted gradient does not need are passed NULL
// (inp is only needed for dw, w only for dinp).
static void linear_backward_case(LinShape sh, int which, uint64_t seed) {
    int64_t ni = sh.M * sh.IC, nw = sh.OC * sh.IC, no = sh.M * sh.OC;
    float *x = alloc_randn(ni, 1.0f, seed), *w = alloc_randn(nw, 0.2f, seed + 1), *dout = alloc_randn(no, 1.0f, seed + 2);
    float *dinp = alloc_floats(ni), *dinp_n = alloc_floats(ni);
    for (int64_t i = 0; i < ni; i++) dinp[i] = NAN; // `=`: a NaN prefill must not survive
    float *dw = alloc_randn(nw, 1.0f, seed + 3), *db = alloc_randn(sh.OC, 1.0f, seed + 4); // `+=` onto these
    float *dw_n = copy_of(dw, nw), *db_n = copy_of(db, sh.OC), *dw0 = copy_of(dw, nw), *db0 = copy_of(db, sh.OC);
    linear_backward((which & 1) ? dinp : NULL, (which & 2) ? dw : NULL, (which & 4) ? db : NULL, dout,
                    (which & 2) ? x : NULL, (which & 1) ? w : NULL, sh.M, sh.IC, sh.OC);
    linear_backward_naive(dinp_n, dw_n, db_n, dout, x, w, sh.M, sh.IC, sh.OC);
    char what[80];
    snprintf(what, sizeof what, "linear bwd (%lld,%lld)->%lld which %d", (long long)sh.M, (long long)sh.IC,
             (long long)sh.OC, which);
    if (which & 1) close_to(what, dinp, dinp_n, ni, 0, 2e-6);
    else CHECK(isnan(dinp[0]) && isnan(dinp[ni - 1]));
    // compare the increments (prior values O(1) would hide errors in small sums)
    for (int64_t i = 0; i < nw; i++) dw[i] -= dw0[i], dw_n[i] -= dw0[i];
    for (int64_t i = 0; i < sh.OC; i++) db[i] -= db0[i], db_n[i] -= db0[i];
    if (which & 2) close_to("  dw increment", dw, dw_n, nw, 1e-6, 2e-6);
    else CHECK(max_abs(dw, nw) == 0.0);
    if (which & 4) close_to("  db increment", db, db_n, sh.OC, 1e-6, 2e-6);
    else CHECK(max_abs(db, sh.OC) == 0.0);
    free(x), free(w), free(dout), free(dinp), free(dinp_n), free(dw), free(db), free(dw_n), free(db_n), free(dw0), free(db0);
}

static void test_linear_backward_matches_naive(void) {
    uint64_t seed = 100;
    for (size_t s = 0; s < sizeof small / sizeof small[0]; s++)
        for (int which = 1; which < 8; which++) linear_backward_case(small[s], which, seed += 10);
}

// Two backward calls accumulate: dw = dw0 + 2 g.
static void test_linear_accumulates_twice(void) {
    LinShape sh = {9, 11, 6};
    int64_t nw = sh.OC * sh.IC;
    float *x = alloc_randn(sh.M * sh.IC, 1.0f, 50), *w = alloc_randn(nw, 0.3f, 51), *dout = alloc_randn(sh.M * sh.OC, 1.0f, 52);
    float *dw = alloc_floats(nw), *db = alloc_floats(sh.OC), *dw1 = alloc_floats(nw), *db1 = alloc_floats(sh.OC);
    linear_backward(NULL, dw1, db1, dout, x, w, sh.M, sh.IC, sh.OC);
    linear_backward(NULL, dw, db, dout, x, w, sh.M, sh.IC, sh.OC);
    linear_backward(NULL, dw, db, dout, x, w, sh.M, sh.IC, sh.OC);
    for (int64_t i = 0; i < nw; i++) dw1[i] *= 2.0f;
    for (int64_t i = 0; i < sh.OC; i++) db1[i] *= 2.0f;
    close_to("dw after two calls", dw, dw1, nw, 0, 1e-6);
    close_to("db after two calls", db, db1, sh.OC, 0, 1e-6);
    free(x), free(w), free(dout), free(dw), free(db), free(dw1), free(db1);
}

// ---- finite differences ----

typedef struct {
    float *out;
    const float *dout;
    float *inp, *w, *b;
    int64_t M, IC, OC;
} LinCtx;

static double lin_loss(void *p) {
    LinCtx *c = p;
    linear_forward(c->out, c->inp, c->w, c->b, c->M, c->IC, c->OC);
    return dot_double(c->dout, c->out, c->M * c->OC);
}

static LinCtx lin_ctx(int64_t M, int64_t IC, int64_t OC, uint64_t seed) {
    LinCtx c = {alloc_floats(M * OC), alloc_randn(M * OC, 1.0f, seed), alloc_randn(M * IC, 1.0f, seed + 1),
                alloc_randn(OC * IC, 1.0f / sqrtf((float)IC), seed + 2), alloc_randn(OC, 0.5f, seed + 3), M, IC, OC};
    return c;
}

static void lin_ctx_free(LinCtx *c) {
    free(c->out), free((float *)c->dout), free(c->inp), free(c->w), free(c->b);
}

static void test_linear_gradcheck(void) {
    LinCtx c = lin_ctx(4, 6, 5, 200);
    int64_t ni = c.M * c.IC, nw = c.OC * c.IC;
    float *dinp = alloc_floats(ni), *dw = alloc_floats(nw), *db = alloc_floats(c.OC);
    linear_backward(dinp, dw, db, c.dout, c.inp, c.w, c.M, c.IC, c.OC);
    // L is linear in each argument: the 4-point difference is exact up to float rounding of ~20
    // outputs (~1e-6 / eps), so the bounds can be tight.
    gradcheck_coords("linear dinp", lin_loss, &c, c.inp, dinp, ni, 1e-2f, 1e-4, 1e-4, (int)ni, 210);
    gradcheck_dir("linear dinp", lin_loss, &c, c.inp, dinp, ni, 1e-2f, 1e-4, 3, 211);
    gradcheck_coords("linear dw", lin_loss, &c, c.w, dw, nw, 1e-2f, 1e-4, 1e-4, (int)nw, 212);
    gradcheck_dir("linear dw", lin_loss, &c, c.w, dw, nw, 1e-2f, 1e-4, 3, 213);
    gradcheck_coords("linear db", lin_loss, &c, c.b, db, c.OC, 1e-2f, 1e-4, 1e-4, (int)c.OC, 214);
    gradcheck_dir("linear db", lin_loss, &c, c.b, db, c.OC, 1e-2f, 1e-4, 3, 215);
    free(dinp), free(dw), free(db);
    lin_ctx_free(&c);
}

// SD shapes: UNet attention projection at 64x64 latents (4096, 320) -> 320, and the
// cross-attention K/V projection of the CLIP context (77, 768) -> 320.
static void test_linear_sd_shapes(void) {
    if (test_quick()) return;
    const LinShape shapes[] = {{4096, 320, 320}, {77, 768, 320}};
    for (int k = 0; k < 2; k++) {
        LinCtx c = lin_ctx(shapes[k].M, shapes[k].IC, shapes[k].OC, 300 + 10 * k);
        int64_t ni = c.M * c.IC, nw = c.OC * c.IC, no = c.M * c.OC;
        float *ref = alloc_floats(no);
        lin_loss(&c);
        linear_forward_naive(ref, c.inp, c.w, c.b, c.M, c.IC, c.OC);
        char what[80];
        snprintf(what, sizeof what, "linear fwd (%lld,%lld)->%lld", (long long)c.M, (long long)c.IC, (long long)c.OC);
        close_to(what, c.out, ref, no, 0, 4e-6); // K = 320..768: BLAS float sums, ~7e-7 measured
        float *dinp = alloc_floats(ni), *dw = alloc_floats(nw), *db = alloc_floats(c.OC);
        linear_backward(dinp, dw, db, c.dout, c.inp, c.w, c.M, c.IC, c.OC);
        // Loss over up to 1.3M float outputs: rounding noise ~1e-3 in L, / eps 5e-2, against
        // gradient norms ~1e3: measured relative errors <= 5e-6.
        snprintf(what, sizeof what, "linear (%lld,%lld)->%lld dinp", (long long)c.M, (long long)c.IC, (long long)c.OC);
        gradcheck_dir(what, lin_loss, &c, c.inp, dinp, ni, 5e-2f, 3e-5, 2, 320 + k);
        gradcheck_dir("  dw", lin_loss, &c, c.w, dw, nw, 5e-2f, 3e-5, 2, 330 + k);
        gradcheck_dir("  db", lin_loss, &c, c.b, db, c.OC, 5e-2f, 3e-5, 2, 340 + k);
        free(ref), free(dinp), free(dw), free(db);
        lin_ctx_free(&c);
    }
}

int main(void) {
    RUN(test_linear_forward_matches_naive);
    RUN(test_linear_backward_matches_naive);
    RUN(test_linear_accumulates_twice);
    RUN(test_linear_gradcheck);
    RUN(test_linear_sd_shapes);
    return test_finish();
}
