// trainer_internal.h — the state of one `sdlora train` run, shared by trainer.c (setup and
// loop) and trainer_save.c (file names, LoRA and state saves, retention).
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "data/dataset.h"
#include "data/loader.h"
#include "io/tfevents.h"
#include "lora/lora_file.h"
#include "lora/network.h"
#include "models/sd_model.h"
#include "train/lr_schedule.h"
#include "train/optim.h"
#include "train/progress.h"
#include "sample/prompt_file.h"
#include "train/train_args.h"
#include "train/train_meta.h"
#include "train/train_state.h"
#include "train/train_step.h"

typedef struct {
    const TrainArgs *a;
    SdModel model;
    TrainData data;
    Loader *loader;
    LoraNetwork net;
    bool net_created;
    bool train_te;              // the text-encoder LoRA has a nonzero lr (gradients through CLIP)
    Optimizer *opt;
    OptimParam *params;         // both groups' parameters, text encoder first
    OptimGroup groups[2];
    int n_groups;
    LrSchedule sched;
    TrainStep step;
    bool step_ready;
    TrainProgress prog;
    int64_t seed;
    int64_t batches_per_epoch, steps_per_epoch, max_train_steps, num_epochs, grad_accum;
    LoraSaveDtype save_dtype;
    float vae_scaling;
    int64_t latent_c, latent_f; // latent channels and the VAE's downsampling factor (4 and 8 for SD)
    bool vae_loaded;            // the VAE is needed per step (latents not cached)
    float *latents;             // (B, 4, h, w) scaled latents of the current batch
    float *vae_moments;         // the VAE posterior of the batch: mean then logvar (encoding only)
    size_t latents_cap, moments_cap;
    int64_t vae_B, vae_H, vae_W; // current VAE plan
    TrainMeta meta;             // kohya's ss_* / modelspec.* metadata of every save
    bool meta_ready;
    double started_at;
    char output_name[256];      // --output_name, or "" (kohya's per-kind defaults)
    TfEvents *tb;               // NULL without --logging_dir (or when it cannot be written)
    ProgressBar bar;
    bool bar_open;
    bool v_pred;                // v-parameterization (flag or model metadata)
    SamplePromptList prompts;   // --sample_prompts
    SampleSchedule sample_sched;
    bool sampling;              // prompts and a schedule: the VAE stays loaded
    struct DynPrompts *dyn;     // dynamic prompt expansion (sample prompts with {a|b} / __name__)
} Trainer;

// trainer_save.c
// "<output_dir>/<name>[-<epoch:06d> | -step<step:08d>].safetensors" (kind 'e', 's' or 'l' = last).
void trainer_file_name(const Trainer *t, char kind, int64_t n, bool state, char *buf, size_t cap);
// Writes the LoRA (atomically) with the run's metadata plus ss_steps / ss_epoch / finished_at.
SdlStatus trainer_save_lora(Trainer *t, char kind, int64_t n, int64_t epoch_for_meta);
SdlStatus trainer_save_state(Trainer *t, char kind, int64_t n);
// kohya's save_last_n_* retention: removes the file (and state) that just fell out of the window.
void trainer_remove_old(Trainer *t, char kind, int64_t n_now);

// trainer_sample.c
SdlStatus trainer_sample_setup(Trainer *t); // loads the prompts, checks the samplers
// Samples when sample_due() says so (epoch 1-based at epoch ends, 0 before training). A failed
// sample is reported and training goes on.
SdlStatus trainer_sample(Trainer *t, int64_t epoch, int64_t global_step, bool at_epoch_end);
