// mem.h — memory by lifetime class, with current/peak accounting, and planned arenas.
//
// Every large allocation names its lifetime class, so `sdlora train` can report where memory
// goes and the plan can be sized up front instead of growing by accident. Arenas hold many
// tensors of one class in one block: first a measuring pass (arena_init_measure) adds up the
// sizes, then the real arena of exactly that size hands out the same pointers in order.
#pragma once
#include <stddef.h>
#include <stdio.h>

typedef enum {
    MEM_BASE_WEIGHTS = 0, // frozen model weights (may be mmapped / fp16)
    MEM_TRAINABLE,        // LoRA parameters
    MEM_GRADS,            // gradients of trainable parameters
    MEM_OPTIMIZER,        // optimizer state
    MEM_ACTIVATIONS,      // activations saved for backward within one step
    MEM_SCRATCH,          // short-lived work buffers
    MEM_OTHER,            // everything else (datasets, I/O buffers)
    MEM_CLASS_COUNT
} MemClass;

#define MEM_ALIGN 64 // cache line; also satisfies AVX-512 loads

const char *mem_class_name(MemClass cls);

// 64-byte aligned; dies with a clear message (class, size) if the system refuses.
void *mem_alloc(MemClass cls, size_t bytes);
void *mem_calloc(MemClass cls, size_t bytes);
void mem_free(void *p); // NULL is fine; the class is remembered in the block header

size_t mem_current(MemClass cls);
size_t mem_peak(MemClass cls);
size_t mem_peak_total(void);        // peak of the sum over classes
size_t mem_process_peak_rss(void);  // VmHWM from /proc/self/status, bytes (0 if unknown)
size_t mem_process_rss(void);       // VmRSS, bytes
void mem_report(FILE *f);           // one line per class in use + totals + process peak RSS
// "12.3 MiB" style; returns buf.
const char *mem_format_bytes(char *buf, size_t cap, size_t bytes);

typedef struct {
    MemClass cls;
    char *base;       // NULL while measuring
    size_t size;      // capacity in bytes
    size_t used;      // bytes handed out (aligned)
    int measuring;    // 1: only count, hand out NULL
} Arena;

static inline size_t mem_align_up(size_t n) { return (n + (MEM_ALIGN - 1)) & ~(size_t)(MEM_ALIGN - 1); }

void arena_init(Arena *a, MemClass cls, size_t bytes);
void arena_init_measure(Arena *a, MemClass cls);
// An arena over memory owned elsewhere (a region of a bigger arena that several users share in
// turn, e.g. the one UNet step whose internals gradient checkpointing keeps); base NULL gives a
// measuring arena. Never arena_free a view.
void arena_init_view(Arena *a, MemClass cls, void *base, size_t bytes);
// Returns a MEM_ALIGN-aligned block; NULL when measuring. Asserts the plan holds.
void *arena_alloc(Arena *a, size_t bytes);
static inline float *arena_floats(Arena *a, size_t n) { return (float *)arena_alloc(a, n * sizeof(float)); }
void arena_reset(Arena *a);
void arena_free(Arena *a);
