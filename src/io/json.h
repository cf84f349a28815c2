// json.h — small JSON helpers shared by sdlora's readers and writers (parsing itself is cJSON's):
// a growable output buffer that writes JSON strings escaped exactly as serde_json / Python's
// safetensors do (\" \\ \b \f \n \r \t, other control characters as \u00xx in lower-case hex,
// everything else — DEL and UTF-8 included — as is), and a strict UTF-8 decoder step.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;  // NUL-terminated while !oom
    size_t len, cap;
    int oom;     // sticky: set when an allocation failed; later appends do nothing
} JsonBuf;

void json_buf_init(JsonBuf *b);
void json_buf_free(JsonBuf *b);
void json_buf_append(JsonBuf *b, const void *bytes, size_t n);
void json_buf_puts(JsonBuf *b, const char *s);
void json_buf_putc(JsonBuf *b, char c);
void json_buf_u64(JsonBuf *b, uint64_t v);        // decimal, no sign, no leading zeros
void json_buf_string(JsonBuf *b, const char *s);  // "..." with escapes; s must be valid UTF-8

// Length (1-4) of the well-formed UTF-8 sequence at s (avail bytes readable), or 0 when it is
// malformed: overlong forms, surrogates (U+D800..DFFF), code points above U+10FFFF, truncation.
size_t json_utf8_seq_len(const unsigned char *s, size_t avail);
// 1 if s[0..n) is well-formed UTF-8; else 0 and *bad_offset (if not NULL) = first bad byte.
int json_utf8_valid(const char *s, size_t n, size_t *bad_offset);
