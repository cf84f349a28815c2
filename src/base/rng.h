// rng.h — random numbers bit-compatible with PyTorch's CPU generator (torch.manual_seed):
// MT19937 seeded with the low 32 bits of the seed; rng_rand_float matches torch.rand,
// rng_randn_fill matches torch.randn (float32, CPU) on the same seed, so noise and
// timesteps can be replayed in the Python oracle.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define RNG_MT_N 624

typedef struct {
    uint32_t state[RNG_MT_N];
    int index;                  // next word of state to temper
    uint64_t seed;
    int has_next_normal;        // torch caches the second Box-Muller value of its double sampler
    double next_normal;
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint32_t rng_u32(Rng *r);                 // torch generator->random()
uint64_t rng_u64(Rng *r);                 // torch generator->random64()
float rng_rand_float(Rng *r);             // uniform [0,1), 24 bits, as torch.rand (float32)
double rng_rand_double(Rng *r);           // uniform [0,1), 53 bits, as torch.rand (float64)
// Fills out[n] exactly as torch.randn(n) (float32, CPU) with mean 0, std 1 would.
void rng_randn_fill(Rng *r, float *out, size_t n);
// Fills out[n] exactly as torch.rand(n) (float32, CPU).
void rng_rand_fill(Rng *r, float *out, size_t n);
// Integers in [lo, hi) as torch.randint(lo, hi, (n,)) (int64, CPU).
void rng_randint_fill(Rng *r, int64_t *out, size_t n, int64_t lo, int64_t hi);
