// vae_tiled.c — see vae_tiled.h.
#include "sample/vae_tiled.h"
#include "base/log.h"
#include "base/mem.h"
#include <stdio.h>
#include <string.h>

size_t vae_tiling_default_budget(void) {
    const size_t gib = (size_t)1 << 30;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 4 * gib;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    if (!kb) return 4 * gib;
    size_t half = (size_t)(kb * 1024ull / 2);
    return half < gib ? gib : half;
}

size_t vae_decode_bytes_estimate(Vae *vae, int64_t H, int64_t W) {
    // bytes = a + b·pixels, fitted through two square plans of 16f and 32f pixels a side
    const int64_t f = vae_downsample_factor(&vae->cfg), s1 = 16 * f, s2 = 32 * f;
    if (vae_plan(vae, 1, s1, s1, VAE_DECODE) != SDL_OK) return 0;
    double b1 = (double)vae_planned_bytes(vae);
    if (vae_plan(vae, 1, s2, s2, VAE_DECODE) != SDL_OK) return 0;
    double b2 = (double)vae_planned_bytes(vae);
    double per_px = (b2 - b1) / (double)(s2 * s2 - s1 * s1);
    double est = b1 + per_px * ((double)H * (double)W - (double)(s1 * s1));
    return est > 0 ? (size_t)est : 0;
}

// Tile starts along an axis of n latents: 0, stride, 2·stride, …, the last one at n − T.
static int64_t tile_starts(int64_t n, int64_t T, int64_t overlap, int64_t *starts, int64_t cap) {
    int64_t stride = T - overlap, k = 0;
    for (int64_t p = 0;; p += stride) {
        int64_t q = p + T >= n ? n - T : p;
        if (k < cap) starts[k] = q;
        k++;
        if (q + T >= n) break;
    }
    return k;
}

// Blend weight of pixel i of a tile of `len` pixels: ramps over `ramp` pixels on the sides that
// border another tile (lo / hi), 1 elsewhere. Never 0, so every pixel has some weight.
static float ramp_weight(int64_t i, int64_t len, int64_t ramp, int lo, int hi) {
    float w = 1.0f;
    if (lo && i < ramp) w = ((float)i + 0.5f) / (float)ramp;
    if (hi && len - i <= ramp) {
        float v = ((float)(len - i) - 0.5f) / (float)ramp;
        if (v < w) w = v;
    }
    return w;
}

SdlStatus vae_decode_tiled(Vae *vae, float *image, const float *z, int64_t h, int64_t w, int64_t tile,
                           int64_t overlap) {
    const int64_t f = vae_downsample_factor(&vae->cfg), L = vae->cfg.latent_channels, C = vae->cfg.out_channels;
    if (tile < 1 || overlap < 0 || overlap >= tile)
        return sdl_fail(SDL_ERR_ARG, NULL, "use a tile of at least 8 latents and an overlap smaller than the tile",
                        "VAE tiling: tile %lld with overlap %lld", (long long)tile, (long long)overlap);
    int64_t th = tile < h ? tile : h, tw = tile < w ? tile : w;
    int64_t oy = overlap < th ? overlap : th - 1, ox = overlap < tw ? overlap : tw - 1;
    int64_t ys[1024], xs[1024];
    int64_t ny = tile_starts(h, th, oy, ys, 1024), nx = tile_starts(w, tw, ox, xs, 1024);
    if (ny > 1024 || nx > 1024)
        return sdl_fail(SDL_ERR_ARG, NULL, "use larger tiles", "VAE tiling: %lld x %lld tiles is too many", (long long)ny,
                        (long long)nx);
    SDL_TRY(vae_plan(vae, 1, th * f, tw * f, VAE_DECODE));
    const int64_t H = h * f, W = w * f, TH = th * f, TW = tw * f;
    float *zt = mem_alloc(MEM_SCRATCH, (size_t)(L * th * tw) * sizeof(float));
    float *it = mem_alloc(MEM_SCRATCH, (size_t)(C * TH * TW) * sizeof(float));
    float *wsum = mem_calloc(MEM_SCRATCH, (size_t)(H * W) * sizeof(float));
    float *wy = mem_alloc(MEM_SCRATCH, (size_t)TH * sizeof(float)), *wx = mem_alloc(MEM_SCRATCH, (size_t)TW * sizeof(float));
    memset(image, 0, (size_t)(C * H * W) * sizeof(float));
    for (int64_t a = 0; a < ny; a++)
        for (int64_t b = 0; b < nx; b++) {
            const int64_t y0 = ys[a], x0 = xs[b];
            for (int64_t c = 0; c < L; c++) // (L, th, tw) ← z[:, y0:y0+th, x0:x0+tw]
                for (int64_t y = 0; y < th; y++)
                    memcpy(zt + (c * th + y) * tw, z + (c * h + y0 + y) * w + x0, (size_t)tw * sizeof(float));
            vae_decode(vae, it, zt);
            for (int64_t y = 0; y < TH; y++) wy[y] = ramp_weight(y, TH, oy * f, a > 0, a < ny - 1);
            for (int64_t x = 0; x < TW; x++) wx[x] = ramp_weight(x, TW, ox * f, b > 0, b < nx - 1);
            for (int64_t y = 0; y < TH; y++) {
                float *ws = wsum + (y0 * f + y) * W + x0 * f;
                for (int64_t x = 0; x < TW; x++) ws[x] += wy[y] * wx[x];
                for (int64_t c = 0; c < C; c++) {
                    float *dst = image + (c * H + y0 * f + y) * W + x0 * f;
                    const float *src = it + (c * TH + y) * TW;
                    for (int64_t x = 0; x < TW; x++) dst[x] += wy[y] * wx[x] * src[x];
                }
            }
        }
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < H * W; i++) image[c * H * W + i] /= wsum[i];
    mem_free(zt), mem_free(it), mem_free(wsum), mem_free(wy), mem_free(wx);
    log_debug("VAE: decoded %lldx%lld px in %lld x %lld tiles of %lldx%lld px", (long long)W, (long long)H, (long long)nx,
              (long long)ny, (long long)TW, (long long)TH);
    return SDL_OK;
}

SdlStatus vae_decode_images(Vae *vae, float *image, const float *z, int64_t B, int64_t h, int64_t w,
                            const VaeTiling *t, int *tiled) {
    VaeTiling d = {VAE_TILING_AUTO, 0, 0, 0};
    if (!t) t = &d;
    const int64_t f = vae_downsample_factor(&vae->cfg), L = vae->cfg.latent_channels, C = vae->cfg.out_channels;
    int64_t tile = t->tile > 0 ? t->tile : 64, overlap = t->overlap > 0 ? t->overlap : tile / 4;
    int use = 0;
    if (t->mode == VAE_TILING_ON) use = h > tile || w > tile;
    else if (t->mode == VAE_TILING_AUTO && (h > tile || w > tile)) {
        size_t budget = t->budget_bytes ? t->budget_bytes : vae_tiling_default_budget();
        size_t need = vae_decode_bytes_estimate(vae, h * f, w * f);
        use = need > budget;
        if (use) {
            char a[32], b[32];
            log_info("VAE: decoding %lldx%lld px in tiles (a whole decode would plan %s, over the %s budget)",
                     (long long)(w * f), (long long)(h * f), mem_format_bytes(a, sizeof a, need), mem_format_bytes(b, sizeof b, budget));
        }
    }
    if (tiled) *tiled = use;
    if (!use) SDL_TRY(vae_plan(vae, 1, h * f, w * f, VAE_DECODE));
    for (int64_t i = 0; i < B; i++) {
        const float *zi = z + i * L * h * w;
        float *im = image + i * C * h * f * w * f;
        if (use) SDL_TRY(vae_decode_tiled(vae, im, zi, h, w, tile, overlap));
        else vae_decode(vae, im, zi);
    }
    return SDL_OK;
}
