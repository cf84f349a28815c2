// norm.c — GroupNorm (+ fused SiLU) and LayerNorm forward/backward, fast and naive. See norm.h.
//
// Fast kernels: forward reads the input twice (statistics, then normalise) and writes once;
// backward reads (dout, inp) twice (per-channel sums, then dinp) and writes once. Work is split
// over (n, g) groups / rows with OpenMP; parameter-gradient sums are owned by one thread each
// (GroupNorm: parallel over groups with the batch loop inside; LayerNorm: a column-blocked
// pass), so there are no races and results do not depend on the thread count.
// Reductions accumulate in double under `#pragma omp simd reduction`, which allows the compiler
// to split that one sum over vector lanes (what -ffast-math would allow everywhere, and what it
// may not do otherwise); the order is fixed for a given build. Without OpenMP they run scalar.
#include "ops/norm.h"
#include "base/profile.h"
#include "base/error.h"
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#define NORM_CHUNK 512  // floats per statistics chunk / SiLU-gradient block (2 KiB)
#define LN_COL_BLOCK 32 // columns per block in the LayerNorm dgamma/dbeta pass

// a*b + c: one fused instruction where the target has FMA (fmaf is then inlined and vectorises);
// elsewhere fmaf would be a libm call, so use the two-rounding form there.
#ifdef __FMA__
#define NORM_FMA(a, b, c) fmaf((a), (b), (c))
#else
#define NORM_FMA(a, b, c) ((a) * (b) + (c))
#endif

// ---- statistics ----

// Mean and biased variance of x[0..n), in double, in one pass over memory. Each NORM_CHUNK-float
// chunk accumulates S1 = sum (x - K) and S2 = sum (x - K)^2 about a shift K (the mean so far,
// or the chunk's first value for the first chunk), so chunk mean = K + S1/nb and
// M2 = S2 - S1^2/nb cancel only when K is far from the chunk's mean: in double that costs
// ~1e-16 (K - mean)^2 / var relative, nothing at any realistic scale. Chunks then merge with
// Chan et al.'s pairwise update (M2 = M2a + M2b + delta^2 na nb / n). No E[x^2] - E[x]^2
// cancellation for inputs with a large mean.
static void norm_stats(const float *x, int64_t n, double *mean_out, double *var_out) {
    double mean = 0, m2 = 0;
    int64_t cnt = 0;
    for (int64_t i0 = 0; i0 < n; i0 += NORM_CHUNK) {
        int64_t nb = n - i0 < NORM_CHUNK ? n - i0 : NORM_CHUNK;
        double k = cnt ? mean : (double)x[i0], s1 = 0, s2 = 0;
        #pragma omp simd reduction(+ : s1, s2)
        for (int64_t i = i0; i < i0 + nb; i++) {
            double d = (double)x[i] - k;
            s1 += d;
            s2 += d * d;
        }
        double inv_nb = 1.0 / (double)nb;
        double mb = k + s1 * inv_nb, m2b = fmax(s2 - s1 * s1 * inv_nb, 0.0);
        if (cnt == 0) { // first chunk (the only one for rows up to NORM_CHUNK): no merge
            mean = mb, m2 = m2b, cnt = nb;
            continue;
        }
        int64_t nn = cnt + nb;
        double delta = mb - mean, w = (double)nb / (double)nn;
        mean += delta * w;
        m2 += m2b + delta * delta * (double)cnt * w;
        cnt = nn;
    }
    *mean_out = mean;
    *var_out = n > 0 ? m2 / (double)n : 0.0;
}

// ---- SiLU pieces ----

// e^x for x <= 0 in float, written so loops around it vectorise (libm's expf is an opaque call
// without -ffast-math). Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, then the degree-7
// Taylor polynomial of e^r (truncation < 1e-8 relative), times 2^k applied as two factors
// 2^k1 2^k2 (k in [-150, 0]) so each is a normal float and results fall gracefully into the
// denormals. Max error ~2 ulp on normal results. x below -104 (e^x under the smallest
// denormal) gives 0 or the smallest denormal; a NaN x clamps too (callers multiply by the NaN).
static inline float exp_nonpos(float x) {
    x = x > -104.0f ? x : -104.0f;
    float k = rintf(x * 1.44269504088896341f);
    float r = NORM_FMA(-k, 0.693145751953125f, x);      // ln2 high part (15 bits): k * hi is exact
    r = NORM_FMA(-k, 1.42860682030941723e-6f, r);        // ln2 low part
    float p = 1.0f / 5040.0f;
    p = NORM_FMA(p, r, 1.0f / 720.0f);
    p = NORM_FMA(p, r, 1.0f / 120.0f);
    p = NORM_FMA(p, r, 1.0f / 24.0f);
    p = NORM_FMA(p, r, 1.0f / 6.0f);
    p = NORM_FMA(p, r, 0.5f);
    p = NORM_FMA(p, r, 1.0f);
    p = NORM_FMA(p, r, 1.0f);
    int32_t ki = (int32_t)k, k1 = ki / 2, k2 = ki - k1; // both in [-75, 0]
    union { int32_t i; float f; } s1 = {.i = (k1 + 127) * (1 << 23)}, s2 = {.i = (k2 + 127) * (1 << 23)};
    return (p * s1.f) * s2.f;
}

// 1 / (1 + e^-v), with the exponential only ever taken of -|v| (no overflow):
// v >= 0: 1 / (1 + t);  v < 0: t / (1 + t);  t = e^-|v|.
static inline float sigmoid_vec(float v) {
    float t = exp_nonpos(-fabsf(v));
    float q = 1.0f / (1.0f + t);
    return v >= 0.0f ? q : t * q;
}

// d silu(v) / dv = s (1 + v (1 - s)),  s = sigmoid(v)
static inline float silu_grad(float v) {
    float s = sigmoid_vec(v);
    return s * (1.0f + v * (1.0f - s));
}

// ---- GroupNorm, fast ----

// One (n, g) group: x, out (CG, HW) contiguous; channels c0 .. c0+CG-1 of gamma/beta.
static void gn_forward_group(float *out, float *mean_out, float *rstd_out, const float *x,
                             const float *gamma, const float *beta, int64_t CG, int64_t HW, int64_t c0,
                             float eps, bool silu) {
    double mu, var;
    norm_stats(x, CG * HW, &mu, &var);
    double r = 1.0 / sqrt(var + (double)eps);
    if (mean_out) *mean_out = (float)mu;
    if (rstd_out) *rstd_out = (float)r;
    float mf = (float)mu;
    for (int64_t c = 0; c < CG; c++) {
        double g = gamma ? (double)gamma[c0 + c] : 1.0, b = beta ? (double)beta[c0 + c] : 0.0;
        // (x - mu) r g + b = (x - mf) sc + sh, the rounding of mu to mf folded into sh
        float sc = (float)(r * g), sh = (float)(b - (mu - (double)mf) * r * g);
        const float *xc = x + c * HW; // (HW)
        float *oc = out + c * HW;
        if (silu)
            for (int64_t i = 0; i < HW; i++) {
                float v = (xc[i] - mf) * sc + sh;
                oc[i] = v * sigmoid_vec(v);
            }
        else
            for (int64_t i = 0; i < HW; i++) oc[i] = (xc[i] - mf) * sc + sh;
    }
}

static void gn_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                       const float *beta, int64_t N, int64_t C, int64_t HW, int64_t G, float eps, bool silu) {
    SDL_ASSERT(G > 0 && C % G == 0);
    int64_t CG = C / G, NG = N * G;
    #pragma omp parallel for schedule(static)
    for (int64_t ng = 0; ng < NG; ng++) {
        int64_t off = ng * CG * HW; // group (n, g) starts at channel n*C + g*CG
        gn_forward_group(out + off, mean ? mean + ng : NULL, rstd ? rstd + ng : NULL, inp + off,
                         gamma, beta, CG, HW, (ng % G) * CG, eps, silu);
    }
}

void groupnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                       const float *beta, int64_t N, int64_t C, int64_t HW, int64_t G, float eps) {
    PROF_SCOPE(PROF_NORM);
    gn_forward(out, mean, rstd, inp, gamma, beta, N, C, HW, G, eps, false);
}

void groupnorm_silu_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                            const float *beta, int64_t N, int64_t C, int64_t HW, int64_t G, float eps) {
    PROF_SCOPE(PROF_NORM);
    gn_forward(out, mean, rstd, inp, gamma, beta, N, C, HW, G, eps, true);
}

// *a += sum dy[i], *b += sum dy[i] (x[i] - mean), i < n.
static inline void acc_sums(double *a_io, double *b_io, const float *dy, const float *x, float mean, int64_t n) {
    double a = *a_io, b = *b_io;
    #pragma omp simd reduction(+ : a, b)
    for (int64_t i = 0; i < n; i++) {
        a += (double)dy[i];
        b += (double)dy[i] * (double)(x[i] - mean);
    }
    *a_io = a;
    *b_io = b;
}

// Sums over one channel: *a = sum dy, *b = sum dy (x - mean).
static void chan_sums(double *a_out, double *b_out, const float *dy, const float *x, float mean, int64_t n) {
    *a_out = *b_out = 0;
    acc_sums(a_out, b_out, dy, x, mean, n);
}

// As chan_sums with dy replaced by dv = dout * silu'(v), v = (x - mean) sc + sh recomputed.
// dv is stored to dv_out when it is non-NULL (backward's second pass reads it there), else to
// a block buffer on the stack; either way the sums then read it back from L1.
static void chan_sums_silu(float *dv_out, double *a_out, double *b_out, const float *dout, const float *x,
                           float mean, float sc, float sh, int64_t n) {
    float buf[NORM_CHUNK];
    *a_out = *b_out = 0;
    for (int64_t i0 = 0; i0 < n; i0 += NORM_CHUNK) {
        int64_t nb = n - i0 < NORM_CHUNK ? n - i0 : NORM_CHUNK;
        float *dv = dv_out ? dv_out + i0 : buf;
        const float *dy = dout + i0, *xb = x + i0;
        for (int64_t i = 0; i < nb; i++) dv[i] = dy[i] * silu_grad((xb[i] - mean) * sc + sh);
        acc_sums(a_out, b_out, dv, xb, mean, nb);
    }
}

// One (n, g) group. With xhat = (x - mean) rstd and dxhat = dy gamma:
//   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),
//   dgamma[c] += sum_hw dy xhat,  dbeta[c] += sum_hw dy.
// Pass 1 gathers the per-channel sums; pass 2 writes dx as a per-channel affine map of (dy, x).
static void gn_backward_group(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *x,
                              const float *gamma, const float *beta, float mean, float rstd,
                              int64_t CG, int64_t HW, int64_t c0, bool silu) {
    double s1 = 0, s2 = 0; // group sums of dxhat and dxhat (x - mean)
    for (int64_t c = 0; c < CG; c++) {
        double g = gamma ? (double)gamma[c0 + c] : 1.0, a, b;
        if (silu) {
            float sc = (float)(rstd * g), sh = beta ? beta[c0 + c] : 0.0f;
            chan_sums_silu(dinp ? dinp + c * HW : NULL, &a, &b, dout + c * HW, x + c * HW, mean, sc, sh, HW);
        } else {
            chan_sums(&a, &b, dout + c * HW, x + c * HW, mean, HW);
        }
        if (dbeta) dbeta[c0 + c] += (float)a;
        if (dgamma) dgamma[c0 + c] += (float)(b * rstd);
        s1 += g * a;
        s2 += g * b;
    }
    if (!dinp) return;
    double cnt = (double)(CG * HW), r = rstd;
    double m1 = s1 / cnt;     // mean(dxhat)
    double m2 = s2 * r / cnt; // mean(dxhat xhat)
    float k2 = (float)(-r * r * m2), k3 = (float)(-r * m1);
    for (int64_t c = 0; c < CG; c++) {
        float k1 = (float)(r * (gamma ? (double)gamma[c0 + c] : 1.0));
        const float *dy = silu ? dinp + c * HW : dout + c * HW; // silu: dv stored by pass 1
        const float *xc = x + c * HW;
        float *dx = dinp + c * HW;
        for (int64_t i = 0; i < HW; i++) dx[i] = k1 * dy[i] + k2 * (xc[i] - mean) + k3;
    }
}

static void gn_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                        const float *gamma, const float *beta, const float *mean, const float *rstd,
                        int64_t N, int64_t C, int64_t HW, int64_t G, bool silu) {
    SDL_ASSERT(G > 0 && C % G == 0);
    if (!dinp && !dgamma && !dbeta) return;
    int64_t CG = C / G;
    if (dgamma || dbeta) {
        // Each thread owns whole groups (hence channels) across the batch: no races on dgamma/dbeta.
        #pragma omp parallel for schedule(static)
        for (int64_t g = 0; g < G; g++)
            for (int64_t n = 0; n < N; n++) {
                int64_t ng = n * G + g, off = ng * CG * HW;
                gn_backward_group(dinp ? dinp + off : NULL, dgamma, dbeta, dout + off, inp + off, gamma, beta,
                                  mean[ng], rstd[ng], CG, HW, g * CG, silu);
            }
    } else {
        // Frozen norm (the LoRA case): only dinp, every (n, g) independent.
        #pragma omp parallel for schedule(static)
        for (int64_t ng = 0; ng < N * G; ng++) {
            int64_t off = ng * CG * HW;
            gn_backward_group(dinp + off, NULL, NULL, dout + off, inp + off, gamma, beta, mean[ng], rstd[ng],
                              CG, HW, (ng % G) * CG, silu);
        }
    }
}

void groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                        const float *gamma, const float *mean, const float *rstd,
                        int64_t N, int64_t C, int64_t HW, int64_t G) {
    PROF_SCOPE(PROF_NORM);
    gn_backward(dinp, dgamma, dbeta, dout, inp, gamma, NULL, mean, rstd, N, C, HW, G, false);
}

void groupnorm_silu_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                             const float *gamma, const float *beta, const float *mean, const float *rstd,
                             int64_t N, int64_t C, int64_t HW, int64_t G) {
    PROF_SCOPE(PROF_NORM);
    gn_backward(dinp, dgamma, dbeta, dout, inp, gamma, beta, mean, rstd, N, C, HW, G, true);
}

// ---- GroupNorm, naive: the definitions in double ----

void groupnorm_forward_naive(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                             const float *beta, int64_t N, int64_t C, int64_t HW, int64_t G, float eps) {
    SDL_ASSERT(G > 0 && C % G == 0);
    int64_t CG = C / G, cnt = CG * HW;
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            const float *x = inp + (n * C + g * CG) * HW;
            double mu = 0, var = 0;
            for (int64_t i = 0; i < cnt; i++) mu += x[i];
            mu /= (double)cnt;
            for (int64_t i = 0; i < cnt; i++) var += ((double)x[i] - mu) * ((double)x[i] - mu);
            var /= (double)cnt;
            double r = 1.0 / sqrt(var + (double)eps);
            if (mean) mean[n * G + g] = (float)mu;
            if (rstd) rstd[n * G + g] = (float)r;
            for (int64_t c = g * CG; c < (g + 1) * CG; c++)
                for (int64_t i = 0; i < HW; i++) {
                    int64_t idx = (n * C + c) * HW + i;
                    double y = ((double)inp[idx] - mu) * r;
                    if (gamma) y *= gamma[c];
                    if (beta) y += beta[c];
                    out[idx] = (float)y;
                }
        }
}

void groupnorm_backward_naive(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                              const float *gamma, const float *mean, const float *rstd,
                              int64_t N, int64_t C, int64_t HW, int64_t G) {
    SDL_ASSERT(G > 0 && C % G == 0);
    int64_t CG = C / G, cnt = CG * HW;
    // Parameter grads first (dinp may alias dout).
    for (int64_t c = 0; c < C; c++) {
        double sg = 0, sb = 0;
        for (int64_t n = 0; n < N; n++) {
            int64_t ng = n * G + c / CG;
            for (int64_t i = 0; i < HW; i++) {
                int64_t idx = (n * C + c) * HW + i;
                sg += (double)dout[idx] * ((double)inp[idx] - mean[ng]) * rstd[ng];
                sb += (double)dout[idx];
            }
        }
        if (dgamma) dgamma[c] += (float)sg;
        if (dbeta) dbeta[c] += (float)sb;
    }
    if (!dinp) return;
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            double mu = mean[n * G + g], r = rstd[n * G + g];
            double sum_dxhat = 0, sum_dxhat_xhat = 0;
            for (int64_t c = g * CG; c < (g + 1) * CG; c++)
                for (int64_t i = 0; i < HW; i++) {
                    int64_t idx = (n * C + c) * HW + i;
                    double xhat = ((double)inp[idx] - mu) * r;
                    double dxhat = (double)dout[idx] * (gamma ? (double)gamma[c] : 1.0);
                    sum_dxhat += dxhat;
                    sum_dxhat_xhat += dxhat * xhat;
                }
            double m1 = sum_dxhat / (double)cnt, m2 = sum_dxhat_xhat / (double)cnt;
            for (int64_t c = g * CG; c < (g + 1) * CG; c++)
                for (int64_t i = 0; i < HW; i++) {
                    int64_t idx = (n * C + c) * HW + i;
                    double xhat = ((double)inp[idx] - mu) * r;
                    double dxhat = (double)dout[idx] * (gamma ? (double)gamma[c] : 1.0);
                    dinp[idx] = (float)(r * (dxhat - m1 - xhat * m2));
                }
        }
}

void groupnorm_silu_forward_naive(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                                  const float *beta, int64_t N, int64_t C, int64_t HW, int64_t G, float eps) {
    groupnorm_forward_naive(out, mean, rstd, inp, gamma, beta, N, C, HW, G, eps);
    int64_t n = N * C * HW;
    for (int64_t i = 0; i < n; i++) out[i] = (float)((double)out[i] / (1.0 + exp(-(double)out[i])));
}

void groupnorm_silu_backward_naive(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                                   const float *gamma, const float *beta, const float *mean, const float *rstd,
                                   int64_t N, int64_t C, int64_t HW, int64_t G) {
    SDL_ASSERT(G > 0 && C % G == 0);
    int64_t CG = C / G, total = N * C * HW;
    float *dv = malloc((size_t)(total > 0 ? total : 1) * sizeof(float)); // (N, C, HW)
    SDL_ASSERT(dv != NULL);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < HW; i++) {
                int64_t idx = (n * C + c) * HW + i, ng = n * G + c / CG;
                double v = ((double)inp[idx] - mean[ng]) * rstd[ng];
                if (gamma) v *= gamma[c];
                if (beta) v += beta[c];
                double s = 1.0 / (1.0 + exp(-v));
                dv[idx] = (float)((double)dout[idx] * s * (1.0 + v * (1.0 - s)));
            }
    groupnorm_backward_naive(dinp, dgamma, dbeta, dv, inp, gamma, mean, rstd, N, C, HW, G);
    free(dv);
}

// ---- LayerNorm, fast ----

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                       const float *beta, int64_t M, int64_t D, float eps) {
    PROF_SCOPE(PROF_NORM);
    #pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < M; m++) {
        const float *x = inp + m * D; // (D)
        float *o = out + m * D;
        double mu, var;
        norm_stats(x, D, &mu, &var);
        double r = 1.0 / sqrt(var + (double)eps);
        if (mean) mean[m] = (float)mu;
        if (rstd) rstd[m] = (float)r;
        float mf = (float)mu, rf = (float)r, corr = (float)((mu - (double)mf) * r); // xhat = (x - mf) rf - corr
        if (gamma && beta)
            for (int64_t d = 0; d < D; d++) o[d] = ((x[d] - mf) * rf - corr) * gamma[d] + beta[d];
        else
            for (int64_t d = 0; d < D; d++) {
                float y = (x[d] - mf) * rf - corr;
                if (gamma) y *= gamma[d];
                if (beta) y += beta[d];
                o[d] = y;
            }
    }
}

// dgamma[d] += sum_m dy xhat, dbeta[d] += sum_m dy: one thread per block of LN_COL_BLOCK columns
// walks all rows, so each parameter gradient has one owner and a fixed summation order.
static void ln_param_grads(float *dgamma, float *dbeta, const float *dout, const float *inp,
                           const float *mean, const float *rstd, int64_t M, int64_t D) {
    int64_t nblocks = (D + LN_COL_BLOCK - 1) / LN_COL_BLOCK;
    #pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < nblocks; blk++) {
        int64_t d0 = blk * LN_COL_BLOCK, nd = D - d0 < LN_COL_BLOCK ? D - d0 : LN_COL_BLOCK;
        double ag[LN_COL_BLOCK] = {0}, ab[LN_COL_BLOCK] = {0};
        if (nd == LN_COL_BLOCK) {
            // full block: a constant trip count lets the accumulators live in registers
            for (int64_t m = 0; m < M; m++) {
                const float *dy = dout + m * D + d0, *x = inp + m * D + d0;
                float mf = mean[m], rf = rstd[m];
                for (int j = 0; j < LN_COL_BLOCK; j++) {
                    ab[j] += (double)dy[j];
                    ag[j] += (double)dy[j] * (double)((x[j] - mf) * rf);
                }
            }
        } else {
            for (int64_t m = 0; m < M; m++) {
                const float *dy = dout + m * D + d0, *x = inp + m * D + d0;
                float mf = mean[m], rf = rstd[m];
                for (int64_t j = 0; j < nd; j++) {
                    ab[j] += (double)dy[j];
                    ag[j] += (double)dy[j] * (double)((x[j] - mf) * rf);
                }
            }
        }
        for (int64_t j = 0; j < nd; j++) {
            if (dgamma) dgamma[d0 + j] += (float)ag[j];
            if (dbeta) dbeta[d0 + j] += (float)ab[j];
        }
    }
}

void layernorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                        const float *gamma, const float *mean, const float *rstd, int64_t M, int64_t D) {
    PROF_SCOPE(PROF_NORM);
    // Parameter grads first: dinp may alias dout.
    if (dgamma || dbeta) ln_param_grads(dgamma, dbeta, dout, inp, mean, rstd, M, D);
    if (!dinp) return;
    #pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < M; m++) {
        const float *dy = dout + m * D, *x = inp + m * D; // (D)
        float *dx = dinp + m * D;
        float mf = mean[m];
        double r = rstd[m];
        // s1 = sum dxhat, s2 = sum dxhat (x - mean), dxhat = dy gamma
        double s1 = 0, s2 = 0;
        if (gamma) {
            #pragma omp simd reduction(+ : s1, s2)
            for (int64_t d = 0; d < D; d++) {
                double dxh = (double)dy[d] * (double)gamma[d];
                s1 += dxh;
                s2 += dxh * (double)(x[d] - mf);
            }
        } else {
            acc_sums(&s1, &s2, dy, x, mf, D);
        }
        double m1 = s1 / (double)D, m2 = s2 * r / (double)D; // mean(dxhat), mean(dxhat xhat)
        // dx = r (dxhat - m1 - xhat m2) = (r gamma) dy + (-r^2 m2) (x - mean) + (-r m1)
        float rf = (float)r, k2 = (float)(-r * r * m2), k3 = (float)(-r * m1);
        if (gamma)
            for (int64_t d = 0; d < D; d++) dx[d] = (rf * gamma[d]) * dy[d] + k2 * (x[d] - mf) + k3;
        else
            for (int64_t d = 0; d < D; d++) dx[d] = rf * dy[d] + k2 * (x[d] - mf) + k3;
    }
}

// ---- LayerNorm, naive ----

void layernorm_forward_naive(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                             const float *beta, int64_t M, int64_t D, float eps) {
    for (int64_t m = 0; m < M; m++) {
        const float *x = inp + m * D;
        double mu = 0, var = 0;
        for (int64_t d = 0; d < D; d++) mu += x[d];
        mu /= (double)D;
        for (int64_t d = 0; d < D; d++) var += ((double)x[d] - mu) * ((double)x[d] - mu);
        var /= (double)D;
        double r = 1.0 / sqrt(var + (double)eps);
        if (mean) mean[m] = (float)mu;
        if (rstd) rstd[m] = (float)r;
        for (int64_t d = 0; d < D; d++) {
            double y = ((double)x[d] - mu) * r;
            if (gamma) y *= gamma[d];
            if (beta) y += beta[d];
            out[m * D + d] = (float)y;
        }
    }
}

void layernorm_backward_naive(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                              const float *gamma, const float *mean, const float *rstd, int64_t M, int64_t D) {
    // Parameter grads first (dinp may alias dout).
    for (int64_t d = 0; d < D; d++) {
        double sg = 0, sb = 0;
        for (int64_t m = 0; m < M; m++) {
            sg += (double)dout[m * D + d] * ((double)inp[m * D + d] - mean[m]) * rstd[m];
            sb += (double)dout[m * D + d];
        }
        if (dgamma) dgamma[d] += (float)sg;
        if (dbeta) dbeta[d] += (float)sb;
    }
    if (!dinp) return;
    for (int64_t m = 0; m < M; m++) {
        double mu = mean[m], r = rstd[m], sum_dxhat = 0, sum_dxhat_xhat = 0;
        for (int64_t d = 0; d < D; d++) {
            double dxhat = (double)dout[m * D + d] * (gamma ? (double)gamma[d] : 1.0);
            sum_dxhat += dxhat;
            sum_dxhat_xhat += dxhat * ((double)inp[m * D + d] - mu) * r;
        }
        double m1 = sum_dxhat / (double)D, m2 = sum_dxhat_xhat / (double)D;
        for (int64_t d = 0; d < D; d++) {
            double dxhat = (double)dout[m * D + d] * (gamma ? (double)gamma[d] : 1.0);
            double xhat = ((double)inp[m * D + d] - mu) * r;
            dinp[m * D + d] = (float)(r * (dxhat - m1 - xhat * m2));
        }
    }
}
