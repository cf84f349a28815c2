// bench_norm.c — GroupNorm (+ fused SiLU) and LayerNorm forward/backward at SD shapes: best-of-N
// milliseconds and effective GB/s, counting the minimum traffic (forward: read inp, write out;
// backward: read dout and inp, write dinp) against a memcpy of the same byte count. Backward is
// timed as in LoRA training (frozen norm: dgamma = dbeta = NULL) and with parameter gradients.
// Usage: bench_norm [reps [filter]]   (default 10 reps; filter: only ops whose label contains it)
#include "base/clock.h"
#include "ops/gemm.h"
#include "ops/norm.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>

typedef enum { K_GN_FWD, K_GN_BWD, K_GN_BWD_P, K_GNS_FWD, K_GNS_BWD, K_LN_FWD, K_LN_BWD, K_LN_BWD_P } Kind;

typedef struct {
    float *x, *y, *dy, *dx, *gamma, *beta, *dg, *db, *mean, *rstd;
} Bufs;

static void run_kind(Kind k, Bufs *b, int64_t N, int64_t C, int64_t HW, int64_t G, int64_t M, int64_t D) {
    switch (k) {
    case K_GN_FWD: groupnorm_forward(b->y, b->mean, b->rstd, b->x, b->gamma, b->beta, N, C, HW, G, 1e-5f); break;
    case K_GN_BWD: groupnorm_backward(b->dx, NULL, NULL, b->dy, b->x, b->gamma, b->mean, b->rstd, N, C, HW, G); break;
    case K_GN_BWD_P: groupnorm_backward(b->dx, b->dg, b->db, b->dy, b->x, b->gamma, b->mean, b->rstd, N, C, HW, G); break;
    case K_GNS_FWD: groupnorm_silu_forward(b->y, b->mean, b->rstd, b->x, b->gamma, b->beta, N, C, HW, G, 1e-5f); break;
    case K_GNS_BWD: groupnorm_silu_backward(b->dx, NULL, NULL, b->dy, b->x, b->gamma, b->beta, b->mean, b->rstd, N, C, HW, G); break;
    case K_LN_FWD: layernorm_forward(b->y, b->mean, b->rstd, b->x, b->gamma, b->beta, M, D, 1e-5f); break;
    case K_LN_BWD: layernorm_backward(b->dx, NULL, NULL, b->dy, b->x, b->gamma, b->mean, b->rstd, M, D); break;
    case K_LN_BWD_P: layernorm_backward(b->dx, b->dg, b->db, b->dy, b->x, b->gamma, b->mean, b->rstd, M, D); break;
    }
}

static void run_naive(Kind k, Bufs *b, int64_t N, int64_t C, int64_t HW, int64_t G, int64_t M, int64_t D) {
    switch (k) {
    case K_GN_FWD: groupnorm_forward_naive(b->y, b->mean, b->rstd, b->x, b->gamma, b->beta, N, C, HW, G, 1e-5f); break;
    case K_GN_BWD: groupnorm_backward_naive(b->dx, NULL, NULL, b->dy, b->x, b->gamma, b->mean, b->rstd, N, C, HW, G); break;
    case K_GN_BWD_P: groupnorm_backward_naive(b->dx, b->dg, b->db, b->dy, b->x, b->gamma, b->mean, b->rstd, N, C, HW, G); break;
    case K_GNS_FWD: groupnorm_silu_forward_naive(b->y, b->mean, b->rstd, b->x, b->gamma, b->beta, N, C, HW, G, 1e-5f); break;
    case K_GNS_BWD: groupnorm_silu_backward_naive(b->dx, NULL, NULL, b->dy, b->x, b->gamma, b->beta, b->mean, b->rstd, N, C, HW, G); break;
    case K_LN_FWD: layernorm_forward_naive(b->y, b->mean, b->rstd, b->x, b->gamma, b->beta, M, D, 1e-5f); break;
    case K_LN_BWD: layernorm_backward_naive(b->dx, NULL, NULL, b->dy, b->x, b->gamma, b->mean, b->rstd, M, D); break;
    case K_LN_BWD_P: layernorm_backward_naive(b->dx, b->dg, b->db, b->dy, b->x, b->gamma, b->mean, b->rstd, M, D); break;
    }
}

typedef struct {
    const char *what;
    Kind kind;
    int64_t N, C, HW, G; // GroupNorm
    int64_t M, D;        // LayerNorm
} Case;

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 10;
    if (reps < 1) reps = 1;
    const char *filter = argc > 2 ? argv[2] : "";
    static const Case cases[] = {
        {"GN fwd       C=320  64x64", K_GN_FWD, 1, 320, 4096, 32, 0, 0},
        {"GN bwd       C=320  64x64", K_GN_BWD, 1, 320, 4096, 32, 0, 0},
        {"GN bwd +dg,db C=320 64x64", K_GN_BWD_P, 1, 320, 4096, 32, 0, 0},
        {"GN+SiLU fwd  C=320  64x64", K_GNS_FWD, 1, 320, 4096, 32, 0, 0},
        {"GN+SiLU bwd  C=320  64x64", K_GNS_BWD, 1, 320, 4096, 32, 0, 0},
        {"GN+SiLU fwd  C=640  32x32", K_GNS_FWD, 1, 640, 1024, 32, 0, 0},
        {"GN+SiLU bwd  C=640  32x32", K_GNS_BWD, 1, 640, 1024, 32, 0, 0},
        {"GN+SiLU fwd  C=1280 16x16", K_GNS_FWD, 1, 1280, 256, 32, 0, 0},
        {"GN+SiLU bwd  C=1280 16x16", K_GNS_BWD, 1, 1280, 256, 32, 0, 0},
        {"GN+SiLU fwd  C=1280 64x64", K_GNS_FWD, 1, 1280, 4096, 32, 0, 0},
        {"GN+SiLU bwd  C=1280 64x64", K_GNS_BWD, 1, 1280, 4096, 32, 0, 0},
        {"GN+SiLU fwd  VAE C=128 256x256", K_GNS_FWD, 1, 128, 65536, 32, 0, 0},
        {"GN+SiLU bwd  VAE C=128 256x256", K_GNS_BWD, 1, 128, 65536, 32, 0, 0},
        {"LN fwd       (4096, 320)", K_LN_FWD, 0, 0, 0, 0, 4096, 320},
        {"LN bwd       (4096, 320)", K_LN_BWD, 0, 0, 0, 0, 4096, 320},
        {"LN bwd +dg,db (4096, 320)", K_LN_BWD_P, 0, 0, 0, 0, 4096, 320},
        {"LN fwd       (256, 1280)", K_LN_FWD, 0, 0, 0, 0, 256, 1280},
        {"LN bwd       (256, 1280)", K_LN_BWD, 0, 0, 0, 0, 256, 1280},
        {"LN fwd       CLIP (77, 768)", K_LN_FWD, 0, 0, 0, 0, 77, 768},
        {"LN bwd       CLIP (77, 768)", K_LN_BWD, 0, 0, 0, 0, 77, 768},
    };
    int64_t maxn = 0, maxc = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const Case *c = &cases[i];
        int64_t n = c->M ? c->M * c->D : c->N * c->C * c->HW, ch = c->M ? c->D : c->C, st = c->M ? c->M : c->N * c->G;
        if (n > maxn) maxn = n;
        if (ch > maxc) maxc = ch;
        if (st > maxc) maxc = st;
    }
    Bufs b;
    float **all[] = {&b.x, &b.y, &b.dy, &b.dx, &b.gamma, &b.beta, &b.dg, &b.db, &b.mean, &b.rstd};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        int64_t n = i < 4 ? maxn : maxc;
        *all[i] = malloc((size_t)n * sizeof(float));
        for (int64_t j = 0; j < n; j++) (*all[i])[j] = 0.5f + (float)((j * 7919) % 1000) * 1e-3f; // touch + fill
    }
    printf("# GroupNorm / LayerNorm — %d threads, best of %d; GB/s over the minimum traffic "
           "(fwd 2n floats, bwd 3n); naive = single-thread double reference\n", sdl_get_threads(), reps);
    printf("%-32s %10s %9s %9s %12s %9s\n", "op (shape)", "elements", "ms", "GB/s", "memcpy GB/s", "naive ms");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const Case *c = &cases[i];
        if (!strstr(c->what, filter)) continue;
        int64_t n = c->M ? c->M * c->D : c->N * c->C * c->HW;
        bool bwd = c->kind == K_GN_BWD || c->kind == K_GN_BWD_P || c->kind == K_GNS_BWD || c->kind == K_LN_BWD ||
                   c->kind == K_LN_BWD_P;
        // saved statistics for backward
        if (c->M) layernorm_forward(b.y, b.mean, b.rstd, b.x, b.gamma, b.beta, c->M, c->D, 1e-5f);
        else groupnorm_forward(b.y, b.mean, b.rstd, b.x, b.gamma, b.beta, c->N, c->C, c->HW, c->G, 1e-5f);
        run_kind(c->kind, &b, c->N, c->C, c->HW, c->G, c->M, c->D); // warm-up
        double best = 1e30, best_cp = 1e30;
        for (int r = 0; r < reps; r++) {
            double t = time_now();
            run_kind(c->kind, &b, c->N, c->C, c->HW, c->G, c->M, c->D);
            t = time_now() - t;
            if (t < best) best = t;
            // memcpy of the same bytes: (bwd ? 1.5 : 1) * n floats each way
            t = time_now();
            memcpy(b.dx, b.x, (size_t)n * sizeof(float));
            if (bwd) memcpy(b.y, b.dy, (size_t)n / 2 * sizeof(float));
            t = time_now() - t;
            if (t < best_cp) best_cp = t;
        }
        double t0 = time_now();
        run_naive(c->kind, &b, c->N, c->C, c->HW, c->G, c->M, c->D);
        double naive = time_now() - t0;
        double bytes = (bwd ? 3.0 : 2.0) * (double)n * sizeof(float);
        printf("%-32s %10lld %9.3f %9.1f %12.1f %9.2f\n", c->what, (long long)n, best * 1e3, bytes / best * 1e-9,
               bytes / best_cp * 1e-9, naive * 1e3);
    }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(*all[i]);
    return 0;
}
