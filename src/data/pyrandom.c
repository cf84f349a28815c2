// pyrandom.c — see pyrandom.h. The MT19937 constants and the init_by_array seeding are those
// of Matsumoto & Nishimura's reference mt19937ar.c, which CPython's _randommodule.c uses.
#include "data/pyrandom.h"
#include <string.h>

#define MT_N 624
#define MT_M 397

static void init_genrand(PyRandom *r, uint32_t s) {
    r->mt[0] = s;
    for (int i = 1; i < MT_N; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->index = MT_N;
}

static void init_by_array(PyRandom *r, const uint32_t *key, size_t key_len) {
    init_genrand(r, 19650218u);
    size_t i = 1, j = 0;
    for (size_t k = MT_N > key_len ? MT_N : key_len; k; k--) {
        r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++; j++;
        if (i >= MT_N) { r->mt[0] = r->mt[MT_N - 1]; i = 1; }
        if (j >= key_len) j = 0;
    }
    for (size_t k = MT_N - 1; k; k--) {
        r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= MT_N) { r->mt[0] = r->mt[MT_N - 1]; i = 1; }
    }
    r->mt[0] = 0x80000000u; // MSB is 1, assuring a non-zero initial array
    r->index = MT_N;
}

void py_random_seed(PyRandom *r, uint64_t n) {
    // CPython splits abs(n) into 32-bit words, least significant first; 0 gives one zero word.
    uint32_t key[2] = {(uint32_t)n, (uint32_t)(n >> 32)};
    init_by_array(r, key, (n >> 32) ? 2 : 1);
}

uint32_t py_random_u32(PyRandom *r) {
    static const uint32_t mag01[2] = {0u, 0x9908b0dfu};
    if (r->index >= MT_N) {
        int kk = 0;
        uint32_t y;
        for (; kk < MT_N - MT_M; kk++) {
            y = (r->mt[kk] & 0x80000000u) | (r->mt[kk + 1] & 0x7fffffffu);
            r->mt[kk] = r->mt[kk + MT_M] ^ (y >> 1) ^ mag01[y & 1u];
        }
        for (; kk < MT_N - 1; kk++) {
            y = (r->mt[kk] & 0x80000000u) | (r->mt[kk + 1] & 0x7fffffffu);
            r->mt[kk] = r->mt[kk + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 1u];
        }
        y = (r->mt[MT_N - 1] & 0x80000000u) | (r->mt[0] & 0x7fffffffu);
        r->mt[MT_N - 1] = r->mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1u];
        r->index = 0;
    }
    uint32_t y = r->mt[r->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

double py_random_random(PyRandom *r) {
    uint32_t a = py_random_u32(r) >> 5, b = py_random_u32(r) >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

uint64_t py_random_getrandbits(PyRandom *r, int k) {
    if (k <= 0) return 0;
    if (k <= 32) return py_random_u32(r) >> (32 - k);
    // CPython fills 32-bit words from the least significant end; the last word keeps its
    // top (k mod 32) bits.
    uint64_t lo = py_random_u32(r);
    uint64_t hi = py_random_u32(r) >> (64 - k);
    return lo | (hi << 32);
}

static int bit_length(uint64_t n) {
    int k = 0;
    while (n) { k++; n >>= 1; }
    return k;
}

uint64_t py_random_randbelow(PyRandom *r, uint64_t n) {
    if (n == 0) return 0;
    int k = bit_length(n);
    uint64_t v = py_random_getrandbits(r, k);
    while (v >= n) v = py_random_getrandbits(r, k);
    return v;
}

int64_t py_random_randint(PyRandom *r, int64_t a, int64_t b) {
    return a + (int64_t)py_random_randbelow(r, (uint64_t)(b - a) + 1);
}

void py_random_shuffle(PyRandom *r, void *base, size_t n, size_t size) {
    unsigned char tmp[64], *x = base;
    if (size > sizeof tmp) return;
    for (size_t i = n; i-- > 1;) {
        size_t j = (size_t)py_random_randbelow(r, (uint64_t)i + 1);
        memcpy(tmp, x + i * size, size);
        memcpy(x + i * size, x + j * size, size);
        memcpy(x + j * size, tmp, size);
    }
}
