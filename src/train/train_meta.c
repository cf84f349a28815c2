// train_meta.c — see train_meta.h. Keys in kohya's insertion order (train_network.py builds
// one dict; safetensors does not keep the order, but logs and tests read better in it).
#include "train/train_meta.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utf8proc.h>
#include "base/log.h"
#include "io/json.h"
#include "lora/sha256.h"

// ---------------------------------------------------------------------------------------
// Python float repr

// Decimal digits of |x| (no leading/trailing zeros) and the exponent of the first digit, for
// the shortest text that reads back to x: try 1..17 significant digits, the correctly rounded
// candidate and its two neighbours (near a power of two the round-trip interval is lopsided,
// so the nearest p-digit decimal may miss while a neighbour hits).
static void shortest_digits(double x, char digits[20], int *exp10) {
    char tmp[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, x); // d.ddd…e±XX
        char *e = strchr(tmp, 'e');
        int ex = atoi(e + 1);
        unsigned long long m = 0;
        for (const char *c = tmp; c < e; c++)
            if (*c >= '0' && *c <= '9') m = m * 10 + (unsigned long long)(*c - '0');
        unsigned long long lim = 1;
        for (int i = 1; i < p; i++) lim *= 10; // 10^(p-1): the smallest p-digit mantissa
        const long long deltas[3] = {0, -1, 1};
        for (int k = 0; k < 3; k++) {
            unsigned long long mm = m + (unsigned long long)deltas[k];
            int ee = ex;
            if (mm < lim) continue;                 // lost a digit: found at a smaller p already
            if (mm >= lim * 10) mm /= 10, ee += 1;  // 9.99 + 1 → 1.00e+1
            char cand[40], ds[24];
            snprintf(ds, sizeof ds, "%llu", mm);
            snprintf(cand, sizeof cand, "%c.%se%d", ds[0], ds[1] ? ds + 1 : "0", ee);
            if (strtod(cand, NULL) == x) {
                size_t n = strlen(ds);
                while (n > 1 && ds[n - 1] == '0') ds[--n] = 0;
                memcpy(digits, ds, n + 1);
                *exp10 = ee;
                return;
            }
        }
    }
    snprintf(digits, 20, "0"); // unreachable: 17 digits always round-trip
    *exp10 = 0;
}

const char *py_float_repr(char *buf, size_t cap, double x) {
    if (isnan(x)) return snprintf(buf, cap, "nan"), buf;
    if (isinf(x)) return snprintf(buf, cap, x > 0 ? "inf" : "-inf"), buf;
    if (x == 0) return snprintf(buf, cap, signbit(x) ? "-0.0" : "0.0"), buf;
    char d[20];
    int e;
    shortest_digits(fabs(x), d, &e);
    int nd = (int)strlen(d), decpt = e + 1; // x = 0.d × 10^decpt
    char t[64];
    size_t o = 0;
    if (x < 0) t[o++] = '-';
    // CPython float_repr_style 'short': repr is format 'r' = 'g' with 17 digits and ".0" added,
    // so exponent notation when decpt <= -4 or decpt > 16
    if (decpt <= -4 || decpt > 16) {
        t[o++] = d[0];
        if (nd > 1) {
            t[o++] = '.';
            for (int i = 1; i < nd; i++) t[o++] = d[i];
        }
        o += (size_t)snprintf(t + o, sizeof t - o, "e%c%02d", e < 0 ? '-' : '+', abs(e));
    } else if (decpt <= 0) { // 0.000ddd
        t[o++] = '0', t[o++] = '.';
        for (int i = 0; i < -decpt; i++) t[o++] = '0';
        for (int i = 0; i < nd; i++) t[o++] = d[i];
    } else { // ddd[000].0 or dd.ddd
        for (int i = 0; i < decpt || i < nd; i++) {
            if (i == decpt) t[o++] = '.';
            t[o++] = i < nd ? d[i] : '0';
        }
        if (decpt >= nd) t[o++] = '.', t[o++] = '0';
    }
    t[o] = 0;
    snprintf(buf, cap, "%s", t);
    return buf;
}

// ---------------------------------------------------------------------------------------
// Python json.dumps pieces (ensure_ascii, ", " / ": ")

static void pj_string(JsonBuf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    json_buf_putc(b, '"');
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        char esc[16];
        if (c < 0x80) {
            i++;
            switch (c) {
            case '"': json_buf_puts(b, "\\\""); continue;
            case '\\': json_buf_puts(b, "\\\\"); continue;
            case '\b': json_buf_puts(b, "\\b"); continue;
            case '\f': json_buf_puts(b, "\\f"); continue;
            case '\n': json_buf_puts(b, "\\n"); continue;
            case '\r': json_buf_puts(b, "\\r"); continue;
            case '\t': json_buf_puts(b, "\\t"); continue;
            default: break;
            }
            if (c < 0x20 || c == 0x7f) { // json.dumps escapes everything outside ' '..'~'
                snprintf(esc, sizeof esc, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
                json_buf_puts(b, esc);
            } else {
                json_buf_putc(b, (char)c);
            }
            continue;
        }
        size_t len = json_utf8_seq_len((const unsigned char *)s + i, n - i);
        uint32_t cp;
        if (len == 0) {
            cp = 0xDC00u + c; // Python's surrogateescape for an undecodable byte (file names)
            len = 1;
        } else {
            cp = len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
            for (size_t k = 1; k < len; k++) cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3Fu);
        }
        i += len;
        if (cp >= 0x10000) { // a surrogate pair, as json.dumps writes it
            uint32_t v = cp - 0x10000;
            snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800u + (v >> 10), 0xDC00u + (v & 0x3FFu));
        } else {
            snprintf(esc, sizeof esc, "\\u%04x", cp);
        }
        json_buf_puts(b, esc);
    }
    json_buf_putc(b, '"');
}

static void pj_key(JsonBuf *b, bool *first, const char *key) {
    if (!*first) json_buf_puts(b, ", ");
    *first = false;
    pj_string(b, key);
    json_buf_puts(b, ": ");
}

static void pj_int(JsonBuf *b, int64_t v) {
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)v);
    json_buf_puts(b, t);
}

static void pj_float(JsonBuf *b, double v) {
    char t[40];
    if (isnan(v)) json_buf_puts(b, "NaN");
    else if (isinf(v)) json_buf_puts(b, v > 0 ? "Infinity" : "-Infinity");
    else json_buf_puts(b, py_float_repr(t, sizeof t, v));
}

static void pj_bool(JsonBuf *b, bool v) { json_buf_puts(b, v ? "true" : "false"); }
static void pj_str_or_null(JsonBuf *b, const char *s) { s ? pj_string(b, s) : json_buf_puts(b, "null"); }

// ---------------------------------------------------------------------------------------
// Tag frequencies

void tag_freq_init(TagFreq *tf) { memset(tf, 0, sizeof *tf); }

void tag_freq_free(TagFreq *tf) {
    for (size_t i = 0; i < tf->n; i++) {
        TagFreqDir *d = &tf->dirs[i];
        for (size_t k = 0; k < d->n; k++) free(d->tags[k].tag);
        free(d->tags), free(d->slots), free(d->dir);
    }
    free(tf->dirs);
    memset(tf, 0, sizeof *tf);
}

const TagFreqDir *tag_freq_find(const TagFreq *tf, const char *dir_name) {
    for (size_t i = 0; i < tf->n; i++)
        if (strcmp(tf->dirs[i].dir, dir_name) == 0) return &tf->dirs[i];
    return NULL;
}

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

// Index of tag in d, inserting it (count 0) when absent; SIZE_MAX on OOM.
static size_t dir_slot(TagFreqDir *d, const char *tag, size_t len) {
    if (2 * (d->n + 1) > d->n_slots) { // keep the load under one half
        size_t ns = d->n_slots ? d->n_slots * 2 : 64;
        size_t *slots = calloc(ns, sizeof *slots);
        if (!slots) return SIZE_MAX;
        for (size_t k = 0; k < d->n; k++) {
            size_t h = (size_t)fnv1a(d->tags[k].tag, strlen(d->tags[k].tag)) & (ns - 1);
            while (slots[h]) h = (h + 1) & (ns - 1);
            slots[h] = k + 1;
        }
        free(d->slots);
        d->slots = slots, d->n_slots = ns;
    }
    size_t h = (size_t)fnv1a(tag, len) & (d->n_slots - 1);
    for (; d->slots[h]; h = (h + 1) & (d->n_slots - 1)) {
        const char *t = d->tags[d->slots[h] - 1].tag;
        if (strlen(t) == len && memcmp(t, tag, len) == 0) return d->slots[h] - 1;
    }
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 32;
        TagCount *grown = realloc(d->tags, nc * sizeof *grown);
        if (!grown) return SIZE_MAX;
        d->tags = grown, d->cap = nc;
    }
    char *copy = malloc(len + 1);
    if (!copy) return SIZE_MAX;
    memcpy(copy, tag, len);
    copy[len] = 0;
    d->tags[d->n] = (TagCount){.tag = copy, .count = 0};
    d->slots[h] = d->n + 1;
    return d->n++;
}

static bool py_isspace(utf8proc_int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// tag.strip().lower() into out (room for 3x the bytes: one code point lowers to at most 3 bytes
// more — İ → i + U+0307); returns the length.
static size_t strip_lower(const char *s, size_t n, char *out) {
    // decode once; strip at both ends
    size_t start = 0, end = n;
    utf8proc_int32_t c;
    while (start < end) {
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + start, (utf8proc_ssize_t)(end - start), &c);
        if (k <= 0 || !py_isspace(c)) break;
        start += (size_t)k;
    }
    while (end > start) { // step back over one code point
        size_t b = end - 1;
        while (b > start && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + b, (utf8proc_ssize_t)(end - b), &c);
        if (k <= 0 || !py_isspace(c)) break;
        end = b;
    }
    size_t o = 0;
    for (size_t i = start; i < end;) {
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(end - i), &c);
        if (k <= 0) { // not UTF-8: copy the byte
            out[o++] = s[i++];
            continue;
        }
        i += (size_t)k;
        if (c == 0x130) { // Python's full lower-casing: İ → "i̇"
            out[o++] = 'i';
            o += (size_t)utf8proc_encode_char(0x307, (utf8proc_uint8_t *)out + o);
            continue;
        }
        o += (size_t)utf8proc_encode_char(utf8proc_tolower(c), (utf8proc_uint8_t *)out + o);
    }
    return o;
}

SdlStatus tag_freq_add(TagFreq *tf, const char *dir_name, const char *caption) {
    TagFreqDir *d = (TagFreqDir *)tag_freq_find(tf, dir_name);
    if (!d) {
        if (tf->n == tf->cap) {
            size_t nc = tf->cap ? tf->cap * 2 : 4;
            TagFreqDir *grown = realloc(tf->dirs, nc * sizeof *grown);
            if (!grown) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory counting tags");
            tf->dirs = grown, tf->cap = nc;
        }
        d = &tf->dirs[tf->n];
        memset(d, 0, sizeof *d);
        if (!(d->dir = strdup(dir_name))) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory counting tags");
        tf->n++;
    }
    if (!caption) return SDL_OK;
    char *buf = malloc(strlen(caption) * 3 + 8);
    if (!buf) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory counting tags");
    for (const char *p = caption;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        size_t tl = strip_lower(p, len, buf);
        if (tl) {
            size_t k = dir_slot(d, buf, tl);
            if (k == SIZE_MAX) {
                free(buf);
                return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory counting tags");
            }
            d->tags[k].count++;
        }
        if (!comma) break;
        p = comma + 1;
    }
    free(buf);
    return SDL_OK;
}

int64_t tag_freq_count(const TagFreqDir *d, const char *tag) {
    for (size_t i = 0; d && i < d->n; i++)
        if (strcmp(d->tags[i].tag, tag) == 0) return d->tags[i].count;
    return 0;
}

static void pj_tag_dir(JsonBuf *b, const TagFreqDir *d) {
    json_buf_putc(b, '{');
    bool first = true;
    for (size_t i = 0; i < d->n; i++) {
        pj_key(b, &first, d->tags[i].tag);
        pj_int(b, d->tags[i].count);
    }
    json_buf_putc(b, '}');
}

static void pj_tag_freq(JsonBuf *b, const TagFreq *tf) {
    json_buf_putc(b, '{');
    bool first = true;
    for (size_t i = 0; tf && i < tf->n; i++) {
        pj_key(b, &first, tf->dirs[i].dir);
        pj_tag_dir(b, &tf->dirs[i]);
    }
    json_buf_putc(b, '}');
}

// ---------------------------------------------------------------------------------------
// Key/value lists

void meta_list_free(MetaList *l) {
    for (int64_t i = 0; i < l->n; i++) free(l->keys[i]), free(l->values[i]);
    free(l->keys), free(l->values);
    memset(l, 0, sizeof *l);
}

static SdlStatus ml_put(MetaList *l, const char *key, const char *value) {
    if (l->n == l->cap) {
        int64_t nc = l->cap ? l->cap * 2 : 64;
        char **k = realloc(l->keys, (size_t)nc * sizeof *k);
        if (!k) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory building metadata");
        l->keys = k;
        char **v = realloc(l->values, (size_t)nc * sizeof *v);
        if (!v) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory building metadata");
        l->values = v;
        l->cap = nc;
    }
    char *kc = strdup(key), *vc = strdup(value);
    if (!kc || !vc) {
        free(kc), free(vc);
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory building metadata");
    }
    l->keys[l->n] = kc, l->values[l->n] = vc;
    l->n++;
    return SDL_OK;
}

static SdlStatus ml_putf(MetaList *l, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static SdlStatus ml_putf(MetaList *l, const char *key, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return ml_put(l, key, buf);
}

static const char *ml_get(const MetaList *l, const char *key) {
    for (int64_t i = 0; i < l->n; i++)
        if (strcmp(l->keys[i], key) == 0) return l->values[i];
    return NULL;
}

static SdlStatus ml_put_json(MetaList *l, const char *key, JsonBuf *b) {
    if (b->oom) {
        json_buf_free(b);
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory building metadata");
    }
    SdlStatus st = ml_put(l, key, b->data ? b->data : "");
    json_buf_free(b);
    return st;
}

// ---------------------------------------------------------------------------------------
// Python str() of option values

static const char *py_bool(bool v) { return v ? "True" : "False"; }

// A float option: "None" when kohya's default is None and it was not given, an int when a
// config file gave an integer, else repr().
static const char *opt_float(char *buf, size_t cap, const TrainArgs *a, const char *name, double v, bool none_default) {
    if (none_default && !train_args_given(a, name)) return "None";
    if (train_args_given_int(a, name)) return snprintf(buf, cap, "%lld", (long long)v), buf;
    return py_float_repr(buf, cap, v);
}

static const char *opt_int(char *buf, size_t cap, const TrainArgs *a, const char *name, int64_t v, bool none_default) {
    if (none_default && !train_args_given(a, name)) return "None";
    return snprintf(buf, cap, "%lld", (long long)v), buf;
}

static const char *opt_str(const char *s) { return s ? s : "None"; }

// kohya's int_or_float for --lr_warmup_steps: "N%" → N/100, a value ≥ 1 → int, else float.
static const char *warmup_text(char *buf, size_t cap, const TrainArgs *a) {
    const char *w = a->lr_warmup_steps;
    if (!train_args_given(a, "lr_warmup_steps")) return "0";
    size_t n = strlen(w);
    double x = strtod(w, NULL);
    if (n && w[n - 1] == '%') return py_float_repr(buf, cap, x / 100.0);
    if (train_args_given_int(a, "lr_warmup_steps") || x >= 1) return snprintf(buf, cap, "%lld", (long long)x), buf;
    return py_float_repr(buf, cap, x);
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

// ---------------------------------------------------------------------------------------
// Hashes

SdlStatus train_meta_file_hashes(const char *path, char legacy8[9], char full[65]) {
    FILE *f = fopen(path, "rb");
    if (!f) return sdl_fail(SDL_ERR_IO, path, "check the path", "cannot open for hashing: %s", strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        fclose(f);
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory hashing %s", path);
    }
    Sha256 whole, legacy;
    sha256_init(&whole);
    sha256_init(&legacy);
    uint64_t off = 0;
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0) {
        sha256_update(&whole, buf, got);
        // train_util.model_hash: the 64 KiB at 1 MiB (A1111's old model hash)
        uint64_t lo = 0x100000, hi = 0x110000, s = off > lo ? off : lo, e = off + got < hi ? off + got : hi;
        if (s < e) sha256_update(&legacy, buf + (s - off), (size_t)(e - s));
        off += got;
    }
    bool err = ferror(f);
    fclose(f);
    free(buf);
    if (err) return sdl_fail(SDL_ERR_IO, path, NULL, "read error while hashing");
    unsigned char d[32];
    static const char hex[] = "0123456789abcdef";
    sha256_final(&whole, d);
    for (int i = 0; i < 32; i++) full[2 * i] = hex[d[i] >> 4], full[2 * i + 1] = hex[d[i] & 15];
    full[64] = 0;
    sha256_final(&legacy, d);
    for (int i = 0; i < 4; i++) legacy8[2 * i] = hex[d[i] >> 4], legacy8[2 * i + 1] = hex[d[i] & 15];
    legacy8[8] = 0;
    return SDL_OK;
}

// ss_<what>_hash, ss_new_<what>_hash and ss_<what>_name for a model path (kohya: hashes only
// when the path exists; a folder — diffusers — cannot be hashed: "IsADirectory" as model_hash
// reports it, and no full hash).
static SdlStatus put_model(MetaList *l, const char *what, const char *path) {
    char k1[64], k2[64], k3[64];
    snprintf(k1, sizeof k1, "ss_%s_hash", what);
    snprintf(k2, sizeof k2, "ss_new_%s_hash", what);
    snprintf(k3, sizeof k3, "ss_%s_name", what);
    struct stat st;
    if (stat(path, &st) != 0) return ml_put(l, k3, path);
    if (S_ISDIR(st.st_mode)) {
        SDL_TRY(ml_put(l, k1, "IsADirectory"));
    } else {
        char legacy[9], full[65];
        SDL_TRY(train_meta_file_hashes(path, legacy, full));
        SDL_TRY(ml_put(l, k1, legacy));
        SDL_TRY(ml_put(l, k2, full));
    }
    return ml_put(l, k3, base_name(path));
}

// ---------------------------------------------------------------------------------------
// Dataset JSON

static void pj_dirs_entry(JsonBuf *b, bool *first, const char *name, int64_t repeats, int64_t count) {
    pj_key(b, first, name);
    json_buf_puts(b, "{\"n_repeats\": ");
    pj_int(b, repeats);
    json_buf_puts(b, ", \"img_count\": ");
    pj_int(b, count);
    json_buf_putc(b, '}');
}

static void pj_bucket_info(JsonBuf *b, const TrainMetaDataset *ds) {
    if (!ds->cfg->enable_bucket) {
        json_buf_puts(b, "null");
        return;
    }
    json_buf_puts(b, "{\"buckets\": {");
    for (size_t i = 0; i < ds->n_buckets; i++) {
        const TrainMetaBucket *k = &ds->buckets[i];
        char t[160];
        snprintf(t, sizeof t, "%s\"%lld\": {\"resolution\": [%lld, %lld], \"count\": %lld}", i ? ", " : "", (long long)k->index,
                 (long long)k->width, (long long)k->height, (long long)k->count);
        json_buf_puts(b, t);
    }
    json_buf_puts(b, "}, \"mean_img_ar_error\": ");
    pj_float(b, ds->mean_img_ar_error);
    json_buf_putc(b, '}');
}

// ss_datasets (kohya: --dataset_config mode), plus the merged ss_tag_frequency and ss_dataset_dirs.
static SdlStatus put_config_datasets(MetaList *l, const TrainMetaInput *in) {
    JsonBuf b, dirs;
    json_buf_init(&b);
    json_buf_init(&dirs);
    json_buf_putc(&b, '[');
    json_buf_putc(&dirs, '{');
    bool first_dir = true;
    // ss_dataset_dirs: names in use (a repeated folder name gets " (2)", " (3)", … as kohya)
    char **used = calloc(64, sizeof *used);
    size_t n_used = 0, cap_used = 64;
    SdlStatus st = used ? SDL_OK : sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory building metadata");
    for (size_t di = 0; di < in->n_datasets && st == SDL_OK; di++) {
        const TrainMetaDataset *ds = &in->datasets[di];
        const DatasetConfig *c = ds->cfg;
        bool first = true;
        if (di) json_buf_puts(&b, ", ");
        json_buf_putc(&b, '{');
        pj_key(&b, &first, "is_dreambooth"), pj_bool(&b, c->is_dreambooth);
        pj_key(&b, &first, "batch_size_per_device"), pj_int(&b, c->batch_size);
        pj_key(&b, &first, "num_train_images"), pj_int(&b, ds->num_train_images);
        pj_key(&b, &first, "num_reg_images"), pj_int(&b, ds->num_reg_images);
        char t[96];
        snprintf(t, sizeof t, "[%lld, %lld]", (long long)c->resolution[0], (long long)c->resolution[1]);
        pj_key(&b, &first, "resolution"), json_buf_puts(&b, t);
        pj_key(&b, &first, "enable_bucket"), pj_bool(&b, c->enable_bucket);
        pj_key(&b, &first, "min_bucket_reso"), pj_int(&b, c->min_bucket_reso);
        pj_key(&b, &first, "max_bucket_reso"), pj_int(&b, c->max_bucket_reso);
        pj_key(&b, &first, "tag_frequency"), pj_tag_freq(&b, &ds->tag_frequency);
        pj_key(&b, &first, "bucket_info"), pj_bucket_info(&b, ds);
        pj_key(&b, &first, "resize_interpolation"), pj_str_or_null(&b, c->resize_interpolation);
        pj_key(&b, &first, "subsets");
        json_buf_putc(&b, '[');
        for (size_t si = 0; si < ds->n_subsets && st == SDL_OK; si++) {
            const SubsetConfig *s = ds->subsets[si].cfg;
            bool f2 = true;
            if (si) json_buf_puts(&b, ", ");
            json_buf_putc(&b, '{');
            pj_key(&b, &f2, "img_count"), pj_int(&b, ds->subsets[si].img_count);
            pj_key(&b, &f2, "num_repeats"), pj_int(&b, s->num_repeats);
            pj_key(&b, &f2, "color_aug"), pj_bool(&b, s->color_aug);
            pj_key(&b, &f2, "flip_aug"), pj_bool(&b, s->flip_aug);
            pj_key(&b, &f2, "random_crop"), pj_bool(&b, s->random_crop);
            pj_key(&b, &f2, "shuffle_caption"), pj_bool(&b, s->shuffle_caption);
            pj_key(&b, &f2, "keep_tokens"), pj_int(&b, s->keep_tokens);
            pj_key(&b, &f2, "keep_tokens_separator"), pj_str_or_null(&b, s->keep_tokens_separator);
            pj_key(&b, &f2, "secondary_separator"), pj_str_or_null(&b, s->secondary_separator);
            pj_key(&b, &f2, "enable_wildcard"), pj_bool(&b, s->enable_wildcard);
            pj_key(&b, &f2, "caption_prefix"), pj_str_or_null(&b, s->caption_prefix);
            pj_key(&b, &f2, "caption_suffix"), pj_str_or_null(&b, s->caption_suffix);
            pj_key(&b, &f2, "resize_interpolation"), pj_str_or_null(&b, s->resize_interpolation);
            const char *dir_name = NULL;
            if (s->image_dir && s->image_dir[0]) {
                pj_key(&b, &f2, "image_dir"), pj_string(&b, base_name(s->image_dir));
                dir_name = base_name(s->image_dir);
            }
            if (c->is_dreambooth) {
                pj_key(&b, &f2, "class_tokens"), pj_str_or_null(&b, s->class_tokens);
                pj_key(&b, &f2, "is_reg"), pj_bool(&b, s->is_reg);
                if (s->is_reg) dir_name = NULL; // reg folders are not merged into ss_dataset_dirs
            } else {
                const char *mf = s->metadata_file ? base_name(s->metadata_file) : "";
                pj_key(&b, &f2, "metadata_file"), pj_string(&b, mf);
                dir_name = mf;
            }
            json_buf_putc(&b, '}');
            if (!dir_name) continue;
            char name[1100];
            snprintf(name, sizeof name, "%s", dir_name);
            for (int k = 2;; k++) {
                bool taken = false;
                for (size_t u = 0; u < n_used; u++)
                    if (!strcmp(used[u], name)) taken = true;
                if (!taken) break;
                snprintf(name, sizeof name, "%s (%d)", dir_name, k);
            }
            if (n_used == cap_used) {
                char **g = realloc(used, cap_used * 2 * sizeof *g);
                if (!g) { st = sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory building metadata"); break; }
                used = g, cap_used *= 2;
            }
            if (!(used[n_used] = strdup(name))) { st = sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory building metadata"); break; }
            n_used++;
            pj_dirs_entry(&dirs, &first_dir, name, s->num_repeats, ds->subsets[si].img_count);
        }
        json_buf_puts(&b, "]}");
    }
    json_buf_putc(&b, ']');
    json_buf_putc(&dirs, '}');
    for (size_t u = 0; u < n_used; u++) free(used[u]);
    free(used);
    if (st != SDL_OK) {
        json_buf_free(&b), json_buf_free(&dirs);
        return st;
    }
    SDL_TRY(ml_put_json(l, "ss_datasets", &b));
    // ss_tag_frequency: each folder name once, from the first dataset that has it
    JsonBuf tf;
    json_buf_init(&tf);
    json_buf_putc(&tf, '{');
    bool first = true;
    for (size_t di = 0; di < in->n_datasets; di++) {
        const TagFreq *f = &in->datasets[di].tag_frequency;
        for (size_t k = 0; k < f->n; k++) {
            bool seen = false;
            for (size_t dj = 0; dj < di && !seen; dj++) seen = tag_freq_find(&in->datasets[dj].tag_frequency, f->dirs[k].dir) != NULL;
            if (seen) continue;
            pj_key(&tf, &first, f->dirs[k].dir);
            pj_tag_dir(&tf, &f->dirs[k]);
        }
    }
    json_buf_putc(&tf, '}');
    SdlStatus s2 = ml_put_json(l, "ss_tag_frequency", &tf);
    if (s2 != SDL_OK) {
        json_buf_free(&dirs);
        return s2;
    }
    return ml_put_json(l, "ss_dataset_dirs", &dirs);
}

// The flat keys of folder / --in_json mode (one dataset).
static SdlStatus put_folder_dataset(MetaList *l, const TrainMetaInput *in) {
    const TrainArgs *a = in->args;
    const SubsetConfig *sa = &a->data.sub;
    if (in->n_datasets != 1)
        return sdl_fail(SDL_ERR_ARG, NULL, NULL, "metadata: folder mode has one dataset, got %zu (a bug in sdlora)", in->n_datasets);
    const TrainMetaDataset *ds = &in->datasets[0];
    int64_t procs = in->num_processes > 0 ? in->num_processes : 1;
    SDL_TRY(ml_putf(l, "ss_batch_size_per_device", "%lld", (long long)a->data.ds.batch_size));
    SDL_TRY(ml_putf(l, "ss_total_batch_size", "%lld", (long long)(a->data.ds.batch_size * procs * a->gradient_accumulation_steps)));
    if (a->data.ds.has_resolution)
        SDL_TRY(ml_putf(l, "ss_resolution", "(%lld, %lld)", (long long)a->data.ds.resolution[0], (long long)a->data.ds.resolution[1]));
    else
        SDL_TRY(ml_put(l, "ss_resolution", "None"));
    SDL_TRY(ml_put(l, "ss_color_aug", py_bool(sa->color_aug)));
    SDL_TRY(ml_put(l, "ss_flip_aug", py_bool(sa->flip_aug)));
    SDL_TRY(ml_put(l, "ss_random_crop", py_bool(sa->random_crop)));
    SDL_TRY(ml_put(l, "ss_shuffle_caption", py_bool(sa->shuffle_caption)));
    SDL_TRY(ml_put(l, "ss_enable_bucket", py_bool(ds->cfg->enable_bucket)));
    SDL_TRY(ml_put(l, "ss_bucket_no_upscale", py_bool(ds->cfg->bucket_no_upscale)));
    SDL_TRY(ml_putf(l, "ss_min_bucket_reso", "%lld", (long long)ds->cfg->min_bucket_reso));
    SDL_TRY(ml_putf(l, "ss_max_bucket_reso", "%lld", (long long)ds->cfg->max_bucket_reso));
    SDL_TRY(ml_putf(l, "ss_keep_tokens", "%lld", (long long)sa->keep_tokens));
    JsonBuf dirs, reg;
    json_buf_init(&dirs);
    json_buf_init(&reg);
    json_buf_putc(&dirs, '{');
    json_buf_putc(&reg, '{');
    bool fd = true, fr = true;
    for (size_t i = 0; i < ds->n_subsets; i++) {
        const SubsetConfig *s = ds->subsets[i].cfg;
        if (ds->cfg->is_dreambooth) {
            // a dict: a repeated name keeps its first place and takes the last value
            pj_dirs_entry(s->is_reg ? &reg : &dirs, s->is_reg ? &fr : &fd, base_name(s->image_dir ? s->image_dir : ""),
                          s->num_repeats, ds->subsets[i].img_count);
        } else {
            pj_dirs_entry(&dirs, &fd, base_name(s->metadata_file ? s->metadata_file : ""), s->num_repeats,
                          ds->subsets[i].img_count);
        }
    }
    json_buf_putc(&dirs, '}');
    json_buf_putc(&reg, '}');
    SdlStatus st = ml_put_json(l, "ss_dataset_dirs", &dirs);
    if (st != SDL_OK) {
        json_buf_free(&reg);
        return st;
    }
    SDL_TRY(ml_put_json(l, "ss_reg_dataset_dirs", &reg));
    JsonBuf tf, bi;
    json_buf_init(&tf);
    pj_tag_freq(&tf, &ds->tag_frequency);
    SDL_TRY(ml_put_json(l, "ss_tag_frequency", &tf));
    json_buf_init(&bi);
    pj_bucket_info(&bi, ds);
    return ml_put_json(l, "ss_bucket_info", &bi);
}

// ss_network_args: json.dumps of kohya's net_kwargs — the key=value strings, plus "dropout"
// (= --network_dropout) that train_network.py adds for LyCORIS unless dim_from_weights.
static SdlStatus put_network_args(MetaList *l, const TrainArgs *a) {
    if (!a->network_args || !a->network_args[0]) return SDL_OK; // kohya: `if args.network_args:`
    JsonBuf b;
    json_buf_init(&b);
    json_buf_putc(&b, '{');
    bool first = true, has_dropout = false;
    size_t n = 0;
    while (a->network_args[n]) n++;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(a->network_args[i], '=');
        if (!eq) continue; // refused by train_args_validate
        size_t klen = (size_t)(eq - a->network_args[i]);
        // a dict: a repeated key keeps its first place, the last value wins
        bool later = false;
        for (size_t j = i + 1; j < n && !later; j++)
            later = !strncmp(a->network_args[j], a->network_args[i], klen) && a->network_args[j][klen] == '=';
        bool earlier = false;
        for (size_t j = 0; j < i && !earlier; j++)
            earlier = !strncmp(a->network_args[j], a->network_args[i], klen) && a->network_args[j][klen] == '=';
        if (earlier) continue;
        const char *val = eq + 1;
        if (later)
            for (size_t j = i + 1; j < n; j++)
                if (!strncmp(a->network_args[j], a->network_args[i], klen) && a->network_args[j][klen] == '=') val = a->network_args[j] + klen + 1;
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)klen, a->network_args[i]);
        if (!strcmp(key, "dropout")) has_dropout = true;
        pj_key(&b, &first, key);
        pj_string(&b, val);
    }
    if (!has_dropout && !a->dim_from_weights) {
        pj_key(&b, &first, "dropout");
        if (!train_args_given(a, "network_dropout")) json_buf_puts(&b, "null");
        else if (train_args_given_int(a, "network_dropout")) pj_int(&b, (int64_t)a->network_dropout);
        else pj_float(&b, a->network_dropout);
    }
    json_buf_putc(&b, '}');
    return ml_put_json(l, "ss_network_args", &b);
}

static const char *base_model_version(const TrainArgs *a) {
    // model_util.get_model_version_str_for_sd1_sd2
    if (a->v2) return a->v_parameterization ? "sd_v2_v" : "sd_v2";
    return a->v_parameterization ? "sd_v1_v" : "sd_v1";
}

static SdlStatus build_run(MetaList *l, const TrainMetaInput *in) {
    const TrainArgs *a = in->args;
    const DatasetArgs *d = &a->data;
    char b1[64];
#define PUT(k, v) SDL_TRY(ml_put(l, k, v))
#define PUTF(k, ...) SDL_TRY(ml_putf(l, k, __VA_ARGS__))
#define FLT(k, name, v, none) PUT(k, opt_float(b1, sizeof b1, a, name, v, none))
#define INT(k, name, v, none) PUT(k, opt_int(b1, sizeof b1, a, name, v, none))
    PUTF("ss_session_id", "%llu", (unsigned long long)in->session_id);
    PUT("ss_training_started_at", py_float_repr(b1, sizeof b1, in->training_started_at));
    PUT("ss_output_name", opt_str(a->output_name));
    if (in->adafactor_relative_step) PUT("ss_learning_rate", "None"); // kohya sets args.learning_rate = None
    else FLT("ss_learning_rate", "learning_rate", a->learning_rate, false);
    // text_encoder_lr: the first value of the nargs="*" list (or a config file's scalar), else None
    if (!a->has_text_encoder_lr) PUT("ss_text_encoder_lr", "None");
    else FLT("ss_text_encoder_lr", "text_encoder_lr", a->text_encoder_lr, false);
    if (in->adafactor_relative_step) PUT("ss_unet_lr", "None"); // … and args.unet_lr = None (groups had lrs)
    else FLT("ss_unet_lr", "unet_lr", a->unet_lr, true);
    PUTF("ss_num_train_images", "%lld", (long long)in->num_train_images);
    PUTF("ss_num_validation_images", "%lld", (long long)in->num_validation_images);
    PUTF("ss_num_reg_images", "%lld", (long long)in->num_reg_images);
    PUTF("ss_num_batches_per_epoch", "%lld", (long long)in->num_batches_per_epoch);
    PUTF("ss_num_epochs", "%lld", (long long)in->num_epochs);
    PUT("ss_gradient_checkpointing", py_bool(a->gradient_checkpointing));
    PUTF("ss_gradient_accumulation_steps", "%lld", (long long)a->gradient_accumulation_steps);
    PUTF("ss_max_train_steps", "%lld", (long long)in->max_train_steps);
    PUT("ss_lr_warmup_steps", warmup_text(b1, sizeof b1, a));
    if (in->adafactor_relative_step && strncmp(a->lr_scheduler, "adafactor:", 10) != 0) {
        char lr[40];
        PUTF("ss_lr_scheduler", "adafactor:%s", py_float_repr(lr, sizeof lr, a->learning_rate)); // f"adafactor:{lr}"
    } else {
        PUT("ss_lr_scheduler", a->lr_scheduler);
    }
    PUT("ss_network_module", a->network_module);
    INT("ss_network_dim", "network_dim", a->network_dim, true);
    if (a->network_alpha_is_int) PUTF("ss_network_alpha", "%lld", (long long)a->network_alpha);
    else PUT("ss_network_alpha", py_float_repr(b1, sizeof b1, a->network_alpha));
    FLT("ss_network_dropout", "network_dropout", a->network_dropout, true);
    PUT("ss_mixed_precision", a->mixed_precision);
    PUT("ss_full_fp16", py_bool(a->full_fp16));
    PUT("ss_v2", py_bool(a->v2));
    PUT("ss_base_model_version", base_model_version(a));
    INT("ss_clip_skip", "clip_skip", a->clip_skip, true);
    INT("ss_max_token_length", "max_token_length", a->max_token_length, true);
    PUT("ss_cache_latents", py_bool(a->cache_latents));
    PUTF("ss_seed", "%lld", (long long)in->seed);
    PUT("ss_lowram", py_bool(a->lowram));
    FLT("ss_noise_offset", "noise_offset", a->noise_offset, true);
    INT("ss_multires_noise_iterations", "multires_noise_iterations", a->multires_noise_iterations, true);
    FLT("ss_multires_noise_discount", "multires_noise_discount", a->multires_noise_discount, false);
    FLT("ss_adaptive_noise_scale", "adaptive_noise_scale", a->adaptive_noise_scale, true);
    PUT("ss_zero_terminal_snr", py_bool(a->zero_terminal_snr));
    PUT("ss_training_comment", opt_str(a->training_comment));
    PUT("ss_sd_scripts_commit_hash", "(unknown)"); // kohya's value without a git checkout
    PUT("ss_optimizer", in->optimizer ? in->optimizer : "torch.optim.adamw.AdamW");
    FLT("ss_max_grad_norm", "max_grad_norm", a->max_grad_norm, false);
    FLT("ss_caption_dropout_rate", "caption_dropout_rate", d->sub.caption_dropout_rate, false);
    PUTF("ss_caption_dropout_every_n_epochs", "%lld", (long long)d->sub.caption_dropout_every_n_epochs);
    FLT("ss_caption_tag_dropout_rate", "caption_tag_dropout_rate", d->sub.caption_tag_dropout_rate, false);
    if (d->sub.has_face_crop_aug_range) {
        char lo[40], hi[40];
        PUTF("ss_face_crop_aug_range", "(%s, %s)", py_float_repr(lo, sizeof lo, d->sub.face_crop_aug_range[0]),
             py_float_repr(hi, sizeof hi, d->sub.face_crop_aug_range[1]));
    } else {
        PUT("ss_face_crop_aug_range", "None");
    }
    FLT("ss_prior_loss_weight", "prior_loss_weight", d->prior_loss_weight, false);
    FLT("ss_min_snr_gamma", "min_snr_gamma", a->min_snr_gamma, true);
    FLT("ss_scale_weight_norms", "scale_weight_norms", a->scale_weight_norms, true);
    FLT("ss_ip_noise_gamma", "ip_noise_gamma", a->ip_noise_gamma, true);
    PUT("ss_debiased_estimation", py_bool(a->debiased_estimation_loss));
    PUT("ss_noise_offset_random_strength", py_bool(a->noise_offset_random_strength));
    PUT("ss_ip_noise_gamma_random_strength", py_bool(a->ip_noise_gamma_random_strength));
    PUT("ss_loss_type", a->loss_type);
    PUT("ss_huber_schedule", a->huber_schedule);
    FLT("ss_huber_scale", "huber_scale", a->huber_scale, false);
    FLT("ss_huber_c", "huber_c", a->huber_c, false);
    PUT("ss_fp8_base", py_bool(a->fp8_base));
    PUT("ss_fp8_base_unet", py_bool(a->compat.fp8_base_unet));
    INT("ss_validation_seed", "validation_seed", d->ds.validation_seed, true);
    FLT("ss_validation_split", "validation_split", d->ds.validation_split, false);
    INT("ss_max_validation_steps", "max_validation_steps", a->max_validation_steps, true);
    INT("ss_validate_every_n_epochs", "validate_every_n_epochs", a->validate_every_n_epochs, true);
    INT("ss_validate_every_n_steps", "validate_every_n_steps", a->validate_every_n_steps, true);
    PUT("ss_resize_interpolation", opt_str(d->ds.resize_interpolation));
#undef PUT
#undef PUTF
#undef FLT
#undef INT
    if (d->dataset_config) SDL_TRY(put_config_datasets(l, in));
    else SDL_TRY(put_folder_dataset(l, in));
    SDL_TRY(put_network_args(l, a));
    if (a->pretrained_model_name_or_path) SDL_TRY(put_model(l, "sd_model", a->pretrained_model_name_or_path));
    if (a->vae) SDL_TRY(put_model(l, "vae", a->vae));
    return SDL_OK;
}

// ---------------------------------------------------------------------------------------
// modelspec (library/sai_model_spec.py, LoRA, SD1/SD2)

static const char *mime_of(const char *path) {
    const char *dot = strrchr(path, '.');
    if (!dot) return "application/octet-stream";
    static const char *const map[][2] = {{".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
                                         {".webp", "image/webp"}, {".gif", "image/gif"}, {".bmp", "image/bmp"}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcasecmp(dot, map[i][0])) return map[i][1];
    return "application/octet-stream";
}

// file_to_data_url: "data:<mime>;base64,<data>"; a missing file → warning and no thumbnail (kohya).
static char *thumbnail_url(const char *value) {
    if (!strncmp(value, "data:", 5)) return strdup(value);
    FILE *f = fopen(value, "rb");
    if (!f) {
        log_warn("--metadata_thumbnail %s: cannot read it (%s); no thumbnail is stored", value, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = size > 0 ? malloc((size_t)size) : NULL;
    if (size <= 0 || !data || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(data);
        log_warn("--metadata_thumbnail %s: cannot read it; no thumbnail is stored", value);
        return NULL;
    }
    fclose(f);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *mime = mime_of(value);
    size_t head = strlen(mime) + 13, n = (size_t)size, out_len = head + 4 * ((n + 2) / 3) + 1;
    char *out = malloc(out_len);
    if (out) {
        size_t o = (size_t)snprintf(out, out_len, "data:%s;base64,", mime);
        for (size_t i = 0; i < n; i += 3) {
            uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < n ? (uint32_t)data[i + 1] << 8 : 0) | (i + 2 < n ? data[i + 2] : 0);
            out[o++] = b64[v >> 18];
            out[o++] = b64[(v >> 12) & 63];
            out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
            out[o++] = i + 2 < n ? b64[v & 63] : '=';
        }
        out[o] = 0;
    }
    free(data);
    return out;
}

SdlStatus train_meta_modelspec(MetaList *l, const TrainArgs *a, double now, const char *thumbnail, const char *version) {
    const char *arch = a->v2 ? (a->v_parameterization ? "stable-diffusion-v2-768-v/lora" : "stable-diffusion-v2-512/lora")
                             : "stable-diffusion-v1/lora";
    SDL_TRY(ml_put(l, "modelspec.architecture", arch));
    SDL_TRY(ml_put(l, "modelspec.implementation", "diffusers"));
    char buf[64];
    if (a->metadata_title) SDL_TRY(ml_put(l, "modelspec.title", a->metadata_title));
    else if (a->output_name) SDL_TRY(ml_put(l, "modelspec.title", a->output_name));
    else SDL_TRY(ml_putf(l, "modelspec.title", "LoRA@%s", py_float_repr(buf, sizeof buf, now)));
    if (a->data.ds.has_resolution)
        SDL_TRY(ml_putf(l, "modelspec.resolution", "%lldx%lld", (long long)a->data.ds.resolution[0], (long long)a->data.ds.resolution[1]));
    else
        SDL_TRY(ml_put(l, "modelspec.resolution", a->v2 && a->v_parameterization ? "768x768" : "512x512"));
    if (a->metadata_description) SDL_TRY(ml_put(l, "modelspec.description", a->metadata_description));
    if (a->metadata_author) SDL_TRY(ml_put(l, "modelspec.author", a->metadata_author));
    // datetime.fromtimestamp(int(ts)).isoformat(): local time, whole seconds, no zone
    time_t t = (time_t)floor(now);
    struct tm tm;
    localtime_r(&t, &tm);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    SDL_TRY(ml_put(l, "modelspec.date", date));
    SDL_TRY(ml_put(l, "modelspec.sai_model_spec", "1.0.1"));
    if (a->metadata_license) SDL_TRY(ml_put(l, "modelspec.license", a->metadata_license));
    if (a->metadata_tags) SDL_TRY(ml_put(l, "modelspec.tags", a->metadata_tags));
    SDL_TRY(ml_put(l, "modelspec.prediction_type", a->v_parameterization ? "v" : "epsilon"));
    if (train_args_given(a, "min_timestep") || train_args_given(a, "max_timestep"))
        SDL_TRY(ml_putf(l, "modelspec.timestep_range", "%lld,%lld", (long long)a->min_timestep, (long long)a->max_timestep));
    if (train_args_given(a, "clip_skip")) SDL_TRY(ml_putf(l, "modelspec.encoder_layer", "%lld", (long long)a->clip_skip));
    // the other --metadata_* in kohya's (alphabetical) order, then the implementation version
    if (a->metadata_is_negative_embedding) SDL_TRY(ml_put(l, "modelspec.is_negative_embedding", a->metadata_is_negative_embedding));
    if (a->metadata_merged_from) SDL_TRY(ml_put(l, "modelspec.merged_from", a->metadata_merged_from));
    if (a->metadata_preprocessor) SDL_TRY(ml_put(l, "modelspec.preprocessor", a->metadata_preprocessor));
    if (thumbnail) SDL_TRY(ml_put(l, "modelspec.thumbnail", thumbnail));
    if (a->metadata_trigger_phrase) SDL_TRY(ml_put(l, "modelspec.trigger_phrase", a->metadata_trigger_phrase));
    if (a->metadata_usage_hint) SDL_TRY(ml_put(l, "modelspec.usage_hint", a->metadata_usage_hint));
    return ml_putf(l, "modelspec.implementation_version", "sdlora/%s", version ? version : "unknown");
}

// ---------------------------------------------------------------------------------------
// The run

SdlStatus train_meta_build(TrainMeta *m, const TrainMetaInput *in) {
    memset(m, 0, sizeof *m);
    m->args = in->args;
    SdlStatus st = build_run(&m->run, in);
    if (st == SDL_OK && in->args->metadata_thumbnail) m->thumbnail = thumbnail_url(in->args->metadata_thumbnail);
    if (st == SDL_OK && in->sdlora_version && !(m->version = strdup(in->sdlora_version)))
        st = sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory building metadata");
    if (st != SDL_OK) train_meta_free(m);
    return st;
}

SdlStatus train_meta_for_save(TrainMeta *m, double now, int64_t steps, int64_t epoch, const char *const **keys,
                              const char *const **values, int64_t *n) {
    meta_list_free(&m->save);
    MetaList *s = &m->save;
    // SS_METADATA_MINIMUM_KEYS with --no_metadata (the per-save keys are then not written either)
    static const char *const minimum[] = {"ss_v2", "ss_base_model_version", "ss_network_module", "ss_network_dim",
                                          "ss_network_alpha", "ss_network_args"};
    if (m->args->no_metadata) {
        for (size_t i = 0; i < sizeof minimum / sizeof *minimum; i++) {
            const char *v = ml_get(&m->run, minimum[i]);
            if (v) SDL_TRY(ml_put(s, minimum[i], v));
        }
    } else {
        for (int64_t i = 0; i < m->run.n; i++) SDL_TRY(ml_put(s, m->run.keys[i], m->run.values[i]));
        char buf[64];
        SDL_TRY(ml_put(s, "ss_training_finished_at", py_float_repr(buf, sizeof buf, now)));
        SDL_TRY(ml_putf(s, "ss_steps", "%lld", (long long)steps));
        SDL_TRY(ml_putf(s, "ss_epoch", "%lld", (long long)epoch));
    }
    SDL_TRY(train_meta_modelspec(s, m->args, now, m->thumbnail, m->version));
    *keys = (const char *const *)s->keys;
    *values = (const char *const *)s->values;
    *n = s->n;
    return SDL_OK;
}

const char *train_meta_get(const TrainMeta *m, const char *key) {
    const char *v = ml_get(&m->save, key);
    return v ? v : ml_get(&m->run, key);
}

void train_meta_free(TrainMeta *m) {
    meta_list_free(&m->run);
    meta_list_free(&m->save);
    free(m->thumbnail);
    free(m->version);
    memset(m, 0, sizeof *m);
}

// ---------------------------------------------------------------------------------------
// From the resolved dataset

void train_meta_datasets_free(TrainMetaDataset *ds, size_t n) {
    for (size_t i = 0; ds && i < n; i++) {
        free(ds[i].subsets);
        free(ds[i].buckets);
        tag_freq_free(&ds[i].tag_frequency);
    }
    free(ds);
}

SdlStatus train_meta_datasets_from_data(const TrainData *td, TrainMetaDataset **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    TrainMetaDataset *all = calloc(td->n_parts ? td->n_parts : 1, sizeof *all);
    if (!all) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory building metadata");
    SdlStatus st = SDL_OK;
    for (size_t p = 0; p < td->n_parts && st == SDL_OK; p++) {
        const TrainDataPart *part = &td->parts[p];
        TrainMetaDataset *ds = &all[p];
        const DatasetConfig *c = part->cfg;
        ds->cfg = c;
        ds->num_train_images = part->scan.num_train_images;
        ds->num_reg_images = part->scan.num_reg_images;
        ds->mean_img_ar_error = part->set.mean_ar_error;
        tag_freq_init(&ds->tag_frequency);
        ds->subsets = calloc(c->n_subsets ? c->n_subsets : 1, sizeof *ds->subsets);
        ds->buckets = calloc(part->set.n_buckets ? part->set.n_buckets : 1, sizeof *ds->buckets);
        if (!ds->subsets || !ds->buckets) {
            st = sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory building metadata");
            break;
        }
        for (size_t s = 0; s < c->n_subsets && s < part->scan.n_subsets; s++) {
            if (part->scan.subsets[s].ignored) continue;
            ds->subsets[ds->n_subsets++] = (TrainMetaSubset){.cfg = &c->subsets[s], .img_count = (int64_t)part->scan.subsets[s].img_count};
            // kohya names a folder's tag counts by its base name (fine-tuning: the metadata file's)
            const SubsetConfig *sc = &c->subsets[s];
            const char *dir = c->is_dreambooth ? sc->image_dir : sc->metadata_file;
            st = tag_freq_add(&ds->tag_frequency, base_name(dir ? dir : ""), NULL);
            for (size_t i = 0; i < part->scan.n_images && st == SDL_OK; i++)
                if (part->scan.images[i].subset == s) st = tag_freq_add(&ds->tag_frequency, base_name(dir ? dir : ""), part->scan.images[i].caption);
            if (st != SDL_OK) break;
        }
        // bucket numbers: the place in the predefined list, or among the used ones (no_upscale)
        for (size_t b = 0; b < part->set.n_buckets; b++) {
            Reso r = part->set.resos[b];
            int64_t index = (int64_t)b;
            if (!part->spec.no_upscale)
                for (size_t k = 0; k < part->spec.n_predefined; k++)
                    if (part->spec.predefined[k].w == r.w && part->spec.predefined[k].h == r.h) index = (int64_t)k;
            ds->buckets[ds->n_buckets++] =
                (TrainMetaBucket){.index = index, .width = r.w, .height = r.h, .count = (int64_t)part->set.n_items[b]};
        }
    }
    if (st != SDL_OK) {
        train_meta_datasets_free(all, td->n_parts);
        return st;
    }
    *out = all;
    *n_out = td->n_parts;
    return SDL_OK;
}
