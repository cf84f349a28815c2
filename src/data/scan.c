// scan.c — see scan.h. Mirrors kohya's DreamBoothDataset.__init__ / load_dreambooth_dir /
// read_caption and FineTuningDataset.__init__.
#include "data/scan.h"
#include "base/log.h"
#include "io/json.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static SdlStatus oom(void) { return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory"); }

bool scan_is_image_name(const char *name) {
    // kohya globs the lower- and upper-case spellings only; any case is accepted here (a
    // photo.Jpg is surely meant to be used)
    static const char *const exts[] = {".png", ".jpg", ".jpeg", ".webp", ".bmp"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t m = strlen(exts[i]);
        if (n > m && strcasecmp(name + n - m, exts[i]) == 0) return true;
    }
    return false;
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

SdlStatus scan_list_images(const char *dir, char ***out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    DIR *dp = opendir(dir);
    if (!dp) return sdl_fail(SDL_ERR_IO, dir, "check the image_dir path", "cannot open the image folder: %s", strerror(errno));
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    SdlStatus st = SDL_OK;
    while ((de = readdir(dp))) {
        // glob's "*" skips dot files; only regular files (a folder named x.png is no image)
        if (de->d_name[0] == '.' || !scan_is_image_name(de->d_name)) continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char *full = malloc(len);
        if (!full) { st = oom(); break; }
        snprintf(full, len, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (stat(full, &sb) != 0 || !S_ISREG(sb.st_mode)) { free(full); continue; }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) { free(full); st = oom(); break; }
            v = nv;
        }
        v[n++] = full;
    }
    closedir(dp);
    if (st != SDL_OK) {
        for (size_t i = 0; i < n; i++) free(v[i]);
        free(v);
        return st;
    }
    // Python sorted() on str: code-point order, which is byte order for UTF-8
    qsort(v, n, sizeof *v, str_cmp);
    *out = v;
    *n_out = n;
    return SDL_OK;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static char *strip_dup(const char *s, size_t len) {
    while (len && is_ws(*s)) { s++; len--; }
    while (len && is_ws(s[len - 1])) len--;
    char *d = malloc(len + 1);
    if (d) { memcpy(d, s, len); d[len] = 0; }
    return d;
}

CaptionSource scan_read_caption(const char *image_path, const char *caption_extension, bool enable_wildcard,
                                char **caption, char *used_path, size_t used_cap) {
    *caption = NULL;
    if (used_path && used_cap) used_path[0] = 0;
    const char *ext = caption_extension ? caption_extension : ".caption";
    // base_name = os.path.splitext(path)[0]: strip the extension of the last component
    size_t blen = strlen(image_path);
    const char *slash = strrchr(image_path, '/'), *dot = strrchr(image_path, '.');
    if (dot && (!slash || dot > slash + 1)) blen = (size_t)(dot - image_path);
    char cand[2][4096];
    int n_cand = 0;
    snprintf(cand[n_cand++], sizeof cand[0], "%.*s%s", (int)blen, image_path, ext);
    // face-crop variant: base_name.split("_") with >= 5 tokens → drop the last 4 (kohya
    // splits the whole path, so underscores in folder names count too)
    size_t n_us = 0, cut = 0;
    for (size_t i = 0; i < blen; i++)
        if (image_path[i] == '_') n_us++;
    if (n_us + 1 >= 5) {
        size_t seen = 0;
        for (size_t i = 0; i < blen; i++)
            if (image_path[i] == '_' && ++seen == n_us - 3) { cut = i; break; }
        snprintf(cand[n_cand++], sizeof cand[0], "%.*s%s", (int)cut, image_path, ext);
    }
    for (int c = 0; c < n_cand; c++) {
        struct stat sb;
        if (stat(cand[c], &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (used_path) snprintf(used_path, used_cap, "%s", cand[c]);
        FILE *f = fopen(cand[c], "rb");
        if (!f) continue;
        size_t cap = (size_t)sb.st_size + 1, len = 0;
        char *buf = malloc(cap);
        if (!buf) { fclose(f); return CAPTION_MISSING; }
        len = fread(buf, 1, cap - 1, f);
        fclose(f);
        buf[len] = 0;
        if (len == 0) { free(buf); return CAPTION_EMPTY; }
        if (!json_utf8_valid(buf, len, NULL)) { free(buf); return CAPTION_BAD_UTF8; }
        // a UTF-8 BOM is not stripped by Python's "utf-8" codec; drop it (it would become a token)
        const char *s = buf;
        if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) { s += 3; len -= 3; }
        if (enable_wildcard) {
            // all non-empty stripped lines joined with "\n"
            char *out = malloc(len + 1);
            size_t o = 0;
            if (!out) { free(buf); return CAPTION_MISSING; }
            const char *p = s, *end = s + len;
            while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *le = nl ? nl : end;
                char *line = strip_dup(p, (size_t)(le - p));
                if (line && *line) {
                    if (o) out[o++] = '\n';
                    memcpy(out + o, line, strlen(line));
                    o += strlen(line);
                }
                free(line);
                p = nl ? nl + 1 : end;
            }
            out[o] = 0;
            *caption = out;
        } else {
            const char *nl = memchr(s, '\n', len);
            *caption = strip_dup(s, nl ? (size_t)(nl - s) : len);
        }
        free(buf);
        if (!*caption) return CAPTION_MISSING;
        return CAPTION_FILE;
    }
    return CAPTION_MISSING;
}

typedef struct {
    ScanImage *v;
    size_t n, cap;
} ImgList;

static int push_img(ImgList *l, ScanImage im) {
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 64;
        ScanImage *nv = realloc(l->v, c * sizeof *nv);
        if (!nv) return -1;
        l->v = nv; l->cap = c;
    }
    l->v[l->n++] = im;
    return 0;
}

static void free_imgs(ImgList *l) {
    for (size_t i = 0; i < l->n; i++) { free(l->v[i].path); free(l->v[i].caption); }
    free(l->v);
    memset(l, 0, sizeof *l);
}

// One DreamBooth subset: images and captions (load_dreambooth_dir).
static SdlStatus load_dreambooth_dir(const SubsetConfig *sc, size_t si, ImgList *out, ScanSubsetStats *stats) {
    char **paths;
    size_t n;
    SDL_TRY(scan_list_images(sc->image_dir, &paths, &n));
    SdlStatus st = SDL_OK;
    size_t n_missing = 0;
    for (size_t i = 0; i < n; i++) {
        char *cap = NULL, used[4096];
        CaptionSource src = scan_read_caption(paths[i], sc->caption_extension, sc->enable_wildcard, &cap, used, sizeof used);
        if (src == CAPTION_EMPTY)
            log_warn("caption file is empty, using the class tokens instead: %s", used);
        else if (src == CAPTION_BAD_UTF8)
            log_warn("caption file is not UTF-8 text, using the class tokens instead: %s", used);
        else if (src == CAPTION_MISSING)
            n_missing++;
        if (!cap) {
            cap = strdup(sc->class_tokens ? sc->class_tokens : "");
            if (!cap) { st = oom(); break; }
            stats->captions_fallback++;
        } else {
            stats->captions_found++;
        }
        ScanImage im = {.path = paths[i], .caption = cap, .caption_source = src, .subset = si,
                        .num_repeats = sc->num_repeats, .is_reg = sc->is_reg, .loss_weight = 1.0f};
        paths[i] = NULL;
        if (push_img(out, im)) { free(im.path); free(im.caption); st = oom(); break; }
    }
    if (n_missing)
        log_warn("%zu image(s) in %s have no %s caption file: %s", n_missing, sc->image_dir,
                 sc->caption_extension ? sc->caption_extension : ".caption",
                 sc->class_tokens ? "the class tokens are used as their caption" : "their caption is empty");
    for (size_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
    stats->img_count = n;
    return st;
}

static bool file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

// One fine-tuning subset: {image_key: {"caption", "tags", "image_size"}} (FineTuningDataset).
static SdlStatus load_metadata(const SubsetConfig *sc, size_t si, ImgList *out, ScanSubsetStats *stats) {
    FILE *f = fopen(sc->metadata_file, "rb");
    if (!f) return sdl_fail(SDL_ERR_IO, sc->metadata_file, "check metadata_file / --in_json", "cannot open: %s", strerror(errno));
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)(sz > 0 ? sz : 0) + 1);
    if (!text) { fclose(f); return oom(); }
    size_t got = fread(text, 1, (size_t)(sz > 0 ? sz : 0), f);
    fclose(f);
    text[got] = 0;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sdl_fail(SDL_ERR_FORMAT, sc->metadata_file, "the metadata file is a JSON object {image: {\"caption\": ..., \"tags\": ...}}",
                        "not a JSON object");
    }
    static const char *const exts[] = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".PNG", ".JPG", ".JPEG", ".WEBP", ".BMP"};
    SdlStatus st = SDL_OK;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        char path[4096] = "";
        if (file_exists(e->string)) snprintf(path, sizeof path, "%s", e->string);
        else if (sc->image_dir) {
            snprintf(path, sizeof path, "%s/%s", sc->image_dir, e->string);
            // legacy metadata stores the file stem: try the image extensions
            for (size_t x = 0; !file_exists(path) && x < sizeof exts / sizeof exts[0]; x++)
                snprintf(path, sizeof path, "%s/%s%s", sc->image_dir, e->string, exts[x]);
        }
        if (!path[0] || !file_exists(path)) {
            log_warn("%s: image '%s' not found, skipped", sc->metadata_file, e->string);
            continue;
        }
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "caption"), *t = cJSON_GetObjectItemCaseSensitive(e, "tags");
        const char *cs = cJSON_IsString(c) ? c->valuestring : NULL, *ts = cJSON_IsString(t) ? t->valuestring : NULL;
        size_t len = (cs ? strlen(cs) : 0) + (ts ? strlen(ts) : 0) + strlen(sc->caption_separator ? sc->caption_separator : ",") + 1;
        char *cap = malloc(len);
        if (!cap) { st = oom(); break; }
        // caption + separator + tags (tags only if non-empty); tags alone if no caption
        if (cs && ts && *ts) snprintf(cap, len, "%s%s%s", cs, sc->caption_separator ? sc->caption_separator : ",", ts);
        else snprintf(cap, len, "%s", cs ? cs : ts ? ts : "");
        if (!cs && !ts) { log_warn("%s: '%s' has neither caption nor tags: empty caption", sc->metadata_file, e->string); stats->captions_fallback++; }
        else stats->captions_found++;
        ScanImage im = {.path = strdup(path), .caption = cap, .caption_source = (cs || ts) ? CAPTION_FILE : CAPTION_MISSING,
                        .subset = si, .num_repeats = sc->num_repeats, .is_reg = false, .loss_weight = 1.0f};
        if (!im.path || push_img(out, im)) { free(im.path); free(cap); st = oom(); break; }
        stats->img_count++;
    }
    cJSON_Delete(root);
    return st;
}

SdlStatus dataset_scan_collect(DatasetScan *out, const DatasetConfig *ds) {
    memset(out, 0, sizeof *out);
    out->subsets = calloc(ds->n_subsets ? ds->n_subsets : 1, sizeof *out->subsets);
    if (!out->subsets) return oom();
    out->n_subsets = ds->n_subsets;
    ImgList train = {0}, reg = {0};
    SdlStatus st = SDL_OK;
    for (size_t si = 0; si < ds->n_subsets && st == SDL_OK; si++) {
        const SubsetConfig *sc = &ds->subsets[si];
        ScanSubsetStats *stats = &out->subsets[si];
        if (sc->num_repeats < 1) {
            log_warn("ignoring subset %s: num_repeats %lld < 1", sc->image_dir ? sc->image_dir : sc->metadata_file, (long long)sc->num_repeats);
            stats->ignored = true; stats->ignored_reason = "num_repeats < 1";
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < si && !dup; j++) {
            const SubsetConfig *o = &ds->subsets[j];
            if (out->subsets[j].ignored) continue;
            if (ds->is_dreambooth) dup = o->image_dir && strcmp(o->image_dir, sc->image_dir) == 0;
            else dup = strcmp(o->metadata_file, sc->metadata_file) == 0;
        }
        if (dup) {
            log_warn("ignoring duplicate subset %s", ds->is_dreambooth ? sc->image_dir : sc->metadata_file);
            stats->ignored = true; stats->ignored_reason = "duplicate";
            continue;
        }
        ImgList *dst = sc->is_reg && ds->is_dreambooth ? &reg : &train;
        size_t before = dst->n;
        st = ds->is_dreambooth ? load_dreambooth_dir(sc, si, dst, stats) : load_metadata(sc, si, dst, stats);
        if (st != SDL_OK) break;
        if (dst->n == before) {
            log_warn("ignoring subset %s: no images found", ds->is_dreambooth ? sc->image_dir : sc->metadata_file);
            stats->ignored = true; stats->ignored_reason = "no images";
        }
    }
    // registration order: train images, then (all, for now) reg images
    for (size_t i = 0; i < reg.n && st == SDL_OK; i++) {
        if (push_img(&train, reg.v[i])) st = oom();
        else reg.v[i].path = reg.v[i].caption = NULL;
    }
    free_imgs(&reg);
    if (st != SDL_OK) {
        free_imgs(&train);
        free(out->subsets);
        memset(out, 0, sizeof *out);
        return st;
    }
    out->images = train.v;
    out->n_images = train.n;
    return SDL_OK;
}

SdlStatus dataset_scan_balance(DatasetScan *s, const bool *exclude, double prior_loss_weight, size_t *origin) {
    SDL_ASSERT(!s->balanced);
    size_t n = s->n_images, n_train = 0, n_reg = 0;
    ScanImage *train = malloc((n ? n : 1) * sizeof *train), *reg = malloc((n ? n : 1) * sizeof *reg);
    size_t *train_from = malloc((n ? n : 1) * sizeof *train_from), *reg_from = malloc((n ? n : 1) * sizeof *reg_from);
    if (!train || !reg || !train_from || !reg_from) {
        free(train); free(reg); free(train_from); free(reg_from);
        return oom();
    }
    s->num_train_images = s->num_reg_images = 0;
    for (size_t i = 0; i < n; i++) {
        ScanImage *im = &s->images[i];
        if (exclude && exclude[i]) {
            // a bad image neither trains nor counts towards the reg balance
            s->subsets[im->subset].n_excluded++;
            free(im->path); free(im->caption);
            continue;
        }
        if (im->is_reg) { reg_from[n_reg] = i; reg[n_reg++] = *im; s->num_reg_images += im->num_repeats; }
        else { train_from[n_train] = i; train[n_train++] = *im; s->num_train_images += im->num_repeats; }
    }
    // Regularization balancing: the first pass registers reg images with their folder
    // repeats until n >= num_train_images; later passes add one repeat per image.
    size_t n_registered = 0;
    if (n_reg > 0) {
        int64_t cnt = 0;
        bool first = true;
        while (cnt < s->num_train_images) {
            for (size_t i = 0; i < n_reg; i++) {
                if (first) { cnt += reg[i].num_repeats; n_registered++; }
                else { reg[i].num_repeats++; cnt++; }
                if (cnt >= s->num_train_images) break;
            }
            first = false;
        }
        s->n_unused_reg = n_reg - n_registered;
        if (s->n_unused_reg)
            log_info("%zu regularization image(s) are not used: enough reg samples to match %lld train samples per epoch",
                     s->n_unused_reg, (long long)s->num_train_images);
    }
    for (size_t i = n_registered; i < n_reg; i++) { free(reg[i].path); free(reg[i].caption); }
    for (size_t i = 0; i < n_registered; i++) {
        reg[i].loss_weight = (float)prior_loss_weight;
        train_from[n_train] = reg_from[i];
        train[n_train++] = reg[i];
    }
    if (origin) memcpy(origin, train_from, n_train * sizeof *origin);
    free(s->images);
    free(reg); free(reg_from); free(train_from);
    s->images = train;
    s->n_images = n_train;
    s->balanced = true;
    return SDL_OK;
}

SdlStatus dataset_scan(DatasetScan *out, const DatasetConfig *ds, double prior_loss_weight) {
    SDL_TRY(dataset_scan_collect(out, ds));
    SdlStatus st = dataset_scan_balance(out, NULL, prior_loss_weight, NULL);
    if (st != SDL_OK) dataset_scan_free(out);
    return st;
}

void dataset_scan_free(DatasetScan *s) {
    for (size_t i = 0; i < s->n_images; i++) { free(s->images[i].path); free(s->images[i].caption); }
    free(s->images);
    free(s->subsets);
    memset(s, 0, sizeof *s);
}
