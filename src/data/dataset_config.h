// dataset_config.h — the dataset description after resolution, as kohya's BlueprintGenerator
// produces it: datasets[] with their parameters and subsets[] with theirs, every value
// resolved subset → dataset → [general] → command line → default.
//
// Built from either a `--dataset_config` TOML file with kohya's schema ([general],
// [[datasets]], [[datasets.subsets]]; each key only at the levels kohya allows; unknown keys
// and wrong types are errors naming the key, the file and the line), or folder mode
// (`--train_data_dir` / `--reg_data_dir` with `<repeats>_<class tokens>` subfolders), or
// kohya's fine-tuning mode (`--in_json` + `--train_data_dir`). See docs/dataset.md.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

typedef struct {
    char *image_dir;              // DreamBooth: required; fine-tuning: optional
    char *metadata_file;          // fine-tuning subsets only
    char *conditioning_data_dir;  // accepted and carried; sdlora has no ControlNet dataset
    int64_t num_repeats;          // default 1
    bool is_reg;
    char *class_tokens;           // NULL = None
    char *caption_extension;      // default ".caption"; a leading dot is added if missing
    bool shuffle_caption, flip_aug, color_aug, random_crop, enable_wildcard, cache_info, alpha_mask;
    int64_t keep_tokens;
    char *keep_tokens_separator;  // "" = none
    char *caption_separator;      // default ","
    char *secondary_separator;    // NULL = None
    char *caption_prefix, *caption_suffix; // NULL = None
    double caption_dropout_rate;
    int64_t caption_dropout_every_n_epochs;
    double caption_tag_dropout_rate;
    int64_t token_warmup_min;     // default 1
    double token_warmup_step;     // default 0
    bool has_face_crop_aug_range;
    double face_crop_aug_range[2];
    char *resize_interpolation;   // NULL = None (area when shrinking, else Lanczos)
    int line;                     // line of its [[datasets.subsets]] header; 0 in folder mode
} SubsetConfig;

typedef struct {
    bool is_dreambooth;           // false: fine-tuning (every subset has metadata_file)
    int64_t batch_size;           // default 1 (--train_batch_size)
    bool has_resolution;
    int64_t resolution[2];        // (width, height)
    bool enable_bucket;
    int64_t min_bucket_reso, max_bucket_reso, bucket_reso_steps; // 256, 1024, 64
    bool bucket_no_upscale;
    double network_multiplier;    // 1.0
    bool has_validation_seed;
    int64_t validation_seed;
    double validation_split;      // 0.0
    char *resize_interpolation;
    SubsetConfig *subsets;
    size_t n_subsets;
    int line;                     // line of its [[datasets]] header; 0 in folder mode
} DatasetConfig;

typedef struct {
    DatasetConfig *datasets;
    size_t n_datasets;
    char *source;                 // the config file, or NULL in folder mode
} DatasetSetup;

// The command-line side (kohya's argparse namespace): the values used where the file says
// nothing. dataset_args_default fills kohya's argparse defaults.
typedef struct {
    const char *dataset_config;   // --dataset_config FILE (.toml; .json also accepted)
    const char *train_data_dir, *reg_data_dir, *in_json;
    double prior_loss_weight;     // 1.0; argparse only (not settable in the file)
    DatasetConfig ds;             // dataset-level values (subsets unused); strings not owned
    SubsetConfig sub;             // subset-level values; strings not owned
} DatasetArgs;

void dataset_args_default(DatasetArgs *a);
// Parses --resolution "512" or "512,768" (width,height) into a->ds.
SdlStatus dataset_args_set_resolution(DatasetArgs *a, const char *text);

// Builds the resolved setup from a->dataset_config (TOML/JSON) or the folders.
SdlStatus dataset_setup_build(DatasetSetup *out, const DatasetArgs *a);
// The same from TOML text (tests); `path` names it in errors.
SdlStatus dataset_setup_from_toml_text(DatasetSetup *out, const char *text, const char *path, const DatasetArgs *a);
void dataset_setup_free(DatasetSetup *s);

// Folder mode: parses "<repeats>_<class tokens>"; false when the prefix is not an integer.
bool dataset_parse_folder_name(const char *name, int64_t *repeats, const char **class_tokens);
