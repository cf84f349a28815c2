// dynamic_prompts.c — see dynamic_prompts.h. A text is parsed into a small tree (literal
// runs, variants, wildcards) and then walked with the generator; parsing first means syntax
// errors are found whichever options a seed happens to pick.
#include "sample/dynamic_prompts.h"
#include "base/file.h"
#include "io/json.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { DP_TEXT, DP_VARIANT, DP_WILDCARD } DpKind;

typedef struct DpNode DpNode;
typedef struct {
    DpNode *v;
    size_t n, cap;
} DpSeq;

struct DpNode {
    DpKind kind;
    char *text;          // DP_TEXT: the literal; DP_WILDCARD: the name
    size_t len;
    DpSeq *opts;         // DP_VARIANT: n_opts options
    double *weights;
    size_t n_opts;
    bool counted;        // {N$$...}: cmin..cmax distinct options joined by sep
    int64_t cmin, cmax;
    char *sep;
};

typedef struct {
    char *name;
    char *path;
    DpSeq *lines;
    int *line_nos;
    size_t n_lines;
    bool checked, checking;
} Wildcard;

struct DynPrompts {
    char *dir;
    Wildcard **wc;       // pointers: a Wildcard stays put while nested expansion adds others
    size_t n_wc, cap_wc;
};

// ---- tree ----

static void seq_free(DpSeq *s);

static void node_free(DpNode *n) {
    free(n->text);
    for (size_t i = 0; i < n->n_opts; i++) seq_free(&n->opts[i]);
    free(n->opts);
    free(n->weights);
    free(n->sep);
}

static void seq_free(DpSeq *s) {
    for (size_t i = 0; i < s->n; i++) node_free(&s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static DpNode *seq_push(DpSeq *s) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 4;
        DpNode *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) return NULL;
        s->v = nv;
        s->cap = nc;
    }
    DpNode *n = &s->v[s->n++];
    memset(n, 0, sizeof *n);
    return n;
}

// ---- parser ----

typedef struct {
    const char *s;
    size_t len, pos;
    const char *source;  // file (or "--prompt") for error records
    int line;            // > 0: line within a wildcard file
} Parser;

static SdlStatus perr(const Parser *p, size_t at, const char *hint, const char *what) {
    char where[32] = "";
    if (p->line > 0) snprintf(where, sizeof where, "line %d, ", p->line);
    int shown = p->len > 120 ? 120 : (int)p->len;
    return sdl_fail(SDL_ERR_FORMAT, p->source, hint, "dynamic prompt: %scolumn %zu: %s in \"%.*s%s\"", where, at + 1, what,
                    shown, p->s, p->len > 120 ? "..." : "");
}

static SdlStatus oom(const Parser *p) { return sdl_fail(SDL_ERR_OOM, p->source, NULL, "out of memory expanding a prompt"); }

// Appends bytes to the last literal of seq (or a new one).
static SdlStatus add_text(Parser *p, DpSeq *seq, const char *b, size_t n) {
    DpNode *last = seq->n ? &seq->v[seq->n - 1] : NULL;
    if (!last || last->kind != DP_TEXT) {
        if (!(last = seq_push(seq))) return oom(p);
        last->kind = DP_TEXT;
    }
    char *t = realloc(last->text, last->len + n + 1);
    if (!t) return oom(p);
    memcpy(t + last->len, b, n);
    last->len += n;
    t[last->len] = 0;
    last->text = t;
    return SDL_OK;
}

static bool name_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '/' || c == '.'; }

// A wildcard "__name__" at p->pos: the name's length, or 0 when the text there is not one.
static size_t wildcard_at(const Parser *p, size_t pos) {
    const char *s = p->s;
    if (pos + 4 >= p->len || s[pos] != '_' || s[pos + 1] != '_') return 0;
    size_t k = pos + 2;
    if (k >= p->len || s[k] == '_' || !name_char(s[k])) return 0;
    for (; k + 1 < p->len; k++) {
        if (s[k] == '_' && s[k + 1] == '_') return k - (pos + 2);
        if (!name_char(s[k])) return 0;
    }
    return 0;
}

static SdlStatus parse_seq(Parser *p, DpSeq *seq, int nest);

// Leading "  2.5::" of an option: its weight, consuming it; else 1 and nothing consumed.
static double parse_weight(Parser *p) {
    size_t k = p->pos;
    while (k < p->len && p->s[k] == ' ') k++;
    size_t start = k, digits = 0, dots = 0;
    for (; k < p->len && (isdigit((unsigned char)p->s[k]) || p->s[k] == '.'); k++) *(p->s[k] == '.' ? &dots : &digits) += 1;
    if (digits == 0 || dots > 1 || k + 1 >= p->len || p->s[k] != ':' || p->s[k + 1] != ':') return 1.0;
    double w = strtod(p->s + start, NULL);
    p->pos = k + 2;
    return w;
}

static bool parse_uint(const char *s, size_t *k, size_t len, int64_t *out) {
    size_t i = *k;
    int64_t v = 0;
    for (; i < len && isdigit((unsigned char)s[i]); i++) {
        if (v > 1000000) return false;
        v = v * 10 + (s[i] - '0');
    }
    if (i == *k) return false;
    *k = i;
    *out = v;
    return true;
}

// "{N$$", "{N-M$$", "{-M$$", "{N-$$" and an optional "sep$$" after it (p->pos just past '{').
static SdlStatus parse_count(Parser *p, DpNode *n) {
    size_t k = p->pos;
    int64_t lo = -1, hi = -1;
    bool has_lo = parse_uint(p->s, &k, p->len, &lo), dash = false;
    if (k < p->len && p->s[k] == '-') {
        dash = true;
        k++;
        parse_uint(p->s, &k, p->len, &hi);
    }
    if (!(has_lo || hi >= 0) || k + 1 >= p->len || p->s[k] != '$' || p->s[k + 1] != '$') return SDL_OK; // not a count
    n->counted = true;
    n->cmin = has_lo ? lo : 1;
    n->cmax = hi >= 0 ? hi : dash ? INT64_MAX : n->cmin;
    if (n->cmin > n->cmax) return perr(p, p->pos, "write the smaller count first, e.g. {1-3$$a|b|c}", "count range is reversed");
    k += 2;
    // A custom separator runs to the next "$$", if that comes before any | { }.
    for (size_t j = k; j + 1 < p->len; j++) {
        char c = p->s[j];
        if (c == '|' || c == '{' || c == '}') break;
        if (c == '$' && p->s[j + 1] == '$') {
            if (!(n->sep = malloc(j - k + 1))) return oom(p);
            memcpy(n->sep, p->s + k, j - k);
            n->sep[j - k] = 0;
            k = j + 2;
            break;
        }
    }
    if (!n->sep && !(n->sep = strdup(", "))) return oom(p);
    p->pos = k;
    return SDL_OK;
}

static SdlStatus parse_variant(Parser *p, DpSeq *seq, int nest) {
    size_t open = p->pos;
    if (nest >= DYNPROMPT_MAX_NEST) return perr(p, open, "simplify the prompt", "{ } nested too deeply");
    DpNode *n = seq_push(seq);
    if (!n) return oom(p);
    n->kind = DP_VARIANT;
    p->pos++;
    SDL_TRY(parse_count(p, n));
    size_t cap = 0;
    for (;;) {
        if (n->n_opts == cap) {
            cap = cap ? cap * 2 : 4;
            DpSeq *no = realloc(n->opts, cap * sizeof *no);
            if (!no) return oom(p);
            n->opts = no;
            double *nw = realloc(n->weights, cap * sizeof *nw);
            if (!nw) return oom(p);
            n->weights = nw;
        }
        DpSeq *opt = &n->opts[n->n_opts];
        memset(opt, 0, sizeof *opt);
        n->weights[n->n_opts] = parse_weight(p);
        n->n_opts++;
        SDL_TRY(parse_seq(p, opt, nest + 1));
        if (p->pos >= p->len)
            return perr(p, open, "close it with }, or write \\{ for a literal brace", "unclosed '{'");
        if (p->s[p->pos++] == '}') break; // else '|': next option
    }
    double total = 0;
    for (size_t i = 0; i < n->n_opts; i++) total += n->weights[i];
    if (!(total > 0) || !isfinite(total))
        return perr(p, open, "give at least one option a weight above 0", "every option has weight 0");
    return SDL_OK;
}

// Reads until the end, or (nest > 0) until an unescaped '|' or '}' (left for the caller).
static SdlStatus parse_seq(Parser *p, DpSeq *seq, int nest) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == '\\' && p->pos + 1 < p->len && strchr("{}|_", p->s[p->pos + 1])) {
            SDL_TRY(add_text(p, seq, p->s + p->pos + 1, 1));
            p->pos += 2;
        } else if (c == '{') {
            SDL_TRY(parse_variant(p, seq, nest));
        } else if (c == '}' || c == '|') {
            if (nest > 0) return SDL_OK;
            if (c == '}') return perr(p, p->pos, "write \\} for a literal brace", "'}' without a matching '{'");
            SDL_TRY(add_text(p, seq, "|", 1)); // a bar outside braces is just text
            p->pos++;
        } else {
            size_t nl = wildcard_at(p, p->pos);
            if (nl) {
                DpNode *n = seq_push(seq);
                if (!n || !(n->text = malloc(nl + 1))) return oom(p);
                n->kind = DP_WILDCARD;
                memcpy(n->text, p->s + p->pos + 2, nl);
                n->text[nl] = 0;
                n->len = nl;
                p->pos += nl + 4;
            } else {
                SDL_TRY(add_text(p, seq, &c, 1));
                p->pos++;
            }
        }
    }
    return SDL_OK;
}

static SdlStatus parse_text(const char *text, size_t len, const char *source, int line, DpSeq *out) {
    memset(out, 0, sizeof *out);
    Parser p = {.s = text, .len = len, .source = source, .line = line};
    SdlStatus st = parse_seq(&p, out, 0);
    if (st != SDL_OK) seq_free(out);
    return st;
}

// ---- wildcards ----

SdlStatus dynprompt_new(const char *wildcard_dir, DynPrompts **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
    if (wildcard_dir && !((*out)->dir = strdup(wildcard_dir))) {
        free(*out);
        *out = NULL;
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
    }
    return SDL_OK;
}

static void wildcard_free(Wildcard *w) {
    free(w->name);
    free(w->path);
    for (size_t i = 0; i < w->n_lines; i++) seq_free(&w->lines[i]);
    free(w->lines);
    free(w->line_nos);
}

void dynprompt_free(DynPrompts *dp) {
    if (!dp) return;
    for (size_t i = 0; i < dp->n_wc; i++) wildcard_free(dp->wc[i]), free(dp->wc[i]);
    free(dp->wc);
    free(dp->dir);
    free(dp);
}

static SdlStatus wildcard_parse_file(Wildcard *w, const char *text, size_t len) {
    size_t bad, cap = 0;
    if (!json_utf8_valid(text, len, &bad))
        return sdl_fail(SDL_ERR_FORMAT, w->path, "save the wildcard file as UTF-8", "invalid UTF-8 at byte %zu", bad);
    size_t i = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    for (int line = 1; i < len; line++) {
        size_t e = i;
        while (e < len && text[e] != '\n') e++;
        size_t a = i, b = e;
        while (a < b && isspace((unsigned char)text[a])) a++;
        while (b > a && isspace((unsigned char)text[b - 1])) b--;
        i = e + 1;
        if (a == b || text[a] == '#') continue;
        if (w->n_lines == cap) {
            cap = cap ? cap * 2 : 16;
            DpSeq *nl = realloc(w->lines, cap * sizeof *nl);
            int *nn = nl ? realloc(w->line_nos, cap * sizeof *nn) : NULL;
            if (nl) w->lines = nl;
            if (!nn) return sdl_fail(SDL_ERR_OOM, w->path, NULL, "out of memory");
            w->line_nos = nn;
        }
        SDL_TRY(parse_text(text + a, b - a, w->path, line, &w->lines[w->n_lines]));
        w->line_nos[w->n_lines++] = line;
    }
    if (w->n_lines == 0)
        return sdl_fail(SDL_ERR_FORMAT, w->path, "put one option per line", "wildcard __%s__ has no options", w->name);
    return SDL_OK;
}

// The wildcard named `name`, read and parsed on first use.
static SdlStatus wildcard_get(DynPrompts *dp, const char *name, const char *source, Wildcard **out) {
    if (dp) {
        for (size_t i = 0; i < dp->n_wc; i++)
            if (strcmp(dp->wc[i]->name, name) == 0) { *out = dp->wc[i]; return SDL_OK; }
    }
    if (!dp || !dp->dir)
        return sdl_fail(SDL_ERR_ARG, source, "give the folder of wildcard files with --wildcard_dir, or write \\_\\_ for literal underscores",
                        "prompt uses the wildcard __%s__ but no wildcard folder is set", name);
    if (name[0] == '/' || strstr(name, "..") || name[strlen(name) - 1] == '/')
        return sdl_fail(SDL_ERR_ARG, source, "wildcard names are file names under the wildcard folder, without '..'",
                        "bad wildcard name __%s__", name);
    Wildcard w = {0};
    size_t plen = strlen(dp->dir) + strlen(name) + 6;
    w.name = strdup(name);
    w.path = malloc(plen);
    if (!w.name || !w.path) { wildcard_free(&w); return sdl_fail(SDL_ERR_OOM, source, NULL, "out of memory"); }
    snprintf(w.path, plen, "%s/%s.txt", dp->dir, name);
    char *text = NULL;
    size_t len = 0;
    SdlStatus st = file_read_text(w.path, (size_t)16 << 20, "a wildcard file is a small text file, one option per line", &text, &len);
    if (st != SDL_OK) {
        char why[sizeof sdl_last_error()->reason];
        memcpy(why, sdl_last_error()->reason, sizeof why);
        st = sdl_fail(SDL_ERR_NOT_FOUND, w.path, "create it with one option per line, or fix the name in the prompt",
                      "wildcard __%s__ (used in %s): %s", name, source ? source : "the prompt", why);
    } else {
        st = wildcard_parse_file(&w, text, len);
    }
    free(text);
    if (st == SDL_OK && dp->n_wc == dp->cap_wc) {
        size_t nc = dp->cap_wc ? dp->cap_wc * 2 : 8;
        Wildcard **nw = realloc(dp->wc, nc * sizeof *nw);
        if (!nw) st = sdl_fail(SDL_ERR_OOM, source, NULL, "out of memory");
        else { dp->wc = nw; dp->cap_wc = nc; }
    }
    Wildcard *heap = st == SDL_OK ? malloc(sizeof *heap) : NULL;
    if (st == SDL_OK && !heap) st = sdl_fail(SDL_ERR_OOM, source, NULL, "out of memory");
    if (st != SDL_OK) { wildcard_free(&w); return st; }
    *heap = w;
    dp->wc[dp->n_wc++] = heap;
    *out = heap;
    return SDL_OK;
}

// ---- expansion ----

// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and well mixed even for seeds 0, 1, 2...
typedef struct { uint64_t s; } DpRng;

static uint64_t dp_next(DpRng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double dp_uniform(DpRng *r) { return (double)(dp_next(r) >> 11) * 0x1.0p-53; }

typedef struct {
    DynPrompts *dp;
    DpRng rng;
    JsonBuf out;
    const char *source;
    const char *chain[DYNPROMPT_MAX_DEPTH + 1]; // wildcard names being expanded
    bool check_only;                           // walk every option, choose nothing
} Expander;

static SdlStatus expand_seq(Expander *x, const DpSeq *s, int depth);

// Index of a weighted choice among options not yet taken.
static size_t pick(DpRng *r, const double *w, const bool *taken, size_t n) {
    double total = 0;
    for (size_t i = 0; i < n; i++)
        if (!taken || !taken[i]) total += w[i];
    double u = dp_uniform(r) * total, acc = 0;
    size_t last = n;
    for (size_t i = 0; i < n; i++) {
        if ((taken && taken[i]) || !(w[i] > 0)) continue;
        acc += w[i];
        last = i;
        if (u < acc) return i;
    }
    return last; // rounding at the top end
}

static SdlStatus expand_wildcard(Expander *x, const DpNode *n, int depth) {
    if (depth >= DYNPROMPT_MAX_DEPTH) {
        char chain[512] = "";
        for (int i = 0; i < depth && strlen(chain) < 400; i++)
            snprintf(chain + strlen(chain), sizeof chain - strlen(chain), "__%s__ > ", x->chain[i]);
        return sdl_fail(SDL_ERR_FORMAT, x->source, "does a wildcard file use itself?",
                        "wildcards nested deeper than %d: %s__%s__", DYNPROMPT_MAX_DEPTH, chain, n->text);
    }
    Wildcard *w;
    SDL_TRY(wildcard_get(x->dp, n->text, x->source, &w));
    x->chain[depth] = w->name;
    if (x->check_only) {
        if (w->checked || w->checking) return SDL_OK; // each file once; cycles are fine if they can end
        w->checking = true;
        SdlStatus st = SDL_OK;
        for (size_t i = 0; i < w->n_lines && st == SDL_OK; i++) st = expand_seq(x, &w->lines[i], depth + 1);
        w->checking = false;
        w->checked = st == SDL_OK;
        return st;
    }
    size_t i = (size_t)(dp_uniform(&x->rng) * (double)w->n_lines);
    if (i >= w->n_lines) i = w->n_lines - 1;
    return expand_seq(x, &w->lines[i], depth + 1);
}

static SdlStatus expand_variant(Expander *x, const DpNode *n, int depth) {
    if (x->check_only) {
        for (size_t i = 0; i < n->n_opts; i++) SDL_TRY(expand_seq(x, &n->opts[i], depth));
        return SDL_OK;
    }
    if (!n->counted) return expand_seq(x, &n->opts[pick(&x->rng, n->weights, NULL, n->n_opts)], depth);
    int64_t avail = 0;
    for (size_t i = 0; i < n->n_opts; i++) avail += n->weights[i] > 0;
    int64_t hi = n->cmax < avail ? n->cmax : avail, lo = n->cmin < hi ? n->cmin : hi;
    int64_t k = lo + (int64_t)(dp_uniform(&x->rng) * (double)(hi - lo + 1));
    if (k > hi) k = hi;
    bool *taken = calloc(n->n_opts, sizeof *taken);
    if (!taken) return sdl_fail(SDL_ERR_OOM, x->source, NULL, "out of memory");
    SdlStatus st = SDL_OK;
    for (int64_t j = 0; j < k && st == SDL_OK; j++) {
        size_t i = pick(&x->rng, n->weights, taken, n->n_opts);
        taken[i] = true;
        if (j > 0) json_buf_puts(&x->out, n->sep);
        st = expand_seq(x, &n->opts[i], depth);
    }
    free(taken);
    return st;
}

static SdlStatus expand_seq(Expander *x, const DpSeq *s, int depth) {
    for (size_t i = 0; i < s->n; i++) {
        const DpNode *n = &s->v[i];
        switch (n->kind) {
        case DP_TEXT: if (!x->check_only) json_buf_append(&x->out, n->text, n->len); break;
        case DP_VARIANT: SDL_TRY(expand_variant(x, n, depth)); break;
        case DP_WILDCARD: SDL_TRY(expand_wildcard(x, n, depth)); break;
        }
    }
    return SDL_OK;
}

static SdlStatus run(DynPrompts *dp, const char *text, uint64_t seed, const char *source, bool check_only, char **out) {
    DpSeq seq;
    SDL_TRY(parse_text(text, strlen(text), source, 0, &seq));
    Expander x = {.dp = dp, .rng = {seed}, .source = source, .check_only = check_only};
    json_buf_init(&x.out);
    SdlStatus st = expand_seq(&x, &seq, 0);
    seq_free(&seq);
    if (st == SDL_OK && x.out.oom) st = sdl_fail(SDL_ERR_OOM, source, NULL, "out of memory expanding a prompt");
    if (st == SDL_OK && out) {
        *out = x.out.data ? x.out.data : strdup("");
        x.out.data = NULL;
        if (!*out) st = sdl_fail(SDL_ERR_OOM, source, NULL, "out of memory");
    }
    json_buf_free(&x.out);
    return st;
}

SdlStatus dynprompt_check(DynPrompts *dp, const char *text, const char *source) {
    return run(dp, text, 0, source, true, NULL);
}

SdlStatus dynprompt_expand(DynPrompts *dp, const char *text, uint64_t seed, const char *source, char **out) {
    *out = NULL;
    return run(dp, text, seed, source, false, out);
}

bool dynprompt_has_syntax(const char *text) {
    Parser p = {.s = text, .len = strlen(text)};
    for (size_t i = 0; i < p.len; i++)
        if (text[i] == '{' || text[i] == '}' || (text[i] == '\\' && text[i + 1] && strchr("{}|_", text[i + 1])) || wildcard_at(&p, i))
            return true;
    return false;
}

uint64_t dynprompt_choice_seed(const DynPromptSeeding *s, uint64_t image_seed, int64_t image_index) {
    if (!s || !s->unlinked) return image_seed;
    return s->prompt_seed + (uint64_t)image_index;
}
