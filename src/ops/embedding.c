// embedding.c — the sinusoidal timestep embedding (see embedding.h for the rounding contract).
// N·dim is tiny (a few timesteps x 320), so this is a plain loop: no threads, no scratch.
#include "ops/embedding.h"
#include "base/profile.h"
#include <math.h>

void timestep_embedding(float *out, const float *timesteps, int64_t N, int64_t dim,
                        int flip_sin_to_cos, float downscale_freq_shift, float max_period) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    int64_t half = dim / 2;
    // torch: (-math.log(max_period)) * arange(half, dtype=float32) — the Python double scalar
    // is cast to float32 and the product rounded to float32; likewise the divisor.
    float neg_log_period = (float)(-log((double)max_period));
    float denom = (float)((double)half - (double)downscale_freq_shift);
    for (int64_t n = 0; n < N; n++) {
        float t = timesteps[n];
        float *o = out + n * dim; // (dim)
        for (int64_t i = 0; i < half; i++) {
            float exponent = (neg_log_period * (float)i) / denom;
            float freq = (float)exp((double)exponent);
            float arg = t * freq;
            float s = (float)sin((double)arg), c = (float)cos((double)arg);
            o[flip_sin_to_cos ? half + i : i] = s;
            o[flip_sin_to_cos ? i : half + i] = c;
        }
        if (dim % 2) o[dim - 1] = 0.0f;
    }
}
