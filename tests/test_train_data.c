// test_train_data.c — train_data_build on real encoded images (PNG, JPEG, WebP) with bad
// files among them: validation before regularization balancing (the --skip_bad_images bug:
// a bad train image used to buy reg samples, a bad reg image used to take a reg slot), the
// error listing bad images without --skip_bad_images, sizes and buckets, and
// dataset_image_load against a direct decode + resize + crop.
#include "harness.h"
#include "fixtures.h"
#include "base/error.h"
#include "base/log.h"
#include "data/dataset.h"
#include "io/image.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void path_of(char *buf, size_t cap, const char *rel) { snprintf(buf, cap, "%s/%s", tmpdir, rel); }
static void mkdir_rel(const char *rel) {
    char p[1024];
    path_of(p, sizeof p, rel);
    mkdir(p, 0755);
}
static void write_str(const char *rel, const char *s) {
    char p[1024];
    path_of(p, sizeof p, rel);
    fixture_write_text(p, s);
}

// A seeded gradient-with-noise image saved by extension (.png .jpg .webp).
static void make_image(const char *rel, int64_t w, int64_t h, unsigned seed) {
    Image img;
    if (image_alloc(&img, w, h) != SDL_OK) abort();
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            seed = seed * 1103515245u + 12345u;
            uint8_t *p = img.rgb + (y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / w);
            p[1] = (uint8_t)(y * 255 / h);
            p[2] = (uint8_t)(seed >> 24);
        }
    char p[1024];
    path_of(p, sizeof p, rel);
    fixture_save_image(&img, p, 90, false);
    image_free(&img);
}

static DatasetArgs args_for(const char *train, const char *reg) {
    static char td[512], rd[512];
    DatasetArgs a;
    dataset_args_default(&a);
    a.ds.has_resolution = true;
    a.ds.resolution[0] = a.ds.resolution[1] = 128;
    a.ds.enable_bucket = true;
    a.ds.min_bucket_reso = 64;
    a.ds.max_bucket_reso = 256;
    a.sub.caption_extension = ".txt";
    path_of(td, sizeof td, train);
    a.train_data_dir = td;
    if (reg) { path_of(rd, sizeof rd, reg); a.reg_data_dir = rd; }
    return a;
}

static size_t count_reg(const DatasetScan *s, int64_t *samples) {
    size_t n = 0;
    *samples = 0;
    for (size_t i = 0; i < s->n_images; i++)
        if (s->images[i].is_reg) { n++; *samples += s->images[i].num_repeats; }
    return n;
}

// The --skip_bad_images fix: with one of three train images bad (2 repeats each), the train
// samples are 4, not 6, so 4 reg images (1 repeat each) are used and 2 stay unused. Before
// the fix the bad image was validated after balancing and 6 reg images were used.
static void test_bad_train_image_not_counted_in_balance(void) {
    mkdir_rel("b1"); mkdir_rel("b1/2_dog"); mkdir_rel("r1"); mkdir_rel("r1/1_dog");
    make_image("b1/2_dog/a.png", 96, 96, 1);
    make_image("b1/2_dog/b.jpg", 128, 96, 2);
    write_str("b1/2_dog/c.png", "this is not a PNG");
    for (int i = 0; i < 6; i++) {
        char n[64];
        snprintf(n, sizeof n, "r1/1_dog/r%d.webp", i);
        make_image(n, 96, 96, 10u + (unsigned)i);
    }
    DatasetArgs a = args_for("b1", "r1");
    TrainData d;
    CHECK(train_data_build(&d, &a, 2, true, true) == SDL_OK);
    if (d.n_parts != 1) return;
    DatasetScan *s = &d.parts[0].scan;
    int64_t reg_samples;
    size_t n_reg = count_reg(s, &reg_samples);
    CHECKF(s->num_train_images == 4, "train samples %lld (the bad image must not count)", (long long)s->num_train_images);
    CHECKF(n_reg == 4 && reg_samples == 4, "reg images used %zu, samples %lld (want 4, 4)", n_reg, (long long)reg_samples);
    CHECK(s->n_unused_reg == 2);
    CHECK(d.num_train_images == 4 && d.num_reg_images == 6);
    CHECK(d.bad.n == 1 && strstr(d.bad.items[0].path, "/c.png"));
    CHECK(s->subsets[0].img_count == 3 && s->subsets[0].n_excluded == 1);
    // buckets hold exactly the good samples: 2 train images x 2 + 4 reg
    size_t total = 0;
    for (size_t b = 0; b < d.parts[0].set.n_buckets; b++) total += d.parts[0].set.n_items[b];
    CHECK(total == 8);
    for (size_t i = 0; i < s->n_images; i++) CHECK(!strstr(s->images[i].path, "/c.png"));
    train_data_free(&d);
}

// A bad reg image must not take a reg slot: the next good reg image does.
static void test_bad_reg_image_replaced(void) {
    mkdir_rel("b2"); mkdir_rel("b2/1_cat"); mkdir_rel("r2"); mkdir_rel("r2/1_cat");
    make_image("b2/1_cat/a.png", 64, 64, 3);
    make_image("b2/1_cat/b.png", 64, 64, 4);
    char p[1024];
    path_of(p, sizeof p, "r2/1_cat/r0.png");
    FILE *f = fopen(p, "wb");
    fclose(f); // zero bytes
    make_image("r2/1_cat/r1.png", 64, 64, 5);
    make_image("r2/1_cat/r2.png", 64, 64, 6);
    make_image("r2/1_cat/r3.png", 64, 64, 7);
    DatasetArgs a = args_for("b2", "r2");
    a.prior_loss_weight = 0.25;
    TrainData d;
    CHECK(train_data_build(&d, &a, 2, true, true) == SDL_OK);
    if (d.n_parts != 1) return;
    DatasetScan *s = &d.parts[0].scan;
    int64_t reg_samples;
    CHECK(count_reg(s, &reg_samples) == 2 && reg_samples == 2);
    CHECK(s->n_images == 4);
    if (s->n_images == 4) {
        CHECK(strstr(s->images[2].path, "/r1.png") && strstr(s->images[3].path, "/r2.png"));
        CHECK(s->images[2].loss_weight == 0.25f && s->images[0].loss_weight == 1.0f);
    }
    CHECK(s->n_unused_reg == 1);
    train_data_free(&d);
}

// Without --skip_bad_images: SDL_ERR_FORMAT naming the bad files, and the report still built.
static void test_bad_images_fail_without_skip(void) {
    mkdir_rel("b3"); mkdir_rel("b3/3_x");
    make_image("b3/3_x/good.png", 100, 80, 8);
    make_image("b3/3_x/tiny.png", 32, 32, 9);
    make_image("b3/3_x/big.jpg", 200, 150, 10);
    char src[1024], dst[1024];
    path_of(src, sizeof src, "b3/3_x/big.jpg");
    path_of(dst, sizeof dst, "b3/3_x/trunc.jpg");
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    char buf[700];
    size_t got = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, got, out);
    fclose(in);
    fclose(out);
    DatasetArgs a = args_for("b3", NULL);
    TrainData d;
    CHECK(train_data_build(&d, &a, 2, false, true) == SDL_ERR_FORMAT);
    const char *r = sdl_last_error()->reason;
    CHECKF(strstr(r, "2 image(s)") && strstr(r, "tiny.png") && strstr(r, "trunc.jpg"), "reason: %s", r);
    CHECK(strstr(sdl_last_error()->hint, "--skip_bad_images") != NULL);
    CHECK(d.bad.n == 2 && d.n_parts == 1);
    if (d.n_parts == 1) {
        CHECK(d.parts[0].scan.n_images == 2 && d.parts[0].scan.num_train_images == 6);
        // sizes from the decode, buckets from kohya's rules: 100x80 → nearest AR bucket
        const BucketImage *bi = &d.parts[0].bimg[1];
        CHECK(strstr(d.parts[0].scan.images[1].path, "good.png") && bi->width == 100 && bi->height == 80);
        CHECK(bi->bucket.w % 64 == 0 && bi->bucket.h % 64 == 0 && bi->resized.w >= bi->bucket.w && bi->resized.h >= bi->bucket.h);
    }
    train_data_free(&d);
    // an empty folder set is no error here (the trainer reports "no images"); a missing one is
    a.train_data_dir = "/nonexistent/sdlora";
    CHECK(train_data_build(&d, &a, 1, false, true) != SDL_OK);
    CHECK(d.parts == NULL && d.n_parts == 0);
}

// dataset_image_load = decode, resize to `resized`, crop the bucket at (x, y).
static void test_image_load_matches_manual(void) {
    mkdir_rel("il");
    make_image("il/a.webp", 150, 100, 11);
    char p[1024];
    path_of(p, sizeof p, "il/a.webp");
    Reso resized = {96, 64}, bucket = {64, 64};
    Image got, full, sized, want;
    CHECK(dataset_image_load(&got, p, resized, bucket, 17, 0) == SDL_OK);
    CHECK(image_load(&full, p) == SDL_OK);
    CHECK(image_resize(&sized, &full, 96, 64) == SDL_OK);
    CHECK(image_crop(&want, &sized, 17, 0, 64, 64) == SDL_OK);
    CHECK(got.width == 64 && got.height == 64 && memcmp(got.rgb, want.rgb, 64 * 64 * 3) == 0);
    image_free(&got); image_free(&full); image_free(&sized); image_free(&want);
    // a deleted image: the error names it
    CHECK(dataset_image_load(&got, "/nonexistent/x.png", resized, bucket, 0, 0) == SDL_ERR_IO);
    CHECK(strstr(sdl_last_error()->file, "x.png") != NULL);
}

int main(void) {
    log_set_level(LOG_ERROR);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sdlora-test-train-data-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_bad_train_image_not_counted_in_balance);
    RUN(test_bad_reg_image_replaced);
    RUN(test_bad_images_fail_without_skip);
    RUN(test_image_load_matches_manual);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish();
}
