// load.c — see load.h.
#include "models/load.h"
#include "base/half.h"
#include "base/log.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// Once a tensor is converted into the model's own storage, its pages of the mapped file are no
// longer needed: dropping them keeps resident memory at the weights' compute-dtype size instead
// of that plus the file (a 2 GB fp16 checkpoint would otherwise add 2 GB of RSS). The pages
// stay in the page cache; nothing is lost if they are touched again.
static void release_mapped(const SafeTensors *src, const StTensor *t) {
    if (!src->map || t->nbytes == 0) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)t->data + page - 1) & ~(page - 1);          // whole pages inside
    uintptr_t hi = ((uintptr_t)t->data + t->nbytes) & ~(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

// Shapes equal after dropping trailing 1s.
static int same_weights_shape(int na, const int64_t *a, int nb, const int64_t *b) {
    while (na > 0 && a[na - 1] == 1) na--;
    while (nb > 0 && b[nb - 1] == 1) nb--;
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

// A tensor of any convertible dtype into 16-bit storage: a plain copy when the file already
// holds that dtype (fp16 checkpoints into fp16), else through fp32 in chunks (so no
// tensor-sized temporary). fp16 has a narrow range: a finite value that overflows is an error.
static SdlStatus tensor_to_half(const SafeTensors *src, const StTensor *ten, uint16_t *dst, ParamDtype dt,
                                const char *what, const char *key) {
    size_t n = (size_t)ten->numel, esz = st_dtype_size(ten->dtype);
    if (ten->dtype == (dt == PARAM_BF16 ? ST_BF16 : ST_F16)) {
        if (n) memcpy(dst, ten->data, n * sizeof(uint16_t)); // memcpy: the data may be unaligned
        return SDL_OK;
    }
    enum { CHUNK = 4096 };
    float buf[CHUNK];
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t c = n - off < CHUNK ? n - off : CHUNK;
        StTensor part = *ten;
        part.numel = (int64_t)c, part.nbytes = c * esz, part.data = (const unsigned char *)ten->data + off * esz;
        SDL_TRY(st_tensor_to_f32(src, &part, buf));
        if (dt == PARAM_BF16) {
            fp32_to_bf16_array(dst + off, buf, c);
            continue;
        }
        fp32_to_fp16_array(dst + off, buf, c);
        for (size_t i = 0; i < c; i++)
            if ((dst[off + i] & 0x7c00) == 0x7c00 && isfinite(buf[i]))
                return sdl_fail(SDL_ERR_UNSUPPORTED, src->path, "use --base_weights_dtype bf16 or float",
                                "%s tensor '%s' holds %g, beyond fp16's range (65504)", what, key, (double)buf[i]);
    }
    return SDL_OK;
}

static const char *file_key(const ParamEntry *e, const char *prefix, ParamKeyMap map, void *ctx, char *buf, size_t cap) {
    if (map) return map(e->name, buf, cap, ctx) ? buf : NULL;
    snprintf(buf, cap, "%s%s", prefix, e->name);
    return buf;
}

SdlStatus param_table_load(ParamTable *t, const SafeTensors *src, const char *prefix, ParamKeyMap map,
                           void *map_ctx, const char *what, LoadReport *report) {
    SDL_ASSERT(t->storage != NULL);
    LoadReport rep = {0, 0};
    unsigned char *claimed = calloc((size_t)(src->n_tensors ? src->n_tensors : 1), 1);
    if (!claimed) return sdl_fail(SDL_ERR_OOM, src->path, NULL, "out of memory");
    SdlStatus st = SDL_OK;
    char key[512], s1[96], s2[96];
    for (int64_t i = 0; i < t->n && st == SDL_OK; i++) {
        const ParamEntry *e = &t->entries[i];
        const char *k = file_key(e, prefix, map, map_ctx, key, sizeof key);
        const StTensor *ten = k ? st_find(src, k) : NULL;
        if (!ten) {
            st = sdl_fail(SDL_ERR_NOT_FOUND, src->path,
                          "the file is incomplete or belongs to another model family; check the model path and version",
                          "%s tensor '%s' is missing (expected shape %s)", what, k ? k : e->name,
                          param_shape_str(s1, sizeof s1, e->ndim, e->shape));
            break;
        }
        claimed[ten - src->tensors] = 1;
        if (!same_weights_shape(ten->ndim, ten->shape, e->ndim, e->shape)) {
            st = sdl_fail(SDL_ERR_SHAPE, src->path,
                          "the checkpoint does not match the model config (wrong version, or a config.json for another model)",
                          "%s tensor '%s' has shape %s, expected %s", what, k,
                          param_shape_str(s1, sizeof s1, ten->ndim, ten->shape),
                          param_shape_str(s2, sizeof s2, e->ndim, e->shape));
            break;
        }
        st = e->dtype == PARAM_F32 ? st_tensor_to_f32(src, ten, t->storage + e->offset)
                                   : tensor_to_half(src, ten, t->storage16 + e->offset, e->dtype, what, k);
        if (st == SDL_OK) rep.loaded++, release_mapped(src, ten);
    }
    if (st == SDL_OK) {
        size_t plen = strlen(prefix);
        for (int64_t j = 0; j < src->n_tensors; j++) {
            const char *nm = src->tensors[j].name;
            if (claimed[j] || strncmp(nm, prefix, plen) != 0) continue;
            // transformers' CLIP stores its position ids (0..76) as a buffer; they are implied
            size_t nl = strlen(nm);
            if (nl >= 13 && strcmp(nm + nl - 13, ".position_ids") == 0) continue;
            if (rep.unknown < 5) log_warn("%s: %s: unknown tensor '%s' ignored", src->path, what, nm);
            rep.unknown++;
        }
        if (rep.unknown > 5) log_warn("%s: %s: %lld more unknown tensors ignored", src->path, what, (long long)(rep.unknown - 5));
    }
    free(claimed);
    if (report) *report = rep;
    return st;
}
