// probe.c — `sdlora probe <component>`: runs one component on inputs given on the command line
// or read from a .safetensors file and writes its outputs to another .safetensors file, with
// tensors named as documented in docs/probe.md. This is the door the oracle tests and anyone
// comparing sdlora with another implementation use.
#include "cli/cli.h"
#include "cli/options.h"
#include "cli/probe_models.h"
#include "io/safetensors.h"
#include "base/log.h"
#include "base/mem.h"
#include "models/checkpoint.h"
#include "models/clip_tokenizer.h"
#include "models/model_meta.h"
#include "models/prompt_weights.h"
#include "models/vae.h"
#include <stdio.h>
#include <string.h>

// Reads tensor `name` of rank ndim from an input file into a new fp32 buffer (MEM_OTHER).
static SdlStatus read_input(const SafeTensors *st, const char *name, int ndim, int64_t shape[], float **out) {
    const StTensor *t = st_find(st, name);
    if (!t)
        return sdl_fail(SDL_ERR_NOT_FOUND, st->path, "see docs/probe.md for the tensor names each probe reads",
                        "input tensor '%s' is missing", name);
    if (t->ndim != ndim)
        return sdl_fail(SDL_ERR_SHAPE, st->path, "see docs/probe.md for the expected shapes",
                        "input tensor '%s' has %d dims, expected %d", name, t->ndim, ndim);
    for (int d = 0; d < ndim; d++) shape[d] = t->shape[d];
    *out = mem_alloc(MEM_OTHER, (size_t)t->numel * sizeof(float) + 1);
    SdlStatus s = st_tensor_to_f32(st, t, *out);
    if (s != SDL_OK) mem_free(*out), *out = NULL;
    return s;
}

// Opens a model and loads its VAE (config: the diffusers folder's, a single file's sdlora
// metadata, else SD1's — see model_meta.h).
static SdlStatus open_vae(ModelFiles *mf, Vae *vae, const char *path) {
    SDL_TRY(model_files_open(mf, path));
    VaeConfig cfg;
    SdlStatus s = model_meta_vae_config(mf, &cfg);
    if (s == SDL_OK) s = vae_init(vae, &cfg);
    if (s == SDL_OK) s = model_files_load(mf, MODEL_VAE, &vae->params, NULL);
    return s;
}

// probe vae-encode / vae-decode share everything but the direction.
static int probe_vae(int argc, char **argv, int encode) {
    const char *model = NULL, *in = NULL, *out = NULL;
    const OptSpec specs[] = {
        {.name = "model", .type = OPT_STRING, .dst = &model, .required = true,
         .help = "base model: single-file .safetensors/.ckpt or diffusers folder"},
        {.name = "in", .type = OPT_STRING, .dst = &in, .required = true,
         .help = encode ? "input .safetensors with `image` (B, 3, H, W) in [-1, 1]"
                        : "input .safetensors with `latents` (B, 4, h, w), unscaled (z = latents / 0.18215)"},
        {.name = "out", .type = OPT_STRING, .dst = &out, .required = true,
         .help = encode ? "output .safetensors: `mean`, `logvar` (B, 4, H/8, W/8)" : "output .safetensors: `image` (B, 3, 8h, 8w)"},
    };
    const char *cmd = encode ? "probe vae-encode" : "probe vae-decode";
    OptsResult r = opts_parse(cmd, encode ? "sdlora probe vae-encode --model M --in F --out F" : "sdlora probe vae-decode --model M --in F --out F",
                              specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (r != OPTS_OK) return r == OPTS_HELP ? 0 : 1;
    ModelFiles mf;
    Vae vae;
    memset(&mf, 0, sizeof mf);
    memset(&vae, 0, sizeof vae);
    SafeTensors inp;
    memset(&inp, 0, sizeof inp);
    float *x = NULL, *y1 = NULL, *y2 = NULL;
    int64_t shape[4];
    SdlStatus s = open_vae(&mf, &vae, model);
    if (s == SDL_OK) s = st_open(&inp, in);
    if (s == SDL_OK) s = read_input(&inp, encode ? "image" : "latents", 4, shape, &x);
    if (s == SDL_OK) {
        int64_t f = vae_downsample_factor(&vae.cfg);
        int64_t B = shape[0], H = encode ? shape[2] : shape[2] * f, W = encode ? shape[3] : shape[3] * f;
        int64_t want_c = encode ? vae.cfg.in_channels : vae.cfg.latent_channels;
        if (shape[1] != want_c)
            s = sdl_fail(SDL_ERR_SHAPE, in, "check the tensor layout is (B, C, H, W)", "%s has %lld channels, the VAE expects %lld",
                         encode ? "image" : "latents", (long long)shape[1], (long long)want_c);
        if (s == SDL_OK) s = vae_plan(&vae, B, H, W, encode ? VAE_ENCODE : VAE_DECODE);
        if (s == SDL_OK) {
            int64_t hl = H / f, wl = W / f;
            StWriter *w = st_writer_new();
            if (encode) {
                size_t n = (size_t)(B * vae.cfg.latent_channels * hl * wl);
                y1 = mem_alloc(MEM_OTHER, n * sizeof(float));
                y2 = mem_alloc(MEM_OTHER, n * sizeof(float));
                vae_encode(&vae, y1, y2, x);
                int64_t os[4] = {B, vae.cfg.latent_channels, hl, wl};
                st_writer_add_f32(w, "mean", 4, os, y1);
                st_writer_add_f32(w, "logvar", 4, os, y2);
            } else {
                size_t n = (size_t)(B * vae.cfg.out_channels * H * W);
                y1 = mem_alloc(MEM_OTHER, n * sizeof(float));
                vae_decode(&vae, y1, x);
                int64_t os[4] = {B, vae.cfg.out_channels, H, W};
                st_writer_add_f32(w, "image", 4, os, y1);
            }
            s = st_writer_save(w, out);
            st_writer_free(w);
        }
    }
    mem_free(x), mem_free(y1), mem_free(y2);
    st_close(&inp);
    vae_free(&vae);
    model_files_close(&mf);
    if (s != SDL_OK) sdl_die_last();
    return 0;
}

static int probe_vae_encode(int argc, char **argv) { return probe_vae(argc, argv, 1); }
static int probe_vae_decode(int argc, char **argv) { return probe_vae(argc, argv, 0); }

static int probe_tokenize(int argc, char **argv) {
    const char *prompt = NULL, *out = NULL;
    int max_tokens = 75, pad = -1;
    bool plain = false;
    const OptSpec specs[] = {
        {.name = "prompt", .type = OPT_STRING, .dst = &prompt, .help = "the prompt or caption", .required = true},
        {.name = "max-tokens", .alias = "max_token_length", .type = OPT_INT, .dst = &max_tokens, .choices = "75|150|225",
         .help = "kohya's max_token_length: 1, 2 or 3 windows of 75 tokens"},
        {.name = "pad", .type = OPT_INT, .dst = &pad, .min = 0, .max = 49407,
         .help = "padding id (default 49407 = EOS, as SD1; 0 for SD2)"},
        {.name = "plain", .type = OPT_FLAG, .dst = &plain,
         .help = "treat (x:1.2) [x] as literal text (kohya without --weighted_captions)"},
        {.name = "out", .type = OPT_STRING, .dst = &out, .required = true,
         .help = "output .safetensors: input_ids (int32, windows x 77), weights (float32)"},
    };
    OptsResult r = opts_parse("probe tokenize", "sdlora probe tokenize --prompt TEXT [--max-tokens 75|150|225] --out F",
                              specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (r != OPTS_OK) return r == OPTS_HELP ? 0 : 1;
    ClipTokenizer *tok = NULL;
    PromptChunks ch = {0};
    SdlStatus st = clip_tokenizer_load(&tok);
    if (st == SDL_OK) st = prompt_chunks_kohya(tok, prompt, max_tokens, !plain, pad < 0 ? CLIP_EOS_ID : pad, &ch);
    if (st == SDL_OK) {
        int64_t shape[2] = {(int64_t)ch.n_chunks, CLIP_CONTEXT_LEN};
        StWriter *w = st_writer_new();
        st_writer_add(w, "input_ids", ST_I32, 2, shape, ch.ids);
        st_writer_add_f32(w, "weights", 2, shape, ch.weights);
        char n[32];
        snprintf(n, sizeof n, "%zu", ch.n_tokens);
        st_writer_set_metadata(w, "n_tokens", n);
        st_writer_set_metadata(w, "truncated", ch.truncated ? "true" : "false");
        st = st_writer_save(w, out);
        st_writer_free(w);
        if (st == SDL_OK)
            printf("%zu tokens in %zu window(s) of 77%s -> %s\n", ch.n_tokens, ch.n_chunks,
                   ch.truncated ? " (truncated)" : "", out);
    }
    prompt_chunks_free(&ch);
    clip_tokenizer_free(tok);
    if (st != SDL_OK) sdl_die_last();
    return 0;
}

typedef struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} Probe;

static const Probe probes[] = {
    {"tokenize", probe_tokenize, "prompt -> CLIP input_ids and per-token weights (kohya chunking)"},
    {"unet", probe_unet, "latents (B,4,h,w), timesteps (B), context (B,T,768) -> eps"},
    {"text-encoder", probe_text_encoder, "prompt or input_ids -> input_ids, hidden_states (clip skip, 75/150/225 tokens)"},
    {"vae-encode", probe_vae_encode, "image (B,3,H,W) in [-1,1] -> VAE mean, logvar"},
    {"vae-decode", probe_vae_decode, "latents (B,4,h,w), unscaled -> image (B,3,8h,8w)"},
    {"train-step", probe_train_step, "latents, noise, timesteps, input_ids (+ LoRA weights) -> loss, LoRA grads"},
};

int cmd_probe(int argc, char **argv) {
    size_t n = sizeof probes / sizeof probes[0];
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: sdlora probe <component> [options]\n\ncomponents:\n");
        for (size_t i = 0; i < n; i++) fprintf(f, "  %-14s %s\n", probes[i].name, probes[i].summary);
        return argc < 2 ? 1 : 0;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[1], probes[i].name) == 0) return probes[i].run(argc - 1, argv + 1);
    fprintf(stderr, "error: probe: unknown component '%s'\n  hint: run `sdlora probe --help` for the list\n", argv[1]);
    return 1;
}
