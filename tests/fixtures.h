// fixtures.h — test fixtures shared by several test programs: images and text files on disk,
// the tiny golden models
// (tests/golden/models/tiny-*, written by tools/oracle/make_*_goldens.py) loaded into the C
// modules, and a Linear module with a LoRA adapter and random data for gradient checks.
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "io/image.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "nn/linear.h"
#include "nn/lora.h"

// Saves img by the path's extension: .jpg (quality), .webp (lossy at quality, or lossless),
// anything else PNG. Aborts with the error printed on failure.
void fixture_save_image(const Image *img, const char *path, int quality, bool webp_lossless);
// Writes text to path (aborts on failure).
void fixture_write_text(const char *path, const char *text);

// The tiny UNet / CLIP text encoder of tests/golden/models (aborts if they do not load).
void fixture_load_tiny_unet(Unet *u);
void fixture_load_tiny_te(ClipText *m);

// y = Linear(x) with a LoRA adapter: x (M, in), y (M, out), dout (M, out) random, the adapter's
// down/up random (seeds fixed), grads and h allocated. Free with lin_case_free.
typedef struct {
    Linear m;
    LoraAdapter a;
    int64_t M;
    float *x, *y, *dout;
} LinCase;

void lin_case_init(LinCase *c, int64_t M, int64_t in, int64_t out, int64_t r, float scale);
void lin_case_free(LinCase *c);
