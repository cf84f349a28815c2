// harness.h — the tiny test harness every tests/test_*.c uses.
//
// A test file defines void functions and runs them from main():
//     int main(void) { RUN(test_roundtrip); RUN(test_bad_header); return test_finish(); }
// RUN prints "ok <name>" or "FAIL <name>" (after the failing CHECK lines); tests/run.sh
// adds the lines of all test programs into the final "N passed, N failed".
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include "base/rng.h"
#include "io/safetensors.h"

extern int test_current_failures;

#define CHECK(cond) \
    do { if (!(cond)) { test_current_failures++; fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECKF(cond, ...) \
    do { if (!(cond)) { test_current_failures++; fprintf(stderr, "  %s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
                        fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

void test_run(const char *name, void (*fn)(void));
#define RUN(fn) test_run(#fn, fn)
// Prints this program's totals; returns the exit status for main.
int test_finish(void);
// True when SDLORA_TEST_QUICK=1 (skip the slow real-SD-shape cases, e.g. under ASan).
int test_quick(void);

// ---- numeric helpers ----
// Fills with N(0, scale^2) from a torch-compatible generator seeded with `seed`.
void fill_randn(float *x, int64_t n, float scale, uint64_t seed);
void fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed);
float *alloc_floats(int64_t n);       // zeroed, aborts on failure; free with free()
float *alloc_randn(int64_t n, float scale, uint64_t seed);
double max_abs_diff(const float *a, const float *b, int64_t n);
double max_abs(const float *a, int64_t n);
// Normalised mean squared error: sum (a-b)^2 / sum b^2 (b is the reference).
double nmse(const float *a, const float *ref, int64_t n);
double dot_double(const float *a, const float *b, int64_t n);
// ---- golden files (tests/golden, or $SDLORA_GOLDEN_DIR) ----
// "<golden dir>/<rel>" into buf.
const char *golden_path(char *buf, size_t cap, const char *rel);
// A golden tensor converted to a fresh float array (free()); a missing tensor is a failed CHECK
// and NULL. numel may be NULL.
float *golden_tensor(const SafeTensors *st, const char *name, int64_t *numel);
// Checks max |a-b| <= atol + rtol*max|ref| and reports both values on failure.
int check_close(const char *what, const float *a, const float *ref, int64_t n, double atol, double rtol);
