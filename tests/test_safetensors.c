// test_safetensors.c — safetensors reader and writer: round trips of every dtype and odd shape,
// deterministic bytes, byte-identical output to Python's safetensors, the Python-written
// fixtures, atomic-write failures, I/O errors, and a catalogue of malformed files that must each
// fail with the right status and a specific reason naming the file (plus random mutations that
// must never crash). Run from the repository root (it reads tests/golden/safetensors/).
#include "harness.h"
#include "io/safetensors.h"
#include "base/half.h"
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOLDEN_DIR "tests/golden/safetensors/"

static char tmp_dir[64];

static const char *tmp_path(const char *name) {
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%s/%s", tmp_dir, name);
    return p;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(p);
}

static unsigned char *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void write_all(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); abort(); }
    if (n && fwrite(data, 1, n, f) != n) abort();
    fclose(f);
}

static void pattern(unsigned char *dst, size_t n, int seed) { // same as the Python fixture script
    for (size_t j = 0; j < n; j++) dst[j] = (unsigned char)((j * 31 + (size_t)seed * 7) & 255);
}

static int error_mentions(const char *file, const char *keyword) {
    const SdlError *e = sdl_last_error();
    int ok = (!file || strcmp(e->file, file) == 0) && strstr(e->reason, keyword) != NULL;
    if (!ok) fprintf(stderr, "  error was: file '%s' reason '%s' (wanted file '%s', keyword '%s')\n",
                     e->file, e->reason, file ? file : "(any)", keyword);
    return ok;
}

static int st_is_empty(const SafeTensors *st) {
    return st->n_tensors == 0 && st->tensors == NULL && st->n_meta == 0 && st->map == NULL && st->path == NULL;
}

// ---------------------------------------------------------------- round trips

static void test_dtype_table(void) {
    size_t sizes[ST_DTYPE_COUNT] = {1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8, 1, 1};
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        StDtype dt;
        CHECK(st_dtype_size((StDtype)i) == sizes[i]);
        CHECK(st_dtype_from_name(st_dtype_name((StDtype)i), &dt) && dt == (StDtype)i);
    }
    StDtype dt;
    CHECK(!st_dtype_from_name("F128", &dt));
    CHECK(!st_dtype_from_name("f32", &dt)); // names are case-sensitive
    CHECK(strcmp(st_dtype_name(ST_BF16), "BF16") == 0 && strcmp(st_dtype_name(ST_F8_E4M3), "F8_E4M3") == 0);
}

typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
} Spec;

static const Spec round_specs[] = {
    {"bool", ST_BOOL, 1, {5}},        {"u8", ST_U8, 2, {3, 3}},       {"i8", ST_I8, 1, {7}},
    {"i16", ST_I16, 2, {2, 3}},       {"u16", ST_U16, 1, {3}},        {"f16", ST_F16, 3, {1, 3, 1}},
    {"bf16", ST_BF16, 1, {5}},        {"i32", ST_I32, 2, {3, 1}},     {"u32", ST_U32, 1, {1}},
    {"f32", ST_F32, 4, {2, 1, 3, 2}}, {"i64", ST_I64, 1, {3}},        {"u64", ST_U64, 1, {2}},
    {"f64", ST_F64, 2, {1, 3}},       {"f8e4", ST_F8_E4M3, 1, {9}},   {"f8e5", ST_F8_E5M2, 1, {4}},
    {"scalar_f32", ST_F32, 0, {0}},   {"scalar_i64", ST_I64, 0, {0}}, {"zero_f32", ST_F32, 1, {0}},
    {"zero_mid", ST_F16, 3, {3, 0, 2}}, {"dims8", ST_U8, 8, {1, 2, 1, 2, 1, 2, 1, 3}},
};
#define N_ROUND (int)(sizeof round_specs / sizeof round_specs[0])

static int64_t spec_numel(const Spec *s) {
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->shape[i];
    return n;
}

static void test_roundtrip_all_dtypes(void) {
    unsigned char *bufs[N_ROUND];
    StWriter *w = st_writer_new();
    for (int k = 0; k < N_ROUND; k++) {
        size_t nb = (size_t)spec_numel(&round_specs[k]) * st_dtype_size(round_specs[k].dtype);
        bufs[k] = malloc(nb + 1);
        pattern(bufs[k], nb, k + 1);
        st_writer_add(w, round_specs[k].name, round_specs[k].dtype, round_specs[k].ndim, round_specs[k].shape, bufs[k]);
    }
    st_writer_set_metadata(w, "ss_network_dim", "16");
    st_writer_set_metadata(w, "ss_network_alpha", "8.0");
    st_writer_set_metadata(w, "empty", "");
    const char *path = tmp_path("round.safetensors");
    CHECK(st_writer_save(w, path) == SDL_OK);
    st_writer_free(w);

    SafeTensors st;
    SdlStatus s = st_open(&st, path);
    CHECKF(s == SDL_OK, "%s", sdl_last_error()->reason);
    if (s != SDL_OK) goto done;
    CHECK(st.n_tensors == N_ROUND);
    CHECK(st.header_len % 8 == 0);
    for (int k = 0; k < N_ROUND; k++) {
        const Spec *sp = &round_specs[k];
        const StTensor *t = st_find(&st, sp->name);
        CHECKF(t != NULL, "%s", sp->name);
        if (!t) continue;
        CHECK(t->dtype == sp->dtype && t->ndim == sp->ndim);
        for (int d = 0; d < sp->ndim; d++) CHECK(t->shape[d] == sp->shape[d]);
        CHECK(t->numel == spec_numel(sp));
        CHECK(t->nbytes == (size_t)t->numel * st_dtype_size(sp->dtype));
        CHECKF(t->nbytes == 0 || memcmp(t->data, bufs[k], t->nbytes) == 0, "%s data", sp->name);
        // the writer lays data out so that every tensor is aligned to its element size
        CHECKF((uintptr_t)t->data % st_dtype_size(sp->dtype) == 0, "%s alignment", sp->name);
        CHECK((const unsigned char *)t->data >= st.bytes + 8 + st.header_len);
    }
    for (int64_t i = 1; i < st.n_tensors; i++) // file order: by offset
        CHECK(st.tensors[i - 1].offset + st.tensors[i - 1].nbytes == st.tensors[i].offset);
    CHECK(st_find(&st, "missing") == NULL && st_find(&st, "") == NULL && st_find(&st, "f3") == NULL);
    CHECK(st.n_meta == 3);
    CHECK(st_metadata_get(&st, "ss_network_dim") && strcmp(st_metadata_get(&st, "ss_network_dim"), "16") == 0);
    CHECK(st_metadata_get(&st, "ss_network_alpha") && strcmp(st_metadata_get(&st, "ss_network_alpha"), "8.0") == 0);
    CHECK(st_metadata_get(&st, "empty") && st_metadata_get(&st, "empty")[0] == '\0');
    CHECK(st_metadata_get(&st, "ss_network") == NULL);
    st_close(&st);
    CHECK(st_is_empty(&st));
    st_close(&st); // closing twice is harmless
done:
    for (int k = 0; k < N_ROUND; k++) free(bufs[k]);
}

static void test_names_and_metadata_escaping(void) {
    // names and metadata that need JSON escapes, non-ASCII, and the empty name
    const char *names[] = {"q\"uote", "back\\slash", "ctl\x01\x1f\n\t\r\b\f", "h\xc3\xa9llo \xf0\x9f\x98\x80", "", "del\x7f", "a/b.c:d"};
    const int n = (int)(sizeof names / sizeof names[0]);
    float vals[7];
    int64_t one = 1;
    StWriter *w = st_writer_new();
    for (int i = 0; i < n; i++) {
        vals[i] = (float)i + 0.5f;
        st_writer_add_f32(w, names[i], 1, &one, &vals[i]);
    }
    st_writer_set_metadata(w, "k\"\\\n\x02", "v\xe2\x9c\x93\"\\\t\x1f");
    void *buf;
    size_t size;
    CHECK(st_writer_to_memory(w, &buf, &size) == SDL_OK);
    st_writer_free(w);
    SafeTensors st;
    CHECK(st_open_memory(&st, buf, size, "escapes") == SDL_OK);
    CHECK(st.n_tensors == n);
    for (int i = 0; i < n; i++) {
        const StTensor *t = st_find(&st, names[i]);
        float v = -1;
        CHECKF(t && st_tensor_to_f32(&st, t, &v) == SDL_OK && v == vals[i], "name #%d", i);
    }
    const char *mv = st_metadata_get(&st, "k\"\\\n\x02");
    CHECK(mv && strcmp(mv, "v\xe2\x9c\x93\"\\\t\x1f") == 0);
    // escapes follow serde_json exactly: short forms, else \u00xx in lower case
    const char *esc = "\"ctl\\u0001\\u001f\\n\\t\\r\\b\\f\"";
    CHECK(memmem(buf, size, esc, strlen(esc)) != NULL);
    st_close(&st);
    free(buf);
}

static void test_to_f32(void) {
    float f32[5] = {1.5f, -2.0f, 0.0f, 3.25e-5f, -1e30f}, out[5];
    uint16_t f16[5], bf16[5];
    double f64[5] = {1.0 / 3, -7.75, 1e-300, 65536.5, -0.0};
    int32_t i32[5] = {1, 2, 3, 4, 5};
    fp32_to_fp16_array(f16, f32, 5);
    fp32_to_bf16_array(bf16, f32, 5);
    int64_t five = 5;
    StWriter *w = st_writer_new();
    st_writer_add_f32(w, "f32", 1, &five, f32);
    st_writer_add(w, "f16", ST_F16, 1, &five, f16);
    st_writer_add(w, "bf16", ST_BF16, 1, &five, bf16);
    st_writer_add(w, "f64", ST_F64, 1, &five, f64);
    st_writer_add(w, "i32", ST_I32, 1, &five, i32);
    void *buf;
    size_t size;
    CHECK(st_writer_to_memory(w, &buf, &size) == SDL_OK);
    st_writer_free(w);
    SafeTensors st;
    CHECK(st_open_memory(&st, buf, size, "conv.safetensors") == SDL_OK);
    CHECK(st_tensor_to_f32(&st, st_find(&st, "f32"), out) == SDL_OK && memcmp(out, f32, sizeof f32) == 0);
    CHECK(st_tensor_to_f32(&st, st_find(&st, "f16"), out) == SDL_OK);
    for (int i = 0; i < 5; i++) CHECK(out[i] == fp16_to_fp32(f16[i]));
    CHECK(st_tensor_to_f32(&st, st_find(&st, "bf16"), out) == SDL_OK);
    for (int i = 0; i < 5; i++) CHECK(out[i] == bf16_to_fp32(bf16[i]));
    CHECK(st_tensor_to_f32(&st, st_find(&st, "f64"), out) == SDL_OK);
    for (int i = 0; i < 5; i++) CHECK(out[i] == (float)f64[i]);
    CHECK(st_tensor_to_f32(&st, st_find(&st, "i32"), out) == SDL_ERR_UNSUPPORTED);
    CHECK(error_mentions("conv.safetensors", "I32"));
    CHECK(st_tensor_to_f32(&st, NULL, out) == SDL_ERR_ARG);
    st_close(&st);
    free(buf);
}

// A file built by hand: 8-byte length, the header text as given (no padding), data bytes.
static unsigned char *craft(const char *header, const void *data, size_t data_len, size_t *size) {
    size_t hn = strlen(header);
    *size = 8 + hn + data_len;
    unsigned char *b = malloc(*size + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hn >> (8 * i));
    memcpy(b + 8, header, hn);
    if (data_len) {
        if (data) memcpy(b + 8 + hn, data, data_len);
        else pattern(b + 8 + hn, data_len, 3);
    }
    return b;
}

static void test_unaligned_header_accepted(void) {
    // header length 59 (not a multiple of 8): the reference accepts it, and so do we; the data
    // are then unaligned, and conversion must still be right
    float want[3] = {0.5f, -1.25f, 1024.0f};
    uint16_t h[3], b[3];
    fp32_to_fp16_array(h, want, 3);
    fp32_to_bf16_array(b, want, 3);
    unsigned char data[6 + 6 + 12 + 24];
    memcpy(data, h, 6);
    memcpy(data + 6, b, 6);
    memcpy(data + 12, want, 12);
    double d[3] = {0.5, -1.25, 1024.0};
    memcpy(data + 24, d, 24);
    const char *hdr = "{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[6,12]},"
                      "\"f\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[12,24],\"extra\":[1,{\"x\":\"y\"}]},"
                      "\"d\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[24,48]}}";
    size_t size;
    unsigned char *file = craft(hdr, data, sizeof data, &size);
    SafeTensors st;
    SdlStatus s = st_open_memory(&st, file, size, "unaligned");
    CHECKF(s == SDL_OK, "%s", sdl_last_error()->reason);
    if (s == SDL_OK) {
        CHECK(st.header_len % 2 == 1); // so F16 data sits at odd addresses (malloc is aligned)
        const char *names[] = {"h", "b", "f", "d"};
        for (int k = 0; k < 4; k++) {
            float out[3] = {0};
            CHECK(st_tensor_to_f32(&st, st_find(&st, names[k]), out) == SDL_OK);
            CHECKF(memcmp(out, want, sizeof want) == 0, "%s", names[k]);
        }
        // file order is by offset, not header order
        CHECK(strcmp(st.tensors[0].name, "h") == 0 && strcmp(st.tensors[3].name, "d") == 0);
        st_close(&st);
    }
    free(file);
}

// ---------------------------------------------------------------- determinism, Python interop

static void test_deterministic_bytes(void) {
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[4] = {1, 2, 3, 4};
    int64_t i[1] = {42};
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s1[1] = {1};
    void *buf1, *buf2;
    size_t n1, n2;

    StWriter *w = st_writer_new();
    st_writer_add_f32(w, "b.weight", 2, s23, a);
    st_writer_add(w, "a.alpha", ST_F16, 1, s4, h);
    st_writer_add(w, "c.step", ST_I64, 1, s1, i);
    st_writer_set_metadata(w, "z", "last");
    st_writer_set_metadata(w, "a", "first");
    st_writer_set_metadata(w, "m", "old");
    st_writer_set_metadata(w, "m", "middle"); // replaces
    CHECK(st_writer_to_memory(w, &buf1, &n1) == SDL_OK);
    CHECK(st_writer_save(w, tmp_path("det1.safetensors")) == SDL_OK);
    st_writer_free(w);

    w = st_writer_new();
    st_writer_set_metadata(w, "m", "middle");
    st_writer_add(w, "c.step", ST_I64, 1, s1, i);
    st_writer_set_metadata(w, "a", "first");
    st_writer_add(w, "a.alpha", ST_F16, 1, s4, h);
    st_writer_set_metadata(w, "z", "last");
    st_writer_add_f32(w, "b.weight", 2, s23, a);
    CHECK(st_writer_to_memory(w, &buf2, &n2) == SDL_OK);
    CHECK(st_writer_save(w, tmp_path("det2.safetensors")) == SDL_OK);
    st_writer_free(w);

    CHECK(n1 == n2 && memcmp(buf1, buf2, n1) == 0);
    size_t f1n, f2n;
    unsigned char *f1 = read_all(tmp_path("det1.safetensors"), &f1n), *f2 = read_all(tmp_path("det2.safetensors"), &f2n);
    CHECK(f1 && f2 && f1n == n1 && f2n == n1 && memcmp(f1, buf1, n1) == 0 && memcmp(f2, buf1, n1) == 0);

    // layout: metadata first and sorted, then tensors by (dtype alignment desc, name), padded
    // with spaces to a multiple of 8
    const char *want = "{\"__metadata__\":{\"a\":\"first\",\"m\":\"middle\",\"z\":\"last\"},"
                       "\"c.step\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                       "\"b.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]},"
                       "\"a.alpha\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[32,40]}}";
    uint64_t hn = 0;
    for (int k = 0; k < 8; k++) hn |= (uint64_t)((unsigned char *)buf1)[k] << (8 * k);
    size_t wl = strlen(want);
    CHECK(hn % 8 == 0 && hn >= wl && hn < wl + 8);
    CHECK(n1 >= 8 + hn && memcmp((char *)buf1 + 8, want, wl) == 0);
    for (size_t k = wl; k < hn && 8 + k < n1; k++) CHECK(((char *)buf1)[8 + k] == ' ');
    CHECK(n1 == 8 + hn + 40);
    free(f1), free(f2), free(buf1), free(buf2);

    // no tensors, no metadata: exactly what the reference writes ("{}" + 6 spaces)
    w = st_writer_new();
    CHECK(st_writer_to_memory(w, &buf1, &n1) == SDL_OK);
    CHECK(n1 == 16 && memcmp(buf1, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
    SafeTensors st;
    CHECK(st_open_memory(&st, buf1, n1, "empty") == SDL_OK && st.n_tensors == 0 && st.n_meta == 0);
    st_close(&st);
    free(buf1);
    st_writer_free(w);
}

static void test_python_fixture(void) {
    const char *path = GOLDEN_DIR "py_written.safetensors";
    SafeTensors st;
    SdlStatus s = st_open(&st, path);
    CHECKF(s == SDL_OK, "%s: %s (run from the repository root)", path, sdl_last_error()->reason);
    if (s != SDL_OK) return;
    CHECK(st.n_tensors == 6);
    const StTensor *t = st_find(&st, "f32");
    float out[8];
    CHECK(t && t->dtype == ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    if (t && st_tensor_to_f32(&st, t, out) == SDL_OK)
        for (int i = 0; i < 6; i++) CHECK(out[i] == (float)i * 0.25f - 0.5f);
    t = st_find(&st, "f16");
    uint16_t hb[4];
    CHECK(t && t->dtype == ST_F16 && t->ndim == 1 && t->shape[0] == 4 && t->nbytes == 8);
    if (t) {
        memcpy(hb, t->data, 8);
        CHECK(hb[0] == 0x3c00 && hb[1] == 0xc100 && hb[2] == 0x7bff && hb[3] == 0x0001);
        CHECK(st_tensor_to_f32(&st, t, out) == SDL_OK);
        CHECK(out[0] == 1.0f && out[1] == -2.5f && out[2] == 65504.0f && out[3] == 0x1p-24f);
    }
    t = st_find(&st, "bf16");
    CHECK(t && t->dtype == ST_BF16 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 2);
    if (t) {
        memcpy(hb, t->data, 8);
        CHECK(hb[0] == 0x3f80 && hb[1] == 0xc040 && hb[2] == 0x3f00 && hb[3] == 0x7180);
        CHECK(st_tensor_to_f32(&st, t, out) == SDL_OK);
        CHECK(out[0] == 1.0f && out[1] == -3.0f && out[2] == 0.5f && out[3] == 0x1p100f);
    }
    t = st_find(&st, "i64");
    CHECK(t && t->dtype == ST_I64 && t->ndim == 1 && t->shape[0] == 3);
    if (t) {
        int64_t v[3];
        memcpy(v, t->data, sizeof v);
        CHECK(v[0] == -1 && v[1] == (INT64_C(1) << 40) + 7 && v[2] == INT64_MAX);
        CHECK(st_tensor_to_f32(&st, t, out) == SDL_ERR_UNSUPPORTED);
    }
    t = st_find(&st, "scalar");
    CHECK(t && t->dtype == ST_F32 && t->ndim == 0 && t->numel == 1 && t->nbytes == 4);
    if (t) CHECK(st_tensor_to_f32(&st, t, out) == SDL_OK && out[0] == 0.125f);
    t = st_find(&st, "empty");
    CHECK(t && t->dtype == ST_F32 && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 3 && t->numel == 0 && t->nbytes == 0);
    CHECK(st.n_meta == 4);
    const char *m;
    CHECK((m = st_metadata_get(&st, "ss_network_dim")) && strcmp(m, "32") == 0);
    CHECK((m = st_metadata_get(&st, "quote\"back\\slash")) && strcmp(m, "line\nbreak\ttab\x01") == 0);
    CHECK((m = st_metadata_get(&st, "unicode")) && strcmp(m, "h\xc3\xa9llo \xf0\x9f\x98\x80 \xe2\x9c\x93") == 0);
    CHECK((m = st_metadata_get(&st, "empty")) && m[0] == '\0');
    st_close(&st);
}

// Rebuilds py_written_exact.safetensors (see tools/oracle/make_safetensors_fixture.py) with
// st_writer: the bytes must be identical to what Python's safetensors wrote.
static void test_python_exact_bytes(void) {
    const char *path = GOLDEN_DIR "py_written_exact.safetensors";
    size_t ref_n;
    unsigned char *ref = read_all(path, &ref_n);
    CHECKF(ref != NULL, "cannot read %s (run from the repository root)", path);
    if (!ref) return;
    unsigned char *bufs[ST_DTYPE_COUNT], scalar[8], tricky[4];
    int64_t s23[2] = {2, 3}, s05[2] = {0, 5}, s1[1] = {1};
    const char *tricky_name = "q\"b\\s\n\x01\x7f\xc3\xa9\xf0\x9f\x98\x80";
    StWriter *w = st_writer_new();
    // added in reverse to show that the order of calls does not matter
    st_writer_add(w, tricky_name, ST_F32, 1, s1, tricky);
    pattern(tricky, 4, 21);
    st_writer_add(w, "zero", ST_F16, 2, s05, NULL);
    st_writer_add(w, "scalar", ST_F64, 0, NULL, scalar);
    pattern(scalar, 8, 20);
    for (int k = ST_DTYPE_COUNT - 1; k >= 0; k--) {
        size_t nb = 6 * st_dtype_size((StDtype)k);
        bufs[k] = malloc(nb);
        pattern(bufs[k], nb, k);
        if (k == ST_BOOL)
            for (size_t j = 0; j < nb; j++) bufs[k][j] = (unsigned char)(j & 1);
        char name[32];
        snprintf(name, sizeof name, "t_%s", st_dtype_name((StDtype)k));
        st_writer_add(w, name, (StDtype)k, 2, s23, bufs[k]);
    }
    st_writer_set_metadata(w, "format", "pt\"\\\n\x1f\xe2\x9c\x93");
    void *mine;
    size_t n;
    CHECK(st_writer_to_memory(w, &mine, &n) == SDL_OK);
    CHECKF(n == ref_n && memcmp(mine, ref, n) == 0, "C writer output (%zu bytes) differs from Python's (%zu bytes)", n, ref_n);
    if (n != ref_n || memcmp(mine, ref, n) != 0) {
        size_t k = 0;
        while (k < n && k < ref_n && ((unsigned char *)mine)[k] == ref[k]) k++;
        fprintf(stderr, "  first difference at byte %zu\n", k);
    }
    SafeTensors st;
    CHECK(st_open(&st, path) == SDL_OK && st.n_tensors == ST_DTYPE_COUNT + 3);
    const StTensor *t = st_find(&st, tricky_name);
    CHECK(t && t->nbytes == 4 && memcmp(t->data, tricky, 4) == 0);
    st_close(&st);
    free(mine);
    free(ref);
    st_writer_free(w);
    for (int k = 0; k < ST_DTYPE_COUNT; k++) free(bufs[k]);
}

// ---------------------------------------------------------------- writer and I/O failures

static void test_writer_invalid_input(void) {
    float x[4] = {0};
    int64_t s[2] = {2, 2}, neg[2] = {2, -1}, big[3] = {INT64_C(1) << 40, INT64_C(1) << 40, 0};
    const char *path = tmp_path("invalid.safetensors");
    struct { const char *what, *keyword; } cases[] = {
        {"negative dim", "invalid shape"}, {"too many dims", "dims"}, {"duplicate name", "added twice"},
        {"reserved name", "__metadata__"}, {"bad utf8 name", "UTF-8"}, {"NULL data", "NULL data"},
        {"overflowing shape", "too large"}, {"bad utf8 metadata", "UTF-8"}, {"bad dtype", "dtype"},
    };
    for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
        StWriter *w = st_writer_new();
        st_writer_add_f32(w, "ok", 2, s, x);
        switch (c) {
        case 0: st_writer_add_f32(w, "t", 2, neg, x); break;
        case 1: st_writer_add_f32(w, "t", 9, s, x); break;
        case 2: st_writer_add_f32(w, "ok", 2, s, x); break;
        case 3: st_writer_add_f32(w, "__metadata__", 2, s, x); break;
        case 4: st_writer_add_f32(w, "bad\xff", 2, s, x); break;
        case 5: st_writer_add_f32(w, "t", 2, s, NULL); break;
        case 6: st_writer_add(w, "t", ST_U8, 3, big, x); break; // overflows before the 0
        case 7: st_writer_set_metadata(w, "k", "\xc0\x80"); break;
        case 8: st_writer_add(w, "t", (StDtype)99, 2, s, x); break;
        }
        st_writer_add_f32(w, "later", 2, s, x); // the first error is the one reported
        CHECKF(st_writer_save(w, path) == SDL_ERR_ARG, "%s", cases[c].what);
        CHECKF(error_mentions(path, cases[c].keyword), "%s", cases[c].what);
        CHECKF(access(path, F_OK) != 0, "%s: nothing may be written", cases[c].what);
        st_writer_free(w);
    }
    // NULL writer (st_writer_new failed) is reported, not crashed on
    st_writer_add_f32(NULL, "x", 2, s, x);
    st_writer_set_metadata(NULL, "k", "v");
    CHECK(st_writer_save(NULL, path) == SDL_ERR_OOM);
}

static void test_atomic_write_failures(void) {
    float a[2] = {1, 2}, b[2] = {3, 4};
    int64_t s2 = 2;
    StWriter *wa = st_writer_new(), *wb = st_writer_new();
    st_writer_add_f32(wa, "x", 1, &s2, a);
    st_writer_add_f32(wb, "x", 1, &s2, b);

    // 1. the directory does not exist
    const char *nodir = tmp_path("no/such/dir/out.safetensors");
    CHECK(st_writer_save(wa, nodir) == SDL_ERR_IO);
    CHECK(error_mentions(nodir, "No such file"));

    // 2. the target is an existing directory: the rename fails, the directory stays, no temp left
    const char *dir = tmp_path("a_dir");
    CHECK(mkdir(dir, 0755) == 0);
    CHECK(st_writer_save(wa, dir) == SDL_ERR_IO);
    CHECK(error_mentions(dir, "rename failed"));
    struct stat sb;
    CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode));
    char tmp_name[512];
    snprintf(tmp_name, sizeof tmp_name, "%s.tmp-%ld", dir, (long)getpid());
    CHECK(access(tmp_name, F_OK) != 0);

    // 3. an old file survives a failed write: the temporary file cannot be created because a
    //    directory sits at its name (works as root, unlike a read-only directory)
    const char *path = tmp_path("keep.safetensors");
    CHECK(st_writer_save(wa, path) == SDL_OK);
    size_t n_old;
    unsigned char *old = read_all(path, &n_old);
    snprintf(tmp_name, sizeof tmp_name, "%s.tmp-%ld", path, (long)getpid());
    CHECK(mkdir(tmp_name, 0755) == 0);
    CHECK(st_writer_save(wb, path) == SDL_ERR_IO);
    CHECK(error_mentions(path, "cannot create"));
    size_t n_now;
    unsigned char *now = read_all(path, &n_now);
    CHECK(old && now && n_now == n_old && memcmp(old, now, n_old) == 0);
    rmdir(tmp_name);
    CHECK(st_writer_save(wb, path) == SDL_OK); // and once possible, the new content replaces it
    SafeTensors st;
    float got[2] = {0};
    CHECK(st_open(&st, path) == SDL_OK && st_tensor_to_f32(&st, st_find(&st, "x"), got) == SDL_OK && got[1] == 4);
    st_close(&st);
    free(old), free(now);
    st_writer_free(wa), st_writer_free(wb);
}

static void test_open_io_errors(void) {
    SafeTensors st;
    memset(&st, 0x5a, sizeof st); // st_open must clear it even on failure
    const char *missing = tmp_path("missing.safetensors");
    CHECK(st_open(&st, missing) == SDL_ERR_IO);
    CHECK(error_mentions(missing, "No such file"));
    CHECK(st_is_empty(&st));
    st_close(&st);

    CHECK(st_open(&st, tmp_dir) == SDL_ERR_IO);
    CHECK(error_mentions(tmp_dir, "Is a directory"));
    CHECK(st_is_empty(&st));

    const char *empty = tmp_path("empty.safetensors");
    write_all(empty, "", 0);
    CHECK(st_open(&st, empty) == SDL_ERR_IO);
    CHECK(error_mentions(empty, "empty"));
    CHECK(st_is_empty(&st));

    const char *fifo = tmp_path("fifo");
    if (mkfifo(fifo, 0644) == 0) { // must not hang waiting for a writer
        CHECK(st_open(&st, fifo) == SDL_ERR_IO);
        CHECK(error_mentions(fifo, "regular file"));
    }
    CHECK(st_open(&st, "/dev/null") == SDL_ERR_IO);
}

// ---------------------------------------------------------------- malformed files

typedef struct {
    const char *what;
    const char *header;      // header text (no padding added)
    size_t data_len;         // data bytes after the header
    SdlStatus status;        // expected
    const char *keyword;     // expected in the reason
} BadCase;

static const BadCase bad_cases[] = {
    {"bad JSON", "{\"a\":", 0, SDL_ERR_FORMAT, "not valid JSON"},
    {"bad JSON: unquoted key", "{a:1}", 0, SDL_ERR_FORMAT, "not valid JSON"},
    {"bad JSON: bad escape", "{\"a\\q\":1}", 0, SDL_ERR_FORMAT, "not valid JSON"},
    {"bad JSON: lone surrogate", "{\"\\udc00\":{}}", 0, SDL_ERR_FORMAT, "not valid JSON"},
    {"bad JSON: trailing comma", "{\"x\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]},}", 1, SDL_ERR_FORMAT, "not valid JSON"},
    {"trailing garbage", "{}x", 0, SDL_ERR_FORMAT, "after the top-level object"},
    {"two objects", "{} {}", 0, SDL_ERR_FORMAT, "after the top-level object"},
    {"NUL padding", "{}\0\0\0\0\0\0", 0, SDL_ERR_FORMAT, "control character"}, // header text has explicit length below
    {"not an object", "[1,2]", 0, SDL_ERR_FORMAT, "not a JSON object"},
    {"leading space", " {}", 0, SDL_ERR_FORMAT, "not a JSON object"},
    {"entry not an object", "{\"a\":5}", 0, SDL_ERR_FORMAT, "not an object"},
    {"unknown dtype", "{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16, SDL_ERR_UNSUPPORTED, "unknown dtype \"F128\""},
    {"lower-case dtype", "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SDL_ERR_UNSUPPORTED, "unknown dtype"},
    {"dtype not a string", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SDL_ERR_FORMAT, "\"dtype\" is a number"},
    {"missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SDL_ERR_FORMAT, "missing \"dtype\""},
    {"missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, SDL_ERR_FORMAT, "missing \"shape\""},
    {"missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, SDL_ERR_FORMAT, "missing \"data_offsets\""},
    {"shape not an array", "{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, SDL_ERR_FORMAT, "\"shape\" is a number"},
    {"shape dim a string", "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, SDL_ERR_FORMAT, "not an integer"},
    {"shape dim null", "{\"a\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]}}", 4, SDL_ERR_FORMAT, "not an integer"},
    {"9 dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, SDL_ERR_UNSUPPORTED, "more than 8 dims"},
    {"shape/bytes mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12, SDL_ERR_FORMAT, "size mismatch"},
    {"dtype/bytes mismatch", "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, SDL_ERR_FORMAT, "size mismatch"},
    {"offsets out of range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, SDL_ERR_FORMAT, "out of range"},
    {"offsets far out of range", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[9007199254740000,9007199254740004]}}", 4, SDL_ERR_FORMAT, "out of range"},
    {"begin > end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, SDL_ERR_FORMAT, "begin > end"},
    {"offsets not a pair", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8, SDL_ERR_FORMAT, "[begin, end]"},
    {"offsets strings", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\"0\",\"8\"]}}", 8, SDL_ERR_FORMAT, "[begin, end]"},
    {"overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, SDL_ERR_FORMAT, "overlap"},
    {"identical offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, SDL_ERR_FORMAT, "overlap"},
    {"zero-size inside another", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 8, SDL_ERR_FORMAT, "overlap"},
    {"gap between tensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, SDL_ERR_FORMAT, "gap"},
    {"gap at start", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, SDL_ERR_FORMAT, "gap"},
    {"trailing data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, SDL_ERR_FORMAT, "trailing bytes"},
    {"data but no tensors", "{}", 4, SDL_ERR_FORMAT, "trailing bytes"},
    {"negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, SDL_ERR_FORMAT, "negative"},
    {"negative offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, SDL_ERR_FORMAT, "negative"},
    {"fractional dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}", 10, SDL_ERR_FORMAT, "non-integer"},
    {"integral float dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, SDL_ERR_FORMAT, "non-integer"},
    {"exponent dim", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1e1],\"data_offsets\":[0,10]}}", 10, SDL_ERR_FORMAT, "non-integer"},
    {"leading zero", "{\"a\":{\"dtype\":\"U8\",\"shape\":[01],\"data_offsets\":[0,1]}}", 1, SDL_ERR_FORMAT, "leading zero"},
    {"dim 2^53", "{\"a\":{\"dtype\":\"U8\",\"shape\":[9007199254740992],\"data_offsets\":[0,1]}}", 1, SDL_ERR_FORMAT, "too large"},
    {"dim 2^64+1", "{\"a\":{\"dtype\":\"U8\",\"shape\":[18446744073709551617],\"data_offsets\":[0,1]}}", 1, SDL_ERR_FORMAT, "too large"},
    {"numel overflow", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,0]}}", 0, SDL_ERR_FORMAT, "overflows the element count"},
    {"numel > int64", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0, SDL_ERR_FORMAT, "overflows the element count"},
    {"bytes overflow", "{\"a\":{\"dtype\":\"I64\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,0]}}", 0, SDL_ERR_FORMAT, "overflows the byte count"},
    {"duplicate names", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, SDL_ERR_FORMAT, "duplicate name"},
    {"duplicate field", "{\"a\":{\"dtype\":\"U8\",\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, SDL_ERR_FORMAT, "duplicate key"},
    {"duplicate __metadata__", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, SDL_ERR_FORMAT, "duplicate key"},
    {"duplicate metadata key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, SDL_ERR_FORMAT, "duplicate key"},
    {"metadata value number", "{\"__metadata__\":{\"k\":1}}", 0, SDL_ERR_FORMAT, "not a string"},
    {"metadata value object", "{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, SDL_ERR_FORMAT, "not a string"},
    {"metadata not an object", "{\"__metadata__\":[\"k\",\"v\"]}", 0, SDL_ERR_FORMAT, "\"__metadata__\" is an array"},
    {"metadata null", "{\"__metadata__\":null}", 0, SDL_ERR_FORMAT, "\"__metadata__\" is null"},
    {"invalid UTF-8 name", "{\"a\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, SDL_ERR_FORMAT, "UTF-8"},
    {"overlong UTF-8", "{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}", 0, SDL_ERR_FORMAT, "UTF-8"},
    {"UTF-8 surrogate", "{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}", 0, SDL_ERR_FORMAT, "UTF-8"},
    {"truncated UTF-8", "{\"__metadata__\":{\"k\":\"\xe2\x9c\"}}", 0, SDL_ERR_FORMAT, "UTF-8"},
    {"NUL escape in name", "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, SDL_ERR_FORMAT, "NUL"},
    {"raw control char in string", "{\"a\nb\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, SDL_ERR_FORMAT, "control character"},
    {"unterminated string", "{\"abc", 0, SDL_ERR_FORMAT, "not terminated"},
    {"short \\u escape", "{\"a\\u12\":1}", 0, SDL_ERR_FORMAT, "\\u escape"},
    {"non-ASCII outside string", "{\xc3\xa9:1}", 0, SDL_ERR_FORMAT, "outside a string"},
};

// Also checks that st_open_memory agrees, and that *st is left empty.
static void check_bad_file(const char *what, const unsigned char *bytes, size_t n, SdlStatus want, const char *keyword) {
    const char *path = tmp_path("bad.safetensors");
    write_all(path, bytes, n);
    SafeTensors st;
    SdlStatus s = st_open(&st, path);
    CHECKF(s == want, "%s: status %s, wanted %s (%s)", what, sdl_status_name(s), sdl_status_name(want), sdl_last_error()->reason);
    CHECKF(error_mentions(path, keyword), "%s", what);
    CHECKF(sdl_last_error()->hint[0] != '\0', "%s: no hint", what);
    CHECKF(st_is_empty(&st), "%s: st not left empty", what);
    if (s == SDL_OK) st_close(&st);
    // an exact-size heap copy, so that ASan catches any read past the end
    unsigned char *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, bytes, n);
    s = st_open_memory(&st, copy, n, "mem-name");
    CHECKF(s == want && error_mentions("mem-name", keyword), "%s (memory)", what);
    if (s == SDL_OK) st_close(&st);
    free(copy);
}

static void test_malformed_catalogue(void) {
    for (size_t c = 0; c < sizeof bad_cases / sizeof bad_cases[0]; c++) {
        const BadCase *bc = &bad_cases[c];
        size_t n;
        unsigned char *f = craft(bc->header, NULL, bc->data_len, &n);
        if (strcmp(bc->what, "NUL padding") == 0) { // strlen stopped at the NULs: set the length by hand
            free(f);
            unsigned char nul[16] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', 0, 0, 0, 0, 0, 0};
            check_bad_file(bc->what, nul, sizeof nul, bc->status, bc->keyword);
            continue;
        }
        check_bad_file(bc->what, f, n, bc->status, bc->keyword);
        free(f);
    }
}

static void test_malformed_lengths(void) {
    unsigned char b[64] = {0};
    check_bad_file("5-byte file", (const unsigned char *)"\x02\0\0\0\0", 5, SDL_ERR_FORMAT, "shorter than the 8-byte");
    check_bad_file("header length 0", b, 16, SDL_ERR_FORMAT, "header length is 0");
    // length 2^40: absurd
    memset(b, 0, sizeof b);
    b[5] = 1;
    memcpy(b + 8, "{}", 2);
    check_bad_file("absurd header length", b, 16, SDL_ERR_FORMAT, "absurd");
    memset(b, 0xff, 8); // 2^64 - 1
    check_bad_file("header length 2^64-1", b, 16, SDL_ERR_FORMAT, "absurd");
    // 100,000,001: just over the limit
    uint64_t over = (uint64_t)ST_MAX_HEADER_SIZE + 1;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(over >> (8 * i));
    check_bad_file("header length limit+1", b, 16, SDL_ERR_FORMAT, "absurd");
    // 100 promised, 8 present
    memset(b, 0, sizeof b);
    b[0] = 100;
    memcpy(b + 8, "{}      ", 8);
    check_bad_file("header length > file", b, 16, SDL_ERR_FORMAT, "larger than");
    b[0] = 9; // one byte more than there is
    check_bad_file("header length = file + 1", b, 16, SDL_ERR_FORMAT, "larger than");

    // truncated data: a valid file cut short by one byte, and cut inside the header
    float x[4] = {1, 2, 3, 4};
    int64_t s4 = 4;
    StWriter *w = st_writer_new();
    st_writer_add_f32(w, "x", 1, &s4, x);
    void *full;
    size_t n;
    CHECK(st_writer_to_memory(w, &full, &n) == SDL_OK);
    st_writer_free(w);
    check_bad_file("truncated data", full, n - 1, SDL_ERR_FORMAT, "out of range");
    check_bad_file("truncated header", full, 20, SDL_ERR_FORMAT, "larger than");
    free(full);
}

static void test_valid_edge_files(void) {
    // accepted: unknown fields in an entry, zero-size tensors sharing offsets (also at the
    // end), JSON whitespace padding, a name that is empty, the biggest allowed integers in a
    // zero-size shape
    const char *hdr = "{ \"z1\" : {\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},\n"
                      "\"\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2],\"note\":\"x\"},\r\n"
                      "\"z2\":{\"data_offsets\":[0,0],\"shape\":[9007199254740991,0],\"dtype\":\"F64\"},\t"
                      "\"z3\":{\"dtype\":\"BOOL\",\"shape\":[0,1,2],\"data_offsets\":[2,2]},"
                      "\"__metadata__\":{}}   \t\n\r";
    size_t n;
    unsigned char *f = craft(hdr, "ab", 2, &n);
    SafeTensors st;
    SdlStatus s = st_open_memory(&st, f, n, "edge");
    CHECKF(s == SDL_OK, "%s", sdl_last_error()->reason);
    if (s == SDL_OK) {
        CHECK(st.n_tensors == 4 && st.n_meta == 0);
        const StTensor *t = st_find(&st, "");
        CHECK(t && t->nbytes == 2 && memcmp(t->data, "ab", 2) == 0);
        t = st_find(&st, "z2");
        CHECK(t && t->shape[0] == INT64_C(9007199254740991) && t->numel == 0);
        // file order: offset, then size, then name
        CHECK(strcmp(st.tensors[0].name, "z1") == 0 && strcmp(st.tensors[1].name, "z2") == 0);
        CHECK(strcmp(st.tensors[2].name, "") == 0 && strcmp(st.tensors[3].name, "z3") == 0);
        st_close(&st);
    }
    free(f);
    // deep nesting inside an ignored field: cJSON's depth limit turns it into a clean error
    size_t depth = 5000;
    char *deep = malloc(2 * depth + 128);
    int k = sprintf(deep, "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0],\"x\":");
    memset(deep + k, '[', depth);
    memset(deep + k + depth, ']', depth);
    strcpy(deep + k + 2 * depth, "}}");
    f = craft(deep, NULL, 0, &n);
    CHECK(st_open_memory(&st, f, n, "deep") == SDL_ERR_FORMAT && error_mentions("deep", "not valid JSON"));
    free(f);
    free(deep);
}

static void test_find_many(void) {
    // st_find over many names (binary search over the by-name index)
    enum { N = 2000 };
    static uint16_t vals[N];
    char names[N][24];
    int64_t one = 1;
    StWriter *w = st_writer_new();
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "layer.%d.w", (i * 7919) % N);
        vals[i] = (uint16_t)i;
        st_writer_add(w, names[i], ST_U16, 1, &one, &vals[i]);
    }
    void *buf;
    size_t n;
    CHECK(st_writer_to_memory(w, &buf, &n) == SDL_OK);
    st_writer_free(w);
    SafeTensors st;
    CHECK(st_open_memory(&st, buf, n, "many") == SDL_OK && st.n_tensors == N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        const StTensor *t = st_find(&st, names[i]);
        uint16_t v;
        if (!t || (memcpy(&v, t->data, 2), v != vals[i])) bad++;
    }
    CHECK(bad == 0);
    CHECK(st_find(&st, "layer.2000.w") == NULL && st_find(&st, "layer.") == NULL && st_find(&st, "zzz") == NULL);
    st_close(&st);
    free(buf);
}

// Random byte flips, insertions and truncations of valid files: every result must be either a
// clean error or a file whose tensors all lie inside the buffer. (The libFuzzer target in
// tests/fuzz/ does this far more thoroughly; this keeps a little of it in every test run.)
static void test_random_mutations(void) {
    float x[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[3] = {1, 2, 3};
    int64_t s23[2] = {2, 3}, s3 = 3;
    StWriter *w = st_writer_new();
    st_writer_add_f32(w, "w", 2, s23, x);
    st_writer_add(w, "h", ST_F16, 1, &s3, h);
    st_writer_set_metadata(w, "k", "v");
    void *seed;
    size_t n;
    CHECK(st_writer_to_memory(w, &seed, &n) == SDL_OK);
    st_writer_free(w);
    const char *tokens[] = {"0", "9", "-", ".", "e", "\"", "\\", "{", "}", "[", "]", ",", ":", " ", "\\u0000", "\xff", "99999999999999999999"};
    Rng r;
    rng_seed(&r, 1234);
    int iters = test_quick() ? 3000 : 20000, ok = 0, bad_inv = 0;
    unsigned char *m = malloc(n + 64);
    for (int it = 0; it < iters; it++) {
        memcpy(m, seed, n);
        size_t len = n;
        int edits = 1 + (int)(rng_rand_float(&r) * 3);
        for (int e = 0; e < edits; e++) {
            size_t pos = (size_t)(rng_rand_float(&r) * (float)len) % len;
            float op = rng_rand_float(&r);
            if (op < 0.5f) m[pos] = (unsigned char)(rng_rand_float(&r) * 256);
            else if (op < 0.8f) { // overwrite with a token
                const char *tk = tokens[(size_t)(rng_rand_float(&r) * 17) % 17];
                size_t tl = strlen(tk);
                if (pos + tl <= len) memcpy(m + pos, tk, tl);
            } else len = pos > 0 ? pos : 1; // truncate
        }
        unsigned char *exact = malloc(len); // exact size, so that ASan sees any over-read
        memcpy(exact, m, len);
        SafeTensors st;
        if (st_open_memory(&st, exact, len, "mutant") == SDL_OK) {
            ok++;
            for (int64_t i = 0; i < st.n_tensors; i++) {
                const StTensor *t = &st.tensors[i];
                const unsigned char *p = t->data;
                if (p < exact + 8 + st.header_len || p + t->nbytes > exact + len) bad_inv++;
                if (st_find(&st, t->name) != t) bad_inv++;
            }
            st_close(&st);
        } else if (sdl_last_error()->reason[0] == '\0') bad_inv++;
        free(exact);
    }
    CHECK(bad_inv == 0);
    CHECK(ok > 0); // some mutations (e.g. of tensor data) stay valid
    free(m);
    free(seed);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/sdlora-st-XXXXXX");
    if (!mkdtemp(tmp_dir)) { perror("mkdtemp"); return 1; }
    RUN(test_dtype_table);
    RUN(test_roundtrip_all_dtypes);
    RUN(test_names_and_metadata_escaping);
    RUN(test_to_f32);
    RUN(test_unaligned_header_accepted);
    RUN(test_deterministic_bytes);
    RUN(test_python_fixture);
    RUN(test_python_exact_bytes);
    RUN(test_writer_invalid_input);
    RUN(test_atomic_write_failures);
    RUN(test_open_io_errors);
    RUN(test_malformed_catalogue);
    RUN(test_malformed_lengths);
    RUN(test_valid_edge_files);
    RUN(test_find_many);
    RUN(test_random_mutations);
    nftw(tmp_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return test_finish();
}
