// image.c — format sniffing, image_info / image_load dispatch, orientation and alpha
// handling, and the small pixel helpers (crop, flip, tensor conversion). The codecs live in
// image_jpeg.c, image_png.c, image_webp.c, image_bmp.c; resizing in image_resize.c.
//
// Library choice: libjpeg-turbo (libjpeg62-turbo-dev), libpng (libpng-dev) and libwebp
// (libwebp-dev) rather than libvips. These three are what every Linux image stack links
// anyway, are small, have no threads or caches of their own (our loader owns the threads),
// give us each decoder's exact failure reason (which the dataset check must report), and let
// us use libjpeg-turbo's DCT scaling. libvips would bring EXIF rotation, CMYK via lcms and
// Lanczos for free, but pulls in ~100 MB of dependencies (GLib, ImageMagick/poppler loaders
// in Debian's build), its own thread pool and operation cache, and hides which decoder
// failed and why. The parts it would have given us are small here:
//   - EXIF orientation: one tag; exif.c reads it (no libexif).
//   - BMP: Debian has no small, maintained C library for it (only via gdk-pixbuf, SDL_image,
//     ImageMagick or FreeImage, all far larger than the problem); image_bmp.c decodes the
//     uncompressed variants people actually have (1/4/8-bit palette, 16/24/32-bit,
//     BI_RGB/BI_BITFIELDS) and refuses RLE with a clear message.
//   - Resizing: image_resize.c, area + Lanczos-3 like kohya's cv2/PIL choice.
//
// Conversions to 8-bit RGB (also summarised in image.h and docs/dataset.md):
//   - Alpha is composited onto white by default (opt.background). LoRA users' transparent
//     PNGs are cut-outs; PIL's convert("RGB"), which kohya uses, drops alpha and shows the
//     colour stored under transparent pixels — usually black, sometimes editor garbage and
//     dark fringes — which the LoRA then learns. White is what viewers and A1111's gallery
//     show. The alpha plane itself can be had from image_load_ex (for masked loss, kohya's
//     --alpha_mask). Compositing: out = (c·a + bg·(255 − a)) / 255, rounded, in sRGB values.
//   - 16-bit: v·255/65535 rounded (libpng's png_set_scale_16, not truncation).
//   - Palette → RGB(A) with tRNS; gray and gray+alpha → R = G = B (+alpha).
//   - CMYK / YCCK JPEG: naive conversion without ICC, R = (255 − C)(255 − K)/255 etc.; files
//     with an Adobe APP14 marker store inverted CMYK (Photoshop), handled as such.
//   - ICC profiles, gAMA, cHRM, sRGB chunks: ignored; values are taken as sRGB (PIL/kohya too).
//   - EXIF orientation 1..8 from JPEG APP1, PNG eXIf and WebP EXIF: applied.
#include "io/image.h"
#include "io/image_internal.h"
#include "io/exif.h"
#include "base/mem.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *image_format_name(ImageFormat f) {
    switch (f) {
    case IMAGE_PNG: return "PNG";
    case IMAGE_JPEG: return "JPEG";
    case IMAGE_WEBP: return "WebP";
    case IMAGE_BMP: return "BMP";
    default: return "unknown";
    }
}

ImageFormat image_sniff(const uint8_t *h, size_t n) {
    if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0) return IMAGE_PNG;
    if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) return IMAGE_JPEG;
    if (n >= 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0) return IMAGE_WEBP;
    if (n >= 2 && h[0] == 'B' && h[1] == 'M') return IMAGE_BMP;
    return IMAGE_UNKNOWN;
}

// Names formats we recognise but do not decode, so the message can say what the file is.
static const char *other_format_name(const uint8_t *h, size_t n) {
    if (n >= 4 && memcmp(h, "GIF8", 4) == 0) return "GIF";
    if (n >= 4 && (memcmp(h, "II*\0", 4) == 0 || memcmp(h, "MM\0*", 4) == 0)) return "TIFF";
    if (n >= 12 && memcmp(h + 4, "ftyp", 4) == 0) {
        if (memcmp(h + 8, "avif", 4) == 0 || memcmp(h + 8, "avis", 4) == 0) return "AVIF";
        if (memcmp(h + 8, "heic", 4) == 0 || memcmp(h + 8, "heix", 4) == 0 || memcmp(h + 8, "mif1", 4) == 0) return "HEIF/HEIC";
        return "an ISO media (MP4/HEIF family) file";
    }
    if ((n >= 2 && h[0] == 0xFF && h[1] == 0x0A) || (n >= 12 && memcmp(h, "\0\0\0\x0cJXL \r\n\x87\n", 12) == 0)) return "JPEG XL";
    if (n >= 4 && memcmp(h, "8BPS", 4) == 0) return "Photoshop PSD";
    if (n >= 4 && memcmp(h, "\0\0\1\0", 4) == 0) return "ICO";
    if (n >= 5 && memcmp(h, "%PDF-", 5) == 0) return "PDF";
    if (n >= 4 && memcmp(h, "RIFF", 4) == 0) return "a RIFF file that is not WebP";
    return NULL;
}

static SdlStatus fail_unknown(const char *path, const uint8_t *h, size_t n) {
    const char *other = other_format_name(h, n);
    if (other)
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, IMG_HINT_CONVERT,
                        "this is %s, which sdlora does not read (PNG, JPEG, WebP and BMP only; the file name's extension does not matter)", other);
    // Show the first bytes printably: a text file or an HTML error page is recognisable.
    char shown[3 * 16 + 1];
    size_t k = 0;
    int text = 1;
    for (size_t i = 0; i < n && i < 16; i++) if (h[i] < 0x09 || (h[i] > 0x0d && h[i] < 0x20) || h[i] > 0x7e) text = 0;
    for (size_t i = 0; i < n && i < 16; i++) {
        if (text) shown[k++] = h[i] >= 0x20 ? (char)h[i] : ' ';
        else k += (size_t)snprintf(shown + k, sizeof shown - k, "%02x ", h[i]);
    }
    shown[k] = 0;
    return sdl_fail(SDL_ERR_UNSUPPORTED, path, IMG_HINT_CONVERT,
                    "not a PNG, JPEG, WebP or BMP image (the content decides, not the extension); it starts with %s%s%s",
                    text ? "the text \"" : "the bytes ", shown, text ? "\"" : "");
}

SdlStatus img_read(ImgReader *r, int64_t off, void *buf, size_t n, const char *what) {
    if (off < 0 || off > r->size || (int64_t)n > r->size - off)
        return sdl_fail(SDL_ERR_FORMAT, r->path, IMG_HINT_TRUNCATED,
                        "truncated: the file (%lld bytes) ends inside the %s", (long long)r->size, what);
    if (r->mem) { memcpy(buf, r->mem + off, n); return SDL_OK; }
    if (fseeko(r->fp, (off_t)off, SEEK_SET) != 0 || fread(buf, 1, n, r->fp) != n)
        return sdl_fail(SDL_ERR_IO, r->path, NULL, "cannot read %zu bytes at offset %lld: %s", n, (long long)off,
                        ferror(r->fp) ? strerror(errno) : "unexpected end of file");
    return SDL_OK;
}

SdlStatus img_check_size(const char *path, const char *what, int64_t w, int64_t h) {
    if (w <= 0 || h <= 0)
        return sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_CORRUPT, "%s header gives an empty size %lld x %lld", what, (long long)w, (long long)h);
    // w, h come from at most 32-bit fields, so the product fits int64 without overflow.
    if (w > IMAGE_MAX_PIXELS || h > IMAGE_MAX_PIXELS || w * h > IMAGE_MAX_PIXELS)
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, "downscale the image first (a LoRA trains at 512-1536 px anyway)",
                        "%s image of %lld x %lld pixels is larger than sdlora accepts (%lld pixels, e.g. 16384 x 16384)",
                        what, (long long)w, (long long)h, (long long)IMAGE_MAX_PIXELS);
    return SDL_OK;
}

SdlStatus img_raw_alloc(RawImage *raw, int64_t w, int64_t h, int channels) {
    raw->width = w;
    raw->height = h;
    raw->channels = channels;
    raw->px = mem_alloc(MEM_OTHER, (size_t)w * (size_t)h * (size_t)channels);
    return SDL_OK;
}

void img_raw_free(RawImage *raw) {
    mem_free(raw->px);
    memset(raw, 0, sizeof *raw);
}

void img_buffer_append(ImgBuffer *b, const void *p, size_t n) {
    if (b->failed) return;
    if (n > SIZE_MAX - b->size) { b->failed = 1; return; }
    if (b->size + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->size + n) cap = cap > SIZE_MAX / 2 ? b->size + n : cap * 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) { b->failed = 1; return; }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->size, p, n);
    b->size += n;
}

// ---------------------------------------------------------------- info

SdlStatus image_info(ImageInfo *info, const char *path) {
    memset(info, 0, sizeof *info);
    info->format = IMAGE_UNKNOWN;
    FILE *fp = fopen(path, "rb");
    if (!fp) return sdl_fail(SDL_ERR_IO, path, NULL, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return sdl_fail(SDL_ERR_IO, path, NULL, "not a regular file");
    }
    ImgReader r = {.fp = fp, .size = (int64_t)st.st_size, .path = path};
    info->file_size = r.size;
    SdlStatus s;
    uint8_t head[16] = {0};
    size_t n = r.size < 16 ? (size_t)r.size : 16;
    if (r.size == 0) {
        s = sdl_fail(SDL_ERR_FORMAT, path, "the file is empty (0 bytes): an interrupted download or copy? Replace it or remove it from the dataset", "empty file (0 bytes)");
    } else if ((s = img_read(&r, 0, head, n, "file signature")) == SDL_OK) {
        info->format = image_sniff(head, n);
        switch (info->format) {
        case IMAGE_JPEG: s = img_jpeg_info(info, &r); break;
        case IMAGE_PNG: s = img_png_info(info, &r); break;
        case IMAGE_WEBP: s = img_webp_info(info, &r); break;
        case IMAGE_BMP: s = img_bmp_info(info, &r); break;
        default: s = fail_unknown(path, head, n); break;
        }
    }
    fclose(fp);
    if (s != SDL_OK) return s;
    if (info->orientation < 1 || info->orientation > 8) info->orientation = 1;
    SDL_TRY(img_check_size(path, image_format_name(info->format), info->width, info->height));
    if (info->orientation >= 5) { int64_t t = info->width; info->width = info->height; info->height = t; }
    return SDL_OK;
}

// ---------------------------------------------------------------- load

ImageLoadOptions image_load_options_default(void) {
    return (ImageLoadOptions){.background = {255, 255, 255}};
}

static SdlStatus read_whole_file(const char *path, uint8_t **data, size_t *size) {
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sdl_fail(SDL_ERR_IO, path, NULL, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sdl_fail(SDL_ERR_IO, path, NULL, "not a regular file");
    }
    // An image file bigger than 1 GiB is not a training image; refuse before allocating.
    if (st.st_size > ((off_t)1 << 30)) {
        close(fd);
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, "downscale or re-compress the image", "file is %lld bytes; image files above 1 GiB are refused", (long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = mem_alloc(MEM_OTHER, n ? n : 1);
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = errno;
            close(fd);
            mem_free(buf);
            return sdl_fail(SDL_ERR_IO, path, NULL, "read failed after %zu of %zu bytes: %s", got, n, k < 0 ? strerror(e) : "file shrank while reading");
        }
        got += (size_t)k;
    }
    close(fd);
    *data = buf;
    *size = n;
    return SDL_OK;
}

// Applies the orientation and composites alpha: raw (as stored, 3 or 4 channels) → img (as
// displayed, RGB) and optionally the alpha plane.
static void finish_image(Image *img, uint8_t **alpha, RawImage *raw, const uint8_t bg[3]) {
    const int64_t W = raw->width, H = raw->height;
    const int o = raw->orientation >= 1 && raw->orientation <= 8 ? raw->orientation : 1;
    const int C = raw->channels;
    if (alpha) *alpha = NULL;
    if (o == 1 && C == 3) { // the common case: hand the buffer over, no copy
        img->width = W;
        img->height = H;
        img->rgb = raw->px;
        raw->px = NULL;
        return;
    }
    // Displayed pixel (x', y') reads stored pixel start + x'·step_x + y'·step_y (in pixels).
    int64_t start, step_x, step_y;
    switch (o) {
    default:
    case 1: start = 0;                 step_x = 1;  step_y = W;  break;
    case 2: start = W - 1;             step_x = -1; step_y = W;  break;
    case 3: start = (H - 1) * W + W - 1; step_x = -1; step_y = -W; break;
    case 4: start = (H - 1) * W;       step_x = 1;  step_y = -W; break;
    case 5: start = 0;                 step_x = W;  step_y = 1;  break;
    case 6: start = (H - 1) * W;       step_x = -W; step_y = 1;  break;
    case 7: start = (H - 1) * W + W - 1; step_x = -W; step_y = -1; break;
    case 8: start = W - 1;             step_x = W;  step_y = -1; break;
    }
    const int64_t DW = o >= 5 ? H : W, DH = o >= 5 ? W : H;
    img->width = DW;
    img->height = DH;
    img->rgb = mem_alloc(MEM_OTHER, (size_t)DW * (size_t)DH * 3);
    uint8_t *ap = NULL;
    if (alpha && C == 4) *alpha = ap = mem_alloc(MEM_OTHER, (size_t)DW * (size_t)DH);
    for (int64_t y = 0; y < DH; y++) {
        const int64_t row = start + y * step_y;
        uint8_t *out = img->rgb + (size_t)y * (size_t)DW * 3;
        for (int64_t x = 0; x < DW; x++) {
            const uint8_t *p = raw->px + (size_t)(row + x * step_x) * (size_t)C;
            if (C == 3) {
                out[3 * x] = p[0]; out[3 * x + 1] = p[1]; out[3 * x + 2] = p[2];
            } else {
                const unsigned a = p[3], na = 255 - a;
                for (int c = 0; c < 3; c++) out[3 * x + c] = (uint8_t)((p[c] * a + bg[c] * na + 127) / 255);
                if (ap) ap[(size_t)y * (size_t)DW + (size_t)x] = (uint8_t)a;
            }
        }
    }
    img_raw_free(raw);
}

SdlStatus image_decode_memory(Image *img, uint8_t **alpha, const uint8_t *data, size_t size,
                              const char *name, const ImageLoadOptions *opt) {
    memset(img, 0, sizeof *img);
    if (alpha) *alpha = NULL;
    ImageLoadOptions def = image_load_options_default();
    if (!opt) opt = &def;
    if (size == 0)
        return sdl_fail(SDL_ERR_FORMAT, name, "the file is empty (0 bytes): an interrupted download or copy? Replace it or remove it from the dataset", "empty file (0 bytes)");
    RawImage raw = {0};
    SdlStatus s;
    ImageFormat f = image_sniff(data, size);
    switch (f) {
    case IMAGE_JPEG: {
        // The options speak of the displayed size; the decoder sees the stored one.
        ImageInfo info = {0};
        ImgReader r = {.mem = data, .size = (int64_t)size, .path = name};
        int64_t mw = opt->min_width, mh = opt->min_height;
        if ((mw > 0 || mh > 0) && img_jpeg_info(&info, &r) == SDL_OK && info.orientation >= 5) { int64_t t = mw; mw = mh; mh = t; }
        sdl_error_clear();
        s = img_jpeg_decode(&raw, data, size, name, mw, mh);
        break;
    }
    case IMAGE_PNG: s = img_png_decode(&raw, data, size, name); break;
    case IMAGE_WEBP: s = img_webp_decode(&raw, data, size, name); break;
    case IMAGE_BMP: s = img_bmp_decode(&raw, data, size, name); break;
    default: return fail_unknown(name, data, size);
    }
    if (s != SDL_OK) return s;
    SDL_ASSERT(raw.px && (raw.channels == 3 || raw.channels == 4));
    finish_image(img, alpha, &raw, opt->background);
    return SDL_OK;
}

SdlStatus image_load_ex(Image *img, uint8_t **alpha, const char *path, const ImageLoadOptions *opt) {
    memset(img, 0, sizeof *img);
    if (alpha) *alpha = NULL;
    uint8_t *data;
    size_t size;
    SDL_TRY(read_whole_file(path, &data, &size));
    SdlStatus s = image_decode_memory(img, alpha, data, size, path, opt);
    mem_free(data);
    return s;
}

SdlStatus image_load(Image *img, const char *path) {
    return image_load_ex(img, NULL, path, NULL);
}

void image_free(Image *img) {
    if (!img) return;
    mem_free(img->rgb);
    memset(img, 0, sizeof *img);
}

SdlStatus image_alloc(Image *img, int64_t width, int64_t height) {
    memset(img, 0, sizeof *img);
    if (width <= 0 || height <= 0 || width > IMAGE_MAX_PIXELS || height > IMAGE_MAX_PIXELS || width * height > IMAGE_MAX_PIXELS)
        return sdl_fail(SDL_ERR_ARG, NULL, NULL, "image size %lld x %lld is empty or above %lld pixels",
                        (long long)width, (long long)height, (long long)IMAGE_MAX_PIXELS);
    img->width = width;
    img->height = height;
    img->rgb = mem_alloc(MEM_OTHER, (size_t)width * (size_t)height * 3);
    return SDL_OK;
}

// ---------------------------------------------------------------- pixel helpers

SdlStatus image_crop(Image *dst, const Image *src, int64_t x, int64_t y, int64_t w, int64_t h) {
    memset(dst, 0, sizeof *dst);
    if (x < 0 || y < 0 || w <= 0 || h <= 0 || w > src->width - x || h > src->height - y)
        return sdl_fail(SDL_ERR_ARG, NULL, NULL, "crop [%lld, %lld) x [%lld, %lld) is empty or outside the %lld x %lld image",
                        (long long)x, (long long)(x + w), (long long)y, (long long)(y + h), (long long)src->width, (long long)src->height);
    SDL_TRY(image_alloc(dst, w, h));
    for (int64_t r = 0; r < h; r++)
        memcpy(dst->rgb + (size_t)r * (size_t)w * 3, src->rgb + ((size_t)(y + r) * (size_t)src->width + (size_t)x) * 3, (size_t)w * 3);
    return SDL_OK;
}

void image_flip_horizontal(Image *img) {
    for (int64_t y = 0; y < img->height; y++) {
        uint8_t *row = img->rgb + (size_t)y * (size_t)img->width * 3;
        for (int64_t a = 0, b = img->width - 1; a < b; a++, b--)
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[3 * a + c];
                row[3 * a + c] = row[3 * b + c];
                row[3 * b + c] = t;
            }
    }
}

void image_to_tensor(float *chw, const Image *img) {
    const size_t hw = (size_t)img->width * (size_t)img->height;
    for (size_t i = 0; i < hw; i++)
        for (int c = 0; c < 3; c++) chw[(size_t)c * hw + i] = (float)img->rgb[3 * i + (size_t)c] / 127.5f - 1.0f;
}

void image_from_tensor(Image *img, const float *chw) {
    const size_t hw = (size_t)img->width * (size_t)img->height;
    for (size_t i = 0; i < hw; i++)
        for (int c = 0; c < 3; c++) {
            float v = (chw[(size_t)c * hw + i] + 1.0f) * 127.5f;
            // !(v >= 0) also catches NaN, which becomes 0 rather than undefined behaviour.
            img->rgb[3 * i + (size_t)c] = !(v >= 0.0f) ? 0 : v >= 255.0f ? 255 : (uint8_t)(v + 0.5f);
        }
}
