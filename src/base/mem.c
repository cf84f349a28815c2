// mem.c — class-tagged aligned allocations with atomic counters; bump arenas.
#include "base/mem.h"
#include "base/error.h"
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t bytes;
    int cls;
    char pad[MEM_ALIGN - sizeof(size_t) - sizeof(int)];
} BlockHeader; // keeps the user pointer MEM_ALIGN-aligned

_Static_assert(sizeof(BlockHeader) == MEM_ALIGN, "header must be one alignment unit");

static _Atomic size_t current_bytes[MEM_CLASS_COUNT];
static _Atomic size_t peak_bytes[MEM_CLASS_COUNT];
static _Atomic size_t total_bytes, total_peak;

static const char *class_names[MEM_CLASS_COUNT] = {
    "base weights", "trainable", "grads", "optimizer", "activations", "scratch", "other",
};

const char *mem_class_name(MemClass cls) { return (unsigned)cls < MEM_CLASS_COUNT ? class_names[cls] : "?"; }

static void atomic_max(_Atomic size_t *peak, size_t v) {
    size_t old = atomic_load(peak);
    while (v > old && !atomic_compare_exchange_weak(peak, &old, v)) {}
}

static void account(MemClass cls, size_t bytes, int sign) {
    if (sign > 0) {
        atomic_max(&peak_bytes[cls], atomic_fetch_add(&current_bytes[cls], bytes) + bytes);
        atomic_max(&total_peak, atomic_fetch_add(&total_bytes, bytes) + bytes);
    } else {
        atomic_fetch_sub(&current_bytes[cls], bytes);
        atomic_fetch_sub(&total_bytes, bytes);
    }
}

void *mem_alloc(MemClass cls, size_t bytes) {
    SDL_ASSERT((unsigned)cls < MEM_CLASS_COUNT);
    void *raw = NULL;
    size_t total = sizeof(BlockHeader) + mem_align_up(bytes ? bytes : 1);
    if (total < bytes || posix_memalign(&raw, MEM_ALIGN, total) != 0) {
        char b[32];
        fprintf(stderr, "error: out of memory allocating %s for %s (in use: ", mem_format_bytes(b, sizeof b, bytes), class_names[cls]);
        fprintf(stderr, "%s)\n  hint: lower the resolution or batch size, or enable --gradient_checkpointing\n",
                mem_format_bytes(b, sizeof b, atomic_load(&total_bytes)));
        exit(1);
    }
    BlockHeader *h = raw;
    h->bytes = bytes;
    h->cls = (int)cls;
    account(cls, bytes, +1);
    return (char *)raw + sizeof(BlockHeader);
}

void *mem_calloc(MemClass cls, size_t bytes) {
    void *p = mem_alloc(cls, bytes);
    memset(p, 0, bytes);
    return p;
}

void mem_free(void *p) {
    if (!p) return;
    BlockHeader *h = (BlockHeader *)((char *)p - sizeof(BlockHeader));
    account((MemClass)h->cls, h->bytes, -1);
    free(h);
}

size_t mem_current(MemClass cls) { return atomic_load(&current_bytes[cls]); }
size_t mem_peak(MemClass cls) { return atomic_load(&peak_bytes[cls]); }
size_t mem_peak_total(void) { return atomic_load(&total_peak); }

static size_t proc_status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0, klen = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0) { kb = strtoull(line + klen, NULL, 10); break; }
    fclose(f);
    return kb * 1024;
}

size_t mem_process_peak_rss(void) { return proc_status_kb("VmHWM:"); }
size_t mem_process_rss(void) { return proc_status_kb("VmRSS:"); }

const char *mem_format_bytes(char *buf, size_t cap, size_t bytes) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) v /= 1024.0, u++;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

void mem_report(FILE *f) {
    char a[32], b[32];
    fprintf(f, "memory by class (current / peak):\n");
    for (int c = 0; c < MEM_CLASS_COUNT; c++) {
        if (!mem_peak((MemClass)c)) continue;
        fprintf(f, "  %-13s %10s / %10s\n", class_names[c], mem_format_bytes(a, sizeof a, mem_current((MemClass)c)),
                mem_format_bytes(b, sizeof b, mem_peak((MemClass)c)));
    }
    fprintf(f, "  %-13s %10s / %10s\n", "total", mem_format_bytes(a, sizeof a, atomic_load(&total_bytes)),
            mem_format_bytes(b, sizeof b, mem_peak_total()));
    fprintf(f, "  process peak RSS: %s\n", mem_format_bytes(a, sizeof a, mem_process_peak_rss()));
}

void arena_init(Arena *a, MemClass cls, size_t bytes) {
    memset(a, 0, sizeof *a);
    a->cls = cls;
    a->size = mem_align_up(bytes);
    a->base = a->size ? mem_alloc(cls, a->size) : NULL;
}

void arena_init_measure(Arena *a, MemClass cls) {
    memset(a, 0, sizeof *a);
    a->cls = cls;
    a->measuring = 1;
}

void arena_init_view(Arena *a, MemClass cls, void *base, size_t bytes) {
    memset(a, 0, sizeof *a);
    a->cls = cls;
    a->base = base;
    a->size = bytes;
    a->measuring = base == NULL;
}

void *arena_alloc(Arena *a, size_t bytes) {
    size_t n = mem_align_up(bytes);
    if (a->measuring) {
        a->used += n;
        return NULL;
    }
    SDL_ASSERT(a->used + n <= a->size); // the plan and the use disagree: a bug, not a user error
    void *p = a->base + a->used;
    a->used += n;
    return p;
}

void arena_reset(Arena *a) { a->used = 0; }

void arena_free(Arena *a) {
    if (!a->measuring) mem_free(a->base);
    memset(a, 0, sizeof *a);
}
