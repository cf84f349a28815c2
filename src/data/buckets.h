// buckets.h — kohya's aspect-ratio bucketing (library/train_util.py:BucketManager and
// model_util.make_bucket_resolutions), reproduced exactly: the predefined bucket list, the
// per-image bucket choice (nearest aspect ratio, or the image's own size floored to the step
// with bucket_no_upscale), the resize-then-crop geometry, and the per-epoch batch order
// (make_buckets / shuffle_buckets with Python's random reseeded to seed + epoch).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "data/pyrandom.h"

typedef struct { int64_t w, h; } Reso;

// make_bucket_resolutions(max_reso=(max_w,max_h), min_size, max_size, divisible): the sorted,
// de-duplicated list. Returns the count; writes at most `cap` entries to out (out may be NULL
// to count). The list never exceeds 2 * ((max_size - min_size) / steps + 1) + 1 entries.
size_t bucket_make_resolutions(Reso *out, size_t cap, int64_t max_w, int64_t max_h, int64_t min_size,
                               int64_t max_size, int64_t steps);

typedef struct {
    bool no_upscale;
    int64_t max_w, max_h;  // resolution (the "max_reso"); max_area = max_w * max_h
    int64_t steps;         // bucket_reso_steps
    Reso *predefined;      // sorted; enable_bucket: make_bucket_resolutions; off: {(max_w,max_h)}
    size_t n_predefined;
} BucketSpec;

// Builds the predefined list. enable_bucket = false → the single bucket (max_w, max_h), as
// kohya does; no_upscale → no list (each image's bucket comes from its own size).
SdlStatus bucket_spec_init(BucketSpec *s, bool enable_bucket, bool no_upscale, int64_t max_w, int64_t max_h,
                           int64_t min_size, int64_t max_size, int64_t steps);
void bucket_spec_free(BucketSpec *s);

// BucketManager.select_bucket for an image of w x h: its bucket, the size it is resized to
// before cropping (covers the bucket), and ar_error = bucket_ar - image_ar.
void bucket_select(const BucketSpec *s, int64_t w, int64_t h, Reso *bucket, Reso *resized, double *ar_error);

// BucketManager.get_crop_ltrb: where the image would lie if fitted *inside* the bucket (what
// SDXL gets as crop_top_left; not the real crop), in float arithmetic as kohya.
void bucket_crop_ltrb(Reso bucket, int64_t img_w, int64_t img_h, double ltrb[4]);

// The real crop after resizing to `resized` (trim_and_resize_if_required): excess width then
// height; offset excess // 2, or random.randint(0, excess) from `rnd` when random_crop.
void bucket_crop_offset(Reso bucket, Reso resized, bool random_crop, PyRandom *rnd, int64_t *x, int64_t *y);

// One dataset's buckets after assignment: kohya's make_buckets + shuffle_buckets.
typedef struct {
    int64_t bucket, batch_size, batch_index; // BucketBatchIndex
} BucketBatch;

typedef struct {
    Reso *resos;        // used buckets only, sorted by (w, h)
    size_t n_buckets;
    size_t **items;     // items[b]: image indices, each repeated num_repeats times
    size_t *n_items;
    BucketBatch *batches; // ceil(n_items[b] / batch_size) per bucket, bucket order
    size_t n_batches;
    int64_t batch_size;
    double mean_ar_error;  // mean |ar_error| over images (without repeats)
    int64_t seed;          // dataset seed; shuffle of epoch e uses random.seed(seed + e)
} BucketSet;

typedef struct {
    int64_t width, height;   // original size
    int64_t num_repeats;
    Reso bucket, resized;    // outputs of bucket_assign
    double ar_error;
} BucketImage;

// Assigns each image (images[i].width/height/num_repeats) a bucket and resized size, fills
// the set (registration order = array order, as kohya's image_data dict) and its batches.
SdlStatus bucket_assign(BucketSet *set, const BucketSpec *spec, BucketImage *images, size_t n, int64_t batch_size);
// shuffle_buckets for `epoch`: random.seed(seed + epoch); shuffle the batch list; shuffle each
// bucket's item list in place (cumulative across epochs, as kohya).
void bucket_shuffle_epoch(BucketSet *set, int64_t epoch);
void bucket_set_free(BucketSet *set);
