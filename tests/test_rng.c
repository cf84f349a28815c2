// test_rng.c — base/rng against PyTorch's CPU generator: every value must be bit-identical to
// the goldens in tests/golden/rng.safetensors (tools/oracle/make_rng_goldens.py, torch 2.5.1):
// torch.rand, torch.randn through both of torch's kernels (vectorised AVX2 and portable),
// torch.rand float64, torch.randint (32- and 64-bit draws), and call sequences that share one
// generator (including the normal torch caches between randn calls of fewer than 16 values).
// The golden directory is tests/golden under the repo root, or $SDLORA_GOLDEN_DIR.
#include "harness.h"
#include "base/rng.h"
#include "io/safetensors.h"
#include <stdlib.h>
#include <string.h>

static const uint64_t SEEDS[] = {0, 42, 4294967301ull}; // 2**32 + 5: only the low 32 bits seed MT
static const size_t SIZES[] = {1, 5, 15, 16, 17, 100, 4 * 64 * 64};
#define NSEEDS (sizeof SEEDS / sizeof SEEDS[0])
#define NSIZES (sizeof SIZES / sizeof SIZES[0])

static SafeTensors g_st;
static int g_open;

// The golden tensor `name` with the expected dtype and element count, or NULL (and a failure).
static const StTensor *golden(const char *name, StDtype dt, int64_t numel) {
    if (!g_open) { CHECKF(0, "golden file not open"); return NULL; }
    const StTensor *t = st_find(&g_st, name);
    CHECKF(t != NULL, "tensor %s missing from the golden file", name);
    if (!t) return NULL;
    CHECKF(t->dtype == dt && t->numel == numel, "%s: dtype %s numel %lld, want %s %lld", name,
           st_dtype_name(t->dtype), (long long)t->numel, st_dtype_name(dt), (long long)numel);
    return t->dtype == dt && t->numel == numel ? t : NULL;
}

// Distance in float ulps (same-sign values; a sign difference counts as huge).
static int64_t ulp_dist(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if ((ia < 0) != (ib < 0)) return a == b ? 0 : INT32_MAX;
    return llabs((long long)ia - ib);
}

// Bit-exact float comparison; on mismatch reports how many differ and by how many ulps.
static void check_bits_f32(const char *what, const float *got, const StTensor *ref) {
    if (!ref) return;
    float *want = alloc_floats(ref->numel);
    memcpy(want, ref->data, (size_t)ref->numel * 4); // mapping may be unaligned for float access
    int64_t bad = 0, worst = 0, first = -1;
    for (int64_t i = 0; i < ref->numel; i++) {
        if (memcmp(&got[i], &want[i], 4) != 0) {
            if (first < 0) first = i;
            bad++;
            int64_t d = ulp_dist(got[i], want[i]);
            if (d > worst) worst = d;
        }
    }
    CHECKF(bad == 0, "%s: %lld of %lld values differ (max %lld ulp; first at %lld: got %.9g want %.9g)",
           what, (long long)bad, (long long)ref->numel, (long long)worst, (long long)first,
           first >= 0 ? got[first] : 0.0, first >= 0 ? want[first] : 0.0);
    free(want);
}

static void check_i64(const char *what, const int64_t *got, const StTensor *ref) {
    if (!ref) return;
    for (int64_t i = 0; i < ref->numel; i++) {
        int64_t w;
        memcpy(&w, (const char *)ref->data + 8 * i, 8);
        CHECKF(got[i] == w, "%s[%lld]: got %lld want %lld", what, (long long)i, (long long)got[i], (long long)w);
    }
}

// The MT19937 reference value (C++11 [rand.predef]): the 10000th output for seed 5489.
static void test_mt19937_reference(void) {
    Rng r;
    rng_seed(&r, 5489);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++) v = rng_u32(&r);
    CHECKF(v == 4123659995u, "got %u", v);
}

static void test_rand(void) {
    char name[64];
    float *buf = alloc_floats(4 * 64 * 64);
    for (size_t s = 0; s < NSEEDS; s++)
        for (size_t k = 0; k < NSIZES; k++) {
            Rng r;
            rng_seed(&r, SEEDS[s]);
            rng_rand_fill(&r, buf, SIZES[k]);
            snprintf(name, sizeof name, "rand_s%llu_n%zu", (unsigned long long)SEEDS[s], SIZES[k]);
            check_bits_f32(name, buf, golden(name, ST_F32, (int64_t)SIZES[k]));
        }
    free(buf);
}

static void check_randn_table(const char *prefix, void (*fill)(Rng *, float *, size_t)) {
    char name[64];
    float *buf = alloc_floats(4 * 64 * 64);
    for (size_t s = 0; s < NSEEDS; s++)
        for (size_t k = 0; k < NSIZES; k++) {
            Rng r;
            rng_seed(&r, SEEDS[s]);
            fill(&r, buf, SIZES[k]);
            snprintf(name, sizeof name, "%s_s%llu_n%zu", prefix, (unsigned long long)SEEDS[s], SIZES[k]);
            check_bits_f32(name, buf, golden(name, ST_F32, (int64_t)SIZES[k]));
        }
    free(buf);
}

// torch on an AVX2 CPU (the goldens' machine): Cephes polynomials, reproduced exactly.
static void test_randn_vectorised(void) { check_randn_table("randn", rng_randn_fill); }
// torch's portable kernel: libm logf/cosf/sinf, bit-exact where libm is glibc's.
static void test_randn_generic(void) { check_randn_table("randn_generic", rng_randn_fill_generic); }

static void test_rand_double(void) {
    char name[64];
    for (size_t s = 0; s < NSEEDS; s++) {
        Rng r;
        rng_seed(&r, SEEDS[s]);
        snprintf(name, sizeof name, "rand_f64_s%llu", (unsigned long long)SEEDS[s]);
        const StTensor *t = golden(name, ST_F64, 7);
        for (int i = 0; t && i < 7; i++) {
            double want, got = rng_rand_double(&r);
            memcpy(&want, (const char *)t->data + 8 * i, 8);
            CHECKF(memcmp(&got, &want, 8) == 0, "%s[%d]: got %.17g want %.17g", name, i, got, want);
        }
    }
}

static void test_randint_64bit(void) {
    char name[64];
    for (size_t s = 0; s < NSEEDS; s++) {
        Rng r;
        rng_seed(&r, SEEDS[s]);
        int64_t got[6];
        rng_randint_fill(&r, got, 6, 0, 1ll << 40);
        snprintf(name, sizeof name, "randint_big_s%llu", (unsigned long long)SEEDS[s]);
        check_i64(name, got, golden(name, ST_I64, 6));
    }
}

// One generator through randn / rand / randint / randn, as a training step draws them.
static void test_sequences(void) {
    float f[20];
    int64_t ints[8];
    Rng r;
    rng_seed(&r, 42);
    rng_randn_fill(&r, f, 5);
    check_bits_f32("seqA_randn5", f, golden("seqA_randn5", ST_F32, 5));
    rng_rand_fill(&r, f, 7);
    check_bits_f32("seqA_rand7", f, golden("seqA_rand7", ST_F32, 7));
    rng_randint_fill(&r, ints, 8, 0, 1000);
    check_i64("seqA_randint8", ints, golden("seqA_randint8", ST_I64, 8));
    rng_randn_fill(&r, f, 3);
    check_bits_f32("seqA_randn3", f, golden("seqA_randn3", ST_F32, 3));

    rng_seed(&r, 42);
    rng_randn_fill(&r, f, 20);
    check_bits_f32("seqB_randn20", f, golden("seqB_randn20", ST_F32, 20));
    rng_rand_fill(&r, f, 3);
    check_bits_f32("seqB_rand3", f, golden("seqB_rand3", ST_F32, 3));
    rng_randint_fill(&r, ints, 8, 0, 1000);
    check_i64("seqB_randint8", ints, golden("seqB_randint8", ST_I64, 8));
    rng_randn_fill(&r, f, 17);
    check_bits_f32("seqB_randn17", f, golden("seqB_randn17", ST_F32, 17));
}

// A latent-shaped draw is the flat draw of its element count (row-major).
static void test_randn_shape(void) {
    float *buf = alloc_floats(2 * 4 * 8 * 8);
    Rng r;
    rng_seed(&r, 0);
    rng_randn_fill(&r, buf, 2 * 4 * 8 * 8);
    const StTensor *t = golden("randn_shape_2x4x8x8", ST_F32, 2 * 4 * 8 * 8);
    if (t) CHECK(t->ndim == 4 && t->shape[0] == 2 && t->shape[1] == 4 && t->shape[2] == 8 && t->shape[3] == 8);
    check_bits_f32("randn_shape_2x4x8x8", buf, t);
    free(buf);
}

// Reseeding resets the cached normal, as torch.manual_seed does.
static void test_reseed_clears_cache(void) {
    float a[3], b[3];
    Rng r;
    rng_seed(&r, 7);
    rng_randn_fill(&r, a, 3); // leaves one normal cached
    rng_seed(&r, 7);
    rng_randn_fill(&r, b, 3);
    CHECK(memcmp(a, b, sizeof a) == 0);
}

int main(void) {
    char path[1024];
    golden_path(path, sizeof path, "rng.safetensors");
    g_open = st_open(&g_st, path) == SDL_OK;
    if (!g_open) {
        sdl_error_print(stderr);
        fprintf(stderr, "  (run from the repo root, or set SDLORA_GOLDEN_DIR to the folder holding rng.safetensors)\n");
    }
    RUN(test_mt19937_reference);
    RUN(test_rand);
    RUN(test_randn_vectorised);
    RUN(test_randn_generic);
    RUN(test_rand_double);
    RUN(test_randint_64bit);
    RUN(test_sequences);
    RUN(test_randn_shape);
    RUN(test_reseed_clears_cache);
    if (g_open) st_close(&g_st);
    return test_finish();
}
