// augment.c — see augment.h. The HSV arithmetic follows OpenCV's documented 8-bit
// conversion (imgproc color_hsv): fixed-point tables for the forward direction, float32
// sector/table evaluation for the inverse. Contraction is explicit: the build is -std=c11
// (GCC keeps a*b+c as two roundings there) and the one place where OpenCV's x86-64 build
// fuses, 1 - s*h, is written with fmaf().
#include "data/augment.h"
#include <math.h>
#include <pthread.h>
#include <string.h>

bool augment_draw_flip(PyRandom *r, bool flip_aug) { return flip_aug && py_random_random(r) < 0.5; }

ColorAug augment_draw_color(PyRandom *r, bool color_aug) {
    ColorAug c = {COLOR_AUG_NONE, 0.0, 1.0};
    if (!color_aug) return c;
    if (py_random_random(r) <= 0.33) {
        if (py_random_random(r) > 0.5) {
            // random.uniform(a, b) = a + (b - a) * random()
            double s = -8.0 + (8.0 - -8.0) * py_random_random(r);
            if (s < 0) s = 180.0 + s;
            c.kind = COLOR_AUG_HUE;
            c.hue_shift = s;
        } else {
            c.kind = COLOR_AUG_GAMMA;
            c.gamma = 0.95 + (1.05 - 0.95) * py_random_random(r);
        }
    }
    return c;
}

void augment_flip(Image *img) { image_flip_horizontal(img); }

// ---- OpenCV 8-bit HSV ----

enum { HSV_SHIFT = 12 };

// saturate_cast<int>(double): round half to even (cvRound = lrint in the default mode).
static int cv_round(double x) { return (int)lrint(x); }

typedef struct {
    int sdiv[256], hdiv180[256];
} HsvTables;

static HsvTables g_tables;
static pthread_once_t g_tables_once = PTHREAD_ONCE_INIT;

static void tables_init(void) {
    g_tables.sdiv[0] = g_tables.hdiv180[0] = 0;
    for (int i = 1; i < 256; i++) {
        g_tables.sdiv[i] = cv_round((double)(255 << HSV_SHIFT) / (1.0 * i));
        g_tables.hdiv180[i] = cv_round((double)(180 << HSV_SHIFT) / (6.0 * i));
    }
}

static const HsvTables *hsv_tables(void) {
    pthread_once(&g_tables_once, tables_init);
    return &g_tables;
}

void augment_cv_bgr2hsv(uint8_t *dst, const uint8_t *src, size_t n) {
    const HsvTables *t = hsv_tables();
    for (size_t i = 0; i < n; i++) {
        int b = src[3 * i], g = src[3 * i + 1], r = src[3 * i + 2];
        int v = b > g ? b : g;
        v = v > r ? v : r;
        int vmin = b < g ? b : g;
        vmin = vmin < r ? vmin : r;
        int diff = v - vmin;
        int vr = v == r ? -1 : 0, vg = v == g ? -1 : 0;
        int s = (diff * t->sdiv[v] + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
        // hue sector by which channel is the maximum (r first, then g), as a signed offset
        int h = (vr & (g - b)) + (~vr & ((vg & (b - r + 2 * diff)) + (~vg & (r - g + 4 * diff))));
        h = (h * t->hdiv180[diff] + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
        h += h < 0 ? 180 : 0;
        dst[3 * i] = (uint8_t)(h < 0 ? 0 : h > 255 ? 255 : h);
        dst[3 * i + 1] = (uint8_t)s;
        dst[3 * i + 2] = (uint8_t)v;
    }
}

static uint8_t sat_u8_round(float x) {
    long v = lrintf(x);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static uint8_t sat_u8_trunc(float x) {
    int v = (int)x; // v_trunc: toward zero
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

// One pixel. OpenCV's vector path (trunc_store) truncates the final *255 where its scalar
// path rounds; the sector arithmetic (trunc + mod 6 vs fmod + floor) agrees for h in [0, 6).
// Its x86-64 builds contract 1 - s*h into one fused multiply-add in both paths (checked
// against opencv-python 4.8.1 and 5.0 over all 180*256*256 inputs: no mismatch with fmaf,
// 429 with two roundings), hence the explicit fmaf.
static void hsv2bgr_px(uint8_t *dst, const uint8_t *src, bool trunc_store) {
    static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1}, {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
    const float hscale = 6.0f / 180.0f;
    float h = (float)src[0], s = (float)src[1] * (1.0f / 255.0f), v = (float)src[2] * (1.0f / 255.0f);
    h *= hscale;                    // [0, 6): H <= 179
    int sector = (int)floorf(h);
    h -= (float)sector;
    if ((unsigned)sector >= 6u) { sector = 0; h = 0.0f; }
    float tab[4] = {v, v * (1.0f - s), v * fmaf(-s, h, 1.0f), v * fmaf(-s, 1.0f - h, 1.0f)};
    for (int c = 0; c < 3; c++) {
        float x = tab[sector_data[sector][c]] * 255.0f;
        dst[c] = trunc_store ? sat_u8_trunc(x) : sat_u8_round(x);
    }
}

void augment_cv_hsv2bgr_row(uint8_t *dst, const uint8_t *src, size_t n, int cv_block) {
    size_t n_simd = cv_block > 0 ? n / (size_t)cv_block * (size_t)cv_block : 0;
    for (size_t i = 0; i < n; i++) hsv2bgr_px(dst + 3 * i, src + 3 * i, i < n_simd);
}

// ---- color_aug ----

void augment_color_apply(Image *img, const ColorAug *c, int cv_block) {
    const size_t W = (size_t)img->width, H = (size_t)img->height;
    if (c->kind == COLOR_AUG_GAMMA) {
        // np.clip(image ** gamma, 0, 255).astype(np.uint8): float64 power, truncation
        uint8_t lut[256];
        for (int v = 0; v < 256; v++) {
            double p = pow((double)v, c->gamma);
            lut[v] = (uint8_t)(p > 255.0 ? 255.0 : p);
        }
        for (size_t i = 0; i < W * H * 3; i++) img->rgb[i] = lut[img->rgb[i]];
    } else if (c->kind == COLOR_AUG_HUE) {
        // hsv[:, :, 0] = (hsv[:, :, 0] + shift) % 180 in float64, stored back as uint8
        // (truncation); the shift is the same for every pixel, so a 180-entry table
        uint8_t hue[180];
        for (int x = 0; x < 180; x++) hue[x] = (uint8_t)fmod((double)x + c->hue_shift, 180.0);
        for (size_t y = 0; y < H; y++) {
            uint8_t *row = img->rgb + y * W * 3;
            // kohya hands its RGB array to COLOR_BGR2HSV: the first channel plays blue
            augment_cv_bgr2hsv(row, row, W);
            for (size_t x = 0; x < W; x++) row[3 * x] = hue[row[3 * x] < 180 ? row[3 * x] : 179];
            augment_cv_hsv2bgr_row(row, row, W, cv_block);
        }
    }
}
