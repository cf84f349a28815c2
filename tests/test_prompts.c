// test_prompts.c — sample prompt files in kohya's three formats (sample/prompt_file.h): the
// .txt option syntax and its edge cases (raw '#', blanks, case, floors and clamps, malformed
// values, CRLF, BOM), .toml defaults + subsets (and the duplicate-key error), .json lists,
// errors naming file and line; kohya's sample file names; the when-to-sample rule; and dynamic
// prompts (sample/dynamic_prompts.h): determinism, choice frequencies over many seeds,
// counts, escapes, wildcards from a folder and their errors, linked/unlinked seeds.
#include "harness.h"
#include "sample/dynamic_prompts.h"
#include "sample/prompt_file.h"
#include "base/log.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static SamplePromptList txt(const char *text) {
    SamplePromptList l;
    if (sample_prompts_parse_txt(text, strlen(text), "p.txt", &l) != SDL_OK) {
        fprintf(stderr, "  unexpected error: ");
        sdl_error_print(stderr);
    }
    return l;
}

// Runs a parser that must fail; returns the error's reason ("" if it did not fail).
static const char *fails(SdlStatus (*parse)(const char *, size_t, const char *, SamplePromptList *), const char *text,
                         const char *name) {
    SamplePromptList l;
    sdl_error_clear();
    if (parse(text, strlen(text), name, &l) == SDL_OK) {
        sample_prompts_free(&l);
        return "";
    }
    CHECK(l.n == 0 && l.items == NULL);
    CHECK(streq(sdl_last_error()->file, name));
    return sdl_last_error()->reason;
}

static void test_txt_options(void) {
    SamplePromptList l = txt("a photo of sks dog --n blurry, lowres --w 768 --h 512 --d 42 --s 28 --l 6.5 --ss euler_a\n");
    CHECK(l.n == 1);
    if (l.n != 1) return;
    SamplePrompt *p = &l.items[0];
    CHECK(streq(p->prompt, "a photo of sks dog"));
    CHECK(streq(p->negative_prompt, "blurry, lowres"));
    CHECK(p->width == 768 && p->height == 512);
    CHECK(p->has_seed && p->seed == 42);
    CHECK(p->steps == 28);
    CHECK(p->scale == 6.5);
    CHECK(streq(p->sampler, "euler_a"));
    CHECK(p->index == 0 && p->line == 1);
    CHECK(l.n_warnings == 0);
    sample_prompts_free(&l);
}

static void test_txt_defaults_and_comments(void) {
    const char *text =
        "# comment\n"             // 1 skipped
        "\n"                      // 2 skipped
        "   \t\n"                 // 3 skipped (blank after strip)
        "  # not a comment\n"     // 4 a prompt: kohya tests the raw first character
        "first prompt\r\n"        // 5 CRLF
        "#also skipped --w 64\n"  // 6
        "last   ";                // 7 no final newline, trailing blanks
    SamplePromptList l = txt(text);
    CHECK(l.n == 3);
    if (l.n != 3) return;
    CHECK(streq(l.items[0].prompt, "# not a comment") && l.items[0].line == 4 && l.items[0].index == 0);
    CHECK(streq(l.items[1].prompt, "first prompt") && l.items[1].line == 5 && l.items[1].index == 1);
    CHECK(streq(l.items[2].prompt, "last") && l.items[2].line == 7 && l.items[2].index == 2);
    const SamplePrompt *p = &l.items[1];
    CHECK(p->width == 512 && p->height == 512 && p->steps == 30 && p->scale == 7.5);
    CHECK(!p->has_seed && p->negative_prompt == NULL && p->sampler == NULL);
    sample_prompts_free(&l);

    // a BOM is skipped (so a first-line comment stays a comment), lone CR ends a line
    l = txt("\xEF\xBB\xBF# c\rx --w 128");
    CHECK(l.n == 1 && streq(l.items[0].prompt, "x") && l.items[0].width == 128 && l.items[0].line == 2);
    sample_prompts_free(&l);
}

static void test_txt_edge_cases(void) {
    // case-insensitive keys, floors to multiples of 8 with a minimum of 64, step clamping,
    // later options win, trailing junk after a number ignored (regex match at the start)
    SamplePromptList l = txt("x --W 513 --H 10 --S 0 --D 7 --d 9\n"
                             "y --w 1000px --s 5000 --l 7. --n  two spaces kept  \n"
                             "z --l .5 --ss DPM_2_A\n");
    CHECK(l.n == 3);
    if (l.n != 3) return;
    CHECK(l.items[0].width == 512 && l.items[0].height == 64 && l.items[0].steps == 1 && l.items[0].seed == 9);
    CHECK(l.items[1].width == 1000 && l.items[1].steps == 1000 && l.items[1].scale == 7.0);
    CHECK(streq(l.items[1].negative_prompt, " two spaces kept"));
    CHECK(l.items[2].scale == 0.5 && streq(l.items[2].sampler, "dpm_2_a"));
    CHECK(l.n_warnings == 0);
    sample_prompts_free(&l);

    // malformed or unknown parts: warned and ignored, the prompt still loads
    l = txt("a --l . --l 1.2.3 --w  512 --cn img.png --g 3.5 --ar 16:9 --n -- --ss nosuch --f 8\n");
    CHECK(l.n == 1);
    if (l.n == 1) {
        CHECK(l.items[0].scale == 7.5 && l.items[0].width == 512 && l.items[0].negative_prompt == NULL);
        CHECK(streq(l.items[0].sampler, "ddim")); // kohya's get_my_scheduler falls back to DDIM
    }
    CHECKF(l.n_warnings == 9, "%d warnings", l.n_warnings); // every part but the empty one
    sample_prompts_free(&l);

    // " --" splits even inside what looks like text; an empty part is skipped silently
    l = txt("a -- --w 256\n--n only\n");
    CHECK(l.n == 2 && l.items[0].width == 256 && streq(l.items[0].prompt, "a"));
    if (l.n == 2) CHECK(streq(l.items[1].prompt, "--n only") && l.items[1].negative_prompt == NULL);
    CHECK(l.n_warnings == 0);
    sample_prompts_free(&l);

    // the prompt part itself is not parsed as options (kohya's loop would read "s 20" as steps)
    l = txt("s 20 dogs --w 64");
    CHECK(l.n == 1 && l.items[0].steps == 30 && streq(l.items[0].prompt, "s 20 dogs"));
    sample_prompts_free(&l);

    // errors name the line
    const char *r = fails(sample_prompts_parse_txt, "ok\nbad --d 99999999999999999999999\n", "p.txt");
    CHECKF(strstr(r, "line 2") && strstr(r, "seed"), "%s", r);
    r = fails(sample_prompts_parse_txt, "ok\n\nbig --w 20000\n", "p.txt");
    CHECKF(strstr(r, "line 3") && strstr(r, "width"), "%s", r);
    r = fails(sample_prompts_parse_txt, "ok\nbad \xC3\x28 utf8\n", "p.txt");
    CHECKF(strstr(r, "line 2") && strstr(r, "UTF-8"), "%s", r);
    // an empty file is an empty list
    l = txt("# nothing\n\n");
    CHECK(l.n == 0);
    sample_prompts_free(&l);
}

static void test_size_floor(void) {
    CHECK(sample_size_floor(512) == 512);
    CHECK(sample_size_floor(519) == 512);
    CHECK(sample_size_floor(520) == 520);
    CHECK(sample_size_floor(63) == 64);
    CHECK(sample_size_floor(0) == 64);
    CHECK(sample_size_floor(-5) == 64);
}

static void test_toml(void) {
    const char *text =
        "[prompt]\n"                                  // 1
        "negative_prompt = \"lowres\"\n"              // 2
        "width = 640\n"                               // 3
        "sample_steps = 20\n"                         // 4
        "\n"                                          // 5
        "[[prompt.subset]]\n"                         // 6
        "prompt = \"a dog\"\n"                        // 7
        "seed = 5\n"                                  // 8
        "scale = 4\n"                                 // 9
        "\n"                                          // 10
        "[[prompt.subset]]\n"                         // 11
        "prompt = \"a cat\"\n"                        // 12
        "height = 777.0\n"                            // 13
        "sample_sampler = \"K_EULER\"\n"              // 14
        "nonsense = 1\n";                             // 15
    SamplePromptList l;
    CHECK(sample_prompts_parse_toml(text, strlen(text), "p.toml", &l) == SDL_OK);
    CHECK(l.n == 2);
    if (l.n != 2) return;
    const SamplePrompt *a = &l.items[0], *b = &l.items[1];
    CHECK(streq(a->prompt, "a dog") && streq(a->negative_prompt, "lowres") && a->width == 640 && a->height == 512);
    CHECK(a->steps == 20 && a->has_seed && a->seed == 5 && a->scale == 4.0 && a->line == 6 && a->index == 0);
    CHECK(streq(b->prompt, "a cat") && b->height == 776 && streq(b->sampler, "k_euler") && !b->has_seed && b->index == 1);
    CHECK(l.n_warnings == 1);
    sample_prompts_free(&l);

    // kohya's dict(**prompt, **subset) raises on a key in both: say where both are
    const char *r = fails(sample_prompts_parse_toml, "[prompt]\nwidth = 512\n[[prompt.subset]]\nprompt = 'x'\nwidth = 768\n",
                          "p.toml");
    CHECKF(strstr(r, "line 5") && strstr(r, "'width'") && strstr(r, "line 2"), "%s", r);
    r = fails(sample_prompts_parse_toml, "[other]\nx = 1\n", "p.toml");
    CHECKF(strstr(r, "[prompt]"), "%s", r);
    r = fails(sample_prompts_parse_toml, "[prompt]\nwidth = 512\n", "p.toml");
    CHECKF(strstr(r, "prompt.subset"), "%s", r);
    r = fails(sample_prompts_parse_toml, "[prompt]\n[[prompt.subset]]\nprompt = 'x'\n\nwidth = '512'\n", "p.toml");
    CHECKF(strstr(r, "line 5") && strstr(r, "width"), "%s", r);
    r = fails(sample_prompts_parse_toml, "[prompt]\n[[prompt.subset]]\nseed = -3\n", "p.toml");
    CHECKF(strstr(r, "line 3") && strstr(r, "seed"), "%s", r);
    r = fails(sample_prompts_parse_toml, "[prompt\n", "p.toml");
    CHECKF(strstr(r, "line 1"), "%s", r);
}

static void test_json(void) {
    const char *text =
        "[\n"                                                                 // 1
        "  {\"prompt\": \"a dog\", \"seed\": 3, \"width\": 512.0,\n"          // 2
        "   \"negative_prompt\": null, \"scale\": 5},\n"                      // 3
        "  \"a cat --n ugly --s 12\",\n"                                      // 4
        "  {\"prompt\": \"x\", \"seed\": null, \"sample_sampler\": null, \"prompt\": \"y\"}\n" // 5
        "]\n";
    SamplePromptList l;
    CHECK(sample_prompts_parse_json(text, strlen(text), "p.json", &l) == SDL_OK);
    CHECK(l.n == 3);
    if (l.n != 3) return;
    CHECK(streq(l.items[0].prompt, "a dog") && l.items[0].seed == 3 && l.items[0].has_seed && l.items[0].width == 512);
    CHECK(l.items[0].negative_prompt == NULL && l.items[0].scale == 5.0 && l.items[0].line == 2);
    CHECK(streq(l.items[1].prompt, "a cat") && streq(l.items[1].negative_prompt, "ugly") && l.items[1].steps == 12);
    CHECK(l.items[1].line == 4 && l.items[1].index == 1);
    CHECK(streq(l.items[2].prompt, "y") && !l.items[2].has_seed && l.items[2].line == 5); // last duplicate wins, as in Python
    sample_prompts_free(&l);

    const char *r = fails(sample_prompts_parse_json, "[\n{\"prompt\": \"a\"},\n{\"prompt\" \"b\"}\n]", "p.json");
    CHECKF(strstr(r, "line 3") && strstr(r, "JSON"), "%s", r);
    r = fails(sample_prompts_parse_json, "{\"prompt\": \"a\"}", "p.json");
    CHECKF(strstr(r, "not a list"), "%s", r);
    r = fails(sample_prompts_parse_json, "[\"a\",\n 5]", "p.json");
    CHECKF(strstr(r, "line 2") && strstr(r, "prompt 2"), "%s", r);
    r = fails(sample_prompts_parse_json, "[\"a\",\n\n {\"width\": true}]", "p.json");
    CHECKF(strstr(r, "line 3") && strstr(r, "width"), "%s", r);
    r = fails(sample_prompts_parse_json, "[{\"seed\": 1e17}]", "p.json");
    CHECKF(strstr(r, "seed"), "%s", r);
}

static char tmpdir[256];

static void write_file(const char *rel, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void test_load_files(void) {
    char path[512];
    write_file("a.TXT", "one --w 64\ntwo\n");
    snprintf(path, sizeof path, "%s/a.TXT", tmpdir);
    SamplePromptList l;
    CHECK(sample_prompts_load(path, &l) == SDL_OK && l.n == 2);
    sample_prompts_free(&l);
    write_file("a.json", "[\"x\"]");
    snprintf(path, sizeof path, "%s/a.json", tmpdir);
    CHECK(sample_prompts_load(path, &l) == SDL_OK && l.n == 1);
    sample_prompts_free(&l);
    write_file("a.toml", "[prompt]\n[[prompt.subset]]\nprompt='q'\n");
    snprintf(path, sizeof path, "%s/a.toml", tmpdir);
    CHECK(sample_prompts_load(path, &l) == SDL_OK && l.n == 1 && streq(l.items[0].prompt, "q"));
    sample_prompts_free(&l);

    write_file("a.yaml", "x");
    snprintf(path, sizeof path, "%s/a.yaml", tmpdir);
    CHECK(sample_prompts_load(path, &l) == SDL_ERR_UNSUPPORTED && streq(sdl_last_error()->file, path));
    snprintf(path, sizeof path, "%s/missing.txt", tmpdir);
    CHECK(sample_prompts_load(path, &l) == SDL_ERR_IO && streq(sdl_last_error()->file, path));
}

static void test_file_names(void) {
    setenv("TZ", "UTC0", 1);
    tzset();
    time_t t = 1700000000; // 2023-11-14 22:13:20 UTC
    SamplePrompt p;
    sample_prompt_defaults(&p);
    p.index = 3;
    char buf[512];
    size_t n = sample_file_name(buf, sizeof buf, "out", "my_lora", 2, 999, &p, t);
    CHECKF(streq(buf, "out/sample/my_lora_e000002_03_20231114221320.png"), "%s", buf);
    CHECK(n == strlen(buf));
    p.has_seed = true;
    p.seed = 0; // kohya tests `seed is None`, so seed 0 is named
    p.index = 123;
    sample_file_name(buf, sizeof buf, "/o", NULL, -1, 1500, &p, t);
    CHECKF(streq(buf, "/o/sample/001500_123_20231114221320_0.png"), "%s", buf);
    p.seed = 18446744073709551615ull;
    sample_file_name(buf, sizeof buf, "o", "n", 0, 0, &p, t);
    CHECKF(streq(buf, "o/sample/n_e000000_123_20231114221320_18446744073709551615.png"), "%s", buf);
    char small[8];
    n = sample_file_name(small, sizeof small, "o", "n", 0, 0, &p, t);
    CHECK(n > sizeof small && strlen(small) == sizeof small - 1);
}

static void test_sample_due(void) {
    SampleSchedule none = {0}, first = {.at_first = true};
    SampleSchedule ep = {.every_n_epochs = 2, .every_n_steps = 5}, st = {.every_n_steps = 5};
    // before training: only --sample_at_first
    CHECK(!sample_due(&none, 0, 0, true) && sample_due(&first, 0, 0, true));
    CHECK(!sample_due(&ep, 0, 0, true) && !sample_due(&st, 0, 0, true));
    CHECK(!sample_due(&first, 1, 5, false) && !sample_due(&first, 1, 5, true));
    // every_n_epochs wins: epoch ends with epoch % n == 0, never after steps
    CHECK(!sample_due(&ep, 1, 5, false) && !sample_due(&ep, 1, 10, true) && sample_due(&ep, 2, 20, true));
    CHECK(!sample_due(&ep, 3, 30, true) && sample_due(&ep, 4, 40, true));
    // a resumed start (epoch 0, step > 0) samples with every_n_epochs, as kohya's first call does
    CHECK(sample_due(&ep, 0, 100, true) && !sample_due(&st, 0, 100, true));
    // every_n_steps: after steps divisible by n, never at an epoch end
    CHECK(sample_due(&st, 1, 5, false) && !sample_due(&st, 1, 6, false) && !sample_due(&st, 1, 10, true));
    CHECK(sample_due(&st, 7, 10, false));
    // non-positive = off
    SampleSchedule neg = {.every_n_epochs = -1, .every_n_steps = 0};
    CHECK(!sample_due(&neg, 2, 10, true) && !sample_due(&neg, 2, 10, false));
}

// ---- dynamic prompts ----

static char *expand(DynPrompts *dp, const char *t, uint64_t seed) {
    char *out = NULL;
    if (dynprompt_expand(dp, t, seed, "test", &out) != SDL_OK) {
        fprintf(stderr, "  unexpected error: ");
        sdl_error_print(stderr);
        return strdup("<error>");
    }
    return out;
}

static bool expand_is(DynPrompts *dp, const char *t, uint64_t seed, const char *want) {
    char *s = expand(dp, t, seed);
    bool ok = streq(s, want);
    if (!ok) fprintf(stderr, "  \"%s\" seed %llu gave \"%s\", want \"%s\"\n", t, (unsigned long long)seed, s, want);
    free(s);
    return ok;
}

static const char *expand_err(DynPrompts *dp, const char *t) {
    char *out = NULL;
    sdl_error_clear();
    if (dynprompt_expand(dp, t, 1, "prompts.txt:4", &out) == SDL_OK) {
        free(out);
        return "";
    }
    CHECK(out == NULL);
    return sdl_last_error()->reason;
}

static void test_dyn_basics(void) {
    CHECK(expand_is(NULL, "a plain (prompt:1.2), with \\(parens\\) | bar", 5, "a plain (prompt:1.2), with \\(parens\\) | bar"));
    CHECK(expand_is(NULL, "{{{masterpiece}}}, {x}", 5, "masterpiece, x"));
    CHECK(expand_is(NULL, "\\{a\\|b\\} \\_\\_x\\_\\_", 5, "{a|b} __x__"));
    CHECK(expand_is(NULL, "{0::a|b} {a|0::b} {std::x}", 9, "b a std::x"));
    CHECK(expand_is(NULL, "^__^ a__b c__ ___", 9, "^__^ a__b c__ ___"));
    CHECK(!dynprompt_has_syntax("a (b:1.1) c") && dynprompt_has_syntax("a {b|c}") && dynprompt_has_syntax("__x__"));
    // the same seed gives the same prompt; the choices cover the options
    const char *t = "a {red|green|blue} {cat|{small|big} dog}";
    int seen_colour[3] = {0}, seen_big = 0, differ = 0;
    char *first = expand(NULL, t, 0);
    for (uint64_t s = 0; s < 200; s++) {
        char *a = expand(NULL, t, s), *b = expand(NULL, t, s);
        CHECK(streq(a, b));
        seen_colour[0] += strstr(a, "red") != NULL;
        seen_colour[1] += strstr(a, "green") != NULL;
        seen_colour[2] += strstr(a, "blue") != NULL;
        seen_big += strstr(a, "big dog") != NULL;
        differ += !streq(a, first);
        CHECKF(strstr(a, " cat") || strstr(a, " dog"), "%s", a);
        free(a);
        free(b);
    }
    free(first);
    CHECK(seen_colour[0] > 30 && seen_colour[1] > 30 && seen_colour[2] > 30);
    CHECK(seen_colour[0] + seen_colour[1] + seen_colour[2] == 200);
    CHECK(seen_big > 20 && seen_big < 80); // 1/2 · 1/2 of 200 = 50
    CHECK(differ > 100);
}

static void test_dyn_weights(void) {
    // {3::a|b}: a with probability 3/4 over many seeds (binomial sd ≈ 0.007 at n = 4000)
    int a = 0, n = 4000;
    int c[3] = {0};
    for (int s = 0; s < n; s++) {
        char *x = expand(NULL, "{3::a|b}", (uint64_t)s);
        a += streq(x, "a");
        free(x);
        x = expand(NULL, "{0.5::p|1::q|2.5::r}", (uint64_t)s + 100000);
        c[0] += streq(x, "p"), c[1] += streq(x, "q"), c[2] += streq(x, "r");
        free(x);
    }
    double fa = (double)a / n;
    CHECKF(fa > 0.72 && fa < 0.78, "P(a) = %.3f, want 0.75", fa);
    CHECKF(fabs(c[0] / (double)n - 0.125) < 0.02 && fabs(c[1] / (double)n - 0.25) < 0.025 &&
           fabs(c[2] / (double)n - 0.625) < 0.025, "p %d q %d r %d", c[0], c[1], c[2]);
}

static void test_dyn_counts(void) {
    for (uint64_t s = 0; s < 50; s++) {
        char *x = expand(NULL, "{2$$a|b|c}", s);
        CHECKF(strlen(x) == 4 && x[1] == ',' && x[2] == ' ' && x[0] != x[3], "%s", x);
        free(x);
        x = expand(NULL, "{3$$ and $$a|b|0::c}", s); // only two options can be chosen
        CHECKF(streq(x, "a and b") || streq(x, "b and a"), "%s", x);
        free(x);
        x = expand(NULL, "{1-3$$a|b|c|d}", s);
        size_t items = 1;
        for (char *p = x; *p; p++) items += *p == ',';
        CHECKF(items >= 1 && items <= 3 && strlen(x) == items * 3 - 2, "%s", x);
        free(x);
    }
}

static void test_dyn_errors(void) {
    const char *r = expand_err(NULL, "a {b|c");
    CHECKF(strstr(r, "column 3") && strstr(r, "unclosed"), "%s", r);
    r = expand_err(NULL, "a b} c");
    CHECKF(strstr(r, "column 4") && strstr(r, "'}'"), "%s", r);
    CHECK(streq(sdl_last_error()->file, "prompts.txt:4"));
    r = expand_err(NULL, "{0::a|0::b}");
    CHECKF(strstr(r, "weight 0"), "%s", r);
    r = expand_err(NULL, "{3-1$$a|b}");
    CHECKF(strstr(r, "reversed"), "%s", r);
    r = expand_err(NULL, "a __colour__");
    CHECKF(strstr(r, "__colour__") && strstr(r, "no wildcard folder"), "%s", r);
    // deep nesting is refused, not a stack overflow
    char deep[400] = {0};
    for (int i = 0; i < 100; i++) deep[i] = '{', deep[199 - i] = '}';
    deep[100] = 'x';
    r = expand_err(NULL, deep);
    CHECKF(strstr(r, "nested too deeply"), "%s", r);
}

static void test_dyn_wildcards(void) {
    char dir[300], sub[320];
    snprintf(dir, sizeof dir, "%s/wildcards", tmpdir);
    snprintf(sub, sizeof sub, "%s/styles", dir);
    CHECK(mkdir(dir, 0755) == 0 && mkdir(sub, 0755) == 0);
    write_file("wildcards/colour.txt", "# colours\nred\n\n  green  \r\n#blue\n");
    write_file("wildcards/animal.txt", "__colour__ cat\n{big|small} dog\n");
    write_file("wildcards/styles/oil.txt", "oil painting\n");
    write_file("wildcards/loop.txt", "x __loop__\n");
    write_file("wildcards/empty.txt", "# only a comment\n\n");
    write_file("wildcards/broken.txt", "fine\n{unclosed\n");
    DynPrompts *dp;
    CHECK(dynprompt_new(dir, &dp) == SDL_OK);
    int red = 0;
    for (uint64_t s = 0; s < 100; s++) {
        char *x = expand(dp, "__colour__, __styles/oil__", s);
        CHECKF(streq(x, "red, oil painting") || streq(x, "green, oil painting"), "%s", x);
        red += x[0] == 'r';
        free(x);
        x = expand(dp, "a __animal__", s);
        CHECKF(streq(x, "a red cat") || streq(x, "a green cat") || streq(x, "a big dog") || streq(x, "a small dog"), "%s", x);
        free(x);
    }
    CHECK(red > 25 && red < 75);
    CHECK(dynprompt_check(dp, "{a|__animal__}", "p") == SDL_OK);
    // a missing file names its path, even in an option this seed would not pick
    char want[400];
    snprintf(want, sizeof want, "%s/nothere.txt", dir);
    CHECK(dynprompt_check(dp, "{a|b|__nothere__}", "p") == SDL_ERR_NOT_FOUND);
    CHECKF(streq(sdl_last_error()->file, want), "%s", sdl_last_error()->file);
    CHECK(dynprompt_expand(dp, "__nothere__", 0, "p", &(char *){NULL}) == SDL_ERR_NOT_FOUND);
    const char *r = expand_err(dp, "__loop__");
    CHECKF(strstr(r, "deeper than") && strstr(r, "__loop__ > __loop__"), "%s", r);
    CHECK(dynprompt_check(dp, "__loop__", "p") == SDL_OK); // a cycle is fine to check
    r = expand_err(dp, "__empty__");
    CHECKF(strstr(r, "no options"), "%s", r);
    r = expand_err(dp, "__broken__");
    CHECKF(strstr(r, "line 2") && strstr(sdl_last_error()->file, "broken.txt"), "%s", r);
    r = expand_err(dp, "__../x__");
    CHECKF(strstr(r, "bad wildcard name"), "%s", r);
    dynprompt_free(dp);
}

static void test_dyn_seeding(void) {
    DynPromptSeeding linked = {0}, unlinked = {.unlinked = true, .prompt_seed = 1000};
    CHECK(dynprompt_choice_seed(&linked, 42, 3) == 42 && dynprompt_choice_seed(NULL, 7, 0) == 7);
    CHECK(dynprompt_choice_seed(&unlinked, 42, 0) == 1000 && dynprompt_choice_seed(&unlinked, 43, 3) == 1003);
    // the choice stream is not the image noise stream: consecutive seeds are decorrelated
    int same = 0;
    for (uint64_t s = 0; s < 100; s++) {
        char *a = expand(NULL, "{a|b}", s), *b = expand(NULL, "{a|b}", s + 1);
        same += streq(a, b);
        free(a), free(b);
    }
    CHECK(same > 25 && same < 75);
}

// Random byte mutations of valid inputs: every parser either succeeds or fails with an error
// that names the file — never crashes or leaks (run under ASan by `make asan`).
static void test_mutation_fuzz(void) {
    static const char *const seeds_txt = "# c\na {red|blue} cat --n ugly --w 512 --h 768 --d 3 --s 20 --l 7.5 --ss euler_a\nb\n";
    static const char *const seeds_toml = "[prompt]\nwidth = 512\n[[prompt.subset]]\nprompt = 'a'\nseed = 1\n[[prompt.subset]]\nprompt = \"b\"\n";
    static const char *const seeds_json = "[{\"prompt\": \"a\", \"seed\": 1, \"scale\": 5.5}, \"b --n c\", {\"width\": 64}]";
    static const char *const seeds_dyn = "a {2::red|{x|y}|0.5::z} __w__ {2$$ and $$p|q|r} \\{ std::x";
    const char *const seeds[4] = {seeds_txt, seeds_toml, seeds_json, seeds_dyn};
    SdlStatus (*const parse[3])(const char *, size_t, const char *, SamplePromptList *) = {
        sample_prompts_parse_txt, sample_prompts_parse_toml, sample_prompts_parse_json};
    const char alphabet[] = "{}|:$_\\-# \n\"'[]=,.0123456789abwhdnsl\xC3\xA9\x80";
    Rng r;
    rng_seed(&r, 1234);
    int bad = 0, iters = test_quick() ? 300 : 3000;
    char buf[512];
    for (int it = 0; it < iters; it++) {
        int which = it % 4;
        size_t n = strlen(seeds[which]);
        memcpy(buf, seeds[which], n + 1);
        int edits = 1 + (int)(rng_u32(&r) % 4);
        for (int e = 0; e < edits && n > 0; e++) {
            size_t at = rng_u32(&r) % n;
            uint32_t op = rng_u32(&r) % 3;
            char c = alphabet[rng_u32(&r) % (sizeof alphabet - 1)];
            if (op == 0) buf[at] = c;                                                   // replace
            else if (op == 1 && n + 1 < sizeof buf) { memmove(buf + at + 1, buf + at, n - at + 1); buf[at] = c; n++; } // insert
            else { memmove(buf + at, buf + at + 1, n - at); n--; }                      // delete
        }
        sdl_error_clear();
        if (which < 3) {
            SamplePromptList l;
            SdlStatus st = parse[which](buf, n, "fuzz", &l);
            if (st == SDL_OK) {
                for (int64_t i = 0; i < l.n; i++)
                    if (!l.items[i].prompt || l.items[i].width < 64 || l.items[i].width % 8 || l.items[i].steps < 1 ||
                        l.items[i].steps > 1000) bad++;
                sample_prompts_free(&l);
            } else if (strcmp(sdl_last_error()->file, "fuzz") != 0 || l.n != 0) {
                bad++;
            }
        } else {
            char *out = NULL;
            SdlStatus st = dynprompt_expand(NULL, buf, (uint64_t)it, "fuzz", &out);
            if ((st == SDL_OK) != (out != NULL) || (st != SDL_OK && strcmp(sdl_last_error()->file, "fuzz") != 0)) bad++;
            free(out);
        }
    }
    CHECKF(bad == 0, "%d mutated inputs misbehaved", bad);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sdlora-test-prompts-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    log_set_level(LOG_ERROR); // the warnings are counted, not shown
    RUN(test_txt_options);
    RUN(test_txt_defaults_and_comments);
    RUN(test_txt_edge_cases);
    RUN(test_size_floor);
    RUN(test_toml);
    RUN(test_json);
    RUN(test_load_files);
    RUN(test_file_names);
    RUN(test_sample_due);
    RUN(test_dyn_basics);
    RUN(test_dyn_weights);
    RUN(test_dyn_counts);
    RUN(test_dyn_errors);
    RUN(test_dyn_wildcards);
    RUN(test_dyn_seeding);
    RUN(test_mutation_fuzz);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish();
}
