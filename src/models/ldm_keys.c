// ldm_keys.c — see ldm_keys.h. Names are parsed left to right: a fixed head ("down_blocks."),
// block indices, a sub-module, and the rest, which is copied unchanged except for the ResBlock
// sub-module renames.
#include "models/ldm_keys.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Consumes `lit` at *p if present.
static int take(const char **p, const char *lit) {
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n) != 0) return 0;
    *p += n;
    return 1;
}

// Consumes "<digits>." at *p (at most 4 digits: block indices are small).
static int take_index(const char **p, int *v) {
    const char *s = *p;
    int x = 0, k = 0;
    while (s[k] >= '0' && s[k] <= '9' && k < 4) x = x * 10 + (s[k] - '0'), k++;
    if (k == 0 || s[k] != '.' || (k > 1 && s[0] == '0')) return 0;
    *v = x;
    *p = s + k + 1;
    return 1;
}

static int emit(char *key, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int emit(char *key, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(key, cap, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < cap;
}

// UNet ResBlock sub-module: diffusers → LDM ("norm1.weight" → "in_layers.0.weight").
static const char *unet_res_sub(const char *rest, const char **tail) {
    static const struct { const char *d, *l; } m[] = {
        {"norm1.", "in_layers.0."}, {"conv1.", "in_layers.2."}, {"time_emb_proj.", "emb_layers.1."},
        {"norm2.", "out_layers.0."}, {"conv2.", "out_layers.3."}, {"conv_shortcut.", "skip_connection."},
    };
    for (size_t i = 0; i < sizeof m / sizeof *m; i++) {
        const char *p = rest;
        if (take(&p, m[i].d)) {
            *tail = p;
            return m[i].l;
        }
    }
    return NULL;
}

void ldm_unet_layout_sd1(LdmUnetLayout *l) {
    memset(l, 0, sizeof *l);
    l->n_levels = 4;
    l->layers_per_block = 2;
    l->attn[0] = l->attn[1] = l->attn[2] = 1;
}

void ldm_vae_layout_sd1(LdmVaeLayout *l) { l->n_levels = 4; }

int ldm_unet_key(const char *name, char *key, size_t cap, void *ctx) {
    const LdmUnetLayout *l = ctx;
    const int n = l->layers_per_block, L = l->n_levels;
    const char *p = name, *tail;
    const char *sub;
    int i, j;
    if (take(&p, "conv_in.")) return emit(key, cap, LDM_UNET_PREFIX "input_blocks.0.0.%s", p);
    if (take(&p, "time_embedding.linear_1.")) return emit(key, cap, LDM_UNET_PREFIX "time_embed.0.%s", p);
    if (take(&p, "time_embedding.linear_2.")) return emit(key, cap, LDM_UNET_PREFIX "time_embed.2.%s", p);
    if (take(&p, "conv_norm_out.")) return emit(key, cap, LDM_UNET_PREFIX "out.0.%s", p);
    if (take(&p, "conv_out.")) return emit(key, cap, LDM_UNET_PREFIX "out.2.%s", p);
    if (take(&p, "mid_block.")) {
        if (take(&p, "resnets.") && take_index(&p, &j) && j <= 1 && (sub = unet_res_sub(p, &tail)))
            return emit(key, cap, LDM_UNET_PREFIX "middle_block.%d.%s%s", 2 * j, sub, tail);
        if (take(&p, "attentions.0.")) return emit(key, cap, LDM_UNET_PREFIX "middle_block.1.%s", p);
        return 0;
    }
    if (take(&p, "down_blocks.")) {
        if (!take_index(&p, &i) || i >= L) return 0;
        if (take(&p, "resnets.")) {
            if (!take_index(&p, &j) || j >= n || !(sub = unet_res_sub(p, &tail))) return 0;
            return emit(key, cap, LDM_UNET_PREFIX "input_blocks.%d.0.%s%s", 1 + i * (n + 1) + j, sub, tail);
        }
        if (take(&p, "attentions.")) {
            if (!take_index(&p, &j) || j >= n || !l->attn[i]) return 0;
            return emit(key, cap, LDM_UNET_PREFIX "input_blocks.%d.1.%s", 1 + i * (n + 1) + j, p);
        }
        if (take(&p, "downsamplers.0.conv.") && i < L - 1)
            return emit(key, cap, LDM_UNET_PREFIX "input_blocks.%d.0.op.%s", (i + 1) * (n + 1), p);
        return 0;
    }
    if (take(&p, "up_blocks.")) {
        if (!take_index(&p, &i) || i >= L) return 0;
        int has_attn = l->attn[L - 1 - i];
        if (take(&p, "resnets.")) {
            if (!take_index(&p, &j) || j > n || !(sub = unet_res_sub(p, &tail))) return 0;
            return emit(key, cap, LDM_UNET_PREFIX "output_blocks.%d.0.%s%s", i * (n + 1) + j, sub, tail);
        }
        if (take(&p, "attentions.")) {
            if (!take_index(&p, &j) || j > n || !has_attn) return 0;
            return emit(key, cap, LDM_UNET_PREFIX "output_blocks.%d.1.%s", i * (n + 1) + j, p);
        }
        if (take(&p, "upsamplers.0.conv.") && i < L - 1)
            return emit(key, cap, LDM_UNET_PREFIX "output_blocks.%d.%d.conv.%s", i * (n + 1) + n, has_attn ? 2 : 1, p);
        return 0;
    }
    return 0;
}

// VAE ResnetBlock: only the shortcut is renamed.
static int vae_res(char *key, size_t cap, const char *head, const char *rest) {
    const char *p = rest;
    if (take(&p, "conv_shortcut.")) return emit(key, cap, LDM_VAE_PREFIX "%snin_shortcut.%s", head, p);
    if (strncmp(rest, "norm1.", 6) && strncmp(rest, "conv1.", 6) && strncmp(rest, "norm2.", 6) && strncmp(rest, "conv2.", 6))
        return 0;
    return emit(key, cap, LDM_VAE_PREFIX "%s%s", head, rest);
}

static int vae_mid(char *key, size_t cap, const char *coder, const char *p) {
    char head[64];
    int j;
    if (take(&p, "resnets.")) {
        if (!take_index(&p, &j) || j > 1) return 0;
        snprintf(head, sizeof head, "%s.mid.block_%d.", coder, j + 1);
        return vae_res(key, cap, head, p);
    }
    if (take(&p, "attentions.0.")) {
        static const struct { const char *d, *l; } m[] = {
            {"group_norm.", "norm."}, {"to_q.", "q."}, {"to_k.", "k."}, {"to_v.", "v."}, {"to_out.0.", "proj_out."},
        };
        for (size_t k = 0; k < sizeof m / sizeof *m; k++)
            if (take(&p, m[k].d)) return emit(key, cap, LDM_VAE_PREFIX "%s.mid.attn_1.%s%s", coder, m[k].l, p);
    }
    return 0;
}

int ldm_vae_key(const char *name, char *key, size_t cap, void *ctx) {
    const LdmVaeLayout *l = ctx;
    const int L = l->n_levels;
    const char *p = name;
    char head[64];
    int i, j;
    if (take(&p, "quant_conv.") || take(&p, "post_quant_conv.")) return emit(key, cap, LDM_VAE_PREFIX "%s", name);
    const char *coder = take(&p, "encoder.") ? "encoder" : take(&p, "decoder.") ? "decoder" : NULL;
    if (!coder) return 0;
    if (take(&p, "conv_in.") || take(&p, "conv_out.")) return emit(key, cap, LDM_VAE_PREFIX "%s", name);
    if (take(&p, "conv_norm_out.")) return emit(key, cap, LDM_VAE_PREFIX "%s.norm_out.%s", coder, p);
    if (take(&p, "mid_block.")) return vae_mid(key, cap, coder, p);
    if (coder[0] == 'e' && take(&p, "down_blocks.")) {
        if (!take_index(&p, &i) || i >= L) return 0;
        if (take(&p, "resnets.")) {
            if (!take_index(&p, &j)) return 0;
            snprintf(head, sizeof head, "encoder.down.%d.block.%d.", i, j);
            return vae_res(key, cap, head, p);
        }
        if (take(&p, "downsamplers.0.conv.") && i < L - 1)
            return emit(key, cap, LDM_VAE_PREFIX "encoder.down.%d.downsample.conv.%s", i, p);
        return 0;
    }
    if (coder[0] == 'd' && take(&p, "up_blocks.")) {
        if (!take_index(&p, &i) || i >= L) return 0;
        if (take(&p, "resnets.")) {
            if (!take_index(&p, &j)) return 0;
            snprintf(head, sizeof head, "decoder.up.%d.block.%d.", L - 1 - i, j);
            return vae_res(key, cap, head, p);
        }
        if (take(&p, "upsamplers.0.conv.") && i < L - 1)
            return emit(key, cap, LDM_VAE_PREFIX "decoder.up.%d.upsample.conv.%s", L - 1 - i, p);
        return 0;
    }
    return 0;
}

int ldm_clip_key(const char *name, char *key, size_t cap, void *ctx) {
    const LdmClipLayout *l = ctx;
    const char *p = name;
    if (!take(&p, "text_model.")) return 0;
    return emit(key, cap, LDM_CLIP_PREFIX "%s", l && l->no_text_model ? p : name);
}

// ---------------------------------------------------------------- layouts from the keys

// If name is prefix + "<block>.<k>." + ..., returns k (else -1).
static int block_index(const char *name, const char *prefix, const char *block) {
    const char *p = name;
    int k;
    if (!take(&p, prefix) || !take(&p, block) || !take_index(&p, &k)) return -1;
    return k;
}

SdlStatus ldm_unet_layout_from_tensors(LdmUnetLayout *l, const SafeTensors *st, const char *file) {
    memset(l, 0, sizeof *l);
    int max_in = -1, n_down = 0;
    char key[160];
    for (int64_t t = 0; t < st->n_tensors; t++) {
        const char *name = st->tensors[t].name;
        int k = block_index(name, LDM_UNET_PREFIX, "input_blocks.");
        if (k < 0) continue;
        if (k > max_in) max_in = k;
        snprintf(key, sizeof key, LDM_UNET_PREFIX "input_blocks.%d.0.op.weight", k);
        if (strcmp(name, key) == 0) n_down++;
    }
    // Input blocks 1..max_in are L·n ResBlocks (with their attentions) plus L-1 downsamplers.
    int L = n_down + 1;
    if (max_in < 1 || L > LDM_MAX_LEVELS || (max_in - n_down) % L != 0 || (max_in - n_down) / L < 1)
        return sdl_fail(SDL_ERR_FORMAT, file, "the UNet part of this checkpoint is incomplete or of an unknown layout",
                        "cannot read the UNet layout from the keys: %d input blocks with %d downsamplers", max_in + 1, n_down);
    l->n_levels = L;
    l->layers_per_block = (max_in - n_down) / L;
    int n = l->layers_per_block;
    for (int i = 0; i < L; i++) {
        snprintf(key, sizeof key, LDM_UNET_PREFIX "input_blocks.%d.1.proj_in.weight", 1 + i * (n + 1));
        l->attn[i] = st_find(st, key) != NULL;
        if (i < L - 1) {
            snprintf(key, sizeof key, LDM_UNET_PREFIX "input_blocks.%d.0.op.weight", (i + 1) * (n + 1));
            if (!st_find(st, key))
                return sdl_fail(SDL_ERR_FORMAT, file, "the UNet part of this checkpoint is incomplete or of an unknown layout",
                                "UNet layout: expected the level-%d downsampler at '%s' (levels %d, layers per block %d)", i, key, L, n);
        }
    }
    return SDL_OK;
}

SdlStatus ldm_vae_layout_from_tensors(LdmVaeLayout *l, const SafeTensors *st, const char *file) {
    int max_level = -1;
    for (int64_t t = 0; t < st->n_tensors; t++) {
        int k = block_index(st->tensors[t].name, LDM_VAE_PREFIX, "encoder.down.");
        if (k > max_level) max_level = k;
    }
    if (max_level < 0 || max_level >= LDM_MAX_LEVELS)
        return sdl_fail(SDL_ERR_FORMAT, file, "the VAE part of this checkpoint is missing or of an unknown layout",
                        "cannot read the VAE layout: no '" LDM_VAE_PREFIX "encoder.down.<i>.*' keys (or too many levels)");
    l->n_levels = max_level + 1;
    return SDL_OK;
}

void ldm_clip_layout_from_tensors(LdmClipLayout *l, const SafeTensors *st) {
    l->no_text_model = !st_find(st, LDM_CLIP_PREFIX "text_model.embeddings.token_embedding.weight") &&
                       st_find(st, LDM_CLIP_PREFIX "embeddings.token_embedding.weight");
}
