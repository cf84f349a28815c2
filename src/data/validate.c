// validate.c — see validate.h. Each thread records its errors in the thread-local error slot
// (base/error.h), so the reason is read on the thread that decoded the file.
#include "data/validate.h"
#include "io/image.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// A heap copy of "prefix" + "text" (NULL on allocation failure).
static char *join_dup(const char *prefix, const char *text) {
    size_t a = strlen(prefix), b = strlen(text);
    char *d = malloc(a + b + 1);
    if (d) { memcpy(d, prefix, a); memcpy(d + a, text, b + 1); }
    return d;
}

SdlStatus dataset_validate_images(const char *const *paths, size_t n, int64_t min_side, int threads,
                                  int64_t (*sizes)[2], BadImageList *bad) {
    memset(bad, 0, sizeof *bad);
    char **reasons = calloc(n ? n : 1, sizeof *reasons);
    if (!reasons) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
    int oom = 0;
    if (threads < 1) threads = 1;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) reduction(| : oom)
    for (size_t i = 0; i < n; i++) {
        char *reason = NULL;
        int64_t w = 0, h = 0;
        struct stat sb;
        if (stat(paths[i], &sb) != 0) {
            reason = join_dup("", "cannot be read (it disappeared or is not accessible)");
        } else if (sb.st_size == 0) {
            reason = join_dup("", "empty file (0 bytes)");
        } else {
            Image img = {0};
            sdl_error_clear();
            SdlStatus st = image_load(&img, paths[i]);
            if (st != SDL_OK) {
                const SdlError *e = sdl_last_error();
                const char *why = e->reason[0] ? e->reason : sdl_status_name(st);
                reason = join_dup(st == SDL_ERR_UNSUPPORTED ? "unsupported: " : "", why);
            } else {
                w = img.width;
                h = img.height;
                if (w < min_side || h < min_side) {
                    char buf[256];
                    snprintf(buf, sizeof buf, "too small: %lldx%lld, each side must be at least %lld px", (long long)w,
                             (long long)h, (long long)min_side);
                    reason = join_dup("", buf);
                }
            }
            image_free(&img);
        }
        // a failed allocation of the reason must not pass the image as good
        bool failed = reason != NULL || !(w > 0 && h > 0);
        if (failed && !reason) oom |= 1;
        if (sizes) { sizes[i][0] = failed ? 0 : w; sizes[i][1] = failed ? 0 : h; }
        reasons[i] = reason;
    }
    size_t n_bad = 0;
    for (size_t i = 0; i < n; i++) n_bad += reasons[i] != NULL;
    if (n_bad) {
        bad->items = calloc(n_bad, sizeof *bad->items);
        if (!bad->items) oom = 1;
    }
    for (size_t i = 0; i < n && !oom; i++) {
        if (!reasons[i]) continue;
        BadImage *b = &bad->items[bad->n++];
        b->index = i;
        b->path = strdup(paths[i]);
        b->reason = reasons[i];
        reasons[i] = NULL;
        if (!b->path) oom = 1;
    }
    for (size_t i = 0; i < n; i++) free(reasons[i]);
    free(reasons);
    if (oom) { bad_image_list_free(bad); return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory"); }
    return SDL_OK;
}

void bad_image_list_free(BadImageList *b) {
    for (size_t i = 0; i < b->n; i++) { free(b->items[i].path); free(b->items[i].reason); }
    free(b->items);
    memset(b, 0, sizeof *b);
}
