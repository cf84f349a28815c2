// bench_conv2d.c — conv2d forward/backward speed at Stable Diffusion shapes, against the
// measured sgemm ceiling of this machine's BLAS.
//
// Usage: bench_conv2d [reps]   (default 7; one warm-up call before each timed series)
// Rows: fwd = forward; bwd = backward with dinp, dw and db; bdx = backward with dinp only (the
// LoRA case: frozen base weights). FLOPs: forward 2*N*OC*IC*KH*KW*OH*OW; bwd twice that (dinp
// and dw; db is not counted); bdx the same as forward.
// The ceiling is the sgemm of the 3x3 320->320 64x64 conv's shape (320 x 4096 x 2880). On a
// shared machine it is re-timed interleaved with every row (one GEMM after each timed call), and
// a row's "% ceil" divides by the best ceiling seen so far, so a quiet moment for the conv that
// the GEMM missed cannot inflate the percentage. GFLOP/s and % come from the best time.
#include "ops/conv2d.h"
#include "ops/gemm.h"
#include "base/clock.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reps = 7;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *rand_buf(size_t n, unsigned seed) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) { fprintf(stderr, "out of memory (%zu floats)\n", n); exit(1); }
    // Cheap deterministic values in [-1, 1): speed does not depend on the distribution.
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)(s >> 8) * (1.0f / 8388608.0f) - 1.0f;
    }
    return p;
}

// ---- the sgemm ceiling ----

typedef struct { int64_t M, N, K; float *A, *B, *C; double best; } GemmCase;
static GemmCase ceil_gemm;

static void gemm_case_init(GemmCase *g, int64_t M, int64_t N, int64_t K) {
    *g = (GemmCase){M, N, K, rand_buf((size_t)(M * K), 1), rand_buf((size_t)(K * N), 2), rand_buf((size_t)(M * N), 3), 1e30};
}
static void gemm_case_free(GemmCase *g) { free(g->A); free(g->B); free(g->C); }
static double gemm_case_flops(const GemmCase *g) { return 2.0 * (double)g->M * (double)g->N * (double)g->K; }

// Runs the GEMM once and keeps its best time.
static void gemm_case_time(GemmCase *g) {
    double t0 = time_now();
    gemm(false, false, g->M, g->N, g->K, 1.0f, g->A, g->K, g->B, g->N, 0.0f, g->C, g->N);
    double t = time_now() - t0;
    if (t < g->best) g->best = t;
}

static double ceiling_gflops(void) { return gemm_case_flops(&ceil_gemm) / ceil_gemm.best * 1e-9; }

// ---- timing ----

typedef void (*BenchFn)(void *ctx);

// Times fn over r repetitions after one warm-up, re-timing the ceiling GEMM after each call;
// returns the best and median seconds of fn.
static void time_it(BenchFn fn, void *ctx, int r, double *best, double *median) {
    double t[64];
    if (r > 64) r = 64;
    fn(ctx);
    for (int i = 0; i < r; i++) {
        double t0 = time_now();
        fn(ctx);
        t[i] = time_now() - t0;
        gemm_case_time(&ceil_gemm);
    }
    qsort(t, (size_t)r, sizeof(double), cmp_double);
    *best = t[0];
    *median = t[r / 2];
}

typedef struct {
    Conv2dDims d;
    float *inp, *w, *b, *out, *dout, *dinp, *dw, *db, *work;
} ConvCase;
static void run_fwd(void *p) {
    ConvCase *c = p;
    conv2d_forward(c->out, c->inp, c->w, c->b, &c->d, c->work);
}
static void run_bwd(void *p) {
    ConvCase *c = p;
    conv2d_backward(c->dinp, c->dw, c->db, c->dout, c->inp, c->w, &c->d, c->work);
}
static void run_bwd_dinp(void *p) {
    ConvCase *c = p;
    conv2d_backward(c->dinp, NULL, NULL, c->dout, c->inp, c->w, &c->d, c->work);
}

static void print_row(const char *name, const char *dir, double flops, double best, double med, size_t nwork) {
    double gf = flops / best * 1e-9;
    printf("| %-40s | %s | %8.2f | %8.2f | %7.1f | %5.1f%% | %8.1f |\n", name, dir, best * 1e3, med * 1e3, gf,
           100.0 * gf / ceiling_gflops(), (double)nwork * sizeof(float) / (1 << 20));
    fflush(stdout);
}

// backward: 0 forward only, 1 also the full backward, 2 also the dinp-only backward.
static void bench_conv(const char *name, Conv2dDims d, int backward) {
    const int64_t OH = conv2d_out_h(&d), OW = conv2d_out_w(&d);
    const size_t ni = (size_t)(d.N * d.IC * d.H * d.W), no = (size_t)(d.N * d.OC * OH * OW);
    const size_t nw = (size_t)(d.OC * d.IC * d.KH * d.KW), nwork = conv2d_work_floats(&d);
    ConvCase c = {.d = d, .inp = rand_buf(ni, 4), .w = rand_buf(nw, 5), .b = rand_buf((size_t)d.OC, 6),
                  .out = rand_buf(no, 7), .work = rand_buf(nwork, 8)};
    const double flops = 2.0 * (double)d.N * (double)d.OC * (double)(d.IC * d.KH * d.KW) * (double)(OH * OW);
    // Fewer repetitions for the big cases keep the whole bench around a minute.
    int r = flops > 20e9 ? (reps + 2) / 3 : reps;
    double best, med;
    time_it(run_fwd, &c, r, &best, &med);
    print_row(name, "fwd", flops, best, med, nwork);
    if (backward) {
        c.dout = rand_buf(no, 9);
        c.dinp = rand_buf(ni, 10);
        c.dw = rand_buf(nw, 11);
        c.db = rand_buf((size_t)d.OC, 12);
        time_it(run_bwd, &c, r, &best, &med);
        print_row(name, "bwd", 2 * flops, best, med, nwork);
        if (backward > 1) {
            time_it(run_bwd_dinp, &c, r, &best, &med);
            print_row(name, "bdx", flops, best, med, nwork);
        }
        free(c.dout); free(c.dinp); free(c.dw); free(c.db);
    }
    free(c.inp); free(c.w); free(c.b); free(c.out); free(c.work);
}

static void cpu_name(char *buf, size_t cap) {
    snprintf(buf, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                snprintf(buf, cap, "%s", c + 2);
                buf[strcspn(buf, "\n")] = 0;
            }
            break;
        }
    }
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc > 1) reps = atoi(argv[1]);
    if (reps < 1) reps = 1;
    char cpu[256];
    cpu_name(cpu, sizeof cpu);
    printf("# bench_conv2d: %s, %d threads, %s\n", cpu, sdl_get_threads(), gemm_backend_name());

    gemm_case_init(&ceil_gemm, 320, 4096, 2880); // the 3x3 320->320 64x64 conv as one GEMM
    gemm_case_time(&ceil_gemm);                  // warm-up
    ceil_gemm.best = 1e30;
    for (int i = 0; i < reps; i++) gemm_case_time(&ceil_gemm);
    printf("sgemm 320 x 4096 x 2880: best %.2f ms, %.1f GFLOP/s\n", ceil_gemm.best * 1e3, ceiling_gflops());
    GemmCase sq;
    gemm_case_init(&sq, 2048, 2048, 2048);
    gemm_case_time(&sq);
    sq.best = 1e30;
    for (int i = 0; i < reps; i++) gemm_case_time(&sq);
    printf("sgemm 2048 x 2048 x 2048: best %.2f ms, %.1f GFLOP/s\n\n", sq.best * 1e3, gemm_case_flops(&sq) / sq.best * 1e-9);
    gemm_case_free(&sq);

    printf("| %-40s | dir | best ms  | med ms   | GFLOP/s | %% ceil | work MiB |\n", "shape (N, IC->OC, HxW, k, s, pad)");
    printf("|------------------------------------------|-----|----------|----------|---------|--------|----------|\n");
    bench_conv("1, 320->320, 64x64, 3x3 s1 p1", conv2d_dims(1, 320, 64, 64, 320, 3, 1, 1), 2);
    bench_conv("1, 320->320, 64x64, 3x3 s2 p1", conv2d_dims(1, 320, 64, 64, 320, 3, 2, 1), 2);
    bench_conv("1, 320->320, 64x64, 1x1", conv2d_dims(1, 320, 64, 64, 320, 1, 1, 0), 1);
    bench_conv("1, 640->640, 32x32, 3x3 s1 p1", conv2d_dims(1, 640, 32, 32, 640, 3, 1, 1), 1);
    bench_conv("1, 1280->1280, 16x16, 3x3 s1 p1", conv2d_dims(1, 1280, 16, 16, 1280, 3, 1, 1), 1);
    bench_conv("1, 1280->1280, 8x8, 3x3 s1 p1", conv2d_dims(1, 1280, 8, 8, 1280, 3, 1, 1), 2);
    bench_conv("2, 320->320, 64x64, 3x3 s1 p1", conv2d_dims(2, 320, 64, 64, 320, 3, 1, 1), 1);
    bench_conv("1, 128->128, 256x256, 3x3 s1 p1", conv2d_dims(1, 128, 256, 256, 128, 3, 1, 1), 1);
    Conv2dDims vd = conv2d_dims(1, 128, 256, 256, 128, 3, 2, 0);
    vd.pad_bottom = vd.pad_right = 1; // VAE downsampler
    bench_conv("1, 128->128, 256x256, 3x3 s2 (0,1,0,1)", vd, 1);
    bench_conv("1, 128->128, 512x512, 3x3 s1 p1", conv2d_dims(1, 128, 512, 512, 128, 3, 1, 1), 0);
    bench_conv("1, 512->512, 64x64, 3x3 s1 p1", conv2d_dims(1, 512, 64, 64, 512, 3, 1, 1), 0);
    // LoCon (LoRA on 3x3 convs): the rank-r down projection is a 3x3 conv with few outputs.
    bench_conv("1, 320->16, 64x64, 3x3 s1 p1 (LoCon)", conv2d_dims(1, 320, 64, 64, 16, 3, 1, 1), 2);
    bench_conv("1, 1280->16, 16x16, 3x3 s1 p1 (LoCon)", conv2d_dims(1, 1280, 16, 16, 16, 3, 1, 1), 2);
    printf("\nceiling at the end (best of all interleaved runs): %.1f GFLOP/s\n", ceiling_gflops());
    gemm_case_free(&ceil_gemm);
    return 0;
}
