// image_webp.c — WebP through libwebp: RIFF chunk walk for image_info (VP8, VP8L, VP8X),
// decoding of still images (lossy, lossless, with alpha) with libwebp's status codes turned
// into messages, EXIF orientation from the EXIF chunk, and an encoder for tests/previews.
// Animated WebP is refused (which frame would one train on?).
#include "io/image_internal.h"
#include "io/exif.h"
#include "base/atomic_file.h"
#include "base/mem.h"
#include <string.h>
#include <webp/decode.h>
#include <webp/encode.h>

// ---------------------------------------------------------------- header-only info

SdlStatus img_webp_info(ImageInfo *info, ImgReader *r) {
    info->orientation = 1;
    info->bit_depth = 8;
    uint8_t h[30];
    SDL_TRY(img_read(r, 12, h, 8, "WebP first chunk header"));
    const uint32_t len = img_le32(h + 4);
    if (memcmp(h, "VP8 ", 4) == 0) {
        SDL_TRY(img_read(r, 20, h, 10, "WebP VP8 frame header"));
        if (h[3] != 0x9d || h[4] != 0x01 || h[5] != 0x2a)
            return sdl_fail(SDL_ERR_FORMAT, r->path, IMG_HINT_CORRUPT, "corrupt WebP: bad VP8 start code");
        info->width = img_le16(h + 6) & 0x3FFF;
        info->height = img_le16(h + 8) & 0x3FFF;
        return SDL_OK;
    }
    if (memcmp(h, "VP8L", 4) == 0) {
        SDL_TRY(img_read(r, 20, h, 5, "WebP VP8L header"));
        if (h[0] != 0x2f) return sdl_fail(SDL_ERR_FORMAT, r->path, IMG_HINT_CORRUPT, "corrupt WebP: bad VP8L signature");
        const uint32_t bits = img_le32(h + 1);
        info->width = (int64_t)(bits & 0x3FFF) + 1;
        info->height = (int64_t)((bits >> 14) & 0x3FFF) + 1;
        info->has_alpha = (bits >> 28) & 1;
        return SDL_OK;
    }
    if (memcmp(h, "VP8X", 4) != 0)
        return sdl_fail(SDL_ERR_FORMAT, r->path, IMG_HINT_CORRUPT, "corrupt WebP: first chunk is \"%.4s\", not VP8, VP8L or VP8X", (const char *)h);
    SDL_TRY(img_read(r, 20, h, 10, "WebP VP8X header"));
    const int flags = h[0];
    info->width = (int64_t)(h[4] | h[5] << 8 | h[6] << 16) + 1;
    info->height = (int64_t)(h[7] | h[8] << 8 | h[9] << 16) + 1;
    info->has_alpha = (flags & 0x10) != 0;
    if (flags & 0x02)
        return sdl_fail(SDL_ERR_UNSUPPORTED, r->path, "export one frame as PNG or a still WebP", "animated WebP is not supported");
    if (!(flags & 0x08)) return SDL_OK;
    // EXIF flag: walk the chunks (they follow the image data) to find it.
    int64_t off = 12 + 8 + (int64_t)len + (len & 1);
    while (off + 8 <= r->size) {
        SDL_TRY(img_read(r, off, h, 8, "WebP chunk header"));
        const uint32_t n = img_le32(h + 4);
        if (memcmp(h, "EXIF", 4) == 0) {
            if (n > (1u << 20)) break; // absurd EXIF: ignore rather than allocate
            uint8_t *buf = malloc(n ? n : 1);
            if (!buf) return sdl_fail(SDL_ERR_OOM, r->path, NULL, "out of memory");
            SdlStatus s = img_read(r, off + 8, buf, n, "WebP EXIF chunk");
            if (s == SDL_OK) info->orientation = exif_orientation(buf, n);
            free(buf);
            return s;
        }
        off += 8 + (int64_t)n + (n & 1);
    }
    return SDL_OK;
}

// ---------------------------------------------------------------- decode

static const char *vp8_status_text(VP8StatusCode s) {
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error (damaged data)";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data";
    default: return "unknown error";
    }
}

static SdlStatus webp_fail(const char *path, VP8StatusCode s) {
    if (s == VP8_STATUS_NOT_ENOUGH_DATA)
        return sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_TRUNCATED, "truncated WebP: the file ends before the image data does");
    if (s == VP8_STATUS_UNSUPPORTED_FEATURE)
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, IMG_HINT_CONVERT, "WebP uses a feature libwebp cannot decode");
    if (s == VP8_STATUS_OUT_OF_MEMORY) return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory decoding WebP");
    return sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_CORRUPT, "corrupt WebP: %s", vp8_status_text(s));
}

SdlStatus img_webp_decode(RawImage *raw, const uint8_t *data, size_t size, const char *path) {
    memset(raw, 0, sizeof *raw);
    ImageInfo info = {0};
    ImgReader r = {.mem = data, .size = (int64_t)size, .path = path};
    SDL_TRY(img_webp_info(&info, &r)); // orientation, animation refusal, clear header errors
    WebPDecoderConfig cfg;
    if (!WebPInitDecoderConfig(&cfg)) return sdl_fail(SDL_ERR_UNSUPPORTED, path, NULL, "libwebp version mismatch");
    VP8StatusCode s = WebPGetFeatures(data, size, &cfg.input);
    if (s != VP8_STATUS_OK) return webp_fail(path, s);
    if (cfg.input.has_animation)
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, "export one frame as PNG or a still WebP", "animated WebP is not supported");
    SDL_TRY(img_check_size(path, "WebP", cfg.input.width, cfg.input.height));
    const int channels = cfg.input.has_alpha ? 4 : 3;
    img_raw_alloc(raw, cfg.input.width, cfg.input.height, channels);
    raw->orientation = info.orientation;
    cfg.output.colorspace = channels == 4 ? MODE_RGBA : MODE_RGB;
    cfg.output.is_external_memory = 1;
    cfg.output.u.RGBA.rgba = raw->px;
    cfg.output.u.RGBA.stride = (int)(raw->width * channels);
    cfg.output.u.RGBA.size = (size_t)raw->width * (size_t)raw->height * (size_t)channels;
    s = WebPDecode(data, size, &cfg);
    WebPFreeDecBuffer(&cfg.output);
    if (s != VP8_STATUS_OK) {
        img_raw_free(raw);
        return webp_fail(path, s);
    }
    return SDL_OK;
}

// ---------------------------------------------------------------- encode

SdlStatus image_save_webp(const Image *img, const char *path, float quality, int lossless) {
    if (img->width > WEBP_MAX_DIMENSION || img->height > WEBP_MAX_DIMENSION)
        return sdl_fail(SDL_ERR_ARG, path, "save as PNG instead", "%lld x %lld is too large for WebP (%d pixels per side at most)",
                        (long long)img->width, (long long)img->height, WEBP_MAX_DIMENSION);
    if (!lossless && !(quality >= 0 && quality <= 100))
        return sdl_fail(SDL_ERR_ARG, path, "use a quality between 0 and 100", "WebP quality %g is out of range", (double)quality);
    uint8_t *out = NULL;
    const int stride = (int)(img->width * 3);
    size_t n = lossless ? WebPEncodeLosslessRGB(img->rgb, (int)img->width, (int)img->height, stride, &out)
                        : WebPEncodeRGB(img->rgb, (int)img->width, (int)img->height, stride, quality, &out);
    if (n == 0) {
        WebPFree(out);
        return sdl_fail(SDL_ERR_FORMAT, path, NULL, "WebP encoding failed");
    }
    SdlStatus st = atomic_write_file(path, out, n);
    WebPFree(out);
    return st;
}
