// activation.h — elementwise activations over n floats (SiLU, GELU erf/tanh, quick-GELU), GEGLU,
// and the vectorisable float math they are built from (exp, sigmoid, normal CDF).
//
// Semantics follow torch: silu = x·sigmoid(x); gelu(approximate='none') = x·Φ(x) with
// Φ(x) = ½(1 + erf(x/√2)); gelu(approximate='tanh') = ½x(1 + tanh(√(2/π)(x + 0.044715x³)));
// quick_gelu = x·sigmoid(1.702x) (CLIP ViT-L). Elementwise ops may run in place
// (out == inp, dinp == dout). NaN gives NaN. Finite inputs of any size give finite outputs
// and slopes (silu(-100) = -0, gelu(-20) = -0, slope 0 there); +Inf gives +Inf with slope 1;
// -Inf gives slope 0 but the forward value -Inf·0 = NaN, as in torch.
//
// The fast ops use the act_* helpers below (polynomials, no libm calls, so loops vectorise on
// SSE2, AVX2 and AVX-512 alike, 10-30x faster than libm); the *_naive versions use libm in
// float exactly as torch writes the formulas and are the reference in tests. Accuracy against
// exact math, as tests/test_activation.c checks it: act_expf <= 2 ulp (1.3 measured),
// act_sigmoidf <= 3 ulp (2.4), act_normal_cdf <= 1e-7 absolute (8.4e-8); so silu and
// quick-GELU are within 4 ulp, gelu(erf) within 4 ulp + 1e-7·|x| — torch's own float
// evaluation of x·½(1 + erf(x/√2)) is no closer — and slopes within 4 ulp + 5e-7.
// The far left tails (x < -3) are relatively accurate too, unlike torch's 1 + erf / 1 + tanh.
#pragma once
#include <math.h>
#include <stdint.h>

typedef enum { GELU_ERF = 0, GELU_TANH = 1 } GeluKind; // exact (erf) and tanh approximation

void silu_forward(float *out, const float *inp, int64_t n);           // x * sigmoid(x)
void silu_backward(float *dinp, const float *dout, const float *inp, int64_t n);
void gelu_forward(float *out, const float *inp, int64_t n, GeluKind kind);
void gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n, GeluKind kind);
void quick_gelu_forward(float *out, const float *inp, int64_t n);     // x * sigmoid(1.702 x) (CLIP)
void quick_gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n);

// GEGLU as diffusers: proj output inp (M, 2D) splits along the last dim into
// a = inp[:, :D] and gate = inp[:, D:];  out (M, D) = a * gelu_erf(gate).
// Backward: dinp (M, 2D) =: [dout * gelu(gate), dout * a * gelu'(gate)]. Not in place.
void geglu_forward(float *out, const float *inp, int64_t M, int64_t D);
void geglu_backward(float *dinp, const float *dout, const float *inp, int64_t M, int64_t D);

// ---- references: libm in float, the formulas as torch writes them (tests, fallbacks) ----
void silu_forward_naive(float *out, const float *inp, int64_t n);
void silu_backward_naive(float *dinp, const float *dout, const float *inp, int64_t n);
void gelu_forward_naive(float *out, const float *inp, int64_t n, GeluKind kind);
void gelu_backward_naive(float *dinp, const float *dout, const float *inp, int64_t n, GeluKind kind);
void quick_gelu_forward_naive(float *out, const float *inp, int64_t n);
void quick_gelu_backward_naive(float *dinp, const float *dout, const float *inp, int64_t n);
void geglu_forward_naive(float *out, const float *inp, int64_t M, int64_t D);
void geglu_backward_naive(float *dinp, const float *dout, const float *inp, int64_t M, int64_t D);

// ---- vectorisable float math ---------------------------------------------------------------
// static inline so that a loop calling them compiles to SIMD code (libm calls do not
// vectorise without -ffast-math). Fused kernels elsewhere (GroupNorm+SiLU, the attention
// softmax) may use them too. Branch-free: every lane computes the same instructions.

typedef union { float f; uint32_t u; } ActBits;

// a·b + c: one fused instruction where the target has FMA (x86-64-v3, ARMv8), else the two
// rounded operations (-std=c11 turns off GCC's automatic contraction). Never a libm call.
#if defined(__FMA__) || defined(__aarch64__)
#define ACT_FMA(a, b, c) fmaf((a), (b), (c))
#else
#define ACT_FMA(a, b, c) ((a) * (b) + (c))
#endif

// c ? a : b, computed as a bit mask so that both a and b are evaluated unconditionally.
// A plain ?: whose arm does arithmetic counts as control flow under -ftrapping-math (and GCC
// may thread a constant arm into a separate path), so the loop would vectorise only where the
// ISA has masked operations (AVX-512), not on SSE2/AVX2.
static inline float act_select(int c, float a, float b) {
    ActBits ua = { .f = a }, ub = { .f = b };
    uint32_t m = (uint32_t)0 - (uint32_t)(c != 0);
    ActBits r = { .u = (ua.u & m) | (ub.u & ~m) };
    return r.f;
}

// e^x for all float x: |relative error| <= 2 ulp for normal results; overflows to +Inf above
// ~88.72, underflows through the subnormals to 0 below ~-103.9; NaN propagates.
static inline float act_expf(float x) {
    // Clamp first (NaN fails both comparisons and stays NaN): the clamped range keeps the
    // exponent arithmetic below in range; results at the clamps are already Inf / 0.
    // (Bit-mask selects: with ?: GCC threads the constant arms into separate branches.)
    float xc = act_select(x < -104.0f, -104.0f, x);
    xc = act_select(xc > 89.0f, 89.0f, xc);
    // k = round(x / ln2) with the 1.5·2^23 shifter; the shifter carries a +150 bias so the low
    // mantissa bits of t hold k + 150 >= 0 as an unsigned integer.
    const float shifter = 12583062.0f; // 0x1.8p23 + 150
    ActBits t = { .f = ACT_FMA(xc, 1.44269504f, shifter) };
    float k = t.f - shifter;                      // exact integer in [-150, 129]
    // Cody–Waite reduction: ln2_hi has 9 significant bits, so k·ln2_hi is exact.
    float r = ACT_FMA(k, -0.693359375f, xc);
    r = ACT_FMA(k, 2.12194440e-4f, r);            // - k·ln2_lo, ln2_lo = ln2 - ln2_hi < 0
    // e^r on |r| <= ln2/2: degree-6 near-minimax polynomial (fitted here, max error 2e-9).
    float p = 1.394110843e-3f;
    p = ACT_FMA(p, r, 8.375126398e-3f);
    p = ACT_FMA(p, r, 4.166635290e-2f);
    p = ACT_FMA(p, r, 1.666641551e-1f);
    p = ACT_FMA(p, r, 5.000000047e-1f);
    p = ACT_FMA(p, r, 1.0f);
    p = ACT_FMA(p, r, 1.0f);
    // 2^k as 2^(k1-75) · 2^(k2-75) with k1 + k2 = k + 150: both factors stay normal floats,
    // so large k overflows and small k rounds into the subnormals exactly once.
    uint32_t kb = t.u - 0x4B400000u;              // k + 150 (wraps harmlessly for NaN)
    uint32_t k1 = kb >> 1, k2 = kb - k1;
    ActBits s1 = { .u = (k1 + 52u) << 23 }, s2 = { .u = (k2 + 52u) << 23 };
    return (p * s1.f) * s2.f;
}

// 1 / (1 + e^-x); exactly 0 and 1 in the limits, never NaN for non-NaN x.
static inline float act_sigmoidf(float x) { return 1.0f / (1.0f + act_expf(-x)); }

// Standard normal CDF Φ(x) = ½ erfc(-x/√2), and e^{-x²/2} (for φ(x) = e^{-x²/2}/√(2π)) as a
// by-product. Two pieces, both always evaluated and one selected (branch-free):
//   |x| < 1.25:  Φ(x) = ½ + x·R(x²), R a degree-5 polynomial (fit error 4e-9);
//   otherwise:   Φ(-|x|) = ½ erfc(z) = ½ t e^{-z²} P(2t - 1), z = |x|/√2, t = 1/(1 + 0.4z),
//                P a degree-10 polynomial fitted to erfc(z) e^{z²}/t over t in [0, 1] (error 6e-9).
// The left tail is computed directly, so it keeps its relative accuracy (torch's ½(1 + erf)
// cancels there). Coefficients are near-minimax Chebyshev fits made for sdlora with mpmath.
static inline float act_normal_cdf(float x, float *gauss) {
    float ax = fabsf(x);
    float x2 = x * x;
    float e = act_expf(-0.5f * x2);               // e^{-z²}, with one rounding in x²/2
    if (gauss) *gauss = e;
    // small |x|
    float r = -6.822396781e-6f;
    r = ACT_FMA(r, x2, 1.110920276e-4f);
    r = ACT_FMA(r, x2, -1.183907620e-3f);
    r = ACT_FMA(r, x2, 9.972322709e-3f);
    r = ACT_FMA(r, x2, -6.649021594e-2f);
    r = ACT_FMA(r, x2, 3.989422768e-1f);
    float small = ACT_FMA(x, r, 0.5f);
    // large |x|
    float z = ax * 0.707106781f;
    float t = 1.0f / ACT_FMA(0.4f, z, 1.0f);
    float s = ACT_FMA(2.0f, t, -1.0f);
    float p = -2.916858251e-5f;
    p = ACT_FMA(p, s, -1.074623665e-5f);
    p = ACT_FMA(p, s, 2.664883181e-4f);
    p = ACT_FMA(p, s, 1.654415199e-4f);
    p = ACT_FMA(p, s, -1.921382043e-3f);
    p = ACT_FMA(p, s, -3.353155286e-3f);
    p = ACT_FMA(p, s, 1.134354684e-2f);
    p = ACT_FMA(p, s, 6.849976746e-2f);
    p = ACT_FMA(p, s, 1.815656999e-1f);
    p = ACT_FMA(p, s, 3.218607736e-1f);
    p = ACT_FMA(p, s, 4.216127281e-1f);
    float tail = 0.5f * t * e * p;                // Φ(-|x|)
    float large = act_select(x < 0.0f, tail, 1.0f - tail);
    return act_select(ax < 1.25f, small, large);
}
