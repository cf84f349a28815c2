// bench_load.c — opening a full-size SD1.5 checkpoint: time to open (mmap + header
// validation), time to load each component into fp32 compute memory (conversion from the
// file's dtype included), and resident memory, which must stay near the weights' fp32 size.
// usage: bench_load MODEL   (bench/run.sh makes one with `sdlora init-model --preset sd15`)
#include "base/clock.h"
#include "base/mem.h"
#include "models/checkpoint.h"
#include "models/clip_text.h"
#include "models/model_meta.h"
#include "models/unet.h"
#include "models/vae.h"
#include <stdio.h>
#include <string.h>

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

static int fail(void) {
    sdl_error_print(stderr);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_load MODEL (a full-size SD1.5 checkpoint; see bench/run.sh)\n");
        return 2;
    }
    ModelFiles mf;
    memset(&mf, 0, sizeof mf);
    double t0 = time_now();
    if (model_files_open(&mf, argv[1]) != SDL_OK) return fail();
    double t_open = time_now() - t0;
    printf("# loading %s (%s), fp32 compute\n", argv[1], model_form_name(mf.form));
    printf("%-14s %10s %10s %12s %14s\n", "component", "tensors", "seconds", "weights MiB", "process RSS MiB");
    printf("%-14s %10s %10.3f %12s %14.0f\n", "open (mmap)", "", t_open, "", mib(mem_process_rss()));

    UnetConfig uc;
    ClipTextConfig cc;
    VaeConfig vc;
    Unet u;
    ClipText te;
    Vae vae;
    memset(&u, 0, sizeof u), memset(&te, 0, sizeof te), memset(&vae, 0, sizeof vae);
    if (model_meta_unet_config(&mf, &uc) != SDL_OK || unet_init(&u, &uc) != SDL_OK) return fail();
    if (model_meta_text_encoder_config(&mf, &cc) != SDL_OK) return fail();
    clip_text_init(&te, &cc);
    if (model_meta_vae_config(&mf, &vc) != SDL_OK || vae_init(&vae, &vc) != SDL_OK) return fail();
    struct { const char *name; ModelComponent c; ParamTable *t; } parts[] = {
        {"UNet", MODEL_UNET, &u.params}, {"text encoder", MODEL_TEXT_ENCODER, &te.params}, {"VAE", MODEL_VAE, &vae.params}};
    size_t total = 0;
    for (int i = 0; i < 3; i++) {
        LoadReport rep;
        double t = time_now();
        if (model_files_load(&mf, parts[i].c, parts[i].t, &rep) != SDL_OK) return fail();
        t = time_now() - t;
        size_t bytes = parts[i].t->total_floats * sizeof(float);
        total += bytes;
        printf("%-14s %10lld %10.3f %12.0f %14.0f%s\n", parts[i].name, (long long)rep.loaded, t, mib(bytes),
               mib(mem_process_rss()), rep.unknown ? "  (unknown tensors!)" : "");
    }
    printf("weights in compute memory: %.0f MiB; process peak RSS %.0f MiB\n", mib(total), mib(mem_process_peak_rss()));
    unet_free(&u);
    clip_text_free(&te);
    vae_free(&vae);
    model_files_close(&mf);
    return 0;
}
