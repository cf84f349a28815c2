// exif.c — Orientation from a TIFF/EXIF block; see exif.h. Facts used (TIFF 6.0, EXIF 2.3):
// 8-byte header = byte order ("II" little / "MM" big), 42, offset of IFD0 (from the header);
// an IFD = count (2 bytes), count × 12-byte entries {tag, type, count, value-or-offset}.
// Orientation is tag 0x0112, type SHORT (3), count 1, its value in the entry's first 2 bytes.
#include "io/exif.h"
#include <string.h>

static unsigned get16(const uint8_t *p, int le) { return le ? (unsigned)(p[0] | p[1] << 8) : (unsigned)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int exif_orientation(const uint8_t *tiff, size_t size) {
    if (size >= 6 && memcmp(tiff, "Exif\0\0", 6) == 0) { tiff += 6; size -= 6; }
    if (size < 8) return 1;
    int le;
    if (tiff[0] == 'I' && tiff[1] == 'I') le = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M') le = 0;
    else return 1;
    if (get16(tiff + 2, le) != 42) return 1;
    uint32_t ifd = get32(tiff + 4, le);
    // size_t arithmetic on 32-bit offsets cannot wrap; every read is checked against size.
    if ((size_t)ifd + 2 > size) return 1;
    unsigned n = get16(tiff + ifd, le);
    for (unsigned i = 0; i < n; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > size) return 1;
        if (get16(tiff + e, le) != 0x0112) continue;
        unsigned type = get16(tiff + e + 2, le);
        uint32_t count = get32(tiff + e + 4, le);
        if (type != 3 || count < 1) return 1;
        unsigned v = get16(tiff + e + 8, le);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}
