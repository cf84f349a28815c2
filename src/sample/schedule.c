// schedule.c — SD noise schedule, spacings, Karras sigmas, σ↔t, parameterisations, CFG.
// See schedule.h; every formula cites the diffusers 0.31 scheduler it reproduces.
#include "sample/schedule.h"

#include <math.h>
#include <pthread.h>

void noise_schedule_init_sd(NoiseSchedule *s) {
    // diffusers: betas = torch.linspace(√0.00085, √0.012, 1000, dtype=float32) ** 2.
    // torch's CPU linspace computes start + step·i for i < n/2 and end − step·(n−1−i) above,
    // step = (end − start)/(n − 1) in float32, each value rounded once (the compiler fuses
    // the multiply-add). In double, step·i (24-bit × 10-bit) and the sum (< 34 significant
    // bits here) are exact, so one cast to float reproduces torch bit for bit (checked
    // against the oracle's alphas_cumprod in tests/test_samplers.c).
    const int64_t n = SCHED_TRAIN_STEPS;
    const float start = (float)sqrt(0.00085), end = (float)sqrt(0.012);
    const float step = (end - start) / (float)(n - 1);
    const int64_t halfway = n / 2;
    double prod = 1.0;
    for (int64_t i = 0; i < n; i++) {
        float root = i < halfway ? (float)((double)start + (double)step * (double)i)
                                 : (float)((double)end - (double)step * (double)(n - 1 - i));
        float beta = root * root;            // float32 square, as `** 2` on the tensor
        float alpha = 1.0f - beta;           // float32 `1.0 - betas`
        // torch.cumprod on CPU accumulates in double (acc_type<float>) and stores float.
        prod *= (double)alpha;
        s->alphas_cumprod[i] = (double)(float)prod;
    }
    for (int64_t i = 0; i < n; i++) {
        double ac = s->alphas_cumprod[i];
        // ((1 − ᾱ)/ᾱ) ** 0.5 in float32, each op rounded (1 − ᾱ is inexact for ᾱ < 0.5).
        // torch's `** 0.5` still differs from sqrtf by 1 ulp for ~19% of t (its pow kernel
        // is not correctly rounded), so σ agrees to 1 ulp, not bit for bit.
        float one_minus = 1.0f - (float)ac;
        float q = one_minus / (float)ac;
        s->sigmas[i] = (double)sqrtf(q);
        // np.log of the float32 array is float32: the log table itself is rounded, which
        // moves _sigma_to_t's fractional t by up to ~3e-5 if kept in double.
        s->log_sigmas[i] = (double)(float)log(s->sigmas[i]);
    }
}

static NoiseSchedule g_sd_schedule;
static pthread_once_t g_sd_once = PTHREAD_ONCE_INIT;
static void init_g_sd(void) { noise_schedule_init_sd(&g_sd_schedule); }

const NoiseSchedule *noise_schedule_sd(void) {
    pthread_once(&g_sd_once, init_g_sd);
    return &g_sd_schedule;
}

double np_linspace_at(double start, double stop, int64_t num, int64_t i) {
    // numpy.linspace: step = (stop − start)/(num − 1); y = arange(num)·step + start;
    // y[−1] = stop. num == 1 gives [start].
    if (num <= 1) return start;
    if (i == num - 1) return stop;
    double step = (stop - start) / (double)(num - 1);
    return (double)i * step + start;
}

double np_round(double x) { return nearbyint(x); }  // default rounding mode: half to even

int64_t spacing_timesteps(TimestepSpacing sp, int64_t steps, int64_t steps_offset,
                          int linspace_float, double *out) {
    const int64_t T = SCHED_TRAIN_STEPS;
    switch (sp) {
    case SPACING_LINSPACE:
        // np.linspace(0, T−1, N)[::-1]: Euler-family keep it as float32, DDIM/PNDM round.
        for (int64_t i = 0; i < steps; i++) {
            double v = np_linspace_at(0.0, (double)(T - 1), steps, steps - 1 - i);
            out[i] = linspace_float ? (double)(float)v : np_round(v);
        }
        return steps;
    case SPACING_LEADING: {
        int64_t ratio = T / steps;   // integer division, as diffusers
        for (int64_t i = 0; i < steps; i++) out[i] = (double)((steps - 1 - i) * ratio + steps_offset);
        return steps;
    }
    case SPACING_TRAILING: {
        // np.arange(T, 0, −T/N): length ceil((0 − T)/(−T/N)), values T + k·(−T/N).
        double ratio = (double)T / (double)steps;
        int64_t len = (int64_t)ceil((0.0 - (double)T) / -ratio);
        for (int64_t k = 0; k < len; k++) out[k] = np_round((double)T + (double)k * -ratio) - 1.0;
        return len;
    }
    }
    return 0;
}

double schedule_t_to_sigma(const NoiseSchedule *s, double t) {
    // numpy.interp(t, arange(1000), sigmas): slope·(t − j) + σ_j on [j, j+1]; ends clamp.
    const int64_t n = SCHED_TRAIN_STEPS;
    if (!(t > 0.0)) return s->sigmas[0];
    if (t >= (double)(n - 1)) return s->sigmas[n - 1];
    int64_t j = (int64_t)floor(t);
    double slope = (s->sigmas[j + 1] - s->sigmas[j]) / 1.0;
    return slope * (t - (double)j) + s->sigmas[j];
}

double schedule_sigma_to_t(const NoiseSchedule *s, double sigma) {
    // diffusers _sigma_to_t: low = the last index whose log σ ≤ log sigma (0 if none),
    // at most 998; w = (low − ls)/(low − high) clipped to [0, 1]; t = (1−w)·low + w·high.
    const int64_t n = SCHED_TRAIN_STEPS;
    double ls = log(fmax(sigma, 1e-10));
    int64_t low = 0;
    for (int64_t i = 0; i < n; i++)
        if (ls - s->log_sigmas[i] >= 0) low = i;
    if (low > n - 2) low = n - 2;
    double lo = s->log_sigmas[low], hi = s->log_sigmas[low + 1];
    double w = (lo - ls) / (lo - hi);
    if (w < 0) w = 0;
    if (w > 1) w = 1;
    return (1.0 - w) * (double)low + w * (double)(low + 1);
}

void karras_sigmas(double sigma_min, double sigma_max, int64_t n, double rho, double *out) {
    // diffusers _convert_to_karras: ramp = np.linspace(0, 1, n).
    double min_inv = pow(sigma_min, 1.0 / rho), max_inv = pow(sigma_max, 1.0 / rho);
    for (int64_t i = 0; i < n; i++) {
        double ramp = np_linspace_at(0.0, 1.0, n, i);
        out[i] = pow(max_inv + ramp * (min_inv - max_inv), rho);
    }
}

void pred_x0_vp(float *x0, const float *x_t, const float *model_out, double alpha_prod,
                Prediction p, int64_t n) {
    // sd-formats §5.2: eps: x₀ = (x_t − √(1−ᾱ)·ε)/√ᾱ; v: x₀ = √ᾱ·x_t − √(1−ᾱ)·v.
    float sa = (float)sqrt(alpha_prod), sb = (float)sqrt(1.0 - alpha_prod);
    if (p == PRED_V) {
        for (int64_t i = 0; i < n; i++) x0[i] = sa * x_t[i] - sb * model_out[i];
    } else {
        for (int64_t i = 0; i < n; i++) x0[i] = (x_t[i] - sb * model_out[i]) / sa;
    }
}

void pred_x0_sigma(float *x0, const float *x, const float *model_out, double sigma,
                   Prediction p, int64_t n) {
    // eps: D = x − σ·ε; v: D = v·(−σ/√(σ²+1)) + x/(σ²+1)  (diffusers Euler step).
    if (p == PRED_V) {
        float c_out = (float)(-sigma / sqrt(sigma * sigma + 1.0));
        float c_skip_div = (float)(sigma * sigma + 1.0);
        for (int64_t i = 0; i < n; i++) x0[i] = model_out[i] * c_out + x[i] / c_skip_div;
    } else {
        float s = (float)sigma;
        for (int64_t i = 0; i < n; i++) x0[i] = x[i] - s * model_out[i];
    }
}

void cfg_combine(float *out, const float *uncond, const float *cond, double scale, int64_t n) {
    // sd-formats §5.5: linear in the model output, so the same in ε, v or x₀ space.
    float s = (float)scale;
    for (int64_t i = 0; i < n; i++) out[i] = uncond[i] + s * (cond[i] - uncond[i]);
}
