// params.h — a model's table of named parameters: one entry per checkpoint tensor, with its
// expected shape and the model field that receives its pointer. The same table drives
// allocation (one block per model), loading (names), validation (shapes: unknown tensor →
// warning, wrong shape → error with both shapes, missing → error) and LoRA naming.
// Names are the diffusers ones ("down_blocks.0.resnets.0.conv1.weight"); single-file (LDM)
// checkpoints are mapped onto them by the loader.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/mem.h"

#define PARAM_MAX_DIMS 4

typedef struct {
    char *name;                       // owned
    float **dst;                      // receives the pointer into the table's storage
    int ndim;
    int64_t shape[PARAM_MAX_DIMS];
    int64_t numel;
    size_t offset;                    // floats from the start of storage
} ParamEntry;

typedef struct {
    ParamEntry *entries;
    int64_t n, cap;
    float *storage;                   // one MEM_BASE_WEIGHTS block for all entries (after allocate)
    size_t total_floats;
} ParamTable;

void param_table_init(ParamTable *t);
void param_table_free(ParamTable *t);     // frees the names and the storage
// Adds an entry named by printf-style fmt. shape has ndim entries.
void param_add(ParamTable *t, float **dst, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
// Allocates one block for every entry (MEM_ALIGN-aligned each) and sets every *dst.
void param_table_allocate(ParamTable *t, MemClass cls);
const ParamEntry *param_find(const ParamTable *t, const char *name);
// "(320, 4, 3, 3)" into buf.
const char *param_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape);
