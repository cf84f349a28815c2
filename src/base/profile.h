// profile.h — where a training step's time goes, per layer type (`sdlora train --profile` or
// SDLORA_PROFILE=1 for any command or benchmark). Off by default; when off, each timed call
// costs one thread-local flag test.
//
// Timers sit around the op calls (ops/ and nn/): prof_begin(category) ... prof_end(token).
// Nested timers do nothing — the outermost one owns the time — so the LoRA adapter's own convs
// and GEMMs count as "LoRA", and a VAE encode inside the data path counts as "data/VAE".
// Only the thread that called prof_enable records (the loader thread's work, if any, is not
// mixed in; the time the training thread waits for it is added as data/VAE). The models mark
// their backward passes (prof_set_backward), so every category is split into forward and
// backward time; recomputation done during backward (checkpointing, norm outputs) is backward.
#pragma once
#include <stdint.h>
#include <stdio.h>
#include "base/clock.h"

typedef enum {
    PROF_CONV3X3,     // 3x3 convolutions (base weights)
    PROF_CONV1X1,     // 1x1 convolutions (transformer proj_in/out, resnet shortcuts)
    PROF_LINEAR,      // Linear layers (base weights)
    PROF_ATTENTION,   // the attention core: QKᵀ, softmax, PV and their backward
    PROF_NORM,        // GroupNorm / LayerNorm (with fused SiLU)
    PROF_ELEMENTWISE, // activations, GEGLU, residual adds, transposes, concat, up/down-sampling
    PROF_LORA,        // LoRA / LoCon adapters (down, up, their grads, dropout masks)
    PROF_WIDEN,       // fp16/bf16 base weights widened to fp32 before use
    PROF_OPTIMIZER,   // gradient clipping, optimizer update, zeroing the grads
    PROF_DATA,        // waiting for the loader, VAE encoding of uncached latents
    PROF_COUNT
} ProfCat;

typedef struct {
    double t0;
    int cat; // -1: not recording, -2: nested (inner timer of a running one)
} ProfToken;

extern _Thread_local int prof_thread_on;
ProfToken prof_begin_slow(ProfCat c);
void prof_end_slow(ProfToken t);

static inline ProfToken prof_begin(ProfCat c) {
    if (__builtin_expect(prof_thread_on, 0)) return prof_begin_slow(c);
    return (ProfToken){0.0, -1};
}
static inline void prof_end(ProfToken t) {
    if (__builtin_expect(t.cat != -1, 0)) prof_end_slow(t);
}

// The enclosing block is timed as category c (ends at any return: GCC/Clang cleanup attribute).
static inline void prof_scope_end(ProfToken *t) { prof_end(*t); }
#define PROF_SCOPE(c) ProfToken prof_scope_ __attribute__((cleanup(prof_scope_end))) = prof_begin(c)

// The enclosing block (a model's backward) is marked backward, restored at any return.
static inline void prof_phase_restore(int *old);
#define PROF_BACKWARD_SCOPE() int prof_phase_ __attribute__((cleanup(prof_phase_restore))) = prof_set_backward(1)

// Turns recording on for the calling thread (and clears the totals). prof_env() reads
// SDLORA_PROFILE: 0 when unset or 0, else its value (N > 1: a report every N steps too).
void prof_enable(void);
void prof_disable(void);
int prof_enabled(void);
int prof_env(void);
void prof_reset(void);
// Marks the calling thread's passes as backward (1) or forward (0); returns the previous mark.
int prof_set_backward(int on);
// Adds time measured elsewhere (the loader wait) to a category.
void prof_add(ProfCat c, double seconds);
// Counts one training step (the report divides by the steps).
void prof_step(void);
int64_t prof_steps(void);
// The table: per category forward / backward / total seconds per step and share of the wall
// time since prof_enable/prof_reset; "other" is what no timer covered.
void prof_report(FILE *f);
const char *prof_cat_name(ProfCat c);
static inline void prof_phase_restore(int *old) { prof_set_backward(*old); }
double prof_seconds(ProfCat c, int backward); // totals (tests)
