// train.c — `sdlora train`: kohya's train_network.py options (command line, --config_file
// TOML or a kohya_ss GUI JSON), checked together, then the training run (train/trainer.h).
#include "cli/cli.h"
#include "train/train_args.h"
#include "train/trainer.h"
#include <stdio.h>

int cmd_train(int argc, char **argv) {
    TrainArgs a;
    train_args_default(&a);
    bool help = false;
    SdlStatus s = train_args_parse(&a, argc, argv, &help);
    if (s == SDL_OK && help) {
        train_args_free(&a);
        return 0;
    }
    if (s == SDL_OK) s = train_args_validate(&a);
    if (s == SDL_OK) s = trainer_run(&a);
    if (s != SDL_OK) sdl_error_print(stderr);
    train_args_free(&a);
    return s == SDL_OK ? 0 : 1;
}
