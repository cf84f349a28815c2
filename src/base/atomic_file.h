// atomic_file.h — write files so that a crash or a full disk never leaves a half-written
// output: data goes to "<path>.tmp-<pid>" in the same directory, is fsync'ed, then renamed
// over <path> (and the directory fsync'ed). An earlier file at <path> survives any failure.
#pragma once
#include <stddef.h>
#include <stdio.h>
#include "base/error.h"

typedef struct {
    FILE *fp;          // write through this
    char *path;        // final path (owned)
    char *tmp_path;    // temporary path (owned)
} AtomicFile;

SdlStatus atomic_open(AtomicFile *af, const char *path);
// Flushes, fsyncs and renames into place. On failure the temporary file is removed.
SdlStatus atomic_commit(AtomicFile *af);
// Discards everything written; the previous file at path (if any) is untouched.
void atomic_abort(AtomicFile *af);
// Convenience: the whole file from one buffer.
SdlStatus atomic_write_file(const char *path, const void *data, size_t size);
