// probe.c — `sdlora probe <component>`: runs one component on inputs given on the command line
// or read from a .safetensors file and writes its outputs to another .safetensors file, with
// tensors named as documented in docs/probe.md. This is the door the oracle tests and anyone
// comparing sdlora with another implementation use.
#include "cli/cli.h"
#include "cli/options.h"
#include "io/safetensors.h"
#include "models/clip_tokenizer.h"
#include "models/prompt_weights.h"
#include <stdio.h>
#include <string.h>

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
