// activation.c — SiLU, GELU (erf and tanh forms), quick-GELU and GEGLU, forward and backward.
//
// Fast paths are SIMD loops over the act_* polynomial math in activation.h, split over threads
// when n is large; the *_naive references are the torch formulas with libm in float.
// Elementwise loops read x[i] before writing out[i], so out == inp and dinp == dout are safe
// (`omp simd` asserts exactly that: no dependence between different i).
#include "ops/activation.h"
#include "base/profile.h"
#include <math.h>

// Below this many elements a parallel region (a few µs to fork and join) costs more than it saves.
#define ACT_PAR_MIN 16384

#define SQRT_2_OVER_PI 0.7978845608f   // √(2/π), gelu tanh form
#define GELU_TANH_C 0.044715f
#define INV_SQRT_2PI 0.3989422804f     // 1/√(2π), the normal density's constant
#define QUICK_GELU_K 1.702f

// ---- per-element kernels (inlined into the loops below) ----

// The slopes multiply x by a factor that is exactly 0 once |x| is past ~100 (1 - sigmoid,
// e^{-x²/2}, ...). Clamping that x to ±1e3 changes no finite result and keeps ±Inf from
// turning the product into Inf·0 = NaN: the slope at +Inf is 1 and at -Inf 0. NaN stays NaN.
static inline float clamp_slope_x(float x) {
    return act_select(x < -1e3f, -1e3f, act_select(x > 1e3f, 1e3f, x));
}

// sigmoid(v), and 1 - sigmoid(v) computed as e·sigmoid(v) (e = e^-v) rather than by the
// subtraction, which would quantise it to multiples of 2^-24 where sigmoid(v) is near 1 and
// wreck the slope terms x·s(1-s) (gelu_tanh' at x = 5 would be off by 1e-6 relative).
static inline float sigmoid_pair(float v, float *one_minus) {
    float e = act_expf(-v);
    float s = 1.0f / (1.0f + e);
    *one_minus = act_select(e <= 3.0e38f, e * s, 1.0f); // e = +Inf: s = 0, 1 - s = 1
    return s;
}

static inline float silu_grad(float x) {
    float oms, s = sigmoid_pair(x, &oms);
    return s * (1.0f + clamp_slope_x(x) * oms);
}

static inline float gelu_erf_val(float x) { return x * act_normal_cdf(x, (float *)0); }

static inline float gelu_erf_grad(float x) {
    float e;
    float cdf = act_normal_cdf(x, &e);
    return cdf + clamp_slope_x(x) * (e * INV_SQRT_2PI);
}

// ½x(1 + tanh(u)) = x·sigmoid(2u): no cancellation for negative x, and only one exp.
static inline float gelu_tanh_val(float x) {
    float u = SQRT_2_OVER_PI * (x + GELU_TANH_C * (x * x * x));
    return x * act_sigmoidf(2.0f * u);
}

static inline float gelu_tanh_grad(float x) {
    float u = SQRT_2_OVER_PI * (x + GELU_TANH_C * (x * x * x));
    float oms, s = sigmoid_pair(2.0f * u, &oms);
    float xd = clamp_slope_x(x);                  // also keeps x·(1 + 3c·x²) finite
    float du = 2.0f * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_TANH_C * (xd * xd));
    return s + (s * oms) * (xd * du);
}

static inline float quick_gelu_grad(float x) {
    float oms, s = sigmoid_pair(QUICK_GELU_K * x, &oms);
    return s + QUICK_GELU_K * (clamp_slope_x(x) * (s * oms));
}

// ---- SiLU ----

void silu_forward(float *out, const float *inp, int64_t n) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    #pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = inp[i] * act_sigmoidf(inp[i]);
}

void silu_backward(float *dinp, const float *dout, const float *inp, int64_t n) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    #pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dinp[i] = dout[i] * silu_grad(inp[i]);
}

// ---- GELU ----

void gelu_forward(float *out, const float *inp, int64_t n, GeluKind kind) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    if (kind == GELU_TANH) {
        #pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
        for (int64_t i = 0; i < n; i++) out[i] = gelu_tanh_val(inp[i]);
    } else {
        #pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
        for (int64_t i = 0; i < n; i++) out[i] = gelu_erf_val(inp[i]);
    }
}

void gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n, GeluKind kind) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    if (kind == GELU_TANH) {
        #pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
        for (int64_t i = 0; i < n; i++) dinp[i] = dout[i] * gelu_tanh_grad(inp[i]);
    } else {
        #pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
        for (int64_t i = 0; i < n; i++) dinp[i] = dout[i] * gelu_erf_grad(inp[i]);
    }
}

// ---- quick-GELU ----

void quick_gelu_forward(float *out, const float *inp, int64_t n) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    #pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = inp[i] * act_sigmoidf(QUICK_GELU_K * inp[i]);
}

void quick_gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    #pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dinp[i] = dout[i] * quick_gelu_grad(inp[i]);
}

// ---- GEGLU ----

void geglu_forward(float *out, const float *inp, int64_t M, int64_t D) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    #pragma omp parallel for schedule(static) if (M * D >= ACT_PAR_MIN)
    for (int64_t m = 0; m < M; m++) {
        const float *a = inp + m * 2 * D, *gate = a + D; // (D), (D)
        float *o = out + m * D;
        #pragma omp simd
        for (int64_t j = 0; j < D; j++) o[j] = a[j] * gelu_erf_val(gate[j]);
    }
}

void geglu_backward(float *dinp, const float *dout, const float *inp, int64_t M, int64_t D) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    #pragma omp parallel for schedule(static) if (M * D >= ACT_PAR_MIN)
    for (int64_t m = 0; m < M; m++) {
        const float *a = inp + m * 2 * D, *gate = a + D, *g = dout + m * D;
        float *da = dinp + m * 2 * D, *dgate = da + D;
        #pragma omp simd
        for (int64_t j = 0; j < D; j++) {
            float e;
            float x = gate[j], cdf = act_normal_cdf(x, &e);
            da[j] = g[j] * (x * cdf);
            dgate[j] = g[j] * a[j] * (cdf + clamp_slope_x(x) * (e * INV_SQRT_2PI));
        }
    }
}

// ---- naive references: torch's formulas, libm in float ----

void silu_forward_naive(float *out, const float *inp, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = inp[i] / (1.0f + expf(-inp[i]));
}

void silu_backward_naive(float *dinp, const float *dout, const float *inp, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-inp[i]));
        dinp[i] = dout[i] * s * (1.0f + inp[i] * (1.0f - s));
    }
}

static float gelu_naive_val(float x, GeluKind kind) {
    if (kind == GELU_TANH) {
        float inner = SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x);
        return 0.5f * x * (1.0f + tanhf(inner));
    }
    return x * 0.5f * (1.0f + erff(x * 0.70710678f));
}

static float gelu_naive_grad(float x, GeluKind kind) {
    if (kind == GELU_TANH) {
        float inner = SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x);
        float th = tanhf(inner);
        float dinner = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_TANH_C * x * x);
        return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * dinner;
    }
    float cdf = 0.5f * (1.0f + erff(x * 0.70710678f));
    return cdf + x * INV_SQRT_2PI * expf(-0.5f * x * x);
}

void gelu_forward_naive(float *out, const float *inp, int64_t n, GeluKind kind) {
    for (int64_t i = 0; i < n; i++) out[i] = gelu_naive_val(inp[i], kind);
}

void gelu_backward_naive(float *dinp, const float *dout, const float *inp, int64_t n, GeluKind kind) {
    for (int64_t i = 0; i < n; i++) dinp[i] = dout[i] * gelu_naive_grad(inp[i], kind);
}

void quick_gelu_forward_naive(float *out, const float *inp, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = inp[i] / (1.0f + expf(-QUICK_GELU_K * inp[i]));
}

void quick_gelu_backward_naive(float *dinp, const float *dout, const float *inp, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-QUICK_GELU_K * inp[i]));
        dinp[i] = dout[i] * (s + QUICK_GELU_K * inp[i] * s * (1.0f - s));
    }
}

void geglu_forward_naive(float *out, const float *inp, int64_t M, int64_t D) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < D; j++)
            out[m * D + j] = inp[m * 2 * D + j] * gelu_naive_val(inp[m * 2 * D + D + j], GELU_ERF);
}

void geglu_backward_naive(float *dinp, const float *dout, const float *inp, int64_t M, int64_t D) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < D; j++) {
            float a = inp[m * 2 * D + j], x = inp[m * 2 * D + D + j], g = dout[m * D + j];
            dinp[m * 2 * D + j] = g * gelu_naive_val(x, GELU_ERF);
            dinp[m * 2 * D + D + j] = g * a * gelu_naive_grad(x, GELU_ERF);
        }
}
