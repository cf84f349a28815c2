// gemm.c — row-major sgemm through CBLAS (OpenBLAS), plus the naive reference.
#include "ops/gemm.h"
#include "base/error.h"
#include <cblas.h>
#include <stdio.h>
#ifdef _OPENMP
#include <omp.h>
#endif

// openblas_set_num_threads, openblas_get_config, openblas_get_corename come from OpenBLAS's cblas.h.

static int n_threads = 0;

void sdl_set_threads(int n) {
    if (n < 1) n = 1;
    n_threads = n;
    openblas_set_num_threads(n);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

int sdl_get_threads(void) {
    if (n_threads > 0) return n_threads;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return openblas_get_num_threads();
#endif
}

const char *gemm_backend_name(void) {
    static char name[256];
    snprintf(name, sizeof name, "%s (core %s)", openblas_get_config(), openblas_get_corename());
    return name;
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    // CBLAS takes int dimensions; a single GEMM never approaches 2^31 rows or columns in SD.
    SDL_ASSERT(M < INT32_MAX && N < INT32_MAX && K < INT32_MAX && lda < INT32_MAX && ldb < INT32_MAX && ldc < INT32_MAX);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

void gemm_naive(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = trans_a ? A[k * lda + i] : A[i * lda + k];
                double b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
                s += a * b;
            }
            // beta == 0 must ignore C entirely (it may hold NaN), as BLAS does.
            C[i * ldc + j] = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * C[i * ldc + j]));
        }
}
