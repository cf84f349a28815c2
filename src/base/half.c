// half.c — bit-exact fp16/bf16 conversion in portable C (the compiler vectorises the loops;
// F16C would be faster for fp16 but this is not on a hot path yet).
#include "base/half.h"
#include <string.h>

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13)); // Inf / NaN (payload kept)
    if (exp == 0) {
        // zero or subnormal: value = man * 2^-24, exact in fp32
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t fp32_to_fp16(float f) {
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) // Inf or NaN; NaN keeps its top payload bits and stays quiet
        return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? (0x200 | ((ax >> 13) & 0x3ff)) : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); // rounds to >= 65520 -> Inf
    if (ax < 0x38800000u) {
        // result is fp16 subnormal or zero: scale so the integer part is the mantissa;
        // the fp32 addition rounds to nearest even for us.
        float v = bits_f32(ax) + 0.5f; // 0.5 = 2^-1 puts 2^-24 at the last mantissa bit
        return (uint16_t)(sign | (f32_bits(v) - 0x3f000000u));
    }
    uint32_t mant_odd = (ax >> 13) & 1;
    ax += 0xc8000fffu + mant_odd; // rebias exponent (-112 << 23) and round to nearest even
    return (uint16_t)(sign | (ax >> 13));
}

float bf16_to_fp32(uint16_t b) { return bits_f32((uint32_t)b << 16); }

uint16_t fp32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); // quiet NaN
    x += 0x7fffu + ((x >> 16) & 1); // round to nearest even; overflow carries into Inf correctly
    return (uint16_t)(x >> 16);
}

void fp16_to_fp32_array(float *dst, const uint16_t *src, size_t n) { for (size_t i = 0; i < n; i++) dst[i] = fp16_to_fp32(src[i]); }
void fp32_to_fp16_array(uint16_t *dst, const float *src, size_t n) { for (size_t i = 0; i < n; i++) dst[i] = fp32_to_fp16(src[i]); }
void bf16_to_fp32_array(float *dst, const uint16_t *src, size_t n) { for (size_t i = 0; i < n; i++) dst[i] = bf16_to_fp32(src[i]); }
void fp32_to_bf16_array(uint16_t *dst, const float *src, size_t n) { for (size_t i = 0; i < n; i++) dst[i] = fp32_to_bf16(src[i]); }
