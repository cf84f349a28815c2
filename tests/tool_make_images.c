// tool_make_images.c — writes one test image through sdlora's own encoders, for
// tests/check_dataset_cli.sh:  tool_make_images OUT.(png|jpg) WIDTH HEIGHT [SEED]
// The pixels are a seeded gradient with noise, so JPEG files have real entropy-coded data
// (a truncated copy then fails inside the decoder, not at the header).
#include "io/image.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: tool_make_images OUT.(png|jpg) WIDTH HEIGHT [SEED]\n");
        return 2;
    }
    long w = strtol(argv[2], NULL, 10), h = strtol(argv[3], NULL, 10);
    unsigned seed = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 1u;
    Image img = {0};
    if (w < 1 || h < 1 || image_alloc(&img, w, h) != SDL_OK) { fprintf(stderr, "bad size\n"); return 2; }
    for (long y = 0; y < h; y++)
        for (long x = 0; x < w; x++) {
            seed = seed * 1103515245u + 12345u;
            uint8_t *p = img.rgb + (y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / w);
            p[1] = (uint8_t)(y * 255 / h);
            p[2] = (uint8_t)(seed >> 24);
        }
    const char *ext = strrchr(argv[1], '.');
    SdlStatus st = ext && (strcmp(ext, ".jpg") == 0 || strcmp(ext, ".jpeg") == 0) ? image_save_jpeg(&img, argv[1], 90)
                                                                                 : image_save_png(&img, argv[1], NULL, NULL, 0);
    image_free(&img);
    if (st != SDL_OK) { sdl_error_print(stderr); return 1; }
    return 0;
}
