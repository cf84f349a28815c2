// loader.h — turns the bucketed dataset into training batches, in kohya's order and with its
// per-sample randomness, on a background thread that stays `prefetch` batches ahead of the
// trainer: decode, resize (area when shrinking, Lanczos when enlarging), crop (center or
// random), flip_aug, color_aug, caption processing, tokenization (75/150/225 tokens, weighted
// captions). With latent caching (memory or disk, see latent_cache.h) the batch carries the
// cached latents instead of pixels and images are not decoded at all.
//
// Order: epochs are 1-based as kohya's current_epoch. Each epoch the datasets' buckets are
// shuffled (bucket_shuffle_epoch(seed + epoch)) and the concatenated batch list is permuted by
// the trainer's seed (kohya's DataLoader shuffle=True); per-sample draws (flip, crop offsets,
// color aug, captions) come from one Python-compatible generator in batch order. Everything
// is a function of (seed, epoch, batch index), so loader_seek can restart a resumed run at
// any batch and get exactly the batches an uninterrupted run would have seen.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "data/dataset.h"

typedef struct {
    int64_t B;                // images in this batch
    int64_t width, height;    // bucket size in pixels
    float *pixels;            // (B, 3, height, width) in [-1, 1]; NULL when latents are cached
    float *latents;           // (B, 4, height/8, width/8) unscaled, or NULL when not cached
    int32_t *input_ids;       // (B, n_chunks, 77)
    float *token_weights;     // (B, n_chunks, 77) with weighted captions, else NULL
    float *loss_weights;      // (B): 1, or prior_loss_weight for regularization images
    char **captions;          // B processed captions (for logs and tests)
    size_t *images;           // B global image ids (see loader_image_path)
    int64_t epoch;            // 1-based
    int64_t index;            // batch index within the epoch
} LoaderBatch;

// Encodes pixels (B, 3, H, W) in [-1, 1] into *unscaled* latents (B, 4, H/8, W/8) — the mean
// or a sample, as the caller decides (kohya caches latent_dist.sample()).
typedef SdlStatus (*LatentEncodeFn)(void *ctx, float *latents, const float *pixels, int64_t B, int64_t H, int64_t W);

typedef struct {
    int64_t seed;             // --seed
    int64_t max_token_length; // 0 (75), 150, 225
    bool weighted_captions;
    int64_t max_train_steps;  // for token warm-up
    bool cache_latents, cache_latents_to_disk, skip_cache_check;
    int64_t vae_batch_size;   // latents are encoded in batches of this many same-bucket images
    const char *vae_id;       // identifies the VAE in cache keys (e.g. its sha256 or file hash)
    LatentEncodeFn encode;    // required when caching
    void *encode_ctx;
    int prefetch;             // batches prepared ahead (default 2)
    bool quiet;               // no progress bar while caching
} LoaderOptions;

typedef struct Loader Loader;

// Builds the loader over d (not copied: d must outlive it). With caching, all latents are
// computed (or read from valid cache files) here, with a progress bar, before returning.
SdlStatus loader_create(Loader **out, TrainData *d, const LoaderOptions *opt);
void loader_free(Loader *l);
int64_t loader_batches_per_epoch(const Loader *l);
// Positions the loader at batch `index` of `epoch` (1-based) and starts the worker thread.
SdlStatus loader_seek(Loader *l, int64_t epoch, int64_t index);
// The next batch in order (blocks until ready). The batch stays valid until the next call.
// The loader moves from the last batch of an epoch to batch 0 of the next epoch by itself.
// *waited_s (may be NULL) receives the seconds this call blocked (for the <2% target).
SdlStatus loader_next(Loader *l, const LoaderBatch **out, double *waited_s);
const char *loader_image_path(const Loader *l, size_t image);
