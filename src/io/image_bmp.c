// image_bmp.c — a small decoder for the BMP files people actually have: 1/4/8-bit palette,
// 16/24/32-bit, BI_RGB and BI_BITFIELDS / BI_ALPHABITFIELDS, bottom-up or top-down, with
// the OS/2 core (12-byte) and Windows 40/52/56/64/108/124-byte headers. RLE4/RLE8 and
// embedded JPEG/PNG are refused with a message (rare in datasets, and a source of decoder
// bugs). Debian has no small maintained BMP library (only gdk-pixbuf, SDL_image,
// ImageMagick, FreeImage: far more code than this), hence our own, with every size checked.
//
// Conventions followed (those of Windows and browsers): 32-bit BI_RGB has no alpha (the
// fourth byte is padding); an alpha mask whose values are all zero means opaque (old
// writers leave it zero); a palette index beyond the palette is black.
#include "io/image_internal.h"
#include "base/mem.h"
#include <string.h>

enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_JPEG = 4, BI_PNG = 5, BI_ALPHABITFIELDS = 6 };

typedef struct {
    int64_t width, height;  // height positive; top_down says the row order
    int top_down, bpp;
    uint32_t compression;
    uint32_t mask[4];       // R, G, B, A for 16/32-bit
    int64_t data_off;       // pixel data
    int64_t pal_off;
    uint32_t pal_count;
    int pal_entry;          // 3 (core header) or 4 bytes
} BmpHeader;

static int popcount32(uint32_t m) { int n = 0; while (m) { n += (int)(m & 1); m >>= 1; } return n; }

static SdlStatus bmp_header(BmpHeader *b, ImgReader *r) {
    memset(b, 0, sizeof *b);
    uint8_t h[14 + 124];
    SDL_TRY(img_read(r, 0, h, 18, "BMP file header"));
    const uint32_t hsize = img_le32(h + 14);
    b->data_off = img_le32(h + 10);
    const char *path = r->path;
    if (hsize != 12 && hsize != 40 && hsize != 52 && hsize != 56 && hsize != 64 && hsize != 108 && hsize != 124)
        return sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_CORRUPT, "corrupt BMP: unknown header size %u", hsize);
    SDL_TRY(img_read(r, 14, h + 14, hsize, "BMP info header"));
    if (hsize == 12) {
        b->width = img_le16(h + 18);
        b->height = img_le16(h + 20);
        b->bpp = img_le16(h + 24);
        b->compression = BI_RGB;
        b->pal_entry = 3;
    } else {
        const int32_t w = (int32_t)img_le32(h + 18), hh = (int32_t)img_le32(h + 22);
        b->bpp = img_le16(h + 28);
        b->compression = img_le32(h + 30);
        b->pal_count = img_le32(h + 46);
        b->pal_entry = 4;
        if (w <= 0 || hh == 0 || hh == INT32_MIN)
            return sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_CORRUPT, "corrupt BMP: size %d x %d", w, hh);
        b->width = w;
        b->top_down = hh < 0;
        b->height = hh < 0 ? -(int64_t)hh : hh;
    }
    int64_t after = 14 + hsize;
    if (b->compression == BI_BITFIELDS || b->compression == BI_ALPHABITFIELDS) {
        if (b->bpp != 16 && b->bpp != 32)
            return sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_CORRUPT, "corrupt BMP: bit-field masks with %d bits per pixel", b->bpp);
        const int nmask = b->compression == BI_ALPHABITFIELDS ? 4 : 3;
        if (hsize == 40) { // masks follow the 40-byte header
            uint8_t m[16];
            SDL_TRY(img_read(r, after, m, (size_t)nmask * 4, "BMP colour masks"));
            for (int i = 0; i < nmask; i++) b->mask[i] = img_le32(m + 4 * i);
            after += nmask * 4;
        } else {
            for (int i = 0; i < 3; i++) b->mask[i] = img_le32(h + 54 + 4 * i);
            if (hsize >= 56) b->mask[3] = img_le32(h + 66);
        }
        if (!b->mask[0] || !b->mask[1] || !b->mask[2])
            return sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_CORRUPT, "corrupt BMP: an empty colour mask");
    } else if (b->compression == BI_RGB) {
        if (b->bpp == 16) { b->mask[0] = 0x7C00; b->mask[1] = 0x03E0; b->mask[2] = 0x001F; }
        if (b->bpp == 32) { b->mask[0] = 0xFF0000; b->mask[1] = 0xFF00; b->mask[2] = 0xFF; }
    } else {
        static const char *names[] = {"", "RLE8", "RLE4", "", "embedded JPEG", "embedded PNG"};
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, IMG_HINT_CONVERT, "%s-compressed BMP is not supported (only uncompressed)",
                        b->compression < 6 ? names[b->compression] : "unknown");
    }
    if (b->bpp != 1 && b->bpp != 4 && b->bpp != 8 && b->bpp != 16 && b->bpp != 24 && b->bpp != 32)
        return sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_CORRUPT, "corrupt BMP: %d bits per pixel", b->bpp);
    if (b->bpp <= 8) {
        const uint32_t max = 1u << b->bpp;
        if (b->pal_count == 0) b->pal_count = max;
        if (b->pal_count > max)
            return sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_CORRUPT, "corrupt BMP: %u palette colours for %d bits per pixel", b->pal_count, b->bpp);
        b->pal_off = after;
    }
    return SDL_OK;
}

SdlStatus img_bmp_info(ImageInfo *info, ImgReader *r) {
    BmpHeader b;
    SDL_TRY(bmp_header(&b, r));
    info->width = b.width;
    info->height = b.height;
    info->orientation = 1;
    info->has_alpha = b.mask[3] != 0;
    int depth = 8;
    if (b.bpp == 16) { depth = popcount32(b.mask[0]); if (popcount32(b.mask[1]) > depth) depth = popcount32(b.mask[1]); }
    info->bit_depth = depth;
    return SDL_OK;
}

// A mask channel scaled to 0..255, rounded.
typedef struct { uint32_t mask; int shift; uint32_t max; } MaskChan;

static MaskChan mask_chan(uint32_t m) {
    MaskChan c = {m, 0, 0};
    if (!m) return c;
    while (!((m >> c.shift) & 1)) c.shift++;
    c.max = m >> c.shift; // a non-contiguous mask just scales oddly; no crash
    return c;
}

static inline uint8_t chan_value(const MaskChan *c, uint32_t v) {
    if (!c->mask) return 255;
    const uint64_t x = (v & c->mask) >> c->shift;
    return (uint8_t)((x * 255 + c->max / 2) / c->max);
}

SdlStatus img_bmp_decode(RawImage *raw, const uint8_t *data, size_t size, const char *path) {
    memset(raw, 0, sizeof *raw);
    ImgReader r = {.mem = data, .size = (int64_t)size, .path = path};
    BmpHeader b;
    SDL_TRY(bmp_header(&b, &r));
    SDL_TRY(img_check_size(path, "BMP", b.width, b.height));
    uint8_t pal[256][3] = {{0}};
    if (b.bpp <= 8) {
        uint8_t p[256 * 4];
        SDL_TRY(img_read(&r, b.pal_off, p, (size_t)b.pal_count * (size_t)b.pal_entry, "BMP palette"));
        for (uint32_t i = 0; i < b.pal_count; i++)
            for (int c = 0; c < 3; c++) pal[i][c] = p[i * (uint32_t)b.pal_entry + 2 - (uint32_t)c]; // stored BGR
    }
    // Widths are at most 2^28 after img_check_size, so these products fit easily.
    const int64_t stride = ((b.width * b.bpp + 31) / 32) * 4;
    const int64_t last_row = (b.width * b.bpp + 7) / 8; // the final row's padding may be missing
    if (b.data_off < 14 || b.data_off > (int64_t)size || (int64_t)size - b.data_off < stride * (b.height - 1) + last_row)
        return sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_TRUNCATED,
                        "truncated BMP: %lld x %lld at %d bits per pixel needs %lld bytes of pixel data from byte %lld, the file has %lld bytes",
                        (long long)b.width, (long long)b.height, b.bpp, (long long)(stride * (b.height - 1) + last_row),
                        (long long)b.data_off, (long long)size);
    const int has_alpha = b.mask[3] != 0;
    img_raw_alloc(raw, b.width, b.height, has_alpha ? 4 : 3);
    const int C = raw->channels;
    const MaskChan ch[4] = {mask_chan(b.mask[0]), mask_chan(b.mask[1]), mask_chan(b.mask[2]), mask_chan(b.mask[3])};
    int any_alpha = 0;
    for (int64_t y = 0; y < b.height; y++) {
        const uint8_t *src = data + b.data_off + (b.top_down ? y : b.height - 1 - y) * stride;
        uint8_t *out = raw->px + (size_t)y * (size_t)b.width * (size_t)C;
        for (int64_t x = 0; x < b.width; x++, out += C) {
            if (b.bpp <= 8) {
                const int per_byte = 8 / b.bpp;
                const unsigned byte = src[x / per_byte];
                const unsigned shift = (unsigned)(8 - b.bpp * (1 + x % per_byte));
                const unsigned idx = (byte >> shift) & ((1u << b.bpp) - 1);
                if (idx >= b.pal_count) { out[0] = out[1] = out[2] = 0; } // see the top of the file
                else { out[0] = pal[idx][0]; out[1] = pal[idx][1]; out[2] = pal[idx][2]; }
            } else if (b.bpp == 24) {
                out[0] = src[3 * x + 2]; out[1] = src[3 * x + 1]; out[2] = src[3 * x];
            } else {
                const uint32_t v = b.bpp == 16 ? img_le16(src + 2 * x) : img_le32(src + 4 * x);
                for (int c = 0; c < 3; c++) out[c] = chan_value(&ch[c], v);
                if (C == 4) { out[3] = chan_value(&ch[3], v); any_alpha |= out[3]; }
            }
        }
    }
    if (C == 4 && !any_alpha) // all-zero alpha: an old writer's padding, not transparency
        for (size_t i = 0; i < (size_t)b.width * (size_t)b.height; i++) raw->px[4 * i + 3] = 255;
    raw->orientation = 1;
    return SDL_OK;
}
