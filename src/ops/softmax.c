// softmax.c — row softmax forward/backward: one thread per block of rows, SIMD inside a row
// through act_expf (activation.h); the *_naive references evaluate each row in double.
#include "ops/softmax.h"
#include "base/profile.h"
#include "ops/activation.h"
#include <math.h>

// Below this many elements the fork/join of a parallel region costs more than it saves.
#define SOFTMAX_PAR_MIN 16384

// max_j x[j] over a row; NaN entries are skipped (they make the row NaN later anyway).
// GCC vectorises the ?: form as an OpenMP max reduction but calls libm for fmaxf; clang
// vectorises fmaxf but not the ?: reduction (and warns that it could not).
static inline float row_max(const float *x, int64_t D) {
    float mx = -INFINITY;
#if defined(__clang__)
    for (int64_t j = 0; j < D; j++) mx = fmaxf(mx, x[j]);
#else
    #pragma omp simd reduction(max:mx)
    for (int64_t j = 0; j < D; j++) mx = x[j] > mx ? x[j] : mx;
#endif
    return mx;
}

void softmax_forward(float *out, const float *inp, int64_t M, int64_t D) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    #pragma omp parallel for schedule(static) if (M * D >= SOFTMAX_PAR_MIN)
    for (int64_t m = 0; m < M; m++) {
        const float *x = inp + m * D; // (D)
        float *y = out + m * D;       // (D)
        float mx = row_max(x, D);
        // A NaN never wins the max, but exp(NaN - mx) makes the sum, hence the row, NaN.
        #pragma omp simd
        for (int64_t j = 0; j < D; j++) y[j] = act_expf(x[j] - mx);
        // Summed in a separate pass: fused into the loop above, the double accumulator kept
        // GCC from vectorising act_expf (20x slower); the row is still in L1/L2 here.
        double sum = 0.0;
        #pragma omp simd reduction(+:sum)
        for (int64_t j = 0; j < D; j++) sum += y[j];
        float inv = (float)(1.0 / sum);
        #pragma omp simd
        for (int64_t j = 0; j < D; j++) y[j] *= inv;
    }
}

void softmax_backward(float *dinp, const float *dout, const float *out, int64_t M, int64_t D) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    #pragma omp parallel for schedule(static) if (M * D >= SOFTMAX_PAR_MIN)
    for (int64_t m = 0; m < M; m++) {
        const float *g = dout + m * D, *y = out + m * D; // (D), (D)
        float *dx = dinp + m * D;
        double dot = 0.0;
        #pragma omp simd reduction(+:dot)
        for (int64_t j = 0; j < D; j++) dot += (double)g[j] * y[j];
        float fdot = (float)dot;
        #pragma omp simd
        for (int64_t j = 0; j < D; j++) dx[j] = y[j] * (g[j] - fdot);
    }
}

void softmax_forward_naive(float *out, const float *inp, int64_t M, int64_t D) {
    for (int64_t m = 0; m < M; m++) {
        const float *x = inp + m * D;
        double mx = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j < D; j++) if (x[j] > mx) mx = x[j];
        for (int64_t j = 0; j < D; j++) sum += exp((double)x[j] - mx);
        for (int64_t j = 0; j < D; j++) out[m * D + j] = (float)(exp((double)x[j] - mx) / sum);
    }
}

void softmax_backward_naive(float *dinp, const float *dout, const float *out, int64_t M, int64_t D) {
    for (int64_t m = 0; m < M; m++) {
        double dot = 0.0;
        for (int64_t j = 0; j < D; j++) dot += (double)dout[m * D + j] * out[m * D + j];
        for (int64_t j = 0; j < D; j++)
            dinp[m * D + j] = (float)((double)out[m * D + j] * ((double)dout[m * D + j] - dot));
    }
}
