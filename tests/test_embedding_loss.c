// test_embedding_loss.c — the sinusoidal timestep embedding against a direct double-precision
// evaluation of diffusers' get_timestep_embedding (flip 0/1, shift 0/1, dims 320 and 321) and
// against a step-by-step float32 emulation of torch's CPU evaluation; weighted MSE loss with
// kohya's reduction (with and without weights) and its gradient by finite differences.
#include "harness.h"
#include "gradcheck.h"
#include "ops/embedding.h"
#include "ops/loss.h"
#include <stdlib.h>
#include <string.h>

// ---- timestep embedding ----

static const float test_timesteps[] = {0.0f, 1.0f, 2.0f, 47.0f, 500.5f, 999.0f, 261.0f, 0.25f};
enum { NT = sizeof test_timesteps / sizeof test_timesteps[0] };

// diffusers, literally, in double: build [sin, cos], swap halves if flipped, pad odd dims.
static void embedding_double(double *out, const float *t, int64_t N, int64_t dim, int flip, double shift, double max_period) {
    int64_t half = dim / 2;
    double *emb = malloc((size_t)(2 * half + 1) * sizeof(double));
    for (int64_t n = 0; n < N; n++) {
        for (int64_t i = 0; i < half; i++) {
            double exponent = -log(max_period) * (double)i / ((double)half - shift);
            double arg = (double)t[n] * exp(exponent);
            emb[i] = sin(arg);
            emb[half + i] = cos(arg);
        }
        for (int64_t j = 0; j < 2 * half; j++) out[n * dim + j] = flip ? emb[(j + half) % (2 * half)] : emb[j];
        if (dim % 2) out[n * dim + dim - 1] = 0.0;
    }
    free(emb);
}

// The float32 argument torch forms, with every float32 rounding spelled out through double:
// a product of two floats is exact in double, and a quotient rounded twice (double, then
// float) equals the single float rounding, so each (float) cast below is torch's rounding.
static float torch_f32_arg(float t, int64_t i, int64_t half, double shift, double max_period) {
    float c = (float)(-log(max_period));
    float e1 = (float)((double)c * (double)(float)i);            // * arange (float32)
    float e2 = (float)((double)e1 / (double)(float)((double)half - shift)); // / (half - shift)
    float freq = (float)exp((double)e2);                          // torch.exp
    return (float)((double)t * (double)freq);                     // timesteps[:, None] * emb
}

static void test_embedding_vs_double(void) {
    const int64_t dims[2] = {320, 321};
    double worst_pure = 0, worst_f32 = 0;
    for (int d = 0; d < 2; d++)
        for (int flip = 0; flip < 2; flip++)
            for (int shift = 0; shift < 2; shift++) {
                int64_t dim = dims[d], half = dim / 2;
                float *out = alloc_floats(NT * dim);
                double *ref = malloc((size_t)(NT * dim) * sizeof(double));
                timestep_embedding(out, test_timesteps, NT, dim, flip, (float)shift, 10000.0f);
                embedding_double(ref, test_timesteps, NT, dim, flip, shift, 10000.0);
                int bad = 0, bad32 = 0;
                for (int64_t n = 0; n < NT; n++)
                    for (int64_t j = 0; j < dim; j++) {
                        double got = out[n * dim + j], want = ref[n * dim + j];
                        if (j == dim - 1 && dim % 2) { // the zero pad
                            if (got != 0.0 && bad++ < 5) fprintf(stderr, "  pad = %g\n", got);
                            continue;
                        }
                        // frequency index and sin/cos of this output column
                        int64_t k = j % half;
                        int is_cos = (j < half) == (flip != 0);
                        // Against exact math: float32 rounding of the argument. The exponent
                        // carries 3 roundings (|Δ| <= 3·2^-24·|exponent|), exp and t·freq one each,
                        // so |Δarg| <= |arg|·(3|exponent| + 2)·2^-24; plus the output's own rounding.
                        double exponent = -log(10000.0) * (double)k / ((double)half - shift);
                        double arg = (double)test_timesteps[n] * exp(exponent);
                        double tol = fabs(arg) * (3.0 * fabs(exponent) + 2.0) * 0x1p-24 * 1.01 + 0x1p-24;
                        double err = fabs(got - want);
                        if (err > worst_pure) worst_pure = err;
                        if (!(err <= tol) && bad++ < 5)
                            fprintf(stderr, "  dim %lld flip %d shift %d t=%g col %lld: %.9g vs exact %.9g (tol %.3g)\n",
                                    (long long)dim, flip, shift, test_timesteps[n], (long long)j, got, want, tol);
                        // Against torch's float32 argument: sin/cos of it, correctly rounded (<= 1/2 ulp
                        // of a value <= 1, so 2^-25; allow 2^-24).
                        float a32 = torch_f32_arg(test_timesteps[n], k, half, shift, 10000.0);
                        double want32 = is_cos ? cos((double)a32) : sin((double)a32);
                        double err32 = fabs(got - want32);
                        if (err32 > worst_f32) worst_f32 = err32;
                        if (!(err32 <= 0x1p-24) && bad32++ < 5)
                            fprintf(stderr, "  dim %lld flip %d shift %d t=%g col %lld: %.9g vs float32-torch %.9g\n",
                                    (long long)dim, flip, shift, test_timesteps[n], (long long)j, got, want32);
                    }
                CHECKF(bad == 0 && bad32 == 0, "dim %lld flip %d shift %d", (long long)dim, flip, shift);
                free(out); free(ref);
            }
    printf("  timestep_embedding: max |diff| vs exact double %.3g (float32 argument rounding), vs float32-torch emulation %.3g\n",
           worst_pure, worst_f32);
}

static void test_embedding_known(void) {
    // t = 0: sin 0 = 0, cos 0 = 1; flip puts cos first. Frequency 0 is exactly 1: arg = t.
    float t[2] = {0.0f, 3.0f}, out[2 * 7];
    timestep_embedding(out, t, 2, 7, 1, 0.0f, 10000.0f);
    CHECK(out[0] == 1.0f && out[1] == 1.0f && out[2] == 1.0f && out[3] == 0.0f && out[4] == 0.0f && out[5] == 0.0f && out[6] == 0.0f);
    CHECKF(out[7] == (float)cos(3.0) && out[10] == (float)sin(3.0), "t=3: %.9g %.9g", out[7], out[10]);
    // half = 3, shift 0: frequencies 1, 10000^(-1/3), 10000^(-2/3)
    CHECKF(fabs(out[8] - cos(3.0 * pow(10000.0, -1.0 / 3.0))) <= 2e-7, "freq 1: %.9g", out[8]);
    CHECKF(fabs(out[12] - sin(3.0 * pow(10000.0, -2.0 / 3.0))) <= 2e-7, "freq 2: %.9g", out[12]);
    timestep_embedding(out, t, 2, 7, 0, 1.0f, 10000.0f); // unflipped, shift 1: sin first, last freq 1e-4
    CHECK(out[0] == 0.0f && out[3] == 1.0f && out[6] == 0.0f);
    CHECKF(out[7] == (float)sin(3.0) && fabs(out[9] - sin(3.0 * 1e-4)) <= 1e-10, "t=3 shift 1: %.9g %.9g", out[7], out[9]);
    // dim 1: only the pad
    float one = 5.0f;
    timestep_embedding(&one, t + 1, 1, 1, 1, 0.0f, 10000.0f);
    CHECK(one == 0.0f);
    // rows do not interfere: an SD batch of 2 at dim 320 equals two single calls
    float ts[2] = {999.0f, 1.0f}, both[640], a[320], b[320];
    timestep_embedding(both, ts, 2, 320, 1, 0.0f, 10000.0f);
    timestep_embedding(a, ts, 1, 320, 1, 0.0f, 10000.0f);
    timestep_embedding(b, ts + 1, 1, 320, 1, 0.0f, 10000.0f);
    CHECK(memcmp(both, a, sizeof a) == 0 && memcmp(both + 320, b, sizeof b) == 0);
}

// ---- MSE loss ----

static double mse_direct(double *per, const float *p, const float *t, const float *w, int64_t N, int64_t D) {
    double loss = 0;
    for (int64_t n = 0; n < N; n++) {
        double s = 0;
        for (int64_t i = 0; i < D; i++) s += ((double)p[n * D + i] - t[n * D + i]) * ((double)p[n * D + i] - t[n * D + i]);
        per[n] = s / (double)D;
        loss += (w ? w[n] : 1.0) * per[n];
    }
    return loss / (double)N;
}

static void test_mse_forward(void) {
    int64_t N = 3, D = 1031;
    float *p = alloc_randn(N * D, 1.0f, 1), *t = alloc_randn(N * D, 1.0f, 2), w[3] = {0.5f, 2.0f, 0.0f}, per[3];
    double dper[3];
    double got = mse_loss_forward(per, p, t, w, N, D), want = mse_direct(dper, p, t, w, N, D);
    CHECKF(fabs(got - want) <= 1e-12 * want, "weighted loss %.15g vs %.15g", got, want);
    for (int n = 0; n < 3; n++) CHECKF(fabs(per[n] - dper[n]) <= 1e-7 * dper[n], "per_sample[%d] %.9g vs %.9g", n, per[n], dper[n]);
    got = mse_loss_forward(NULL, p, t, NULL, N, D);
    want = mse_direct(dper, p, t, NULL, N, D);
    CHECKF(fabs(got - want) <= 1e-12 * want, "unweighted loss %.15g vs %.15g", got, want);
    // pred = target + 1 everywhere: per-sample 1, loss = mean of the weights
    for (int64_t i = 0; i < N * D; i++) p[i] = t[i] + 1.0f;
    got = mse_loss_forward(per, p, t, w, N, D);
    // t + 1 is rounded in float, so the differences are 1 to within ulp(|t| + 1)
    CHECKF(fabs(got - (0.5 + 2.0 + 0.0) / 3.0) <= 1e-6, "loss of unit errors = %.9g", got);
    CHECKF(fabs(per[0] - 1.0f) <= 1e-6f && fabs(per[2] - 1.0f) <= 1e-6f, "per-sample of unit errors = %g %g", per[0], per[2]);
    // zero error
    CHECK(mse_loss_forward(per, t, t, NULL, N, D) == 0.0 && per[1] == 0.0f);
    free(p); free(t);
}

typedef struct { const float *t, *w; float *p; int64_t N, D; float dloss; } LossCtx;
static double loss_fd(void *c) {
    LossCtx *l = c;
    return (double)l->dloss * mse_loss_forward(NULL, l->p, l->t, l->w, l->N, l->D);
}

static void test_mse_backward(void) {
    int64_t N = 4, D = 37;
    float *p = alloc_randn(N * D, 1.0f, 10), *t = alloc_randn(N * D, 1.0f, 11), *g = alloc_floats(N * D);
    float w[4] = {1.0f, 0.25f, 3.0f, 0.0f};
    for (int weighted = 0; weighted < 2; weighted++) {
        const float *wp = weighted ? w : NULL;
        float dloss = weighted ? 1.0f : 2.5f;
        mse_loss_backward(g, p, t, wp, N, D, dloss);
        // direct formula
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < D; i++) {
                double want = (double)dloss * (wp ? wp[n] : 1.0) * 2.0 * ((double)p[n * D + i] - t[n * D + i]) / (double)(N * D);
                CHECKF(fabs(g[n * D + i] - want) <= 3e-7 * fabs(want) + 1e-12, "dpred[%lld,%lld] %.9g vs %.9g", (long long)n, (long long)i, g[n * D + i], want);
            }
        // The loss is quadratic: the 4-point stencil is exact but for the rounding of the
        // perturbed float x ± eps (relative ~ulp(x)/eps ~ 1e-5 per coordinate). Along a
        // direction those roundings add up over all N·D elements, so that check takes a
        // larger step (no truncation error to trade against).
        LossCtx c = {t, wp, p, N, D, dloss};
        gradcheck_coords(weighted ? "mse weighted coords" : "mse coords", loss_fd, &c, p, g, N * D, 1e-2f, 1e-7, 1e-4, (int)(N * D), 3);
        gradcheck_dir(weighted ? "mse weighted dir" : "mse dir", loss_fd, &c, p, g, N * D, 0.25f, 1e-5, 3, 4);
    }
    // in place: dpred == pred
    float *q = alloc_floats(N * D);
    memcpy(q, p, (size_t)(N * D) * sizeof(float));
    mse_loss_backward(g, p, t, w, N, D, 1.0f);
    mse_loss_backward(q, q, t, w, N, D, 1.0f);
    CHECK(memcmp(q, g, (size_t)(N * D) * sizeof(float)) == 0);
    // zero weight: zero gradient for that sample
    int zero = 1;
    for (int64_t i = 0; i < D; i++) zero &= g[3 * D + i] == 0.0f;
    CHECK(zero);
    free(p); free(t); free(g); free(q);
}

static void test_mse_real_shape(void) {
    // SD1.x latents at 512 px, batch 4: (4, 4·64·64); large enough to take the parallel path
    int64_t N = 4, D = 4 * 64 * 64;
    float *p = alloc_randn(N * D, 1.0f, 20), *t = alloc_randn(N * D, 1.0f, 21), *g = alloc_floats(N * D);
    float w[4] = {1.0f, 0.5f, 2.0f, 1.5f}, per[4];
    double dper[4];
    double got = mse_loss_forward(per, p, t, w, N, D), want = mse_direct(dper, p, t, w, N, D);
    CHECKF(fabs(got - want) <= 1e-12 * want, "loss %.15g vs %.15g", got, want);
    CHECKF(fabs(got - 2.0 * 5.0 / 4.0) <= 0.05, "E[(x-y)^2] = 2 for unit normals: %.4g", got); // 2·mean(w)
    mse_loss_backward(g, p, t, w, N, D, 1.0f);
    double gmax = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < D; i += 97) {
            double want_g = w[n] * 2.0 * ((double)p[n * D + i] - t[n * D + i]) / (double)(N * D);
            double e = fabs(g[n * D + i] - want_g) / (fabs(want_g) + 1e-30);
            if (e > gmax) gmax = e;
        }
    CHECKF(gmax <= 3e-7, "relative gradient error %.3g", gmax);
    free(p); free(t); free(g);
}

int main(void) {
    RUN(test_embedding_vs_double);
    RUN(test_embedding_known);
    RUN(test_mse_forward);
    RUN(test_mse_backward);
    RUN(test_mse_real_shape);
    return test_finish();
}
