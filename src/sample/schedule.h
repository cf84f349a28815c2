// schedule.h — the Stable Diffusion noise schedule and the timestep/sigma arithmetic every
// sampler shares: scaled_linear betas, ᾱ_t, k-diffusion sigmas, timestep spacings, Karras
// sigmas, sigma ↔ timestep conversion, the epsilon / v_prediction parameterisations and
// classifier-free guidance.
//
// Reference: diffusers 0.31 schedulers (the reference/sd-formats.md §5 facts). diffusers
// builds its tables in float32 (torch.linspace(√β₀, √β₁, 1000, float32)², cumprod), so the
// values here are computed in double but rounded to float32 exactly where diffusers rounds:
// the sigmas and timesteps then agree with diffusers' to ~1 float32 ulp instead of the
// ~1e-5 relative that an all-double schedule differs by (1 − ᾱ cancels near t = 0).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

#define SCHED_TRAIN_STEPS 1000   // num_train_timesteps of every SD version

typedef enum {
    PRED_EPSILON = 0,   // the model predicts ε
    PRED_V,             // the model predicts v = √ᾱ·ε − √(1−ᾱ)·x₀ (SD2 768-v, "v_parameterization")
} Prediction;

typedef enum {
    SPACING_LEADING = 0,  // (arange(N)·(T//N))[::-1] + steps_offset       (DDIM, PNDM default)
    SPACING_TRAILING,     // round(arange(T, 0, −T/N)) − 1
    SPACING_LINSPACE,     // linspace(0, T−1, N)[::-1]                      (k-samplers default)
} TimestepSpacing;

// ᾱ_t and σ_t = √((1−ᾱ_t)/ᾱ_t) for t = 0..999, as diffusers' float32 tensors hold them.
typedef struct {
    double alphas_cumprod[SCHED_TRAIN_STEPS];  // float32 values
    double sigmas[SCHED_TRAIN_STEPS];          // float32 values, ascending in t
    double log_sigmas[SCHED_TRAIN_STEPS];      // ln σ rounded to float32 (np.log of a float32 array)
} NoiseSchedule;

// SD1/SD2/SDXL: scaled_linear, β from 0.00085 to 0.012 over 1000 steps.
void noise_schedule_init_sd(NoiseSchedule *s);
// The schedule shared by all samplers (built once, thread-safe after the first call returns).
const NoiseSchedule *noise_schedule_sd(void);

// numpy.linspace(start, stop, num)[i] bit for bit (start + i·step, the last value = stop).
double np_linspace_at(double start, double stop, int64_t num, int64_t i);
// numpy.round: round half to even.
double np_round(double x);

// Integer-valued timesteps of one spacing, descending, as DDIM/PNDM/Euler set_timesteps
// compute them before any interpolation. Returns the count written (usually `steps`; the
// trailing spacing yields steps+1 for some N because numpy's arange length is ceil of a
// rounded quotient — diffusers has the same quirk). `out` needs steps+1 entries.
// `linspace_float` keeps linspace values fractional (Euler-family: float32, not rounded).
int64_t spacing_timesteps(TimestepSpacing sp, int64_t steps, int64_t steps_offset,
                          int linspace_float, double *out);

// σ at a fractional timestep by linear interpolation of the σ table (numpy.interp).
double schedule_t_to_sigma(const NoiseSchedule *s, double t);
// Fractional timestep of σ: linear interpolation between the two neighbouring log σ's
// (diffusers _sigma_to_t; k-diffusion DiscreteSchedule.sigma_to_t), clamped to [0, 999].
double schedule_sigma_to_t(const NoiseSchedule *s, double sigma);
// Karras et al. 2022 sigmas: (σmax^{1/ρ} + i/(n−1)·(σmin^{1/ρ} − σmax^{1/ρ}))^ρ, i = 0..n−1.
void karras_sigmas(double sigma_min, double sigma_max, int64_t n, double rho, double *out);

// ---- parameterisations (per element, float32 data, scalar coefficients in double) ----
// VP form (x_t = √ᾱ·x₀ + √(1−ᾱ)·ε): predicted x₀ from the model output at ᾱ.
void pred_x0_vp(float *x0, const float *x_t, const float *model_out, double alpha_prod,
                Prediction p, int64_t n);
// σ form (x = x₀ + σ·ε, the model saw x/√(σ²+1)): predicted x₀ ("denoised").
void pred_x0_sigma(float *x0, const float *x, const float *model_out, double sigma,
                   Prediction p, int64_t n);

// Classifier-free guidance: out = uncond + scale·(cond − uncond). `out` may alias either.
void cfg_combine(float *out, const float *uncond, const float *cond, double scale, int64_t n);
