// image_internal.h — what the per-format image decoders (image_jpeg.c, image_png.c,
// image_webp.c, image_bmp.c) share with image.c; not part of the public API (image.h).
#pragma once
#include <stdio.h>
#include "io/image.h"

#define IMG_HINT_TRUNCATED "the file looks truncated (an interrupted download or copy?); re-download or re-export it, or remove it from the dataset"
#define IMG_HINT_CORRUPT "the file is damaged; open it in an image editor and re-export it, or remove it from the dataset"
#define IMG_HINT_CONVERT "convert it to PNG or JPEG (e.g. `convert in.x out.png`), or remove it from the dataset"

// Random access to the file's first bytes for the header-only readers: either a FILE (info)
// or a buffer already in memory (decode). Reads past the end are reported as truncation.
typedef struct {
    FILE *fp;             // NULL when mem is used
    const uint8_t *mem;
    int64_t size;         // total bytes
    const char *path;     // for messages
} ImgReader;

// Reads exactly n bytes at offset off; a short file is SDL_ERR_FORMAT "truncated <what>".
SdlStatus img_read(ImgReader *r, int64_t off, void *buf, size_t n, const char *what);

// A decoded image before orientation and alpha handling: 3 (RGB) or 4 (RGBA) channels.
typedef struct {
    int64_t width, height; // as stored
    int channels;
    uint8_t *px;           // (height, width, channels), mem_alloc'ed
    int orientation;       // EXIF 1..8
} RawImage;

// Checks that a header's size is sane (positive, at most IMAGE_MAX_PIXELS) before anything
// is allocated; `what` names the format in the message.
SdlStatus img_check_size(const char *path, const char *what, int64_t w, int64_t h);
// Allocates raw->px for w × h × channels (after img_check_size).
SdlStatus img_raw_alloc(RawImage *raw, int64_t w, int64_t h, int channels);
void img_raw_free(RawImage *raw);

static inline uint16_t img_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t img_le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static inline uint16_t img_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t img_be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3]; }

// Header-only readers: fill format-specific fields of info (width/height as stored,
// orientation, has_alpha, bit_depth). image.c swaps width/height for orientations 5..8.
SdlStatus img_jpeg_info(ImageInfo *info, ImgReader *r);
SdlStatus img_png_info(ImageInfo *info, ImgReader *r);
SdlStatus img_webp_info(ImageInfo *info, ImgReader *r);
SdlStatus img_bmp_info(ImageInfo *info, ImgReader *r);

// Full decoders from memory. On failure raw is zeroed and nothing leaks.
// min_w/min_h (stored orientation) let the JPEG decoder use DCT scaling; 0 = full size.
SdlStatus img_jpeg_decode(RawImage *raw, const uint8_t *data, size_t size, const char *path,
                          int64_t min_w, int64_t min_h);
SdlStatus img_png_decode(RawImage *raw, const uint8_t *data, size_t size, const char *path);
SdlStatus img_webp_decode(RawImage *raw, const uint8_t *data, size_t size, const char *path);
SdlStatus img_bmp_decode(RawImage *raw, const uint8_t *data, size_t size, const char *path);

// Growable memory buffer the encoders write into before atomic_write_file.
typedef struct {
    uint8_t *data;
    size_t size, cap;
    int failed;            // an allocation failed
} ImgBuffer;
void img_buffer_append(ImgBuffer *b, const void *p, size_t n);
