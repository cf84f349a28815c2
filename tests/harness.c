// harness.c — see harness.h.
#include "harness.h"
#include <stdlib.h>
#include <string.h>

int test_current_failures;
static int n_passed, n_failed;

void test_run(const char *name, void (*fn)(void)) {
    test_current_failures = 0;
    fn();
    if (test_current_failures) { printf("FAIL %s\n", name); n_failed++; }
    else { printf("ok %s\n", name); n_passed++; }
    fflush(stdout);
}

int test_finish(void) {
    fprintf(stderr, "  (%d passed, %d failed)\n", n_passed, n_failed);
    return n_failed ? 1 : 0;
}

int test_quick(void) {
    const char *q = getenv("SDLORA_TEST_QUICK");
    return q && strcmp(q, "1") == 0;
}

void fill_randn(float *x, int64_t n, float scale, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    rng_randn_fill(&r, x, (size_t)n);
    if (scale != 1.0f) for (int64_t i = 0; i < n; i++) x[i] *= scale;
}

void fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_rand_float(&r);
}

float *alloc_floats(int64_t n) {
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!p) { fprintf(stderr, "test: out of memory (%lld floats)\n", (long long)n); abort(); }
    return p;
}

float *alloc_randn(int64_t n, float scale, uint64_t seed) {
    float *p = alloc_floats(n);
    fill_randn(p, n, scale, seed);
    return p;
}

double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; // NaN propagates
    }
    return m;
}

double max_abs(const float *a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) if (!(fabs(a[i]) <= m)) m = fabs(a[i]);
    return m;
}

double nmse(const float *a, const float *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}

double dot_double(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

int check_close(const char *what, const float *a, const float *ref, int64_t n, double atol, double rtol) {
    double diff = max_abs_diff(a, ref, n), mag = max_abs(ref, n);
    double tol = atol + rtol * mag;
    if (!(diff <= tol)) {
        test_current_failures++;
        fprintf(stderr, "  %s: max abs diff %.3g > tolerance %.3g (max |ref| %.3g, n=%lld)\n", what, diff, tol, mag, (long long)n);
        return 0;
    }
    return 1;
}

const char *golden_path(char *buf, size_t cap, const char *rel) {
    const char *d = getenv("SDLORA_GOLDEN_DIR");
    snprintf(buf, cap, "%s/%s", d ? d : "tests/golden", rel);
    return buf;
}

float *golden_tensor(const SafeTensors *st, const char *name, int64_t *numel) {
    const StTensor *t = st_find(st, name);
    CHECKF(t != NULL, "golden tensor %s missing from %s", name, st->path);
    if (!t) return NULL;
    float *x = alloc_floats(t->numel);
    CHECK(st_tensor_to_f32(st, t, x) == SDL_OK);
    if (numel) *numel = t->numel;
    return x;
}
