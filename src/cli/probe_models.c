// probe_models.c — `sdlora probe unet` and `sdlora probe text-encoder`: the UNet and the CLIP
// text encoder of a model run once on given inputs, their outputs written to a .safetensors
// file (tensor names in docs/models.md), for checking sdlora against diffusers/transformers.
// Each component's configuration comes from models/model_meta.h: config.json of a diffusers
// folder, the metadata sdlora init-model stores in a single file, else SD1's.
#include "cli/probe_models.h"
#include "cli/options.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/safetensors.h"
#include "models/checkpoint.h"
#include "models/clip_text.h"
#include "models/clip_tokenizer.h"
#include "models/model_meta.h"
#include "models/prompt_weights.h"
#include "models/unet.h"
#include <stdio.h>
#include <string.h>

// Reads tensor `name` of rank ndim from an input file into a new fp32 buffer (MEM_OTHER).
// Integer tensors (timesteps written as int64 by torch) are converted too.
static SdlStatus read_input(const SafeTensors *st, const char *name, int ndim, int64_t shape[], float **out) {
    const StTensor *t = st_find(st, name);
    if (!t)
        return sdl_fail(SDL_ERR_NOT_FOUND, st->path, "see docs/models.md for the tensor names each probe reads",
                        "input tensor '%s' is missing", name);
    if (t->ndim != ndim)
        return sdl_fail(SDL_ERR_SHAPE, st->path, "see docs/models.md for the expected shapes",
                        "input tensor '%s' has %d dims, expected %d", name, t->ndim, ndim);
    for (int d = 0; d < ndim; d++) shape[d] = t->shape[d];
    *out = mem_alloc(MEM_OTHER, (size_t)t->numel * sizeof(float) + 1);
    SdlStatus s = SDL_OK;
    if (t->dtype == ST_I64 || t->dtype == ST_I32)
        for (int64_t i = 0; i < t->numel; i++) {
            int64_t v;
            if (t->dtype == ST_I64) memcpy(&v, (const char *)t->data + 8 * i, 8);
            else { int32_t v32; memcpy(&v32, (const char *)t->data + 4 * i, 4); v = v32; }
            (*out)[i] = (float)v;
        }
    else s = st_tensor_to_f32(st, t, *out);
    if (s != SDL_OK) mem_free(*out), *out = NULL;
    return s;
}

// Opens a model and loads its UNet (configuration: models/model_meta.h).
static SdlStatus open_unet(ModelFiles *mf, Unet *u, const char *path) {
    SDL_TRY(model_files_open(mf, path));
    UnetConfig cfg;
    SDL_TRY(model_meta_unet_config(mf, &cfg));
    SDL_TRY(unet_init(u, &cfg));
    return model_files_load(mf, MODEL_UNET, &u->params, NULL);
}

static SdlStatus open_text_encoder(ModelFiles *mf, ClipText *m, const char *path) {
    SDL_TRY(model_files_open(mf, path));
    ClipTextConfig cfg;
    SDL_TRY(model_meta_text_encoder_config(mf, &cfg));
    clip_text_init(m, &cfg);
    return model_files_load(mf, MODEL_TEXT_ENCODER, &m->params, NULL);
}

int probe_unet(int argc, char **argv) {
    const char *model = NULL, *in = NULL, *out = NULL;
    const OptSpec specs[] = {
        {.name = "model", .type = OPT_STRING, .dst = &model, .required = true,
         .help = "base model: single-file .safetensors/.ckpt or diffusers folder"},
        {.name = "in", .type = OPT_STRING, .dst = &in, .required = true,
         .help = "input .safetensors: `latents` (B, 4, h, w), `timesteps` (B), `context` (B, T, context width: 768 for SD1)"},
        {.name = "out", .type = OPT_STRING, .dst = &out, .required = true,
         .help = "output .safetensors: `eps` (B, 4, h, w), the UNet's prediction"},
    };
    OptsResult r = opts_parse("probe unet", "sdlora probe unet --model M --in F --out F", specs,
                              (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (r != OPTS_OK) return r == OPTS_HELP ? 0 : 1;
    ModelFiles mf;
    Unet u;
    SafeTensors inp;
    memset(&mf, 0, sizeof mf), memset(&u, 0, sizeof u), memset(&inp, 0, sizeof inp);
    float *x = NULL, *t = NULL, *ctx = NULL, *eps = NULL;
    int64_t xs[4] = {0}, ts[1] = {0}, cs[3] = {0}; // read_input fills them before use
    SdlStatus s = open_unet(&mf, &u, model);
    if (s == SDL_OK) s = st_open(&inp, in);
    if (s == SDL_OK) s = read_input(&inp, "latents", 4, xs, &x);
    if (s == SDL_OK) s = read_input(&inp, "timesteps", 1, ts, &t);
    if (s == SDL_OK) s = read_input(&inp, "context", 3, cs, &ctx);
    if (s == SDL_OK) {
        const UnetConfig *c = &u.cfg;
        int64_t m = unet_size_multiple(c);
        if (xs[1] != c->in_channels)
            s = sdl_fail(SDL_ERR_SHAPE, in, "check the tensor layout is (B, C, h, w)", "latents have %lld channels, the UNet expects %lld",
                         (long long)xs[1], (long long)c->in_channels);
        else if (xs[2] % m || xs[3] % m)
            s = sdl_fail(SDL_ERR_SHAPE, in, "use latents whose sides are multiples of that", "latents are %lld x %lld; this UNet needs multiples of %lld",
                         (long long)xs[2], (long long)xs[3], (long long)m);
        else if (ts[0] != xs[0] || cs[0] != xs[0])
            s = sdl_fail(SDL_ERR_SHAPE, in, "give one timestep and one context per latent", "batch sizes differ: latents %lld, timesteps %lld, context %lld",
                         (long long)xs[0], (long long)ts[0], (long long)cs[0]);
        else if (cs[2] != c->cross_attention_dim)
            s = sdl_fail(SDL_ERR_SHAPE, in, "the context is the text encoder's hidden states", "context is %lld wide, the UNet expects %lld",
                         (long long)cs[2], (long long)c->cross_attention_dim);
    }
    if (s == SDL_OK) s = unet_plan(&u, xs[0], xs[2], xs[3], cs[1]);
    if (s == SDL_OK) {
        int64_t os[4] = {xs[0], u.cfg.out_channels, xs[2], xs[3]};
        eps = mem_alloc(MEM_OTHER, (size_t)(os[0] * os[1] * os[2] * os[3]) * sizeof(float));
        unet_forward(&u, eps, x, t, ctx);
        StWriter *w = st_writer_new();
        st_writer_add_f32(w, "eps", 4, os, eps);
        s = st_writer_save(w, out);
        st_writer_free(w);
    }
    mem_free(x), mem_free(t), mem_free(ctx), mem_free(eps);
    st_close(&inp);
    unet_free(&u);
    model_files_close(&mf);
    if (s != SDL_OK) sdl_die_last();
    return 0;
}

int probe_text_encoder(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *in = NULL, *out = NULL, *join = "kohya";
    int clip_skip = 1, max_tokens = 75;
    const OptSpec specs[] = {
        {.name = "model", .type = OPT_STRING, .dst = &model, .required = true,
         .help = "base model: single-file .safetensors/.ckpt or diffusers folder"},
        {.name = "prompt", .type = OPT_STRING, .dst = &prompt,
         .help = "the prompt, tokenized as kohya does (plain text, no weights), SD1 padding"},
        {.name = "in", .type = OPT_STRING, .dst = &in,
         .help = "instead of --prompt: .safetensors with `input_ids` (B, T <= 77), each row encoded on its own"},
        {.name = "clip-skip", .alias = "clip_skip", .type = OPT_INT, .dst = &clip_skip, .min = 1, .max = 64,
         .help = "A1111/kohya CLIP skip: 1 = last layer, 2 = penultimate (final LayerNorm still applied)"},
        {.name = "max-tokens", .alias = "max_token_length", .type = OPT_INT, .dst = &max_tokens, .choices = "75|150|225",
         .help = "kohya's max_token_length: 1, 2 or 3 windows of 75 tokens (with --prompt)"},
        {.name = "join", .type = OPT_STRING, .dst = &join, .choices = "kohya|a1111",
         .help = "how windows are joined: kohya (75n+2 states, training) or a1111 (77n, inference)"},
        {.name = "out", .type = OPT_STRING, .dst = &out, .required = true,
         .help = "output .safetensors: input_ids (int32, windows x 77 or B x T), hidden_states (B, T', D)"},
    };
    OptsResult r = opts_parse("probe text-encoder",
                              "sdlora probe text-encoder --model M (--prompt TEXT | --in F) [--clip-skip N] [--max-tokens 75|150|225] --out F",
                              specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (r != OPTS_OK) return r == OPTS_HELP ? 0 : 1;
    if (!prompt == !in) {
        fprintf(stderr, "error: probe text-encoder: give exactly one of --prompt and --in\n"
                        "  hint: --prompt \"a photo of a cat\", or --in ids.safetensors with input_ids (B, T)\n");
        return 1;
    }
    ModelFiles mf;
    ClipText m;
    SafeTensors inp;
    memset(&mf, 0, sizeof mf), memset(&m, 0, sizeof m), memset(&inp, 0, sizeof inp);
    ClipTokenizer *tok = NULL;
    PromptChunks ch = {0};
    int32_t *ids = NULL;
    float *hidden = NULL, *fids = NULL;
    int64_t B = 1, T = CLIP_CONTEXT_LEN, n_chunks = 1, ids_shape[2];
    SdlStatus s = open_text_encoder(&mf, &m, model);
    if (s == SDL_OK && prompt) {
        s = clip_tokenizer_load(&tok);
        if (s == SDL_OK) s = prompt_chunks_kohya(tok, prompt, max_tokens, false, CLIP_EOS_ID, &ch);
        if (s == SDL_OK) {
            n_chunks = (int64_t)ch.n_chunks;
            ids = ch.ids;
            ids_shape[0] = n_chunks, ids_shape[1] = CLIP_CONTEXT_LEN;
        }
    } else if (s == SDL_OK) {
        s = st_open(&inp, in);
        if (s == SDL_OK) s = read_input(&inp, "input_ids", 2, ids_shape, &fids);
        if (s == SDL_OK && (ids_shape[1] < 1 || ids_shape[1] > m.cfg.max_position_embeddings))
            s = sdl_fail(SDL_ERR_SHAPE, in, "give rows of at most that many token ids", "input_ids rows have %lld tokens; the text encoder takes 1 to %lld",
                         (long long)ids_shape[1], (long long)m.cfg.max_position_embeddings);
        if (s == SDL_OK) {
            B = ids_shape[0], T = ids_shape[1];
            ids = mem_alloc(MEM_OTHER, (size_t)(B * T) * sizeof(int32_t));
            for (int64_t i = 0; i < B * T; i++) ids[i] = (int32_t)fids[i];
        }
    }
    int64_t L = 0;
    if (s == SDL_OK) {
        ClipChunkJoin j = strcmp(join, "a1111") == 0 ? CLIP_JOIN_A1111 : CLIP_JOIN_KOHYA;
        clip_text_plan(&m, B * n_chunks, T, false);
        L = prompt ? clip_text_chunks_len(j, n_chunks) : T;
        hidden = mem_alloc(MEM_OTHER, (size_t)(B * L * m.cfg.hidden_size) * sizeof(float));
        s = prompt ? clip_text_encode_chunks(&m, hidden, ids, 1, n_chunks, clip_skip, j) : clip_text_forward(&m, hidden, ids, clip_skip);
        if (s != SDL_OK) { // the encoder's message names no file: name the input
            char why[sizeof sdl_last_error()->reason];
            snprintf(why, sizeof why, "%s", sdl_last_error()->reason);
            sdl_fail(s, in ? in : model, "the ids must be below the text encoder's vocab_size, and --clip-skip at most its layers + 1",
                     "%s", why);
        }
    }
    if (s == SDL_OK) {
        int64_t hs[3] = {B, L, m.cfg.hidden_size};
        StWriter *w = st_writer_new();
        st_writer_add(w, "input_ids", ST_I32, 2, ids_shape, ids);
        st_writer_add_f32(w, "hidden_states", 3, hs, hidden);
        char buf[32];
        snprintf(buf, sizeof buf, "%d", clip_skip);
        st_writer_set_metadata(w, "clip_skip", buf);
        s = st_writer_save(w, out);
        st_writer_free(w);
    }
    if (!prompt) mem_free(ids);
    mem_free(hidden), mem_free(fids);
    prompt_chunks_free(&ch);
    clip_tokenizer_free(tok);
    st_close(&inp);
    clip_text_free(&m);
    model_files_close(&mf);
    if (s != SDL_OK) sdl_die_last();
    return 0;
}
