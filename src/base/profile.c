// profile.c — per-layer-type timers (see profile.h).
#include "base/profile.h"
#include <stdint.h>
#include <stdlib.h>

_Thread_local int prof_thread_on;
static _Thread_local int depth, backward;

static double total[PROF_COUNT][2];
static int64_t calls[PROF_COUNT][2];
static int64_t steps;
static double t_start;

static const char *names[PROF_COUNT] = {
    "conv 3x3", "conv 1x1", "linear", "attention core", "norms", "elementwise",
    "LoRA", "fp16/bf16 widening", "optimizer", "data/VAE",
};

const char *prof_cat_name(ProfCat c) { return (unsigned)c < PROF_COUNT ? names[c] : "?"; }

ProfToken prof_begin_slow(ProfCat c) {
    if (depth++ > 0) return (ProfToken){0.0, -2};
    return (ProfToken){time_now(), (int)c};
}

void prof_end_slow(ProfToken t) {
    depth--;
    if (t.cat < 0) return;
    total[t.cat][backward] += time_now() - t.t0;
    calls[t.cat][backward]++;
}

void prof_reset(void) {
    for (int c = 0; c < PROF_COUNT; c++) total[c][0] = total[c][1] = 0, calls[c][0] = calls[c][1] = 0;
    steps = 0;
    t_start = time_now();
}

void prof_enable(void) {
    prof_reset();
    depth = 0;
    prof_thread_on = 1;
}

void prof_disable(void) { prof_thread_on = 0; }
int prof_enabled(void) { return prof_thread_on; }

int prof_env(void) {
    const char *e = getenv("SDLORA_PROFILE");
    return e && *e ? atoi(e) : 0;
}

int prof_set_backward(int on) {
    int old = backward;
    backward = on != 0;
    return old;
}

void prof_add(ProfCat c, double seconds) {
    if (!prof_thread_on) return;
    total[c][backward] += seconds;
    calls[c][backward]++;
}

void prof_step(void) {
    if (prof_thread_on) steps++;
}

int64_t prof_steps(void) { return steps; }
double prof_seconds(ProfCat c, int bwd) { return total[c][bwd != 0]; }

void prof_report(FILE *f) {
    double wall = time_now() - t_start, n = steps > 0 ? (double)steps : 1.0, covered = 0;
    fprintf(f, "profile: %lld step(s), %.2f s wall, %.3f s/step\n", (long long)steps, wall, wall / n);
    fprintf(f, "  %-20s %10s %10s %10s %7s %9s\n", "layer type", "fwd s/step", "bwd s/step", "s/step", "share", "calls/step");
    for (int c = 0; c < PROF_COUNT; c++) {
        double s = total[c][0] + total[c][1];
        covered += s;
        if (s == 0) continue;
        fprintf(f, "  %-20s %10.3f %10.3f %10.3f %6.1f%% %9.0f\n", names[c], total[c][0] / n, total[c][1] / n, s / n,
                wall > 0 ? 100.0 * s / wall : 0.0, (double)(calls[c][0] + calls[c][1]) / n);
    }
    double other = wall - covered;
    fprintf(f, "  %-20s %10s %10s %10.3f %6.1f%%\n", "other (untimed)", "", "", other / n, wall > 0 ? 100.0 * other / wall : 0.0);
}
