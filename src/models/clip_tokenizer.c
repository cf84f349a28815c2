// clip_tokenizer.c — CLIP tokenizer: vocabulary load (embedded .gz via zlib), ftfy-style text
// cleanup, the CLIP pre-tokenizer pattern, and byte-level BPE with a per-tokenizer cache.
// Behaviour and its limits are described in clip_tokenizer.h.
#include "models/clip_tokenizer.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <zlib.h>

#include "models/clip_html_entities.h"

// From clip_vocab_data.c (the .gz bytes, embedded with .incbin).
extern const unsigned char sdl_clip_vocab_gz[];
extern const uint64_t sdl_clip_vocab_gz_size;

#define PAIR_SLOTS (1u << 17)      // > 2 x 48,894 merge pairs
#define STR_SLOTS (1u << 17)       // > 2 x 49,408 token strings
#define CACHE_SLOTS (1u << 15)     // BPE cache: cleared when half full
#define CACHE_MAX_KEY_BYTES (1u << 22)

typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len; // into cache_keys; key_len 0 = empty slot (pieces are never empty)
    uint32_t val_off, val_len; // into cache_vals
} CacheSlot;

struct ClipTokenizer {
    char *strs;                      // every token's vocab.json string, NUL-terminated, back to back
    uint32_t str_off[CLIP_VOCAB_SIZE];
    uint32_t *pair_key;              // (a << 16 | b), UINT32_MAX = empty
    int32_t *pair_rank;
    int32_t byte_id[256];            // id of the byte as a non-final symbol; +256 = with "</w>"
    int32_t *work;                   // BPE scratch
    size_t work_cap;
    CacheSlot *cache;
    size_t cache_used;
    uint8_t *cache_keys;
    size_t cache_keys_n, cache_keys_cap;
    int32_t *cache_vals;
    size_t cache_vals_n, cache_vals_cap;
};

// ---------------------------------------------------------------------------------------------
// Growable buffers. Allocation failure sets `oom` and later pushes are dropped; callers check
// the flag once at the end instead of after every push.

typedef struct { uint32_t *v; size_t n, cap; bool oom; } CpBuf;
typedef struct { uint8_t *v; size_t n, cap; bool oom; } ByteBuf;

static bool grow(void **v, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) return false;
        nc *= 2;
    }
    void *p = realloc(*v, nc * elem);
    if (!p) return false;
    *v = p;
    *cap = nc;
    return true;
}

static void cp_push(CpBuf *b, uint32_t c) {
    if (b->oom) return;
    if (!grow((void **)&b->v, &b->cap, b->n + 1, sizeof *b->v)) { b->oom = true; return; }
    b->v[b->n++] = c;
}

static void cp_push_n(CpBuf *b, const uint32_t *c, size_t n) {
    for (size_t i = 0; i < n; i++) cp_push(b, c[i]);
}

static void byte_push(ByteBuf *b, uint8_t c) {
    if (b->oom) return;
    if (!grow((void **)&b->v, &b->cap, b->n + 1, 1)) { b->oom = true; return; }
    b->v[b->n++] = c;
}

// ---------------------------------------------------------------------------------------------
// UTF-8

// Decodes UTF-8 strictly (no overlongs, surrogates or values past U+10FFFF); each byte that
// does not start a valid sequence becomes U+FFFD.
static void utf8_decode(const uint8_t *s, size_t n, CpBuf *out) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { cp_push(out, c); i++; continue; }
        size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
        uint32_t cp = len == 2 ? c & 0x1Fu : len == 3 ? c & 0x0Fu : c & 0x07u;
        bool ok = len != 0 && c <= 0xF4 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) ok = false;
            else cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (ok) {
            static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
            if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) ok = false;
        }
        if (!ok) { cp_push(out, 0xFFFD); i++; continue; }
        cp_push(out, cp);
        i += len;
    }
}

static void utf8_encode_one(ByteBuf *out, uint32_t c) {
    if (c < 0x80) {
        byte_push(out, (uint8_t)c);
    } else if (c < 0x800) {
        byte_push(out, (uint8_t)(0xC0 | (c >> 6)));
        byte_push(out, (uint8_t)(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        byte_push(out, (uint8_t)(0xE0 | (c >> 12)));
        byte_push(out, (uint8_t)(0x80 | ((c >> 6) & 0x3F)));
        byte_push(out, (uint8_t)(0x80 | (c & 0x3F)));
    } else {
        byte_push(out, (uint8_t)(0xF0 | (c >> 18)));
        byte_push(out, (uint8_t)(0x80 | ((c >> 12) & 0x3F)));
        byte_push(out, (uint8_t)(0x80 | ((c >> 6) & 0x3F)));
        byte_push(out, (uint8_t)(0x80 | (c & 0x3F)));
    }
}

static void utf8_encode(const uint32_t *c, size_t n, ByteBuf *out) {
    for (size_t i = 0; i < n; i++) utf8_encode_one(out, c[i]);
}

// Runs utf8proc_map with `options` over code points, appending the result to `out`.
static void cp_utf8proc_map(const uint32_t *c, size_t n, int options, CpBuf *out) {
    ByteBuf tmp = {0};
    utf8_encode(c, n, &tmp);
    if (tmp.oom) { out->oom = true; free(tmp.v); return; }
    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t m = utf8proc_map(tmp.v, (utf8proc_ssize_t)tmp.n, &mapped, options);
    free(tmp.v);
    if (m < 0) { // only on allocation failure: the input is valid UTF-8 we produced
        out->oom = true;
        return;
    }
    utf8_decode(mapped, (size_t)m, out);
    free(mapped);
}

// ---------------------------------------------------------------------------------------------
// Character classes

static bool is_letter(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

static bool is_number(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

// `\s` of the `regex` module (Unicode White_Space), used by whitespace_clean and the pattern.
static bool is_ws_regex(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

// Python's str.isspace (what str.strip removes): White_Space plus U+001C..U+001F.
static bool is_ws_python(uint32_t c) {
    return is_ws_regex(c) || (c >= 0x1C && c <= 0x1F);
}

static bool is_ascii_alnum(uint32_t c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Windows-1252 for 0x80..0x9F; the five undefined bytes keep their Latin-1 value (ftfy's
// "sloppy" codec, and Python's html._invalid_charrefs).
static const uint16_t cp1252_c1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

// ---------------------------------------------------------------------------------------------
// ftfy.fix_text subset (ftfy 6.1.1 default config, without fix_encoding). Each step appends
// its result to `out`; fix_segment runs them in ftfy's order until the text stops changing.

static int entity_cmp(const void *key, const void *elem) {
    return strcmp((const char *)key, ((const ClipHtmlEntity *)elem)->name);
}

// html.unescape's result for "&#<body>;" where the body is all decimal (or x + hex) digits.
// Returns the number of code points written to r (0 = the entity is removed).
static size_t numeric_charref(uint32_t num, uint32_t r[1]) {
    if (num == 0) { r[0] = 0xFFFD; return 1; }
    if (num == 0x0D) { r[0] = 0x0D; return 1; }
    if (num >= 0x80 && num <= 0x9F) { r[0] = cp1252_c1[num - 0x80]; return 1; }
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) { r[0] = 0xFFFD; return 1; }
    if ((num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) || num == 0x7F ||
        (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
        return 0;
    r[0] = num;
    return 1;
}

// ftfy unescape_html: "&name;" / "&#digits;" / "&#xhex;" with 1..24 ASCII letters or digits
// between '&' (or "&#") and ';'. Named ones come from the generated HTML5 table; numeric ones
// decode only when the digits run up to the ';' and the result is not itself ';'.
static void fx_unescape_html(const uint32_t *s, size_t n, CpBuf *out) {
    size_t i = 0;
    while (i < n) {
        if (s[i] != '&') { cp_push(out, s[i++]); continue; }
        bool hash = i + 1 < n && s[i + 1] == '#';
        size_t j = i + 1 + (hash ? 1 : 0), k = j;
        while (k < n && k - j <= 24 && is_ascii_alnum(s[k])) k++;
        size_t len = k - j;
        if (len < 1 || len > 24 || k >= n || s[k] != ';') { cp_push(out, s[i++]); continue; }
        char body[26];
        for (size_t t = 0; t < len; t++) body[t] = (char)s[j + t];
        body[len] = '\0';
        bool replaced = false;
        if (!hash) {
            const ClipHtmlEntity *e = bsearch(body, clip_html_entities,
                                              sizeof clip_html_entities / sizeof clip_html_entities[0],
                                              sizeof clip_html_entities[0], entity_cmp);
            if (e) {
                utf8_decode((const uint8_t *)e->text, strlen(e->text), out);
                replaced = true;
            }
        } else {
            bool hex = body[0] == 'x' || body[0] == 'X';
            size_t t = hex ? 1 : 0, digits = 0;
            uint32_t num = 0;
            for (; t < len; t++, digits++) {
                char c = body[t];
                int d = c >= '0' && c <= '9' ? c - '0'
                      : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                if (d < 0) break;
                uint64_t next = (uint64_t)num * (hex ? 16u : 10u) + (uint64_t)d;
                num = next > 0x110000u ? 0x110000u : (uint32_t)next; // saturate past U+10FFFF
            }
            if (digits > 0 && t == len && num != ';') {
                uint32_t r[1];
                if (numeric_charref(num, r)) cp_push(out, r[0]);
                replaced = true;
            }
        }
        if (!replaced) cp_push_n(out, s + i, k + 1 - i);
        i = k + 1;
    }
}

static void fx_c1_controls(const uint32_t *s, size_t n, CpBuf *out) {
    for (size_t i = 0; i < n; i++) cp_push(out, s[i] >= 0x80 && s[i] <= 0x9F ? cp1252_c1[s[i] - 0x80] : s[i]);
}

// ftfy's list of Latin ligatures and legacy digraphs it spells out.
static const struct { uint16_t from; uint16_t to[3]; } latin_ligatures[] = {
    {0x0132, {'I', 'J'}}, {0x0133, {'i', 'j'}}, {0x0149, {0x02BC, 'n'}},
    {0x01F1, {'D', 'Z'}}, {0x01F2, {'D', 'z'}}, {0x01F3, {'d', 'z'}},
    {0x01C4, {'D', 0x017D}}, {0x01C5, {'D', 0x017E}}, {0x01C6, {'d', 0x017E}},
    {0x01C7, {'L', 'J'}}, {0x01C8, {'L', 'j'}}, {0x01C9, {'l', 'j'}},
    {0x01CA, {'N', 'J'}}, {0x01CB, {'N', 'j'}}, {0x01CC, {'n', 'j'}},
    {0xFB00, {'f', 'f'}}, {0xFB01, {'f', 'i'}}, {0xFB02, {'f', 'l'}},
    {0xFB03, {'f', 'f', 'i'}}, {0xFB04, {'f', 'f', 'l'}}, {0xFB05, {0x017F, 't'}}, {0xFB06, {'s', 't'}},
};

static void fx_latin_ligatures(const uint32_t *s, size_t n, CpBuf *out) {
    for (size_t i = 0; i < n; i++) {
        bool hit = false;
        if ((s[i] >= 0x0132 && s[i] <= 0x01F3) || (s[i] >= 0xFB00 && s[i] <= 0xFB06)) {
            for (size_t t = 0; t < sizeof latin_ligatures / sizeof latin_ligatures[0]; t++) {
                if (latin_ligatures[t].from != s[i]) continue;
                for (size_t q = 0; q < 3 && latin_ligatures[t].to[q]; q++) cp_push(out, latin_ligatures[t].to[q]);
                hit = true;
                break;
            }
        }
        if (!hit) cp_push(out, s[i]);
    }
}

// ftfy fix_character_width: U+3000 -> space; U+FF01..U+FFEF -> their NFKC form when it differs.
static void fx_character_width(const uint32_t *s, size_t n, CpBuf *out) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0x3000) cp_push(out, ' ');
        else if (s[i] >= 0xFF01 && s[i] <= 0xFFEF)
            cp_utf8proc_map(&s[i], 1, UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT, out);
        else cp_push(out, s[i]);
    }
}

static void fx_uncurl_quotes(const uint32_t *s, size_t n, CpBuf *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
        else if (c >= 0x201C && c <= 0x201F) c = '"';
        cp_push(out, c);
    }
}

static void fx_line_breaks(const uint32_t *s, size_t n, CpBuf *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == '\r' && i + 1 < n && s[i + 1] == '\n') continue; // CRLF -> LF
        if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
        cp_push(out, c);
    }
}

// ftfy remove_terminal_escapes: ESC '[' (Unicode decimal digit | ';')* ASCII letter.
static void fx_terminal_escapes(const uint32_t *s, size_t n, CpBuf *out) {
    size_t i = 0;
    while (i < n) {
        if (s[i] == 0x1B && i + 1 < n && s[i + 1] == '[') {
            size_t j = i + 2;
            while (j < n && (s[j] == ';' || utf8proc_category((utf8proc_int32_t)s[j]) == UTF8PROC_CATEGORY_ND)) j++;
            if (j < n && s[j] < 0x80 && ((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z')) { i = j + 1; continue; }
        }
        cp_push(out, s[i++]);
    }
}

static void fx_control_chars(const uint32_t *s, size_t n, CpBuf *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
            c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC))
            continue;
        cp_push(out, c);
    }
}

static void fx_nfc(const uint32_t *s, size_t n, CpBuf *out) {
    bool simple = true; // below U+0300 there is nothing to compose or decompose differently
    for (size_t i = 0; i < n && simple; i++) simple = s[i] < 0x300;
    if (simple) cp_push_n(out, s, n);
    else cp_utf8proc_map(s, n, UTF8PROC_STABLE | UTF8PROC_COMPOSE, out);
}

// One ftfy fix_and_explain over a segment (a line with its '\n'), appended to `out`.
static void fix_segment(const uint32_t *s, size_t n, bool unescape, CpBuf *out) {
    CpBuf a = {0}, b = {0};
    cp_push_n(&a, s, n);
    // Every full pass either changes nothing (done) or, in practice, shrinks the text or makes
    // it canonical; the cap only guards against a pathological cycle.
    for (size_t pass = 0; pass < n + 8 && !a.oom && !b.oom; pass++) {
        CpBuf orig = {0};
        cp_push_n(&orig, a.v, a.n);
        void (*steps[])(const uint32_t *, size_t, CpBuf *) = {
            fx_unescape_html, fx_c1_controls, fx_latin_ligatures, fx_character_width, fx_uncurl_quotes,
            fx_line_breaks, fx_terminal_escapes, fx_control_chars, fx_nfc,
        };
        for (size_t k = unescape ? 0 : 1; k < sizeof steps / sizeof steps[0]; k++) {
            b.n = 0;
            steps[k](a.v, a.n, &b);
            CpBuf t = a; a = b; b = t;
        }
        bool same = !orig.oom && orig.n == a.n && (a.n == 0 || memcmp(orig.v, a.v, a.n * sizeof *a.v) == 0);
        if (orig.oom) a.oom = true;
        free(orig.v);
        if (same) break;
    }
    if (a.oom || b.oom) out->oom = true;
    cp_push_n(out, a.v, a.n);
    free(a.v);
    free(b.v);
}

// ftfy.fix_text: per line; HTML unescaping stops for good at the first line holding '<'.
static void ftfy_fix_text(const uint32_t *s, size_t n, CpBuf *out) {
    bool unescape = true;
    size_t pos = 0;
    while (pos < n) {
        size_t end = pos;
        while (end < n && s[end] != '\n') end++;
        if (end < n) end++; // the segment keeps its '\n'
        for (size_t i = pos; i < end && unescape; i++)
            if (s[i] == '<') unescape = false;
        fix_segment(s + pos, end - pos, unescape, out);
        pos = end;
    }
}

// transformers whitespace_clean: runs of \s -> one space, then str.strip().
static void whitespace_clean(const uint32_t *s, size_t n, CpBuf *out) {
    size_t start = out->n;
    for (size_t i = 0; i < n;) {
        if (is_ws_regex(s[i])) {
            while (i < n && is_ws_regex(s[i])) i++;
            cp_push(out, ' ');
        } else {
            cp_push(out, s[i++]);
        }
    }
    if (out->oom) return;
    size_t a = start, b = out->n;
    while (a < b && is_ws_python(out->v[a])) a++;
    while (b > a && is_ws_python(out->v[b - 1])) b--;
    if (b > a) memmove(out->v + start, out->v + a, (b - a) * sizeof *out->v);
    out->n = start + (b - a);
}

// Approximations of Unicode Cased / Case_Ignorable for Python's final-sigma rule.
static bool is_cased(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT) return true;
    if (utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
        utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c)
        return true;
    return c == 0xAA || c == 0xBA || (c >= 0x2B0 && c <= 0x2B8) || (c >= 0x2C0 && c <= 0x2C1) ||
           (c >= 0x2E0 && c <= 0x2E4) || c == 0x345 || c == 0x37A || (c >= 0x1D2C && c <= 0x1D6A) ||
           (c >= 0x1D9B && c <= 0x1DBF) || c == 0x2071 || c == 0x207F || (c >= 0x2090 && c <= 0x209C) ||
           (c >= 0x2160 && c <= 0x217F) || (c >= 0x24B6 && c <= 0x24E9);
}

static bool is_case_ignorable(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    if (k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
        k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK)
        return true;
    switch (c) { // Word_Break MidLetter, MidNumLet, Single_Quote
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4: case 0x2018:
    case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07:
    case 0xFF0E: case 0xFF1A:
        return true;
    default:
        return false;
    }
}

// Python str.lower(): simple lower-case mapping, except İ -> "i̇" and the final-sigma rule.
static void lower_text(const uint32_t *s, size_t n, CpBuf *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == 0x130) {
            cp_push(out, 'i');
            cp_push(out, 0x307);
        } else if (c == 0x3A3) {
            size_t j = i;
            while (j > 0 && is_case_ignorable(s[j - 1])) j--;
            bool final = j > 0 && is_cased(s[j - 1]);
            if (final) {
                j = i + 1;
                while (j < n && is_case_ignorable(s[j])) j++;
                final = j == n || !is_cased(s[j]);
            }
            cp_push(out, final ? 0x3C2 : 0x3C3);
        } else {
            cp_push(out, c < 0x80 ? (c >= 'A' && c <= 'Z' ? c + 32 : c)
                                  : (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
        }
    }
}

// Steps 2-3 of the header comment for one piece of text.
static void clean_piece(const uint32_t *s, size_t n, CpBuf *out) {
    CpBuf fixed = {0}, ws = {0};
    ftfy_fix_text(s, n, &fixed);
    whitespace_clean(fixed.v, fixed.n, &ws);
    lower_text(ws.v, ws.n, out);
    if (fixed.oom || ws.oom) out->oom = true;
    free(fixed.v);
    free(ws.v);
}

SdlStatus clip_text_clean(const char *text, size_t len, char **out) {
    *out = NULL;
    CpBuf cps = {0}, clean = {0};
    ByteBuf bytes = {0};
    utf8_decode((const uint8_t *)text, len, &cps);
    clean_piece(cps.v, cps.n, &clean);
    utf8_encode(clean.v, clean.n, &bytes);
    byte_push(&bytes, 0);
    bool oom = cps.oom || clean.oom || bytes.oom;
    free(cps.v);
    free(clean.v);
    if (oom) {
        free(bytes.v);
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory cleaning a %zu-byte prompt", len);
    }
    *out = (char *)bytes.v;
    return SDL_OK;
}

// ---------------------------------------------------------------------------------------------
// BPE

typedef struct { int32_t *ids; size_t cap, n; } IdSink;

static void sink_push(IdSink *s, int32_t id) {
    if (s->n < s->cap) s->ids[s->n] = id;
    s->n++;
}

static uint32_t pair_hash(uint32_t key) { return (key * 2654435761u) >> (32 - 17); }

static int32_t pair_lookup(const ClipTokenizer *tok, int32_t a, int32_t b) {
    uint32_t key = (uint32_t)a << 16 | (uint32_t)b;
    for (uint32_t h = pair_hash(key);; h = (h + 1) & (PAIR_SLOTS - 1)) {
        if (tok->pair_key[h] == key) return tok->pair_rank[h];
        if (tok->pair_key[h] == UINT32_MAX) return -1;
    }
}

static uint64_t fnv1a(const uint8_t *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

static void cache_clear(ClipTokenizer *tok) {
    memset(tok->cache, 0, CACHE_SLOTS * sizeof *tok->cache);
    tok->cache_used = 0;
    tok->cache_keys_n = 0;
    tok->cache_vals_n = 0;
}

static CacheSlot *cache_find(ClipTokenizer *tok, const uint8_t *key, size_t len, uint64_t h) {
    for (size_t i = h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        CacheSlot *s = &tok->cache[i];
        if (s->key_len == 0) return s;
        if (s->hash == h && s->key_len == len && memcmp(tok->cache_keys + s->key_off, key, len) == 0) return s;
    }
}

// Stores a result; silently skips it when memory is short (the cache only saves time).
static void cache_store(ClipTokenizer *tok, const uint8_t *key, size_t len, const int32_t *ids, size_t n) {
    if (len > UINT32_MAX / 4 || n > UINT32_MAX / 4) return;
    if (tok->cache_used >= CACHE_SLOTS / 2 || tok->cache_keys_n + len > CACHE_MAX_KEY_BYTES) cache_clear(tok);
    if (!grow((void **)&tok->cache_keys, &tok->cache_keys_cap, tok->cache_keys_n + len, 1)) return;
    if (!grow((void **)&tok->cache_vals, &tok->cache_vals_cap, tok->cache_vals_n + n, sizeof(int32_t))) return;
    uint64_t h = fnv1a(key, len);
    CacheSlot *s = cache_find(tok, key, len, h);
    if (s->key_len != 0) return;
    memcpy(tok->cache_keys + tok->cache_keys_n, key, len);
    memcpy(tok->cache_vals + tok->cache_vals_n, ids, n * sizeof *ids);
    *s = (CacheSlot){h, (uint32_t)tok->cache_keys_n, (uint32_t)len, (uint32_t)tok->cache_vals_n, (uint32_t)n};
    tok->cache_keys_n += len;
    tok->cache_vals_n += n;
    tok->cache_used++;
}

// BPE over one pre-token's bytes: start from one symbol per byte (the last one carrying
// "</w>"), then repeatedly merge every non-overlapping occurrence, left to right, of the
// adjacent pair with the lowest merge rank, until no adjacent pair has a rank.
static SdlStatus bpe_piece(ClipTokenizer *tok, const uint8_t *bytes, size_t len, IdSink *sink) {
    uint64_t h = fnv1a(bytes, len);
    CacheSlot *hit = cache_find(tok, bytes, len, h);
    if (hit->key_len != 0) {
        for (uint32_t i = 0; i < hit->val_len; i++) sink_push(sink, tok->cache_vals[hit->val_off + i]);
        return SDL_OK;
    }
    if (!grow((void **)&tok->work, &tok->work_cap, len, sizeof *tok->work))
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory for a %zu-byte BPE word", len);
    if (len == 0) return SDL_OK;
    int32_t *w = tok->work;
    size_t m = len;
    for (size_t i = 0; i < len; i++) w[i] = tok->byte_id[bytes[i]];
    w[m - 1] += 256;
    while (m > 1) {
        int32_t best = INT32_MAX, a = -1, b = -1;
        for (size_t i = 0; i + 1 < m; i++) {
            int32_t r = pair_lookup(tok, w[i], w[i + 1]);
            if (r >= 0 && r < best) { best = r; a = w[i]; b = w[i + 1]; }
        }
        if (a < 0) break;
        size_t o = 0;
        for (size_t i = 0; i < m;) {
            if (i + 1 < m && w[i] == a && w[i + 1] == b) { w[o++] = 512 + best; i += 2; }
            else w[o++] = w[i++];
        }
        m = o;
    }
    for (size_t i = 0; i < m; i++) sink_push(sink, w[i]);
    cache_store(tok, bytes, len, w, m);
    return SDL_OK;
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizer and the public tokenize calls

static const char k_bos_str[] = "<|startoftext|>";
static const char k_eos_str[] = "<|endoftext|>";

// Exact ASCII match of `lit` at s[i..] (the added-token split is case-sensitive).
static bool match_exact(const uint32_t *s, size_t n, size_t i, const char *lit) {
    size_t L = strlen(lit);
    if (n - i < L) return false;
    for (size_t k = 0; k < L; k++)
        if (s[i + k] != (uint32_t)(unsigned char)lit[k]) return false;
    return true;
}

// Case-insensitive match as the `regex` module does it with IGNORECASE (simple case folding):
// the text is already lower-case, and U+017F (long s) folds to 's', U+212A (Kelvin) to 'k'.
static bool match_fold(const uint32_t *s, size_t n, size_t i, const char *lit) {
    size_t L = strlen(lit);
    if (n - i < L) return false;
    for (size_t k = 0; k < L; k++) {
        uint32_t c = s[i + k], l = (uint32_t)(unsigned char)lit[k];
        if (c >= 'A' && c <= 'Z') c += 32;
        if (c == 0x17F) c = 's';
        if (c == 0x212A) c = 'k';
        if (c != l) return false;
    }
    return true;
}

// Emits the ids of one cleaned, lower-cased piece (the pre-tokenizer pattern, then BPE).
static SdlStatus encode_clean(ClipTokenizer *tok, const uint32_t *s, size_t n, IdSink *sink) {
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    ByteBuf bytes = {0};
    SdlStatus st = SDL_OK;
    size_t i = 0;
    while (i < n && st == SDL_OK) {
        size_t end = i;
        if (match_fold(s, n, i, k_bos_str)) end = i + strlen(k_bos_str);
        else if (match_fold(s, n, i, k_eos_str)) end = i + strlen(k_eos_str);
        else if (s[i] == '\'') {
            for (size_t c = 0; c < sizeof contractions / sizeof contractions[0] && end == i; c++)
                if (match_fold(s, n, i, contractions[c])) end = i + strlen(contractions[c]);
        }
        if (end == i) {
            if (is_letter(s[i])) {
                while (end < n && is_letter(s[end])) end++;
            } else if (is_number(s[i])) {
                end = i + 1;
            } else if (!is_ws_regex(s[i]) && s[i] != 0x345) {
                // U+0345 matches neither [\p{L}] nor, under IGNORECASE, the negated class
                // (it folds to a Greek iota), so `regex` skips it like whitespace.
                while (end < n && !is_ws_regex(s[end]) && !is_letter(s[end]) && !is_number(s[end]) && s[end] != 0x345)
                    end++;
            }
        }
        if (end == i) { i++; continue; } // whitespace (or U+0345): no token
        if (match_exact(s, n, i, k_bos_str) && end - i == strlen(k_bos_str)) sink_push(sink, CLIP_BOS_ID);
        else if (match_exact(s, n, i, k_eos_str) && end - i == strlen(k_eos_str)) sink_push(sink, CLIP_EOS_ID);
        else {
            bytes.n = 0;
            utf8_encode(s + i, end - i, &bytes);
            if (bytes.oom) st = sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory tokenizing");
            else st = bpe_piece(tok, bytes.v, bytes.n, sink);
        }
        i = end;
    }
    free(bytes.v);
    return st;
}

static SdlStatus encode_piece(ClipTokenizer *tok, const uint32_t *s, size_t n, IdSink *sink) {
    if (n == 0) return SDL_OK;
    CpBuf clean = {0};
    clean_piece(s, n, &clean);
    SdlStatus st = clean.oom ? sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory cleaning a prompt")
                             : encode_clean(tok, clean.v, clean.n, sink);
    free(clean.v);
    return st;
}

SdlStatus clip_tokenize_len(ClipTokenizer *tok, const char *text, size_t len,
                            int32_t *ids, size_t cap, size_t *n_ids) {
    *n_ids = 0;
    CpBuf cps = {0};
    utf8_decode((const uint8_t *)text, len, &cps);
    if (cps.oom) {
        free(cps.v);
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory decoding a %zu-byte prompt", len);
    }
    IdSink sink = {ids, ids ? cap : 0, 0};
    SdlStatus st = SDL_OK;
    size_t start = 0;
    // transformers first splits on the special tokens' exact text; the pieces between them
    // are cleaned and tokenized independently.
    for (size_t i = 0; i < cps.n && st == SDL_OK;) {
        int32_t special = -1;
        size_t L = 0;
        if (cps.v[i] == '<') {
            if (match_exact(cps.v, cps.n, i, k_bos_str)) { special = CLIP_BOS_ID; L = strlen(k_bos_str); }
            else if (match_exact(cps.v, cps.n, i, k_eos_str)) { special = CLIP_EOS_ID; L = strlen(k_eos_str); }
        }
        if (special < 0) { i++; continue; }
        st = encode_piece(tok, cps.v + start, i - start, &sink);
        sink_push(&sink, special);
        i += L;
        start = i;
    }
    if (st == SDL_OK) st = encode_piece(tok, cps.v + start, cps.n - start, &sink);
    free(cps.v);
    *n_ids = sink.n;
    return st;
}

SdlStatus clip_tokenize(ClipTokenizer *tok, const char *text, int32_t *ids, size_t cap, size_t *n_ids) {
    return clip_tokenize_len(tok, text, strlen(text), ids, cap, n_ids);
}

SdlStatus clip_tokenize_padded(ClipTokenizer *tok, const char *text, int32_t pad_id,
                               int32_t ids[CLIP_CONTEXT_LEN]) {
    size_t n = 0;
    SDL_TRY(clip_tokenize(tok, text, ids + 1, CLIP_CHUNK_TOKENS, &n));
    if (n > CLIP_CHUNK_TOKENS) n = CLIP_CHUNK_TOKENS; // truncation keeps BOS + 75 + EOS
    ids[0] = CLIP_BOS_ID;
    ids[n + 1] = CLIP_EOS_ID;
    for (size_t i = n + 2; i < CLIP_CONTEXT_LEN; i++) ids[i] = pad_id;
    return SDL_OK;
}

const char *clip_token_str(const ClipTokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= CLIP_VOCAB_SIZE) return NULL;
    return tok->strs + tok->str_off[id];
}

// ---------------------------------------------------------------------------------------------
// Loading

// Inflates a gzip member into a malloc'd buffer (zlib checks the CRC and length trailer).
static SdlStatus gunzip(const uint8_t *src, size_t n, const char *what, char **out, size_t *out_n) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return sdl_fail(SDL_ERR_OOM, what, NULL, "zlib inflateInit2 failed");
    size_t cap = 4u << 20, len = 0;
    char *buf = malloc(cap);
    if (!buf) { inflateEnd(&zs); return sdl_fail(SDL_ERR_OOM, what, NULL, "out of memory inflating"); }
    zs.next_in = (Bytef *)(uintptr_t)src;
    int rc = Z_OK;
    size_t fed = 0;
    while (rc != Z_STREAM_END) {
        if (zs.avail_in == 0 && fed < n) {
            size_t chunk = n - fed > UINT_MAX ? UINT_MAX : n - fed;
            zs.next_in = (Bytef *)(uintptr_t)(src + fed);
            zs.avail_in = (uInt)chunk;
            fed += chunk;
        }
        if (len == cap) {
            char *nb = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!nb) { free(buf); inflateEnd(&zs); return sdl_fail(SDL_ERR_OOM, what, NULL, "out of memory inflating"); }
            buf = nb;
            cap *= 2;
        }
        size_t room = cap - len > UINT_MAX ? UINT_MAX : cap - len;
        zs.next_out = (Bytef *)(buf + len);
        zs.avail_out = (uInt)room;
        rc = inflate(&zs, Z_NO_FLUSH);
        len += room - zs.avail_out;
        if (rc == Z_BUF_ERROR && zs.avail_in == 0 && fed == n) break; // truncated input
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) break;
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return sdl_fail(SDL_ERR_FORMAT, what, "the vocabulary file is damaged; restore it from the sdlora source",
                        "gzip data is corrupt or truncated (zlib status %d)", rc);
    }
    *out = buf;
    *out_n = len;
    return SDL_OK;
}

// Token-string map used only while loading.
typedef struct { int32_t *slot; const ClipTokenizer *tok; } StrMap;

static uint32_t str_slot(const StrMap *m, const char *s, size_t n) {
    uint32_t h = (uint32_t)fnv1a((const uint8_t *)s, n) & (STR_SLOTS - 1);
    for (;; h = (h + 1) & (STR_SLOTS - 1)) {
        int32_t id = m->slot[h];
        if (id < 0) return h;
        const char *t = m->tok->strs + m->tok->str_off[id];
        if (strlen(t) == n && memcmp(t, s, n) == 0) return h;
    }
}

static int32_t str_find(const StrMap *m, const char *s, size_t n) { return m->slot[str_slot(m, s, n)]; }

static void str_insert(StrMap *m, int32_t id) {
    const char *s = m->tok->strs + m->tok->str_off[id];
    uint32_t h = str_slot(m, s, strlen(s));
    if (m->slot[h] < 0) m->slot[h] = id; // a duplicate string keeps its first id
}

static void append_str(char *strs, size_t *pos, const char *s, size_t n) {
    memcpy(strs + *pos, s, n);
    *pos += n;
}

// Builds the vocabulary and merge table from the merges text (header line + merges).
static SdlStatus build_from_text(ClipTokenizer *tok, const char *text, size_t len, const char *what) {
    // bytes_to_unicode: printable bytes keep their code point; the rest map to U+0100.. in order.
    uint32_t byte_char[256];
    int32_t next = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) tok->byte_id[b] = next++;
    for (int b = 0, extra = 0; b < 256; b++) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        if (printable) byte_char[b] = (uint32_t)b;
        else { byte_char[b] = 256u + (uint32_t)extra++; tok->byte_id[b] = next++; }
    }

    // Line index: skip the header, then exactly CLIP_N_MERGES merge lines.
    const char *p = memchr(text, '\n', len);
    if (!p) return sdl_fail(SDL_ERR_FORMAT, what, NULL, "no header line in the merges file");
    p++;
    const char *end = text + len;
    const char **line = malloc(CLIP_N_MERGES * sizeof *line);
    size_t *line_len = malloc(CLIP_N_MERGES * sizeof *line_len);
    // Strings: 512 byte tokens (<= 2+4 bytes each), merges (<= line length), 2 specials.
    size_t strs_cap = 512 * 8 + 64 + (size_t)(end - p) + CLIP_N_MERGES;
    tok->strs = malloc(strs_cap);
    StrMap map = {malloc(STR_SLOTS * sizeof(int32_t)), tok};
    SdlStatus st = SDL_OK;
    if (!line || !line_len || !tok->strs || !map.slot) {
        st = sdl_fail(SDL_ERR_OOM, what, NULL, "out of memory loading the CLIP vocabulary");
        goto done;
    }
    for (size_t r = 0; r < CLIP_N_MERGES; r++) {
        if (p >= end) {
            st = sdl_fail(SDL_ERR_FORMAT, what, "use CLIP's bpe_simple_vocab_16e6.txt.gz or a tokenizer/merges.txt",
                          "only %zu merge lines; CLIP needs %d", r, CLIP_N_MERGES);
            goto done;
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        line[r] = p;
        line_len[r] = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
        p = nl ? nl + 1 : end;
    }

    size_t pos = 0;
    for (int k = 0; k < 512; k++) {
        int b = 0;
        while (tok->byte_id[b] != k % 256) b++;
        tok->str_off[k] = (uint32_t)pos;
        uint32_t c = byte_char[b]; // < U+0200: one or two UTF-8 bytes
        if (c < 0x80) tok->strs[pos++] = (char)c;
        else { tok->strs[pos++] = (char)(0xC0 | (c >> 6)); tok->strs[pos++] = (char)(0x80 | (c & 0x3F)); }
        if (k >= 256) append_str(tok->strs, &pos, "</w>", 4);
        tok->strs[pos++] = '\0';
    }
    for (size_t i = 0; i < STR_SLOTS; i++) map.slot[i] = -1;
    for (int32_t k = 0; k < 512; k++) str_insert(&map, k);
    for (size_t i = 0; i < PAIR_SLOTS; i++) tok->pair_key[i] = UINT32_MAX;

    for (size_t r = 0; r < CLIP_N_MERGES; r++) {
        const char *l = line[r];
        size_t n = line_len[r];
        const char *sp = memchr(l, ' ', n);
        size_t na = sp ? (size_t)(sp - l) : 0, nb = sp ? n - na - 1 : 0;
        if (!sp || na == 0 || nb == 0 || memchr(sp + 1, ' ', nb)) {
            st = sdl_fail(SDL_ERR_FORMAT, what, NULL, "merge line %zu is not \"first second\"", r + 2);
            goto done;
        }
        int32_t a = str_find(&map, l, na), b = str_find(&map, sp + 1, nb);
        if (a < 0 || b < 0) {
            st = sdl_fail(SDL_ERR_FORMAT, what, NULL, "merge line %zu uses a token no earlier merge made", r + 2);
            goto done;
        }
        int32_t id = 512 + (int32_t)r;
        tok->str_off[id] = (uint32_t)pos;
        append_str(tok->strs, &pos, l, na);
        append_str(tok->strs, &pos, sp + 1, nb);
        tok->strs[pos++] = '\0';
        str_insert(&map, id);
        uint32_t key = (uint32_t)a << 16 | (uint32_t)b, h = pair_hash(key);
        while (tok->pair_key[h] != UINT32_MAX && tok->pair_key[h] != key) h = (h + 1) & (PAIR_SLOTS - 1);
        tok->pair_key[h] = key; // a repeated pair takes the later rank, as a Python dict would
        tok->pair_rank[h] = (int32_t)r;
    }
    tok->str_off[CLIP_BOS_ID] = (uint32_t)pos;
    append_str(tok->strs, &pos, k_bos_str, sizeof k_bos_str);
    tok->str_off[CLIP_EOS_ID] = (uint32_t)pos;
    append_str(tok->strs, &pos, k_eos_str, sizeof k_eos_str);
    SDL_ASSERT(pos <= strs_cap);
done:
    free(line);
    free(line_len);
    free(map.slot);
    return st;
}

static SdlStatus load_from_bytes(const uint8_t *data, size_t n, const char *what, ClipTokenizer **out) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    bool gz = n >= 2 && data[0] == 0x1F && data[1] == 0x8B;
    if (gz) SDL_TRY(gunzip(data, n, what, &text, &len));
    ClipTokenizer *tok = calloc(1, sizeof *tok);
    if (tok) {
        tok->pair_key = malloc(PAIR_SLOTS * sizeof *tok->pair_key);
        tok->pair_rank = malloc(PAIR_SLOTS * sizeof *tok->pair_rank);
        tok->cache = calloc(CACHE_SLOTS, sizeof *tok->cache);
    }
    if (!tok || !tok->pair_key || !tok->pair_rank || !tok->cache) {
        free(text);
        clip_tokenizer_free(tok);
        return sdl_fail(SDL_ERR_OOM, what, NULL, "out of memory loading the CLIP vocabulary");
    }
    SdlStatus st = build_from_text(tok, gz ? text : (const char *)data, gz ? len : n, what);
    free(text);
    if (st != SDL_OK) {
        clip_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return SDL_OK;
}

SdlStatus clip_tokenizer_load(ClipTokenizer **out) {
    return load_from_bytes(sdl_clip_vocab_gz, (size_t)sdl_clip_vocab_gz_size,
                           "(embedded) data/clip/bpe_simple_vocab_16e6.txt.gz", out);
}

SdlStatus clip_tokenizer_load_file(const char *path, ClipTokenizer **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sdl_fail(SDL_ERR_IO, path, "check the path", "cannot open the merges file");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (!grow((void **)&buf, &cap, n + 65536, 1)) {
            fclose(f);
            free(buf);
            return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory reading the merges file");
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return sdl_fail(SDL_ERR_IO, path, NULL, "read error");
    }
    SdlStatus st = load_from_bytes(buf, n, path, out);
    free(buf);
    return st;
}

void clip_tokenizer_free(ClipTokenizer *tok) {
    if (!tok) return;
    free(tok->strs);
    free(tok->pair_key);
    free(tok->pair_rank);
    free(tok->work);
    free(tok->cache);
    free(tok->cache_keys);
    free(tok->cache_vals);
    free(tok);
}
