// file.c — see file.h.
#include "base/file.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

SdlStatus file_read_text(const char *path, size_t max_bytes, const char *too_big_hint, char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return sdl_fail(SDL_ERR_IO, path, "check that the file exists and is readable", "cannot open: %s", strerror(e));
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 == cap) {
            if (cap > max_bytes) {
                free(buf), fclose(f);
                return sdl_fail(SDL_ERR_FORMAT, path, too_big_hint, "file is larger than %zu bytes", max_bytes);
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb, cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory reading the file");
    if (err) {
        free(buf);
        return sdl_fail(SDL_ERR_IO, path, NULL, "read error");
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return SDL_OK;
}
