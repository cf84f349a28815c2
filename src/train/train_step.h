// train_step.h — one LoRA training step on SD1.x/SD2.x, as kohya's NetworkTrainer.process_batch
// computes it: text conditioning (CLIP with the text-encoder LoRA, clip_skip, 75/150/225-token
// chunks joined as kohya), noise and timesteps (objective.h), the UNet with the UNet LoRA, the
// loss, and backward into the LoRA gradients (+=, so micro-batches accumulate).
//
// The step owns no model: it borrows a Unet, a ClipText and an attached LoraNetwork whose
// grads are enabled. Shapes are planned per (B, latent H, latent W, chunks) and re-planned only
// when they change (buckets change the latent size from batch to batch).
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "base/error.h"
#include "base/rng.h"
#include "data/pyrandom.h"
#include "lora/network.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "train/objective.h"

typedef struct {
    Unet *unet;
    ClipText *te;
    LoraNetwork *net;
    ObjectiveConfig obj;
    TrainSchedule sched;
    int clip_skip;            // 0/1 = last layer, 2 = penultimate, …
    int64_t n_chunks;         // max_token_length / 75 (1, 2 or 3)
    bool train_te;            // text-encoder LoRA trains: backward through CLIP
    float grad_scale;         // dL multiplier (1 / gradient_accumulation_steps)
    // ---- planned state ----
    int64_t B, H, W;          // current plan (latent size)
    float *context, *dcontext, *noise, *noisy, *target, *pred, *dpred, *t_float;
    int64_t *t;
} TrainStep;

SdlStatus train_step_init(TrainStep *s, Unet *u, ClipText *te, LoraNetwork *net, const ObjectiveConfig *obj,
                          int clip_skip, int64_t n_chunks);
void train_step_free(TrainStep *s);

typedef struct {
    const float *latents;     // (B, 4, H, W), already × the VAE scaling factor
    const int32_t *input_ids; // (B, n_chunks, 77)
    const float *token_weights; // (B, n_chunks, 77) weighted captions, or NULL
    const float *loss_weights;  // (B) 1 or prior_loss_weight, or NULL
    int64_t B, H, W;          // latent size
} TrainBatchInput;

typedef struct {
    double loss;              // the scalar kohya logs (before the grad_scale division)
    bool finite;              // false: the loss or a gradient is NaN/Inf (nothing should be stepped)
} TrainStepResult;

// Full step with noise and timesteps drawn from rng/py (objective_make_noise then
// objective_sample_timesteps then ip noise), grads accumulated into the network's grads.
SdlStatus train_step_run(TrainStep *s, const TrainBatchInput *in, Rng *rng, PyRandom *py, TrainStepResult *res);
// The same with given noise (B,4,H,W) and timesteps (B) (no ip noise drawn): the oracle entry
// point of `sdlora probe train-step`.
SdlStatus train_step_run_fixed(TrainStep *s, const TrainBatchInput *in, const float *noise, const int64_t *t,
                               TrainStepResult *res);
