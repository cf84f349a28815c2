// error.c — per-thread last error and fatal exits.
#include "base/error.h"
#include <stdarg.h>
#include <string.h>

static _Thread_local SdlError last_error;

const char *sdl_status_name(SdlStatus st) {
    switch (st) {
    case SDL_OK: return "ok";
    case SDL_ERR_IO: return "I/O error";
    case SDL_ERR_FORMAT: return "malformed file";
    case SDL_ERR_UNSUPPORTED: return "unsupported";
    case SDL_ERR_ARG: return "invalid argument";
    case SDL_ERR_SHAPE: return "shape mismatch";
    case SDL_ERR_NOT_FOUND: return "not found";
    case SDL_ERR_OOM: return "out of memory";
    case SDL_ERR_NUMERIC: return "numeric error";
    }
    return "unknown error";
}

static void copy_str(char *dst, size_t cap, const char *src) {
    if (!src) src = "";
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static SdlStatus record(SdlStatus st, const char *file, const char *hint, const char *fmt, va_list ap) {
    last_error.status = st;
    copy_str(last_error.file, sizeof last_error.file, file);
    copy_str(last_error.hint, sizeof last_error.hint, hint);
    vsnprintf(last_error.reason, sizeof last_error.reason, fmt, ap);
    return st;
}

SdlStatus sdl_fail(SdlStatus st, const char *file, const char *hint, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    record(st, file, hint, fmt, ap);
    va_end(ap);
    return st;
}

const SdlError *sdl_last_error(void) { return &last_error; }

void sdl_error_clear(void) { memset(&last_error, 0, sizeof last_error); }

void sdl_error_print(FILE *f) {
    const SdlError *e = &last_error;
    if (e->file[0]) fprintf(f, "error: %s: %s\n", e->file, e->reason[0] ? e->reason : sdl_status_name(e->status));
    else fprintf(f, "error: %s\n", e->reason[0] ? e->reason : sdl_status_name(e->status));
    if (e->hint[0]) fprintf(f, "  hint: %s\n", e->hint);
}

noreturn void sdl_die_last(void) {
    sdl_error_print(stderr);
    exit(1);
}

noreturn void sdl_die(const char *file, const char *hint, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    record(SDL_ERR_ARG, file, hint, fmt, ap);
    va_end(ap);
    sdl_die_last();
}

noreturn void sdl_assert_fail(const char *expr, const char *file, int line, const char *func) {
    fprintf(stderr, "sdlora: internal error: assertion `%s` failed in %s (%s:%d)\n"
                    "  hint: this is a bug in sdlora; please report it with the command you ran\n",
            expr, func, file, line);
    abort();
}
