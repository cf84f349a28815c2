// dataset.c — see dataset.h. The order of work is the point of this file: collect every
// image of every dataset (reg images in full), decode them all once on a thread pool, and
// only then count and balance — so with --skip_bad_images a bad train image no longer buys
// regularization samples, and a bad reg image is replaced by the next good one.
#include "data/dataset.h"
#include "base/clock.h"
#include "base/log.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

static SdlStatus oom(void) { return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory"); }

// Validates paths[0..n) in chunks so a progress line can be shown; indexes in *bad are global.
static SdlStatus validate_all(const char *const *paths, size_t n, int64_t min_side, int threads, bool quiet,
                              int64_t (*sizes)[2], BadImageList *bad) {
    memset(bad, 0, sizeof *bad);
    size_t chunk = (size_t)(threads > 0 ? threads : 1) * 16;
    if (chunk < 32) chunk = 32;
    bool tty = !quiet && isatty(STDERR_FILENO);
    double t0 = time_now();
    if (!quiet) fprintf(stderr, "checking %zu image(s) on %d thread(s)...%s", n, threads, tty ? "" : "\n");
    for (size_t off = 0; off < n; off += chunk) {
        size_t m = n - off < chunk ? n - off : chunk;
        BadImageList part;
        SDL_TRY(dataset_validate_images(paths + off, m, min_side, threads, sizes + off, &part));
        if (part.n) {
            BadImage *nv = realloc(bad->items, (bad->n + part.n) * sizeof *nv);
            if (!nv) { bad_image_list_free(&part); bad_image_list_free(bad); return oom(); }
            bad->items = nv;
            for (size_t i = 0; i < part.n; i++) {
                bad->items[bad->n] = part.items[i];
                bad->items[bad->n++].index += off;
            }
            free(part.items); // the strings moved into *bad
        }
        if (tty) fprintf(stderr, "\rchecking images: %zu/%zu", off + m, n);
    }
    if (!quiet) {
        double dt = time_now() - t0;
        fprintf(stderr, "%s%zu image(s) checked in %.1f s (%.0f/s), %zu bad\n", tty ? "\r" : "", n, dt,
                dt > 0 ? (double)n / dt : 0.0, bad->n);
    }
    return SDL_OK;
}

// "bad images: a: why; b: why; ... and N more" into the error (whose reason holds ~1.5 KB).
static SdlStatus fail_bad(const BadImageList *bad) {
    char list[1200];
    size_t off = 0, shown = 0;
    for (; shown < bad->n; shown++) {
        int w = snprintf(list + off, sizeof list - off, "%s%s: %s", shown ? "; " : "", bad->items[shown].path,
                         bad->items[shown].reason);
        if (w < 0 || (size_t)w >= sizeof list - off) { list[off] = 0; break; }
        off += (size_t)w;
    }
    char more[64] = "";
    if (shown < bad->n) snprintf(more, sizeof more, "%s... and %zu more", shown ? "; " : "", bad->n - shown);
    return sdl_fail(SDL_ERR_FORMAT, bad->n == 1 ? bad->items[0].path : NULL,
                    "fix or remove them, or pass --skip_bad_images to leave them out (`sdlora dataset check` lists them all)",
                    "%zu image(s) cannot be used for training: %s%s", bad->n, list, more);
}

SdlStatus train_data_build(TrainData *out, const DatasetArgs *a, int threads, bool skip_bad, bool quiet) {
    memset(out, 0, sizeof *out);
    if (threads < 1) threads = 1;
    SDL_TRY(dataset_setup_build(&out->setup, a));
    SdlStatus st = SDL_OK;
    const char **paths = NULL;
    int64_t(*sizes)[2] = NULL;
    bool *exclude = NULL;
    size_t *origin = NULL;
    out->n_parts = out->setup.n_datasets;
    out->parts = calloc(out->n_parts ? out->n_parts : 1, sizeof *out->parts);
    if (!out->parts) { st = oom(); goto fail; }

    // 1. collect every image (reg images in full: which ones are used depends on the bad ones)
    size_t n_all = 0;
    int64_t min_side = 64;
    for (size_t d = 0; d < out->n_parts; d++) {
        TrainDataPart *p = &out->parts[d];
        p->cfg = &out->setup.datasets[d];
        if ((st = dataset_scan_collect(&p->scan, p->cfg)) != SDL_OK) goto fail;
        n_all += p->scan.n_images;
        // bucket_no_upscale floors each image's size to the step: smaller images get no bucket
        if (p->cfg->enable_bucket && p->cfg->bucket_no_upscale && p->cfg->bucket_reso_steps > min_side)
            min_side = p->cfg->bucket_reso_steps;
    }
    // 2. decode every image once, all datasets in one pass
    paths = malloc((n_all ? n_all : 1) * sizeof *paths);
    sizes = calloc(n_all ? n_all : 1, sizeof *sizes);
    exclude = calloc(n_all ? n_all : 1, sizeof *exclude);
    origin = malloc((n_all ? n_all : 1) * sizeof *origin);
    if (!paths || !sizes || !exclude || !origin) { st = oom(); goto fail; }
    size_t k = 0;
    for (size_t d = 0; d < out->n_parts; d++)
        for (size_t i = 0; i < out->parts[d].scan.n_images; i++) paths[k++] = out->parts[d].scan.images[i].path;
    if ((st = validate_all(paths, n_all, min_side, threads, quiet, sizes, &out->bad)) != SDL_OK) goto fail;
    for (size_t i = 0; i < out->bad.n; i++) {
        exclude[out->bad.items[i].index] = true;
        if (skip_bad && !quiet) log_warn("skipping bad image %s: %s", out->bad.items[i].path, out->bad.items[i].reason);
    }
    // 3. per dataset: drop the bad images, balance, bucket
    k = 0;
    for (size_t d = 0; d < out->n_parts; d++) {
        TrainDataPart *p = &out->parts[d];
        DatasetConfig *c = p->cfg;
        size_t n_collected = p->scan.n_images;
        if ((st = dataset_scan_balance(&p->scan, exclude + k, a->prior_loss_weight, origin)) != SDL_OK) goto fail;
        // kohya allows a fine-tuning dataset without resolution only with precomputed latents; we need one
        if (!c->has_resolution) {
            st = sdl_fail(SDL_ERR_ARG, out->setup.source, "give --resolution 512 (or resolution = 512 in the dataset config)",
                          "no resolution for dataset %zu", d);
            goto fail;
        }
        if ((st = bucket_spec_init(&p->spec, c->enable_bucket, c->bucket_no_upscale, c->resolution[0], c->resolution[1],
                                   c->min_bucket_reso, c->max_bucket_reso, c->bucket_reso_steps)) != SDL_OK)
            goto fail;
        p->bimg = calloc(p->scan.n_images ? p->scan.n_images : 1, sizeof *p->bimg);
        if (!p->bimg) { st = oom(); goto fail; }
        for (size_t i = 0; i < p->scan.n_images; i++) {
            const int64_t *sz = sizes[k + origin[i]];
            p->bimg[i] = (BucketImage){.width = sz[0], .height = sz[1], .num_repeats = p->scan.images[i].num_repeats};
        }
        if ((st = bucket_assign(&p->set, &p->spec, p->bimg, p->scan.n_images, c->batch_size)) != SDL_OK) goto fail;
        out->total_batches += (int64_t)p->set.n_batches;
        out->num_train_images += p->scan.num_train_images;
        out->num_reg_images += p->scan.num_reg_images;
        k += n_collected;
    }
    free(paths); free(sizes); free(exclude); free(origin);
    if (out->bad.n && !skip_bad) return fail_bad(&out->bad);
    return SDL_OK;
fail:
    free(paths); free(sizes); free(exclude); free(origin);
    train_data_free(out);
    return st;
}

void train_data_free(TrainData *d) {
    for (size_t i = 0; d->parts && i < d->n_parts; i++) {
        TrainDataPart *p = &d->parts[i];
        dataset_scan_free(&p->scan);
        bucket_spec_free(&p->spec);
        bucket_set_free(&p->set);
        free(p->bimg);
    }
    free(d->parts);
    bad_image_list_free(&d->bad);
    dataset_setup_free(&d->setup);
    memset(d, 0, sizeof *d);
}

// Re-records the last error (from a helper that knows no file name) against `path`.
static SdlStatus fail_for(SdlStatus st, const char *path) {
    char why[sizeof sdl_last_error()->reason];
    snprintf(why, sizeof why, "%s", sdl_last_error()->reason);
    return sdl_fail(st, path, NULL, "%s", why);
}

SdlStatus dataset_image_decode(Image *out, const uint8_t *data, size_t size, const char *path, Reso resized, Reso bucket,
                               int64_t x, int64_t y) {
    memset(out, 0, sizeof *out);
    // a 4000 px JPEG headed for a 512 px bucket decodes at 1/4 scale (≥ resized): ~10× faster
    ImageLoadOptions opt = image_load_options_default();
    opt.min_width = resized.w;
    opt.min_height = resized.h;
    Image img, sized;
    SDL_TRY(image_decode_memory(&img, NULL, data, size, path, &opt));
    if (img.width != resized.w || img.height != resized.h) {
        SdlStatus st = image_resize(&sized, &img, resized.w, resized.h);
        image_free(&img);
        if (st != SDL_OK) return fail_for(st, path);
    } else {
        sized = img;
    }
    if (x == 0 && y == 0 && bucket.w == resized.w && bucket.h == resized.h) {
        *out = sized;
        return SDL_OK;
    }
    SdlStatus st = image_crop(out, &sized, x, y, bucket.w, bucket.h);
    image_free(&sized);
    if (st != SDL_OK) return fail_for(st, path);
    return SDL_OK;
}

SdlStatus dataset_image_load(Image *out, const char *path, Reso resized, Reso bucket, int64_t x, int64_t y) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return sdl_fail(SDL_ERR_IO, path, "was the image moved or deleted after the dataset was checked?",
                        "cannot open the image: %s", strerror(errno));
    uint8_t *data = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            uint8_t *nd = realloc(data, cap);
            if (!nd) { free(data); fclose(f); return oom(); }
            data = nd;
        }
        size_t got = fread(data + size, 1, cap - size, f);
        size += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(data); return sdl_fail(SDL_ERR_IO, path, NULL, "read error"); }
    SdlStatus st = dataset_image_decode(out, data, size, path, resized, bucket, x, y);
    free(data);
    return st;
}
