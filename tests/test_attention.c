// test_attention.c — tiled attention (ops/attention.h) against its naive double-precision
// reference and finite differences: self/cross/causal, tile-boundary sizes, NULL gradients,
// both backward parallel splits, large scores, the softmax exp's accuracy, and real SD shapes
// (4096-token self-attention, 4096×77 cross-attention; skipped under SDLORA_TEST_QUICK=1).
//
// Tolerances: fast and naive differ only by fp32 rounding (fp32 GEMM sums of HD products,
// fp32 exp within 2 ulp). Measured worst cases are ~7e-7 of the largest reference value for
// out and the gradients and ~2e-7 for lse; we allow 4e-6 (grads 5e-6) and 1e-6, ~5x margin.
// Gradients also get an absolute 1e-5: dS = P ⊙ (dP − Drow) cancels O(1) terms (Drow comes
// from dO·O, the naive from rowsum(P ⊙ dP)), leaving ~2e-7 absolute error per dS even where
// the exact gradient is 0 (Tk = 1), and dK sums Tq of those (measured up to 2.7e-6 at Tq = 65).
#include "harness.h"
#include "gradcheck.h"
#include "ops/attention.h"
#include "ops/gemm.h"
#include <float.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int64_t nq_of(const AttnDims *d) { return d->B * d->Tq * d->NH * d->HD; }
static int64_t nk_of(const AttnDims *d) { return d->B * d->Tk * d->NH * d->HD; }

static float *alloc_work(const AttnDims *d) { return alloc_floats((int64_t)attention_work_floats(d)); }

// ---- the exp ----------------------------------------------------------------------------

// Error in ulps of the float nearest e^x, measured against exp() in double.
static double exp_ulp_err(float x, float y) {
    double r = exp((double)x);
    double ulp = ldexp(1.0, ilogbf((float)r) - 23);
    return fabs((double)y - r) / ulp;
}

static void test_expf_accuracy(void) {
    const int64_t n = 1 << 20;
    float *x = alloc_floats(n), *y = alloc_floats(n);
    fill_uniform(x, n / 2, -90.0f, 90.0f, 11);
    fill_uniform(x + n / 2, n / 4, -1.0f, 1.0f, 12);        // around 0: where the polynomial works
    fill_uniform(x + 3 * n / 4, n / 4, -400.0f, 0.0f, 13); // softmax arguments are <= 0
    attention_expf_vec(y, x, n);
    double worst = 0;
    float worst_x = 0;
    int small_bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = exp((double)x[i]);
        if (r < 0x1p-126) { // documented: may flush to 0, absolute error below FLT_MIN
            if (!(fabs((double)y[i] - r) < 0x1p-126 && y[i] >= 0.0f)) small_bad++;
            continue;
        }
        if (r > FLT_MAX) { if (!(isinf(y[i]) && y[i] > 0)) small_bad++; continue; }
        double e = exp_ulp_err(x[i], y[i]);
        if (!(e <= worst)) { worst = e; worst_x = x[i]; }
    }
    CHECKF(worst <= 2.0, "max error %.3f ulp at x = %a", worst, (double)worst_x);
    CHECKF(small_bad == 0, "%d results outside the documented underflow/overflow behaviour", small_bad);
    // Specials: masked scores are -inf and must give exactly 0; exactness at 0.
    float sx[7] = {-INFINITY, INFINITY, NAN, 0.0f, -88.0f, -1000.0f, 89.0f}, sy[7];
    attention_expf_vec(sy, sx, 7);
    CHECK(sy[0] == 0.0f);
    CHECK(isinf(sy[1]) && sy[1] > 0);
    CHECK(isnan(sy[2]));
    CHECK(sy[3] == 1.0f);
    CHECK(sy[4] >= 0.0f && sy[4] < 0x1p-126f);
    CHECK(sy[5] == 0.0f);
    CHECK(isinf(sy[6]));
    // In place (y aliases x), as the header allows.
    float a[3] = {1.0f, -2.0f, 0.5f};
    attention_expf_vec(a, a, 3);
    CHECK(exp_ulp_err(1.0f, a[0]) <= 2 && exp_ulp_err(-2.0f, a[1]) <= 2 && exp_ulp_err(0.5f, a[2]) <= 2);
    free(x);
    free(y);
}

// ---- fast vs naive ----------------------------------------------------------------------

typedef struct {
    AttnDims d;
    const char *name;
} Case;

static const Case cases[] = {
    {{1, 1, 1, 1, 8, 0}, "1x1"},
    {{2, 65, 65, 3, 40, 0}, "self Tq=65, B=2, NH=3, HD=40"},
    {{1, 257, 257, 1, 40, 0}, "self 257 (256-tiles + 1)"},
    {{1, 849, 77, 1, 8, 0}, "cross Tq=849 Tk=77 (848-query tiles + 1)"},
    {{1, 65, 1, 1, 8, 0}, "Tk=1"},
    {{2, 70, 77, 3, 64, 0}, "cross Tq=70 Tk=77 HD=64"},
    {{1, 64, 231, 1, 40, 0}, "cross Tk=231"},
    {{1, 77, 77, 3, 64, 1}, "causal 77 (CLIP-like)"},
    {{2, 130, 520, 1, 40, 0}, "Tk=520 (three key tiles)"},
    {{1, 600, 600, 2, 8, 1}, "causal 600 (skipped and partial tiles)"},
    {{1, 70, 40, 2, 8, 1}, "causal Tq>Tk"},
    {{1, 40, 70, 2, 8, 1}, "causal Tq<Tk"},
    {{2, 33, 17, 1, 160, 0}, "HD=160"},
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

static void test_forward_vs_naive(void) {
    for (int c = 0; c < N_CASES; c++) {
        const AttnDims *d = &cases[c].d;
        int64_t nq = nq_of(d), nk = nk_of(d), nl = d->B * d->NH * d->Tq;
        float *q = alloc_randn(nq, 1.0f, 100 + c), *k = alloc_randn(nk, 1.0f, 200 + c),
              *v = alloc_randn(nk, 1.0f, 300 + c);
        float *out = alloc_floats(nq), *lse = alloc_floats(nl), *ref = alloc_floats(nq), *lref = alloc_floats(nl);
        float *work = alloc_work(d);
        for (int64_t i = 0; i < nq; i++) out[i] = NAN; // forward must overwrite every element
        attention_forward(out, lse, q, k, v, d, work);
        attention_forward_naive(ref, lref, q, k, v, d);
        char what[160];
        snprintf(what, sizeof what, "%s: out", cases[c].name);
        check_close(what, out, ref, nq, 0, 4e-6);
        snprintf(what, sizeof what, "%s: lse", cases[c].name);
        check_close(what, lse, lref, nl, 0, 1e-6);
        free(q); free(k); free(v); free(out); free(lse); free(ref); free(lref); free(work);
    }
}

// Runs fast backward (after fast forward) and naive backward for d; compares dq, dk, dv.
static void compare_backward(const AttnDims *d, const char *name, uint64_t seed) {
    int64_t nq = nq_of(d), nk = nk_of(d), nl = d->B * d->NH * d->Tq;
    float *q = alloc_randn(nq, 1.0f, seed), *k = alloc_randn(nk, 1.0f, seed + 1), *v = alloc_randn(nk, 1.0f, seed + 2);
    float *dout = alloc_randn(nq, 1.0f, seed + 3);
    // work + 1: any float pointer must do (the op aligns its own slots; UBSan checks doubles).
    float *work_base = alloc_floats((int64_t)attention_work_floats(d) + 1), *work = work_base + 1;
    float *out = alloc_floats(nq), *lse = alloc_floats(nl);
    float *dq = alloc_floats(nq), *dk = alloc_floats(nk), *dv = alloc_floats(nk);
    float *rq = alloc_floats(nq), *rk = alloc_floats(nk), *rv = alloc_floats(nk);
    attention_forward(out, lse, q, k, v, d, work);
    // Gradients are written (=), not accumulated: start from garbage.
    for (int64_t i = 0; i < nq; i++) dq[i] = NAN;
    for (int64_t i = 0; i < nk; i++) dk[i] = dv[i] = NAN;
    attention_backward(dq, dk, dv, dout, q, k, v, out, lse, d, work);
    attention_backward_naive(rq, rk, rv, dout, q, k, v, d);
    char what[160];
    snprintf(what, sizeof what, "%s: dq", name);
    check_close(what, dq, rq, nq, 1e-5, 5e-6);
    snprintf(what, sizeof what, "%s: dk", name);
    check_close(what, dk, rk, nk, 1e-5, 5e-6);
    snprintf(what, sizeof what, "%s: dv", name);
    check_close(what, dv, rv, nk, 1e-5, 5e-6);
    free(q); free(k); free(v); free(dout); free(out); free(lse); free(work_base);
    free(dq); free(dk); free(dv); free(rq); free(rk); free(rv);
}

static void test_backward_vs_naive(void) {
    for (int c = 0; c < N_CASES; c++) compare_backward(&cases[c].d, cases[c].name, 1000 + 10 * (uint64_t)c);
}

// Both backward splits: whole heads per thread, and query tiles of one head across threads
// with private dK/dV partials (chosen when there are fewer heads than threads).
static void test_backward_thread_splits(void) {
    int saved = sdl_get_threads();
    static const Case split_cases[] = {
        {{1, 300, 300, 1, 40, 0}, "1 head, 2 threads"},
        {{1, 300, 600, 1, 16, 1}, "1 head causal Tk>Tq, 2 threads"},
        {{1, 200, 77, 3, 8, 0}, "3 heads, 2 threads"},
        // HD = 256: dK/dV partials hold 512 keys, so Tk = 600 takes two key chunks; causal
        // leaves the second chunk unseen by every query.
        {{1, 300, 600, 1, 256, 0}, "1 head, two key chunks, 2 threads"},
        {{1, 300, 600, 1, 256, 1}, "1 head causal, two key chunks, 2 threads"},
    };
    for (int c = 0; c < 5; c++) {
        sdl_set_threads(2);
        compare_backward(&split_cases[c].d, split_cases[c].name, 5000 + 10 * (uint64_t)c);
    }
    sdl_set_threads(3); // odd team size: 2 heads over 3 threads
    AttnDims d3 = {2, 260, 100, 1, 24, 0};
    compare_backward(&d3, "2 heads, 3 threads", 6000);
    sdl_set_threads(1);
    compare_backward(&d3, "2 heads, 1 thread", 6100);
    sdl_set_threads(saved);
}

// NULL gradient pointers skip that gradient; the others must be unchanged, bit for bit.
// Forward without lse gives the same output.
static void test_backward_null_grads(void) {
    const AttnDims d = {2, 70, 77, 2, 40, 0};
    int64_t nq = nq_of(&d), nk = nk_of(&d), nl = d.B * d.NH * d.Tq;
    float *q = alloc_randn(nq, 1.0f, 1), *k = alloc_randn(nk, 1.0f, 2), *v = alloc_randn(nk, 1.0f, 3);
    float *dout = alloc_randn(nq, 1.0f, 4), *out = alloc_floats(nq), *lse = alloc_floats(nl), *work = alloc_work(&d);
    float *dq = alloc_floats(nq), *dk = alloc_floats(nk), *dv = alloc_floats(nk);
    float *gq = alloc_floats(nq), *gk = alloc_floats(nk), *gv = alloc_floats(nk);
    attention_forward(out, lse, q, k, v, &d, work);
    attention_forward(gq, NULL, q, k, v, &d, work); // no lse (sampling): same out
    CHECK(max_abs_diff(gq, out, nq) == 0);
    attention_backward(dq, dk, dv, dout, q, k, v, out, lse, &d, work);
    for (int mask = 0; mask < 8; mask++) { // bit set = that gradient requested
        memset(gq, 0, (size_t)nq * 4); memset(gk, 0, (size_t)nk * 4); memset(gv, 0, (size_t)nk * 4);
        attention_backward(mask & 1 ? gq : NULL, mask & 2 ? gk : NULL, mask & 4 ? gv : NULL, dout, q, k, v, out,
                           lse, &d, work);
        CHECKF(max_abs_diff(gq, mask & 1 ? dq : gq, nq) == 0 && (mask & 1 || max_abs(gq, nq) == 0), "mask %d dq", mask);
        CHECKF(max_abs_diff(gk, mask & 2 ? dk : gk, nk) == 0 && (mask & 2 || max_abs(gk, nk) == 0), "mask %d dk", mask);
        CHECKF(max_abs_diff(gv, mask & 4 ? dv : gv, nk) == 0 && (mask & 4 || max_abs(gv, nk) == 0), "mask %d dv", mask);
    }
    free(q); free(k); free(v); free(dout); free(out); free(lse); free(work);
    free(dq); free(dk); free(dv); free(gq); free(gk); free(gv);
}

// Scores in the hundreds: e^s overflows fp32 without the running max. Errors here scale with
// |s| (an fp32 score carries ~|s|·2^-24 absolute error, which exp turns into relative error):
// measured 8e-6 (out) and 3e-5 (grads) of the largest value; allowed 1e-4 and 2e-4.
static void test_large_scores(void) {
    const AttnDims d = {1, 100, 90, 2, 40, 0};
    int64_t nq = nq_of(&d), nk = nk_of(&d), nl = d.B * d.NH * d.Tq;
    float *q = alloc_randn(nq, 10.0f, 21), *k = alloc_randn(nk, 10.0f, 22), *v = alloc_randn(nk, 1.0f, 23);
    float *out = alloc_floats(nq), *lse = alloc_floats(nl), *ref = alloc_floats(nq), *lref = alloc_floats(nl);
    float *work = alloc_work(&d);
    attention_forward(out, lse, q, k, v, &d, work);
    attention_forward_naive(ref, lref, q, k, v, &d);
    CHECKF(max_abs(lref, nl) > 200, "scores are not large (max lse %.1f)", max_abs(lref, nl));
    check_close("large scores: out", out, ref, nq, 0, 1e-4);
    check_close("large scores: lse", lse, lref, nl, 0, 1e-6);
    float *dout = alloc_randn(nq, 1.0f, 24), *dq = alloc_floats(nq), *dk = alloc_floats(nk), *dv = alloc_floats(nk);
    float *rq = alloc_floats(nq), *rk = alloc_floats(nk), *rv = alloc_floats(nk);
    attention_backward(dq, dk, dv, dout, q, k, v, out, lse, &d, work);
    attention_backward_naive(rq, rk, rv, dout, q, k, v, &d);
    check_close("large scores: dq", dq, rq, nq, 0, 2e-4);
    check_close("large scores: dk", dk, rk, nk, 0, 2e-4);
    check_close("large scores: dv", dv, rv, nk, 0, 2e-4);
    free(q); free(k); free(v); free(out); free(lse); free(ref); free(lref); free(work);
    free(dout); free(dq); free(dk); free(dv); free(rq); free(rk); free(rv);
}

// The work buffer grows with the tokens, never with Tq × Tk: per thread at most a fixed tile
// budget (2^19 floats) plus a few (Tk, HD) partials, far below one head's score matrix.
static void test_work_is_linear(void) {
    static const AttnDims ds[] = {{1, 4096, 4096, 8, 40, 0}, {1, 16384, 16384, 8, 40, 0},
                                  {1, 4096, 4096, 1, 512, 0}, {1, 16384, 16384, 1, 512, 0},
                                  {2, 16384, 77, 8, 40, 0}};
    const size_t nt = (size_t)sdl_get_threads();
    for (int i = 0; i < 5; i++) {
        const AttnDims *d = &ds[i];
        size_t w = attention_work_floats(d), bound = nt * (3 * (size_t)(d->Tk * d->HD) + ((size_t)1 << 19));
        CHECKF(w <= bound, "work %zu floats > linear bound %zu (Tq %lld, Tk %lld, HD %lld)", w, bound,
               (long long)d->Tq, (long long)d->Tk, (long long)d->HD);
        if (d->Tk > 4096) CHECKF(w < (size_t)(d->Tq * d->Tk) / 2, "work %zu floats vs Tq*Tk", w);
    }
}

// ---- finite differences -----------------------------------------------------------------

typedef struct {
    const AttnDims *d;
    float *q, *k, *v, *out, *lse, *dout, *work;
    int64_t nq;
} LossCtx;

static double attn_loss(void *p) {
    LossCtx *c = p;
    attention_forward(c->out, c->lse, c->q, c->k, c->v, c->d, c->work);
    return dot_double(c->dout, c->out, c->nq);
}

// Sets up a random problem, runs backward, and returns the context (caller frees via ctx_free).
static LossCtx ctx_make(const AttnDims *d, float qscale, uint64_t seed, float **dq, float **dk, float **dv) {
    LossCtx c = {d, NULL, NULL, NULL, NULL, NULL, NULL, NULL, nq_of(d)};
    int64_t nk = nk_of(d);
    c.q = alloc_randn(c.nq, qscale, seed);
    c.k = alloc_randn(nk, 1.0f, seed + 1);
    c.v = alloc_randn(nk, 1.0f, seed + 2);
    c.dout = alloc_randn(c.nq, 1.0f, seed + 3);
    c.out = alloc_floats(c.nq);
    c.lse = alloc_floats(d->B * d->NH * d->Tq);
    c.work = alloc_work(d);
    *dq = alloc_floats(c.nq);
    *dk = alloc_floats(nk);
    *dv = alloc_floats(nk);
    attn_loss(&c);
    attention_backward(*dq, *dk, *dv, c.dout, c.q, c.k, c.v, c.out, c.lse, d, c.work);
    return c;
}

static void ctx_free(LossCtx *c) {
    free(c->q); free(c->k); free(c->v); free(c->dout); free(c->out); free(c->lse); free(c->work);
}

static void test_gradcheck_small(void) {
    static const Case gc[] = {
        {{2, 9, 7, 2, 8, 0}, "cross 9x7"},
        {{1, 11, 11, 2, 8, 1}, "causal 11"},
    };
    for (int t = 0; t < 2; t++) {
        const AttnDims *d = &gc[t].d;
        float *dq, *dk, *dv;
        LossCtx c = ctx_make(d, 1.0f, 77 + 10 * (uint64_t)t, &dq, &dk, &dv);
        int64_t nk = nk_of(d);
        char w[96];
        // fp32 forward: L carries ~1e-7 relative noise, so the difference quotient at
        // eps = 1e-2 is good to ~1e-4 absolute (measured: directional rel. error <= 2.5e-5,
        // coordinates <= 4e-5 absolute); the gradients are O(0.1..1).
        snprintf(w, sizeof w, "%s dq", gc[t].name);
        gradcheck_dir(w, attn_loss, &c, c.q, dq, c.nq, 1e-2f, 2e-4, 3, 31);
        gradcheck_coords(w, attn_loss, &c, c.q, dq, c.nq, 1e-2f, 1e-4, 1e-3, 40, 32);
        snprintf(w, sizeof w, "%s dk", gc[t].name);
        gradcheck_dir(w, attn_loss, &c, c.k, dk, nk, 1e-2f, 2e-4, 3, 33);
        gradcheck_coords(w, attn_loss, &c, c.k, dk, nk, 1e-2f, 1e-4, 1e-3, 40, 34);
        snprintf(w, sizeof w, "%s dv", gc[t].name);
        gradcheck_dir(w, attn_loss, &c, c.v, dv, nk, 1e-2f, 2e-4, 3, 35);
        gradcheck_coords(w, attn_loss, &c, c.v, dv, nk, 1e-2f, 1e-4, 1e-3, 40, 36);
        ctx_free(&c);
        free(dq); free(dk); free(dv);
    }
}

// ---- real SD shapes ----------------------------------------------------------------------

// Forward at a real shape vs the naive reference on `rows` query rows (every head): a query
// row's output depends only on that row and all of k, v, so the naive op on the gathered rows
// is the exact reference.
static void check_rows_vs_naive(const char *name, const AttnDims *d, const float *q, const float *k,
                                const float *v, const float *out, const float *lse, int64_t rows) {
    const int64_t C = d->NH * d->HD;
    AttnDims ds = {1, rows, d->Tk, d->NH, d->HD, 0};
    float *qs = alloc_floats(rows * C), *os = alloc_floats(rows * C), *ref = alloc_floats(rows * C);
    float *ls = alloc_floats(d->NH * rows), *lref = alloc_floats(d->NH * rows);
    for (int64_t r = 0; r < rows; r++) {
        int64_t i = (r * 7919) % d->Tq; // spread over the sequence (batch 0)
        memcpy(qs + r * C, q + i * C, (size_t)C * sizeof(float));
        memcpy(os + r * C, out + i * C, (size_t)C * sizeof(float));
        for (int64_t h = 0; h < d->NH; h++) ls[h * rows + r] = lse[h * d->Tq + i];
    }
    attention_forward_naive(ref, lref, qs, k, v, &ds);
    char w[128];
    snprintf(w, sizeof w, "%s: out rows", name);
    check_close(w, os, ref, rows * C, 0, 4e-6);
    snprintf(w, sizeof w, "%s: lse rows", name);
    check_close(w, ls, lref, d->NH * rows, 0, 1e-6);
    free(qs); free(os); free(ref); free(ls); free(lref);
}

static void real_shape(const char *name, const AttnDims *d, int dirs) {
    float *dq, *dk, *dv;
    double t0 = now();
    LossCtx c = ctx_make(d, 1.0f, 4242, &dq, &dk, &dv);
    double t1 = now();
    check_rows_vs_naive(name, d, c.q, c.k, c.v, c.out, c.lse, 64);
    // L sums ~1.3M fp32 outputs: noise ~1e-5 absolute, so eps = 1e-2 gives ~1e-3 absolute
    // error in the directional derivative, against |grad|_2 in the tens (measured relative
    // error <= 2.5e-5; allowed 2e-4).
    char w[128];
    snprintf(w, sizeof w, "%s dq", name);
    gradcheck_dir(w, attn_loss, &c, c.q, dq, c.nq, 1e-2f, 2e-4, dirs, 51);
    snprintf(w, sizeof w, "%s dk", name);
    gradcheck_dir(w, attn_loss, &c, c.k, dk, nk_of(d), 1e-2f, 2e-4, dirs, 52);
    snprintf(w, sizeof w, "%s dv", name);
    gradcheck_dir(w, attn_loss, &c, c.v, dv, nk_of(d), 1e-2f, 2e-4, dirs, 53);
    printf("  %s: forward+backward %.2f s, all checks %.2f s\n", name, t1 - t0, now() - t0);
    ctx_free(&c);
    free(dq); free(dk); free(dv);
}

static void test_real_self_4096(void) {
    if (test_quick()) return;
    const AttnDims d = {1, 4096, 4096, 8, 40, 0};
    real_shape("self 4096 8x40", &d, 2);
}

static void test_real_cross_4096x77(void) {
    if (test_quick()) return;
    const AttnDims d = {1, 4096, 77, 8, 40, 0};
    real_shape("cross 4096x77 8x40", &d, 2);
    // Full backward vs naive too: cheap at Tk = 77.
    compare_backward(&d, "cross 4096x77 8x40", 4343);
}

int main(void) {
    RUN(test_expf_accuracy);
    RUN(test_forward_vs_naive);
    RUN(test_backward_vs_naive);
    RUN(test_backward_thread_splits);
    RUN(test_backward_null_grads);
    RUN(test_large_scores);
    RUN(test_work_is_linear);
    RUN(test_gradcheck_small);
    RUN(test_real_self_4096);
    RUN(test_real_cross_4096x77);
    return test_finish();
}
