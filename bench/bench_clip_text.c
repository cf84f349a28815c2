// bench_clip_text.c — the full SD1.5 text encoder (CLIP ViT-L/14: 768 wide, 12 layers, 3072 MLP)
// with random weights at B sequences of T = 77 tokens: forward only (forward-only plan),
// and forward + backward in three training set-ups:
//   lora r8     rank-8 adapters on every q/k/v/out_proj, fc1, fc2 (kohya's text-encoder LoRA
//               targets, 72 modules), base frozen — the usual TE LoRA training step
//   full        gradients of the q/k/v/out_proj and fc1/fc2 weights and biases themselves
//   lora top-6  adapters only in layers 6..11 (backward stops at layer 6)
// Prints the best wall-clock seconds of `reps` runs, GFLOP/s of the linear layers, and the
// planned memory (weights, saved activations, scratch).
// Usage: bench_clip_text [reps] [threads] [B]   (defaults 5, all, 1)
#include "base/clock.h"
#include "base/mem.h"
#include "base/rng.h"
#include "models/clip_text.h"
#include "ops/gemm.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T = 77 };

typedef struct {
    LoraAdapter a[72];
    int n, first_layer, rank;
    int64_t M;
} Adapters;

static void attach(const char *name, Linear *lin, void *ctx) {
    Adapters *ad = ctx;
    int layer = atoi(name + strlen("text_model.encoder.layers."));
    if (layer < ad->first_layer) return;
    LoraAdapter *a = &ad->a[ad->n++];
    int64_t r = ad->rank;
    float *down = mem_alloc(MEM_TRAINABLE, (size_t)(r * lin->in) * sizeof(float));
    float *up = mem_alloc(MEM_TRAINABLE, (size_t)(lin->out * r) * sizeof(float));
    Rng g;
    rng_seed(&g, (uint64_t)ad->n);
    rng_randn_fill(&g, down, (size_t)(r * lin->in));
    rng_randn_fill(&g, up, (size_t)(lin->out * r));
    for (int64_t i = 0; i < r * lin->in; i++) down[i] *= 0.02f;
    for (int64_t i = 0; i < lin->out * r; i++) up[i] *= 0.02f;
    *a = (LoraAdapter){.down = down, .up = up, .rank = r, .scale = 1.0f,
                       .ddown = mem_calloc(MEM_GRADS, (size_t)(r * lin->in) * sizeof(float)),
                       .dup = mem_calloc(MEM_GRADS, (size_t)(lin->out * r) * sizeof(float)),
                       .h = mem_alloc(MEM_ACTIVATIONS, (size_t)(ad->M * r) * sizeof(float))};
    lin->lora = a;
}

static void detach(const char *name, Linear *lin, void *ctx) {
    (void)name, (void)ctx;
    if (!lin->lora) return;
    mem_free((void *)lin->lora->down), mem_free((void *)lin->lora->up);
    mem_free(lin->lora->ddown), mem_free(lin->lora->dup), mem_free(lin->lora->h);
    lin->lora = NULL;
}

static void full_grads(const char *name, Linear *lin, void *ctx) {
    (void)name;
    int on = *(int *)ctx;
    if (on) {
        lin->dw = mem_calloc(MEM_GRADS, (size_t)(lin->out * lin->in) * sizeof(float));
        lin->db = mem_calloc(MEM_GRADS, (size_t)lin->out * sizeof(float));
    } else {
        mem_free(lin->dw), mem_free(lin->db);
        lin->dw = lin->db = NULL;
    }
}

static double best(ClipText *m, float *hidden, const float *dhidden, const int32_t *ids, int reps, int backward) {
    double b = 1e30;
    for (int r = 0; r <= reps; r++) { // r = 0 warms up
        double t = time_now();
        if (clip_text_forward(m, hidden, ids, 1) != SDL_OK) {
            sdl_error_print(stderr);
            exit(1);
        }
        if (backward) clip_text_backward(m, dhidden);
        t = time_now() - t;
        if (r > 0 && t < b) b = t;
    }
    return b;
}

static void report(const char *what, double s, double gflop, const ClipText *m) {
    char a[32], sc[32];
    printf("  %-34s %8.1f ms  %6.1f GFLOP/s   activations %s, scratch %s\n", what, 1e3 * s, gflop / s,
           mem_format_bytes(a, sizeof a, clip_text_planned_bytes(m, MEM_ACTIVATIONS)),
           mem_format_bytes(sc, sizeof sc, clip_text_planned_bytes(m, MEM_SCRATCH)));
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (argc > 2) sdl_set_threads(atoi(argv[2]));
    int64_t B = argc > 3 ? atoll(argv[3]) : 1;
    ClipTextConfig cfg = clip_text_config_sd15();
    ClipText m;
    clip_text_init(&m, &cfg);
    Rng g;
    rng_seed(&g, 1);
    rng_randn_fill(&g, m.params.storage, m.params.total_floats);
    for (size_t i = 0; i < m.params.total_floats; i++) m.params.storage[i] *= 0.03f; // ~ CLIP's weight scale
    const int64_t M = B * T, D = cfg.hidden_size, I = cfg.intermediate_size, L = cfg.num_hidden_layers;
    int32_t *ids = malloc((size_t)M * sizeof *ids);
    for (int64_t r = 0; r < M; r++) ids[r] = r % T == 0 ? 49406 : r % T > 30 ? 49407 : (int32_t)(rng_u32(&g) % 49406);
    float *hidden = mem_alloc(MEM_OTHER, (size_t)(M * D) * sizeof(float));
    float *dhidden = mem_alloc(MEM_OTHER, (size_t)(M * D) * sizeof(float));
    rng_randn_fill(&g, dhidden, (size_t)(M * D));

    // FLOPs of the linear layers per forward (attention core: 4·M·T·D, halved by the causal mask)
    double lin = 2.0 * (double)M * (double)L * (4.0 * D * D + 2.0 * D * I);
    double core = 2.0 * (double)L * (double)B * T * T * D; // causal: half of 4·B·T²·D
    char w[32];
    printf("# CLIP text encoder, SD1.5 (ViT-L/14, %lld layers), random weights: B=%lld, T=%d, %d threads, weights %s\n",
           (long long)L, (long long)B, T, sdl_get_threads(),
           mem_format_bytes(w, sizeof w, m.params.total_floats * sizeof(float)));

    clip_text_plan(&m, B, T, false);
    report("forward (forward-only plan)", best(&m, hidden, dhidden, ids, reps, 0), (lin + core) * 1e-9, &m);
    clip_text_plan(&m, B, T, true);
    report("forward (train plan)", best(&m, hidden, dhidden, ids, reps, 0), (lin + core) * 1e-9, &m);

    // backward: dinp GEMMs (lin) + base-frozen attention core backward (2.5× forward core)
    Adapters ad = {.first_layer = 0, .rank = 8, .M = M};
    clip_text_visit_modules(&m, attach, &ad);
    clip_text_plan(&m, B, T, true);
    report("fwd+bwd, lora r8 on all 72 modules", best(&m, hidden, dhidden, ids, reps, 1), (2 * lin + 3.5 * core) * 1e-9,
           &m);
    clip_text_visit_modules(&m, detach, NULL);

    int on = 1;
    clip_text_visit_modules(&m, full_grads, &on);
    clip_text_plan(&m, B, T, true);
    report("fwd+bwd, full q/k/v/out/fc1/fc2 grads", best(&m, hidden, dhidden, ids, reps, 1),
           (3 * lin + 3.5 * core) * 1e-9, &m);
    on = 0;
    clip_text_visit_modules(&m, full_grads, &on);

    ad = (Adapters){.first_layer = 6, .rank = 8, .M = M};
    clip_text_visit_modules(&m, attach, &ad);
    clip_text_plan(&m, B, T, true);
    report("fwd+bwd, lora r8 in layers 6..11", best(&m, hidden, dhidden, ids, reps, 1), (1.5 * lin + 2.75 * core) * 1e-9,
           &m);
    clip_text_visit_modules(&m, detach, NULL);

    mem_free(hidden), mem_free(dhidden), free(ids);
    clip_text_free(&m);
    return 0;
}
