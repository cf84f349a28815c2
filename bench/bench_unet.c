// bench_unet.c — the SD1.5 UNet (real config: 320/640/1280/1280 channels, 2 resnets per level,
// 8 heads, context 77 x 768) with random weights: forward, and forward + backward as LoRA
// training runs it (every weight frozen, so backward computes input gradients only — here all
// the way down to dlatents, the upper bound of a LoRA step's backward).
//
// Usage: bench_unet [size ...]   (square latent sizes, default 32 64; multiples of 8;
//                                 SDLORA_BENCH_REPS=n timed repetitions, default 2, best kept;
//                                 SDLORA_BENCH_BATCH=2 plans batch 2, as a CFG sampling step)
// Per size: plan (batch 1, or SDLORA_BENCH_BATCH), one untimed forward + backward (first-touch page faults of the
// arenas), then the timed runs. Prints seconds, GFLOP/s from an analytic FLOP count (convs and
// linears 2·M·N·K; attention QKᵀ and PV 4·Tq·Tk·inner per image; backward with frozen weights:
// the input-gradient GEMMs, the same FLOPs as forward, plus 2.5x the attention core for the
// recomputed scores and dQ/dK/dV), the planned activation and scratch arenas, and the process
// peak RSS. Weights are 3.44 GB (859.5 M floats, fp32).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/clock.h"
#include "base/mem.h"
#include "models/unet.h"
#include "ops/gemm.h"
#include "bench_util.h"

// Forward FLOPs of the planned UNet: gemm (convs, linears) and attention core separately.
static void count_flops(const Unet *u, double *gemm_flops, double *attn_flops) {
    double g = 0, a = 0, B = (double)u->B, T = (double)u->T, ctx = (double)u->cfg.cross_attention_dim;
    double H = (double)u->H, W = (double)u->W, C0 = (double)u->cfg.block_out_channels[0];
    double E = (double)u->cfg.time_embed_dim;
    g += 2 * B * C0 * (double)u->cfg.in_channels * 9 * H * W + 2 * B * (double)u->cfg.out_channels * C0 * 9 * H * W;
    g += 2 * B * C0 * E + 2 * B * E * E;
    for (int k = 0; k < u->n_steps; k++) {
        const UnetStep *s = &u->steps[k];
        double hw = (double)(s->H * s->W), ohw = (double)(s->OH * s->OW);
        if (s->kind == UNET_STEP_RESNET) {
            const ResBlock *r = s->mod;
            double in = (double)r->in, out = (double)r->out;
            g += 2 * B * hw * 9 * (out * in + out * out) + (r->has_shortcut ? 2 * B * hw * out * in : 0) + 2 * B * E * out;
        } else if (s->kind == UNET_STEP_ATTN) {
            const Transformer2D *t = s->mod;
            double C = (double)t->C, I = (double)t->inner;
            g += 2 * 2 * B * hw * C * I;
            for (int d = 0; d < t->depth; d++) {
                g += 2 * B * hw * I * I * 4;                      // attn1 q, k, v, out
                g += 2 * B * hw * I * I * 2 + 2 * B * T * ctx * I * 2; // attn2 q, out; k, v
                g += 2 * B * hw * I * 8 * I + 2 * B * hw * 4 * I * I;  // GEGLU proj, ff.net.2
                a += 4 * B * hw * hw * I + 4 * B * hw * T * I;
            }
        } else {
            double c = (double)s->out_c;
            g += 2 * B * c * c * 9 * ohw;
        }
    }
    *gemm_flops = g, *attn_flops = a;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(int argc, char **argv) {
    int sizes[8] = {32, 64}, n_sizes = 2;
    if (argc > 1) {
        n_sizes = 0;
        for (int i = 1; i < argc && n_sizes < 8; i++) sizes[n_sizes++] = atoi(argv[i]);
    }
    int reps = getenv("SDLORA_BENCH_REPS") ? atoi(getenv("SDLORA_BENCH_REPS")) : 2;
    // SDLORA_BENCH_BATCH=2: the batch a CFG sampling step runs (uncond + cond)
    const int64_t NB = getenv("SDLORA_BENCH_BATCH") && atoi(getenv("SDLORA_BENCH_BATCH")) == 2 ? 2 : 1;
    if (reps < 1 || reps > 32) reps = 2;
    UnetConfig cfg = unet_config_sd15();
    Unet u;
    double t0 = time_now();
    if (unet_init(&u, &cfg) != SDL_OK) {
        fprintf(stderr, "unet_init failed\n");
        return 1;
    }
    bench_fill_params(&u.params);
    char b1[32], b2[32], b3[32];
    printf("bench_unet: SD1.5 UNet, batch %lld, %lld tensors, %s fp32 weights (init %.1f s), %d threads, %s\n", (long long)NB,
           (long long)u.params.n, mem_format_bytes(b1, sizeof b1, u.params.total_floats * sizeof(float)),
           time_now() - t0, sdl_get_threads(), gemm_backend_name());
    printf("%-8s %9s %9s %9s %9s %11s %11s %11s\n", "latent", "fwd s", "GFLOP/s", "fwd+bwd s", "GFLOP/s", "acts", "scratch",
           "peak RSS");
    const int64_t T = 77;
    for (int si = 0; si < n_sizes; si++) {
        int64_t S = sizes[si];
        if (unet_plan(&u, NB, S, S, T) != SDL_OK) {
            fprintf(stderr, "size %lld: ", (long long)S);
            sdl_error_print(stderr);
            continue;
        }
        float *lat = bench_buf(NB * 4 * S * S, 1.0f), *ctx = bench_buf(NB * T * 768, 1.0f), *eps = bench_buf(NB * 4 * S * S, 0.0f);
        float *deps = bench_buf(NB * 4 * S * S, 1e-3f), *dlat = bench_buf(NB * 4 * S * S, 0.0f);
        float ts[2] = {500.0f, 500.0f};
        unet_forward(&u, eps, lat, ts, ctx); // touch the arenas
        unet_backward(&u, dlat, NULL, deps);
        double tf[32], tb[32];
        for (int r = 0; r < reps; r++) {
            double a = time_now();
            unet_forward(&u, eps, lat, ts, ctx);
            double b = time_now();
            unet_backward(&u, dlat, NULL, deps);
            double c = time_now();
            tf[r] = b - a, tb[r] = c - a;
        }
        qsort(tf, (size_t)reps, sizeof(double), cmp_double);
        qsort(tb, (size_t)reps, sizeof(double), cmp_double);
        double gf, af;
        count_flops(&u, &gf, &af);
        double fwd = gf + af, fb = fwd + gf + 2.5 * af;
        int finite = isfinite(eps[0]) && isfinite(dlat[0]);
        char label[32];
        snprintf(label, sizeof label, "%lldx%lld", (long long)S, (long long)S);
        printf("%-8s %9.3f %9.1f %9.3f %9.1f %11s %11s %11s%s\n", label, tf[0], fwd / tf[0] * 1e-9, tb[0],
               fb / tb[0] * 1e-9, mem_format_bytes(b1, sizeof b1, u.act_bytes),
               mem_format_bytes(b2, sizeof b2, u.scratch_bytes), mem_format_bytes(b3, sizeof b3, mem_process_peak_rss()),
               finite ? "" : "  (non-finite output!)");
        printf("         forward %.1f GFLOP (%.1f of it attention QK/PV), forward+backward %.1f GFLOP\n", fwd * 1e-9,
               af * 1e-9, fb * 1e-9);
        mem_free(lat), mem_free(ctx), mem_free(eps), mem_free(deps), mem_free(dlat);
        fflush(stdout);
    }
    unet_free(&u);
    return 0;
}
