// pyrandom.h — Python's `random` module generator, bit for bit: MT19937 seeded through
// init_by_array exactly as random.seed(int) does, random() with 53 bits from two 32-bit draws,
// getrandbits, _randbelow (rejection sampling on bit_length bits), randint and shuffle.
//
// Why a second generator beside base/rng.h (torch's): kohya shuffles buckets, captions and
// random crops with Python's `random`, reseeded per epoch (random.seed(dataset_seed + epoch)),
// so reproducing it lets sdlora replay kohya's sample order and caption shuffles exactly.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t mt[624];
    int index;
} PyRandom;

// random.seed(n) for a non-negative int n (Python uses abs(n); pass the absolute value).
void py_random_seed(PyRandom *r, uint64_t n);
uint32_t py_random_u32(PyRandom *r);               // genrand_uint32
double py_random_random(PyRandom *r);              // random.random(): [0, 1), 53 bits
uint64_t py_random_getrandbits(PyRandom *r, int k); // random.getrandbits(k), 1 <= k <= 64
uint64_t py_random_randbelow(PyRandom *r, uint64_t n); // random._randbelow(n); 0 when n == 0
int64_t py_random_randint(PyRandom *r, int64_t a, int64_t b); // random.randint(a, b), a <= b
// random.shuffle(x) on an array of n elements of `size` bytes each (size <= 64).
void py_random_shuffle(PyRandom *r, void *base, size_t n, size_t size);
