// json.c — see json.h.
#include "io/json.h"
#include <stdlib.h>
#include <string.h>

void json_buf_init(JsonBuf *b) { memset(b, 0, sizeof *b); }

void json_buf_free(JsonBuf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int json_buf_reserve(JsonBuf *b, size_t extra) {
    if (b->oom) return 0;
    if (extra > SIZE_MAX - 1 - b->len) { b->oom = 1; return 0; }
    size_t need = b->len + extra + 1; // + NUL
    if (need <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) { b->oom = 1; return 0; }
    b->data = p;
    b->cap = cap;
    return 1;
}

void json_buf_append(JsonBuf *b, const void *bytes, size_t n) {
    if (!json_buf_reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void json_buf_puts(JsonBuf *b, const char *s) { json_buf_append(b, s, strlen(s)); }
void json_buf_putc(JsonBuf *b, char c) { json_buf_append(b, &c, 1); }

void json_buf_u64(JsonBuf *b, uint64_t v) {
    char tmp[24];
    size_t i = sizeof tmp;
    do { tmp[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    json_buf_append(b, tmp + i, sizeof tmp - i);
}

void json_buf_string(JsonBuf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    json_buf_putc(b, '"');
    const char *run = s; // copy unescaped runs in one go
    for (;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != 0 && c >= 0x20 && c != '"' && c != '\\') continue;
        json_buf_append(b, run, (size_t)(s - run));
        if (c == 0) break;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
            n = 6;
        }
        json_buf_append(b, esc, n);
        run = s + 1;
    }
    json_buf_putc(b, '"');
}

size_t json_utf8_seq_len(const unsigned char *s, size_t avail) {
    if (avail == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;       // overlong
        else if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;       // overlong
        else if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else return 0;                    // continuation byte, 0xc0/0xc1 overlong, 0xf5+
    if (avail < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return len;
}

int json_utf8_valid(const char *s, size_t n, size_t *bad_offset) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        size_t len = json_utf8_seq_len(u + i, n - i);
        if (!len) {
            if (bad_offset) *bad_offset = i;
            return 0;
        }
        i += len;
    }
    return 1;
}
