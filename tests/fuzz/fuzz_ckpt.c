// fuzz_ckpt.c — libFuzzer target for the PyTorch checkpoint reader: the restricted unpickler
// and the zip directory parser (io/ckpt.c, io/zip.c). Not part of `make test`.
//
// The first input byte picks the mode: even → the rest is a data.pkl, which the target wraps in
// a well-formed stored zip (with a correct CRC, so mutations reach the unpickler rather than the
// CRC check) beside storages "0" (64 bytes) and "1" (256 bytes); odd → the rest is a whole file.
//
// Build and run (Debian: clang, libclang-rt-14-dev), from the repository root:
//   mkdir -p build/fuzz && clang -std=c11 -D_GNU_SOURCE -g -O1 \
//     -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc \
//     $(pkg-config --cflags libcjson) -o build/fuzz/fuzz_ckpt tests/fuzz/fuzz_ckpt.c \
//     src/io/ckpt.c src/io/zip.c src/io/safetensors.c src/io/json.c src/base/*.c \
//     $(pkg-config --libs libcjson) -lm -lpthread
//   mkdir -p build/fuzz/corpus_ckpt && cp tests/golden/checkpoints/fuzz-seeds/* build/fuzz/corpus_ckpt/
//   build/fuzz/fuzz_ckpt -max_len=16384 -max_total_time=120 build/fuzz/corpus_ckpt
//
// Every input must either fail with a recorded reason or give tensors whose bytes lie inside
// the buffer and that st_find finds by name; any violation traps.
#include "io/ckpt.h"
#include "io/zip.h"
#include "base/error.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v), put16(p + 2, v >> 16); }

// A stored zip of the given members (no ZIP64: inputs are small). Returns its size.
static size_t make_zip(uint8_t *out, const char **names, const uint8_t **data, const size_t *sizes, int n) {
    size_t pos = 0, offs[8];
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        uint8_t *h = out + pos;
        memset(h, 0, 30);
        put32(h, 0x04034b50u);
        put32(h + 14, zip_crc32(data[i], sizes[i]));
        put32(h + 18, (uint32_t)sizes[i]);
        put32(h + 22, (uint32_t)sizes[i]);
        put16(h + 26, (uint32_t)nl);
        memcpy(h + 30, names[i], nl);
        if (sizes[i]) memcpy(h + 30 + nl, data[i], sizes[i]);
        offs[i] = pos;
        pos += 30 + nl + sizes[i];
    }
    size_t cd = pos;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        uint8_t *h = out + pos;
        memset(h, 0, 46);
        put32(h, 0x02014b50u);
        put32(h + 16, zip_crc32(data[i], sizes[i]));
        put32(h + 20, (uint32_t)sizes[i]);
        put32(h + 24, (uint32_t)sizes[i]);
        put16(h + 28, (uint32_t)nl);
        put32(h + 42, (uint32_t)offs[i]);
        memcpy(h + 46, names[i], nl);
        pos += 46 + nl;
    }
    uint8_t *e = out + pos;
    memset(e, 0, 22);
    put32(e, 0x06054b50u);
    put16(e + 8, (uint32_t)n);
    put16(e + 10, (uint32_t)n);
    put32(e + 12, (uint32_t)(pos - cd));
    put32(e + 16, (uint32_t)cd);
    return pos + 22;
}

static void check(const uint8_t *buf, size_t size) {
    SafeTensors st;
    SdlStatus s = ckpt_open_memory(&st, buf, size, "fuzz");
    if (s != SDL_OK) {
        REQUIRE(sdl_last_error()->reason[0] != '\0');
        REQUIRE(st.n_tensors == 0 && st.tensors == NULL);
        return;
    }
    for (int64_t i = 0; i < st.n_tensors; i++) {
        const StTensor *t = &st.tensors[i];
        const uint8_t *d = t->data;
        REQUIRE(t->nbytes == (size_t)t->numel * st_dtype_size(t->dtype));
        REQUIRE(d >= buf && d <= buf + size && t->nbytes <= (size_t)(buf + size - d));
        REQUIRE(st_find(&st, t->name) == t);
        volatile uint8_t sink = 0;
        for (size_t k = 0; k < t->nbytes; k++) sink ^= d[k]; // ASan checks every byte is readable
        (void)sink;
    }
    st_close(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 1) {
        // a copy, so the buffer ends exactly at the input's end (ASan sees any overread)
        uint8_t *copy = malloc(size - 1 ? size - 1 : 1);
        if (!copy) return 0;
        memcpy(copy, data + 1, size - 1);
        check(copy, size - 1);
        free(copy);
        return 0;
    }
    static uint8_t storage0[64], storage1[256];
    const char *names[3] = {"archive/data.pkl", "archive/data/0", "archive/data/1"};
    const uint8_t *members[3] = {data + 1, storage0, storage1};
    size_t sizes[3] = {size - 1, sizeof storage0, sizeof storage1};
    size_t cap = size + 3 * (46 + 30 + 32) + 22 + sizeof storage0 + sizeof storage1;
    uint8_t *zip = malloc(cap);
    if (!zip) return 0;
    size_t n = make_zip(zip, names, members, sizes, 3);
    REQUIRE(n <= cap);
    check(zip, n);
    free(zip);
    return 0;
}
