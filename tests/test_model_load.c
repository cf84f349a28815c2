// test_model_load.c — models/params + models/load: allocation, dtype conversion, and the three
// load checks (missing → error, wrong shape → error with both shapes, unknown → counted warning).
#include "harness.h"
#include "base/half.h"
#include "base/log.h"
#include "models/load.h"
#include <string.h>
#include <unistd.h>

typedef struct {
    float *conv_w, *conv_b, *proj_w;
} Tiny;

static void tiny_table(ParamTable *t, Tiny *m) {
    param_table_init(t);
    param_add(t, &m->conv_w, 4, (int64_t[]){4, 3, 3, 3}, "block.%d.conv.weight", 0);
    param_add(t, &m->conv_b, 1, (int64_t[]){4}, "block.%d.conv.bias", 0);
    param_add(t, &m->proj_w, 2, (int64_t[]){5, 4}, "proj.weight");
    param_table_allocate(t, MEM_BASE_WEIGHTS);
}

static float wv[108], bv[4], pv[20];

// Writes a file with the given prefix; skip/bad/extra select a defect.
static void write_file(const char *path, const char *prefix, int skip_bias, int bad_shape, int extra, int conv_proj) {
    for (int i = 0; i < 108; i++) wv[i] = (float)i * 0.25f - 3;
    for (int i = 0; i < 4; i++) bv[i] = (float)i + 0.5f;
    for (int i = 0; i < 20; i++) pv[i] = (float)i / 8;
    static uint16_t wh[108], pb[20];
    fp32_to_fp16_array(wh, wv, 108);
    fp32_to_bf16_array(pb, pv, 20);
    StWriter *w = st_writer_new();
    char k[128];
    snprintf(k, sizeof k, "%sblock.0.conv.weight", prefix);
    st_writer_add(w, k, ST_F16, 4, (int64_t[]){4, 3, 3, bad_shape ? 2 : 3}, wh);
    if (!skip_bias) {
        snprintf(k, sizeof k, "%sblock.0.conv.bias", prefix);
        st_writer_add_f32(w, k, 1, (int64_t[]){4}, bv);
    }
    snprintf(k, sizeof k, "%sproj.weight", prefix);
    if (conv_proj) st_writer_add(w, k, ST_BF16, 4, (int64_t[]){5, 4, 1, 1}, pb);
    else st_writer_add(w, k, ST_BF16, 2, (int64_t[]){5, 4}, pb);
    if (extra) {
        snprintf(k, sizeof k, "%sunused.%d", prefix, 1);
        st_writer_add_f32(w, k, 1, (int64_t[]){4}, bv);
        st_writer_add_f32(w, "other_model.weight", 1, (int64_t[]){4}, bv); // outside the prefix: not counted
    }
    SDL_ASSERT(st_writer_save(w, path) == SDL_OK);
    st_writer_free(w);
}

static char path[256];

static SdlStatus load(const char *prefix, ParamTable *t, LoadReport *rep) {
    SafeTensors st;
    SdlStatus s = st_open(&st, path);
    if (s != SDL_OK) return s;
    s = param_table_load(t, &st, prefix, NULL, NULL, "test model", rep);
    st_close(&st);
    return s;
}

static void test_load_converts_dtypes(void) {
    ParamTable t;
    Tiny m;
    tiny_table(&t, &m);
    CHECK(((uintptr_t)m.conv_b % MEM_ALIGN) == 0 && m.proj_w > m.conv_b);
    write_file(path, "model.", 0, 0, 1, 1);
    LoadReport rep;
    log_set_level(LOG_ERROR); // the unknown-tensor warning is expected here
    CHECK(load("model.", &t, &rep) == SDL_OK);
    log_set_level(LOG_INFO);
    CHECK(rep.loaded == 3);
    CHECK(rep.unknown == 1);
    for (int i = 0; i < 108; i++) CHECK(m.conv_w[i] == fp16_to_fp32(fp32_to_fp16(wv[i])));
    for (int i = 0; i < 4; i++) CHECK(m.conv_b[i] == bv[i]);
    for (int i = 0; i < 20; i++) CHECK(m.proj_w[i] == bf16_to_fp32(fp32_to_bf16(pv[i]))); // (5,4,1,1) → (5,4)
    param_table_free(&t);
}

// 16-bit storage (frozen base weights kept fp16/bf16): a file of the same dtype is copied as it
// is, others are rounded once (fp16 → bf16 through the exact fp32 value); fp32 entries are
// unchanged; a 16-bit entry has no fp32 pointer; a value beyond fp16's range is an error.
static void test_load_into_16bit(void) {
    for (int target = PARAM_F16; target <= PARAM_BF16; target++) {
        ParamTable t;
        Tiny m;
        param_table_init(&t);
        param_add(&t, &m.conv_w, 4, (int64_t[]){4, 3, 3, 3}, "block.0.conv.weight");
        param_add(&t, &m.conv_b, 1, (int64_t[]){4}, "block.0.conv.bias");
        param_add(&t, &m.proj_w, 2, (int64_t[]){5, 4}, "proj.weight");
        t.entries[0].dtype = t.entries[2].dtype = (ParamDtype)target;
        param_table_allocate(&t, MEM_BASE_WEIGHTS);
        CHECK(m.conv_w == NULL && m.proj_w == NULL && m.conv_b != NULL && t.storage16 != NULL);
        uint16_t *cw = param_half(&t, &t.entries[0]), *pw = param_half(&t, &t.entries[2]);
        CHECK(cw && pw && ((uintptr_t)pw % MEM_ALIGN) == 0 && param_half(&t, &t.entries[1]) == NULL);
        CHECK(t.total16 >= 108 + 20 && t.total16 < 2 * (108 + 20) + 64);
        write_file(path, "", 0, 0, 0, 0); // conv weight fp16, proj weight bf16, bias fp32
        CHECK(load("", &t, NULL) == SDL_OK);
        for (int i = 0; i < 108; i++) {
            float h = fp16_to_fp32(fp32_to_fp16(wv[i])); // what the file holds
            uint16_t want = target == PARAM_F16 ? fp32_to_fp16(wv[i]) : fp32_to_bf16(h);
            CHECKF(cw[i] == want, "conv %d: %04x, want %04x", i, cw[i], want);
        }
        for (int i = 0; i < 20; i++) {
            float b = bf16_to_fp32(fp32_to_bf16(pv[i]));
            uint16_t want = target == PARAM_BF16 ? fp32_to_bf16(pv[i]) : fp32_to_fp16(b);
            CHECKF(pw[i] == want, "proj %d: %04x, want %04x", i, pw[i], want);
        }
        for (int i = 0; i < 4; i++) CHECK(m.conv_b[i] == bv[i]);
        param_table_free(&t);
    }
    // fp32 weights out of fp16's range
    ParamTable t;
    float *w;
    param_table_init(&t);
    param_add(&t, &w, 1, (int64_t[]){3}, "big.weight");
    t.entries[0].dtype = PARAM_F16;
    param_table_allocate(&t, MEM_BASE_WEIGHTS);
    StWriter *wr = st_writer_new();
    st_writer_add_f32(wr, "big.weight", 1, (int64_t[]){3}, (float[]){1.0f, -7e4f, 2.0f});
    SDL_ASSERT(st_writer_save(wr, path) == SDL_OK);
    st_writer_free(wr);
    CHECK(load("", &t, NULL) == SDL_ERR_UNSUPPORTED);
    CHECKF(strstr(sdl_last_error()->reason, "big.weight") && strstr(sdl_last_error()->hint, "bf16"), "%s",
           sdl_last_error()->reason);
    param_table_free(&t);
    sdl_error_clear();
}

static void test_missing_tensor(void) {
    ParamTable t;
    Tiny m;
    tiny_table(&t, &m);
    write_file(path, "", 1, 0, 0, 0);
    CHECK(load("", &t, NULL) == SDL_ERR_NOT_FOUND);
    const SdlError *e = sdl_last_error();
    CHECK(strcmp(e->file, path) == 0);
    CHECKF(strstr(e->reason, "block.0.conv.bias") && strstr(e->reason, "missing") && strstr(e->reason, "(4)"), "%s", e->reason);
    param_table_free(&t);
}

static void test_wrong_shape(void) {
    ParamTable t;
    Tiny m;
    tiny_table(&t, &m);
    write_file(path, "", 0, 1, 0, 0);
    CHECK(load("", &t, NULL) == SDL_ERR_SHAPE);
    const char *r = sdl_last_error()->reason;
    CHECKF(strstr(r, "(4, 3, 3, 2)") && strstr(r, "(4, 3, 3, 3)") && strstr(r, "block.0.conv.weight"), "%s", r);
    CHECK(sdl_last_error()->hint[0] != 0);
    param_table_free(&t);
}

static void test_find_and_shape_str(void) {
    ParamTable t;
    Tiny m;
    tiny_table(&t, &m);
    const ParamEntry *e = param_find(&t, "proj.weight");
    CHECK(e && e->numel == 20 && e->dst == &m.proj_w);
    CHECK(param_find(&t, "proj.bias") == NULL);
    char b[64];
    CHECK(strcmp(param_shape_str(b, sizeof b, 0, NULL), "()") == 0);
    param_table_free(&t);
}

int main(void) {
    snprintf(path, sizeof path, "/tmp/sdlora-test-load-%d.safetensors", (int)getpid());
    RUN(test_load_converts_dtypes);
    RUN(test_load_into_16bit);
    RUN(test_missing_tensor);
    RUN(test_wrong_shape);
    RUN(test_find_and_shape_str);
    unlink(path);
    return test_finish();
}
