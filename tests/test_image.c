// test_image.c — image decoding, conversions, orientation, corrupt input, resize and
// encoding. Every test image is generated here through libpng/libjpeg/libwebp (or by hand
// for BMP and the EXIF segments), so expected pixels are known exactly.
#include "harness.h"
#include "io/image.h"
#include "base/error.h"
#include "base/mem.h"
#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];

static const char *tpath(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    SDL_ASSERT(f);
    if (n) SDL_ASSERT(fwrite(data, 1, n, f) == n);
    fclose(f);
}

static uint8_t *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    SDL_ASSERT(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc(*n ? *n : 1);
    SDL_ASSERT(fread(d, 1, *n, f) == *n);
    fclose(f);
    return d;
}

static uint8_t *rand_bytes(size_t n, uint32_t seed) {
    uint8_t *p = malloc(n);
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) { s = s * 1664525u + 1013904223u; p[i] = (uint8_t)(s >> 24); }
    return p;
}

// Checks that the last call failed with a format-type status naming `path`, and that the
// reason contains `word` (case-sensitive), so each bad file gets its specific message.
static void check_failed(SdlStatus st, const char *path, const char *word, const char *what) {
    const SdlError *e = sdl_last_error();
    CHECKF(st == SDL_ERR_FORMAT || st == SDL_ERR_UNSUPPORTED, "%s: status %s", what, sdl_status_name(st));
    if (st == SDL_OK) return;
    CHECKF(strcmp(e->file, path) == 0, "%s: error names \"%s\", not \"%s\"", what, e->file, path);
    CHECKF(strstr(e->reason, word) != NULL, "%s: reason \"%s\" lacks \"%s\"", what, e->reason, word);
    CHECKF(e->hint[0] != 0, "%s: no hint", what);
}

// ---------------------------------------------------------------- writers (libpng)

typedef struct {
    int color_type, bit_depth;
    const png_color *palette; int n_palette;
    const uint8_t *trns; int n_trns;
    const uint8_t *exif; int n_exif;
} PngSpec;

static void write_png(const char *path, int w, int h, const PngSpec *s, const uint8_t *rows /* packed, big-endian 16-bit */) {
    FILE *f = fopen(path, "wb");
    SDL_ASSERT(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    SDL_ASSERT(!setjmp(png_jmpbuf(png)));
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, s->bit_depth, s->color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette) png_set_PLTE(png, info, s->palette, s->n_palette);
    if (s->trns) png_set_tRNS(png, info, s->trns, s->n_trns, NULL);
    if (s->exif) png_set_eXIf_1(png, info, (png_uint_32)s->n_exif, (png_bytep)s->exif);
    png_write_info(png, info);
    const size_t rowbytes = png_get_rowbytes(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, rows + (size_t)y * rowbytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

// ---------------------------------------------------------------- writers (libjpeg)

static void write_jpeg(const char *path, int w, int h, int comps, J_COLOR_SPACE cs, const uint8_t *px, int quality,
                       const uint8_t *app1, size_t n_app1, int full_chroma) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    SDL_ASSERT(f);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    if (cs == JCS_CMYK) jpeg_set_colorspace(&c, JCS_CMYK); // also writes the Adobe marker
    jpeg_set_quality(&c, quality, TRUE);
    if (full_chroma) for (int i = 0; i < c.num_components; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    jpeg_start_compress(&c, TRUE);
    if (app1) jpeg_write_marker(&c, JPEG_APP0 + 1, app1, (unsigned)n_app1);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * (size_t)w * (size_t)comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

// An APP1 payload "Exif\0\0" + TIFF with IFD0 = {ImageWidth (unrelated tag), Orientation}.
static size_t make_exif(uint8_t *out, int orientation, int big_endian, int with_prefix) {
    size_t k = 0;
    if (with_prefix) { memcpy(out, "Exif\0\0", 6); k = 6; }
    uint8_t *t = out + k;
#define P16(o, v) do { if (big_endian) { t[o] = (uint8_t)((v) >> 8); t[o + 1] = (uint8_t)(v); } else { t[o] = (uint8_t)(v); t[o + 1] = (uint8_t)((v) >> 8); } } while (0)
#define P32(o, v) do { if (big_endian) { P16(o, (v) >> 16); P16(o + 2, (v) & 0xFFFF); } else { P16(o, (v) & 0xFFFF); P16(o + 2, (v) >> 16); } } while (0)
    t[0] = t[1] = big_endian ? 'M' : 'I';
    P16(2, 42);
    P32(4, 8);
    P16(8, 2);                                  // two entries
    P16(10, 0x0100); P16(12, 4); P32(14, 1); P32(18, 1234);   // ImageWidth LONG
    P16(22, 0x0112); P16(24, 3); P32(26, 1); P16(30, orientation); P16(32, 0);
    P32(34, 0);                                 // no next IFD
#undef P16
#undef P32
    return k + 38;
}

// ---------------------------------------------------------------- writers (BMP by hand)

static uint32_t img_be32_test(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xFFFF); put16(p + 2, v >> 16); }

// bpp 8 (palette given), 24, or 32 (masks given: BITFIELDS with a 108-byte V4 header).
static void write_bmp(const char *path, int w, int h, int bpp, int top_down, const uint8_t *rgb_or_idx,
                      const uint8_t (*pal)[3], int n_pal, const uint32_t *masks, const uint8_t *alpha) {
    const int hsize = masks ? 108 : 40;
    const size_t stride = ((size_t)w * (size_t)bpp + 31) / 32 * 4;
    const size_t pal_bytes = bpp <= 8 ? (size_t)n_pal * 4 : 0;
    const size_t off = 14 + (size_t)hsize + pal_bytes, total = off + stride * (size_t)h;
    uint8_t *b = calloc(1, total);
    b[0] = 'B'; b[1] = 'M';
    put32(b + 2, (uint32_t)total);
    put32(b + 10, (uint32_t)off);
    put32(b + 14, (uint32_t)hsize);
    put32(b + 18, (uint32_t)w);
    put32(b + 22, (uint32_t)(top_down ? -h : h));
    put16(b + 26, 1);
    put16(b + 28, (unsigned)bpp);
    put32(b + 30, masks ? 3 : 0);
    if (bpp <= 8) put32(b + 46, (uint32_t)n_pal);
    if (masks) for (int i = 0; i < 4; i++) put32(b + 54 + 4 * i, masks[i]);
    for (int i = 0; i < n_pal; i++) { b[54 + 4 * i] = pal[i][2]; b[55 + 4 * i] = pal[i][1]; b[56 + 4 * i] = pal[i][0]; }
    for (int y = 0; y < h; y++) {
        uint8_t *row = b + off + (size_t)(top_down ? y : h - 1 - y) * stride;
        for (int x = 0; x < w; x++) {
            const size_t i = (size_t)y * (size_t)w + (size_t)x;
            if (bpp == 8) row[x] = rgb_or_idx[i];
            else if (bpp == 24) { row[3 * x] = rgb_or_idx[3 * i + 2]; row[3 * x + 1] = rgb_or_idx[3 * i + 1]; row[3 * x + 2] = rgb_or_idx[3 * i]; }
            else {
                // with masks: R 0x00FF0000, G 0x0000FF00, B 0x000000FF, A 0xFF000000; without: BGRX
                row[4 * x] = rgb_or_idx[3 * i + 2]; row[4 * x + 1] = rgb_or_idx[3 * i + 1]; row[4 * x + 2] = rgb_or_idx[3 * i];
                row[4 * x + 3] = alpha ? alpha[i] : 0x5A; // BI_RGB: padding byte that must be ignored
            }
        }
    }
    write_bytes(path, b, total);
    free(b);
}

// ---------------------------------------------------------------- helpers

static int max_diff_u8(const uint8_t *a, const uint8_t *b, size_t n) {
    int m = 0;
    for (size_t i = 0; i < n; i++) { int d = abs((int)a[i] - (int)b[i]); if (d > m) m = d; }
    return m;
}

static uint8_t composite(unsigned c, unsigned a, unsigned bg) { return (uint8_t)((c * a + bg * (255 - a) + 127) / 255); }

static void load_ok(Image *img, const char *path) {
    SdlStatus st = image_load(img, path);
    CHECKF(st == SDL_OK, "%s: %s", path, sdl_last_error()->reason);
}

// A smooth colourful test picture (JPEG-friendly).
static uint8_t *smooth_rgb(int w, int h) {
    uint8_t *p = malloc((size_t)w * (size_t)h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * (size_t)w + (size_t)x) * 3;
            q[0] = (uint8_t)(40 + 170 * x / (w - 1));
            q[1] = (uint8_t)(40 + 170 * y / (h - 1));
            q[2] = (uint8_t)(128 + 60 * sin(x * 0.05) * cos(y * 0.07));
        }
    return p;
}

// ---------------------------------------------------------------- PNG

static void test_png_rgb8_and_rgba(void) {
    const int w = 37, h = 23;
    uint8_t *px = rand_bytes((size_t)w * h * 3, 1);
    write_png(tpath("rgb8.png"), w, h, &(PngSpec){.color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8}, px);
    Image img;
    load_ok(&img, tpath("rgb8.png"));
    CHECK(img.width == w && img.height == h);
    if (img.rgb) CHECK(memcmp(img.rgb, px, (size_t)w * h * 3) == 0);
    image_free(&img);
    ImageInfo info;
    CHECK(image_info(&info, tpath("rgb8.png")) == SDL_OK);
    CHECK(info.format == IMAGE_PNG && info.width == w && info.height == h && !info.has_alpha && info.bit_depth == 8 && info.orientation == 1);

    // RGBA: composited onto white by default, onto the given background on request; the
    // alpha plane comes back from image_load_ex.
    uint8_t *rgba = rand_bytes((size_t)w * h * 4, 2);
    for (int i = 0; i < w; i++) { rgba[4 * i + 3] = 0; rgba[4 * (w + i) + 3] = 255; } // rows of fully clear / opaque
    write_png(tpath("rgba.png"), w, h, &(PngSpec){.color_type = PNG_COLOR_TYPE_RGBA, .bit_depth = 8}, rgba);
    CHECK(image_info(&info, tpath("rgba.png")) == SDL_OK && info.has_alpha);
    load_ok(&img, tpath("rgba.png"));
    int bad = 0;
    for (size_t i = 0; img.rgb && i < (size_t)w * h; i++)
        for (int c = 0; c < 3; c++) bad += img.rgb[3 * i + c] != composite(rgba[4 * i + c], rgba[4 * i + 3], 255);
    CHECKF(bad == 0, "%d composited values differ", bad);
    if (img.rgb) CHECK(img.rgb[0] == 255 && img.rgb[1] == 255 && img.rgb[2] == 255); // clear → white
    image_free(&img);
    ImageLoadOptions opt = image_load_options_default();
    opt.background[0] = 0; opt.background[1] = 10; opt.background[2] = 200;
    uint8_t *alpha = NULL;
    CHECK(image_load_ex(&img, &alpha, tpath("rgba.png"), &opt) == SDL_OK);
    CHECK(alpha != NULL);
    bad = 0;
    for (size_t i = 0; img.rgb && alpha && i < (size_t)w * h; i++) {
        bad += alpha[i] != rgba[4 * i + 3];
        for (int c = 0; c < 3; c++) bad += img.rgb[3 * i + c] != composite(rgba[4 * i + c], rgba[4 * i + 3], opt.background[c]);
    }
    CHECKF(bad == 0, "%d values differ with a coloured background", bad);
    image_free(&img);
    mem_free(alpha);
    // No alpha in the file: the alpha pointer stays NULL.
    alpha = (uint8_t *)1;
    CHECK(image_load_ex(&img, &alpha, tpath("rgb8.png"), NULL) == SDL_OK && alpha == NULL);
    image_free(&img);
    free(px);
    free(rgba);
}

static void test_png_16bit_gray_palette(void) {
    const int w = 19, h = 7;
    // 16-bit RGB: v → round(v · 255 / 65535).
    uint8_t *px16 = rand_bytes((size_t)w * h * 6, 3);
    px16[0] = 0x00; px16[1] = 0x80; // 128 → 0.498 → 0
    px16[2] = 0x01; px16[3] = 0x01; // 257 → 1 exactly
    px16[4] = 0x01; px16[5] = 0x82; // 386 → 1.502 → 2 (truncation would give 1)
    write_png(tpath("rgb16.png"), w, h, &(PngSpec){.color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 16}, px16);
    Image img;
    load_ok(&img, tpath("rgb16.png"));
    int bad = 0;
    for (size_t i = 0; img.rgb && i < (size_t)w * h * 3; i++) {
        const unsigned v = (unsigned)px16[2 * i] << 8 | px16[2 * i + 1];
        bad += img.rgb[i] != (v * 255 + 32767) / 65535;
    }
    CHECKF(bad == 0, "%d 16-bit values not rounded", bad);
    if (img.rgb) CHECK(img.rgb[0] == 0 && img.rgb[1] == 1 && img.rgb[2] == 2);
    image_free(&img);
    ImageInfo info;
    CHECK(image_info(&info, tpath("rgb16.png")) == SDL_OK && info.bit_depth == 16);

    // 16-bit gray + alpha.
    uint8_t *ga16 = rand_bytes((size_t)w * h * 4, 4);
    write_png(tpath("ga16.png"), w, h, &(PngSpec){.color_type = PNG_COLOR_TYPE_GRAY_ALPHA, .bit_depth = 16}, ga16);
    load_ok(&img, tpath("ga16.png"));
    bad = 0;
    for (size_t i = 0; img.rgb && i < (size_t)w * h; i++) {
        const unsigned g = ((unsigned)ga16[4 * i] << 8 | ga16[4 * i + 1]) * 255u, a = ((unsigned)ga16[4 * i + 2] << 8 | ga16[4 * i + 3]) * 255u;
        const uint8_t e = composite((g + 32767) / 65535, (a + 32767) / 65535, 255);
        for (int c = 0; c < 3; c++) bad += img.rgb[3 * i + c] != e;
    }
    CHECKF(bad == 0, "%d gray+alpha 16 values differ", bad);
    image_free(&img);

    // 8-bit gray, and 1-bit / 4-bit gray (scaled to 0..255).
    uint8_t *g8 = rand_bytes((size_t)w * h, 5);
    write_png(tpath("g8.png"), w, h, &(PngSpec){.color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 8}, g8);
    load_ok(&img, tpath("g8.png"));
    bad = 0;
    for (size_t i = 0; img.rgb && i < (size_t)w * h; i++) for (int c = 0; c < 3; c++) bad += img.rgb[3 * i + c] != g8[i];
    CHECKF(bad == 0, "%d gray values differ", bad);
    image_free(&img);
    uint8_t g4[4 * 3] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xF0, 0x0F, 0x5A, 0xA5}; // 8 px × 3 rows, 4-bit
    write_png(tpath("g4.png"), 8, 3, &(PngSpec){.color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 4}, g4);
    load_ok(&img, tpath("g4.png"));
    bad = 0;
    for (int y = 0; img.rgb && y < 3; y++)
        for (int x = 0; x < 8; x++) {
            const unsigned nib = (g4[y * 4 + x / 2] >> (x % 2 ? 0 : 4)) & 15;
            bad += img.rgb[(y * 8 + x) * 3 + 1] != nib * 17;
        }
    CHECKF(bad == 0, "%d 4-bit gray values differ", bad);
    image_free(&img);

    // Palette with tRNS: entries 0,1 translucent, 2,3 opaque (no tRNS entry).
    const png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
    const uint8_t trns[2] = {0, 128};
    uint8_t idx[8 * 2] = {0, 1, 2, 3, 3, 2, 1, 0, 1, 1, 2, 2, 0, 0, 3, 3};
    write_png(tpath("pal.png"), 8, 2, &(PngSpec){.color_type = PNG_COLOR_TYPE_PALETTE, .bit_depth = 8, .palette = pal, .n_palette = 4, .trns = trns, .n_trns = 2}, idx);
    CHECK(image_info(&info, tpath("pal.png")) == SDL_OK && info.has_alpha && info.width == 8 && info.height == 2);
    uint8_t *alpha = NULL;
    CHECK(image_load_ex(&img, &alpha, tpath("pal.png"), NULL) == SDL_OK);
    bad = 0;
    for (int i = 0; img.rgb && alpha && i < 16; i++) {
        const unsigned a = idx[i] < 2 ? trns[idx[i]] : 255;
        const uint8_t e[3] = {composite(pal[idx[i]].red, a, 255), composite(pal[idx[i]].green, a, 255), composite(pal[idx[i]].blue, a, 255)};
        bad += memcmp(img.rgb + 3 * i, e, 3) != 0;
        bad += alpha[i] != a;
    }
    CHECKF(bad == 0, "%d palette pixels differ", bad);
    image_free(&img);
    mem_free(alpha);
    free(px16); free(ga16); free(g8);
}

// ---------------------------------------------------------------- JPEG

static void test_jpeg_rgb_gray_cmyk(void) {
    const int w = 64, h = 48;
    uint8_t *px = smooth_rgb(w, h);
    write_jpeg(tpath("rgb.jpg"), w, h, 3, JCS_RGB, px, 95, NULL, 0, 1);
    Image img;
    load_ok(&img, tpath("rgb.jpg"));
    CHECK(img.width == w && img.height == h);
    if (img.rgb) CHECKF(max_diff_u8(img.rgb, px, (size_t)w * h * 3) <= 6, "max diff %d", max_diff_u8(img.rgb, px, (size_t)w * h * 3));
    image_free(&img);
    ImageInfo info;
    CHECK(image_info(&info, tpath("rgb.jpg")) == SDL_OK);
    CHECK(info.format == IMAGE_JPEG && info.width == w && info.height == h && info.orientation == 1 && info.bit_depth == 8 && !info.has_alpha);

    uint8_t *g = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) g[i] = px[3 * i + 1];
    write_jpeg(tpath("gray.jpg"), w, h, 1, JCS_GRAYSCALE, g, 95, NULL, 0, 0);
    load_ok(&img, tpath("gray.jpg"));
    int bad = 0, maxd = 0;
    for (size_t i = 0; img.rgb && i < (size_t)w * h; i++) {
        bad += img.rgb[3 * i] != img.rgb[3 * i + 1] || img.rgb[3 * i + 1] != img.rgb[3 * i + 2];
        int d = abs(img.rgb[3 * i] - g[i]);
        if (d > maxd) maxd = d;
    }
    CHECKF(bad == 0 && maxd <= 4, "gray: %d non-gray pixels, max diff %d", bad, maxd);
    image_free(&img);

    // CMYK, Adobe-inverted as Photoshop writes (libjpeg writes the Adobe marker for CMYK):
    // four flat 16×16 blocks; expected R = C'·K'/255 with the stored (inverted) values.
    const uint8_t inks[4][4] = {{255, 255, 255, 255}, {255, 0, 255, 255}, {100, 200, 50, 200}, {255, 255, 255, 0}};
    uint8_t *cmyk = malloc(32 * 32 * 4);
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) memcpy(cmyk + (y * 32 + x) * 4, inks[(y / 16) * 2 + x / 16], 4);
    write_jpeg(tpath("cmyk.jpg"), 32, 32, 4, JCS_CMYK, cmyk, 100, NULL, 0, 1);
    load_ok(&img, tpath("cmyk.jpg"));
    bad = 0;
    for (int b = 0; img.rgb && b < 4; b++) {
        const uint8_t *p = img.rgb + ((size_t)((b / 2) * 16 + 8) * 32 + (size_t)((b % 2) * 16 + 8)) * 3; // block centre
        for (int c = 0; c < 3; c++) {
            const int e = (inks[b][c] * inks[b][3] + 127) / 255;
            if (abs(p[c] - e) > 3) { bad++; fprintf(stderr, "  cmyk block %d ch %d: %d vs %d\n", b, c, p[c], e); }
        }
    }
    CHECK(bad == 0);
    image_free(&img);
    CHECK(image_info(&info, tpath("cmyk.jpg")) == SDL_OK && info.width == 32);

    // Harmless oddities real files have must still load: stray bytes before a marker
    // (libjpeg's "extraneous bytes" warning) and data appended after EOI.
    {
        size_t n;
        uint8_t *d = read_bytes(tpath("rgb.jpg"), &n);
        uint8_t *e = malloc(n + 16);
        size_t sos = 0;
        for (size_t i = 2; i + 1 < n && !sos; i++) if (d[i] == 0xFF && d[i + 1] == 0xDA) sos = i;
        memcpy(e, d, sos);
        memcpy(e + sos, "\x01\x02\x03", 3);
        memcpy(e + sos + 3, d + sos, n - sos);
        memcpy(e + n + 3, "trailing", 8);
        write_bytes(tpath("odd.jpg"), e, n + 11);
        load_ok(&img, tpath("odd.jpg"));
        CHECK(img.rgb && max_diff_u8(img.rgb, px, (size_t)w * h * 3) <= 6);
        image_free(&img);
        free(d); free(e);
    }
    // A JPEG named .png decodes by its content (kohya_ss #1718).
    write_jpeg(tpath("really_jpeg.png"), w, h, 3, JCS_RGB, px, 90, NULL, 0, 0);
    load_ok(&img, tpath("really_jpeg.png"));
    CHECK(img.width == w);
    image_free(&img);
    CHECK(image_info(&info, tpath("really_jpeg.png")) == SDL_OK && info.format == IMAGE_JPEG);
    free(px); free(g); free(cmyk);
}

// Stored 32×48 image with four flat quadrants; for each EXIF orientation the displayed
// corners must show the stored corners given by the EXIF definition of the tag (which
// stored corner ends up top-left, top-right, bottom-left, bottom-right).
enum { TL, TR, BL, BR };
static const uint8_t quad_col[4][3] = {{230, 20, 20}, {20, 230, 20}, {20, 20, 230}, {230, 230, 20}};
static const int expect_corners[9][4] = {
    {0}, {TL, TR, BL, BR}, {TR, TL, BR, BL}, {BR, BL, TR, TL}, {BL, BR, TL, TR},
    {TL, BL, TR, BR}, {BL, TL, BR, TR}, {BR, TR, BL, TL}, {TR, BR, TL, BL},
};

static uint8_t *quadrants(int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) memcpy(p + ((size_t)y * w + x) * 3, quad_col[(y >= h / 2) * 2 + (x >= w / 2)], 3);
    return p;
}

static void check_corners(const Image *img, int o, int sw, int sh, const char *what) {
    const int64_t dw = o >= 5 ? sh : sw, dh = o >= 5 ? sw : sh;
    CHECKF(img->width == dw && img->height == dh, "%s orientation %d: %lld x %lld", what, o, (long long)img->width, (long long)img->height);
    if (img->width != dw || img->height != dh || !img->rgb) return;
    const int64_t pts[4][2] = {{2, 2}, {dw - 3, 2}, {2, dh - 3}, {dw - 3, dh - 3}};
    for (int k = 0; k < 4; k++) {
        const uint8_t *p = img->rgb + ((size_t)pts[k][1] * (size_t)dw + (size_t)pts[k][0]) * 3;
        const uint8_t *e = quad_col[expect_corners[o][k]];
        CHECKF(abs(p[0] - e[0]) < 16 && abs(p[1] - e[1]) < 16 && abs(p[2] - e[2]) < 16,
               "%s orientation %d corner %d: (%d,%d,%d) expected (%d,%d,%d)", what, o, k, p[0], p[1], p[2], e[0], e[1], e[2]);
    }
}

static void test_exif_orientation(void) {
    const int w = 32, h = 48;
    uint8_t *px = quadrants(w, h);
    uint8_t app1[64];
    char name[64];
    for (int be = 0; be < 2; be++)
        for (int o = 1; o <= 8; o++) {
            size_t n = make_exif(app1, o, be, 1);
            snprintf(name, sizeof name, "orient%d_%d.jpg", o, be);
            write_jpeg(tpath(name), w, h, 3, JCS_RGB, px, 95, app1, n, 1);
            ImageInfo info;
            CHECK(image_info(&info, tpath(name)) == SDL_OK);
            CHECKF(info.orientation == o, "info orientation %d, expected %d", info.orientation, o);
            CHECK(info.width == (o >= 5 ? h : w) && info.height == (o >= 5 ? w : h));
            Image img;
            load_ok(&img, tpath(name));
            check_corners(&img, o, w, h, "JPEG");
            image_free(&img);
        }
    // An out-of-range tag value is ignored.
    size_t n = make_exif(app1, 9, 0, 1);
    write_jpeg(tpath("orient9.jpg"), w, h, 3, JCS_RGB, px, 95, app1, n, 1);
    Image img;
    load_ok(&img, tpath("orient9.jpg"));
    check_corners(&img, 1, w, h, "JPEG tag 9");
    image_free(&img);

    // PNG eXIf (TIFF without the "Exif\0\0" prefix).
    n = make_exif(app1, 6, 1, 0);
    write_png(tpath("orient6.png"), w, h, &(PngSpec){.color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8, .exif = app1, .n_exif = (int)n}, px);
    ImageInfo info;
    CHECK(image_info(&info, tpath("orient6.png")) == SDL_OK && info.orientation == 6 && info.width == h && info.height == w);
    load_ok(&img, tpath("orient6.png"));
    check_corners(&img, 6, w, h, "PNG");
    image_free(&img);

    // WebP: VP8X container { VP8X (EXIF flag), VP8L, EXIF } built around a lossless bitstream.
    uint8_t *enc = NULL;
    size_t en = WebPEncodeLosslessRGB(px, w, h, w * 3, &enc);
    CHECK(en > 20 && memcmp(enc + 12, "VP8L", 4) == 0);
    const size_t vp8l = en - 12; // the VP8L chunk with header (and padding)
    n = make_exif(app1, 8, 0, 0);
    const size_t total = 12 + 18 + vp8l + 8 + n + (n & 1);
    uint8_t *wb = calloc(1, total);
    memcpy(wb, "RIFF", 4); put32(wb + 4, (uint32_t)(total - 8)); memcpy(wb + 8, "WEBP", 4);
    memcpy(wb + 12, "VP8X", 4); put32(wb + 16, 10); wb[20] = 0x08;
    wb[24] = (uint8_t)(w - 1); wb[27] = (uint8_t)(h - 1);
    memcpy(wb + 30, enc + 12, vp8l);
    memcpy(wb + 30 + vp8l, "EXIF", 4); put32(wb + 34 + vp8l, (uint32_t)n); memcpy(wb + 38 + vp8l, app1, n);
    write_bytes(tpath("orient8.webp"), wb, total);
    CHECK(image_info(&info, tpath("orient8.webp")) == SDL_OK && info.orientation == 8 && info.width == h && info.height == w);
    load_ok(&img, tpath("orient8.webp"));
    check_corners(&img, 8, w, h, "WebP");
    image_free(&img);
    WebPFree(enc);
    free(wb);
    free(px);
}

static void test_jpeg_dct_scaling(void) {
    const int w = 160, h = 96;
    uint8_t *px = smooth_rgb(w, h);
    write_jpeg(tpath("big.jpg"), w, h, 3, JCS_RGB, px, 90, NULL, 0, 0);
    ImageLoadOptions opt = image_load_options_default();
    Image img;
    opt.min_width = 40; opt.min_height = 20; // 1/4 gives 40 × 24
    CHECK(image_load_ex(&img, NULL, tpath("big.jpg"), &opt) == SDL_OK);
    CHECKF(img.width == 40 && img.height == 24, "%lld x %lld", (long long)img.width, (long long)img.height);
    image_free(&img);
    opt.min_width = 41; // 1/4 too small → 1/2
    CHECK(image_load_ex(&img, NULL, tpath("big.jpg"), &opt) == SDL_OK && img.width == 80 && img.height == 48);
    image_free(&img);
    // With orientation 6 the minimum speaks of the displayed size (96 × 160).
    uint8_t app1[64];
    size_t n = make_exif(app1, 6, 0, 1);
    write_jpeg(tpath("big6.jpg"), w, h, 3, JCS_RGB, px, 90, app1, n, 0);
    opt.min_width = 24; opt.min_height = 41;
    CHECK(image_load_ex(&img, NULL, tpath("big6.jpg"), &opt) == SDL_OK);
    CHECKF(img.width == 48 && img.height == 80, "%lld x %lld", (long long)img.width, (long long)img.height);
    image_free(&img);
    free(px);
}

// ---------------------------------------------------------------- WebP, BMP

static void test_webp(void) {
    const int w = 40, h = 30;
    uint8_t *px = smooth_rgb(w, h);
    uint8_t *enc = NULL;
    size_t n = WebPEncodeLosslessRGB(px, w, h, w * 3, &enc);
    write_bytes(tpath("ll.webp"), enc, n);
    WebPFree(enc);
    Image img;
    load_ok(&img, tpath("ll.webp"));
    CHECK(img.width == w && img.height == h && img.rgb && memcmp(img.rgb, px, (size_t)w * h * 3) == 0);
    image_free(&img);
    ImageInfo info;
    CHECK(image_info(&info, tpath("ll.webp")) == SDL_OK && info.format == IMAGE_WEBP && info.width == w && info.height == h);

    n = WebPEncodeRGB(px, w, h, w * 3, 95, &enc);
    write_bytes(tpath("lossy.webp"), enc, n);
    WebPFree(enc);
    load_ok(&img, tpath("lossy.webp"));
    CHECK(img.width == w && img.height == h);
    if (img.rgb) CHECKF(max_diff_u8(img.rgb, px, (size_t)w * h * 3) <= 12, "lossy max diff %d", max_diff_u8(img.rgb, px, (size_t)w * h * 3));
    image_free(&img);
    CHECK(image_info(&info, tpath("lossy.webp")) == SDL_OK && info.width == w && info.height == h && !info.has_alpha);

    uint8_t *rgba = rand_bytes((size_t)w * h * 4, 9);
    n = WebPEncodeLosslessRGBA(rgba, w, h, w * 4, &enc);
    write_bytes(tpath("alpha.webp"), enc, n);
    WebPFree(enc);
    CHECK(image_info(&info, tpath("alpha.webp")) == SDL_OK && info.has_alpha);
    uint8_t *alpha = NULL;
    CHECK(image_load_ex(&img, &alpha, tpath("alpha.webp"), NULL) == SDL_OK && alpha);
    int bad = 0;
    for (size_t i = 0; img.rgb && alpha && i < (size_t)w * h; i++) {
        bad += alpha[i] != rgba[4 * i + 3];
        // libwebp may change the colour of fully transparent pixels; composited they are white anyway.
        for (int c = 0; c < 3; c++) bad += img.rgb[3 * i + c] != composite(rgba[4 * i + 3] ? rgba[4 * i + c] : 0, rgba[4 * i + 3], 255);
    }
    CHECKF(bad == 0, "%d alpha WebP values differ", bad);
    image_free(&img);
    mem_free(alpha);
    free(px); free(rgba);
}

static void test_bmp(void) {
    const int w = 5, h = 3; // 15-byte rows: padding exercised
    uint8_t *px = rand_bytes((size_t)w * h * 3, 11);
    Image img;
    ImageInfo info;
    for (int td = 0; td < 2; td++) {
        write_bmp(tpath("b24.bmp"), w, h, 24, td, px, NULL, 0, NULL, NULL);
        load_ok(&img, tpath("b24.bmp"));
        CHECK(img.width == w && img.height == h && img.rgb && memcmp(img.rgb, px, (size_t)w * h * 3) == 0);
        image_free(&img);
    }
    CHECK(image_info(&info, tpath("b24.bmp")) == SDL_OK && info.format == IMAGE_BMP && info.width == w && info.height == h && !info.has_alpha);
    write_bmp(tpath("b32.bmp"), w, h, 32, 0, px, NULL, 0, NULL, NULL); // BGRX: the X byte is ignored
    load_ok(&img, tpath("b32.bmp"));
    CHECK(img.rgb && memcmp(img.rgb, px, (size_t)w * h * 3) == 0);
    image_free(&img);
    const uint32_t masks[4] = {0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000};
    uint8_t *al = rand_bytes((size_t)w * h, 12);
    write_bmp(tpath("b32a.bmp"), w, h, 32, 1, px, NULL, 0, masks, al);
    CHECK(image_info(&info, tpath("b32a.bmp")) == SDL_OK && info.has_alpha);
    uint8_t *alpha = NULL;
    CHECK(image_load_ex(&img, &alpha, tpath("b32a.bmp"), NULL) == SDL_OK && alpha);
    int bad = 0;
    for (size_t i = 0; img.rgb && alpha && i < (size_t)w * h; i++) {
        bad += alpha[i] != al[i];
        for (int c = 0; c < 3; c++) bad += img.rgb[3 * i + c] != composite(px[3 * i + c], al[i], 255);
    }
    CHECKF(bad == 0, "%d BMP alpha values differ", bad);
    image_free(&img);
    mem_free(alpha);
    const uint8_t pal[3][3] = {{1, 2, 3}, {200, 100, 50}, {9, 99, 199}};
    const uint8_t idx[15] = {0, 1, 2, 1, 0, 2, 2, 2, 1, 1, 0, 0, 1, 2, 0};
    write_bmp(tpath("b8.bmp"), w, h, 8, 0, idx, pal, 3, NULL, NULL);
    load_ok(&img, tpath("b8.bmp"));
    bad = 0;
    for (int i = 0; img.rgb && i < 15; i++) bad += memcmp(img.rgb + 3 * i, pal[idx[i]], 3) != 0;
    CHECKF(bad == 0, "%d palette BMP pixels differ", bad);
    image_free(&img);
    free(px); free(al);
}

// ---------------------------------------------------------------- corrupt input

static void check_truncations(const char *name, const uint8_t *data, size_t n) {
    // Cut at every byte of the first 64, then at 40 points through the rest, and just
    // before the end: each cut must fail cleanly with the file named.
    char cut[128];
    snprintf(cut, sizeof cut, "cut_%s", name);
    int fails = 0, tries = 0;
    for (size_t k = 0; k < n; k += k < 64 ? 1 : (n / 40 > 1 ? n / 40 : 1)) {
        write_bytes(tpath(cut), data, k);
        Image img;
        SdlStatus st = image_load(&img, tpath(cut));
        tries++;
        if (st == SDL_OK) { fails++; fprintf(stderr, "  %s cut at %zu of %zu bytes loaded\n", name, k, n); image_free(&img); continue; }
        const SdlError *e = sdl_last_error();
        if (!(st == SDL_ERR_FORMAT || st == SDL_ERR_UNSUPPORTED) || strcmp(e->file, tpath(cut)) != 0 || !e->reason[0]) {
            fails++;
            fprintf(stderr, "  %s cut at %zu: %s \"%s\"\n", name, k, sdl_status_name(st), e->reason);
        }
        CHECK(img.rgb == NULL);
    }
    for (size_t k = n - 2; k < n; k++) { // last bytes (JPEG EOI, PNG IEND CRC)
        write_bytes(tpath(cut), data, k);
        Image img;
        SdlStatus st = image_load(&img, tpath(cut));
        if (st == SDL_OK) { fails++; fprintf(stderr, "  %s cut at %zu of %zu bytes loaded\n", name, k, n); image_free(&img); }
        else if (k == n - 1 || k == n - 2) CHECKF(strstr(sdl_last_error()->reason, "truncated") != NULL, "%s: %s", name, sdl_last_error()->reason);
    }
    CHECKF(fails == 0, "%s: %d of %d truncations not reported properly", name, fails, tries);
}

static void test_corrupt_files(void) {
    Image img;
    ImageInfo info;
    SdlStatus st;
    // Zero bytes.
    write_bytes(tpath("empty.png"), "", 0);
    check_failed(image_load(&img, tpath("empty.png")), tpath("empty.png"), "empty", "load empty");
    check_failed(image_info(&info, tpath("empty.png")), tpath("empty.png"), "empty", "info empty");
    // Garbage named .png, a text file named .jpg, a GIF.
    uint8_t *junk = rand_bytes(1000, 13);
    junk[0] = 0x13;
    write_bytes(tpath("junk.png"), junk, 1000);
    check_failed(image_load(&img, tpath("junk.png")), tpath("junk.png"), "not a PNG, JPEG", "junk");
    check_failed(image_info(&info, tpath("junk.png")), tpath("junk.png"), "not a PNG, JPEG", "junk info");
    const char *txt = "a photo of sks dog, best quality\n";
    write_bytes(tpath("caption.jpg"), txt, strlen(txt));
    check_failed(image_load(&img, tpath("caption.jpg")), tpath("caption.jpg"), "\"a photo of sks d", "text as jpg");
    write_bytes(tpath("anim.png"), "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14);
    check_failed(image_load(&img, tpath("anim.png")), tpath("anim.png"), "GIF", "gif");
    CHECK(image_load(&img, tpath("does_not_exist.png")) == SDL_ERR_IO);

    // Truncations of every format.
    size_t n;
    const int w = 64, h = 48;
    uint8_t *px = smooth_rgb(w, h);
    write_jpeg(tpath("t.jpg"), w, h, 3, JCS_RGB, px, 90, NULL, 0, 0);
    uint8_t *d = read_bytes(tpath("t.jpg"), &n);
    check_truncations("t.jpg", d, n);
    free(d);
    { // progressive JPEG too
        struct jpeg_compress_struct c;
        struct jpeg_error_mgr err;
        c.err = jpeg_std_error(&err);
        jpeg_create_compress(&c);
        FILE *f = fopen(tpath("p.jpg"), "wb");
        jpeg_stdio_dest(&c, f);
        c.image_width = (JDIMENSION)w; c.image_height = (JDIMENSION)h; c.input_components = 3; c.in_color_space = JCS_RGB;
        jpeg_set_defaults(&c);
        jpeg_simple_progression(&c);
        jpeg_start_compress(&c, TRUE);
        while (c.next_scanline < c.image_height) { JSAMPROW row = px + (size_t)c.next_scanline * w * 3; jpeg_write_scanlines(&c, &row, 1); }
        jpeg_finish_compress(&c);
        jpeg_destroy_compress(&c);
        fclose(f);
        d = read_bytes(tpath("p.jpg"), &n);
        load_ok(&img, tpath("p.jpg"));
        image_free(&img);
        check_truncations("p.jpg", d, n);
        free(d);
    }
    write_png(tpath("t.png"), w, h, &(PngSpec){.color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8}, px);
    d = read_bytes(tpath("t.png"), &n);
    check_truncations("t.png", d, n);
    // Bad CRC of IDAT (the chunk after IHDR, at byte 33) and of IHDR.
    CHECK(memcmp(d + 37, "IDAT", 4) == 0);
    uint8_t *bad = malloc(n);
    memcpy(bad, d, n);
    bad[33 + 8 + img_be32_test(d + 33)] ^= 0x55; // the IDAT chunk's stored CRC
    write_bytes(tpath("badcrc.png"), bad, n);
    check_failed(image_load(&img, tpath("badcrc.png")), tpath("badcrc.png"), "CRC", "IDAT CRC");
    memcpy(bad, d, n);
    bad[29] ^= 0x01; // IHDR CRC
    write_bytes(tpath("badcrc2.png"), bad, n);
    check_failed(image_load(&img, tpath("badcrc2.png")), tpath("badcrc2.png"), "CRC", "IHDR CRC");
    // A header claiming 100000 × 100000 (with a valid CRC): refused before allocating.
    memcpy(bad, d, n);
    put32(bad + 16, 0); bad[16] = 0; bad[17] = 0x01; bad[18] = 0x86; bad[19] = 0xA0; // 100000 big-endian
    bad[20] = 0; bad[21] = 0x01; bad[22] = 0x86; bad[23] = 0xA0;
    uint32_t crc = (uint32_t)crc32(0, bad + 12, 17);
    bad[29] = (uint8_t)(crc >> 24); bad[30] = (uint8_t)(crc >> 16); bad[31] = (uint8_t)(crc >> 8); bad[32] = (uint8_t)crc;
    write_bytes(tpath("huge.png"), bad, n);
    check_failed(image_load(&img, tpath("huge.png")), tpath("huge.png"), "larger than sdlora accepts", "huge png");
    check_failed(image_info(&info, tpath("huge.png")), tpath("huge.png"), "larger than sdlora accepts", "huge png info");
    free(bad);
    free(d);
    // JPEG claiming 65000 × 65000.
    write_jpeg(tpath("h.jpg"), w, h, 3, JCS_RGB, px, 90, NULL, 0, 0);
    d = read_bytes(tpath("h.jpg"), &n);
    for (size_t i = 2; i + 8 < n; i++)
        if (d[i] == 0xFF && d[i + 1] == 0xC0) { d[i + 5] = 0xFD; d[i + 6] = 0xE8; d[i + 7] = 0xFD; d[i + 8] = 0xE8; break; }
    write_bytes(tpath("huge.jpg"), d, n);
    check_failed(image_load(&img, tpath("huge.jpg")), tpath("huge.jpg"), "larger than sdlora accepts", "huge jpeg");
    check_failed(image_info(&info, tpath("huge.jpg")), tpath("huge.jpg"), "larger than sdlora accepts", "huge jpeg info");
    free(d);
    // Corrupted JPEG entropy data (not truncated): must not pass silently.
    write_jpeg(tpath("c.jpg"), w, h, 3, JCS_RGB, px, 90, NULL, 0, 0);
    d = read_bytes(tpath("c.jpg"), &n);
    size_t sos = 0;
    for (size_t i = 2; i + 1 < n && !sos; i++) if (d[i] == 0xFF && d[i + 1] == 0xDA) sos = i;
    CHECK(sos > 0);
    const size_t mid = sos + (n - sos) / 2; // inside the entropy-coded scan data
    for (size_t i = mid; i < mid + 16; i++) d[i] = 0xFF; // an 0xFF run: bogus markers in scan data
    write_bytes(tpath("c.jpg"), d, n);
    st = image_load(&img, tpath("c.jpg"));
    check_failed(st, tpath("c.jpg"), "JPEG", "corrupt jpeg");
    free(d);

    uint8_t *enc = NULL;
    n = WebPEncodeRGB(px, w, h, w * 3, 80, &enc);
    check_truncations("t.webp", enc, n);
    WebPFree(enc);
    n = WebPEncodeLosslessRGB(px, w, h, w * 3, &enc);
    check_truncations("tl.webp", enc, n);
    WebPFree(enc);
    write_bmp(tpath("t.bmp"), w, h, 24, 0, px, NULL, 0, NULL, NULL);
    d = read_bytes(tpath("t.bmp"), &n);
    check_truncations("t.bmp", d, n - 2); // n-2: the last row's padding may be absent
    free(d);
    free(px); free(junk);
}

// Random damage must never crash (run this file under ASan/UBSan too).
static void test_fuzz_smoke(void) {
    const int w = 24, h = 16;
    uint8_t *px = smooth_rgb(w, h);
    const char *names[4] = {"f.jpg", "f.png", "f.webp", "f.bmp"};
    write_jpeg(tpath(names[0]), w, h, 3, JCS_RGB, px, 90, NULL, 0, 0);
    write_png(tpath(names[1]), w, h, &(PngSpec){.color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8}, px);
    uint8_t *enc = NULL;
    size_t en = WebPEncodeRGB(px, w, h, w * 3, 80, &enc);
    write_bytes(tpath(names[2]), enc, en);
    WebPFree(enc);
    write_bmp(tpath(names[3]), w, h, 24, 0, px, NULL, 0, NULL, NULL);
    uint32_t s = 12345;
    int ok = 0, failed = 0;
    for (int f = 0; f < 4; f++) {
        size_t n;
        uint8_t *d = read_bytes(tpath(names[f]), &n);
        uint8_t *m = malloc(n);
        const int iters = getenv("SDLORA_IMAGE_FUZZ_ITERS") ? atoi(getenv("SDLORA_IMAGE_FUZZ_ITERS")) : test_quick() ? 60 : 300;
        for (int it = 0; it < iters; it++) {
            memcpy(m, d, n);
            for (int k = 0; k < 1 + it % 8; k++) { s = s * 1664525u + 1013904223u; m[(s >> 8) % n] = (uint8_t)(s >> 24); }
            Image img;
            uint8_t *alpha = NULL;
            SdlStatus st = image_decode_memory(&img, &alpha, m, n, "fuzz", NULL);
            if (st == SDL_OK) { ok++; CHECK(img.rgb && img.width > 0); image_free(&img); mem_free(alpha); }
            else { failed++; CHECK(img.rgb == NULL && alpha == NULL); }
        }
        free(m); free(d);
    }
    CHECK(ok + failed > 0);
    free(px);
}

// ---------------------------------------------------------------- resize, crop, tensor

static void test_resize(void) {
    Image src, dst;
    // Constant images stay constant, whatever the direction.
    CHECK(image_alloc(&src, 13, 7) == SDL_OK);
    for (size_t i = 0; i < 13 * 7; i++) { src.rgb[3 * i] = 10; src.rgb[3 * i + 1] = 128; src.rgb[3 * i + 2] = 250; }
    const int64_t sizes[][2] = {{26, 14}, {5, 3}, {13, 7}, {1, 1}, {40, 2}, {3, 30}, {7, 13}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        CHECK(image_resize(&dst, &src, sizes[k][0], sizes[k][1]) == SDL_OK);
        int bad = 0;
        for (size_t i = 0; dst.rgb && i < (size_t)(dst.width * dst.height); i++)
            bad += dst.rgb[3 * i] != 10 || dst.rgb[3 * i + 1] != 128 || dst.rgb[3 * i + 2] != 250;
        CHECKF(bad == 0 && dst.width == sizes[k][0] && dst.height == sizes[k][1], "constant → %lld x %lld: %d pixels changed",
               (long long)sizes[k][0], (long long)sizes[k][1], bad);
        image_free(&dst);
    }
    image_free(&src);
    // A 2× area downscale is the exact 2×2 mean (checkerboard of 0/255 and random data).
    uint8_t *r = rand_bytes(16 * 12 * 3, 21);
    CHECK(image_alloc(&src, 16, 12) == SDL_OK);
    memcpy(src.rgb, r, 16 * 12 * 3);
    CHECK(image_resize(&dst, &src, 8, 6) == SDL_OK);
    int bad = 0;
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 8; x++)
            for (int c = 0; c < 3; c++) {
                const int sum = r[((2 * y) * 16 + 2 * x) * 3 + c] + r[((2 * y) * 16 + 2 * x + 1) * 3 + c] +
                                r[((2 * y + 1) * 16 + 2 * x) * 3 + c] + r[((2 * y + 1) * 16 + 2 * x + 1) * 3 + c];
                const double e = sum / 4.0;
                if (fabs(dst.rgb[(y * 8 + x) * 3 + c] - e) > 0.5 + 1e-3) bad++;
            }
    CHECKF(bad == 0, "%d pixels differ from the 2x2 mean", bad);
    image_free(&dst);
    for (int y = 0; y < 12; y++) for (int x = 0; x < 16; x++) memset(src.rgb + (y * 16 + x) * 3, (x + y) % 2 ? 255 : 0, 3);
    CHECK(image_resize(&dst, &src, 8, 6) == SDL_OK);
    bad = 0;
    for (int i = 0; i < 8 * 6 * 3; i++) bad += dst.rgb[i] != 128; // 127.5 rounds up
    CHECKF(bad == 0, "checkerboard: %d values are not 128", bad);
    image_free(&dst);
    // 3 → 2 area: out0 = (a + b/2) / 1.5, out1 = (b/2 + c) / 1.5.
    image_free(&src);
    CHECK(image_alloc(&src, 3, 1) == SDL_OK);
    const uint8_t row[9] = {0, 90, 255, 30, 60, 0, 120, 0, 3};
    memcpy(src.rgb, row, 9);
    CHECK(image_resize(&dst, &src, 2, 1) == SDL_OK);
    for (int c = 0; c < 3; c++) {
        CHECK(dst.rgb[c] == (uint8_t)floor((row[c] + row[3 + c] / 2.0) / 1.5 + 0.5));
        CHECK(dst.rgb[3 + c] == (uint8_t)floor((row[3 + c] / 2.0 + row[6 + c]) / 1.5 + 0.5));
    }
    image_free(&dst);
    image_free(&src);
    // Lanczos upscale of a linear gradient stays on the line away from the edges.
    CHECK(image_alloc(&src, 32, 4) == SDL_OK);
    for (int y = 0; y < 4; y++) for (int x = 0; x < 32; x++) memset(src.rgb + (y * 32 + x) * 3, 20 + 6 * x, 3);
    CHECK(image_resize(&dst, &src, 96, 12) == SDL_OK);
    double maxerr = 0;
    for (int x = 9; x < 96 - 9; x++) {
        const double sx = (x + 0.5) / 3.0 - 0.5, e = 20 + 6 * sx;
        const double err = fabs(dst.rgb[(5 * 96 + x) * 3] - e);
        if (err > maxerr) maxerr = err;
    }
    CHECKF(maxerr <= 1.0, "gradient max error %.2f", maxerr);
    image_free(&dst);
    // Mean of everything for N → 1.
    uint64_t sum = 0;
    for (int i = 0; i < 32 * 4; i++) sum += src.rgb[3 * i];
    CHECK(image_resize(&dst, &src, 1, 1) == SDL_OK && abs(dst.rgb[0] - (int)((double)sum / 128 + 0.5)) <= 0);
    image_free(&dst);
    // 1×1 up to anything: constant.
    Image one;
    CHECK(image_crop(&one, &src, 5, 1, 1, 1) == SDL_OK);
    CHECK(image_resize(&dst, &one, 9, 4) == SDL_OK);
    bad = 0;
    for (int i = 0; i < 9 * 4 * 3; i++) bad += dst.rgb[i] != one.rgb[i % 3];
    CHECK(bad == 0);
    image_free(&dst); image_free(&one);
    // Large shrink (stepwise path) of a constant stays constant.
    image_free(&src);
    CHECK(image_alloc(&src, 700, 3) == SDL_OK);
    memset(src.rgb, 77, 700 * 3 * 3);
    CHECK(image_resize(&dst, &src, 5, 3) == SDL_OK && dst.rgb[0] == 77 && dst.rgb[5 * 3 * 3 - 1] == 77);
    image_free(&dst);
    CHECK(image_resize(&dst, &src, 0, 3) == SDL_ERR_ARG && dst.rgb == NULL);
    image_free(&src);
    free(r);
}

static void test_crop_flip_tensor(void) {
    Image a, b;
    CHECK(image_alloc(&a, 4, 3) == SDL_OK);
    for (int i = 0; i < 36; i++) a.rgb[i] = (uint8_t)i;
    CHECK(image_crop(&b, &a, 1, 1, 2, 2) == SDL_OK);
    CHECK(b.width == 2 && b.height == 2 && b.rgb[0] == (1 * 4 + 1) * 3 && b.rgb[3 * 3] == (2 * 4 + 2) * 3);
    image_free(&b);
    CHECK(image_crop(&b, &a, 3, 0, 2, 1) == SDL_ERR_ARG && b.rgb == NULL);
    CHECK(image_crop(&b, &a, -1, 0, 1, 1) == SDL_ERR_ARG);
    image_flip_horizontal(&a);
    CHECK(a.rgb[0] == 9 && a.rgb[1] == 10 && a.rgb[2] == 11 && a.rgb[9] == 0 && a.rgb[12] == 21);
    image_free(&a);
    // Tensor round trip, exact for all 256 values; clamping and NaN.
    CHECK(image_alloc(&a, 256, 1) == SDL_OK);
    for (int i = 0; i < 256; i++) { a.rgb[3 * i] = (uint8_t)i; a.rgb[3 * i + 1] = (uint8_t)(255 - i); a.rgb[3 * i + 2] = (uint8_t)(i * 7); }
    float *t = alloc_floats(3 * 256);
    image_to_tensor(t, &a);
    CHECK(t[0] == -1.0f && t[255] == 1.0f && t[256] == 1.0f); // channel-major
    CHECK(image_alloc(&b, 256, 1) == SDL_OK);
    image_from_tensor(&b, t);
    CHECK(memcmp(a.rgb, b.rgb, 256 * 3) == 0);
    t[0] = 3.0f; t[1] = -7.0f; t[2] = NAN; t[3] = 0.0f;
    image_from_tensor(&b, t);
    CHECK(b.rgb[0] == 255 && b.rgb[3] == 0 && b.rgb[6] == 0 && b.rgb[9] == 128);
    free(t);
    image_free(&a); image_free(&b);
    CHECK(image_alloc(&a, 100000, 100000) == SDL_ERR_ARG && a.rgb == NULL);
}

// ---------------------------------------------------------------- encoders

static int count_tmp_files(void) {
    DIR *dir = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir))) n += strstr(e->d_name, ".tmp") != NULL;
    closedir(dir);
    return n;
}

static void test_save_png_text(void) {
    Image a;
    CHECK(image_alloc(&a, 9, 5) == SDL_OK);
    uint8_t *r = rand_bytes(9 * 5 * 3, 31);
    memcpy(a.rgb, r, 9 * 5 * 3);
    const char *keys[3] = {"parameters", "Software", "comment"};
    const char *vals[3] = {"a photo of sks dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42",
                           "sdlora caf\xc3\xa9", // é: Latin-1 → tEXt
                           "\xe7\x8a\xac (dog) \xf0\x9f\x90\xb6"}; // CJK + emoji → iTXt
    CHECK(image_save_png(&a, tpath("out.png"), keys, vals, 3) == SDL_OK);
    Image b;
    load_ok(&b, tpath("out.png"));
    CHECK(b.width == 9 && b.height == 5 && b.rgb && memcmp(a.rgb, b.rgb, 9 * 5 * 3) == 0);
    image_free(&b);
    // Read the chunks back with libpng.
    FILE *f = fopen(tpath("out.png"), "rb");
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    SDL_ASSERT(!setjmp(png_jmpbuf(png)));
    png_init_io(png, f);
    png_read_info(png, info);
    png_textp text;
    int n = 0;
    png_get_text(png, info, &text, &n);
    CHECK(n == 3);
    for (int i = 0; i < n; i++) {
        if (strcmp(text[i].key, "parameters") == 0) CHECK(text[i].compression == PNG_TEXT_COMPRESSION_NONE && strcmp(text[i].text, vals[0]) == 0);
        else if (strcmp(text[i].key, "Software") == 0) CHECK(text[i].compression == PNG_TEXT_COMPRESSION_NONE && strcmp(text[i].text, "sdlora caf\xe9") == 0);
        else if (strcmp(text[i].key, "comment") == 0) CHECK(text[i].compression == PNG_ITXT_COMPRESSION_NONE && strcmp(text[i].text, vals[2]) == 0);
        else CHECK(0);
    }
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    // Bad arguments.
    const char *badv[1] = {"\xc3\x28"};
    CHECK(image_save_png(&a, tpath("bad.png"), keys, badv, 1) == SDL_ERR_ARG);
    const char *badk[1] = {" lead"};
    CHECK(image_save_png(&a, tpath("bad.png"), badk, vals, 1) == SDL_ERR_ARG);
    CHECK(access(tpath("bad.png"), F_OK) != 0);
    CHECK(image_save_png(&a, tpath("plain.png"), NULL, NULL, 0) == SDL_OK);
    // JPEG and WebP writers round trip.
    Image big;
    uint8_t *sm = smooth_rgb(48, 32);
    CHECK(image_alloc(&big, 48, 32) == SDL_OK);
    memcpy(big.rgb, sm, 48 * 32 * 3);
    CHECK(image_save_jpeg(&big, tpath("out.jpg"), 95) == SDL_OK);
    load_ok(&b, tpath("out.jpg"));
    CHECK(b.rgb && max_diff_u8(b.rgb, sm, 48 * 32 * 3) <= 6);
    image_free(&b);
    CHECK(image_save_jpeg(&big, tpath("out.jpg"), 0) == SDL_ERR_ARG);
    CHECK(image_save_webp(&big, tpath("out.webp"), 0, 1) == SDL_OK);
    load_ok(&b, tpath("out.webp"));
    CHECK(b.rgb && memcmp(b.rgb, sm, 48 * 32 * 3) == 0);
    image_free(&b);
    CHECK(image_save_webp(&big, tpath("outq.webp"), 90, 0) == SDL_OK);
    load_ok(&b, tpath("outq.webp"));
    CHECK(b.rgb && max_diff_u8(b.rgb, sm, 48 * 32 * 3) <= 16);
    image_free(&b);
    CHECK(count_tmp_files() == 0);
    image_free(&big);
    image_free(&a);
    free(r); free(sm);
}

// Every pixel buffer is mem_alloc'ed (MEM_OTHER): after all tests, including the failing
// decodes and the fuzz loop, nothing may remain (LeakSanitizer checks the libraries' side).
static void test_no_leaked_buffers(void) {
    CHECKF(mem_current(MEM_OTHER) == 0, "%zu bytes of MEM_OTHER still allocated", mem_current(MEM_OTHER));
}

static void cleanup(void) {
    DIR *dir = opendir(tmpdir);
    struct dirent *e;
    while (dir && (e = readdir(dir)))
        if (e->d_name[0] != '.') unlink(tpath(e->d_name));
    if (dir) closedir(dir);
    rmdir(tmpdir);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sdlora_test_image_XXXXXX");
    SDL_ASSERT(mkdtemp(tmpdir));
    RUN(test_png_rgb8_and_rgba);
    RUN(test_png_16bit_gray_palette);
    RUN(test_jpeg_rgb_gray_cmyk);
    RUN(test_exif_orientation);
    RUN(test_jpeg_dct_scaling);
    RUN(test_webp);
    RUN(test_bmp);
    RUN(test_corrupt_files);
    RUN(test_fuzz_smoke);
    RUN(test_resize);
    RUN(test_crop_flip_tensor);
    RUN(test_save_png_text);
    RUN(test_no_leaked_buffers);
    if (!getenv("SDLORA_KEEP_TEST_FILES")) cleanup(); // keep them to debug a failure
    else fprintf(stderr, "  test files kept in %s\n", tmpdir);
    return test_finish();
}
