// test_latent_cache.c — the latent cache on real images with a fake VAE (8×8 average pooling
// of R, G, B and their mean into 4 channels): values equal the pooled preprocessed image (and
// its mirror for flip_aug), batches hold one bucket and at most vae_batch_size images, memory
// mode writes nothing; disk mode: miss → files with the documented names, hit → no encoding,
// edited image / other VAE → stale, truncated / damaged / foreign file → corrupt (rebuilt),
// skip_check trusts files, a file deleted mid-run is an error naming it, NaN latents fail.
#include "harness.h"
#include "fixtures.h"
#include "base/error.h"
#include "base/log.h"
#include "data/dataset.h"
#include "data/latent_cache.h"
#include "io/image.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void make_image(const char *path, int64_t w, int64_t h, unsigned seed) {
    Image img;
    if (image_alloc(&img, w, h) != SDL_OK) abort();
    for (int64_t i = 0; i < w * h * 3; i++) {
        seed = seed * 1103515245u + 12345u;
        img.rgb[i] = (uint8_t)((i % 3 == 0 ? (i / 3 % w) * 255 / w : 0) + (seed >> 27));
    }
    fixture_save_image(&img, path, 92, true);
    image_free(&img);
}

// ---- the fake VAE ----
typedef struct {
    int calls, images;
    int64_t max_B;
    bool mixed;        // a call whose size differs from what the items in it need (never)
    bool nan;          // produce NaN
    int64_t f;         // pooling size (0: 8)
} FakeVae;

static int64_t g_f = 8; // pooling size the expected values are computed with

static void pool_f(float *lat, const float *px, int64_t H, int64_t W, int64_t f) {
    const int64_t h = H / f, w = W / f, hw = H * W;
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            double s[3] = {0, 0, 0};
            for (int c = 0; c < 3; c++)
                for (int64_t dy = 0; dy < f; dy++)
                    for (int64_t dx = 0; dx < f; dx++) s[c] += px[c * hw + (y * f + dy) * W + x * f + dx];
            for (int c = 0; c < 3; c++) lat[(c * h + y) * w + x] = (float)(s[c] / (double)(f * f));
            lat[(3 * h + y) * w + x] = (float)((s[0] + s[1] + s[2]) / (double)(3 * f * f));
        }
}
static void pool(float *lat, const float *px, int64_t H, int64_t W) { pool_f(lat, px, H, W, g_f); }

static SdlStatus fake_encode(void *ctx, float *lat, const float *px, int64_t B, int64_t H, int64_t W) {
    FakeVae *v = ctx;
    v->calls++;
    v->images += (int)B;
    if (B > v->max_B) v->max_B = B;
    int64_t f = v->f ? v->f : 8;
    for (int64_t b = 0; b < B; b++) pool_f(lat + b * 4 * (H / f) * (W / f), px + b * 3 * H * W, H, W, f);
    if (v->nan) lat[0] = NAN;
    return SDL_OK;
}

// The expected latents of an item: pool(preprocessed image, mirrored if flipped).
static float *expected(const LatentCacheItem *it, bool flipped) {
    Image img;
    int64_t x, y;
    bucket_crop_offset(it->bucket, it->resized, false, NULL, &x, &y);
    if (dataset_image_load(&img, it->path, it->resized, it->bucket, x, y) != SDL_OK) return NULL;
    if (flipped) image_flip_horizontal(&img);
    float *px = alloc_floats(3 * img.width * img.height), *lat = alloc_floats(4 * (img.width / g_f) * (img.height / g_f));
    image_to_tensor(px, &img);
    pool(lat, px, img.height, img.width);
    free(px);
    image_free(&img);
    return lat;
}

#define N_ITEMS 5
static char paths[N_ITEMS][1100];
static LatentCacheItem items[N_ITEMS];

static void make_items(const char *sub) {
    char d[512];
    snprintf(d, sizeof d, "%s/%s", tmpdir, sub);
    mkdir(d, 0755);
    static const char *names[N_ITEMS] = {"a.png", "b.jpg", "c.webp", "d.png", "e.png"};
    static const int64_t wh[N_ITEMS][2] = {{100, 80}, {64, 96}, {128, 128}, {90, 70}, {70, 90}};
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", d, names[i]);
        make_image(paths[i], wh[i][0], wh[i][1], (unsigned)i + 1);
        LatentCacheItem *it = &items[i];
        it->path = paths[i];
        it->width = wh[i][0];
        it->height = wh[i][1];
        // two buckets: 64x64 (square-ish) and 64x128 (tall), resized to cover them
        bool tall = wh[i][1] > wh[i][0];
        it->bucket = tall ? (Reso){64, 128} : (Reso){64, 64};
        double s = tall ? 64.0 / (double)wh[i][0] : 64.0 / (double)(wh[i][0] < wh[i][1] ? wh[i][0] : wh[i][1]);
        if (tall && wh[i][1] * s < 128) s = 128.0 / (double)wh[i][1];
        it->resized = (Reso){(int64_t)(wh[i][0] * s + 0.5), (int64_t)(wh[i][1] * s + 0.5)};
        it->flip = i % 2 == 0;
    }
}

static LatentCacheOptions opts(FakeVae *v, bool disk) {
    return (LatentCacheOptions){.to_disk = disk, .vae_id = "vae-A", .vae_batch_size = 2, .encode = fake_encode,
                                .encode_ctx = v, .threads = 2, .quiet = true};
}

static bool file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void check_values(LatentCache *c) {
    for (int i = 0; i < N_ITEMS; i++)
        for (int f = 0; f < (items[i].flip ? 2 : 1); f++) {
            int64_t n = 4 * (items[i].bucket.w / g_f) * (items[i].bucket.h / g_f);
            float *got = alloc_floats(n), *want = expected(&items[i], f);
            CHECKF(latent_cache_get(c, (size_t)i, f, got) == SDL_OK, "item %d", i);
            CHECKF(want && max_abs_diff(got, want, n) == 0, "item %d flipped %d differs", i, f);
            free(got);
            free(want);
        }
}

static void test_memory_mode(void) {
    make_items("mem");
    FakeVae v = {0};
    LatentCacheOptions o = opts(&v, false);
    LatentCache *c;
    CHECK(latent_cache_build(&c, items, N_ITEMS, &o) == SDL_OK);
    if (!c) return;
    // 5 images, 3 with flip: 8 encodes; batches of <= 2 within one bucket and flip flag
    CHECK(v.images == 8 && v.max_B <= 2);
    LatentCacheStats s = latent_cache_stats(c);
    CHECK(s.built == N_ITEMS && s.hit == 0);
    check_values(c);
    float buf[4 * 8 * 16];
    CHECK(latent_cache_get(c, 1, true, buf) == SDL_ERR_ARG); // b.jpg has no flip
    char p[1024];
    CHECK(latent_cache_file_path(p, sizeof p, items[0].path, items[0].bucket, NULL) == SDL_OK);
    CHECK(!file_exists(p)); // memory mode writes nothing
    latent_cache_free(c);
}

static void corrupt_byte(const char *p, long off) {
    FILE *f = fopen(p, "r+b");
    fseek(f, off, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(ch ^ 0x5a, f);
    fclose(f);
}

static void test_disk_hit_miss_stale_corrupt(void) {
    make_items("disk");
    FakeVae v = {0};
    LatentCacheOptions o = opts(&v, true);
    LatentCache *c;
    // 1. miss: everything encoded, one file per image named <image>.<W>x<H>.sdlatent
    CHECK(latent_cache_build(&c, items, N_ITEMS, &o) == SDL_OK);
    if (!c) return;
    CHECK(latent_cache_stats(c).built == N_ITEMS && v.images == 8);
    char f[N_ITEMS][1024];
    for (int i = 0; i < N_ITEMS; i++) {
        CHECK(latent_cache_file_path(f[i], sizeof f[i], items[i].path, items[i].bucket, NULL) == SDL_OK);
        CHECK(file_exists(f[i]));
    }
    CHECK(strstr(f[1], "/b.jpg.64x128.sdlatent") != NULL);
    check_values(c);
    latent_cache_free(c);
    // 2. hit: nothing encoded, same values read back from the files
    v = (FakeVae){0};
    CHECK(latent_cache_build(&c, items, N_ITEMS, &o) == SDL_OK);
    if (!c) return;
    LatentCacheStats s = latent_cache_stats(c);
    CHECK(s.hit == N_ITEMS && s.built == 0 && v.calls == 0);
    check_values(c);
    latent_cache_free(c);
    // 3. stale (image edited), corrupt (truncated; damaged payload; foreign file)
    make_image(paths[0], 100, 80, 99);
    FILE *t = fopen(f[1], "r+b");
    CHECK(ftruncate(fileno(t), 300) == 0);
    fclose(t);
    corrupt_byte(f[2], 500);
    FILE *g = fopen(f[3], "wb");
    fputs("not a cache file at all, but long enough to have a header of sorts ..............................."
          ".....................................................................................", g);
    fclose(g);
    v = (FakeVae){0};
    log_set_level(LOG_ERROR); // the corrupt-file warnings are expected here
    CHECK(latent_cache_build(&c, items, N_ITEMS, &o) == SDL_OK);
    if (!c) return;
    s = latent_cache_stats(c);
    CHECKF(s.hit == 1 && s.built == 4 && s.stale == 1 && s.corrupt == 3, "hit %zu built %zu stale %zu corrupt %zu", s.hit,
           s.built, s.stale, s.corrupt);
    check_values(c); // the edited image's new content is what is cached now
    latent_cache_free(c);
    // 4. another VAE: every file stale
    o.vae_id = "vae-B";
    CHECK(latent_cache_build(&c, items, N_ITEMS, &o) == SDL_OK);
    if (!c) return;
    s = latent_cache_stats(c);
    CHECK(s.stale == N_ITEMS && s.built == N_ITEMS);
    latent_cache_free(c);
    // 5. skip_check trusts a file whose key fields fit, even after the image changed
    o.skip_check = true;
    make_image(paths[4], 70, 90, 1234);
    v = (FakeVae){0};
    CHECK(latent_cache_build(&c, items, N_ITEMS, &o) == SDL_OK);
    if (!c) return;
    CHECK(latent_cache_stats(c).hit == N_ITEMS && v.calls == 0);
    latent_cache_free(c);
    o.skip_check = false;
    // 6. a file deleted during training: the error names it
    CHECK(latent_cache_build(&c, items, N_ITEMS, &o) == SDL_OK);
    if (!c) return;
    unlink(f[3]);
    float buf[4 * 8 * 16];
    CHECK(latent_cache_get(c, 3, false, buf) == SDL_ERR_FORMAT);
    CHECK(strstr(sdl_last_error()->file, "d.png.64x64.sdlatent") != NULL);
    latent_cache_free(c);
}

static void test_cache_dir_and_errors(void) {
    make_items("cdir");
    char cd[512];
    snprintf(cd, sizeof cd, "%s/cache", tmpdir);
    mkdir(cd, 0755);
    FakeVae v = {0};
    LatentCacheOptions o = opts(&v, true);
    o.cache_dir = cd;
    LatentCache *c;
    CHECK(latent_cache_build(&c, items, N_ITEMS, &o) == SDL_OK);
    if (c) {
        char p[1024];
        CHECK(latent_cache_file_path(p, sizeof p, items[0].path, items[0].bucket, cd) == SDL_OK);
        CHECK(strncmp(p, cd, strlen(cd)) == 0 && strstr(p, "/a-") && strstr(p, ".64x64.sdlatent") && file_exists(p));
        char next[1024];
        snprintf(next, sizeof next, "%s.64x64.sdlatent", items[0].path);
        CHECK(!file_exists(next));
        check_values(c);
        latent_cache_free(c);
    }
    // a VAE with another downscale factor (test models): latents (4, H/4, W/4)
    v = (FakeVae){.f = 4};
    o.cache_dir = NULL;
    o.to_disk = false;
    o.downscale = 4;
    g_f = 4;
    CHECK(latent_cache_build(&c, items, N_ITEMS, &o) == SDL_OK);
    if (c) { check_values(c); latent_cache_free(c); }
    g_f = 8;
    o.downscale = 0;
    // NaN from the VAE names the image
    v = (FakeVae){.nan = true};
    o.cache_dir = NULL;
    o.to_disk = false;
    CHECK(latent_cache_build(&c, items, N_ITEMS, &o) == SDL_ERR_NUMERIC && c == NULL);
    CHECK(strstr(sdl_last_error()->file, tmpdir) != NULL);
    // a bucket that is no multiple of 8 cannot have latents
    LatentCacheItem bad = items[0];
    bad.bucket = (Reso){60, 64};
    v = (FakeVae){0};
    CHECK(latent_cache_build(&c, &bad, 1, &o) == SDL_ERR_ARG && v.calls == 0);
}

int main(void) {
    log_set_level(LOG_ERROR);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sdlora-test-latent-cache-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_memory_mode);
    RUN(test_disk_hit_miss_stale_corrupt);
    RUN(test_cache_dir_and_errors);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish();
}
