// test_half.c — fp16/bf16 conversion: exhaustive over all 65536 fp16 and bf16 codes, and over
// a large sweep of fp32 values, against the compiler's own _Float16 conversion (hardware
// F16C / IEEE round-to-nearest-even) and a double-precision bf16 rounding reference.
#include "harness.h"
#include "base/half.h"
#include <string.h>

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static int same_value(float a, float b) { return (isnan(a) && isnan(b)) || fbits(a) == fbits(b); }

static void test_fp16_to_fp32_exhaustive(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        _Float16 hf;
        uint16_t hb = (uint16_t)h;
        memcpy(&hf, &hb, 2);
        float ref = (float)hf;
        float got = fp16_to_fp32((uint16_t)h);
        if (!same_value(got, ref) && bad++ < 5) fprintf(stderr, "  fp16 %04x: got %a want %a\n", h, got, ref);
        // round trip back must reproduce the code (NaNs: any NaN)
        uint16_t back = fp32_to_fp16(got);
        if (!isnan(got) && back != h && bad++ < 5) fprintf(stderr, "  fp16 %04x round trip gave %04x\n", h, back);
    }
    CHECK(bad == 0);
}

static void test_fp32_to_fp16_sweep(void) {
    int bad = 0;
    // every 97th fp32 bit pattern covers all exponents, halfway cases by construction below
    for (uint64_t u = 0; u <= 0xffffffffull; u += 97) {
        float f = bitsf((uint32_t)u);
        _Float16 ref = (_Float16)f;
        uint16_t refb;
        memcpy(&refb, &ref, 2);
        uint16_t got = fp32_to_fp16(f);
        int ok = isnan(f) ? ((got & 0x7c00) == 0x7c00 && (got & 0x3ff) != 0 && (got >> 15) == (refb >> 15)) : got == refb;
        if (!ok && bad++ < 5) fprintf(stderr, "  fp32 %08x (%a): got %04x want %04x\n", (uint32_t)u, f, got, refb);
    }
    // exact halfway points between adjacent fp16 values must round to even
    for (uint32_t h = 0; h < 0x7bff; h++) {
        double lo = fp16_to_fp32((uint16_t)h), hi = fp16_to_fp32((uint16_t)(h + 1));
        float mid = (float)((lo + hi) / 2);
        if ((double)mid != (lo + hi) / 2) continue; // not representable in fp32
        uint16_t want = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        if (fp32_to_fp16(mid) != want && bad++ < 5) fprintf(stderr, "  halfway above %04x: got %04x want %04x\n", h, fp32_to_fp16(mid), want);
        if (fp32_to_fp16(-mid) != (want | 0x8000) && bad++ < 5) fprintf(stderr, "  -halfway above %04x wrong\n", h);
    }
    CHECK(bad == 0);
    CHECK(fp32_to_fp16(65519.0f) == 0x7bff);
    CHECK(fp32_to_fp16(65520.0f) == 0x7c00);      // rounds up to Inf
    CHECK(fp32_to_fp16(1e-8f) == 0x0000);          // below half the smallest subnormal
    CHECK(fp32_to_fp16(0x1p-24f) == 0x0001);       // smallest subnormal
    CHECK(fp32_to_fp16(0x1p-25f) == 0x0000);       // exactly half: ties to even (0)
    CHECK(fp32_to_fp16(-INFINITY) == 0xfc00);
    CHECK(fp32_to_fp16(-0.0f) == 0x8000);
}

// bf16 reference: the nearest bf16 to f in double arithmetic, ties to even.
static uint16_t bf16_reference(float f) {
    uint32_t x = fbits(f);
    uint16_t lo = (uint16_t)(x >> 16);
    if ((x & 0xffff) == 0) return lo;
    uint16_t hi = (uint16_t)(lo + 1);
    double d = f, dlo = bitsf((uint32_t)lo << 16), dhi = bitsf((uint32_t)hi << 16);
    if (isinf(dhi) || isnan(dhi)) dhi = copysign(INFINITY, d);
    double elo = fabs(d - dlo), ehi = fabs(dhi - d);
    if ((x & 0x7f800000u) == 0x7f000000u && (lo & 0x7f) == 0x7f) {
        // beyond the largest finite bf16: rounds to Inf iff at or past the halfway point
        return (x & 0xffff) >= 0x8000 && !((x & 0xffff) == 0x8000 && !(lo & 1)) ? hi : lo;
    }
    if (elo < ehi) return lo;
    if (ehi < elo) return hi;
    return (lo & 1) ? hi : lo;
}

static void test_bf16(void) {
    int bad = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = bf16_to_fp32((uint16_t)b);
        if (fbits(f) != b << 16 && bad++ < 5) fprintf(stderr, "  bf16 %04x widened wrong\n", b);
        if (!isnan(f) && fp32_to_bf16(f) != b && bad++ < 5) fprintf(stderr, "  bf16 %04x round trip wrong\n", b);
    }
    for (uint64_t u = 0; u <= 0xffffffffull; u += 101) {
        float f = bitsf((uint32_t)u);
        uint16_t got = fp32_to_bf16(f);
        if (isnan(f)) {
            if (!isnan(bf16_to_fp32(got)) && bad++ < 5) fprintf(stderr, "  NaN %08x became %04x\n", (uint32_t)u, got);
            continue;
        }
        if (got != bf16_reference(f) && bad++ < 5) fprintf(stderr, "  fp32 %08x: got %04x want %04x\n", (uint32_t)u, got, bf16_reference(f));
    }
    CHECK(bad == 0);
    CHECK(fp32_to_bf16(bitsf(0x3f808000u)) == 0x3f80); // tie, even stays
    CHECK(fp32_to_bf16(bitsf(0x3f818000u)) == 0x3f82); // tie, odd rounds up
    CHECK(fp32_to_bf16(bitsf(0x7f7fffffu)) == 0x7f80); // FLT_MAX rounds to Inf
}

static void test_arrays(void) {
    float x[5] = {0.1f, -2.5f, 65504.0f, 1e-7f, NAN};
    uint16_t h[5], b[5];
    float y[5];
    fp32_to_fp16_array(h, x, 5);
    fp16_to_fp32_array(y, h, 5);
    for (int i = 0; i < 5; i++) CHECK(same_value(y[i], fp16_to_fp32(fp32_to_fp16(x[i]))));
    fp32_to_bf16_array(b, x, 5);
    bf16_to_fp32_array(y, b, 5);
    for (int i = 0; i < 5; i++) CHECK(same_value(y[i], bf16_to_fp32(fp32_to_bf16(x[i]))));
    CHECK(isnan(y[4]));
}

int main(void) {
    RUN(test_fp16_to_fp32_exhaustive);
    RUN(test_fp32_to_fp16_sweep);
    RUN(test_bf16);
    RUN(test_arrays);
    return test_finish();
}
