// gradcheck.c — see gradcheck.h.
#include "gradcheck.h"
#include "harness.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// x <- x0 + t*u for the whole buffer (x0 kept by the caller).
static void set_along(float *x, const float *x0, const float *u, int64_t n, double t) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)((double)x0[i] + t * u[i]);
}

int gradcheck_dir(const char *what, GradLossFn L, void *ctx, float *x, const float *grad, int64_t n,
                  float eps, double rtol, int trials, uint64_t seed) {
    float *x0 = alloc_floats(n), *u = alloc_floats(n);
    memcpy(x0, x, (size_t)n * sizeof(float));
    double gnorm = sqrt(dot_double(grad, grad, n));
    int ok = 1;
    for (int t = 0; t < trials; t++) {
        fill_randn(u, n, 1.0f, seed + 7919u * (uint64_t)t);
        // Round the direction so x0 + k*eps*u is what the op really sees (exact steps).
        double f[4], steps[4] = {2, 1, -1, -2};
        for (int s = 0; s < 4; s++) {
            set_along(x, x0, u, n, steps[s] * eps);
            f[s] = L(ctx);
        }
        double numeric = (8.0 * (f[1] - f[2]) - (f[0] - f[3])) / (12.0 * eps);
        double analytic = dot_double(grad, u, n);
        double scale = fmax(fabs(analytic), gnorm);
        if (!(fabs(numeric - analytic) <= rtol * scale)) {
            fprintf(stderr, "  gradcheck %s: direction %d: numeric %.6g vs analytic %.6g (|grad| %.3g, rel err %.3g > %.3g)\n",
                    what, t, numeric, analytic, gnorm, fabs(numeric - analytic) / scale, rtol);
            ok = 0;
        }
    }
    memcpy(x, x0, (size_t)n * sizeof(float));
    free(x0);
    free(u);
    if (!ok) test_current_failures++;
    return ok;
}

int gradcheck_coords(const char *what, GradLossFn L, void *ctx, float *x, const float *grad, int64_t n,
                     float eps, double atol, double rtol, int count, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    int all = count >= n, ok = 1, reported = 0;
    int64_t m = all ? n : count;
    for (int64_t c = 0; c < m; c++) {
        int64_t i = all ? c : (int64_t)(rng_u64(&r) % (uint64_t)n);
        float xi = x[i];
        double f[4], steps[4] = {2, 1, -1, -2};
        for (int s = 0; s < 4; s++) {
            x[i] = (float)((double)xi + steps[s] * eps);
            f[s] = L(ctx);
        }
        x[i] = xi;
        double numeric = (8.0 * (f[1] - f[2]) - (f[0] - f[3])) / (12.0 * eps);
        if (!(fabs(numeric - grad[i]) <= atol + rtol * fabs(grad[i]))) {
            if (reported++ < 5)
                fprintf(stderr, "  gradcheck %s[%lld]: numeric %.6g vs analytic %.6g\n", what, (long long)i, numeric, grad[i]);
            ok = 0;
        }
    }
    if (!ok) test_current_failures++;
    return ok;
}
