// image_jpeg.c — JPEG through libjpeg-turbo: header walk for image_info, strict decoding,
// encoding for previews and tests.
//
// Strictness: libjpeg reports a truncated or damaged entropy stream only as a *warning*
// ("Premature end of JPEG file", "Corrupt JPEG data: …") and fills the rest with grey, which
// would train a LoRA on half-grey images without anyone noticing. Those warnings are turned
// into errors here. Warnings about metadata only (extraneous bytes between markers, a bad
// ICC marker, an unknown JFIF revision or Adobe transform code) are ignored: the pixels are
// fine and PIL accepts such files too.
#include "io/image_internal.h"
#include "io/exif.h"
#include "base/atomic_file.h"
#include "base/mem.h"
#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#include <string.h>

// ---------------------------------------------------------------- header-only info

SdlStatus img_jpeg_info(ImageInfo *info, ImgReader *r) {
    info->orientation = 1;
    int64_t off = 2; // after SOI
    int have_exif = 0;
    for (;;) {
        uint8_t m[2];
        SDL_TRY(img_read(r, off, m, 2, "JPEG marker list"));
        if (m[0] != 0xFF)
            return sdl_fail(SDL_ERR_FORMAT, r->path, IMG_HINT_CORRUPT,
                            "corrupt JPEG: expected a marker at byte %lld, found 0x%02x", (long long)off, m[0]);
        if (m[1] == 0xFF) { off++; continue; } // fill byte before a marker
        const int marker = m[1];
        off += 2;
        if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue; // no length
        if (marker == 0xD9 || marker == 0xDA)
            return sdl_fail(SDL_ERR_FORMAT, r->path, IMG_HINT_CORRUPT, "corrupt JPEG: image data starts before the frame header (no SOF marker)");
        SDL_TRY(img_read(r, off, m, 2, "JPEG marker segment length"));
        const int len = img_be16(m);
        if (len < 2) return sdl_fail(SDL_ERR_FORMAT, r->path, IMG_HINT_CORRUPT, "corrupt JPEG: marker 0x%02x has length %d", marker, len);
        if (marker == 0xE1 && !have_exif && len >= 2 + 14) {
            uint8_t buf[65536];
            SDL_TRY(img_read(r, off + 2, buf, (size_t)len - 2, "JPEG APP1 (EXIF) segment"));
            if (memcmp(buf, "Exif\0\0", 6) == 0) {
                info->orientation = exif_orientation(buf, (size_t)len - 2);
                have_exif = 1;
            }
        }
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
            uint8_t f[6]; // precision, height, width, number of components
            SDL_TRY(img_read(r, off + 2, f, 6, "JPEG frame header"));
            info->bit_depth = f[0];
            info->height = img_be16(f + 1);
            info->width = img_be16(f + 3);
            info->has_alpha = 0;
            if (info->height == 0)
                return sdl_fail(SDL_ERR_UNSUPPORTED, r->path, IMG_HINT_CONVERT, "JPEG with the height deferred to a DNL marker is not supported");
            if (f[5] != 1 && f[5] != 3 && f[5] != 4)
                return sdl_fail(SDL_ERR_UNSUPPORTED, r->path, IMG_HINT_CONVERT, "JPEG with %d colour components is not supported (1, 3 or 4 only)", f[5]);
            return SDL_OK;
        }
        off += len;
    }
}

// ---------------------------------------------------------------- error handling

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    int truncated; // the failure was running out of data
} JpegErr;

static void on_error_exit(j_common_ptr cinfo) {
    JpegErr *e = (JpegErr *)cinfo->err;
    cinfo->err->format_message(cinfo, e->msg);
    longjmp(e->jump, 1);
}

// Warnings that mean the pixels are wrong (see the top of this file).
static int warning_is_fatal(int code) {
    return code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE ||
           code == JWRN_ARITH_BAD_CODE || code == JWRN_MUST_RESYNC || code == JWRN_NOT_SEQUENTIAL;
}

static void on_emit_message(j_common_ptr cinfo, int level) {
    if (level != -1) return; // trace messages: never printed
    JpegErr *e = (JpegErr *)cinfo->err;
    cinfo->err->num_warnings++;
    if (!warning_is_fatal(cinfo->err->msg_code)) return;
    e->truncated = cinfo->err->msg_code == JWRN_JPEG_EOF;
    cinfo->err->format_message(cinfo, e->msg);
    longjmp(e->jump, 1);
}

static void on_output_message(j_common_ptr cinfo) { (void)cinfo; } // libjpeg must never print

static void init_err(JpegErr *e) {
    jpeg_std_error(&e->pub);
    e->pub.error_exit = on_error_exit;
    e->pub.emit_message = on_emit_message;
    e->pub.output_message = on_output_message;
    e->msg[0] = 0;
    e->truncated = 0;
}

// ---------------------------------------------------------------- decode

// The smallest libjpeg-turbo scale 1/d (d = 8, 4, 2, 1) that still gives at least min_w × min_h.
static int choose_denominator(int64_t w, int64_t h, int64_t min_w, int64_t min_h) {
    if (min_w <= 0 && min_h <= 0) return 1;
    for (int d = 8; d > 1; d /= 2)
        if ((w + d - 1) / d >= min_w && (h + d - 1) / d >= min_h) return d;
    return 1;
}

typedef struct {
    struct jpeg_decompress_struct cinfo;
    JpegErr err;
} JpegDec;

SdlStatus img_jpeg_decode(RawImage *raw, const uint8_t *data, size_t size, const char *path,
                          int64_t min_w, int64_t min_h) {
    memset(raw, 0, sizeof *raw);
    // On the heap: the struct is touched after longjmp, and a heap object needs no volatile.
    JpegDec *d = calloc(1, sizeof *d);
    if (!d) return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory for the JPEG decoder");
    struct jpeg_decompress_struct *ci = &d->cinfo;
    init_err(&d->err);
    ci->err = &d->err.pub;
    if (setjmp(d->err.jump)) {
        // 12-bit (medical/scientific) JPEGs are valid but beyond the 8-bit libjpeg API.
        const int unsupported = d->err.pub.msg_code == JERR_BAD_PRECISION;
        SdlStatus st = d->err.truncated ? sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_TRUNCATED, "truncated JPEG: %s", d->err.msg)
                     : unsupported      ? sdl_fail(SDL_ERR_UNSUPPORTED, path, IMG_HINT_CONVERT, "unsupported JPEG: %s", d->err.msg)
                                        : sdl_fail(SDL_ERR_FORMAT, path, IMG_HINT_CORRUPT, "corrupt JPEG: %s", d->err.msg);
        jpeg_destroy_decompress(ci);
        free(d);
        img_raw_free(raw);
        return st;
    }
    jpeg_create_decompress(ci);
    // libjpeg's memory source takes an unsigned long size; image files are < 1 GiB here.
    jpeg_mem_src(ci, data, (unsigned long)size);
    jpeg_save_markers(ci, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(ci, TRUE);

    int orientation = 1;
    for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
            orientation = exif_orientation(m->data, m->data_length);
            break;
        }

    SdlStatus st = img_check_size(path, "JPEG", (int64_t)ci->image_width, (int64_t)ci->image_height);
    int cmyk = 0;
    if (st == SDL_OK) {
        switch (ci->jpeg_color_space) {
        case JCS_GRAYSCALE: case JCS_YCbCr: case JCS_RGB: ci->out_color_space = JCS_RGB; break;
        case JCS_CMYK: case JCS_YCCK: ci->out_color_space = JCS_CMYK; cmyk = 1; break;
        default:
            st = sdl_fail(SDL_ERR_UNSUPPORTED, path, IMG_HINT_CONVERT,
                          "JPEG with %d colour components in an unknown colour space is not supported", ci->num_components);
        }
    }
    if (st != SDL_OK) {
        jpeg_destroy_decompress(ci);
        free(d);
        return st;
    }
    ci->scale_num = 1;
    ci->scale_denom = (unsigned)choose_denominator(ci->image_width, ci->image_height, min_w, min_h);
    jpeg_start_decompress(ci);
    const int64_t W = ci->output_width, H = ci->output_height;
    img_raw_alloc(raw, W, H, 3);
    raw->orientation = orientation;
    JSAMPARRAY cmyk_row = cmyk ? (*ci->mem->alloc_sarray)((j_common_ptr)ci, JPOOL_IMAGE, (JDIMENSION)W * 4, 1) : NULL;
    // Adobe (Photoshop) CMYK JPEGs store inverted values (0 = full ink); others plain ones.
    const int inverted = cmyk && ci->saw_Adobe_marker;
    while (ci->output_scanline < ci->output_height) {
        uint8_t *row = raw->px + (size_t)ci->output_scanline * (size_t)W * 3;
        if (!cmyk) {
            JSAMPROW rows[1] = {row};
            jpeg_read_scanlines(ci, rows, 1);
            continue;
        }
        jpeg_read_scanlines(ci, cmyk_row, 1);
        const uint8_t *p = cmyk_row[0];
        for (int64_t x = 0; x < W; x++, p += 4) {
            const unsigned k = inverted ? p[3] : 255u - p[3];
            for (int c = 0; c < 3; c++) {
                const unsigned v = inverted ? p[c] : 255u - p[c];
                row[3 * x + c] = (uint8_t)((v * k + 127) / 255);
            }
        }
    }
    jpeg_finish_decompress(ci); // reads to EOI: a file cut after the last scan still fails
    jpeg_destroy_decompress(ci);
    free(d);
    return SDL_OK;
}

// ---------------------------------------------------------------- encode

typedef struct {
    struct jpeg_compress_struct cinfo;
    JpegErr err;
    unsigned char *out;
    unsigned long out_size;
} JpegEnc;

SdlStatus image_save_jpeg(const Image *img, const char *path, int quality) {
    if (quality < 1 || quality > 100)
        return sdl_fail(SDL_ERR_ARG, path, "use a quality between 1 and 100 (95 is visually lossless)", "JPEG quality %d is out of range", quality);
    if (img->width > 65500 || img->height > 65500)
        return sdl_fail(SDL_ERR_ARG, path, "save as PNG instead", "%lld x %lld is too large for JPEG (65500 pixels per side at most)",
                        (long long)img->width, (long long)img->height);
    JpegEnc *e = calloc(1, sizeof *e);
    if (!e) return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory for the JPEG encoder");
    struct jpeg_compress_struct *ci = &e->cinfo;
    init_err(&e->err);
    ci->err = &e->err.pub;
    if (setjmp(e->err.jump)) {
        SdlStatus st = sdl_fail(SDL_ERR_FORMAT, path, NULL, "JPEG encoding failed: %s", e->err.msg);
        jpeg_destroy_compress(ci);
        free(e->out);
        free(e);
        return st;
    }
    jpeg_create_compress(ci);
    jpeg_mem_dest(ci, &e->out, &e->out_size);
    ci->image_width = (JDIMENSION)img->width;
    ci->image_height = (JDIMENSION)img->height;
    ci->input_components = 3;
    ci->in_color_space = JCS_RGB;
    jpeg_set_defaults(ci);
    jpeg_set_quality(ci, quality, TRUE);
    if (quality >= 90) { // full-resolution chroma: at high quality 4:2:0 is the visible loss
        ci->comp_info[0].h_samp_factor = 1;
        ci->comp_info[0].v_samp_factor = 1;
    }
    jpeg_start_compress(ci, TRUE);
    while (ci->next_scanline < ci->image_height) {
        JSAMPROW row = (JSAMPROW)(img->rgb + (size_t)ci->next_scanline * (size_t)img->width * 3);
        jpeg_write_scanlines(ci, &row, 1);
    }
    jpeg_finish_compress(ci);
    SdlStatus st = atomic_write_file(path, e->out, (size_t)e->out_size);
    jpeg_destroy_compress(ci);
    free(e->out);
    free(e);
    return st;
}
