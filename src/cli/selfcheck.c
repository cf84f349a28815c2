// selfcheck.c — `sdlora selfcheck`: proves on the user's own machine that the numeric engine
// is sound before hours go into training: every fast kernel against its naive reference on
// small random inputs, a safetensors round trip through a temporary file, fp16/bf16
// conversion, and the achieved sgemm speed. Exit status 0 only if every check passes.
#include "cli/cli.h"
#include "base/error.h"
#include "base/half.h"
#include "base/mem.h"
#include "base/rng.h"
#include "io/safetensors.h"
#include "ops/ops.h"
#include <math.h>
#include "base/clock.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    Rng rng;
    int failures;
} Check;

static float *randn(Check *c, int64_t n) {
    float *p = mem_alloc(MEM_SCRATCH, (size_t)n * sizeof(float));
    rng_randn_fill(&c->rng, p, (size_t)n);
    return p;
}

static float *zeros(int64_t n) { return mem_calloc(MEM_SCRATCH, (size_t)n * sizeof(float)); }

// Relative max error of got vs ref, scaled by the reference's magnitude.
static double rel_err(const float *got, const float *ref, int64_t n) {
    double d = 0, m = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= d)) d = e;
        if (fabs(ref[i]) > m) m = fabs(ref[i]);
    }
    return d / m;
}

static void report(Check *c, const char *what, double err, double tol) {
    int ok = err <= tol; // NaN fails
    if (!ok) c->failures++;
    printf("  %-34s max rel err %8.1e  (tol %.0e)  %s\n", what, err, tol, ok ? "ok" : "FAILED");
}

static void check_gemm(Check *c) {
    int64_t M = 37, N = 29, K = 53;
    float *A = randn(c, M * K), *B = randn(c, K * N), *C1 = zeros(M * N), *C2 = zeros(M * N);
    gemm(false, true, M, N, K, 1.0f, A, K, B, K, 0.0f, C1, N);
    gemm_naive(false, true, M, N, K, 1.0f, A, K, B, K, 0.0f, C2, N);
    report(c, "gemm (BLAS) vs naive", rel_err(C1, C2, M * N), 1e-5);
    mem_free(A), mem_free(B), mem_free(C1), mem_free(C2);
}

static void check_conv(Check *c, int64_t k, int64_t stride, const char *what) {
    Conv2dDims d = conv2d_dims(2, 5, 11, 9, 7, k, stride, k / 2);
    int64_t OH = conv2d_out_h(&d), OW = conv2d_out_w(&d), nin = d.N * d.IC * d.H * d.W, nout = d.N * d.OC * OH * OW;
    int64_t nw = d.OC * d.IC * k * k;
    float *x = randn(c, nin), *w = randn(c, nw), *b = randn(c, d.OC), *dout = randn(c, nout);
    float *y1 = zeros(nout), *y2 = zeros(nout), *dx1 = zeros(nin), *dx2 = zeros(nin), *dw1 = zeros(nw), *dw2 = zeros(nw);
    float *work = zeros((int64_t)conv2d_work_floats(&d) + 1);
    conv2d_forward(y1, x, w, b, &d, work);
    conv2d_forward_naive(y2, x, w, b, &d);
    conv2d_backward(dx1, dw1, NULL, dout, x, w, &d, work);
    conv2d_backward_naive(dx2, dw2, NULL, dout, x, w, &d);
    double e = fmax(rel_err(y1, y2, nout), fmax(rel_err(dx1, dx2, nin), rel_err(dw1, dw2, nw)));
    report(c, what, e, 1e-5);
    mem_free(x), mem_free(w), mem_free(b), mem_free(dout), mem_free(y1), mem_free(y2);
    mem_free(dx1), mem_free(dx2), mem_free(dw1), mem_free(dw2), mem_free(work);
}

static void check_attention(Check *c, int causal, const char *what) {
    AttnDims d = {.B = 2, .Tq = 70, .Tk = causal ? 70 : 45, .NH = 3, .HD = 16, .causal = causal};
    int64_t nq = d.B * d.Tq * d.NH * d.HD, nk = d.B * d.Tk * d.NH * d.HD, nl = d.B * d.NH * d.Tq;
    float *q = randn(c, nq), *k = randn(c, nk), *v = randn(c, nk), *dout = randn(c, nq);
    float *o1 = zeros(nq), *o2 = zeros(nq), *l1 = zeros(nl), *l2 = zeros(nl);
    float *dq1 = zeros(nq), *dq2 = zeros(nq), *dk1 = zeros(nk), *dk2 = zeros(nk), *dv1 = zeros(nk), *dv2 = zeros(nk);
    float *work = zeros((int64_t)attention_work_floats(&d) + 1);
    attention_forward(o1, l1, q, k, v, &d, work);
    attention_forward_naive(o2, l2, q, k, v, &d);
    attention_backward(dq1, dk1, dv1, dout, q, k, v, o1, l1, &d, work);
    attention_backward_naive(dq2, dk2, dv2, dout, q, k, v, &d);
    double e = fmax(fmax(rel_err(o1, o2, nq), rel_err(l1, l2, nl)),
                    fmax(rel_err(dq1, dq2, nq), fmax(rel_err(dk1, dk2, nk), rel_err(dv1, dv2, nk))));
    report(c, what, e, 1e-4);
    float *bufs[] = {q, k, v, dout, o1, o2, l1, l2, dq1, dq2, dk1, dk2, dv1, dv2, work};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mem_free(bufs[i]);
}

static void check_groupnorm(Check *c) {
    int64_t N = 2, C = 64, HW = 50, G = 32, n = N * C * HW;
    float *x = randn(c, n), *g = randn(c, C), *b = randn(c, C), *dout = randn(c, n);
    float *y1 = zeros(n), *y2 = zeros(n), *m1 = zeros(N * G), *r1 = zeros(N * G), *m2 = zeros(N * G), *r2 = zeros(N * G);
    float *dx1 = zeros(n), *dx2 = zeros(n), *dg1 = zeros(C), *dg2 = zeros(C);
    groupnorm_forward(y1, m1, r1, x, g, b, N, C, HW, G, 1e-5f);
    groupnorm_forward_naive(y2, m2, r2, x, g, b, N, C, HW, G, 1e-5f);
    groupnorm_backward(dx1, dg1, NULL, dout, x, g, m1, r1, N, C, HW, G);
    groupnorm_backward_naive(dx2, dg2, NULL, dout, x, g, m2, r2, N, C, HW, G);
    double e = fmax(rel_err(y1, y2, n), fmax(rel_err(dx1, dx2, n), rel_err(dg1, dg2, C)));
    report(c, "groupnorm fwd+bwd vs naive", e, 1e-5);
    float *bufs[] = {x, g, b, dout, y1, y2, m1, r1, m2, r2, dx1, dx2, dg1, dg2};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mem_free(bufs[i]);
}

static void check_safetensors(Check *c) {
    char dir[] = "/tmp/sdlora-selfcheck-XXXXXX", path[64];
    if (!mkdtemp(dir)) { report(c, "safetensors round trip (no /tmp)", INFINITY, 0); return; }
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
    float *x = randn(c, 24), *y = zeros(24);
    uint16_t h[24];
    fp32_to_fp16_array(h, x, 24);
    int64_t shape[2] = {4, 6};
    StWriter *w = st_writer_new();
    st_writer_add_f32(w, "x", 2, shape, x);
    st_writer_add(w, "h", ST_F16, 2, shape, h);
    st_writer_set_metadata(w, "ss_network_dim", "32");
    double err = INFINITY;
    SafeTensors st;
    if (st_writer_save(w, path) == SDL_OK && st_open(&st, path) == SDL_OK) {
        const StTensor *tx = st_find(&st, "x"), *th = st_find(&st, "h");
        const char *meta = st_metadata_get(&st, "ss_network_dim");
        if (tx && th && meta && strcmp(meta, "32") == 0 && st_tensor_to_f32(&st, tx, y) == SDL_OK) {
            err = rel_err(y, x, 24);
            if (st_tensor_to_f32(&st, th, y) == SDL_OK)
                for (int i = 0; i < 24; i++) err = fmax(err, y[i] == fp16_to_fp32(h[i]) ? 0 : INFINITY);
        }
        st_close(&st);
    }
    st_writer_free(w);
    unlink(path);
    rmdir(dir);
    report(c, "safetensors write/read (f32, f16)", err, 0);
    mem_free(x), mem_free(y);
}

static void measure_sgemm(void) {
    int64_t n = 1024;
    float *A = mem_calloc(MEM_SCRATCH, n * n * 4), *B = mem_calloc(MEM_SCRATCH, n * n * 4), *C = mem_calloc(MEM_SCRATCH, n * n * 4);
    gemm(false, false, n, n, n, 1, A, n, B, n, 0, C, n); // warm up threads and caches
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t = time_now();
        gemm(false, false, n, n, n, 1, A, n, B, n, 0, C, n);
        t = time_now() - t;
        if (t < best) best = t;
    }
    printf("  %-34s %.1f GFLOP/s\n", "sgemm 1024^3", 2.0 * n * n * n / best * 1e-9);
    mem_free(A), mem_free(B), mem_free(C);
}

int cmd_selfcheck(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: sdlora selfcheck\n\nChecks every fast kernel against its naive reference, a safetensors round trip\n"
                   "and fp16/bf16 conversion, and prints the sgemm speed. Exit status 0 if all pass.\n");
            return 0;
        }
        fprintf(stderr, "error: selfcheck: unknown option '%s'\n  hint: selfcheck takes no options\n", argv[i]);
        return 1;
    }
    Check c = {.failures = 0};
    rng_seed(&c.rng, 1234);
    printf("sdlora %s self-check\n  BLAS: %s, %d threads\n", SDLORA_VERSION, gemm_backend_name(), sdl_get_threads());
    check_gemm(&c);
    check_conv(&c, 3, 1, "conv2d 3x3 s1 fwd+bwd vs naive");
    check_conv(&c, 3, 2, "conv2d 3x3 s2 fwd+bwd vs naive");
    check_conv(&c, 1, 1, "conv2d 1x1 fwd+bwd vs naive");
    check_attention(&c, 0, "attention fwd+bwd vs naive");
    check_attention(&c, 1, "causal attention fwd+bwd vs naive");
    check_groupnorm(&c);
    check_safetensors(&c);
    {
        float v[4] = {1.0f / 3.0f, -65504.0f, 0x1p-24f, INFINITY};
        double e = 0;
        for (int i = 0; i < 4; i++) e = fmax(e, fabs(fp16_to_fp32(fp32_to_fp16(v[i])) - v[i]) / fmax(fabs(v[i]), 1e-30));
        e = isnan(e) ? INFINITY : (e > 1e-3 ? e : 0);
        report(&c, "fp16 round trip", e, 1e-3);
    }
    measure_sgemm();
    if (c.failures) {
        printf("self-check FAILED: %d check(s)\n", c.failures);
        fprintf(stderr, "error: the numeric engine gave wrong results on this machine\n"
                        "  hint: rebuild with `make clean && make OPT=-O2 ARCH=` and report the output above\n");
        return 1;
    }
    printf("self-check passed\n");
    return 0;
}
