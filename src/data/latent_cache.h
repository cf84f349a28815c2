// latent_cache.h — --cache_latents / --cache_latents_to_disk: every training image is encoded
// by the VAE once, before training, and the loader then hands out the stored latents instead
// of decoding and encoding the image at every step.
//
// Like kohya: latents are *unscaled* (the trainer multiplies by the VAE's scaling factor);
// with flip_aug the horizontally flipped image is encoded too and the loader picks one of the
// two per sample; images are encoded in batches of vae_batch_size with the same bucket (sorted
// by bucket area); random_crop and color_aug cannot be combined with caching (the crop and
// colours would be frozen into the cache). A NaN in a latent is an error naming the image.
//
// Memory (--cache_latents): latents kept in RAM as float32, nothing written.
// Disk (--cache_latents_to_disk): one file per image and bucket, next to the image
//   (`<image file>.<W>x<H>.sdlatent`, W×H the bucket) or, with cache_dir, in that folder as
//   `<image stem>-<16 hex digits of sha256(absolute image path)>.<W>x<H>.sdlatent`; read back
//   by the loader at every use (RAM stays flat as in kohya). A file is reused only if its key
//   matches: sha256 of the image file's bytes, the VAE id, original size, bucket, resized
//   size, crop offsets, flip flag and the preprocessing version — so an edited image, another
//   VAE or new bucket settings rebuild it (stale). A file that is truncated, has a bad magic
//   or a CRC mismatch is rebuilt with a warning naming it (corrupt). Writes are atomic
//   (base/atomic_file.h). If the folder is not writable the latents stay in RAM (warning).
//   skip_check (--skip_cache_check) trusts any file whose header and size fit, without
//   hashing the image or checking the CRC.
//
// File format, version 1, little-endian (sdlora's own; see docs/dataset.md):
//   0   char[8]  "SDLLATNT"             8   u32 version (1)      12  u32 header bytes (176)
//   16  u8[32]   sha256 of the image file     48  u8[32] sha256 of the VAE id string
//   80  i64[8]   original w, h; bucket w, h; resized w, h; crop x, y
//   144 u32 channels (4)  148 u32 latent h  152 u32 latent w  156 u32 flags (bit 0: flipped)
//   160 u32 preprocessing version  164 u32 dtype (0 = float32)  168 u8[8] reserved (0)
//   176 float32 latents (channels, h, w); then the flipped latents when flags bit 0
//   end u32 CRC-32 (zlib) of every byte before it
// Why float32: the VAE's output exactly (resume and cache/no-cache runs stay bit-identical),
// and what kohya's .npz holds; 64 KiB per 512 px image.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "data/buckets.h"

// Encodes pixels (B, 3, H, W) in [-1, 1] into *unscaled* latents (B, C, H/f, W/f) — C = 4 and
// f = 8 for every SD VAE (test models may differ: see the options) — the mean or a sample, as
// the caller decides (kohya caches latent_dist.sample()).
typedef SdlStatus (*LatentEncodeFn)(void *ctx, float *latents, const float *pixels, int64_t B, int64_t H, int64_t W);

#define LATENT_CACHE_VERSION 1
// Bump when dataset_image_decode (decode, resize, crop) changes what pixels an image gives.
#define LATENT_PREPROCESS_VERSION 1
#define LATENT_CHANNELS 4      // the default C
#define LATENT_DOWNSCALE 8     // the default f

typedef struct {
    const char *path;        // the image (borrowed)
    int64_t width, height;   // original, EXIF-oriented size
    Reso bucket, resized;    // from bucketing; the crop is the center crop
    bool flip;               // also cache the flipped image (its subset has flip_aug)
} LatentCacheItem;

typedef struct {
    bool to_disk;
    const char *cache_dir;   // NULL: next to each image
    bool skip_check;
    const char *vae_id;      // anything that identifies the VAE weights (NULL = "")
    int64_t vae_batch_size;  // <= 0: 1
    LatentEncodeFn encode;
    void *encode_ctx;
    int64_t channels;        // latent channels C (0: LATENT_CHANNELS)
    int64_t downscale;       // pixels per latent f (0: LATENT_DOWNSCALE); buckets must be multiples
    int threads;             // decode and hash threads (<= 0: 1)
    bool quiet;              // no progress bar or summary
} LatentCacheOptions;

typedef struct {
    size_t hit;              // valid files reused
    size_t built;            // encoded now (new, stale or corrupt)
    size_t stale, corrupt;   // of the built ones: files that existed but did not match / were broken
    size_t in_memory;        // disk mode only: files that could not be written, kept in RAM
} LatentCacheStats;

typedef struct LatentCache LatentCache;

// Encodes (or finds valid files for) all n items; items[i] must stay valid (paths are kept).
SdlStatus latent_cache_build(LatentCache **out, const LatentCacheItem *items, size_t n, const LatentCacheOptions *o);
// Item i's latents (C, bucket.h / f, bucket.w / f), the flipped ones if
// `flipped`, into out. Disk mode reads and verifies the file (an error names it). Safe to
// call from one thread while no other thread uses the cache.
SdlStatus latent_cache_get(LatentCache *c, size_t i, bool flipped, float *out);
LatentCacheStats latent_cache_stats(const LatentCache *c);
void latent_cache_free(LatentCache *c);

// Where the cache file of an image in a bucket lives (see above).
SdlStatus latent_cache_file_path(char *buf, size_t cap, const char *image_path, Reso bucket, const char *cache_dir);
