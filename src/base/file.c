// file.c — see file.h.
#include "base/file.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

SdlStatus file_map_readonly(const char *path, const char *what, void **map, size_t *size) {
    *map = NULL;
    *size = 0;
    char hint[160];
    // O_NONBLOCK: opening a FIFO must not hang; it has no effect on regular files.
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return sdl_fail(SDL_ERR_IO, path, "check that the path is right and the file is readable", "cannot open: %s", strerror(e));
    }
    struct stat sb;
    const char *why = NULL;
    if (fstat(fd, &sb) != 0) why = strerror(errno);
    else if (S_ISDIR(sb.st_mode)) why = strerror(EISDIR);
    else if (!S_ISREG(sb.st_mode)) why = "not a regular file";
    else if (sb.st_size == 0) why = "the file is empty (0 bytes)";
    else if ((uint64_t)sb.st_size > SIZE_MAX) why = strerror(EFBIG);
    if (why) {
        close(fd);
        snprintf(hint, sizeof hint, "give the path of %s%s", what,
                 sb.st_size == 0 ? " (an empty file is usually an interrupted download or copy)" : "");
        return sdl_fail(SDL_ERR_IO, path, hint, "cannot read: %s", why);
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); // the mapping keeps the file
    if (m == MAP_FAILED) return sdl_fail(SDL_ERR_IO, path, NULL, "cannot map %zu bytes: %s", (size_t)sb.st_size, strerror(e));
    *map = m;
    *size = (size_t)sb.st_size;
    return SDL_OK;
}
