// objective.c — kohya's noise, timesteps, forward process, targets and losses (objective.h).
//
// Float32 tensors are computed op by op as torch evaluates kohya's expressions: a Python
// float meeting a float32 tensor is first rounded to float, and every product and sum is
// rounded (the build uses -std=c11, so the compiler does not fuse a*b + c into an FMA).
#include "train/objective.h"
#include <math.h>
#include <string.h>
#include "base/mem.h"
#include "sample/schedule.h"

ObjectiveConfig objective_config_default(void) {
    return (ObjectiveConfig){.multires_noise_discount = 0.3, .min_timestep = 0, .max_timestep = 1000,
                             .loss_type = LOSS_L2, .huber_schedule = HUBER_SNR, .huber_c = 0.1, .huber_scale = 1.0};
}

static const char *const LOSS_NAMES[] = {"l2", "l1", "huber", "smooth_l1"};
static const char *const HUBER_NAMES[] = {"snr", "exponential", "constant"};

SdlStatus loss_type_parse(const char *name, LossType *out) {
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, LOSS_NAMES[i]) == 0) return *out = (LossType)i, SDL_OK;
    return sdl_fail(SDL_ERR_ARG, NULL, "use one of l2, l1, huber, smooth_l1 (kohya's --loss_type)",
                    "unknown --loss_type '%s'", name ? name : "");
}

SdlStatus huber_schedule_parse(const char *name, HuberSchedule *out) {
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, HUBER_NAMES[i]) == 0) return *out = (HuberSchedule)i, SDL_OK;
    return sdl_fail(SDL_ERR_ARG, NULL, "use one of snr, exponential, constant (kohya's --huber_schedule)",
                    "unknown --huber_schedule '%s'", name ? name : "");
}

const char *loss_type_name(LossType t) { return (unsigned)t < 4 ? LOSS_NAMES[t] : "?"; }
const char *huber_schedule_name(HuberSchedule s) { return (unsigned)s < 3 ? HUBER_NAMES[s] : "?"; }

// ---- schedule ----------------------------------------------------------------------------

void train_schedule_init(TrainSchedule *s, bool zero_terminal_snr) {
    const NoiseSchedule *ns = noise_schedule_sd(); // diffusers' float32 ᾱ (held as double)
    float ac[SCHED_TRAIN_STEPS];
    for (int i = 0; i < SCHED_TRAIN_STEPS; i++) ac[i] = (float)ns->alphas_cumprod[i];
    // prepare_scheduler_for_custom_training: all_snr = (√ᾱ / √(1−ᾱ))², float32, from the
    // schedule as it is before --zero_terminal_snr rewrites it
    for (int i = 0; i < SCHED_TRAIN_STEPS; i++) {
        float ratio = sqrtf(ac[i]) / sqrtf(1.0f - ac[i]);
        s->all_snr[i] = ratio * ratio;
    }
    if (zero_terminal_snr) {
        // fix_noise_scheduler_betas_for_zero_terminal_snr (Lin et al. 2023, Algorithm 1), in
        // float32 as kohya runs it: shift √ᾱ so the last is 0, rescale so the first is kept,
        // back to betas, then ᾱ = cumprod(1 − β) again (torch's CPU cumprod multiplies in double)
        float sq[SCHED_TRAIN_STEPS];
        for (int i = 0; i < SCHED_TRAIN_STEPS; i++) sq[i] = sqrtf(ac[i]);
        float s0 = sq[0], sT = sq[SCHED_TRAIN_STEPS - 1];
        float factor = s0 / (s0 - sT);
        float abar[SCHED_TRAIN_STEPS];
        for (int i = 0; i < SCHED_TRAIN_STEPS; i++) {
            float v = (sq[i] - sT) * factor;
            abar[i] = v * v;
        }
        double prod = 1.0;
        for (int i = 0; i < SCHED_TRAIN_STEPS; i++) {
            float alpha_i = i == 0 ? abar[0] : abar[i] / abar[i - 1];
            float beta = 1.0f - alpha_i;
            prod *= (double)(1.0f - beta);
            s->alphas_cumprod[i] = (float)prod;
        }
    } else {
        memcpy(s->alphas_cumprod, ac, sizeof ac);
    }
}

// ---- noise -------------------------------------------------------------------------------

// One axis of torch's upsample_bilinear2d (align_corners=False, output size given): source
// rows i0/i1 and weights l0/l1 for output index o, in float as torch's opmath for float.
static void bilinear_axis(int64_t o, int64_t in_size, int64_t out_size, int64_t *i0, int64_t *i1, float *l0,
                          float *l1) {
    if (in_size == out_size) { // torch copies (scale 1)
        *i0 = *i1 = o, *l0 = 1.0f, *l1 = 0.0f;
        return;
    }
    float scale = (float)in_size / (float)out_size;
    float real = scale * ((float)o + 0.5f) - 0.5f;
    if (real < 0) real = 0;
    int64_t idx = (int64_t)floorf(real);
    if (idx > in_size - 1) idx = in_size - 1;
    float lambda = real - (float)idx;
    lambda = lambda < 0 ? 0 : lambda > 1 ? 1 : lambda;
    *i0 = idx, *i1 = idx + (idx < in_size - 1 ? 1 : 0);
    *l1 = lambda, *l0 = 1.0f - lambda;
}

// out (P, OH, OW) = bilinear upsampling of in (P, IH, IW), torch's nn.Upsample(mode="bilinear"):
// out = l0h·(l0w·x00 + l1w·x01) + l1h·(l0w·x10 + l1w·x11).
static void upsample_bilinear(float *out, int64_t OH, int64_t OW, const float *in, int64_t IH, int64_t IW,
                              int64_t planes) {
    for (int64_t p = 0; p < planes; p++) {
        const float *x = in + p * IH * IW;
        float *y = out + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0, h1;
            float lh0, lh1;
            bilinear_axis(oh, IH, OH, &h0, &h1, &lh0, &lh1);
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0, w1;
                float lw0, lw1;
                bilinear_axis(ow, IW, OW, &w0, &w1, &lw0, &lw1);
                float top = x[h0 * IW + w0] * lw0 + x[h0 * IW + w1] * lw1;
                float bot = x[h1 * IW + w0] * lw0 + x[h1 * IW + w1] * lw1;
                y[oh * OW + ow] = top * lh0 + bot * lh1;
            }
        }
    }
}

// custom_train_functions.apply_noise_offset: noise += o_bc · randn(B, C, 1, 1), with
// o_bc = clamp(o + a·|mean_hw(latents)|, min 0) when adaptive_noise_scale is set.
static void apply_noise_offset(const ObjectiveConfig *c, float *noise, const float *latents, int64_t B, int64_t C,
                               int64_t HW, Rng *rng) {
    float offset = (float)c->noise_offset;
    if (c->noise_offset_random_strength) offset = rng_rand_float(rng) * (float)c->noise_offset; // torch.rand(1) · o
    int64_t BC = B * C;
    float *o = mem_alloc(MEM_SCRATCH, (size_t)BC * 2 * sizeof(float));
    float *r = o + BC;
    for (int64_t i = 0; i < BC; i++) {
        o[i] = offset;
        if (c->adaptive_noise_scale != 0) {
            double sum = 0;
            for (int64_t k = 0; k < HW; k++) sum += latents[i * HW + k];
            float mean = fabsf((float)(sum / (double)HW));
            float v = offset + (float)c->adaptive_noise_scale * mean;
            o[i] = v < 0 ? 0 : v; // in case adaptive_noise_scale is negative
        }
    }
    rng_randn_fill(rng, r, (size_t)BC);
    for (int64_t i = 0; i < BC; i++) {
        float add = o[i] * r[i];
        for (int64_t k = 0; k < HW; k++) noise[i * HW + k] += add;
    }
    mem_free(o);
}

// custom_train_functions.pyramid_noise_like: for level i, r = 2 + 2·random(), a (B, C,
// max(1, int(H/r^i)), max(1, int(W/r^i))) Gaussian upsampled to (H, W) and added with weight
// discount^i; stops after a level with a side of 1; then noise /= noise.std() (unbiased).
static void apply_pyramid_noise(const ObjectiveConfig *c, float *noise, int64_t B, int64_t C, int64_t H, int64_t W,
                                Rng *rng, PyRandom *py) {
    SDL_ASSERT(py != NULL);
    int64_t BC = B * C, n = BC * H * W;
    float *level = mem_alloc(MEM_SCRATCH, (size_t)n * sizeof(float));
    float *up = mem_alloc(MEM_SCRATCH, (size_t)n * sizeof(float));
    for (int64_t i = 0; i < c->multires_noise_iterations; i++) {
        double r = py_random_random(py) * 2 + 2;
        double ri = pow(r, (double)i); // Python's r**i (i = 0 gives exactly 1)
        int64_t hn = (int64_t)((double)H / ri), wn = (int64_t)((double)W / ri);
        if (hn < 1) hn = 1;
        if (wn < 1) wn = 1;
        rng_randn_fill(rng, level, (size_t)(BC * hn * wn));
        upsample_bilinear(up, H, W, level, hn, wn, BC);
        float weight = (float)pow(c->multires_noise_discount, (double)i);
        for (int64_t k = 0; k < n; k++) noise[k] += up[k] * weight;
        if (hn == 1 || wn == 1) break; // the lowest resolution is reached
    }
    double sum = 0, sum2 = 0;
    for (int64_t k = 0; k < n; k++) sum += noise[k];
    double mean = sum / (double)n;
    for (int64_t k = 0; k < n; k++) sum2 += ((double)noise[k] - mean) * ((double)noise[k] - mean);
    float std = (float)sqrt(sum2 / (double)(n > 1 ? n - 1 : 1));
    for (int64_t k = 0; k < n; k++) noise[k] = noise[k] / std;
    mem_free(level);
    mem_free(up);
}

void objective_make_noise(const ObjectiveConfig *c, float *noise, const float *latents, int64_t B, int64_t C,
                          int64_t H, int64_t W, Rng *rng, PyRandom *py) {
    rng_randn_fill(rng, noise, (size_t)(B * C * H * W)); // torch.randn_like(latents)
    if (c->noise_offset != 0) apply_noise_offset(c, noise, latents, B, C, H * W, rng);
    if (c->multires_noise_iterations > 0) apply_pyramid_noise(c, noise, B, C, H, W, rng, py);
}

void objective_sample_timesteps(const ObjectiveConfig *c, int64_t *t, int64_t B, Rng *rng) {
    if (c->min_timestep < c->max_timestep) {
        rng_randint_fill(rng, t, (size_t)B, c->min_timestep, c->max_timestep);
    } else {
        for (int64_t b = 0; b < B; b++) t[b] = c->max_timestep;
    }
}

// √ᾱ_t and √(1−ᾱ_t) as diffusers' add_noise / get_velocity compute them in float32.
static void sqrt_alphas(const TrainSchedule *s, int64_t t, float *sa, float *s1ma) {
    SDL_ASSERT(t >= 0 && t < SCHED_TRAIN_STEPS);
    float ac = s->alphas_cumprod[t];
    *sa = sqrtf(ac);
    *s1ma = sqrtf(1.0f - ac);
}

void objective_add_noise(const ObjectiveConfig *c, const TrainSchedule *s, float *noisy, const float *latents,
                         const float *noise, const int64_t *t, int64_t B, int64_t n_per_sample, Rng *rng) {
    int64_t n = B * n_per_sample;
    float gamma = 0;
    if (c->ip_noise_gamma != 0) {
        SDL_ASSERT(rng != NULL);
        gamma = (float)c->ip_noise_gamma;
        if (c->ip_noise_gamma_random_strength) gamma = rng_rand_float(rng) * (float)c->ip_noise_gamma;
        rng_randn_fill(rng, noisy, (size_t)n); // randn_like(latents), held in `noisy` until used
    }
    for (int64_t b = 0; b < B; b++) {
        float sa, s1ma;
        sqrt_alphas(s, t[b], &sa, &s1ma);
        for (int64_t k = b * n_per_sample; k < (b + 1) * n_per_sample; k++) {
            float eps = c->ip_noise_gamma != 0 ? noise[k] + gamma * noisy[k] : noise[k];
            noisy[k] = sa * latents[k] + s1ma * eps;
        }
    }
}

void objective_target(const ObjectiveConfig *c, const TrainSchedule *s, float *target, const float *latents,
                      const float *noise, const int64_t *t, int64_t B, int64_t n_per_sample) {
    if (!c->v_parameterization) {
        memcpy(target, noise, (size_t)(B * n_per_sample) * sizeof(float));
        return;
    }
    for (int64_t b = 0; b < B; b++) { // get_velocity: √ᾱ·ε − √(1−ᾱ)·x0
        float sa, s1ma;
        sqrt_alphas(s, t[b], &sa, &s1ma);
        for (int64_t k = b * n_per_sample; k < (b + 1) * n_per_sample; k++) target[k] = sa * noise[k] - s1ma * latents[k];
    }
}

// ---- loss --------------------------------------------------------------------------------

double objective_huber_c(const ObjectiveConfig *c, const TrainSchedule *s, int64_t t) {
    if (c->loss_type != LOSS_HUBER && c->loss_type != LOSS_SMOOTH_L1) return 0;
    switch (c->huber_schedule) {
    case HUBER_EXPONENTIAL: { // exp(−α·t)·scale, α = −ln(huber_c)/1000
        double alpha = -log(c->huber_c) / (double)SCHED_TRAIN_STEPS;
        return exp(-alpha * (double)t) * c->huber_scale;
    }
    case HUBER_SNR: { // σ = √((1−ᾱ)/ᾱ) of the schedule in use; huber_scale is not applied
        double ac = s->alphas_cumprod[t];
        double sigma = sqrt((1.0 - ac) / ac); // ᾱ = 0 (zero terminal SNR): σ = inf, c = huber_c
        return (1.0 - c->huber_c) / ((1.0 + sigma) * (1.0 + sigma)) + c->huber_c;
    }
    case HUBER_CONSTANT: return c->huber_c * c->huber_scale;
    }
    return 0;
}

double objective_post_weight(const ObjectiveConfig *c, const TrainSchedule *s, int64_t t) {
    double snr = s->all_snr[t], w = 1.0;
    double snr_capped = fmin(snr, 1000.0); // get_snr_scale: t = 0 would be huge, kohya caps at 1000
    if (c->min_snr_gamma != 0) // apply_snr_weight
        w *= fmin(snr, c->min_snr_gamma) / (c->v_parameterization ? snr + 1.0 : snr);
    if (c->scale_v_pred_loss_like_noise_pred) w *= snr_capped / (snr_capped + 1.0);
    if (c->v_pred_like_loss != 0) // loss + loss / scale · λ
        w *= 1.0 + c->v_pred_like_loss / (snr_capped / (snr_capped + 1.0));
    if (c->debiased_estimation_loss)
        w *= c->v_parameterization ? 1.0 / (snr_capped + 1.0) : 1.0 / sqrt(snr_capped);
    return w;
}

// Element loss of d = pred − target and its derivative; hc is the sample's huber_c.
// huber: 2c(√(d²+c²) − c), written as 2c·d²/(√(d²+c²) + c) to avoid cancellation.
static inline double element_loss(LossType type, double d, double hc, double *deriv) {
    switch (type) {
    case LOSS_L2: *deriv = 2 * d; return d * d;
    case LOSS_L1: *deriv = d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0; return fabs(d); // torch: sign(0) = 0
    case LOSS_HUBER:
    case LOSS_SMOOTH_L1: {
        double root = sqrt(d * d + hc * hc);
        double k = type == LOSS_HUBER ? 2 * hc : 2.0;
        *deriv = root > 0 ? k * d / root : 0.0;
        return k * d * d / (root + hc);
    }
    }
    *deriv = 0;
    return 0;
}

double objective_loss(const ObjectiveConfig *c, const TrainSchedule *s, const float *pred, const float *target,
                      const int64_t *t, const float *weights, int64_t B, int64_t n_per_sample, float *dpred,
                      float *per_sample) {
    double total = 0;
    for (int64_t b = 0; b < B; b++) {
        double hc = objective_huber_c(c, s, t[b]);
        double factor = (weights ? (double)weights[b] : 1.0) * objective_post_weight(c, s, t[b]);
        // d(mean over the batch of factor · mean over the sample)/d element
        double dscale = factor / ((double)B * (double)n_per_sample);
        double sum = 0;
        for (int64_t k = b * n_per_sample; k < (b + 1) * n_per_sample; k++) {
            double deriv;
            sum += element_loss(c->loss_type, (double)pred[k] - (double)target[k], hc, &deriv);
            if (dpred) dpred[k] = (float)(dscale * deriv);
        }
        double sample = factor * (sum / (double)n_per_sample);
        if (per_sample) per_sample[b] = (float)sample;
        total += sample;
    }
    return total / (double)B;
}
