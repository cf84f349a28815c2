// lora.h — the LoRA adapter that nn/ modules (Linear, Conv2d) carry as a hook.
//
// A module with an adapter computes, as kohya's networks.lora.LoRAModule does:
//   y = base(x) + scale · up(down(x)),   scale = multiplier · alpha / rank
// Linear: down (r, in), up (out, r).  Conv2d: down (r, in, KH, KW) with the base conv's stride
// and padding, up (out, r, 1, 1) — the same memory as (out, r).
// The adapter's own parameters are trainable; the base weights stay frozen (dw = db = NULL).
#pragma once
#include <stdint.h>

typedef struct {
    const float *down;  // (r, in) | (r, in, KH, KW)
    const float *up;    // (out, r) | (out, r, 1, 1)
    float *ddown, *dup; // gradients, accumulated (+=); NULL when the adapter is frozen
    int64_t rank;
    float scale;        // multiplier * alpha / rank
    float *h;           // saved by forward for backward: (M, r) | (N, r, OH, OW); planned by the caller
} LoraAdapter;
