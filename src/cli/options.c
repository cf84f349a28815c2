// options.c — see options.h. One core (find, convert, check, store, note) serves the command
// line and config files alike, so a value is checked the same way wherever it comes from.
#include "cli/options.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------
// Names

static char norm_char(char c) { return c == '-' ? '_' : c; }

static bool name_eq(const char *a, const char *b, size_t blen) {
    size_t i = 0;
    for (; a[i] && i < blen; i++)
        if (norm_char(a[i]) != norm_char(b[i])) return false;
    return a[i] == 0 && i == blen;
}

static bool name_has_prefix(const char *a, const char *b, size_t blen) {
    for (size_t i = 0; i < blen; i++)
        if (!a[i] || norm_char(a[i]) != norm_char(b[i])) return false;
    return true;
}

int opts_find(const OptTable *t, const char *name, size_t len) {
    for (int s = 0; s < t->n; s++)
        if (name_eq(t->specs[s].name, name, len) || (t->specs[s].alias && name_eq(t->specs[s].alias, name, len)))
            return s;
    return -1;
}

// Optimal string alignment distance ('-' = '_'), capped: names are short.
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb) {
    enum { MAXL = 64 };
    if (la >= MAXL || lb >= MAXL) return MAXL;
    size_t d[MAXL + 1][MAXL + 1];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = norm_char(a[i - 1]) != norm_char(b[j - 1]);
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && norm_char(a[i - 1]) == norm_char(b[j - 2]) && norm_char(a[i - 2]) == norm_char(b[j - 1]) &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1; // transposition
            d[i][j] = v;
        }
    return d[la][lb];
}

const char *opts_suggest(const OptTable *t, const char *name, size_t len) {
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (int s = 0; s < t->n; s++) {
        const char *cand[2] = {t->specs[s].name, t->specs[s].alias};
        for (int c = 0; c < 2; c++) {
            if (!cand[c]) continue;
            size_t d = edit_distance(cand[c], strlen(cand[c]), name, len);
            if (d < best_d) best_d = d, best = t->specs[s].name;
        }
    }
    // close enough to be a typo: at most 2 edits, or a quarter of the name for long names
    size_t limit = len / 4 > 2 ? len / 4 : 2;
    return best && best_d <= limit ? best : NULL;
}

// ---------------------------------------------------------------------------------------
// Errors

// Records an error about option s. In a file the location is "file:line" and the name is
// written as in the file; on the command line it is "cmd: --name".
static SdlStatus fail_opt(const OptTable *t, const OptSpec *s, const char *file, int line, SdlStatus st, const char *hint,
                          const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static SdlStatus fail_opt(const OptTable *t, const OptSpec *s, const char *file, int line, SdlStatus st, const char *hint,
                          const char *fmt, ...) {
    char what[1024], where[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (file) {
        if (line > 0) snprintf(where, sizeof where, "%s:%d", file, line);
        else snprintf(where, sizeof where, "%s", file);
        return sdl_fail(st, where, hint, "%s: %s", s->name, what);
    }
    if (t->cmd) return sdl_fail(st, NULL, hint, "%s: --%s: %s", t->cmd, s->name, what);
    return sdl_fail(st, NULL, hint, "--%s: %s", s->name, what);
}

static bool in_choices(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

// ---------------------------------------------------------------------------------------
// Storing values

size_t opts_list_len(char *const *list) {
    size_t n = 0;
    while (list && list[n]) n++;
    return n;
}

void opts_free_list(char **list) {
    for (size_t i = 0; list && list[i]; i++) free(list[i]);
    free(list);
}

static SdlStatus oom(void) { return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory while reading options"); }

static SdlStatus store_string(const OptTable *t, const OptSpec *s, const char *v) {
    if (!t->owned) {
        *(const char **)s->dst = v;
        return SDL_OK;
    }
    char *copy = strdup(v);
    if (!copy) return oom();
    free(*(char **)s->dst);
    *(char **)s->dst = copy;
    return SDL_OK;
}

// Shortest "%.*g" text that reads back to x (a readable, lossless number as text).
static void num_text(char *buf, size_t cap, double x) {
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, x);
        if (strtod(buf, NULL) == x) return;
    }
}

static void note_ignored(const OptTable *t, const OptSpec *s) {
    if (!t->notes) return;
    char line[512];
    snprintf(line, sizeof line, "--%s: %s", s->name, s->ignored);
    size_t n = opts_list_len(*t->notes);
    for (size_t i = 0; i < n; i++)
        if (strcmp((*t->notes)[i], line) == 0) return;
    char **grown = realloc(*t->notes, (n + 2) * sizeof *grown);
    if (!grown) return; // a lost note is not worth failing the run
    *t->notes = grown;
    grown[n] = strdup(line);
    grown[n + 1] = NULL;
}

// After a value is stored: given flags, ignored notes, unsupported features. `active` says
// whether the value turns the option on (a flag set true, a non-empty text or list, a number).
static SdlStatus after_store(const OptTable *t, int idx, bool active, bool from_int, const char *file, int line) {
    const OptSpec *s = &t->specs[idx];
    if (t->given) t->given[idx] = (unsigned char)(OPT_GIVEN | (from_int ? OPT_GIVEN_INT : 0) | (file ? OPT_GIVEN_FILE : 0));
    if (!active) return SDL_OK;
    if (s->unsupported)
        return fail_opt(t, s, file, line, SDL_ERR_UNSUPPORTED, file ? "remove it from the config file" : "leave the option out",
                        "not supported by sdlora: %s", s->unsupported);
    if (s->ignored) note_ignored(t, s);
    return SDL_OK;
}

// Converts and checks one textual value (command line, or a file value turned into text) and
// stores it. For OPT_FLAG the text is "true" or "false".
static SdlStatus set_from_text(const OptTable *t, int idx, const char *v, bool from_int, const char *file, int line) {
    const OptSpec *s = &t->specs[idx];
    char hint[256];
    if (s->choices && s->type != OPT_FLAG && !in_choices(s->choices, v)) {
        snprintf(hint, sizeof hint, "use one of %s", s->choices);
        return fail_opt(t, s, file, line, SDL_ERR_ARG, hint, "invalid value '%s'", v);
    }
    char *end;
    errno = 0;
    switch (s->type) {
    case OPT_STRING:
        SDL_TRY(store_string(t, s, v));
        return after_store(t, idx, *v != 0, from_int, file, line);
    case OPT_INT:
    case OPT_INT64: {
        long long x = strtoll(v, &end, 10);
        if (*v == 0 || *end || errno) return fail_opt(t, s, file, line, SDL_ERR_ARG, "give a whole number", "not an integer: '%s'", v);
        if (s->min < s->max && (x < s->min || x > s->max)) {
            snprintf(hint, sizeof hint, "use a value from %g to %g", s->min, s->max);
            return fail_opt(t, s, file, line, SDL_ERR_ARG, hint, "out of range: '%s'", v);
        }
        if (s->type == OPT_INT) {
            if (x < -2147483647LL - 1 || x > 2147483647LL)
                return fail_opt(t, s, file, line, SDL_ERR_ARG, "give a smaller number", "out of range: '%s'", v);
            *(int *)s->dst = (int)x;
        } else {
            *(int64_t *)s->dst = (int64_t)x;
        }
        return after_store(t, idx, true, from_int, file, line);
    }
    case OPT_FLOAT:
    case OPT_DOUBLE: {
        // strtod also reads hex floats and "infinity"; Python's float() reads neither as we want
        double x = strchr(v, 'x') || strchr(v, 'X') ? NAN : strtod(v, &end);
        if (*v == 0 || isnan(x) || *end || errno || !isfinite(x))
            return fail_opt(t, s, file, line, SDL_ERR_ARG, "give a number like 0.5 or 1e-4", "not a number: '%s'", v);
        if (s->min < s->max && (x < s->min || x > s->max)) {
            snprintf(hint, sizeof hint, "use a value from %g to %g", s->min, s->max);
            return fail_opt(t, s, file, line, SDL_ERR_ARG, hint, "out of range: '%s'", v);
        }
        if (s->type == OPT_FLOAT) *(float *)s->dst = (float)x;
        else *(double *)s->dst = x;
        return after_store(t, idx, true, from_int, file, line);
    }
    case OPT_FLAG: {
        bool on;
        if (strcmp(v, "true") == 0) on = true;
        else if (strcmp(v, "false") == 0) on = false;
        else return fail_opt(t, s, file, line, SDL_ERR_ARG, "write true or false", "not true or false: '%s'", v);
        *(bool *)s->dst = on;
        return after_store(t, idx, on, false, file, line);
    }
    case OPT_LIST: break;
    }
    return fail_opt(t, s, file, line, SDL_ERR_ARG, NULL, "internal error: a list given as one value");
}

// Stores a list (items are copied; a replaced list is freed). Items are not otherwise checked:
// lists hold key=value strings whose meaning the option's user checks.
static SdlStatus set_list(const OptTable *t, int idx, const char *const *items, size_t n, bool from_int, const char *file,
                          int line) {
    const OptSpec *s = &t->specs[idx];
    SDL_ASSERT(t->owned); // a list is always a fresh array: only owned tables can free it
    char **list = calloc(n + 1, sizeof *list);
    if (!list) return oom();
    for (size_t i = 0; i < n; i++)
        if (!(list[i] = strdup(items[i]))) {
            opts_free_list(list);
            return oom();
        }
    opts_free_list(*(char ***)s->dst);
    *(char ***)s->dst = list;
    return after_store(t, idx, n > 0, from_int, file, line);
}

SdlStatus opts_apply_text(const OptTable *t, int index, const char *text, const char *file, int line) {
    if (t->specs[index].type == OPT_LIST) {
        char **words = opts_split_words(text);
        if (!words) return sdl_last_error()->status;
        SdlStatus st = set_list(t, index, (const char *const *)words, opts_list_len(words), false, file, line);
        opts_free_list(words);
        return st;
    }
    return set_from_text(t, index, text, false, file, line);
}

// ---------------------------------------------------------------------------------------
// Config-file values

static const char *kind_name(OptValueKind k) {
    switch (k) {
    case OPTV_STRING: return "a string";
    case OPTV_INT: return "an integer";
    case OPTV_FLOAT: return "a float";
    case OPTV_BOOL: return "a boolean";
    case OPTV_LIST: return "an array";
    }
    return "a value";
}

// Text of a scalar (numbers shortest-exact; booleans as Python prints them). false if it is
// not a scalar.
static bool scalar_text(const OptValue *v, char *buf, size_t cap, const char **out) {
    switch (v->kind) {
    case OPTV_STRING: *out = v->s; return true;
    case OPTV_INT: snprintf(buf, cap, "%lld", (long long)v->i); *out = buf; return true;
    case OPTV_FLOAT: num_text(buf, cap, v->f); *out = buf; return true;
    case OPTV_BOOL: *out = v->b ? "True" : "False"; return true;
    case OPTV_LIST: break;
    }
    return false;
}

SdlStatus opts_apply_value(const OptTable *t, const char *name, const OptValue *v, const char *file, int line) {
    int idx = opts_find(t, name, strlen(name));
    if (idx < 0) {
        char where[1024], hint[512];
        if (line > 0) snprintf(where, sizeof where, "%s:%d", file, line);
        else snprintf(where, sizeof where, "%s", file ? file : "");
        const char *near = opts_suggest(t, name, strlen(name));
        if (near) snprintf(hint, sizeof hint, "did you mean '%s'? (config keys are the option names of `sdlora %s --help`)", near,
                           t->cmd ? t->cmd : "");
        else snprintf(hint, sizeof hint, "config keys are the option names of `sdlora %s --help`", t->cmd ? t->cmd : "");
        return sdl_fail(SDL_ERR_ARG, where, hint, "unknown option '%s'", name);
    }
    const OptSpec *s = &t->specs[idx];
    char buf[64];
    const char *text;
    switch (s->type) {
    case OPT_FLAG:
        if (v->kind != OPTV_BOOL)
            return fail_opt(t, s, file, line, SDL_ERR_ARG, "write true or false", "expects true or false, got %s", kind_name(v->kind));
        return set_from_text(t, idx, v->b ? "true" : "false", false, file, line);
    case OPT_INT:
    case OPT_INT64:
        if (v->kind != OPTV_INT)
            return fail_opt(t, s, file, line, SDL_ERR_ARG, "write a whole number without quotes", "expects an integer, got %s",
                            kind_name(v->kind));
        scalar_text(v, buf, sizeof buf, &text);
        return set_from_text(t, idx, text, true, file, line);
    case OPT_FLOAT:
    case OPT_DOUBLE:
        if (v->kind != OPTV_INT && v->kind != OPTV_FLOAT)
            return fail_opt(t, s, file, line, SDL_ERR_ARG, "write a number without quotes", "expects a number, got %s", kind_name(v->kind));
        scalar_text(v, buf, sizeof buf, &text);
        return set_from_text(t, idx, text, v->kind == OPTV_INT, file, line);
    case OPT_STRING:
        if (v->kind == OPTV_BOOL)
            return fail_opt(t, s, file, line, SDL_ERR_ARG, "write the value as a string", "expects a string, got a boolean");
        if (v->kind == OPTV_LIST) { // resolution = [512, 768] → "512,768"
            size_t cap = 1, used = 0;
            for (size_t i = 0; i < v->n_items; i++) cap += 64 + (v->items[i].kind == OPTV_STRING ? strlen(v->items[i].s) : 0);
            char *joined = malloc(cap);
            if (!joined) return oom();
            joined[0] = 0;
            for (size_t i = 0; i < v->n_items; i++) {
                if (!scalar_text(&v->items[i], buf, sizeof buf, &text)) {
                    free(joined);
                    return fail_opt(t, s, file, line, SDL_ERR_ARG, NULL, "expects a string, got nested arrays");
                }
                used += (size_t)snprintf(joined + used, cap - used, "%s%s", i ? "," : "", text);
            }
            SdlStatus st = set_from_text(t, idx, joined, false, file, line);
            free(joined);
            return st;
        }
        scalar_text(v, buf, sizeof buf, &text);
        return set_from_text(t, idx, text, v->kind == OPTV_INT, file, line);
    case OPT_LIST: {
        if (v->kind == OPTV_STRING) return opts_apply_text(t, idx, v->s, file, line);
        if (v->kind != OPTV_LIST) {
            scalar_text(v, buf, sizeof buf, &text);
            return set_list(t, idx, &text, 1, v->kind == OPTV_INT, file, line);
        }
        char **texts = calloc(v->n_items + 1, sizeof *texts);
        if (!texts) return oom();
        SdlStatus st = SDL_OK;
        for (size_t i = 0; i < v->n_items && st == SDL_OK; i++) {
            if (!scalar_text(&v->items[i], buf, sizeof buf, &text))
                st = fail_opt(t, s, file, line, SDL_ERR_ARG, "write a flat array of strings", "expects an array of values, got nested arrays");
            else if (!(texts[i] = strdup(text)))
                st = oom();
        }
        if (st == SDL_OK)
            st = set_list(t, idx, (const char *const *)texts, v->n_items, v->n_items > 0 && v->items[0].kind == OPTV_INT, file, line);
        opts_free_list(texts);
        return st;
    }
    }
    return SDL_OK;
}

// ---------------------------------------------------------------------------------------
// Command line

int opts_lookup(const OptTable *t, const char *name, size_t len) {
    int k = opts_find(t, name, len);
    if (k >= 0 || !t->allow_abbrev || len < 3) return k;
    int found = -1, count = 0;
    for (int s = 0; s < t->n; s++)
        if (name_has_prefix(t->specs[s].name, name, len) || (t->specs[s].alias && name_has_prefix(t->specs[s].alias, name, len)))
            found = s, count++;
    return count == 1 ? found : count > 1 ? -2 : -1;
}

// The option named by an argument (opts_lookup), or an error naming it.
static SdlStatus find_cli(const OptTable *t, const char *name, size_t len, int *out) {
    *out = opts_lookup(t, name, len);
    if (*out >= 0) return SDL_OK;
    const char *cmd = t->cmd ? t->cmd : "";
    if (*out == -2) {
        int count = 0;
        char list[512] = "";
        for (int s = 0; s < t->n; s++)
            if (name_has_prefix(t->specs[s].name, name, len) || (t->specs[s].alias && name_has_prefix(t->specs[s].alias, name, len))) {
                if (count++ < 6) {
                    size_t l = strlen(list);
                    snprintf(list + l, sizeof list - l, "%s--%s", l ? ", " : "", t->specs[s].name);
                }
            }
        return sdl_fail(SDL_ERR_ARG, NULL, "write the option name in full", "%s: ambiguous option '--%.*s' could be %s%s", cmd,
                        (int)len, name, list, count > 6 ? ", …" : "");
    }
    char hint[512];
    const char *near = opts_suggest(t, name, len);
    if (near) snprintf(hint, sizeof hint, "did you mean --%s? (see `sdlora %s --help`)", near, cmd);
    else snprintf(hint, sizeof hint, "see `sdlora %s --help` for the options", cmd);
    return sdl_fail(SDL_ERR_ARG, NULL, hint, "%s: unknown option '--%.*s'", cmd, (int)len, name);
}

static bool is_option_word(const char *a) { return strncmp(a, "--", 2) == 0 || strcmp(a, "-h") == 0; }

static SdlStatus parse_args(const OptTable *t, int argc, char **argv, bool *help, unsigned char *seen) {
    const char *cmd = t->cmd ? t->cmd : "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = true;
            return SDL_OK;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == 0) {
            char hint[256];
            snprintf(hint, sizeof hint, "options start with --; see `sdlora %s --help`", cmd);
            return sdl_fail(SDL_ERR_ARG, NULL, hint, "%s: unexpected argument '%s'", cmd, a);
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int k;
        SDL_TRY(find_cli(t, name, nlen, &k));
        const OptSpec *s = &t->specs[k];
        seen[k] = 1;
        if (s->type == OPT_FLAG) {
            if (eq) return fail_opt(t, s, NULL, 0, SDL_ERR_ARG, "flags take no value", "unexpected value '%s'", eq + 1);
            SDL_TRY(set_from_text(t, k, "true", false, NULL, 0));
            continue;
        }
        if (s->type == OPT_LIST) {
            // nargs='*': everything up to the next option (just the one value in the --x=v form)
            const char *one = eq ? eq + 1 : NULL;
            int first = i + 1, n = 0;
            if (!eq)
                while (first + n < argc && !is_option_word(argv[first + n])) n++;
            SDL_TRY(set_list(t, k, eq ? &one : (const char *const *)argv + first, eq ? 1 : (size_t)n, false, NULL, 0));
            i += n;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) return fail_opt(t, s, NULL, 0, SDL_ERR_ARG, "give a value after the option", "missing value");
        SDL_TRY(set_from_text(t, k, v, false, NULL, 0));
    }
    return SDL_OK;
}

SdlStatus opts_parse_args(const OptTable *t, const char *usage, int argc, char **argv, bool *help) {
    *help = false;
    unsigned char *seen = calloc((size_t)t->n + 1, 1);
    if (!seen) return oom();
    SdlStatus st = parse_args(t, argc, argv, help, seen);
    if (st == SDL_OK && *help) opts_print_table_help(stdout, t, usage);
    for (int s = 0; s < t->n && st == SDL_OK && !*help; s++)
        if (t->specs[s].required && !seen[s] && !(t->given && t->given[s]))
            st = fail_opt(t, &t->specs[s], NULL, 0, SDL_ERR_ARG, "this option is required", "missing");
    free(seen);
    return st;
}

// ---------------------------------------------------------------------------------------
// Help

static const char *type_hint(const OptSpec *s) {
    switch (s->type) {
    case OPT_INT:
    case OPT_INT64: return s->choices ? s->choices : "N";
    case OPT_FLOAT:
    case OPT_DOUBLE: return "X";
    case OPT_STRING: return s->choices ? s->choices : "TEXT";
    case OPT_LIST: return "V [V ...]";
    case OPT_FLAG: break;
    }
    return "";
}

// Names of the options with (ignored) or without (unsupported) a reason, wrapped.
static void print_name_list(FILE *f, const OptTable *t, bool ignored) {
    size_t col = 2;
    fputs("  ", f);
    for (int i = 0; i < t->n; i++) {
        const OptSpec *s = &t->specs[i];
        if (ignored ? !s->ignored : !s->unsupported) continue;
        size_t w = strlen(s->name) + 4;
        if (col + w > 96) fputs("\n  ", f), col = 2;
        fprintf(f, "--%s  ", s->name);
        col += w;
    }
    fputc('\n', f);
}

void opts_print_table_help(FILE *f, const OptTable *t, const char *usage) {
    fprintf(f, "usage: %s\n", usage);
    bool any_group = false, any_ignored = false, any_unsupported = false;
    for (int i = 0; i < t->n; i++) {
        const OptSpec *s = &t->specs[i];
        if (s->ignored) { any_ignored = true; continue; }
        if (s->unsupported) { any_unsupported = true; continue; }
        if (s->group) fprintf(f, "\n%s:\n", s->group), any_group = true;
        else if (!any_group && i == 0) fputs("\noptions:\n", f), any_group = true;
        char left[96];
        snprintf(left, sizeof left, "--%s %s", s->name, type_hint(s));
        if (s->alias) fprintf(f, "  --%s (same as --%s)\n", s->alias, s->name);
        fprintf(f, "  %-30s %s%s", left, s->help ? s->help : "", s->required ? " (required)" : "");
        if (s->defval) fprintf(f, " (default %s)", s->defval);
        fputc('\n', f);
    }
    fprintf(f, "  %-30s %s\n", "--help", "show this help");
    if (any_ignored) {
        fputs("\naccepted for compatibility with kohya, no effect in sdlora (see docs/training.md):\n", f);
        print_name_list(f, t, true);
    }
    if (any_unsupported) {
        fputs("\nkohya options sdlora does not support (an error if given; see docs/training.md):\n", f);
        print_name_list(f, t, false);
    }
}

void opts_print_help(FILE *f, const char *cmd, const char *usage, const OptSpec *specs, int n_specs) {
    OptTable t = {.cmd = cmd, .specs = specs, .n = n_specs};
    opts_print_table_help(f, &t, usage);
}

// ---------------------------------------------------------------------------------------
// The simple door

OptsResult opts_parse(const char *cmd, const char *usage, const OptSpec *specs, int n_specs, int argc, char **argv) {
    OptTable t = {.cmd = cmd, .specs = specs, .n = n_specs};
    bool help = false;
    if (opts_parse_args(&t, usage, argc, argv, &help) != SDL_OK) {
        sdl_error_print(stderr);
        return OPTS_ERROR;
    }
    return help ? OPTS_HELP : OPTS_OK;
}

void opts_free_owned(const OptTable *t) {
    if (!t->owned) return;
    for (int i = 0; i < t->n; i++) {
        const OptSpec *s = &t->specs[i];
        if (s->type == OPT_STRING) {
            free(*(char **)s->dst);
            *(char **)s->dst = NULL;
        } else if (s->type == OPT_LIST) {
            opts_free_list(*(char ***)s->dst);
            *(char ***)s->dst = NULL;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Word splitting (kohya_ss GUI fields such as "weight_decay=0.1 betas=0.9,0.99")

char **opts_split_words(const char *text) {
    size_t cap = 8, n = 0, len = strlen(text);
    char **out = calloc(cap + 1, sizeof *out);
    char *word = malloc(len + 1);
    if (!out || !word) {
        free(out), free(word);
        oom();
        return NULL;
    }
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        size_t w = 0;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            if (*p == '\'' || *p == '"') {
                char q = *p++;
                while (*p && *p != q) {
                    if (q == '"' && *p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
                    word[w++] = *p++;
                }
                if (!*p) {
                    free(word);
                    opts_free_list(out);
                    sdl_fail(SDL_ERR_ARG, NULL, "close the quote", "unclosed %c quote in '%s'", q, text);
                    return NULL;
                }
                p++;
            } else if (*p == '\\' && p[1]) {
                word[w++] = p[1];
                p += 2;
            } else {
                word[w++] = *p++;
            }
        }
        word[w] = 0;
        if (n == cap) {
            char **grown = realloc(out, (cap * 2 + 1) * sizeof *grown);
            if (!grown) {
                free(word);
                opts_free_list(out);
                oom();
                return NULL;
            }
            out = grown;
            cap *= 2;
        }
        if (!(out[n] = strdup(word))) {
            free(word);
            opts_free_list(out);
            oom();
            return NULL;
        }
        out[++n] = NULL;
    }
    free(word);
    return out;
}
