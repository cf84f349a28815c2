// dataset_cmd.c — `sdlora dataset check`: resolves the dataset exactly as training would
// (kohya's --dataset_config TOML or the <repeats>_<class> folders), decodes every image once
// on two threads, lists every bad image with its reason, and prints kohya's console summary
// (subsets, buckets with counts, mean aspect-ratio error, batches per epoch) — or all of it as
// JSON with each image's bucket and crop. Exit status 1 when bad images exist, unless
// --skip_bad_images (then they are left out, as training would).
#include "cli/cli.h"
#include "cli/options.h"
#include "base/log.h"
#include "data/dataset.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *caption_source_name(CaptionSource s) {
    switch (s) {
    case CAPTION_FILE: return "file";
    case CAPTION_MISSING: return "missing";
    case CAPTION_EMPTY: return "empty";
    default: return "not_utf8";
    }
}

static cJSON *pair(int64_t a, int64_t b) {
    cJSON *arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)a));
    cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)b));
    return arr;
}

static void print_text(const TrainData *td, bool skip_bad) {
    const BadImageList *bad = &td->bad;
    for (size_t d = 0; d < td->n_parts; d++) {
        const TrainDataPart *s = &td->parts[d];
        const DatasetConfig *c = s->cfg;
        printf("[dataset %zu] %s, batch_size %lld, resolution %lldx%lld, buckets %s%s\n", d, c->is_dreambooth ? "DreamBooth" : "fine-tuning",
               (long long)c->batch_size, (long long)c->resolution[0], (long long)c->resolution[1],
               c->enable_bucket ? "on" : "off", c->enable_bucket && c->bucket_no_upscale ? " (no upscale)" : "");
        if (c->enable_bucket && !c->bucket_no_upscale)
            printf("  bucket range %lld..%lld step %lld\n", (long long)c->min_bucket_reso, (long long)c->max_bucket_reso,
                   (long long)c->bucket_reso_steps);
        printf("  %-3s %-40s %7s %7s %9s %9s %4s\n", "#", "image_dir", "images", "repeats", "captions", "fallback", "reg");
        for (size_t i = 0; i < c->n_subsets; i++) {
            const SubsetConfig *sc = &c->subsets[i];
            const ScanSubsetStats *ss = &s->scan.subsets[i];
            printf("  %-3zu %-40s %7zu %7lld %9zu %9zu %4s%s%s\n", i, sc->image_dir ? sc->image_dir : sc->metadata_file,
                   ss->img_count, (long long)sc->num_repeats, ss->captions_found, ss->captions_fallback,
                   sc->is_reg ? "yes" : "no", ss->ignored ? "  ignored: " : "", ss->ignored ? ss->ignored_reason : "");
            if (ss->n_excluded) printf("      %zu of them left out as bad\n", ss->n_excluded);
        }
        printf("  num train images * repeats: %lld\n  num reg images: %lld%s\n", (long long)s->scan.num_train_images,
               (long long)s->scan.num_reg_images, s->scan.n_unused_reg ? " (some unused: balanced to the train images)" : "");
        printf("  number of images (including repeats)\n");
        for (size_t b = 0; b < s->set.n_buckets; b++)
            if (s->set.n_items[b])
                printf("  bucket %zu: resolution (%lld, %lld), count: %zu\n", b, (long long)s->set.resos[b].w,
                       (long long)s->set.resos[b].h, s->set.n_items[b]);
        printf("  mean ar error (without repeats): %.17g\n", s->set.mean_ar_error);
        printf("  batches per epoch: %zu\n", s->set.n_batches);
    }
    printf("total batches per epoch (steps per epoch at gradient accumulation 1): %lld\n", (long long)td->total_batches);
    if (bad->n) {
        printf("%zu bad image(s)%s:\n", bad->n, skip_bad ? " (skipped: --skip_bad_images)" : "");
        for (size_t i = 0; i < bad->n; i++) printf("  %s: %s\n", bad->items[i].path, bad->items[i].reason);
    } else {
        printf("all images decoded fine\n");
    }
}

static int print_json(const TrainData *td, bool skip_bad) {
    const BadImageList *bad = &td->bad;
    cJSON *root = cJSON_CreateObject(), *dsa = cJSON_AddArrayToObject(root, "datasets");
    for (size_t d = 0; d < td->n_parts; d++) {
        const TrainDataPart *s = &td->parts[d];
        const DatasetConfig *c = s->cfg;
        cJSON *jd = cJSON_CreateObject();
        cJSON_AddItemToArray(dsa, jd);
        cJSON_AddBoolToObject(jd, "is_dreambooth", c->is_dreambooth);
        cJSON_AddNumberToObject(jd, "batch_size", (double)c->batch_size);
        cJSON_AddItemToObject(jd, "resolution", pair(c->resolution[0], c->resolution[1]));
        cJSON_AddBoolToObject(jd, "enable_bucket", c->enable_bucket);
        cJSON_AddBoolToObject(jd, "bucket_no_upscale", c->bucket_no_upscale);
        cJSON_AddNumberToObject(jd, "min_bucket_reso", (double)c->min_bucket_reso);
        cJSON_AddNumberToObject(jd, "max_bucket_reso", (double)c->max_bucket_reso);
        cJSON_AddNumberToObject(jd, "bucket_reso_steps", (double)c->bucket_reso_steps);
        cJSON_AddNumberToObject(jd, "num_train_images", (double)s->scan.num_train_images);
        cJSON_AddNumberToObject(jd, "num_reg_images", (double)s->scan.num_reg_images);
        cJSON_AddNumberToObject(jd, "batches_per_epoch", (double)s->set.n_batches);
        cJSON_AddNumberToObject(jd, "mean_img_ar_error", s->set.mean_ar_error);
        cJSON *subs = cJSON_AddArrayToObject(jd, "subsets");
        for (size_t i = 0; i < c->n_subsets; i++) {
            const SubsetConfig *sc = &c->subsets[i];
            const ScanSubsetStats *ss = &s->scan.subsets[i];
            cJSON *js = cJSON_CreateObject();
            cJSON_AddItemToArray(subs, js);
            if (sc->image_dir) cJSON_AddStringToObject(js, "image_dir", sc->image_dir);
            if (sc->metadata_file) cJSON_AddStringToObject(js, "metadata_file", sc->metadata_file);
            cJSON_AddNumberToObject(js, "img_count", (double)ss->img_count);
            cJSON_AddNumberToObject(js, "num_repeats", (double)sc->num_repeats);
            cJSON_AddBoolToObject(js, "is_reg", sc->is_reg);
            if (sc->class_tokens) cJSON_AddStringToObject(js, "class_tokens", sc->class_tokens);
            cJSON_AddStringToObject(js, "caption_extension", sc->caption_extension ? sc->caption_extension : "");
            cJSON_AddNumberToObject(js, "captions_found", (double)ss->captions_found);
            cJSON_AddNumberToObject(js, "captions_fallback", (double)ss->captions_fallback);
            cJSON_AddNumberToObject(js, "bad_images_left_out", (double)ss->n_excluded);
            if (ss->ignored) cJSON_AddStringToObject(js, "ignored", ss->ignored_reason);
        }
        cJSON *bk = cJSON_AddArrayToObject(jd, "buckets");
        for (size_t b = 0; b < s->set.n_buckets; b++) {
            if (!s->set.n_items[b]) continue;
            cJSON *jb = cJSON_CreateObject();
            cJSON_AddItemToArray(bk, jb);
            cJSON_AddNumberToObject(jb, "index", (double)b);
            cJSON_AddItemToObject(jb, "resolution", pair(s->set.resos[b].w, s->set.resos[b].h));
            cJSON_AddNumberToObject(jb, "count", (double)s->set.n_items[b]);
        }
        cJSON *imgs = cJSON_AddArrayToObject(jd, "images");
        for (size_t i = 0; i < s->scan.n_images; i++) {
            const ScanImage *im = &s->scan.images[i];
            cJSON *ji = cJSON_CreateObject();
            cJSON_AddItemToArray(imgs, ji);
            cJSON_AddStringToObject(ji, "path", im->path);
            cJSON_AddNumberToObject(ji, "subset", (double)im->subset);
            cJSON_AddStringToObject(ji, "caption", im->caption);
            cJSON_AddStringToObject(ji, "caption_source", caption_source_name(im->caption_source));
            cJSON_AddBoolToObject(ji, "is_reg", im->is_reg);
            cJSON_AddNumberToObject(ji, "num_repeats", (double)im->num_repeats);
            cJSON_AddNumberToObject(ji, "loss_weight", im->loss_weight);
            const BucketImage *b = &s->bimg[i];
            cJSON_AddItemToObject(ji, "size", pair(b->width, b->height));
            cJSON_AddItemToObject(ji, "bucket", pair(b->bucket.w, b->bucket.h));
            cJSON_AddItemToObject(ji, "resized", pair(b->resized.w, b->resized.h));
            int64_t x, y;
            bucket_crop_offset(b->bucket, b->resized, false, NULL, &x, &y);
            cJSON *crop = cJSON_AddArrayToObject(ji, "crop"); // [x, y, w, h] in the resized image (center crop)
            int64_t v[4] = {x, y, b->bucket.w, b->bucket.h};
            for (int k = 0; k < 4; k++) cJSON_AddItemToArray(crop, cJSON_CreateNumber((double)v[k]));
            cJSON_AddBoolToObject(ji, "random_crop", c->subsets[im->subset].random_crop);
            double ltrb[4];
            bucket_crop_ltrb(b->bucket, b->width, b->height, ltrb);
            cJSON *jl = cJSON_AddArrayToObject(ji, "crop_ltrb");
            for (int k = 0; k < 4; k++) cJSON_AddItemToArray(jl, cJSON_CreateNumber(ltrb[k]));
        }
    }
    cJSON_AddNumberToObject(root, "total_batches_per_epoch", (double)td->total_batches);
    cJSON_AddBoolToObject(root, "skip_bad_images", skip_bad);
    cJSON *jb = cJSON_AddArrayToObject(root, "bad_images");
    for (size_t i = 0; i < bad->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", bad->items[i].path);
        cJSON_AddStringToObject(o, "reason", bad->items[i].reason);
        cJSON_AddItemToArray(jb, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return 1;
    puts(text);
    free(text);
    return 0;
}

static int dataset_check(int argc, char **argv) {
    const char *train_dir = NULL, *reg_dir = NULL, *config = NULL, *in_json = NULL, *resolution = NULL, *cap_ext = ".caption";
    bool enable_bucket = false, no_upscale = false, skip_bad = false, json = false;
    int min_reso = 256, max_reso = 1024, steps = 64, batch = 1, threads = 2;
    float prior = 1.0f;
    const OptSpec specs[] = {
        {.name = "train_data_dir", .type = OPT_STRING, .dst = &train_dir, .help = "folder with <repeats>_<class> subfolders of images"},
        {.name = "reg_data_dir", .type = OPT_STRING, .dst = &reg_dir, .help = "folder with <repeats>_<class> subfolders of regularization images"},
        {.name = "dataset_config", .type = OPT_STRING, .dst = &config, .help = "kohya dataset config (.toml or .json); overrides the folders"},
        {.name = "in_json", .type = OPT_STRING, .dst = &in_json, .help = "fine-tuning metadata JSON (images in --train_data_dir)"},
        {.name = "resolution", .type = OPT_STRING, .dst = &resolution, .help = "training size: 512 or 512,768 (width,height)"},
        {.name = "enable_bucket", .type = OPT_FLAG, .dst = &enable_bucket, .help = "aspect-ratio bucketing"},
        {.name = "min_bucket_reso", .type = OPT_INT, .dst = &min_reso, .min = 1, .max = 1e6, .help = "smallest bucket side (default 256)"},
        {.name = "max_bucket_reso", .type = OPT_INT, .dst = &max_reso, .min = 1, .max = 1e6, .help = "largest bucket side (default 1024)"},
        {.name = "bucket_reso_steps", .type = OPT_INT, .dst = &steps, .min = 1, .max = 1e6, .help = "bucket side step (default 64)"},
        {.name = "bucket_no_upscale", .type = OPT_FLAG, .dst = &no_upscale, .help = "never enlarge images: each image's bucket from its own size"},
        {.name = "caption_extension", .type = OPT_STRING, .dst = &cap_ext, .help = "caption file extension (default .caption, as kohya)"},
        {.name = "train_batch_size", .alias = "batch_size", .type = OPT_INT, .dst = &batch, .min = 1, .max = 1e6, .help = "batch size (default 1)"},
        {.name = "prior_loss_weight", .type = OPT_FLOAT, .dst = &prior, .help = "loss weight of regularization images (default 1.0)"},
        {.name = "skip_bad_images", .type = OPT_FLAG, .dst = &skip_bad, .help = "leave bad images out instead of failing"},
        {.name = "threads", .type = OPT_INT, .dst = &threads, .min = 1, .max = 1024, .help = "decoder threads (default 2)"},
        {.name = "json", .type = OPT_FLAG, .dst = &json, .help = "print the report as JSON (with each image's bucket and crop)"},
    };
    OptsResult r = opts_parse("dataset check",
                              "sdlora dataset check [--train_data_dir D] [--reg_data_dir D] [--dataset_config F] "
                              "[--resolution 512[,512]] [--enable_bucket] ... [--skip_bad_images] [--json]",
                              specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (r != OPTS_OK) return r == OPTS_HELP ? 0 : 1;

    DatasetArgs a;
    dataset_args_default(&a);
    a.dataset_config = config;
    a.train_data_dir = train_dir;
    a.reg_data_dir = reg_dir;
    a.in_json = in_json;
    a.prior_loss_weight = prior;
    a.ds.enable_bucket = enable_bucket;
    a.ds.bucket_no_upscale = no_upscale;
    a.ds.min_bucket_reso = min_reso;
    a.ds.max_bucket_reso = max_reso;
    a.ds.bucket_reso_steps = steps;
    a.ds.batch_size = batch;
    a.sub.caption_extension = (char *)cap_ext;
    if (resolution && dataset_args_set_resolution(&a, resolution) != SDL_OK) sdl_die_last();

    if (!json) fprintf(stderr, "decoding every image on %d thread(s)...\n", threads);
    // quiet: this command prints its own report (bad images on stdout, not as warnings)
    TrainData td;
    SdlStatus st = train_data_build(&td, &a, threads, skip_bad, true);
    if (st != SDL_OK && !(st == SDL_ERR_FORMAT && td.bad.n)) sdl_die_last();
    int rc = json ? print_json(&td, skip_bad) : (print_text(&td, skip_bad), 0);
    if (td.bad.n && !skip_bad) {
        fprintf(stderr, "error: %zu image(s) cannot be used for training (listed above)\n"
                        "  hint: fix or remove them, or pass --skip_bad_images to leave them out\n", td.bad.n);
        rc = 1;
    }
    train_data_free(&td);
    return rc;
}

int cmd_dataset(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: sdlora dataset <action> [options]\n\nactions:\n"
                   "  check          resolve the dataset, decode every image, list bad ones, show buckets and steps\n");
        return argc < 2 ? 1 : 0;
    }
    if (strcmp(argv[1], "check") == 0) return dataset_check(argc - 1, argv + 1);
    fprintf(stderr, "error: dataset: unknown action '%s'\n  hint: run `sdlora dataset --help`\n", argv[1]);
    return 1;
}
