// fuzz_safetensors.c — libFuzzer target for the safetensors reader (and, through a round trip,
// the writer). Not part of `make test`.
//
// Build and run (Debian: clang, libclang-rt-14-dev), from the repository root:
//   mkdir -p build/fuzz && clang -std=c11 -D_GNU_SOURCE -g -O1 \
//     -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc \
//     $(pkg-config --cflags libcjson) -o build/fuzz/fuzz_safetensors tests/fuzz/fuzz_safetensors.c \
//     src/io/safetensors.c src/io/json.c src/base/*.c $(pkg-config --libs libcjson) -lm -lpthread
//   mkdir -p build/fuzz/corpus && cp tests/fuzz/corpus/* build/fuzz/corpus/
//   build/fuzz/fuzz_safetensors -dict=tests/fuzz/safetensors.dict -max_len=8192 \
//     -max_total_time=180 build/fuzz/corpus
// (the corpus folder grows; the copy keeps the committed seeds small.)
//
// Every input must either fail with a recorded reason, or open into tensors that lie inside
// the buffer, tile the data section, and are found by name; the accepted file is then written
// again with st_writer, re-read, compared field by field, and written once more, which must
// give identical bytes. Any violation traps.
#include "io/safetensors.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static void check_invariants(const SafeTensors *st, const uint8_t *data, size_t size) {
    REQUIRE(st->header_len > 0 && 8 + st->header_len + st->data_size == size);
    const uint8_t *d0 = data + 8 + st->header_len;
    uint64_t pos = 0;
    for (int64_t i = 0; i < st->n_tensors; i++) {
        const StTensor *t = &st->tensors[i];
        REQUIRE(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS && (unsigned)t->dtype < ST_DTYPE_COUNT);
        int64_t numel = 1;
        for (int k = 0; k < t->ndim; k++) {
            REQUIRE(t->shape[k] >= 0);
            numel *= t->shape[k];
        }
        REQUIRE(numel == t->numel && (size_t)numel * st_dtype_size(t->dtype) == t->nbytes);
        REQUIRE(t->offset == pos && (const uint8_t *)t->data == d0 + t->offset);
        REQUIRE(t->offset + t->nbytes <= st->data_size);
        pos += t->nbytes;
        REQUIRE(st_find(st, t->name) == t);
        if (t->nbytes) { // touch the first and last byte of the data
            volatile uint8_t a = ((const uint8_t *)t->data)[0], b = ((const uint8_t *)t->data)[t->nbytes - 1];
            (void)a, (void)b;
        }
        if ((t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16 || t->dtype == ST_F64) && t->numel <= (1 << 16)) {
            float *f = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float));
            REQUIRE(f && st_tensor_to_f32(st, t, f) == SDL_OK);
            free(f);
        }
    }
    REQUIRE(pos == st->data_size);
    for (int64_t i = 0; i < st->n_meta; i++) REQUIRE(st_metadata_get(st, st->meta_keys[i]) == st->meta_values[i]);
}

static void *write_back(const SafeTensors *st, size_t *n) {
    StWriter *w = st_writer_new();
    REQUIRE(w);
    for (int64_t i = 0; i < st->n_tensors; i++) {
        const StTensor *t = &st->tensors[i];
        st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    for (int64_t i = 0; i < st->n_meta; i++) st_writer_set_metadata(w, st->meta_keys[i], st->meta_values[i]);
    void *out = NULL;
    REQUIRE(st_writer_to_memory(w, &out, n) == SDL_OK); // whatever the reader accepts, the writer must write
    st_writer_free(w);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SafeTensors st;
    if (st_open_memory(&st, data, size, "fuzz") != SDL_OK) {
        REQUIRE(sdl_last_error()->reason[0] != '\0' && strcmp(sdl_last_error()->file, "fuzz") == 0);
        REQUIRE(st.n_tensors == 0 && st.tensors == NULL);
        return 0;
    }
    check_invariants(&st, data, size);

    size_t n1, n2;
    void *b1 = write_back(&st, &n1);
    SafeTensors st2;
    REQUIRE(st_open_memory(&st2, b1, n1, "fuzz-rewritten") == SDL_OK);
    check_invariants(&st2, b1, n1);
    REQUIRE(st2.n_tensors == st.n_tensors && st2.n_meta == st.n_meta);
    for (int64_t i = 0; i < st.n_tensors; i++) {
        const StTensor *a = &st.tensors[i], *b = st_find(&st2, a->name);
        REQUIRE(b && a->dtype == b->dtype && a->ndim == b->ndim && a->nbytes == b->nbytes);
        REQUIRE(memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0);
        REQUIRE(a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0);
        REQUIRE((uintptr_t)b->data % st_dtype_size(b->dtype) == 0); // malloc'ed, and the writer aligns
    }
    for (int64_t i = 0; i < st.n_meta; i++) {
        const char *v = st_metadata_get(&st2, st.meta_keys[i]);
        REQUIRE(v && strcmp(v, st.meta_values[i]) == 0);
    }
    void *b2 = write_back(&st2, &n2);
    REQUIRE(n1 == n2 && memcmp(b1, b2, n1) == 0); // the writer is a fixed point
    st_close(&st2);
    st_close(&st);
    free(b1);
    free(b2);
    return 0;
}
