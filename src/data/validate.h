// validate.h — the dataset check before any model is loaded: every image is opened and fully
// decoded once (image_load), on `threads` threads, and every failure is collected — corrupt,
// truncated, zero-byte, unsupported format, or too small — so the user sees the whole list at
// once instead of a crash at step 1200 (kohya's users' most common dataset complaint).
//
// "Too small": a side shorter than `min_side` pixels. The CLI passes 64, or bucket_reso_steps
// when bucket_no_upscale is on and that is larger: such an image would get a zero-sized bucket
// (kohya floors the image size to the step) and below 64 px the 8x-downsampled latent is
// smaller than 8x8, which is useless for training at any resolution.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

typedef struct {
    size_t index;     // into the paths given
    char *path;
    char *reason;
} BadImage;

typedef struct {
    BadImage *items;  // in input order
    size_t n;
} BadImageList;

// sizes[i][0..1] receive each good image's decoded (width, height) (EXIF-oriented); bad
// images get 0, 0. sizes may be NULL. Returns SDL_OK even when images are bad (see *bad);
// only allocation failure is an error.
SdlStatus dataset_validate_images(const char *const *paths, size_t n, int64_t min_side, int threads,
                                  int64_t (*sizes)[2], BadImageList *bad);
void bad_image_list_free(BadImageList *b);
