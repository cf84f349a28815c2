// bench_attention.c — tiled attention forward/backward at the Stable Diffusion shapes, in
// GFLOP/s and as a fraction of the measured sgemm ceiling (square 2048 GEMM through gemm()).
//
// FLOPs: forward 4·B·NH·P·HD (QKᵀ and PV), backward 10·B·NH·P·HD (QKᵀ recompute, dV, dP, dQ,
// dK), where P is the number of (query, key) pairs computed: Tq·Tk, or Tq·(Tq+1)/2 causal.
// Usage: bench_attention [reps] [threads]   (best of `reps` timings per entry, default 5)
#include "ops/attention.h"
#include "ops/gemm.h"
#include "base/rng.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Process CPU seconds: under load from other processes, CPU time / threads estimates the time
// the op would take on otherwise idle cores (for long ops; see the header printed by main).
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *randn(int64_t n, uint64_t seed) {
    float *x = malloc((size_t)n * sizeof(float));
    if (!x) { fprintf(stderr, "bench_attention: out of memory\n"); exit(1); }
    Rng r;
    rng_seed(&r, seed);
    rng_randn_fill(&r, x, (size_t)n);
    return x;
}

// "model name" from /proc/cpuinfo, or "unknown CPU".
static const char *cpu_name(void) {
    static char name[128] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return name;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(name, sizeof name, "%s", colon + 2);
            name[strcspn(name, "\n")] = 0;
            break;
        }
    }
    fclose(f);
    return name;
}

typedef struct {
    double wall, cpu; // best wall-clock seconds; best process CPU seconds / threads
} Timing;

typedef struct {
    const AttnDims *d;
    float *q, *k, *v, *dout, *out, *lse, *dq, *dk, *dv, *work;
    int64_t n; // square GEMM size for the ceiling
} Args;

static void run_forward(Args *a) { attention_forward(a->out, a->lse, a->q, a->k, a->v, a->d, a->work); }
static void run_backward(Args *a) {
    attention_backward(a->dq, a->dk, a->dv, a->dout, a->q, a->k, a->v, a->out, a->lse, a->d, a->work);
}
static void run_sgemm(Args *a) { gemm(false, false, a->n, a->n, a->n, 1.0f, a->q, a->n, a->k, a->n, 0.0f, a->out, a->n); }

static Timing best_of(void (*fn)(Args *), Args *a, int reps) {
    Timing b = {1e30, 1e30};
    fn(a); // warm-up
    for (int r = 0; r < reps; r++) {
        double w = now(), c = cpu_now();
        fn(a);
        w = now() - w;
        c = (cpu_now() - c) / sdl_get_threads();
        if (w < b.wall) b.wall = w;
        if (c < b.cpu) b.cpu = c;
    }
    return b;
}

typedef struct {
    const char *name;
    AttnDims d;
} Shape;

static const Shape shapes[] = {
    {"self 64x64 latent (SD1.5 level 1)", {1, 4096, 4096, 8, 40, 0}},
    {"self 32x32 (level 2)", {1, 1024, 1024, 8, 80, 0}},
    {"self 16x16 (level 3)", {1, 256, 256, 8, 160, 0}},
    {"self 8x8 (mid)", {1, 64, 64, 8, 160, 0}},
    {"cross 4096x77", {1, 4096, 77, 8, 40, 0}},
    {"cross 4096x154", {1, 4096, 154, 8, 40, 0}},
    {"cross 1024x77", {1, 1024, 77, 8, 80, 0}},
    {"CLIP causal 77, 12x64", {1, 77, 77, 12, 64, 1}},
    {"VAE mid 4096, 1x512", {1, 4096, 4096, 1, 512, 0}},
    {"self 4096 8x40, B=2", {2, 4096, 4096, 8, 40, 0}},
};

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1) reps = 1;
    if (argc > 2) sdl_set_threads(atoi(argv[2]));
    printf("# bench_attention: %s; %s; %d threads\n", cpu_name(), gemm_backend_name(), sdl_get_threads());
    printf("# best of %d; %%ceil = GFLOP/s over the sgemm ceiling measured the same way. cpu%%: the same\n"
           "# from process CPU time / threads, steadier when other processes share the cores, but only\n"
           "# meaningful for ops of >= ~10 ms (threads that sleep or spin between ops skew it).\n", reps);
    Args g = {NULL};
    g.n = 2048;
    g.q = randn(g.n * g.n, 1);
    g.k = randn(g.n * g.n, 2);
    g.out = randn(g.n * g.n, 3);
    Timing tg = best_of(run_sgemm, &g, reps);
    double flops_g = 2.0 * (double)g.n * g.n * g.n;
    double ceil_w = flops_g / tg.wall / 1e9, ceil_c = flops_g / tg.cpu / 1e9;
    printf("# sgemm 2048^3 ceiling: %.1f GFLOP/s wall, %.1f GFLOP/s cpu\n", ceil_w, ceil_c);
    free(g.q); free(g.k); free(g.out);
    printf("%-34s %-20s %8s %6s %6s %6s | %8s %6s %6s %6s | %10s\n", "shape", "(B,Tq,Tk,NHxHD)", "fwd ms", "GF/s",
           "%ceil", "cpu%", "bwd ms", "GF/s", "%ceil", "cpu%", "work");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const AttnDims *d = &shapes[s].d;
        const int64_t C = d->NH * d->HD, nq = d->B * d->Tq * C, nk = d->B * d->Tk * C;
        Args a = {d, randn(nq, 10), randn(nk, 11), randn(nk, 12), randn(nq, 13), NULL, NULL, NULL, NULL, NULL, NULL, 0};
        size_t wf = attention_work_floats(d);
        a.out = malloc((size_t)nq * 4);
        a.lse = malloc((size_t)(d->B * d->NH * d->Tq) * 4);
        a.dq = malloc((size_t)nq * 4);
        a.dk = malloc((size_t)nk * 4);
        a.dv = malloc((size_t)nk * 4);
        a.work = malloc(wf * sizeof(float) + 64);
        if (!a.out || !a.lse || !a.dq || !a.dk || !a.dv || !a.work) { fprintf(stderr, "out of memory\n"); return 1; }
        double pairs = d->causal ? (double)d->Tq * (double)(d->Tq + 1) / 2 : (double)d->Tq * (double)d->Tk;
        double unit = (double)d->B * (double)d->NH * pairs * (double)d->HD;
        Timing tf = best_of(run_forward, &a, reps);
        Timing tb = best_of(run_backward, &a, reps);
        double gf = 4 * unit / tf.wall / 1e9, gb = 10 * unit / tb.wall / 1e9;
        double gfc = 4 * unit / tf.cpu / 1e9, gbc = 10 * unit / tb.cpu / 1e9;
        char dims[64];
        snprintf(dims, sizeof dims, "(%lld,%lld,%lld,%lldx%lld)", (long long)d->B, (long long)d->Tq, (long long)d->Tk,
                 (long long)d->NH, (long long)d->HD);
        printf("%-34s %-20s %8.2f %6.1f %5.0f%% %5.0f%% | %8.2f %6.1f %5.0f%% %5.0f%% | %6.0f KiB\n", shapes[s].name, dims,
               tf.wall * 1e3, gf, 100 * gf / ceil_w, 100 * gfc / ceil_c, tb.wall * 1e3, gb, 100 * gb / ceil_w,
               100 * gbc / ceil_c, (double)wf * 4 / 1024);
        free(a.q); free(a.k); free(a.v); free(a.dout); free(a.out); free(a.lse); free(a.dq); free(a.dk); free(a.dv);
        free(a.work);
    }
    return 0;
}
