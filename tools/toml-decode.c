// toml-decode — the toml-test decoder protocol over src/io/toml.c: reads TOML from stdin (or
// the file named as the only argument), prints it as toml-test's tagged JSON on stdout and
// exits 0; on invalid TOML prints the error on stderr and exits 1.
//
// Tagged JSON: tables are objects, arrays are arrays, every scalar is
// {"type": T, "value": V} with V a string and T one of string, integer, float, bool,
// datetime, datetime-local, date-local, time-local. Used by tests/check_toml_test.sh.
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/toml.h"

// A JSON string literal; TOML strings may hold U+0000, so the length is explicit.
static void put_json_string(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
            else fputc(c, f); // UTF-8 passes through (the parser validated it)
        }
    }
    fputc('"', f);
}

static void put_tagged(FILE *f, const char *type, const char *value) {
    fprintf(f, "{\"type\":\"%s\",\"value\":", type);
    put_json_string(f, value, strlen(value));
    fputc('}', f);
}

// The shortest decimal that reads back as exactly x.
static void format_float(double x, char *buf, size_t cap) {
    if (isnan(x)) snprintf(buf, cap, "nan");
    else if (isinf(x)) snprintf(buf, cap, x < 0 ? "-inf" : "inf");
    else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, cap, "%.*g", prec, x);
            if (strtod(buf, NULL) == x) break;
        }
    }
}

static void put_value(FILE *f, const TomlValue *v) {
    char buf[64];
    switch (toml_kind(v)) {
    case TOML_TABLE:
        fputc('{', f);
        for (size_t i = 0; i < toml_table_len(v); i++) {
            size_t n;
            const char *k = toml_table_key_at(v, i, &n);
            if (i) fputc(',', f);
            put_json_string(f, k, n);
            fputc(':', f);
            put_value(f, toml_table_value_at(v, i));
        }
        fputc('}', f);
        break;
    case TOML_ARRAY:
        fputc('[', f);
        for (size_t i = 0; i < toml_array_len(v); i++) {
            if (i) fputc(',', f);
            put_value(f, toml_array_at(v, i));
        }
        fputc(']', f);
        break;
    case TOML_STRING: {
        size_t n;
        const char *s = toml_as_string(v, &n);
        fputs("{\"type\":\"string\",\"value\":", f);
        put_json_string(f, s, n);
        fputc('}', f);
        break;
    }
    case TOML_INTEGER: {
        int64_t i = 0;
        toml_as_int(v, &i);
        snprintf(buf, sizeof buf, "%" PRId64, i);
        put_tagged(f, "integer", buf);
        break;
    }
    case TOML_FLOAT: {
        double x = 0;
        toml_as_float(v, &x);
        format_float(x, buf, sizeof buf);
        put_tagged(f, "float", buf);
        break;
    }
    case TOML_BOOL: {
        bool b = false;
        toml_as_bool(v, &b);
        put_tagged(f, "bool", b ? "true" : "false");
        break;
    }
    case TOML_OFFSET_DATETIME:
    case TOML_LOCAL_DATETIME:
    case TOML_LOCAL_DATE:
    case TOML_LOCAL_TIME: {
        // RFC 3339 spelling as toml-test writes it: 'T' between date and time, upper-case 'Z'.
        const char *text = toml_datetime_text(v);
        size_t n = strlen(text);
        char *s = malloc(n + 1);
        if (!s) {
            fputs("toml-decode: out of memory\n", stderr);
            exit(2);
        }
        memcpy(s, text, n + 1);
        TomlKind kind = toml_kind(v);
        if (kind == TOML_OFFSET_DATETIME || kind == TOML_LOCAL_DATETIME) s[10] = 'T';
        if (n && s[n - 1] == 'z') s[n - 1] = 'Z';
        const char *type = kind == TOML_OFFSET_DATETIME  ? "datetime"
                           : kind == TOML_LOCAL_DATETIME ? "datetime-local"
                           : kind == TOML_LOCAL_DATE     ? "date-local"
                                                         : "time-local";
        put_tagged(f, type, s);
        free(s);
        break;
    }
    }
}

int main(int argc, char **argv) {
    if (argc > 2 || (argc == 2 && argv[1][0] == '-' && argv[1][1])) {
        fprintf(stderr, "usage: toml-decode [FILE] < input.toml > output.json\n");
        return 2;
    }
    TomlValue *root;
    SdlStatus st;
    if (argc == 2 && strcmp(argv[1], "-") != 0) {
        st = toml_parse_file(argv[1], &root);
    } else {
        char *buf = NULL;
        size_t len = 0, cap = 0, n;
        for (;;) {
            if (cap - len < 65536) {
                cap = cap ? 2 * cap : 65536;
                char *nb = realloc(buf, cap);
                if (!nb) {
                    fputs("toml-decode: out of memory\n", stderr);
                    return 2;
                }
                buf = nb;
            }
            n = fread(buf + len, 1, cap - len, stdin);
            if (n == 0) break;
            len += n;
        }
        if (ferror(stdin)) {
            perror("toml-decode: reading stdin");
            return 2;
        }
        st = toml_parse(buf, len, "<stdin>", &root);
        free(buf);
    }
    if (st != SDL_OK) {
        sdl_error_print(stderr);
        return 1;
    }
    put_value(stdout, root);
    fputc('\n', stdout);
    toml_free(root);
    return fflush(stdout) == 0 ? 0 : 2;
}
