// train_state.h — `--save_state` folders and `--resume`: everything a run needs to continue
// bit for bit as if it had never stopped.
//
// A state folder (kohya names: <output_name>-<epoch:06d>-state, …-step<step:08d>-state,
// <output_name>-state) holds:
//   model.safetensors       the network's tensors in fp32, kohya key names (metadata format=pt)
//   optimizer.safetensors   the optimizer state (train/optim.h optim_save_state)
//   trainer.safetensors     RNG states (the torch-compatible generator, the Python-compatible
//                           one) and the loss recorder
//   train_state.json        {"current_epoch": E, "current_step": S} as kohya writes it, plus
//                           sdlora's position: the next batch (epoch, index), the seed, the
//                           optimizer kind and the network shape (checked on resume)
// The folder is written beside its final name and renamed into place, so a crash while saving
// leaves the previous state intact.
#pragma once
#include <stdint.h>
#include "base/error.h"
#include "base/rng.h"
#include "data/pyrandom.h"
#include "lora/network.h"
#include "train/optim.h"

typedef struct {
    int64_t global_step;      // optimizer steps done
    int64_t epoch;            // 0-based epoch of the next batch
    int64_t next_batch;       // index of the next batch within that epoch (may equal the count:
                              // the epoch's batches are done but its end-of-epoch work is not)
    int64_t batches_per_epoch;
    int64_t seed;
    Rng noise_rng;            // torch's global generator in kohya: LoRA init, VAE sampling, noise
    PyRandom py;
    float *losses;            // the loss recorder: last loss of each batch index of an epoch
    int64_t n_losses;         // = batches_per_epoch
    int64_t losses_filled;    // entries written so far (the first epoch fills them in order)
    double loss_total;        // sum of the filled entries (kohya LossRecorder.loss_total)
} TrainProgress;

SdlStatus train_state_save(const char *dir, const LoraNetwork *net, const Optimizer *opt, const TrainProgress *p);
// Restores into an already built network (same modules) and optimizer (same kind and params).
// p->losses is allocated here (free()).
// Removes a state folder (its plain files, then the folder); a missing folder is fine.
SdlStatus train_state_remove(const char *dir);
SdlStatus train_state_load(const char *dir, LoraNetwork *net, Optimizer *opt, TrainProgress *p);
