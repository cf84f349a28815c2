// scan.h — what a resolved dataset holds on disk: the image list of each subset (kohya's
// glob_images: .png .jpg .jpeg .webp .bmp, not recursive, sorted), each image's caption
// (kohya's caption file candidates, first line stripped; fallbacks with warnings), fine-tuning
// metadata JSON, and kohya's regularization balancing (reg images registered round-robin until
// they match the train images per epoch; surplus reg images unused; loss weight =
// prior_loss_weight).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "data/dataset_config.h"

typedef enum {
    CAPTION_FILE,          // read from the caption file (or metadata JSON)
    CAPTION_MISSING,       // no caption file: class tokens (or "")
    CAPTION_EMPTY,         // empty caption file: class tokens (kohya asserts; we warn)
    CAPTION_BAD_UTF8,      // caption file not UTF-8: class tokens (kohya raises; we warn)
} CaptionSource;

typedef struct {
    char *path;
    char *caption;            // raw caption, before per-epoch processing
    CaptionSource caption_source;
    size_t subset;            // index into the dataset's subsets
    int64_t num_repeats;      // after regularization balancing
    bool is_reg;
    float loss_weight;        // 1, or prior_loss_weight for reg images
} ScanImage;

typedef struct {
    size_t img_count;         // images found (kohya's subset.img_count), bad ones included
    size_t n_excluded;        // of those, left out by dataset_scan_balance (bad images)
    size_t captions_found, captions_fallback;
    bool ignored;             // duplicate, no images, or repeats < 1
    const char *ignored_reason;
} ScanSubsetStats;

typedef struct {
    ScanImage *images;        // registered images: train subsets in order, then reg images
    size_t n_images;
    ScanSubsetStats *subsets; // one per DatasetConfig subset
    size_t n_subsets;
    int64_t num_train_images; // Σ repeats · count over train subsets (excluded images not counted)
    int64_t num_reg_images;   // the same for reg subsets, before balancing (ss_num_reg_images)
    size_t n_unused_reg;      // reg images never registered by the balancing
    bool balanced;            // false between dataset_scan_collect and dataset_scan_balance
} DatasetScan;

// dataset_scan_collect + dataset_scan_balance without exclusions.
SdlStatus dataset_scan(DatasetScan *out, const DatasetConfig *ds, double prior_loss_weight);
// The scan in two steps, so that images can be validated before the regularization images
// are balanced (a bad train image must not be counted when matching reg samples to train
// samples). collect: every image of every subset with its caption, reg images included in
// full (after the train images, each with its folder repeats); nothing counted or balanced.
SdlStatus dataset_scan_collect(DatasetScan *out, const DatasetConfig *ds);
// Drops the images with exclude[i] (i indexes the collected list; exclude may be NULL), then
// counts and balances as kohya. origin (may be NULL; room for the collected count) receives,
// for each final image, its index in the collected list.
SdlStatus dataset_scan_balance(DatasetScan *s, const bool *exclude, double prior_loss_weight, size_t *origin);
void dataset_scan_free(DatasetScan *s);

// Lists the images of one folder (sorted full paths); *out is NULL when there are none.
SdlStatus scan_list_images(const char *dir, char ***out, size_t *n);
// True for .png .jpg .jpeg .webp .bmp in any letter case.
bool scan_is_image_name(const char *name);
// kohya's read_caption for one image; *caption NULL when no candidate file exists.
CaptionSource scan_read_caption(const char *image_path, const char *caption_extension, bool enable_wildcard,
                                char **caption, char *used_path, size_t used_cap);
