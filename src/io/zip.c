// zip.c — see zip.h. Field offsets follow PKWARE's APPNOTE.TXT 6.3 (sections 4.3.7 local
// header, 4.3.12 central directory header, 4.3.14-16 ZIP64 end record, locator and end of
// central directory, 4.5.3 ZIP64 extra field).
#include "io/zip.h"
#include <stdlib.h>
#include <string.h>

#define HINT_ZIP "the file is damaged or is not a PyTorch checkpoint (an interrupted download?); re-download it, or convert it to .safetensors with a trusted tool"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

// 1 if [off, off + len) lies inside a buffer of `size` bytes (no overflow).
static int in_bounds(uint64_t off, uint64_t len, size_t size) {
    return off <= size && len <= size - off;
}

void zip_close(ZipArchive *z) {
    if (!z) return;
    for (size_t i = 0; i < z->n; i++) free(z->entries[i].name);
    free(z->entries);
    memset(z, 0, sizeof *z);
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const ZipEntry *)a)->name, ((const ZipEntry *)b)->name);
}

// The ZIP64 extra field replaces, in this order, each of the 32-bit fields that is 0xFFFFFFFF
// (0xFFFF for the disk number).
static SdlStatus apply_zip64_extra(const unsigned char *ex, size_t ex_len, uint64_t *usize, uint64_t *csize,
                                   uint64_t *local, const char *file, size_t index) {
    size_t p = 0;
    while (p + 4 <= ex_len) {
        uint16_t id = rd16(ex + p), len = rd16(ex + p + 2);
        if (len > ex_len - p - 4)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "zip directory entry %zu: extra field runs past its end", index);
        if (id == 0x0001) {
            const unsigned char *f = ex + p + 4;
            size_t need = 0;
            uint64_t *fields[3] = {usize, csize, local};
            for (int k = 0; k < 3; k++) {
                if (*fields[k] != 0xFFFFFFFFu) continue;
                if (need + 8 > len)
                    return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "zip directory entry %zu: ZIP64 extra field too short", index);
                *fields[k] = rd64(f + need);
                need += 8;
            }
            return SDL_OK;
        }
        p += 4 + (size_t)len;
    }
    if (*usize == 0xFFFFFFFFu || *csize == 0xFFFFFFFFu || *local == 0xFFFFFFFFu)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "zip directory entry %zu: 32-bit size/offset is 0xFFFFFFFF but there is no ZIP64 extra field", index);
    return SDL_OK;
}

static SdlStatus parse(ZipArchive *z, const char *file) {
    const unsigned char *b = z->bytes;
    size_t size = z->size;
    if (size < 22) return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "file is only %zu bytes: too short for a zip archive", size);
    // The EOCD is 22 bytes plus a comment of at most 65535 bytes at the very end of the file.
    size_t lo = size - 22 > 65535 ? size - 22 - 65535 : 0, eocd = SIZE_MAX;
    for (size_t p = size - 22 + 1; p-- > lo;)
        if (rd32(b + p) == SIG_EOCD && p + 22 + (size_t)rd16(b + p + 20) == size) {
            eocd = p;
            break;
        }
    if (eocd == SIZE_MAX)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "no zip end-of-central-directory record (not a zip archive, or truncated)");
    uint64_t disk = rd16(b + eocd + 4), cd_disk = rd16(b + eocd + 6);
    uint64_t n_disk = rd16(b + eocd + 8), n_total = rd16(b + eocd + 10);
    uint64_t cd_size = rd32(b + eocd + 12), cd_off = rd32(b + eocd + 16);
    if (eocd >= 20 && rd32(b + eocd - 20) == SIG_LOCATOR64) {
        uint64_t off64 = rd64(b + eocd - 20 + 8);
        if (rd32(b + eocd - 20 + 4) != 0 || rd32(b + eocd - 20 + 16) > 1)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "multi-disk zip archives are not supported");
        if (!in_bounds(off64, 56, size) || rd32(b + off64) != SIG_EOCD64)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "ZIP64 end record missing at offset %llu", (unsigned long long)off64);
        const unsigned char *r = b + off64;
        disk = rd32(r + 16), cd_disk = rd32(r + 20);
        n_disk = rd64(r + 24), n_total = rd64(r + 32);
        cd_size = rd64(r + 40), cd_off = rd64(r + 48);
    }
    if (disk != 0 || cd_disk != 0 || n_disk != n_total)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "multi-disk zip archives are not supported");
    if (!in_bounds(cd_off, cd_size, size))
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "zip central directory [%llu, +%llu) lies outside the %zu-byte file",
                        (unsigned long long)cd_off, (unsigned long long)cd_size, size);
    if (n_total > cd_size / 46) // each entry is at least 46 bytes: bounds the allocation below
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "zip directory claims %llu entries in %llu bytes",
                        (unsigned long long)n_total, (unsigned long long)cd_size);
    z->entries = calloc(n_total ? (size_t)n_total : 1, sizeof *z->entries);
    if (!z->entries) return sdl_fail(SDL_ERR_OOM, file, NULL, "out of memory reading %llu zip entries", (unsigned long long)n_total);
    const unsigned char *cd = b + cd_off;
    size_t p = 0;
    for (uint64_t i = 0; i < n_total; i++) {
        if (p + 46 > cd_size || rd32(cd + p) != SIG_CENTRAL)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "zip directory entry %llu is damaged", (unsigned long long)i);
        const unsigned char *h = cd + p;
        size_t name_len = rd16(h + 28), ex_len = rd16(h + 30), com_len = rd16(h + 32);
        if (46 + name_len + ex_len + com_len > cd_size - p)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "zip directory entry %llu runs past the directory", (unsigned long long)i);
        ZipEntry *e = &z->entries[z->n];
        e->flags = rd16(h + 8);
        e->method = rd16(h + 10);
        e->crc32 = rd32(h + 16);
        e->comp_size = rd32(h + 20);
        e->size = rd32(h + 24);
        if (rd16(h + 34) != 0)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "multi-disk zip archives are not supported");
        uint64_t local = rd32(h + 42);
        SDL_TRY(apply_zip64_extra(h + 46 + name_len, ex_len, &e->size, &e->comp_size, &local, file, (size_t)i));
        if (memchr(h + 46, 0, name_len))
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "zip directory entry %llu has a NUL byte in its name", (unsigned long long)i);
        if (!(e->name = malloc(name_len + 1))) return sdl_fail(SDL_ERR_OOM, file, NULL, "out of memory");
        memcpy(e->name, h + 46, name_len);
        e->name[name_len] = '\0';
        z->n++;
        // The local header repeats name and extra with lengths of its own (torch pads the local
        // extra field to align the data to 64 bytes); only these say where the data begins.
        if (!in_bounds(local, 30, size) || rd32(b + local) != SIG_LOCAL)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "zip member '%s': local header missing at offset %llu",
                            e->name, (unsigned long long)local);
        uint64_t data = local + 30 + rd16(b + local + 26) + rd16(b + local + 28);
        if (!in_bounds(data, e->comp_size, size))
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "zip member '%s' (%llu bytes at offset %llu) runs past the end of the %zu-byte file",
                            e->name, (unsigned long long)e->comp_size, (unsigned long long)data, size);
        e->data_offset = data;
        p += 46 + name_len + ex_len + com_len;
    }
    qsort(z->entries, z->n, sizeof *z->entries, cmp_entry);
    for (size_t i = 1; i < z->n; i++)
        if (strcmp(z->entries[i - 1].name, z->entries[i].name) == 0)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_ZIP, "zip member '%s' appears twice", z->entries[i].name);
    return SDL_OK;
}

SdlStatus zip_open_memory(ZipArchive *z, const void *bytes, size_t size, const char *file) {
    memset(z, 0, sizeof *z);
    z->bytes = bytes;
    z->size = size;
    SdlStatus st = parse(z, file);
    if (st != SDL_OK) zip_close(z);
    return st;
}

const ZipEntry *zip_find(const ZipArchive *z, const char *name) {
    size_t lo = 0, hi = z->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(z->entries[mid].name, name);
        if (c == 0) return &z->entries[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

SdlStatus zip_stored_data(const ZipArchive *z, const ZipEntry *e, const char *file, const unsigned char **data) {
    *data = NULL;
    if (e->flags & 1)
        return sdl_fail(SDL_ERR_UNSUPPORTED, file, "convert the checkpoint to .safetensors with a trusted tool",
                        "zip member '%s' is encrypted", e->name);
    if (e->method != 0 || e->comp_size != e->size)
        return sdl_fail(SDL_ERR_UNSUPPORTED, file, "PyTorch stores checkpoint members uncompressed; convert the checkpoint to .safetensors with a trusted tool",
                        "zip member '%s' is compressed (method %u), which sdlora does not read", e->name, e->method);
    *data = z->bytes + e->data_offset;
    return SDL_OK;
}

// Bitwise (no table, so no shared state to initialise): used only on small members such as
// data.pkl, where ~8 shifts per byte cost well under a millisecond.
uint32_t zip_crc32(const void *data, size_t n) {
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}
