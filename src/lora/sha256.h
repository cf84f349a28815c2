// sha256.h — SHA-256 (FIPS 180-4), for kohya's sshs_model_hash / sshs_legacy_hash and the
// ss_*_model_hash values. Hand-written (about 80 lines, checked against the FIPS 180-4 / NIST
// example vectors in tests/test_lora_network.c) rather than pulling libcrypto into the build
// for one hash.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t len;         // bytes hashed so far
    unsigned char buf[64];
    size_t fill;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
void sha256_final(Sha256 *s, unsigned char out[32]);
// out: 64 lowercase hex digits + NUL.
void sha256_hex(const void *data, size_t n, char out[65]);
