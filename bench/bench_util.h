// bench_util.h — helpers shared by the model benchmarks (header-only: each bench is its own program).
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/half.h"
#include "base/mem.h"
#include "models/params.h"

// Deterministic weights for a model table: norm scales 1, biases 0, other weights uniform with
// variance 1/fan_in (activations stay O(1); speed does not depend on the values, but denormals
// or NaN would).
// 16-bit entries (fp16/bf16 base weights) get the same values, rounded.
static inline void bench_fill_params(ParamTable *t) {
    uint32_t s = 12345u;
    float *tmp = NULL;
    for (int64_t e = 0; e < t->n; e++) {
        const ParamEntry *p = &t->entries[e];
        float *w = param_f32(t, p);
        if (!w) w = tmp = realloc(tmp, (size_t)p->numel * sizeof(float));
        size_t len = strlen(p->name);
        int is_bias = len > 5 && strcmp(p->name + len - 5, ".bias") == 0;
        int is_norm = p->ndim == 1 && strstr(p->name, "norm") != NULL;
        if (is_bias) {
            memset(w, 0, (size_t)p->numel * sizeof(float));
        } else if (is_norm) {
            for (int64_t i = 0; i < p->numel; i++) w[i] = 1.0f;
        } else {
            int64_t fan_in = p->numel / p->shape[0];
            float a = sqrtf(3.0f / (float)fan_in);
            for (int64_t i = 0; i < p->numel; i++) {
                s = s * 1664525u + 1013904223u;
                w[i] = a * ((float)(s >> 8) * (1.0f / 8388608.0f) - 1.0f);
            }
        }
        if (p->dtype == PARAM_F16) fp32_to_fp16_array(param_half(t, p), w, (size_t)p->numel);
        if (p->dtype == PARAM_BF16) fp32_to_bf16_array(param_half(t, p), w, (size_t)p->numel);
    }
    free(tmp);
}

// n floats of a fixed pattern in [-v, v] (MEM_OTHER).
static inline float *bench_buf(int64_t n, float v) {
    float *p = mem_alloc(MEM_OTHER, (size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = v * (float)((i * 7919) % 2001 - 1000) / 1000.0f;
    return p;
}
