// half_weight.h — a frozen base weight kept in 16 bits (IEEE fp16 or bfloat16) and widened to
// fp32 right before a module uses it, into a buffer all the model's modules share: the weights
// take half the memory, the math stays fp32 (the widened values are exactly the stored ones, so
// a module computes what it would with fp32 weights equal to the rounded values).
//
// Linear and Conv2d carry one (`w16`); a NULL data pointer means the module's fp32 `w` is used.
// The shared buffer holds one widened weight at a time: a module widens, runs its GEMMs, and the
// next module overwrites it (modules run one after another; nothing keeps the pointer).
#pragma once
#include <stdint.h>

typedef struct {
    const uint16_t *data; // (numel) fp16 / bf16 bits, or NULL: no 16-bit copy
    int64_t numel;
    int bf16;             // 0: IEEE fp16, 1: bfloat16
    float *buf;           // >= numel floats, shared by the model's modules
} HalfWeight;

// The fp32 weight to compute with: w32 itself without a 16-bit copy, else h widened into h->buf.
const float *half_weight_get(const float *w32, const HalfWeight *h);
// dst[i] = the fp32 value of src[i] (exact); threaded for large n.
void half_widen(float *dst, const uint16_t *src, int64_t n, int bf16);
