// options.c — see options.h.
#include "cli/options.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool name_eq(const char *a, const char *b, size_t blen) {
    size_t i = 0;
    for (; a[i] && i < blen; i++) {
        char x = a[i] == '_' ? '-' : a[i], y = b[i] == '_' ? '-' : b[i];
        if (x != y) return false;
    }
    return a[i] == 0 && i == blen;
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

static const char *type_hint(const OptSpec *s) {
    switch (s->type) {
    case OPT_INT: return s->choices ? s->choices : "N";
    case OPT_FLOAT: return "X";
    case OPT_STRING: return s->choices ? s->choices : "TEXT";
    default: return "";
    }
}

void opts_print_help(FILE *f, const char *cmd, const char *usage, const OptSpec *specs, int n_specs) {
    fprintf(f, "usage: %s\n\noptions:\n", usage);
    for (int i = 0; i < n_specs; i++) {
        char left[96];
        snprintf(left, sizeof left, "--%s %s", specs[i].name, type_hint(&specs[i]));
        if (specs[i].alias) fprintf(f, "  --%s (same as --%s)\n", specs[i].alias, specs[i].name);
        fprintf(f, "  %-30s %s%s\n", left, specs[i].help, specs[i].required ? " (required)" : "");
    }
    fprintf(f, "  %-30s %s\n", "--help", "show this help");
    (void)cmd;
}

static OptsResult bad(const char *cmd, const char *name, const char *hint, const char *what, const char *value) {
    fprintf(stderr, "error: %s: --%s: %s%s%s%s\n  hint: %s\n", cmd, name, what, value ? " '" : "", value ? value : "",
            value ? "'" : "", hint);
    return OPTS_ERROR;
}

static OptsResult set_value(const char *cmd, const OptSpec *s, const char *v) {
    char hint[160];
    if (s->choices && !in_choices(s->choices, v)) {
        snprintf(hint, sizeof hint, "use one of %s", s->choices);
        return bad(cmd, s->name, hint, "invalid value", v);
    }
    char *end;
    errno = 0;
    switch (s->type) {
    case OPT_STRING: *(const char **)s->dst = v; return OPTS_OK;
    case OPT_INT: {
        long long x = strtoll(v, &end, 10);
        if (*v == 0 || *end || errno) return bad(cmd, s->name, "give a whole number", "not an integer:", v);
        if (s->min < s->max && (x < s->min || x > s->max)) {
            snprintf(hint, sizeof hint, "use a value from %g to %g", s->min, s->max);
            return bad(cmd, s->name, hint, "out of range:", v);
        }
        *(int *)s->dst = (int)x;
        return OPTS_OK;
    }
    case OPT_FLOAT: {
        double x = strtod(v, &end);
        if (*v == 0 || *end || errno || !isfinite(x)) return bad(cmd, s->name, "give a number like 0.5", "not a number:", v);
        if (s->min < s->max && (x < s->min || x > s->max)) {
            snprintf(hint, sizeof hint, "use a value from %g to %g", s->min, s->max);
            return bad(cmd, s->name, hint, "out of range:", v);
        }
        *(float *)s->dst = (float)x;
        return OPTS_OK;
    }
    case OPT_FLAG: break;
    }
    return OPTS_ERROR;
}

OptsResult opts_parse(const char *cmd, const char *usage, const OptSpec *specs, int n_specs, int argc, char **argv) {
    bool *seen = calloc((size_t)n_specs + 1, sizeof *seen);
    OptsResult r = OPTS_OK;
    for (int i = 1; i < argc && r == OPTS_OK; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            opts_print_help(stdout, cmd, usage, specs, n_specs);
            r = OPTS_HELP;
            break;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "error: %s: unexpected argument '%s'\n  hint: options start with --; see `sdlora %s --help`\n", cmd, a, cmd);
            r = OPTS_ERROR;
            break;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int k = -1;
        for (int s = 0; s < n_specs; s++)
            if (name_eq(specs[s].name, name, nlen) || (specs[s].alias && name_eq(specs[s].alias, name, nlen))) { k = s; break; }
        if (k < 0) {
            fprintf(stderr, "error: %s: unknown option '--%.*s'\n  hint: see `sdlora %s --help` for the options\n", cmd, (int)nlen, name, cmd);
            r = OPTS_ERROR;
            break;
        }
        const OptSpec *s = &specs[k];
        seen[k] = true;
        if (s->type == OPT_FLAG) {
            if (eq) { r = bad(cmd, s->name, "flags take no value", "unexpected value", eq + 1); break; }
            *(bool *)s->dst = true;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) { r = bad(cmd, s->name, "give a value after the option", "missing value", NULL); break; }
        r = set_value(cmd, s, v);
    }
    for (int s = 0; s < n_specs && r == OPTS_OK; s++)
        if (specs[s].required && !seen[s]) r = bad(cmd, specs[s].name, "this option is required", "missing", NULL);
    free(seen);
    return r;
}
