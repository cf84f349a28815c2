// file.h — reading a small text file (configs, captions, JSON) whole into memory.
#pragma once
#include <stddef.h>
#include "base/error.h"

// Reads path into a new NUL-terminated buffer (*out, free() it; *len without the NUL, may be
// NULL). A file larger than max_bytes is SDL_ERR_FORMAT with too_big_hint (so a wrong path —
// a weights file given as a config — fails fast and clearly); I/O failures are SDL_ERR_IO
// with the errno text.
SdlStatus file_read_text(const char *path, size_t max_bytes, const char *too_big_hint, char **out, size_t *len);

// Maps a whole regular, non-empty file read-only (MAP_PRIVATE). A missing file, a directory, a
// FIFO or device, or an empty file is SDL_ERR_IO naming the path; `what` ("a .safetensors
// file", "a checkpoint file") words the hint. Unmap with munmap(*map, *size).
SdlStatus file_map_readonly(const char *path, const char *what, void **map, size_t *size);
