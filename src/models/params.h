// params.h — a model's table of named parameters: one entry per checkpoint tensor, with its
// expected shape and the model field that receives its pointer. The same table drives
// allocation (one block per model), loading (names), validation (shapes: unknown tensor →
// warning, wrong shape → error with both shapes, missing → error) and LoRA naming.
// Names are the diffusers ones ("down_blocks.0.resnets.0.conv1.weight"); single-file (LDM)
// checkpoints are mapped onto them by the loader.
//
// Storage dtype: entries are fp32 unless the model marks them fp16/bf16 before allocating (the
// frozen Linear/Conv weights under --base_weights_dtype): those live in a second block of
// 16-bit values, their *dst stays NULL, and the model widens them to fp32 on use.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/mem.h"

#define PARAM_MAX_DIMS 4

typedef enum { PARAM_F32 = 0, PARAM_F16, PARAM_BF16 } ParamDtype;

typedef struct {
    char *name;                       // owned
    float **dst;                      // receives the pointer into the table's storage
    int ndim;
    int64_t shape[PARAM_MAX_DIMS];
    int64_t numel;
    size_t offset;                    // elements from the start of storage (F32) or storage16
    ParamDtype dtype;                 // storage type; set before param_table_allocate (default F32)
} ParamEntry;

typedef struct {
    ParamEntry *entries;
    int64_t n, cap;
    float *storage;                   // one MEM_BASE_WEIGHTS block for the F32 entries (after allocate)
    size_t total_floats;
    uint16_t *storage16;              // one MEM_BASE_WEIGHTS block for the F16/BF16 entries, or NULL
    size_t total16;                   // its elements
} ParamTable;

void param_table_init(ParamTable *t);
void param_table_free(ParamTable *t);     // frees the names and the storage
// Adds an entry named by printf-style fmt. shape has ndim entries.
void param_add(ParamTable *t, float **dst, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
// Allocates the storage (each entry MEM_ALIGN-aligned), zeroed, and sets every F32 entry's *dst
// (16-bit entries: *dst = NULL).
void param_table_allocate(ParamTable *t, MemClass cls);
// An entry's data: fp32 (NULL for a 16-bit entry) / 16-bit (NULL for an fp32 entry).
float *param_f32(const ParamTable *t, const ParamEntry *e);
uint16_t *param_half(const ParamTable *t, const ParamEntry *e);
const char *param_dtype_name(ParamDtype d); // "float", "fp16", "bf16"
const ParamEntry *param_find(const ParamTable *t, const char *name);
// "(320, 4, 3, 3)" into buf.
const char *param_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape);
