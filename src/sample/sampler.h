// sampler.h — diffusion samplers over an abstract denoiser, matching diffusers 0.31's
// schedulers step for step (DDIM, PNDM, LMS, Euler, Euler a, Heun, DPM2, DPM2 a,
// DPM-Solver(++) multistep, DPM-Solver single-step), and kohya's --sample_sampler names.
//
// The caller supplies the model as a callback; the sampler owns the loop:
//   x = noise·init_noise_sigma
//   for each model call k:  out = model(ctx, scale_model_input(x), t_k);  x = step(out, x)
// The callback receives latents already scaled for the UNet (for σ-space samplers,
// x/√(σ²+1)) and the timestep t_k (fractional for some samplers; the UNet's timestep
// embedding takes it as a float) and writes the model output (ε or v, per `prediction`).
// Classifier-free guidance is the caller's business: run the uncond and cond passes inside
// the callback and combine them with cfg_combine() before returning.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "base/rng.h"
#include "sample/schedule.h"

typedef enum {
    SAMPLER_DDIM = 0,        // DDIMScheduler
    SAMPLER_PNDM,            // PNDMScheduler (PRK warm-up + PLMS, or PLMS only)
    SAMPLER_LMS,             // LMSDiscreteScheduler (order 4)
    SAMPLER_EULER,           // EulerDiscreteScheduler
    SAMPLER_EULER_A,         // EulerAncestralDiscreteScheduler
    SAMPLER_HEUN,            // HeunDiscreteScheduler
    SAMPLER_DPM2,            // KDPM2DiscreteScheduler
    SAMPLER_DPM2_A,          // KDPM2AncestralDiscreteScheduler
    SAMPLER_DPM_MULTI,       // DPMSolverMultistepScheduler (solver_order 2, midpoint)
    SAMPLER_DPM_SINGLE,      // DPMSolverSinglestepScheduler (solver_order 2, midpoint)
    SAMPLER_KIND_COUNT
} SamplerKind;

typedef struct {
    SamplerKind kind;
    Prediction prediction;
    TimestepSpacing spacing;
    int64_t steps_offset;
    int set_alpha_to_one;     // DDIM/PNDM: ᾱ_prev = 1 (else ᾱ₀) past the last step
    int clip_sample;          // DDIM/Heun: clamp predicted x₀ to ±clip_sample_range
    double clip_sample_range;
    int skip_prk_steps;       // PNDM
    int use_karras_sigmas;    // LMS, Euler, Heun, DPM2, DPM-Solver
    int dpmsolver_pp;         // DPM-Solver: 1 = algorithm "dpmsolver++" (data prediction), 0 = "dpmsolver"
    int final_sigma_zero;     // DPM-Solver: final_sigmas_type "zero" (1) or "sigma_min" (0)
    int lower_order_final;    // DPM-Solver
    double eta;               // DDIM (0 = deterministic); the pipeline's eta argument
} SamplerConfig;

// The config kohya's sample_images builds for `name` (get_my_scheduler: the scheduler
// class's own defaults + scaled_linear 0.00085/0.012 + v_prediction if v_param, and
// clip_sample forced on where the class has it). Names, case-insensitive: ddim, pndm, lms,
// k_lms, euler, k_euler, euler_a, k_euler_a, heun, dpm_2, k_dpm_2, dpm_2_a, k_dpm_2_a,
// dpmsolver, dpmsolver++, dpmsingle. Unknown → SDL_ERR_ARG listing the valid names.
SdlStatus sampler_config_kohya(const char *name, int v_param, SamplerConfig *out);
// The comma-separated list of valid names (for help texts and errors).
const char *sampler_kohya_names(void);

// The schedule a sampler walks for `steps` inference steps, as diffusers' set_timesteps.
typedef struct {
    int64_t n_calls;        // model evaluations (= scheduler.timesteps length)
    double *timesteps;      // [n_calls] t passed to the model
    int64_t n_sigmas;       // σ-space and DPM samplers: steps + 1 (last = final σ); else 0
    double *sigmas;         // [n_sigmas] the per-step σ's (not the Heun/DPM2 doubled table)
    double *sigmas_interpol;// DPM2 / DPM2 a: [n_sigmas] midpoint σ's; else NULL
    double init_noise_sigma;
} SamplerPlan;

SdlStatus sampler_plan(const SamplerConfig *cfg, int64_t steps, SamplerPlan *plan);
void sampler_plan_free(SamplerPlan *plan);

// Model output for `n` floats of latents (the whole batch) at timestep t.
typedef SdlStatus (*SamplerModelFn)(void *ctx, float *out, const float *x_in, double t, int64_t n);
// Called after each model call's step with the updated latents (may be NULL).
typedef void (*SamplerStepFn)(void *ctx, int64_t call, int64_t n_calls, const float *x, int64_t n);

// Runs the sampler. On entry x[n] holds unit Gaussian noise (the pipeline's randn latents);
// it is multiplied by init_noise_sigma here. On success x holds the final latents.
// Ancestral steps (Euler a, DPM2 a, DDIM with eta > 0) draw one rng_randn_fill of n values
// per noisy step from `rng`, in diffusers' order, so a torch.Generator seeded alike gives the
// same noise (rng may be NULL for deterministic samplers). steps: 1..1000.
SdlStatus sampler_run(const SamplerConfig *cfg, int64_t steps, float *x, int64_t n,
                      SamplerModelFn model, void *model_ctx, Rng *rng,
                      SamplerStepFn on_step, void *step_ctx);
