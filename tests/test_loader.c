// test_loader.c — the data loader on real PNG/JPEG/WebP images, and the augmentations:
//   color_aug's OpenCV HSV conversions against hashes of cv2's own output over every input
//     (opencv-python 4.8.1 and 5.0, AVX2 CPU; the Python that made them is quoted below),
//     and kohya's AugHelper.color_aug run with random.seed(7) on a fixed image;
//   batches against a direct decode + resize + crop (+ color aug + flip as drawn), captions,
//     token ids, loss weights, one bucket per batch, every image × repeats once per epoch;
//   determinism across two loaders, across loader_seek (forward and back), seed sensitivity;
//   flip / color-aug statistics; prefetch (a slow consumer waits ~0); a file deleted
//   mid-run reported by loader_next; cached latents (fake VAE) and the options kohya refuses.
#include "harness.h"
#include "fixtures.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "io/image.h"
#include "lora/sha256.h"
#include "models/clip_tokenizer.h"
#include "models/prompt_weights.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

static void hex32(const unsigned char d[32], char out[65]) {
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

// ---------------------------------------------------------------- OpenCV HSV and color_aug
// Goldens from Python (numpy + cv2), e.g.:
//   allc = np.arange(1 << 24, dtype=np.uint32)
//   img = np.stack([(allc >> 16) & 255, (allc >> 8) & 255, allc & 255], -1).astype(np.uint8).reshape(4096, 4096, 3)
//   sha256(cv2.cvtColor(img, cv2.COLOR_BGR2HSV).tobytes())
//   h, s, v = np.meshgrid(np.arange(180), np.arange(256), np.arange(256), indexing='ij')
//   hsv = np.stack([h, s, v], -1).astype(np.uint8).reshape(-1, 3)   # rows of W pixels:
//   sha256(cv2.cvtColor(hsv[:n // W * W].reshape(-1, W, 3), cv2.COLOR_HSV2BGR).tobytes())
static void test_opencv_hsv_exact(void) {
    const size_t n = (size_t)1 << 24;
    uint8_t *src = malloc(n * 3), *dst = malloc(n * 3);
    if (!src || !dst) abort();
    for (size_t i = 0; i < n; i++) { src[3 * i] = (uint8_t)(i >> 16); src[3 * i + 1] = (uint8_t)(i >> 8); src[3 * i + 2] = (uint8_t)i; }
    augment_cv_bgr2hsv(dst, src, n);
    unsigned char d[32];
    char hex[65];
    Sha256 s;
    sha256_init(&s); sha256_update(&s, dst, n * 3); sha256_final(&s, d); hex32(d, hex);
    CHECKF(!strcmp(hex, "cc4c8f3a2064ffaed3776170c4dfa02c90011b02dbc7ece07b7fced54069ad55"), "BGR2HSV: %s", hex);
    const size_t m = 180 * 256 * 256;
    for (size_t i = 0; i < m; i++) { src[3 * i] = (uint8_t)(i >> 16); src[3 * i + 1] = (uint8_t)(i >> 8); src[3 * i + 2] = (uint8_t)i; }
    static const struct { size_t W; const char *sha; } rows[] = {
        {46080, "8b06ccdabf3ce6f0e52f4419b41dd240a23d4a2617e6c76cd2551fd453a4d91a"}, // SIMD blocks only
        {31, "1eb76a2222e1d69ea62c40dc821d42f224b35422d537249ee7ed5ae6211f6df9"},    // scalar tails only
    };
    for (int k = 0; k < 2; k++) {
        size_t W = rows[k].W, nr = m / W;
        for (size_t r = 0; r < nr; r++) augment_cv_hsv2bgr_row(dst + r * W * 3, src + r * W * 3, W, AUGMENT_CV_BLOCK_AVX2);
        sha256_init(&s); sha256_update(&s, dst, nr * W * 3); sha256_final(&s, d); hex32(d, hex);
        CHECKF(!strcmp(hex, rows[k].sha), "HSV2BGR rows of %zu: %s", W, hex);
    }
    free(src);
    free(dst);
}

// kohya's color_aug (AugHelper) with random.seed(7), 60 times on a 45×3 LCG image (45 px
// rows: 32 SIMD pixels + 13 scalar ones), outputs hashed in order; 25 of them changed, and
// the generator then yields random() = 0.9530979255250953.
static void test_color_aug_matches_kohya(void) {
    Image base, img;
    CHECK(image_alloc(&base, 45, 3) == SDL_OK);
    uint64_t st = 12345;
    for (int i = 0; i < 45 * 3 * 3; i++) {
        st = (st * 1103515245u + 12345u) % (1u << 31);
        base.rgb[i] = (uint8_t)((st >> 16) & 255);
    }
    CHECK(image_alloc(&img, 45, 3) == SDL_OK);
    PyRandom r;
    py_random_seed(&r, 7);
    Sha256 s;
    sha256_init(&s);
    int changed = 0;
    for (int k = 0; k < 60; k++) {
        memcpy(img.rgb, base.rgb, 45 * 3 * 3);
        ColorAug c = augment_draw_color(&r, true);
        augment_color_apply(&img, &c, AUGMENT_CV_BLOCK_AVX2);
        changed += memcmp(img.rgb, base.rgb, 45 * 3 * 3) != 0;
        sha256_update(&s, img.rgb, 45 * 3 * 3);
    }
    unsigned char d[32];
    char hex[65];
    sha256_final(&s, d);
    hex32(d, hex);
    CHECK(changed == 25);
    CHECKF(!strcmp(hex, "80551ec3e344ba10b0ae36392abb4232f9ca4d7aa3f1d53d1efd6cb05d20244f"), "color_aug: %s", hex);
    CHECK(py_random_random(&r) == 0.9530979255250953);
    image_free(&base);
    image_free(&img);
}

static void test_draw_statistics(void) {
    PyRandom r;
    py_random_seed(&r, 123);
    int n = 20000, none = 0, hue = 0, gamma = 0, flips = 0;
    bool ranges_ok = true;
    for (int i = 0; i < n; i++) {
        ColorAug c = augment_draw_color(&r, true);
        if (c.kind == COLOR_AUG_NONE) none++;
        else if (c.kind == COLOR_AUG_HUE) {
            hue++;
            ranges_ok &= (c.hue_shift >= 0 && c.hue_shift <= 8) || (c.hue_shift >= 172 && c.hue_shift < 180);
        } else {
            gamma++;
            ranges_ok &= c.gamma >= 0.95 && c.gamma < 1.05;
        }
        flips += augment_draw_flip(&r, true);
    }
    CHECKF(fabs((hue + gamma) / (double)n - 0.33) < 0.015, "augmented %d of %d", hue + gamma, n);
    CHECKF(fabs(hue / (double)(hue + gamma) - 0.5) < 0.03, "hue %d gamma %d", hue, gamma);
    CHECKF(fabs(flips / (double)n - 0.5) < 0.015, "flips %d", flips);
    CHECK(ranges_ok);
    // off → no draw at all (the generator does not move)
    PyRandom a = r, b = r;
    CHECK(!augment_draw_flip(&a, false) && augment_draw_color(&a, false).kind == COLOR_AUG_NONE);
    CHECK(py_random_u32(&a) == py_random_u32(&b));
}

// ---------------------------------------------------------------- datasets on disk

static void make_image(const char *path, int64_t w, int64_t h, unsigned seed) {
    Image img;
    if (image_alloc(&img, w, h) != SDL_OK) abort();
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            seed = seed * 1103515245u + 12345u;
            uint8_t *p = img.rgb + (y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / w);
            p[1] = (uint8_t)((y * 255 / h + (seed >> 28)) & 255);
            p[2] = (uint8_t)(seed >> 24);
        }
    fixture_save_image(&img, path, 90, false);
    image_free(&img);
}

static void write_str(const char *path, const char *s) { fixture_write_text(path, s); }

// <root>/train/3_sks dog: 5 images of several sizes and formats (3 with captions);
// <root>/reg/1_dog: 3 images (loss weight 0.5).
static void make_dataset(const char *root) {
    char p[1024];
    snprintf(p, sizeof p, "%s", root); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/train", root); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/train/3_sks dog", root); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/reg", root); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/reg/1_dog", root); mkdir(p, 0755);
    static const struct { const char *name; int w, h; const char *cap; } t[] = {
        {"a.png", 100, 80, "sks dog, red collar, grass, sitting"}, {"b.jpg", 64, 96, "sks dog, (running:1.5), beach"},
        {"c.webp", 128, 128, NULL}, {"d.png", 90, 70, "sks dog, sleeping, sofa, window, afternoon"}, {"e.png", 70, 90, NULL}};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/train/3_sks dog/%s", root, t[i].name);
        make_image(p, t[i].w, t[i].h, (unsigned)i + 1);
        if (t[i].cap) {
            snprintf(p, sizeof p, "%s/train/3_sks dog/%.1s.txt", root, t[i].name);
            write_str(p, t[i].cap);
        }
    }
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/reg/1_dog/r%d.png", root, i);
        make_image(p, 96, 96, 50u + (unsigned)i);
    }
}

typedef struct {
    bool flip, crop, color, shuffle;
    int64_t batch;
} Aug;

static SdlStatus build(TrainData *d, const char *root, Aug aug) {
    static char td[1024], rd[1024];
    DatasetArgs a;
    dataset_args_default(&a);
    a.ds.has_resolution = true;
    a.ds.resolution[0] = a.ds.resolution[1] = 128;
    a.ds.enable_bucket = true;
    a.ds.min_bucket_reso = 64;
    a.ds.max_bucket_reso = 256;
    a.ds.batch_size = aug.batch ? aug.batch : 2;
    a.prior_loss_weight = 0.5;
    a.sub.caption_extension = ".txt";
    a.sub.flip_aug = aug.flip;
    a.sub.random_crop = aug.crop;
    a.sub.color_aug = aug.color;
    a.sub.shuffle_caption = aug.shuffle;
    a.sub.keep_tokens = aug.shuffle ? 1 : 0;
    snprintf(td, sizeof td, "%s/train", root);
    snprintf(rd, sizeof rd, "%s/reg", root);
    a.train_data_dir = td;
    a.reg_data_dir = rd;
    return train_data_build(d, &a, 2, false, true);
}

static LoaderOptions lopts(int64_t seed) {
    return (LoaderOptions){.seed = seed, .max_train_steps = 1000, .prefetch = 2, .quiet = true};
}

// The image of global id `g` in a one-dataset TrainData.
static const ScanImage *scan_img(const TrainData *d, size_t g) { return &d->parts[0].scan.images[g]; }
static const BucketImage *bucket_img(const TrainData *d, size_t g) { return &d->parts[0].bimg[g]; }

// What sample k of batch b must hold: the preprocessed image, color-augmented and flipped as drawn.
static bool sample_matches(const TrainData *d, const LoaderBatch *b, int64_t k) {
    const BucketImage *bi = bucket_img(d, b->images[k]);
    if (bi->bucket.w != b->width || bi->bucket.h != b->height) return false;
    Image img;
    if (dataset_image_load(&img, scan_img(d, b->images[k])->path, bi->resized, bi->bucket, b->crop_x[k], b->crop_y[k]) != SDL_OK)
        return false;
    augment_color_apply(&img, &b->color_aug[k], AUGMENT_CV_BLOCK_AVX2);
    if (b->flipped[k]) image_flip_horizontal(&img);
    size_t n = 3 * (size_t)b->width * (size_t)b->height;
    float *want = alloc_floats((int64_t)n);
    image_to_tensor(want, &img);
    bool ok = memcmp(want, b->pixels + (size_t)k * n, n * sizeof(float)) == 0;
    free(want);
    image_free(&img);
    return ok;
}

// A hash of everything a batch carries (pixels or latents, ids, captions, draws).
static void batch_sig(const LoaderBatch *b, char out[65]) {
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, &b->B, sizeof b->B);
    sha256_update(&s, &b->width, sizeof b->width);
    if (b->pixels) sha256_update(&s, b->pixels, (size_t)(b->B * 3 * b->width * b->height) * sizeof(float));
    if (b->latents) sha256_update(&s, b->latents, (size_t)(b->B * 4 * (b->width / 8) * (b->height / 8)) * sizeof(float));
    for (int64_t k = 0; k < b->B; k++) {
        sha256_update(&s, b->captions[k], strlen(b->captions[k]) + 1);
        sha256_update(&s, &b->images[k], sizeof b->images[k]);
        sha256_update(&s, &b->flipped[k], sizeof b->flipped[k]);
    }
    sha256_update(&s, b->input_ids, (size_t)b->B * 77 * sizeof(int32_t));
    unsigned char d[32];
    sha256_final(&s, d);
    hex32(d, out);
}

static void test_batches_match_direct_decode(void) {
    char root[512];
    snprintf(root, sizeof root, "%s/plain", tmpdir);
    make_dataset(root);
    TrainData d;
    CHECK(build(&d, root, (Aug){0}) == SDL_OK);
    if (d.n_parts != 1) return;
    Loader *l;
    CHECK(loader_create(&l, &d, &(LoaderOptions){.seed = 42, .prefetch = 2, .quiet = true}) == SDL_OK);
    if (!l) { train_data_free(&d); return; }
    int64_t bpe = loader_batches_per_epoch(l);
    CHECK(bpe == d.total_batches && bpe > 0);
    ClipTokenizer *tok;
    CHECK(clip_tokenizer_load(&tok) == SDL_OK);
    size_t n_img = d.parts[0].scan.n_images;
    int bad_px = 0, bad_cap = 0, bad_ids = 0, bad_w = 0;
    for (int64_t e = 1; e <= 2; e++) {
        int64_t count[16] = {0};
        for (int64_t i = 0; i < bpe; i++) {
            const LoaderBatch *b;
            CHECK(loader_next(l, &b, NULL) == SDL_OK);
            if (!b) break;
            CHECK(b->epoch == e && b->index == i && b->pixels && !b->latents && b->B >= 1 && b->B <= 2);
            for (int64_t k = 0; k < b->B; k++) {
                const ScanImage *im = scan_img(&d, b->images[k]);
                count[b->images[k]]++;
                bad_px += !sample_matches(&d, b, k);
                bad_cap += strcmp(b->captions[k], im->caption) != 0; // no caption options: unchanged
                bad_w += b->loss_weights[k] != (im->is_reg ? 0.5f : 1.0f);
                PromptChunks pc;
                CHECK(prompt_chunks_kohya(tok, im->caption, 0, false, CLIP_EOS_ID, &pc) == SDL_OK);
                bad_ids += memcmp(pc.ids, b->input_ids + k * 77, 77 * sizeof(int32_t)) != 0;
                prompt_chunks_free(&pc);
                CHECK(!b->flipped[k] && b->color_aug[k].kind == COLOR_AUG_NONE);
            }
        }
        // every registered image appears num_repeats times per epoch
        for (size_t g = 0; g < n_img; g++)
            CHECKF(count[g] == scan_img(&d, g)->num_repeats, "epoch %lld image %zu: %lld of %lld", (long long)e, g,
                   (long long)count[g], (long long)scan_img(&d, g)->num_repeats);
    }
    CHECK(bad_px == 0 && bad_cap == 0 && bad_ids == 0 && bad_w == 0);
    CHECK(strcmp(loader_image_path(l, 0), scan_img(&d, 0)->path) == 0);
    clip_tokenizer_free(tok);
    loader_free(l);
    train_data_free(&d);
}

#define SIG_EPOCHS 3
static void record(Loader *l, int64_t n, char (*sig)[65]) {
    for (int64_t i = 0; i < n; i++) {
        const LoaderBatch *b;
        if (loader_next(l, &b, NULL) != SDL_OK) { strcpy(sig[i], "error"); continue; }
        batch_sig(b, sig[i]);
    }
}

static void test_determinism_and_seek(void) {
    char root[512];
    snprintf(root, sizeof root, "%s/aug", tmpdir);
    make_dataset(root);
    TrainData d;
    CHECK(build(&d, root, (Aug){.flip = true, .crop = true, .color = true, .shuffle = true}) == SDL_OK);
    if (d.n_parts != 1) return;
    Loader *l1, *l2, *l3;
    CHECK(loader_create(&l1, &d, &(LoaderOptions){.seed = 7, .quiet = true}) == SDL_OK);
    CHECK(loader_create(&l2, &d, &(LoaderOptions){.seed = 7, .prefetch = 1, .quiet = true}) == SDL_OK);
    CHECK(loader_create(&l3, &d, &(LoaderOptions){.seed = 8, .quiet = true}) == SDL_OK);
    if (!l1 || !l2 || !l3) return;
    int64_t bpe = loader_batches_per_epoch(l1), n = bpe * SIG_EPOCHS;
    char(*a)[65] = calloc((size_t)n, 65), (*b)[65] = calloc((size_t)n, 65), (*c)[65] = calloc((size_t)n, 65);
    record(l1, n, a);
    record(l2, n, b);
    record(l3, n, c);
    int same = 0, same_other_seed = 0;
    for (int64_t i = 0; i < n; i++) { same += !strcmp(a[i], b[i]); same_other_seed += !strcmp(a[i], c[i]); }
    CHECKF(same == n, "two loaders with one seed agree on %d of %lld batches", same, (long long)n);
    CHECKF(same_other_seed < n / 2, "seed 8 reproduces %d of %lld batches of seed 7", same_other_seed, (long long)n);
    // epochs differ from each other (reshuffled, redrawn)
    int same_epoch = 0;
    for (int64_t i = 0; i < bpe; i++) same_epoch += !strcmp(a[i], a[bpe + i]);
    CHECK(same_epoch < bpe);
    // seek into epoch 2 and back to the start: exactly the uninterrupted batches
    int64_t at = bpe + bpe / 2;
    CHECK(loader_seek(l2, 2, bpe / 2) == SDL_OK);
    record(l2, n - at, b);
    int ok = 0;
    for (int64_t i = 0; i < n - at; i++) ok += !strcmp(a[at + i], b[i]);
    CHECKF(ok == n - at, "after seek(2, %lld): %d of %lld batches agree", (long long)(bpe / 2), ok, (long long)(n - at));
    CHECK(loader_seek(l2, 1, 0) == SDL_OK);
    record(l2, bpe, b);
    ok = 0;
    for (int64_t i = 0; i < bpe; i++) ok += !strcmp(a[i], b[i]);
    CHECKF(ok == bpe, "after seek back to (1, 0): %d of %lld agree", ok, (long long)bpe);
    // (1, bpe) is "after epoch 1's last batch": epoch 2, batch 0
    CHECK(loader_seek(l2, 1, bpe) == SDL_OK);
    record(l2, 1, b);
    CHECK(!strcmp(b[0], a[bpe]));
    CHECK(loader_seek(l2, 1, bpe + 1) == SDL_ERR_ARG && loader_seek(l2, 0, 0) == SDL_ERR_ARG);
    free(a); free(b); free(c);
    loader_free(l1); loader_free(l2); loader_free(l3);
    train_data_free(&d);
}

static void test_augmentations_applied_as_drawn(void) {
    char root[512];
    snprintf(root, sizeof root, "%s/aug", tmpdir); // made by the previous test
    TrainData d;
    CHECK(build(&d, root, (Aug){.flip = true, .crop = true, .color = true, .shuffle = true, .batch = 3}) == SDL_OK);
    if (d.n_parts != 1) return;
    Loader *l;
    CHECK(loader_create(&l, &d, &(LoaderOptions){.seed = 3, .quiet = true}) == SDL_OK);
    if (!l) return;
    int n = 0, flips = 0, colored = 0, bad = 0, crop_range = 0, shuffled = 0, kept_first = 0;
    int64_t xs_seen[2] = {-1, -1};
    for (int64_t i = 0; i < 8 * loader_batches_per_epoch(l); i++) {
        const LoaderBatch *b;
        CHECK(loader_next(l, &b, NULL) == SDL_OK);
        if (!b) break;
        for (int64_t k = 0; k < b->B; k++, n++) {
            const BucketImage *bi = bucket_img(&d, b->images[k]);
            const ScanImage *im = scan_img(&d, b->images[k]);
            flips += b->flipped[k];
            colored += b->color_aug[k].kind != COLOR_AUG_NONE;
            bad += !sample_matches(&d, b, k);
            crop_range += b->crop_x[k] < 0 || b->crop_x[k] > bi->resized.w - bi->bucket.w || b->crop_y[k] < 0 ||
                          b->crop_y[k] > bi->resized.h - bi->bucket.h;
            if (strstr(im->path, "/a.png")) { // 160x128 in 128x128: 33 possible x offsets
                if (xs_seen[0] < 0) xs_seen[0] = b->crop_x[k];
                else if (b->crop_x[k] != xs_seen[0]) xs_seen[1] = b->crop_x[k];
            }
            if (strstr(im->path, "/d.png")) { // 5 tags, keep_tokens 1: the first stays, the others move
                shuffled += strcmp(b->captions[k], "sks dog, sleeping, sofa, window, afternoon") != 0;
                kept_first += strncmp(b->captions[k], "sks dog, ", 9) == 0;
            }
        }
    }
    CHECKF(bad == 0, "%d of %d samples differ from decode + crop + color aug + flip as drawn", bad, n);
    CHECK(crop_range == 0 && xs_seen[1] >= 0);
    CHECKF(flips > n * 0.3 && flips < n * 0.7, "flipped %d of %d", flips, n);
    CHECKF(colored > n * 0.15 && colored < n * 0.5, "color-augmented %d of %d", colored, n);
    CHECK(shuffled > 0 && kept_first > 0);
    loader_free(l);
    train_data_free(&d);
}

static void test_prefetch_overlap(void) {
    char root[512];
    snprintf(root, sizeof root, "%s/plain", tmpdir);
    TrainData d;
    CHECK(build(&d, root, (Aug){.batch = 1}) == SDL_OK);
    if (d.n_parts != 1) return;
    Loader *l;
    CHECK(loader_create(&l, &d, &(LoaderOptions){.seed = 1, .prefetch = 3, .quiet = true}) == SDL_OK);
    if (!l) return;
    // a consumer that spends 25 ms per batch (the images take ~1 ms each to prepare)
    double waited = 0, t0 = 0;
    int n = 24;
    for (int i = 0; i < n; i++) {
        const LoaderBatch *b;
        double w;
        CHECK(loader_next(l, &b, &w) == SDL_OK);
        if (i == 0) t0 = time_now(); // the first batch has nothing to overlap with
        else waited += w;
        nanosleep(&(struct timespec){0, 25 * 1000 * 1000}, NULL);
    }
    double total = time_now() - t0;
    CHECKF(waited < 0.05 * total, "waited %.4f s of %.3f s", waited, total);
    loader_free(l);
    train_data_free(&d);
}

static void test_worker_error_propagates(void) {
    char root[512];
    snprintf(root, sizeof root, "%s/vanish", tmpdir);
    make_dataset(root);
    TrainData d;
    CHECK(build(&d, root, (Aug){0}) == SDL_OK);
    if (d.n_parts != 1) return;
    Loader *l;
    CHECK(loader_create(&l, &d, &(LoaderOptions){.seed = 5, .quiet = true}) == SDL_OK);
    if (!l) return;
    char gone[1024];
    snprintf(gone, sizeof gone, "%s/train/3_sks dog/c.webp", root);
    char keep[1100];
    snprintf(keep, sizeof keep, "%s.bak", gone);
    CHECK(rename(gone, keep) == 0);
    SdlStatus st = SDL_OK;
    const LoaderBatch *b;
    for (int64_t i = 0; i < loader_batches_per_epoch(l) && st == SDL_OK; i++) st = loader_next(l, &b, NULL);
    CHECK(st == SDL_ERR_IO);
    CHECKF(strstr(sdl_last_error()->file, "c.webp") != NULL, "error file: %s", sdl_last_error()->file);
    CHECK(loader_next(l, &b, NULL) != SDL_OK); // stays failed
    // the file is back: a seek restarts the worker
    CHECK(rename(keep, gone) == 0);
    CHECK(loader_seek(l, 1, 0) == SDL_OK && loader_next(l, &b, NULL) == SDL_OK);
    loader_free(l);
    train_data_free(&d);
}

// ---- cached latents through the loader (fake VAE: 8×8 pooling) ----
static SdlStatus pool_encode(void *ctx, float *lat, const float *px, int64_t B, int64_t H, int64_t W) {
    int64_t h = H / 8, w = W / 8, hw = H * W;
    for (int64_t b = 0; b < B; b++)
        for (int c = 0; c < 4; c++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) {
                    double s = 0;
                    for (int64_t dy = 0; dy < 8; dy++)
                        for (int64_t dx = 0; dx < 8; dx++)
                            s += px[b * 3 * hw + (c % 3) * hw + (y * 8 + dy) * W + x * 8 + dx];
                    lat[((b * 4 + c) * h + y) * w + x] = (float)(s / 64.0);
                }
    (*(int *)ctx)++;
    return SDL_OK;
}

static void test_cached_latents(void) {
    char root[512];
    snprintf(root, sizeof root, "%s/plain", tmpdir);
    TrainData d;
    CHECK(build(&d, root, (Aug){.flip = true}) == SDL_OK);
    if (d.n_parts != 1) return;
    int calls = 0;
    LoaderOptions o = {.seed = 11, .cache_latents = true, .vae_batch_size = 4, .encode = pool_encode, .encode_ctx = &calls,
                       .quiet = true};
    Loader *l;
    CHECK(loader_create(&l, &d, &o) == SDL_OK);
    if (!l) return;
    CHECK(calls > 0);
    int bad = 0, flips = 0, n = 0;
    for (int64_t i = 0; i < 2 * loader_batches_per_epoch(l); i++) {
        const LoaderBatch *b;
        CHECK(loader_next(l, &b, NULL) == SDL_OK);
        if (!b) break;
        CHECK(b->latents && !b->pixels);
        size_t nl = 4 * (size_t)(b->width / 8) * (size_t)(b->height / 8), np = 3 * (size_t)b->width * (size_t)b->height;
        for (int64_t k = 0; k < b->B; k++, n++) {
            const BucketImage *bi = bucket_img(&d, b->images[k]);
            int64_t x, y;
            bucket_crop_offset(bi->bucket, bi->resized, false, NULL, &x, &y);
            Image img;
            CHECK(dataset_image_load(&img, scan_img(&d, b->images[k])->path, bi->resized, bi->bucket, x, y) == SDL_OK);
            if (b->flipped[k]) image_flip_horizontal(&img);
            flips += b->flipped[k];
            float *px = alloc_floats((int64_t)np), *want = alloc_floats((int64_t)nl);
            image_to_tensor(px, &img);
            int dummy;
            pool_encode(&dummy, want, px, 1, b->height, b->width);
            bad += memcmp(want, b->latents + (size_t)k * nl, nl * sizeof(float)) != 0;
            free(px); free(want);
            image_free(&img);
        }
    }
    CHECK(bad == 0 && flips > 0 && flips < n);
    loader_free(l);
    train_data_free(&d);
    // kohya refuses caching with color_aug or random_crop; so do we
    CHECK(build(&d, root, (Aug){.color = true}) == SDL_OK);
    CHECK(loader_create(&l, &d, &o) == SDL_ERR_ARG && l == NULL);
    CHECK(strstr(sdl_last_error()->reason, "color_aug") != NULL);
    train_data_free(&d);
}

static void test_tokens_weighted_and_long(void) {
    char root[512];
    snprintf(root, sizeof root, "%s/plain", tmpdir);
    TrainData d;
    CHECK(build(&d, root, (Aug){0}) == SDL_OK);
    if (d.n_parts != 1) return;
    Loader *l;
    CHECK(loader_create(&l, &d, &(LoaderOptions){.seed = 2, .weighted_captions = true, .max_token_length = 150, .quiet = true}) == SDL_OK);
    if (!l) return;
    ClipTokenizer *tok;
    CHECK(clip_tokenizer_load(&tok) == SDL_OK);
    int found = 0;
    for (int64_t i = 0; i < loader_batches_per_epoch(l); i++) {
        const LoaderBatch *b;
        CHECK(loader_next(l, &b, NULL) == SDL_OK);
        if (!b) break;
        CHECK(b->token_weights != NULL);
        for (int64_t k = 0; k < b->B; k++) {
            PromptChunks pc;
            CHECK(prompt_chunks_kohya(tok, b->captions[k], 150, true, CLIP_EOS_ID, &pc) == SDL_OK);
            CHECK(pc.n_chunks == 2);
            CHECK(memcmp(pc.ids, b->input_ids + k * 154, 154 * sizeof(int32_t)) == 0);
            CHECK(memcmp(pc.weights, b->token_weights + k * 154, 154 * sizeof(float)) == 0);
            if (strstr(b->captions[k], "(running:1.5)")) {
                bool has = false;
                for (int j = 0; j < 154; j++) has |= b->token_weights[k * 154 + j] == 1.5f;
                found += has;
            }
            prompt_chunks_free(&pc);
        }
    }
    CHECK(found == 3); // b.jpg x 3 repeats
    clip_tokenizer_free(tok);
    loader_free(l);
    LoaderOptions bad = lopts(1);
    bad.max_token_length = 100;
    CHECK(loader_create(&l, &d, &bad) == SDL_ERR_ARG);
    train_data_free(&d);
}

int main(void) {
    log_set_level(LOG_ERROR);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sdlora-test-loader-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_opencv_hsv_exact);
    RUN(test_color_aug_matches_kohya);
    RUN(test_draw_statistics);
    RUN(test_batches_match_direct_decode);
    RUN(test_determinism_and_seek);
    RUN(test_augmentations_applied_as_drawn);
    RUN(test_prefetch_overlap);
    RUN(test_worker_error_propagates);
    RUN(test_cached_latents);
    RUN(test_tokens_weighted_and_long);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish();
}
