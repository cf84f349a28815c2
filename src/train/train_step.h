// train_step.h — one LoRA training step on SD1.x/SD2.x, as kohya's NetworkTrainer.process_batch
// computes it: text conditioning (CLIP with the text-encoder LoRA, clip_skip, 75/150/225-token
// chunks joined as kohya), noise and timesteps (objective.h), the UNet with the UNet LoRA, the
// loss, and backward into the LoRA gradients (+=, so micro-batches accumulate).
//
// The step owns no model: it borrows a Unet, a ClipText and an attached LoraNetwork whose
// grads are enabled. Shapes are planned per (B, latent H, latent W, chunks) and re-planned only
// when they change (buckets change the latent size from batch to batch). Each run re-asserts
// the plans (a no-op when nothing changed), so the caller may plan the models for something
// else between steps (sampling).
//
// Order of the random draws (train_step_run): the network's dropouts (lora_network_step_begin:
// module_dropout draws one per module, dropout/rank_dropout one seed — kohya draws these inside
// each module's forward, so runs with LoRA dropouts cannot match kohya draw for draw), then as
// kohya's get_noise_noisy_latents_and_timesteps: noise, offset, pyramid (objective_make_noise),
// timesteps, ip noise (objective_add_noise). With the dropouts off the draws are kohya's.
//
// Weighted captions: token_weights (B, n, 77) multiply the joined hidden states as kohya's
// encode_tokens_with_weights does: n = 1 → every one of the 77 states × its weight; n > 1 →
// the states 75·i + 1 … 75·i + 75 × the weights 1 … 75 of window i (BOS and the last state
// unweighted). No mean re-normalisation.
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
    bool train_te;            // text-encoder LoRA trains: backward through CLIP. init sets it
                              // when the network has text-encoder modules with grads; set it
                              // false afterwards to keep them frozen (kohya: text_encoder_lr 0)
    float grad_scale;         // dL multiplier (1 / gradient_accumulation_steps); init: 1
    // ---- planned state ----
    int64_t B, H, W;          // current plan (latent size); 0 before the first run
    int64_t C, T, D;          // latent channels, context tokens (75·n + 2), context width
    float *context, *dcontext, *noise, *noisy, *target, *pred, *dpred, *t_float; // MEM_ACTIVATIONS
    int64_t *t;
} TrainStep;

// Checks the pieces fit (context width = the UNet's cross_attention_dim, in = out channels,
// n_chunks 1..3, clip_skip within the encoder) → SDL_ERR_ARG / SDL_ERR_SHAPE. Un-plans the
// UNet so the first run plans the attached adapters.
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
// objective_sample_timesteps then ip noise), grads accumulated into the network's grads
// (grad_scale × dL). py may be NULL without multires noise. After the run s->noise, s->t,
// s->pred, … hold this step's tensors. Errors (SDL_ERR_SHAPE: a size the UNet cannot take;
// SDL_ERR_ARG: token ids beyond the vocabulary) are found before the backward: the grads are
// then untouched.
SdlStatus train_step_run(TrainStep *s, const TrainBatchInput *in, Rng *rng, PyRandom *py, TrainStepResult *res);
// The same with given noise (B,4,H,W) and timesteps (B): no random draw at all (no ip noise,
// no LoRA dropout). The oracle entry point of `sdlora probe train-step`.
SdlStatus train_step_run_fixed(TrainStep *s, const TrainBatchInput *in, const float *noise, const int64_t *t,
                               TrainStepResult *res);
