// test_golden_ops.c — every op in src/ops against PyTorch: each case loads
// tests/golden/ops/<case>.safetensors (tools/oracle/make_op_goldens.py), runs sdlora's fast
// op forward and backward on the golden inputs and compares outputs and gradients.
// The cases are listed explicitly below, so a missing golden file is a failure, not a skip.
// Golden directory: tests/golden (tests run from the repo root), or $SDLORA_GOLDEN_DIR.
//
// Besides the values, the ops.h contract: input gradients are written (=; their buffers
// start as NaN), parameter gradients accumulate (+=; they start at zero, and a second
// backward must double them), work memory starts as NaN (ops must not assume it is zeroed),
// and the elementwise activations give the same bits in place.
//
// Tolerances: check_close(got, ref, atol, rtol) passes when max|got - ref| <= atol +
// rtol * max|ref|. The goldens are float64 results rounded once to float32 (<= 2^-24 ≈ 6e-8
// relative), so the tolerance is the op's own float32 error, by kind of computation:
#include "harness.h"
#include "io/safetensors.h"
#include "ops/ops.h"
#include <stdlib.h>
#include <string.h>

#define TOL_COPY 0.0  // data movement (concat, upsample, transpose): bit-exact
#define TOL_ELEM 1e-6 // elementwise math, a few roundings per value (~16 ulp of the largest value)
#define TOL_STAT 2e-6 // saved statistics (mean, rstd, lse, per-sample loss): double or
                      // compensated sums, then a few float roundings
#define TOL_FWD 1e-5  // float32 dot products and normalisations over <= ~100 terms (BLAS order)
#define TOL_RED 3e-5  // gradients that also reduce over the batch (dw, db, dgamma, dk, dv):
                      // longer float32 sums, more cancellation

typedef struct {
    SafeTensors st;
    int open;
    const char *name;
} Golden;

static int golden_open(Golden *g, const char *name) {
    char path[1024], rel[256];
    snprintf(rel, sizeof rel, "ops/%s.safetensors", name);
    golden_path(path, sizeof path, rel);
    g->name = name;
    g->open = st_open(&g->st, path) == SDL_OK;
    if (!g->open) {
        sdl_error_print(stderr);
        CHECKF(0, "golden %s missing or unreadable (run from the repo root or set SDLORA_GOLDEN_DIR)", path);
    }
    return g->open;
}

static void golden_close(Golden *g) {
    if (g->open) st_close(&g->st);
    g->open = 0;
}

// Integer metadata value (dims, flags); a missing or malformed key is a failure (returns -1).
static int64_t meta_i(Golden *g, const char *key) {
    const char *s = st_metadata_get(&g->st, key);
    char *end = NULL;
    long long v = s ? strtoll(s, &end, 10) : -1;
    CHECKF(s && end != s && *end == '\0', "%s: metadata %s = %s", g->name, key, s ? s : "(absent)");
    return s && end != s && *end == '\0' ? (int64_t)v : -1;
}

static double meta_f(Golden *g, const char *key) {
    const char *s = st_metadata_get(&g->st, key);
    char *end = NULL;
    double v = s ? strtod(s, &end) : 0;
    CHECKF(s && end != s && *end == '\0', "%s: metadata %s = %s", g->name, key, s ? s : "(absent)");
    return v;
}

// The golden tensor as a fresh float buffer of `numel` values; a missing tensor or a size
// mismatch is a failure and gives a zeroed buffer so the case can still run to the end.
static float *load(Golden *g, const char *tensor, int64_t numel) {
    float *buf = alloc_floats(numel);
    const StTensor *t = st_find(&g->st, tensor);
    CHECKF(t != NULL, "%s: tensor %s missing", g->name, tensor);
    if (!t) return buf;
    CHECKF(t->numel == numel, "%s: %s has %lld values, dims say %lld", g->name, tensor, (long long)t->numel,
           (long long)numel);
    if (t->numel == numel) CHECK(st_tensor_to_f32(&g->st, t, buf) == SDL_OK);
    return buf;
}

static float *alloc_nan(int64_t n) {
    float *p = alloc_floats(n);
    for (int64_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

// Compares got with the golden tensor `tensor` (numel values), labelled "<case>.<tensor>".
// SDLORA_GOLDEN_VERBOSE=1 prints every comparison's error as a fraction of its tolerance.
static void expect(Golden *g, const char *tensor, const float *got, int64_t numel, double atol, double rtol) {
    float *ref = load(g, tensor, numel);
    char what[160];
    snprintf(what, sizeof what, "%s.%s", g->name, tensor);
    check_close(what, got, ref, numel, atol, rtol);
    const char *verbose = getenv("SDLORA_GOLDEN_VERBOSE");
    if (verbose && strcmp(verbose, "1") == 0) {
        double diff = max_abs_diff(got, ref, numel), mag = max_abs(ref, numel), tol = atol + rtol * mag;
        fprintf(stderr, "  %-36s max|diff| %.3g  rel %.3g  (%.2f of tolerance)\n", what, diff,
                mag > 0 ? diff / mag : diff, tol > 0 ? diff / tol : (diff > 0 ? INFINITY : 0.0));
    }
    free(ref);
}

// Second-call check: after another backward with the same dout, parameter gradient `got`
// must hold twice the golden (+=); `tensor` names the golden.
static void expect_doubled(Golden *g, const char *tensor, const float *got, int64_t numel, double rtol) {
    float *ref = load(g, tensor, numel);
    for (int64_t i = 0; i < numel; i++) ref[i] *= 2.0f; // exact
    char what[160];
    snprintf(what, sizeof what, "%s.%s after a second backward (must accumulate)", g->name, tensor);
    check_close(what, got, ref, numel, 0.0, rtol);
    free(ref);
}

// ---- linear ----

static void run_linear(const char *name) {
    Golden g;
    if (!golden_open(&g, name)) return;
    int64_t M = meta_i(&g, "M"), IC = meta_i(&g, "IC"), OC = meta_i(&g, "OC"), bias = meta_i(&g, "bias");
    if (M < 0 || IC < 0 || OC < 0 || bias < 0) { golden_close(&g); return; }
    float *x = load(&g, "x", M * IC), *w = load(&g, "w", OC * IC), *b = bias ? load(&g, "b", OC) : NULL;
    float *dout = load(&g, "dout", M * OC);
    float *y = alloc_nan(M * OC), *dx = alloc_nan(M * IC), *dw = alloc_floats(OC * IC);
    float *db = bias ? alloc_floats(OC) : NULL;
    linear_forward(y, x, w, b, M, IC, OC);
    expect(&g, "y", y, M * OC, 0, TOL_FWD);
    linear_backward(dx, dw, db, dout, x, w, M, IC, OC);
    expect(&g, "dx", dx, M * IC, 0, TOL_FWD);
    expect(&g, "dw", dw, OC * IC, 0, TOL_RED);
    if (bias) expect(&g, "db", db, OC, 0, TOL_RED);
    linear_backward(dx, dw, db, dout, x, w, M, IC, OC);
    expect(&g, "dx", dx, M * IC, 0, TOL_FWD);
    expect_doubled(&g, "dw", dw, OC * IC, TOL_RED);
    if (bias) expect_doubled(&g, "db", db, OC, TOL_RED);
    free(x); free(w); free(b); free(dout); free(y); free(dx); free(dw); free(db);
    golden_close(&g);
}

static void linear(void) { run_linear("linear"); }
static void linear_nobias(void) { run_linear("linear_nobias"); }

// ---- conv2d ----

static void run_conv2d(const char *name) {
    Golden g;
    if (!golden_open(&g, name)) return;
    Conv2dDims d = {
        .N = meta_i(&g, "N"), .IC = meta_i(&g, "IC"), .H = meta_i(&g, "H"), .W = meta_i(&g, "W"),
        .OC = meta_i(&g, "OC"), .KH = meta_i(&g, "KH"), .KW = meta_i(&g, "KW"), .stride = meta_i(&g, "stride"),
        .pad_top = meta_i(&g, "pad_top"), .pad_bottom = meta_i(&g, "pad_bottom"),
        .pad_left = meta_i(&g, "pad_left"), .pad_right = meta_i(&g, "pad_right")};
    if (test_current_failures) { golden_close(&g); return; }
    int64_t OH = conv2d_out_h(&d), OW = conv2d_out_w(&d);
    CHECK(OH == meta_i(&g, "OH") && OW == meta_i(&g, "OW"));
    if (test_current_failures) { golden_close(&g); return; }
    int64_t nx = d.N * d.IC * d.H * d.W, nw = d.OC * d.IC * d.KH * d.KW, ny = d.N * d.OC * OH * OW;
    float *x = load(&g, "x", nx), *w = load(&g, "w", nw), *b = load(&g, "b", d.OC), *dout = load(&g, "dout", ny);
    float *y = alloc_nan(ny), *dx = alloc_nan(nx), *dw = alloc_floats(nw), *db = alloc_floats(d.OC);
    size_t nwork = conv2d_work_floats(&d);
    float *work = alloc_nan((int64_t)nwork + 1);
    conv2d_forward(y, x, w, b, &d, work);
    expect(&g, "y", y, ny, 0, TOL_FWD);
    conv2d_backward(dx, dw, db, dout, x, w, &d, work);
    expect(&g, "dx", dx, nx, 0, TOL_FWD);
    expect(&g, "dw", dw, nw, 0, TOL_RED);
    expect(&g, "db", db, d.OC, 0, TOL_RED);
    for (size_t i = 0; i < nwork; i++) work[i] = NAN;
    conv2d_backward(dx, dw, db, dout, x, w, &d, work);
    expect(&g, "dx", dx, nx, 0, TOL_FWD);
    expect_doubled(&g, "dw", dw, nw, TOL_RED);
    expect_doubled(&g, "db", db, d.OC, TOL_RED);
    free(x); free(w); free(b); free(dout); free(y); free(dx); free(dw); free(db); free(work);
    golden_close(&g);
}

static void conv2d_1x1(void) { run_conv2d("conv2d_1x1"); }
static void conv2d_3x3_s1_p1(void) { run_conv2d("conv2d_3x3_s1_p1"); }
static void conv2d_3x3_s2_p1(void) { run_conv2d("conv2d_3x3_s2_p1"); }
static void conv2d_vae_down(void) { run_conv2d("conv2d_vae_down"); }

// ---- GroupNorm (plain and fused with SiLU) and LayerNorm ----

static void run_groupnorm(const char *name, int fused_silu) {
    Golden g;
    if (!golden_open(&g, name)) return;
    int64_t N = meta_i(&g, "N"), C = meta_i(&g, "C"), HW = meta_i(&g, "HW"), G = meta_i(&g, "G");
    int64_t affine = meta_i(&g, "affine");
    float eps = (float)meta_f(&g, "eps");
    if (test_current_failures) { golden_close(&g); return; }
    int64_t n = N * C * HW;
    float *x = load(&g, "x", n), *dout = load(&g, "dout", n);
    float *gamma = affine ? load(&g, "gamma", C) : NULL, *beta = affine ? load(&g, "beta", C) : NULL;
    float *y = alloc_nan(n), *mean = alloc_nan(N * G), *rstd = alloc_nan(N * G), *dx = alloc_nan(n);
    float *dgamma = affine ? alloc_floats(C) : NULL, *dbeta = affine ? alloc_floats(C) : NULL;
    if (fused_silu) groupnorm_silu_forward(y, mean, rstd, x, gamma, beta, N, C, HW, G, eps);
    else groupnorm_forward(y, mean, rstd, x, gamma, beta, N, C, HW, G, eps);
    expect(&g, "y", y, n, 0, TOL_FWD);
    expect(&g, "mean", mean, N * G, 0, TOL_STAT);
    expect(&g, "rstd", rstd, N * G, 0, TOL_STAT);
    for (int pass = 0; pass < 2; pass++) {
        if (fused_silu) groupnorm_silu_backward(dx, dgamma, dbeta, dout, x, gamma, beta, mean, rstd, N, C, HW, G);
        else groupnorm_backward(dx, dgamma, dbeta, dout, x, gamma, mean, rstd, N, C, HW, G);
        expect(&g, "dx", dx, n, 0, TOL_FWD);
        if (!affine) continue;
        if (pass == 0) {
            expect(&g, "dgamma", dgamma, C, 0, TOL_RED);
            expect(&g, "dbeta", dbeta, C, 0, TOL_RED);
        } else {
            expect_doubled(&g, "dgamma", dgamma, C, TOL_RED);
            expect_doubled(&g, "dbeta", dbeta, C, TOL_RED);
        }
    }
    free(x); free(dout); free(gamma); free(beta); free(y); free(mean); free(rstd); free(dx);
    free(dgamma); free(dbeta);
    golden_close(&g);
}

static void groupnorm(void) { run_groupnorm("groupnorm", 0); }
static void groupnorm_noaffine(void) { run_groupnorm("groupnorm_noaffine", 0); }
static void groupnorm_silu(void) { run_groupnorm("groupnorm_silu", 1); }

static void layernorm(void) {
    Golden g;
    if (!golden_open(&g, "layernorm")) return;
    int64_t M = meta_i(&g, "M"), D = meta_i(&g, "D");
    float eps = (float)meta_f(&g, "eps");
    if (test_current_failures) { golden_close(&g); return; }
    float *x = load(&g, "x", M * D), *dout = load(&g, "dout", M * D);
    float *gamma = load(&g, "gamma", D), *beta = load(&g, "beta", D);
    float *y = alloc_nan(M * D), *mean = alloc_nan(M), *rstd = alloc_nan(M), *dx = alloc_nan(M * D);
    float *dgamma = alloc_floats(D), *dbeta = alloc_floats(D);
    layernorm_forward(y, mean, rstd, x, gamma, beta, M, D, eps);
    expect(&g, "y", y, M * D, 0, TOL_FWD);
    expect(&g, "mean", mean, M, 0, TOL_STAT);
    expect(&g, "rstd", rstd, M, 0, TOL_STAT);
    layernorm_backward(dx, dgamma, dbeta, dout, x, gamma, mean, rstd, M, D);
    expect(&g, "dx", dx, M * D, 0, TOL_FWD);
    expect(&g, "dgamma", dgamma, D, 0, TOL_RED);
    expect(&g, "dbeta", dbeta, D, 0, TOL_RED);
    layernorm_backward(dx, dgamma, dbeta, dout, x, gamma, mean, rstd, M, D);
    expect(&g, "dx", dx, M * D, 0, TOL_FWD);
    expect_doubled(&g, "dgamma", dgamma, D, TOL_RED);
    expect_doubled(&g, "dbeta", dbeta, D, TOL_RED);
    free(x); free(dout); free(gamma); free(beta); free(y); free(mean); free(rstd); free(dx);
    free(dgamma); free(dbeta);
    golden_close(&g);
}

// ---- activations, GEGLU, softmax ----

typedef enum { ACT_SILU, ACT_GELU_ERF, ACT_GELU_TANH, ACT_QUICK_GELU } ActKind;

static void run_activation(const char *name, ActKind kind) {
    Golden g;
    if (!golden_open(&g, name)) return;
    int64_t n = meta_i(&g, "n");
    if (n < 0) { golden_close(&g); return; }
    float *x = load(&g, "x", n), *dout = load(&g, "dout", n), *y = alloc_nan(n), *dx = alloc_nan(n);
    switch (kind) {
    case ACT_SILU: silu_forward(y, x, n); silu_backward(dx, dout, x, n); break;
    case ACT_GELU_ERF: gelu_forward(y, x, n, GELU_ERF); gelu_backward(dx, dout, x, n, GELU_ERF); break;
    case ACT_GELU_TANH: gelu_forward(y, x, n, GELU_TANH); gelu_backward(dx, dout, x, n, GELU_TANH); break;
    case ACT_QUICK_GELU: quick_gelu_forward(y, x, n); quick_gelu_backward(dx, dout, x, n); break;
    }
    expect(&g, "y", y, n, 0, TOL_ELEM);
    expect(&g, "dx", dx, n, 0, TOL_ELEM);
    // activation.h allows in place (out == inp, dinp == dout): same bits as out of place.
    float *buf = alloc_floats(n);
    memcpy(buf, x, (size_t)n * sizeof(float));
    switch (kind) {
    case ACT_SILU: silu_forward(buf, buf, n); break;
    case ACT_GELU_ERF: gelu_forward(buf, buf, n, GELU_ERF); break;
    case ACT_GELU_TANH: gelu_forward(buf, buf, n, GELU_TANH); break;
    case ACT_QUICK_GELU: quick_gelu_forward(buf, buf, n); break;
    }
    CHECKF(memcmp(buf, y, (size_t)n * sizeof(float)) == 0, "%s: in-place forward differs", name);
    memcpy(buf, dout, (size_t)n * sizeof(float));
    switch (kind) {
    case ACT_SILU: silu_backward(buf, buf, x, n); break;
    case ACT_GELU_ERF: gelu_backward(buf, buf, x, n, GELU_ERF); break;
    case ACT_GELU_TANH: gelu_backward(buf, buf, x, n, GELU_TANH); break;
    case ACT_QUICK_GELU: quick_gelu_backward(buf, buf, x, n); break;
    }
    CHECKF(memcmp(buf, dx, (size_t)n * sizeof(float)) == 0, "%s: in-place backward differs", name);
    free(buf); free(x); free(dout); free(y); free(dx);
    golden_close(&g);
}

static void silu(void) { run_activation("silu", ACT_SILU); }
static void gelu_erf(void) { run_activation("gelu_erf", ACT_GELU_ERF); }
static void gelu_tanh(void) { run_activation("gelu_tanh", ACT_GELU_TANH); }
static void quick_gelu(void) { run_activation("quick_gelu", ACT_QUICK_GELU); }

static void geglu(void) {
    Golden g;
    if (!golden_open(&g, "geglu")) return;
    int64_t M = meta_i(&g, "M"), D = meta_i(&g, "D");
    if (test_current_failures) { golden_close(&g); return; }
    float *x = load(&g, "x", M * 2 * D), *dout = load(&g, "dout", M * D);
    float *y = alloc_nan(M * D), *dx = alloc_nan(M * 2 * D);
    geglu_forward(y, x, M, D);
    geglu_backward(dx, dout, x, M, D);
    expect(&g, "y", y, M * D, 0, TOL_ELEM);
    expect(&g, "dx", dx, M * 2 * D, 0, TOL_ELEM);
    free(x); free(dout); free(y); free(dx);
    golden_close(&g);
}

static void softmax(void) {
    Golden g;
    if (!golden_open(&g, "softmax")) return;
    int64_t M = meta_i(&g, "M"), D = meta_i(&g, "D");
    if (test_current_failures) { golden_close(&g); return; }
    float *x = load(&g, "x", M * D), *dout = load(&g, "dout", M * D), *y = alloc_nan(M * D), *dx = alloc_nan(M * D);
    softmax_forward(y, x, M, D);
    softmax_backward(dx, dout, y, M, D);
    expect(&g, "y", y, M * D, 0, TOL_FWD);
    expect(&g, "dx", dx, M * D, 0, TOL_FWD);
    free(x); free(dout); free(y); free(dx);
    golden_close(&g);
}

// ---- attention ----

static void run_attention(const char *name) {
    Golden g;
    if (!golden_open(&g, name)) return;
    AttnDims d = {.B = meta_i(&g, "B"), .Tq = meta_i(&g, "Tq"), .Tk = meta_i(&g, "Tk"),
                  .NH = meta_i(&g, "NH"), .HD = meta_i(&g, "HD"), .causal = (int)meta_i(&g, "causal")};
    if (test_current_failures) { golden_close(&g); return; }
    int64_t C = d.NH * d.HD, nq = d.B * d.Tq * C, nk = d.B * d.Tk * C, nl = d.B * d.NH * d.Tq;
    float *q = load(&g, "q", nq), *k = load(&g, "k", nk), *v = load(&g, "v", nk), *dout = load(&g, "dout", nq);
    float *y = alloc_nan(nq), *lse = alloc_nan(nl), *dq = alloc_nan(nq), *dk = alloc_nan(nk), *dv = alloc_nan(nk);
    size_t nwork = attention_work_floats(&d);
    float *work = alloc_nan((int64_t)nwork + 1);
    attention_forward(y, lse, q, k, v, &d, work);
    expect(&g, "y", y, nq, 0, TOL_FWD);
    expect(&g, "lse", lse, nl, 0, TOL_STAT);
    for (size_t i = 0; i < nwork; i++) work[i] = NAN;
    attention_backward(dq, dk, dv, dout, q, k, v, y, lse, &d, work);
    expect(&g, "dq", dq, nq, 0, TOL_FWD);
    expect(&g, "dk", dk, nk, 0, TOL_RED);
    expect(&g, "dv", dv, nk, 0, TOL_RED);
    attention_backward(dq, dk, dv, dout, q, k, v, y, lse, &d, work); // all input grads: =
    expect(&g, "dq", dq, nq, 0, TOL_FWD);
    expect(&g, "dk", dk, nk, 0, TOL_RED);
    expect(&g, "dv", dv, nk, 0, TOL_RED);
    free(q); free(k); free(v); free(dout); free(y); free(lse); free(dq); free(dk); free(dv); free(work);
    golden_close(&g);
}

static void attention_self(void) { run_attention("attention_self"); }
static void attention_cross(void) { run_attention("attention_cross"); }
static void attention_causal(void) { run_attention("attention_causal"); }
static void attention_causal_rect(void) { run_attention("attention_causal_rect"); }

// ---- data movement ----

static void upsample_nearest2x(void) {
    Golden g;
    if (!golden_open(&g, "upsample_nearest2x")) return;
    int64_t NC = meta_i(&g, "NC"), H = meta_i(&g, "H"), W = meta_i(&g, "W");
    if (test_current_failures) { golden_close(&g); return; }
    int64_t n = NC * H * W;
    float *x = load(&g, "x", n), *dout = load(&g, "dout", 4 * n), *y = alloc_nan(4 * n), *dx = alloc_nan(n);
    upsample_nearest2x_forward(y, x, NC, H, W);
    upsample_nearest2x_backward(dx, dout, NC, H, W);
    expect(&g, "y", y, 4 * n, 0, TOL_COPY);
    expect(&g, "dx", dx, n, 0, TOL_ELEM); // a sum of 4: summation order may differ by an ulp
    free(x); free(dout); free(y); free(dx);
    golden_close(&g);
}

static void concat_channels(void) {
    Golden g;
    if (!golden_open(&g, "concat_channels")) return;
    int64_t N = meta_i(&g, "N"), C1 = meta_i(&g, "C1"), C2 = meta_i(&g, "C2"), HW = meta_i(&g, "HW");
    if (test_current_failures) { golden_close(&g); return; }
    int64_t n1 = N * C1 * HW, n2 = N * C2 * HW;
    float *x1 = load(&g, "x1", n1), *x2 = load(&g, "x2", n2), *dout = load(&g, "dout", n1 + n2);
    float *y = alloc_nan(n1 + n2), *dx1 = alloc_nan(n1), *dx2 = alloc_nan(n2);
    concat_channels_forward(y, x1, x2, N, C1, C2, HW);
    concat_channels_backward(dx1, dx2, dout, N, C1, C2, HW);
    expect(&g, "y", y, n1 + n2, 0, TOL_COPY);
    expect(&g, "dx1", dx1, n1, 0, TOL_COPY);
    expect(&g, "dx2", dx2, n2, 0, TOL_COPY);
    free(x1); free(x2); free(dout); free(y); free(dx1); free(dx2);
    golden_close(&g);
}

static void add_channel_bias(void) {
    Golden g;
    if (!golden_open(&g, "add_channel_bias")) return;
    int64_t N = meta_i(&g, "N"), C = meta_i(&g, "C"), HW = meta_i(&g, "HW");
    if (test_current_failures) { golden_close(&g); return; }
    float *x = load(&g, "x", N * C * HW), *b = load(&g, "b", N * C), *dout = load(&g, "dout", N * C * HW);
    float *db = alloc_floats(N * C);
    add_channel_bias_forward(x, b, N, C, HW); // in place: x becomes y
    expect(&g, "y", x, N * C * HW, 0, TOL_COPY); // one float add, as torch does it: exact
    add_channel_bias_backward(db, dout, N, C, HW);
    expect(&g, "db", db, N * C, 0, TOL_RED);
    add_channel_bias_backward(db, dout, N, C, HW);
    expect_doubled(&g, "db", db, N * C, TOL_RED);
    free(x); free(b); free(dout); free(db);
    golden_close(&g);
}

static void transpose_nchw_nhwc(void) {
    Golden g;
    if (!golden_open(&g, "transpose_nchw_nhwc")) return;
    int64_t N = meta_i(&g, "N"), C = meta_i(&g, "C"), HW = meta_i(&g, "HW");
    if (test_current_failures) { golden_close(&g); return; }
    int64_t n = N * C * HW;
    float *x = load(&g, "x", n), *y = alloc_nan(n), *back = alloc_nan(n);
    transpose_nchw_to_nhwc(y, x, N, C, HW);
    expect(&g, "y", y, n, 0, TOL_COPY);
    float *yref = load(&g, "y", n);
    transpose_nhwc_to_nchw(back, yref, N, C, HW);
    expect(&g, "x", back, n, 0, TOL_COPY);
    free(x); free(y); free(back); free(yref);
    golden_close(&g);
}

// ---- timestep embedding ----

static void run_temb(const char *name) {
    Golden g;
    if (!golden_open(&g, name)) return;
    int64_t N = meta_i(&g, "N"), dim = meta_i(&g, "dim"), flip = meta_i(&g, "flip_sin_to_cos");
    double shift = meta_f(&g, "downscale_freq_shift"), max_period = meta_f(&g, "max_period");
    if (test_current_failures) { golden_close(&g); return; }
    float *t = load(&g, "t", N), *y = alloc_nan(N * dim);
    timestep_embedding(y, t, N, dim, (int)flip, (float)shift, (float)max_period);
    // The argument t·freq is rounded to float32 (diffusers computes in float32 too), which
    // moves sin/cos by up to |t|·2^-24 per rounding; allow 3 roundings plus the sin/cos ulp.
    double tmax = max_abs(t, N);
    expect(&g, "y", y, N * dim, 3.0 * tmax * 0x1p-24 + 1e-6, 0);
    free(t); free(y);
    golden_close(&g);
}

static void temb_flip1_shift0_d320(void) { run_temb("temb_flip1_shift0_d320"); }
static void temb_flip0_shift1_d33(void) { run_temb("temb_flip0_shift1_d33"); }
static void temb_flip1_shift1_d31(void) { run_temb("temb_flip1_shift1_d31"); }
static void temb_flip0_shift0_d64(void) { run_temb("temb_flip0_shift0_d64"); }

// ---- loss ----

static void run_mse(const char *name) {
    Golden g;
    if (!golden_open(&g, name)) return;
    int64_t N = meta_i(&g, "N"), D = meta_i(&g, "D"), weighted = meta_i(&g, "weighted");
    float dloss = (float)meta_f(&g, "dloss");
    if (test_current_failures) { golden_close(&g); return; }
    float *pred = load(&g, "pred", N * D), *target = load(&g, "target", N * D);
    float *w = weighted ? load(&g, "weights", N) : NULL;
    float *per_sample = alloc_nan(N), *dpred = alloc_nan(N * D), loss;
    loss = (float)mse_loss_forward(per_sample, pred, target, w, N, D);
    expect(&g, "loss", &loss, 1, 0, TOL_STAT);
    expect(&g, "per_sample", per_sample, N, 0, TOL_STAT);
    mse_loss_backward(dpred, pred, target, w, N, D, dloss);
    expect(&g, "dpred", dpred, N * D, 0, TOL_ELEM);
    free(pred); free(target); free(w); free(per_sample); free(dpred);
    golden_close(&g);
}

static void mse_loss_weighted(void) { run_mse("mse_loss_weighted"); }
static void mse_loss_unweighted(void) { run_mse("mse_loss_unweighted"); }

int main(void) {
    RUN(linear);
    RUN(linear_nobias);
    RUN(conv2d_1x1);
    RUN(conv2d_3x3_s1_p1);
    RUN(conv2d_3x3_s2_p1);
    RUN(conv2d_vae_down);
    RUN(groupnorm);
    RUN(groupnorm_noaffine);
    RUN(groupnorm_silu);
    RUN(layernorm);
    RUN(silu);
    RUN(gelu_erf);
    RUN(gelu_tanh);
    RUN(quick_gelu);
    RUN(geglu);
    RUN(softmax);
    RUN(attention_self);
    RUN(attention_cross);
    RUN(attention_causal);
    RUN(attention_causal_rect);
    RUN(upsample_nearest2x);
    RUN(concat_channels);
    RUN(add_channel_bias);
    RUN(transpose_nchw_nhwc);
    RUN(temb_flip1_shift0_d320);
    RUN(temb_flip0_shift1_d33);
    RUN(temb_flip1_shift1_d31);
    RUN(temb_flip0_shift0_d64);
    RUN(mse_loss_weighted);
    RUN(mse_loss_unweighted);
    return test_finish();
}
