// test_dataset.c — the dataset layer against kohya: Python-random replay, bucket lists and
// assignments (expected values computed from kohya's make_bucket_resolutions/select_bucket
// by hand-run Python with the same arithmetic), batches and per-epoch shuffles, caption
// processing with fixed seeds, the dataset-config schema (levels, types, unknown keys with
// file:line, fallbacks), folder scanning, captions and regularization balancing.
#include "harness.h"
#include "base/error.h"
#include "base/log.h"
#include "data/buckets.h"
#include "data/captions.h"
#include "data/dataset_config.h"
#include "data/pyrandom.h"
#include "data/scan.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void write_file(const char *rel, const char *content, size_t len) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    FILE *f = fopen(p, "wb");
    if (!f) { fprintf(stderr, "cannot write %s\n", p); abort(); }
    fwrite(content, 1, len, f);
    fclose(f);
}
static void write_str(const char *rel, const char *s) { write_file(rel, s, strlen(s)); }
static void mkdir_rel(const char *rel) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    mkdir(p, 0755);
}

// ---- Python random ----
static void test_pyrandom_matches_python(void) {
    PyRandom r;
    py_random_seed(&r, 42);
    CHECK(py_random_random(&r) == 0.6394267984578837);
    py_random_seed(&r, 1234);
    double want[3] = {0.9664535356921388, 0.4407325991753527, 0.007491470058587191};
    for (int i = 0; i < 3; i++) CHECK(py_random_random(&r) == want[i]);
    py_random_seed(&r, 1234);
    int x[7] = {0, 1, 2, 3, 4, 5, 6}, wx[7] = {1, 2, 5, 4, 0, 3, 6};
    py_random_shuffle(&r, x, 7, sizeof *x);
    CHECK(memcmp(x, wx, sizeof x) == 0);
    py_random_seed(&r, 42);
    int y[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, wy[10] = {7, 3, 2, 8, 5, 6, 9, 4, 0, 1};
    py_random_shuffle(&r, y, 10, sizeof *y);
    CHECK(memcmp(y, wy, sizeof y) == 0);
    py_random_seed(&r, (1ull << 33) + 7); // a two-word seed
    int64_t wr[5] = {90, 19, 73, 38, 71};
    for (int i = 0; i < 5; i++) CHECK(py_random_randint(&r, 0, 100) == wr[i]);
    CHECK(py_random_getrandbits(&r, 40) == 186726517526ull);
    py_random_seed(&r, 0);
    CHECK(py_random_random(&r) == 0.8444218515250481);
}

// ---- buckets ----
static int reso_list_eq(const Reso *a, size_t n, const int64_t (*b)[2], size_t m) {
    if (n != m) return 0;
    for (size_t i = 0; i < n; i++)
        if (a[i].w != b[i][0] || a[i].h != b[i][1]) return 0;
    return 1;
}

static void test_bucket_lists(void) {
    Reso r[128];
    static const int64_t w512[][2] = {{256, 832}, {256, 896}, {256, 960}, {256, 1024}, {320, 704}, {320, 768},
                                      {384, 640}, {448, 576}, {512, 512}, {576, 448}, {640, 384}, {704, 320},
                                      {768, 320}, {832, 256}, {896, 256}, {960, 256}, {1024, 256}};
    size_t n = bucket_make_resolutions(r, 128, 512, 512, 256, 1024, 64);
    CHECK(reso_list_eq(r, n, w512, sizeof w512 / sizeof w512[0]));
    static const int64_t w768[][2] = {{256, 1024}, {320, 1024}, {384, 1024}, {448, 1024}, {512, 1024}, {576, 960},
                                      {576, 1024}, {640, 896}, {704, 832}, {768, 768}, {832, 704}, {896, 640},
                                      {960, 576}, {1024, 256}, {1024, 320}, {1024, 384}, {1024, 448}, {1024, 512},
                                      {1024, 576}};
    n = bucket_make_resolutions(r, 128, 768, 768, 256, 1024, 64);
    CHECK(reso_list_eq(r, n, w768, sizeof w768 / sizeof w768[0]));
    static const int64_t w512x768[][2] = {{256, 1024}, {320, 1024}, {384, 896}, {384, 960}, {384, 1024}, {448, 832},
                                          {512, 704}, {512, 768}, {576, 576}, {576, 640}, {640, 576}, {704, 512},
                                          {768, 512}, {832, 448}, {896, 384}, {960, 384}, {1024, 256}, {1024, 320},
                                          {1024, 384}};
    n = bucket_make_resolutions(r, 128, 512, 768, 256, 1024, 64);
    CHECK(reso_list_eq(r, n, w512x768, sizeof w512x768 / sizeof w512x768[0]));
    CHECK(bucket_make_resolutions(NULL, 0, 1024, 1024, 256, 2048, 64) == 41);
}

typedef struct { int64_t w, h, bw, bh, rw, rh; double err; } SelCase;

static void check_sel(const BucketSpec *s, const SelCase *c, size_t n) {
    for (size_t i = 0; i < n; i++) {
        Reso b, rs;
        double e;
        bucket_select(s, c[i].w, c[i].h, &b, &rs, &e);
        CHECKF(b.w == c[i].bw && b.h == c[i].bh && rs.w == c[i].rw && rs.h == c[i].rh && fabs(e - c[i].err) < 1e-12,
               "%lldx%lld: bucket %lldx%lld resized %lldx%lld err %.17g", (long long)c[i].w, (long long)c[i].h,
               (long long)b.w, (long long)b.h, (long long)rs.w, (long long)rs.h, e);
    }
}

static void test_bucket_select(void) {
    BucketSpec s;
    CHECK(bucket_spec_init(&s, true, false, 512, 512, 256, 1024, 64) == SDL_OK);
    CHECK(s.n_predefined == 17);
    static const SelCase c512[] = {
        {1000, 600, 640, 384, 640, 384, 0.0}, {600, 1000, 384, 640, 384, 640, 0.0},
        {512, 512, 512, 512, 512, 512, 0.0}, {1920, 1080, 640, 384, 683, 384, -0.11111111111111094},
        {333, 777, 320, 768, 329, 768, -0.011904761904761862}, {768, 512, 640, 384, 640, 427, 0.16666666666666674},
        {100, 100, 512, 512, 512, 512, 0.0}};
    check_sel(&s, c512, sizeof c512 / sizeof c512[0]);
    bucket_spec_free(&s);
    CHECK(bucket_spec_init(&s, true, false, 768, 768, 256, 1024, 64) == SDL_OK);
    static const SelCase c768[] = {{1024, 768, 896, 640, 896, 672, 0.06666666666666665},
                                   {3000, 2000, 896, 640, 960, 640, -0.10000000000000009}};
    check_sel(&s, c768, 2);
    bucket_spec_free(&s);
    // bucket_no_upscale: the bucket comes from the image's own size
    CHECK(bucket_spec_init(&s, true, true, 512, 512, 256, 1024, 64) == SDL_OK);
    CHECK(s.n_predefined == 0);
    static const SelCase cnu[] = {{1920, 1080, 640, 384, 683, 384, -0.11111111111111094},
                                  {300, 200, 256, 192, 300, 200, -0.16666666666666674},
                                  {4000, 3000, 512, 384, 512, 384, 0.0}, {1000, 1000, 512, 512, 512, 512, 0.0},
                                  {513, 511, 512, 448, 513, 511, 0.13894324853228945},
                                  {915, 700, 576, 448, 586, 448, -0.021428571428571352}}; // round half up matters
    check_sel(&s, cnu, sizeof cnu / sizeof cnu[0]);
    bucket_spec_free(&s);
    // bucketing off: the single bucket (W, H); the image covers it, then is center-cropped
    CHECK(bucket_spec_init(&s, false, false, 512, 512, 256, 1024, 64) == SDL_OK);
    static const SelCase off[] = {{1000, 600, 512, 512, 853, 512, 1.0 - 1000.0 / 600.0}};
    check_sel(&s, off, 1);
    int64_t x, y;
    bucket_crop_offset((Reso){512, 512}, (Reso){853, 512}, false, NULL, &x, &y);
    CHECK(x == 170 && y == 0);
    PyRandom r;
    py_random_seed(&r, 1234);
    bucket_crop_offset((Reso){512, 512}, (Reso){853, 512}, true, &r, &x, &y);
    py_random_seed(&r, 1234);
    CHECK(x == py_random_randint(&r, 0, 341) && y == 0);
    bucket_spec_free(&s);
    double ltrb[4];
    bucket_crop_ltrb((Reso){640, 384}, 1920, 1080, ltrb);
    CHECK(ltrb[0] == 0 && ltrb[1] == 12 && ltrb[2] == 640 && ltrb[3] == 372);
    bucket_crop_ltrb((Reso){640, 384}, 600, 600, ltrb); // bucket wider: fit the height
    CHECK(ltrb[0] == 128 && ltrb[1] == 0 && ltrb[2] == 512 && ltrb[3] == 384);
}

static void test_bucket_batches_and_shuffle(void) {
    BucketSpec s;
    CHECK(bucket_spec_init(&s, true, false, 512, 512, 256, 1024, 64) == SDL_OK);
    BucketImage im[5] = {{.width = 600, .height = 1000, .num_repeats = 2}, {.width = 384, .height = 640, .num_repeats = 2},
                         {.width = 512, .height = 512, .num_repeats = 1}, {.width = 1000, .height = 600, .num_repeats = 2},
                         {.width = 640, .height = 384, .num_repeats = 1}};
    BucketSet set;
    CHECK(bucket_assign(&set, &s, im, 5, 2) == SDL_OK);
    CHECK(set.n_buckets == 3);
    CHECK(set.resos[0].w == 384 && set.resos[1].w == 512 && set.resos[2].w == 640);
    CHECK(set.n_items[0] == 4 && set.n_items[1] == 1 && set.n_items[2] == 3);
    CHECK(set.n_batches == 5);
    CHECK(set.mean_ar_error == 0.0);
    // kohya: random.seed(seed + epoch); shuffle batches; shuffle each bucket (Python replay)
    set.seed = 90;
    bucket_shuffle_epoch(&set, 9);
    static const int64_t wb[5][2] = {{0, 1}, {1, 0}, {0, 0}, {2, 1}, {2, 0}};
    for (int i = 0; i < 5; i++) CHECK(set.batches[i].bucket == wb[i][0] && set.batches[i].batch_index == wb[i][1]);
    static const size_t i0[4] = {1, 1, 0, 0}, i2[3] = {4, 3, 3};
    CHECK(memcmp(set.items[0], i0, sizeof i0) == 0);
    CHECK(memcmp(set.items[2], i2, sizeof i2) == 0);
    bucket_set_free(&set);
    bucket_spec_free(&s);
}

// ---- captions ----
static void check_caps(const char *name, const CaptionOptions *o, const char *cap, int64_t epoch, uint64_t seed,
                       const char *const *want, int n) {
    PyRandom r;
    py_random_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        char *got = caption_process(o, cap, epoch, 0, 0, &r);
        CHECKF(got && strcmp(got, want[i]) == 0, "%s[%d]: got '%s' want '%s'", name, i, got ? got : "(null)", want[i]);
        free(got);
    }
}

static void test_captions(void) {
    const char *C = "sks dog, red collar, grass, sunny day, park, bokeh";
    CaptionOptions o = caption_options_default();
    o.shuffle_caption = true; o.keep_tokens = 2;
    const char *w1[] = {"sks dog, red collar, park, sunny day, bokeh, grass", "sks dog, red collar, bokeh, park, grass, sunny day",
                        "sks dog, red collar, sunny day, bokeh, park, grass"};
    check_caps("shuffle_keep2", &o, C, 1, 42, w1, 3);
    o = caption_options_default();
    o.shuffle_caption = true; o.keep_tokens_separator = "|||";
    const char *w2[] = {"sks, dog, d, b, a, c, tail1, tail2", "sks, dog, b, c, d, a, tail1, tail2", "sks, dog, b, a, d, c, tail1, tail2"};
    check_caps("keep_sep", &o, "sks, dog ||| a, b, c, d ||| tail1, tail2", 1, 7, w2, 3);
    o = caption_options_default();
    o.caption_tag_dropout_rate = 0.5; o.keep_tokens = 1;
    const char *w3[] = {"sks dog, grass, park, bokeh", "sks dog, sunny day", "sks dog, red collar, sunny day, bokeh"};
    check_caps("tagdrop", &o, C, 1, 3, w3, 3);
    o = caption_options_default();
    o.shuffle_caption = true; o.caption_prefix = "photo of"; o.caption_suffix = "4k";
    const char *w4[] = {"photo of a, b, c 4k", "photo of a, b, c 4k", "b, photo of a, c 4k"};
    check_caps("prefix", &o, "a, b, c", 1, 5, w4, 3);
    o = caption_options_default();
    o.caption_dropout_rate = 0.5;
    const char *w5[] = {"", "x, y", "x, y", "", "x, y", "x, y"};
    check_caps("dropout", &o, "x, y", 1, 11, w5, 6);
    o = caption_options_default();
    o.shuffle_caption = true; o.caption_separator = ";"; o.secondary_separator = "^^";
    const char *w6[] = {"a, d, b;c", "d, a, b;c", "b;c, d, a"};
    check_caps("secondary", &o, "a;b^^c;d", 1, 9, w6, 3);
    o = caption_options_default();
    o.keep_tokens_separator = "|||"; // no shuffle/dropout: caption untouched, separator kept
    const char *w7[] = {"a ||| b, c"};
    check_caps("untouched", &o, "a ||| b, c\nsecond line", 1, 1, w7, 1);
    // rate 1: always dropped; rate 0: never, and no random draw is consumed
    o = caption_options_default();
    o.caption_dropout_rate = 1.0;
    const char *w8[] = {"", "", ""};
    check_caps("rate1", &o, "a, b", 1, 1, w8, 3);
    o = caption_options_default();
    PyRandom r, r2;
    py_random_seed(&r, 5); py_random_seed(&r2, 5);
    char *c0 = caption_process(&o, "a, b", 1, 0, 0, &r);
    CHECK(c0 && strcmp(c0, "a, b") == 0 && py_random_random(&r) == py_random_random(&r2));
    free(c0);
    // every n epochs: epochs n, 2n... are empty (1-based epochs)
    o.caption_dropout_every_n_epochs = 2;
    for (int64_t e = 1; e <= 4; e++) {
        char *c = caption_process(&o, "a, b", e, 0, 0, &r);
        CHECK(c && strcmp(c, e % 2 == 0 ? "" : "a, b") == 0);
        free(c);
    }
    // token warm-up: step 5 of 10 keeps floor(5 * (6 - 1) / 10) + 1 = 3 tokens
    o = caption_options_default();
    o.token_warmup_step = 10;
    py_random_seed(&r, 1);
    char *cw = caption_process(&o, C, 1, 5, 100, &r);
    CHECK(cw && strcmp(cw, "sks dog, red collar, grass") == 0);
    free(cw);
}

// ---- dataset config ----
static DatasetArgs args512(void) {
    DatasetArgs a;
    dataset_args_default(&a);
    a.ds.has_resolution = true;
    a.ds.resolution[0] = a.ds.resolution[1] = 512;
    return a;
}

static int last_reason_has(const char *s) {
    const char *r = sdl_last_error()->reason;
    if (!strstr(r, s)) { fprintf(stderr, "  reason was: %s\n", r); return 0; }
    return 1;
}

static void test_config_valid_and_fallbacks(void) {
    const char *t =
        "[general]\n"
        "enable_bucket = true\n"
        "shuffle_caption = true\n"
        "caption_extension = 'txt'\n"
        "keep_tokens = 1\n"
        "\n"
        "[[datasets]]\n"
        "resolution = [768, 512]\n"
        "batch_size = 4\n"
        "keep_tokens = 2\n"
        "\n"
        "  [[datasets.subsets]]\n"
        "  image_dir = 'a'\n"
        "  num_repeats = 10\n"
        "  class_tokens = 'sks dog'\n"
        "  keep_tokens = 3\n"
        "  shuffle_caption = false\n"
        "\n"
        "  [[datasets.subsets]]\n"
        "  image_dir = 'reg'\n"
        "  is_reg = true\n"
        "  caption_extension = '.cap'\n"
        "\n"
        "[[datasets]]\n"
        "resolution = 1024\n"
        "max_bucket_reso = 2000\n"
        "min_bucket_reso = 300\n"
        "  [[datasets.subsets]]\n"
        "  image_dir = 'b'\n"
        "  face_crop_aug_range = [2.0, 4]\n"
        "  caption_dropout_rate = 0\n";
    DatasetArgs a = args512();
    a.ds.batch_size = 2;              // command line: overridden by the dataset's 4
    a.sub.caption_prefix = "cli";     // command line: used where the file says nothing
    DatasetSetup s;
    SdlStatus st = dataset_setup_from_toml_text(&s, t, "cfg.toml", &a);
    CHECK(st == SDL_OK);
    if (st != SDL_OK) { sdl_error_print(stderr); return; }
    CHECK(s.n_datasets == 2);
    DatasetConfig *d0 = &s.datasets[0], *d1 = &s.datasets[1];
    CHECK(d0->is_dreambooth && d0->enable_bucket && d0->batch_size == 4);
    CHECK(d0->resolution[0] == 768 && d0->resolution[1] == 512);
    CHECK(d0->n_subsets == 2 && d0->line == 7 && d0->subsets[0].line == 12);
    SubsetConfig *s0 = &d0->subsets[0], *s1 = &d0->subsets[1];
    CHECK(s0->num_repeats == 10 && strcmp(s0->class_tokens, "sks dog") == 0);
    CHECK(s0->keep_tokens == 3 && !s0->shuffle_caption);          // subset wins, false overrides
    CHECK(s1->keep_tokens == 2 && s1->shuffle_caption);            // dataset, then general
    CHECK(strcmp(s0->caption_extension, ".txt") == 0);             // general, dot added
    CHECK(strcmp(s1->caption_extension, ".cap") == 0 && s1->is_reg);
    CHECK(s1->num_repeats == 1 && !s1->class_tokens);              // defaults
    CHECK(strcmp(s0->caption_prefix, "cli") == 0);                 // command line
    CHECK(d1->batch_size == 2 && d1->resolution[0] == 1024 && d1->resolution[1] == 1024);
    // min rounded down, max rounded up to the step (kohya's adjust_min_max_bucket_reso_by_steps)
    CHECK(d1->min_bucket_reso == 256 && d1->max_bucket_reso == 2048);
    CHECK(d1->subsets[0].has_face_crop_aug_range && d1->subsets[0].face_crop_aug_range[1] == 4.0);
    CHECK(d1->subsets[0].keep_tokens == 1);
    dataset_setup_free(&s);
}

static void test_config_errors(void) {
    DatasetArgs a = args512();
    DatasetSetup s;
    // unknown key, with file:line and a suggestion
    CHECK(dataset_setup_from_toml_text(&s, "[[datasets]]\n[[datasets.subsets]]\nimage_dir = 'a'\nnum_repeat = 3\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(last_reason_has("unknown key 'num_repeat' in [datasets.subsets] at x.toml:4"));
    CHECK(strstr(sdl_last_error()->hint, "num_repeats") != NULL);
    CHECK(dataset_setup_from_toml_text(&s, "[general]\nfoo = 1\n[[datasets]]\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(last_reason_has("unknown key 'foo' in [general] at x.toml:2"));
    CHECK(dataset_setup_from_toml_text(&s, "[[datasets]]\nbar = true\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(last_reason_has("unknown key 'bar' in [datasets] at x.toml:2"));
    CHECK(dataset_setup_from_toml_text(&s, "resolution = 512\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(last_reason_has("unknown key 'resolution' at the top level at x.toml:1"));
    // level rules
    CHECK(dataset_setup_from_toml_text(&s, "[general]\nimage_dir = 'a'\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(last_reason_has("key 'image_dir' is not allowed in [general] at x.toml:2"));
    CHECK(strstr(sdl_last_error()->hint, "[[datasets.subsets]]") != NULL);
    CHECK(dataset_setup_from_toml_text(&s, "[[datasets]]\nis_reg = true\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(last_reason_has("key 'is_reg' is not allowed in [[datasets]]"));
    CHECK(dataset_setup_from_toml_text(&s, "[[datasets]]\n[[datasets.subsets]]\nimage_dir='a'\nbatch_size = 2\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(last_reason_has("key 'batch_size' is not allowed in [[datasets.subsets]] at x.toml:4"));
    CHECK(dataset_setup_from_toml_text(&s, "[[datasets]]\n[[datasets.subsets]]\nimage_dir='a'\nresolution = 512\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(dataset_setup_from_toml_text(&s, "[general]\nprior_loss_weight = 1.0\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(strstr(sdl_last_error()->hint, "command line") != NULL);
    // types
    CHECK(dataset_setup_from_toml_text(&s, "[general]\nbatch_size = '2'\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(last_reason_has("'batch_size' in [general] at x.toml:2 must be an integer, not string"));
    CHECK(dataset_setup_from_toml_text(&s, "[general]\nenable_bucket = 1\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(last_reason_has("must be true or false"));
    CHECK(dataset_setup_from_toml_text(&s, "[general]\nresolution = [512]\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(dataset_setup_from_toml_text(&s, "[general]\nresolution = [512, 'x']\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(dataset_setup_from_toml_text(&s, "[general]\nresolution = 1.5\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(dataset_setup_from_toml_text(&s, "[general]\ncaption_dropout_rate = true\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(dataset_setup_from_toml_text(&s, "[general]\ncaption_dropout_rate = 1\n[[datasets]]\n[[datasets.subsets]]\nimage_dir='a'\n", "x.toml", &a) == SDL_OK);
    dataset_setup_free(&s);
    // DreamBooth / fine-tuning mixing, missing image_dir, missing resolution
    CHECK(dataset_setup_from_toml_text(&s, "[[datasets]]\n[[datasets.subsets]]\nimage_dir='a'\n[[datasets.subsets]]\nmetadata_file='m.json'\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(last_reason_has("DreamBooth subset and fine tuning subset cannot be mixed"));
    CHECK(dataset_setup_from_toml_text(&s, "[[datasets]]\n[[datasets.subsets]]\nnum_repeats = 2\n", "x.toml", &a) == SDL_ERR_FORMAT);
    CHECK(last_reason_has("has no image_dir"));
    CHECK(dataset_setup_from_toml_text(&s, "[[datasets]]\n[[datasets.subsets]]\nmetadata_file='m.json'\n", "x.toml", &a) == SDL_OK);
    CHECK(s.n_datasets == 1 && !s.datasets[0].is_dreambooth);
    dataset_setup_free(&s);
    DatasetArgs nores;
    dataset_args_default(&nores);
    CHECK(dataset_setup_from_toml_text(&s, "[[datasets]]\n[[datasets.subsets]]\nimage_dir='a'\n", "x.toml", &nores) == SDL_ERR_ARG);
    CHECK(last_reason_has("no resolution"));
    CHECK(dataset_setup_from_toml_text(&s, "[[datasets]]\nenable_bucket=true\nmin_bucket_reso=640\n[[datasets.subsets]]\nimage_dir='a'\n", "x.toml", &a) == SDL_ERR_ARG);
    CHECK(dataset_setup_from_toml_text(&s, "[[datasets]]\n", "x.toml", &a) == SDL_ERR_FORMAT); // no subsets
    // --resolution parsing
    CHECK(dataset_args_set_resolution(&nores, "512,768") == SDL_OK && nores.ds.resolution[0] == 512 && nores.ds.resolution[1] == 768);
    CHECK(dataset_args_set_resolution(&nores, "640") == SDL_OK && nores.ds.resolution[1] == 640);
    CHECK(dataset_args_set_resolution(&nores, "512x512") != SDL_OK);
}

static void test_config_json_file(void) {
    write_str("cfg.json", "{\"general\": {\"enable_bucket\": true, \"caption_extension\": \".txt\"},"
                          " \"datasets\": [{\"resolution\": [640, 512], \"subsets\": [{\"image_dir\": \"x\", \"num_repeats\": 5, \"class_tokens\": null}]}]}");
    write_str("bad.json", "{\"datasets\": [{\"subsets\": [{\"image_dir\": \"x\", \"num_repeatz\": 5}]}]}");
    DatasetArgs a = args512();
    char p[512];
    snprintf(p, sizeof p, "%s/cfg.json", tmpdir);
    a.dataset_config = p;
    DatasetSetup s;
    CHECK(dataset_setup_build(&s, &a) == SDL_OK);
    if (s.n_datasets == 1) {
        CHECK(s.datasets[0].resolution[0] == 640 && s.datasets[0].enable_bucket);
        CHECK(s.datasets[0].subsets[0].num_repeats == 5 && strcmp(s.datasets[0].subsets[0].caption_extension, ".txt") == 0);
    }
    dataset_setup_free(&s);
    snprintf(p, sizeof p, "%s/bad.json", tmpdir);
    CHECK(dataset_setup_build(&s, &a) == SDL_ERR_FORMAT);
    CHECK(last_reason_has("unknown key 'num_repeatz' in [datasets.subsets]"));
    snprintf(p, sizeof p, "%s/cfg.yaml", tmpdir);
    CHECK(dataset_setup_build(&s, &a) == SDL_ERR_ARG);
}

// ---- folder mode and scanning ----
static void test_folder_names(void) {
    int64_t r;
    const char *c;
    CHECK(dataset_parse_folder_name("10_sks dog", &r, &c) && r == 10 && strcmp(c, "sks dog") == 0);
    CHECK(dataset_parse_folder_name("3_a_b", &r, &c) && r == 3 && strcmp(c, "a_b") == 0);
    CHECK(dataset_parse_folder_name("5", &r, &c) && r == 5 && strcmp(c, "") == 0);
    CHECK(!dataset_parse_folder_name("dog_10", &r, &c));
    CHECK(!dataset_parse_folder_name("images", &r, &c));
    CHECK(!dataset_parse_folder_name("1.5_x", &r, &c));
}

static void test_folder_scan(void) {
    mkdir_rel("train");
    mkdir_rel("train/10_sks dog");
    mkdir_rel("train/2_cat");
    mkdir_rel("train/dogs");           // ignored: no repeats prefix
    mkdir_rel("train/0_zero");         // ignored: repeats < 1
    mkdir_rel("train/10_sks dog/sub"); // not recursive
    mkdir_rel("train/10_sks dog/dir.png");
    mkdir_rel("reg");
    mkdir_rel("reg/1_dog");
    write_str("train/10_sks dog/b.png", "x");
    write_str("train/10_sks dog/a.JPG", "x");
    write_str("train/10_sks dog/c.Jpeg", "x");
    write_str("train/10_sks dog/d.webp", "x");
    write_str("train/10_sks dog/e.gif", "x");     // not an image extension
    write_str("train/10_sks dog/.hidden.png", "x");
    write_str("train/10_sks dog/sub/f.png", "x");
    write_str("train/10_sks dog/a.txt", "  sks dog, red collar \nsecond line\n");
    write_str("train/10_sks dog/b.txt", "");       // empty → class tokens, warning
    write_file("train/10_sks dog/c.txt", "\xff\xfe bad", 6); // not UTF-8 → class tokens
    write_str("train/10_sks dog/d_1_2_3_4.txt", "unused");  // no: face-crop needs the image named so
    write_str("train/2_cat/img_0_0_10_10.png", "x");
    write_str("train/2_cat/img.txt", "face crop caption\n");
    write_str("train/dogs/x.png", "x");
    write_str("train/0_zero/x.png", "x");
    for (int i = 0; i < 5; i++) {
        char n[64];
        snprintf(n, sizeof n, "reg/1_dog/r%d.png", i);
        write_str(n, "x");
    }
    DatasetArgs a = args512();
    char td[512], rd[512];
    snprintf(td, sizeof td, "%s/train", tmpdir);
    snprintf(rd, sizeof rd, "%s/reg", tmpdir);
    a.train_data_dir = td;
    a.reg_data_dir = rd;
    a.sub.caption_extension = "txt";
    a.prior_loss_weight = 0.5;
    DatasetSetup s;
    CHECK(dataset_setup_build(&s, &a) == SDL_OK);
    if (s.n_datasets != 1) return;
    DatasetConfig *d = &s.datasets[0];
    CHECK(d->n_subsets == 3);   // 10_sks dog, 2_cat (sorted), then reg 1_dog
    if (d->n_subsets != 3) { dataset_setup_free(&s); return; }
    CHECK(d->subsets[0].num_repeats == 10 && strcmp(d->subsets[0].class_tokens, "sks dog") == 0 && !d->subsets[0].is_reg);
    CHECK(d->subsets[1].num_repeats == 2 && strcmp(d->subsets[1].class_tokens, "cat") == 0);
    CHECK(d->subsets[2].is_reg && d->subsets[2].num_repeats == 1);
    CHECK(strcmp(d->subsets[0].caption_extension, ".txt") == 0);
    DatasetScan sc;
    CHECK(dataset_scan(&sc, d, a.prior_loss_weight) == SDL_OK);
    // train: 4 images x10 + 1 x2 = 42 samples; reg: 5 images x1 = 5 → balanced to 42:
    // first pass registers all 5 (n = 5), then +1 per image round-robin: 37 more =
    // 7 full rounds (35) + 2 → repeats 9, 9, 8, 8, 8
    CHECK(sc.num_train_images == 42 && sc.num_reg_images == 5);
    CHECK(sc.n_images == 10);
    if (sc.n_images == 10) {
        CHECK(strstr(sc.images[0].path, "/a.JPG") && strstr(sc.images[1].path, "/b.png") &&
              strstr(sc.images[2].path, "/c.Jpeg") && strstr(sc.images[3].path, "/d.webp"));
        CHECK(strcmp(sc.images[0].caption, "sks dog, red collar") == 0 && sc.images[0].caption_source == CAPTION_FILE);
        CHECK(strcmp(sc.images[1].caption, "sks dog") == 0 && sc.images[1].caption_source == CAPTION_EMPTY);
        CHECK(strcmp(sc.images[2].caption, "sks dog") == 0 && sc.images[2].caption_source == CAPTION_BAD_UTF8);
        CHECK(strcmp(sc.images[3].caption, "sks dog") == 0 && sc.images[3].caption_source == CAPTION_MISSING);
        CHECK(strcmp(sc.images[4].caption, "face crop caption") == 0);
        int64_t want[5] = {9, 9, 8, 8, 8};
        for (int i = 0; i < 5; i++) {
            CHECK(sc.images[5 + i].is_reg && sc.images[5 + i].num_repeats == want[i]);
            CHECK(sc.images[5 + i].loss_weight == 0.5f && strcmp(sc.images[5 + i].caption, "dog") == 0);
        }
        CHECK(sc.images[0].loss_weight == 1.0f && sc.images[0].num_repeats == 10);
    }
    CHECK(sc.subsets[0].img_count == 4 && sc.subsets[0].captions_found == 1 && sc.subsets[0].captions_fallback == 3);
    dataset_scan_free(&sc);
    dataset_setup_free(&s);
}

static void test_reg_surplus_unused(void) {
    // train 2 images x2 = 4; reg 3 images x5: the first reg image alone reaches 4 → the other
    // two are not used at all (kohya), and num_reg_images stays 15
    mkdir_rel("t2");
    mkdir_rel("t2/2_a");
    mkdir_rel("r2");
    mkdir_rel("r2/5_b");
    write_str("t2/2_a/1.png", "x");
    write_str("t2/2_a/2.png", "x");
    for (int i = 0; i < 3; i++) {
        char n[64];
        snprintf(n, sizeof n, "r2/5_b/%d.png", i);
        write_str(n, "x");
    }
    DatasetArgs a = args512();
    char td[512], rd[512];
    snprintf(td, sizeof td, "%s/t2", tmpdir);
    snprintf(rd, sizeof rd, "%s/r2", tmpdir);
    a.train_data_dir = td;
    a.reg_data_dir = rd;
    DatasetSetup s;
    DatasetScan sc;
    CHECK(dataset_setup_build(&s, &a) == SDL_OK);
    CHECK(dataset_scan(&sc, &s.datasets[0], 1.0) == SDL_OK);
    CHECK(sc.num_train_images == 4 && sc.num_reg_images == 15 && sc.n_images == 3 && sc.n_unused_reg == 2);
    CHECK(sc.n_images == 3 && sc.images[2].is_reg && sc.images[2].num_repeats == 5);
    CHECK(sc.subsets[0].captions_fallback == 2); // no .caption files: class tokens "a"
    CHECK(strcmp(sc.images[0].caption, "a") == 0);
    dataset_scan_free(&sc);
    dataset_setup_free(&s);
    // no usable subfolder at all → error naming the folder
    mkdir_rel("t3");
    mkdir_rel("t3/images");
    snprintf(td, sizeof td, "%s/t3", tmpdir);
    a.train_data_dir = td;
    a.reg_data_dir = NULL;
    CHECK(dataset_setup_build(&s, &a) == SDL_ERR_NOT_FOUND);
}

static void test_image_names(void) {
    CHECK(scan_is_image_name("a.png") && scan_is_image_name("a.PNG") && scan_is_image_name("a.JpEg"));
    CHECK(scan_is_image_name("x.bmp") && scan_is_image_name("x.webp") && scan_is_image_name("x.jpg"));
    CHECK(!scan_is_image_name("a.gif") && !scan_is_image_name("png") && !scan_is_image_name("a.png.txt"));
}

int main(void) {
    log_set_level(LOG_ERROR); // the scans warn on purpose
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sdlora_test_dataset_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    RUN(test_pyrandom_matches_python);
    RUN(test_bucket_lists);
    RUN(test_bucket_select);
    RUN(test_bucket_batches_and_shuffle);
    RUN(test_captions);
    RUN(test_config_valid_and_fallbacks);
    RUN(test_config_errors);
    RUN(test_config_json_file);
    RUN(test_folder_names);
    RUN(test_folder_scan);
    RUN(test_reg_surplus_unused);
    RUN(test_image_names);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish();
}
