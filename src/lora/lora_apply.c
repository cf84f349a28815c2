// lora_apply.c — see lora_apply.h.
#include "lora/lora_apply.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "lora/lora_file.h"
#include "ops/gemm.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

// ---- targets: every weight a LoRA module may name ----------------------------------------------

typedef struct {
    char *kname;              // kohya module name, e.g. "lora_unet_conv_in"
    float *w;                 // storage in the model's parameter table
    const ParamEntry *e;      // its shape
    int is_te;
} Target;

typedef struct {
    Target *t;
    int64_t n, cap;
} Targets;

static int cmp_target(const void *a, const void *b) { return strcmp(((const Target *)a)->kname, ((const Target *)b)->kname); }

// "<prefix><name without .weight, '.' → '_'>" for every weight of rank >= 2 in the table.
static void add_targets(Targets *ts, ParamTable *pt, const char *prefix, int is_te) {
    for (int64_t i = 0; i < pt->n; i++) {
        const ParamEntry *e = &pt->entries[i];
        size_t len = strlen(e->name);
        if (e->ndim < 2 || len < 7 || strcmp(e->name + len - 7, ".weight") != 0) continue;
        SDL_ASSERT(e->dtype == PARAM_F32); // merging writes fp32 weights (generate/grid load fp32 models)
        if (ts->n == ts->cap) {
            ts->cap = ts->cap ? 2 * ts->cap : 256;
            ts->t = realloc(ts->t, (size_t)ts->cap * sizeof *ts->t);
            SDL_ASSERT(ts->t);
        }
        size_t plen = strlen(prefix);
        char *k = malloc(plen + len - 7 + 1);
        SDL_ASSERT(k);
        memcpy(k, prefix, plen);
        for (size_t j = 0; j < len - 7; j++) k[plen + j] = e->name[j] == '.' ? '_' : e->name[j];
        k[plen + len - 7] = 0;
        ts->t[ts->n++] = (Target){k, pt->storage + e->offset, e, is_te};
    }
}

static void targets_free(Targets *ts) {
    for (int64_t i = 0; i < ts->n; i++) free(ts->t[i].kname);
    free(ts->t);
}

static const Target *find_target(const Targets *ts, const char *kname) {
    Target key = {(char *)kname, NULL, NULL, 0};
    return bsearch(&key, ts->t, (size_t)ts->n, sizeof *ts->t, cmp_target);
}

// ---- the file's modules ------------------------------------------------------------------------

enum { PART_DOWN, PART_UP, PART_ALPHA, PART_UNSUPPORTED, PART_UNKNOWN };

typedef struct {
    const char *key;     // the tensor name (borrowed from the SafeTensors)
    size_t mlen;         // length of the module name (the key's prefix)
    int part;
    const StTensor *t;
} Part;

// Splits a key into module name + part. LyCORIS-only suffixes are recognised so that the
// warning can say "unsupported" rather than "unknown".
static int classify(const char *key, size_t *mlen) {
    static const struct { const char *suffix; int part; } known[] = {
        {".lora_down.weight", PART_DOWN}, {".lora_up.weight", PART_UP}, {".alpha", PART_ALPHA},
        {".lora_mid.weight", PART_UNSUPPORTED}, {".dora_scale", PART_UNSUPPORTED}, {".diff", PART_UNSUPPORTED},
        {".diff_b", PART_UNSUPPORTED},
    };
    size_t len = strlen(key);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        size_t sl = strlen(known[i].suffix);
        if (len > sl && strcmp(key + len - sl, known[i].suffix) == 0) { *mlen = len - sl; return known[i].part; }
    }
    const char *dot = strrchr(key, '.');
    if (dot && (strncmp(dot, ".hada_", 6) == 0 || strncmp(dot, ".lokr_", 6) == 0)) {
        *mlen = (size_t)(dot - key);
        return PART_UNSUPPORTED;
    }
    *mlen = len;
    return PART_UNKNOWN;
}

static int cmp_part(const void *a, const void *b) {
    const Part *x = a, *y = b;
    size_t n = x->mlen < y->mlen ? x->mlen : y->mlen;
    int c = strncmp(x->key, y->key, n);
    if (c) return c;
    return x->mlen < y->mlen ? -1 : x->mlen > y->mlen;
}

typedef struct {
    char name[256];
    const StTensor *down, *up, *alpha;
    int unsupported;     // LyCORIS-only parts present
    int quiet;           // targets a model the caller did not pass: skipped without a warning
    const Target *target;
} Module;

// Dims of a tensor with trailing 1s removed, from dimension `from` on.
static int core_dims(const int64_t *shape, int ndim, int from, int64_t *out) {
    int n = 0;
    for (int d = from; d < ndim; d++) out[n++] = shape[d];
    while (n > 0 && out[n - 1] == 1) n--;
    return n;
}

static const char *shape_str(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t o = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < ndim && o < cap; d++) o += (size_t)snprintf(buf + o, cap - o, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, ")");
    return buf;
}

// Checks down/up against the target: up (out, r[, 1, 1]), down (r, <the weight's dims after out>).
static SdlStatus check_module(const Module *md, const char *file) {
    const StTensor *d = md->down, *u = md->up;
    const ParamEntry *e = md->target->e;
    char a[96], b[96], c[96];
    int64_t dcore[ST_MAX_DIMS], wcore[PARAM_MAX_DIMS], ucore[ST_MAX_DIMS];
    int nd = d->ndim >= 1 ? core_dims(d->shape, d->ndim, 1, dcore) : -1;
    int nw = core_dims(e->shape, e->ndim, 1, wcore);
    int nu = u->ndim >= 2 ? core_dims(u->shape, u->ndim, 2, ucore) : -1;
    int ok = d->ndim >= 2 && u->ndim >= 2 && nu == 0 && u->shape[0] == e->shape[0] && u->shape[1] == d->shape[0] &&
             nd == nw;
    for (int i = 0; ok && i < nd; i++) ok = dcore[i] == wcore[i];
    if (!ok)
        return sdl_fail(SDL_ERR_SHAPE, file, "this LoRA was made for a model of another size or architecture; use one made for this base model",
                        "LoRA module %s: lora_down %s and lora_up %s do not fit the weight %s", md->name,
                        shape_str(a, sizeof a, d->shape, d->ndim), shape_str(b, sizeof b, u->shape, u->ndim),
                        shape_str(c, sizeof c, e->shape, e->ndim));
    if (md->alpha && md->alpha->numel != 1)
        return sdl_fail(SDL_ERR_SHAPE, file, "alpha must be a single number; the file is damaged or not a kohya LoRA",
                        "LoRA module %s: .alpha has %lld values", md->name, (long long)md->alpha->numel);
    return SDL_OK;
}

// ---- undo copies -------------------------------------------------------------------------------

static void remember(LoraMerge *m, float *w, int64_t numel) {
    for (int64_t i = 0; i < m->n; i++)
        if (m->t[i].w == w) return;
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->t = realloc(m->t, (size_t)m->cap * sizeof *m->t);
        SDL_ASSERT(m->t);
    }
    float *copy = mem_alloc(MEM_OTHER, (size_t)numel * sizeof(float));
    memcpy(copy, w, (size_t)numel * sizeof(float));
    m->t[m->n++] = (LoraTouched){w, copy, numel};
}

void lora_merge_restore(LoraMerge *m) {
    for (int64_t i = 0; i < m->n; i++) {
        memcpy(m->t[i].w, m->t[i].base, (size_t)m->t[i].numel * sizeof(float));
        mem_free(m->t[i].base);
    }
    m->n = 0;
}

void lora_merge_free(LoraMerge *m) {
    for (int64_t i = 0; i < m->n; i++) mem_free(m->t[i].base);
    free(m->t);
    memset(m, 0, sizeof *m);
}

// ---- apply -------------------------------------------------------------------------------------

// "a, b, c (and N more)" of up to 4 names into buf.
static void list_names(char *buf, size_t cap, const Module *mods, int64_t n, int which) {
    size_t o = 0;
    int64_t shown = 0, total = 0;
    buf[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        int is = which ? mods[i].unsupported : (!mods[i].unsupported && !mods[i].quiet && !mods[i].target);
        if (!is) continue;
        total++;
        if (shown < 4 && o < cap) o += (size_t)snprintf(buf + o, cap - o, "%s%s", shown ? ", " : "", mods[i].name), shown++;
    }
    if (total > shown && o < cap) snprintf(buf + o, cap - o, " (and %lld more)", (long long)(total - shown));
}

SdlStatus lora_apply(LoraMerge *m, Unet *u, ClipText *te, const SafeTensors *st, float w_te, float w_unet,
                     LoraApplyReport *rep) {
    LoraApplyReport r = {0};
    const char *file = st->path ? st->path : "LoRA";
    Targets ts = {0};
    if (u) add_targets(&ts, &u->params, "lora_unet_", 0);
    if (te) add_targets(&ts, &te->params, "lora_te_", 1);
    qsort(ts.t, (size_t)ts.n, sizeof *ts.t, cmp_target);

    // group the tensors by module
    Part *parts = calloc((size_t)st->n_tensors + 1, sizeof *parts);
    Module *mods = calloc((size_t)st->n_tensors + 1, sizeof *mods);
    SDL_ASSERT(parts && mods);
    int64_t np = 0, nm = 0;
    const char *stray[4];
    for (int64_t i = 0; i < st->n_tensors; i++) {
        const StTensor *t = &st->tensors[i];
        size_t mlen;
        int part = classify(t->name, &mlen);
        if (part == PART_UNKNOWN) {
            if (r.unknown_keys < 4) stray[r.unknown_keys] = t->name;
            r.unknown_keys++;
            continue;
        }
        parts[np++] = (Part){t->name, mlen, part, t};
    }
    qsort(parts, (size_t)np, sizeof *parts, cmp_part);
    SdlStatus s = SDL_OK;
    for (int64_t i = 0; i < np && s == SDL_OK; i++) {
        if (i == 0 || cmp_part(&parts[i - 1], &parts[i]) != 0) {
            Module *md = &mods[nm++];
            size_t len = parts[i].mlen < sizeof md->name - 1 ? parts[i].mlen : sizeof md->name - 1;
            memcpy(md->name, parts[i].key, len);
            md->name[len] = 0;
        }
        Module *md = &mods[nm - 1];
        switch (parts[i].part) {
        case PART_DOWN: md->down = parts[i].t; break;
        case PART_UP: md->up = parts[i].t; break;
        case PART_ALPHA: md->alpha = parts[i].t; break;
        default: md->unsupported = 1;
        }
    }

    if (nm == 0)
        s = sdl_fail(SDL_ERR_FORMAT, file, "give a kohya LoRA/LoCon file (…lora_down.weight / …lora_up.weight keys), not a model or an embedding",
                     "no LoRA modules in this file (%lld tensors)", (long long)st->n_tensors);
    else
        for (int64_t i = 0; i < r.unknown_keys && i < 4; i++)
            log_warn("%s: tensor '%s' is not part of a LoRA module; ignored", file, stray[i]);
    // resolve and check everything before touching a weight: a bad file changes nothing
    int64_t n_te = 0, n_unet = 0;
    for (int64_t i = 0; i < nm && s == SDL_OK; i++) {
        Module *md = &mods[i];
        if (md->unsupported) { r.skipped_unsupported++; continue; }
        if (!md->down || !md->up) {
            s = sdl_fail(SDL_ERR_FORMAT, file, "the file is damaged or not a kohya LoRA/LoCon; re-download or re-save it",
                         "LoRA module %s has %s but no %s", md->name, md->down ? "lora_down" : "lora_up",
                         md->down ? "lora_up" : "lora_down");
            break;
        }
        int is_te = strncmp(md->name, "lora_te_", 8) == 0, is_unet = strncmp(md->name, "lora_unet_", 10) == 0;
        if ((is_te && !te) || (is_unet && !u)) { md->quiet = 1; continue; }
        md->target = find_target(&ts, md->name);
        if (!md->target) { r.skipped_unknown++; continue; }
        s = check_module(md, file);
        if (md->target->is_te) n_te++; else n_unet++;
    }
    if (s == SDL_OK && r.skipped_unknown) {
        char names[640];
        list_names(names, sizeof names, mods, nm, 0);
        log_warn("%s: %lld LoRA module%s name%s no layer of this model, skipped: %s", file, (long long)r.skipped_unknown,
                 r.skipped_unknown == 1 ? "" : "s", r.skipped_unknown == 1 ? "s" : "", names);
        if (r.skipped_unknown > n_te + n_unet)
            log_warn("%s: most of this LoRA does not apply: it was probably made for another model family (SDXL: lora_te1_/lora_te2_ names)", file);
    }
    if (s == SDL_OK && r.skipped_unsupported) {
        char names[640];
        list_names(names, sizeof names, mods, nm, 1);
        log_warn("%s: %lld LyCORIS module%s (LoHa, LoKr, Tucker lora_mid, DoRA or diff) not supported yet, skipped: %s", file,
                 (long long)r.skipped_unsupported, r.skipped_unsupported == 1 ? "" : "s", names);
    }

    // merge: W (out, K) += w · alpha/r · up (out, r) @ down (r, K)
    float *down = NULL, *up = NULL;
    size_t cap_d = 0, cap_u = 0;
    for (int64_t i = 0; i < nm && s == SDL_OK; i++) {
        Module *md = &mods[i];
        if (md->unsupported || !md->target) continue;
        const ParamEntry *e = md->target->e;
        int64_t r_ = md->down->shape[0], out = e->shape[0], K = e->numel / out;
        if ((size_t)md->down->numel > cap_d) { free(down); cap_d = (size_t)md->down->numel; down = malloc(cap_d * sizeof(float)); }
        if ((size_t)md->up->numel > cap_u) { free(up); cap_u = (size_t)md->up->numel; up = malloc(cap_u * sizeof(float)); }
        SDL_ASSERT(down && up);
        float alpha = (float)r_;
        s = st_tensor_to_f32(st, md->down, down);
        if (s == SDL_OK) s = st_tensor_to_f32(st, md->up, up);
        if (s == SDL_OK && md->alpha) s = st_tensor_to_f32(st, md->alpha, &alpha);
        if (s != SDL_OK) break;
        if (!md->alpha) r.alpha_missing++;
        float mult = md->target->is_te ? w_te : w_unet;
        if (mult == 0.0f) continue;
        remember(m, md->target->w, e->numel);
        // the scale is formed in float as A1111/kohya do: multiplier · (alpha / rank)
        float scale = mult * (alpha / (float)r_);
        gemm(false, false, out, K, r_, scale, up, r_, down, K, 1.0f, md->target->w, K);
        if (md->target->is_te) r.te_modules++; else r.unet_modules++;
    }
    free(down), free(up);
    targets_free(&ts);
    free(parts), free(mods);
    if (rep) *rep = r;
    if (s == SDL_OK)
        log_debug("%s: merged %lld text-encoder and %lld UNet modules (×%g / ×%g)", file, (long long)r.te_modules,
                  (long long)r.unet_modules, w_te, w_unet);
    return s;
}

SdlStatus lora_apply_file(LoraMerge *m, Unet *u, ClipText *te, const char *path, float w_te, float w_unet,
                          LoraApplyReport *rep) {
    SafeTensors st;
    SdlStatus s = st_open(&st, path);
    if (s == SDL_ERR_IO) {
        char why[sizeof sdl_last_error()->reason];
        snprintf(why, sizeof why, "%s", sdl_last_error()->reason);
        return sdl_fail(s, path, "check the path given to --lora or the name in <lora:NAME:W> and --lora_dir", "%s", why);
    }
    if (s != SDL_OK) return s;
    s = lora_apply(m, u, te, &st, w_te, w_unet, rep);
    st_close(&st);
    return s;
}

SdlStatus lora_file_addnet_hash(const char *path, char hex[65]) {
    void *map;
    size_t size;
    SDL_TRY(file_map_readonly(path, "a LoRA .safetensors file", &map, &size));
    char legacy[9];
    lora_sshs_hashes(map, size, hex, legacy);
    munmap(map, size);
    return SDL_OK;
}
