// safetensors.h — reader (mmap, zero-copy, strictly validated) and writer (deterministic,
// atomic) for the .safetensors format: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "value", ...}}, then the tensor bytes (offsets relative to the
// end of the header).
//
// What the reader accepts (it follows the reference Rust crate, huggingface/safetensors, and is
// stricter where the crate is lax; every rejection names the file, the problem and a hint):
//  - file ≥ 8 bytes; 0 < N ≤ 100,000,000 (the crate's limit) and N ≤ file size − 8.
//  - The header is UTF-8 JSON whose first byte is '{' (as newer crates require), followed only
//    by JSON whitespace: writers pad with spaces; NUL padding is rejected, as the crate does.
//  - N need not be a multiple of 8. The crate's writer pads so that it is, but its reader does
//    not require it and old files exist; so StTensor.data may be unaligned for its dtype (use
//    st_tensor_to_f32, or memcpy, rather than casting the pointer).
//  - Every JSON number must be a non-negative integer literal ≤ 2^53 − 1 (no sign, fraction or
//    exponent): shapes and offsets are the format's only numbers, and cJSON holds numbers as
//    doubles, which are exact only up to 2^53 (8 PiB, far beyond any real file).
//  - No raw control characters in the header and no \u0000 in strings (names are C strings).
//  - Every key other than "__metadata__" is a tensor: an object with "dtype" (BOOL U8 I8 I16
//    U16 F16 BF16 I32 U32 F32 I64 U64 F64 F8_E4M3 F8_E5M2), "shape" (≤ 8 dims; the element
//    and byte counts must not overflow) and "data_offsets" [begin, end] with begin ≤ end and
//    end − begin == numel × dtype size. Other keys in a tensor entry are ignored (as the crate
//    does); a key given twice in one object — tensor names included — is an error.
//  - Sorted by offset, the tensors must tile the data section exactly, as the crate's
//    validate() requires: the first begins at 0, each begins where the previous ended (no gap,
//    no overlap; zero-size tensors may share an offset) and the last ends at the end of file.
//  - "__metadata__", when present, is an object of string → string.
// The mapping must not be truncated by another process while open (that raises SIGBUS).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

typedef enum {
    ST_BOOL, ST_U8, ST_I8, ST_I16, ST_U16, ST_F16, ST_BF16, ST_I32, ST_U32, ST_F32,
    ST_I64, ST_U64, ST_F64, ST_F8_E4M3, ST_F8_E5M2, ST_DTYPE_COUNT
} StDtype;

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER_SIZE 100000000u          // bytes, as in the reference crate
#define ST_MAX_JSON_INT 9007199254740991ull    // 2^53 - 1: largest shape dim or offset

typedef struct {
    char *name;                   // owned
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void *data;             // borrowed: points into the mapping (or the writer's buffer);
                                  // may be unaligned for the dtype in files not padded to 8
    size_t nbytes;
    uint64_t offset;              // data_offsets[0], relative to the start of the data section
} StTensor;

// io/ckpt.c fills this same struct for PyTorch .ckpt/.bin files, so what st_close frees
// must stay in sync with both readers.
typedef struct {
    char *path;                   // owned copy, for error messages
    void *map;                    // mmap of the whole file (NULL after st_open_memory)
    size_t map_size;
    const unsigned char *bytes;   // the whole file: the mapping or the caller's buffer
    size_t size;
    size_t header_len;            // N; the data section starts at bytes + 8 + N
    size_t data_size;             // size - 8 - N
    StTensor *tensors;            // in file order (sorted by data offset, then name)
    int64_t n_tensors;
    int64_t *by_name;             // indices into tensors, sorted by name (for st_find)
    char **meta_keys, **meta_values; // __metadata__ in header order, owned
    int64_t n_meta;
} SafeTensors;

const char *st_dtype_name(StDtype dt);   // "F32", "BF16", ...; "?" if out of range
size_t st_dtype_size(StDtype dt);        // bytes per element; 0 if out of range
int st_dtype_from_name(const char *name, StDtype *out); // 1 if known

// Opens and validates the whole header; on failure records an error naming the file and the
// exact problem (and leaves *st empty, safe to st_close). Tensor data is not copied.
// A missing/unreadable file, a directory, a non-regular file or an empty file is SDL_ERR_IO;
// a malformed one SDL_ERR_FORMAT; running out of memory SDL_ERR_OOM.
SdlStatus st_open(SafeTensors *st, const char *path);
// Same checks over a file already in memory; `name` is used in error messages. The buffer is
// borrowed (tensor data points into it) and must outlive *st.
SdlStatus st_open_memory(SafeTensors *st, const void *bytes, size_t size, const char *name);
// Maps path read-only and hands it to `parse` (st_open_memory, or ckpt_open_memory for PyTorch
// files); on success *st owns the mapping (st_close unmaps it). `what` words the hint of I/O
// errors ("a .safetensors file").
typedef SdlStatus (*StParseFn)(SafeTensors *st, const void *bytes, size_t size, const char *name);
SdlStatus st_open_mapped(SafeTensors *st, const char *path, const char *what, StParseFn parse);
void st_close(SafeTensors *st);
const StTensor *st_find(const SafeTensors *st, const char *name);           // NULL if absent
const char *st_metadata_get(const SafeTensors *st, const char *key);        // NULL if absent
// Converts F32/F16/BF16/F64 data to fp32 into dst[numel]; other dtypes are an error
// (SDL_ERR_UNSUPPORTED). Works for unaligned data.
SdlStatus st_tensor_to_f32(const SafeTensors *st, const StTensor *t, float *dst);

// Writer. The same content always gives the same bytes, whatever the order of the add/set
// calls: data is laid out as the reference writer lays it out — by dtype in the crate's
// alignment order (U64 I64 F64 F32 U32 I32 BF16 F16 U16 I16 F8_E4M3 F8_E5M2 I8 U8 BOOL), then
// by name (byte order) — so every tensor is aligned to its element size, and the data section
// is byte-identical to Python's safetensors.serialize of the same tensors (kohya's
// sshs_model_hash is a sha256 of exactly that section). Header entries follow the data order,
// after "__metadata__" (keys sorted) when there is any; the header is padded with spaces so the
// data starts at a multiple of 8. Without metadata, or with one key, the whole file is
// byte-identical to Python's.
// Data pointers are borrowed until st_writer_save returns. Invalid input to st_writer_add or
// st_writer_set_metadata (bad name, shape, dtype, duplicate name, invalid UTF-8, no memory) is
// remembered and reported by st_writer_save, which then writes nothing.
typedef struct StWriter StWriter;
StWriter *st_writer_new(void);           // NULL if out of memory (the other calls accept NULL)
void st_writer_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape,
                   const void *data);
void st_writer_add_f32(StWriter *w, const char *name, int ndim, const int64_t *shape, const float *data);
// Setting a key again replaces its value.
void st_writer_set_metadata(StWriter *w, const char *key, const char *value);
SdlStatus st_writer_save(StWriter *w, const char *path); // atomic (base/atomic_file.h)
// The same bytes st_writer_save would write, in a malloc'ed buffer (*out; free() it).
SdlStatus st_writer_to_memory(StWriter *w, void **out, size_t *size);
void st_writer_free(StWriter *w);
