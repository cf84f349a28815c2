// test_clip_text.c — the CLIP text encoder against transformers' CLIPTextModel, through the
// tiny model and goldens tools/oracle/make_clip_text_goldens.py writes (tests/golden/models/):
// load through param_table_load, forward at clip_skip 1..4 (4 = embeddings only), the gelu
// activation, pooling, gradients of every parameter, LoRA adapters with a frozen base, kohya
// and A1111 long-prompt windows; plus finite differences, causality, the skipped backward
// parts, config parsing and errors.
//
// Tolerances (fixed before looking at results). The goldens are float64 results rounded once,
// so a tolerance bounds sdlora's float32 error through 3 layers:
//   forward states     max|got - ref| <= 1e-4 · max|ref|   (float32 GEMM, LayerNorm, softmax)
//   gradients          max|got - ref| <= 1e-3 · max|ref|   (longer float32 sums, more cancellation)
//   k_proj.bias grads are 0 in exact math (softmax ignores a per-query constant); they are
//   checked against 1e-3 · max|d k_proj.weight| of the same layer instead.
//   finite differences: central differences in float32 at step 1e-2: |num - ana| <= 2e-3 +
//   5e-3·|ana| per coordinate (the loss is O(100); float32 rounding of it is ~1e-5 per eval).
#include "harness.h"
#include "base/half.h"
#include "gradcheck.h"
#include "models/clip_text.h"
#include "models/load.h"
#include "ops/gemm.h"
#include <stdlib.h>
#include <string.h>

#define TOL_FWD 1e-4
#define TOL_GRAD 1e-3

static SafeTensors golden;
static int golden_ok;

static float *gload(const char *name, int64_t numel) {
    float *buf = alloc_floats(numel);
    const StTensor *t = golden_ok ? st_find(&golden, name) : NULL;
    CHECKF(t != NULL, "golden tensor %s missing", name);
    if (!t) return buf;
    CHECKF(t->numel == numel, "%s has %lld values, expected %lld", name, (long long)t->numel, (long long)numel);
    if (t->numel == numel) CHECK(st_tensor_to_f32(&golden, t, buf) == SDL_OK);
    return buf;
}

static int32_t *gload_ids(const char *name, int64_t numel) {
    int32_t *ids = calloc((size_t)numel, sizeof *ids);
    const StTensor *t = golden_ok ? st_find(&golden, name) : NULL;
    CHECKF(t && t->dtype == ST_I32 && t->numel == numel, "golden ids %s missing or not I32[%lld]", name,
           (long long)numel);
    if (t && t->dtype == ST_I32 && t->numel == numel) memcpy(ids, t->data, (size_t)numel * sizeof *ids);
    return ids;
}

// max|a - ref| <= tol · max|ref| (+ atol)
static int close_to(const char *what, const float *a, const float *ref, int64_t n, double atol, double tol) {
    double err = max_abs_diff(a, ref, n), scale = max_abs(ref, n);
    int ok = err <= atol + tol * scale;
    CHECKF(ok, "%s: max err %.3g > %.3g (max|ref| %.3g)", what, err, atol + tol * scale, scale);
    if (getenv("SDLORA_GOLDEN_VERBOSE"))
        fprintf(stderr, "  %-62s err/max|ref| %.2e, %.3f of the tolerance\n", what, err / (scale > 0 ? scale : 1),
                err / (atol + tol * scale));
    return ok;
}

// ---- the tiny model ----

static void load_tiny_dtype(ClipText *m, ParamDtype weights) {
    char path[600];
    ClipTextConfig cfg;
    golden_path(path, sizeof path, "models/tiny-clip/config.json");
    SdlStatus st = clip_text_config_load(&cfg, path);
    if (st != SDL_OK) sdl_error_print(stderr);
    CHECK(st == SDL_OK);
    if (st != SDL_OK) cfg = clip_text_config_tiny(); // keeps the test running to report the rest
    clip_text_init_dtype(m, &cfg, weights);
    golden_path(path, sizeof path, "models/tiny-clip/model.safetensors");
    SafeTensors f;
    st = st_open(&f, path);
    CHECK(st == SDL_OK);
    if (st != SDL_OK) return;
    LoadReport rep;
    st = param_table_load(&m->params, &f, "", NULL, NULL, "text encoder", &rep);
    if (st != SDL_OK) sdl_error_print(stderr);
    CHECK(st == SDL_OK);
    CHECK(rep.loaded == m->params.n);
    // the file also carries text_model.embeddings.position_ids (int64), which is no parameter
    // and which the loader skips without counting it
    CHECKF(rep.unknown == 0, "%lld unknown tensors", (long long)rep.unknown);
    st_close(&f);
}

static void load_tiny(ClipText *m) { load_tiny_dtype(m, PARAM_F32); }

enum { B = 2, T = 77 };

static void test_config_parse(void) {
    // diffusers SD1.5 text_encoder/config.json
    const char *sd15 = "{\"_name_or_path\": \"openai/clip-vit-large-patch14\", \"architectures\": [\"CLIPTextModel\"],"
                       "\"attention_dropout\": 0.0, \"bos_token_id\": 0, \"dropout\": 0.0, \"eos_token_id\": 2,"
                       "\"hidden_act\": \"quick_gelu\", \"hidden_size\": 768, \"initializer_factor\": 1.0,"
                       "\"initializer_range\": 0.02, \"intermediate_size\": 3072, \"layer_norm_eps\": 1e-05,"
                       "\"max_position_embeddings\": 77, \"model_type\": \"clip_text_model\","
                       "\"num_attention_heads\": 12, \"num_hidden_layers\": 12, \"pad_token_id\": 1,"
                       "\"projection_dim\": 768, \"torch_dtype\": \"float32\", \"transformers_version\": \"4.22.0.dev0\","
                       "\"vocab_size\": 49408}";
    ClipTextConfig c, p = clip_text_config_sd15();
    CHECK(clip_text_config_parse(&c, sd15, strlen(sd15), "sd15.json") == SDL_OK);
    CHECK(memcmp(&c, &p, sizeof c) == 0);
    CHECK(c.hidden_size == 768 && c.num_hidden_layers == 12 && c.hidden_act == CLIP_ACT_QUICK_GELU);
    CHECK(c.layer_norm_eps == 1e-5f && c.eos_token_id == 2);
    // SD2.x (OpenCLIP ViT-H as diffusers stores it)
    const char *sd2 = "{\"architectures\": [\"CLIPTextModel\"], \"bos_token_id\": 0, \"eos_token_id\": 2,"
                      "\"hidden_act\": \"gelu\", \"hidden_size\": 1024, \"intermediate_size\": 4096,"
                      "\"layer_norm_eps\": 1e-05, \"max_position_embeddings\": 77, \"num_attention_heads\": 16,"
                      "\"num_hidden_layers\": 23, \"pad_token_id\": 1, \"projection_dim\": 512, \"vocab_size\": 49408}";
    p = clip_text_config_sd2();
    CHECK(clip_text_config_parse(&c, sd2, strlen(sd2), "sd2.json") == SDL_OK);
    CHECK(memcmp(&c, &p, sizeof c) == 0);
    CHECK(c.hidden_act == CLIP_ACT_GELU && c.num_hidden_layers == 23);
    // a full CLIPConfig: the text part; missing keys take transformers' defaults
    const char *full = "{\"text_config\": {\"hidden_size\": 64, \"num_attention_heads\": 4, \"hidden_act\": "
                       "\"gelu_pytorch_tanh\"}, \"vision_config\": {\"hidden_size\": 1024}}";
    CHECK(clip_text_config_parse(&c, full, strlen(full), "clip.json") == SDL_OK);
    CHECK(c.hidden_size == 64 && c.num_attention_heads == 4 && c.hidden_act == CLIP_ACT_GELU_TANH);
    CHECK(c.intermediate_size == 2048 && c.num_hidden_layers == 12 && c.vocab_size == 49408);
    CHECK(c.eos_token_id == 49407 && c.bos_token_id == 49406);
    // errors
    const char *relu = "{\"hidden_act\": \"relu\", \"hidden_size\": 64, \"num_attention_heads\": 4}";
    CHECK(clip_text_config_parse(&c, relu, strlen(relu), "x.json") == SDL_ERR_UNSUPPORTED);
    CHECK(strstr(sdl_last_error()->reason, "relu") != NULL);
    const char *heads = "{\"hidden_size\": 100, \"num_attention_heads\": 12}";
    CHECK(clip_text_config_parse(&c, heads, strlen(heads), "x.json") == SDL_ERR_FORMAT);
    const char *frac = "{\"hidden_size\": 64.5}";
    CHECK(clip_text_config_parse(&c, frac, strlen(frac), "x.json") == SDL_ERR_FORMAT);
    const char *str = "{\"num_hidden_layers\": \"12\"}";
    CHECK(clip_text_config_parse(&c, str, strlen(str), "x.json") == SDL_ERR_FORMAT);
    CHECK(clip_text_config_parse(&c, "[1]", 3, "x.json") == SDL_ERR_FORMAT);
    CHECK(clip_text_config_parse(&c, "{\"a\":", 5, "x.json") == SDL_ERR_FORMAT);
    CHECK(clip_text_config_load(&c, "/nonexistent/config.json") == SDL_ERR_IO);
    // presets are valid
    ClipTextConfig t = clip_text_config_tiny(), g = clip_text_config_sdxl_g();
    CHECK(clip_text_config_validate(&t, NULL) == SDL_OK && t.vocab_size == 49408);
    CHECK(clip_text_config_validate(&g, NULL) == SDL_OK && g.hidden_size == 1280);
}

// Forward at every clip_skip, train and forward-only plans, the gelu variant, pooling.
static void test_forward_golden(void) {
    ClipText m;
    load_tiny(&m);
    const int64_t D = m.cfg.hidden_size, n = B * T * D;
    int32_t *ids = gload_ids("input_ids", B * T);
    float *got = alloc_floats(n), *inf = alloc_floats(n);
    char name[64];
    for (int skip = 1; skip <= 4; skip++) {
        snprintf(name, sizeof name, "hidden.skip%d", skip);
        float *ref = gload(name, n);
        clip_text_plan(&m, B, T, true);
        CHECK(clip_text_forward(&m, got, ids, skip) == SDL_OK);
        CHECK(m.n_run == 4 - skip);
        close_to(name, got, ref, n, 0, TOL_FWD);
        clip_text_plan(&m, B, T, false); // forward-only: same arithmetic, same bits
        CHECK(clip_text_forward(&m, inf, ids, skip) == SDL_OK);
        CHECK(memcmp(got, inf, (size_t)n * sizeof *got) == 0);
        free(ref);
    }
    // clip_skip 0 means "no skip", as 1
    CHECK(clip_text_forward(&m, inf, ids, 0) == SDL_OK);
    float *ref1 = gload("hidden.skip1", n);
    close_to("hidden.skip0", inf, ref1, n, 0, TOL_FWD);
    float *pooled = alloc_floats(B * D), *pref = gload("pooled", B * D);
    clip_text_pool(&m, pooled, inf, ids, B, T);
    close_to("pooled", pooled, pref, B * D, 0, TOL_FWD);
    // SD2's activation, same weights
    m.cfg.hidden_act = CLIP_ACT_GELU;
    float *gref = gload("hidden_gelu.skip1", n);
    CHECK(clip_text_forward(&m, inf, ids, 1) == SDL_OK);
    close_to("hidden_gelu.skip1", inf, gref, n, 0, TOL_FWD);
    free(ids), free(got), free(inf), free(ref1), free(pooled), free(pref), free(gref);
    clip_text_free(&m);
}

// Later tokens must not change earlier states (causal mask); sequences are independent.
static void test_causal(void) {
    ClipText m;
    load_tiny(&m);
    const int64_t D = m.cfg.hidden_size, n = B * T * D;
    int32_t *ids = gload_ids("input_ids", B * T);
    float *a = alloc_floats(n), *b = alloc_floats(n);
    clip_text_plan(&m, B, T, false);
    CHECK(clip_text_forward(&m, a, ids, 1) == SDL_OK);
    const int64_t k = 10;
    ids[k] = (ids[k] + 17) % 998; // change token k of sequence 0
    CHECK(clip_text_forward(&m, b, ids, 1) == SDL_OK);
    CHECK(memcmp(a, b, (size_t)(k * D) * sizeof *a) == 0);                     // before k: same bits
    CHECK(max_abs_diff(a + k * D, b + k * D, D) > 1e-3);                        // at k: changed
    CHECK(max_abs_diff(a + (T - 1) * D, b + (T - 1) * D, D) > 1e-4);             // after k: changed
    CHECK(memcmp(a + T * D, b + T * D, (size_t)(T * D) * sizeof *a) == 0);       // sequence 1 untouched
    // errors: an id outside the vocabulary, clip_skip beyond the embeddings
    ids[5] = 1000;
    CHECK(clip_text_forward(&m, b, ids, 1) == SDL_ERR_ARG);
    ids[5] = -1;
    CHECK(clip_text_forward(&m, b, ids, 1) == SDL_ERR_ARG);
    ids[5] = 3;
    CHECK(clip_text_forward(&m, b, ids, 5) == SDL_ERR_ARG);
    CHECK(clip_text_forward(&m, b, ids, -1) == SDL_ERR_ARG);
    free(ids), free(a), free(b);
    clip_text_free(&m);
}

static float **grads_all(ClipText *m) {
    float **g = calloc((size_t)m->params.n, sizeof *g);
    for (int64_t k = 0; k < m->params.n; k++) {
        g[k] = alloc_floats(m->params.entries[k].numel);
        *m->grad_slots[k] = g[k];
    }
    return g;
}

static void grads_free(ClipText *m, float **g) {
    for (int64_t k = 0; k < m->params.n; k++) {
        *m->grad_slots[k] = NULL;
        free(g[k]);
    }
    free(g);
}

// Every parameter's gradient for sum(dout · last_hidden_state).
static void test_backward_golden(void) {
    ClipText m;
    load_tiny(&m);
    const int64_t D = m.cfg.hidden_size, n = B * T * D;
    int32_t *ids = gload_ids("input_ids", B * T);
    float *out = alloc_floats(n), *dout = gload("dout", n);
    float **g = grads_all(&m);
    clip_text_plan(&m, B, T, true);
    CHECK(clip_text_forward(&m, out, ids, 1) == SDL_OK);
    clip_text_backward(&m, dout);
    char name[256];
    for (int64_t k = 0; k < m.params.n; k++) {
        const ParamEntry *e = &m.params.entries[k];
        snprintf(name, sizeof name, "d.%s", e->name);
        float *ref = gload(name, e->numel);
        double atol = 0;
        if (strstr(e->name, "k_proj.bias")) { // zero in exact math: compare with the weight's scale
            char wname[256];
            snprintf(wname, sizeof wname, "%.*s.weight", (int)(strlen(name) - 5), name);
            float *wref = gload(wname, D * D);
            atol = TOL_GRAD * max_abs(wref, D * D);
            free(wref);
        }
        close_to(name, g[k], ref, e->numel, atol, TOL_GRAD);
        free(ref);
    }
    // a second backward accumulates: every gradient doubles
    float *before = alloc_floats(D);
    float **slot = clip_text_grad_slot(&m, "text_model.encoder.layers.1.layer_norm2.weight");
    CHECK(slot && *slot);
    if (slot && *slot) {
        memcpy(before, *slot, (size_t)D * sizeof(float));
        clip_text_backward(&m, dout);
        for (int64_t i = 0; i < D; i++) before[i] *= 2;
        close_to("accumulated d.layers.1.layer_norm2.weight", *slot, before, D, 0, 1e-6);
    }
    CHECK(clip_text_grad_slot(&m, "text_model.nonexistent.weight") == NULL);
    free(before), grads_free(&m, g), free(ids), free(out), free(dout);
    clip_text_free(&m);
}

// Only two base weights train, the lowest in layer 1's attention half: backward must stop
// there (layer 0 and the embeddings untouched: their saved activations are poisoned) and still
// give the full-model gradients for those two.
static void test_partial_backward(void) {
    ClipText m;
    load_tiny(&m);
    const int64_t D = m.cfg.hidden_size, I = m.cfg.intermediate_size, n = B * T * D, M = B * T;
    int32_t *ids = gload_ids("input_ids", B * T);
    float *out = alloc_floats(n), *dout = gload("dout", n);
    const char *names[2] = {"text_model.encoder.layers.1.self_attn.q_proj.weight",
                            "text_model.encoder.layers.2.mlp.fc1.weight"};
    int64_t numel[2] = {D * D, I * D};
    float *g[2];
    for (int i = 0; i < 2; i++) *clip_text_grad_slot(&m, names[i]) = g[i] = alloc_floats(numel[i]);
    clip_text_plan(&m, B, T, true);
    CHECK(clip_text_forward(&m, out, ids, 1) == SDL_OK);
    ClipTextLayerSaved *s0 = &m.saved[0];
    for (int64_t i = 0; i < M * D; i++)
        s0->x[i] = s0->attn.q[i] = s0->attn.k[i] = s0->attn.v[i] = s0->attn.o[i] = s0->x_mid[i] = NAN;
    for (int64_t i = 0; i < M * I; i++) s0->h[i] = NAN;
    clip_text_backward(&m, dout);
    char name[256];
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "d.%s", names[i]);
        float *ref = gload(name, numel[i]);
        close_to(name, g[i], ref, numel[i], 0, TOL_GRAD);
        free(ref), free(g[i]);
    }
    free(ids), free(out), free(dout);
    clip_text_free(&m);
}

// ---- LoRA adapters (base frozen, clip_skip 2) ----

typedef struct {
    const char *module;
    int64_t rank;
    float scale;
    LoraAdapter a;
} Lora;

static Lora loras[3] = {{"text_model.encoder.layers.0.mlp.fc2", 2, 0.5f, {0}},
                        {"text_model.encoder.layers.1.self_attn.q_proj", 4, 0.25f, {0}},
                        {"text_model.encoder.layers.1.mlp.fc1", 3, 1.0f, {0}}};

typedef struct {
    int count, attached;
    char names[32][96];
} Visit;

static void attach(const char *name, Linear *lin, void *ctx) {
    Visit *v = ctx;
    if (v->count < 32) snprintf(v->names[v->count], sizeof v->names[0], "%s", name);
    v->count++;
    for (int i = 0; i < 3; i++)
        if (strcmp(name, loras[i].module) == 0) {
            lin->lora = &loras[i].a;
            v->attached++;
        }
}

typedef struct {
    ClipText *m;
    const int32_t *ids;
    const float *dout;
    float *out;
    int skip;
} FdCtx;

static double fd_loss(void *ctx) {
    FdCtx *c = ctx;
    SDL_ASSERT(clip_text_forward(c->m, c->out, c->ids, c->skip) == SDL_OK);
    return dot_double(c->out, c->dout, c->m->B * c->m->T * c->m->cfg.hidden_size);
}

static void test_lora_golden(void) {
    ClipText m;
    load_tiny(&m);
    const int64_t D = m.cfg.hidden_size, n = B * T * D;
    char name[256];
    for (int i = 0; i < 3; i++) {
        Lora *l = &loras[i];
        int64_t in = strstr(l->module, "fc2") ? m.cfg.intermediate_size : D;
        int64_t out = strstr(l->module, "fc1") ? m.cfg.intermediate_size : D;
        snprintf(name, sizeof name, "lora.%s.down", l->module);
        float *down = gload(name, l->rank * in);
        snprintf(name, sizeof name, "lora.%s.up", l->module);
        float *up = gload(name, out * l->rank);
        l->a = (LoraAdapter){.down = down, .up = up, .ddown = alloc_floats(l->rank * in),
                             .dup = alloc_floats(out * l->rank), .rank = l->rank, .scale = l->scale,
                             .h = alloc_floats(B * T * l->rank)};
    }
    Visit v = {0};
    clip_text_visit_modules(&m, attach, &v);
    CHECK(v.count == 6 * m.cfg.num_hidden_layers && v.attached == 3);
    CHECK(strcmp(v.names[0], "text_model.encoder.layers.0.self_attn.k_proj") == 0);
    CHECK(strcmp(v.names[3], "text_model.encoder.layers.0.self_attn.out_proj") == 0);
    CHECK(strcmp(v.names[17], "text_model.encoder.layers.2.mlp.fc2") == 0);

    int32_t *ids = gload_ids("input_ids", B * T);
    float *out = alloc_floats(n), *ref = gload("lora.hidden", n), *dout = gload("lora.dout", n);
    clip_text_plan(&m, B, T, true); // after attaching: the adapters' rank sizes the work memory
    CHECK(clip_text_forward(&m, out, ids, 2) == SDL_OK);
    close_to("lora.hidden", out, ref, n, 0, TOL_FWD);
    // The lowest trainable part is layer 0's MLP: backward must not touch layer 0's attention
    // half or the embeddings. Poison what they would read; the gradients must not notice.
    const int64_t MD = B * T * D;
    for (int64_t i = 0; i < MD; i++) m.saved[0].attn.q[i] = m.saved[0].attn.k[i] = NAN;
    clip_text_backward(&m, dout);
    for (int i = 0; i < 3; i++) {
        Lora *l = &loras[i];
        int64_t in = strstr(l->module, "fc2") ? m.cfg.intermediate_size : D;
        int64_t o = strstr(l->module, "fc1") ? m.cfg.intermediate_size : D;
        snprintf(name, sizeof name, "lora.d.%s.down", l->module);
        float *r = gload(name, l->rank * in);
        close_to(name, l->a.ddown, r, l->rank * in, 0, TOL_GRAD);
        free(r);
        snprintf(name, sizeof name, "lora.d.%s.up", l->module);
        r = gload(name, o * l->rank);
        close_to(name, l->a.dup, r, o * l->rank, 0, TOL_GRAD);
        free(r);
    }
    // finite differences on an adapter (q_proj of layer 1) and on a base weight made trainable
    Lora *q = &loras[1];
    memset(q->a.ddown, 0, (size_t)(q->rank * D) * sizeof(float));
    memset(q->a.dup, 0, (size_t)(D * q->rank) * sizeof(float));
    float *dln2 = alloc_floats(D), **slot = clip_text_grad_slot(&m, "text_model.encoder.layers.0.layer_norm2.weight");
    *slot = dln2;
    FdCtx c = {&m, ids, dout, out, 2};
    fd_loss(&c);
    clip_text_backward(&m, dout);
    gradcheck_coords("fd lora q_proj down", fd_loss, &c, (float *)q->a.down, q->a.ddown, q->rank * D, 1e-2f, 2e-3, 5e-3,
                     64, 1);
    gradcheck_coords("fd lora q_proj up", fd_loss, &c, (float *)q->a.up, q->a.dup, D * q->rank, 1e-2f, 2e-3, 5e-3, 64, 2);
    gradcheck_coords("fd layers.0.layer_norm2.weight", fd_loss, &c, (float *)m.layers[0].ln2.w, dln2, D, 1e-2f, 2e-3,
                     5e-3, 32, 3);
    *slot = NULL;
    for (int i = 0; i < 3; i++) {
        free((void *)loras[i].a.down), free((void *)loras[i].a.up), free(loras[i].a.ddown), free(loras[i].a.dup);
        free(loras[i].a.h);
    }
    free(dln2), free(ids), free(out), free(ref), free(dout);
    clip_text_free(&m);
}

// Finite differences on base weights of the plain model (clip_skip 1): attention projections,
// an embedding row and the final LayerNorm.
static void test_fd_weights(void) {
    ClipText m;
    load_tiny(&m);
    const int64_t D = m.cfg.hidden_size, n = B * T * D;
    int32_t *ids = gload_ids("input_ids", B * T);
    float *out = alloc_floats(n), *dout = gload("dout", n);
    const char *names[] = {"text_model.encoder.layers.0.self_attn.q_proj.weight",
                           "text_model.encoder.layers.2.self_attn.v_proj.bias",
                           "text_model.encoder.layers.1.mlp.fc1.weight",
                           "text_model.embeddings.position_embedding.weight"};
    float *g[4];
    for (int i = 0; i < 4; i++) {
        const ParamEntry *e = param_find(&m.params, names[i]);
        g[i] = alloc_floats(e->numel);
        *clip_text_grad_slot(&m, names[i]) = g[i];
    }
    clip_text_plan(&m, B, T, true);
    FdCtx c = {&m, ids, dout, out, 1};
    fd_loss(&c);
    clip_text_backward(&m, dout);
    for (int i = 0; i < 4; i++) {
        const ParamEntry *e = param_find(&m.params, names[i]);
        gradcheck_coords(names[i], fd_loss, &c, m.params.storage + e->offset, g[i], e->numel, 1e-2f, 2e-3, 5e-3, 24,
                         10 + (uint64_t)i);
    }
    // the gelu backward (SD2), which the goldens check only forward
    m.cfg.hidden_act = CLIP_ACT_GELU;
    const ParamEntry *e = param_find(&m.params, names[2]);
    memset(g[2], 0, (size_t)e->numel * sizeof(float));
    fd_loss(&c);
    clip_text_backward(&m, dout);
    gradcheck_coords("gelu: layers.1.mlp.fc1.weight", fd_loss, &c, m.params.storage + e->offset, g[2], e->numel, 1e-2f,
                     2e-3, 5e-3, 24, 20);
    for (int i = 0; i < 4; i++) free(g[i]);
    free(ids), free(out), free(dout);
    clip_text_free(&m);
}

// Real SD1.5 layer shapes (D 768, 12 heads, MLP 3072, T 77; 2 layers and a 1000-token vocabulary
// to keep it quick): directional finite differences for a rank-8 adapter on q_proj, a full
// fc2 weight gradient and the final LayerNorm, through a random upstream gradient. Directional
// check: |numeric - analytic| <= 2e-3 · max(|analytic|, ||grad||) (4-point differences of a
// float32 loss summed in double over 59k outputs).
static void test_real_shapes(void) {
    if (test_quick()) return;
    ClipTextConfig cfg = clip_text_config_sd15();
    cfg.num_hidden_layers = 2, cfg.vocab_size = 1000;
    ClipText m;
    clip_text_init(&m, &cfg);
    for (int64_t k = 0; k < m.params.n; k++) { // unit-variance activations, nothing trivial
        const ParamEntry *e = &m.params.entries[k];
        float *w = m.params.storage + e->offset;
        const char *nm = e->name;
        fill_randn(w, e->numel, 1.0f, 100 + (uint64_t)k);
        float sc = e->ndim == 2 ? 1.0f / sqrtf((float)e->shape[1]) : 0.05f;
        if (strstr(nm, "embedding")) sc = 0.5f;
        for (int64_t i = 0; i < e->numel; i++) w[i] *= sc;
        if (strstr(nm, "norm") && strstr(nm, ".weight"))
            for (int64_t i = 0; i < e->numel; i++) w[i] += 1.0f;
    }
    const int64_t D = cfg.hidden_size, n = T * D, r = 8;
    LoraAdapter a = {.down = alloc_randn(r * D, 0.1f, 1), .up = alloc_randn(D * r, 0.1f, 2), .ddown = alloc_floats(r * D),
                     .dup = alloc_floats(D * r), .rank = r, .scale = 0.5f, .h = alloc_floats(T * r)};
    m.layers[0].attn.q.lora = &a;
    float *dfc2 = alloc_floats(D * cfg.intermediate_size), *dfin = alloc_floats(D);
    m.layers[1].fc2.dw = dfc2;
    m.final_ln.dw = dfin;
    int32_t ids[T];
    for (int t = 0; t < T; t++) ids[t] = t == 0 ? 998 : t < 30 ? (t * 37) % 998 : 999;
    float *out = alloc_floats(n), *dout = alloc_randn(n, 1.0f, 3);
    clip_text_plan(&m, 1, T, true);
    FdCtx c = {&m, ids, dout, out, 1};
    fd_loss(&c);
    clip_text_backward(&m, dout);
    gradcheck_dir("real: lora q_proj down", fd_loss, &c, (float *)a.down, a.ddown, r * D, 1e-2f, 2e-3, 2, 4);
    gradcheck_dir("real: lora q_proj up", fd_loss, &c, (float *)a.up, a.dup, D * r, 1e-2f, 2e-3, 2, 5);
    // 2.4M weights of scale 0.018 all move along u: a smaller step keeps the move small
    gradcheck_dir("real: layers.1.mlp.fc2.weight", fd_loss, &c, (float *)m.layers[1].fc2.w, dfc2,
                  D * cfg.intermediate_size, 1e-3f, 2e-3, 2, 6);
    gradcheck_dir("real: final_layer_norm.weight", fd_loss, &c, (float *)m.final_ln.w, dfin, D, 1e-2f, 2e-3, 2, 7);
    free((void *)a.down), free((void *)a.up), free(a.ddown), free(a.dup), free(a.h);
    free(dfc2), free(dfin), free(out), free(dout);
    clip_text_free(&m);
}

// ---- long prompts: 3 windows per caption ----

static void test_chunks_golden(void) {
    ClipText m;
    load_tiny(&m);
    const int64_t D = m.cfg.hidden_size, nc = 3;
    int32_t *ids = gload_ids("chunks.input_ids", B * nc * T);
    CHECK(clip_text_chunks_len(CLIP_JOIN_A1111, nc) == 231 && clip_text_chunks_len(CLIP_JOIN_KOHYA, nc) == 227);
    CHECK(clip_text_chunks_len(CLIP_JOIN_KOHYA, 1) == 77);
    const int64_t na = B * 231 * D, nk = B * 227 * D;
    float *a = alloc_floats(na), *k = alloc_floats(nk);
    float *ra = gload("chunks.a1111", na), *rk = gload("chunks.kohya", nk), *dout = gload("chunks.dout", nk);
    const char *names[] = {"text_model.encoder.layers.0.self_attn.q_proj.weight",
                           "text_model.encoder.layers.1.mlp.fc2.weight", "text_model.final_layer_norm.weight",
                           "text_model.embeddings.position_embedding.weight"};
    float *g[4];
    for (int i = 0; i < 4; i++) {
        g[i] = alloc_floats(param_find(&m.params, names[i])->numel);
        *clip_text_grad_slot(&m, names[i]) = g[i];
    }
    clip_text_plan(&m, B * nc, T, true);
    CHECK(clip_text_encode_chunks(&m, a, ids, B, nc, 2, CLIP_JOIN_A1111) == SDL_OK);
    close_to("chunks.a1111", a, ra, na, 0, TOL_FWD);
    CHECK(clip_text_encode_chunks(&m, k, ids, B, nc, 2, CLIP_JOIN_KOHYA) == SDL_OK);
    close_to("chunks.kohya", k, rk, nk, 0, TOL_FWD);
    clip_text_encode_chunks_backward(&m, dout, B, nc, CLIP_JOIN_KOHYA);
    char name[256];
    for (int i = 0; i < 4; i++) {
        int64_t numel = param_find(&m.params, names[i])->numel;
        snprintf(name, sizeof name, "chunks.d.%s", names[i]);
        float *r = gload(name, numel);
        close_to(name, g[i], r, numel, 0, TOL_GRAD);
        free(r), free(g[i]);
    }
    free(ids), free(a), free(k), free(ra), free(rk), free(dout);
    clip_text_free(&m);
}

// The parameter table is exactly the transformers key set with the right shapes.
static void test_param_names(void) {
    ClipTextConfig cfg = clip_text_config_sd15();
    ClipText m;
    clip_text_init(&m, &cfg);
    CHECK(m.params.n == 4 + 16 * 12);
    const ParamEntry *e = param_find(&m.params, "text_model.embeddings.token_embedding.weight");
    CHECK(e && e->ndim == 2 && e->shape[0] == 49408 && e->shape[1] == 768);
    e = param_find(&m.params, "text_model.encoder.layers.11.mlp.fc1.weight");
    CHECK(e && e->shape[0] == 3072 && e->shape[1] == 768);
    e = param_find(&m.params, "text_model.encoder.layers.0.self_attn.out_proj.bias");
    CHECK(e && e->ndim == 1 && e->shape[0] == 768);
    CHECK(param_find(&m.params, "text_model.final_layer_norm.bias") != NULL);
    CHECK(m.layers[3].attn.q.w == m.params.storage + param_find(&m.params, "text_model.encoder.layers.3.self_attn.q_proj.weight")->offset);
    CHECK(m.layers[3].attn.causal == 1 && m.layers[3].attn.head_dim == 64);
    clip_text_free(&m);
}

// ---- Linear weights kept fp16 / bf16 ----

typedef struct {
    LoraAdapter a[64];
    int64_t nd[64], nu[64];
    int n;
} HalfAdapters;

static void attach_all(const char *name, Linear *lin, void *ctx) {
    HalfAdapters *h = ctx;
    SDL_ASSERT(h->n < 64);
    int i = h->n++;
    h->nd[i] = 2 * lin->in, h->nu[i] = lin->out * 2;
    h->a[i] = (LoraAdapter){.down = alloc_randn(h->nd[i], 0.3f, 40 + (uint64_t)i), .up = alloc_randn(h->nu[i], 0.3f, 90 + (uint64_t)i),
                            .ddown = alloc_floats(h->nd[i]), .dup = alloc_floats(h->nu[i]), .rank = 2, .scale = 0.5f,
                            .h = alloc_floats(B * T * 2)};
    lin->lora = &h->a[i];
}

// The hidden states and every LoRA gradient of a text encoder whose Linear weights stay fp16
// (bf16), widened on use, equal bit for bit those of the fp32 encoder with the same weights
// rounded to fp16 (bf16); embeddings and LayerNorms stay fp32; the weights take less memory.
static void test_half_weights(void) {
    for (int dt = PARAM_F16; dt <= PARAM_BF16; dt++) {
        ClipText h, q;
        load_tiny_dtype(&h, (ParamDtype)dt);
        load_tiny(&q);
        CHECK(h.layers[0].fc1.w == NULL && h.layers[0].fc1.w16.data != NULL && h.wbuf != NULL);
        CHECK(h.token_embedding != NULL && h.layers[0].ln1.w != NULL && h.layers[0].fc1.b != NULL);
        CHECK(h.params.total16 > 0 && h.params.total_floats < q.params.total_floats);
        for (int64_t k = 0; k < q.params.n; k++) { // round q's Linear weights as h stores them
            const ParamEntry *e = &q.params.entries[k];
            if (h.params.entries[k].dtype == PARAM_F32) continue;
            float *w = q.params.storage + e->offset;
            for (int64_t j = 0; j < e->numel; j++)
                w[j] = dt == PARAM_F16 ? fp16_to_fp32(fp32_to_fp16(w[j])) : bf16_to_fp32(fp32_to_bf16(w[j]));
        }
        HalfAdapters ah = {.n = 0}, aq = {.n = 0};
        clip_text_visit_modules(&h, attach_all, &ah);
        clip_text_visit_modules(&q, attach_all, &aq);
        const int64_t n = B * T * h.cfg.hidden_size;
        int32_t *ids = gload_ids("input_ids", B * T);
        float *oh = alloc_floats(n), *oq = alloc_floats(n), *dout = gload("dout", n);
        clip_text_plan(&h, B, T, true);
        clip_text_plan(&q, B, T, true);
        CHECK(clip_text_forward(&h, oh, ids, 1) == SDL_OK && clip_text_forward(&q, oq, ids, 1) == SDL_OK);
        CHECKF(memcmp(oh, oq, (size_t)n * sizeof(float)) == 0, "%s hidden: max diff %g", param_dtype_name((ParamDtype)dt),
               max_abs_diff(oh, oq, n));
        clip_text_backward(&h, dout);
        clip_text_backward(&q, dout);
        int same = ah.n == aq.n && ah.n > 0;
        for (int i = 0; i < ah.n && same; i++)
            same = memcmp(ah.a[i].ddown, aq.a[i].ddown, (size_t)ah.nd[i] * 4) == 0 &&
                   memcmp(ah.a[i].dup, aq.a[i].dup, (size_t)ah.nu[i] * 4) == 0 && max_abs(ah.a[i].dup, ah.nu[i]) > 0;
        CHECKF(same, "%s: LoRA gradients differ from the rounded fp32 model's", param_dtype_name((ParamDtype)dt));
        for (HalfAdapters *a = &ah; a; a = a == &ah ? &aq : NULL)
            for (int i = 0; i < a->n; i++)
                free((void *)a->a[i].down), free((void *)a->a[i].up), free(a->a[i].ddown), free(a->a[i].dup), free(a->a[i].h);
        free(ids), free(oh), free(oq), free(dout);
        clip_text_free(&h);
        clip_text_free(&q);
    }
}

int main(void) {
    char path[600];
    golden_path(path, sizeof path, "models/tiny-clip-golden.safetensors");
    golden_ok = st_open(&golden, path) == SDL_OK;
    sdl_set_threads(1); // the tiny model gains nothing from threads, and loses much on busy cores
    if (!golden_ok) {
        sdl_error_print(stderr);
        fprintf(stderr, "  (run from the repo root or set SDLORA_GOLDEN_DIR)\n");
    }
    RUN(test_config_parse);
    RUN(test_param_names);
    RUN(test_forward_golden);
    RUN(test_causal);
    RUN(test_backward_golden);
    RUN(test_partial_backward);
    RUN(test_lora_golden);
    RUN(test_fd_weights);
    RUN(test_chunks_golden);
    RUN(test_real_shapes);
    RUN(test_half_weights);
    if (golden_ok) st_close(&golden);
    return test_finish();
}
