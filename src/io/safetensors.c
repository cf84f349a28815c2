// safetensors.c — strict reader and deterministic atomic writer; the rules are in safetensors.h.
//
// Reading: the header is first scanned as raw text (UTF-8, control characters, \u0000, and the
// exact integer syntax of every number), then parsed by cJSON, whose doubles are exact because
// the scan capped every number at 2^53 − 1. Then each entry is checked, and finally the sorted
// offsets must tile the data section.
#include "base/file.h"
#include "io/safetensors.h"
#include "io/json.h"
#include "base/atomic_file.h"
#include "base/half.h"
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; sdlora supports only little-endian hosts"
#endif

#define HINT_DAMAGED "the file is damaged or is not a safetensors file; re-download or re-export it"
#define HINT_TRUNCATED "the file looks truncated (an interrupted download or copy?); re-download or re-export it"

// rank: position in the reference crate's Dtype enum, whose descending order its writer uses to
// lay out data (largest alignment first); we follow it so files match byte for byte.
static const struct { const char *name; uint8_t size; uint8_t rank; } dtype_table[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1, 0},     [ST_U8] = {"U8", 1, 1},         [ST_I8] = {"I8", 1, 2},
    [ST_F8_E5M2] = {"F8_E5M2", 1, 3}, [ST_F8_E4M3] = {"F8_E4M3", 1, 4},
    [ST_I16] = {"I16", 2, 5},       [ST_U16] = {"U16", 2, 6},       [ST_F16] = {"F16", 2, 7},
    [ST_BF16] = {"BF16", 2, 8},     [ST_I32] = {"I32", 4, 9},       [ST_U32] = {"U32", 4, 10},
    [ST_F32] = {"F32", 4, 11},      [ST_F64] = {"F64", 8, 12},      [ST_I64] = {"I64", 8, 13},
    [ST_U64] = {"U64", 8, 14},
};

const char *st_dtype_name(StDtype dt) {
    return (unsigned)dt < ST_DTYPE_COUNT ? dtype_table[dt].name : "?";
}

size_t st_dtype_size(StDtype dt) {
    return (unsigned)dt < ST_DTYPE_COUNT ? dtype_table[dt].size : 0;
}

int st_dtype_from_name(const char *name, StDtype *out) {
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strcmp(name, dtype_table[i].name) == 0) {
            *out = (StDtype)i;
            return 1;
        }
    return 0;
}

// ---------------------------------------------------------------- error helpers

// A name as it can be printed in a message: control characters become '?', long names are cut.
static const char *printable(const char *s, char *buf, size_t cap) {
    size_t n = 0, i = 0;
    for (; s[i] && n + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (s[i]) buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
    buf[n] = '\0';
    return buf;
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

// ---------------------------------------------------------------- header text scan

static int is_hex(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hex_val(unsigned char c) {
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

// Lexical checks cJSON does not make. Offsets in messages count from the header's first byte.
// Invalid JSON it lets through is left for cJSON to reject.
static SdlStatus header_scan(const char *hdr, size_t n, const char *file) {
    const unsigned char *h = (const unsigned char *)hdr;
    size_t i = 0;
    while (i < n) {
        unsigned char c = h[i];
        if (c == '"') {
            size_t start = i++;
            for (;;) {
                if (i >= n)
                    return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                                    "header JSON: string starting at header byte %zu is not terminated", start);
                c = h[i];
                if (c == '"') { i++; break; }
                if (c < 0x20)
                    return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                                    "header JSON: raw control character 0x%02x inside a string at header byte %zu", c, i);
                if (c == '\\') {
                    if (i + 1 < n && h[i + 1] == 'u') {
                        if (i + 6 > n || !is_hex(h[i + 2]) || !is_hex(h[i + 3]) || !is_hex(h[i + 4]) || !is_hex(h[i + 5]))
                            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                                            "header JSON: bad \\u escape at header byte %zu", i);
                        unsigned v = hex_val(h[i + 2]) << 12 | hex_val(h[i + 3]) << 8 | hex_val(h[i + 4]) << 4 | hex_val(h[i + 5]);
                        if (v == 0)
                            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                                            "header JSON: \\u0000 (NUL) inside a string at header byte %zu; names and metadata cannot contain NUL", i);
                        i += 6;
                    } else {
                        i += 2; // cJSON rejects unknown escape letters
                    }
                    continue;
                }
                if (c >= 0x80) {
                    size_t len = json_utf8_seq_len(h + i, n - i);
                    if (!len)
                        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                                        "header is not valid UTF-8 (bad byte 0x%02x at header byte %zu)", c, i);
                    i += len;
                    continue;
                }
                i++;
            }
            continue;
        }
        if (c == '-')
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                            "header JSON: negative number at header byte %zu; shapes and offsets must be non-negative integers", i);
        if (c >= '0' && c <= '9') {
            size_t start = i;
            uint64_t v = 0;
            int too_big = 0;
            for (; i < n && h[i] >= '0' && h[i] <= '9'; i++) {
                v = v * 10 + (uint64_t)(h[i] - '0');
                if (v > ST_MAX_JSON_INT) too_big = 1, v = ST_MAX_JSON_INT; // keep v bounded
            }
            if (i - start > 1 && h[start] == '0')
                return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                                "header JSON: number with a leading zero at header byte %zu", start);
            if (i < n && (h[i] == '.' || h[i] == 'e' || h[i] == 'E'))
                return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                                "header JSON: non-integer number at header byte %zu; shapes and offsets must be integers", start);
            if (too_big)
                return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                                "header JSON: integer at header byte %zu is too large (sdlora's limit for shapes and offsets is 2^53-1)", start);
            continue;
        }
        if (c >= 0x80)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                            "header JSON: unexpected byte 0x%02x outside a string at header byte %zu", c, i);
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                            "header JSON: control character 0x%02x at header byte %zu (only spaces may pad the header)", c, i);
        i++;
    }
    return SDL_OK;
}

// ---------------------------------------------------------------- reader

static void free_parsed(SafeTensors *st) {
    for (int64_t i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    for (int64_t i = 0; i < st->n_meta; i++) free(st->meta_keys[i]), free(st->meta_values[i]);
    free(st->tensors);
    free(st->by_name);
    free(st->meta_keys);
    free(st->meta_values);
    st->tensors = NULL, st->by_name = NULL, st->meta_keys = st->meta_values = NULL;
    st->n_tensors = st->n_meta = 0;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// Returns the first key that occurs twice among the n children of obj, NULL if none;
// *oom = 1 if the check could not allocate.
static const char *duplicate_key(const cJSON *obj, size_t n, int *oom) {
    *oom = 0;
    if (n < 2) return NULL;
    const char **keys = malloc(n * sizeof *keys);
    if (!keys) { *oom = 1; return NULL; }
    size_t k = 0;
    for (const cJSON *c = obj->child; c && k < n; c = c->next) keys[k++] = c->string;
    qsort(keys, k, sizeof *keys, cmp_str_ptr);
    const char *dup = NULL;
    for (size_t i = 1; i < k && !dup; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0) dup = keys[i];
    free(keys);
    return dup;
}

static const char *json_type_name(const cJSON *v) {
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    return "invalid";
}

static SdlStatus parse_metadata(SafeTensors *st, const cJSON *m, const char *file) {
    if (!cJSON_IsObject(m))
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "\"__metadata__\" is %s, not an object", json_type_name(m));
    size_t n = 0;
    for (const cJSON *c = m->child; c; c = c->next) n++;
    int oom;
    const char *dup = duplicate_key(m, n, &oom);
    char pb[160];
    if (oom) return sdl_fail(SDL_ERR_OOM, file, NULL, "out of memory reading the metadata");
    if (dup)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "metadata key '%s' appears twice (duplicate key)", printable(dup, pb, sizeof pb));
    st->meta_keys = calloc(n ? n : 1, sizeof(char *));
    st->meta_values = calloc(n ? n : 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_values) return sdl_fail(SDL_ERR_OOM, file, NULL, "out of memory reading the metadata");
    for (const cJSON *c = m->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "metadata value of '%s' is %s, not a string",
                            printable(c->string, pb, sizeof pb), json_type_name(c));
        char *k = strdup(c->string), *v = strdup(c->valuestring);
        if (!k || !v) {
            free(k), free(v);
            return sdl_fail(SDL_ERR_OOM, file, NULL, "out of memory reading the metadata");
        }
        st->meta_keys[st->n_meta] = k;
        st->meta_values[st->n_meta] = v;
        st->n_meta++;
    }
    return SDL_OK;
}

// Checks one tensor entry and fills *t (name not yet set). Offsets must lie in the data section.
static SdlStatus parse_tensor(StTensor *t, const cJSON *e, size_t data_size, const char *file) {
    char pb[160], sb[256];
    const char *name = printable(e->string, pb, sizeof pb);
    if (!cJSON_IsObject(e))
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor '%s': entry is %s, not an object", name, json_type_name(e));
    const cJSON *dt = NULL, *sh = NULL, *off = NULL;
    for (const cJSON *c = e->child; c; c = c->next) {
        const cJSON **slot = strcmp(c->string, "dtype") == 0 ? &dt
                           : strcmp(c->string, "shape") == 0 ? &sh
                           : strcmp(c->string, "data_offsets") == 0 ? &off : NULL;
        if (!slot) continue; // unknown fields are ignored, as the reference crate does
        if (*slot)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor '%s': \"%s\" appears twice (duplicate key)", name, c->string);
        *slot = c;
    }
    if (!dt || !sh || !off)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor '%s': missing \"%s\"", name,
                        !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (!cJSON_IsString(dt))
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor '%s': \"dtype\" is %s, not a string", name, json_type_name(dt));
    if (!st_dtype_from_name(dt->valuestring, &t->dtype))
        return sdl_fail(SDL_ERR_UNSUPPORTED, file,
                        "sdlora reads BOOL U8 I8 I16 U16 F16 BF16 I32 U32 F32 I64 U64 F64 F8_E4M3 F8_E5M2; "
                        "convert the file to one of these (e.g. F16)",
                        "tensor '%s': unknown dtype \"%s\"", name, printable(dt->valuestring, sb, 64));

    if (!cJSON_IsArray(sh))
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor '%s': \"shape\" is %s, not an array", name, json_type_name(sh));
    int ndim = 0;
    for (const cJSON *d = sh->child; d; d = d->next, ndim++) {
        if (ndim == ST_MAX_DIMS)
            return sdl_fail(SDL_ERR_UNSUPPORTED, file, "tensors may have at most 8 dimensions",
                            "tensor '%s': shape has more than %d dims", name, ST_MAX_DIMS);
        if (!cJSON_IsNumber(d))
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor '%s': shape dim %d is %s, not an integer", name, ndim, json_type_name(d));
        t->shape[ndim] = (int64_t)d->valuedouble; // exact: header_scan allowed only integers ≤ 2^53-1
    }
    t->ndim = ndim;
    uint64_t numel = 1, nbytes;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(numel, (uint64_t)t->shape[i], &numel) || numel > INT64_MAX) {
            format_shape(sb, sizeof sb, ndim, t->shape);
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor '%s': shape %s overflows the element count", name, sb);
        }
    if (__builtin_mul_overflow(numel, (uint64_t)dtype_table[t->dtype].size, &nbytes) || nbytes > SIZE_MAX) {
        format_shape(sb, sizeof sb, ndim, t->shape);
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor '%s': shape %s overflows the byte count", name, sb);
    }
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)nbytes;

    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !cJSON_IsNumber(off->child) || !cJSON_IsNumber(off->child->next))
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor '%s': \"data_offsets\" must be an array [begin, end] of two integers", name);
    uint64_t begin = (uint64_t)off->child->valuedouble, end = (uint64_t)off->child->next->valuedouble;
    if (begin > end)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor '%s': data_offsets [%llu, %llu] has begin > end",
                        name, (unsigned long long)begin, (unsigned long long)end);
    if (end - begin != nbytes) {
        format_shape(sb, sizeof sb, ndim, t->shape);
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                        "tensor '%s': size mismatch: %s %s is %llu bytes but data_offsets [%llu, %llu] span %llu bytes",
                        name, dtype_table[t->dtype].name, sb, (unsigned long long)nbytes,
                        (unsigned long long)begin, (unsigned long long)end, (unsigned long long)(end - begin));
    }
    if (end > data_size)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_TRUNCATED,
                        "tensor '%s': data_offsets [%llu, %llu] out of range: the data section has only %zu bytes",
                        name, (unsigned long long)begin, (unsigned long long)end, data_size);
    t->offset = begin;
    return SDL_OK;
}

static int cmp_tensor_offset(const void *a, const void *b) {
    const StTensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static _Thread_local const StTensor *by_name_base; // qsort has no context argument
static int cmp_index_by_name(const void *a, const void *b) {
    return strcmp(by_name_base[*(const int64_t *)a].name, by_name_base[*(const int64_t *)b].name);
}

// Everything after the JSON parsed: entries, duplicates, coverage.
static SdlStatus build_index(SafeTensors *st, const cJSON *root, const char *file) {
    size_t n_items = 0;
    for (const cJSON *c = root->child; c; c = c->next) n_items++;
    st->tensors = calloc(n_items ? n_items : 1, sizeof(StTensor));
    if (!st->tensors) return sdl_fail(SDL_ERR_OOM, file, NULL, "out of memory: %zu header entries", n_items);
    const unsigned char *data = st->bytes + 8 + st->header_len;
    int have_meta = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (have_meta)
                return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "\"__metadata__\" appears twice (duplicate key)");
            have_meta = 1;
            SDL_TRY(parse_metadata(st, c, file));
            continue;
        }
        StTensor *t = &st->tensors[st->n_tensors];
        SDL_TRY(parse_tensor(t, c, st->data_size, file));
        if (!(t->name = strdup(c->string))) return sdl_fail(SDL_ERR_OOM, file, NULL, "out of memory reading tensor names");
        t->data = data + t->offset;
        st->n_tensors++;
    }

    // Duplicate names (cJSON keeps every copy of a repeated key).
    int64_t n = st->n_tensors;
    st->by_name = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (!st->by_name) return sdl_fail(SDL_ERR_OOM, file, NULL, "out of memory indexing %lld tensors", (long long)n);
    qsort(st->tensors, (size_t)n, sizeof(StTensor), cmp_tensor_offset);
    for (int64_t i = 0; i < n; i++) st->by_name[i] = i;
    by_name_base = st->tensors;
    qsort(st->by_name, (size_t)n, sizeof(int64_t), cmp_index_by_name);
    char pb[160], pb2[160];
    for (int64_t i = 1; i < n; i++) {
        const char *a = st->tensors[st->by_name[i - 1]].name, *b = st->tensors[st->by_name[i]].name;
        if (strcmp(a, b) == 0)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor name '%s' appears twice (duplicate name)", printable(a, pb, sizeof pb));
    }

    // Coverage: sorted by offset, tensors must tile [0, data_size) exactly.
    uint64_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        const StTensor *t = &st->tensors[i];
        if (t->offset < pos)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                            "tensors '%s' and '%s' overlap: '%s' begins at %llu but '%s' ends at %llu",
                            printable(st->tensors[i - 1].name, pb, sizeof pb), printable(t->name, pb2, sizeof pb2),
                            pb2, (unsigned long long)t->offset, pb, (unsigned long long)pos);
        if (t->offset > pos)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                            "gap in the data section: bytes [%llu, %llu) before tensor '%s' belong to no tensor",
                            (unsigned long long)pos, (unsigned long long)t->offset, printable(t->name, pb, sizeof pb));
        pos = t->offset + t->nbytes;
    }
    if (pos != st->data_size)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                        "%llu trailing bytes after the last tensor (data section is %zu bytes, tensors end at %llu)",
                        (unsigned long long)(st->data_size - pos), st->data_size, (unsigned long long)pos);
    return SDL_OK;
}

// Validates st->bytes[0..size) and fills *st; on failure frees what it built.
static SdlStatus parse_file(SafeTensors *st, const char *file) {
    const unsigned char *b = st->bytes;
    size_t size = st->size;
    if (size < 8)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_TRUNCATED, "file is only %zu bytes, shorter than the 8-byte header length", size);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)b[i] << (8 * i);
    if (n == 0)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "header length is 0 (even an empty file has the header \"{}\")");
    if (n > ST_MAX_HEADER_SIZE)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "header length %llu is absurd (limit %u bytes)",
                        (unsigned long long)n, ST_MAX_HEADER_SIZE);
    if (n > size - 8)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_TRUNCATED, "header length %llu is larger than the %zu bytes after the length field",
                        (unsigned long long)n, size - 8);
    st->header_len = (size_t)n;
    st->data_size = size - 8 - (size_t)n;
    const char *h = (const char *)b + 8;
    if (h[0] != '{')
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "header is not a JSON object: it does not start with '{' (first byte 0x%02x)", (unsigned char)h[0]);
    SDL_TRY(header_scan(h, (size_t)n, file));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)n, &end, 0);
    if (!root) {
        size_t at = (end && end >= h && end <= h + n) ? (size_t)(end - h) : 0;
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "header is not valid JSON (error near header byte %zu)", at);
    }
    SdlStatus status = SDL_OK;
    for (const char *p = end; p < h + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            status = sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "header is not valid JSON: unexpected data after the top-level object at header byte %zu",
                              (size_t)(p - h));
            break;
        }
    if (status == SDL_OK && !cJSON_IsObject(root))
        status = sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "header is %s, not a JSON object", json_type_name(root));
    if (status == SDL_OK) status = build_index(st, root, file);
    cJSON_Delete(root);
    if (status != SDL_OK) free_parsed(st);
    return status;
}

SdlStatus st_open_memory(SafeTensors *st, const void *bytes, size_t size, const char *name) {
    memset(st, 0, sizeof *st);
    if (!name) name = "(memory)";
    if (!bytes && size) return sdl_fail(SDL_ERR_ARG, name, NULL, "st_open_memory: NULL buffer");
    st->bytes = bytes;
    st->size = size;
    SdlStatus status = parse_file(st, name);
    if (status == SDL_OK && !(st->path = strdup(name))) status = sdl_fail(SDL_ERR_OOM, name, NULL, "out of memory");
    if (status != SDL_OK) {
        free_parsed(st);
        memset(st, 0, sizeof *st);
    }
    return status;
}

SdlStatus st_open_mapped(SafeTensors *st, const char *path, const char *what, StParseFn parse) {
    memset(st, 0, sizeof *st);
    void *map;
    size_t size;
    SDL_TRY(file_map_readonly(path, what, &map, &size));
    SdlStatus status = parse(st, map, size, path);
    if (status != SDL_OK) {
        munmap(map, size);
        return status;
    }
    st->map = map; // st_close unmaps it
    st->map_size = size;
    return SDL_OK;
}

SdlStatus st_open(SafeTensors *st, const char *path) {
    return st_open_mapped(st, path, "a .safetensors file", st_open_memory);
}

void st_close(SafeTensors *st) {
    if (!st) return;
    free_parsed(st);
    if (st->map) munmap(st->map, st->map_size);
    free(st->path);
    memset(st, 0, sizeof *st);
}

const StTensor *st_find(const SafeTensors *st, const char *name) {
    int64_t lo = 0, hi = st->n_tensors; // binary search over the by-name index
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const StTensor *t = &st->tensors[st->by_name[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *st_metadata_get(const SafeTensors *st, const char *key) {
    for (int64_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

SdlStatus st_tensor_to_f32(const SafeTensors *st, const StTensor *t, float *dst) {
    const char *file = st && st->path ? st->path : NULL;
    if (!t) return sdl_fail(SDL_ERR_ARG, file, NULL, "st_tensor_to_f32: NULL tensor");
    char pb[160];
    size_t n = (size_t)t->numel;
    const unsigned char *src = t->data;
    switch (t->dtype) {
    case ST_F32:
        if (n) memcpy(dst, src, n * sizeof(float));
        return SDL_OK;
    case ST_F16:
    case ST_BF16:
        if ((uintptr_t)src % sizeof(uint16_t) == 0) {
            if (t->dtype == ST_F16) fp16_to_fp32_array(dst, (const uint16_t *)(const void *)src, n);
            else bf16_to_fp32_array(dst, (const uint16_t *)(const void *)src, n);
        } else { // unaligned (header length not a multiple of 8): copy each element out
            for (size_t i = 0; i < n; i++) {
                uint16_t v;
                memcpy(&v, src + 2 * i, 2);
                dst[i] = t->dtype == ST_F16 ? fp16_to_fp32(v) : bf16_to_fp32(v);
            }
        }
        return SDL_OK;
    case ST_F64:
        for (size_t i = 0; i < n; i++) {
            double v;
            memcpy(&v, src + 8 * i, 8);
            dst[i] = (float)v;
        }
        return SDL_OK;
    default:
        return sdl_fail(SDL_ERR_UNSUPPORTED, file, "only F32, F16, BF16 and F64 tensors convert to fp32",
                        "tensor '%s' has dtype %s, which does not convert to fp32", printable(t->name, pb, sizeof pb),
                        st_dtype_name(t->dtype));
    }
}

// ---------------------------------------------------------------- writer

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t nbytes;
    const void *data;
} StWEntry;

struct StWriter {
    StWEntry *t;
    size_t n, cap;
    struct { char *key, *value; } *meta; // owned, in the order first set
    size_t n_meta, cap_meta;
    SdlStatus err;      // first invalid input, reported by save
    char err_reason[768];
};

static void writer_error(StWriter *w, SdlStatus st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void writer_error(StWriter *w, SdlStatus st, const char *fmt, ...) {
    if (w->err) return; // keep the first
    w->err = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err_reason, sizeof w->err_reason, fmt, ap);
    va_end(ap);
}

// Records the error and leaves the calling void function.
#define WFAIL(...) do { writer_error(w, __VA_ARGS__); return; } while (0)

StWriter *st_writer_new(void) { return calloc(1, sizeof(StWriter)); }

void st_writer_free(StWriter *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    for (size_t i = 0; i < w->n_meta; i++) free(w->meta[i].key), free(w->meta[i].value);
    free(w->t);
    free(w->meta);
    free(w);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap * 2 : 16;
    if (c < need) c = need;
    if (c > SIZE_MAX / elem) return 0;
    void *q = realloc(*p, c * elem);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

void st_writer_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape, const void *data) {
    if (!w || w->err) return;
    char pb[160], sb[256];
    if (!name) WFAIL(SDL_ERR_ARG, "st_writer_add: tensor name is NULL");
    const char *pn = printable(name, pb, sizeof pb);
    if (strcmp(name, "__metadata__") == 0)
        WFAIL(SDL_ERR_ARG, "the tensor name \"__metadata__\" is reserved for metadata");
    if (!json_utf8_valid(name, strlen(name), NULL))
        WFAIL(SDL_ERR_ARG, "tensor name '%s' is not valid UTF-8", pn);
    if ((unsigned)dtype >= ST_DTYPE_COUNT)
        WFAIL(SDL_ERR_ARG, "tensor '%s': invalid dtype %d", pn, (int)dtype);
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        WFAIL(SDL_ERR_ARG, "tensor '%s': %d dims (must be 0..%d)", pn, ndim, ST_MAX_DIMS);
    if (ndim > 0 && !shape) WFAIL(SDL_ERR_ARG, "tensor '%s': NULL shape", pn);
    uint64_t numel = 1, nbytes;
    int overflow = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (uint64_t)shape[i] > ST_MAX_JSON_INT) {
            format_shape(sb, sizeof sb, ndim, shape);
            WFAIL(SDL_ERR_ARG, "tensor '%s': invalid shape %s", pn, sb);
        }
        // like the reader (and the reference), an overflowing partial product is an error even
        // when a later dim is 0, so that whatever is written can be read back
        if (__builtin_mul_overflow(numel, (uint64_t)shape[i], &numel) || numel > INT64_MAX) overflow = 1;
    }
    if (overflow || __builtin_mul_overflow(numel, (uint64_t)dtype_table[dtype].size, &nbytes) ||
        nbytes > ST_MAX_JSON_INT) {
        format_shape(sb, sizeof sb, ndim, shape);
        WFAIL(SDL_ERR_ARG, "tensor '%s': shape %s is too large", pn, sb);
    }
    if (nbytes && !data) WFAIL(SDL_ERR_ARG, "tensor '%s': NULL data", pn);
    if (!grow((void **)&w->t, &w->cap, w->n + 1, sizeof *w->t))
        WFAIL(SDL_ERR_OOM, "out of memory adding tensor '%s'", pn);
    StWEntry *e = &w->t[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name))) WFAIL(SDL_ERR_OOM, "out of memory adding tensor '%s'", pn);
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->nbytes = (size_t)nbytes;
    e->data = data;
    w->n++;
}

void st_writer_add_f32(StWriter *w, const char *name, int ndim, const int64_t *shape, const float *data) {
    st_writer_add(w, name, ST_F32, ndim, shape, data);
}

void st_writer_set_metadata(StWriter *w, const char *key, const char *value) {
    if (!w || w->err) return;
    char pb[160];
    if (!key || !value) WFAIL(SDL_ERR_ARG, "st_writer_set_metadata: NULL %s", key ? "value" : "key");
    if (!json_utf8_valid(key, strlen(key), NULL) || !json_utf8_valid(value, strlen(value), NULL))
        WFAIL(SDL_ERR_ARG, "metadata '%s': key or value is not valid UTF-8", printable(key, pb, sizeof pb));
    char *v = strdup(value);
    if (!v) WFAIL(SDL_ERR_OOM, "out of memory setting metadata");
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return;
        }
    char *k = strdup(key);
    if (!k || !grow((void **)&w->meta, &w->cap_meta, w->n_meta + 1, sizeof *w->meta)) {
        free(k), free(v);
        WFAIL(SDL_ERR_OOM, "out of memory setting metadata");
    }
    w->meta[w->n_meta].key = k;
    w->meta[w->n_meta].value = v;
    w->n_meta++;
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp((*(const StWEntry *const *)a)->name, (*(const StWEntry *const *)b)->name);
}

static int cmp_entry_layout(const void *a, const void *b) {
    const StWEntry *x = *(const StWEntry *const *)a, *y = *(const StWEntry *const *)b;
    int rx = dtype_table[x->dtype].rank, ry = dtype_table[y->dtype].rank;
    if (rx != ry) return ry - rx; // descending alignment, as the reference writer
    return strcmp(x->name, y->name);
}

typedef struct { const char *key, *value; } MetaPair;
static int cmp_meta_pair(const void *a, const void *b) {
    return strcmp(((const MetaPair *)a)->key, ((const MetaPair *)b)->key);
}

typedef struct {
    JsonBuf header;         // padded header JSON
    const StWEntry **order; // data order
    uint64_t data_size;
} StLayout;

static void layout_free(StLayout *l) {
    json_buf_free(&l->header);
    free(l->order);
    l->order = NULL;
}

static SdlStatus writer_prepare(StWriter *w, const char *file, StLayout *l) {
    memset(l, 0, sizeof *l);
    json_buf_init(&l->header);
    if (!w) return sdl_fail(SDL_ERR_OOM, file, NULL, "out of memory creating the safetensors writer");
    if (w->err) return sdl_fail(w->err, file, w->err == SDL_ERR_OOM ? NULL : "this is a bug in the caller; nothing was written", "%s", w->err_reason);
    l->order = malloc((w->n ? w->n : 1) * sizeof *l->order);
    MetaPair *meta = malloc((w->n_meta ? w->n_meta : 1) * sizeof *meta);
    if (!l->order || !meta) {
        free(meta);
        layout_free(l);
        return sdl_fail(SDL_ERR_OOM, file, NULL, "out of memory preparing the header");
    }
    for (size_t i = 0; i < w->n; i++) l->order[i] = &w->t[i];
    qsort(l->order, w->n, sizeof *l->order, cmp_entry_name);
    char pb[160];
    for (size_t i = 1; i < w->n; i++)
        if (strcmp(l->order[i - 1]->name, l->order[i]->name) == 0) {
            free(meta);
            SdlStatus st = sdl_fail(SDL_ERR_ARG, file, "this is a bug in the caller; nothing was written",
                                    "tensor '%s' was added twice", printable(l->order[i]->name, pb, sizeof pb));
            layout_free(l);
            return st;
        }
    qsort(l->order, w->n, sizeof *l->order, cmp_entry_layout);
    for (size_t i = 0; i < w->n_meta; i++) meta[i].key = w->meta[i].key, meta[i].value = w->meta[i].value;
    qsort(meta, w->n_meta, sizeof *meta, cmp_meta_pair);

    JsonBuf *h = &l->header;
    json_buf_putc(h, '{');
    if (w->n_meta) {
        json_buf_puts(h, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_meta; i++) {
            if (i) json_buf_putc(h, ',');
            json_buf_string(h, meta[i].key);
            json_buf_putc(h, ':');
            json_buf_string(h, meta[i].value);
        }
        json_buf_putc(h, '}');
    }
    free(meta);
    uint64_t pos = 0;
    int too_big = 0;
    for (size_t i = 0; i < w->n; i++) {
        const StWEntry *e = l->order[i];
        if (i || w->n_meta) json_buf_putc(h, ',');
        json_buf_string(h, e->name);
        json_buf_puts(h, ":{\"dtype\":\"");
        json_buf_puts(h, dtype_table[e->dtype].name);
        json_buf_puts(h, "\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            if (d) json_buf_putc(h, ',');
            json_buf_u64(h, (uint64_t)e->shape[d]);
        }
        json_buf_puts(h, "],\"data_offsets\":[");
        json_buf_u64(h, pos);
        json_buf_putc(h, ',');
        if (e->nbytes > ST_MAX_JSON_INT - pos) too_big = 1;
        else pos += e->nbytes;
        json_buf_u64(h, pos);
        json_buf_puts(h, "]}");
    }
    json_buf_putc(h, '}');
    while (h->len % 8) json_buf_putc(h, ' '); // data starts 8-aligned: 8 + len ≡ 0 (mod 8)
    if (h->oom) {
        layout_free(l);
        return sdl_fail(SDL_ERR_OOM, file, NULL, "out of memory building the header");
    }
    if (too_big || h->len > ST_MAX_HEADER_SIZE) {
        SdlStatus st = too_big
            ? sdl_fail(SDL_ERR_ARG, file, "split the tensors over several files", "the tensors add up to more than 2^53-1 bytes")
            : sdl_fail(SDL_ERR_ARG, file, "split the tensors over several files",
                       "the header would be %zu bytes, over the %u-byte limit readers accept", h->len, ST_MAX_HEADER_SIZE);
        layout_free(l);
        return st;
    }
    l->data_size = pos;
    return SDL_OK;
}

static void put_u64_le(unsigned char out[8], uint64_t v) {
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)(v >> (8 * i));
}

SdlStatus st_writer_save(StWriter *w, const char *path) {
    StLayout l;
    SDL_TRY(writer_prepare(w, path, &l));
    AtomicFile af;
    SdlStatus status = atomic_open(&af, path);
    if (status != SDL_OK) {
        layout_free(&l);
        return status;
    }
    unsigned char len8[8];
    put_u64_le(len8, l.header.len);
    int ok = fwrite(len8, 1, 8, af.fp) == 8 && fwrite(l.header.data, 1, l.header.len, af.fp) == l.header.len;
    for (size_t i = 0; ok && i < w->n; i++)
        if (l.order[i]->nbytes) ok = fwrite(l.order[i]->data, 1, l.order[i]->nbytes, af.fp) == l.order[i]->nbytes;
    int e = errno;
    layout_free(&l);
    if (!ok) {
        atomic_abort(&af);
        return sdl_fail(SDL_ERR_IO, path, "check free disk space; the previous file is unchanged", "write failed: %s", strerror(e));
    }
    return atomic_commit(&af);
}

SdlStatus st_writer_to_memory(StWriter *w, void **out, size_t *size) {
    *out = NULL;
    *size = 0;
    StLayout l;
    SDL_TRY(writer_prepare(w, "(memory)", &l));
    if (l.data_size > SIZE_MAX - 8 - l.header.len) {
        layout_free(&l);
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "safetensors file too large for memory");
    }
    size_t total = 8 + l.header.len + (size_t)l.data_size;
    unsigned char *buf = malloc(total);
    if (!buf) {
        layout_free(&l);
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory: %zu bytes for a safetensors file", total);
    }
    put_u64_le(buf, l.header.len);
    memcpy(buf + 8, l.header.data, l.header.len);
    size_t pos = 8 + l.header.len;
    for (size_t i = 0; i < w->n; i++) {
        if (l.order[i]->nbytes) memcpy(buf + pos, l.order[i]->data, l.order[i]->nbytes);
        pos += l.order[i]->nbytes;
    }
    layout_free(&l);
    *out = buf;
    *size = total;
    return SDL_OK;
}
