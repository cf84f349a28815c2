// unet.c — UNet2DConditionModel construction, planning, forward and backward (see unet.h).
//
// The blocks run as one flat sequence of steps; the skip tensors are the outputs of the steps
// that push them. Backward walks the steps in reverse with two ping-pong gradient buffers; the
// gradient of a skip tensor (written when the up-block resnet that consumed it runs) is added
// when the walk reaches the step that produced it. Under gradient checkpointing the steps'
// internals share one region and backward re-runs each step's forward before its backward.
#include "models/unet.h"
#include "io/safetensors.h"
#include "base/profile.h"
#include "models/load.h"
#include "ops/activation.h"
#include "ops/embedding.h"
#include "ops/norm.h"
#include "ops/tensor.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *UNET_CLASS = "UNet2DConditionModel";

// ---- construction -----------------------------------------------------------------------------

// Collects (at init) the table entries and their module slots, in visiting order.
static void add_param(BlockVisitor *v, const char *name, int ndim, const int64_t *shape, const float **w,
                      float **grad) {
    Unet *u = v->ctx;
    int64_t i = u->params.n;
    param_add(&u->params, NULL, ndim, shape, "%s", name);
    u->slots = realloc(u->slots, (size_t)u->params.cap * sizeof *u->slots);
    SDL_ASSERT(u->slots != NULL);
    u->slots[i] = (UnetParamSlot){.w = w, .grad = grad, .owned = NULL, .half = NULL};
}

// Each Linear/Conv2d (visited right after its tensors): its weight entry gets the module's
// 16-bit slot, so unet_allocate can keep it fp16/bf16.
static void bind_module(BlockVisitor *v, const char *path, BlockModuleKind kind, void *module, const char *cls) {
    Unet *u = v->ctx;
    char name[512];
    snprintf(name, sizeof name, "%s.weight", path);
    for (int64_t i = u->params.n - 1; i >= 0 && i >= u->params.n - 2; i--) // weight, then maybe a bias
        if (strcmp(u->params.entries[i].name, name) == 0) {
            u->slots[i].half = kind == BLOCK_MODULE_LINEAR ? &((Linear *)module)->w16 : &((Conv2d *)module)->w16;
            return;
        }
    SDL_ASSERT(!"module weight not found in the table");
}

// Visits every block in checkpoint-table order.
static void visit_all(Unet *u, BlockVisitor *v) {
    block_visit_conv(v, "", "conv_in", &u->conv_in, UNET_CLASS);
    block_visit_linear(v, "time_embedding", "linear_1", &u->time_linear_1, 1, "TimestepEmbedding");
    block_visit_linear(v, "time_embedding", "linear_2", &u->time_linear_2, 1, "TimestepEmbedding");
    for (int k = 0; k < u->n_steps; k++) {
        UnetStep *s = &u->steps[k];
        switch (s->kind) {
        case UNET_STEP_RESNET: resblock_visit(s->mod, s->name, v); break;
        case UNET_STEP_ATTN: transformer2d_visit(s->mod, s->name, v); break;
        case UNET_STEP_DOWN: downsample_visit(s->mod, s->name, v); break;
        case UNET_STEP_UP: upsample_visit(s->mod, s->name, v); break;
        }
    }
    block_visit_norm(v, "", "conv_norm_out", &u->norm_out);
    block_visit_conv(v, "", "conv_out", &u->conv_out, UNET_CLASS);
}

// Appends a step named "<block>.<kind>.<j>", e.g. "down_blocks.1.attentions.0".
static UnetStep *new_step(Unet *u, UnetStepKind kind, void *mod, int64_t in_c, int64_t skip_c, int64_t out_c,
                          const char *block, const char *what, int j) {
    UnetStep *s = &u->steps[u->n_steps++];
    memset(s, 0, sizeof *s);
    s->kind = kind, s->mod = mod, s->in_c = in_c, s->skip_c = skip_c, s->out_c = out_c;
    s->pop = s->push = -1;
    int len = snprintf(s->name, sizeof s->name, "%s.%s.%d", block, what, j);
    SDL_ASSERT(len > 0 && (size_t)len < sizeof s->name);
    return s;
}

SdlStatus unet_build(Unet *u, const UnetConfig *cfg) {
    memset(u, 0, sizeof *u);
    SDL_TRY(unet_config_validate(cfg, "(UNet config)"));
    u->cfg = *cfg;
    const UnetConfig *c = &u->cfg;
    int L = c->n_levels;
    int64_t C0 = c->block_out_channels[0], E = c->time_embed_dim, G = c->norm_num_groups;
    float eps = c->norm_eps;

    int n_res = 2, n_attn = 1; // the mid block
    for (int i = 0; i < L; i++) {
        int64_t lpb_down = c->layers_per_block[i], lpb_up = c->layers_per_block[L - 1 - i] + 1;
        n_res += (int)(lpb_down + lpb_up);
        n_attn += (int)((c->down_cross[i] ? lpb_down : 0) + (c->up_cross[i] ? lpb_up : 0));
    }
    u->resnets = calloc((size_t)n_res, sizeof *u->resnets);
    u->attns = calloc((size_t)n_attn, sizeof *u->attns);
    u->downs = calloc((size_t)L, sizeof *u->downs);
    u->ups = calloc((size_t)L, sizeof *u->ups);
    u->steps = calloc((size_t)(n_res + n_attn + 2 * L), sizeof *u->steps);
    u->need = calloc((size_t)(n_res + n_attn + 2 * L + 1), sizeof *u->need);
    int64_t *skip_ch = calloc((size_t)(n_res + 2 * L + 1), sizeof *skip_ch);
    SDL_ASSERT(u->resnets && u->attns && u->downs && u->ups && u->steps && u->need && skip_ch);

    u->conv_in = conv_module(NULL, NULL, c->in_channels, C0, 3, 1, 1);
    u->time_linear_1 = (Linear){.in = C0, .out = E};
    u->time_linear_2 = (Linear){.in = E, .out = E};
    u->norm_out = (NormModule){.C = C0, .groups = G, .eps = eps};
    u->conv_out = conv_module(NULL, NULL, C0, c->out_channels, 3, 1, 1);

    // The skip stack, simulated: channel counts of the pushed tensors.
    int sp = 0;
    skip_ch[sp++] = C0;
    int64_t cur = C0;
    UnetStep *s;
    char blk[32];
    for (int i = 0; i < L; i++) {
        int64_t out = c->block_out_channels[i];
        snprintf(blk, sizeof blk, "down_blocks.%d", i);
        for (int j = 0; j < c->layers_per_block[i]; j++) {
            ResBlock *r = &u->resnets[u->n_resnets++];
            resblock_init(r, cur, out, E, G, eps);
            s = new_step(u, UNET_STEP_RESNET, r, cur, 0, out, blk, "resnets", j);
            cur = out;
            if (c->down_cross[i]) {
                Transformer2D *t = &u->attns[u->n_attns++];
                transformer2d_init(t, out, c->heads[i], c->cross_attention_dim, (int)c->transformer_layers[i], G,
                                   c->use_linear_projection);
                s = new_step(u, UNET_STEP_ATTN, t, out, 0, out, blk, "attentions", j);
            }
            s->push = sp, skip_ch[sp++] = out;
        }
        if (i < L - 1) {
            Downsample2D *d = &u->downs[u->n_downs++];
            downsample_init(d, out, out, 0);
            s = new_step(u, UNET_STEP_DOWN, d, out, 0, out, blk, "downsamplers", 0);
            s->push = sp, skip_ch[sp++] = out;
        }
    }
    u->n_skips = sp;
    int64_t heads_mid = c->heads[L - 1];
    ResBlock *r = &u->resnets[u->n_resnets++];
    resblock_init(r, cur, cur, E, G, eps);
    new_step(u, UNET_STEP_RESNET, r, cur, 0, cur, "mid_block", "resnets", 0);
    Transformer2D *t = &u->attns[u->n_attns++];
    transformer2d_init(t, cur, heads_mid, c->cross_attention_dim, (int)c->transformer_layers[L - 1], G,
                       c->use_linear_projection);
    new_step(u, UNET_STEP_ATTN, t, cur, 0, cur, "mid_block", "attentions", 0);
    r = &u->resnets[u->n_resnets++];
    resblock_init(r, cur, cur, E, G, eps);
    new_step(u, UNET_STEP_RESNET, r, cur, 0, cur, "mid_block", "resnets", 1);
    for (int i = 0; i < L; i++) {
        int lvl = L - 1 - i;
        int64_t out = c->block_out_channels[lvl];
        snprintf(blk, sizeof blk, "up_blocks.%d", i);
        for (int j = 0; j < c->layers_per_block[lvl] + 1; j++) {
            SDL_ASSERT(sp > 0);
            int pop = --sp;
            r = &u->resnets[u->n_resnets++];
            resblock_init(r, cur + skip_ch[pop], out, E, G, eps);
            s = new_step(u, UNET_STEP_RESNET, r, cur, skip_ch[pop], out, blk, "resnets", j);
            s->pop = pop;
            cur = out;
            if (c->up_cross[i]) {
                t = &u->attns[u->n_attns++];
                transformer2d_init(t, out, c->heads[lvl], c->cross_attention_dim, (int)c->transformer_layers[lvl], G,
                                   c->use_linear_projection);
                new_step(u, UNET_STEP_ATTN, t, out, 0, out, blk, "attentions", j);
            }
        }
        if (i < L - 1) {
            Upsample2D *up = &u->ups[u->n_ups++];
            upsample_init(up, out, out);
            new_step(u, UNET_STEP_UP, up, out, 0, out, blk, "upsamplers", 0);
        }
    }
    free(skip_ch);
    // Every skip is consumed exactly once: 1 + sum(lpb) + (L-1) pushes, sum(lpb + 1) pops.
    SDL_ASSERT(sp == 0 && cur == C0);

    param_table_init(&u->params);
    BlockVisitor v = {.param = add_param, .module = bind_module, .ctx = u};
    visit_all(u, &v);
    // Every entry gets a float * destination, as in the other models' tables (code that walks
    // a ParamTable reads *dst); the module slots are bound from it.
    u->param_ptrs = calloc((size_t)u->params.n, sizeof *u->param_ptrs);
    SDL_ASSERT(u->param_ptrs != NULL);
    for (int64_t i = 0; i < u->params.n; i++) u->params.entries[i].dst = &u->param_ptrs[i];
    return SDL_OK;
}

void unet_allocate(Unet *u) {
    SDL_ASSERT(u->params.storage == NULL);
    for (int64_t i = 0; i < u->params.n; i++)
        u->params.entries[i].dtype = u->slots[i].half ? u->weight_dtype : PARAM_F32;
    param_table_allocate(&u->params, MEM_BASE_WEIGHTS);
    int64_t widest = 0;
    for (int64_t i = 0; i < u->params.n; i++) {
        const ParamEntry *e = &u->params.entries[i];
        *u->slots[i].w = u->param_ptrs[i]; // NULL for a 16-bit entry
        if (e->dtype == PARAM_F32) continue;
        *u->slots[i].half = (HalfWeight){.data = param_half(&u->params, e), .numel = e->numel, .bf16 = e->dtype == PARAM_BF16};
        if (e->numel > widest) widest = e->numel;
    }
    if (widest == 0) return;
    // one buffer for the widest weight (SD1.5: up_blocks.0.resnets.0.conv1, 29.5 M floats)
    u->wbuf = mem_alloc(MEM_SCRATCH, (size_t)widest * sizeof(float));
    for (int64_t i = 0; i < u->params.n; i++)
        if (u->params.entries[i].dtype != PARAM_F32) u->slots[i].half->buf = u->wbuf;
}

SdlStatus unet_init_dtype(Unet *u, const UnetConfig *cfg, ParamDtype weights) {
    SDL_TRY(unet_build(u, cfg));
    u->weight_dtype = weights;
    unet_allocate(u);
    return SDL_OK;
}

SdlStatus unet_init(Unet *u, const UnetConfig *cfg) { return unet_init_dtype(u, cfg, PARAM_F32); }

void unet_unplan(Unet *u) {
    arena_free(&u->acts);
    arena_free(&u->scratch);
    free(u->skips);
    free(u->dskips);
    u->skips = u->dskips = NULL;
    u->planned = u->planned_checkpointing = 0;
    u->step_bytes = 0;
    u->region_step = -1;
    u->B = u->H = u->W = u->T = 0;
}

void unet_free(Unet *u) {
    unet_unplan(u);
    for (int64_t i = 0; i < u->params.n && u->slots; i++) mem_free(u->slots[i].owned);
    free(u->slots);
    free(u->param_ptrs);
    mem_free(u->wbuf);
    param_table_free(&u->params);
    for (int i = 0; i < u->n_attns; i++) transformer2d_free(&u->attns[i]);
    free(u->resnets), free(u->attns), free(u->downs), free(u->ups), free(u->steps), free(u->need);
    memset(u, 0, sizeof *u);
}

SdlStatus unet_load_safetensors(Unet *u, const char *path) {
    SafeTensors st;
    SDL_TRY(st_open(&st, path));
    LoadReport rep;
    SdlStatus s = param_table_load(&u->params, &st, "", NULL, NULL, "UNet", &rep);
    st_close(&st);
    return s;
}

SdlStatus unet_load_diffusers(Unet *u, const char *dir) {
    char path[4096];
    UnetConfig cfg;
    snprintf(path, sizeof path, "%s/config.json", dir);
    SDL_TRY(unet_config_load(&cfg, path));
    SDL_TRY(unet_init(u, &cfg));
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", dir);
    SdlStatus s = unet_load_safetensors(u, path);
    if (s != SDL_OK) unet_free(u);
    return s;
}

// ---- parameters, gradients, modules ------------------------------------------------------------

static int64_t param_index(const Unet *u, const char *name) {
    const ParamEntry *e = param_find(&u->params, name);
    return e ? e - u->params.entries : -1;
}

float *unet_param(Unet *u, const char *name) {
    int64_t i = param_index(u, name);
    return i < 0 ? NULL : param_f32(&u->params, &u->params.entries[i]);
}

static float *enable_grad(Unet *u, int64_t i) {
    UnetParamSlot *s = &u->slots[i];
    if (!s->owned) {
        s->owned = mem_calloc(MEM_GRADS, (size_t)u->params.entries[i].numel * sizeof(float));
        *s->grad = s->owned;
    }
    return s->owned;
}

float *unet_param_grad(Unet *u, const char *name) {
    int64_t i = param_index(u, name);
    return i < 0 ? NULL : enable_grad(u, i);
}

void unet_enable_all_grads(Unet *u) {
    for (int64_t i = 0; i < u->params.n; i++) enable_grad(u, i);
}

void unet_zero_grads(Unet *u) {
    for (int64_t i = 0; i < u->params.n; i++)
        if (u->slots[i].owned) memset(u->slots[i].owned, 0, (size_t)u->params.entries[i].numel * sizeof(float));
}

typedef struct {
    UnetModuleFn fn;
    void *ctx;
} ModuleVisit;

static void forward_module(BlockVisitor *v, const char *path, BlockModuleKind kind, void *module, const char *cls) {
    ModuleVisit *mv = v->ctx;
    mv->fn(mv->ctx, path, kind, module, cls);
}

void unet_visit_modules(Unet *u, UnetModuleFn fn, void *ctx) {
    ModuleVisit mv = {fn, ctx};
    BlockVisitor v = {.module = forward_module, .ctx = &mv};
    visit_all(u, &v);
}

// ---- planning -------------------------------------------------------------------------------------

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

// Sizes every step (needs B, H, W, T set) and returns the work floats the largest step needs.
static size_t size_steps(Unet *u) {
    int64_t B = u->B, H = u->H, W = u->W, T = u->T;
    size_t work = max_sz(conv_module_work_floats(&u->conv_in, B, H, W),
                         (size_t)(B * u->cfg.block_out_channels[0] * H * W) + conv_module_work_floats(&u->conv_out, B, H, W));
    work = max_sz(work, max_sz(linear_module_work_floats(&u->time_linear_1, B), linear_module_work_floats(&u->time_linear_2, B)));
    for (int k = 0; k < u->n_steps; k++) {
        UnetStep *s = &u->steps[k];
        s->H = H, s->W = W, s->OH = H, s->OW = W;
        switch (s->kind) {
        case UNET_STEP_RESNET: work = max_sz(work, resblock_work_floats(s->mod, B, H, W)); break;
        case UNET_STEP_ATTN: work = max_sz(work, transformer2d_work_floats(s->mod, B, H, W, T)); break;
        case UNET_STEP_DOWN:
            s->OH = downsample_out_h(s->mod, H), s->OW = downsample_out_w(s->mod, W);
            work = max_sz(work, downsample_work_floats(s->mod, B, H, W));
            break;
        case UNET_STEP_UP:
            s->OH = 2 * H, s->OW = 2 * W;
            work = max_sz(work, upsample_work_floats(s->mod, B, H, W));
            break;
        }
        H = s->OH, W = s->OW;
    }
    return work;
}

// What step s saves for its own backward (module internals and LoRA h), from arena a.
static void plan_step(UnetStep *s, Arena *a, int64_t B, int64_t T) {
    switch (s->kind) {
    case UNET_STEP_RESNET: resblock_plan(s->mod, a, B, s->H, s->W); break;
    case UNET_STEP_ATTN: transformer2d_plan(s->mod, a, B, s->H, s->W, T); break;
    case UNET_STEP_DOWN: downsample_plan(s->mod, a, B, s->H, s->W); break;
    case UNET_STEP_UP: upsample_plan(s->mod, a, B, s->H, s->W); break;
    }
}

// Gradient checkpointing: the largest of the steps' saved internals (bytes), the shared region.
static size_t max_step_bytes(Unet *u) {
    size_t m = 0;
    for (int k = 0; k < u->n_steps; k++) {
        Arena a;
        arena_init_measure(&a, MEM_ACTIVATIONS);
        plan_step(&u->steps[k], &a, u->B, u->T);
        m = max_sz(m, a.used);
    }
    return m;
}

// One pass over both arenas (measuring or real): the same calls hand out the same layout.
// With checkpointing every step plans its internals into one shared region (a view that starts
// over for each step); without, they follow each other in the arena.
static void plan_pass(Unet *u, size_t work_floats) {
    Arena *a = &u->acts, *sc = &u->scratch;
    const UnetConfig *c = &u->cfg;
    int64_t B = u->B, H = u->H, W = u->W, T = u->T, E = c->time_embed_dim, C0 = c->block_out_channels[0];
    u->latents = arena_floats(a, (size_t)(B * c->in_channels * H * W));
    u->timesteps = arena_floats(a, (size_t)B);
    u->context = arena_floats(a, (size_t)(B * T * c->cross_attention_dim));
    u->t_emb = arena_floats(a, (size_t)(B * C0));
    u->temb_h = arena_floats(a, (size_t)(B * E));
    u->temb_a = arena_floats(a, (size_t)(B * E));
    u->temb = arena_floats(a, (size_t)(B * E));
    u->temb_act = arena_floats(a, (size_t)(B * E));
    linear_plan_lora(&u->time_linear_1, a, B);
    linear_plan_lora(&u->time_linear_2, a, B);
    conv_plan_lora(&u->conv_in, a, B, H, W);
    u->h0 = arena_floats(a, (size_t)(B * C0 * H * W));
    u->skips[0] = u->h0;
    void *region = u->checkpointing ? arena_alloc(a, u->step_bytes) : NULL; // NULL while measuring
    size_t plain = (size_t)(B * C0 * H * W), cat = 0;
    for (int k = 0; k < u->n_steps; k++) {
        UnetStep *s = &u->steps[k];
        s->out = arena_floats(a, (size_t)(B * s->out_c * s->OH * s->OW));
        if (s->push >= 0) u->skips[s->push] = s->out;
        plain = max_sz(plain, max_sz((size_t)(B * s->out_c * s->OH * s->OW), (size_t)(B * s->in_c * s->H * s->W)));
        if (s->pop >= 0) cat = max_sz(cat, (size_t)(B * (s->in_c + s->skip_c) * s->H * s->W));
        Arena view, *sa = a;
        if (u->checkpointing) arena_init_view(&view, MEM_ACTIVATIONS, region, u->step_bytes), sa = &view;
        plan_step(s, sa, B, T);
    }
    u->out_mean = arena_floats(a, (size_t)(B * c->norm_num_groups));
    u->out_rstd = arena_floats(a, (size_t)(B * c->norm_num_groups));
    conv_plan_lora(&u->conv_out, a, B, H, W);

    u->g0 = arena_floats(sc, plain);
    u->g1 = arena_floats(sc, plain);
    u->cat = arena_floats(sc, cat);
    u->dcat = arena_floats(sc, cat);
    // skip grads: skip 0 has conv_in's output shape, the others their step's output shape
    u->dskips[0] = arena_floats(sc, (size_t)(B * C0 * H * W));
    for (int k = 0; k < u->n_steps; k++) {
        UnetStep *s = &u->steps[k];
        if (s->push >= 0) u->dskips[s->push] = arena_floats(sc, (size_t)(B * s->out_c * s->OH * s->OW));
    }
    u->dtemb_act = arena_floats(sc, (size_t)(B * E));
    u->dtemb_tmp = arena_floats(sc, (size_t)(2 * B * E));
    u->work = arena_floats(sc, work_floats);
    u->recomp = u->checkpointing ? arena_floats(sc, plain) : NULL;
}

SdlStatus unet_plan(Unet *u, int64_t B, int64_t H, int64_t W, int64_t Tctx) {
    int64_t mult = unet_size_multiple(&u->cfg);
    if (B < 1 || H < 1 || W < 1 || Tctx < 1 || H % mult != 0 || W % mult != 0)
        return sdl_fail(SDL_ERR_ARG, NULL, "use image sizes whose latents are multiples of the UNet's downsampling (64 px for SD)",
                        "UNet: latent size %lldx%lld (batch %lld, %lld context tokens) is not a positive multiple of %lld",
                        (long long)H, (long long)W, (long long)B, (long long)Tctx, (long long)mult);
    int ckpt = u->checkpointing != 0;
    if (u->planned && u->B == B && u->H == H && u->W == W && u->T == Tctx && u->planned_checkpointing == ckpt)
        return SDL_OK;
    unet_unplan(u);
    u->B = B, u->H = H, u->W = W, u->T = Tctx;
    u->checkpointing = ckpt;
    u->skips = calloc((size_t)u->n_skips, sizeof *u->skips);
    u->dskips = calloc((size_t)u->n_skips, sizeof *u->dskips);
    SDL_ASSERT(u->skips && u->dskips);
    size_t work = size_steps(u);
    u->step_bytes = ckpt ? max_step_bytes(u) : 0;
    u->region_step = -1;
    arena_init_measure(&u->acts, MEM_ACTIVATIONS);
    arena_init_measure(&u->scratch, MEM_SCRATCH);
    plan_pass(u, work);
    size_t act = u->acts.used, scr = u->scratch.used;
    arena_init(&u->acts, MEM_ACTIVATIONS, act);
    arena_init(&u->scratch, MEM_SCRATCH, scr);
    plan_pass(u, work);
    SDL_ASSERT(u->acts.used == act && u->scratch.used == scr);
    u->act_bytes = act, u->scratch_bytes = scr;
    u->planned = 1, u->planned_checkpointing = ckpt;
    return SDL_OK;
}

// ---- forward ----------------------------------------------------------------------------------

static const float *step_input(const Unet *u, int k) { return k == 0 ? u->h0 : u->steps[k - 1].out; }

// Step k's forward from its input (and skip), writing out (B, out_c, OH, OW) and the step's
// saved internals. Backward calls it again under checkpointing (out is then a throwaway).
static void step_forward(Unet *u, int k, float *out) {
    UnetStep *s = &u->steps[k];
    int64_t B = u->B, T = u->T;
    const float *x = step_input(u, k);
    switch (s->kind) {
    case UNET_STEP_RESNET:
        if (s->pop >= 0) {
            concat_channels_forward(u->cat, x, u->skips[s->pop], B, s->in_c, s->skip_c, s->H * s->W);
            x = u->cat;
        }
        resblock_forward(s->mod, out, x, u->temb_act, B, s->H, s->W, u->work);
        break;
    case UNET_STEP_ATTN: transformer2d_forward(s->mod, out, x, u->context, B, s->H, s->W, T, u->work); break;
    case UNET_STEP_DOWN: downsample_forward(s->mod, out, x, B, s->H, s->W, u->work); break;
    case UNET_STEP_UP: upsample_forward(s->mod, out, x, B, s->H, s->W, u->work); break;
    }
}

void unet_forward(Unet *u, float *eps, const float *latents, const float *timesteps, const float *context) {
    SDL_ASSERT(u->planned);
    const UnetConfig *c = &u->cfg;
    int64_t B = u->B, H = u->H, W = u->W, T = u->T, E = c->time_embed_dim, C0 = c->block_out_channels[0];
    int64_t G = c->norm_num_groups;
    memcpy(u->latents, latents, (size_t)(B * c->in_channels * H * W) * sizeof(float));
    memcpy(u->timesteps, timesteps, (size_t)B * sizeof(float));
    memcpy(u->context, context, (size_t)(B * T * c->cross_attention_dim) * sizeof(float));

    timestep_embedding(u->t_emb, u->timesteps, B, C0, c->flip_sin_to_cos, c->freq_shift, 10000.0f);
    linear_module_forward(&u->time_linear_1, u->temb_h, u->t_emb, B);
    silu_forward(u->temb_a, u->temb_h, B * E);
    linear_module_forward(&u->time_linear_2, u->temb, u->temb_a, B);
    silu_forward(u->temb_act, u->temb, B * E);

    conv_module_forward(&u->conv_in, u->h0, u->latents, B, H, W, u->work);
    for (int k = 0; k < u->n_steps; k++) step_forward(u, k, u->steps[k].out);
    u->region_step = u->checkpointing ? u->n_steps - 1 : -1;
    const float *last = step_input(u, u->n_steps);
    float *a = u->work, *mod = a + B * C0 * H * W;
    groupnorm_silu_forward(a, u->out_mean, u->out_rstd, last, u->norm_out.w, u->norm_out.b, B, C0, H * W, G,
                           u->norm_out.eps);
    conv_module_forward(&u->conv_out, eps, a, B, H, W, mod);
}

// ---- backward ---------------------------------------------------------------------------------

static int step_wants_grad(const UnetStep *s) {
    switch (s->kind) {
    case UNET_STEP_RESNET: return resblock_wants_grad(s->mod);
    case UNET_STEP_ATTN: return transformer2d_wants_grad(s->mod);
    case UNET_STEP_DOWN: return downsample_wants_grad(s->mod);
    case UNET_STEP_UP: return upsample_wants_grad(s->mod);
    }
    return 0;
}

void unet_backward(Unet *u, float *dlatents, float *dcontext, const float *deps) {
    SDL_ASSERT(u->planned);
    PROF_BACKWARD_SCOPE();
    const UnetConfig *c = &u->cfg;
    int64_t B = u->B, H = u->H, W = u->W, T = u->T, E = c->time_embed_dim, C0 = c->block_out_channels[0];
    int64_t G = c->norm_num_groups;
    int n = u->n_steps;
    if (dcontext) memset(dcontext, 0, (size_t)(B * T * c->cross_attention_dim) * sizeof(float));

    // need[k]: something before step k (conv_in, the latents, steps < k) needs dL/d(input of k).
    int temb_wants = linear_wants_grad(&u->time_linear_1) || linear_wants_grad(&u->time_linear_2);
    int *need = u->need;
    need[0] = dlatents || conv_wants_grad(&u->conv_in);
    for (int k = 0; k < n; k++) {
        const UnetStep *s = &u->steps[k];
        int wants = step_wants_grad(s) || (s->kind == UNET_STEP_ATTN && dcontext) || (s->kind == UNET_STEP_RESNET && temb_wants);
        need[k + 1] = need[k] || wants;
    }
    float *dtemb_act = temb_wants ? u->dtemb_act : NULL;
    if (dtemb_act) memset(dtemb_act, 0, (size_t)(B * E) * sizeof(float));

    // eps = conv_out(silu(norm_out(h)))
    const float *last = step_input(u, n);
    float *g = u->g0, *spare = u->g1, *a = u->work, *mod = a + B * C0 * H * W;
    int need_head = need[n] || norm_wants_grad(&u->norm_out);
    if (need_head || conv_wants_grad(&u->conv_out)) {
        if (conv_needs_input(&u->conv_out))
            groupnorm_silu_forward(a, NULL, NULL, last, u->norm_out.w, u->norm_out.b, B, C0, H * W, G, u->norm_out.eps);
        conv_module_backward(&u->conv_out, need_head ? g : NULL, deps, a, B, H, W, mod);
    }
    if (need_head)
        groupnorm_silu_backward(need[n] ? g : NULL, u->norm_out.dw, u->norm_out.db, g, last, u->norm_out.w, u->norm_out.b,
                                u->out_mean, u->out_rstd, B, C0, H * W, G);

    for (int k = n - 1; k >= 0 && need[k + 1]; k--) {
        UnetStep *s = &u->steps[k];
        const float *x = step_input(u, k);
        int64_t HW = s->H * s->W;
        if (u->checkpointing && u->region_step != k) { // bring back this step's internals
            step_forward(u, k, u->recomp);
            u->region_step = k;
        }
        if (s->push >= 0) add_into(g, u->dskips[s->push], B * s->out_c * s->OH * s->OW);
        float *dx = need[k] ? spare : NULL;
        switch (s->kind) {
        case UNET_STEP_RESNET:
            if (s->pop >= 0) {
                concat_channels_forward(u->cat, x, u->skips[s->pop], B, s->in_c, s->skip_c, HW);
                resblock_backward(s->mod, dx ? u->dcat : NULL, dtemb_act, g, u->cat, u->temb_act, B, s->H, s->W, u->work);
                if (dx) concat_channels_backward(dx, u->dskips[s->pop], u->dcat, B, s->in_c, s->skip_c, HW);
            } else {
                resblock_backward(s->mod, dx, dtemb_act, g, x, u->temb_act, B, s->H, s->W, u->work);
            }
            break;
        case UNET_STEP_ATTN:
            transformer2d_backward(s->mod, dx, dcontext, g, x, u->context, B, s->H, s->W, T, u->work);
            break;
        case UNET_STEP_DOWN: downsample_backward(s->mod, dx, g, x, B, s->H, s->W, u->work); break;
        case UNET_STEP_UP: upsample_backward(s->mod, dx, g, x, B, s->H, s->W, u->work); break;
        }
        float *tmp = g;
        g = spare, spare = tmp;
    }
    if (need[0]) { // h0 = conv_in(latents), also skip 0
        add_into(g, u->dskips[0], B * C0 * H * W);
        conv_module_backward(&u->conv_in, dlatents, g, u->latents, B, H, W, u->work);
    }

    // temb_act = silu(linear_2(silu(linear_1(t_emb)))): no gradient into the timesteps.
    if (temb_wants) {
        float *de = u->dtemb_tmp, *da = de + B * E;
        int need_a = linear_wants_grad(&u->time_linear_1);
        silu_backward(de, dtemb_act, u->temb, B * E);
        linear_module_backward(&u->time_linear_2, need_a ? da : NULL, de, u->temb_a, B, u->work);
        if (need_a) {
            silu_backward(da, da, u->temb_h, B * E);
            linear_module_backward(&u->time_linear_1, NULL, da, u->t_emb, B, u->work);
        }
    }
}
