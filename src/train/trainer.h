// trainer.h — `sdlora train`: kohya's train_network.py loop for SD1.x LoRA on the CPU.
//
//   dataset resolved and every image validated (before any model is loaded)
//   → model loaded → LoRA network created (kohya init, --network_weights, --dim_from_weights)
//   → loader (latents cached in memory / on disk when asked; VAE freed afterwards)
//   → optimizer + lr schedule → --resume state → summary
//   → epochs × batches: latents (cached or VAE-encoded and sampled) × scaling, the step
//     (train_step.h), gradient accumulation, clip_grad_norm, optimizer step, logs
//     (TensorBoard, progress bar), samples, step/epoch saves and states
//   → the final LoRA (and state), peak memory.
//
// Steps and epochs as kohya computes them: batches per epoch = Σ over datasets of the bucket
// batches; steps per epoch = ceil(batches / gradient_accumulation_steps); --max_train_epochs E
// sets max_train_steps = E · steps per epoch; epochs = ceil(max_train_steps / steps per epoch).
// The last micro-batches of an epoch form a (short) accumulation step of their own.
//
// Resume: a state folder continues bit for bit — the same batches, noise, losses and weights
// as a run that never stopped (kohya restarts the data order; sdlora does not need to).
#pragma once
#include "base/error.h"
#include "train/train_args.h"

// Runs the whole training; returns SDL_OK when the final LoRA is written. Errors name the
// file or option and suggest a fix; outputs written before an error are kept.
SdlStatus trainer_run(const TrainArgs *a);
