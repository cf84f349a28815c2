// bench_dataset.c — the dataset pipeline on 1,000 generated images of mixed sizes (384–1536 px
// per side) and formats (50% JPEG q90, 30% PNG, 20% WebP q85), made once and kept in
// $SDLORA_BENCH_DATA (default /tmp/sdlora-bench-dataset-v1) so later runs skip the minute
// of encoding:
//   1. train_data_build (scan + full decode/validate + buckets) on 2 threads: images/s
//      (target >= 50/s);
//   2. --cache_latents_to_disk with a stand-in VAE (8×8 average pooling, ~free): first build
//      (decode, resize, crop, encode, write) and the second build (all files valid: hash the
//      images, read and CRC the files);
//   3. one epoch through the loader on those cached latents while the consumer spends 50 ms
//      per batch (a stand-in training step): the share of time loader_next waited (target < 2%);
//   4. the uncached worker's own speed (decode + resize + crop + tensor per batch, nothing
//      to overlap with): batches/s, to compare with a real step time.
// Usage: bench_dataset [n_images]   (default 1000)
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "io/image.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die_last(void) { sdl_error_print(stderr); exit(1); }

// Smooth shapes plus mild noise: compresses and decodes like a photo.
static void fill_photo(Image *img, uint32_t s) {
    double ph = (double)(s % 97) / 10.0;
    for (int64_t y = 0; y < img->height; y++)
        for (int64_t x = 0; x < img->width; x++) {
            uint8_t *p = img->rgb + (size_t)(y * img->width + x) * 3;
            const double fx = (double)x / (double)img->width, fy = (double)y / (double)img->height;
            const double base[3] = {120 + 90 * sin(6 * fx + 2 * fy + ph), 110 + 80 * cos(5 * fy - 3 * fx + ph),
                                    100 + 70 * sin(9 * fx * fy + ph)};
            for (int c = 0; c < 3; c++) {
                s = s * 1664525u + 1013904223u;
                double v = base[c] + (double)((s >> 24) % 17) - 8;
                p[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

static void make_dataset(const char *root, int n) {
    char dir[1024], stamp[1100];
    snprintf(stamp, sizeof stamp, "%s/.complete-%d", root, n);
    struct stat sb;
    if (stat(stamp, &sb) == 0) return;
    mkdir(root, 0755);
    snprintf(dir, sizeof dir, "%s/train", root);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/train/1_bench", root);
    mkdir(dir, 0755);
    fprintf(stderr, "generating %d images in %s (once)...\n", n, dir);
    double t0 = time_now();
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 4) reduction(+ : failed)
    for (int i = 0; i < n; i++) {
        uint32_t s = 2654435761u * (uint32_t)(i + 1);
        int64_t w = 384 + (int64_t)(s % 1153), h = 384 + (int64_t)((s >> 11) % 1153);
        int kind = i % 10 < 5 ? 0 : i % 10 < 8 ? 1 : 2; // jpg, png, webp
        char p[1200];
        snprintf(p, sizeof p, "%s/img%04d.%s", dir, i, kind == 0 ? "jpg" : kind == 1 ? "png" : "webp");
        Image img;
        if (image_alloc(&img, w, h) != SDL_OK) { failed++; continue; }
        fill_photo(&img, s);
        SdlStatus st = kind == 0 ? image_save_jpeg(&img, p, 90) : kind == 1 ? image_save_png(&img, p, NULL, NULL, 0)
                                                                           : image_save_webp(&img, p, 85, 0);
        image_free(&img);
        failed += st != SDL_OK;
        if (i % 3 == 0) { // a third have captions
            snprintf(p, sizeof p, "%s/img%04d.txt", dir, i);
            FILE *f = fopen(p, "w");
            if (f) { fprintf(f, "bench, photo %d, smooth shapes, noise", i); fclose(f); }
        }
    }
    if (failed) { fprintf(stderr, "could not write %d images\n", failed); exit(1); }
    FILE *f = fopen(stamp, "w");
    if (f) fclose(f);
    fprintf(stderr, "generated in %.1f s\n", time_now() - t0);
}

static SdlStatus pool_encode(void *ctx, float *lat, const float *px, int64_t B, int64_t H, int64_t W) {
    int64_t h = H / 8, w = W / 8, hw = H * W;
    for (int64_t b = 0; b < B; b++)
        for (int c = 0; c < 4; c++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) {
                    float s = 0;
                    for (int64_t dy = 0; dy < 8; dy++)
                        for (int64_t dx = 0; dx < 8; dx++) s += px[b * 3 * hw + (c % 3) * hw + (y * 8 + dy) * W + x * 8 + dx];
                    lat[((b * 4 + c) * h + y) * w + x] = s / 64.0f;
                }
    return SDL_OK;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    const char *env = getenv("SDLORA_BENCH_DATA");
    char root[512];
    snprintf(root, sizeof root, "%s", env && *env ? env : "/tmp/sdlora-bench-dataset-v1");
    log_set_level(LOG_ERROR); // (a third of the images have captions: the others' warning is expected)
    make_dataset(root, n);

    char td[600], cache[600];
    snprintf(td, sizeof td, "%s/train", root);
    snprintf(cache, sizeof cache, "%s/cache", root);
    DatasetArgs a;
    dataset_args_default(&a);
    a.train_data_dir = td;
    a.ds.has_resolution = true;
    a.ds.resolution[0] = a.ds.resolution[1] = 512;
    a.ds.enable_bucket = true;
    a.ds.batch_size = 4;
    a.sub.caption_extension = ".txt";
    a.sub.flip_aug = true;

    printf("dataset pipeline (%d images, 384-1536 px, 50%% JPEG / 30%% PNG / 20%% WebP; resolution 512, buckets, batch 4)\n", n);
    TrainData d;
    double t0 = time_now();
    if (train_data_build(&d, &a, 2, false, true) != SDL_OK) die_last();
    double t_build = time_now() - t0;
    printf("  train_data_build, 2 threads (decode + validate + bucket): %.2f s, %.0f images/s (target >= 50)\n", t_build,
           (double)n / t_build);

    // disk cache from scratch (delete old files), then again (all valid)
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
    if (system(cmd) != 0) return 1;
    mkdir(cache, 0755);
    LoaderOptions o = {.seed = 1, .cache_latents = true, .cache_latents_to_disk = true, .cache_dir = cache,
                       .vae_batch_size = 4, .vae_id = "bench", .encode = pool_encode, .threads = 2, .prefetch = 2,
                       .quiet = true};
    Loader *l;
    t0 = time_now();
    if (loader_create(&l, &d, &o) != SDL_OK) die_last();
    double t_cache1 = time_now() - t0;
    loader_free(l);
    t0 = time_now();
    if (loader_create(&l, &d, &o) != SDL_OK) die_last();
    double t_cache2 = time_now() - t0;
    printf("  latent cache to disk, stand-in VAE: first build %.2f s (%.0f images/s incl. flipped copies), "
           "reuse %.2f s (%.0f images/s: hash + read + CRC)\n",
           t_cache1, (double)n / t_cache1, t_cache2, (double)n / t_cache2);

    // one epoch, consumer at 50 ms per batch
    int64_t bpe = loader_batches_per_epoch(l);
    double waited = 0, first_wait = 0;
    const struct timespec step = {0, 50 * 1000 * 1000};
    t0 = time_now();
    for (int64_t i = 0; i < bpe; i++) {
        const LoaderBatch *b;
        double w;
        if (loader_next(l, &b, &w) != SDL_OK) die_last();
        if (i == 0) first_wait = w;
        waited += w;
        nanosleep(&step, NULL);
    }
    double t_epoch = time_now() - t0;
    printf("  cached-latent epoch, %lld batches, consumer 50 ms/batch: %.2f s, loader_next waited %.3f s = %.2f%% "
           "(first batch %.3f s) (target < 2%%)\n",
           (long long)bpe, t_epoch, waited, 100.0 * waited / t_epoch, first_wait);
    loader_free(l);

    // uncached worker speed: nothing to overlap with, so loader_next waits on every batch
    o.cache_latents = o.cache_latents_to_disk = false;
    if (loader_create(&l, &d, &o) != SDL_OK) die_last();
    int64_t nb = bpe < 40 ? bpe : 40;
    t0 = time_now();
    for (int64_t i = 0; i < nb; i++) {
        const LoaderBatch *b;
        if (loader_next(l, &b, NULL) != SDL_OK) die_last();
    }
    double t_raw = time_now() - t0;
    printf("  uncached loader (decode + resize + crop on 1 worker thread): %.1f ms/batch of 4, %.1f images/s\n",
           1000.0 * t_raw / (double)nb, 4.0 * (double)nb / t_raw);
    loader_free(l);
    train_data_free(&d);
    return 0;
}
