// prompt_file.c — kohya's --sample_prompts formats, sample file names, when to sample.
// See prompt_file.h for the rules; kohya's code is library/train_util.py:line_to_prompt_dict,
// load_prompts, sample_images_common and sample_image_inference.
#include "sample/prompt_file.h"
#include "base/file.h"
#include "base/log.h"
#include "io/json.h"
#include "io/toml.h"
#include "sample/sampler.h"
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PROMPT_FILE_MAX_BYTES ((size_t)64 << 20)

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static bool is_blank(int c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == '\n'; }

// Trailing blanks off a malloc'ed string, in place.
static void rtrim(char *s) {
    size_t n = strlen(s);
    while (n > 0 && is_blank((unsigned char)s[n - 1])) s[--n] = 0;
}

int64_t sample_size_floor(int64_t v) {
    // Python's v - v % 8 floors towards -inf for negative v too; max() then makes it 64.
    int64_t r = v - (((v % 8) + 8) % 8);
    return r < 64 ? 64 : r;
}

void sample_prompt_defaults(SamplePrompt *p) {
    memset(p, 0, sizeof *p);
    p->width = p->height = SAMPLE_DEFAULT_SIZE;
    p->steps = SAMPLE_DEFAULT_STEPS;
    p->scale = SAMPLE_DEFAULT_SCALE;
}

void sample_prompt_clear(SamplePrompt *p) {
    if (!p) return;
    free(p->prompt);
    free(p->negative_prompt);
    free(p->sampler);
    memset(p, 0, sizeof *p);
}

void sample_prompts_free(SamplePromptList *list) {
    if (!list) return;
    for (int64_t i = 0; i < list->n; i++) sample_prompt_clear(&list->items[i]);
    free(list->items);
    memset(list, 0, sizeof *list);
}

static SdlStatus list_push(SamplePromptList *list, SamplePrompt *p, int64_t *cap) {
    if (list->n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 16;
        SamplePrompt *ni = realloc(list->items, (size_t)nc * sizeof *ni);
        if (!ni) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory reading sample prompts");
        list->items = ni;
        *cap = nc;
    }
    p->index = list->n;
    list->items[list->n++] = *p;
    memset(p, 0, sizeof *p);
    return SDL_OK;
}

// ---- shared checks on option values ----

static SdlStatus set_size(int64_t *dst, int64_t v, const char *what, const char *name, int line) {
    if (v > SAMPLE_MAX_SIZE)
        return sdl_fail(SDL_ERR_FORMAT, name, "sample images are generated whole; use a size like 512 or 768",
                        "line %d: %s %lld is larger than %d", line, what, (long long)v, SAMPLE_MAX_SIZE);
    *dst = sample_size_floor(v);
    return SDL_OK;
}

static int64_t clamp_steps(int64_t v) { return v < 1 ? 1 : v > 1000 ? 1000 : v; }

// Known sampler: stored lower case; unknown: kohya's get_my_scheduler falls back to DDIM.
static SdlStatus set_sampler(SamplePrompt *p, const char *v, size_t n, const char *name, int line, int *n_warnings) {
    char *s = dup_n(v, n);
    if (!s) return sdl_fail(SDL_ERR_OOM, name, NULL, "out of memory");
    rtrim(s);
    for (char *c = s; *c; c++) *c = (char)tolower((unsigned char)*c);
    SamplerConfig cfg;
    if (sampler_config_kohya(s, 0, &cfg) != SDL_OK) {
        sdl_error_clear();
        log_warn("%s:%d: unknown sampler '%s': using ddim, as kohya does (valid: %s)", name, line, s,
                 sampler_kohya_names());
        if (n_warnings) (*n_warnings)++;
        free(s);
        s = dup_n("ddim", 4);
        if (!s) return sdl_fail(SDL_ERR_OOM, name, NULL, "out of memory");
    }
    free(p->sampler);
    p->sampler = s;
    return SDL_OK;
}

// ---- .txt lines ----

// If `part` starts with `key` (case-insensitive) followed by one space, the text after it.
static const char *opt_value(const char *part, const char *key) {
    size_t n = strlen(key);
    if (strncasecmp(part, key, n) != 0 || part[n] != ' ') return NULL;
    return part + n + 1;
}

// Leading ASCII digits as an int64 (saturating); NULL if there are none (regex "\d+").
static const char *parse_digits(const char *s, uint64_t *out, bool *overflow) {
    const char *p = s;
    uint64_t v = 0;
    *overflow = false;
    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) *overflow = true; else v = v * 10 + d;
        p++;
    }
    *out = v;
    return p == s ? NULL : p;
}

static void warn_part(const char *name, int line, const char *what, const char *part, int *n_warnings) {
    log_warn("%s:%d: %s: --%s", name, line, what, part);
    if (n_warnings) (*n_warnings)++;
}

// One option part (the text after " --"). Mirrors the order of kohya's regexes.
static SdlStatus apply_txt_option(SamplePrompt *p, const char *part, const char *name, int line, int *n_warnings) {
    const char *v;
    uint64_t u;
    bool ovf;
    static const char *const size_keys[2] = {"w", "h"};
    for (int k = 0; k < 2; k++) {
        if ((v = opt_value(part, size_keys[k])) && parse_digits(v, &u, &ovf)) {
            int64_t *dst = k == 0 ? &p->width : &p->height;
            return set_size(dst, ovf || u > INT64_MAX ? INT64_MAX : (int64_t)u, k == 0 ? "width" : "height", name, line);
        }
    }
    if ((v = opt_value(part, "f")) && parse_digits(v, &u, &ovf)) {
        warn_part(name, line, "frame count is for video models; ignored", part, n_warnings);
        return SDL_OK;
    }
    if ((v = opt_value(part, "d")) && parse_digits(v, &u, &ovf)) {
        if (ovf)
            return sdl_fail(SDL_ERR_FORMAT, name, "use a seed from 0 to 18446744073709551615",
                            "line %d: seed out of range: --%s", line, part);
        p->has_seed = true;
        p->seed = u;
        return SDL_OK;
    }
    if ((v = opt_value(part, "s")) && parse_digits(v, &u, &ovf)) {
        p->steps = clamp_steps(ovf || u > 1000 ? 1000 : (int64_t)u);
        return SDL_OK;
    }
    if ((v = opt_value(part, "l"))) {
        size_t n = strspn(v, "0123456789.");
        if (n > 0) {
            // float() of the regex match: at least one digit and at most one '.'; else kohya
            // logs the ValueError and goes on.
            size_t dots = 0, digits = 0;
            for (size_t i = 0; i < n; i++) *(v[i] == '.' ? &dots : &digits) += 1;
            if (dots > 1 || digits == 0) {
                warn_part(name, line, "not a number, ignored", part, n_warnings);
                return SDL_OK;
            }
            char tmp[64];
            if (n >= sizeof tmp) n = sizeof tmp - 1;
            memcpy(tmp, v, n);
            tmp[n] = 0;
            p->scale = strtod(tmp, NULL);
            if (!isfinite(p->scale)) p->scale = SAMPLE_DEFAULT_SCALE;
            return SDL_OK;
        }
    }
    if ((v = opt_value(part, "n")) && *v) {
        char *s = strdup(v);
        if (!s) return sdl_fail(SDL_ERR_OOM, name, NULL, "out of memory");
        rtrim(s);
        free(p->negative_prompt);
        p->negative_prompt = s;
        return SDL_OK;
    }
    if ((v = opt_value(part, "ss")) && *v) return set_sampler(p, v, strlen(v), name, line, n_warnings);
    static const char *const other_arch[] = {"cn", "g", "ctr", "rcfg", "fs"};
    for (size_t k = 0; k < sizeof other_arch / sizeof other_arch[0]; k++)
        if ((v = opt_value(part, other_arch[k])) && *v) {
            warn_part(name, line, "option not used for Stable Diffusion, ignored", part, n_warnings);
            return SDL_OK;
        }
    warn_part(name, line, "unknown option, ignored (options: --n --w --h --d --s --l --ss)", part, n_warnings);
    return SDL_OK;
}

SdlStatus sample_prompt_parse_line(const char *line, const char *name, int line_no, SamplePrompt *p, int *n_warnings) {
    sample_prompt_defaults(p);
    p->line = line_no;
    const char *sep = strstr(line, " --");
    size_t plen = sep ? (size_t)(sep - line) : strlen(line);
    p->prompt = dup_n(line, plen);
    if (!p->prompt) return sdl_fail(SDL_ERR_OOM, name, NULL, "out of memory");
    rtrim(p->prompt);
    char *part = NULL;
    while (sep) {
        const char *start = sep + 3;
        sep = strstr(start, " --");
        size_t n = sep ? (size_t)(sep - start) : strlen(start);
        if (n == 0) continue; // "a -- --w 1" gives an empty part; kohya matches nothing there
        part = dup_n(start, n);
        if (!part) { sample_prompt_clear(p); return sdl_fail(SDL_ERR_OOM, name, NULL, "out of memory"); }
        SdlStatus st = apply_txt_option(p, part, name, line_no, n_warnings);
        free(part);
        if (st != SDL_OK) { sample_prompt_clear(p); return st; }
    }
    return SDL_OK;
}

// Line number (1-based) of byte offset `off`, counting \n, \r\n and lone \r as Python does.
static int line_of(const char *text, size_t len, size_t off) {
    int line = 1;
    for (size_t i = 0; i < off && i < len; i++)
        if (text[i] == '\n' || (text[i] == '\r' && (i + 1 >= len || text[i + 1] != '\n'))) line++;
    return line;
}

static SdlStatus check_text(const char *text, size_t len, const char *name) {
    size_t bad;
    if (!json_utf8_valid(text, len, &bad))
        return sdl_fail(SDL_ERR_FORMAT, name, "save the file as UTF-8", "line %d: invalid UTF-8", line_of(text, len, bad));
    const char *nul = memchr(text, 0, len);
    if (nul)
        return sdl_fail(SDL_ERR_FORMAT, name, "is this a text file?", "line %d: NUL byte", line_of(text, len, (size_t)(nul - text)));
    return SDL_OK;
}

static size_t skip_bom(const char *text, size_t len) {
    return len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

SdlStatus sample_prompts_parse_txt(const char *text, size_t len, const char *name, SamplePromptList *out) {
    memset(out, 0, sizeof *out);
    SDL_TRY(check_text(text, len, name));
    int64_t cap = 0;
    int line_no = 0;
    for (size_t i = skip_bom(text, len); i < len;) {
        line_no++;
        size_t e = i;
        while (e < len && text[e] != '\n' && text[e] != '\r') e++;
        size_t next = e < len ? e + 1 + (text[e] == '\r' && e + 1 < len && text[e + 1] == '\n') : e;
        size_t a = i, b = e;
        while (a < b && is_blank((unsigned char)text[a])) a++;
        while (b > a && is_blank((unsigned char)text[b - 1])) b--;
        if (b > a && text[i] != '#') {
            char *line = dup_n(text + a, b - a);
            if (!line) { sample_prompts_free(out); return sdl_fail(SDL_ERR_OOM, name, NULL, "out of memory"); }
            SamplePrompt p;
            SdlStatus st = sample_prompt_parse_line(line, name, line_no, &p, &out->n_warnings);
            free(line);
            if (st == SDL_OK) st = list_push(out, &p, &cap);
            if (st != SDL_OK) { sample_prompt_clear(&p); sample_prompts_free(out); return st; }
        }
        i = next;
    }
    return SDL_OK;
}

// ---- keys of .toml / .json prompt tables ----

typedef enum { KV_NULL, KV_STRING, KV_INT, KV_FLOAT, KV_OTHER } KvKind;

typedef struct {
    KvKind kind;
    const char *s;    // KV_STRING
    int64_t i;        // KV_INT
    double f;         // KV_FLOAT (and KV_INT as a double)
    bool big;         // KV_INT from JSON beyond 2^53: not exact
    const char *type; // the source type's name, for messages
} KVal;

static SdlStatus want(const char *name, int line, const char *key, const char *what, const KVal *v) {
    return sdl_fail(SDL_ERR_FORMAT, name, "see docs/generate.md (sample prompt files) for the keys and their types",
                    "line %d: '%s' must be %s, not %s", line, key, what, v->type);
}

// An integer, or a float with an integral value (Python would go on with 512.0).
static bool kv_int(const KVal *v, int64_t *out) {
    if (v->kind == KV_INT) { *out = v->i; return true; }
    if (v->kind == KV_FLOAT && isfinite(v->f) && v->f == floor(v->f) && fabs(v->f) < 9.2e18) {
        *out = (int64_t)v->f;
        return true;
    }
    return false;
}

static SdlStatus apply_key(SamplePrompt *p, const char *key, const KVal *v, const char *name, int line, int *n_warnings) {
    int64_t i;
    if (strcmp(key, "prompt") == 0 || strcmp(key, "negative_prompt") == 0) {
        bool neg = key[0] == 'n';
        if (neg && v->kind == KV_NULL) { free(p->negative_prompt); p->negative_prompt = NULL; return SDL_OK; }
        if (v->kind != KV_STRING) return want(name, line, key, neg ? "a string or null" : "a string", v);
        char *s = strdup(v->s);
        if (!s) return sdl_fail(SDL_ERR_OOM, name, NULL, "out of memory");
        rtrim(s);
        char **dst = neg ? &p->negative_prompt : &p->prompt;
        free(*dst);
        *dst = s;
        return SDL_OK;
    }
    if (strcmp(key, "width") == 0 || strcmp(key, "height") == 0) {
        if (!kv_int(v, &i)) return want(name, line, key, "a whole number", v);
        return set_size(key[0] == 'w' ? &p->width : &p->height, i, key, name, line);
    }
    if (strcmp(key, "sample_steps") == 0) {
        if (!kv_int(v, &i)) return want(name, line, key, "a whole number", v);
        p->steps = clamp_steps(i);
        return SDL_OK;
    }
    if (strcmp(key, "scale") == 0) {
        if ((v->kind != KV_INT && v->kind != KV_FLOAT) || !isfinite(v->f)) return want(name, line, key, "a number", v);
        p->scale = v->f;
        return SDL_OK;
    }
    if (strcmp(key, "seed") == 0) {
        if (v->kind == KV_NULL) { p->has_seed = false; return SDL_OK; }
        if (!kv_int(v, &i) || v->big) return want(name, line, key, "a whole number from 0 to 2^53 (or null)", v);
        if (i < 0) return sdl_fail(SDL_ERR_FORMAT, name, "use a seed >= 0", "line %d: negative seed %lld", line, (long long)i);
        p->has_seed = true;
        p->seed = (uint64_t)i;
        return SDL_OK;
    }
    if (strcmp(key, "sample_sampler") == 0) {
        if (v->kind == KV_NULL) { free(p->sampler); p->sampler = NULL; return SDL_OK; }
        if (v->kind != KV_STRING) return want(name, line, key, "a sampler name", v);
        return set_sampler(p, v->s, strlen(v->s), name, line, n_warnings);
    }
    if (strcmp(key, "enum") == 0 || strcmp(key, "subset") == 0) return SDL_OK; // kohya overwrites / pops these
    if (strcmp(key, "controlnet_image") == 0)
        log_warn("%s:%d: controlnet_image is not supported, ignored", name, line);
    else
        log_warn("%s:%d: unknown key '%s' ignored (keys: prompt, negative_prompt, width, height, sample_steps, scale, seed, sample_sampler)",
                 name, line, key);
    if (n_warnings) (*n_warnings)++;
    return SDL_OK;
}

// ---- .toml ----

static KVal toml_kval(const TomlValue *v) {
    KVal k = {.kind = KV_OTHER, .type = toml_kind_name(toml_kind(v))};
    switch (toml_kind(v)) {
    case TOML_STRING: k.kind = KV_STRING; k.s = toml_as_string(v, NULL); break;
    case TOML_INTEGER: k.kind = KV_INT; toml_as_int(v, &k.i); k.f = (double)k.i; break;
    case TOML_FLOAT: k.kind = KV_FLOAT; toml_as_float(v, &k.f); break;
    default: break;
    }
    return k;
}

static SdlStatus toml_apply_table(SamplePrompt *p, const TomlValue *t, const char *name, int *n_warnings) {
    for (size_t i = 0; i < toml_table_len(t); i++) {
        const char *key = toml_table_key_at(t, i, NULL);
        if (strcmp(key, "subset") == 0) continue;
        const TomlValue *v = toml_table_value_at(t, i);
        KVal k = toml_kval(v);
        SDL_TRY(apply_key(p, key, &k, name, toml_line(v), n_warnings));
    }
    return SDL_OK;
}

SdlStatus sample_prompts_parse_toml(const char *text, size_t len, const char *name, SamplePromptList *out) {
    memset(out, 0, sizeof *out);
    TomlValue *root = NULL;
    SDL_TRY(toml_parse(text, len, name, &root));
    static const char *hint = "a TOML prompt file has [prompt] with defaults and one [[prompt.subset]] per prompt";
    SdlStatus st = SDL_OK;
    const TomlValue *prompt = toml_table_get(root, "prompt");
    const TomlValue *subsets = toml_table_get(prompt, "subset");
    int64_t cap = 0;
    if (!prompt || toml_kind(prompt) != TOML_TABLE) {
        st = sdl_fail(SDL_ERR_FORMAT, name, hint, "no [prompt] table");
        goto done;
    }
    if (!subsets || toml_kind(subsets) != TOML_ARRAY) {
        st = sdl_fail(SDL_ERR_FORMAT, name, hint, "line %d: [prompt] has no [[prompt.subset]] entries", toml_line(prompt));
        goto done;
    }
    for (size_t s = 0; s < toml_array_len(subsets); s++) {
        const TomlValue *sub = toml_array_at(subsets, s);
        if (toml_kind(sub) != TOML_TABLE) {
            st = sdl_fail(SDL_ERR_FORMAT, name, hint, "line %d: prompt.subset item %zu is a %s, not a table",
                          toml_line(sub), s + 1, toml_kind_name(toml_kind(sub)));
            goto done;
        }
        // dict(**prompt, **subset) raises on a key given twice; say where both are.
        for (size_t i = 0; i < toml_table_len(sub); i++) {
            const char *key = toml_table_key_at(sub, i, NULL);
            const TomlValue *dflt = strcmp(key, "subset") ? toml_table_get(prompt, key) : NULL;
            if (dflt) {
                st = sdl_fail(SDL_ERR_FORMAT, name, "set a key either in [prompt] (for all prompts) or in each [[prompt.subset]], not both",
                              "line %d: '%s' is set in [[prompt.subset]] and in [prompt] (line %d)",
                              toml_line(toml_table_value_at(sub, i)), key, toml_line(dflt));
                goto done;
            }
        }
        SamplePrompt p;
        sample_prompt_defaults(&p);
        p.line = toml_line(sub);
        p.prompt = strdup("");
        if (!p.prompt) { st = sdl_fail(SDL_ERR_OOM, name, NULL, "out of memory"); goto done; }
        st = toml_apply_table(&p, prompt, name, &out->n_warnings);
        if (st == SDL_OK) st = toml_apply_table(&p, sub, name, &out->n_warnings);
        if (st == SDL_OK) st = list_push(out, &p, &cap);
        if (st != SDL_OK) { sample_prompt_clear(&p); goto done; }
    }
done:
    toml_free(root);
    if (st != SDL_OK) sample_prompts_free(out);
    return st;
}

// ---- .json ----

// Start offsets of the items of a top-level JSON array (cJSON keeps no positions; we want
// line numbers in messages). Assumes the text already parsed as JSON.
static void json_item_offsets(const char *t, size_t len, size_t *offs, size_t n_max) {
    size_t n = 0, i = 0;
    int depth = 0;
    bool expect_item = false;
    while (i < len && n < n_max) {
        char c = t[i];
        if (expect_item && !is_blank((unsigned char)c)) {
            if (c == ']') break;
            offs[n++] = i;
            expect_item = false;
        }
        if (c == '"') {
            for (i++; i < len && t[i] != '"'; i++)
                if (t[i] == '\\') i++;
        } else if (c == '[' || c == '{') {
            if (++depth == 1) expect_item = true;
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c == ',' && depth == 1) {
            expect_item = true;
        }
        i++;
    }
}

static KVal json_kval(const cJSON *v) {
    KVal k = {.kind = KV_OTHER, .type = "a list or object"};
    if (cJSON_IsNull(v)) { k.kind = KV_NULL; k.type = "null"; }
    else if (cJSON_IsString(v)) { k.kind = KV_STRING; k.s = v->valuestring; k.type = "a string"; }
    else if (cJSON_IsBool(v)) { k.type = "a boolean"; }
    else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        k.f = d;
        k.type = "a number";
        if (isfinite(d) && d == floor(d) && fabs(d) < 9.2e18) {
            k.kind = KV_INT;
            k.i = (int64_t)d;
            k.big = fabs(d) > 9007199254740992.0;
        } else {
            k.kind = KV_FLOAT;
        }
    }
    return k;
}

SdlStatus sample_prompts_parse_json(const char *text, size_t len, const char *name, SamplePromptList *out) {
    memset(out, 0, sizeof *out);
    SDL_TRY(check_text(text, len, name));
    size_t bom = skip_bom(text, len);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text + bom, len - bom, &end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : 0;
        return sdl_fail(SDL_ERR_FORMAT, name, "check the JSON syntax (commas, quotes, brackets)",
                        "line %d: invalid JSON", line_of(text, len, off));
    }
    SdlStatus st = SDL_OK;
    size_t *offs = NULL;
    int64_t cap = 0;
    if (!cJSON_IsArray(root)) {
        st = sdl_fail(SDL_ERR_FORMAT, name, "a JSON prompt file is a list: [{\"prompt\": \"...\", \"width\": 512}, \"a prompt --n ...\"]",
                      "the top level is not a list");
        goto done;
    }
    size_t n_items = (size_t)cJSON_GetArraySize(root);
    offs = calloc(n_items + 1, sizeof *offs);
    if (!offs) { st = sdl_fail(SDL_ERR_OOM, name, NULL, "out of memory"); goto done; }
    json_item_offsets(text + bom, len - bom, offs, n_items);
    size_t k = 0;
    for (const cJSON *item = root->child; item; item = item->next, k++) {
        int line = line_of(text, len, bom + offs[k]);
        SamplePrompt p;
        if (cJSON_IsString(item)) {
            st = sample_prompt_parse_line(item->valuestring, name, line, &p, &out->n_warnings);
        } else if (cJSON_IsObject(item)) {
            sample_prompt_defaults(&p);
            p.line = line;
            p.prompt = strdup("");
            if (!p.prompt) st = sdl_fail(SDL_ERR_OOM, name, NULL, "out of memory");
            // Object members have no positions either; the item's line is close enough.
            for (const cJSON *m = item->child; m && st == SDL_OK; m = m->next) {
                KVal kv = json_kval(m);
                st = apply_key(&p, m->string, &kv, name, line, &out->n_warnings);
            }
        } else {
            st = sdl_fail(SDL_ERR_FORMAT, name, "each item is an object with a \"prompt\" key, or a prompt line as a string",
                          "line %d: prompt %zu is neither an object nor a string", line, k + 1);
            goto done;
        }
        if (st == SDL_OK) st = list_push(out, &p, &cap);
        if (st != SDL_OK) { sample_prompt_clear(&p); goto done; }
    }
done:
    free(offs);
    cJSON_Delete(root);
    if (st != SDL_OK) sample_prompts_free(out);
    return st;
}

// ---- files ----

static bool ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

SdlStatus sample_prompts_load(const char *path, SamplePromptList *out) {
    memset(out, 0, sizeof *out);
    SdlStatus (*parse)(const char *, size_t, const char *, SamplePromptList *) =
        ends_with_ci(path, ".txt") ? sample_prompts_parse_txt
        : ends_with_ci(path, ".toml") ? sample_prompts_parse_toml
        : ends_with_ci(path, ".json") ? sample_prompts_parse_json : NULL;
    if (!parse)
        return sdl_fail(SDL_ERR_UNSUPPORTED, path, "name the prompt file .txt, .toml or .json (as kohya requires)",
                        "unknown prompt file type");
    char *text;
    size_t len;
    SDL_TRY(file_read_text(path, PROMPT_FILE_MAX_BYTES, "a sample prompt file is a small text file: is this the right path?",
                           &text, &len));
    SdlStatus st = parse(text, len, path, out);
    free(text);
    return st;
}

// ---- names and schedule ----

size_t sample_file_name(char *buf, size_t cap, const char *output_dir, const char *output_name,
                        int64_t epoch, int64_t steps, const SamplePrompt *p, time_t when) {
    struct tm tm;
    char ts[32] = "00000000000000";
    if (localtime_r(&when, &tm)) strftime(ts, sizeof ts, "%Y%m%d%H%M%S", &tm);
    char num[32], seed[32] = "";
    if (epoch >= 0) snprintf(num, sizeof num, "e%06lld", (long long)epoch);
    else snprintf(num, sizeof num, "%06lld", (long long)steps);
    if (p->has_seed) snprintf(seed, sizeof seed, "_%llu", (unsigned long long)p->seed);
    int n = snprintf(buf, cap, "%s/sample/%s%s%s_%02lld_%s%s.png", output_dir, output_name ? output_name : "",
                     output_name ? "_" : "", num, (long long)p->index, ts, seed);
    return n < 0 ? 0 : (size_t)n;
}

bool sample_due(const SampleSchedule *s, int64_t epoch, int64_t global_step, bool at_epoch_end) {
    if (global_step == 0) return s->at_first;
    if (s->every_n_epochs > 0) return at_epoch_end && epoch % s->every_n_epochs == 0;
    if (s->every_n_steps > 0) return !at_epoch_end && global_step % s->every_n_steps == 0;
    return false;
}
