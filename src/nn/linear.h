// linear.h — the Linear module: weight references, optional gradients, optional LoRA adapter.
// Modules hold pointers only; the model owns the memory (weights in MEM_BASE_WEIGHTS — fp32, or
// 16-bit widened on use — adapters in MEM_TRAINABLE, activations planned per step).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "nn/half_weight.h"
#include "nn/lora.h"

typedef struct {
    const float *w;   // (out, in); NULL when the weight is kept 16-bit (w16)
    const float *b;   // (out) or NULL
    float *dw, *db;   // NULL when frozen (the LoRA case)
    int64_t in, out;
    LoraAdapter *lora; // NULL: plain linear
    HalfWeight w16;    // the frozen weight in fp16/bf16, widened on use (half_weight.h); data NULL: use w
} Linear;

// Floats of work memory linear_module_backward needs for M rows.
size_t linear_module_work_floats(const Linear *m, int64_t M);
// out (M, out) = inp (M, in) @ wᵀ + b [+ scale · (inp @ downᵀ) @ upᵀ, saving inp @ downᵀ in lora->h].
void linear_module_forward(const Linear *m, float *out, const float *inp, int64_t M);
// dinp (M, in) = (may be NULL); dw, db, lora grads +=.
void linear_module_backward(const Linear *m, float *dinp, const float *dout, const float *inp, int64_t M, float *work);
