// tfevents.c — TensorBoard event-file writer: CRC-32C, TFRecord framing, hand-encoded Event
// protobufs (see tfevents.h).
#include "io/tfevents.h"
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/clock.h"
#include "base/log.h"

// ---- CRC-32C, slicing-by-8 ----

static uint32_t crc_table[8][256]; // [k][b]: the CRC of byte b followed by k zero bytes
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++) crc_table[k][b] = (crc_table[k - 1][b] >> 8) ^ crc_table[0][crc_table[k - 1][b] & 0xff];
}

uint32_t crc32c(uint32_t crc, const void *data, size_t n) {
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    uint32_t c = ~crc;
    for (; n >= 8; p += 8, n -= 8) { // 8 bytes per step: the low 4 fold into c, the high 4 index directly
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
            crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
    }
    for (; n; p++, n--) c = (c >> 8) ^ crc_table[0][(c ^ *p) & 0xff];
    return ~c;
}

uint32_t tfrecord_masked_crc(const void *data, size_t n) {
    uint32_t c = crc32c(0, data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

// ---- a growable byte buffer with protobuf primitives ----

typedef struct {
    unsigned char *p;
    size_t n, cap;
    bool oom;
} Buf;

static void buf_put(Buf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_le(Buf *b, uint64_t v, int bytes) {
    unsigned char t[8];
    for (int i = 0; i < bytes; i++) t[i] = (unsigned char)(v >> (8 * i));
    buf_put(b, t, (size_t)bytes);
}

static void put_varint(Buf *b, uint64_t v) {
    unsigned char t[10];
    int n = 0;
    do {
        t[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    buf_put(b, t, (size_t)n);
}

// wire types: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit
static void put_key(Buf *b, int field, int wire) { put_varint(b, (uint64_t)(field << 3 | wire)); }

static void put_bytes_field(Buf *b, int field, const void *s, size_t n) {
    put_key(b, field, 2);
    put_varint(b, n);
    buf_put(b, s, n);
}

static uint64_t double_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static uint32_t float_bits(float f) {
    uint32_t u;
    if (isnan(f)) return 0x7fc00000u; // x86's 0/0 is the negative quiet NaN; Python's nan is positive
    memcpy(&u, &f, 4);
    return u;
}

// ---- the writer ----

struct TfEvents {
    FILE *fp;
    char *path;
    Buf pending;      // framed records not yet written
    int records, flush_every;
    bool failed;
};

static void writer_fail(TfEvents *w, const char *what, int err) {
    if (w->failed) return;
    w->failed = true;
    log_warn("TensorBoard log %s: %s failed (%s); no more TensorBoard records will be written, training goes on",
             w->path, what, strerror(err));
    if (w->fp) fclose(w->fp);
    w->fp = NULL;
    free(w->pending.p);
    w->pending = (Buf){0};
}

void tfevents_flush(TfEvents *w) {
    if (!w || w->failed) return;
    if (w->pending.oom) {
        writer_fail(w, "buffering", ENOMEM);
        return;
    }
    errno = 0;
    if (w->pending.n && fwrite(w->pending.p, 1, w->pending.n, w->fp) != w->pending.n) {
        writer_fail(w, "writing", errno ? errno : EIO);
        return;
    }
    w->pending.n = 0;
    w->records = 0;
    if (fflush(w->fp) != 0) writer_fail(w, "flushing", errno ? errno : EIO);
}

// Frames one Event as a TFRecord into the pending buffer.
static void add_record(TfEvents *w, const Buf *ev) {
    if (w->failed) return;
    if (ev->oom) {
        writer_fail(w, "buffering", ENOMEM);
        return;
    }
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)ev->n >> (8 * i));
    buf_put(&w->pending, len, 8);
    put_le(&w->pending, tfrecord_masked_crc(len, 8), 4);
    buf_put(&w->pending, ev->p, ev->n);
    put_le(&w->pending, tfrecord_masked_crc(ev->p, ev->n), 4);
    if (++w->records >= w->flush_every) tfevents_flush(w);
}

static void put_wall_time(Buf *ev, double wall_time) {
    if (wall_time == 0) return; // proto3 default
    put_key(ev, 1, 1);
    put_le(ev, double_bits(wall_time), 8);
}

void tfevents_scalar_at(TfEvents *w, const char *tag, int64_t step, double value, double wall_time) {
    if (!w || w->failed) return;
    Buf val = {0}, sum = {0}, ev = {0};
    put_bytes_field(&val, 1, tag, strlen(tag));      // Value.tag
    put_key(&val, 2, 5);                             // Value.simple_value (in a oneof: written even if 0)
    put_le(&val, float_bits((float)value), 4);
    put_bytes_field(&sum, 1, val.p, val.n);          // Summary.value
    put_wall_time(&ev, wall_time);                   // Event.wall_time
    if (step != 0) {                                 // Event.step (proto3 omits 0)
        put_key(&ev, 2, 0);
        put_varint(&ev, (uint64_t)step);             // negative int64: 10-byte two's complement
    }
    put_bytes_field(&ev, 5, sum.p, sum.n);           // Event.summary
    ev.oom |= val.oom || sum.oom;
    add_record(w, &ev);
    free(val.p), free(sum.p), free(ev.p);
}

void tfevents_scalar(TfEvents *w, const char *tag, int64_t step, double value) {
    tfevents_scalar_at(w, tag, step, value, wall_time_now());
}

// mkdir -p
static int make_dirs(const char *dir) {
    char *p = strdup(dir);
    if (!p) return ENOMEM;
    int err = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) err = errno;
        else err = 0;
        *s = c;
        if (!c) break;
    }
    free(p);
    struct stat st;
    if (!err && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) err = ENOTDIR;
    return err;
}

SdlStatus tfevents_open(TfEvents **out, const char *dir, int flush_every) {
    *out = NULL;
    int err = make_dirs(dir);
    if (err) return sdl_fail(SDL_ERR_IO, dir, "check --logging_dir: it must be a directory sdlora can create and write",
                             "cannot create the TensorBoard log directory: %s", strerror(err));
    TfEvents *w = calloc(1, sizeof *w);
    if (!w) return sdl_fail(SDL_ERR_OOM, dir, NULL, "out of memory");
    w->flush_every = flush_every > 0 ? flush_every : 50;
    char host[256] = "localhost";
    if (gethostname(host, sizeof host) != 0) strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *c = host; *c; c++)
        if (*c == '/') *c = '_';
    static int counter; // distinguishes writers opened in one second by one process
    int n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    size_t cap = strlen(dir) + strlen(host) + 96;
    w->path = malloc(cap);
    if (!w->path) {
        free(w);
        return sdl_fail(SDL_ERR_OOM, dir, NULL, "out of memory");
    }
    snprintf(w->path, cap, "%s/events.out.tfevents.%010lld.%s.%ld.%d", dir, (long long)wall_time_now(), host,
             (long)getpid(), n);
    w->fp = fopen(w->path, "wbx");
    if (!w->fp) {
        SdlStatus st = sdl_fail(SDL_ERR_IO, w->path, "check that the log directory is writable",
                                "cannot create the TensorBoard event file: %s", strerror(errno));
        free(w->path), free(w);
        return st;
    }
    Buf ev = {0};
    put_wall_time(&ev, wall_time_now());
    static const char version[] = "brain.Event:2";
    put_bytes_field(&ev, 3, version, sizeof version - 1); // Event.file_version
    // Event.source_metadata (10) = SourceMetadata { string writer = 1 }, as tensorboard's writer adds
    static const char writer[] = "\x0a\x06sdlora";
    put_bytes_field(&ev, 10, writer, sizeof writer - 1);
    add_record(w, &ev);
    free(ev.p);
    *out = w;
    return SDL_OK;
}

bool tfevents_close(TfEvents *w) {
    if (!w) return true;
    tfevents_flush(w);
    if (w->fp && fclose(w->fp) != 0) {
        w->fp = NULL;
        writer_fail(w, "closing", errno ? errno : EIO);
    }
    bool ok = !w->failed;
    free(w->pending.p);
    free(w->path);
    free(w);
    return ok;
}

const char *tfevents_path(const TfEvents *w) { return w->path; }
