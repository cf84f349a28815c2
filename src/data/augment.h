// augment.h — kohya's per-sample image augmentations, with their random draws split from
// their application so the loader can replay the draws without decoding (loader_seek):
//   flip_aug     horizontal flip with p = 0.5: random.random() < 0.5
//   random_crop  the crop offsets inside the resized image: bucket_crop_offset (buckets.h)
//   color_aug    kohya's AugHelper.color_aug: with random() <= 0.33, then random() > 0.5 →
//                hue shift by s = uniform(-8, 8) (s < 0 → s + 180) in OpenCV's 8-bit HSV
//                (H in 0..179), else gamma v = clip(v ** uniform(0.95, 1.05), 0, 255)
// All draws come from a Python-compatible generator (pyrandom.h) in kohya's order: flip,
// crop offsets, color aug (then the caption, captions.h).
//
// The hue shift reproduces OpenCV's cv2.cvtColor(img, COLOR_BGR2HSV) / COLOR_HSV2BGR on
// uint8 data, including kohya's quirk that its RGB array is passed as if it were BGR (the
// hue is computed with R and B swapped, which rotates the other way; harmless but kept). Both
// conversions are sdlora's own code written from OpenCV's documented arithmetic:
//   forward  integer arithmetic with 12-bit fixed-point division tables (exact);
//   inverse  float32 per pixel with 1 - s*h fused (as OpenCV's x86-64 builds compile it), and
//            — as OpenCV does — the pixels of each row that its SIMD loop handles (all but
//            the last width mod `cv_block` ones) are *truncated* to uint8 while the row's
//            tail is rounded. cv_block is 32 pixels for OpenCV's AVX2 kernels (what x86-64
//            CPUs of the last decade run), 0 = round everything (OpenCV's scalar path).
// Checked bit for bit against opencv-python 4.8.1 (kohya's pin) and 5.0 on an AVX2 CPU over
// every input of both conversions (tests/test_loader.c holds the hashes).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "data/pyrandom.h"
#include "io/image.h"

typedef enum { COLOR_AUG_NONE = 0, COLOR_AUG_HUE, COLOR_AUG_GAMMA } ColorAugKind;

typedef struct {
    ColorAugKind kind;
    double hue_shift;  // COLOR_AUG_HUE: in [0, 180) after kohya's "negative → + 180"
    double gamma;      // COLOR_AUG_GAMMA: in [0.95, 1.05)
} ColorAug;

// OpenCV's SIMD row block for the HSV → BGR conversion (see above).
#define AUGMENT_CV_BLOCK_AVX2 32

// flip = flip_aug and random() < 0.5 (no draw when flip_aug is off, as kohya).
bool augment_draw_flip(PyRandom *r, bool flip_aug);
// kohya's color_aug draws (none when color_aug is off).
ColorAug augment_draw_color(PyRandom *r, bool color_aug);

// Applies the drawn color augmentation in place (img: (H, W, 3) RGB uint8).
void augment_color_apply(Image *img, const ColorAug *c, int cv_block);
// Horizontal flip in place (img[:, ::-1]).
void augment_flip(Image *img);

// OpenCV COLOR_BGR2HSV on n uint8 pixels: src (n, 3) as (B, G, R) → dst (n, 3) as (H, S, V),
// H in 0..179. src and dst may be the same buffer.
void augment_cv_bgr2hsv(uint8_t *dst, const uint8_t *src, size_t n);
// OpenCV COLOR_HSV2BGR on one row of n pixels (the row structure matters, see above).
void augment_cv_hsv2bgr_row(uint8_t *dst, const uint8_t *src, size_t n, int cv_block);
