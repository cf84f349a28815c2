// gemm.h — the one door to BLAS. Row-major:
//   C (M, N) = alpha * op(A) @ op(B) + beta * C,  op(A) (M, K), op(B) (K, N)
// trans_a: A is stored (K, M) with leading dimension lda; likewise trans_b: B stored (N, K).
#pragma once
#include <stdbool.h>
#include <stdint.h>

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
// Triple loop with double accumulation; the reference the tests compare gemm against.
void gemm_naive(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
// Threads used by BLAS and OpenMP loops (sdl_set_threads sets both).
void sdl_set_threads(int n);
int sdl_get_threads(void);
// Name of the BLAS in use, e.g. "OpenBLAS 0.3.21 (OpenMP, Zen)".
const char *gemm_backend_name(void);
