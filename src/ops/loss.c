// loss.c — weighted MSE loss and its gradient (see loss.h for kohya's reduction).
// The forward is a reduction over N·D floats (16K per sample at 512 px): serial per sample
// in double, SIMD inside, so its value is the same with any number of threads.
#include "ops/loss.h"
#include "base/profile.h"

// Below this many elements a parallel region costs more than it saves.
#define LOSS_PAR_MIN 65536

double mse_loss_forward(float *per_sample, const float *pred, const float *target, const float *weights,
                        int64_t N, int64_t D) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    double total = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float *p = pred + n * D, *t = target + n * D; // (D), (D)
        double s = 0.0;
        #pragma omp simd reduction(+:s)
        for (int64_t i = 0; i < D; i++) {
            double d = (double)p[i] - (double)t[i];
            s += d * d;
        }
        double mean = D > 0 ? s / (double)D : 0.0;
        if (per_sample) per_sample[n] = (float)mean;
        total += (weights ? (double)weights[n] : 1.0) * mean;
    }
    return N > 0 ? total / (double)N : 0.0;
}

void mse_loss_backward(float *dpred, const float *pred, const float *target, const float *weights,
                       int64_t N, int64_t D, float dloss) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    #pragma omp parallel for schedule(static) if (N * D >= LOSS_PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        float k = (float)((double)dloss * (weights ? (double)weights[n] : 1.0) * 2.0 / ((double)N * (double)D));
        const float *p = pred + n * D, *t = target + n * D;
        float *g = dpred + n * D;
        #pragma omp simd
        for (int64_t i = 0; i < D; i++) g[i] = k * (p[i] - t[i]);
    }
}
