// test_toml.c — unit tests of the TOML API (src/io/toml.h): the tree for a kohya-style dataset
// config, insertion order, accessors (and their NULL/kind safety), strings, numbers, dates,
// line numbers, error records (file, "line L, column C", reason, hint), a missing file, big
// tables (hash index), the nesting limit, and a mutation fuzz over the toml-test corpus.
// Conformance to the spec itself is tests/check_toml_test.sh (toml-test suite).
#include "harness.h"
#include "io/toml.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static TomlValue *parse_ok(const char *text) {
    TomlValue *root = NULL;
    SdlStatus st = toml_parse(text, strlen(text), "test.toml", &root);
    if (st != SDL_OK) {
        fprintf(stderr, "  unexpected parse failure: ");
        sdl_error_print(stderr);
    }
    return root;
}

// Parses text that must fail; returns the error record (NULL if it parsed).
static const SdlError *parse_err(const char *text) {
    TomlValue *root = NULL;
    sdl_error_clear();
    SdlStatus st = toml_parse(text, strlen(text), "bad.toml", &root);
    if (st == SDL_OK) {
        toml_free(root);
        return NULL;
    }
    CHECK(root == NULL);
    return sdl_last_error();
}

static bool streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static bool kind_is(const TomlValue *v, TomlKind k) { return v && toml_kind(v) == k; }

static bool str_is(const TomlValue *v, const char *want) {
    const char *s = toml_as_string(v, NULL);
    return s && strcmp(s, want) == 0;
}

static void test_dataset_config(void) {
    const char *text =
        "# kohya dataset config\n"                      // 1
        "[general]\n"                                   // 2
        "shuffle_caption = true\n"                      // 3
        "caption_extension = '.txt'\n"                  // 4
        "keep_tokens = 1\n"                             // 5
        "\n"                                            // 6
        "[[datasets]]\n"                                // 7
        "resolution = [768, 512]\n"                     // 8
        "batch_size = 2\n"                              // 9
        "\n"                                            // 10
        "  [[datasets.subsets]]\n"                      // 11
        "  image_dir = 'C:\\hoge'\n"                    // 12
        "  num_repeats = 10\n"                          // 13
        "\n"                                            // 14
        "  [[datasets.subsets]]\n"                      // 15
        "  image_dir = \"/data/fuga\"\n"                // 16
        "  class_tokens = \"fuga girl\"\n"              // 17
        "  caption_dropout_rate = 0.05\n";              // 18
    TomlValue *root = parse_ok(text);
    CHECK(root != NULL);
    if (!root) return;
    CHECK(kind_is(root, TOML_TABLE));
    CHECK(toml_table_len(root) == 2);
    CHECK(streq(toml_table_key_at(root, 0, NULL), "general"));
    CHECK(streq(toml_table_key_at(root, 1, NULL), "datasets"));

    const TomlValue *g = toml_table_get(root, "general");
    CHECK(kind_is(g, TOML_TABLE) && toml_line(g) == 2);
    bool b = false;
    CHECK(toml_as_bool(toml_table_get(g, "shuffle_caption"), &b) && b);
    CHECK(str_is(toml_table_get(g, "caption_extension"), ".txt"));
    int64_t i = 0;
    CHECK(toml_as_int(toml_table_get(g, "keep_tokens"), &i) && i == 1);
    CHECK(toml_line(toml_table_get(g, "keep_tokens")) == 5);

    const TomlValue *ds = toml_table_get(root, "datasets");
    CHECK(kind_is(ds, TOML_ARRAY) && toml_array_len(ds) == 1);
    const TomlValue *d0 = toml_array_at(ds, 0);
    CHECK(toml_line(d0) == 7);
    const TomlValue *res = toml_table_get(d0, "resolution");
    CHECK(toml_array_len(res) == 2);
    CHECK(toml_as_int(toml_array_at(res, 0), &i) && i == 768);
    CHECK(toml_as_int(toml_array_at(res, 1), &i) && i == 512);
    CHECK(toml_array_at(res, 2) == NULL);

    const TomlValue *subs = toml_table_get(d0, "subsets");
    CHECK(toml_array_len(subs) == 2);
    const TomlValue *s0 = toml_array_at(subs, 0), *s1 = toml_array_at(subs, 1);
    CHECK(toml_line(s0) == 11 && toml_line(s1) == 15);
    CHECK(str_is(toml_table_get(s0, "image_dir"), "C:\\hoge")); // literal string: no escapes
    CHECK(str_is(toml_table_get(s1, "image_dir"), "/data/fuga"));
    CHECK(toml_line(toml_table_get(s1, "class_tokens")) == 17);
    double x = 0;
    CHECK(toml_as_float(toml_table_get(s1, "caption_dropout_rate"), &x) && x == 0.05);
    CHECK(toml_as_number(toml_table_get(s0, "num_repeats"), &x) && x == 10.0); // int as number
    CHECK(!toml_as_float(toml_table_get(s0, "num_repeats"), &x));             // but not as float
    // Insertion order within a table.
    const char *want[] = {"image_dir", "class_tokens", "caption_dropout_rate"};
    CHECK(toml_table_len(s1) == 3);
    for (size_t k = 0; k < 3; k++) CHECKF(streq(toml_table_key_at(s1, k, NULL), want[k]), "key %zu", k);
    toml_free(root);
}

static void test_accessors_null_and_kind_safe(void) {
    TomlValue *root = parse_ok("s = 'x'\nn = 3\n");
    CHECK(root != NULL);
    if (!root) return;
    const TomlValue *s = toml_table_get(root, "s");
    int64_t i = 7;
    double f = 7;
    bool b = true;
    CHECK(!toml_as_int(s, &i) && i == 7);
    CHECK(!toml_as_float(s, &f) && !toml_as_number(s, &f) && f == 7);
    CHECK(!toml_as_bool(s, &b) && b);
    CHECK(toml_as_datetime(s) == NULL && toml_datetime_text(s) == NULL);
    CHECK(toml_as_string(toml_table_get(root, "n"), NULL) == NULL);
    CHECK(toml_table_get(root, "missing") == NULL);
    CHECK(toml_table_get(s, "x") == NULL);          // not a table
    CHECK(toml_table_get(NULL, "x") == NULL);
    CHECK(toml_table_get(toml_table_get(root, "a"), "b") == NULL); // chains through NULL
    CHECK(toml_table_len(NULL) == 0 && toml_array_len(s) == 0 && toml_array_at(NULL, 0) == NULL);
    CHECK(toml_table_key_at(root, 2, NULL) == NULL && toml_table_value_at(root, 2) == NULL);
    CHECK(toml_line(NULL) == 0);
    CHECK(streq(toml_kind_name(TOML_LOCAL_DATE), "local date"));
    toml_free(root);
    toml_free(NULL);
}

static void test_strings(void) {
    const char *text =
        "basic = \"tab\\tquote\\\" \\u00e9 \\U0001F600 nul\\u0000end\"\n"
        "ml = \"\"\"\nfirst\\\n     second \\\r\n\r\n  third\r\nlast\"\"\"\n"
        "lit = '''\nC:\\x\\y ''quoted'' '''''\n"
        "\"quoted key\" = 1\n"
        "'' = 'empty key'\n";
    TomlValue *root = parse_ok(text);
    CHECK(root != NULL);
    if (!root) return;
    size_t n = 0;
    const char *s = toml_as_string(toml_table_get(root, "basic"), &n);
    const char want[] = "tab\tquote\" \xC3\xA9 \xF0\x9F\x98\x80 nul\0end";
    CHECK(s && n == sizeof want - 1 && memcmp(s, want, n) == 0);
    // Trimmed first newline, line-ending backslashes, CRLF stored as LF.
    CHECK(str_is(toml_table_get(root, "ml"), "firstsecond third\nlast"));
    CHECK(str_is(toml_table_get(root, "lit"), "C:\\x\\y ''quoted'' ''"));
    CHECK(toml_table_get(root, "quoted key") != NULL);
    CHECK(str_is(toml_table_get_n(root, "", 0), "empty key"));
    toml_free(root);

    // Escapes that are not Unicode scalar values, and unknown escapes.
    CHECK(parse_err("a = \"\\uD800\"\n") != NULL);
    CHECK(parse_err("a = \"\\U00110000\"\n") != NULL);
    CHECK(parse_err("a = \"\\x41\"\n") != NULL);
    CHECK(parse_err("a = \"\\e\"\n") != NULL); // TOML 1.1 only
    CHECK(parse_err("a = 'no\nclose'\n") != NULL);
}

static void test_numbers(void) {
    TomlValue *root = parse_ok("max = 9_223_372_036_854_775_807\nmin = -9223372036854775808\n"
                               "hex = 0xDEAD_beef\noct = 0o755\nbin = 0b1101\n"
                               "f1 = 6.626e-34\nf2 = -1_000.5\npinf = +inf\nninf = -inf\nnan = -nan\nnz = -0.0\n");
    CHECK(root != NULL);
    if (!root) return;
    int64_t i = 0;
    CHECK(toml_as_int(toml_table_get(root, "max"), &i) && i == INT64_MAX);
    CHECK(toml_as_int(toml_table_get(root, "min"), &i) && i == INT64_MIN);
    CHECK(toml_as_int(toml_table_get(root, "hex"), &i) && i == 0xDEADBEEF);
    CHECK(toml_as_int(toml_table_get(root, "oct"), &i) && i == 0755);
    CHECK(toml_as_int(toml_table_get(root, "bin"), &i) && i == 13);
    double f = 0;
    CHECK(toml_as_float(toml_table_get(root, "f1"), &f) && f == 6.626e-34);
    CHECK(toml_as_float(toml_table_get(root, "f2"), &f) && f == -1000.5);
    CHECK(toml_as_float(toml_table_get(root, "pinf"), &f) && isinf(f) && f > 0);
    CHECK(toml_as_float(toml_table_get(root, "ninf"), &f) && isinf(f) && f < 0);
    CHECK(toml_as_float(toml_table_get(root, "nan"), &f) && isnan(f));
    CHECK(toml_as_float(toml_table_get(root, "nz"), &f) && f == 0 && signbit(f));
    toml_free(root);

    const SdlError *e = parse_err("a = 9223372036854775808\n");
    CHECK(e && strstr(e->reason, "64-bit"));
    CHECK(parse_err("a = -9223372036854775809\n") != NULL);
    CHECK(parse_err("a = 0x8000000000000000\n") != NULL);
    CHECK(parse_err("a = 0xffffffffffffffffff\n") != NULL);
    e = parse_err("a = 012\n");
    CHECK(e && strstr(e->reason, "leading zeros"));
    CHECK(parse_err("a = 1__0\n") != NULL);
    CHECK(parse_err("a = 1.\n") != NULL);
    CHECK(parse_err("a = .5\n") != NULL);
    CHECK(parse_err("a = Inf\n") != NULL);
}

static void test_datetimes(void) {
    TomlValue *root = parse_ok("odt = 1979-05-27 00:32:00.123456789123-07:30\nldt = 2024-02-29t23:59:60\n"
                               "ld = 2000-02-29\nlt = 07:32:00.5\nz = 1987-07-05T17:45:00z\n");
    CHECK(root != NULL);
    if (!root) return;
    const TomlValue *odt = toml_table_get(root, "odt");
    CHECK(kind_is(odt, TOML_OFFSET_DATETIME));
    const TomlDatetime *d = toml_as_datetime(odt);
    CHECK(d && d->year == 1979 && d->month == 5 && d->day == 27 && d->hour == 0 && d->minute == 32 && d->second == 0);
    CHECK(d && d->nanosecond == 123456789 && d->offset_minutes == -(7 * 60 + 30)); // truncated, not rounded
    CHECK(streq(toml_datetime_text(odt), "1979-05-27 00:32:00.123456789123-07:30"));
    CHECK(kind_is(toml_table_get(root, "ldt"), TOML_LOCAL_DATETIME));
    CHECK(kind_is(toml_table_get(root, "ld"), TOML_LOCAL_DATE));
    const TomlValue *lt = toml_table_get(root, "lt");
    CHECK(kind_is(lt, TOML_LOCAL_TIME));
    d = toml_as_datetime(lt);
    CHECK(d && d->nanosecond == 500000000 && d->hour == 7 && d->year == 0);
    d = toml_as_datetime(toml_table_get(root, "z"));
    CHECK(d && d->offset_minutes == 0 && d->hour == 17);
    toml_free(root);

    const SdlError *e = parse_err("a = 2023-02-29\n"); // not a leap year
    CHECK(e && strstr(e->reason, "no day 29"));
    CHECK(parse_err("a = 1900-02-29\n") != NULL);
    CHECK(parse_err("a = 2023-04-31\n") != NULL);
    CHECK(parse_err("a = 12:30\n") != NULL);          // seconds required in 1.0
    CHECK(parse_err("a = 1979-05-27T07:32:00+24:00\n") != NULL);
}

static void test_tables_and_redefinition(void) {
    TomlValue *root = parse_ok("a.b.c = 1\na.b.d = 2\n[x.y]\nz = 3\n[x]\nw = 4\n[a.b.e]\nf = 5\n");
    CHECK(root != NULL);
    if (root) {
        const TomlValue *ab = toml_table_get(toml_table_get(root, "a"), "b");
        CHECK(toml_table_len(ab) == 3);
        CHECK(toml_line(ab) == 1);
        const TomlValue *x = toml_table_get(root, "x");
        CHECK(toml_line(x) == 5); // the [x] header defines it, not the [x.y] that named it first
        CHECK(streq(toml_table_key_at(x, 0, NULL), "y") && streq(toml_table_key_at(x, 1, NULL), "w"));
        toml_free(root);
    }
    const char *bad[] = {
        "[a]\n[a]\n", "a = 1\na = 2\n", "a = {b = 1}\n[a]\n", "a = {b = 1}\na.c = 2\n", "a = [1]\n[[a]]\n",
        "[a.b]\n[a]\nb.c = 1\n", "a.b = 1\n[a]\n", "[[a]]\n[a]\n", "a = 1\n[a.b]\n",
        "[a]\nb.c = 1\n[x]\n[a.b]\n",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) CHECKF(parse_err(bad[k]) != NULL, "accepted: %s", bad[k]);
}

static void test_error_record(void) {
    const SdlError *e = parse_err("name = 'a'\n[t]\nname = 2\n");
    CHECK(e == NULL); // the same key in different tables: fine
    e = parse_err("name = 'a'\nother = 1\n  name = 2\n");
    CHECK(e != NULL);
    if (!e) return;
    CHECK(e->status == SDL_ERR_FORMAT);
    CHECK(strcmp(e->file, "bad.toml") == 0);
    CHECKF(strstr(e->reason, "line 3, column 3") != NULL, "%s", e->reason);
    CHECKF(strstr(e->reason, "duplicate key 'name'") && strstr(e->reason, "line 1"), "%s", e->reason);
    CHECK(e->hint[0] != '\0');

    // Columns count characters, not bytes: the backslash is the 8th character.
    e = parse_err("k = \"\xC3\xA9\xC3\xA9\\q\"\n");
    CHECKF(e && strstr(e->reason, "line 1, column 8"), "%s", e ? e->reason : "(parsed)");
    // Lines count CRLF line ends too.
    e = parse_err("a = 1\r\nb = 2\r\nc = @\r\n");
    CHECKF(e && strstr(e->reason, "line 3, column 5"), "%s", e ? e->reason : "(parsed)");
    e = parse_err("a = 1\rb = 2\n");
    CHECKF(e && strstr(e->reason, "carriage return"), "%s", e ? e->reason : "(parsed)");
    e = parse_err("a = 'ok'\nb = '\xC0\xAF'\n"); // overlong UTF-8
    CHECKF(e && strstr(e->reason, "line 2") && strstr(e->reason, "UTF-8"), "%s", e ? e->reason : "(parsed)");
    // Long or odd keys are cut short and escaped in messages (the buffer must not overflow).
    char text[4096];
    size_t o = 0;
    for (int r = 0; r < 2; r++) {
        text[o++] = '[';
        for (int k = 0; k < 40; k++) o += (size_t)sprintf(text + o, "%s\"q\\\"\\u0001\"", k ? "." : "");
        o += (size_t)sprintf(text + o, "]\n");
    }
    text[o] = '\0';
    e = parse_err(text);
    CHECKF(e && strstr(e->reason, "already defined") && strstr(e->reason, "...") && strstr(e->reason, "\\u0001"), "%s",
           e ? e->reason : "(parsed)");
    e = parse_err("[a]\nx = 1\n[a]\n");
    CHECKF(e && strstr(e->reason, "line 3") && strstr(e->reason, "[a]") && strstr(e->reason, "line 1"), "%s",
           e ? e->reason : "(parsed)");
}

static void test_files(void) {
    char path[] = "/tmp/sdlora_test_toml_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    const char *text = "a = 1\nb = [1, 2,\n  3,]\nc = {\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    TomlValue *root = (TomlValue *)1;
    SdlStatus st = toml_parse_file(path, &root);
    CHECK(st == SDL_ERR_FORMAT && root == NULL);
    CHECK(strcmp(sdl_last_error()->file, path) == 0);
    CHECKF(strstr(sdl_last_error()->reason, "line 4") != NULL, "%s", sdl_last_error()->reason);

    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("\xEF\xBB\xBFok = true\n", f); // byte order mark is allowed at the start
        fclose(f);
    }
    CHECK(toml_parse_file(path, &root) == SDL_OK);
    bool b = false;
    CHECK(toml_as_bool(toml_table_get(root, "ok"), &b) && b);
    toml_free(root);
    unlink(path);

    st = toml_parse_file(path, &root); // now missing
    CHECK(st == SDL_ERR_IO && root == NULL);
    CHECK(strcmp(sdl_last_error()->file, path) == 0);
    CHECKF(strstr(sdl_last_error()->reason, "No such file") != NULL, "%s", sdl_last_error()->reason);

    // The empty document is valid.
    CHECK(toml_parse("", 0, NULL, &root) == SDL_OK && toml_table_len(root) == 0);
    toml_free(root);
}

// Enough keys for the hash index; duplicates must still be found through it.
static void test_big_table(void) {
    enum { N = 20000 };
    char *text = malloc((size_t)N * 32 + 64);
    CHECK(text != NULL);
    if (!text) return;
    size_t o = 0;
    for (int k = 0; k < N; k++) o += (size_t)sprintf(text + o, "key_%d = %d\n", k, k);
    TomlValue *root = NULL;
    CHECK(toml_parse(text, o, "big.toml", &root) == SDL_OK);
    CHECK(toml_table_len(root) == N);
    int bad = 0;
    for (int k = 0; k < N; k++) {
        char key[32];
        snprintf(key, sizeof key, "key_%d", k);
        int64_t v = -1;
        if (!toml_as_int(toml_table_get(root, key), &v) || v != k) bad++;
        if (!streq(toml_table_key_at(root, (size_t)k, NULL), key)) bad++;
    }
    CHECK(bad == 0);
    CHECK(toml_table_get(root, "key_20000") == NULL);
    toml_free(root);
    o += (size_t)sprintf(text + o, "key_12345 = 0\n");
    CHECK(toml_parse(text, o, "big.toml", &root) == SDL_ERR_FORMAT);
    CHECKF(strstr(sdl_last_error()->reason, "line 20001") != NULL, "%s", sdl_last_error()->reason);
    free(text);
}

static void test_depth_limit(void) {
    char text[2048];
    for (int depth = 200; depth <= 300; depth += 100) {
        size_t o = (size_t)sprintf(text, "a = ");
        for (int k = 0; k < depth; k++) text[o++] = '[';
        for (int k = 0; k < depth; k++) text[o++] = ']';
        text[o++] = '\n';
        TomlValue *root = NULL;
        SdlStatus st = toml_parse(text, o, "deep.toml", &root);
        if (depth == 200) CHECK(st == SDL_OK);
        else CHECK(st == SDL_ERR_FORMAT && strstr(sdl_last_error()->reason, "deeper"));
        toml_free(root);
    }
    // Deep headers count too.
    size_t o = 0;
    text[o++] = '[';
    for (int k = 0; k < 400; k++) o += (size_t)sprintf(text + o, k ? ".a" : "a");
    o += (size_t)sprintf(text + o, "]\n");
    TomlValue *root = NULL;
    CHECK(toml_parse(text, o, "deep.toml", &root) == SDL_ERR_FORMAT);
}

// Random byte edits of every valid toml-test case: the parser must either succeed or fail
// with a located SDL_ERR_FORMAT record (and never crash; run under `make asan` for memory).
static void test_mutation_fuzz(void) {
    FILE *list = fopen("tests/toml-test/files-toml-1.0.0", "r");
    CHECK(list != NULL);
    if (!list) return;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    const char alphabet[] = "[]{}=.,\"'#\\\n\r\t 0123456789_-+:eExobTZz\x7f\x00\xc3\xa9\xef\xbb\xbf";
    char line[512];
    int files = 0, parsed = 0, rejected = 0, bad = 0;
    int rounds = test_quick() ? 10 : 100;
    while (fgets(line, sizeof line, list)) {
        line[strcspn(line, "\n")] = '\0';
        size_t ll = strlen(line);
        if (strncmp(line, "valid/", 6) != 0 || ll < 5 || strcmp(line + ll - 5, ".toml") != 0) continue;
        char path[600];
        snprintf(path, sizeof path, "tests/toml-test/%s", line);
        FILE *f = fopen(path, "rb");
        if (!f) {
            bad++;
            continue;
        }
        char src[8192];
        size_t n = fread(src, 1, sizeof src, f);
        fclose(f);
        files++;
        for (int r = 0; r < rounds; r++) {
            char buf[8200];
            size_t m = n;
            memcpy(buf, src, n);
            int edits = 1 + r % 3;
            for (int k = 0; k < edits; k++) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                size_t at = m ? (size_t)(rng >> 20) % m : 0;
                char c = alphabet[(rng >> 8) % (sizeof alphabet - 1)];
                switch ((rng >> 4) % 4) {
                case 0: if (m) buf[at] = c; break;                              // replace
                case 1: if (m < sizeof buf) { memmove(buf + at + 1, buf + at, m - at); buf[at] = c; m++; } break;
                case 2: if (m) { memmove(buf + at, buf + at + 1, m - at - 1); m--; } break; // delete
                default: m = at; break;                                          // truncate
                }
            }
            TomlValue *root = NULL;
            sdl_error_clear();
            SdlStatus st = toml_parse(buf, m, "fuzz.toml", &root);
            if (st == SDL_OK) {
                parsed++;
                if (!root) bad++;
                toml_free(root);
            } else {
                rejected++;
                const SdlError *e = sdl_last_error();
                if (st != SDL_ERR_FORMAT || root || strncmp(e->reason, "line ", 5) != 0 || strcmp(e->file, "fuzz.toml") != 0) {
                    if (bad++ < 5) fprintf(stderr, "  %s round %d: status %d, reason %s\n", line, r, st, e->reason);
                }
            }
        }
    }
    fclose(list);
    CHECKF(files >= 200, "only %d valid cases found", files);
    CHECK(parsed > 0 && rejected > 0);
    CHECK(bad == 0);
}

int main(void) {
    RUN(test_dataset_config);
    RUN(test_accessors_null_and_kind_safe);
    RUN(test_strings);
    RUN(test_numbers);
    RUN(test_datetimes);
    RUN(test_tables_and_redefinition);
    RUN(test_error_record);
    RUN(test_files);
    RUN(test_big_table);
    RUN(test_depth_limit);
    RUN(test_mutation_fuzz);
    return test_finish();
}
