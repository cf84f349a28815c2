// gradcheck.h — finite-difference gradient checks, independent of any reference framework.
//
// The op under test is seen as a scalar function L(x) = sum(dout ⊙ f(x)) (computed in double
// by the test's callback, for a fixed random dout); backward(dout) must then give dL/dx.
// Both checks perturb the buffer x in place and restore it bit-exactly afterwards.
#pragma once
#include <stdint.h>

typedef double (*GradLossFn)(void *ctx);

// Directional check: for `trials` random directions u (unit variance per element), compares
// <grad, u> with the 4-point central difference of L along u at step eps. Passes when
// |numeric - analytic| <= rtol * max(|analytic|, ||grad||_2). Catches any wrong gradient
// component at the cost of 4 forwards per trial, so it works at full SD shapes.
int gradcheck_dir(const char *what, GradLossFn L, void *ctx, float *x, const float *grad, int64_t n,
                  float eps, double rtol, int trials, uint64_t seed);
// Per-coordinate check of `count` random coordinates (all if count >= n):
// |numeric - analytic| <= atol + rtol * |analytic|.
int gradcheck_coords(const char *what, GradLossFn L, void *ctx, float *x, const float *grad, int64_t n,
                     float eps, double atol, double rtol, int count, uint64_t seed);
