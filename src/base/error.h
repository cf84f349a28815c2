// error.h — status codes, the per-thread last error (file, reason, hint), always-on asserts.
//
// Library functions return an SdlStatus and, on failure, record what went wrong with
// sdl_fail(): the file involved, the reason, and a hint that tells the user how to fix it.
// Only the CLI prints the error and exits non-zero (sdl_error_print / sdl_die).
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>

typedef enum {
    SDL_OK = 0,
    SDL_ERR_IO,          // open/read/write/mmap failed (errno text in the reason)
    SDL_ERR_FORMAT,      // a file is malformed
    SDL_ERR_UNSUPPORTED, // well-formed but not something sdlora handles (yet)
    SDL_ERR_ARG,         // bad command-line option or argument
    SDL_ERR_SHAPE,       // tensor shape mismatch
    SDL_ERR_NOT_FOUND,   // a named tensor/key/file is missing
    SDL_ERR_OOM,         // allocation failed
    SDL_ERR_NUMERIC,     // NaN/Inf where a finite value is required
} SdlStatus;

typedef struct {
    SdlStatus status;
    char file[1024];   // the file the error is about ("" if none)
    char reason[1536]; // what is wrong
    char hint[768];    // how to fix it ("" if no useful hint)
} SdlError;

const char *sdl_status_name(SdlStatus st);

// Records the error for this thread and returns `st`, so callers write
//   return sdl_fail(SDL_ERR_FORMAT, path, "re-export the file", "header length %zu > file size", n);
// `file` and `hint` may be NULL.
SdlStatus sdl_fail(SdlStatus st, const char *file, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const SdlError *sdl_last_error(void);
void sdl_error_clear(void);
// Prints "error: FILE: reason\n  hint: HINT\n" for the last error.
void sdl_error_print(FILE *f);
// Prints the last error and exits with status 1.
noreturn void sdl_die_last(void);
// Records, prints and exits in one go (for the CLI layer).
noreturn void sdl_die(const char *file, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Propagate a failing status to the caller.
#define SDL_TRY(expr) do { SdlStatus sdl_try_st_ = (expr); if (sdl_try_st_ != SDL_OK) return sdl_try_st_; } while (0)

// Invariant checks stay on in release builds (assert() would vanish under NDEBUG).
noreturn void sdl_assert_fail(const char *expr, const char *file, int line, const char *func);
#define SDL_ASSERT(cond) \
    do { if (!(cond)) sdl_assert_fail(#cond, __FILE__, __LINE__, __func__); } while (0)
