// main.c — `sdlora` entry point: global options and subcommand dispatch.
#include "cli/cli.h"
#include "base/log.h"
#include "ops/gemm.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command commands[] = {
    {"dataset", cmd_dataset, "check a dataset: decode every image, list bad ones, show captions, buckets and steps per epoch"},
    {"generate", cmd_generate, "generate images from a prompt with a base model and LoRAs (A1111-style PNG metadata)"},
    {"grid", cmd_grid, "an X/Y comparison grid (LoRA files, weights, seeds, CFG, steps, samplers, prompt S/R) as one labelled PNG"},
    {"init-dataset", cmd_init_dataset, "write a small generated dataset (coloured shapes with captions) for a first run and tests"},
    {"init-model", cmd_init_model, "write a model with random weights (tiny: end-to-end tests; sd15: benchmarks) as a diffusers folder or single file"},
    {"probe", cmd_probe, "run one component on given inputs and write its outputs (for checking against other implementations)"},
    {"selfcheck", cmd_selfcheck, "check the numeric engine on this machine (ops vs references, file I/O, BLAS speed)"},
    {"train", cmd_train, "train a LoRA (kohya train_network.py options; --config_file TOML or kohya_ss JSON)"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f, "sdlora %s — LoRA training for Stable Diffusion, in C\n\n"
               "usage: sdlora [--threads N] [--log_level error|warn|info|debug] <command> [options]\n\ncommands:\n",
            SDLORA_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-12s %s\n", "version", "print the version and the BLAS in use");
    fprintf(f, "\nRun `sdlora <command> --help` for the options of a command.\n");
}

int main(int argc, char **argv) {
    int i = 1;
    // global options come before the command
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) { usage(stdout); return 0; }
        if (strcmp(argv[i], "--version") == 0) { printf("sdlora %s\n", SDLORA_VERSION); return 0; }
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 1024) {
                fprintf(stderr, "error: --threads: '%s' is not a thread count\n  hint: give a number like --threads 2\n", argv[i]);
                return 1;
            }
            sdl_set_threads((int)n);
            continue;
        }
        if (strcmp(argv[i], "--log_level") == 0 && i + 1 < argc) {
            int lv = log_level_parse(argv[++i]);
            if (lv < 0) {
                fprintf(stderr, "error: --log_level: unknown level '%s'\n  hint: use error, warn, info or debug\n", argv[i]);
                return 1;
            }
            log_set_level((LogLevel)lv);
            continue;
        }
        fprintf(stderr, "error: unknown option '%s'\n  hint: global options are --threads, --log_level, --help, --version\n", argv[i]);
        return 1;
    }
    if (i >= argc) { usage(stderr); return 1; }
    const char *name = argv[i];
    if (strcmp(name, "version") == 0) {
        printf("sdlora %s\nBLAS: %s, %d threads\n", SDLORA_VERSION, gemm_backend_name(), sdl_get_threads());
        return 0;
    }
    if (strcmp(name, "help") == 0) { usage(stdout); return 0; }
    for (size_t c = 0; c < N_COMMANDS; c++)
        if (strcmp(name, commands[c].name) == 0) return commands[c].run(argc - i, argv + i);
    fprintf(stderr, "error: unknown command '%s'\n  hint: run `sdlora --help` for the list of commands\n", name);
    return 1;
}
