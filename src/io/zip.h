// zip.h — a minimal, read-only ZIP directory reader over bytes already in memory (an mmap),
// for PyTorch checkpoints (.ckpt/.pt/.bin), whose members are STORED (never compressed).
//
// Why not libzip or minizip: sdlora reads multi-GB checkpoints zero-copy — tensor data must be
// a pointer into the mapping, so what we need from a ZIP library is only "where do this
// member's bytes start". libzip has no such call (it always reads through its own buffers);
// minizip has unzGetCurrentFileZStreamPos64 but walks the archive through stdio callbacks and
// would add a dependency for ~200 lines of directory parsing. Nothing here decompresses: a
// compressed or encrypted member is reported as such when it is asked for.
//
// What is parsed (PKWARE APPNOTE 6.3): the end-of-central-directory record (searched for
// backwards through the last 64 KiB + 22 bytes), the ZIP64 locator and ZIP64 end record when
// present (torch always writes them), every central-directory entry (with the ZIP64 extra
// field, id 0x0001, for sizes and offsets that do not fit 32 bits) and, per entry, the local
// header, whose own name and extra lengths decide where the data begins. Every offset and size
// is checked against the buffer with overflow-safe arithmetic; multi-disk archives are refused.
// CRCs are not verified here (that would read every byte of a multi-GB file); zip_crc32 is
// offered for callers that want to check a small member.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

typedef struct {
    char *name;              // owned, NUL-terminated (names containing NUL are rejected)
    uint64_t data_offset;    // where the member's bytes begin in the buffer
    uint64_t comp_size;      // bytes stored
    uint64_t size;           // bytes after decompression (== comp_size when stored)
    uint32_t crc32;
    uint16_t method;         // 0 = stored, 8 = deflate, ...
    uint16_t flags;          // bit 0: encrypted
} ZipEntry;

typedef struct {
    const unsigned char *bytes; // borrowed
    size_t size;
    ZipEntry *entries;          // sorted by name
    size_t n;
} ZipArchive;

// Parses the directory of the archive in bytes[0..size). `file` is used in error messages.
// Errors: SDL_ERR_FORMAT (not a zip, damaged, duplicate names, multi-disk), SDL_ERR_OOM.
// On failure *z is left empty (safe to zip_close).
SdlStatus zip_open_memory(ZipArchive *z, const void *bytes, size_t size, const char *file);
void zip_close(ZipArchive *z);
const ZipEntry *zip_find(const ZipArchive *z, const char *name); // NULL if absent
// The stored bytes of e: fails (SDL_ERR_UNSUPPORTED) for compressed or encrypted members.
SdlStatus zip_stored_data(const ZipArchive *z, const ZipEntry *e, const char *file, const unsigned char **data);
uint32_t zip_crc32(const void *data, size_t n);
