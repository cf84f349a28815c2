// image.h — decoding, encoding and resizing of images through Debian's image libraries.
// Every decoded image is 8-bit sRGB, RGB interleaved, with EXIF orientation applied (kohya
// does not apply it, so phone photos train sideways there; sdlora does, deliberately).
//
// What happens to odd input (the full rationale is in image.c and docs/dataset.md):
//   alpha      composited onto a background, white by default (PIL's convert("RGB") would
//              expose whatever colour the editor left under transparent pixels, often black);
//              image_load_ex can hand the alpha plane back for masked-loss training
//   16-bit     scaled to 8 bits with rounding (v * 255 / 65535)
//   palette    expanded to RGB; tRNS entries become alpha
//   grayscale  replicated into R = G = B (gray + alpha: then composited like any alpha)
//   CMYK/YCCK  JPEG converted naively without ICC (Adobe inverted CMYK handled)
//   ICC, gamma ignored: the pixel values are taken as sRGB, as PIL and kohya do
// The format is sniffed from the first bytes, never from the extension (a ".png" that is
// really a JPEG loads fine). Formats: PNG, JPEG, WebP (still), BMP (uncompressed).
// All functions are thread-safe (no global state); the loader may decode on many threads.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

typedef struct {
    int64_t width, height;
    uint8_t *rgb; // (height, width, 3), owned; allocated with mem_alloc(MEM_OTHER)
} Image;

typedef enum { IMAGE_PNG, IMAGE_JPEG, IMAGE_WEBP, IMAGE_BMP, IMAGE_UNKNOWN } ImageFormat;

typedef struct {
    ImageFormat format;     // from the file's magic bytes, not its extension
    int64_t width, height;  // as displayed, i.e. after EXIF orientation
    int orientation;        // EXIF orientation 1..8 (1 when absent or invalid)
    int has_alpha;          // alpha channel, tRNS, or WebP/BMP alpha
    int bit_depth;          // per channel, as stored (palette PNG: index depth; BMP: bits per pixel / channels, 8 for palette)
    int64_t file_size;      // bytes
} ImageInfo;

// Largest accepted image, in pixels (16384 × 16384). Bigger headers are refused before any
// allocation: a hostile 100000 × 100000 header must not make us allocate 30 GB.
#define IMAGE_MAX_PIXELS ((int64_t)1 << 28)

const char *image_format_name(ImageFormat f);
// Sniffs the format from the first bytes (IMAGE_UNKNOWN when none of ours).
ImageFormat image_sniff(const uint8_t *head, size_t n);
// Reads only what is needed to know the format and size (fast; for bucketing): the JPEG
// markers up to SOF (seeking over the others), the PNG chunks up to IDAT, the WebP RIFF
// chunks, the BMP headers. It does not check the pixel data: only image_load does that.
SdlStatus image_info(ImageInfo *info, const char *path);
// Decodes the whole file (a truncated or corrupt file is an SDL_ERR_FORMAT naming the file
// and the decoder's reason; a zero-byte file too; an unknown format SDL_ERR_UNSUPPORTED).
// On failure *img is zeroed, nothing is leaked, and image_free(img) is harmless.
SdlStatus image_load(Image *img, const char *path);

typedef struct {
    uint8_t background[3];  // colour transparent pixels are composited onto (default 255,255,255)
    // > 0: the decoder may return a smaller image (JPEG DCT scaling by 1/2, 1/4, 1/8) as long
    // as it is at least min_width × min_height as displayed. Much faster for big photos that
    // are about to be downscaled anyway; 0 = full size. Other formats ignore it.
    int64_t min_width, min_height;
} ImageLoadOptions;
// The defaults: white background, full size.
ImageLoadOptions image_load_options_default(void);
// image_load with options. If alpha is not NULL it receives the (height, width) alpha plane,
// oriented like the image, allocated with mem_alloc (free with mem_free), or NULL when the
// image has no alpha (callers then treat it as fully opaque). opt may be NULL (defaults).
SdlStatus image_load_ex(Image *img, uint8_t **alpha, const char *path, const ImageLoadOptions *opt);
// The same on a buffer already in memory; `name` is used in error messages only.
SdlStatus image_decode_memory(Image *img, uint8_t **alpha, const uint8_t *data, size_t size,
                              const char *name, const ImageLoadOptions *opt);
void image_free(Image *img);
// High-quality resize (area averaging when shrinking, Lanczos-3 otherwise) into a new image.
// Per axis: an axis that shrinks uses exact area (box) weights like cv2.INTER_AREA, an axis
// that grows or keeps its size uses Lanczos-3 with edge clamping; computed in float on the
// sRGB values (as PIL and cv2 do, no linearisation), rounded to nearest.
SdlStatus image_resize(Image *dst, const Image *src, int64_t width, int64_t height);
// Copies the rectangle [x, x+w) × [y, y+h) (must lie inside src).
SdlStatus image_crop(Image *dst, const Image *src, int64_t x, int64_t y, int64_t w, int64_t h);
void image_flip_horizontal(Image *img);
// (3, H, W) floats in [-1, 1]: x / 127.5 - 1, as the VAE expects.
void image_to_tensor(float *chw, const Image *img);
// Inverse, rounding and clamping: (3, H, W) in [-1, 1] → 8-bit RGB (img must be allocated).
void image_from_tensor(Image *img, const float *chw);
// Uninitialised pixels; sizes must be positive and at most IMAGE_MAX_PIXELS (SDL_ERR_ARG).
SdlStatus image_alloc(Image *img, int64_t width, int64_t height);
// PNG with optional text chunks (A1111's PNG Info reads "parameters"); written atomically.
// Keys: 1–79 printable Latin-1 characters (ASCII in practice). Values are UTF-8; as PIL's
// PngInfo.add_text does (and so A1111), a value representable in Latin-1 is written as a
// tEXt chunk (converted to Latin-1), any other as an uncompressed iTXt chunk in UTF-8.
// Invalid UTF-8 or a bad key is SDL_ERR_ARG.
SdlStatus image_save_png(const Image *img, const char *path, const char *const *text_keys,
                         const char *const *text_values, int n_text);
// JPEG/WebP writers for tests and previews. quality 1..100 (JPEG: 4:2:0 below 90, 4:4:4 from 90).
SdlStatus image_save_jpeg(const Image *img, const char *path, int quality);
// quality 0..100 for lossy; lossless != 0 ignores quality.
SdlStatus image_save_webp(const Image *img, const char *path, float quality, int lossless);
