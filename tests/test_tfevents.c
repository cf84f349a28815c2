// test_tfevents.c — the TensorBoard event writer (src/io/tfevents.c): CRC-32C against published
// vectors and a bitwise reference, and the file for the calls in tests/golden/tfevents/scalars.tsv
// against the one torch.utils.tensorboard.SummaryWriter wrote for them
// (tools/oracle/make_tfevents_goldens.py), record by record with wall times ignored. A small
// TFRecord reader here parses both files and checks every CRC; also flushing, directory
// creation, and that a failing write is reported but never aborts.
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "base/clock.h"
#include "io/tfevents.h"

// ---- a TFRecord reader ----
typedef struct {
    unsigned char *data[64];
    size_t len[64];
    int n;
    int bad_crc; // records whose length or data CRC did not match
} Records;

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static uint64_t le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

// Returns 0 on a framing error (truncated record).
static int parse_records(const unsigned char *b, size_t n, Records *r) {
    memset(r, 0, sizeof *r);
    size_t o = 0;
    while (o < n) {
        if (n - o < 12 || r->n == 64) return 0;
        uint64_t len = le(b + o, 8);
        if (tfrecord_masked_crc(b + o, 8) != (uint32_t)le(b + o + 8, 4)) r->bad_crc++;
        o += 12;
        if (n - o < len + 4) return 0;
        if (tfrecord_masked_crc(b + o, len) != (uint32_t)le(b + o + len, 4)) r->bad_crc++;
        r->data[r->n] = malloc(len + 1);
        memcpy(r->data[r->n], b + o, len);
        r->len[r->n++] = len;
        o += len + 4;
    }
    return 1;
}

static void free_records(Records *r) {
    for (int i = 0; i < r->n; i++) free(r->data[i]);
}

static uint64_t varint(const unsigned char *p, size_t n, size_t *o) {
    uint64_t v = 0;
    for (int s = 0; *o < n && s < 70; s += 7) {
        unsigned char c = p[(*o)++];
        v |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80)) break;
    }
    return v;
}

// The Event's top-level fields except wall_time (1) and source_metadata (10), byte for byte;
// *wall gets the wall time (0 if absent), writer the source_metadata bytes (or "").
static size_t strip_event(const unsigned char *p, size_t n, unsigned char *out, double *wall, char *writer) {
    size_t o = 0, k = 0;
    *wall = 0, writer[0] = '\0';
    while (o < n) {
        size_t start = o;
        uint64_t key = varint(p, n, &o);
        int field = (int)(key >> 3), wire = (int)(key & 7);
        if (wire == 0) varint(p, n, &o);
        else if (wire == 1) o += 8;
        else if (wire == 5) o += 4;
        else if (wire == 2) o += varint(p, n, &o);
        else return (size_t)-1;
        if (o > n) return (size_t)-1;
        if (field == 1 && wire == 1) memcpy(wall, p + start + 1, 8);
        else if (field == 10) {
            memcpy(writer, p + start, o - start), writer[o - start] = '\0';
        } else {
            memcpy(out + k, p + start, o - start);
            k += o - start;
        }
    }
    return k;
}

// ---- CRC-32C ----
static uint32_t crc32c_bitwise(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static void test_crc32c(void) {
    CHECK(crc32c(0, "123456789", 9) == 0xE3069283u); // the CRC-32C check value
    unsigned char b[32];
    memset(b, 0, 32);
    CHECK(crc32c(0, b, 32) == 0x8A9136AAu); // RFC 3720 B.4
    memset(b, 0xff, 32);
    CHECK(crc32c(0, b, 32) == 0x62A8AB43u);
    for (int i = 0; i < 32; i++) b[i] = (unsigned char)i;
    CHECK(crc32c(0, b, 32) == 0x46DD794Eu);
    // slicing-by-8 at every length and alignment vs the bitwise definition; and chaining
    unsigned char big[300];
    for (int i = 0; i < 300; i++) big[i] = (unsigned char)(i * 131 + 7);
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= 300; n += 13) CHECK(crc32c(0, big + off, n) == crc32c_bitwise(big + off, n));
    CHECK(crc32c(crc32c(0, big, 100), big + 100, 200) == crc32c(0, big, 300));
}

// ---- the golden comparison ----
static char tmp_root[256];

static void make_tmp_root(void) {
    if (tmp_root[0]) return;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/sdlora-tfevents-XXXXXX");
    SDL_ASSERT(mkdtemp(tmp_root) != NULL);
}

// Replays scalars.tsv into a new writer in dir; returns the file's path (malloc'ed).
static char *write_golden_calls(const char *dir, int flush_every) {
    char p[600];
    FILE *f = fopen(golden_path(p, sizeof p, "tfevents/scalars.tsv"), "r");
    CHECK(f != NULL);
    if (!f) return NULL;
    TfEvents *w;
    CHECK(tfevents_open(&w, dir, flush_every) == SDL_OK);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        SDL_ASSERT(tab1 && tab2);
        *tab1 = *tab2 = '\0';
        tfevents_scalar(w, line, strtoll(tab1 + 1, NULL, 10), strtod(tab2 + 1, NULL));
    }
    fclose(f);
    char *path = strdup(tfevents_path(w));
    CHECK(tfevents_close(w));
    return path;
}

static void test_golden(void) {
    make_tmp_root();
    char dir[400];
    snprintf(dir, sizeof dir, "%s/run/a/network_train", tmp_root); // parents are created
    double t0 = wall_time_now();
    char *ours_path = write_golden_calls(dir, 4);
    if (!ours_path) return;
    const char *base = strrchr(ours_path, '/') + 1;
    CHECKF(strncmp(base, "events.out.tfevents.", 20) == 0, "%s", base);
    char p[600];
    size_t na = 0, nb = 0;
    unsigned char *a = read_file(ours_path, &na), *b = read_file(golden_path(p, sizeof p, "tfevents/scalars.tfevents"), &nb);
    CHECK(a && b);
    if (!a || !b) return;
    Records ra, rb;
    CHECK(parse_records(a, na, &ra) && parse_records(b, nb, &rb));
    CHECK(ra.bad_crc == 0 && rb.bad_crc == 0);
    CHECKF(ra.n == rb.n, "%d records, golden %d", ra.n, rb.n);
    for (int i = 0; i < ra.n && i < rb.n; i++) {
        unsigned char sa[2048], sb[2048];
        char wa[300], wb[300];
        double ta, tb;
        size_t ka = strip_event(ra.data[i], ra.len[i], sa, &ta, wa), kb = strip_event(rb.data[i], rb.len[i], sb, &tb, wb);
        CHECKF(ka == kb && ka != (size_t)-1 && memcmp(sa, sb, ka) == 0, "record %d differs (%zu vs %zu bytes)", i, ka, kb);
        CHECKF(ta >= t0 - 1 && ta <= wall_time_now() + 1, "record %d wall_time %f", i, ta);
        CHECK(tb > 1.6e9);                                          // the golden has one too
        if (i == 0) CHECK(strcmp(wa, "R\x08\x0a\x06sdlora") == 0 && wb[0] == 'R'); // source_metadata.writer
        else CHECK(wa[0] == '\0' && wb[0] == '\0');
    }
    // whole records after the first are byte-identical once the wall time is patched over
    for (int i = 1; i < ra.n && i < rb.n; i++)
        if (ra.len[i] == rb.len[i] && ra.data[i][0] == 0x09) memcpy(ra.data[i] + 1, rb.data[i] + 1, 8);
    for (int i = 1; i < ra.n && i < rb.n; i++)
        CHECKF(ra.len[i] == rb.len[i] && memcmp(ra.data[i], rb.data[i], ra.len[i]) == 0, "record %d", i);
    // the reader does notice a corrupted byte
    a[na - 7] ^= 0x10;
    Records rc;
    CHECK(parse_records(a, na, &rc) && rc.bad_crc == 1);
    free_records(&rc);
    free_records(&ra), free_records(&rb);
    free(a), free(b);
    unlink(ours_path);
    free(ours_path);
}

static off_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_flush_every(void) {
    make_tmp_root();
    TfEvents *w;
    CHECK(tfevents_open(&w, tmp_root, 3) == SDL_OK);
    char *path = strdup(tfevents_path(w));
    CHECK(file_size(path) == 0); // the version record waits in the buffer
    tfevents_scalar(w, "loss/current", 1, 0.5);
    CHECK(file_size(path) == 0);
    tfevents_scalar(w, "loss/current", 2, 0.25); // third record: written
    off_t s3 = file_size(path);
    CHECK(s3 > 0);
    tfevents_scalar(w, "loss/current", 3, 0.125);
    CHECK(file_size(path) == s3);
    tfevents_flush(w);
    CHECK(file_size(path) > s3);
    // two writers opened in the same second get different files
    TfEvents *w2;
    CHECK(tfevents_open(&w2, tmp_root, 0) == SDL_OK);
    CHECK(strcmp(tfevents_path(w2), path) != 0);
    CHECK(tfevents_close(w2));
    CHECK(tfevents_close(w));
    size_t n;
    unsigned char *b = read_file(path, &n);
    Records r;
    CHECK(b && parse_records(b, n, &r) && r.n == 4 && r.bad_crc == 0);
    free_records(&r);
    free(b), free(path);
    tfevents_scalar(NULL, "x", 1, 1); // a disabled logger is a NULL writer
    CHECK(tfevents_close(NULL));
}

static void test_errors(void) {
    make_tmp_root();
    // a directory that cannot exist (below a regular file)
    char file[400], dir[500];
    snprintf(file, sizeof file, "%s/plainfile", tmp_root);
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(dir, sizeof dir, "%s/sub", file);
    TfEvents *w = (TfEvents *)1;
    CHECK(tfevents_open(&w, dir, 0) == SDL_ERR_IO && w == NULL);
    CHECK(strstr(sdl_last_error()->hint, "logging_dir") != NULL);
    unlink(file);
    // writes past a file-size limit fail: reported once, no abort, close says false (child process)
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {2000, 2000};
        setrlimit(RLIMIT_FSIZE, &lim);
        TfEvents *c;
        if (tfevents_open(&c, tmp_root, 1) != SDL_OK) _exit(2);
        for (int i = 0; i < 200; i++) tfevents_scalar(c, "loss/current", i + 1, 0.5);
        _exit(tfevents_close(c) ? 3 : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}

static void cleanup(void) {
    if (!tmp_root[0]) return;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
}

int main(void) {
    RUN(test_crc32c);
    RUN(test_golden);
    RUN(test_flush_every);
    RUN(test_errors);
    cleanup();
    return test_finish();
}
