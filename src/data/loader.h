// loader.h — turns the bucketed dataset into training batches, in kohya's order and with its
// per-sample randomness, on a background thread that stays `prefetch` batches ahead of the
// trainer: decode, resize (area when shrinking, Lanczos when enlarging), crop (center or
// random), flip_aug, color_aug, caption processing, tokenization (75/150/225 tokens, weighted
// captions). With latent caching (memory or disk, see latent_cache.h) the batch carries the
// cached latents instead of pixels and images are not decoded at all.
//
// Order: epochs are 1-based as kohya's current_epoch. Each epoch the datasets' buckets are
// shuffled (bucket_shuffle_epoch: dataset seed + epoch) and the concatenated batch list is permuted by
// the trainer's seed (kohya's DataLoader shuffle=True); per-sample draws (flip, crop offsets,
// color aug, captions) come from one Python-compatible generator in batch order. Everything
// is a function of (seed, epoch, batch index), so loader_seek can restart a resumed run at
// any batch and get exactly the batches an uninterrupted run would have seen.
//
// In detail (kohya's train_util.py BaseDataset / DatasetGroup with a DataLoader):
//   dataset seed   kohya's random.randint(0, 2**31) right after random.seed(--seed)
//   bucket order   bucket_shuffle_epoch(e) for e = 0 (make_buckets) .. epoch, cumulative
//   batch order    the datasets' batch lists concatenated, then torch.randperm(n) drawn from a
//                  torch-compatible generator seeded from (seed, epoch) — kohya's DataLoader
//                  seeds its sampler from torch's global generator, which no file can replay
//   sample draws   Python's random seeded (dataset seed + epoch) and advanced past the
//                  bucket shuffle, as kohya's global `random` is after shuffle_buckets; then
//                  per sample: flip, crop offsets (random_crop), color_aug, caption
//   token warm-up  step = batches before this one / gradient_accumulation_steps
// Not reproduced: kohya's collate-time epoch switch (its first batch of an epoch still uses
// the previous epoch's arrangement) and its DataLoader worker processes, which reseed
// `random` per worker; so sdlora's order is kohya's with num_workers=0, minus that quirk.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "data/latent_cache.h"

typedef struct {
    int64_t B;                // images in this batch
    int64_t width, height;    // bucket size in pixels
    float *pixels;            // (B, 3, height, width) in [-1, 1]; NULL when latents are cached
    float *latents;           // (B, C, height/f, width/f) unscaled (C = 4, f = 8 for SD), or NULL when not cached
    int32_t *input_ids;       // (B, n_chunks, 77)
    float *token_weights;     // (B, n_chunks, 77) with weighted captions, else NULL
    float *loss_weights;      // (B): 1, or prior_loss_weight for regularization images
    char **captions;          // B processed captions (for logs and tests)
    size_t *images;           // B global image ids (see loader_image_path)
    bool *flipped;            // B: what was drawn for each sample (logs, tests)
    int64_t *crop_x, *crop_y; // B: crop offsets in the resized image
    ColorAug *color_aug;      // B
    int64_t epoch;            // 1-based
    int64_t index;            // batch index within the epoch
} LoaderBatch;

typedef struct {
    int64_t seed;             // --seed
    int64_t max_token_length; // 0 or 75 (one window), 150, 225
    bool weighted_captions;
    bool pad_with_zero;       // tokenizer pads with id 0 (SD2, SDXL's second encoder); else EOS (SD1)
    int64_t max_train_steps;  // for token warm-up
    int64_t gradient_accumulation_steps; // for token warm-up's step (0 = 1)
    bool cache_latents, cache_latents_to_disk, skip_cache_check;
    const char *cache_dir;    // disk cache folder; NULL = next to each image
    int64_t vae_batch_size;   // latents are encoded in batches of this many same-bucket images
    const char *vae_id;       // identifies the VAE in cache keys (e.g. its sha256 or file hash)
    LatentEncodeFn encode;    // required when caching
    void *encode_ctx;
    int64_t latent_channels, latent_downscale; // the VAE's C and f (0: 4 and 8, every SD VAE)
    int threads;              // image decode threads while caching (0 = 2)
    int prefetch;             // batches prepared ahead (0 = 2)
    bool quiet;               // no progress bar while caching
} LoaderOptions;

typedef struct Loader Loader;

// Builds the loader over d (not copied, not modified: d must outlive it). With caching, all
// latents are computed (or read from valid cache files) here, with a progress bar, before
// returning. Fails on options kohya also refuses (caching with color_aug or random_crop).
SdlStatus loader_create(Loader **out, TrainData *d, const LoaderOptions *opt);
void loader_free(Loader *l);
int64_t loader_batches_per_epoch(const Loader *l);
// Positions the loader at batch `index` (0-based) of `epoch` (1-based) and starts the worker
// thread; the random draws of the batches before it are replayed without decoding anything.
// index == batches per epoch means the start of epoch + 1 (a state saved after an epoch's
// last batch). Without a seek, the first loader_next starts at epoch 1, batch 0.
SdlStatus loader_seek(Loader *l, int64_t epoch, int64_t index);
// The next batch in order (blocks until ready). The batch stays valid until the next call.
// The loader moves from the last batch of an epoch to batch 0 of the next epoch by itself.
// *waited_s (may be NULL) receives the seconds this call blocked (for the <2% target).
// A failure in the worker (an image deleted mid-run, a damaged cache file) is returned here
// with the file named; the loader then stays failed until the next loader_seek.
SdlStatus loader_next(Loader *l, const LoaderBatch **out, double *waited_s);
const char *loader_image_path(const Loader *l, size_t image);
