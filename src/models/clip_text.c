// clip_text.c — the CLIP text encoder: parameters, memory plan, forward, backward, long-prompt
// windows (see clip_text.h for the math and the conventions).
#include "models/clip_text.h"
#include "base/profile.h"
#include "ops/activation.h"
#include "ops/norm.h"
#include "ops/tensor.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- parameters ----

#define CLIP_PARAMS_PER_LAYER 16

// One ParamTable entry: its name, shape, the field that receives the weight pointer and the
// field that holds its gradient pointer (entry k of w_slots / grad_slots).
__attribute__((format(printf, 6, 7)))
static void add_param(ClipText *m, const float **w, float **g, int ndim, const int64_t *shape, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    SDL_ASSERT(len > 0 && (size_t)len < sizeof name);
    int64_t k = m->params.n;
    param_add(&m->params, NULL, ndim, shape, "%s", name);
    m->w_slots[k] = w;
    m->grad_slots[k] = g;
}

static void add_linear(ClipText *m, Linear *lin, int64_t out, int64_t in, const char *prefix) {
    *lin = (Linear){.in = in, .out = out};
    m->half_slots[m->params.n] = &lin->w16;
    add_param(m, &lin->w, &lin->dw, 2, (int64_t[]){out, in}, "%s.weight", prefix);
    add_param(m, &lin->b, &lin->db, 1, (int64_t[]){out}, "%s.bias", prefix);
}

static void add_layernorm(ClipText *m, ClipLayerNorm *ln, int64_t D, const char *prefix) {
    add_param(m, &ln->w, &ln->dw, 1, (int64_t[]){D}, "%s.weight", prefix);
    add_param(m, &ln->b, &ln->db, 1, (int64_t[]){D}, "%s.bias", prefix);
}

void clip_text_init(ClipText *m, const ClipTextConfig *cfg) { clip_text_init_dtype(m, cfg, PARAM_F32); }

void clip_text_init_dtype(ClipText *m, const ClipTextConfig *cfg, ParamDtype weights) {
    SDL_ASSERT(clip_text_config_validate(cfg, NULL) == SDL_OK);
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->n_run = -1;
    const int64_t V = cfg->vocab_size, P = cfg->max_position_embeddings, D = cfg->hidden_size;
    const int64_t I = cfg->intermediate_size, L = cfg->num_hidden_layers, NH = cfg->num_attention_heads;
    int64_t n = 4 + CLIP_PARAMS_PER_LAYER * L;
    m->w_slots = calloc((size_t)n, sizeof *m->w_slots);
    m->grad_slots = calloc((size_t)n, sizeof *m->grad_slots);
    m->half_slots = calloc((size_t)n, sizeof *m->half_slots);
    m->layers = calloc((size_t)(L ? L : 1), sizeof *m->layers);
    m->saved = calloc((size_t)(L ? L : 1), sizeof *m->saved);
    SDL_ASSERT(m->w_slots && m->grad_slots && m->half_slots && m->layers && m->saved);
    param_table_init(&m->params);

    // transformers' state_dict order
    add_param(m, &m->token_embedding, &m->dtoken_embedding, 2, (int64_t[]){V, D},
              "text_model.embeddings.token_embedding.weight");
    add_param(m, &m->position_embedding, &m->dposition_embedding, 2, (int64_t[]){P, D},
              "text_model.embeddings.position_embedding.weight");
    char pre[160];
    for (int64_t i = 0; i < L; i++) {
        ClipTextLayer *ly = &m->layers[i];
        ly->attn.heads = NH, ly->attn.head_dim = D / NH, ly->attn.causal = 1;
        const char *proj[4] = {"k_proj", "v_proj", "q_proj", "out_proj"};
        Linear *lin[4] = {&ly->attn.k, &ly->attn.v, &ly->attn.q, &ly->attn.out};
        for (int j = 0; j < 4; j++) {
            snprintf(pre, sizeof pre, "text_model.encoder.layers.%lld.self_attn.%s", (long long)i, proj[j]);
            add_linear(m, lin[j], D, D, pre);
        }
        snprintf(pre, sizeof pre, "text_model.encoder.layers.%lld.layer_norm1", (long long)i);
        add_layernorm(m, &ly->ln1, D, pre);
        snprintf(pre, sizeof pre, "text_model.encoder.layers.%lld.mlp.fc1", (long long)i);
        add_linear(m, &ly->fc1, I, D, pre);
        snprintf(pre, sizeof pre, "text_model.encoder.layers.%lld.mlp.fc2", (long long)i);
        add_linear(m, &ly->fc2, D, I, pre);
        snprintf(pre, sizeof pre, "text_model.encoder.layers.%lld.layer_norm2", (long long)i);
        add_layernorm(m, &ly->ln2, D, pre);
    }
    add_layernorm(m, &m->final_ln, D, "text_model.final_layer_norm");
    SDL_ASSERT(m->params.n == n);

    for (int64_t k = 0; k < n; k++) m->params.entries[k].dtype = m->half_slots[k] ? weights : PARAM_F32;
    param_table_allocate(&m->params, MEM_BASE_WEIGHTS);
    int64_t widest = 0;
    for (int64_t k = 0; k < n; k++) {
        const ParamEntry *e = &m->params.entries[k];
        *m->w_slots[k] = param_f32(&m->params, e); // NULL for a 16-bit entry
        if (e->dtype == PARAM_F32) continue;
        *m->half_slots[k] = (HalfWeight){.data = param_half(&m->params, e), .numel = e->numel, .bf16 = e->dtype == PARAM_BF16};
        if (e->numel > widest) widest = e->numel;
    }
    if (widest == 0) return;
    m->wbuf = mem_alloc(MEM_SCRATCH, (size_t)widest * sizeof(float)); // fc1/fc2: 2.4 M floats for SD1
    for (int64_t k = 0; k < n; k++)
        if (m->params.entries[k].dtype != PARAM_F32) m->half_slots[k]->buf = m->wbuf;
}

void clip_text_free(ClipText *m) {
    param_table_free(&m->params);
    arena_free(&m->act);
    arena_free(&m->scratch);
    free(m->w_slots);
    free(m->grad_slots);
    free(m->half_slots);
    mem_free(m->wbuf);
    free(m->layers);
    free(m->saved);
    memset(m, 0, sizeof *m);
}

float **clip_text_grad_slot(ClipText *m, const char *name) {
    for (int64_t k = 0; k < m->params.n; k++)
        if (strcmp(m->params.entries[k].name, name) == 0) return m->grad_slots[k];
    return NULL;
}

void clip_text_visit_modules(ClipText *m, ClipTextModuleFn fn, void *ctx) {
    char name[160];
    for (int64_t i = 0; i < m->cfg.num_hidden_layers; i++) {
        ClipTextLayer *ly = &m->layers[i];
        const char *sub[6] = {"self_attn.k_proj", "self_attn.v_proj", "self_attn.q_proj", "self_attn.out_proj",
                              "mlp.fc1", "mlp.fc2"};
        Linear *lin[6] = {&ly->attn.k, &ly->attn.v, &ly->attn.q, &ly->attn.out, &ly->fc1, &ly->fc2};
        for (int j = 0; j < 6; j++) {
            snprintf(name, sizeof name, "text_model.encoder.layers.%lld.%s", (long long)i, sub[j]);
            fn(name, lin[j], ctx);
        }
    }
}

// ---- memory plan ----

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

// Work floats forward and backward need with the adapters attached now.
static size_t work_needed(const ClipText *m, int64_t B, int64_t T) {
    size_t w = 0;
    for (int64_t i = 0; i < m->cfg.num_hidden_layers; i++) {
        const ClipTextLayer *ly = &m->layers[i];
        w = max_sz(w, attention_module_work_floats(&ly->attn, B, T, T));
        w = max_sz(w, max_sz(linear_module_work_floats(&ly->fc1, B * T), linear_module_work_floats(&ly->fc2, B * T)));
    }
    return w;
}

// Hands out every planned buffer from the two arenas, in a fixed order (run once measuring,
// once for real).
static void lay_out(ClipText *m, Arena *act, Arena *scr) {
    const int64_t M = m->B * m->T, D = m->cfg.hidden_size, I = m->cfg.intermediate_size;
    const int64_t L = m->cfg.num_hidden_layers, NH = m->cfg.num_attention_heads;
    const size_t MD = (size_t)(M * D), MI = (size_t)(M * I), lse = (size_t)(m->B * NH * m->T);
    m->tmp = arena_floats(scr, MD);
    m->ln = arena_floats(scr, MD);
    m->stitch = arena_floats(scr, MD);
    m->work = arena_floats(scr, m->work_floats);
    if (m->train) {
        for (int64_t i = 0; i < L; i++) {
            ClipTextLayerSaved *s = &m->saved[i];
            s->x = arena_floats(act, MD);
            s->attn.q = arena_floats(act, MD);
            s->attn.k = arena_floats(act, MD);
            s->attn.v = arena_floats(act, MD);
            s->attn.o = arena_floats(act, MD);
            s->attn.lse = arena_floats(act, lse);
            s->x_mid = arena_floats(act, MD);
            s->h = arena_floats(act, MI);
            s->mean1 = arena_floats(act, (size_t)M);
            s->rstd1 = arena_floats(act, (size_t)M);
            s->mean2 = arena_floats(act, (size_t)M);
            s->rstd2 = arena_floats(act, (size_t)M);
        }
        m->x_final = arena_floats(act, MD);
        m->mean_f = arena_floats(act, (size_t)M);
        m->rstd_f = arena_floats(act, (size_t)M);
        m->ids = arena_alloc(act, (size_t)M * sizeof(int32_t));
        m->act_out = arena_floats(scr, MI);
        m->dres = arena_floats(scr, MD);
        m->dln = arena_floats(scr, MD);
        m->dI = arena_floats(scr, MI);
        m->dbranch = m->tmp; // tmp is forward-only
    } else {
        // Forward only: one residual stream updated in place, one set of attention buffers.
        ClipTextLayerSaved one = {0};
        one.x = one.x_mid = arena_floats(scr, MD);
        one.attn.q = arena_floats(scr, MD);
        one.attn.k = arena_floats(scr, MD);
        one.attn.v = arena_floats(scr, MD);
        one.attn.o = arena_floats(scr, MD);
        one.attn.lse = arena_floats(scr, lse);
        one.h = arena_floats(scr, MI);
        for (int64_t i = 0; i < L; i++) m->saved[i] = one;
        m->x_final = one.x;
        m->mean_f = m->rstd_f = NULL;
        m->ids = NULL;
        m->act_out = one.h; // the activation runs in place
        m->dres = m->dln = m->dI = m->dbranch = NULL;
    }
}

void clip_text_plan(ClipText *m, int64_t B, int64_t T, bool train) {
    SDL_ASSERT(B >= 1 && T >= 1 && T <= m->cfg.max_position_embeddings);
    arena_free(&m->act);
    arena_free(&m->scratch);
    m->B = B, m->T = T, m->train = train;
    m->work_floats = work_needed(m, B, T);
    Arena a, s;
    arena_init_measure(&a, MEM_ACTIVATIONS);
    arena_init_measure(&s, MEM_SCRATCH);
    lay_out(m, &a, &s);
    arena_init(&m->act, MEM_ACTIVATIONS, a.used);
    arena_init(&m->scratch, MEM_SCRATCH, s.used);
    lay_out(m, &m->act, &m->scratch);
    m->n_run = -1;
}

size_t clip_text_planned_bytes(const ClipText *m, MemClass cls) {
    if (cls == MEM_ACTIVATIONS) return m->act.size;
    if (cls == MEM_SCRATCH) return m->scratch.size;
    return 0;
}

// ---- forward ----

static void act_forward(ClipAct a, float *out, const float *inp, int64_t n) {
    switch (a) {
    case CLIP_ACT_QUICK_GELU: quick_gelu_forward(out, inp, n); return;
    case CLIP_ACT_GELU: gelu_forward(out, inp, n, GELU_ERF); return;
    case CLIP_ACT_GELU_TANH: gelu_forward(out, inp, n, GELU_TANH); return;
    }
}

static void act_backward(ClipAct a, float *dinp, const float *dout, const float *inp, int64_t n) {
    switch (a) {
    case CLIP_ACT_QUICK_GELU: quick_gelu_backward(dinp, dout, inp, n); return;
    case CLIP_ACT_GELU: gelu_backward(dinp, dout, inp, n, GELU_ERF); return;
    case CLIP_ACT_GELU_TANH: gelu_backward(dinp, dout, inp, n, GELU_TANH); return;
    }
}

// One encoder layer: s->x (M, D) → x_out (M, D) (x_out may be s->x when nothing is saved).
static void layer_forward(ClipText *m, const ClipTextLayer *ly, ClipTextLayerSaved *s, float *x_out) {
    const int64_t B = m->B, T = m->T, M = B * T, D = m->cfg.hidden_size, I = m->cfg.intermediate_size;
    const float eps = m->cfg.layer_norm_eps;
    layernorm_forward(m->ln, s->mean1, s->rstd1, s->x, ly->ln1.w, ly->ln1.b, M, D, eps);
    attention_module_forward(&ly->attn, m->tmp, &s->attn, m->ln, NULL, B, T, T, m->work);
    add_forward(s->x_mid, s->x, m->tmp, M * D);                        // residual
    layernorm_forward(m->ln, s->mean2, s->rstd2, s->x_mid, ly->ln2.w, ly->ln2.b, M, D, eps);
    linear_module_forward(&ly->fc1, s->h, m->ln, M);                   // (M, I)
    act_forward(m->cfg.hidden_act, m->act_out, s->h, M * I);
    linear_module_forward(&ly->fc2, m->tmp, m->act_out, M);           // (M, D)
    add_forward(x_out, s->x_mid, m->tmp, M * D);                       // residual
}

SdlStatus clip_text_forward(ClipText *m, float *hidden, const int32_t *ids, int clip_skip) {
    SDL_ASSERT(m->B > 0); // planned
    SDL_ASSERT(work_needed(m, m->B, m->T) <= m->work_floats); // adapters attached (or threads raised) after the plan
    const int64_t L = m->cfg.num_hidden_layers, D = m->cfg.hidden_size, V = m->cfg.vocab_size;
    const int64_t B = m->B, T = m->T, M = B * T;
    m->n_run = -1; // a failed forward leaves nothing for backward
    if (clip_skip > L + 1 || clip_skip < 0)
        return sdl_fail(SDL_ERR_ARG, NULL, "clip_skip counts from the last layer: 1 = none, 2 = penultimate",
                        "clip_skip %d is out of range for a text encoder with %lld layers (0..%lld)", clip_skip,
                        (long long)L, (long long)(L + 1));
    for (int64_t r = 0; r < M; r++)
        if (ids[r] < 0 || ids[r] >= V)
            return sdl_fail(SDL_ERR_ARG, NULL, "token ids must come from this text encoder's tokenizer",
                            "token id %d at sequence %lld position %lld is outside the vocabulary (size %lld)",
                            (int)ids[r], (long long)(r / T), (long long)(r % T), (long long)V);
    const int n_run = (int)(clip_skip <= 1 ? L : L + 1 - clip_skip);

    // embeddings: x[b, t] = token_embedding[ids[b, t]] + position_embedding[t]   (M, D)
    float *x0 = n_run > 0 ? m->saved[0].x : m->x_final;
#pragma omp parallel for schedule(static) if (M * D > 32768)
    for (int64_t r = 0; r < M; r++) {
        const float *te = m->token_embedding + (size_t)ids[r] * (size_t)D;
        const float *pe = m->position_embedding + (size_t)(r % T) * (size_t)D;
        float *xr = x0 + (size_t)r * (size_t)D;
        for (int64_t c = 0; c < D; c++) xr[c] = te[c] + pe[c];
    }
    if (m->ids) memcpy(m->ids, ids, (size_t)M * sizeof *ids);

    for (int i = 0; i < n_run; i++) {
        float *x_out = i + 1 < n_run ? m->saved[i + 1].x : m->x_final;
        layer_forward(m, &m->layers[i], &m->saved[i], x_out);
    }
    layernorm_forward(hidden, m->mean_f, m->rstd_f, m->x_final, m->final_ln.w, m->final_ln.b, M, D,
                      m->cfg.layer_norm_eps);
    m->n_run = n_run;
    return SDL_OK;
}

void clip_text_pool(const ClipText *m, float *pooled, const float *hidden, const int32_t *ids, int64_t B, int64_t T) {
    const int64_t D = m->cfg.hidden_size;
    for (int64_t b = 0; b < B; b++) {
        const int32_t *row = ids + b * T;
        int64_t at = 0;
        if (m->cfg.eos_token_id == 2) { // legacy configs: argmax, first of equal maxima (torch)
            for (int64_t t = 1; t < T; t++)
                if (row[t] > row[at]) at = t;
        } else {
            for (int64_t t = 0; t < T; t++)
                if (row[t] == m->cfg.eos_token_id) { at = t; break; }
        }
        memcpy(pooled + b * D, hidden + (b * T + at) * D, (size_t)D * sizeof(float));
    }
}

// ---- backward ----

static bool linear_trains(const Linear *l) {
    return l->dw || l->db || (l->lora && (l->lora->ddown || l->lora->dup));
}
static bool ln_trains(const ClipLayerNorm *n) { return n->dw || n->db; }

// Backward parts, bottom up: 0 the embeddings, 2i+1 the attention half of layer i (layer_norm1,
// self_attn), 2i+2 its MLP half (layer_norm2, fc1, fc2), 2·n_run+1 the final LayerNorm.
static bool part_trains(const ClipText *m, int part, int n_run) {
    if (part == 0) return m->dtoken_embedding || m->dposition_embedding;
    if (part == 2 * n_run + 1) return ln_trains(&m->final_ln);
    const ClipTextLayer *ly = &m->layers[(part - 1) / 2];
    if (part % 2 == 1)
        return ln_trains(&ly->ln1) || linear_trains(&ly->attn.q) || linear_trains(&ly->attn.k) ||
               linear_trains(&ly->attn.v) || linear_trains(&ly->attn.out);
    return ln_trains(&ly->ln2) || linear_trains(&ly->fc1) || linear_trains(&ly->fc2);
}

// The MLP half of layer i: m->dres holds dL/d(layer output) and becomes dL/d(x_mid) when
// `below` (a part below needs it).
static void mlp_backward(ClipText *m, const ClipTextLayer *ly, const ClipTextLayerSaved *s, bool below) {
    const int64_t M = m->B * m->T, D = m->cfg.hidden_size, I = m->cfg.intermediate_size;
    const bool need_ln2 = below || ln_trains(&ly->ln2);  // dL/d(layer_norm2 output) needed
    const bool need_h = need_ln2 || linear_trains(&ly->fc1); // dL/d(fc1 output) needed
    // recompute what forward did not keep: layer_norm2(x_mid) and act(h)
    layernorm_forward(m->ln, NULL, NULL, s->x_mid, ly->ln2.w, ly->ln2.b, M, D, m->cfg.layer_norm_eps);
    act_forward(m->cfg.hidden_act, m->act_out, s->h, M * I);
    linear_module_backward(&ly->fc2, need_h ? m->dI : NULL, m->dres, m->act_out, M, m->work);
    if (!need_h) return;
    act_backward(m->cfg.hidden_act, m->dI, m->dI, s->h, M * I);
    linear_module_backward(&ly->fc1, need_ln2 ? m->dln : NULL, m->dI, m->ln, M, m->work);
    if (!need_ln2) return;
    layernorm_backward(below ? m->dbranch : NULL, ly->ln2.dw, ly->ln2.db, m->dln, s->x_mid, ly->ln2.w, s->mean2,
                       s->rstd2, M, D);
    if (below) add_into(m->dres, m->dbranch, M * D);
}

// The attention half: m->dres = dL/d(x_mid) becomes dL/d(layer input) when `below`.
static void attn_backward(ClipText *m, const ClipTextLayer *ly, const ClipTextLayerSaved *s, bool below) {
    const int64_t B = m->B, T = m->T, M = B * T, D = m->cfg.hidden_size;
    const bool need_ln1 = below || ln_trains(&ly->ln1);
    layernorm_forward(m->ln, NULL, NULL, s->x, ly->ln1.w, ly->ln1.b, M, D, m->cfg.layer_norm_eps);
    attention_module_backward(&ly->attn, need_ln1 ? m->dln : NULL, NULL, m->dres, m->ln, NULL, &s->attn, B, T, T,
                              m->work);
    if (!need_ln1) return;
    layernorm_backward(below ? m->dbranch : NULL, ly->ln1.dw, ly->ln1.db, m->dln, s->x, ly->ln1.w, s->mean1,
                       s->rstd1, M, D);
    if (below) add_into(m->dres, m->dbranch, M * D);
}

void clip_text_backward(ClipText *m, const float *dhidden) {
    PROF_BACKWARD_SCOPE();
    SDL_ASSERT(m->train && m->n_run >= 0); // a train plan and a forward before
    SDL_ASSERT(work_needed(m, m->B, m->T) <= m->work_floats); // adapters attached (or threads raised) after the plan
    const int n_run = m->n_run;
    const int64_t T = m->T, M = m->B * T, D = m->cfg.hidden_size;
    const int top = 2 * n_run + 1;
    int first = top + 1; // the lowest part that trains
    for (int p = 0; p <= top; p++)
        if (part_trains(m, p, n_run)) { first = p; break; }
    if (first > top) return; // nothing trains

    layernorm_backward(first < top ? m->dres : NULL, m->final_ln.dw, m->final_ln.db, dhidden, m->x_final,
                       m->final_ln.w, m->mean_f, m->rstd_f, M, D);
    for (int i = n_run - 1; i >= 0; i--) {
        const int mlp = 2 * i + 2, att = 2 * i + 1;
        if (first > mlp) break;
        mlp_backward(m, &m->layers[i], &m->saved[i], first < mlp);
        if (first > att) break;
        attn_backward(m, &m->layers[i], &m->saved[i], first < att);
    }
    if (first == 0) { // embeddings: dres = dL/dx0
        if (m->dposition_embedding)
            for (int64_t r = 0; r < M; r++) add_into(m->dposition_embedding + (r % T) * D, m->dres + r * D, D);
        if (m->dtoken_embedding)
            for (int64_t r = 0; r < M; r++) add_into(m->dtoken_embedding + (int64_t)m->ids[r] * D, m->dres + r * D, D);
    }
}

// ---- long prompts ----

int64_t clip_text_chunks_len(ClipChunkJoin join, int64_t n_chunks) {
    return join == CLIP_JOIN_KOHYA ? 75 * n_chunks + 2 : 77 * n_chunks;
}

// kohya's join: joined row t (of 75n + 2) comes from window row kohya_src(t) of the (n·77) rows
// of one prompt: row 0 of window 0 (BOS), rows 1..75 of window k for t = 1 + 75k .. 75 + 75k,
// and the last row of the last window.
static int64_t kohya_src(int64_t t, int64_t n) {
    const int64_t len = 75 * n + 2;
    if (t == 0) return 0;
    if (t == len - 1) return n * 77 - 1;
    return ((t - 1) / 75) * 77 + 1 + (t - 1) % 75;
}

// joined (B, 75n+2, D) ← windows (B·n, 77, D)
static void kohya_gather(float *joined, const float *windows, int64_t B, int64_t n, int64_t D) {
    const int64_t len = 75 * n + 2;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < len; t++)
            memcpy(joined + (b * len + t) * D, windows + (b * n * 77 + kohya_src(t, n)) * D, (size_t)D * sizeof(float));
}

// dwindows (B·n, 77, D) ← djoined (B, 75n+2, D); the rows the join drops get 0
static void kohya_scatter(float *dwindows, const float *djoined, int64_t B, int64_t n, int64_t D) {
    const int64_t len = 75 * n + 2;
    memset(dwindows, 0, (size_t)(B * n * 77 * D) * sizeof(float));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < len; t++)
            memcpy(dwindows + (b * n * 77 + kohya_src(t, n)) * D, djoined + (b * len + t) * D, (size_t)D * sizeof(float));
}

SdlStatus clip_text_encode_chunks(ClipText *m, float *hidden, const int32_t *ids, int64_t B, int64_t n_chunks,
                                  int clip_skip, ClipChunkJoin join) {
    SDL_ASSERT(n_chunks >= 1 && m->B == B * n_chunks && m->T == 77);
    if (join == CLIP_JOIN_A1111) // (B·n, 77, D) is (B, 77·n, D) in memory
        return clip_text_forward(m, hidden, ids, clip_skip);
    SDL_TRY(clip_text_forward(m, m->stitch, ids, clip_skip));
    kohya_gather(hidden, m->stitch, B, n_chunks, m->cfg.hidden_size);
    return SDL_OK;
}

void clip_text_encode_chunks_backward(ClipText *m, const float *dhidden, int64_t B, int64_t n_chunks,
                                      ClipChunkJoin join) {
    SDL_ASSERT(n_chunks >= 1 && m->B == B * n_chunks && m->T == 77);
    if (join == CLIP_JOIN_A1111) {
        clip_text_backward(m, dhidden);
        return;
    }
    kohya_scatter(m->stitch, dhidden, B, n_chunks, m->cfg.hidden_size);
    clip_text_backward(m, m->stitch);
}
