// toml.c — TOML 1.0.0 parser: a single-pass recursive-descent reader over the raw bytes that
// builds the document tree directly (see toml.h). Written from the spec (toml.io/en/v1.0.0
// and its ABNF); conformance is checked against the toml-test suite by
// tests/check_toml_test.sh.
//
// Redefinition rules. Every table remembers how it came to exist (TableOrigin):
//   IMPLICIT  named as a prefix of a [header], e.g. `a` in [a.b]: a later [a] may define it once;
//   HEADER    defined by [header] or an element of [[array]]: never defined again;
//   DOTTED    made by dotted keys (a.b = 1) in one section (`scope`): only keys of that same
//             section (or inline table) may add to it, no [header] may define it, but headers
//             may still pass through it to define sub-tables ([a.b.c]), as the spec allows;
//   INLINE    an inline table, complete and immutable once its `}` is read.
// Dotted keys may also claim an IMPLICIT table (it becomes DOTTED for that section), so
// `[a.b.c]` then `[a]` `b.d = 1` is accepted, after which `[a.b]` is a redefinition.
// Arrays are either static (a value, immutable) or arrays of tables built by [[...]].
#include "io/toml.h"
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

// Deepest nesting of tables/arrays accepted; bounds every recursion (parse, free, print).
#define TOML_MAX_DEPTH 256
// Tables with more keys than this get a hash index (keeps adversarial inputs linear).
#define TOML_INDEX_MIN 8

typedef enum { ORIGIN_IMPLICIT, ORIGIN_HEADER, ORIGIN_DOTTED, ORIGIN_INLINE } TableOrigin;

typedef struct {
    char *key; // owned, NUL-terminated (may also contain NULs: key_len is the length)
    size_t key_len;
    TomlValue *value;
} TomlEntry;

struct TomlValue {
    TomlKind kind;
    int line;
    int depth;        // containers: nesting depth below the root table (root = 0)
    TableOrigin origin; // tables only
    bool array_of_tables; // arrays only: made by [[...]] (else a static array value)
    unsigned scope;   // DOTTED tables: the section or inline table whose keys made it
    union {
        struct {
            TomlEntry *items;
            size_t len, cap;
            size_t *slots;    // open-addressing index: entry position + 1, 0 = empty
            size_t slot_cap;  // power of two, or 0 while the table is small
        } table;
        struct {
            TomlValue **items;
            size_t len, cap;
        } array;
        struct {
            char *s;
            size_t len;
        } str;
        int64_t i;
        double f;
        bool b;
        struct {
            TomlDatetime dt;
            char *text;
        } dt;
    } u;
};

// ---------------------------------------------------------------- tree building

static void value_free(TomlValue *v) {
    if (!v) return;
    switch (v->kind) {
    case TOML_TABLE:
        for (size_t i = 0; i < v->u.table.len; i++) {
            free(v->u.table.items[i].key);
            value_free(v->u.table.items[i].value);
        }
        free(v->u.table.items);
        free(v->u.table.slots);
        break;
    case TOML_ARRAY:
        for (size_t i = 0; i < v->u.array.len; i++) value_free(v->u.array.items[i]);
        free(v->u.array.items);
        break;
    case TOML_STRING: free(v->u.str.s); break;
    case TOML_OFFSET_DATETIME:
    case TOML_LOCAL_DATETIME:
    case TOML_LOCAL_DATE:
    case TOML_LOCAL_TIME: free(v->u.dt.text); break;
    default: break;
    }
    free(v);
}

void toml_free(TomlValue *v) { value_free(v); }

static uint64_t key_hash(const char *k, size_t n) {
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    return h;
}

static TomlEntry *table_find(const TomlValue *t, const char *key, size_t n) {
    if (t->u.table.slot_cap) {
        size_t mask = t->u.table.slot_cap - 1;
        for (size_t s = (size_t)key_hash(key, n) & mask;; s = (s + 1) & mask) {
            size_t at = t->u.table.slots[s];
            if (!at) return NULL;
            TomlEntry *e = &t->u.table.items[at - 1];
            if (e->key_len == n && memcmp(e->key, key, n) == 0) return e;
        }
    }
    for (size_t i = 0; i < t->u.table.len; i++) {
        TomlEntry *e = &t->u.table.items[i];
        if (e->key_len == n && memcmp(e->key, key, n) == 0) return e;
    }
    return NULL;
}

static void slot_insert(TomlValue *t, size_t entry_index) {
    const TomlEntry *e = &t->u.table.items[entry_index];
    size_t mask = t->u.table.slot_cap - 1;
    size_t s = (size_t)key_hash(e->key, e->key_len) & mask;
    while (t->u.table.slots[s]) s = (s + 1) & mask;
    t->u.table.slots[s] = entry_index + 1;
}

// Adds key -> v (the caller has checked the key is new). Takes ownership of v only on success.
static bool table_add(TomlValue *t, const char *key, size_t n, TomlValue *v) {
    if (t->u.table.len == t->u.table.cap) {
        size_t cap = t->u.table.cap ? 2 * t->u.table.cap : 4;
        TomlEntry *items = realloc(t->u.table.items, cap * sizeof *items);
        if (!items) return false;
        t->u.table.items = items;
        t->u.table.cap = cap;
    }
    char *k = malloc(n + 1);
    if (!k) return false;
    memcpy(k, key, n);
    k[n] = '\0';
    size_t idx = t->u.table.len;
    t->u.table.items[idx] = (TomlEntry){k, n, v};
    t->u.table.len++;
    // Keep the index at most half full; build it once the table outgrows a linear scan.
    size_t want = t->u.table.slot_cap;
    if (t->u.table.len > TOML_INDEX_MIN && 2 * t->u.table.len > want) {
        want = want ? 2 * want : 32;
        while (2 * t->u.table.len > want) want *= 2;
    }
    if (want != t->u.table.slot_cap) {
        size_t *slots = calloc(want, sizeof *slots);
        if (!slots) { // leave the entry out again so the caller still owns v
            t->u.table.len--;
            free(k);
            return false;
        }
        free(t->u.table.slots);
        t->u.table.slots = slots;
        t->u.table.slot_cap = want;
        for (size_t i = 0; i < t->u.table.len; i++) slot_insert(t, i);
    } else if (t->u.table.slot_cap) {
        slot_insert(t, idx);
    }
    return true;
}

static bool array_push(TomlValue *a, TomlValue *v) {
    if (a->u.array.len == a->u.array.cap) {
        size_t cap = a->u.array.cap ? 2 * a->u.array.cap : 4;
        TomlValue **items = realloc(a->u.array.items, cap * sizeof *items);
        if (!items) return false;
        a->u.array.items = items;
        a->u.array.cap = cap;
    }
    a->u.array.items[a->u.array.len++] = v;
    return true;
}

// ---------------------------------------------------------------- parser state and errors

typedef struct {
    const char *s; // the whole input
    size_t len;
    size_t pos;
    const char *path;    // for error records ("" if none)
    size_t line_pos;     // cursor for line numbers: line_no is the line of byte line_pos
    int line_no;
    unsigned scope;      // the section (or inline table) whose key/values are being read
    unsigned scope_count;
} Parser;

static int line_at(Parser *p, size_t pos) {
    if (pos < p->line_pos) {
        p->line_pos = 0;
        p->line_no = 1;
    }
    while (p->line_pos < pos && p->line_pos < p->len) {
        const char *nl = memchr(p->s + p->line_pos, '\n', pos - p->line_pos);
        if (!nl) {
            p->line_pos = pos;
            break;
        }
        p->line_no++;
        p->line_pos = (size_t)(nl - p->s) + 1;
    }
    return p->line_no;
}

static SdlStatus fail_at(Parser *p, size_t pos, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static SdlStatus fail_at(Parser *p, size_t pos, const char *hint, const char *fmt, ...) {
    if (pos > p->len) pos = p->len;
    int line = line_at(p, pos);
    size_t start = pos;
    while (start > 0 && p->s[start - 1] != '\n') start--;
    int col = 1; // in characters: count the bytes that start a UTF-8 sequence
    for (size_t i = start; i < pos; i++) col += ((unsigned char)p->s[i] & 0xC0) != 0x80;
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return sdl_fail(SDL_ERR_FORMAT, p->path, hint ? hint : "see the TOML 1.0 specification at https://toml.io/en/v1.0.0",
                    "line %d, column %d: %s", line, col, reason);
}

static SdlStatus fail_oom(Parser *p) {
    return sdl_fail(SDL_ERR_OOM, p->path, NULL, "out of memory while parsing TOML");
}

static bool at_end(const Parser *p) { return p->pos >= p->len; }
static int peek_at(const Parser *p, size_t off) {
    return p->pos + off < p->len ? (unsigned char)p->s[p->pos + off] : -1;
}
static int peek(const Parser *p) { return peek_at(p, 0); }

static bool is_word_byte(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// "'x'", "'word'", "'é' (U+00E9)", "control character U+0007", "end of input" — for
// messages about an unexpected character.
static const char *describe_char(const Parser *p, size_t pos, char *buf, size_t cap) {
    if (pos >= p->len) return "end of input";
    const unsigned char *s = (const unsigned char *)p->s;
    unsigned char c = s[pos];
    if (c == '\n') return "end of line";
    if (c == '\r') return "a carriage return";
    if (c < 0x20 || c == 0x7f) snprintf(buf, cap, "control character U+%04X", c);
    else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) { // a whole unquoted word reads better
        size_t n = 1;
        while (n < 20 && pos + n < p->len && is_word_byte(s[pos + n])) n++;
        snprintf(buf, cap, "'%.*s'", (int)n, p->s + pos);
    } else if (c < 0x80) snprintf(buf, cap, "'%c'", c);
    else { // the (already validated) UTF-8 sequence and its code point, which may be invisible
        size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (pos + n > p->len) n = p->len - pos;
        uint32_t cp = c & (0xFF >> (n + 1));
        for (size_t i = 1; i < n; i++) cp = (cp << 6) | (s[pos + i] & 0x3F);
        snprintf(buf, cap, "'%.*s' (U+%04X)", (int)n, p->s + pos, (unsigned)cp);
    }
    return buf;
}

static SdlStatus fail_unexpected(Parser *p, const char *expected) {
    char b[48];
    return fail_at(p, p->pos, NULL, "expected %s, found %s", expected, describe_char(p, p->pos, b, sizeof b));
}

static TomlValue *new_value(Parser *p, TomlKind kind, size_t pos) {
    TomlValue *v = calloc(1, sizeof *v);
    if (v) {
        v->kind = kind;
        v->line = line_at(p, pos);
    }
    return v;
}

static SdlStatus new_container(Parser *p, TomlKind kind, int depth, size_t pos, TomlValue **out) {
    *out = NULL;
    if (depth > TOML_MAX_DEPTH)
        return fail_at(p, pos, "flatten the document", "tables and arrays nest deeper than %d levels", TOML_MAX_DEPTH);
    TomlValue *v = new_value(p, kind, pos);
    if (!v) return fail_oom(p);
    v->depth = depth;
    *out = v;
    return SDL_OK;
}

// ---------------------------------------------------------------- UTF-8 and small lexemes

// Checks that the whole input is UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF) so that everything after may copy non-ASCII bytes through unchecked.
static SdlStatus check_utf8(Parser *p) {
    const unsigned char *s = (const unsigned char *)p->s;
    size_t i = 0, n = p->len;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; min = 0x10000; }
        else return fail_at(p, i, "save the file as UTF-8", "invalid UTF-8 byte 0x%02X", c);
        if (n - i <= need) return fail_at(p, i, "save the file as UTF-8", "truncated UTF-8 sequence at end of input");
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return fail_at(p, i, "save the file as UTF-8", "invalid UTF-8 sequence (byte 0x%02X)", s[i + k]);
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min) return fail_at(p, i, "save the file as UTF-8", "overlong UTF-8 encoding");
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return fail_at(p, i, "save the file as UTF-8", "UTF-8 encodes a surrogate code point U+%04X", (unsigned)cp);
        if (cp > 0x10FFFF) return fail_at(p, i, "save the file as UTF-8", "code point above U+10FFFF");
        i += need + 1;
    }
    return SDL_OK;
}

static void skip_ws(Parser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')) p->pos++;
}

// True (and consumes it) at "\n" or "\r\n". A carriage return not followed by "\n" is an error.
static SdlStatus take_newline(Parser *p, bool *took) {
    *took = false;
    int c = peek(p);
    if (c == '\n') {
        p->pos++;
        *took = true;
    } else if (c == '\r') {
        if (peek_at(p, 1) != '\n')
            return fail_at(p, p->pos, "use \\n or \\r\\n line endings", "carriage return not followed by a line feed");
        p->pos += 2;
        *took = true;
    }
    return SDL_OK;
}

// A comment from '#' to the end of the line (the newline is left in place). Comments may hold
// tabs and any Unicode except other control characters.
static SdlStatus skip_comment(Parser *p) {
    p->pos++; // '#'
    while (p->pos < p->len) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '\n') break;
        if (c == '\r') {
            if (peek_at(p, 1) == '\n') break;
            return fail_at(p, p->pos, "use \\n or \\r\\n line endings", "carriage return not followed by a line feed in a comment");
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail_at(p, p->pos, "remove the character", "control character U+%04X in a comment", c);
        p->pos++;
    }
    return SDL_OK;
}

// Whitespace, newlines and comments (between array elements).
static SdlStatus skip_ws_comments_newlines(Parser *p) {
    for (;;) {
        skip_ws(p);
        int c = peek(p);
        if (c == '#') {
            SDL_TRY(skip_comment(p));
        } else if (c == '\n' || c == '\r') {
            bool took;
            SDL_TRY(take_newline(p, &took));
        } else {
            return SDL_OK;
        }
    }
}

// After a key/value pair or a header: optional whitespace and comment, then a newline or EOF.
static SdlStatus end_of_line(Parser *p, const char *after) {
    skip_ws(p);
    if (peek(p) == '#') SDL_TRY(skip_comment(p));
    if (at_end(p)) return SDL_OK;
    bool took;
    SDL_TRY(take_newline(p, &took));
    if (!took) {
        char b[48];
        return fail_at(p, p->pos, "put each key/value pair and each [table] header on its own line",
                       "expected a newline after %s, found %s", after, describe_char(p, p->pos, b, sizeof b));
    }
    return SDL_OK;
}

// ---------------------------------------------------------------- strings

typedef struct {
    char *d;
    size_t n, cap;
} Buf;

static bool buf_put(Buf *b, const char *src, size_t n) {
    if (n > SIZE_MAX - b->n - 1) return false;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < b->n + n + 1) cap = cap > SIZE_MAX / 2 ? SIZE_MAX : 2 * cap;
        char *d = realloc(b->d, cap);
        if (!d) return false;
        b->d = d;
        b->cap = cap;
    }
    memcpy(b->d + b->n, src, n);
    b->n += n;
    b->d[b->n] = '\0';
    return true;
}

static bool buf_putc(Buf *b, char c) { return buf_put(b, &c, 1); }

static int hex_value(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

// An escape sequence at p->pos (the backslash) in a basic string; appends its bytes.
static SdlStatus read_escape(Parser *p, Buf *b) {
    size_t at = p->pos;
    int c = peek_at(p, 1);
    const char *simple = NULL;
    switch (c) {
    case 'b': simple = "\b"; break;
    case 't': simple = "\t"; break;
    case 'n': simple = "\n"; break;
    case 'f': simple = "\f"; break;
    case 'r': simple = "\r"; break;
    case '"': simple = "\""; break;
    case '\\': simple = "\\"; break;
    default: break;
    }
    if (simple) {
        p->pos += 2;
        return buf_putc(b, simple[0]) ? SDL_OK : fail_oom(p);
    }
    if (c == 'u' || c == 'U') {
        size_t digits = c == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (size_t i = 0; i < digits; i++) {
            int h = hex_value(peek_at(p, 2 + i));
            if (h < 0)
                return fail_at(p, at, "write \\uXXXX with 4 or \\UXXXXXXXX with 8 hex digits",
                               "\\%c escape needs %zu hex digits", c, digits);
            cp = (cp << 4) | (uint32_t)h;
        }
        if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return fail_at(p, at, "escapes must name a Unicode scalar value (not a surrogate, at most U+10FFFF)",
                           "\\%c escape U+%04X is not a Unicode scalar value", c, (unsigned)cp);
        char u[4];
        p->pos += 2 + digits;
        return buf_put(b, u, utf8_encode(cp, u)) ? SDL_OK : fail_oom(p);
    }
    char d[48];
    return fail_at(p, at, "valid escapes: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX; use a 'literal string' for backslashes",
                   "invalid escape sequence: backslash followed by %s", describe_char(p, p->pos + 1, d, sizeof d));
}

// Control characters other than tab may not appear raw inside strings.
static bool is_string_control(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

static SdlStatus fail_string_control(Parser *p, unsigned char c) {
    return fail_at(p, p->pos, "write control characters as escapes such as \\u001F in a \"basic string\"",
                   "control character U+%04X in a string", c);
}

// "basic" or 'literal' single-line string, p->pos at the opening quote.
static SdlStatus read_single_line_string(Parser *p, Buf *b) {
    size_t open = p->pos;
    char q = p->s[p->pos++];
    for (;;) {
        if (at_end(p))
            return fail_at(p, open, "close the string on the same line", "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == (unsigned char)q) {
            p->pos++;
            return SDL_OK;
        }
        if (c == '\n' || c == '\r')
            return fail_at(p, open, q == '"' ? "close the string on the same line, or use \"\"\"multi-line strings\"\"\""
                                             : "close the string on the same line, or use '''multi-line strings'''",
                           "unterminated string (strings cannot span lines)");
        if (is_string_control(c)) return fail_string_control(p, c);
        if (c == '\\' && q == '"') {
            SDL_TRY(read_escape(p, b));
            continue;
        }
        if (!buf_putc(b, (char)c)) return fail_oom(p);
        p->pos++;
    }
}

// """basic""" or '''literal''' multi-line string, p->pos at the first of the three quotes.
static SdlStatus read_multi_line_string(Parser *p, Buf *b) {
    size_t open = p->pos;
    char q = p->s[p->pos];
    p->pos += 3;
    bool took;
    SDL_TRY(take_newline(p, &took)); // a newline right after the opening quotes is trimmed
    for (;;) {
        if (at_end(p)) return fail_at(p, open, "close it with three quotes", "unterminated multi-line string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == (unsigned char)q) {
            // A run of 3 quotes closes the string; up to 2 more right before are content.
            size_t run = 0;
            while (p->pos + run < p->len && p->s[p->pos + run] == q) run++;
            if (run >= 3) {
                if (run > 5)
                    return fail_at(p, p->pos, "escape quotes inside the string (\\\")",
                                   "too many quotes at the end of a multi-line string");
                for (size_t i = 0; i < run - 3; i++)
                    if (!buf_putc(b, q)) return fail_oom(p);
                p->pos += run;
                return SDL_OK;
            }
            for (size_t i = 0; i < run; i++)
                if (!buf_putc(b, q)) return fail_oom(p);
            p->pos += run;
            continue;
        }
        if (c == '\n' || c == '\r') {
            SDL_TRY(take_newline(p, &took)); // CRLF is stored as LF
            if (!buf_putc(b, '\n')) return fail_oom(p);
            continue;
        }
        if (is_string_control(c)) return fail_string_control(p, c);
        if (c == '\\' && q == '"') {
            int n = peek_at(p, 1);
            if (n == ' ' || n == '\t' || n == '\n' || n == '\r') {
                // Line-ending backslash: only whitespace may follow it on its line; it then
                // swallows all whitespace and newlines up to the next other character.
                size_t at = p->pos;
                p->pos++;
                skip_ws(p);
                if (peek(p) != '\n' && peek(p) != '\r')
                    return fail_at(p, at, "remove the whitespace after the backslash, or escape the backslash (\\\\)",
                                   "a backslash followed by whitespace must end the line");
                for (;;) {
                    skip_ws(p);
                    SDL_TRY(take_newline(p, &took));
                    if (!took) break;
                }
                continue;
            }
            SDL_TRY(read_escape(p, b));
            continue;
        }
        if (!buf_putc(b, (char)c)) return fail_oom(p);
        p->pos++;
    }
}

static bool starts_with3(const Parser *p, char q) {
    return peek(p) == q && peek_at(p, 1) == q && peek_at(p, 2) == q;
}

// ---------------------------------------------------------------- keys

typedef struct {
    char *s; // owned
    size_t len;
    size_t pos; // where this part starts, for messages
} KeyPart;

typedef struct {
    KeyPart *parts;
    size_t n, cap;
} KeyPath;

static void keypath_free(KeyPath *k) {
    for (size_t i = 0; i < k->n; i++) free(k->parts[i].s);
    free(k->parts);
    *k = (KeyPath){0};
}

static bool is_bare_key_char(int c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// A bounded text buffer for messages: keeps room for "..." and the NUL when it fills up.
typedef struct {
    char *d;
    size_t cap, n;
    bool full;
} MsgBuf;

static void msg_putc(MsgBuf *m, char c) {
    if (m->n + 4 < m->cap) m->d[m->n++] = c;
    else m->full = true;
}

// A printable rendering of a key path into buf (bare keys as-is, others quoted and escaped).
static void format_key(char *buf, size_t cap, const KeyPart *parts, size_t n) {
    MsgBuf m = {buf, cap, 0, false};
    for (size_t i = 0; i < n && !m.full; i++) {
        const KeyPart *k = &parts[i];
        bool bare = k->len > 0;
        for (size_t j = 0; j < k->len; j++) bare = bare && is_bare_key_char((unsigned char)k->s[j]);
        if (i) msg_putc(&m, '.');
        if (!bare) msg_putc(&m, '"');
        for (size_t j = 0; j < k->len && !m.full; j++) {
            unsigned char c = (unsigned char)k->s[j];
            if (c < 0x20 || c == 0x7f) {
                char esc[8];
                snprintf(esc, sizeof esc, "\\u%04X", c);
                for (const char *e = esc; *e; e++) msg_putc(&m, *e);
            } else {
                if (c == '"' || c == '\\') msg_putc(&m, '\\');
                msg_putc(&m, (char)c);
            }
        }
        if (!bare) msg_putc(&m, '"');
    }
    if (m.full) {
        memcpy(buf + m.n, "...", 3);
        m.n += 3;
    }
    buf[m.n] = '\0';
}

static SdlStatus read_simple_key(Parser *p, KeyPart *out) {
    *out = (KeyPart){NULL, 0, p->pos};
    Buf b = {0};
    int c = peek(p);
    if (c == '"' || c == '\'') {
        if (starts_with3(p, (char)c))
            return fail_at(p, p->pos, "quote the key with \"...\" or '...'", "multi-line strings cannot be used as keys");
        SdlStatus st = read_single_line_string(p, &b);
        if (st != SDL_OK) {
            free(b.d);
            return st;
        }
        if (!b.d && !buf_put(&b, "", 0)) return fail_oom(p); // "" is a valid (empty) key
    } else {
        size_t start = p->pos;
        while (p->pos < p->len && is_bare_key_char((unsigned char)p->s[p->pos])) p->pos++;
        if (p->pos == start) {
            char d[48];
            return fail_at(p, p->pos, "bare keys may use A-Z a-z 0-9 _ -; quote any other key",
                           "expected a key, found %s", describe_char(p, p->pos, d, sizeof d));
        }
        if (!buf_put(&b, p->s + start, p->pos - start)) {
            free(b.d);
            return fail_oom(p);
        }
    }
    out->s = b.d;
    out->len = b.n;
    return SDL_OK;
}

// key = simple-key *( ws "." ws simple-key )
static SdlStatus read_key(Parser *p, KeyPath *k) {
    for (;;) {
        if (k->n == k->cap) {
            size_t cap = k->cap ? 2 * k->cap : 4;
            KeyPart *parts = realloc(k->parts, cap * sizeof *parts);
            if (!parts) return fail_oom(p);
            k->parts = parts;
            k->cap = cap;
        }
        SDL_TRY(read_simple_key(p, &k->parts[k->n]));
        k->n++;
        skip_ws(p);
        if (peek(p) != '.') return SDL_OK;
        p->pos++;
        skip_ws(p);
    }
}

// ---------------------------------------------------------------- numbers and dates

static bool is_digit(int c) { return c >= '0' && c <= '9'; }

static bool digit_in_base(int c, int base) {
    if (base == 16) return hex_value(c) >= 0;
    return c >= '0' && c < '0' + base;
}

// Digits of `base` with single underscores between digits, from t[*i] up to e.
// Returns the number of digits (0 if none); *bad_us set when an underscore is misplaced.
static size_t scan_digits(const char *t, size_t *i, size_t e, int base, bool *bad_us) {
    size_t n = 0;
    while (*i < e) {
        int c = (unsigned char)t[*i];
        if (digit_in_base(c, base)) {
            n++;
            (*i)++;
        } else if (c == '_') {
            if (n == 0 || *i + 1 >= e || !digit_in_base((unsigned char)t[*i + 1], base)) {
                *bad_us = true;
                return n;
            }
            (*i)++;
        } else {
            break;
        }
    }
    return n;
}

static SdlStatus fail_number(Parser *p, size_t start, size_t e, const char *why) {
    int shown = e - start > 60 ? 60 : (int)(e - start);
    return fail_at(p, start, "integers: 42, -17, 1_000, 0xff, 0o17, 0b101; floats: 3.14, -1e-3, inf, nan",
                   "invalid number '%.*s': %s", shown, p->s + start, why);
}

// Integer or float at p->pos (after the caller ruled out dates, times, inf and nan).
static SdlStatus read_number(Parser *p, TomlValue **out) {
    size_t start = p->pos, e = p->pos;
    while (e < p->len) {
        int c = (unsigned char)p->s[e];
        if (!(is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '+' || c == '-')) break;
        e++;
    }
    const char *t = p->s;
    size_t i = start;
    bool signed_ = false, bad_us = false;
    if (t[i] == '+' || t[i] == '-') {
        signed_ = true;
        i++;
    }
    if (i + 1 < e && t[i] == '0' && (t[i + 1] == 'x' || t[i + 1] == 'o' || t[i + 1] == 'b')) {
        int base = t[i + 1] == 'x' ? 16 : t[i + 1] == 'o' ? 8 : 2;
        if (signed_) return fail_number(p, start, e, "hexadecimal, octal and binary integers cannot have a sign");
        i += 2;
        size_t d0 = i;
        if (scan_digits(t, &i, e, base, &bad_us) == 0 || bad_us || i != e)
            return fail_number(p, start, e, bad_us ? "an underscore must sit between two digits" : "not a valid digit sequence for its base");
        uint64_t v = 0;
        for (size_t k = d0; k < e; k++) {
            if (t[k] == '_') continue;
            uint64_t d = (uint64_t)hex_value((unsigned char)t[k]);
            if (v > (UINT64_MAX - d) / (uint64_t)base) return fail_number(p, start, e, "out of the 64-bit integer range");
            v = v * (uint64_t)base + d;
        }
        if (v > (uint64_t)INT64_MAX) return fail_number(p, start, e, "out of the 64-bit integer range");
        TomlValue *n = new_value(p, TOML_INTEGER, start);
        if (!n) return fail_oom(p);
        n->u.i = (int64_t)v;
        p->pos = e;
        *out = n;
        return SDL_OK;
    }
    size_t int_start = i;
    size_t nd = scan_digits(t, &i, e, 10, &bad_us);
    if (bad_us) return fail_number(p, start, e, "an underscore must sit between two digits");
    if (nd == 0) return fail_number(p, start, e, "expected a digit");
    if (t[int_start] == '0' && nd > 1) return fail_number(p, start, e, "leading zeros are not allowed");
    bool is_float = false;
    if (i < e && t[i] == '.') {
        i++;
        is_float = true;
        if (scan_digits(t, &i, e, 10, &bad_us) == 0 || bad_us)
            return fail_number(p, start, e, bad_us ? "an underscore must sit between two digits" : "a decimal point must be followed by digits");
    }
    if (i < e && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        is_float = true;
        if (i < e && (t[i] == '+' || t[i] == '-')) i++;
        if (scan_digits(t, &i, e, 10, &bad_us) == 0 || bad_us)
            return fail_number(p, start, e, bad_us ? "an underscore must sit between two digits" : "an exponent needs digits");
    }
    if (i != e) return fail_number(p, start, e, "unexpected characters");

    // Copy without underscores for the C conversion functions.
    char stack[128];
    char *clean = e - start < sizeof stack ? stack : malloc(e - start + 1);
    if (!clean) return fail_oom(p);
    size_t m = 0;
    for (size_t k = start; k < e; k++)
        if (t[k] != '_') clean[m++] = t[k];
    clean[m] = '\0';
    TomlValue *n = new_value(p, is_float ? TOML_FLOAT : TOML_INTEGER, start);
    if (!n) {
        if (clean != stack) free(clean);
        return fail_oom(p);
    }
    errno = 0;
    if (is_float) {
        // strtod reads the locale's decimal point: spell it so if a program set another
        // locale (a comma, say); glibc then rounds correctly. Huge exponents give +-inf.
        const char *dp = localeconv()->decimal_point;
        char *dot = strchr(clean, '.');
        if (dot && dp && dp[0] && dp[0] != '.' && !dp[1]) *dot = dp[0];
        n->u.f = strtod(clean, NULL);
    } else {
        long long v = strtoll(clean, NULL, 10);
        if (errno == ERANGE) {
            if (clean != stack) free(clean);
            free(n);
            return fail_number(p, start, e, "out of the 64-bit integer range");
        }
        n->u.i = (int64_t)v;
    }
    if (clean != stack) free(clean);
    p->pos = e;
    *out = n;
    return SDL_OK;
}

static bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m) {
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

// Exactly n digits at s[at..]; returns their value or -1.
static int fixed_digits(const Parser *p, size_t at, size_t n) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (at + i >= p->len || !is_digit((unsigned char)p->s[at + i])) return -1;
        v = v * 10 + (p->s[at + i] - '0');
    }
    return v;
}

static bool looks_like_date(const Parser *p) {
    return fixed_digits(p, p->pos, 4) >= 0 && peek_at(p, 4) == '-';
}
static bool looks_like_time(const Parser *p, size_t at) {
    return fixed_digits(p, at, 2) >= 0 && at + 2 < p->len && p->s[at + 2] == ':';
}

#define DATETIME_HINT "dates and times follow RFC 3339: 1979-05-27, 07:32:00, 1979-05-27T07:32:00.999-07:00"

// HH:MM:SS[.fraction] at *at.
static SdlStatus read_time(Parser *p, size_t *at, TomlDatetime *dt) {
    size_t s = *at;
    int h = fixed_digits(p, s, 2), mi = -1, sec = -1;
    if (h >= 0 && s + 2 < p->len && p->s[s + 2] == ':') mi = fixed_digits(p, s + 3, 2);
    if (mi < 0) return fail_at(p, s, DATETIME_HINT, "invalid time: expected HH:MM:SS");
    if (s + 5 >= p->len || p->s[s + 5] != ':')
        return fail_at(p, s, DATETIME_HINT, "invalid time: seconds are required (HH:MM:SS)");
    sec = fixed_digits(p, s + 6, 2);
    if (sec < 0) return fail_at(p, s, DATETIME_HINT, "invalid time: expected HH:MM:SS");
    if (h > 23 || mi > 59 || sec > 60)
        return fail_at(p, s, DATETIME_HINT, "time %02d:%02d:%02d is out of range", h, mi, sec);
    s += 8;
    int32_t ns = 0;
    if (s < p->len && p->s[s] == '.') {
        s++;
        size_t nd = 0;
        while (s < p->len && is_digit((unsigned char)p->s[s])) {
            if (nd < 9) ns = ns * 10 + (p->s[s] - '0'); // truncate beyond nanoseconds
            nd++;
            s++;
        }
        if (nd == 0) return fail_at(p, s, DATETIME_HINT, "invalid time: a decimal point must be followed by digits");
        for (; nd < 9; nd++) ns *= 10;
    }
    dt->hour = h;
    dt->minute = mi;
    dt->second = sec;
    dt->nanosecond = ns;
    *at = s;
    return SDL_OK;
}

// Offset date-time, local date-time, local date or local time at p->pos.
static SdlStatus read_datetime(Parser *p, TomlValue **out) {
    size_t start = p->pos, s = p->pos;
    TomlDatetime dt = {0};
    TomlKind kind;
    if (looks_like_date(p)) {
        int y = fixed_digits(p, s, 4), m = fixed_digits(p, s + 5, 2), d = -1;
        if (m >= 0 && s + 7 < p->len && p->s[s + 7] == '-') d = fixed_digits(p, s + 8, 2);
        if (d < 0) return fail_at(p, s, DATETIME_HINT, "invalid date: expected YYYY-MM-DD");
        if (m < 1 || m > 12) return fail_at(p, s, DATETIME_HINT, "invalid date: month %02d", m);
        if (d < 1 || d > days_in_month(y, m))
            return fail_at(p, s, DATETIME_HINT, "invalid date: %04d-%02d has no day %02d", y, m, d);
        dt.year = y;
        dt.month = m;
        dt.day = d;
        s += 10;
        kind = TOML_LOCAL_DATE;
        // The time may follow after 'T' (either case) or a single space.
        bool has_time = false;
        if (s < p->len && (p->s[s] == 'T' || p->s[s] == 't')) has_time = true;
        else if (s < p->len && p->s[s] == ' ' && looks_like_time(p, s + 1)) has_time = true;
        if (has_time) {
            s++;
            SDL_TRY(read_time(p, &s, &dt));
            kind = TOML_LOCAL_DATETIME;
            if (s < p->len && (p->s[s] == 'Z' || p->s[s] == 'z')) {
                s++;
                kind = TOML_OFFSET_DATETIME;
            } else if (s < p->len && (p->s[s] == '+' || p->s[s] == '-')) {
                int sign = p->s[s] == '-' ? -1 : 1;
                int oh = fixed_digits(p, s + 1, 2), om = -1;
                if (oh >= 0 && s + 3 < p->len && p->s[s + 3] == ':') om = fixed_digits(p, s + 4, 2);
                if (om < 0) return fail_at(p, s, DATETIME_HINT, "invalid time offset: expected +HH:MM or -HH:MM");
                if (oh > 23 || om > 59) return fail_at(p, s, DATETIME_HINT, "time offset %02d:%02d is out of range", oh, om);
                dt.offset_minutes = sign * (oh * 60 + om);
                s += 6;
                kind = TOML_OFFSET_DATETIME;
            }
        }
    } else {
        SDL_TRY(read_time(p, &s, &dt));
        kind = TOML_LOCAL_TIME;
    }
    TomlValue *v = new_value(p, kind, start);
    if (!v) return fail_oom(p);
    v->u.dt.dt = dt;
    v->u.dt.text = malloc(s - start + 1);
    if (!v->u.dt.text) {
        free(v);
        return fail_oom(p);
    }
    memcpy(v->u.dt.text, p->s + start, s - start);
    v->u.dt.text[s - start] = '\0';
    p->pos = s;
    *out = v;
    return SDL_OK;
}

// ---------------------------------------------------------------- values

static SdlStatus read_value(Parser *p, int depth, TomlValue **out);
static SdlStatus read_keyval(Parser *p, TomlValue *table);

static bool match_word(const Parser *p, size_t at, const char *w) {
    size_t n = strlen(w);
    return at + n <= p->len && memcmp(p->s + at, w, n) == 0;
}

static SdlStatus read_array(Parser *p, int depth, TomlValue **out) {
    TomlValue *a;
    SDL_TRY(new_container(p, TOML_ARRAY, depth, p->pos, &a));
    p->pos++; // '['
    SdlStatus st;
    for (;;) {
        if ((st = skip_ws_comments_newlines(p)) != SDL_OK) goto fail;
        if (peek(p) == ']') break;
        TomlValue *item;
        if ((st = read_value(p, depth + 1, &item)) != SDL_OK) goto fail;
        if (!array_push(a, item)) {
            value_free(item);
            st = fail_oom(p);
            goto fail;
        }
        if ((st = skip_ws_comments_newlines(p)) != SDL_OK) goto fail;
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == ']') break;
        st = fail_unexpected(p, "',' or ']' in array");
        goto fail;
    }
    p->pos++; // ']'
    *out = a;
    return SDL_OK;
fail:
    value_free(a);
    return st;
}

// An inline table is complete at its '}': mark it and every table made inside it immutable.
static void freeze(TomlValue *v) {
    if (v->kind == TOML_TABLE) {
        v->origin = ORIGIN_INLINE;
        for (size_t i = 0; i < v->u.table.len; i++) freeze(v->u.table.items[i].value);
    } else if (v->kind == TOML_ARRAY) {
        for (size_t i = 0; i < v->u.array.len; i++) freeze(v->u.array.items[i]);
    }
}

static SdlStatus read_inline_table(Parser *p, int depth, TomlValue **out) {
    TomlValue *t;
    SDL_TRY(new_container(p, TOML_TABLE, depth, p->pos, &t));
    t->origin = ORIGIN_INLINE;
    p->pos++; // '{'
    unsigned outer_scope = p->scope;
    p->scope = ++p->scope_count; // dotted keys inside may extend only their own tables
    SdlStatus st = SDL_OK;
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
    } else {
        for (;;) {
            skip_ws(p);
            if (peek(p) == '\n' || peek(p) == '\r') {
                st = fail_at(p, p->pos, "write the inline table on one line, or use a [table] section",
                             "newlines are not allowed inside an inline table");
                break;
            }
            if ((st = read_keyval(p, t)) != SDL_OK) break;
            skip_ws(p);
            int c = peek(p);
            if (c == '}') {
                p->pos++;
                break;
            }
            if (c == ',') {
                p->pos++;
                skip_ws(p);
                if (peek(p) == '}') {
                    st = fail_at(p, p->pos, "remove the comma before '}'", "trailing comma in an inline table");
                    break;
                }
                continue;
            }
            if (c == '\n' || c == '\r') {
                st = fail_at(p, p->pos, "write the inline table on one line, or use a [table] section",
                             "newlines are not allowed inside an inline table");
                break;
            }
            st = fail_unexpected(p, "',' or '}' in inline table");
            break;
        }
    }
    p->scope = outer_scope;
    if (st != SDL_OK) {
        value_free(t);
        return st;
    }
    freeze(t);
    *out = t;
    return SDL_OK;
}

static SdlStatus read_string_value(Parser *p, TomlValue **out) {
    size_t start = p->pos;
    char q = p->s[p->pos];
    Buf b = {0};
    SdlStatus st = starts_with3(p, q) ? read_multi_line_string(p, &b) : read_single_line_string(p, &b);
    if (st == SDL_OK && !b.d && !buf_put(&b, "", 0)) st = fail_oom(p);
    if (st != SDL_OK) {
        free(b.d);
        return st;
    }
    TomlValue *v = new_value(p, TOML_STRING, start);
    if (!v) {
        free(b.d);
        return fail_oom(p);
    }
    v->u.str.s = b.d;
    v->u.str.len = b.n;
    *out = v;
    return SDL_OK;
}

static SdlStatus read_value(Parser *p, int depth, TomlValue **out) {
    *out = NULL;
    int c = peek(p);
    size_t start = p->pos;
    if (c == '"' || c == '\'') return read_string_value(p, out);
    if (c == '[') return read_array(p, depth, out);
    if (c == '{') return read_inline_table(p, depth, out);
    if (match_word(p, start, "true") || match_word(p, start, "false")) {
        TomlValue *v = new_value(p, TOML_BOOL, start);
        if (!v) return fail_oom(p);
        v->u.b = c == 't';
        p->pos += v->u.b ? 4 : 5;
        *out = v;
        return SDL_OK;
    }
    // inf and nan, optionally signed (lower case only)
    size_t w = (c == '+' || c == '-') ? start + 1 : start;
    if (match_word(p, w, "inf") || match_word(p, w, "nan")) {
        TomlValue *v = new_value(p, TOML_FLOAT, start);
        if (!v) return fail_oom(p);
        bool inf = p->s[w] == 'i';
        v->u.f = inf ? (c == '-' ? -HUGE_VAL : HUGE_VAL) : (c == '-' ? -NAN : NAN);
        p->pos = w + 3;
        *out = v;
        return SDL_OK;
    }
    if (is_digit(c)) {
        if (looks_like_date(p) || looks_like_time(p, p->pos)) return read_datetime(p, out);
        return read_number(p, out);
    }
    if (c == '+' || c == '-') return read_number(p, out);
    return fail_at(p, p->pos, "values are strings (\"...\"), numbers, true/false, dates, [arrays] or {inline tables}",
                   "expected a value, found %s", describe_char(p, p->pos, (char[48]){0}, 48));
}

// ---------------------------------------------------------------- key/value pairs and headers

// "an integer", "a static array", ... for messages about a key already in use.
static const char *a_kind(const TomlValue *v) {
    switch (v->kind) {
    case TOML_TABLE: return "a table";
    case TOML_ARRAY: return v->array_of_tables ? "an array of tables" : "a static array";
    case TOML_STRING: return "a string";
    case TOML_INTEGER: return "an integer";
    case TOML_FLOAT: return "a float";
    case TOML_BOOL: return "a boolean";
    case TOML_OFFSET_DATETIME: return "an offset date-time";
    case TOML_LOCAL_DATETIME: return "a local date-time";
    case TOML_LOCAL_DATE: return "a local date";
    case TOML_LOCAL_TIME: return "a local time";
    }
    return "a value";
}

static const char *origin_text(const TomlValue *t) {
    switch (t->origin) {
    case ORIGIN_HEADER: return "by a [table] header";
    case ORIGIN_DOTTED: return "by dotted keys";
    case ORIGIN_INLINE: return "as an inline table";
    default: return "implicitly";
    }
}

// `key = value` at p->pos, added to `table` (the current section, or an inline table).
static SdlStatus read_keyval(Parser *p, TomlValue *table) {
    KeyPath k = {0};
    SdlStatus st = read_key(p, &k);
    char name[256];
    if (st != SDL_OK) goto done;
    if (peek(p) != '=') {
        st = fail_unexpected(p, "'=' after the key");
        goto done;
    }
    p->pos++;
    skip_ws(p);

    // Walk (and create) the tables named by all parts but the last.
    TomlValue *t = table;
    for (size_t i = 0; i + 1 < k.n; i++) {
        const KeyPart *kp = &k.parts[i];
        TomlEntry *e = table_find(t, kp->s, kp->len);
        if (!e) {
            TomlValue *sub;
            if ((st = new_container(p, TOML_TABLE, t->depth + 1, kp->pos, &sub)) != SDL_OK) goto done;
            sub->origin = ORIGIN_DOTTED;
            sub->scope = p->scope;
            if (!table_add(t, kp->s, kp->len, sub)) {
                value_free(sub);
                st = fail_oom(p);
                goto done;
            }
            t = sub;
            continue;
        }
        TomlValue *v = e->value;
        format_key(name, sizeof name, k.parts, i + 1);
        if (v->kind != TOML_TABLE) {
            st = fail_at(p, kp->pos, "a key holds one value; use a different key name",
                         "cannot use '%s' as a table: it is already %s (line %d)", name, a_kind(v), v->line);
            goto done;
        }
        if (v->origin == ORIGIN_IMPLICIT) {
            v->origin = ORIGIN_DOTTED; // defined from now on by this section's dotted keys
            v->scope = p->scope;
        } else if (v->origin != ORIGIN_DOTTED || v->scope != p->scope) {
            // (The scope test is defensive: headers cannot reopen a section, so a DOTTED
            // table is reachable only through HEADER or DOTTED tables of its own section.)
            st = fail_at(p, kp->pos, "add keys to a table only where it is defined (its [header] section or inline table)",
                         "cannot add keys to table '%s' with dotted keys: it was defined %s on line %d", name,
                         origin_text(v), v->line);
            goto done;
        }
        t = v;
    }
    const KeyPart *last = &k.parts[k.n - 1];
    TomlEntry *dup = table_find(t, last->s, last->len);
    if (dup) {
        format_key(name, sizeof name, k.parts, k.n);
        st = fail_at(p, last->pos, "each key may be defined only once per table", "duplicate key '%s' (first defined on line %d)",
                     name, dup->value->line);
        goto done;
    }
    TomlValue *v;
    if ((st = read_value(p, t->depth + 1, &v)) != SDL_OK) goto done;
    if (!table_add(t, last->s, last->len, v)) {
        value_free(v);
        st = fail_oom(p);
    }
done:
    keypath_free(&k);
    return st;
}

// [a.b.c] or [[a.b.c]] at p->pos; on success *section is the table that following keys go to.
static SdlStatus read_header(Parser *p, TomlValue *root, TomlValue **section) {
    size_t open = p->pos;
    bool aot = peek_at(p, 1) == '[';
    p->pos += aot ? 2 : 1;
    skip_ws(p);
    KeyPath k = {0};
    char name[256];
    SdlStatus st = read_key(p, &k);
    if (st != SDL_OK) goto done;
    if (peek(p) != ']' || (aot && peek_at(p, 1) != ']')) {
        st = fail_unexpected(p, aot ? "']]' to close the [[array of tables]] header" : "']' to close the [table] header");
        goto done;
    }
    p->pos += aot ? 2 : 1;

    // Walk (and create) the tables named by all parts but the last.
    TomlValue *t = root;
    for (size_t i = 0; i + 1 < k.n; i++) {
        const KeyPart *kp = &k.parts[i];
        TomlEntry *e = table_find(t, kp->s, kp->len);
        if (!e) {
            TomlValue *sub;
            if ((st = new_container(p, TOML_TABLE, t->depth + 1, open, &sub)) != SDL_OK) goto done;
            sub->origin = ORIGIN_IMPLICIT;
            if (!table_add(t, kp->s, kp->len, sub)) {
                value_free(sub);
                st = fail_oom(p);
                goto done;
            }
            t = sub;
            continue;
        }
        TomlValue *v = e->value;
        if (v->kind == TOML_ARRAY && v->array_of_tables) {
            t = v->u.array.items[v->u.array.len - 1]; // headers continue in the latest element
            continue;
        }
        format_key(name, sizeof name, k.parts, i + 1);
        if (v->kind != TOML_TABLE) {
            st = fail_at(p, kp->pos, "a key holds one value; use a different table name",
                         "cannot use '%s' as a table: it is already %s (line %d)", name, a_kind(v), v->line);
            goto done;
        }
        if (v->origin == ORIGIN_INLINE) {
            st = fail_at(p, kp->pos, "inline tables are complete where written; write the whole table as a [section] instead",
                         "cannot extend inline table '%s' (line %d)", name, v->line);
            goto done;
        }
        t = v;
    }

    const KeyPart *kp = &k.parts[k.n - 1];
    TomlEntry *e = table_find(t, kp->s, kp->len);
    TomlValue *v = e ? e->value : NULL;
    format_key(name, sizeof name, k.parts, k.n);
    if (aot) {
        if (!v) {
            if ((st = new_container(p, TOML_ARRAY, t->depth + 1, open, &v)) != SDL_OK) goto done;
            v->array_of_tables = true;
            if (!table_add(t, kp->s, kp->len, v)) {
                value_free(v);
                st = fail_oom(p);
                goto done;
            }
        } else if (v->kind != TOML_ARRAY || !v->array_of_tables) {
            st = fail_at(p, kp->pos, "an [[array of tables]] name must not be used for any other value",
                         "cannot append to '%s' with [[...]]: it is already %s (line %d)", name, a_kind(v), v->line);
            goto done;
        }
        TomlValue *elem;
        if ((st = new_container(p, TOML_TABLE, v->depth + 1, open, &elem)) != SDL_OK) goto done;
        elem->origin = ORIGIN_HEADER;
        if (!array_push(v, elem)) {
            value_free(elem);
            st = fail_oom(p);
            goto done;
        }
        t = elem;
    } else if (!v) {
        if ((st = new_container(p, TOML_TABLE, t->depth + 1, open, &v)) != SDL_OK) goto done;
        v->origin = ORIGIN_HEADER;
        if (!table_add(t, kp->s, kp->len, v)) {
            value_free(v);
            st = fail_oom(p);
            goto done;
        }
        t = v;
    } else if (v->kind != TOML_TABLE) {
        st = fail_at(p, kp->pos, "a key holds one value; use a different table name",
                     "cannot define table [%s]: the key is already %s (line %d)", name, a_kind(v), v->line);
        goto done;
    } else if (v->origin != ORIGIN_IMPLICIT) {
        st = fail_at(p, kp->pos,
                     v->origin == ORIGIN_INLINE ? "inline tables are complete where written; write the whole table as a [section] instead"
                                                : "each table may be defined only once; merge the two sections",
                     "table [%s] is already defined %s on line %d", name, origin_text(v), v->line);
        goto done;
    } else { // named before only as part of a longer header: this defines it
        v->origin = ORIGIN_HEADER;
        v->line = line_at(p, open);
        t = v;
    }
    p->scope = ++p->scope_count;
    *section = t;
done:
    keypath_free(&k);
    return st;
}

// ---------------------------------------------------------------- document

static SdlStatus read_document(Parser *p, TomlValue *root) {
    TomlValue *section = root;
    if (match_word(p, 0, "\xEF\xBB\xBF")) p->pos = 3; // a byte order mark may open the file
    while (!at_end(p)) {
        skip_ws(p);
        int c = peek(p);
        if (c == '[') {
            SDL_TRY(read_header(p, root, &section));
            SDL_TRY(end_of_line(p, "the table header"));
        } else if (c == '#' || c == '\n' || c == '\r' || c < 0) {
            SDL_TRY(end_of_line(p, "a comment"));
        } else if (is_bare_key_char(c) || c == '"' || c == '\'') {
            SDL_TRY(read_keyval(p, section));
            SDL_TRY(end_of_line(p, "the value"));
        } else {
            return fail_unexpected(p, "a key, a [table] header or a comment");
        }
    }
    return SDL_OK;
}

SdlStatus toml_parse(const char *text, size_t len, const char *path_for_errors, TomlValue **out) {
    *out = NULL;
    Parser p = {.s = text ? text : "", .len = text ? len : 0, .path = path_for_errors ? path_for_errors : "", .line_no = 1};
    if (p.len > (size_t)INT32_MAX) // line and column numbers are ints
        return sdl_fail(SDL_ERR_UNSUPPORTED, p.path, "split the configuration", "TOML input larger than 2 GiB");
    SDL_TRY(check_utf8(&p));
    TomlValue *root;
    SDL_TRY(new_container(&p, TOML_TABLE, 0, 0, &root));
    root->origin = ORIGIN_HEADER;
    SdlStatus st = read_document(&p, root);
    if (st != SDL_OK) {
        value_free(root);
        return st;
    }
    *out = root;
    return SDL_OK;
}

SdlStatus toml_parse_file(const char *path, TomlValue **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sdl_fail(SDL_ERR_IO, path, "check the path and the file's permissions", "cannot open: %s", strerror(errno));
    Buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (!buf_put(&b, chunk, n)) {
            fclose(f);
            free(b.d);
            return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory reading the file");
        }
    }
    bool bad = ferror(f);
    int err = errno;
    fclose(f);
    if (bad) {
        free(b.d);
        return sdl_fail(SDL_ERR_IO, path, "check the path and the file's permissions", "cannot read: %s", strerror(err));
    }
    SdlStatus st = toml_parse(b.d, b.n, path, out);
    free(b.d);
    return st;
}

// ---------------------------------------------------------------- accessors

TomlKind toml_kind(const TomlValue *v) { return v->kind; }

const char *toml_kind_name(TomlKind kind) {
    switch (kind) {
    case TOML_TABLE: return "table";
    case TOML_ARRAY: return "array";
    case TOML_STRING: return "string";
    case TOML_INTEGER: return "integer";
    case TOML_FLOAT: return "float";
    case TOML_BOOL: return "boolean";
    case TOML_OFFSET_DATETIME: return "offset date-time";
    case TOML_LOCAL_DATETIME: return "local date-time";
    case TOML_LOCAL_DATE: return "local date";
    case TOML_LOCAL_TIME: return "local time";
    }
    return "unknown";
}

int toml_line(const TomlValue *v) { return v ? v->line : 0; }

size_t toml_table_len(const TomlValue *t) { return t && t->kind == TOML_TABLE ? t->u.table.len : 0; }

const TomlValue *toml_table_get_n(const TomlValue *t, const char *key, size_t key_len) {
    if (!t || t->kind != TOML_TABLE || !key) return NULL;
    const TomlEntry *e = table_find(t, key, key_len);
    return e ? e->value : NULL;
}

const TomlValue *toml_table_get(const TomlValue *t, const char *key) {
    return key ? toml_table_get_n(t, key, strlen(key)) : NULL;
}

const char *toml_table_key_at(const TomlValue *t, size_t i, size_t *key_len) {
    if (i >= toml_table_len(t)) return NULL;
    if (key_len) *key_len = t->u.table.items[i].key_len;
    return t->u.table.items[i].key;
}

const TomlValue *toml_table_value_at(const TomlValue *t, size_t i) {
    return i < toml_table_len(t) ? t->u.table.items[i].value : NULL;
}

size_t toml_array_len(const TomlValue *a) { return a && a->kind == TOML_ARRAY ? a->u.array.len : 0; }

const TomlValue *toml_array_at(const TomlValue *a, size_t i) {
    return i < toml_array_len(a) ? a->u.array.items[i] : NULL;
}

const char *toml_as_string(const TomlValue *v, size_t *len) {
    if (!v || v->kind != TOML_STRING) return NULL;
    if (len) *len = v->u.str.len;
    return v->u.str.s;
}

bool toml_as_int(const TomlValue *v, int64_t *out) {
    if (!v || v->kind != TOML_INTEGER) return false;
    *out = v->u.i;
    return true;
}

bool toml_as_float(const TomlValue *v, double *out) {
    if (!v || v->kind != TOML_FLOAT) return false;
    *out = v->u.f;
    return true;
}

bool toml_as_number(const TomlValue *v, double *out) {
    if (v && v->kind == TOML_INTEGER) {
        *out = (double)v->u.i;
        return true;
    }
    return toml_as_float(v, out);
}

bool toml_as_bool(const TomlValue *v, bool *out) {
    if (!v || v->kind != TOML_BOOL) return false;
    *out = v->u.b;
    return true;
}

static bool is_datetime_kind(const TomlValue *v) {
    return v && (v->kind == TOML_OFFSET_DATETIME || v->kind == TOML_LOCAL_DATETIME || v->kind == TOML_LOCAL_DATE ||
                 v->kind == TOML_LOCAL_TIME);
}

const TomlDatetime *toml_as_datetime(const TomlValue *v) { return is_datetime_kind(v) ? &v->u.dt.dt : NULL; }

const char *toml_datetime_text(const TomlValue *v) { return is_datetime_kind(v) ? v->u.dt.text : NULL; }
