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
    size_t total = 0;
    for (int64_t i = 0; i < t->n; i++) {
        t->entries[i].offset = total;
        total += mem_align_up((size_t)t->entries[i].numel * sizeof(float)) / sizeof(float);
    }
    t->total_floats = total;
    t->storage = mem_calloc(cls, total * sizeof(float));
    for (int64_t i = 0; i < t->n; i++)
        if (t->entries[i].dst) *t->entries[i].dst = t->storage + t->entries[i].offset;
}

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
