// captions.c — see captions.h. Strings are handled as bytes; "strip" removes ASCII whitespace
// (Python's str.strip also removes Unicode spaces such as U+3000, which we keep — a caption
// token that starts with an ideographic space is the only case that differs).
#include "data/captions.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

CaptionOptions caption_options_default(void) {
    return (CaptionOptions){.caption_separator = ",", .keep_tokens_separator = "", .token_warmup_min = 1};
}

typedef struct {
    char **v;
    size_t n, cap;
} StrList;

static int sl_push(StrList *l, const char *s, size_t len) {
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 16;
        char **nv = realloc(l->v, c * sizeof *nv);
        if (!nv) return -1;
        l->v = nv; l->cap = c;
    }
    char *d = malloc(len + 1);
    if (!d) return -1;
    memcpy(d, s, len); d[len] = 0;
    l->v[l->n++] = d;
    return 0;
}

static void sl_free(StrList *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// [s, s+len) stripped: returns start, sets *out_len.
static const char *strip(const char *s, size_t len, size_t *out_len) {
    while (len && is_ws(*s)) { s++; len--; }
    while (len && is_ws(s[len - 1])) len--;
    *out_len = len;
    return s;
}

// Python [t.strip() for t in s[:len].split(sep)] (keep_empty) or with `if t.strip()`.
static int split_tokens(StrList *out, const char *s, size_t len, const char *sep, bool keep_empty) {
    size_t sl = strlen(sep);
    const char *end = s + len;
    for (;;) {
        const char *hit = NULL;
        if (sl)
            for (const char *p = s; p + sl <= end; p++)
                if (memcmp(p, sep, sl) == 0) { hit = p; break; }
        const char *piece_end = hit ? hit : end;
        size_t tl;
        const char *t = strip(s, (size_t)(piece_end - s), &tl);
        if ((keep_empty || tl) && sl_push(out, t, tl)) return -1;
        if (!hit) return 0;
        s = hit + sl;
    }
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

// str.replace(from, to) for all occurrences; frees `s`.
static char *replace_all(char *s, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to), count = 0;
    if (!s || fl == 0) return s;
    for (const char *p = strstr(s, from); p; p = strstr(p + fl, from)) count++;
    if (!count) return s;
    char *d = malloc(strlen(s) + count * tl - count * fl + 1), *w = d;
    if (!d) { free(s); return NULL; }
    const char *p = s;
    for (const char *q = strstr(p, from); q; q = strstr(p, from)) {
        memcpy(w, p, (size_t)(q - p)); w += q - p;
        memcpy(w, to, tl); w += tl;
        p = q + fl;
    }
    strcpy(w, p);
    free(s);
    return d;
}

// Wildcards (enable_wildcard): a random line if multi-line; each {a|b|c} → random.choice;
// "{{" / "}}" are literal braces. Mirrors re.sub(r"\{([^}]+)\}", ...) scanning left to right.
static char *apply_wildcards(char *c, PyRandom *rnd) {
    if (strchr(c, '\n')) {
        size_t n_lines = 1;
        for (const char *p = c; *p; p++) n_lines += *p == '\n';
        size_t pick = (size_t)py_random_randbelow(rnd, n_lines), i = 0;
        const char *start = c;
        for (const char *p = c;; p++) {
            if (*p == '\n' || !*p) {
                if (i == pick) { char *line = dup_n(start, (size_t)(p - start)); free(c); c = line; break; }
                i++; start = p + 1;
                if (!*p) break;
            }
        }
        if (!c) return NULL;
    }
    size_t len = strlen(c);
    char *out = malloc(len + 1), *w = out;
    if (!out) { free(c); return NULL; }
    for (size_t i = 0; i < len;) {
        if (c[i] == '{' && i + 1 < len && c[i + 1] == '{') { *w++ = '{'; i += 2; continue; }
        if (c[i] == '}' && i + 1 < len && c[i + 1] == '}') { *w++ = '}'; i += 2; continue; }
        if (c[i] == '{') {
            // [^}]+ up to the next '}' (a "{{"/"}}" pair inside counts as escaped text in kohya
            // too, since it was replaced by a placeholder first: stop at "}}" or "{{")
            size_t j = i + 1;
            while (j < len && c[j] != '}' && !(c[j] == '{' && j + 1 < len && c[j + 1] == '{')) j++;
            if (j < len && c[j] == '}' && j > i + 1 && !(j + 1 < len && c[j + 1] == '}')) {
                size_t n_opt = 1;
                for (size_t k = i + 1; k < j; k++) n_opt += c[k] == '|';
                size_t pick = (size_t)py_random_randbelow(rnd, n_opt), opt = 0, s = i + 1;
                for (size_t k = i + 1; k <= j; k++) {
                    if (k == j || c[k] == '|') {
                        if (opt == pick) { memcpy(w, c + s, k - s); w += k - s; break; }
                        opt++; s = k + 1;
                    }
                }
                i = j + 1;
                continue;
            }
        }
        *w++ = c[i++];
    }
    *w = 0;
    free(c);
    return out;
}

char *caption_process(const CaptionOptions *o, const char *caption, int64_t epoch, int64_t step,
                      int64_t max_train_steps, PyRandom *rnd) {
    const char *pre = o->caption_prefix, *suf = o->caption_suffix;
    size_t len = strlen(caption) + (pre ? strlen(pre) + 1 : 0) + (suf ? strlen(suf) + 1 : 0);
    char *c = malloc(len + 1);
    if (!c) return NULL;
    c[0] = 0;
    // 1. prefix / suffix, joined with a space (the prefix fuses with the first tag)
    if (pre && *pre) { strcat(c, pre); strcat(c, " "); }
    strcat(c, caption);
    if (suf && *suf) { strcat(c, " "); strcat(c, suf); }

    // 2. dropout: random() is drawn only when the rate is > 0
    bool drop = o->caption_dropout_rate > 0 && py_random_random(rnd) < o->caption_dropout_rate;
    drop = drop || (o->caption_dropout_every_n_epochs > 0 && epoch % o->caption_dropout_every_n_epochs == 0);
    if (drop) { c[0] = 0; return c; }

    // 3. wildcards, else the first line only
    if (o->enable_wildcard) {
        c = apply_wildcards(c, rnd);
        if (!c) return NULL;
    } else {
        char *nl = strchr(c, '\n');
        if (nl) *nl = 0;
    }

    // 4. token processing, only when one of the three options is on
    double warmup_step = o->token_warmup_step;
    if (warmup_step > 0 && warmup_step < 1) warmup_step = floor(warmup_step * (double)max_train_steps);
    if (o->shuffle_caption || o->token_warmup_step > 0 || o->caption_tag_dropout_rate > 0) {
        const char *sep = o->caption_separator ? o->caption_separator : ",";
        const char *kts = o->keep_tokens_separator;
        StrList fixed = {0}, flex = {0}, suffix = {0};
        int bad = 0;
        const char *k1 = kts && *kts ? strstr(c, kts) : NULL;
        if (k1) {
            size_t kl = strlen(kts);
            bad |= split_tokens(&fixed, c, (size_t)(k1 - c), sep, false);
            const char *flex_s = k1 + kl, *k2 = strstr(flex_s, kts);
            if (k2) {
                bad |= split_tokens(&flex, flex_s, (size_t)(k2 - flex_s), sep, false);
                bad |= split_tokens(&suffix, k2 + kl, strlen(k2 + kl), sep, false);
            } else {
                bad |= split_tokens(&flex, flex_s, strlen(flex_s), sep, false);
            }
        } else {
            size_t sl;
            const char *s = strip(c, strlen(c), &sl);
            StrList all = {0};
            bad |= split_tokens(&all, s, sl, sep, true);
            size_t keep = o->keep_tokens > 0 ? (size_t)o->keep_tokens : 0;
            if (keep > all.n) keep = all.n;
            for (size_t i = 0; i < all.n && !bad; i++) bad |= sl_push(i < keep ? &fixed : &flex, all.v[i], strlen(all.v[i]));
            sl_free(&all);
        }
        // token warm-up: keep floor(step * (len(flex) - min) / warmup_step) + min flex tokens
        if (warmup_step > 0 && (double)step < warmup_step) {
            double k = floor((double)step * (((double)flex.n - (double)o->token_warmup_min) / warmup_step)) +
                       (double)o->token_warmup_min;
            // Python slicing flex[:k]: negative k counts from the end
            int64_t ki = (int64_t)k, n = (int64_t)flex.n;
            int64_t keep = ki >= 0 ? (ki < n ? ki : n) : (n + ki > 0 ? n + ki : 0);
            for (int64_t i = keep; i < n; i++) free(flex.v[i]);
            flex.n = (size_t)keep;
        }
        if (o->shuffle_caption) py_random_shuffle(rnd, flex.v, flex.n, sizeof *flex.v);
        if (o->caption_tag_dropout_rate > 0) {
            size_t w = 0;
            for (size_t i = 0; i < flex.n; i++) {
                if (py_random_random(rnd) >= o->caption_tag_dropout_rate) flex.v[w++] = flex.v[i];
                else free(flex.v[i]);
            }
            flex.n = w;
        }
        // rejoin with ", " always (not caption_separator)
        size_t total = 1;
        StrList *parts[3] = {&fixed, &flex, &suffix};
        for (int p = 0; p < 3; p++)
            for (size_t i = 0; i < parts[p]->n; i++) total += strlen(parts[p]->v[i]) + 2;
        char *j = bad ? NULL : malloc(total);
        if (j) {
            j[0] = 0;
            bool first = true;
            for (int p = 0; p < 3; p++)
                for (size_t i = 0; i < parts[p]->n; i++) {
                    if (!first) strcat(j, ", ");
                    strcat(j, parts[p]->v[i]);
                    first = false;
                }
        }
        sl_free(&fixed); sl_free(&flex); sl_free(&suffix);
        free(c);
        c = j;
        if (!c) return NULL;
    }
    // 5. secondary separator
    if (o->secondary_separator && *o->secondary_separator)
        c = replace_all(c, o->secondary_separator, o->caption_separator ? o->caption_separator : ",");
    return c;
}
