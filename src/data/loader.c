// loader.c — see loader.h. Two halves:
//   the generator (Gen): which images form batch `index` of `epoch` and what was drawn for
//     each sample — pure bookkeeping over the bucket lists and two seeded generators, cheap
//     enough that loader_seek replays every draw from the start of the epoch;
//   the worker: a pthread that runs the generator ahead of the trainer and turns each plan
//     into a filled slot (decode, resize, crop, color aug, flip, tokenize — or cached
//     latents) in a ring of prefetch + 1 slots; the trainer holds one slot at a time.
#include "data/loader.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/rng.h"
#include "data/captions.h"
#include "data/pyrandom.h"
#include "models/clip_tokenizer.h"
#include "models/prompt_weights.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- generator

typedef struct {
    size_t part;
    BucketBatch b;
} GenBatch;

typedef struct {
    int64_t epoch, index;     // the next batch to plan (epoch 1-based; 0 = not started)
    int64_t shuffled_upto;    // the working sets hold the shuffles of epochs 0..shuffled_upto (-1: none)
    BucketSet *sets;          // per part: working copies of the bucket lists (shuffled in place)
    GenBatch *order;          // this epoch's batches after the DataLoader permutation
    PyRandom rnd;             // per-sample draws of this epoch
} Gen;

typedef struct {              // one sample's plan
    size_t part, img;         // img: index into the part's scan
    bool flip;
    int64_t x, y;
    ColorAug color;
    char *caption;            // owned
} SamplePlan;

typedef struct {
    LoaderBatch b;
    SdlStatus st;
    SdlError err;             // when st != SDL_OK
} Slot;

struct Loader {
    TrainData *d;
    LoaderOptions opt;
    size_t n_parts;
    size_t *part_offset;      // n_parts + 1: global id = part_offset[p] + scan index
    CaptionOptions **capopt;  // [part][subset]
    int64_t dataset_seed, bpe, n_chunks, max_B;
    size_t max_px, max_lat;   // per sample, floats
    int64_t lat_c, lat_f;     // latent channels and downscale factor
    LatentCache *cache;       // item = global image id; NULL without caching
    ClipTokenizer *tok;       // used by the worker only
    Gen gen;                  // owned by the worker while it runs
    SamplePlan *plan;         // max_B, worker scratch
    // worker
    pthread_t thread;
    bool running, stop, holding, started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    Slot *slots;
    int n_slots;
    uint64_t produced, consumed, released;
    bool worker_failed;
    SdlError worker_err;
};

static SdlStatus oom(void) { return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory"); }

static void sets_free(Loader *l) {
    if (!l->gen.sets) return;
    for (size_t p = 0; p < l->n_parts; p++) {
        BucketSet *s = &l->gen.sets[p];
        if (s->items)
            for (size_t b = 0; b < s->n_buckets; b++) free(s->items[b]);
        free(s->items);
        free(s->batches);
    }
    free(l->gen.sets);
    l->gen.sets = NULL;
}

// Working copies of the parts' bucket lists, unshuffled (resos and counts are shared).
static SdlStatus sets_reset(Loader *l) {
    sets_free(l);
    l->gen.sets = calloc(l->n_parts ? l->n_parts : 1, sizeof *l->gen.sets);
    if (!l->gen.sets) return oom();
    for (size_t p = 0; p < l->n_parts; p++) {
        const BucketSet *src = &l->d->parts[p].set;
        BucketSet *s = &l->gen.sets[p];
        *s = *src;
        s->seed = l->dataset_seed;
        s->items = calloc(src->n_buckets ? src->n_buckets : 1, sizeof *s->items);
        s->batches = malloc((src->n_batches ? src->n_batches : 1) * sizeof *s->batches);
        if (!s->items || !s->batches) return oom();
        memcpy(s->batches, src->batches, src->n_batches * sizeof *s->batches);
        for (size_t b = 0; b < src->n_buckets; b++) {
            s->items[b] = malloc((src->n_items[b] ? src->n_items[b] : 1) * sizeof **s->items);
            if (!s->items[b]) return oom();
            memcpy(s->items[b], src->items[b], src->n_items[b] * sizeof **s->items);
        }
    }
    l->gen.shuffled_upto = -1;
    return SDL_OK;
}

// The draws random.shuffle makes on a list of n (their values do not depend on the list).
static void py_random_skip_shuffle(PyRandom *r, size_t n) {
    for (size_t i = n; i-- > 1;) py_random_randbelow(r, (uint64_t)i + 1);
}

// Arranges epoch e (1-based): bucket shuffles up to e, the permuted batch order, the sample generator.
static SdlStatus gen_epoch(Loader *l, int64_t e) {
    Gen *g = &l->gen;
    if (!g->sets || g->shuffled_upto >= e) SDL_TRY(sets_reset(l));
    while (g->shuffled_upto < e) {
        g->shuffled_upto++;
        for (size_t p = 0; p < l->n_parts; p++) bucket_shuffle_epoch(&g->sets[p], g->shuffled_upto);
    }
    size_t n = 0;
    for (size_t p = 0; p < l->n_parts; p++)
        for (size_t k = 0; k < g->sets[p].n_batches; k++) g->order[n++] = (GenBatch){p, g->sets[p].batches[k]};
    // DataLoader(shuffle=True): torch.randperm(n) (for n < 2^32 / 20: swap i with i + random() % (n - i))
    Rng r;
    rng_seed(&r, (uint64_t)l->opt.seed + (uint64_t)e * 0x9E3779B97F4A7C15ull);
    for (size_t i = 0; i + 1 < n; i++) {
        size_t z = i + (size_t)(rng_u32(&r) % (uint32_t)(n - i));
        GenBatch t = g->order[i];
        g->order[i] = g->order[z];
        g->order[z] = t;
    }
    // kohya's per-sample draws continue Python's global random after the last dataset's
    // shuffle_buckets: random.seed(dataset_seed + epoch), shuffle(batches), shuffle(each bucket)
    int64_t s = l->dataset_seed + e;
    py_random_seed(&g->rnd, (uint64_t)(s < 0 ? -s : s));
    if (l->n_parts) {
        const BucketSet *last = &g->sets[l->n_parts - 1];
        py_random_skip_shuffle(&g->rnd, last->n_batches);
        for (size_t b = 0; b < last->n_buckets; b++) py_random_skip_shuffle(&g->rnd, last->n_items[b]);
    }
    g->epoch = e;
    g->index = 0;
    return SDL_OK;
}

static void plan_clear(SamplePlan *p, int64_t n) {
    for (int64_t k = 0; k < n; k++) { free(p[k].caption); p[k].caption = NULL; }
}

// Plans the next batch (its samples and their draws, in kohya's order) and advances.
// *B receives the number of samples; *entry the batch. Captions are allocated into plan.
static SdlStatus gen_next(Loader *l, SamplePlan *plan, int64_t *B, GenBatch *entry, int64_t *epoch, int64_t *index) {
    Gen *g = &l->gen;
    if (g->index >= l->bpe) SDL_TRY(gen_epoch(l, g->epoch + 1));
    *epoch = g->epoch;
    *index = g->index;
    *entry = g->order[g->index];
    const TrainDataPart *part = &l->d->parts[entry->part];
    const BucketSet *set = &g->sets[entry->part];
    size_t bucket = (size_t)entry->b.bucket, start = (size_t)(entry->b.batch_index * entry->b.batch_size);
    size_t end = start + (size_t)entry->b.batch_size;
    if (end > set->n_items[bucket]) end = set->n_items[bucket];
    int64_t accum = l->opt.gradient_accumulation_steps > 0 ? l->opt.gradient_accumulation_steps : 1;
    int64_t step = ((g->epoch - 1) * l->bpe + g->index) / accum;
    for (size_t k = start; k < end; k++) {
        SamplePlan *p = &plan[k - start];
        size_t img = set->items[bucket][k];
        const ScanImage *im = &part->scan.images[img];
        const SubsetConfig *sc = &part->cfg->subsets[im->subset];
        const BucketImage *bi = &part->bimg[img];
        p->part = entry->part;
        p->img = img;
        // kohya's __getitem__ order: flip, crop offsets, color aug, then the caption
        p->flip = augment_draw_flip(&g->rnd, sc->flip_aug);
        bucket_crop_offset(bi->bucket, bi->resized, sc->random_crop && !l->cache, &g->rnd, &p->x, &p->y);
        p->color = augment_draw_color(&g->rnd, sc->color_aug && !l->cache);
        p->caption = caption_process(&l->capopt[entry->part][im->subset], im->caption, g->epoch, step,
                                     l->opt.max_train_steps, &g->rnd);
        if (!p->caption) { plan_clear(plan, (int64_t)(k - start)); return oom(); }
    }
    *B = (int64_t)(end - start);
    g->index++;
    return SDL_OK;
}

// ---------------------------------------------------------------- filling a slot

static SdlStatus fill_slot(Loader *l, Slot *s) {
    LoaderBatch *b = &s->b;
    GenBatch entry;
    int64_t B;
    SDL_TRY(gen_next(l, l->plan, &B, &entry, &b->epoch, &b->index));
    const TrainDataPart *part = &l->d->parts[entry.part];
    Reso bucket = part->set.resos[entry.b.bucket];
    b->B = B;
    b->width = bucket.w;
    b->height = bucket.h;
    const size_t plane = 3 * (size_t)bucket.w * (size_t)bucket.h;
    const size_t nlat = (size_t)l->lat_c * (size_t)(bucket.h / l->lat_f) * (size_t)(bucket.w / l->lat_f);
    const size_t win = (size_t)l->n_chunks * CLIP_CONTEXT_LEN;
    SdlStatus st = SDL_OK;
    for (int64_t k = 0; k < B && st == SDL_OK; k++) {
        SamplePlan *p = &l->plan[k];
        const ScanImage *im = &part->scan.images[p->img];
        const BucketImage *bi = &part->bimg[p->img];
        free(b->captions[k]);
        b->captions[k] = p->caption;
        p->caption = NULL;
        b->images[k] = l->part_offset[p->part] + p->img;
        b->loss_weights[k] = im->loss_weight;
        b->flipped[k] = p->flip;
        b->crop_x[k] = p->x;
        b->crop_y[k] = p->y;
        b->color_aug[k] = p->color;
        PromptChunks pc;
        st = prompt_chunks_kohya(l->tok, b->captions[k], (int)l->opt.max_token_length, l->opt.weighted_captions,
                                 l->opt.pad_with_zero ? 0 : CLIP_EOS_ID, &pc);
        if (st != SDL_OK) {
            char why[sizeof sdl_last_error()->reason];
            snprintf(why, sizeof why, "%s", sdl_last_error()->reason);
            st = sdl_fail(st, im->path, "check the attention syntax in the caption (--weighted_captions)", "caption: %s", why);
            break;
        }
        SDL_ASSERT(pc.n_chunks == (size_t)l->n_chunks);
        memcpy(b->input_ids + (size_t)k * win, pc.ids, win * sizeof *pc.ids);
        if (b->token_weights) memcpy(b->token_weights + (size_t)k * win, pc.weights, win * sizeof *pc.weights);
        prompt_chunks_free(&pc);
        if (l->cache) {
            st = latent_cache_get(l->cache, b->images[k], p->flip, b->latents + (size_t)k * nlat);
        } else {
            Image img;
            st = dataset_image_load(&img, im->path, bi->resized, bi->bucket, p->x, p->y);
            if (st == SDL_OK) {
                // kohya: crop, then color aug, then flip
                augment_color_apply(&img, &p->color, AUGMENT_CV_BLOCK_AVX2);
                if (p->flip) augment_flip(&img);
                image_to_tensor(b->pixels + (size_t)k * plane, &img);
            }
            image_free(&img);
        }
    }
    plan_clear(l->plan, B);
    return st;
}

// ---------------------------------------------------------------- worker

static void *worker_main(void *arg) {
    Loader *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        if (l->produced - l->released >= (uint64_t)l->n_slots) {
            pthread_cond_wait(&l->cv, &l->mu);
            continue;
        }
        Slot *s = &l->slots[l->produced % (uint64_t)l->n_slots];
        pthread_mutex_unlock(&l->mu);
        sdl_error_clear();
        s->st = fill_slot(l, s);
        if (s->st != SDL_OK) s->err = *sdl_last_error();
        pthread_mutex_lock(&l->mu);
        l->produced++;
        pthread_cond_broadcast(&l->cv);
        if (s->st != SDL_OK) {
            // nothing after a failed batch would be in order: stop here
            l->worker_failed = true;
            l->worker_err = s->err;
            break;
        }
    }
    l->running = false;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void worker_stop(Loader *l) {
    if (!l->started) return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    l->started = false;
}

// ---------------------------------------------------------------- API

static CaptionOptions caption_options_of(const SubsetConfig *sc) {
    CaptionOptions o = caption_options_default();
    o.caption_prefix = sc->caption_prefix;
    o.caption_suffix = sc->caption_suffix;
    o.caption_dropout_rate = sc->caption_dropout_rate;
    o.caption_dropout_every_n_epochs = sc->caption_dropout_every_n_epochs;
    o.caption_tag_dropout_rate = sc->caption_tag_dropout_rate;
    o.shuffle_caption = sc->shuffle_caption;
    o.keep_tokens = sc->keep_tokens;
    o.keep_tokens_separator = sc->keep_tokens_separator ? sc->keep_tokens_separator : "";
    o.caption_separator = sc->caption_separator ? sc->caption_separator : ",";
    o.secondary_separator = sc->secondary_separator;
    o.enable_wildcard = sc->enable_wildcard;
    o.token_warmup_min = sc->token_warmup_min;
    o.token_warmup_step = sc->token_warmup_step;
    return o;
}

static SdlStatus check_options(const Loader *l) {
    const LoaderOptions *o = &l->opt;
    if (o->max_token_length != 0 && o->max_token_length != 75 && o->max_token_length != 150 && o->max_token_length != 225)
        return sdl_fail(SDL_ERR_ARG, NULL, "use --max_token_length 75, 150 or 225", "max_token_length %lld is not supported",
                        (long long)o->max_token_length);
    bool warned_face = false, warned_alpha = false;
    for (size_t p = 0; p < l->n_parts; p++) {
        const DatasetConfig *c = l->d->parts[p].cfg;
        for (size_t s = 0; s < c->n_subsets; s++) {
            const SubsetConfig *sc = &c->subsets[s];
            const char *name = sc->image_dir ? sc->image_dir : sc->metadata_file;
            if (o->cache_latents && (sc->color_aug || sc->random_crop))
                return sdl_fail(SDL_ERR_ARG, name, "turn off color_aug and random_crop, or latent caching (as kohya requires)",
                                "--cache_latents cannot be used with %s: the cached latents would freeze it",
                                sc->color_aug ? "color_aug" : "random_crop");
            if (sc->has_face_crop_aug_range && !warned_face) {
                log_warn("face_crop_aug_range is not supported by sdlora and is ignored (%s)", name);
                warned_face = true;
            }
            if (sc->alpha_mask && !warned_alpha) {
                log_warn("alpha_mask is not supported by the loader yet: the loss is not masked (%s)", name);
                warned_alpha = true;
            }
        }
    }
    if (o->cache_latents && !o->encode) return sdl_fail(SDL_ERR_ARG, NULL, NULL, "latent caching needs an encoder");
    return SDL_OK;
}

static SdlStatus build_cache(Loader *l) {
    size_t n = l->part_offset[l->n_parts];
    LatentCacheItem *items = malloc((n ? n : 1) * sizeof *items);
    if (!items) return oom();
    for (size_t p = 0; p < l->n_parts; p++) {
        const TrainDataPart *part = &l->d->parts[p];
        for (size_t i = 0; i < part->scan.n_images; i++) {
            const ScanImage *im = &part->scan.images[i];
            const BucketImage *bi = &part->bimg[i];
            items[l->part_offset[p] + i] = (LatentCacheItem){.path = im->path, .width = bi->width, .height = bi->height,
                                                             .bucket = bi->bucket, .resized = bi->resized,
                                                             .flip = part->cfg->subsets[im->subset].flip_aug};
        }
    }
    LatentCacheOptions co = {.to_disk = l->opt.cache_latents_to_disk, .cache_dir = l->opt.cache_dir,
                             .skip_check = l->opt.skip_cache_check, .vae_id = l->opt.vae_id,
                             .vae_batch_size = l->opt.vae_batch_size, .encode = l->opt.encode,
                             .encode_ctx = l->opt.encode_ctx, .channels = l->lat_c, .downscale = l->lat_f,
                             .threads = l->opt.threads > 0 ? l->opt.threads : 2,
                             .quiet = l->opt.quiet};
    SdlStatus st = latent_cache_build(&l->cache, items, n, &co);
    free(items);
    return st;
}

static SdlStatus slots_alloc(Loader *l) {
    l->slots = calloc((size_t)l->n_slots, sizeof *l->slots);
    if (!l->slots) return oom();
    size_t B = (size_t)l->max_B, win = (size_t)l->n_chunks * CLIP_CONTEXT_LEN;
    for (int i = 0; i < l->n_slots; i++) {
        LoaderBatch *b = &l->slots[i].b;
        if (l->cache) b->latents = malloc((l->max_lat ? l->max_lat : 1) * B * sizeof(float));
        else b->pixels = malloc((l->max_px ? l->max_px : 1) * B * sizeof(float));
        b->input_ids = malloc(B * win * sizeof *b->input_ids);
        if (l->opt.weighted_captions) b->token_weights = malloc(B * win * sizeof *b->token_weights);
        b->loss_weights = malloc(B * sizeof *b->loss_weights);
        b->captions = calloc(B, sizeof *b->captions);
        b->images = malloc(B * sizeof *b->images);
        b->flipped = malloc(B * sizeof *b->flipped);
        b->crop_x = malloc(B * sizeof *b->crop_x);
        b->crop_y = malloc(B * sizeof *b->crop_y);
        b->color_aug = malloc(B * sizeof *b->color_aug);
        if (!(l->cache ? (void *)b->latents : (void *)b->pixels) || !b->input_ids ||
            (l->opt.weighted_captions && !b->token_weights) || !b->loss_weights || !b->captions || !b->images ||
            !b->flipped || !b->crop_x || !b->crop_y || !b->color_aug)
            return oom();
    }
    return SDL_OK;
}

SdlStatus loader_create(Loader **out, TrainData *d, const LoaderOptions *opt) {
    *out = NULL;
    Loader *l = calloc(1, sizeof *l);
    if (!l) return oom();
    l->d = d;
    l->opt = *opt;
    l->n_parts = d->n_parts;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    SdlStatus st = SDL_OK;
    l->part_offset = calloc(l->n_parts + 1, sizeof *l->part_offset);
    l->capopt = calloc(l->n_parts ? l->n_parts : 1, sizeof *l->capopt);
    if (!l->part_offset || !l->capopt) { st = oom(); goto fail; }
    l->max_B = 1;
    for (size_t p = 0; p < l->n_parts; p++) {
        const TrainDataPart *part = &d->parts[p];
        l->part_offset[p + 1] = l->part_offset[p] + part->scan.n_images;
        l->bpe += (int64_t)part->set.n_batches;
        if (part->set.batch_size > l->max_B) l->max_B = part->set.batch_size;
        for (size_t b = 0; b < part->set.n_buckets; b++) {
            size_t px = 3 * (size_t)part->set.resos[b].w * (size_t)part->set.resos[b].h;
            if (px > l->max_px) l->max_px = px;
        }
        l->capopt[p] = calloc(part->cfg->n_subsets ? part->cfg->n_subsets : 1, sizeof **l->capopt);
        if (!l->capopt[p]) { st = oom(); goto fail; }
        for (size_t s = 0; s < part->cfg->n_subsets; s++) l->capopt[p][s] = caption_options_of(&part->cfg->subsets[s]);
    }
    l->lat_c = opt->latent_channels > 0 ? opt->latent_channels : LATENT_CHANNELS;
    l->lat_f = opt->latent_downscale > 0 ? opt->latent_downscale : LATENT_DOWNSCALE;
    l->max_lat = l->max_px / 3 / (size_t)(l->lat_f * l->lat_f) * (size_t)l->lat_c;
    l->n_chunks = opt->max_token_length > 75 ? opt->max_token_length / 75 : 1;
    if ((st = check_options(l)) != SDL_OK) goto fail;
    // kohya: set_seed(args.seed), then one random.randint(0, 2**31) becomes every dataset's seed
    {
        PyRandom r;
        py_random_seed(&r, (uint64_t)(opt->seed < 0 ? -opt->seed : opt->seed));
        l->dataset_seed = py_random_randint(&r, 0, (int64_t)1 << 31);
    }
    l->gen.order = malloc((size_t)(l->bpe ? l->bpe : 1) * sizeof *l->gen.order);
    l->plan = calloc((size_t)l->max_B, sizeof *l->plan);
    if (!l->gen.order || !l->plan) { st = oom(); goto fail; }
    if ((st = clip_tokenizer_load(&l->tok)) != SDL_OK) goto fail;
    if (opt->cache_latents && (st = build_cache(l)) != SDL_OK) goto fail;
    l->n_slots = (opt->prefetch > 0 ? opt->prefetch : 2) + 1;
    if ((st = slots_alloc(l)) != SDL_OK) goto fail;
    *out = l;
    return SDL_OK;
fail:
    loader_free(l);
    return st;
}

void loader_free(Loader *l) {
    if (!l) return;
    worker_stop(l);
    for (int i = 0; l->slots && i < l->n_slots; i++) {
        LoaderBatch *b = &l->slots[i].b;
        if (b->captions)
            for (int64_t k = 0; k < l->max_B; k++) free(b->captions[k]);
        free(b->pixels); free(b->latents); free(b->input_ids); free(b->token_weights); free(b->loss_weights);
        free(b->captions); free(b->images); free(b->flipped); free(b->crop_x); free(b->crop_y); free(b->color_aug);
    }
    free(l->slots);
    if (l->plan) plan_clear(l->plan, l->max_B);
    free(l->plan);
    sets_free(l);
    free(l->gen.order);
    if (l->capopt)
        for (size_t p = 0; p < l->n_parts; p++) free(l->capopt[p]);
    free(l->capopt);
    free(l->part_offset);
    latent_cache_free(l->cache);
    if (l->tok) clip_tokenizer_free(l->tok);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int64_t loader_batches_per_epoch(const Loader *l) { return l->bpe; }

SdlStatus loader_seek(Loader *l, int64_t epoch, int64_t index) {
    if (epoch < 1 || index < 0 || index > l->bpe || l->bpe == 0)
        return sdl_fail(SDL_ERR_ARG, NULL, NULL, "loader_seek: batch %lld of epoch %lld is out of range (%lld batches per epoch)",
                        (long long)index, (long long)epoch, (long long)l->bpe);
    if (index == l->bpe) epoch++, index = 0; // "after the last batch" = the start of the next epoch
    worker_stop(l);
    SDL_TRY(gen_epoch(l, epoch));
    // replay the draws of the batches before `index` (captions included: their shuffles
    // and dropouts draw too), decoding nothing
    for (int64_t k = 0; k < index; k++) {
        GenBatch e;
        int64_t B, ep, ix;
        SDL_TRY(gen_next(l, l->plan, &B, &e, &ep, &ix));
        plan_clear(l->plan, B);
    }
    l->produced = l->consumed = l->released = 0;
    l->holding = l->stop = l->worker_failed = false;
    l->running = true;
    if (pthread_create(&l->thread, NULL, worker_main, l) != 0) {
        l->running = false;
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "cannot start the data loader thread");
    }
    l->started = true;
    return SDL_OK;
}

SdlStatus loader_next(Loader *l, const LoaderBatch **out, double *waited_s) {
    *out = NULL;
    if (waited_s) *waited_s = 0;
    if (l->bpe == 0) return sdl_fail(SDL_ERR_ARG, NULL, "check the dataset", "the dataset has no batches");
    if (!l->started) SDL_TRY(loader_seek(l, 1, 0));
    pthread_mutex_lock(&l->mu);
    if (l->holding) {
        l->released++;
        l->holding = false;
        pthread_cond_broadcast(&l->cv);
    }
    double t0 = time_now();
    while (l->produced == l->consumed && l->running) pthread_cond_wait(&l->cv, &l->mu);
    if (waited_s) *waited_s = time_now() - t0;
    if (l->produced == l->consumed) { // the worker stopped after a failure already handed out
        SdlError e = l->worker_err;
        pthread_mutex_unlock(&l->mu);
        return sdl_fail(e.status ? e.status : SDL_ERR_ARG, e.file[0] ? e.file : NULL, e.hint[0] ? e.hint : NULL, "%s",
                        e.reason[0] ? e.reason : "the data loader stopped");
    }
    Slot *s = &l->slots[l->consumed % (uint64_t)l->n_slots];
    l->consumed++;
    l->holding = true;
    pthread_mutex_unlock(&l->mu);
    if (s->st != SDL_OK)
        return sdl_fail(s->st, s->err.file[0] ? s->err.file : NULL, s->err.hint[0] ? s->err.hint : NULL, "%s", s->err.reason);
    *out = &s->b;
    return SDL_OK;
}

const char *loader_image_path(const Loader *l, size_t image) {
    for (size_t p = 0; p < l->n_parts; p++)
        if (image < l->part_offset[p + 1]) return l->d->parts[p].scan.images[image - l->part_offset[p]].path;
    return "?";
}
