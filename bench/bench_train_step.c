// bench_train_step.c — one full-size SD1.5 LoRA training step as `sdlora train` runs it:
// text conditioning (CLIP forward, frozen), the UNet forward with kohya's default LoRA targets
// (rank R, alpha R: every Transformer2D linear and 1x1 conv), the loss, the backward into the
// LoRA gradients (frozen base weights: input gradients only, nothing below the lowest LoRA),
// clip_grad_norm and AdamW. Random weights (speed does not depend on them), batch 1.
//
// Usage: bench_train_step [latent size ...]   (default 64 = 512 px; SDLORA_BENCH_RANK=32,
//                                              SDLORA_BENCH_REPS=3 timed steps, best and median)
//   SDLORA_BENCH_CKPT=1            gradient checkpointing (the UNet recomputes each block)
//   SDLORA_BENCH_WEIGHTS=fp16|bf16 frozen UNet and CLIP Linear/Conv weights kept 16-bit
//   SDLORA_PROFILE=1               time per layer type over the timed steps (base/profile.h)
// Prints seconds per step, the trainable parameter count, the UNet's planned activations and
// the process peak RSS — the "full-size SD1.5 UNet LoRA step" target line. Peak RSS is
// the process's: run one size per process to read it per size.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/clock.h"
#include "base/mem.h"
#include "base/profile.h"
#include "base/rng.h"
#include "lora/network.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "ops/gemm.h"
#include "train/optim.h"
#include "train/train_step.h"
#include "bench_util.h"

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(int argc, char **argv) {
    int sizes[8] = {64}, n_sizes = 1;
    if (argc > 1) {
        n_sizes = 0;
        for (int i = 1; i < argc && n_sizes < 8; i++) sizes[n_sizes++] = atoi(argv[i]);
    }
    int reps = getenv("SDLORA_BENCH_REPS") ? atoi(getenv("SDLORA_BENCH_REPS")) : 3;
    int rank = getenv("SDLORA_BENCH_RANK") ? atoi(getenv("SDLORA_BENCH_RANK")) : 32;
    if (reps < 1 || reps > 32) reps = 3;
    int ckpt = getenv("SDLORA_BENCH_CKPT") && atoi(getenv("SDLORA_BENCH_CKPT")) > 0;
    const char *wenv = getenv("SDLORA_BENCH_WEIGHTS");
    ParamDtype wdt = wenv && !strcmp(wenv, "fp16") ? PARAM_F16 : wenv && !strcmp(wenv, "bf16") ? PARAM_BF16 : PARAM_F32;
    UnetConfig ucfg = unet_config_sd15();
    ClipTextConfig tcfg = clip_text_config_sd15();
    Unet u;
    ClipText te;
    if (unet_init_dtype(&u, &ucfg, wdt) != SDL_OK) return sdl_error_print(stderr), 1;
    clip_text_init_dtype(&te, &tcfg, wdt);
    u.checkpointing = ckpt;
    bench_fill_params(&u.params);
    bench_fill_params(&te.params);
    LoraNetworkConfig ncfg = lora_network_config_default();
    ncfg.network_dim = rank, ncfg.network_alpha = (float)rank, ncfg.train_te = 0;
    LoraNetwork net;
    if (lora_network_create(&net, &ncfg, &u, NULL, NULL) != SDL_OK) return sdl_error_print(stderr), 1;
    Rng rng;
    rng_seed(&rng, 1);
    lora_network_init_weights(&net, &rng);
    // up starts at zero in kohya; give it values so the step does real (not zero-skipping) work
    for (int64_t m = 0; m < net.n; m++) {
        LoraModule *mod = &net.mods[m];
        int64_t n = mod->out * mod->rank;
        for (int64_t i = 0; i < n; i++) mod->up[i] = 1e-3f * (float)((i % 7) - 3);
    }
    lora_network_enable_grads(&net);
    lora_network_attach(&net);
    OptimParam *params = calloc((size_t)(2 * net.n), sizeof *params);
    int64_t np = lora_network_optim_params(&net, 0, params);
    OptimGroup g = {.params = params, .n_params = np, .lr = 1e-4, .name = "unet"};
    OptimConfig oc;
    optim_config_default(&oc, OPTIM_ADAMW, 1e-4);
    Optimizer *opt;
    if (optim_create(&opt, &oc, &g, 1) != SDL_OK) return sdl_error_print(stderr), 1;
    ObjectiveConfig obj = objective_config_default();
    TrainStep step;
    if (train_step_init(&step, &u, &te, &net, &obj, 0, 1) != SDL_OK) return sdl_error_print(stderr), 1;
    step.train_te = false;
    step.grad_scale = 1.0f;
    char b1[32], b2[32];
    printf("bench_train_step: SD1.5 UNet + CLIP (random weights, %s, %s in memory), LoRA rank %d alpha %d on %lld "
           "modules (%zu parameters), AdamW, batch 1, %s, %d threads, %s\n",
           param_dtype_name(wdt), mem_format_bytes(b1, sizeof b1, mem_current(MEM_BASE_WEIGHTS)), rank, rank,
           (long long)net.n, net.n_params, ckpt ? "gradient checkpointing" : "no checkpointing", sdl_get_threads(),
           gemm_backend_name());
    printf("%-8s %10s %10s %10s %12s %12s %12s\n", "latent", "best s", "median s", "loss", "optim state", "activations",
           "peak RSS");
    int prof = prof_env();
    for (int si = 0; si < n_sizes; si++) {
        int64_t S = sizes[si];
        float *lat = bench_buf(4 * S * S, 1.0f), *noise = mem_alloc(MEM_OTHER, (size_t)(4 * S * S) * sizeof(float));
        rng_randn_fill(&rng, noise, (size_t)(4 * S * S));
        int32_t ids[77];
        for (int i = 0; i < 77; i++) ids[i] = i == 0 ? 49406 : i < 12 ? 320 + i : 49407;
        int64_t t[1] = {500};
        TrainBatchInput in = {.latents = lat, .input_ids = ids, .B = 1, .H = S, .W = S};
        TrainStepResult res;
        double times[32];
        for (int r = -1; r < reps; r++) { // r = -1: untimed (plans, first touch)
            if (r == 0 && prof) prof_enable();
            double a = time_now();
            if (train_step_run_fixed(&step, &in, noise, t, &res) != SDL_OK) return sdl_error_print(stderr), 1;
            ProfToken pt = prof_begin(PROF_OPTIMIZER);
            optim_clip_grad_norm(opt, 1.0);
            optim_step(opt, 1.0);
            optim_zero_grad(opt);
            prof_end(pt);
            prof_step();
            if (r >= 0) times[r] = time_now() - a;
        }
        qsort(times, (size_t)reps, sizeof(double), cmp_double);
        char label[32];
        snprintf(label, sizeof label, "%lldx%lld", (long long)S, (long long)S);
        char b3[32];
        printf("%-8s %10.3f %10.3f %10.5f %12s %12s %12s\n", label, times[0], times[reps / 2], res.loss,
               mem_format_bytes(b1, sizeof b1, optim_state_bytes(opt)), mem_format_bytes(b3, sizeof b3, u.act_bytes),
               mem_format_bytes(b2, sizeof b2, mem_process_peak_rss()));
        if (prof_enabled()) prof_report(stdout), prof_disable();
        fflush(stdout);
        mem_free(lat), mem_free(noise);
    }
    train_step_free(&step);
    optim_free(opt);
    free(params);
    lora_network_free(&net);
    clip_text_free(&te);
    unet_free(&u);
    return 0;
}
