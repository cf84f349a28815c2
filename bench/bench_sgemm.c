// bench_sgemm.c — the sgemm ceiling of this machine: GFLOP/s of the BLAS behind gemm() on
// square and SD-shaped products. Every other benchmark reports its speed as a fraction of
// this number, so it runs first in `make bench`.
#include "base/clock.h"
#include "base/mem.h"
#include "ops/gemm.h"
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *what;
    int64_t M, N, K;
    bool ta, tb;
} Shape;

static double time_gemm(const Shape *s, float *A, float *B, float *C, int reps) {
    int64_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    gemm(s->ta, s->tb, s->M, s->N, s->K, 1, A, lda, B, ldb, 0, C, s->N); // warm-up
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = time_now();
        gemm(s->ta, s->tb, s->M, s->N, s->K, 1, A, lda, B, ldb, 0, C, s->N);
        t = time_now() - t;
        if (t < best) best = t;
    }
    return best;
}

int main(void) {
    static const Shape shapes[] = {
        {"square 1024", 1024, 1024, 1024, false, false},
        {"square 2048 (ceiling)", 2048, 2048, 2048, false, false},
        {"linear 4096x320 <- 320", 4096, 320, 320, false, true},
        {"linear 4096x1280 <- 320 (GEGLU proj)", 4096, 2560, 320, false, true},
        {"conv3x3 320ch 64x64 (im2col)", 320, 4096, 2880, false, false},
        {"conv3x3 dW (dout @ col^T)", 320, 2880, 4096, false, true},
        {"attention QK^T tile 256x4096 HD40", 256, 4096, 40, false, true},
        {"attention PV tile 256x40 <- 4096", 256, 40, 4096, false, false},
    };
    size_t max_floats = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const Shape *s = &shapes[i];
        size_t a = (size_t)(s->M * s->K), b = (size_t)(s->K * s->N), c = (size_t)(s->M * s->N);
        if (a > max_floats) max_floats = a;
        if (b > max_floats) max_floats = b;
        if (c > max_floats) max_floats = c;
    }
    float *A = mem_calloc(MEM_SCRATCH, max_floats * 4), *B = mem_calloc(MEM_SCRATCH, max_floats * 4),
          *C = mem_calloc(MEM_SCRATCH, max_floats * 4);
    for (size_t i = 0; i < max_floats; i++) A[i] = (float)(i % 7) * 0.1f, B[i] = (float)(i % 5) * 0.1f;
    printf("# sgemm ceiling — BLAS: %s, %d threads\n", gemm_backend_name(), sdl_get_threads());
    printf("%-40s %8s %10s\n", "shape (M x N <- K)", "ms", "GFLOP/s");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const Shape *s = &shapes[i];
        double t = time_gemm(s, A, B, C, 5);
        printf("%-40s %8.2f %10.1f\n", s->what, t * 1e3, 2.0 * s->M * s->N * s->K / t * 1e-9);
    }
    mem_free(A), mem_free(B), mem_free(C);
    return 0;
}
