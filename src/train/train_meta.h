// train_meta.h — the metadata kohya's train_network.py writes into a LoRA file (kohya-spec.md
// §2.1, §2.2), so that tools reading kohya LoRAs (A1111's additional networks, civitai,
// kohya's own utilities) see the same keys and the same text.
//
// Every value is Python's str() of what kohya holds: None / True / False, floats in repr()
// ("0.0001", "1e-05", "2e-06", "16.0"), ints as ints — and which one depends on where the
// value came from (the argparse default of --network_alpha is the int 1 → "1"; the command
// line gives floats → "16.0"; a TOML integer stays an int → "16"); train_args_given() and
// train_args_given_int() carry that. JSON values (ss_dataset_dirs, ss_tag_frequency,
// ss_bucket_info, ss_datasets, ss_network_args) are json.dumps output: ", " and ": "
// separators, keys in insertion order, non-ASCII as \uXXXX.
//
// Use (one run):
//     TrainMeta m;
//     train_meta_build(&m, &input);            // after the dataset, optimizer and steps are known
//     ... at every save:
//     train_meta_for_save(&m, wall_time_now(), global_step, epoch, &keys, &values, &n);
//     lora_save(net, path, dtype, keys, values, n, NULL);
//     train_meta_free(&m);
// --no_metadata keeps only kohya's minimum keys (ss_v2, ss_base_model_version,
// ss_network_module, ss_network_dim, ss_network_alpha, ss_network_args) plus modelspec.*;
// lora_save adds the sshs_* hashes in both cases.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "data/dataset.h"
#include "data/dataset_config.h"
#include "train/train_args.h"

// Python's repr() of a float: the shortest decimal that reads back to x, fixed notation for
// exponents -4 ≤ e < 16, else d.ddde±XX; "inf", "-inf", "nan", "-0.0". buf: 32 bytes.
const char *py_float_repr(char *buf, size_t cap, double x);

// ---- tag frequencies (kohya BaseDataset.set_tag_frequency): per folder name, every caption
// split on ',' (always a comma), each tag stripped (Python whitespace), skipped when empty,
// lower-cased, counted; folders and tags in first-seen order.
typedef struct {
    char *tag;
    int64_t count;
} TagCount;

typedef struct {
    char *dir;
    TagCount *tags;
    size_t n, cap;
    size_t *slots;            // hash index into tags (slot = index + 1; 0 = empty)
    size_t n_slots;
} TagFreqDir;

typedef struct {
    TagFreqDir *dirs;
    size_t n, cap;
} TagFreq;

void tag_freq_init(TagFreq *tf);
// Counts the tags of one caption under dir_name (created on first use, also when caption is
// NULL: kohya lists a folder even without tags).
SdlStatus tag_freq_add(TagFreq *tf, const char *dir_name, const char *caption);
const TagFreqDir *tag_freq_find(const TagFreq *tf, const char *dir_name);
int64_t tag_freq_count(const TagFreqDir *d, const char *tag); // 0 when absent
void tag_freq_free(TagFreq *tf);

// ---- what the run knows about its data (kohya's dataset objects after make_buckets)
typedef struct {
    int64_t index;            // kohya's bucket number: its place in the predefined bucket list
                              // (or among the used buckets with bucket_no_upscale)
    int64_t width, height;
    int64_t count;            // images in the bucket, repeats included
} TrainMetaBucket;

typedef struct {
    const SubsetConfig *cfg;  // the resolved subset (dirs, flags, separators, class tokens, num_repeats)
    int64_t img_count;        // images found in it
} TrainMetaSubset;

typedef struct {
    const DatasetConfig *cfg; // the resolved dataset (batch size, resolution, bucket limits after
                              // rounding to bucket_reso_steps, resize_interpolation)
    int64_t num_train_images, num_reg_images; // repeats included; reg before balancing
    TrainMetaSubset *subsets; // the subsets kohya kept (ignored ones — duplicates, empty — left out)
    size_t n_subsets;
    TrainMetaBucket *buckets; // used buckets in kohya's order (only read with cfg->enable_bucket)
    size_t n_buckets;
    double mean_img_ar_error; // mean |bucket ar − image ar| over images (no repeats)
    TagFreq tag_frequency;
} TrainMetaDataset;

// Fills one TrainMetaDataset per part of the resolved, scanned and bucketed data: the subsets
// kohya keeps with their image counts, the used buckets with kohya's numbering, and the tag
// frequencies of the captions (per subset folder name; images the regularization balancing
// left unused are not in the scan, so their tags are not counted). Free with
// train_meta_datasets_free.
SdlStatus train_meta_datasets_from_data(const TrainData *td, TrainMetaDataset **out, size_t *n);
void train_meta_datasets_free(TrainMetaDataset *ds, size_t n);

// Everything besides TrainArgs that the metadata records.
typedef struct {
    const TrainArgs *args;    // after train_args_parse (must outlive the TrainMeta)
    const TrainMetaDataset *datasets;
    size_t n_datasets;        // folder / --in_json mode: exactly 1
    int64_t num_train_images, num_reg_images, num_validation_images; // Σ over datasets
    int64_t num_batches_per_epoch;  // kohya's len(train_dataloader)
    int64_t num_epochs;
    int64_t max_train_steps;  // after --max_train_epochs (kohya rewrites args.max_train_steps)
    int64_t num_processes;    // 0 or 1: one process
    int64_t seed;             // the seed in use (drawn when --seed was not given)
    const char *optimizer;    // ss_optimizer, e.g. optim_config_describe(): "torch.optim.adamw.AdamW"
    bool adafactor_relative_step; // kohya then records learning_rate None, unet_lr None and the
                              // scheduler "adafactor:<learning_rate>"
    uint64_t session_id;      // random, drawn before seeding (kohya: random.randint(0, 2**32))
    double training_started_at; // seconds since the epoch (time.time())
    const char *sdlora_version; // modelspec.implementation_version "sdlora/<version>" (NULL: unknown)
} TrainMetaInput;

typedef struct {
    char **keys, **values;
    int64_t n, cap;
} MetaList;

typedef struct {
    const TrainArgs *args;    // borrowed from the input
    MetaList run;             // the ss_* keys (train_meta_build)
    MetaList save;            // the last train_meta_for_save result
    char *thumbnail;          // modelspec.thumbnail as a data: URL, or NULL
    char *version;            // copy of sdlora_version
} TrainMeta;

// Builds the ss_* keys, hashing the base model (and --vae) file as kohya does:
// ss_sd_model_hash = first 8 hex of sha256 of bytes [0x100000, 0x110000), ss_new_sd_model_hash
// = sha256 of the whole file, ss_sd_model_name = its base name. Reads --metadata_thumbnail.
SdlStatus train_meta_build(TrainMeta *m, const TrainMetaInput *in);
// The keys of one save at wall-clock time `now`: the run's keys + ss_training_finished_at,
// ss_steps, ss_epoch (kohya: epoch-end saves epoch+1, step saves the 0-based epoch, the final
// save the number of epochs) + modelspec.* (date and default title from `now`). The arrays
// stay valid until the next call or train_meta_free.
SdlStatus train_meta_for_save(TrainMeta *m, double now, int64_t steps, int64_t epoch, const char *const **keys,
                              const char *const **values, int64_t *n);
// A key of the run or of the last save, or NULL (tests, logs).
const char *train_meta_get(const TrainMeta *m, const char *key);
void train_meta_free(TrainMeta *m);

// kohya's modelspec.* keys alone for timestamp `now` (appended to out).
SdlStatus train_meta_modelspec(MetaList *out, const TrainArgs *a, double now, const char *thumbnail, const char *version);
void meta_list_free(MetaList *l);

// sha256 hex of a file and kohya's legacy model hash (8 hex of bytes [0x100000, 0x110000)).
SdlStatus train_meta_file_hashes(const char *path, char legacy8[9], char full[65]);
