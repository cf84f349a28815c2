// bench_vae.c — the SD VAE (real config: 128/256/512/512 channels, 2 resnets per level, 32
// groups) with random weights: encode and decode of one image, wall time and planned memory.
//
// Usage: bench_vae [size ...]   (square image sizes, default 256 512; multiples of 8)
// Per size: one encode plan and one decode plan (planned separately, as a training run plans
// only the encoder to cache latents and only the decoder to write sample images), one
// warm-up-free timed call each (a call is seconds long; the first-touch page faults of the
// arena are part of what a user waits for, so the plan is touched once before timing).
// Prints seconds and the planned activation arena; weights are 335 MB (83.7 M floats).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/clock.h"
#include "base/mem.h"
#include "models/vae.h"
#include "ops/gemm.h"
#include "bench_util.h"

int main(int argc, char **argv) {
    int sizes[16], ns = 0;
    for (int i = 1; i < argc && ns < 16; i++) sizes[ns++] = atoi(argv[i]);
    if (ns == 0) sizes[ns++] = 256, sizes[ns++] = 512;

    Vae v;
    VaeConfig cfg = vae_config_sd();
    if (vae_init(&v, &cfg) != SDL_OK) sdl_die_last();
    bench_fill_params(&v.params);
    char b1[32], b2[32];
    printf("VAE (SD config, random weights): %lld tensors, %s of weights, %d threads\n", (long long)v.params.n,
           mem_format_bytes(b1, sizeof b1, v.params.total_floats * sizeof(float)), sdl_get_threads());
    printf("%-9s %-7s %10s %8s %8s %14s\n", "size", "pass", "seconds", "GFLOP", "GFLOP/s", "planned arena");
    for (int k = 0; k < ns; k++) {
        int64_t S = sizes[k], h = S / 8;
        float *img = bench_buf(3 * S * S, 1.0f), *mean = bench_buf(4 * h * h, 0), *logvar = bench_buf(4 * h * h, 0);
        float *out = bench_buf(3 * S * S, 0);

        if (vae_plan(&v, 1, S, S, VAE_ENCODE) != SDL_OK) sdl_die_last();
        memset(v.arena.base, 0, v.arena.size); // first touch outside the timing
        double t0 = time_now();
        vae_encode(&v, mean, logvar, img);
        double te = time_now() - t0;
        printf("%4lldx%-4lld %-7s %10.2f %8.1f %8.1f %14s\n", (long long)S, (long long)S, "encode", te,
               v.flops[0] * 1e-9, v.flops[0] * 1e-9 / te, mem_format_bytes(b1, sizeof b1, vae_planned_bytes(&v)));

        if (vae_plan(&v, 1, S, S, VAE_DECODE) != SDL_OK) sdl_die_last();
        memset(v.arena.base, 0, v.arena.size);
        t0 = time_now();
        vae_decode(&v, out, mean);
        double td = time_now() - t0;
        printf("%4lldx%-4lld %-7s %10.2f %8.1f %8.1f %14s\n", (long long)S, (long long)S, "decode", td,
               v.flops[1] * 1e-9, v.flops[1] * 1e-9 / td, mem_format_bytes(b1, sizeof b1, vae_planned_bytes(&v)));
        // Sanity: finite outputs (random weights, so only that).
        int finite = 1;
        for (int64_t i = 0; i < 3 * S * S; i++) finite &= isfinite(out[i]) != 0;
        for (int64_t i = 0; i < 4 * h * h; i++) finite &= isfinite(mean[i]) && isfinite(logvar[i]);
        if (!finite) printf("  WARNING: non-finite outputs\n");
        mem_free(img), mem_free(mean), mem_free(logvar), mem_free(out);
    }
    printf("process peak RSS %s\n", mem_format_bytes(b2, sizeof b2, mem_process_peak_rss()));
    vae_free(&v);
    return 0;
}
