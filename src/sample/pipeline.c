// pipeline.c — see pipeline.h.
#include "sample/pipeline.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "models/prompt_weights.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

GenParams gen_params_default(void) {
    GenParams p;
    memset(&p, 0, sizeof p);
    p.width = p.height = 512;
    p.steps = 30;
    p.cfg_scale = 7.5;
    p.batch_size = 1;
    p.clip_skip = 1;
    SdlStatus s = sampler_config_kohya("euler_a", 0, &p.sampler);
    SDL_ASSERT(s == SDL_OK);
    return p;
}

// ---- text conditioning -------------------------------------------------------------------------

// A1111 "Original" emphasis on one chunk z (T, D): z *= w per token, then the chunk's mean is
// restored (means in double, the ratio formed in float as torch does it).
static void apply_emphasis(float *z, const float *w, int64_t T, int64_t D) {
    int plain = 1;
    for (int64_t t = 0; t < T; t++) plain &= w[t] == 1.0f;
    if (plain) return;
    double before = 0, after = 0;
    for (int64_t i = 0; i < T * D; i++) before += z[i];
    for (int64_t t = 0; t < T; t++)
        for (int64_t d = 0; d < D; d++) z[t * D + d] *= w[t];
    for (int64_t i = 0; i < T * D; i++) after += z[i];
    float r = (float)(before / (double)(T * D)) / (float)(after / (double)(T * D));
    for (int64_t i = 0; i < T * D; i++) z[i] *= r;
}

SdlStatus gen_encode_prompt(ClipText *te, ClipTokenizer *tok, const char *prompt, int clip_skip, float **hidden,
                            int64_t *n_chunks) {
    *hidden = NULL, *n_chunks = 0;
    PromptChunks ch = {0};
    // SD1's CLIP pads with EOS; A1111's comma back-tracking default is 20 tokens
    SDL_TRY(prompt_chunks_a1111(tok, prompt ? prompt : "", true, 20, CLIP_EOS_ID, &ch));
    const int64_t T = CLIP_CONTEXT_LEN, D = te->cfg.hidden_size, n = (int64_t)ch.n_chunks;
    float *z = malloc((size_t)(n * T * D) * sizeof(float));
    SDL_ASSERT(z);
    // one window at a time, as A1111 encodes chunk by chunk (and LoRA adapters on the encoder
    // then need h for 77 rows only); planned every time: cheap, and right after adapters change
    clip_text_plan(te, 1, T, false);
    SdlStatus s = SDL_OK;
    for (int64_t c = 0; c < n && s == SDL_OK; c++) {
        s = clip_text_forward(te, z + c * T * D, ch.ids + c * T, clip_skip);
        if (s == SDL_OK) apply_emphasis(z + c * T * D, ch.weights + c * T, T, D);
    }
    prompt_chunks_free(&ch);
    if (s != SDL_OK) { free(z); return s; }
    *hidden = z, *n_chunks = n;
    return SDL_OK;
}

// ---- plans: what the models had on entry, put back on exit -------------------------------------

typedef struct {
    int unet_planned;
    int64_t ub, uh, uw, ut;
    int64_t tb, tt;
    bool ttrain;
    int64_t vb, vh, vw;
    unsigned vmodes;
} SavedPlans;

static void save_plans(const GenModels *m, SavedPlans *sp) {
    const Unet *u = m->unet;
    sp->unet_planned = u->planned;
    sp->ub = u->B, sp->uh = u->H, sp->uw = u->W, sp->ut = u->T;
    sp->tb = m->te->act.base || m->te->scratch.base ? m->te->B : 0;
    sp->tt = m->te->T, sp->ttrain = m->te->train;
    sp->vb = m->vae->B, sp->vh = m->vae->H, sp->vw = m->vae->W, sp->vmodes = m->vae->modes;
}

static void restore_plans(const GenModels *m, const SavedPlans *sp) {
    if (sp->unet_planned) {
        if (unet_plan(m->unet, sp->ub, sp->uh, sp->uw, sp->ut) != SDL_OK) unet_unplan(m->unet);
    } else {
        unet_unplan(m->unet);
    }
    ClipText *te = m->te;
    if (sp->tb > 0) {
        if (te->B != sp->tb || te->T != sp->tt || te->train != sp->ttrain) clip_text_plan(te, sp->tb, sp->tt, sp->ttrain);
    } else { // models/clip_text.h has no unplan: release the arenas as clip_text_plan would
        arena_free(&te->act), arena_free(&te->scratch);
        te->B = te->T = 0, te->train = 0;
    }
    Vae *v = m->vae;
    if (sp->vb > 0) {
        if (vae_plan(v, sp->vb, sp->vh, sp->vw, sp->vmodes) != SDL_OK) log_warn("VAE: could not restore its plan");
    } else if (v->arena.base) { // models/vae.h has no unplan either: the fields vae_plan resets
        arena_free(&v->arena);
        memset(v->slot, 0, sizeof v->slot);
        memset(v->slot_floats, 0, sizeof v->slot_floats);
        v->work = NULL, v->work_floats = 0;
        v->B = v->H = v->W = 0, v->modes = 0;
    }
}

// ---- the denoiser: one UNet pass of batch 2B with classifier-free guidance ----------------------

typedef struct {
    Unet *u;
    const float *context;  // (2B, T, D): uncond × B, cond × B; (B, T, D) cond only without CFG
    int64_t B, per;        // images in this run, floats per image latent
    int cfg;               // run the uncond half
    double scale;
    float *x2, *t2, *e2;   // (2B, C, h, w), (2B), (2B, C, h, w)
    GenProgressFn progress;
    void *pctx;
    int64_t done, total;
} Denoiser;

static SdlStatus denoise(void *ctx, float *out, const float *x_in, double t, int64_t n) {
    Denoiser *d = ctx;
    SDL_ASSERT(n == d->B * d->per);
    const int64_t rows = d->cfg ? 2 * d->B : d->B;
    memcpy(d->x2, x_in, (size_t)n * sizeof(float));
    if (d->cfg) memcpy(d->x2 + n, x_in, (size_t)n * sizeof(float));
    for (int64_t i = 0; i < rows; i++) d->t2[i] = (float)t;
    unet_forward(d->u, d->e2, d->x2, d->t2, d->context);
    if (d->cfg) cfg_combine(out, d->e2, d->e2 + n, d->scale, n);
    else memcpy(out, d->e2, (size_t)n * sizeof(float));
    return SDL_OK;
}

static void on_step(void *ctx, int64_t call, int64_t n_calls, const float *x, int64_t n) {
    Denoiser *d = ctx;
    d->done++;
    if (d->progress) d->progress(d->pctx, GEN_STAGE_SAMPLE, d->done, d->total);
}

int gen_sampler_is_ancestral(const SamplerConfig *c) {
    return c->kind == SAMPLER_EULER_A || c->kind == SAMPLER_DPM2_A || (c->kind == SAMPLER_DDIM && c->eta > 0);
}

// Appends whole chunks of `empty` (77, D) to z (77·n, D) until it has `want` chunks.
static float *pad_chunks(float *z, int64_t n, int64_t want, const float *empty, int64_t D) {
    const int64_t T = CLIP_CONTEXT_LEN;
    float *r = realloc(z, (size_t)(want * T * D) * sizeof(float));
    SDL_ASSERT(r);
    for (int64_t c = n; c < want; c++) memcpy(r + c * T * D, empty, (size_t)(T * D) * sizeof(float));
    return r;
}

SdlStatus gen_txt2img(const GenModels *m, const GenParams *p, float *images, GenProgressFn progress, void *pctx,
                      int *tiled) {
    Unet *u = m->unet;
    Vae *vae = m->vae;
    const int64_t f = vae_downsample_factor(&vae->cfg), mult = unet_size_multiple(&u->cfg), step = f * mult;
    const int64_t C = u->cfg.in_channels, B = p->batch_size, D = m->te->cfg.hidden_size;
    if (tiled) *tiled = 0;
    if (p->width < step || p->height < step || p->width % step || p->height % step)
        return sdl_fail(SDL_ERR_ARG, NULL, "use --width and --height that are multiples of that (e.g. 512, 576, 640, 768)",
                        "image size %lldx%lld: width and height must be positive multiples of %lld px for this model",
                        (long long)p->width, (long long)p->height, (long long)step);
    if (B < 1 || B > 64)
        return sdl_fail(SDL_ERR_ARG, NULL, "use --batch_size from 1 to 64 (and --n_iter for more images)",
                        "batch size %lld", (long long)B);
    if (C != vae->cfg.latent_channels || u->cfg.out_channels != C)
        return sdl_fail(SDL_ERR_UNSUPPORTED, NULL, "use a text-to-image model (inpainting models are not supported for generation yet)",
                        "the UNet takes %lld latent channels and the VAE gives %lld", (long long)C,
                        (long long)vae->cfg.latent_channels);
    if (u->cfg.cross_attention_dim != D)
        return sdl_fail(SDL_ERR_SHAPE, NULL, "the text encoder and the UNet must come from the same model",
                        "the text encoder is %lld wide, the UNet attends to %lld", (long long)D,
                        (long long)u->cfg.cross_attention_dim);
    SamplerPlan plan;
    SDL_TRY(sampler_plan(&p->sampler, p->steps, &plan));
    const int64_t n_calls = plan.n_calls;
    sampler_plan_free(&plan);

    SavedPlans sp;
    save_plans(m, &sp);
    const int64_t h = p->height / f, w = p->width / f, per = C * h * w, T77 = CLIP_CONTEXT_LEN;
    const int do_cfg = p->cfg_scale != 1.0;
    const int ancestral = gen_sampler_is_ancestral(&p->sampler);
    const int64_t Brun = ancestral ? 1 : B, rows = do_cfg ? 2 * Brun : Brun;

    // conditioning
    float *cond = NULL, *uncond = NULL, *empty = NULL, *context = NULL;
    float *x = NULL, *x2 = NULL, *t2 = NULL, *e2 = NULL;
    Rng *rngs = NULL;
    int64_t nc = 0, nu = 0, ne = 0;
    if (progress) progress(pctx, GEN_STAGE_TEXT, 0, 1);
    SdlStatus s = gen_encode_prompt(m->te, m->tok, p->prompt, p->clip_skip, &cond, &nc);
    if (s == SDL_OK && do_cfg) s = gen_encode_prompt(m->te, m->tok, p->negative_prompt, p->clip_skip, &uncond, &nu);
    if (s == SDL_OK && do_cfg && nu != nc) {
        s = gen_encode_prompt(m->te, m->tok, "", p->clip_skip, &empty, &ne);
        if (s == SDL_OK) {
            if (nu < nc) uncond = pad_chunks(uncond, nu, nc, empty, D), nu = nc;
            else cond = pad_chunks(cond, nc, nu, empty, D), nc = nu;
        }
    }
    if (progress && s == SDL_OK) progress(pctx, GEN_STAGE_TEXT, 1, 1);
    const int64_t T = nc * T77, ctx_floats = T * D;
    if (s == SDL_OK) {
        context = mem_alloc(MEM_OTHER, (size_t)(rows * ctx_floats) * sizeof(float));
        for (int64_t i = 0; i < Brun; i++) {
            if (do_cfg) memcpy(context + i * ctx_floats, uncond, (size_t)ctx_floats * sizeof(float));
            memcpy(context + ((do_cfg ? Brun : 0) + i) * ctx_floats, cond, (size_t)ctx_floats * sizeof(float));
        }
        s = unet_plan(u, rows, h, w, T);
    }

    // noise: image i from its own generator seeded seed + i
    if (s == SDL_OK) {
        x = mem_alloc(MEM_OTHER, (size_t)(B * per) * sizeof(float));
        rngs = malloc((size_t)B * sizeof *rngs);
        SDL_ASSERT(rngs);
        for (int64_t i = 0; i < B; i++) {
            rng_seed(&rngs[i], p->seed + (uint64_t)i);
            rng_randn_fill(&rngs[i], x + i * per, (size_t)per);
        }
        x2 = mem_alloc(MEM_OTHER, (size_t)(rows * per) * sizeof(float));
        e2 = mem_alloc(MEM_OTHER, (size_t)(rows * per) * sizeof(float));
        t2 = mem_alloc(MEM_OTHER, (size_t)rows * sizeof(float));
    }
    if (s == SDL_OK) {
        Denoiser d = {u, context, Brun, per, do_cfg, p->cfg_scale, x2, t2, e2, progress, pctx, 0, n_calls * (B / Brun)};
        if (progress) progress(pctx, GEN_STAGE_SAMPLE, 0, d.total);
        for (int64_t i = 0; i < B / Brun && s == SDL_OK; i++)
            s = sampler_run(&p->sampler, p->steps, x + i * Brun * per, Brun * per, denoise, &d, ancestral ? &rngs[i] : NULL,
                            on_step, &d);
    }
    if (s == SDL_OK) {
        // the UNet's activations are not needed any more: free them before the decode plans
        unet_unplan(u);
        if (progress) progress(pctx, GEN_STAGE_DECODE, 0, 1);
        vae_unscale_latents(x, x, B * per, vae->cfg.scaling_factor);
        s = vae_decode_images(vae, images, x, B, h, w, &p->tiling, tiled);
        if (progress && s == SDL_OK) progress(pctx, GEN_STAGE_DECODE, 1, 1);
    }
    free(cond), free(uncond), free(empty), free(rngs);
    mem_free(context), mem_free(x), mem_free(x2), mem_free(e2), mem_free(t2);
    restore_plans(m, &sp);
    return s;
}

// ---- samplers by name --------------------------------------------------------------------------

typedef struct {
    const char *a1111;   // display name
    const char *kohya;   // sampler_config_kohya name
    int karras_ok;
} SamplerName;

static const SamplerName SAMPLER_NAMES[] = {
    {"DDIM", "ddim", 0},       {"PLMS", "pndm", 0},       {"LMS", "lms", 1},
    {"Euler", "euler", 1},     {"Euler a", "euler_a", 0}, {"Heun", "heun", 1},
    {"DPM2", "dpm_2", 1},      {"DPM2 a", "dpm_2_a", 1},  {"DPM++ 2M", "dpmsolver++", 1},
    {"DPM++ 2S", "dpmsingle", 1}, {"DPM-Solver 2M", "dpmsolver", 1},
};
#define N_SAMPLER_NAMES (sizeof SAMPLER_NAMES / sizeof SAMPLER_NAMES[0])

static int ends_with_ci(const char *s, size_t len, const char *suffix) {
    size_t n = strlen(suffix);
    return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

SdlStatus gen_sampler_config(const char *name, int v_param, SamplerConfig *out) {
    size_t len = strlen(name);
    int karras = 0;
    char base[64];
    if (ends_with_ci(name, len, " karras") || ends_with_ci(name, len, "_karras")) karras = 1, len -= 7;
    if (len >= sizeof base) len = sizeof base - 1;
    memcpy(base, name, len);
    base[len] = 0;
    const char *kohya = NULL;
    int karras_ok = 0;
    for (size_t i = 0; i < N_SAMPLER_NAMES && !kohya; i++)
        if (strcasecmp(base, SAMPLER_NAMES[i].a1111) == 0) kohya = SAMPLER_NAMES[i].kohya, karras_ok = SAMPLER_NAMES[i].karras_ok;
    if (!kohya && strcasecmp(base, "PNDM") == 0) kohya = "pndm";
    if (!kohya) {
        if (sampler_config_kohya(base, v_param, out) != SDL_OK)
            return sdl_fail(SDL_ERR_ARG, NULL,
                            "use a kohya name (ddim, pndm, lms, euler, euler_a, heun, dpm_2, dpm_2_a, dpmsolver, dpmsolver++, dpmsingle, k_*) "
                            "or an A1111 name (\"Euler a\", \"DPM++ 2M Karras\", …)",
                            "unknown sampler '%s'", name);
        const char *dn = gen_sampler_a1111_name(out);
        for (size_t i = 0; i < N_SAMPLER_NAMES; i++)
            if (strcmp(dn, SAMPLER_NAMES[i].a1111) == 0) karras_ok = SAMPLER_NAMES[i].karras_ok;
    } else {
        SDL_TRY(sampler_config_kohya(kohya, v_param, out));
    }
    if (karras && !karras_ok)
        return sdl_fail(SDL_ERR_ARG, NULL, "Karras sigmas exist for LMS, Euler, Heun, DPM2, DPM2 a and the DPM-Solvers",
                        "sampler '%s': this sampler has no Karras variant", name);
    out->use_karras_sigmas = karras;
    return SDL_OK;
}

const char *gen_sampler_a1111_name(const SamplerConfig *c) {
    switch (c->kind) {
    case SAMPLER_DDIM: return "DDIM";
    case SAMPLER_PNDM: return "PLMS";
    case SAMPLER_LMS: return "LMS";
    case SAMPLER_EULER: return "Euler";
    case SAMPLER_EULER_A: return "Euler a";
    case SAMPLER_HEUN: return "Heun";
    case SAMPLER_DPM2: return "DPM2";
    case SAMPLER_DPM2_A: return "DPM2 a";
    case SAMPLER_DPM_MULTI: return c->dpmsolver_pp ? "DPM++ 2M" : "DPM-Solver 2M";
    case SAMPLER_DPM_SINGLE: return "DPM++ 2S";
    default: return "?";
    }
}

// ---- prompt tags -------------------------------------------------------------------------------

// Python's \w on str: letters, digits, underscore, and (approximately) every non-ASCII character.
static int is_word(unsigned char c) { return isalnum(c) || c == '_' || c >= 0x80; }

static char *dup_range(const char *a, size_t n) {
    char *s = malloc(n + 1);
    SDL_ASSERT(s);
    memcpy(s, a, n);
    s[n] = 0;
    return s;
}

// Python float(): surrounding whitespace allowed, nothing else.
static int parse_weight(const char *s, float *out) {
    char *end;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return 0;
    double v = strtod(s, &end);
    while (isspace((unsigned char)*end)) end++;
    if (*end || !isfinite(v)) return 0;
    *out = (float)v;
    return 1;
}

static SdlStatus lora_tag(const char *tag, const char *args, size_t alen, GenLoraTag *out) {
    // split args on ':'; "k=v" items are named, others positional
    char *a = dup_range(args, alen);
    char *pos[8] = {0};
    const char *te_s = NULL, *unet_s = NULL;
    int np = 0;
    for (char *p = a, *next; p; p = next) {
        next = strchr(p, ':');
        if (next) *next++ = 0;
        char *eq = strchr(p, '=');
        if (eq && !strchr(eq + 1, '=')) {
            *eq = 0;
            if (strcmp(p, "te") == 0) te_s = eq + 1;
            else if (strcmp(p, "unet") == 0) unet_s = eq + 1;
            else if (strcmp(p, "dyn") == 0) log_warn("<%s:%.*s>: dyn= (rank truncation) is not supported; the full rank is used", tag, (int)alen, args);
            continue;
        }
        if (np < 8) pos[np++] = p;
    }
    SdlStatus s = SDL_OK;
    float te = 1.0f, unet;
    if (np > 1 && !parse_weight(pos[1], &te)) s = SDL_ERR_ARG;
    if (te_s && !parse_weight(te_s, &te)) s = SDL_ERR_ARG;
    unet = te;
    if (np > 2 && !parse_weight(pos[2], &unet)) s = SDL_ERR_ARG;
    if (unet_s && !parse_weight(unet_s, &unet)) s = SDL_ERR_ARG;
    if (np > 3) log_warn("<%s:%.*s>: the 4th argument (dyn) is not supported; the full rank is used", tag, (int)alen, args);
    if (s == SDL_OK && np < 1) s = SDL_ERR_ARG;
    if (s != SDL_OK) {
        free(a);
        return sdl_fail(SDL_ERR_ARG, NULL, "write <lora:NAME:WEIGHT> with a number as the weight, e.g. <lora:my_style:0.8>",
                        "prompt tag <%s:%.*s>: not a LoRA name and weight", tag, (int)alen, args);
    }
    // the name is used as written, as A1111 does (file stems may contain spaces)
    out->name = strdup(pos[0]);
    SDL_ASSERT(out->name);
    out->te = te, out->unet = unet;
    free(a);
    return SDL_OK;
}

SdlStatus gen_parse_prompt_tags(const char *prompt, GenPromptTags *out) {
    memset(out, 0, sizeof *out);
    size_t len = strlen(prompt);
    char *clean = malloc(len + 1);
    SDL_ASSERT(clean);
    size_t o = 0;
    int cap = 0;
    for (size_t i = 0; i < len;) {
        // <(\w+):([^>]+)>
        if (prompt[i] == '<') {
            size_t j = i + 1;
            while (j < len && is_word((unsigned char)prompt[j])) j++;
            if (j > i + 1 && j < len && prompt[j] == ':') {
                size_t k = j + 1;
                while (k < len && prompt[k] != '>') k++;
                if (k < len && k > j + 1) {
                    char kind[64];
                    size_t kl = j - i - 1 < sizeof kind - 1 ? j - i - 1 : sizeof kind - 1;
                    memcpy(kind, prompt + i + 1, kl);
                    kind[kl] = 0;
                    if (strcmp(kind, "lora") == 0 || strcmp(kind, "lyco") == 0) {
                        if (out->n_loras == cap) {
                            cap = cap ? 2 * cap : 4;
                            out->loras = realloc(out->loras, (size_t)cap * sizeof *out->loras);
                            SDL_ASSERT(out->loras);
                        }
                        SdlStatus s = lora_tag(kind, prompt + j + 1, k - j - 1, &out->loras[out->n_loras]);
                        if (s != SDL_OK) {
                            free(clean);
                            gen_prompt_tags_free(out);
                            return s;
                        }
                        out->n_loras++;
                    } else {
                        out->n_other++;
                        log_warn("prompt tag <%s:…> is not supported (only <lora:…>); removed from the prompt", kind);
                    }
                    i = k + 1;
                    continue;
                }
            }
        }
        clean[o++] = prompt[i++];
    }
    clean[o] = 0;
    out->prompt = clean;
    return SDL_OK;
}

void gen_prompt_tags_free(GenPromptTags *t) {
    for (int i = 0; i < t->n_loras; i++) free(t->loras[i].name);
    free(t->loras);
    free(t->prompt);
    memset(t, 0, sizeof *t);
}

// ---- infotext ----------------------------------------------------------------------------------

typedef struct {
    char *s;
    size_t n, cap;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
        SDL_ASSERT(b->s);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
static void buf_str(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

// infotext_utils.quote: values with ',', ':' or '\n' become json.dumps(v, ensure_ascii=False).
static void buf_quoted(Buf *b, const char *v) {
    if (!strpbrk(v, ",:\n")) { buf_str(b, v); return; }
    buf_str(b, "\"");
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char e[8];
        switch (*p) {
        case '"': buf_str(b, "\\\""); break;
        case '\\': buf_str(b, "\\\\"); break;
        case '\n': buf_str(b, "\\n"); break;
        case '\r': buf_str(b, "\\r"); break;
        case '\t': buf_str(b, "\\t"); break;
        case '\b': buf_str(b, "\\b"); break;
        case '\f': buf_str(b, "\\f"); break;
        default:
            if (*p < 0x20) snprintf(e, sizeof e, "\\u%04x", *p), buf_str(b, e);
            else buf_put(b, (const char *)p, 1);
        }
    }
    buf_str(b, "\"");
}

static void param(Buf *b, int *first, const char *key, const char *value) {
    if (!value) return;
    if (!*first) buf_str(b, ", ");
    *first = 0;
    buf_str(b, key);
    buf_str(b, ": ");
    buf_quoted(b, value);
}

const char *gen_format_float(char *buf, size_t cap, float v) {
    if (isnan(v)) { snprintf(buf, cap, "nan"); return buf; }
    if (isinf(v)) { snprintf(buf, cap, v > 0 ? "inf" : "-inf"); return buf; }
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)v);
        if ((float)strtod(buf, NULL) == v) break;
    }
    // Python repr: "7.0", not "7"; exponents as "1e-05"
    if (!strpbrk(buf, ".e")) {
        size_t n = strlen(buf);
        if (n + 2 < cap) memcpy(buf + n, ".0", 3);
    }
    return buf;
}

char *gen_infotext(const GenInfo *in) {
    Buf b = {0};
    buf_str(&b, "");
    buf_str(&b, in->prompt ? in->prompt : "");
    if (in->negative_prompt && *in->negative_prompt) {
        buf_str(&b, "\nNegative prompt: ");
        buf_str(&b, in->negative_prompt);
    }
    buf_str(&b, "\n");
    int first = 1;
    char v[64], cfg[40];
    snprintf(v, sizeof v, "%lld", (long long)in->steps);
    param(&b, &first, "Steps", v);
    param(&b, &first, "Sampler", in->sampler);
    param(&b, &first, "Schedule type", in->schedule_type);
    param(&b, &first, "CFG scale", gen_format_float(cfg, sizeof cfg, (float)in->cfg_scale));
    snprintf(v, sizeof v, "%llu", (unsigned long long)in->seed);
    param(&b, &first, "Seed", v);
    snprintf(v, sizeof v, "%lldx%lld", (long long)in->width, (long long)in->height);
    param(&b, &first, "Size", v);
    param(&b, &first, "Model hash", in->model_hash);
    param(&b, &first, "Model", in->model);
    param(&b, &first, "VAE hash", in->vae_hash);
    param(&b, &first, "VAE", in->vae);
    if (in->clip_skip > 1) {
        snprintf(v, sizeof v, "%d", in->clip_skip);
        param(&b, &first, "Clip skip", v);
    }
    param(&b, &first, "Lora hashes", in->lora_hashes);
    param(&b, &first, "Version", in->version);
    // A1111 strips the whole text (.strip())
    size_t s0 = 0, n = b.n;
    while (s0 < n && isspace((unsigned char)b.s[s0])) s0++;
    while (n > s0 && isspace((unsigned char)b.s[n - 1])) n--;
    memmove(b.s, b.s + s0, n - s0);
    b.s[n - s0] = 0;
    return b.s;
}
