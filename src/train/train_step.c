// train_step.c — one kohya LoRA training step: text conditioning, noise, UNet, loss, backward
// into the LoRA gradients (train_step.h).
#include "train/train_step.h"
#include <math.h>
#include <string.h>
#include "base/mem.h"

#define CHUNK_TOKENS 77   // one CLIP window: BOS + 75 tokens + EOS/PAD

static void free_buffers(TrainStep *s) {
    mem_free(s->context), mem_free(s->dcontext), mem_free(s->noise), mem_free(s->noisy);
    mem_free(s->target), mem_free(s->pred), mem_free(s->dpred), mem_free(s->t_float), mem_free(s->t);
    s->context = s->dcontext = s->noise = s->noisy = s->target = s->pred = s->dpred = s->t_float = NULL;
    s->t = NULL;
    s->B = s->H = s->W = 0;
}

SdlStatus train_step_init(TrainStep *s, Unet *u, ClipText *te, LoraNetwork *net, const ObjectiveConfig *obj,
                          int clip_skip, int64_t n_chunks) {
    memset(s, 0, sizeof *s);
    SDL_ASSERT(u && te);
    if (n_chunks < 1 || n_chunks > 3)
        return sdl_fail(SDL_ERR_ARG, NULL, "use --max_token_length 75 (or none), 150 or 225",
                        "%lld windows of 75 tokens: kohya allows 1, 2 or 3", (long long)n_chunks);
    if (clip_skip > te->cfg.num_hidden_layers + 1)
        return sdl_fail(SDL_ERR_ARG, NULL, "use --clip_skip 1 or 2",
                        "--clip_skip %d is more than the text encoder's %lld layers + 1", clip_skip,
                        (long long)te->cfg.num_hidden_layers);
    if (te->cfg.hidden_size != u->cfg.cross_attention_dim)
        return sdl_fail(SDL_ERR_SHAPE, NULL, "the text encoder and the UNet must come from the same model",
                        "the text encoder is %lld wide, the UNet's cross-attention expects %lld",
                        (long long)te->cfg.hidden_size, (long long)u->cfg.cross_attention_dim);
    if (u->cfg.in_channels != u->cfg.out_channels)
        return sdl_fail(SDL_ERR_UNSUPPORTED, NULL, NULL, "a UNet with %lld input and %lld output channels cannot be trained on noise",
                        (long long)u->cfg.in_channels, (long long)u->cfg.out_channels);
    s->unet = u, s->te = te, s->net = net;
    s->obj = *obj;
    train_schedule_init(&s->sched, obj->zero_terminal_snr);
    s->clip_skip = clip_skip;
    s->n_chunks = n_chunks;
    s->train_te = net && net->n_te > 0 && net->grads != NULL;
    s->grad_scale = 1.0f;
    s->C = u->cfg.in_channels;
    s->T = clip_text_chunks_len(CLIP_JOIN_KOHYA, n_chunks);
    s->D = te->cfg.hidden_size;
    unet_unplan(u); // a plan made before the adapters were attached would not hold their h
    return SDL_OK;
}

void train_step_free(TrainStep *s) {
    free_buffers(s);
    memset(s, 0, sizeof *s);
}

// Plans both models and this step's buffers for (B, H, W). unet_plan and the encoder's plan
// are no-ops when their shapes already match; the buffers are re-allocated only on a change.
static SdlStatus plan(TrainStep *s, int64_t B, int64_t H, int64_t W) {
    SDL_TRY(unet_plan(s->unet, B, H, W, s->T));
    int64_t rows = B * s->n_chunks;
    ClipText *te = s->te;
    if (te->B != rows || te->T != CHUNK_TOKENS || te->train != (int)s->train_te)
        clip_text_plan(te, rows, CHUNK_TOKENS, s->train_te);
    if (s->net) lora_network_plan_te(s->net, rows, CHUNK_TOKENS); // re-points the adapters' h
    if (s->B == B && s->H == H && s->W == W) return SDL_OK;
    free_buffers(s);
    size_t lat = (size_t)(B * s->C * H * W), ctx = (size_t)(B * s->T * s->D);
    s->context = mem_alloc(MEM_ACTIVATIONS, ctx * sizeof(float));
    s->dcontext = mem_alloc(MEM_ACTIVATIONS, ctx * sizeof(float));
    s->noise = mem_alloc(MEM_ACTIVATIONS, lat * sizeof(float));
    s->noisy = mem_alloc(MEM_ACTIVATIONS, lat * sizeof(float));
    s->target = mem_alloc(MEM_ACTIVATIONS, lat * sizeof(float));
    s->pred = mem_alloc(MEM_ACTIVATIONS, lat * sizeof(float));
    s->dpred = mem_alloc(MEM_ACTIVATIONS, lat * sizeof(float));
    s->t_float = mem_alloc(MEM_ACTIVATIONS, (size_t)B * sizeof(float));
    s->t = mem_alloc(MEM_ACTIVATIONS, (size_t)B * sizeof(int64_t));
    s->B = B, s->H = H, s->W = W;
    return SDL_OK;
}

// kohya's encode_tokens_with_weights on the joined states x (B, T, D), in place; the same
// multiplication is its own backward.
static void apply_token_weights(float *x, const float *w, int64_t B, int64_t n, int64_t T, int64_t D) {
    for (int64_t b = 0; b < B; b++) {
        float *xb = x + b * T * D;
        const float *wb = w + b * n * CHUNK_TOKENS;
        if (n == 1) { // (b, 77, D) × weights (b, 77)
            for (int64_t j = 0; j < CHUNK_TOKENS; j++)
                for (int64_t d = 0; d < D; d++) xb[j * D + d] *= wb[j];
            continue;
        }
        for (int64_t i = 0; i < n; i++) // states i·75+1 … i·75+75 × weights[i, 1..75]
            for (int64_t j = 0; j < 75; j++) {
                float wt = wb[i * CHUNK_TOKENS + 1 + j];
                float *row = xb + (i * 75 + 1 + j) * D;
                for (int64_t d = 0; d < D; d++) row[d] *= wt;
            }
    }
}

static bool all_finite(const float *x, size_t n) {
    int bad = 0;
#pragma omp parallel for reduction(| : bad) if (n > 65536)
    for (size_t i = 0; i < n; i++) bad |= !isfinite(x[i]);
    return !bad;
}

// The step; fixed_noise/fixed_t given: no draws at all (rng unused).
static SdlStatus run(TrainStep *s, const TrainBatchInput *in, Rng *rng, PyRandom *py, const float *fixed_noise,
                     const int64_t *fixed_t, TrainStepResult *res) {
    memset(res, 0, sizeof *res);
    int64_t B = in->B, H = in->H, W = in->W, n = s->n_chunks;
    SDL_TRY(plan(s, B, H, W));
    int64_t per = s->C * H * W, lat = B * per;
    LoraNetwork *net = s->net;
    // this step's module/rank/neuron dropout (no draws when all are 0); the UNet runs B images,
    // the text encoder B·n windows
    if (net && rng) lora_network_step_begin(net, rng, B, B * n);

    // text conditioning: (B·n, 77) windows through CLIP, joined to (B, 75n + 2, D)
    SdlStatus st = clip_text_encode_chunks(s->te, s->context, in->input_ids, B, n, s->clip_skip, CLIP_JOIN_KOHYA);
    if (st != SDL_OK) {
        if (net) lora_network_step_end(net);
        return st;
    }
    if (in->token_weights) apply_token_weights(s->context, in->token_weights, B, n, s->T, s->D);

    // noise, timesteps, forward process, target
    ObjectiveConfig oc = s->obj;
    if (fixed_noise) {
        memcpy(s->noise, fixed_noise, (size_t)lat * sizeof(float));
        memcpy(s->t, fixed_t, (size_t)B * sizeof(int64_t));
        oc.ip_noise_gamma = 0; // the caller's noise is the whole noise
    } else {
        objective_make_noise(&oc, s->noise, in->latents, B, s->C, H, W, rng, py);
        objective_sample_timesteps(&oc, s->t, B, rng);
    }
    for (int64_t b = 0; b < B; b++) {
        if (s->t[b] < 0 || s->t[b] >= 1000) {
            if (net) lora_network_step_end(net);
            return sdl_fail(SDL_ERR_ARG, NULL, "timesteps are 0..999 (--min_timestep/--max_timestep within 0..1000)",
                            "timestep %lld of sample %lld is outside the schedule", (long long)s->t[b], (long long)b);
        }
        s->t_float[b] = (float)s->t[b];
    }
    objective_add_noise(&oc, &s->sched, s->noisy, in->latents, s->noise, s->t, B, per, rng);
    objective_target(&oc, &s->sched, s->target, in->latents, s->noise, s->t, B, per);

    // model, loss, backward
    unet_forward(s->unet, s->pred, s->noisy, s->t_float, s->context);
    res->loss = objective_loss(&oc, &s->sched, s->pred, s->target, s->t, in->loss_weights, B, per, s->dpred, NULL);
    if (s->grad_scale != 1.0f)
        for (int64_t i = 0; i < lat; i++) s->dpred[i] *= s->grad_scale;
    unet_backward(s->unet, NULL, s->train_te ? s->dcontext : NULL, s->dpred);
    if (s->train_te) {
        if (in->token_weights) apply_token_weights(s->dcontext, in->token_weights, B, n, s->T, s->D);
        clip_text_encode_chunks_backward(s->te, s->dcontext, B, n, CLIP_JOIN_KOHYA);
    }
    if (net) lora_network_step_end(net);
    res->finite = isfinite(res->loss) && (!net || !net->grads || all_finite(net->grads, net->n_params));
    return SDL_OK;
}

SdlStatus train_step_run(TrainStep *s, const TrainBatchInput *in, Rng *rng, PyRandom *py, TrainStepResult *res) {
    SDL_ASSERT(rng != NULL);
    return run(s, in, rng, py, NULL, NULL, res);
}

SdlStatus train_step_run_fixed(TrainStep *s, const TrainBatchInput *in, const float *noise, const int64_t *t,
                               TrainStepResult *res) {
    SDL_ASSERT(noise && t);
    return run(s, in, NULL, NULL, noise, t, res);
}
