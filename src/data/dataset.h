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

typedef struct {
    DatasetConfig *cfg;       // points into TrainData.setup
    DatasetScan scan;         // after balancing without the bad images
    BucketSpec spec;
    BucketSet set;            // set.items index into scan.images
    BucketImage *bimg;        // per scan image: size, bucket, resized size
} TrainDataPart;

typedef struct {
    DatasetSetup setup;
    TrainDataPart *parts;     // one per dataset
    size_t n_parts;
    BadImageList bad;         // every bad image (paths as scanned)
    int64_t total_batches;    // Σ batches per epoch over the datasets (kohya's len(dataloader))
    int64_t num_train_images, num_reg_images; // Σ over datasets (ss_num_train_images, ss_num_reg_images)
} TrainData;

// Resolves, scans, validates (on `threads` threads; progress on stderr unless quiet) and
// buckets. Bad images and !skip_bad → SDL_ERR_FORMAT whose message lists them all (still in
// out->bad for the caller to print); with skip_bad they are removed before balancing.
SdlStatus train_data_build(TrainData *out, const DatasetArgs *a, int threads, bool skip_bad, bool quiet);
void train_data_free(TrainData *d);
