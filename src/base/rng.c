// rng.c — MT19937 and the sampling rules of PyTorch's CPU generator (ATen CPUGeneratorImpl,
// core/DistributionsHelper.h, native/cpu/DistributionTemplates.h, native/cpu/avx_mathfun.h),
// re-implemented from their documented behaviour so that the same seed gives the same noise.
// Verified bit for bit against torch 2.5.1 by tests/test_rng.c (goldens from
// tools/oracle/make_rng_goldens.py).
//
// The float paths below must round every operation to float exactly as torch's code does:
// its FMAs are written out as fmaf, and the compiler must add none of its own.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "base/rng.h"
#include <math.h>
#include <string.h>

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

void rng_seed(Rng *r, uint64_t seed) {
    memset(r, 0, sizeof *r);
    r->seed = seed;
    r->state[0] = (uint32_t)(seed & 0xffffffffu); // torch keeps the low 32 bits for MT
    for (int i = 1; i < RNG_MT_N; i++)
        r->state[i] = 1812433253u * (r->state[i - 1] ^ (r->state[i - 1] >> 30)) + (uint32_t)i;
    r->index = RNG_MT_N; // regenerate on first draw
}

static void mt_twist(Rng *r) {
    uint32_t *s = r->state;
    for (int i = 0; i < RNG_MT_N; i++) {
        uint32_t y = (s[i] & MT_UPPER) | (s[(i + 1) % RNG_MT_N] & MT_LOWER);
        s[i] = s[(i + MT_M) % RNG_MT_N] ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX_A : 0u);
    }
    r->index = 0;
}

uint32_t rng_u32(Rng *r) {
    if (r->index >= RNG_MT_N) mt_twist(r);
    uint32_t y = r->state[r->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint64_t rng_u64(Rng *r) {
    uint32_t hi = rng_u32(r); // torch: make64BitsFrom32Bits(first, second) = first << 32 | second
    uint32_t lo = rng_u32(r);
    return ((uint64_t)hi << 32) | lo;
}

float rng_rand_float(Rng *r) { return (float)(rng_u32(r) & ((1u << 24) - 1)) * 0x1p-24f; }

double rng_rand_double(Rng *r) { return (double)(rng_u64(r) & ((1ull << 53) - 1)) * 0x1p-53; }

void rng_rand_fill(Rng *r, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = rng_rand_float(r);
}

// torch's scalar normal sampler (used for tensors with fewer than 16 elements): Box-Muller
// in double over two 53-bit uniforms, caching the second value in the generator.
static double normal_double(Rng *r) {
    if (r->has_next_normal) {
        r->has_next_normal = 0;
        return r->next_normal;
    }
    double u1 = rng_rand_double(r);
    double u2 = rng_rand_double(r);
    double radius = sqrt(-2.0 * log1p(-u2));
    double theta = 2.0 * M_PI * u1;
    r->has_next_normal = 1;
    r->next_normal = radius * sin(theta);
    return radius * cos(theta);
}

// ---- the AVX2 kernel's float math, one lane at a time ----
// torch's vectorised normal fill calls log256_ps and sincos256_ps (Cephes single-precision
// polynomials, as in Pommier's sse_mathfun) written as separate mul/add intrinsics; the
// compiler that builds torch (GCC, -mfma, C++ default -ffp-contract=fast) fuses each multiply
// whose only use is an add or subtract into an FMA. Each step below is one rounded float
// operation of that compiled code, in its order, with those FMAs written out as fmaf.
// Constants are the Cephes decimals rounded (via double) to float, as torch's tables hold them.

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// Natural log for x in (0, 1] (the only inputs Box-Muller gives it).
static float cephes_logf(float x) {
    int32_t ex = (int32_t)(f2u(x) >> 23) - 0x7f;     // biased exponent (x > 0: no sign bit)
    x = u2f((f2u(x) & ~0x7f800000u) | f2u(0.5f));     // mantissa scaled into [0.5, 1)
    float e = (float)ex;
    e = e + 1.0f;
    int small = x < (float)0.707106781186547524;      // x < sqrt(1/2): use 2x - 1, e - 1
    float tmp = small ? x : 0.0f;
    x = x - 1.0f;
    e = e - (small ? 1.0f : 0.0f);
    x = x + tmp;
    float z = x * x;
    static const float p[9] = {
        (float)7.0376836292E-2, (float)-1.1514610310E-1, (float)1.1676998740E-1,
        (float)-1.2420140846E-1, (float)1.4249322787E-1, (float)-1.6668057665E-1,
        (float)2.0000714765E-1, (float)-2.4999993993E-1, (float)3.3333331174E-1 };
    float y = p[0];
    for (int i = 1; i < 9; i++) y = fmaf(y, x, p[i]);
    y = y * x;
    y = fmaf(y, z, e * (float)-2.12194440e-4);        // log(2) split in two parts: low ...
    y = fmaf(-z, 0.5f, y);
    x = x + y;
    return fmaf(e, (float)0.693359375, x);            // ... and high
}

// sin and cos of x >= 0 (x < 2*pi here): octant reduction by 4/pi, 3-part Cody-Waite pi/4.
static void cephes_sincosf(float x, float *s, float *c) {
    float y = x * (float)1.27323954473516;            // 4/pi
    int32_t j = (int32_t)y;                           // truncation, as cvttps
    j = (j + 1) & ~1;
    y = (float)j;
    uint32_t sign_sin = ((uint32_t)j & 4u) << 29;
    int poly_sin = (j & 2) == 0;                      // octants where sin uses the sine polynomial
    uint32_t sign_cos = (~(uint32_t)(j - 2) & 4u) << 29;
    x = fmaf(y, (float)-0.78515625, x);
    x = fmaf(y, (float)-2.4187564849853515625e-4, x);
    x = fmaf(y, (float)-3.77489497744594108e-8, x);
    float z = x * x;
    float yc = fmaf((float)2.443315711809948E-005, z, (float)-1.388731625493765E-003); // cosine
    yc = fmaf(yc, z, (float)4.166664568298827E-002);
    yc = yc * z;
    yc = fmaf(yc, z, -(z * 0.5f));
    yc = yc + 1.0f;
    float ys = fmaf((float)-1.9515295891E-4, z, (float)8.3321608736E-3);               // sine
    ys = fmaf(ys, z, (float)-1.6666654611E-1);
    ys = ys * z;
    ys = fmaf(ys, x, x);
    // The kernel selects with masks and then adds: (+0 + v) and (v - v) as written there.
    float sin2 = poly_sin ? ys : 0.0f, sin1 = poly_sin ? 0.0f : yc;
    ys = ys - sin2;
    yc = yc - sin1;
    *s = u2f(f2u(sin1 + sin2) ^ sign_sin);
    *c = u2f(f2u(yc + ys) ^ sign_cos);
}

// Box-Muller over 16 uniforms in place, pairs (j, j+8), as torch's normal_fill_16_AVX2.
static void normal_fill_16_avx2(float *d) {
    const float two_pi = (float)(2.0 * M_PI);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j];                       // [0, 1) -> (0, 1] for the log
        float u2 = d[j + 8];
        float lg = cephes_logf(u1);
        float radius = sqrtf(-2.0f * lg);
        float theta = two_pi * u2;
        float s, c;
        cephes_sincosf(theta, &s, &c);
        float n1 = radius * c, n2 = radius * s;
        d[j] = n1 + 0.0f;                             // fmadd(n, std = 1, mean = 0)
        d[j + 8] = n2 + 0.0f;
    }
}

// The same in torch's portable kernel: float libm log/cos/sin, theta rounded from double.
static void normal_fill_16_generic(float *d) {
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j];
        float u2 = d[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = (float)(2.0 * M_PI * (double)u2);
        d[j] = radius * cosf(theta) + 0.0f;
        d[j + 8] = radius * sinf(theta) + 0.0f;
    }
}

static void randn_fill(Rng *r, float *out, size_t n, void (*fill16)(float *)) {
    if (n < 16) {
        for (size_t i = 0; i < n; i++) out[i] = (float)normal_double(r);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = rng_rand_float(r);
    for (size_t i = 0; i + 16 <= n; i += 16) fill16(out + i);
    if (n % 16) {
        // torch redraws the last 16 values (overlapping the previous block) and transforms them
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = rng_rand_float(r);
        fill16(tail);
    }
}

void rng_randn_fill(Rng *r, float *out, size_t n) { randn_fill(r, out, n, normal_fill_16_avx2); }

void rng_randn_fill_generic(Rng *r, float *out, size_t n) { randn_fill(r, out, n, normal_fill_16_generic); }

void rng_randint_fill(Rng *r, int64_t *out, size_t n, int64_t lo, int64_t hi) {
    uint64_t range = (uint64_t)(hi - lo);
    for (size_t i = 0; i < n; i++) {
        // torch random_from_to: 32-bit draw when the range fits in 32 bits, else 64-bit
        uint64_t v = range >= (1ull << 32) ? rng_u64(r) : rng_u32(r);
        out[i] = lo + (int64_t)(v % range);
    }
}
