// linear.c — fully connected layer (torch.nn.Linear) forward/backward through gemm(),
// plus the naive triple-loop references the tests compare against. See linear.h.
#include "ops/linear.h"
#include "base/profile.h"
#include "ops/gemm.h"

// Columns per block in the bias-gradient reduction: each block's running sums (double)
// stay in registers and one thread owns the block, so db needs no atomics and the sum
// order is fixed (bit-reproducible for any thread count).
#define LINEAR_DB_BLOCK 64

void linear_forward(float *out, const float *inp, const float *w, const float *b,
                    int64_t M, int64_t IC, int64_t OC) {
    PROF_SCOPE(PROF_LINEAR);
    // out (M, OC), inp (M, IC), w (OC, IC), b (OC)
    if (b) {
        // Broadcast the bias into out first and let gemm add the product (beta = 1): one
        // write pass instead of a separate read-modify-write pass after the product.
        #pragma omp parallel for schedule(static)
        for (int64_t m = 0; m < M; m++) {
            float *o = out + m * OC;
            for (int64_t j = 0; j < OC; j++) o[j] = b[j];
        }
    }
    gemm(false, true, M, OC, IC, 1.0f, inp, IC, w, IC, b ? 1.0f : 0.0f, out, OC);
}

// db (OC) += column sums of dout (M, OC), accumulated in double.
static void linear_bias_grad(float *db, const float *dout, int64_t M, int64_t OC) {
    int64_t nblocks = (OC + LINEAR_DB_BLOCK - 1) / LINEAR_DB_BLOCK;
    #pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < nblocks; blk++) {
        int64_t j0 = blk * LINEAR_DB_BLOCK;
        int64_t nj = OC - j0 < LINEAR_DB_BLOCK ? OC - j0 : LINEAR_DB_BLOCK;
        double acc[LINEAR_DB_BLOCK] = {0};
        for (int64_t m = 0; m < M; m++) {
            const float *d = dout + m * OC + j0;
            for (int64_t j = 0; j < nj; j++) acc[j] += (double)d[j];
        }
        for (int64_t j = 0; j < nj; j++) db[j0 + j] += (float)acc[j];
    }
}

void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int64_t M, int64_t IC, int64_t OC) {
    PROF_SCOPE(PROF_LINEAR);
    // dinp (M, IC) = dout (M, OC) @ w (OC, IC)
    if (dinp) gemm(false, false, M, IC, OC, 1.0f, dout, OC, w, IC, 0.0f, dinp, IC);
    // dw (OC, IC) += dout^T (OC, M) @ inp (M, IC)
    if (dw) gemm(true, false, OC, IC, M, 1.0f, dout, OC, inp, IC, 1.0f, dw, IC);
    if (db) linear_bias_grad(db, dout, M, OC);
}

// ---- naive references: the definitions, summed in double ----

void linear_forward_naive(float *out, const float *inp, const float *w, const float *b,
                          int64_t M, int64_t IC, int64_t OC) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t o = 0; o < OC; o++) {
            double s = b ? (double)b[o] : 0.0;
            for (int64_t i = 0; i < IC; i++) s += (double)inp[m * IC + i] * w[o * IC + i];
            out[m * OC + o] = (float)s;
        }
}

void linear_backward_naive(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, int64_t M, int64_t IC, int64_t OC) {
    if (dinp)
        for (int64_t m = 0; m < M; m++)
            for (int64_t i = 0; i < IC; i++) {
                double s = 0;
                for (int64_t o = 0; o < OC; o++) s += (double)dout[m * OC + o] * w[o * IC + i];
                dinp[m * IC + i] = (float)s;
            }
    if (dw)
        for (int64_t o = 0; o < OC; o++)
            for (int64_t i = 0; i < IC; i++) {
                double s = 0;
                for (int64_t m = 0; m < M; m++) s += (double)dout[m * OC + o] * inp[m * IC + i];
                dw[o * IC + i] += (float)s;
            }
    if (db)
        for (int64_t o = 0; o < OC; o++) {
            double s = 0;
            for (int64_t m = 0; m < M; m++) s += dout[m * OC + o];
            db[o] += (float)s;
        }
}
