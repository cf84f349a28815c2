// dataset.h — the training dataset, resolved and checked before any model is loaded: kohya's
// datasets (TOML or folders) scanned, every image decoded once (validate.h), bad images either
// fatal (listed together) or left out with --skip_bad_images *before* regularization balancing,
// and every image assigned its bucket. Shared by `sdlora dataset check` and `sdlora train`.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "data/buckets.h"
#include "data/dataset_config.h"
#include "data/scan.h"
#include "data/validate.h"
#include "io/image.h"

typedef struct {
    DatasetConfig *cfg;       // points into TrainData.setup
    DatasetScan scan;         // after balancing without the bad images
    BucketSpec spec;
    BucketSet set;            // set.items index into scan.images; set.seed is 0 (the loader seeds its copy)
    BucketImage *bimg;        // per scan image: size, bucket, resized size
} TrainDataPart;

typedef struct {
    DatasetSetup setup;
    TrainDataPart *parts;     // one per dataset
    size_t n_parts;
    BadImageList bad;         // every bad image (paths as scanned), in scan order
    int64_t total_batches;    // Σ batches per epoch over the datasets (kohya's len(dataloader))
    int64_t num_train_images, num_reg_images; // Σ over datasets (ss_num_train_images, ss_num_reg_images)
} TrainData;

// Resolves, scans, validates (on `threads` threads; progress and one warning per skipped
// image on stderr unless quiet) and buckets.
//   SDL_OK          no bad images, or skip_bad: the bad ones are left out (before balancing).
//   SDL_ERR_FORMAT  bad images and !skip_bad: the message lists them (as many as fit) with a
//                   hint. *out is still complete — built as if skip_bad — so `dataset check`
//                   can print the whole report; the caller must train_data_free it.
//   other errors    (config, I/O, no resolution, OOM): *out is left zeroed.
SdlStatus train_data_build(TrainData *out, const DatasetArgs *a, int threads, bool skip_bad, bool quiet);
void train_data_free(TrainData *d);

// One image as training sees it before augmentation: decoded (EXIF-oriented, alpha on white),
// resized to `resized` (area when shrinking, Lanczos when enlarging; a big JPEG is decoded at
// a reduced DCT scale no smaller than `resized` first) and cropped to the bucket at (x, y).
// out: bucket.w × bucket.h RGB. Errors name the file.
SdlStatus dataset_image_load(Image *out, const char *path, Reso resized, Reso bucket, int64_t x, int64_t y);
// The same from the file's bytes already in memory (`path` names it in errors).
SdlStatus dataset_image_decode(Image *out, const uint8_t *data, size_t size, const char *path, Reso resized, Reso bucket,
                               int64_t x, int64_t y);
