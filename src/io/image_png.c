// image_png.c — PNG through libpng 1.6: chunk walk for image_info, strict decoding with
// libpng's transforms (palette/tRNS expansion, 16 → 8 with rounding, gray → RGB), and an
// encoder with tEXt/iTXt chunks for A1111-readable sample images.
//
// Strictness: libpng reports truncation and CRC errors in critical chunks as errors; a bad
// CRC in an ancillary chunk only drops that chunk (its pixels are unaffected). We also make
// libpng skip the colour-management and text chunks (iCCP, sRGB, gAMA, …) outright: we
// ignore them anyway, and libpng's complaints about broken ICC profiles ("known incorrect
// sRGB profile") must not reject a file whose pixels are fine. The file must end with IEND.
#include "io/image_internal.h"
#include "io/exif.h"
#include "base/atomic_file.h"
#include "base/mem.h"
#include <png.h>
#include <setjmp.h>
#include <string.h>

// ---------------------------------------------------------------- header-only info

SdlStatus img_png_info(ImageInfo *info, ImgReader *r) {
    uint8_t h[25];
    SDL_TRY(img_read(r, 8, h, 25, "PNG header (IHDR)"));
    if (img_be32(h) != 13 || memcmp(h + 4, "IHDR", 4) != 0)
        return sdl_fail(SDL_ERR_FORMAT, r->path, IMG_HINT_CORRUPT, "corrupt PNG: the first chunk is not a 13-byte IHDR");
    const uint32_t w = img_be32(h + 8), hh = img_be32(h + 12);
    const int depth = h[16], ctype = h[17];
    const int ok = (ctype == 0 && (depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16)) ||
                   (ctype == 3 && (depth == 1 || depth == 2 || depth == 4 || depth == 8)) ||
                   ((ctype == 2 || ctype == 4 || ctype == 6) && (depth == 8 || depth == 16));
    if (!ok) return sdl_fail(SDL_ERR_FORMAT, r->path, IMG_HINT_CORRUPT, "corrupt PNG: invalid colour type %d with bit depth %d", ctype, depth);
    // PNG limits sizes to 2^31 - 1; larger values are corruption, not just big images.
    if (w > 0x7FFFFFFFu || hh > 0x7FFFFFFFu)
        return sdl_fail(SDL_ERR_FORMAT, r->path, IMG_HINT_CORRUPT, "corrupt PNG: size %u x %u exceeds the PNG limit", w, hh);
    info->width = w;
    info->height = hh;
    info->bit_depth = depth;
    info->has_alpha = ctype == 4 || ctype == 6;
    info->orientation = 1;
    // Walk the chunks up to the first IDAT: tRNS means alpha, eXIf carries the orientation
    // (the PNG 1.5 extensions put eXIf before IDAT).
    int64_t off = 8 + 25;
    for (;;) {
        uint8_t c[8];
        SDL_TRY(img_read(r, off, c, 8, "PNG chunk list"));
        const uint32_t len = img_be32(c);
        if (len > 0x7FFFFFFFu) return sdl_fail(SDL_ERR_FORMAT, r->path, IMG_HINT_CORRUPT, "corrupt PNG: chunk length %u at byte %lld", len, (long long)off);
        if (memcmp(c + 4, "IDAT", 4) == 0 || memcmp(c + 4, "IEND", 4) == 0) break;
        if (memcmp(c + 4, "tRNS", 4) == 0) info->has_alpha = 1;
        if (memcmp(c + 4, "eXIf", 4) == 0 && len <= 65536) {
            uint8_t *buf = malloc(len ? len : 1);
            if (!buf) return sdl_fail(SDL_ERR_OOM, r->path, NULL, "out of memory");
            SdlStatus s = img_read(r, off + 8, buf, len, "PNG eXIf chunk");
            if (s == SDL_OK) info->orientation = exif_orientation(buf, len);
            free(buf);
            SDL_TRY(s);
        }
        off += 12 + (int64_t)len;
    }
    return SDL_OK;
}

// ---------------------------------------------------------------- decode

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    int truncated;
    char msg[256];
    const char *path;
} PngSrc;

static void png_on_error(png_structp png, png_const_charp msg) {
    PngSrc *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static void png_read_mem(png_structp png, png_bytep out, png_size_t n) {
    PngSrc *s = png_get_io_ptr(png);
    if (n > s->size - s->pos) {
        s->truncated = 1;
        png_error(png, "the file ends early");
    }
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

// Chunks libpng would otherwise interpret; we ignore their meaning (see the top of the file).
static const png_byte ignored_chunks[] =
    "bKGD\0cHRM\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0pHYs\0sBIT\0sCAL\0sPLT\0sRGB\0tEXt\0tIME\0zTXt\0";

typedef struct {
    png_structp png;
    png_infop info;
    png_bytep *rows;
    PngSrc src;
} PngDec;

SdlStatus img_png_decode(RawImage *raw, const uint8_t *data, size_t size, const char *path) {
    memset(raw, 0, sizeof *raw);
    // Heap state: it is used after longjmp, where non-volatile locals would be indeterminate.
    PngDec *d = calloc(1, sizeof *d);
    if (!d) return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory for the PNG decoder");
    d->src = (PngSrc){.data = data, .size = size, .pos = 0, .path = path};
    d->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &d->src, png_on_error, png_on_warning);
    if (d->png) d->info = png_create_info_struct(d->png);
    if (!d->png || !d->info) {
        png_destroy_read_struct(&d->png, &d->info, NULL);
        free(d);
        return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory for the PNG decoder");
    }
    if (setjmp(png_jmpbuf(d->png))) {
        SdlStatus st = d->src.truncated
            ? sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_TRUNCATED, "truncated PNG: the file ends early (%zu bytes)", size)
            : sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_CORRUPT, "corrupt PNG: %s", d->src.msg);
        png_destroy_read_struct(&d->png, &d->info, NULL);
        free(d->rows);
        free(d);
        img_raw_free(raw);
        return st;
    }
    png_set_read_fn(d->png, &d->src, png_read_mem);
    png_set_keep_unknown_chunks(d->png, PNG_HANDLE_CHUNK_NEVER, ignored_chunks, (int)(sizeof ignored_chunks - 1) / 5);
    // libpng's own default limit is 1,000,000 per side; ours (pixels) is checked below.
    png_set_user_limits(d->png, 0x7FFFFFFF, 0x7FFFFFFF);
    png_read_info(d->png, d->info);
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(d->png, d->info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    SdlStatus st = img_check_size(path, "PNG", (int64_t)w, (int64_t)h);
    if (st != SDL_OK) {
        png_destroy_read_struct(&d->png, &d->info, NULL);
        free(d);
        return st;
    }
    int orientation = 1;
#ifdef PNG_eXIf_SUPPORTED
    png_uint_32 exif_len = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(d->png, d->info, &exif_len, &exif) && exif) orientation = exif_orientation(exif, exif_len);
#endif
    png_set_expand(d->png);        // palette → RGB, gray < 8 bits → 8, tRNS → alpha
    png_set_scale_16(d->png);      // 16 → 8 bits, rounded (strip_16 would truncate)
    png_set_gray_to_rgb(d->png);
    png_set_interlace_handling(d->png);
    png_read_update_info(d->png, d->info);
    const int channels = png_get_channels(d->png, d->info);
    if ((channels != 3 && channels != 4) || png_get_rowbytes(d->png, d->info) != (size_t)w * (size_t)channels)
        png_error(d->png, "unexpected layout after conversion"); // cannot happen with the transforms above
    img_raw_alloc(raw, w, h, channels);
    raw->orientation = orientation;
    d->rows = malloc((size_t)h * sizeof *d->rows);
    if (!d->rows) png_error(d->png, "out of memory for row pointers");
    for (size_t y = 0; y < h; y++) d->rows[y] = raw->px + y * (size_t)w * (size_t)channels;
    png_read_image(d->png, d->rows);
    png_read_end(d->png, NULL); // checks the last IDAT CRC and reads up to IEND
    png_destroy_read_struct(&d->png, &d->info, NULL);
    free(d->rows);
    free(d);
    return SDL_OK;
}

// ---------------------------------------------------------------- encode

static void png_write_mem(png_structp png, png_bytep p, png_size_t n) {
    img_buffer_append(png_get_io_ptr(png), p, n);
}
static void png_flush_mem(png_structp png) { (void)png; }

// Decodes UTF-8 into Latin-1 if every code point is < 256. Returns 1 if it was, 0 if some
// code point needs iTXt, -1 on invalid UTF-8. out must hold strlen(s) + 1 bytes.
static int utf8_to_latin1(const char *s, char *out) {
    const uint8_t *p = (const uint8_t *)s;
    int latin1 = 1;
    size_t k = 0;
    while (*p) {
        uint32_t cp;
        int n;
        if (p[0] < 0x80) { cp = p[0]; n = 1; }
        else if ((p[0] & 0xE0) == 0xC0) { cp = p[0] & 0x1Fu; n = 2; }
        else if ((p[0] & 0xF0) == 0xE0) { cp = p[0] & 0x0Fu; n = 3; }
        else if ((p[0] & 0xF8) == 0xF0) { cp = p[0] & 0x07u; n = 4; }
        else return -1;
        for (int i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80) return -1;
            cp = cp << 6 | (p[i] & 0x3Fu);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1; // overlong, surrogate
        if (cp > 0xFF) latin1 = 0;
        else out[k++] = (char)cp;
        p += n;
    }
    out[k] = 0;
    return latin1;
}

static int valid_key(const char *k) {
    size_t n = strlen(k);
    if (n < 1 || n > 79 || k[0] == ' ' || k[n - 1] == ' ') return 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < 0x20 || k[i] > 0x7e) return 0;
        if (k[i] == ' ' && k[i + 1] == ' ') return 0;
    }
    return 1;
}

typedef struct {
    png_structp png;
    png_infop info;
    png_textp text;
    char **latin1;
    int n_text;
    ImgBuffer buf;
    char msg[256];
} PngEnc;

static void png_enc_error(png_structp png, png_const_charp msg) {
    PngEnc *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_enc_free(PngEnc *e) {
    png_destroy_write_struct(&e->png, &e->info);
    if (e->latin1)
        for (int i = 0; i < e->n_text; i++) free(e->latin1[i]);
    free(e->latin1);
    free(e->text);
    free(e->buf.data);
    free(e);
}

SdlStatus image_save_png(const Image *img, const char *path, const char *const *text_keys,
                         const char *const *text_values, int n_text) {
    if (n_text < 0 || (n_text > 0 && (!text_keys || !text_values)))
        return sdl_fail(SDL_ERR_ARG, path, NULL, "bad PNG text chunk list (%d entries)", n_text);
    PngEnc *e = calloc(1, sizeof *e);
    if (!e) return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory for the PNG encoder");
    e->n_text = n_text;
    if (n_text > 0) {
        e->text = calloc((size_t)n_text, sizeof *e->text);
        e->latin1 = calloc((size_t)n_text, sizeof *e->latin1);
        if (!e->text || !e->latin1) { png_enc_free(e); return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory"); }
    }
    for (int i = 0; i < n_text; i++) {
        if (!text_keys[i] || !valid_key(text_keys[i])) {
            png_enc_free(e);
            return sdl_fail(SDL_ERR_ARG, path, "keys are 1-79 printable ASCII characters without leading, trailing or double spaces",
                            "invalid PNG text key \"%.80s\"", text_keys[i] ? text_keys[i] : "(null)");
        }
        const char *v = text_values[i] ? text_values[i] : "";
        e->latin1[i] = malloc(strlen(v) + 1);
        if (!e->latin1[i]) { png_enc_free(e); return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory"); }
        int kind = utf8_to_latin1(v, e->latin1[i]);
        if (kind < 0) {
            png_enc_free(e);
            return sdl_fail(SDL_ERR_ARG, path, NULL, "PNG text \"%s\" is not valid UTF-8", text_keys[i]);
        }
        png_text *t = &e->text[i];
        t->key = (png_charp)text_keys[i];
        if (kind == 1) { // tEXt holds Latin-1, as PIL's add_text writes it
            t->compression = PNG_TEXT_COMPRESSION_NONE;
            t->text = e->latin1[i];
            t->text_length = strlen(e->latin1[i]);
        } else {        // iTXt holds UTF-8
            t->compression = PNG_ITXT_COMPRESSION_NONE;
            t->text = (png_charp)v;
            t->itxt_length = strlen(v);
            t->lang = (png_charp)"";
            t->lang_key = (png_charp)"";
        }
    }
    e->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, png_enc_error, png_on_warning);
    if (e->png) e->info = png_create_info_struct(e->png);
    if (!e->png || !e->info) { png_enc_free(e); return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory for the PNG encoder"); }
    if (setjmp(png_jmpbuf(e->png))) {
        SdlStatus st = sdl_fail(SDL_ERR_FORMAT, path, NULL, "PNG encoding failed: %s", e->msg);
        png_enc_free(e);
        return st;
    }
    png_set_write_fn(e->png, &e->buf, png_write_mem, png_flush_mem);
    png_set_IHDR(e->png, e->info, (png_uint_32)img->width, (png_uint_32)img->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (n_text > 0) png_set_text(e->png, e->info, e->text, n_text); // before IDAT, where PIL puts them
    png_write_info(e->png, e->info);
    for (int64_t y = 0; y < img->height; y++) png_write_row(e->png, img->rgb + (size_t)y * (size_t)img->width * 3);
    png_write_end(e->png, NULL);
    SdlStatus st = e->buf.failed ? sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory while encoding PNG")
                                 : atomic_write_file(path, e->buf.data, e->buf.size);
    png_enc_free(e);
    return st;
}
