// vae.c — see vae.h. Forward passes of diffusers' AutoencoderKL (Encoder, Decoder,
// DiagonalGaussianDistribution) over the ops in src/ops.
//
// Buffers: the forward keeps only live tensors in three rotating full-size slots:
//   X the current activation (a block's input), T a temporary, Y the block's output;
// after each block X and Y swap (T stays the temporary). The mid-block attention adds small
// slots (q, k, v, o, lse) at the lowest resolution. vae_plan runs the same code with
// vae->measuring set: every slot request and work size is recorded instead of computed, so the
// plan is exact by construction and the real pass asserts it never asks for more.
#include "models/vae.h"
#include <math.h>
#include <string.h>
#include "ops/ops.h"

enum { SLOT_X = 0, SLOT_Y = 1, SLOT_T = 2, SLOT_Q = 3, SLOT_K = 4, SLOT_V = 5, SLOT_O = 6, SLOT_LSE = 7 };

// ---------------------------------------------------------------------------------------------
// Parameter table

static void add_norm(ParamTable *t, VaeNorm *n, int64_t c, const char *p) {
    param_add(t, &n->w, 1, (int64_t[]){c}, "%s.weight", p);
    param_add(t, &n->b, 1, (int64_t[]){c}, "%s.bias", p);
}

static void add_conv(ParamTable *t, VaeConv *cv, int64_t in, int64_t out, int64_t k, const char *p) {
    cv->in = in, cv->out = out, cv->k = k;
    param_add(t, &cv->w, 4, (int64_t[]){out, in, k, k}, "%s.weight", p);
    param_add(t, &cv->b, 1, (int64_t[]){out}, "%s.bias", p);
}

static void add_linear(ParamTable *t, VaeLinear *l, int64_t c, const char *p) {
    param_add(t, &l->w, 2, (int64_t[]){c, c}, "%s.weight", p);
    param_add(t, &l->b, 1, (int64_t[]){c}, "%s.bias", p);
}

static void add_resnet(ParamTable *t, VaeResnet *r, int64_t in, int64_t out, const char *p) {
    char b[256];
    r->in = in, r->out = out;
    snprintf(b, sizeof b, "%s.norm1", p), add_norm(t, &r->norm1, in, b);
    snprintf(b, sizeof b, "%s.conv1", p), add_conv(t, &r->conv1, in, out, 3, b);
    snprintf(b, sizeof b, "%s.norm2", p), add_norm(t, &r->norm2, out, b);
    snprintf(b, sizeof b, "%s.conv2", p), add_conv(t, &r->conv2, out, out, 3, b);
    if (in != out) snprintf(b, sizeof b, "%s.conv_shortcut", p), add_conv(t, &r->shortcut, in, out, 1, b);
}

static void add_mid(ParamTable *t, VaeMid *m, int64_t c, int attn, const char *p) {
    char b[256];
    for (int j = 0; j < 2; j++) snprintf(b, sizeof b, "%s.resnets.%d", p, j), add_resnet(t, &m->res[j], c, c, b);
    m->has_attn = attn;
    if (!attn) return;
    m->attn.ch = c;
    snprintf(b, sizeof b, "%s.attentions.0.group_norm", p), add_norm(t, &m->attn.norm, c, b);
    snprintf(b, sizeof b, "%s.attentions.0.to_q", p), add_linear(t, &m->attn.q, c, b);
    snprintf(b, sizeof b, "%s.attentions.0.to_k", p), add_linear(t, &m->attn.k, c, b);
    snprintf(b, sizeof b, "%s.attentions.0.to_v", p), add_linear(t, &m->attn.v, c, b);
    snprintf(b, sizeof b, "%s.attentions.0.to_out.0", p), add_linear(t, &m->attn.o, c, b);
}

SdlStatus vae_init(Vae *vae, const VaeConfig *cfg) {
    memset(vae, 0, sizeof *vae);
    SDL_TRY(vae_config_validate(cfg, NULL));
    if (cfg->layers_per_block > VAE_MAX_LAYERS)
        return sdl_fail(SDL_ERR_UNSUPPORTED, NULL, "the SD VAEs use layers_per_block 2",
                        "VAE config: layers_per_block %lld > %d", (long long)cfg->layers_per_block, VAE_MAX_LAYERS);
    vae->cfg = *cfg;
    const VaeConfig *c = &vae->cfg;
    const int64_t n = c->n_levels, L = c->latent_channels, *ch = c->block_out_channels;
    ParamTable *t = &vae->params;
    param_table_init(t);
    char b[256];

    // Encoder: conv_in, levels (resnets in→out, then a downsampler except on the last), mid, out.
    add_conv(t, &vae->enc_conv_in, c->in_channels, ch[0], 3, "encoder.conv_in");
    for (int64_t i = 0; i < n; i++) {
        VaeLevel *lv = &vae->enc_down[i];
        lv->n_res = c->layers_per_block;
        for (int64_t j = 0; j < lv->n_res; j++) {
            snprintf(b, sizeof b, "encoder.down_blocks.%lld.resnets.%lld", (long long)i, (long long)j);
            add_resnet(t, &lv->res[j], j == 0 ? ch[i > 0 ? i - 1 : 0] : ch[i], ch[i], b);
        }
        lv->has_sampler = i != n - 1;
        if (lv->has_sampler) {
            snprintf(b, sizeof b, "encoder.down_blocks.%lld.downsamplers.0.conv", (long long)i);
            add_conv(t, &lv->sampler, ch[i], ch[i], 3, b);
        }
    }
    add_mid(t, &vae->enc_mid, ch[n - 1], c->mid_block_add_attention, "encoder.mid_block");
    add_norm(t, &vae->enc_norm_out, ch[n - 1], "encoder.conv_norm_out");
    add_conv(t, &vae->enc_conv_out, ch[n - 1], 2 * L, 3, "encoder.conv_out");
    if (c->use_quant_conv) add_conv(t, &vae->quant_conv, 2 * L, 2 * L, 1, "quant_conv");
    if (c->use_post_quant_conv) add_conv(t, &vae->post_quant_conv, L, L, 1, "post_quant_conv");

    // Decoder: conv_in, mid, levels over the reversed channels (index 0 = lowest resolution),
    // layers_per_block + 1 resnets each, an upsampler except on the last; norm, conv_out.
    add_conv(t, &vae->dec_conv_in, L, ch[n - 1], 3, "decoder.conv_in");
    add_mid(t, &vae->dec_mid, ch[n - 1], c->mid_block_add_attention, "decoder.mid_block");
    int64_t prev = ch[n - 1];
    for (int64_t i = 0; i < n; i++) {
        VaeLevel *lv = &vae->dec_up[i];
        int64_t out = ch[n - 1 - i];
        lv->n_res = c->layers_per_block + 1;
        for (int64_t j = 0; j < lv->n_res; j++) {
            snprintf(b, sizeof b, "decoder.up_blocks.%lld.resnets.%lld", (long long)i, (long long)j);
            add_resnet(t, &lv->res[j], j == 0 ? prev : out, out, b);
        }
        lv->has_sampler = i != n - 1;
        if (lv->has_sampler) {
            snprintf(b, sizeof b, "decoder.up_blocks.%lld.upsamplers.0.conv", (long long)i);
            add_conv(t, &lv->sampler, out, out, 3, b);
        }
        prev = out;
    }
    add_norm(t, &vae->dec_norm_out, ch[0], "decoder.conv_norm_out");
    add_conv(t, &vae->dec_conv_out, ch[0], c->out_channels, 3, "decoder.conv_out");

    param_table_allocate(t, MEM_BASE_WEIGHTS);
    return SDL_OK;
}

void vae_free(Vae *vae) {
    param_table_free(&vae->params);
    if (vae->arena.base) arena_free(&vae->arena);
    memset(vae, 0, sizeof *vae);
}

// ---------------------------------------------------------------------------------------------
// Op wrappers: in the dry run they only record sizes; otherwise they compute.

static size_t max_z(size_t a, size_t b) { return a > b ? a : b; }

// The buffer of slot i, holding n floats. Dry run: records the size, returns NULL.
static float *slot(Vae *v, int i, int64_t n) {
    if (v->measuring) {
        v->slot_floats[i] = max_z(v->slot_floats[i], (size_t)n);
        return NULL;
    }
    SDL_ASSERT((size_t)n <= v->slot_floats[i]);
    return v->slot[i];
}

static void swap_xy(int *x, int *y) { int s = *x; *x = *y; *y = s; }

// out (N, cv.out, OH, OW) = conv(inp (N, cv.in, H, W)); pads top, bottom, left, right.
static void conv(Vae *v, float *out, const float *inp, const VaeConv *cv, int64_t N, int64_t H, int64_t W,
                 int64_t stride, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
    Conv2dDims d = {.N = N, .IC = cv->in, .H = H, .W = W, .OC = cv->out, .KH = cv->k, .KW = cv->k,
                    .stride = stride, .pad_top = pt, .pad_bottom = pb, .pad_left = pl, .pad_right = pr};
    if (v->measuring) {
        v->work_floats = max_z(v->work_floats, conv2d_work_floats(&d));
        *v->counting += 2.0 * (double)(N * cv->out * cv->in * cv->k * cv->k) * (double)(conv2d_out_h(&d) * conv2d_out_w(&d));
        return;
    }
    conv2d_forward(out, inp, cv->w, cv->b, &d, v->work);
}

// 3x3 pad 1 (or 1x1 pad 0) stride 1: same spatial size.
static void conv_same(Vae *v, float *out, const float *inp, const VaeConv *cv, int64_t N, int64_t H, int64_t W) {
    int64_t p = cv->k / 2;
    conv(v, out, inp, cv, N, H, W, 1, p, p, p, p);
}

// out = [silu](groupnorm(inp)) over (N, C, HW).
static void norm(Vae *v, float *out, const float *inp, const VaeNorm *n, int64_t N, int64_t C, int64_t HW, int silu) {
    if (v->measuring) return;
    int64_t G = v->cfg.norm_num_groups;
    float eps = v->cfg.norm_eps;
    if (silu) groupnorm_silu_forward(out, NULL, NULL, inp, n->w, n->b, N, C, HW, G, eps);
    else groupnorm_forward(out, NULL, NULL, inp, n->w, n->b, N, C, HW, G, eps);
}

// The activation (N, r->in, H, W) in slot *x becomes (N, r->out, H, W) in slot *x.
// (Not nn/resblock: its forward saves h and takes work sized for backward, three more
// full-resolution tensors than these three live ones: 1152 vs 640 MiB in the last level of
// a 512x512 decode.)
static void resnet(Vae *v, const VaeResnet *r, int *x, int *y, int64_t N, int64_t H, int64_t W) {
    const int64_t HW = H * W;
    float *xs = slot(v, *x, N * r->in * HW);
    float *ts = slot(v, SLOT_T, N * (r->in > r->out ? r->in : r->out) * HW);
    float *ys = slot(v, *y, N * r->out * HW);
    norm(v, ts, xs, &r->norm1, N, r->in, HW, 1);
    conv_same(v, ys, ts, &r->conv1, N, H, W);
    norm(v, ts, ys, &r->norm2, N, r->out, HW, 1);
    conv_same(v, ys, ts, &r->conv2, N, H, W);
    if (r->in != r->out) {
        conv_same(v, ts, xs, &r->shortcut, N, H, W);
        if (!v->measuring) add_forward(ys, ys, ts, N * r->out * HW);
    } else if (!v->measuring) {
        add_forward(ys, ys, xs, N * r->out * HW);
    }
    swap_xy(x, y);
}

// x (N, C, HW) in slot *x += to_out(attention(to_q/k/v(groupnorm(x)))), one head.
static void attn(Vae *v, const VaeAttn *a, int *x, int *y, int64_t N, int64_t HW) {
    const int64_t C = a->ch, n = N * C * HW;
    float *xs = slot(v, *x, n), *ts = slot(v, SLOT_T, n), *ys = slot(v, *y, n);
    float *q = slot(v, SLOT_Q, n), *k = slot(v, SLOT_K, n), *vv = slot(v, SLOT_V, n), *o = slot(v, SLOT_O, n);
    float *lse = slot(v, SLOT_LSE, N * HW);
    // Forward only, so the ops are called directly (nn/attention's module sizes its work for
    // backward too, ~5 extra (N, HW, C) tensors).
    AttnDims d = {.B = N, .Tq = HW, .Tk = HW, .NH = 1, .HD = C, .causal = 0};
    if (v->measuring) {
        v->work_floats = max_z(v->work_floats, attention_work_floats(&d));
        // 4 projections (2·N·HW·C·C each) and the two attention products (2·N·HW·HW·C each)
        *v->counting += 8.0 * (double)(N * HW) * (double)(C * C) + 4.0 * (double)(N * HW) * (double)(HW * C);
        swap_xy(x, y);
        return;
    }
    norm(v, ts, xs, &a->norm, N, C, HW, 0);
    transpose_nchw_to_nhwc(ys, ts, N, C, HW);          // tokens (N, HW, C)
    linear_forward(q, ys, a->q.w, a->q.b, N * HW, C, C);
    linear_forward(k, ys, a->k.w, a->k.b, N * HW, C, C);
    linear_forward(vv, ys, a->v.w, a->v.b, N * HW, C, C);
    attention_forward(o, lse, q, k, vv, &d, v->work); // scale 1/sqrt(C), as diffusers (head_dim = C)
    linear_forward(ts, o, a->o.w, a->o.b, N * HW, C, C);
    transpose_nhwc_to_nchw(ys, ts, N, C, HW);
    add_forward(ys, ys, xs, n);                        // residual (rescale_output_factor 1)
    swap_xy(x, y);
}

static void mid(Vae *v, const VaeMid *m, int *x, int *y, int64_t N, int64_t H, int64_t W) {
    resnet(v, &m->res[0], x, y, N, H, W);
    if (m->has_attn) attn(v, &m->attn, x, y, N, H * W);
    resnet(v, &m->res[1], x, y, N, H, W);
}

// ---------------------------------------------------------------------------------------------
// Encoder and decoder

static void encode_impl(Vae *v, float *mean, float *logvar, const float *image) {
    const VaeConfig *c = &v->cfg;
    const int64_t N = v->B, L = c->latent_channels, n = c->n_levels;
    int64_t H = v->H, W = v->W;
    int x = SLOT_X, y = SLOT_Y;
    // conv_in: image (N, 3, H, W) → X (N, C0, H, W)
    conv_same(v, slot(v, x, N * c->block_out_channels[0] * H * W), image, &v->enc_conv_in, N, H, W);
    for (int64_t i = 0; i < n; i++) {
        const VaeLevel *lv = &v->enc_down[i];
        for (int64_t j = 0; j < lv->n_res; j++) resnet(v, &lv->res[j], &x, &y, N, H, W);
        if (lv->has_sampler) {
            // Pad right and bottom by one, then 3x3 stride 2 pad 0 (diffusers Downsample2D with
            // padding=0): (H, W) → (H/2, W/2) for even H, W.
            int64_t C = lv->sampler.out;
            float *in = slot(v, x, N * C * H * W), *out = slot(v, y, N * C * (H / 2) * (W / 2));
            conv(v, out, in, &lv->sampler, N, H, W, 2, 0, 1, 0, 1);
            H /= 2, W /= 2;
            swap_xy(&x, &y);
        }
    }
    mid(v, &v->enc_mid, &x, &y, N, H, W);
    const int64_t CL = c->block_out_channels[n - 1], HW = H * W;
    float *xs = slot(v, x, N * CL * HW), *ts = slot(v, SLOT_T, N * CL * HW);
    float *ys = slot(v, y, N * 2 * L * HW);
    norm(v, ts, xs, &v->enc_norm_out, N, CL, HW, 1);
    conv_same(v, ys, ts, &v->enc_conv_out, N, H, W); // moments (N, 2L, h, w)
    float *mom = ys;
    if (c->use_quant_conv) {
        mom = slot(v, SLOT_T, N * 2 * L * HW);
        conv_same(v, mom, ys, &v->quant_conv, N, H, W);
    }
    if (v->measuring) return;
    // DiagonalGaussianDistribution: chunk along channels; logvar clamped to [-30, 20].
    for (int64_t b = 0; b < N; b++) {
        const float *mb = mom + b * 2 * L * HW;
        memcpy(mean + b * L * HW, mb, (size_t)(L * HW) * sizeof(float));
        float *lv = logvar + b * L * HW;
        const float *src = mb + L * HW;
        for (int64_t i = 0; i < L * HW; i++) lv[i] = fminf(fmaxf(src[i], -30.0f), 20.0f);
    }
}

static void decode_impl(Vae *v, float *image, const float *z) {
    const VaeConfig *c = &v->cfg;
    const int64_t N = v->B, L = c->latent_channels, n = c->n_levels, f = vae_downsample_factor(c);
    int64_t H = v->H / f, W = v->W / f;
    int x = SLOT_X, y = SLOT_Y;
    const float *zin = z;
    if (c->use_post_quant_conv) {
        float *t = slot(v, SLOT_T, N * L * H * W);
        conv_same(v, t, z, &v->post_quant_conv, N, H, W);
        zin = t;
    }
    conv_same(v, slot(v, x, N * c->block_out_channels[n - 1] * H * W), zin, &v->dec_conv_in, N, H, W);
    mid(v, &v->dec_mid, &x, &y, N, H, W);
    for (int64_t i = 0; i < n; i++) {
        const VaeLevel *lv = &v->dec_up[i];
        for (int64_t j = 0; j < lv->n_res; j++) resnet(v, &lv->res[j], &x, &y, N, H, W);
        if (lv->has_sampler) {
            // Upsample2D: nearest x2 into T, then 3x3 pad 1 into Y.
            int64_t C = lv->sampler.out;
            float *in = slot(v, x, N * C * H * W), *up = slot(v, SLOT_T, N * C * 4 * H * W);
            float *out = slot(v, y, N * C * 4 * H * W);
            if (!v->measuring) upsample_nearest2x_forward(up, in, N * C, H, W);
            H *= 2, W *= 2;
            conv_same(v, out, up, &lv->sampler, N, H, W);
            swap_xy(&x, &y);
        }
    }
    const int64_t C0 = c->block_out_channels[0];
    float *xs = slot(v, x, N * C0 * H * W), *ts = slot(v, SLOT_T, N * C0 * H * W);
    norm(v, ts, xs, &v->dec_norm_out, N, C0, H * W, 1);
    conv_same(v, image, ts, &v->dec_conv_out, N, H, W);
}

// ---------------------------------------------------------------------------------------------
// Plan and entry points

SdlStatus vae_plan(Vae *vae, int64_t B, int64_t H, int64_t W, unsigned modes) {
    const int64_t f = vae_downsample_factor(&vae->cfg);
    if (B < 1 || H < 1 || W < 1 || H % f != 0 || W % f != 0)
        return sdl_fail(SDL_ERR_ARG, NULL, "resize or crop images to multiples of the VAE factor (bucket resolution steps)",
                        "VAE: image size %lldx%lld (batch %lld) is not a positive multiple of the downsample factor %lld",
                        (long long)H, (long long)W, (long long)B, (long long)f);
    if (!(modes & (VAE_ENCODE | VAE_DECODE)) || (modes & ~(unsigned)(VAE_ENCODE | VAE_DECODE)))
        return sdl_fail(SDL_ERR_ARG, NULL, NULL, "VAE: plan modes must be VAE_ENCODE and/or VAE_DECODE");
    if (vae->arena.base) arena_free(&vae->arena);
    memset(vae->slot, 0, sizeof vae->slot);
    memset(vae->slot_floats, 0, sizeof vae->slot_floats);
    vae->work = NULL, vae->work_floats = 0;
    vae->B = B, vae->H = H, vae->W = W, vae->modes = modes;

    // Dry run: the same code paths record every buffer size.
    vae->measuring = 1;
    vae->flops[0] = vae->flops[1] = 0;
    vae->counting = &vae->flops[0];
    if (modes & VAE_ENCODE) encode_impl(vae, NULL, NULL, NULL);
    vae->counting = &vae->flops[1];
    if (modes & VAE_DECODE) decode_impl(vae, NULL, NULL);
    vae->measuring = 0;
    vae->counting = NULL;

    Arena a;
    arena_init_measure(&a, MEM_ACTIVATIONS);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < VAE_N_SLOTS; i++) vae->slot[i] = vae->slot_floats[i] ? arena_floats(&a, vae->slot_floats[i]) : NULL;
        vae->work = vae->work_floats ? arena_floats(&a, vae->work_floats) : NULL;
        if (pass == 0) {
            size_t bytes = a.used;
            arena_init(&a, MEM_ACTIVATIONS, bytes);
        }
    }
    vae->arena = a;
    return SDL_OK;
}

size_t vae_planned_bytes(const Vae *vae) { return vae->arena.size; }

void vae_encode(Vae *vae, float *mean, float *logvar, const float *image) {
    SDL_ASSERT(vae->modes & VAE_ENCODE); // vae_plan(…, VAE_ENCODE) first
    encode_impl(vae, mean, logvar, image);
}

void vae_decode(Vae *vae, float *image, const float *z) {
    SDL_ASSERT(vae->modes & VAE_DECODE); // vae_plan(…, VAE_DECODE) first
    decode_impl(vae, image, z);
}

void vae_sample_latents(float *latents, const float *mean, const float *logvar, int64_t n, Rng *rng, float scaling) {
    // eps first, into the output (torch draws the whole (B, L, h, w) tensor in one randn call).
    rng_randn_fill(rng, latents, (size_t)n);
    // As torch evaluates it in float32: std = exp(0.5·logvar); x = mean + std·eps; x·scaling —
    // separate roundings (-std=c11 does not contract a·b + c into an FMA).
    for (int64_t i = 0; i < n; i++) {
        float sd = expf(0.5f * logvar[i]);
        float x = mean[i] + sd * latents[i];
        latents[i] = x * scaling;
    }
}

void vae_unscale_latents(float *z, const float *latents, int64_t n, float scaling) {
    for (int64_t i = 0; i < n; i++) z[i] = latents[i] / scaling;
}
