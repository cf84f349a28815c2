// probe_models.h — `sdlora probe unet` and `sdlora probe text-encoder` (probe_models.c), listed
// in probe.c's table of probes. Each returns the process exit status; argv[0] is the probe name.
#pragma once

int probe_unet(int argc, char **argv);
int probe_text_encoder(int argc, char **argv);
int probe_train_step(int argc, char **argv); // probe_train.c
