// safetensors.h — reader (mmap, zero-copy, strictly validated) and writer (deterministic,
// atomic) for the .safetensors format: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "value", ...}}, then the tensor bytes (offsets relative to the
// end of the header).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

typedef enum {
    ST_BOOL, ST_U8, ST_I8, ST_I16, ST_U16, ST_F16, ST_BF16, ST_I32, ST_U32, ST_F32,
    ST_I64, ST_U64, ST_F64, ST_F8_E4M3, ST_F8_E5M2, ST_DTYPE_COUNT
} StDtype;

#define ST_MAX_DIMS 8

typedef struct {
    char *name;                   // owned
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void *data;             // borrowed: points into the mapping (or the writer's buffer)
    size_t nbytes;
} StTensor;

typedef struct {
    char *path;                   // owned copy, for error messages
    void *map;                    // mmap of the whole file
    size_t map_size;
    StTensor *tensors;            // in file order (sorted by data offset)
    int64_t n_tensors;
    char **meta_keys, **meta_values; // __metadata__, owned
    int64_t n_meta;
} SafeTensors;

const char *st_dtype_name(StDtype dt);   // "F32", "BF16", ...
size_t st_dtype_size(StDtype dt);        // bytes per element

// Opens and validates the whole header; on failure records an error naming the file and the
// exact problem (and leaves *st empty). Tensor data is not copied.
SdlStatus st_open(SafeTensors *st, const char *path);
void st_close(SafeTensors *st);
const StTensor *st_find(const SafeTensors *st, const char *name);           // NULL if absent
const char *st_metadata_get(const SafeTensors *st, const char *key);        // NULL if absent
// Converts F32/F16/BF16/F64 data to fp32 into dst[numel]; other dtypes are an error.
SdlStatus st_tensor_to_f32(const SafeTensors *st, const StTensor *t, float *dst);

// Writer: tensors are written sorted by name, metadata sorted by key, so the same content
// always gives the same bytes. Data pointers are borrowed until st_writer_save returns.
typedef struct StWriter StWriter;
StWriter *st_writer_new(void);
void st_writer_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape,
                   const void *data);
void st_writer_add_f32(StWriter *w, const char *name, int ndim, const int64_t *shape, const float *data);
void st_writer_set_metadata(StWriter *w, const char *key, const char *value);
SdlStatus st_writer_save(StWriter *w, const char *path); // atomic (base/atomic_file.h)
void st_writer_free(StWriter *w);
