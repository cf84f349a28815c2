// objective.h — the math of one kohya train_network step around the model call: noise
// (noise_offset with random strength and adaptive scale, multires pyramid noise), timesteps,
// the DDPM forward process with ip_noise_gamma, the epsilon / v-prediction target, the
// per-element losses (l2, l1, huber, smooth_l1 with kohya's huber_c schedules) and the
// per-sample weightings (loss weights / prior_loss_weight, min_snr_gamma,
// scale_v_pred_loss_like_noise_pred, v_pred_like_loss, debiased_estimation_loss), with the
// gradient of the final scalar loss with respect to the model output. Facts: kohya-spec.md §3.
//
// Random draws come from one torch-compatible Rng in kohya's order
// (get_noise_noisy_latents_and_timesteps), plus Python's random for the multires factors, so
// a run seeded like torch.manual_seed(S) / random.seed(S) draws kohya's noise — as kohya draws
// it on the CPU; on a GPU kohya takes the noise from the CUDA generator (the timesteps still
// come from the CPU one), so there only the distribution is the same.
//
// Precision: the noise, noisy latents and targets are float32 computed op by op as torch does
// (each product and sum rounded to float), so they match kohya's tensors to ~1 ulp. The loss
// and its weightings are evaluated in double from the float32 inputs (kohya: float32), which
// is closer to the exact value than kohya's own float32 arithmetic.
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "base/error.h"
#include "base/rng.h"
#include "data/pyrandom.h"

typedef enum { LOSS_L2 = 0, LOSS_L1, LOSS_HUBER, LOSS_SMOOTH_L1 } LossType;
typedef enum { HUBER_SNR = 0, HUBER_EXPONENTIAL, HUBER_CONSTANT } HuberSchedule;

typedef struct {
    double noise_offset;                // 0 = off
    bool noise_offset_random_strength;
    double adaptive_noise_scale;        // 0 = off (needs noise_offset)
    int64_t multires_noise_iterations;  // 0 = off
    double multires_noise_discount;     // 0.3
    double ip_noise_gamma;              // 0 = off
    bool ip_noise_gamma_random_strength;
    int64_t min_timestep, max_timestep; // [min, max): 0, 1000
    bool v_parameterization;
    bool zero_terminal_snr;             // rescales ᾱ for add_noise/target; SNR weights keep the original
    LossType loss_type;
    HuberSchedule huber_schedule;
    double huber_c, huber_scale;        // 0.1, 1.0
    double min_snr_gamma;               // 0 = off
    bool scale_v_pred_loss_like_noise_pred;
    double v_pred_like_loss;            // 0 = off
    bool debiased_estimation_loss;
} ObjectiveConfig;

ObjectiveConfig objective_config_default(void);
// Name ↔ enum ("l2", "l1", "huber", "smooth_l1"; "snr", "exponential", "constant"); unknown
// names → SDL_ERR_ARG listing the valid ones.
SdlStatus loss_type_parse(const char *name, LossType *out);
SdlStatus huber_schedule_parse(const char *name, HuberSchedule *out);
const char *loss_type_name(LossType t);
const char *huber_schedule_name(HuberSchedule s);

// The training schedule: ᾱ_t (float32 values as diffusers' DDPMScheduler holds them, after
// zero_terminal_snr when on) and all_snr_t (always from the original schedule).
typedef struct {
    float alphas_cumprod[1000];
    float all_snr[1000];
} TrainSchedule;
void train_schedule_init(TrainSchedule *s, bool zero_terminal_snr);

// Draws noise (B, C, H, W) for `latents` (scaled, same shape) in kohya's order: randn_like;
// noise offset (random strength: one rng_rand; adaptive: per (B,C) |mean| of latents;
// randn(B, C, 1, 1)); multires pyramid (r from `py`, randn per level, bilinear upsampling
// as torch.nn.Upsample(mode="bilinear") [align_corners False], then / std (unbiased)).
// py may be NULL when multires noise is off.
void objective_make_noise(const ObjectiveConfig *c, float *noise, const float *latents, int64_t B, int64_t C,
                          int64_t H, int64_t W, Rng *rng, PyRandom *py);
// t[b] ~ randint(min, max) (torch.randint on `rng`; all = max when min >= max).
void objective_sample_timesteps(const ObjectiveConfig *c, int64_t *t, int64_t B, Rng *rng);
// noisy = √ᾱ_t·x0 + √(1−ᾱ_t)·(noise + γ·randn_like) — ip_noise_gamma drawn here (after the
// timesteps, as kohya), random strength one rng_rand first. rng may be NULL when γ = 0.
// latents, noise, noisy: (B, n_per_sample); noisy must not alias the others.
void objective_add_noise(const ObjectiveConfig *c, const TrainSchedule *s, float *noisy, const float *latents,
                         const float *noise, const int64_t *t, int64_t B, int64_t n_per_sample, Rng *rng);
// target = noise (epsilon) or √ᾱ_t·noise − √(1−ᾱ_t)·latents (v).
void objective_target(const ObjectiveConfig *c, const TrainSchedule *s, float *target, const float *latents,
                      const float *noise, const int64_t *t, int64_t B, int64_t n_per_sample);

// Per-sample pieces of the loss (exposed for tests and logs):
// kohya's huber_c for timestep t (get_huber_threshold_if_needed; 0 unless huber/smooth_l1).
double objective_huber_c(const ObjectiveConfig *c, const TrainSchedule *s, int64_t t);
// The product of the post-processing factors at t (min_snr_gamma, scale_v_pred_loss_like_
// noise_pred, v_pred_like_loss as 1 + λ/scale, debiased_estimation_loss); 1 when all are off.
double objective_post_weight(const ObjectiveConfig *c, const TrainSchedule *s, int64_t t);

// The scalar loss kohya backpropagates, and dL/dpred (may be NULL) for it:
//   L = mean_b( post(weights[b] · mean_{chw} loss(pred, target)) ), post = the SNR weightings.
// pred, target, dpred: (B, n_per_sample). per_sample[b] (may be NULL) receives each sample's
// weighted, post-processed loss. weights (B) may be NULL (all 1). Every post-processing step
// is a per-sample factor, so dL/dpred[b,i] = weights[b]·post(t_b) / (B·n) · loss'(d[b,i]).
double objective_loss(const ObjectiveConfig *c, const TrainSchedule *s, const float *pred, const float *target,
                      const int64_t *t, const float *weights, int64_t B, int64_t n_per_sample, float *dpred,
                      float *per_sample);
