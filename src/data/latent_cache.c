// latent_cache.c — see latent_cache.h. Build order: (disk mode) check every item's file on
// `threads` threads — hashing the image bytes, reading the header, verifying the CRC — then
// encode the missing/stale/corrupt ones in same-bucket batches (decode on threads, encode on
// the caller's thread), then write each file atomically.
#include "data/latent_cache.h"
#include "base/atomic_file.h"
#include "base/file.h"
#include "base/log.h"
#include "data/dataset.h"
#include "io/image.h"
#include "lora/sha256.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the latent cache format is little-endian and written in host order"
#endif

#define HEADER_BYTES 176
static const char MAGIC[8] = {'S', 'D', 'L', 'L', 'A', 'T', 'N', 'T'};

typedef struct {
    unsigned char image_sha[32], vae_sha[32];
    int64_t geo[8];           // original w, h; bucket w, h; resized w, h; crop x, y
    uint32_t channels, lh, lw, flags;
} CacheKey;

struct LatentCache {
    LatentCacheItem *items;   // copy (paths borrowed)
    size_t n;
    bool to_disk, skip_check;
    int64_t channels, f;      // latent channels, downscale factor
    CacheKey *keys;           // per item
    char **files;             // disk: per item cache file path
    float **mem;              // per item: latents (then flipped ones), or NULL when on disk
    LatentCacheStats stats;
};

static SdlStatus oom(void) { return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory"); }

static size_t latent_floats(const LatentCache *c, const LatentCacheItem *it) {
    return (size_t)c->channels * (size_t)(it->bucket.h / c->f) * (size_t)(it->bucket.w / c->f);
}

SdlStatus latent_cache_file_path(char *buf, size_t cap, const char *image_path, Reso bucket, const char *cache_dir) {
    int w;
    if (!cache_dir) {
        w = snprintf(buf, cap, "%s.%lldx%lld.sdlatent", image_path, (long long)bucket.w, (long long)bucket.h);
    } else {
        // the absolute path tells apart two a.png in different folders
        char abs[PATH_MAX], hex[65];
        const char *src = realpath(image_path, abs) ? abs : image_path;
        sha256_hex(src, strlen(src), hex);
        const char *base = strrchr(image_path, '/');
        base = base ? base + 1 : image_path;
        const char *dot = strrchr(base, '.');
        int stem = dot && dot > base ? (int)(dot - base) : (int)strlen(base);
        w = snprintf(buf, cap, "%s/%.*s-%.16s.%lldx%lld.sdlatent", cache_dir, stem, base, hex, (long long)bucket.w,
                     (long long)bucket.h);
    }
    if (w < 0 || (size_t)w >= cap) return sdl_fail(SDL_ERR_ARG, image_path, NULL, "latent cache file name too long");
    return SDL_OK;
}

static void header_pack(unsigned char h[HEADER_BYTES], const CacheKey *k) {
    memset(h, 0, HEADER_BYTES);
    uint32_t u[8] = {LATENT_CACHE_VERSION, HEADER_BYTES, k->channels, k->lh, k->lw, k->flags, LATENT_PREPROCESS_VERSION, 0};
    memcpy(h, MAGIC, 8);
    memcpy(h + 8, &u[0], 4);
    memcpy(h + 12, &u[1], 4);
    memcpy(h + 16, k->image_sha, 32);
    memcpy(h + 48, k->vae_sha, 32);
    memcpy(h + 80, k->geo, 64);
    memcpy(h + 144, &u[2], 16); // channels, lh, lw, flags
    memcpy(h + 160, &u[6], 8);  // preprocessing version, dtype
}

typedef enum { CF_OK, CF_MISSING, CF_STALE, CF_CORRUPT } FileState;

// Reads and checks one cache file against `want`. lat (may be NULL) receives the latents
// (flipped ones if `flipped`). why gets the reason for STALE/CORRUPT.
static FileState file_check(const char *path, const CacheKey *want, bool check_image, bool check_crc, float *lat,
                            bool flipped, char *why, size_t why_cap) {
    why[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return CF_MISSING;
        snprintf(why, why_cap, "cannot open: %s", strerror(errno));
        return CF_CORRUPT;
    }
    FileState st = CF_CORRUPT;
    unsigned char h[HEADER_BYTES];
    unsigned char *buf = NULL;
    uint32_t u32[8];
    size_t nlat = (size_t)want->channels * want->lh * want->lw;
    size_t expect = HEADER_BYTES + nlat * sizeof(float) * ((want->flags & 1) ? 2 : 1) + 4;
    if (fread(h, 1, HEADER_BYTES, f) != HEADER_BYTES) { snprintf(why, why_cap, "truncated header"); goto done; }
    if (memcmp(h, MAGIC, 8) != 0) { snprintf(why, why_cap, "not an sdlora latent cache file (bad magic)"); goto done; }
    memcpy(&u32[0], h + 8, 4);
    memcpy(&u32[1], h + 12, 4);
    memcpy(&u32[2], h + 144, 24);
    if (u32[0] != LATENT_CACHE_VERSION) { st = CF_STALE; snprintf(why, why_cap, "format version %u", u32[0]); goto done; }
    if (u32[1] != HEADER_BYTES) { snprintf(why, why_cap, "bad header size %u", u32[1]); goto done; }
    bool same = u32[2] == want->channels && u32[3] == want->lh && u32[4] == want->lw && u32[5] == want->flags &&
                u32[6] == LATENT_PREPROCESS_VERSION && u32[7] == 0 && memcmp(h + 48, want->vae_sha, 32) == 0 &&
                memcmp(h + 80, want->geo, 64) == 0 && (!check_image || memcmp(h + 16, want->image_sha, 32) == 0);
    if (!same) { st = CF_STALE; snprintf(why, why_cap, "made for another image content, VAE or bucket"); goto done; }
    if (fseek(f, 0, SEEK_END) != 0 || ftell(f) != (long)expect) {
        snprintf(why, why_cap, "truncated or padded: %ld bytes, expected %zu", ftell(f), expect);
        goto done;
    }
    if (!check_crc && !lat) { st = CF_OK; goto done; }
    buf = malloc(expect);
    if (!buf) { snprintf(why, why_cap, "out of memory"); goto done; }
    rewind(f);
    if (fread(buf, 1, expect, f) != expect) { snprintf(why, why_cap, "read error"); goto done; }
    if (check_crc) {
        uint32_t stored, crc = (uint32_t)crc32(0L, buf, (uInt)(expect - 4));
        memcpy(&stored, buf + expect - 4, 4);
        if (crc != stored) { snprintf(why, why_cap, "CRC mismatch (damaged data)"); goto done; }
    }
    if (lat) memcpy(lat, buf + HEADER_BYTES + (flipped ? nlat * sizeof(float) : 0), nlat * sizeof(float));
    st = CF_OK;
done:
    free(buf);
    fclose(f);
    return st;
}

static SdlStatus file_write(const char *path, const CacheKey *k, const float *lat, const float *lat_flip) {
    unsigned char h[HEADER_BYTES];
    header_pack(h, k);
    size_t nlat = (size_t)k->channels * k->lh * k->lw;
    AtomicFile af;
    SDL_TRY(atomic_open(&af, path));
    uLong crc = crc32(0L, h, HEADER_BYTES);
    crc = crc32(crc, (const Bytef *)lat, (uInt)(nlat * sizeof(float)));
    bool ok = fwrite(h, 1, HEADER_BYTES, af.fp) == HEADER_BYTES && fwrite(lat, sizeof(float), nlat, af.fp) == nlat;
    if (lat_flip) {
        crc = crc32(crc, (const Bytef *)lat_flip, (uInt)(nlat * sizeof(float)));
        ok = ok && fwrite(lat_flip, sizeof(float), nlat, af.fp) == nlat;
    }
    uint32_t c32 = (uint32_t)crc;
    ok = ok && fwrite(&c32, 4, 1, af.fp) == 1;
    if (!ok) {
        atomic_abort(&af);
        return sdl_fail(SDL_ERR_IO, path, "check free disk space", "cannot write the latent cache file: %s", strerror(errno));
    }
    return atomic_commit(&af);
}

// sha256 of a whole file (mapped).
static SdlStatus hash_file(const char *path, unsigned char out[32]) {
    void *map;
    size_t size;
    SDL_TRY(file_map_readonly(path, "an image", &map, &size));
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, map, size);
    sha256_final(&s, out);
    munmap(map, size);
    return SDL_OK;
}

// Item order for encoding: kohya sorts by bucket area; same bucket and flip flag batch together.
typedef struct {
    int64_t area, w;
    int flip;
    size_t i;
} SortKey;

static int key_cmp(const void *a, const void *b) {
    const SortKey *x = a, *y = b;
    if (x->area != y->area) return x->area < y->area ? -1 : 1;
    if (x->w != y->w) return x->w < y->w ? -1 : 1;
    if (x->flip != y->flip) return x->flip < y->flip ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static void sort_by_bucket(size_t *idx, size_t n, const LatentCacheItem *items) {
    SortKey *k = malloc((n ? n : 1) * sizeof *k);
    if (!k) return; // unsorted still encodes correctly, in smaller batches
    for (size_t t = 0; t < n; t++) {
        const LatentCacheItem *it = &items[idx[t]];
        k[t] = (SortKey){it->bucket.w * it->bucket.h, it->bucket.w, it->flip, idx[t]};
    }
    qsort(k, n, sizeof *k, key_cmp);
    for (size_t t = 0; t < n; t++) idx[t] = k[t].i;
    free(k);
}

static void progress(size_t done, size_t total, bool tty) {
    if (!tty) return;
    int bar = total ? (int)(30 * done / total) : 30;
    fprintf(stderr, "\rcaching latents [%.*s%*s] %zu/%zu", bar, "##############################", 30 - bar, "", done, total);
    if (done == total) fputc('\n', stderr);
}

// (3, H, W) → mirrored along W, in place.
static void flip_chw(float *x, int64_t H, int64_t W) {
    for (int64_t r = 0; r < 3 * H; r++) {
        float *row = x + r * W;
        for (int64_t a = 0, b = W - 1; a < b; a++, b--) { float t = row[a]; row[a] = row[b]; row[b] = t; }
    }
}

static bool has_nan(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isnan(x[i])) return true;
    return false;
}

// Stores item i's latents: file (disk) or RAM (memory, or a file that cannot be written).
static SdlStatus store(LatentCache *c, size_t i, const float *lat, const float *lat_flip) {
    size_t nlat = latent_floats(c, &c->items[i]);
    if (c->to_disk) {
        if (file_write(c->files[i], &c->keys[i], lat, lat_flip) == SDL_OK) return SDL_OK;
        if (c->stats.in_memory++ == 0)
            log_warn("cannot write latent cache files (%s: %s); keeping them in memory for this run", c->files[i],
                     sdl_last_error()->reason);
    }
    float *m = malloc(nlat * sizeof(float) * (lat_flip ? 2 : 1));
    if (!m) return oom();
    memcpy(m, lat, nlat * sizeof(float));
    if (lat_flip) memcpy(m + nlat, lat_flip, nlat * sizeof(float));
    c->mem[i] = m;
    return SDL_OK;
}

// Encodes items idx[0..B) (same bucket and flip flag).
static SdlStatus encode_batch(LatentCache *c, const LatentCacheOptions *o, const size_t *idx, int64_t B, float *pixels,
                              float *lat, float *lat_flip) {
    const LatentCacheItem *it0 = &c->items[idx[0]];
    const int64_t H = it0->bucket.h, W = it0->bucket.w;
    const size_t plane = 3 * (size_t)H * (size_t)W, nlat = latent_floats(c, it0);
    SdlError *errs = calloc((size_t)B, sizeof *errs);
    if (!errs) return oom();
    int threads = o->threads > 0 ? o->threads : 1;
    (void)threads; // unused without OpenMP (NO_OMP=1)
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t b = 0; b < B; b++) {
        size_t i = idx[b];
        const LatentCacheItem *it = &c->items[i];
        void *map = NULL;
        size_t size = 0;
        Image img = {0};
        SdlStatus st = file_map_readonly(it->path, "an image", &map, &size);
        if (st == SDL_OK) {
            if (c->to_disk && c->skip_check) { // not hashed during the check: the header needs it
                Sha256 s;
                sha256_init(&s);
                sha256_update(&s, map, size);
                sha256_final(&s, c->keys[i].image_sha);
            }
            int64_t x, y;
            bucket_crop_offset(it->bucket, it->resized, false, NULL, &x, &y);
            st = dataset_image_decode(&img, map, size, it->path, it->resized, it->bucket, x, y);
            munmap(map, size);
        }
        if (st == SDL_OK) image_to_tensor(pixels + (size_t)b * plane, &img);
        else errs[b] = *sdl_last_error();
        image_free(&img);
    }
    for (int64_t b = 0; b < B; b++)
        if (errs[b].status != SDL_OK) {
            SdlError e = errs[b];
            free(errs);
            return sdl_fail(e.status, e.file, e.hint[0] ? e.hint : NULL, "%s", e.reason);
        }
    free(errs);
    SDL_TRY(o->encode(o->encode_ctx, lat, pixels, B, H, W));
    if (it0->flip) {
        for (int64_t b = 0; b < B; b++) flip_chw(pixels + (size_t)b * plane, H, W);
        SDL_TRY(o->encode(o->encode_ctx, lat_flip, pixels, B, H, W));
    }
    for (int64_t b = 0; b < B; b++) {
        const float *l = lat + (size_t)b * nlat, *lf = it0->flip ? lat_flip + (size_t)b * nlat : NULL;
        if (has_nan(l, nlat) || (lf && has_nan(lf, nlat)))
            return sdl_fail(SDL_ERR_NUMERIC, c->items[idx[b]].path, "the VAE weights may be damaged: try another VAE (--vae)",
                            "the VAE produced NaN latents for this image");
        SDL_TRY(store(c, idx[b], l, lf));
    }
    return SDL_OK;
}

SdlStatus latent_cache_build(LatentCache **out, const LatentCacheItem *items, size_t n, const LatentCacheOptions *o) {
    *out = NULL;
    if (!o->encode) return sdl_fail(SDL_ERR_ARG, NULL, NULL, "latent caching needs an encoder");
    LatentCache *c = calloc(1, sizeof *c);
    if (!c) return oom();
    c->n = n;
    c->to_disk = o->to_disk;
    c->skip_check = o->skip_check;
    c->channels = o->channels > 0 ? o->channels : LATENT_CHANNELS;
    c->f = o->downscale > 0 ? o->downscale : LATENT_DOWNSCALE;
    c->items = malloc((n ? n : 1) * sizeof *c->items);
    c->keys = calloc(n ? n : 1, sizeof *c->keys);
    c->mem = calloc(n ? n : 1, sizeof *c->mem);
    c->files = calloc(n ? n : 1, sizeof *c->files);
    FileState *state = calloc(n ? n : 1, sizeof *state);
    char (*why)[160] = calloc(n ? n : 1, sizeof *why);
    SdlError *errs = calloc(n ? n : 1, sizeof *errs);
    size_t *todo = malloc((n ? n : 1) * sizeof *todo);
    float *pixels = NULL, *lat = NULL, *lat_flip = NULL;
    SdlStatus st = SDL_OK;
    if (!c->items || !c->keys || !c->mem || !c->files || !state || !why || !errs || !todo) { st = oom(); goto done; }
    memcpy(c->items, items, n * sizeof *items);
    unsigned char vae_sha[32];
    {
        Sha256 s;
        sha256_init(&s);
        const char *id = o->vae_id ? o->vae_id : "";
        sha256_update(&s, id, strlen(id));
        sha256_final(&s, vae_sha);
    }
    for (size_t i = 0; i < n; i++) {
        const LatentCacheItem *it = &items[i];
        if (it->bucket.w % c->f || it->bucket.h % c->f || it->bucket.w <= 0 || it->bucket.h <= 0) {
            st = sdl_fail(SDL_ERR_ARG, it->path, "use a resolution and bucket_reso_steps that are multiples of 8",
                          "bucket %lldx%lld is not a multiple of %lld: no latent size", (long long)it->bucket.w,
                          (long long)it->bucket.h, (long long)c->f);
            goto done;
        }
        CacheKey *k = &c->keys[i];
        memcpy(k->vae_sha, vae_sha, 32);
        int64_t x, y;
        bucket_crop_offset(it->bucket, it->resized, false, NULL, &x, &y);
        int64_t geo[8] = {it->width, it->height, it->bucket.w, it->bucket.h, it->resized.w, it->resized.h, x, y};
        memcpy(k->geo, geo, sizeof geo);
        k->channels = (uint32_t)c->channels;
        k->lh = (uint32_t)(it->bucket.h / c->f);
        k->lw = (uint32_t)(it->bucket.w / c->f);
        k->flags = it->flip ? 1u : 0u;
        state[i] = CF_MISSING;
        if (o->to_disk) {
            char p[4096];
            if ((st = latent_cache_file_path(p, sizeof p, it->path, it->bucket, o->cache_dir)) != SDL_OK) goto done;
            if (!(c->files[i] = strdup(p))) { st = oom(); goto done; }
        }
    }
    bool tty = !o->quiet && isatty(STDERR_FILENO);
    // 1. disk: which files are valid (hash the image, read the header, verify the CRC)
    if (o->to_disk) {
        int threads = o->threads > 0 ? o->threads : 1;
        (void)threads; // unused without OpenMP (NO_OMP=1)
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
        for (size_t i = 0; i < n; i++) {
            if (!o->skip_check && hash_file(items[i].path, c->keys[i].image_sha) != SDL_OK) {
                errs[i] = *sdl_last_error();
                continue;
            }
            state[i] = file_check(c->files[i], &c->keys[i], !o->skip_check, !o->skip_check, NULL, false, why[i], sizeof why[i]);
        }
        for (size_t i = 0; i < n; i++)
            if (errs[i].status != SDL_OK) {
                st = sdl_fail(errs[i].status, errs[i].file, errs[i].hint[0] ? errs[i].hint : NULL, "%s", errs[i].reason);
                goto done;
            }
    }
    size_t n_todo = 0;
    for (size_t i = 0; i < n; i++) {
        switch (state[i]) {
        case CF_OK: c->stats.hit++; continue;
        case CF_STALE: c->stats.stale++; log_debug("latent cache file is stale (%s), rebuilding: %s", why[i], c->files[i]); break;
        case CF_CORRUPT: c->stats.corrupt++; log_warn("latent cache file is corrupt or truncated (%s), rebuilding: %s", why[i], c->files[i]); break;
        case CF_MISSING: break;
        }
        todo[n_todo++] = i;
    }
    // 2. encode what is missing, sorted by bucket, in batches of vae_batch_size
    sort_by_bucket(todo, n_todo, items);
    int64_t vbs = o->vae_batch_size > 0 ? o->vae_batch_size : 1;
    size_t max_plane = 0;
    for (size_t t = 0; t < n_todo; t++) {
        size_t p = 3 * (size_t)items[todo[t]].bucket.w * (size_t)items[todo[t]].bucket.h;
        if (p > max_plane) max_plane = p;
    }
    if (n_todo) {
        pixels = malloc(max_plane * (size_t)vbs * sizeof *pixels);
        size_t max_lat = max_plane / 3 / (size_t)(c->f * c->f) * (size_t)c->channels * (size_t)vbs;
        lat = malloc(max_lat * sizeof *lat);
        lat_flip = malloc(max_lat * sizeof *lat_flip);
        if (!pixels || !lat || !lat_flip) { st = oom(); goto done; }
    }
    if (!o->quiet && !tty && n_todo) fprintf(stderr, "caching latents of %zu image(s)...\n", n_todo);
    progress(0, n_todo, tty && n_todo);
    for (size_t t = 0; t < n_todo;) {
        const LatentCacheItem *a = &items[todo[t]];
        int64_t B = 1;
        while (t + (size_t)B < n_todo && B < vbs) {
            const LatentCacheItem *b = &items[todo[t + (size_t)B]];
            if (b->bucket.w != a->bucket.w || b->bucket.h != a->bucket.h || b->flip != a->flip) break;
            B++;
        }
        if ((st = encode_batch(c, o, todo + t, B, pixels, lat, lat_flip)) != SDL_OK) goto done;
        t += (size_t)B;
        c->stats.built += (size_t)B;
        progress(t, n_todo, tty);
    }
    if (!o->quiet)
        log_info("latent cache: %zu image(s) encoded%s, %zu reused (%zu stale, %zu corrupt rebuilt)", c->stats.built,
                 o->to_disk ? "" : " into memory", c->stats.hit, c->stats.stale, c->stats.corrupt);
done:
    free(state); free(why); free(errs); free(todo);
    free(pixels); free(lat); free(lat_flip);
    if (st != SDL_OK) { latent_cache_free(c); return st; }
    *out = c;
    return SDL_OK;
}

SdlStatus latent_cache_get(LatentCache *c, size_t i, bool flipped, float *out) {
    SDL_ASSERT(i < c->n);
    const LatentCacheItem *it = &c->items[i];
    if (flipped && !it->flip)
        return sdl_fail(SDL_ERR_ARG, it->path, NULL, "no flipped latents were cached for this image (flip_aug off)");
    size_t nlat = latent_floats(c, it);
    if (c->mem[i]) {
        memcpy(out, c->mem[i] + (flipped ? nlat : 0), nlat * sizeof(float));
        return SDL_OK;
    }
    char why[160];
    FileState st = file_check(c->files[i], &c->keys[i], !c->skip_check, !c->skip_check, out, flipped, why, sizeof why);
    if (st == CF_OK) return SDL_OK;
    return sdl_fail(SDL_ERR_FORMAT, c->files[i], "delete the file and start again: it is rebuilt before training",
                    "the latent cache file changed during training: %s",
                    st == CF_MISSING ? "it was deleted" : why);
}

LatentCacheStats latent_cache_stats(const LatentCache *c) { return c->stats; }

void latent_cache_free(LatentCache *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        if (c->mem) free(c->mem[i]);
        if (c->files) free(c->files[i]);
    }
    free(c->mem); free(c->files); free(c->keys); free(c->items);
    free(c);
}
