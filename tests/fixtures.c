// fixtures.c — see fixtures.h.
#include "fixtures.h"
#include "harness.h"
#include "base/error.h"
#include "io/safetensors.h"
#include "models/load.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fixture_save_image(const Image *img, const char *path, int quality, bool webp_lossless) {
    const char *ext = strrchr(path, '.');
    ext = ext ? ext : "";
    SdlStatus st = !strcmp(ext, ".jpg")    ? image_save_jpeg(img, path, quality)
                   : !strcmp(ext, ".webp") ? image_save_webp(img, path, (float)quality, webp_lossless)
                                           : image_save_png(img, path, NULL, NULL, 0);
    if (st != SDL_OK) {
        sdl_error_print(stderr);
        abort();
    }
}

void fixture_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        abort();
    }
}

void fixture_load_tiny_unet(Unet *u) {
    char p[600];
    SdlStatus s = unet_load_diffusers(u, golden_path(p, sizeof p, "models/tiny-unet"));
    if (s != SDL_OK) sdl_error_print(stderr);
    SDL_ASSERT(s == SDL_OK);
}

void fixture_load_tiny_te(ClipText *m) {
    char p[600];
    ClipTextConfig cfg;
    SDL_ASSERT(clip_text_config_load(&cfg, golden_path(p, sizeof p, "models/tiny-clip/config.json")) == SDL_OK);
    clip_text_init(m, &cfg);
    SafeTensors f;
    SDL_ASSERT(st_open(&f, golden_path(p, sizeof p, "models/tiny-clip/model.safetensors")) == SDL_OK);
    LoadReport rep;
    SDL_ASSERT(param_table_load(&m->params, &f, "", NULL, NULL, "text encoder", &rep) == SDL_OK);
    st_close(&f);
}

void lin_case_init(LinCase *c, int64_t M, int64_t in, int64_t out, int64_t r, float scale) {
    memset(c, 0, sizeof *c);
    c->M = M;
    c->a = (LoraAdapter){.down = alloc_randn(r * in, 0.3f, 11), .up = alloc_randn(out * r, 0.3f, 12),
                         .ddown = alloc_floats(r * in), .dup = alloc_floats(out * r), .rank = r, .scale = scale,
                         .h = alloc_floats(M * r)};
    c->m = (Linear){.w = alloc_randn(out * in, 0.2f, 13), .b = alloc_randn(out, 0.1f, 14), .in = in, .out = out, .lora = &c->a};
    c->x = alloc_randn(M * in, 1.0f, 15);
    c->y = alloc_floats(M * out);
    c->dout = alloc_randn(M * out, 1.0f, 16);
}

void lin_case_free(LinCase *c) {
    free((void *)c->a.down), free((void *)c->a.up), free(c->a.ddown), free(c->a.dup), free(c->a.h);
    free((void *)c->m.w), free((void *)c->m.b), free(c->x), free(c->y), free(c->dout);
}
