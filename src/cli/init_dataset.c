// init_dataset.c — `sdlora init-dataset`: writes a small kohya-style dataset that the project
// generates itself (no downloads): <out>/<repeats>_shapes/NNN.png with a .txt caption each —
// a coloured circle, square or triangle on a plain background, captioned as such. Used by the
// README's first command and the end-to-end tests, so a LoRA can be trained on a fresh
// checkout with the tiny model from `init-model`.
#include "cli/cli.h"
#include "cli/options.h"
#include "base/error.h"
#include "base/rng.h"
#include "io/image.h"
#include "base/mem.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct { const char *name; uint8_t rgb[3]; } NamedColor;
static const NamedColor COLORS[] = {
    {"red", {220, 40, 40}}, {"green", {40, 170, 60}}, {"blue", {40, 80, 220}}, {"yellow", {235, 210, 40}},
    {"purple", {140, 60, 180}}, {"orange", {240, 140, 30}}, {"white", {245, 245, 245}}, {"black", {20, 20, 20}},
};
#define N_COLORS (int)(sizeof COLORS / sizeof COLORS[0])
static const char *SHAPES[] = {"circle", "square", "triangle"};

// Is (x, y) inside the shape centred at (cx, cy) with half-size r?
static int inside(int shape, double x, double y, double cx, double cy, double r) {
    double dx = x - cx, dy = y - cy;
    if (shape == 0) return dx * dx + dy * dy <= r * r;
    if (shape == 1) return dx >= -r && dx <= r && dy >= -r && dy <= r;
    // triangle pointing up: base at cy + r, apex at cy - r
    if (dy < -r || dy > r) return 0;
    double half = r * (dy + r) / (2 * r);
    return dx >= -half && dx <= half;
}

static SdlStatus draw(Image *img, int shape, const NamedColor *fg, const NamedColor *bg, Rng *rng) {
    int64_t w = img->width, h = img->height;
    double s = (double)(w < h ? w : h);
    double r = s * (0.2 + 0.15 * rng_rand_double(rng));
    double cx = r + (double)(w - 2 * r) * rng_rand_double(rng), cy = r + (double)(h - 2 * r) * rng_rand_double(rng);
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            // 2x2 supersampling for smooth edges
            int hits = 0;
            for (int sy = 0; sy < 2; sy++)
                for (int sx = 0; sx < 2; sx++) hits += inside(shape, (double)x + 0.25 + 0.5 * sx, (double)y + 0.25 + 0.5 * sy, cx, cy, r);
            uint8_t *p = img->rgb + 3 * (y * w + x);
            for (int c = 0; c < 3; c++) p[c] = (uint8_t)((fg->rgb[c] * hits + bg->rgb[c] * (4 - hits) + 2) / 4);
        }
    return SDL_OK;
}

int cmd_init_dataset(int argc, char **argv) {
    const char *out = NULL;
    int count = 12, size = 64, repeats = 10, seed = 0;
    const OptSpec specs[] = {
        {.name = "out", .type = OPT_STRING, .dst = &out, .required = true, .help = "folder to create (the --train_data_dir)"},
        {.name = "count", .type = OPT_INT, .dst = &count, .min = 1, .max = 100000, .help = "images (default 12)"},
        {.name = "size", .type = OPT_INT, .dst = &size, .min = 8, .max = 4096, .help = "image side in pixels (default 64)"},
        {.name = "repeats", .type = OPT_INT, .dst = &repeats, .min = 1, .max = 100000, .help = "kohya repeats in the folder name (default 10)"},
        {.name = "seed", .type = OPT_INT, .dst = &seed, .min = 0, .max = 2147483647, .help = "random seed (default 0)"},
    };
    OptsResult r = opts_parse("init-dataset", "sdlora init-dataset --out DIR [--count 12] [--size 64] [--repeats 10] [--seed 0]",
                              specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (r != OPTS_OK) return r == OPTS_HELP ? 0 : 1;
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/%d_shapes", out, repeats);
    if ((mkdir(out, 0777) != 0 && errno != EEXIST) || (mkdir(dir, 0777) != 0 && errno != EEXIST))
        sdl_die(dir, "check the path and permissions", "cannot create the folder: %s", strerror(errno));
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    Image img;
    if (image_alloc(&img, size, size) != SDL_OK) sdl_die_last();
    for (int i = 0; i < count; i++) {
        int shape = (int)(rng_u32(&rng) % 3);
        int fg = (int)(rng_u32(&rng) % N_COLORS), bg = (int)(rng_u32(&rng) % (N_COLORS - 1));
        if (bg >= fg) bg++;
        draw(&img, shape, &COLORS[fg], &COLORS[bg], &rng);
        snprintf(path, sizeof path, "%s/%03d.png", dir, i);
        if (image_save_png(&img, path, NULL, NULL, 0) != SDL_OK) sdl_die_last();
        char caption[128];
        int n = snprintf(caption, sizeof caption, "shapes, a %s %s on a %s background\n", COLORS[fg].name, SHAPES[shape],
                         COLORS[bg].name);
        snprintf(path, sizeof path, "%s/%03d.txt", dir, i);
        FILE *f = fopen(path, "w");
        if (!f || fwrite(caption, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0)
            sdl_die(path, "check free space and permissions", "cannot write the caption");
    }
    image_free(&img);
    printf("wrote %d images with .txt captions to %s (train with --train_data_dir %s --caption_extension .txt)\n", count, dir, out);
    return 0;
}
