// buckets.c — see buckets.h. Every rounding mirrors kohya's Python expression named in the
// comment beside it; int(x) on a positive float is truncation.
#include "data/buckets.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int reso_cmp(const void *a, const void *b) {
    const Reso *x = a, *y = b;
    if (x->w != y->w) return x->w < y->w ? -1 : 1;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return 0;
}

// Adds r to the set held in buf[0..*n) (linear search; lists are < 100 entries).
static void add_unique(Reso *buf, size_t *n, Reso r) {
    for (size_t i = 0; i < *n; i++)
        if (buf[i].w == r.w && buf[i].h == r.h) return;
    buf[(*n)++] = r;
}

size_t bucket_make_resolutions(Reso *out, size_t cap, int64_t max_w, int64_t max_h, int64_t min_size,
                               int64_t max_size, int64_t steps) {
    if (steps <= 0 || min_size <= 0 || max_size < min_size) return 0;
    size_t n_max = 2 * (size_t)((max_size - min_size) / steps + 1) + 1, n = 0;
    Reso *buf = malloc(n_max * sizeof *buf);
    if (!buf) return 0;
    int64_t area = max_w * max_h;
    // width = int(math.sqrt(max_area) // divisible) * divisible
    int64_t sq = (int64_t)floor(sqrt((double)area) / (double)steps) * steps;
    add_unique(buf, &n, (Reso){sq, sq});
    for (int64_t w = min_size; w <= max_size; w += steps) {
        int64_t h = (area / w) / steps * steps; // int((max_area // width) // divisible) * divisible
        if (h > max_size) h = max_size;
        if (h >= min_size) {
            add_unique(buf, &n, (Reso){w, h});
            add_unique(buf, &n, (Reso){h, w});
        }
    }
    qsort(buf, n, sizeof *buf, reso_cmp);
    if (out) memcpy(out, buf, (n < cap ? n : cap) * sizeof *buf);
    free(buf);
    return n;
}

SdlStatus bucket_spec_init(BucketSpec *s, bool enable_bucket, bool no_upscale, int64_t max_w, int64_t max_h,
                           int64_t min_size, int64_t max_size, int64_t steps) {
    memset(s, 0, sizeof *s);
    s->max_w = max_w; s->max_h = max_h; s->steps = steps;
    if (max_w <= 0 || max_h <= 0 || steps <= 0)
        return sdl_fail(SDL_ERR_ARG, NULL, "give --resolution W[,H] and --bucket_reso_steps > 0",
                        "invalid bucket parameters: resolution %lldx%lld, steps %lld", (long long)max_w,
                        (long long)max_h, (long long)steps);
    if (!enable_bucket) {
        // kohya: BucketManager(False, (W, H), None, None, None) with set_predefined_resos([(W, H)])
        s->predefined = malloc(sizeof *s->predefined);
        if (!s->predefined) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
        s->predefined[0] = (Reso){max_w, max_h};
        s->n_predefined = 1;
        return SDL_OK;
    }
    s->no_upscale = no_upscale;
    if (no_upscale) return SDL_OK;
    size_t n = bucket_make_resolutions(NULL, 0, max_w, max_h, min_size, max_size, steps);
    if (n == 0)
        return sdl_fail(SDL_ERR_ARG, NULL, "check min_bucket_reso <= max_bucket_reso",
                        "no bucket resolutions between %lld and %lld", (long long)min_size, (long long)max_size);
    s->predefined = malloc(n * sizeof *s->predefined);
    if (!s->predefined) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
    s->n_predefined = bucket_make_resolutions(s->predefined, n, max_w, max_h, min_size, max_size, steps);
    return SDL_OK;
}

void bucket_spec_free(BucketSpec *s) {
    free(s->predefined);
    memset(s, 0, sizeof *s);
}

// round_to_steps: x = int(x + 0.5); return x - x % steps
static int64_t round_to_steps(double x, int64_t steps) {
    int64_t v = (int64_t)(x + 0.5);
    return v - v % steps;
}

void bucket_select(const BucketSpec *s, int64_t w, int64_t h, Reso *bucket, Reso *resized, double *ar_error) {
    double ar = (double)w / (double)h;
    Reso reso;
    if (!s->no_upscale) {
        reso = (Reso){w, h};
        bool exact = false;
        for (size_t i = 0; i < s->n_predefined; i++)
            if (s->predefined[i].w == w && s->predefined[i].h == h) exact = true;
        if (!exact) {
            // np.abs(ar_errors).argmin(): the first minimum in sorted order
            size_t best = 0;
            double best_err = INFINITY;
            for (size_t i = 0; i < s->n_predefined; i++) {
                double e = fabs((double)s->predefined[i].w / (double)s->predefined[i].h - ar);
                if (e < best_err) { best_err = e; best = i; }
            }
            reso = s->predefined[best];
        }
        double ar_reso = (double)reso.w / (double)reso.h;
        // wider than the bucket → match heights, else widths: the image covers the bucket
        double scale = ar > ar_reso ? (double)reso.h / (double)h : (double)reso.w / (double)w;
        *resized = (Reso){(int64_t)((double)w * scale + 0.5), (int64_t)((double)h * scale + 0.5)};
    } else {
        int64_t area = s->max_w * s->max_h;
        if (w * h > area) {
            double rw = sqrt((double)area * ar), rh = (double)area / rw;
            int64_t bw_r = round_to_steps(rw, s->steps);
            int64_t bh_in_wr = round_to_steps((double)bw_r / ar, s->steps);
            double ar_w = (double)bw_r / (double)bh_in_wr;
            int64_t bh_r = round_to_steps(rh, s->steps);
            int64_t bw_in_hr = round_to_steps((double)bh_r * ar, s->steps);
            double ar_h = (double)bw_in_hr / (double)bh_r;
            if (fabs(ar_w - ar) < fabs(ar_h - ar))
                *resized = (Reso){bw_r, (int64_t)((double)bw_r / ar + 0.5)};
            else
                *resized = (Reso){(int64_t)((double)bh_r * ar + 0.5), bh_r};
        } else {
            *resized = (Reso){w, h};
        }
        // the bucket is the resized size floored to the step: crop, never pad
        reso = (Reso){resized->w - resized->w % s->steps, resized->h - resized->h % s->steps};
    }
    *bucket = reso;
    *ar_error = (double)reso.w / (double)reso.h - ar;
}

void bucket_crop_ltrb(Reso bucket, int64_t img_w, int64_t img_h, double ltrb[4]) {
    double bucket_ar = (double)bucket.w / (double)bucket.h, img_ar = (double)img_w / (double)img_h;
    double rw, rh;
    if (bucket_ar > img_ar) { rw = (double)bucket.h * img_ar; rh = (double)bucket.h; }
    else { rw = (double)bucket.w; rh = (double)bucket.w / img_ar; }
    ltrb[0] = floor(((double)bucket.w - rw) / 2.0); // Python float // 2 floors
    ltrb[1] = floor(((double)bucket.h - rh) / 2.0);
    ltrb[2] = ltrb[0] + rw;
    ltrb[3] = ltrb[1] + rh;
}

void bucket_crop_offset(Reso bucket, Reso resized, bool random_crop, PyRandom *rnd, int64_t *x, int64_t *y) {
    *x = *y = 0;
    if (resized.w > bucket.w) {
        int64_t excess = resized.w - bucket.w;
        *x = random_crop && rnd ? py_random_randint(rnd, 0, excess) : excess / 2;
    }
    if (resized.h > bucket.h) {
        int64_t excess = resized.h - bucket.h;
        *y = random_crop && rnd ? py_random_randint(rnd, 0, excess) : excess / 2;
    }
}

SdlStatus bucket_assign(BucketSet *set, const BucketSpec *spec, BucketImage *images, size_t n, int64_t batch_size) {
    memset(set, 0, sizeof *set);
    set->batch_size = batch_size < 1 ? 1 : batch_size;
    Reso *used = malloc((n ? n : 1) * sizeof *used);
    if (!used) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
    size_t n_used = 0;
    double err_sum = 0;
    for (size_t i = 0; i < n; i++) {
        BucketImage *im = &images[i];
        bucket_select(spec, im->width, im->height, &im->bucket, &im->resized, &im->ar_error);
        add_unique(used, &n_used, im->bucket);
        err_sum += fabs(im->ar_error);
    }
    set->mean_ar_error = n ? err_sum / (double)n : 0.0;
    qsort(used, n_used, sizeof *used, reso_cmp); // BucketManager.sort
    set->resos = used;
    set->n_buckets = n_used;
    set->items = calloc(n_used ? n_used : 1, sizeof *set->items);
    set->n_items = calloc(n_used ? n_used : 1, sizeof *set->n_items);
    if (!set->items || !set->n_items) { bucket_set_free(set); return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory"); }
    size_t *bucket_of = malloc((n ? n : 1) * sizeof *bucket_of);
    if (!bucket_of) { bucket_set_free(set); return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory"); }
    for (size_t i = 0; i < n; i++) {
        Reso key = images[i].bucket;
        Reso *hit = bsearch(&key, used, n_used, sizeof *used, reso_cmp);
        bucket_of[i] = (size_t)(hit - used);
        set->n_items[bucket_of[i]] += (size_t)(images[i].num_repeats > 0 ? images[i].num_repeats : 0);
    }
    for (size_t b = 0; b < n_used; b++) {
        set->items[b] = malloc((set->n_items[b] ? set->n_items[b] : 1) * sizeof **set->items);
        if (!set->items[b]) { free(bucket_of); bucket_set_free(set); return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory"); }
        set->n_items[b] = 0;
    }
    for (size_t i = 0; i < n; i++)
        for (int64_t r = 0; r < images[i].num_repeats; r++) set->items[bucket_of[i]][set->n_items[bucket_of[i]]++] = i;
    free(bucket_of);
    size_t nb = 0;
    for (size_t b = 0; b < n_used; b++) nb += (set->n_items[b] + (size_t)set->batch_size - 1) / (size_t)set->batch_size;
    set->batches = malloc((nb ? nb : 1) * sizeof *set->batches);
    if (!set->batches) { bucket_set_free(set); return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory"); }
    for (size_t b = 0; b < n_used; b++) {
        size_t cnt = (set->n_items[b] + (size_t)set->batch_size - 1) / (size_t)set->batch_size;
        for (size_t k = 0; k < cnt; k++)
            set->batches[set->n_batches++] = (BucketBatch){(int64_t)b, set->batch_size, (int64_t)k};
    }
    return SDL_OK;
}

void bucket_shuffle_epoch(BucketSet *set, int64_t epoch) {
    PyRandom r;
    int64_t s = set->seed + epoch;
    py_random_seed(&r, (uint64_t)(s < 0 ? -s : s)); // Python seeds with abs(n)
    py_random_shuffle(&r, set->batches, set->n_batches, sizeof *set->batches);
    for (size_t b = 0; b < set->n_buckets; b++) py_random_shuffle(&r, set->items[b], set->n_items[b], sizeof(size_t));
}

void bucket_set_free(BucketSet *set) {
    if (set->items)
        for (size_t b = 0; b < set->n_buckets; b++) free(set->items[b]);
    free(set->items);
    free(set->n_items);
    free(set->resos);
    free(set->batches);
    memset(set, 0, sizeof *set);
}
