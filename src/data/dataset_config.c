// dataset_config.c — see dataset_config.h. The key table below is kohya's ConfigSanitizer
// schema (library/config_util.py): which keys exist, their types, and at which levels
// ([general], [[datasets]], [[datasets.subsets]]) each may appear.
#include "data/dataset_config.h"
#include "base/log.h"
#include "io/toml.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { L_GEN = 1, L_DS = 2, L_SUB = 4, L_ALL = 7 };
typedef enum { K_INT, K_FLOAT, K_BOOL, K_STR, K_RESO, K_FLOAT2, K_TABLE } KeyType;
#define NO_FIELD ((size_t)-1)

typedef struct {
    const char *name;
    KeyType type;
    int levels;
    size_t ds_off, sub_off;   // field in DatasetConfig / SubsetConfig (NO_FIELD if none)
    size_t has_off;           // bool "is set" field for optional values (in the same struct)
} KeyDef;

#define DS(f) offsetof(DatasetConfig, f)
#define SUB(f) offsetof(SubsetConfig, f)
static const KeyDef KEYS[] = {
    {"batch_size", K_INT, L_GEN | L_DS, DS(batch_size), NO_FIELD, NO_FIELD},
    {"resolution", K_RESO, L_GEN | L_DS, DS(resolution), NO_FIELD, DS(has_resolution)},
    {"enable_bucket", K_BOOL, L_GEN | L_DS, DS(enable_bucket), NO_FIELD, NO_FIELD},
    {"min_bucket_reso", K_INT, L_GEN | L_DS, DS(min_bucket_reso), NO_FIELD, NO_FIELD},
    {"max_bucket_reso", K_INT, L_GEN | L_DS, DS(max_bucket_reso), NO_FIELD, NO_FIELD},
    {"bucket_reso_steps", K_INT, L_GEN | L_DS, DS(bucket_reso_steps), NO_FIELD, NO_FIELD},
    {"bucket_no_upscale", K_BOOL, L_GEN | L_DS, DS(bucket_no_upscale), NO_FIELD, NO_FIELD},
    {"network_multiplier", K_FLOAT, L_GEN | L_DS, DS(network_multiplier), NO_FIELD, NO_FIELD},
    {"validation_seed", K_INT, L_GEN | L_DS, DS(validation_seed), NO_FIELD, DS(has_validation_seed)},
    {"validation_split", K_FLOAT, L_GEN | L_DS, DS(validation_split), NO_FIELD, NO_FIELD},
    {"resize_interpolation", K_STR, L_ALL, DS(resize_interpolation), SUB(resize_interpolation), NO_FIELD},
    {"num_repeats", K_INT, L_ALL, NO_FIELD, SUB(num_repeats), NO_FIELD},
    {"shuffle_caption", K_BOOL, L_ALL, NO_FIELD, SUB(shuffle_caption), NO_FIELD},
    {"color_aug", K_BOOL, L_ALL, NO_FIELD, SUB(color_aug), NO_FIELD},
    {"flip_aug", K_BOOL, L_ALL, NO_FIELD, SUB(flip_aug), NO_FIELD},
    {"random_crop", K_BOOL, L_ALL, NO_FIELD, SUB(random_crop), NO_FIELD},
    {"enable_wildcard", K_BOOL, L_ALL, NO_FIELD, SUB(enable_wildcard), NO_FIELD},
    {"keep_tokens", K_INT, L_ALL, NO_FIELD, SUB(keep_tokens), NO_FIELD},
    {"keep_tokens_separator", K_STR, L_ALL, NO_FIELD, SUB(keep_tokens_separator), NO_FIELD},
    {"caption_separator", K_STR, L_ALL, NO_FIELD, SUB(caption_separator), NO_FIELD},
    {"secondary_separator", K_STR, L_ALL, NO_FIELD, SUB(secondary_separator), NO_FIELD},
    {"caption_prefix", K_STR, L_ALL, NO_FIELD, SUB(caption_prefix), NO_FIELD},
    {"caption_suffix", K_STR, L_ALL, NO_FIELD, SUB(caption_suffix), NO_FIELD},
    {"face_crop_aug_range", K_FLOAT2, L_ALL, NO_FIELD, SUB(face_crop_aug_range), SUB(has_face_crop_aug_range)},
    {"token_warmup_min", K_INT, L_ALL, NO_FIELD, SUB(token_warmup_min), NO_FIELD},
    {"token_warmup_step", K_FLOAT, L_ALL, NO_FIELD, SUB(token_warmup_step), NO_FIELD},
    {"custom_attributes", K_TABLE, L_ALL, NO_FIELD, NO_FIELD, NO_FIELD},
    {"caption_dropout_rate", K_FLOAT, L_ALL, NO_FIELD, SUB(caption_dropout_rate), NO_FIELD},
    {"caption_tag_dropout_rate", K_FLOAT, L_ALL, NO_FIELD, SUB(caption_tag_dropout_rate), NO_FIELD},
    {"caption_dropout_every_n_epochs", K_INT, L_ALL, NO_FIELD, SUB(caption_dropout_every_n_epochs), NO_FIELD},
    {"caption_extension", K_STR, L_ALL, NO_FIELD, SUB(caption_extension), NO_FIELD},
    {"class_tokens", K_STR, L_ALL, NO_FIELD, SUB(class_tokens), NO_FIELD},
    {"cache_info", K_BOOL, L_ALL, NO_FIELD, SUB(cache_info), NO_FIELD},
    {"image_dir", K_STR, L_SUB, NO_FIELD, SUB(image_dir), NO_FIELD},
    {"is_reg", K_BOOL, L_SUB, NO_FIELD, SUB(is_reg), NO_FIELD},
    {"alpha_mask", K_BOOL, L_SUB, NO_FIELD, SUB(alpha_mask), NO_FIELD},
    {"metadata_file", K_STR, L_SUB, NO_FIELD, SUB(metadata_file), NO_FIELD},
    {"conditioning_data_dir", K_STR, L_SUB, NO_FIELD, SUB(conditioning_data_dir), NO_FIELD},
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

// The string fields of each struct, for deep copies and frees.
static const size_t DS_STRS[] = {DS(resize_interpolation)};
static const size_t SUB_STRS[] = {SUB(image_dir), SUB(metadata_file), SUB(conditioning_data_dir), SUB(class_tokens),
                                  SUB(caption_extension), SUB(keep_tokens_separator), SUB(caption_separator),
                                  SUB(secondary_separator), SUB(caption_prefix), SUB(caption_suffix),
                                  SUB(resize_interpolation)};
#define STR_AT(base, off) (*(char **)((char *)(base) + (off)))

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

static bool dup_strings(void *base, const size_t *offs, size_t n) {
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const char *s = STR_AT(base, offs[i]);
        STR_AT(base, offs[i]) = xstrdup(s);
        if (s && !STR_AT(base, offs[i])) ok = false;
    }
    return ok;
}
static void free_strings(void *base, const size_t *offs, size_t n) {
    for (size_t i = 0; i < n; i++) { free(STR_AT(base, offs[i])); STR_AT(base, offs[i]) = NULL; }
}

void dataset_args_default(DatasetArgs *a) {
    memset(a, 0, sizeof *a);
    a->prior_loss_weight = 1.0;
    a->ds.batch_size = 1;
    a->ds.min_bucket_reso = 256;
    a->ds.max_bucket_reso = 1024;
    a->ds.bucket_reso_steps = 64;
    a->ds.network_multiplier = 1.0;
    a->sub.num_repeats = 1;
    a->sub.caption_extension = ".caption";
    a->sub.keep_tokens_separator = "";
    a->sub.caption_separator = ",";
    a->sub.token_warmup_min = 1;
}

SdlStatus dataset_args_set_resolution(DatasetArgs *a, const char *text) {
    // "W" or "W,H" (kohya: tuple(int(r) for r in s.split(","))), nothing else
    char *end;
    long long w = strtoll(text, &end, 10), h = w;
    bool ok = end != text;
    if (ok && *end == ',') {
        const char *p = end + 1;
        h = strtoll(p, &end, 10);
        ok = end != p;
    }
    if (!ok || *end || w <= 0 || h <= 0)
        return sdl_fail(SDL_ERR_ARG, NULL, "give --resolution 512 or --resolution 512,768 (width,height)",
                        "--resolution: '%s' is not a size", text);
    a->ds.has_resolution = true;
    a->ds.resolution[0] = w;
    a->ds.resolution[1] = h;
    return SDL_OK;
}

// ---------------------------------------------------------------------------------------
// Schema checks

static const KeyDef *find_key(const char *name) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(KEYS[i].name, name) == 0) return &KEYS[i];
    return NULL;
}

static const char *level_name(int level) {
    return level == L_GEN ? "[general]" : level == L_DS ? "[[datasets]]" : "[[datasets.subsets]]";
}

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];
    if (lb >= 63) return 99;
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t c = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < c) c = prev[j] + 1;
            if (cur[j - 1] + 1 < c) c = cur[j - 1] + 1;
            cur[j] = c;
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

static SdlStatus unknown_key(const char *key, int level, const char *path, int line) {
    const KeyDef *k = find_key(key);
    char hint[512];
    if (k) {
        size_t o = 0;
        o += (size_t)snprintf(hint + o, sizeof hint - o, "'%s' may only be set in", key);
        for (int l = L_GEN; l <= L_SUB; l <<= 1)
            if (k->levels & l) o += (size_t)snprintf(hint + o, sizeof hint - o, " %s", level_name(l));
        return sdl_fail(SDL_ERR_FORMAT, path, hint, "key '%s' is not allowed in %s at %s:%d", key, level_name(level),
                        path, line);
    }
    const char *best = NULL;
    size_t best_d = 5; // suggest names within 4 edits (flip_augment → flip_aug)
    for (size_t i = 0; i < N_KEYS; i++) {
        size_t d = edit_distance(key, KEYS[i].name);
        if (d < best_d) { best_d = d; best = KEYS[i].name; }
    }
    if (strcmp(key, "prior_loss_weight") == 0 || strcmp(key, "max_token_length") == 0 || strcmp(key, "debug_dataset") == 0)
        snprintf(hint, sizeof hint, "'%s' is a training option: give it on the command line or in --config_file", key);
    else if (best)
        snprintf(hint, sizeof hint, "did you mean '%s'? (kohya's dataset config keys: docs/dataset.md)", best);
    else
        snprintf(hint, sizeof hint, "see docs/dataset.md for kohya's dataset config keys");
    const char *where = level == L_GEN ? "[general]" : level == L_DS ? "[datasets]" : "[datasets.subsets]";
    return sdl_fail(SDL_ERR_FORMAT, path, hint, "unknown key '%s' in %s at %s:%d", key, where, path, line);
}

static const char *type_name(KeyType t) {
    switch (t) {
    case K_INT: return "an integer";
    case K_FLOAT: return "a number";
    case K_BOOL: return "true or false";
    case K_STR: return "a string";
    case K_RESO: return "an integer or [width, height]";
    case K_FLOAT2: return "[min, max] (two numbers)";
    default: return "a table";
    }
}

static bool type_ok(const KeyDef *k, const TomlValue *v) {
    int64_t i;
    double d;
    switch (k->type) {
    case K_INT: return toml_as_int(v, &i);
    case K_FLOAT: return toml_as_number(v, &d);
    case K_BOOL: return toml_kind(v) == TOML_BOOL;
    case K_STR: return toml_kind(v) == TOML_STRING;
    case K_RESO:
        if (toml_as_int(v, &i)) return i > 0;
        if (toml_array_len(v) != 2) return false;
        for (size_t j = 0; j < 2; j++)
            if (!toml_as_int(toml_array_at(v, j), &i) || i <= 0) return false;
        return true;
    case K_FLOAT2:
        if (toml_kind(v) != TOML_ARRAY || toml_array_len(v) != 2) return false;
        return toml_as_number(toml_array_at(v, 0), &d) && toml_as_number(toml_array_at(v, 1), &d);
    case K_TABLE: return toml_kind(v) == TOML_TABLE;
    }
    return false;
}

// Checks every key of table `t` at `level`; `skip` is a structural key of that level.
static SdlStatus check_table(const TomlValue *t, int level, const char *skip, const char *path) {
    for (size_t i = 0; i < toml_table_len(t); i++) {
        const char *key = toml_table_key_at(t, i, NULL);
        const TomlValue *v = toml_table_value_at(t, i);
        if (skip && strcmp(key, skip) == 0) continue;
        const KeyDef *k = find_key(key);
        if (!k || !(k->levels & level)) return unknown_key(key, level, path, toml_line(v));
        if (!type_ok(k, v)) {
            const char *where = level == L_GEN ? "[general]" : level == L_DS ? "[datasets]" : "[datasets.subsets]";
            char hint[160];
            snprintf(hint, sizeof hint, "write %s = %s", key,
                     k->type == K_INT ? "512" : k->type == K_FLOAT ? "0.1" : k->type == K_BOOL ? "true" :
                     k->type == K_STR ? "\"text\"" : k->type == K_RESO ? "512 or [512, 768]" : k->type == K_FLOAT2 ? "[2.0, 4.0]" : "{}");
            return sdl_fail(SDL_ERR_FORMAT, path, hint, "'%s' in %s at %s:%d must be %s, not %s", key, where, path,
                            toml_line(v), type_name(k->type), toml_kind_name(toml_kind(v)));
        }
    }
    return SDL_OK;
}

// Writes value v of key k into the struct at base (off = the field for that struct).
static bool apply_value(const KeyDef *k, const TomlValue *v, void *base, size_t off) {
    char *p = (char *)base + off;
    int64_t i;
    double d;
    switch (k->type) {
    case K_INT: toml_as_int(v, &i); *(int64_t *)p = i; break;
    case K_FLOAT: toml_as_number(v, &d); *(double *)p = d; break;
    case K_BOOL: { bool b = false; toml_as_bool(v, &b); *(bool *)p = b; break; }
    case K_STR: {
        char *s = strdup(toml_as_string(v, NULL));
        if (!s) return false;
        free(*(char **)p);
        *(char **)p = s;
        break;
    }
    case K_RESO:
        if (toml_as_int(v, &i)) { ((int64_t *)p)[0] = ((int64_t *)p)[1] = i; }
        else { toml_as_int(toml_array_at(v, 0), &((int64_t *)p)[0]); toml_as_int(toml_array_at(v, 1), &((int64_t *)p)[1]); }
        break;
    case K_FLOAT2:
        toml_as_number(toml_array_at(v, 0), &((double *)p)[0]);
        toml_as_number(toml_array_at(v, 1), &((double *)p)[1]);
        break;
    case K_TABLE: return true; // custom_attributes: accepted, not used by sdlora
    }
    if (k->has_off != NO_FIELD) *(bool *)((char *)base + k->has_off) = true;
    return true;
}

// Applies every key of table t that has a field in the struct kind (dataset or subset).
static bool apply_table(const TomlValue *t, void *base, bool subset) {
    for (size_t i = 0; i < toml_table_len(t); i++) {
        const KeyDef *k = find_key(toml_table_key_at(t, i, NULL));
        if (!k) continue;
        size_t off = subset ? k->sub_off : k->ds_off;
        if (off == NO_FIELD) continue;
        if (!apply_value(k, toml_table_value_at(t, i), base, off)) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------
// Resolution and checks shared by all modes

static void subset_free(SubsetConfig *s) { free_strings(s, SUB_STRS, sizeof SUB_STRS / sizeof SUB_STRS[0]); }

void dataset_setup_free(DatasetSetup *s) {
    for (size_t d = 0; d < s->n_datasets; d++) {
        DatasetConfig *ds = &s->datasets[d];
        for (size_t i = 0; i < ds->n_subsets; i++) subset_free(&ds->subsets[i]);
        free(ds->subsets);
        free_strings(ds, DS_STRS, sizeof DS_STRS / sizeof DS_STRS[0]);
    }
    free(s->datasets);
    free(s->source);
    memset(s, 0, sizeof *s);
}

static SdlStatus oom(void) { return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory"); }

static bool init_dataset(DatasetConfig *d, const DatasetArgs *a) {
    *d = a->ds;
    d->subsets = NULL;
    d->n_subsets = 0;
    return dup_strings(d, DS_STRS, sizeof DS_STRS / sizeof DS_STRS[0]);
}
static bool init_subset(SubsetConfig *s, const DatasetArgs *a) {
    *s = a->sub;
    return dup_strings(s, SUB_STRS, sizeof SUB_STRS / sizeof SUB_STRS[0]);
}

// Checks after resolution: dataset type, required keys, bucket limits (kohya's
// adjust_min_max_bucket_reso_by_steps), caption extension dot.
static SdlStatus finish_dataset(DatasetConfig *d, size_t index, const char *path) {
    char where[1200];
    if (path && d->line) snprintf(where, sizeof where, " (dataset %zu at %s:%d)", index + 1, path, d->line);
    else snprintf(where, sizeof where, "%s", "");
    size_t n_ft = 0;
    for (size_t i = 0; i < d->n_subsets; i++) n_ft += d->subsets[i].metadata_file != NULL;
    if (n_ft && n_ft != d->n_subsets)
        return sdl_fail(SDL_ERR_FORMAT, path, "put DreamBooth subsets (image_dir + captions) and fine-tuning subsets (metadata_file) in separate [[datasets]]",
                        "DreamBooth subset and fine tuning subset cannot be mixed in the same dataset%s", where);
    d->is_dreambooth = n_ft == 0;
    if (d->n_subsets == 0)
        return sdl_fail(SDL_ERR_FORMAT, path, "add at least one [[datasets.subsets]] with image_dir = \"...\"",
                        "dataset has no subsets%s", where);
    for (size_t i = 0; i < d->n_subsets; i++) {
        SubsetConfig *s = &d->subsets[i];
        if (d->is_dreambooth && !s->image_dir)
            return sdl_fail(SDL_ERR_FORMAT, path, "add image_dir = \"path/to/images\" to the subset",
                            "subset %zu has no image_dir%s%s%d", i + 1, path ? " at " : "", path ? path : "", path ? s->line : 0);
        if (s->caption_extension && s->caption_extension[0] && s->caption_extension[0] != '.') {
            size_t n = strlen(s->caption_extension);
            char *e = malloc(n + 2);
            if (!e) return oom();
            e[0] = '.';
            memcpy(e + 1, s->caption_extension, n + 1);
            free(s->caption_extension);
            s->caption_extension = e;
        }
        if (s->caption_dropout_rate < 0 || s->caption_dropout_rate > 1 || s->caption_tag_dropout_rate < 0 ||
            s->caption_tag_dropout_rate > 1)
            return sdl_fail(SDL_ERR_FORMAT, path, "dropout rates are probabilities between 0 and 1",
                            "caption dropout rate out of [0, 1] in subset %zu%s", i + 1, where);
    }
    if (d->batch_size < 1)
        return sdl_fail(SDL_ERR_ARG, path, "use batch_size = 1 or more", "batch_size %lld%s", (long long)d->batch_size, where);
    if (d->is_dreambooth && !d->has_resolution)
        return sdl_fail(SDL_ERR_ARG, path, "give --resolution 512 (or resolution = 512 in [general] or [[datasets]])",
                        "no resolution given for a DreamBooth dataset%s", where);
    if (d->bucket_reso_steps < 1)
        return sdl_fail(SDL_ERR_ARG, path, "use bucket_reso_steps = 64", "bucket_reso_steps %lld%s", (long long)d->bucket_reso_steps, where);
    if (d->bucket_reso_steps % 64 != 0)
        log_warn("bucket_reso_steps %lld is not a multiple of 64: kohya requires that for SD1.x/2.x (32 for SDXL)",
                 (long long)d->bucket_reso_steps);
    if (d->validation_split < 0 || d->validation_split > 1) {
        log_warn("validation_split %g is outside [0, 1]: no validation split is made", d->validation_split);
        d->validation_split = 0;
    }
    if (d->enable_bucket && d->has_resolution) {
        int64_t st = d->bucket_reso_steps;
        if (d->min_bucket_reso % st) {
            int64_t adj = d->min_bucket_reso - d->min_bucket_reso % st;
            log_warn("min_bucket_reso %lld rounded down to %lld (a multiple of bucket_reso_steps %lld)",
                     (long long)d->min_bucket_reso, (long long)adj, (long long)st);
            d->min_bucket_reso = adj;
        }
        if (d->max_bucket_reso % st) {
            int64_t adj = d->max_bucket_reso + st - d->max_bucket_reso % st;
            log_warn("max_bucket_reso %lld rounded up to %lld (a multiple of bucket_reso_steps %lld)",
                     (long long)d->max_bucket_reso, (long long)adj, (long long)st);
            d->max_bucket_reso = adj;
        }
        int64_t rmin = d->resolution[0] < d->resolution[1] ? d->resolution[0] : d->resolution[1];
        int64_t rmax = d->resolution[0] > d->resolution[1] ? d->resolution[0] : d->resolution[1];
        if (d->min_bucket_reso > rmin || d->max_bucket_reso < rmax)
            return sdl_fail(SDL_ERR_ARG, path, "min_bucket_reso must be <= the smaller side of resolution and max_bucket_reso >= the larger",
                            "bucket limits %lld..%lld do not include resolution %lldx%lld%s", (long long)d->min_bucket_reso,
                            (long long)d->max_bucket_reso, (long long)d->resolution[0], (long long)d->resolution[1], where);
    }
    if (d->bucket_no_upscale && d->enable_bucket && (d->min_bucket_reso != 256 || d->max_bucket_reso != 1024))
        log_warn("min_bucket_reso and max_bucket_reso are ignored with bucket_no_upscale");
    return SDL_OK;
}

// ---------------------------------------------------------------------------------------
// TOML mode

SdlStatus dataset_setup_from_toml_text(DatasetSetup *out, const char *text, const char *path, const DatasetArgs *a) {
    memset(out, 0, sizeof *out);
    const char *p = path ? path : "<dataset config>";
    TomlValue *root = NULL;
    SDL_TRY(toml_parse(text, strlen(text), p, &root));
    SdlStatus st = SDL_OK;
    // top level: general (table), datasets (array of tables)
    for (size_t i = 0; i < toml_table_len(root) && st == SDL_OK; i++) {
        const char *key = toml_table_key_at(root, i, NULL);
        const TomlValue *v = toml_table_value_at(root, i);
        if (strcmp(key, "general") == 0) {
            if (toml_kind(v) != TOML_TABLE)
                st = sdl_fail(SDL_ERR_FORMAT, p, "write [general] as a table", "'general' at %s:%d must be a table", p, toml_line(v));
        } else if (strcmp(key, "datasets") == 0) {
            if (toml_kind(v) != TOML_ARRAY)
                st = sdl_fail(SDL_ERR_FORMAT, p, "write each dataset as [[datasets]]", "'datasets' at %s:%d must be an array of tables", p, toml_line(v));
        } else {
            const KeyDef *k = find_key(key);
            char hint[200];
            snprintf(hint, sizeof hint, "%s", k ? "put it under [general], [[datasets]] or [[datasets.subsets]]"
                                              : "the top level holds only [general] and [[datasets]]");
            st = sdl_fail(SDL_ERR_FORMAT, p, hint, "unknown key '%s' at the top level at %s:%d", key, p, toml_line(v));
        }
    }
    const TomlValue *general = toml_table_get(root, "general");
    const TomlValue *datasets = toml_table_get(root, "datasets");
    if (st == SDL_OK) st = check_table(general, L_GEN, NULL, p);
    size_t nd = toml_array_len(datasets);
    for (size_t d = 0; d < nd && st == SDL_OK; d++) {
        const TomlValue *dt = toml_array_at(datasets, d);
        if (toml_kind(dt) != TOML_TABLE) {
            st = sdl_fail(SDL_ERR_FORMAT, p, "write each dataset as [[datasets]]", "datasets[%zu] at %s:%d is not a table", d, p, toml_line(dt));
            break;
        }
        st = check_table(dt, L_DS, "subsets", p);
        const TomlValue *subs = toml_table_get(dt, "subsets");
        if (st == SDL_OK && subs && toml_kind(subs) != TOML_ARRAY)
            st = sdl_fail(SDL_ERR_FORMAT, p, "write each subset as [[datasets.subsets]]", "'subsets' at %s:%d must be an array of tables", p, toml_line(subs));
        for (size_t s = 0; s < toml_array_len(subs) && st == SDL_OK; s++) {
            const TomlValue *sv = toml_array_at(subs, s);
            if (toml_kind(sv) != TOML_TABLE)
                st = sdl_fail(SDL_ERR_FORMAT, p, "write each subset as [[datasets.subsets]]", "subset at %s:%d is not a table", p, toml_line(sv));
            else
                st = check_table(sv, L_SUB, NULL, p);
        }
    }
    if (st == SDL_OK && nd == 0)
        st = sdl_fail(SDL_ERR_FORMAT, p, "add a [[datasets]] table with at least one [[datasets.subsets]]", "no [[datasets]] in %s", p);
    if (st == SDL_OK) {
        out->datasets = calloc(nd, sizeof *out->datasets);
        out->source = xstrdup(path);
        if (!out->datasets || (path && !out->source)) st = oom();
    }
    for (size_t d = 0; d < nd && st == SDL_OK; d++) {
        const TomlValue *dt = toml_array_at(datasets, d);
        DatasetConfig *ds = &out->datasets[d];
        // lowest priority first: command line (incl. defaults), then [general], then the dataset
        if (!init_dataset(ds, a)) { st = oom(); break; }
        out->n_datasets++;
        ds->line = toml_line(dt);
        if (!apply_table(general, ds, false) || !apply_table(dt, ds, false)) { st = oom(); break; }
        const TomlValue *subs = toml_table_get(dt, "subsets");
        size_t ns = toml_array_len(subs);
        ds->subsets = calloc(ns ? ns : 1, sizeof *ds->subsets);
        if (!ds->subsets) { st = oom(); break; }
        for (size_t s = 0; s < ns; s++) {
            SubsetConfig *sc = &ds->subsets[s];
            if (!init_subset(sc, a)) { st = oom(); break; }
            ds->n_subsets++;
            sc->line = toml_line(toml_array_at(subs, s));
            if (!apply_table(general, sc, true) || !apply_table(dt, sc, true) || !apply_table(toml_array_at(subs, s), sc, true)) {
                st = oom();
                break;
            }
        }
        if (st == SDL_OK) st = finish_dataset(ds, d, p);
    }
    toml_free(root);
    if (st != SDL_OK) dataset_setup_free(out);
    return st;
}

// JSON configs (kohya accepts .json with the same schema): converted to TOML text with one
// key per line so that every check above applies; errors then cite lines of that text, so
// the message says "(JSON converted)".
static bool json_to_toml_value(const cJSON *v, char **buf, size_t *len, size_t *cap);

static bool tb_puts(char **buf, size_t *len, size_t *cap, const char *s) {
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        size_t c = (*cap ? *cap * 2 : 1024) + n;
        char *nb = realloc(*buf, c);
        if (!nb) return false;
        *buf = nb; *cap = c;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
    return true;
}

static bool tb_string(char **buf, size_t *len, size_t *cap, const char *s) {
    bool ok = tb_puts(buf, len, cap, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c && ok; c++) {
        char e[8];
        if (*c == '"' || *c == '\\') { e[0] = '\\'; e[1] = (char)*c; e[2] = 0; }
        else if (*c < 0x20 || *c == 0x7f) snprintf(e, sizeof e, "\\u%04x", *c);
        else { e[0] = (char)*c; e[1] = 0; }
        ok = tb_puts(buf, len, cap, e);
    }
    return ok && tb_puts(buf, len, cap, "\"");
}

static bool json_to_toml_value(const cJSON *v, char **buf, size_t *len, size_t *cap) {
    char num[64];
    if (cJSON_IsBool(v)) return tb_puts(buf, len, cap, cJSON_IsTrue(v) ? "true" : "false");
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(int64_t)d && d > -9e15 && d < 9e15) snprintf(num, sizeof num, "%lld", (long long)d);
        else snprintf(num, sizeof num, "%.17g", d);
        return tb_puts(buf, len, cap, num);
    }
    if (cJSON_IsString(v)) return tb_string(buf, len, cap, v->valuestring);
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        bool obj = cJSON_IsObject(v), ok = tb_puts(buf, len, cap, obj ? "{" : "[");
        const cJSON *c;
        bool first = true;
        cJSON_ArrayForEach(c, v) {
            if (!first) ok = ok && tb_puts(buf, len, cap, ", ");
            first = false;
            if (obj) ok = ok && tb_string(buf, len, cap, c->string) && tb_puts(buf, len, cap, " = ");
            ok = ok && json_to_toml_value(c, buf, len, cap);
        }
        return ok && tb_puts(buf, len, cap, obj ? "}" : "]");
    }
    return false; // null: kohya treats a None value as unset; the caller skips it
}

static bool json_table_lines(const cJSON *t, const char *skip, char **buf, size_t *len, size_t *cap) {
    const cJSON *c;
    bool ok = true;
    cJSON_ArrayForEach(c, t) {
        if ((skip && strcmp(c->string, skip) == 0) || cJSON_IsNull(c)) continue;
        ok = ok && tb_string(buf, len, cap, c->string) && tb_puts(buf, len, cap, " = ") &&
             json_to_toml_value(c, buf, len, cap) && tb_puts(buf, len, cap, "\n");
    }
    return ok;
}

static SdlStatus json_config_to_toml(const char *json, const char *path, char **out) {
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sdl_fail(SDL_ERR_FORMAT, path, "check the JSON syntax (a validator shows the position)", "not a valid JSON object");
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    bool ok = true;
    const cJSON *c;
    // top-level keys other than general/datasets go first so the TOML check reports them
    cJSON_ArrayForEach(c, root) {
        if (strcmp(c->string, "general") && strcmp(c->string, "datasets") && !cJSON_IsNull(c))
            ok = ok && tb_string(&buf, &len, &cap, c->string) && tb_puts(&buf, &len, &cap, " = ") &&
                 json_to_toml_value(c, &buf, &len, &cap) && tb_puts(&buf, &len, &cap, "\n");
    }
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(root, "general");
    if (cJSON_IsObject(g)) ok = ok && tb_puts(&buf, &len, &cap, "[general]\n") && json_table_lines(g, NULL, &buf, &len, &cap);
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(root, "datasets"), *d;
    if (cJSON_IsArray(ds)) {
        cJSON_ArrayForEach(d, ds) {
            ok = ok && tb_puts(&buf, &len, &cap, "[[datasets]]\n") && json_table_lines(d, "subsets", &buf, &len, &cap);
            const cJSON *subs = cJSON_GetObjectItemCaseSensitive(d, "subsets"), *s;
            cJSON_ArrayForEach(s, subs) ok = ok && tb_puts(&buf, &len, &cap, "[[datasets.subsets]]\n") && json_table_lines(s, NULL, &buf, &len, &cap);
        }
    }
    cJSON_Delete(root);
    if (!ok) { free(buf); return sdl_fail(SDL_ERR_FORMAT, path, "use kohya's schema: {\"general\": {...}, \"datasets\": [{..., \"subsets\": [{...}]}]}", "unsupported JSON dataset config structure"); }
    *out = buf ? buf : strdup("");
    return *out ? SDL_OK : oom();
}

static SdlStatus read_text_file(const char *path, char **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return sdl_fail(SDL_ERR_IO, path, "check the --dataset_config path", "cannot open: %s", strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[8192];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (cap + n + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return oom(); }
            buf = nb;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!buf) buf = calloc(1, 1);
    if (!buf) return oom();
    buf[len] = 0;
    *out = buf;
    return SDL_OK;
}

static bool ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

// ---------------------------------------------------------------------------------------
// Folder mode

bool dataset_parse_folder_name(const char *name, int64_t *repeats, const char **class_tokens) {
    // kohya: tokens = name.split("_"); int(tokens[0]); class_tokens = "_".join(tokens[1:])
    const char *us = strchr(name, '_');
    size_t n = us ? (size_t)(us - name) : strlen(name);
    // Python int() accepts surrounding whitespace, a sign and digit underscores; none of
    // those can reach here but spaces and a sign, which we accept the same way.
    const char *s = name, *e = name + n;
    while (s < e && isspace((unsigned char)*s)) s++;
    while (e > s && isspace((unsigned char)e[-1])) e--;
    bool neg = false;
    if (s < e && (*s == '+' || *s == '-')) { neg = *s == '-'; s++; }
    if (s == e) return false;
    int64_t v = 0;
    for (const char *p = s; p < e; p++) {
        if (!isdigit((unsigned char)*p) || v > 100000000) return false;
        v = v * 10 + (*p - '0');
    }
    *repeats = neg ? -v : v;
    *class_tokens = us ? us + 1 : "";
    return true;
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Subsets from the immediate subfolders of dir (sorted by name: kohya takes the filesystem's
// unsorted iterdir() order, which differs between machines).
static SdlStatus add_folder_subsets(DatasetConfig *ds, const char *dir, bool is_reg, const DatasetArgs *a) {
    DIR *dp = opendir(dir);
    if (!dp)
        return sdl_fail(SDL_ERR_IO, dir, is_reg ? "check --reg_data_dir" : "check --train_data_dir",
                        "cannot open the folder: %s", strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    SdlStatus st = SDL_OK;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.') continue;
        char full[4096];
        struct stat sb;
        snprintf(full, sizeof full, "%s/%s", dir, de->d_name);
        if (stat(full, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) { st = oom(); break; }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) { st = oom(); break; }
        n++;
    }
    closedir(dp);
    if (st == SDL_OK) qsort(names, n, sizeof *names, str_cmp);
    for (size_t i = 0; i < n && st == SDL_OK; i++) {
        int64_t rep;
        const char *cls;
        if (!dataset_parse_folder_name(names[i], &rep, &cls)) {
            log_warn("ignoring folder '%s/%s': its name must start with the number of repeats, e.g. '10_%s'", dir,
                     names[i], names[i]);
            continue;
        }
        if (rep < 1) {
            log_warn("ignoring folder '%s/%s': repeats %lld < 1", dir, names[i], (long long)rep);
            continue;
        }
        SubsetConfig *grown = realloc(ds->subsets, (ds->n_subsets + 1) * sizeof *grown);
        if (!grown) { st = oom(); break; }
        ds->subsets = grown;
        SubsetConfig *sc = &ds->subsets[ds->n_subsets];
        if (!init_subset(sc, a)) { st = oom(); break; }
        ds->n_subsets++;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", dir, names[i]);
        free(sc->image_dir);
        free(sc->class_tokens);
        sc->image_dir = strdup(full);
        sc->class_tokens = strdup(cls);
        sc->num_repeats = rep;
        sc->is_reg = is_reg;
        if (!sc->image_dir || !sc->class_tokens) st = oom();
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}

SdlStatus dataset_setup_build(DatasetSetup *out, const DatasetArgs *a) {
    memset(out, 0, sizeof *out);
    if (a->dataset_config) {
        if (a->train_data_dir || a->reg_data_dir || a->in_json)
            log_warn("--dataset_config is given: --train_data_dir, --reg_data_dir and --in_json are ignored (as kohya)");
        bool json = ends_with_ci(a->dataset_config, ".json");
        if (!json && !ends_with_ci(a->dataset_config, ".toml"))
            return sdl_fail(SDL_ERR_ARG, a->dataset_config, "name the dataset config *.toml (or *.json)",
                            "dataset config must be a .toml or .json file");
        char *text = NULL;
        SDL_TRY(read_text_file(a->dataset_config, &text));
        if (json) {
            char *t2 = NULL;
            SdlStatus st = json_config_to_toml(text, a->dataset_config, &t2);
            free(text);
            SDL_TRY(st);
            text = t2;
        }
        SdlStatus st = dataset_setup_from_toml_text(out, text, a->dataset_config, a);
        free(text);
        return st;
    }
    if (!a->train_data_dir)
        return sdl_fail(SDL_ERR_ARG, NULL, "give --train_data_dir DIR (with <repeats>_<name> subfolders) or --dataset_config FILE",
                        "no dataset given");
    out->datasets = calloc(1, sizeof *out->datasets);
    if (!out->datasets) return oom();
    DatasetConfig *ds = &out->datasets[0];
    if (!init_dataset(ds, a)) { free(out->datasets); out->datasets = NULL; return oom(); }
    out->n_datasets = 1;
    SdlStatus st = SDL_OK;
    if (a->in_json) {
        // kohya's fine-tuning mode: one subset, images under train_data_dir, captions in the JSON
        ds->subsets = calloc(1, sizeof *ds->subsets);
        if (!ds->subsets || !init_subset(&ds->subsets[0], a)) st = oom();
        else {
            ds->n_subsets = 1;
            free(ds->subsets[0].image_dir);
            ds->subsets[0].image_dir = strdup(a->train_data_dir);
            ds->subsets[0].metadata_file = strdup(a->in_json);
            if (!ds->subsets[0].image_dir || !ds->subsets[0].metadata_file) st = oom();
        }
    } else {
        st = add_folder_subsets(ds, a->train_data_dir, false, a);
        if (st == SDL_OK && a->reg_data_dir) st = add_folder_subsets(ds, a->reg_data_dir, true, a);
        if (st == SDL_OK && ds->n_subsets == 0)
            st = sdl_fail(SDL_ERR_NOT_FOUND, a->train_data_dir,
                          "put the images in a subfolder named <repeats>_<class>, e.g. 10_sks dog",
                          "no usable <repeats>_<class> subfolder");
    }
    if (st == SDL_OK) st = finish_dataset(ds, 0, NULL);
    if (st != SDL_OK) dataset_setup_free(out);
    return st;
}
