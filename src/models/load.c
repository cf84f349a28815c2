// load.c — see load.h.
#include "models/load.h"
#include "base/log.h"
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
        st = st_tensor_to_f32(src, ten, t->storage + e->offset);
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
