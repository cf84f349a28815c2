// image_resize.c — separable high-quality resize: exact area (box) weights on an axis that
// shrinks, Lanczos-3 on an axis that grows or keeps its size.
//
// This is kohya's default choice (cv2.INTER_AREA when shrinking, PIL LANCZOS otherwise),
// made per axis: an image shrunk in one direction and stretched in the other gets area
// weights in the first, Lanczos in the second. Area weights: output pixel i covers source
// interval [i·s, (i+1)·s), s = in/out, and each source pixel contributes its overlap / s —
// the exact average, so a 2× shrink is the 2×2 mean. Lanczos-3: the output pixel centre
// maps to c = (i + 0.5)·s − 0.5 in source coordinates, taps j = floor(c) − 2 … floor(c) + 3
// weighted by sinc(j − c)·sinc((j − c)/3), clamped at the edges, normalised to sum 1.
// Arithmetic is float on the sRGB values (no linearisation, as PIL and cv2), rounded to
// nearest once at the end. Single-threaded: the data loader runs many images in parallel.
#include "io/image.h"
#include "base/mem.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int ntaps;        // taps per output pixel (fixed stride; unused taps have weight 0)
    int64_t *idx;     // (out, ntaps) source indices, clamped into range
    float *w;         // (out, ntaps)
} Weights;

static double sinc(double x) {
    if (fabs(x) < 1e-9) return 1.0;
    const double px = M_PI * x;
    return sin(px) / px;
}

static void weights_free(Weights *k) { free(k->idx); free(k->w); }

static int weights_make(Weights *k, int64_t in, int64_t out) {
    const double s = (double)in / (double)out;
    const int area = in > out;
    k->ntaps = area ? (int)ceil(s) + 2 : 6;
    k->idx = calloc((size_t)out * (size_t)k->ntaps, sizeof *k->idx);
    k->w = calloc((size_t)out * (size_t)k->ntaps, sizeof *k->w);
    if (!k->idx || !k->w) { weights_free(k); return 0; }
    for (int64_t i = 0; i < out; i++) {
        int64_t *ix = k->idx + i * k->ntaps;
        float *w = k->w + i * k->ntaps;
        double wsum = 0, wt[64];
        int n = 0;
        if (area) {
            const double lo = (double)i * s, hi = (double)(i + 1) * s;
            for (int64_t j = (int64_t)floor(lo); (double)j < hi && n < k->ntaps; j++) {
                const double ov = fmin(hi, (double)(j + 1)) - fmax(lo, (double)j);
                if (ov <= 0) continue;
                ix[n] = j < in ? j : in - 1;
                wt[n++] = ov;
                wsum += ov;
            }
        } else {
            const double c = ((double)i + 0.5) * s - 0.5;
            const int64_t base = (int64_t)floor(c);
            for (int64_t j = base - 2; j <= base + 3; j++) {
                const double x = (double)j - c;
                const double v = fabs(x) < 3 ? sinc(x) * sinc(x / 3) : 0;
                ix[n] = j < 0 ? 0 : j >= in ? in - 1 : j;
                wt[n++] = v;
                wsum += v;
            }
        }
        for (int t = 0; t < n; t++) w[t] = (float)(wt[t] / wsum);
        for (int t = n; t < k->ntaps; t++) { ix[t] = ix[0]; w[t] = 0; }
    }
    return 1;
}

static inline uint8_t to_u8(float v) {
    return !(v >= 0.0f) ? 0 : v >= 255.0f ? 255 : (uint8_t)(v + 0.5f);
}

SdlStatus image_resize(Image *dst, const Image *src, int64_t width, int64_t height) {
    memset(dst, 0, sizeof *dst);
    SDL_TRY(image_alloc(dst, width, height));
    const int64_t W = src->width, H = src->height;
    if (W == width && H == height) { // Lanczos at integer positions is the identity
        memcpy(dst->rgb, src->rgb, (size_t)W * (size_t)H * 3);
        return SDL_OK;
    }
    // Area weights with at most 64 taps are enough up to a 62× shrink per axis; beyond
    // that, shrink in steps (exactly equivalent for integer factors, near enough otherwise).
    if ((double)W / (double)width > 62 || (double)H / (double)height > 62) {
        const int64_t mw = W / (double)width > 62 ? W / 32 : W, mh = H / (double)height > 62 ? H / 32 : H;
        Image mid;
        image_free(dst);
        SDL_TRY(image_resize(&mid, src, mw > 0 ? mw : 1, mh > 0 ? mh : 1));
        SdlStatus s = image_resize(dst, &mid, width, height);
        image_free(&mid);
        return s;
    }
    Weights kx = {0}, ky = {0};
    float *tmp = NULL, *acc = NULL;
    if (!weights_make(&kx, W, width) || !weights_make(&ky, H, height) ||
        !(tmp = malloc((size_t)H * (size_t)width * 3 * sizeof *tmp)) || !(acc = malloc((size_t)width * 3 * sizeof *acc))) {
        weights_free(&kx); weights_free(&ky); free(tmp); free(acc); image_free(dst);
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory resizing %lld x %lld to %lld x %lld",
                        (long long)W, (long long)H, (long long)width, (long long)height);
    }
    // Horizontal pass: (H, W, 3) u8 → (H, width, 3) float.
    for (int64_t y = 0; y < H; y++) {
        const uint8_t *row = src->rgb + (size_t)y * (size_t)W * 3;
        float *o = tmp + (size_t)y * (size_t)width * 3;
        for (int64_t x = 0; x < width; x++) {
            const int64_t *ix = kx.idx + x * kx.ntaps;
            const float *w = kx.w + x * kx.ntaps;
            float r = 0, g = 0, b = 0;
            for (int t = 0; t < kx.ntaps; t++) {
                const uint8_t *p = row + ix[t] * 3;
                r += w[t] * p[0]; g += w[t] * p[1]; b += w[t] * p[2];
            }
            o[3 * x] = r; o[3 * x + 1] = g; o[3 * x + 2] = b;
        }
    }
    // Vertical pass: weighted sum of whole rows (contiguous, vectorises) → rounded u8.
    const size_t n = (size_t)width * 3;
    for (int64_t y = 0; y < height; y++) {
        const int64_t *iy = ky.idx + y * ky.ntaps;
        const float *w = ky.w + y * ky.ntaps;
        memset(acc, 0, n * sizeof *acc);
        for (int t = 0; t < ky.ntaps; t++) {
            if (w[t] == 0) continue;
            const float *row = tmp + (size_t)iy[t] * n, wt = w[t];
            for (size_t i = 0; i < n; i++) acc[i] += wt * row[i];
        }
        uint8_t *o = dst->rgb + (size_t)y * n;
        for (size_t i = 0; i < n; i++) o[i] = to_u8(acc[i]);
    }
    weights_free(&kx); weights_free(&ky); free(tmp); free(acc);
    return SDL_OK;
}
