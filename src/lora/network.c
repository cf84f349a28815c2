// network.c — kohya's LoRA network over the UNet and the CLIP text encoder (see network.h).
#include "lora/network.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"

LoraNetworkConfig lora_network_config_default(void) {
    return (LoraNetworkConfig){.network_dim = 4, .network_alpha = 1.0f, .conv_dim = 0, .conv_alpha = 1.0f,
                               .multiplier = 1.0f, .train_unet = 1, .train_te = 1};
}

typedef struct {
    LoraNetwork *net;
    const SafeTensors *dims;
    SdlStatus st;
} Builder;

static void kohya_name(char *dst, size_t cap, const char *prefix, const char *path) {
    int n = snprintf(dst, cap, "%s_%s", prefix, path);
    SDL_ASSERT(n > 0 && (size_t)n < cap);
    for (char *p = dst; *p; p++)
        if (*p == '.') *p = '_';
}

static void add_module(Builder *b, const char *prefix, const char *path, int is_te, Linear *lin, Conv2d *conv) {
    LoraNetwork *net = b->net;
    const LoraNetworkConfig *c = &net->cfg;
    LoraModule m = {0};
    kohya_name(m.name, sizeof m.name, prefix, path);
    m.is_te = is_te, m.lin = lin, m.conv = conv, m.is_conv = conv != NULL;
    m.in = lin ? lin->in : conv->in;
    m.out = lin ? lin->out : conv->out;
    m.k = lin ? 1 : conv->k;
    if (b->dims) {
        // --dim_from_weights: the file decides which modules exist and their rank/alpha
        char key[256];
        snprintf(key, sizeof key, "%s.lora_down.weight", m.name);
        const StTensor *d = st_find(b->dims, key);
        if (!d) return;
        if (d->ndim < 1 || d->shape[0] <= 0) {
            if (b->st == SDL_OK)
                b->st = sdl_fail(SDL_ERR_FORMAT, b->dims->path, NULL, "%s has no rank (shape with %d dims)", key, d->ndim);
            return;
        }
        m.rank = d->shape[0];
        snprintf(key, sizeof key, "%s.alpha", m.name);
        const StTensor *a = st_find(b->dims, key);
        float alpha = 0;
        if (a && a->numel == 1 && st_tensor_to_f32(b->dims, a, &alpha) != SDL_OK) alpha = 0;
        m.alpha = alpha;
    } else if (m.k == 1) {
        m.rank = c->network_dim, m.alpha = c->network_alpha;
    } else {
        if (c->conv_dim <= 0) return; // 3x3 convs only with LoCon
        m.rank = c->conv_dim, m.alpha = c->conv_alpha;
    }
    if (m.rank <= 0) return; // kohya: dim None or 0 → no module
    if (m.alpha == 0) m.alpha = (float)m.rank; // kohya: alpha None/0 → rank
    if (net->n == 0 || (net->n & (net->n - 1)) == 0) {
        size_t cap = net->n ? 2 * (size_t)net->n : 16;
        LoraModule *nm = realloc(net->mods, cap * sizeof *nm);
        SDL_ASSERT(nm);
        net->mods = nm;
    }
    net->mods[net->n++] = m;
    if (is_te) net->n_te++;
    else net->n_unet++;
}

static void te_visit(const char *name, Linear *lin, void *ctx) { add_module(ctx, "lora_te", name, 1, lin, NULL); }

static void unet_visit(void *ctx, const char *path, BlockModuleKind kind, void *module, const char *block_class) {
    Builder *b = ctx;
    int conv_classes = b->dims || b->net->cfg.conv_dim > 0;
    int target = strcmp(block_class, "Transformer2DModel") == 0 ||
                 (conv_classes && (strcmp(block_class, "ResnetBlock2D") == 0 || strcmp(block_class, "Downsample2D") == 0 ||
                                   strcmp(block_class, "Upsample2D") == 0));
    if (!target) return;
    add_module(b, "lora_unet", path, 0, kind == BLOCK_MODULE_LINEAR ? module : NULL,
               kind == BLOCK_MODULE_CONV2D ? module : NULL);
}

static void set_adapter(LoraNetwork *net, LoraModule *m) {
    m->ad.down = m->down, m->ad.up = m->up;
    m->ad.ddown = m->ddown, m->ad.dup = m->dup;
    m->ad.rank = m->rank;
    // kohya: scale = alpha / r (Python float), times the multiplier at use
    m->ad.scale = (float)((double)net->cfg.multiplier * (double)m->alpha / (double)m->rank);
}

SdlStatus lora_network_create(LoraNetwork *net, const LoraNetworkConfig *cfg, Unet *u, ClipText *te,
                              const SafeTensors *dims_from) {
    memset(net, 0, sizeof *net);
    const struct { const char *name; float p; } drops[] = {
        {"network_dropout", cfg->dropout}, {"rank_dropout", cfg->rank_dropout}, {"module_dropout", cfg->module_dropout}};
    for (int i = 0; i < 3; i++)
        if (!(drops[i].p >= 0 && drops[i].p < 1)) // NaN fails too; p = 1 would scale by 1/0
            return sdl_fail(SDL_ERR_ARG, NULL, "use a probability such as 0.1 (0 turns it off)",
                            "%s = %g is not in [0, 1)", drops[i].name, (double)drops[i].p);
    net->cfg = *cfg;
    Builder b = {net, dims_from, SDL_OK};
    if (te && cfg->train_te) clip_text_visit_modules(te, te_visit, &b);
    if (u && cfg->train_unet) unet_visit_modules(u, unet_visit, &b);
    if (b.st != SDL_OK) {
        lora_network_free(net);
        return b.st;
    }
    for (int64_t i = 0; i < net->n; i++) {
        LoraModule *m = &net->mods[i];
        net->n_params += (size_t)(m->rank * m->in * m->k * m->k + m->out * m->rank);
    }
    net->params = mem_calloc(MEM_TRAINABLE, (net->n_params ? net->n_params : 1) * sizeof(float));
    float *p = net->params;
    for (int64_t i = 0; i < net->n; i++) {
        LoraModule *m = &net->mods[i];
        m->down = p, p += m->rank * m->in * m->k * m->k;
        m->up = p, p += m->out * m->rank;
        set_adapter(net, m);
    }
    // names must be unique (kohya asserts it)
    for (int64_t i = 0; i < net->n; i++)
        for (int64_t j = i + 1; j < net->n; j++) SDL_ASSERT(strcmp(net->mods[i].name, net->mods[j].name) != 0);
    return SDL_OK;
}

void lora_network_free(LoraNetwork *net) {
    lora_network_detach(net);
    mem_free(net->params);
    mem_free(net->grads);
    mem_free(net->te_h);
    free(net->mods);
    memset(net, 0, sizeof *net);
}

// torch.nn.init.kaiming_uniform_(w, a=sqrt(5)): gain = sqrt(2 / (1 + a²)), bound = sqrt(3) ·
// gain / sqrt(fan_in), all in Python doubles; then uniform_(-bound, bound) in float32:
// from + u · (to − from) with float from/to and the arithmetic in double (torch's CPU
// uniform_real accumulates in double for float tensors), u the 24-bit draw of torch.rand.
static void kaiming_uniform(float *w, int64_t n, int64_t fan_in, Rng *rng) {
    double a = sqrt(5.0);
    double gain = sqrt(2.0 / (1.0 + a * a));
    double bound = sqrt(3.0) * (gain / sqrt((double)fan_in));
    float from = (float)-bound, to = (float)bound;
    rng_rand_fill(rng, w, (size_t)n); // torch's uniform_ consumes the generator as torch.rand does
    for (int64_t i = 0; i < n; i++) w[i] = (float)((double)w[i] * ((double)to - (double)from) + (double)from);
}

// Advances the generator as a uniform_ fill of n floats would (into w as scratch).
static void discard_draws(Rng *rng, float *w, int64_t n) { rng_rand_fill(rng, w, (size_t)n); }

void lora_network_init_weights(LoraNetwork *net, Rng *rng) {
    for (int64_t i = 0; i < net->n; i++) {
        LoraModule *m = &net->mods[i];
        int64_t fan_in = m->in * m->k * m->k, nd = m->rank * fan_in, nu = m->out * m->rank;
        // kohya's LoRAModule.__init__: the default inits of lora_down and lora_up (torch draws
        // one 32-bit word per float element), then kaiming_uniform_ on lora_down again
        discard_draws(rng, m->down, nd);
        discard_draws(rng, m->up, nu);
        kaiming_uniform(m->down, nd, fan_in, rng);
        memset(m->up, 0, (size_t)nu * sizeof(float));
    }
}

void lora_network_enable_grads(LoraNetwork *net) {
    if (!net->grads) net->grads = mem_calloc(MEM_GRADS, (net->n_params ? net->n_params : 1) * sizeof(float));
    for (int64_t i = 0; i < net->n; i++) {
        LoraModule *m = &net->mods[i];
        m->ddown = net->grads + (m->down - net->params);
        m->dup = net->grads + (m->up - net->params);
        set_adapter(net, m);
    }
}

void lora_network_zero_grads(LoraNetwork *net) {
    if (net->grads) memset(net->grads, 0, net->n_params * sizeof(float));
}

void lora_network_set_multiplier(LoraNetwork *net, float multiplier) {
    net->cfg.multiplier = multiplier;
    for (int64_t i = 0; i < net->n; i++) set_adapter(net, &net->mods[i]);
}

static LoraAdapter **slot_of(LoraModule *m) { return m->lin ? &m->lin->lora : &m->conv->lora; }

void lora_network_attach(LoraNetwork *net) {
    for (int64_t i = 0; i < net->n; i++) {
        LoraModule *m = &net->mods[i];
        set_adapter(net, m);
        m->dropped = 0;
        *slot_of(m) = &m->ad;
    }
    net->attached = 1;
}

void lora_network_detach(LoraNetwork *net) {
    for (int64_t i = 0; i < net->n; i++) {
        LoraAdapter **s = slot_of(&net->mods[i]);
        if (*s == &net->mods[i].ad) *s = NULL;
        net->mods[i].dropped = 0;
    }
    net->attached = 0;
}

void lora_network_plan_te(LoraNetwork *net, int64_t B, int64_t T) {
    int64_t rows = B * T;
    size_t total = 0;
    for (int64_t i = 0; i < net->n; i++)
        if (net->mods[i].is_te) total += (size_t)(rows * net->mods[i].rank);
    if (rows != net->te_rows || !net->te_h) {
        mem_free(net->te_h);
        net->te_h = total ? mem_alloc(MEM_ACTIVATIONS, total * sizeof(float)) : NULL;
        net->te_rows = rows;
    }
    float *p = net->te_h;
    for (int64_t i = 0; i < net->n; i++) {
        LoraModule *m = &net->mods[i];
        if (!m->is_te) continue;
        m->ad.h = p; // (B·T, r)
        p += rows * m->rank;
    }
}

void lora_network_step_begin(LoraNetwork *net, Rng *rng, int64_t unet_batch, int64_t te_batch) {
    if (!net->attached) return;
    const LoraNetworkConfig *c = &net->cfg;
    if (c->module_dropout > 0)
        for (int64_t i = 0; i < net->n; i++) {
            LoraModule *m = &net->mods[i];
            if (rng_rand_float(rng) < c->module_dropout) {
                m->dropped = 1;
                *slot_of(m) = NULL; // the base module alone this step (kohya returns org_forward(x))
            }
        }
    if (c->dropout <= 0 && c->rank_dropout <= 0) return;
    uint64_t step_seed = rng_u64(rng);
    for (int64_t i = 0; i < net->n; i++) {
        LoraAdapter *a = &net->mods[i].ad;
        a->dropout = c->dropout;
        a->rank_dropout = c->rank_dropout;
        a->seed = lora_mix64(step_seed + (uint64_t)i * 0x9E3779B97F4A7C15ull); // independent masks per module
        a->batch = net->mods[i].is_te ? te_batch : unet_batch;
    }
}

void lora_network_step_end(LoraNetwork *net) {
    for (int64_t i = 0; i < net->n; i++) {
        LoraModule *m = &net->mods[i];
        if (m->dropped) *slot_of(m) = &m->ad;
        m->dropped = 0;
        m->ad.dropout = m->ad.rank_dropout = 0; // inference (e.g. samples between steps) never drops
        m->ad.seed = 0, m->ad.batch = 0;
    }
}

LoraModule *lora_network_find(LoraNetwork *net, const char *name) {
    for (int64_t i = 0; i < net->n; i++)
        if (strcmp(net->mods[i].name, name) == 0) return &net->mods[i];
    return NULL;
}

int64_t lora_network_optim_params(const LoraNetwork *net, int which, OptimParam *out) {
    int64_t n = 0;
    for (int64_t i = 0; i < net->n; i++) {
        const LoraModule *m = &net->mods[i];
        if (m->is_te != (which != 0)) continue;
        OptimParam d = {.param = m->down, .grad = m->ddown, .n = m->rank * m->in * m->k * m->k};
        OptimParam up = {.param = m->up, .grad = m->dup, .n = m->out * m->rank};
        if (m->is_conv) {
            d.ndim = 4, d.shape[0] = m->rank, d.shape[1] = m->in, d.shape[2] = d.shape[3] = m->k;
            up.ndim = 4, up.shape[0] = m->out, up.shape[1] = m->rank, up.shape[2] = up.shape[3] = 1;
        } else {
            d.ndim = 2, d.shape[0] = m->rank, d.shape[1] = m->in;
            up.ndim = 2, up.shape[0] = m->out, up.shape[1] = m->rank;
        }
        out[n++] = d;
        out[n++] = up;
    }
    return n;
}
