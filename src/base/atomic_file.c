// atomic_file.c — temp file + fsync + rename.
#include "base/atomic_file.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void atomic_free(AtomicFile *af) {
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
    af->fp = NULL;
}

SdlStatus atomic_open(AtomicFile *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->path = strdup(path);
    af->tmp_path = malloc(n);
    if (!af->path || !af->tmp_path) {
        atomic_free(af);
        return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory");
    }
    snprintf(af->tmp_path, n, "%s.tmp-%ld", path, (long)getpid());
    int fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || !(af->fp = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0) close(fd);
        SdlStatus st = sdl_fail(SDL_ERR_IO, path, "check that the directory exists and is writable",
                                "cannot create %s: %s", af->tmp_path, strerror(e));
        atomic_free(af);
        return st;
    }
    return SDL_OK;
}

static void fsync_dir_of(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd); // best effort: makes the rename itself durable
        close(dfd);
    }
    free(copy);
}

SdlStatus atomic_commit(AtomicFile *af) {
    const char *why = NULL;
    int e = 0;
    if (fflush(af->fp) != 0 || ferror(af->fp)) why = "write failed", e = errno;
    else if (fsync(fileno(af->fp)) != 0) why = "fsync failed", e = errno;
    if (fclose(af->fp) != 0 && !why) why = "close failed", e = errno;
    af->fp = NULL;
    if (!why && rename(af->tmp_path, af->path) != 0) why = "rename failed", e = errno;
    if (why) {
        unlink(af->tmp_path);
        SdlStatus st = sdl_fail(SDL_ERR_IO, af->path, "check free disk space and permissions; the previous file is unchanged",
                                "%s: %s", why, strerror(e));
        atomic_free(af);
        return st;
    }
    fsync_dir_of(af->path);
    atomic_free(af);
    return SDL_OK;
}

void atomic_abort(AtomicFile *af) {
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    atomic_free(af);
}

SdlStatus atomic_write_file(const char *path, const void *data, size_t size) {
    AtomicFile af;
    SDL_TRY(atomic_open(&af, path));
    if (size && fwrite(data, 1, size, af.fp) != size) {
        int e = errno;
        atomic_abort(&af);
        return sdl_fail(SDL_ERR_IO, path, "check free disk space; the previous file is unchanged", "write failed: %s", strerror(e));
    }
    return atomic_commit(&af);
}
