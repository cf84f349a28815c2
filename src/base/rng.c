// rng.c — MT19937 and the sampling rules of PyTorch's CPU generator (ATen
// CPUGeneratorImpl + core/DistributionsHelper.h + native/cpu/DistributionTemplates.h),
// re-implemented from their documented behaviour so that the same seed gives the same noise.
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
// in double over two 53-bit uniforms, caching the second value.
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

// Box-Muller over 16 uniforms in place: pairs (j, j+8), as torch's normal_fill_16.
static void normal_fill_16(float *d) {
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j];
        float u2 = d[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = 2.0f * (float)M_PI * u2;
        d[j] = radius * cosf(theta);
        d[j + 8] = radius * sinf(theta);
    }
}

void rng_randn_fill(Rng *r, float *out, size_t n) {
    if (n < 16) {
        for (size_t i = 0; i < n; i++) out[i] = (float)normal_double(r);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = rng_rand_float(r);
    for (size_t i = 0; i + 16 <= n; i += 16) normal_fill_16(out + i);
    if (n % 16) {
        // torch redraws the last 16 values (overlapping the previous block) and transforms them
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = rng_rand_float(r);
        normal_fill_16(tail);
    }
}

void rng_randint_fill(Rng *r, int64_t *out, size_t n, int64_t lo, int64_t hi) {
    uint64_t range = (uint64_t)(hi - lo);
    for (size_t i = 0; i < n; i++) {
        // torch random_from_to: 32-bit draw when the range fits in 32 bits, else 64-bit
        uint64_t v = range >= (1ull << 32) ? rng_u64(r) : rng_u32(r);
        out[i] = lo + (int64_t)(v % range);
    }
}
