// lora.h — the LoRA adapter that nn/ modules (Linear, Conv2d) carry as a hook.
//
// A module with an adapter computes, as kohya's networks.lora.LoRAModule does:
//   y = base(x) + scale · up(down(x)),   scale = multiplier · alpha / rank
// Linear: down (r, in), up (out, r).  Conv2d: down (r, in, KH, KW) with the base conv's stride
// and padding, up (out, r, 1, 1) — the same memory as (out, r).
// The adapter's own parameters are trainable; the base weights stay frozen (dw = db = NULL).
//
// Training-time dropout (kohya LoRAModule.forward; off — all zero — unless
// lora_network_step_begin turned it on for the current step, so inference never drops):
//   h = down(x)
//   network_dropout p: each element of h zeroed with probability p, survivors × 1/(1−p)
//   rank_dropout q:    each (batch element, rank) zeroed with probability q, broadcast over the
//                      element's tokens (Linear on (B, T, ·) rows) or pixels (Conv2d), and
//                      the result × 1/(1−q) (kohya scales `scale`; folded into h here)
//   y = base(x) + scale · up(h)
// h is saved after the masks, so backward's dup needs nothing more; the masks themselves are
// never stored: every keep/drop is a counter-based hash of (seed, element index), so forward,
// a recomputed forward (gradient checkpointing) and backward all see the same mask and no
// buffer has to be planned for it.
#pragma once
#include <stdint.h>

typedef struct {
    const float *down;  // (r, in) | (r, in, KH, KW)
    const float *up;    // (out, r) | (out, r, 1, 1)
    float *ddown, *dup; // gradients, accumulated (+=); NULL when the adapter is frozen
    int64_t rank;
    float scale;        // multiplier * alpha / rank
    float *h;           // saved by forward for backward: (M, r) | (N, r, OH, OW); planned by the caller
    // ---- dropout of the current training step (see above); 0 = off ----
    float dropout;      // network_dropout p in [0, 1)
    float rank_dropout; // rank_dropout q in [0, 1)
    uint64_t seed;      // the step's mask seed for this adapter
    int64_t batch;      // Linear with rank_dropout: batch elements in the M rows (each owns M/batch
                        // consecutive rows); Conv2d uses its N
} LoraAdapter;

static inline int lora_dropout_active(const LoraAdapter *a) { return a->dropout > 0 || a->rank_dropout > 0; }

// Multiplies x, viewed as (N, P, r, Q), by the step's dropout factor: element (n, p, j, q) is
// kept with probability 1−p (flat-index mask), its (n, j) with probability 1−q, and kept
// elements are scaled by 1/(1−p) · 1/(1−q); dropped ones become 0. Linear: (batch, M/batch, r, 1);
// Conv2d: (N, 1, r, OH·OW). Applied to h in forward and to dL/dh in backward (same factor).
// (Defined in linear.c.)
void lora_dropout_apply(const LoraAdapter *a, float *x, int64_t N, int64_t P, int64_t Q);
// The uniform [0, 1) draw (24 bits, as torch.rand) behind element `i` of stream `seed`.
float lora_dropout_uniform(uint64_t seed, uint64_t i);
// splitmix64's finaliser: a bijective 64-bit mix (also derives per-adapter seeds).
static inline uint64_t lora_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
