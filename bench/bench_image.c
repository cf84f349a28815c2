// bench_image.c — image decode throughput (images/s, one thread) for a photo-like
// 1024×1024 JPEG (q90, 4:2:0), PNG and WebP (lossy q90, lossless), all generated here;
// image_info (header-only) throughput; JPEG decode with DCT scaling to ≥ 512; resize
// 1024 → 512 (area) and 512 → 1024 (Lanczos-3). Best of `reps` rounds.
// Usage: bench_image [reps]   (default 3)
#include "base/clock.h"
#include "base/error.h"
#include "io/image.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64] = "/tmp/sdlora_bench_image_XXXXXX";

static void die_last(void) { sdl_error_print(stderr); exit(1); }

// Smooth shapes plus mild noise: compresses like a photo, not like a flat test pattern.
static void fill_photo(Image *img) {
    uint32_t s = 1;
    for (int64_t y = 0; y < img->height; y++)
        for (int64_t x = 0; x < img->width; x++) {
            uint8_t *p = img->rgb + (size_t)(y * img->width + x) * 3;
            const double fx = (double)x / (double)img->width, fy = (double)y / (double)img->height;
            const double base[3] = {120 + 90 * sin(6 * fx + 2 * fy), 110 + 80 * cos(5 * fy - 3 * fx), 100 + 70 * sin(9 * fx * fy)};
            for (int c = 0; c < 3; c++) {
                s = s * 1664525u + 1013904223u;
                double v = base[c] + (double)((s >> 24) % 17) - 8;
                p[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

typedef SdlStatus (*Job)(const char *path, void *arg);

static SdlStatus job_load(const char *path, void *arg) {
    Image img;
    SdlStatus s = image_load_ex(&img, NULL, path, arg);
    image_free(&img);
    return s;
}

static SdlStatus job_info(const char *path, void *arg) {
    ImageInfo info;
    return image_info(&info, path);
}

// Best-of-reps seconds per call.
static double time_job(Job job, const char *path, void *arg, int n, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = time_now();
        for (int i = 0; i < n; i++) if (job(path, arg) != SDL_OK) die_last();
        double t = (time_now() - t0) / n;
        if (t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 3;
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    Image img;
    if (image_alloc(&img, 1024, 1024) != SDL_OK) die_last();
    fill_photo(&img);
    char p_jpg[128], p_png[128], p_webp[128], p_webpl[128];
    snprintf(p_jpg, sizeof p_jpg, "%s/a.jpg", dir);
    snprintf(p_png, sizeof p_png, "%s/a.png", dir);
    snprintf(p_webp, sizeof p_webp, "%s/a.webp", dir);
    snprintf(p_webpl, sizeof p_webpl, "%s/al.webp", dir);
    double t0 = time_now();
    if (image_save_jpeg(&img, p_jpg, 89) != SDL_OK) die_last();
    double t_jpg = time_now() - t0;
    t0 = time_now();
    if (image_save_png(&img, p_png, NULL, NULL, 0) != SDL_OK) die_last();
    double t_png = time_now() - t0;
    t0 = time_now();
    if (image_save_webp(&img, p_webp, 90, 0) != SDL_OK) die_last();
    double t_webp = time_now() - t0;
    if (image_save_webp(&img, p_webpl, 0, 1) != SDL_OK) die_last();

    printf("image decode, 1024x1024 photo-like, 1 thread (best of %d)\n", reps);
    printf("  encode: JPEG q89 %.1f ms, PNG %.1f ms, WebP q90 %.1f ms\n", t_jpg * 1e3, t_png * 1e3, t_webp * 1e3);
    const struct { const char *name; const char *path; int n; } files[] = {
        {"JPEG q89 4:2:0", p_jpg, 20}, {"PNG 8-bit RGB", p_png, 8}, {"WebP lossy q90", p_webp, 10}, {"WebP lossless", p_webpl, 5},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        FILE *f = fopen(files[i].path, "rb");
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fclose(f);
        double t = time_job(job_load, files[i].path, NULL, files[i].n, reps);
        double ti = time_job(job_info, files[i].path, NULL, 2000, reps);
        printf("  %-16s %7.1f KiB  load %6.2f ms = %6.1f images/s   info %6.1f us = %8.0f/s\n", files[i].name,
               size / 1024.0, t * 1e3, 1 / t, ti * 1e6, 1 / ti);
    }
    ImageLoadOptions opt = image_load_options_default();
    opt.min_width = opt.min_height = 512;
    double t = time_job(job_load, p_jpg, &opt, 20, reps);
    printf("  JPEG with DCT scaling to >= 512: %.2f ms = %.1f images/s\n", t * 1e3, 1 / t);
    opt.min_width = opt.min_height = 1; // 1/8 scale: still entropy-decodes every byte (a full validity check)
    t = time_job(job_load, p_jpg, &opt, 40, reps);
    printf("  JPEG at 1/8 scale (validation only): %.2f ms = %.1f images/s\n", t * 1e3, 1 / t);

    Image small, big;
    double best = 1e30, best_up = 1e30;
    for (int r = 0; r < reps; r++) {
        t0 = time_now();
        if (image_resize(&small, &img, 512, 512) != SDL_OK) die_last();
        double dt = time_now() - t0;
        if (dt < best) best = dt;
        t0 = time_now();
        if (image_resize(&big, &small, 1024, 1024) != SDL_OK) die_last();
        dt = time_now() - t0;
        if (dt < best_up) best_up = dt;
        image_free(&small);
        image_free(&big);
    }
    printf("  resize 1024->512 (area) %.2f ms, 512->1024 (Lanczos-3) %.2f ms\n", best * 1e3, best_up * 1e3);
    image_free(&img);
    unlink(p_jpg); unlink(p_png); unlink(p_webp); unlink(p_webpl);
    rmdir(dir);
    return 0;
}
