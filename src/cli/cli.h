// cli.h — the subcommands of the `sdlora` program (one file each under src/cli/).
#pragma once

#include "base/version.h"

// Each returns the process exit status. argv[0] is the subcommand name.
int cmd_selfcheck(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_dataset(int argc, char **argv);
int cmd_init_model(int argc, char **argv);
int cmd_init_dataset(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_grid(int argc, char **argv);
