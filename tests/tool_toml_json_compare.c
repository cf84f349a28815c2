// tool_toml_json_compare.c — test-only helper for tests/check_toml_test.sh: compares two
// toml-test "tagged JSON" documents semantically, the way toml-test's own runner does.
//
//     tool_toml_json_compare EXPECTED.json ACTUAL.json
//
// Exit 0 when they describe the same TOML document, 1 (differences listed on stderr) when
// not, 2 when a file is unreadable or not JSON. Tables must have the same keys, arrays the
// same length, scalars ({"type": T, "value": V}) the same type and the same value: strings
// byte for byte, integers and floats by value (nan equals nan; -0 differs from 0),
// booleans exactly, date-times by value (fraction digits, 't'/' '/'T' and 'z'/'Z' spelling
// do not matter; offset date-times compare as instants).
//
// A small JSON reader of its own, because TOML strings (and so the JSON) may contain U+0000,
// which a NUL-terminated JSON library cannot hold.
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 1000

typedef enum { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT } JKind;

typedef struct J J;
struct J {
    JKind kind;
    char *s;      // J_STRING: bytes (may hold NULs); J_NUMBER/J_BOOL: the literal text
    size_t len;
    J **items;    // J_ARRAY elements; J_OBJECT values
    char **keys;  // J_OBJECT keys
    size_t *key_lens;
    size_t n, cap;
};

typedef struct {
    const char *s;
    size_t len, pos;
    const char *name;
    bool failed;
} JReader;

static void j_free(J *v) {
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        j_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->key_lens);
    free(v->s);
    free(v);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("tool_toml_json_compare: out of memory\n", stderr);
        exit(2);
    }
    return q;
}

static J *j_err(JReader *r, const char *what) {
    if (!r->failed) fprintf(stderr, "%s: invalid JSON at byte %zu: %s\n", r->name, r->pos, what);
    r->failed = true;
    return NULL;
}

static void j_ws(JReader *r) {
    while (r->pos < r->len && strchr(" \t\r\n", r->s[r->pos]) && r->s[r->pos]) r->pos++;
}

static void put_byte(char **s, size_t *len, size_t *cap, char c) {
    if (*len + 2 > *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *s = xrealloc(*s, *cap);
    }
    (*s)[(*len)++] = c;
    (*s)[*len] = '\0';
}

static void put_utf8(char **s, size_t *len, size_t *cap, uint32_t cp) {
    if (cp < 0x80) put_byte(s, len, cap, (char)cp);
    else if (cp < 0x800) {
        put_byte(s, len, cap, (char)(0xC0 | (cp >> 6)));
        put_byte(s, len, cap, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        put_byte(s, len, cap, (char)(0xE0 | (cp >> 12)));
        put_byte(s, len, cap, (char)(0x80 | ((cp >> 6) & 0x3F)));
        put_byte(s, len, cap, (char)(0x80 | (cp & 0x3F)));
    } else {
        put_byte(s, len, cap, (char)(0xF0 | (cp >> 18)));
        put_byte(s, len, cap, (char)(0x80 | ((cp >> 12) & 0x3F)));
        put_byte(s, len, cap, (char)(0x80 | ((cp >> 6) & 0x3F)));
        put_byte(s, len, cap, (char)(0x80 | (cp & 0x3F)));
    }
}

static int hex4(JReader *r, size_t at) {
    if (at + 4 > r->len) return -1;
    int v = 0;
    for (size_t i = 0; i < 4; i++) {
        char c = r->s[at + i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

// A JSON string at r->pos (the opening quote) into *out / *out_len.
static bool j_string(JReader *r, char **out, size_t *out_len) {
    char *s = NULL;
    size_t len = 0, cap = 0;
    put_byte(&s, &len, &cap, 0);
    len = 0;
    r->pos++;
    for (;;) {
        if (r->pos >= r->len) {
            free(s);
            return j_err(r, "unterminated string"), false;
        }
        unsigned char c = (unsigned char)r->s[r->pos++];
        if (c == '"') break;
        if (c < 0x20) {
            free(s);
            return j_err(r, "control character in string"), false;
        }
        if (c != '\\') {
            put_byte(&s, &len, &cap, (char)c);
            continue;
        }
        if (r->pos >= r->len) {
            free(s);
            return j_err(r, "unterminated escape"), false;
        }
        char e = r->s[r->pos++];
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *hit = e ? strchr(from, e) : NULL;
        if (hit) {
            put_byte(&s, &len, &cap, to[hit - from]);
            continue;
        }
        if (e != 'u') {
            free(s);
            return j_err(r, "bad escape"), false;
        }
        int u = hex4(r, r->pos);
        if (u < 0) {
            free(s);
            return j_err(r, "bad \\u escape"), false;
        }
        r->pos += 4;
        uint32_t cp = (uint32_t)u;
        if (cp >= 0xD800 && cp <= 0xDBFF && r->pos + 6 <= r->len && r->s[r->pos] == '\\' && r->s[r->pos + 1] == 'u') {
            int lo = hex4(r, r->pos + 2);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                r->pos += 6;
            }
        }
        put_utf8(&s, &len, &cap, cp);
    }
    *out = s;
    *out_len = len;
    return true;
}

static J *j_value(JReader *r, int depth) {
    if (depth > MAX_DEPTH) return j_err(r, "nested too deeply");
    j_ws(r);
    if (r->pos >= r->len) return j_err(r, "unexpected end");
    J *v = xrealloc(NULL, sizeof *v);
    memset(v, 0, sizeof *v);
    char c = r->s[r->pos];
    if (c == '"') {
        v->kind = J_STRING;
        if (!j_string(r, &v->s, &v->len)) goto fail;
        return v;
    }
    if (c == '[' || c == '{') {
        bool obj = c == '{';
        v->kind = obj ? J_OBJECT : J_ARRAY;
        r->pos++;
        j_ws(r);
        if (r->pos < r->len && r->s[r->pos] == (obj ? '}' : ']')) {
            r->pos++;
            return v;
        }
        for (;;) {
            if (v->n == v->cap) {
                v->cap = v->cap ? 2 * v->cap : 4;
                v->items = xrealloc(v->items, v->cap * sizeof *v->items);
                if (obj) {
                    v->keys = xrealloc(v->keys, v->cap * sizeof *v->keys);
                    v->key_lens = xrealloc(v->key_lens, v->cap * sizeof *v->key_lens);
                }
            }
            if (obj) {
                j_ws(r);
                if (r->pos >= r->len || r->s[r->pos] != '"') {
                    j_err(r, "expected a key");
                    goto fail;
                }
                if (!j_string(r, &v->keys[v->n], &v->key_lens[v->n])) goto fail;
                j_ws(r);
                if (r->pos >= r->len || r->s[r->pos] != ':') {
                    free(v->keys[v->n]);
                    j_err(r, "expected ':'");
                    goto fail;
                }
                r->pos++;
            }
            J *item = j_value(r, depth + 1);
            if (!item) {
                if (obj) free(v->keys[v->n]);
                goto fail;
            }
            v->items[v->n++] = item;
            j_ws(r);
            if (r->pos < r->len && r->s[r->pos] == ',') {
                r->pos++;
                continue;
            }
            if (r->pos < r->len && r->s[r->pos] == (obj ? '}' : ']')) {
                r->pos++;
                return v;
            }
            j_err(r, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            goto fail;
        }
    }
    // Literals and numbers: kept as text (tagged JSON uses none of them).
    size_t start = r->pos;
    while (r->pos < r->len && strchr("+-.0123456789eEtruefalsn", r->s[r->pos]) && r->s[r->pos]) r->pos++;
    if (r->pos == start) {
        j_err(r, "unexpected character");
        goto fail;
    }
    v->kind = r->s[start] == 't' || r->s[start] == 'f' ? J_BOOL : r->s[start] == 'n' ? J_NULL : J_NUMBER;
    v->len = r->pos - start;
    v->s = xrealloc(NULL, v->len + 1);
    memcpy(v->s, r->s + start, v->len);
    v->s[v->len] = '\0';
    return v;
fail:
    j_free(v);
    return NULL;
}

static J *j_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (cap - len < 4096) buf = xrealloc(buf, cap = cap ? 2 * cap : 65536);
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    JReader r = {buf, len, 0, path, false};
    J *v = j_value(&r, 0);
    if (v) {
        j_ws(&r);
        if (r.pos != r.len) {
            j_err(&r, "trailing characters");
            j_free(v);
            v = NULL;
        }
    }
    free(buf);
    return v;
}

// ---------------------------------------------------------------- comparison

static int n_diffs;

static void diff(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void diff(const char *path, const char *fmt, ...) {
    if (n_diffs++ < 20) {
        fprintf(stderr, "  at %s: ", path[0] ? path : "(root)");
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
}

// The member `key` of a JSON object, or NULL.
static J *j_get(const J *o, const char *key) {
    for (size_t i = 0; i < o->n; i++)
        if (o->key_lens[i] == strlen(key) && memcmp(o->keys[i], key, o->key_lens[i]) == 0) return o->items[i];
    return NULL;
}

static bool is_tagged(const J *v) {
    if (v->kind != J_OBJECT || v->n != 2) return false;
    J *t = j_get(v, "type"), *x = j_get(v, "value");
    return t && x && t->kind == J_STRING && x->kind == J_STRING;
}

static bool parse_int(const char *s, int64_t *out) {
    if (!*s) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static bool parse_float(const char *s, double *out) {
    const char *w = (*s == '+' || *s == '-') ? s + 1 : s;
    if (strcmp(w, "nan") == 0) {
        *out = NAN;
        return true;
    }
    if (strcmp(w, "inf") == 0) {
        *out = *s == '-' ? -HUGE_VAL : HUGE_VAL;
        return true;
    }
    if (!*s) return false;
    char *end;
    *out = strtod(s, &end);
    return *end == '\0';
}

typedef struct {
    bool has_date, has_time, has_offset;
    int y, mo, d, h, mi, s;
    long ns;
    int offset_min;
} Dt;

static bool digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

// RFC 3339 date, time, date-time or date-time with offset; which parts must be present is
// decided by the type tag.
static bool parse_dt(const char *s, bool want_date, bool want_time, bool want_offset, Dt *dt) {
    memset(dt, 0, sizeof *dt);
    if (want_date) {
        if (!digits(s, 4, &dt->y) || s[4] != '-' || !digits(s + 5, 2, &dt->mo) || s[7] != '-' || !digits(s + 8, 2, &dt->d))
            return false;
        s += 10;
        if (want_time) {
            if (*s != 'T' && *s != 't' && *s != ' ') return false;
            s++;
        }
    }
    if (want_time) {
        if (!digits(s, 2, &dt->h) || s[2] != ':' || !digits(s + 3, 2, &dt->mi) || s[5] != ':' || !digits(s + 6, 2, &dt->s))
            return false;
        s += 8;
        if (*s == '.') {
            s++;
            int nd = 0;
            while (*s >= '0' && *s <= '9') {
                if (nd < 9) dt->ns = dt->ns * 10 + (*s - '0');
                nd++;
                s++;
            }
            if (nd == 0) return false;
            for (; nd < 9; nd++) dt->ns *= 10;
        }
    }
    if (want_offset) {
        if (*s == 'Z' || *s == 'z') s++;
        else if (*s == '+' || *s == '-') {
            int oh, om;
            if (!digits(s + 1, 2, &oh) || s[3] != ':' || !digits(s + 4, 2, &om)) return false;
            dt->offset_min = (*s == '-' ? -1 : 1) * (oh * 60 + om);
            s += 6;
        } else return false;
    }
    return *s == '\0';
}

static int64_t days_since_year1(int y, int m, int d) {
    static const int cum[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t py = y - 1;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int mi = m >= 1 && m <= 12 ? m - 1 : 0;
    return 365 * py + py / 4 - py / 100 + py / 400 + cum[mi] + (leap && m > 2) + d - 1;
}

static bool scalar_equal(const char *type, const char *a, const char *b, bool *type_known) {
    *type_known = true;
    if (strcmp(type, "string") == 0) return false; // compared byte-wise by the caller
    if (strcmp(type, "integer") == 0) {
        int64_t x, y;
        return parse_int(a, &x) && parse_int(b, &y) && x == y;
    }
    if (strcmp(type, "float") == 0) {
        double x, y;
        if (!parse_float(a, &x) || !parse_float(b, &y)) return false;
        if (isnan(x) || isnan(y)) return isnan(x) && isnan(y);
        return x == y && signbit(x) == signbit(y);
    }
    if (strcmp(type, "bool") == 0)
        return (strcmp(a, "true") == 0 || strcmp(a, "false") == 0) && strcmp(a, b) == 0;
    bool date = false, time = false, off = false;
    if (strcmp(type, "datetime") == 0) date = time = off = true;
    else if (strcmp(type, "datetime-local") == 0) date = time = true;
    else if (strcmp(type, "date-local") == 0) date = true;
    else if (strcmp(type, "time-local") == 0) time = true;
    else {
        *type_known = false;
        return false;
    }
    Dt x, y;
    if (!parse_dt(a, date, time, off, &x) || !parse_dt(b, date, time, off, &y)) return false;
    if (off) { // the same instant
        int64_t sx = (days_since_year1(x.y, x.mo, x.d) * 24 + x.h) * 3600 + x.mi * 60 + x.s - x.offset_min * 60;
        int64_t sy = (days_since_year1(y.y, y.mo, y.d) * 24 + y.h) * 3600 + y.mi * 60 + y.s - y.offset_min * 60;
        return sx == sy && x.ns == y.ns;
    }
    return x.y == y.y && x.mo == y.mo && x.d == y.d && x.h == y.h && x.mi == y.mi && x.s == y.s && x.ns == y.ns;
}

static const char *shape(const J *v) {
    if (is_tagged(v)) return "a scalar";
    return v->kind == J_OBJECT ? "a table" : v->kind == J_ARRAY ? "an array" : "untagged JSON";
}

// Appends ".key" or "[i]" to a path (truncating very long paths).
static void path_push(char *out, size_t cap, const char *path, const char *key, size_t key_len, long index) {
    if (key) snprintf(out, cap, "%s%s%.*s", path, path[0] ? "." : "", (int)(key_len > 200 ? 200 : key_len), key);
    else snprintf(out, cap, "%s[%ld]", path, index);
}

static void compare(const J *want, const J *got, const char *path) {
    bool tw = is_tagged(want), tg = is_tagged(got);
    if (tw != tg || (!tw && want->kind != got->kind) || (!tw && want->kind != J_OBJECT && want->kind != J_ARRAY)) {
        diff(path, "expected %s, got %s", shape(want), shape(got));
        return;
    }
    char sub[1024];
    if (tw) {
        const J *wt = j_get(want, "type"), *gt = j_get(got, "type");
        const J *wv = j_get(want, "value"), *gv = j_get(got, "value");
        if (wt->len != gt->len || memcmp(wt->s, gt->s, wt->len) != 0) {
            diff(path, "expected type %s, got %s", wt->s, gt->s);
            return;
        }
        if (strcmp(wt->s, "string") == 0) {
            if (wv->len != gv->len || memcmp(wv->s, gv->s, wv->len) != 0)
                diff(path, "expected string \"%s\", got \"%s\"", wv->s, gv->s);
            return;
        }
        bool known;
        if (!scalar_equal(wt->s, wv->s, gv->s, &known)) {
            if (!known) diff(path, "unknown type %s", wt->s);
            else diff(path, "expected value %s, got %s", wv->s, gv->s);
        }
        return;
    }
    if (want->kind == J_ARRAY) {
        if (want->n != got->n) {
            diff(path, "expected %zu array elements, got %zu", want->n, got->n);
            return;
        }
        for (size_t i = 0; i < want->n; i++) {
            path_push(sub, sizeof sub, path, NULL, 0, (long)i);
            compare(want->items[i], got->items[i], sub);
        }
        return;
    }
    // Tables: every expected key present with an equal value, and no others, none twice.
    for (size_t i = 0; i < got->n; i++)
        for (size_t j = 0; j < i; j++)
            if (got->key_lens[i] == got->key_lens[j] && memcmp(got->keys[i], got->keys[j], got->key_lens[i]) == 0) {
                path_push(sub, sizeof sub, path, got->keys[i], got->key_lens[i], 0);
                diff(sub, "key appears twice in the output");
            }
    for (size_t i = 0; i < want->n; i++) {
        path_push(sub, sizeof sub, path, want->keys[i], want->key_lens[i], 0);
        const J *g = NULL;
        for (size_t j = 0; j < got->n && !g; j++)
            if (got->key_lens[j] == want->key_lens[i] && memcmp(got->keys[j], want->keys[i], want->key_lens[i]) == 0)
                g = got->items[j];
        if (!g) diff(sub, "key missing from the output");
        else compare(want->items[i], g, sub);
    }
    for (size_t j = 0; j < got->n; j++) {
        bool found = false;
        for (size_t i = 0; i < want->n && !found; i++)
            found = got->key_lens[j] == want->key_lens[i] && memcmp(got->keys[j], want->keys[i], want->key_lens[i]) == 0;
        if (!found) {
            path_push(sub, sizeof sub, path, got->keys[j], got->key_lens[j], 0);
            diff(sub, "unexpected key in the output");
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: tool_toml_json_compare EXPECTED.json ACTUAL.json\n");
        return 2;
    }
    J *want = j_read_file(argv[1]);
    J *got = want ? j_read_file(argv[2]) : NULL;
    if (!want || !got) {
        j_free(want);
        return 2;
    }
    compare(want, got, "");
    j_free(want);
    j_free(got);
    if (n_diffs > 20) fprintf(stderr, "  ... %d differences in all\n", n_diffs);
    return n_diffs ? 1 : 0;
}
