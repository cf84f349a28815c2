// rng.h — random numbers bit-compatible with PyTorch's CPU generator (torch.manual_seed):
// MT19937 seeded with the low 32 bits of the seed, so noise and timesteps can be replayed in
// the Python oracle.
//
// What is bit-exact (checked against torch 2.5.1 by tests/test_rng.c, goldens from
// tools/oracle/make_rng_goldens.py), for any seed and any sequence of calls on one generator:
//   * rng_u32 / rng_rand_float / rng_rand_fill       = torch.rand (float32)
//   * rng_rand_double                                = torch.rand (float64)
//   * rng_randint_fill                               = torch.randint (int64), both the
//                                                      32-bit and the 64-bit (range >= 2^32) draw
//   * rng_randn_fill, n < 16                         = torch.randn: torch's double Box-Muller
//     (glibc libm log1p/sin/cos), including the second value it caches in the generator
//   * rng_randn_fill, n >= 16                        = torch.randn on an AVX2/AVX-512 CPU
//     (every x86-64 CPU of the last decade): torch then takes its vectorised fill, whose
//     Cephes log/sincos polynomials rng.c replays operation by operation
//   * rng_randn_fill_generic, n >= 16                = torch.randn with its portable kernel
//     (ATEN_CPU_CAPABILITY=default, or a CPU/build without AVX2, e.g. aarch64) when its
//     libm is glibc's. torch's two paths differ in ~40% of values, by up to ~2e-6 absolute.
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
// Fills out[n] exactly as torch.randn(n) (float32, CPU, AVX2 kernel) with mean 0, std 1 would.
void rng_randn_fill(Rng *r, float *out, size_t n);
// The same through torch's portable (non-vectorised) kernel; identical to rng_randn_fill for n < 16.
void rng_randn_fill_generic(Rng *r, float *out, size_t n);
// Fills out[n] exactly as torch.rand(n) (float32, CPU).
void rng_rand_fill(Rng *r, float *out, size_t n);
// Integers in [lo, hi) as torch.randint(lo, hi, (n,)) (int64, CPU).
void rng_randint_fill(Rng *r, int64_t *out, size_t n, int64_t lo, int64_t hi);
