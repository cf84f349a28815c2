// params.c — see params.h.
#include "models/params.h"
#include "base/error.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void param_table_init(ParamTable *t) { memset(t, 0, sizeof *t); }

void param_table_free(ParamTable *t) {
    for (int64_t i = 0; i < t->n; i++) free(t->entries[i].name);
    free(t->entries);
    mem_free(t->storage);
    mem_free(t->storage16);
    memset(t, 0, sizeof *t);
}

void param_add(ParamTable *t, float **dst, int ndim, const int64_t *shape, const char *fmt, ...) {
    SDL_ASSERT(ndim >= 0 && ndim <= PARAM_MAX_DIMS);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->entries = realloc(t->entries, (size_t)t->cap * sizeof *t->entries);
        SDL_ASSERT(t->entries != NULL);
    }
    ParamEntry *e = &t->entries[t->n++];
    memset(e, 0, sizeof *e);
    va_list ap;
    va_start(ap, fmt);
    SDL_ASSERT(vasprintf(&e->name, fmt, ap) >= 0);
    va_end(ap);
    e->dst = dst;
    e->ndim = ndim;
    e->numel = 1;
    for (int d = 0; d < ndim; d++) {
        e->shape[d] = shape[d];
        e->numel *= shape[d];
    }
}

void param_table_allocate(ParamTable *t, MemClass cls) {
    size_t total = 0, total16 = 0;
    for (int64_t i = 0; i < t->n; i++) {
        ParamEntry *e = &t->entries[i];
        if (e->dtype == PARAM_F32) {
            e->offset = total;
            total += mem_align_up((size_t)e->numel * sizeof(float)) / sizeof(float);
        } else {
            e->offset = total16;
            total16 += mem_align_up((size_t)e->numel * sizeof(uint16_t)) / sizeof(uint16_t);
        }
    }
    t->total_floats = total, t->total16 = total16;
    t->storage = mem_calloc(cls, total * sizeof(float));
    t->storage16 = total16 ? mem_calloc(cls, total16 * sizeof(uint16_t)) : NULL;
    for (int64_t i = 0; i < t->n; i++)
        if (t->entries[i].dst) *t->entries[i].dst = param_f32(t, &t->entries[i]);
}

float *param_f32(const ParamTable *t, const ParamEntry *e) {
    return e->dtype == PARAM_F32 && t->storage ? t->storage + e->offset : NULL;
}

uint16_t *param_half(const ParamTable *t, const ParamEntry *e) {
    return e->dtype != PARAM_F32 && t->storage16 ? t->storage16 + e->offset : NULL;
}

const char *param_dtype_name(ParamDtype d) { return d == PARAM_F16 ? "fp16" : d == PARAM_BF16 ? "bf16" : "float"; }

const ParamEntry *param_find(const ParamTable *t, const char *name) {
    for (int64_t i = 0; i < t->n; i++)
        if (strcmp(t->entries[i].name, name) == 0) return &t->entries[i];
    return NULL;
}

const char *param_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t len = 0;
    len += (size_t)snprintf(buf + len, cap - len, "(");
    for (int d = 0; d < ndim && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (len < cap) snprintf(buf + len, cap - len, ")");
    return buf;
}
