// vae_tiled.h — VAE decoding of large images in overlapping tiles with blended seams, so a
// 2048x2048 image decodes in the memory of a 512x512 one (the full SD decode plan grows with
// the pixel count: ~690 MiB at 512², ~2.7 GiB at 1024², ~11 GiB at 2048²).
//
//   latents z (1, L, h, w) are cut into tiles of T x T latents (T = min(tile, side)) that
//   overlap by O latents; tile positions along an axis are 0, T−O, 2(T−O), … with the last one
//   moved back to end at the border, so every tile has the same size and one VAE plan serves
//   all. Each tile is decoded alone to (1, C, T·f, T·f); the image is the weighted average of
//   the tiles covering each pixel, with weights that ramp linearly from ~0 to 1 over the O·f
//   pixels a tile shares with its neighbour (not at the image border), in x and in y.
//
// Tiled is not bit-identical to a whole decode: the decoder's GroupNorms see per-tile
// statistics and the convolutions see zero padding at tile edges. The ramps hide the edges;
// the statistics differ little when tiles are large (the default: 64 latents = 512 px with
// SD's VAE, overlap 16). tests/test_generate.c measures tiled against whole on the tiny VAE.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "models/vae.h"

typedef enum {
    VAE_TILING_AUTO = 0,  // tile only when the whole decode's plan would exceed budget_bytes
    VAE_TILING_ON,        // always tile (images larger than one tile)
    VAE_TILING_OFF,       // never tile
} VaeTilingMode;

typedef struct {
    VaeTilingMode mode;
    int64_t tile;         // tile side in latents; 0 = 64
    int64_t overlap;      // latents shared by neighbouring tiles; 0 = tile / 4
    size_t budget_bytes;  // AUTO: the most a whole decode may plan; 0 = vae_tiling_default_budget()
} VaeTiling;

// Half of the memory the system reports available (MemAvailable), at least 1 GiB; 4 GiB when
// unknown.
size_t vae_tiling_default_budget(void);

// Bytes vae_plan would hold to decode one image of H x W pixels. Estimated from the plans of
// two small sizes (every buffer of the decode plan grows linearly with the pixel count), so
// nothing of the full size is allocated. Replaces the VAE's plan.
size_t vae_decode_bytes_estimate(Vae *vae, int64_t H, int64_t W);

// image (1, C, h·f, w·f) from z (1, L, h, w), in tiles of `tile` latents overlapping by
// `overlap` (0 < overlap < tile; both clipped to the latent size). Plans the VAE itself.
SdlStatus vae_decode_tiled(Vae *vae, float *image, const float *z, int64_t h, int64_t w, int64_t tile,
                           int64_t overlap);

// image (B, C, h·f, w·f) from z (B, L, h, w) (UNSCALED latents, as vae_decode), one image at a
// time, tiled as `t` says (NULL = AUTO with the defaults). *tiled (may be NULL) is set to 1
// when tiles were used. Plans the VAE itself.
SdlStatus vae_decode_images(Vae *vae, float *image, const float *z, int64_t B, int64_t h, int64_t w,
                            const VaeTiling *t, int *tiled);
